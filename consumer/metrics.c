/* metrics.c - the metrics registry. Families and their series are singly
 * linked lists appended under the registry mutex; values are atomics updated
 * without it. Doubles live in atomic 64-bit words (their bit pattern) and
 * are added with a compare-and-swap loop. */
#include "consumer/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct segstream_series {
    struct segstream_series *next;
    segstream_metric *metric;
    char *values[SEGSTREAM_METRIC_MAX_LABELS];
    _Atomic uint64_t value;   /* counter: the count; gauge and histogram sum: double bits */
    _Atomic uint64_t buckets[]; /* histogram: n_buckets + 1 (the last is +Inf), not cumulative */
};

struct segstream_metric {
    struct segstream_metric *next;
    segstream_metrics *registry;
    segstream_metric_type type;
    char *name, *help;
    char *labels[SEGSTREAM_METRIC_MAX_LABELS];
    size_t n_labels;
    double bounds[SEGSTREAM_METRIC_MAX_BUCKETS];
    size_t n_buckets;
    segstream_series *series, **series_tail;
};

struct segstream_metrics {
    pthread_mutex_t lock;
    segstream_metric *metrics, **tail;
};

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double double_of(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

segstream_metrics *segstream_metrics_new(void)
{
    segstream_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->tail = &m->metrics;
    return m;
}

void segstream_metrics_free(segstream_metrics *m)
{
    if (!m)
        return;
    for (segstream_metric *f = m->metrics, *fn; f; f = fn) {
        fn = f->next;
        for (segstream_series *s = f->series, *sn; s; s = sn) {
            sn = s->next;
            for (size_t i = 0; i < f->n_labels; i++)
                free(s->values[i]);
            free(s);
        }
        for (size_t i = 0; i < f->n_labels; i++)
            free(f->labels[i]);
        free(f->name);
        free(f->help);
        free(f);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static bool valid_name(const char *s, bool colon_ok)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              (colon_ok && *s == ':')))
            return false;
    return true;
}

static void free_metric(segstream_metric *f)
{
    for (size_t i = 0; i < f->n_labels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f);
}

segstream_metric *segstream_metrics_add(segstream_metrics *m, segstream_metric_type type, const char *name,
                                        const char *help, const char *const *labels, const double *buckets,
                                        size_t n_buckets, segstream_err *err)
{
    if (!valid_name(name, true))
        return segstream_err_set(err, "metric name \"%s\": expected [a-zA-Z_:][a-zA-Z0-9_:]*", name ? name : ""),
               NULL;
    if (type == SEGSTREAM_METRIC_HISTOGRAM) {
        if (n_buckets == 0 || n_buckets > SEGSTREAM_METRIC_MAX_BUCKETS)
            return segstream_err_set(err, "metric %s: 1 to %d buckets", name, SEGSTREAM_METRIC_MAX_BUCKETS), NULL;
        for (size_t i = 0; i < n_buckets; i++)
            if (!isfinite(buckets[i]) || (i && buckets[i] <= buckets[i - 1]))
                return segstream_err_set(err, "metric %s: bucket bounds must be finite and increasing", name), NULL;
    }
    segstream_metric *f = calloc(1, sizeof *f);
    if (!f || !(f->name = strdup(name)) || !(f->help = strdup(help ? help : ""))) {
        if (f)
            free_metric(f);
        return segstream_err_set(err, "out of memory"), NULL;
    }
    f->registry = m;
    f->type = type;
    f->series_tail = &f->series;
    for (size_t i = 0; labels && labels[i]; i++) {
        bool ok = i < SEGSTREAM_METRIC_MAX_LABELS && valid_name(labels[i], false) && strncmp(labels[i], "__", 2) &&
                  !(type == SEGSTREAM_METRIC_HISTOGRAM && !strcmp(labels[i], "le"));
        if (!ok || !(f->labels[i] = strdup(labels[i]))) {
            segstream_err_set(err, "metric %s: bad label name \"%s\" or more than %d labels", name, labels[i],
                              SEGSTREAM_METRIC_MAX_LABELS);
            free_metric(f);
            return NULL;
        }
        f->n_labels = i + 1;
    }
    if (type == SEGSTREAM_METRIC_HISTOGRAM) {
        memcpy(f->bounds, buckets, n_buckets * sizeof *buckets);
        f->n_buckets = n_buckets;
    }
    pthread_mutex_lock(&m->lock);
    bool dup = false;
    for (segstream_metric *g = m->metrics; g; g = g->next)
        dup |= !strcmp(g->name, name);
    if (!dup) {
        *m->tail = f;
        m->tail = &f->next;
    }
    pthread_mutex_unlock(&m->lock);
    if (dup) {
        free_metric(f);
        return segstream_err_set(err, "metric %s registered twice", name), NULL;
    }
    /* An unlabelled metric shows 0 from the first scrape, not only after its
     * first update (an absent series reads as "no data" in dashboards). */
    if (!f->n_labels && !segstream_metric_series(f, NULL))
        return segstream_err_set(err, "metric %s: out of memory", name), NULL;
    return f;
}

