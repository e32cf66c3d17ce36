#!/usr/bin/env bash
# A real `memprof watch` series (tests/data/series/watch_growing_60.jsonl): a Python process that
# allocates 1 MiB every 0.25 s, watched every 0.25 s for 15 s. The series' per-hour wording and its
# typed round trip are tested on it (tests/unit/test_results_series.py).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
python3 -c 'import time
keep = []
while True:
    keep.append(bytearray(1 << 20))
    time.sleep(0.25)' &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$out"' EXIT
sleep 0.5
memprof watch "$pid" --interval 0.25 --duration 15 -o "$out/run" >/dev/null || true
cp "$out/run/iterations.jsonl" tests/data/series/watch_growing_60.jsonl
