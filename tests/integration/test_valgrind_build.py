"""THE proof of the build choice: the installed llama-cpp-python runs under Valgrind.

A default (-march=native) build on an AVX-512 machine dies in ggml_cpu_init with
"vex amd64->IR: unhandled instruction bytes" and SIGILL; the GGML_NATIVE=OFF build
this project installs must load a model and generate a token under Valgrind's
instruction decoder (--tool=none shares it with every tool, and is the fastest).
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from testkit import needs

pytestmark = [pytest.mark.integration, needs("valgrind", "llama_cpp")]

SCRIPT = """
import sys, llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=64, n_threads=2, verbose=False, seed=1)
out = llm.create_completion("Hello", max_tokens=1, temperature=0.0)
print("completion_tokens", out["usage"]["completion_tokens"])
llm.close()
"""


def test_preflight_accepts_the_installed_build():
    from profiler.backends import valgrind_preflight

    report = valgrind_preflight.check_llama_build()
    assert "AVX2 = 1" in report["system_info"]
    assert valgrind_preflight.undecodable_features(report["system_info"]) == []
    assert report["avx512_in_library"] is False  # the disassembly scan really ran and found none


def test_llama_loads_and_generates_under_valgrind(tiny_models, tmp_path):
    from profiler.backends import valgrind_preflight

    log = tmp_path / "valgrind.log"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONMALLOC": "malloc"}
    proc = subprocess.run(
        ["valgrind", "--tool=none", f"--log-file={log}", sys.executable, "-c", SCRIPT,
         str(tiny_models["tiny-0.6b"])],
        capture_output=True, text=True, env=env, timeout=300,
    )
    text = log.read_text()
    assert proc.returncode == 0, (proc.stderr[-2000:], text[-2000:])
    assert "completion_tokens 1" in proc.stdout
    assert "unhandled instruction" not in text and "SIGILL" not in text
    assert valgrind_preflight.diagnose_log(text) is None
