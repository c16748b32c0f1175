/* fuzz_config.c - libFuzzer target for configuration loading: the
 * properties parser and the value checks. Any bytes either parse or fail with
 * a message, never crash or leak; a configuration that parses and validates
 * must print (--show) and load back to the same effective configuration, map
 * to cluster options the model accepts, and give its schema ids, kafka.* keys
 * and secrets to the readers the stage uses (the librdkafka configuration
 * included, which may refuse a value but must not crash). The same bytes go
 * through the duration parser. Seeds: tests/fuzz/corpus/config. */
#include "consumer/config.h"
#include "consumer/config_cluster.h"
#include "consumer/duration.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *show(const segstream_config *cfg)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        abort();
    segstream_config_write_effective(cfg, f);
    fclose(f);
    return out;
}

static bool contains(const uint8_t *data, size_t size, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= size; i++)
        if (!memcmp(data + i, needle, n))
            return true;
    return false;
}

static int on_schema_id(void *ctx, uint32_t id, const char *type, segstream_err *err)
{
    (void)err;
    *(size_t *)ctx += id + strlen(type);
    return 0;
}

static void on_kafka(void *ctx, const char *name, const char *value)
{
    *(size_t *)ctx += strlen(name) + strlen(value);
}

static void on_secret(void *ctx, const char *value)
{
    *(size_t *)ctx += strlen(value);
}

/* What the stage reads from a validated configuration. */
static void use(const segstream_config *cfg)
{
    segstream_err err = {{0}};
    segstream_cluster_options opt;
    if (segstream_config_cluster_options(cfg, 384, &opt, &err) < 0) {
        fprintf(stderr, "validated configuration refused by the model: %s\n", err.message);
        abort();
    }
    size_t seen = 0;
    segstream_config_each_schema_id(cfg, on_schema_id, &seen, &err);
    segstream_config_each_kafka(cfg, on_kafka, &seen);
    segstream_config_each_secret(cfg, on_secret, &seen);
    rd_kafka_conf_t *kc = segstream_config_kafka_conf(cfg, &err);
    if (kc)
        rd_kafka_conf_destroy(kc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    segstream_err err = {{0}};
    segstream_config *cfg = segstream_config_new();
    if (!cfg)
        return 0;
    if (segstream_config_parse(cfg, (const char *)data, size, "fuzz", &err) == 0 &&
        segstream_config_validate(cfg, &err) == 0) {
        use(cfg);
        /* Round trip through --show. Secrets are printed as *** and values
         * read through KEY.file may span lines: neither round-trips. */
        char *first = show(cfg);
        if (!strstr(first, "=***") && !contains(data, size, ".file")) {
            segstream_config *again = segstream_config_new();
            if (segstream_config_parse(again, first, strlen(first), "show", &err) < 0) {
                fprintf(stderr, "--show output does not load back: %s\n%s", err.message, first);
                abort();
            }
            char *second = show(again);
            /* Origins differ (fuzz:N vs show:N); the key=value lines must not. */
            char *a = first, *b = second;
            while (*a || *b) {
                while (*a == '#')
                    a = strchr(a, '\n') + 1;
                while (*b == '#')
                    b = strchr(b, '\n') + 1;
                size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
                if (la != lb || memcmp(a, b, la)) {
                    fprintf(stderr, "--show round trip differs:\n%.*s\n%.*s\n", (int)la, a, (int)lb, b);
                    abort();
                }
                a += la + (a[la] ? 1 : 0);
                b += lb + (b[lb] ? 1 : 0);
            }
            free(second);
            segstream_config_free(again);
        }
        free(first);
    }
    segstream_config_free(cfg);

    /* The same bytes as a duration. */
    char text[64];
    if (size < sizeof text) {
        memcpy(text, data, size);
        text[size] = '\0';
        int64_t ms;
        if (segstream_duration_parse(text, &ms) == 0) {
            char buf[40];
            int64_t back;
            if (segstream_duration_parse(segstream_duration_format(ms, buf, sizeof buf), &back) < 0 || back != ms)
                abort();
        }
    }
    return 0;
}
