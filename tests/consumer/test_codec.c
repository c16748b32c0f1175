/* test_codec.c - the Avro codec: round trips of every record in both framings,
 * and hostile input (truncation at every length, random bytes, mutations,
 * forged lengths, counts and indices) that must be rejected with an error that
 * names the field, never crash (run under the sanitizer build). */
#include "consumer/avro_pcf.h"
#include "consumer/codec.h"
#include "consumer/codec_internal.h"
#include "consumer/codec_json.h"
#include "consumer/crc64avro.h"
#include "test_records.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static segstream_codec *codec;

static int setup(void **state)
{
    (void)state;
    segstream_err err = {{0}};
    codec = segstream_codec_new(NULL, &err);
    if (!codec)
        fprintf(stderr, "codec: %s\n", err.message);
    return codec ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    segstream_codec_free(codec);
    return 0;
}

static void encode_ok(const segstream_record *r, segstream_framing framing, uint32_t id, segstream_buf *buf)
{
    segstream_err err = {{0}};
    int rc = segstream_codec_encode(codec, r, framing, id, buf, &err);
    if (rc)
        fail_msg("encode: %s", err.message);
}

/* Decodes and expects failure; returns the error for content checks. */
static segstream_err decode_fails(const void *data, size_t len)
{
    segstream_err err = {{0}};
    segstream_record out;
    segstream_record_init(&out, SEGSTREAM_RECORD_INTEREST_CHANGE);
    assert_int_equal(segstream_codec_decode(codec, data, len, &out, NULL, &err), -1);
    assert_true(err.message[0] != '\0');
    /* A failed decode leaves nothing allocated (LeakSanitizer checks). */
    segstream_record_clear(&out);
    return err;
}

static void round_trip_binary(void **state)
{
    (void)state;
    segstream_buf buf = {0};
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++)
        for (int all = 0; all <= 1; all++)
            for (int fr = 0; fr <= 1; fr++) {
                segstream_record in, out;
                sample_record(&in, (segstream_record_type)t, all);
                encode_ok(&in, (segstream_framing)fr, 7 + (uint32_t)t, &buf);
                segstream_err err = {{0}};
                segstream_framing seen;
                if (fr == SEGSTREAM_FRAMING_CONFLUENT)
                    assert_int_equal(segstream_codec_register_schema_id(codec, 7 + (uint32_t)t,
                                                                       (segstream_record_type)t, &err), 0);
                if (segstream_codec_decode(codec, buf.data, buf.len, &out, &seen, &err))
                    fail_msg("decode %s: %s", segstream_record_type_name((segstream_record_type)t), err.message);
                assert_int_equal(seen, fr);
                assert_int_equal(out.type, t);
                assert_true(segstream_record_equal(&in, &out));
                segstream_record_clear(&in);
                segstream_record_clear(&out);
            }
    segstream_buf_free(&buf);
}

static void header_is_single_object_with_fingerprint(void **state)
{
    (void)state;
    segstream_record r;
    sample_record(&r, SEGSTREAM_RECORD_SEGMENT, 1);
    segstream_buf buf = {0};
    encode_ok(&r, SEGSTREAM_FRAMING_SINGLE_OBJECT, 0, &buf);
    assert_int_equal(buf.data[0], 0xC3);
    assert_int_equal(buf.data[1], 0x01);
    const char *pcf = segstream_codec_canonical_form(codec, SEGSTREAM_RECORD_SEGMENT);
    uint64_t fp = segstream_crc64_avro(pcf, strlen(pcf));
    for (int i = 0; i < 8; i++)
        assert_int_equal(buf.data[2 + i], (uint8_t)(fp >> (8 * i)));
    encode_ok(&r, SEGSTREAM_FRAMING_CONFLUENT, 0x01020304, &buf);
    uint8_t want[5] = {0, 1, 2, 3, 4};
    assert_memory_equal(buf.data, want, 5);
    segstream_record_clear(&r);
    segstream_buf_free(&buf);
}

