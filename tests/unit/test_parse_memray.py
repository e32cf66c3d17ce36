"""memray parser on real memray 1.20 captures, checked against `memray stats --json` of the same file."""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import pytest

from profiler.errors import BadCapture
from profiler.parsers import detect, load_capture, memray_bin
from testkit import boundaries as read_boundaries

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "memray"
DRIVER = "tests/workloads/planted_driver.py"
N = 5  # iterations of the planted fixtures
PLANTED = {  # Python wrapper in planted_driver.py -> (live at end, calls, bytes per call)
    "init_once": (102400, 1, 102400),
    "pool_acquire": (4 * 65536, 4, 65536),
    "leak_lost": (N * 32768, N, 32768),
    "leak_reachable": (N * 16384, N, 16384),
    "scratch_work": (0, N, 131072),
}


@functools.lru_cache(maxsize=None)
def cap_of(name: str, aligned: bool = False):
    """Each fixture is read once per session: every memray read runs in a child process."""
    return load_capture(DATA / f"{name}.bin", boundaries=boundaries(name) if aligned else None)


def stats(name: str) -> dict:
    return json.loads((DATA / f"{name}.stats.json").read_text())


def boundaries(name: str):
    return read_boundaries(DATA / f"{name}.iterations.jsonl")


@pytest.mark.parametrize("name", ["pyalloc", "pyalloc_pymalloc", "planted_python", "planted_native", "killed",
                                  "sigkilled", "dlopen_gen", "threads"])
def test_totals_equal_memray_stats(name):
    cap = cap_of(name)
    oracle = stats(name)
    assert cap.format == "memray"
    assert cap.totals["total_allocations"] == oracle["total_num_allocations"]
    assert cap.totals["total_bytes_allocated"] == oracle["total_bytes_allocated"]
    assert cap.totals["peak_memory_bytes"] == oracle["metadata"]["peak_memory"]
    assert cap.meta["allocations_by_allocator"] == oracle["allocator_type_distribution"]
    assert cap.totals["mmap_allocations"] == oracle["allocator_type_distribution"].get("MMAP", 0)
    # the tables add up: calls per site sum to the total, peak per site to the peak
    assert cap.sites.alloc_count.sum() == cap.totals["total_allocations"]
    assert cap.sites.peak_bytes.sum() == cap.totals["peak_memory_bytes"]
    assert cap.sites.live_bytes_end.sum() == cap.totals["leaked_bytes"]
    assert cap.sites.site_id.is_unique and set(cap.sites.backend) == {"memray"}
    assert cap.meta["records"] == oracle["metadata"]["total_allocations"]


def _by_function(cap, fn: str):
    rows = cap.sites[cap.sites.function == fn]
    assert len(rows) == 1, f"{fn}: {len(rows)} sites"
    return rows.iloc[0]


def test_planted_python_sites_exact():
    cap = cap_of("planted_python")
    assert cap.meta["stacks"] == "python" and not cap.meta["has_native_traces"]
    for fn, (live, calls, size) in PLANTED.items():
        row = _by_function(cap, fn)
        assert row.live_bytes_end == live, fn
        assert row.alloc_count == calls, fn
        assert row.module == DRIVER and row.site.startswith(f"{fn} ({DRIVER}:")
        assert row["stack"][0].function == fn and row["stack"][1].function in ("run_split",)
    # the global peak fell during the last scratch_work: everything kept, plus its 128 KiB
    peaks = {fn: _by_function(cap, fn).peak_bytes for fn in PLANTED}
    assert peaks == {"init_once": 102400, "pool_acquire": 262144, "leak_lost": 163840,
                     "leak_reachable": 81920, "scratch_work": 131072}


