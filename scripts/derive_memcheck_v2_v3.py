"""Write tests/data/memcheck/errors_default_v2_derived.xml and errors_default_v3_derived.xml: the
real Valgrind 3.19 capture errors_default.xml (protocol 4) rewritten as protocols 2 and 3 carry it.

Valgrind 3.19 writes protocol 4 only. The documented differences of the older protocols
(Valgrind's docs/internals/xml-output.txt; protocol 2: Valgrind 3.1-3.3, protocol 3: 3.4):
no <protocoltool> (the tool is named only by <tool>); an error's description is a plain <what>
(and <auxwhat>) instead of <xwhat>/<xauxwhat> with a <text> inside, and a loss record's
<leakedbytes>/<leakedblocks> stand directly under <error>; no <suppression> elements (XML
suppressions came with protocol 4). Protocols 2 and 3 differ in nothing this rewrite touches,
so the two files differ only in <protocolversion>. Every figure in them is Valgrind's own; the
oracle stays the twin run's text log (errors_default.log).

    python scripts/derive_memcheck_v2_v3.py
"""
import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "memcheck"


def derive(xml: str, protocol: int) -> str:
    xml = xml.replace("<protocolversion>4</protocolversion>", f"<protocolversion>{protocol}</protocolversion>", 1)
    xml = re.sub(r"<protocoltool>[^<]*</protocoltool>\n", "", xml, count=1)

    def flatten(m: re.Match) -> str:
        indent, tag, body = m.group(1), m.group(2), m.group(3)
        text = re.search(r"<text>(.*?)</text>", body, re.S).group(1)
        out = f"{indent}<{tag}>{text}</{tag}>\n"
        for leaf in ("leakedbytes", "leakedblocks"):
            v = re.search(rf"<{leaf}>(.*?)</{leaf}>", body)
            if v:
                out += f"{indent}<{leaf}>{v.group(1)}</{leaf}>\n"
        return out

    xml = re.sub(r"( *)<x(what|auxwhat)>\n(.*?)\1</x\2>\n", flatten, xml, flags=re.S)
    xml = re.sub(r"( *)<suppression>\n.*?\1</suppression>\n", "", xml, flags=re.S)
    assert "<xwhat>" not in xml and "<suppression>" not in xml
    return xml


def main() -> None:
    xml = (DATA / "errors_default.xml").read_text()
    for protocol in (2, 3):
        (DATA / f"errors_default_v{protocol}_derived.xml").write_text(derive(xml, protocol))


if __name__ == "__main__":
    main()
