/* test_encoder_shapes.c - other BERT shapes run end to end (shapes only: random weights).
 *
 * A synthetic BERT-base-sized folder (hidden 768, 12 heads, FFN 3072, 2
 * layers; 1000-token vocabulary) with f16/bf16/f32 tensors, "bert." names and
 * CLS pooling, written to a temporary folder. Its embeddings mean nothing;
 * this checks that the shapes, dtypes and options the loader accepts run: unit
 * vectors come out, in input order, batch-independent, and the errors for
 * a missing folder and for ids out of range are clear. */
#include "model/encoder.h"

#include "synthetic_model.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static char dir[64];

static int make_model(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/segstream-bertbase-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char vocab[4096];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", getenv("SEGSTREAM_MODEL_DIR"));
    synthetic_model m = {.hidden = 768, .heads = 12, .ffn = 3072, .layers = 2, .vocab = 1000,
                         .max_position = 512, .prefix = "bert.", .mixed_dtypes = 1,
                         .cls_pooling = 1, .vocab_from = vocab};
    return synthetic_model_write(dir, &m);
}

static int remove_model(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static segstream_encoder *open_model(int budget)
{
    segstream_encoder_options opt = segstream_encoder_default_options();
    opt.threads = 2;
    opt.max_batch_tokens = budget;
    opt.cache_entries = 0;
    segstream_err err = {{0}};
    segstream_encoder *enc = segstream_encoder_open(dir, &opt, &err);
    if (!enc)
        fail_msg("open %s: %s", dir, err.message);
    return enc;
}

static void bert_base_shapes_run(void **state)
{
    (void)state;
    segstream_encoder *enc = open_model(64);
    assert_int_equal(segstream_encoder_dim(enc), 768);
    assert_int_equal(segstream_encoder_max_tokens(enc), 512); /* no sentence_bert_config.json */
    /* words inside the 1000-token vocabulary are [unused..] and punctuation; any text runs */
    const char *texts[] = {"", "! \" # $ % & ' ( ) * + , - . /", "[unused5] [unused6]", "a b c"};
    float out[4 * 768];
    segstream_err err = {{0}};
    if (segstream_encoder_encode(enc, texts, 4, out, &err))
        fail_msg("encode: %s", err.message);
    for (int i = 0; i < 4; i++) {
        double norm = 0;
        for (int j = 0; j < 768; j++) {
            assert_true(isfinite(out[i * 768 + j]));
            norm += (double)out[i * 768 + j] * out[i * 768 + j];
        }
        assert_true(fabs(norm - 1) < 1e-5);
    }
    /* each text alone gives its row of the batch (to fp32 rounding) */
    for (int i = 0; i < 4; i++) {
        float one[768];
        assert_int_equal(segstream_encoder_encode(enc, &texts[i], 1, one, &err), 0);
        for (int j = 0; j < 768; j++)
            assert_true(fabsf(one[j] - out[i * 768 + j]) < 1e-5f);
    }
    segstream_encoder_close(enc);
}

static void long_sequences_and_bad_ids(void **state)
{
    (void)state;
    segstream_encoder *enc = open_model(100); /* a 512-token sequence runs alone, over budget */
    int32_t seq[512];
    for (int i = 0; i < 512; i++)
        seq[i] = i == 0 ? 101 : i == 511 ? 102 : 200 + i % 700;
    const int32_t *ids[2] = {seq, seq};
    int lengths[2] = {512, 3};
    float out[2 * 768];
    segstream_err err = {{0}};
    if (segstream_encoder_encode_ids(enc, ids, lengths, 2, out, &err))
        fail_msg("encode_ids: %s", err.message);
    lengths[0] = 513;
    assert_int_equal(segstream_encoder_encode_ids(enc, ids, lengths, 2, out, &err), -1);
    assert_non_null(strstr(err.message, "513"));
    lengths[0] = 3;
    seq[1] = 1000; /* outside the vocabulary */
    assert_int_equal(segstream_encoder_encode_ids(enc, ids, lengths, 2, out, &err), -1);
    assert_non_null(strstr(err.message, "1000"));
    segstream_encoder_close(enc);
}

static void missing_folder_names_the_file(void **state)
{
    (void)state;
    segstream_err err = {{0}};
    assert_null(segstream_encoder_open("/nonexistent/model", NULL, &err));
    assert_non_null(strstr(err.message, "/nonexistent/model/config.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bert_base_shapes_run),
        cmocka_unit_test(long_sequences_and_bad_ids),
        cmocka_unit_test(missing_folder_names_the_file),
    };
    return cmocka_run_group_tests(tests, make_model, remove_model);
}