def test_planted_timeline_at_iteration_boundaries():
    b = boundaries("planted_python")
    assert [x[0] for x in b] == list(range(1, N + 1))
    cap = cap_of("planted_python", aligned=True)
    tl = cap.timeline
    assert list(tl.columns) == ["site_id", "slice", "t", "live_bytes"]
    assert sorted(tl.slice.unique()) == list(range(1, N + 1))
    assert sorted(tl.t.unique()) == sorted(x[1] for x in b)

    def series(fn):
        sid = _by_function(cap, fn).site_id
        return tl[tl.site_id == sid].sort_values("slice").live_bytes.tolist()

    assert series("leak_lost") == [32768 * i for i in range(1, N + 1)]
    assert series("leak_reachable") == [16384 * i for i in range(1, N + 1)]
    assert series("pool_acquire") == [65536 * min(i, 4) for i in range(1, N + 1)]
    assert series("init_once") == [102400] * N
    assert series("scratch_work") == [0] * N
    # every site has a row per slice
    assert len(tl) == len(cap.sites) * N
    assert cap.meta["timeline_clock"] == "iterations" and len(cap.meta["slice_snapshot_ms"]) == N


def test_boundaries_without_wall_end_fall_back_to_time_slices():
    b = [(it, t_end, None) for it, t_end, _ in boundaries("planted_python")]
    cap = load_capture(DATA / "planted_python.bin", boundaries=b)
    assert sorted(cap.timeline.slice.unique()) == list(range(20))
    assert "no wall_end" in cap.meta["notes"][0]


def test_timeline_without_boundaries_is_time_slices():
    cap = cap_of("pyalloc")
    tl = cap.timeline
    assert sorted(tl.slice.unique()) == list(range(20))
    assert tl.t.is_monotonic_increasing or tl.groupby("slice").t.first().is_monotonic_increasing
    last = tl[tl.slice == 19].set_index("site_id").live_bytes
    assert (last.reindex(cap.sites.site_id).values == cap.sites.live_bytes_end.values).all()


def test_native_fixture_totals_and_python_frames():
    """Native frames resolve only where the recorded .so exists; Python frames always do."""
    cap = cap_of("planted_native")
    assert cap.meta["stacks"] == "hybrid" and cap.meta["has_native_traces"]
    for fn, (live, calls, size) in PLANTED.items():
        mask = [any(f.function == fn and f.file == DRIVER for f in st) for st in cap.sites["stack"]]
        rows = cap.sites[mask]
        assert rows.live_bytes_end.sum() == live, fn
        assert rows.alloc_count.sum() == calls, fn
    # native frames have no module (memray does not report the shared object); Python frames do
    frames = [f for st in cap.sites["stack"] for f in st]
    assert any(f.module is None for f in frames)
    assert all(f.module == f.file for f in frames if f.file and f.file.endswith(".py"))


def _memray_own(name: str, query: str) -> dict:
    """memray's own per-stack query, read in-process (a good fixture), summed by resolved frames."""
    import memray

    out: dict = {}
    with memray.FileReader(str(DATA / f"{name}.bin")) as reader:
        native = reader.metadata.has_native_traces
        for rec in getattr(reader, query)(merge_threads=True):
            raw = rec.hybrid_stack_trace() if native else rec.stack_trace()
            st = tuple(memray_bin._frame(f) for f in raw)
            out[st] = out.get(st, 0) + rec.size
    return {st: v for st, v in out.items() if v}


@pytest.mark.parametrize("name", ["planted_native", "pyalloc_pymalloc", "killed", "sigkilled", "dlopen_gen", "threads"])
def test_live_and_peak_per_site_equal_memrays_own_queries(name):
    """live_bytes_end comes from the temporal query's never-freed intervals and both figures
    are joined to stacks resolved by another process: per stack they must still be exactly
    what memray's leaked and high-water-mark queries say."""
    cap = cap_of(name)
    ours_live = {st: v for st, v in zip(cap.sites["stack"], cap.sites.live_bytes_end) if v}
    ours_peak = {st: v for st, v in zip(cap.sites["stack"], cap.sites.peak_bytes) if v}
    assert ours_live == _memray_own(name, "get_leaked_allocation_records")
    assert ours_peak == _memray_own(name, "get_high_watermark_allocation_records")
    # every site made at least one allocation call: no site exists only for an id
    assert (cap.sites.alloc_count >= 1).all() and cap.sites["stack"].is_unique


