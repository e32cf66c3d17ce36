"""A leak spread thin: the minor-growth bar applies to the total, not only per site.

tests/data/triage/thin.zst is heaptrack 1.4 on tests/workloads/thin.c, 40 iterations with its
iteration records: 200 sites each keep 32 B per iteration (6.4 KB per iteration, all of the heap's
growth) under cache_remember(), 900 sites allocate 48 B once, 900 allocate and free 64 B each
iteration. Every site is under the per-site bar (1 KiB/iteration); their sum is a leak, reported
as ONE finding named after the module, the category and the nearest common caller.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from profiler.parsers import load_capture
from profiler.triage import run_verdict, thin, triage_capture
from testkit import boundaries, memprof

DATA = Path(__file__).parent.parent / "data"
THIN = DATA / "triage" / "thin.zst"
RECORDS = DATA / "triage" / "thin.iterations.jsonl"


@pytest.fixture(scope="module")
def triaged(rules):
    return triage_capture(load_capture(THIN, boundaries=boundaries(RECORDS)), rules)


def test_capture_matches_heaptrack_print():
    raw = load_capture(THIN, boundaries=boundaries(RECORDS))
    text = (DATA / "triage" / "thin.print.txt").read_text()
    assert re.search(r"calls to allocation functions: 45023 ", text)
    assert "total memory leaked: 299.20K" in text
    assert raw.totals["calls"] == 45023
    assert raw.totals["leaked_bytes"] == 200 * 32 * 40 + 900 * 48 == 299200


def test_two_hundred_thin_sites_are_one_leak_finding(triaged):
    (g,) = [g for g in triaged.triage.thin_growth if g.material]
    assert (g.sites, g.caller, g.category) == (200, "cache_remember", "unknown")
    assert g.module.endswith("/thin")
    assert g.slope_bytes_per_iter == 6400 and g.max_site_bytes_per_iter == 32
    assert g.live_bytes_end == 200 * 32 * 40
    assert g.share_of_heap_growth == pytest.approx(1.0)
    assert g.common_stack[:2] == ("cache_remember (" + g.caller_frame.split(" (", 1)[1],
                                  g.common_stack[1]) and g.common_stack[1].startswith("main (")
    members = triaged.sites[triaged.sites["site_id"].isin(g.site_ids)]
    assert sorted(members["function"]) == [f"site_{k:04d}" for k in range(200)]
    assert set(members["verdict"]) == {"leak"}
    assert "one of the 200 sites under cache_remember" in members["evidence"].iloc[0]
    # the 1,800 sites that do not grow keep their verdicts
    rest = triaged.sites[triaged.sites["function"].str.match(r"site_(0[2-9]|1)\d\d", na=False)]
    assert len(rest) == 1800 and set(rest["verdict"]) == {"init-once", "transient"}


def test_run_verdict_is_leak_with_the_group_named(triaged):
    v = run_verdict(None, [triaged])
    assert v.verdict == "leak"
    (f,) = v.leaking_sites
    assert f.site == "200 sites under cache_remember (thin, thin growth)"
    assert f.slope_bytes_per_iter == 6400 and f.group.sites == 200
    assert v.minor_growth_sites == ()
    assert "200 sites under cache_remember" in v.explained
    assert any(e.endswith("leaking: 200 sites under cache_remember (thin, thin growth) [unknown] "
                          "6.2 KiB/iteration.") for e in v.evidence)


def test_check_fails_on_one_finding_and_allows_it(tmp_path):
    run = tmp_path / "run"
    (run / "capture").mkdir(parents=True)
    shutil.copy(THIN, run / "capture" / "heaptrack.thin.zst")
    shutil.copy(RECORDS, run / "iterations.jsonl")
    (run / "meta.json").write_text(json.dumps({"backend": {"name": "heaptrack"}}))
    p = memprof("check", run)
    assert p.returncode == 1, p.stdout + p.stderr
    (line,) = p.stdout.splitlines()
    assert line.startswith("200 sites under cache_remember (thin, thin growth)\t[unknown]\t+6.2 KiB/iteration")
    assert memprof("check", run, "--allow", "*cache_remember*").returncode == 0


def test_planted_captures_have_no_thin_group(rules):
    for cap, recs in (("heaptrack/marked.zst", "heaptrack/marked.iterations.jsonl"),
                      ("triage/llama_switch.zst", "triage/llama_switch.iterations.jsonl")):
        t = triage_capture(load_capture(DATA / cap, boundaries=boundaries(DATA / recs)), rules)
        assert not [g for g in t.triage.thin_growth if g.material], cap


def test_a_few_thin_sites_below_the_bar_stay_minor(triaged):
    # the same sites judged against a bar above their sum: a group, but not material
    import copy

    sites = triaged.sites
    wide = triaged.timeline.pivot_table(index="site_id", columns="slice", values="live_bytes", aggfunc="sum",
                                        fill_value=0)
    series = {int(k): row for k, row in zip(wide.index, wide.to_numpy(dtype=float).tolist())}
    groups = thin.find_groups(copy.deepcopy(sites), series, list(wide.columns), "iteration",
                              min_bytes_per_iter=7000)
    assert [(g.sites, g.material) for g in groups] == [(200, False)]
