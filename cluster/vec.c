/* vec.c - vector kernels. Eight independent accumulators in a fixed order:
 * the compiler maps them onto whatever SIMD width it has, and the result is
 * the same bits either way (no reassociation, no fused multiply-add under
 * ISO C's default FP contraction). This is what keeps outputs byte-identical. */
#include "cluster/internal.h"

#include <math.h>

float cl_dot(const float *a, const float *b, int d)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= d; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    for (; i < d; i++)
        acc[0] += a[i] * b[i];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

double cl_norm(const float *a, int d)
{
    double s = 0;
    for (int i = 0; i < d; i++)
        s += (double)a[i] * a[i];
    return sqrt(s);
}

void cl_axpy(float *y, float a, const float *x, int d)
{
    for (int i = 0; i < d; i++)
        y[i] += a * x[i];
}

void cl_dots(const float *x, const float *C, int n, int d, float *out)
{
    for (int j = 0; j < n; j++)
        out[j] = cl_dot(x, C + (size_t)j * d, d);
}
