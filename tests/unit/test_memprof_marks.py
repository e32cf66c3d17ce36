"""memprof_marks, the stdlib-only Python module for iteration records: the same protocol as the
loop child and the C header, run in a plain interpreter that has no memprof on its path."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from profiler.parsers._stacks import marker_size
from profiler.workload import pythonpath

ROOT = Path(__file__).resolve().parents[2]
HEADER = ROOT / "tests" / "workloads" / "memprof_marks.h"

PROGRAM = """
import sys
import memprof_marks
for i in range(3):
    with memprof_marks.iteration("m"):
        pass
memprof_marks.end_iteration()
memprof_marks.collection_probe()
assert "profiler" not in sys.modules
"""


def test_protocol_constants_are_memprofs():
    sys.path.insert(0, pythonpath.DIR)
    try:
        import memprof_marks
    finally:
        sys.path.remove(pythonpath.DIR)
    for i in (0, 1, 12, 2047, 2048, 5000):
        assert memprof_marks.marker_size(i) == marker_size(i)
    c = HEADER.read_text()
    assert re.search(r"malloc\(%d \+ 8 \* \(i %% %d\)\)" % (memprof_marks.MARKER_BASE, memprof_marks.MARKER_SPAN), c)
    assert f'getenv("{memprof_marks.ITERATIONS_ENV}")' in c and f'getenv("{memprof_marks.MARKERS_ENV}")' in c


def test_records_and_probe_in_a_bare_interpreter(tmp_path):
    out = tmp_path / "iterations.jsonl"
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": pythonpath.DIR, "MEMPROF_ITERATIONS": str(out)}
    p = subprocess.run([sys.executable, "-S", "-c", PROGRAM], env=env, capture_output=True,
                       text=True, cwd=tmp_path, timeout=60)
    assert p.returncode == 0, p.stderr
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    its = [r for r in recs if "iteration" in r]
    assert [r["iteration"] for r in its] == [1, 2, 3, 4]
    assert [r.get("model") for r in its] == ["m", "m", "m", None]
    for r in its:
        assert set(r) >= {"t_start", "t_end", "wall_start", "wall_end"} and r["t_start"] <= r["t_end"]
    assert its[3]["t_start"] == its[2]["t_end"]          # a bare call starts where the last one ended
    probes = [r for r in recs if "probe" in r]
    assert [p["probe"] for p in probes] == ["gc_collect", "malloc_trim"]
    assert all(p["after_iteration"] == 4 and p["heap_in_use_bytes"] > 0 and p["rss_bytes"] > 0 for p in probes)
    assert "iteration" not in probes[0] and "t_end" not in probes[0]   # not read as iteration records


def test_nothing_written_without_the_variable(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": pythonpath.DIR}
    p = subprocess.run([sys.executable, "-S", "-c", PROGRAM], env=env, capture_output=True, text=True,
                       cwd=tmp_path, timeout=60)
    assert p.returncode == 0, p.stderr
    assert list(tmp_path.iterdir()) == []