static void canonical_form_follows_the_spec(void **state)
{
    (void)state;
    /* Nested names take the enclosing namespace, an explicit one wins, a
     * dotted name is already full; docs, defaults, aliases, logical types go;
     * a second use of a name is a reference. */
    const char *schema =
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a.b\",\"doc\":\"x\",\"aliases\":[\"Q\"],"
        " \"fields\":[{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":016}},"
        "  {\"name\":\"g\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"namespace\":\"c\",\"symbols\":[\"X\"]}},"
        "  {\"name\":\"h\",\"type\":[\"null\",\"F\",\"c.E\",{\"type\":\"map\",\"values\":{\"type\":\"int\"}}],\"default\":null},"
        "  {\"name\":\"i\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
        "  {\"name\":\"j\",\"type\":{\"type\":\"record\",\"name\":\"x.S\",\"fields\":[{\"name\":\"k\",\"type\":\"T\"}]}}]}";
    segstream_err err = {{0}};
    /* JSON does not allow 016: expect the parse error, then try with 16. */
    assert_null(segstream_avro_canonical_form(schema, strlen(schema), &err));
    assert_non_null(strstr(err.message, "schema JSON"));
    char fixed[2048];
    snprintf(fixed, sizeof fixed, "%s", schema);
    char *p = strstr(fixed, "016");
    memmove(p, p + 1, strlen(p + 1) + 1);
    char *pcf = segstream_avro_canonical_form(fixed, strlen(fixed), &err);
    assert_non_null(pcf);
    assert_string_equal(pcf,
        "{\"name\":\"a.b.R\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"f\",\"type\":{\"name\":\"a.b.F\",\"type\":\"fixed\",\"size\":16}},"
        "{\"name\":\"g\",\"type\":{\"name\":\"c.E\",\"type\":\"enum\",\"symbols\":[\"X\"]}},"
        "{\"name\":\"h\",\"type\":[\"null\",\"a.b.F\",\"c.E\",{\"type\":\"map\",\"values\":\"int\"}]},"
        "{\"name\":\"i\",\"type\":\"long\"},"
        "{\"name\":\"j\",\"type\":{\"name\":\"x.S\",\"type\":\"record\",\"fields\":[{\"name\":\"k\",\"type\":\"x.T\"}]}}]}");
    free(pcf);
    assert_null(segstream_avro_canonical_form("{\"type\":\"enum\"}", 15, &err));
    assert_non_null(strstr(err.message, "name"));
}

static void truncation_at_every_length_is_rejected(void **state)
{
    (void)state;
    segstream_buf buf = {0};
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++)
        for (int all = 0; all <= 1; all++) {
            segstream_record r;
            sample_record(&r, (segstream_record_type)t, all);
            encode_ok(&r, SEGSTREAM_FRAMING_SINGLE_OBJECT, 0, &buf);
            /* A copy of exactly n bytes, so ASan sees any read past the end. */
            for (size_t n = 0; n < buf.len; n++) {
                uint8_t *copy = malloc(n ? n : 1);
                memcpy(copy, buf.data, n);
                decode_fails(copy, n);
                free(copy);
            }
            segstream_record_clear(&r);
        }
    segstream_buf_free(&buf);
}

