/* vec.c - vector kernels. Eight independent accumulators in a fixed order:
 * the compiler maps them onto whatever SIMD width it has, and the result is
 * the same bits either way (no reassociation, and no fused multiply-add under
 * ISO C's default FP contraction). That keeps outputs byte-identical between
 * the AVX2 and the baseline clone of each kernel (chosen at load time). */
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

KERNEL float cl_dot(const float *a, const float *b, int d)
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
KERNEL void cl_dots(const float *x, const float *C, int n, int d, float *out)
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
        out[j] = cl_dot(x, C + (size_t)j * d, d);
}
