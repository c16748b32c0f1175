/* pretokenize.h - the BERT pre-tokenizer (Hugging Face BertPreTokenizer) over
 * a stream of normalized code points: whitespace ends a word and is dropped,
 * each punctuation character is a word of its own, the rest accumulates.
 *
 * The word is kept as UTF-8 in an inline buffer; a pre-tokenizer made with
 * keep_chars > 0 stops storing after that many characters but keeps counting
 * them (WordPiece turns such words into [UNK] anyway, so encoding never
 * allocates), one made with keep_chars == 0 grows a heap buffer instead. */
#ifndef SEGSTREAM_MODEL_PRETOKENIZE_H
#define SEGSTREAM_MODEL_PRETOKENIZE_H

#include <stddef.h>
#include <stdint.h>

/* Receives each finished word (bytes valid only during the call; when the
 * word outgrew keep_chars, only its first keep_chars characters are there).
 * Returns 0 to go on, 1 to stop early, -1 on error; push/end pass it back. */
typedef int (*segstream_word_sink)(void *ctx, const char *word, size_t len, size_t nchars);

#define SEGSTREAM_PRETOK_INLINE 512

typedef struct segstream_pretokenizer {
    char inline_buf[SEGSTREAM_PRETOK_INLINE];
    char *buf;          /* inline_buf or a heap buffer (keep_chars == 0 only) */
    size_t len, cap;    /* bytes stored, bytes available in buf */
    size_t nchars;      /* characters in the word, stored or not */
    size_t keep_chars;  /* 0: store every character */
    segstream_word_sink sink;
    void *ctx;
} segstream_pretokenizer;

/* keep_chars * 4 must fit SEGSTREAM_PRETOK_INLINE unless it is 0. */
void segstream_pretokenizer_init(segstream_pretokenizer *p, size_t keep_chars, segstream_word_sink sink,
                                 void *ctx);
void segstream_pretokenizer_free(segstream_pretokenizer *p);

/* Feeds one normalized code point. Returns the sink's result if a word
 * ended (or -1 if the heap buffer could not grow), else 0. */
int segstream_pretokenize_push(segstream_pretokenizer *p, uint32_t cp);
/* Ends the current word, if any (end of text or of a segment). */
int segstream_pretokenize_end(segstream_pretokenizer *p);

#endif
