"""Valgrind massif: heap snapshots over time, with call trees at detailed snapshots.

Every snapshot detailed (`--detailed-freq=1`) so each iteration boundary falls
near a tree; time in milliseconds since process start so snapshots align with
the iteration records; 200 snapshots so a long loop keeps enough resolution
after massif culls. `--pages-as-heap=yes` also counts mmap'd pages (the model
files), which plain massif ignores.
"""
from __future__ import annotations

from pathlib import Path

from profiler.backends.options import MassifOptions
from profiler.backends.valgrind import ValgrindBackend

MAX_SNAPSHOTS = 200


class Massif(ValgrindBackend):
    name = "massif"
    tool = "massif"

    def tool_argv(self, cap: Path) -> list[str]:
        return [
            "--time-unit=ms",
            "--detailed-freq=1",
            f"--max-snapshots={MAX_SNAPSHOTS}",
            f"--massif-out-file={cap / 'massif.out.%p'}",
            # Valgrind's own messages (an unhandled instruction) apart from the program's output
            f"--log-file={cap / 'massif.%p.log'}",
        ]

    def stop_hooks(self, run_dir: Path, options: MassifOptions | None = None):
        from profiler.backends.vgdb import MassifHooks

        return MassifHooks(run_dir)

    def capture_globs(self) -> list[str]:
        return ["massif.out.*"]

    def capture_paths(self, run_dir: Path) -> list[Path]:
        """massif.out.PID; its state at the collection probe (massif.out.PID.probe) is read with it."""
        from profiler import rundir

        return [p for p in super().capture_paths(run_dir) if not p.name.endswith(rundir.PROBE_STATE_SUFFIX)]

    def log_paths(self, run_dir: Path) -> list[Path]:
        return sorted((Path(run_dir) / "capture").glob("massif.*.log"))
