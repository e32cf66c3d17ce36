"""Short display names for frames and sites: C++ signatures and install paths drown a table.

`llama_model_loader::create_tensor(llama_hparams const&, std::vector<...> ...) const (in /x/y/libllama.so)`
reads as `llama_model_loader::create_tensor() (in libllama.so)`. Only the display shortens; the
JSON result and sites.csv keep the full names.
"""
from __future__ import annotations

import re

_LOCATION = re.compile(r"^(?P<fn>.*?)(?P<loc> \((?:in )?[^()]*\))?$")


def _collapse(text: str, open_: str, close: str, keep: str) -> str:
    """Replace every outermost open_..close group by `keep` (balanced, nesting-aware)."""
    out, depth = [], 0
    for ch in text:
        if ch == open_:
            if depth == 0:
                out.append(keep)
            depth += 1
        elif ch == close and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def short_function(fn: str) -> str:
    fn = fn.strip()
    if "operator" in fn:  # operator() / operator< would confuse the bracket folding: fold only before it
        scope, _, op = fn.partition("operator")
        name = op.split("(", 2)[0] if not op.startswith("()") else "()"
        return _collapse(scope, "<", ">", "<…>") + "operator" + name
    fn = _collapse(fn, "<", ">", "<…>")
    fn = _collapse(fn, "(", ")", "()")
    return re.sub(r"\)\s*(const|volatile|&|&&|noexcept)(\s|$).*", ")", fn)


def _short_location(loc: str) -> str:
    inner = loc.strip()[1:-1]
    if inner.startswith("in "):
        return f" (in {inner[3:].rsplit('/', 1)[-1]})"
    path, sep, line = inner.rpartition(":")
    if not sep or not line.isdigit():
        path, line = inner, ""
    parts = path.split("/")
    short = "/".join(parts[-2:]) if len(parts) > 2 else path
    return f" ({short}{':' + line if line else ''})"


LONG = 60  # a frame label up to this many characters reads fine as it is


def short_frame(label: str) -> str:
    label = str(label)
    if len(label) <= LONG:
        return label
    m = _LOCATION.match(label)
    if not m:
        return label
    fn, loc = m.group("fn"), m.group("loc")
    return short_function(fn) + (_short_location(loc) if loc else "")


def short_site(label: str) -> str:
    """A site label may be `frame <- caller`: shorten each part."""
    return " <- ".join(short_frame(p) for p in str(label).split(" <- "))
