"""Time the Valgrind loop per model and tool (`make bench` runs it; not a test).

For each model (tiny-0.6b, tiny-1.7b, 0.6b, 1.7b) and tool (massif, memcheck) it runs
`memprof valgrind --tool TOOL --model MODEL --iterations N --yes` with the Valgrind
loop policy's other defaults, and prints the start-up time (process start to the first
iteration), the median wall time of the iterations after the first, the whole run's
wall and CPU time (memprof and everything it ran), memprof's estimate printed before
it, their ratio, and the machine's load
(the machine may be shared: the load average and the CPU share a busy loop got are
printed beside each figure). The twins are written to ~/.cache/memprof/models the first
time (0.6b: 0.6 GB, 1.7b: 1.8 GB).

    python scripts/bench_valgrind.py [--quick] [--models tiny-0.6b,1.7b] [--tools massif]
                                     [--iterations 3] [--default-1.7b]

--quick: the tiny twins only. --default-1.7b: also time the design card's command as
written, `memprof valgrind --model 1.7b --yes` (10 iterations under massif).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(args: list[str], out: Path) -> dict:
    from profiler.backends.estimate import cpu_share

    import resource

    share = cpu_share()
    load_before = load()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "profiler", "valgrind", *args, "--yes", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.monotonic() - t
    ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru2.ru_utime - ru.ru_utime) + (ru2.ru_stime - ru.ru_stime)
    m = re.search(r"estimated ([\d.]+) (s|min|h)", proc.stderr)
    est = None
    if m:
        est = float(m.group(1)) * {"s": 1, "min": 60, "h": 3600}[m.group(2)]
    meta = json.loads((out / "meta.json").read_text()) if (out / "meta.json").is_file() else {}
    est = (meta.get("backend") or {}).get("estimated_s", est)
    recs = [json.loads(line) for line in (out / "iterations.jsonl").read_text().splitlines()] \
        if (out / "iterations.jsonl").is_file() else []
    per = [r["t_end"] - r["t_start"] for r in recs]
    return {"rc": proc.returncode, "wall": wall, "cpu": cpu, "estimate": est, "startup": recs[0]["t_start"] if recs else None,
            "first": per[0] if per else None, "per_iter": statistics.median(per[1:]) if len(per) > 1 else None,
            "decode": statistics.median(r["ttft_s"] for r in recs[1:]) if len(recs) > 1 else None,
            "load": load_before + " -> " + load(), "share": share,
            "leak_check_s": (meta.get("backend") or {}).get("leak_check_s"),
            "tail": proc.stderr.strip().splitlines()[-1:] if proc.returncode else []}


def fmt(x, unit="s"):
    return "-" if x is None else f"{x:.1f} {unit}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--models", default="tiny-0.6b,tiny-1.7b,0.6b,1.7b")
    ap.add_argument("--tools", default="massif,memcheck")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--default-1.7b", dest="default17", action="store_true")
    ap.add_argument("--keep", help="keep the run directories under this directory")
    a = ap.parse_args()
    models = ["tiny-0.6b", "tiny-1.7b"] if a.quick else a.models.split(",")
    base = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="memprof-bench-vg-"))
    base.mkdir(parents=True, exist_ok=True)
    print(f"cores {os.cpu_count()}; runs in {base}")
    print(f"{'model':<10} {'tool':<9} {'start-up':>9} {'iter 1':>9} {'iter 2+':>9} {'decode':>9} "
          f"{'run':>9} {'cpu':>9} {'estimate':>9} {'ratio':>6}  load (1/5/15 min) / cpu share / leak checks")
    rc = 0
    jobs = [(m, t, ["--tool", t, "--model", m, "--iterations", str(a.iterations)])
            for m in models for t in a.tools.split(",")]
    if a.default17:
        jobs.append(("1.7b", "default", ["--model", "1.7b"]))
    for model, tool, args in jobs:
        r = run(args, base / f"{model}-{tool}")
        ratio = r["wall"] / r["estimate"] if r["estimate"] else None
        lc = r["leak_check_s"]
        lcs = f" / {lc['n']} checks {lc['total']:.1f} s" if lc else ""
        print(f"{model:<10} {tool:<9} {fmt(r['startup']):>9} {fmt(r['first']):>9} {fmt(r['per_iter']):>9} "
              f"{fmt(r['decode']):>9} {fmt(r['wall']):>9} {fmt(r['cpu']):>9} {fmt(r['estimate']):>9} "
              f"{'-' if ratio is None else f'{ratio:.2f}':>6}  {r['load']} / {r['share']:.2f}{lcs}"
              + (f"  rc={r['rc']} {r['tail']}" if r["rc"] else ""), flush=True)
        rc |= r["rc"] != 0
    return int(rc)


if __name__ == "__main__":
    sys.exit(main())
