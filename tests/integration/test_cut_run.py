"""An interrupted run (meta.json's `cut`) says so first wherever it is looked at later: `memprof
analyze` and `memprof report` lead with the RUN CUT line, not only the live run's output. The run
is the real switch loop on the tiny twins under real llama-cpp-python, stopped by Ctrl-C."""
from __future__ import annotations

import json
import signal

import pytest

from profiler import rundir
from testkit import memprof, memprof_process, needs, wait_for_records

pytestmark = [pytest.mark.integration, needs("llama_cpp")]


def test_a_cut_run_leads_with_its_cut_line_in_analyze_and_report(tiny_models, tmp_path):
    run = tmp_path / "run"
    cache = next(iter(tiny_models.values())).parent
    proc = memprof_process("run", "--quick", "--iterations", "100000", "--max-tokens", "2", "--out", str(run),
                           env={"MEMPROF_CACHE": str(cache)}, popen=True)
    records = run / rundir.ITERATIONS
    wait_for_records(records, 3, 60)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    cut = rundir.read_meta(run)["cut"]
    n = len(list(rundir.iter_records(records)))
    assert cut["reason"] == "interrupted" and cut["iterations"] == n >= 3
    line = (f"RUN CUT (INTERRUPTED, stopped after the current step, after {cut['after_s']} s and {n} "
            "iteration(s)): nothing after it was measured")

    p = memprof("analyze", run)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == line and lines[1].startswith("VERDICT: ")
    p = memprof("analyze", run, "--json")
    assert json.loads(p.stdout)["cut"] == cut

    p = memprof("report", run)
    assert p.returncode == 0, p.stderr
    md = (run / "report.md").read_text().splitlines()
    assert md[0].startswith("# Memory analysis: ")
    assert md[2] == f"**{line}**; the figures below cover the run up to the cut."
    assert line in (run / "report.html").read_text()
