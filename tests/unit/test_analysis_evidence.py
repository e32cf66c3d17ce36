"""Evidence in order (issue 7): the heap floor and the collection probe outrank the RSS shape,
a capture that finds no growing site outranks a rising RSS line, level shifts come from
ruptures, and a decelerating rise is reported as slowing. Each verdict is asserted with the
evidence it rests on (`evidence_basis`).

Constructed series: scripts/make_series_fixtures.py (planted shapes, fixed seeds). Real series:
scripts/make_loop_series.sh (the default loop, `memprof run`, with the collection probe).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from profiler import rundir
from profiler.analysis import analyze_series, load_series
from profiler.parsers import load_capture
from profiler.results.series import Span
from profiler.triage import run_verdict, triage_capture
from testkit import boundaries

DATA = Path(__file__).resolve().parent.parent / "data"
SERIES = DATA / "series"
MB = 1 << 20
HEAP_FLOOR, PROBE, RSS = "heap floor after reclaims", "collection probe", "rss shape"


def analyse(name):
    return analyze_series(load_series(SERIES / name))


def records(name):
    return [json.loads(line) for line in (SERIES / name).read_text().splitlines() if line.strip()]


# --- constructed shapes ---------------------------------------------------------------------

def test_step_then_flat_is_a_pool_expansion():
    """One +40 MB step at iteration 21, then flat for 40 (was "inconclusive: growth phase")."""
    r = analyse("step_then_flat.csv")
    assert r.verdict == "plateau" and r.evidence_basis == RSS
    cp = r.change_points
    assert cp.shape == "step then flat" and cp.method.startswith("ruptures")
    assert [s.iteration for s in cp.steps] == [21]
    assert abs(cp.steps[0].step_mb - 40) < 2
    assert cp.last_segment.n == 40
    assert r.evidence[0].startswith("level shift, not growth: 1 step(s) (+40.")


def test_staircase_is_growth():
    r = analyse("staircase.csv")
    assert r.verdict == "leak" and r.evidence_basis == RSS
    cp = r.change_points
    assert cp.shape == "staircase" and len(cp.steps) >= 5
    assert all(8 < s.step_mb < 12 for s in cp.steps)
    assert any(e.startswith("change points: a staircase") for e in r.evidence)


def test_slowing_growth_is_not_a_leak():
    """300 + 12 (1 - exp(-k/40)) MB for 50 iterations: the trend tests see a leak at +0.11 MB/iter;
    it decelerates, levels off at 312 MB, and more iterations would settle it."""
    r = analyse("slowing_growth.csv")
    assert r.verdict == "inconclusive" and r.evidence_basis == RSS
    s = r.slowing
    assert abs(s.asymptote_mb - 312) < 1.5
    assert 25 < s.tau_iterations < 60
    assert s.late_mb_per_iter < 0.7 * s.early_mb_per_iter
    assert not s.levelled_off and s.more_iterations > 0
    assert s.level_off_iteration > 50
    assert r.evidence[0].startswith("growth is slowing") and "more iterations would settle it" in r.evidence[0]


def test_sawtooth_with_a_cold_first_tooth_and_the_same_heap_floor_is_a_plateau():
    """GC every 30 iterations; RSS troughs 83 MB in the cold first tooth and ~92 MB after (a
    leak when the first tooth was the baseline); heap in use after every collection 10.8 MB."""
    r = analyse("sawtooth_cold_first_tooth.jsonl")
    assert r.verdict == "plateau" and r.evidence_basis == HEAP_FLOOR
    hf = r.heap_floor
    assert [f.iteration for f in hf.floors] == [31, 61, 91]
    assert {f.floor_mb for f in hf.floors} == {10.8}
    assert r.envelope.cold_first_tooth_excluded
    assert r.rss_verdict == "plateau"
    assert "the same floor every time" in r.evidence[0]


def test_sawtooth_whose_heap_floor_rises_is_a_leak():
    r = analyse("sawtooth_floor_rises.jsonl")
    assert r.verdict == "leak" and r.evidence_basis == HEAP_FLOOR
    hf = r.heap_floor
    assert [f.floor_mb for f in hf.floors] == [14.8, 18.8, 22.8]
    assert hf.climb_mb == 8.0 and hf.consistent and hf.relevant
    assert "every collection leaves more live heap behind" in r.evidence[0]


def test_noisy_ramps_are_not_cut_into_a_pool_step():
    """PELT cuts a noisy leak into a few steps; the levels must beat a line by BIC and the flat
    tail must hold, or the leak stays a leak (a fading approach with +0.4 MB/iter under it)."""
    rng = np.random.default_rng(5)
    leaks = 0
    for _ in range(20):
        k = np.arange(80)
        y = np.concatenate([np.linspace(500, 1850, 8), 2000 - 150 * np.exp(-k / 4) + 0.4 * k + rng.normal(0, 5, 80)])
        df = pd.DataFrame({"iteration": np.arange(1, y.size + 1), "rss": (y * MB).astype(np.int64)})
        r = analyze_series(df)
        leaks += r.verdict == "leak"
        assert r.verdict != "plateau"
    assert leaks >= 19


# --- the collection probe -------------------------------------------------------------------

def test_probe_records_are_not_iterations():
    df = load_series(SERIES / "loop_it20.jsonl")
    raw = records("loop_it20.jsonl")
    assert len(raw) == 22 and [r.get("probe") for r in raw[-2:]] == ["gc_collect", "malloc_trim"]
    assert len(df) == 20 and df["iteration"].tolist() == list(range(1, 21))
    assert [p["probe"] for p in df.attrs["probes"]] == ["gc_collect", "malloc_trim"]
    r = analyze_series(df)
    assert r.n == 20 and r.iterations == Span(1, 20)
    assert {m: row.iterations for m, row in r.per_model.items()} == {"0.6b": 10, "1.7b": 10}
    assert sum(p.n for p in r.phases) == 20 and len(r.points) == 20
    assert len(list(rundir.iter_records(SERIES / "loop_it20.jsonl"))) == 20     # readers skip them by default
    assert r.probe.heap_after_gc_mb == round(raw[-2]["heap_in_use"] / MB, 3)
    assert r.probe.rss_after_trim_mb == round(raw[-1]["rss"] / MB, 3)


def test_a_run_without_probe_records_still_works():
    r = analyse("demo_twins_reload_50.jsonl")
    assert r.probe is None and r.n == 50
    assert load_series(SERIES / "demo_twins_reload_50.jsonl").attrs["probes"] == []


def test_a_csv_probe_row_is_kept_apart(tmp_path):
    p = tmp_path / "s.csv"
    rows = ["iteration,rss,heap_in_use,probe"] + [f"{i},{(100 + 2 * i) * MB},{(10 + 2 * i) * MB}," for i in
                                                  range(1, 21)] + [f",{110 * MB},{10 * MB},gc_collect"]
    p.write_text("\n".join(rows) + "\n")
    df = load_series(p)
    assert len(df) == 20 and "probe" not in df.columns
    r = analyze_series(df)
    assert r.verdict == "plateau" and r.evidence_basis == PROBE and r.rss_verdict == "leak"


def test_the_default_loop_at_20_iterations_is_settled_by_the_collection_probe():
    """No GC ran in 20 iterations: RSS rises +1.74 MB/iteration (a leak by its shape); after the
    probe's gc.collect() heap in use is back under where it started: garbage, plateau."""
    raw = records("loop_it20.jsonl")
    r = analyse("loop_it20.jsonl")
    assert r.rss_verdict == "leak"
    assert r.verdict == "plateau" and r.evidence_basis == PROBE
    assert r.probe.heap_after_gc_mb <= raw[0]["heap_in_use"] / MB + r.heap_floor.tolerance_mb
    assert r.evidence[0].startswith("collection probe: heap in use after the full collection")
    assert "garbage waiting for Python's cyclic collector" in r.evidence[0]


