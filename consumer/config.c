/* config.c - the configuration store: one slot per known key (value text,
 * parsed value, source, origin) plus a list of kafka.* pass-through keys.
 * Every value is parsed when it is set, so a bad value is reported where it
 * was written; a lower source never replaces a higher one. */
#include "consumer/config.h"
#include "consumer/config_cluster.h"
#include "consumer/duration.h"
#include "consumer/redact.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KAFKA_PREFIX "kafka."
#define FILE_SUFFIX ".file"
#define ENV_PREFIX "SEGSTREAM_"
#define MAX_SECRET_FILE (64 * 1024)

typedef struct slot {
    char *value; /* text as given (owned) */
    char *origin;
    segstream_config_source source;
    union {
        int64_t i; /* INT, DURATION (ms), BOOL, ENUM index */
        double d;
    } parsed;
} slot;

typedef struct kafka_entry {
    char *key; /* with the "kafka." prefix */
    char *value, *origin;
    segstream_config_source source;
} kafka_entry;

struct segstream_config {
    slot *slots; /* parallel to segstream_config_keys() */
    size_t n_slots;
    kafka_entry *kafka;
    size_t n_kafka, cap_kafka;
};

static const char *const source_names[] = {"default", "file", "environment", "--set"};

/* --- Parsing one value of a known key. --- */

static int parse_int(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || isspace((unsigned char)*v))
        return -1;
    *out = x;
    return 0;
}

static int parse_bool(const char *v, int64_t *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(v, yes[i]))
            return *out = 1, 0;
        if (!strcasecmp(v, no[i]))
            return *out = 0, 0;
    }
    return -1;
}

static int parse_enum(const char *choices, const char *v, int64_t *out)
{
    size_t vlen = strlen(v);
    int index = 0;
    for (const char *p = choices; *p; index++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && !strncmp(p, v, len))
            return *out = index, 0;
        p += len + (bar ? 1 : 0);
    }
    return -1;
}

/* Checks `v` for key k; fills *out, or writes the accepted form into why. */
static int parse_value(const segstream_config_key *k, const char *v, slot *out, char *why, size_t n)
{
    char lo[32], hi[32];
    switch (k->type) {
    case SEGSTREAM_CONFIG_STRING:
        return k->check ? k->check(v, why, n) : 0;
    case SEGSTREAM_CONFIG_INT:
        if (parse_int(v, &out->parsed.i) < 0 || out->parsed.i < k->min || out->parsed.i > k->max) {
            snprintf(why, n, "expected an integer in %lld..%lld", (long long)k->min, (long long)k->max);
            return -1;
        }
        return 0;
    case SEGSTREAM_CONFIG_DOUBLE: {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (errno || end == v || *end || isspace((unsigned char)*v) || !isfinite(d) || d < k->dmin || d > k->dmax) {
            snprintf(why, n, "expected a number in %g..%g", k->dmin, k->dmax);
            return -1;
        }
        out->parsed.d = d;
        return 0;
    }
    case SEGSTREAM_CONFIG_DURATION:
        if (segstream_duration_parse(v, &out->parsed.i) < 0 || out->parsed.i < k->min || out->parsed.i > k->max) {
            snprintf(why, n, "expected a duration in %s..%s, written like 500ms, 90s, 30m, 1h, 7d or 1h30m",
                     segstream_duration_format(k->min, lo, sizeof lo), segstream_duration_format(k->max, hi, sizeof hi));
            return -1;
        }
        return 0;
    case SEGSTREAM_CONFIG_BOOL:
        if (parse_bool(v, &out->parsed.i) < 0) {
            snprintf(why, n, "expected true or false (also yes/no, on/off, 1/0)");
            return -1;
        }
        return 0;
    case SEGSTREAM_CONFIG_ENUM:
        if (parse_enum(k->choices, v, &out->parsed.i) < 0) {
            snprintf(why, n, "expected one of %s", k->choices);
            return -1;
        }
        return 0;
    }
    snprintf(why, n, "unknown type");
    return -1;
}

