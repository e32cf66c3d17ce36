"""Parsers: one module per capture format, each turning a file into a `Capture`.

Every parser module exposes:
    FORMAT: str                              e.g. "heaptrack"
    sniff(head: bytes, path: Path) -> bool   recognise the format from the first bytes (not the name)
    parse(path, boundaries=None) -> Capture  stream the file; memory grows with distinct sites only

`boundaries` aligns the timeline to the workload's iterations: a list of
(iteration, t_end_seconds_since_process_start, wall_end_epoch_seconds) taken
from iterations.jsonl. Without it, the timeline is cut into time slices.
Errors are BadCapture with one clear line.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from profiler.errors import BadCapture
from profiler.tables import Capture

# order matters only for speed; sniffers must be mutually exclusive
PARSER_MODULES = ["heaptrack", "massif", "memcheck", "memray_bin", "memcheck_monitor"]

Boundary = tuple[int, float, float]


def _modules():
    for name in PARSER_MODULES:
        yield importlib.import_module(f"profiler.parsers.{name}")


def read_head(path: Path, n: int = 4096) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except IsADirectoryError:
        raise BadCapture(f"{path}: is a directory, not a capture") from None
    except OSError as exc:
        raise BadCapture(f"{path}: cannot read ({exc.strerror})") from None


def detect(path: Path) -> str | None:
    """The format name of `path`, recognised by content, or None."""
    head = read_head(path)
    for mod in _modules():
        if mod.sniff(head, path):
            return mod.FORMAT
    return None


def load_capture(path: str | Path, boundaries: list[Boundary] | None = None) -> Capture:
    path = Path(path)
    if not path.exists():
        raise BadCapture(f"{path}: no such file")
    head = read_head(path)
    if not head:
        raise BadCapture(f"{path}: empty file")
    for mod in _modules():
        if mod.sniff(head, path):
            return mod.parse(path, boundaries=boundaries)
    raise BadCapture(
        f"{path}: not a capture memprof knows (massif.out, memcheck XML, heaptrack .zst/.gz, memray .bin)"
    )
