"""Backends: the command lines they build (checked by really running them on `true`),
the Valgrind preflight on real logs and real compiled code, the time estimate's rules."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from profiler import backends
from profiler.backends import estimate, valgrind_preflight
from profiler.backends.options import HeaptrackOptions, MassifOptions, MemcheckOptions, MemrayOptions
from profiler.errors import BadInput, ToolMissing, UsageProblem
from testkit import memprof_process, need, needs

DATA = Path(__file__).resolve().parents[1] / "data" / "valgrind"
LOOP_ARGV = [sys.executable, "-m", "profiler.workload.child", "/r/loop.json"]


def test_massif_argv(tmp_path):
    w = backends.get("massif").wrap(LOOP_ARGV, tmp_path, MassifOptions(pages_as_heap=True, threshold=0.5))
    cap = tmp_path / "capture"
    assert w.argv == [
        "valgrind", "--tool=massif", "--child-silent-after-fork=yes", "--vgdb=yes", "--time-unit=ms", "--detailed-freq=1", "--max-snapshots=200",
        f"--massif-out-file={cap}/massif.out.%p", f"--log-file={cap}/massif.%p.log",
        "--pages-as-heap=yes", "--threshold=0.5", *LOOP_ARGV,
    ]
    assert w.env == {"PYTHONMALLOC": "malloc", "OMP_WAIT_POLICY": "PASSIVE",
                     "MEMPROF_PROBE_HOLD": str((tmp_path / "probe.release").resolve())}


def test_memcheck_argv_suppressions(tmp_path):
    extra = tmp_path / "mine.supp"
    extra.write_text("")
    mc = backends.get("memcheck")
    w = mc.wrap(["./prog", "3"], tmp_path, MemcheckOptions(suppressions=(str(extra),), gen_suppressions=True))
    cap = tmp_path / "capture"
    assert w.argv[:10] == [
        "valgrind", "--tool=memcheck", "--child-silent-after-fork=yes", "--vgdb=yes", "--leak-check=full", "--show-leak-kinds=all", "--xml=yes",
        f"--xml-file={cap}/memcheck.%p.xml", f"--log-file={cap}/memcheck.%p.log", "--num-callers=40",
    ]
    supps = [a.split("=", 1)[1] for a in w.argv if a.startswith("--suppressions=")]
    shipped = sorted(str(p.resolve()) for p in backends.suppressions_dir().glob("*.supp"))
    assert {"python.supp", "ggml-init.supp"} <= {Path(s).name for s in shipped}
    assert supps == shipped + [str(extra.resolve())]
    assert w.argv[-3:] == ["--gen-suppressions=all", "./prog", "3"]
    bare = mc.wrap(["./prog"], tmp_path, MemcheckOptions(default_suppressions=False))
    assert not [a for a in bare.argv if a.startswith("--suppressions")]
    assert "--gen-suppressions=all" not in bare.argv


def test_heaptrack_argv(tmp_path):
    w = backends.get("heaptrack").wrap(["./prog", "5"], tmp_path, HeaptrackOptions())
    assert w.argv == ["heaptrack", "-o", str((tmp_path / "capture").resolve() / "heaptrack.run"), "./prog", "5"]
    assert w.env == {"PYTHONMALLOC": "malloc", "OMP_WAIT_POLICY": "PASSIVE"}


def test_memray_argv_loop_and_scripts(tmp_path):
    m = backends.get("memray")
    out = str(tmp_path / "capture" / "memray.bin")
    w = m.wrap(LOOP_ARGV, tmp_path, None)           # None: the tool's defaults (native stacks on)
    assert w.argv == [sys.executable, "-m", "memray", "run", "--force", "--quiet", "-o", out, "--native",
                      "-m", "profiler.workload.child", "/r/loop.json"]
    assert w.env == {}
    script = tmp_path / "script.py"
    script.write_text("pass\n")
    w = m.wrap([str(script), "a"], tmp_path, MemrayOptions(native=False, follow_fork=True,
                                                          trace_python_allocators=True, aggregate=True))
    assert w.argv == [sys.executable, "-m", "memray", "run", "--force", "--quiet", "-o", out, "--follow-fork",
                      "--trace-python-allocators", "--aggregate", str(script), "a"]
    with pytest.raises(UsageProblem, match="missing.py: no such script"):
        m.wrap([str(tmp_path / "missing.py")], tmp_path)
    with pytest.raises(UsageProblem, match="missing-tool: no such script"):  # a path, not "only Python"
        m.wrap([str(tmp_path / "missing-tool")], tmp_path)
    shebang = tmp_path / "tool"
    shebang.write_text("#!/usr/bin/env python3\nprint(1)\n")
    assert m.wrap([str(shebang)], tmp_path).argv[-1] == str(shebang)
    assert m.wrap(["python3", "-c", "pass"], tmp_path).argv[:2] == ["python3", "-m"]


def test_memray_refuses_native_programs(tmp_path):
    with pytest.raises(UsageProblem, match="memray profiles only Python"):
        backends.get("memray").wrap(["/bin/true"], tmp_path)


def test_unknown_backend():
    with pytest.raises(UsageProblem, match="unknown backend"):
        backends.get("callgrind")


@pytest.mark.parametrize("name,package", [("massif", "valgrind"), ("heaptrack", "heaptrack")])
def test_missing_tool_names_the_package(monkeypatch, tmp_path, name, package):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing, match=f"apt-get install {package}"):
        backends.get(name).check_available()


# ---------------------------------------------------------------- preflight


def test_unhandled_instruction_found_in_real_log():
    text = (DATA / "avx512_memcheck.log").read_text()
    why = valgrind_preflight.diagnose_log(text)
    assert why == ("Valgrind could not decode an instruction (vex amd64->IR: unhandled instruction bytes: "
                   "0x62 0xF1 0x7D 0x48 0xEF 0xC0 0xB8 0x0 0x0 0x0)")
    assert valgrind_preflight.diagnose_log((DATA / "clean_massif.log").read_text()) is None


def test_check_logs_raises_unsupported_with_the_fix():
    from profiler.errors import ExitCode, Unsupported

    with pytest.raises(Unsupported) as info:
        valgrind_preflight.check_logs([DATA / "clean_massif.log", DATA / "avx512_memcheck.log"])
    assert info.value.exit_code == ExitCode.UNSUPPORTED
    assert "CMAKE_ARGS='-DGGML_NATIVE=OFF" in str(info.value) and "\n" not in info.value.one_line()
    valgrind_preflight.check_logs([DATA / "clean_massif.log"])  # no error


def test_sigill_without_decoder_message():
    log = "==1== Process terminating with default action of signal 4 (SIGILL)\n==1==  Illegal opcode"
    assert "SIGILL" in valgrind_preflight.diagnose_log(log)


def test_system_info_features():
    # this repository's build (GGML_NATIVE=OFF) as llama_print_system_info() prints it
    ok = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | "
          "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |")
    assert valgrind_preflight.undecodable_features(ok) == []
    native = ok.replace("BMI2 = 1", "BMI2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 0 | AMX_INT8 = 1")
    assert valgrind_preflight.undecodable_features(native) == ["AMX_INT8", "AVX512", "AVX512_VNNI"]


@needs("gcc", "objdump")
def test_library_scan_finds_avx512(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = tmp_path / "k.c"
    src.write_text("void scale(float *a, int n) { for (int i = 0; i < n; i++) a[i] *= 3.0f; }\n")
    libs = {}
    for flag in ("-mavx512f", "-mavx2"):
        out = tmp_path / f"lib{flag[2:]}.so"
        subprocess.run(["gcc", "-O3", flag, "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
        libs[flag] = valgrind_preflight.library_uses_avx512(out)
    assert libs == {"-mavx512f": True, "-mavx2": False}
    # the answer is cached by path, size and mtime
    assert len((tmp_path / "cache" / "memprof" / "evex-scan.json").read_text().split(":")) >= 4


# ---------------------------------------------------------------- estimate


def _loop(tmp_path, sizes, **kw):
    from profiler.workload.config import LoopConfig

    models = []
    for i, size in enumerate(sizes):
        p = tmp_path / f"m{i}.gguf"
        with open(p, "wb") as f:
            f.truncate(size)
        models.append({"alias": f"m{i}", "path": str(p)})
    return LoopConfig(models=models, **kw)


def test_estimate_follows_the_cost_model(tmp_path):
    loop = _loop(tmp_path, [500_000_000, 1_000_000_000], iterations=3, max_tokens=2, prompt="x" * 30)
    est = estimate.estimate_run("massif", loop, share=0.5)
    c = estimate.COSTS["massif"]
    tokens = 18 + 2 - 1     # the prompt's 30 / 1.7 tokens rounded up, then max_tokens - 1 more
    assert est.tokens == tokens and est.iterations == 3 and est.model_gb == 1.0
    per_gb = c.per_gb_decode_s * 2 + c.per_gb_token_s * tokens       # 2 decodes: the prompt, token 2
    expected = c.startup_s + 3 * c.per_iteration_s + per_gb * (0.5 + 1.0 + 0.5)
    assert est.seconds == pytest.approx(expected / 0.5)     # half a core free: twice as long
    assert estimate.estimate_run("heaptrack", loop) is None
    assert estimate.estimate_run("memcheck", loop, share=0.5).seconds > est.seconds
    assert 0.05 <= estimate.cpu_share(0.05) <= 1.0


def test_estimate_asks_only_a_person_and_only_for_long_runs():
    long = estimate.Estimate("memcheck", 3600.0, 50, 30, 0.6)
    short = estimate.Estimate("memcheck", 120.0, 2, 3, 0.01)
    asked = []

    def no(question):
        asked.append(question)
        return False

    assert estimate.may_proceed(short, confirm=no, isatty=True)
    assert estimate.may_proceed(long, confirm=no, isatty=False)      # CI / pipe: never blocks
    assert estimate.may_proceed(long, assume_yes=True, confirm=no, isatty=True)
    assert not asked
    assert not estimate.may_proceed(long, confirm=no, isatty=True)
    assert asked == ["This will take about 60 min. Continue?"]
    assert estimate.describe(long).endswith("estimated 60 min (rough, within ~1.5x)")


# ---------------------------------------------------------------- command-line mistakes (no tool runs)


def _memprof(*args):
    return memprof_process(*args, timeout=120)


@pytest.mark.parametrize("args,code,message", [
    (["valgrind", "--tool", "massif", "--gen-suppressions", "--", "true"], 2, "are memcheck options"),
    (["valgrind", "--tool", "memcheck", "--pages-as-heap", "--", "true"], 2, "are massif options"),
    (["heaptrack", "--", "no-such-program-here"], 2, "no-such-program-here: command not found"),
    (["heaptrack", "--iterations", "3", "--model", "1.7b", "--", "true"], 2,
     "--model, --iterations: loop option(s), ignored by a command given after --"),
    (["valgrind", "--tool", "memcheck", "--quick", "--", "true"], 2, "--quick: loop option(s)"),
    (["valgrind", "--tool", "memcheck", "--suppressions", "/nonexistent.supp", "--", "true"], 3,
     "/nonexistent.supp: no such suppression file"),
])
def test_command_mistakes_are_one_line(tmp_path, args, code, message):
    need(args[0])
    proc = _memprof(*args[:1], "--out", str(tmp_path / "run"), *args[1:])
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code and len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "run").exists()  # nothing is created before the command is known to be runnable


# ---------------------------------------------------------------- the typed options


def test_each_option_gives_exact_flags(tmp_path):
    """tool_args is the part of the tool's argv the options decide, in a fixed order."""
    assert HeaptrackOptions().tool_args() == []
    assert MemrayOptions().tool_args() == ["--native"]
    assert MemrayOptions(native=False).tool_args() == []
    assert MemrayOptions(trace_python_allocators=True, aggregate=True, follow_fork=True).tool_args() == \
        ["--native", "--follow-fork", "--trace-python-allocators", "--aggregate"]
    assert MassifOptions().tool_args() == []
    assert MassifOptions(pages_as_heap=True, threshold=2).tool_args() == ["--pages-as-heap=yes", "--threshold=2"]
    assert MassifOptions(threshold=0.25).tool_args() == ["--threshold=0.25"]
    mine = tmp_path / "mine.supp"
    assert MemcheckOptions(default_suppressions=False).tool_args() == []
    assert MemcheckOptions(suppressions=[mine], default_suppressions=False, gen_suppressions=True,
                           leak_timeline=True).tool_args() == \
        [f"--suppressions={mine.resolve()}", "--gen-suppressions=all"]      # the timeline is no flag: vgdb
    shipped = [f"--suppressions={p.resolve()}" for p in sorted(backends.suppressions_dir().glob("*.supp"))]
    assert len(shipped) >= 2 and MemcheckOptions().tool_args() == shipped


