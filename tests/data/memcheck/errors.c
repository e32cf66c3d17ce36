/* Memcheck fixture source: one of each error and leak kind memcheck reports,
 * so the XML parser is exercised on real <error> elements of every kind:
 *   read_past_end     InvalidRead (called twice from one line: one context, count 2)
 *   branch_on_uninit  UninitCondition
 *   lose_holder       8 bytes definitely lost, holding 200 bytes indirectly lost
 *   keep_interior     1000 bytes possibly lost (only an interior pointer survives)
 *   keep_reachable    64 bytes still reachable
 *   suppressed_leak   2 x 300 bytes definitely lost, suppressed by errors.supp
 * Built with -O0 so the compiler removes none of it.
 */
#include <stdlib.h>
#include <string.h>

struct holder { char *inner; };
static char *g_interior;
static char *g_reachable;

__attribute__((noinline)) int read_past_end(void) {
    int *a = malloc(4 * sizeof(int));
    memset(a, 0, 4 * sizeof(int));
    int v = a[4];
    free(a);
    return v;
}

__attribute__((noinline)) int branch_on_uninit(void) {
    int *a = malloc(sizeof(int));
    int r = 0;
    if (*a > 3) r = 1;
    free(a);
    return r;
}

__attribute__((noinline)) void lose_holder(void) {
    struct holder *h = malloc(sizeof *h);
    h->inner = malloc(200);
    memset(h->inner, 0, 200);
}

__attribute__((noinline)) void keep_interior(void) {
    char *p = malloc(1000);
    g_interior = p + 10;
}

__attribute__((noinline)) void keep_reachable(void) {
    g_reachable = malloc(64);
}

__attribute__((noinline)) void suppressed_leak(void) {
    char *volatile p = malloc(300);
    p = 0;
}

int main(void) {
    volatile int s = 0;
    for (int i = 0; i < 2; i++) s += read_past_end();
    s += branch_on_uninit();
    lose_holder();
    keep_interior();
    keep_reachable();
    for (int i = 0; i < 2; i++) suppressed_leak();
    return 0;
}
