"""memcheck's leak checks taken through vgdb at each iteration boundary (the real capture
of tests/workloads/leak_steps.c, made by scripts/make_memcheck_timeline_fixture.py): every
figure below is one memcheck printed itself."""
from __future__ import annotations

from pathlib import Path

import pytest

from profiler import parsers, triage
from profiler.errors import BadCapture
from profiler.parsers import memcheck_monitor

DATA = Path(__file__).resolve().parents[1] / "data" / "memcheck_monitor"
TIMELINE = DATA / "leak_steps.timeline.txt"
FINAL = DATA / "leak_steps.leaks.txt"


def by_function(cap) -> dict:
    return {r.function: r for r in cap.sites.itertuples()}


def test_timeline_follows_each_loss_record_over_the_checks():
    cap = parsers.load_capture(TIMELINE)
    assert cap.format == "memcheck-timeline"
    # the last check's LEAK SUMMARY, as memcheck printed it
    assert cap.totals["definitely_lost_bytes"] == 24000 and cap.totals["definitely_lost_blocks"] == 6
    assert cap.totals["still_reachable_bytes"] == 20336 and cap.totals["still_reachable_blocks"] == 9
    assert cap.totals["checks"] == 6
    assert cap.meta["summary_mismatch"] == []       # the records add up to the summary at every check
    wide = cap.timeline.pivot(index="slice", columns="site_id", values="live_bytes")
    assert list(wide.index) == [1, 2, 3, 4, 5, 6]
    sites = cap.sites
    keep = sites[sites.function == "keep_one"].site_id.item()
    lose = sites[sites.function == "lose_one"].site_id.item()
    assert wide[keep].tolist() == [1000, 2000, 3000, 4000, 5000, 6000]
    assert wide[lose].tolist() == [4000, 8000, 12000, 16000, 20000, 24000]
    assert cap.meta["leak_kinds"][lose] == "definite" and cap.meta["leak_kinds"][keep] == "reachable"
    # the pool: malloc'd at step 1, then realloc'd (a new loss record, the old one printed as 0 (-2,048))
    pool = sites[sites.function == "grow_pool"].sort_values("site_id").site_id.tolist()
    assert [wide[s].tolist() for s in pool] == [[2048, 0, 0, 0, 0, 0], [0, 4096, 6144, 6144, 6144, 6144]]
    assert int(sites.live_bytes_end.sum()) == 24000 + 20336


def test_triage_tells_the_leaks_from_the_pool_on_this_timeline():
    cap = triage.triage_capture(parsers.load_capture(TIMELINE), triage.load_rules([]), iterations=6)
    v = {r.function: (r.verdict, r.slope_bytes_per_iter) for r in cap.sites.itertuples()}
    assert v["keep_one"] == ("leak", 1000.0)
    assert v["lose_one"] == ("leak", 4000.0)
    assert v["grow_pool"][0] == "pool"


def test_final_check_lists_every_record():
    cap = parsers.load_capture(FINAL)
    assert cap.totals["checks"] == 1
    assert cap.totals["definitely_lost_bytes"] == 24000 and cap.totals["still_reachable_bytes"] == 20336
    f = by_function(cap)
    assert f["keep_one"].live_bytes_end == 6000 and f["lose_one"].live_bytes_end == 24000


def test_a_check_vgdb_could_not_answer_and_a_foreign_file(tmp_path):
    empty = tmp_path / "empty.timeline.txt"
    empty.write_text("# memprof leak check: iteration=1 t_end=2.5\n")
    cap = memcheck_monitor.parse(empty)
    assert cap.sites.empty and cap.timeline is None and cap.totals["checks"] == 1
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("==1== LEAK SUMMARY:\n")
    assert not memcheck_monitor.sniff(foreign.read_bytes(), foreign)
    with pytest.raises(BadCapture, match="no '# memprof leak check:' line first"):
        memcheck_monitor.parse(foreign)


# leak_steps_probe.timeline.txt: the same six checks, then the full check memprof takes after a collection
# probe (scripts/make_memcheck_timeline_fixture.py --probe); a C program frees nothing there
PROBED = DATA / "leak_steps_probe.timeline.txt"


def test_the_check_after_the_probe_is_the_probe_state_not_an_iteration():
    cap = parsers.load_capture(PROBED)
    assert cap.totals["checks"] == 6 and sorted(cap.timeline["slice"].unique().tolist()) == [1, 2, 3, 4, 5, 6]
    p = cap.probe
    assert p.after_iteration == 6 and p.t == 6.5 and p.unmatched_bytes == 0
    # the probe check's LEAK SUMMARY: definitely lost 24,000 + still reachable 20,336
    assert p.heap_bytes == 24000 + 20336 == sum(p.live.values())
    sites = cap.sites.set_index("site_id")
    by_fn = {}
    for sid, b in p.live.items():
        by_fn[sites.loc[sid, "function"]] = by_fn.get(sites.loc[sid, "function"], 0) + b
    assert by_fn["keep_one"] == 6000 and by_fn["lose_one"] == 24000 and by_fn["grow_pool"] == 6144


def test_leaks_that_survive_the_probe_are_marked_kept():
    cap = triage.triage_capture(parsers.load_capture(PROBED), triage.load_rules([]), iterations=6)
    f = {r.function: r for r in cap.sites.itertuples() if r.function in ("keep_one", "lose_one")}
    for fn, b in (("keep_one", 6000), ("lose_one", 24000)):
        assert f[fn].verdict == "leak" and f[fn].probe_collected is False
        assert f[fn].live_bytes_probe == b and f[fn].probe_freed_bytes == 0
        assert "the collection does not give its growth back" in f[fn].evidence
    assert cap.sites.loc[cap.sites.function == "grow_pool", "probe_collected"].isna().all()


def test_the_run_verdict_says_the_leaks_kept_their_bytes_through_the_probe():
    cap = triage.triage_capture(parsers.load_capture(PROBED), triage.load_rules([]), iterations=6)
    rv = triage.run_verdict(None, [cap])
    assert rv.verdict == "leak" and rv.evidence_basis == "site timeline" and not rv.collected_by_probe
    [kept] = [e for e in rv.evidence if "keep their bytes through the collection probe" in e]
    # keep_one's 1000 B/iteration is minor growth (under 1 KiB/iteration), not a counted leak
    assert kept.startswith("1 leaking site(s)") and "lose_one 23.4 KiB" in kept
