"""A Valgrind capture without the tool's state after the collection probe says why, from what the run
recorded in meta.json (backend.probe_state): nothing recorded, vgdb did not take it (and why), or
taken but not readable beside the capture. The hooks record it; the session writes it.

The capture is real (tests/data/massif/planted.massif.out: massif on the planted C workload, two
leaking sites over its iteration boundaries, no .probe file); the series is a real `memprof valgrind
--quick` run (tests/data/series/valgrind_quick_massif.jsonl: 12 iterations, no full collection), as
test_triage_capture joins a planted capture with a series of its own."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from profiler import analysis, rundir
from profiler.backends import vgdb
from profiler.parsers import load_capture
from profiler.results.series import SeriesAnalysis
from profiler.triage import runverdict, triage_capture
from profiler.triage.runverdict import run_verdict
from testkit import needs

DATA = Path(__file__).resolve().parents[1] / "data"
HEAD = "the massif capture holds no state after the collection probe ("
TAIL = ("), so it cannot tell garbage the collector frees from a leak; the verdict rests on the iteration "
        "boundaries alone")


@pytest.fixture(scope="module")
def planted(rules):
    recs = rundir.iter_records(DATA / "massif" / "planted.massif.iterations.jsonl")
    cap = load_capture(DATA / "massif" / "planted.massif.out",
                       boundaries=[(r["iteration"], r["t_end"], r["wall_end"]) for r in recs])
    assert cap.probe is None
    return triage_capture(cap, rules)


@pytest.fixture(scope="module")
def series():
    s = SeriesAnalysis.from_json(analysis.analyze_series(analysis.load_series(
        DATA / "series" / "valgrind_quick_massif.jsonl")))
    assert s.gc is not None and s.gc.full_collections == 0
    return s


WHY = {
    "unrecorded": (None, "nothing records whether vgdb took one: a capture analysed without its run directory, "
                         "or a run made before memprof recorded it in meta.json"),
    "timed out": ({"taken": False, "how": "detailed_snapshot", "after_iteration": 12, "took_s": 50.0,
                   "why": "vgdb did not answer within 50 s"},
                  "vgdb did not take it (detailed_snapshot): vgdb did not answer within 50 s"),
    "no probe": ({"taken": False, "how": "detailed_snapshot", "why": vgdb.NO_PROBE},
                 f"vgdb did not take it (detailed_snapshot): {vgdb.NO_PROBE}"),
    "taken": ({"taken": True, "how": "detailed_snapshot", "file": "massif.out.42.probe"},
              "vgdb took it (massif.out.42.probe) but it is not readable beside this capture"),
}


@pytest.mark.parametrize("case", list(WHY))
def test_the_no_probe_state_sentence_says_why_from_meta(planted, series, case):
    state, why = WHY[case]
    v = run_verdict(series, [planted], probe_state=state)
    assert v.verdict == "leak" and [d.function for d in v.leaking_sites] == ["leak_lost", "leak_reachable"]
    sentence = HEAD + why + TAIL
    assert sentence in v.evidence
    # after the GC caveat in the explanation, capitalised
    assert v.explained.endswith(f" {sentence[0].upper()}{sentence[1:]}.")
    assert v.explained.index(series.gc.caveat) < v.explained.index(sentence[1:])


def test_no_sentence_without_the_caveat_or_with_the_state(planted, series, rules):
    # no series: no GC caveat, so nothing to say about the probe
    assert not [e for e in run_verdict(None, [planted]).evidence if "collection probe" in e]
    # a massif capture read with its .probe file needs no sentence
    with_probe = load_capture(DATA / "massif" / "probe.massif.out")
    assert with_probe.probe is not None
    assert runverdict._no_probe_state([with_probe], None) is None
    assert runverdict._no_probe_state([planted], None) == HEAD + WHY["unrecorded"][1] + TAIL


def test_hooks_record_no_probe_and_memcheck_without_its_timeline(tmp_path):
    m = vgdb.MassifHooks(tmp_path)
    assert m.probe_meta() == {"taken": False, "how": "detailed_snapshot", "why": vgdb.NO_PROBE}
    m.at_probe(1, {"probe": "malloc_trim", "after_iteration": 3})        # only the gc.collect() probe counts
    assert m.probe_state is None
    mc = vgdb.MemcheckHooks(tmp_path, timeline=False)
    mc.at_probe(1, {"probe": "gc_collect", "after_iteration": 3})
    state = mc.probe_meta()
    assert (state["taken"], state["how"], state["after_iteration"]) == (False, "leak_check full reachable any", 3)
    assert state["why"].startswith("the leak timeline is off (--no-leak-timeline)")
    assert (tmp_path / rundir.PROBE_RELEASE).is_file()                # the loop is let go all the same


@needs("valgrind")
def test_massif_hooks_record_why_vgdb_gave_nothing(tmp_path):
    """The real vgdb asked for a snapshot of a process that is not under Valgrind: its own refusal is
    recorded, the loop is released, nothing is claimed taken."""
    (tmp_path / rundir.CAPTURE_DIR).mkdir()
    hooks = vgdb.MassifHooks(tmp_path)
    proc = subprocess.Popen(["sleep", "30"])
    try:
        hooks.at_probe(proc.pid, {"probe": "gc_collect", "after_iteration": 4})
    finally:
        proc.kill()
        proc.wait()
    state = hooks.probe_meta()
    assert state["taken"] is False and state["after_iteration"] == 4 and "file" not in state
    assert state["why"] == f"vgdb exited with status 1 (vgdb error: no FIFO found matching pid {proc.pid})"
    assert (tmp_path / rundir.PROBE_RELEASE).is_file()


def test_the_session_writes_the_hooks_probe_state_into_meta(tmp_path):
    from profiler import backends, session

    backend = backends.get("massif")
    hooks = backend.stop_hooks(tmp_path)
    outcome = session.Outcome(run_dir=tmp_path, backend="massif")
    session._record(backend, {"name": "massif"}, outcome, hooks)
    assert rundir.read_meta(tmp_path)["backend"]["probe_state"] == {
        "taken": False, "how": "detailed_snapshot", "why": vgdb.NO_PROBE}
