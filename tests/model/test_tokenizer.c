/* test_tokenizer.c - the BERT tokenizer on the real all-MiniLM-L6-v2 folder:
 * known tokenizations, truncation, [UNK] rules, invalid UTF-8, buffer and
 * configuration errors. Full parity with Hugging Face is the parity tests'. */
#include "model/tokenizer.h"
#include "model/utf8.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static const char *model_dir(void)
{
    const char *d = getenv("SEGSTREAM_MODEL_DIR");
    return d ? d : "model-dir-not-set";
}

static int setup(void **state)
{
    segstream_err err = {{0}};
    *state = segstream_tokenizer_open(model_dir(), NULL, &err);
    if (!*state)
        fprintf(stderr, "%s\n", err.message);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    segstream_tokenizer_close(*state);
    return 0;
}

/* Encodes a copy of text in a buffer of exactly len bytes, so ASan catches any
 * read past the end. */
static int encode(const segstream_tokenizer *tok, const char *text, size_t len, int32_t *ids, int cap)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    segstream_err err = {{0}};
    int n = segstream_tokenizer_encode(tok, copy, len, ids, cap, &err);
    free(copy);
    return n;
}

static void assert_ids(const segstream_tokenizer *tok, const char *text, const int32_t *want, int nwant)
{
    int32_t ids[512];
    int n = encode(tok, text, strlen(text), ids, 512);
    assert_int_equal(n, nwant);
    for (int i = 0; i < n; i++)
        assert_int_equal(ids[i], want[i]);
}

static void known_tokenizations(void **state)
{
    const segstream_tokenizer *tok = *state;
    assert_ids(tok, "Hello, world!", (int32_t[]){101, 7592, 1010, 2088, 999, 102}, 6);
    /* lowercase + accents stripped, CJK split per character, special token in the text */
    assert_ids(tok, "HELLO [MASK] Straße naïve 北京",
               (int32_t[]){101, 7592, 103, 2358, 27807, 15743, 1781, 1755, 102}, 9);
    /* zero-width space, BOM and soft hyphen vanish: one word */
    assert_ids(tok, "\xef\xbb\xbfhel\xe2\x80\x8blo\xc2\xad", (int32_t[]){101, 7592, 102}, 3);
    assert_int_equal(segstream_tokenizer_vocab_size(tok), 30522);
    assert_int_equal(segstream_tokenizer_max_tokens(tok), 256);
    assert_string_equal(segstream_tokenizer_token(tok, 7592), "hello");
    assert_string_equal(segstream_tokenizer_token(tok, 101), "[CLS]");
    assert_null(segstream_tokenizer_token(tok, 30522));
    assert_null(segstream_tokenizer_token(tok, -1));
}

static void empty_text_is_cls_sep(void **state)
{
    assert_ids(*state, "", (int32_t[]){101, 102}, 2);
    assert_ids(*state, " \t\r\x01\xe2\x80\x8b", (int32_t[]){101, 102}, 2);
}

