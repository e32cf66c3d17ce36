"""heaptrack captures (`heaptrack.NAME.PID.zst` / `.gz`, or uncompressed): one streaming pass, vectorised.

A heaptrack file is mostly `+`/`-`/`c`/`R` lines (millions of them) between a
few thousand definitions (`s` strings, `i` instruction pointers, `t` trace
nodes, `a` allocation infos = (size, trace)). We decompress in large batches,
split lines with numpy, handle the rare definition lines in Python and every
event line with array operations, so time grows with the file but memory only
with the number of distinct allocation infos and traces.

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
from profiler.markers import marker_codes
from profiler.parsers import decompress
from profiler.parsers.timeline import Timeline
from profiler.tables import Capture, Frame, TimelineUnit, Truncated

FORMAT = "heaptrack"

_VERSION_RE = re.compile(rb"v [0-9a-f]{1,8} [0-9a-f]{1,4}\n")

BATCH_SIZE = 1 << 20         # decompressed text handled per vectorised batch
SUPPORTED_FILE_FORMATS = (1, 2, 3)
# Fallback without markers. heaptrack's clock starts when its preload library initialises, some
# tens of ms after the process (fork) start the iteration records count from. On seven planted captures (60 ms
# iterations, busy 2-core machine) every lag from 0.02 to 0.04 s cut all 12 boundaries exactly
# and 0.00 cut none; we take the middle. A `c` stamp every 10 ms bounds the resolution.
CLOCK_LAG_S = 0.03
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


# ----------------------------------------------------------------------------- lookup tables

def _luts():
    import numpy as np

    hexv = np.full(256, 255, dtype=np.uint8)
    for i, ch in enumerate(b"0123456789abcdef"):
        hexv[ch] = i
    kind = np.zeros(256, dtype=np.int8)          # 0: definition/metadata line, handled in Python
    kind[ord("+")] = 1
    kind[ord("-")] = 2
    kind[ord("c")] = 3
    kind[ord("R")] = 4
    kind[ord("#")] = 5
    kind[ord("\n")] = 5                           # empty line
    return hexv, kind


class _Reader:
    """Streaming accumulator. Arrays are indexed by allocation-info number."""

    def __init__(self, path: Path, timeline: Timeline):
        import numpy as np

        self.np = np
        self.path = path
        self.hexv, self.kindv = _luts()
        self.lines = 0                      # lines consumed before the current batch
        # definitions
        self.strings: list[str] = []
        self.ips: list[tuple] = []          # (address, module string no., ((fn, file, line), ...))
        self.trace_ip: list[int] = []       # per trace number - 1
        self.trace_parent: list[int] = []
        self.new_sizes: list[int] = []      # infos defined in the current batch
        self.new_traces: list[int] = []
        self.new_lines: list[int] = []
        cap = 1024
        self.n_infos = 0
        self.sizes = np.zeros(cap, np.int64)
        self.info_trace = np.zeros(cap, np.int64)
        self.def_line = np.zeros(cap, np.int64)
        self.counts = np.zeros(cap, np.int64)       # live allocations per info
        self.calls = np.zeros(cap, np.int64)
        self.peak_counts = np.zeros(cap, np.int64)
        self.at_last_c = np.zeros(cap, np.int64)    # live counts just before the last `c` line
        self.info_col = np.zeros(cap, np.int64)     # timeline column: (trace, marker-sized) pair
        self.marker_code = np.full(cap, -1, np.int64)  # iteration % MARKER_SPAN for marker-sized infos
        self.marker_hits = np.zeros(cap, np.int64)     # marker malloc/free pairs per info
        self.marker_infos = np.zeros(0, np.int64)      # infos of a marker size (none: no marker work)
        self.signed = np.zeros(2 * cap, np.int64)      # per event key (2*info + is_free): +size / -size
        # totals (reset by `A`, as heaptrack does on attach)
        self.total_calls = 0
        self.total_temp = 0
        self.leaked = 0
        self.peak = 0
        self.peak_ms = 0
        self.allocated = 0
        self.last_ptr = 0
        self.peak_rss_pages = 0
        self.last_ms = 0
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
        # end, once the marker's trace is known)
        self.tl = timeline
        self.col_of: dict[tuple, int] = {}
        self.col_trace: list[int] = []
        self.col_sized: list[bool] = []
        self.events_seen = 0                        # +/- events before the current segment
        self.plus_seen = 0                          # `+` events before it (never reset by `A`)
        self.bytes_seen = 0                         # bytes those `+` requested

    # -- errors --------------------------------------------------------------------------
    def bad(self, line_no: int, what: str):
        return BadCapture(f"{self.path}: line {line_no}: {what}")

    # -- capacity ------------------------------------------------------------------------
    def _grow(self, need: int):
        np = self.np
        cap = len(self.sizes)
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        for name in ("sizes", "info_trace", "def_line", "counts", "calls", "peak_counts", "at_last_c",
                     "marker_code", "marker_hits", "info_col"):
            old = getattr(self, name)
            new = np.full(cap, -1 if name == "marker_code" else 0, np.int64)
            new[: len(old)] = old
            setattr(self, name, new)

    def _commit_infos(self):
        if not self.new_sizes:
            return
        np = self.np
        n0, k = self.n_infos, len(self.new_sizes)
        self._grow(n0 + k)
        self.sizes[n0:n0 + k] = self.new_sizes
        self.info_trace[n0:n0 + k] = self.new_traces
        self.def_line[n0:n0 + k] = self.new_lines
        codes = marker_codes(self.new_sizes)
        self.marker_code[n0:n0 + k] = codes
        if (codes >= 0).any():
            self.marker_infos = np.flatnonzero(self.marker_code[: n0 + k] >= 0)
        signed = np.empty(2 * len(self.sizes), np.int64)
        signed[0::2] = self.sizes
        signed[1::2] = -self.sizes
        self.signed = signed
        col_of = self.col_of
        cols = []
        for tr, c in zip(self.new_traces, (codes >= 0).tolist()):
            key = (tr, c)
            j = col_of.get(key)
            if j is None:
                j = col_of[key] = len(self.col_trace)
                self.col_trace.append(tr)
                self.col_sized.append(c)
            cols.append(j)
        self.info_col[n0:n0 + k] = cols
        self.n_infos += k
        self.new_sizes.clear()
        self.new_traces.clear()
        self.new_lines.clear()

    # -- definition and metadata lines ------------------------------------------------------
    def slow_line(self, line: bytes, line_no: int):
        c = line[:1]
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
            elif c == b"t":
                ip, parent = (int(x, 16) for x in line[2:].split(b" "))
                if not 1 <= ip <= len(self.ips):
                    raise self.bad(line_no, f"reference to undefined instruction pointer {ip:x}")
                if parent > len(self.trace_ip):
                    raise self.bad(line_no, f"reference to undefined trace {parent:x}")
                self.trace_ip.append(ip)
                self.trace_parent.append(parent)
            elif c == b"a":
                size, trace = (int(x, 16) for x in line[2:].split(b" "))
                if trace > len(self.trace_ip):
                    raise self.bad(line_no, f"reference to undefined trace {trace:x}")
                if size >= MAX_SIZE:
                    raise self.bad(line_no, f"allocation size {size:x} out of range")
                self.new_sizes.append(size)
                self.new_traces.append(trace)
                self.new_lines.append(line_no)
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
                pass  # handled by the caller (it splits the batch there)
            elif c == b"m":
                pass  # module (re)load records of the raw stream; heaptrack_print skips them too
            else:
                raise self.bad(line_no, f"unknown record {line[:20]!r}")
        except ValueError:
            raise self.bad(line_no, f"malformed record {line[:40]!r}") from None
        if self.version is None and c != b"v":
            raise self.bad(line_no, "no heaptrack version line before the first record")

    # -- one batch of complete lines ----------------------------------------------------
    def feed(self, batch: bytes):
        np = self.np
        if self.lines == 0 and not _VERSION_RE.match(batch[:64]):
            if batch.lstrip(b"\n").startswith(b"# strings: "):
                raise BadCapture(f"{self.path}: empty heaptrack capture (the program ended before "
                                 "heaptrack wrote any record)")
            raise BadCapture(f"{self.path}: compressed data that is not a heaptrack capture "
                             "(no `v` version line)")
        arr = np.frombuffer(batch, dtype=np.uint8)
        nl = np.flatnonzero(arr == 10)
        starts = np.empty_like(nl)
        starts[0] = 0
        starts[1:] = nl[:-1] + 1
        firsts = np.take(arr, starts)
        kind = np.take(self.kindv, firsts)
        slow = np.flatnonzero(kind == 0)
        a_lines = np.flatnonzero(firsts[slow] == ord("A"))
        if self.version is not None and not len(a_lines) and self._definitions(batch, arr, starts, nl, slow, firsts):
            self._commit_infos()
            self._events(arr, starts, nl, kind, self.lines)
            self.lines += len(nl)
            return
        edges = [0] + [int(slow[i]) + 1 for i in a_lines] + [len(nl)]
        slow_i, slow_s, slow_e = slow.tolist(), starts[slow].tolist(), nl[slow].tolist()
        si, n_slow, base = 0, len(slow_i), self.lines + 1
        line_handler = self.slow_line
        sized = self.file_format is not None and self.file_format >= 3
        strings, trace_ip, trace_parent = self.strings, self.trace_ip, self.trace_parent
        n_ips = len(self.ips)
        new_sizes, new_traces, new_lines = self.new_sizes, self.new_traces, self.new_lines
        for lo, hi in zip(edges[:-1], edges[1:]):
            while si < n_slow and slow_i[si] < hi:
                line = batch[slow_s[si]:slow_e[si]]
                c = line[0]
                # the common definitions inline (hot at start-up of big captures); the rest and
                # every error path go through slow_line, which reports the line number
                try:  # a malformed number falls through to slow_line, which names the line
                    if c == 115 and sized:                                    # s <len> <text>
                        sp = line.find(b" ", 2)
                        text = line[sp + 1:]
                        if sp > 2 and len(text) == int(line[2:sp], 16):
                            strings.append(text.decode("utf-8", "replace"))
                            si += 1
                            continue
                    elif c == 116:                                            # t <ip> <parent>
                        parts = line[2:].split(b" ")
                        if len(parts) == 2:
                            ip, parent = int(parts[0], 16), int(parts[1], 16)
                            if 0 < ip <= n_ips and parent <= len(trace_ip):
                                trace_ip.append(ip)
                                trace_parent.append(parent)
                                si += 1
                                continue
                    elif c == 97:                                             # a <size> <trace>
                        parts = line[2:].split(b" ")
                        if len(parts) == 2:
                            size, trace = int(parts[0], 16), int(parts[1], 16)
                            if 0 <= trace <= len(trace_ip) and 0 <= size < MAX_SIZE:
                                new_sizes.append(size)
                                new_traces.append(trace)
                                new_lines.append(base + slow_i[si])
                                si += 1
                                continue
                except ValueError:
                    pass
                line_handler(line, base + slow_i[si])
                n_ips = len(self.ips)
                if c == 65:                                               # A: attached
                    self._attach()
                si += 1
            self._commit_infos()
            self._events(arr, starts[lo:hi], nl[lo:hi], kind[lo:hi], self.lines + lo)
        self.lines += len(nl)

    def _definitions(self, batch, arr, starts, nl, slow, firsts) -> bool:
        """The definition lines of a batch, the `t` (trace) and `a` (allocation info) lines, which
        are most of them, as arrays; the rest (`s`, `i`, ...) in order, one by one. False, with
        nothing changed, when anything is out of the ordinary (a malformed or dangling record,
        a number of 16+ digits): the caller then reads the batch line by line, which names the
        first bad line exactly."""
        np = self.np
        fs = firsts[slow]
        ta = (fs == 116) | (fs == 97)
        if not ta.any():
            return False
        rows, kinds = slow[ta], fs[ta]
        s, e = starts[rows], nl[rows]
        if (arr[s + 1] != 32).any():
            return False
        # the space between the two numbers: within the 17 bytes after "t " / "a "
        pos = np.minimum(s[:, None] + 2 + np.arange(17), len(arr) - 1)
        space = (arr[pos] == 32) & (pos < e[:, None])
        if not space.any(axis=1).all():
            return False
        sp = s + 2 + space.argmax(axis=1)
        try:
            first = self._hex(arr, s + 2, sp, lambda j: 0)
            second = self._hex(arr, sp + 1, e, lambda j: 0)     # a second space is junk here
        except BadCapture:
            return False
        is_t = kinds == 116
        t0, i0 = len(self.trace_ip), len(self.ips)
        traces_before = t0 + np.cumsum(is_t) - is_t                    # traces defined above each line
        ips_before = i0 + np.searchsorted(slow[fs == 105], rows)       # instruction pointers above it
        ip, parent = first[is_t], second[is_t]
        size, trace = first[~is_t], second[~is_t]
        if not ((ip >= 1) & (ip <= ips_before[is_t]) & (parent <= traces_before[is_t])).all():
            return False
        if not ((trace <= traces_before[~is_t]) & (size < MAX_SIZE)).all():
            return False
        base = self.lines + 1
        for i in slow[~ta].tolist():            # strings, instruction pointers, metadata, in order
            self.slow_line(batch[int(starts[i]):int(nl[i])], base + i)
        self.trace_ip.extend(ip.tolist())
        self.trace_parent.extend(parent.tolist())
        self.new_sizes.extend(size.tolist())
        self.new_traces.extend(trace.tolist())
        self.new_lines.extend((base + rows[~is_t]).tolist())
        return True

    def _attach(self):
        self.attached = True
        self.total_calls = self.total_temp = self.leaked = self.peak = self.allocated = 0

    def _hex(self, arr, s, e, first_line):
        """Parse the hex numbers arr[s:e] for many lines at once; error with a line number on junk."""
        np = self.np
        n = len(s)
        if n == 0:
            return np.zeros(0, np.int64)
        lens = e - s
        lo, hi = int(lens.min()), int(lens.max())
        if lo < 1 or hi > 15:
            bad = np.flatnonzero((lens < 1) | (lens > 15))[0]
            raise self.bad(first_line(bad), "malformed number")
        hexv = self.hexv
        # right-aligned: pass j reads the digit j places left of each number's end, for every line
        # at once (shifted views, no per-length subsets); lines shorter than j get a 0 digit (the
        # byte there is the space before the number, or the previous line's, never a digit we add).
        # Numbers of up to 7 digits (every event a capture of < 268 M allocation infos has) are
        # summed in int32: half the memory traffic of int64
        wide = hi > 7
        acc = np.int64 if wide else np.int32
        pad = 16
        padded = np.concatenate([np.zeros(pad, np.uint8), arr[: int(e[-1]) + 1]])
        ends = e + (pad - 1)
        val = None
        bad_pass = False
        take = np.take        # np.take: several times faster than fancy indexing for these gathers
        for j in range(hi):
            d = take(hexv, take(padded, ends - j))
            if j >= lo:
                d[lens <= j] = 0
            if d.max() > 15:
                bad_pass = True
                break
            if val is None:
                val = d.astype(acc)
            else:
                val |= d.astype(acc) << (4 * j)
        if bad_pass:   # name the first line with junk, whichever digit it is in
            rows = [np.flatnonzero((hexv[padded[ends - j]] > 15) & (lens > j)) for j in range(hi)]
            raise self.bad(first_line(int(min(r[0] for r in rows if len(r)))), "malformed number")
        return val.astype(np.int64, copy=False)

    def _events(self, arr, starts, ends, kind, line0):
        """All `+ - c R` lines of one segment (no `A` inside), vectorised, in file order.

        Per batch the work is a fixed number of array passes over its events; what only a few
        batches need (the slices of work, markers, the state at the last `c`) is computed only
        in the batches that need it."""
        np = self.np
        ev = np.flatnonzero((kind - 1).view(np.uint8) < 4)     # + - c R
        if len(ev) == 0:
            return
        k = np.take(kind, ev)
        s = np.take(starts, ev)
        if (np.take(arr, s + 1) != 32).any():
            bad = int(np.argmax(np.take(arr, s + 1) != 32))
            raise self.bad(line0 + int(ev[bad]) + 1, "malformed event record")
        vals = self._hex(arr, s + 2, np.take(ends, ev), lambda j: line0 + int(ev[j]) + 1)

        pm = k <= 2
        if pm.all():                      # most batches: no `c`/`R` line at all
            c_pos = pm_pos = None
            stamps = vals[:0]
            idx = vals
            plus = k == 1
        else:
            is_r = k == 4
            if is_r.any():
                self.peak_rss_pages = max(self.peak_rss_pages, int(vals[is_r].max()))
            c_pos = np.flatnonzero(k == 3)
            stamps = vals[c_pos]
            pm_pos = np.flatnonzero(pm)
            idx = np.take(vals, pm_pos)
            plus = np.take(k, pm_pos) == 1
        n_inf = self.n_infos
        n_ev = len(idx)
        if n_ev:
            if int(idx.max()) >= n_inf:
                j = int(np.argmax(idx >= n_inf))
                raise self.bad(line0 + int(ev[self._ev_at(pm_pos, j)]) + 1,
                               f"reference to undefined allocation {int(idx[j]):x}")
            # an info defined in this batch must be defined above its first use
            if n_inf and int(self.def_line[n_inf - 1]) > line0:
                fresh = np.flatnonzero(self.def_line[idx] > line0)
                ev_lines = line0 + ev[fresh if pm_pos is None else pm_pos[fresh]] + 1
                early = self.def_line[idx[fresh]] >= ev_lines
                if early.any():
                    j = int(np.argmax(early))
                    raise self.bad(int(ev_lines[j]), f"reference to undefined allocation {int(idx[fresh[j]]):x}")

        def pm_at(p):
            """Index among the +/- events of the first one after `c`/any line at segment event p."""
            return p if pm_pos is None else int(np.searchsorted(pm_pos, p))

        def stamp_before(p):
            """The latest `c` stamp before +/- event p (ms), or the previous batch's."""
            if c_pos is None:
                return self.last_ms
            j = int(np.searchsorted(c_pos, pm_pos[p])) - 1 if p < len(pm_pos) else len(c_pos) - 1
            return int(stamps[j]) if j >= 0 else self.last_ms

        cap = len(self.sizes)
        counts0 = self.counts
        key = idx
        marks = []                        # (events before the cut, code, stamp, trace) of markers
        if n_ev:
            minus = ~plus
            key = idx * 2
            key += minus                  # bin 2*info counts `+`, bin 2*info+1 counts `-`
            running = np.take(self.signed, key)     # +size for a `+`, -size for a `-`
            np.cumsum(running, out=running)
            running += self.leaked
            # temporary: the previous +/- event was a `+` of the same info (heaptrack's lastAllocationPtr)
            prev = np.empty_like(idx)
            prev[0] = self.last_ptr
            np.multiply(idx[:-1], plus[:-1], out=prev[1:])
            n_temp = int(np.count_nonzero(minus & (idx == prev)))
            self.last_ptr = int(idx[-1]) if plus[-1] else 0
            self.total_temp += n_temp
            # marker candidates: a malloc of a marker size. Not necessarily a temporary: between
            # the marker's malloc and free, Python (ctypes boxing the pointer, PYTHONMALLOC=malloc)
            # makes calls of its own. The cut goes just before the malloc.
            both = np.bincount(key, minlength=2 * cap).reshape(cap, 2)
            calls_here = both[:, 0]
            if len(self.marker_infos) and calls_here[self.marker_infos].any():
                mk = np.flatnonzero(plus & (self.marker_code[idx] >= 0))
            else:
                mk = ()
            if len(mk):
                self.marker_hits += np.bincount(idx[mk], minlength=cap)
                wanted = self.tl.wanted_codes
                for p in mk.tolist():
                    info = int(idx[p])
                    code = int(self.marker_code[info])
                    if code in wanted:
                        mark = (code, stamp_before(p), int(self.info_trace[info]), self.events_seen + p)
                        if self.tl.marker_rows(code):
                            marks.append((p, mark))      # a kept boundary's: needs the state
                        else:
                            self.tl.marker(*mark)
            top = int(running.max())
            if top > self.peak:
                p = int(np.argmax(running))
                self.peak = top
                self.peak_counts = counts0 + self._delta(key[: p + 1], cap)
                self.peak_ms = stamp_before(p)
            self.leaked = int(running[-1])
            self.calls += calls_here
            self.counts = counts0 + (calls_here - both[:, 1])
            n_plus = int(calls_here.sum())
            batch_bytes = int(calls_here @ self.sizes)
            self.total_calls += n_plus
            self.allocated += batch_bytes
        else:
            n_plus = batch_bytes = 0

        # timeline: a clock target T is cut just before the last `c` with stamp <= T, once a
        # later stamp > T proves no more events belong before it; a marker, just before its malloc
        cuts = []                         # (events before the cut, kind, payload)
        if self.tl.grid and n_ev:
            # no boundaries: slices of work, by allocation count and by allocated bytes. Target N is
            # cut just before the event that takes the count past N, exactly, whatever the clock did.
            # The running counts are made only in a batch that holds a target (a few dozen in all)
            due = self.tl.due_work({"calls": self.plus_seen + n_plus, "bytes": self.bytes_seen + batch_bytes})
            if due:
                cum = {}
                for axis, key_w, n in due:
                    if axis not in cum:
                        cum[axis] = (np.cumsum(plus) + self.plus_seen if axis == "calls" else
                                     np.cumsum(np.where(plus, self.sizes[idx], 0)) + self.bytes_seen)
                    cuts.append((int(np.searchsorted(cum[axis], n, side="right")), "w", (axis, key_w)))
        elif len(stamps) and not self.tl.grid:
            top_ms = int(stamps.max())
            for key_t, t in self.tl.due(top_ms):
                j = int(np.searchsorted(stamps, t, side="right")) - 1
                if j < 0:
                    self.tl.at_clock(key_t, self.column_bytes(self.at_last_c))
                else:
                    cuts.append((int(np.searchsorted(pm_pos, c_pos[j])), "t", key_t))
            # the state just before the last `c`: a clock target the next batch proves passed
            # before its first stamp is cut there (never needed for slices of work)
            cuts.append((int(np.searchsorted(pm_pos, c_pos[-1])), "c", None))
        cuts += [(p, "m", mark) for p, mark in marks]
        if cuts:
            cuts.sort(key=lambda c: c[0])
            # walk the cuts in order, adding each stretch of events once
            state, done = counts0.copy(), 0
            for nb, what, payload in cuts:
                if nb > done:
                    state += self._delta(key[done:nb], cap)
                    done = nb
                if what == "c":
                    self.at_last_c = state.copy()
                elif what == "t":
                    self.tl.at_clock(payload, self.column_bytes(state))
                elif what == "w":
                    self.tl.at_work(*payload, self.column_bytes(state), stamp_before(nb), self.events_seen + nb)
                else:
                    self.tl.marker(*payload, vector=lambda: self.column_bytes(state))
        if len(stamps):
            self.last_ms = int(stamps[-1])
        self.events_seen += n_ev
        self.plus_seen += n_plus
        self.bytes_seen += batch_bytes

    @staticmethod
    def _ev_at(pm_pos, j):
        return j if pm_pos is None else pm_pos[j]

    def column_bytes(self, counts):
        """Live bytes per timeline column for live counts per info."""
        np = self.np
        n = self.n_infos
        return np.bincount(self.info_col[:n], weights=(counts[:n] * self.sizes[:n]).astype(np.float64),
                           minlength=len(self.col_trace)).round().astype(np.int64)

    def _delta(self, key, cap):
        """Change of live counts per info over a stretch of events (key = 2*info + is_free)."""
        np = self.np
        if len(key) == 0:
            return np.zeros(cap, np.int64)
        both = np.bincount(key, minlength=2 * cap).reshape(cap, 2)
        return both[:, 0] - both[:, 1]


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
    flagged: dict[int, bool] = {0: False}
    out = set()
    for t in trace_ids:
        chain = []
        node = int(t)
        while node not in flagged:
            chain.append(node)
            node = rd.trace_parent[node - 1]
            if len(chain) > len(rd.trace_parent):   # a cycle in a corrupt file
                break
        hit = flagged.get(node, False)
        for c in reversed(chain):
            hit = hit or rd.trace_ip[c - 1] in bad_ips
            flagged[c] = hit
        if flagged[int(t)]:
            out.add(int(t))
    return out


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
            buf = tail + b"".join(pieces)
            cut = buf.rfind(b"\n") + 1
            if cut:
                rd.feed(buf[:cut])
            tail, pieces, size = buf[cut:], [], 0
    buf = tail + b"".join(pieces)
    cut_line = None
    if buf and not buf.endswith(b"\n"):
        # the writer was killed mid-line: what came before the partial record stands
        cut = buf.rfind(b"\n") + 1
        if cut:
            rd.feed(buf[:cut])
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
        truncated = Truncated(reason=why, details={"complete_lines": rd.lines, "last_time_s": rd.last_ms / 1000.0},
                              summary=f"capture truncated ({why}): read up to line {rd.lines}, "
                                      f"{rd.last_ms / 1000.0:.3f} s into the run")
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
    """The stack (frames innermost first) of each site trace.

    A trace's stack is its own frames before its parent's. Sites share most of their callers,
    so the stack of a trace node two or more sites go through (a branch point) is made once
    and reused; every other node is on one path only and is read once. Memory: the sites'
    stacks plus the branch points' (at most one per site). A parent is always defined before
    its child (the reader refuses a forward reference), so every walk up ends at the root."""
    from itertools import chain

    parent, trace_ip = rd.trace_parent, rd.trace_ip
    uses: dict[int, int] = {}          # node -> walks that reached it (itself a site, or from a child)
    for t in sites:
        while t:
            n = uses.get(t, 0)
            uses[t] = n + 1
            if n:
                break
            t = parent[t - 1]
    memo: dict[int, tuple] = {0: ()}
    ip_cache: dict = {}
    out = []
    for site in sites:
        path = []
        t = site
        while t not in memo:
            path.append(t)
            t = parent[t - 1]
        base = memo[t]
        pending: list = []                 # frames of the nodes below `base`, outermost first
        for node in reversed(path):
            ip = trace_ip[node - 1]
            fr = ip_cache.get(ip)
            if fr is None:
                fr = _frames_of_ip(rd, ip, ip_cache)
            pending.append(fr)
            if uses[node] > 1 or node == site:
                base = tuple(chain.from_iterable(reversed(pending))) + base
                pending = []
                if uses[node] > 1:
                    memo[node] = base
        out.append(base)
    return out


