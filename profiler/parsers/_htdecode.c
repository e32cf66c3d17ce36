/* The per-line pass over a heaptrack capture's text records, in C.
 *
 * Why compiled: a capture is millions of `+ N` / `- N` lines (one per malloc/free) between a
 * few thousand definitions. In Python, even vectorised with numpy, reading them cost more than
 * heaptrack_print takes for the whole file; here each line is read once, left to right.
 *
 * What it owns: the allocation infos (`a` lines: size, trace) and trace nodes (`t` lines), the
 * per-info state (live count, calls, marker-sized calls) and the totals heaptrack_print prints
 * (calls, temporary, running live bytes and their peak, allocated, peak RSS pages, the clock).
 * Everything rarer goes back to Python, which stops the pass at the line concerned and resumes
 * it after (profiler/parsers/heaptrack.py says what each stop is for):
 *   SLOW    a line this pass does not read (`s`, `i`, `v`, `X`, `I`, `S`, `A`, `m`, junk) or a
 *           `t`/`a` line out of the ordinary: Python reads it, names the line on an error;
 *   MARKER  the malloc of a marker size whose iteration code the timeline wants (before it);
 *   WORK    a malloc that takes the call or byte count past a work-slice threshold (before it);
 *   CLOCK   a `c` stamp past the clock threshold (before it);
 *   BAD_EVENT, BAD_NUMBER, UNDEFINED: malformed event lines (Python raises with the line number);
 *   RANGE   an event that would take a byte total out of int64 (the line is not applied).
 * bytes_moved (the bytes of every `+` and `-`, never reset) stays in int64, so does every sum of
 * live counts x sizes (each |count| x size is at most the bytes moved for that info).
 * A stop leaves the line unread; Python resumes at the same position with `resume` = the stop's
 * code, and the pass then reads the line without stopping there again for that reason or any
 * earlier one (SKIP: step over the line Python has read).
 *
 * Two states in the past are kept without copying the counts at every event (the heap's peak,
 * which moves with every new maximum while the heap grows, and the state just before the
 * latest `c` stamp): a log of the events since that moment, undone on request; when the log
 * would outgrow the number of infos the state is copied once instead, so the cost stays
 * O(events) and the memory O(infos).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

enum { DONE = 0, SLOW = 1, MARKER = 2, WORK = 3, CLOCK = 4, SKIP = 5,
       BAD_EVENT = 10, BAD_NUMBER = 11, UNDEFINED = 12, RANGE = 13 };

#define MAX_DIGITS 15                 /* 16+ hex digits: malformed (sums stay in int64) */
#define MAX_SIZE ((int64_t)1 << 48)   /* a larger allocation size is corruption */

static unsigned char HEX[256];

typedef struct {
    int64_t *p;
    Py_ssize_t n, cap;
} vec;

static int vec_reserve(vec *v, Py_ssize_t need)
{
    if (need <= v->cap)
        return 0;
    Py_ssize_t cap = v->cap ? v->cap : 1024;
    while (cap < need)
        cap *= 2;
    int64_t *p = PyMem_Realloc(v->p, (size_t)cap * sizeof(int64_t));
    if (!p) {
        PyErr_NoMemory();
        return -1;
    }
    memset(p + v->cap, 0, (size_t)(cap - v->cap) * sizeof(int64_t));
    v->p = p;
    v->cap = cap;
    return 0;
}

static int vec_push(vec *v, int64_t x)
{
    if (v->n == v->cap && vec_reserve(v, v->n + 1) < 0)
        return -1;
    v->p[v->n++] = x;
    return 0;
}

/* a past state of the live counts: the events since (key = 2 * info + is_free), or a copy */
typedef struct {
    vec log;
    vec snap;            /* valid: counts at that moment for infos [0, snap.n), 0 beyond */
    int valid;
} past;

