"""Known-answer series (scripts/make_series_fixtures.py plants each shape): verdict, phases, blocks.

Phase boundaries are asserted within a tolerance, not exactly, because the data
cannot pin them down more finely: a boundary point whose step is within one
noise sigma of the plateau (seed_like: the last warmup step is +124 MB under
97 MB noise) belongs to either side equally well, so +-1 iteration; a change of
slope under noise is located to about sigma/slope iterations (4 MB / 3 MB per
iteration), so +-3 for the growth onset.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from profiler.analysis import analyze_series, load_series
from profiler.analysis.verdict import nice_ceil, recommend
from profiler.errors import BadSeries
from profiler.results.series import GcSummary, HeapFloorPoint

DATA = Path(__file__).resolve().parent.parent / "data" / "series"
MB = 1 << 20


def analyse(name, **kw):
    return analyze_series(load_series(DATA / name), **kw)


def phase(result, name):
    found = [p for p in result.phases if p.name == name]
    return found[0] if found else None


def test_plateau_with_noise():
    r = analyse("plateau_noise.csv")
    assert r.verdict == "plateau"
    assert [p.name for p in r.phases] == ["plateau"]
    assert r.trend_test.name == "mann-kendall" and r.trend_test.p > 0.05
    lo, hi = r.slope_ci_mb
    assert lo < 0 < hi
    assert any("no trend" in e for e in r.evidence)


def test_slow_leak_hidden_in_noise():
    # +0.5 MB/iter under uniform +-20 MB noise for 100 iterations
    r = analyse("slow_leak.csv")
    assert r.verdict == "leak"
    assert r.slope_ci_mb[0] < 0.5 < r.slope_ci_mb[1]
    assert r.theil_sen_ci_mb[0] > 0
    assert r.trend_test.p < 1e-6
    assert phase(r, "growth").first == 1
    rec = r.recommendation
    assert rec.iterations_to_alert > 0 and "leaks" in rec.sentence


def test_seed_like_warmup_then_plateau():
    r = analyse("seed_like.jsonl")
    assert r.verdict == "plateau"
    warm = phase(r, "warmup")
    assert warm.first == 1 and 9 <= warm.last <= 11
    assert warm.start_mb == 738.0
    assert r.stable.first == warm.last + 1 or phase(r, "settling")
    assert r.stable.last == 50
    # exact block means: the fixture plants 2980 (the seed's block 1) and 3862/3905/3931/3894
    assert [b.mean_mb for b in r.blocks] == [2980.0, 3862.0, 3905.0, 3931.0, 3894.0]
    assert [b.delta_mb for b in r.blocks] == [None, 882.0, 43.0, 26.0, -37.0]
    assert [(b.first, b.last) for b in r.blocks] == [(1, 10), (11, 20), (21, 30), (31, 40), (41, 50)]
    assert r.blocks[0].min_mb == 738.0 and r.blocks[0].max_mb == 4219.0
    assert r.recommendation.max_expected_mb == 4500.0
    assert r.recommendation.alert_mb == 5000.0
    assert r.recommendation.ram_mb == 8192


def test_sawtooth_is_a_plateau():
    r = analyse("sawtooth.csv")
    assert r.verdict == "plateau"
    assert 4 <= phase(r, "warmup").last <= 6
    plateau = phase(r, "plateau")
    assert plateau.shape == "sawtooth" and plateau.period == 12.0
    assert r.sawtooth.trims == 9
    # the planted trims fall back to k % 12 == 0, i.e. iterations 6 + 12 j
    assert r.sawtooth.trim_iterations == tuple(18 + 12 * j for j in range(9))
    assert plateau.reclaims == r.sawtooth.trim_iterations
    env = r.envelope
    assert len(env.teeth) == 10 and env.teeth[0].first == 6
    assert not env.troughs.rises and not env.peaks.rises
    assert env.troughs.test == "mann-kendall"          # 10 teeth: the levels are tested as a series
    # budget from the highest peak: nice(peak x 1.05), not mean + 3 sigma of the teeth
    assert r.recommendation.max_expected_mb == nice_ceil(r.peak_mb * 1.05)


def test_plateau_then_growth():
    r = analyse("plateau_then_growth.csv")
    assert r.verdict == "leak"
    assert [p.name for p in r.phases] == ["plateau", "growth"]
    assert 43 <= phase(r, "growth").first <= 49
    assert abs(r.late_phase.theil_sen_mb_per_iter - 3.0) < 0.2


def test_five_points_are_inconclusive():
    r = analyse("short.csv")
    assert r.verdict == "inconclusive"
    assert "only 5 iteration" in r.evidence[0]


def test_killed_run_is_inconclusive_while_still_climbing():
    r = analyse("killed_run")
    assert r.n == 12
    assert r.verdict == "inconclusive"


@pytest.mark.parametrize("block, expected", [(7, [1, 8, 15, 22, 29, 36, 43, 50]), (25, [1, 26])])
def test_block_size(block, expected):
    r = analyse("seed_like.jsonl", block=block)
    assert [b.first for b in r.blocks] == expected
    y = load_series(DATA / "seed_like.jsonl")["rss"].to_numpy() / MB
    assert r.blocks[0].mean_mb == round(float(y[:block].mean()), 2)


def test_per_model_against_the_raw_records():
    recs = [json.loads(line) for line in (DATA / "seed_like.jsonl").read_text().splitlines()]
    r = analyse("seed_like.jsonl")
    pm = r.per_model
    assert set(pm) == {"0.6b", "1.7b"}
    for model in pm:
        deltas = [(recs[i]["rss"] - recs[i - 1]["rss"]) / MB for i in range(1, len(recs)) if recs[i]["model"] == model]
        mine = [rec for rec in recs if rec["model"] == model]
        assert pm[model].iterations == len(mine) == 25
        assert pm[model].net_mb_per_switch == round(sum(deltas) / len(deltas), 2)
        assert pm[model].ttft_s == round(sum(m["ttft_s"] for m in mine) / 25, 4)
        assert pm[model].token_error_rate == round(sum(m["token_error_rate"] for m in mine) / 25, 4)
    assert pm["1.7b"].token_error_rate == 0.1


def test_decomposition_parts_and_growth():
    r = analyse("seed_like.jsonl")
    recs = [json.loads(line) for line in (DATA / "seed_like.jsonl").read_text().splitlines()]
    row, rec = r.decomposition[20], recs[20]
    assert row.iteration == 21
    assert row.file_mb == round(rec["rss_file"] / MB, 2)
    other = (rec["rss_anon"] - rec["heap_in_use"] - rec["heap_free_retained"]) / MB
    assert row.other_anon_mb == round(max(other, 0.0), 2)
    g = r.decomposition_growth
    assert g.largest == "heap_free_retained_mb"
    assert "allocator retention" in g.sentence
    parts = g.heap_free_retained_mb + g.heap_in_use_mb + g.other_anon_mb + g.file_mb
    assert abs(parts + g.unexplained_mb - g.rss_mb) < 0.05


def test_no_decomposition_without_the_columns():
    r = analyse("plateau_noise.csv")
    assert r.decomposition == () and r.decomposition_growth is None


def test_seed_budget_rule():
    # the seed's own figures: peak 4219 MB, plateau 3878 +- 97 MB -> its 4.5 GB / 5 GB / 8 GB
    rec = recommend(verdict="plateau", peak_mb=4219, mean_mb=3878, std_mb=97, slope=0.0, current_mb=3878)
    assert (rec.max_expected_mb, rec.alert_mb, rec.ram_mb) == (4500.0, 5000.0, 8192)
    assert nice_ceil(57.3) == 58.0 and nice_ceil(4430) == 4500.0


def _synthetic(y):
    return pd.DataFrame({"iteration": np.arange(1, len(y) + 1), "rss": (np.asarray(y) * MB).astype(np.int64)})


def test_verdicts_hold_over_many_noise_draws():
    """Not one lucky seed: 30 fresh draws of each shape. Pure noise may look like a leak at the
    nominal 1% rate (Mann-Kendall p < 0.01), so allow one false alarm in 30."""
    rng = np.random.default_rng(7)
    plateau = leak = 0
    for _ in range(30):
        noise = analyze_series(_synthetic(2000 + rng.normal(0, 15, 60)))
        plateau += noise.verdict == "plateau"
        slow = analyze_series(_synthetic(1500 + 0.5 * np.arange(100) + rng.uniform(-20, 20, 100)))
        leak += slow.verdict == "leak"
        assert noise.reclaims == () and slow.reclaims == ()      # noise never looks like a reclaim
    assert plateau >= 29
    assert leak >= 29     # the stopped-growth guard (verdict.py) may hold one back as inconclusive


def test_flat_constant_series_is_a_plateau():
    r = analyze_series(_synthetic([1000.0] * 20))
    assert r.verdict == "plateau"
    assert r.stable.std_mb == 0.0


def test_pool_fill_up_curve_settles_into_a_plateau():
    # warmup 1-8, then 2000 - 150 exp(-k/4): the remaining approach is settling, not a leak
    r = analyse("settling.csv")
    assert r.verdict == "plateau"
    assert [p.name for p in r.phases] == ["warmup", "settling", "plateau"]
    assert 8 <= phase(r, "warmup").last <= 18          # the ramp and the steep start of the approach
    # the approach has faded under a quarter sigma (~1 MB) by k = 4 ln(150 / 1.25) ~ 19, iteration ~28
    assert 20 <= phase(r, "plateau").first <= 34
    assert abs(r.stable.mean_mb - 2000) < 3


def test_leak_under_a_fading_approach_is_still_a_leak():
    rng = np.random.default_rng(11)
    k = np.arange(72)
    y = np.concatenate([np.linspace(500, 1850, 8), 2000 - 150 * np.exp(-k / 4) + 0.4 * k + rng.normal(0, 5, 72)])
    r = analyze_series(_synthetic(y))
    assert r.verdict == "leak"
    assert 0.3 < r.late_phase.theil_sen_mb_per_iter < 0.6   # planted 0.4, plus what is left of the approach


def test_real_tiny_twin_run_rose_then_stopped():
    """A real 40-iteration llama-cpp-python run: RSS creeps up, then stays at one value for
    the last 9 iterations. The leak tests fire on the creep, the stopped-growth guard
    holds the verdict at inconclusive; figures are recomputed from the raw records."""
    recs = [json.loads(line) for line in (DATA / "real_tiny_twins_40.jsonl").read_text().splitlines()]
    rss = [r["rss"] / MB for r in recs]
    r = analyse("real_tiny_twins_40.jsonl")
    assert r.n == 40
    # the RSS shape alone is inconclusive; heap in use after the GC at 31 is back at its floor
    assert r.rss_verdict == "inconclusive"
    assert "slowed or stopped" in r.evidence[1]
    assert r.verdict == "plateau" and r.evidence_basis == "heap floor after reclaims"
    assert r.heap_floor.floors == (HeapFloorPoint(iteration=31, floor_mb=round(recs[30]["heap_in_use"] / MB, 3),
                                                  source="reclaim"),)
    assert [b.mean_mb for b in r.blocks] == [round(sum(rss[i:i + 10]) / 10, 2) for i in range(0, 40, 10)]
    assert r.peak_mb == round(max(rss), 2)
    assert phase(r, "warmup").start_mb == round(rss[0], 2)
    assert {m: row.iterations for m, row in r.per_model.items()} == {"tiny-0.6b": 20, "tiny-1.7b": 20}
    loads = [x["load_s"] for x in recs if x["model"] == "tiny-1.7b"]
    assert r.per_model["tiny-1.7b"].load_s == round(sum(loads) / len(loads), 4)
    last = r.decomposition[-1]
    assert last.heap_free_retained_mb == round(recs[-1]["heap_free_retained"] / MB, 2)


def test_falling_memory_is_a_plateau_that_returns_memory():
    rng = np.random.default_rng(12)
    r = analyze_series(_synthetic(3000 - 1.0 * np.arange(60) + rng.normal(0, 3, 60)))
    assert r.verdict == "plateau"
    assert "falls" in r.evidence[0]


def test_significant_but_negligible_rise_is_a_plateau():
    # +0.05 MB/iter on 4000 MB: 50 MB per 1000 iterations = 1.25% of the level (< 10%)
    rng = np.random.default_rng(13)
    r = analyze_series(_synthetic(4000 + 0.05 * np.arange(200) + rng.normal(0, 0.5, 200)))
    assert r.trend_test.p < 0.01
    assert r.verdict == "plateau"
    assert "negligible" in r.evidence[0]


# --- reclaims: sawtooth envelope and what each reclaim gave back ----------------------------------

def _records(name):
    return [json.loads(line) for line in (DATA / name).read_text().splitlines()]


def test_real_demo_run_is_a_sawtooth_reclaimed_by_the_gc():
    """The real default run (`memprof run`, twins alternating, reload, 50 iterations): RSS ramps
    ~1.7 MB/iteration, Python's cyclic GC runs at iteration 31 and gives it all back, then it ramps
    again. The raw series rises significantly (what used to make it a leak); the envelope does not."""
    recs = _records("demo_twins_reload_50.jsonl")
    rss = [x["rss"] / MB for x in recs]
    r = analyse("demo_twins_reload_50.jsonl")
    assert r.trend_test.p < 0.01 and r.trend_test.z > 0       # the raw series rises
    assert r.verdict == "plateau"
    assert [p.name for p in r.phases] == ["plateau"]
    plateau = phase(r, "plateau")
    assert plateau.shape == "sawtooth" and plateau.reclaims == (31,) and plateau.trims == 1
    assert plateau.peak_mb == round(max(rss), 2) == r.envelope.highest_peak_mb
    assert r.envelope.highest_peak_iteration == 30
    assert [(t.first, t.last, t.complete) for t in r.envelope.teeth] == [(1, 30, True), (31, 50, False)]
    # the tooth after the reclaim against the first one at the same age, recomputed from the records
    offset = float(np.median(np.array(rss[30:]) - np.array(rss[:20])))
    assert r.envelope.troughs.total_mb == round(offset, 3)
    assert not r.envelope.troughs.rises
    ev = r.reclaims
    assert len(ev) == 1 and ev[0].iteration == 31 and ev[0].kind == "gc"
    assert (ev[0].gc_collections, ev[0].gc_collected) == (recs[30]["gc_collections"], recs[30]["gc_collected"]) == (1, 76)
    fell = (recs[30]["heap_in_use"] - recs[29]["heap_in_use"]) / MB
    assert ev[0].heap_in_use_change_mb == round(fell, 2) == -50.44
    assert ev[0].rss_change_mb == round(rss[30] - rss[29], 2)
    text = " ".join(r.evidence)
    # heap in use right after the GC is back at its floor: that decides, and the RSS shape agrees
    assert r.evidence_basis == "heap floor after reclaims" and r.rss_verdict == "plateau"
    assert r.evidence[0] == r.basis_sentence and "10.80 MB, back at the 10.79 MB" in r.evidence[0]
    assert "sawtooth, not a leak" in r.evidence[1] and "iteration 31" in r.evidence[1]
    assert "Python's cyclic GC ran there (1 collection, 76 objects collected), heap in use fell 50.4 MB" in text
    assert "unreachable reference cycles" in text
    assert "only one reclaim was seen" in text and "a finished tooth lasts 30 iterations" in text
    # the budget covers the peak, not mean + 3 sigma of the teeth
    rec = r.recommendation
    assert rec.max_expected_mb == nice_ceil(max(rss) * 1.05) == 160.0
    assert "sawtooth" in rec.sentence and "Only one reclaim" in rec.sentence
    # the growth inside the tooth is heap in use (what the GC later frees)
    assert r.decomposition_growth.largest == "heap_in_use_mb"
    assert "within the tooth of iterations 1-30" in r.decomposition_growth.sentence


def test_sawtooth_whose_troughs_climb_is_a_leak():
    # sawtooth.csv's pool trimmed every 12 iterations, with +1 MB/iter that no trim gives back
    r = analyse("sawtooth_leak.csv")
    assert r.verdict == "leak"
    assert [p.name for p in r.phases] == ["warmup", "growth"]
    growth = phase(r, "growth")
    assert growth.shape == "sawtooth" and growth.reclaims == tuple(18 + 12 * j for j in range(9))
    tr = r.envelope.troughs
    # the first tooth starts cold: the later 9 teeth are compared with each other (8 offsets)
    assert r.envelope.cold_first_tooth_excluded
    assert tr.positive == tr.n == 8 and tr.rises
    assert r.evidence_basis == "rss shape"
    assert 0.8 < r.late_phase.theil_sen_mb_per_iter < 1.25     # planted 1.0
    assert "troughs climb" in r.evidence[0]
    assert "leaks" in r.recommendation.sentence and r.recommendation.iterations_to_alert > 0


def test_one_reclaim_that_leaves_memory_behind_is_a_leak():
    # +2 MB/iter; at iteration 31 a reclaim gives back only 40 of the 60 MB: the second tooth runs
    # 20 MB higher, 15% of a 133 MB level: more than a tooth's level moves between reclaims
    rng = np.random.default_rng(21)
    k = np.arange(50)
    y = 100 + 2.0 * k - 40.0 * (k >= 30) + rng.normal(0, 0.5, 50)
    r = analyze_series(_synthetic(y))
    assert [e.iteration for e in r.reclaims] == [31]
    assert r.verdict == "leak"
    assert abs(r.envelope.troughs.total_mb - 20) < 1.5
    # the same 20 MB on a 533 MB level is 3.8% of it: one pair of teeth, weak evidence
    r = analyze_series(_synthetic(y + 400))
    assert r.verdict == "inconclusive" and "but that is one pair of teeth" in r.basis_sentence
    assert "run at least 10 more iterations (another tooth as long as the first)" in r.basis_sentence


def test_two_teeth_at_scattered_levels_are_never_a_leak():
    """40 flat runs of two 20-iteration teeth, each tooth at its own level (sd 1 MB, within-tooth
    noise 0.2 MB): the old one-reclaim rule called 18 of them a leak. A leak that moves the second
    tooth by 20% of the level is still found in every draw."""
    rng = np.random.default_rng(7)
    k = np.arange(20)
    flat = leak = 0
    for _ in range(40):
        teeth = [100 + rng.normal(0, 1.0) + k for _ in range(2)]
        noise = rng.normal(0, 0.2, 40)
        flat += analyze_series(_synthetic(np.concatenate(teeth) + noise)).verdict == "leak"
        leak += analyze_series(_synthetic(np.concatenate([teeth[0], teeth[1] + 25]) + noise)).verdict == "leak"
    assert flat == 0 and leak == 40


def test_one_point_dip_and_a_step_down_are_not_reclaims():
    rng = np.random.default_rng(22)
    y = 1500 + 0.5 * np.arange(100) + rng.uniform(-20, 20, 100)
    y[60] -= 200                                        # one bad reading
    r = analyze_series(_synthetic(y))
    assert r.reclaims == () and r.envelope is None and r.verdict == "leak"
    flat = np.concatenate([2000 + rng.normal(0, 5, 30), 1900 + rng.normal(0, 5, 30)])   # memory returned once
    r = analyze_series(_synthetic(flat))
    assert r.reclaims == () and r.verdict == "plateau"


def test_allocator_return_is_told_from_a_gc_reclaim():
    """A malloc_trim-like return: heap in use holds, the allocator's retained free memory falls."""
    n = 40
    k = np.arange(n)
    free = 20 + 3.0 * (k % 20)                          # retained free memory ramps, trimmed every 20
    used = np.full(n, 50.0)
    rss = 30 + used + free
    df = pd.DataFrame({"iteration": k + 1, "rss": (rss * MB).astype(np.int64),
                       "rss_anon": ((used + free) * MB).astype(np.int64), "rss_file": np.full(n, 30 * MB),
                       "heap_in_use": (used * MB).astype(np.int64), "heap_free_retained": (free * MB).astype(np.int64),
                       "gc_collections": np.zeros(n, dtype=int), "gc_collected": np.zeros(n, dtype=int)})
    r = analyze_series(df)
    assert r.verdict == "plateau"
    assert [e.iteration for e in r.reclaims] == [21]
    ev = r.reclaims[0]
    assert ev.kind == "allocator" and not ev.gc_ran
    assert ev.heap_free_retained_change_mb == -57.0 and ev.heap_in_use_change_mb == 0.0
    assert "malloc_trim-like" in ev.sentence


