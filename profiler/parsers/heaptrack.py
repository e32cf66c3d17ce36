"""heaptrack captures (`heaptrack.NAME.PID.zst` / `.gz`, or uncompressed): one streaming pass, the per-line part in C.

A heaptrack file is mostly `+`/`-`/`c`/`R` lines (millions of them) between a
few thousand definitions (`s` strings, `i` instruction pointers, `t` trace
nodes, `a` allocation infos = (size, trace)). We decompress in batches of about
a MiB; a compiled decoder (profiler/parsers/_htdecode.c, built with the package)
reads every event, trace and allocation-info line once and keeps the per-info
state; the rare strings, instruction pointers and metadata come back here, as do
the moments the timeline needs a state (a wanted marker, a slice of work, a
clock target). Time grows with the file, memory only with the number of
distinct allocation infos and traces.

Figures follow heaptrack_print's own accounting (src/analyze/accumulatedtracedata.cpp
of heaptrack 1.4) so they agree with `heaptrack_print -f FILE`:
- calls: number of `+` lines; peak: highest running sum of live bytes, first reached;
- temporary: a `-` whose info equals the last allocation's info when the previous
  `+`/`-` event was that `+` (heaptrack keeps "last allocation" as 0 after a `-`, so
  a `- 0` right after another `-` also counts: we reproduce that);
- leaked: live bytes at the end minus the live bytes of traces matched by heaptrack's leak
  suppressions (built-in list; embedded `S` records as heaptrack_print 1.4 reads them, which
  for format 3 is never), reported separately as suppressed_leaked_bytes;
- peak RSS: max `R` pages x page size from `I`;
- per-site peak: the site's live bytes at the moment the global peak is first reached.

Timeline: the live bytes of every site at each iteration boundary, or without boundaries at
~20 equal time slices plus the end, planned and kept by the timeline engine (parsers/timeline.py,
at most KEEP_BOUNDARIES boundaries). A boundary is cut exactly at the workload's in-band marker
when the capture has it (profiler/markers.py: the malloc of marker_size(i) written right after
record i), else by time: the state just before the last `c` stamp at or before t_end minus
CLOCK_LAG_S. A capture cut off while written is read up to its last complete line.

Why time alone is not enough (libheaptrack.cpp, heaptrack 1.4): a `c` record is
std::chrono::steady_clock milliseconds since heaptrack_init (the preload library's start, a few
ms after the fork the iteration records count from), written by a timer thread that sleeps
10 ms and then must take the same lock every malloc/free takes, by try_lock with 1 us naps. While
the program allocates hard (libllama loading a model) that thread starves: in the committed
llama_switch capture the stamps go 85 ms -> 1074 ms -> 1423 ms, and no event between two
stamps can be placed in time. Stamps are written in stream order under the lock, so they never
lie about order; only the events' times are unknown. The unload that ends an iteration comes
within ~20 ms of t_end, so a cut by time falls before or after it: 2 of 6 llama_switch boundaries
came out right by time, 0 of 6 on a `memprof heaptrack --quick -n 6` run (43-62 MB freed but
shown live at every boundary), 6 of 6 with the markers.
"""
from __future__ import annotations

import re
from pathlib import Path

from profiler.errors import BadCapture
from profiler.markers import MARKER_BASE, MARKER_SPAN, marker_size
from profiler.parsers import decompress
from profiler.parsers.timeline import Timeline
from profiler.tables import Capture, Frame, TimelineUnit, Truncated

FORMAT = "heaptrack"

_VERSION_RE = re.compile(rb"v [0-9a-f]{1,8} [0-9a-f]{1,4}\n")

BATCH_SIZE = 1 << 20         # decompressed text handed to the decoder at a time
SUPPORTED_FILE_FORMATS = (1, 2, 3)
# Fallback without markers. heaptrack's clock starts when its preload library initialises, some
# tens of ms after the process (fork) start the iteration records count from. On seven planted captures (60 ms
# iterations, busy 2-core machine) every lag from 0.02 to 0.04 s cut all 12 boundaries exactly
# and 0.00 cut none; we take the middle. A `c` stamp every 10 ms bounds the resolution.
CLOCK_LAG_S = 0.03
INT64_MAX = (1 << 63) - 1
MAX_SIZE = 1 << 48           # an allocation info larger than 256 TiB is corruption (sums stay in int64)


