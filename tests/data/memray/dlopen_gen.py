"""Allocations from one stack before and after each dlopen: memray's native segment
generation changes with every library loaded, so one stack carries several generations."""
import ctypes
import time

KEEP = []


def grow(i):
    KEEP.append(bytearray(100_000 + i))


for i, lib in enumerate(["libbz2.so.1", "liblzma.so.5", "libexpat.so.1", "libcrypt.so.1"]):
    grow(i)
    time.sleep(0.03)   # memray snapshots memory every 10 ms: let a few pass
    ctypes.CDLL(lib)
grow(4)
time.sleep(0.03)
