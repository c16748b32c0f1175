/* segments.c - segment life cycle at each model update (pane close).
 *
 * Order of one update, all deterministic (slot order, ties to the lower id):
 *   1. drop panes that left the window, recompute decayed sums and sizes;
 *   2. retire segments whose decayed size < retire_share * total / k (never
 *      when the window is empty: an idle stream keeps its model);
 *   3. merge near duplicates (centroid cosine > merge_cosine), the younger id
 *      into the older one, best pair first;
 *   4. while fewer than k are active, split the segment with the largest
 *      size * (1 - coherence) ("largest, widest"): 2-means on its reservoir of
 *      recent members gives two directions; each child inherits the parent's
 *      per-pane mass scaled by its share of the reservoir, pointed along its
 *      own direction, and records the parent, which retires; a split whose
 *      smaller child would start under the retirement threshold, or whose
 *      children are closer than merge_cosine, is not made (no churn);
 *   5. recompute labels, emit an UPDATED catalog record per active segment.
 * Every life-cycle change bumps the model version; ids are never reused. */
#include "cluster/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cl_segment_refresh_centroid(segstream_cluster *c, int s)
{
    const float *acc = c->acc + (size_t)s * c->d;
    double n = cl_norm(acc, c->d);
    if (n <= 0)
        return; /* keep the previous direction */
    float *cen = c->centroid + (size_t)s * c->d, inv = (float)(1.0 / n);
    for (int i = 0; i < c->d; i++)
        cen[i] = acc[i] * inv;
}

static int free_slot(const segstream_cluster *c, int avoid)
{
    for (int s = 0; s < c->k; s++)
        if (c->seg[s].id < 0 && s != avoid)
            return s;
    return -1;
}

int cl_segment_new(segstream_cluster *c, int64_t parent, int64_t time)
{
    int s = free_slot(c, -1);
    if (s < 0)
        return -1;
    cl_segment *g = &c->seg[s];
    memset(g, 0, sizeof *g);
    g->id = c->next_segment_id++;
    g->parent = parent;
    g->created_time = g->updated_time = time;
    g->coherence = 1.0;
    memset(c->acc + (size_t)s * c->d, 0, (size_t)c->d * sizeof(float));
    cl_panes_clear_slot(c, s);
    cl_labels_clear(c, s);
    c->n_active++;
    return s;
}

static float *reservoir_row(segstream_cluster *c, int s, int row)
{
    return c->reservoir + ((size_t)s * c->opt.reservoir_size + row) * c->d;
}

void cl_reservoir_add(segstream_cluster *c, int s, const float *x)
{
    cl_segment *g = &c->seg[s];
    memcpy(reservoir_row(c, s, g->reservoir_next), x, (size_t)c->d * sizeof(float));
    g->reservoir_next = (g->reservoir_next + 1) % c->opt.reservoir_size;
    if (g->reservoir_n < c->opt.reservoir_size)
        g->reservoir_n++;
}

void cl_emit_catalog(segstream_cluster *c, const segstream_cluster_sink *sink, int s,
                     segstream_catalog_kind kind, int64_t merged_into)
{
    if (!sink || !sink->catalog_change)
        return;
    const cl_segment *g = &c->seg[s];
    const char *label[16];
    for (int i = 0; i < g->n_label; i++)
        label[i] = g->label[i];
    int active = kind != SEGSTREAM_CATALOG_MERGED && kind != SEGSTREAM_CATALOG_RETIRED;
    segstream_catalog_change ch = {
        .segment_id = g->id,
        .kind = kind,
        .active = active,
        .parent = g->parent,
        .merged_into = merged_into,
        .label = label,
        .n_label = g->n_label,
        .size = g->size,
        .centroid = active ? c->centroid + (size_t)s * c->d : NULL,
        .dim = c->d,
        .created_time = g->created_time,
        .updated_time = g->updated_time,
        .model_version = c->version,
    };
    sink->catalog_change(sink->ctx, &ch);
}

static void free_segment(segstream_cluster *c, int s)
{
    cl_panes_clear_slot(c, s);
    cl_labels_clear(c, s);
    c->seg[s].id = -1;
    c->seg[s].reservoir_n = c->seg[s].reservoir_next = 0;
    c->n_active--;
}

/* retire_share of the mean share per segment (total decayed size / k); 0
 * when the window is empty. */
