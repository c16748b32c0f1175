/* int8_gemm.h - pre-packed u8 x s8 -> s32 matrix product for AVX2 and AVX-512 VNNI CPUs.
 *
 * C[M][N] = A[M][K] . W[K][N] in exact 32-bit integer sums, A unsigned codes
 * (row-major), W signed weights of at most 7 bits (|w| <= 63, int8_kernels.h
 * says why: vpmaddubsw adds pairs of products in saturating 16 bits, and
 * 2 * 255 * 63 fits, so every sum is exact). The weights are packed once, at
 * load, into the order the micro-kernel streams them: panels of 16 columns,
 * each a run of K/4 groups of 64 bytes (16 columns x 4 consecutive k), K
 * padded to a multiple of 4 and N to a multiple of 16 with zero weights.
 * oneDNN 2.6's AVX2 int8 gemm repacks W on every call, which for the 16-row
 * calls of one short text costs about as much as the products.
 *
 * Integer sums are exact, so the result is bit-identical to any other exact
 * u8 x s8 -> s32 product (oneDNN's included) whatever the thread split. */
#ifndef SEGSTREAM_MODEL_INT8_GEMM_H
#define SEGSTREAM_MODEL_INT8_GEMM_H

#include "common/err.h"

#include <stdint.h>

/* W packed for the micro-kernel; opaque layout, see above. */
typedef struct segstream_int8_packed {
    int8_t *panels; /* NULL until pack succeeds; [N/16 rounded up][K/4 rounded up][16][4] */
    int k, n;
    int vnni; /* the kernel that runs it, chosen by segstream_int8_gemm_pack */
} segstream_int8_packed;

/* 1 if this CPU runs the kernel (AVX2), else 0: callers then keep another path. */
int segstream_int8_gemm_supported(void);

/* The kernel weights packed now would run on: "avx512-vnni" (vpdpbusd,
 * AVX-512F + VNNI, unless the environment sets SEGSTREAM_INT8_GEMM=avx2),
 * "avx2", or "none". Same bits either way; for logs and benchmarks. */
const char *segstream_int8_gemm_kernel(void);

/* Packs w ([K][N] row-major, |w[i]| <= 63, not kept) into p, which owns the
 * copy until segstream_int8_gemm_free. Any K, N >= 1. */
int segstream_int8_gemm_pack(segstream_int8_packed *p, const int8_t *w, int k, int n, segstream_err *err);
void segstream_int8_gemm_free(segstream_int8_packed *p);

/* W[i][j] as packed (for exactness checks against a plain product). */
int8_t segstream_int8_gemm_weight(const segstream_int8_packed *p, int i, int j);

/* c[m][N] = a[m][K] . W, exactly; row strides K and N. Splits the columns
 * over up to max_threads OpenMP threads when the product is large enough to
 * pay for the fork (any split gives the same bits). Requires
 * segstream_int8_gemm_supported(). Reentrant: p is only read. */
void segstream_int8_gemm_run(const segstream_int8_packed *p, const uint8_t *a, int m, int32_t *c,
                             int max_threads);

#endif
