#!/usr/bin/env bash
# Real `memprof watch` and `memprof serve` series for the tests of their wording and typed round trip
# (tests/unit/test_results_series.py, tests/unit/test_report.py):
#   tests/data/series/watch_growing_60.jsonl: a Python process allocating 1 MiB every 0.25 s,
#     watched every 0.25 s for 15 s;
#   tests/data/series/serve_20/: `memprof serve --quick --requests 20 --max-tokens 3` (the tiny
#     twins behind llama_cpp.server), its iterations.jsonl and meta.json.
#   tests/data/series/serve_150/: `memprof serve --quick --requests 150 --max-tokens 3`, as written;
#   tests/data/series/serve_600/: `memprof serve --quick --requests 600 --max-tokens 3`, its records
#     cut to the fields the series analysis reads (iteration, model, strategy, rss, rss_anon,
#     rss_file, rss_peak, status: 100 kB instead of 480 kB) and meta.json;
#   tests/data/series/serve_1500/: the same with 1500 requests, cut to iteration, model, strategy,
#     rss, rss_peak, status (164 kB) (both: tests/unit/test_analysis_served.py).
#   scripts/make_watch_serve_series.sh [watch] [serve] [serve150] [serve600] [serve1500]
set -euo pipefail
cd "$(dirname "$0")/.."
MEMPROF="${MEMPROF:-memprof}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# a long served run, its records cut to the fields named (comma-separated) to keep the fixture small
served_cut() {
    "$MEMPROF" serve --quick --requests "$1" --max-tokens 3 --out "$out/serve$1" >/dev/null || true
    mkdir -p "tests/data/series/serve_$1"
    cp "$out/serve$1/meta.json" "tests/data/series/serve_$1/"
    KEEP="$2" python3 -c 'import json, os, sys
keep = os.environ["KEEP"].split(",")
for line in sys.stdin:
    rec = json.loads(line)
    print(json.dumps({k: rec[k] for k in keep if k in rec}, separators=(",", ":")))' \
        < "$out/serve$1/iterations.jsonl" > "tests/data/series/serve_$1/iterations.jsonl"
}
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
        serve150)
            "$MEMPROF" serve --quick --requests 150 --max-tokens 3 --out "$out/serve150" >/dev/null || true
            mkdir -p tests/data/series/serve_150
            cp "$out/serve150/iterations.jsonl" "$out/serve150/meta.json" tests/data/series/serve_150/ ;;
        serve600) served_cut 600 iteration,model,strategy,rss,rss_anon,rss_file,rss_peak,status ;;
        serve1500) served_cut 1500 iteration,model,strategy,rss,rss_peak,status ;;
        *) echo "unknown series $w" >&2; exit 2 ;;
    esac
done
