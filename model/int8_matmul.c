/* int8_matmul.c - quantized linear layer on the packed kernel (AVX2 or VNNI) or oneDNN's u8 x s8 -> s32 matmul.
 *
 * Weights are quantized with lrintf at init (once, not hot), then packed
 * (int8_gemm.h) or wrapped for oneDNN; activations per call by
 * int8_kernels.c. On the oneDNN path memory objects for codes and
 * accumulators are made per call (cheap: no data allocated). */
#include "model/int8_matmul.h"

#include "model/int8_kernels.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

static int check(dnnl_status_t s, const char *what, segstream_err *err)
{
    return segstream_dnnl_check(s, what, err);
}

static void *alloc64(size_t bytes)
{
    return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
}

/* The packed kernel unless the CPU lacks AVX2 or the environment asks for oneDNN. */
static int use_packed(void)
{
    const char *env = getenv("SEGSTREAM_INT8_GEMM");
    return segstream_int8_gemm_supported() && !(env && strcmp(env, "onednn") == 0);
}

int segstream_int8_matmul_init(segstream_int8_matmul *mm, dnnl_engine_t engine, int k, int n,
                               segstream_err *err)
{
    mm->prim = NULL;
    mm->packed = use_packed();
    mm->k = k;
    mm->n = n;
    if (mm->packed)
        return 0;
    dnnl_dims_t src_dims = {DNNL_RUNTIME_DIM_VAL, k}, w_dims = {k, n}, dst_dims = {DNNL_RUNTIME_DIM_VAL, n};
    dnnl_memory_desc_t src_md, w_md, dst_md;
    if (check(dnnl_memory_desc_init_by_tag(&src_md, 2, src_dims, dnnl_u8, dnnl_ab), "src md", err) ||
        check(dnnl_memory_desc_init_by_tag(&w_md, 2, w_dims, dnnl_s8, dnnl_ab), "weights md", err) ||
        check(dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_dims, dnnl_s32, dnnl_ab), "dst md", err) ||
        segstream_dnnl_matmul_create(&mm->prim, engine, &src_md, &w_md, NULL, &dst_md, NULL, err))
        return segstream_err_prefix(err, "int8 matmul %dx%d", k, n);
    return 0;
}

void segstream_int8_matmul_destroy(segstream_int8_matmul *mm)
{
    if (mm->prim)
        dnnl_primitive_destroy(mm->prim);
    mm->prim = NULL;
}

/* w's quantized copy into q (same layout), its scales and column sums into wts. */
static void quantize_weights(segstream_int8_weights *wts, const float *w, size_t k, size_t n, int8_t *q)
{
    for (size_t j = 0; j < n; j++)
        wts->wscale[j] = 0.0f;
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < n; j++)
            wts->wscale[j] = fmaxf(wts->wscale[j], fabsf(w[i * n + j]));
    for (size_t j = 0; j < n; j++) {
        wts->wscale[j] = wts->wscale[j] > 0.0f ? wts->wscale[j] / (float)SEGSTREAM_INT8_WEIGHT_MAX : 1.0f;
        wts->colsum[j] = 0;
    }
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < n; j++) {
            long v = lrintf(w[i * n + j] / wts->wscale[j]);
            v = v > SEGSTREAM_INT8_WEIGHT_MAX ? SEGSTREAM_INT8_WEIGHT_MAX
                : v < -SEGSTREAM_INT8_WEIGHT_MAX ? -SEGSTREAM_INT8_WEIGHT_MAX
                                                 : v;
            q[i * n + j] = (int8_t)v;
            wts->colsum[j] += (int32_t)v;
        }
}

int segstream_int8_weights_init(segstream_int8_weights *wts, const segstream_int8_matmul *mm,
                                dnnl_engine_t engine, const float *w, const float *b, segstream_err *err)
{
    const size_t k = (size_t)mm->k, n = (size_t)mm->n;
    memset(wts, 0, sizeof *wts);
    wts->b = b;
    int8_t *q = alloc64(k * n);
    wts->wscale = alloc64(n * sizeof *wts->wscale);
    wts->colsum = alloc64(n * sizeof *wts->colsum);
    if (!q || !wts->wscale || !wts->colsum) {
        free(q);
        segstream_int8_weights_destroy(wts);
        return segstream_err_set(err, "out of memory for int8 weights %zux%zu", k, n);
    }
    quantize_weights(wts, w, k, n, q);
    if (mm->packed) {
        const int rc = segstream_int8_gemm_pack(&wts->packed, q, mm->k, mm->n, err);
        free(q);
        if (rc)
            segstream_int8_weights_destroy(wts);
        return rc;
    }
    wts->w = q;
    if (segstream_dnnl_wrap(&wts->mem, engine, mm->k, mm->n, dnnl_s8, wts->w, "int8 weights", err)) {
        segstream_int8_weights_destroy(wts);
        return -1;
    }
    return 0;
}

void segstream_int8_weights_destroy(segstream_int8_weights *wts)
{
    if (wts->mem)
        dnnl_memory_destroy(wts->mem);
    segstream_int8_gemm_free(&wts->packed);
    free(wts->w);
    free(wts->wscale);
    free(wts->colsum);
    memset(wts, 0, sizeof *wts);
}

