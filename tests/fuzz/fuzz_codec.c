/* fuzz_codec.c - libFuzzer target for Kafka message decoding: the bytes as a
 * framed message (single-object C3 01 + fingerprint, or Confluent 00 + schema
 * id: ids 1, 2, 3 are registered for the three record types so both framings
 * reach the body decoder) and as a bare body of each record type (the
 * container-file path), which reaches the bounded reader's checks (varint
 * lengths, negative and huge block counts, enum symbols and union branches
 * out of range) without first having to guess a framing.
 *
 * Whatever decodes must re-encode in both framings and decode back to an equal
 * record (bitwise for floats), and print as JSON or refuse to (NaN), never
 * crash. Seeds: tests/fuzz/corpus/codec (make_seeds). */
#include "consumer/codec.h"
#include "consumer/codec_json.h"

#include <stdio.h>
#include <stdlib.h>

static segstream_codec *codec;

static void fail(const char *what, const segstream_err *err)
{
    fprintf(stderr, "fuzz_codec: %s: %s\n", what, err->message);
    abort();
}

static void check_round_trip(const segstream_record *rec)
{
    segstream_err err = {{0}};
    segstream_buf buf = {0};
    segstream_record back;
    for (int framing = 0; framing < 2; framing++) {
        uint32_t id = 1u + (uint32_t)rec->type;
        segstream_framing seen;
        if (segstream_codec_encode(codec, rec, (segstream_framing)framing, id, &buf, &err) < 0)
            fail("re-encode", &err);
        if (segstream_codec_decode(codec, buf.data, buf.len, &back, &seen, &err) < 0)
            fail("decode of the re-encoded message", &err);
        if (!segstream_record_equal(rec, &back) || (int)seen != framing)
            fail("round trip changed the record", &err);
        segstream_record_clear(&back);
    }
    segstream_buf_free(&buf);
    free(segstream_record_to_json(rec, &err)); /* NaN may refuse; must not crash */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    segstream_err err = {{0}};
    if (!codec) {
        codec = segstream_codec_new(NULL, &err);
        if (!codec)
            fail("codec", &err);
        for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++)
            if (segstream_codec_register_schema_id(codec, 1u + (uint32_t)t, (segstream_record_type)t, &err) < 0)
                fail("register", &err);
    }
    segstream_record rec;
    if (segstream_codec_decode(codec, data, size, &rec, NULL, &err) == 0) {
        check_round_trip(&rec);
        segstream_record_clear(&rec);
    }
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++)
        if (segstream_codec_decode_body((segstream_record_type)t, data, size, &rec, &err) == 0) {
            check_round_trip(&rec);
            segstream_record_clear(&rec);
        }
    return 0;
}
