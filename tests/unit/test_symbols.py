"""profiler.symbols on real binaries compiled here; `nm` gives the expected addresses."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from profiler import symbols
from testkit import need

SOURCE = r"""
#include <stdlib.h>
__attribute__((noinline)) void *alpha_alloc(size_t n) { return malloc(n + 1); }
__attribute__((noinline)) static void *beta_helper(int i) { return alpha_alloc((size_t)i * 3); }
int main(int argc, char **argv) { (void)argv; free(beta_helper(argc)); return 0; }
"""


def tool(name):
    need(name)
    return shutil.which(name)


def build(tmp_path, name, *flags) -> Path:
    src = tmp_path / "prog.c"
    src.write_text(SOURCE)
    out = tmp_path / name
    subprocess.run([tool("gcc"), "-O1", "-g", *flags, "-o", str(out), str(src)], check=True)
    return out


def nm(binary: Path) -> dict[str, tuple[int, int]]:
    """name -> (address, size) of the text symbols, from `nm -S`."""
    out = subprocess.run([tool("nm"), "-S", str(binary)], check=True, capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT":
            syms[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
    return syms


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch):
    monkeypatch.delenv("MEMPROF_SYMBOL_PATH", raising=False)
    symbols.clear_cache()
    yield
    symbols.clear_cache()


def test_non_pie_executable(tmp_path):
    exe = build(tmp_path, "nopie", "-no-pie", "-fno-pie")
    syms = nm(exe)
    for name in ("alpha_alloc", "beta_helper", "main"):
        addr, size = syms[name]
        assert symbols.resolve(str(exe), addr) == name
        assert symbols.resolve(str(exe), addr + size - 1) == name
    # an address in no function: before the first text symbol
    assert symbols.resolve(str(exe), 0x1000) is None


def test_pie_needs_the_load_base(tmp_path):
    exe = build(tmp_path, "pie", "-pie", "-fpie")
    addr, _ = nm(exe)["alpha_alloc"]
    base = 0x555555554000
    assert symbols.resolve(str(exe), base + addr) is None          # runtime address, base unknown
    assert symbols.resolve(str(exe), base + addr, load_base=base) == "alpha_alloc"


def test_stripped_module_uses_symbol_path_twin(tmp_path, monkeypatch):
    exe = build(tmp_path, "prog", "-no-pie", "-fno-pie")
    addr, _ = nm(exe)["beta_helper"]
    stripped_dir = tmp_path / "deployed"
    stripped_dir.mkdir()
    stripped = stripped_dir / "prog"
    shutil.copy(exe, stripped)
    subprocess.run([tool("strip"), str(stripped)], check=True)
    assert symbols.resolve(str(stripped), addr) is None           # static function: gone with .symtab
    monkeypatch.setenv("MEMPROF_SYMBOL_PATH", str(tmp_path))
    assert symbols.resolve(str(stripped), addr) == "beta_helper"


def test_unreadable_modules(tmp_path):
    text = tmp_path / "notelf"
    text.write_text("hello")
    assert symbols.resolve(str(text), 0x401000) is None
    assert symbols.resolve(str(tmp_path / "missing"), 0x401000) is None
    assert symbols.resolve(None, 0x401000) is None
    assert symbols.resolve("[vdso]", 0x401000) is None
