"""Find the phases of a memory series from the data: warmup, settling, plateau, growth.

Method (all on RSS in MB, positions rather than iteration numbers):

1. Warmup ends at the first position w from which the series is "on its own
   line": fit Theil-Sen to the suffix y[w:], take the noise band as 3 robust
   sigmas (1.4826 x MAD of the residuals, floored at 0.1% of the level so a
   perfectly flat series still has a band), and accept w when the next three
   points all lie inside the band. Theil-Sen ignores up to ~29% outliers, so
   the warmup ramp (738 -> 4219 MB in the seed) does not drag the reference
   line; as w advances the ramp leaves the suffix and the first point that
   comes within the plateau's noise band ends the warmup. A ramp that keeps
   climbing by more than the noise (and 3x the reference slope) per step is
   still warmup, up to twice the length found so far, so the warmup ends near
   the ramp's peak. A steady leak with no warmup fits its own line from the
   first point, so w = 0. Long series are searched coarse-to-fine (200
   candidates, then every position of the last step) with the line fitted on
   at most 300 evenly spaced points, so the cost stays bounded.
2. Reclaims (reclaims.py: a drop larger than 5 robust sigmas of the first
   differences and 2% of the level that gives back at least half of what the
   tooth before it grew) make the rest of the series a sawtooth, even with
   ONE reclaim; on a series that alternates models, reclaims are found and
   judged with each model's level taken out (reclaims.without_model_levels):
   then settling and the hinge search below are skipped (a ramp
   between reclaims is neither), the phase after warmup is one `plateau` with
   shape sawtooth, or one `growth` when the envelope's troughs rise (a leak
   under the reclaims). Its period is the median spacing of the reclaims.
3. Settling follows a warmup when what follows is a decelerating approach to
   the plateau (the pool fill-up curve): a line plus a fading exponential,
   a + b*x - A*exp(-(x - x_w)/tau), fits better than the line alone (F-test
   p < 0.01; tau searched on a log grid), with A on the warmup's side.
   Settling lasts until the fading term is under a quarter of the residual
   noise (tau * ln(4A/sigma) iterations, at least 3, at most half of what
   follows the warmup). A steady leak has no curvature, so no settling; a leak
   under a fading approach keeps its slope b for the trend tests that follow.
4. The stable phase is everything after settling. A continuous hinge (a line,
   then a change of slope at position c) is fitted for c on a grid leaving 8
   points on each side; the best hinge is kept when it beats one line (F-test
   p < 0.001), the part after c has a significant rise (Mann-Kendall
   p < 0.001 and the Theil-Sen interval above 0; stricter than the usual 0.01
   because c was chosen by searching) and the part before it has none
   (p >= 0.01): then the stable phase splits into `plateau` and `growth`.
   Otherwise the whole stable phase is one `growth` phase when it rises
   significantly (Mann-Kendall p < 0.01, Theil-Sen interval above 0), else one
   `plateau`.
5. A phase is named `plateau` (shape flat) only when none of its own trend tests
   points up: a stretch after warmup that is not `growth` but whose Mann-Kendall
   test (p < 0.05, z > 0) or Theil-Sen or OLS 95% interval says it rises is named
   `rising` (a short run's last iterations still climbing, one allocator step):
   the same tests the verdict counts as signals (verdict.decide). Only the label
   changes: the verdict rules read the phases found above.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from profiler import stats
from profiler.analysis import reclaims
from profiler.results.series import Envelope, Phase

MIN_SUFFIX = 4      # points needed to fit a reference line at all
HEAD = 3            # consecutive points that must sit inside the band to end the warmup
BAND_SIGMAS = 3.0
MIN_HINGE_SIDE = 8
from profiler.constants import TREND_P  # noqa: E402
MIN_SETTLING = 3     # fewer points than this are noise, not a settling phase
HINGE_P = 0.001     # stricter: the change point is chosen by searching, which flatters the fit
SETTLE_P = 0.01     # a false settling only shortens the stable phase; the leak slope stays in its model


@dataclass(frozen=True)
class Trims:
    """The reclaims as positions in the series (analysis turns them into iterations)."""
    trims: int
    period: float | None           # median spacing of the reclaims, positions
    mean_trim_mb: float | None
    positions: tuple[int, ...]     # the first point after each drop


@dataclass
class Phases:
    warmup_end: int          # first position after the warmup (0: none)
    settle_end: int          # first position of the stable phase
    growth_start: int | None  # first position of a growth phase, if any
    n: int
    sigma: float             # robust noise of the level around the reference line (MB)
    ref_slope: float
    ref_intercept: float
    sawtooth: Trims | None = None
    envelope: Envelope | None = None     # reclaims.envelope() when the series has reclaims
    notes: list[str] = field(default_factory=list)

    def spans(self) -> list[tuple[str, int, int]]:
        """(name, first position, last position exclusive) in order."""
        out = []
        if self.warmup_end > 0:
            out.append(("warmup", 0, self.warmup_end))
        if self.settle_end > self.warmup_end:
            out.append(("settling", self.warmup_end, self.settle_end))
        if self.growth_start is None:
            out.append(("plateau", self.settle_end, self.n))
        else:
            if self.growth_start > self.settle_end:
                out.append(("plateau", self.settle_end, self.growth_start))
            out.append(("growth", self.growth_start, self.n))
        return out


def _floor(y: np.ndarray) -> float:
    return max(1e-3 * float(np.median(np.abs(y))), 1e-6)


SEARCH_POINTS = 200     # candidate positions tried per coarse pass in long series
LINE_POINTS = 300       # points a reference line is fitted on while searching


def _line(x, y, max_points: int = LINE_POINTS):
    ts = stats.theil_sen(x, y, max_points=max_points)
    resid = y - (ts.intercept + ts.slope * x)
    return ts, resid, max(stats.robust_sigma(resid), _floor(y))


def _in_band(x, y, w) -> bool:
    _, resid, sigma = _line(x[w:], y[w:])
    return bool((np.abs(resid[:HEAD]) <= BAND_SIGMAS * sigma).all())


def find_warmup(x: np.ndarray, y: np.ndarray) -> tuple[int, dict, float]:
    n = y.size
    last_w = max(0, n - MIN_SUFFIX)
    # coarse pass, then the exact first position inside the last coarse step
    step = max(1, (last_w + 1) // SEARCH_POINTS)
    w = next((c for c in range(0, last_w + 1, step) if _in_band(x, y, c)), last_w)
    if step > 1:
        lo = max(0, w - step + 1)
        w = next((c for c in range(lo, w) if _in_band(x, y, c)), w)
    ts, _, sigma = _line(x[w:], y[w:])
    if w == 0:
        return w, ts, sigma
    # a ramp still climbing by more than the noise per step has not ended yet
    direction = 1.0 if y[w] >= y[0] else -1.0
    step_min = max(sigma, 3 * abs(ts.slope))
    limit = min(2 * w, last_w)
    while w < limit and direction * (y[w] - y[w - 1]) > step_min:
        w += 1
    ts, _, sigma = _line(x[w:], y[w:])
    return w, ts, sigma


def find_settling(y: np.ndarray, x: np.ndarray, w: int) -> int:
    """End of the settling phase: where a decelerating approach to the plateau has faded.

    After a warmup, fit y = a + b*x - A*exp(-(x - x_w)/tau) (a line plus an approach that
    fades with time constant tau, tau on a log grid) and keep it when it beats the
    line alone (F-test, p < 0.01) with A > 0 on the
    warmup's side. Settling then lasts until the approach term falls under a quarter
    of the residual noise, tau * ln(4A / sigma). The slope b stays in the model, so a leak
    under a fading approach is still left for the trend tests on what follows."""
    from scipy import stats as sst

    n = y.size
    rest = n - w
    if w == 0 or rest < 2 * MIN_HINGE_SIDE:
        return w
    d = 1.0 if y[w] >= y[0] else -1.0
    xs = x[w:] - x[w]
    ys = d * y[w:]
    m = ys.size
    lin = stats.ols(xs, ys)
    sse_lin = float(((ys - (lin.intercept + lin.slope * xs)) ** 2).sum())
    best = None
    for tau in np.geomspace(0.5, max(1.0, rest / 2), 40):
        A = np.column_stack([np.ones(m), xs, -np.exp(-xs / tau)])
        coef, *_ = np.linalg.lstsq(A, ys, rcond=None)
        sse = float(((ys - A @ coef) ** 2).sum())
        if coef[2] > 0 and (best is None or sse < best[1]):
            best = (tau, sse, coef)
    if best is None or m <= 4:
        return w
    tau, sse, coef = best
    if sse <= 0:
        return w
    f = ((sse_lin - sse) / 2) / (sse / (m - 4))
    if f <= 0 or sst.f.sf(f, 2, m - 4) >= SETTLE_P:
        return w
    resid_sigma = max(float(np.sqrt(sse / (m - 4))), _floor(y))
    amp = float(coef[2])
    if amp <= resid_sigma / 4:
        return w
    length = int(np.ceil(tau * np.log(4 * amp / resid_sigma)))
    if length < MIN_SETTLING:
        return w
    return w + min(length, rest // 2)


def _trend(y) -> tuple[dict, dict]:
    x = np.arange(y.size, dtype=float)
    return stats.mann_kendall(y), stats.theil_sen(x, y)


def significant_rise(y, p_max: float = TREND_P) -> bool:
    if y.size < MIN_HINGE_SIDE:
        return False
    mk, ts = _trend(y)
    return bool(mk.p < p_max and mk.z > 0 and ts.ci[0] > 0)


def find_growth(y: np.ndarray) -> int | None:
    """Position (relative to y) where a growth suffix starts after a flat part, or None."""
    from scipy import stats as sst

    n = y.size
    if n < 2 * MIN_HINGE_SIDE:
        return None
    x = np.arange(n, dtype=float)
    one = stats.ols(x, y)
    sse1 = float(((y - (one.intercept + one.slope * x)) ** 2).sum())
    def fit(c):
        A = np.column_stack([np.ones(n), x, np.maximum(0.0, x - c)])
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        return c, float(((y - A @ coef) ** 2).sum()), coef

    lo, hi = MIN_HINGE_SIDE, n - MIN_HINGE_SIDE
    step = max(1, (hi - lo + 1) // SEARCH_POINTS)
    best = min((fit(c) for c in range(lo, hi + 1, step)), key=lambda t: t[1])
    if step > 1:   # refine around the best coarse candidate
        best = min((fit(c) for c in range(max(lo, best[0] - step), min(hi, best[0] + step) + 1)),
                   key=lambda t: t[1])
    c, sse2, coef = best
    dof = n - 4          # three coefficients plus the change point
    if sse2 <= 0 or dof <= 0:
        return None
    f = (sse1 - sse2) / (sse2 / dof)
    p = float(sst.f.sf(f, 1, dof))
    if p >= HINGE_P or coef[2] <= 0:
        return None
    if significant_rise(y[c:], HINGE_P) and not significant_rise(y[:c]):
        return c
    return None


def detect(iterations, rss_mb, models=None) -> Phases:
    """The phases; `models`: the model of each record: when the series alternates models, reclaims
    are found and judged with each model's level taken out (reclaims.without_model_levels)."""
    y = np.asarray(rss_mb, dtype=float)
    n = y.size
    x = np.arange(n, dtype=float)
    if n < MIN_SUFFIX:
        return Phases(0, 0, None, n, _floor(y) if n else 0.0, 0.0, float(y.mean()) if n else 0.0,
                      notes=[f"only {n} points: no phase detection"])
    w, ts, sigma = find_warmup(x, y)
    ya = reclaims.without_model_levels(y, models)
    positions = reclaims.find(ya, start=w)
    if not positions and w > 0:
        # a tooth the warmup search swallowed (its line fits the longer tooth after it): when the
        # series from its start has reclaims, what looked like warmup was the first tooth
        positions = reclaims.find(ya, start=0)
        if positions:
            w, ts, sigma = 0, *_line(x, y)[::2]
    if positions:
        env = reclaims.envelope(iterations, y, w, positions, judged=ya)
        drops = y[np.asarray(positions) - 1] - y[np.asarray(positions)]
        saw = Trims(trims=len(positions),
                    period=stats.rnd(float(np.median(np.diff(positions))), 1) if len(positions) > 1 else None,
                    mean_trim_mb=stats.rnd(drops.mean()), positions=tuple(positions))
        growth = w if env.troughs.rises else None
        return Phases(w, w, growth, n, sigma, ts.slope, ts.intercept, sawtooth=saw, envelope=env)
    s = find_settling(y, x, w)
    stable = y[s:]
    c = find_growth(stable)
    if c is not None:
        growth = s + c
    elif significant_rise(stable):
        growth = s
    else:
        growth = None
    return Phases(w, s, growth, n, sigma, ts.slope, ts.intercept)


