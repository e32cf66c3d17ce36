#!/usr/bin/env python3
"""Write the known-answer memory series under tests/data/series/ (deterministic: fixed seeds).

Each series is built so its answer is known by construction: the shape (warmup,
plateau, leak, sawtooth) is planted, and block means are planted exactly where a
test asserts them. Usage: scripts/make_series_fixtures.py [OUT_DIR]
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

MB = 1 << 20
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "tests/data/series"


def to_bytes(mb) -> list[int]:
    return [int(round(v * MB)) for v in mb]


def write_csv(name: str, rows: list[dict]) -> None:
    with open(OUT / name, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def write_jsonl(path: Path, rows: list[dict], tail: str = "") -> None:
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
        f.write(tail)


def plateau_noise() -> None:
    """60 iterations, flat at 2000 MB with N(0, 15 MB) noise, two models alternating: plateau."""
    rng = np.random.default_rng(101)
    y = 2000 + rng.normal(0, 15, 60)
    write_csv("plateau_noise.csv", [
        {"iteration": i + 1, "model": "0.6b" if i % 2 == 0 else "1.7b", "rss": b}
        for i, b in enumerate(to_bytes(y))])


def slow_leak() -> None:
    """100 iterations: 1500 MB + 0.5 MB/iter under uniform +-20 MB noise: leak."""
    rng = np.random.default_rng(202)
    i = np.arange(100)
    y = 1500 + 0.5 * i + rng.uniform(-20, 20, 100)
    write_csv("slow_leak.csv", [{"iteration": k + 1, "rss": b} for k, b in enumerate(to_bytes(y))])


def sawtooth() -> None:
    """5 warmup iterations 300 -> 1000 MB, then a pool that grows 15 MB per iteration and is
    trimmed back every 12 iterations (N(0, 3 MB) noise), 125 iterations in all: plateau (sawtooth)."""
    rng = np.random.default_rng(303)
    warm = [300, 480, 650, 820, 960]
    k = np.arange(120)
    y = np.concatenate([warm, 1000 + 15 * (k % 12) + rng.normal(0, 3, 120)])
    write_csv("sawtooth.csv", [{"iteration": i + 1, "rss": b} for i, b in enumerate(to_bytes(y))])


def sawtooth_leak() -> None:
    """sawtooth.csv's shape with a leak under it: 5 warmup iterations, then a pool that grows
    15 MB per iteration and is trimmed every 12 iterations, on top of +1 MB/iter that no trim
    gives back (N(0, 3 MB) noise), 125 iterations: the troughs climb 12 MB per tooth: leak."""
    rng = np.random.default_rng(808)
    warm = [300, 480, 650, 820, 960]
    k = np.arange(120)
    y = np.concatenate([warm, 1000 + 15 * (k % 12) + 1.0 * k + rng.normal(0, 3, 120)])
    write_csv("sawtooth_leak.csv", [{"iteration": i + 1, "rss": b} for i, b in enumerate(to_bytes(y))])


def plateau_then_growth() -> None:
    """80 iterations: flat at 800 MB (N(0, 4)) for 45, then +3 MB/iter: plateau then growth at 46."""
    rng = np.random.default_rng(404)
    i = np.arange(80)
    y = 800 + 3.0 * np.maximum(0, i - 45) + rng.normal(0, 4, 80)
    write_csv("plateau_then_growth.csv", [{"iteration": k + 1, "rss": b} for k, b in enumerate(to_bytes(y))])


def settling() -> None:
    """8 warmup iterations 500 -> 1850 MB, then the pool fill-up curve 2000 - 150 exp(-k/4)
    with N(0, 5 MB) noise for 52 iterations: warmup, settling, plateau."""
    rng = np.random.default_rng(707)
    k = np.arange(52)
    y = np.concatenate([np.linspace(500, 1850, 8), 2000 - 150 * np.exp(-k / 4) + rng.normal(0, 5, 52)])
    write_csv("settling.csv", [{"iteration": i + 1, "rss": b} for i, b in enumerate(to_bytes(y))])


def short() -> None:
    """5 iterations: too few to say anything: inconclusive."""
    y = [500, 512, 509, 515, 511]
    write_csv("short.csv", [{"iteration": i + 1, "rss": b} for i, b in enumerate(to_bytes(y))])


SEED_WARMUP = [738, 1500, 2200, 2798, 3200, 3500, 3700, 3850, 4095, 4219]   # mean 2980, the seed's block 1
SEED_BLOCK_MEANS = [3862, 3905, 3931, 3894]                                   # blocks 2..5, planted exactly


def seed_like_records() -> list[dict]:
    """The seed's experiment in shape: 50 switch iterations alternating a 0.6B and a 1.7B model,
    warmup 738 -> 4219 MB in 10 iterations, then ~3900 MB with 97 MB noise; every field of the
    iteration record, so per-model and decomposition figures have something to chew on."""
    rng = np.random.default_rng(505)
    rss = list(SEED_WARMUP)
    for target in SEED_BLOCK_MEANS:
        noise = rng.normal(0, 97, 10)
        rss.extend(target + noise - noise.mean())
    rss = np.array(rss)
    recs = []
    t = 0.0
    for i in range(50):
        model = "0.6b" if i % 2 == 0 else "1.7b"
        big = model == "1.7b"
        file_mb = 45 + (i % 3)                              # libraries; weights are unmapped after unload
        heap_in_use = min(300 + 40 * i, 700) + (20 if big else 0)
        other = 120 + 2 * min(i, 10)
        free_retained = max(rss[i] - file_mb - heap_in_use - other, 0)
        load_s = (1.9 if big else 0.8) + 0.01 * (i % 5)
        ttft_s = (16.2 if big else 8.4) + 0.1 * ((i % 7) - 3) / 3
        gen_s = (4.0 if big else 2.0) + 0.01 * (i % 4)
        n_tokens = 32
        rec = {
            "iteration": i + 1, "model": model, "model_path": f"/models/qwen3-{model}.gguf",
            "strategy": "reload", "t_start": round(t, 3), "t_end": round(t + load_s + ttft_s + gen_s, 3),
            "wall_start": 1764180000.0 + t, "wall_end": 1764180000.0 + t + load_s + ttft_s + gen_s,
            "load_s": round(load_s, 3), "ttft_s": round(ttft_s, 3), "gen_s": round(gen_s, 3),
            "unload_s": 0.05, "n_tokens": n_tokens, "tokens_per_s": round(n_tokens / gen_s, 3),
            "output_digest": "d1" if not big else ("d2" if i % 10 else "d3"),
            "token_error_rate": 0.0 if not big else (0.5 if i % 10 == 1 else 0.0),
            "rss": int(round(rss[i] * MB)),
            "uss": int(round((rss[i] - 10) * MB)), "pss": int(round((rss[i] - 5) * MB)),
            "rss_anon": int(round((rss[i] - file_mb) * MB)), "rss_file": int(round(file_mb * MB)),
            "swap": 0, "heap_in_use": int(round(heap_in_use * MB)),
            "heap_free_retained": int(round(free_retained * MB)), "heap_mmap": 0,
            "threads": 3, "gc_collections": 1, "gc_collected": 10, "status": "ok",
        }
        t += load_s + ttft_s + gen_s + 0.1
        recs.append(rec)
    return recs


def seed_like() -> None:
    recs = seed_like_records()
    write_jsonl(OUT / "seed_like.jsonl", recs)
    # the same run as a run directory whose process was killed while writing iteration 13
    run = OUT / "killed_run"
    run.mkdir(exist_ok=True)
    torn = json.dumps(recs[12])[:57]
    write_jsonl(run / "iterations.jsonl", recs[:12], tail=torn)
    (run / "meta.json").write_text(json.dumps({
        "argv": ["memprof", "run", "--iterations", "50"], "exit_status": -9,
        "versions": {"memprof": "0.1.0"}, "machine": {"cpu": "x86-64", "cores": 2}}, indent=2) + "\n")


def bad_inputs() -> None:
    recs = seed_like_records()[:5]
    lines = [json.dumps(r) for r in recs]
    lines[2] = lines[2][:40]                                  # a torn line in the middle: line 3
    (OUT / "truncated.jsonl").write_text("\n".join(lines) + "\n")
    (OUT / "empty.csv").write_text("")
    (OUT / "header_only.csv").write_text("iteration,rss\n")
    (OUT / "missing_rss.csv").write_text("iteration,model,uss\n1,a,100\n2,b,200\n")
    (OUT / "nonnumeric.csv").write_text("iteration,rss\n1,1000\n2,lots\n3,1200\n")
    rng = np.random.default_rng(606)
    (OUT / "binary.zst").write_bytes(b"\x28\xb5\x2f\xfd" + rng.integers(0, 256, 200, dtype=np.uint8).tobytes())


def step_then_flat() -> None:
    """60 iterations: 1000 MB + N(0, 2) for 20, one +40 MB step at iteration 21 (a pool expanding),
    then flat for 40: plateau, the step reported as a level shift."""
    rng = np.random.default_rng(909)
    y = np.concatenate([np.full(20, 1000.0), np.full(40, 1040.0)]) + rng.normal(0, 2, 60)
    write_csv("step_then_flat.csv", [{"iteration": i + 1, "rss": b} for i, b in enumerate(to_bytes(y))])


def staircase() -> None:
    """80 iterations: 1000 MB + N(0, 1), +10 MB every 10 iterations (a staircase that never stops): leak."""
    rng = np.random.default_rng(910)
    k = np.arange(80)
    y = 1000 + 10.0 * (k // 10) + rng.normal(0, 1, 80)
    write_csv("staircase.csv", [{"iteration": i + 1, "rss": b} for i, b in enumerate(to_bytes(y))])


def slowing_growth() -> None:
    """50 iterations of a pool filling up slowly: 300 + 12 (1 - exp(-k/40)) MB + N(0, 0.1): early
    +0.3 MB/iter, +0.09 at the end; it levels off at 312 MB near iteration 200: slowing, not a leak."""
    rng = np.random.default_rng(911)
    k = np.arange(50)
    y = 300 + 12 * (1 - np.exp(-k / 40)) + rng.normal(0, 0.1, 50)
    write_csv("slowing_growth.csv", [{"iteration": i + 1, "rss": b} for i, b in enumerate(to_bytes(y))])


def _gc_sawtooth(n: int, period: int, floor_step_mb: float, seed: int) -> list[dict]:
    """The default loop's shape: heap in use grows 1.74 MB per iteration (token data awaiting the
    cyclic collector) and a full collection every `period` iterations brings it back to its floor,
    which rises `floor_step_mb` per collection; RSS = file pages + heap + allocator retention, whose
    first tooth starts cold (9.5 MB less retained) and whose later troughs wobble by +-0.3 MB."""
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(n):
        tooth, age = divmod(i, period)
        heap = 10.8 + floor_step_mb * tooth + 1.74 * age
        retained = (30.0 if tooth == 0 else 39.5) + rng.uniform(-0.3, 0.3) + (3.0 if age >= 8 else 0.0)
        file_mb = 28.6
        other = 14.0
        gc_ran = i > 0 and age == 0
        recs.append({
            "iteration": i + 1, "model": "0.6b" if i % 2 == 0 else "1.7b",
            "rss": int(round((file_mb + heap + retained + other) * MB)),
            "rss_anon": int(round((heap + retained + other) * MB)), "rss_file": int(round(file_mb * MB)),
            "heap_in_use": int(round(heap * MB)), "heap_free_retained": int(round(retained * MB)),
            "gc_collections": 1 if gc_ran or i == 0 else 0, "gc_full_collections": 1 if gc_ran else 0,
            "gc_collected": 76 if gc_ran else 0, "status": "ok"})
    return recs


def sawtooth_cold_first_tooth() -> None:
    """120 iterations, a full collection every 30: the same heap floor (10.8 MB) after every one,
    RSS troughs 83 MB in the cold first tooth and ~92 MB after: plateau (on the heap floor)."""
    write_jsonl(OUT / "sawtooth_cold_first_tooth.jsonl", _gc_sawtooth(120, 30, 0.0, 912))


def sawtooth_floor_rises() -> None:
    """The same sawtooth, but every collection leaves 4 MB more heap in use behind: leak (heap floor)."""
    write_jsonl(OUT / "sawtooth_floor_rises.jsonl", _gc_sawtooth(120, 30, 4.0, 913))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for make in (plateau_noise, slow_leak, sawtooth, sawtooth_leak, plateau_then_growth, settling, short, seed_like,
                 bad_inputs, step_then_flat, staircase, slowing_growth, sawtooth_cold_first_tooth,
                 sawtooth_floor_rises):
        make()


if __name__ == "__main__":
    main()
