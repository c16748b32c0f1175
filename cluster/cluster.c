/* cluster.c - the model's life and its per-event path.
 *
 * An event is checked (user, op, vector, time) and either refused with a
 * reason or applied. Before the model exists, events are buffered; at
 * init_sample events the bootstrap runs k-means++ on them, emits the BORN
 * catalog, and replays the buffer through the normal path (their change
 * records come now, in arrival order, cause INTEREST_CHANGED, previous -1).
 *
 * Per event, once the model exists: move time (a new watermark pane triggers
 * the model update of segments.c), update the user's profile (SET replaces,
 * ADD mixes with the same decay as the panes), assign with hysteresis, then
 * feed the model: the profile is added, count 1, to the pane of the event time
 * for its nearest segment (pure k-means, no hysteresis), and to that segment's
 * live accumulator so the centroid follows the stream between pane closes
 * (sequential spherical k-means); at each pane close the accumulators are
 * recomputed exactly from the panes. Finally a slice of the pending
 * re-assignment sweep runs (sweep.c). */
#include "cluster/internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIME_LIMIT (INT64_C(1) << 62) /* keeps time arithmetic far from overflow */

const char *segstream_cluster_reject_name(segstream_cluster_reject_reason r)
{
    static const char *const names[] = {"NONE", "BAD_USER", "BAD_OP", "BAD_VECTOR",
                                        "ZERO_VECTOR", "TOO_LATE", "TOO_FAR_FUTURE"};
    return (unsigned)r < sizeof names / sizeof *names ? names[r] : "UNKNOWN";
}

const char *segstream_change_cause_name(segstream_change_cause cause)
{
    static const char *const names[] = {"INTEREST_CHANGED", "MODEL_UPDATED", "EXPIRED", "DELETED"};
    return (unsigned)cause < sizeof names / sizeof *names ? names[cause] : "UNKNOWN";
}

segstream_cluster *segstream_cluster_create(const segstream_cluster_options *opt, segstream_err *err)
{
    if (segstream_cluster_options_validate(opt, err))
        return NULL;
    cl_codec_init();
    segstream_cluster *c = calloc(1, sizeof *c);
    if (!c) {
        segstream_err_set(err, "cluster: out of memory");
        return NULL;
    }
    c->opt = *opt;
    c->d = opt->dim;
    c->k = opt->k;
    c->profile_bytes = cl_profile_bytes(opt->profile_codec, opt->dim);
    c->max_time = c->watermark = INT64_MIN;
    c->model_pane = INT64_MIN;
    c->n_window_panes = (int)(opt->window_ms / opt->pane_ms);
    c->n_ring = c->n_window_panes + (int)((opt->allowed_lateness_ms + opt->pane_ms - 1) / opt->pane_ms) + 1;
    c->next_segment_id = 1;
    size_t kd = (size_t)c->k * c->d;
    c->pane_index = malloc((size_t)c->n_ring * sizeof *c->pane_index);
    c->pane_sum = calloc((size_t)c->n_ring * kd, sizeof(float));
    c->pane_count = calloc((size_t)c->n_ring * c->k, sizeof(double));
    c->seg = calloc((size_t)c->k, sizeof *c->seg);
    c->acc = calloc(kd, sizeof(float));
    c->centroid = calloc(kd, sizeof(float));
    c->reservoir = calloc(kd * opt->reservoir_size, sizeof(float));
    c->terms = calloc((size_t)c->k * opt->label_table_size, sizeof(cl_term));
    c->scratch_x = calloc((size_t)c->d, sizeof(float));
    c->scratch_unit = calloc((size_t)c->d, sizeof(float));
    c->scratch_sims = calloc((size_t)c->k, sizeof(float));
    if (!c->pane_index || !c->pane_sum || !c->pane_count || !c->seg || !c->acc || !c->centroid ||
        !c->reservoir || !c->terms || !c->scratch_x || !c->scratch_unit || !c->scratch_sims ||
        cl_users_init(&c->users, opt->user_capacity, c->profile_bytes)) {
        segstream_err_set(err, "cluster: out of memory (k = %d, dim = %d, %d panes)", c->k, c->d, c->n_ring);
        segstream_cluster_free(c); /* after the message: it reads c */
        return NULL;
    }
    c->barrier_wanted = INT64_MIN;
    if (opt->shared_model && !(c->sample = cl_delta_new(c->d, c->k, opt->reservoir_size, opt->profile_codec))) {
        segstream_err_set(err, "cluster: out of memory (shared model deltas, k = %d, dim = %d)", c->k, c->d);
        segstream_cluster_free(c);
        return NULL;
    }
    for (int r = 0; r < c->n_ring; r++)
        c->pane_index[r] = INT64_MIN;
    for (int s = 0; s < c->k; s++)
        c->seg[s].id = -1;
    cl_rng_seed(&c->rng, opt->seed);
    return c;
}

