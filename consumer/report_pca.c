/* report_pca.c - two principal components by subspace iteration; see
 * report_pca.h. The 2 x 2 Rayleigh-Ritz step at the end turns the converged
 * plane into the two axes, so close eigenvalues (which slow plain power
 * iteration with deflation) still give the right pair. */
#include "consumer/report_pca.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { PCA_MAX_STEPS = 500 };

static double dot(const double *a, const double *b, size_t d)
{
    double s = 0;
    for (size_t i = 0; i < d; i++)
        s += a[i] * b[i];
    return s;
}

/* out = Xc^T (Xc v); tmp holds n doubles. */
static void cov_apply(const double *xc, size_t n, size_t d, const double *v, double *out, double *tmp)
{
    for (size_t r = 0; r < n; r++)
        tmp[r] = dot(xc + r * d, v, d);
    memset(out, 0, d * sizeof *out);
    for (size_t r = 0; r < n; r++)
        for (size_t i = 0; i < d; i++)
            out[i] += tmp[r] * xc[r * d + i];
}

/* Gram-Schmidt of b against unit a, then normalises b; returns its norm before. */
static double orthonormalise(const double *a, double *b, size_t d)
{
    if (a) {
        double p = dot(a, b, d);
        for (size_t i = 0; i < d; i++)
            b[i] -= p * a[i];
    }
    double len = sqrt(dot(b, b, d));
    if (len > 0)
        for (size_t i = 0; i < d; i++)
            b[i] /= len;
    return len;
}

int segstream_pca2(const float *x, size_t n, size_t d, double *xy, double variance[2], segstream_err *err)
{
    memset(xy, 0, n * 2 * sizeof *xy);
    if (variance)
        variance[0] = variance[1] = 0;
    if (n < 2 || d == 0)
        return 0;
    double *xc = malloc(n * d * sizeof *xc), *v = calloc(2 * d, sizeof *v), *w = malloc(2 * d * sizeof *w);
    double *tmp = malloc(n * sizeof *tmp), *mean = calloc(d, sizeof *mean);
    if (!xc || !v || !w || !tmp || !mean) {
        free(xc), free(v), free(w), free(tmp), free(mean);
        return segstream_err_set(err, "pca: out of memory (%zu x %zu)", n, d);
    }
    for (size_t r = 0; r < n; r++)
        for (size_t i = 0; i < d; i++)
            mean[i] += x[r * d + i];
    for (size_t i = 0; i < d; i++)
        mean[i] /= (double)n;
    for (size_t r = 0; r < n; r++)
        for (size_t i = 0; i < d; i++)
            xc[r * d + i] = x[r * d + i] - mean[i];

    /* Start from the two centred rows farthest from the mean (a fixed, data
     * driven start: never orthogonal to the top axes unless the data is). */
    size_t r0 = 0, r1 = n;
    double best = -1;
    for (size_t r = 0; r < n; r++) {
        double q = dot(xc + r * d, xc + r * d, d);
        if (q > best)
            best = q, r0 = r;
    }
    best = -1;
    for (size_t r = 0; r < n; r++) {
        double q = dot(xc + r * d, xc + r * d, d), p = dot(xc + r * d, xc + r0 * d, d);
        q -= p * p / (dot(xc + r0 * d, xc + r0 * d, d) + 1e-300);
        if (r != r0 && q > best)
            best = q, r1 = r;
    }
    double *v1 = v, *v2 = v + d, *w1 = w, *w2 = w + d;
    memcpy(v1, xc + r0 * d, d * sizeof *v1);
    if (orthonormalise(NULL, v1, d) <= 1e-12) {
        free(xc), free(v), free(w), free(tmp), free(mean);
        return 0; /* every row equals the mean */
    }
    for (size_t i = 0; i < d; i++)
        v2[i] = xc[r1 * d + i] + 1e-3 * (double)((i * 7 + 3) % 11) / 11.0;
    int has_second = orthonormalise(v1, v2, d) > 1e-12;
    for (int step = 0; step < PCA_MAX_STEPS; step++) {
        cov_apply(xc, n, d, v1, w1, tmp);
        cov_apply(xc, n, d, v2, w2, tmp);
        double moved = 0;
        if (orthonormalise(NULL, w1, d) <= 0)
            break;
        has_second = orthonormalise(w1, w2, d) > 1e-12 * sqrt(dot(w1, w1, d));
        moved = fabs(1 - fabs(dot(v1, w1, d))) + (has_second ? fabs(1 - fabs(dot(v2, w2, d))) : 0);
        memcpy(v1, w1, d * sizeof *v1);
        if (has_second)
            memcpy(v2, w2, d * sizeof *v2);
        if (moved < 1e-13)
            break;
    }
    /* Rayleigh-Ritz in span(v1, v2): the 2 x 2 projected covariance. */
    double a = 0, b = 0, c = 0;
    for (size_t r = 0; r < n; r++) {
        double p = dot(xc + r * d, v1, d), q = has_second ? dot(xc + r * d, v2, d) : 0;
        a += p * p, b += p * q, c += q * q;
    }
    double theta = 0.5 * atan2(2 * b, a - c), ct = cos(theta), st = sin(theta);
    for (size_t r = 0; r < n; r++) {
        double p = dot(xc + r * d, v1, d), q = has_second ? dot(xc + r * d, v2, d) : 0;
        xy[2 * r] = ct * p + st * q;
        xy[2 * r + 1] = -st * p + ct * q;
    }
    for (int k = 0; k < 2; k++) {
        double far = 0, var = 0;
        for (size_t r = 0; r < n; r++) {
            var += xy[2 * r + k] * xy[2 * r + k];
            if (fabs(xy[2 * r + k]) > fabs(far) + 1e-12)
                far = xy[2 * r + k];
        }
        if (far < 0)
            for (size_t r = 0; r < n; r++)
                xy[2 * r + k] = -xy[2 * r + k];
        if (variance)
            variance[k] = var / (double)n;
    }
    free(xc), free(v), free(w), free(tmp), free(mean);
    return 0;
}
