"""A leak's rate near the minor bar is held there with its interval, not its point estimate.

The live bytes are PyUnicode_New's at the 8 iteration boundaries of a real `memprof valgrind
--model tiny-1.7b -n 8` run under massif (a fresh-clone CI run of
tests/integration/test_probe_state.py): +6.7 KB on a 4.3 MB site, its late rate 1.4 KiB per
iteration (over the 1 KiB bar) from steps of -7 B to +2.7 KB. That run was called LEAK on it."""
from profiler.results.sites import SiteBrief, TimelineUnit
from profiler.triage import growth
from profiler.triage.runverdict import MIN_MATERIAL_BYTES_PER_ITER, is_material, unsettled

LIVE = [4347947, 4348562, 4349226, 4349219, 4350233, 4352940, 4353142, 4354649]


def _brief(j):
    return SiteBrief(site="PyUnicode_New", verdict=j.verdict, slope_bytes_per_iter=j.slope_bytes_per_iter,
                     slope_low_bytes_per_iter=j.slope_low_bytes_per_iter, unit=TimelineUnit.ITERATION)


def test_a_rate_over_the_bar_whose_interval_reaches_under_it_is_not_material():
    j = growth.judge_series(list(range(1, 9)), LIVE, unit="iteration")
    assert j.verdict == growth.LEAK and j.slope_bytes_per_iter > MIN_MATERIAL_BYTES_PER_ITER
    assert j.slope_low_bytes_per_iter < MIN_MATERIAL_BYTES_PER_ITER
    assert "95% interval from" in j.evidence
    brief = _brief(j)
    assert unsettled(brief) and not is_material(brief)
    assert is_material(brief, 0) and not unsettled(brief, 0)     # check --min-growth 0: nothing minor


def test_a_steady_leak_near_the_bar_stays_material():
    steady = [4347947 + 1500 * i for i in range(8)]
    j = growth.judge_series(list(range(1, 9)), steady, unit="iteration")
    assert j.verdict == growth.LEAK and j.slope_low_bytes_per_iter == 1500
    assert is_material(_brief(j)) and not unsettled(_brief(j))