void cl_free_boot(segstream_cluster *c)
{
    for (long i = 0; i < c->n_boot; i++) {
        cl_boot_event *b = &c->boot[i];
        free(b->user_id);
        free(b->vector);
        for (size_t w = 0; w < b->n_words; w++)
            free(b->words[w]);
        free(b->words);
    }
    free(c->boot);
    c->boot = NULL;
    c->n_boot = c->cap_boot = 0;
}

void segstream_cluster_free(segstream_cluster *c)
{
    if (!c)
        return;
    cl_free_boot(c);
    cl_users_free(&c->users);
    free(c->pane_index);
    free(c->pane_sum);
    free(c->pane_count);
    free(c->seg);
    free(c->acc);
    free(c->centroid);
    free(c->reservoir);
    free(c->terms);
    free(c->scratch_x);
    free(c->scratch_unit);
    free(c->scratch_sims);
    for (int j = 0; j < c->n_pending; j++)
        cl_delta_free(c->pending[j]);
    free(c->pending);
    free(c->pending_shard);
    cl_delta_free(c->sample);
    free(c);
}

static int refuse(segstream_cluster_reject *rj, segstream_cluster_reject_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(segstream_cluster_reject *rj, segstream_cluster_reject_reason reason, const char *fmt, ...)
{
    if (rj) {
        rj->reason = reason;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rj->message, sizeof rj->message, fmt, ap);
        va_end(ap);
    }
    return 1;
}

/* Checks an event; on success writes the normalised vector into unit. */
static int check_event(segstream_cluster *c, const segstream_cluster_event *ev, float *unit,
                       segstream_cluster_reject *rj)
{
    if (!ev->user_id || !ev->user_id[0])
        return refuse(rj, SEGSTREAM_REJECT_BAD_USER, "missing or empty user id");
    if (strlen(ev->user_id) > SEGSTREAM_USER_ID_MAX)
        return refuse(rj, SEGSTREAM_REJECT_BAD_USER, "user id longer than %d bytes", SEGSTREAM_USER_ID_MAX);
    if (ev->op != SEGSTREAM_CLUSTER_OP_SET && ev->op != SEGSTREAM_CLUSTER_OP_ADD && ev->op != SEGSTREAM_CLUSTER_OP_DELETE)
        return refuse(rj, SEGSTREAM_REJECT_BAD_OP, "unknown op %d (SET 0, ADD 1, DELETE 2)", ev->op);
    int64_t t = ev->event_time;
    if (t > TIME_LIMIT || (c->opt.max_future_skew_ms > 0 && c->max_time != INT64_MIN &&
                             t - c->opt.max_future_skew_ms > c->max_time))
        return refuse(rj, SEGSTREAM_REJECT_TOO_FAR_FUTURE,
                      "event time %" PRId64 " is more than %" PRId64 " ms after the max event time %" PRId64, t,
                      c->opt.max_future_skew_ms, c->max_time);
    /* a shared model's window is the barrier's, the same for every sharer whatever its own watermark */
    int64_t oldest = c->opt.shared_model ? (c->model_pane == INT64_MIN ? INT64_MIN : c->model_pane - c->n_window_panes + 1)
                                : cl_oldest_pane(c);
    if (t < -TIME_LIMIT || (oldest != INT64_MIN && cl_pane_of(c, t) < oldest))
        return refuse(rj, SEGSTREAM_REJECT_TOO_LATE,
                      "event time %" PRId64 " is before the window (watermark %" PRId64 ", window %" PRId64 " ms)",
                      t, c->watermark, c->opt.window_ms);
    if (ev->op == SEGSTREAM_CLUSTER_OP_DELETE)
        return 0;
    if (!ev->vector)
        return refuse(rj, SEGSTREAM_REJECT_BAD_VECTOR, "%s event without a vector",
                      ev->op == SEGSTREAM_CLUSTER_OP_SET ? "SET" : "ADD");
    /* a NaN or an infinity anywhere makes the sum of squares non-finite */
    float sq = cl_dot(ev->vector, ev->vector, c->d);
    if (!isfinite(sq))
        for (int i = 0; i < c->d; i++) {
            float v = ev->vector[i];
            if (!isfinite(v))
                return refuse(rj, SEGSTREAM_REJECT_BAD_VECTOR, "vector component %d is %s", i,
                              isnan(v) ? "NaN" : "infinite");
        }
    double norm = isfinite(sq) ? (double)sq : 0;
    if (!isfinite(sq)) { /* finite but huge components: sum in double */
        for (int i = 0; i < c->d; i++)
            norm += (double)ev->vector[i] * ev->vector[i];
    }
    norm = sqrt(norm);
    if (!(norm > 1e-12))
        return refuse(rj, SEGSTREAM_REJECT_ZERO_VECTOR, "zero vector: it has no direction");
    float inv = (float)(1.0 / norm);
    for (int i = 0; i < c->d; i++)
        unit[i] = ev->vector[i] * inv;
    return 0;
}

