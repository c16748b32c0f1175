/* test_log.c - the JSON-lines logger: every line parses with jansson and
 * carries ts/level/msg plus typed fields; levels filter; hostile strings
 * (quotes, control bytes, invalid UTF-8, huge) stay valid JSON; secrets are
 * redacted by key and scrubbed by value; lines of concurrent threads never
 * interleave. Output is captured through a temporary file. */
#include "consumer/log.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static FILE *capture;

static int setup(void **state)
{
    (void)state;
    capture = tmpfile();
    segstream_log_set_output(capture);
    segstream_log_set_level(SEGSTREAM_LOG_DEBUG);
    return capture ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    segstream_log_set_output(NULL);
    segstream_log_clear_secrets();
    segstream_log_set_level(SEGSTREAM_LOG_INFO);
    fclose(capture);
    return 0;
}

/* Reads every line written since the last call, each parsed as a JSON object. */
static json_t *read_lines(void)
{
    json_t *lines = json_array();
    rewind(capture);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, capture)) > 0) {
        assert_int_equal(line[n - 1], '\n');
        json_error_t jerr;
        json_t *obj = json_loadb(line, (size_t)n, 0, &jerr);
        if (!obj || !json_is_object(obj))
            fail_msg("not a JSON object: %s (%s)", line, jerr.text);
        json_array_append_new(lines, obj);
    }
    free(line);
    rewind(capture);
    if (ftruncate(fileno(capture), 0) != 0)
        fail_msg("ftruncate");
    return lines;
}

static const char *str_of(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("%s is not a string", key);
    return json_string_value(v);
}

static void line_shape_and_fields(void **state)
{
    (void)state;
    segstream_log_kv(SEGSTREAM_LOG_INFO,
                     SEGSTREAM_LOG_FIELDS(SLF_STR("topic", "interest-changes"), SLF_INT("partition", 3),
                                          SLF_DBL("lag_s", 1.5), SLF_BOOL("ready", true), SLF_STR("none", NULL),
                                          SLF_DBL("nan", NAN), SLF_STR("msg", "reserved")),
                     "assigned %d partitions", 4);
    json_t *lines = read_lines();
    assert_int_equal(json_array_size(lines), 1);
    json_t *o = json_array_get(lines, 0);
    const char *ts = str_of(o, "ts");
    /* 2026-11-27T18:00:00.123Z */
    assert_int_equal(strlen(ts), 24);
    assert_true(ts[4] == '-' && ts[10] == 'T' && ts[19] == '.' && ts[23] == 'Z');
    assert_string_equal(str_of(o, "level"), "info");
    assert_string_equal(str_of(o, "msg"), "assigned 4 partitions");
    assert_string_equal(str_of(o, "topic"), "interest-changes");
    assert_int_equal(json_integer_value(json_object_get(o, "partition")), 3);
    assert_true(json_real_value(json_object_get(o, "lag_s")) == 1.5);
    assert_true(json_is_true(json_object_get(o, "ready")));
    assert_true(json_is_null(json_object_get(o, "none")));
    assert_true(json_is_null(json_object_get(o, "nan")));
    assert_int_equal(json_object_size(o), 9); /* the reserved "msg" field was dropped, not duplicated */
    json_decref(lines);
}

static void levels_filter(void **state)
{
    (void)state;
    segstream_log_level level;
    assert_int_equal(segstream_log_level_parse("warn", &level), 0);
    assert_int_equal(level, SEGSTREAM_LOG_WARN);
    assert_int_equal(segstream_log_level_parse("WARNING", &level), 0);
    assert_int_equal(segstream_log_level_parse("verbose", &level), -1);
    segstream_log_set_level(level);
    segstream_log_debug("d");
    segstream_log_info("i");
    segstream_log_warn("w %s", "x");
    segstream_log_error("e");
    json_t *lines = read_lines();
    assert_int_equal(json_array_size(lines), 2);
    assert_string_equal(str_of(json_array_get(lines, 0), "level"), "warn");
    assert_string_equal(str_of(json_array_get(lines, 0), "msg"), "w x");
    assert_string_equal(str_of(json_array_get(lines, 1), "level"), "error");
    assert_false(segstream_log_enabled(SEGSTREAM_LOG_INFO));
    json_decref(lines);
    segstream_log_set_level(SEGSTREAM_LOG_DEBUG);
}

