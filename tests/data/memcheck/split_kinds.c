/* One allocation site whose blocks memcheck puts in two loss records.
 *
 * Every iteration lose_block() leaks 32 KiB and drops the pointer. The block of iteration 7
 * leaves a pointer into its middle in a global, so memcheck calls that one block "possibly
 * lost" and the others "definitely lost": two loss records with one allocation stack. A real
 * run can do this by itself (a stale interior pointer left in a register or on the stack),
 * which is how a leak at one site can show up split across two kinds.
 *
 * Usage: split_kinds N. Built with -O0 so that the malloc/memset pair stays.
 */
#include <stdlib.h>
#include <string.h>

static char *g_interior;

__attribute__((noinline)) void lose_block(int i) {
    char *volatile p = malloc(32 * 1024);
    memset(p, 3, 32 * 1024);
    if (i == 7)
        g_interior = p + 64;
    p = NULL;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 10;
    for (int i = 1; i <= n; i++)
        lose_block(i);
    return g_interior == NULL && n >= 7;
}