void cl_emit_change(segstream_cluster *c, const segstream_cluster_sink *sink, long user, const char *user_id,
                    int64_t time, int64_t prev, int64_t next, float sim, segstream_change_cause cause)
{
    (void)user;
    /* none to none tells nothing: a user a shared model has not placed yet, deleted or expired */
    if (!sink || !sink->segment_change || (prev < 0 && next < 0))
        return;
    segstream_cluster_change ch = {
        .user_id = user_id,
        .event_time = time,
        .previous_segment = prev,
        .segment = next,
        .similarity = next < 0 ? NAN : sim,
        .cause = cause,
        .model_version = c->version,
    };
    sink->segment_change(sink->ctx, &ch);
}

int cl_nearest(segstream_cluster *c, const float *x, float *sims)
{
    cl_dots(x, c->centroid, c->k, c->d, sims); /* free slots too: cheaper than skipping */
    return cl_best_of(c, sims);
}

int cl_best_of(const segstream_cluster *c, float *sims)
{
    int best = -1;
    for (int s = 0; s < c->k; s++) {
        if (c->seg[s].id < 0) {
            sims[s] = -2;
            continue;
        }
        if (best < 0 || sims[s] > sims[best])
            best = s;
    }
    return best;
}

int cl_choose(const segstream_cluster *c, int current, const float *sims, int best)
{
    if (current < 0 || current == best)
        return best;
    return sims[best] > sims[current] + (float)c->opt.hysteresis ? best : current;
}

/* The user's segment slot if it still holds the segment the user was put in, else -1. */
static int current_slot(const segstream_cluster *c, long i)
{
    int s = c->users.segment[i];
    return (s >= 0 && c->seg[s].id == c->users.segment_id[i]) ? s : -1;
}

