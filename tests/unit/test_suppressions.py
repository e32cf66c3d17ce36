"""Suppressions written from real memcheck XML: exact content, accepted by Valgrind, and
really suppressing the records they were written for on a fresh run."""
from __future__ import annotations

from pathlib import Path

import pytest

from profiler.backends.suppressions import check_file
from profiler.parsers import memcheck_suppressions as sup
from profiler.errors import BadCapture, BadInput
from testkit import needs

needs_valgrind = needs("valgrind")

MEMCHECK = Path(__file__).resolve().parents[1] / "data" / "memcheck"


def test_reads_every_error_record():
    recs = list(sup.read_records(MEMCHECK / "errors.xml"))
    assert [(r.kind, r.bytes, r.blocks) for r in recs] == [
        ("InvalidRead", 0, 0), ("UninitCondition", 0, 0), ("Leak_StillReachable", 64, 1),
        ("Leak_IndirectlyLost", 200, 1), ("Leak_DefinitelyLost", 208, 1), ("Leak_PossiblyLost", 1000, 1),
    ]
    assert recs[0].frames[0][0] == "read_past_end" and recs[0].frames[-1][0] == "main"
    # --gen-suppressions=all: each record carries Valgrind's own suppression
    assert (recs[0].skind, recs[0].sframes) == ("Memcheck:Addr4", ["fun:read_past_end", "fun:main"])
    assert (recs[3].skaux, recs[3].sframes) == (["match-leak-kinds: indirect"],
                                                ["fun:malloc", "fun:lose_holder", "fun:main"])


def test_built_from_stacks_when_the_xml_has_no_suppressions():
    supps, skipped = sup.build([MEMCHECK / "planted_all.xml"])
    assert skipped == 0
    assert [(s.name, s.bytes, s.lines) for s in supps] == [
        ("memprof:pool_acquire:reachable", 262144, ["fun:malloc", "fun:pool_acquire", "fun:planted_iteration", "fun:main"]),
        ("memprof:leak_lost:definite", 163840, ["fun:malloc", "fun:leak_lost", "fun:planted_iteration", "fun:main"]),
        ("memprof:init_once:reachable", 102400, ["fun:malloc", "fun:init_once", "fun:planted_setup", "fun:main"]),
        ("memprof:leak_reachable:reachable", 81920,
         ["fun:malloc", "fun:leak_reachable", "fun:planted_iteration", "fun:main"]),
    ]
    assert {tuple(s.aux) for s in supps} == {("match-leak-kinds: reachable",), ("match-leak-kinds: definite",)}


def test_generated_suppressions_used_and_deduplicated():
    # errors.xml repeats each suppression at top level after </error>: read once per record
    supps, skipped = sup.build([MEMCHECK / "errors.xml", MEMCHECK / "errors.xml"])
    assert skipped == 0
    assert [(s.name, s.kind, s.records, s.bytes) for s in supps] == [
        ("memprof:keep_interior:possible", "Memcheck:Leak", 2, 2000),
        ("memprof:lose_holder:definite", "Memcheck:Leak", 2, 416),
        ("memprof:lose_holder:indirect", "Memcheck:Leak", 2, 400),
        ("memprof:keep_reachable:reachable", "Memcheck:Leak", 2, 128),
        ("memprof:branch_on_uninit:Cond", "Memcheck:Cond", 2, 0),
        ("memprof:read_past_end:Addr4", "Memcheck:Addr4", 2, 0),
    ]


def test_frame_lines():
    assert sup.frame_line("malloc", "/x/vgpreload.so") == "fun:malloc"
    # demangled C++ becomes a wildcard over its identifiers (Valgrind matches mangled names)
    assert sup.frame_line("llama_model_loader::load_all_data(ggml_context*, std::vector<int, std::allocator<int> >&)",
                          None) == "fun:*llama_model_loader*load_all_data*"
    assert sup.frame_line("std::vector<char, std::allocator<char> >::_M_realloc_insert(char const&)", None) \
        == "fun:*std*vector*_M_realloc_insert*"
    assert sup.frame_line("???", "/usr/lib/libgomp.so.1.0.0") == "obj:/usr/lib/libgomp.so.1.0.0"
    assert sup.frame_line(None, None) == "fun:*"


