"""Valgrind memcheck: leak records with full stacks, as XML.

The XML (protocol 4) is what the parser reads; the text log beside it keeps
what the XML does not (Valgrind's own warnings, "unhandled instruction"
messages) and is where the preflight looks after a failed run. Every leak kind
is shown because a still-reachable block that grows every iteration is the
leak this tool hunts; the shipped suppressions hide the one-time runtime and
GGML initialisation that would otherwise drown it.
"""
from __future__ import annotations

from pathlib import Path

from profiler.backends.options import MemcheckOptions
from profiler.backends.valgrind import ValgrindBackend

NUM_CALLERS = 40


class Memcheck(ValgrindBackend):
    name = "memcheck"
    tool = "memcheck"

    def tool_argv(self, cap: Path) -> list[str]:
        return [
            "--leak-check=full",
            "--show-leak-kinds=all",
            "--xml=yes",
            f"--xml-file={cap / 'memcheck.%p.xml'}",
            f"--log-file={cap / 'memcheck.%p.log'}",
            f"--num-callers={NUM_CALLERS}",
        ]

    def stop_hooks(self, run_dir: Path, options: MemcheckOptions | None = None):
        from profiler.backends.vgdb import MemcheckHooks

        return MemcheckHooks(run_dir, timeline=self.options(options).leak_timeline)

    def capture_globs(self) -> list[str]:
        return ["memcheck.*.xml"]

    def capture_paths(self, run_dir: Path) -> list[Path]:
        """The per-iteration leak checks first (they have a timeline), then the XML; the leak
        check saved before a hard stop only when the XML was not finished (killed first)."""
        d = Path(run_dir) / "capture"
        if not d.is_dir():
            return []
        xmls = sorted(p for p in d.glob("memcheck.*.xml") if p.is_file())
        finished = [p for p in xmls if _xml_finished(p)]
        out = sorted(p for p in d.glob("memcheck.*.timeline.txt") if p.is_file() and p.stat().st_size)
        out += xmls
        if not finished:
            out += sorted(p for p in d.glob("memcheck.*.leaks.txt") if p.is_file() and p.stat().st_size)
        return out

    def monitor_paths(self, run_dir: Path) -> list[Path]:
        """The leak checks taken through vgdb (per iteration, and before a hard stop)."""
        d = Path(run_dir) / "capture"
        return sorted(list(d.glob("memcheck.*.timeline.txt")) + list(d.glob("memcheck.*.leaks.txt")))

    def log_paths(self, run_dir: Path) -> list[Path]:
        d = Path(run_dir) / "capture"
        return sorted(d.glob("memcheck.*.log"))


def _xml_finished(path: Path) -> bool:
    """Whether memcheck closed its XML (it does at exit, also at a fatal signal)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 256))
            return b"</valgrindoutput>" in f.read()
    except OSError:
        return False
