"""Reclaim events (large drops of the level) and the envelope of the teeth between them.

Why: memory that grows between reclaims and is given back by them (a pool
trimmed by the allocator, objects in reference cycles freed when Python's
cyclic garbage collector runs) draws a sawtooth. A trend fitted to the raw
series follows the teeth and calls a ramp a leak; the question a leak asks is
whether what the reclaims leave behind rises, so it is answered on the envelope.

Reclaim (position i, the first point after the drop), all of:
  - the fall y[i-1] - y[i] exceeds 5 robust sigmas of the first differences (the
    step-to-step noise) and 2% of the median level (a reclaim matters: a 1 MB wiggle
    of a quantised, nearly noiseless RSS is not one). The level's scatter around one
    line is not used: the teeth themselves inflate it;
  - the tooth it ends had risen at least that much above its own low, and the fall
    gives back at least half of that rise: the level returns toward an earlier trough
    (a permanent step down from a flat level is not a reclaim);
  - the next point does not rebound by more than half the fall (a one-point dip is
    an outlier, not a reclaim), and the step up into the peak is under half the fall
    (a one-point spike is an outlier, not a tooth that was reclaimed).
One reclaim is enough: a full garbage collection may happen once in 50 iterations.
On a series that alternates models all of this, and the envelope below, runs on the
series with each model's level taken out (without_model_levels); lows and peaks are
reported from the series itself.

Envelope: the teeth are the runs between reclaims (the first starts after warmup).
The first tooth starts cold: with three or more teeth it is left out of the trough and
peak comparisons (it is warmup, never the baseline the later teeth climb from). An unfinished
last tooth of fewer than 8 records is left out of the trough comparison while two or more
other teeth remain to compare.
Each tooth with 3+ points gets a Theil-Sen line against its age (iterations since
the tooth began); the envelope noise is the robust sigma of all teeth's residuals.
How much a tooth runs above the one before is the median, over the ages both
reached, of their difference at the same age (robust to a first point that is off
and to teeth of different lengths; a tooth under 3 points is compared at its base).
The troughs rise when the rise is beyond noise, relevant and consistent:
  - with few teeth (2-5), beyond noise means the summed offsets exceed 3 standard
    errors, se = 1.2533 * sqrt(2) * sigma / sqrt(m) * sqrt(k) for k offsets that are
    medians over m common ages (the model: independent noise of robust sigma); the
    rate is the Theil-Sen slope of the cumulative offsets against the teeth's first
    iterations (total / spacing for one reclaim); consistent means at least half
    the offsets are positive and, the largest left out, the others still add up beyond
    their noise (one tooth that jumps is a step, not a climb);
  - with 6 or more teeth, the noise is measured rather than modelled: each tooth's
    level is the median of its gap to the median tooth at the same age, and the
    levels must rise as the series verdict asks of a series (Mann-Kendall p < 0.01,
    Theil-Sen 95% interval above 0); the rate is their Theil-Sen slope;
  - relevant, in both cases: projected over 1000 iterations the rate adds >= 10% of
    the level (the rule of verdict.py); with 6 or more teeth the rate's 95% interval must
    not span that bar (relevance_settled), or whether the drift matters is not known.
The peaks (of teeth ended by a reclaim) are judged by the same tests, on the
peak values, when there are two or more such teeth. An unfinished last tooth that has already run
1.5 times longer than any finished one and stands above every earlier peak may
never be reclaimed: that is reported as `overdue`.
"""
from __future__ import annotations

import math

import numpy as np

from profiler import stats
from profiler.results.series import Envelope, EnvelopeTest, GcEvent, Reclaim, Tooth

