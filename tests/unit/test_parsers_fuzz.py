"""Fuzz every parser through `load_capture` with mutations of every committed real capture.

The contract under test: whatever the bytes, loading either returns a Capture
or raises BadCapture (one line); never another exception, never a traceback.
Mutations: truncation, byte flips, one number replaced by a non-count, spliced /
duplicated / dropped lines, random junk inserted, and plain random bytes. Compressed heaptrack captures are
mutated both as raw bytes and as their decompressed text (then re-compressed),
so the parser's own logic is reached and not only the decompressor's checks.
Bounded: a fixed number of examples per format, no deadline per example;
memray gets fewer because every memray read runs in its own child process
(memray's C++ reader can abort or segfault on corrupt input, which this test
found), and that child costs a Python start-up plus memray's import.
"""
from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiler.errors import BadCapture
from profiler.parsers import detect, load_capture
from profiler.tables import SITE_COLUMNS

DATA = Path(__file__).resolve().parents[1] / "data"
FORMATS = ["heaptrack", "massif", "memcheck", "memray"]
_NUMBER = re.compile(rb"[0-9]+")
EXAMPLES = {"heaptrack": 120, "massif": 150, "memcheck": 300, "memray": 40}


def _fixtures(fmt: str) -> list[Path]:
    out = []
    for p in sorted(DATA.rglob("*")):
        if p.is_file() and p.stat().st_size < 1_000_000:
            try:
                if detect(p) == fmt:
                    out.append(p)
            except BadCapture:
                pass
    return out


FIXTURES = {fmt: _fixtures(fmt) for fmt in FORMATS}


def test_every_format_has_fixtures():
    for fmt in FORMATS:
        assert FIXTURES[fmt], f"no committed {fmt} capture under tests/data"


def _codec(data: bytes):
    """(decompress, compress) for a compressed heaptrack capture, or None for plain files."""
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress, lambda b: gzip.compress(b, mtime=0)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        return (lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
                lambda b: zstandard.ZstdCompressor().compress(b))
    return None


@st.composite
def mutations(draw, data: bytes) -> bytes:
    op = draw(st.sampled_from(["truncate", "flip", "splice", "drop", "junk", "random", "tail", "number", "number"]))
    n = len(data)
    if op == "number":
        # numbers carry every figure: replace one with something that is not a plain count
        runs = [m.span() for m in _NUMBER.finditer(data[:200_000])]
        if runs:
            a, b = draw(st.sampled_from(runs))
            repl = draw(st.sampled_from([b"", b"-1", b"x", b"1e9", b"99999999999999999999999", b"0x",
                                         b"-0", b" ", b"nan"]) | st.binary(min_size=1, max_size=6))
            return data[:a] + repl + data[b:]
        op = "flip"
    if op == "truncate":
        return data[: draw(st.integers(0, max(n - 1, 0)))]
    if op == "tail":
        return data[draw(st.integers(1, max(n - 1, 1))):]
    if op == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, n - 1))
            out[i] ^= draw(st.integers(1, 255))
        return bytes(out)
    if op == "random":
        return draw(st.binary(min_size=1, max_size=4096))
    lines = data.split(b"\n")
    if op == "junk":
        i = draw(st.integers(0, len(lines)))
        lines.insert(i, draw(st.binary(max_size=64)))
        return b"\n".join(lines)
    i = draw(st.integers(0, len(lines) - 1))
    j = draw(st.integers(i, min(len(lines), i + 40)))
    if op == "drop":
        return b"\n".join(lines[:i] + lines[j:])
    # splice: copy a run of lines to another place (repeats records, breaks nesting/order)
    k = draw(st.integers(0, len(lines)))
    return b"\n".join(lines[:k] + lines[i:j] + lines[k:])


@st.composite
def fuzzed(draw, fmt: str):
    path = draw(st.sampled_from(FIXTURES[fmt]))
    data = path.read_bytes()
    codec = _codec(data)
    if codec and draw(st.booleans()):
        try:
            text = codec[0](data)
        except Exception:  # noqa: BLE001 - a committed bad-input fixture (e.g. a corrupt frame)
            text = None
        if text is not None:
            return path.name, codec[1](draw(mutations(text)))
    return path.name, draw(mutations(data))


def _check(tmp_path: Path, name: str, blob: bytes) -> None:
    p = tmp_path / f"fuzz-{name}"
    p.write_bytes(blob)
    try:
        cap = load_capture(p)
    except BadCapture as exc:
        msg = exc.one_line()
        assert msg and "\n" not in msg
        return
    # accepted: it must still be a coherent Capture
    assert list(cap.sites.columns) == SITE_COLUMNS
    assert cap.sites.site_id.is_unique


@pytest.mark.parametrize("fmt", FORMATS)
def test_fuzz_only_badcapture_escapes(fmt, tmp_path_factory):
    if not FIXTURES[fmt]:
        pytest.fail(f"no {fmt} fixtures")
    tmp = tmp_path_factory.mktemp(f"fuzz-{fmt}")

    @settings(max_examples=EXAMPLES[fmt], deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(fuzzed(fmt))
    def run(sample):
        _check(tmp, *sample)

    run()
