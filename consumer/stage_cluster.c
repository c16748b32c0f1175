/* stage_cluster.c - maps stage settings and cluster outputs between cluster/
 * and the pipeline (see stage_cluster.h for why this file exists). The
 * opaque segstream_stage_cluster is the segstream_cluster itself; the sink is
 * adapted with a small trampoline on the stack of each call. */
#include "consumer/stage_cluster.h"

#include "cluster/cluster.h"
#include "model/encoder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

segstream_stage_settings segstream_stage_default_settings(void)
{
    segstream_cluster_options co = segstream_cluster_default_options();
    segstream_encoder_options eo = segstream_encoder_default_options();
    segstream_stage_settings s = {
        .model_dir = NULL,
        .encoder_threads = eo.threads,
        .encoder_batch_tokens = eo.max_batch_tokens,
        .encoder_cache_entries = eo.cache_entries,
        .encoder_deterministic = 1,
        .encoder_precision = 0,
        .k = co.k,
        .window_ms = co.window_ms,
        .pane_ms = co.pane_ms,
        .half_life_ms = co.half_life_ms,
        .allowed_lateness_ms = co.allowed_lateness_ms,
        .max_future_skew_ms = co.max_future_skew_ms,
        .init_sample = co.init_sample,
        .seed = co.seed,
        .hysteresis = co.hysteresis,
        .reassign_slice = co.reassign_slice,
        .label_terms = co.label_terms,
        .retire_share = co.retire_share,
        .merge_cosine = co.merge_cosine,
        .profile_int8 = co.profile_codec == SEGSTREAM_PROFILE_INT8,
        .max_users = co.max_users,
        .shared_model = co.shared_model,
        .max_text_bytes = 64 * 1024,
        .max_label_words = 256,
    };
    return s;
}

static segstream_cluster *cl(segstream_stage_cluster *c)
{
    return (segstream_cluster *)c;
}

static const segstream_cluster *ccl(const segstream_stage_cluster *c)
{
    return (const segstream_cluster *)c;
}

int segstream_stage_cluster_options(const segstream_stage_settings *s, int dim, struct segstream_cluster_options *out,
                                    segstream_err *err)
{
    segstream_cluster_options o = segstream_cluster_default_options();
    o.dim = dim;
    o.k = s->k;
    o.window_ms = s->window_ms;
    o.pane_ms = s->pane_ms;
    o.half_life_ms = s->half_life_ms;
    o.allowed_lateness_ms = s->allowed_lateness_ms;
    o.max_future_skew_ms = s->max_future_skew_ms;
    o.init_sample = s->init_sample;
    o.seed = s->seed;
    o.hysteresis = s->hysteresis;
    o.reassign_slice = s->reassign_slice;
    o.label_terms = s->label_terms;
    o.retire_share = s->retire_share;
    o.merge_cosine = s->merge_cosine;
    o.profile_codec = s->profile_int8 ? SEGSTREAM_PROFILE_INT8 : SEGSTREAM_PROFILE_FP16;
    o.max_users = s->max_users;
    o.shared_model = s->shared_model;
    if (segstream_cluster_options_validate(&o, err) < 0)
        return -1;
    *out = o;
    return 0;
}

segstream_stage_cluster *segstream_stage_cluster_create(const segstream_stage_settings *s, int dim,
                                                        segstream_err *err)
{
    segstream_cluster_options o;
    if (segstream_stage_cluster_options(s, dim, &o, err) < 0)
        return NULL;
    return (segstream_stage_cluster *)segstream_cluster_create(&o, err);
}

void segstream_stage_cluster_free(segstream_stage_cluster *c)
{
    segstream_cluster_free(cl(c));
}

static void on_change(void *ctx, const segstream_cluster_change *ch)
{
    const segstream_stage_cluster_sink *sink = ctx;
    segstream_stage_change out = {
        .user_id = ch->user_id,
        .event_time = ch->event_time,
        .previous_segment = ch->previous_segment,
        .segment = ch->segment,
        /* a cosine of unit vectors, which float rounding can push past 1 */
        .similarity = ch->segment < 0 ? NAN : fminf(1.0f, fmaxf(-1.0f, ch->similarity)),
        .cause = (int)ch->cause,
        .model_version = ch->model_version,
    };
    sink->change(sink->ctx, &out);
}