DROP_DIFF_SIGMAS = 5.0
MIN_FALL_FRACTION = 0.02
RETURN_FRACTION = 0.5
NOISE_SIGMAS = 3.0
RELEVANT_FRACTION_PER_1000 = 0.10
OVERDUE_FACTOR = 1.5
MEDIAN_SE = 1.2533        # standard error of a median / of a mean, for normal noise (sqrt(pi/2))
MANY_TEETH = 6            # from this many teeth on, the tooth levels are a series of their own
MIN_LAST_TOOTH = 8        # an unfinished last tooth shorter than this is not compared when others are
from profiler.constants import TREND_P  # noqa: E402
MIN_GC_FALL_MB = 0.25     # a GC run after which heap in use fell less than this is not reported
MAX_GC_EVENTS = 100


def _floor(y: np.ndarray) -> float:
    return max(1e-3 * float(np.median(np.abs(y))), 1e-6) if y.size else 1e-6


ALTERNATING_SHARE = 0.5   # records next to another model's, from which a series "alternates models"
LEVEL_PASSES = 3


def without_model_levels(y: np.ndarray, models=None) -> np.ndarray:
    """The series with each model's own level taken out, when the records alternate models.

    Why: a loop or a server that alternates models is measured with a different model in it at
    each step, and each model leaves its own level (a server holding the 1.7b twin sits MBs above
    the same server holding the 0.6b one). The raw series zigzags by that offset at every step:
    the first differences, read as noise, hide a reclaim five times larger, a fall from one
    model to the next looks like a reclaim, and teeth are compared model against model.
    Each model's offset is half the median gap between its records and the mean of their
    neighbours of another model (exact for two models taking turns), repeated LEVEL_PASSES times
    for more models; the offsets are centred so the mean level stays. Unchanged when fewer than
    half the records sit next to another model's (models run in blocks)."""
    y = np.asarray(y, dtype=float)
    n = y.size
    if models is None or n < 4:
        return y
    g = np.asarray(models, dtype=object)
    known = np.array([v is not None and v == v for v in g.tolist()])
    labels = list(dict.fromkeys(v for v, k in zip(g.tolist(), known) if k))
    if len(labels) < 2:
        return y
    prev_other = np.zeros(n, dtype=bool)
    prev_other[1:] = known[1:] & known[:-1] & (g[1:] != g[:-1])
    next_other = np.zeros(n, dtype=bool)
    next_other[:-1] = prev_other[1:]
    if (prev_other | next_other).mean() < ALTERNATING_SHARE:
        return y
    r = y.copy()
    for _ in range(LEVEL_PASSES):
        nb_sum = np.zeros(n)
        nb_n = np.zeros(n)
        nb_sum[1:] += np.where(prev_other[1:], r[:-1], 0.0)
        nb_n[1:] += prev_other[1:]
        nb_sum[:-1] += np.where(next_other[:-1], r[1:], 0.0)
        nb_n[:-1] += next_other[:-1]
        has = nb_n > 0
        gap = np.where(has, r - nb_sum / np.maximum(nb_n, 1), np.nan)
        off = np.zeros(n)
        for v in labels:
            sel = (g == v) & has & known
            if sel.any():
                off[(g == v) & known] = float(np.median(gap[sel])) / 2
        off[known] -= off[known].mean()
        r = r - off
    return r


def find(y: np.ndarray, start: int = 0) -> list[int]:
    """Positions (in y) of the first point after each reclaim, searched from `start` on."""
    y = np.asarray(y, dtype=float)
    seg = y[start:]
    if seg.size < 4:
        return []
    d = np.diff(seg)
    sd = max(stats.robust_sigma(d), _floor(seg))
    thr = max(DROP_DIFF_SIGMAS * sd, MIN_FALL_FRACTION * float(np.median(np.abs(seg))))
    out: list[int] = []
    tooth_start = start
    for i in range(start + 1, y.size):
        fall = y[i - 1] - y[i]
        if fall <= thr:
            continue
        low = float(y[tooth_start:i].min())
        rise = float(y[i - 1]) - low
        if rise < thr or fall < RETURN_FRACTION * rise:
            continue
        if i + 1 < y.size and y[i + 1] - y[i] > fall / 2:
            continue
        if i - 2 < tooth_start or y[i - 1] - y[i - 2] > fall / 2:
            continue
        out.append(i)
        tooth_start = i
    return out