REAL_LOOPS = ["loop_it20.jsonl", "loop_it50.jsonl", "loop_it100.jsonl", "loop_it120.jsonl", "loop_it200.jsonl",
              "loop_gc50.jsonl", "loop_reset50.jsonl", "loop_memray20.jsonl", "loop_smol80.jsonl"]


@pytest.mark.parametrize("name", REAL_LOOPS)
def test_the_default_loop_is_never_a_leak(name):
    """The real default loop (scripts/make_loop_series.sh) at 20 to 200 iterations, with
    --collect-garbage and with --strategy reset: plateau, on the heap floor or the probe."""
    if not (SERIES / name).exists():
        pytest.fail(f"{name} missing: scripts/make_loop_series.sh makes it")
    r = analyse(name)
    assert r.verdict == "plateau", r.evidence[:2]
    assert r.evidence_basis in (HEAP_FLOOR, PROBE)
    assert r.probe is not None
    if r.heap_floor.reclaims:
        assert r.evidence_basis == HEAP_FLOOR
    else:
        assert r.evidence_basis == PROBE


# --- the run verdict: site timeline first ---------------------------------------------------

@pytest.fixture(scope="module")
def no_growing_site(rules):
    """The planted heaptrack capture without its two leaking functions: no site grows."""
    raw = load_capture(DATA / "heaptrack" / "planted.zst",
                       boundaries=boundaries(DATA / "heaptrack" / "planted.iterations.jsonl"))
    t = triage_capture(raw, rules)
    t.sites = t.sites[~t.sites["function"].isin(["leak_lost", "leak_reachable"])].reset_index(drop=True)
    return t