static double retire_threshold(const segstream_cluster *c)
{
    double total = 0;
    for (int s = 0; s < c->k; s++)
        if (c->seg[s].id >= 0)
            total += c->seg[s].size;
    return total > 0 ? c->opt.retire_share * total / c->k : 0;
}

static void retire_small(segstream_cluster *c, const segstream_cluster_sink *sink, int64_t t)
{
    double threshold = retire_threshold(c);
    if (threshold <= 0)
        return;
    for (int s = 0; s < c->k; s++) {
        if (c->seg[s].id < 0 || c->seg[s].size >= threshold || c->n_active <= 1)
            continue;
        c->version++;
        c->seg[s].updated_time = t;
        cl_emit_catalog(c, sink, s, SEGSTREAM_CATALOG_RETIRED, -1);
        free_segment(c, s);
    }
}

static void merge_duplicates(segstream_cluster *c, const segstream_cluster_sink *sink, int64_t t)
{
    if (c->opt.merge_cosine >= 1.0)
        return;
    for (;;) {
        int best_a = -1, best_b = -1;
        float best = (float)c->opt.merge_cosine;
        for (int a = 0; a < c->k; a++) {
            if (c->seg[a].id < 0)
                continue;
            for (int b = a + 1; b < c->k; b++) {
                if (c->seg[b].id < 0)
                    continue;
                float cos = cl_dot(c->centroid + (size_t)a * c->d, c->centroid + (size_t)b * c->d, c->d);
                if (cos > best) {
                    best = cos;
                    best_a = a;
                    best_b = b;
                }
            }
        }
        if (best_a < 0)
            return;
        int into = c->seg[best_a].id < c->seg[best_b].id ? best_a : best_b;
        int from = into == best_a ? best_b : best_a;
        c->version++;
        c->seg[from].updated_time = t;
        cl_emit_catalog(c, sink, from, SEGSTREAM_CATALOG_MERGED, c->seg[into].id);
        cl_panes_merge_slot(c, into, from);
        cl_labels_merge(c, into, from, t);
        for (int i = 0; i < c->seg[from].reservoir_n; i++)
            cl_reservoir_add(c, into, reservoir_row(c, from, i));
        free_segment(c, from);
        cl_panes_recompute(c, t);
    }
}

/* 2-means on segment s's reservoir. Writes two unit directions and the rows'
 * membership; returns 0, or -1 when the rows do not separate. */
static int two_means(segstream_cluster *c, int s, float *ca, float *cb, uint8_t *member)
{
    int n = c->seg[s].reservoir_n, d = c->d;
    int first = (int)(cl_rng_next(&c->rng) % (uint64_t)n), far = -1;
    float worst = 2;
    for (int i = 0; i < n; i++) {
        float cos = cl_dot(reservoir_row(c, s, first), reservoir_row(c, s, i), d);
        if (cos < worst) {
            worst = cos;
            far = i;
        }
    }
    if (far < 0 || worst > 0.9999f)
        return -1;
    memcpy(ca, reservoir_row(c, s, first), (size_t)d * sizeof(float));
    memcpy(cb, reservoir_row(c, s, far), (size_t)d * sizeof(float));
    for (int it = 0; it < 10; it++) {
        int na = 0, nb = 0;
        for (int i = 0; i < n; i++) {
            const float *x = reservoir_row(c, s, i);
            member[i] = cl_dot(x, cb, d) > cl_dot(x, ca, d);
            member[i] ? nb++ : na++;
        }
        if (!na || !nb)
            return -1;
        memset(ca, 0, (size_t)d * sizeof(float));
        memset(cb, 0, (size_t)d * sizeof(float));
        for (int i = 0; i < n; i++)
            cl_axpy(member[i] ? cb : ca, 1.0f, reservoir_row(c, s, i), d);
        double la = cl_norm(ca, d), lb = cl_norm(cb, d);
        if (la <= 0 || lb <= 0)
            return -1;
        for (int i = 0; i < d; i++) {
            ca[i] = (float)(ca[i] / la);
            cb[i] = (float)(cb[i] / lb);
        }
    }
    return 0;
}

