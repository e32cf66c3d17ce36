"""Split RSS into what the allocator holds for the program, what it keeps after free(),
the other anonymous memory and file-backed pages, iteration by iteration.

Why: "RSS grew" alone cannot tell a leak (heap in use grows) from glibc keeping
freed arenas (heap_free_retained grows, and malloc_trim would return it) from
mmap'd buffers or stacks outside malloc (other anonymous) from mapped files.

    file_mb               = rss_file                     (mapped model files, libraries)
    heap_in_use_mb        = heap_in_use                  (mallinfo2 uordblks + hblkhd)
    heap_free_retained_mb = heap_free_retained           (mallinfo2 fordblks)
    other_anon_mb         = rss_anon - heap_in_use - heap_free_retained, floored at 0

mallinfo2 counts arena bytes whether or not they are resident, so the heap
parts can exceed rss_anon; the floor keeps `other` from going negative, and
the growth table reports what the parts leave unexplained.

Growth is measured from the end of warmup to the end as the difference of
window means (the first 5 stable iterations vs the last 5), so one noisy
iteration cannot decide which part grew.
"""
from __future__ import annotations

import numpy as np

from profiler.results.series import DecompositionGrowth, DecompositionRow, Span
from profiler.stats import MB, rnd

NEEDED = ("rss_anon", "rss_file", "heap_in_use", "heap_free_retained")
PARTS = [
    ("heap_free_retained_mb", "allocator retention (free but kept by glibc)"),
    ("heap_in_use_mb", "heap in use (allocated, not freed)"),
    ("other_anon_mb", "other anonymous memory (mmap'd buffers, thread stacks)"),
    ("file_mb", "file-backed pages (mapped models, libraries)"),
]
UNEXPLAINED = "memory outside these parts (heap arena pages becoming resident, shared memory)"
WINDOW = 5


def available(df) -> bool:
    return all(c in df.columns and df[c].notna().any() for c in NEEDED)


def rows(df) -> list[DecompositionRow]:
    d = df.dropna(subset=list(NEEDED))
    rss = d["rss"].to_numpy(dtype=float) / MB
    anon = d["rss_anon"].to_numpy(dtype=float) / MB
    file_ = d["rss_file"].to_numpy(dtype=float) / MB
    used = d["heap_in_use"].to_numpy(dtype=float) / MB
    free = d["heap_free_retained"].to_numpy(dtype=float) / MB
    other = np.maximum(anon - used - free, 0.0)
    return [DecompositionRow(iteration=int(i), rss_mb=rnd(r), file_mb=rnd(f), heap_in_use_mb=rnd(u),
                             heap_free_retained_mb=rnd(fr), other_anon_mb=rnd(o))
            for i, r, f, u, fr, o in zip(d["iteration"], rss, file_, used, free, other)]


def growth(decomp: list[DecompositionRow], start_iteration: int, until_iteration: int | None = None,
           label: str = "after warmup") -> DecompositionGrowth | None:
    """How much of the RSS change after warmup (or inside one tooth of a sawtooth, up to
    `until_iteration`) sits in each part, and the sentence naming the largest."""
    after = [r for r in decomp if r.iteration >= start_iteration
             and (until_iteration is None or r.iteration <= until_iteration)]
    if len(after) < 2:
        return None
    w = max(1, min(WINDOW, len(after) // 2))
    head, tail = after[:w], after[-w:]

    def mean(rs, k):
        return float(np.mean([getattr(r, k) for r in rs]))

    keys = ["rss_mb"] + [k for k, _ in PARTS]
    delta = {k: mean(tail, k) - mean(head, k) for k in keys}
    explained = sum(delta[k] for k, _ in PARTS)
    out = {
        "from_": Span(head[0].iteration, head[-1].iteration),
        "to": Span(tail[0].iteration, tail[-1].iteration),
        **{k: rnd(v) for k, v in delta.items()},
        "unexplained_mb": rnd(delta["rss_mb"] - explained),
    }
    d = delta["rss_mb"]
    delta["unexplained_mb"] = d - explained
    labels = dict(PARTS + [("unexplained_mb", UNEXPLAINED)])
    ranked = sorted(labels, key=lambda k: abs(delta[k]), reverse=True)
    # the largest part is the one that moved most in the direction RSS moved
    direction = 1.0 if d >= 0 else -1.0
    same_way = [k for k in ranked if direction * delta[k] > 0]
    largest = same_way[0] if same_way else ranked[0]
    out["largest"] = largest
    verb = "grew" if d >= 0 else "fell"
    shown = [k for k in ranked if k != "unexplained_mb" or abs(delta[k]) >= 0.05 * max(abs(d), 1e-9)]
    parts = ", ".join(f"{_mb(delta[k], signed=True)} MB {labels[k]}" for k in shown)
    out["sentence"] = (f"RSS {verb} {_mb(abs(d))} MB {label} (mean of iterations "
                       f"{head[0].iteration}-{head[-1].iteration} vs {tail[0].iteration}-{tail[-1].iteration}): "
                       f"{parts}; the largest part is {labels[largest]}.")
    return DecompositionGrowth(**out)


def _mb(x: float, signed: bool = False) -> str:
    """Enough decimals to tell the parts of a small process apart (0.28 MB is not "0 MB")."""
    nd = 0 if abs(x) >= 10 else 1 if abs(x) >= 1 else 2
    return f"{x:+.{nd}f}" if signed else f"{x:.{nd}f}"