def test_an_overdue_last_tooth_is_inconclusive():
    # teeth of 10 iterations, then one that has climbed for 40 without a reclaim
    k = np.arange(70)
    y = np.where(k < 30, 800 + 5.0 * (k % 10), 800 + 5.0 * (k - 30)) + 0.01 * (k % 3)
    r = analyze_series(_synthetic(y))
    assert [e.iteration for e in r.reclaims] == [11, 21, 31]
    assert r.envelope.overdue
    assert r.verdict == "inconclusive" and "may never be reclaimed" in r.evidence[0]


def test_gc_that_frees_heap_but_not_rss_is_reported():
    # the real tiny-twin run: at iteration 31 the GC frees ~2 MB of heap, which the allocator keeps
    recs = _records("real_tiny_twins_40.jsonl")
    r = analyse("real_tiny_twins_40.jsonl")
    assert r.reclaims == ()
    (g,) = r.gc_events
    assert g.iteration == 31 and g.gc_collected == recs[30]["gc_collected"]
    assert g.heap_in_use_change_mb == round((recs[30]["heap_in_use"] - recs[29]["heap_in_use"]) / MB, 2)
    assert any("but RSS did not fall" in e for e in r.evidence)


def test_one_reclaim_then_a_tooth_much_longer_is_inconclusive():
    # a 19-iteration tooth, then one that climbs for 77 without a reclaim: the warmup search
    # takes the first tooth for a warmup (the line of the long tooth fits); the reclaim is still found
    rng = np.random.default_rng(23)
    k = np.arange(96)
    y = 100 + 1.7 * np.where(k < 19, k, k - 19) + rng.normal(0, 0.3, 96)
    r = analyze_series(_synthetic(y))
    assert [e.iteration for e in r.reclaims] == [20]
    assert "warmup" not in [p.name for p in r.phases]
    assert r.verdict == "inconclusive" and r.envelope.overdue


