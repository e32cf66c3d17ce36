"""Real /proc and glibc readings of this very process (no mocks: the kernel and libc are the oracle)."""
from __future__ import annotations

import ctypes
import gc
import threading
import time

import pytest

from profiler.workload import measure
from profiler.workload.child import digest, edit_distance, token_error_rate


def test_proc_memory_is_consistent():
    m = measure.proc_memory()
    assert m["rss"] > 10 * 2**20          # a Python with pytest loaded holds more than 10 MiB
    assert 0 < m["uss"] <= m["rss"]
    assert 0 < m["pss"] <= m["rss"]
    assert m["rss_anon"] > 0 and m["rss_file"] > 0
    # smaps_rollup is read once: anon + file cannot exceed the RSS it was split from
    assert m["rss_anon"] + m["rss_file"] <= m["rss"] + 64 * 1024
    assert m["swap"] >= 0


def test_touched_anonymous_memory_shows_in_rss_anon():
    before = measure.proc_memory()
    block = bytearray(64 * 2**20)          # calloc'd and written: really resident
    for i in range(0, len(block), 4096):
        block[i] = 1
    after = measure.proc_memory()
    assert after["rss_anon"] - before["rss_anon"] >= 60 * 2**20
    del block


@pytest.fixture
def libc():
    c = ctypes.CDLL("libc.so.6")
    c.malloc.restype = ctypes.c_void_p
    c.malloc.argtypes = [ctypes.c_size_t]
    c.free.argtypes = [ctypes.c_void_p]
    return c


@pytest.mark.parametrize("n", [200_000 // 16 * 16, 48 * 2**20])   # arena-sized (in uordblks) and mmap'd (in hblkhd)
def test_mallinfo2_in_use_follows_malloc_and_free(libc, n):
    if measure.heap()["heap_in_use"] is None:
        pytest.skip("no mallinfo2 in this libc")
    gc.disable()
    try:
        before = measure.heap()["heap_in_use"]
        p = libc.malloc(n)
        assert p
        grown = measure.heap()["heap_in_use"]
        libc.free(p)
        after = measure.heap()["heap_in_use"]
    finally:
        gc.enable()
    assert n <= grown - before <= n + 8192          # chunk header / page rounding only
    assert n <= grown - after <= n + 8192


def test_mmapped_block_counts_as_heap_mmap(libc):
    if measure.heap()["heap_mmap"] is None:
        pytest.skip("no mallinfo2 in this libc")
    before = measure.heap()["heap_mmap"]
    p = libc.malloc(64 * 2**20)   # above any dynamic mmap threshold (max 32 MiB)
    during = measure.heap()["heap_mmap"]
    libc.free(p)
    assert 64 * 2**20 <= during - before <= 64 * 2**20 + 8192


def test_thread_count_sees_a_new_thread():
    before = measure.thread_count()
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert measure.thread_count() == before + 1
    finally:
        stop.set()
        t.join()
    # join() returns before the kernel has reaped the thread: allow it a moment
    deadline = time.monotonic() + 2
    while measure.thread_count() != before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert measure.thread_count() == before


def test_gc_counter_counts_collections_and_cycles():
    counter = measure.GcCounter()
    try:
        counter.take()
        for _ in range(100):
            a = []
            a.append(a)          # a reference cycle only the collector frees
        del a
        gc.collect()
        got = counter.take()
        assert got["gc_collections"] >= 1
        assert got["gc_full_collections"] >= 1      # gc.collect() is a generation-2 collection
        assert got["gc_collected"] >= 100
        gc.collect(0)
        young = counter.take()
        assert young["gc_collections"] >= 1 and young["gc_full_collections"] == 0
        assert counter.take() == {"gc_collections": 0, "gc_full_collections": 0, "gc_collected": 0}
    finally:
        counter.close()


def test_snapshot_has_every_record_field():
    snap = measure.snapshot(measure.GcCounter())
    assert {k for k in snap if not k.startswith("cgroup_")} == {"rss", "uss", "pss", "rss_anon", "rss_file", "swap", "heap_in_use",
                         "heap_free_retained", "heap_mmap", "threads", "gc_collections", "gc_full_collections",
                         "gc_collected"}


def _touch(n: int) -> bytearray:
    block = bytearray(n)
    for i in range(0, n, 4096):
        block[i] = 1
    return block


@pytest.mark.parametrize("method", ["vmhwm", "sampled"])
def test_peak_tracker_sees_a_freed_block(method, monkeypatch):
    if method == "sampled":
        monkeypatch.setattr(measure, "reset_hwm", lambda pid="self": False)   # as where the kernel refuses
    tracker = measure.PeakTracker()
    block = _touch(16 * 2**20)
    del block
    tracker.start()
    before = measure.proc_memory()["rss"]
    block = _touch(96 * 2**20)
    time.sleep(0.05)                     # the sampler's interval is 10 ms
    del block
    after = measure.proc_memory()["rss"]
    peak = tracker.peak()
    tracker.stop()
    assert tracker.method == method
    assert peak >= before + 90 * 2**20   # the 96 MiB block was resident at the peak
    assert peak >= after


def test_reset_hwm_brings_the_mark_down_to_rss():
    block = _touch(64 * 2**20)
    del block
    high = measure.read_hwm()
    if not measure.reset_hwm():
        pytest.skip("this kernel refuses clear_refs")
    assert measure.read_hwm() < high - 32 * 2**20


def test_output_quality_measures():
    assert edit_distance([1, 2, 3, 4], [1, 2, 3, 4]) == 0
    assert edit_distance([1, 2, 3, 4], [1, 9, 3, 4]) == 1      # substitution
    assert edit_distance([1, 2, 3, 4], [1, 3, 4]) == 1         # deletion
    assert edit_distance([], [5, 6]) == 2
    assert token_error_rate([1, 9, 3, 4], [1, 2, 3, 4]) == 0.25
    assert token_error_rate([7, 8], [1, 2, 3, 4]) == 1.0
    assert digest([1, 2, 3]) == digest([1, 2, 3]) != digest([1, 2, 4])
    assert len(digest([1])) == 16
