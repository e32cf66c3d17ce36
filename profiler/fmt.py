"""How figures read, everywhere: bytes, MB, signed changes, percentages, plain numbers.

One module so that one report never says "3.00 MiB" in one table and "3.0 MiB" in the next.
The precision policy: byte sizes in binary units with one decimal below 100 of the unit and
none from 100 up ("1.5 KiB", "32.0 KiB", "160 KiB"); MB (2^20 bytes) to a caller-chosen number
of decimals; a figure that is missing (None, NaN, not a number) reads as the caller's `missing`
text, "n/a" unless said otherwise. No layer below the report may print a float with its own
format string where one of these says the same thing.
"""
from __future__ import annotations

import math

from profiler.constants import MB as MiB  # noqa: F401
_UNITS = (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10))


def num(x, default=None):
    """`x` as a float, or `default` when it is None, NaN or not a number (values read back from JSON
    or a DataFrame cell may be any of these)."""
    if x is None:
        return default
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(v) else v


def fmt_bytes(b, missing: str = "n/a") -> str:
    """A byte count in binary units by the one policy (see the module's docstring)."""
    if b is None:
        return missing
    try:
        v = float(b)
    except (TypeError, ValueError):
        return str(b)
    if math.isnan(v):
        return missing
    sign = "-" if v < 0 else ""
    v = abs(v)
    for unit, size in _UNITS:
        if v >= size:
            x = v / size
            return f"{sign}{x:,.1f} {unit}" if x < 100 else f"{sign}{x:,.0f} {unit}"
    return f"{sign}{v:,.0f} B"


def fmt_signed_bytes(b, missing: str = "0") -> str:
    """A change in bytes with its sign: "+32.0 KiB", "-2.0 KiB"; zero or missing reads as `missing`."""
    v = num(b)
    if not v:
        return missing
    return ("+" if v > 0 else "") + fmt_bytes(v)


def fmt_mb(x, nd: int = 0, missing: str = "n/a") -> str:
    """A figure already in MB: "1,234 MB" (nd decimals)."""
    v = num(x)
    return missing if v is None else f"{v:,.{nd}f} MB"


def fmt_signed(x, unit: str = "", missing: str = "n/a") -> str:
    """A slope or change with its sign, in the shortest form that keeps its digits: "+0.0312 MB/iter"."""
    v = num(x)
    return missing if v is None else f"{v:+g}{unit}"


def fmt_pct(part, whole, nd: int = 0, missing: str = "-") -> str:
    """`part` as a share of `whole`: "94%"; `missing` when the whole is zero or either is missing."""
    p, w = num(part), num(whole)
    if p is None or not w:
        return missing
    return f"{100 * p / w:.{nd}f}%"


def fmt_num(x, nd: int = 2, missing: str = "n/a") -> str:
    """A float to `nd` decimals with thousands separators; anything else as it prints."""
    if x is None:
        return missing
    if isinstance(x, float):
        return missing if math.isnan(x) else f"{x:,.{nd}f}"
    return str(x)


def fmt_duration(seconds: float) -> str:
    """A duration as a person reads it: seconds, then minutes, hours, days (one policy everywhere)."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"
