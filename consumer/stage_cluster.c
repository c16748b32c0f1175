/* stage_cluster.c - maps stage settings and cluster outputs between cluster/
 * and the pipeline (see stage_cluster.h for why this file exists). The
 * opaque segstream_stage_cluster wraps one segstream_cluster, or one per
 * owned input partition (scale-out); the sink is adapted with a small
 * trampoline on the stack of each call. */
#include "consumer/stage_cluster.h"

#include "cluster/cluster.h"
#include "common/hash64.h"
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

/* One model for every partition (the default, and the shared model on one
 * instance), or one shared model per owned input partition (scale-out: a
 * partition's model, users and pending delta travel together through the
 * state topic; all of them hold the same centroids at the same barrier). */
typedef struct partition_model {
    int32_t partition;
    segstream_cluster *c;
    int64_t seq;     /* barriers applied */
    int64_t log_pos; /* where in the model log the next barrier's records start */
} partition_model;

struct segstream_stage_cluster {
    segstream_cluster *one; /* NULL when partitioned */
    int dim;
    partition_model *pm;    /* ascending by partition */
    int n_pm, cap_pm;
};

static const segstream_cluster *ccl(const segstream_stage_cluster *c)
{
    return c->one ? c->one : c->n_pm ? c->pm[0].c : NULL;
}

/* One model in its wrapper (NULL with err, one freed, when out of memory; NULL one: NULL). */
static segstream_stage_cluster *wrap(segstream_cluster *one, segstream_err *err)
{
    if (!one)
        return NULL;
    segstream_stage_cluster *c = calloc(1, sizeof *c);
    if (!c) {
        segstream_cluster_free(one);
        segstream_err_set(err, "cluster: out of memory");
        return NULL;
    }
    c->one = one;
    c->dim = segstream_cluster_dim(one);
    return c;
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
    if (s->partition_models) {
        if (!s->shared_model) {
            segstream_err_set(err, "cluster.shared_model: must be true when the model is shared through a model "
                                   "topic (topics.model is set)");
            return NULL;
        }
        segstream_stage_cluster *c = calloc(1, sizeof *c);
        if (!c)
            segstream_err_set(err, "cluster: out of memory");
        else
            c->dim = dim;
        return c;
    }
    return wrap(segstream_cluster_create(&o, err), err);
}

static void free_models(partition_model *pm, int n)
{
    for (int i = 0; i < n; i++)
        segstream_cluster_free(pm[i].c);
    free(pm);
}

void segstream_stage_cluster_free(segstream_stage_cluster *c)
{
    if (!c)
        return;
    segstream_cluster_free(c->one);
    free_models(c->pm, c->n_pm);
    free(c);
}

int segstream_stage_cluster_is_partitioned(const segstream_stage_cluster *c) { return c->one == NULL; }

