"""Parsers: one module per capture format, each turning a file into a `Capture`.

Every parser module exposes:
    FORMAT: str                              e.g. "heaptrack"
    sniff(head: bytes, path: Path) -> bool   recognise the format from the first bytes (not the name)
    parse(path, boundaries=None) -> Capture  stream the file; memory grows with distinct sites only

`boundaries` aligns the timeline to the workload's iterations: a list of
(iteration, t_end_seconds_since_process_start, wall_end_epoch_seconds) taken
from iterations.jsonl. Without it, the timeline is cut into time slices.
Errors are BadCapture with one clear line. Compressed files (zstd, gzip, bzip2) are recognised
by what they hold and read through parsers/decompress.py; a capture cut off while written is read
up to the cut and says so in meta["truncated"].
"""
from __future__ import annotations

import importlib
from pathlib import Path

from profiler.errors import BadCapture
from profiler.tables import Capture, Truncated

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


def _sniff(head: bytes, path: Path):
    """(module, compression) for `path`: the raw bytes first (heaptrack decompresses its own
    zstd/gzip stream as it reads), then the decompressed head of a compressed file."""
    from profiler.parsers import decompress

    for mod in _modules():
        if mod.sniff(head, path):
            return mod, None
    kind = decompress.compression(head)
    if kind is None:
        return None, None
    inner = decompress.peek(path, kind)
    if inner:
        for mod in _modules():
            if mod.FORMAT != "heaptrack" and mod.sniff(inner, path):
                return mod, kind
    return None, kind


def detect(path: Path) -> str | None:
    """The format name of `path`, recognised by content (through any compression), or None."""
    mod, _ = _sniff(read_head(path), Path(path))
    return mod.FORMAT if mod else None


class _NoCycleCollection:
    """The cyclic garbage collector paused while a parser runs: decoding makes millions of small
    acyclic objects (frames, stacks, strings), and each full collection the allocations trigger
    walks every one made so far. Reference counting still frees them; the collector's prior
    state is restored afterwards, also on error."""

    def __enter__(self):
        import gc

        self._was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        import gc

        if self._was:
            gc.enable()
        return False


def load_capture(path: str | Path, boundaries: list[Boundary] | None = None) -> Capture:
    with _NoCycleCollection():
        return _load_capture(path, boundaries)


def _load_capture(path: str | Path, boundaries: list[Boundary] | None) -> Capture:
    path = Path(path)
    if not path.exists():
        raise BadCapture(f"{path}: no such file")
    head = read_head(path)
    if not head:
        raise BadCapture(f"{path}: empty file")
    mod, kind = _sniff(head, path)
    if mod is None:
        raise BadCapture(
            f"{path}: not a capture memprof knows (massif.out, memcheck XML, heaptrack .zst/.gz, memray .bin"
            + (f"; {kind}-compressed" if kind else "") + ")"
        )
    if kind is None:
        return mod.parse(path, boundaries=boundaries)
    return _parse_decompressed(mod, path, kind, boundaries)


def _parse_decompressed(mod, path: Path, kind: str, boundaries) -> Capture:
    """A compressed massif/memcheck/memray file: decompressed to a temporary file (memory stays
    flat; memray's reader needs a path), parsed, and named by its own path again."""
    import shutil
    import tempfile

    from profiler.parsers import decompress

    stream = decompress.Stream(path, kind)
    tmp = tempfile.mkdtemp(prefix="memprof-")
    try:
        plain = Path(tmp) / path.name.rsplit(".", 1)[0]
        with open(plain, "wb") as out:
            for piece in decompress.pieces(stream):
                out.write(piece)
        try:
            cap = mod.parse(plain, boundaries=boundaries)
        except BadCapture as exc:
            msg = str(exc).replace(str(plain), str(path))
            if stream.truncated:
                msg += f" ({stream.truncated})"
            raise BadCapture(msg, hint=exc.hint) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cap.path = str(path)
    cap.meta = dict(cap.meta or {}, compression=kind)
    if stream.truncated and cap.truncated is None:
        cap.meta["truncated"] = Truncated(reason=stream.truncated,
                                          summary=f"capture truncated ({stream.truncated}): read up to the cut")
    return cap
