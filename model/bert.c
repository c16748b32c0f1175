/* bert.c - the BERT encoder stack on oneDNN matmuls and the kernels of bert_kernels.c.
 *
 * Per layer, on the packed [T, H] activations x:
 *   qkv = x . Wqkv + bqkv                     one fused matmul, [T, 3H]
 *   ctx = attention(qkv) per sequence          hand loops, [T, H]
 *   x  += ctx . Wo + bo;    x = LN(x)          sum post-op: the residual costs no pass
 *   f   = gelu(x . W1 + b1)                    eltwise post-op, [T, F]
 *   x  += f . W2 + b2;      x = LN(x)
 * then pooling and L2 normalisation per sequence. In int8 precision the four
 * matmuls are int8_matmul.h's (the epilogues then run in its dequantizing
 * pass) and the fp32 copies of their weights are freed after quantizing. */
#include "model/bert.h"

#include "model/bert_kernels.h"
#include "model/bert_weights.h"
#include "model/dnnl_matmul.h"
#include "model/int8_matmul.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum { MM_QKV, MM_ATTN_OUT, MM_FFN_UP, MM_FFN_DOWN, MM_COUNT };

struct segstream_bert {
    segstream_bert_config cfg;
    int threads; /* > 0 */
    int tile;    /* rows of every matmul call; 0: one runtime-M call over the batch */
    segstream_bert_weights weights;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    segstream_matmul mm[MM_COUNT];
    segstream_matmul_weights *layer_mm; /* [num_layers][MM_COUNT] */
    int int8;                           /* != 0: the int8 members below replace mm and layer_mm */
    segstream_int8_matmul imm[MM_COUNT];
    segstream_int8_weights *layer_imm; /* [num_layers][MM_COUNT] */
    segstream_int8_scratch iscratch;

    /* scratch, grown on demand; capacity in tokens / sequences / floats */
    float *x, *qkv, *ctx, *ffn;
    int *positions;
    int cap_tokens;
    int *starts;
    size_t cap_seqs;
    float *attn_scratch;
    size_t cap_attn;
};

static int check(dnnl_status_t s, const char *what, segstream_err *err)
{
    return s == dnnl_success ? 0 : segstream_err_set(err, "oneDNN %s failed (status %d)", what, (int)s);
}

static void *grow(void *p, size_t bytes)
{
    free(p);
    /* 64-byte aligned rows help oneDNN's kernels; size rounded as aligned_alloc requires */
    return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
}

static const segstream_matmul_epilogue epilogues[MM_COUNT] = {
    [MM_QKV] = SEGSTREAM_MATMUL_BIAS,
    [MM_ATTN_OUT] = SEGSTREAM_MATMUL_BIAS_ADD,
    [MM_FFN_UP] = SEGSTREAM_MATMUL_BIAS_GELU,
    [MM_FFN_DOWN] = SEGSTREAM_MATMUL_BIAS_ADD,
};

static int build_int8(segstream_bert *b, segstream_err *err)
{
    const segstream_bert_config *c = &b->cfg;
    const int h = c->hidden_size, f = c->intermediate_size;
    if (segstream_int8_matmul_init(&b->imm[MM_QKV], b->engine, h, 3 * h, err) ||
        segstream_int8_matmul_init(&b->imm[MM_ATTN_OUT], b->engine, h, h, err) ||
        segstream_int8_matmul_init(&b->imm[MM_FFN_UP], b->engine, h, f, err) ||
        segstream_int8_matmul_init(&b->imm[MM_FFN_DOWN], b->engine, f, h, err))
        return -1;
    b->layer_imm = calloc((size_t)c->num_layers * MM_COUNT, sizeof *b->layer_imm);
    if (!b->layer_imm)
        return segstream_err_set(err, "out of memory");
    for (int i = 0; i < c->num_layers; i++) {
        const segstream_bert_layer *l = &b->weights.layers[i];
        const float *w[MM_COUNT] = {l->qkv_w, l->attn_out_w, l->ffn_up_w, l->ffn_down_w};
        const float *bias[MM_COUNT] = {l->qkv_b, l->attn_out_b, l->ffn_up_b, l->ffn_down_b};
        for (int j = 0; j < MM_COUNT; j++)
            if (segstream_int8_weights_init(&b->layer_imm[(size_t)i * MM_COUNT + j], &b->imm[j], b->engine, w[j],
                                            bias[j], err))
                return -1;
        /* as each layer is converted: the int8 copies reuse its fp32 memory */
        segstream_bert_weights_drop_matmuls(&b->weights, i, 1);
    }
    segstream_bert_weights_drop_matmuls(&b->weights, 0, 0);
    const int widest = f > 3 * h ? f : 3 * h;
    if (segstream_int8_scratch_reserve(&b->iscratch, SEGSTREAM_INT8_CHECK_ROWS, widest, widest, err))
        return -1;
    for (int j = 0; j < MM_COUNT; j++)
        if (segstream_int8_matmul_check_exact(&b->imm[j], &b->layer_imm[j], b->engine, b->stream, &b->iscratch,
                                              err))
            return -1;
    return 0;
}

