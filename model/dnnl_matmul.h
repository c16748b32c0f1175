/* dnnl_matmul.h - one oneDNN matmul primitive serving every token count.
 *
 * dst[M][N] = epilogue(src[M][K] . W + bias), W row-major [K][N] (oneDNN
 * "ab"; bert_weights.h says why not nn.Linear's [N][K]). M is a runtime
 * dimension (DNNL_RUNTIME_DIM_VAL): the batch's token count changes every
 * call, and one primitive created at load serves them all; on the AVX2 dev
 * box this measured as fast as primitives made for a fixed M (both run
 * oneDNN's gemm:jit), without a per-shape cache or its creation stalls. */
#ifndef SEGSTREAM_MODEL_DNNL_MATMUL_H
#define SEGSTREAM_MODEL_DNNL_MATMUL_H

#include "common/err.h"

#include <dnnl.h>

typedef enum segstream_matmul_epilogue {
    SEGSTREAM_MATMUL_BIAS = 0,      /* dst = src.W + b */
    SEGSTREAM_MATMUL_BIAS_GELU = 1, /* dst = gelu_erf(src.W + b) */
    SEGSTREAM_MATMUL_BIAS_ADD = 2,  /* dst += src.W + b (a residual connection, in place) */
} segstream_matmul_epilogue;

typedef struct segstream_matmul {
    dnnl_primitive_t prim; /* NULL until init succeeds */
    int k, n;
} segstream_matmul;

/* The weights and bias of one use of a matmul shape (e.g. one layer's FFN up). */
typedef struct segstream_matmul_weights {
    dnnl_memory_t w, b;
} segstream_matmul_weights;

/* Creates the primitive for K x N with the given epilogue. bf16 != 0 allows
 * oneDNN to compute in bf16 where the CPU supports it (fpmath mode). */
int segstream_matmul_init(segstream_matmul *mm, dnnl_engine_t engine, int k, int n,
                          segstream_matmul_epilogue epilogue, int bf16, segstream_err *err);
void segstream_matmul_destroy(segstream_matmul *mm);

/* Wraps w ([K][N] floats) and b ([N]) without copying; they must outlive wts. */
int segstream_matmul_weights_init(segstream_matmul_weights *wts, const segstream_matmul *mm,
                                  dnnl_engine_t engine, const float *w, const float *b,
                                  segstream_err *err);
void segstream_matmul_weights_destroy(segstream_matmul_weights *wts);

/* Runs dst = epilogue(src . W + b) for m rows (row strides K and N), synchronously. */
int segstream_matmul_run(const segstream_matmul *mm, const segstream_matmul_weights *wts,
                         dnnl_engine_t engine, dnnl_stream_t stream, const float *src, int m,
                         float *dst, segstream_err *err);

#endif