PYTHON_ONLY = ["planted_python", "pyalloc", "pyalloc_pymalloc", "killed", "sigkilled", "threads"]


def _memray_calls(name: str) -> dict:
    """Allocation calls per stack as memray's own records say, one record at a time (each
    record's stack_trace(), which hides memray's start-up frames on the main thread only)."""
    import memray
    from memray import AllocatorType

    dealloc = {AllocatorType.FREE, AllocatorType.PYMALLOC_FREE, AllocatorType.MUNMAP}
    out: dict = {}
    with memray.FileReader(str(DATA / f"{name}.bin")) as reader:
        for rec in reader.get_allocation_records():
            if rec.allocator not in dealloc:
                st = tuple(memray_bin._frame(f) for f in rec.stack_trace())
                out[st] = out.get(st, 0) + 1
    return out


@pytest.mark.parametrize("name", PYTHON_ONLY)
def test_calls_per_site_equal_memrays_own_records(name):
    """Python-only files are counted by whole stack (memray's statistics pass) and trimmed in
    the parent: the sites and their calls must be those of memray's own records."""
    cap = cap_of(name)
    assert dict(zip(cap.sites["stack"], cap.sites.alloc_count)) == _memray_calls(name)


@pytest.mark.parametrize("name", PYTHON_ONLY)
def test_statistics_pass_and_record_pass_agree(name):
    """The two ways the records child counts a Python-only file give the same sites, calls,
    peak and live bytes once joined; threads.bin (two threads, whose stacks memray records as
    mmap calls) needs a pass of its own for the mmap bytes."""
    import copy

    import memray

    path = str(DATA / f"{name}.bin")
    agg = memray_bin._extract(path, None, "aggregates")
    fast = memray_bin._counts_by_stack(path)
    with memray.FileReader(path) as reader:
        slow = memray_bin._records(reader, memray_bin._Resolver(False, full=True))
    assert fast["by_stack"] and slow["by_stack"] and agg["trim"][0] > 0
    a, b = memray_bin._join(copy.deepcopy(agg), fast), memray_bin._join(copy.deepcopy(agg), slow)
    for key in ("count", "peak", "live"):
        assert dict(zip(a["stacks"], a[key])) == dict(zip(b["stacks"], b[key])), key
    mmap = slow["totals"]["mmap_allocations"]
    assert fast["totals"]["mmap_allocations"] == mmap
    assert fast["totals"]["mmap_bytes"] == (None if mmap else 0)
    # what load_capture's records child returns: the statistics pass, plus the mmap bytes it lacks
    used = memray_bin._extract(path, None, "records")
    assert "keys" not in used and used["counts"] == fast["counts"] and used["totals"] == slow["totals"]


def test_native_flag_from_the_header_alone(tmp_path):
    """The records child picks its pass from the header's native-traces flag, read without
    memray's reader (whose constructor passes over the whole file): raw and LZ4 files give
    what memray says; a head it cannot read that way gives None (memray's reader decides)."""
    import memray

    for name in ("planted_python", "planted_native", "pyalloc", "pyalloc_aggregated", "dlopen_gen", "threads"):
        path = str(DATA / f"{name}.bin")
        with memray.FileReader(path) as reader:
            assert memray_bin._header_native(path) is bool(reader.metadata.has_native_traces), name
    raw = (DATA / "planted_python.bin").read_bytes()
    heads = (b"", raw[:12], b"\x04\x22\x4d\x18" + b"\x00" * 60, raw[:7] + b"\x0c" + raw[8:64])
    for i, head in enumerate(heads):   # empty, cut, an LZ4 frame of zeros, another header version
        assert memray_bin._header_native(str(_write(tmp_path, f"h{i}.bin", head))) is None, i
    assert memray_bin._header_native(str(tmp_path / "absent.bin")) is None


