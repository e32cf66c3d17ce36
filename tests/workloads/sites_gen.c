/* A loop with many distinct allocation sites, for the parser benchmarks (scripts/bench_parsers.py
 * --scaling): `sites_gen ITERATIONS SITES [CALLS_PER_ITERATION]`.
 *
 * Site s allocates through a chain of noinline functions spelling s in base 8, so every site is
 * its own call stack. Each iteration makes CALLS_PER_ITERATION (default: SITES) allocations,
 * round-robin over the sites; a site frees its previous block before it allocates the next, so
 * the heap plateaus at about one block per site. One site leaks 64 bytes per iteration. After
 * each iteration the loop writes the memprof iteration record and in-band marker
 * (memprof_marks.h) when MEMPROF_ITERATIONS is set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "memprof_marks.h"

typedef void *(*step_fn)(int, unsigned, size_t);
static void *step(int depth, unsigned code, size_t n);
#define F(k) __attribute__((noinline)) static void *f##k(int d, unsigned c, size_t n) { \
    void *p = step(d, c, n); __asm__ volatile("" ::: "memory"); return p; }
F(0) F(1) F(2) F(3) F(4) F(5) F(6) F(7)
static step_fn table[8] = {f0, f1, f2, f3, f4, f5, f6, f7};

__attribute__((noinline)) static void *leaf(size_t n) {
    void *p = malloc(n);
    if (p) memset(p, 1, n < 64 ? n : 64);
    return p;
}
static void *step(int depth, unsigned code, size_t n) {
    if (depth == 0) return leaf(n);
    return table[code & 7](depth - 1, code >> 3, n);
}
__attribute__((noinline)) static void *leak_site(void) { return leaf(64); }

int main(int argc, char **argv) {
    long iterations = argc > 1 ? atol(argv[1]) : 100;
    long sites = argc > 2 ? atol(argv[2]) : 200;
    long calls = argc > 3 ? atol(argv[3]) : sites;
    if (iterations < 1 || sites < 1 || calls < 0) return 2;
    int depth = 1;
    for (long span = 8; span < sites; span *= 8) depth++;
    void **live = calloc((size_t)sites, sizeof *live);
    long next = 0;
    for (long i = 1; i <= iterations; i++) {
        double t0 = memprof_since_start(), w0 = memprof_wall();
        for (long k = 0; k < calls; k++, next = (next + 1) % sites) {
            free(live[next]);
            live[next] = step(depth, (unsigned)next, 32 + (size_t)(next % 97) * 16);
        }
        void *volatile leaked = leak_site();
        (void)leaked;
        memprof_end_iteration((int)i, "gen", t0, w0);
    }
    for (long s = 0; s < sites; s++) free(live[s]);
    free(live);
    return 0;
}
