/* bert_weights.c - resolves, checks and (only where needed) converts BERT's tensors.
 *
 * Names follow Hugging Face's BertModel ("embeddings.word_embeddings.weight",
 * "encoder.layer.3.attention.self.query.weight", ...); checkpoints saved from
 * BertForX carry a "bert." prefix, detected once from the word embeddings. */
#include "model/bert_weights.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>

struct loader {
    segstream_bert_weights *w;
    const char *prefix; /* "" or "bert." */
    const char *path;
    segstream_err *err;
};

static void *own(struct loader *L, size_t count)
{
    segstream_bert_weights *w = L->w;
    if (w->n_owned == w->cap_owned) {
        size_t cap = w->cap_owned ? 2 * w->cap_owned : 16;
        void **p = realloc(w->owned, cap * sizeof *p);
        if (!p)
            return NULL;
        w->owned = p;
        w->cap_owned = cap;
    }
    /* 64-byte alignment: what oneDNN's kernels like for their operands. */
    size_t bytes = (count * sizeof(float) + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (p)
        w->owned[w->n_owned++] = p;
    return p;
}

/* The tensor `name` with the given shape (-1: any size in that dimension). */
static const segstream_st_tensor *tensor(struct loader *L, const char *name, int ndim, int64_t d0,
                                         int64_t d1)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", L->prefix, name);
    const segstream_st_tensor *t = segstream_safetensors_find(L->w->file, full);
    if (!t) {
        segstream_err_set(L->err, "%s: tensor '%s' is missing", L->path, full);
        return NULL;
    }
    if (t->dtype != SEGSTREAM_ST_F32 && t->dtype != SEGSTREAM_ST_F16 &&
        t->dtype != SEGSTREAM_ST_BF16 && t->dtype != SEGSTREAM_ST_F64) {
        segstream_err_set(L->err, "%s: tensor '%s': dtype %s, expected F32, F16 or BF16", L->path,
                          full, segstream_st_dtype_name(t->dtype));
        return NULL;
    }
    int64_t want[2] = {d0, d1};
    int ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++)
        ok = want[d] < 0 || t->shape[d] == want[d];
    if (!ok) {
        char got[128] = "", exp[64];
        size_t n = 0;
        for (int d = 0; d < t->ndim && n < sizeof got; d++)
            n += (size_t)snprintf(got + n, sizeof got - n, "%s%lld", d ? ", " : "",
                                  (long long)t->shape[d]);
        if (ndim == 1)
            snprintf(exp, sizeof exp, "[%lld]", (long long)d0);
        else
            snprintf(exp, sizeof exp, "[%lld, %lld]", (long long)d0, (long long)d1);
        segstream_err_set(L->err, "%s: tensor '%s' has shape [%s], config.json implies %s", L->path,
                          full, got, exp);
        return NULL;
    }
    return t;
}

/* float32 in place when possible, else a converted copy (and the source pages released). */
static const float *as_f32(struct loader *L, const segstream_st_tensor *t)
{
    if (t->dtype == SEGSTREAM_ST_F32 && (uintptr_t)t->data % _Alignof(float) == 0)
        return t->data;
    float *copy = own(L, (size_t)t->count);
    if (!copy) {
        segstream_err_set(L->err, "%s: tensor '%s': out of memory", L->path, t->name);
        return NULL;
    }
    if (segstream_st_to_f32(t, copy, L->err))
        return NULL;
    segstream_safetensors_release(L->w->file, t);
    return copy;
}

static const float *load(struct loader *L, const char *name, int ndim, int64_t d0, int64_t d1)
{
    const segstream_st_tensor *t = tensor(L, name, ndim, d0, d1);
    return t ? as_f32(L, t) : NULL;
}

