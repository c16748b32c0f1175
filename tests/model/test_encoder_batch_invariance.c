/* test_encoder_batch_invariance.c - a text's embedding does not depend on its batch.
 *
 * The Kafka stage encodes whatever one poll returns; after a restart or in a
 * replay the polls cut the stream elsewhere, and the stage promises the same
 * output bytes. So the encoder, with options.deterministic on, must give
 * bit-identical vectors for a text whatever shares its forward pass, where it
 * sits in the packed batch and how the token budget cuts the batches
 * (encoder.h states the contract: same thread count, same machine). Without
 * the option (before it existed) all 200 texts differed between one call
 * each and one pass for all, by up to 1.1e-7. 200 real texts (StackOverflow titles,
 * SearchSnippets snippets and two texts over the budget of some passes, built
 * from snippets) are encoded all at once; every other batching - one text a
 * call, budgets from 16 to 1024 tokens, random groups in shuffled order -
 * must give the same bytes (memcmp), with fresh and reused encoders.
 *
 * int8 precision is run the same way with options.deterministic OFF: its
 * matmuls are exact integer sums of per-token codes and everything else
 * works row by row or sequence by sequence, so it must be batch-invariant
 * with no fixed tiles at all (encoder.h promises it). */
#include "model/encoder.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define N_TEXTS 200
#define N_STACKOVERFLOW 140
#define N_SNIPPETS 58 /* the last 2 texts are long ones glued from snippets */

static struct fixture {
    char *texts[N_TEXTS];
    int dim;
} fx;

/* Every stride-th line (from line 0) of a data file, count lines, into fx.texts[first..]. */
static void read_lines(const char *name, size_t stride, size_t count, size_t first)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/short-text-clustering/%s", getenv("SEGSTREAM_DATA_DIR"), name);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    char line[8192];
    size_t taken = 0;
    for (size_t i = 0; taken < count && fgets(line, sizeof line, f); i++) {
        if (i % stride)
            continue;
        line[strcspn(line, "\r\n")] = '\0';
        fx.texts[first + taken++] = strdup(line);
    }
    fclose(f);
    assert_int_equal(taken, count);
}

static char *glue(size_t from, size_t count)
{
    size_t len = 1;
    for (size_t i = 0; i < count; i++)
        len += strlen(fx.texts[from + i]) + 1;
    char *s = calloc(len, 1);
    assert_non_null(s);
    for (size_t i = 0; i < count; i++)
        strcat(strcat(s, fx.texts[from + i]), " ");
    return s;
}

static int load_fixture(void **state)
{
    (void)state;
    read_lines("StackOverflow.txt", 131, N_STACKOVERFLOW, 0);
    read_lines("SearchSnippets.txt", 199, N_SNIPPETS, N_STACKOVERFLOW);
    /* over 100 tokens (one alone) and truncated to the model's 256 */
    fx.texts[N_TEXTS - 2] = glue(N_STACKOVERFLOW, 4);
    fx.texts[N_TEXTS - 1] = glue(N_STACKOVERFLOW + 4, 12);
    return 0;
}

static int free_fixture(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_TEXTS; i++)
        free(fx.texts[i]);
    return 0;
}

/* the mode under test: fp32 with the option on, or int8 with it off */
static segstream_precision precision = SEGSTREAM_PRECISION_F32;
static int deterministic = 1;

static segstream_encoder *open_encoder(int threads, int budget)
{
    segstream_encoder_options opt = segstream_encoder_default_options();
    opt.threads = threads;
    opt.max_batch_tokens = budget;
    opt.cache_entries = 0; /* a cache would answer repeats from the first pass */
    opt.deterministic = deterministic;
    opt.precision = precision;
    segstream_err err = {{0}};
    segstream_encoder *enc = segstream_encoder_open(getenv("SEGSTREAM_MODEL_DIR"), &opt, &err);
    if (!enc)
        fail_msg("open: %s", err.message);
    fx.dim = segstream_encoder_dim(enc);
    return enc;
}

static void encode(segstream_encoder *enc, const char **texts, size_t n, float *out)
{
    segstream_err err = {{0}};
    if (segstream_encoder_encode(enc, texts, n, out, &err))
        fail_msg("encode: %s", err.message);
}

/* got[k] is the embedding of text order[k]; want[i] that of text i. */
static void assert_same_bytes(const float *want, const float *got, const size_t *order, const char *what)
{
    const size_t d = (size_t)fx.dim;
    size_t differ = 0, first = N_TEXTS;
    double worst = 0;
    for (size_t k = 0; k < N_TEXTS; k++) {
        const float *a = want + order[k] * d, *b = got + k * d;
        if (!memcmp(a, b, d * sizeof *a))
            continue;
        first = differ++ ? first : order[k];
        for (size_t j = 0; j < d; j++)
            worst = fmax(worst, fabs((double)a[j] - b[j]));
    }
    if (differ)
        fail_msg("%s: %zu of %d texts differ from the all-at-once pass (largest difference %.3g), "
                 "first text %zu \"%.50s\"",
                 what, differ, N_TEXTS, worst, first, fx.texts[first]);
    print_message("%s: all %d texts bit-identical\n", what, N_TEXTS);
}

