"""Model aliases, where each resolves to, and GGUF validation before llama.cpp sees a file.

A user with the real Qwen3 GGUF files points memprof at them; everyone else gets a
synthetic twin written once into the cache. Resolution order for an alias:
`--model-path ALIAS=PATH` > env MEMPROF_MODEL_0_6B / MEMPROF_MODEL_1_7B > config file
([models] table of $MEMPROF_CONFIG or ~/.config/memprof/config.toml) > synthetic twin.
A plain path to a .gguf file is accepted wherever an alias is.

validate_gguf exists because llama.cpp, handed a foreign or truncated file, fails with
a vague message or worse; we read the header ourselves and say what is wrong in one line.
"""
from __future__ import annotations

import os
import struct
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from profiler.errors import BadModel, UsageProblem

ALIASES = ("0.6b", "1.7b", "tiny-0.6b", "tiny-1.7b")
ENV_VARS = {"0.6b": "MEMPROF_MODEL_0_6B", "1.7b": "MEMPROF_MODEL_1_7B"}
TWIN_VERSION = 3  # = profiler.gguf_twin.TWIN_VERSION (kept here so listing imports no numpy)
TWIN_FILES = {alias: f"qwen3-{alias}-twin-v{TWIN_VERSION}-q8_0.gguf" for alias in ALIASES}


