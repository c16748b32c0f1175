/* fuzz_avro_file.c - libFuzzer target for the Avro object container file
 * reader (file mode's input): the bytes as a file, through a memory file
 * (fuzz_input_file.h) since the reader opens a path. Header, metadata map,
 * block counts and sizes, deflate blocks and sync markers are all untrusted.
 * Every record read must survive an Avro round trip; reading stops at the
 * end, at the first error, or after 10000 records.
 * Seeds: tests/fuzz/corpus/avro_file (written by the real writer, make_seeds). */
#include "consumer/avro_file.h"
#include "consumer/codec.h"

#include "fuzz_input_file.h"

#include <stdio.h>
#include <stdlib.h>

static segstream_codec *codec;

static void fail(const char *what, const segstream_err *err)
{
    fprintf(stderr, "fuzz_avro_file: %s: %s\n", what, err->message);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    segstream_err err = {{0}};
    if (!codec && !(codec = segstream_codec_new(NULL, &err)))
        fail("codec", &err);
    fuzz_input_file file;
    fuzz_input_file_open(&file, data, size);
    segstream_avro_file_reader *r = segstream_avro_file_reader_open(codec, file.path, &err);
    if (r) {
        segstream_record_type type = segstream_avro_file_reader_type(r);
        segstream_record rec, back;
        segstream_record_init(&rec, type);
        segstream_buf buf = {0};
        int rc = 1;
        for (int i = 0; i < 10000 && (rc = segstream_avro_file_reader_next(r, &rec, &err)) == 1; i++) {
            if (rec.type != type)
                fail("record of another type than the file's", &err);
            segstream_buf_reset(&buf);
            if (segstream_codec_encode_body(&rec, &buf, &err) < 0 ||
                segstream_codec_decode_body(type, buf.data, buf.len, &back, &err) < 0)
                fail("round trip of a record read from a file", &err);
            if (!segstream_record_equal(&rec, &back))
                fail("round trip changed a record read from a file", &err);
            segstream_record_clear(&back);
            segstream_record_clear(&rec);
        }
        segstream_record_clear(&rec);
        segstream_buf_free(&buf);
        /* After the end or an error, further calls keep saying so. */
        if (rc != 1 && segstream_avro_file_reader_next(r, &rec, &err) == 1)
            fail("a record after the end or an error", &err);
        segstream_record_clear(&rec);
        segstream_avro_file_reader_close(r);
    }
    fuzz_input_file_close(&file);
    return 0;
}
