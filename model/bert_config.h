/* bert_config.h - the shape of a BERT sentence-transformers model, read from its folder.
 *
 * Three files of a Hugging Face sentence-transformers folder say how to run
 * it: config.json (the transformer), sentence_bert_config.json (the sequence
 * length the model was trained for) and 1_Pooling/config.json (how token
 * vectors become one sentence vector). Only config.json is required: a plain
 * BERT folder without the other two gets max_seq_length =
 * max_position_embeddings and mean pooling. Everything is validated here so
 * the forward pass can trust the numbers. */
#ifndef SEGSTREAM_MODEL_BERT_CONFIG_H
#define SEGSTREAM_MODEL_BERT_CONFIG_H

#include "common/err.h"
#include "model/encoder.h"

typedef struct segstream_bert_config {
    int hidden_size;        /* H; a multiple of num_heads */
    int num_layers;
    int num_heads;
    int head_dim;           /* hidden_size / num_heads */
    int intermediate_size;  /* FFN width */
    int max_position;       /* max_position_embeddings */
    int type_vocab_size;
    int vocab_size;         /* 0 when config.json does not say: taken from the weights */
    float layer_norm_eps;
    int max_seq_length;     /* tokens per sequence incl. [CLS]/[SEP]; <= max_position */
    segstream_pooling pooling;
} segstream_bert_config;

/* Reads and validates the three files under model_dir. Returns 0, or -1 with
 * err naming the file and the key at fault (a missing folder or config.json
 * is reported with the path it looked for). */
int segstream_bert_config_load(const char *model_dir, segstream_bert_config *cfg, segstream_err *err);

#endif
