"""What the process holds right now: /proc figures, glibc heap figures, gc activity.

RSS alone cannot tell a leak from a pool: smaps_rollup splits it into anonymous
(heap, arenas, GGML buffers) and file-backed pages (the mmap'd model), and
mallinfo2 says how much of the heap is in use versus freed but kept by glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc

_KB = 1024


def _read_kv_kb(path: str, keys: set[str]) -> dict[str, int]:
    """Parse `Key:   N kB` lines into bytes for the keys asked for."""
    out: dict[str, int] = {}
    with open(path, "rb") as f:
        for raw in f:
            key, _, rest = raw.partition(b":")
            k = key.decode()
            if k in keys:
                parts = rest.split()
                if parts:
                    out[k] = int(parts[0]) * (_KB if len(parts) > 1 and parts[1] == b"kB" else 1)
    return out


_ROLLUP_KEYS = {"Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem", "Shared_Clean", "Shared_Dirty",
                "Private_Clean", "Private_Dirty", "Anonymous", "Swap"}


def proc_memory(pid: int | str = "self") -> dict[str, int]:
    """rss, pss, uss, rss_anon, rss_file, swap in bytes from /proc/PID/smaps_rollup
    (file = Rss - Anonymous - shmem, so the mapped model counts as file-backed)."""
    r = _read_kv_kb(f"/proc/{pid}/smaps_rollup", _ROLLUP_KEYS)
    status = _read_kv_kb(f"/proc/{pid}/status", {"RssShmem", "VmRSS", "VmSwap"})
    rss = r.get("Rss", status.get("VmRSS", 0))
    anon = r.get("Anonymous", 0)
    shmem = status.get("RssShmem", 0)
    return {
        "rss": rss,
        "uss": r.get("Private_Clean", 0) + r.get("Private_Dirty", 0),
        "pss": r.get("Pss", 0),
        "rss_anon": anon,
        "rss_file": max(rss - anon - shmem, 0),
        "swap": r.get("Swap", status.get("VmSwap", 0)),
    }


def rss_now(pid: int | str = "self") -> int | None:
    """VmRSS in bytes: one short read of /proc/PID/status (smaps_rollup walks every mapping)."""
    try:
        return _read_kv_kb(f"/proc/{pid}/status", {"VmRSS"}).get("VmRSS")
    except OSError:
        return None


def read_hwm(pid: int | str = "self") -> int | None:
    """VmHWM (the RSS high-water mark since start or the last reset) in bytes; None if absent."""
    try:
        return _read_kv_kb(f"/proc/{pid}/status", {"VmHWM"}).get("VmHWM")
    except OSError:
        return None


def reset_hwm(pid: int | str = "self") -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: "5" into /proc/PID/clear_refs).
    False where the kernel or the permissions refuse (then a sampler has to stand in)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakTracker:
    """The RSS peak of one stretch of time (an iteration, or the time between two requests).

    `start()` resets the kernel's high-water mark; `peak()` reads it. The kernel keeps the
    mark exactly (it is updated on every page fault that raises RSS), so nothing is missed
    between two samples. Where clear_refs is refused (an old kernel, another user's
    process, a sandbox), a thread samples RSS every `interval` seconds instead: then the
    peak is a lower bound, and `method` says which one was used."""

    def __init__(self, pid: int | str = "self", interval: float = 0.01):
        import threading

        self.pid = pid
        self.interval = interval
        self.method: str | None = None
        self._max = 0
        self._stop = threading.Event()
        self._thread = None

    def _rss(self) -> int:
        try:
            return _read_kv_kb(f"/proc/{self.pid}/status", {"VmRSS"}).get("VmRSS", 0)
        except OSError:
            return 0

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._max = max(self._max, self._rss())

    def start(self) -> None:
        import threading

        self.stop()
        if reset_hwm(self.pid) and read_hwm(self.pid) is not None:
            self.method = "vmhwm"
            return
        self.method = "sampled"
        self._max = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="memprof-peak", daemon=True)
        self._thread.start()

    def peak(self) -> int | None:
        """The peak since start(), in bytes (never below the RSS now)."""
        now = self._rss()
        if self.method == "vmhwm":
            hwm = read_hwm(self.pid)
            return max(hwm or 0, now) or None
        if self.method == "sampled":
            self._max = max(self._max, now)
            return self._max or None
        return None

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=1)
            self._thread = None


def thread_count(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"Threads:"):
                return int(line.split()[1])
    return 0


def outside(pid: int) -> dict:
    """Another process's memory as one record's fields, read from outside (no code of ours runs
    in it): proc_memory, its thread count and its memory cgroup. What a watch sample and a
    served request record; OSError when the process is gone or unreadable."""
    from profiler.workload import cgroup

    out = proc_memory(pid)
    out["threads"] = thread_count(pid)
    out.update(cgroup.record_fields(pid))
    return out


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                 "fsmblks", "uordblks", "fordblks", "keepcost")]


_libc = None
_mallinfo2 = None


def _load_mallinfo2():
    global _libc, _mallinfo2
    if _libc is None:
        # the soname first: find_library runs ldconfig/gcc in a subprocess, which under
        # Valgrind or heaptrack would be one more traced process
        try:
            _libc = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:
            _libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        fn = getattr(_libc, "mallinfo2", None)   # glibc >= 2.33 only
        if fn is not None:
            fn.restype = _Mallinfo2
            fn.argtypes = []
        _mallinfo2 = fn
    return _mallinfo2


def heap() -> dict[str, int | None]:
    """heap_in_use (uordblks + hblkhd), heap_free_retained (fordblks), heap_mmap (hblkhd);
    all None where glibc's mallinfo2 is absent (musl, old glibc)."""
    fn = _load_mallinfo2()
    if fn is None:
        return {"heap_in_use": None, "heap_free_retained": None, "heap_mmap": None}
    mi = fn()
    return {"heap_in_use": mi.uordblks + mi.hblkhd, "heap_free_retained": mi.fordblks,
            "heap_mmap": mi.hblkhd}


class GcCounter:
    """Counts garbage-collector runs and collected objects between two reads."""

    def __init__(self):
        self.collections = 0
        self.full = 0
        self.collected = 0
        gc.callbacks.append(self._cb)

    def _cb(self, phase, info):
        if phase == "stop":
            self.collections += 1
            # only a full (generation 2) collection frees cycles that survived into the oldest generation
            self.full += info.get("generation") == 2
            self.collected += info.get("collected", 0)

    def take(self) -> dict[str, int]:
        out = {"gc_collections": self.collections, "gc_full_collections": self.full,
               "gc_collected": self.collected}
        self.collections = self.full = self.collected = 0
        return out

    def close(self) -> None:
        try:
            gc.callbacks.remove(self._cb)
        except ValueError:
            pass


def snapshot(gc_counter: GcCounter | None = None) -> dict:
    """Every memory figure of an iteration record, measured now."""
    out: dict = {}
    out.update(proc_memory())
    out.update(heap())
    out["threads"] = thread_count()
    if gc_counter is not None:
        out.update(gc_counter.take())
    from profiler.workload import cgroup

    out.update(cgroup.record_fields())
    return out
