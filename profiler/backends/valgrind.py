"""What the two Valgrind backends share: the executable, the environment, the preflight."""
from __future__ import annotations

from pathlib import Path

from profiler.backends.base import NATIVE_TOOL_ENV, Backend, Wrapped
from profiler.backends.options import ToolOptions


class ValgrindBackend(Backend):
    executable = "valgrind"
    apt_package = "valgrind"
    tool = ""

    def base_argv(self) -> list[str]:
        # --child-silent-after-fork: the loop forks helpers at import time (ctypes
        # looking for libraries); without it the forked child writes its own XML
        # preamble into the parent's --xml-file descriptor and the XML is broken.
        # Children are not traced (--trace-children=no, the default): one capture
        # per run, of the process we were asked to profile.
        # --vgdb=yes: the gdbserver memprof talks to (profiler.backends.vgdb) to save the
        # tool's data before it stops a run and to take memcheck's per-iteration leak checks.
        return [self.executable, f"--tool={self.tool}", "--child-silent-after-fork=yes", "--vgdb=yes"]

    def env(self) -> dict[str, str]:
        return dict(NATIVE_TOOL_ENV)

    def tool_argv(self, cap: Path) -> list[str]:
        """The tool's own fixed flags, with its output files in `cap` (RUN_DIR/capture/)."""
        raise NotImplementedError

    def wrap(self, child_argv: list[str], run_dir: Path, options: ToolOptions | None = None) -> Wrapped:
        from profiler.backends.vgdb import probe_env

        argv = self.base_argv() + self.tool_argv(self.capture_dir(run_dir)) + self.options(options).tool_args()
        # the loop waits at its collection probe while the hooks take the tool's state (vgdb.py)
        return Wrapped(argv + list(child_argv), {**self.env(), **probe_env(run_dir)})

    def log_paths(self, run_dir):
        """Valgrind's own text log(s), where unhandled-instruction messages land."""
        return []
