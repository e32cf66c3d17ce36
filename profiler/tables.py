"""The common tables every parser produces and every later stage consumes.

A parser turns one capture into a `Capture`: totals the tool itself would
print, a `sites` DataFrame (one row per allocation site) and, when the format
has a notion of time, a `timeline` DataFrame (live bytes per site per slice).
Triage fills `category`, `verdict` and `slope_bytes_per_iter` later.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from profiler.results.codec import Record, field_key
from profiler.results.sites import ThinGrowth, TimelineUnit

# Imported lazily by callers that need DataFrames; this module stays cheap to import.


class Frame(NamedTuple):
    """One stack frame. `module` is always kept (the shared object or Python file);
    function/file/line may be None when the tool recorded only an address."""

    function: str | None
    module: str | None
    file: str | None = None
    line: int | None = None
    address: int | None = None

    def label(self) -> str:
        fn = self.function or (f"0x{self.address:x}" if self.address is not None else "???")
        if self.file:
            return f"{fn} ({self.file}:{self.line})" if self.line else f"{fn} ({self.file})"
        if self.module:
            return f"{fn} (in {self.module})"
        return fn


# Column order of the sites table. `stack` holds a tuple of Frame, innermost first.
SITE_COLUMNS = [
    "site_id",               # int, unique per row: one row per distinct allocation stack
    "site",                  # label of the first frame that is not allocator/GGML plumbing
    "function",              # that frame's function
    "module",                # that frame's module (shared object or Python file)
    "stack",                 # tuple[Frame, ...], innermost first
    "backend",               # heaptrack | massif | memcheck | memray
    "live_bytes_end",        # bytes still allocated at the end of the capture
    "peak_bytes",            # bytes of this site live at the capture's peak (global peak)
    "alloc_count",           # number of allocation calls (massif: NaN, it does not count calls)
    "leak_kind",             # memcheck: definite|indirect|possible|reachable; else None
    "category",              # triage: weights|kv_cache|compute_pool|init|python|libc|unknown
    "slope_bytes_per_iter",  # triage: live-bytes slope over iterations
    "verdict",               # triage: leak|pool|init-once|transient
]

# site_timeline: long format, one row per (site, slice)
TIMELINE_COLUMNS = [
    "site_id",     # matches sites.site_id
    "slice",       # iteration number when aligned to iteration records, else time-slice index
    "t",           # seconds since process start at the slice boundary
    "live_bytes",  # bytes of this site live at that boundary
]

ITERATION_COLUMNS = [
    "iteration", "model", "phase", "rss", "uss", "pss", "rss_anon", "rss_file", "swap",
    "heap_in_use", "heap_free_retained", "threads", "load_s", "ttft_s", "gen_s", "unload_s",
    "tokens_per_s", "output_digest", "token_error_rate", "t_start", "t_end",
]


@dataclass(frozen=True)
class ProbeState:
    """The heap right after the collection probe's gc.collect(), as the tool saw it (massif's
    snapshot taken through vgdb, memcheck's leak check): live bytes per site of the capture."""

    source: str                          # where it was read: the .probe file, the labelled check
    live: dict[int, int]                 # site_id -> live bytes
    heap_bytes: int | None = None        # the tool's own total in that state
    unmatched_bytes: int = 0             # bytes at stacks that match no site of the capture
    after_iteration: int | None = None
    t: float | None = None               # on the tool's clock (massif: its time unit)


@dataclass(frozen=True, kw_only=True)
class Truncated(Record):
    """A capture cut off while written (`meta["truncated"]`, set by its parser): why, the parser's
    sentence saying where the reading stops, and its own figures (complete lines, snapshots,
    records, last time) under its names."""

    reason: str
    details: dict[str, Any] = field_key(extra=True, default_factory=dict)
    summary: str = ""


@dataclass(frozen=True, kw_only=True)
class CaptureTriage(Record):
    """How triage judged a capture (`meta["triage"]`, set by triage_capture): the rules, the
    timeline steps it judged, where start-up ended, the thin-growth groups and the site counts."""

    rules: tuple[str, ...] = ()
    timeline_unit: TimelineUnit | None = None      # None: no timeline was judged
    judged_slices: tuple[int, int] | None = None   # first and last judged step
    judged_steps: int = 0
    startup_end: int | None = None                 # the step where start-up ended (None: at once)
    thin_growth: tuple[ThinGrowth, ...] = ()
    iterations: int | None = None                  # the run's iteration count, when known
    sites_before_merge: int = 0
    sites: int = 0


@dataclass
class Capture:
    """One parsed capture. `totals` keys are the ones `memprof analyze --json` prints
    (heaptrack: calls, temporary, peak_heap_bytes, leaked_bytes; memcheck:
    definitely_lost_bytes, ...; massif: peak_heap_bytes, snapshots; memray:
    total_allocations, total_bytes_allocated, peak_memory_bytes)."""

    format: str
    path: str
    totals: dict[str, Any]
    sites: Any                 # pandas.DataFrame with SITE_COLUMNS
    timeline: Any = None       # pandas.DataFrame with TIMELINE_COLUMNS, or None
    meta: dict[str, Any] = field(default_factory=dict)   # command line, pid, tool version, ...
    # what one step of `timeline` is (None without a timeline): the parser that cut it knows
    unit: TimelineUnit | None = None
    # iterations the capture itself counted (a leak check per iteration), when it counts them
    iterations: int | None = None
    # iteration boundaries cut at the workload's in-band markers (the rest at the clock), when marked
    markers: int | None = None
    # the state right after the collection probe's gc.collect() (not an iteration: no slope sees it),
    # when the tool took one
    probe: ProbeState | None = None

    @property
    def truncated(self) -> Truncated | None:
        """Where a capture cut off while written stops (its parser's note), else None."""
        return (self.meta or {}).get("truncated")

    @property
    def triage(self) -> CaptureTriage | None:
        """How triage judged the capture (None before triage)."""
        return (self.meta or {}).get("triage")


def empty_sites():
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype="object") for c in SITE_COLUMNS})