def test_sawtooth_verdicts_hold_over_many_noise_draws():
    """30 teeth of 5 iterations under N(0, 2 MB): the tooth levels are judged as a series, so
    plateaus stay plateaus (a modelled noise summed over 29 offsets once gave ~9% false leaks)
    and +0.1 MB/iter under the teeth (the 10%-per-1000 bar of a ~125 MB level is 0.0125) is found."""
    rng = np.random.default_rng(31)
    k = np.arange(150)
    flat = leak = 0
    for _ in range(15):
        flat += analyze_series(_synthetic(100 + 10 * (k % 5) + rng.normal(0, 2, 150))).verdict == "plateau"
        leak += analyze_series(_synthetic(100 + 10 * (k % 5) + 0.1 * k + rng.normal(0, 2, 150))).verdict == "leak"
    assert flat >= 14 and leak >= 14


def test_real_run_with_gc_after_each_unload_is_a_plateau_with_one_step():
    """`memprof run --collect-garbage --iterations 30` on the 0.6b/1.7b twins: heap in use flat at
    9.07 MB, RSS flat but for one +1.4 MB allocator-retention step at iteration 22. Mann-Kendall and
    OLS see the step; the robust slope is 0: a plateau, and the evidence says why."""
    from profiler.analysis import analyze_series, load_series

    s = analyze_series(load_series(DATA / "demo_twins_reload_gc_30.jsonl"))
    assert s.verdict == "plateau"
    assert "not a sustained trend" in s.evidence[0] and "a few steps, not a slope" in s.evidence[0]
    # one +1.4 MB step: Mann-Kendall and OLS point up, so the stretch is not labelled a flat plateau
    assert [p.name for p in s.phases] == ["warmup", "rising"] and s.phases[1].shape is None


