"""A Python program with a real native leak beside garbage only the cyclic collector frees.

Each iteration mallocs LEAK_KIB KiB through ctypes and never frees it (the leak), and makes a
Holder whose GARBAGE_KIB KiB bytearray sits in a reference cycle: the Holder lives through a
young collection (as llama-cpp-python's samplers live through the generation that uses them), so
the collector moves it to an old generation, then the loop drops it: garbage that stays until a
full collection, which a short run never has. At the end memprof_marks.collection_probe() runs
gc.collect(): it frees every Holder and none of the leak. Iterations are marked with
memprof_marks (memprof puts it on the PYTHONPATH of `memprof ... -- CMD` runs)."""
import ctypes
import gc
import os
import sys
import time

import memprof_marks

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]

LEAK = int(os.environ.get("LEAK_KIB", "64")) * 1024
GARBAGE = int(os.environ.get("GARBAGE_KIB", "96")) * 1024


class Holder:
    def __init__(self):
        self.buf = bytearray(GARBAGE)
        self.me = self            # the cycle: reference counting never frees it


iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 6
for i in range(iterations):
    with memprof_marks.iteration():
        block = libc.malloc(LEAK)
        libc.memset(block, 1, LEAK)
        held = Holder()
        gc.collect(1)             # a young collection while it is alive: it moves to the old generation
        del held, block
        time.sleep(0.5)           # iterations far longer than massif's clock uncertainty (~0.1 s)
memprof_marks.collection_probe()
