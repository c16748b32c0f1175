/* wordpiece.h - greedy longest-match-first WordPiece over one word, as
 * Hugging Face's WordPiece model does it: from the start of the word take the
 * longest vocabulary piece, then continue with "##" pieces; a word with a part
 * no piece covers, or longer than max_chars characters, is a single [UNK]. */
#ifndef SEGSTREAM_MODEL_WORDPIECE_H
#define SEGSTREAM_MODEL_WORDPIECE_H

#include "model/vocab.h"

#include <stddef.h>
#include <stdint.h>

/* word: UTF-8 bytes of one pre-tokenized word, nchars its character count.
 * Writes at most cap ids (cap >= 1; len ids always suffice) and returns the
 * piece count, or -1 if cap was too small. Touches no heap memory. */
int segstream_wordpiece(const segstream_vocab *vocab, const char *word, size_t len, size_t nchars,
                        size_t max_chars, int32_t unk_id, int32_t *ids, int cap);

#endif