typedef struct {
    PyObject_HEAD
    /* per allocation info */
    vec sizes, trace, counts, calls, hits, code;
    /* per trace node */
    vec trace_ip, trace_parent;
    past peak_state, clock_state;
    unsigned char *wanted;            /* per marker code: does the timeline want it */
    Py_ssize_t n_wanted;
    int64_t marker_base, marker_step, marker_span;
    /* totals, as heaptrack_print counts them */
    long long total_calls, total_temp, leaked, peak, peak_ms, allocated, last_ptr, peak_rss;
    long long last_ms, events_seen, plus_seen, bytes_seen, lines, n_ips, bytes_moved;
    /* stops */
    int clock_on, work_on;
    double clock_thr;
    long long calls_thr, bytes_thr;
} Decoder;

static void past_reset(past *s)
{
    s->log.n = 0;
    s->valid = 0;
}

static void undo(const vec *log, int64_t *counts)
{
    for (Py_ssize_t k = log->n - 1; k >= 0; k--) {
        int64_t key = log->p[k];
        counts[key >> 1] += (key & 1) ? 1 : -1;
    }
}

/* an event (already applied to the counts) after the moment `s` keeps */
static int past_push(Decoder *d, past *s, int64_t key)
{
    if (s->valid)
        return 0;
    if (s->log.n == s->log.cap) {
        Py_ssize_t n = d->counts.n;
        if (s->log.cap < 65536 || s->log.cap < n)
            return vec_push(&s->log, key);
        /* the log would outgrow the infos: copy the state once (the counts hold this event
         * already: it is undone with the logged ones) */
        if (vec_reserve(&s->snap, n) < 0)
            return -1;
        memcpy(s->snap.p, d->counts.p, (size_t)n * sizeof(int64_t));
        s->snap.n = n;
        undo(&s->log, s->snap.p);
        s->snap.p[key >> 1] += (key & 1) ? 1 : -1;
        s->log.n = 0;
        s->valid = 1;
        return 0;
    }
    s->log.p[s->log.n++] = key;
    return 0;
}

static PyObject *past_bytes(Decoder *d, past *s)
{
    Py_ssize_t n = d->counts.n;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n * sizeof(int64_t)));
    if (!out)
        return NULL;
    int64_t *o = (int64_t *)PyBytes_AS_STRING(out);
    if (s->valid) {
        Py_ssize_t m = s->snap.n < n ? s->snap.n : n;
        memcpy(o, s->snap.p, (size_t)m * sizeof(int64_t));
        memset(o + m, 0, (size_t)(n - m) * sizeof(int64_t));
    } else {
        memcpy(o, d->counts.p, (size_t)n * sizeof(int64_t));
        undo(&s->log, o);
    }
    return out;
}

static int add_info(Decoder *d, int64_t size, int64_t trace)
{
    Py_ssize_t n = d->sizes.n;
    if (vec_reserve(&d->sizes, n + 1) < 0 || vec_reserve(&d->trace, n + 1) < 0 ||
        vec_reserve(&d->counts, n + 1) < 0 || vec_reserve(&d->calls, n + 1) < 0 ||
        vec_reserve(&d->hits, n + 1) < 0 || vec_reserve(&d->code, n + 1) < 0)
        return -1;
    int64_t k = size - d->marker_base, code = -1;
    /* marker_step > 0 unless the object skipped __init__ (Decoder.__new__): then no markers */
    if (k >= 0 && d->marker_step > 0 && k % d->marker_step == 0 && k / d->marker_step < d->marker_span)
        code = k / d->marker_step;
    d->sizes.p[n] = size;
    d->trace.p[n] = trace;
    d->counts.p[n] = d->calls.p[n] = d->hits.p[n] = 0;
    d->code.p[n] = code;
    d->sizes.n = d->trace.n = d->counts.n = d->calls.n = d->hits.n = d->code.n = n + 1;
    return 0;
}

/* A hex number of 1..MAX_DIGITS lowercase digits at *q, ended by `end`; 0 and *q moved on
 * success. The buffer ends with a newline, so the scan stops inside it. */