def _tooth_line(age: np.ndarray, v: np.ndarray):
    if v.size >= 3:
        ts = stats.theil_sen(age, v)
        return ts.intercept, ts.slope, v - (ts.intercept + ts.slope * age)
    return float(v[0]), float("nan"), np.zeros(0)


def _offset(a: np.ndarray, b: np.ndarray, base_a: float, base_b: float) -> tuple[float, int]:
    """How much tooth b runs above tooth a at the same age (median over the common ages)."""
    m = min(a.size, b.size)
    if m >= 3:
        return float(np.median(b[:m] - a[:m])), m
    return base_b - base_a, 0


def _judge(offsets: list[float], starts: list[float], sigma: float, level: float, m: int,
           levels: np.ndarray | None = None, troughs: bool = True) -> EnvelopeTest:
    """offsets[j]: how far tooth j+1 runs above tooth j; starts: the teeth's first iterations;
    m: ages each offset is a median over (1: teeth compared at one point); levels: each tooth's
    level against the common profile, used for the trend tests when there are MANY_TEETH."""
    total = float(sum(offsets))
    k = len(offsets)
    pos = sum(1 for o in offsets if o > 0)
    x = np.asarray(starts, dtype=float)
    out = {"total_mb": stats.rnd(total, 3), "n": k, "positive": pos, "ages": int(m)}
    if k + 1 >= MANY_TEETH and levels is not None:
        ts = stats.theil_sen(x, levels)
        mk = stats.mann_kendall(levels)
        rate = ts.slope
        beyond = bool(mk.p < TREND_P and mk.z > 0 and ts.ci[0] > 0)
        out.update(test="mann-kendall", p=stats.sig(mk.p, 3), ci_mb=[stats.sig(ts.ci[0]), stats.sig(ts.ci[1])],
                   noise_mb=None)
        consistent = True
    else:
        if k >= 2:
            rate = stats.theil_sen(x, np.concatenate([[0.0], np.cumsum(offsets)])).slope
        else:
            span = float(x[-1] - x[0]) if k else 0.0
            rate = total / span if span > 0 else float("nan")
        se = MEDIAN_SE * math.sqrt(2) * sigma / math.sqrt(max(m, 1)) * math.sqrt(max(k, 1))
        beyond = total > NOISE_SIGMAS * se
        out.update(test="noise", p=None, ci_mb=None, noise_mb=stats.rnd(NOISE_SIGMAS * se, 3))
        # few teeth: every one must run higher (one tooth of two is a coin toss), more: at least half;
        # and the rise must not rest on one tooth's jump: without the largest offset, what the other
        # teeth add is still beyond their noise (a served run: +6.1, -1.1, +0.04 MB is one step)
        consistent = pos == k if k <= 2 else pos >= k / 2
        if k >= 2 and troughs:
            rest = total - max(offsets)
            consistent = consistent and rest > NOISE_SIGMAS * se * math.sqrt((k - 1) / k)
            out["largest_mb"] = stats.rnd(max(offsets), 3)
    bar = RELEVANT_FRACTION_PER_1000 * level / 1000
    relevant = bool(level > 0 and math.isfinite(rate) and rate >= bar)
    # a measured rate comes with its interval: a drift whose interval spans the bar is neither
    # a leak nor a plateau by it (real served runs: consecutive prefixes of one run crossed it)
    ci = out["ci_mb"]
    settled = not (troughs and ci is not None and None not in ci and level > 0 and ci[0] < bar <= ci[1])
    out.update(mb_per_iter=stats.sig(rate), beyond_noise=bool(beyond), relevant=relevant,
               consistent=bool(consistent), relevance_settled=bool(settled),
               rises=bool(beyond and relevant and settled and consistent and k > 0))
    if out["ci_mb"] is not None:
        out["ci_mb"] = tuple(out["ci_mb"])
    return EnvelopeTest(**out)


