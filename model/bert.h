/* bert.h - the BERT forward pass on packed batches: token ids in, sentence vectors out.
 *
 * Owns the weights, the oneDNN engine, stream and primitives (created once at
 * open: one runtime-M matmul per shape, shared by all layers) and the scratch
 * activations, which grow to the largest batch seen. A batch is n sequences
 * whose ids lie back to back (T = sum of lengths tokens): every matmul runs
 * on the whole [T, H] matrix, attention runs per sequence, nothing is padded.
 * One thread at a time per object. */
#ifndef SEGSTREAM_MODEL_BERT_H
#define SEGSTREAM_MODEL_BERT_H

#include "common/err.h"
#include "model/bert_config.h"

#include <stddef.h>
#include <stdint.h>

typedef struct segstream_bert segstream_bert;

/* Loads config and weights from model_dir and builds the primitives. threads:
 * the OpenMP threads forward will use (<= 0: all cores); oneDNN sizes some
 * primitives for the thread count current when they are created, so it is
 * set here already. bf16 != 0 lets matmuls compute in bf16 where the CPU has
 * it. NULL with err on failure. */
segstream_bert *segstream_bert_open(const char *model_dir, int threads, int bf16, segstream_err *err);
void segstream_bert_close(segstream_bert *bert);

const segstream_bert_config *segstream_bert_config_of(const segstream_bert *bert);

/* Encodes n sequences: ids holds lengths[0] + ... + lengths[n-1] ids back to
 * back; each length in [1, max_position], each id in [0, vocab_size). Writes
 * n unit vectors of hidden_size floats to out. Returns 0 or -1 with err set. */
int segstream_bert_forward(segstream_bert *bert, const int32_t *ids, const int *lengths, size_t n,
                           float *out, segstream_err *err);

#endif
