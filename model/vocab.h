/* vocab.h - a WordPiece vocabulary (vocab.txt: one token a line, id = line
 * number) in an open-addressing hash table.
 *
 * Continuation pieces ("##ing") are stored without their "##" and with a
 * flag, so WordPiece looks up a slice of the word without copying it to glue
 * the prefix on. Linear probing, power-of-two size, load factor <= 0.5.
 * Immutable after load: lookups are thread-safe. */
#ifndef SEGSTREAM_MODEL_VOCAB_H
#define SEGSTREAM_MODEL_VOCAB_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct segstream_vocab segstream_vocab;

/* Reads path; NULL with err naming the file on failure. A token listed twice
 * keeps its last id, as Hugging Face's loaders do. */
segstream_vocab *segstream_vocab_load(const char *path, segstream_err *err);
void segstream_vocab_free(segstream_vocab *v);

/* The id of s[0..len) (with continuation: of "##" + s), or -1. */
int32_t segstream_vocab_find(const segstream_vocab *v, bool continuation, const char *s, size_t len);
/* The id of a whole token as written in vocab.txt ("##ing" included), or -1. */
int32_t segstream_vocab_id(const segstream_vocab *v, const char *token);

int segstream_vocab_size(const segstream_vocab *v);
/* The token text of id as in vocab.txt (owned by v), NULL if out of range. */
const char *segstream_vocab_token(const segstream_vocab *v, int32_t id);
/* Longest token in bytes, "##" excluded: WordPiece never tries longer slices. */
size_t segstream_vocab_max_piece_bytes(const segstream_vocab *v);

#endif