/* --- The store. --- */

static void slot_clear(slot *s)
{
    free(s->value);
    free(s->origin);
    s->value = s->origin = NULL;
}

static int set_kafka(segstream_config *cfg, const char *key, const char *value, segstream_config_source source,
                     const char *origin, segstream_err *err);

segstream_config *segstream_config_new(void)
{
    size_t n;
    const segstream_config_key *keys = segstream_config_keys(&n);
    segstream_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg || !(cfg->slots = calloc(n, sizeof *cfg->slots))) {
        free(cfg);
        return NULL;
    }
    cfg->n_slots = n;
    for (size_t i = 0; i < n; i++) {
        char why[256];
        cfg->slots[i].value = strdup(keys[i].default_value);
        cfg->slots[i].origin = strdup("default");
        if (!cfg->slots[i].value || !cfg->slots[i].origin) {
            segstream_config_free(cfg);
            return NULL;
        }
        /* The defaults pass their own checks (the tests hold the table to it). */
        if (parse_value(&keys[i], keys[i].default_value, &cfg->slots[i], why, sizeof why) < 0)
            assert(!"a default fails its key's check");
    }
    if (set_kafka(cfg, KAFKA_PREFIX "bootstrap.servers", "127.0.0.1:9092", SEGSTREAM_CONFIG_DEFAULT, "default",
                  NULL) < 0) {
        segstream_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void segstream_config_free(segstream_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_slots; i++)
        slot_clear(&cfg->slots[i]);
    free(cfg->slots);
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        free(cfg->kafka[i].key);
        free(cfg->kafka[i].value);
        free(cfg->kafka[i].origin);
    }
    free(cfg->kafka);
    free(cfg);
}

static size_t slot_index(const segstream_config_key *k)
{
    size_t n;
    return (size_t)(k - segstream_config_keys(&n));
}

