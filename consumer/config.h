/* config.h - the stage's configuration: one table of known keys drives
 * parsing, validation, `segstream config --list` and `--show`.
 *
 * Sources, lowest precedence first: the table's defaults, a properties file,
 * the environment, `--set key=value`. Every value remembers where it came
 * from, and a source never overrides a higher one, so the order of the load
 * calls does not matter. Values are parsed and checked when set (the error
 * names the key, its origin, the bad value and the accepted form); checks
 * across keys (window a multiple of pane, ...) and of the kafka.* keys (on a
 * scratch librdkafka configuration) run in segstream_config_validate().
 *
 * Keys under "kafka." are not in the table: they pass through to librdkafka
 * without the prefix. `KEY.file=/path` reads the value of KEY from a file
 * (trailing newline dropped), for secrets mounted as files. Environment:
 * SEGSTREAM_ + the key upper-cased with '.' as '_' (cluster.half_life ->
 * SEGSTREAM_CLUSTER_HALF_LIFE); SEGSTREAM_KAFKA_X_Y -> kafka.x.y; other
 * SEGSTREAM_* variables are not configuration and are ignored.
 *
 * Thread rules: build and validate on one thread; afterwards the getters may
 * be called from any thread as long as nothing sets values. */
#ifndef SEGSTREAM_CONSUMER_CONFIG_H
#define SEGSTREAM_CONSUMER_CONFIG_H

#include "common/err.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum segstream_config_type {
    SEGSTREAM_CONFIG_STRING = 0,
    SEGSTREAM_CONFIG_INT = 1,      /* int64 within [min, max] */
    SEGSTREAM_CONFIG_DOUBLE = 2,   /* finite double within [dmin, dmax] */
    SEGSTREAM_CONFIG_DURATION = 3, /* "90s", "1h30m", ... within [min, max] ms */
    SEGSTREAM_CONFIG_BOOL = 4,     /* true/false, yes/no, on/off, 1/0 */
    SEGSTREAM_CONFIG_ENUM = 5,     /* one of the '|'-separated choices */
} segstream_config_type;

/* Where a value came from; a higher source wins over a lower one. */
typedef enum segstream_config_source {
    SEGSTREAM_CONFIG_DEFAULT = 0,
    SEGSTREAM_CONFIG_FILE = 1,
    SEGSTREAM_CONFIG_ENV = 2,
    SEGSTREAM_CONFIG_ARG = 3, /* --set on the command line */
} segstream_config_source;

/* One known key. A string key's `check` (may be NULL) refuses bad forms by
 * writing why into `why` and returning -1. */
typedef struct segstream_config_key {
    const char *name;
    segstream_config_type type;
    const char *default_value; /* as written in a file */
    int64_t min, max;          /* INT and DURATION (milliseconds) */
    double dmin, dmax;         /* DOUBLE */
    const char *choices;       /* ENUM: "debug|info|warn|error" */
    int (*check)(const char *value, char *why, size_t why_size);
    const char *doc;           /* one line for --list */
} segstream_config_key;

/* The table of known keys, in display order; *n gets its length. Static. */
const segstream_config_key *segstream_config_keys(size_t *n);

/* The known key of that name, or NULL. */
const segstream_config_key *segstream_config_key_find(const char *name);

typedef struct segstream_config segstream_config;

/* A configuration holding the defaults. NULL when out of memory. Free with
 * segstream_config_free(). */
segstream_config *segstream_config_new(void);
void segstream_config_free(segstream_config *cfg);

/* Sets one key from `source`; `origin` says where in words for errors and
 * --show ("segstream.properties:12", "SEGSTREAM_CLUSTER_K", "--set"), copied.
 * Unknown keys fail with the closest known key suggested; "KEY.file" reads
 * the file. A value from a lower source than the current one is ignored
 * (returns 0). Returns 0, or -1 with err. */
int segstream_config_set(segstream_config *cfg, const char *key, const char *value,
                         segstream_config_source source, const char *origin, segstream_err *err);

/* Parses properties text: key=value lines, '#' or '!' comment lines, blank
 * lines, whitespace around key and value trimmed, a line ending in an odd
 * number of '\' continues on the next one. `name` prefixes errors with
 * name:line. Returns 0, or -1 with err at the first bad line. */
int segstream_config_parse(segstream_config *cfg, const char *text, size_t len, const char *name,
                           segstream_err *err);