/* Writes the [n][k] tensor t transposed into out, a [k][ld] matrix (columns 0..n-1). */
static int transpose_into(struct loader *L, const segstream_st_tensor *t, float *out, size_t ld)
{
    const size_t n = (size_t)t->shape[0], k = (size_t)t->shape[1];
    float *tmp = malloc(n * k * sizeof *tmp);
    if (!tmp)
        return segstream_err_set(L->err, "%s: tensor '%s': out of memory", L->path, t->name);
    if (segstream_st_to_f32(t, tmp, L->err)) {
        free(tmp);
        return -1;
    }
    /* in tiles, so both sides stay in cache */
    for (size_t r0 = 0; r0 < n; r0 += 32)
        for (size_t c0 = 0; c0 < k; c0 += 32)
            for (size_t r = r0; r < n && r < r0 + 32; r++)
                for (size_t c = c0; c < k && c < c0 + 32; c++)
                    out[c * ld + r] = tmp[r * k + c];
    free(tmp);
    segstream_safetensors_release(L->w->file, t);
    return 0;
}

/* A matmul weight [out][in] as an owned [in][out] copy. */
static const float *load_transposed(struct loader *L, const char *name, int64_t out_dim, int64_t in_dim)
{
    const segstream_st_tensor *t = tensor(L, name, 2, out_dim, in_dim);
    if (!t)
        return NULL;
    float *w = own(L, (size_t)t->count);
    if (!w) {
        segstream_err_set(L->err, "%s: tensor '%s': out of memory", L->path, t->name);
        return NULL;
    }
    return transpose_into(L, t, w, (size_t)out_dim) ? NULL : w;
}

/* Query, key and value side by side: weights [H][3H] (transposed), biases [3H]. */
static const float *stack_qkv(struct loader *L, int layer, const char *what, int ndim, int64_t h)
{
    static const char *const parts[3] = {"query", "key", "value"};
    float *out = own(L, (size_t)(3 * (ndim == 2 ? h * h : h)));
    if (!out) {
        segstream_err_set(L->err, "%s: out of memory", L->path);
        return NULL;
    }
    for (int i = 0; i < 3; i++) {
        char name[128];
        snprintf(name, sizeof name, "encoder.layer.%d.attention.self.%s.%s", layer, parts[i], what);
        const segstream_st_tensor *t = tensor(L, name, ndim, h, h);
        if (!t)
            return NULL;
        if (ndim == 2) {
            if (transpose_into(L, t, out + i * h, 3 * (size_t)h))
                return NULL;
        } else {
            if (segstream_st_to_f32(t, out + i * h, L->err))
                return NULL;
        }
    }
    return out;
}

static int load_layer(struct loader *L, const segstream_bert_config *cfg, int i,
                      segstream_bert_layer *layer)
{
    int64_t h = cfg->hidden_size, f = cfg->intermediate_size;
    char name[128];
#define LAYER_TENSOR(field, suffix, ndim, d0, d1)                                    \
    do {                                                                             \
        snprintf(name, sizeof name, "encoder.layer.%d.%s", i, suffix);               \
        if (!(layer->field = load(L, name, ndim, d0, d1)))                           \
            return -1;                                                               \
    } while (0)
#define LAYER_MATRIX(field, suffix, out_dim, in_dim)                                 \
    do {                                                                             \
        snprintf(name, sizeof name, "encoder.layer.%d.%s", i, suffix);               \
        if (!(layer->field = load_transposed(L, name, out_dim, in_dim)))             \
            return -1;                                                               \
    } while (0)
    if (!(layer->qkv_w = stack_qkv(L, i, "weight", 2, h)) ||
        !(layer->qkv_b = stack_qkv(L, i, "bias", 1, h)))
        return -1;
    LAYER_MATRIX(attn_out_w, "attention.output.dense.weight", h, h);
    LAYER_TENSOR(attn_out_b, "attention.output.dense.bias", 1, h, 0);
    LAYER_TENSOR(attn_ln_g, "attention.output.LayerNorm.weight", 1, h, 0);
    LAYER_TENSOR(attn_ln_b, "attention.output.LayerNorm.bias", 1, h, 0);
    LAYER_MATRIX(ffn_up_w, "intermediate.dense.weight", f, h);
    LAYER_TENSOR(ffn_up_b, "intermediate.dense.bias", 1, f, 0);
    LAYER_MATRIX(ffn_down_w, "output.dense.weight", h, f);
    LAYER_TENSOR(ffn_down_b, "output.dense.bias", 1, h, 0);
    LAYER_TENSOR(ffn_ln_g, "output.LayerNorm.weight", 1, h, 0);
    LAYER_TENSOR(ffn_ln_b, "output.LayerNorm.bias", 1, h, 0);
#undef LAYER_TENSOR
#undef LAYER_MATRIX
    return 0;
}

