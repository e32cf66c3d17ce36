"""The statistics the verdict rests on: OLS with a t-interval, Theil-Sen with its interval,
the Mann-Kendall trend test, robust noise scales and block summaries.

Why three trend estimates: OLS is what people quote ("~3 MB/iteration"), but one
pool expansion drags it; Theil-Sen (median of pairwise slopes) shrugs off such
steps and outliers; Mann-Kendall asks only whether later values tend to be
larger, with no linearity assumed. A leak verdict needs them to agree.
"""
from __future__ import annotations

import math

import numpy as np

from profiler.constants import MB  # noqa: F401  (memprof's "MB": 2**20 bytes)


def rnd(x, nd: int = 2):
    """Round for JSON: NaN/inf become None, numpy scalars become Python floats."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return round(x, nd)


def sig(x, digits: int = 4):
    """Round to significant digits (slopes span from 1e-4 to 1e3 MB/iter)."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    if x == 0:
        return 0.0
    return round(x, max(0, digits - 1 - int(math.floor(math.log10(abs(x))))))


def robust_sigma(r) -> float:
    """Gaussian-consistent scale from the median absolute deviation."""
    r = np.asarray(r, dtype=float)
    if r.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(r - np.median(r))))


def ols(x, y) -> dict:
    """Least squares slope, intercept and 95% t-interval of the slope."""
    from scipy import stats

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = x.size
    if n < 2 or np.ptp(x) == 0:
        return {"slope": float("nan"), "intercept": float(np.mean(y)) if n else float("nan"),
                "ci": (float("nan"), float("nan")), "stderr": float("nan"), "p": float("nan"), "resid_std": float("nan")}
    xm, ym = x.mean(), y.mean()
    sxx = float(((x - xm) ** 2).sum())
    slope = float(((x - xm) * (y - ym)).sum() / sxx)
    intercept = float(ym - slope * xm)
    resid = y - (intercept + slope * x)
    if n > 2:
        s2 = float((resid ** 2).sum() / (n - 2))
        se = math.sqrt(s2 / sxx)
        t = stats.t.ppf(0.975, n - 2)
        ci = (slope - t * se, slope + t * se)
        p = float(2 * stats.t.sf(abs(slope / se), n - 2)) if se > 0 else (0.0 if slope else 1.0)
    else:
        s2, se, ci, p = 0.0, float("nan"), (float("nan"), float("nan")), float("nan")
    return {"slope": slope, "intercept": intercept, "ci": ci, "stderr": se, "p": p,
            "resid_std": math.sqrt(s2)}


# Theil-Sen is shared with the site judge (triage), below both layers
from profiler.stats import THEIL_SEN_MAX_POINTS, theil_sen, thin  # noqa: E402,F401


def mann_kendall(y) -> dict:
    """Mann-Kendall trend test with the tie correction; two-sided p from the normal approximation.

    S counts, over every pair i < j, +1 when y_j > y_i and -1 when smaller. O(n^2) but done
    row by row in numpy: 10,000 iterations take well under a second. Not pymannkendall: its
    original_test also computes Sen's slope over all n^2 pairs in memory (1.9 s at 3,000 points
    here); not scipy's kendalltau: it has no continuity correction.
    """
    from scipy import stats

    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 3:
        return {"name": "mann-kendall", "s": 0, "z": float("nan"), "p": float("nan"), "n": int(n)}
    s = 0
    for i in range(n - 1):
        s += int(np.sign(y[i + 1:] - y[i]).sum())
    _, counts = np.unique(y, return_counts=True)
    ties = counts[counts > 1].astype(float)
    var = (n * (n - 1) * (2 * n + 5) - float((ties * (ties - 1) * (2 * ties + 5)).sum())) / 18.0
    if var <= 0:
        z = 0.0
    elif s > 0:
        z = (s - 1) / math.sqrt(var)
    elif s < 0:
        z = (s + 1) / math.sqrt(var)
    else:
        z = 0.0
    p = float(2 * stats.norm.sf(abs(z)))
    return {"name": "mann-kendall", "s": int(s), "z": float(z), "p": p, "n": int(n)}


def blocks(iterations, rss_mb, size: int) -> list[dict]:
    """Consecutive blocks of `size` records (the seed's 10-iteration table).

    delta_mb is this block's mean minus the previous block's (None for the first):
    the seed's "Trend" column.
    """
    it = np.asarray(iterations)
    y = np.asarray(rss_mb, dtype=float)
    out, prev = [], None
    for k, start in enumerate(range(0, y.size, size), 1):
        seg = y[start:start + size]
        mean = float(seg.mean())
        out.append({
            "block": k,
            "first": int(it[start]),
            "last": int(it[min(start + size, y.size) - 1]),
            "n": int(seg.size),
            "mean_mb": rnd(mean),
            "delta_mb": None if prev is None else rnd(mean - prev),
            "min_mb": rnd(seg.min()),
            "max_mb": rnd(seg.max()),
        })
        prev = mean
    return out


def describe(y) -> dict:
    y = np.asarray(y, dtype=float)
    std = float(y.std(ddof=1)) if y.size > 1 else 0.0
    return {"mean_mb": rnd(y.mean()), "std_mb": rnd(std), "min_mb": rnd(y.min()),
            "max_mb": rnd(y.max()), "range_mb": rnd(np.ptp(y)), "median_mb": rnd(np.median(y))}
