"""Model aliases, their resolution order, the synthetic twins and GGUF validation."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from profiler import models as M
from profiler.errors import BadModel, UsageProblem
from testkit import memprof_process


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return M.ensure_twin("tiny-0.6b", cache_dir=tmp_path_factory.mktemp("cache"), show_progress=False)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No user configuration leaks in: empty cache, no config file, no env overrides."""
    monkeypatch.setenv("MEMPROF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MEMPROF_CONFIG", str(tmp_path / "absent.toml"))
    for var in M.ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_tiny_twin_validates_with_its_real_layout(tiny):
    info = M.validate_gguf(tiny)
    assert info["version"] == 3
    assert info["architecture"] == "qwen3"
    # token_embd + 11 tensors per layer x 2 layers + output_norm
    assert info["n_tensors"] == 1 + 11 * 2 + 1
    assert info["size"] == tiny.stat().st_size


def test_twin_layout_matches_qwen3_shapes():
    from profiler.gguf_twin import SPECS

    shapes = {name: shape for name, shape, _ in SPECS["1.7b"].tensors()}
    assert shapes["token_embd.weight"] == (151936, 2048)
    assert shapes["blk.27.attn_q.weight"] == (16 * 128, 2048)
    assert shapes["blk.27.attn_k.weight"] == (8 * 128, 2048)
    assert shapes["blk.0.ffn_down.weight"] == (2048, 6144)
    assert shapes["blk.0.attn_q_norm.weight"] == (128,)
    assert "blk.28.attn_q.weight" not in shapes
    # Q8_0: 34 bytes per 32 weights; the 1.7B twin is about 1.8 GB, the 0.6B one about 0.64 GB
    assert 1.7e9 < SPECS["1.7b"].data_bytes() < 1.9e9
    assert 0.6e9 < SPECS["0.6b"].data_bytes() < 0.7e9
    assert SPECS["tiny-1.7b"].data_bytes() > 3 * SPECS["tiny-0.6b"].data_bytes()


def test_twin_is_deterministic(tiny, tmp_path):
    again = M.ensure_twin("tiny-0.6b", cache_dir=tmp_path, show_progress=False)
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(tiny.read_bytes()).digest()


def test_interrupted_twin_write_leaves_nothing(tmp_path):
    from profiler.gguf_twin import SPECS, write_twin

    def boom(n):
        raise KeyboardInterrupt

    target = tmp_path / "twin.gguf"
    with pytest.raises(KeyboardInterrupt):
        write_twin(SPECS["tiny-1.7b"], target, progress=boom)
    assert list(tmp_path.iterdir()) == []


def test_vocab_has_every_byte_and_qwen_control_ids():
    from profiler.gguf_twin import byte_symbols, make_vocab

    tokens, types, merges, ids = make_vocab(151936)
    assert len(tokens) == len(set(tokens)) == 151936
    assert ids == {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645}
    assert tokens[151645] == "<|im_end|>" and types[151645] == 3
    assert set(byte_symbols()) <= set(tokens)
    assert len(set(byte_symbols())) == 256
    assert all(" " not in t for t in tokens)  # merges are "left right": no symbol may hold a space
    assert len(merges) == 256 * 256


def test_text_file_is_not_gguf(tmp_path):
    p = tmp_path / "notes.gguf"
    p.write_text("hello, this is not a model\n")
    with pytest.raises(BadModel, match="not a GGUF file"):
        M.validate_gguf(p)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.gguf"
    p.write_bytes(b"")
    with pytest.raises(BadModel, match="empty file"):
        M.validate_gguf(p)


def test_truncated_header(tiny, tmp_path):
    p = tmp_path / "trunc.gguf"
    p.write_bytes(tiny.read_bytes()[:100])
    with pytest.raises(BadModel, match="truncated GGUF header"):
        M.validate_gguf(p)


def test_truncated_tensor_data(tiny, tmp_path):
    data = tiny.read_bytes()
    p = tmp_path / "short.gguf"
    p.write_bytes(data[:-1000])
    with pytest.raises(BadModel, match=f"needs {len(data)} bytes, file has {len(data) - 1000}"):
        M.validate_gguf(p)


def test_bad_version(tiny, tmp_path):
    data = bytearray(tiny.read_bytes())
    data[4:8] = (99).to_bytes(4, "little")
    p = tmp_path / "v99.gguf"
    p.write_bytes(bytes(data))
    with pytest.raises(BadModel, match="unsupported GGUF version 99"):
        M.validate_gguf(p)


def test_missing_file(tmp_path):
    with pytest.raises(BadModel, match="not found"):
        M.validate_gguf(tmp_path / "absent.gguf")


