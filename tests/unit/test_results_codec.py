"""The result codec: to_json/from_json round-trip nested frozen dataclasses, NaN becomes null,
optional keys are left out, unknown keys are ignored and a wrong type is refused."""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
import pytest

from profiler.results import Record, field_key


class Kind(enum.Enum):
    LEAK = "leak"
    POOL = "pool"


@dataclass(frozen=True)
class Inner(Record):
    name: str
    mb: float | None = None


@dataclass(frozen=True)
class Outer(Record):
    kind: Kind
    inners: tuple[Inner, ...] = ()
    by_model: dict[str, Inner] = field_key(default_factory=dict)
    span: tuple[int, int] | None = None
    note: str | None = field_key(omit_none=True, default=None)
    per_hour: float | None = field_key("per-hour", omit_none=True, default=None)


def test_round_trip_nested():
    o = Outer(Kind.LEAK, (Inner("a", 1.5), Inner("b")), {"m": Inner("c", 2.0)}, (3, 9), "n", 4.0)
    d = o.to_json()
    assert d == {"kind": "leak", "inners": [{"name": "a", "mb": 1.5}, {"name": "b", "mb": None}],
                 "by_model": {"m": {"name": "c", "mb": 2.0}}, "span": [3, 9], "note": "n", "per-hour": 4.0}
    assert Outer.from_json(d) == o


def test_nan_and_numpy_become_json():
    d = Outer(Kind.POOL, (Inner("a", float("nan")), Inner("b", np.float64(2.5)))).to_json()
    assert d["inners"] == [{"name": "a", "mb": None}, {"name": "b", "mb": 2.5}]
    assert "note" not in d and "per-hour" not in d
    assert type(d["inners"][1]["mb"]) is float and not math.isnan(d["inners"][1]["mb"])


def test_unknown_keys_ignored_and_wrong_types_refused():
    assert Outer.from_json({"kind": "pool", "added_later": 1}) == Outer(Kind.POOL)
    with pytest.raises(ValueError):
        Outer.from_json({"kind": "growing"})
    with pytest.raises(TypeError):
        Inner.from_json({"name": "a", "mb": "big"})
    with pytest.raises(TypeError):
        Outer.from_json([1, 2])


@dataclass(frozen=True)
class Open(Record):
    path: str
    rest: dict = field_key(extra=True, default_factory=dict)
    memo: object = field_key(internal=True, default=None)


def test_extra_keys_kept_in_place_and_internal_fields_never_written():
    d = {"path": "p", "reason": "cut", "complete_lines": 12}
    o = Open.from_json(d)
    assert o.rest == {"reason": "cut", "complete_lines": 12}
    assert Open("p", {"reason": "cut", "complete_lines": 12}, memo=[1]).to_json() == d
    assert Open.from_json({**d, "memo": "x"}) == o and Open.from_json({**d, "memo": "x"}).memo is None


def test_a_cut_at_a_whole_second_reads_as_the_runner_wrote_it():
    """meta.json's cut says `"after_s": 1.0` (the runner rounds to 0.1 s); the RUN CUT line a later
    analyze prints must say "after 1.0 s" like the live error line, not "after 1 s"."""
    from profiler.results.analysis import RunCut

    cut = RunCut.from_json({"reason": "interrupted", "how": "after the current step", "after_s": 1.0,
                            "saved": [], "iterations": 6})
    assert cut.line() == ("RUN CUT (INTERRUPTED, stopped after the current step, after 1.0 s and 6 iteration(s)): "
                          "nothing after it was measured")
    assert cut.to_json()["after_s"] == 1.0 and isinstance(cut.to_json()["after_s"], float)