def _first(name, n):
    df = pd.DataFrame(records(name)[:n])
    return analyze_series(df)


def test_no_growing_site_outweighs_garbage_on_the_rss_line(no_growing_site):
    """`memprof memray`'s default-run case: the first 20 iterations of the default loop (no GC yet,
    no probe recorded): the RSS line says leak; the capture finds no growing site: not a leak, and
    the growth is named (heap in use no site holds: garbage awaiting the collector)."""
    series = _first("demo_twins_reload_50.jsonl", 20)
    assert series.verdict == "leak" and series.evidence_basis == RSS
    v = run_verdict(series, [no_growing_site])
    assert v.verdict == "inconclusive"
    assert v.evidence_basis == "site timeline"
    assert v.growth_named.part == "heap_in_use_mb"
    assert "objects awaiting Python's cyclic garbage collector" in v.basis_sentence
    assert "would settle it" in v.basis_sentence and v.evidence[0] == v.basis_sentence
    assert v.explained.startswith("No allocation site leaks, yet RSS grows")


def test_no_growing_site_and_allocator_retention_is_a_plateau(no_growing_site):
    """RSS rises because glibc keeps freed memory (heap in use flat): no site grows: plateau,
    named allocator retention."""
    n = 40
    k = np.arange(n)
    free = 20 + 1.0 * k
    df = pd.DataFrame({"iteration": k + 1, "rss": ((30 + 50 + free + 10) * MB).astype(np.int64),
                       "rss_anon": ((50 + free + 10) * MB).astype(np.int64), "rss_file": np.full(n, 30 * MB),
                       "heap_in_use": np.full(n, 50 * MB), "heap_free_retained": (free * MB).astype(np.int64)})
    series = analyze_series(df)
    assert series.verdict == "leak"
    v = run_verdict(series, [no_growing_site])
    assert v.verdict == "plateau" and v.evidence_basis == "site timeline"
    assert v.growth_named.part == "heap_free_retained_mb"
    assert "allocator retention" in v.basis_sentence


def test_no_growing_site_with_the_probe_is_a_plateau(no_growing_site):
    series = analyse("loop_it20.jsonl")
    v = run_verdict(series, [no_growing_site])
    assert v.verdict == "plateau" and v.evidence_basis == "site timeline"
    assert "collection probe" in v.basis_sentence


def test_growing_sites_outrank_a_plateau_series(rules):
    raw = load_capture(DATA / "heaptrack" / "planted.zst",
                       boundaries=boundaries(DATA / "heaptrack" / "planted.iterations.jsonl"))
    v = run_verdict(analyse("sawtooth_cold_first_tooth.jsonl"), [triage_capture(raw, rules)])
    assert v.verdict == "leak" and v.evidence_basis == "site timeline"
    assert v.basis_sentence.startswith("site timeline: 2 site(s) whose live bytes keep growing (leak_lost")


def test_memcheck_records_are_named_as_such(rules):
    t = triage_capture(load_capture(DATA / "memcheck" / "planted_all.xml"), rules, iterations=5)
    v = run_verdict(None, [t])
    assert v.verdict == "leak" and v.evidence_basis == "capture leak records"


def test_a_series_alone_keeps_its_basis():
    v = run_verdict(analyse("loop_it20.jsonl"), [])
    assert v.verdict == "plateau" and v.evidence_basis == PROBE


