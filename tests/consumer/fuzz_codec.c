/* fuzz_codec.c - libFuzzer target for the codec's untrusted inputs: a Kafka
 * message (either framing) and an NDJSON line. Whatever decodes must print
 * as JSON and survive a re-encode unchanged. Built with -DSEGSTREAM_FUZZ=ON. */
#include "consumer/codec.h"
#include "consumer/codec_json.h"

#include <stdio.h>
#include <stdlib.h>

static segstream_codec *codec;

static void check_round_trip(const segstream_record *rec)
{
    segstream_err err = {{0}};
    segstream_buf buf = {0};
    segstream_record back;
    if (segstream_codec_encode(codec, rec, SEGSTREAM_FRAMING_SINGLE_OBJECT, 0, &buf, &err) < 0 ||
        segstream_codec_decode(codec, buf.data, buf.len, &back, NULL, &err) < 0 ||
        !segstream_record_equal(rec, &back)) {
        fprintf(stderr, "round trip broke: %s\n", err.message);
        abort();
    }
    free(segstream_record_to_json(rec, &err)); /* NaN may refuse; must not crash */
    segstream_record_clear(&back);
    segstream_buf_free(&buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!codec) {
        segstream_err err = {{0}};
        codec = segstream_codec_new(NULL, &err);
        if (!codec || segstream_codec_register_schema_id(codec, 1, SEGSTREAM_RECORD_SEGMENT, &err) < 0)
            abort();
    }
    segstream_err err = {{0}};
    segstream_record rec;
    if (segstream_codec_decode(codec, data, size, &rec, NULL, &err) == 0) {
        check_round_trip(&rec);
        segstream_record_clear(&rec);
    }
    /* The same bytes as an NDJSON line of each type. */
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++)
        if (segstream_record_from_json((segstream_record_type)t, (const char *)data, size, &rec, &err) == 0) {
            check_round_trip(&rec);
            segstream_record_clear(&rec);
        }
    return 0;
}
