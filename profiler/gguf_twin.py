"""Synthetic twins: GGUF files with a real model's architecture and random weights.

No model can be downloaded where memprof is built and tested, yet llama.cpp loads a
file with Qwen3's tensor shapes exactly as it loads the real one: same buffers, same
KV cache, same compute graph, hence the same memory behaviour. The twin is written in
Q8_0 (the common distribution) by generating the quantized block bytes directly
(an f16 scale and 32 int8 values per block) instead of quantizing floats, so the
1.7B twin takes seconds, not minutes. The file is written under a temporary name and
renamed when complete: an interrupted write never leaves half a model in the cache.

The tokenizer is a small byte-level BPE ("gpt2" model, "qwen2" pre-tokenizer) made of
the 256 byte symbols, two- and three-symbol tokens and three Qwen control tokens:
enough for llama.cpp to tokenize any prompt and detokenize any generated id.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

# Part of the cached file name: bump it whenever the bytes a spec produces change.
TWIN_VERSION = 3
QK8_0 = 32                 # values per Q8_0 block
Q8_0_BLOCK_BYTES = 2 + QK8_0  # f16 scale + 32 int8
ALIGNMENT = 32             # GGUF default data alignment
CHUNK_BLOCKS = 1 << 20     # blocks generated per write (34 MiB)


@dataclass(frozen=True)
class TwinSpec:
    """Shape of a Qwen3-style model (the hyperparameters llama.cpp's qwen3 loader reads)."""

    name: str
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_vocab: int
    n_ctx_train: int = 40960
    rope_freq_base: float = 1_000_000.0
    rms_eps: float = 1e-6
    seed: int = 0
    gain: float = 1.0        # layer weights: std = gain / sqrt(fan_in)
    embd_std: float = 0.02   # token embedding (tied with the output)

    def tensors(self) -> list[tuple[str, tuple[int, ...], str]]:
        """(name, numpy shape rows x cols, kind) in file order; kind is "q8_0" or "f32".
        Embeddings are tied (no output.weight), as in the real Qwen3-0.6B and 1.7B."""
        e, f, q, kv = self.n_embd, self.n_ff, self.n_head * self.head_dim, self.n_head_kv * self.head_dim
        out = [("token_embd.weight", (self.n_vocab, e), "q8_0")]
        for i in range(self.n_layer):
            b = f"blk.{i}."
            out += [
                (b + "attn_norm.weight", (e,), "f32"),
                (b + "attn_q.weight", (q, e), "q8_0"),
                (b + "attn_k.weight", (kv, e), "q8_0"),
                (b + "attn_v.weight", (kv, e), "q8_0"),
                (b + "attn_output.weight", (e, q), "q8_0"),
                (b + "attn_q_norm.weight", (self.head_dim,), "f32"),
                (b + "attn_k_norm.weight", (self.head_dim,), "f32"),
                (b + "ffn_norm.weight", (e,), "f32"),
                (b + "ffn_gate.weight", (f, e), "q8_0"),
                (b + "ffn_up.weight", (f, e), "q8_0"),
                (b + "ffn_down.weight", (e, f), "q8_0"),
            ]
        out.append(("output_norm.weight", (e,), "f32"))
        return out

    def data_bytes(self) -> int:
        return sum(_pad(_nbytes(shape, kind)) for _, shape, kind in self.tensors())


# Real Qwen3 shapes (config.json of Qwen/Qwen3-0.6B and Qwen/Qwen3-1.7B).
SPECS: dict[str, TwinSpec] = {
    "0.6b": TwinSpec("Qwen3-0.6B synthetic twin", 28, 1024, 3072, 16, 8, 128, 151936, seed=6),
    "1.7b": TwinSpec("Qwen3-1.7B synthetic twin", 28, 2048, 6144, 16, 8, 128, 151936, seed=17),
    # Same architecture scaled down to a few MB, for tests and quick runs; the larger
    # one is several times the smaller so that switching between them costs something.
    "tiny-0.6b": TwinSpec("Qwen3 tiny twin (0.6B-like)", 2, 128, 384, 4, 2, 32, 4096, n_ctx_train=4096, seed=106),
    "tiny-1.7b": TwinSpec("Qwen3 tiny twin (1.7B-like)", 4, 256, 768, 4, 2, 64, 8192, n_ctx_train=4096, seed=117),
}


def _nbytes(shape: tuple[int, ...], kind: str) -> int:
    n = int(np.prod(shape))
    return n * 4 if kind == "f32" else n // QK8_0 * Q8_0_BLOCK_BYTES


def _pad(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


# ---------------------------------------------------------------- tokenizer


def byte_symbols() -> list[str]:
    """The printable stand-in for each byte used by byte-level BPE (index = byte value):
    printable Latin-1 bytes stand for themselves, the others map to code points from 256 up."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return [table[b] for b in range(256)]


CONTROL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
TOKEN_NORMAL, TOKEN_CONTROL = 1, 3


def make_vocab(n_vocab: int) -> tuple[list[str], list[int], list[str], dict[str, int]]:
    """tokens, token types, merges and special ids for a vocabulary of exactly n_vocab entries.

    Every normal token is a string of byte symbols, so llama.cpp can turn any id back into
    bytes; the merges build the two-symbol tokens, so prompts tokenize into real pairs.
    The control tokens sit at Qwen's ids (151643..151645) in a full vocabulary, at the end
    of a small one.
    """
    syms = byte_symbols()
    n_special = len(CONTROL_TOKENS)
    if n_vocab < 256 + n_special:
        raise ValueError("vocabulary too small for the byte symbols")
    special_at = 151643 if n_vocab >= 151646 + 1 else n_vocab - n_special
    normal: list[str] = list(syms)
    merges: list[str] = []
    need = n_vocab - n_special
    # Pairs in an order that favours common ASCII first, then three-symbol tokens.
    order = sorted(range(256), key=lambda b: (not (0x61 <= b <= 0x7A), not (0x20 <= b < 0x7F), b))
    for a in order:
        if len(normal) >= need:
            break
        for b in order:
            if len(normal) >= need:
                break
            normal.append(syms[a] + syms[b])
            merges.append(f"{syms[a]} {syms[b]}")
    if len(normal) < need:
        for a in order:
            for b in order:
                for c in order:
                    if len(normal) >= need:
                        break
                    normal.append(syms[a] + syms[b] + syms[c])
                if len(normal) >= need:
                    break
            if len(normal) >= need:
                break
    tokens = normal[:special_at] + list(CONTROL_TOKENS) + normal[special_at:]
    types = [TOKEN_NORMAL] * len(tokens)
    for i in range(n_special):
        types[special_at + i] = TOKEN_CONTROL
    ids = {name: special_at + i for i, name in enumerate(CONTROL_TOKENS)}
    assert len(tokens) == n_vocab
    return tokens, types, merges, ids


# ---------------------------------------------------------------- weights


def _q8_0_chunks(bits: np.random.BitGenerator, n_blocks: int, scale: float):
    """Yield Q8_0 block bytes: a constant f16 scale and 32 random int8 values per block.

    Raw generator output is the cheapest randomness numpy has (Generator.bytes is several
    times slower), and every int8 value including -128 is a valid Q8_0 quant.
    """
    scale_bytes = np.frombuffer(np.float16(scale).tobytes(), dtype=np.uint8)
    done = 0
    while done < n_blocks:
        n = min(CHUNK_BLOCKS, n_blocks - done)
        nbytes = n * Q8_0_BLOCK_BYTES
        buf = bits.random_raw((nbytes + 7) // 8).view(np.uint8)[:nbytes].reshape(n, Q8_0_BLOCK_BYTES)
        buf[:, :2] = scale_bytes
        yield buf
        done += n


def _scale(name: str, shape: tuple[int, ...], spec: TwinSpec) -> float:
    """Q8_0 block scale giving weights of standard deviation gain/sqrt(fan_in).

    Uniform int8 values have a standard deviation of about 73. With the customary 0.02
    everywhere, the tied embedding dominates the residual stream and greedy decoding
    repeats the prompt's last token; a fan-in-scaled init makes the outputs vary.
    """
    gain = spec.embd_std if name == "token_embd.weight" else spec.gain / np.sqrt(shape[-1])
    return float(gain) / 73.0


def _f32_norm(rng: np.random.Generator, n: int) -> np.ndarray:
    return (1.0 + 0.05 * rng.standard_normal(n)).astype(np.float32)


def write_twin(spec: TwinSpec, path: Path, *, progress: Callable[[int], None] | None = None) -> Path:
    """Write `spec` as a Q8_0 GGUF at `path` (atomically: temp name, then rename).
    `progress(n)` is called with the number of data bytes written since the last call."""
    import gguf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    bits = np.random.PCG64(spec.seed)          # weights
    rng = np.random.default_rng(spec.seed + 1)  # norms
    tokens, types, merges, ids = make_vocab(spec.n_vocab)
    try:
        w = gguf.GGUFWriter(tmp, "qwen3")
        w.add_name(spec.name)
        w.add_type("model")
        w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
        w.add_context_length(spec.n_ctx_train)
        w.add_embedding_length(spec.n_embd)
        w.add_block_count(spec.n_layer)
        w.add_feed_forward_length(spec.n_ff)
        w.add_head_count(spec.n_head)
        w.add_head_count_kv(spec.n_head_kv)
        w.add_key_length(spec.head_dim)
        w.add_value_length(spec.head_dim)
        w.add_rope_freq_base(spec.rope_freq_base)
        w.add_layer_norm_rms_eps(spec.rms_eps)
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("qwen2")
        w.add_token_list(tokens)
        w.add_token_types(types)
        w.add_token_merges(merges)
        w.add_bos_token_id(ids["<|endoftext|>"])
        w.add_eos_token_id(ids["<|im_end|>"])
        w.add_pad_token_id(ids["<|endoftext|>"])
        w.add_add_bos_token(False)
        layout = spec.tensors()
        for name, shape, kind in layout:
            if kind == "f32":
                w.add_tensor_info(name, shape, np.dtype(np.float32), _nbytes(shape, kind))
            else:
                byte_shape = (*shape[:-1], shape[-1] // QK8_0 * Q8_0_BLOCK_BYTES)
                w.add_tensor_info(name, byte_shape, np.dtype(np.uint8), _nbytes(shape, kind),
                                  raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_ti_data_to_file()
        fout = w.fout[0]
        # Tensor data streamed in chunks, each tensor aligned (the offsets the writer recorded).
        for name, shape, kind in layout:
            fout.write(b"\0" * (_pad(fout.tell()) - fout.tell()))
            if kind == "f32":
                fout.write(_f32_norm(rng, int(np.prod(shape))).tobytes())
            else:
                for chunk in _q8_0_chunks(bits, int(np.prod(shape)) // QK8_0, _scale(name, shape, spec)):
                    fout.write(chunk.data)
                    if progress:
                        progress(chunk.nbytes)
            nb = _nbytes(shape, kind)
            fout.write(b"\0" * (_pad(nb) - nb))
        fout.flush()
        os.fsync(fout.fileno())
        w.close()
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    return path