static uint64_t rng_state;
static size_t rng_below(size_t n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (size_t)((rng_state >> 33) % n);
}

/* All texts in one forward pass, the reference every other batching must equal. */
static float *encode_all_at_once(int threads)
{
    segstream_encoder *enc = open_encoder(threads, 1 << 20);
    float *want = malloc(N_TEXTS * (size_t)fx.dim * sizeof *want);
    assert_non_null(want);
    encode(enc, (const char **)fx.texts, N_TEXTS, want);
    segstream_encoder_stats st;
    segstream_encoder_get_stats(enc, &st);
    assert_int_equal(st.sequences, N_TEXTS); /* it really was one pass... */
    segstream_encoder_close(enc);
    return want;
}

static void one_text_a_call(int threads, const float *want)
{
    segstream_encoder *enc = open_encoder(threads, 1024);
    float *got = malloc(N_TEXTS * (size_t)fx.dim * sizeof *got);
    size_t order[N_TEXTS];
    for (size_t i = 0; i < N_TEXTS; i++) {
        order[i] = i;
        encode(enc, (const char **)&fx.texts[i], 1, got + i * (size_t)fx.dim);
    }
    assert_same_bytes(want, got, order, "one text a call");
    free(got);
    segstream_encoder_close(enc);
}

static void in_order_with_budget(int threads, const float *want, int budget)
{
    segstream_encoder *enc = open_encoder(threads, budget);
    float *got = malloc(N_TEXTS * (size_t)fx.dim * sizeof *got);
    size_t order[N_TEXTS];
    for (size_t i = 0; i < N_TEXTS; i++)
        order[i] = i;
    encode(enc, (const char **)fx.texts, N_TEXTS, got);
    char what[64];
    snprintf(what, sizeof what, "in order, %d-token batches", budget);
    assert_same_bytes(want, got, order, what);
    free(got);
    segstream_encoder_close(enc);
}

/* Shuffled texts, cut into calls of 1..40 texts, one encoder reused for all. */
static void shuffled_random_groups(int threads, const float *want, int budget, uint64_t seed)
{
    rng_state = seed;
    size_t order[N_TEXTS];
    const char *texts[N_TEXTS];
    for (size_t i = 0; i < N_TEXTS; i++)
        order[i] = i;
    for (size_t i = N_TEXTS - 1; i > 0; i--) {
        size_t j = rng_below(i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (size_t k = 0; k < N_TEXTS; k++)
        texts[k] = fx.texts[order[k]];
    segstream_encoder *enc = open_encoder(threads, budget);
    float *got = malloc(N_TEXTS * (size_t)fx.dim * sizeof *got);
    for (size_t k = 0, group; k < N_TEXTS; k += group) {
        group = 1 + rng_below(40);
        group = group > N_TEXTS - k ? N_TEXTS - k : group;
        encode(enc, texts + k, group, got + k * (size_t)fx.dim);
    }
    char what[96];
    snprintf(what, sizeof what, "shuffled, random groups (seed %llu), %d-token batches",
             (unsigned long long)seed, budget);
    assert_same_bytes(want, got, order, what);
    free(got);
    segstream_encoder_close(enc);
}

static void two_threads_any_batching_same_bytes(void **state)
{
    (void)state;
    float *want = encode_all_at_once(2);
    one_text_a_call(2, want);
    in_order_with_budget(2, want, 16); /* nearly every text alone */
    in_order_with_budget(2, want, 100);
    in_order_with_budget(2, want, 1024);
    shuffled_random_groups(2, want, 1024, 1);
    shuffled_random_groups(2, want, 77, 2);
    shuffled_random_groups(2, want, 512, 3);
    free(want);
}

static void one_thread_any_batching_same_bytes(void **state)
{
    (void)state;
    float *want = encode_all_at_once(1);
    one_text_a_call(1, want);
    in_order_with_budget(1, want, 100);
    shuffled_random_groups(1, want, 512, 4);
    free(want);
}

static void int8_two_threads_no_tiles_any_batching_same_bytes(void **state)
{
    two_threads_any_batching_same_bytes(state);
}

static void int8_one_thread_no_tiles_any_batching_same_bytes(void **state)
{
    one_thread_any_batching_same_bytes(state);
}

static int int8_without_tiles(void **state)
{
    (void)state;
    precision = SEGSTREAM_PRECISION_INT8;
    deterministic = 0;
    return 0;
}

static int fp32_deterministic(void **state)
{
    (void)state;
    precision = SEGSTREAM_PRECISION_F32;
    deterministic = 1;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_threads_any_batching_same_bytes),
        cmocka_unit_test(one_thread_any_batching_same_bytes),
        cmocka_unit_test_setup_teardown(int8_two_threads_no_tiles_any_batching_same_bytes, int8_without_tiles,
                                        fp32_deterministic),
        cmocka_unit_test_setup_teardown(int8_one_thread_no_tiles_any_batching_same_bytes, int8_without_tiles,
                                        fp32_deterministic),
    };
    return cmocka_run_group_tests(tests, load_fixture, free_fixture);
}
