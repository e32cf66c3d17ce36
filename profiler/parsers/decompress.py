"""Decompression every capture goes through: zstd, gzip and bzip2, told by their magic bytes.

Tools and users compress captures (heaptrack writes zstd or gzip itself; a massif.out or a
memcheck XML file sent by someone else is often .gz or .bz2). Detection and parsing see the
decompressed bytes, so a format is recognised by its content whatever wraps it. A stream
that ends early (the machine or the profiler was killed while writing) is read up to the cut
and reported as truncated, never refused: that partial capture may be the only evidence.
Concatenated frames or members (`cat a.zst b.zst`) are read on.
"""
from __future__ import annotations

import bz2
import zlib
from dataclasses import dataclass
from pathlib import Path

from profiler.errors import BadCapture

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
READ_SIZE = 1 << 16          # compressed bytes per read
PIECE_MAX = 1 << 20          # decompressed bytes per piece (text compresses up to 1000:1)


def compression(head: bytes) -> str | None:
    """'zstd', 'gzip', 'bzip2' or None (not compressed, as far as the magic says)."""
    if head[:4] == ZSTD_MAGIC:
        return "zstd"
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    if head[:3] == BZIP2_MAGIC and head[3:4].isdigit() and head[4:10] == b"\x31\x41\x59\x26\x53\x59":
        return "bzip2"
    return None


@dataclass
class Stream:
    """State of one decompression: `truncated` names how the stream ended early, once read."""

    path: Path
    kind: str | None
    truncated: str | None = None


def zstd_complete(path: Path) -> bool:
    """Walk the zstd frame and block headers (RFC 8878) without decompressing: True when every
    frame ends with its last block (and checksum). zstandard's streaming readers stop quietly at
    the end of a cut-off file, so this is how a truncated capture is told from a finished one."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        pos = 0
        while pos < size:
            f.seek(pos)
            magic = f.read(4)
            if len(magic) < 4:
                return False
            if magic[1:] == b"\x2a\x4d\x18" and 0x50 <= magic[0] <= 0x5F:   # skippable frame
                n = f.read(4)
                if len(n) < 4:
                    return False
                pos += 8 + int.from_bytes(n, "little")
                continue
            if magic != ZSTD_MAGIC:
                return False
            fhd = f.read(1)
            if not fhd:
                return False
            d = fhd[0]
            single = (d >> 5) & 1
            fcs = {0: single, 1: 2, 2: 4, 3: 8}[d >> 6]
            pos += 5 + (0 if single else 1) + (0, 1, 2, 4)[d & 3] + fcs
            checksum = (d >> 2) & 1
            while True:
                f.seek(pos)
                h = f.read(3)
                if len(h) < 3:
                    return False
                v = int.from_bytes(h, "little")
                last, btype, bsize = v & 1, (v >> 1) & 3, v >> 3
                pos += 3 + (1 if btype == 1 else bsize)
                if pos > size:
                    return False
                if last:
                    break
            pos += 4 * checksum
            if pos > size:
                return False
    return True


def pieces(stream: Stream):
    """Decompressed pieces of at most PIECE_MAX bytes. A stream cut short ends quietly with
    `stream.truncated` set; corrupt data is BadCapture."""
    path, kind = stream.path, stream.kind
    if kind is None:
        with open(path, "rb") as f:
            while True:
                data = f.read(PIECE_MAX)
                if not data:
                    return
                yield data
    if kind == "zstd":
        import zstandard

        if not zstd_complete(path):
            stream.truncated = "the zstd stream ends inside a frame"
        with open(path, "rb") as f:
            reader = zstandard.ZstdDecompressor().stream_reader(f, read_size=READ_SIZE, read_across_frames=True)
            while True:
                try:
                    out = reader.read(PIECE_MAX)
                except zstandard.ZstdError as exc:
                    if stream.truncated:
                        return            # the cut-off block at the end: what came before stands
                    raise BadCapture(f"{path}: corrupted zstd stream ({exc})") from None
                if not out:
                    return
                yield out
    if kind == "gzip":
        new = lambda: zlib.decompressobj(wbits=31)  # noqa: E731
        err, what = zlib.error, "gzip"
    else:
        new = bz2.BZ2Decompressor
        err, what = OSError, "bzip2"
    dobj = new()
    with open(path, "rb") as f:
        while True:
            data = f.read(READ_SIZE)
            if not data:
                break
            while data:
                try:
                    if kind == "gzip":
                        out = [dobj.decompress(data, PIECE_MAX)]
                        rest = dobj.unused_data if dobj.eof else dobj.unconsumed_tail
                    else:
                        out = [dobj.decompress(data, PIECE_MAX)]
                        while not dobj.eof and not dobj.needs_input:
                            out.append(dobj.decompress(b"", PIECE_MAX))
                        rest = dobj.unused_data if dobj.eof else b""
                except err as exc:
                    raise BadCapture(f"{path}: corrupted {what} stream ({exc})") from None
                for o in out:
                    if o:
                        yield o
                if dobj.eof and rest:
                    dobj = new()
                data = rest
    if not dobj.eof:
        stream.truncated = f"the {what} stream ends early"


def peek(path: Path, kind: str | None, n: int = 4096) -> bytes:
    """The first `n` decompressed bytes (reads at most a few MB: a zstd block needs whole input);
    b"" when nothing decompresses."""
    if kind is None:
        with open(path, "rb") as f:
            return f.read(n)
    out = b""
    try:
        for piece in pieces(Stream(path, kind)):
            out += piece
            if len(out) >= n:
                break
    except BadCapture:
        pass
    return out[:n]
