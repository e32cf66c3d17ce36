"""Our parsers against the tools' own readers, on large real captures made on the spot.

  heaptrack: a Python program run with PYTHONMALLOC=malloc under heaptrack (~7 million
             allocation calls; --quick: ~0.5 million), then `heaptrack_print -f FILE`
             vs `load_capture(FILE)` in a fresh interpreter (start-up included).
  massif:    a C program with thousands of distinct allocation stacks under massif with
             many detailed snapshots, then `ms_print FILE` vs `load_capture(FILE)`.

Each side runs as a child process; wall time and the child's peak RSS come from
os.wait4, CPU time from its rusage (printed at the end: on a shared machine wall time follows
the load). Captures go to runs/bench/ (never committed) and are reused when present (--fresh
remakes them). Targets (issue 9): memprof analyze <= 1.0x heaptrack_print, the 2,000-site
4,000-iteration capture <= 2x, memray <= 1.5x memray stats, massif <= 1.0x ms_print.
  memray:    a Python loop under `memray run --trace-python-allocators` (~2 million
             allocations; --quick: ~0.2 million), `memray stats --json FILE` vs
             `load_capture(FILE)`; the reading children's RSS at two sizes, and the CPU of
             each memray pass load_capture makes (the floor under its figure).
  memprof analyze: the whole command (start-up, parse, triage, analysis) on the heaptrack capture.
  scaling:   tests/workloads/sites_gen.c (S distinct allocation stacks, I iterations, iteration
             records and in-band markers) under heaptrack for I in 1k/4k/16k and S in 200/2k/20k
             (min(S, 500) allocations per iteration), plus the two targets of issue 9: 2,000 sites x
             4,000 iterations (1,800 allocations per iteration, 7.2 M calls) and 2,000 sites x
             10,000 iterations; load_capture with the iteration boundaries vs heaptrack_print.
Usage: scripts/bench_parsers.py [--quick] [--fresh] [--only heaptrack|massif|memray|scaling] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ALLOC_PY = """\
import sys
calls = int(sys.argv[1])
keep = []
# with PYTHONMALLOC=malloc every object is a malloc/free: about 6.3 calls per loop
for i in range(calls * 10 // 63):
    s = str(i) * 3
    t = (i, s)
    if i % 100 == 0:
        keep.append(t)
    if len(keep) > 5000:
        keep = keep[2500:]
"""

MANY_STACKS_C = r"""
#include <stdlib.h>
#include <string.h>
typedef void *(*step_fn)(int, unsigned);
static void *step(int depth, unsigned code);
#define F(n) __attribute__((noinline)) static void *f##n(int d, unsigned c) { return step(d, c); }
F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7)
static step_fn table[8] = {f0, f1, f2, f3, f4, f5, f6, f7};
__attribute__((noinline)) static void *leaf(unsigned code) {
    size_t n = 64 + (code % 61) * 48;
    void *p = malloc(n);
    memset(p, 1, n);
    return p;
}
static void *step(int depth, unsigned code) {
    if (depth == 0) return leaf(code);
    return table[code & 7](depth - 1, code >> 3);
}
#define WINDOW 6000
int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 60000;
    static void *live[WINDOW];
    for (int i = 0; i < rounds; i++) {
        unsigned code = (unsigned)i * 2654435761u;
        int slot = (int)(code % WINDOW);
        free(live[slot]);
        live[slot] = step(4, code >> 7);
    }
    return 0;
}
"""


CPU_LOG: list[tuple[str, float, float]] = []   # (what, wall s, user+sys CPU s) of every measured child
REPEAT = 3     # each measured command runs this many times (--quick: once); the least CPU time counts


def _child_env(env=None) -> dict:
    """The environment of a measured Python child: PYTHONDONTWRITEBYTECODE dropped, so memprof's
    modules are imported from their .pyc as in an installed package (the first, warm-up run
    writes them into __pycache__; without this every run compiles ~50 modules afresh)."""
    env = dict(os.environ if env is None else env)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run_once(argv, stdout_path, env):
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    finally:
        if stdout_path:
            out.close()
    # the child's rusage includes the children it waited for (memray's reading children)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status)


def run_measured(argv, stdout_path=None, env=None):
    """(wall s, user+sys CPU s, peak RSS bytes, exit code) of a child process run REPEAT times:
    the least wall and CPU time, the largest RSS. On a shared machine wall time follows the load;
    CPU time much less, and the least of a few runs is the least disturbed."""
    runs = [_run_once(argv, stdout_path, env) for _ in range(REPEAT)]
    wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
    rss, rc = max(r[2] for r in runs), runs[-1][3]
    what = " ".join(Path(a).name if "/" in a else a for a in argv[:4] if not a.startswith("import "))
    CPU_LOG.append((f"{what} {Path(argv[-1]).name if len(argv) > 4 else ''}".strip(), wall, cpu))
    return wall, cpu, rss, rc


def warm_up():
    """One unmeasured memprof start, so its .pyc files exist before anything is timed."""
    subprocess.run([sys.executable, "-c", "import profiler.cli, profiler.pipeline, profiler.parsers.heaptrack, "
                    "profiler.parsers.massif, profiler.parsers.memray_bin, profiler.triage, profiler.analysis"],
                   env=_child_env(dict(os.environ, PYTHONPATH=str(ROOT))), check=True)


def need(tool):
    path = shutil.which(tool)
    if not path:
        sys.exit(f"bench_parsers: {tool} not found (scripts/install_system.sh installs it)")
    return path


OURS = ("import sys, json; from profiler.parsers import load_capture; c = load_capture(sys.argv[1]); "
        "print(json.dumps({k: v for k, v in c.totals.items()}), len(c.sites))")


def ours(path: Path, out_dir: Path, label: str):
    env = _child_env(dict(os.environ, PYTHONPATH=str(ROOT)))
    return run_measured([sys.executable, "-c", OURS, str(path)], out_dir / f"{label}.ours.txt", env=env)


def _kilo(n: int) -> str:
    """heaptrack_print's byte format: 1000-based, two decimals."""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n}B"


