"""massif parser on real Valgrind 3.19 captures (scripts/make_fixtures.sh), checked against ms_print.

ms_print's output beside each capture is the oracle: its table row of the peak
snapshot (total, useful-heap, extra-heap), the graph's top (the largest total),
the snapshot count and the list of detailed snapshots.
"""
from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from profiler import symbols
from profiler.errors import BadCapture
from profiler.parsers import detect, load_capture
from profiler.parsers import massif
from profiler.parsers.massif import parse_label
from testkit import boundaries as read_boundaries
from testkit import need

DATA = Path(__file__).parent.parent / "data" / "massif"
HEAPTRACK = Path(__file__).parent.parent / "data" / "heaptrack"
KiB = 1024
VALGRIND_FIXTURES = ["planted", "marked", "llama_switch", "pages", "templated", "bytes", "stripped", "fall"]


def ms_print(name: str) -> dict:
    """The figures ms_print printed for fixture `name`."""
    text = (DATA / f"{name}.massif.out.ms_print.txt").read_text()
    lines = text.splitlines()
    out = {"snapshots": int(re.search(r"Number of snapshots: (\d+)", text).group(1))}
    detailed = re.search(r"Detailed snapshots: \[([^\]]*)\]", text).group(1)
    out["detailed"] = [int(x.split()[0]) for x in detailed.split(", ")]
    out["peak"] = next(int(x.split()[0]) for x in detailed.split(", ") if "peak" in x)
    for i, line in enumerate(lines):
        m = re.match(r"^([0-9.]+)\^", line)
        if m:
            unit = lines[i - 1].strip()
            out["graph_top"] = (m.group(1), {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[unit])
            break
    rows = {}
    for line in lines:
        m = re.match(r"^\s+(\d+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s*$", line)
        if m:
            n, _, total, useful, extra, stacks = (int(g.replace(",", "")) for g in m.groups())
            rows[n] = (total, useful, extra, stacks)
    out["rows"] = rows
    return out


def boundaries():
    return read_boundaries(DATA / "planted.massif.iterations.jsonl")


@pytest.fixture(scope="module")
def planted():
    return load_capture(DATA / "planted.massif.out")


def site(cap, function):
    rows = cap.sites[cap.sites["function"] == function]
    assert len(rows) == 1, (function, rows["site"].tolist())
    return rows.iloc[0]


# --- totals against ms_print ------------------------------------------------------------------

@pytest.mark.parametrize("name", VALGRIND_FIXTURES)
def test_totals_equal_ms_print(name):
    cap = load_capture(DATA / f"{name}.massif.out")
    ms = ms_print(name)
    assert cap.totals["snapshots"] == ms["snapshots"]
    assert cap.totals["detailed_snapshots"] == len(ms["detailed"])
    # the peak is the largest useful heap of any snapshot (massif's marked peak is approximate)
    largest = max(r[1] for r in ms["rows"].values())
    assert cap.totals["peak_heap_bytes"] == largest
    total, useful, extra, _ = ms["rows"][cap.meta["peak_snapshot"]]
    assert cap.totals["peak_heap_bytes"] == useful
    assert cap.totals["peak_heap_extra_bytes"] == extra
    # the graph's top is the largest total (heap + extra + stacks), printed to 4 significant digits
    label, unit = ms["graph_top"]
    decimals = len(label.split(".")[1]) if "." in label else 0
    assert f"{cap.totals['peak_total_bytes'] / unit:.{decimals}f}" == label
    assert cap.totals["peak_total_bytes"] == max(r[0] for r in ms["rows"].values())


def test_planted_totals_exact(planted):
    assert planted.totals == {
        "peak_heap_bytes": 1085440, "peak_heap_extra_bytes": 240, "peak_total_bytes": 1085680,
        "end_heap_bytes": 954368, "snapshots": 69, "detailed_snapshots": 69, "time_unit": "ms",
    }


@pytest.mark.parametrize("function, live_end, peak", [
    ("leak_lost", 12 * 32 * KiB, 12 * 32 * KiB),
    ("leak_reachable", 12 * 16 * KiB, 12 * 16 * KiB),
    ("pool_acquire", 256 * KiB, 256 * KiB),
    ("scratch_work", 0, 128 * KiB),
    ("init_once", 100 * KiB, 100 * KiB),
])
def test_planted_sites(planted, function, live_end, peak):
    row = site(planted, function)
    assert row["live_bytes_end"] == live_end
    assert row["peak_bytes"] == peak
    assert math.isnan(row["alloc_count"])
    assert row["backend"] == "massif"
    assert row["stack"][0].file == "planted.c" and row["stack"][-1].function == "main"


def test_sites_add_up_to_the_snapshots(planted):
    # leaves of a massif tree sum to its root: the last and the peak snapshot
    assert planted.sites["live_bytes_end"].sum() == planted.totals["end_heap_bytes"]
    assert planted.sites["peak_bytes"].sum() == planted.totals["peak_heap_bytes"]


def test_timeline_at_iteration_boundaries():
    cap = load_capture(DATA / "planted.massif.out", boundaries=boundaries())
    tl = cap.timeline

    def series(function):
        sid = site(cap, function)["site_id"]
        return tl[tl["site_id"] == sid].sort_values("slice")["live_bytes"].tolist()

    assert sorted(tl["slice"].unique()) == list(range(1, 13))
    assert series("leak_lost") == [32 * KiB * i for i in range(1, 13)]
    assert series("pool_acquire") == [64 * KiB * min(i, 4) for i in range(1, 13)]
    assert series("scratch_work") == [0] * 12
    assert "iteration boundaries" in cap.meta["timeline"]


def test_timeline_without_boundaries_is_per_detailed_snapshot(planted):
    tl = planted.timeline
    assert sorted(tl["slice"].unique()) == ms_print("planted")["detailed"]
    last = tl[tl["slice"] == 68].set_index("site_id")["live_bytes"]
    assert (last == planted.sites.set_index("site_id")["live_bytes_end"]).all()
    last_time = int(re.findall(r"^time=(\d+)$", (DATA / "planted.massif.out").read_text(), re.M)[-1])
    assert tl["t"].max() == pytest.approx(last_time / 1000)


# --- C++ names, time units, pages-as-heap -------------------------------------------------------

def test_cxx_names_with_spaces_commas_brackets():
    cap = load_capture(DATA / "templated.massif.out")
    frames = {f.function: f for stack in cap.sites["stack"] for f in stack}
    fill = "memprof_demo::detail::Cache<std::pair<int, long>, double>::fill(std::pair<int, long> const&, unsigned long)"
    assert fill in frames and frames[fill].file == "templated.cpp" and frames[fill].line == 15
    mk = ("memprof_demo::Buffer* memprof_demo::make_buffers<48>(std::vector<memprof_demo::Buffer*, "
          "std::allocator<memprof_demo::Buffer*> >&)")
    assert frames[mk].line == 27
    # the 48 KiB buffers: 8 of them live at the peak, none at the end
    rows = cap.sites[[any(f.function == mk for f in s) for s in cap.sites["stack"]]]
    assert rows["peak_bytes"].sum() == 8 * 48 * KiB and rows["live_bytes_end"].sum() == 0


def test_instruction_time_unit_cannot_align():
    cap = load_capture(DATA / "templated.massif.out", boundaries=[(1, 0.5, 0.0)])
    assert cap.totals["time_unit"] == "i"
    assert "snapshot numbers" in cap.meta["timeline"] and "boundaries ignored" in cap.meta["timeline"]
    assert cap.timeline["t"].isna().all()
    assert sorted(cap.timeline["slice"].unique()) == ms_print("templated")["detailed"]


def test_bytes_time_unit():
    cap = load_capture(DATA / "bytes.massif.out")
    assert cap.totals["time_unit"] == "B" and cap.totals["detailed_snapshots"] == 31


def test_pages_as_heap():
    cap = load_capture(DATA / "pages.massif.out")
    assert cap.meta["pages_as_heap"] is True
    # massif marked snapshot 33 (4,546,560 B) as its peak; ms_print's table shows snapshot 36 larger
    assert cap.totals["peak_heap_bytes"] == 4706304 and cap.meta["peak_snapshot"] == 36
    assert cap.meta["marked_peak_snapshot"] == 33
    # mmap frames are allocator plumbing: sites are named after their callers
    assert not cap.sites["function"].isin(["mmap", "__mmap64"]).any()
    assert (cap.sites["function"] == "_dl_map_segment").any()


def test_end_bytes_scaled_when_the_heap_fell_partly_after_the_last_tree():
    """fall.massif.out (tests/workloads/fall_after_tree.c, scripts/make_own_defect_fixtures.sh): the
    only detailed snapshot is the peak; 48 of 64 4-KiB blocks are freed after it. The sites' live
    bytes at the end add up to ms_print's final heap, not the tree's."""
    cap = load_capture(DATA / "fall.massif.out")
    ms = ms_print("fall")
    end_heap, tree_heap = ms["rows"][max(ms["rows"])][1], ms["rows"][ms["detailed"][-1]][1]
    assert (tree_heap, end_heap) == (327680, 131072) and ms["detailed"] == [ms["peak"]]
    assert cap.meta["end_snapshot"] == ms["detailed"][-1] and cap.totals["end_heap_bytes"] == end_heap
    assert cap.meta["end_sites_scale"] == pytest.approx(end_heap / tree_heap) == 0.4
    # scaled in whole bytes that add up to ms_print's final heap exactly (flooring each site left
    # the sum 1 B under it, and `--scale A,B` with it); each site within a byte of its exact share
    assert int(cap.sites["live_bytes_end"].sum()) == end_heap
    tree_bytes = dict(zip(cap.sites["function"], cap.sites["peak_bytes"]))
    for fn, live in zip(cap.sites["function"], cap.sites["live_bytes_end"]):
        assert abs(live - tree_bytes[fn] * end_heap / tree_heap) < 1
    assert int(cap.sites["peak_bytes"].sum()) == tree_heap
    assert any("scaled by 0.400" in n for n in cap.meta["caveats"])


def test_label_forms():
    f = parse_label("0x4C2DB8F: malloc (vg_replace_malloc.c:299)")
    assert (f.function, f.file, f.line, f.address) == ("malloc", "vg_replace_malloc.c", 299, 0x4C2DB8F)
    f = parse_label("0x48F87B9: ??? (in /usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30)")
    assert f.function is None and f.module == "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30"
    f = parse_label("0x401136: operator()(int) const (in /opt/app)")
    assert f.function == "operator()(int) const" and f.module == "/opt/app"


# --- ??? frames resolved through the ELF symbol table -----------------------------------------

def test_stripped_frames_keep_module_and_address(monkeypatch):
    monkeypatch.delenv("MEMPROF_SYMBOL_PATH", raising=False)
    symbols.clear_cache()
    cap = load_capture(DATA / "stripped.massif.out")
    top = cap.sites.sort_values("peak_bytes").iloc[-1]
    assert top["peak_bytes"] == 172032 and top["function"] is None
    assert top["module"].endswith("/stripped") and top["stack"][0].address == 0x40115D


def test_stripped_frames_resolved_from_unstripped_twin(tmp_path, monkeypatch):
    need("gcc")
    gcc = shutil.which("gcc")
    twin = tmp_path / "stripped"
    # the same command make_fixtures.sh used, minus `strip`: identical addresses
    subprocess.run([gcc, "-O0", "-g", "-no-pie", "-fno-pie", "-o", str(twin), str(DATA / "stripped.c")], check=True)
    monkeypatch.setenv("MEMPROF_SYMBOL_PATH", str(tmp_path))
    symbols.clear_cache()
    try:
        cap = load_capture(DATA / "stripped.massif.out")
    finally:
        symbols.clear_cache()
    top = cap.sites.sort_values("peak_bytes").iloc[-1]
    assert [f.function for f in top["stack"][:3]] == ["grow_table", "build_index", "main"]
    assert top["function"] == "grow_table" and top["module"].endswith("/stripped")
    assert top["peak_bytes"] == sum((i + 1) * 8192 for i in range(6))


# --- heaptrack_print -M files -------------------------------------------------------------------

def test_heaptrack_massif_file():
    assert detect(DATA / "heaptrack_M.massif") == "massif"
    cap = load_capture(DATA / "heaptrack_M.massif")
    assert cap.meta["written_by"] == "heaptrack_print -M" and cap.totals["time_unit"] == "s"
    text = (DATA / "heaptrack_M.massif").read_text()
    assert cap.totals["snapshots"] == text.count("snapshot=")
    # the last snapshot is the live heap at the end: heaptrack's leaked total
    hp = load_capture(HEAPTRACK / "planted.zst")
    assert cap.totals["end_heap_bytes"] == hp.totals["leaked_bytes"] == 954368
    # ms_print refuses this file (header written last); we keep its complaint as the record
    assert "missing 'cmd' line" in (DATA / "heaptrack_M.massif.ms_print.txt").read_text()


# --- bad input ----------------------------------------------------------------------------------

def bad(tmp_path, name, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(BadCapture) as exc:
        load_capture(p)
    msg = str(exc.value)
    assert "\n" not in msg and str(p) in msg
    return msg


def planted_lines():
    return (DATA / "planted.massif.out").read_text().splitlines(keepends=True)


def test_truncated_tree(tmp_path):
    lines = planted_lines()
    # cut right after a node that announces children
    k = next(i for i, l in enumerate(lines) if l.startswith(" n1: 102400 0x") and i > 200)
    # at the end of the file that is a file cut off while written: read up to the snapshot before
    p = tmp_path / "cut.out"
    p.write_text("".join(lines[: k + 1]))
    assert "tree" in load_capture(p).truncated.reason
    # a tree whose last announced child is missing, followed by the next snapshot
    lines = planted_lines()
    j = next(i for i, l in enumerate(lines) if i > 200 and l.startswith(" n0: ") and "below massif" in l
             and lines[i + 1].startswith("#"))
    del lines[j]
    assert f"line {j + 1}: truncated tree" in bad(tmp_path, "hole.out", "".join(lines))
    # a line missing inside a tree: depth jumps
    lines = planted_lines()
    del lines[k + 1]
    assert "truncated tree" in bad(tmp_path, "jump.out", "".join(lines))


def test_bad_number(tmp_path):
    lines = planted_lines()
    k = next(i for i, l in enumerate(lines) if l.startswith("mem_heap_B=") and i > 100)
    lines[k] = "mem_heap_B=12x4\n"
    assert f"line {k + 1}: bad number" in bad(tmp_path, "num.out", "".join(lines))
    lines = planted_lines()
    k = next(i for i, l in enumerate(lines) if l.startswith(" n1: ") and i > 100)
    lines[k] = lines[k].replace(" n1: ", " n1: 1O2", 1)
    assert f"line {k + 1}: malformed tree line" in bad(tmp_path, "tree.out", "".join(lines))


def test_file_ends_inside_snapshot(tmp_path):
    lines = planted_lines()
    k = next(i for i, l in enumerate(lines) if l.startswith("time=") and i > 100)
    p = tmp_path / "end.out"
    p.write_text("".join(lines[: k + 1]))
    assert "the file ends inside snapshot" in load_capture(p).truncated.reason


def test_garbage_and_foreign(tmp_path):
    lines = planted_lines()
    lines.insert(20, "garbage here\n")
    assert "line 21: unexpected line" in bad(tmp_path, "g.out", "".join(lines))
    assert "not a capture" in bad(tmp_path, "t.txt", "hello\nworld\n")
    # snapshots without the header lines (looks like a heaptrack -M file, but has no header at the end)
    assert "no massif header" in bad(tmp_path, "h.out", "".join(planted_lines()[3:]))


def test_sniff():
    head = (DATA / "planted.massif.out").read_bytes()[:4096]
    assert massif.sniff(head, None)
    assert not massif.sniff((HEAPTRACK / "planted.zst").read_bytes()[:4096], None)


# --- in-band iteration markers --------------------------------------------------------------------
# marked.massif.out: planted 12 with its markers (malloc+free of marker_size(i) right after each
# record). massif caught 4 of them alive in a detailed snapshot; they measure the run's clock lag
# (59 ms; the former fixed 120 ms cut only 1 of 12 boundaries right) and place the other 8.

def _marked_bounds():
    return read_boundaries(DATA / "marked.massif.iterations.jsonl")


@pytest.fixture(scope="module")
def marked():
    return load_capture(DATA / "marked.massif.out", boundaries=_marked_bounds())


def _series(cap, function):
    sid = site(cap, function)["site_id"]
    tl = cap.timeline
    return tl[tl["site_id"] == sid].sort_values("slice")["live_bytes"].tolist()


def test_marked_timeline_is_exact_at_every_boundary(marked):
    assert sorted(marked.timeline["slice"].unique()) == list(range(1, 13))
    assert _series(marked, "leak_lost") == [32 * KiB * i for i in range(1, 13)]
    assert _series(marked, "leak_reachable") == [16 * KiB * i for i in range(1, 13)]
    assert _series(marked, "pool_acquire") == [64 * KiB * min(i, 4) for i in range(1, 13)]
    assert _series(marked, "scratch_work") == [0] * 12
    assert _series(marked, "init_once") == [100 * KiB] * 12
    assert marked.meta["markers"] == {"sites": 1, "boundaries_at_markers": 4, "boundaries": 12,
                                      "clock_lag_s": 0.059}
    assert marked.meta["timeline_unit"] == "iteration"
    assert "measured by the in-band markers" in marked.meta["timeline"]


def test_marked_capture_needed_its_markers(monkeypatch):
    # the same capture cut by the former fixed 120 ms lag alone: 11 of 12 boundaries an iteration off
    real = massif._find_markers
    monkeypatch.setattr(massif, "_find_markers", lambda *a: (real(*a)[0], {}, None))
    monkeypatch.setattr(massif, "VALGRIND_CLOCK_LAG_S", 0.12)
    cap = load_capture(DATA / "marked.massif.out", boundaries=_marked_bounds())
    leak = _series(cap, "leak_lost")
    assert sum(v == 32 * KiB * i for i, v in enumerate(leak, 1)) == 1
    # the markers it caught measure this run's lag: 59 ms
    monkeypatch.setattr(massif, "_find_markers", real)
    assert load_capture(DATA / "marked.massif.out", boundaries=_marked_bounds()).meta["markers"]["clock_lag_s"] == 0.059


def test_marker_site_left_out_of_the_sites_table(marked):
    assert "iteration_marker" not in set(marked.sites["function"])
    assert set(marked.timeline["site_id"]) == set(marked.sites["site_id"])
    text = (DATA / "marked.massif.out").read_text()
    assert "iteration_marker" in text          # massif did record it
    plain = load_capture(DATA / "marked.massif.out")
    assert "iteration_marker" not in set(plain.sites["function"])
    assert plain.meta["timeline_unit"] == "slice"


def test_timeline_unit_of_unmarked_and_unalignable_captures(planted):
    cap = load_capture(DATA / "planted.massif.out", boundaries=boundaries())
    assert cap.meta["timeline_unit"] == "iteration" and cap.meta["markers"]["boundaries_at_markers"] == 0
    assert cap.meta["markers"]["clock_lag_s"] is None
    assert planted.meta["timeline_unit"] == "slice"
    instr = load_capture(DATA / "templated.massif.out", boundaries=boundaries())
    assert instr.meta["timeline_unit"] == "slice"


# --- a real switch loop: iterations that end by unloading --------------------------------------
# llama_switch.massif.out: tests/data/triage/llama_switch.c under massif (libllama, tiny twins,
# 4 iterations). Each iteration frees its model, context and the scheduler's 20.7 MB buffer just
# before its record; massif's clock lagged ~100 ms here (40 ms in another capture). The former
# fixed 120 ms lag and quiet stretch put every boundary before the unload (26-28 MB live); now
# each is the low point right after the release.

def test_switch_loop_boundaries_after_the_unload():
    cap = load_capture(DATA / "llama_switch.massif.out",
                       boundaries=read_boundaries(DATA / "llama_switch.massif.iterations.jsonl"))
    tl = cap.timeline
    sched = cap.sites[cap.sites["site"].str.startswith("ggml_backend_sched_new")]
    assert sched["peak_bytes"].tolist() == [20685264]
    assert tl[tl["site_id"].isin(sched["site_id"])]["live_bytes"].tolist() == [0, 0, 0, 0]
    assert tl.groupby("slice")["live_bytes"].sum().tolist() == [2398420, 2603301, 2662893, 2558221]
    assert cap.meta["timeline_unit"] == "iteration"


# --- the timeline engine cuts massif's timeline too ---------------------------------------------

def test_boundaries_go_through_the_timeline_engine(marked, monkeypatch):
    """The engine plans massif's boundaries: at most KEEP_BOUNDARIES, thinned evenly with the ends
    kept, each kept one with the very figures of the unthinned timeline, and says how each was cut."""
    from profiler.parsers import timeline as engine

    assert marked.meta["timeline_cut"]["by"] == {"marker": 4, "clock": 8, "end": 0}
    assert marked.meta["timeline_cut"]["boundaries"] == marked.meta["timeline_cut"]["kept"] == 12
    monkeypatch.setattr(engine, "KEEP_BOUNDARIES", 4)
    thin = load_capture(DATA / "marked.massif.out", boundaries=_marked_bounds())
    kept = sorted(thin.timeline["slice"].unique())
    assert kept[0] == 1 and kept[-1] == 12 and len(kept) == 4
    assert thin.meta["timeline_cut"]["kept"] == 4 and "thinned" in thin.meta["timeline_cut"]
    assert _series(thin, "leak_lost") == [32 * KiB * i for i in kept]
    assert _series(thin, "pool_acquire") == [64 * KiB * min(i, 4) for i in kept]


def test_snapshots_without_boundaries_are_the_engines_slices(planted, monkeypatch):
    from profiler.parsers import timeline as engine

    detailed = ms_print("planted")["detailed"]
    assert sorted(planted.timeline["slice"].unique()) == detailed
    assert planted.meta["timeline_cut"] == {"boundaries": 0, "states": len(detailed), "kept": len(detailed),
                                           "by": {"state": len(detailed)}}
    monkeypatch.setattr(engine, "KEEP_BOUNDARIES", 5)
    thin = load_capture(DATA / "planted.massif.out")
    kept = sorted(thin.timeline["slice"].unique())
    assert len(kept) == 5 and kept[0] == detailed[0] and kept[-1] == detailed[-1]
    full = planted.timeline.set_index(["site_id", "slice"])["live_bytes"]
    part = thin.timeline.set_index(["site_id", "slice"])["live_bytes"]
    assert (full.loc[part.index] == part).all()


def test_scale_pairs_sum_to_massifs_end_heap():
    """`--scale A,B` pairs the sites' bytes at exit of two runs: with the heap fallen after the
    last tree they add up to massif's final heap, not one byte under it."""
    from profiler.triage.scale import judge

    cap = load_capture(DATA / "fall.massif.out")
    end_heap = ms_print("fall")["rows"][max(ms_print("fall")["rows"])][1]
    got = judge([cap], [cap], 5, 10)
    assert sum(s["live_a"] for s in got["sites"]) == sum(s["live_b"] for s in got["sites"]) == end_heap == 131072


# ---------------------------------------------------------------- the state after the collection probe
# probe.massif.out + probe.massif.out.probe: scripts/make_massif_probe_fixture.py (massif on
# tests/workloads/cycle_garbage.py 4 with LEAK_KIB=256, GARBAGE_KIB=512; the .probe file is massif's
# own `detailed_snapshot`, taken through vgdb by MassifHooks.at_probe right after gc.collect())

PROBE_FIXTURE = Path(__file__).resolve().parents[1] / "data" / "massif" / "probe.massif.out"


def test_the_probe_state_beside_a_massif_file_is_read_with_it():
    cap = massif.parse(PROBE_FIXTURE)
    p = cap.probe
    # the probe file's one snapshot: time=7922, mem_heap_B=4638394 (massif's own figures)
    assert p.source == "probe.massif.out.probe" and p.t == 7922.0
    assert p.heap_bytes == 4638394
    assert sum(p.live.values()) + p.unmatched_bytes == 4638394 and p.unmatched_bytes == 0
    sites = cap.sites.set_index("site_id")
    fn = {sid: sites.loc[sid, "stack"] for sid in p.live}
    leak = [sid for sid, st in fn.items() if any(f.function == "PyCFuncPtr_call" for f in st) and p.live[sid]]
    assert [p.live[sid] for sid in leak] == [4 * 256 * 1024]     # 4 ctypes mallocs never freed
    # the cycle-held bytearrays: live at the boundaries, gone after the collection
    garbage = [int(sid) for sid, st in zip(cap.sites["site_id"], cap.sites["stack"])
               if any(f.function == "PyByteArray_Resize" for f in st)]
    assert len(garbage) == 2 and all(p.live.get(sid, 0) == 0 for sid in garbage)
    tl = cap.timeline[cap.timeline["site_id"].isin(garbage)]
    assert tl.groupby("slice")["live_bytes"].sum().max() == 4 * (512 * 1024 + 1)   # bytearray adds 1 byte
    assert massif.parse(PROBE_FIXTURE.with_name(PROBE_FIXTURE.name + ".probe")).probe is None


def test_a_run_reads_the_probe_state_as_part_of_its_massif_capture(tmp_path):
    import shutil

    from profiler import pipeline, rundir

    run = tmp_path / "run"
    (run / "capture").mkdir(parents=True)
    shutil.copy(PROBE_FIXTURE, run / "capture" / "massif.out.42")
    shutil.copy(PROBE_FIXTURE.with_name(PROBE_FIXTURE.name + ".probe"), run / "capture" / "massif.out.42.probe")
    shutil.copy(PROBE_FIXTURE.with_name("probe.massif.iterations.jsonl"), run / rundir.ITERATIONS)
    result = pipeline.analyze(run, save=False)
    assert [c.path for c in result.captures] == [str(run / "capture" / "massif.out.42")]
