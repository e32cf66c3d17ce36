"""`memprof heaptrack --quick` (six iterations on the tiny twins, real heaptrack, real
llama-cpp-python): the captures decide the verdict while the six-point RSS series alone cannot;
the summary must not print "Not enough evidence for a verdict" beside VERDICT: PLATEAU. The
series' own view is named as the series', and the budget is worded after the run's verdict."""
from __future__ import annotations

import json

import pytest

from profiler import rundir
from testkit import memprof_process, needs

pytestmark = [pytest.mark.integration, needs("llama_cpp", "heaptrack")]


def test_quick_heaptrack_summary_agrees_with_its_verdict(tiny_models, tmp_path):
    run = tmp_path / "run"
    cache = next(iter(tiny_models.values())).parent
    p = memprof_process("heaptrack", "--quick", "--threads", "2", "--out", run, env={"MEMPROF_CACHE": str(cache)})
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads((run / rundir.ANALYSIS).read_text())
    verdict, series = result["verdict"], result["series"]
    assert series["n"] == 6 and series["verdict"] == "inconclusive"      # six points: too few for the series
    assert verdict in ("plateau", "leak"), result["triage"]["evidence"]  # the capture decides
    lines = p.stdout.splitlines()
    head = next(ln for ln in lines if ln.startswith("VERDICT: "))
    assert head.startswith(f"VERDICT: {verdict.upper()} ")
    (rec,) = [ln for ln in lines if ln.startswith("recommendation: ")]
    assert rec == f"recommendation: {result['recommendation']['sentence']}"
    if verdict != series["verdict"]:
        # the run verdict rests on the captures: the series' inconclusive wording is labelled as its own
        assert f"  the RSS series alone is {series['verdict']}: {series['evidence'][0]}" in lines
        assert "Not enough evidence" not in rec and f"The verdict is {verdict} (" in rec
        assert result["triage"]["evidence_basis"] != "rss shape"
        # the series keeps its own budget sentence; only the run's is reworded
        assert series["recommendation"]["sentence"] != result["recommendation"]["sentence"]
        assert series["recommendation"]["max_expected_mb"] == result["recommendation"]["max_expected_mb"]
    else:
        assert result["recommendation"] == series["recommendation"]
    if verdict != "inconclusive":
        assert not any("Not enough evidence for a verdict" in ln for ln in lines)
