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
from typing import Any

from profiler.backends.base import NATIVE_TOOL_ENV, Backend, Wrapped


class Heaptrack(Backend):
    name = "heaptrack"
    executable = "heaptrack"
    apt_package = "heaptrack"

    def wrap(self, child_argv: list[str], run_dir: Path, options: dict[str, Any] | None = None) -> Wrapped:
        out = self.capture_dir(run_dir).resolve() / "heaptrack.run"
        argv = [self.executable, "-o", str(out)] + list(child_argv)
        return Wrapped(argv, dict(NATIVE_TOOL_ENV))

    def capture_globs(self) -> list[str]:
        return ["heaptrack.*.zst", "heaptrack.*.gz"]
