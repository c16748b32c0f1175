/* test_codec_json.c - records <-> NDJSON: round trips, and parse errors that
 * name the field. */
#include "consumer/codec_json.h"
#include "test_records.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

static void round_trip_every_record(void **state)
{
    (void)state;
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++)
        for (int all = 0; all <= 1; all++) {
            segstream_record in, out;
            segstream_err err = {{0}};
            sample_record(&in, (segstream_record_type)t, all);
            char *line = segstream_record_to_json(&in, &err);
            if (!line)
                fail_msg("to_json: %s", err.message);
            assert_null(strchr(line, '\n'));
            if (segstream_record_from_json((segstream_record_type)t, line, strlen(line), &out, &err))
                fail_msg("from_json %s: %s", line, err.message);
            assert_true(segstream_record_equal(&in, &out));
            /* And the text is stable: writing the parsed record gives the same line. */
            char *again = segstream_record_to_json(&out, &err);
            assert_string_equal(line, again);
            free(line);
            free(again);
            segstream_record_clear(&in);
            segstream_record_clear(&out);
        }
}

static void field_names_enums_and_nulls_are_the_contract(void **state)
{
    (void)state;
    segstream_record r;
    segstream_err err = {{0}};
    sample_record(&r, SEGSTREAM_RECORD_INTEREST_CHANGE, 0);
    char *line = segstream_record_to_json(&r, &err);
    assert_string_equal(line, "{\"event_id\":\"evt-000042\",\"user_id\":\"user-\xe7\x94\xa8\xe6\x88\xb7-7\","
                              "\"event_time\":1764255600123,\"op\":\"DELETE\",\"text\":null,"
                              "\"source\":null,\"locale\":null}");
    free(line);
    segstream_record_clear(&r);
}

static void absent_optional_fields_are_null(void **state)
{
    (void)state;
    const char *in = "{\"event_id\":\"e\",\"user_id\":\"u\",\"event_time\":5,\"op\":\"SET\","
                     "\"text\":\"\\u4e2d\",\"future_field\":[1,2]}";
    segstream_record r;
    segstream_err err = {{0}};
    if (segstream_record_from_json(SEGSTREAM_RECORD_INTEREST_CHANGE, in, strlen(in), &r, &err))
        fail_msg("%s", err.message);
    assert_string_equal(r.interest_change.text, "\xe4\xb8\xad");
    assert_null(r.interest_change.source);
    assert_int_equal(r.interest_change.op, SEGSTREAM_OP_SET);
    segstream_record_clear(&r);
}

static void expect_json_error(segstream_record_type type, const char *json, const char *want)
{
    segstream_record r;
    segstream_err err = {{0}};
    assert_int_equal(segstream_record_from_json(type, json, strlen(json), &r, &err), -1);
    if (!strstr(err.message, want))
        fail_msg("error '%s' lacks '%s'", err.message, want);
    segstream_record_clear(&r);
}

static void errors_name_the_field(void **state)
{
    (void)state;
    const segstream_record_type IC = SEGSTREAM_RECORD_INTEREST_CHANGE;
    expect_json_error(IC, "{\"user_id\":\"u\",\"event_time\":1,\"op\":\"SET\"}", "field event_id: missing");
    expect_json_error(IC, "{\"event_id\":\"e\",\"user_id\":\"u\",\"event_time\":\"1\",\"op\":\"SET\"}",
                      "field event_time: expected an integer");
    expect_json_error(IC, "{\"event_id\":\"e\",\"user_id\":\"u\",\"event_time\":1,\"op\":\"REPLACE\"}",
                      "field op: \"REPLACE\" is not a symbol of Op");
    expect_json_error(IC, "{\"event_id\":\"e\",\"user_id\":\"u\",\"event_time\":1,\"op\":\"SET\",\"text\":7}",
                      "field text: expected a string");
    expect_json_error(IC, "{\"event_id\":\"e\\u0000x\",\"user_id\":\"u\",\"event_time\":1,\"op\":\"SET\"}",
                      "field event_id: string contains a NUL");
    expect_json_error(IC, "{\"event_id\":\"e\",\"event_id\":\"f\"}", "invalid JSON");
    expect_json_error(IC, "[1,2]", "expected a JSON object");
    expect_json_error(IC, "{\"event_id\":\"e\",", "invalid JSON");
    expect_json_error(SEGSTREAM_RECORD_SEGMENT_CHANGE,
                      "{\"event_id\":\"e\",\"user_id\":\"u\",\"event_time\":1,\"cause\":\"EXPIRED\","
                      "\"model_version\":1,\"source_topic\":\"t\",\"source_partition\":4294967296,"
                      "\"source_offset\":0}",
                      "field source_partition: out of 32-bit range");
    expect_json_error(SEGSTREAM_RECORD_SEGMENT,
                      "{\"segment_id\":1,\"status\":\"ACTIVE\",\"label\":[\"a\",3],\"size\":1,"
                      "\"created_time\":0,\"updated_time\":0,\"model_version\":0}",
                      "item 1: field label: expected a string");
    expect_json_error(SEGSTREAM_RECORD_SEGMENT,
                      "{\"segment_id\":1,\"status\":\"ACTIVE\",\"label\":[],\"size\":1,"
                      "\"created_time\":0,\"updated_time\":0,\"model_version\":0,\"centroid\":[0.5,\"x\"]}",
                      "field centroid: expected a number");
}

static void non_finite_floats_are_refused(void **state)
{
    (void)state;
    segstream_record r;
    segstream_err err = {{0}};
    sample_record(&r, SEGSTREAM_RECORD_SEGMENT_CHANGE, 1);
    r.segment_change.similarity = 0.0f / 0.0f;
    assert_null(segstream_record_to_json(&r, &err));
    assert_non_null(strstr(err.message, "similarity"));
    segstream_record_clear(&r);
}

static void utf8_repair(void **state)
{
    (void)state;
    int changed;
    char *s = segstream_utf8_repair("ok \xe4\xb8\xad \xf0\x9f\x8e\xb8", 11, &changed);
    assert_string_equal(s, "ok \xe4\xb8\xad \xf0\x9f\x8e\xb8");
    assert_int_equal(changed, 0);
    free(s);
    s = segstream_utf8_repair("\xe4\xb8" "a\xf4\x90\x80\x80", 7, &changed); /* cut, > U+10FFFF */
    assert_string_equal(s, "\xef\xbf\xbd\xef\xbf\xbd" "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    assert_int_equal(changed, 1);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_every_record),
        cmocka_unit_test(field_names_enums_and_nulls_are_the_contract),
        cmocka_unit_test(absent_optional_fields_are_null),
        cmocka_unit_test(errors_name_the_field),
        cmocka_unit_test(non_finite_floats_are_refused),
        cmocka_unit_test(utf8_repair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
