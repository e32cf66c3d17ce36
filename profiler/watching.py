"""`memprof watch PID`, end to end: a running process sampled from outside, memray optionally attached.

The order is the session's (session.py): check the process (and that memray can attach)
before anything is created, make the run directory, record what is watched in meta.json,
attach memray, sample until the watch ends (workload/watch.py), detach, record how it
ended. The command then analyses what was kept, as for every run; an alert or a failed
detach is raised after that, so the samples are always analysed first.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from profiler import rundir
from profiler.errors import MemoryAlert, WorkloadFailed


@dataclass
class WatchOutcome:
    run_dir: Path
    samples: int
    ended_because: str
    alert: MemoryAlert | None = None          # raised by the command after the summary
    detach_failed: WorkloadFailed | None = None


def watch(pid: int, *, interval: float = 1.0, duration: float | None = None, alert_mb: float | None = None,
          alert_slope: float | None = None, metrics_port: int | None = None, use_memray: bool = False,
          out: str | None = None, echo: Callable[[str], None] | None = None) -> WatchOutcome:
    """Watch `pid` into a new run directory; UsageProblem/ToolMissing before one exists."""
    from profiler.workload import runner
    from profiler.workload import watch as sampler

    echo = echo or (lambda msg: print(msg, file=sys.stderr))
    gone = sampler.not_watchable(pid)
    if gone:
        raise gone
    if use_memray:
        from profiler.backends import memray_attach

        memray_attach.check(pid)
    run_dir = rundir.new_run_dir(out, "watch")
    rundir.update_meta(run_dir, label="watch", command=list(sys.argv), child_argv=runner.cmdline(pid),
                       cwd=os.getcwd(), versions=runner.versions(), machine=runner.machine(), started=runner._now(),
                       watch={"pid": pid, "interval_s": interval, "duration_s": duration, "alert_mb": alert_mb,
                              "alert_slope_mb_per_hour": alert_slope, "metrics_port": metrics_port,
                              "memray": use_memray})
    if use_memray:
        cap = run_dir / rundir.CAPTURE_DIR / "memray.bin"
        memray_attach.attach(pid, cap, duration=duration, log=run_dir / rundir.CHILD_LOG)
        rundir.update_meta(run_dir, backend={"name": "memray", "workload": "attached", "captures": [
            str(cap.relative_to(run_dir))]})
    where = f", metrics on http://127.0.0.1:{metrics_port}/metrics" if metrics_port else ""
    echo(f"memprof: watching process {pid} every {interval:g} s"
         f"{f' for {duration:g} s' if duration else ' until Ctrl-C'}{where} -> {run_dir}")
    outcome = WatchOutcome(run_dir, 0, "")
    try:
        res = sampler.watch(pid, run_dir / rundir.ITERATIONS, interval=interval, duration=duration,
                            alert_mb=alert_mb, alert_slope=alert_slope, metrics_port=metrics_port, echo=echo)
    except MemoryAlert as exc:
        outcome.alert, res = exc, exc.result
    finally:
        if use_memray and duration is None and os.path.exists(f"/proc/{pid}"):   # with --duration memray stops itself
            try:
                memray_attach.detach(pid, run_dir / rundir.CHILD_LOG)
            except WorkloadFailed as exc:     # the samples are still recorded and analysed; the exit says so
                outcome.detach_failed = exc
                echo(f"memprof: {exc.one_line()}")
    outcome.samples, outcome.ended_because = res.samples, res.ended_because
    rundir.update_meta(run_dir, finished=runner._now(), iterations=res.samples, exit_status=res.ended_because,
                       alert=str(outcome.alert) if outcome.alert else None)
    return outcome