def rises_by_its_own_tests(y) -> bool:
    """Whether a stretch rises by any of the trend tests the verdict counts as signals: Mann-Kendall
    p < WEAK_P with z > 0, or a Theil-Sen or OLS 95% interval above 0 (step 5 of the docstring)."""
    from profiler.analysis.verdict import WEAK_P

    y = np.asarray(y, dtype=float)
    if y.size < 3:
        return False
    x = np.arange(y.size, dtype=float)
    mk = stats.mann_kendall(y)
    lo_ts = stats.theil_sen(x, y).ci[0]
    lo_ols = stats.ols(x, y).ci[0]
    return bool((mk.p < WEAK_P and mk.z > 0) or lo_ts > 0 or lo_ols > 0)


def phase_table(ph: Phases, iterations, rss_mb) -> list[Phase]:
    it = np.asarray(iterations)
    y = np.asarray(rss_mb, dtype=float)
    rows = []
    for name, a, b in ph.spans():
        if b <= a:
            continue
        seg = y[a:b]
        row = {"name": name, "first": int(it[a]), "last": int(it[b - 1]), "n": int(b - a),
               "mean_mb": stats.rnd(seg.mean()), "start_mb": stats.rnd(seg[0]), "end_mb": stats.rnd(seg[-1]),
               "std_mb": stats.rnd(seg.std(ddof=1) if seg.size > 1 else 0.0)}
        if name in ("plateau", "growth") and ph.envelope and a >= ph.settle_end:
            env = ph.envelope
            row["shape"] = "sawtooth"
            row["period"] = ph.sawtooth.period
            row["trims"] = ph.sawtooth.trims
            row["reclaims"] = tuple(env.reclaims)
            row["tooth_length"] = env.tooth_length
            row["trough_mb"] = min(t.low_mb for t in env.teeth)
            row["peak_mb"] = env.highest_peak_mb
        elif name == "plateau" and rises_by_its_own_tests(seg):
            row["name"] = "rising"
        elif name == "plateau":
            row["shape"] = "flat"
        rows.append(Phase(**row))
    return rows
