"""No profiler: the workload runs as it is (`memprof run`), measured only by its own records.

A backend like the others, so that a plain run goes through the session's one path (run
directory, signals, cut and crash handling, summary) instead of a copy of it; it wraps
nothing, needs no tool and leaves no capture.
"""
from __future__ import annotations

from pathlib import Path

from profiler.backends.base import Backend, Wrapped
from profiler.backends.options import ToolOptions


class Plain(Backend):
    name = "run"          # the run directory's and the progress bar's label

    def check_available(self) -> None:
        return None

    def options(self, options: ToolOptions | None = None) -> ToolOptions:
        if options is not None and type(options) is not ToolOptions:
            raise TypeError(f"a plain run takes no tool options, not {type(options).__name__}")
        return ToolOptions()

    def wrap(self, child_argv: list[str], run_dir: Path, options: ToolOptions | None = None) -> Wrapped:
        return Wrapped(list(child_argv), {})

    def capture_globs(self) -> list[str]:
        return []

    def tool_version(self) -> str | None:
        return None
