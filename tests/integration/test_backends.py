"""Every backend through the CLI, for real: the tiny-twin switch loop, the planted C
program (and its Python driver for memray), a missing tool, a crashing program,
a build Valgrind cannot decode, and memcheck suppressions written and reused."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from profiler import rundir
from testkit import memprof_process, need, needs

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "workloads" / "planted_driver.py"
AVX512_SRC = ROOT / "tests" / "data" / "valgrind" / "avx512.c"
KIB = 1024
needs_valgrind = needs("valgrind")
needs_heaptrack = needs("heaptrack")


def memprof(*args, env=None, timeout=600):
    return memprof_process(*args, env=env, timeout=timeout, cwd=ROOT)


TOOL = {"massif": "valgrind", "memcheck": "valgrind", "heaptrack": "heaptrack", "memray": "memray"}


def one_error_line(proc) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("memprof: error: ") and "Traceback" not in proc.stderr
    return lines[0]


def capture_totals(run_dir: Path) -> tuple[str, dict]:
    analysis = json.loads((run_dir / rundir.ANALYSIS).read_text())
    [cap] = analysis["captures"]
    return cap["format"], cap["totals"]


def records(run_dir: Path) -> list[dict]:
    return list(rundir.iter_records(run_dir / rundir.ITERATIONS))


def loop_args(tiny_models) -> list[str]:
    return ["--quick", "--model", "tiny-0.6b", "--model", "tiny-1.7b",
            "--model-path", f"tiny-0.6b={tiny_models['tiny-0.6b']}",
            "--model-path", f"tiny-1.7b={tiny_models['tiny-1.7b']}", "--iterations", "2", "--threads", "2"]


# ---------------------------------------------------------------- the switch loop


LOOP_CASES = {
    "memray": (["memray"], "memray.bin"),
    "massif": (["valgrind", "--tool", "massif", "--max-tokens", "1"], "massif.out.*"),
    "memcheck": (["valgrind", "--tool", "memcheck", "--max-tokens", "1"], "memcheck.*.xml"),
    "heaptrack": (["heaptrack"], "heaptrack.run.zst"),
}


RECORDED_OPTIONS = {"memray": {"native": True}, "massif": {}, "memcheck": {"leak_timeline": True}, "heaptrack": {}}


@pytest.mark.parametrize("backend", list(LOOP_CASES))
def test_loop_under_each_backend(backend, tiny_models, tmp_path):
    need("llama_cpp", TOOL[backend])
    cmd, pattern = LOOP_CASES[backend]
    run = tmp_path / "run"
    proc = memprof(*cmd, *loop_args(tiny_models), "--out", run)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "VERDICT" in proc.stdout

    # massif's state after the collection probe (massif.out.PID.probe) is part of its capture, not another
    [capture] = [p for p in (run / "capture").glob(pattern) if not p.name.endswith(rundir.PROBE_STATE_SUFFIX)]
    assert capture.stat().st_size > 0
    recs = records(run)
    assert [(r["iteration"], r["model"], r["status"]) for r in recs] == [(1, "tiny-0.6b", "ok"), (2, "tiny-1.7b", "ok")]
    meta = rundir.read_meta(run)
    expected = [f"capture/{capture.name}"]
    if backend == "memcheck":   # the leak checks taken through vgdb at each boundary come first
        [timeline] = (run / "capture").glob("memcheck.*.timeline.txt")
        expected = [f"capture/{timeline.name}"] + expected
        analysed = json.loads((run / rundir.ANALYSIS).read_text())["captures"]
        assert [c["format"] for c in analysed] == ["memcheck-timeline", "memcheck"]
        assert analysed[0]["totals"]["checks"] == 2 and meta["backend"]["leak_check_s"]["n"] == 2
        fmt, totals = analysed[1]["format"], analysed[1]["totals"]
    assert meta["backend"]["name"] == backend and meta["backend"]["captures"] == expected
    assert meta["returncode"] == 0 and meta["iterations"] == 2
    # the command's typed options, recorded as set and turned into the tool's flags
    assert meta["backend"]["options"] == RECORDED_OPTIONS[backend]
    assert ("--native" in meta["backend"]["argv"]) == (backend == "memray")
    # the Valgrind tools' state after the collection probe: taken through vgdb, recorded as such
    state = meta["backend"].get("probe_state")
    if backend in ("massif", "memcheck"):
        taken = {"massif": (capture.name + rundir.PROBE_STATE_SUFFIX, "detailed_snapshot"),
                 "memcheck": (expected[0].split("/", 1)[1], "leak_check full reachable any")}[backend]
        assert (state["taken"], state["file"], state["how"], state["after_iteration"]) == (True, *taken, 2)
    else:
        assert state is None

    if backend != "memcheck":
        fmt, totals = capture_totals(run)
    if backend == "memray":
        assert fmt == "memray" and totals["total_allocations"] > 1000 and totals["peak_memory_bytes"] > 1_000_000
    elif backend == "massif":
        assert fmt == "massif" and totals["peak_heap_bytes"] > 1_000_000 and totals["detailed_snapshots"] > 10
        assert meta["backend"]["env"] == {"PYTHONMALLOC": "malloc", "OMP_WAIT_POLICY": "PASSIVE",
                                          rundir.PROBE_HOLD_ENV: str((run / rundir.PROBE_RELEASE).resolve())}
        assert (run / "capture" / (capture.name + rundir.PROBE_STATE_SUFFIX)).is_file()
        assert meta["backend"]["preflight"]["avx512_in_library"] is False   # the build was checked first
        assert proc.stderr.startswith("memprof: massif run of 2 iteration(s)") and meta["backend"]["estimated_s"] > 0
    elif backend == "memcheck":
        # the shipped suppressions hide the interpreter's and GGML's one-time blocks: none is left,
        # thousands were matched (without them this loop reports ~4000 records, 120 MB of XML)
        assert fmt == "memcheck" and totals["suppressed"] > 1000
        assert totals["definitely_lost_bytes"] == 0 and totals["errors"] == 0
        assert json.loads((run / "loop.json").read_text())["max_tokens"] == 1
    else:
        assert fmt == "heaptrack" and totals["calls"] > 10_000 and totals["peak_heap_bytes"] > 1_000_000


# ---------------------------------------------------------------- a user command


@needs_heaptrack
def test_heaptrack_planted_command(planted_bin, tmp_path):
    run = tmp_path / "run"
    proc = memprof("heaptrack", "--out", run, "--", planted_bin, 5)
    assert proc.returncode == 0, proc.stderr
    assert [r["iteration"] for r in records(run)] == [1, 2, 3, 4, 5]   # the program's own markers
    assert [p.name for p in (run / "capture").iterdir()] == ["heaptrack.run.zst"]
    fmt, totals = capture_totals(run)
    # planted (-O0) leaks 5 x 32 KiB + 5 x 16 KiB and keeps 4 x 64 KiB of pool and 100 KiB of init
    assert fmt == "heaptrack" and totals["leaked_bytes"] == 5 * 48 * KIB + 4 * 64 * KIB + 100 * KIB


@needs_valgrind
def test_massif_planted_command(planted_bin, tmp_path):
    run = tmp_path / "run"
    proc = memprof("valgrind", "--tool", "massif", "--out", run, "--", planted_bin, 5)
    assert proc.returncode == 0, proc.stderr
    assert len(records(run)) == 5
    fmt, totals = capture_totals(run)
    assert fmt == "massif" and totals["time_unit"] == "ms"
    # the peak is the 5th iteration's 128 KiB scratch block on top of 100 KiB init,
    # the 4 x 64 KiB pool and 5 x (32 + 16) KiB leaked
    planted = 100 * KIB + 4 * 64 * KIB + 5 * 48 * KIB + 128 * KIB
    assert planted <= totals["peak_heap_bytes"] < planted + 16 * KIB


@needs_valgrind
def test_memcheck_planted_command_and_suppressions_round_trip(planted_bin, tmp_path):
    run = tmp_path / "run"
    proc = memprof("valgrind", "--tool", "memcheck", "--gen-suppressions", "--out", run, "--", planted_bin, 5)
    assert proc.returncode == 0, proc.stderr
    fmt, totals = capture_totals(run)
    assert (fmt, totals["definitely_lost_bytes"], totals["still_reachable_bytes"]) == (
        "memcheck", 5 * 32 * KIB, 5 * 16 * KIB + 4 * 64 * KIB + 100 * KIB)

    supp = tmp_path / "planted.supp"
    proc = memprof("suppressions", run, "-o", supp)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("4 suppression(s) written to")
    assert "REVIEW BEFORE REUSE" in supp.read_text() and "memprof:leak_lost:definite" in supp.read_text()

    again = tmp_path / "again"
    proc = memprof("valgrind", "--tool", "memcheck", "--no-default-suppressions", "--suppressions", supp,
                   "--out", again, "--", planted_bin, 5)
    assert proc.returncode == 0, proc.stderr
    _, totals = capture_totals(again)
    assert totals["definitely_lost_bytes"] == totals["still_reachable_bytes"] == 0
    assert totals["suppressed"] == 4


def test_memray_planted_python_command(planted_lib, tmp_path):
    run = tmp_path / "run"
    proc = memprof("memray", "--out", run, "--", DRIVER, planted_lib, 4)
    assert proc.returncode == 0, proc.stderr
    assert len(records(run)) == 4
    fmt, totals = capture_totals(run)
    assert fmt == "memray" and totals["total_allocations"] > 0
    assert (run / "capture" / "memray.bin").stat().st_size > 0


def test_memray_refuses_a_native_program(planted_bin, tmp_path):
    proc = memprof("memray", "--out", tmp_path / "run", "--", planted_bin, 2)
    assert proc.returncode == 2
    assert "memray profiles only Python processes" in one_error_line(proc)
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize("cmd,tool", [(["valgrind", "--tool", "massif"], "valgrind"), (["heaptrack"], "heaptrack")])
def test_missing_tool_exits_4(cmd, tool, planted_bin, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = memprof(*cmd, "--out", tmp_path / "run", "--", planted_bin, 1, env={"PATH": str(empty)})
    assert proc.returncode == 4
    assert f"apt-get install {tool}" in one_error_line(proc)
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def crashing_bin(tmp_path_factory) -> Path:
    """Allocates, marks one iteration, leaks a block and aborts."""
    need("gcc")
    d = tmp_path_factory.mktemp("crash")
    src = d / "crash.c"
    src.write_text(r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(void) {
    for (int i = 0; i < 2000; i++) { char *p = malloc(1024 + i); memset(p, 1, 16); if (i % 2) free(p); }
    const char *m = getenv("MEMPROF_ITERATIONS");
    if (m) { FILE *f = fopen(m, "a"); fprintf(f, "{\"iteration\": 1, \"t_start\": 0.0, \"t_end\": 0.1, "
             "\"wall_start\": 0.0, \"wall_end\": 0.1}\n"); fclose(f); }
    fprintf(stderr, "about to abort\n");
    abort();
}
""")
    out = d / "crash"
    subprocess.run(["gcc", "-O0", "-g", "-o", str(out), str(src)], check=True)
    return out