def _levels(vs: list[np.ndarray]) -> np.ndarray:
    """Each tooth's level: the median, over its ages, of its gap to the median tooth at that age."""
    longest = max(v.size for v in vs)
    grid = np.full((len(vs), longest), np.nan)
    for j, v in enumerate(vs):
        grid[j, :v.size] = v
    profile = np.nanmedian(grid, axis=0)
    return np.array([float(np.median(v - profile[:v.size])) for v in vs])


def envelope(iterations, y, start: int, positions: list[int], judged=None) -> Envelope | None:
    """Teeth, troughs, peaks and the envelope tests (see the module docstring); None without reclaims.
    `judged`: the series the tests run on (without_model_levels(y) for a series alternating models,
    so teeth are not compared model against model); lows and peaks are reported from y itself."""
    if not positions:
        return None
    it = np.asarray(iterations)
    raw = np.asarray(y, dtype=float)
    y = raw if judged is None else np.asarray(judged, dtype=float)
    n = y.size
    bounds = [start] + list(positions) + [n]
    teeth, resid = [], []
    for a, b in zip(bounds[:-1], bounds[1:]):
        v = y[a:b]
        age = np.arange(v.size, dtype=float)
        base, slope, r = _tooth_line(age, v)
        resid.append(r)
        seen = raw[a:b]
        pk = a + int(np.argmax(seen))
        teeth.append({"first": int(it[a]), "last": int(it[b - 1]), "n": int(b - a), "complete": b < n,
                      "base_mb": stats.rnd(base), "slope_mb_per_iter": stats.sig(slope),
                      "low_mb": stats.rnd(seen.min()), "judged_low_mb": float(v.min()), "peak_mb": stats.rnd(seen.max()), "peak_iteration": int(it[pk]),
                      "_v": v, "_base": base, "_peak": float(v.max())})
    pooled = np.concatenate(resid) if resid else np.zeros(0)
    sigma = max(stats.robust_sigma(pooled) if pooled.size else 0.0, _floor(y[start:]))
    level = float(y[start:].mean())

    offsets, overlaps = [], []
    for prev, cur in zip(teeth[:-1], teeth[1:]):
        off, m = _offset(prev["_v"], cur["_v"], prev["_base"], cur["_base"])
        cur["offset_mb"] = stats.rnd(off, 3)
        cur["offset_ages"] = m
        offsets.append(off)
        overlaps.append(m)
    starts = [float(it[b]) for b in bounds[:-1]]
    # the first tooth starts cold (libraries mapped, pools filled for the first time): with two
    # or more teeth after it, it is warmup and not the baseline the later teeth are compared with
    cold = 1 if len(teeth) >= 3 else 0
    # an unfinished last tooth of a few records is compared over those few ages only, and a served
    # run's such offset came and went (+3.6 MB over 3 ages, -7.7 MB over 11): with other teeth to
    # compare, it waits until it has MIN_LAST_TOOTH records
    cut = len(teeth) - 1 if (not teeth[-1]["complete"] and teeth[-1]["n"] < MIN_LAST_TOOTH
                             and len(teeth) - cold >= 3) else len(teeth)
    m = int(np.median(overlaps[cold:cut - 1])) if overlaps[cold:cut - 1] else 1
    troughs = _judge(offsets[cold:cut - 1], starts[cold:cut], sigma, level, max(m, 1),
                     _levels([t["_v"] for t in teeth[cold:cut]]))

    done = [t for t in teeth if t["complete"]]
    done_cmp = done[1:] if len(done) >= 3 else done
    peaks = None
    if len(done_cmp) >= 2:
        pv = np.array([t["_peak"] for t in done_cmp])
        # the peaks keep the plain tests: a taller tooth is already only ever inconclusive
        peaks = _judge(list(np.diff(pv)), [float(t["peak_iteration"]) for t in done_cmp], sigma, level, 1, pv,
                       troughs=False)

    last = teeth[-1]
    overdue = bool(not last["complete"] and done
                   and last["n"] > OVERDUE_FACTOR * max(t["n"] for t in done)
                   and last["_peak"] > max(t["_peak"] for t in done) + NOISE_SIGMAS * sigma)
    for t in teeth:
        del t["_v"], t["_base"], t["_peak"]
    lengths = [t["n"] for t in done]
    return Envelope(
        reclaims=tuple(int(it[p]) for p in positions),
        teeth=tuple(Tooth(**t) for t in teeth),
        noise_sigma_mb=stats.rnd(sigma, 3),
        level_mb=stats.rnd(level),
        troughs=troughs,
        peaks=peaks,
        cold_first_tooth_excluded=bool(cold),
        short_last_tooth_excluded=cut < len(teeth),
        overdue=overdue,
        highest_peak_mb=stats.rnd(max(t["peak_mb"] for t in teeth)),
        highest_peak_iteration=max(teeth, key=lambda t: t["peak_mb"])["peak_iteration"],
        tooth_length=(float(np.median(lengths)) if lengths else None),
    )