static inline int hex_until(const unsigned char **q, unsigned char end, int64_t *out)
{
    const unsigned char *s = *q, *p = s;
    uint64_t v = 0;
    unsigned char h;
    while ((h = HEX[*p]) < 16) {
        v = (v << 4) | h;
        p++;
    }
    if (*p != end || p == s || p - s > MAX_DIGITS)
        return -1;
    *out = (int64_t)v;
    *q = p + 1;
    return 0;
}

static PyObject *result(int code, Py_ssize_t pos, long long value)
{
    return Py_BuildValue("(inL)", code, pos, value);
}

static PyObject *Decoder_feed(Decoder *d, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t pos, n = -1;
    int resume;
    if (!PyArg_ParseTuple(args, "y*ni|n", &buf, &pos, &resume, &n))
        return NULL;
    const unsigned char *b = buf.buf;
    if (pos < 0) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "feed() position must not be negative");
        return NULL;
    }
    if (n < 0 || n > buf.len)
        n = buf.len;
    if (n && b[n - 1] != '\n') {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "feed() takes complete lines");
        return NULL;
    }
    int code = DONE;
    long long value = 0;
    while (pos < n) {
        const unsigned char *line = b + pos, *q;
        unsigned char c = line[0];
        int64_t v;
        if (c == '+' || c == '-' || c == 'c' || c == 'R') {
            if (line[1] != ' ') {
                code = BAD_EVENT;
                break;
            }
            q = line + 2;
            if (hex_until(&q, '\n', &v) < 0) {
                code = BAD_NUMBER;
                break;
            }
            if (c == '+') {
                if (v >= d->sizes.n) {
                    code = UNDEFINED;
                    value = v;
                    break;
                }
                int64_t mc = d->code.p[v], sz = d->sizes.p[v];
                long long moved, leaked, allocated, seen;
                if (__builtin_add_overflow(d->bytes_moved, sz, &moved) ||
                    __builtin_add_overflow(d->leaked, sz, &leaked) ||
                    __builtin_add_overflow(d->allocated, sz, &allocated) ||
                    __builtin_add_overflow(d->bytes_seen, sz, &seen)) {
                    code = RANGE;
                    value = v;
                    break;
                }
                if (resume < MARKER && mc >= 0 && mc < d->n_wanted && d->wanted[mc]) {
                    code = MARKER;
                    value = v;
                    break;
                }
                if (resume < WORK && d->work_on &&
                    (d->plus_seen + 1 > d->calls_thr || seen > d->bytes_thr)) {
                    code = WORK;
                    value = v;
                    break;
                }
                d->counts.p[v]++;
                d->calls.p[v]++;
                if (mc >= 0)
                    d->hits.p[v]++;
                d->bytes_moved = moved;
                d->leaked = leaked;
                d->total_calls++;
                d->allocated = allocated;
                d->plus_seen++;
                d->bytes_seen = seen;
                d->events_seen++;
                d->last_ptr = v;
                if (d->leaked > d->peak) {
                    d->peak = d->leaked;
                    d->peak_ms = d->last_ms;
                    past_reset(&d->peak_state);
                } else if (past_push(d, &d->peak_state, 2 * v) < 0)
                    goto fail;
                if (d->clock_on && past_push(d, &d->clock_state, 2 * v) < 0)
                    goto fail;
            } else if (c == '-') {
                if (v >= d->sizes.n) {
                    code = UNDEFINED;
                    value = v;
                    break;
                }
                long long moved, leaked;
                if (__builtin_add_overflow(d->bytes_moved, d->sizes.p[v], &moved) ||
                    __builtin_sub_overflow(d->leaked, d->sizes.p[v], &leaked)) {
                    code = RANGE;
                    value = v;
                    break;
                }
                /* temporary: the previous +/- event was the malloc of this same info (a `- 0`
                 * right after another `-` also counts, as in heaptrack_print) */
                if (v == d->last_ptr)
                    d->total_temp++;
                d->last_ptr = 0;
                d->counts.p[v]--;
                d->bytes_moved = moved;
                d->leaked = leaked;
                d->events_seen++;
                /* sizes are never negative (add_info refuses them): a free never raises the peak */
                if (past_push(d, &d->peak_state, 2 * v + 1) < 0)
                    goto fail;
                if (d->clock_on && past_push(d, &d->clock_state, 2 * v + 1) < 0)
                    goto fail;
            } else if (c == 'c') {
                if (resume < CLOCK && d->clock_on && (double)v > d->clock_thr) {
                    code = CLOCK;
                    value = v;
                    break;
                }
                d->last_ms = v;
                if (d->clock_on)
                    past_reset(&d->clock_state);
            } else if (v > d->peak_rss) {
                d->peak_rss = v;
            }
        } else if (c == 't' || c == 'a') {
            int64_t x, y;
            q = line + 1;
            if (resume == SKIP || *q != ' ')
                goto slow;
            q++;
            if (hex_until(&q, ' ', &x) < 0 || hex_until(&q, '\n', &y) < 0)
                goto slow;
            if (c == 't') {
                if (x < 1 || x > d->n_ips || y > d->trace_ip.n)
                    goto slow;
                if (vec_push(&d->trace_ip, x) < 0 || vec_push(&d->trace_parent, y) < 0)
                    goto fail;
            } else {
                if (y > d->trace_ip.n || x >= MAX_SIZE)
                    goto slow;
                if (add_info(d, x, y) < 0)
                    goto fail;
            }
        } else if (c == '#' || c == '\n') {
            q = memchr(line, '\n', (size_t)(n - pos));
            q++;
        } else {
        slow:
            q = memchr(line, '\n', (size_t)(n - pos));
            if (resume != SKIP) {
                code = SLOW;
                value = q - b;
                break;
            }
            q++;
        }
        pos = q - b;
        d->lines++;
        resume = DONE;
    }
    PyBuffer_Release(&buf);
    return result(code, pos, value);
