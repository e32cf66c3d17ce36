"""Every JSON result a user can build on validates against the schema shipped in the package
(profiler/schema/analysis.schema.json): analyze --json on a run directory, a capture and a
series; analysis.json and report.json; check --json; compare --json."""
from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from profiler import jsonout
from testkit import DATA, memprof


@pytest.fixture(scope="module")
def validator():
    text = resources.files("profiler").joinpath("schema/analysis.schema.json").read_text()
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run directory as the heaptrack backend leaves it: the capture and its iteration markers."""
    run = tmp_path_factory.mktemp("schema") / "run"
    (run / "capture").mkdir(parents=True)
    shutil.copy(DATA / "heaptrack" / "planted.zst", run / "capture" / "planted.zst")
    shutil.copy(DATA / "heaptrack" / "planted.iterations.jsonl", run / "iterations.jsonl")
    return run


def _json(*args, code=0) -> dict:
    done = memprof(*args)
    assert done.returncode == code, done.stderr
    return json.loads(done.stdout)


def _valid(validator, doc: dict, tag: str) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []
    assert doc["schema"] == tag


def test_analyze_json_of_a_run_a_capture_and_a_series(validator, run_dir):
    for path in (run_dir, DATA / "massif" / "planted.massif.out", DATA / "series" / "sawtooth.csv",
                 DATA / "memcheck" / "planted_all.xml", DATA / "series" / "twins_heaptrack_40.jsonl"):
        doc = _json("analyze", "--json", path)
        _valid(validator, doc, "memprof.analysis/1")
    assert json.loads((run_dir / "analysis.json").read_text())["schema"] == "memprof.analysis/1"
    _valid(validator, json.loads((run_dir / "analysis.json").read_text()), "memprof.analysis/1")


def test_report_json(validator, run_dir, tmp_path):
    done = memprof("report", DATA / "series" / "demo_twins_reload_50.jsonl", "-o", tmp_path)
    assert done.returncode == 0, done.stderr
    _valid(validator, json.loads((tmp_path / "report.json").read_text()), "memprof.analysis/1")


def test_check_json_passing_and_failing(validator, run_dir):
    failing = _json("check", "--json", run_dir, code=1)
    _valid(validator, failing, "memprof.check/1")
    assert failing["failed"] and failing["leaking_sites"]
    passing = _json("check", "--json", run_dir, "--allow", "leak_*")
    _valid(validator, passing, "memprof.check/1")
    assert not passing["failed"] and passing["allowed_sites"]


def test_compare_json(validator, run_dir):
    doc = _json("compare", "--json", run_dir, DATA / "triage" / "planted5.zst")
    _valid(validator, doc, "memprof.compare/1")


def test_the_schema_holds_the_core_keys(validator, run_dir):
    """It is no rubber stamp: a result without a core key, or with one of the wrong type, fails."""
    doc = _json("analyze", "--json", run_dir)
    for key in ("source", "captures", "verdict"):
        assert list(validator.iter_errors({k: v for k, v in doc.items() if k != key}))
    bad = json.loads(json.dumps(doc))
    bad["captures"][0]["sites"][0]["live_bytes_end"] = "lots"
    assert list(validator.iter_errors(bad))
    assert list(validator.iter_errors({**doc, "schema": "memprof.analysis/x"}))


def test_strict_json_out():
    """NaN and numpy scalars never reach a JSON file: strict JSON for any consumer."""
    import numpy as np

    text = jsonout.dumps({"a": float("nan"), "b": np.int64(3), "c": (1.5, float("inf"))}, kind="check")
    assert json.loads(text) == {"schema": "memprof.check/1", "a": None, "b": 3, "c": [1.5, None]}


def test_analyze_json_of_a_killed_run_without_a_capture(validator, tmp_path):
    run = tmp_path / "killed"
    shutil.copytree(DATA / "series" / "killed_run", run)
    _valid(validator, _json("analyze", "--json", run), "memprof.analysis/1")
