"""The series analysis as types: what `profiler.analysis.analyze_series` hands the report and triage.

Why: the report, the run verdict and the console read some sixty figures of the series; as
dict keys nothing checked them and a renamed key failed silently (a missing section, a "n/a").
Field names are the JSON keys of analysis.json's `series` (schema memprof.analysis/1), so
`to_json()` writes the document users read and `SeriesAnalysis.from_json()` reads a saved one
back for the report stage. All memory is in MB (2**20 bytes, the MiB of /proc); slopes are MB
per iteration (per sample for `memprof watch`, per request for `memprof serve`).

Keys that appear only for some rows are optional: `omit_none` when they are left out whenever
they have no value, `present` when they belong to one kind of row and may be null there (a
sawtooth phase's period with one reclaim).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from profiler.results.codec import Record, field_key

Verdict = Literal["plateau", "leak", "inconclusive"]


def _sawtooth_row(row) -> bool:
    return row.shape == "sawtooth"


@dataclass(frozen=True)
class Span(Record):
    """First and last iteration of a stretch of the series."""
    first: int
    last: int


@dataclass(frozen=True)
class Phase(Record):
    """One phase (warmup, settling, plateau, growth) of the series, phases.phase_table."""
    name: str
    first: int
    last: int
    n: int
    mean_mb: float | None
    start_mb: float | None
    end_mb: float | None
    std_mb: float | None
    shape: str | None = field_key(omit_none=True, default=None)          # flat | sawtooth
    period: float | None = field_key(present=_sawtooth_row, default=None)
    trims: int | None = field_key(present=_sawtooth_row, default=None)
    reclaims: tuple[int, ...] | None = field_key(present=_sawtooth_row, default=None)
    tooth_length: float | None = field_key(present=_sawtooth_row, default=None)
    trough_mb: float | None = field_key(present=_sawtooth_row, default=None)
    peak_mb: float | None = field_key(present=_sawtooth_row, default=None)
    gc_reclaims: tuple[int, ...] | None = field_key(present=_sawtooth_row, default=None)
    first_s: float | None = field_key(omit_none=True, default=None)     # watch: seconds at the first sample


@dataclass(frozen=True)
class Block(Record):
    """Consecutive `block_size` records (the seed's 10-iteration table)."""
    block: int
    first: int
    last: int
    n: int
    mean_mb: float | None
    delta_mb: float | None
    min_mb: float | None
    max_mb: float | None


@dataclass(frozen=True)
class Stable(Record):
    """The stable phase (after warmup and settling) and its summary."""
    first: int
    last: int
    n: int
    mean_mb: float | None
    std_mb: float | None
    min_mb: float | None
    max_mb: float | None
    range_mb: float | None
    median_mb: float | None


@dataclass(frozen=True)
class Fit(Record):
    """The OLS line over the stable phase (what the plot draws)."""
    intercept_mb: float | None
    slope_mb_per_iter: float | None
    first: int | None
    last: int
    r_std_mb: float | None


@dataclass(frozen=True)
class TrendTest(Record):
    """Mann-Kendall over the stable phase."""
    name: str
    s: int
    z: float | None
    p: float | None
    n: int


@dataclass(frozen=True)
class LateTrend(Record):
    """Mann-Kendall over the late phase."""
    name: str
    z: float | None
    p: float | None


@dataclass(frozen=True)
class LatePhase(Record):
    """The phase the verdict tests: growth if one was found, else the stable phase; for a
    sawtooth the envelope's trough rate (basis "envelope", no interval or trend test)."""
    name: str
    first: int | None
    basis: str
    theil_sen_mb_per_iter: float | None
    theil_sen_ci_mb: tuple[float | None, float | None]
    trend_test: LateTrend | None


@dataclass(frozen=True)
class HeapReclaim(Record):
    """A drop of heap in use (heapfloor.assess) and the floor right after it."""
    iteration: int
    before_mb: float | None
    floor_mb: float | None


@dataclass(frozen=True)
class HeapFloorPoint(Record):
    """One floor the heap-floor rule compares: after a reclaim, or after the probe's gc.collect()."""
    iteration: int
    floor_mb: float | None
    source: Literal["reclaim", "probe"]


@dataclass(frozen=True)
class Probe(Record):
    """The end-of-loop collection probe against the last iteration (heapfloor.probe_summary)."""
    after_iteration: int
    collected: int | None
    rss_last_mb: float | None
    rss_after_gc_mb: float | None
    heap_last_mb: float | None
    heap_after_gc_mb: float | None
    rss_after_trim_mb: float | None
    heap_free_retained_after_trim_mb: float | None


@dataclass(frozen=True)
class HeapFloor(Record):
    """Heap in use after each reclaim and after the probe (heapfloor.assess); verdict None: undecided."""
    start_mb: float | None
    reclaims: tuple[HeapReclaim, ...]
    floors: tuple[HeapFloorPoint, ...]
    probe: Probe | None
    climb_mb: float | None
    mb_per_iter: float | None
    tolerance_mb: float | None
    relevant: bool | None
    consistent: bool | None
    verdict: Verdict | None
    basis: str | None
    sentence: str


@dataclass(frozen=True)
class Segment(Record):
    """A piecewise-constant stretch found by PELT."""
    first: int
    last: int
    n: int
    mean_mb: float | None


@dataclass(frozen=True)
class Step(Record):
    """A level shift between two segments."""
    iteration: int
    step_mb: float | None
    from_mb: float | None
    to_mb: float | None


@dataclass(frozen=True)
class LastSegment(Record):
    first: int
    last: int
    n: int
    mann_kendall_p: float | None
    theil_sen_mb_per_iter: float | None


@dataclass(frozen=True)
class ChangePoints(Record):
    """Level shifts after warmup and the shape they make (changepoints.describe)."""
    method: str
    penalty: float | None
    noise_sigma_mb: float | None
    segments: tuple[Segment, ...]
    steps: tuple[Step, ...]
    shape: str        # flat | step then flat | staircase | rising
    last_segment: LastSegment


@dataclass(frozen=True)
class Slowing(Record):
    """A rise that decelerates towards a level (slowing.assess)."""
    model: str
    fit_p: float | None
    asymptote_mb: float | None
    tau_iterations: float | None
    early_mb_per_iter: float | None
    late_mb_per_iter: float | None
    late_ci_mb: tuple[float | None, float | None]
    rate_start_mb_per_iter: float | None
    rate_end_mb_per_iter: float | None
    remaining_rise_mb: float | None
    tolerance_mb: float | None
    level_off_iteration: int
    levelled_off: bool
    more_iterations: int
    first: int
    last: int
    linear_term_mb_per_iter: float | None


@dataclass(frozen=True)
class Sawtooth(Record):
    """The reclaims as phases.py counts them; trim_iterations: the first iteration after each drop."""
    trims: int
    period: float | None
    mean_trim_mb: float | None
    trim_iterations: tuple[int, ...]


@dataclass(frozen=True)
class Tooth(Record):
    """One run between reclaims; offset_*: how far it runs above the tooth before (not for the first)."""
    first: int
    last: int
    n: int
    complete: bool
    base_mb: float | None
    slope_mb_per_iter: float | None
    low_mb: float | None
    peak_mb: float | None
    peak_iteration: int
    offset_mb: float | None = field_key(omit_none=True, default=None)
    offset_ages: int | None = field_key(omit_none=True, default=None)
    # the low of the series the tests ran on (each model's level taken out when the records
    # alternate models; low_mb is the RSS itself): the floors are compared on it
    judged_low_mb: float | None = field_key(internal=True, default=None)


@dataclass(frozen=True)
class EnvelopeTest(Record):
    """Whether the troughs (or the peaks) of the teeth rise (reclaims._judge)."""
    total_mb: float | None
    n: int
    positive: int
    ages: int
    test: Literal["noise", "mann-kendall"]
    p: float | None
    ci_mb: tuple[float | None, float | None] | None
    noise_mb: float | None
    mb_per_iter: float | None
    beyond_noise: bool
    relevant: bool
    consistent: bool
    rises: bool
    # False when the rate's 95% interval (Mann-Kendall test only) reaches both sides of the
    # relevance bar: whether the drift is material is then not known
    relevance_settled: bool = True
    # the largest single offset (noise test, two or more offsets): a rise that rests on it is a step
    largest_mb: float | None = field_key(omit_none=True, default=None)


@dataclass(frozen=True)
class Envelope(Record):
    """The sawtooth's teeth, troughs and peaks (reclaims.envelope)."""
    reclaims: tuple[int, ...]
    teeth: tuple[Tooth, ...]
    noise_sigma_mb: float | None
    level_mb: float | None
    troughs: EnvelopeTest
    peaks: EnvelopeTest | None
    cold_first_tooth_excluded: bool
    overdue: bool
    highest_peak_mb: float | None
    highest_peak_iteration: int
    tooth_length: float | None
    # an unfinished last tooth of fewer than 8 records, left out of the trough comparison
    short_last_tooth_excluded: bool = False


@dataclass(frozen=True)
class Reclaim(Record):
    """What one reclaim of RSS gave back (reclaims.attribute); kind: gc | freed | allocator | outside | unknown."""
    iteration: int
    before_mb: float | None
    after_mb: float | None
    rss_change_mb: float | None
    heap_in_use_before_mb: float | None
    heap_in_use_change_mb: float | None
    heap_free_retained_before_mb: float | None
    heap_free_retained_change_mb: float | None
    rss_anon_before_mb: float | None
    rss_anon_change_mb: float | None
    rss_file_before_mb: float | None
    rss_file_change_mb: float | None
    gc_collections: int | None
    gc_collected: int | None
    kind: str
    gc_ran: bool
    sentence: str


@dataclass(frozen=True)
class GcEvent(Record):
    """A GC run (not a reclaim) after which heap in use fell (reclaims.gc_events)."""
    iteration: int
    gc_collections: int | None
    gc_collected: int | None
    heap_in_use_change_mb: float | None
    rss_change_mb: float | None
    heap_free_retained_change_mb: float | None
    sentence: str


@dataclass(frozen=True)
class GcSummary(Record):
    """Python's cyclic collector over the run; counted: "generation 2" | "all generations"."""
    collections: int
    full_collections: int
    collected: int | None
    counted: str
    caveat: str


@dataclass(frozen=True)
class Point(Record):
    """One iteration for the plots."""
    iteration: int
    rss_mb: float
    model: str | None = field_key(omit_none=True, default=None)


@dataclass(frozen=True)
class ModelRow(Record):
    """One model's figures in a switch loop (permodel.per_model); the optional ones need their record field."""
    iterations: int
    net_mb_per_switch: float | None
    rss_mean_mb: float | None
    net_mb_per_switch_stable: float | None = field_key(omit_none=True, default=None)
    rss_after_load_mean_mb: float | None = field_key(omit_none=True, default=None)
    rss_peak_mean_mb: float | None = field_key(omit_none=True, default=None)
    rss_peak_max_mb: float | None = field_key(omit_none=True, default=None)
    load_s: float | None = field_key(omit_none=True, default=None)
    ttft_s: float | None = field_key(omit_none=True, default=None)
    gen_s: float | None = field_key(omit_none=True, default=None)
    unload_s: float | None = field_key(omit_none=True, default=None)
    tokens_per_s: float | None = field_key(omit_none=True, default=None)
    token_error_rate: float | None = field_key(omit_none=True, default=None)


@dataclass(frozen=True)
class DecompositionRow(Record):
    """RSS split into its parts at one iteration (decomposition.rows)."""
    iteration: int
    rss_mb: float | None
    file_mb: float | None
    heap_in_use_mb: float | None
    heap_free_retained_mb: float | None
    other_anon_mb: float | None


@dataclass(frozen=True)
class DecompositionGrowth(Record):
    """How much of the RSS change sits in each part (decomposition.growth); largest: a part's key."""
    from_: Span = field_key("from")
    to: Span = field_key()
    rss_mb: float | None = None
    heap_free_retained_mb: float | None = None
    heap_in_use_mb: float | None = None
    other_anon_mb: float | None = None
    file_mb: float | None = None
    unexplained_mb: float | None = None
    largest: str = ""
    sentence: str = ""

    def part(self, key: str) -> float | None:
        """A part's change by its key (the decomposition's PARTS, "unexplained_mb")."""
        return getattr(self, key)


@dataclass(frozen=True)
class LoadedPoint(Record):
    iteration: int
    rss_peak_mb: float | None
    rss_after_load_mb: float | None = field_key(omit_none=True, default=None)


@dataclass(frozen=True)
class Loaded(Record):
    """What a loaded, generating model holds (footprint.loaded): the budget's base."""
    peak_mb: float | None
    peak_iteration: int
    peak_model: str | None
    after_load_max_mb: float | None
    headroom_mb: float | None
    headroom_max_mb: float | None
    method: str | None
    points: tuple[LoadedPoint, ...]


@dataclass(frozen=True)
class GapParts(Record):
    """The cgroup-minus-RSS gap split into what explains it."""
    page_cache_beyond_rss_mb: float | None = field_key(omit_none=True, default=None)
    kernel_mb: float | None = field_key(omit_none=True, default=None)
    other_anon_mb: float | None = field_key(omit_none=True, default=None)


@dataclass(frozen=True)
class Container(Record):
    """The memory cgroup beside RSS at the last record (footprint.container)."""
    version: int | None
    iteration: int
    usage_mb: float | None
    anon_mb: float | None
    file_mb: float | None
    file_mapped_mb: float | None
    kernel_mb: float | None
    limit_mb: float | None
    procs: int | None
    rss_mb: float | None
    rss_anon_mb: float | None
    rss_file_mb: float | None
    gap_mb: float | None
    gap_parts: GapParts
    usage_growth_mb: float | None
    rss_growth_mb: float | None
    sentence: str


@dataclass(frozen=True)
class Recommendation(Record):
    """The memory budget (verdict.recommend); *_to_alert/ram only for a leak, hours_* for a watch."""
    max_expected_mb: float
    alert_mb: float
    ram_mb: int
    rule: str
    basis: str
    iterations_to_alert: int | None = field_key(omit_none=True, default=None)
    iterations_to_ram: int | None = field_key(omit_none=True, default=None)
    sentence: str = ""
    hours_to_alert: float | None = field_key(omit_none=True, default=None)
    hours_to_ram: float | None = field_key(omit_none=True, default=None)


@dataclass(frozen=True)
class TimeBased(Record):
    """`memprof watch`: the per-sample figures per hour (footprint.time_based)."""
    seconds_per_sample: float | None
    duration_s: float | None
    slope_mb_per_hour: float | None
    slope_ci_mb_per_hour: tuple[float | None, float | None]
    late_slope_mb_per_hour: float | None


@dataclass(frozen=True)
class SeriesAnalysis(Record):
    """Everything the memory series says (analysis.analyze_series): the `series` of analysis.json.

    evidence_basis names what decided the verdict: "heap floor after reclaims", "collection probe"
    or "rss shape"; the RSS shape's own verdict is `rss_verdict`. evidence[0] is basis_sentence."""
    n: int
    metric: str
    unit: str
    iterations: Span
    verdict: Verdict
    evidence_basis: str
    basis_sentence: str
    rss_verdict: Verdict
    evidence: tuple[str, ...]
    heap_floor: HeapFloor | None
    probe: Probe | None
    change_points: ChangePoints | None
    slowing: Slowing | None
    phases: tuple[Phase, ...]
    blocks: tuple[Block, ...]
    block_size: int
    stable: Stable | None
    noise_sigma_mb: float | None
    slope_mb_per_iter: float | None
    slope_ci_mb: tuple[float | None, float | None]
    fit: Fit
    theil_sen_mb_per_iter: float | None
    theil_sen_ci_mb: tuple[float | None, float | None]
    trend_test: TrendTest
    late_phase: LatePhase
    extrapolation_1000_mb: float | None
    extrapolation_note: str
    sawtooth: Sawtooth | None
    envelope: Envelope | None
    reclaims: tuple[Reclaim, ...]
    gc_events: tuple[GcEvent, ...]
    peak_mb: float | None
    points: tuple[Point, ...]
    per_model: dict[str, ModelRow]
    gc: GcSummary | None
    decomposition: tuple[DecompositionRow, ...]
    decomposition_growth: DecompositionGrowth | None
    loaded: Loaded | None
    container: Container | None
    recommendation: Recommendation
    time_based: TimeBased | None = field_key(omit_none=True, default=None)