int cl_apply_event(segstream_cluster *c, const segstream_cluster_event *ev, const float *unit,
                   const segstream_cluster_sink *sink, int update_centroids, segstream_err *err)
{
    cl_users *u = &c->users;
    size_t pb = c->profile_bytes;
    int64_t t = ev->event_time;
    uint64_t h = cl_hash_id(ev->user_id);
    long i = cl_users_find(u, ev->user_id, h);
    if (ev->op == SEGSTREAM_CLUSTER_OP_DELETE) {
        if (i >= 0) {
            cl_emit_change(c, sink, i, u->id[i], t, u->segment_id[i], -1, NAN, SEGSTREAM_CLUSTER_CAUSE_DELETED);
            if (u->seen_version[i] < c->version)
                c->sweep_due--;
            cl_users_remove(u, i, pb);
            if (c->sweep_cursor >= u->n)
                c->sweep_cursor = 0;
        }
        return 0;
    }
    if (i >= 0 && c->opt.shared_model && u->last_time[i] < cl_expiry_horizon(c)) {
        /* expired, whether or not this instance's sweep got to it yet (sweep.c does the same) */
        cl_emit_change(c, sink, i, u->id[i], c->watermark, u->segment_id[i], -1, NAN, SEGSTREAM_CLUSTER_CAUSE_EXPIRED);
        if (u->seen_version[i] < c->version)
            c->sweep_due--;
        cl_users_remove(u, i, pb);
        if (c->sweep_cursor >= u->n)
            c->sweep_cursor = 0;
        i = -1;
    }
    float *p = c->scratch_x;
    if (i < 0) {
        if (cl_evict_for_new_user(c, sink, t, err))
            return -1;
        i = cl_users_insert(u, ev->user_id, h, pb);
        if (i < 0)
            return segstream_err_set(err, "cluster: out of memory adding user %ld", u->n + 1);
        u->segment[i] = -1;
        u->segment_id[i] = -1;
        u->similarity[i] = 0;
        u->weight[i] = 1;
        u->last_time[i] = t;
        u->seen_version[i] = c->version;
        memcpy(p, unit, (size_t)c->d * sizeof(float));
    } else {
        if (u->seen_version[i] < c->version) {
            c->sweep_due--;
            u->seen_version[i] = c->version;
        }
        if (ev->op == SEGSTREAM_CLUSTER_OP_SET) {
            memcpy(p, unit, (size_t)c->d * sizeof(float));
            u->weight[i] = 1;
        } else {
            cl_profile_decode(c->opt.profile_codec, u->profile + (size_t)i * pb, c->d, p);
            double dt = (double)(t - u->last_time[i]), H = (double)c->opt.half_life_ms;
            double old_w = u->weight[i], new_w = 1.0;
            if (dt >= 0)
                old_w *= pow(0.5, dt / H);
            else
                new_w = pow(0.5, -dt / H); /* a late signal weighs what it would have */
            for (int q = 0; q < c->d; q++)
                p[q] = (float)(old_w * p[q] + new_w * unit[q]);
            double len = cl_norm(p, c->d);
            if (len > 0)
                for (int q = 0; q < c->d; q++)
                    p[q] = (float)(p[q] / len);
            else
                memcpy(p, unit, (size_t)c->d * sizeof(float));
            u->weight[i] = (float)(old_w + new_w);
        }
        if (t > u->last_time[i])
            u->last_time[i] = t;
    }
    u->shard[i] = ev->shard;
    /* store, then assign from what is stored: the sweep sees the same vector */
    cl_profile_encode(c->opt.profile_codec, p, c->d, u->profile + (size_t)i * pb);
    cl_profile_decode(c->opt.profile_codec, u->profile + (size_t)i * pb, c->d, p);
    if (c->opt.shared_model && c->version == 0) {
        /* a shared model before its bootstrap: the profile is kept, and the event's vector
         * joins the sample; the user's segment comes with the model, by its sweep */
        cl_delta *x = cl_pending_of(c, ev->shard);
        if (!x || cl_delta_add_sample(x, t, h, unit))
            return segstream_err_set(err, "cluster: out of memory keeping a bootstrap sample row");
        return 0;
    }
    float *sims = c->scratch_sims;
    int best = cl_nearest(c, p, sims);
    int cur = current_slot(c, i);
    int choice = cl_choose(c, cur, sims, best);
    int64_t prev_id = u->segment_id[i];
    u->segment[i] = choice;
    u->segment_id[i] = c->seg[choice].id;
    u->similarity[i] = sims[choice];
    if (prev_id != c->seg[choice].id) {
        if (prev_id >= 0)
            u->left_segment_id[i] = prev_id;
        cl_emit_change(c, sink, i, u->id[i], t, prev_id, c->seg[choice].id, sims[choice],
                       SEGSTREAM_CLUSTER_CAUSE_INTEREST_CHANGED);
    }
    /* feed the model */
    if (c->opt.shared_model) { /* it learns at the next barrier */
        cl_delta *x = cl_pending_of(c, ev->shard);
        if (!x || cl_delta_add_event(x, cl_pane_of(c, t), best, p, u->profile + (size_t)i * pb, t, h, ev->words, ev->words ? ev->n_words : 0))
            return segstream_err_set(err, "cluster: out of memory keeping a shared-model contribution");
        return 0;
    }
    if (cl_pane_add(c, t, best, p) == 0 && update_centroids) {
        cl_axpy(c->acc + (size_t)best * c->d, 1.0f, p, c->d);
        c->seg[best].live_count += 1;
        cl_segment_refresh_centroid(c, best);
    }
    cl_reservoir_add(c, best, p);
    if (ev->words && ev->n_words)
        cl_labels_add(c, best, ev->words, ev->n_words, t);
    return 0;
}

