#!/usr/bin/env bash
# Regenerate the real captures under tests/data/ by running the real tools.
# Usage: scripts/make_fixtures.sh [format ...]   (no argument: every section)
# Each section defines <format>_fixtures and runs it when `want <format>` says so,
# so sections can be appended independently.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/tests/data"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
WANTED=("$@")
want() {
    [ ${#WANTED[@]} -eq 0 ] && return 0
    local w
    for w in "${WANTED[@]}"; do [ "$w" = "$1" ] && return 0; done
    return 1
}

# --- memcheck (Valgrind 3.19 XML, protocol 4) --------------------------------
# Valgrind 3.19 prints no LEAK SUMMARY in the text log when --xml=yes is on, so
# each fixture is run twice with identical arguments: once writing XML, once
# writing the text log whose LEAK SUMMARY / ERROR SUMMARY are the oracle.
# The programs are deterministic, so both runs find the same loss records.
# Built with -O0: at -O1 gcc deletes init_once's malloc (its pointer goes to a
# static that is never read), and the fixture must show every planted site.
memcheck_fixtures() {
    local out="$DATA/memcheck" tmp
    tmp="$(mktemp -d)"
    mkdir -p "$out"
    gcc -O0 -g -fno-omit-frame-pointer -o "$tmp/planted" "$ROOT/tests/workloads/planted.c"
    gcc -O0 -g -fno-omit-frame-pointer -o "$tmp/errors" "$out/errors.c"
    # no symbols at all: frames carry only <ip> and <obj>
    gcc -O0 -fno-omit-frame-pointer -o "$tmp/stripped" "$ROOT/tests/workloads/planted.c"
    strip "$tmp/stripped"
    local common=(--tool=memcheck --leak-check=full --track-origins=no)
    (
        cd "$tmp"
        # planted, 5 iterations, every leak kind shown
        valgrind "${common[@]}" --show-leak-kinds=all --xml=yes --xml-file=planted_all.xml ./planted 5
        valgrind "${common[@]}" --show-leak-kinds=all --log-file=planted_all.log ./planted 5
        # planted, default --show-leak-kinds (definite,possible): reachable records hidden
        valgrind "${common[@]}" --xml=yes --xml-file=planted_default.xml ./planted 5
        valgrind "${common[@]}" --log-file=planted_default.log ./planted 5
        # every error and leak kind, suppressions generated and one leak suppressed
        valgrind "${common[@]}" --show-leak-kinds=all --gen-suppressions=all \
            --suppressions="$out/errors.supp" --xml=yes --xml-file=errors.xml ./errors
        valgrind "${common[@]}" --show-leak-kinds=all \
            --suppressions="$out/errors.supp" --log-file=errors.log ./errors
        # the same errors with the default --show-leak-kinds: indirect records hidden, the split remains
        valgrind "${common[@]}" --suppressions="$out/errors.supp" --xml=yes --xml-file=errors_default.xml ./errors
        valgrind "${common[@]}" --suppressions="$out/errors.supp" --log-file=errors_default.log ./errors
        valgrind "${common[@]}" --show-leak-kinds=all --xml=yes --xml-file=stripped.xml ./stripped 2
        valgrind "${common[@]}" --show-leak-kinds=all --log-file=stripped.log ./stripped 2
    )
    cp "$tmp"/planted_all.xml "$tmp"/planted_all.log "$tmp"/planted_default.xml \
       "$tmp"/planted_default.log "$tmp"/errors.xml "$tmp"/errors.log "$tmp"/errors_default.xml "$tmp"/errors_default.log "$tmp"/stripped.xml "$tmp"/stripped.log "$out/"
    # errors_v6.xml is hand-derived (see tests/data/memcheck/README.md): not regenerated here.
    python3 "$ROOT/scripts/derive_memcheck_v6.py"
    rm -rf "$tmp"
}
if want memcheck; then memcheck_fixtures; fi

# --- memcheck_split: one allocation stack, two loss records (definite + possible) ---------
# split_kinds.c at n=5 (all definitely lost) and n=10 (the block of iteration 7 keeps an
# interior pointer: 9 definitely lost, 1 possibly lost), each with its twin text log; _kept: the
# other blocks kept in an array (n=5: 5 still reachable; n=10: 9 still reachable, 1 possibly lost).
memcheck_split_fixtures() {
    local out="$DATA/memcheck" tmp n
    tmp="$(mktemp -d)"
    gcc -O0 -g -fno-omit-frame-pointer -o "$tmp/split_kinds" "$out/split_kinds.c"
    for n in 5 10; do
        (cd "$tmp" && valgrind --tool=memcheck --leak-check=full --show-leak-kinds=all --xml=yes \
            --xml-file="split$n.xml" ./split_kinds "$n" &&
         valgrind --tool=memcheck --leak-check=full --show-leak-kinds=all --log-file="split$n.log" \
            ./split_kinds "$n" &&
         valgrind --tool=memcheck --leak-check=full --show-leak-kinds=all --xml=yes \
            --xml-file="split${n}_kept.xml" ./split_kinds "$n" keep &&
         valgrind --tool=memcheck --leak-check=full --show-leak-kinds=all --log-file="split${n}_kept.log" \
            ./split_kinds "$n" keep)
        cp "$tmp/split$n.xml" "$tmp/split$n.log" "$tmp/split${n}_kept.xml" "$tmp/split${n}_kept.log" "$out/"
    done
    rm -rf "$tmp"
}
if want memcheck_split; then memcheck_split_fixtures; fi

# --- valgrind logs (the preflight's "unhandled instruction" detection) ----------
# avx512_memcheck.log: Valgrind 3.19 memcheck, run as memprof runs it (XML plus a text
# log), on a program with one AVX-512 instruction: the decoder's message and SIGILL.
# clean_massif.log: the same kind of log from a run that went fine (planted, 2 iterations).
valgrind_fixtures() {
    local out="$DATA/valgrind" tmp
    tmp="$(mktemp -d)"
    mkdir -p "$out"
    gcc -O0 -o "$tmp/avx512" "$out/avx512.c"
    gcc -O0 -g -o "$tmp/planted" "$ROOT/tests/workloads/planted.c"
    (
        cd "$tmp"
        valgrind --tool=memcheck --leak-check=full --xml=yes --xml-file=avx512.xml \
            --log-file=avx512_memcheck.log ./avx512 || true   # exits 132 (SIGILL) by design
        valgrind --tool=massif --massif-out-file=massif.out --log-file=clean_massif.log ./planted 2
    )
    cp "$tmp/avx512_memcheck.log" "$tmp/clean_massif.log" "$out/"
    rm -rf "$tmp"
}
if want valgrind; then valgrind_fixtures; fi

# --- heaptrack (heaptrack 1.4, file format 3) ---------------------------------------
# planted, 12 iterations, iteration markers beside the capture. Built -O0 (gcc -O1 deletes
# init_once's and scratch_work's malloc/free). Oracles written next to it:
#   .print.txt      heaptrack_print -f (totals at the end)
#   .leaks.txt      heaptrack_print -l 1 (leak list)
#   .flame_<cost>   heaptrack_print -F with --flamegraph-cost-type peak|leaked|allocations|temporary:
#                   one line per allocation trace with the exact figure (sum of peak = peak heap)
# planted.gz is the same text recompressed with gzip, for the gzip path.
# planted.zst predates the in-band iteration markers (MEMPROF_MARKERS=0: cut by time);
# marked.zst is planted 12 with them (a malloc+free of 12035 + 8*(i % 2048) bytes after each
# record, profiler/parsers/_stacks.py), cut exactly at the markers; marked.print.txt its oracle.
heaptrack_fixtures() {
    local out="$DATA/heaptrack" tmp
    tmp="$(mktemp -d)"
    mkdir -p "$out"
    gcc -O0 -g -fno-omit-frame-pointer -o "$tmp/planted" "$ROOT/tests/workloads/planted.c"
    (
        cd "$tmp"
        MEMPROF_MARKERS=0 MEMPROF_ITERATIONS="$tmp/planted.iterations.jsonl" heaptrack -o "$tmp/planted" ./planted 12
        MEMPROF_ITERATIONS="$tmp/marked.iterations.jsonl" heaptrack -o "$tmp/marked" ./planted 12
        heaptrack_print -f marked.zst > marked.print.txt
        "$PY" -c 'import sys, zstandard; sys.stdout.buffer.write(zstandard.ZstdDecompressor().stream_reader(open(sys.argv[1], "rb")).read())' planted.zst | gzip -9n > planted.gz
        heaptrack_print -f planted.zst > planted.print.txt
        heaptrack_print -f planted.zst -l 1 -a 0 -p 0 -T 0 > planted.leaks.txt
        for cost in peak leaked allocations temporary; do
            heaptrack_print -f planted.zst -F "planted.flame_$cost.txt" --flamegraph-cost-type "$cost" \
                -a 0 -p 0 -T 0 > /dev/null
        done
        heaptrack_print -f planted.zst -M planted.heaptrack_M.massif > /dev/null
        # leak suppressions: built-in (tzset) and embedded (S record), see suppressed.c
        gcc -O0 -g -rdynamic -o suppressed "$out/suppressed.c"
        heaptrack -o "$tmp/suppressed" ./suppressed
        heaptrack_print -f suppressed.zst > suppressed.print.txt 2>&1
    )
    cp "$tmp"/suppressed.zst "$tmp"/suppressed.print.txt "$out/"
    cp "$tmp"/marked.zst "$tmp"/marked.iterations.jsonl "$tmp"/marked.print.txt "$out/"
    cp "$tmp"/planted.zst "$tmp"/planted.gz "$tmp"/planted.iterations.jsonl "$tmp"/planted.print.txt \
       "$tmp"/planted.leaks.txt "$tmp"/planted.flame_*.txt "$out/"
    # heaptrack_print -M output is a massif-format file: it belongs to the massif fixtures
    mkdir -p "$DATA/massif"
    cp "$tmp/planted.heaptrack_M.massif" "$DATA/massif/heaptrack_M.massif"
    # ms_print refuses it (the header is at the end): keep its complaint as the record
    ms_print "$DATA/massif/heaptrack_M.massif" > "$DATA/massif/heaptrack_M.massif.ms_print.txt" 2>&1 || true
    rm -rf "$tmp"
}
if want heaptrack; then heaptrack_fixtures; fi

# --- massif (Valgrind 3.19) ---------------------------------------------------------
# planted.massif.out     planted 12 iterations, --time-unit=ms --detailed-freq=1, markers beside it
# pages.massif.out       planted 3 iterations with --pages-as-heap=yes (root label differs)
# templated.massif.out   C++ names with spaces, commas, brackets, namespaces (templated.cpp), time unit i
# bytes.massif.out       templated again with --time-unit=B
# stripped.massif.out    a stripped non-PIE program: frames are `??? (in ...)`; its unstripped twin
#                        is rebuilt by the tests (same addresses) to resolve them with profiler.symbols
# Every capture has its ms_print output beside it (<name>.ms_print.txt).
# marked.massif.out      planted 12 with the in-band iteration markers (planted.massif.out and
#                        pages.massif.out predate them: MEMPROF_MARKERS=0), markers beside it.
# planted.massif.out's 100 ms iterations are cut at their boundaries by time alone, and Valgrind's
# clock lag behind process start varied 50-175 ms here: on a busy machine a fresh capture can land
# one iteration off; rerun tests/unit/test_parse_massif.py and regenerate if its timeline test fails.
# marked.massif.out is cut at the markers massif caught and at the clock lag they measure (exact
# on every fresh capture tried); its test also checks that the typical lag alone would NOT have
# cut it right (the capture kept was one of those), so regenerate until that holds too.
massif_fixtures() {
    local out="$DATA/massif" tmp
    tmp="$(mktemp -d)"
    mkdir -p "$out"
    gcc -O0 -g -fno-omit-frame-pointer -o "$tmp/planted" "$ROOT/tests/workloads/planted.c"
    g++ -O1 -g -o "$tmp/templated" "$out/templated.cpp"
    gcc -O0 -g -no-pie -fno-pie -o "$tmp/stripped" "$out/stripped.c"
    strip "$tmp/stripped"
    (
        cd "$tmp"
        MEMPROF_MARKERS=0 MEMPROF_ITERATIONS="$tmp/planted.massif.iterations.jsonl" valgrind --tool=massif \
            --time-unit=ms --detailed-freq=1 --massif-out-file=planted.massif.out ./planted 12
        MEMPROF_ITERATIONS="$tmp/marked.massif.iterations.jsonl" valgrind --tool=massif --time-unit=ms \
            --detailed-freq=1 --massif-out-file=marked.massif.out ./planted 12
        MEMPROF_MARKERS=0 valgrind --tool=massif --pages-as-heap=yes --time-unit=ms --threshold=5.0 \
            --massif-out-file=pages.massif.out ./planted 3
        valgrind --tool=massif --massif-out-file=templated.massif.out ./templated
        valgrind --tool=massif --time-unit=B --detailed-freq=2 --massif-out-file=bytes.massif.out ./templated
        valgrind --tool=massif --detailed-freq=1 --massif-out-file=stripped.massif.out ./stripped
    )
    local f
    for f in planted marked pages templated bytes stripped; do
        cp "$tmp/$f.massif.out" "$out/"
        ms_print "$out/$f.massif.out" > "$out/$f.massif.out.ms_print.txt"
    done
    cp "$tmp/planted.massif.iterations.jsonl" "$tmp/marked.massif.iterations.jsonl" "$out/"
    # llama_switch.massif.out: the C switch loop (tests/data/triage/llama_switch.c) against
    # libllama on the tiny twins, 4 iterations, depth 2 / threshold 5% to stay small. Its
    # iterations end by unloading 20+ MB (ggml_backend_sched_new's buffer among them): the
    # boundary is the low point after that release (the fixed 120 ms lag showed it live at all 4)
    local sp m06 m17
    sp="$("$PY" -c 'import llama_cpp, os; print(os.path.dirname(os.path.dirname(llama_cpp.__file__)))')"
    m06="$("$PY" -c 'from profiler.models import ensure_twin; print(ensure_twin("tiny-0.6b", show_progress=False))')"
    m17="$("$PY" -c 'from profiler.models import ensure_twin; print(ensure_twin("tiny-1.7b", show_progress=False))')"
    gcc -O1 -g -I"$sp/include" -o "$tmp/llama_switch" "$DATA/triage/llama_switch.c" -L"$sp/llama_cpp/lib" \
        -lllama -lggml -lggml-base -Wl,-rpath,"$sp/llama_cpp/lib"
    (
        cd "$tmp"
        MEMPROF_ITERATIONS="$tmp/llama_switch.massif.iterations.jsonl" valgrind --tool=massif --time-unit=ms \
            --detailed-freq=1 --depth=2 --threshold=5.0 --massif-out-file=llama_switch.massif.out \
            ./llama_switch 4 "$m06" "$m17"
    )
    cp "$tmp/llama_switch.massif.out" "$tmp/llama_switch.massif.iterations.jsonl" "$out/"
    ms_print "$out/llama_switch.massif.out" > "$out/llama_switch.massif.out.ms_print.txt"
    rm -rf "$tmp"
}
if want massif; then massif_fixtures; fi

# --- memray (memray 1.20 .bin + `memray stats --json` oracle) ----------------
# Scripts are run by relative path from a fixed directory so the Python frames
# (co_filename) in the captures do not depend on where the clone lives.
# planted_native.bin's native frames resolve only while the .so it was recorded
# with exists (memray symbolises at read time): the unit tests assert its totals
# and its Python-level frames only; the integration test re-records it.
memray_fixtures() {
    local out="$DATA/memray" tmp n=5
    tmp="$(mktemp -d)"
    mkdir -p "$out"
    gcc -O0 -g -fno-omit-frame-pointer -shared -fPIC -DPLANTED_LIB \
        -o "$tmp/libplanted.so" "$ROOT/tests/workloads/planted.c"
    # (corrupt_flip.derived.bin is derived by hand, see the README there: kept)
    rm -f "$out"/planted_*.bin "$out"/pyalloc*.bin "$out"/killed.bin "$out"/dlopen_gen.bin "$out"/threads.bin "$out"/*.stats.json \
        "$out"/*.iterations.jsonl
    (
        cd "$ROOT"
        # planted sites, Python stacks only, one Python frame per planted C function; uncompressed
        MEMPROF_MARKERS=0 MEMPROF_ITERATIONS="$out/planted_python.iterations.jsonl" "$PY" -m memray run -q --no-compress \
            -o "$out/planted_python.bin" tests/workloads/planted_driver.py "$tmp/libplanted.so" $n --split
        # the same with native (hybrid) stacks, LZ4-compressed as memray writes by default
        MEMPROF_MARKERS=0 MEMPROF_ITERATIONS="$out/planted_native.iterations.jsonl" "$PY" -m memray run -q --native \
            -o "$out/planted_native.bin" tests/workloads/planted_driver.py "$tmp/libplanted.so" $n --split
    )
    (
        cd "$out"
        "$PY" -m memray run -q -o pyalloc.bin pyalloc.py
        "$PY" -m memray run -q --aggregate -o pyalloc_aggregated.bin pyalloc.py
        # pymalloc's own calls recorded too (PYMALLOC_* allocators, PYMALLOC_FREE a deallocator)
        "$PY" -m memray run -q --trace-python-allocators -o pyalloc_pymalloc.bin pyalloc.py
        # a run killed mid-way (SIGKILL, exit status 137): the header is never finalised
        "$PY" -m memray run -q -o killed.bin killed.py || [ $? -eq 137 ]
        # `memray run` itself killed from outside after 1.5 s (the OOM killer, kill -9): the records
        # written before its last buffer flush stand, the header is never finalised
        "$PY" -m memray run -q --no-compress -o sigkilled.bin sigkilled.py & pid=$!
        sleep 1.5; kill -9 "$pid"; wait "$pid" || true
        # one stack across several native segment generations (a dlopen between its allocations)
        "$PY" -m memray run -q --native -o dlopen_gen.bin dlopen_gen.py
        # the main thread and two workers: memray hides its start-up frames from the main thread only
        "$PY" -m memray run -q -o threads.bin threads.py
        for f in planted_python planted_native pyalloc pyalloc_pymalloc killed sigkilled dlopen_gen threads; do
            "$PY" -m memray stats --json -f -o "$f.stats.json" "$f.bin" >/dev/null
        done
    )
    rm -rf "$tmp"
}
if want memray; then memray_fixtures; fi

# --- triage (heaptrack 1.4: planted with 5 iterations) ------------------------------
# The 5-iteration twin of tests/data/heaptrack/planted.zst (12 iterations): `memprof compare`
# of the two must show the leak sites' growth. Built -O0 like the other planted fixtures.
triage_fixtures() {
    local out="$DATA/triage" tmp
    tmp="$(mktemp -d)"
    mkdir -p "$out"
    gcc -O0 -g -fno-omit-frame-pointer -o "$tmp/planted" "$ROOT/tests/workloads/planted.c"
    (
        cd "$tmp"
        # recorded before the in-band iteration markers existed: keep them out (tests/workloads/planted.c)
        MEMPROF_MARKERS=0 MEMPROF_ITERATIONS="$tmp/planted5.iterations.jsonl" heaptrack -o "$tmp/planted5" ./planted 5
        heaptrack_print -f planted5.zst > planted5.print.txt
    )
    cp "$tmp"/planted5.zst "$tmp"/planted5.iterations.jsonl "$tmp"/planted5.print.txt "$out/"
    # llama_switch: a C model-switch loop against the installed libllama (tiny Qwen3 twins,
    # 6 iterations): real llama.cpp/GGML call stacks in a 43 KB capture, no interpreter noise
    local sp m06 m17
    sp="$("$PY" -c 'import llama_cpp, os; print(os.path.dirname(os.path.dirname(llama_cpp.__file__)))')"
    m06="$("$PY" -c 'from profiler.models import ensure_twin; print(ensure_twin("tiny-0.6b", show_progress=False))')"
    m17="$("$PY" -c 'from profiler.models import ensure_twin; print(ensure_twin("tiny-1.7b", show_progress=False))')"
    gcc -O1 -g -I"$sp/include" -o "$tmp/llama_switch" "$out/llama_switch.c" -L"$sp/llama_cpp/lib" \
        -lllama -lggml -lggml-base -Wl,-rpath,"$sp/llama_cpp/lib"
    (
        cd "$tmp"
        MEMPROF_ITERATIONS="$tmp/llama_switch.iterations.jsonl" heaptrack -o "$tmp/llama_switch" \
            ./llama_switch 6 "$m06" "$m17"
        heaptrack_print -f llama_switch.zst -a 0 -p 0 -T 0 -l 0 > llama_switch.print.txt
    )
    cp "$tmp"/llama_switch.zst "$tmp"/llama_switch.iterations.jsonl "$tmp"/llama_switch.print.txt "$out/"
    rm -rf "$tmp"
}
if want triage; then triage_fixtures; fi

# --- series (known-answer memory series for the analysis) ----------------------
# Synthetic by design: each shape (plateau, slow leak, sawtooth, sawtooth over a leak,
# warmup + settling, plateau then growth, seed-like run, killed run, bad inputs) is planted with fixed
# seeds, so the verdict and the block means are known by construction.
series_fixtures() {
    "$PY" "$ROOT/scripts/make_series_fixtures.py" "$DATA/series"
    # the real tiny-twin run (needs llama-cpp-python; new figures every time): opt-in
    if [ "${MEMPROF_REAL_SERIES:-0}" = 1 ]; then
        local tmp
        tmp="$(mktemp -d)"
        "$ROOT/.venv/bin/memprof" run --quick -n 40 --max-tokens 30 --out "$tmp/run"
        cp "$tmp/run/iterations.jsonl" "$DATA/series/real_tiny_twins_40.jsonl"
        # the default run (full-size twins, reload, 50 iterations, ~15 minutes on 2 cores):
        # a sawtooth whose reclaim is Python's cyclic GC
        "$ROOT/.venv/bin/memprof" run --out "$tmp/demo"
        cp "$tmp/demo/iterations.jsonl" "$DATA/series/demo_twins_reload_50.jsonl"
        rm -rf "$tmp"
    fi
}
if want series; then series_fixtures; fi

# --- thin (heaptrack 1.4: a leak spread over 200 of 2,000 sites) ------------------------
# tests/workloads/thin.c, 40 iterations with its iteration records and markers: 200 sites each
# keep 32 B per iteration (6.4 KB per iteration in all), 900 allocate once, 900 free at once.
# thin.print.txt is heaptrack_print's summary (the oracle for calls, peak and leaked bytes).
thin_fixtures() {
    local out="$DATA/triage" tmp
    tmp="$(mktemp -d)"
    mkdir -p "$out"
    gcc -O0 -g -fno-omit-frame-pointer -o "$tmp/thin" "$ROOT/tests/workloads/thin.c"
    (
        cd "$tmp"
        MEMPROF_ITERATIONS="$tmp/thin.iterations.jsonl" heaptrack -o "$tmp/thin" ./thin 40
        heaptrack_print -f thin.zst -a 0 -p 0 -T 0 -l 0 > thin.print.txt
    )
    cp "$tmp"/thin.zst "$tmp"/thin.iterations.jsonl "$tmp"/thin.print.txt "$out/"
    rm -rf "$tmp"
}
if want thin; then thin_fixtures; fi

# --- scale (Valgrind 3.19 memcheck: planted at 10 iterations, no iteration records) -----------
# The n=10 twin of tests/data/memcheck/planted_all.xml (n=5), recorded the same way (no
# MEMPROF_ITERATIONS, so no iteration count): the pair is the differential (--scale 5,10) case.
scale_fixtures() {
    local out="$DATA/triage" tmp
    tmp="$(mktemp -d)"
    gcc -O0 -g -fno-omit-frame-pointer -o "$tmp/planted" "$ROOT/tests/workloads/planted.c"
    (
        cd "$tmp"
        env -u MEMPROF_ITERATIONS valgrind --tool=memcheck --leak-check=full --track-origins=no \
            --show-leak-kinds=all --xml=yes --xml-file=planted10_all.xml ./planted 10
        env -u MEMPROF_ITERATIONS valgrind --tool=memcheck --leak-check=full --track-origins=no \
            --show-leak-kinds=all --log-file=planted10_all.log ./planted 10
    )
    cp "$tmp/planted10_all.xml" "$tmp/planted10_all.log" "$out/"
    rm -rf "$tmp"
}
if want scale; then scale_fixtures; fi
