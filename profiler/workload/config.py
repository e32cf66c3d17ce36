"""The loop's configuration: one JSON file the child reads, so any wrapper
(valgrind, heaptrack, memray) can run the same loop with one argument.

LoopConfig owns its defaults, the --quick policy and every check, one field or several:
the command-line options are built from them (commands/_loop.py) and a loop.json written
by hand is refused for the same reasons, with the same words."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from profiler.errors import UsageProblem

STRATEGIES = ("reload", "reset")
DEFAULT_PROMPT = "Explain in one sentence why memory usage can grow and then plateau."

# Under Valgrind every guest instruction costs ~100x, and the instructions of an iteration
# are in the decode (the matrix products touch every weight once per token evaluated); the
# memory of an iteration is in loading the model, creating the context (KV cache and the
# compute buffers are reserved there, for the full batch) and unloading it. So this policy
# shrinks what is evaluated -- a prompt of one or two tokens, one generated token (one
# llama_decode per iteration), a small context -- and keeps load, context creation, one
# decode and unload exactly as in the plain loop. The per-model timings are in README.
# Twelve iterations: the series verdict needs eight after warm-up (analysis/verdict.py
# MIN_STABLE), and the 1.7B twin under massif spent three iterations warming up.
# "A" is one token in Qwen3's vocabulary and in the synthetic twins'.
VALGRIND_POLICY = {"iterations": 12, "prompt": "A", "max_tokens": 1, "n_ctx": 128}


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


DEFAULT_MODELS = ("0.6b", "1.7b")
# --quick: the tiny twins, few iterations and tokens, for what the user did not set
QUICK = {"models": ("tiny-0.6b", "tiny-1.7b"), "iterations": 6, "max_tokens": 8}
# the accepted range of each integer field (the command-line options use the same)
LIMITS = {"iterations": (1, 100000), "max_tokens": (1, 4096), "n_ctx": (16, 1 << 20), "threads": (1, 1024)}


def apply_quick(values: dict, given) -> dict:
    """`values` under the --quick policy: QUICK's value for every key not in `given`."""
    return {**values, **{k: v for k, v in QUICK.items() if k not in set(given)}}


def apply_valgrind_policy(values: dict, given) -> dict:
    """`values` under VALGRIND_POLICY for every key not in `given`; the policy's small context
    grows to what the prompt and the tokens need when the user gave a longer prompt."""
    given = set(given)
    out = {**values, **{k: v for k, v in VALGRIND_POLICY.items() if k not in given}}
    if "n_ctx" not in given:
        out["n_ctx"] = max(out["n_ctx"], context_needed(out.get("prompt") or DEFAULT_PROMPT, out["max_tokens"]))
    return out


def prompt_token_bound(prompt: str) -> int:
    """The most tokens the child's `llm.tokenize(prompt, add_bos=True)` can give, without the
    model: the exact count needs its tokenizer. A byte-level BPE (Qwen3, Llama 3, the twins)
    never gives more tokens than the prompt has UTF-8 bytes; a SentencePiece vocabulary with
    byte fallback at most one per byte plus the leading-space piece; then the BOS token.
    The twins give 50 and 41 tokens for the default prompt's 67 bytes (bound 69)."""
    return len(prompt.encode("utf-8")) + 2


def context_needed(prompt: str, max_tokens: int) -> int:
    """The context the child's generation can need: the prompt is evaluated, then every
    generated token but the last (it is sampled, never evaluated)."""
    return prompt_token_bound(prompt) + int(max_tokens) - 1


