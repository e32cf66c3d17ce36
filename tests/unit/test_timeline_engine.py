"""The timeline engine (profiler/parsers/timeline.py) on real committed captures: boundaries cut
at in-band markers, by the clock from the iteration records, or into time slices; thinning of
long runs; truncated captures read up to the cut."""
from __future__ import annotations

import gzip
import json

import pytest
import zstandard

from profiler.errors import ExitCode
from profiler.parsers import load_capture, timeline
from testkit import DATA, boundaries, memprof

HT = DATA / "heaptrack"
TRIAGE = DATA / "triage"
MANY = HT / "many.zst"          # 700 iterations of tests/workloads/sites_gen.c (scripts/make_engine_fixtures.sh)


def per_slice(cap, function=None):
    tl = cap.timeline
    if function is not None:     # the site, or any frame of its stack
        hit = [fn == function or any(f.function == function for f in st)
               for fn, st in zip(cap.sites["function"], cap.sites["stack"])]
        ids = cap.sites[hit]["site_id"]
        tl = tl[tl["site_id"].isin(ids)]
    s = tl.groupby("slice")["live_bytes"].sum()
    return s.index.tolist(), s.tolist()


# --- thinning ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n,k", [(1, 5), (5, 5), (6, 5), (700, 512), (16000, 512), (3, 2)])
def test_thin_keeps_k_and_both_ends(n, k):
    kept = timeline.thin(n, k)
    assert len(kept) == min(n, k)
    assert kept[0] == 0 and kept[-1] == n - 1
    assert kept == sorted(set(kept))
    if n > k:   # evenly spaced: no gap more than one step wider than another
        gaps = [b - a for a, b in zip(kept, kept[1:])]
        assert max(gaps) - min(gaps) <= 1


@pytest.fixture(scope="module")
def many():
    return load_capture(MANY, boundaries=boundaries(HT / "many.iterations.jsonl"))


def test_many_boundaries_are_thinned_to_k_with_the_ends_kept(many):
    printed = dict(x.split(": ", 1) for x in (HT / "many.print.txt").read_text().splitlines() if ": " in x)
    assert many.totals["calls"] == int(printed["calls to allocation functions"].split()[0]) == 4204
    cut = many.meta["timeline_cut"]
    assert cut["boundaries"] == 700 and cut["kept"] == timeline.KEEP_BOUNDARIES == 512
    assert cut["by"] == {"marker": 512, "clock": 0, "end": 0}
    assert "512 of 700" in cut["thinned"]
    slices, leak = per_slice(many, "leak_site")
    assert len(slices) == 512 and slices[0] == 1 and slices[-1] == 700
    # exact at every kept boundary: the leak site keeps 64 bytes per iteration
    assert leak == [64 * i for i in slices]
    # the timeline holds k rows per site, not one per iteration
    assert len(many.timeline) == 512 * len(many.sites)


def test_thinning_follows_a_smaller_k(monkeypatch):
    monkeypatch.setattr(timeline, "KEEP_BOUNDARIES", 7)
    cap = load_capture(MANY, boundaries=boundaries(HT / "many.iterations.jsonl"))
    slices, leak = per_slice(cap, "leak_site")
    assert len(slices) == 7 and slices == [1 + i for i in timeline.thin(700, 7)]
    assert slices[0] == 1 and slices[-1] == 700
    assert leak == [64 * i for i in slices]


def test_engine_keeps_one_vector_per_kept_boundary_whatever_the_markers():
    # 5000 boundaries, markers of every one of them: vectors only for the kept rows
    rows = [(i, i * 0.01, None) for i in range(1, 5001)]
    tl = timeline.Timeline(rows, keep=10)
    asked = []
    for seq, (it, t, _) in enumerate(rows):
        code = it % 2048
        tl.marker(code, t * 1000.0, trace=3, seq=seq,
                  vector=lambda it=it: asked.append(it) or [it])
    slices, _, matrix, how = tl.finish([0], 50_000.0, 1)
    assert len(slices) == 10 and slices[0] == 1 and slices[-1] == 5000
    assert matrix[:, 0].tolist() == slices          # each boundary got its own marker's state
    assert how == {"marker": 10, "clock": 0, "end": 0}
    assert len(tl._at_mark) <= 10 * 1 and len(asked) < 100


# --- how the cut is made, on real captures ------------------------------------------------------

