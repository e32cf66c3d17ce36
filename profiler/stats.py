"""The robust trend estimate every layer shares: Theil-Sen (the median of pairwise slopes).

It lives below the layers because the site judge (triage) and the series analysis both rest
on it, and triage may not import analysis. profiler/analysis/stats.py builds the series'
other statistics on top of it.
"""
from __future__ import annotations

import numpy as np

THEIL_SEN_MAX_POINTS = 1500


def thin(x, y, max_points: int):
    """Every k-th point so that at most `max_points` remain (keeps the first and spreads evenly)."""
    n = len(y)
    if n <= max_points:
        return x, y
    idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    return x[idx], y[idx]


def theil_sen(x, y, max_points: int = THEIL_SEN_MAX_POINTS) -> dict:
    """Median of pairwise slopes with its 95% interval (Sen's rank-based bounds).

    Pairs grow with n^2 (10,000 iterations = 50 million slopes), so a longer series is
    thinned to `max_points` evenly spaced points: the estimate stays unbiased and the
    interval only gets a little wider, i.e. more cautious."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    x, y = thin(x, y, max_points)
    if x.size < 2 or np.ptp(x) == 0:
        return {"slope": float("nan"), "intercept": float(np.median(y)) if y.size else float("nan"),
                "ci": (float("nan"), float("nan"))}
    res = stats.theilslopes(y, x, alpha=0.95)
    return {"slope": float(res[0]), "intercept": float(res[1]), "ci": (float(res[2]), float(res[3]))}


def theil_sen_slope(y, x=None, max_points: int = THEIL_SEN_MAX_POINTS) -> float:
    """The same estimate without its interval, x defaulting to 0, 1, 2, ...; 0.0 where there is no
    slope (fewer than two distinct x). The per-site judge calls it once per site: scipy's
    theilslopes also ranks every slope for the interval, which makes it 3 to 50 times slower
    per call on 5 to 1000 points, for a figure the judge does not use."""
    y = np.asarray(y, dtype=float)
    x = np.arange(y.size, dtype=float) if x is None else np.asarray(x, dtype=float)
    x, y = thin(x, y, max_points)
    i, j = np.triu_indices(y.size, 1)
    dx = x[j] - x[i]
    ok = dx != 0
    if not ok.any():
        return 0.0
    return float(np.median((y[j][ok] - y[i][ok]) / dx[ok]))
