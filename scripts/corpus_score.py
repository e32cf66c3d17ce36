"""`make bench`: the corpus score. Every committed case of tests/corpus/cases.json (captures in
tests/data/corpus/<case>-<mode>/) is analysed with `memprof analyze --json` on a scratch copy,
and its run verdict compared with the answer from the case's issue tracker: right when a leaking
release is called leak and anything else is not. Prints one row per run, then right/total per
class and per mode. Exit status 0 whatever the score (it is a measurement, the tests assert it).
"""
from __future__ import annotations

import collections
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "corpus" / "cases.json"
DATA = ROOT / "tests" / "data" / "corpus"
MODES = ("records", "no-records")


def verdict_of(run_dir: Path) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / run_dir.name
        shutil.copytree(run_dir, copy)
        done = subprocess.run([sys.executable, "-m", "profiler", "analyze", str(copy), "--json"],
                              capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return "error: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    return json.loads(done.stdout)["verdict"]


def main() -> int:
    cases = [c for c in json.loads(CASES.read_text())["cases"] if c["committed"]]
    by_class, by_mode = collections.defaultdict(lambda: [0, 0]), collections.defaultdict(lambda: [0, 0])
    print(f"{'case':<20} {'mode':<11} {'class':<12} {'truth':<9} {'memprof':<13} right")
    right = total = 0
    for case in cases:
        for mode in MODES:
            run_dir = DATA / f"{case['name']}-{mode}"
            if not run_dir.is_dir():
                print(f"{case['name']:<20} {mode:<11} (missing: run scripts/make_corpus.sh)")
                continue
            verdict = verdict_of(run_dir)
            ok = (verdict == "leak") == (case["truth"] == "leak") and not verdict.startswith("error")
            print(f"{case['name']:<20} {mode:<11} {case['class']:<12} {case['truth']:<9} {verdict:<13} {'yes' if ok else 'NO'}",
                  flush=True)
            for table, key in ((by_class, case["class"]), (by_mode, mode)):
                table[key][0] += ok
                table[key][1] += 1
            right, total = right + ok, total + 1
    print(f"\ncorpus score: {right}/{total} right")
    print("  per class: " + ", ".join(f"{k} {r}/{t}" for k, (r, t) in by_class.items()))
    print("  per mode:  " + ", ".join(f"{k} {r}/{t}" for k, (r, t) in by_mode.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
