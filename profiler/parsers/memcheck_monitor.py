"""memcheck's leak checks taken through vgdb, as a per-site timeline.

memprof asks a running memcheck for `leak_check full reachable changed` at every
iteration boundary and writes each answer to RUN_DIR/capture/memcheck.PID.timeline.txt
after a header line `# memprof leak check: iteration=N t_end=T ...`; before a hard stop
it asks for `leak_check full reachable any` (memcheck.PID.leaks.txt, header
`# memprof leak check: final`); at the collection probe, right after its gc.collect(), a full
`leak_check full reachable any` (header `# memprof leak check: probe=gc_collect ...`), which is
the capture's probe state, not an iteration. The text is memcheck's own (lines prefixed ==PID==):

    5,000 (+5,000) bytes in 1 (+1) blocks are still reachable in loss record 2 of 2
       at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
       by 0x1091A1: a (f.c:5)
    LEAK SUMMARY:
       definitely lost: 0 (+0) bytes in 0 (+0) blocks ...

A loss record is memcheck's (allocation stack, leak kind); its bytes are the blocks of
that stack still allocated at the check, so one record over the checks is one site's
live bytes over the iterations. "changed" prints only the records that changed since the
previous check: a record not printed keeps its previous value. The LEAK SUMMARY gives
the totals the tool itself counted at each check; the last check's are the capture's
totals. Memory grows with the number of distinct records, not with the checks.
"""
from __future__ import annotations

import re
from pathlib import Path

from profiler.errors import BadCapture
from profiler.parsers.memcheck import ALL_KINDS, KIND_WORDS
from profiler.tables import Capture, Frame, ProbeState, TimelineUnit

FORMAT = "memcheck-timeline"
HEADER = "# memprof leak check:"
KINDS = {words: kind for kind, words in KIND_WORDS.items()}
TOTAL_PREFIX = {"definite": "definitely_lost", "indirect": "indirectly_lost", "possible": "possibly_lost",
                "reachable": "still_reachable"}

_PREFIX = re.compile(r"^==\d+==\s?")
_NUM = r"[\d,]+"
_RECORD = re.compile(
    rf"^(?P<bytes>{_NUM})(?: \((?P<dbytes>[+-]{_NUM})\))?(?: \(.*\))? bytes in (?P<blocks>{_NUM})"
    rf"(?: \((?P<dblocks>[+-]{_NUM})\))? blocks are (?P<kind>definitely lost|indirectly lost|possibly lost|"
    rf"still reachable) in loss record (?P<n>\d+) of (?P<of>\d+)")
_FRAME = re.compile(r"^(?:at|by) 0x(?P<addr>[0-9A-Fa-f]+): (?P<fn>.*?)(?: \((?P<loc>[^()]*)\))?$")
_SUMMARY = re.compile(rf"^(?P<kind>definitely lost|indirectly lost|possibly lost|still reachable|suppressed): "
                      rf"(?P<bytes>{_NUM})(?: \([+-]{_NUM}\))? bytes in (?P<blocks>{_NUM})")
_FIELD = re.compile(r"(\w+)=(\S+)")


def sniff(head: bytes, path: Path) -> bool:
    return head.startswith(HEADER.encode())


def _int(text: str) -> int:
    return int(text.replace(",", "").replace("+", ""))


def _frame(m) -> Frame:
    fn = m.group("fn").strip()
    loc = m.group("loc")
    module = file = line = None
    if loc:
        if loc.startswith("in "):
            module = loc[3:]
        else:
            file, _, ln = loc.rpartition(":")
            if file and ln.isdigit():
                line = int(ln)
            else:
                file = loc
    return Frame(None if fn == "???" else fn, module, file, line, int(m.group("addr"), 16))


def read_checks(path: Path):
    """Yield one dict per check: {"fields": {iteration, t_end, ...}, "records": [(kind, stack,
    bytes, blocks)], "summary": {kind: (bytes, blocks)}}, in file order."""
    check = None
    rec = None
    try:
        f = open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise BadCapture(f"{path}: cannot read ({exc.strerror})") from None
    with f:
        for raw in f:
            raw = raw.rstrip("\n")
            if raw.startswith(HEADER):
                if check is not None:
                    yield check
                fields = dict(_FIELD.findall(raw[len(HEADER):]))
                if raw[len(HEADER):].strip() == "final":
                    fields["final"] = "1"
                check = {"fields": fields, "records": [], "summary": {}}
                rec = None
                continue
            if check is None:
                raise BadCapture(f"{path}: not a memprof leak-check file (no '{HEADER}' line first)")
            line = _PREFIX.sub("", raw).strip()
            if not line:
                rec = None
                continue
            m = _RECORD.match(line)
            if m:
                rec = [KINDS[m.group("kind")], [], _int(m.group("bytes")), _int(m.group("blocks"))]
                check["records"].append(rec)
                continue
            m = _FRAME.match(line)
            if m and rec is not None:
                rec[1].append(_frame(m))
                continue
            m = _SUMMARY.match(line)
            if m:
                kind = KINDS.get(m.group("kind"), m.group("kind"))
                check["summary"][kind] = (_int(m.group("bytes")), _int(m.group("blocks")))
    if check is not None:
        yield check