def attribute(df, positions: list[int], it) -> list[Reclaim]:
    """What each reclaim gave back, from the record fields that say it (RSS parts, GC counters).

    kind: gc (the GC ran and heap in use fell by at least half the RSS fall), freed (heap in use
    fell that much without a GC run), allocator (the allocator's retained free memory fell that
    much: a malloc_trim-like return), outside (neither heap figure explains it), unknown (no
    heap figures recorded)."""
    out = []
    for p in positions:
        if p <= 0:
            continue
        ev = {"iteration": int(it[p]), "before_mb": _mb(df, "rss", p - 1), "after_mb": _mb(df, "rss", p)}
        ev["rss_change_mb"] = stats.rnd(ev["after_mb"] - ev["before_mb"]) if None not in (
            ev["after_mb"], ev["before_mb"]) else None
        for col in ("heap_in_use", "heap_free_retained", "rss_anon", "rss_file"):
            a, b = _mb(df, col, p - 1), _mb(df, col, p)
            ev[f"{col}_before_mb"] = a
            ev[f"{col}_change_mb"] = None if a is None or b is None else stats.rnd(b - a)
        ev["gc_collections"] = _int(df, "gc_collections", p)
        ev["gc_collected"] = _int(df, "gc_collected", p)
        fall = -(ev["rss_change_mb"] or 0.0)
        used, free = ev["heap_in_use_change_mb"], ev["heap_free_retained_change_mb"]
        gc_ran = bool(ev["gc_collections"])
        if used is None and free is None:
            kind = "unknown"
        elif used is not None and -used >= 0.5 * fall:
            kind = "gc" if gc_ran else "freed"
        elif free is not None and -free >= 0.5 * fall:
            kind = "allocator"
        else:
            kind = "outside"
        ev["kind"] = kind
        ev["gc_ran"] = gc_ran
        ev["sentence"] = _reclaim_sentence(ev, fall)
        out.append(Reclaim(**ev))
    return out


