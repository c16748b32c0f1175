/* fuzz_tokenizer.c - libFuzzer target for the tokenizer: arbitrary bytes as
 * text (invalid UTF-8, NULs, combining marks, CJK, special tokens written in
 * the text) through normalisation, pre-tokenization and WordPiece, with the
 * real all-MiniLM-L6-v2 vocabulary read from $SEGSTREAM_MODEL_DIR (the
 * folder tools/fetch-model prints; only vocab.txt and the tokenizer/sentence
 * configs are read, not the weights).
 *
 * Checks: [CLS] first and [SEP] last, every id inside the vocabulary, the
 * count within max_tokens, a buffer one short of the result refused rather
 * than overrun, and the words callback giving non-empty UTF-8 pieces.
 * Seeds: tests/fuzz/corpus/tokenizer. */
#include "model/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static segstream_tokenizer *tok;
static int32_t cls_id, sep_id;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_tokenizer: %s\n", what);
    abort();
}

static int32_t id_of(const char *token)
{
    for (int32_t i = 0; i < segstream_tokenizer_vocab_size(tok); i++)
        if (!strcmp(segstream_tokenizer_token(tok, i), token))
            return i;
    fail("special token missing from the vocabulary");
    return -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *dir = getenv("SEGSTREAM_MODEL_DIR");
    if (!dir || !*dir)
        fail("set SEGSTREAM_MODEL_DIR to the model folder (tools/fetch-model prints it)");
    segstream_err err = {{0}};
    tok = segstream_tokenizer_open(dir, NULL, &err);
    if (!tok) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.message);
        abort();
    }
    cls_id = id_of("[CLS]");
    sep_id = id_of("[SEP]");
    return 0;
}

static void on_word(const char *word, size_t len, void *user)
{
    if (!len || !word)
        fail("empty word");
    for (size_t i = 0; i < len; i++) /* every byte readable; ASan checks the range */
        *(size_t *)user += (unsigned char)word[i] != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    segstream_err err = {{0}};
    int cap = segstream_tokenizer_max_tokens(tok);
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids)
        return 0;
    int n = segstream_tokenizer_encode(tok, (const char *)data, size, ids, cap, &err);
    if (n < 2 || n > cap)
        fail("id count out of range");
    if (ids[0] != cls_id || ids[n - 1] != sep_id)
        fail("missing [CLS] or [SEP]");
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= segstream_tokenizer_vocab_size(tok))
            fail("id outside the vocabulary");
    /* One entry short must be refused, and the same text must give the same ids. */
    int32_t *small = malloc((size_t)n * sizeof *small);
    if (small) {
        if (segstream_tokenizer_encode(tok, (const char *)data, size, small, n - 1, &err) != -1)
            fail("a buffer one short was accepted");
        if (segstream_tokenizer_encode(tok, (const char *)data, size, small, n, &err) != n ||
            memcmp(small, ids, (size_t)n * sizeof *ids))
            fail("not deterministic");
        free(small);
    }
    size_t bytes = 0;
    if (segstream_tokenizer_words(tok, (const char *)data, size, on_word, &bytes, &err) < 0)
        fail(err.message);
    free(ids);
    return 0;
}
