"""Per-site verdicts from live bytes over iterations: leak, pool, init-once or transient.

The question is the shape of each site's live bytes at the iteration
boundaries, not how much it holds at exit: a pool that fills during warmup and
a leak that never stops can hold the same bytes at the end. Shapes:

  transient  ends at ~0 although it was live at some point (freed again)
  leak       keeps growing through the later half of the run: a positive
             Theil-Sen slope there, an end above everything the first half
             held, more than one growth step late in the run, and no flat tail
  init-once  reaches its level in one step (whenever it first appears) and
             never grows again
  pool       grows in several steps, then holds a level (or varies without
             trend): memory kept and reused

Theil-Sen (median of pairwise slopes) ignores a single late pool expansion
that an OLS line would read as growth. Without a timeline (memcheck at exit)
the loss kind and the block count stand in for the shape, a heuristic the
evidence says aloud.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from profiler.fmt import fmt_bytes  # noqa: F401  (re-exported: triage's evidence sentences use it)
from profiler.parsers.memcheck import KIND_WORDS as MEMCHECK_KIND_WORDS

LEAK, POOL, INIT_ONCE, TRANSIENT = "leak", "pool", "init-once", "transient"
# growth unknown: what is left at exit, from a tool with no timeline and a run with no known
# iteration count (memcheck on a command without records): kind, blocks and bytes, no shape
UNKNOWN = "unknown"
VERDICTS = (LEAK, POOL, INIT_ONCE, TRANSIENT, UNKNOWN)
SEVERITY = {LEAK: 3, POOL: 2, UNKNOWN: 1.5, INIT_ONCE: 1, TRANSIENT: 0}

# A step counts as flat within max(FLAT_ABS, FLAT_REL x the site's maximum). Byte counts are
# exact, so the tolerance only absorbs a few objects' worth of jitter; it must stay well below
# a leak's per-iteration step even after thousands of iterations have piled that leak up.
FLAT_ABS = 64
FLAT_REL = 1e-5
END_ZERO_REL = 0.02         # ending at <= 2 % of its peak counts as freed
MIN_LEAK_GROWTH = 1024      # bytes the later half must add before a site is called a leak
MIN_FLAT_TAIL = 2           # flat steps at the end (at least, or a quarter of the steps) = plateau


@dataclass
class Judgement:
    verdict: str
    slope_bytes_per_iter: float
    evidence: str
    # a leak's rate near the minor bar: the low end of its 95% interval (is_material holds it there)
    slope_low_bytes_per_iter: float | None = None


MAX_TS_POINTS = 200          # Theil-Sen on evenly spaced points beyond this (pairs grow as n^2)
# a leak growing slower than this gets its rate's interval too: only near the minor bar (1 KiB per
# iteration by default) does the interval decide anything, and only a few sites are there
INTERVAL_BELOW = 16 * 1024


def theil_sen(y: Sequence[float], x: Sequence[float] | None = None) -> float:
    """Median of the pairwise slopes; 0.0 for fewer than two points. Long series are thinned to
    MAX_TS_POINTS evenly spaced points first: the median slope of a thinned series is the same
    estimator on a coarser grid, and a 5000-iteration timeline stays cheap."""
    from profiler.stats import theil_sen_slope

    return theil_sen_slope(y, x, max_points=MAX_TS_POINTS)


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def judge_series(slices: Sequence[int], live: Sequence[float], *, peak_bytes: float = 0.0,
                 alloc_count: float | None = None, unit: str = "iteration") -> Judgement:
    """Verdict for one site from its live bytes at each boundary (all slices, zeros filled in)."""
    v = [0.0 if (x is None or (isinstance(x, float) and math.isnan(x))) else float(x) for x in live]
    s = list(slices)
    n = len(v)
    peak = max([float(peak_bytes or 0.0)] + v) if v else float(peak_bytes or 0.0)
    if n == 0:
        return Judgement(TRANSIENT if peak <= 0 else INIT_ONCE, 0.0, "no timeline for this site")
    vmax = max(v)
    end = v[-1]
    per = f"/{unit}"
    if vmax <= 0:
        seen = f"peak {fmt_bytes(peak)}" if peak > 0 else (
            f"{int(alloc_count)} allocations" if alloc_count and not math.isnan(alloc_count) else "allocated")
        return Judgement(TRANSIENT, 0.0, f"never live at {_a(unit)} boundary ({seen}): freed within each {unit}")
    if end <= END_ZERO_REL * peak:
        first = s[v.index(vmax)]
        return Judgement(TRANSIENT, 0.0,
                         f"live bytes end at {fmt_bytes(end)} after {fmt_bytes(vmax)} at {unit} {first}: freed again")

    f = next(i for i, x in enumerate(v) if x > 0)
    tol = max(FLAT_ABS, FLAT_REL * vmax)
    steps = [v[i] - v[i - 1] for i in range(f + 1, n)]
    ups = [i for i in range(f + 1, n) if v[i] - v[i - 1] > tol]
    flat_tail = 0
    for d in reversed(steps):
        if abs(d) <= tol:
            flat_tail += 1
        else:
            break
    half = max(f, n // 2)
    if n - half < 3:
        half = max(f, n - 3) if n - f >= 3 else f
    late_x, late_y = s[half:], v[half:]
    slope = theil_sen(late_y, late_x)
    late_ups = sum(1 for i in ups if i > half)
    early_max = max(v[:half]) if half > 0 else 0.0
    late_growth = end - v[half]
    plateau = flat_tail >= max(MIN_FLAT_TAIL, math.ceil(0.25 * len(steps))) if steps else True
    span = f"{unit}s {s[half]}-{s[-1]}"
    appeared = f" (first live at {unit} {s[f]})" if f > 0 else ""

    # a site that drops to ~0 at a boundary of the later half gave everything back then: whatever
    # it holds at the end was allocated again, not accumulated (per-model buffers, a context
    # still alive at some boundaries and not at others)
    emptied = [s[i] for i in range(max(half, f + 1), n - 1) if v[i] <= END_ZERO_REL * vmax]
    if emptied:
        return Judgement(POOL, slope,
                         f"freed completely at {unit}{'s' if len(emptied) > 1 else ''} "
                         f"{', '.join(map(str, emptied))} and allocated again (up to {fmt_bytes(vmax)}, "
                         f"{fmt_bytes(end)} at the last {unit}): released and re-acquired, not accumulating")
    if (slope > 0 and slope * (n - 1 - half) >= MIN_LEAK_GROWTH and not plateau
            and end >= early_max + MIN_LEAK_GROWTH
            and late_growth >= MIN_LEAK_GROWTH and late_ups >= min(2, n - 1 - half)):
        low = None
        if slope < INTERVAL_BELOW and len(late_x) >= 3:
            from profiler.stats import theil_sen as theil_sen_interval

            low = theil_sen_interval(late_x, late_y, MAX_TS_POINTS).ci[0]
            low = float(low) if math.isfinite(low) else None
        return Judgement(LEAK, slope,
                         f"live bytes grow {fmt_bytes(slope)}{per} over {span} (Theil-Sen"
                         + (f", 95% interval from {fmt_bytes(low)}" if low is not None else "") + "), "
                         f"grew in {len(ups)} of {len(steps)} steps and end at {fmt_bytes(end)}"
                         f"{' (their maximum)' if end >= vmax - tol else f' (maximum {fmt_bytes(vmax)})'}"
                         f"{appeared}: no plateau", low)
    if not ups:
        drift = end - v[f]
        note = (f", drifting by {'+' if drift > 0 else ''}{fmt_bytes(drift)} in steps under {fmt_bytes(tol)}"
                if abs(drift) > tol else "")
        return Judgement(INIT_ONCE, slope,
                         f"reached {fmt_bytes(v[f])} at {unit} {s[f]} in one step and never grew again"
                         f" ({fmt_bytes(end)} at the last {unit}{note})")
    last_up = s[ups[-1]]
    if flat_tail:
        return Judgement(POOL, slope,
                         f"grew in {len(ups)} steps to {fmt_bytes(vmax)} by {unit} {last_up}{appeared}, "
                         f"then flat for the last {flat_tail} {unit}{'s' if flat_tail > 1 else ''}: kept and reused")
    return Judgement(POOL, slope,
                     f"varies between {fmt_bytes(min(v[f:]))} and {fmt_bytes(vmax)} without a lasting trend "
                     f"({fmt_bytes(slope)}{per} over {span}, ends at {fmt_bytes(end)}): not growing without bound")


LOST_KINDS = ("definite", "indirect")
KIND_WORDS = {**MEMCHECK_KIND_WORDS, "": "still reachable"}


def judge_exit_record(leak_kind: str | None, blocks: float | None, nbytes: float,
                      iterations: int | None, category: str | None = None) -> Judgement:
    """Verdict for a memcheck loss record: what is left at exit, no timeline.

    Lost blocks are leaks whatever the count. For reachable/possible blocks the
    count must stand in for the shape: a multiple of the iterations means one
    allocation per iteration, all kept (a leak that a pointer still reaches);
    one block is set-up kept to the end; a few blocks but fewer than the
    iterations is a pool that stopped growing."""
    kind = (leak_kind or "").lower().replace("leak_", "")
    kind = {"definitelylost": "definite", "indirectlylost": "indirect", "possiblylost": "possible",
            "stillreachable": "reachable"}.get(kind, kind)
    b = None if blocks is None or (isinstance(blocks, float) and math.isnan(blocks)) else int(blocks)
    size = fmt_bytes(nbytes or 0)
    count = f"{b} block{'s' if b != 1 else ''}" if b is not None else "blocks"
    words = KIND_WORDS.get(kind, kind)
    if kind in LOST_KINDS:
        slope = (nbytes / iterations) if (iterations and b and b % iterations == 0) else 0.0
        return Judgement(LEAK, float(slope), f"{words} at exit: {size} in {count} (memcheck)")
    if not iterations or b is None:
        return Judgement(UNKNOWN, 0.0,
                         f"{words} at exit: "
                         f"{size} in {count}; growth unknown: memcheck has no timeline and the run "
                         f"has no iteration count (write iteration records, or run twice at two "
                         f"sizes with --scale A,B)")
    if b >= iterations and b % iterations == 0:
        return Judgement(LEAK, float(nbytes) / iterations,
                         f"{words} at exit: {size} in {count} = {b // iterations} per iteration over "
                         f"{iterations} iterations, none freed: a leak still reachable "
                         f"(block-count heuristic, memcheck has no timeline)")
    if b == 1 or category in ("init", "libc", "python", "weights"):
        return Judgement(INIT_ONCE, 0.0,
                         f"{words} at exit: {size} in {count} in a run of {iterations} iterations: "
                         f"allocated at set-up and kept (block-count heuristic, memcheck has no timeline)")
    if b < iterations:
        return Judgement(POOL, 0.0,
                         f"{words} at exit: {size} in {count}, fewer than the {iterations} iterations: "
                         f"grew a few times and stopped, a pool (block-count heuristic, memcheck has no timeline)")
    return Judgement(INIT_ONCE, 0.0,
                     f"{words} at exit: {size} in {count}, not a multiple of the {iterations} iterations: "
                     f"not one allocation per iteration (block-count heuristic, memcheck has no timeline)")


def judge_without_timeline(live_end: float, peak: float, alloc_count: float | None) -> Judgement:
    """A capture with no notion of time (e.g. an aggregated memray file): only end versus peak."""
    live_end = float(live_end or 0)
    peak = float(peak or 0)
    if live_end <= END_ZERO_REL * max(peak, live_end) or live_end <= 0:
        return Judgement(TRANSIENT, 0.0, f"freed by the end (peak {fmt_bytes(peak)}); no timeline")
    return Judgement(INIT_ONCE, 0.0,
                     f"{fmt_bytes(live_end)} still live at the end; no timeline to tell growth from set-up")


# The end of start-up on the total live heap: the first boundary from which the heap never falls
# more than this far below the line of its later half (the robust spread of that half, at least
# STARTUP_TOL_ABS or STARTUP_TOL_REL of its level).
STARTUP_TOL_ABS = 4096
STARTUP_TOL_REL = 0.005
MIN_JUDGED = 4                  # boundaries left to judge after start-up, at least
# time slices: start-up over more than this share of the active run leaves too little to judge
STARTUP_MOST = 0.6
FLOOR_SPAN = 3                  # the heap's level at a boundary: its minimum over this one and the next two


def startup_end(total: Sequence[float]) -> int:
    """Index of the first boundary after start-up on the total live heap (0: no start-up).

    Start-up (imports, first-time initialisation, pools filling) climbs faster than the rest of
    the run: the early points lie below the backward extension of the later half's Theil-Sen
    line. Start-up ends where the heap joins that line and stays on or above it. A steady leak
    from the first boundary is on its own line throughout: no start-up. At least MIN_JUDGED
    boundaries are always left to judge."""
    import numpy as np

    y = np.asarray(total, dtype=float)
    n = y.size
    if n < 2 * MIN_JUDGED:
        return 0
    y = np.asarray(floor(y))
    late = n - max(MIN_JUDGED, n // 3)      # the later rate: the last third of the run
    x = np.arange(n, dtype=float)
    r = theil_sen(y[late:], x[late:])
    a = float(np.median(y[late:] - r * x[late:]))
    resid = y - (a + r * x)
    spread = 1.4826 * float(np.median(np.abs(resid[late:] - np.median(resid[late:]))))
    tol = max(3.0 * spread, STARTUP_TOL_ABS, STARTUP_TOL_REL * float(np.median(np.abs(y[late:]))))
    below = np.flatnonzero(resid < -tol)
    if below.size == 0:
        return 0
    return int(min(below[-1] + 1, n - MIN_JUDGED))


def persists_after(live: Sequence[float], start: int) -> bool:
    """Whether a site's growth goes on after start-up: at least two growth steps from `start` on
    and a positive Theil-Sen slope there. A step early in the run, then flat, does not."""
    v = [float(x) for x in live[start:]]
    if len(v) < 3:
        return False
    tol = max(FLAT_ABS, FLAT_REL * max(v))
    ups = sum(1 for i in range(1, len(v)) if v[i] - v[i - 1] > tol)
    return ups >= 2 and theil_sen(v) > 0


def growth_end(total: Sequence[float]) -> int:
    """One past the last boundary at which the total live heap rose (beyond STARTUP_TOL_ABS): in time
    slices the run's activity ends there, and whatever flat slices follow are not its last third."""
    last = 0
    for i in range(1, len(total)):
        if total[i] - total[i - 1] > STARTUP_TOL_ABS:
            last = i
    return max(last + 1, min(len(total), MIN_JUDGED))


