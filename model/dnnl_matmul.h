/* dnnl_matmul.h - one oneDNN matmul primitive serving every token count.
 *
 * dst[M][N] = epilogue(src[M][K] . W + bias), W row-major [K][N] (oneDNN
 * "ab"; bert_weights.h says why not nn.Linear's [N][K]). Two modes:
 *
 * - runtime M (tile 0): M is DNNL_RUNTIME_DIM_VAL, one call covers all rows.
 *   The batch's token count changes every call and one primitive created at
 *   load serves them all; on the AVX2 dev box as fast as fixed-M primitives.
 *   But oneDNN's sgemm picks its algorithm from the shape (copy or no-copy
 *   kernels, K blocking, thread partition, narrower kernels for the last 1-3
 *   rows of a 6-row block), so a row's result can change in its last bits
 *   with M: measured on the dev box, for every M % 6 in 1..3, and for all
 *   rows of K = 1536 between M <= 600 and M >= 1000.
 * - fixed tiles (tile > 0): the primitive is made for M = tile and run tile
 *   after tile, the last one padded. Every row then goes through one shape,
 *   hence one algorithm, whatever the batch: the basis of batch invariance.
 *   What remains - a row's result must not depend on its position in the tile
 *   (a tail kernel, a thread boundary off the kernel's unroll) - is checked
 *   on the real weights by segstream_matmul_check_rows. */
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
    int tile; /* 0: runtime M; > 0: rows of the primitive's fixed M */
    segstream_matmul_epilogue epilogue;
} segstream_matmul;

/* The weights and bias of one use of a matmul shape (e.g. one layer's FFN up). */
typedef struct segstream_matmul_weights {
    dnnl_memory_t w, b;
} segstream_matmul_weights;

/* 0 if s is dnnl_success, else err = "oneDNN WHAT failed (status S)" and -1. */
int segstream_dnnl_check(dnnl_status_t s, const char *what, segstream_err *err);

/* *mem = a row-major rows x cols matrix of `type` over data, not copied
 * (oneDNN takes non-const handles; read-only data is never written through
 * a source or weights argument). The caller destroys *mem. */
int segstream_dnnl_wrap(dnnl_memory_t *mem, dnnl_engine_t engine, int rows, int cols, dnnl_data_type_t type,
                        const void *data, const char *what, segstream_err *err);

/* Executes prim with args on stream and waits for it. */
int segstream_dnnl_execute(dnnl_primitive_t prim, dnnl_stream_t stream, int nargs, const dnnl_exec_arg_t *args,
                           segstream_err *err);

/* Creates a matmul primitive into *prim from the descriptors (bias_md may be
 * NULL; attr may be NULL for the defaults). The caller owns *prim. */
int segstream_dnnl_matmul_create(dnnl_primitive_t *prim, dnnl_engine_t engine, const dnnl_memory_desc_t *src_md,
                                 const dnnl_memory_desc_t *w_md, const dnnl_memory_desc_t *bias_md,
                                 const dnnl_memory_desc_t *dst_md, const_dnnl_primitive_attr_t attr,
                                 segstream_err *err);

/* Creates the primitive for K x N with the given epilogue. bf16 != 0 allows
 * oneDNN to compute in bf16 where the CPU supports it (fpmath mode). tile:
 * 0 for runtime M, else the fixed rows of each call (see above). */
int segstream_matmul_init(segstream_matmul *mm, dnnl_engine_t engine, int k, int n,
                          segstream_matmul_epilogue epilogue, int bf16, int tile, segstream_err *err);
void segstream_matmul_destroy(segstream_matmul *mm);

/* Wraps w ([K][N] floats) and b ([N]) without copying; they must outlive wts. */
int segstream_matmul_weights_init(segstream_matmul_weights *wts, const segstream_matmul *mm,
                                  dnnl_engine_t engine, const float *w, const float *b,
                                  segstream_err *err);
void segstream_matmul_weights_destroy(segstream_matmul_weights *wts);

/* Rows that src and dst of a run over m rows must hold: m rounded up to the tile. */
int segstream_matmul_padded_rows(const segstream_matmul *mm, int m);

/* Runs dst = epilogue(src . W + b) for m rows (row strides K and N), synchronously.
 * In tile mode the padding rows m .. segstream_matmul_padded_rows(m) - 1 are
 * computed too: src's (and for BIAS_ADD dst's) must hold finite values, which
 * cannot change the other rows; dst's are overwritten. */
int segstream_matmul_run(const segstream_matmul *mm, const segstream_matmul_weights *wts,
                         dnnl_engine_t engine, dnnl_stream_t stream, const float *src, int m,
                         float *dst, segstream_err *err);

/* Tile mode: runs one tile whose rows are all the same pseudo-random row
 * (for BIAS_ADD, dst's rows too) and fails unless every output row is bit
 * for bit the same, i.e. unless oneDNN computes each row position of the
 * tile alike on this CPU with this thread count. */
int segstream_matmul_check_rows(const segstream_matmul *mm, const segstream_matmul_weights *wts,
                                dnnl_engine_t engine, dnnl_stream_t stream, segstream_err *err);

#endif
