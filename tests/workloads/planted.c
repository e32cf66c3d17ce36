/* A workload with planted memory behaviour, one kind per function, so every
 * backend's verdict per site can be checked against a known answer:
 *
 *   init_once       100 KiB allocated once at start and kept      -> init-once
 *   pool_acquire    64 KiB per iteration up to 4 blocks, reused   -> pool
 *   leak_lost       32 KiB per iteration, pointer dropped         -> leak (definitely lost)
 *   leak_reachable  16 KiB per iteration kept on a global list    -> leak (still reachable)
 *   scratch_work    128 KiB per iteration, freed at once          -> transient
 *
 * Build with -O0: at -O1 gcc deletes init_once's malloc and scratch_work's malloc/free pair.
 * Built as a program (`planted N`) or, with -DPLANTED_LIB, as a shared
 * library whose planted_setup/planted_iteration a Python driver calls (memray).
 * When MEMPROF_ITERATIONS names a file, each iteration appends one JSON line
 * {"iteration", "t_start", "t_end", "wall_start", "wall_end"} with times in
 * seconds since process start, the same marker protocol the switch loop uses, and then
 * mallocs and frees one block of 12035 + 8 * (i % 2048) bytes: the in-band marker heap
 * profilers record among the program's own events (profiler/parsers/_stacks.py marker_size);
 * MEMPROF_MARKERS=0 leaves the marker out (the fixtures recorded before markers existed).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POOL_CAP 4

static char *g_init;
static char *g_pool[POOL_CAP];
static int g_pool_n;
struct node { struct node *next; char payload[16 * 1024 - sizeof(void *)]; };
static struct node *g_list;

__attribute__((noinline)) void init_once(void) {
    g_init = malloc(100 * 1024);
    memset(g_init, 1, 100 * 1024);
}

__attribute__((noinline)) char *pool_acquire(int i) {
    if (g_pool_n < POOL_CAP) {
        g_pool[g_pool_n] = malloc(64 * 1024);
        memset(g_pool[g_pool_n], 2, 64 * 1024);
        g_pool_n++;
    }
    return g_pool[i % g_pool_n];
}

__attribute__((noinline)) void leak_lost(void) {
    char *volatile p = malloc(32 * 1024);
    memset(p, 3, 32 * 1024);
    p = NULL;
}

__attribute__((noinline)) void leak_reachable(void) {
    struct node *n = malloc(sizeof *n);
    memset(n->payload, 4, sizeof n->payload);
    n->next = g_list;
    g_list = n;
}

__attribute__((noinline)) void scratch_work(void) {
    char *s = malloc(128 * 1024);
    memset(s, 5, 128 * 1024);
    free(s);
}

#include "memprof_marks.h"  /* here, not at the top: the planted sites keep their line numbers */

void planted_setup(void) { init_once(); }

void planted_iteration(int i) {
    double t0 = memprof_since_start(), w0 = memprof_wall();
    pool_acquire(i);
    leak_lost();
    leak_reachable();
    scratch_work();
    usleep(60 * 1000);  /* let the profilers' clocks tick between iterations */
    memprof_end_iteration(i, "planted", t0, w0);
    usleep(40 * 1000);  /* a quiet gap after each boundary, so clock skew between the tools and
                           the marker cannot move a boundary into the next iteration's work */
}

#ifndef PLANTED_LIB
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 12;
    planted_setup();
    usleep(60 * 1000);
    for (int i = 1; i <= n; i++) planted_iteration(i);
    usleep(60 * 1000);
    return 0;
}
#endif
