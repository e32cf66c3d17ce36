"""heaptrack parser on a real heaptrack 1.4 capture of the planted workload (scripts/make_fixtures.sh).

Oracles are heaptrack_print's own outputs stored beside the capture: the totals
of `heaptrack_print -f`, and the exact per-trace figures of its flame-graph
output (`-F --flamegraph-cost-type peak|leaked|allocations|temporary`).
"""
from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
import zstandard

from profiler.errors import BadCapture
from profiler.parsers import detect, load_capture
from profiler.parsers import heaptrack as ht
from testkit import boundaries as read_boundaries

DATA = Path(__file__).parent.parent / "data" / "heaptrack"
ZST = DATA / "planted.zst"
GZ = DATA / "planted.gz"
ITERATIONS = 12
KiB = 1024


def boundaries():
    return read_boundaries(DATA / "planted.iterations.jsonl")


@pytest.fixture(scope="module")
def cap():
    return load_capture(ZST)


@pytest.fixture(scope="module")
def aligned():
    return load_capture(ZST, boundaries=boundaries())


def print_totals() -> dict[str, str]:
    out = {}
    for line in (DATA / "planted.print.txt").read_text().splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            out[key] = value
    return out


def flame(cost: str) -> list[int]:
    return [int(line.rsplit(" ", 1)[1]) for line in (DATA / f"planted.flame_{cost}.txt").read_text().splitlines()]


def assert_printed(value: int, printed: str):
    """heaptrack_print prints bytes 1000-based with two decimals (e.g. 1.16M): compare at that precision."""
    m = re.fullmatch(r"([0-9.]+)([KMGT]?)B?", printed.split(" ")[0])
    assert m, printed
    scale = 1000 ** " KMGT".index(m.group(2) or " ")
    assert f"{value / scale:.2f}" == m.group(1) if scale > 1 else str(value) == m.group(1)


def site(cap, function):
    rows = cap.sites[cap.sites["function"] == function]
    assert len(rows) == 1, (function, cap.sites["function"].tolist())
    return rows.iloc[0]


# --- totals against heaptrack_print ---------------------------------------------------------

def test_totals_equal_heaptrack_print(cap):
    printed = print_totals()
    assert cap.totals["calls"] == int(printed["calls to allocation functions"].split()[0]) == 68
    assert cap.totals["temporary"] == int(printed["temporary memory allocations"].split()[0]) == 26
    assert_printed(cap.totals["peak_heap_bytes"], printed["peak heap memory consumption"])
    assert_printed(cap.totals["leaked_bytes"], printed["total memory leaked"])
    assert_printed(cap.totals["peak_rss_bytes"], printed["peak RSS (including heaptrack overhead)"])


def test_exact_totals_from_flamegraph_costs(cap):
    # every trace's peak is taken at the same instant, so they add up to the global peak exactly
    assert cap.totals["peak_heap_bytes"] == sum(flame("peak")) == 1158144
    assert cap.totals["leaked_bytes"] == sum(flame("leaked")) == 954368
    assert cap.totals["calls"] == sum(flame("allocations"))
    assert cap.totals["temporary"] == sum(flame("temporary"))
    assert cap.totals["allocated_bytes_total"] == 2656248


def test_per_site_figures_equal_heaptrack_per_trace_figures(cap):
    # one site per allocation trace, like heaptrack's unmerged allocations
    assert sorted(cap.sites["peak_bytes"]) == sorted(flame("peak"))
    assert sorted(cap.sites["live_bytes_end"]) == sorted(flame("leaked"))
    assert sorted(cap.sites["alloc_count"]) == sorted(flame("allocations"))
    assert cap.sites["site_id"].is_unique


CORPUS = Path(__file__).parent.parent / "data" / "corpus"


@pytest.mark.parametrize("name", ["msgpack-roundtrip-no-records", "regex-cache-no-records", "msgspec-0.13.1-no-records"])
def test_sites_at_the_peak_add_up_to_the_peak(name):
    """Real captures (no markers) whose peak is followed by 100k+ events: the decoder keeps the
    state at the peak as the events since, then as a copy once they outnumber the infos; each
    site's bytes at that moment must add up to heaptrack's peak heap, event for event."""
    cap = load_capture(CORPUS / name / "capture" / "heaptrack.run.zst")
    assert cap.meta["markers"]["calls"] == 0 and cap.totals["calls"] > 200_000
    assert int(cap.sites["peak_bytes"].sum()) == cap.totals["peak_heap_bytes"]
    assert (cap.sites["peak_bytes"] >= 0).all()


