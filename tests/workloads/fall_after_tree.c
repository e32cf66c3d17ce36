/* The heap falls after massif's last detailed snapshot: two sites fill the heap (massif details
 * its peak), then most of one site's blocks are freed and the program exits without another
 * detailed snapshot (run with a large --detailed-freq); short-lived scratch blocks after the frees
 * make massif take its later snapshots (it samples on heap operations only). At exit: 16 x 4096 B of keep_a and
 * 64 x 1024 B of keep_b are live, 131,072 B of the 327,680 B at the peak. */
#include <stdlib.h>
#include <string.h>

static void *keep_a[64], *keep_b[64];

__attribute__((noinline)) static void *alloc_a(size_t n) { void *p = malloc(n); memset(p, 1, n); return p; }
__attribute__((noinline)) static void *alloc_b(size_t n) { void *p = malloc(n); memset(p, 2, n); return p; }

int main(void) {
    for (int i = 0; i < 64; i++) {
        keep_a[i] = alloc_a(4096);
        keep_b[i] = alloc_b(1024);
    }
    for (int i = 0; i < 48; i++)
        free(keep_a[i]);
    for (int i = 0; i < 400; i++)
        free(alloc_b(64));
    return 0;
}
