/* tokenizer_config.h - what a Hugging Face BERT folder says about its
 * tokenizer: tokenizer_config.json (casing, accents, CJK, special tokens)
 * and sentence_bert_config.json (max_seq_length). Defaults are those of
 * transformers' BertTokenizer where a key is absent; a missing or malformed
 * file is an error naming it. */
#ifndef SEGSTREAM_MODEL_TOKENIZER_CONFIG_H
#define SEGSTREAM_MODEL_TOKENIZER_CONFIG_H

#include "common/err.h"

#include <stdbool.h>

#define SEGSTREAM_TOKENIZER_SPECIAL_MAX 16
#define SEGSTREAM_TOKENIZER_SPECIAL_LEN 64

typedef struct segstream_tokenizer_config {
    bool lowercase;            /* do_lower_case, default true */
    bool strip_accents;        /* strip_accents; null or absent: = lowercase */
    bool handle_chinese_chars; /* tokenize_chinese_chars, default true */
    int max_seq_length;        /* from sentence_bert_config.json; 0 when not read */
    char unk[SEGSTREAM_TOKENIZER_SPECIAL_LEN], cls[SEGSTREAM_TOKENIZER_SPECIAL_LEN],
        sep[SEGSTREAM_TOKENIZER_SPECIAL_LEN];
    /* every special token (unk, sep, pad, cls, mask, additional ones) */
    char special[SEGSTREAM_TOKENIZER_SPECIAL_MAX][SEGSTREAM_TOKENIZER_SPECIAL_LEN];
    int nspecial;
} segstream_tokenizer_config;

/* Reads the files of model_dir; sentence_bert_config.json only if
 * read_max_seq_length. Returns 0, or -1 with err naming the file. */
int segstream_tokenizer_config_load(const char *model_dir, bool read_max_seq_length,
                                    segstream_tokenizer_config *cfg, segstream_err *err);

#endif
