/* The memprof iteration protocol for C workloads, shared by the test workloads.
 *
 * When MEMPROF_ITERATIONS names a file, memprof_end_iteration() appends one JSON line
 * {"iteration", "model", "t_start", "t_end", "wall_start", "wall_end"} (seconds since the
 * process started, as the Python loop's profiler.clock counts them, and epoch seconds), then
 * makes the in-band marker heaptrack records: a malloc + free of 12035 + 8 * (i % 2048) bytes
 * (MEMPROF_MARKERS=0 turns it off). Header-only: include it once per program.
 */
#ifndef MEMPROF_MARKS_H
#define MEMPROF_MARKS_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double memprof_since_start(void) {
    /* seconds since this process started (/proc/self/stat field 22) */
    static double start = -1;
    if (start < 0) {
        FILE *f = fopen("/proc/self/stat", "r");
        unsigned long long ticks = 0;
        if (f) {
            char buf[4096];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            buf[n] = 0;
            fclose(f);
            char *p = strrchr(buf, ')');
            for (int field = 2; p && field < 22; field++) p = strchr(p + 1, ' ');
            if (p) ticks = strtoull(p + 1, NULL, 10);
        }
        start = (double)ticks / sysconf(_SC_CLK_TCK);
    }
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9 - start;
}

static double memprof_wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void iteration_marker(int i) {
    void *volatile p = malloc(12035 + 8 * (i % 2048));
    free(p);
}

static void memprof_end_iteration(int i, const char *model, double t_start, double wall_start) {
    const char *path = getenv("MEMPROF_ITERATIONS");
    if (!path || !*path) return;
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "{\"iteration\": %d, \"model\": \"%s\", \"t_start\": %.3f, \"t_end\": %.3f,"
                   " \"wall_start\": %.3f, \"wall_end\": %.3f}\n",
                i, model, t_start, memprof_since_start(), wall_start, memprof_wall());
        fclose(f);
    }
    const char *m = getenv("MEMPROF_MARKERS");
    if (!m || strcmp(m, "0") != 0) iteration_marker(i);
}
#endif
