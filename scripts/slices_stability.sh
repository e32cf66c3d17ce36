#!/bin/bash
# Stability of no-records verdicts (README "Verdicts", without iteration records): three captures of
# tests/workloads/lazy_imports.py 60 under `memprof heaptrack`, without and with --leak, each
# analysed by the profiler package under CODE_ROOT (default: this checkout). Prints one line per run:
# verdict, number of leaking sites, the first evidence line.
#   scripts/slices_stability.sh [OUT_DIR] [CODE_ROOT]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-/tmp/slices_stability}
root=${2:-$here}
py=${PYTHON:-$here/../../main/.venv/bin/python}
[ -x "$py" ] || py=/work/main/.venv/bin/python
mkdir -p "$out"
for mode in plain leak; do
  for k in 1 2 3; do
    extra=""; [ "$mode" = leak ] && extra="--leak"
    if [ ! -d "$out/$mode-$k" ]; then
      (cd "$here" && PYTHONPATH="$here" "$py" -m profiler heaptrack --out "$out/$mode-$k" -- \
        /usr/bin/python3 tests/workloads/lazy_imports.py 60 $extra > "$out/$mode-$k.log" 2>&1) || true
    fi
    rm -rf "$out/scratch"; cp -r "$out/$mode-$k" "$out/scratch"
    # cwd outside any checkout: `python -m` would put the current directory first on sys.path
    (cd / && PYTHONPATH="$root" "$py" -m profiler analyze "$out/scratch" --json > "$out/$mode-$k.json") || true
    "$py" - "$out/$mode-$k.json" "$mode-$k" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
leaks = [s for s in r.get("sites", []) if s.get("verdict") == "leak"]
print(sys.argv[2], r["verdict"], f"{len(leaks)} leaking", (r.get("triage", {}).get("evidence") or [""])[0][:160])
PY
  done
done