/* If hostile bytes decode at all, the record must survive a re-encode. */
static void decode_anything(const uint8_t *data, size_t len, size_t *accepted)
{
    segstream_err err = {{0}};
    segstream_record out;
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, data, len);
    if (segstream_codec_decode(codec, copy, len, &out, NULL, &err) == 0) {
        (*accepted)++;
        segstream_buf again = {0};
        segstream_record back;
        encode_ok(&out, SEGSTREAM_FRAMING_SINGLE_OBJECT, 0, &again);
        assert_int_equal(segstream_codec_decode(codec, again.data, again.len, &back, NULL, &err), 0);
        assert_true(segstream_record_equal(&out, &back));
        segstream_record_clear(&back);
        segstream_buf_free(&again);
        segstream_record_clear(&out);
    } else {
        assert_true(err.message[0] != '\0');
    }
    free(copy);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static void random_garbage_is_rejected_or_consistent(void **state)
{
    (void)state;
    uint8_t buf[512];
    size_t accepted = 0;
    for (int i = 0; i < 4000; i++) {
        size_t len = rng() % sizeof buf;
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)rng();
        /* Most buffers get a valid header so the body decoder is exercised. */
        if (len >= 10 && i % 4) {
            uint64_t fp = segstream_codec_fingerprint(codec, (segstream_record_type)(i % 3));
            buf[0] = 0xC3;
            buf[1] = 0x01;
            for (int b = 0; b < 8; b++)
                buf[2 + b] = (uint8_t)(fp >> (8 * b));
        }
        decode_anything(buf, len, &accepted);
    }
    printf("random buffers accepted: %zu of 4000\n", accepted);
}

static void mutations_of_valid_records_are_rejected_or_consistent(void **state)
{
    (void)state;
    segstream_buf enc = {0};
    size_t accepted = 0, tried = 0;
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++)
        for (int all = 0; all <= 1; all++) {
            segstream_record r;
            sample_record(&r, (segstream_record_type)t, all);
            encode_ok(&r, SEGSTREAM_FRAMING_SINGLE_OBJECT, 0, &enc);
            segstream_record_clear(&r);
            uint8_t *m = malloc(enc.len + 16);
            for (int i = 0; i < 500; i++) {
                size_t len = enc.len;
                memcpy(m, enc.data, len);
                int edits = 1 + (int)(rng() % 4);
                for (int e = 0; e < edits; e++) {
                    size_t at = 10 + rng() % (len - 10);
                    switch (rng() % 4) {
                    case 0: m[at] = (uint8_t)rng(); break;             /* replace */
                    case 1: m[at] ^= (uint8_t)(1u << (rng() % 8)); break; /* flip a bit */
                    case 2: if (len > 11) { memmove(m + at, m + at + 1, len - at - 1); len--; } break;
                    case 3: if (len < enc.len + 16) { memmove(m + at + 1, m + at, len - at); m[at] = (uint8_t)rng(); len++; } break;
                    }
                }
                decode_anything(m, len, &accepted);
                tried++;
            }
            free(m);
        }
    printf("mutations accepted: %zu of %zu\n", accepted, tried);
    segstream_buf_free(&enc);
}

/* A single-object message of the given type around a hand-made body. */
static size_t frame(segstream_record_type type, const uint8_t *body, size_t n, uint8_t *out)
{
    uint64_t fp = segstream_codec_fingerprint(codec, type);
    out[0] = 0xC3;
    out[1] = 0x01;
    for (int b = 0; b < 8; b++)
        out[2 + b] = (uint8_t)(fp >> (8 * b));
    memcpy(out + 10, body, n);
    return 10 + n;
}

static void expect_error(segstream_record_type type, const uint8_t *body, size_t n, const char *want1,
                         const char *want2)
{
    uint8_t msg[256];
    size_t len = frame(type, body, n, msg);
    segstream_err err = decode_fails(msg, len);
    if (!strstr(err.message, want1) || (want2 && !strstr(err.message, want2)))
        fail_msg("error '%s' lacks '%s' / '%s'", err.message, want1, want2 ? want2 : "");
}

