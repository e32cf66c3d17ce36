"""Pure-Python memray fixture: known sizes at named functions, no native code of ours.

bytearray(n) asks malloc for n + 1 bytes; mmap.mmap(-1, n) is one anonymous
MMAP of n bytes that memray records (heaptrack would not see it).
"""
import mmap
import time

KEPT = []


def warm_cache():
    return bytearray(200_000)          # kept to the end: 200,001 bytes


def leak_step():
    KEPT.append(bytearray(50_000))     # kept, one per step: 50,001 bytes each


def transient():
    buf = bytearray(300_000)           # freed at once: shows at the peak only if it is the peak
    del buf


def map_region():
    return mmap.mmap(-1, 1 << 20)      # 1 MiB anonymous mapping, kept


cache = warm_cache()
region = map_region()
for _ in range(4):
    leak_step()
    transient()
    time.sleep(0.03)
