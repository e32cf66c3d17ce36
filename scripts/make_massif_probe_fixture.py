"""Write tests/data/massif/probe.massif.out and probe.massif.out.probe: massif on
tests/workloads/cycle_garbage.py (a ctypes leak beside cycle-held bytearrays), with the state
after the collection probe taken by memprof's own MassifHooks.at_probe (vgdb
`detailed_snapshot`) while the program waits in memprof_marks.collection_probe(). Few,
coarse snapshots (--threshold=5, --detailed-freq=4) keep the files small. Run from the
repository root:

    PYTHONPATH=. python scripts/make_massif_probe_fixture.py
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profiler import rundir  # noqa: E402
from profiler.backends.vgdb import MassifHooks, probe_env  # noqa: E402
from profiler.workload import pythonpath  # noqa: E402

OUT = ROOT / "tests" / "data" / "massif"


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="memprof-mprobe-"))
    cap = tmp / rundir.CAPTURE_DIR
    cap.mkdir()
    records = tmp / rundir.ITERATIONS
    env = {**os.environ, "PYTHONMALLOC": "malloc", "MEMPROF_ITERATIONS": str(records), **probe_env(tmp),
           "PYTHONPATH": pythonpath.DIR, "LEAK_KIB": "256", "GARBAGE_KIB": "512"}
    proc = subprocess.Popen(["valgrind", "--tool=massif", "--vgdb=yes", "--time-unit=ms", "--detailed-freq=4",
                             "--max-snapshots=24", "--threshold=5", f"--massif-out-file={cap}/massif.out.%p",
                             f"--log-file={cap}/massif.log", sys.executable,
                             str(ROOT / "tests" / "workloads" / "cycle_garbage.py"), "4"], env=env)
    hooks = MassifHooks(tmp)
    tail = rundir.RecordTail(records, probes=True)
    while proc.poll() is None:
        for rec in tail.new():
            if rundir.is_probe(rec):
                hooks.at_probe(proc.pid, rec)
        time.sleep(0.1)
    name = f"massif.out.{proc.pid}"
    shutil.copy(cap / name, OUT / "probe.massif.out")
    shutil.copy(cap / (name + rundir.PROBE_STATE_SUFFIX), OUT / ("probe.massif.out" + rundir.PROBE_STATE_SUFFIX))
    shutil.copy(records, OUT / "probe.massif.iterations.jsonl")
    for p in sorted(OUT.glob("probe.massif.*")):
        print(f"wrote {p} ({p.stat().st_size} bytes)")
    shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
