"""Run a workload (the switch loop or any command, possibly under a profiler) in a child process.

The work happens in a child so that a crash, an OOM kill or a profiler's own death
never takes the finished records with it: the child appends each iteration to
iterations.jsonl as it goes and this side only watches, forwards Ctrl-C, and
writes meta.json describing what ran where. The argv is generic (backends prefix
valgrind / heaptrack / memray) and is never given to a shell.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from profiler import rundir
from profiler.errors import Interrupted, ToolMissing, UsageProblem, WorkloadFailed
from profiler.workload.config import LoopConfig
from profiler.workload.progress import IterationFollower

LOOP_CONFIG = "loop.json"
CHILD_INFO = "child_info.json"
CPU_FLAGS_OF_INTEREST = ("sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "avx512f", "avx512bw",
                         "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


@dataclass
class WorkloadResult:
    returncode: int
    iterations: int
    elapsed_s: float
    run_dir: Path


def child_argv(config_path: Path) -> list[str]:
    return [sys.executable, "-m", "profiler.workload.child", str(config_path)]


def prepare_loop(run_dir: Path, config: LoopConfig) -> list[str]:
    """Write RUN_DIR/loop.json and return the argv that runs the loop on it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    done = run_dir / rundir.ITERATIONS
    if done.is_file() and done.stat().st_size:
        raise UsageProblem(f"{run_dir} already holds a run ({done.name}); choose another --out")
    path = run_dir / LOOP_CONFIG
    config.save(path)
    rundir.update_meta(run_dir, loop=config.to_json())
    return child_argv(path.resolve())


# ---------------------------------------------------------------- metadata


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict:
    from profiler import __version__

    return {"memprof": __version__, "python": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "llama_cpp_python": _dist_version("llama_cpp_python"), "memray": _dist_version("memray")}


def machine() -> dict:
    """CPU model, cores, memory, kernel and the CPU flags that change what llama.cpp runs."""
    info: dict = {"arch": platform.machine(), "kernel": platform.release(), "os": platform.system(),
                  "cores": os.cpu_count()}
    try:
        info["cores_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read()
        model = flags = None
        for line in text.splitlines():
            key, _, val = line.partition(":")
            key = key.strip()
            if key == "model name" and model is None:
                model = val.strip()
            elif key == "flags" and flags is None:
                flags = set(val.split())
        info["cpu_model"] = model
        if flags is not None:
            info["cpu_flags"] = [f for f in CPU_FLAGS_OF_INTEREST if f in flags]
    except OSError:
        pass
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["memory_bytes"] = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return info


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------- results


def count_records(path: Path) -> int:
    if not Path(path).is_file():
        return 0
    try:
        return sum(1 for _ in rundir.iter_records(Path(path), allow_torn_tail=True))
    except Exception:
        return 0


# What profilers print around the workload's own output; the workload's last word is what matters.
TOOL_CHATTER = (
    "heaptrack ", "Heaptrack finished", "allocations:", "leaked allocations:", "temporary allocations:",
    "starting application", "/usr/lib/heaptrack/", "==",
)


def last_line(log: Path, *, skip_prefixes: tuple[str, ...] = TOOL_CHATTER) -> str | None:
    """The last non-empty line of the child's log (where its one-line error ends up)."""
    try:
        with open(log, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 65536))
            tail = f.read().decode(errors="replace")
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        line = line.strip()
        if line and not line.startswith(skip_prefixes):
            return line[:500]
    return None


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


# ---------------------------------------------------------------- running


class _Forwarder:
    """While the child runs, Ctrl-C / SIGTERM here go to the child's process group.

    The child runs in its own session, so a terminal Ctrl-C reaches only us and is
    forwarded exactly once; the loop then stops after its current step. A second
    Ctrl-C asks again (the child then exits at once); a third kills it.
    """

    def __init__(self, proc):
        self.proc = proc
        self.count = 0
        self._old: dict = {}

    def _handler(self, signum, frame):
        self.count += 1
        if self.count == 1:
            print("memprof: stopping after the current step (Ctrl-C again to stop at once)",
                  file=sys.stderr, flush=True)
        sig = signal.SIGKILL if self.count >= 3 else signum
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


def run_workload(run_dir: Path, argv: list[str], *, env: dict | None = None,
                 expected_iterations: int | None = None, label: str = "run",
                 progress: bool | None = None) -> WorkloadResult:
    """Run `argv` (no shell) with MEMPROF_ITERATIONS=RUN_DIR/iterations.jsonl, output to
    RUN_DIR/child.log; record meta.json; raise Interrupted or WorkloadFailed after saving."""
    import subprocess

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    argv = [str(a) for a in argv]
    iterations_path = (run_dir / rundir.ITERATIONS).resolve()
    log_path = run_dir / rundir.CHILD_LOG
    child_env = dict(os.environ)
    child_env.update({k: str(v) for k, v in (env or {}).items()})
    child_env["MEMPROF_ITERATIONS"] = str(iterations_path)
    child_env.setdefault("PYTHONUNBUFFERED", "1")
    # the child must import this very package, wherever memprof was started from
    pkg_root = str(Path(__file__).resolve().parents[2])
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, child_env.get("PYTHONPATH")) if p)
    before = count_records(iterations_path)

    rundir.update_meta(
        run_dir, label=label, command=list(sys.argv), child_argv=argv, cwd=os.getcwd(),
        env_added=dict(env or {}), versions=versions(), machine=machine(), started=_now(),
        expected_iterations=expected_iterations,
    )
    start = time.monotonic()
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=child_env, start_new_session=True)
        except FileNotFoundError:
            raise ToolMissing(f"cannot run {argv[0]}: not found") from None
        except PermissionError:
            raise ToolMissing(f"cannot run {argv[0]}: permission denied") from None
        try:
            with _Forwarder(proc) as fwd, IterationFollower(iterations_path, expected_iterations, label,
                                                            enabled=progress):
                while True:
                    try:
                        rc = proc.wait()
                        break
                    except KeyboardInterrupt:  # a handler could not be installed (not main thread)
                        fwd._handler(signal.SIGINT, None)
        finally:
            if proc.poll() is None:  # we are being torn down: do not leave the loop orphaned
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
    elapsed = time.monotonic() - start
    n = count_records(iterations_path) - before
    fields = {"finished": _now(), "elapsed_s": round(elapsed, 3), "returncode": rc,
              "exit_status": "ok" if rc == 0 else (f"signal {_signal_name(-rc)}" if rc < 0 else f"exit {rc}"),
              "iterations": n}
    info_path = run_dir / CHILD_INFO
    if info_path.is_file():
        try:
            fields["llama"] = json.loads(info_path.read_text())
        except (OSError, json.JSONDecodeError):
            pass
    interrupted = fwd.count > 0 or rc == 130 or rc == -signal.SIGINT
    if interrupted:
        fields["exit_status"] = "interrupted"
    rundir.update_meta(run_dir, **fields)

    if interrupted:
        raise Interrupted(f"interrupted after {n} iterations; analyse with: memprof analyze {run_dir}")
    if rc != 0:
        why = last_line(log_path) or "no output"
        how = f"was killed by {_signal_name(-rc)}" if rc < 0 else f"exited with status {rc}"
        raise WorkloadFailed(f"the workload {how} after {n} saved iterations: {why} (log: {log_path})")
    return WorkloadResult(returncode=rc, iterations=n, elapsed_s=elapsed, run_dir=run_dir)
