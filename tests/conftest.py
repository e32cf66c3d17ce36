"""Shared fixtures: the planted C workload, built once per session from tests/workloads/planted.c."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

WORKLOADS = Path(__file__).parent / "workloads"
DATA = Path(__file__).parent / "data"


def _cc(args: list[str]) -> None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        pytest.fail("no C compiler: run scripts/install_system.sh")
    subprocess.run([cc, *args], check=True)


@pytest.fixture(scope="session")
def planted_bin(tmp_path_factory) -> Path:
    """The planted workload as a program: `planted N` runs N iterations."""
    out = tmp_path_factory.mktemp("planted") / "planted"
    _cc(["-O0", "-g", "-fno-omit-frame-pointer", "-o", str(out), str(WORKLOADS / "planted.c")])
    return out


@pytest.fixture(scope="session")
def planted_lib(tmp_path_factory) -> Path:
    """The planted workload as a shared library (planted_setup, planted_iteration) for Python drivers."""
    out = tmp_path_factory.mktemp("planted_lib") / "libplanted.so"
    _cc(["-O0", "-g", "-fno-omit-frame-pointer", "-shared", "-fPIC", "-DPLANTED_LIB",
         "-o", str(out), str(WORKLOADS / "planted.c")])
    return out
