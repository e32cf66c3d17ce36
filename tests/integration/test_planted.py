"""The planted workload through the real CLI of every backend that can see it.

Each backend records `planted 10` (memray: the shared-library build driven by
tests/workloads/planted_driver.py, with native stacks), the run's analysis.json
must give every planted site its known verdict, and `memprof check RUN_DIR` must
exit 1 naming exactly leak_lost and leak_reachable, and 0 once they are allowed.

The program is the session's -O0 build (tests/conftest.py): at -O1 gcc deletes
init_once's malloc and scratch_work's malloc/free pair.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from testkit import memprof_process, need

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "workloads" / "planted_driver.py"
N = 10
KiB = 1024
LEAK_LINES = ("leak_lost (", "leak_reachable (")


def memprof(*args, timeout=300):
    return memprof_process(*args, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def planted(planted_bin, planted_lib) -> dict[str, Path]:
    """tests/conftest.py builds both with -O0 (at -O1 two planted sites would not exist)."""
    return {"bin": planted_bin, "lib": planted_lib}


BACKENDS = {
    # name: (tool needed, memprof arguments before --, expected verdicts)
    "heaptrack": ("heaptrack", ["heaptrack"], {"scratch_work": "transient"}),
    "massif": ("valgrind", ["valgrind", "--tool", "massif"], {"scratch_work": "transient"}),
    # memcheck reports what is left at exit: the freed scratch buffer is not in it
    "memcheck": ("valgrind", ["valgrind", "--tool", "memcheck"], {}),
    "memray": ("memray", ["memray"], {"scratch_work": "transient"}),
}
COMMON = {"leak_lost": "leak", "leak_reachable": "leak", "pool_acquire": "pool", "init_once": "init-once"}


def _record(name: str, planted: dict, out: Path, n: int = N) -> Path:
    tool, args, _ = BACKENDS[name]
    need(tool)
    cmd = [DRIVER, planted["lib"], n] if name == "memray" else [planted["bin"], n]
    p = memprof(*args, "--out", out, "--", *cmd)
    assert p.returncode == 0, p.stdout + p.stderr
    return out


@pytest.fixture(scope="module")
def recorded(planted, tmp_path_factory):
    cache: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in cache:
            cache[name] = _record(name, planted, tmp_path_factory.mktemp(name) / "run")
        return cache[name]

    return get


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_planted_verdicts_and_check(backend, recorded):
    run = recorded(backend)
    result = json.loads((run / "analysis.json").read_text())
    (cap,) = result["captures"]
    assert cap["format"] == backend
    by_fn: dict[str, list[dict]] = {}
    for s in cap["sites"]:
        by_fn.setdefault(s["function"], []).append(s)
    expected = {**COMMON, **BACKENDS[backend][2]}
    got = {}
    for fn in ("leak_lost", "leak_reachable", "pool_acquire", "init_once", "scratch_work"):
        rows = by_fn.get(fn, [])
        assert len(rows) <= 1, rows
        if rows:
            got[fn] = rows[0]["verdict"]
    assert got == expected, {fn: by_fn.get(fn) for fn in got}
    lost, reach = by_fn["leak_lost"][0], by_fn["leak_reachable"][0]
    assert lost["slope_bytes_per_iter"] == 32 * KiB and reach["slope_bytes_per_iter"] == 16 * KiB
    assert lost["live_bytes_end"] == N * 32 * KiB and reach["live_bytes_end"] == N * 16 * KiB
    assert by_fn["pool_acquire"][0]["live_bytes_end"] == 4 * 64 * KiB
    assert result["verdict"] == "leak"
    names = [d["function"] for d in result["triage"]["leaking_sites"]]
    assert names == ["leak_lost", "leak_reachable"]

    p = memprof("check", run)
    assert p.returncode == 1, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith(pfx) for line, pfx in zip(lines, LEAK_LINES)), p.stdout
    assert all(line.endswith(backend) or f"\t{backend} " in line for line in lines)
    p = memprof("check", run, "--allow", "leak_*")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout == ""


def test_compare_two_heaptrack_runs(planted, recorded, tmp_path):
    ten = recorded("heaptrack")
    four = _record("heaptrack", planted, tmp_path / "run4", n=4)
    p = memprof("compare", four, ten, "--json")
    assert p.returncode == 0, p.stderr
    (c,) = json.loads(p.stdout)["captures"]
    rows = {r["function"]: r for r in c["sites"] if r["function"]}
    assert rows["leak_lost"]["live_end_delta"] == 6 * 32 * KiB
    assert rows["leak_reachable"]["live_end_delta"] == 6 * 16 * KiB
    assert rows["pool_acquire"]["live_end_delta"] == 0 and rows["init_once"]["live_end_delta"] == 0
    assert [rows[f]["site"] for f in ("leak_lost", "leak_reachable")] == c["grew"]
    # four iterations fill the pool of four one block per iteration: it never levelled off, so
    # it reads as a leak; ten iterations show the plateau. compare says so.
    assert c["verdict_changes"] == [{"site": rows["pool_acquire"]["site"], "from": "leak", "to": "pool"}]
