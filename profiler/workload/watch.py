"""Watch a running process: its memory sampled over time, no restart.

Every `interval` seconds the process is read from outside (/proc/PID/smaps_rollup:
RSS, USS, PSS, anonymous, file-backed, swap; threads; its memory cgroup) and one
record is appended to iterations.jsonl and fsynced, so a watch that is killed
keeps every sample. A sample is an "iteration" for the analysis (the series is
time-based: `sample_s`, seconds since the watch began, rides along and the
analysis words its slopes per hour). The alerts are for a supervisor: crossing
`alert_mb` (RSS) or `alert_slope` (MB per hour, the lower end of the Theil-Sen
95% interval over the samples so far, so one jump does not fire it) ends the
watch with a named exit code; `metrics_port` serves the latest figures in
Prometheus text format (prometheus-client) on 127.0.0.1.
"""
from __future__ import annotations

import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from profiler import rundir
from profiler.constants import MB
from profiler.errors import BadInput, MemoryAlert, UsageProblem
from profiler.fmt import fmt_mb
from profiler.workload import measure

MIN_SAMPLES_FOR_SLOPE = 8
SLOPE_WINDOW = 600          # samples: the live slope looks at the last ten minutes at 1 s


def live_slope(ts, ys) -> tuple[float, float, float] | None:
    """(slope, low, high) in MB per hour over the recent samples (Theil-Sen, 95%); `ts`, `ys` are
    sequences (the watch keeps deques of the last SLOPE_WINDOW)."""
    if len(ts) < MIN_SAMPLES_FOR_SLOPE:
        return None
    from scipy.stats import theilslopes

    t = list(ts)[-SLOPE_WINDOW:]
    y = list(ys)[-SLOPE_WINDOW:]
    if t[-1] - t[0] <= 0:
        return None
    s, _, lo, hi = theilslopes(y, t, 0.95)
    return s * 3600.0, lo * 3600.0, hi * 3600.0


def phase_word(slope) -> str:
    if slope is None:
        return "warming up"
    s, lo, hi = slope
    if lo > 0:
        return "rising"
    if hi < 0:
        return "falling"
    return "flat"


class Metrics:
    """The latest sample as Prometheus gauges, served on 127.0.0.1:PORT (a registry of our own,
    so nothing else of this process is exported)."""

    NAMES = {"rss": "Resident set size", "uss": "Unique set size", "pss": "Proportional set size",
             "rss_anon": "Anonymous resident memory", "rss_file": "File-backed resident memory",
             "swap": "Swapped-out memory", "cgroup_usage": "Memory cgroup usage"}

    def __init__(self, port: int, pid: int):
        from prometheus_client import CollectorRegistry, Gauge, start_http_server

        self.registry = CollectorRegistry()
        self.gauges = {k: Gauge(f"memprof_{k}_bytes", f"{doc} of the watched process", ["pid"],
                                registry=self.registry) for k, doc in self.NAMES.items()}
        self.slope = Gauge("memprof_rss_slope_mb_per_hour", "Theil-Sen slope of RSS over the recent samples",
                           ["pid"], registry=self.registry)
        self.threads = Gauge("memprof_threads", "Threads of the watched process", ["pid"], registry=self.registry)
        self.pid = str(pid)
        try:
            self.server, self.thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)
        except OSError as exc:
            raise UsageProblem(f"--metrics-port {port}: cannot listen on 127.0.0.1:{port}: "
                               f"{exc.strerror or exc}", hint="pick a free port") from None

    def update(self, rec: dict, slope) -> None:
        for k, g in self.gauges.items():
            if rec.get(k) is not None:
                g.labels(self.pid).set(rec[k])
        if rec.get("threads") is not None:
            self.threads.labels(self.pid).set(rec["threads"])
        if slope is not None:
            self.slope.labels(self.pid).set(slope[0])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class WatchResult:
    samples: int = 0
    ended_because: str = "duration"
    alert: str | None = None
    last: dict = field(default_factory=dict)


def not_watchable(pid: int) -> UsageProblem | None:
    """Why `pid` cannot be watched before anything is read: there is no such process, or it has
    exited and waits for its parent to collect it (a zombie has no memory to read)."""
    from profiler.clock import stat_fields

    if not os.path.exists(f"/proc/{pid}"):
        return UsageProblem(f"no process {pid}")
    try:
        state = stat_fields(pid)[0]
    except (OSError, ValueError, IndexError):
        return UsageProblem(f"no process {pid}")
    if state in ("Z", "X"):
        return UsageProblem(f"process {pid} has already exited (its parent has not collected it yet): "
                            "nothing to watch")
    return None


