"""The loop child's in-band iteration marker, recorded by the real heaptrack.

The unit tests parse committed captures of C workloads that write the marker; this checks
that the Python side (ctypes malloc/free from profiler.workload.child) reaches the tool,
heaptrack's `+` survives the Python calls that come between the marker's malloc and free,
and the parser cuts there and leaves the marker's site out.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from profiler.parsers import load_capture
from testkit import needs

pytestmark = pytest.mark.integration

SCRIPT = """
import ctypes, json, os, sys
from profiler import clock
from profiler.workload.child import IterationMarker
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
marker = IterationMarker()
keep = []
with open(sys.argv[1], "a") as f:
    for i in (1, 2, 3):
        keep.append(libc.malloc(100000 + i))          # one live block per iteration
        scratch = libc.malloc(200000); libc.free(scratch)
        t = clock.since_start()
        f.write(json.dumps({"iteration": i, "t_start": t, "t_end": t, "wall_start": 0, "wall_end": 0}) + "\\n")
        f.flush()
        marker.mark(i)
"""


@needs("heaptrack")
def test_python_marker_reaches_heaptrack_and_cuts_the_timeline(tmp_path):
    its = tmp_path / "iterations.jsonl"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    env.pop("MEMPROF_MARKERS", None)
    script = tmp_path / "marks.py"      # not `-c`: heaptrack writes the command line unescaped
    script.write_text(SCRIPT)
    subprocess.run(["heaptrack", "-o", str(tmp_path / "cap"), sys.executable, str(script), str(its)],
                   check=True, env=env, capture_output=True, timeout=120)
    recs = [json.loads(x) for x in its.read_text().splitlines()]
    cap = load_capture(tmp_path / "cap.zst", boundaries=[(r["iteration"], r["t_end"], 0.0) for r in recs])
    assert cap.meta["markers"]["boundaries_at_markers"] == 3
    assert cap.meta["markers"]["calls"] == 3
    # every ctypes malloc shares one native stack (the marker's too): the site of the kept blocks
    kept = cap.sites[cap.sites["live_bytes_end"] == 100001 + 100002 + 100003]
    assert len(kept) == 1
    assert kept["alloc_count"].iloc[0] == 6          # 3 kept + 3 scratch; the 3 markers are not its calls
    tl = cap.timeline
    series = tl[tl["site_id"] == kept["site_id"].iloc[0]].sort_values("slice")["live_bytes"].tolist()
    # exactly the blocks kept so far: the scratch freed before each record and the marker not counted
    assert series == [100001, 100001 + 100002, 100001 + 100002 + 100003]
    assert cap.meta["timeline_unit"] == "iteration"
