"""Valgrind suppression files written for what a memcheck run found.

Once a memcheck run's one-time allocations have been reviewed, suppressing
them makes the next run show only what is new. A record's suppression comes
from the XML's own <suppression> block when the run had --gen-suppressions
(exact, mangled C++ names), else it is built from the record's stack: C names
as they are, demangled C++ names as wildcards over their identifiers
(`ns::Loader::load(int)` -> `fun:*ns*Loader*load*`, which matches the mangled
`_ZN2ns6Loader4loadEi`; Valgrind matches `fun:` against mangled names only),
frames without a function by their object. Only the innermost few frames are
kept, followed by `...`, so the suppression survives different callers of the
same site. Identical suppressions are written once.

The XML is read by the memcheck parser's own reader (`memcheck.iter_errors`), the
one place memcheck XML is parsed (DTDs and entities refused, streaming). Having
Valgrind check the written file is the backend's job (backends/suppressions.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from profiler.errors import BadInput, UsageProblem
from profiler.parsers import _stacks, memcheck
from profiler.parsers.memcheck import LEAK_KINDS

DEFAULT_FRAMES = 8
MAX_FRAMES = 24  # Valgrind refuses longer suppressions
HEADER = """\
# Valgrind memcheck suppressions written by `memprof suppressions` from
#   {source}
# {count} suppression(s), one per distinct site and leak kind, largest first.
# REVIEW BEFORE REUSE: each entry hides every future report of its site. Keep
# only one-time allocations you have checked (initialisation, caches that
# plateau); a site that grows with every iteration is the leak you are hunting.
# Use: memprof valgrind --tool memcheck --suppressions THIS_FILE ...
#      (or valgrind --suppressions=THIS_FILE ...)
"""
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.$@]+$")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Record:
    """One memcheck <error> as far as suppressions need it (made from memcheck.ErrorRecord)."""

    kind: str
    bytes: int = 0
    blocks: int = 0
    frames: list[tuple[str | None, str | None]] = field(default_factory=list)  # (fn, obj), innermost first
    skind: str | None = None         # from <suppression>, when generated
    skaux: list[str] = field(default_factory=list)
    sframes: list[str] = field(default_factory=list)  # "fun:NAME" / "obj:PATH"


@dataclass
class Suppression:
    name: str
    kind: str
    aux: list[str]
    lines: list[str]
    bytes: int = 0
    records: int = 0

    def render(self) -> str:
        body = [f"   {self.name}", f"   {self.kind}", *(f"   {a}" for a in self.aux), *(f"   {ln}" for ln in self.lines)]
        return "{\n" + "\n".join(body) + "\n}\n"


def read_records(path: Path) -> Iterator[Record]:
    """Stream the <error> records of a memcheck XML file through the memcheck reader (a file cut
    short by a killed run yields every complete record)."""
    for err in memcheck.iter_errors(Path(path)):
        yield Record(kind=err.kind or "", bytes=err.bytes or 0, blocks=err.blocks or 0,
                     frames=[(f.function, f.module) for f in err.frames],
                     skind=err.skind, skaux=list(err.skaux), sframes=list(err.sframes))


def frame_line(fn: str | None, obj: str | None) -> str:
    """The suppression line matching one frame (see the module docstring)."""
    if fn and fn != "???":
        if _PLAIN_NAME.match(fn):
            return f"fun:{fn}"
        name = fn.split("(", 1)[0]
        name = re.sub(r"<[^<>]*>", "", re.sub(r"<[^<>]*>", "", name))  # two levels of template arguments
        words = [w for w in _IDENT.findall(name) if w not in ("const", "unsigned", "long", "int", "char")]
        if words:
            return "fun:*" + "*".join(words) + "*"
    if obj:
        return f"obj:{obj}"
    return "fun:*"


def _site(frames: list[tuple[str | None, str | None]]) -> str:
    for fn, obj in frames:
        if fn and fn != "???" and not _stacks.is_allocator(fn) and not fn.startswith("operator new"):
            return re.sub(r"[^A-Za-z0-9_:.]+", "_", fn.split("(", 1)[0])[:80]
    for fn, obj in frames:
        if obj:
            return Path(obj).name
    return "unknown"


def suppression_for(rec: Record, frames: int = DEFAULT_FRAMES) -> Suppression | None:
    """The suppression of one record, or None when it cannot be built (a non-leak error without
    a generated <suppression>, whose kind name needs details the XML does not give)."""
    leak = LEAK_KINDS.get(rec.kind)
    if rec.skind and rec.sframes:
        kind, aux, lines = rec.skind, list(rec.skaux), list(rec.sframes)
    elif leak:
        kind, aux = "Memcheck:Leak", [f"match-leak-kinds: {leak}"]
        lines = [frame_line(fn, obj) for fn, obj in rec.frames]
    else:
        return None
    if not lines:
        return None
    frames = max(1, min(frames, MAX_FRAMES - 1))
    if len(lines) > frames:
        lines = lines[:frames] + ["..."]
    label = leak or kind.split(":", 1)[-1]
    return Suppression(f"memprof:{_site(rec.frames)}:{label}", kind, aux, lines, rec.bytes, 1)


def build(paths: list[Path], frames: int = DEFAULT_FRAMES) -> tuple[list[Suppression], int]:
    """Deduplicated suppressions for every record in `paths`, largest first; and how many records
    could not be turned into one."""
    by_key: dict[tuple, Suppression] = {}
    skipped = 0
    for p in paths:
        for rec in read_records(p):
            s = suppression_for(rec, frames)
            if s is None:
                skipped += 1
                continue
            key = (s.kind, tuple(s.aux), tuple(s.lines))
            if key in by_key:
                by_key[key].bytes += s.bytes
                by_key[key].records += 1
            else:
                by_key[key] = s
    out = sorted(by_key.values(), key=lambda s: (-s.bytes, s.name))
    seen: dict[str, int] = {}
    for s in out:
        n = seen[s.name] = seen.get(s.name, 0) + 1
        if n > 1:
            s.name = f"{s.name}#{n}"
    return out, skipped


def render(supps: list[Suppression], source: str) -> str:
    parts = [HEADER.format(source=source, count=len(supps))]
    for s in supps:
        parts.append(f"# {s.bytes} bytes in {s.records} record(s)\n" + s.render())
    return "\n".join(parts)


def memcheck_xml_files(path: Path) -> list[Path]:
    """The memcheck XML files of a run directory (capture/memcheck.*.xml), or the file itself."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise BadInput(f"{path}: no such run directory or file")
    found = sorted((path / "capture").glob("memcheck.*.xml")) or sorted(path.glob("memcheck.*.xml"))
    if not found:
        raise BadInput(f"{path}: no memcheck XML (capture/memcheck.*.xml): run `memprof valgrind --tool memcheck` first")
    return found


def write_for_run(path: Path, out: Path | None = None, frames: int = DEFAULT_FRAMES) -> tuple[Path, int, int]:
    """Write suppressions for what the memcheck run at `path` found; (file, written, skipped)."""
    xmls = memcheck_xml_files(Path(path))
    supps, skipped = build(xmls, frames)
    path = Path(path)
    if out is None:
        out = (path if path.is_dir() else path.parent) / "memcheck.supp"
    try:
        Path(out).write_text(render(supps, ", ".join(str(p) for p in xmls)))
    except OSError as exc:
        # an impossible -o (or a read-only run directory) is the user's to change, not a bug
        raise UsageProblem(f"cannot write suppressions to {out}: {exc.strerror or exc}",
                           hint="choose another file with -o") from None
    return Path(out), len(supps), skipped
