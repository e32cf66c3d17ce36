"""memray: Python and (with --native) C/C++ stacks of every allocation, mmap included.

memray profiles a Python interpreter from the inside, so it can only wrap a
Python process: the switch loop (`-m profiler.workload.child CFG`), a Python
script, or `python ...` itself. Native stacks are on by default because the
allocations that matter here are made by libllama/libggml. `--aggregate`
writes a much smaller file that only answers "what was live at the peak / at
exit" (no timeline). memray writes as it goes, so a crashed run keeps a
readable (if unfinished) file.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from profiler.backends.base import Backend, Wrapped
from profiler.backends.options import MemrayOptions
from profiler.errors import ToolMissing, UsageProblem

_PYTHON_NAME = re.compile(r"^python(\d+(\.\d+)?)?$")


def is_python_interpreter(arg: str) -> bool:
    return bool(_PYTHON_NAME.match(os.path.basename(arg))) or os.path.realpath(arg) == os.path.realpath(
        sys.executable
    )


def is_python_script(arg: str) -> bool:
    """A .py file, or a file whose #! line names python."""
    if arg.endswith(".py"):
        return True
    try:
        with open(arg, "rb") as f:
            first = f.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


class Memray(Backend):
    name = "memray"
    executable = "memray"
    apt_package = "python3-memray"

    def check_available(self, python: str | None = None) -> None:
        python = python or sys.executable
        if python == sys.executable:
            try:
                import memray  # noqa: F401
            except ImportError:
                raise ToolMissing(
                    f"memray is not installed in {python} (install it: {python} -m pip install memray)"
                ) from None
            return
        probe = subprocess.run([python, "-c", "import memray"], capture_output=True)
        if probe.returncode != 0:
            raise ToolMissing(f"memray is not installed in {python} (install it: {python} -m pip install memray)")

    def split_command(self, cmd: list[str]) -> tuple[str, list[str]]:
        """(interpreter, what follows `memray run` options) for a user command, or UsageProblem."""
        if not cmd:
            raise UsageProblem("no command to profile")
        if is_python_interpreter(cmd[0]):
            if len(cmd) == 1:
                raise UsageProblem(f"{cmd[0]}: give the script, -m module or -c code to profile")
            return cmd[0], list(cmd[1:])
        if (cmd[0].endswith(".py") or os.sep in cmd[0]) and not os.path.isfile(cmd[0]):
            raise UsageProblem(f"{cmd[0]}: no such script")
        if is_python_script(cmd[0]):
            return sys.executable, list(cmd)
        raise UsageProblem(
            f"{cmd[0]}: memray profiles only Python processes (a script, `python ...`); "
            "use `memprof heaptrack` or `memprof valgrind` for other programs"
        )

    def check_command(self, command: list[str]) -> None:
        """A Python command, and memray importable by the interpreter that will run it."""
        python, _ = self.split_command(command)
        self.check_available(python)

    def wrap(self, child_argv: list[str], run_dir: Path, options: MemrayOptions | None = None) -> Wrapped:
        python, rest = self.split_command(list(child_argv))
        out = self.capture_dir(run_dir) / "memray.bin"
        argv = [python, "-m", "memray", "run", "--force", "--quiet", "-o", str(out)]
        return Wrapped(argv + self.options(options).tool_args() + rest, {})

    def capture_globs(self) -> list[str]:
        # --follow-fork children write memray.bin.<pid>
        return ["memray.bin", "memray.bin.*"]

    def tool_version(self) -> str | None:
        try:
            from importlib.metadata import version

            return f"memray {version('memray')}"
        except Exception:
            return None