fail:
    PyBuffer_Release(&buf);
    return NULL;
}

static vec *named(Decoder *d, const char *name)
{
    if (!strcmp(name, "sizes")) return &d->sizes;
    if (!strcmp(name, "trace")) return &d->trace;
    if (!strcmp(name, "counts")) return &d->counts;
    if (!strcmp(name, "calls")) return &d->calls;
    if (!strcmp(name, "hits")) return &d->hits;
    if (!strcmp(name, "code")) return &d->code;
    if (!strcmp(name, "trace_ip")) return &d->trace_ip;
    if (!strcmp(name, "trace_parent")) return &d->trace_parent;
    return NULL;
}

/* array(name, start=0): a copy of one per-info or per-trace array from `start` on, as int64
 * bytes; "peak" and "clock": the live counts per info at the heap's peak / just before the
 * latest `c` stamp */
static PyObject *Decoder_array(Decoder *d, PyObject *args)
{
    const char *name;
    Py_ssize_t start = 0;
    if (!PyArg_ParseTuple(args, "s|n", &name, &start))
        return NULL;
    if (!strcmp(name, "peak"))
        return past_bytes(d, &d->peak_state);
    if (!strcmp(name, "clock"))
        return past_bytes(d, &d->clock_state);
    vec *v = named(d, name);
    if (!v) {
        PyErr_Format(PyExc_KeyError, "%s", name);
        return NULL;
    }
    if (start < 0 || start > v->n)
        start = v->n;
    return PyBytes_FromStringAndSize((const char *)(v->p + start), (Py_ssize_t)((v->n - start) * sizeof(int64_t)));
}

/* column_bytes(state, columns, n_columns): live bytes per column, summed over the infos of each
 * (columns: int64 column number per info, for the first len(columns) infos); state = "counts"
 * (now), "peak" or "clock" */
