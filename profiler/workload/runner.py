"""Run a workload (the switch loop or any command, possibly under a profiler) in a child process.

The work happens in a child so that a crash, an OOM kill or a profiler's own death
never takes the finished records with it: the child appends each iteration to
iterations.jsonl as it goes and this side watches, owns Ctrl-C / SIGTERM (first:
the loop stops after its step; second or --timeout: the backend's hooks save what
the tool has, then a hard stop acts inside any C call), and writes meta.json
describing what ran where and, for a cut run, what was kept. The workload never
outlives memprof: a parent-death signal on the child and a watchdog on its process
group. The argv is generic (backends prefix valgrind / heaptrack / memray) and is
never given to a shell.
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

from profiler import clock, rundir
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


def require_llama_cpp() -> None:
    """ToolMissing unless the loop's child can import llama_cpp (checked before a run directory
    exists; the child's own import would fail after it is made)."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        raise ToolMissing("llama-cpp-python is not installed in this environment", hint="run `make setup`")


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


class StopHooks:
    """What a backend adds to a run: work at each iteration boundary, saving the tool's data
    before a hard stop, and which processes the hard-stop signal goes to. The default does
    nothing and signals the direct child. The runner never imports a backend: the session
    passes the backend's hooks in."""

    grace_s = 10.0   # after the hard-stop signal, how long the tool may take to write

    def at_boundary(self, pid: int, record: dict) -> None:
        return None

    def at_probe(self, pid: int, record: dict) -> None:
        """A collection-probe record appeared (a tool whose hooks set rundir.PROBE_HOLD_ENV
        takes its state here, then releases the waiting loop)."""
        return None

    def save(self, pid: int) -> list[str]:
        """Save what the tool has so far (names of the files written)."""
        return []

    def targets(self, pid: int) -> list[int]:
        return [pid]


# A hard stop sends this to the workload: Python and the loop leave it at its default
# action (terminate), so it acts inside a C call, and Valgrind, which sees the guest die
# of it, still runs the tool's exit (massif writes its file, memcheck its leak records).
HARD_STOP_SIGNAL = signal.SIGUSR2


class _Signals:
    """memprof owns Ctrl-C and SIGTERM while the workload runs. The handler only counts;
    the wait loop acts: first signal -> the loop is asked (SIGINT) to stop after the
    current step; second -> hard stop (save through the hooks, then HARD_STOP_SIGNAL);
    third -> SIGKILL of the whole process group. The child runs in its own session, so a
    terminal Ctrl-C reaches only memprof."""

    def __init__(self):
        self.count = 0
        self._old: dict = {}

    def handler(self, signum, frame):
        self.count += 1
        if self.count == 1:
            print("memprof: stopping after the current step (Ctrl-C again to stop at once, "
                  "saving what the tool has)", file=sys.stderr, flush=True)
        elif self.count == 2:
            print("memprof: stopping now", file=sys.stderr, flush=True)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self.handler)
        return self

    def __exit__(self, *exc):
        for s, h in self._old.items():
            signal.signal(s, h)


def cmdline(pid: int) -> list[str]:
    """The argv of process `pid` (/proc/PID/cmdline); [] when it is gone or unreadable."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def group_pids(pgid: int) -> list[int]:
    """The live processes of process group `pgid` (from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = clock.stat_fields(entry)
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when memprof (the parent) dies, however it dies."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - non-Linux: the watchdog still acts
        pass


def _start_watchdog(pgid: int):
    import subprocess

    pkg_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_root, env.get("PYTHONPATH")) if p)
    try:
        return subprocess.Popen([sys.executable, "-m", "profiler.workload.watchdog", str(pgid)],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env, start_new_session=True, close_fds=True)
    except OSError:  # pragma: no cover
        return None


def _stop_watchdog(dog) -> None:
    if dog is None:
        return
    try:
        dog.stdin.write(b"done")
        dog.stdin.close()
        dog.wait(timeout=5)
    except Exception:  # pragma: no cover - the run is over either way
        pass


