/* test_config.c - the configuration: every value type, durations, the
 * properties syntax, precedence of the sources, the environment mapping,
 * unknown keys with suggestions, errors that name key, value and accepted
 * form, kafka.* validation by librdkafka, KEY.file, redaction, and that the
 * example file in deploy/ matches the key table. */
#include "consumer/config.h"
#include "consumer/config_cluster.h"
#include "consumer/duration.h"
#include "consumer/redact.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static segstream_config *parse_ok(const char *text)
{
    segstream_config *cfg = segstream_config_new();
    segstream_err err = {{0}};
    if (segstream_config_parse(cfg, text, strlen(text), "t.properties", &err) < 0)
        fail_msg("parse: %s", err.message);
    return cfg;
}

/* Parses text into a fresh configuration and expects failure; returns the message. */
static const char *parse_fails(const char *text, segstream_err *err)
{
    segstream_config *cfg = segstream_config_new();
    int rc = segstream_config_parse(cfg, text, strlen(text), "t.properties", err);
    if (rc == 0)
        rc = segstream_config_validate(cfg, err);
    segstream_config_free(cfg);
    if (rc == 0)
        fail_msg("accepted: %s", text);
    return err->message;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void defaults_are_the_contract(void **state)
{
    (void)state;
    segstream_config *cfg = segstream_config_new();
    segstream_err err = {{0}};
    assert_int_equal(segstream_config_validate(cfg, &err), 0);
    assert_string_equal(segstream_config_get(cfg, "kafka.bootstrap.servers"), "127.0.0.1:9092");
    assert_string_equal(segstream_config_string(cfg, "topics.input"), "interest-changes");
    assert_string_equal(segstream_config_string(cfg, "topics.output"), "segment-changes");
    assert_string_equal(segstream_config_string(cfg, "topics.segments"), "segments");
    assert_string_equal(segstream_config_string(cfg, "topics.state"), "segstream-state");
    assert_string_equal(segstream_config_string(cfg, "topics.dlq"), "interest-changes.dlq");
    assert_string_equal(segstream_config_string(cfg, "metrics.listen"), "127.0.0.1:9464");
    assert_int_equal(segstream_config_duration_ms(cfg, "cluster.window"), 7LL * 86400000);
    assert_int_equal(segstream_config_duration_ms(cfg, "cluster.pane"), 3600000);
    assert_int_equal(segstream_config_source_of(cfg, "cluster.k"), SEGSTREAM_CONFIG_DEFAULT);
    segstream_config_free(cfg);
}

static void every_type_parses(void **state)
{
    (void)state;
    segstream_config *cfg = parse_ok("cluster.k = 12\n"
                                     "cluster.hysteresis=0.125\n"
                                     "cluster.half_life=1h30m\n"
                                     "cluster.profile_codec=int8\n"
                                     "log.level=debug\n"
                                     "model.path=/m/x y\n"
                                     "cluster.seed=9223372036854775807\n"
                                     "topics.create=yes\n");
    assert_int_equal(segstream_config_int(cfg, "cluster.k"), 12);
    assert_true(segstream_config_double(cfg, "cluster.hysteresis") == 0.125);
    assert_int_equal(segstream_config_duration_ms(cfg, "cluster.half_life"), 5400000);
    assert_int_equal(segstream_config_enum(cfg, "cluster.profile_codec"), 1);
    assert_int_equal(segstream_config_enum(cfg, "log.level"), 0);
    assert_string_equal(segstream_config_string(cfg, "model.path"), "/m/x y");
    assert_int_equal(segstream_config_int(cfg, "cluster.seed"), INT64_MAX);
    assert_true(segstream_config_bool(cfg, "topics.create"));
    assert_string_equal(segstream_config_origin_of(cfg, "cluster.k"), "t.properties:1");
    assert_int_equal(segstream_config_source_of(cfg, "cluster.k"), SEGSTREAM_CONFIG_FILE);
    segstream_config_free(cfg);
}

static void durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {{"0", 0},           {"500ms", 500},          {"90s", 90000},   {"30m", 1800000},
                {"1h", 3600000},    {"7d", 604800000},       {"2w", 1209600000}, {"1h30m", 5400000},
                {"1s500ms", 1500},  {"0s", 0}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t ms = -1;
        if (segstream_duration_parse(good[i].text, &ms) < 0 || ms != good[i].ms)
            fail_msg("%s -> %lld", good[i].text, (long long)ms);
        char buf[32];
        int64_t back = -1;
        segstream_duration_format(ms, buf, sizeof buf);
        assert_int_equal(segstream_duration_parse(buf, &back), 0);
        assert_int_equal(back, ms);
    }
    static const char *const bad[] = {"", "60", "1x", "h", "-1s", "1.5h", " 1h", "1h ", "1H",
                                      "99999999999999999999ms", "9223372036854775807d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 77;
        if (segstream_duration_parse(bad[i], &ms) == 0)
            fail_msg("accepted duration \"%s\"", bad[i]);
        assert_int_equal(ms, 77);
    }
    char buf[32];
    assert_string_equal(segstream_duration_format(5400000, buf, sizeof buf), "1h30m");
    assert_string_equal(segstream_duration_format(7LL * 86400000, buf, sizeof buf), "7d");
}

