#!/usr/bin/env bash
# Our own fixtures for the defect classes first shown by captures made by others (those captures
# are kept outside the repository: tests/data/external/SOURCES.md). Real tools, our programs:
#   tests/data/massif/fall.massif.out (+ .ms_print.txt)   the heap falls after massif's last detailed
#       snapshot (tests/workloads/fall_after_tree.c; --detailed-freq=1000 details only the peak)
#   tests/data/memcheck/errors_default_v{2,3}_derived.xml  protocols 2 and 3 derived from a real
#       3.19 capture (scripts/derive_memcheck_v2_v3.py)
#   tests/data/heaptrack/planted.gz.heaptrack_print.txt   heaptrack_print's own output on the gzip capture
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/tests/data"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
tmp="$(mktemp -d)"
gcc -O0 -g -fno-omit-frame-pointer -o "$tmp/fall_after_tree" "$ROOT/tests/workloads/fall_after_tree.c"
(cd "$tmp" && valgrind --tool=massif --detailed-freq=1000 --massif-out-file=fall.massif.out ./fall_after_tree)
cp "$tmp/fall.massif.out" "$DATA/massif/"
ms_print "$DATA/massif/fall.massif.out" > "$DATA/massif/fall.massif.out.ms_print.txt"
"$PY" "$ROOT/scripts/derive_memcheck_v2_v3.py"
heaptrack_print -n 5 "$DATA/heaptrack/planted.gz" > "$DATA/heaptrack/planted.gz.heaptrack_print.txt"
rm -rf "$tmp"
