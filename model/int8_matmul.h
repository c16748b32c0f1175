/* int8_matmul.h - a linear layer in int8: fp32 rows in, fp32 rows out, integer matmul between.
 *
 * dst = epilogue(src . W + b) as in dnnl_matmul.h, computed as: each src
 * row quantized to 8-bit codes with its own scale and zero point
 * (int8_kernels.h), W quantized once at init to s8 (7 bits used, see
 * int8_kernels.h), symmetric, one scale per output column, the codes multiplied on oneDNN's u8 x s8 -> s32 matmul
 * (runtime M: one primitive for every token count), then one pass that
 * removes the zero point, rescales per row and column, adds the bias and
 * applies GELU or the residual sum. u8 source rather than s8: oneDNN's s8
 * source on AVX2 adds 128 and corrects with weight sums on every call,
 * 4-5x slower for 16-row calls on the dev box; the zero point costs us one
 * multiply-add per output, the correction being precomputed column sums.
 *
 * The integer products are exact and accumulated in 32 bits (checked on the
 * real weights at init: segstream_int8_matmul_check_exact), so a row's output
 * depends on that row alone, whatever the batch, its size or the algorithm
 * oneDNN picks for it: batch invariance needs no fixed tiles. */
#ifndef SEGSTREAM_MODEL_INT8_MATMUL_H
#define SEGSTREAM_MODEL_INT8_MATMUL_H

#include "common/err.h"
#include "model/dnnl_matmul.h"
#include "model/int8_gemm.h"

#include <dnnl.h>
#include <stdint.h>

/* One K x N shape: the kernel that runs it (oneDNN's primitive or int8_gemm.h). */
typedef struct segstream_int8_matmul {
    dnnl_primitive_t prim; /* oneDNN path: NULL until init succeeds; NULL on the packed path */
    int packed;            /* != 0: int8_gemm.h's kernel */
    int k, n;
} segstream_int8_matmul;

/* One use of a shape: its quantized weights (owned) and bias (borrowed). */
typedef struct segstream_int8_weights {
    segstream_int8_packed packed; /* packed path: the s8 weights */
    int8_t *w;                    /* oneDNN path: [K][N]; NULL on the packed path */
    dnnl_memory_t mem;            /* oneDNN path: wraps w */
    float *wscale;                /* [N]: W[k][j] ~ w[k][j] * wscale[j] */
    int32_t *colsum;              /* [N]: sum over k of w[k][j] */
    const float *b;               /* [N] */
} segstream_int8_weights;

/* Per-call buffers, grown on demand; one per forward-pass owner. */
typedef struct segstream_int8_scratch {
    uint8_t *codes; /* [rows][max K] */
    int32_t *acc;   /* [rows][max N] */
    float *scale;   /* [rows] */
    int32_t *zero;  /* [rows] */
    size_t cap_codes, cap_acc, cap_rows;
} segstream_int8_scratch;

/* Sets up K x N (u8 codes x s8 weights -> s32): the packed kernel (VNNI or
 * AVX2, int8_gemm.h) where the CPU has AVX2 and SEGSTREAM_INT8_GEMM is not
 * "onednn", else oneDNN's primitive. */
int segstream_int8_matmul_init(segstream_int8_matmul *mm, dnnl_engine_t engine, int k, int n,
                               segstream_err *err);
void segstream_int8_matmul_destroy(segstream_int8_matmul *mm);

/* Quantizes w ([K][N] floats, not kept) into wts; b ([N]) is borrowed and
 * must outlive wts. */
int segstream_int8_weights_init(segstream_int8_weights *wts, const segstream_int8_matmul *mm,
                                dnnl_engine_t engine, const float *w, const float *b, segstream_err *err);
void segstream_int8_weights_destroy(segstream_int8_weights *wts);

/* Makes room for m rows of shapes up to max_k x max_n. */
int segstream_int8_scratch_reserve(segstream_int8_scratch *s, int m, int max_k, int max_n,
                                   segstream_err *err);
void segstream_int8_scratch_free(segstream_int8_scratch *s);

/* dst = epilogue(src . W + b) for m rows (row strides K and N), synchronously,
 * on up to omp_get_max_threads() threads.
 * For BIAS_ADD, src and dst must not overlap. The scratch must hold m rows. */
int segstream_int8_matmul_run(const segstream_int8_matmul *mm, const segstream_int8_weights *wts,
                              dnnl_engine_t engine, dnnl_stream_t stream, segstream_int8_scratch *s,
                              const float *src, int m, segstream_matmul_epilogue epilogue, float *dst,
                              segstream_err *err);

/* Runs the integer matmul on pseudo-random codes (all-255 rows among them,
 * the worst case for saturation) and fails unless every s32 result equals
 * the exact sum, i.e. unless the int8 kernel in use is exact on this CPU. Needs scratch
 * for SEGSTREAM_INT8_CHECK_ROWS rows. */
#define SEGSTREAM_INT8_CHECK_ROWS 13
int segstream_int8_matmul_check_exact(const segstream_int8_matmul *mm, const segstream_int8_weights *wts,
                                      dnnl_engine_t engine, dnnl_stream_t stream,
                                      segstream_int8_scratch *s, segstream_err *err);

#endif
