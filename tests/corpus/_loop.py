"""The iteration loop every corpus driver shares (stdlib only: it runs in the corpus venvs,
where memprof is not installed).

`run(step, default_iterations)` parses `--iterations N` and `--records/--no-records`, calls `step(i)` N
times and, with `--records`, appends one JSON line per iteration to $MEMPROF_ITERATIONS in the
protocol of README "Iteration markers" ({"iteration", "t_start", "t_end", "wall_start",
"wall_end"}, seconds since the process started and epoch seconds), flushed and fsynced, followed
by the in-band marker allocation (malloc + free of 12035 + 8 * (i % 2048) bytes through libc)
that heaptrack records among the program's own events. `--no-records` writes nothing: the same
program as a user without markers would profile it.
"""
from __future__ import annotations

import os
import sys
import time

MARKER_BASE = 12035
MARKER_SPAN = 2048


def _boot_start() -> float:
    with open("/proc/self/stat", "rb") as f:
        data = f.read().decode(errors="replace")
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")


_START = _boot_start()


def since_start() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME) - _START


class _Marker:
    def __init__(self):
        import ctypes   # only with records: a run without them imports nothing extra

        libc = ctypes.CDLL(None)
        self._malloc, self._free = libc.malloc, libc.free
        self._malloc.restype = ctypes.c_void_p
        self._malloc.argtypes = [ctypes.c_size_t]
        self._free.restype = None
        self._free.argtypes = [ctypes.c_void_p]

    def mark(self, i: int) -> None:
        self._free(self._malloc(MARKER_BASE + 8 * (i % MARKER_SPAN)))


def _options(argv: list[str], default_iterations: int) -> tuple[int, bool]:
    """`--iterations N` and `--records/--no-records` by hand: argparse and json would add some
    40,000 allocations to every start-up capture."""
    iterations, records = default_iterations, True
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--iterations" and args:
            iterations = int(args.pop(0))
        elif a.startswith("--iterations="):
            iterations = int(a.split("=", 1)[1])
        elif a in ("--records", "--no-records"):
            records = a == "--records"
        else:
            sys.exit(f"usage: driver.py [--iterations N] [--records|--no-records] (got {a!r})")
    return iterations, records


def run(step, default_iterations: int) -> None:
    iterations, records = _options(sys.argv[1:], default_iterations)
    path = os.environ.get("MEMPROF_ITERATIONS") if records else None
    out = open(path, "a", encoding="utf-8") if path else None
    marker = _Marker() if out else None
    try:
        for i in range(1, iterations + 1):
            t_start, wall_start = since_start(), time.time()
            step(i)
            t_end, wall_end = since_start(), time.time()
            if out is not None:
                out.write('{"iteration": %d, "t_start": %.6f, "t_end": %.6f, "wall_start": %.6f, "wall_end": %.6f}\n'
                          % (i, t_start, t_end, wall_start, wall_end))
                out.flush()
                os.fsync(out.fileno())
                marker.mark(i)
    finally:
        if out is not None:
            out.close()
