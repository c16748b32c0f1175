/* bert_kernels.h - the parts of the BERT forward pass that are not matmuls.
 *
 * Hand-written loops, parallel over rows or (sequence, head) pairs with
 * OpenMP, vectorised by the compiler for AVX2/FMA with a portable fallback
 * chosen at load time (GCC target_clones). They work on packed batches: the
 * T tokens of n sequences are T consecutive rows, sequence i owning rows
 * starts[i] .. starts[i] + lengths[i] - 1. No padding anywhere. */
#ifndef SEGSTREAM_MODEL_BERT_KERNELS_H
#define SEGSTREAM_MODEL_BERT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* x[t] = LayerNorm(word[ids[t]] + position[positions[t]] + type0), rows of h floats. */
void segstream_bert_embed(float *x, const int32_t *ids, const int *positions, int t, int h,
                          const float *word, const float *position, const float *type0,
                          const float *gamma, const float *beta, float eps);

/* In place: each of the t rows of h floats becomes LayerNorm(row) * gamma + beta. */
void segstream_bert_layer_norm(float *x, int t, int h, const float *gamma, const float *beta,
                               float eps);

/* Scaled dot-product attention of each sequence with itself, all heads.
 * qkv: t rows of 3h floats (query | key | value, head-major within each);
 * ctx: t rows of h floats (output). scratch holds scratch_per_thread >=
 * segstream_bert_attention_scratch(max_len, h) floats for each OpenMP thread. */
void segstream_bert_attention(const float *qkv, float *ctx, const int *starts, const int *lengths,
                              size_t n, int h, int heads, float *scratch, size_t scratch_per_thread);
size_t segstream_bert_attention_scratch(int max_len, int h);

/* out[i] = normalise(mean of sequence i's rows), or of its first row when cls != 0. */
void segstream_bert_pool(const float *x, const int *starts, const int *lengths, size_t n, int h,
                         int cls, float *out);

#endif
