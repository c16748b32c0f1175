/* test_safetensors.c - the weights loader on valid, converted and corrupt files.
 *
 * Every corrupt file must give an error naming the file (and the tensor
 * where one is at fault), never a crash or a read outside the file (run
 * under ASan in the sanitizer build). */
#include "model/bert_config.h"
#include "model/bert_weights.h"
#include "model/safetensors.h"

#include "st_writer.h"
#include "synthetic_model.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static char dir[64];
static char path[128];

static int make_dir(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/segstream-st-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes 8-byte length + header + `data_len` zero bytes of data. */
static void write_with_header(const char *header, size_t data_len)
{
    size_t hl = strlen(header), total = 8 + hl + data_len;
    unsigned char *buf = calloc(1, total);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    assert_int_equal(st_write_raw(path, buf, total), 0);
    free(buf);
}

/* Opening must fail with a message containing the path and each of the words. */
static void expect_open_error(const char *w1, const char *w2)
{
    segstream_err err = {{0}};
    segstream_safetensors *st = segstream_safetensors_open(path, &err);
    if (st)
        fail_msg("opened a corrupt file (expected \"%s\")", w1);
    if (!strstr(err.message, path) || (w1 && !strstr(err.message, w1)) || (w2 && !strstr(err.message, w2)))
        fail_msg("error \"%s\" should name %s, %s and %s", err.message, path, w1 ? w1 : "-", w2 ? w2 : "-");
}

static void valid_file_with_all_float_types(void **state)
{
    (void)state;
    const float f32[6] = {1, -2, 3.5f, 0, 1e-3f, -7};
    const uint16_t f16[4] = {st_f32_to_f16(1.5f), st_f32_to_f16(-2.25f), 0x7bff /* 65504 */,
                             0x0001 /* smallest subnormal, 2^-24 */};
    const uint16_t bf16[2] = {st_f32_to_bf16(3.0f), st_f32_to_bf16(-0.5f)};
    const int64_t i64[1] = {42};
    const st_tensor t[] = {
        {"a", "F32", 2, {2, 3}, f32, sizeof f32},
        {"b", "F16", 1, {4}, f16, sizeof f16},
        {"c", "BF16", 1, {2}, bf16, sizeof bf16},
        {"ids", "I64", 1, {1}, i64, sizeof i64},
    };
    assert_int_equal(st_write(path, t, 4), 0);
    segstream_err err = {{0}};
    segstream_safetensors *st = segstream_safetensors_open(path, &err);
    assert_non_null(st);
    assert_int_equal(segstream_safetensors_count(st), 4);
    const segstream_st_tensor *a = segstream_safetensors_find(st, "a");
    assert_non_null(a);
    assert_int_equal(a->ndim, 2);
    assert_int_equal(a->shape[1], 3);
    float out[6];
    assert_int_equal(segstream_st_to_f32(a, out, &err), 0);
    assert_memory_equal(out, f32, sizeof f32);
    assert_int_equal(segstream_st_to_f32(segstream_safetensors_find(st, "b"), out, &err), 0);
    assert_true(out[0] == 1.5f && out[1] == -2.25f && out[2] == 65504.0f && out[3] == 0x1p-24f);
    assert_int_equal(segstream_st_to_f32(segstream_safetensors_find(st, "c"), out, &err), 0);
    assert_true(out[0] == 3.0f && out[1] == -0.5f);
    assert_int_equal(segstream_st_to_f32(segstream_safetensors_find(st, "ids"), out, &err), -1);
    assert_non_null(strstr(err.message, "ids"));
    assert_null(segstream_safetensors_find(st, "nope"));
    segstream_safetensors_close(st);
}

static void truncated_file_names_the_tensor(void **state)
{
    (void)state;
    const float a[4] = {0}, b[64] = {0};
    const st_tensor t[] = {{"first", "F32", 1, {4}, a, sizeof a}, {"last", "F32", 1, {64}, b, sizeof b}};
    assert_int_equal(st_write(path, t, 2), 0);
    assert_int_equal(truncate(path, 8 + 100), 0); /* inside the header */
    expect_open_error("header length", NULL);
    assert_int_equal(st_write(path, t, 2), 0);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    assert_int_equal(truncate(path, size - 10), 0); /* inside the last tensor */
    expect_open_error("'last'", "beyond");
    assert_int_equal(truncate(path, 5), 0);
    expect_open_error("too short", NULL);
}

static void header_length_beyond_file(void **state)
{
    (void)state;
    unsigned char buf[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    assert_int_equal(st_write_raw(path, buf, sizeof buf), 0);
    expect_open_error("header length", NULL);
}

static void bad_json(void **state)
{
    (void)state;
    write_with_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], ", 4);
    expect_open_error("JSON", NULL);
    write_with_header("[1, 2]", 0);
    expect_open_error("not a JSON object", NULL);
    write_with_header("{\"a\": 3}", 0);
    expect_open_error("'a'", NULL);
    write_with_header("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
                      "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                      4);
    expect_open_error("JSON", NULL); /* duplicate keys */
}

static void bad_dtype(void **state)
{
    (void)state;
    write_with_header("{\"w\": {\"dtype\": \"F33\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4);
    expect_open_error("'w'", "F33");
    write_with_header("{\"w\": {\"dtype\": 7, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4);
    expect_open_error("'w'", "dtype");
}

static void bad_offsets(void **state)
{
    (void)state;
    write_with_header("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                      "\"y\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                      12);
    expect_open_error("overlap", "'x'");
    write_with_header("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 8);
    expect_open_error("'x'", "not a range");
    write_with_header("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [-8, 0]}}", 8);
    expect_open_error("'x'", NULL);
    write_with_header("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 800]}}", 8);
    expect_open_error("'x'", "beyond");
    write_with_header("{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", 8);
    expect_open_error("'x'", "data_offsets");
}

static void shape_and_size_disagree(void **state)
{
    (void)state;
    write_with_header("{\"m\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}", 24);
    expect_open_error("'m'", "24 bytes");
    write_with_header("{\"m\": {\"dtype\": \"F32\", \"shape\": [2, -3], \"data_offsets\": [0, 24]}}", 24);
    expect_open_error("'m'", "shape");
    write_with_header("{\"m\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], "
                      "\"data_offsets\": [0, 24]}}",
                      24);
    expect_open_error("'m'", "overflow");
    write_with_header("{\"m\": {\"dtype\": \"F32\", \"shape\": \"2x3\", \"data_offsets\": [0, 24]}}", 24);
    expect_open_error("'m'", "shape");
}

/* Random byte flips in a valid file: open either succeeds or fails cleanly. */
static void mutated_files_never_crash(void **state)
{
    (void)state;
    const float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const uint16_t b[3] = {1, 2, 3};
    const st_tensor t[] = {{"alpha", "F32", 2, {2, 4}, a, sizeof a}, {"beta", "BF16", 1, {3}, b, sizeof b}};
    assert_int_equal(st_write(path, t, 2), 0);
    FILE *f = fopen(path, "rb");
    unsigned char orig[1024];
    size_t size = fread(orig, 1, sizeof orig, f);
    fclose(f);
    uint64_t rng = 7;
    for (int round = 0; round < 500; round++) {
        unsigned char buf[1024];
        memcpy(buf, orig, size);
        for (int k = 0; k < 1 + round % 4; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(rng >> 33) % size;
            buf[at] = (unsigned char)(rng >> 17);
        }
        size_t len = round % 5 == 0 ? size - (rng >> 40) % size : size;
        assert_int_equal(st_write_raw(path, buf, len), 0);
        segstream_err err = {{0}};
        segstream_safetensors *st = segstream_safetensors_open(path, &err);
        if (st) {
            float out[16];
            for (size_t i = 0; i < segstream_safetensors_count(st); i++) {
                const segstream_st_tensor *x = segstream_safetensors_at(st, i);
                if (x->count <= 16)
                    (void)segstream_st_to_f32(x, out, &err);
            }
            segstream_safetensors_close(st);
        } else {
            assert_non_null(strstr(err.message, path));
        }
    }
}

static void load_synthetic(const synthetic_model *m, const char *w1, const char *w2)
{
    assert_int_equal(synthetic_model_write(dir, m), 0);
    segstream_bert_config cfg;
    segstream_bert_weights w;
    segstream_err err = {{0}};
    assert_int_equal(segstream_bert_config_load(dir, &cfg, &err), 0);
    int rc = segstream_bert_weights_load(dir, &cfg, &w, &err);
    if (!w1) {
        if (rc)
            fail_msg("load failed: %s", err.message);
        segstream_bert_weights_free(&w);
        return;
    }
    assert_int_equal(rc, -1);
    if (!strstr(err.message, path) || !strstr(err.message, w1) || (w2 && !strstr(err.message, w2)))
        fail_msg("error \"%s\" should name %s, %s and %s", err.message, path, w1, w2 ? w2 : "-");
}

static void missing_tensor_is_named(void **state)
{
    (void)state;
    synthetic_model m = {.hidden = 32, .heads = 4, .ffn = 64, .layers = 2, .vocab = 50,
                         .max_position = 16, .prefix = ""};
    load_synthetic(&m, NULL, NULL);
    m.prefix = "bert.";
    load_synthetic(&m, NULL, NULL);
    m.omit = "encoder.layer.1.attention.self.key.weight";
    load_synthetic(&m, "'bert.encoder.layer.1.attention.self.key.weight'", "missing");
    m.omit = NULL;
    m.prefix = "";
    m.wrong_shape = "encoder.layer.0.intermediate.dense.weight";
    load_synthetic(&m, "'encoder.layer.0.intermediate.dense.weight'", "[65, 32]");
    m.wrong_shape = "embeddings.position_embeddings.weight";
    load_synthetic(&m, "'embeddings.position_embeddings.weight'", "shape");
}

static void missing_folder_names_the_file(void **state)
{
    (void)state;
    segstream_bert_config cfg;
    segstream_err err = {{0}};
    assert_int_equal(segstream_bert_config_load("/nonexistent/model", &cfg, &err), -1);
    assert_non_null(strstr(err.message, "/nonexistent/model/config.json"));
}

static void bad_configs_are_named(void **state)
{
    (void)state;
    static const struct {
        const char *json, *word;
    } cases[] = {
        {"{\"hidden_size\": 384}", "num_hidden_layers"},
        {"{\"hidden_size\": 100, \"num_hidden_layers\": 1, \"num_attention_heads\": 12, "
         "\"intermediate_size\": 10, \"max_position_embeddings\": 10}",
         "multiple"},
        {"{\"hidden_size\": 12, \"num_hidden_layers\": 1, \"num_attention_heads\": 12, "
         "\"intermediate_size\": 10, \"max_position_embeddings\": 10, \"hidden_act\": \"relu\"}",
         "hidden_act"},
        {"{\"hidden_size\": -1}", "hidden_size"},
        {"not json", "JSON"},
    };
    char file[128];
    snprintf(file, sizeof file, "%s/config.json", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(st_write_raw(file, cases[i].json, strlen(cases[i].json)), 0);
        segstream_bert_config cfg;
        segstream_err err = {{0}};
        assert_int_equal(segstream_bert_config_load(dir, &cfg, &err), -1);
        if (!strstr(err.message, file) || !strstr(err.message, cases[i].word))
            fail_msg("case %zu: error \"%s\" should name %s and %s", i, err.message, file, cases[i].word);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_file_with_all_float_types),
        cmocka_unit_test(truncated_file_names_the_tensor),
        cmocka_unit_test(header_length_beyond_file),
        cmocka_unit_test(bad_json),
        cmocka_unit_test(bad_dtype),
        cmocka_unit_test(bad_offsets),
        cmocka_unit_test(shape_and_size_disagree),
        cmocka_unit_test(mutated_files_never_crash),
        cmocka_unit_test(missing_tensor_is_named),
        cmocka_unit_test(missing_folder_names_the_file),
        cmocka_unit_test(bad_configs_are_named),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
