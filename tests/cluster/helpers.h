/* helpers.h - shared by the cluster tests: a sink that records every output
 * as text (exact float bits, so two logs are equal only if byte-identical),
 * and a seeded generator of clustered unit vectors. */
#ifndef SEGSTREAM_TESTS_CLUSTER_HELPERS_H
#define SEGSTREAM_TESTS_CLUSTER_HELPERS_H

#include "cluster/cluster.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka here has no assert_double_equal: print both values on failure. */
#define assert_near(a, b, eps)                                                                     \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (eps)))                                                             \
            fail_msg("%s = %.9g, expected %.9g (+- %g)", #a, a_, b_, (double)(eps));               \
    } while (0)

typedef struct recorder {
    char *log;
    size_t len, cap;
    long changes, catalog;
    long by_cause[4];
    long by_kind[5];
    /* last catalog record per segment id (ids < 256) */
    double size[256];
    int active[256];
    int64_t parent[256];
    int64_t merged_into[256];
    char label[256][5][32];
    int n_label[256];
} recorder;

static __attribute__((unused)) void rec_printf(recorder *r, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (r->len + (size_t)n + 1 > r->cap) {
        r->cap = (r->len + (size_t)n + 1) * 2;
        r->log = realloc(r->log, r->cap);
    }
    memcpy(r->log + r->len, buf, (size_t)n + 1);
    r->len += (size_t)n;
}

static __attribute__((unused)) void rec_change(void *ctx, const segstream_cluster_change *ch)
{
    recorder *r = ctx;
    r->changes++;
    r->by_cause[ch->cause]++;
    uint32_t bits;
    memcpy(&bits, &ch->similarity, 4);
    rec_printf(r, "C %s %" PRId64 " %" PRId64 " %" PRId64 " %08x %d %" PRId64 "\n", ch->user_id, ch->event_time,
               ch->previous_segment, ch->segment, bits, (int)ch->cause, ch->model_version);
}

static __attribute__((unused)) void rec_catalog(void *ctx, const segstream_catalog_change *ch)
{
    recorder *r = ctx;
    r->catalog++;
    r->by_kind[ch->kind]++;
    uint64_t sb;
    memcpy(&sb, &ch->size, 8);
    rec_printf(r, "S %" PRId64 " %d %d %" PRId64 " %" PRId64 " %016" PRIx64 " %" PRId64 " %" PRId64 " %" PRId64,
               ch->segment_id, (int)ch->kind, ch->active, ch->parent, ch->merged_into, sb, ch->created_time,
               ch->updated_time, ch->model_version);
    for (int i = 0; i < ch->n_label; i++)
        rec_printf(r, " %s", ch->label[i]);
    for (int i = 0; ch->centroid && i < ch->dim; i++) {
        uint32_t b;
        memcpy(&b, &ch->centroid[i], 4);
        rec_printf(r, " %08x", b);
    }
    rec_printf(r, "\n");
    if (ch->segment_id >= 0 && ch->segment_id < 256) {
        int64_t id = ch->segment_id;
        r->size[id] = ch->size;
        r->active[id] = ch->active;
        r->parent[id] = ch->parent;
        r->merged_into[id] = ch->merged_into;
        r->n_label[id] = ch->n_label < 5 ? ch->n_label : 5;
        for (int i = 0; i < r->n_label[id]; i++)
            snprintf(r->label[id][i], 32, "%s", ch->label[i]);
    }
}

static __attribute__((unused)) segstream_cluster_sink rec_sink(recorder *r)
{
    return (segstream_cluster_sink){r, rec_change, rec_catalog};
}

static __attribute__((unused)) void rec_free(recorder *r)
{
    free(r->log);
    memset(r, 0, sizeof *r);
}

/* splitmix64: the tests' own generator */
static __attribute__((unused)) uint64_t t_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static __attribute__((unused)) double t_uniform(uint64_t *s) { return (double)(t_next(s) >> 11) * 0x1.0p-53; }
static __attribute__((unused)) double t_normal(uint64_t *s)
{
    double u = t_uniform(s) + 1e-12, v = t_uniform(s);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* Unit vector near axis `axis` (mod d) with noise of standard deviation `noise`. */
static __attribute__((unused)) void t_vector(uint64_t *s, int d, int axis, double noise, float *out)
{
    double n = 0;
    for (int i = 0; i < d; i++) {
        out[i] = (float)(noise * t_normal(s) + (i == axis % d ? 1.0 : 0.0));
        n += (double)out[i] * out[i];
    }
    for (int i = 0; i < d; i++)
        out[i] = (float)(out[i] / sqrt(n));
}

static __attribute__((unused)) void t_axis(int d, int axis, float *out)
{
    for (int i = 0; i < d; i++)
        out[i] = i == axis ? 1.0f : 0.0f;
}

#endif
