"""Stopping a profiled run, for real (tiny twins): memprof owns Ctrl-C, a second Ctrl-C
stops a Valgrind run inside one long llama_decode after saving the tool's data through
vgdb, --timeout does the same, heaptrack and memray runs stopped at once stay
analysable, and a SIGKILLed memprof takes Valgrind and the loop with it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from profiler import rundir
from profiler.workload.config import VALGRIND_POLICY
from testkit import need

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def twin_args(tiny_models, *aliases) -> list[str]:
    out = []
    for a in aliases:
        out += ["--model", a, "--model-path", f"{a}={tiny_models[a]}"]
    return out


def start(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "profiler", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def wait_for(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def n_records(run_dir: Path) -> int:
    p = run_dir / rundir.ITERATIONS
    return len(p.read_text().splitlines()) if p.is_file() else 0


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def analyze(run_dir: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "profiler", "analyze", str(run_dir)], capture_output=True,
                          text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads((run_dir / rundir.ANALYSIS).read_text())


def test_second_ctrl_c_stops_valgrind_inside_a_long_decode_and_keeps_a_capture(tiny_models, tmp_path):
    need("valgrind")
    run_dir = tmp_path / "run"
    # ~235 prompt tokens on the tiny twin: one llama_decode of >10 s under massif
    proc = start("valgrind", *twin_args(tiny_models, "tiny-0.6b"), "--iterations", "3", "--n-ctx", "512",
                 "--prompt", "word " * 80, "--threads", "2", "--yes", "--out", run_dir)
    try:
        wait_for(lambda: n_records(run_dir) >= 1, 240, "the first iteration")
        time.sleep(2)                                  # iteration 2: inside its decode
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=600)      # then memprof analyses what was kept
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert n_records(run_dir) == 1                     # iteration 2 was cut inside its decode
    meta = rundir.read_meta(run_dir)
    cut = meta["cut"]
    stopping = meta["elapsed_s"] - cut["after_s"]      # second Ctrl-C to the workload gone
    assert stopping < 30, f"stopping took {stopping:.0f} s"
    assert cut["reason"] == "interrupted" and cut["how"] == "at once"
    assert [f for f in cut["saved"] if f.startswith("massif.out.")]   # vgdb all_snapshots
    assert "RUN CUT (INTERRUPTED, stopped at once" in out
    assert "analyse with: memprof analyze" in err and "massif.out." in err
    result = analyze(run_dir)
    [cap] = result["captures"]
    assert cap["format"] == "massif" and cap["totals"]["snapshots"] > 0


def test_timeout_stops_memcheck_and_keeps_leak_checks_and_records(tiny_models, tmp_path):
    need("valgrind")
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "profiler", "valgrind", "--tool", "memcheck",
                           *twin_args(tiny_models, "tiny-0.6b"), "--iterations", "1000", "--threads", "2",
                           "--timeout", "90", "--yes", "--out", str(run_dir)],
                          capture_output=True, text=True, cwd=ROOT, timeout=400)
    assert proc.returncode == 5, proc.stderr
    assert "timed out after" in proc.stderr and "RUN CUT (TIMED OUT" in proc.stdout
    meta = rundir.read_meta(run_dir)
    assert meta["exit_status"] == "timed out" and meta["cut"]["reason"] == "timeout"
    assert meta["elapsed_s"] < 90 + 60
    n = n_records(run_dir)
    assert n >= 1, "no iteration finished in 90 s"
    cap = run_dir / "capture"
    [final] = list(cap.glob("memcheck.*.leaks.txt"))
    assert "LEAK SUMMARY" in final.read_text()
    [timeline] = list(cap.glob("memcheck.*.timeline.txt"))
    checks = [ln for ln in timeline.read_text().splitlines() if ln.startswith("# memprof leak check:")]
    assert len(checks) >= 1 and checks[0].startswith("# memprof leak check: iteration=1 ")
    assert meta["backend"]["leak_check_s"]["n"] == len(checks)
    result = analyze(run_dir)
    assert result["captures"], "the memcheck XML finished at the hard stop should be analysable"


def test_sigkill_of_memprof_takes_valgrind_and_the_loop(tiny_models, tmp_path):
    """Also: `memprof valgrind` with no --tool runs massif under the Valgrind loop policy."""
    need("valgrind")
    run_dir = tmp_path / "run"
    proc = start("valgrind", *twin_args(tiny_models, "tiny-0.6b"), "--yes", "--out", run_dir)
    try:
        info = wait_for(lambda: (run_dir / "child_info.json").is_file() and
                        json.loads((run_dir / "child_info.json").read_text()), 240, "the loop to start")
        meta = rundir.read_meta(run_dir)
        assert meta["backend"]["name"] == "massif"
        assert "--tool=massif" in meta["backend"]["argv"] and "--vgdb=yes" in meta["backend"]["argv"]
        assert {k: meta["loop"][k] for k in VALGRIND_POLICY} == VALGRIND_POLICY
        child = info["pid"]                            # the Valgrind process (the guest's pid)
        assert alive(child)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        wait_for(lambda: not alive(child), 15, "valgrind to die with memprof")
    finally:
        if proc.poll() is None:
            proc.kill()
    try:
        os.killpg(child, 0)
        survivors = True
    except ProcessLookupError:
        survivors = False
    assert not survivors or not [p for p in os.listdir("/proc") if p.isdigit() and alive(int(p))
                                 and os.getpgid(int(p)) == child]


@pytest.mark.parametrize("tool,glob", [("heaptrack", "heaptrack.*.zst"), ("memray", "memray.bin")])
def test_heaptrack_and_memray_stopped_at_once_stay_analysable(tiny_models, tmp_path, tool, glob):
    need(tool if tool == "heaptrack" else "valgrind")
    run_dir = tmp_path / "run"
    proc = start(tool, *twin_args(tiny_models, "tiny-0.6b"), "--iterations", "100000", "--threads", "2",
                 "--out", run_dir)
    try:
        wait_for(lambda: n_records(run_dir) >= 3, 180, "three iterations")
        proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    # on an idle machine a tiny-twin step ends within the 0.2 s between the two signals, so the first
    # one may already have stopped the loop; either way the capture must be whole and readable (the
    # stop inside a long C call is proven under Valgrind above and by the runner's own test below)
    assert rundir.read_meta(run_dir)["cut"]["how"] in ("at once", "after the current step")
    assert list((run_dir / "capture").glob(glob))
    result = analyze(run_dir)
    assert result["captures"] and result["captures"][0]["format"] == tool


def test_runner_timeout_calls_the_hooks_and_stops_a_long_c_call(tmp_path):
    """No tool: the runner's own part. A child writes two records and sleeps in one C call;
    the hooks see both boundaries, save is asked once before the hard stop, and the hard stop
    ends the sleep at once."""
    from profiler.errors import WorkloadFailed
    from profiler.workload.runner import StopHooks, run_workload

    class Recorder(StopHooks):
        def __init__(self):
            self.boundaries, self.saved = [], []

        def at_boundary(self, pid, record):
            self.boundaries.append(record["iteration"])

        def save(self, pid):
            self.saved.append(pid)
            return ["nothing.saved"]

    code = ("import json, os, time\n"
            "with open(os.environ['MEMPROF_ITERATIONS'], 'a') as f:\n"
            "    for i in (1, 2):\n"
            "        f.write(json.dumps({'iteration': i}) + '\\n'); f.flush()\n"
            "time.sleep(300)\n")
    hooks = Recorder()
    t = time.monotonic()
    with pytest.raises(WorkloadFailed, match=r"timed out after 3 s and 2 iterations; analyse with"):
        run_workload(tmp_path, [sys.executable, "-c", code], hooks=hooks, timeout=3, progress=False)
    assert time.monotonic() - t < 30
    assert hooks.boundaries == [1, 2] and len(hooks.saved) == 1
    meta = rundir.read_meta(tmp_path)
    assert meta["cut"]["reason"] == "timeout" and meta["cut"]["saved"] == ["nothing.saved"]
    assert meta["exit_status"] == "timed out" and meta["returncode"] == -signal.SIGUSR2