/* Reads and parses a properties file (source FILE). Returns 0 or -1 with err. */
int segstream_config_load_file(segstream_config *cfg, const char *path, segstream_err *err);

/* Applies the SEGSTREAM_* variables of `envp` (NULL-terminated "NAME=value"
 * strings; NULL = the process environment) as source ENV. Returns 0 or -1. */
int segstream_config_load_env(segstream_config *cfg, char *const *envp, segstream_err *err);

/* Applies one "key=value" argument of --set (source ARG). Returns 0 or -1. */
int segstream_config_set_arg(segstream_config *cfg, const char *arg, segstream_err *err);

/* Checks across keys and the kafka.* keys against librdkafka. Returns 0, or
 * -1 with err naming the key(s). */
int segstream_config_validate(const segstream_config *cfg, segstream_err *err);

/* Convenience for commands: defaults, then `file` (NULL: none), the process
 * environment, then sets[0..nsets) as --set, then validate. NULL with err. */
segstream_config *segstream_config_load(const char *file, char *const *sets, size_t nsets,
                                        segstream_err *err);

/* The --set arguments of a command line, borrowed from argv, in order. */
#define SEGSTREAM_CONFIG_MAX_SETS 64
typedef struct segstream_config_sets {
    char *arg[SEGSTREAM_CONFIG_MAX_SETS];
    size_t n;
} segstream_config_sets;

/* Adds one --set argument (checked later, by segstream_config_load). Returns
 * 0, or -1 after telling stderr, in the name of `command`, that there are
 * too many. */
int segstream_config_sets_add(segstream_config_sets *sets, char *arg, const char *command);

/* --- Getters. The key must be a known key of the matching type: a wrong
 * name or type is a programming error and returns 0 / "" (and asserts in
 * debug builds). Strings belong to cfg. --- */
const char *segstream_config_string(const segstream_config *cfg, const char *key);
int64_t segstream_config_int(const segstream_config *cfg, const char *key);
double segstream_config_double(const segstream_config *cfg, const char *key);
int64_t segstream_config_duration_ms(const segstream_config *cfg, const char *key);
bool segstream_config_bool(const segstream_config *cfg, const char *key);
/* Index of the value among the key's choices (0-based). */
int segstream_config_enum(const segstream_config *cfg, const char *key);

/* The value as text (any key, kafka.* included), or NULL when not set. */
const char *segstream_config_get(const segstream_config *cfg, const char *key);
segstream_config_source segstream_config_source_of(const segstream_config *cfg, const char *key);
/* Where the value came from in words ("default", "x.properties:3", "--set",
 * "SEGSTREAM_CLUSTER_K"), or NULL when not set. Belongs to cfg. */
const char *segstream_config_origin_of(const segstream_config *cfg, const char *key);

/* Calls fn for every kafka.* key set, name without the prefix, in the order
 * they were first set. */
void segstream_config_each_kafka(const segstream_config *cfg,
                                 void (*fn)(void *ctx, const char *name, const char *value), void *ctx);

/* Calls fn for the value of every key that is secret by redact.h's rule
 * (kafka.sasl.password, ...), for segstream_log_add_secret(), so that such a
 * value is scrubbed even where it shows up under another name. */
void segstream_config_each_secret(const segstream_config *cfg, void (*fn)(void *ctx, const char *value), void *ctx);

/* A new librdkafka configuration with every kafka.* key. NULL with err (naming
 * the key, secrets redacted). The caller owns it. */
rd_kafka_conf_t *segstream_config_kafka_conf(const segstream_config *cfg, segstream_err *err);

/* schema.registry.ids parsed: calls fn(ctx, id, type name) for each "ID=TYPE"
 * entry. Returns 0, or -1 with err (stops at the first failing fn). */
int segstream_config_each_schema_id(const segstream_config *cfg,
                                    int (*fn)(void *ctx, uint32_t id, const char *type, segstream_err *err),
                                    void *ctx, segstream_err *err);

/* The reference table of known keys in Markdown (for the README). */
void segstream_config_write_markdown(FILE *out);

/* The effective configuration as a properties file that loads back, secret
 * values written as ***; a comment line above each value that is not a
 * default says where it came from. */
void segstream_config_write_effective(const segstream_config *cfg, FILE *out);

/* The known key closest to `name` by edit distance, or NULL when nothing is
 * close (distance > a third of the name's length + 2). */
const char *segstream_config_suggest(const char *name);

#endif