def first_sample_error(pid: int, exc: Exception) -> Exception:
    """Why the very first sample of `pid` could not be taken, as one line: nothing was measured, so
    this is no "process exited" ending with 0 samples."""
    if isinstance(exc, PermissionError):
        return UsageProblem(f"cannot read the memory of process {pid} ({exc.filename or '/proc'}: permission "
                            "denied)", hint="watch a process of your own user, or run as root")
    gone = not_watchable(pid)
    if gone:
        return gone
    if isinstance(exc, ProcessLookupError):       # /proc/PID is there, its memory maps are not: no mm
        return BadInput(f"cannot read the memory of process {pid}: it has no user memory (a kernel thread?)")
    if isinstance(exc, OSError):
        return BadInput(f"cannot read the memory of process {pid}: {exc.filename or '/proc'}: "
                        f"{exc.strerror or exc}")
    return BadInput(f"cannot read the memory of process {pid}: {type(exc).__name__}: {exc}")


def watch(pid: int, out: Path, *, interval: float = 1.0, duration: float | None = None,
          alert_mb: float | None = None, alert_slope: float | None = None, metrics_port: int | None = None,
          status: bool | None = None, echo=None) -> WatchResult:
    """Sample `pid` until `duration` passes, the process exits, Ctrl-C, or an alert fires
    (MemoryAlert, after the samples are saved). Returns what ended it. A first sample that cannot
    be read (no such process, permission denied) is an error (UsageProblem, BadInput)."""
    echo = echo or (lambda msg: print(msg, file=sys.stderr, flush=True))
    status = sys.stderr.isatty() if status is None else status
    try:
        measure.outside(pid)    # before the writer and the metrics server: an unreadable process is one line
    except (OSError, ValueError) as exc:
        raise first_sample_error(pid, exc) from None
    # imported now, after the first read (a short-lived process is still there to be read) and before
    # the loop (the import takes seconds on a loaded machine: mid-watch it would leave a gap)
    import scipy.stats  # noqa: F401
    metrics = Metrics(metrics_port, pid) if metrics_port else None
    res = WatchResult()
    ts: deque = deque(maxlen=SLOPE_WINDOW)     # memory is bounded by the window, not by the watch's length
    ys: deque = deque(maxlen=SLOPE_WINDOW)
    t0 = time.monotonic()
    boot0 = None
    try:
        from profiler.clock import process_start_boottime

        boot0 = process_start_boottime(pid)
    except (OSError, ValueError):
        pass
    try:
        with rundir.IterationWriter(out) as writer:
            k = 0
            next_at = t0
            while True:
                now = time.monotonic()
                if duration is not None and now - t0 > duration + 1e-6:
                    res.ended_because = "duration"
                    break
                try:
                    mem = measure.outside(pid)
                except (OSError, ValueError) as exc:
                    if os.path.exists(f"/proc/{pid}") and not isinstance(exc, FileNotFoundError | ProcessLookupError):
                        res.ended_because = f"process {pid} could not be read: {exc.strerror or exc}"
                    else:
                        res.ended_because = f"process {pid} exited"
                    break
                k += 1
                elapsed = time.monotonic() - t0
                wall = time.time()
                rec = {"iteration": k, "sample_s": round(elapsed, 6), "strategy": "watch",
                       "t_end": round(time.clock_gettime(time.CLOCK_BOOTTIME) - boot0, 6) if boot0 else None,
                       "wall_end": round(wall, 6), **mem, "status": "ok"}
                writer.write(rec)
                res.samples, res.last = k, rec
                ts.append(elapsed)
                ys.append(rec["rss"] / MB)
                slope = live_slope(ts, ys)
                if metrics:
                    metrics.update(rec, slope)
                if status:
                    sl = "slope n/a" if slope is None else f"slope {slope[0]:+.1f} MB/h [{slope[1]:+.1f}, {slope[2]:+.1f}]"
                    sys.stderr.write(f"\r\x1b[Kmemprof watch {pid}: {k} samples, {elapsed:.0f} s, "
                                     f"RSS {fmt_mb(ys[-1], 1)}, {sl}, {phase_word(slope)}")
                    sys.stderr.flush()
                if alert_mb is not None and ys[-1] > alert_mb:
                    res.alert = (f"ALERT: RSS of process {pid} is {fmt_mb(ys[-1], 1)}, above --alert-mb {alert_mb:g} "
                                 f"(sample {k}, {elapsed:.1f} s)")
                    break
                if alert_slope is not None and slope is not None and slope[1] > alert_slope:
                    res.alert = (f"ALERT: RSS of process {pid} rises {slope[0]:+,.1f} MB/hour (95% CI "
                                 f"[{slope[1]:+,.1f}, {slope[2]:+,.1f}]), above --alert-slope {alert_slope:g} MB/hour "
                                 f"(sample {k}, {elapsed:.1f} s)")
                    break
                next_at += interval
                delay = next_at - time.monotonic()
                if duration is not None:
                    delay = min(delay, t0 + duration - time.monotonic() + 1e-3)
                if delay > 0:
                    time.sleep(delay)
                elif delay < -interval:
                    next_at = time.monotonic()   # fell behind (a slow /proc read): do not burst
    except KeyboardInterrupt:
        res.ended_because = "Ctrl-C"             # the way to end a watch without --duration
    finally:
        if status and res.samples:
            sys.stderr.write("\n")
        if metrics:
            metrics.close()
    if res.alert:
        res.ended_because = "alert"
        exc = MemoryAlert(res.alert)
        exc.result = res
        raise exc
    return res
