"""Captures made by others and the defect classes they showed, each checked against the tool's
own output beside the capture.

The captures are not in this repository (tests/data/external/SOURCES.md lists them, their sources
and licences): they are read from $MEMPROF_EXTERNAL_CORPUS, else ../shared/external/ beside the
clone, else a local copy in tests/data/external/; a test whose file is in none of them is skipped.
Every defect class they showed is also proven on our own fixtures (test_parse_massif.py,
test_parse_memcheck.py, test_parse_heaptrack.py and the tests below that read tests/data/ only).
"""
from __future__ import annotations

import bz2
import os
import re
from pathlib import Path

import pytest

from profiler.errors import BadCapture
from profiler.parsers import memcheck, massif

ROOT = Path(__file__).resolve().parents[1] / "data"
REPO = ROOT.parents[1]
MEMCHECK = ROOT / "memcheck"


def corpus_dirs() -> list[Path]:
    """Where the captures made by others may be, in order of preference."""
    dirs = [Path(os.environ["MEMPROF_EXTERNAL_CORPUS"])] if os.environ.get("MEMPROF_EXTERNAL_CORPUS") else []
    return dirs + [REPO.parent / "shared" / "external", ROOT / "external"]


def external(sub: str, name: str) -> Path:
    """The corpus file `sub/name` from the first place that holds it, else skip the test."""
    for d in corpus_dirs():
        if (d / sub / name).is_file():
            return d / sub / name
    pytest.skip(f"capture made by others not present: put {sub}/{name} (see tests/data/external/SOURCES.md) "
                f"under $MEMPROF_EXTERNAL_CORPUS, {REPO.parent / 'shared' / 'external'} or {ROOT / 'external'}")


def ms_rows(path: Path) -> dict[int, tuple[int, int, int, int]]:
    """ms_print's snapshot table: n -> (total, useful heap, extra heap, stacks)."""
    rows = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^\s+(\d+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s*$", line)
        if m:
            n, _, total, useful, extra, stacks = (int(g.replace(",", "")) for g in m.groups())
            rows[n] = (total, useful, extra, stacks)
    return rows


def log_summary(path: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for m in re.finditer(r"(definitely lost|indirectly lost|possibly lost|still reachable|suppressed): "
                         r"([\d,]+) bytes in ([\d,]+) blocks", path.read_text()):
        out[m.group(1)] = (int(m.group(2).replace(",", "")), int(m.group(3).replace(",", "")))
    return out


# --- massif ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mv-massif.out.32406", "mv-massif.out.huge", "mv-massif.out.stack",
                                  "mv-massif.out.duchainify.bz2", "liboqs-massif.out", "zant-massif_pages.out",
                                  "zant-massif.out", "awesomell-massif.out"])
def test_massif_visualizer_captures_match_ms_print(name):
    path = external("massif", name)
    oracle = external("massif", name.removesuffix(".bz2") + ".ms_print.txt")
    cap = massif.parse(path, fileobj=bz2.open(path) if name.endswith(".bz2") else None)
    rows = ms_rows(oracle)
    assert cap.totals["snapshots"] == len(rows)
    heap = max(r[1] for r in rows.values())
    assert cap.totals["peak_heap_bytes"] == heap
    # heap and extra come from one snapshot, the one that holds the largest heap
    total, useful, extra, _ = rows[cap.meta["peak_snapshot"]]
    assert (cap.totals["peak_heap_bytes"], cap.totals["peak_heap_extra_bytes"]) == (useful, extra)
    assert cap.totals["peak_total_bytes"] == max(r[0] for r in rows.values())
    assert cap.totals["end_heap_bytes"] == rows[max(rows)][1]


def test_marked_peak_is_not_the_largest_heap():
    # massif-visualizer's duchainify capture: massif marked snapshot 67, snapshot 68 holds 3,992 B more
    path = external("massif", "mv-massif.out.duchainify.bz2")
    cap = massif.parse(path, fileobj=bz2.open(path))
    rows = ms_rows(external("massif", "mv-massif.out.duchainify.ms_print.txt"))
    assert cap.meta["marked_peak_snapshot"] == 67 and cap.meta["peak_snapshot"] == 68
    assert cap.totals["peak_heap_bytes"] == rows[68][1] == 171122666 > rows[67][1]
    assert cap.totals["peak_heap_extra_bytes"] == rows[68][2] == 1516790
    assert any("marked snapshot 67" in n for n in cap.meta["caveats"])