@pytest.mark.parametrize("backend", ["massif", "memcheck", "heaptrack"])
def test_crashing_command_exits_5_and_keeps_the_capture(backend, crashing_bin, tmp_path):
    need(TOOL[backend])
    run = tmp_path / "run"
    cmd = ["heaptrack"] if backend == "heaptrack" else ["valgrind", "--tool", backend]
    proc = memprof(*cmd, "--out", run, "--", crashing_bin)
    assert proc.returncode == 5
    line = one_error_line(proc)
    assert "killed by SIGABRT" in line   # heaptrack's launcher returns 134: named as the signal
    assert f"in {run}" in line
    assert len(records(run)) == 1
    meta = rundir.read_meta(run)
    assert meta["backend"]["captures"], meta
    capture = run / meta["backend"]["captures"][0]
    assert capture.is_file()
    if backend in ("massif", "memcheck"):
        # Valgrind writes its capture on the fatal signal: it is complete and analysed
        assert capture.stat().st_size > 1000 and "capture" in proc.stdout
        fmt, totals = capture_totals(run)
        if backend == "memcheck":
            assert totals["definitely_lost_bytes"] > 0
        else:
            assert totals["peak_heap_bytes"] > 0


@needs("valgrind", "gcc")
def test_unhandled_instruction_is_unsupported_with_the_reason(tmp_path):
    exe = tmp_path / "avx512"
    subprocess.run(["gcc", "-O0", "-o", str(exe), str(AVX512_SRC)], check=True)
    proc = memprof("valgrind", "--tool", "memcheck", "--out", tmp_path / "run", "--", exe)
    assert proc.returncode == 6
    line = one_error_line(proc)
    assert "Valgrind could not decode an instruction (vex amd64->IR: unhandled instruction bytes: 0x62" in line
    assert "without AVX-512" in line