static PyObject *Decoder_column_bytes(Decoder *d, PyObject *args)
{
    const char *state;
    Py_buffer cols;
    Py_ssize_t n_cols;
    if (!PyArg_ParseTuple(args, "sy*n", &state, &cols, &n_cols))
        return NULL;
    PyObject *held = NULL, *out = NULL;
    const int64_t *counts = d->counts.p;
    Py_ssize_t n = (Py_ssize_t)(cols.len / (Py_ssize_t)sizeof(int64_t));
    if (n > d->counts.n)
        n = d->counts.n;
    if (strcmp(state, "counts")) {
        past *s = !strcmp(state, "peak") ? &d->peak_state : !strcmp(state, "clock") ? &d->clock_state : NULL;
        if (!s) {
            PyErr_Format(PyExc_KeyError, "%s", state);
            goto done;
        }
        if (!(held = past_bytes(d, s)))
            goto done;
        counts = (const int64_t *)PyBytes_AS_STRING(held);
    }
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(n_cols * sizeof(int64_t)));
    if (!out)
        goto done;
    int64_t *o = (int64_t *)PyBytes_AS_STRING(out);
    memset(o, 0, (size_t)n_cols * sizeof(int64_t));
    const int64_t *col = cols.buf, *sz = d->sizes.p;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (col[i] < 0 || col[i] >= n_cols) {
            Py_CLEAR(out);
            PyErr_SetString(PyExc_IndexError, "column out of range");
            goto done;
        }
        int64_t b;
        if (__builtin_mul_overflow(counts[i], sz[i], &b) || __builtin_add_overflow(o[col[i]], b, &o[col[i]])) {
            Py_CLEAR(out);      /* not reached while bytes_moved stays in int64 (see the top) */
            PyErr_SetString(PyExc_OverflowError, "live bytes out of range");
            goto done;
        }
    }
done:
    Py_XDECREF(held);
    PyBuffer_Release(&cols);
    return out;
}

/* stacks(sites, ip_frames): per site trace, its frames innermost first: the frames of its own
 * instruction pointer, then its parent's, up to the root (ip_frames[ip] is the tuple of frames
 * of instruction pointer `ip`). A node that two or more walks go through (a branch point) gets
 * its stack made once and shared; every other node is on one path and read once, so the work is
 * O(trace nodes + the stacks' total length). Parents are defined before their children, so
 * every walk up ends at the root. */
