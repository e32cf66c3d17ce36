"""The model-switch loop, run as `python -m profiler.workload.child RUN_DIR/loop.json`.

Each iteration loads the next model (alternating through the list), generates
greedily while timing the first token, unloads, measures the process and appends
one record to the iterations file (env MEMPROF_ITERATIONS, else RUN_DIR/iterations.jsonl).
Measuring right after unload is the point: whatever the process still holds then is
what a model-switching server keeps (`rss`, which decides leak or plateau). What a
server needs while it serves is recorded too: `rss_after_load` (right after the load)
and `rss_peak` (the high-water mark of the whole iteration, load, generation and
unload included: the kernel's VmHWM reset at the iteration's start, or a sampling
thread where the kernel refuses; `peak_method` says which), which the budget covers. It runs in its own process so that any profiler
can wrap it and a crash costs only the iteration in flight.

Ctrl-C / SIGTERM stop the loop after the current step (exit 130): a generation in
progress is cut short, the model unloaded and measured, and that last record marked
status "interrupted" (its token_error_rate is null). A second signal exits at once.
Records are fsynced as written, so nothing finished is lost either way.

After each record the loop mallocs and frees one block of a size that encodes the
iteration (an in-band marker, see IterationMarker): heap profilers record it among the
program's own events, so their captures can be cut exactly at the boundary.

After the last iteration comes the collection probe (collection_probe): one measurement
after a full gc.collect() and one after malloc_trim(0), written as records with
"probe": "gc_collect" / "malloc_trim" and no "iteration". Why: a run too short for
Python's cyclic collector to have run once cannot tell garbage waiting for it (or
memory the allocator keeps) from a leak; when heap in use falls back to its floor
after the collection, the growth was garbage, and the verdict can say so.
"""
from __future__ import annotations

import gc
import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from profiler import clock, markers, rundir
from profiler.errors import ExitCode, MemprofError
from profiler.workload import measure
from profiler.workload.config import LoopConfig

CHILD_INFO = "child_info.json"




class IterationMarker:
    """malloc + free of marker_size(iteration) bytes through the C library, right after the
    record is written: heaptrack and massif see it in their own event stream, where no clock
    mapping can misplace it. Costs two calls per iteration; MEMPROF_MARKERS=0 turns it off."""

    def __init__(self):
        import ctypes

        self._malloc = None
        if os.environ.get(markers.ENV_SWITCH) == "0":   # the user asked for none
            return
        try:
            libc = ctypes.CDLL(None)
            self._malloc, self._free = libc.malloc, libc.free
            self._malloc.restype = ctypes.c_void_p
            self._malloc.argtypes = [ctypes.c_size_t]
            self._free.restype = None
            self._free.argtypes = [ctypes.c_void_p]
        except (OSError, AttributeError):  # pragma: no cover - no dlopen(NULL) on this platform
            self._malloc = None

    @staticmethod
    def size(iteration: int) -> int:
        return markers.marker_size(iteration)

    def mark(self, iteration: int) -> None:
        if self._malloc is not None:
            self._free(self._malloc(self.size(iteration)))


def _malloc_trim():
    """glibc's malloc_trim, or None (musl, macOS: no such call)."""
    import ctypes

    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_size_t]
    return fn


PROBE_HOLD_MAX_S = 60.0


def hold_for_parent(path: str | None, max_s: float = PROBE_HOLD_MAX_S, stop=None) -> float | None:
    """Wait until `path` exists (the parent took the tool's state: massif's detailed snapshot,
    memcheck's leak check right after gc.collect(); Valgrind takes no snapshot of its own
    before the exit), at most `max_s` or until `stop` is requested; seconds waited, None when not
    asked (no path). Sleeps in
    short steps: Valgrind serves the parent's monitor command while the guest runs."""
    if not path:
        return None
    t0 = time.monotonic()
    while not os.path.exists(path) and time.monotonic() - t0 < max_s and not (stop and stop.requested):
        time.sleep(0.05)
    return time.monotonic() - t0


def collection_probe(writer, counter, after_iteration: int, hold: str | None = None, stop=None) -> None:
    """The two probe records (see the module docstring); not iterations: the series loader
    keeps them apart. malloc_trim's is left out where the C library has no malloc_trim.
    `hold`: a file to wait for after the gc_collect record (hold_for_parent)."""
    t, wall = clock.since_start(), time.time()
    collected = gc.collect()
    mem = measure.snapshot(counter)
    writer.write({"probe": "gc_collect", "after_iteration": int(after_iteration), "t_probe": round(t, 6),
                  "wall_probe": round(wall, 6), "probe_collected": int(collected), **mem})
    hold_for_parent(hold, stop=stop)
    trim = _malloc_trim()
    if trim is None:
        return
    t, wall = clock.since_start(), time.time()
    released = trim(0)
    mem = measure.snapshot(counter)
    writer.write({"probe": "malloc_trim", "after_iteration": int(after_iteration), "t_probe": round(t, 6),
                  "wall_probe": round(wall, 6), "probe_released": bool(released), **mem})