def test_threads_keep_their_whole_stacks():
    cap = cap_of("threads")

    def at(fn, line):
        rows = cap.sites[cap.sites.site == f"{fn} (threads.py:{line})"]
        assert len(rows) == 1, (fn, line)
        return rows.iloc[0]

    main, work = at("main_work", 11), at("worker_work", 16)
    # bytearray(n) allocates n + 1 bytes
    assert (main.live_bytes_end, main.alloc_count) == (30_002 + 30_003, 2)
    assert (work.live_bytes_end, work.alloc_count) == (sum(40_002 + n for n in (0, 1, 2, 10, 11, 12)), 6)
    assert (at("main_work", 12).alloc_count, at("worker_work", 17).alloc_count) == (2, 6)
    # memray hides the outermost frames of the main thread's stacks (runpy's, memray's __main__),
    # not of the workers' stacks, which start in threading's _bootstrap
    assert main["stack"][-1].function == "_run_tracker"
    assert work["stack"][-1].function == "_bootstrap" and work["stack"][-1].file.endswith("threading.py")


def test_stack_across_native_segment_generations():
    """dlopen_gen.py allocates from one line before each of four dlopen calls: one stack in
    four native segment generations. memray's queries do not agree on which generation the
    bytes belong to (the leaked query pools them, the temporal query splits them): the site
    is one, with every byte and call (bytearray(n) allocates n + 1 bytes)."""
    cap = cap_of("dlopen_gen")

    def site_at(line):
        rows = cap.sites[[any(f.function == "<module>" and f.file == "dlopen_gen.py" and f.line == line
                              for f in st) and any(f.function == "grow" for f in st)
                             for st in cap.sites["stack"]]]
        assert len(rows) == 1, line
        return rows.iloc[0]

    loop, after = site_at(14), site_at(17)
    assert (loop.live_bytes_end, loop.alloc_count) == (sum(100_001 + i for i in range(4)), 4)
    assert (after.live_bytes_end, after.alloc_count) == (100_005, 1)
    tl = cap.timeline[cap.timeline.site_id == loop.site_id].sort_values("slice").live_bytes
    assert tl.is_monotonic_increasing and tl.iloc[-1] == loop.live_bytes_end and tl.iloc[0] < tl.iloc[-1]


def test_pure_python_sites_and_mmap():
    cap = cap_of("pyalloc")
    assert _by_function(cap, "warm_cache").live_bytes_end == 200_001
    step = _by_function(cap, "leak_step")
    assert (step.live_bytes_end, step.alloc_count) == (4 * 50_001, 4)
    region = _by_function(cap, "map_region")
    assert (region.live_bytes_end, region.peak_bytes, region.alloc_count) == (1 << 20, 1 << 20, 1)
    tr = _by_function(cap, "transient")
    assert (tr.live_bytes_end, tr.alloc_count) == (0, 4)
    assert tr.peak_bytes == 300_001  # the peak is reached while the last transient buffer lives
    assert cap.totals["mmap_allocations"] == 1 and cap.totals["mmap_bytes"] == 1 << 20
    assert cap.sites.site.str.startswith("warm_cache (pyalloc.py:").any()


def test_pymalloc_records_count_like_memray_stats():
    """With --trace-python-allocators, PYMALLOC_FREE is a deallocation: it must not count."""
    cap = cap_of("pyalloc_pymalloc")
    assert cap.meta["trace_python_allocators"] is True
    assert "PYMALLOC_FREE" not in cap.meta["allocations_by_allocator"]
    assert cap.meta["allocations_by_allocator"]["PYMALLOC_MALLOC"] > 1000
    # pymalloc's calls are visible now: each bytearray's 56-byte object header, and the
    # 4-pointer item array KEPT.append grew on the same line (one site: same frames)
    assert _by_function(cap, "warm_cache").live_bytes_end == 200_001 + 56
    step = _by_function(cap, "leak_step")
    assert step.live_bytes_end == 4 * (50_001 + 56) + 4 * 8


