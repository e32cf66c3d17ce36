"""Level shifts of a memory series, found by ruptures (PELT, least-squares cost), and what they mean.

Why: a pool that expands once (GGML growing a buffer, the allocator taking a new arena)
lifts the level in one step and then stays flat. Trend tests see only that later
values are larger and call it growth; a segmentation into piecewise-constant levels
tells one step from a staircase. PELT with the l2 cost finds the segmentation that
minimises the squared deviations from each segment's mean plus a penalty per change:
    penalty = PEN_FACTOR * sigma^2 * ln(n)
(the BIC penalty of a mean shift for Gaussian noise of scale sigma, made stricter by
PEN_FACTOR = 3), where sigma is the step-to-step noise (robust sigma of the first
differences / sqrt(2), which a few steps do not inflate), floored at 0.1% of the level
so that a quantised, nearly noiseless RSS does not split at every page. It runs as ruptures'
KernelCPD with the linear kernel: the same l2 cost and the same penalised PELT search, in
compiled code (the pure-Python `Pelt(model="l2")` grows with the square of a flat series'
length: minutes for a long run).

Shape of the series after warmup:
  - flat: one segment;
  - step then flat (a pool expansion: plateau): one or two steps up, then a last
    segment that is flat (no Mann-Kendall rise at p < 0.05 and a Theil-Sen slope under
    the relevance bar of verdict.py, and the upper end of its Theil-Sen interval times
    its length under half the steps' size) and at least MIN_FLAT long and as long as
    every earlier segment (a staircase stepping at the earlier pace would have stepped
    again); and the levels must explain the series far better than one straight line
    (BIC lower by more than 10), since PELT also cuts a noisy ramp into a few "steps";
  - staircase (growth): more steps up, or steps whose last flat stretch is too short
    to rule out the next one;
  - rising (growth): the last segment itself rises.
"""
from __future__ import annotations

import numpy as np

from profiler import stats
from profiler.results.series import ChangePoints, LastSegment, Segment, Step

PEN_FACTOR = 3.0
MIN_SIZE = 3
MIN_FLAT = 15
MAX_STEPS_FOR_POOL = 2
BIC_MARGIN = 10.0     # "far better": a BIC difference over 10 is very strong evidence
FLAT_P = 0.05
RELEVANT_FRACTION_PER_1000 = 0.10

FLAT, STEP_THEN_FLAT, STAIRCASE, RISING = "flat", "step then flat", "staircase", "rising"


def noise_sigma(y: np.ndarray) -> float:
    y = np.asarray(y, dtype=float)
    floor = max(1e-3 * float(np.median(np.abs(y))), 1e-6) if y.size else 1e-6
    if y.size < 3:
        return floor
    return max(stats.robust_sigma(np.diff(y)) / np.sqrt(2.0), floor)


def segment(y: np.ndarray, sigma: float | None = None) -> list[tuple[int, int]]:
    """[(first, end exclusive)] positions of the piecewise-constant segments of y."""
    import ruptures as rpt

    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 2 * MIN_SIZE:
        return [(0, n)]
    sigma = noise_sigma(y) if sigma is None else sigma
    algo = rpt.KernelCPD(kernel="linear", min_size=MIN_SIZE, jump=1).fit(y.reshape(-1, 1))
    ends = algo.predict(pen=PEN_FACTOR * sigma ** 2 * np.log(n))
    starts = [0] + ends[:-1]
    return list(zip(starts, ends))