def test_leak_without_a_full_gc_carries_the_reference_cycle_caveat():
    """A rising series whose records show no full collection: the verdict stands, with the caveat
    that cycles waiting for the collector look the same; once a full collection ran, no caveat."""
    n = 30
    df = pd.DataFrame({"iteration": np.arange(1, n + 1), "rss": (100 + 2.0 * np.arange(n)) * 2**20,
                       "gc_collections": np.ones(n, dtype=int), "gc_full_collections": np.zeros(n, dtype=int),
                       "gc_collected": np.zeros(n, dtype=int)})
    s = analyze_series(df)
    assert s.verdict == "leak"
    assert s.gc == GcSummary(collections=n, full_collections=0, collected=0, counted="generation 2",
                             caveat=s.gc.caveat)
    assert s.evidence[-1].startswith("Python's cyclic garbage collector ran no full collection in these 30")
    df.loc[14, "gc_full_collections"] = 1
    assert not any("garbage collector ran no" in e for e in analyze_series(df).evidence)


def test_two_reclaims_after_a_cold_first_tooth_are_a_plateau():
    """The 40-iteration heaptrack run of the twins: a GC reclaim at 31 (heap in use -50 MB) and an
    allocator trim at 36. Compared with the cold first tooth the troughs ran +7 MB higher in one
    tooth of two (inconclusive before); the first tooth is warmup, and heap in use right after the
    GC is back at the floor it started from: plateau, on the heap floor."""
    s = analyze_series(load_series(DATA / "twins_heaptrack_40.jsonl"))
    assert [e.iteration for e in s.reclaims] == [31, 36]
    assert s.envelope.cold_first_tooth_excluded
    assert s.verdict == "plateau" and s.rss_verdict == "plateau"
    assert s.evidence_basis == "heap floor after reclaims"
    assert [e.iteration for e in s.heap_floor.reclaims] == [31]      # the trim at 36 left the heap alone
    assert "35.67 MB, back at the 35.61 MB" in s.evidence[0]


