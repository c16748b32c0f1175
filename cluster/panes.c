/* panes.c - event time cut into panes of S ms; the window is the last W/S panes.
 *
 * Pane i covers [i*S, (i+1)*S). A ring of n_ring slots holds the panes from the
 * oldest one still in the window up to the pane of the max event time (the
 * watermark lags that by the allowed lateness, hence n_ring = W/S + lateness/S
 * + 1). Each pane keeps, per segment slot, the sum of member vectors and their
 * count. When the watermark moves on, a pane that left the window is dropped
 * whole: its slot is cleared and reused. Nothing is ever subtracted, so no
 * floating-point residue builds up however long the stream runs.
 *
 * Decay: at time t a pane ending at p weighs 0.5^((t-p)/H), at most 1 (a pane
 * still open is not inflated). A segment's centroid is its normalised decayed
 * sum over the window's panes and its size the decayed count. */
#include "cluster/internal.h"

#include <math.h>
#include <string.h>

int64_t cl_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t cl_pane_of(const segstream_cluster *c, int64_t t) { return cl_floor_div(t, c->opt.pane_ms); }

int64_t cl_oldest_pane(const segstream_cluster *c)
{
    if (c->watermark == INT64_MIN)
        return INT64_MIN;
    return cl_pane_of(c, c->watermark) - c->n_window_panes + 1;
}

static float *pane_sum(segstream_cluster *c, int r, int s)
{
    return c->pane_sum + ((size_t)r * c->k + s) * c->d;
}

/* The ring slot of pane i, cleared first when it held another pane (dropped lazily) or nothing. */
static int pane_slot(segstream_cluster *c, int64_t i)
{
    int r = (int)(((i % c->n_ring) + c->n_ring) % c->n_ring);
    if (c->pane_index[r] != i) {
        memset(pane_sum(c, r, 0), 0, (size_t)c->k * c->d * sizeof(float));
        memset(c->pane_count + (size_t)r * c->k, 0, (size_t)c->k * sizeof(double));
        c->pane_index[r] = i;
    }
    return r;
}

int cl_pane_add(segstream_cluster *c, int64_t t, int s, const float *x)
{
    int64_t i = cl_pane_of(c, t);
    if (i < cl_oldest_pane(c))
        return 1;
    int r = pane_slot(c, i);
    cl_axpy(pane_sum(c, r, s), 1.0f, x, c->d);
    c->pane_count[(size_t)r * c->k + s] += 1.0;
    return 0;
}

int cl_pane_add_sum(segstream_cluster *c, int64_t i, int64_t oldest, int s, const float *sum, double n)
{
    if (i < oldest)
        return 1;
    int r = pane_slot(c, i);
    cl_axpy(pane_sum(c, r, s), 1.0f, sum, c->d);
    c->pane_count[(size_t)r * c->k + s] += n;
    return 0;
}

void cl_panes_drop_before(segstream_cluster *c, int64_t oldest)
{
    for (int r = 0; r < c->n_ring; r++)
        if (c->pane_index[r] != INT64_MIN && c->pane_index[r] < oldest) {
            c->pane_index[r] = INT64_MIN;
            memset(pane_sum(c, r, 0), 0, (size_t)c->k * c->d * sizeof(float));
            memset(c->pane_count + (size_t)r * c->k, 0, (size_t)c->k * sizeof(double));
        }
}

static double pane_weight(const segstream_cluster *c, int64_t index, int64_t t)
{
    int64_t end = (index + 1) * c->opt.pane_ms;
    if (end >= t)
        return 1.0;
    return pow(0.5, (double)(t - end) / (double)c->opt.half_life_ms);
}

void cl_panes_recompute(segstream_cluster *c, int64_t t)
{
    int d = c->d;
    for (int s = 0; s < c->k; s++) {
        if (c->seg[s].id < 0)
            continue;
        float *acc = c->acc + (size_t)s * d;
        memset(acc, 0, (size_t)d * sizeof(float));
        c->seg[s].size = 0;
        c->seg[s].live_count = 0;
    }
    /* visit panes oldest first: a fixed order, whatever ring slot they sit in */
    int64_t lo = INT64_MAX;
    for (int r = 0; r < c->n_ring; r++)
        if (c->pane_index[r] != INT64_MIN && c->pane_index[r] < lo)
            lo = c->pane_index[r];
    if (lo != INT64_MAX) {
        for (int64_t i = lo; i < lo + c->n_ring; i++) {
            int r = (int)(((i % c->n_ring) + c->n_ring) % c->n_ring);
            if (c->pane_index[r] != i)
                continue;
            double w = pane_weight(c, i, t);
            for (int s = 0; s < c->k; s++) {
                double n = c->pane_count[(size_t)r * c->k + s];
                if (c->seg[s].id < 0 || n == 0)
                    continue;
                cl_axpy(c->acc + (size_t)s * d, (float)w, pane_sum(c, r, s), d);
                c->seg[s].size += w * n;
            }
        }
    }
    for (int s = 0; s < c->k; s++) {
        if (c->seg[s].id < 0)
            continue;
        double norm = cl_norm(c->acc + (size_t)s * d, d);
        c->seg[s].coherence = c->seg[s].size > 0 ? fmin(1.0, norm / c->seg[s].size) : 1.0;
        cl_segment_refresh_centroid(c, s);
    }
}

void cl_panes_clear_slot(segstream_cluster *c, int s)
{
    for (int r = 0; r < c->n_ring; r++) {
        memset(pane_sum(c, r, s), 0, (size_t)c->d * sizeof(float));
        c->pane_count[(size_t)r * c->k + s] = 0;
    }
}

void cl_panes_merge_slot(segstream_cluster *c, int into, int from)
{
    for (int r = 0; r < c->n_ring; r++) {
        cl_axpy(pane_sum(c, r, into), 1.0f, pane_sum(c, r, from), c->d);
        c->pane_count[(size_t)r * c->k + into] += c->pane_count[(size_t)r * c->k + from];
    }
    cl_panes_clear_slot(c, from);
}

void cl_panes_split_slot(segstream_cluster *c, int from, int to, double share, const float *dir)
{
    for (int r = 0; r < c->n_ring; r++) {
        float *dst = pane_sum(c, r, to);
        double len = cl_norm(pane_sum(c, r, from), c->d);
        for (int i = 0; i < c->d; i++)
            dst[i] = (float)(share * len) * dir[i];
        c->pane_count[(size_t)r * c->k + to] = share * c->pane_count[(size_t)r * c->k + from];
    }
}