class _Stop:
    """Set by SIGINT/SIGTERM; the loop checks it between steps."""

    def __init__(self):
        self.requested = False

    def install(self) -> None:
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, self._handler)

    def _handler(self, signum, frame):
        if self.requested:           # asked twice: leave now (records are already on disk)
            os._exit(int(ExitCode.INTERRUPTED))
        self.requested = True


def edit_distance(a: list[int], b: list[int]) -> int:
    """Levenshtein distance between two token id lists."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def digest(ids: list[int]) -> str:
    return hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]


def token_error_rate(ids: list[int], reference: list[int]) -> float:
    if not reference:
        return 0.0 if not ids else 1.0
    return edit_distance(ids, reference) / len(reference)


def _fail(msg: str, code: int = 1) -> "NoReturn":  # noqa: F821
    print(f"memprof loop: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(code)


def write_child_info(run_dir: Path, llama_cpp, config: LoopConfig) -> None:
    try:
        system_info = llama_cpp.llama_print_system_info().decode(errors="replace").strip()
    except Exception as exc:  # pragma: no cover - depends on the build
        system_info = f"unavailable: {exc}"
    info = {"llama_cpp_python": getattr(llama_cpp, "__version__", None), "system_info": system_info,
            "pid": os.getpid(), "python": sys.version.split()[0], "threads": config.threads,
            "strategy": config.strategy, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
    try:
        rundir.write_json(run_dir / CHILD_INFO, info)
    except OSError:
        pass


class LlamaErrors:
    """Keeps llama.cpp's last error lines: with verbose off, llama-cpp-python sends
    its log to /dev/null during a load, and the reason a load failed would be lost."""

    def __init__(self, llama_cpp):
        import collections
        import ctypes

        self.lines = collections.deque(maxlen=8)

        @llama_cpp.llama_log_callback
        def _callback(level, text, user_data):
            if level == 4:   # GGML_LOG_LEVEL_ERROR (NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5)
                line = text.decode("utf-8", errors="replace").strip()
                if line:
                    self.lines.append(line)
                    print(line, file=sys.stderr, flush=True)   # child.log, except during a load

        self._callback = _callback   # keep the ctypes thunk alive
        llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))

    def last(self) -> str | None:
        """The most telling recent error: one naming the cause ("error loading model: ...")
        rather than the generic "failed to load model" that follows it."""
        for line in reversed(self.lines):
            if "error" in line.lower():
                return line
        return self.lines[-1] if self.lines else None


class Loop:
    """Holds the models (reset strategy) and the first output of each model."""

    def __init__(self, config: LoopConfig, llama_cpp):
        self.config = config
        self.llama_cpp = llama_cpp
        self.instances: dict[str, object] = {}   # reset strategy: alias -> Llama
        self.reference: dict[str, list[int]] = {}
        self.errors: LlamaErrors | None = None

    def load(self, model: dict):
        if self.config.strategy == "reset" and model["alias"] in self.instances:
            return self.instances[model["alias"]]
        try:
            llm = self.llama_cpp.Llama(
                model_path=model["path"], n_ctx=self.config.n_ctx, n_threads=self.config.threads,
                n_threads_batch=self.config.threads, seed=self.config.seed, verbose=False,
            )
        except Exception as exc:
            why = (self.errors.last() if self.errors else None) or str(exc)
            _fail(f"llama.cpp could not load {model['alias']} ({model['path']}): {why}".replace("\n", " "))
        if self.config.strategy == "reset":
            self.instances[model["alias"]] = llm
        return llm

    def generate(self, llm, stop: "_Stop | None" = None) -> tuple[list[int], float, float]:
        """Greedy generation of exactly max_tokens (end-of-sequence ignored, so every
        iteration does the same work); returns ids, time to first token, total time.
        A stop request cuts it short (under Valgrind one generation can take minutes)."""
        prompt = llm.tokenize(self.config.prompt.encode(), add_bos=True, special=False)
        ids: list[int] = []
        t0 = time.perf_counter()
        ttft = None
        for tok in llm.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0):
            if ttft is None:
                ttft = time.perf_counter() - t0
            ids.append(int(tok))
            if len(ids) >= self.config.max_tokens or (stop is not None and stop.requested):
                break
        return ids, ttft or 0.0, time.perf_counter() - t0

    def unload(self, alias: str, llm) -> None:
        if self.config.strategy == "reset":
            llm.reset()
            llm._ctx.kv_cache_clear()   # Llama.reset() alone keeps the KV cells of a non-recurrent model
        else:
            llm.close()                 # frees the native model now; `del` alone waits for gc (cycles)

    def close(self) -> None:
        for llm in self.instances.values():
            llm.close()
        self.instances.clear()


def run(config_path: Path) -> int:
    config = LoopConfig.load(config_path)
    run_dir = Path(config_path).resolve().parent
    out = Path(os.environ.get("MEMPROF_ITERATIONS") or run_dir / rundir.ITERATIONS)
    stop = _Stop()
    stop.install()
    # Idle OpenMP workers spin by default; on a shared or oversubscribed machine that made
    # generation ~8x slower here (0.6B twin, 2 threads: 32 s vs 4 s for 16 tokens) while the
    # memory behaviour is the same. A value the user (or a backend) set is kept. libgomp
    # reads it when llama_cpp's libraries load, i.e. on the import below.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError as exc:
        _fail(f"llama_cpp is not importable: {exc}", int(ExitCode.TOOL_MISSING))
    write_child_info(run_dir, llama_cpp, config)
    loop = Loop(config, llama_cpp)
    try:
        loop.errors = LlamaErrors(llama_cpp)
    except Exception:  # pragma: no cover - a build without the log hook still runs
        pass
    counter = measure.GcCounter()
    measure.snapshot(counter)   # start counting gc activity from here
    done = 0
    marker = IterationMarker()
    peak = measure.PeakTracker()
    with rundir.IterationWriter(out) as writer:
        for i in range(1, config.iterations + 1):
            if stop.requested:
                break
            model = config.model_for(i)
            t_start, wall_start = clock.since_start(), time.time()
            peak.start()
            t = time.perf_counter()
            llm = loop.load(model)
            load_s = time.perf_counter() - t
            rss_after_load = measure.rss_now()
            ids, ttft_s, gen_s = loop.generate(llm, stop)
            partial = len(ids) < config.max_tokens   # cut short by Ctrl-C / SIGTERM
            t = time.perf_counter()
            loop.unload(model["alias"], llm)
            del llm
            if config.collect_garbage:
                gc.collect()
            unload_s = time.perf_counter() - t
            mem = measure.snapshot(counter)
            rss_peak = peak.peak()
            t_end, wall_end = clock.since_start(), time.time()
            ref = loop.reference.get(model["alias"]) if partial else loop.reference.setdefault(model["alias"], ids)
            ter = None if partial or ref is None else round(token_error_rate(ids, ref), 6)
            record = {
                "iteration": i, "model": model["alias"], "model_path": model["path"],
                "strategy": config.strategy,
                "t_start": round(t_start, 6), "t_end": round(t_end, 6),
                "wall_start": round(wall_start, 6), "wall_end": round(wall_end, 6),
                "load_s": round(load_s, 6), "ttft_s": round(ttft_s, 6), "gen_s": round(gen_s, 6),
                "unload_s": round(unload_s, 6), "n_tokens": len(ids),
                "tokens_per_s": round(len(ids) / gen_s, 3) if gen_s > 0 else None,
                "output_digest": digest(ids), "token_error_rate": ter,
                **mem, "rss_after_load": rss_after_load, "rss_peak": rss_peak, "peak_method": peak.method,
                "status": "interrupted" if partial else "ok",
            }
            writer.write(record)
            marker.mark(i)
            done += 1
        if done and os.environ.get("MEMPROF_PROBE") != "0":
            # no hold once a stop was asked: the parent no longer follows the records
            hold = None if stop.requested else os.environ.get(rundir.PROBE_HOLD_ENV)
            collection_probe(writer, counter, done, hold=hold, stop=stop)
    peak.stop()
    loop.close()
    counter.close()
    if stop.requested:
        print(f"memprof loop: interrupted after {done} iterations", file=sys.stderr, flush=True)
        return int(ExitCode.INTERRUPTED)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        _fail("usage: python -m profiler.workload.child RUN_DIR/loop.json", int(ExitCode.USAGE))
    try:
        return run(Path(argv[0]))
    except MemprofError as exc:
        _fail(exc.one_line(), int(exc.exit_code))


if __name__ == "__main__":
    sys.exit(main())