static void properties_syntax(void **state)
{
    (void)state;
    segstream_config *cfg = parse_ok("# comment\n"
                                     "! also a comment\n"
                                     "   \t\n"
                                     "  topics.input =  in-topic  \r\n"
                                     "group.id=a\\\n"
                                     "     b-c\n"
                                     "# a comment ending in a backslash does not continue \\\n"
                                     "model.path=x=y\n"
                                     "instance.id=last-wins-1\n"
                                     "instance.id=last-wins-2");
    assert_string_equal(segstream_config_string(cfg, "topics.input"), "in-topic");
    assert_string_equal(segstream_config_string(cfg, "model.path"), "x=y");
    assert_string_equal(segstream_config_origin_of(cfg, "model.path"), "t.properties:8");
    assert_string_equal(segstream_config_string(cfg, "group.id"), "ab-c");
    assert_string_equal(segstream_config_origin_of(cfg, "group.id"), "t.properties:5");
    assert_string_equal(segstream_config_origin_of(cfg, "instance.id"), "t.properties:10");
    assert_string_equal(segstream_config_string(cfg, "instance.id"), "last-wins-2");
    segstream_config_free(cfg);

    segstream_err err = {{0}};
    assert_contains(parse_fails("cluster.k 5\n", &err), "t.properties:1: expected key=value");
    assert_contains(parse_fails("\n\n=5\n", &err), "t.properties:3: expected key=value, the key is missing");
    segstream_config *c3 = segstream_config_new();
    assert_int_equal(segstream_config_parse(c3, "a\0b=1", 5, "nul", &err), -1);
    assert_contains(err.message, "nul: contains a NUL byte");
    segstream_config_free(c3);
}

