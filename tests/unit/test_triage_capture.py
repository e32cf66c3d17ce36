"""triage_capture and run_verdict on the real committed captures of the planted workload.

The planted program (tests/workloads/planted.c) has one behaviour per function,
so every backend's verdict per site has a known answer:
leak_lost -> leak, leak_reachable -> leak, pool_acquire -> pool,
init_once -> init-once, scratch_work -> transient (memcheck cannot see it).
Byte figures are checked against the tools' own outputs stored beside the
captures (heaptrack_print, its flame-graph lines, ms_print, Valgrind's log).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from profiler.parsers import load_capture
from profiler.triage import run_verdict, triage_capture
from testkit import boundaries

DATA = Path(__file__).parent.parent / "data"
KiB = 1024
EXPECTED = {"leak_lost": "leak", "leak_reachable": "leak", "pool_acquire": "pool",
            "init_once": "init-once", "scratch_work": "transient"}


@pytest.fixture(scope="module")
def heaptrack(rules):
    raw = load_capture(DATA / "heaptrack" / "planted.zst",
                       boundaries=boundaries(DATA / "heaptrack" / "planted.iterations.jsonl"))
    return raw, triage_capture(raw, rules)


@pytest.fixture(scope="module")
def massif(rules):
    raw = load_capture(DATA / "massif" / "planted.massif.out",
                       boundaries=boundaries(DATA / "massif" / "planted.massif.iterations.jsonl"))
    return raw, triage_capture(raw, rules)


@pytest.fixture(scope="module")
def memcheck(rules):
    raw = load_capture(DATA / "memcheck" / "planted_all.xml")
    return raw, triage_capture(raw, rules, iterations=5)   # the fixture ran `planted 5`


def site(cap, function):
    rows = cap.sites[cap.sites["function"] == function]
    assert len(rows) == 1, (function, cap.sites["function"].tolist())
    return rows.iloc[0]


def verdicts(cap) -> dict:
    return {fn: site(cap, fn)["verdict"] for fn in EXPECTED if (cap.sites["function"] == fn).any()}


# --- heaptrack -------------------------------------------------------------------------

def test_heaptrack_verdicts(heaptrack):
    _, t = heaptrack
    assert verdicts(t) == EXPECTED
    assert site(t, "leak_lost")["slope_bytes_per_iter"] == 32 * KiB
    assert site(t, "leak_reachable")["slope_bytes_per_iter"] == 16 * KiB
    assert site(t, "pool_acquire")["slope_bytes_per_iter"] == 0
    assert site(t, "init_once")["slope_bytes_per_iter"] == 0
    assert "Theil-Sen" in site(t, "leak_lost")["evidence"]
    assert "flat for the last 8 iterations" in site(t, "pool_acquire")["evidence"]
    assert "at iteration 1 in one step" in site(t, "init_once")["evidence"]
    assert "never live at an iteration boundary (peak 128 KiB)" in site(t, "scratch_work")["evidence"]
    # glibc's stdio buffers (fopen/fread per iteration) are freed again; libstdc++'s
    # emergency exception pool is allocated once while the loader runs constructors
    assert site(t, "__fopen_internal")["verdict"] == "transient"
    assert site(t, "__fopen_internal")["category"] == "libc"
    pool = t.sites[t.sites["site"].str.startswith("??? (in ")].iloc[0]
    assert pool["site"].endswith("libstdc++.so.6) <- call_init")
    assert (pool["verdict"], pool["category"], pool["peak_bytes"]) == ("init-once", "libc", 72704)
    assert set(t.sites.loc[t.sites["function"].isin(list(EXPECTED)), "category"]) == {"unknown"}


def test_heaptrack_merge_keeps_every_byte(heaptrack):
    raw, t = heaptrack
    # 10 stacks, 8 sites: fopen and fread inside since_start are called from two lines each
    assert (len(raw.sites), len(t.sites)) == (10, 8)
    assert site(t, "__fopen_internal")["n_stacks"] == 2
    assert site(t, "__fopen_internal")["alloc_count"] == 13
    # sums agree with heaptrack_print: "total memory leaked: 954.37K", "peak heap memory consumption: 1.16M"
    printed = (DATA / "heaptrack" / "planted.print.txt").read_text()
    assert "total memory leaked: 954.37K" in printed and "peak heap memory consumption: 1.16M" in printed
    assert int(t.sites["live_bytes_end"].sum()) == raw.totals["leaked_bytes"] == 954368
    assert int(t.sites["peak_bytes"].sum()) == raw.totals["peak_heap_bytes"] == 1158144
    assert int(t.sites["alloc_count"].sum()) == raw.totals["calls"] == 68
    # per-site peaks are heaptrack_print's flame-graph figures (--flamegraph-cost-type peak)
    flame = {}
    for line in (DATA / "heaptrack" / "planted.flame_peak.txt").read_text().splitlines():
        stack, value = line.rsplit(" ", 1)
        flame[re.sub(r" \(.*", "", stack.rstrip(";").split(";")[-1])] = int(value)
    for fn in EXPECTED:
        assert site(t, fn)["peak_bytes"] == flame[fn], fn
    # the merged timeline is the sum of its stacks' timelines, slice by slice
    tl = t.timeline
    assert sorted(tl["slice"].unique()) == list(range(1, 13))
    lost = tl[tl["site_id"] == site(t, "leak_lost")["site_id"]].sort_values("slice")["live_bytes"].tolist()
    assert lost == [32 * KiB * i for i in range(1, 13)]
    assert tl.groupby("slice")["live_bytes"].sum().equals(raw.timeline.groupby("slice")["live_bytes"].sum())


# --- massif ----------------------------------------------------------------------------

def test_massif_verdicts(massif):
    raw, t = massif
    assert verdicts(t) == EXPECTED
    assert site(t, "leak_lost")["slope_bytes_per_iter"] == 32 * KiB
    assert site(t, "leak_reachable")["slope_bytes_per_iter"] == 16 * KiB
    # ms_print: the peak snapshot holds 1,085,440 useful heap bytes; the sites at the peak add up to it
    assert "1,085,440" in (DATA / "massif" / "planted.massif.out.ms_print.txt").read_text()
    assert int(t.sites["peak_bytes"].sum()) == raw.totals["peak_heap_bytes"] == 1085440
    assert int(t.sites["live_bytes_end"].sum()) == raw.totals["end_heap_bytes"] == 954368
    assert t.sites["alloc_count"].isna().all()         # massif does not count calls
    assert site(t, "_IO_file_doallocate")["category"] == "libc"


# --- memcheck --------------------------------------------------------------------------

def test_memcheck_verdicts_with_iteration_count(memcheck):
    raw, t = memcheck
    got = verdicts(t)
    assert got == {k: v for k, v in EXPECTED.items() if k != "scratch_work"}   # freed: memcheck cannot see it
    assert site(t, "leak_lost")["leak_kind"] == "definite"
    assert site(t, "leak_reachable")["leak_kind"] == "reachable"
    assert "1 per iteration over 5 iterations" in site(t, "leak_reachable")["evidence"]
    assert "heuristic" in site(t, "leak_reachable")["evidence"]
    assert "4 blocks, fewer than the 5 iterations" in site(t, "pool_acquire")["evidence"]
    assert site(t, "leak_lost")["slope_bytes_per_iter"] == 32 * KiB
    assert site(t, "leak_reachable")["slope_bytes_per_iter"] == 16 * KiB
    # Valgrind's own LEAK SUMMARY for the same run
    log = (DATA / "memcheck" / "planted_all.log").read_text()
    assert re.search(r"definitely lost: 163,840 bytes in 5 blocks", log)
    assert re.search(r"still reachable: 446,464 bytes in 10 blocks", log)
    lost = t.sites[t.sites["leak_kind"] == "definite"]["live_bytes_end"].sum()
    reach = t.sites[t.sites["leak_kind"] == "reachable"]["live_bytes_end"].sum()
    assert (lost, reach) == (163840, 446464)


def test_memcheck_without_iteration_count_says_it_cannot_tell(rules):
    t = triage_capture(load_capture(DATA / "memcheck" / "planted_all.xml"), rules)
    assert site(t, "leak_lost")["verdict"] == "leak"                  # lost is lost
    # a site keeping one more block reachable every iteration is not called init-once: memcheck
    # reports kind, blocks and bytes and says that the growth is unknown without a count
    reach = site(t, "leak_reachable")
    assert reach["verdict"] == "unknown"
    assert reach["evidence"].startswith("still reachable at exit: 80.0 KiB in 5 blocks; growth unknown")
    assert "--scale" in reach["evidence"]
    assert site(t, "init_once")["verdict"] == "unknown"


def test_memcheck_default_leak_kinds(rules):
    # default --show-leak-kinds=definite,possible: the reachable records are absent from the XML
    t = triage_capture(load_capture(DATA / "memcheck" / "planted_default.xml"), rules, iterations=5)
    assert verdicts(t) == {"leak_lost": "leak"}


# --- memray ------------------------------------------------------------------------------
# planted_driver.py --split calls each planted C function from a Python function of the same
# name (tests/data/memray/README.md). planted_python.bin has Python stacks only; in
# planted_native.bin the planted C frames read as unresolved (the .so is gone), so triage names
# them by their Python caller.

def memray(name, rules):
    raw = load_capture(DATA / "memray" / f"{name}.bin",
                       boundaries=boundaries(DATA / "memray" / f"{name}.iterations.jsonl"))
    return raw, triage_capture(raw, rules)


def memray_site(cap, fn):
    rows = cap.sites[cap.sites["site"].str.contains(f"{fn} (tests/workloads/planted_driver.py:", regex=False)]
    assert len(rows) == 1, (fn, rows["site"].tolist())
    return rows.iloc[0]


@pytest.mark.parametrize("name,prefix", [("planted_python", ""), ("planted_native", "??? <- ")])
def test_memray_verdicts(rules, name, prefix):
    raw, t = memray(name, rules)
    got = {fn: memray_site(t, fn)["verdict"] for fn in EXPECTED}
    assert got == EXPECTED
    assert memray_site(t, "leak_lost")["site"].startswith(prefix + "leak_lost (")
    assert memray_site(t, "leak_lost")["slope_bytes_per_iter"] == 32 * KiB
    assert memray_site(t, "leak_reachable")["slope_bytes_per_iter"] == 16 * KiB
    assert memray_site(t, "init_once")["live_bytes_end"] == 100 * KiB
    assert memray_site(t, "scratch_work")["peak_bytes"] == 128 * KiB
    # a script's own Python frames are not "the Python runtime": judged by growth alone
    assert {memray_site(t, fn)["category"] for fn in EXPECTED} == {"unknown"}
    # `memray stats --json`: 551 allocations; the sites add up to memray's peak and leaked bytes
    stats = json.loads((DATA / "memray" / f"{name}.stats.json").read_text())
    assert stats["total_num_allocations"] == 551 == int(t.sites["alloc_count"].sum())
    assert int(t.sites["peak_bytes"].sum()) == raw.totals["peak_memory_bytes"] == 908734
    assert int(t.sites["live_bytes_end"].sum()) == raw.totals["leaked_bytes"] == 777630
    v = run_verdict(None, [t])
    assert v.verdict == "leak"
    assert [d.site for d in v.leaking_sites] == [memray_site(t, "leak_lost")["site"],
                                                      memray_site(t, "leak_reachable")["site"]]
    # the interpreter's own allocations (imports, code objects, dicts) are python and never leak
    py = t.sites[t.sites["category"] == "python"]
    assert len(py) > 20 and set(py["verdict"]) <= {"init-once", "transient", "pool"}


def test_memray_native_merges_the_interpreter_by_function(rules):
    raw, t = memray("planted_native", rules)
    # 443 native stacks, 33 sites once the allocator layers (PyObject_Malloc, ...) are plumbing
    assert int(t.sites["n_stacks"].sum()) == len(raw.sites)
    assert len(t.sites) < len(raw.sites) / 10
    # memray's native frames carry CPython's and glibc's source files, no object: the
    # interpreter's own sites are python by function name or by source file
    planted = t.sites["site"].str.contains("planted_driver.py")
    assert planted.sum() == 5
    assert set(t.sites.loc[~planted, "category"]) == {"python"}
    assert site(t, "list_resize")["category"] == "python"


# --- run verdict -----------------------------------------------------------------------

@pytest.mark.parametrize("fixture", ["heaptrack", "massif", "memcheck"])
def test_run_verdict_names_the_leaks(request, fixture):
    _, t = request.getfixturevalue(fixture)
    v = run_verdict(None, [t])
    assert v.verdict == "leak"
    names = [d.function for d in v.leaking_sites]
    assert names == ["leak_lost", "leak_reachable"]
    assert [d.slope_bytes_per_iter for d in v.leaking_sites] == [32 * KiB, 16 * KiB]
    assert "leak_lost" in v.explained and "leak_reachable" in v.explained
    assert v.growth_by_category["unknown"] == 48 * KiB
    assert type(v).from_json(json.loads(json.dumps(v.to_json()))) == v   # goes into analysis.json and back


def test_run_verdict_peak_by_category(heaptrack, massif):
    v = run_verdict(None, [heaptrack[1]])
    assert v.peak_by_category == {"unknown": 1158144 - 72704, "libc": 72704}
    assert "heaptrack heap peak 1.1 MiB: unknown" in " ".join(v.evidence)
    v = run_verdict(None, [massif[1]])
    assert sum(v.peak_by_category.values()) == 1085440


def test_run_verdict_joins_a_growing_series(heaptrack):
    from profiler import analysis

    series = analysis.analyze_series(analysis.load_series(DATA / "series" / "slow_leak.csv"))
    assert series.verdict == "leak"
    v = run_verdict(series, [heaptrack[1]])
    assert v.verdict == "leak"
    outside = v.growth_outside_sites_mb_per_iter
    # the planted leaks add 48 KiB/iteration; the series grows by far more: the rest is outside any site
    assert outside == pytest.approx(series.slope_mb_per_iter - 48 / 1024, rel=1e-3) or \
        outside == pytest.approx(series.late_phase.theil_sen_mb_per_iter - 48 / 1024, rel=1e-3)
    assert any("OUTSIDE any live site" in e for e in v.evidence)


def test_run_verdict_plateau_series_without_leaking_sites(rules):
    from profiler import analysis

    series = analysis.analyze_series(analysis.load_series(DATA / "series" / "plateau_noise.csv"))
    assert series.verdict == "plateau"
    # the capture without its leaks: only what planted keeps or reuses
    raw = load_capture(DATA / "heaptrack" / "planted.zst",
                       boundaries=boundaries(DATA / "heaptrack" / "planted.iterations.jsonl"))
    t = triage_capture(raw, rules)
    t.sites = t.sites[~t.sites["function"].isin(["leak_lost", "leak_reachable"])].reset_index(drop=True)
    v = run_verdict(series, [t])
    assert v.verdict == "plateau"
    assert v.leaking_sites == () and v.growth_outside_sites_mb_per_iter is None
    assert v.explained.startswith("No site keeps growing (1 pool site(s) plateau)")


def test_run_verdict_without_anything():
    v = run_verdict(None, [])
    assert v.verdict == "inconclusive" and v.leaking_sites == ()


def test_run_verdict_growth_explained_by_the_sites(heaptrack):
    # an RSS slope the planted leaks account for (48 KiB/iteration = 0.0469 MB of 0.05 MB)
    from dataclasses import replace

    from profiler import analysis
    from profiler.results.series import SeriesAnalysis

    plateau = SeriesAnalysis.from_json(analysis.analyze_series(analysis.load_series(DATA / "series" / "plateau_noise.csv")))
    series = replace(plateau, verdict="leak", slope_mb_per_iter=0.05, slope_ci_mb=(0.04, 0.06))
    v = run_verdict(series, [heaptrack[1]])
    assert v.growth_outside_sites_mb_per_iter is None
    assert v.evidence[-1] == ("the leaking sites (unknown) add 0.0469 MB/iteration, 94% of the RSS slope "
                                 "+0.05 MB/iteration: the growth is theirs")


@pytest.mark.parametrize("path", ["heaptrack/planted.zst", "triage/planted5.zst", "massif/planted.massif.out",
                                  "memray/planted_python.bin"])
def test_time_slices_without_markers(rules, path):
    """A capture made elsewhere has no iteration markers: the parsers cut time slices, the process
    idles after its loop, and triage judges the active part only (else every leak is a plateau)."""
    t = triage_capture(load_capture(DATA / path), rules)
    assert t.triage.timeline_unit == "slice"
    first, last = t.triage.judged_slices
    assert last < int(t.timeline["slice"].max())        # the idle tail was left out
    got = {}
    for fn in EXPECTED:
        rows = t.sites[t.sites["site"].str.startswith(fn + " (")]
        assert len(rows) == 1, fn
        got[fn] = rows.iloc[0]["verdict"]
    assert got == EXPECTED
    assert "/slice" in t.sites[t.sites["site"].str.startswith("leak_lost (")].iloc[0]["evidence"]


def test_growth_freed_only_at_teardown_is_a_leak(rules):
    """templated.cpp keeps every buffer it makes in a loop and deletes them all after the loop:
    massif's last snapshot shows them freed, but during the work they only grew (the shape the
    design notes describe: released before the process ends, so an at-exit report misses it)."""
    raw = load_capture(DATA / "massif" / "templated.massif.out")
    t = triage_capture(raw, rules)
    by = {s.split(" (")[0].split("(")[0]: v for s, v in zip(t.sites["site"], t.sites["verdict"])}
    assert by["Buffer"] == "leak"
    assert by["memprof_demo::detail::Cache<std::pair<int, long>, double>::fill"] == "leak"
    assert t.triage.judged_slices[1] < int(raw.timeline["slice"].max())
    buf = t.sites[t.sites["site"].str.startswith("Buffer (")].iloc[0]
    assert buf["live_bytes_end"] == 0 and buf["peak_bytes"] == 512 * KiB


@pytest.mark.parametrize("capture", ["triage/llama_switch.zst", "memray/planted_python.bin", "massif/probe.massif.out"])
def test_merged_timeline_on_the_grid_equals_the_pandas_groupby(rules, capture):
    # integer timelines merge on a dense numpy grid; anything else goes through pandas: both give
    # the same table, NaN times included
    from profiler.triage import naming

    raw = load_capture(DATA / capture)
    sites = naming.rename(raw.sites, rules)
    merged, tl, id_map = naming.merge(sites, raw.timeline)
    assert len(merged) < len(raw.sites) and len(tl) < len(raw.timeline)
    odd = raw.timeline.astype({"site_id": "float64"})          # not integers: the pandas path
    assert naming._dense_timeline(odd, id_map) is None
    assert naming._merge_timeline(odd, id_map).equals(tl)
    holes = raw.timeline.copy()
    holes.loc[holes.index[::3], "t"] = float("nan")
    grid = naming._dense_timeline(holes, id_map)
    assert grid is not None and grid.equals(naming._merge_timeline(holes.astype({"site_id": "float64"}), id_map))
    assert tl.groupby("slice")["live_bytes"].sum().equals(raw.timeline.groupby("slice")["live_bytes"].sum())
