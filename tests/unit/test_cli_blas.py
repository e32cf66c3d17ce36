"""memprof's commands that only read (analyze, report, check, compare) cap OpenBLAS at one thread
before numpy loads (its worker threads cost start-up CPU and nothing else on these sizes); a
command that launches a program leaves the environment alone, since the program inherits it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = ("import os, sys; from profiler import cli; cli.group.get_command(None, sys.argv[1]); "
         "print(os.environ.get('OPENBLAS_NUM_THREADS'), 'numpy' in sys.modules)")


def _blas_threads(command: str, **env) -> str:
    base = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", PROBE, command], capture_output=True, text=True,
                         env={**base, **env}, check=True).stdout.split()
    assert out[1] == "False", "numpy was loaded before the command was chosen: the cap would come too late"
    return out[0]


@pytest.mark.parametrize("command", ["analyze", "report", "check", "compare"])
def test_reading_commands_use_one_blas_thread(command):
    assert _blas_threads(command) == "1"


@pytest.mark.parametrize("command", ["run", "heaptrack", "watch"])
def test_commands_that_launch_a_program_leave_its_environment_alone(command):
    assert _blas_threads(command) == "None"


def test_a_users_setting_wins():
    assert _blas_threads("analyze", OPENBLAS_NUM_THREADS="2") == "2"
