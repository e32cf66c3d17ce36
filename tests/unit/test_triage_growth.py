"""Per-site growth verdicts: the shapes that decide leak / pool / init-once / transient.

The planted captures (test_triage_capture.py) cover the clean shapes; these are
the shapes real runs produce that a naive rule gets wrong: a pool that expands
once late in the run, a site that only appears halfway, alternating models, a
noisy leak, a run too short to show a plateau.
"""
from __future__ import annotations

import pytest

from profiler.triage.growth import (INIT_ONCE, LEAK, POOL, TRANSIENT, UNKNOWN, fmt_bytes, judge_exit_record, judge_series,
                                    judge_without_timeline, theil_sen)

K = 1024
IT = list(range(1, 13))


def test_theil_sen():
    assert theil_sen([1, 3, 5, 7]) == 2.0
    # one outlier does not move the median slope
    assert theil_sen([0, 1, 2, 3, 100, 5, 6]) == 1.0
    assert theil_sen([5, 5, 5, 5, 9]) == 0.0
    assert theil_sen([2.0, 4.0], x=[10, 12]) == 1.0
    assert theil_sen([7]) == 0.0


def test_fmt_bytes():
    assert [fmt_bytes(x) for x in (0, 512, 1536, 32 * K, 5 * K * K, -2 * K)] == \
        ["0 B", "512 B", "1.5 KiB", "32.0 KiB", "5.0 MiB", "-2.0 KiB"]


@pytest.mark.parametrize("name,values,verdict,slope", [
    ("linear leak", [32 * K * i for i in IT], LEAK, 32 * K),
    ("pool of four", [64 * K * min(i, 4) for i in IT], POOL, 0),
    ("set-up", [100 * K] * 12, INIT_ONCE, 0),
    ("freed each time", [0] * 12, TRANSIENT, 0),
    # a pool that expands once more at iteration 9: the later-half slope is positive, but the
    # last three iterations are flat again: a plateau, not a leak
    ("late pool expansion", [64 * K * min(i, 4) + (64 * K if i >= 9 else 0) for i in IT], POOL, None),
    # the same expansion at iteration 8 of 12: Theil-Sen over iterations 7-12 is 0
    ("earlier pool expansion", [64 * K * min(i, 4) + (64 * K if i >= 8 else 0) for i in IT], POOL, 0),
    # a site that appears at iteration 7 and keeps growing is a leak that started late
    ("late leak", [0] * 6 + [10 * K * i for i in range(1, 7)], LEAK, 10 * K),
    # one late allocation kept: set-up done late, not a leak
    ("late once", [0] * 9 + [5 * K] * 3, INIT_ONCE, 0),
    ("appears at the last iteration", [0] * 11 + [5 * K], INIT_ONCE, 0),
    # two models alternating: the level swings but has no trend
    ("alternating", [100 * K if i % 2 else 200 * K for i in IT], POOL, 0),
    # a leak with noise: not every step grows and the end is not the maximum
    ("noisy leak", [10, 20, 30, 40, 50, 45, 60, 70, 65, 80, 95, 90], LEAK, None),
    # growth too small to matter: 8 B per iteration, under the 64 B step tolerance
    ("tiny drift", [1000 + 8 * i for i in IT], INIT_ONCE, 8),
    # 500 B per iteration: each step is over the tolerance and the later half adds 3 KiB: a leak
    ("small leak", [100_000 + 500 * i for i in IT], LEAK, 500),
    # jitter of a few KiB around a 100 MB pool has no trend
    ("jittery pool", [100 * K * K + d for d in (0, 4096, -4096, 2048, 0, -2048, 4096, 0, -4096, 2048, 0, 1024)],
     POOL, None),
    # a context buffer still alive at some boundaries and not at others (measured: heaptrack on
    # the tiny-twin loop, ggml_backend_sched_reserve's buffer, 9.2 MB for one model, twice that for
    # the other): it is given back, so it does not accumulate
    ("alive at some boundaries", [9 * K * K, 0, 9 * K * K, 0, 9 * K * K, 18 * K * K] * 2, POOL, None),
    # freed at the end of the run after holding memory: transient
    ("freed at the end", [64 * K] * 11 + [0], TRANSIENT, 0),
])
def test_shapes(name, values, verdict, slope):
    values = [v * K if name == "noisy leak" else v for v in values]
    j = judge_series(IT, values, peak_bytes=128 * K if name == "freed each time" else 0)
    assert j.verdict == verdict, (name, j)
    if slope is not None:
        assert j.slope_bytes_per_iter == slope, (name, j)
    assert j.evidence


def test_late_leak_evidence_says_when_it_appeared():
    j = judge_series(IT, [0] * 6 + [10 * K * i for i in range(1, 7)])
    assert "(first live at iteration 7)" in j.evidence


