"""Refuse, before minutes are wasted, a llama.cpp build that Valgrind cannot run.

Valgrind 3.19's instruction decoder has no AVX-512 (EVEX), AVX-VNNI or AMX support. A
llama-cpp-python built with the default `-march=native` on a CPU that has
AVX-512 uses it in `ggml_cpu_init`, and the guest dies with SIGILL after
Valgrind prints "vex amd64->IR: unhandled instruction bytes". Two cheap checks
before the run: the CPU features the build was compiled with (llama's system
info, read in a child process so this process never loads the library), and a
disassembly scan of the single ggml CPU library for AVX-512 registers and
mask operations (cached by path, size and mtime). After a failed run the
Valgrind log is read for the decoder's message, so the user gets the fix
instead of a bare "exit 132".
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from profiler.errors import Unsupported

LLAMA_VERSION = "0.3.36"
FIX = (
    "reinstall llama-cpp-python without -march=native: "
    "CMAKE_ARGS='-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON' "
    f"pip install --force-reinstall --no-cache-dir llama-cpp-python=={LLAMA_VERSION}"
)

# features in llama_print_system_info() that Valgrind 3.19 cannot decode
_UNDECODABLE = re.compile(r"\b(AVX512\w*|AMX_\w+|AVX_VNNI)\s*=\s*1\b")

# what a disassembly of AVX-512 code shows: zmm registers, xmm/ymm16-31 (EVEX only),
# opmask registers in masking or k-instructions, EVEX-only mnemonics
_EVEX_ASM = re.compile(
    rb"%zmm\d|%[xy]mm(1[6-9]|2\d|3[01])\b|\{%k[1-7]\}|\bk(mov|and|andn|or|xor|xnor|not|shiftl|shiftr"
    rb"|test|ortest|unpck|add)[bwdq]\b|\bvpternlog[dq]\b|\bvperm[it]2"
    rb"|\{vex\} vpdp"  # AVX-VNNI: VEX-encoded, and Valgrind 3.19 cannot decode it either
)

# what Valgrind writes when its decoder meets such an instruction
_LOG_SIGNS = (
    re.compile(r"vex \S+->IR: unhandled instruction bytes"),
    re.compile(r"valgrind: Unrecognised instruction at address"),
)
_SIGILL = re.compile(r"Process terminating with default action of signal 4 \(SIGILL\)")


def system_info(python: str | None = None, timeout: float = 120) -> str | None:
    """llama's `llama_print_system_info()` of the installed build, or None if llama_cpp does not import."""
    code = "import llama_cpp,sys; sys.stdout.write(llama_cpp.llama_print_system_info().decode(errors='replace'))"
    try:
        out = subprocess.run([python or sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def undecodable_features(info: str) -> list[str]:
    """Features the build uses that Valgrind 3.19 cannot decode, from llama's system info text."""
    return sorted(set(_UNDECODABLE.findall(info)))


def ggml_cpu_libraries() -> list[Path]:
    """The ggml CPU backend libraries shipped with the installed llama_cpp package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    pkg = Path(list(spec.submodule_search_locations)[0])
    # wheels copy the versioned names (libggml-cpu.so.0.25.3) instead of linking them: one per variant
    found = {p for d in (pkg / "lib", pkg) for p in d.glob("libggml-cpu*.so")}
    return sorted(found)


def _cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "memprof" / "evex-scan.json"


def library_uses_avx512(lib: Path) -> bool | None:
    """Disassemble `lib` and report whether it contains AVX-512 instructions; None without objdump.

    Cached by (path, size, mtime): the scan takes a few seconds and the library rarely changes."""
    objdump = shutil.which("objdump")
    if not objdump:
        return None
    st = lib.stat()
    key = f"{lib}:{st.st_size}:{int(st.st_mtime)}"
    cache_file = _cache_path()
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return bool(cache[key])
    proc = subprocess.Popen([objdump, "-d", "--no-show-raw-insn", str(lib)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    found = False
    assert proc.stdout is not None
    for line in proc.stdout:
        if _EVEX_ASM.search(line):
            found = True
            break
    proc.stdout.close()
    proc.kill()
    proc.wait()
    cache[key] = found
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps(cache))
    except OSError:
        pass
    return found


def check_llama_build(*, scan: bool = True, python: str | None = None) -> dict:
    """Raise Unsupported when the installed llama.cpp build would stop Valgrind; return what was checked.

    With several CPU variants (GGML_CPU_ALL_VARIANTS) the loader picks one by CPUID,
    and Valgrind's CPUID hides AVX-512, so only a single-library build is scanned."""
    info = system_info(python)
    report: dict = {"system_info": info, "libraries": [], "avx512_in_library": None}
    if info:
        bad = undecodable_features(info)
        if bad:
            raise Unsupported(
                f"this llama-cpp-python build uses {', '.join(bad)}, which Valgrind 3.19 cannot run "
                f"(SIGILL in ggml_cpu_init); {FIX}"
            )
    libs = ggml_cpu_libraries()
    report["libraries"] = [str(p) for p in libs]
    if scan and len(libs) == 1:
        uses = library_uses_avx512(libs[0])
        report["avx512_in_library"] = uses
        if uses:
            raise Unsupported(
                f"{libs[0].name} contains AVX-512 instructions, which Valgrind 3.19 cannot run "
                f"(SIGILL in ggml_cpu_init); {FIX}"
            )
    return report


def diagnose_log(text: str) -> str | None:
    """The reason a Valgrind run died, when its log shows the decoder gave up on an instruction."""
    for sign in _LOG_SIGNS:
        m = sign.search(text)
        if m:
            line = text[m.start():].splitlines()[0].strip()
            return f"Valgrind could not decode an instruction ({line})"
    if _SIGILL.search(text):
        return "the program died of SIGILL under Valgrind (an instruction Valgrind or the CPU cannot run)"
    return None


def check_logs(paths: list[Path], *, llama: bool = True) -> None:
    """Raise Unsupported naming the cause (and, for the llama loop, the fix) if a Valgrind log
    shows an unhandled instruction."""
    for p in paths:
        try:
            text = Path(p).read_text(errors="replace")
        except OSError:
            continue
        why = diagnose_log(text)
        if why:
            # a user command that loads llama.cpp dies in libggml: the same fix applies
            hint = FIX if llama or "ggml" in text else "build the program without AVX-512 (e.g. -march=x86-64-v3)"
            raise Unsupported(f"{why}, see {p}; {hint}")