@pytest.mark.parametrize("name, last_tree", [("zant-massif_pages.out", 30), ("zant-massif.out", 62),
                                             ("awesomell-massif.out", 72)])
def test_end_bytes_of_real_projects_follow_the_fall_after_the_last_tree(name, last_tree):
    """Three of four real projects' captures end with the heap below their last detailed snapshot
    (--pages-as-heap: 1,757,184 B at the tree, 1,368,064 B at exit; --stacks=yes: 43,000 B and
    6,336 B): the sites' live bytes at the end add up to the final heap, not the tree's."""
    path = external("massif", name)
    cap = massif.parse(path)
    rows = ms_rows(external("massif", f"{name}.ms_print.txt"))
    end_heap, tree_heap = rows[max(rows)][1], rows[last_tree][1]
    assert cap.meta["end_snapshot"] == last_tree and end_heap < tree_heap
    live = int(cap.sites["live_bytes_end"].sum())
    assert end_heap - len(cap.sites) <= live <= end_heap        # scaled, floor-rounded per site
    assert cap.meta["end_sites_scale"] == pytest.approx(end_heap / tree_heap)


def test_pages_as_heap_capture_of_another_project():
    cap = massif.parse(external("massif", "zant-massif_pages.out"))
    assert cap.meta["pages_as_heap"] is True and cap.totals["peak_heap_bytes"] == 1761280


def test_stacks_only_capture():
    cap = massif.parse(external("massif", "mv-massif.out.stack"))
    assert cap.meta["desc"].startswith("--stacks=yes")
    assert cap.totals["peak_heap_bytes"] == 0 and cap.totals["peak_total_bytes"] == 6400272


def test_end_bytes_scaled_when_the_heap_fell_after_the_last_tree():
    # templated.massif.out (Valgrind 3.19): the last detailed snapshot holds the program's blocks,
    # the heap is 0 at the final snapshot; sites must not claim them live at exit
    cap = massif.parse(ROOT / "massif" / "templated.massif.out")
    assert cap.totals["end_heap_bytes"] == 0
    assert cap.meta["end_sites_scale"] == 0.0
    assert int(cap.sites["live_bytes_end"].sum()) == 0 and int(cap.sites["peak_bytes"].sum()) > 0
    assert any("scaled" in n for n in cap.meta["caveats"])


@pytest.mark.parametrize("where", ["own", "external"])
def test_ms_print_output_recognised(where):
    head = _ms_print_output(where).read_bytes()[:4096]
    assert massif.looks_like_ms_print(head)
    assert not massif.looks_like_ms_print((ROOT / "massif" / "planted.massif.out").read_bytes()[:4096])


# --- memcheck -------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 3, 4, 6])
def test_valgrind_regression_outputs_of_every_protocol(protocol):
    # Valgrind's own expected output of memcheck/tests/xml1 (filtered by its test harness: pids,
    # counts and summaries read `...`); the loss record states 396 bytes in 1 block
    cap = memcheck.parse(external("memcheck", f"vg-xml1-protocol{protocol}.xml"))
    assert cap.meta["protocol_version"] == protocol
    assert (cap.totals["definitely_lost_bytes"], cap.totals["definitely_lost_blocks"]) == (396, 1)
    assert list(cap.sites["function"]) == ["frame3"]
    # six error contexts, the counts filtered away: each counted once, and said so
    assert cap.meta["errors_by_kind"] == {"InvalidRead": 1, "UninitCondition": 1, "UninitValue": 1,
                                          "InvalidFree": 2, "SyscallParam": 1}
    assert cap.totals["errors"] == 6
    assert any("without an <errorcounts> entry" in n for n in cap.meta["notes"])


def test_protocol_1_still_refused(tmp_path):
    data = (external("memcheck", "vg-xml1-protocol2.xml")).read_bytes().replace(
        b"<protocolversion>2<", b"<protocolversion>1<", 1)
    (tmp_path / "p1.xml").write_bytes(data)
    with pytest.raises(BadCapture, match="protocol version 1 is not supported"):
        memcheck.parse(tmp_path / "p1.xml")


