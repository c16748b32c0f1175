/* encoder.c - texts -> cache lookup -> tokenizer -> token-budget batches -> BERT -> vectors.
 *
 * Batching is sort-free and keeps input order: texts are taken in order and a
 * batch is closed when the next text's tokens would exceed the budget. (Sorting
 * by length would only help padded batches; ours are packed.) Cache misses of
 * one call are tokenized straight into the batch's id buffer. */
#include "model/encoder.h"

#include "model/bert.h"
#include "model/embedding_cache.h"
#include "model/tokenizer.h"

#include <stdlib.h>
#include <string.h>

struct segstream_encoder {
    segstream_encoder_options opt;
    segstream_bert *bert;
    segstream_tokenizer *tokenizer;
    segstream_embedding_cache *cache; /* NULL when opt.cache_entries == 0 */
    int dim, max_tokens, max_position;
    segstream_encoder_stats stats; /* cache counters are read from the cache */

    /* the batch being filled: ids back to back, and per sequence its length
     * and the row of the caller's output it belongs to */
    int32_t *ids;   /* max_batch_tokens + 2 * max_position: a batch over the budget
                       holds one sequence, and the next text is tokenized behind it */
    int *lengths;   /* max_batch_tokens + 1 */
    size_t *rows;   /* max_batch_tokens + 1 */
    float *vectors; /* (max_batch_tokens + 1) * dim */
};

segstream_encoder_options segstream_encoder_default_options(void)
{
    return (segstream_encoder_options){
        .threads = 0,
        .max_batch_tokens = 1024,
        .cache_entries = 10000,
        .precision = SEGSTREAM_PRECISION_F32,
        .deterministic = 0,
    };
}

segstream_encoder *segstream_encoder_open(const char *model_dir, const segstream_encoder_options *opt,
                                          segstream_err *err)
{
    segstream_encoder_options o = opt ? *opt : segstream_encoder_default_options();
    if (o.max_batch_tokens < 1)
        return segstream_err_set(err, "max_batch_tokens must be >= 1 (got %d)", o.max_batch_tokens), NULL;
    if (o.threads < 0)
        return segstream_err_set(err, "threads must be >= 0 (got %d)", o.threads), NULL;
    if (o.precision != SEGSTREAM_PRECISION_F32 && o.precision != SEGSTREAM_PRECISION_BF16 &&
        o.precision != SEGSTREAM_PRECISION_INT8)
        return segstream_err_set(err, "unknown precision %d", (int)o.precision), NULL;
    segstream_encoder *e = calloc(1, sizeof *e);
    if (!e)
        return segstream_err_set(err, "out of memory"), NULL;
    e->opt = o;
    const segstream_bert_precision bp = o.precision == SEGSTREAM_PRECISION_INT8   ? SEGSTREAM_BERT_INT8
                                        : o.precision == SEGSTREAM_PRECISION_BF16 ? SEGSTREAM_BERT_BF16
                                                                                  : SEGSTREAM_BERT_F32;
    if (!(e->bert = segstream_bert_open(model_dir, o.threads, bp, o.deterministic, err)))
        goto fail;
    const segstream_bert_config *cfg = segstream_bert_config_of(e->bert);
    e->dim = cfg->hidden_size;
    e->max_tokens = cfg->max_seq_length;
    e->max_position = cfg->max_position;
    segstream_tokenizer_options topt = segstream_tokenizer_default_options();
    topt.max_tokens = e->max_tokens;
    if (!(e->tokenizer = segstream_tokenizer_open(model_dir, &topt, err)))
        goto fail;
    if (segstream_tokenizer_vocab_size(e->tokenizer) > cfg->vocab_size) {
        segstream_err_set(err, "%s: vocab.txt has %d tokens but the model's word embeddings only %d",
                          model_dir, segstream_tokenizer_vocab_size(e->tokenizer), cfg->vocab_size);
        goto fail;
    }
    size_t budget = (size_t)o.max_batch_tokens;
    e->ids = malloc((budget + 2 * (size_t)e->max_position) * sizeof *e->ids);
    e->lengths = malloc((budget + 1) * sizeof *e->lengths);
    e->rows = malloc((budget + 1) * sizeof *e->rows);
    e->vectors = malloc((budget + 1) * (size_t)e->dim * sizeof *e->vectors);
    if (!e->ids || !e->lengths || !e->rows || !e->vectors ||
        (o.cache_entries && !(e->cache = segstream_embedding_cache_create(o.cache_entries, e->dim)))) {
        segstream_err_set(err, "out of memory for a %d-token batch or a %zu-entry cache",
                          o.max_batch_tokens, o.cache_entries);
        goto fail;
    }
    return e;
fail:
    segstream_encoder_close(e);
    return NULL;
}

