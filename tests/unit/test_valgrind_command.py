"""`memprof valgrind` as written: no --tool needed (massif), and the Valgrind loop policy
(LoopConfig.for_valgrind) fills what the user did not give. The session is replaced by a
recorder here: these tests are about option parsing, no tool runs."""
from __future__ import annotations

import pytest

from profiler.backends.options import MassifOptions, MemcheckOptions
from profiler.workload.config import VALGRIND_POLICY, LoopConfig
from testkit import memprof


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    from profiler import session
    from profiler.models import ensure_twin

    calls = []
    monkeypatch.setattr(session, "profile_and_summarize", lambda tool, **kw: calls.append((tool, kw)))
    twin = ensure_twin("tiny-0.6b", cache_dir=tmp_path, show_progress=False)
    return calls, ["--model", "tiny-0.6b", "--model-path", f"tiny-0.6b={twin}"]


def test_no_tool_means_massif_under_the_valgrind_policy(recorded):
    calls, model = recorded
    done = memprof("valgrind", *model, "--yes")
    assert done.returncode == 0, done.stderr
    [(tool, kw)] = calls
    assert tool == "massif" and kw["timeout"] is None and kw["assume_yes"]
    loop = kw["loop"]
    assert {k: getattr(loop, k) for k in VALGRIND_POLICY} == VALGRIND_POLICY
    assert kw["options"] == MassifOptions()                 # a massif run takes no leak checks


def test_given_options_win_over_the_policy_and_quick_keeps_it(recorded):
    calls, model = recorded
    assert memprof("valgrind", "--tool", "memcheck", *model, "--iterations", "3", "--prompt", "Hello there",
                   "--timeout", "60").returncode == 0
    assert memprof("valgrind", "--quick", *model).returncode == 0
    (tool, kw), (_, quick) = calls
    assert tool == "memcheck" and kw["timeout"] == 60 and kw["options"] == MemcheckOptions(leak_timeline=True)
    assert (kw["loop"].iterations, kw["loop"].prompt, kw["loop"].max_tokens, kw["loop"].n_ctx) == \
        (3, "Hello there", VALGRIND_POLICY["max_tokens"], VALGRIND_POLICY["n_ctx"])
    assert quick["loop"].iterations == VALGRIND_POLICY["iterations"]   # not --quick's 6


def test_help_names_the_default_tool_and_why():
    out = memprof("valgrind", "--help").stdout
    assert "massif (default)" in out and "[default: massif]" in " ".join(out.split())


def test_for_valgrind_keeps_what_was_given():
    cfg = LoopConfig(models=[{"alias": "a", "path": "/x"}], iterations=7, n_ctx=256)
    v = cfg.for_valgrind(keep=["iterations"])
    assert (v.iterations, v.n_ctx, v.prompt, v.max_tokens) == (7, VALGRIND_POLICY["n_ctx"], "A", 1)
    assert cfg.n_ctx == 256                                  # a copy, the original untouched