static void long_words_become_unk(void **state)
{
    const segstream_tokenizer *tok = *state;
    char word[400];
    memset(word, 'a', 101);
    word[101] = '\0';
    assert_ids(tok, word, (int32_t[]){101, 100, 102}, 3);
    /* exactly 100 characters still go through WordPiece */
    word[100] = '\0';
    int32_t ids[512];
    int n = encode(tok, word, 100, ids, 512);
    assert_true(n > 3);
    for (int i = 1; i < n - 1; i++)
        assert_int_not_equal(ids[i], 100);
    /* characters, not bytes: 100 two-byte "é" (stripped to "e") are fine */
    char accents[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(accents, "\xc3\xa9");
    n = encode(tok, accents, strlen(accents), ids, 512);
    assert_true(n > 3);
    strcat(accents, "\xc3\xa9");
    assert_ids(tok, accents, (int32_t[]){101, 100, 102}, 3);
    /* a word with a character no piece covers */
    assert_ids(tok, "abc\xe2\x98\x83xyz", (int32_t[]){101, 100, 102}, 3);
}

static void truncates_to_max_tokens(void **state)
{
    const segstream_tokenizer *tok = *state;
    size_t len = 3000 * 6;
    char *text = malloc(len);
    for (size_t i = 0; i < len; i += 6)
        memcpy(text + i, "hello ", 6);
    int32_t ids[256];
    int n = encode(tok, text, len, ids, 256);
    assert_int_equal(n, 256);
    assert_int_equal(ids[0], 101);
    assert_int_equal(ids[254], 7592);
    assert_int_equal(ids[255], 102);
    free(text);

    segstream_tokenizer_options opt = segstream_tokenizer_default_options();
    opt.max_tokens = 4;
    segstream_err err = {{0}};
    segstream_tokenizer *small = segstream_tokenizer_open(model_dir(), &opt, &err);
    assert_non_null(small);
    assert_ids(small, "Hello, world!", (int32_t[]){101, 7592, 1010, 102}, 4);
    assert_ids(small, "Hello", (int32_t[]){101, 7592, 102}, 3);
    segstream_tokenizer_close(small);
}

static void invalid_utf8_is_replaced_and_dropped(void **state)
{
    const segstream_tokenizer *tok = *state;
    int32_t a[64], b[64];
    /* U+FFFD is removed by clean_text, so the neighbours join into one word */
    const char *broken = "hel\x80lo wor\xf0\x9f\x98ld";
    int na = encode(tok, broken, strlen(broken), a, 64);
    int nb = encode(tok, "hello world", 11, b, 64);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, (size_t)na * sizeof a[0]);
    /* truncated sequences at the very end never read past it */
    static const char *const tails[] = {"\xc3", "\xe2\x82", "\xf0\x9f\x98", "x\xf4\x8f\xbf"};
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        int n = encode(tok, tails[i], strlen(tails[i]), a, 64);
        assert_true(n >= 2);
    }
}

static void utf8_maximal_subparts(void **state)
{
    (void)state;
    struct {
        const char *bytes;
        int replacements; /* U+FFFD the WHATWG decoder yields */
    } cases[] = {
        {"\xf0\x9f\x98", 1}, {"\xed\xa0\x80", 3}, {"\xc0\xaf", 2}, {"\xe0\x80\xaf", 3},
        {"\xf4\x90\x80\x80", 4}, {"\xe2\x82x", 1}, {"\xff", 1}, {"\xf0\x9f\x98\x80", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const unsigned char *s = (const unsigned char *)cases[i].bytes;
        size_t len = strlen(cases[i].bytes), pos = 0;
        int repl = 0;
        while (pos < len) {
            size_t before = pos;
            repl += segstream_utf8_decode(s, len, &pos) == SEGSTREAM_UTF8_REPLACEMENT;
            assert_true(pos > before && pos <= len);
        }
        assert_int_equal(repl, cases[i].replacements);
    }
    size_t pos = 0;
    assert_int_equal(segstream_utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &pos), 0x1F600);
}

static void small_buffer_is_an_error(void **state)
{
    int32_t ids[4];
    segstream_err err = {{0}};
    assert_int_equal(segstream_tokenizer_encode(*state, "hello big world", 15, ids, 4, &err), -1);
    assert_non_null(strstr(err.message, "needs 5"));
    assert_int_equal(segstream_tokenizer_encode(*state, "hello", 5, ids, 1, &err), -1);
    assert_int_equal(segstream_tokenizer_encode(*state, "hello world", 11, ids, 4, &err), 4);
}

struct words {
    char text[256];
    int n;
};

static void collect(const char *word, size_t len, void *user)
{
    struct words *w = user;
    assert_true(strlen(w->text) + len + 2 <= sizeof w->text);
    strncat(w->text, word, len);
    strcat(w->text, "|");
    w->n++;
}

static void record_length(const char *word, size_t len, void *user)
{
    size_t *longest = user;
    for (size_t i = 0; i < len; i++)
        assert_int_equal(word[i], 'z');
    if (len > *longest)
        *longest = len;
}

static void words_are_normalized_pretokens(void **state)
{
    struct words w = {"", 0};
    segstream_err err = {{0}};
    const char *text = "Hello, WORLD! na\xc3\xafve 北京 [SEP]x";
    assert_int_equal(segstream_tokenizer_words(*state, text, strlen(text), collect, &w, &err), 0);
    assert_string_equal(w.text, "hello|,|world|!|naive|北|京|[SEP]|x|");
    /* long words come whole (no [UNK], no truncation) */
    char *big = malloc(2000);
    memset(big, 'Z', 2000);
    size_t longest = 0;
    assert_int_equal(segstream_tokenizer_words(*state, big, 2000, record_length, &longest, &err), 0);
    assert_int_equal(longest, 2000);
    free(big);
}