static void bad_values_name_key_value_and_form(void **state)
{
    (void)state;
    segstream_err err = {{0}};
    assert_string_equal(parse_fails("\ncluster.k=0\n", &err),
                        "t.properties:2: cluster.k = 0: expected an integer in 1..4096");
    assert_string_equal(parse_fails("cluster.k=12abc\n", &err),
                        "t.properties:1: cluster.k = 12abc: expected an integer in 1..4096");
    assert_contains(parse_fails("cluster.window=7 days\n", &err),
                    "cluster.window = 7 days: expected a duration in 1ms..3650d, written like 500ms");
    assert_contains(parse_fails("cluster.pane=60\n", &err), "cluster.pane = 60: expected a duration");
    assert_string_equal(parse_fails("cluster.hysteresis=3\n", &err),
                        "t.properties:1: cluster.hysteresis = 3: expected a number in 0..2");
    assert_contains(parse_fails("cluster.hysteresis=nan\n", &err), "expected a number in 0..2");
    assert_string_equal(parse_fails("topics.create=maybe\n", &err),
                        "t.properties:1: topics.create = maybe: expected true or false (also yes/no, on/off, 1/0)");
    assert_string_equal(parse_fails("log.level=verbose\n", &err),
                        "t.properties:1: log.level = verbose: expected one of debug|info|warn|error");
    assert_contains(parse_fails("topics.input=bad topic\n", &err), "topics.input = bad topic: expected a Kafka topic");
    assert_contains(parse_fails("metrics.listen=9464\n", &err), "metrics.listen = 9464: expected host:port");
    assert_contains(parse_fails("metrics.listen=::1:9464\n", &err), "expected host:port");
    assert_contains(parse_fails("metrics.listen=h:70000\n", &err), "expected host:port");
    assert_contains(parse_fails("schema.registry.ids=12=foo\n", &err), "schema.registry.ids = 12=foo: expected ID=TYPE");
    assert_contains(parse_fails("schema.registry.ids=12=segment,\n", &err), "expected ID=TYPE");
    assert_contains(parse_fails("instance.id=\n", &err), "instance.id = : expected 1 to 200");
    /* Across keys, named with both origins. */
    assert_string_equal(parse_fails("cluster.window=90m\n", &err),
                        "cluster.window = 90m (t.properties:1) must be a whole multiple of cluster.pane = 1h (default)");
    assert_contains(parse_fails("cluster.allowed_lateness=8d\n", &err),
                    "cluster.allowed_lateness = 8d (t.properties:1) must be at most cluster.window = 7d");
    assert_contains(parse_fails("cluster.k=2000\n", &err), "cluster.init_sample = 1000 (default) must be at least cluster.k = 2000");
    assert_contains(parse_fails("topics.dlq=interest-changes\n", &err), "topics.dlq = interest-changes");
    assert_contains(parse_fails("cluster.pane=1ms\ncluster.window=7d\n", &err), "at most 10000 panes");
    assert_string_equal(parse_fails("topics.model=m\n", &err),
                        "topics.model = m (t.properties:1) needs cluster.shared_model = false (default)");
    assert_contains(parse_fails("topics.model=segstream-state\ncluster.shared_model=true\n", &err),
                    "topics.model = segstream-state (t.properties:1) must differ from topics.state");
    assert_contains(parse_fails("topics.model=bad topic\n", &err), "topics.model = bad topic: expected a Kafka topic");

    /* Accepted forms of the same keys. */
    segstream_config *cfg = parse_ok("metrics.listen=[::1]:0\nschema.registry.ids=12=interest_change,13=SegmentChange\n"
                                     "cluster.hysteresis=1e-3\n");
    assert_int_equal(segstream_config_validate(cfg, &err), 0);
    segstream_config_free(cfg);
    cfg = parse_ok("metrics.listen=:9464\n");
    segstream_config_free(cfg);
    cfg = parse_ok("topics.model=segstream-model\ncluster.shared_model=true\n");
    assert_int_equal(segstream_config_validate(cfg, &err), 0);
    segstream_config_free(cfg);
    assert_contains(parse_fails("metrics.listen=h:\n", &err), "expected host:port");
    assert_contains(parse_fails("metrics.listen=[]:1\n", &err), "expected host:port");
    assert_contains(parse_fails("metrics.listen=h:+1\n", &err), "expected host:port");
    cfg = parse_ok("metrics.listen=\n");
    assert_string_equal(segstream_config_string(cfg, "metrics.listen"), "");
    segstream_config_free(cfg);
}

static void unknown_keys_get_a_suggestion(void **state)
{
    (void)state;
    segstream_err err = {{0}};
    assert_string_equal(parse_fails("cluster.windw=7d\n", &err),
                        "t.properties:1: unknown key cluster.windw (did you mean cluster.window?)");
    assert_contains(parse_fails("topic.input=x\n", &err), "did you mean topics.input?");
    assert_contains(parse_fails("cluster.halflife=1d\n", &err), "did you mean cluster.half_life?");
    assert_contains(parse_fails("completely.unrelated.thing=1\n", &err), "unknown key completely.unrelated.thing (segstream config --list");
    assert_null(segstream_config_suggest("zzzzzzzzzzzzzzzzzzzzzz"));
}

