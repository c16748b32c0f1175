/* fma_peak.c - measures the machine's fp32 FMA peak (GFLOP/s) at 1 and 2 threads.
 *
 * Each thread runs 12 independent chains of 256-bit fused multiply-adds
 * (AVX2+FMA intrinsics, 8 floats each): 12 accumulators cover a 4-5 cycle FMA
 * latency on two FMA pipes (>= 10 in flight), so the loop is bound by FMA
 * throughput alone, not by latency or memory. The best of several runs is
 * reported, since the box is shared. It is the denominator of the encoder
 * benchmark's "share of peak" (tools/bench-encoder).
 * Usage: fma_peak [MAX_THREADS] [--json]; prints one line per thread count. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { CHAINS = 12, LANES = 8 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs `iters` rounds of CHAINS FMAs; returns a sum so the work is not optimised away. */
__attribute__((target("avx2,fma"), noinline)) static float fma_chains(long iters, float seed)
{
    __m256 acc[CHAINS];
    for (int c = 0; c < CHAINS; c++)
        acc[c] = _mm256_set1_ps(seed + (float)c);
    /* a * b + acc with a*b ~ 1 keeps values finite for any iteration count */
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1.000001f);
    for (long i = 0; i < iters; i++) {
        acc[0] = _mm256_fmadd_ps(acc[0], a, b);
        acc[1] = _mm256_fmadd_ps(acc[1], a, b);
        acc[2] = _mm256_fmadd_ps(acc[2], a, b);
        acc[3] = _mm256_fmadd_ps(acc[3], a, b);
        acc[4] = _mm256_fmadd_ps(acc[4], a, b);
        acc[5] = _mm256_fmadd_ps(acc[5], a, b);
        acc[6] = _mm256_fmadd_ps(acc[6], a, b);
        acc[7] = _mm256_fmadd_ps(acc[7], a, b);
        acc[8] = _mm256_fmadd_ps(acc[8], a, b);
        acc[9] = _mm256_fmadd_ps(acc[9], a, b);
        acc[10] = _mm256_fmadd_ps(acc[10], a, b);
        acc[11] = _mm256_fmadd_ps(acc[11], a, b);
    }
    __m256 s = acc[0];
    for (int c = 1; c < CHAINS; c++)
        s = _mm256_add_ps(s, acc[c]);
    float out[LANES];
    _mm256_storeu_ps(out, s);
    float total = 0;
    for (int i = 0; i < LANES; i++)
        total += out[i];
    return total;
}

/* GFLOP/s of `threads` threads each running fma_chains(iters): best of `runs`. */
static double measure(int threads, long iters, int runs)
{
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < runs; r++) {
        double t0 = now_s();
        float sum = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sum)
        sum += fma_chains(iters, (float)omp_get_thread_num());
        double secs = now_s() - t0;
        sink += sum;
        double gflops = 2.0 * CHAINS * LANES * (double)iters * threads / secs * 1e-9;
        if (gflops > best)
            best = gflops;
    }
    (void)sink;
    return best;
}

int main(int argc, char **argv)
{
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        fprintf(stderr, "fma_peak: this CPU lacks AVX2/FMA\n");
        return 1;
    }
    int max_threads = argc > 1 ? atoi(argv[1]) : 2;
    int json = argc > 2 && strcmp(argv[2], "--json") == 0;
    if (max_threads < 1)
        max_threads = 1;
    const long iters = 5L * 1000 * 1000; /* ~20-40 ms a run: short runs catch moments when the shared box is idle */
    fma_chains(iters / 10, 0.0f);         /* warm up clocks */
    if (json)
        printf("{");
    for (int t = 1; t <= max_threads; t++) {
        double g = measure(t, iters, 40);
        if (json)
            printf("%s\"%d\": %.2f", t > 1 ? ", " : "", t, g);
        else
            printf("threads %d: %.1f GFLOP/s fp32 FMA peak (%.1f per thread)\n", t, g, g / t);
    }
    if (json)
        printf("}\n");
    return 0;
}
