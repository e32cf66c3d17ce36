"""Backends: one small module per tool (memray, massif, memcheck, heaptrack).

Each knows how to check its tool is installed, wrap a workload's argv into the
tool's command line, and find the capture it wrote in RUN_DIR/capture/.
The session (profiler/session.py, above every layer) runs a wrapped workload end to end.
"""
from __future__ import annotations

import os
from pathlib import Path

_BACKENDS = {
    "memray": ("profiler.backends.memray", "Memray"),
    "massif": ("profiler.backends.massif", "Massif"),
    "memcheck": ("profiler.backends.memcheck", "Memcheck"),
    "heaptrack": ("profiler.backends.heaptrack", "Heaptrack"),
}
NAMES = tuple(_BACKENDS)


def get(name: str):
    """The backend called `name` (memray | massif | memcheck | heaptrack)."""
    import importlib

    from profiler.errors import UsageProblem

    if name not in _BACKENDS:
        raise UsageProblem(f"unknown backend {name!r} (one of: {', '.join(_BACKENDS)})")
    mod, cls = _BACKENDS[name]
    return getattr(importlib.import_module(mod), cls)()


def suppressions_dir() -> Path | None:
    """Where the shipped Valgrind suppression files live: $MEMPROF_SUPPRESSIONS_DIR, else
    suppressions/ beside the package (a source checkout or editable install), else
    <prefix>/share/memprof/suppressions (a wheel installing them as data files)."""
    import sys

    env = os.environ.get("MEMPROF_SUPPRESSIONS_DIR")
    if env:
        return Path(env)
    for d in (Path(__file__).resolve().parents[2] / "suppressions",
              Path(sys.prefix) / "share" / "memprof" / "suppressions"):
        if d.is_dir():
            return d
    return None