def test_a_climb_outside_the_heap_under_a_steady_heap_floor_is_not_a_plateau():
    """The cold-first-tooth sawtooth plus +0.3 MB/iteration of anonymous memory outside malloc
    (an mmap leak): the heap floor holds, but what it cannot see climbs: inconclusive, saying so."""
    recs = records("sawtooth_cold_first_tooth.jsonl")
    for r in recs:
        extra = int(0.3 * (r["iteration"] - 1) * MB)
        r["rss"] += extra
        r["rss_anon"] += extra
    s = analyze_series(pd.DataFrame(recs))
    assert s.rss_verdict == "leak" and s.heap_floor.verdict == "plateau"
    assert s.verdict == "inconclusive" and s.evidence_basis == HEAP_FLOOR
    assert "memory outside the malloc heap (mmap'd buffers, file pages) climbs +18.00 MB" in s.evidence[0]


def _capture_growing(rules, slope_bytes):
    """The planted heaptrack capture as a table of one growing site: leak_lost set to `slope_bytes`
    per iteration, leak_reachable left out (a constructed capture table)."""
    raw = load_capture(DATA / "heaptrack" / "planted.zst",
                       boundaries=boundaries(DATA / "heaptrack" / "planted.iterations.jsonl"))
    t = triage_capture(raw, rules)
    t.sites = t.sites[t.sites["function"] != "leak_reachable"].reset_index(drop=True)
    t.sites.loc[t.sites["function"] == "leak_lost", "slope_bytes_per_iter"] = float(slope_bytes)
    return t


def test_memray_default_run_garbage_growing_over_the_boundaries_is_collected_by_the_probe(rules):
    """`memprof memray --iterations 20 --max-tokens 4` (loop_memray20.jsonl is its iterations.jsonl):
    no GC ran, so memray's timeline sees llama_sampler_sample grow 1,823,232 B/iteration (it said LEAK);
    the probe's gc.collect() freed 34.79 MB of heap in use, back under its floor: plateau."""
    series = analyse("loop_memray20.jsonl")
    assert series.verdict == "plateau" and series.evidence_basis == PROBE
    v = run_verdict(series, [_capture_growing(rules, 1823232)])
    assert v.verdict == "plateau" and v.evidence_basis == PROBE
    assert [d.function for d in v.collected_by_probe] == ["leak_lost"] and v.leaking_sites == ()
    assert "gave back 34.79 MB of heap in use" in v.basis_sentence
    assert v.explained.startswith("No leak: the 1 site(s) that grew over the iteration boundaries")


def test_a_small_leak_beside_the_garbage_the_probe_freed_is_not_excused(rules):
    """The same series with the planted capture's real leaks (48 KiB/iteration): what they grew is
    a sliver of what the probe freed, so the probe does not explain them: leak."""
    raw = load_capture(DATA / "heaptrack" / "planted.zst",
                       boundaries=boundaries(DATA / "heaptrack" / "planted.iterations.jsonl"))
    v = run_verdict(analyse("loop_memray20.jsonl"), [triage_capture(raw, rules)])
    assert v.verdict == "leak" and v.collected_by_probe == ()


def test_heap_in_use_all_zero_under_valgrind_is_no_heap_evidence():
    # `memprof valgrind --quick` (massif): Valgrind's malloc replaces glibc's, so mallinfo2 reports 0
    # in every record and in the probe; a floor of 0 "held" is no evidence of a plateau
    r = analyse("valgrind_quick_massif.jsonl")
    assert r.heap_floor is None
    assert r.probe is None or r.probe.heap_after_gc_mb is None
    assert r.evidence_basis == "rss shape"
    assert r.verdict == r.rss_verdict


def test_a_capture_without_a_timeline_does_not_outweigh_a_leaking_series(rules):
    # memcheck's records at exit cannot see growth during the run (a pool freed at exit, a leak still
    # reachable and freed at shutdown): "nothing leaks at exit" leaves the series' leak standing
    t = triage_capture(load_capture(DATA / "memcheck" / "planted_all.xml"), rules, iterations=5)
    t.sites = t.sites[~t.sites["verdict"].isin(["leak", "unknown"])].reset_index(drop=True)
    series = analyse("slow_leak.csv")
    assert series.verdict == "leak"
    v = run_verdict(series, [t])
    assert v.verdict == "leak" and v.evidence_basis == series.evidence_basis
