"""A Python started through a `#!` shell shim is profiled as the Python, not the shell, or refused
before it runs; a capture of a shell is refused at analysis. Real bash scripts, real heaptrack,
a program with a real native leak (ctypes malloc without free: tests/workloads/ctypes_leak.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from profiler import rundir
from testkit import memprof_process, need, needs

pytestmark = pytest.mark.integration
needs_heaptrack = needs("heaptrack")

ROOT = Path(__file__).resolve().parents[2]
LEAKER = ROOT / "tests" / "workloads" / "ctypes_leak.py"
KIB = 1024


def memprof(*args, timeout=600):
    return memprof_process(*args, timeout=timeout, cwd=ROOT)


def script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def one_error_line(proc) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("memprof: error: "), proc.stderr
    return lines[0]


def check_leak_run(run: Path, leak_kib: int, iterations: int) -> None:
    meta = rundir.read_meta(run)
    analysis = json.loads((run / rundir.ANALYSIS).read_text())
    [cap] = analysis["captures"]
    traced = cap["meta"]["command"].split()[0]
    assert os.path.basename(traced).startswith("python"), cap["meta"]["command"]   # heaptrack's X line
    assert meta["backend"]["command_resolved"]
    assert analysis["verdict"] == "leak"
    leak = next(s for s in cap["sites"] if s["verdict"] == "leak")
    assert leak["live_bytes_end"] == iterations * leak_kib * KIB and leak["alloc_count"] == iterations


@needs_heaptrack
def test_bash_wrapper_that_execs_python_is_profiled_as_python(tmp_path):
    # a wrapper as project and conda set-ups write them: environment, then `exec .../python "$@"`
    shim = script(tmp_path / "bin" / "python3",
                  f'#!/bin/bash\n# project wrapper\nexport LEAK_KIB=512\nexec {sys.executable} "$@"\n')
    run = tmp_path / "run"
    proc = memprof("heaptrack", "--out", run, "--", shim, LEAKER, 6)
    assert proc.returncode in (0, 1), proc.stderr
    assert f"{shim} is a shell script (#!/bin/bash) that runs" in proc.stderr
    assert "LEAK_KIB" in proc.stderr          # the wrapper's environment is kept
    assert "VERDICT: LEAK" in proc.stdout
    check_leak_run(run, 512, 6)


@needs_heaptrack
def test_pyenv_style_shim_through_pyenv_exec(tmp_path):
    # the shape of a pyenv shim: `#!/usr/bin/env bash`, then `pyenv exec PROGRAM "$@"`
    root = tmp_path / "pyenv"
    script(root / "libexec" / "pyenv",
           '#!/usr/bin/env bash\nset -e\n[ "$1" = exec ] || exit 64\nshift 2\n'
           f'export PYENV_VERSION=memprof-test\nexec {sys.executable} "$@"\n')
    shim = script(root / "shims" / "python",
                  '#!/usr/bin/env bash\nset -e\nprogram="${0##*/}"\n'
                  f'export PYENV_ROOT="{root}"\nexec "$PYENV_ROOT/libexec/pyenv" exec "$program" "$@"\n')
    run = tmp_path / "run"
    proc = memprof("heaptrack", "--out", run, "--", shim, LEAKER, 5)
    assert proc.returncode in (0, 1), proc.stderr
    assert "PYENV_VERSION" in proc.stderr and "VERDICT: LEAK" in proc.stdout
    check_leak_run(run, 256, 5)


def test_other_shell_wrapper_refused_before_it_runs(tmp_path):
    marker = tmp_path / "ran"
    wrapper = script(tmp_path / "start-server", f"#!/bin/sh\ntouch {marker}\nexec /bin/true \"$@\"\n")
    run = tmp_path / "run"
    proc = memprof("heaptrack", "--out", run, "--", wrapper)
    need("heaptrack")
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert "is a shell script (#!/bin/sh): heaptrack would trace the shell" in line
    assert "memprof heaptrack -- PROGRAM" in line
    assert not run.exists() and not marker.exists()


@needs_heaptrack
def test_heaptrack_capture_of_a_shell_gives_no_verdict(tmp_path):
    # what tracing a shim gives: the shell's own allocations (here enough of them to be flushed)
    subprocess.run(["heaptrack", "-o", str(tmp_path / "h"), "/bin/bash", "-c",
                    'for i in $(seq 1 3000); do a="$a$i"; done; echo ${#a}'],
                   check=True, capture_output=True, timeout=120)
    [capture] = list(tmp_path.glob("h*"))
    proc = memprof("analyze", capture)
    assert proc.returncode == 3
    assert "heaptrack traced the shell `/bin/bash` (command line `/bin/bash -c for ...`)" in one_error_line(proc)
    assert "VERDICT" not in proc.stdout
