"""heaptrack: every malloc/free with its stack, compressed, streamed to a file.

heaptrack 1.4's `-o NAME` writes NAME.zst (NAME.gz without zstd); the
documented `%p` is NOT substituted (the launcher script substitutes it and then
overwrites the result with `readlink -f` of the raw argument), so we name the
file ourselves and find it by glob. Without `-o` it would write
heaptrack.<prog>.<pid>.zst into the current directory. The launcher is a shell
script that runs the program as its child and exits with the program's status
(128+signal when it was killed). heaptrack buffers in the profiled process: a
program that aborts loses the unflushed tail (a tiny program leaves an empty
file), one that runs long enough to flush keeps what was flushed.
heaptrack does not see mmap (model files), only the malloc family.
"""
from __future__ import annotations

from pathlib import Path

from profiler.backends.base import NATIVE_TOOL_ENV, Backend, Wrapped
from profiler.backends.options import HeaptrackOptions


class Heaptrack(Backend):
    name = "heaptrack"
    executable = "heaptrack"
    apt_package = "heaptrack"

    def wrap(self, child_argv: list[str], run_dir: Path, options: HeaptrackOptions | None = None) -> Wrapped:
        out = self.capture_dir(run_dir).resolve() / "heaptrack.run"
        argv = [self.executable, "-o", str(out), *self.options(options).tool_args()] + list(child_argv)
        return Wrapped(argv, dict(NATIVE_TOOL_ENV))

    def exit_note(self, returncode: int | None) -> str:
        """The launcher is a shell script: a program killed by signal N comes back as status
        128+N. Name the signal, so the user sees a crash, not an exit status."""
        import signal

        if not isinstance(returncode, int) or not 128 < returncode < 128 + 65:
            return ""
        try:
            return f" (the program was killed by {signal.Signals(returncode - 128).name})"
        except ValueError:
            return ""

    def stop_hooks(self, run_dir: Path, options: HeaptrackOptions | None = None):
        return HeaptrackHooks()

    def capture_globs(self) -> list[str]:
        return ["heaptrack.*.zst", "heaptrack.*.gz"]


class HeaptrackHooks:
    """A hard stop signals only the profiled program (the process whose environment
    names heaptrack's output pipe), not the launcher's writer that compresses the data:
    the writer then reads to the end and closes the file properly."""

    grace_s = 15.0

    def at_boundary(self, pid: int, record: dict) -> None:
        return None

    def save(self, pid: int) -> list[str]:
        return []

    def targets(self, pid: int) -> list[int]:
        from profiler.workload.runner import group_pids

        found = []
        for p in group_pids(pid):
            try:
                with open(f"/proc/{p}/environ", "rb") as f:
                    environ = f.read()
            except OSError:
                continue
            if b"DUMP_HEAPTRACK_OUTPUT=" in environ:
                found.append(p)
        return found or [pid]
