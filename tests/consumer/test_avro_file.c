/* test_avro_file.c - Avro container files: a round trip through avro-c's
 * writer and our bounded reader for every record type and both codecs, and
 * damaged files (cut at every length, bytes flipped, forged counts and sizes,
 * foreign schemas) that end in an error or a clean prefix, never a crash. */
#include "consumer/avro_file.h"
#include "test_records.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define N_RECORDS 40

static segstream_codec *codec;
static char dir[] = "/tmp/segstream-avro-file-XXXXXX";

static int setup(void **state)
{
    (void)state;
    segstream_err err = {{0}};
    codec = segstream_codec_new(NULL, &err);
    return codec && mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    segstream_codec_free(codec);
    rmdir(dir);
    return 0;
}

static void write_file(const char *path, segstream_record_type type, const char *compression, int count)
{
    segstream_err err = {{0}};
    segstream_avro_file_writer *w = segstream_avro_file_writer_open(path, type, compression, &err);
    if (!w)
        fail_msg("open: %s", err.message);
    for (int i = 0; i < count; i++) {
        segstream_record r;
        sample_record(&r, type, i % 2);
        if (segstream_avro_file_writer_append(w, &r, &err))
            fail_msg("append: %s", err.message);
        segstream_record_clear(&r);
    }
    assert_int_equal(segstream_avro_file_writer_close(w, &err), 0);
}

/* Reads a whole file: the number of records, or -1 on an error. Every record
 * read must be the sample written at its position. */
static int read_all(const char *path, segstream_err *err)
{
    segstream_avro_file_reader *r = segstream_avro_file_reader_open(codec, path, err);
    if (!r)
        return -1;
    int n = 0, got;
    segstream_record rec;
    while ((got = segstream_avro_file_reader_next(r, &rec, err)) == 1) {
        segstream_record want;
        sample_record(&want, segstream_avro_file_reader_type(r), n % 2);
        assert_true(segstream_record_equal(&rec, &want));
        segstream_record_clear(&want);
        segstream_record_clear(&rec);
        n++;
    }
    segstream_avro_file_reader_close(r);
    return got < 0 ? -1 : n;
}

static void round_trip(void **state)
{
    (void)state;
    char path[128];
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++)
        for (int z = 0; z <= 1; z++) {
            snprintf(path, sizeof path, "%s/rt.avro", dir);
            write_file(path, (segstream_record_type)t, z ? "deflate" : "null", N_RECORDS);
            segstream_err err = {{0}};
            int n = read_all(path, &err);
            if (n != N_RECORDS)
                fail_msg("read %d records: %s", n, err.message);
            unlink(path);
        }
}

static long load(const char *path, uint8_t **data)
{
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    *data = malloc((size_t)n);
    assert_int_equal(fread(*data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return n;
}

static void store(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void damaged_files_fail_cleanly(void **state)
{
    (void)state;
    char path[128], bad[128];
    snprintf(path, sizeof path, "%s/good.avro", dir);
    snprintf(bad, sizeof bad, "%s/bad.avro", dir);
    uint64_t rng = 42;
    for (int z = 0; z <= 1; z++) {
        write_file(path, SEGSTREAM_RECORD_SEGMENT_CHANGE, z ? "deflate" : "null", 12);
        uint8_t *data;
        long n = load(path, &data);
        int errors = 0, prefixes = 0;
        for (long cut = 0; cut < n; cut++) {
            store(bad, data, (size_t)cut);
            segstream_err err = {{0}};
            int got = read_all(bad, &err);
            if (got < 0)
                errors++, assert_true(err.message[0] != '\0');
            else
                prefixes++, assert_true(got < 12);
        }
        for (int i = 0; i < 1000; i++) {
            uint8_t *copy = malloc((size_t)n);
            memcpy(copy, data, (size_t)n);
            for (int e = 0; e < 3; e++) {
                rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
                copy[(rng >> 33) % (uint64_t)n] ^= (uint8_t)(1u << ((rng >> 20) % 8));
            }
            store(bad, copy, (size_t)n);
            free(copy);
            segstream_err err = {{0}};
            segstream_avro_file_reader *r = segstream_avro_file_reader_open(codec, bad, &err);
            segstream_record rec;
            while (r && segstream_avro_file_reader_next(r, &rec, &err) == 1)
                segstream_record_clear(&rec); /* flipped bits may still decode: no crash is the test */
            segstream_avro_file_reader_close(r);
        }
        printf("%s: %ld cuts: %d errors, %d clean prefixes (cut at a block end)\n", z ? "deflate" : "null", n,
               errors, prefixes);
        free(data);
    }
    unlink(path);
    unlink(bad);
}

static void expect_file_error(const uint8_t *bytes, size_t n, const char *want)
{
    char path[128];
    snprintf(path, sizeof path, "%s/forged.avro", dir);
    store(path, bytes, n);
    segstream_err err = {{0}};
    assert_int_equal(read_all(path, &err), -1);
    if (!strstr(err.message, want))
        fail_msg("error '%s' lacks '%s'", err.message, want);
    unlink(path);
}

static void forged_headers_and_blocks(void **state)
{
    (void)state;
    expect_file_error((const uint8_t *)"Obj\x02", 4, "no Obj 01 magic");
    /* metadata: 1 entry avro.schema = "string", then 0, sync of 16 'S' */
    uint8_t f[256];
    size_t n = 0;
    memcpy(f, "Obj\x01\x02\x16" "avro.schema" "\x10" "\"string\"" "\x00" "SSSSSSSSSSSSSSSS", 4 + 2 + 11 + 1 + 8 + 1 + 16);
    n = 4 + 2 + 11 + 1 + 8 + 1 + 16;
    expect_file_error(f, n, "none of ours");
    /* a metadata key of 2^40 bytes */
    expect_file_error((const uint8_t *)"Obj\x01\x02\x80\x80\x80\x80\x80\x40", 12, "metadata key");
    /* a real header followed by forged blocks */
    char path[128];
    snprintf(path, sizeof path, "%s/h.avro", dir);
    segstream_err err = {{0}};
    segstream_avro_file_writer *w = segstream_avro_file_writer_open(path, SEGSTREAM_RECORD_INTEREST_CHANGE, "null", &err);
    assert_int_equal(segstream_avro_file_writer_close(w, &err), 0);
    uint8_t *hdr;
    long h = load(path, &hdr);
    unlink(path);
    uint8_t buf[4096];
    memcpy(buf, hdr, (size_t)h);
    memcpy(buf + h, "\x02\x80\x80\x80\x80\x01", 6); /* 1 record in 2^27 bytes */
    expect_file_error(buf, (size_t)h + 6, "outside the limits");
    memcpy(buf + h, "\xfe\xff\xff\xff\x0f\x02\x00", 7); /* 2^31-1 records in 1 byte */
    expect_file_error(buf, (size_t)h + 7, "cannot fit");
    memcpy(buf + h, "\x02\x02\x00" "XXXXXXXXXXXXXXXX", 19); /* wrong sync */
    expect_file_error(buf, (size_t)h + 19, "sync marker mismatch");
    memcpy(buf + h, "\x02\x02\x01", 3); /* event_id of length -1 */
    memcpy(buf + h + 3, hdr + h - 16, 16);
    expect_file_error(buf, (size_t)h + 19, "event_id");
    free(hdr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(damaged_files_fail_cleanly),
        cmocka_unit_test(forged_headers_and_blocks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