int segstream_bert_weights_load(const char *model_dir, segstream_bert_config *cfg,
                                segstream_bert_weights *w, segstream_err *err)
{
    memset(w, 0, sizeof *w);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", model_dir);
    if (!(w->file = segstream_safetensors_open(path, err)))
        return -1;
    struct loader L = {.w = w, .prefix = "", .path = path, .err = err};
    if (!segstream_safetensors_find(w->file, "embeddings.word_embeddings.weight") &&
        segstream_safetensors_find(w->file, "bert.embeddings.word_embeddings.weight"))
        L.prefix = "bert.";
    int64_t h = cfg->hidden_size;
    const segstream_st_tensor *word = tensor(&L, "embeddings.word_embeddings.weight", 2,
                                             cfg->vocab_size ? cfg->vocab_size : -1, h);
    if (!word)
        goto fail;
    if (word->shape[0] < 1 || word->shape[0] > INT32_MAX) {
        segstream_err_set(err, "%s: tensor '%s': %lld rows is not a vocabulary", path, word->name,
                          (long long)word->shape[0]);
        goto fail;
    }
    cfg->vocab_size = w->vocab_size = (int)word->shape[0];
    /* Rows are looked up by token id: read-ahead around each would page in
     * neighbours no text asked for. */
    segstream_safetensors_advise_random(w->file, word);
    const float *type;
    if (!(w->word = as_f32(&L, word)) ||
        !(w->position = load(&L, "embeddings.position_embeddings.weight", 2, cfg->max_position, h)) ||
        !(type = load(&L, "embeddings.token_type_embeddings.weight", 2, cfg->type_vocab_size, h)) ||
        !(w->emb_ln_g = load(&L, "embeddings.LayerNorm.weight", 1, h, 0)) ||
        !(w->emb_ln_b = load(&L, "embeddings.LayerNorm.bias", 1, h, 0)))
        goto fail;
    w->type0 = type;
    if (!(w->layers = calloc((size_t)cfg->num_layers, sizeof *w->layers))) {
        segstream_err_set(err, "%s: out of memory", path);
        goto fail;
    }
    for (int i = 0; i < cfg->num_layers; i++)
        if (load_layer(&L, cfg, i, &w->layers[i]))
            goto fail;
    return 0;
fail:
    segstream_bert_weights_free(w);
    return -1;
}

static void drop_owned(segstream_bert_weights *w, const float **p)
{
    for (size_t i = 0; *p && i < w->n_owned; i++)
        if (w->owned[i] == (const void *)*p) {
            free(w->owned[i]);
            w->owned[i] = NULL; /* free(NULL) at the end is a no-op */
        }
    *p = NULL;
}

void segstream_bert_weights_drop_matmuls(segstream_bert_weights *w, int first, int count)
{
    for (int i = first; i < first + count; i++) {
        segstream_bert_layer *l = &w->layers[i];
        drop_owned(w, &l->qkv_w);
        drop_owned(w, &l->attn_out_w);
        drop_owned(w, &l->ffn_up_w);
        drop_owned(w, &l->ffn_down_w);
    }
    if (count)
        return; /* the next layer's int8 copies reuse the freed chunks */
#ifdef __GLIBC__
    /* the copies mostly sit in the brk heap (glibc raises its mmap threshold
     * once the loader frees its large temporaries), whose freed middle glibc
     * keeps resident unless asked to give it back */
    malloc_trim(0);
#endif
}

void segstream_bert_weights_free(segstream_bert_weights *w)
{
    for (size_t i = 0; i < w->n_owned; i++)
        free(w->owned[i]);
    free(w->owned);
    free(w->layers);
    segstream_safetensors_close(w->file);
    memset(w, 0, sizeof *w);
}
