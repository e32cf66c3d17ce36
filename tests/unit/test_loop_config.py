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


def test_a_prompt_longer_than_the_context_is_refused_up_front(tmp_path):
    """The child would fail at its first decode (exit 5, a numpy broadcast error): the config
    refuses it first, in one line naming the bound it used and the context that would do."""
    prompt = "x" * 40                                   # at most 42 tokens, 3 more generated: 45
    with pytest.raises(UsageProblem) as exc:
        _load(tmp_path, prompt=prompt, max_tokens=4, n_ctx=44)
    line = exc.value.one_line()
    assert line.startswith("--max-tokens 4 does not fit in --n-ctx 44 beside the prompt: the prompt may take up "
                           "to 42 tokens (its 40 UTF-8 bytes + 2: a bound, the exact count needs the model's "
                           "tokenizer) and the generated tokens 3 more")
    assert "give --n-ctx 45 or more" in line and "\n" not in line
    assert _load(tmp_path, prompt=prompt, max_tokens=4, n_ctx=45).n_ctx == 45
    assert C.prompt_token_bound("日本") == 8                # bytes, not characters
    assert C.context_needed(C.DEFAULT_PROMPT, 16) == 67 + 2 + 15


def test_the_command_refuses_it_with_a_named_exit_before_a_run_exists(tmp_path):
    code, out, err = memprof("run", "--quick", "--n-ctx", "32", "--max-tokens", "4", "--out", tmp_path / "run")
    assert code == ExitCode.USAGE and len(err.strip().splitlines()) == 1, err
    assert "--max-tokens 4 does not fit in --n-ctx 32 beside the prompt: the prompt may take up to 69 tokens" in err
    assert not (tmp_path / "run").exists()


def test_the_valgrind_policy_grows_its_small_context_for_a_long_prompt():
    cfg = C.LoopConfig(models=MODELS, prompt="y" * 200)
    v = cfg.for_valgrind(keep=["prompt"])
    assert (v.prompt, v.max_tokens, v.n_ctx) == ("y" * 200, 1, 202)      # not the policy's 128
    assert cfg.for_valgrind().n_ctx == C.VALGRIND_POLICY["n_ctx"]      # its own one-token prompt fits
    with pytest.raises(UsageProblem, match="does not fit in --n-ctx 128"):   # a context the user gave is kept
        C.LoopConfig.from_options({"models": ["/m/a.gguf"], "prompt": "y" * 200, "n_ctx": 128},
                                  given=["models", "prompt", "n_ctx"], valgrind=True, validate_models=False)


def test_from_options_order_defaults_quick_then_the_valgrind_policy():
    """What the user gave wins; --quick fills the rest; the Valgrind policy wins over --quick's counts."""
    def build(values, given=(), valgrind=False):
        return C.LoopConfig.from_options({"models": ["/m/a.gguf"], **values}, given=["models", *given],
                                         valgrind=valgrind, validate_models=False)

    d = C.LoopConfig.defaults()
    plain = build({})
    assert (plain.iterations, plain.max_tokens, plain.n_ctx, plain.prompt) == \
        (d["iterations"], d["max_tokens"], d["n_ctx"], C.DEFAULT_PROMPT)
    quick = build({"quick": True, "iterations": 9}, given=["quick", "iterations"])
    assert (quick.iterations, quick.max_tokens) == (9, C.QUICK["max_tokens"])
    assert [m["alias"] for m in quick.models] == ["a"]                      # the models were given
    vg = build({"quick": True}, given=["quick"], valgrind=True)
    assert {k: getattr(vg, k) for k in C.VALGRIND_POLICY} == C.VALGRIND_POLICY
    kept = build({"max_tokens": 3, "prompt": "Hello"}, given=["max_tokens", "prompt"], valgrind=True)
    assert (kept.max_tokens, kept.prompt, kept.iterations) == (3, "Hello", C.VALGRIND_POLICY["iterations"])
