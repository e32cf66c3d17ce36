"""Name address-only frames (`??? (in /path/obj)`) from the module's ELF symbol table.

Valgrind prints `???` when the binary it ran was stripped, yet the same build with
symbols is often at hand (a debug twin, the unstripped artifact of a CI build).
Given the module path and an address we look the function up in `.symtab`
(else `.dynsym`) with pyelftools. Only addresses we can place are answered: a
non-PIE executable (ET_EXEC) is linked at fixed addresses; for a shared object
or PIE the caller must pass the load base. Symbol tables are read once per
module and searched by bisection.

`MEMPROF_SYMBOL_PATH` (directories separated by `:`) names places to look for a
twin with the same file name when the recorded module has no symbols or no
longer exists (a capture made on another machine).
"""
from __future__ import annotations

import bisect
import os
from pathlib import Path

_cache: dict[str, "_SymbolTable | None"] = {}


class _SymbolTable:
    """Function symbols of one ELF file, sorted by start address."""

    def __init__(self, starts: list[int], ends: list[int], names: list[str], is_exec: bool):
        self.starts, self.ends, self.names, self.is_exec = starts, ends, names, is_exec

    def lookup(self, offset: int) -> str | None:
        i = bisect.bisect_right(self.starts, offset) - 1
        if i < 0:
            return None
        # a zero-sized symbol covers up to the next one (hand-written assembly often has size 0)
        end = self.ends[i] if self.ends[i] > self.starts[i] else (
            self.starts[i + 1] if i + 1 < len(self.starts) else self.starts[i] + 1)
        return self.names[i] if offset < end else None


def _read_table(path: str) -> _SymbolTable | None:
    try:
        from elftools.common.exceptions import ELFError
        from elftools.elf.elffile import ELFFile
    except ImportError:  # pyelftools is a dependency; without it we simply do not resolve
        return None
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            is_exec = elf.header["e_type"] == "ET_EXEC"
            syms: dict[int, tuple[int, str]] = {}
            for name in (".symtab", ".dynsym"):
                sec = elf.get_section_by_name(name)
                if sec is None:
                    continue
                for sym in sec.iter_symbols():
                    if sym["st_info"]["type"] not in ("STT_FUNC", "STT_GNU_IFUNC") or not sym["st_value"]:
                        continue
                    if sym["st_shndx"] == "SHN_UNDEF" or not sym.name:
                        continue
                    # prefer .symtab names (seen first); keep the larger size on duplicates
                    start = sym["st_value"]
                    if start not in syms:
                        syms[start] = (sym["st_size"], sym.name)
                if syms:
                    break  # .symtab found: .dynsym adds nothing new
    except (OSError, ELFError, ValueError):
        return None
    if not syms:
        return None
    starts = sorted(syms)
    return _SymbolTable(starts, [s + syms[s][0] for s in starts], [syms[s][1] for s in starts], is_exec)


def _candidates(module: str):
    yield module
    for d in os.environ.get("MEMPROF_SYMBOL_PATH", "").split(os.pathsep):
        if d:
            yield str(Path(d) / Path(module).name)


def symbol_table(module: str) -> _SymbolTable | None:
    """The first readable symbol table for `module` (itself, then MEMPROF_SYMBOL_PATH twins); cached."""
    key = module + "\0" + os.environ.get("MEMPROF_SYMBOL_PATH", "")
    if key not in _cache:
        table = None
        for cand in _candidates(module):
            if os.path.isfile(cand):
                table = _read_table(cand)
                if table is not None:
                    break
        _cache[key] = table
    return _cache[key]


def resolve(module: str | None, address: int | None, load_base: int | None = None) -> str | None:
    """Function name containing `address` in `module`, or None when it cannot be placed.

    Without `load_base` only fixed-address executables (non-PIE) are resolved; a
    shared object's or PIE's runtime addresses mean nothing without its base."""
    if not module or address is None or module.startswith(("[", "???")):
        return None
    table = symbol_table(module)
    if table is None:
        return None
    if load_base is None:
        if not table.is_exec:
            return None
        offset = address
    else:
        offset = address - load_base
    return table.lookup(offset)


def clear_cache() -> None:
    _cache.clear()
