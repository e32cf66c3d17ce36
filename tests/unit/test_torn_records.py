"""A run whose iterations.jsonl ends in a partial line (the process was killed while writing a
record) is analysed up to its last complete record, and the result says where the records stop:
a warning in the result, the --json, the console summary and the report."""
from __future__ import annotations

import json
import shutil

from profiler import pipeline, rundir
from testkit import DATA, memprof


def _run(tmp_path, source):
    run = tmp_path / "run"
    shutil.copytree(source, run)
    return run


def test_killed_run_records_end_in_a_partial_record(tmp_path):
    run = _run(tmp_path, DATA / "series" / "killed_run")      # seed_like's 12 records and a torn 13th
    r = pipeline.analyze(run, save=False)
    want = (f"{run / rundir.ITERATIONS} ends in a partial record after iteration 12 (the run stopped while "
            "writing it); the analysis covers the complete records")
    assert r.warnings == (want,)
    assert r.series.n == 12 and r.series.iterations.last == 12
    p = memprof("analyze", run)
    assert f"  warning: {want}" in p.stdout.splitlines()[:3]
    assert json.loads(memprof("analyze", run, "--json").stdout)["warnings"] == [want]
    assert memprof("report", run).returncode == 0
    assert f"Warning: {want}" in (run / "report.md").read_text()


def test_heaptrack_run_with_a_torn_last_record(tmp_path):
    run = _run(tmp_path, DATA / "corpus" / "ujson-5.12.0-records")
    records = run / rundir.ITERATIONS
    lines = records.read_text().splitlines(keepends=True)
    last = json.loads(lines[-1])["iteration"]
    records.write_text("".join(lines[:-1]) + lines[-1][:25])    # the last record cut mid-write
    r = pipeline.analyze(run, save=False)
    assert r.warnings and r.warnings[0].startswith(f"{records} ends in a partial record after iteration {last - 1} ")
    assert r.verdict == "leak"                                   # the capture still names its leak


def test_complete_records_give_no_warning(tmp_path):
    run = _run(tmp_path, DATA / "corpus" / "ujson-5.12.0-records")
    assert pipeline.analyze(run, save=False).warnings is None
    assert not pipeline.torn_tail(run / rundir.ITERATIONS)
