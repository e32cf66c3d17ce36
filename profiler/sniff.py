"""Whether the first bytes of a file are text: the one test the series reader and the pipeline
use to refuse a binary file (a compressed capture, a program) with one clear line."""
from __future__ import annotations

# Leading bytes of compressed or binary files people hand us by mistake: zstd, gzip, ELF, zip, bzip2, xz.
BINARY_MAGICS = (b"\x28\xb5\x2f\xfd", b"\x1f\x8b", b"\x7fELF", b"PK\x03\x04", b"BZh", b"\xfd7zXZ")


def looks_binary(head: bytes) -> bool:
    """True for a known binary magic, a NUL byte, or bytes that are not UTF-8 (a multi-byte
    character cut by the head's end is still text)."""
    if any(head.startswith(m) for m in BINARY_MAGICS) or b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4
    return False
