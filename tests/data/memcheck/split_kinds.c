/* One allocation site whose blocks memcheck puts in two loss records.
 *
 * Every iteration lose_block() allocates 32 KiB. The block of iteration 7 leaves a pointer into
 * its middle in a global, so memcheck calls it "possibly lost". The others are dropped
 * ("definitely lost"), or with `keep` kept in a global array ("still reachable"). Two loss records
 * with one allocation stack: a real run can do this by itself (a stale interior pointer left in a
 * register or on the stack), which is how one site can show up split across two kinds.
 *
 * Usage: split_kinds N [keep]. Built with -O0 so that the malloc/memset pair stays.
 */
#include <stdlib.h>
#include <string.h>

static char *g_interior;
static char *g_kept[64];

__attribute__((noinline)) void lose_block(int i, int keep) {
    char *volatile p = malloc(32 * 1024);
    memset(p, 3, 32 * 1024);
    if (i == 7)
        g_interior = p + 64;
    else if (keep && i < 64)
        g_kept[i] = p;
    p = NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10;
    int keep = argc > 2 && strcmp(argv[2], "keep") == 0;
    for (int i = 1; i <= n; i++)
        lose_block(i, keep);
    return g_interior == NULL && n >= 7;
}
