#!/usr/bin/env bash
# The third-party corpus (tests/corpus/cases.json), regenerated.
#
#   scripts/make_corpus.sh venvs      one venv per pinned package set of the committed cases under
#                                     $MEMPROF_CORPUS_VENV (`venvs --heavy`: every case's)
#   scripts/make_corpus.sh            venvs, then every committed case under heaptrack, with and
#                                     without iteration records, into tests/data/corpus/<case>-<mode>/
#   scripts/make_corpus.sh --heavy    also the cases too large to commit, into $CORPUS_RUNS (not committed)
#
# Each committed case directory holds what `memprof analyze` needs (capture/heaptrack.run.zst,
# iterations.jsonl, meta.json) and heaptrack_print.txt, heaptrack_print's totals for that capture
# (the oracle the parser must equal). The capture is heaptrack's own stream, recompressed with
# zstd -19 (its content is unchanged). Python's own start-up under PYTHONMALLOC=malloc is ~20,000
# allocations, so even these small programs leave 264-524 KB captures: over the ~200 KB bound.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
VENVS="${MEMPROF_CORPUS_VENV:-$HOME/.cache/memprof/corpus-venv}"
PYTHON="${CORPUS_PYTHON:-python3.11}"
MEMPROF="${MEMPROF:-memprof}"
OUT="$HERE/tests/data/corpus"
RUNS="${CORPUS_RUNS:-$(mktemp -d)}"
CASES="$HERE/tests/corpus/cases.json"

cases() {  # name env driver committed requirements...   one line per case
    "$PYTHON" - "$CASES" "$1" <<'PY'
import json, sys
want = sys.argv[2]
for c in json.load(open(sys.argv[1]))["cases"]:
    if want == "all" or (want == "committed") == c["committed"]:
        print(c["name"], c["env"], c["driver"], int(c["committed"]), *c["requirements"])
PY
}

make_venvs() {  # committed|all
    mkdir -p "$VENVS"
    cases "$1" | while read -r name env driver committed reqs; do
        if [ ! -x "$VENVS/$env/bin/python" ]; then
            "$PYTHON" -m venv "$VENVS/$env"
        fi
        # shellcheck disable=SC2086
        "$VENVS/$env/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: $reqs
    done
}

run_case() {  # name env driver mode dest
    local name=$1 env=$2 driver=$3 mode=$4 dest=$5
    local run="$RUNS/$name-$mode"
    command -v zstd >/dev/null 2>&1 || { echo "make_corpus.sh: zstd not found (apt-get install zstd)" >&2; exit 4; }
    rm -rf "$run"
    # shellcheck disable=SC2086  # MEMPROF may be a command with arguments
    $MEMPROF heaptrack --out "$run" -- "$VENVS/$env/bin/python" \
        "$HERE/tests/corpus/$driver/driver.py" "--$mode" > "$RUNS/$name-$mode.summary.txt" 2>&1 || true
    echo "== $name ($mode): $(grep -m1 VERDICT "$RUNS/$name-$mode.summary.txt" || echo 'no verdict')"
    if [ -n "$dest" ]; then
        rm -rf "$dest"
        mkdir -p "$dest/capture"
        zstd -q -d -c "$run"/capture/heaptrack.run.zst | zstd -q -19 -c > "$dest/capture/heaptrack.run.zst"
        cp "$run/meta.json" "$dest/"
        if [ -f "$run/iterations.jsonl" ]; then cp "$run/iterations.jsonl" "$dest/"; fi   # a run without records leaves none
        heaptrack_print --print-peaks=0 --print-allocators=0 --print-temporary=0 --print-leaks=0 -f "$dest/capture/heaptrack.run.zst" 2>/dev/null \
            | grep -E '^(calls to allocation functions|temporary memory allocations|peak heap memory consumption|peak RSS|total memory leaked|suppressed leaks)' \
            > "$dest/heaptrack_print.txt" || true
    fi
}

if [ "${1:-}" = "venvs" ]; then
    make_venvs "$([ "${2:-}" = "--heavy" ] && echo all || echo committed)"
    exit 0
fi
make_venvs "$([ "${1:-}" = "--heavy" ] && echo all || echo committed)"
mkdir -p "$OUT"
cases committed | while read -r name env driver committed reqs; do
    for mode in records no-records; do
        run_case "$name" "$env" "$driver" "$mode" "$OUT/$name-$mode"
    done
done
if [ "${1:-}" = "--heavy" ]; then
    cases heavy | while read -r name env driver committed reqs; do
        for mode in records no-records; do
            run_case "$name" "$env" "$driver" "$mode" ""
        done
    done
fi
echo "runs (summaries, full run directories) in $RUNS"
