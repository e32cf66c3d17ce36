"""LoopConfig owns its defaults, the --quick policy and every check: a loop.json written by
hand is refused for the same reasons, in the same words, as the command line."""
from __future__ import annotations

import json

import pytest

from profiler.commands import _loop
from profiler.errors import ExitCode, UsageProblem
from profiler.workload import config as C
from testkit import memprof

MODELS = [{"alias": "a", "path": "/m/a.gguf"}]


def _load(tmp_path, **fields):
    p = tmp_path / "loop.json"
    p.write_text(json.dumps({"models": MODELS, **fields}))
    return C.LoopConfig.load(p)


@pytest.mark.parametrize("fields, message", [
    ({"max_tokens": 64, "n_ctx": 16}, "--max-tokens 64 does not fit in --n-ctx 16"),
    ({"prompt": "  "}, "--prompt is empty"),
    ({"iterations": 0}, "iterations must be at least 1"),
    ({"iterations": 200000}, "--iterations 200000 is outside 1-100000"),
    ({"n_ctx": 8, "max_tokens": 4}, "--n-ctx 8 is outside 16-1048576"),
    ({"threads": "4"}, "--threads must be a whole number"),
    ({"strategy": "swap"}, "strategy must be one of reload, reset"),
])
def test_hand_written_loop_json_is_checked_like_the_options(tmp_path, fields, message):
    with pytest.raises(UsageProblem, match=message.replace("-", r"\-")):
        _load(tmp_path, **fields)


def test_the_command_line_says_the_same(tmp_path):
    code, _, err = memprof("run", "--quick", "--n-ctx", "16", "--max-tokens", "64", "--out", tmp_path / "run")
    assert code == ExitCode.USAGE and "--max-tokens 64 does not fit in --n-ctx 16" in err
    with pytest.raises(UsageProblem) as exc:
        _load(tmp_path, max_tokens=64, n_ctx=16)
    assert str(exc.value).split(":")[0] in err


def test_options_take_their_defaults_and_ranges_from_the_config():
    d = C.LoopConfig.defaults()
    assert {k: d[k] for k in ("iterations", "strategy", "max_tokens", "n_ctx")} == \
           {k: _loop.DEFAULTS[k] for k in ("iterations", "strategy", "max_tokens", "n_ctx")}
    assert _loop.DEFAULTS["models"] == C.DEFAULT_MODELS and _loop.QUICK is C.QUICK and _loop.LIMITS is C.LIMITS
    cfg = C.LoopConfig(models=MODELS)
    assert (cfg.iterations, cfg.max_tokens, cfg.n_ctx) == (d["iterations"], d["max_tokens"], d["n_ctx"])


def test_quick_policy_keeps_what_the_user_gave():
    out = C.apply_quick({"models": ("x",), "iterations": 3, "max_tokens": 16, "n_ctx": 512}, given=["iterations"])
    assert out == {"models": C.QUICK["models"], "iterations": 3, "max_tokens": C.QUICK["max_tokens"], "n_ctx": 512}
