/* normalize.h - the BERT normalizer (Hugging Face BertNormalizer), streamed
 * one code point at a time so encoding needs no buffer the size of the text.
 *
 * Steps, in the reference's order: clean_text (drop U+0000, U+FFFD, controls,
 * format and unassigned characters; whitespace -> ' '), spaces around CJK
 * ideographs, strip accents (NFD, then drop nonspacing marks), lowercase
 * (full per-character mapping, so U+0130 -> "i\u0307"). NFD reorders runs of
 * combining marks, so marks that survive stripping wait in the state until
 * the next starter. */
#ifndef SEGSTREAM_MODEL_NORMALIZE_H
#define SEGSTREAM_MODEL_NORMALIZE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct segstream_normalizer_config {
    bool clean_text;
    bool handle_chinese_chars;
    bool strip_accents; /* already resolved: tokenizer_config's null means "= lowercase" */
    bool lowercase;
} segstream_normalizer_config;

/* Marks of nonzero combining class that strip_accents keeps (rare: spacing
 * marks such as musical stems) wait here to be put in canonical order. A run
 * longer than this is ordered in pieces (a deviation only on absurd input). */
#define SEGSTREAM_NORM_PENDING_MAX 32
/* The most code points one push or flush can release. */
#define SEGSTREAM_NORM_OUT_MAX (2 * (SEGSTREAM_NORM_PENDING_MAX + 8) * 3)

typedef struct segstream_normalizer_state {
    uint32_t pending[SEGSTREAM_NORM_PENDING_MAX];
    int npending;
} segstream_normalizer_state;

void segstream_normalizer_reset(segstream_normalizer_state *st);

/* Feeds one code point of the input; writes the normalized code points it
 * releases to out (room for SEGSTREAM_NORM_OUT_MAX) and returns their count. */
int segstream_normalize_push(const segstream_normalizer_config *cfg, segstream_normalizer_state *st,
                             uint32_t cp, uint32_t *out);

/* End of a segment: releases waiting marks; returns their count. */
int segstream_normalize_flush(const segstream_normalizer_config *cfg,
                              segstream_normalizer_state *st, uint32_t *out);

#endif
