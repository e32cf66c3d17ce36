"""memray attached to a Python process that is already running (`memprof watch --memray`).

`memray attach` injects the tracker through gdb (or lldb) into the live
interpreter, which must be able to import memray itself; the capture is written
by that process into RUN_DIR/capture/memray.bin. Uncompressed (`--no-compress`)
so a watch that is killed leaves a file the parser reads as far as it goes.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from profiler.backends.base import which
from profiler.errors import ToolMissing, UsageProblem, WorkloadFailed


def check(pid: int) -> None:
    if not which("gdb") and not which("lldb"):
        raise ToolMissing("memray attach needs gdb (install it: apt-get install gdb)")
    try:
        exe = Path(f"/proc/{pid}/exe").resolve().name
    except OSError:
        exe = ""
    if not exe.startswith("python"):
        raise UsageProblem(f"--memray: process {pid} runs {exe or 'an unknown program'}, not Python; "
                           "memray attaches only to Python processes")


def attach_argv(pid: int, capture: Path, *, duration: float | None, native: bool = True) -> list[str]:
    argv = [sys.executable, "-m", "memray", "attach", "-f", "-o", str(capture), "--no-compress"]
    if native:
        argv.append("--native")
    if duration is not None:
        argv += ["--duration", str(max(1, int(round(duration))))]
    return argv + [str(pid)]


def attach(pid: int, capture: Path, *, duration: float | None, log: Path, timeout: float = 120.0) -> None:
    """Inject memray into `pid`; ToolMissing (one line, the log's last line) when it cannot, or when
    gdb hangs past `timeout` seconds (the attaching process is killed then)."""
    try:
        with open(log, "ab") as f:
            done = subprocess.run(attach_argv(pid, capture, duration=duration), stdout=f, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ToolMissing(f"memray could not attach to process {pid}: no answer within {timeout:g} s "
                          f"(log: {log})") from None
    if done.returncode != 0:
        tail = Path(log).read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ToolMissing(f"memray could not attach to process {pid}: {tail[0][:300]} (log: {log})")


def detach(pid: int, log: Path, timeout: float = 60.0) -> None:
    """Stop the tracker in `pid`; WorkloadFailed when `memray detach` hangs past `timeout` seconds
    (the capture written so far stays readable: it is uncompressed)."""
    try:
        with open(log, "ab") as f:
            subprocess.run([sys.executable, "-m", "memray", "detach", str(pid)], stdout=f,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise WorkloadFailed(f"memray detach from process {pid} gave no answer within {timeout:g} s; "
                             f"the capture so far is kept (log: {log})") from None
