"""Cost of one model switch under each strategy: time and RSS per switch, median over N.

    python scripts/bench_switch.py            # tiny twins, 12 iterations per strategy
    python scripts/bench_switch.py --full     # the 0.6B / 1.7B twins (written once, ~2.5 GB)
    python scripts/bench_switch.py -n 20 --max-tokens 4 --threads 1

Each strategy runs the real loop child (as `memprof run` does) in a scratch run
directory; the first two iterations (first load of each model) are warmup and left
out. "switch" is load + unload as the loop timed them; "iteration" is the whole
load-generate-unload; "RSS/switch" is the change of RSS after unload between two
consecutive iterations; "RSS end" the RSS after the last one.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiler import rundir  # noqa: E402
from profiler.models import resolve_model, validate_gguf  # noqa: E402
from profiler.workload.config import LoopConfig  # noqa: E402
from profiler.workload.runner import prepare_loop, run_workload  # noqa: E402

WARMUP = 2


def bench(strategy: str, models: list[dict], n: int, max_tokens: int, threads: int | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="memprof-bench-") as tmp:
        run_dir = Path(tmp)
        kw = {"threads": threads} if threads else {}
        config = LoopConfig(models=models, iterations=n, strategy=strategy, max_tokens=max_tokens, **kw)
        result = run_workload(run_dir, prepare_loop(run_dir, config), expected_iterations=n, label=strategy)
        recs = list(rundir.iter_records(run_dir / rundir.ITERATIONS))
    steady = recs[WARMUP:] if len(recs) > WARMUP else recs
    deltas = [b["rss"] - a["rss"] for a, b in zip(recs[WARMUP - 1:], recs[WARMUP:])] or [0]
    return {
        "strategy": strategy,
        "switch_s": statistics.median(r["load_s"] + r["unload_s"] for r in steady),
        "load_s": statistics.median(r["load_s"] for r in steady),
        "iteration_s": statistics.median(r["wall_end"] - r["wall_start"] for r in steady),
        "rss_delta": statistics.median(deltas),
        "rss_end": recs[-1]["rss"],
        "elapsed_s": result.elapsed_s,
        "n": len(recs),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="use the 0.6b / 1.7b twins instead of the tiny ones")
    ap.add_argument("--quick", action="store_true", help="fewer iterations (for `make bench --quick`)")
    ap.add_argument("-n", "--iterations", type=int, default=None)
    ap.add_argument("--max-tokens", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)

    aliases = ["0.6b", "1.7b"] if args.full else ["tiny-0.6b", "tiny-1.7b"]
    n = args.iterations or (6 if args.quick else (8 if args.full else 12))
    max_tokens = args.max_tokens or (4 if args.full else 8)
    models = []
    for alias in aliases:
        r = resolve_model(alias)
        validate_gguf(r.path)
        models.append({"alias": alias, "path": str(r.path)})

    print(f"switch cost, {' <-> '.join(aliases)}, {n} iterations per strategy, {max_tokens} tokens, "
          f"median over iterations {WARMUP + 1}..{n}")
    rows = [bench(s, models, n, max_tokens, args.threads) for s in ("reload", "reset")]
    print(f"{'strategy':<9} {'switch ms':>10} {'load ms':>9} {'iteration ms':>13} {'RSS/switch KB':>14} "
          f"{'RSS end MB':>11} {'total s':>8}")
    for r in rows:
        print(f"{r['strategy']:<9} {r['switch_s'] * 1e3:>10.1f} {r['load_s'] * 1e3:>9.1f} "
              f"{r['iteration_s'] * 1e3:>13.1f} {r['rss_delta'] / 1024:>14.0f} {r['rss_end'] / 2**20:>11.1f} "
              f"{r['elapsed_s']:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
