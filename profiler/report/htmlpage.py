"""Render report blocks as one self-contained HTML page: plots inlined as base64 PNG, every
string from the data passed through html.escape (capture site names are attacker-controlled
in the sense that any binary can name its functions anything)."""
from __future__ import annotations

import base64
import html
from pathlib import Path

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.8em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td{font-variant-numeric:tabular-nums}img{max-width:100%}
.verdict{font-size:1.25em;padding:.5em .8em;border-radius:4px;background:#eef}
.verdict.leak{background:#fdd}.verdict.plateau{background:#dfd}.verdict.inconclusive{background:#ffd}
"""


def _img(path: Path, alt: str) -> str:
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError:
        return ""
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def render(blocks: list[tuple], base_dir: Path, verdict: str = "") -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">']
    title = next((b[2] for b in blocks if b[0] == "h" and b[1] == 1), "memprof report")
    out.append(f"<title>{e(title)}</title><style>{STYLE}</style></head><body>")
    for b in blocks:
        kind = b[0]
        if kind == "h":
            out.append(f"<h{b[1]}>{e(b[2])}</h{b[1]}>")
        elif kind == "p":
            out.append(f"<p>{e(b[1])}</p>")
        elif kind == "strong":
            out.append(f'<p class="verdict {e(verdict)}"><strong>{e(b[1])}</strong></p>')
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in b[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in b[1])
            rows = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b[2])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            out.append(_img(base_dir / b[1], b[2]))
        elif kind == "raw":
            if b[2]:
                out.append(b[2])
    out.append("</body></html>")
    return "\n".join(out) + "\n"
