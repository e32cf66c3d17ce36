"""Drive the planted shared library (tests/workloads/planted.c built with -DPLANTED_LIB) from Python.

Why a Python driver: memray profiles Python processes, so the planted native
sites reach memray through this script (`python -m memray run [--native]
planted_driver.py LIB N`). Two modes:

  iteration (default)  planted_setup() then planted_iteration(i) for i = 1..N;
                       the C code writes the iteration markers itself when
                       MEMPROF_ITERATIONS names a file.
  --split              one Python function per planted C function, each calling
                       only its namesake, so a capture WITHOUT native stacks still
                       tells the planted sites apart by their Python frame; the
                       driver writes the same marker record (same keys, same clocks).

The C functions are looked up once before the loop, so the per-iteration
Python frames allocate nothing that outlives the call.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time
from pathlib import Path

SLEEP_S = 0.06  # the C iteration sleeps 60 ms too: lets memray's 10 ms snapshots settle


def _clock():
    """profiler.clock.since_start: seconds since process start, the clock of the marker protocol."""
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    from profiler.clock import since_start

    since_start()  # reads /proc/self/stat once, before the loop
    return since_start


class Planted:
    def __init__(self, lib_path: str):
        lib = ctypes.CDLL(os.path.abspath(lib_path))
        self.setup = lib.planted_setup
        self.iteration = lib.planted_iteration
        self.iteration.argtypes = [ctypes.c_int]
        self.c_init_once = lib.init_once
        self.c_pool_acquire = lib.pool_acquire
        self.c_pool_acquire.argtypes = [ctypes.c_int]
        self.c_pool_acquire.restype = ctypes.c_void_p
        self.c_leak_lost = lib.leak_lost
        self.c_leak_reachable = lib.leak_reachable
        self.c_scratch_work = lib.scratch_work


# One Python frame per planted site (names match the C functions on purpose).
def init_once(p: Planted) -> None:
    p.c_init_once()


def pool_acquire(p: Planted, i: int) -> None:
    p.c_pool_acquire(i)


def leak_lost(p: Planted) -> None:
    p.c_leak_lost()


def leak_reachable(p: Planted) -> None:
    p.c_leak_reachable()


def scratch_work(p: Planted) -> None:
    p.c_scratch_work()


def run_split(p: Planted, n: int, markers: str | None) -> None:
    since_start = _clock()
    init_once(p)
    time.sleep(SLEEP_S)
    for i in range(1, n + 1):
        t0, w0 = since_start(), time.time()
        pool_acquire(p, i)
        leak_lost(p)
        leak_reachable(p)
        scratch_work(p)
        time.sleep(SLEEP_S)
        if markers:
            rec = {"iteration": i, "model": "planted", "t_start": round(t0, 3), "t_end": round(since_start(), 3),
                   "wall_start": round(w0, 3), "wall_end": round(time.time(), 3)}
            with open(markers, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")


def run_iterations(p: Planted, n: int) -> None:
    p.setup()
    time.sleep(SLEEP_S)
    for i in range(1, n + 1):
        p.iteration(i)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lib", help="path to libplanted.so")
    ap.add_argument("iterations", type=int, nargs="?", default=4)
    ap.add_argument("--split", action="store_true", help="one Python frame per planted C function")
    args = ap.parse_args(argv)
    p = Planted(args.lib)
    markers = os.environ.get("MEMPROF_ITERATIONS") or None
    if args.split:
        run_split(p, args.iterations, markers)
    else:
        run_iterations(p, args.iterations)
    time.sleep(SLEEP_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())