def test_cli_missing_model_is_one_line_exit_3(tmp_path):
    missing = tmp_path / "not.gguf"
    proc = memprof_process("run", "--model", missing, timeout=60)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"memprof: error: model file not found: {missing}"]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_resolution_order(clean_env, monkeypatch, tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[models]\n"0.6b" = "/models/from-config.gguf"\n')
    monkeypatch.setenv("MEMPROF_CONFIG", str(cfg))
    monkeypatch.setenv("MEMPROF_MODEL_0_6B", "/models/from-env.gguf")

    r = M.resolve_model("0.6b", {"0.6b": "/models/from-user.gguf"}, create=False)
    assert (r.source, str(r.path)) == ("user", "/models/from-user.gguf")
    r = M.resolve_model("0.6b", create=False)
    assert (r.source, str(r.path)) == ("env", "/models/from-env.gguf")
    monkeypatch.delenv("MEMPROF_MODEL_0_6B")
    r = M.resolve_model("0.6b", create=False)
    assert (r.source, str(r.path)) == ("config", "/models/from-config.gguf")
    cfg.unlink()
    r = M.resolve_model("0.6b", create=False)
    assert r.source == "twin"
    assert r.path == tmp_path / "cache" / M.TWIN_FILES["0.6b"]
    assert not r.path.exists()  # create=False writes nothing
    # the 1.7b alias is untouched by the 0.6b settings
    assert M.resolve_model("1.7b", create=False).source == "twin"


def test_plain_path_and_unknown_alias(clean_env, tmp_path):
    r = M.resolve_model(str(tmp_path / "Qwen3-0.6B-Q8_0.gguf"), create=False)
    assert (r.alias, r.source) == ("Qwen3-0.6B-Q8_0", "path")
    with pytest.raises(UsageProblem, match="unknown model 'qwen9'"):
        M.resolve_model("qwen9")


def test_model_path_override_syntax():
    assert M.parse_overrides(["1.7b=/m/a.gguf", "0.6b = /m/b.gguf"]) == {"1.7b": "/m/a.gguf", "0.6b": "/m/b.gguf"}
    with pytest.raises(UsageProblem, match="ALIAS=PATH"):
        M.parse_overrides(["/m/a.gguf"])


def test_list_models_writes_nothing(clean_env, tmp_path):
    rows = M.list_models()
    assert [r["alias"] for r in rows] == ["0.6b", "1.7b", "tiny-0.6b", "tiny-1.7b"]
    assert all(r["source"] == "twin" and r["exists"] is False and r["size"] is None for r in rows)
    assert not (tmp_path / "cache").exists()
    M.ensure_twin("tiny-0.6b", show_progress=False)
    row = {r["alias"]: r for r in M.list_models()}["tiny-0.6b"]
    assert row["exists"] is True and row["size"] == Path(row["path"]).stat().st_size


def test_list_models_shows_a_new_alias_an_override_names(clean_env, tmp_path):
    rows = M.list_models({"mine": str(tmp_path / "mine.gguf"), "1.7b": "/m/a.gguf"})
    assert [(r["alias"], r["source"]) for r in rows] == [
        ("0.6b", "twin"), ("1.7b", "user"), ("tiny-0.6b", "twin"), ("tiny-1.7b", "twin"), ("mine", "user")]
    assert rows[-1]["path"] == str(tmp_path / "mine.gguf") and rows[-1]["exists"] is False


def test_bad_config_file_is_one_line(clean_env, monkeypatch, tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[models\n")
    monkeypatch.setenv("MEMPROF_CONFIG", str(cfg))
    with pytest.raises(UsageProblem, match="not valid TOML"):
        M.resolve_model("0.6b", create=False)


def _loop_config(args, monkeypatch, tmp_path, **defaults):
    """Parse `args` with the shared loop options and build the LoopConfig, as a command would."""
    import click
    from click.testing import CliRunner

    from profiler.commands._loop import loop_config_from_options, loop_options

    got = {}

    @click.command()
    @loop_options(**defaults)
    def cmd(**opts):
        got["config"] = loop_config_from_options(opts)

    monkeypatch.setenv("MEMPROF_CACHE", str(tmp_path / "cache"))
    res = CliRunner().invoke(cmd, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return got["config"]


def test_quick_fills_only_what_was_not_given(clean_env, monkeypatch, tmp_path):
    c = _loop_config(["--quick"], monkeypatch, tmp_path)
    assert [m["alias"] for m in c.models] == ["tiny-0.6b", "tiny-1.7b"]
    assert (c.iterations, c.max_tokens, c.strategy, c.n_ctx) == (6, 8, "reload", 512)
    assert all(Path(m["path"]).is_file() for m in c.models)     # the tiny twins were written
    c = _loop_config(["--quick", "-n", "3", "--max-tokens", "2", "--strategy", "reset"], monkeypatch, tmp_path)
    assert (c.iterations, c.max_tokens, c.strategy) == (3, 2, "reset")


def test_loop_option_defaults_are_overridable(clean_env, monkeypatch, tmp_path, tiny):
    c = _loop_config(["--model", str(tiny), "--threads", "1"], monkeypatch, tmp_path, iterations=4, max_tokens=3)
    assert (c.iterations, c.max_tokens, c.threads) == (4, 3, 1)
    assert c.models == [{"alias": tiny.stem, "path": str(tiny.resolve())}]


def test_model_path_option_overrides_an_alias(clean_env, monkeypatch, tmp_path, tiny):
    c = _loop_config(["--model", "0.6b", "--model-path", f"0.6b={tiny}", "-n", "1"], monkeypatch, tmp_path)
    assert c.models == [{"alias": "0.6b", "path": str(tiny.resolve())}]
    assert not (tmp_path / "cache").exists()          # no twin written for an overridden alias
