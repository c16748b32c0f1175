/* sweep.c - re-assignment of every tracked user after a model update.
 *
 * A model update marks all users stale (seen_version < version) and sets
 * sweep_due = n. The sweep walks the dense user array cyclically from a
 * cursor, in bounded slices: each update call does `reassign_slice` users, so
 * no single event pays for the whole table; segstream_cluster_sweep(0, threads)
 * finishes it in bulk. A slice runs in three phases so threads never touch
 * shared state and the output order never depends on them:
 *   1. (parallel) decode stale users' profiles a block at a time, score the
 *      block against every centroid with one blocked kernel (the same bits
 *      as the per-event path), find each user's nearest segment;
 *   2. (serial, visit order) apply hysteresis, emit MODEL_UPDATED changes, or
 *      EXPIRED for users silent longer than the window;
 *   3. remove the expired users, highest index first (swap-remove stays valid).
 * A user whose event arrives first is assigned then and is no longer stale.
 *
 * Hysteresis at a model update guards against oscillation, not against drift:
 * the user's profile has not changed, only the centroids moved, so a move to
 * any segment that is nearer is what batch k-means on the current window would
 * do, and is made; only a move back to the segment the user last moved out of
 * (A -> B -> A, the signature of centroids jittering around the user) must win
 * by cluster.hysteresis. A flat margin kept users of a drifting stream in
 * segments that had moved away from them (drift scenario of eval-clustering:
 * SearchSnippets ARI 0.689 with it, 0.705 with this rule, 0.702 without any;
 * moves back to the segment just left 22, 106 and 354). On an event the
 * user's own profile changed and the flat margin applies (cl_choose). */
#include "cluster/internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void cl_sweep_start(segstream_cluster *c)
{
    c->sweep_due = c->users.n;
    if (c->sweep_cursor >= c->users.n)
        c->sweep_cursor = 0;
}

typedef struct job {
    segstream_cluster *c;
    const long *idx;   /* dense indices to evaluate */
    long n;
    int32_t *best;     /* out: nearest slot */
    float *best_sim;   /* out */
    float *cur_sim;    /* out: similarity to the current slot (if valid) */
} job;

/* Users per block: their profiles are decoded to fp32 once, then one blocked
 * kernel scores the whole block against all centroids (cl_dots_block gives
 * the same bits as the per-event cl_dots, whatever the block). */
#define SWEEP_BLOCK 48

/* cl_best_of over a list of the active slots in increasing order (made once
 * per sweep): the same choice (the first of the highest), without walking the
 * segment table for every user. */
static int best_active(const int *active, int n_active, const float *sims)
{
    if (n_active == 0)
        return -1;
    int best = active[0];
    float top = sims[best];
    for (int t = 1; t < n_active; t++) {
        int s = active[t];
        float v = sims[s];
        best = v > top ? s : best;
        top = v > top ? v : top;
    }
    return best;
}

static void *evaluate(void *arg)
{
    job *j = arg;
    segstream_cluster *c = j->c;
    int d = c->d, k = c->k;
    float *x = malloc(SWEEP_BLOCK * (size_t)d * sizeof(float)), *sims = malloc(SWEEP_BLOCK * (size_t)k * sizeof(float));
    int *active = malloc((size_t)k * sizeof *active), n_active = 0;
    if (!x || !sims || !active) {
        free(x), free(sims), free(active);
        return (void *)1;
    }
    for (int s = 0; s < k; s++)
        if (c->seg[s].id >= 0)
            active[n_active++] = s;
    for (long q0 = 0; q0 < j->n; q0 += SWEEP_BLOCK) {
        int nb = j->n - q0 < SWEEP_BLOCK ? (int)(j->n - q0) : SWEEP_BLOCK;
        for (int b = 0; b < nb; b++)
            cl_profile_decode(c->opt.profile_codec, c->users.profile + (size_t)j->idx[q0 + b] * c->profile_bytes, d,
                              x + (size_t)b * d);
        cl_dots_block(x, nb, c->centroid, k, d, sims);
        for (int b = 0; b < nb; b++) {
            long q = q0 + b, i = j->idx[q];
            const float *su = sims + (size_t)b * k;
            int best = best_active(active, n_active, su);
            j->best[q] = best;
            j->best_sim[q] = best >= 0 ? su[best] : NAN;
            int s = c->users.segment[i];
            j->cur_sim[q] = (s >= 0 && c->seg[s].id == c->users.segment_id[i]) ? su[s] : NAN;
        }
    }
    free(x), free(sims), free(active);
    return NULL;
}

