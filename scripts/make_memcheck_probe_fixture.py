"""Write tests/data/memcheck_monitor/leak_steps_probe.timeline.txt: memcheck's leak checks at each
step of tests/workloads/leak_steps.c (memprof's own MemcheckHooks.at_boundary), then the full check
MemcheckHooks.at_probe takes after a collection probe (a C program frees nothing there: the state
after the probe equals the last step's). Run from the repository root:

    PYTHONPATH=. python scripts/make_memcheck_probe_fixture.py
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from profiler.backends.vgdb import MemcheckHooks  # noqa: E402

OUT = ROOT / "tests" / "data" / "memcheck_monitor"
STEPS = 6


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="memprof-mcprobe-"))
    exe = tmp / "leak_steps"
    subprocess.run(["gcc", "-g", "-O0", "-o", str(exe), str(ROOT / "tests" / "workloads" / "leak_steps.c")],
                   check=True)
    (tmp / "capture").mkdir()
    proc = subprocess.Popen(["valgrind", "--tool=memcheck", "--vgdb=yes", "--leak-check=full",
                             f"--log-file={tmp / 'capture' / 'valgrind.log'}", str(exe), str(STEPS)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    hooks = MemcheckHooks(tmp, timeline=True)
    for i in range(1, STEPS + 1):
        line = proc.stdout.readline()
        assert line.strip() == f"step {i}", line
        hooks.at_boundary(proc.pid, {"iteration": i, "t_end": float(i), "wall_end": None})
        if i == STEPS:
            hooks.at_probe(proc.pid, {"probe": "gc_collect", "after_iteration": STEPS, "t_probe": STEPS + 0.5})
        proc.stdin.write("\n")
        proc.stdin.flush()
    proc.wait()
    text = (tmp / "capture" / f"memcheck.{proc.pid}.timeline.txt").read_text()
    out = OUT / "leak_steps_probe.timeline.txt"
    out.write_text(text.replace(f"=={proc.pid}==", "==4242=="))
    print(f"wrote {out} ({len(text)} bytes)")
    shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