# ----------------------------------------------------------------------------- decompression

def _compression(head: bytes) -> str | None:
    kind = decompress.compression(head)
    if kind is not None:
        return kind
    if _VERSION_RE.match(head[:32]):
        return "plain"      # heaptrack_print reads uncompressed data files too
    return None


def _stream(path: Path, kind: str) -> decompress.Stream:
    return decompress.Stream(path, None if kind == "plain" else kind)


def sniff(head: bytes, path) -> bool:
    kind = _compression(head)
    if kind is None:
        return False
    try:
        start = decompress.peek(Path(path), None if kind == "plain" else kind, 64)
    except OSError:
        start = b""
    if not start and kind == "zstd":
        # a capture cut off inside its first zstd block shows no text at all: claim it when the
        # frame is incomplete, so the user hears "truncated" rather than "unknown format"
        try:
            return not decompress.zstd_complete(Path(path))
        except OSError:
            return False
    # a capture whose program died before heaptrack flushed a record holds only the closing comments
    return bool(_VERSION_RE.match(start)) or start.lstrip(b"\n").startswith(b"# strings: ")


# ----------------------------------------------------------------------------- the reader

_HEX_FIELD_RE = re.compile(rb"[0-9a-f]+")


def _hex_fields(line: bytes) -> list[int]:
    """The two numbers of a `t`/`a` record, as heaptrack writes them: plain lowercase hex.
    int(x, 16) alone would take a sign, `0x`, `_` or spaces, which heaptrack_print refuses
    and which would give the decoder a negative trace or size; ValueError otherwise."""
    fields = line[2:].split(b" ")
    if len(fields) != 2 or not all(_HEX_FIELD_RE.fullmatch(f) for f in fields):
        raise ValueError(line)
    return [int(f, 16) for f in fields]


def _decoder_module():
    """The compiled decoder, built with the package; a checkout without it is told how to build it."""
    import importlib

    try:
        return importlib.import_module("profiler.parsers._htdecode")
    except ImportError as exc:
        from profiler.errors import ToolMissing

        raise ToolMissing(f"memprof's heaptrack decoder (profiler/parsers/_htdecode.c) is not built ({exc}): "
                          "run `pip install -e .` (or `python setup.py build_ext --inplace`) in the memprof "
                          "checkout; it needs gcc and the Python headers") from None


