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
from typing import Any

from profiler.backends.base import Wrapped
from profiler.backends.valgrind import ValgrindBackend

NUM_CALLERS = 40


def shipped_suppressions() -> list[Path]:
    """The suppression files in suppressions/ (repository checkout) that memcheck uses by default."""
    from profiler.backends import suppressions_dir

    d = suppressions_dir()
    return sorted(d.glob("*.supp")) if d else []


class Memcheck(ValgrindBackend):
    name = "memcheck"
    tool = "memcheck"

    def wrap(self, child_argv: list[str], run_dir: Path, options: dict[str, Any] | None = None) -> Wrapped:
        options = options or {}
        cap = self.capture_dir(run_dir)
        argv = self.base_argv() + [
            "--leak-check=full",
            "--show-leak-kinds=all",
            "--xml=yes",
            f"--xml-file={cap / 'memcheck.%p.xml'}",
            f"--log-file={cap / 'memcheck.%p.log'}",
            f"--num-callers={NUM_CALLERS}",
        ]
        supps = [] if options.get("no_default_suppressions") else shipped_suppressions()
        supps += [Path(s) for s in options.get("suppressions") or ()]
        for s in supps:
            argv.append(f"--suppressions={Path(s).resolve()}")
        if options.get("gen_suppressions"):
            argv.append("--gen-suppressions=all")
        return Wrapped(argv + list(child_argv), self.env())

    def stop_hooks(self, run_dir: Path, options: dict[str, Any] | None = None):
        from profiler.backends.vgdb import MemcheckHooks

        return MemcheckHooks(run_dir, timeline=bool((options or {}).get("leak_timeline")))

    def capture_globs(self) -> list[str]:
        return ["memcheck.*.xml"]

    def monitor_paths(self, run_dir: Path) -> list[Path]:
        """The leak checks taken through vgdb (per iteration, and before a hard stop)."""
        d = Path(run_dir) / "capture"
        return sorted(list(d.glob("memcheck.*.timeline.txt")) + list(d.glob("memcheck.*.leaks.txt")))

    def log_paths(self, run_dir: Path) -> list[Path]:
        d = Path(run_dir) / "capture"
        return sorted(d.glob("memcheck.*.log"))
