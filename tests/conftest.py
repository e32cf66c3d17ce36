"""Shared fixtures: the planted C workload, built once per session from tests/workloads/planted.c;
the `needs` marker (tests/testkit.py: a missing set-up tool skips, and fails under CI=true)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import testkit

WORKLOADS = Path(__file__).parent / "workloads"
DATA = Path(__file__).parent / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(*tools): programs or modules the test runs; missing: skip, "
                                       "or fail under CI=true")


def pytest_runtest_setup(item):
    for mark in item.iter_markers(name="needs"):
        testkit.need(*mark.args)


def _cc(args: list[str]) -> None:
    testkit.need("gcc")
    subprocess.run([shutil.which("gcc"), *args], check=True)


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
