/* test_model_log.c - model-topic records and the collection of a barrier:
 * records round-trip; a barrier completes once every partition gave a delta,
 * with the smallest pane wanted; the first delta of a partition counts and a
 * later one (a takeover's) is ignored; other groups' and earlier barriers'
 * records are skipped; a record of a later barrier, another partition count,
 * a damaged or truncated record is an error that changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "consumer/model_log.h"

#include <stdlib.h>
#include <string.h>

static segstream_buf record(const char *group, int64_t seq, int64_t wanted, int32_t n_parts, const int32_t *parts,
                            size_t n, uint8_t fill)
{
    segstream_stage_delta d[8];
    uint8_t bytes[8][16];
    for (size_t i = 0; i < n; i++) {
        memset(bytes[i], fill + (uint8_t)i, sizeof bytes[i]);
        d[i] = (segstream_stage_delta){parts[i], seq, bytes[i], 3 + i};
    }
    segstream_buf b = {0};
    assert_int_equal(segstream_model_record_write(&b, group, seq, wanted, n_parts, d, n), 0);
    return b;
}

static int add(segstream_model_log *log, segstream_buf *b, int64_t offset, segstream_err *err)
{
    int rc = segstream_model_log_add(log, b->data, b->len, offset, err);
    segstream_buf_free(b);
    return rc;
}

static void test_barrier_completes(void **state)
{
    (void)state;
    segstream_err err = {{0}};
    segstream_model_log *log = segstream_model_log_new("g", 3);
    assert_non_null(log);
    assert_false(segstream_model_log_started(log));
    segstream_buf b = record("g", 0, 40, 3, (int32_t[]){0, 2}, 2, 0x10);
    assert_int_equal(add(log, &b, 5, &err), 0);
    assert_true(segstream_model_log_started(log));
    assert_false(segstream_model_log_complete(log));
    b = record("other", 0, 1, 3, (int32_t[]){1}, 1, 0x20); /* another group's: skipped */
    assert_int_equal(add(log, &b, 6, &err), 0);
    b = record("g", 0, 30, 3, (int32_t[]){2}, 1, 0x30); /* partition 2 again: the first counts */
    assert_int_equal(add(log, &b, 7, &err), 0);
    b = record("g", 0, INT64_MAX, 3, (int32_t[]){1}, 1, 0x40); /* an idle instance */
    assert_int_equal(add(log, &b, 9, &err), 1);
    assert_true(segstream_model_log_complete(log));
    assert_int_equal(segstream_model_log_pane(log), 40); /* the duplicate's 30 does not count */
    assert_int_equal(segstream_model_log_end(log), 10);
    size_t n;
    const segstream_stage_delta *d = segstream_model_log_deltas(log, &n);
    assert_int_equal(n, 3);
    assert_int_equal(d[0].len, 3);
    assert_int_equal(d[0].bytes[0], 0x10);
    assert_int_equal(d[1].bytes[0], 0x40);
    assert_int_equal(d[2].len, 4);
    assert_int_equal(d[2].bytes[0], 0x11);
    segstream_model_log_expect(log, 1);
    assert_false(segstream_model_log_started(log));
    b = record("g", 0, 10, 3, (int32_t[]){0}, 1, 0x50); /* an earlier barrier's: skipped */
    assert_int_equal(add(log, &b, 11, &err), 0);
    assert_false(segstream_model_log_started(log));
    segstream_model_log_free(log);
}

static void test_bad_records(void **state)
{
    (void)state;
    segstream_err err = {{0}};
    segstream_model_log *log = segstream_model_log_new("g", 2);
    segstream_buf b = record("g", 1, 40, 2, (int32_t[]){0}, 1, 0x10); /* barrier 1 while 0 is open */
    assert_int_equal(add(log, &b, 3, &err), -1);
    assert_non_null(strstr(err.message, "barrier 1 while barrier 0"));
    b = record("g", 0, 40, 3, (int32_t[]){0}, 1, 0x10);
    assert_int_equal(add(log, &b, 4, &err), -1);
    assert_non_null(strstr(err.message, "3 input partitions"));
    b = record("g", 0, 40, 2, (int32_t[]){5}, 1, 0x10);
    assert_int_equal(add(log, &b, 5, &err), -1);
    assert_non_null(strstr(err.message, "partition 5"));
    b = record("g", 0, 40, 2, (int32_t[]){0, 1}, 2, 0x10);
    b.data[b.len / 2] ^= 1;
    assert_int_equal(segstream_model_log_add(log, b.data, b.len, 6, &err), -1);
    assert_non_null(strstr(err.message, "checksum"));
    assert_int_equal(segstream_model_log_add(log, b.data, 7, 6, &err), -1);
    assert_int_equal(segstream_model_log_add(log, NULL, 0, 6, &err), -1);
    segstream_buf_free(&b);
    assert_false(segstream_model_log_started(log)); /* nothing kept from any of them */
    segstream_model_log_free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_barrier_completes),
        cmocka_unit_test(test_bad_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
