/* report_pca.h - the first two principal components of a few vectors, for
 * the segment map of `segstream report`.
 *
 * Subspace iteration on the covariance, applied as Xc^T (Xc v) so the d x d
 * matrix is never formed (n segments x d dims, d = 384 for MiniLM): 2nd
 * flops a step, exact enough for a picture after a few hundred steps, and
 * deterministic (fixed start, fixed order of sums). Thread-safe: no state. */
#ifndef SEGSTREAM_CONSUMER_REPORT_PCA_H
#define SEGSTREAM_CONSUMER_REPORT_PCA_H

#include "common/err.h"

#include <stddef.h>

/* Projects the n rows of x (n x d floats, row-major) onto their first two
 * principal axes (after centring) and writes the coordinates to xy (n x 2,
 * row-major: x then y). Component 1 has the larger variance. Signs are fixed
 * so that the row farthest along each axis gets a positive coordinate. With
 * n < 2 or all rows equal the coordinates are 0; a degenerate second axis
 * gives y = 0. variance (may be NULL) gets the two variances (eigenvalues of
 * the covariance, divided by n). Returns 0, or -1 with err when out of
 * memory. The caller owns x and xy. */
int segstream_pca2(const float *x, size_t n, size_t d, double *xy, double variance[2], segstream_err *err);

#endif