def test_long_stacks_end_with_ellipsis():
    rec = sup.Record(kind="Leak_PossiblyLost", bytes=8, frames=[(f"f{i}", None) for i in range(30)])
    s = sup.suppression_for(rec, frames=5)
    assert s.lines == ["fun:f0", "fun:f1", "fun:f2", "fun:f3", "fun:f4", "..."]
    assert s.render().splitlines()[:4] == ["{", "   memprof:f0:possible", "   Memcheck:Leak",
                                           "   match-leak-kinds: possible"]


def test_dtd_refused(tmp_path):
    bad = tmp_path / "bomb.xml"
    bad.write_text('<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaa">]><valgrindoutput>&a;</valgrindoutput>')
    with pytest.raises(BadCapture, match="DTD"):
        list(sup.read_records(bad))


def test_run_dir_without_memcheck(tmp_path):
    (tmp_path / "capture").mkdir()
    with pytest.raises(BadInput, match="no memcheck XML"):
        sup.write_for_run(tmp_path)


def test_truncated_xml_of_a_killed_run_keeps_complete_records(tmp_path):
    text = (MEMCHECK / "planted_all.xml").read_text()
    cut = text.index("<error>", text.index("</error>") + 1) + 40   # inside the second record
    part = tmp_path / "killed.xml"
    part.write_text(text[:cut])
    assert [r.kind for r in sup.read_records(part)] == ["Leak_StillReachable"]
    bad = tmp_path / "garbage.xml"
    bad.write_text("<valgrindoutput><error></nonsense></valgrindoutput>")
    with pytest.raises(BadCapture, match="not well-formed"):
        list(sup.read_records(bad))


def test_one_reader_for_parser_and_writer():
    """The writer reads through the memcheck parser's reader: the same records, every protocol."""
    from profiler.parsers import memcheck

    path = MEMCHECK / "errors.xml"
    assert [r.kind for r in sup.read_records(path)] == [e.kind for e in memcheck.iter_errors(path)]
    for derived in ("errors_default_v2_derived.xml", "errors_default_v3_derived.xml"):
        old = MEMCHECK / derived           # protocols 2 and 3: no <suppression> elements
        assert [r.kind for r in sup.read_records(old)] == [e.kind for e in memcheck.iter_errors(old)]
        supps, skipped = sup.build([old])
        assert sorted((s.name, s.lines[:2]) for s in supps) == [
            ("memprof:keep_interior:possible", ["fun:malloc", "fun:keep_interior"]),
            ("memprof:lose_holder:definite", ["fun:malloc", "fun:lose_holder"])]
        assert skipped == 2      # the InvalidRead and UninitCondition records
    from test_external_captures import external

    old = external("memcheck", "vg-xml1-protocol3.xml")
    supps, skipped = sup.build([old])
    assert [(s.name, s.lines[:2]) for s in supps] == [("memprof:frame3:definite", ["fun:malloc", "fun:frame3"])]
    assert skipped == 6      # non-leak errors without a generated <suppression>


@needs_valgrind
def test_real_project_capture_gives_suppressions_valgrind_accepts(tmp_path):
    """NovelRT's valgrind.xml (Valgrind 3.14, --gen-suppressions=all): every record has Valgrind's
    own suppression; identical ones are written once, and Valgrind 3.19 reads the file."""
    from test_external_captures import external

    xml = external("memcheck", "novelrt-valgrind.xml")
    out, n, skipped = sup.write_for_run(xml, tmp_path / "novelrt.supp")
    assert (n, skipped) == (14, 0)
    check_file(out)
