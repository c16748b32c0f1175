/* bert.h - the BERT forward pass on packed batches: token ids in, sentence vectors out.
 *
 * Owns the weights, the oneDNN engine, stream and primitives (created once at
 * open: one matmul per shape, shared by all layers) and the scratch
 * activations, which grow to the largest batch seen. A batch is n sequences
 * whose ids lie back to back (T = sum of lengths tokens): every matmul runs
 * on the whole [T, H] matrix (in deterministic fp32 mode tile by tile, T
 * padded to the tile), attention runs per sequence, sequences are not padded.
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

/* How the four linear layers of each block compute (attention, layer
 * norms, embeddings and pooling are fp32 in every mode). */
typedef enum segstream_bert_precision {
    SEGSTREAM_BERT_F32 = 0,
    SEGSTREAM_BERT_BF16 = 1, /* fp32 with oneDNN allowed to use bf16 where the CPU has it */
    SEGSTREAM_BERT_INT8 = 2, /* int8_matmul.h: s8 weights, per-token u8 activations */
} segstream_bert_precision;

/* Loads config and weights from model_dir and builds the primitives. threads:
 * the OpenMP threads forward will use (<= 0: all cores); oneDNN sizes some
 * primitives for the thread count current when they are created, so it is
 * set here already. deterministic != 0 makes each sequence's vector
 * independent of the batch (encoder.h states the contract): in fp32 and
 * bf16 every matmul runs in SEGSTREAM_BERT_TILE_ROWS-row tiles (checked at
 * open: fails if oneDNN computes the rows of a tile differently on this
 * CPU); int8 needs no tiles, its matmuls being exact integer sums (checked
 * at open in every mode: fails if this CPU's int8 kernel is not exact).
 * NULL with err on failure. */
segstream_bert *segstream_bert_open(const char *model_dir, int threads, segstream_bert_precision precision,
                                    int deterministic, segstream_err *err);
void segstream_bert_close(segstream_bert *bert);

const segstream_bert_config *segstream_bert_config_of(const segstream_bert *bert);

/* Encodes n sequences: ids holds lengths[0] + ... + lengths[n-1] ids back to
 * back; each length in [1, max_position], each id in [0, vocab_size). Writes
 * n unit vectors of hidden_size floats to out. Returns 0 or -1 with err set. */
int segstream_bert_forward(segstream_bert *bert, const int32_t *ids, const int *lengths, size_t n,
                           float *out, segstream_err *err);

#endif