def same_heaptrack_totals(printed: str, ours_out: str) -> bool:
    totals = json.loads(ours_out.split("\n")[0].rsplit(" ", 1)[0])
    want = {
        "calls to allocation functions": str(totals["calls"]),
        "temporary memory allocations": str(totals["temporary"]),
        "peak heap memory consumption": _kilo(totals["peak_heap_bytes"]),
        "total memory leaked": _kilo(totals["leaked_bytes"]),
    }
    got = {}
    for line in printed.splitlines():
        key, sep, value = line.partition(": ")
        if key in want:
            got[key] = value.split(" ")[0]
    if got != want:
        print(f"MISMATCH heaptrack_print {got} vs ours {want}")
    return got == want


def bench_heaptrack(out: Path, quick: bool, fresh: bool):
    need("heaptrack")
    need("heaptrack_print")
    calls = 500_000 if quick else 7_000_000
    capture = out / f"heaptrack_{calls}.zst"
    if fresh or not capture.exists():
        script = out / "alloc.py"
        script.write_text(ALLOC_PY)
        python = os.path.realpath(sys.executable)   # not a shim script: heaptrack must see Python itself
        env = dict(os.environ, PYTHONMALLOC="malloc")
        print(f"making {capture} ({calls} allocation calls under heaptrack)...", flush=True)
        subprocess.run(["heaptrack", "-o", str(capture.with_suffix("")), python, str(script), str(calls)],
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ref = run_measured(["heaptrack_print", "-f", str(capture)], out / "heaptrack_print.txt")
    text = (out / "heaptrack_print.txt").read_text()
    printed_calls = int(re.search(r"calls to allocation functions: (\d+)", text).group(1))
    mine = ours(capture, out, "heaptrack")
    ok = mine[3] == 0 and same_heaptrack_totals(text, (out / "heaptrack.ours.txt").read_text())
    return row("heaptrack", capture, printed_calls, ref, mine, ok)


ANALYZE = [str(Path(sys.executable).parent / "memprof"), "analyze", "--json"]


def bench_analyze(out: Path, capture: Path):
    """`memprof analyze --json CAPTURE` (the whole command) against heaptrack_print."""
    env = _child_env(dict(os.environ, PYTHONPATH=str(ROOT)))
    ref = run_measured(["heaptrack_print", "-f", str(capture)], out / "heaptrack_print.txt")
    mine = run_measured(ANALYZE + [str(capture)], out / "analyze.json", env=env)
    calls = json.loads((out / "analyze.json").read_text())["totals"]["calls"] if mine[3] == 0 else 0
    return row("analyze", capture, calls, ref, mine, mine[3] == 0)


def row(fmt, capture, events, ref, mine, ok) -> dict:
    """One line of the summary table: the tool's and our (wall, CPU, RSS) and whether the totals agree."""
    return {"format": fmt, "capture": capture, "events": events, "tool_s": ref[0], "tool_cpu": ref[1],
            "tool_rss": ref[2], "ours_s": mine[0], "ours_cpu": mine[1], "ours_rss": mine[2], "ok": ok}


# ============================================================================ scaling
OURS_BOUNDED = ("import sys, json; sys.path.insert(0, sys.argv[3]); from testkit import boundaries; "
                "from profiler.parsers import load_capture; "
                "c = load_capture(sys.argv[1], boundaries=boundaries(sys.argv[2])); "
                "print(c.totals['calls'], len(c.sites), c.timeline['slice'].nunique())")


def _sites_gen(out: Path) -> Path:
    exe = out / "sites_gen"
    src = ROOT / "tests" / "workloads" / "sites_gen.c"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        subprocess.run([need("gcc"), "-O1", "-g", "-fno-omit-frame-pointer", "-o", str(exe), str(src)], check=True)
    return exe


def scaling_capture(out: Path, iterations: int, sites: int, calls: int, fresh: bool):
    exe = _sites_gen(out)
    stem = out / f"gen_i{iterations}_s{sites}_c{calls}"
    capture, records = stem.with_suffix(".zst"), stem.with_suffix(".iterations.jsonl")
    if fresh or not capture.exists() or not records.exists():
        records.unlink(missing_ok=True)
        print(f"making {capture.name} ({iterations} iterations x {sites} sites under heaptrack)...", flush=True)
        env = dict(os.environ, MEMPROF_ITERATIONS=str(records))
        subprocess.run(["heaptrack", "-o", str(stem), str(exe), str(iterations), str(sites), str(calls)],
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return capture, records


def bench_one_scaled(out: Path, iterations: int, sites: int, calls: int, fresh: bool):
    capture, records = scaling_capture(out, iterations, sites, calls, fresh)
    ref_wall, ref_cpu, ref_rss, _ = run_measured(["heaptrack_print", "-f", str(capture)], out / "scaled_print.txt")
    env = _child_env(dict(os.environ, PYTHONPATH=str(ROOT)))
    wall, cpu, rss, rc = run_measured([sys.executable, "-c", OURS_BOUNDED, str(capture), str(records),
                                       str(ROOT / "tests")], out / "scaled.ours.txt", env=env)
    printed = int(re.search(r"calls to allocation functions: (\d+)", (out / "scaled_print.txt").read_text()).group(1))
    ours_calls = int((out / "scaled.ours.txt").read_text().split()[0]) if rc == 0 else -1
    return dict(iterations=iterations, sites=sites, calls=printed, tool_s=ref_wall, tool_cpu=ref_cpu,
                tool_mb=ref_rss / 1e6, ours_s=wall, ours_cpu=cpu, ours_mb=rss / 1e6, ok=ours_calls == printed,
                capture=capture)


def bench_scaling(out: Path, quick: bool, fresh: bool) -> bool:
    need("heaptrack")
    need("heaptrack_print")
    out = out / "scale"
    out.mkdir(parents=True, exist_ok=True)
    iters = (1000, 4000) if quick else (1000, 4000, 16000)
    sites = (200, 2000) if quick else (200, 2000, 20000)
    rows = [bench_one_scaled(out, i, s, min(s, 500), fresh) for s in sites for i in iters]
    targets = [] if quick else [bench_one_scaled(out, 4000, 2000, 1800, fresh),
                                bench_one_scaled(out, 10000, 2000, 500, fresh)]
    print(f"\nscaling (heaptrack, load_capture with iteration boundaries vs heaptrack_print):")
    print(f"{'iterations':>10} {'sites':>6} {'calls':>10} {'tool CPU':>8} {'tool MB':>8} {'ours CPU':>8} "
          f"{'ours MB':>8} {'ratio':>6}  same calls   (CPU seconds, user+sys, least of {REPEAT})")
    for r in rows + targets:
        print(f"{r['iterations']:>10} {r['sites']:>6} {r['calls']:>10} {r['tool_cpu']:8.2f} {r['tool_mb']:8.0f} "
              f"{r['ours_cpu']:8.2f} {r['ours_mb']:8.0f} {r['ours_cpu'] / r['tool_cpu']:6.2f}  "
              f"{'yes' if r['ok'] else 'NO'}")
    by = {(r["iterations"], r["sites"]): r for r in rows}
    for s in sites:
        lo, hi = by[(iters[0], s)], by[(iters[-1], s)]
        print(f"peak memory at {iters[-1]} / {iters[0]} iterations, {s} sites: {hi['ours_mb'] / lo['ours_mb']:.2f}x "
              f"(target <= 1.25x)")
    if targets:
        a, b = targets
        print(f"2,000 sites x 4,000 iterations ({a['calls']} calls): {a['ours_cpu'] / a['tool_cpu']:.2f}x heaptrack_print "
              f"CPU, {a['ours_mb']:.0f} MB vs {a['tool_mb']:.0f} MB (target <= 2x); 2,000 sites x 10,000 iterations: "
              f"{b['ours_mb']:.0f} MB peak (target <= 400 MB)")
        SUMMARY.append({"format": "2k x 4k", "capture": a["capture"], "events": a["calls"], "tool_s": a["tool_s"],
                        "tool_cpu": a["tool_cpu"], "tool_rss": a["tool_mb"] * 1e6, "ours_s": a["ours_s"],
                        "ours_cpu": a["ours_cpu"], "ours_rss": a["ours_mb"] * 1e6, "ok": a["ok"]})
    return all(r["ok"] for r in rows + targets)


SUMMARY: list[dict] = []   # the 2k x 4k target row, added to the summary table by bench_scaling


def bench_massif(out: Path, quick: bool, fresh: bool):
    need("valgrind")
    need("ms_print")
    rounds = 20_000 if quick else 120_000
    capture = out / f"massif_{rounds}.out"
    if fresh or not capture.exists():
        src = out / "many_stacks.c"
        src.write_text(MANY_STACKS_C)
        exe = out / "many_stacks"
        subprocess.run([need("gcc"), "-O1", "-g", "-fno-omit-frame-pointer", "-fno-builtin-malloc",
                        "-o", str(exe), str(src)], check=True)
        print(f"making {capture} (massif, {rounds} rounds)...", flush=True)
        subprocess.run(["valgrind", "--tool=massif", "--time-unit=B", "--detailed-freq=1",
                        "--max-snapshots=400", "--threshold=0.2", f"--massif-out-file={capture}",
                        str(exe), str(rounds)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ref = run_measured(["ms_print", str(capture)], out / "ms_print.txt")
    text = (out / "ms_print.txt").read_text()
    snaps = int(re.search(r"Number of snapshots: (\d+)", text).group(1))
    mine = ours(capture, out, "massif")
    ok = mine[3] == 0 and f'"snapshots": {snaps},' in (out / "massif.ours.txt").read_text()
    return row("massif", capture, snaps, ref, mine, ok)


# ============================================================================ memray
# (memray section: our parser vs `memray stats --json` on the same capture)

MEMRAY_ALLOC_PY = """\
import sys
calls = int(sys.argv[1])
keep = []
def work(i):
    s = str(i) * 3
    return (i, s)
for i in range(calls // 3):
    t = work(i)
    if i % 100 == 0:
        keep.append(t)
    if len(keep) > 5000:
        keep = keep[2500:]
"""


def _memray_capture(out: Path, calls: int, fresh: bool) -> Path:
    """A memray capture with ~2 allocation records per call (pymalloc traced), few stacks."""
    capture = out / f"memray_{calls}.bin"
    if fresh or not capture.exists():
        script = out / "memray_alloc.py"
        script.write_text(MEMRAY_ALLOC_PY)
        print(f"making {capture} ({calls} loop calls under memray --trace-python-allocators)...", flush=True)
        subprocess.run([sys.executable, "-m", "memray", "run", "-q", "-f", "--trace-python-allocators",
                        "-o", str(capture), str(script), str(calls)], check=True, stdout=subprocess.DEVNULL)
    return capture


def _memray_reader(capture: Path):
    """(wall, peak RSS) of memprof's memray reading children, each alone (load_capture runs
    the two side by side): summed wall, largest RSS."""
    env = _child_env(dict(os.environ, PYTHONPATH=str(ROOT)))
    runs = [run_measured([sys.executable, "-m", "profiler.parsers.memray_bin", str(capture), "null", part],
                         env=env) for part in ("aggregates", "records")]
    return sum(r[1] for r in runs), max(r[2] for r in runs)


MEMRAY_PASSES = """\
import resource, sys
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
t0 = cpu()
import memray
from memray import _memray
t = {"import memray": cpu() - t0}
def timed(what, fn):
    t1 = cpu(); fn(); t[what] = cpu() - t1
path = sys.argv[1]
reader = memray.FileReader(path)
timed("FileReader's own pass", lambda: memray.FileReader(path).close())
timed("high-water-mark query", lambda: sum(1 for _ in reader.get_high_watermark_allocation_records(merge_threads=True)))
timed("temporal query", lambda: sum(1 for _ in reader.get_temporal_allocation_records(merge_threads=True)))
timed("statistics pass", lambda: _memray.compute_statistics(path))
print("; ".join(f"{k} {v:.2f} s" for k, v in t.items()))
print(sum(t.values()) + t["import memray"])
"""


def _memray_passes(capture: Path) -> tuple[str, float]:
    """CPU of each memray pass load_capture needs (one in-process run), and their sum with
    memray imported twice (two reading children): the floor under memprof's figure."""
    p = subprocess.run([sys.executable, "-c", MEMRAY_PASSES, str(capture)], capture_output=True, text=True,
                       env=_child_env(), check=True)
    lines = p.stdout.strip().splitlines()
    return lines[0], float(lines[1])


def bench_memray(out: Path, quick: bool, fresh: bool):
    """Wall time and peak RSS of load_capture vs `memray stats --json`; totals must be equal.

    load_capture's own figure covers the parent (pandas tables); memray is read in two
    children, measured separately, at two capture sizes to show their memory follows
    the distinct stacks, not the number of events."""
    calls = 100_000 if quick else 1_000_000
    capture = _memray_capture(out, calls, fresh)
    stats_json = out / "memray_stats.json"
    ref = run_measured([sys.executable, "-m", "memray", "stats", "--json", "-f",
                        "-o", str(stats_json), str(capture)], env=_child_env())
    rc = ref[3]
    oracle = json.loads(stats_json.read_text())
    mine = ours(capture, out, "memray")
    rc2 = mine[3]
    ok = False
    if rc == 0 and rc2 == 0:
        first = (out / "memray.ours.txt").read_text().split("\n")[0]
        totals = json.loads(first.rsplit(" ", 1)[0])
        want = (oracle["total_num_allocations"], oracle["total_bytes_allocated"], oracle["metadata"]["peak_memory"])
        got = (totals["total_allocations"], totals["total_bytes_allocated"], totals["peak_memory_bytes"])
        ok = want == got
        if not ok:
            print(f"MISMATCH memray stats {want} vs ours {got}")
    small = _memray_capture(out, calls // 10, fresh)
    r_small = _memray_reader(small)
    r_big = _memray_reader(capture)
    small_json = out / "memray_stats_small.json"
    subprocess.run([sys.executable, "-m", "memray", "stats", "--json", "-f", "-o", str(small_json), str(small)],
                   stdout=subprocess.DEVNULL, check=True)
    n_small = json.loads(small_json.read_text())["total_num_allocations"]
    print(f"memray reading children (run one after the other): {r_small[0]:.2f} s CPU, "
          f"{r_small[1] / 1e6:.0f} MB at {n_small} allocations; "
          f"{r_big[0]:.2f} s CPU, {r_big[1] / 1e6:.0f} MB at {oracle['total_num_allocations']} allocations")
    each, floor = _memray_passes(capture)
    print(f"memray's own passes that load_capture makes (CPU, in one process): {each}; with memray imported "
          f"in both children {floor:.2f} s, {floor / ref[1]:.2f}x memray stats before any work of memprof's own")
    return row("memray", capture, oracle["total_num_allocations"], ref,
               (mine[0], mine[1], max(mine[2], r_big[1]), mine[3]), ok)


TARGETS = {"heaptrack": None, "analyze": 1.0, "2k x 4k": 2.0, "memray": 1.5, "massif": 1.0}


def main() -> int:
    global REPEAT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="remake the captures")
    ap.add_argument("--only", choices=["heaptrack", "massif", "memray", "scaling"])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench")
    ap.add_argument("--repeat", type=int, default=None, help=f"runs per measured command (default {REPEAT}, "
                                                              "--quick 1)")
    args = ap.parse_args()
    REPEAT = args.repeat or (1 if args.quick else REPEAT)
    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    load0 = os.getloadavg()
    warm_up()
    rows = []
    if args.only in (None, "heaptrack"):
        rows.append(bench_heaptrack(args.out, args.quick, args.fresh))
        rows.append(bench_analyze(args.out, rows[-1]["capture"]))
        # heaptrack_print on the same file was measured twice: the least disturbed run serves both
        for key in ("tool_cpu", "tool_s"):
            rows[-1][key] = rows[-2][key] = min(rows[-1][key], rows[-2][key])
    if args.only in (None, "massif"):
        rows.append(bench_massif(args.out, args.quick, args.fresh))
    if args.only in (None, "memray"):
        rows.append(bench_memray(args.out, args.quick, args.fresh))
    ok = all(r["ok"] for r in rows)
    if args.only in (None, "scaling"):
        ok = bench_scaling(args.out, args.quick, args.fresh) and ok
    rows += SUMMARY
    print(f"\nmemprof against the tools' own readers: CPU seconds (user+sys, the least of {REPEAT} runs), "
          "peak RSS, ratio of CPU times (wall ratio beside it)")
    print(f"{'what':10} {'capture':>9} {'events':>10} {'tool CPU':>8} {'tool MB':>8} {'ours CPU':>8} {'ours MB':>8} "
          f"{'ratio':>6} {'wall':>6} {'target':>7}  same totals")
    for r in rows:
        size = r["capture"].stat().st_size / 1e6
        target = TARGETS.get(r["format"])
        ratio = r["ours_cpu"] / r["tool_cpu"]
        verdict = "" if target is None else f"<= {target:.1f} {'met' if ratio <= target else 'NOT met'}"
        print(f"{r['format']:10} {size:8.1f}M {r['events']:>10} {r['tool_cpu']:8.2f} {r['tool_rss'] / 1e6:8.0f} "
              f"{r['ours_cpu']:8.2f} {r['ours_rss'] / 1e6:8.0f} {ratio:6.2f} {r['ours_s'] / r['tool_s']:6.2f} "
              f"{verdict:>7}  {'yes' if r['ok'] else 'NO'}")
    print("(heaptrack: load_capture in a fresh interpreter vs heaptrack_print -f; analyze: the whole "
          "`memprof analyze --json` command, start-up included; 2k x 4k: 2,000 sites x 4,000 iterations with "
          "iteration boundaries; memray: load_capture vs `memray stats --json`, ours MB the largest of "
          "load_capture and its two reading children; massif: load_capture vs ms_print; events: allocation "
          "calls, massif snapshots)")
    load1 = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load0[0]:.1f} at the start, {load1[0]:.1f} at the end")
    print("\nCPU time (user+sys) of every measured process, and its wall time:")
    for what, wall, cpu in CPU_LOG:
        print(f"  {cpu:7.2f} s CPU {wall:7.2f} s wall  {what[:110]}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