def describe(iterations, y: np.ndarray, level_mb: float) -> ChangePoints:
    """Segments, steps and shape (see the module docstring) of y (MB) at `iterations`."""
    it = np.asarray(iterations)
    y = np.asarray(y, dtype=float)
    sigma = noise_sigma(y)
    segs = segment(y, sigma)
    rows = []
    for a, b in segs:
        v = y[a:b]
        rows.append({"first": int(it[a]), "last": int(it[b - 1]), "n": int(b - a), "mean_mb": stats.rnd(v.mean(), 3)})
    steps = []
    for (a0, b0), (a1, b1) in zip(segs[:-1], segs[1:]):
        d = float(y[a1:b1].mean() - y[a0:b0].mean())
        steps.append({"iteration": int(it[a1]), "step_mb": stats.rnd(d, 3),
                      "from_mb": stats.rnd(y[a0:b0].mean(), 3), "to_mb": stats.rnd(y[a1:b1].mean(), 3)})
    last_a, last_b = segs[-1]
    tail = y[last_a:last_b]
    mk = stats.mann_kendall(tail)
    ts = stats.theil_sen(np.arange(tail.size, dtype=float), tail)
    bar = RELEVANT_FRACTION_PER_1000 * level_mb / 1000.0 if level_mb > 0 else 0.0
    rises = bool(tail.size >= 8 and mk.p < FLAT_P and mk.z > 0 and ts.ci[0] > 0 and ts.slope >= bar)
    flat_tail = bool(not (mk.p < FLAT_P and mk.z > 0) and not (ts.slope >= bar > 0))
    up = [s for s in steps if s["step_mb"] > 0]
    earlier = max((r["n"] for r in rows[:-1]), default=0)
    # steps, not a ramp cut into pieces: the levels explain the series far better than one line
    # (BIC of the piecewise-constant fit against the line's), and what the flat tail could still
    # rise over its length (upper end of its Theil-Sen interval) is under half the steps' size
    steps_fit = _bic_steps(y, segs) + BIC_MARGIN < _bic_line(y)
    tail_rise = max(ts.ci[1], 0.0) * tail.size if np.isfinite(ts.ci[1]) else float("inf")
    held = tail_rise < 0.5 * sum(s["step_mb"] for s in up) if up else False
    if len(segs) == 1:
        shape = RISING if rises else FLAT
    elif rises:
        shape = RISING
    elif (1 <= len(up) <= MAX_STEPS_FOR_POOL and flat_tail and held and steps_fit and tail.size >= MIN_FLAT
          and tail.size >= earlier):
        shape = STEP_THEN_FLAT
    elif len(up) >= 2:
        shape = STAIRCASE
    else:
        shape = FLAT if flat_tail else RISING
    return ChangePoints(
        method="ruptures PELT (l2 cost)", penalty=stats.sig(PEN_FACTOR * sigma ** 2 * np.log(max(y.size, 2))),
        noise_sigma_mb=stats.rnd(sigma, 3), segments=tuple(Segment(**r) for r in rows),
        steps=tuple(Step(**st) for st in steps), shape=shape,
        last_segment=LastSegment(first=rows[-1]["first"], last=rows[-1]["last"], n=rows[-1]["n"],
                                 mann_kendall_p=stats.sig(mk.p, 3), theil_sen_mb_per_iter=stats.sig(ts.slope)))


def _bic(sse: float, n: int, k: int) -> float:
    return n * np.log(max(sse, 1e-12) / n) + k * np.log(n)


def _bic_steps(y: np.ndarray, segs) -> float:
    sse = sum(float(((y[a:b] - y[a:b].mean()) ** 2).sum()) for a, b in segs)
    return _bic(sse, y.size, 2 * len(segs) - 1)       # a mean per segment and a location per change


def _bic_line(y: np.ndarray) -> float:
    x = np.arange(y.size, dtype=float)
    fit = stats.ols(x, y)
    sse = float(((y - (fit.intercept + fit.slope * x)) ** 2).sum())
    return _bic(sse, y.size, 2)


def sentence(cp: ChangePoints) -> str:
    steps = ", ".join(f"{s.step_mb:+.2f} MB at iteration {s.iteration}" for s in cp.steps) or "none"
    last = cp.last_segment
    if cp.shape == STEP_THEN_FLAT:
        return (f"level shift, not growth: {len(cp.steps)} step(s) ({steps}: a pool expanding), then flat for "
                f"{last.n} iterations ({last.first}-{last.last}, Mann-Kendall p={last.mann_kendall_p}, "
                f"Theil-Sen {last.theil_sen_mb_per_iter:+g} MB/iter), longer than any stretch before it")
    if cp.shape == STAIRCASE:
        return f"change points: a staircase of {len(cp.steps)} level shifts ({steps}): growth in steps"
    if cp.shape == RISING:
        return (f"change points: {len(cp.segments)} segment(s); the last ({last.first}-{last.last}) "
                f"rises {last.theil_sen_mb_per_iter:+g} MB/iter")
    return f"change points: {len(cp.segments)} segment(s), steps: {steps}"
