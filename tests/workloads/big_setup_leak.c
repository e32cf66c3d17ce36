/* A small leak under a large set-up heap, with no iteration records: what a per-time-slice bar
 * held against the peak heap alone would hide. set_up() keeps 200 MiB for the whole run; each of
 * N iterations does some short-lived work (so heaptrack's time slices have events) and leaks
 * 64 KiB from leak_step(): 1.9 MiB over 30 iterations, 1% of the peak heap.
 *
 * Usage: big_setup_leak [N]. Built with -O0 so that the mallocs and memsets stay.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *g_tables;

__attribute__((noinline)) void set_up(void) {
    g_tables = malloc(200u << 20);
    memset(g_tables, 1, 200u << 20);
}

__attribute__((noinline)) void leak_step(void) {
    char *volatile p = malloc(64 * 1024);
    memset(p, 2, 64 * 1024);
    p = NULL;
}

__attribute__((noinline)) void scratch(void) {
    for (int k = 0; k < 2000; k++) {
        char *volatile q = malloc(100 + k % 50);
        q[0] = 1;
        free(q);
    }
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 30;
    set_up();
    for (int i = 0; i < n; i++) {
        scratch();
        leak_step();
        usleep(20 * 1000);
    }
    return g_tables == NULL;
}
