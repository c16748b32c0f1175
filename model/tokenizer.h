/* tokenizer.h - the BERT tokenizer of a Hugging Face model folder, token for
 * token what the `tokenizers` library's BertNormalizer + BertPreTokenizer +
 * WordPiece + [CLS]/[SEP] template produce for the same folder.
 *
 * It reads vocab.txt, tokenizer_config.json (do_lower_case, strip_accents,
 * tokenize_chinese_chars, the special tokens) and, unless the options give
 * max_tokens, sentence_bert_config.json (max_seq_length). Input is any bytes:
 * invalid UTF-8 is replaced by U+FFFD (which normalisation then drops), as
 * Python's decode(errors='replace') would. Special tokens written in the text
 * ("[SEP]") are recognised as such, as Hugging Face does.
 *
 * Thread rules: a tokenizer is immutable after open; any number of threads
 * may encode with one tokenizer at the same time (scratch space lives on the
 * caller's stack). Encoding allocates nothing on the heap. */
#ifndef SEGSTREAM_MODEL_TOKENIZER_H
#define SEGSTREAM_MODEL_TOKENIZER_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct segstream_tokenizer segstream_tokenizer;

typedef struct segstream_tokenizer_options {
    /* ids per text incl. [CLS] and [SEP], >= 2; 0 = max_seq_length of sentence_bert_config.json */
    int max_tokens;
} segstream_tokenizer_options;

segstream_tokenizer_options segstream_tokenizer_default_options(void);

/* Opens the tokenizer of model_dir. opt may be NULL (defaults). Returns NULL
 * with err naming the missing or bad file. Free with segstream_tokenizer_close. */
segstream_tokenizer *segstream_tokenizer_open(const char *model_dir, const segstream_tokenizer_options *opt,
                                              segstream_err *err);
void segstream_tokenizer_close(segstream_tokenizer *tok); /* NULL is fine */

/* Tokenizes text[0..len) (any bytes; NUL is just a dropped control
 * character) into ids, a caller buffer of cap entries: [CLS] pieces... [SEP],
 * the pieces truncated so the whole fits max_tokens. Returns the number of
 * ids written, or -1 with err set when cap is smaller than that (cap >=
 * segstream_tokenizer_max_tokens() always suffices). Thread-safe. */
int segstream_tokenizer_encode(const segstream_tokenizer *tok, const char *text, size_t len, int32_t *ids,
                               int cap, segstream_err *err);

int segstream_tokenizer_max_tokens(const segstream_tokenizer *tok);
int segstream_tokenizer_vocab_size(const segstream_tokenizer *tok);

/* The vocabulary entry of id ("##ing" for a continuation piece), owned by the
 * tokenizer; NULL if id is out of range. */
const char *segstream_tokenizer_token(const segstream_tokenizer *tok, int32_t id);

/* The words of text after normalisation and pre-tokenization, before
 * WordPiece and without truncation (for segment labels): calls fn(word, len,
 * user) for each, in order; word is UTF-8, not NUL-terminated, valid only
 * during the call. Special tokens written in the text are words too. Returns
 * 0, or -1 with err set (out of memory). Thread-safe. */
int segstream_tokenizer_words(const segstream_tokenizer *tok, const char *text, size_t len,
                              void (*fn)(const char *word, size_t len, void *user), void *user,
                              segstream_err *err);

#endif
