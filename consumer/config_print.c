/* config_print.c - the two views of the configuration: the reference table
 * of known keys (Markdown, for the README) and the effective configuration
 * as a properties file with secrets redacted. Both come from the key table,
 * so the documentation cannot drift from what the parser accepts. */
#include "consumer/config.h"
#include "consumer/duration.h"
#include "consumer/redact.h"

#include <string.h>

static const char *type_name(segstream_config_type t)
{
    static const char *const names[] = {"string", "int", "number", "duration", "bool", "enum"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* Writes s with '|' escaped, for a Markdown table cell. */
static void md_cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

static void md_range(FILE *out, const segstream_config_key *k)
{
    char lo[32], hi[32];
    switch (k->type) {
    case SEGSTREAM_CONFIG_INT:
        fprintf(out, " %lld..%lld", (long long)k->min, (long long)k->max);
        break;
    case SEGSTREAM_CONFIG_DOUBLE:
        fprintf(out, " %g..%g", k->dmin, k->dmax);
        break;
    case SEGSTREAM_CONFIG_DURATION:
        fprintf(out, " %s..%s", segstream_duration_format(k->min, lo, sizeof lo),
                segstream_duration_format(k->max, hi, sizeof hi));
        break;
    case SEGSTREAM_CONFIG_ENUM:
        fputc(' ', out);
        md_cell(out, k->choices);
        break;
    default:
        break;
    }
}

void segstream_config_write_markdown(FILE *out)
{
    size_t n;
    const segstream_config_key *keys = segstream_config_keys(&n);
    fprintf(out, "| Key | Type | Default | Description |\n|---|---|---|---|\n");
    for (size_t i = 0; i < n; i++) {
        const segstream_config_key *k = &keys[i];
        fprintf(out, "| `%s` | %s", k->name, type_name(k->type));
        md_range(out, k);
        fprintf(out, " | ");
        if (*k->default_value) {
            fputc('`', out);
            md_cell(out, k->default_value);
            fputc('`', out);
        } else {
            fprintf(out, "(empty)");
        }
        fprintf(out, " | ");
        md_cell(out, k->doc);
        fprintf(out, " |\n");
    }
    fprintf(out, "| `kafka.*` | string | `kafka.bootstrap.servers=127.0.0.1:9092` | "
                 "passed to librdkafka without the prefix (checked at start); "
                 "`kafka.group.id` and `kafka.transactional.id` are set from `group.id` and `instance.id`; "
                 "the stage's producer has `linger.ms=0` unless `kafka.linger.ms` is set |\n");
    fprintf(out, "\nEnvironment: `SEGSTREAM_` + the key upper-cased with `.` as `_` "
                 "(`cluster.half_life` -> `SEGSTREAM_CLUSTER_HALF_LIFE`; "
                 "`SEGSTREAM_KAFKA_SASL_PASSWORD` -> `kafka.sasl.password`). "
                 "`KEY.file=/path` reads the value of KEY from a file. "
                 "Precedence: defaults < file < environment < `--set`. "
                 "Values of keys containing password, secret, token, sasl.jaas or ssl.key are never shown.\n");
}

static void write_entry(FILE *out, const char *key, const char *value, const char *origin, bool from_default)
{
    if (!from_default)
        fprintf(out, "# from %s\n", origin);
    fprintf(out, "%s=%s\n", key, segstream_redact(key, value));
}

struct kafka_print {
    const segstream_config *cfg;
    FILE *out;
};

static void print_kafka(void *ctx, const char *name, const char *value)
{
    struct kafka_print *kp = ctx;
    char key[512];
    snprintf(key, sizeof key, "kafka.%s", name);
    write_entry(kp->out, key, value, segstream_config_origin_of(kp->cfg, key),
                segstream_config_source_of(kp->cfg, key) == SEGSTREAM_CONFIG_DEFAULT);
}

void segstream_config_write_effective(const segstream_config *cfg, FILE *out)
{
    size_t n;
    const segstream_config_key *keys = segstream_config_keys(&n);
    fprintf(out, "# segstream effective configuration (secrets shown as %s)\n", SEGSTREAM_REDACTED);
    for (size_t i = 0; i < n; i++)
        write_entry(out, keys[i].name, segstream_config_get(cfg, keys[i].name),
                    segstream_config_origin_of(cfg, keys[i].name),
                    segstream_config_source_of(cfg, keys[i].name) == SEGSTREAM_CONFIG_DEFAULT);
    struct kafka_print kp = {cfg, out};
    segstream_config_each_kafka(cfg, print_kafka, &kp);
}
