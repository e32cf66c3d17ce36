"""Write the memcheck leak-timeline fixtures under tests/data/memcheck_monitor/: memcheck's leak
checks taken through vgdb (by memprof's own MemcheckHooks) at each step of
tests/workloads/leak_steps.c, then

- by default: the final check a hard stop takes (leak_steps.timeline.txt, leak_steps.leaks.txt);
- with --probe: the full check MemcheckHooks.at_probe takes after a collection probe
  (leak_steps_probe.timeline.txt; a C program frees nothing there, so the state after the
  probe equals the last step's).

Run from the repository root:

    PYTHONPATH=. python scripts/make_memcheck_timeline_fixture.py [--probe]
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


def main(argv: list[str]) -> int:
    probe = "--probe" in argv
    tmp = Path(tempfile.mkdtemp(prefix="memprof-mcmon-"))
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
            if probe:
                hooks.at_probe(proc.pid, {"probe": "gc_collect", "after_iteration": STEPS, "t_probe": STEPS + 0.5})
            else:
                hooks.save(proc.pid)
        proc.stdin.write("\n")
        proc.stdin.flush()
    proc.wait()
    OUT.mkdir(parents=True, exist_ok=True)
    outputs = ((f"memcheck.{proc.pid}.timeline.txt", "leak_steps_probe.timeline.txt"),) if probe else (
        (f"memcheck.{proc.pid}.timeline.txt", "leak_steps.timeline.txt"),
        (f"memcheck.{proc.pid}.leaks.txt", "leak_steps.leaks.txt"))
    for src, name in outputs:
        text = (tmp / "capture" / src).read_text()
        (OUT / name).write_text(text.replace(f"=={proc.pid}==", "==4242=="))
        print(f"wrote {OUT / name} ({len(text)} bytes)")
    shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
