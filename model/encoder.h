/* encoder.h - the sentence encoder: texts in, unit-length embedding vectors out.
 *
 * Loads a BERT-family sentence-transformers folder (all-MiniLM-L6-v2 by
 * default) and runs it on the CPU with oneDNN. Texts are tokenized, packed
 * into batches bounded by a token budget with no padding (all tokens of a
 * batch form one matrix; attention stays within each sequence), pooled (mean
 * or CLS, as the folder's 1_Pooling/config.json says) and L2-normalised. An
 * optional LRU cache maps a text to its embedding, since real streams repeat
 * texts.
 *
 * Thread rules: an encoder is used by one thread at a time (it owns scratch
 * buffers and the cache); use one encoder per thread, or a lock. A call uses
 * options.threads OpenMP threads for itself: open and each encode call set
 * the calling thread's OpenMP thread count (omp_set_num_threads), which later
 * OpenMP regions of that thread inherit. Different encoders may run
 * concurrently. libgomp's threads spin a while after each parallel region;
 * on machines shared with other busy processes OMP_WAIT_POLICY=passive keeps
 * a descheduled spinner from stalling the others (on the loaded 2-core dev
 * box, 2 threads: a 17-token text took 16 ms on average instead of 60-127 ms,
 * and throughput rose by a quarter or more).
 *
 * Batch invariance (options.deterministic != 0): a text's embedding is bit
 * for bit the same whatever other texts share its call or forward pass, its
 * position in them, the token budget and the call boundaries, across
 * encoders and processes - provided the same model files, the same build
 * (compiler, oneDNN version), the same CPU instruction set (oneDNN and our
 * kernels dispatch on it) and the same options.threads and precision. How,
 * in fp32 and bf16: every matmul runs in fixed 48-row tiles (the batch
 * padded), so oneDNN sees one shape and takes one algorithm; open checks on
 * the real weights that oneDNN computes every row of a tile alike on this
 * CPU and fails otherwise; attention, layer norm, pooling and normalisation
 * never mix rows or sequences and reduce in an order fixed by the row alone.
 * Its cost on the 2-core AVX2 dev box: about 20-25% more CPU on 1024-token
 * batches, and a short text encoded alone pays for a whole 48-row tile (16
 * tokens: about 2-3x the latency). Off, the vectors of one text differ
 * between batchings in their last bits (max ~1e-7 a component). In int8
 * the matmuls are exact integer sums of per-token codes, so every text is
 * batch-invariant with or without the option, at no cost (no tiles; open
 * checks that this CPU's int8 kernel is exact). */
#ifndef SEGSTREAM_MODEL_ENCODER_H
#define SEGSTREAM_MODEL_ENCODER_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct segstream_encoder segstream_encoder;
typedef struct segstream_tokenizer segstream_tokenizer; /* model/tokenizer.h */

typedef enum segstream_pooling {
    SEGSTREAM_POOLING_MEAN = 0, /* mean of the sequence's token vectors */
    SEGSTREAM_POOLING_CLS = 1,  /* the [CLS] token's vector */
} segstream_pooling;

typedef enum segstream_precision {
    SEGSTREAM_PRECISION_F32 = 0,  /* exact fp32 arithmetic */
    SEGSTREAM_PRECISION_BF16 = 1, /* lets oneDNN compute matmuls in bf16 where the CPU has
                                     bf16 instructions (AVX512-BF16, AMX); fp32 elsewhere */
    SEGSTREAM_PRECISION_INT8 = 2, /* the linear layers in int8 (s8 weights, one scale per
                                     output column; activations quantized per token), the
                                     rest fp32: about 4x smaller weights and faster on any
                                     x86 CPU; cosine to fp32's embeddings about 0.998 on
                                     average, >= 0.993 on real titles and snippets, down
                                     to 0.984 for one-token texts.
                                     Batch-invariant by construction (see above) */
} segstream_precision;

typedef struct segstream_encoder_options {
    int threads;           /* OpenMP threads per call; 0 = all cores. In int8 a forward pass
                              of fewer than 128 tokens runs on one thread (and up to one
                              per 64 tokens above), since waking workers costs more there
                              than it saves; the result does not depend on it */
    int max_batch_tokens;  /* token budget of one forward pass (>= 1); a longer sequence
                              runs alone. Bounds the scratch memory: with MiniLM the peak
                              grows ~50 KiB a budget token (our activations ~15 KiB, the
                              rest oneDNN's per-call gemm buffers); 1024 measured as fast
                              as 2048 or 4096 on the AVX2 dev box */
    size_t cache_entries;  /* capacity of the LRU text -> embedding cache; 0 = off */
    segstream_precision precision;
    int deterministic;     /* != 0: batch-invariant embeddings (see above), at a cost; 0 by
                              default; the Kafka stage needs it for replays to match */
} segstream_encoder_options;

/* Defaults: all cores, 1024 tokens a batch, 10000 cached texts, fp32, not deterministic. */
segstream_encoder_options segstream_encoder_default_options(void);

/* Loads the model folder (config.json, model.safetensors, vocab/tokenizer
 * files, optional sentence_bert_config.json and 1_Pooling/config.json).
 * opt == NULL means the defaults. Returns NULL with err naming the file (and
 * tensor or key) at fault. The caller owns the encoder: segstream_encoder_close. */
segstream_encoder *segstream_encoder_open(const char *model_dir, const segstream_encoder_options *opt,
                                          segstream_err *err);

/* Frees the encoder. NULL is a no-op. */
void segstream_encoder_close(segstream_encoder *enc);

/* Length of an embedding (the model's hidden size, 384 for MiniLM). */
int segstream_encoder_dim(const segstream_encoder *enc);

/* Tokens of one sequence the model takes, [CLS] and [SEP] included
 * (max_seq_length, 256 for MiniLM); longer texts are truncated. */
int segstream_encoder_max_tokens(const segstream_encoder *enc);

/* Encodes n texts (NUL-terminated UTF-8; invalid bytes are tolerated) into
 * out[n * dim]: row i is the unit-length embedding of texts[i]. Batches
 * internally by the token budget, keeping input order. Returns 0, or -1 with
 * err set (out is then unspecified). */
int segstream_encoder_encode(segstream_encoder *enc, const char *const *texts, size_t n, float *out,
                             segstream_err *err);

/* The same for already tokenized sequences (for benchmarks and tests): ids[i]
 * holds lengths[i] token ids, [CLS] and [SEP] included, 1 <= lengths[i] <=
 * max_position_embeddings, each id < the vocabulary size. Bypasses the cache. */
int segstream_encoder_encode_ids(segstream_encoder *enc, const int32_t *const *ids, const int *lengths,
                                 size_t n, float *out, segstream_err *err);

typedef struct segstream_encoder_stats {
    uint64_t cache_hits;   /* texts answered from the cache */
    uint64_t cache_misses; /* texts run through the model (while the cache is on) */
    uint64_t sequences;    /* sequences run through the model */
    uint64_t tokens;       /* tokens run through the model */
} segstream_encoder_stats;

/* Counters since open. */
void segstream_encoder_get_stats(const segstream_encoder *enc, segstream_encoder_stats *stats);

/* The encoder's tokenizer (owned by the encoder; valid until close). */
const segstream_tokenizer *segstream_encoder_tokenizer(const segstream_encoder *enc);

#endif