class _Reader:
    """Streaming state of one capture. The compiled decoder (profiler/parsers/_htdecode.c) reads
    the event (`+ - c R`), trace (`t`) and allocation-info (`a`) lines and owns what they define:
    per info its size, trace, live count, calls and marker-sized calls; the totals. It hands
    back the lines it does not read (strings, instruction pointers, metadata, anything odd) and
    stops where the timeline needs a state (a wanted marker, a slice of work, a clock target);
    both are handled here, and the pass resumes at the same line."""

    def __init__(self, path: Path, timeline: Timeline):
        import numpy as np

        self.np = np
        self.path = path
        _htdecode = _decoder_module()
        self.dec = dec = _htdecode.Decoder(MARKER_BASE, marker_size(1) - marker_size(0), MARKER_SPAN)
        self.codes = _htdecode
        # definitions read here
        self.strings: list[str] = []
        self.ips: list[tuple] = []          # (address, module string no., ((fn, file, line), ...))
        self.version = None
        self.file_format = None
        self.command = None
        self.page_size = None
        self.phys_pages = None
        self.suppressions: list[str] = []       # embedded LSan suppressions (`S`), as written
        self.suppressions_raw: list[str] = []   # the same as heaptrack_print reads them (see below)
        self.attached = False
        # timeline: the engine keeps one vector of live bytes per column at each kept boundary.
        # A column is a trace, its marker-sized infos apart (the marker's own are left out at the
        # end, once the marker's trace is known); infos get their column when a vector is made
        self.tl = timeline
        self.col_of: dict[tuple, int] = {}
        self.col_trace: list[int] = []
        self.col_sized: list[bool] = []
        self.info_col = np.zeros(0, np.int64)
        wanted = bytearray(MARKER_SPAN)
        for code in timeline.wanted_codes:
            wanted[code] = 1
        dec.set_wanted(bytes(wanted))
        dec.clock_on = int(not timeline.grid)     # iteration boundaries: cut on the clock when unmarked
        dec.work_on = int(timeline.grid)          # none: slices of work
        self._thresholds()

    # -- errors --------------------------------------------------------------------------
    def bad(self, line_no: int, what: str):
        return BadCapture(f"{self.path}: line {line_no}: {what}")

    @property
    def lines(self) -> int:
        return self.dec.lines

    def array(self, name: str, start: int = 0):
        return self.np.frombuffer(self.dec.array(name, start), self.np.int64)

    # -- definition and metadata lines ------------------------------------------------------
    def slow_line(self, line: bytes, line_no: int):
        c = line[:1]
        dec = self.dec
        try:
            if c == b"s":
                if self.file_format is not None and self.file_format >= 3:
                    sp = line.index(b" ", 2)
                    n = int(line[2:sp], 16)
                    s = line[sp + 1:]
                    if len(s) != n:
                        raise self.bad(line_no, f"string of {len(s)} bytes, record says {n}")
                else:
                    s = line[2:]
                self.strings.append(s.decode("utf-8", "replace"))
            elif c == b"i":
                # i <ip> <module> [<function> [<file> <line>]] [<function> <file> <line>]*
                v = [int(x, 16) for x in line[2:].split(b" ")]
                if len(v) < 2 or (len(v) > 5 and (len(v) - 5) % 3):
                    raise self.bad(line_no, "malformed instruction-pointer record")
                if 2 < len(v) < 5:
                    v = v + [0] * (5 - len(v))
                ns = len(self.strings)
                strs = [v[1]] + [x for k in range(2, len(v), 3) for x in (v[k], v[k + 1])]
                if any(x > ns for x in strs):
                    raise self.bad(line_no, f"reference to undefined string {max(strs):x}")
                frames = tuple((v[k], v[k + 1], v[k + 2]) for k in range(2, len(v), 3))
                self.ips.append((v[0], v[1], frames))
                dec.n_ips = len(self.ips)
            elif c == b"t":
                ip, parent = _hex_fields(line)
                if not 1 <= ip <= len(self.ips):
                    raise self.bad(line_no, f"reference to undefined instruction pointer {ip:x}")
                if parent > dec.n_traces:
                    raise self.bad(line_no, f"reference to undefined trace {parent:x}")
                dec.add_trace(ip, parent)
            elif c == b"a":
                size, trace = _hex_fields(line)
                if trace > dec.n_traces:
                    raise self.bad(line_no, f"reference to undefined trace {trace:x}")
                if size >= MAX_SIZE:
                    raise self.bad(line_no, f"allocation size {size:x} out of range")
                dec.add_info(size, trace)
            elif c == b"v":
                parts = line[2:].split(b" ")
                self.version = int(parts[0], 16)
                self.file_format = int(parts[1], 16) if len(parts) > 1 else 1
                if self.file_format not in SUPPORTED_FILE_FORMATS:
                    raise self.bad(line_no, f"heaptrack file format {self.file_format} is not supported "
                                            f"(supported: {', '.join(map(str, SUPPORTED_FILE_FORMATS))})")
            elif c == b"X":
                self.command = line[2:].decode("utf-8", "replace")
            elif c == b"I":
                a, b = (int(x, 16) for x in line[2:].split(b" "))
                self.page_size, self.phys_pages = a, b
            elif c == b"S":
                raw = line[2:].decode("utf-8", "replace")
                self.suppressions_raw.append(raw)
                if self.file_format is not None and self.file_format >= 3 and " " in raw:
                    raw = raw.split(" ", 1)[1]      # sized string: "<hex length> <text>"
                self.suppressions.append(raw)
            elif c == b"A":
                # attached to a running process: heaptrack's totals start again (live counts stay)
                self.attached = True
                dec.attach()
            elif c == b"m":
                pass  # module (re)load records of the raw stream; heaptrack_print skips them too
            else:
                raise self.bad(line_no, f"unknown record {line[:20]!r}")
        except (ValueError, OverflowError):
            raise self.bad(line_no, f"malformed record {line[:40]!r}") from None
        if self.version is None and c != b"v":
            raise self.bad(line_no, "no heaptrack version line before the first record")

    # -- one batch of complete lines ----------------------------------------------------
    def feed(self, batch: bytes, end: int | None = None):
        """The complete lines of batch[:end]."""
        dec, codes = self.dec, self.codes
        end = len(batch) if end is None else end
        if dec.lines == 0 and not _VERSION_RE.match(batch[:64]):
            if batch.lstrip(b"\n").startswith(b"# strings: "):
                raise BadCapture(f"{self.path}: empty heaptrack capture (the program ended before "
                                 "heaptrack wrote any record)")
            raise BadCapture(f"{self.path}: compressed data that is not a heaptrack capture "
                             "(no `v` version line)")
        pos, resume = 0, 0
        while True:
            stop, pos, value = dec.feed(batch, pos, resume, end)
            if stop == codes.DONE:
                break
            if stop == codes.SLOW:
                self.slow_line(batch[pos:value], dec.lines + 1)
            elif stop == codes.MARKER:
                self._marker(value)
            elif stop == codes.WORK:
                self._work(value)
            elif stop == codes.CLOCK:
                self._clock(value)
            elif stop == codes.UNDEFINED:
                raise self.bad(dec.lines + 1, f"reference to undefined allocation {value:x}")
            elif stop == codes.RANGE:
                raise self.bad(dec.lines + 1, "byte totals out of range (more than 2^63 bytes)")
            else:
                raise self.bad(dec.lines + 1, "malformed event record" if stop == codes.BAD_EVENT
                               else "malformed number")
            # the line is dealt with: resume on it, past this stop (a SLOW line is stepped over)
            resume = codes.SKIP if stop == codes.SLOW else stop
        if self.tl.grid and not self.tl.by_work and dec.events_seen:
            # the slices are of work from the first event on, even in a capture too short for one
            self.tl.due_work({"calls": dec.plus_seen, "bytes": dec.bytes_seen})
            self._thresholds()

    # -- the timeline's stops ------------------------------------------------------------
    def _thresholds(self):
        dec, tl = self.dec, self.tl
        if dec.work_on:
            # the decoder's counts stay in int64 (a RANGE stop beyond), so a target past it is never due
            dec.calls_thr = min(tl.next_work("calls"), INT64_MAX)
            dec.bytes_thr = min(tl.next_work("bytes"), INT64_MAX)
        if dec.clock_on:
            dec.clock_thr = tl.next_clock_ms()

    def _marker(self, info: int):
        """A wanted marker's malloc, before it: the state there is a boundary's candidate."""
        dec = self.dec
        _, trace, code = dec.info(info)
        mark = (code, dec.last_ms, trace, dec.events_seen)
        if self.tl.marker_rows(code):
            self.tl.marker(*mark, vector=lambda: self.column_bytes("counts"))
        else:
            self.tl.marker(*mark)

    def _work(self, info: int):
        """A malloc that takes the calls or bytes past a slice of work: cut just before it."""
        dec = self.dec
        size = dec.info(info)[0]
        due = self.tl.due_work({"calls": dec.plus_seen + 1, "bytes": dec.bytes_seen + size})
        if due:
            vector = self.column_bytes("counts")
            for axis, key, _ in due:
                self.tl.at_work(axis, key, vector, dec.last_ms, dec.events_seen)
        self._thresholds()

    def _clock(self, stamp: int):
        """A `c` stamp past a clock target: targets before it are cut just before the previous `c`
        (the last stamp at or before them; no event after it can belong before the target)."""
        due = self.tl.due(stamp)
        if due:
            vector = self.column_bytes("clock")
            for key, _ in due:
                self.tl.at_clock(key, vector)
        self._thresholds()

    def _columns(self):
        """Each info's timeline column: its (trace, marker-sized) pair, numbered by first use."""
        np = self.np
        n0, n = len(self.info_col), self.dec.n_infos
        if n0 == n:
            return
        traces = self.array("trace", n0).tolist()
        sized = (self.array("code", n0) >= 0).tolist()
        col_of, cols = self.col_of, []
        for key in zip(traces, sized):
            j = col_of.get(key)
            if j is None:
                j = col_of[key] = len(self.col_trace)
                self.col_trace.append(key[0])
                self.col_sized.append(key[1])
            cols.append(j)
        self.info_col = np.concatenate([self.info_col, np.asarray(cols, np.int64)])

    def column_bytes(self, state: str):
        """Live bytes per timeline column in a state of the decoder: "counts" (now), "clock"
        (just before the latest `c` stamp)."""
        self._columns()
        return self.np.frombuffer(self.dec.column_bytes(state, self.info_col, len(self.col_trace)), self.np.int64)