static int split_one(segstream_cluster *c, const segstream_cluster_sink *sink, int64_t t, uint8_t *tried)
{
    int s = -1;
    double best = -1;
    for (int i = 0; i < c->k; i++) {
        const cl_segment *g = &c->seg[i];
        if (g->id < 0 || tried[i] || g->reservoir_n < 2 || g->size <= 0)
            continue;
        double score = g->size * (1.0 - g->coherence);
        if (score > best) {
            best = score;
            s = i;
        }
    }
    if (s < 0)
        return 0;
    tried[s] = 1;
    int d = c->d, n = c->seg[s].reservoir_n, R = c->opt.reservoir_size;
    float *ca = malloc((size_t)d * sizeof(float)), *cb = malloc((size_t)d * sizeof(float));
    uint8_t *member = malloc((size_t)n);
    float *rows = malloc((size_t)n * d * sizeof(float));
    int rc = -1;
    if (!ca || !cb || !member || !rows)
        goto out;
    if (two_means(c, s, ca, cb, member)) {
        rc = 1; /* not separable: try the next candidate */
        goto out;
    }
    int na = 0;
    for (int i = 0; i < n; i++)
        na += !member[i];
    double share_a = (double)na / n, share_b = 1.0 - share_a;
    /* A child born under the retirement threshold retires at the next update,
     * which frees a slot, which splits again: ids would churn every pane. Such
     * a split is not made; the next candidate is tried. */
    double smaller = (share_a < share_b ? share_a : share_b) * c->seg[s].size;
    /* Likewise children closer than the merge threshold merge back at the
     * next update: split, merge, split, each with new ids. */
    if (smaller < retire_threshold(c) || cl_dot(ca, cb, d) > (float)c->opt.merge_cosine) {
        rc = 1;
        goto out;
    }
    memcpy(rows, reservoir_row(c, s, 0), (size_t)n * d * sizeof(float));
    int64_t parent_id = c->seg[s].id;

    c->version++;
    c->seg[s].updated_time = t;
    cl_emit_catalog(c, sink, s, SEGSTREAM_CATALOG_RETIRED, -1);

    int a = free_slot(c, s);
    cl_segment *ga = &c->seg[a], *gb = &c->seg[s];
    memset(ga, 0, sizeof *ga);
    ga->id = c->next_segment_id++;
    ga->parent = parent_id;
    ga->created_time = ga->updated_time = t;
    cl_panes_split_slot(c, s, a, share_a, ca);
    cl_labels_copy_scaled(c, a, s, share_a);
    /* child b reuses the parent's slot, in place */
    cl_panes_split_slot(c, s, s, share_b, cb);
    cl_labels_copy_scaled(c, s, s, share_b);
    gb->id = c->next_segment_id++;
    gb->parent = parent_id;
    gb->created_time = gb->updated_time = t;
    gb->reservoir_n = gb->reservoir_next = 0;
    (void)R;
    for (int i = 0; i < n; i++)
        cl_reservoir_add(c, member[i] ? s : a, rows + (size_t)i * d);
    c->n_active++;
    memcpy(c->centroid + (size_t)a * d, ca, (size_t)d * sizeof(float));
    memcpy(c->centroid + (size_t)s * d, cb, (size_t)d * sizeof(float));
    cl_panes_recompute(c, t);
    cl_emit_catalog(c, sink, a, SEGSTREAM_CATALOG_SPLIT, -1);
    cl_emit_catalog(c, sink, s, SEGSTREAM_CATALOG_SPLIT, -1);
    tried[a] = tried[s] = 1; /* one split per segment per update */
    rc = 1;
out:
    free(ca);
    free(cb);
    free(member);
    free(rows);
    return rc;
}

int cl_model_update(segstream_cluster *c, int64_t t, int64_t oldest, const segstream_cluster_sink *sink,
                    segstream_err *err)
{
    cl_panes_drop_before(c, oldest);
    cl_panes_recompute(c, t);
    c->version++;
    retire_small(c, sink, t);
    merge_duplicates(c, sink, t);
    uint8_t tried[4096] = {0};
    while (c->n_active < c->k) {
        int rc = split_one(c, sink, t, tried);
        if (rc < 0)
            return segstream_err_set(err, "cluster: out of memory splitting a segment");
        if (rc == 0)
            break;
    }
    cl_labels_recompute(c, t);
    for (int s = 0; s < c->k; s++)
        if (c->seg[s].id >= 0) {
            c->seg[s].updated_time = t;
            cl_emit_catalog(c, sink, s, SEGSTREAM_CATALOG_UPDATED, -1);
        }
    cl_sweep_start(c);
    return 0;
}