static void framing_errors_are_named(void **state)
{
    (void)state;
    assert_non_null(strstr(decode_fails("", 0).message, "empty"));
    assert_non_null(strstr(decode_fails("\xC3\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00", 11).message,
                           "unknown framing"));
    assert_non_null(strstr(decode_fails("{\"user_id\":1}", 13).message, "unknown framing"));
    assert_non_null(strstr(decode_fails("\xC3\x01\x01\x02\x03\x04\x05\x06\x07\x08\x00", 11).message,
                           "unknown schema fingerprint 0807060504030201"));
    assert_non_null(strstr(decode_fails("\x00\x00\x00\x30\x39\x02", 6).message, "unknown schema id 12345"));
    assert_non_null(strstr(decode_fails("\x00\x00\x00", 3).message, "truncated"));
    segstream_codec_options opts = segstream_codec_default_options();
    opts.max_message_bytes = 64;
    segstream_err err = {{0}};
    segstream_codec *small = segstream_codec_new(&opts, &err);
    assert_non_null(small);
    segstream_record r;
    sample_record(&r, SEGSTREAM_RECORD_SEGMENT, 1);
    segstream_buf buf = {0};
    encode_ok(&r, SEGSTREAM_FRAMING_SINGLE_OBJECT, 0, &buf);
    segstream_record out;
    assert_int_equal(segstream_codec_decode(small, buf.data, buf.len, &out, NULL, &err), -1);
    assert_non_null(strstr(err.message, "exceeds the limit"));
    segstream_codec_free(small);
    segstream_record_clear(&r);
    segstream_buf_free(&buf);
}