/* Reads a secret file: the content without its trailing newline(s). */
static char *read_value_file(const char *path, segstream_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        segstream_err_set(err, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(MAX_SECRET_FILE + 1);
    size_t len = buf ? fread(buf, 1, MAX_SECRET_FILE + 1, f) : 0;
    bool bad = !buf || ferror(f) || len > MAX_SECRET_FILE;
    fclose(f);
    if (bad) {
        segstream_err_set(err, "cannot read %s (or larger than %d bytes)", path, MAX_SECRET_FILE);
        free(buf);
        return NULL;
    }
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    buf[len] = '\0';
    if (strlen(buf) != len) {
        segstream_err_set(err, "%s: contains a NUL byte", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static int set_kafka(segstream_config *cfg, const char *key, const char *value, segstream_config_source source,
                     const char *origin, segstream_err *err)
{
    if (!key[strlen(KAFKA_PREFIX)])
        return segstream_err_set(err, "%s: \"kafka.\" needs a librdkafka property name after it", origin);
    /* These belong to the stage: it derives them from group.id and instance.id. */
    static const char *const managed[][2] = {
        {"kafka.group.id", "group.id"},
        {"kafka.transactional.id", "instance.id"},
    };
    for (size_t i = 0; i < sizeof managed / sizeof managed[0]; i++)
        if (!strcmp(key, managed[i][0]))
            return segstream_err_set(err, "%s: %s is set by segstream; set %s instead", origin, key, managed[i][1]);
    kafka_entry *e = NULL;
    for (size_t i = 0; i < cfg->n_kafka && !e; i++)
        if (!strcmp(cfg->kafka[i].key, key))
            e = &cfg->kafka[i];
    if (e && e->source > source)
        return 0;
    if (!e) {
        if (cfg->n_kafka == cfg->cap_kafka) {
            size_t cap = cfg->cap_kafka ? 2 * cfg->cap_kafka : 8;
            kafka_entry *grown = realloc(cfg->kafka, cap * sizeof *grown);
            if (!grown)
                return segstream_err_set(err, "out of memory");
            cfg->kafka = grown;
            cfg->cap_kafka = cap;
        }
        e = &cfg->kafka[cfg->n_kafka];
        memset(e, 0, sizeof *e);
        if (!(e->key = strdup(key)))
            return segstream_err_set(err, "out of memory");
        cfg->n_kafka++;
    }
    char *v = strdup(value), *o = strdup(origin);
    if (!v || !o) {
        free(v);
        free(o);
        return segstream_err_set(err, "out of memory");
    }
    free(e->value);
    free(e->origin);
    e->value = v;
    e->origin = o;
    e->source = source;
    return 0;
}

int segstream_config_set(segstream_config *cfg, const char *key, const char *value,
                         segstream_config_source source, const char *origin, segstream_err *err)
{
    if (!origin)
        origin = source_names[source];
    size_t klen = strlen(key), slen = strlen(FILE_SUFFIX);
    if (klen > slen && !strcmp(key + klen - slen, FILE_SUFFIX) && !segstream_config_key_find(key)) {
        /* KEY.file=/path: the value of KEY is the file's content. */
        char *target = strndup(key, klen - slen);
        if (!target)
            return segstream_err_set(err, "out of memory");
        if (!segstream_config_key_find(target) && strncmp(target, KAFKA_PREFIX, strlen(KAFKA_PREFIX))) {
            const char *hint = segstream_config_suggest(target);
            segstream_err_set(err, "%s: unknown key %s%s%s%s", origin, key, hint ? " (did you mean " : "",
                              hint ? hint : "", hint ? ".file?)" : "");
            free(target);
            return -1;
        }
        char *content = read_value_file(value, err);
        int rc = content ? segstream_config_set(cfg, target, content, source, origin, err) : -1;
        if (!content)
            segstream_err_prefix(err, "%s: %s", origin, key);
        free(content);
        free(target);
        return rc;
    }
    if (!strncmp(key, KAFKA_PREFIX, strlen(KAFKA_PREFIX)))
        return set_kafka(cfg, key, value, source, origin, err);
    const segstream_config_key *k = segstream_config_key_find(key);
    if (!k) {
        const char *hint = segstream_config_suggest(key);
        if (hint)
            return segstream_err_set(err, "%s: unknown key %s (did you mean %s?)", origin, key, hint);
        return segstream_err_set(err, "%s: unknown key %s (segstream config --list shows the known keys; "
                                      "librdkafka settings go under kafka.)", origin, key);
    }
    slot *s = &cfg->slots[slot_index(k)];
    if (s->source > source)
        return 0;
    slot parsed = *s;
    char why[256];
    if (parse_value(k, value, &parsed, why, sizeof why) < 0)
        return segstream_err_set(err, "%s: %s = %s: %s", origin, key,
                                 segstream_key_is_secret(key) ? SEGSTREAM_REDACTED : value, why);
    char *v = strdup(value), *o = strdup(origin);
    if (!v || !o) {
        free(v);
        free(o);
        return segstream_err_set(err, "out of memory");
    }
    slot_clear(s);
    *s = parsed;
    s->value = v;
    s->origin = o;
    s->source = source;
    return 0;
}

/* --- Sources. --- */

static char *trim(char *s, char *end)
{
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    *end = '\0';
    return s;
}

/* Does the logical line [s, e) end in an odd number of backslashes? */
static bool continues(const char *s, const char *e)
{
    size_t n = 0;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    while (e > s && e[-1] == '\\')
        n++, e--;
    return n % 2 == 1;
}

static bool is_comment(const char *s, const char *e)
{
    while (s < e && isspace((unsigned char)*s))
        s++;
    return s < e && (*s == '#' || *s == '!');
}

static int append(char **buf, size_t *cap, size_t *used, const char *s, size_t n)
{
    if (*used + n + 1 > *cap) {
        size_t ncap = (*used + n + 1) * 2;
        char *grown = realloc(*buf, ncap);
        if (!grown)
            return -1;
        *buf = grown;
        *cap = ncap;
    }
    memcpy(*buf + *used, s, n);
    *used += n;
    (*buf)[*used] = '\0';
    return 0;
}

int segstream_config_parse(segstream_config *cfg, const char *text, size_t len, const char *name,
                           segstream_err *err)
{
    if (memchr(text, '\0', len))
        return segstream_err_set(err, "%s: contains a NUL byte: not a properties file", name);
    const char *p = text, *end = text + len;
    int lineno = 0, rc = 0;
    char *logical = NULL;
    size_t cap = 0;
    while (p < end && rc == 0) {
        int first_line = ++lineno;
        size_t used = 0;
        /* Join continued physical lines into one logical line. */
        for (;;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *s = p, *e = nl ? nl : end;
            p = nl ? nl + 1 : end;
            if (e > s && e[-1] == '\r')
                e--;
            if (used) { /* continuation lines lose their leading whitespace */
                while (s < e && (*s == ' ' || *s == '\t'))
                    s++;
            } else if (is_comment(s, e)) {
                break;
            }
            bool cont = continues(s, e);
            if (cont) {
                while (e > s && isspace((unsigned char)e[-1]))
                    e--;
                e--; /* the backslash */
            }
            if (append(&logical, &cap, &used, s, (size_t)(e - s)) < 0) {
                free(logical);
                return segstream_err_set(err, "%s: out of memory", name);
            }
            if (!cont || !nl || p >= end)
                break;
            lineno++;
        }
        if (!used)
            continue;
        char *line = trim(logical, logical + used);
        if (!*line)
            continue;
        char where[300];
        snprintf(where, sizeof where, "%s:%d", name, first_line);
        char *eq = strchr(line, '=');
        if (!eq) {
            /* The line is not echoed: it may be a mistyped secret. */
            rc = segstream_err_set(err, "%s: expected key=value (no '=' on this line)", where);
            break;
        }
        char *key = trim(line, eq);
        char *value = trim(eq + 1, eq + 1 + strlen(eq + 1));
        if (!*key) {
            rc = segstream_err_set(err, "%s: expected key=value, the key is missing", where);
            break;
        }
        rc = segstream_config_set(cfg, key, value, SEGSTREAM_CONFIG_FILE, where, err);
    }
    free(logical);
    return rc;
}

int segstream_config_load_file(segstream_config *cfg, const char *path, segstream_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return segstream_err_set(err, "configuration file %s: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : 4096;
            char *grown = ncap <= (16u << 20) ? realloc(text, ncap) : NULL;
            if (!grown) {
                free(text);
                fclose(f);
                return segstream_err_set(err, "configuration file %s: larger than 16 MiB or out of memory", path);
            }
            text = grown;
            cap = ncap;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    bool failed = ferror(f);
    fclose(f);
    int rc = failed ? segstream_err_set(err, "configuration file %s: read error", path)
                    : segstream_config_parse(cfg, text, len, path, err);
    free(text);
    return rc;
}

/* The environment variable name of a key: SEGSTREAM_ + upper case, '.' as '_'. */
static void env_name(const char *key, char *out, size_t size)
{
    size_t o = (size_t)snprintf(out, size, "%s", ENV_PREFIX);
    for (const char *p = key; *p && o + 1 < size; p++)
        out[o++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    out[o < size ? o : size - 1] = '\0';
}

extern char **environ;

int segstream_config_load_env(segstream_config *cfg, char *const *envp, segstream_err *err)
{
    if (!envp)
        envp = environ;
    size_t n;
    const segstream_config_key *keys = segstream_config_keys(&n);
    const size_t plen = strlen(ENV_PREFIX);
    for (size_t e = 0; envp[e]; e++) {
        const char *var = envp[e], *eq = strchr(var, '=');
        if (!eq || strncmp(var, ENV_PREFIX, plen))
            continue;
        size_t name_len = (size_t)(eq - var);
        char name[256], key[256];
        if (name_len >= sizeof name)
            continue;
        memcpy(name, var, name_len);
        name[name_len] = '\0';
        key[0] = '\0';
        for (size_t i = 0; i < n && !key[0]; i++) {
            char candidate[256];
            env_name(keys[i].name, candidate, sizeof candidate);
            if (!strcmp(candidate, name))
                snprintf(key, sizeof key, "%s", keys[i].name);
            /* KEY.file indirection through the environment too. */
            else if (!strncmp(candidate, name, strlen(candidate)) && !strcmp(name + strlen(candidate), "_FILE"))
                snprintf(key, sizeof key, "%s" FILE_SUFFIX, keys[i].name);
        }
        if (!key[0] && !strncmp(name + plen, "KAFKA_", 6) && name[plen + 6]) {
            /* SEGSTREAM_KAFKA_SASL_PASSWORD -> kafka.sasl.password: librdkafka
             * property names are lower case with dots. */
            size_t o = (size_t)snprintf(key, sizeof key, KAFKA_PREFIX);
            for (const char *p = name + plen + 6; *p && o + 1 < sizeof key; p++)
                key[o++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
            key[o] = '\0';
        }
        if (key[0] && segstream_config_set(cfg, key, eq + 1, SEGSTREAM_CONFIG_ENV, name, err) < 0)
            return -1;
    }
    return 0;
}

int segstream_config_set_arg(segstream_config *cfg, const char *arg, segstream_err *err)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return segstream_err_set(err, "--set: expected key=value");
    char *key = strndup(arg, (size_t)(eq - arg));
    if (!key)
        return segstream_err_set(err, "out of memory");
    int rc = segstream_config_set(cfg, key, eq + 1, SEGSTREAM_CONFIG_ARG, "--set", err);
    free(key);
    return rc;
}

/* --- Getters. --- */

static const slot *typed_slot(const segstream_config *cfg, const char *key, segstream_config_type type)
{
    const segstream_config_key *k = segstream_config_key_find(key);
    assert(k && k->type == type);
    if (!k || k->type != type)
        return NULL;
    return &cfg->slots[slot_index(k)];
}

const char *segstream_config_string(const segstream_config *cfg, const char *key)
{
    const slot *s = typed_slot(cfg, key, SEGSTREAM_CONFIG_STRING);
    return s ? s->value : "";
}

int64_t segstream_config_int(const segstream_config *cfg, const char *key)
{
    const slot *s = typed_slot(cfg, key, SEGSTREAM_CONFIG_INT);
    return s ? s->parsed.i : 0;
}

double segstream_config_double(const segstream_config *cfg, const char *key)
{
    const slot *s = typed_slot(cfg, key, SEGSTREAM_CONFIG_DOUBLE);
    return s ? s->parsed.d : 0.0;
}

int64_t segstream_config_duration_ms(const segstream_config *cfg, const char *key)
{
    const slot *s = typed_slot(cfg, key, SEGSTREAM_CONFIG_DURATION);
    return s ? s->parsed.i : 0;
}

bool segstream_config_bool(const segstream_config *cfg, const char *key)
{
    const slot *s = typed_slot(cfg, key, SEGSTREAM_CONFIG_BOOL);
    return s ? s->parsed.i != 0 : false;
}

int segstream_config_enum(const segstream_config *cfg, const char *key)
{
    const slot *s = typed_slot(cfg, key, SEGSTREAM_CONFIG_ENUM);
    return s ? (int)s->parsed.i : 0;
}

static const kafka_entry *find_kafka(const segstream_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n_kafka; i++)
        if (!strcmp(cfg->kafka[i].key, key))
            return &cfg->kafka[i];
    return NULL;
}

const char *segstream_config_get(const segstream_config *cfg, const char *key)
{
    const segstream_config_key *k = segstream_config_key_find(key);
    if (k)
        return cfg->slots[slot_index(k)].value;
    const kafka_entry *e = find_kafka(cfg, key);
    return e ? e->value : NULL;
}

segstream_config_source segstream_config_source_of(const segstream_config *cfg, const char *key)
{
    const segstream_config_key *k = segstream_config_key_find(key);
    if (k)
        return cfg->slots[slot_index(k)].source;
    const kafka_entry *e = find_kafka(cfg, key);
    return e ? e->source : SEGSTREAM_CONFIG_DEFAULT;
}

const char *segstream_config_origin_of(const segstream_config *cfg, const char *key)
{
    const segstream_config_key *k = segstream_config_key_find(key);
    if (k)
        return cfg->slots[slot_index(k)].origin;
    const kafka_entry *e = find_kafka(cfg, key);
    return e ? e->origin : NULL;
}

void segstream_config_each_kafka(const segstream_config *cfg,
                                 void (*fn)(void *ctx, const char *name, const char *value), void *ctx)
{
    for (size_t i = 0; i < cfg->n_kafka; i++)
        fn(ctx, cfg->kafka[i].key + strlen(KAFKA_PREFIX), cfg->kafka[i].value);
}

void segstream_config_each_secret(const segstream_config *cfg, void (*fn)(void *ctx, const char *value), void *ctx)
{
    size_t n;
    const segstream_config_key *keys = segstream_config_keys(&n);
    for (size_t i = 0; i < n; i++)
        if (segstream_key_is_secret(keys[i].name) && *cfg->slots[i].value)
            fn(ctx, cfg->slots[i].value);
    for (size_t i = 0; i < cfg->n_kafka; i++)
        if (segstream_key_is_secret(cfg->kafka[i].key) && *cfg->kafka[i].value)
            fn(ctx, cfg->kafka[i].value);
}

/* --- librdkafka and cross-key checks. --- */

rd_kafka_conf_t *segstream_config_kafka_conf(const segstream_config *cfg, segstream_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < cfg->n_kafka; i++) {
        const kafka_entry *e = &cfg->kafka[i];
        char errstr[512];
        if (rd_kafka_conf_set(conf, e->key + strlen(KAFKA_PREFIX), e->value, errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            bool secret = segstream_key_is_secret(e->key);
            if (secret) /* librdkafka may quote the value back */
                segstream_redact_in(errstr, e->value);
            segstream_err_set(err, "%s: %s = %s: librdkafka: %s", e->origin, e->key,
                              secret ? SEGSTREAM_REDACTED : e->value, errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    return conf;
}

int segstream_config_each_schema_id(const segstream_config *cfg,
                                    int (*fn)(void *ctx, uint32_t id, const char *type, segstream_err *err),
                                    void *ctx, segstream_err *err)
{
    const char *p = segstream_config_string(cfg, "schema.registry.ids");
    while (*p) {
        /* The value passed its check when set: ID=TYPE items split by ','. */
        char *end;
        unsigned long id = strtoul(p, &end, 10);
        const char *type = end + 1, *comma = strchr(type, ',');
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(comma ? (size_t)(comma - type) : strlen(type)), type);
        if (fn(ctx, (uint32_t)id, name, err) < 0)
            return -1;
        p = comma ? comma + 1 : type + strlen(type);
    }
    return 0;
}

static int check_pair(const segstream_config *cfg, const char *key, const char *other, bool ok,
                      const char *rule, segstream_err *err)
{
    if (ok)
        return 0;
    return segstream_err_set(err, "%s = %s (%s) %s %s = %s (%s)", key, segstream_config_get(cfg, key),
                             segstream_config_origin_of(cfg, key), rule, other, segstream_config_get(cfg, other),
                             segstream_config_origin_of(cfg, other));
}

int segstream_config_validate(const segstream_config *cfg, segstream_err *err)
{
    int64_t window = segstream_config_duration_ms(cfg, "cluster.window");
    int64_t pane = segstream_config_duration_ms(cfg, "cluster.pane");
    if (check_pair(cfg, "cluster.window", "cluster.pane", window % pane == 0, "must be a whole multiple of", err) ||
        check_pair(cfg, "cluster.window", "cluster.pane", window / pane <= 10000,
                   "must be at most 10000 panes of", err) ||
        check_pair(cfg, "cluster.allowed_lateness", "cluster.window",
                   segstream_config_duration_ms(cfg, "cluster.allowed_lateness") <= window, "must be at most", err) ||
        check_pair(cfg, "cluster.init_sample", "cluster.k",
                   segstream_config_int(cfg, "cluster.init_sample") >= segstream_config_int(cfg, "cluster.k"),
                   "must be at least", err))
        return -1;
    const char *in = segstream_config_string(cfg, "topics.input");
    static const char *const outputs[] = {"topics.output", "topics.segments", "topics.state", "topics.dlq"};
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++)
        if (check_pair(cfg, outputs[i], "topics.input", strcmp(in, segstream_config_string(cfg, outputs[i])) != 0,
                       "must differ from", err))
            return -1;
    const char *model_topic = segstream_config_string(cfg, "topics.model");
    if (model_topic[0]) {
        if (check_pair(cfg, "topics.model", "cluster.shared_model", segstream_config_bool(cfg, "cluster.shared_model"),
                       "needs", err))
            return -1;
        static const char *const others[] = {"topics.input", "topics.output", "topics.segments", "topics.state",
                                             "topics.dlq"};
        for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
            if (check_pair(cfg, "topics.model", others[i], strcmp(model_topic, segstream_config_string(cfg, others[i])),
                           "must differ from", err))
                return -1;
    }
    /* The model's own check as a backstop (the keys' ranges above follow it;
     * the dimension is the default model's, the real one comes with it). */
    segstream_cluster_options cluster;
    if (segstream_config_cluster_options(cfg, segstream_cluster_default_options().dim, &cluster, err) < 0)
        return segstream_err_prefix(err, "cluster.* keys");
    rd_kafka_conf_t *scratch = segstream_config_kafka_conf(cfg, err);
    if (!scratch)
        return -1;
    rd_kafka_conf_destroy(scratch);
    return 0;
}

int segstream_config_sets_add(segstream_config_sets *sets, char *arg, const char *command)
{
    if (sets->n == SEGSTREAM_CONFIG_MAX_SETS) {
        fprintf(stderr, "%s: more than %d --set\n", command, SEGSTREAM_CONFIG_MAX_SETS);
        return -1;
    }
    sets->arg[sets->n++] = arg;
    return 0;
}

segstream_config *segstream_config_load(const char *file, char *const *sets, size_t nsets, segstream_err *err)
{
    segstream_config *cfg = segstream_config_new();
    if (!cfg) {
        segstream_err_set(err, "out of memory");
        return NULL;
    }
    if ((file && segstream_config_load_file(cfg, file, err) < 0) || segstream_config_load_env(cfg, NULL, err) < 0)
        goto fail;
    for (size_t i = 0; i < nsets; i++)
        if (segstream_config_set_arg(cfg, sets[i], err) < 0)
            goto fail;
    if (segstream_config_validate(cfg, err) < 0)
        goto fail;
    return cfg;
fail:
    segstream_config_free(cfg);
    return NULL;
}

/* --- Suggestions: Levenshtein distance to every known key. --- */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 128 || lb > 128)
        return SIZE_MAX;
    size_t row[129];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *segstream_config_suggest(const char *name)
{
    size_t n, best = SIZE_MAX;
    const segstream_config_key *keys = segstream_config_keys(&n);
    const char *hint = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(name, keys[i].name);
        if (d < best)
            best = d, hint = keys[i].name;
    }
    return best <= strlen(name) / 3 + 2 ? hint : NULL;
}
