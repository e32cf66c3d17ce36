"""The one rule for a missing tool: skip on a developer's machine, fail under CI=true."""
from __future__ import annotations

import pytest

import testkit


def test_missing_setup_tool_fails_under_ci(monkeypatch):
    monkeypatch.setattr(testkit.shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: valgrind not installed"):
        testkit.need("valgrind")


def test_missing_setup_tool_skips_outside_ci(monkeypatch):
    monkeypatch.setattr(testkit.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="heaptrack not installed"):
        testkit.need("heaptrack")


def test_missing_module_fails_under_ci(monkeypatch):
    monkeypatch.setattr(testkit.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="llama_cpp"):
        testkit.need("llama_cpp")


def test_missing_names_only_what_is_absent():
    assert testkit.missing("sh", "no-such-tool-xyz") == ["no-such-tool-xyz"]
    testkit.need("sh")    # present: returns, neither skip nor fail


def test_result_from_series_is_json_with_the_top_level_copies():
    import json
    from pathlib import Path

    from profiler.analysis import analyze_series, load_series
    from profiler.results.analysis import AnalysisResult

    series = analyze_series(load_series(Path(__file__).parent.parent / "data" / "series" / "seed_like.jsonl"))
    res = testkit.result_from_series(series, {"kind": "series", "path": "x"}, {"argv": ["memprof"]})
    json.dumps(res, allow_nan=False)
    doc = series.to_json()
    for key in testkit.SERIES_TOP_LEVEL:
        assert res[key] == doc[key]
    assert res["captures"] == [] and res["series"] == doc
    assert AnalysisResult.from_json(res).slope_mb_per_iter == series.slope_mb_per_iter
    assert testkit.result_from_series(None, {"kind": "capture", "path": "y"}, None)["verdict"] == "inconclusive"
