"""Write tests/data/memcheck_monitor/leak_steps.timeline.txt: memcheck's leak checks taken
through vgdb (by memprof's own MemcheckHooks) at each step of tests/workloads/leak_steps.c,
then the final check a hard stop takes. Run from the repository root:

    PYTHONPATH=. python scripts/make_memcheck_timeline_fixture.py
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


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="memprof-mcmon-"))
    exe = tmp / "leak_steps"
    subprocess.run(["gcc", "-g", "-O0", "-o", str(exe), str(ROOT / "tests" / "workloads" / "leak_steps.c")],
                   check=True)
    (tmp / "capture").mkdir()
    proc = subprocess.Popen(["valgrind", "--tool=memcheck", "--vgdb=yes", "--leak-check=full",
                             f"--log-file={tmp / 'capture' / 'valgrind.log'}", str(exe), "6"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    hooks = MemcheckHooks(tmp, timeline=True)
    for i in range(1, 7):
        line = proc.stdout.readline()
        assert line.strip() == f"step {i}", line
        hooks.at_boundary(proc.pid, {"iteration": i, "t_end": float(i), "wall_end": None})
        if i == 6:
            hooks.save(proc.pid)
        proc.stdin.write("\n")
        proc.stdin.flush()
    proc.wait()
    OUT.mkdir(parents=True, exist_ok=True)
    for src, name in ((f"memcheck.{proc.pid}.timeline.txt", "leak_steps.timeline.txt"),
                      (f"memcheck.{proc.pid}.leaks.txt", "leak_steps.leaks.txt")):
        text = (tmp / "capture" / src).read_text()
        (OUT / name).write_text(text.replace(f"=={proc.pid}==", "==4242=="))
        print(f"wrote {OUT / name} ({len(text)} bytes)")
    shutil.rmtree(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