def gc_events(df, it, skip: set[int]) -> list[GcEvent]:
    """GC runs at other iterations (not reclaims) after which heap in use fell, and where that went.

    The first record is skipped: its counters cover everything before the loop started. At most
    MAX_GC_EVENTS are listed (a loop that collects every iteration would list them all)."""
    import pandas as pd

    if "gc_collections" not in df.columns or "heap_in_use" not in df.columns:
        return []
    runs = pd.to_numeric(df["gc_collections"], errors="coerce").to_numpy(dtype=float)
    heap = pd.to_numeric(df["heap_in_use"], errors="coerce").to_numpy(dtype=float) / stats.MB
    with np.errstate(invalid="ignore"):
        cand = np.nonzero((runs[1:] > 0) & (heap[:-1] - heap[1:] >= MIN_GC_FALL_MB))[0] + 1
    out = []
    for p in cand:
        p = int(p)
        if int(it[p]) in skip:
            continue
        if len(out) >= MAX_GC_EVENTS:
            break
        c = _int(df, "gc_collections", p)
        a, b = _mb(df, "heap_in_use", p - 1), _mb(df, "heap_in_use", p)
        ev = {"iteration": int(it[p]), "gc_collections": c, "gc_collected": _int(df, "gc_collected", p),
              "heap_in_use_change_mb": stats.rnd(b - a)}
        r0, r1 = _mb(df, "rss", p - 1), _mb(df, "rss", p)
        ev["rss_change_mb"] = None if r0 is None or r1 is None else stats.rnd(r1 - r0)
        f0, f1 = _mb(df, "heap_free_retained", p - 1), _mb(df, "heap_free_retained", p)
        ev["heap_free_retained_change_mb"] = None if f0 is None or f1 is None else stats.rnd(f1 - f0)
        text = (f"at iteration {ev['iteration']} Python's cyclic GC ran ({_gc_words(ev)}) and heap in use fell "
                f"{a - b:.2f} MB")
        if ev["rss_change_mb"] is not None and ev["rss_change_mb"] > -0.5 * (a - b):
            kept = ev["heap_free_retained_change_mb"]
            text += (", but RSS did not fall (" + (f"allocator retention {kept:+.2f} MB: " if kept is not None else "")
                     + "the allocator kept the freed memory for reuse)")
        ev["sentence"] = text
        out.append(GcEvent(**ev))
    return out


def _gc_words(ev: dict) -> str:
    c, n = ev.get("gc_collections") or 0, ev.get("gc_collected")
    words = f"{c} collection{'s' if c != 1 else ''}"
    if n is not None:
        words += f", {n} objects collected"
    return words


def _reclaim_sentence(ev: dict, fall: float) -> str:
    head = (f"at iteration {ev['iteration']} RSS fell {fall:.1f} MB "
            f"({ev['before_mb']:.1f} → {ev['after_mb']:.1f} MB)")
    used, free = ev["heap_in_use_change_mb"], ev["heap_free_retained_change_mb"]
    parts = []
    if ev["gc_ran"]:
        parts.append(f"Python's cyclic GC ran there ({_gc_words(ev)})")
    if used is not None:
        parts.append(f"heap in use {'fell' if used < 0 else 'rose'} {abs(used):.1f} MB "
                     f"({ev['heap_in_use_before_mb']:.1f} → {ev['heap_in_use_before_mb'] + used:.1f} MB)")
    if free is not None:
        parts.append(f"allocator retention {free:+.1f} MB")
    text = head + (": " + ", ".join(parts) if parts else "")
    why = {
        "gc": "the growth between reclaims is memory held by unreachable reference cycles until a "
              "collection frees them",
        "freed": "the program freed what it had allocated (heap in use fell) without a GC run being recorded",
        "allocator": "the allocator returned free memory it had kept (a malloc_trim-like return): the growth "
                     "between reclaims is freed memory the allocator retained, not live allocations",
        "outside": "neither heap in use nor the allocator's retained memory explains the fall: it came from "
                   "outside the malloc heap (mmap'd buffers or file-backed pages)",
        "unknown": "the records carry no heap figures to say what was given back",
    }[ev["kind"]]
    return f"{text}: {why}"


def _value(df, col: str, p: int) -> float | None:
    """The finite number in column `col` at position `p`, or None (absent column, NaN, text)."""
    if col not in df.columns:
        return None
    try:
        v = float(df[col].iloc[p])
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _mb(df, col: str, p: int):
    from profiler.stats import MB

    v = _value(df, col, p)
    return None if v is None else round(v / MB, 3)


def _int(df, col: str, p: int):
    v = _value(df, col, p)
    return None if v is None else int(v)
