"""What the two Valgrind backends share: the executable, the environment, the preflight."""
from __future__ import annotations

from profiler.backends.base import NATIVE_TOOL_ENV, Backend


class ValgrindBackend(Backend):
    executable = "valgrind"
    apt_package = "valgrind"
    needs_minimal_generation = True
    tool = ""

    def base_argv(self) -> list[str]:
        # --trace-children=no: the loop child is the process itself; a wrapped
        # script's children would each write a capture we never asked for
        return [self.executable, f"--tool={self.tool}"]

    def env(self) -> dict[str, str]:
        return dict(NATIVE_TOOL_ENV)

    def log_paths(self, run_dir):
        """Valgrind's own text log(s), where unhandled-instruction messages land."""
        return []
