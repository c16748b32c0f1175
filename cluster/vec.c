/* vec.c - vector kernels. Eight independent accumulators in a fixed order:
 * the compiler maps them onto whatever SIMD width it has, and the result is
 * the same bits either way (no reassociation, and no fused multiply-add under
 * ISO C's default FP contraction). That keeps outputs byte-identical between
 * the AVX2 and the baseline clone of each plain kernel. Where the CPU has FMA
 * an explicit FMA kernel is used instead (see below). */
#include "cluster/internal.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define KERNEL
#endif

/* Eight lanes; a lane is one accumulator. Built twice by target_clones: as
 * one AVX register, or as two SSE registers: the same sums either way. */
/* the helpers below are inlined: the AVX-return ABI note does not apply */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float v8f __attribute__((vector_size(32)));

static inline v8f load8(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline float sum8(v8f acc)
{
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_FMA_PATH 1
/* With FMA the lanes hold the same partial sums, each rounded once instead of
 * twice: results differ from the plain path in the last bits, so the path is
 * chosen once per process from the CPU (same build + same hardware = same
 * bits, as the design asks), never mixed within a run. */
__attribute__((target("avx2,fma"))) static float dot_fma(const float *a, const float *b, int d)
{
    __m256 acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= d; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    float l[8];
    _mm256_storeu_ps(l, acc);
    for (; i < d; i++)
        l[0] = fmaf(a[i], b[i], l[0]);
    return ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
}

__attribute__((target("avx2,fma"))) static void dots_fma(const float *x, const float *C, int n, int d, float *out)
{
    int j = 0;
    for (; j + 4 <= n && d % 8 == 0; j += 4) {
        const float *c0 = C + (size_t)j * d, *c1 = c0 + d, *c2 = c1 + d, *c3 = c2 + d;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < d; i += 8) {
            __m256 xv = _mm256_loadu_ps(x + i);
            a0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(c0 + i), a0);
            a1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(c1 + i), a1);
            a2 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(c2 + i), a2);
            a3 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(c3 + i), a3);
        }
        __m256 acc[4] = {a0, a1, a2, a3};
        for (int q = 0; q < 4; q++) {
            float l[8];
            _mm256_storeu_ps(l, acc[q]);
            out[j + q] = ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
        }
    }
    for (; j < n; j++)
        out[j] = dot_fma(x, C + (size_t)j * d, d);
}

/* Two vectors against the same rows: each row is loaded once for both, which
 * halves the loads per FMA. Each (vector, row) sum is formed exactly as in
 * dots_fma, so the results are the same bits. */
__attribute__((target("avx2,fma"))) static void dots2_fma(const float *x, const float *y, const float *C, int n, int d,
                                                          float *ox, float *oy)
{
    int j = 0;
    for (; j + 4 <= n && d % 8 == 0; j += 4) {
        const float *c0 = C + (size_t)j * d, *c1 = c0 + d, *c2 = c1 + d, *c3 = c2 + d;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        for (int i = 0; i < d; i += 8) {
            __m256 xv = _mm256_loadu_ps(x + i), yv = _mm256_loadu_ps(y + i);
            __m256 v0 = _mm256_loadu_ps(c0 + i), v1 = _mm256_loadu_ps(c1 + i);
            a0 = _mm256_fmadd_ps(xv, v0, a0);
            b0 = _mm256_fmadd_ps(yv, v0, b0);
            a1 = _mm256_fmadd_ps(xv, v1, a1);
            b1 = _mm256_fmadd_ps(yv, v1, b1);
            __m256 v2 = _mm256_loadu_ps(c2 + i), v3 = _mm256_loadu_ps(c3 + i);
            a2 = _mm256_fmadd_ps(xv, v2, a2);
            b2 = _mm256_fmadd_ps(yv, v2, b2);
            a3 = _mm256_fmadd_ps(xv, v3, a3);
            b3 = _mm256_fmadd_ps(yv, v3, b3);
        }
        __m256 acc[8] = {a0, a1, a2, a3, b0, b1, b2, b3};
        for (int q = 0; q < 8; q++) {
            float l[8];
            _mm256_storeu_ps(l, acc[q]);
            float v = ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
            if (q < 4)
                ox[j + q] = v;
            else
                oy[j + q - 4] = v;
        }
    }
    for (; j < n; j++) {
        ox[j] = dot_fma(x, C + (size_t)j * d, d);
        oy[j] = dot_fma(y, C + (size_t)j * d, d);
    }
}

static int use_fma(void)
{
    static int cached = -1;
    if (cached < 0)
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return cached;
}
#endif

KERNEL static float dot_plain(const float *a, const float *b, int d)
{
    v8f acc = {0};
    int i = 0;
    for (; i + 8 <= d; i += 8)
        acc += load8(a + i) * load8(b + i);
    for (; i < d; i++)
        acc[0] += a[i] * b[i];
    return sum8(acc);
}

double cl_norm(const float *a, int d) { return sqrt((double)cl_dot(a, a, d)); }

KERNEL void cl_axpy(float *y, float a, const float *x, int d)
{
    for (int i = 0; i < d; i++)
        y[i] += a * x[i];
}

/* Four rows at a time share each load of x; every row's sum is formed exactly
 * as cl_dot forms it, so cl_dots(x, C)[j] == cl_dot(x, C[j]) bit for bit. */
float cl_dot(const float *a, const float *b, int d)
{
#ifdef HAVE_FMA_PATH
    if (use_fma())
        return dot_fma(a, b, d);
#endif
    return dot_plain(a, b, d);
}

KERNEL static void dots_plain(const float *x, const float *C, int n, int d, float *out)
{
    int j = 0;
    for (; j + 4 <= n && d % 8 == 0; j += 4) {
        const float *c0 = C + (size_t)j * d, *c1 = c0 + d, *c2 = c1 + d, *c3 = c2 + d;
        v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (int i = 0; i < d; i += 8) {
            v8f xv = load8(x + i);
            a0 += xv * load8(c0 + i);
            a1 += xv * load8(c1 + i);
            a2 += xv * load8(c2 + i);
            a3 += xv * load8(c3 + i);
        }
        out[j] = sum8(a0);
        out[j + 1] = sum8(a1);
        out[j + 2] = sum8(a2);
        out[j + 3] = sum8(a3);
    }
    for (; j < n; j++)
        out[j] = dot_plain(x, C + (size_t)j * d, d);
}

void cl_dots(const float *x, const float *C, int n, int d, float *out)
{
#ifdef HAVE_FMA_PATH
    if (use_fma()) {
        dots_fma(x, C, n, d, out);
        return;
    }
#endif
    dots_plain(x, C, n, d, out);
}

void cl_dots2(const float *x, const float *y, const float *C, int n, int d, float *ox, float *oy)
{
#ifdef HAVE_FMA_PATH
    if (use_fma()) {
        dots2_fma(x, y, C, n, d, ox, oy);
        return;
    }
#endif
    dots_plain(x, C, n, d, ox);
    dots_plain(y, C, n, d, oy);
}
