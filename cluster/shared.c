/* shared.c - the barrier of a shared model: apply every sharer's delta, then
 * bootstrap or update the model, the same way on every instance.
 *
 * What makes the sharers agree: the merged delta does not depend on which
 * sharer contributed what or in which order (delta.c), it is applied in its
 * canonical order, the model update runs at the start time of the barrier's
 * pane (not at any instance's own watermark), and the random generator moves
 * only in the bootstrap and in splits, which see the same data everywhere.
 * Users are each instance's own: the sweep after an update re-assigns them
 * with the instance's own watermark. */
#include "cluster/internal.h"

#include <stdlib.h>
#include <string.h>

#define TIME_LIMIT (INT64_C(1) << 62)

int64_t segstream_cluster_barrier_wanted(const segstream_cluster *c) { return c->barrier_wanted; }

int segstream_cluster_barrier_taken(const segstream_cluster *c) { return c->at_barrier; }

cl_delta *cl_pending_of(segstream_cluster *c, int32_t shard)
{
    int j = 0;
    while (j < c->n_pending && c->pending_shard[j] < shard)
        j++;
    if (j < c->n_pending && c->pending_shard[j] == shard)
        return c->pending[j];
    if (c->n_pending == c->cap_pending) {
        int cap = c->cap_pending ? 2 * c->cap_pending : 8;
        cl_delta **p = realloc(c->pending, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        c->pending = p;
        int32_t *s = realloc(c->pending_shard, (size_t)cap * sizeof *s);
        if (!s)
            return NULL;
        c->pending_shard = s;
        c->cap_pending = cap;
    }
    cl_delta *x = cl_delta_new(c->d, c->k, c->opt.reservoir_size, c->opt.profile_codec);
    if (!x)
        return NULL;
    x->shard = shard;
    x->version = c->version;
    memmove(c->pending + j + 1, c->pending + j, (size_t)(c->n_pending - j) * sizeof *c->pending);
    memmove(c->pending_shard + j + 1, c->pending_shard + j, (size_t)(c->n_pending - j) * sizeof *c->pending_shard);
    c->pending[j] = x;
    c->pending_shard[j] = shard;
    c->n_pending++;
    return x;
}

int segstream_cluster_pending_shards(const segstream_cluster *c, int32_t *out, int max)
{
    for (int j = 0; j < c->n_pending && j < max; j++)
        out[j] = c->pending_shard[j];
    return c->n_pending;
}

static int delta_is_empty(const cl_delta *x)
{
    for (int s = 0; s < x->k; s++)
        if (x->pick_n[s])
            return 0;
    return x->n_rows == 0 && x->n_terms == 0 && x->n_sample == 0;
}

int segstream_cluster_delta_take(segstream_cluster *c, int32_t shard, uint8_t **bytes, size_t *len,
                                 segstream_err *err)
{
    if (!c->opt.shared_model)
        return segstream_err_set(err, "cluster delta: the model is not shared (options.shared_model = 0)");
    cl_delta *x = cl_pending_of(c, shard);
    if (!x)
        return segstream_err_set(err, "cluster delta: out of memory");
    x->version = c->version;
    if (cl_delta_write(x, bytes, len, err))
        return -1;
    cl_delta_clear(x);
    c->at_barrier = 1;
    return 0;
}

/* k-means++ on the shared sample; the sample's rows then join their nearest
 * segment in their panes (and its recent vectors), so the events before the
 * model count in it as later ones do, and the centroids and sizes are computed
 * from them. Every user this model tracks is then assigned by the sweep, as
 * after any model update. */
static int bootstrap(segstream_cluster *c, int64_t t, int64_t oldest, const segstream_cluster_sink *sink,
                     segstream_err *err)
{
    float *cen = malloc((size_t)c->k * c->d * sizeof(float));
    if (!cen)
        return segstream_err_set(err, "cluster bootstrap: out of memory");
    if (cl_kmeans(c->sample->sample_vec, c->sample->n_sample, c->d, c->k, c->opt.kmeans_iterations,
                  c->opt.kmeans_restarts, &c->rng, cen, err)) {
        free(cen);
        return segstream_err_prefix(err, "cluster bootstrap");
    }
    c->version = 1;
    for (int j = 0; j < c->k; j++) {
        int s = cl_segment_new(c, -1, t);
        memcpy(c->centroid + (size_t)s * c->d, cen + (size_t)j * c->d, (size_t)c->d * sizeof(float));
    }
    free(cen);
    const cl_delta *x = c->sample;
    for (long i = 0; i < x->n_sample; i++) { /* in the sample's order: time first */
        const float *v = x->sample_vec + (size_t)i * c->d;
        int s = cl_nearest(c, v, c->scratch_sims);
        cl_pane_add_sum(c, cl_pane_of(c, x->sample[i].time), oldest, s, v, 1.0);
        cl_reservoir_add(c, s, v);
    }
    cl_panes_recompute(c, t);
    for (int s = 0; s < c->k; s++)
        if (c->seg[s].id >= 0)
            cl_emit_catalog(c, sink, s, SEGSTREAM_CATALOG_BORN, -1);
    cl_delta_clear(c->sample);
    cl_sweep_start(c);
    return 0;
}

/* Adds the merged delta m to the panes, label counters, reservoirs and sample. */
static int apply(segstream_cluster *c, const cl_delta *m, int64_t oldest, int64_t t, segstream_err *err)
{
    int d = c->d;
    float *sum = malloc((size_t)d * sizeof(float));
    if (!sum)
        return segstream_err_set(err, "cluster barrier: out of memory");
    int64_t newest = oldest + c->n_ring - 1; /* panes past it would take a slot of the window's */
    for (long i = 0; i < m->n_rows; i++) {
        int s = m->row_slot[i];
        if (c->seg[s].id < 0 || m->row_pane[i] > newest)
            continue; /* a well-formed delta of this version has neither */
        const int64_t *fx = m->row_sum + (size_t)i * d;
        for (int q = 0; q < d; q++)
            sum[q] = (float)((double)fx[q] / 4294967296.0);
        cl_pane_add_sum(c, m->row_pane[i], oldest, s, sum, (double)m->row_count[i]);
    }
    free(sum);
    for (long i = 0; i < m->n_terms; i++) {
        const cl_delta_term *e = &m->terms[i];
        if (c->seg[e->slot].id < 0 || e->pane < oldest || e->pane > newest)
            continue;
        int64_t at = (e->pane + 1) * c->opt.pane_ms; /* counted as seen at the end of their pane, like the sums */
        cl_labels_add_term(c, e->slot, e->text, (double)e->count, at < t ? at : t);
    }
    for (int s = 0; s < c->k; s++)
        if (c->seg[s].id >= 0)
            for (int i = 0; i < m->pick_n[s]; i++) { /* oldest first: the ring keeps the latest */
                cl_profile_decode(m->codec, m->pick_code + ((size_t)s * m->R + i) * m->pick_bytes, d, c->scratch_x);
                cl_reservoir_add(c, s, c->scratch_x);
            }
    for (long i = 0; i < m->n_sample; i++)
        if (cl_delta_add_sample(c->sample, m->sample[i].time, m->sample[i].user_hash,
                                m->sample_vec + (size_t)i * d))
            return segstream_err_set(err, "cluster barrier: out of memory growing the bootstrap sample");
    return 0;
}

int segstream_cluster_barrier(segstream_cluster *c, const uint8_t *const *deltas, const size_t *lens, size_t n,
                              int64_t pane, int final, const segstream_cluster_sink *sink, segstream_err *err)
{
    if (!c->opt.shared_model)
        return segstream_err_set(err, "cluster barrier: the model is not shared (options.shared_model = 0)");
    if (!c->at_barrier)
        return segstream_err_set(err, "cluster barrier: take this model's pending deltas first "
                                      "(segstream_cluster_delta_take)");
    for (int j = 0; j < c->n_pending; j++)
        if (!delta_is_empty(c->pending[j]))
            return segstream_err_set(err, "cluster barrier: shard %d has contributions that were not taken "
                                          "(segstream_cluster_delta_take): they would be lost",
                                     (int)c->pending_shard[j]);
    if (pane < -TIME_LIMIT / c->opt.pane_ms || pane > TIME_LIMIT / c->opt.pane_ms)
        return segstream_err_set(err, "cluster barrier: pane %lld is out of range", (long long)pane);
    cl_delta *m = cl_delta_new(c->d, c->k, c->opt.reservoir_size, c->opt.profile_codec);
    if (!m)
        return segstream_err_set(err, "cluster barrier: out of memory");
    m->version = c->version;
    for (size_t i = 0; i < n; i++)
        if (cl_delta_absorb(m, deltas[i], lens[i], err)) {
            cl_delta_free(m);
            return segstream_err_prefix(err, "cluster barrier: delta %zu of %zu", i + 1, n);
        }
    cl_delta_sort(m);
    int opens = c->model_pane == INT64_MIN || pane > c->model_pane;
    int64_t now = opens ? pane : c->model_pane;
    int64_t t = now * c->opt.pane_ms, oldest = now - c->n_window_panes + 1;
    int rc = apply(c, m, oldest, t, err);
    cl_delta_free(m);
    if (rc)
        return -1;
    int had_model = c->version > 0, had_pane = c->model_pane != INT64_MIN;
    c->model_pane = now;
    c->at_barrier = 0;
    c->barrier_wanted = INT64_MIN;
    if (!had_model) {
        long rows = c->sample->n_sample;
        if ((rows >= c->opt.init_sample || (final && rows >= c->k)) && bootstrap(c, t, oldest, sink, err))
            return -1;
    } else if ((opens && had_pane) || final) {
        if (cl_model_update(c, t, oldest, sink, err))
            return -1;
    }
    for (int j = 0; j < c->n_pending; j++) /* all empty: what comes next is made against this version */
        c->pending[j]->version = c->version;
    return 0;
}
