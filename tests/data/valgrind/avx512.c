/* One AVX-512 instruction: Valgrind 3.19 cannot decode EVEX, so this program dies
 * under it with "vex amd64->IR: unhandled instruction bytes" and SIGILL even on a
 * CPU without AVX-512 (Valgrind stops at decoding, before the CPU would see it). */
int main(void) {
    __asm__ volatile("vpxord %%zmm0, %%zmm0, %%zmm0" ::: "xmm0");
    return 0;
}