static void precedence_default_file_env_set(void **state)
{
    (void)state;
    segstream_config *cfg = parse_ok("cluster.k=10\ncluster.seed=1\ntopics.input=from-file\n");
    segstream_err err = {{0}};
    char *env[] = {"SEGSTREAM_CLUSTER_K=20", "SEGSTREAM_TOPICS_INPUT=from-env", "PATH=/bin", NULL};
    assert_int_equal(segstream_config_load_env(cfg, env, &err), 0);
    assert_int_equal(segstream_config_set_arg(cfg, "cluster.k=30", &err), 0);
    assert_int_equal(segstream_config_int(cfg, "cluster.k"), 30);
    assert_string_equal(segstream_config_origin_of(cfg, "cluster.k"), "--set");
    assert_string_equal(segstream_config_string(cfg, "topics.input"), "from-env");
    assert_string_equal(segstream_config_origin_of(cfg, "topics.input"), "SEGSTREAM_TOPICS_INPUT");
    assert_int_equal(segstream_config_int(cfg, "cluster.seed"), 1);
    assert_int_equal(segstream_config_int(cfg, "cluster.init_sample"), 1000);

    /* A lower source loaded later still loses. */
    const char *late_file = "cluster.k=40\ntopics.input=late-file\n";
    assert_int_equal(segstream_config_parse(cfg, late_file, strlen(late_file), "late", &err), 0);
    assert_int_equal(segstream_config_int(cfg, "cluster.k"), 30);
    assert_string_equal(segstream_config_string(cfg, "topics.input"), "from-env");
    char *env2[] = {"SEGSTREAM_CLUSTER_K=50", NULL};
    assert_int_equal(segstream_config_load_env(cfg, env2, &err), 0);
    assert_int_equal(segstream_config_int(cfg, "cluster.k"), 30);
    /* Equal sources: the later one wins. */
    assert_int_equal(segstream_config_set_arg(cfg, "cluster.k=31", &err), 0);
    assert_int_equal(segstream_config_int(cfg, "cluster.k"), 31);
    assert_int_equal(segstream_config_set_arg(cfg, "nokey", &err), -1);
    assert_contains(err.message, "--set: expected key=value");
    segstream_config_free(cfg);
}

static void environment_mapping(void **state)
{
    (void)state;
    segstream_config *cfg = segstream_config_new();
    segstream_err err = {{0}};
    char *env[] = {"SEGSTREAM_CLUSTER_HALF_LIFE=2h",
                   "SEGSTREAM_KAFKA_SASL_PASSWORD=s3cr3t-pw",
                   "SEGSTREAM_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT",
                   "SEGSTREAM_METRICS_LISTEN=",
                   /* Not configuration: the test and tool variables. */
                   "SEGSTREAM_ROOT=/x", "SEGSTREAM_BROKERS=1.2.3.4:9", "SEGSTREAM_MODEL_DIR=/y",
                   "SEGSTREAM_KAFKA_=z", "SEGSTREAM_CLUSTER_K", NULL};
    assert_int_equal(segstream_config_load_env(cfg, env, &err), 0);
    assert_int_equal(segstream_config_duration_ms(cfg, "cluster.half_life"), 7200000);
    assert_string_equal(segstream_config_get(cfg, "kafka.sasl.password"), "s3cr3t-pw");
    assert_string_equal(segstream_config_get(cfg, "kafka.security.protocol"), "SASL_PLAINTEXT");
    assert_string_equal(segstream_config_origin_of(cfg, "kafka.sasl.password"), "SEGSTREAM_KAFKA_SASL_PASSWORD");
    assert_string_equal(segstream_config_string(cfg, "metrics.listen"), "");
    assert_string_equal(segstream_config_get(cfg, "kafka.bootstrap.servers"), "127.0.0.1:9092");
    assert_int_equal(segstream_config_validate(cfg, &err), 0);
    segstream_config_free(cfg);

    /* A bad value through the environment names the variable. */
    cfg = segstream_config_new();
    char *bad[] = {"SEGSTREAM_CLUSTER_K=many", NULL};
    assert_int_equal(segstream_config_load_env(cfg, bad, &err), -1);
    assert_string_equal(err.message, "SEGSTREAM_CLUSTER_K: cluster.k = many: expected an integer in 1..4096");
    segstream_config_free(cfg);

    /* The process environment through segstream_config_load(). */
    setenv("SEGSTREAM_CLUSTER_PANE", "30m", 1);
    char *sets[] = {"cluster.window=1d"};
    cfg = segstream_config_load(NULL, sets, 1, &err);
    unsetenv("SEGSTREAM_CLUSTER_PANE");
    assert_non_null(cfg);
    assert_int_equal(segstream_config_duration_ms(cfg, "cluster.pane"), 1800000);
    assert_int_equal(segstream_config_duration_ms(cfg, "cluster.window"), 86400000);
    segstream_config_free(cfg);
}