# ----------------------------------------------------------------------------- leak suppressions

# heaptrack_print subtracts leaks matched by these (its built-in list, heaptrack 1.4) and by the
# file's embedded `S` records from "total memory leaked"; we do the same so the totals agree.
BUILTIN_SUPPRESSIONS = ("__nss_module_allocate", "__gconv_read_conf", "__new_exitfn", "tzset_internal",
                        "dl_open_worker", "g_main_context_new", "g_thread_self")


def _suppression_pattern(text: str) -> str | None:
    """LSan suppression syntax: `leak:PATTERN`; blank and `#` lines are ignored."""
    text = text.strip()
    if text.startswith("leak:"):
        return text[5:] or None
    return None


def _matcher(pattern: str):
    """LSan template match: substring search, `*` any run, leading `^` / trailing `$` anchor."""
    if not any(ch in pattern for ch in "*^$"):
        return lambda s: bool(s) and pattern in s
    body = pattern[1:] if pattern.startswith("^") else pattern
    parts = [re.escape(p).replace(r"\$", r"\Z") for p in body.split("*")]
    rx = re.compile(("^" if pattern.startswith("^") else "") + ".*".join(parts), re.S)
    return lambda s: bool(s) and (s == pattern or rx.search(s) is not None)


def _suppressed_traces(rd: "_Reader", trace_ids) -> set[int]:
    patterns = list(BUILTIN_SUPPRESSIONS)
    # heaptrack_print 1.4 hands the whole `S` payload, length included, to its parser, so in a
    # format-3 file "12 leak:foo*" is rejected and never applied; we follow it to agree on totals
    patterns += [p for p in (_suppression_pattern(t) for t in rd.suppressions_raw) if p]
    plain = [p for p in patterns if not any(ch in p for ch in "*^$")]
    matchers = [_matcher(p) for p in patterns if p not in plain]
    if plain:
        rx = re.compile("|".join(re.escape(p) for p in plain))
        matchers.insert(0, lambda s: rx.search(s) is not None)
    bad_strings = {i + 1 for i, s in enumerate(rd.strings) if s and any(m(s) for m in matchers)}
    if not bad_strings:
        return set()
    bad_ips = set()
    for no, (_, module, frames) in enumerate(rd.ips, 1):
        if module in bad_strings or any(fn in bad_strings or fl in bad_strings for fn, fl, _ in frames):
            bad_ips.add(no)
    if not bad_ips:
        return set()
    # a trace is suppressed when any node from it up to the root has a bad instruction pointer:
    # by pointer jumping, each round doubling the stretch of ancestors every node has looked at
    # (parents come before their children, so the walk up ends at the root, node 0)
    np = rd.np
    bad = np.zeros(len(rd.ips) + 1, bool)
    bad[list(bad_ips)] = True
    up = np.concatenate([[0], rd.array("trace_parent")])
    hit = np.concatenate([[False], bad[rd.array("trace_ip")]])
    while up.any():
        hit |= hit[up]
        up = up[up]
    ids = np.asarray(trace_ids, np.int64)
    return set(ids[hit[ids]].tolist())


