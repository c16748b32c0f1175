/* dnnl_matmul.c - oneDNN matmul with bias and a fused epilogue, runtime M or fixed tiles.
 *
 * Memory objects for src and dst are made per call (cheap, no allocation of
 * data); in tile mode one pair serves every tile, moved by set_data_handle. */
#include "model/dnnl_matmul.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int segstream_dnnl_check(dnnl_status_t s, const char *what, segstream_err *err)
{
    return s == dnnl_success ? 0 : segstream_err_set(err, "oneDNN %s failed (status %d)", what, (int)s);
}

static int check(dnnl_status_t s, const char *what, segstream_err *err)
{
    return segstream_dnnl_check(s, what, err);
}

int segstream_dnnl_wrap(dnnl_memory_t *mem, dnnl_engine_t engine, int rows, int cols, dnnl_data_type_t type,
                        const void *data, const char *what, segstream_err *err)
{
    dnnl_dims_t dims = {rows, cols};
    dnnl_memory_desc_t md;
    *mem = NULL;
    if (check(dnnl_memory_desc_init_by_tag(&md, 2, dims, type, dnnl_ab), "memory desc", err) ||
        check(dnnl_memory_create(mem, &md, engine, (void *)data), "memory", err))
        return segstream_err_prefix(err, "%s %dx%d", what, rows, cols);
    return 0;
}

int segstream_dnnl_execute(dnnl_primitive_t prim, dnnl_stream_t stream, int nargs, const dnnl_exec_arg_t *args,
                           segstream_err *err)
{
    return check(dnnl_primitive_execute(prim, stream, nargs, args), "execute", err) ||
                   check(dnnl_stream_wait(stream), "stream wait", err)
               ? -1
               : 0;
}

int segstream_dnnl_matmul_create(dnnl_primitive_t *prim, dnnl_engine_t engine, const dnnl_memory_desc_t *src_md,
                                 const dnnl_memory_desc_t *w_md, const dnnl_memory_desc_t *bias_md,
                                 const dnnl_memory_desc_t *dst_md, const_dnnl_primitive_attr_t attr,
                                 segstream_err *err)
{
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd = NULL;
    *prim = NULL;
    const int rc = check(dnnl_matmul_desc_init(&desc, src_md, w_md, bias_md, dst_md), "matmul desc", err) ||
                           check(dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL),
                                 "matmul primitive desc", err) ||
                           check(dnnl_primitive_create(prim, pd), "matmul primitive", err)
                       ? -1
                       : 0;
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return rc;
}

int segstream_matmul_init(segstream_matmul *mm, dnnl_engine_t engine, int k, int n,
                          segstream_matmul_epilogue epilogue, int bf16, int tile, segstream_err *err)
{
    mm->prim = NULL;
    mm->k = k;
    mm->n = n;
    mm->tile = tile > 0 ? tile : 0;
    mm->epilogue = epilogue;
    const dnnl_dim_t m = mm->tile ? mm->tile : DNNL_RUNTIME_DIM_VAL;
    dnnl_dims_t src_dims = {m, k}, w_dims = {k, n}, b_dims = {1, n}, dst_dims = {m, n};
    dnnl_memory_desc_t src_md, w_md, b_md, dst_md;
    if (check(dnnl_memory_desc_init_by_tag(&src_md, 2, src_dims, dnnl_f32, dnnl_ab), "src md", err) ||
        check(dnnl_memory_desc_init_by_tag(&w_md, 2, w_dims, dnnl_f32, dnnl_ab), "weights md", err) ||
        check(dnnl_memory_desc_init_by_tag(&b_md, 2, b_dims, dnnl_f32, dnnl_ab), "bias md", err) ||
        check(dnnl_memory_desc_init_by_tag(&dst_md, 2, dst_dims, dnnl_f32, dnnl_ab), "dst md", err))
        return -1;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    int rc = -1;
    if (check(dnnl_primitive_attr_create(&attr), "attr", err) ||
        check(dnnl_post_ops_create(&ops), "post-ops", err))
        goto out;
    if (epilogue == SEGSTREAM_MATMUL_BIAS_GELU &&
        check(dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_gelu_erf, 0.0f, 0.0f), "gelu post-op", err))
        goto out;
    if (epilogue == SEGSTREAM_MATMUL_BIAS_ADD &&
        check(dnnl_post_ops_append_sum(ops, 1.0f), "sum post-op", err))
        goto out;
    if (check(dnnl_primitive_attr_set_post_ops(attr, ops), "set post-ops", err) ||
        (bf16 && check(dnnl_primitive_attr_set_fpmath_mode(attr, dnnl_fpmath_mode_bf16), "bf16 fpmath", err)))
        goto out;
    if (segstream_dnnl_matmul_create(&mm->prim, engine, &src_md, &w_md, &b_md, &dst_md, attr, err))
        goto out;
    rc = 0;
