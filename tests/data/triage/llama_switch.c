/* A model-switch loop in C against libllama: load a GGUF, create a context, decode a
 * short prompt, free both; alternate between the models given. Recorded under heaptrack it
 * yields real llama.cpp / GGML call stacks (KV cache, scheduler, graph, vocabulary, weights)
 * in a capture small enough to commit, without the Python interpreter's own allocations.
 * Iteration markers follow the memprof protocol (MEMPROF_ITERATIONS, seconds since start), each
 * record followed by the in-band marker: malloc + free of 12035 + 8 * (i % 2048) bytes.
 *
 *   llama_switch N MODEL.gguf [MODEL2.gguf ...]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "llama.h"
#include "../../workloads/memprof_marks.h"

static void quiet(enum ggml_log_level level, const char *text, void *data) {
    (void)level; (void)text; (void)data;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s N MODEL.gguf [MODEL2.gguf ...]\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]);
    llama_log_set(quiet, NULL);
    llama_backend_init();
    for (int i = 1; i <= n; i++) {
        const char *path = argv[2 + (i - 1) % (argc - 2)];
        double t0 = memprof_since_start(), w0 = memprof_wall();
        struct llama_model_params mp = llama_model_default_params();
        struct llama_model *model = llama_model_load_from_file(path, mp);
        if (!model) { fprintf(stderr, "cannot load %s\n", path); return 1; }
        struct llama_context_params cp = llama_context_default_params();
        cp.n_ctx = 64;
        cp.n_batch = 16;
        cp.n_ubatch = 16;
        cp.n_threads = 1;
        cp.n_threads_batch = 1;
        struct llama_context *ctx = llama_init_from_model(model, cp);
        if (!ctx) { fprintf(stderr, "cannot create a context\n"); return 1; }
        llama_token tokens[4] = {1, 2, 3, 4};
        if (llama_decode(ctx, llama_batch_get_one(tokens, 4)) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
        llama_free(ctx);
        llama_model_free(model);
        memprof_end_iteration(i, strrchr(path, '/') ? strrchr(path, '/') + 1 : path, t0, w0);
        usleep(100 * 1000);
    }
    llama_backend_free();
    return 0;
}