def floor(y: Sequence[float]) -> list[float]:
    """The level at each boundary: the minimum over it and the next FLOOR_SPAN - 1 (a buffer
    allocated and freed within a boundary or two is a spike, not the level)."""
    v = [float(x) for x in y]
    return [min(v[i:i + FLOOR_SPAN]) for i in range(len(v))]


def after_startup(j: Judgement, live: Sequence[float], slices: Sequence[int], start: int, unit: str,
                  end: int | None = None) -> Judgement:
    """A leak verdict whose growth does not persist after start-up becomes init-once (one step) or
    pool (several), its evidence saying so. In time slices (no iteration records) the growth must
    also persist through the last third of the run, and when start-up takes most of the run
    (over STARTUP_MOST of it) the verdict is unknown: what is left is too short to tell."""
    startup = start
    n = len(live)
    if unit == "slice" and j.verdict == LEAK:
        # time slices: the growth must also go on through the last third of the active run
        n = min(n, end or n)
        live = live[:n]
        start = max(start, n - max(MIN_JUDGED, n // 3))
    if j.verdict != LEAK or start <= 0:
        return j
    if unit == "slice" and persists_after(live, start) and startup > STARTUP_MOST * n:
        # time slices with start-up over most of the run: what is left cannot tell growth that goes
        # on from start-up that is still ending (and a stalled tool clock crowds work into it)
        s = list(slices)
        return Judgement(UNKNOWN, j.slope_bytes_per_iter,
                         f"grows until {unit} {s[n - 1]}, but the live heap climbs steeply until {unit} {s[startup]} "
                         f"of {s[0]}-{s[n - 1]}: too little run after start-up to tell growth from start-up "
                         f"(mark iterations with memprof_marks or the C header, or run twice with --scale A,B)")
    if persists_after(live, start):
        return j
    v = [float(x) for x in live]
    tol = max(FLAT_ABS, FLAT_REL * max(v))
    ups = [i for i in range(1, len(v)) if v[i] - v[i - 1] > tol]
    verdict = INIT_ONCE if len(ups) <= 1 else POOL
    s = list(slices)
    last = s[ups[-1]] if ups else s[0]
    when = (f"during start-up (the live heap climbs steeply until {unit} {s[startup]})" if startup
            else "early in the run")
    return Judgement(verdict, 0.0,
                     f"grew {when}, last at {unit} {last}, and not after {unit} {s[start]}: "
                     f"{fmt_bytes(v[-1])} at the last {unit}, a one-time {'step' if verdict == INIT_ONCE else 'fill'}, "
                     f"not growth")
