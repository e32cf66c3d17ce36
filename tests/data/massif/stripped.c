/* A non-PIE program that is stripped before massif runs it, so massif reports its frames as
 * `??? (in /path/stripped)`; the unstripped twin (same addresses) lets profiler.symbols
 * resolve them through MEMPROF_SYMBOL_PATH. */
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) void *grow_table(size_t n) {
    void *p = malloc(n);
    memset(p, 7, n);
    return p;
}

__attribute__((noinline)) void *build_index(int i) { return grow_table((size_t)(i + 1) * 8192); }

int main(void) {
    void *keep[6];
    for (int i = 0; i < 6; i++) keep[i] = build_index(i);
    for (int i = 0; i < 6; i++) free(keep[i]);
    return 0;
}
