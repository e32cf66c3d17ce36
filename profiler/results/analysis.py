"""The pipeline's result: one `AnalysisResult` per analysed run, capture or series.

Its `to_json()` is analysis.json, report.json and `memprof analyze --json` (schema
memprof.analysis/1, profiler/schema/analysis.schema.json); `from_json()` rebuilds it from a
saved analysis.json, so the report stage can run alone and render what the analysis found.
The parsed captures (their whole site tables, for sites.csv, `check` and `compare`) ride along
in memory only (`parsed`), never in the JSON.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from profiler.results.codec import Record, field_key
from profiler.results.series import Block, ModelRow, Phase, Recommendation, SeriesAnalysis
from profiler.results.sites import CaptureResult, RunVerdict, SiteVerdict

SCHEMA = "memprof.analysis/1"


@dataclass(frozen=True, kw_only=True)
class Source(Record):
    """What was analysed: a run directory, a bare capture, a memory series, or a --scale pair."""

    kind: Literal["run", "capture", "series", "scale"]
    path: str


@dataclass(frozen=True, kw_only=True)
class Truncation(Record):
    """A capture cut off while written: where the analysis stops. `summary` is the parser's own
    sentence; `details` the parser's other figures (complete lines, snapshots, ...) by its names."""

    path: str
    reason: str | None = None
    details: dict[str, Any] = field_key(extra=True, default_factory=dict)
    summary: str = ""


@dataclass(frozen=True, kw_only=True)
class RunCut(Record):
    """The run was interrupted or timed out (meta.json's `cut`, written by the workload runner):
    the capture and the records end there, and every view of the run says so first."""

    reason: str | None = None            # interrupted | timeout
    how: str | None = None               # at once | after the current step | by the workload
    after_s: float | None = None         # seconds, as the runner wrote them (1.0 stays 1.0, as the live line says)
    saved: tuple[str, ...] = ()          # files a Valgrind tool saved through vgdb at the stop
    iterations: int | None = None        # iteration records written before the stop
    details: dict[str, Any] = field_key(extra=True, default_factory=dict)

    def line(self) -> str:
        """The line a report of a cut run starts with."""
        why = "TIMED OUT" if self.reason == "timeout" else "INTERRUPTED"
        how = "stopped at once" if self.how == "at once" else "stopped after the current step"
        saved = f"; the tool's data saved through vgdb ({', '.join(self.saved)})" if self.saved else ""
        return (f"RUN CUT ({why}, {how}, after {self.after_s} s and {self.iterations or 0} "
                f"iteration(s)){saved}: nothing after it was measured")


@dataclass(frozen=True, kw_only=True)
class ScaleRun(Record):
    """One of a --scale pair's runs, as the differential result lists it."""

    n: int
    run_dir: str
    verdict: str | None = None
    explained: str | None = None
    totals: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class AnalysisResult(Record):
    """Everything the analysis found; the report, the console summary, `check` and `compare`
    read its attributes. `verdict`/`evidence_basis` are the run's (capture evidence outranks an
    RSS series on its own); `totals`/`sites` are `analyze --json`'s copies of captures[0]'s."""

    schema: str = SCHEMA
    source: Source
    meta: dict[str, Any] = field_key(omit_none=True, default_factory=dict)
    series: SeriesAnalysis | None = None
    captures: tuple[CaptureResult, ...] = ()
    verdict: str = "inconclusive"
    evidence_basis: str | None = None
    # copies of the series' headline figures (None without a series)
    slope_mb_per_iter: float | None = None
    slope_ci_mb: tuple[float | None, ...] | None = None
    phases: tuple[Phase, ...] | None = None
    blocks: tuple[Block, ...] | None = None
    per_model: dict[str, ModelRow] | None = None
    recommendation: Recommendation | None = None
    cut: RunCut | None = field_key(omit_none=True, default=None)
    truncated: tuple[Truncation, ...] | None = field_key(omit_none=True, default=None)
    warnings: tuple[str, ...] | None = field_key(omit_none=True, default=None)
    triage: RunVerdict | None = None
    totals: dict[str, Any] | None = field_key(omit_none=True, default=None)
    sites: tuple[SiteVerdict, ...] | None = field_key(omit_none=True, default=None)
    # --scale A,B: the differential verdict (triage.scale.judge) and both runs
    explained: str | None = field_key(omit_none=True, default=None)
    scale: dict[str, Any] | None = field_key(omit_none=True, default=None)
    runs: tuple[ScaleRun, ...] | None = field_key(omit_none=True, default=None)
    # in memory only: the parsed, triaged captures (tables.Capture) and a --scale pair's results
    parsed: tuple = field_key(internal=True, default=())
    scale_results: dict = field_key(internal=True, default_factory=dict)

    @property
    def explanation(self) -> str | None:
        """The run verdict's one-paragraph explanation, when captures gave one."""
        if self.triage is not None and self.captures:
            return self.triage.explained or None
        return self.explained

    def public(self) -> AnalysisResult:
        """The result as the JSON holds it (no in-memory parts): what a saved analysis.json gives."""
        return replace(self, parsed=(), scale_results={})
