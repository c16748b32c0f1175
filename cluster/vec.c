/* vec.c - vector kernels. Eight independent accumulators in a fixed order:
 * the compiler maps them onto whatever SIMD width it has, and the result is
 * the same bits either way (no reassociation, and no fused multiply-add under
 * ISO C's default FP contraction). That keeps outputs byte-identical between
 * the AVX2 and the baseline clone of each plain kernel. Where the CPU has FMA
 * an explicit FMA kernel is used instead (see below). Every kernel forms each
 * (vector, row) dot product the same way (lane l sums dimensions l, l+8, ...
 * in order, then one fixed reduction tree): blocking is across vectors and
 * rows only, so the sweep's blocked kernel gives the per-event kernel's bits. */
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

/* The reduction of dot_fma for four accumulators at once: s = l[0..3] +
 * l[4..7], then hadd pairs (s0 + s1), (s2 + s3), then their sum: the same
 * additions on the same operands, so the same bits, four results per store. */
__attribute__((target("avx2,fma"))) static inline __m128 sum8x4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    __m128 sa = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 sb = _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));
    __m128 sc = _mm_add_ps(_mm256_castps256_ps128(c), _mm256_extractf128_ps(c, 1));
    __m128 sd = _mm_add_ps(_mm256_castps256_ps128(d), _mm256_extractf128_ps(d, 1));
    return _mm_hadd_ps(_mm_hadd_ps(sa, sb), _mm_hadd_ps(sc, sd));
}

/* Three vectors against four rows per tile: 12 accumulators, and per step of
 * eight dimensions 7 loads feed 12 FMAs (dots_fma: 5 loads for 4). Every
 * (vector, row) accumulator runs over i = 0, 8, 16, ... exactly as dot_fma's
 * single one does and is reduced by the same tree, so out[u][j] is the same
 * bits as cl_dot(X[u], C[j]): the blocking is across vectors and rows only,
 * never across the dimension. Needs d % 8 == 0. */
__attribute__((target("avx2,fma"))) static void tile3x4_fma(const float *x0, const float *x1, const float *x2,
                                                            const float *c0, int d, float *o0, float *o1, float *o2)
{
    const float *c1 = c0 + d, *c2 = c1 + d, *c3 = c2 + d;
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
    __m256 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00, a23 = a00;
    for (int i = 0; i < d; i += 8) {
        __m256 u0 = _mm256_loadu_ps(x0 + i), u1 = _mm256_loadu_ps(x1 + i), u2 = _mm256_loadu_ps(x2 + i);
        __m256 v = _mm256_loadu_ps(c0 + i);
        a00 = _mm256_fmadd_ps(u0, v, a00);
        a10 = _mm256_fmadd_ps(u1, v, a10);
        a20 = _mm256_fmadd_ps(u2, v, a20);
        v = _mm256_loadu_ps(c1 + i);
        a01 = _mm256_fmadd_ps(u0, v, a01);
        a11 = _mm256_fmadd_ps(u1, v, a11);
        a21 = _mm256_fmadd_ps(u2, v, a21);
        v = _mm256_loadu_ps(c2 + i);
        a02 = _mm256_fmadd_ps(u0, v, a02);
        a12 = _mm256_fmadd_ps(u1, v, a12);
        a22 = _mm256_fmadd_ps(u2, v, a22);
        v = _mm256_loadu_ps(c3 + i);
        a03 = _mm256_fmadd_ps(u0, v, a03);
        a13 = _mm256_fmadd_ps(u1, v, a13);
        a23 = _mm256_fmadd_ps(u2, v, a23);
    }
    _mm_storeu_ps(o0, sum8x4(a00, a01, a02, a03));
    _mm_storeu_ps(o1, sum8x4(a10, a11, a12, a13));
    _mm_storeu_ps(o2, sum8x4(a20, a21, a22, a23));
}

/* Users in groups of BLOCK_USERS (18 KiB of fp32 at d = 384: they stay in L1
 * while the rows stream past, each 4-row tile read from L2 once per group). */
#define BLOCK_USERS 12
__attribute__((target("avx2,fma"))) static void dots_block_fma(const float *X, int nu, const float *C, int n, int d,
                                                               float *out)
{
    int n4 = n - n % 4;
    for (int g = 0; g < nu; g += BLOCK_USERS) {
        int ge = g + BLOCK_USERS < nu ? g + BLOCK_USERS : nu, g3 = g + (ge - g) / 3 * 3;
        for (int j = 0; j < n4; j += 4)
            for (int u = g; u < g3; u += 3) {
                const float *x = X + (size_t)u * d;
                float *o = out + (size_t)u * n + j;
                tile3x4_fma(x, x + d, x + 2 * (size_t)d, C + (size_t)j * d, d, o, o + n, o + 2 * (size_t)n);
            }
        for (int u = g; u < g3; u++)
            for (int j = n4; j < n; j++)
                out[(size_t)u * n + j] = dot_fma(X + (size_t)u * d, C + (size_t)j * d, d);
        for (int u = g3; u < ge; u++)
            dots_fma(X + (size_t)u * d, C, n, d, out + (size_t)u * n);
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

void cl_dots_block(const float *X, int nu, const float *C, int n, int d, float *out)
{
#ifdef HAVE_FMA_PATH
    if (use_fma() && d % 8 == 0) {
        dots_block_fma(X, nu, C, n, d, out);
        return;
    }
#endif
    for (int u = 0; u < nu; u++)
        cl_dots(X + (size_t)u * d, C, n, d, out + (size_t)u * n);
}
