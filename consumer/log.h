/* log.h - structured logging: one JSON object per line on stderr,
 *   {"ts":"2026-11-27T18:00:00.123Z","level":"info","msg":"...",<fields>}
 * with a printf-style message and typed key/value fields.
 *
 * Secrets never reach the log: a field whose key is secret by redact.h's rule
 * is written as "***", and every value registered with
 * segstream_log_add_secret() is scrubbed from the message and from string
 * fields. Strings are JSON-escaped; invalid UTF-8 becomes U+FFFD.
 *
 * Thread rules: every function may be called from any thread; a line is
 * formatted in a local buffer and written with one locked fwrite, so lines
 * of different threads never interleave. The process has one logger. */
#ifndef SEGSTREAM_CONSUMER_LOG_H
#define SEGSTREAM_CONSUMER_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum segstream_log_level {
    SEGSTREAM_LOG_DEBUG = 0,
    SEGSTREAM_LOG_INFO = 1,
    SEGSTREAM_LOG_WARN = 2,
    SEGSTREAM_LOG_ERROR = 3,
} segstream_log_level;

typedef enum segstream_log_field_type {
    SEGSTREAM_LOG_FIELD_STR = 0,
    SEGSTREAM_LOG_FIELD_INT = 1,
    SEGSTREAM_LOG_FIELD_DBL = 2, /* NaN and infinities are written as null */
    SEGSTREAM_LOG_FIELD_BOOL = 3,
} segstream_log_field_type;

/* One key/value field; build them with the SLF_* macros below. */
typedef struct segstream_log_field {
    const char *key;
    segstream_log_field_type type;
    const char *s; /* STR; NULL is written as null */
    int64_t i;     /* INT, BOOL */
    double d;      /* DBL */
} segstream_log_field;

#define SLF_STR(k, v) ((segstream_log_field){(k), SEGSTREAM_LOG_FIELD_STR, (v), 0, 0.0})
#define SLF_INT(k, v) ((segstream_log_field){(k), SEGSTREAM_LOG_FIELD_INT, NULL, (int64_t)(v), 0.0})
#define SLF_DBL(k, v) ((segstream_log_field){(k), SEGSTREAM_LOG_FIELD_DBL, NULL, 0, (double)(v)})
#define SLF_BOOL(k, v) ((segstream_log_field){(k), SEGSTREAM_LOG_FIELD_BOOL, NULL, (v) ? 1 : 0, 0.0})
/* An array literal and its length, for segstream_log_kv():
 *   segstream_log_kv(SEGSTREAM_LOG_INFO, SEGSTREAM_LOG_FIELDS(SLF_STR("topic", t), SLF_INT("partition", p)),
 *                    "assigned %d partitions", n); */
#define SEGSTREAM_LOG_FIELDS(...) \
    (const segstream_log_field[]){__VA_ARGS__}, \
    sizeof((const segstream_log_field[]){__VA_ARGS__}) / sizeof(segstream_log_field)

/* The least severe level written (default INFO). */
void segstream_log_set_level(segstream_log_level level);
segstream_log_level segstream_log_get_level(void);
bool segstream_log_enabled(segstream_log_level level);

/* "debug", "info", "warn" (or "warning"), "error" -> level. Returns 0 or -1. */
int segstream_log_level_parse(const char *name, segstream_log_level *level);
const char *segstream_log_level_name(segstream_log_level level);

/* Where lines go (default stderr; NULL restores stderr). The stream is not
 * closed by the logger. For tests and tools. */
void segstream_log_set_output(FILE *out);

/* Registers a secret value (copied) to scrub from every later line. Empty
 * values are ignored. Returns 0, or -1 when out of memory or full (64). */
int segstream_log_add_secret(const char *value);
/* Forgets every registered secret. */
void segstream_log_clear_secrets(void);

/* Writes one line if level is enabled. fields may be NULL when n_fields is 0.
 * Field keys "ts", "level" and "msg" are reserved and dropped. */
void segstream_log_kv(segstream_log_level level, const segstream_log_field *fields, size_t n_fields,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define segstream_log_debug(...) segstream_log_kv(SEGSTREAM_LOG_DEBUG, NULL, 0, __VA_ARGS__)
#define segstream_log_info(...) segstream_log_kv(SEGSTREAM_LOG_INFO, NULL, 0, __VA_ARGS__)
#define segstream_log_warn(...) segstream_log_kv(SEGSTREAM_LOG_WARN, NULL, 0, __VA_ARGS__)
#define segstream_log_error(...) segstream_log_kv(SEGSTREAM_LOG_ERROR, NULL, 0, __VA_ARGS__)

/* Appends `s` (len bytes) JSON-escaped with quotes to buf[*off..size),
 * replacing invalid UTF-8 by U+FFFD; stops cleanly at the end of buf (the
 * string is cut at a character boundary and still closed). Exposed for tests
 * and for other JSON writers. */
void segstream_json_escape(char *buf, size_t size, size_t *off, const char *s, size_t len);

#endif