def test_protocol_6_leak_summary_read():
    cap = memcheck.parse(MEMCHECK / "planted_default_v6_derived.xml")
    summary = log_summary(MEMCHECK / "planted_default.log")
    assert cap.meta["hidden_kinds"] == ["indirect", "reachable"]
    # hidden kinds are known from the summary (thousands separators and all)
    assert (cap.totals["still_reachable_bytes"], cap.totals["still_reachable_blocks"]) == \
        summary["still reachable"] == (446464, 10)
    assert (cap.totals["definitely_lost_bytes"], cap.totals["definitely_lost_blocks"]) == summary["definitely lost"]
    assert (cap.totals["indirectly_lost_bytes"], cap.totals["possibly_lost_bytes"]) == (0, 0)
    assert cap.totals["in_use_at_exit_bytes"] == 610304 and cap.totals["bytes_allocated"] == 1267160
    assert cap.meta["error_summary"] == {"errors": 1, "error_contexts": 1, "suppressed": 0, "suppressed_contexts": 0}


def test_indirect_bytes_from_the_split_when_indirect_records_are_hidden():
    cap = memcheck.parse(MEMCHECK / "errors_default.xml")
    summary = log_summary(MEMCHECK / "errors_default.log")
    assert "indirect" in cap.meta["hidden_kinds"]
    assert cap.totals["indirectly_lost_bytes"] == summary["indirectly lost"][0] == 200
    assert cap.totals["definitely_lost_bytes"] == summary["definitely lost"][0] == 8
    # the site ranks by what leaks through it: 8 direct + the 200 only it holds
    s = cap.sites.set_index("leak_kind")
    assert s.loc["definite", "live_bytes_end"] == 208 and s.loc["definite", "function"] == "lose_holder"


def test_errors_without_errorcounts_entry_counted(tmp_path):
    data = (MEMCHECK / "errors.xml").read_text()
    start = data.index("<errorcounts>")
    end = data.index("</errorcounts>") + len("</errorcounts>")
    (tmp_path / "e.xml").write_text(data[:start] + "<errorcounts>\n</errorcounts>" + data[end:])
    cap = memcheck.parse(tmp_path / "e.xml")
    assert cap.meta["errors_by_kind"] == {"InvalidRead": 1, "UninitCondition": 1}
    assert cap.totals["errors"] == 2
    assert any("without an <errorcounts> entry" in n for n in cap.meta["notes"])


def _ms_print_output(where: str) -> Path:
    """ms_print's report: Valgrind's own regression output, or ours on our planted capture."""
    if where == "own":
        return ROOT / "massif" / "planted.massif.out.ms_print.txt"
    return external("massif", "vg-peak.ms_print.txt")


# --- files given by mistake -----------------------------------------------------------------------

def _one_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("memprof: error: "), err
    return lines[0]


@pytest.mark.parametrize("where", ["own", "external"])
def test_ms_print_output_gets_a_specific_message(where):
    from profiler.errors import ExitCode
    from testkit import memprof

    code, _, err = memprof("analyze", _ms_print_output(where))
    assert code == ExitCode.BAD_INPUT
    assert "this is ms_print output, give the massif.out file" in _one_error(err)


@pytest.mark.parametrize("kind, tool", [("bzip2", "bunzip2"), ("gzip", "gunzip")])
def test_compressed_file_gets_a_specific_message(tmp_path, kind, tool):
    """A compressed file memprof recognises no capture in (until the decompression layer reads
    it): say it is compressed and how to decompress, not 'not a CSV series'."""
    import gzip

    from profiler.errors import ExitCode
    from testkit import memprof

    data = _ms_print_output("own").read_bytes()
    path = tmp_path / f"notes.{kind}"
    path.write_bytes(bz2.compress(data) if kind == "bzip2" else gzip.compress(data))
    code, _, err = memprof("analyze", path)
    assert code == ExitCode.BAD_INPUT
    line = _one_error(err)
    assert f"{kind}-compressed" in line and tool in line


# --- heaptrack ------------------------------------------------------------------------------------

def _si(text: str) -> tuple[float, int]:
    """heaptrack_print's figure ("996.97K", "5B") -> (value, unit in bytes): SI units, 2 decimals."""
    m = re.fullmatch(r"([\d.]+)([KMGT]?)B?", text)
    return float(m.group(1)), {"": 1, "K": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12}[m.group(2)]