static int build_primitives(segstream_bert *b, int bf16, segstream_err *err)
{
    const segstream_bert_config *c = &b->cfg;
    const int h = c->hidden_size, f = c->intermediate_size, t = b->tile;
    if (check(dnnl_engine_create(&b->engine, dnnl_cpu, 0), "engine", err) ||
        check(dnnl_stream_create(&b->stream, b->engine, dnnl_stream_default_flags), "stream", err))
        return -1;
    if (b->int8)
        return build_int8(b, err);
    if (segstream_matmul_init(&b->mm[MM_QKV], b->engine, h, 3 * h, SEGSTREAM_MATMUL_BIAS, bf16, t, err) ||
        segstream_matmul_init(&b->mm[MM_ATTN_OUT], b->engine, h, h, SEGSTREAM_MATMUL_BIAS_ADD, bf16, t, err) ||
        segstream_matmul_init(&b->mm[MM_FFN_UP], b->engine, h, f, SEGSTREAM_MATMUL_BIAS_GELU, bf16, t, err) ||
        segstream_matmul_init(&b->mm[MM_FFN_DOWN], b->engine, f, h, SEGSTREAM_MATMUL_BIAS_ADD, bf16, t, err))
        return -1;
    b->layer_mm = calloc((size_t)c->num_layers * MM_COUNT, sizeof *b->layer_mm);
    if (!b->layer_mm)
        return segstream_err_set(err, "out of memory");
    for (int i = 0; i < c->num_layers; i++) {
        const segstream_bert_layer *l = &b->weights.layers[i];
        segstream_matmul_weights *m = &b->layer_mm[(size_t)i * MM_COUNT];
        if (segstream_matmul_weights_init(&m[MM_QKV], &b->mm[MM_QKV], b->engine, l->qkv_w, l->qkv_b, err) ||
            segstream_matmul_weights_init(&m[MM_ATTN_OUT], &b->mm[MM_ATTN_OUT], b->engine, l->attn_out_w,
                                          l->attn_out_b, err) ||
            segstream_matmul_weights_init(&m[MM_FFN_UP], &b->mm[MM_FFN_UP], b->engine, l->ffn_up_w,
                                          l->ffn_up_b, err) ||
            segstream_matmul_weights_init(&m[MM_FFN_DOWN], &b->mm[MM_FFN_DOWN], b->engine, l->ffn_down_w,
                                          l->ffn_down_b, err))
            return -1;
    }
    /* fixed shapes make the algorithm fixed; that each row position of a
     * tile is computed alike depends on the CPU's kernels, so it is checked */
    for (int i = 0; t && i < MM_COUNT; i++)
        if (segstream_matmul_check_rows(&b->mm[i], &b->layer_mm[i], b->engine, b->stream, err))
            return -1;
    return 0;
}

segstream_bert *segstream_bert_open(const char *model_dir, int threads, segstream_bert_precision precision,
                                    int deterministic, segstream_err *err)
{
    segstream_bert *b = calloc(1, sizeof *b);
    if (!b) {
        segstream_err_set(err, "out of memory");
        return NULL;
    }
    b->threads = threads > 0 ? threads : omp_get_num_procs();
    b->int8 = precision == SEGSTREAM_BERT_INT8;
    /* int8 rows are exact integer sums: batch-invariant without tiles */
    b->tile = deterministic && !b->int8 ? SEGSTREAM_BERT_TILE_ROWS : 0;
    omp_set_num_threads(b->threads);
    if (segstream_bert_config_load(model_dir, &b->cfg, err) ||
        segstream_bert_weights_load(model_dir, &b->cfg, &b->weights, err)) {
        free(b);
        return NULL;
    }
    if (build_primitives(b, precision == SEGSTREAM_BERT_BF16, err)) {
        segstream_bert_close(b);
        return NULL;
    }
    return b;
}

