"""The statistics against hand-computed values and scipy's own implementations."""
import itertools
import math

import numpy as np
import pytest
from scipy import stats as sst

from profiler import stats


def test_mann_kendall_hand_computed():
    # 1..5: S = 10, var = 5*4*15/18, z = (S-1)/sqrt(var)
    mk = stats.mann_kendall([1, 2, 3, 4, 5])
    assert mk.s == 10
    assert mk.z == pytest.approx(9 / math.sqrt(50 / 3))
    assert mk.p == pytest.approx(0.027486, abs=1e-6)


def test_mann_kendall_ties_correction():
    y = [1, 1, 2, 2, 3]
    mk = stats.mann_kendall(y)
    s = sum(np.sign(y[j] - y[i]) for i, j in itertools.combinations(range(5), 2))
    assert mk.s == s == 8
    var = (5 * 4 * 15 - 2 * (2 * 1 * 9)) / 18
    assert mk.z == pytest.approx((8 - 1) / math.sqrt(var))


def test_mann_kendall_agrees_with_kendall_tau_without_ties():
    rng = np.random.default_rng(3)
    y = np.cumsum(rng.normal(0.1, 1, 80))
    mk = stats.mann_kendall(y)
    tau = sst.kendalltau(np.arange(80), y, method="asymptotic")
    assert mk.s == round(tau.statistic * 80 * 79 / 2)
    assert mk.p == pytest.approx(tau.pvalue, rel=0.05)   # we apply the continuity correction


def test_ols_matches_linregress_and_t_interval():
    rng = np.random.default_rng(4)
    x = np.arange(40, dtype=float)
    y = 5 + 0.3 * x + rng.normal(0, 2, 40)
    mine = stats.ols(x, y)
    ref = sst.linregress(x, y)
    assert mine.slope == pytest.approx(ref.slope)
    assert mine.stderr == pytest.approx(ref.stderr)
    t = sst.t.ppf(0.975, 38)
    assert mine.ci[0] == pytest.approx(ref.slope - t * ref.stderr)
    assert mine.p == pytest.approx(ref.pvalue)


def test_theil_sen_is_the_median_pairwise_slope():
    y = np.array([3.0, 5.0, 4.0, 9.0, 8.0, 30.0, 10.0])
    x = np.arange(y.size, dtype=float)
    slopes = [(y[j] - y[i]) / (j - i) for i, j in itertools.combinations(range(y.size), 2)]
    ts = stats.theil_sen(x, y)
    assert ts.slope == pytest.approx(float(np.median(slopes)))
    assert ts.ci[0] <= ts.slope <= ts.ci[1]


def test_blocks_exact():
    b = stats.blocks([1, 2, 3, 4, 5], [10.0, 20.0, 30.0, 40.0, 41.0], 2)
    assert [(r["first"], r["last"], r["mean_mb"], r["delta_mb"]) for r in b] == [
        (1, 2, 15.0, None), (3, 4, 35.0, 20.0), (5, 5, 41.0, 6.0)]


def test_rounding_helpers():
    assert stats.rnd(float("nan")) is None
    assert stats.sig(0.000123456) == 0.0001235
    assert stats.sig(-1234.5678) == -1235.0
    assert stats.robust_sigma([1, 1, 1, 1]) == 0.0
