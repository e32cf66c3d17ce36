/* A leak spread thin: 2,000 allocation sites, 200 of which lose 32 bytes per iteration
 * (6.4 KB per iteration, all of the heap's growth), while the other 1,800 do not grow:
 *
 *   site_0000 .. site_0199   called by cache_remember(): 32 B each per iteration, kept on a list -> thin leak
 *   site_0200 .. site_1099   called by setup_tables():   48 B each, once at start and kept      -> init-once
 *   site_1100 .. site_1999   called by scratch_round():  64 B each per iteration, freed at once -> transient
 *
 * Every site grows less than memprof's per-site minor bar (1 KiB per iteration); only their
 * sum is material. `thin N` runs N iterations and writes the iteration records and markers of
 * memprof_marks.h. Build with -O0 -g (one distinct function per site).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_SITES 2000
#define N_LEAK 200
#define N_INIT 900

/* 2,000 distinct one-line allocation functions site_0000 .. site_1999, and a table of them */
#define D1(p) SITE(p##0) SITE(p##1) SITE(p##2) SITE(p##3) SITE(p##4) \
              SITE(p##5) SITE(p##6) SITE(p##7) SITE(p##8) SITE(p##9)
#define D10(p) D1(p##0) D1(p##1) D1(p##2) D1(p##3) D1(p##4) D1(p##5) D1(p##6) D1(p##7) D1(p##8) D1(p##9)
#define D100(p) D10(p##0) D10(p##1) D10(p##2) D10(p##3) D10(p##4) \
                D10(p##5) D10(p##6) D10(p##7) D10(p##8) D10(p##9)
#define ALL_SITES D100(site_0) D100(site_1)

#define SITE(f) __attribute__((noinline)) void *f(size_t n) { return malloc(n); }
ALL_SITES
#undef SITE
#define SITE(f) f,
static void *(*const sites[N_SITES])(size_t) = {ALL_SITES};
#undef SITE

struct cell { struct cell *next; };
static struct cell *g_cache;           /* the thin leak: reachable, never trimmed */
static void *g_tables[N_INIT];

__attribute__((noinline)) void cache_remember(void) {
    for (int k = 0; k < N_LEAK; k++) {
        struct cell *c = sites[k](32);
        memset(c, 0, 32);
        c->next = g_cache;
        g_cache = c;
    }
}

__attribute__((noinline)) void setup_tables(void) {
    for (int k = 0; k < N_INIT; k++) {
        g_tables[k] = sites[N_LEAK + k](48);
        memset(g_tables[k], 1, 48);
    }
}

__attribute__((noinline)) void scratch_round(void) {
    for (int k = N_LEAK + N_INIT; k < N_SITES; k++) {
        char *volatile p = sites[k](64);
        p[0] = 2;
        free(p);
    }
}

#include "memprof_marks.h"

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 40;
    setup_tables();
    for (int i = 1; i <= n; i++) {
        double t0 = memprof_since_start(), w0 = memprof_wall();
        cache_remember();
        scratch_round();
        usleep(20 * 1000);
        memprof_end_iteration(i, "thin", t0, w0);
    }
    return 0;
}
