"""The report stage runs alone: `memprof report RUN` on a run whose analysis.json is up to date
rebuilds the AnalysisResult from that file and writes the same report as one rendered straight
after the analysis (a real heaptrack run of the corpus: ujson 5.12.0 with iteration records)."""
from __future__ import annotations

import json
import os
import shutil

from profiler import pipeline, rundir
from profiler.report import render
from profiler.results.analysis import AnalysisResult
from testkit import DATA, memprof

RUN = DATA / "corpus" / "ujson-5.12.0-records"


def _copy(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    return run


def _age_inputs(run, seconds=60):
    """Make every input older than analysis.json (a fresh checkout gives all files one mtime)."""
    made = (run / rundir.ANALYSIS).stat().st_mtime
    for p in [run / rundir.META, run / rundir.ITERATIONS, *rundir.find_captures(run)]:
        os.utime(p, (made - seconds, made - seconds))


def test_report_from_saved_analysis_is_the_report_after_analysis(tmp_path):
    run = _copy(tmp_path)
    p = memprof("analyze", run)
    assert p.returncode == 0, p.stderr
    fresh = pipeline.analyze(run, save=False)
    render(fresh, tmp_path / "direct")
    _age_inputs(run)
    # the capture is now unreadable: a report that analysed again would fail; it must not need it
    cap = rundir.find_captures(run)[0]
    st = cap.stat()
    cap.write_bytes(b"not a capture any more")
    os.utime(cap, (st.st_atime, st.st_mtime))
    p = memprof("report", run, "-o", tmp_path / "rerun")
    assert p.returncode == 0, p.stderr
    for name in ("report.md", "report.json", "report.html"):
        assert (tmp_path / "rerun" / name).read_text() == (tmp_path / "direct" / name).read_text(), name
    md = (tmp_path / "rerun" / "report.md").read_text()
    assert "**VERDICT: LEAK" in md and "## Allocation sites" in md and "PyUnicode_New" in md
    saved = json.loads((run / rundir.ANALYSIS).read_text())
    assert AnalysisResult.from_json(saved).to_json() == saved
    assert AnalysisResult.from_json(saved) == fresh.public()


def test_report_analyses_again_when_an_input_is_newer(tmp_path):
    run = _copy(tmp_path)
    assert memprof("analyze", run).returncode == 0
    _age_inputs(run)
    assert pipeline.saved_result(run) is not None
    os.utime(run / rundir.ITERATIONS)            # the run went on after the analysis
    assert pipeline.saved_result(run) is None
    assert pipeline.saved_result(run, rules=["x.toml"]) is None
    p = memprof("report", run)
    assert p.returncode == 0, p.stderr
    assert (run / "report.md").is_file()


def test_report_of_a_saved_analysis_file(tmp_path):
    run = _copy(tmp_path)
    assert memprof("analyze", run).returncode == 0
    saved = tmp_path / "kept.json"
    shutil.copy(run / rundir.ANALYSIS, saved)
    shutil.rmtree(run)
    p = memprof("report", saved, "-o", tmp_path / "out")
    assert p.returncode == 0, p.stderr
    assert "**VERDICT: LEAK" in (tmp_path / "out" / "report.md").read_text()


def test_an_analysis_saved_by_another_memprof_is_made_again(tmp_path):
    run = _copy(tmp_path)
    assert memprof("analyze", run).returncode == 0
    saved = json.loads((run / rundir.ANALYSIS).read_text())
    del saved["triage"]["verdict"]                # a key another memprof did not write
    (run / rundir.ANALYSIS).write_text(json.dumps(saved))
    _age_inputs(run)
    assert pipeline.saved_result(run) is None
    p = memprof("report", run)
    assert p.returncode == 0, p.stderr
    assert json.loads((run / rundir.ANALYSIS).read_text())["triage"]["verdict"] == "leak"   # analysed, saved anew
