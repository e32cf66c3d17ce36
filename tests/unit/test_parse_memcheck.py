"""memcheck XML parser on real Valgrind 3.19 captures, checked against Valgrind's own LEAK SUMMARY."""
from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest

from profiler.errors import BadCapture
from profiler.parsers import detect, load_capture, memcheck
from testkit import LEAK_KEYS as KEYS
from testkit import leak_summary

DATA = Path(__file__).resolve().parents[1] / "data" / "memcheck"
PLANTED_C = Path(__file__).resolve().parents[1] / "workloads" / "planted.c"
N = 5  # iterations of the planted fixture


def source_line(needle: str) -> int:
    """Line of planted.c that holds `needle` (the fixtures are regenerated when planted.c changes)."""
    for n, line in enumerate(PLANTED_C.read_text().splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in planted.c")

_ERRORS_RE = re.compile(r"ERROR SUMMARY: ([\d,]+) errors from ([\d,]+) contexts \(suppressed: ([\d,]+) from ([\d,]+)\)")


def error_summary(log: Path) -> tuple[int, int, int, int]:
    m = _ERRORS_RE.search(log.read_text())
    assert m, f"no ERROR SUMMARY in {log}"
    return tuple(int(g.replace(",", "")) for g in m.groups())


@pytest.mark.parametrize("name", ["planted_all", "errors", "stripped"])
def test_totals_equal_valgrind_leak_summary(name):
    cap = load_capture(DATA / f"{name}.xml")
    assert cap.format == "memcheck"
    summary = leak_summary(DATA / f"{name}.log")
    for text, key in KEYS.items():
        assert (cap.totals[f"{key}_bytes"], cap.totals[f"{key}_blocks"]) == summary[text], key
    # site rows add up to the totals, kind by kind
    for kind, key in (("definite", "definitely_lost"), ("indirect", "indirectly_lost"),
                      ("possible", "possibly_lost"), ("reachable", "still_reachable")):
        rows = cap.sites[cap.sites.leak_kind == kind]
        assert rows.live_bytes_end.sum() == cap.totals[f"{key}_bytes"]
        assert rows.alloc_count.sum() == cap.totals[f"{key}_blocks"]


def test_planted_sites_exact():
    cap = load_capture(DATA / "planted_all.xml")
    s = cap.sites.set_index("function")
    assert sorted(s.index) == ["init_once", "leak_lost", "leak_reachable", "pool_acquire"]
    assert cap.sites.site_id.is_unique
    assert (s.loc["leak_lost", "leak_kind"], s.loc["leak_lost", "live_bytes_end"], s.loc["leak_lost", "alloc_count"]) \
        == ("definite", 32768 * N, N)
    assert (s.loc["leak_reachable", "leak_kind"], s.loc["leak_reachable", "live_bytes_end"],
            s.loc["leak_reachable", "alloc_count"]) == ("reachable", 16384 * N, N)
    assert (s.loc["pool_acquire", "leak_kind"], s.loc["pool_acquire", "live_bytes_end"],
            s.loc["pool_acquire", "alloc_count"]) == ("reachable", 4 * 65536, 4)
    assert (s.loc["init_once", "leak_kind"], s.loc["init_once", "live_bytes_end"],
            s.loc["init_once", "alloc_count"]) == ("reachable", 102400, 1)
    lost_line = source_line("malloc(32 * 1024)")
    assert s.loc["leak_lost", "site"].startswith("leak_lost (/") \
        and s.loc["leak_lost", "site"].endswith(f"/tests/workloads/planted.c:{lost_line})")
    assert s.loc["leak_lost", "module"].endswith("/planted")
    assert all(math.isnan(v) for v in cap.sites.peak_bytes)
    assert set(cap.sites.backend) == {"memcheck"}
    # the stack keeps the allocator frame innermost, then the planted call chain
    stack = s.loc["leak_lost", "stack"]
    assert [f.function for f in stack] == ["malloc", "leak_lost", "planted_iteration", "main"]
    assert stack[0].module.endswith("vgpreload_memcheck-amd64-linux.so") and stack[0].file is None
    assert stack[1].line == lost_line and stack[1].address > 0x1000
    assert cap.timeline is None
    assert cap.meta["protocol_version"] == 4 and cap.meta["valgrind_version"] == "Valgrind-3.19.0"
    assert cap.meta["command_line"] == ["./planted", str(N)]
    assert cap.meta["hidden_kinds"] == [] and cap.meta["finished"] is True
    assert cap.totals["errors"] == 0 and cap.totals["suppressed"] == 0


def test_one_stack_in_two_loss_records_is_one_site():
    """split10.xml: lose_block leaks 10 blocks; the one with an interior pointer left in a global
    is "possibly lost", the other 9 "definitely lost" (split_kinds.c). Two loss records, one
    allocation stack: one site holding all 10, its kind the most severe."""
    cap = load_capture(DATA / "split10.xml")
    summary = leak_summary(DATA / "split10.log")
    assert summary["definitely lost"] == (9 * 32768, 9) and summary["possibly lost"] == (32768, 1)
    assert (cap.totals["definitely_lost_bytes"], cap.totals["possibly_lost_bytes"]) == (9 * 32768, 32768)
    assert cap.meta["loss_records"] == 2
    (row,) = cap.sites.itertuples()
    assert (row.function, row.leak_kind, row.live_bytes_end, row.alloc_count) == ("lose_block", "definite",
                                                                                 10 * 32768, 10)
    assert cap.meta["loss_kinds_by_site"] == {row.site_id: {"definite": [9 * 32768, 9], "possible": [32768, 1]}}
    assert any("several kinds" in n for n in cap.meta["notes"])
    # triage names the site by its most severe kind and says what the rest of its blocks are
    from profiler.triage import load_rules, triage_capture

    (ev,) = triage_capture(cap, load_rules()).sites["evidence"]
    assert ev == ("definitely lost at exit: 320 KiB in 10 blocks (memcheck); its blocks: 9 blocks definitely "
                  "lost (288 KiB), 1 block possibly lost (32.0 KiB)")
    kept = triage_capture(load_capture(DATA / "split10_kept.xml"), load_rules()).sites
    assert leak_summary(DATA / "split10_kept.log")["still reachable"] == (9 * 32768, 9)
    assert kept["evidence"][0].startswith("possibly lost at exit: 320 KiB in 10 blocks; growth unknown")


def test_frames_without_symbols_keep_address_and_object():
    """A stripped program: its frames have only <ip> and <obj>; the object is the module."""
    cap = load_capture(DATA / "stripped.xml")
    lost = cap.sites[cap.sites.leak_kind == "definite"].iloc[0]
    assert (lost.live_bytes_end, lost.alloc_count) == (2 * 32768, 2)
    top = lost["stack"][1]
    assert top.function is None and top.file is None and top.line is None
    assert top.module.endswith("/stripped") and top.address > 0
    assert lost.site == f"0x{top.address:x} (in {top.module})"
    assert lost.function is None and lost.module == top.module
    assert lost["stack"][0].function == "malloc"


def test_hidden_kinds_are_unknown_not_zero():
    cap = load_capture(DATA / "planted_default.xml")
    summary = leak_summary(DATA / "planted_default.log")
    assert cap.meta["shown_kinds"] == ["definite", "possible"]
    assert cap.meta["hidden_kinds"] == ["indirect", "reachable"]
    # shown kinds still equal the summary, hidden ones are None although the log sums them
    assert (cap.totals["definitely_lost_bytes"], cap.totals["definitely_lost_blocks"]) == summary["definitely lost"]
    assert (cap.totals["possibly_lost_bytes"], cap.totals["possibly_lost_blocks"]) == summary["possibly lost"]
    assert cap.totals["still_reachable_bytes"] is None and cap.totals["still_reachable_blocks"] is None
    assert summary["still reachable"] == (446464, 10)
    assert list(cap.sites.function) == ["leak_lost"]


def test_errors_suppressions_and_indirect_split():
    cap = load_capture(DATA / "errors.xml")
    total_errors, contexts, suppressed, supp_contexts = error_summary(DATA / "errors.log")
    assert cap.meta["errors_by_kind"] == {"InvalidRead": 2, "UninitCondition": 1}
    assert cap.totals["errors"] == 3
    # ERROR SUMMARY counts non-leak errors plus one per definite/possible loss record
    leak_errs = int((cap.sites.leak_kind.isin(["definite", "possible"])).sum())
    assert cap.totals["errors"] + leak_errs == total_errors == 5
    assert cap.meta["error_contexts"] + leak_errs == contexts == 4
    assert cap.totals["suppressed"] == suppressed == 1
    assert cap.meta["suppcounts"] == {"fixture_suppressed_leak": 1}
    # --gen-suppressions=all: one inside every error, and 3.19's top-level duplicate after it
    assert cap.meta["suppressions_generated"] == 6 and cap.meta["toplevel_suppressions"] == 6
    s = cap.sites.set_index("leak_kind")
    # "208 (8 direct, 200 indirect)": the definite record holds 8 direct bytes, 200 are indirect
    assert s.loc["definite", "live_bytes_end"] == 8 and s.loc["definite", "function"] == "lose_holder"
    assert s.loc["indirect", "live_bytes_end"] == 200
    assert cap.meta["indirect_bytes_held"] == {int(s.loc["definite", "site_id"]): 200}
    assert s.loc["possible", "live_bytes_end"] == 1000 and s.loc["possible", "function"] == "keep_interior"


def test_derived_protocol_6_tolerated():
    cap = load_capture(DATA / "errors_v6_derived.xml")
    base = load_capture(DATA / "errors.xml")
    assert cap.meta["protocol_version"] == 6
    assert cap.meta["errors_by_kind"]["FdNotClosed"] == 1
    assert cap.totals["errors"] == base.totals["errors"] + 1
    for key in KEYS.values():
        assert cap.totals[f"{key}_bytes"] == base.totals[f"{key}_bytes"]


def test_sniff_and_detect():
    assert detect(DATA / "planted_all.xml") == "memcheck"
    head = (DATA / "planted_all.xml").read_bytes()[:4096]
    assert memcheck.sniff(head, None)
    assert not memcheck.sniff(b'<?xml version="1.0"?>\n<html></html>', None)
    assert not memcheck.sniff(b"desc: (none)\ncmd: ./x\n", None)


# --- bad inputs: one BadCapture line each ------------------------------------

def _bad(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _one_line(exc: BadCapture) -> str:
    msg = exc.value.one_line()
    assert "\n" not in msg and msg
    return msg


def test_truncated_mid_element(tmp_path):
    data = (DATA / "planted_all.xml").read_bytes()
    cut = data.index(b"<leakedbytes>") + 8
    p = _bad(tmp_path, "cut.xml", data[:cut])
    with pytest.raises(BadCapture) as exc:
        load_capture(p)
    assert "truncated" in _one_line(exc)


def test_truncated_at_element_boundary(tmp_path):
    data = (DATA / "planted_all.xml").read_bytes()
    p = _bad(tmp_path, "cut.xml", data[: data.index(b"<errorcounts>")])
    with pytest.raises(BadCapture, match="truncated"):
        load_capture(p)


def test_not_well_formed(tmp_path):
    data = (DATA / "planted_all.xml").read_bytes().replace(b"</leakedbytes>", b"</leakedbites>", 1)
    with pytest.raises(BadCapture, match="not well-formed"):
        load_capture(_bad(tmp_path, "bad.xml", data))


def test_xml_that_is_not_valgrind(tmp_path):
    p = _bad(tmp_path, "other.xml", b'<?xml version="1.0"?>\n<catalog><book/></catalog>\n')
    with pytest.raises(BadCapture):
        load_capture(p)
    with pytest.raises(BadCapture, match="not <valgrindoutput>"):
        memcheck.parse(p)


def test_other_valgrind_tool_refused(tmp_path):
    data = (DATA / "planted_all.xml").read_bytes().replace(b"<protocoltool>memcheck<", b"<protocoltool>helgrind<", 1)
    with pytest.raises(BadCapture, match="helgrind"):
        load_capture(_bad(tmp_path, "hg.xml", data))


def test_unsupported_protocol(tmp_path):
    data = (DATA / "planted_all.xml").read_bytes().replace(b"<protocolversion>4<", b"<protocolversion>1<", 1)
    with pytest.raises(BadCapture, match="protocol version 1 is not supported"):
        load_capture(_bad(tmp_path, "v3.xml", data))


def test_entity_bomb_refused_without_expansion(tmp_path):
    lines = ['<!ENTITY e0 "lollollollollollollollollollol">']
    for i in range(1, 12):
        lines.append(f'<!ENTITY e{i} "{("&e%d;" % (i - 1)) * 10}">')
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE valgrindoutput [\n' + "\n".join(lines) + "\n]>\n"
            "<valgrindoutput><protocolversion>4</protocolversion><protocoltool>memcheck</protocoltool>"
            "<preamble><line>&e11;</line></preamble></valgrindoutput>\n")
    p = _bad(tmp_path, "bomb.xml", bomb.encode())
    assert detect(p) == "memcheck"
    t0 = time.perf_counter()
    with pytest.raises(BadCapture, match="DTD"):
        load_capture(p)
    assert time.perf_counter() - t0 < 1.0  # 10**11 expanded characters would take far longer


def test_external_entity_refused(tmp_path):
    xxe = (b'<?xml version="1.0"?>\n<!DOCTYPE valgrindoutput [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
           b"<valgrindoutput><preamble><line>&x;</line></preamble></valgrindoutput>\n")
    with pytest.raises(BadCapture, match="refused"):
        load_capture(_bad(tmp_path, "xxe.xml", xxe))


def test_undeclared_entity_is_not_well_formed(tmp_path):
    data = b'<?xml version="1.0"?>\n<valgrindoutput><preamble><line>&x;</line></preamble></valgrindoutput>\n'
    with pytest.raises(BadCapture, match="not well-formed"):
        load_capture(_bad(tmp_path, "undef.xml", data))


def test_negative_count_refused(tmp_path):
    data = (DATA / "planted_all.xml").read_bytes().replace(b"<leakedbytes>163840<", b"<leakedbytes>-163840<", 1)
    assert b"-163840" in data
    with pytest.raises(BadCapture, match="negative"):
        load_capture(_bad(tmp_path, "neg.xml", data))



@pytest.mark.parametrize("protocol", [2, 3])
def test_derived_protocols_2_and_3_read(protocol):
    """errors_default.xml rewritten as protocols 2/3 carry it (scripts/derive_memcheck_v2_v3.py):
    no <protocoltool>, <leakedbytes> directly under <error>. Oracle: the twin run's LEAK SUMMARY."""
    cap = load_capture(DATA / f"errors_default_v{protocol}_derived.xml")
    summary = leak_summary(DATA / "errors_default.log")
    assert cap.meta["protocol_version"] == protocol and cap.format == "memcheck"
    assert (cap.totals["definitely_lost_bytes"], cap.totals["definitely_lost_blocks"]) == summary["definitely lost"] == (8, 1)
    assert (cap.totals["possibly_lost_bytes"], cap.totals["possibly_lost_blocks"]) == summary["possibly lost"] == (1000, 1)
    # indirect records hidden: the total comes from the "(8 direct, 200 indirect)" split
    assert cap.totals["indirectly_lost_bytes"] == summary["indirectly lost"][0] == 200
    assert cap.meta["hidden_kinds"] == ["indirect", "reachable"]
    total_errors, *_ = error_summary(DATA / "errors_default.log")
    assert cap.meta["errors_by_kind"] == {"InvalidRead": 2, "UninitCondition": 1}
    assert cap.totals["errors"] + 2 == total_errors == 5          # plus one per definite/possible record
    s = cap.sites.set_index("leak_kind")
    assert (s.loc["definite", "function"], s.loc["definite", "live_bytes_end"]) == ("lose_holder", 208)
    base = load_capture(DATA / "errors_default.xml")
    assert cap.totals == base.totals


@pytest.mark.parametrize("name, old", [("errors_default_v2_derived.xml", "<leakedbytes>208</leakedbytes>"),
                                       ("errors.xml", "<leakedbytes>208</leakedbytes>")])
def test_count_beyond_64_bits_refused_own(tmp_path, name, old):
    # a 23-digit <leakedbytes> overflowed pandas (found by the fuzz run): under <error> (protocol 2)
    # and inside <xwhat> (protocol 4)
    data = (DATA / name).read_text()
    assert old in data
    data = data.replace(old, "<leakedbytes>99999999999999999999999</leakedbytes>", 1)
    with pytest.raises(BadCapture, match="too large for a 64-bit count"):
        load_capture(_bad(tmp_path, "big.xml", data.encode()))