int segstream_int8_scratch_reserve(segstream_int8_scratch *s, int m, int max_k, int max_n,
                                   segstream_err *err)
{
    const size_t rows = (size_t)m, codes = rows * (size_t)max_k, acc = rows * (size_t)max_n;
    if (codes > s->cap_codes) {
        free(s->codes);
        s->codes = alloc64(codes);
        s->cap_codes = s->codes ? codes : 0;
    }
    if (acc > s->cap_acc) {
        free(s->acc);
        s->acc = alloc64(acc * sizeof *s->acc);
        s->cap_acc = s->acc ? acc : 0;
    }
    if (rows > s->cap_rows) {
        free(s->scale);
        free(s->zero);
        s->scale = alloc64(rows * sizeof *s->scale);
        s->zero = alloc64(rows * sizeof *s->zero);
        s->cap_rows = s->scale && s->zero ? rows : 0;
    }
    if (s->cap_codes < codes || s->cap_acc < acc || s->cap_rows < rows)
        return segstream_err_set(err, "out of memory for int8 scratch of %d rows", m);
    return 0;
}

void segstream_int8_scratch_free(segstream_int8_scratch *s)
{
    free(s->codes);
    free(s->acc);
    free(s->scale);
    free(s->zero);
    memset(s, 0, sizeof *s);
}

/* acc[m][N] = codes[m][K] . w, exactly. */
static int integer_matmul(const segstream_int8_matmul *mm, const segstream_int8_weights *wts,
                          dnnl_engine_t engine, dnnl_stream_t stream, const uint8_t *codes, int m,
                          int32_t *acc, segstream_err *err)
{
    if (mm->packed) {
        segstream_int8_gemm_run(&wts->packed, codes, m, acc, omp_get_max_threads());
        return 0;
    }
    dnnl_memory_t src_mem = NULL, dst_mem = NULL;
    int rc = segstream_dnnl_wrap(&src_mem, engine, m, mm->k, dnnl_u8, codes, "codes", err) ||
             segstream_dnnl_wrap(&dst_mem, engine, m, mm->n, dnnl_s32, acc, "accumulators", err);
    if (!rc) {
        dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, wts->mem}, {DNNL_ARG_DST, dst_mem}};
        rc = segstream_dnnl_execute(mm->prim, stream, 3, args, err);
    }
    if (src_mem)
        dnnl_memory_destroy(src_mem);
    if (dst_mem)
        dnnl_memory_destroy(dst_mem);
    return rc ? segstream_err_prefix(err, "int8 matmul %dx%d", mm->k, mm->n) : 0;
}

int segstream_int8_matmul_run(const segstream_int8_matmul *mm, const segstream_int8_weights *wts,
                              dnnl_engine_t engine, dnnl_stream_t stream, segstream_int8_scratch *s,
                              const float *src, int m, segstream_matmul_epilogue epilogue, float *dst,
                              segstream_err *err)
{
    segstream_int8_quantize_rows(src, m, mm->k, s->codes, s->scale, s->zero);
    if (integer_matmul(mm, wts, engine, stream, s->codes, m, s->acc, err))
        return -1;
    const segstream_int8_output out = epilogue == SEGSTREAM_MATMUL_BIAS_GELU  ? SEGSTREAM_INT8_GELU
                                      : epilogue == SEGSTREAM_MATMUL_BIAS_ADD ? SEGSTREAM_INT8_ADD
                                                                              : SEGSTREAM_INT8_SET;
    segstream_int8_dequantize_rows(s->acc, m, mm->n, s->scale, s->zero, wts->colsum, wts->wscale, wts->b, out,
                                   dst);
    return 0;
}

int segstream_int8_matmul_check_exact(const segstream_int8_matmul *mm, const segstream_int8_weights *wts,
                                      dnnl_engine_t engine, dnnl_stream_t stream,
                                      segstream_int8_scratch *s, segstream_err *err)
{
    const int m = SEGSTREAM_INT8_CHECK_ROWS;
    const size_t k = (size_t)mm->k, n = (size_t)mm->n;
    uint32_t r = 12345; /* a fixed LCG: the same codes on every run */
    for (size_t i = 0; i < (size_t)m * k; i++) {
        r = r * 1664525u + 1013904223u;
        s->codes[i] = (uint8_t)((r >> 16) % (SEGSTREAM_INT8_CODE_MAX + 1));
    }
    memset(s->codes, SEGSTREAM_INT8_CODE_MAX, k); /* row 0 and the last: the largest pair sums */
    memset(s->codes + (size_t)(m - 1) * k, SEGSTREAM_INT8_CODE_MAX, k);
    if (integer_matmul(mm, wts, engine, stream, s->codes, m, s->acc, err))
        return -1;
    int64_t *exact = calloc((size_t)m * n, sizeof *exact);
    int8_t *row = malloc(n);
    int rc = 0;
    if (!exact || !row)
        rc = segstream_err_set(err, "out of memory");
    for (size_t c = 0; !rc && c < k; c++) {
        for (size_t j = 0; j < n; j++)
            row[j] = mm->packed ? segstream_int8_gemm_weight(&wts->packed, (int)c, (int)j) : wts->w[c * n + j];
        for (size_t i = 0; i < (size_t)m; i++)
            for (size_t j = 0; j < n; j++)
                exact[i * n + j] += (int64_t)s->codes[i * k + c] * row[j];
    }
    for (size_t i = 0; !rc && i < (size_t)m * n; i++)
        if (exact[i] != s->acc[i])
            rc = segstream_err_set(err, "the %s int8 matmul (%zux%zu) is not exact on this CPU "
                                        "(row %zu, column %zu: %d, exact %lld)",
                                   !mm->packed ? "oneDNN" : wts->packed.vnni ? "packed VNNI" : "packed AVX2", k, n,
                                   i / n, i % n, (int)s->acc[i],
                                   (long long)exact[i]);
    free(exact);
    free(row);
    return rc;
}
