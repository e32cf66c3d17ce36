"""Render report blocks as one self-contained HTML page through a Jinja2 template
(templates/report.html.j2) with autoescaping: capture site names are attacker-controlled in the
sense that any binary can name its functions anything, and escaping by the template engine
leaves no f-string to forget. Plots are inlined as base64 PNG."""
from __future__ import annotations

import base64
import functools
from pathlib import Path

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.8em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td{font-variant-numeric:tabular-nums}img{max-width:100%}
.verdict{font-size:1.25em;padding:.5em .8em;border-radius:4px;background:#eef}
.verdict.leak{background:#fdd}.verdict.plateau{background:#dfd}.verdict.inconclusive{background:#ffd}
"""


@functools.lru_cache(maxsize=1)
def _template():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("profiler.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    return env.get_template("report.html.j2")


def _inline_images(blocks: list[tuple], base_dir: Path | None) -> list[tuple]:
    """("img", path, alt) -> ("img", base64 data or "", alt); a missing plot is left out."""
    out = []
    for b in blocks:
        if b[0] == "img":
            try:
                data = base64.b64encode((Path(base_dir or ".") / b[1]).read_bytes()).decode("ascii")
            except OSError:
                data = ""
            b = ("img", data, b[2])
        out.append(b)
    return out


def _title(blocks: list[tuple]) -> str:
    h1 = next((b[2] for b in blocks if b[0] == "h" and b[1] == 1), "memprof report")
    return h1 if isinstance(h1, str) else "".join(p if isinstance(p, str) else p[1] for p in h1 if p[0] != "br")


def render(blocks: list[tuple], base_dir: Path, verdict: str = "") -> str:
    return _template().render(blocks=_inline_images(blocks, base_dir), verdict=verdict, fragment=False,
                              title=_title(blocks), style=STYLE)


def fragment(blocks: list[tuple]) -> str:
    """The blocks' HTML without the page around them (images are not inlined)."""
    return _template().render(blocks=[b for b in blocks if b[0] != "img"], verdict="", fragment=True,
                              title="", style="").strip("\n")