def _signal_group(pgid: int, sig) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_pids(pids, sig) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def run_workload(run_dir: Path, argv: list[str], *, env: dict | None = None,
                 expected_iterations: int | None = None, label: str = "run",
                 progress: bool | None = None, hooks: StopHooks | None = None,
                 timeout: float | None = None) -> WorkloadResult:
    """Run `argv` (no shell) with MEMPROF_ITERATIONS=RUN_DIR/iterations.jsonl, output to
    RUN_DIR/child.log; record meta.json; raise Interrupted (a person stopped it) or
    WorkloadFailed (it failed or ran past `timeout` seconds) after saving. A cut run's
    exception carries `.cut` (what was kept), also written to meta.json as "cut"."""
    import subprocess

    hooks = hooks or StopHooks()
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
        expected_iterations=expected_iterations, timeout_s=timeout,
    )
    start = time.monotonic()
    cut: dict | None = None
    # memprof owns the signals until the run's fields are on disk: a second Ctrl-C that lands
    # while a tool's writer finishes after the workload (heaptrack's interpreter) only counts,
    # so the cut is still recorded; a third ends that wait
    sig = _Signals()
    with sig:
        with open(log_path, "ab") as log:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        env=child_env, start_new_session=True, preexec_fn=_die_with_parent)
            except FileNotFoundError:
                raise ToolMissing(f"cannot run {argv[0]}: not found") from None
            except PermissionError:
                raise ToolMissing(f"cannot run {argv[0]}: permission denied") from None
            dog = _start_watchdog(proc.pid)
            tail = rundir.RecordTail(iterations_path, from_end=True, probes=True)
            asked = False
            kill_at = None
            try:
                with IterationFollower(iterations_path, expected_iterations, label, enabled=progress):
                    while True:
                        try:
                            rc = proc.wait(timeout=0.2)
                            break
                        except subprocess.TimeoutExpired:
                            pass
                        except KeyboardInterrupt:  # a handler could not be installed (not main thread)
                            sig.handler(signal.SIGINT, None)
                        now = time.monotonic()
                        if sig.count >= 1 and not asked:
                            asked = True
                            cut = {"reason": "interrupted", "how": "after the current step",
                                   "after_s": round(now - start, 1), "saved": []}
                            _signal_group(proc.pid, signal.SIGINT)
                        timed_out = timeout is not None and now - start > timeout
                        if kill_at is None and (sig.count >= 2 or timed_out):
                            reason = "interrupted" if sig.count >= 2 else "timeout"
                            if timed_out and sig.count < 2:
                                print(f"memprof: timed out after {timeout:g} s: stopping now", file=sys.stderr,
                                      flush=True)
                            cut = {"reason": reason, "how": "at once", "after_s": round(now - start, 1),
                                   "saved": list(hooks.save(proc.pid))}
                            _signal_pids(hooks.targets(proc.pid), HARD_STOP_SIGNAL)
                            kill_at = time.monotonic() + hooks.grace_s
                        elif kill_at is None and not asked:
                            for rec in tail.new():
                                if rundir.is_probe(rec):
                                    # hooks written before at_probe existed lack it: nothing waits for them
                                    getattr(hooks, "at_probe", lambda pid, record: None)(proc.pid, rec)
                                else:
                                    hooks.at_boundary(proc.pid, rec)
                        if kill_at is not None and (sig.count >= 3 or time.monotonic() > kill_at):
                            if cut is not None:
                                cut["killed"] = True
                            _signal_group(proc.pid, signal.SIGKILL)
                            kill_at = float("inf")
            finally:
                if proc.poll() is None:  # we are being torn down: do not leave the loop orphaned
                    _signal_group(proc.pid, signal.SIGKILL)
                    proc.wait()
                # the workload's helpers (a tool's writer process) may outlive the leader briefly
                deadline = time.monotonic() + 10
                while group_pids(proc.pid) and time.monotonic() < deadline and sig.count < 3:
                    time.sleep(0.1)
                _signal_group(proc.pid, signal.SIGKILL)
                _stop_watchdog(dog)
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
        if cut is None and (rc == 130 or rc == -signal.SIGINT):
            cut = {"reason": "interrupted", "how": "by the workload", "after_s": round(elapsed, 1), "saved": []}
        if cut is not None:
            cut["iterations"] = n
            fields["exit_status"] = "timed out" if cut["reason"] == "timeout" else "interrupted"
            fields["cut"] = cut
        rundir.update_meta(run_dir, **fields)

    if cut is not None:
        # records alone are analysable (a memory series); with none, say so instead of suggesting it
        then = f"analyse with: memprof analyze {run_dir}" if n else \
            f"nothing to analyse: no iteration finished (the workload's output is in {log_path})"
        if cut["reason"] == "timeout":
            exc = WorkloadFailed(f"timed out after {timeout:g} s and {n} iterations; {then}")
        else:
            exc = Interrupted(f"interrupted after {n} iterations; {then}")
        exc.cut = cut
        raise exc
    if rc != 0:
        why = last_line(log_path) or "no output"
        how = f"was killed by {_signal_name(-rc)}" if rc < 0 else f"exited with status {rc}"
        raise WorkloadFailed(f"the workload {how} after {n} saved iterations: {why} (log: {log_path})")
    return WorkloadResult(returncode=rc, iterations=n, elapsed_s=elapsed, run_dir=run_dir)