static void hostile_strings_stay_valid_json(void **state)
{
    (void)state;
    const char *nasty = "q\"b\\s\n\r\t\x01\x1f end \xff\xfe bad \xc3\x28 overlong \xc0\xaf surrogate \xed\xa0\x80 "
                        "cut \xe4\xb8 ok \xe4\xb8\xad \xf0\x9f\x98\x80";
    segstream_log_kv(SEGSTREAM_LOG_INFO, SEGSTREAM_LOG_FIELDS(SLF_STR("text", nasty), SLF_STR("k\"ey\x02", "v")),
                     "%s", nasty);
    /* Longer than a line: cut, still one valid line. */
    size_t big = 100000;
    char *huge = malloc(big + 1);
    for (size_t i = 0; i < big; i++)
        huge[i] = i % 3 == 0 ? '"' : (char)0xe4; /* escapes and broken UTF-8 everywhere */
    huge[big] = '\0';
    segstream_log_kv(SEGSTREAM_LOG_INFO, SEGSTREAM_LOG_FIELDS(SLF_STR("huge", huge), SLF_INT("after", 1)), "%s",
                     huge);
    free(huge);
    json_t *lines = read_lines();
    assert_int_equal(json_array_size(lines), 2);
    json_t *o = json_array_get(lines, 0);
    const char *text = str_of(o, "text");
    assert_string_equal(text, str_of(o, "msg"));
    assert_non_null(strstr(text, "q\"b\\s\n\r\t\x01\x1f end "));
    assert_non_null(strstr(text, "\xef\xbf\xbd\xef\xbf\xbd bad \xef\xbf\xbd( overlong"));
    assert_non_null(strstr(text, "ok \xe4\xb8\xad \xf0\x9f\x98\x80"));
    assert_string_equal(str_of(o, "k\"ey\x02"), "v");
    json_decref(lines);
}

static void secrets_never_reach_the_log(void **state)
{
    (void)state;
    assert_int_equal(segstream_log_add_secret("hunter2"), 0);
    segstream_log_kv(SEGSTREAM_LOG_WARN,
                     SEGSTREAM_LOG_FIELDS(SLF_STR("kafka.sasl.password", "other-secret"), SLF_INT("api_token", 7),
                                          SLF_STR("detail", "broker said: bad password hunter2!")),
                     "auth failed for password=%s", "hunter2");
    json_t *lines = read_lines();
    json_t *o = json_array_get(lines, 0);
    assert_string_equal(str_of(o, "kafka.sasl.password"), "***");
    assert_string_equal(str_of(o, "api_token"), "***");
    assert_string_equal(str_of(o, "detail"), "broker said: bad password ***!");
    assert_string_equal(str_of(o, "msg"), "auth failed for password=***");
    json_decref(lines);
}

static void *writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < 200; i++)
        segstream_log_kv(SEGSTREAM_LOG_INFO, SEGSTREAM_LOG_FIELDS(SLF_INT("thread", id), SLF_INT("i", i)),
                         "line %d of thread %d with some padding to make lines long enough to interleave", i, id);
    return NULL;
}

static void threads_do_not_interleave(void **state)
{
    (void)state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    json_t *lines = read_lines(); /* fails if any line is not a whole object */
    assert_int_equal(json_array_size(lines), 800);
    int next[4] = {0};
    for (size_t k = 0; k < 800; k++) {
        json_t *o = json_array_get(lines, k);
        int id = (int)json_integer_value(json_object_get(o, "thread"));
        assert_int_equal(json_integer_value(json_object_get(o, "i")), next[id]++);
    }
    json_decref(lines);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(line_shape_and_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(levels_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_strings_stay_valid_json, setup, teardown),
        cmocka_unit_test_setup_teardown(secrets_never_reach_the_log, setup, teardown),
        cmocka_unit_test_setup_teardown(threads_do_not_interleave, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