def check_fields(*, iterations=None, strategy=None, prompt=None, max_tokens=None, n_ctx=None, threads=None,
                 **_ignored) -> None:
    """The checks that need no model: ranges, the strategy, a prompt with text, and the tokens
    fitting the context. Callable before any model is resolved, so a bad value fails first."""
    values = {"iterations": iterations, "max_tokens": max_tokens, "n_ctx": n_ctx, "threads": threads}
    for name, v in values.items():
        if v is None:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(v, bool) or not isinstance(v, int):
            raise UsageProblem(f"{flag} must be a whole number, got {v!r}")
        lo, hi = LIMITS[name]
        if v < 1:
            raise UsageProblem(f"{name.replace('_', '-')} must be at least 1")
        if not lo <= v <= hi:
            raise UsageProblem(f"{flag} {v} is outside {lo}-{hi}")
    if strategy is not None and strategy not in STRATEGIES:
        raise UsageProblem(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
        raise UsageProblem("--prompt is empty: give the text to generate from (or leave the option out)")
    if max_tokens is not None and n_ctx is not None:
        # llama-cpp-python would fail in the child (exit 5) with a bare numpy broadcast error
        text = DEFAULT_PROMPT if prompt is None else prompt
        need = context_needed(text, max_tokens)
        if need > n_ctx:
            raise UsageProblem(
                f"--max-tokens {max_tokens} does not fit in --n-ctx {n_ctx} beside the prompt: the prompt may take "
                f"up to {prompt_token_bound(text)} tokens (its {len(text.encode('utf-8'))} UTF-8 bytes + 2: a "
                f"bound, the exact count needs the model's tokenizer) and the generated tokens {max_tokens - 1} "
                f"more", hint=f"give --n-ctx {need} or more, or a shorter --prompt or fewer --max-tokens")


@dataclass
class LoopConfig:
    """models: [{alias, path}] visited in turn; strategy "reload" destroys and recreates the
    Llama every iteration, "reset" keeps one instance per model and resets it on a switch."""

    models: list[dict] = field(default_factory=list)
    iterations: int = 50
    strategy: str = "reload"
    prompt: str = DEFAULT_PROMPT
    max_tokens: int = 16
    n_ctx: int = 512
    threads: int = field(default_factory=default_threads)
    seed: int = 1234
    # gc.collect() after each unload: llama-cpp-python leaves reference cycles (its sampler
    # holds about 12 bytes per vocabulary entry) that otherwise wait for the cyclic collector,
    # so comparing a run with and without tells Python garbage from native growth
    collect_garbage: bool = False

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        check_fields(**{k: getattr(self, k) for k in ("iterations", "strategy", "prompt", "max_tokens", "n_ctx",
                                                      "threads")})
        if not self.models:
            raise UsageProblem("the loop needs at least one model")
        for m in self.models:
            if not isinstance(m, dict) or not m.get("alias") or not m.get("path"):
                raise UsageProblem(f"a loop model needs an alias and a path, got {m!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise UsageProblem(f"seed must be a whole number, got {self.seed!r}")

    def for_valgrind(self, keep=()) -> "LoopConfig":
        """This loop under the Valgrind policy (apply_valgrind_policy): a copy whose fields not
        named in `keep` (the ones the user set) take the policy's values."""
        from dataclasses import replace

        fields = {k: getattr(self, k) for k in ("iterations", "prompt", "max_tokens", "n_ctx")}
        return replace(self, **apply_valgrind_policy(fields, keep))

    @classmethod
    def from_options(cls, values: dict, *, given=(), valgrind: bool = False,
                     validate_models: bool = True) -> "LoopConfig":
        """The loop the command-line options ask for. `values`: option name -> value (None or ()
        where not set: the default), "models" aliases or paths, "model_paths" ALIAS=PATH
        overrides; `given`: the names the user set. --quick ("quick": true) replaces the models,
        iterations and tokens not given; `valgrind` then applies the Valgrind policy to what
        was not given (it wins over --quick's counts). Every check that needs no model runs
        before a model is resolved; then each model is resolved and, with `validate_models`,
        checked to be a complete GGUF file before llama.cpp sees it (user files first, so a
        bad path fails before a missing twin is written)."""
        from profiler import models as M

        given = set(given)
        defaults = cls.defaults()
        v = {k: (defaults[k] if values.get(k) in (None, ()) else values[k])
             for k in ("models", "iterations", "strategy", "max_tokens", "n_ctx", "threads")}
        v["prompt"] = values.get("prompt")
        if values.get("quick"):
            v = apply_quick(v, [k for k in QUICK if k in given])
        if valgrind:
            v = apply_valgrind_policy(v, given)
        check_fields(**v)
        overrides = M.parse_overrides(values.get("model_paths"))
        resolved = [M.resolve_model(name, overrides, create=False) for name in v["models"]]
        for r in resolved:
            if validate_models and r.source != "twin":
                M.validate_gguf(r.path)
        for i, r in enumerate(resolved):
            if r.source == "twin":
                resolved[i] = r = M.resolve_model(r.alias, overrides)
                if validate_models:
                    M.validate_gguf(r.path)
        kw = {k: v[k] for k in ("iterations", "strategy", "max_tokens", "n_ctx", "threads")}
        if v["prompt"] is not None:
            kw["prompt"] = v["prompt"]
        return cls(models=[{"alias": r.alias, "path": str(r.path.resolve())} for r in resolved],
                   collect_garbage=bool(values.get("collect_garbage")), **kw)

    def model_for(self, iteration: int) -> dict:
        """The model of 1-based `iteration`: the list is visited in turn."""
        return self.models[(iteration - 1) % len(self.models)]

    @classmethod
    def defaults(cls) -> dict:
        """Each field's default ("models": the default aliases; "threads": all usable cores)."""
        out = {"models": DEFAULT_MODELS}
        for name, f in cls.__dataclass_fields__.items():
            if name != "models":
                out[name] = f.default_factory() if callable(f.default_factory) else f.default
        return out

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "LoopConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["models"] = [{"alias": str(m.get("alias") or ""), "path": str(m.get("path") or "")}
                           if isinstance(m, dict) else m for m in known.get("models") or []]
        return cls(**known)

    def save(self, path: Path) -> None:
        from profiler.rundir import write_json

        write_json(Path(path), self.to_json())

    @classmethod
    def load(cls, path: Path) -> "LoopConfig":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageProblem(f"cannot read loop configuration {path}: {exc}") from None
        if not isinstance(data, dict):
            raise UsageProblem(f"{path}: loop configuration must be a JSON object")
        return cls.from_json(data)
