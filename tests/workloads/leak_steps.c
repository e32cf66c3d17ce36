/* A deterministic program for memcheck's per-iteration leak checks (the fixture
 * tests/data/memcheck_monitor/leak_steps.timeline.txt, made by
 * scripts/make_memcheck_timeline_fixture.py). Each step: one 1000-byte block kept
 * forever (a leak, still reachable through `kept`), one 4000-byte block lost
 * (definitely lost), and a pool that grows by 2048 bytes for three steps and then
 * stays (a plateau). After each step it prints "step N" and waits for a line on
 * stdin, so a leak check can be taken at the boundary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *kept[64];
static char *pool;

static void *keep_one(void) { return malloc(1000); }
static void lose_one(void) { void *p = malloc(4000); memset(p, 1, 4000); p = NULL; }
static void grow_pool(int step) {
    if (step <= 3) pool = realloc(pool, 2048 * (size_t)step);
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 6;
    char line[16];
    for (int i = 1; i <= steps && i < 64; i++) {
        kept[i] = keep_one();
        lose_one();
        grow_pool(i);
        printf("step %d\n", i);
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin)) break;
    }
    return 0;
}
