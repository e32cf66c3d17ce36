"""The process clock: seconds since the current process started.

Iteration records carry times on this clock because it is the one the
profilers use (massif's `--time-unit=ms` and heaptrack's `c` records count from
process start), so a capture's timeline can be cut at iteration boundaries.
"""
from __future__ import annotations

import os
import time

_start: float | None = None


def _process_start_boottime() -> float:
    with open("/proc/self/stat", "rb") as f:
        data = f.read().decode(errors="replace")
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 overall: starttime in ticks


def since_start() -> float:
    global _start
    if _start is None:
        _start = _process_start_boottime()
    return time.clock_gettime(time.CLOCK_BOOTTIME) - _start
