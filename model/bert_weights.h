/* bert_weights.h - a BERT model's weights, checked against its config, ready for the forward pass.
 *
 * Matmul weights are transposed at load from Hugging Face's nn.Linear layout
 * [out][in] to [in][out] (K x N row-major, oneDNN's "ab"): oneDNN's AVX2 gemm
 * ran the 24 matmuls of a MiniLM forward pass of one 17-token text in 7.1 ms
 * that way against 12.1 ms reading the [out][in] layout in place (one thread,
 * weights not in cache; large batches ran alike either way), and the copy's
 * source pages are released from the mapping afterwards, so resident memory
 * holds one copy. Query/key/value are stacked into one [H][3H] matrix (one
 * fused matmul). Vectors and the embedding tables are used in place from the
 * mapped file when they are aligned float32 (only the word-embedding rows of
 * tokens actually seen become resident), else converted at load. */
#ifndef SEGSTREAM_MODEL_BERT_WEIGHTS_H
#define SEGSTREAM_MODEL_BERT_WEIGHTS_H

#include "common/err.h"
#include "model/bert_config.h"
#include "model/safetensors.h"

typedef struct segstream_bert_layer {
    const float *qkv_w;            /* [H][3H]: query | key | value columns */
    const float *qkv_b;            /* [3H] */
    const float *attn_out_w;       /* [H][H] */
    const float *attn_out_b;       /* [H] */
    const float *attn_ln_g, *attn_ln_b; /* [H] */
    const float *ffn_up_w;         /* [H][F] */
    const float *ffn_up_b;         /* [F] */
    const float *ffn_down_w;       /* [F][H] */
    const float *ffn_down_b;       /* [H] */
    const float *ffn_ln_g, *ffn_ln_b; /* [H] */
} segstream_bert_layer;

typedef struct segstream_bert_weights {
    const float *word;     /* [vocab][H] */
    const float *position; /* [max_position][H] */
    const float *type0;    /* [H]: token type 0, the only one sentence encoders use */
    const float *emb_ln_g, *emb_ln_b;
    segstream_bert_layer *layers; /* [num_layers] */
    int vocab_size;
    /* private: the mapping and the copies the pointers above may point into */
    segstream_safetensors *file;
    void **owned;
    size_t n_owned, cap_owned;
} segstream_bert_weights;

/* Opens model_dir/model.safetensors and resolves every tensor the config
 * calls for, with or without a "bert." name prefix, checking dtype and shape
 * (cfg->vocab_size, if 0, is set from the word embeddings). Returns 0, or -1
 * with err naming the file and the tensor. On failure w needs no cleanup. */
int segstream_bert_weights_load(const char *model_dir, segstream_bert_config *cfg,
                                segstream_bert_weights *w, segstream_err *err);

/* Frees the matmul weight matrices of layers [first, first + count) (the
 * fp32 [in][out] copies) and sets their pointers to NULL: for a forward pass
 * that keeps its own (int8) copies, so that resident memory does not hold
 * both. Called layer by layer as they are converted, then with count 0 at
 * the end, which also hands the freed heap back to the system. */
void segstream_bert_weights_drop_matmuls(segstream_bert_weights *w, int first, int count);

/* Frees copies and unmaps the file. */
void segstream_bert_weights_free(segstream_bert_weights *w);

#endif