static void on_catalog(void *ctx, const segstream_catalog_change *cc)
{
    const segstream_stage_cluster_sink *sink = ctx;
    segstream_stage_segment out = {
        .segment_id = cc->segment_id,
        .active = cc->active,
        .parent = cc->parent,
        .label = cc->label,
        .n_label = cc->n_label,
        .size = cc->size,
        .centroid = cc->active ? cc->centroid : NULL,
        .dim = cc->dim,
        .created_time = cc->created_time,
        .updated_time = cc->updated_time,
        .model_version = cc->model_version,
    };
    sink->segment(sink->ctx, &out);
}

static segstream_cluster_sink adapt(const segstream_stage_cluster_sink *sink)
{
    segstream_cluster_sink s = {(void *)sink, sink && sink->change ? on_change : NULL,
                                sink && sink->segment ? on_catalog : NULL};
    return s;
}

/* One instance holds every partition, so a barrier is its own deltas only
 * (the model topic that lets several instances share it is issue 6's next step). */
static int local_barrier(segstream_cluster *c, int64_t pane, int final, const segstream_cluster_sink *sink,
                         segstream_err *err)
{
    int n = segstream_cluster_pending_shards(c, NULL, 0), rc = 0;
    int32_t *shards = calloc((size_t)n + 1, sizeof *shards);
    uint8_t **bytes = calloc((size_t)n + 1, sizeof *bytes);
    size_t *lens = calloc((size_t)n + 1, sizeof *lens);
    if (!shards || !bytes || !lens)
        rc = segstream_err_set(err, "cluster barrier: out of memory");
    if (!rc)
        segstream_cluster_pending_shards(c, shards, n);
    for (int j = 0; !rc && j < n; j++)
        rc = segstream_cluster_delta_take(c, shards[j], &bytes[j], &lens[j], err);
    if (!rc && n == 0) /* nothing pending yet (the first event): still a take, so the barrier may run */
        rc = segstream_cluster_delta_take(c, 0, &bytes[0], &lens[0], err), n = 1;
    if (!rc)
        rc = segstream_cluster_barrier(c, (const uint8_t *const *)bytes, lens, (size_t)n, pane, final, sink, err);
    for (int j = 0; bytes && j < n; j++)
        free(bytes[j]);
    free(shards), free(bytes), free(lens);
    return rc;
}

int segstream_stage_cluster_apply(segstream_stage_cluster *c, const char *user_id, int op,
                                  const float *vector, const char *const *words, size_t n_words,
                                  int64_t event_time, int32_t partition, const segstream_stage_cluster_sink *sink,
                                  const char **reason, char message[160], segstream_err *err)
{
    segstream_cluster_event ev = {user_id, op, vector, words, n_words, event_time, partition};
    segstream_cluster_sink s = adapt(sink);
    segstream_cluster_reject rej;
    int rc = segstream_cluster_update(cl(c), &ev, &s, &rej, err);
    if (rc == SEGSTREAM_CLUSTER_AT_BARRIER) {
        rc = local_barrier(cl(c), segstream_cluster_barrier_wanted(cl(c)), 0, &s, err);
        if (rc == 0)
            rc = segstream_cluster_update(cl(c), &ev, &s, &rej, err);
        if (rc == SEGSTREAM_CLUSTER_AT_BARRIER)
            rc = segstream_err_set(err, "cluster: still at a barrier after it");
    }
    if (rc == 1) {
        *reason = segstream_cluster_reject_name(rej.reason);
        memcpy(message, rej.message, sizeof rej.message);
        message[159] = '\0';
    }
    return rc;
}

