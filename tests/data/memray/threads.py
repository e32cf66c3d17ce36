"""Allocations from the main thread and from two worker threads (memray fixture, Python stacks).

memray hides its own start-up frames from the main thread's stacks only: the parser
must trim those and leave the workers' stacks whole."""
import threading

KEPT = []


def main_work(n):
    KEPT.append(bytearray(30_001 + n))
    return bytearray(1_000)   # freed at once


def worker_work(n):
    KEPT.append(bytearray(40_001 + n))
    return bytearray(2_000)


def worker(k):
    for n in range(3):
        worker_work(k * 10 + n)


for i in range(2):
    main_work(i)
threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