@dataclass(frozen=True)
class ResolvedModel:
    alias: str
    path: Path
    source: str  # "user" | "env" | "config" | "twin" | "path"

    def to_json(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def cache_dir() -> Path:
    env = os.environ.get("MEMPROF_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "memprof" / "models"


def config_path() -> Path:
    env = os.environ.get("MEMPROF_CONFIG")
    return Path(env).expanduser() if env else Path.home() / ".config" / "memprof" / "config.toml"


def config_models() -> dict[str, str]:
    """The [models] table of the config file ({} when there is no file)."""
    import tomllib

    p = config_path()
    if not p.is_file():
        return {}
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageProblem(f"{p}: not valid TOML ({exc})") from None
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise UsageProblem(f"{p}: [models] must be a table of alias = \"path\"")
    return {str(k): str(v) for k, v in models.items()}


def parse_overrides(items) -> dict[str, str]:
    """`--model-path ALIAS=PATH` values -> {alias: path}."""
    out = {}
    for item in items or ():
        alias, sep, path = item.partition("=")
        if not sep or not alias or not path:
            raise UsageProblem(f"--model-path expects ALIAS=PATH, got {item!r}")
        out[alias.strip()] = path.strip()
    return out


def _looks_like_path(name: str) -> bool:
    return name.endswith(".gguf") or os.sep in name or name.startswith(".") or Path(name).exists()


def twin_path(alias: str, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / TWIN_FILES[alias]


def resolve_model(name: str, overrides: dict[str, str] | None = None, *, create: bool = True) -> ResolvedModel:
    """What `name` (an alias or a path) means. With `create`, a missing twin is written now."""
    overrides = overrides or {}
    if name in overrides:
        return ResolvedModel(name, Path(overrides[name]).expanduser(), "user")
    if name in ALIASES:
        env = ENV_VARS.get(name)
        if env and os.environ.get(env):
            return ResolvedModel(name, Path(os.environ[env]).expanduser(), "env")
        configured = config_models().get(name)
        if configured:
            return ResolvedModel(name, Path(configured).expanduser(), "config")
        path = ensure_twin(name) if create else twin_path(name)
        return ResolvedModel(name, path, "twin")
    if _looks_like_path(name):
        p = Path(name).expanduser()
        return ResolvedModel(p.stem, p, "path")
    raise UsageProblem(f"unknown model {name!r}: use one of {', '.join(ALIASES)} or a path to a .gguf file")


def ensure_twin(alias: str, cache_dir: Path | None = None, *, show_progress: bool | None = None) -> Path:
    """The synthetic twin for `alias`, written once into the cache (progress bar on a tty)."""
    from profiler import gguf_twin

    if alias not in gguf_twin.SPECS:
        raise UsageProblem(f"no synthetic twin for {alias!r}: use one of {', '.join(gguf_twin.SPECS)}")
    path = twin_path(alias, Path(cache_dir) if cache_dir else None)  # twin_path sees the module's cache_dir()
    if path.is_file():
        return path
    spec = gguf_twin.SPECS[alias]
    if show_progress is None:
        show_progress = sys.stderr.isatty()
    bar = None
    if show_progress:
        from tqdm import tqdm

        bar = tqdm(total=spec.data_bytes(), unit="B", unit_scale=True, unit_divisor=1024,
                   desc=f"writing {alias} twin", file=sys.stderr, leave=False)
    try:
        gguf_twin.write_twin(spec, path, progress=bar.update if bar else None)
    except OSError as exc:
        raise BadModel(f"cannot write the {alias} twin to {path}: {exc.strerror or exc}") from None
    finally:
        if bar:
            bar.close()
    return path


def _file_size(p: Path) -> int | None:
    try:
        return p.stat().st_size if p.is_file() else None
    except OSError:
        return None


def list_models(overrides: dict[str, str] | None = None) -> list[dict]:
    """One row per alias (the built-in ones, then any new one an override names): alias, source,
    path, size (bytes or None), exists. Writes nothing."""
    rows = []
    # an override may name a new alias (`--model mine --model-path mine=F` works in `run`): list it too
    for alias in (*ALIASES, *(a for a in (overrides or {}) if a not in ALIASES)):
        r = resolve_model(alias, overrides, create=False)
        size = _file_size(r.path)
        rows.append({"alias": alias, "source": r.source, "path": str(r.path),
                     "size": size, "exists": size is not None})
    return rows


# ---------------------------------------------------------------- validation

GGUF_MAGIC = b"GGUF"
_SCALARS = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # type -> size
_STRING, _ARRAY = 8, 9


class _Truncated(Exception):
    pass


class _Reader:
    """Buffered little-endian reader over a file that raises _Truncated at EOF."""

    def __init__(self, f):
        self.f = f
        self.pos = 0

    def read(self, n: int) -> bytes:
        b = self.f.read(n)
        if len(b) != n:
            raise _Truncated()
        self.pos += n
        return b

    def u32(self) -> int:
        return struct.unpack("<I", self.read(4))[0]

    def u64(self) -> int:
        return struct.unpack("<Q", self.read(8))[0]

    def skip(self, n: int) -> None:
        if n > 1 << 40:
            raise _Truncated()
        self.read(n) if n < 1 << 16 else self._skip_big(n)

    def _skip_big(self, n: int) -> None:
        while n:
            k = min(n, 1 << 20)
            self.read(k)
            n -= k

    def string(self) -> bytes:
        n = self.u64()
        if n > 1 << 30:
            raise ValueError(f"string length {n} is implausible")
        return self.read(n)


def _skip_value(r: _Reader, vtype: int) -> object:
    if vtype in _SCALARS:
        raw = r.read(_SCALARS[vtype])
        return int.from_bytes(raw, "little") if vtype in (4, 10) else None
    if vtype == _STRING:
        return r.string()
    if vtype == _ARRAY:
        sub, n = r.u32(), r.u64()
        if sub in _SCALARS:
            r.skip(_SCALARS[sub] * n)
        elif sub == _STRING:
            for _ in range(n):
                r.skip(r.u64())
        else:
            raise ValueError(f"unsupported array element type {sub}")
        return None
    raise ValueError(f"unknown metadata value type {vtype}")


def validate_gguf(path) -> dict:
    """Check that `path` is a complete GGUF file; raise BadModel with one clear line if not.

    Reads the header, every metadata entry and every tensor descriptor, and checks the
    tensor data fits in the file. Returns {version, n_tensors, n_kv, architecture, size}.
    """
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    p = Path(path)
    if not p.exists():
        raise BadModel(f"model file not found: {p}")
    if not p.is_file():
        raise BadModel(f"not a file: {p}")
    size = p.stat().st_size
    try:
        with open(p, "rb", buffering=1 << 20) as f:
            r = _Reader(f)
            head = f.read(4)
            r.pos = len(head)
            if head != GGUF_MAGIC:
                what = "an empty file" if size == 0 else f"magic {head!r}"
                raise BadModel(f"{p}: not a GGUF file ({what}, expected b'GGUF')")
            try:
                version = r.u32()
                if version not in (2, 3):
                    raise BadModel(f"{p}: unsupported GGUF version {version} (expected 2 or 3)")
                n_tensors, n_kv = r.u64(), r.u64()
                if n_tensors > 1 << 24 or n_kv > 1 << 24:
                    raise BadModel(f"{p}: corrupt GGUF header ({n_tensors} tensors, {n_kv} metadata keys)")
                arch, alignment = None, 32
                for _ in range(n_kv):
                    key = r.string()
                    value = _skip_value(r, r.u32())
                    if key == b"general.architecture" and isinstance(value, bytes):
                        arch = value.decode(errors="replace")
                    elif key == b"general.alignment" and isinstance(value, int) and value:
                        alignment = value
                end = 0
                for _ in range(n_tensors):
                    name = r.string()
                    n_dims = r.u32()
                    if n_dims > 8:
                        raise BadModel(f"{p}: corrupt tensor descriptor for {name.decode(errors='replace')}")
                    dims = [r.u64() for _ in range(n_dims)]
                    ttype, offset = r.u32(), r.u64()
                    try:
                        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ttype)]
                    except (ValueError, KeyError):
                        raise BadModel(f"{p}: tensor {name.decode(errors='replace')} has unknown type {ttype}") from None
                    n = 1
                    for d in dims:
                        n *= d
                    end = max(end, offset + n // block * type_size)
            except _Truncated:
                raise BadModel(f"{p}: truncated GGUF header ({size} bytes)") from None
            data_start = (r.pos + alignment - 1) // alignment * alignment
            if n_tensors and data_start + end > size:
                raise BadModel(f"{p}: truncated GGUF file: tensor data needs {data_start + end} bytes, "
                               f"file has {size}")
    except ValueError as exc:
        raise BadModel(f"{p}: corrupt GGUF metadata ({exc})") from None
    except OSError as exc:
        raise BadModel(f"cannot read model file {p}: {exc.strerror or exc}") from None
    return {"version": version, "n_tensors": n_tensors, "n_kv": n_kv, "architecture": arch, "size": size}