def _key(stack) -> tuple:
    """A site is an allocation stack. memcheck's loss records are (stack, kind), and a block can
    change kind between checks (an interior pointer left on the stack, then gone): its bytes stay
    with its site."""
    return tuple((fr.function, fr.module, fr.file, fr.line) for fr in stack)


def parse(path: str | Path, boundaries=None) -> Capture:
    """The checks of one file as a Capture: a site per loss record, a timeline slice per
    check (slice = its iteration; the final check of a hard stop, if any, is the last)."""
    from profiler.parsers._stacks import sites_frame, timeline_frame

    path = Path(path)
    ids: dict[tuple, int] = {}
    stacks: dict[int, tuple] = {}
    kinds: dict[int, str] = {}
    current: dict[tuple[int, str], int] = {}    # a loss record's bytes: (site, kind)
    peak: dict[int, int] = {}
    columns: list[dict[int, int]] = []
    slices, times = [], []
    summary: dict = {}
    mismatch = []
    probe = None
    for check in read_checks(path):
        fields = check["fields"]
        if fields.get("probe"):
            probe = _probe_state(check, ids)   # after the probe's gc.collect(): a state, not an iteration
            continue
        if fields.get("final"):
            current = {}       # an "any" check lists every record: it replaces, not updates
        for kind, stack, nbytes, _blocks in check["records"]:
            sid = ids.setdefault(_key(stack), len(ids) + 1)
            stacks.setdefault(sid, tuple(stack))
            kinds[sid] = min(kinds.get(sid, kind), kind, key=ALL_KINDS.index)   # the most severe seen
            current[(sid, kind)] = nbytes
        column: dict[int, int] = {}
        for (sid, _kind), nbytes in current.items():
            column[sid] = column.get(sid, 0) + nbytes
        for sid, nbytes in column.items():
            peak[sid] = max(peak.get(sid, 0), nbytes)
        columns.append(column)
        try:
            it = int(fields.get("iteration"))
        except (TypeError, ValueError):
            it = (slices[-1] + 1) if slices else 1
        slices.append(it)
        try:
            times.append(float(fields.get("t_end")))
        except (TypeError, ValueError):
            times.append(float("nan"))
        if check["summary"]:
            summary = check["summary"]
            counted = sum(v[0] for k, v in summary.items() if k in TOTAL_PREFIX)
            if counted != sum(column.values()):
                mismatch.append((it, counted - sum(column.values())))
    if not columns:
        raise BadCapture(f"{path}: no leak check in this file")
    site_ids = sorted(stacks)
    # leak_kind stays None: the timeline, not the kind at one moment, judges these sites
    # (triage reads a leak kind as an exit record); the kinds are in meta["leak_kinds"]
    rows = [(sid, stacks[sid], columns[-1].get(sid, 0), peak.get(sid, 0), None, None) for sid in site_ids]
    sites = sites_frame(rows, "memcheck", counts_known=False)
    live = [[col.get(sid, 0) for sid in site_ids] for col in columns]
    timeline = timeline_frame(site_ids, slices, times, live) if site_ids else None
    totals: dict = {}
    for kind, prefix in TOTAL_PREFIX.items():
        b = summary.get(kind)
        totals[f"{prefix}_bytes"] = b[0] if b else None
        totals[f"{prefix}_blocks"] = b[1] if b else None
    totals["checks"] = len(columns)
    meta = {"tool": "memcheck", "source": "vgdb leak_check", "iterations": slices, "timeline_unit": "iteration",
            "leak_kinds": {int(sid): kinds[sid] for sid in site_ids},
            # (iteration, summary bytes minus the records' bytes): records memcheck stopped
            # printing (freed) leave their last value here; non-empty means the timeline over-counts
            "summary_mismatch": mismatch[:20]}
    return Capture(format=FORMAT, path=str(path), totals=totals, sites=sites, timeline=timeline, meta=meta,
                   unit=TimelineUnit.ITERATION if timeline is not None else None, iterations=len(slices) or None,
                   probe=probe)


def _probe_state(check: dict, ids: dict) -> dict:
    """The full leak check (`reachable any`: every record) taken right after the collection probe's
    gc.collect(), as live bytes per site seen at the iteration checks; a record they never saw is
    counted in unmatched_bytes."""
    live: dict[int, int] = {}
    unmatched = 0
    for kind, stack, nbytes, _blocks in check["records"]:
        sid = ids.get(_key(stack))
        if sid is None:
            unmatched += nbytes
        else:
            live[sid] = live.get(sid, 0) + nbytes
    fields = check["fields"]
    try:
        after = int(fields.get("after_iteration"))
    except (TypeError, ValueError):
        after = None
    try:
        t = float(fields.get("t_probe"))
    except (TypeError, ValueError):
        t = None
    return ProbeState(source="leak check after the collection probe", after_iteration=after, t=t,
                      heap_bytes=sum(v[0] for k, v in check["summary"].items() if k in TOTAL_PREFIX) or None,
                      unmatched_bytes=unmatched, live=live)
