"""Growth that slows down: a rise that decelerates clearly is not a leak at its early rate.

Why: a cache, an arena or a pool that fills up rises fast at first and then ever more
slowly towards a level it keeps. Early in a run its rise passes every trend test; what
tells it from a leak is that it decelerates. A leak keeps its rate.

Method, on the series after warmup (settling included: it is the same approach):
  - fit the saturating curve y = a - b * exp(-(x - x0) / tau) (scipy.optimize.curve_fit,
    b > 0, tau > 0) and the straight line; the curve must fit significantly better
    (F-test, one more parameter, p < 0.01);
  - the rise decelerates clearly: the curve's rate at the end is at most SLOW_RATIO (1/2)
    of its rate at the start, and, without the model, the Theil-Sen slope of the later
    half is at most HALVES_RATIO (0.7) of the earlier half's, their 95% intervals apart
    (for an exponential approach the halves' slopes differ less than the end points' rates);
  - a leak under a fading approach keeps a slope: the line-plus-fading-term fit
    a + c x - b exp(-(x - x0)/tau) must not have a relevant slope c (>= 10% of the level
    per 1000 iterations) significantly above 0, else this is not slowing.
Estimate: the curve levels off at a (MB); it is within the noise (max of the fit's
residual sigma and the relevance bar over one tooth-free stretch of MIN_CONFIRM
iterations) of a from x0 + tau ln(b / tol) on. More iterations to settle it: up to that
point, plus MIN_CONFIRM flat iterations to see the level hold. When that point is
already behind the last iteration, the growth has levelled off: plateau; otherwise the
verdict is inconclusive, with the estimate.
"""
from __future__ import annotations

import math

import numpy as np

from profiler import stats
from profiler.results.series import Slowing

FIT_P = 0.01
SLOW_RATIO = 0.5
HALVES_RATIO = 0.7
MIN_POINTS = 12
MIN_CONFIRM = 20
RELEVANT_FRACTION_PER_1000 = 0.10


def _sat(x, a, b, tau):
    return a - b * np.exp(-x / tau)


def _line_sat(x, a, c, b, tau):
    return a + c * x - b * np.exp(-x / tau)


def assess(iterations, y_mb, level_mb: float) -> Slowing | None:
    """The slowing evidence of a rising late phase, or None when the rise does not clearly slow."""
    from scipy import optimize
    from scipy import stats as sst

    it = np.asarray(iterations, dtype=float)
    y = np.asarray(y_mb, dtype=float)
    n = y.size
    if n < MIN_POINTS:
        return None
    x = it - it[0]
    span = float(x[-1]) or 1.0
    lin = stats.ols(x, y)
    sse_lin = float(((y - (lin.intercept + lin.slope * x)) ** 2).sum())
    rise = float(y[-1] - y[0]) if y[-1] > y[0] else float(np.ptp(y))
    best = None
    for tau0 in (span / 8, span / 3, span, 3 * span):
        try:
            p, _ = optimize.curve_fit(_sat, x, y, p0=(y.max(), max(rise, 1e-6), max(tau0, 0.5)),
                                      bounds=([-np.inf, 0.0, 0.3], [np.inf, np.inf, 1e4 * span]), maxfev=5000)
        except (RuntimeError, ValueError, optimize.OptimizeWarning):
            continue
        sse = float(((y - _sat(x, *p)) ** 2).sum())
        if best is None or sse < best[1]:
            best = (p, sse)
    if best is None:
        return None
    (a, b, tau), sse = best
    dof = n - 3
    if sse <= 0:
        sse = 1e-12
    f = (sse_lin - sse) / (sse / dof)
    p_fit = float(sst.f.sf(f, 1, dof)) if f > 0 else 1.0
    r0 = b / tau
    r1 = r0 * math.exp(-span / tau)
    half = n // 2
    early = stats.theil_sen(x[:half], y[:half])
    late = stats.theil_sen(x[half:], y[half:])
    halves = bool(early.slope > 0 and late.slope <= HALVES_RATIO * early.slope
                  and late.ci[1] < early.ci[0])
    if not (p_fit < FIT_P and r1 <= SLOW_RATIO * r0 and halves):
        return None
    # a leak under a fading approach: the line-plus-fading fit keeps a relevant, significant slope
    bar = RELEVANT_FRACTION_PER_1000 * level_mb / 1000.0 if level_mb > 0 else 0.0
    try:
        q, cov = optimize.curve_fit(_line_sat, x, y, p0=(a, 0.0, b, tau),
                                    bounds=([-np.inf, -np.inf, 0.0, 0.3], [np.inf, np.inf, np.inf, 1e4 * span]),
                                    maxfev=5000)
        c, se_c = float(q[1]), float(math.sqrt(cov[1, 1])) if np.isfinite(cov[1, 1]) else float("inf")
        if c >= bar and c - 2 * se_c > 0:
            return None
    except (RuntimeError, ValueError):
        c, se_c = float("nan"), float("nan")
    resid = y - _sat(x, a, b, tau)
    sigma = max(float(np.sqrt(sse / dof)), stats.robust_sigma(resid), 1e-3 * abs(float(np.median(y))))
    tol = max(sigma, bar * MIN_CONFIRM)
    level_off = tau * math.log(b / tol) if b > tol else 0.0
    level_off_it = int(math.ceil(it[0] + level_off))
    remaining = max(0.0, float(b * math.exp(-span / tau)))
    levelled = bool(level_off_it <= it[-1] - MIN_CONFIRM or remaining <= tol and level_off_it <= it[-1])
    more = 0 if levelled else int(math.ceil(max(0.0, level_off_it - it[-1]) + MIN_CONFIRM))
    return Slowing(model="a - b exp(-(x - x0)/tau)", fit_p=stats.sig(p_fit, 3),
                   asymptote_mb=stats.rnd(a, 2), tau_iterations=stats.rnd(tau, 1),
                   early_mb_per_iter=stats.sig(early.slope), late_mb_per_iter=stats.sig(late.slope),
                   late_ci_mb=(stats.sig(late.ci[0]), stats.sig(late.ci[1])),
                   rate_start_mb_per_iter=stats.sig(r0), rate_end_mb_per_iter=stats.sig(r1),
                   remaining_rise_mb=stats.rnd(remaining, 3), tolerance_mb=stats.rnd(tol, 3),
                   level_off_iteration=level_off_it, levelled_off=levelled, more_iterations=more,
                   first=int(it[0]), last=int(it[-1]),
                   linear_term_mb_per_iter=stats.sig(c) if math.isfinite(c) else None)


def sentence(s: Slowing) -> str:
    head = (f"growth is slowing: iterations {s.first}-{s.last} rose "
            f"{s.early_mb_per_iter:+g} MB/iter in their first half and {s.late_mb_per_iter:+g} MB/iter "
            f"(95% CI [{s.late_ci_mb[0]:+g}, {s.late_ci_mb[1]:+g}]) in the second; a saturating fit "
            f"(F-test p={s.fit_p}) levels off at ~{s.asymptote_mb:.1f} MB (time constant "
            f"{s.tau_iterations:g} iterations)")
    if s.levelled_off:
        return head + (f", within {s.tolerance_mb:.2f} MB of it from about iteration {s.level_off_iteration}: "
                       "the growth has levelled off: a plateau reached, not a leak")
    return head + (f", within {s.tolerance_mb:.2f} MB of it by about iteration {s.level_off_iteration}: not a "
                   f"leak at its early rate; about {s.more_iterations} more iterations would settle it")