static int buffer_event(segstream_cluster *c, const segstream_cluster_event *ev, const float *unit)
{
    if (c->n_boot == c->cap_boot) {
        long cap = c->cap_boot ? 2 * c->cap_boot : 64;
        cl_boot_event *b = realloc(c->boot, (size_t)cap * sizeof *b);
        if (!b)
            return -1;
        c->boot = b;
        c->cap_boot = cap;
    }
    cl_boot_event *b = &c->boot[c->n_boot];
    memset(b, 0, sizeof *b);
    b->op = ev->op;
    b->event_time = ev->event_time;
    b->shard = ev->shard;
    b->user_id = strdup(ev->user_id);
    int bad = !b->user_id;
    if (ev->op != SEGSTREAM_CLUSTER_OP_DELETE) {
        b->vector = malloc((size_t)c->d * sizeof(float));
        bad |= !b->vector;
        if (b->vector)
            memcpy(b->vector, unit, (size_t)c->d * sizeof(float));
        if (ev->words && ev->n_words) {
            b->words = calloc(ev->n_words, sizeof(char *));
            bad |= !b->words;
            for (size_t w = 0; b->words && w < ev->n_words; w++) {
                b->words[w] = strdup(ev->words[w] ? ev->words[w] : "");
                bad |= !b->words[w];
                b->n_words = w + 1;
            }
        }
    }
    c->n_boot++; /* counted even when partial, so cl_free_boot releases it */
    return bad ? -1 : 0;
}

int segstream_cluster_bootstrap_now(segstream_cluster *c, const segstream_cluster_sink *sink, segstream_err *err)
{
    if (c->version > 0)
        return 0;
    if (c->opt.shared_model)
        return segstream_err_set(err, "cluster bootstrap: a shared model bootstraps at a barrier "
                                      "(segstream_cluster_barrier with final = 1)");
    long m = 0;
    for (long i = 0; i < c->n_boot; i++)
        m += c->boot[i].vector != NULL;
    if (m < c->k)
        return segstream_err_set(err, "cluster bootstrap: %ld vectors buffered, k = %d needs at least k", m, c->k);
    float *X = malloc((size_t)m * c->d * sizeof(float)), *cen = malloc((size_t)c->k * c->d * sizeof(float));
    if (!X || !cen) {
        free(X), free(cen);
        return segstream_err_set(err, "cluster bootstrap: out of memory");
    }
    for (long i = 0, r = 0; i < c->n_boot; i++)
        if (c->boot[i].vector)
            memcpy(X + (size_t)r++ * c->d, c->boot[i].vector, (size_t)c->d * sizeof(float));
    int rc = cl_kmeans(X, m, c->d, c->k, c->opt.kmeans_iterations, c->opt.kmeans_restarts, &c->rng, cen, err);
    free(X);
    if (rc) {
        free(cen);
        return segstream_err_prefix(err, "cluster bootstrap");
    }
    c->version = 1;
    c->model_pane = cl_pane_of(c, c->watermark);
    for (int j = 0; j < c->k; j++) {
        int s = cl_segment_new(c, -1, c->watermark);
        memcpy(c->centroid + (size_t)s * c->d, cen + (size_t)j * c->d, (size_t)c->d * sizeof(float));
        cl_emit_catalog(c, sink, s, SEGSTREAM_CATALOG_BORN, -1);
    }
    free(cen);
    for (long i = 0; i < c->n_boot; i++) {
        cl_boot_event *b = &c->boot[i];
        segstream_cluster_event ev = {b->user_id, b->op, b->vector, (const char *const *)b->words, b->n_words,
                                      b->event_time, b->shard};
        if (cl_apply_event(c, &ev, b->vector, sink, 0, err))
            return segstream_err_prefix(err, "cluster bootstrap replay");
    }
    cl_free_boot(c);
    cl_panes_recompute(c, c->watermark);
    cl_labels_recompute(c, c->watermark);
    for (int s = 0; s < c->k; s++)
        if (c->seg[s].id >= 0)
            cl_emit_catalog(c, sink, s, SEGSTREAM_CATALOG_UPDATED, -1);
    return 0;
}

