"""`#!` resolution before a run (profiler/workload/interpreter.py), on real scripts and binaries."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from profiler.errors import UsageProblem
from profiler.workload.interpreter import resolve_command


def script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_binary_unchanged():
    true = shutil.which("true")
    assert resolve_command([true, "x"], tool="heaptrack") == ([true, "x"], {}, [])


def test_python_script_run_by_its_interpreter(tmp_path):
    s = script(tmp_path / "tool", f"#!{sys.executable} -u\nprint(1)\n")
    argv, env, notes = resolve_command([str(s), "a"], tool="heaptrack")
    assert argv == [sys.executable, "-u", str(s), "a"] and env == {}
    assert "is a Python script" in notes[0]


def test_env_shebang_followed(tmp_path):
    s = script(tmp_path / "tool", "#!/usr/bin/env python3\nprint(1)\n")
    argv, _, _ = resolve_command([str(s)], tool="massif")
    assert argv[1:] == [str(s)] and Path(argv[0]).name.startswith("python")


def test_shell_shim_resolved_with_its_options_and_environment(tmp_path):
    s = script(tmp_path / "python3", f'#!/bin/bash\nexport MEMPROF_SHIM_TEST=1\nexec {sys.executable} -X utf8 "$@"\n')
    argv, env, notes = resolve_command([str(s), "prog.py", "--flag"], tool="heaptrack")
    assert argv == [sys.executable, "-X", "utf8", "prog.py", "--flag"]
    assert env == {"MEMPROF_SHIM_TEST": "1"}
    assert "profiling" in notes[0]


def test_env_options_refused(tmp_path):
    s = script(tmp_path / "tool", "#!/usr/bin/env -i python3\nprint(1)\n")
    with pytest.raises(UsageProblem, match="cannot be followed"):
        resolve_command([str(s)], tool="heaptrack")


def test_shell_script_that_fails_the_probe_refused_with_the_command(tmp_path):
    s = script(tmp_path / "python3", "#!/bin/sh\nexit 3\n")
    with pytest.raises(UsageProblem, match="did not say which Python it runs") as exc:
        resolve_command([str(s), "prog.py"], tool="heaptrack")
    assert "import sys; print(sys.executable)" in str(exc.value)


def test_memray_starts_python_scripts_itself(tmp_path):
    s = script(tmp_path / "tool", "#!/usr/bin/env python3\nprint(1)\n")
    assert resolve_command([str(s)], tool="memray") == ([str(s)], {}, [])
    # but a shell shim in front of Python is still resolved for memray
    shim = script(tmp_path / "python3", f'#!/bin/bash\nexec {sys.executable} "$@"\n')
    argv, _, _ = resolve_command([str(shim), "prog.py"], tool="memray")
    assert argv == [sys.executable, "prog.py"]


def test_a_shell_itself_refused():
    with pytest.raises(UsageProblem, match="is a shell: heaptrack would trace the shell"):
        resolve_command([shutil.which("sh"), "-c", "python3 prog.py"], tool="heaptrack")
