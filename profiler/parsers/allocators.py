"""Which frames are the allocator: read from the shipped rules (profiler/rules/*.toml, the
`allocators` list of each file's [plumbing] table), the one place that list is kept.

A parser names a site after the innermost frame that is not an allocator entry point, so
`malloc` called from `llama_model_load` is a site of llama_model_load. libc.toml holds the C
allocator (glibc's aliases and Valgrind's replacement names included); python.toml holds
CPython's allocator layers, which the memray parser skips as well. Entries are exact names,
or shell globs (`operator new*`: C++ entry points carry their signature).
"""
from __future__ import annotations

import fnmatch
import re
import tomllib
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=None)
def _names(file: str) -> tuple[frozenset, re.Pattern | None]:
    data = tomllib.loads((resources.files("profiler") / "rules" / file).read_text(encoding="utf-8"))
    names = data.get("plumbing", {}).get("allocators", [])
    exact = frozenset(n for n in names if not any(ch in n for ch in "*?["))
    globs = [fnmatch.translate(n) for n in names if n not in exact]
    return exact, re.compile("|".join(globs)) if globs else None


def _match(file: str, function: str | None) -> bool:
    if not function:
        return False
    exact, rx = _names(file)
    return function in exact or (rx is not None and rx.match(function) is not None)


def is_allocator(function: str | None) -> bool:
    """True for C allocator entry points (libc.toml), which hand memory out for the caller."""
    return _match("libc.toml", function)


def is_python_allocator(function: str | None) -> bool:
    """True for CPython's allocator layers (python.toml)."""
    return _match("python.toml", function)