segstream_series *segstream_metric_series(segstream_metric *f, const char *const *values)
{
    if (!f)
        return NULL;
    size_t n = 0;
    while (values && values[n])
        n++;
    if (n != f->n_labels)
        return NULL;
    segstream_metrics *m = f->registry;
    pthread_mutex_lock(&m->lock);
    segstream_series *s = f->series;
    for (; s; s = s->next) {
        size_t i = 0;
        while (i < n && !strcmp(s->values[i], values[i]))
            i++;
        if (i == n)
            break;
    }
    if (!s) {
        size_t nb = f->type == SEGSTREAM_METRIC_HISTOGRAM ? f->n_buckets + 1 : 0;
        s = calloc(1, sizeof *s + nb * sizeof s->buckets[0]);
        bool ok = s != NULL;
        for (size_t i = 0; ok && i < n; i++)
            ok = (s->values[i] = strdup(values[i])) != NULL;
        if (ok) {
            s->metric = f;
            atomic_init(&s->value, f->type == SEGSTREAM_METRIC_COUNTER ? 0 : bits_of(0.0));
            for (size_t i = 0; i < nb; i++)
                atomic_init(&s->buckets[i], 0);
            *f->series_tail = s;
            f->series_tail = &s->next;
        } else if (s) {
            for (size_t i = 0; i < n; i++)
                free(s->values[i]);
            free(s);
            s = NULL;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return s;
}

segstream_series *segstream_metric_with(segstream_metric *metric, const char *value)
{
    const char *values[] = {value, NULL};
    return segstream_metric_series(metric, values);
}

void segstream_counter_add(segstream_series *s, uint64_t n)
{
    if (s)
        atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void segstream_gauge_set(segstream_series *s, double value)
{
    if (s)
        atomic_store_explicit(&s->value, bits_of(value), memory_order_relaxed);
}

static void atomic_add_double(_Atomic uint64_t *word, double delta)
{
    uint64_t old = atomic_load_explicit(word, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(word, &old, bits_of(double_of(old) + delta), memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

void segstream_gauge_add(segstream_series *s, double delta)
{
    if (s)
        atomic_add_double(&s->value, delta);
}

void segstream_histogram_observe(segstream_series *s, double value)
{
    if (!s || s->metric->type != SEGSTREAM_METRIC_HISTOGRAM)
        return;
    const segstream_metric *f = s->metric;
    size_t b = 0;
    while (b < f->n_buckets && !(value <= f->bounds[b])) /* NaN lands in +Inf */
        b++;
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    atomic_add_double(&s->value, value);
}

uint64_t segstream_counter_value(const segstream_series *s)
{
    return s ? atomic_load_explicit(&((segstream_series *)s)->value, memory_order_relaxed) : 0;
}

double segstream_gauge_value(const segstream_series *s)
{
    return s ? double_of(atomic_load_explicit(&((segstream_series *)s)->value, memory_order_relaxed)) : 0.0;
}

/* --- Exposition. --- */

typedef struct out_buf {
    char *data;
    size_t len, cap;
    bool failed;
} out_buf;

static void put(out_buf *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *grown = realloc(o->data, cap);
        if (!grown) {
            o->failed = true;
            return;
        }
        o->data = grown;
        o->cap = cap;
    }
    memcpy(o->data + o->len, s, n);
    o->len += n;
    o->data[o->len] = '\0';
}

static void puts_(out_buf *o, const char *s)
{
    put(o, s, strlen(s));
}

/* HELP escapes '\' and newline; label values also '"'. */
static void put_escaped(out_buf *o, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            puts_(o, "\\\\");
        else if (*s == '\n')
            puts_(o, "\\n");
        else if (quote && *s == '"')
            puts_(o, "\\\"");
        else
            put(o, s, 1);
    }
}

/* The shortest of %.15g..%.17g that reads back exactly; Prometheus spells
 * the special values +Inf, -Inf and NaN. */
static void format_double(char buf[40], double d)
{
    if (isnan(d))
        snprintf(buf, 40, "NaN");
    else if (isinf(d))
        snprintf(buf, 40, d > 0 ? "+Inf" : "-Inf");
    else
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, 40, "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                break;
        }
}

static void put_double(out_buf *o, double d)
{
    char buf[40];
    format_double(buf, d);
    puts_(o, buf);
}

static void put_u64(out_buf *o, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    puts_(o, buf);
}

/* name{l1="v1",...,extra}: extra is the histogram's le label, or NULL. */
static void put_sample_name(out_buf *o, const segstream_metric *f, const segstream_series *s, const char *suffix,
                            const char *le)
{
    puts_(o, f->name);
    puts_(o, suffix);
    if (!f->n_labels && !le)
        return;
    puts_(o, "{");
    for (size_t i = 0; i < f->n_labels; i++) {
        if (i)
            puts_(o, ",");
        puts_(o, f->labels[i]);
        puts_(o, "=\"");
        put_escaped(o, s->values[i], true);
        puts_(o, "\"");
    }
    if (le) {
        if (f->n_labels)
            puts_(o, ",");
        puts_(o, "le=\"");
        puts_(o, le);
        puts_(o, "\"");
    }
    puts_(o, "}");
}

static void render_series(out_buf *o, const segstream_metric *f, segstream_series *s)
{
    uint64_t raw = atomic_load_explicit(&s->value, memory_order_relaxed);
    if (f->type == SEGSTREAM_METRIC_COUNTER) {
        put_sample_name(o, f, s, "", NULL);
        puts_(o, " ");
        put_u64(o, raw);
        puts_(o, "\n");
        return;
    }
    if (f->type == SEGSTREAM_METRIC_GAUGE) {
        put_sample_name(o, f, s, "", NULL);
        puts_(o, " ");
        put_double(o, double_of(raw));
        puts_(o, "\n");
        return;
    }
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= f->n_buckets; b++) {
        cumulative += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
        char le[40];
        if (b < f->n_buckets)
            format_double(le, f->bounds[b]);
        else
            snprintf(le, sizeof le, "+Inf");
        put_sample_name(o, f, s, "_bucket", le);
        puts_(o, " ");
        put_u64(o, cumulative);
        puts_(o, "\n");
    }
    put_sample_name(o, f, s, "_sum", NULL);
    puts_(o, " ");
    put_double(o, double_of(raw));
    puts_(o, "\n");
    put_sample_name(o, f, s, "_count", NULL);
    puts_(o, " ");
    put_u64(o, cumulative);
    puts_(o, "\n");
}

char *segstream_metrics_render(segstream_metrics *m, size_t *len)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    out_buf o = {0};
    puts_(&o, ""); /* an empty registry renders as "" rather than NULL */
    pthread_mutex_lock(&m->lock);
    for (segstream_metric *f = m->metrics; f; f = f->next) {
        puts_(&o, "# HELP ");
        puts_(&o, f->name);
        puts_(&o, " ");
        put_escaped(&o, f->help, false);
        puts_(&o, "\n# TYPE ");
        puts_(&o, f->name);
        puts_(&o, " ");
        puts_(&o, type_names[f->type]);
        puts_(&o, "\n");
        for (segstream_series *s = f->series; s; s = s->next)
            render_series(&o, f, s);
    }
    pthread_mutex_unlock(&m->lock);
    if (o.failed) {
        free(o.data);
        return NULL;
    }
    if (len)
        *len = o.len;
    return o.data;
}