def test_options_are_frozen_and_recorded_as_set(tmp_path):
    import dataclasses

    opts = MemcheckOptions(suppressions=[tmp_path / "a.supp"], gen_suppressions=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.gen_suppressions = False
    assert opts.suppressions == (str(tmp_path / "a.supp"),)          # a list given, a tuple kept
    assert opts.to_meta() == {"suppressions": [str(tmp_path / "a.supp")], "gen_suppressions": True}
    assert MemcheckOptions(default_suppressions=False).to_meta() == {"default_suppressions": False}
    assert MemrayOptions().to_meta() == {"native": True} and HeaptrackOptions().to_meta() == {}
    assert MassifOptions(threshold=0.0).to_meta() == {"threshold": 0.0}
    with pytest.raises(BadInput, match="a.supp: no such suppression file"):
        opts.check()
    with pytest.raises(UsageProblem, match="--threshold 101 is outside 0-100"):
        MassifOptions(threshold=101)


def test_valgrind_flags_go_to_their_tool_only():
    from profiler.backends.options import valgrind_options

    assert valgrind_options("massif", pages_as_heap=True, leak_timeline=True) == MassifOptions(pages_as_heap=True)
    assert valgrind_options("memcheck", no_default_suppressions=True, leak_timeline=True) == \
        MemcheckOptions(default_suppressions=False, leak_timeline=True)
    with pytest.raises(UsageProblem, match="are memcheck options"):
        valgrind_options("massif", gen_suppressions=True)
    with pytest.raises(UsageProblem, match="are massif options"):
        valgrind_options("memcheck", threshold=0.0)


def test_a_backend_refuses_another_tools_options(tmp_path):
    with pytest.raises(TypeError, match="massif takes MassifOptions, not MemcheckOptions"):
        backends.get("massif").wrap(["./prog"], tmp_path, MemcheckOptions())
    assert backends.get("memcheck").stop_hooks(tmp_path, MemcheckOptions(leak_timeline=True)).timeline is True
    assert backends.get("memcheck").stop_hooks(tmp_path).timeline is False


def test_heaptrack_names_the_signal_behind_its_launchers_status():
    h = backends.get("heaptrack")
    assert h.exit_note(139) == " (the program was killed by SIGSEGV)"
    assert h.exit_note(134) == " (the program was killed by SIGABRT)"
    assert h.exit_note(1) == h.exit_note(None) == h.exit_note(128) == ""
    assert backends.get("massif").exit_note(139) == ""
