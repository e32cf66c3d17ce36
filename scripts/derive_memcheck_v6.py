"""Write tests/data/memcheck/planted_default_v6_derived.xml: the real Valgrind 3.19 capture
planted_default.xml rewritten as protocol 6 (Valgrind 3.26) would carry it.

Valgrind 3.19 writes protocol 4 only, and no protocol-6 capture with its summaries unfiltered
was found in public repositories (Valgrind's own regression outputs filter them to `...`). The
summaries' figures are Valgrind's own, from the twin run's text log (planted_default.log), laid
out in the element structure that memcheck/mc_leakcheck.c, mc_malloc_wrappers.c and
coregrind/m_errormgr.c write in 3.26 (numbers with thousands separators, as %'lu prints them),
at the places Valgrind's protocol-6 test outputs show them.

    python scripts/derive_memcheck_v6.py
"""
import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "memcheck"


def main() -> None:
    xml = (DATA / "planted_default.xml").read_text()
    log = (DATA / "planted_default.log").read_text()

    def pair(label):
        m = re.search(rf"{label}: ([\d,]+) bytes in ([\d,]+) blocks", log)
        return m.group(1), m.group(2)

    use_b, use_n = re.search(r"in use at exit: ([\d,]+) bytes in ([\d,]+) blocks", log).groups()
    allocs, frees, allocated = re.search(r"total heap usage: ([\d,]+) allocs, ([\d,]+) frees, ([\d,]+) bytes", log).groups()
    errs, ctx, sup, supctx = re.search(r"ERROR SUMMARY: (\d+) errors from (\d+) contexts \(suppressed: (\d+) from (\d+)\)",
                                       log).groups()
    heap = (f"<heap_summary>\n  <memory_in_use_at_exit>\n    <bytes>{use_b}</bytes>\n    <blocks>{use_n}</blocks>\n"
            f"  </memory_in_use_at_exit>\n  <total_heap_usage>\n    <allocs>{allocs}</allocs>\n"
            f"    <frees>{frees}</frees>\n    <bytes_allocated>{allocated}</bytes_allocated>\n"
            f"  </total_heap_usage>\n</heap_summary>\n\n")
    parts = []
    for tag, label in (("definitely_lost", "definitely lost"), ("indirectly_lost", "indirectly lost"),
                       ("possibly_lost", "possibly lost"), ("still_reachable", "still reachable"),
                       ("suppressed", "suppressed")):
        b, n = pair(label)
        parts.append(f"  <{tag}>\n    <bytes>{b}</bytes>\n    <blocks>{n}</blocks>\n  </{tag}>\n")
    leak = "<leak_summary>\n" + "".join(parts) + "</leak_summary>\n\n"
    summary = (f"<error_summary>\n  <errors>{errs}</errors>\n  <error_contexts>{ctx}</error_contexts>\n"
               f"  <suppressed>{sup}</suppressed>\n  <suppressed_contexts>{supctx}</suppressed_contexts>\n"
               f"</error_summary>\n\n")
    xml = xml.replace("<protocolversion>4</protocolversion>", "<protocolversion>6</protocolversion>", 1)
    first_error = xml.index("<error>")
    xml = xml[:first_error] + heap + xml[first_error:]
    xml = xml.replace("<errorcounts>", leak + "<errorcounts>", 1)
    xml = xml.replace("</valgrindoutput>", summary + "</valgrindoutput>", 1)
    (DATA / "planted_default_v6_derived.xml").write_text(xml)


if __name__ == "__main__":
    main()
