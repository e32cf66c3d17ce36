"""Per-site growth verdicts on real runs: a leak spread thin (C, heaptrack), start-up that is not
growth (Python under heaptrack, with and without memprof_marks records), and --scale under memcheck.

Each run goes through the real CLI and the real tool; the assertions are on analysis.json.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from testkit import memprof_process, need

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ROOT / "tests" / "workloads"
LAZY = WORKLOADS / "lazy_imports.py"
KiB = 1024


def memprof(*args, timeout=600):
    return memprof_process(*args, timeout=timeout, cwd=ROOT)


def analysis(run: Path) -> dict:
    return json.loads((run / "analysis.json").read_text())


@pytest.fixture(scope="module")
def thin_bin(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("thin") / "thin"
    subprocess.run(["gcc", "-O0", "-g", "-fno-omit-frame-pointer", "-o", str(out), str(WORKLOADS / "thin.c")],
                   check=True)
    return out


def test_thin_leak_is_one_finding(thin_bin, tmp_path):
    need("heaptrack")
    run = tmp_path / "run"
    p = memprof("heaptrack", "--out", run, "--", thin_bin, 40)
    assert p.returncode == 0, p.stdout + p.stderr
    r = analysis(run)
    assert r["verdict"] == "leak"
    (f,) = r["triage"]["leaking_sites"]
    assert f["site"] == "200 sites under cache_remember (thin, thin growth)"
    assert f["slope_bytes_per_iter"] == 200 * 32
    assert p.stdout.startswith("VERDICT: LEAK")
    c = memprof("check", run)
    assert c.returncode == 1 and len(c.stdout.splitlines()) == 1, c.stdout + c.stderr


def test_a_small_leak_under_a_large_set_up_heap_without_records(tmp_path):
    """No iteration records: leak_step's 64 KiB per iteration is judged per time slice and adds
    ~1.9 MiB over the run, 1% of the 200 MiB set-up heap; still a leak (over 1 MiB), and check fails."""
    need("heaptrack")
    prog = tmp_path / "big_setup_leak"
    subprocess.run(["gcc", "-O0", "-g", "-o", str(prog), str(WORKLOADS / "big_setup_leak.c")], check=True)
    run = tmp_path / "run"
    p = memprof("heaptrack", "--out", run, "--", prog, 30)
    assert p.returncode == 0, p.stdout + p.stderr
    r = analysis(run)
    assert r["captures"][0]["meta"]["triage"]["timeline_unit"] == "slice"
    assert r["verdict"] == "leak", r["triage"]["evidence"]
    assert [d["function"] for d in r["triage"]["leaking_sites"]] == ["leak_step"]
    assert memprof("check", run).returncode == 1


def _lazy(tmp_path, name, *args) -> dict:
    need("heaptrack")
    run = tmp_path / name
    p = memprof("heaptrack", "--out", run, "--", sys.executable, LAZY, 60, *args)
    assert p.returncode == 0, p.stdout + p.stderr
    return analysis(run)


def test_lazy_imports_with_records_are_not_growth(tmp_path):
    r = _lazy(tmp_path, "marks", "--marks")
    assert r["captures"][0]["meta"]["triage"]["timeline_unit"] == "iteration"
    assert r["verdict"] == "plateau", r["triage"]["explained"]


def test_a_real_python_leak_with_records(tmp_path):
    r = _lazy(tmp_path, "leak", "--marks", "--leak")
    assert r["verdict"] == "leak"
    names = [d["function"] for d in r["triage"]["leaking_sites"]]
    assert len(names) == 1, names
    assert r["triage"]["leaking_sites"][0]["slope_bytes_per_iter"] >= 64 * KiB


def test_python_command_imports_memprof_marks_without_memprof(tmp_path):
    """memprof puts memprof_marks on the command's PYTHONPATH: a bare interpreter (-S, -I would drop
    PYTHONPATH) writes iteration records through it."""
    need("heaptrack")
    prog = tmp_path / "p.py"
    prog.write_text("import memprof_marks\nfor i in range(3):\n    memprof_marks.end_iteration()\n")
    run = tmp_path / "run"
    p = memprof("heaptrack", "--out", run, "--", sys.executable, "-S", prog)
    assert p.returncode == 0, p.stdout + p.stderr
    recs = [json.loads(x) for x in (run / "iterations.jsonl").read_text().splitlines()]
    assert [x["iteration"] for x in recs] == [1, 2, 3]
    assert analysis(run)["captures"][0]["meta"]["markers"]["boundaries_at_markers"] == 3


def test_scale_under_memcheck(planted_bin, tmp_path):
    need("valgrind")
    run = tmp_path / "run"
    p = memprof("valgrind", "--tool", "memcheck", "--scale", "5,10", "--out", run, "--", planted_bin, "{n}")
    assert p.returncode == 0, p.stdout + p.stderr
    assert (run / "scale-5" / "analysis.json").is_file() and (run / "scale-10" / "analysis.json").is_file()
    r = analysis(run)
    got = {s["function"]: (s["verdict"], s["bytes_per_n"]) for s in r["scale"]["sites"]
           if s["function"] in ("leak_lost", "leak_reachable", "pool_acquire", "init_once")}
    assert got == {"leak_lost": ("leak", 32 * KiB), "leak_reachable": ("leak", 16 * KiB),
                   "pool_acquire": ("pool", 0.0), "init_once": ("init-once", 0.0)}
    assert r["verdict"] == "leak"
    assert [x["n"] for x in r["runs"]] == [5, 10]
    assert "n=5" in p.stdout and "n=10" in p.stdout and "leak_lost" in p.stdout
    # the saved run analyses again, and check gates on what grows with the work
    c = memprof("check", run)
    assert c.returncode == 1, c.stdout + c.stderr
    assert sorted(line.split(" (")[0] for line in c.stdout.splitlines()) == ["leak_lost", "leak_reachable"]
    assert memprof("check", run, "--allow", "leak_*").returncode == 0


def test_scale_needs_the_placeholder(planted_bin, tmp_path):
    p = memprof("heaptrack", "--scale", "5,10", "--out", tmp_path / "r", "--", planted_bin, "5")
    assert p.returncode == 2, p.stdout + p.stderr
    assert "{n}" in p.stderr and "Traceback" not in p.stderr
