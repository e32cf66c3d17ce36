"""One exception family for every domain error; the CLI turns each into one line and its exit code.

Exit codes are named like pip's, so scripts (and `memprof check` in CI) can tell
"a leak was found" from "the input was bad" from "a tool is missing".
"""
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    LEAK_FOUND = 1        # `memprof check`: something leaks
    USAGE = 2             # bad options (Click uses 2 too)
    BAD_INPUT = 3         # capture, series or model file unreadable, truncated or foreign
    TOOL_MISSING = 4      # valgrind / heaptrack / memray / llama_cpp not available
    WORKLOAD_FAILED = 5   # the profiled program crashed or exited non-zero
    UNSUPPORTED = 6       # e.g. a llama.cpp build that Valgrind cannot run
    MEMORY_ALERT = 7       # `memprof watch`: --alert-mb or --alert-slope crossed (a supervisor acts on it)
    CAPTURE_TRUNCATED = 8  # a capture cut off while written: analysed up to the cut, result printed
    INTERNAL = 70         # a bug in memprof (EX_SOFTWARE); MEMPROF_DEBUG=1 shows the traceback
    INTERRUPTED = 130     # Ctrl-C; whatever was recorded is kept


class MemprofError(Exception):
    """Base of every error memprof reports to the user as one line."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.hint = hint

    def one_line(self) -> str:
        msg = str(self).strip().replace("\n", " ")
        return f"{msg} ({self.hint})" if self.hint else msg


class UsageProblem(MemprofError):
    exit_code = ExitCode.USAGE


class BadInput(MemprofError):
    """A file we were asked to read is not what it should be."""

    exit_code = ExitCode.BAD_INPUT


class BadCapture(BadInput):
    """A profiler capture that is empty, truncated, corrupted or of no known format."""


class BadSeries(BadInput):
    """An iteration series (iterations.jsonl, CSV) that cannot be analysed."""


class BadModel(BadInput):
    """A model file that is missing or not GGUF."""


class CaptureTruncated(MemprofError):
    """Raised after the result is printed: the capture ends early, so the analysis stops there."""

    exit_code = ExitCode.CAPTURE_TRUNCATED


class ToolMissing(MemprofError):
    exit_code = ExitCode.TOOL_MISSING


class WorkloadFailed(MemprofError):
    exit_code = ExitCode.WORKLOAD_FAILED


class Unsupported(MemprofError):
    exit_code = ExitCode.UNSUPPORTED


class MemoryAlert(MemprofError):
    exit_code = ExitCode.MEMORY_ALERT


class Interrupted(MemprofError):
    exit_code = ExitCode.INTERRUPTED