/* One tokenizer, several threads at once: each must get what a lone caller gets. */
static const char *const thread_texts[] = {
    "How do I convert a String to an int in Java?", "北京大学 naïve İstanbul [SEP] 😀",
    "liked: Toy Story (1995) - Adventure, Animation", "caf\xc3\xa9 \xe2\x80\x8b r\xc3\xa9sum\xc3\xa9",
};

struct thread_job {
    const segstream_tokenizer *tok;
    int mismatches;
};

static void *encode_many(void *arg)
{
    struct thread_job *job = arg;
    int32_t want[4][64], got[64];
    int nwant[4];
    for (int t = 0; t < 4; t++)
        nwant[t] = segstream_tokenizer_encode(job->tok, thread_texts[t], strlen(thread_texts[t]), want[t],
                                              64, NULL);
    for (int i = 0; i < 2000; i++) {
        int t = i % 4;
        int n = segstream_tokenizer_encode(job->tok, thread_texts[t], strlen(thread_texts[t]), got, 64, NULL);
        if (n != nwant[t] || memcmp(got, want[t], (size_t)n * sizeof got[0]) != 0)
            job->mismatches++;
    }
    return NULL;
}

static void concurrent_encoding_agrees(void **state)
{
    pthread_t threads[4];
    struct thread_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct thread_job){*state, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, encode_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(jobs[i].mismatches, 0);
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void bad_model_folders_name_the_file(void **state)
{
    (void)state;
    segstream_err err = {{0}};
    assert_null(segstream_tokenizer_open("/nonexistent/model", NULL, &err));
    assert_non_null(strstr(err.message, "/nonexistent/model/tokenizer_config.json"));

    char dir[] = "/tmp/segstream-tokenizer-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    write_file(path, "{\"do_lower_case\": true,");
    assert_null(segstream_tokenizer_open(dir, NULL, &err));
    assert_non_null(strstr(err.message, path));

    write_file(path, "{\"do_lower_case\": true}");
    char sbert[512];
    snprintf(sbert, sizeof sbert, "%s/sentence_bert_config.json", dir);
    assert_null(segstream_tokenizer_open(dir, NULL, &err));
    assert_non_null(strstr(err.message, sbert));

    write_file(sbert, "{\"max_seq_length\": \"long\"}");
    assert_null(segstream_tokenizer_open(dir, NULL, &err));
    assert_non_null(strstr(err.message, "max_seq_length"));

    write_file(sbert, "{\"max_seq_length\": 128}");
    char vocab[512];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", dir);
    assert_null(segstream_tokenizer_open(dir, NULL, &err));
    assert_non_null(strstr(err.message, vocab));

    write_file(vocab, "[PAD]\n[UNK]\n[CLS]\nhello\n");
    assert_null(segstream_tokenizer_open(dir, NULL, &err)); /* no [SEP] */
    assert_non_null(strstr(err.message, "[SEP]"));

    write_file(vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n##s\n");
    segstream_tokenizer *tok = segstream_tokenizer_open(dir, NULL, &err);
    assert_non_null(tok);
    assert_int_equal(segstream_tokenizer_max_tokens(tok), 128);
    assert_ids(tok, "Hellos hi", (int32_t[]){2, 4, 5, 1, 3}, 5);
    segstream_tokenizer_close(tok);
    unlink(vocab);
    unlink(sbert);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_tokenizations),
        cmocka_unit_test(empty_text_is_cls_sep),
        cmocka_unit_test(long_words_become_unk),
        cmocka_unit_test(truncates_to_max_tokens),
        cmocka_unit_test(invalid_utf8_is_replaced_and_dropped),
        cmocka_unit_test(utf8_maximal_subparts),
        cmocka_unit_test(small_buffer_is_an_error),
        cmocka_unit_test(words_are_normalized_pretokens),
        cmocka_unit_test(concurrent_encoding_agrees),
        cmocka_unit_test(bad_model_folders_name_the_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