# ----------------------------------------------------------------------------- parse

def parse(path, boundaries=None) -> Capture:
    from profiler.parsers import read_head
    from profiler.parsers._stacks import boundary_targets

    path = Path(path)
    head = read_head(path, 64)
    kind = _compression(head)
    if kind is None:
        raise BadCapture(f"{path}: not a heaptrack capture (neither zstd, gzip nor heaptrack text)")
    bounds = boundary_targets(boundaries)
    rd = _Reader(path, Timeline([(it, t, None) for it, t in bounds], clock_lag_s=CLOCK_LAG_S))

    stream = _stream(path, kind)
    pieces: list[bytes] = []
    size = 0
    tail = b""
    for piece in decompress.pieces(stream):
        pieces.append(piece)
        size += len(piece)
        if size >= BATCH_SIZE:
            buf = tail + piece if len(pieces) == 1 else tail + b"".join(pieces)
            cut = buf.rfind(b"\n") + 1
            if cut:
                rd.feed(buf, cut)
            tail, pieces, size = buf[cut:], [], 0
    buf = tail + b"".join(pieces)
    cut_line = None
    if buf and not buf.endswith(b"\n"):
        # the writer was killed mid-line: what came before the partial record stands
        cut = buf.rfind(b"\n") + 1
        if cut:
            rd.feed(buf, cut)
        cut_line = rd.lines + 1
    elif buf:
        rd.feed(buf)
    if rd.version is None:
        if stream.truncated or cut_line:
            raise BadCapture(f"{path}: truncated heaptrack capture: cut off before its first record")
        raise BadCapture(f"{path}: no heaptrack records (empty capture)")
    truncated = None
    if stream.truncated or cut_line:
        why = stream.truncated or "the last record is cut off"
        if stream.truncated and cut_line:
            why += ", in the middle of a record"
        last_s = rd.dec.last_ms / 1000.0
        truncated = Truncated(reason=why, details={"complete_lines": rd.lines, "last_time_s": last_s},
                              summary=f"capture truncated ({why}): read up to line {rd.lines}, "
                                      f"{last_s:.3f} s into the run")
        rd.tl.truncated = True
    cap = _build(rd, path, bounds)
    if truncated:
        cap.meta["truncated"] = truncated
    return cap