def _build(rd: _Reader, path: Path, bounds) -> Capture:
    import numpy as np

    from profiler.parsers._stacks import sites_frame, timeline_frame

    n = rd.n_infos
    sizes = rd.sizes[:n]
    traces = rd.info_trace[:n]
    site_ids = np.unique(traces)
    pos = np.searchsorted(site_ids, traces)
    m = len(site_ids)

    # the in-band markers are protocol, not the program's memory: their allocation infos (the
    # marker sizes at the trace that wrote the boundaries' markers; without boundaries, at any
    # trace that wrote markers of 2+ iterations) are left out of the sites' figures, and a site
    # that allocated nothing else is left out. The trace alone is not enough: a Python program's
    # other ctypes calls into malloc share the marker's native stack.
    marker_trace = rd.tl.marker_trace() if bounds else None
    codes = rd.marker_code[:n]
    sized = (codes >= 0) & (rd.marker_hits[:n] > 0)
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

    live_end = per_site(rd.counts)
    peak = per_site(rd.peak_counts)
    all_calls = rd.calls[:n]
    calls = np.bincount(pos, weights=(all_calls * weight).astype(np.float64), minlength=m).round().astype(np.int64)
    marker_calls = np.bincount(pos, weights=(all_calls * mask).astype(np.float64), minlength=m).round().astype(np.int64)
    keep = ~((marker_calls > 0) & (calls == 0))
    kept_ids = site_ids[keep].tolist()
    rows = zip(kept_ids, _stacks(rd, kept_ids), live_end[keep].tolist(), peak[keep].tolist(),
               calls[keep].tolist(), [None] * len(kept_ids))
    sites = sites_frame(rows, FORMAT)

    # timeline: the engine's vectors are per column (trace, marker-sized); columns map to sites,
    # the marker trace's marker-sized column is dropped
    n_cols = len(rd.col_trace)
    slices, times, matrix, how = rd.tl.finish(rd.column_bytes(rd.counts), rd.last_ms, n_cols,
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
        "calls": rd.total_calls,
        "temporary": rd.total_temp,
        "peak_heap_bytes": rd.peak,
        # like heaptrack_print: leaks matched by its suppressions are not counted (sites keep their bytes)
        "leaked_bytes": rd.leaked - suppressed_bytes,
        "suppressed_leaked_bytes": suppressed_bytes,
        "live_bytes_end": rd.leaked,
        "peak_rss_bytes": rd.peak_rss_pages * (rd.page_size or 0),
        "allocated_bytes_total": rd.allocated,
    }
    meta = {
        "command": rd.command,
        "heaptrack_version": f"{rd.version >> 16}.{(rd.version >> 8) & 0xff}.{rd.version & 0xff}",
        "file_format": rd.file_format,
        "page_size": rd.page_size,
        "physical_pages": rd.phys_pages,
        "duration_s": rd.last_ms / 1000.0,
        "peak_time_s": rd.peak_ms / 1000.0,
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
