/* log.c - JSON-lines logger. A line is built in a fixed stack buffer (16 KiB;
 * longer messages and fields are cut at a UTF-8 boundary, the line stays
 * valid JSON) under one mutex that also guards the output stream and the
 * registered secrets, so scrubbing and writing see the same secret list. */
#include "consumer/log.h"
#include "consumer/redact.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LINE_MAX_BYTES 16384
#define TAIL_RESERVE 8 /* room for "}\n" and the closing punctuation */
#define MAX_SECRETS 64

static atomic_int current_level = SEGSTREAM_LOG_INFO;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *output;              /* NULL: stderr */
static char *secrets[MAX_SECRETS]; /* guarded by lock */
static size_t n_secrets;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void segstream_log_set_level(segstream_log_level level)
{
    atomic_store(&current_level, (int)level);
}

segstream_log_level segstream_log_get_level(void)
{
    return (segstream_log_level)atomic_load(&current_level);
}

bool segstream_log_enabled(segstream_log_level level)
{
    return (int)level >= atomic_load(&current_level);
}

int segstream_log_level_parse(const char *name, segstream_log_level *level)
{
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(name, level_names[i]))
            return *level = (segstream_log_level)i, 0;
    if (!strcasecmp(name, "warning"))
        return *level = SEGSTREAM_LOG_WARN, 0;
    return -1;
}

const char *segstream_log_level_name(segstream_log_level level)
{
    return (unsigned)level < 4 ? level_names[level] : "?";
}

void segstream_log_set_output(FILE *out)
{
    pthread_mutex_lock(&lock);
    output = out;
    pthread_mutex_unlock(&lock);
}

int segstream_log_add_secret(const char *value)
{
    if (!value || !*value)
        return 0;
    int rc = -1;
    pthread_mutex_lock(&lock);
    if (n_secrets < MAX_SECRETS && (secrets[n_secrets] = strdup(value)) != NULL) {
        n_secrets++;
        rc = 0;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

void segstream_log_clear_secrets(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n_secrets; i++)
        free(secrets[i]);
    n_secrets = 0;
    pthread_mutex_unlock(&lock);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_valid_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        len = 2, cp = c & 0x1F, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        len = 3, cp = c & 0x0F, min = 0x800;
    else if ((c & 0xF8) == 0xF0)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void segstream_json_escape(char *buf, size_t size, size_t *off, const char *s, size_t len)
{
    /* Keep one byte for the closing quote and one for the NUL. */
    if (*off + 3 > size)
        return;
    buf[(*off)++] = '"';
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        char tmp[8];
        const char *piece = tmp;
        size_t plen, consumed;
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\', tmp[1] = (char)c, plen = 2, consumed = 1;
        } else if (c < 0x20) {
            static const char short_esc[] = {'b', 't', 'n', 0, 'f', 'r'};
            if (c >= 8 && c <= 13 && short_esc[c - 8])
                tmp[0] = '\\', tmp[1] = short_esc[c - 8], plen = 2;
            else
                plen = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", c);
            consumed = 1;
        } else {
            size_t v = utf8_valid_len(p, (size_t)(end - p));
            if (v) {
                piece = (const char *)p, plen = consumed = v;
            } else {
                piece = "\xEF\xBF\xBD", plen = 3, consumed = 1; /* U+FFFD */
            }
        }
        if (*off + plen + 2 > size)
            break; /* cut here: whole characters only */
        memcpy(buf + *off, piece, plen);
        *off += plen;
        p += consumed;
    }
    buf[(*off)++] = '"';
    buf[*off] = '\0';
}

static bool append_raw(char *buf, size_t size, size_t *off, const char *s)
{
    size_t n = strlen(s);
    if (*off + n + 1 > size)
        return false;
    memcpy(buf + *off, s, n + 1);
    *off += n;
    return true;
}

/* Escapes s after scrubbing every registered secret out of a copy. Caller
 * holds the lock. */
static void append_scrubbed(char *buf, size_t size, size_t *off, const char *s)
{
    size_t len = strlen(s);
    if (!n_secrets) {
        segstream_json_escape(buf, size, off, s, len);
        return;
    }
    char stack[1024], *copy = len < sizeof stack ? stack : malloc(len + 1);
    if (!copy) { /* cannot scrub: write nothing rather than a secret */
        segstream_json_escape(buf, size, off, "(unloggable: out of memory)", 27);
        return;
    }
    memcpy(copy, s, len + 1);
    for (size_t i = 0; i < n_secrets; i++)
        segstream_redact_in(copy, secrets[i]);
    segstream_json_escape(buf, size, off, copy, strlen(copy));
    if (copy != stack)
        free(copy);
}

static bool reserved_key(const char *k)
{
    return !strcmp(k, "ts") || !strcmp(k, "level") || !strcmp(k, "msg");
}

void segstream_log_kv(segstream_log_level level, const segstream_log_field *fields, size_t n_fields,
                      const char *fmt, ...)
{
    if (!segstream_log_enabled(level))
        return;
    char msg[LINE_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char ts[40];
    size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof ts - tl, ".%03ldZ", now.tv_nsec / 1000000);

    char line[LINE_MAX_BYTES];
    const size_t limit = sizeof line - TAIL_RESERVE;
    size_t off = 0;
    pthread_mutex_lock(&lock);
    off += (size_t)snprintf(line, limit, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts, segstream_log_level_name(level));
    append_scrubbed(line, limit, &off, msg);
    for (size_t i = 0; i < n_fields; i++) {
        const segstream_log_field *f = &fields[i];
        if (!f->key || reserved_key(f->key))
            continue;
        /* Room for ,"k": plus a value; a field that cannot fit whole is left
         * out, keeping the line valid JSON (string values are cut instead). */
        size_t before = off;
        bool secret = segstream_key_is_secret(f->key);
        bool ok = off + strlen(f->key) * 6 + 32 < limit && append_raw(line, limit, &off, ",");
        if (ok) {
            segstream_json_escape(line, limit, &off, f->key, strlen(f->key));
            ok = append_raw(line, limit, &off, ":");
        }
        char num[64];
        const char *raw = num;
        if (ok) {
            switch (f->type) {
            case SEGSTREAM_LOG_FIELD_STR:
                if (f->s && !secret) {
                    ok = off + 3 <= limit;
                    if (ok)
                        append_scrubbed(line, limit, &off, f->s);
                    raw = NULL;
                } else {
                    raw = f->s ? "\"" SEGSTREAM_REDACTED "\"" : "null";
                }
                break;
            case SEGSTREAM_LOG_FIELD_INT:
                snprintf(num, sizeof num, "%lld", (long long)f->i);
                break;
            case SEGSTREAM_LOG_FIELD_DBL:
                snprintf(num, sizeof num, isfinite(f->d) ? "%.17g" : "null", f->d);
                break;
            case SEGSTREAM_LOG_FIELD_BOOL:
                raw = f->i ? "true" : "false";
                break;
            }
            if (raw && secret && f->type != SEGSTREAM_LOG_FIELD_STR)
                raw = "\"" SEGSTREAM_REDACTED "\"";
            if (ok && raw)
                ok = append_raw(line, limit, &off, raw);
        }
        if (!ok) {
            off = before;
            line[off] = '\0';
            break;
        }
    }
    memcpy(line + off, "}\n", 3);
    off += 2;
    FILE *out = output ? output : stderr;
    fwrite(line, 1, off, out);
    fflush(out);
    pthread_mutex_unlock(&lock);
}