def test_long_leak_is_not_flattened_by_its_own_size():
    # 5000 iterations of +1000 B: the level reaches 5 MB, each step stays a step
    n = 5000
    j = judge_series(list(range(1, n + 1)), [1000 * i + (37 * i) % 50 for i in range(n)])
    assert j.verdict == LEAK and round(j.slope_bytes_per_iter) == 1000


def test_short_runs():
    # three iterations of steady growth: a leak (weak, but the shape is unambiguous)
    assert judge_series([1, 2, 3], [K * 10, K * 20, K * 30]).verdict == LEAK
    # five iterations of a pool of four: it has held its level once; not called a leak
    assert judge_series([1, 2, 3, 4, 5], [64 * K * min(i, 4) for i in range(1, 6)]).verdict == POOL
    assert judge_series([], []).verdict == TRANSIENT


def test_time_slices_unit():
    j = judge_series(list(range(20)), [K * 4 * i for i in range(20)], unit="slice")
    assert j.verdict == LEAK and "/slice" in j.evidence


@pytest.mark.parametrize("kind,blocks,iters,category,verdict", [
    ("definite", 5, 5, None, LEAK),
    ("indirect", 3, 5, None, LEAK),
    ("definite", 1, None, None, LEAK),
    ("reachable", 5, 5, None, LEAK),
    ("reachable", 10, 5, None, LEAK),       # two allocations per iteration, all kept
    ("possible", 12, 12, None, LEAK),
    ("reachable", 1, 5, None, INIT_ONCE),
    ("reachable", 4, 5, None, POOL),
    ("reachable", 4, 5, "init", INIT_ONCE),  # set-up code that allocates a few blocks
    ("reachable", 7, 5, None, INIT_ONCE),
    ("reachable", 5, None, None, UNKNOWN),   # no iteration count: growth unknown, never init-once
    ("reachable", 1, None, None, UNKNOWN),
    ("possible", 3, None, None, UNKNOWN),
])
def test_memcheck_block_count_heuristic(kind, blocks, iters, category, verdict):
    j = judge_exit_record(kind, blocks, 1000 * blocks, iters, category)
    assert j.verdict == verdict, j
    if kind in ("reachable", "possible"):
        assert ("heuristic" in j.evidence) if iters else ("growth unknown" in j.evidence
                                                         and "--scale" in j.evidence)


def test_without_timeline():
    assert judge_without_timeline(0, 4096, 3).verdict == TRANSIENT
    assert judge_without_timeline(4096, 4096, 1).verdict == INIT_ONCE


# --- start-up is not growth (constructed series of the live heap) ---------------------------------
from profiler.triage.growth import Judgement, after_startup, startup_end  # noqa: E402


def test_startup_end_of_a_steady_leak_is_zero():
    assert startup_end([100 * K + 48 * K * i for i in range(20)]) == 0


def test_startup_end_where_the_steep_climb_joins_the_later_line():
    # imports: +500 KiB per iteration for 6 iterations, then +1 KiB per iteration
    total = [500 * K * min(i, 6) + K * max(i - 6, 0) for i in range(30)]
    assert startup_end(total) == 6


def test_startup_end_leaves_something_to_judge():
    total = [1000 * K * i for i in range(10)] + [10_000 * K] * 2
    assert startup_end(total) <= 12 - 4


def test_a_step_during_startup_then_flat_is_not_a_leak():
    s = list(range(1, 21))
    v = [0, 0, 4 * K, 8 * K, 12 * K, 16 * K] + [16 * K] * 14
    leak = Judgement(LEAK, 4 * K, "grows")
    j = after_startup(leak, v, s, 6, "iteration")
    assert j.verdict == POOL and j.slope_bytes_per_iter == 0
    assert "during start-up" in j.evidence and "not growth" in j.evidence
    one = after_startup(leak, [0] * 3 + [16 * K] * 17, s, 6, "iteration")
    assert one.verdict == INIT_ONCE


def test_growth_that_goes_on_after_startup_stays_a_leak():
    s = list(range(1, 21))
    v = [2 * K * i for i in range(20)]
    leak = Judgement(LEAK, 2 * K, "grows")
    assert after_startup(leak, v, s, 6, "iteration") is leak


def test_time_slices_with_startup_over_most_of_the_run_are_unknown():
    s = list(range(20))
    v = [3 * K * i for i in range(20)]
    j = after_startup(Judgement(LEAK, 3 * K, "grows"), v, s, 13, "slice")
    assert j.verdict == UNKNOWN and "--scale" in j.evidence and "memprof_marks" in j.evidence


def test_time_slices_need_growth_through_the_last_third():
    s = list(range(18))
    v = [2 * K * min(i, 11) for i in range(18)]       # grows until slice 11 of 17, then flat
    j = after_startup(Judgement(LEAK, 2 * K, "grows"), v, s, 0, "slice")
    assert j.verdict == POOL and "early in the run" in j.evidence