# --- the planted sites ------------------------------------------------------------------------

@pytest.mark.parametrize("function, live_end, peak, calls", [
    ("leak_lost", 32 * KiB * ITERATIONS, 32 * KiB * ITERATIONS, ITERATIONS),
    ("leak_reachable", 16 * KiB * ITERATIONS, 16 * KiB * ITERATIONS, ITERATIONS),
    ("pool_acquire", 256 * KiB, 256 * KiB, 4),
    ("scratch_work", 0, 128 * KiB, ITERATIONS),   # live at the peak: the peak is inside the last scratch_work
    ("init_once", 100 * KiB, 100 * KiB, 1),
])
def test_planted_sites(cap, function, live_end, peak, calls):
    row = site(cap, function)
    assert row["live_bytes_end"] == live_end
    assert row["peak_bytes"] == peak
    assert row["alloc_count"] == calls
    assert row["backend"] == "heaptrack"
    assert row["site"].startswith(f"{function} (") and "planted.c:" in row["site"]
    top = row["stack"][0]
    assert top.function == function and top.module.endswith("/planted") and top.line > 0
    assert [f.function for f in row["stack"][1:3]] == ["planted_iteration" if function != "init_once"
                                                       else "planted_setup", "main"]


def test_site_skips_allocator_frames_and_keeps_module_when_unsymbolised(cap):
    # libstdc++'s emergency pool: an address-only frame keeps its module
    row = cap.sites[cap.sites["site"].str.contains("libstdc")].iloc[0]
    assert row["function"] is None and row["module"].endswith("libstdc++.so.6")
    assert row["peak_bytes"] == 72704 and row["live_bytes_end"] == 0


def test_inlined_frames_are_expanded(cap):
    # fopen's buffer: __GI__IO_doallocbuf appears twice (an inlined frame of the same ip)
    stacks = [s for s in cap.sites["stack"] if s and s[0].function == "__GI__IO_file_doallocate"]
    assert stacks
    names = [f.function for f in stacks[0]]
    assert names.count("__GI__IO_doallocbuf") == 2


# --- timeline ----------------------------------------------------------------------------------

def series(capture, function):
    sid = site(capture, function)["site_id"]
    tl = capture.timeline[capture.timeline["site_id"] == sid].sort_values("slice")
    return tl["slice"].tolist(), tl["live_bytes"].tolist()


def test_timeline_at_iteration_boundaries(aligned):
    slices, leak = series(aligned, "leak_lost")
    assert slices == list(range(1, ITERATIONS + 1))
    assert leak == [32 * KiB * i for i in slices]
    _, pool = series(aligned, "pool_acquire")
    assert pool == [64 * KiB * min(i, 4) for i in slices]
    _, scratch = series(aligned, "scratch_work")
    assert scratch == [0] * ITERATIONS
    _, init = series(aligned, "init_once")
    assert init == [100 * KiB] * ITERATIONS
    t = aligned.timeline.drop_duplicates("slice")["t"].tolist()
    assert t == [b[1] for b in boundaries()]


def test_timeline_without_boundaries_is_slices_of_work(cap):
    # no records: cut after equal counts of allocation calls and of requested bytes (not by
    # heaptrack's clock, which stalls while the program allocates); times are the clock's there
    tl = cap.timeline
    per_slice = tl.drop_duplicates("slice").sort_values("slice")
    assert 10 <= len(per_slice) <= 41
    assert cap.meta["timeline"].startswith("slices by allocation count")
    assert per_slice["t"].tolist() == sorted(per_slice["t"].tolist())
    # the last slice is the end state
    last = tl[tl["slice"] == per_slice["slice"].max()].set_index("site_id")["live_bytes"]
    assert (last == cap.sites.set_index("site_id")["live_bytes_end"]).all()
    _, leak = series(cap, "leak_lost")
    assert leak == sorted(leak) and leak[-1] == 12 * 32 * KiB


