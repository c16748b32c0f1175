/* bert.h - the BERT forward pass on packed batches: token ids in, sentence vectors out.
 *
 * Owns the weights, the oneDNN engine, stream and primitives (created once at
 * open: one matmul per shape, shared by all layers) and the scratch
 * activations, which grow to the largest batch seen. A batch is n sequences
 * whose ids lie back to back (T = sum of lengths tokens): every matmul runs
 * on the whole [T, H] matrix (in deterministic mode tile by tile, T padded to
 * the tile), attention runs per sequence, sequences are not padded.
 * One thread at a time per object. */
#ifndef SEGSTREAM_MODEL_BERT_H
#define SEGSTREAM_MODEL_BERT_H

#include "common/err.h"
#include "model/bert_config.h"

#include <stddef.h>
#include <stdint.h>

typedef struct segstream_bert segstream_bert;

/* Rows of every matmul call in deterministic mode (dnnl_matmul.h): a
 * multiple of the row blocks of oneDNN's sgemm kernels (6 on AVX2, 8 or 16
 * elsewhere) so that no row of a tile falls in a tail kernel (32 failed the
 * open-time check on the AVX2 dev box). 24, 48 and 96 cost the same ~20% CPU
 * on 1024-token batches there; a short text alone pays a whole tile, so the
 * smallest safe multiple: 48 (24 is not a multiple of 16). */
#define SEGSTREAM_BERT_TILE_ROWS 48

/* Loads config and weights from model_dir and builds the primitives. threads:
 * the OpenMP threads forward will use (<= 0: all cores); oneDNN sizes some
 * primitives for the thread count current when they are created, so it is
 * set here already. bf16 != 0 lets matmuls compute in bf16 where the CPU has
 * it. deterministic != 0 runs every matmul in SEGSTREAM_BERT_TILE_ROWS-row
 * tiles (checked at open: fails if oneDNN computes the rows of a tile
 * differently on this CPU), making each sequence's vector independent of the
 * batch (encoder.h states the contract). NULL with err on failure. */
segstream_bert *segstream_bert_open(const char *model_dir, int threads, int bf16, int deterministic,
                                    segstream_err *err);
void segstream_bert_close(segstream_bert *bert);

const segstream_bert_config *segstream_bert_config_of(const segstream_bert *bert);

/* Encodes n sequences: ids holds lengths[0] + ... + lengths[n-1] ids back to
 * back; each length in [1, max_position], each id in [0, vocab_size). Writes
 * n unit vectors of hidden_size floats to out. Returns 0 or -1 with err set. */
int segstream_bert_forward(segstream_bert *bert, const int32_t *ids, const int *lengths, size_t n,
                           float *out, segstream_err *err);

#endif
