/* synthetic_model.h - writes a BERT model folder with random weights, for tests
 * of shapes, dtypes and error paths (its embeddings mean nothing). */
#ifndef SEGSTREAM_TESTS_SYNTHETIC_MODEL_H
#define SEGSTREAM_TESTS_SYNTHETIC_MODEL_H

typedef struct synthetic_model {
    int hidden, heads, ffn, layers, vocab, max_position;
    const char *prefix;     /* "" or "bert." before every tensor name */
    int mixed_dtypes;       /* matrices alternate F16 / BF16 / F32 */
    const char *omit;       /* a tensor name (without prefix) to leave out, or NULL */
    const char *wrong_shape;/* a tensor name whose first dimension is written one too big, or NULL */
    int cls_pooling;        /* write 1_Pooling/config.json with CLS pooling */
    const char *vocab_from; /* a vocab.txt to take the first `vocab` lines from */
} synthetic_model;

/* Writes config.json, model.safetensors, vocab.txt, tokenizer_config.json and
 * (if cls_pooling) 1_Pooling/config.json into the existing folder dir. 0 or -1. */
int synthetic_model_write(const char *dir, const synthetic_model *m);

#endif