static void forged_fields_are_rejected_with_field_and_offset(void **state)
{
    (void)state;
    const segstream_record_type IC = SEGSTREAM_RECORD_INTEREST_CHANGE;
    const segstream_record_type SG = SEGSTREAM_RECORD_SEGMENT;
    /* negative string length (zig-zag 1 = -1) in event_id, at byte 10 */
    expect_error(IC, (const uint8_t *)"\x01", 1, "event_id at byte 10", "negative string length");
    /* a length of 2^62 */
    expect_error(IC, (const uint8_t *)"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 10, "event_id",
                 "beyond the end");
    /* an 11-byte varint and a 10th byte with more than bit 63 */
    expect_error(IC, (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11, "event_id",
                 "longer than 64 bits");
    expect_error(IC, (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 10, "event_id",
                 "longer than 64 bits");
    /* "a", "b", time 1, op 3 (zig-zag 6): bad enum index at byte 10+5 */
    expect_error(IC, (const uint8_t *)"\x02" "a" "\x02" "b" "\x02" "\x06", 6, "op at byte 15",
                 "enum symbol index 3");
    expect_error(IC, (const uint8_t *)"\x02" "a" "\x02" "b" "\x02" "\x01", 6, "op", "enum symbol index -1");
    /* op SET, text union branch 2 and -1 */
    expect_error(IC, (const uint8_t *)"\x02" "a" "\x02" "b" "\x02" "\x00" "\x04", 7, "text at byte 16",
                 "union index 2");
    expect_error(IC, (const uint8_t *)"\x02" "a" "\x02" "b" "\x02" "\x00" "\x01", 7, "text", "union index -1");
    /* a NUL inside a string */
    expect_error(IC, (const uint8_t *)"\x04" "a\0" "\x02" "b", 5, "event_id", "NUL");
    /* trailing bytes after a valid record */
    expect_error(IC, (const uint8_t *)"\x02" "a" "\x02" "b" "\x02" "\x00" "\x00\x00\x00" "\x00", 10,
                 "trailing", "byte 19");
    /* Segment: id 1, ACTIVE, then label block counts */
    expect_error(SG, (const uint8_t *)"\x02\x00" "\xfe\xff\xff\xff\x0f", 7, "label",
                 "larger than the bytes left"); /* 2^31-1 strings in 0 bytes */
    expect_error(SG, (const uint8_t *)"\x02\x00" "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, "label",
                 "out of range"); /* INT64_MIN */
    expect_error(SG, (const uint8_t *)"\x02\x00" "\x01" "\x7e", 4, "label", "block size"); /* -1 items, 63 bytes */
    expect_error(SG, (const uint8_t *)"\x02\x00" "\x01" "\x03", 4, "label", "block size"); /* negative size */
    /* centroid: 10 floats claimed, 8 bytes present */
    expect_error(SG,
                 (const uint8_t *)"\x02\x00\x00" "\x00\x00\x00\x00\x00\x00\x00\x00" "\x00" "\x02\x02\x02"
                                  "\x02" "\x14" "\x00\x00\x00\x00\x00\x00\x00\x00",
                 25, "centroid", "larger than the bytes left");
    /* int out of range: SegmentChange.source_partition = 2^31 */
    const uint8_t sc[] = "\x02" "a" "\x02" "u" "\x00" "\x00" "\x00" "\x00" "\x00" "\x00" "\x02" "t"
                         "\x80\x80\x80\x80\x10" "\x00";
    expect_error(SEGSTREAM_RECORD_SEGMENT_CHANGE, sc, sizeof sc - 1, "source_partition", "32-bit");
}

static void negative_block_counts_decode(void **state)
{
    (void)state;
    /* Segment with label as one block of -2 items and an explicit byte size. */
    const uint8_t body[] = "\x02\x00" "\x03" "\x0a" "\x02" "a" "\x04" "bc" "\x00"
                           "\x00\x00\x00\x00\x00\x00\xf0\x3f" "\x00" "\x02\x02\x02\x00";
    uint8_t msg[64];
    size_t len = frame(SEGSTREAM_RECORD_SEGMENT, body, sizeof body - 1, msg);
    segstream_record out;
    segstream_err err = {{0}};
    if (segstream_codec_decode(codec, msg, len, &out, NULL, &err))
        fail_msg("%s", err.message);
    assert_int_equal(out.segment.label_count, 2);
    assert_string_equal(out.segment.label[1], "bc");
    assert_true(out.segment.size == 1.0);
    assert_false(out.segment.has_centroid);
    segstream_record_clear(&out);
}

static void invalid_utf8_survives_decode_and_json(void **state)
{
    (void)state;
    /* text holds a lone continuation byte, an overlong '/' and a surrogate */
    const uint8_t body[] = "\x02" "a" "\x02" "b" "\x02" "\x00" "\x02" "\x12" "x\x80y\xc0\xafz\xed\xa0\x80" "\x00" "\x00";
    uint8_t msg[64];
    size_t len = frame(SEGSTREAM_RECORD_INTEREST_CHANGE, body, sizeof body - 1, msg);
    segstream_record out;
    segstream_err err = {{0}};
    if (segstream_codec_decode(codec, msg, len, &out, NULL, &err))
        fail_msg("%s", err.message);
    assert_int_equal(strlen(out.interest_change.text), 9);
    char *line = segstream_record_to_json(&out, &err);
    assert_non_null(line);
    assert_non_null(strstr(line, "\"text\":\"x\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""));
    free(line);
    segstream_record_clear(&out);
}

static void copy_key_and_names(void **state)
{
    (void)state;
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++)
        for (int all = 0; all <= 1; all++) {
            segstream_record a, b;
            sample_record(&a, (segstream_record_type)t, all);
            assert_int_equal(segstream_record_copy(&b, &a), 0);
            assert_true(segstream_record_equal(&a, &b));
            segstream_record_clear(&a); /* b owns its own memory */
            sample_record(&a, (segstream_record_type)t, !all);
            assert_false(segstream_record_equal(&a, &b));
            segstream_record_clear(&a);
            segstream_record_clear(&b);
        }
    segstream_record r;
    char buf[24];
    size_t len;
    sample_record(&r, SEGSTREAM_RECORD_SEGMENT, 1);
    assert_string_equal(segstream_record_key(&r, buf, &len), "12");
    assert_int_equal(len, 2);
    segstream_record_clear(&r);
    sample_record(&r, SEGSTREAM_RECORD_SEGMENT_CHANGE, 1);
    assert_string_equal(segstream_record_key(&r, buf, &len), "user-7");
    segstream_record_clear(&r);
    segstream_record_type type;
    assert_int_equal(segstream_record_type_parse("io.segstream.SegmentChange", &type), 0);
    assert_int_equal(type, SEGSTREAM_RECORD_SEGMENT_CHANGE);
    assert_int_equal(segstream_record_type_parse("segment", &type), 0);
    assert_int_equal(type, SEGSTREAM_RECORD_SEGMENT);
    assert_int_equal(segstream_record_type_parse("Segments", &type), -1);
    assert_string_equal(segstream_op_name(SEGSTREAM_OP_DELETE), "DELETE");
    assert_string_equal(segstream_cause_name(SEGSTREAM_CAUSE_MODEL_UPDATED), "MODEL_UPDATED");
    assert_string_equal(segstream_segment_status_name(SEGSTREAM_SEGMENT_RETIRED), "RETIRED");
}

/* The embedded schema with `from` replaced by `to` must fail the avro-c check. */
static void edited_schema(segstream_record_type type, const char *from, const char *to, const char *want)
{
    const char *json = segstream_codec_schema_json(type);
    const char *at = strstr(json, from);
    assert_non_null(at);
    size_t n = strlen(json) + strlen(to) + 1;
    char *edited = malloc(n);
    snprintf(edited, n, "%.*s%s%s", (int)(at - json), json, to, at + strlen(from));
    segstream_err err = {{0}};
    assert_int_equal(segstream_codec_check_schema(type, edited, &err), -1);
    if (!strstr(err.message, want))
        fail_msg("error '%s' lacks '%s'", err.message, want);
    free(edited);
}

static void schema_edits_the_c_code_does_not_follow_are_refused(void **state)
{
    (void)state;
    segstream_err err = {{0}};
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++)
        assert_int_equal(segstream_codec_check_schema((segstream_record_type)t,
                                                      segstream_codec_schema_json((segstream_record_type)t), &err), 0);
    const segstream_record_type IC = SEGSTREAM_RECORD_INTEREST_CHANGE;
    edited_schema(IC, "\"user_id\"", "\"userId\"", "field 1 is userId");
    edited_schema(IC, "[\"SET\", \"ADD\", \"DELETE\"]", "[\"ADD\", \"SET\", \"DELETE\"]", "field op");
    edited_schema(IC, "\"type\": [\"null\", \"string\"]", "\"type\": [\"string\", \"null\"]", "field text");
    edited_schema(IC, "\"name\": \"InterestChange\"", "\"name\": \"Interest\"", "not the record");
    edited_schema(SEGSTREAM_RECORD_SEGMENT_CHANGE, "\"source_partition\", \"type\": \"int\"",
                  "\"source_partition\", \"type\": \"long\"", "field source_partition");
    edited_schema(SEGSTREAM_RECORD_SEGMENT, "\"items\": \"float\"", "\"items\": \"double\"", "field centroid");
    edited_schema(SEGSTREAM_RECORD_SEGMENT, "{", "[", "avro-c cannot parse it");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_binary),
        cmocka_unit_test(header_is_single_object_with_fingerprint),
        cmocka_unit_test(canonical_form_follows_the_spec),
        cmocka_unit_test(truncation_at_every_length_is_rejected),
        cmocka_unit_test(random_garbage_is_rejected_or_consistent),
        cmocka_unit_test(mutations_of_valid_records_are_rejected_or_consistent),
        cmocka_unit_test(framing_errors_are_named),
        cmocka_unit_test(forged_fields_are_rejected_with_field_and_offset),
        cmocka_unit_test(negative_block_counts_decode),
        cmocka_unit_test(invalid_utf8_survives_decode_and_json),
        cmocka_unit_test(copy_key_and_names),
        cmocka_unit_test(schema_edits_the_c_code_does_not_follow_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