def test_killed_run_is_read_to_its_last_record():
    """A SIGKILLed process leaves a file whose header was never finalised: still a capture."""
    cap = cap_of("killed")
    assert cap.meta["finalised"] is False and "not finalised" in cap.meta["notes"][0]
    grow = _by_function(cap, "grow")
    # 5 steps x 20 bytearrays of 10,001 + step bytes, plus KEPT's item array (108 slots x 8 bytes)
    assert grow.live_bytes_end == 20 * sum(10_001 + step for step in range(5)) + 108 * 8
    tl = cap.timeline[cap.timeline.site_id == grow.site_id].sort_values("slice").live_bytes
    assert tl.is_monotonic_increasing and tl.iloc[-1] == grow.live_bytes_end and tl.iloc[0] < tl.iloc[-1]


def test_aggregated_file_answers_what_it_can():
    cap = cap_of("pyalloc_aggregated")
    full = cap_of("pyalloc")
    assert cap.meta["aggregated"] and cap.meta["queries"] == ["high_watermark", "leaked"]
    assert cap.timeline is None
    assert cap.totals["total_allocations"] is None and cap.totals["total_bytes_allocated"] is None
    assert cap.sites.alloc_count.isna().all()
    # same script, same figures for what an aggregated file keeps
    assert cap.totals["peak_memory_bytes"] == full.totals["peak_memory_bytes"]
    assert cap.totals["leaked_bytes"] == full.totals["leaked_bytes"]
    assert _by_function(cap, "leak_step").live_bytes_end == 4 * 50_001
    # memray's own stats refuse such a file, which is why its totals are None
    with pytest.raises(NotImplementedError):
        from memray._memray import compute_statistics

        compute_statistics(str(DATA / "pyalloc_aggregated.bin"))


def test_sniff():
    for name in ("pyalloc.bin", "planted_python.bin", "planted_native.bin", "pyalloc_aggregated.bin"):
        assert detect(DATA / name) == "memray", name
    assert (DATA / "planted_python.bin").read_bytes().startswith(b"memray\x00")        # --no-compress
    assert (DATA / "pyalloc.bin").read_bytes().startswith(b"\x04\x22\x4d\x18")       # LZ4 frame
    assert not memray_bin.sniff(b"\x04\x22\x4d\x18" + b"\x00" * 60, None)
    assert not memray_bin.sniff(b"v 10400 3\n", None)


# --- bad inputs ------------------------------------------------------------------

def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _assert_one_line(excinfo):
    msg = excinfo.value.one_line()
    assert msg and "\n" not in msg
    return msg


@pytest.mark.parametrize("name,cut", [("planted_python.bin", 2000),
                                      ("pyalloc.bin", 8000), ("planted_native.bin", 30000)])
def test_truncated_capture(tmp_path, capfd, name, cut):
    data = (DATA / name).read_bytes()
    p = _write(tmp_path, "cut.bin", data[:cut])
    with pytest.raises(BadCapture, match="corrupt or truncated") as exc:
        load_capture(p)
    _assert_one_line(exc)
    assert "Memray ERROR" not in capfd.readouterr().err  # memray's own complaint was captured


@pytest.mark.parametrize("cut", [12000, 20000, 40000])
def test_uncompressed_capture_cut_short_is_read_up_to_the_cut(tmp_path, capfd, cut):
    """memray's reader stops at the cut-off record; what it read before stands (an LZ4-compressed
    file cut short is not readable at all: those stay BadCapture above)."""
    full = cap_of("planted_python")
    p = _write(tmp_path, "cut.bin", (DATA / "planted_python.bin").read_bytes()[:cut])
    cap = load_capture(p)
    assert "stopped at an unreadable record" in cap.truncated.reason
    assert 0 < cap.totals["total_allocations"] < full.totals["total_allocations"]
    assert cap.totals["total_bytes_allocated"] < full.totals["total_bytes_allocated"]
    assert "Memray ERROR" not in capfd.readouterr().err