int segstream_stage_cluster_finish(segstream_stage_cluster *c, const segstream_stage_cluster_sink *sink,
                                   long *still_buffered, segstream_err *err)
{
    segstream_cluster_sink s = adapt(sink);
    segstream_cluster_stats st;
    segstream_cluster_get_stats(cl(c), &st);
    if (st.model_version == 0 && st.bootstrap_buffered > 0) {
        segstream_err ignored;
        (void)segstream_cluster_bootstrap_now(cl(c), &s, &ignored); /* too few vectors: they stay buffered */
    }
    /* a shared model before its bootstrap: bootstrap with what it has (at least k rows); once it
     * runs, its pending contributions wait for the next barrier, as in a stream that goes on */
    if (st.model_version == 0 && st.barrier_pane != INT64_MIN &&
        local_barrier(cl(c), st.barrier_pane, 1, &s, err) < 0)
        return -1;
    if (segstream_cluster_sweep(cl(c), 0, 1, &s, err) < 0)
        return -1;
    segstream_cluster_get_stats(cl(c), &st);
    *still_buffered = st.bootstrap_buffered;
    return 0;
}

int segstream_stage_cluster_dim(const segstream_stage_cluster *c)
{
    return segstream_cluster_dim(ccl(c));
}

int segstream_stage_cluster_is_shared(const segstream_stage_cluster *c) { return segstream_cluster_is_shared(ccl(c)); }

int64_t segstream_stage_cluster_model_version(const segstream_stage_cluster *c)
{
    segstream_cluster_stats st;
    segstream_cluster_get_stats(ccl(c), &st);
    return st.model_version;
}

void segstream_stage_cluster_get_gauges(const segstream_stage_cluster *c, segstream_stage_cluster_gauges *g)
{
    segstream_cluster_stats st;
    segstream_cluster_get_stats(ccl(c), &st);
    *g = (segstream_stage_cluster_gauges){st.users, st.active_segments, st.watermark, st.memory_bytes};
}

void segstream_stage_cluster_catalog(const segstream_stage_cluster *c, const segstream_stage_cluster_sink *sink)
{
    segstream_cluster_sink s = adapt(sink);
    segstream_cluster_for_each_segment(ccl(c), &s);
}

int segstream_stage_cluster_snapshot(const segstream_stage_cluster *c, uint8_t **blob, size_t *len,
                                     segstream_err *err)
{
    return segstream_cluster_snapshot(ccl(c), blob, len, err);
}

segstream_stage_cluster *segstream_stage_cluster_restore(const uint8_t *blob, size_t len, segstream_err *err)
{
    return (segstream_stage_cluster *)segstream_cluster_restore(blob, len, err);
}

/* The two part structs differ only in names; converted field by field so
 * neither header depends on the other. */
int segstream_stage_cluster_snapshot_split(const segstream_stage_cluster *c, uint8_t **model, size_t *model_len,
                                           segstream_stage_user_part **parts, size_t *n_parts, segstream_err *err)
{
    segstream_cluster_user_part *cp = NULL;
    size_t n = 0;
    if (segstream_cluster_snapshot_split(ccl(c), model, model_len, &cp, &n, err))
        return -1;
    segstream_stage_user_part *sp = n ? calloc(n, sizeof *sp) : NULL;
    if (n && !sp) {
        segstream_cluster_user_parts_free(cp, n);
        free(*model);
        *model = NULL;
        return segstream_err_set(err, "cluster snapshot: out of memory");
    }
    for (size_t i = 0; i < n; i++)
        sp[i] = (segstream_stage_user_part){cp[i].shard, cp[i].blob, cp[i].len};
    free(cp); /* the blobs now belong to sp */
    *parts = sp;
    *n_parts = n;
    return 0;
}

void segstream_stage_user_parts_free(segstream_stage_user_part *parts, size_t n)
{
    for (size_t i = 0; parts && i < n; i++)
        free((void *)parts[i].blob);
    free(parts);
}

segstream_stage_cluster *segstream_stage_cluster_restore_split(const uint8_t *model, size_t model_len,
                                                               const segstream_stage_user_part *parts,
                                                               size_t n_parts, segstream_err *err)
{
    segstream_cluster_user_part *cp = n_parts ? calloc(n_parts, sizeof *cp) : NULL;
    if (n_parts && !cp) {
        segstream_err_set(err, "cluster restore: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n_parts; i++)
        cp[i] = (segstream_cluster_user_part){parts[i].partition, parts[i].blob, parts[i].len};
    segstream_cluster *c = segstream_cluster_restore_split(model, model_len, cp, n_parts, err);
    free(cp);
    return (segstream_stage_cluster *)c;
}