static void kafka_keys_are_checked_by_librdkafka(void **state)
{
    (void)state;
    segstream_err err = {{0}};
    assert_string_equal(parse_fails("kafka.no.such.property=1\n", &err),
                        "t.properties:1: kafka.no.such.property = 1: librdkafka: No such configuration property: "
                        "\"no.such.property\"");
    assert_contains(parse_fails("kafka.acks=banana\n", &err), "kafka.acks = banana: librdkafka: Invalid value");
    assert_contains(parse_fails("kafka.group.id=g\n", &err), "kafka.group.id is set by segstream; set group.id instead");
    assert_contains(parse_fails("kafka.transactional.id=t\n", &err), "set instance.id instead");
    assert_contains(parse_fails("kafka.=x\n", &err), "needs a librdkafka property name");

    segstream_config *cfg = parse_ok("kafka.bootstrap.servers=b1:9092,b2:9092\nkafka.linger.ms=5\n"
                                     "kafka.statistics.interval.ms=1000\n");
    assert_int_equal(segstream_config_validate(cfg, &err), 0);
    rd_kafka_conf_t *conf = segstream_config_kafka_conf(cfg, &err);
    assert_non_null(conf);
    char value[256];
    size_t size = sizeof value;
    assert_int_equal(rd_kafka_conf_get(conf, "bootstrap.servers", value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, "b1:9092,b2:9092");
    size = sizeof value;
    assert_int_equal(rd_kafka_conf_get(conf, "linger.ms", value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, "5");
    rd_kafka_conf_destroy(conf);
    segstream_config_free(cfg);
}

static void file_indirection(void **state)
{
    (void)state;
    char path[] = "/tmp/segstream-test-secret-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "pw-from-file\n", 13), 13);
    close(fd);
    char text[256];
    snprintf(text, sizeof text, "kafka.sasl.password.file=%s\nmodel.path.file=%s\n", path, path);
    segstream_config *cfg = parse_ok(text);
    assert_string_equal(segstream_config_get(cfg, "kafka.sasl.password"), "pw-from-file");
    assert_string_equal(segstream_config_string(cfg, "model.path"), "pw-from-file");
    segstream_config_free(cfg);

    cfg = segstream_config_new();
    segstream_err err = {{0}};
    char var[300];
    snprintf(var, sizeof var, "SEGSTREAM_KAFKA_SSL_KEY_PASSWORD_FILE=%s", path);
    char *env[] = {var, NULL};
    assert_int_equal(segstream_config_load_env(cfg, env, &err), 0);
    assert_string_equal(segstream_config_get(cfg, "kafka.ssl.key.password"), "pw-from-file");
    segstream_config_free(cfg);
    unlink(path);

    assert_contains(parse_fails("kafka.sasl.password.file=/nonexistent/pw\n", &err),
                    "t.properties:1: kafka.sasl.password.file: cannot open /nonexistent/pw");
    assert_contains(parse_fails("clustr.k.file=/x\n", &err), "unknown key clustr.k.file (did you mean cluster.k.file?)");
}

static void collect(void *ctx, const char *value)
{
    fprintf(ctx, "%s;", value);
}

static void secrets_are_redacted(void **state)
{
    (void)state;
    assert_true(segstream_key_is_secret("kafka.sasl.password"));
    assert_true(segstream_key_is_secret("kafka.ssl.keystore.password"));
    assert_true(segstream_key_is_secret("kafka.ssl.key.pem"));
    assert_true(segstream_key_is_secret("kafka.sasl.jaas.config"));
    assert_true(segstream_key_is_secret("kafka.sasl.oauthbearer.client.secret"));
    assert_true(segstream_key_is_secret("API_TOKEN"));
    assert_false(segstream_key_is_secret("encoder.batch_tokens"));
    assert_false(segstream_key_is_secret("kafka.ssl.keystore.location"));
    assert_false(segstream_key_is_secret("kafka.sasl.username"));
    assert_false(segstream_key_is_secret(NULL));

    char text[] = "Invalid value \"hunter2\" for hunter2";
    assert_int_equal(segstream_redact_in(text, "hunter2"), 2);
    assert_string_equal(text, "Invalid value \"***\" for ***");
    char short_secret[] = "a-b-a";
    assert_int_equal(segstream_redact_in(short_secret, "a"), 2);
    assert_string_equal(short_secret, "*-b-*");

    /* --show never prints the value; neither do parse errors. */
    segstream_config *cfg = parse_ok("kafka.sasl.password=hunter2\nkafka.sasl.username=alice\n");
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    segstream_config_write_effective(cfg, f);
    fclose(f);
    assert_null(strstr(out, "hunter2"));
    assert_contains(out, "# from t.properties:1\nkafka.sasl.password=***\n");
    assert_contains(out, "kafka.sasl.username=alice\n");
    assert_contains(out, "\ncluster.k=64\n");
    assert_contains(out, "kafka.bootstrap.servers=127.0.0.1:9092\n");
    free(out);
    segstream_config_free(cfg);

    cfg = parse_ok("kafka.sasl.password=hunter2\nkafka.sasl.username=alice\nkafka.ssl.key.password=k3y\n"
                   "kafka.sasl.oauthbearer.client.secret=\n");
    char *secrets = NULL;
    size_t secrets_len = 0;
    f = open_memstream(&secrets, &secrets_len);
    segstream_config_each_secret(cfg, collect, f);
    fclose(f);
    assert_string_equal(secrets, "hunter2;k3y;");
    free(secrets);
    segstream_config_free(cfg);

    segstream_err err = {{0}};
    parse_fails("kafka.sasl.password.bogus=hunter2\n", &err);
    assert_null(strstr(err.message, "hunter2"));
    assert_contains(err.message, "kafka.sasl.password.bogus = ***: librdkafka:");
    parse_fails("kafka.sasl.password hunter2\n", &err);
    assert_null(strstr(err.message, "hunter2"));
}

/* Every known key is shown, with its default, in deploy/'s example file, and
 * that file loads and validates: the example cannot drift from the table. */
static void example_file_matches_the_table(void **state)
{
    (void)state;
    const char *root = getenv("SEGSTREAM_ROOT");
    assert_non_null(root);
    char path[1024];
    snprintf(path, sizeof path, "%s/deploy/segstream.properties.example", root);
    segstream_config *cfg = segstream_config_new();
    segstream_err err = {{0}};
    if (segstream_config_load_file(cfg, path, &err) < 0 || segstream_config_validate(cfg, &err) < 0)
        fail_msg("%s", err.message);
    size_t n;
    const segstream_config_key *keys = segstream_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        if (segstream_config_source_of(cfg, keys[i].name) != SEGSTREAM_CONFIG_FILE)
            fail_msg("%s is not in %s", keys[i].name, path);
        if (strcmp(segstream_config_get(cfg, keys[i].name), keys[i].default_value))
            fail_msg("%s: the example says %s, the default is %s", keys[i].name,
                     segstream_config_get(cfg, keys[i].name), keys[i].default_value);
    }
    segstream_config_free(cfg);
    cfg = segstream_config_new();
    assert_int_equal(segstream_config_load_file(cfg, "/nonexistent.properties", &err), -1);
    assert_string_equal(err.message, "configuration file /nonexistent.properties: No such file or directory");
    segstream_config_free(cfg);
}

static void markdown_lists_every_key(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    segstream_config_write_markdown(f);
    fclose(f);
    size_t n;
    const segstream_config_key *keys = segstream_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        char cell[128];
        snprintf(cell, sizeof cell, "| `%s` | ", keys[i].name);
        assert_contains(out, cell);
        assert_true(keys[i].doc && *keys[i].doc);
    }
    assert_contains(out, "| `log.level` | enum debug\\|info\\|warn\\|error | `info` |");
    assert_contains(out, "| `cluster.window` | duration 1ms..3650d | `7d` |");
    free(out);
}

