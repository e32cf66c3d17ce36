"""What triage hands on: each site's verdict, each capture's summary, and the run's verdict.

The JSON names are analysis.json's (schema memprof.analysis/1): a `SiteVerdict` is one row of a
capture's `sites`, a `SiteBrief` one entry of a `leaking_sites` / `top_sites` list, a
`CaptureSummary` one of `triage.captures`, a `CaptureResult` one of `captures` and a
`RunVerdict` the `triage` object. Byte figures stay the numbers the tools gave (int, or float
where a tool scales them), hence `Num`.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from profiler.results.codec import Record, field_key

Num = int | float


class TimelineUnit(str, enum.Enum):
    """What one step of a capture's timeline is: an iteration of the workload (the timeline is
    cut at iteration boundaries) or a slice of time / of allocations (no boundaries to cut at).
    A str, so it prints and compares as the word the JSON holds."""

    ITERATION = "iteration"
    SLICE = "slice"
    N = "n"             # --scale A,B: per unit of the work's size (two runs, no timeline)

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


@dataclass(frozen=True, kw_only=True)
class SiteVerdict(Record):
    """One allocation site of a capture, triaged: named, categorised and judged."""

    site_id: int
    site: str
    function: str | None = None
    module: str | None = None
    backend: str | None = None
    live_bytes_end: Num | None = None
    peak_bytes: Num | None = None
    alloc_count: Num | None = None
    leak_kind: str | None = None
    category: str | None = None
    slope_bytes_per_iter: float | None = None
    verdict: str | None = None
    rule: str | None = None
    n_stacks: int | None = None
    evidence: str | None = None
    # columns a parser adds beyond the common table's (kept under their own names)
    more: dict[str, Any] = field_key(extra=True, default_factory=dict)
    stack: tuple[str, ...] = ()        # innermost first, at most STACK_FRAMES_IN_JSON frames
    stack_depth: int = 0               # the whole stack's depth


@dataclass(frozen=True, kw_only=True)
class ThinGroup(Record):
    """What makes a thin-growth finding one finding: the sites it joins and their common caller."""

    kind: str | None = None
    sites: int = 0
    caller_frame: str | None = None
    common_stack: tuple[str, ...] | None = None
    share_of_heap_growth: float | None = None
    heap_bytes_per_iter: float | None = None
    max_site_bytes_per_iter: float | None = None


@dataclass(frozen=True, kw_only=True)
class ThinGrowth(Record):
    """One group of thin growers as triage found it (thin.find_groups; a capture's
    `meta["triage"].thin_growth`): the sites it sums, their common caller, its rate and whether
    it is material (a leak finding of its own)."""

    kind: str
    module: str | None = None
    category: str = "unknown"
    caller: str | None = None              # the common caller's function (or label)
    caller_frame: str | None = None
    common_stack: tuple[str, ...] = ()     # outermost frames last, at most 8
    sites: int = 0
    site_ids: tuple[int, ...] = ()
    slope_bytes_per_iter: float = 0.0
    max_site_bytes_per_iter: float = 0.0
    live_bytes_end: int = 0
    heap_bytes_per_iter: float = 0.0
    share_of_heap_growth: float = 0.0
    material: bool = False
    unit: TimelineUnit = TimelineUnit.ITERATION
    window: tuple[int, int] | None = None  # judged boundaries [start, end) by index

    def brief(self) -> ThinGroup:
        return ThinGroup(kind=self.kind, sites=self.sites, caller_frame=self.caller_frame,
                         common_stack=self.common_stack, share_of_heap_growth=self.share_of_heap_growth,
                         heap_bytes_per_iter=self.heap_bytes_per_iter,
                         max_site_bytes_per_iter=self.max_site_bytes_per_iter)


@dataclass(frozen=True, kw_only=True)
class SiteBrief(Record):
    """A site as the run verdict and the gate list it (a leaking, top or collected site); a
    thin-growth group is one brief whose `group` says which sites it joins."""

    site: str
    function: str | None = None
    caller: str | None = field_key(present=lambda b: b.group is not None, default=None)   # a thin group's
    module: str | None = None
    category: str | None = None
    verdict: str | None = None
    slope_bytes_per_iter: float = 0.0
    live_bytes_end: Num = 0
    peak_bytes: Num | None = None
    leak_kind: str | None = None
    evidence: str | None = None
    backend: str | None = None
    unit: TimelineUnit = TimelineUnit.ITERATION
    # the low end of the rate's 95% interval, for a leak growing near the minor bar
    slope_low_bytes_per_iter: float | None = field_key(omit_none=True, default=None)
    group: ThinGroup | None = field_key(omit_none=True, default=None)
    # the capture's state right after the collection probe's gc.collect(), when the tool took one:
    # the site's live bytes there, and whether that gave its growth back (triage._mark_probe)
    live_bytes_probe: Num | None = field_key(omit_none=True, default=None)
    probe_collected: bool | None = field_key(omit_none=True, default=None)
    probe_freed_bytes: Num | None = field_key(omit_none=True, default=None)

    @property
    def name(self) -> str:
        """The function when known, else the site label."""
        return self.function if isinstance(self.function, str) and self.function else str(self.site or "???")


@dataclass(frozen=True, kw_only=True)
class CategoryFigures(Record):
    """One category's share of a capture: bytes at the peak and at the end, leak growth, verdicts."""

    peak_bytes: Num | None = None
    live_bytes_end: Num = 0
    slope_bytes_per_iter: float = 0.0
    sites: int = 0
    verdicts: dict[str, int] = field_key(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CaptureSummary(Record):
    """Per-capture figures the report and the run verdict share."""

    format: str
    has_timeline: bool = False
    path: str = ""
    unit: TimelineUnit = TimelineUnit.ITERATION
    weight: str = "peak_bytes"            # the column the figures weigh sites by: peak_bytes | live_bytes_end
    peak_total_bytes: Num | None = None
    peak_heap_bytes: Num | None = None
    live_end_total_bytes: Num = 0
    categories: dict[str, CategoryFigures] = field_key(default_factory=dict)
    peak_by_category: dict[str, Num | None] = field_key(default_factory=dict)
    growth_by_category: dict[str, float] = field_key(default_factory=dict)
    verdicts: dict[str, int] = field_key(default_factory=dict)
    leaking_sites: tuple[SiteBrief, ...] = ()
    top_sites: tuple[SiteBrief, ...] = ()
    # how many timeline steps (iteration boundaries or slices) triage judged; the run's iteration
    # count when known (0: none completed); where a truncated capture stops
    judged_steps: int | None = None
    iterations: int | None = None
    truncated: str | None = field_key(omit_none=True, default=None)

    @property
    def has_peak(self) -> bool:
        return self.weight == "peak_bytes"


@dataclass(frozen=True, kw_only=True)
class CaptureResult(Record):
    """One parsed and triaged capture as the JSON holds it: totals, meta and the largest sites."""

    format: str
    path: str
    totals: dict[str, Any] = field_key(default_factory=dict)
    meta: dict[str, Any] = field_key(default_factory=dict)
    n_sites: int = 0
    sites: tuple[SiteVerdict, ...] = ()
    sites_capped: bool = False
    sites_note: str | None = None

    @property
    def caveats(self) -> list[str]:
        return [str(c) for c in (self.meta.get("caveats") or [])]


@dataclass(frozen=True, kw_only=True)
class GrowthNamed(Record):
    """The growth no site holds, named from the series' RSS decomposition (never a leak)."""

    verdict: str
    part: str | None = None
    sentence: str = ""


@dataclass(frozen=True, kw_only=True)
class RunVerdict(Record):
    """The run's verdict joining the RSS series with the triaged sites (triage.run_verdict)."""

    verdict: str
    evidence_basis: str | None = None
    basis_sentence: str = ""
    growth_named: GrowthNamed | None = None
    collected_by_probe: tuple[SiteBrief, ...] = ()
    evidence: tuple[str, ...] = ()
    peak_by_category: dict[str, Num | None] = field_key(default_factory=dict)
    growth_by_category: dict[str, float] = field_key(default_factory=dict)
    growth_unit: str = "bytes per iteration"
    leaking_sites: tuple[SiteBrief, ...] = ()
    minor_growth_sites: tuple[SiteBrief, ...] = ()
    site_growth_mb_per_iter: float = 0.0
    growth_outside_sites_mb_per_iter: float | None = None
    explained: str | None = None
    captures: tuple[CaptureSummary, ...] = ()