static PyObject *Decoder_stacks(Decoder *d, PyObject *args)
{
    PyObject *sites, *ip_frames;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &sites, &PyList_Type, &ip_frames))
        return NULL;
    Py_ssize_t nt = d->trace_ip.n, ns = PyList_GET_SIZE(sites), nf = PyList_GET_SIZE(ip_frames);
    const int64_t *parent = d->trace_parent.p, *ip = d->trace_ip.p;
    int32_t *uses = PyMem_Calloc((size_t)nt + 1, sizeof(int32_t));
    PyObject **memo = PyMem_Calloc((size_t)nt + 1, sizeof(PyObject *));
    int64_t *site_no = PyMem_Malloc(((size_t)ns + 1) * sizeof(int64_t));
    vec path = {0};
    PyObject *out = NULL, *empty = PyTuple_New(0);
    if (!uses || !memo || !site_no || !empty) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < ns; k++) {
        long long t = PyLong_AsLongLong(PyList_GET_ITEM(sites, k));
        if (t == -1 && PyErr_Occurred())
            goto done;
        if (t < 0 || t > nt) {
            PyErr_SetString(PyExc_IndexError, "no such trace");
            goto done;
        }
        site_no[k] = t;
        while (t) {
            if (uses[t]++)
                break;
            t = parent[t - 1] >= 0 && parent[t - 1] < t ? parent[t - 1] : 0;
        }
    }
    if (!(out = PyList_New(ns)))
        goto done;
    for (Py_ssize_t k = 0; k < ns; k++) {
        int64_t site = site_no[k], t = site;
        path.n = 0;
        while (t && !memo[t]) {
            if (vec_push(&path, t) < 0)
                goto fail;
            t = parent[t - 1] >= 0 && parent[t - 1] < t ? parent[t - 1] : 0;
        }
        PyObject *base = t ? memo[t] : empty;
        Py_ssize_t seg = path.n;          /* path[j, seg): nodes below base not in a tuple yet */
        Py_INCREF(base);
        for (Py_ssize_t j = path.n - 1; j >= 0; j--) {
            int64_t node = path.p[j];
            if (uses[node] <= 1 && j > 0)
                continue;
            Py_ssize_t total = PyTuple_GET_SIZE(base);
            for (Py_ssize_t i = j; i < seg; i++) {
                int64_t x = ip[path.p[i] - 1];
                PyObject *fr = x >= 0 && x < nf ? PyList_GET_ITEM(ip_frames, x) : NULL;
                if (!fr || !PyTuple_Check(fr)) {
                    Py_DECREF(base);
                    PyErr_SetString(PyExc_TypeError, "ip_frames[ip] must be a tuple of frames");
                    goto fail;
                }
                total += PyTuple_GET_SIZE(fr);
            }
            PyObject *tup = PyTuple_New(total);
            if (!tup) {
                Py_DECREF(base);
                goto fail;
            }
            Py_ssize_t w = 0;
            for (Py_ssize_t i = j; i < seg; i++) {
                PyObject *fr = PyList_GET_ITEM(ip_frames, ip[path.p[i] - 1]);
                for (Py_ssize_t f = 0; f < PyTuple_GET_SIZE(fr); f++) {
                    PyObject *x = PyTuple_GET_ITEM(fr, f);
                    Py_INCREF(x);
                    PyTuple_SET_ITEM(tup, w++, x);
                }
            }
            for (Py_ssize_t f = 0; f < PyTuple_GET_SIZE(base); f++) {
                PyObject *x = PyTuple_GET_ITEM(base, f);
                Py_INCREF(x);
                PyTuple_SET_ITEM(tup, w++, x);
            }
            Py_DECREF(base);
            base = tup;
            seg = j;
            if (uses[node] > 1) {
                Py_INCREF(tup);
                memo[node] = tup;
            }
        }
        PyList_SET_ITEM(out, k, base);   /* the reference held as `base` */
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    if (memo)
        for (Py_ssize_t t = 0; t <= nt; t++)
            Py_XDECREF(memo[t]);
    PyMem_Free(memo);
    PyMem_Free(uses);
    PyMem_Free(site_no);
    PyMem_Free(path.p);
    Py_XDECREF(empty);
    return out;
}

static PyObject *Decoder_info(Decoder *d, PyObject *arg)
{
    Py_ssize_t i = PyLong_AsSsize_t(arg);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    if (i < 0 || i >= d->sizes.n) {
        PyErr_SetString(PyExc_IndexError, "no such allocation info");
        return NULL;
    }
    return Py_BuildValue("(LLL)", (long long)d->sizes.p[i], (long long)d->trace.p[i], (long long)d->code.p[i]);
}

