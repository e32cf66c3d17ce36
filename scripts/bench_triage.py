"""Triage's own cost on one capture: naming (rename), merging (merge) and the whole
triage_capture, each with freshly loaded rules (so every frame is classified anew, as in one
`memprof analyze`), the least CPU time of N runs, the capture parsed once beforehand.
Run it with two checkouts first on PYTHONPATH to compare them:

    PYTHONPATH=CHECKOUT python scripts/bench_triage.py CAPTURE [--runs N]
"""
from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    from profiler.parsers import load_capture
    from profiler.triage import load_rules, naming, triage_capture

    cap = load_capture(args.capture)
    best = {"load_rules": 9e9, "rename": 9e9, "merge": 9e9, "triage_capture": 9e9}
    for _ in range(args.runs):
        t0 = time.process_time()
        rules = load_rules()
        t1 = time.process_time()
        sites = naming.rename(cap.sites, rules)
        t2 = time.process_time()
        naming.merge(sites, cap.timeline)
        t3 = time.process_time()
        triage_capture(cap, load_rules())
        t4 = time.process_time()
        for key, dt in zip(best, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            best[key] = min(best[key], dt)
    stacks = len(cap.sites)
    rows = 0 if cap.timeline is None else len(cap.timeline)
    print(f"{args.capture}: {stacks} stacks, {rows} timeline rows; CPU seconds, least of {args.runs}:")
    print("  " + "  ".join(f"{k} {v:.3f}" for k, v in best.items()))


if __name__ == "__main__":
    main()