void segstream_bert_close(segstream_bert *b)
{
    if (!b)
        return;
    if (b->layer_mm)
        for (size_t i = 0; i < (size_t)b->cfg.num_layers * MM_COUNT; i++)
            segstream_matmul_weights_destroy(&b->layer_mm[i]);
    free(b->layer_mm);
    if (b->layer_imm)
        for (size_t i = 0; i < (size_t)b->cfg.num_layers * MM_COUNT; i++)
            segstream_int8_weights_destroy(&b->layer_imm[i]);
    free(b->layer_imm);
    for (int i = 0; i < MM_COUNT; i++)
        segstream_int8_matmul_destroy(&b->imm[i]);
    segstream_int8_scratch_free(&b->iscratch);
    for (int i = 0; i < MM_COUNT; i++)
        segstream_matmul_destroy(&b->mm[i]);
    if (b->stream)
        dnnl_stream_destroy(b->stream);
    if (b->engine)
        dnnl_engine_destroy(b->engine);
    segstream_bert_weights_free(&b->weights);
    free(b->x);
    free(b->qkv);
    free(b->ctx);
    free(b->ffn);
    free(b->positions);
    free(b->starts);
    free(b->attn_scratch);
    free(b);
}

const segstream_bert_config *segstream_bert_config_of(const segstream_bert *b)
{
    return &b->cfg;
}

/* tokens: the activations' rows, padding to the matmul tile included */
static int reserve(segstream_bert *b, int tokens, size_t seqs, int max_len, int threads,
                   segstream_err *err)
{
    const size_t h = (size_t)b->cfg.hidden_size, f = (size_t)b->cfg.intermediate_size;
    if (tokens > b->cap_tokens) {
        size_t t = (size_t)tokens;
        b->x = grow(b->x, t * h * sizeof(float));
        b->qkv = grow(b->qkv, 3 * t * h * sizeof(float));
        b->ctx = grow(b->ctx, t * h * sizeof(float));
        b->ffn = grow(b->ffn, t * f * sizeof(float));
        b->positions = grow(b->positions, t * sizeof(int));
        b->cap_tokens = tokens;
        if (!b->x || !b->qkv || !b->ctx || !b->ffn || !b->positions) {
            b->cap_tokens = 0;
            return segstream_err_set(err, "out of memory for a batch of %d tokens", tokens);
        }
    }
    if (seqs > b->cap_seqs) {
        b->starts = grow(b->starts, seqs * sizeof(int));
        b->cap_seqs = b->starts ? seqs : 0;
        if (!b->starts)
            return segstream_err_set(err, "out of memory for %zu sequences", seqs);
    }
    const int widest = b->cfg.intermediate_size > 3 * b->cfg.hidden_size ? b->cfg.intermediate_size
                                                                          : 3 * b->cfg.hidden_size;
    if (b->int8 && segstream_int8_scratch_reserve(&b->iscratch, tokens, widest, widest, err))
        return -1;
    size_t attn = segstream_bert_attention_scratch(max_len, b->cfg.hidden_size) * (size_t)threads;
    if (attn > b->cap_attn) {
        b->attn_scratch = grow(b->attn_scratch, attn * sizeof(float));
        b->cap_attn = b->attn_scratch ? attn : 0;
        if (!b->attn_scratch)
            return segstream_err_set(err, "out of memory for attention scratch");
    }
    return 0;
}

/* Threads for an int8 pass over t tokens: one per INT8_TOKENS_PER_THREAD.
 * A pass makes about 70 parallel regions (matmuls, their quantizing passes,
 * attention, layer norms), and waking a sleeping worker for each costs more
 * than it saves below about 128 tokens (measured on the 2-core dev box with
 * OMP_WAIT_POLICY=passive, which encoder.h advises there: 16 tokens took
 * 5.3 ms on 2 threads against 3.7 ms on 1). int8 only, because its results
 * do not depend on the thread count (exact integer sums; every other kernel
 * works per row or per sequence), whereas oneDNN's fp32 sgemm may partition
 * its sums by thread. */
