"""What every backend is: a small object that knows one tool.

A backend never runs anything itself. It checks that its tool is installed,
builds the full command line (argv, never a shell string) that wraps the
workload's argv, and says which files it left in RUN_DIR/capture/. Running,
progress, crash handling and metadata belong to the workload runner, so every
tool is run and recorded the same way.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from profiler import rundir
from profiler.backends.options import ToolOptions, for_backend
from profiler.errors import ToolMissing, UsageProblem

# Environment for native tools: PYTHONMALLOC=malloc makes every Python object a
# malloc call the tool can see (pymalloc arenas would hide them and look like
# 256 KiB leaks); OMP_WAIT_POLICY=PASSIVE stops OpenMP workers spinning, which
# under Valgrind's serialised threads costs minutes per iteration.
NATIVE_TOOL_ENV = {"PYTHONMALLOC": "malloc", "OMP_WAIT_POLICY": "PASSIVE"}


@dataclass
class Wrapped:
    """The command line a backend built, the environment it needs on top of
    the caller's, and the capture file pattern it will write."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


class Backend:
    """Base class: subclasses set `name`, `executable`, `apt_package` and implement `wrap`.
    Every method that takes `options` takes this tool's ToolOptions (backends/options.py),
    or None for its defaults."""

    name: str = ""
    executable: str = ""
    apt_package: str = ""

    def check_available(self) -> None:
        if not which(self.executable):
            raise ToolMissing(
                f"{self.executable} is not installed or not on PATH (install it: apt-get install {self.apt_package})"
            )

    def options(self, options: ToolOptions | None = None) -> ToolOptions:
        """`options`, or this tool's defaults."""
        return for_backend(self.name, options)

    def check_command(self, command: list[str]) -> None:
        """UsageProblem unless this tool can run `command` (argv): here, an executable file or
        a program on PATH."""
        prog = command[0]
        if os.sep in prog:
            if not (os.path.isfile(prog) and os.access(prog, os.X_OK)):
                raise UsageProblem(f"{prog}: not an executable file")
        elif not which(prog):
            raise UsageProblem(f"{prog}: command not found")

    def wrap(self, child_argv: list[str], run_dir: Path, options: ToolOptions | None = None) -> Wrapped:
        raise NotImplementedError

    def exit_note(self, returncode: int | None) -> str:
        """Words added to a failed run's line about its exit status (by default none)."""
        return ""

    def stop_hooks(self, run_dir: Path, options: ToolOptions | None = None):
        """What this tool adds to stopping a run (profiler.workload.runner.StopHooks):
        by default nothing, and the hard-stop signal goes to the direct child."""
        from profiler.workload.runner import StopHooks

        return StopHooks()

    def capture_dir(self, run_dir: Path) -> Path:
        d = Path(run_dir) / rundir.CAPTURE_DIR
        d.mkdir(parents=True, exist_ok=True)
        return d

    def capture_paths(self, run_dir: Path) -> list[Path]:
        """The capture files this backend wrote (non-empty ones first in name order)."""
        d = Path(run_dir) / rundir.CAPTURE_DIR
        if not d.is_dir():
            return []
        return sorted(p for pat in self.capture_globs() for p in d.glob(pat) if p.is_file())

    def capture_globs(self) -> list[str]:
        raise NotImplementedError

    def tool_version(self) -> str | None:
        """One line naming the tool's version, for meta.json."""
        import subprocess

        exe = which(self.executable)
        if not exe:
            return None
        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        text = (out.stdout or out.stderr).strip().splitlines()
        return text[0] if text else None


def which(executable: str) -> str | None:
    """shutil.which against the current PATH (tests change PATH to simulate a missing tool)."""
    return shutil.which(executable, path=os.environ.get("PATH", os.defpath))