out:
    if (ops)
        dnnl_post_ops_destroy(ops);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (rc)
        segstream_err_prefix(err, "matmul %dx%d", k, n);
    return rc;
}

void segstream_matmul_destroy(segstream_matmul *mm)
{
    if (mm->prim)
        dnnl_primitive_destroy(mm->prim);
    mm->prim = NULL;
}

int segstream_matmul_weights_init(segstream_matmul_weights *wts, const segstream_matmul *mm,
                                  dnnl_engine_t engine, const float *w, const float *b,
                                  segstream_err *err)
{
    if (segstream_dnnl_wrap(&wts->w, engine, mm->k, mm->n, dnnl_f32, w, "weights", err) ||
        segstream_dnnl_wrap(&wts->b, engine, 1, mm->n, dnnl_f32, b, "bias", err)) {
        segstream_matmul_weights_destroy(wts);
        return -1;
    }
    return 0;
}

void segstream_matmul_weights_destroy(segstream_matmul_weights *wts)
{
    if (wts->w)
        dnnl_memory_destroy(wts->w);
    if (wts->b)
        dnnl_memory_destroy(wts->b);
    wts->w = wts->b = NULL;
}

int segstream_matmul_padded_rows(const segstream_matmul *mm, int m)
{
    return mm->tile ? (m + mm->tile - 1) / mm->tile * mm->tile : m;
}

int segstream_matmul_run(const segstream_matmul *mm, const segstream_matmul_weights *wts,
                         dnnl_engine_t engine, dnnl_stream_t stream, const float *src, int m,
                         float *dst, segstream_err *err)
{
    const int rows = mm->tile ? mm->tile : m, calls = mm->tile ? (m + mm->tile - 1) / mm->tile : 1;
    dnnl_memory_t src_mem = NULL, dst_mem = NULL;
    int rc = -1;
    if (segstream_dnnl_wrap(&src_mem, engine, rows, mm->k, dnnl_f32, src, "src", err) ||
        segstream_dnnl_wrap(&dst_mem, engine, rows, mm->n, dnnl_f32, dst, "dst", err))
        goto out;
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, src_mem}, {DNNL_ARG_WEIGHTS, wts->w}, {DNNL_ARG_BIAS, wts->b}, {DNNL_ARG_DST, dst_mem}};
    for (int c = 0; c < calls; c++) {
        const size_t row0 = (size_t)c * (size_t)rows;
        if ((c && (check(dnnl_memory_set_data_handle(src_mem, (void *)(src + row0 * (size_t)mm->k)),
                         "src handle", err) ||
                   check(dnnl_memory_set_data_handle(dst_mem, dst + row0 * (size_t)mm->n), "dst handle",
                         err))) ||
            segstream_dnnl_execute(mm->prim, stream, 4, args, err))
            goto out;
    }
    rc = 0;
out:
    if (src_mem)
        dnnl_memory_destroy(src_mem);
    if (dst_mem)
        dnnl_memory_destroy(dst_mem);
    return rc;
}

int segstream_matmul_check_rows(const segstream_matmul *mm, const segstream_matmul_weights *wts,
                                dnnl_engine_t engine, dnnl_stream_t stream, segstream_err *err)
{
    const size_t t = (size_t)mm->tile, k = (size_t)mm->k, n = (size_t)mm->n;
    float *src = malloc(t * k * sizeof *src), *dst = malloc(t * n * sizeof *dst);
    int rc = -1;
    if (!src || !dst) {
        segstream_err_set(err, "out of memory");
        goto out;
    }
    /* values of activation size, in [-2, 2): a fixed LCG, the same on every run */
    uint32_t s = 12345;
    for (size_t j = 0; j < k; j++) {
        s = s * 1664525u + 1013904223u;
        src[j] = (float)(s >> 8) / (float)(1 << 22) - 2.0f;
    }
    for (size_t j = 0; j < n; j++) {
        s = s * 1664525u + 1013904223u;
        dst[j] = (float)(s >> 8) / (float)(1 << 22) - 2.0f;
    }
    for (size_t i = 1; i < t; i++) {
        memcpy(src + i * k, src, k * sizeof *src);
        memcpy(dst + i * n, dst, n * sizeof *dst);
    }
    if (segstream_matmul_run(mm, wts, engine, stream, src, (int)t, dst, err))
        goto out;
    for (size_t i = 1; i < t; i++)
        if (memcmp(dst + i * n, dst, n * sizeof *dst)) {
            segstream_err_set(err, "oneDNN computes row %zu of a %zu-row tile unlike row 0 on this CPU "
                                   "(%zu x %zu matmul), so batch-invariant results cannot be guaranteed",
                              i, t, k, n);
            goto out;
        }
    rc = 0;
out:
    free(src);
    free(dst);
    return rc;
}
