"""One render path: every section of the report, the allocation-site section included, is
document.py blocks; markdown and HTML are both rendered from them, the HTML by the Jinja2
template with autoescaping."""
from __future__ import annotations

import html

from profiler import pipeline
from profiler.report import document, htmlpage, markdown, triage_section
from testkit import DATA

EVIL = '<img src=x onerror="alert(1)">'


def _spans(blocks):
    for b in blocks:
        for part in b[1:]:
            items = part if isinstance(part, list) else [part]
            for item in items:
                rows = item if isinstance(item, list) else [item]
                for cell in rows:
                    cells = cell if isinstance(cell, list) else [cell]
                    for span in cells:
                        if isinstance(span, tuple) and span[0] == "code":
                            yield span[1]


def test_site_section_is_blocks_rendered_both_ways():
    result = pipeline.analyze(DATA / "massif" / "templated.massif.out", save=False)
    blocks = triage_section.blocks(result)
    assert blocks[0] == ("h", 2, "Allocation sites")
    names = set(_spans(blocks))
    assert any("Cache<" in n for n in names)
    md, page = markdown.render(blocks), htmlpage.fragment(blocks)
    assert triage_section.markdown(result) == md and triage_section.html(result) == page
    for n in names:
        assert f"`{n}`" in md and f"<code>{html.escape(n, quote=True).replace('&#x27;', '&#39;')}</code>" in page
    whole = document.build(result, {})
    assert all(b[0] in ("h", "p", "strong", "ul", "table", "img") for b in whole)   # no pre-rendered markup


def test_template_escapes_every_text_and_span():
    blocks = [("h", 1, EVIL), ("p", [EVIL, ("code", EVIL), ("b", EVIL)]), ("ul", [EVIL]),
              ("table", [EVIL], [[EVIL], [[("code", EVIL), ("br", " <- "), ("code", EVIL)]]]), ("strong", EVIL),
              ("img", "no-such.png", EVIL)]
    for out in (htmlpage.render(blocks, DATA, verdict=EVIL), htmlpage.fragment(blocks)):
        assert "<img src=x" not in out and 'onerror="' not in out
        assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in out
    md = markdown.render(blocks)
    assert "\\<img" in md and f"`{EVIL}`" in md