static PyObject *Decoder_add_trace(Decoder *d, PyObject *args)
{
    long long ip, parent;
    if (!PyArg_ParseTuple(args, "LL", &ip, &parent))
        return NULL;
    /* the walks up in stacks() index by parent: a node's parent is the root or an earlier node */
    if (ip < 1 || ip > d->n_ips || parent < 0 || parent > d->trace_ip.n) {
        PyErr_SetString(PyExc_ValueError, "trace node out of range");
        return NULL;
    }
    if (vec_push(&d->trace_ip, ip) < 0 || vec_push(&d->trace_parent, parent) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Decoder_add_info(Decoder *d, PyObject *args)
{
    long long size, trace;
    if (!PyArg_ParseTuple(args, "LL", &size, &trace))
        return NULL;
    /* column_bytes() and the peak (checked on a malloc only) rely on 0 <= size < MAX_SIZE */
    if (size < 0 || size >= MAX_SIZE || trace < 0 || trace > d->trace_ip.n) {
        PyErr_SetString(PyExc_ValueError, "allocation info out of range");
        return NULL;
    }
    if (add_info(d, size, trace) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* `A`: heaptrack attached to a running process; its totals start again (the live counts stay) */
static PyObject *Decoder_attach(Decoder *d, PyObject *Py_UNUSED(ignored))
{
    d->total_calls = d->total_temp = d->leaked = d->peak = d->allocated = 0;
    d->peak_ms = d->last_ms;            /* the new peak (0 bytes) is now: its state is the counts now */
    past_reset(&d->peak_state);
    Py_RETURN_NONE;
}

static PyObject *Decoder_set_wanted(Decoder *d, PyObject *arg)
{
    Py_buffer buf;
    if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0)
        return NULL;
    unsigned char *w = PyMem_Realloc(d->wanted, buf.len ? (size_t)buf.len : 1);
    if (!w) {
        PyBuffer_Release(&buf);
        return PyErr_NoMemory();
    }
    memcpy(w, buf.buf, (size_t)buf.len);
    d->wanted = w;
    d->n_wanted = buf.len;
    PyBuffer_Release(&buf);
    Py_RETURN_NONE;
}

static int Decoder_init(Decoder *d, PyObject *args, PyObject *kw)
{
    static char *names[] = {"marker_base", "marker_step", "marker_span", NULL};
    long long base, step, span;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "LLL", names, &base, &step, &span))
        return -1;
    if (step <= 0) {
        PyErr_SetString(PyExc_ValueError, "marker_step must be positive");
        return -1;
    }
    d->marker_base = base;
    d->marker_step = step;
    d->marker_span = span;
    d->peak_state.valid = d->clock_state.valid = 1;     /* before any event: all zero */
    d->clock_thr = Py_HUGE_VAL;
    d->calls_thr = d->bytes_thr = LLONG_MAX;
    return 0;
}

static void free_past(past *s)
{
    PyMem_Free(s->log.p);
    PyMem_Free(s->snap.p);
}

static void Decoder_dealloc(Decoder *d)
{
    vec *all[] = {&d->sizes, &d->trace, &d->counts, &d->calls, &d->hits, &d->code,
                  &d->trace_ip, &d->trace_parent};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        PyMem_Free(all[i]->p);
    free_past(&d->peak_state);
    free_past(&d->clock_state);
    PyMem_Free(d->wanted);
    Py_TYPE(d)->tp_free((PyObject *)d);
}

static PyObject *get_n_infos(Decoder *d, void *Py_UNUSED(c)) { return PyLong_FromSsize_t(d->sizes.n); }
static PyObject *get_n_traces(Decoder *d, void *Py_UNUSED(c)) { return PyLong_FromSsize_t(d->trace_ip.n); }

static PyGetSetDef Decoder_getset[] = {
    {"n_infos", (getter)get_n_infos, NULL, "allocation infos defined so far", NULL},
    {"n_traces", (getter)get_n_traces, NULL, "trace nodes defined so far", NULL},
    {NULL},
};

#define M(name, type, doc) {#name, type, offsetof(Decoder, name), 0, doc}
static PyMemberDef Decoder_members[] = {
    M(total_calls, T_LONGLONG, "`+` events (since `A`)"),
    M(total_temp, T_LONGLONG, "temporary allocations (since `A`)"),
    M(leaked, T_LONGLONG, "live bytes now (since `A`)"),
    M(peak, T_LONGLONG, "highest live bytes, first reached"),
    M(peak_ms, T_LONGLONG, "clock stamp before the peak"),
    M(allocated, T_LONGLONG, "bytes the `+` events asked for (since `A`)"),
    M(last_ptr, T_LONGLONG, "info of the previous event if it was a `+`, else 0"),
    M(peak_rss, T_LONGLONG, "largest `R` value (pages)"),
    M(last_ms, T_LONGLONG, "latest `c` stamp (ms)"),
    M(events_seen, T_LONGLONG, "+/- events read"),
    M(plus_seen, T_LONGLONG, "`+` events read (never reset)"),
    M(bytes_seen, T_LONGLONG, "bytes those asked for (never reset)"),
    M(lines, T_LONGLONG, "lines read"),
    M(n_ips, T_LONGLONG, "instruction pointers defined (kept by the caller)"),
    M(clock_on, T_INT, "keep the state before the latest `c`; stop at stamps past clock_thr"),
    M(clock_thr, T_DOUBLE, "CLOCK stop at a stamp above this"),
    M(work_on, T_INT, "WORK stops on"),
    M(calls_thr, T_LONGLONG, "WORK stop at a `+` taking plus_seen above this"),
    M(bytes_thr, T_LONGLONG, "WORK stop at a `+` taking bytes_seen above this"),
    {NULL},
};

static PyMethodDef Decoder_methods[] = {
    {"feed", (PyCFunction)Decoder_feed, METH_VARARGS,
     "feed(lines, pos, resume, end=len(lines)) -> (stop, pos, value): read the complete lines of "
     "lines[pos:end] up to a stop"},
    {"array", (PyCFunction)Decoder_array, METH_VARARGS, "array(name, start=0) -> int64 bytes"},
    {"column_bytes", (PyCFunction)Decoder_column_bytes, METH_VARARGS,
     "column_bytes(state, columns, n_columns) -> int64 bytes: live bytes per column"},
    {"stacks", (PyCFunction)Decoder_stacks, METH_VARARGS,
     "stacks(sites, ip_frames) -> list of tuples: each site trace's frames, innermost first"},
    {"info", (PyCFunction)Decoder_info, METH_O, "info(i) -> (size, trace, marker code or -1)"},
    {"add_trace", (PyCFunction)Decoder_add_trace, METH_VARARGS, "a `t` record read by the caller"},
    {"add_info", (PyCFunction)Decoder_add_info, METH_VARARGS, "an `a` record read by the caller"},
    {"attach", (PyCFunction)Decoder_attach, METH_NOARGS, "an `A` record: totals start again"},
    {"set_wanted", (PyCFunction)Decoder_set_wanted, METH_O, "bytes: 1 per marker code to stop at"},
    {NULL},
};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "profiler.parsers._htdecode.Decoder",
    .tp_doc = "The event and trace records of one heaptrack capture, read line by line.",
    .tp_basicsize = sizeof(Decoder),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Decoder_init,
    .tp_dealloc = (destructor)Decoder_dealloc,
    .tp_methods = Decoder_methods,
    .tp_members = Decoder_members,
    .tp_getset = Decoder_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_htdecode", "heaptrack's text records, read line by line in C.", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__htdecode(void)
{
    memset(HEX, 255, sizeof HEX);
    for (int i = 0; i < 10; i++)
        HEX['0' + i] = (unsigned char)i;
    for (int i = 0; i < 6; i++)
        HEX['a' + i] = (unsigned char)(10 + i);
    if (PyType_Ready(&DecoderType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&DecoderType);
    if (PyModule_AddObject(m, "Decoder", (PyObject *)&DecoderType) < 0) {
        Py_DECREF(&DecoderType);
        Py_DECREF(m);
        return NULL;
    }
    static const char *codes[] = {"DONE", "SLOW", "MARKER", "WORK", "CLOCK", "SKIP",
                                  "BAD_EVENT", "BAD_NUMBER", "UNDEFINED", "RANGE"};
    static const int values[] = {DONE, SLOW, MARKER, WORK, CLOCK, SKIP, BAD_EVENT, BAD_NUMBER, UNDEFINED,
                                 RANGE};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        if (PyModule_AddIntConstant(m, codes[i], values[i]) < 0)
            return NULL;
    return m;
}
