/* fuzz_json.c - libFuzzer target for NDJSON event decoding (file mode's
 * input): the bytes as one JSON line of each record type. A line that parses
 * must print back (to_json) and parse again to an equal record, and survive
 * an Avro round trip; any other input fails with a message. The bytes also
 * go through the UTF-8 repair that strings get before printing, whose output
 * must be valid UTF-8 without NULs. Seeds: tests/fuzz/corpus/json. */
#include "consumer/codec.h"
#include "consumer/codec_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, const segstream_err *err)
{
    fprintf(stderr, "fuzz_json: %s: %s\n", what, err ? err->message : "");
    abort();
}

/* A strict UTF-8 check (no overlongs, surrogates or code points past U+10FFFF). */
static int valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || i + len > n || (len == 2 && c < 0xC2))
            return 0;
        unsigned cp = len == 1 ? c : c & (0x7F >> len);
        for (size_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += len;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    segstream_err err = {{0}};
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++) {
        segstream_record rec, again;
        if (segstream_record_from_json((segstream_record_type)t, (const char *)data, size, &rec, &err) < 0)
            continue;
        char *line = segstream_record_to_json(&rec, &err);
        if (line) {
            if (segstream_record_from_json((segstream_record_type)t, line, strlen(line), &again, &err) < 0)
                fail("printed line does not parse back", &err);
            /* Printing repairs bad UTF-8, so compare only when nothing needed repair. */
            char *line2 = segstream_record_to_json(&again, &err);
            if (!line2 || strcmp(line, line2))
                fail("print -> parse -> print is not stable", &err);
            free(line2);
            segstream_record_clear(&again);
            free(line);
        }
        segstream_buf buf = {0};
        if (segstream_codec_encode_body(&rec, &buf, &err) < 0)
            fail("Avro encode of a parsed line", &err);
        if (segstream_codec_decode_body((segstream_record_type)t, buf.data, buf.len, &again, &err) < 0)
            fail("Avro decode of a parsed line", &err);
        if (!segstream_record_equal(&rec, &again))
            fail("Avro round trip changed a parsed line", NULL);
        segstream_record_clear(&again);
        segstream_buf_free(&buf);
        segstream_record_clear(&rec);
    }
    int changed;
    char *fixed = segstream_utf8_repair((const char *)data, size, &changed);
    if (!fixed)
        fail("utf8_repair: out of memory", NULL);
    size_t n = strlen(fixed);
    if (!valid_utf8((const unsigned char *)fixed, n))
        fail("utf8_repair output is not valid UTF-8", NULL);
    if (!changed && (n != size || memcmp(fixed, data, n)))
        fail("utf8_repair changed valid input but said it did not", NULL);
    free(fixed);
    return 0;
}