static int descending(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

long segstream_cluster_sweep(segstream_cluster *c, long max_users, int n_threads,
                             const segstream_cluster_sink *sink, segstream_err *err)
{
    cl_users *u = &c->users;
    if (c->sweep_due <= 0 || u->n == 0) {
        c->sweep_due = 0;
        return 0;
    }
    long visits = (max_users <= 0 || max_users > u->n) ? u->n : max_users;
    if (max_users <= 0) /* until done: stale users may sit anywhere, one full turn finds them all */
        visits = u->n;
    long *idx = malloc((size_t)visits * sizeof *idx);
    int32_t *best = malloc((size_t)visits * sizeof *best);
    float *best_sim = malloc((size_t)visits * sizeof *best_sim), *cur_sim = malloc((size_t)visits * sizeof *cur_sim);
    uint8_t *expire = calloc((size_t)visits, 1);
    if (!idx || !best || !best_sim || !cur_sim || !expire) {
        free(idx), free(best), free(best_sim), free(cur_sim), free(expire);
        return segstream_err_set(err, "cluster sweep: out of memory");
    }
    int64_t horizon = cl_expiry_horizon(c); /* silent since before this: expired */
    long n = 0, start = c->sweep_cursor < u->n ? c->sweep_cursor : 0;
    for (long v = 0; v < visits; v++) {
        long i = (start + v) % u->n;
        if (u->seen_version[i] >= c->version)
            continue;
        if (u->last_time[i] < horizon)
            expire[n] = 1;
        idx[n++] = i;
    }
    if (n_threads < 1)
        n_threads = 1;
    if (n_threads > 64)
        n_threads = 64;
    if ((long)n_threads > n / 256 + 1)
        n_threads = (int)(n / 256 + 1);
    job jobs[64];
    pthread_t tid[64];
    int created[64] = {0}, nt = 0, failed = 0;
    long per = (n + n_threads - 1) / n_threads;
    for (int t = 0; t < n_threads && (long)t * per < n; t++, nt++) {
        long lo = t * per, hi = lo + per < n ? lo + per : n;
        jobs[t] = (job){c, idx + lo, hi - lo, best + lo, best_sim + lo, cur_sim + lo};
    }
    for (int t = 1; t < nt; t++) {
        created[t] = pthread_create(&tid[t], NULL, evaluate, &jobs[t]) == 0;
        if (!created[t]) /* no thread: do its share here */
            failed |= evaluate(&jobs[t]) != NULL;
    }
    if (nt > 0)
        failed |= evaluate(&jobs[0]) != NULL;
    for (int t = 1; t < nt; t++) {
        void *r = NULL;
        if (created[t] && pthread_join(tid[t], &r) == 0)
            failed |= r != NULL;
    }
    if (failed) {
        free(idx), free(best), free(best_sim), free(cur_sim), free(expire);
        return segstream_err_set(err, "cluster sweep: out of memory in a worker");
    }
    long n_expire = 0;
    for (long q = 0; q < n; q++) {
        long i = idx[q];
        u->seen_version[i] = c->version;
        c->sweep_due--;
        if (expire[q]) {
            cl_emit_change(c, sink, i, u->id[i], c->watermark, u->segment_id[i], -1, NAN, SEGSTREAM_CLUSTER_CAUSE_EXPIRED);
            n_expire++;
            continue;
        }
        int cur = isnan(cur_sim[q]) ? -1 : u->segment[i];
        int choice = best[q];
        float sim = best_sim[q];
        float margin = c->seg[choice].id == u->left_segment_id[i] ? (float)c->opt.hysteresis : 0.0f;
        if (cur >= 0 && cur != choice && !(best_sim[q] > cur_sim[q] + margin)) {
            choice = cur;
            sim = cur_sim[q];
        }
        int64_t prev = u->segment_id[i], next = c->seg[choice].id;
        u->segment[i] = choice;
        u->segment_id[i] = next;
        u->similarity[i] = sim;
        if (prev != next) {
            if (prev >= 0)
                u->left_segment_id[i] = prev;
            cl_emit_change(c, sink, i, u->id[i], c->watermark, prev, next, sim, SEGSTREAM_CLUSTER_CAUSE_MODEL_UPDATED);
        }
    }
    c->sweep_cursor = (start + visits) % u->n;
    if (n_expire) {
        /* idx is in cyclic order; remove by descending index */
        long *gone = malloc((size_t)n_expire * sizeof *gone), g = 0;
        if (!gone) {
            free(idx), free(best), free(best_sim), free(cur_sim), free(expire);
            return segstream_err_set(err, "cluster sweep: out of memory");
        }
        for (long q = 0; q < n; q++)
            if (expire[q])
                gone[g++] = idx[q];
        qsort(gone, (size_t)g, sizeof *gone, descending);
        for (long q = 0; q < g; q++)
            cl_users_remove(u, gone[q], c->profile_bytes);
        free(gone);
        if (c->sweep_cursor >= u->n)
            c->sweep_cursor = 0;
    }
    free(idx), free(best), free(best_sim), free(cur_sim), free(expire);
    if (c->sweep_due < 0)
        c->sweep_due = 0;
    return c->sweep_due;
}
