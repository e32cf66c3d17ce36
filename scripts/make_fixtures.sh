#!/usr/bin/env bash
# Regenerate the real captures under tests/data/ by running the real tools.
# Usage: scripts/make_fixtures.sh [format ...]   (no argument: every section)
# Each section defines <format>_fixtures and runs it when `want <format>` says so,
# so sections can be appended independently.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/tests/data"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
WANTED=("$@")
want() {
    [ ${#WANTED[@]} -eq 0 ] && return 0
    local w
    for w in "${WANTED[@]}"; do [ "$w" = "$1" ] && return 0; done
    return 1
}

# --- memcheck (Valgrind 3.19 XML, protocol 4) --------------------------------
# Valgrind 3.19 prints no LEAK SUMMARY in the text log when --xml=yes is on, so
# each fixture is run twice with identical arguments: once writing XML, once
# writing the text log whose LEAK SUMMARY / ERROR SUMMARY are the oracle.
# The programs are deterministic, so both runs find the same loss records.
# Built with -O0: at -O1 gcc deletes init_once's malloc (its pointer goes to a
# static that is never read), and the fixture must show every planted site.
memcheck_fixtures() {
    local out="$DATA/memcheck" tmp
    tmp="$(mktemp -d)"
    mkdir -p "$out"
    gcc -O0 -g -fno-omit-frame-pointer -o "$tmp/planted" "$ROOT/tests/workloads/planted.c"
    gcc -O0 -g -fno-omit-frame-pointer -o "$tmp/errors" "$out/errors.c"
    local common=(--tool=memcheck --leak-check=full --track-origins=no)
    (
        cd "$tmp"
        # planted, 5 iterations, every leak kind shown
        valgrind "${common[@]}" --show-leak-kinds=all --xml=yes --xml-file=planted_all.xml ./planted 5
        valgrind "${common[@]}" --show-leak-kinds=all --log-file=planted_all.log ./planted 5
        # planted, default --show-leak-kinds (definite,possible): reachable records hidden
        valgrind "${common[@]}" --xml=yes --xml-file=planted_default.xml ./planted 5
        valgrind "${common[@]}" --log-file=planted_default.log ./planted 5
        # every error and leak kind, suppressions generated and one leak suppressed
        valgrind "${common[@]}" --show-leak-kinds=all --gen-suppressions=all \
            --suppressions="$out/errors.supp" --xml=yes --xml-file=errors.xml ./errors
        valgrind "${common[@]}" --show-leak-kinds=all \
            --suppressions="$out/errors.supp" --log-file=errors.log ./errors
    )
    cp "$tmp"/planted_all.xml "$tmp"/planted_all.log "$tmp"/planted_default.xml \
       "$tmp"/planted_default.log "$tmp"/errors.xml "$tmp"/errors.log "$out/"
    # errors_v6.xml is hand-derived (see tests/data/memcheck/README.md): not regenerated here.
    rm -rf "$tmp"
}
if want memcheck; then memcheck_fixtures; fi

# --- valgrind logs (the preflight's "unhandled instruction" detection) ----------
# avx512_memcheck.log: Valgrind 3.19 memcheck, run as memprof runs it (XML plus a text
# log), on a program with one AVX-512 instruction: the decoder's message and SIGILL.
# clean_massif.log: the same kind of log from a run that went fine (planted, 2 iterations).
valgrind_fixtures() {
    local out="$DATA/valgrind" tmp
    tmp="$(mktemp -d)"
    mkdir -p "$out"
    gcc -O0 -o "$tmp/avx512" "$out/avx512.c"
    gcc -O0 -g -o "$tmp/planted" "$ROOT/tests/workloads/planted.c"
    (
        cd "$tmp"
        valgrind --tool=memcheck --leak-check=full --xml=yes --xml-file=avx512.xml \
            --log-file=avx512_memcheck.log ./avx512 || true   # exits 132 (SIGILL) by design
        valgrind --tool=massif --massif-out-file=massif.out --log-file=clean_massif.log ./planted 2
    )
    cp "$tmp/avx512_memcheck.log" "$tmp/clean_massif.log" "$out/"
    rm -rf "$tmp"
}
if want valgrind; then valgrind_fixtures; fi