int segstream_cluster_update(segstream_cluster *c, const segstream_cluster_event *ev,
                             const segstream_cluster_sink *sink, segstream_cluster_reject *reject,
                             segstream_err *err)
{
    if (reject) {
        reject->reason = SEGSTREAM_REJECT_NONE;
        reject->message[0] = '\0';
    }
    if (!ev)
        return refuse(reject, SEGSTREAM_REJECT_BAD_USER, "no event");
    float *copy = c->scratch_unit;
    int rc = check_event(c, ev, copy, reject);
    if (rc)
        return rc;
    if (c->opt.shared_model) {
        int64_t top = ev->event_time > c->max_time ? ev->event_time : c->max_time;
        int64_t wanted = cl_pane_of(c, top - c->opt.allowed_lateness_ms);
        /* before the model: a shard whose sample is full asks for the bootstrap now, not at
         * the pane's end (a shard, not this instance: the same event whatever the instances) */
        int bootstrap_due = 0;
        for (int j = 0; c->version == 0 && j < c->n_pending && !bootstrap_due; j++)
            bootstrap_due = c->pending[j]->n_sample >= c->opt.init_sample;
        if (c->at_barrier || c->model_pane == INT64_MIN || wanted > c->model_pane || bootstrap_due) {
            c->barrier_wanted = wanted > c->model_pane ? wanted : c->model_pane;
            return SEGSTREAM_CLUSTER_AT_BARRIER;
        }
    }
    if (ev->event_time > c->max_time || c->max_time == INT64_MIN) {
        c->max_time = ev->event_time;
        c->watermark = c->max_time - c->opt.allowed_lateness_ms;
    }
    if (c->version == 0 && !c->opt.shared_model) {
        if (buffer_event(c, ev, copy))
            return segstream_err_set(err, "cluster: out of memory buffering the bootstrap sample");
        if (c->n_boot >= c->opt.init_sample) {
            segstream_err tmp;
            if (segstream_cluster_bootstrap_now(c, sink, &tmp) && c->n_boot > 4L * c->opt.init_sample + c->k)
                return segstream_err_set(err, "%s", tmp.message);
        }
        return 0;
    }
    if (!c->opt.shared_model && cl_pane_of(c, c->watermark) > c->model_pane) {
        c->model_pane = cl_pane_of(c, c->watermark);
        if (cl_model_update(c, c->watermark, cl_oldest_pane(c), sink, err))
            return -1;
    }
    if (cl_apply_event(c, ev, copy, sink, 1, err))
        return -1;
    if (c->opt.reassign_slice > 0 && c->sweep_due > 0 &&
        segstream_cluster_sweep(c, c->opt.reassign_slice, 1, sink, err) < 0)
        return -1;
    return 0;
}

void segstream_cluster_get_stats(const segstream_cluster *c, segstream_cluster_stats *st)
{
    memset(st, 0, sizeof *st);
    st->model_version = c->version;
    st->watermark = c->watermark;
    st->max_event_time = c->max_time;
    st->active_segments = c->n_active;
    st->segments_created = c->next_segment_id - 1;
    st->users = c->users.n;
    st->sweep_due = c->sweep_due;
    st->bootstrap_buffered = c->n_boot;
    st->barrier_pane = c->opt.shared_model ? c->model_pane : INT64_MIN;
    size_t kd = (size_t)c->k * c->d;
    st->memory_bytes = sizeof *c + (size_t)c->n_ring * (sizeof(int64_t) + kd * sizeof(float) + c->k * sizeof(double)) +
                       (size_t)c->k * sizeof(cl_segment) + 2 * kd * sizeof(float) +
                       kd * c->opt.reservoir_size * sizeof(float) +
                       (size_t)c->k * c->opt.label_table_size * sizeof(cl_term) +
                       cl_users_memory(&c->users, c->profile_bytes) +
                       (size_t)c->cap_boot * sizeof(cl_boot_event) + (size_t)c->n_boot * c->d * sizeof(float) +
                       cl_delta_memory(c->sample) + (size_t)c->cap_pending * (sizeof(void *) + 4);
    for (int j = 0; j < c->n_pending; j++)
        st->memory_bytes += cl_delta_memory(c->pending[j]);
}

int segstream_cluster_dim(const segstream_cluster *c)
{
    return c->d;
}

int segstream_cluster_is_shared(const segstream_cluster *c) { return c->opt.shared_model; }

int64_t segstream_cluster_user_segment(const segstream_cluster *c, const char *user_id, float *similarity)
{
    long i = cl_users_find(&c->users, user_id, cl_hash_id(user_id));
    if (i < 0)
        return -1;
    if (similarity)
        *similarity = c->users.similarity[i];
    return c->users.segment_id[i];
}

void segstream_cluster_for_each_segment(const segstream_cluster *c, const segstream_cluster_sink *sink)
{
    for (int s = 0; s < c->k; s++)
        if (c->seg[s].id >= 0)
            cl_emit_catalog((segstream_cluster *)c, sink, s, SEGSTREAM_CATALOG_UPDATED, -1);
}