def test_cut_by_markers_records_clock_and_slices():
    marked = load_capture(HT / "marked.zst", boundaries=boundaries(HT / "marked.iterations.jsonl"))
    assert marked.meta["timeline_cut"]["by"] == {"marker": 12, "clock": 0, "end": 0}
    # planted.zst has no markers: the records' t_end on heaptrack's clock
    clock = load_capture(HT / "planted.zst", boundaries=boundaries(HT / "planted.iterations.jsonl"))
    assert clock.meta["timeline_cut"]["by"]["marker"] == 0
    assert clock.meta["timeline_cut"]["by"]["clock"] == 12
    assert "heaptrack clock lag" in clock.meta["timeline"]
    # both cuts agree on the planted leak at every boundary
    assert per_slice(marked, "leak_lost") == per_slice(clock, "leak_lost")
    # no records: equal time slices, the last one the end state
    sl = load_capture(HT / "planted.zst")
    assert sl.meta["timeline_unit"] == "slice" and sl.meta["timeline_cut"]["by"]["end"] == 1
    last = per_slice(sl)[1][-1]
    assert last == sl.totals["live_bytes_end"]


def test_llama_switch_cuts_every_boundary_at_its_marker():
    cap = load_capture(TRIAGE / "llama_switch.zst", boundaries=boundaries(TRIAGE / "llama_switch.iterations.jsonl"))
    assert cap.meta["timeline_cut"]["by"] == {"marker": 6, "clock": 0, "end": 0}
    assert per_slice(cap)[1] == [2386345] * 6


# --- truncated captures ---------------------------------------------------------------------------

LLAMA = TRIAGE / "llama_switch.zst"


@pytest.mark.parametrize("fraction", [0.35, 0.6, 0.85, 0.999])
def test_zstd_capture_cut_anywhere_is_read_up_to_the_cut(tmp_path, fraction):
    raw = LLAMA.read_bytes()
    full = load_capture(LLAMA, boundaries=boundaries(TRIAGE / "llama_switch.iterations.jsonl"))
    p = tmp_path / "cut.zst"
    p.write_bytes(raw[: int(len(raw) * fraction)])
    cap = load_capture(p, boundaries=boundaries(TRIAGE / "llama_switch.iterations.jsonl"))
    t = cap.truncated
    assert "zstd stream ends inside a frame" in t.reason
    assert 0 < t.details["complete_lines"] < 278089 and "truncated" in t.summary
    # what was read is a prefix of the whole: never more than the full capture's counts
    assert 0 < cap.totals["calls"] <= full.totals["calls"]
    assert cap.totals["peak_heap_bytes"] <= full.totals["peak_heap_bytes"]
    # boundaries after the cut are left out, never shown with the state at the cut
    cut = cap.meta["timeline_cut"]
    kept = cut["by"]["marker"] + cut["by"]["clock"]
    assert kept + cut.get("after_truncation", 0) == 6
    if kept:
        full_series = dict(zip(*per_slice(full)))
        for it, v in zip(*per_slice(cap)):
            if cut["by"]["clock"] == 0:
                assert v == full_series[it]


def test_gzip_capture_cut_at_several_points(tmp_path):
    text = zstandard.ZstdDecompressor().decompressobj().decompress(LLAMA.read_bytes())
    gz = gzip.compress(text)
    full_calls = text.count(b"\n+ ")
    seen = []
    for fraction in (0.2, 0.5, 0.9):
        p = tmp_path / f"cut{fraction}.gz"
        p.write_bytes(gz[: int(len(gz) * fraction)])
        cap = load_capture(p)
        assert "gzip stream ends early" in cap.truncated.reason
        n = cap.truncated.details["complete_lines"]
        # exactly the complete lines before the cut were read
        assert cap.totals["calls"] == b"\n".join(text.split(b"\n")[:n]).count(b"\n+ ") + (text.startswith(b"+ "))
        seen.append(cap.totals["calls"])
    assert seen == sorted(seen) and seen[-1] < full_calls


def test_analyze_prints_the_result_and_exits_capture_truncated(tmp_path):
    raw = LLAMA.read_bytes()
    p = tmp_path / "cut.zst"
    p.write_bytes(raw[: int(len(raw) * 0.6)])
    done = memprof("analyze", p)
    assert done.returncode == ExitCode.CAPTURE_TRUNCATED == 8
    assert done.stdout.startswith("VERDICT:") and "TRUNCATED: capture truncated" in done.stdout
    assert "memprof: error:" in done.stderr and "up to the cut" in done.stderr
    js = memprof("analyze", "--json", p)
    assert js.returncode == ExitCode.CAPTURE_TRUNCATED
    result = json.loads(js.stdout)
    assert result["truncated"][0]["path"] == str(p)
    assert any("truncated" in w for w in result["warnings"])


def test_check_does_not_pass_a_truncated_capture(tmp_path):
    # what a cut capture holds may be clean up to the cut; the rest is unknown, so `check` never says ok
    raw = LLAMA.read_bytes()
    p = tmp_path / "cut.zst"
    p.write_bytes(raw[: int(len(raw) * 0.6)])
    done = memprof("check", p)
    assert done.returncode == ExitCode.CAPTURE_TRUNCATED
    assert "checked only up to the cut" in done.stderr and "ok: no leak" in done.stderr