@pytest.mark.parametrize("name", [
    "own:planted.gz",                                     # ours: heaptrack 1.4 capture recompressed with gzip
    "ht-heaptrack.david.18594.gz",                        # heaptrack 1.0 (v 10000), file format 2, gzip
    "dhp-data_1.gz",                                      # 1.1.x (v 10150), format 2, gzip
    "ht-heaptrack.embedded_lsan_suppressions.84207.zst",  # 1.3 development (v 10250), format 3, zstd
    "hwu-heaptrack.lelouch.88322.zst",                    # 1.5 (v 10500), format 3, zstd
])
def test_heaptrack_test_captures_match_heaptrack_print(name):
    from profiler.parsers import load_capture

    if name.startswith("own:"):
        path = ROOT / "heaptrack" / name.removeprefix("own:")
        oracle = path.with_name(path.name + ".heaptrack_print.txt")     # heaptrack_print -n 5 on the .gz
    else:
        path, oracle = external("heaptrack", name), external("heaptrack", f"{name}.heaptrack_print.txt")
    cap = load_capture(path)
    text = oracle.read_text()
    fields = dict(re.findall(r"^(calls to allocation functions|temporary memory allocations|peak heap memory "
                             r"consumption|total memory leaked|suppressed leaks): (\S+)", text, re.M))
    assert cap.totals["calls"] == int(fields["calls to allocation functions"])
    assert cap.totals["temporary"] == int(fields["temporary memory allocations"])
    for key, label in (("peak_heap_bytes", "peak heap memory consumption"), ("leaked_bytes", "total memory leaked"),
                       ("suppressed_leaked_bytes", "suppressed leaks")):
        if label not in fields:       # heaptrack_print omits "suppressed leaks" when there are none
            assert cap.totals[key] == 0, key
            continue
        value, unit = _si(fields[label])
        assert round(cap.totals[key] / unit, 2) == value, key


def test_real_capture_indirect_split_and_ranking():
    """NovelRT's committed valgrind.xml (Valgrind 3.14, default --show-leak-kinds): two definitely
    lost records hold indirect blocks ("551,493 (400 direct, 551,093 indirect) bytes"). Oracle:
    Valgrind's own record texts."""
    path = external("memcheck", "novelrt-valgrind.xml")
    cap = memcheck.parse(path)
    texts = re.findall(r"<text>([\d,]+)(?: \(([\d,]+) direct, ([\d,]+) indirect\))? bytes in ([\d,]+) blocks are "
                       r"(definitely|possibly) lost", path.read_text())
    num = lambda x: int(x.replace(",", "")) if x else 0  # noqa: E731
    direct = sum(num(d) if d else num(t) for t, d, i, b, k in texts if k == "definitely")
    indirect = sum(num(i) for t, d, i, b, k in texts)
    assert cap.meta["valgrind_version"] == "Valgrind-3.14.0" and cap.meta["hidden_kinds"] == ["indirect", "reachable"]
    assert cap.totals["definitely_lost_bytes"] == direct == 64266233
    assert cap.totals["indirectly_lost_bytes"] == indirect == 1728 + 551093
    # sites rank by what leaks through them: the 551,493-byte record is fourth (by its 400 direct bytes: sixth)
    ranked = cap.sites.sort_values("live_bytes_end", ascending=False)["live_bytes_end"].tolist()
    assert ranked == sorted((num(t) for t, *_ in texts), reverse=True)
    assert ranked[3] == 551493


@pytest.mark.parametrize("where, scale", [("own", "0.400"), ("external", "0.147")])
def test_caveats_printed_with_the_capture(tmp_path, where, scale):
    """The scaled end bytes are said where the verdict is read: the console summary and the report.
    Own: fall.massif.out (tests/workloads/fall_after_tree.c, 327,680 B in the tree, 131,072 B at exit);
    external: Z-Ant's --stacks=yes capture."""
    from testkit import memprof

    capture = ROOT / "massif" / "fall.massif.out" if where == "own" else external("massif", "zant-massif.out")
    code, out, err = memprof("analyze", capture)
    assert code == 0, err
    assert f"note: per-site live bytes at the end are scaled by {scale}" in out
    code, _, err = memprof("report", capture, "-o", tmp_path / "r")
    assert code == 0, err
    assert f"Note: per-site live bytes at the end are scaled by {scale}" in (tmp_path / "r" / "report.md").read_text()


def test_count_beyond_64_bits_refused(tmp_path):
    # found by the fuzz run once protocol 2 was read: a 23-digit <leakedbytes> overflowed pandas
    data = (external("memcheck", "vg-xml1-protocol2.xml")).read_text().replace(
        "<leakedbytes>396</leakedbytes>", "<leakedbytes>99999999999999999999999</leakedbytes>")
    (tmp_path / "big.xml").write_text(data)
    with pytest.raises(BadCapture, match="too large for a 64-bit count"):
        memcheck.parse(tmp_path / "big.xml")
