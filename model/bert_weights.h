/* bert_weights.h - a BERT model's weights, checked against its config, ready for the forward pass.
 *
 * Matrices keep Hugging Face's nn.Linear layout [out][in] (row-major), which
 * is oneDNN's "ba" (transposed) layout of the K x N weights matrix, so
 * float32 tensors are used in place from the mapped file: no copy, and only
 * touched pages (e.g. the word-embedding rows of tokens actually seen) are
 * resident. Copies are made only where needed: query/key/value are stacked
 * into one [3H][H] matrix (one fused matmul), and f16/bf16/f64 or misaligned
 * tensors are converted to float32 at load. */
#ifndef SEGSTREAM_MODEL_BERT_WEIGHTS_H
#define SEGSTREAM_MODEL_BERT_WEIGHTS_H

#include "common/err.h"
#include "model/bert_config.h"
#include "model/safetensors.h"

typedef struct segstream_bert_layer {
    const float *qkv_w;            /* [3H][H]: query, key, value rows stacked */
    const float *qkv_b;            /* [3H] */
    const float *attn_out_w;       /* [H][H] */
    const float *attn_out_b;       /* [H] */
    const float *attn_ln_g, *attn_ln_b; /* [H] */
    const float *ffn_up_w;         /* [F][H] */
    const float *ffn_up_b;         /* [F] */
    const float *ffn_down_w;       /* [H][F] */
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

/* Frees copies and unmaps the file. */
void segstream_bert_weights_free(segstream_bert_weights *w);

#endif