void segstream_encoder_close(segstream_encoder *e)
{
    if (!e)
        return;
    segstream_bert_close(e->bert);
    segstream_tokenizer_close(e->tokenizer);
    segstream_embedding_cache_destroy(e->cache);
    free(e->ids);
    free(e->lengths);
    free(e->rows);
    free(e->vectors);
    free(e);
}

int segstream_encoder_dim(const segstream_encoder *e)
{
    return e->dim;
}

int segstream_encoder_max_tokens(const segstream_encoder *e)
{
    return e->max_tokens;
}

const segstream_tokenizer *segstream_encoder_tokenizer(const segstream_encoder *e)
{
    return e->tokenizer;
}

void segstream_encoder_get_stats(const segstream_encoder *e, segstream_encoder_stats *stats)
{
    *stats = e->stats;
    if (e->cache) {
        stats->cache_hits = segstream_embedding_cache_hits(e->cache);
        stats->cache_misses = segstream_embedding_cache_misses(e->cache);
    }
}

/* Runs the first `count` sequences of the batch buffers into dst (count rows). */
static int run_batch(segstream_encoder *e, size_t count, size_t tokens, float *dst, segstream_err *err)
{
    if (segstream_bert_forward(e->bert, e->ids, e->lengths, count, dst, err))
        return -1;
    e->stats.sequences += count;
    e->stats.tokens += tokens;
    return 0;
}

/* Runs the batch of texts and scatters its vectors to their rows of out (and the cache). */
static int flush_texts(segstream_encoder *e, const char *const *texts, size_t count, size_t tokens,
                       float *out, segstream_err *err)
{
    if (!count)
        return 0;
    if (run_batch(e, count, tokens, e->vectors, err))
        return -1;
    const size_t d = (size_t)e->dim;
    for (size_t k = 0; k < count; k++) {
        const float *v = e->vectors + k * d;
        memcpy(out + e->rows[k] * d, v, d * sizeof *v);
        /* a full memory here only means the text is not cached */
        if (e->cache)
            (void)segstream_embedding_cache_put(e->cache, texts[e->rows[k]], strlen(texts[e->rows[k]]), v);
    }
    return 0;
}

int segstream_encoder_encode(segstream_encoder *e, const char *const *texts, size_t n, float *out,
                             segstream_err *err)
{
    const size_t budget = (size_t)e->opt.max_batch_tokens, d = (size_t)e->dim;
    size_t count = 0, tokens = 0;
    for (size_t i = 0; i < n; i++) {
        if (!texts[i])
            return segstream_err_set(err, "text %zu is NULL", i);
        size_t len = strlen(texts[i]);
        if (e->cache && segstream_embedding_cache_get(e->cache, texts[i], len, out + i * d))
            continue;
        int r = segstream_tokenizer_encode(e->tokenizer, texts[i], len, e->ids + tokens, e->max_tokens, err);
        if (r < 0)
            return segstream_err_prefix(err, "text %zu", i);
        if (count && tokens + (size_t)r > budget) {
            if (flush_texts(e, texts, count, tokens, out, err))
                return -1;
            memmove(e->ids, e->ids + tokens, (size_t)r * sizeof *e->ids);
            count = tokens = 0;
        }
        e->rows[count] = i;
        e->lengths[count++] = r;
        tokens += (size_t)r;
    }
    return flush_texts(e, texts, count, tokens, out, err);
}

int segstream_encoder_encode_ids(segstream_encoder *e, const int32_t *const *ids, const int *lengths,
                                 size_t n, float *out, segstream_err *err)
{
    const size_t budget = (size_t)e->opt.max_batch_tokens, d = (size_t)e->dim;
    for (size_t i = 0; i < n; i++)
        if (!ids[i] || lengths[i] < 1 || lengths[i] > e->max_position)
            return segstream_err_set(err, "sequence %zu: %d tokens; the model takes 1 to %d", i,
                                     lengths[i], e->max_position);
    size_t first = 0, count = 0, tokens = 0;
    for (size_t i = 0; i < n; i++) {
        if (count && tokens + (size_t)lengths[i] > budget) {
            if (run_batch(e, count, tokens, out + first * d, err))
                return segstream_err_prefix(err, "sequences %zu..%zu", first, first + count - 1);
            first = i;
            count = tokens = 0;
        }
        memcpy(e->ids + tokens, ids[i], (size_t)lengths[i] * sizeof *e->ids);
        e->lengths[count++] = lengths[i];
        tokens += (size_t)lengths[i];
    }
    if (count && run_batch(e, count, tokens, out + first * d, err))
        return segstream_err_prefix(err, "sequences %zu..%zu", first, first + count - 1);
    return 0;
}
