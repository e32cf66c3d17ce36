"""The process clock: seconds since the current process started.

Iteration records carry times on this clock because it is the one the
profilers use (massif's `--time-unit=ms` and heaptrack's `c` records count from
process start), so a capture's timeline can be cut at iteration boundaries.
"""
from __future__ import annotations

import os
import time

_start: float | None = None


def stat_fields(pid: int | str = "self") -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces and brackets): field 3 of
    proc(5), the state, is index 0. Raises OSError when the process is gone."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read().decode(errors="replace")
    return data[data.rindex(")") + 2:].split()


def process_start_boottime(pid: int | str = "self") -> float:
    """When `pid` started, in seconds of CLOCK_BOOTTIME (field 22 of proc(5): starttime in ticks)."""
    return int(stat_fields(pid)[19]) / os.sysconf("SC_CLK_TCK")


def since_start() -> float:
    global _start
    if _start is None:
        _start = process_start_boottime()
    return time.clock_gettime(time.CLOCK_BOOTTIME) - _start
