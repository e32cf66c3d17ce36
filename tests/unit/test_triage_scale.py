"""--scale: per-site verdicts from two runs at two sizes of work, with no timeline and no iteration
count. The pair is memcheck on the planted workload at n=5 (tests/data/memcheck/planted_all.xml)
and n=10 (tests/data/triage/planted10_all.xml), both recorded without iteration records; the
figures are Valgrind's own LEAK SUMMARY beside each."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from profiler import scaled
from profiler.errors import UsageProblem
from profiler.parsers import load_capture
from profiler.triage import scale, triage_capture

DATA = Path(__file__).parent.parent / "data"
KiB = 1024


@pytest.fixture(scope="module")
def pair(rules):
    a = triage_capture(load_capture(DATA / "memcheck" / "planted_all.xml"), rules)
    b = triage_capture(load_capture(DATA / "triage" / "planted10_all.xml"), rules)
    return a, b


def test_the_pair_matches_valgrinds_summaries(pair):
    a, b = pair
    log5 = (DATA / "memcheck" / "planted_all.log").read_text()
    log10 = (DATA / "triage" / "planted10_all.log").read_text()
    assert re.search(r"definitely lost: 163,840 bytes in 5 blocks", log5)
    assert re.search(r"definitely lost: 327,680 bytes in 10 blocks", log10)
    assert re.search(r"still reachable: 528,384 bytes in 15 blocks", log10)
    reach = b.sites[b.sites["leak_kind"] == "reachable"]
    assert (int(reach["live_bytes_end"].sum()), int(reach["alloc_count"].sum())) == (528384, 15)
    # alone, neither run knows its iteration count: growth unknown, never init-once
    assert set(a.sites.loc[a.sites["leak_kind"] == "reachable", "verdict"]) == {"unknown"}


def test_differential_verdicts_per_site(pair):
    d = scale.judge([pair[0]], [pair[1]], 5, 10)
    got = {r["function"]: (r["verdict"], r["bytes_per_n"]) for r in d["sites"]}
    assert got == {"leak_lost": ("leak", 32 * KiB), "leak_reachable": ("leak", 16 * KiB),
                   "pool_acquire": ("pool", 0.0), "init_once": ("init-once", 0.0)}
    assert d["verdict"] == "leak"
    assert [r["function"] for r in d["leaking_sites"]] == ["leak_lost", "leak_reachable"]
    lost = next(r for r in d["sites"] if r["function"] == "leak_lost")
    assert (lost["live_a"], lost["live_b"], lost["blocks_a"], lost["blocks_b"]) == (5 * 32 * KiB, 10 * 32 * KiB, 5, 10)


def test_a_site_whose_blocks_split_across_kinds_still_pairs(rules):
    """memcheck can call one of a site's blocks possibly lost in one run only (split_kinds.c: all
    5 definitely lost at n=5; 9 definite and 1 possible at n=10). The site is the stack, so it
    pairs: +32 KiB per unit of n, not 25.6 KiB and an unmatched 'possible' row."""
    a = triage_capture(load_capture(DATA / "memcheck" / "split5.xml"), rules)
    b = triage_capture(load_capture(DATA / "memcheck" / "split10.xml"), rules)
    d = scale.judge([a], [b], 5, 10)
    (row,) = d["sites"]
    assert (row["function"], row["verdict"], row["bytes_per_n"]) == ("lose_block", "leak", 32 * KiB)
    assert (row["live_a"], row["live_b"], row["blocks_a"], row["blocks_b"]) == (5 * 32 * KiB, 10 * 32 * KiB, 5, 10)


def test_a_site_whose_most_severe_kind_differs_between_the_runs_still_pairs(rules):
    """split_kinds.c with `keep`: at n=5 all 5 blocks still reachable; at n=10 9 reachable and 1
    possibly lost, so the one site's most severe kind is 'possible' in one run only. Sites pair by
    label: +32 KiB per unit of n, a leak."""
    a = triage_capture(load_capture(DATA / "memcheck" / "split5_kept.xml"), rules)
    b = triage_capture(load_capture(DATA / "memcheck" / "split10_kept.xml"), rules)
    assert list(a.sites["leak_kind"]) == ["reachable"] and list(b.sites["leak_kind"]) == ["possible"]
    d = scale.judge([a], [b], 5, 10)
    (row,) = d["sites"]
    assert (row["function"], row["leak_kind"], row["verdict"], row["bytes_per_n"]) == ("lose_block", "possible",
                                                                                      "leak", 32 * KiB)
    assert d["verdict"] == "leak"


def test_the_same_run_twice_grows_nothing(pair):
    d = scale.judge([pair[1]], [pair[1]], 5, 10)
    assert d["verdict"] == "plateau" and not d["leaking_sites"]


@pytest.mark.parametrize("text", ["10", "10,5", "a,b", "5,5", "-1,3", "1,2,3"])
def test_bad_scale_is_refused(text):
    with pytest.raises(UsageProblem):
        scaled.parse(text)


def test_command_needs_the_placeholder():
    assert scaled.substitute(["./planted", "{n}", "--x={n}"], 7) == ["./planted", "7", "--x=7"]
    with pytest.raises(UsageProblem, match=r"\{n\}"):
        scaled.substitute(["./planted", "5"], 7)
