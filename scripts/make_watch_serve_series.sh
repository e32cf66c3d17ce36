#!/usr/bin/env bash
# Real `memprof watch` and `memprof serve` series for the tests of their wording and typed round trip
# (tests/unit/test_results_series.py, tests/unit/test_report.py):
#   tests/data/series/watch_growing_60.jsonl: a Python process allocating 1 MiB every 0.25 s,
#     watched every 0.25 s for 15 s;
#   tests/data/series/serve_20/: `memprof serve --quick --requests 20 --max-tokens 3` (the tiny
#     twins behind llama_cpp.server), its iterations.jsonl and meta.json.
#   scripts/make_watch_serve_series.sh [watch] [serve]
set -euo pipefail
cd "$(dirname "$0")/.."
MEMPROF="${MEMPROF:-memprof}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
what=("$@")
[ ${#what[@]} -gt 0 ] || what=(watch serve)
for w in "${what[@]}"; do
    case "$w" in
        watch)
            python3 -c 'import time
keep = []
while True:
    keep.append(bytearray(1 << 20))
    time.sleep(0.25)' &
            pid=$!
            sleep 0.5
            "$MEMPROF" watch "$pid" --interval 0.25 --duration 15 -o "$out/watch" >/dev/null || true
            kill "$pid" 2>/dev/null || true
            cp "$out/watch/iterations.jsonl" tests/data/series/watch_growing_60.jsonl ;;
        serve)
            "$MEMPROF" serve --quick --requests 20 --max-tokens 3 --out "$out/serve" >/dev/null
            mkdir -p tests/data/series/serve_20
            cp "$out/serve/iterations.jsonl" "$out/serve/meta.json" tests/data/series/serve_20/ ;;
        *) echo "unknown series $w" >&2; exit 2 ;;
    esac
done
