"""A Python program with a real native leak: each iteration mallocs LEAK_KIB KiB through ctypes
and never frees it. It appends one iteration record per iteration to $MEMPROF_ITERATIONS (the
marker protocol in README's "Iteration markers": times on the process clock, then the in-band
marker allocation), so the capture is cut exactly at those boundaries.
LEAK_KIB comes from the environment (a wrapper script may set it), default 256."""
import ctypes
import json
import os
import sys
import time

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]


def since_start() -> float:
    """Seconds since this process started (the clock heaptrack and massif count from)."""
    with open("/proc/self/stat", "rb") as f:
        data = f.read().decode(errors="replace")
    ticks = int(data[data.rindex(")") + 2:].split()[19])
    return time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")


size = int(os.environ.get("LEAK_KIB", "256")) * 1024
iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 8
marks = os.environ.get("MEMPROF_ITERATIONS")
for i in range(1, iterations + 1):
    start, wall_start = since_start(), time.time()
    block = libc.malloc(size)
    libc.memset(block, 1, size)       # touched, so it is real memory
    del block                         # the pointer is dropped: never freed
    time.sleep(0.05)
    if marks:
        with open(marks, "a") as f:
            f.write(json.dumps({"iteration": i, "t_start": start, "t_end": since_start(),
                                "wall_start": wall_start, "wall_end": time.time()}) + "\n")
        libc.free(libc.malloc(12035 + 8 * (i % 2048)))   # the in-band marker of record i
print("done", iterations, sys.executable)