def test_report_says_where_the_capture_was_cut(tmp_path):
    raw = LLAMA.read_bytes()
    p = tmp_path / "cut.zst"
    p.write_bytes(raw[: int(len(raw) * 0.6)])
    done = memprof("report", p, "-o", tmp_path / "rep")
    assert done.returncode == ExitCode.CAPTURE_TRUNCATED == 8
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Truncated capture" in md and "the analysis stops at the cut" in md


def test_cut_before_the_first_record_is_bad_input(tmp_path):
    raw = (HT / "planted.zst").read_bytes()
    p = tmp_path / "tiny.zst"
    p.write_bytes(raw[:40])
    done = memprof("analyze", p)
    assert done.returncode == 3 and "truncated" in done.stderr


def test_compressed_massif_and_memcheck_go_through_the_same_layer(tmp_path):
    import bz2

    src = DATA / "massif" / "bytes.massif.out"
    for name, data in (("m.out.gz", gzip.compress(src.read_bytes())), ("m.out.bz2", bz2.compress(src.read_bytes()))):
        p = tmp_path / name
        p.write_bytes(data)
        cap = load_capture(p)
        assert cap.format == "massif" and cap.path == str(p)
        assert cap.totals == load_capture(src).totals
    xml = DATA / "memcheck" / "errors.xml"
    p = tmp_path / "errors.xml.bz2"
    p.write_bytes(bz2.compress(xml.read_bytes()))
    assert load_capture(p).totals == load_capture(xml).totals


# --- one list of allocator frames -----------------------------------------------------------------

def test_allocator_frames_come_from_the_rules_toml():
    import tomllib
    from importlib import resources

    from profiler.parsers import _stacks, allocators, memray_bin
    from profiler.tables import Frame
    from profiler.triage import load_rules

    libc = tomllib.loads((resources.files("profiler") / "rules" / "libc.toml").read_text())
    listed = libc["plumbing"]["allocators"]
    assert "malloc" in listed and "sysmalloc" in listed and "operator new*" in listed
    for name in ("malloc", "__libc_malloc", "sysmalloc", "operator new(unsigned long)", "operator delete[](void*)"):
        assert _stacks.is_allocator(name), name
    assert not _stacks.is_allocator("llama_model_load") and not _stacks.is_allocator("PyObject_Malloc")
    assert allocators.is_python_allocator("PyObject_Malloc")
    assert memray_bin._is_plumbing(Frame("PyObject_Malloc", None)) and memray_bin._is_plumbing(Frame("malloc", None))
    # the rules loader accepts the key (a user's rules file may carry it too)
    assert load_rules().plumbing
    assert not any(hasattr(m, "ALLOCATOR_FUNCTIONS") for m in (_stacks, memray_bin))


def test_memray_boundaries_go_through_the_engines_plan(monkeypatch):
    mr = DATA / "memray"
    b = boundaries(mr / "planted_python.iterations.jsonl")
    cap = load_capture(mr / "planted_python.bin", boundaries=b)
    assert cap.meta["timeline_cut"]["boundaries"] == len(b) == cap.meta["timeline_cut"]["kept"]
    monkeypatch.setattr(timeline, "KEEP_BOUNDARIES", 3)
    thin = load_capture(mr / "planted_python.bin", boundaries=b)
    slices = sorted(thin.timeline["slice"].unique())
    assert len(slices) == 3 and slices[0] == b[0][0] and slices[-1] == b[-1][0]
    assert thin.meta["timeline_cut"]["kept"] == 3 and "3 of" in thin.meta["timeline_cut"]["thinned"]
    # the kept boundaries show what the full timeline shows there
    full = cap.timeline.groupby("slice")["live_bytes"].sum()
    part = thin.timeline.groupby("slice")["live_bytes"].sum()
    assert part.to_dict() == {k: full[k] for k in part.index}


@pytest.mark.parametrize("fraction", [0.3, 0.55, 0.8, 0.97])
def test_massif_file_cut_mid_snapshot_is_read_to_the_last_complete_one(tmp_path, fraction):
    src = DATA / "massif" / "marked.massif.out"
    text = src.read_bytes()
    p = tmp_path / "cut.massif.out"
    p.write_bytes(text[: int(len(text) * fraction)])      # mid-line, mid-snapshot
    cap = load_capture(p, boundaries=boundaries(DATA / "massif" / "marked.massif.iterations.jsonl"))
    t = cap.truncated
    full = load_capture(src)
    kept = text[: int(len(text) * fraction)].count(b"\nsnapshot=") + text.startswith(b"snapshot=")
    # the snapshot in progress is dropped, each complete one before it is read
    assert cap.totals["snapshots"] == t.details["complete_snapshots"] == kept - 1
    assert cap.totals["snapshots"] < full.totals["snapshots"]
    assert "read up to snapshot" in t.summary
    done = memprof("analyze", p)
    assert done.returncode == ExitCode.CAPTURE_TRUNCATED == 8 and done.stdout.startswith("VERDICT:")