def test_meta(cap):
    assert cap.meta["command"] == "./planted 12"
    assert cap.meta["heaptrack_version"] == "1.4.0" and cap.meta["file_format"] == 3
    assert cap.meta["page_size"] == 4096


def test_gzip_capture_gives_the_same_result(cap):
    g = load_capture(GZ)
    assert g.totals == cap.totals
    assert g.sites.drop(columns=["stack"]).equals(cap.sites.drop(columns=["stack"]))
    assert g.sites["stack"].tolist() == cap.sites["stack"].tolist()


def test_detect():
    assert detect(ZST) == "heaptrack" and detect(GZ) == "heaptrack"


# --- bad input ---------------------------------------------------------------------------------

def text() -> bytes:
    return zstandard.ZstdDecompressor().decompressobj().decompress(ZST.read_bytes())


def zst(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


def bad(tmp_path, name, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(BadCapture) as exc:
        load_capture(p)
    msg = str(exc.value)
    assert "\n" not in msg and str(p) in msg
    return msg


def test_empty(tmp_path):
    assert "empty" in bad(tmp_path, "e.zst", b"")


def test_truncated_stream(tmp_path):
    raw = ZST.read_bytes()
    assert "truncated" in bad(tmp_path, "t.zst", raw[: len(raw) - 20])
    assert "truncated" in bad(tmp_path, "half.zst", raw[: len(raw) // 2])


def test_truncated_gzip_is_read_to_the_cut(tmp_path):
    g = GZ.read_bytes()
    p = tmp_path / "t.gz"
    p.write_bytes(g[: len(g) - 10])
    cut = load_capture(p)
    assert "gzip stream ends early" in cut.truncated.reason
    assert cut.totals["calls"] <= load_capture(GZ).totals["calls"]


def test_corrupted_bytes(tmp_path):
    raw = bytearray(ZST.read_bytes())
    for i in range(200, 260):
        raw[i] ^= 0x5A
    msg = bad(tmp_path, "c.zst", bytes(raw))
    assert "corrupt" in msg or "line" in msg


def test_foreign_zstd_and_text(tmp_path):
    msg = bad(tmp_path, "foreign.zst", zst(b"hello, this is not heaptrack\n" * 10))
    assert "not a capture" in msg
    bad(tmp_path, "plain.txt", b"just some text\n")
    bad(tmp_path, "foreign.gz", gzip.compress(b'{"json": true}\n'))


def test_file_stops_mid_record(tmp_path):
    t = text()
    cut = t.index(b"\n+ ", len(t) // 2) + 2      # "...\n+" with no number and no newline
    p = tmp_path / "mid.zst"
    p.write_bytes(zst(t[:cut]))
    got = load_capture(p)
    # the partial record is dropped, everything before it is read
    assert got.truncated.reason == "the last record is cut off"
    assert got.truncated.details["complete_lines"] == t[:cut].count(b"\n")
    assert got.totals["calls"] == t[:cut].count(b"\n+ ")


def test_garbage_line_is_reported_with_its_number(tmp_path):
    lines = text().split(b"\n")
    lines.insert(40, b"Q this is not a heaptrack record")
    assert "line 41:" in bad(tmp_path, "g.zst", zst(b"\n".join(lines)))
    lines = text().split(b"\n")
    k = next(i for i, l in enumerate(lines) if l.startswith(b"+ ") and i > 60)
    lines[k] = b"+ zz"
    assert f"line {k + 1}: malformed number" in bad(tmp_path, "n.zst", zst(b"\n".join(lines)))


@pytest.mark.parametrize("record, what", [
    (b"+ fff", "undefined allocation"),
    (b"t 3 ff", "undefined trace"),
    (b"i 1234 ff", "undefined string"),
    (b"a 10 fff", "undefined trace"),
])
def test_undefined_references(tmp_path, record, what):
    lines = text().split(b"\n")
    lines.insert(30, record)
    msg = bad(tmp_path, "u.zst", zst(b"\n".join(lines)))
    assert "line 31:" in msg and what in msg


def test_use_before_definition(tmp_path):
    # an allocation event for info 1 placed before the `a` line that defines info 1
    lines = text().split(b"\n")
    a_lines = [i for i, l in enumerate(lines) if l.startswith(b"a ")]
    lines.insert(a_lines[1], b"+ 1")
    msg = bad(tmp_path, "early.zst", zst(b"\n".join(lines)))
    assert f"line {a_lines[1] + 1}:" in msg and "undefined allocation" in msg


def test_unsupported_file_format(tmp_path):
    t = text().replace(b"v 10400 3\n", b"v 10400 9\n", 1)
    assert "line 1:" in bad(tmp_path, "v.zst", zst(t))


def test_sniff_is_exclusive():
    massif = Path(__file__).parent.parent / "data" / "massif" / "planted.massif.out"
    assert not ht.sniff(massif.read_bytes()[:4096], massif)
    assert ht.sniff(ZST.read_bytes()[:4096], ZST)


# --- leak suppressions ---------------------------------------------------------------------------

def test_leak_suppressions_like_heaptrack_print():
    cap = load_capture(DATA / "suppressed.zst")
    printed = {}
    for line in (DATA / "suppressed.print.txt").read_text().splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            printed[key] = value
    assert_printed(cap.totals["leaked_bytes"], printed["total memory leaked"])
    assert_printed(cap.totals["suppressed_leaked_bytes"], printed["suppressed leaks"])
    # the plain leak (4 x 5000) and the cache named by the embedded suppression (4 x 3000) both count:
    # heaptrack_print 1.4 does not apply a format-3 `S` record; tzset's buffers are suppressed
    real = site(cap, "real_leak")
    cache = site(cap, "known_cache_fill")
    assert real["live_bytes_end"] == 20000 and cache["live_bytes_end"] == 12000
    assert cap.totals["leaked_bytes"] == cap.totals["live_bytes_end"] - cap.totals["suppressed_leaked_bytes"]
    tz = cap.sites[[any(f.function == "tzset_internal" for f in s) for s in cap.sites["stack"]]]
    assert cap.totals["suppressed_leaked_bytes"] == tz["live_bytes_end"].sum() > 0
    assert cap.meta["suppressions"] == ["leak:known_cache_*"]
    # sites keep the bytes they hold, suppressed or not
    assert cap.sites["live_bytes_end"].sum() == cap.totals["live_bytes_end"]


def test_uncompressed_data_file(tmp_path):
    # heaptrack_print reads an uncompressed data file as well; so do we
    p = tmp_path / "planted.txt"
    p.write_bytes(text())
    assert detect(p) == "heaptrack"
    plain = load_capture(p)
    assert plain.totals == load_capture(ZST).totals
    cut = text()
    p.write_bytes(cut[: cut.index(b"\n+ ", len(cut) // 2) + 2])
    assert load_capture(p).truncated.reason == "the last record is cut off"


# --- in-band iteration markers --------------------------------------------------------------------
# marked.zst: planted 12 with its markers (a malloc+free of marker_size(i) right after each
# record); llama_switch.zst (tests/data/triage): the C switch loop against libllama with them.
# Time alone cut llama_switch's boundaries exactly at 2 of 6: heaptrack's `c` stamps went from
# 85 ms to 1074 ms to 1423 ms while libllama loaded (the timer thread waits for the lock the
# allocating thread keeps taking), and the unload lies within ~20 ms of t_end.

MARKED = DATA / "marked.zst"
TRIAGE = DATA.parent / "triage"


_bounds = read_boundaries


@pytest.fixture(scope="module")
def marked():
    return load_capture(MARKED, boundaries=_bounds(DATA / "marked.iterations.jsonl"))


def _printed(path) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in path.read_text().splitlines() if ": " in line)


def test_marker_protocol_is_the_same_in_the_loop_and_the_parsers():
    from profiler.markers import marker_code, marker_size
    from profiler.workload.child import IterationMarker

    for i in (1, 2, 6, 2047, 2048, 5000):
        assert IterationMarker.size(i) == marker_size(i)
        assert marker_code(marker_size(i)) == i % 2048
    assert marker_size(1) == 12043 and marker_size(12) == 12131
    # neither a power of two nor n KiB + 1 (a terminator): real code's sizes are not markers
    assert marker_code(12289) is None and marker_code(16384) is None and marker_code(12035 + 4) is None
    text = (Path(__file__).parents[1] / "workloads" / "memprof_marks.h").read_text()  # planted.c includes it
    assert "malloc(12035 + 8 * (i % 2048))" in text


def test_marked_capture_totals_equal_heaptrack_print_markers_included(marked):
    printed = _printed(DATA / "marked.print.txt")
    # the 12 marker calls are real calls: heaptrack_print counts them, so do we (68 without)
    assert marked.totals["calls"] == int(printed["calls to allocation functions"].split()[0]) == 80
    assert marked.totals["temporary"] == int(printed["temporary memory allocations"].split()[0]) == 38
    assert_printed(marked.totals["peak_heap_bytes"], printed["peak heap memory consumption"])
    assert_printed(marked.totals["leaked_bytes"], printed["total memory leaked"])
    assert marked.meta["markers"] == {"calls": 12, "bytes": sum(12035 + 8 * i for i in range(1, 13)),
                                      "boundaries_at_markers": 12, "boundaries": 12}
    # the marker's site is protocol, not the program's: left out of the sites table and timeline
    assert "iteration_marker" not in set(marked.sites["function"])
    assert int(marked.sites["alloc_count"].sum()) == 80 - 12
    assert set(marked.timeline["site_id"]) == set(marked.sites["site_id"])
    assert marked.meta["timeline_unit"] == "iteration"
    assert "in-band markers" in marked.meta["timeline"]


def test_marked_timeline_is_exact_at_every_boundary(marked):
    slices, leak = series(marked, "leak_lost")
    assert slices == list(range(1, ITERATIONS + 1))
    assert leak == [32 * KiB * i for i in slices]
    assert series(marked, "leak_reachable")[1] == [16 * KiB * i for i in slices]
    assert series(marked, "pool_acquire")[1] == [64 * KiB * min(i, 4) for i in slices]
    assert series(marked, "scratch_work")[1] == [0] * ITERATIONS
    assert series(marked, "init_once")[1] == [100 * KiB] * ITERATIONS


def test_llama_switch_boundaries_cut_at_markers():
    cap = load_capture(TRIAGE / "llama_switch.zst", boundaries=_bounds(TRIAGE / "llama_switch.iterations.jsonl"))
    printed = _printed(TRIAGE / "llama_switch.print.txt")
    assert cap.totals["calls"] == int(printed["calls to allocation functions"].split()[0])
    assert_printed(cap.totals["peak_heap_bytes"], printed["peak heap memory consumption"])
    assert cap.meta["markers"]["boundaries_at_markers"] == 6
    tl = cap.timeline
    # the scheduler's 21.7 MB buffer is freed before every marker: never live at a boundary
    sched = cap.sites[cap.sites["function"] == "ggml_backend_sched_new"]
    big = sched[sched["peak_bytes"] > 20_000_000]["site_id"]
    assert len(big) == 1
    assert (tl[tl["site_id"].isin(sched["site_id"])]["live_bytes"] == 0).all()
    # after each unload the same 2,386,345 bytes stay (vocabulary tables, backend registry...)
    assert tl.groupby("slice")["live_bytes"].sum().tolist() == [2386345] * 6


def test_capture_without_markers_falls_back_to_time(aligned, cap):
    assert aligned.meta["markers"]["boundaries_at_markers"] == 0
    assert "no in-band markers" in aligned.meta["timeline"]
    assert aligned.meta["timeline_unit"] == "iteration"
    assert cap.meta["timeline_unit"] == "slice"


def test_markers_without_boundaries_leave_the_sites_table(marked):
    plain = load_capture(MARKED)
    assert plain.meta["timeline_unit"] == "slice"
    assert plain.meta["markers"]["calls"] == 12
    assert set(plain.sites["function"]) == set(marked.sites["function"])


def test_markers_can_be_turned_off(monkeypatch):
    from profiler.workload.child import IterationMarker

    monkeypatch.setenv("MEMPROF_MARKERS", "0")
    off = IterationMarker()
    assert off._malloc is None
    off.mark(1)          # a no-op
    monkeypatch.delenv("MEMPROF_MARKERS")
    assert IterationMarker()._malloc is not None


# --- batches: the decoder's state carries over from one batch of lines to the next ---------------

LLAMA = Path(__file__).parent.parent / "data" / "triage" / "llama_switch.zst"


def _small_batches(monkeypatch):
    """Batches of ~4 KiB: the decoder stops and resumes at hundreds of batch ends (a real
    capture's batches are 1 MiB, more than most fixtures hold)."""
    from profiler.parsers import decompress

    monkeypatch.setattr(decompress, "PIECE_MAX", 4096)
    monkeypatch.setattr(ht, "BATCH_SIZE", 4096)


def _same(a, b):
    assert a.totals == b.totals
    assert a.sites.drop(columns=["stack"]).equals(b.sites.drop(columns=["stack"]))
    assert list(a.sites["stack"]) == list(b.sites["stack"])
    assert a.timeline.equals(b.timeline) and a.meta == b.meta


@pytest.mark.parametrize("name, records", [("llama", "llama_switch.iterations.jsonl"), ("llama", None),
                                           ("many", "many.iterations.jsonl")])
def test_small_batches_read_the_same(monkeypatch, name, records):
    path = LLAMA if name == "llama" else DATA / "many.zst"
    bounds = read_boundaries(path.parent / records) if records else None
    whole = load_capture(path, boundaries=bounds)
    _small_batches(monkeypatch)
    _same(load_capture(path, boundaries=bounds), whole)


@pytest.mark.parametrize("record, what", [(b"t 3 fffff", "undefined trace"), (b"a 10 fffff", "undefined trace"),
                                          (b"t 1 2 3", "malformed record"), (b"a 1z 2", "malformed record"),
                                          (b"t ffffff 1", "undefined instruction pointer"),
                                          # int(x, 16) takes these, heaptrack_print does not
                                          (b"t 3 -1", "malformed record"), (b"t 3 +2", "malformed record"),
                                          (b"t 3 0x2", "malformed record"), (b"t 3 0_2", "malformed record"),
                                          (b"t 3  2", "malformed record"), (b"t 3 2 ", "malformed record"),
                                          (b"t 3 A", "malformed record")])
def test_bad_definition_late_in_a_capture_is_named_by_line(tmp_path, monkeypatch, record, what):
    """A bad `t`/`a` record deep in the file: the decoder hands it back and the message names the
    very line, whatever the batches."""
    lines = zstandard.ZstdDecompressor().decompressobj().decompress(LLAMA.read_bytes()).split(b"\n")
    k = [i for i, line in enumerate(lines) if line.startswith(b"t ")][-200]
    lines.insert(k, record)
    data = zst(b"\n".join(lines))
    msg = bad(tmp_path, "late.zst", data)
    assert f"line {k + 1}:" in msg and what in msg
    _small_batches(monkeypatch)
    assert bad(tmp_path, "late2.zst", data) == msg.replace("late.zst", "late2.zst")


def _planted_edited(tmp_path, line_no: int, old: bytes, new: bytes):
    """planted.txt with one line of the real capture replaced."""
    lines = text().split(b"\n")
    assert lines[line_no - 1] == old
    lines[line_no - 1] = new
    p = tmp_path / "planted.txt"
    p.write_bytes(b"\n".join(lines))
    return p


def test_a_negative_parent_is_a_bad_capture_not_a_crash(tmp_path):
    """`t 3 -1` used to reach the decoder, whose stack walk then wrote out of bounds (bus error)."""
    p = _planted_edited(tmp_path, 23, b"t 3 2", b"t 3 -1")
    with pytest.raises(BadCapture, match=r"line 23: malformed record b't 3 -1'"):
        load_capture(p)


@pytest.mark.parametrize("record", [b"a 11c00 -1", b"a -11c00 4", b"a +11c00 4"])
def test_a_negative_trace_or_size_is_a_bad_capture(tmp_path, record):
    """A negative trace was an internal IndexError (exit 70); a negative size was read (and raised
    the heap on its free) where heaptrack_print says `failed to parse line`."""
    p = _planted_edited(tmp_path, 26, b"a 11c00 4", record)
    with pytest.raises(BadCapture, match=r"line 26: malformed record " + re.escape(repr(record))):
        load_capture(p)


HUGE = (1 << 48) - 1            # the largest allocation size the reader takes
IN_RANGE = 32767                 # events of it that keep planted's byte totals in int64 (32768 x HUGE do not)


def _huge_events(tmp_path, event: bytes, k: int):
    """planted.txt with an allocation info of HUGE bytes defined at the end and k events of it."""
    t = text()
    n = sum(1 for line in t.split(b"\n") if line.startswith(b"a "))
    p = tmp_path / "huge.txt"
    p.write_bytes(t + b"a %x 4\n" % HUGE + (event + b" %x\n" % n) * k)
    return p, t.count(b"\n") + 1


@pytest.mark.parametrize("event", [b"+", b"-"])
def test_byte_totals_out_of_int64_are_a_bad_capture(tmp_path, event):
    """The decoder's sums were signed int64 additions that overflowed silently (negative totals) or
    gave an OverflowError traceback; the event that would take them out of range is named."""
    p, a_line = _huge_events(tmp_path, event, IN_RANGE + 1)
    with pytest.raises(BadCapture, match=rf"line {a_line + IN_RANGE + 1}: byte totals out of range"):
        load_capture(p)


def test_byte_totals_just_in_range_are_exact(tmp_path):
    p, _ = _huge_events(tmp_path, b"+", IN_RANGE)
    big, base = load_capture(p).totals, load_capture(ZST).totals
    assert big["calls"] == base["calls"] + IN_RANGE
    assert big["allocated_bytes_total"] == base["allocated_bytes_total"] + IN_RANGE * HUGE
    assert big["live_bytes_end"] == base["live_bytes_end"] + IN_RANGE * HUGE == big["peak_heap_bytes"]


def test_the_decoder_refuses_allocation_infos_out_of_range():
    dec = _decoder()
    dec.add_info(16, 0)
    for size, trace in [(-1, 0), (ht.MAX_SIZE, 0), (16, -1), (16, 1)]:
        with pytest.raises(ValueError):
            dec.add_info(size, trace)
    assert dec.n_infos == 1


def test_the_decoder_refuses_trace_nodes_out_of_range():
    dec = _decoder()
    dec.n_ips = 2
    dec.add_trace(1, 0)
    for ip, parent in [(1, -1), (1, 2), (0, 0), (3, 0), (-1, 0)]:
        with pytest.raises(ValueError):
            dec.add_trace(ip, parent)
    assert dec.n_traces == 1
    dec.add_trace(2, 1)
    assert dec.stacks([2, 1, 0], [None, (1,), (2,)]) == [(2, 1), (1,), ()]


def _decoder():
    from profiler.markers import MARKER_BASE, MARKER_SPAN, marker_size

    return ht._decoder_module().Decoder(MARKER_BASE, marker_size(1) - marker_size(0), MARKER_SPAN)


def test_the_decoder_survives_misuse():
    """Misuse from Python gets an exception, not a crash: an object that skipped __init__ (marker
    step 0 was a division by zero), a negative position (read before the buffer)."""
    import numpy as np

    Decoder = ht._decoder_module().Decoder
    raw = Decoder.__new__(Decoder)
    raw.add_info(16, 0)
    assert raw.info(0) == (16, 0, -1)
    with pytest.raises(ValueError, match="negative"):
        _decoder().feed(b"a 10 0\n+ 0\n", -1, 0)
    dec = _decoder()
    assert dec.feed(b"a 10 0\n+ 0\n+ 0\nc 5\n- 0\n", 0, 0)[0] == 0
    assert np.frombuffer(dec.array("peak"), np.int64).tolist() == [2] and dec.peak == 32
    # `A`: the totals start again, and so does the peak: its state and time are those of now
    dec.attach()
    assert dec.peak == 0 and dec.peak_ms == 5
    assert np.frombuffer(dec.array("peak"), np.int64).tolist() == [1]


def test_a_checkout_without_the_built_decoder_says_how_to_build_it(monkeypatch):
    """The decoder is a C extension built by `pip install -e .`; a checkout where it was never built
    (a merge brought the C file, nobody ran the install) gets one line with the command, not a
    traceback."""
    import sys

    from profiler.errors import ExitCode, ToolMissing

    monkeypatch.setitem(sys.modules, "profiler.parsers._htdecode", None)   # import fails
    with pytest.raises(ToolMissing) as exc:
        load_capture(ZST)
    assert exc.value.exit_code == ExitCode.TOOL_MISSING
    assert "pip install -e ." in str(exc.value) and "\n" not in str(exc.value)