/* The table's defaults are the model's defaults, and values arrive where
 * they belong. */
static void cluster_options_follow_the_keys(void **state)
{
    (void)state;
    segstream_config *cfg = segstream_config_new();
    segstream_err err = {{0}};
    segstream_cluster_options got, want = segstream_cluster_default_options();
    if (segstream_config_cluster_options(cfg, want.dim, &got, &err) < 0)
        fail_msg("%s", err.message);
    /* Field by field: padding bytes may differ. */
    assert_true(got.dim == want.dim && got.k == want.k && got.window_ms == want.window_ms &&
                got.pane_ms == want.pane_ms && got.half_life_ms == want.half_life_ms &&
                got.allowed_lateness_ms == want.allowed_lateness_ms &&
                got.max_future_skew_ms == want.max_future_skew_ms && got.init_sample == want.init_sample &&
                got.kmeans_iterations == want.kmeans_iterations && got.kmeans_restarts == want.kmeans_restarts &&
                got.seed == want.seed && got.retire_share == want.retire_share &&
                got.merge_cosine == want.merge_cosine && got.hysteresis == want.hysteresis &&
                got.profile_codec == want.profile_codec && got.reassign_slice == want.reassign_slice &&
                got.reservoir_size == want.reservoir_size && got.label_terms == want.label_terms &&
                got.label_table_size == want.label_table_size && got.user_capacity == want.user_capacity);
    segstream_config_free(cfg);

    cfg = parse_ok("cluster.k=8\ncluster.window=2h\ncluster.pane=30m\ncluster.half_life=1h30m\n"
                   "cluster.allowed_lateness=90s\ncluster.max_future_skew=0\ncluster.init_sample=100\n"
                   "cluster.seed=7\ncluster.retire_size=0.1\ncluster.merge_similarity=1\n"
                   "cluster.hysteresis=0.5\ncluster.profile_codec=int8\ncluster.label_terms=3\n");
    assert_int_equal(segstream_config_cluster_options(cfg, 16, &got, &err), 0);
    assert_int_equal(got.dim, 16);
    assert_int_equal(got.k, 8);
    assert_int_equal(got.window_ms, 7200000);
    assert_int_equal(got.pane_ms, 1800000);
    assert_int_equal(got.half_life_ms, 5400000);
    assert_int_equal(got.allowed_lateness_ms, 90000);
    assert_int_equal(got.max_future_skew_ms, 0);
    assert_int_equal(got.init_sample, 100);
    assert_int_equal(got.seed, 7);
    assert_true(got.retire_share == 0.1 && got.merge_cosine == 1.0 && got.hysteresis == 0.5);
    assert_int_equal(got.profile_codec, SEGSTREAM_PROFILE_INT8);
    assert_int_equal(got.label_terms, 3);
    assert_int_equal(segstream_config_cluster_options(cfg, 0, &got, &err), -1);
    assert_contains(err.message, "dim");
    segstream_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_the_contract),
        cmocka_unit_test(every_type_parses),
        cmocka_unit_test(durations),
        cmocka_unit_test(properties_syntax),
        cmocka_unit_test(bad_values_name_key_value_and_form),
        cmocka_unit_test(unknown_keys_get_a_suggestion),
        cmocka_unit_test(precedence_default_file_env_set),
        cmocka_unit_test(environment_mapping),
        cmocka_unit_test(kafka_keys_are_checked_by_librdkafka),
        cmocka_unit_test(file_indirection),
        cmocka_unit_test(secrets_are_redacted),
        cmocka_unit_test(example_file_matches_the_table),
        cmocka_unit_test(markdown_lists_every_key),
        cmocka_unit_test(cluster_options_follow_the_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