def _frames_of_ip(rd: _Reader, ip_no: int, cache: dict) -> tuple:
    frames = cache.get(ip_no)
    if frames is None:
        address, module_no, inl = rd.ips[ip_no - 1]
        s = rd.strings
        module = s[module_no - 1] if module_no else None
        if not inl:
            frames = (Frame(None, module, None, None, address),)
        else:
            frames = tuple(
                Frame(s[fn - 1] if fn else None, module, s[fl - 1] if fl else None, line or None, address)
                for fn, fl, line in inl
            )
        cache[ip_no] = frames
    return frames


def _stacks(rd: _Reader, sites: list[int]) -> list[tuple]:
    """The stack (frames innermost first) of each site trace: its own frames before its parent's,
    made by the decoder (branch points shared), from the frames of each instruction pointer."""
    cache: dict = {}
    ip_frames = [None] + [_frames_of_ip(rd, no, cache) for no in range(1, len(rd.ips) + 1)]
    return rd.dec.stacks(sites, ip_frames)


def _build(rd: _Reader, path: Path, bounds) -> Capture:
    import numpy as np

    from profiler.parsers._stacks import sites_frame, timeline_frame

    dec = rd.dec
    n = dec.n_infos
    sizes = rd.array("sizes")
    traces = rd.array("trace")
    site_ids = np.unique(traces)
    pos = np.searchsorted(site_ids, traces)
    m = len(site_ids)

    # the in-band markers are protocol, not the program's memory: their allocation infos (the
    # marker sizes at the trace that wrote the boundaries' markers; without boundaries, at any
    # trace that wrote markers of 2+ iterations) are left out of the sites' figures, and a site
    # that allocated nothing else is left out. The trace alone is not enough: a Python program's
    # other ctypes calls into malloc share the marker's native stack.
    marker_trace = rd.tl.marker_trace() if bounds else None
    codes = rd.array("code")
    sized = (codes >= 0) & (rd.array("hits") > 0)
    if marker_trace is not None:
        mask = sized & (traces == marker_trace)
        masked_traces = {marker_trace}
    else:
        mask = np.zeros(n, bool)
        masked_traces = set()
        for t in np.unique(traces[sized]).tolist():
            here = sized & (traces == t)
            if len(set(codes[here].tolist())) >= 2:
                mask |= here
                masked_traces.add(t)
    weight = (~mask).astype(np.int64)

    def per_site(counts):
        return np.bincount(pos, weights=(counts[:n] * sizes * weight).astype(np.float64),
                           minlength=m).round().astype(np.int64)

    counts = rd.array("counts")
    live_end = per_site(counts)
    peak = per_site(rd.array("peak"))
    all_calls = rd.array("calls")
    calls = np.bincount(pos, weights=(all_calls * weight).astype(np.float64), minlength=m).round().astype(np.int64)
    marker_calls = np.bincount(pos, weights=(all_calls * mask).astype(np.float64), minlength=m).round().astype(np.int64)
    keep = ~((marker_calls > 0) & (calls == 0))
    kept_ids = site_ids[keep].tolist()
    rows = zip(kept_ids, _stacks(rd, kept_ids), live_end[keep].tolist(), peak[keep].tolist(),
               calls[keep].tolist(), [None] * len(kept_ids))
    sites = sites_frame(rows, FORMAT)

    # timeline: the engine's vectors are per column (trace, marker-sized); columns map to sites,
    # the marker trace's marker-sized column is dropped
    end_vector = rd.column_bytes("counts")
    n_cols = len(rd.col_trace)
    slices, times, matrix, how = rd.tl.finish(end_vector, dec.last_ms, n_cols,
                                              "heaptrack clock")
    col_trace = np.asarray(rd.col_trace, np.int64)
    col_ok = np.asarray([not (sz and tr in masked_traces) for tr, sz in zip(rd.col_trace, rd.col_sized)], bool)
    live_t = np.zeros((m, len(slices)), np.int64)
    if n_cols:
        np.add.at(live_t, np.searchsorted(site_ids, col_trace[col_ok]), matrix[:, col_ok].T)
    timeline = timeline_frame(site_ids[keep], slices, times, live_t[keep].T)

    suppressed = _suppressed_traces(rd, site_ids)
    suppressed_bytes = int(sum(int(live_end[j]) for j, sid in enumerate(site_ids) if int(sid) in suppressed))
    totals = {
        "calls": dec.total_calls,
        "temporary": dec.total_temp,
        "peak_heap_bytes": dec.peak,
        # like heaptrack_print: leaks matched by its suppressions are not counted (sites keep their bytes)
        "leaked_bytes": dec.leaked - suppressed_bytes,
        "suppressed_leaked_bytes": suppressed_bytes,
        "live_bytes_end": dec.leaked,
        "peak_rss_bytes": dec.peak_rss * (rd.page_size or 0),
        "allocated_bytes_total": dec.allocated,
    }
    meta = {
        "command": rd.command,
        "heaptrack_version": f"{rd.version >> 16}.{(rd.version >> 8) & 0xff}.{rd.version & 0xff}",
        "file_format": rd.file_format,
        "page_size": rd.page_size,
        "physical_pages": rd.phys_pages,
        "duration_s": dec.last_ms / 1000.0,
        "peak_time_s": dec.peak_ms / 1000.0,
        "attached": rd.attached,
        "suppressions": rd.suppressions,
        "distinct_allocation_infos": n,
        **rd.tl.meta,
        # in-band iteration markers: real calls heaptrack counts (in calls, temporary and
        # allocated_bytes_total above, as heaptrack_print does); not in the sites' figures
        "markers": {
            "calls": int(all_calls[mask].sum()),
            "bytes": int((all_calls[mask] * sizes[mask]).sum()),
            "boundaries_at_markers": how.get("marker", 0),
            "boundaries": len(bounds),
        },
    }
    return Capture(format=FORMAT, path=str(path), totals=totals, sites=sites, timeline=timeline, meta=meta,
                   unit=TimelineUnit(meta.get("timeline_unit") or "slice") if timeline is not None else None,
                   markers=how.get("marker", 0) if bounds else None)
