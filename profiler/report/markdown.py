"""Render report blocks as markdown. Data strings are escaped so that a site name such as
`<script>` or `a|b` is shown as text by any markdown viewer and never breaks a table."""
from __future__ import annotations

_SPECIAL = "\\`*<|"


def esc(text) -> str:
    """Escape what could start markup: backslash, code, emphasis, an HTML tag, a table cell
    separator, and a link (`](`); plain brackets such as a CI "[-0.3, +0.4]" stay readable."""
    out = []
    text = str(text)
    for i, ch in enumerate(text):
        if ch in _SPECIAL or (ch == "]" and text[i + 1:i + 2] in ("(", "[", ":")):
            out.append("\\" + ch)
        elif ch in "\r\n":
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def inline(x) -> str:
    """A text or cell: a plain string escaped, or spans (see document.py)."""
    if isinstance(x, str):
        return esc(x)
    out = []
    for part in x:
        if isinstance(part, str):
            out.append(esc(part))
        elif part[0] == "code":
            # no escape works inside a code span: a backtick would end it; a pipe ends a table cell
            out.append("`" + part[1].replace("`", "'").replace("|", "\\|").replace("\n", " ") + "`")
        elif part[0] == "b":
            out.append(f"**{esc(part[1])}**")
        elif part[0] == "br":
            out.append(part[1])
    return "".join(out)


def render(blocks: list[tuple]) -> str:
    parts: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            parts.append("#" * b[1] + " " + inline(b[2]))
        elif kind == "p":
            parts.append(inline(b[1]))
        elif kind == "strong":
            parts.append(f"**{esc(b[1])}**")
        elif kind == "ul":
            parts.append("\n".join(f"- {inline(item)}" for item in b[1]))
        elif kind == "table":
            head, rows = b[1], b[2]
            lines = ["| " + " | ".join(inline(h) for h in head) + " |",
                     "|" + "|".join("---" for _ in head) + "|"]
            lines += ["| " + " | ".join(inline(c) for c in row) + " |" for row in rows]
            parts.append("\n".join(lines))
        elif kind == "img":
            parts.append(f"![{esc(b[2])}]({b[1]})")
    return "\n\n".join(parts) + "\n"
