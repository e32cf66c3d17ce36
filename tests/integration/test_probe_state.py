"""The capture's state right after the collection probe, for real under massif: the loop (and
memprof_marks) waits after its gc.collect() while memprof has massif take a detailed snapshot
through vgdb (massif.out.PID.probe). llama-cpp-python's samplers on the tiny twin are cycle
garbage that grows over the iterations and is gone after the probe: not a leak; a real native
leak (ctypes malloc without free, tests/workloads/cycle_garbage.py) keeps its bytes through the
probe and stays a leak, while the cycle-held bytearrays beside it are collected."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from profiler import rundir
from testkit import memprof_process, needs

pytestmark = pytest.mark.integration
needs_valgrind = needs("valgrind")

ROOT = Path(__file__).resolve().parents[2]
CYCLES = ROOT / "tests" / "workloads" / "cycle_garbage.py"
KIB = 1024


def memprof(*args, timeout=900):
    return memprof_process(*args, timeout=timeout, cwd=ROOT)


def triage_of(run: Path) -> dict:
    return json.loads((run / rundir.ANALYSIS).read_text())["triage"]


def probe_files(run: Path) -> list[Path]:
    return sorted((run / rundir.CAPTURE_DIR).glob("massif.out.*" + rundir.PROBE_STATE_SUFFIX))


@needs_valgrind
def test_massif_sees_the_tiny_twins_samplers_freed_by_the_probe(tmp_path, tiny_models):
    run = tmp_path / "run"
    proc = memprof("valgrind", "--model", "tiny-1.7b", "--model-path", f"tiny-1.7b={tiny_models['tiny-1.7b']}",
                   "-n", 8, "--yes", "-o", run)
    assert proc.returncode == 0, proc.stderr
    assert len(probe_files(run)) == 1
    analysis = json.loads((run / rundir.ANALYSIS).read_text())
    assert len(analysis["captures"]) == 1          # the probe state is read with massif.out.PID, not beside it
    # in massif's snapshot right after the probe's gc.collect() no sampler is left
    with open(run / rundir.SITES, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["function"] == "llama_sampler_sample"]
    assert rows and all(float(r["live_bytes_probe"]) == 0 for r in rows)
    tri = triage_of(run)
    assert "llama_sampler_sample" not in {d["function"] for d in tri["leaking_sites"]}
    assert tri["verdict"] != "leak" and analysis["verdict"] != "leak"
    judged = {r["verdict"] for r in rows}
    if "leak" in judged:
        # the boundaries saw it grow (most runs; the clock-placed boundaries of a Python loop under massif
        # sometimes miss a step, and then it reads as a pool): the probe state is what clears it
        collected = {d["function"]: d for d in tri["collected_by_probe"]}
        assert "llama_sampler_sample" in collected, (tri["basis_sentence"], tri["evidence"])
        sampler = collected["llama_sampler_sample"]
        assert sampler["probe_collected"] is True and sampler["live_bytes_probe"] == 0
        assert sampler["slope_bytes_per_iter"] > 0 and sampler["probe_freed_bytes"] > 0
        assert tri["verdict"] == "plateau" and tri["evidence_basis"] == "collection probe"
        assert "right after the collection probe's full gc.collect()" in tri["basis_sentence"]


@needs_valgrind
def test_a_native_leak_keeps_its_bytes_through_the_probe(tmp_path):
    run = tmp_path / "run"
    n, leak_kib = 8, 64
    proc = memprof("valgrind", "--yes", "-o", run, "--", sys.executable, CYCLES, n)
    assert proc.returncode == 0, proc.stderr
    assert len(probe_files(run)) == 1
    # meta.json says the state was taken under Valgrind, how and into which file
    state = rundir.read_meta(run)["backend"]["probe_state"]
    assert (state["taken"], state["how"], state["file"]) == (True, "detailed_snapshot", probe_files(run)[0].name)
    assert state["after_iteration"] == n and 0 < state["took_s"] < 50
    tri = triage_of(run)
    leaks = [d for d in tri["leaking_sites"] if "ffi_call" in d["site"]]
    assert len(leaks) == 1, tri["evidence"]
    leak = leaks[0]
    assert leak["probe_collected"] is False
    assert leak["live_bytes_probe"] == n * leak_kib * KIB      # every block malloc'd, none freed
    garbage = [d for d in tri["collected_by_probe"] if d["function"] == "PyByteArray_Resize"]
    assert len(garbage) == 1, tri["evidence"]
    garbage = garbage[0]
    assert garbage["live_bytes_probe"] == 0 and garbage["probe_collected"] is True
    assert tri["verdict"] == "leak" and tri["evidence_basis"] == "site timeline"
    assert any("keep their bytes through the collection probe" in e for e in tri["evidence"])
    assert not any("ran no full collection" in e for e in tri["evidence"])   # the probe answered the caveat
