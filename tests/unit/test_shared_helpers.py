"""The helpers every layer shares (profiler/fmt.py, profiler/stats.py, profiler/constants.py):
one precision policy, one Theil-Sen, one threshold."""
from __future__ import annotations

import math

import numpy as np
import pytest

from profiler import constants, fmt
from profiler import stats as astats


def test_theil_sen_slope_is_theil_sen_without_the_interval():
    """The per-site judge's cheap form gives scipy's estimate, thinned the same way."""
    from profiler.stats import theil_sen_slope

    rng = np.random.default_rng(7)
    for n in (2, 5, 50, 400):
        y = rng.normal(size=n).cumsum()
        x = np.arange(n) * 3.0
        assert theil_sen_slope(y, x, max_points=100) == pytest.approx(astats.theil_sen(x, y, max_points=100).slope)
    assert theil_sen_slope([7.0]) == 0.0 and theil_sen_slope([1.0, 2.0], [4, 4]) == 0.0


def test_one_byte_policy_in_every_layer():
    """The report's tables, the console and triage's evidence format a size the same way."""
    from profiler.report import document
    from profiler.triage import growth

    for b, text in [(0, "0 B"), (1023, "1,023 B"), (1536, "1.5 KiB"), (3 << 20, "3.0 MiB"),
                    (160 << 10, "160 KiB"), (-2048, "-2.0 KiB"), (5 << 30, "5.0 GiB")]:
        assert fmt.fmt_bytes(b) == document.fmt_bytes(b) == growth.fmt_bytes(b) == text
    assert fmt.fmt_bytes(None) == fmt.fmt_bytes(float("nan")) == "n/a"
    assert fmt.fmt_bytes(None, missing="-") == "-"
    assert fmt.fmt_bytes("?") == "?"


def test_numbers_and_shares():
    assert fmt.num("3.5") == 3.5 and fmt.num(None) is None and fmt.num("x", 0.0) == 0.0
    assert fmt.num(float("nan"), 0.0) == 0.0
    assert fmt.fmt_num(1234.5678) == "1,234.57" and fmt.fmt_num(7) == "7" and fmt.fmt_num(None) == "n/a"
    assert fmt.fmt_mb(1234.4) == "1,234 MB" and fmt.fmt_mb(None) == "n/a"
    assert fmt.fmt_signed(0.03125, " MB/iter") == "+0.03125 MB/iter"
    assert fmt.fmt_pct(47, 50) == "94%" and fmt.fmt_pct(1, 0) == "-"
    assert fmt.fmt_signed_bytes(32768) == "+32.0 KiB" and fmt.fmt_signed_bytes(0) == "0"


def test_shared_constants_are_the_ones_used():
    from profiler.analysis import phases, reclaims, verdict
    from profiler.triage import runverdict

    assert verdict.TREND_P is phases.TREND_P is reclaims.TREND_P is constants.TREND_P
    assert runverdict.MB == astats.MB == constants.MB == 2.0 ** 20
    assert math.isclose(fmt.MiB, constants.MB)