def test_random_bytes(tmp_path):
    p = _write(tmp_path, "random.bin", bytes(range(256)) * 40)
    with pytest.raises(BadCapture, match="not a capture"):
        load_capture(p)
    with pytest.raises(BadCapture, match="not a memray capture"):
        memray_bin.parse(p)
    # random bytes behind a valid-looking magic: memray itself must reject them
    q = _write(tmp_path, "magic.bin", b"memray\x00" + os.urandom(4000))
    with pytest.raises(BadCapture) as exc:
        load_capture(q)
    _assert_one_line(exc)


def test_reader_crash_is_contained(tmp_path):
    """One flipped byte makes memray 1.20's C++ reader segfault (found by fuzzing): the read runs
    in a child process, so memprof reports a corrupt capture instead of dying with it.
    corrupt_flip.derived.bin is a derived file (see tests/data/memray/README.md)."""
    with pytest.raises(BadCapture, match=r"corrupt memray capture \(memray's reader died with SIG(SEGV|ABRT|BUS)"):
        load_capture(DATA / "corrupt_flip.derived.bin")


def test_unsupported_version(tmp_path):
    data = bytearray((DATA / "planted_python.bin").read_bytes())
    assert memray_bin._header_version(bytes(data[:64])) == 13
    data[7] = 12
    with pytest.raises(BadCapture, match="unsupported version .*file format version 12"):
        load_capture(_write(tmp_path, "v12.bin", bytes(data)))


def test_empty_and_directory(tmp_path):
    with pytest.raises(BadCapture, match="empty"):
        load_capture(_write(tmp_path, "empty.bin", b""))
    with pytest.raises(BadCapture, match="not a memray capture"):
        memray_bin.parse(_write(tmp_path, "e2.bin", b""))


@pytest.mark.parametrize("name", ["killed", "sigkilled"])
def test_killed_run_is_flagged_truncated_where_it_stops(name):
    """A run killed mid-way (killed.py SIGKILLs itself; sigkilled.bin is `memray run` killed from
    outside) is read to its last record AND says it is cut, with where: like a cut heaptrack file."""
    import memray

    cap = cap_of(name)
    t = cap.truncated
    assert "never finalised" in t.reason and t.details["records"] == cap.meta["records"] > 0
    reader = memray.FileReader(str(DATA / f"{name}.bin"))
    start_ms = int(reader.metadata.start_time.timestamp() * 1000)
    last_ms = list(reader.get_memory_snapshots())[-1].time
    reader.close()
    assert t.details["last_time_s"] == pytest.approx((last_ms - start_ms) / 1000.0)
    assert t.summary.startswith("capture truncated") and f"{t.details['last_time_s']:.3f} s into the run" in t.summary


@pytest.mark.parametrize("name", ["pyalloc", "pyalloc_pymalloc", "planted_python", "dlopen_gen"])
def test_finished_runs_are_not_flagged_truncated(name):
    cap = cap_of(name)
    assert cap.meta["finalised"] is True and cap.truncated is None


def test_analyze_of_a_killed_memray_run_exits_capture_truncated():
    from profiler.errors import ExitCode
    from testkit import memprof

    done = memprof("analyze", DATA / "sigkilled.bin")
    assert done.returncode == ExitCode.CAPTURE_TRUNCATED == 8
    assert done.stdout.startswith("VERDICT:") and "TRUNCATED: capture truncated" in done.stdout
    assert "memprof: error:" in done.stderr and "never finalised" in done.stderr
    # what the run did until the kill is there: the kept bytearrays of sigkilled.py
    sites = cap_of("sigkilled").sites
    kept = sites[sites.site.str.contains("sigkilled.py:8", regex=False)]
    assert len(kept) == 1 and kept.alloc_count.iloc[0] >= 100 and kept.live_bytes_end.iloc[0] > 100 * 10_000
