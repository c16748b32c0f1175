/* int8_kernels.c - per-row activation quantization and the dequantizing epilogues.
 *
 * Plain loops the compiler vectorises (-O3, kernel_dispatch.h picks the
 * AVX2+FMA build), parallel over rows. Rounding adds and subtracts 1.5 * 2^23
 * rather than calling lrintf, which does not vectorise; GELU's erf is the
 * Abramowitz-Stegun 7.1.26 rational approximation (|error| <= 1.5e-7) on the
 * polynomial exp of kernel_dispatch.h, since libm's erff does not vectorise
 * either and a [T, 1536] GELU per layer would cost more than its matmul. */
#include "model/int8_kernels.h"

#include "model/kernel_dispatch.h"

#include <math.h>
#include <stddef.h>

#define ROUNDER 12582912.0f /* 1.5 * 2^23: (x + R) - R rounds x to the nearest integer */

KERNEL void quantize_row_impl(const float *x, int k, uint8_t *q, float *scale, int32_t *zero)
{
    float lo = 0.0f, hi = 0.0f;
#pragma omp simd reduction(min : lo) reduction(max : hi)
    for (int j = 0; j < k; j++) {
        lo = x[j] < lo ? x[j] : lo;
        hi = x[j] > hi ? x[j] : hi;
    }
    float s = (hi - lo) / (float)SEGSTREAM_INT8_CODE_MAX;
    if (!(s > 0.0f)) /* an all-zero row (or NaNs): any scale gives codes = zero */
        s = 1.0f;
    const float inv = 1.0f / s;
    float z = (-lo * inv + ROUNDER) - ROUNDER;
    z = z > (float)SEGSTREAM_INT8_CODE_MAX ? (float)SEGSTREAM_INT8_CODE_MAX : z;
#pragma omp simd
    for (int j = 0; j < k; j++) {
        float v = (x[j] * inv + z + ROUNDER) - ROUNDER;
        v = v < 0.0f ? 0.0f : v;
        v = v > (float)SEGSTREAM_INT8_CODE_MAX ? (float)SEGSTREAM_INT8_CODE_MAX : v;
        q[j] = (uint8_t)(int32_t)v;
    }
    *scale = s;
    *zero = (int32_t)z;
}
INSTANTIATE(quantize_row, (const float *x, int k, uint8_t *q, float *scale, int32_t *zero),
            (x, k, q, scale, zero))

void segstream_int8_quantize_rows(const float *x, int m, int k, uint8_t *q, float *scale, int32_t *zero)
{
    /* dynamic chunks of rows, not fixed halves: a worker preempted by another
     * process must not hold the pass at the barrier (see int8_gemm.c) */
#pragma omp parallel for schedule(dynamic, 16)
    for (int i = 0; i < m; i++)
        quantize_row(x + (size_t)i * k, k, q + (size_t)i * k, scale + i, zero + i);
}

static inline __attribute__((always_inline)) float gelu_erf(float v)
{
    /* fabsf and copysignf, not ?: - GCC if-converts neither chain of selects here */
    const float a = fabsf(v) * 0.70710678118654752f;
    const float t = 1.0f / (1.0f + 0.3275911f * a);
    float p = 1.061405429f;
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    const float erf_a = 1.0f - p * t * exp_nonpositive(-a * a);
    return 0.5f * v * (1.0f + copysignf(erf_a, v));
}

KERNEL void dequantize_row_impl(const int32_t *acc, int n, float scale, int32_t zero, const int32_t *colsum,
                                const float *wscale, const float *bias, int out, float *dst)
{
    if (out == SEGSTREAM_INT8_ADD) {
#pragma omp simd
        for (int j = 0; j < n; j++)
            dst[j] += (float)(acc[j] - zero * colsum[j]) * (scale * wscale[j]) + bias[j];
    } else if (out == SEGSTREAM_INT8_GELU) {
#pragma omp simd
        for (int j = 0; j < n; j++)
            dst[j] = gelu_erf((float)(acc[j] - zero * colsum[j]) * (scale * wscale[j]) + bias[j]);
    } else {
#pragma omp simd
        for (int j = 0; j < n; j++)
            dst[j] = (float)(acc[j] - zero * colsum[j]) * (scale * wscale[j]) + bias[j];
    }
}
INSTANTIATE(dequantize_row,
            (const int32_t *acc, int n, float scale, int32_t zero, const int32_t *colsum, const float *wscale,
             const float *bias, int out, float *dst),
            (acc, n, scale, zero, colsum, wscale, bias, out, dst))

void segstream_int8_dequantize_rows(const int32_t *acc, int m, int n, const float *scale,
                                    const int32_t *zero, const int32_t *colsum, const float *wscale,
                                    const float *bias, segstream_int8_output out, float *dst)
{
#pragma omp parallel for schedule(dynamic, 16)
    for (int i = 0; i < m; i++)
        dequantize_row(acc + (size_t)i * n, n, scale[i], zero[i], colsum, wscale, bias, (int)out,
                       dst + (size_t)i * n);
}