def test_a_short_run_still_climbing_after_warmup_is_not_labelled_a_plateau():
    """`memprof run --quick --iterations 12` (scripts/make_loop_series.sh quick12): after the warmup
    (1-5) RSS still climbs 64.4 → 67.0 MB over 7 iterations; the stable-phase OLS interval lies
    above 0 (the console prints it beside the phases), so that stretch is `rising`, not a flat
    plateau. The verdict still rests on the collection probe (the heap went back: garbage)."""
    from profiler import stats

    r = analyse("loop_quick12.jsonl")
    assert [(p.name, p.first, p.last) for p in r.phases] == [("warmup", 1, 5), ("rising", 6, 12)]
    assert r.slope_ci_mb[0] > 0 and r.trend_test.p < 0.05
    assert r.verdict == "plateau" and r.evidence_basis == "collection probe"
    assert r.rss_verdict == "inconclusive"            # 7 stable iterations: too few for the RSS shape
    # and across every committed series: a phase is a flat plateau only if none of its own tests points up
    for path in sorted(DATA.iterdir()):
        try:
            df = load_series(path)
        except BadSeries:       # the bad-input fixtures
            continue
        y = df["rss"].to_numpy(dtype=float) / MB
        it = df["iteration"].to_numpy()
        for p in analyze_series(df).phases:
            seg = y[(it >= p.first) & (it <= p.last)]
            x = np.arange(seg.size, dtype=float)
            if p.shape == "flat" and seg.size >= 3:
                mk = stats.mann_kendall(seg)
                assert not (mk.p < 0.05 and mk.z > 0), (path.name, p)
                assert stats.theil_sen(x, seg).ci[0] <= 0 and stats.ols(x, seg).ci[0] <= 0, (path.name, p)


def test_a_short_last_tooth_waits_and_says_how_many_records_it_needs():
    """Teeth of 20 iterations, +0.3 MB/iter never given back, 64 iterations: the last tooth has 4
    records, too few to compare at the same age, so it is left out and one pair remains (+6 MB,
    under a tenth of the level): inconclusive, asking for the 4 records the last tooth lacks; with
    them, the second pair makes it a leak."""
    rng = np.random.default_rng(3)
    k = np.arange(68)
    y = 100 + 2.0 * (k % 20) + 0.3 * k + rng.normal(0, 0.3, 68)
    r = analyze_series(_synthetic(y[:64]))
    assert r.envelope.short_last_tooth_excluded and r.verdict == "inconclusive"
    assert "the last tooth has 4 records, too few to compare: run at least 4 more iterations" in r.basis_sentence
    r = analyze_series(_synthetic(y))
    assert not r.envelope.short_last_tooth_excluded and r.verdict == "leak"
