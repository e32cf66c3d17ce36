/* Leaks three ways: tzset's buffers (heaptrack_print's built-in suppression `tzset_internal`:
 * reported as "suppressed leaks"), a cache named in an embedded LSan suppression that heaptrack
 * copies into the capture as an `S` record (heaptrack_print 1.4 misreads format-3 `S` records
 * and does not apply it), and a plain leak. Built with -rdynamic so heaptrack finds the hook. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *__lsan_default_suppressions(void) { return "leak:known_cache_*\n"; }

__attribute__((noinline)) void known_cache_fill(void) { memset(malloc(3000), 1, 3000); }
__attribute__((noinline)) void real_leak(void) { memset(malloc(5000), 2, 5000); }

int main(void) {
    setenv("TZ", "Europe/Paris", 1);
    tzset();
    for (int i = 0; i < 4; i++) {
        known_cache_fill();
        real_leak();
    }
    return 0;
}
