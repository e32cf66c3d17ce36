"""`make bench`: every benchmark in turn. Speed and memory are measured here, never in tests.

  scripts/bench_switch.py   cost of one model switch under each strategy
  scripts/bench_parsers.py  our parsers against heaptrack_print, ms_print and `memray stats`
  scripts/bench_valgrind.py time per iteration of each model under massif and memcheck, the
                            estimate against the time taken (--quick: tiny twins only)
  scripts/corpus_score.py   the third-party corpus: right/total verdicts, per class
  memprof --help start-up time
  analyze_series on flat series of 1,500 and 10,000 iterations (the analysis alone, no I/O)
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def startup(n: int = 7) -> None:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([str(BIN / "memprof"), "--help"], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    print(f"memprof --help start-up: median {statistics.median(times) * 1000:.0f} ms over {n} runs (target < 300 ms)")


def series_analysis(sizes=(1500, 10_000)) -> None:
    """The series analysis alone on a flat, noisy series (the slowest shape for a change-point search)."""
    import numpy as np
    import pandas as pd

    from profiler.analysis import analyze_series

    rng = np.random.default_rng(1)
    for n in sizes:
        df = pd.DataFrame({"iteration": np.arange(1, n + 1),
                           "rss": ((2000 + rng.normal(0, 5, n)) * 2**20).astype(np.int64)})
        t = time.perf_counter()
        analyze_series(df)
        print(f"analyze_series, flat series of {n:,} iterations: {time.perf_counter() - t:.2f} s")


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    startup()
    series_analysis()
    rc = 0
    for script in ("bench_switch.py", "bench_parsers.py", "corpus_score.py", "bench_valgrind.py"):
        path = HERE / script
        if not path.exists():
            print(f"(skipped {script}: not present)")
            continue
        print(f"\n== {script}", flush=True)
        rc |= subprocess.run([sys.executable, str(path), *(["--quick"] if quick else [])]).returncode
    return rc


if __name__ == "__main__":
    sys.exit(main())