enum { INT8_TOKENS_PER_THREAD = 64 };

static int int8_threads(int threads, int tokens)
{
    const int useful = tokens / INT8_TOKENS_PER_THREAD;
    return useful < 1 ? 1 : useful < threads ? useful : threads;
}

/* One linear layer (which: MM_*) of layer l over t rows, fp32 or int8. */
static int linear(segstream_bert *b, int which, int l, const float *src, int t, float *dst, segstream_err *err)
{
    const size_t at = (size_t)l * MM_COUNT + (size_t)which;
    if (b->int8)
        return segstream_int8_matmul_run(&b->imm[which], &b->layer_imm[at], b->engine, b->stream, &b->iscratch,
                                         src, t, epilogues[which], dst, err);
    return segstream_matmul_run(&b->mm[which], &b->layer_mm[at], b->engine, b->stream, src, t, dst, err);
}

int segstream_bert_forward(segstream_bert *b, const int32_t *ids, const int *lengths, size_t n,
                           float *out, segstream_err *err)
{
    const segstream_bert_config *c = &b->cfg;
    if (n == 0)
        return 0;
    long long total = 0;
    int max_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (lengths[i] < 1 || lengths[i] > c->max_position)
            return segstream_err_set(err, "sequence %zu has %d tokens; the model takes 1 to %d", i,
                                     lengths[i], c->max_position);
        total += lengths[i];
        max_len = lengths[i] > max_len ? lengths[i] : max_len;
    }
    if (total > (1 << 24))
        return segstream_err_set(err, "a batch of %lld tokens is too large", total);
    const int t = (int)total, h = c->hidden_size;
    for (int i = 0; i < t; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return segstream_err_set(err, "token id %d is outside the vocabulary [0, %d)", (int)ids[i],
                                     c->vocab_size);
    /* per call: the ICV belongs to the calling thread, which may not be the one that opened */
    const int nthreads = b->int8 ? int8_threads(b->threads, t) : b->threads;
    omp_set_num_threads(nthreads);
    /* every matmul has the same shape, so one padding serves all four */
    const int padded = b->int8 ? t : segstream_matmul_padded_rows(&b->mm[MM_QKV], t);
    if (reserve(b, padded, n, max_len, nthreads, err))
        return -1;
    for (size_t i = 0, pos = 0; i < n; i++) {
        b->starts[i] = (int)pos;
        for (int j = 0; j < lengths[i]; j++)
            b->positions[pos++] = j;
    }

    const segstream_bert_weights *w = &b->weights;
    segstream_bert_embed(b->x, ids, b->positions, t, h, w->word, w->position, w->type0, w->emb_ln_g,
                         w->emb_ln_b, c->layer_norm_eps);
    /* padding rows: the matmuls read them (x, ctx) and must see finite numbers;
     * no other row depends on them, and nothing else reads them */
    memset(b->x + (size_t)t * h, 0, (size_t)(padded - t) * h * sizeof *b->x);
    memset(b->ctx + (size_t)t * h, 0, (size_t)(padded - t) * h * sizeof *b->ctx);
    for (int l = 0; l < c->num_layers; l++) {
        const segstream_bert_layer *lw = &w->layers[l];
        if (linear(b, MM_QKV, l, b->x, t, b->qkv, err))
            return -1;
        segstream_bert_attention(b->qkv, b->ctx, b->starts, lengths, n, h, c->num_heads, b->attn_scratch,
                                 segstream_bert_attention_scratch(max_len, h));
        if (linear(b, MM_ATTN_OUT, l, b->ctx, t, b->x, err))
            return -1;
        segstream_bert_layer_norm(b->x, t, h, lw->attn_ln_g, lw->attn_ln_b, c->layer_norm_eps);
        if (linear(b, MM_FFN_UP, l, b->x, t, b->ffn, err) || linear(b, MM_FFN_DOWN, l, b->ffn, t, b->x, err))
            return -1;
        segstream_bert_layer_norm(b->x, t, h, lw->ffn_ln_g, lw->ffn_ln_b, c->layer_norm_eps);
    }
    segstream_bert_pool(b->x, b->starts, lengths, n, h, c->pooling == SEGSTREAM_POOLING_CLS, out);
    return 0;
}
