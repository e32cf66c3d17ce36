"""A capture cut before the run's first iteration ended cannot see a site grow: the verdict is
inconclusive and says what would settle it, never PLATEAU. The capture is the committed real
heaptrack capture of `planted 12` (tests/data/heaptrack/planted.zst, iteration 1 ends at
t_end 0.136 s), cut after line 160 (0.115 s into the run) in the middle of a record, the way a
killed run leaves it."""
from __future__ import annotations

import gzip
import json
import shutil

import pytest

from profiler import pipeline
from profiler.parsers import decompress
from testkit import DATA, memprof

HEAPTRACK = DATA / "heaptrack"


def _cut_capture(path, lines=160):
    text = b"".join(decompress.pieces(decompress.Stream(HEAPTRACK / "planted.zst", "zstd"))).decode()
    rows = text.splitlines(keepends=True)
    path.write_bytes(gzip.compress("".join(rows[:lines]).encode() + rows[lines][:5].encode()))


def _run(tmp_path, records: str):
    run = tmp_path / "run"
    (run / "capture").mkdir(parents=True)
    _cut_capture(run / "capture" / "heaptrack.planted.gz")
    (run / "iterations.jsonl").write_text(records)
    (run / "meta.json").write_text(json.dumps({"backend": {"name": "heaptrack"}}))
    return run


@pytest.mark.parametrize("records", ["none", "all"])
def test_capture_cut_in_the_first_iteration_is_inconclusive(tmp_path, records):
    # "none": the run was killed inside iteration 1 (no record written); "all": the records went on,
    # the capture stops inside iteration 1 (it sees one boundary at most)
    text = "" if records == "none" else (HEAPTRACK / "planted.iterations.jsonl").read_text()
    run = _run(tmp_path, text)
    r = pipeline.analyze(run, save=False)
    assert r.truncated and "0.115 s into the run" in r.truncated[0].summary
    assert r.verdict == "inconclusive" and r.triage.verdict == "inconclusive"
    assert r.triage.evidence_basis == "site timeline"
    (summ,) = r.triage.captures
    assert summ.truncated and (summ.iterations == 0 if records == "none" else summ.judged_steps == 1)
    assert "too short to see any site grow or level off" in r.triage.basis_sentence
    assert "would settle it" in r.triage.explained and r.triage.explained.startswith("Inconclusive: ")
    p = memprof("analyze", run)
    assert p.stdout.startswith("VERDICT: INCONCLUSIVE"), p.stdout
    assert "PLATEAU" not in p.stdout and "would settle it" in p.stdout


def test_the_whole_capture_still_names_its_leaks(tmp_path):
    run = tmp_path / "run"
    (run / "capture").mkdir(parents=True)
    shutil.copy(HEAPTRACK / "planted.zst", run / "capture" / "heaptrack.planted.zst")
    shutil.copy(HEAPTRACK / "planted.iterations.jsonl", run / "iterations.jsonl")
    (run / "meta.json").write_text(json.dumps({"backend": {"name": "heaptrack"}}))
    r = pipeline.analyze(run, save=False)
    assert r.verdict == "leak" and [d.function for d in r.triage.leaking_sites] == ["leak_lost", "leak_reachable"]
    assert r.triage.captures[0].judged_steps >= 2 and not r.triage.captures[0].truncated