static partition_model *model_of(segstream_stage_cluster *c, int32_t partition)
{
    int lo = 0, hi = c->n_pm;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (c->pm[mid].partition < partition)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->n_pm && c->pm[lo].partition == partition ? &c->pm[lo] : NULL;
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

/* Partition models all say the same about the catalog: only the model of
 * partition 0 tells it, so the group publishes it once, from whichever
 * instance owns that partition. */
static segstream_cluster_sink adapt_for(const segstream_stage_cluster_sink *sink, int32_t partition)
{
    segstream_cluster_sink s = adapt(sink);
    if (partition != 0)
        s.catalog_change = NULL;
    return s;
}

/* One instance holds every partition, so a barrier is its own deltas only. */
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
    int rc;
    if (!c->one) {
        partition_model *m = model_of(c, partition);
        if (!m)
            return segstream_err_set(err, "cluster: an event of partition %d, which this instance does not own",
                                     (int)partition);
        s = adapt_for(sink, partition);
        rc = segstream_cluster_update(m->c, &ev, &s, &rej, err); /* AT_BARRIER goes to the caller */
    } else {
        rc = segstream_cluster_update(c->one, &ev, &s, &rej, err);
        if (rc == SEGSTREAM_CLUSTER_AT_BARRIER) {
            rc = local_barrier(c->one, segstream_cluster_barrier_wanted(c->one), 0, &s, err);
            if (rc == 0)
                rc = segstream_cluster_update(c->one, &ev, &s, &rej, err);
            if (rc == SEGSTREAM_CLUSTER_AT_BARRIER)
                rc = segstream_err_set(err, "cluster: still at a barrier after it");
        }
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
    if (!c->one) { /* partition models: no final barrier (the group's stream goes on); users swept */
        *still_buffered = 0;
        for (int i = 0; i < c->n_pm; i++) {
            segstream_cluster_sink s = adapt_for(sink, c->pm[i].partition);
            if (segstream_cluster_sweep(c->pm[i].c, 0, 1, &s, err) < 0)
                return -1;
        }
        return 0;
    }
    segstream_cluster_sink s = adapt(sink);
    segstream_cluster_stats st;
    segstream_cluster_get_stats(c->one, &st);
    if (st.model_version == 0 && st.bootstrap_buffered > 0) {
        segstream_err ignored;
        (void)segstream_cluster_bootstrap_now(c->one, &s, &ignored); /* too few vectors: they stay buffered */
    }
    /* a shared model before its bootstrap: bootstrap with what it has (at least k rows); once it
     * runs, its pending contributions wait for the next barrier, as in a stream that goes on */
    if (st.model_version == 0 && st.barrier_pane != INT64_MIN &&
        local_barrier(c->one, st.barrier_pane, 1, &s, err) < 0)
        return -1;
    if (segstream_cluster_sweep(c->one, 0, 1, &s, err) < 0)
        return -1;
    segstream_cluster_get_stats(c->one, &st);
    *still_buffered = st.bootstrap_buffered;
    return 0;
}

int segstream_stage_cluster_dim(const segstream_stage_cluster *c)
{
    return c->one ? segstream_cluster_dim(c->one) : c->dim;
}

int segstream_stage_cluster_is_shared(const segstream_stage_cluster *c)
{
    return c->one ? segstream_cluster_is_shared(c->one) : 1;
}

int64_t segstream_stage_cluster_model_version(const segstream_stage_cluster *c)
{
    const segstream_cluster *one = ccl(c);
    if (!one)
        return 0;
    segstream_cluster_stats st;
    segstream_cluster_get_stats(one, &st);
    return st.model_version;
}

void segstream_stage_cluster_get_gauges(const segstream_stage_cluster *c, segstream_stage_cluster_gauges *g)
{
    *g = (segstream_stage_cluster_gauges){0, 0, INT64_MIN, sizeof *c};
    for (int i = 0; i < (c->one ? 1 : c->n_pm); i++) {
        segstream_cluster_stats st;
        segstream_cluster_get_stats(c->one ? c->one : c->pm[i].c, &st);
        g->users += st.users;
        g->active_segments = st.active_segments; /* the same in every partition model */
        g->watermark = st.watermark > g->watermark ? st.watermark : g->watermark;
        g->memory_bytes += st.memory_bytes;
    }
}

void segstream_stage_cluster_catalog(const segstream_stage_cluster *c, const segstream_stage_cluster_sink *sink)
{
    segstream_cluster_sink s = adapt(sink);
    if (c->one)
        segstream_cluster_for_each_segment(c->one, &s);
    else if (c->n_pm && c->pm[0].partition == 0)
        segstream_cluster_for_each_segment(c->pm[0].c, &s);
}

int segstream_stage_cluster_snapshot(const segstream_stage_cluster *c, uint8_t **blob, size_t *len,
                                     segstream_err *err)
{
    if (!c->one)
        return segstream_err_set(err, "cluster snapshot: partition models are written split (one part each)");
    return segstream_cluster_snapshot(c->one, blob, len, err);
}

segstream_stage_cluster *segstream_stage_cluster_restore(const uint8_t *blob, size_t len, segstream_err *err)
{
    return wrap(segstream_cluster_restore(blob, len, err), err);
}

/* --- partition models: the blobs ---
 * model: "SSCP", version (u32 LE), dim (u32)
 * part:  "SSCS", version (u32), partition (i32), seq (i64), log_pos (i64),
 *        the cluster's whole snapshot (u64 length + bytes), XXH64 of all
 *        before it (u64). Numbers little-endian. */
#define PM_MODEL_MAGIC "SSCP"
#define PM_PART_MAGIC "SSCS"
#define PM_VERSION 1

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int part_blob(const partition_model *m, segstream_stage_user_part *out, segstream_err *err)
{
    uint8_t *cb = NULL;
    size_t cl_len = 0;
    if (segstream_cluster_snapshot(m->c, &cb, &cl_len, err))
        return -1;
    size_t len = 4 + 4 + 4 + 8 + 8 + 8 + cl_len + 8;
    uint8_t *b = malloc(len);
    if (!b) {
        free(cb);
        return segstream_err_set(err, "cluster snapshot: out of memory");
    }
    memcpy(b, PM_PART_MAGIC, 4);
    put_le(b + 4, PM_VERSION, 4);
    put_le(b + 8, (uint32_t)m->partition, 4);
    put_le(b + 12, (uint64_t)m->seq, 8);
    put_le(b + 20, (uint64_t)m->log_pos, 8);
    put_le(b + 28, cl_len, 8);
    memcpy(b + 36, cb, cl_len);
    free(cb);
    put_le(b + 36 + cl_len, segstream_xxh64(b, 36 + cl_len, 0), 8);
    *out = (segstream_stage_user_part){m->partition, b, len};
    return 0;
}

static int read_part(const segstream_stage_user_part *pt, partition_model *m, segstream_err *err)
{
    const uint8_t *b = pt->blob;
    size_t len = pt->len;
    if (len < 44 || memcmp(b, PM_PART_MAGIC, 4))
        return segstream_err_set(err, "cluster restore: the part of partition %d is not a partition model",
                                 (int)pt->partition);
    if (get_le(b + 4, 4) != (uint64_t)PM_VERSION)
        return segstream_err_set(err, "cluster restore: partition model version %u, this build reads %d",
                                 (unsigned)get_le(b + 4, 4), PM_VERSION);
    uint64_t cl_len = get_le(b + 28, 8);
    if (cl_len != len - 44 || get_le(b + len - 8, 8) != segstream_xxh64(b, len - 8, 0))
        return segstream_err_set(err, "cluster restore: the model of partition %d is corrupt (length or checksum)",
                                 (int)pt->partition);
    m->partition = (int32_t)get_le(b + 8, 4);
    m->seq = (int64_t)get_le(b + 12, 8);
    m->log_pos = (int64_t)get_le(b + 20, 8);
    if (m->partition != pt->partition || m->seq < 0 || m->log_pos < 0)
        return segstream_err_set(err, "cluster restore: the model of partition %d: header does not match",
                                 (int)pt->partition);
    m->c = segstream_cluster_restore(b + 36, (size_t)cl_len, err);
    if (!m->c)
        return segstream_err_prefix(err, "cluster restore: the model of partition %d", (int)pt->partition);
    if (!segstream_cluster_is_shared(m->c)) {
        segstream_cluster_free(m->c);
        m->c = NULL;
        return segstream_err_set(err, "cluster restore: the model of partition %d is not a shared one",
                                 (int)pt->partition);
    }
    return 0;
}

/* The two part structs differ only in names; converted field by field so
 * neither header depends on the other. */
int segstream_stage_cluster_snapshot_split(const segstream_stage_cluster *c, uint8_t **model, size_t *model_len,
                                           segstream_stage_user_part **parts, size_t *n_parts, segstream_err *err)
{
    if (!c->one) {
        *model = malloc(12);
        segstream_stage_user_part *sp = c->n_pm ? calloc((size_t)c->n_pm, sizeof *sp) : NULL;
        if (!*model || (c->n_pm && !sp)) {
            free(*model), free(sp);
            *model = NULL;
            return segstream_err_set(err, "cluster snapshot: out of memory");
        }
        memcpy(*model, PM_MODEL_MAGIC, 4);
        put_le(*model + 4, PM_VERSION, 4);
        put_le(*model + 8, (uint32_t)c->dim, 4);
        *model_len = 12;
        for (int i = 0; i < c->n_pm; i++)
            if (part_blob(&c->pm[i], &sp[i], err)) {
                segstream_stage_user_parts_free(sp, (size_t)i);
                free(*model);
                *model = NULL;
                return -1;
            }
        *parts = sp;
        *n_parts = (size_t)c->n_pm;
        return 0;
    }
    segstream_cluster_user_part *cp = NULL;
    size_t n = 0;
    if (segstream_cluster_snapshot_split(c->one, model, model_len, &cp, &n, err))
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

static segstream_stage_cluster *restore_partitioned(const uint8_t *model, size_t model_len,
                                                    const segstream_stage_user_part *parts, size_t n_parts,
                                                    segstream_err *err)
{
    if (model_len != 12 || get_le(model + 4, 4) != (uint64_t)PM_VERSION) {
        segstream_err_set(err, "cluster restore: partition models of version %u, this build reads %d",
                          model_len == 12 ? (unsigned)get_le(model + 4, 4) : 0u, PM_VERSION);
        return NULL;
    }
    segstream_stage_cluster *c = calloc(1, sizeof *c);
    partition_model *pm = n_parts ? calloc(n_parts, sizeof *pm) : NULL;
    if (!c || (n_parts && !pm)) {
        free(c), free(pm);
        segstream_err_set(err, "cluster restore: out of memory");
        return NULL;
    }
    c->dim = (int)get_le(model + 8, 4);
    c->pm = pm;
    c->cap_pm = (int)n_parts;
    /* the state topic gives the parts in its own order: by partition, insertion sort (few) */
    size_t *order = malloc((n_parts ? n_parts : 1) * sizeof *order);
    if (!order) {
        segstream_err_set(err, "cluster restore: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n_parts; i++) {
        size_t j = i;
        for (; j > 0 && parts[order[j - 1]].partition > parts[i].partition; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    for (size_t q = 0; q < n_parts; q++) {
        size_t i = q;
        const segstream_stage_user_part *pt = &parts[order[q]];
        if (q > 0 && pt->partition == parts[order[q - 1]].partition) {
            segstream_err_set(err, "cluster restore: two models of partition %d", (int)pt->partition);
            free(order);
            goto fail;
        }
        if (read_part(pt, &pm[i], err)) {
            free(order);
            goto fail;
        }
        c->n_pm++;
        if (segstream_cluster_dim(pm[i].c) != c->dim) {
            segstream_err_set(err, "cluster restore: the model of partition %d takes %d-dimension vectors, not %d",
                              (int)pt->partition, segstream_cluster_dim(pm[i].c), c->dim);
            free(order);
            goto fail;
        }
    }
    free(order);
    return c;
fail:
    segstream_stage_cluster_free(c);
    return NULL;
}

segstream_stage_cluster *segstream_stage_cluster_restore_split(const uint8_t *model, size_t model_len,
                                                               const segstream_stage_user_part *parts,
                                                               size_t n_parts, segstream_err *err)
{
    if (model_len >= 4 && !memcmp(model, PM_MODEL_MAGIC, 4))
        return restore_partitioned(model, model_len, parts, n_parts, err);
    segstream_cluster_user_part *cp = n_parts ? calloc(n_parts, sizeof *cp) : NULL;
    if (n_parts && !cp) {
        segstream_err_set(err, "cluster restore: out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n_parts; i++)
        cp[i] = (segstream_cluster_user_part){parts[i].partition, parts[i].blob, parts[i].len};
    segstream_cluster *one = segstream_cluster_restore_split(model, model_len, cp, n_parts, err);
    free(cp);
    return wrap(one, err);
}

/* --- partition models: ownership and barriers --- */

int segstream_stage_cluster_own(segstream_stage_cluster *c, const segstream_stage_settings *s,
                                const int32_t *partitions, size_t n, segstream_err *err)
{
    if (c->one)
        return segstream_err_set(err, "cluster: partitions are owned by partition models only (topics.model)");
    segstream_cluster_options o;
    if (segstream_stage_cluster_options(s, c->dim, &o, err) < 0)
        return -1;
    partition_model *pm = calloc(n ? n : 1, sizeof *pm);
    if (!pm)
        return segstream_err_set(err, "cluster: out of memory");
    int32_t *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) {
        free(pm);
        return segstream_err_set(err, "cluster: out of memory");
    }
    memcpy(sorted, partitions, n * sizeof *sorted);
    for (size_t i = 1; i < n; i++) /* few partitions: insertion sort */
        for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            int32_t t = sorted[j];
            sorted[j] = sorted[j - 1], sorted[j - 1] = t;
        }
    /* the fresh models first, so that a failure leaves c as it was */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && sorted[i] == sorted[i - 1])
            continue;
        segstream_cluster *fresh = model_of(c, sorted[i]) ? NULL : segstream_cluster_create(&o, err);
        if (!fresh && !model_of(c, sorted[i])) {
            free_models(pm, (int)k); /* fresh ones only: the owned slots are still NULL */
            free(sorted);
            return -1;
        }
        pm[k++] = (partition_model){sorted[i], fresh, 0, 0};
    }
    for (size_t i = 0; i < k; i++) {
        partition_model *m = model_of(c, pm[i].partition);
        if (m) {
            pm[i] = *m;
            m->c = NULL; /* moved */
        }
    }
    free(sorted);
    free_models(c->pm, c->n_pm); /* the ones no longer owned (moved ones are NULL) */
    c->pm = pm;
    c->n_pm = c->cap_pm = (int)k;
    return 0;
}

void segstream_stage_cluster_barrier_state(const segstream_stage_cluster *c, segstream_stage_barrier_state *st)
{
    *st = (segstream_stage_barrier_state){INT64_MAX, INT64_MIN, INT64_MAX, 0, 0, c->one ? 0 : c->n_pm};
    for (int i = 0; !c->one && i < c->n_pm; i++) {
        const partition_model *m = &c->pm[i];
        segstream_cluster_stats cs;
        segstream_cluster_get_stats(m->c, &cs);
        st->seq_min = m->seq < st->seq_min ? m->seq : st->seq_min;
        st->seq_max = m->seq > st->seq_max ? m->seq : st->seq_max;
        st->log_pos_min = m->log_pos < st->log_pos_min ? m->log_pos : st->log_pos_min;
        int taken = segstream_cluster_barrier_taken(m->c);
        st->taken += taken;
        if (!taken && m->seq == st->seq_min)
            st->untaken_at_min++;
    }
    if (st->seq_min == INT64_MAX)
        st->seq_min = st->seq_max = 0, st->log_pos_min = 0;
}

int segstream_stage_cluster_barrier_take(segstream_stage_cluster *c, segstream_stage_delta **out, size_t *n,
                                         int64_t *wanted, segstream_err *err)
{
    *out = NULL;
    *n = 0;
    *wanted = INT64_MAX;
    if (c->one)
        return segstream_err_set(err, "cluster: barriers are the caller's with partition models only");
    segstream_stage_delta *d = calloc(c->n_pm ? (size_t)c->n_pm : 1, sizeof *d);
    if (!d)
        return segstream_err_set(err, "cluster barrier: out of memory");
    size_t k = 0;
    for (int i = 0; i < c->n_pm; i++) {
        partition_model *m = &c->pm[i];
        if (segstream_cluster_barrier_taken(m->c))
            continue; /* published already (before a restart or a move) */
        int64_t w = segstream_cluster_barrier_wanted(m->c); /* INT64_MIN: no event of it asked */
        if (w != INT64_MIN && w < *wanted)
            *wanted = w;
        if (segstream_cluster_delta_take(m->c, m->partition, &d[k].bytes, &d[k].len, err)) {
            segstream_stage_deltas_free(d, k);
            return -1;
        }
        d[k].partition = m->partition;
        d[k].seq = m->seq;
        k++;
    }
    *out = d;
    *n = k;
    return 0;
}

void segstream_stage_deltas_free(segstream_stage_delta *d, size_t n)
{
    for (size_t i = 0; d && i < n; i++)
        free(d[i].bytes);
    free(d);
}

int segstream_stage_cluster_barrier_apply(segstream_stage_cluster *c, int64_t seq, const segstream_stage_delta *all,
                                          size_t n, int64_t pane, int64_t log_pos,
                                          const segstream_stage_cluster_sink *sink, long *applied, segstream_err *err)
{
    *applied = 0;
    if (c->one)
        return segstream_err_set(err, "cluster: barriers are the caller's with partition models only");
    const uint8_t **bytes = calloc(n ? n : 1, sizeof *bytes);
    size_t *lens = calloc(n ? n : 1, sizeof *lens);
    int rc = 0;
    if (!bytes || !lens)
        rc = segstream_err_set(err, "cluster barrier: out of memory");
    for (size_t i = 0; !rc && i < n; i++)
        bytes[i] = all[i].bytes, lens[i] = all[i].len;
    for (int i = 0; !rc && i < c->n_pm; i++) {
        partition_model *m = &c->pm[i];
        if (m->seq != seq)
            continue;
        if (!segstream_cluster_barrier_taken(m->c)) {
            rc = segstream_err_set(err, "cluster barrier %lld: partition %d never gave its delta, yet the barrier "
                                        "is complete", (long long)seq, (int)m->partition);
            break;
        }
        segstream_cluster_sink s = adapt_for(sink, m->partition);
        rc = segstream_cluster_barrier(m->c, bytes, lens, n, pane, 0, &s, err);
        /* the whole sweep now: a partition without events would otherwise keep its users where they were */
        if (!rc && segstream_cluster_sweep(m->c, 0, 1, &s, err) < 0)
            rc = -1;
        if (rc) {
            segstream_err_prefix(err, "partition %d", (int)m->partition);
            break;
        }
        m->seq = seq + 1;
        m->log_pos = log_pos;
        ++*applied;
    }
    free(bytes), free(lens);
    return rc;
}
