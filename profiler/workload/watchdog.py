"""Takes the workload down with memprof: `python -m profiler.workload.watchdog PGID`.

A parent-death signal (set in the child before exec) covers the direct child only;
the profiled program is often a grandchild (heaptrack's launcher script runs it,
memray and Valgrind may fork). This small process, in a session of its own so a
terminal's signals miss it, holds the read end of a pipe whose write end only
memprof has: when memprof ends without saying "done" on it (SIGKILL, a crash, a
closed terminal), the read returns EOF and the whole process group of the workload
is killed. It costs one idle process per run.
"""
from __future__ import annotations

import os
import signal
import sys


def main(argv: list[str]) -> int:
    pgid = int(argv[0])
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_IGN)
    data = b""
    while True:
        chunk = os.read(0, 64)
        if not chunk:
            break
        data += chunk
    if b"done" not in data:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
