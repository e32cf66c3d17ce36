"""JSON for frozen dataclasses, derived from their field types.

Why not a library: the results need only plain JSON in and out, with NaN as null and
numpy scalars as numbers (jsonout's rules); dataclasses and typing already say the shape,
so a few dozen lines keep the results free of a validation framework's import cost and
runtime. The JSON Schema file stays the public description.

A field may carry metadata: `key` (its JSON name when that is not a Python name),
`omit_none` (left out of the JSON when None, for keys that appear only sometimes),
`present` (a predicate on the record: the key is written, null included, only when it holds;
for a key that belongs to one kind of row and may be null there),
`extra` (a dict field holding the object's keys no other field names: spread into the JSON at
its place, filled from the unknown keys on read; for records whose keys a tool decides, such as
a parser's truncation note) and `internal` (in-memory only: never written, never read).
Unknown keys in `from_json` input are ignored: a newer memprof may add keys (schema rule).
"""
from __future__ import annotations

import enum
import math
import types
import typing
from dataclasses import MISSING, field, fields, is_dataclass
from functools import lru_cache

from profiler.jsonout import plain


def field_key(key: str | None = None, *, omit_none: bool = False, present=None, extra: bool = False,
              internal: bool = False, default=MISSING, default_factory=MISSING):
    """A dataclass field with JSON metadata (see the module docstring)."""
    meta = {"omit_none": omit_none, "extra": extra, "internal": internal}
    if key:
        meta["key"] = key
    if present is not None:
        meta["present"] = present
    kw = {}
    if default is not MISSING:
        kw["default"] = default
    if default_factory is not MISSING:
        kw["default_factory"] = default_factory
    if internal:
        kw["compare"] = False
        kw["repr"] = False
    return field(metadata=meta, **kw)


class Record:
    """Mixin for the frozen result dataclasses: `to_json()` and `cls.from_json(d)`."""

    def to_json(self) -> dict:
        out = {}
        for f in fields(self):  # type: ignore[arg-type]
            if f.metadata.get("internal"):
                continue
            v = getattr(self, f.name)
            if f.metadata.get("extra"):
                out.update(encode(v or {}))
                continue
            if v is None and f.metadata.get("omit_none"):
                continue
            if "present" in f.metadata and not f.metadata["present"](self):
                continue
            out[f.metadata.get("key", f.name)] = encode(v)
        return out

    @classmethod
    def from_json(cls, data):
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise TypeError(f"{cls.__name__}.from_json expects an object, got {type(data).__name__}")
        hints = _hints(cls)
        kw = {}
        known, rest = set(), None
        for f in fields(cls):  # type: ignore[arg-type]
            if not f.init or f.metadata.get("internal"):
                known.add(f.name)
                continue
            if f.metadata.get("extra"):
                rest = f.name
                continue
            key = f.metadata.get("key", f.name)
            known.add(key)
            if key in data:
                kw[f.name] = decode(hints[f.name], data[key])
        if rest is not None:
            kw[rest] = {k: v for k, v in data.items() if k not in known}
        return cls(**kw)


@lru_cache(maxsize=None)
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def encode(v):
    """A value as plain JSON data (non-finite floats become None)."""
    if isinstance(v, Record):
        return v.to_json()
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, dict):
        return {str(k): encode(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [encode(x) for x in v]
    v = plain(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def decode(tp, v):
    """JSON data `v` as type `tp` (the dataclass field's annotation)."""
    if v is None or tp is typing.Any:
        return v
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        for a in inner:
            try:
                return decode(a, v)
            except (TypeError, ValueError):
                continue
        raise TypeError(f"{v!r} matches none of {tp}")
    if origin is typing.Literal:
        if v not in args:
            raise ValueError(f"{v!r} is not one of {args}")
        return v
    if origin in (tuple, list):
        if not isinstance(v, (list, tuple)):
            raise TypeError(f"expected a list for {tp}, got {type(v).__name__}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            return tuple(decode(a, x) for a, x in zip(args, v))
        item = args[0] if args else typing.Any
        seq = [decode(item, x) for x in v]
        return tuple(seq) if origin is tuple else seq
    if origin is dict:
        if not isinstance(v, dict):
            raise TypeError(f"expected an object for {tp}, got {type(v).__name__}")
        vt = args[1] if len(args) == 2 else typing.Any
        return {k: decode(vt, x) for k, x in v.items()}
    if isinstance(tp, type):
        if is_dataclass(tp) and issubclass(tp, Record):
            return tp.from_json(v)
        if issubclass(tp, enum.Enum):
            return tp(v)
        if tp is float:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"expected a number, got {v!r}")
            return float(v)
        if tp is int:
            if isinstance(v, bool) or not isinstance(v, int):
                if isinstance(v, float) and v.is_integer():
                    return int(v)
                raise TypeError(f"expected an integer, got {v!r}")
            return v
        if tp is str:
            if not isinstance(v, str):
                raise TypeError(f"expected a string, got {v!r}")
            return v
        if tp is bool:
            if not isinstance(v, bool):
                raise TypeError(f"expected true or false, got {v!r}")
            return v
    return v
