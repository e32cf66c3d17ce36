"""memray fixture: a process killed mid-run (SIGKILL), as a crashed workload leaves it.

memray never rewrites the header of such a file (its end time equals its start
time) but every record written so far is readable.
"""
import os
import signal
import time

KEPT = []


def grow(step):
    KEPT.append(bytearray(10_000 + step))   # 10,001 + step bytes, kept


for step in range(5):
    for _ in range(20):
        grow(step)
    time.sleep(0.03)
os.kill(os.getpid(), signal.SIGKILL)
