#!/bin/sh
# Regenerates tests/data/heaptrack/many.zst + many.iterations.jsonl: 700 iterations of
# tests/workloads/sites_gen.c (4 sites, 2 calls per iteration) under heaptrack, more boundaries
# than the timeline engine keeps (profiler/parsers/timeline.py KEEP_BOUNDARIES).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
gcc -O1 -g -fno-omit-frame-pointer -o "$tmp/sites_gen" "$here/tests/workloads/sites_gen.c"
cd "$tmp"
MEMPROF_ITERATIONS="$tmp/many.iterations.jsonl" heaptrack -o "$tmp/many" ./sites_gen 700 4 2 >/dev/null
cp "$tmp/many.zst" "$tmp/many.iterations.jsonl" "$here/tests/data/heaptrack/"
heaptrack_print -f "$tmp/many.zst" > "$here/tests/data/heaptrack/many.print.txt"
rm -rf "$tmp"
