"""`memprof watch PID` on real processes: one that leaks 2 MB/s, one that grows and then plateaus."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from profiler import rundir
from testkit import wait_for_records

pytestmark = pytest.mark.integration
GROW = Path(__file__).resolve().parents[1] / "workloads" / "grow.py"


def _target(rate, until):
    p = subprocess.Popen([sys.executable, str(GROW), str(rate), str(until)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def _watch(pid, *args):
    return subprocess.run([sys.executable, "-m", "profiler", "watch", str(pid), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_a_2mb_per_second_leak_is_called_a_leak(tmp_path):
    target = _target(2, 0)
    try:
        done = _watch(target.pid, "--duration", 10, "--interval", 0.5, "--out", tmp_path / "run")
    finally:
        target.kill()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("20 samples (duration)") or "samples (duration)" in done.stdout
    assert "VERDICT: LEAK" in done.stdout and "MB/hour" in done.stdout
    a = json.loads((tmp_path / "run" / "analysis.json").read_text())
    assert a["verdict"] == "leak"
    per_hour = a["series"]["time_based"]["slope_mb_per_hour"]
    assert 2 * 3600 * 0.8 < per_hour < 2 * 3600 * 1.25      # 2 MB/s is 7200 MB/hour
    recs = list(rundir.iter_records(tmp_path / "run" / rundir.ITERATIONS))
    assert len(recs) >= 18 and all({"rss", "uss", "pss", "rss_anon", "rss_file", "swap", "sample_s"} <= set(r)
                                   for r in recs)


def test_a_process_that_plateaus_is_not_a_leak(tmp_path):
    target = _target(4, 2.5)        # +10 MB in 2.5 s, then it reuses what it holds
    try:
        done = _watch(target.pid, "--duration", 10, "--interval", 0.5, "--out", tmp_path / "run")
    finally:
        target.kill()
    assert done.returncode == 0, done.stderr
    a = json.loads((tmp_path / "run" / "analysis.json").read_text())
    assert a["verdict"] == "plateau", a["series"]["evidence"]


def test_alert_mb_exits_7_with_one_line_and_metrics_are_served(tmp_path):
    from profiler.workload.server import free_port

    target = _target(2, 0)
    port = free_port()
    scraped = {}

    def scrape():   # until a sample has set the gauges (the endpoint answers from before the first one)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "memprof_rss_bytes{" not in scraped.get("text", ""):
            try:
                scraped["text"] = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                pass
            time.sleep(0.2)

    t = threading.Thread(target=scrape)
    t.start()
    try:
        rss_mb = int(open(f"/proc/{target.pid}/status").read().split("VmRSS:")[1].split()[0]) / 1024
        done = _watch(target.pid, "--interval", 0.25, "--alert-mb", round(rss_mb + 20, 1), "--metrics-port", port,
                      "--out", tmp_path / "run")
    finally:
        target.kill()
        t.join()
    assert done.returncode == 7, done.stderr
    alert = [line for line in done.stderr.splitlines() if "ALERT" in line]
    assert len(alert) == 1 and alert[0].startswith("memprof: error: ALERT: RSS of process")
    assert f'memprof_rss_bytes{{pid="{target.pid}"}}' in scraped["text"]
    assert rundir.read_meta(tmp_path / "run")["exit_status"] == "alert"


def test_alert_slope_fires_on_the_leak(tmp_path):
    target = _target(2, 0)
    try:
        done = _watch(target.pid, "--interval", 0.25, "--duration", 30, "--alert-slope", 1000, "--out", tmp_path / "r")
    finally:
        target.kill()
    assert done.returncode == 7 and "above --alert-slope 1000 MB/hour" in done.stderr


def test_watch_ends_when_the_process_exits(tmp_path):
    """The watched process ends while watched (it waits until the watch has two samples, however
    long memprof takes to start on a loaded machine); once it is reaped, watching it is exit 2."""
    go = tmp_path / "go"
    p = subprocess.Popen([sys.executable, "-c",
                          f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.05)"])
    w = subprocess.Popen([sys.executable, "-m", "profiler", "watch", str(p.pid), "--interval", "0.2",
                          "--out", str(tmp_path / "run")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_records(tmp_path / "run" / rundir.ITERATIONS, 2, 90, w)
    go.touch()
    p.wait()
    out, err = w.communicate(timeout=120)
    assert w.returncode == 0, err
    assert f"(process {p.pid} exited)" in out
    assert _watch(p.pid).returncode == 2


def test_watch_of_an_exited_unreaped_process_says_so(tmp_path):
    """A zombie (exited, its parent has not waited) has no memory: one line that says it exited."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.05)
    try:
        done = _watch(p.pid, "--duration", 1, "--out", tmp_path / "run")
    finally:
        p.wait()
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (f"memprof: error: process {p.pid} has already exited (its parent has not "
                                   "collected it yet): nothing to watch")


def test_watch_of_a_process_that_is_gone_is_one_line_exit_2(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    done = _watch(p.pid, "--duration", 1, "--out", tmp_path / "run")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"memprof: error: no process {p.pid}" and "samples" not in done.stdout


def test_watch_of_an_unreadable_process_is_one_line_not_zero_samples(tmp_path):
    # a kernel thread: /proc/PID exists, its memory cannot be read (as root too)
    try:
        comm = Path("/proc/2/comm").read_text().strip()
    except OSError:
        comm = ""
    if comm != "kthreadd":
        pytest.skip("no kernel thread visible as pid 2 here")
    done = _watch(2, "--duration", 1, "--out", tmp_path / "run")
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines()[-1] == ("memprof: error: cannot read the memory of process 2: "
                                                    "it has no user memory (a kernel thread?)")
    assert "0 samples" not in done.stdout
