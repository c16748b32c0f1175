/* pipeline.c - the batch pipeline: validate, order, encode, apply, emit.
 *
 * A batch is worked in passes over arrays sized by the batch (no per-event
 * heap objects besides the repaired text copy): validation and text
 * preparation, words for labels into one arena, a sort of the batch by
 * (event_time, topic, partition, offset), one packed encoder call for the
 * batch's distinct texts (found by sorting the texts, so no hash table), then
 * the cluster in order. Cluster outputs arrive through callbacks while an
 * event is applied; they are converted to records on the stack and handed
 * to the caller's sink at once, so nothing is buffered.
 *
 * Attribution of outputs to inputs: the event being applied is the trigger.
 * While the model bootstraps it buffers events and later releases their
 * changes all at once, in arrival order; a FIFO of the buffered events'
 * ids and sources (part of the snapshot) gives each released change its own
 * event's id and coordinates. */
#include "consumer/pipeline_internal.h"

#include "consumer/codec_json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_USER_BYTES 255

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- outputs --------------------------------------------------------------- */

static void sink_fail(segstream_pipeline *p, const char *what)
{
    if (!p->sink_failed)
        segstream_err_set(&p->sink_err, "%s", what);
    p->sink_failed = 1;
}

static int pop_boot(segstream_pipeline *p, const char *user, int64_t t, boot_entry *out)
{
    while (p->boot_head < p->n_boot) {
        boot_entry *b = &p->boot[p->boot_head++];
        if (!strcmp(b->user_id, user) && b->event_time == t) {
            *out = *b;
            return 1;
        }
    }
    return 0;
}

static void on_cluster_change(void *ctx, const segstream_stage_change *ch)
{
    segstream_pipeline *p = ctx;
    if (p->sink_failed)
        return;
    trigger who = p->cur;
    boot_entry b;
    if (p->releasing && (ch->cause == SEGSTREAM_CAUSE_INTEREST_CHANGED || ch->cause == SEGSTREAM_CAUSE_DELETED) &&
        pop_boot(p, ch->user_id, ch->event_time, &b)) {
        who.event_id = b.event_id;
        who.source = (segstream_event_source){b.topic, b.partition, b.offset};
    }
    char id[33];
    if (segstream_change_ids_next(&p->ids, who.event_id, ch->cause, ch->user_id, id)) {
        sink_fail(p, "out of memory");
        return;
    }
    segstream_record rec;
    segstream_record_init(&rec, SEGSTREAM_RECORD_SEGMENT_CHANGE);
    segstream_segment_change *sc = &rec.segment_change;
    sc->event_id = id;
    sc->user_id = (char *)ch->user_id;
    sc->event_time = ch->event_time;
    sc->has_previous_segment = ch->previous_segment >= 0;
    sc->previous_segment = ch->previous_segment >= 0 ? ch->previous_segment : 0;
    sc->has_segment = ch->segment >= 0;
    sc->segment = ch->segment >= 0 ? ch->segment : 0;
    sc->has_similarity = ch->segment >= 0 && isfinite(ch->similarity);
    sc->similarity = sc->has_similarity ? ch->similarity : 0.0f;
    sc->cause = (segstream_cause)ch->cause;
    sc->model_version = ch->model_version;
    sc->source_topic = (char *)who.source.topic;
    sc->source_partition = who.source.partition;
    sc->source_offset = who.source.offset;
    p->stats.changes++;
    if (p->sink->on_change && p->sink->on_change(p->sink->ctx, &rec, &p->sink_err))
        p->sink_failed = 1;
}

static void on_cluster_segment(void *ctx, const segstream_stage_segment *s)
{
    segstream_pipeline *p = ctx;
    if (p->sink_failed)
        return;
    segstream_record rec;
    segstream_record_init(&rec, SEGSTREAM_RECORD_SEGMENT);
    segstream_segment *g = &rec.segment;
    g->segment_id = s->segment_id;
    g->status = s->active ? SEGSTREAM_SEGMENT_ACTIVE : SEGSTREAM_SEGMENT_RETIRED;
    g->label = (char **)s->label;
    g->label_count = s->n_label > 0 ? (size_t)s->n_label : 0;
    g->size = s->size;
    g->has_parent = s->parent >= 0;
    g->parent = s->parent >= 0 ? s->parent : 0;
    g->created_time = s->created_time;
    g->updated_time = s->updated_time;
    g->model_version = s->model_version;
    g->has_centroid = s->centroid != NULL;
    g->centroid = (float *)s->centroid;
    g->centroid_len = s->centroid ? (size_t)s->dim : 0;
    p->stats.segments++;
    if (p->sink->on_segment && p->sink->on_segment(p->sink->ctx, &rec, &p->sink_err))
        p->sink_failed = 1;
}

static int dead_letter(segstream_pipeline *p, const segstream_pipeline_event *ev, const char *reason,
                       const char *message)
{
    p->stats.dead_letters++;
    if (!p->sink->on_dead_letter)
        return 0;
    segstream_dead_letter dl = {reason, message, ev->source, ev->record, ev->raw, ev->raw_len};
    return p->sink->on_dead_letter(p->sink->ctx, &dl, &p->sink_err) ? -1 : 0;
}

/* --- life ----------------------------------------------------------------- */

segstream_pipeline *segstream_pipeline_open(const segstream_stage_settings *settings, segstream_err *err)
{
    if (!settings || !settings->model_dir) {
        segstream_err_set(err, "pipeline: no model folder (model.path) given");
        return NULL;
    }
    if (settings->max_text_bytes < 16 || settings->max_label_words < 0) {
        segstream_err_set(err, "pipeline: max_text_bytes = %zu (accepted >= 16), max_label_words = %d (>= 0)",
                          settings->max_text_bytes, settings->max_label_words);
        return NULL;
    }
    segstream_pipeline *p = calloc(1, sizeof *p);
    if (!p) {
        segstream_err_set(err, "pipeline: out of memory");
        return NULL;
    }
    p->settings = *settings;
    p->model_dir = strdup(settings->model_dir);
    if (!p->model_dir) {
        segstream_err_set(err, "pipeline: out of memory");
        goto fail;
    }
    p->settings.model_dir = p->model_dir;
    segstream_encoder_options eo = segstream_encoder_default_options();
    eo.threads = settings->encoder_threads;
    eo.max_batch_tokens = settings->encoder_batch_tokens;
    eo.cache_entries = settings->encoder_cache_entries;
    eo.deterministic = settings->encoder_deterministic;
    eo.precision = settings->encoder_precision == 2   ? SEGSTREAM_PRECISION_INT8
                   : settings->encoder_precision == 1 ? SEGSTREAM_PRECISION_BF16
                                                      : SEGSTREAM_PRECISION_F32;
    p->enc = segstream_encoder_open(settings->model_dir, &eo, err);
    if (!p->enc) { /* the setting, the cause, the fix: in one line */
        segstream_err cause = *err;
        segstream_err_set(err,
                          "model.path = %s: %s; point model.path at a sentence-transformers folder with "
                          "config.json, vocab.txt and model.safetensors (tools/fetch-model installs all-MiniLM-L6-v2)",
                          settings->model_dir, cause.message);
        segstream_pipeline_close(p);
        return NULL;
    }
    p->tok = segstream_encoder_tokenizer(p->enc);
    p->dim = segstream_encoder_dim(p->enc);
    p->cluster = segstream_stage_cluster_create(&p->settings, p->dim, err);
    if (!p->cluster)
        goto fail;
    return p;
fail:
    segstream_err_prefix(err, "pipeline");
    segstream_pipeline_close(p);
    return NULL;
}

void segstream_pipeline_boot_clear(segstream_pipeline *p)
{
    for (size_t i = 0; i < p->n_boot; i++) {
        free(p->boot[i].event_id);
        free(p->boot[i].user_id);
        free(p->boot[i].topic);
    }
    p->n_boot = p->boot_head = 0;
}

void segstream_pipeline_close(segstream_pipeline *p)
{
    if (!p)
        return;
    segstream_stage_cluster_free(p->cluster);
    segstream_encoder_close(p->enc);
    segstream_pipeline_boot_clear(p);
    free(p->boot);
    free(p->last_event_id);
    free(p->last_topic);
    segstream_change_ids_free(&p->ids);
    free(p->model_dir);
    free(p);
}

int segstream_pipeline_dim(const segstream_pipeline *p)
{
    return p->dim;
}

void segstream_pipeline_get_stats(const segstream_pipeline *p, segstream_pipeline_stats *stats)
{
    *stats = p->stats;
    stats->model_version = segstream_stage_cluster_model_version(p->cluster);
    segstream_stage_cluster_gauges g;
    segstream_stage_cluster_get_gauges(p->cluster, &g);
    stats->users = g.users;
    stats->active_segments = g.active_segments;
    stats->watermark = g.watermark;
    stats->model_bytes = g.memory_bytes;
    segstream_encoder_stats es;
    segstream_encoder_get_stats(p->enc, &es);
    stats->cache_hits = es.cache_hits;
    stats->cache_misses = es.cache_misses;
}

/* --- batch scratch -------------------------------------------------------- */

/* Per event of a batch. */
typedef struct item {
    const segstream_pipeline_event *ev;
    const char *reason; /* NULL: valid so far */
    char message[160];
    char *text;         /* prepared text (owned), NULL for DELETE / invalid */
    size_t word_first;  /* range in the batch's word list */
    size_t n_words;
    const float *vector;
} item;

typedef struct batch {
    item *items;
    size_t *order;  /* items in application order */
    char *arena;    /* words, NUL-terminated, back to back */
    size_t arena_len, arena_cap;
    size_t *word_off; /* offsets into arena */
    size_t n_words, cap_words;
    size_t word_limit; /* per text */
    size_t cur_count;  /* words of the text being split */
    int oom;
    float *vectors; /* one row per distinct encoded text */
} batch;

static void batch_free(batch *b, size_t n)
{
    for (size_t i = 0; b->items && i < n; i++)
        free(b->items[i].text);
    free(b->items), free(b->order), free(b->arena), free(b->word_off), free(b->vectors);
}

static void collect_word(const char *w, size_t len, void *user)
{
    batch *b = user;
    if (b->oom || b->cur_count >= b->word_limit)
        return;
    if (b->arena_len + len + 1 > b->arena_cap) {
        size_t cap = b->arena_cap ? b->arena_cap : 4096;
        while (cap < b->arena_len + len + 1)
            cap *= 2;
        char *a = realloc(b->arena, cap);
        if (!a) {
            b->oom = 1;
            return;
        }
        b->arena = a, b->arena_cap = cap;
    }
    if (b->n_words == b->cap_words) {
        size_t cap = b->cap_words ? 2 * b->cap_words : 1024;
        size_t *o = realloc(b->word_off, cap * sizeof *o);
        if (!o) {
            b->oom = 1;
            return;
        }
        b->word_off = o, b->cap_words = cap;
    }
    b->word_off[b->n_words++] = b->arena_len;
    memcpy(b->arena + b->arena_len, w, len);
    b->arena[b->arena_len + len] = '\0';
    b->arena_len += len + 1;
    b->cur_count++;
}

/* The text as it is encoded: invalid UTF-8 replaced, NULs dropped, cut to
 * max_text_bytes on a character boundary. */
static char *prepare_text(segstream_pipeline *p, const char *text)
{
    size_t len = strlen(text);
    int changed = 0;
    char *t = segstream_utf8_repair(text, len, &changed);
    if (!t)
        return NULL;
    p->stats.texts_repaired += changed != 0;
    size_t n = strlen(t);
    if (n > p->settings.max_text_bytes) {
        size_t cut = p->settings.max_text_bytes;
        while (cut > 0 && ((unsigned char)t[cut] & 0xC0) == 0x80)
            cut--;
        t[cut] = '\0';
        p->stats.texts_truncated++;
    }
    return t;
}

static int needs_text(const segstream_interest_change *ic)
{
    return ic->op == SEGSTREAM_OP_SET || ic->op == SEGSTREAM_OP_ADD;
}

static void validate(item *it)
{
    const segstream_record *r = it->ev->record;
    if (!r || r->type != SEGSTREAM_RECORD_INTEREST_CHANGE) {
        it->reason = SEGSTREAM_DLQ_WRONG_TYPE;
        snprintf(it->message, sizeof it->message, "input is a %s, not an InterestChange",
                 r ? segstream_record_type_avro_name(r->type) : "missing record");
        return;
    }
    const segstream_interest_change *ic = &r->interest_change;
    if (!ic->event_id || !ic->event_id[0]) {
        it->reason = SEGSTREAM_DLQ_MISSING_EVENT_ID;
        snprintf(it->message, sizeof it->message, "event_id is %s", ic->event_id ? "empty" : "null");
    } else if (!ic->user_id || !ic->user_id[0] || strlen(ic->user_id) > MAX_USER_BYTES) {
        it->reason = SEGSTREAM_DLQ_BAD_USER;
        snprintf(it->message, sizeof it->message, "user_id is %s",
                 !ic->user_id ? "null" : !ic->user_id[0] ? "empty" : "longer than 255 bytes");
    } else if ((unsigned)ic->op > SEGSTREAM_OP_DELETE) {
        it->reason = SEGSTREAM_DLQ_BAD_OP;
        snprintf(it->message, sizeof it->message, "op %d is not SET, ADD or DELETE", (int)ic->op);
    } else if (needs_text(ic) && !ic->text) {
        it->reason = SEGSTREAM_DLQ_MISSING_TEXT;
        snprintf(it->message, sizeof it->message, "%s without a text", segstream_op_name(ic->op));
    }
}

/* Validation, text preparation and words for every item. */
static int prepare_batch(segstream_pipeline *p, batch *b, const segstream_pipeline_event *events, size_t n,
                         int with_words, segstream_err *err)
{
    b->items = calloc(n ? n : 1, sizeof *b->items);
    b->order = malloc((n ? n : 1) * sizeof *b->order);
    if (!b->items || !b->order)
        return segstream_err_set(err, "pipeline: out of memory for a batch of %zu events", n);
    b->word_limit = (size_t)p->settings.max_label_words;
    for (size_t i = 0; i < n; i++) {
        item *it = &b->items[i];
        it->ev = &events[i];
        it->vector = events[i].vector;
        validate(it);
        if (it->reason || !needs_text(&it->ev->record->interest_change))
            continue;
        it->text = prepare_text(p, it->ev->record->interest_change.text);
        if (!it->text)
            return segstream_err_set(err, "pipeline: out of memory preparing a text");
        if (!with_words)
            continue;
        it->word_first = b->n_words;
        b->cur_count = 0;
        if (segstream_tokenizer_words(p->tok, it->text, strlen(it->text), collect_word, b, err))
            return segstream_err_prefix(err, "pipeline: words of event %s", it->ev->record->interest_change.event_id);
        if (b->oom)
            return segstream_err_set(err, "pipeline: out of memory splitting words");
        it->n_words = b->n_words - it->word_first;
        if (it->n_words == 0) {
            it->reason = SEGSTREAM_DLQ_EMPTY_TEXT;
            snprintf(it->message, sizeof it->message, "the text has no words");
        }
    }
    return 0;
}

typedef struct text_ref {
    const char *text;
    size_t item; /* first position in the order the texts are encoded */
} text_ref;

static int cmp_text(const void *a, const void *b)
{
    const text_ref *x = a, *y = b;
    int c = strcmp(x->text, y->text);
    return c ? c : (x->item > y->item) - (x->item < y->item);
}

static int cmp_first(const void *a, const void *b)
{
    const text_ref *x = a, *y = b;
    return (x->item > y->item) - (x->item < y->item);
}

/* Encodes the distinct texts of the items listed in idx (in that order; an
 * item with vector already set or without text is skipped), each once, in one
 * encoder call; points each item's vector at its row of b->vectors. */
static int encode_items(segstream_pipeline *p, batch *b, const size_t *idx, size_t n, segstream_err *err)
{
    size_t m = 0;
    text_ref *refs = malloc((n ? n : 1) * sizeof *refs);
    if (!refs)
        return segstream_err_set(err, "pipeline: out of memory");
    for (size_t j = 0; j < n; j++) {
        item *it = &b->items[idx[j]];
        if (!it->reason && it->text && !it->vector)
            refs[m++] = (text_ref){it->text, j};
    }
    if (m == 0) {
        free(refs);
        return 0;
    }
    /* group identical texts; the group's first position decides its place */
    qsort(refs, m, sizeof *refs, cmp_text);
    size_t *group_of = malloc(m * sizeof *group_of); /* by position in refs */
    text_ref *uniq = malloc(m * sizeof *uniq);
    if (!group_of || !uniq) {
        free(refs), free(group_of), free(uniq);
        return segstream_err_set(err, "pipeline: out of memory");
    }
    size_t u = 0;
    for (size_t r = 0; r < m; r++) {
        if (r == 0 || strcmp(refs[r].text, refs[r - 1].text))
            uniq[u++] = refs[r];
        group_of[r] = u - 1;
    }
    /* uniq[g].item is the group's first position; number groups in that order */
    size_t *rank = malloc(u * sizeof *rank);
    text_ref *by_first = malloc(u * sizeof *by_first);
    const char **texts = malloc(u * sizeof *texts);
    free(b->vectors);
    b->vectors = malloc(u * (size_t)p->dim * sizeof(float));
    if (!rank || !by_first || !texts || !b->vectors) {
        free(refs), free(group_of), free(uniq), free(rank), free(by_first), free(texts);
        return segstream_err_set(err, "pipeline: out of memory");
    }
    for (size_t g = 0; g < u; g++)
        by_first[g] = (text_ref){uniq[g].text, g}; /* item field reused: group number */
    /* sort groups by first position */
    for (size_t g = 0; g < u; g++)
        by_first[g].item = uniq[g].item * u + g; /* first position, ties impossible */
    qsort(by_first, u, sizeof *by_first, cmp_first);
    for (size_t s = 0; s < u; s++) {
        size_t g = by_first[s].item % u;
        rank[g] = s;
        texts[s] = uniq[g].text;
    }
    uint64_t t0 = now_ns();
    int rc = segstream_encoder_encode(p->enc, texts, u, b->vectors, err);
    p->stats.encode_ns += now_ns() - t0;
    p->stats.texts_encoded += u;
    if (!rc)
        for (size_t r = 0; r < m; r++)
            b->items[idx[refs[r].item]].vector = b->vectors + rank[group_of[r]] * (size_t)p->dim;
    free(refs), free(group_of), free(uniq), free(rank), free(by_first), free(texts);
    return rc ? segstream_err_prefix(err, "pipeline: encoder") : 0;
}

typedef struct order_key {
    int64_t time;
    const char *topic;
    int32_t partition;
    int64_t offset;
    size_t i;
} order_key;

static int cmp_order(const void *a, const void *b)
{
    const order_key *x = a, *y = b;
    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    int c = strcmp(x->topic, y->topic);
    if (c)
        return c;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static int sort_batch(batch *b, size_t n, segstream_err *err)
{
    order_key *keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys)
        return segstream_err_set(err, "pipeline: out of memory");
    for (size_t i = 0; i < n; i++) {
        const segstream_record *r = b->items[i].ev->record;
        int64_t t = r && r->type == SEGSTREAM_RECORD_INTEREST_CHANGE ? r->interest_change.event_time : INT64_MIN;
        const segstream_event_source *s = &b->items[i].ev->source;
        keys[i] = (order_key){t, s->topic ? s->topic : "", s->partition, s->offset, i};
    }
    qsort(keys, n, sizeof *keys, cmp_order);
    for (size_t i = 0; i < n; i++)
        b->order[i] = keys[i].i;
    free(keys);
    return 0;
}

/* --- applying ------------------------------------------------------------- */

static int set_last(segstream_pipeline *p, const char *event_id, const segstream_event_source *src)
{
    if (p->last_event_id && !strcmp(p->last_event_id, event_id) && p->last_topic &&
        !strcmp(p->last_topic, src->topic)) {
        p->last_partition = src->partition;
        p->last_offset = src->offset;
        return 0;
    }
    char *id = strdup(event_id), *topic = strdup(src->topic);
    if (!id || !topic) {
        free(id), free(topic);
        return -1;
    }
    free(p->last_event_id), free(p->last_topic);
    p->last_event_id = id, p->last_topic = topic;
    p->last_partition = src->partition;
    p->last_offset = src->offset;
    return 0;
}

static int push_boot(segstream_pipeline *p, const segstream_interest_change *ic, const segstream_event_source *src)
{
    if (p->boot_head > 0 && p->boot_head == p->n_boot)
        segstream_pipeline_boot_clear(p);
    if (p->n_boot == p->cap_boot) {
        size_t cap = p->cap_boot ? 2 * p->cap_boot : 256;
        boot_entry *e = realloc(p->boot, cap * sizeof *e);
        if (!e)
            return -1;
        p->boot = e, p->cap_boot = cap;
    }
    boot_entry *e = &p->boot[p->n_boot];
    e->event_id = strdup(ic->event_id);
    e->user_id = strdup(ic->user_id);
    e->topic = strdup(src->topic);
    e->partition = src->partition;
    e->offset = src->offset;
    e->event_time = ic->event_time;
    p->n_boot++;
    return e->event_id && e->user_id && e->topic ? 0 : -1;
}

static void drop_last_boot(segstream_pipeline *p)
{
    boot_entry *e = &p->boot[--p->n_boot];
    free(e->event_id), free(e->user_id), free(e->topic);
}

static int apply_one(segstream_pipeline *p, batch *b, const item *it, segstream_err *err)
{
    const segstream_pipeline_event *ev = it->ev;
    if (it->reason)
        return dead_letter(p, ev, it->reason, it->message);
    const segstream_interest_change *ic = &ev->record->interest_change;
    const char **wp = NULL;
    const char **heap_words = NULL;
    if (it->n_words) {
        heap_words = malloc(it->n_words * sizeof *heap_words);
        if (!heap_words)
            return segstream_err_set(err, "pipeline: out of memory");
        for (size_t w = 0; w < it->n_words; w++)
            heap_words[w] = b->arena + b->word_off[it->word_first + w];
        wp = heap_words;
    }
    p->cur = (trigger){ic->event_id, ev->source};
    segstream_change_ids_reset(&p->ids);
    /* a shared model buffers nothing: its users get their first segment from the bootstrap's sweep */
    int bootstrapping = !p->settings.shared_model && segstream_stage_cluster_model_version(p->cluster) == 0;
    if (bootstrapping && push_boot(p, ic, &ev->source)) {
        free(heap_words);
        return segstream_err_set(err, "pipeline: out of memory");
    }
    p->releasing = bootstrapping;
    segstream_stage_cluster_sink cs = {p, on_cluster_change, on_cluster_segment};
    const char *reason = NULL;
    char message[160];
    int rc = segstream_stage_cluster_apply(p->cluster, ic->user_id, (int)ic->op, it->vector,
                                           (const char *const *)wp, it->n_words, ic->event_time,
                                           ev->source.partition, &cs, &reason,
                                           message, err);
    free(heap_words);
    p->releasing = 0;
    if (rc < 0)
        return segstream_err_prefix(err, "pipeline: cluster, event %s", ic->event_id);
    if (rc == SEGSTREAM_PIPELINE_AT_BARRIER)
        return rc; /* nothing applied: the caller runs the barrier and gives the event again */
    if (bootstrapping && (rc == 1 || segstream_stage_cluster_model_version(p->cluster) > 0)) {
        if (rc == 1)
            drop_last_boot(p);
        else
            segstream_pipeline_boot_clear(p); /* the bootstrap released every buffered event */
    }
    if (p->sink_failed)
        return segstream_err_set(err, "%s", p->sink_err.message);
    if (rc == 1)
        return dead_letter(p, ev, reason, message);
    p->stats.applied++;
    if (set_last(p, ic->event_id, &ev->source))
        return segstream_err_set(err, "pipeline: out of memory");
    return 0;
}

/* Outputs that no event of a batch triggers (finish, a barrier) carry the
 * last applied event's id and source. */
static void outputs_of_last_event(segstream_pipeline *p, const segstream_pipeline_sink *sink)
{
    p->sink = sink;
    p->sink_failed = 0;
    segstream_event_source src = {p->last_topic ? p->last_topic : "", p->last_partition, p->last_offset};
    p->cur = (trigger){p->last_event_id ? p->last_event_id : "", src};
    segstream_change_ids_reset(&p->ids);
}

static int process(segstream_pipeline *p, const segstream_pipeline_event *events, size_t n,
                   const segstream_pipeline_sink *sink, size_t *applied, segstream_err *err)
{
    uint64_t t0 = now_ns();
    batch b = {0};
    p->sink = sink;
    p->sink_failed = 0;
    size_t j = 0;
    int rc = prepare_batch(p, &b, events, n, 1, err);
    if (!rc && p->settings.keep_input_order)
        for (size_t i = 0; i < n; i++)
            b.order[i] = i;
    else if (!rc)
        rc = sort_batch(&b, n, err);
    if (!rc)
        rc = encode_items(p, &b, b.order, n, err);
    for (; !rc && j < n; j++) {
        rc = apply_one(p, &b, &b.items[b.order[j]], err);
        if (rc < 0 && p->sink_failed)
            segstream_err_prefix(err, "pipeline: output");
        if (rc == SEGSTREAM_PIPELINE_AT_BARRIER)
            break;
    }
    p->stats.events += rc == SEGSTREAM_PIPELINE_AT_BARRIER ? j : n;
    if (applied)
        *applied = j;
    batch_free(&b, n);
    p->stats.total_ns += now_ns() - t0;
    return rc;
}

int segstream_pipeline_process(segstream_pipeline *p, const segstream_pipeline_event *events, size_t n,
                               const segstream_pipeline_sink *sink, segstream_err *err)
{
    int rc = process(p, events, n, sink, NULL, err);
    if (rc == SEGSTREAM_PIPELINE_AT_BARRIER)
        return segstream_err_set(err, "pipeline: an event waits for a barrier of the partition models; use "
                                      "segstream_pipeline_process_to_barrier");
    return rc;
}

int segstream_pipeline_process_to_barrier(segstream_pipeline *p, const segstream_pipeline_event *events, size_t n,
                                          const segstream_pipeline_sink *sink, size_t *applied, segstream_err *err)
{
    if (!p->settings.keep_input_order)
        return segstream_err_set(err, "pipeline: stopping at a barrier needs the caller's order (keep_input_order)");
    return process(p, events, n, sink, applied, err);
}

int segstream_pipeline_own_partitions(segstream_pipeline *p, const int32_t *partitions, size_t n, segstream_err *err)
{
    if (segstream_stage_cluster_own(p->cluster, &p->settings, partitions, n, err))
        return segstream_err_prefix(err, "pipeline");
    return 0;
}

void segstream_pipeline_barrier_state(const segstream_pipeline *p, segstream_stage_barrier_state *st)
{
    segstream_stage_cluster_barrier_state(p->cluster, st);
}

int segstream_pipeline_barrier_take(segstream_pipeline *p, segstream_stage_delta **out, size_t *n, int64_t *wanted,
                                    segstream_err *err)
{
    if (segstream_stage_cluster_barrier_take(p->cluster, out, n, wanted, err))
        return segstream_err_prefix(err, "pipeline");
    return 0;
}

int segstream_pipeline_barrier_apply(segstream_pipeline *p, int64_t seq, const segstream_stage_delta *all, size_t n,
                                     int64_t pane, int64_t log_pos, const segstream_pipeline_sink *sink,
                                     long *applied, segstream_err *err)
{
    uint64_t t0 = now_ns();
    /* The barrier is the trigger: its outputs get ids from its number (two barriers in a
     * row without an event between would otherwise give a user's changes one id) and the
     * source of the last event applied here. */
    outputs_of_last_event(p, sink);
    char trigger_id[32];
    snprintf(trigger_id, sizeof trigger_id, "barrier-%" PRId64, seq);
    p->cur.event_id = trigger_id;
    segstream_stage_cluster_sink cs = {p, on_cluster_change, on_cluster_segment};
    int rc = segstream_stage_cluster_barrier_apply(p->cluster, seq, all, n, pane, log_pos, &cs, applied, err);
    if (rc)
        segstream_err_prefix(err, "pipeline");
    else if (p->sink_failed)
        rc = segstream_err_set(err, "pipeline: output: %s", p->sink_err.message);
    p->stats.total_ns += now_ns() - t0;
    return rc;
}

int segstream_pipeline_encode(segstream_pipeline *p, const segstream_pipeline_event *events, size_t n,
                              float *vectors, unsigned char *has_vector, segstream_err *err)
{
    uint64_t t0 = now_ns();
    batch b = {0};
    size_t *idx = calloc(n ? n : 1, sizeof *idx);
    int rc = idx ? prepare_batch(p, &b, events, n, 0, err) : segstream_err_set(err, "pipeline: out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        idx[i] = i;
        b.items[i].vector = NULL;
    }
    if (!rc)
        rc = encode_items(p, &b, idx, n, err);
    for (size_t i = 0; !rc && i < n; i++) {
        has_vector[i] = b.items[i].vector != NULL;
        if (has_vector[i])
            memcpy(vectors + i * (size_t)p->dim, b.items[i].vector, (size_t)p->dim * sizeof(float));
    }
    free(idx);
    batch_free(&b, n);
    p->stats.total_ns += now_ns() - t0;
    return rc;
}

int segstream_pipeline_finish(segstream_pipeline *p, const segstream_pipeline_sink *sink, segstream_err *err)
{
    uint64_t t0 = now_ns();
    outputs_of_last_event(p, sink);
    int bootstrapping = !p->settings.shared_model && segstream_stage_cluster_model_version(p->cluster) == 0;
    p->releasing = bootstrapping;
    segstream_stage_cluster_sink cs = {p, on_cluster_change, on_cluster_segment};
    long still = 0;
    int rc = segstream_stage_cluster_finish(p->cluster, &cs, &still, err);
    p->releasing = 0;
    if (!rc && bootstrapping && segstream_stage_cluster_model_version(p->cluster) > 0)
        segstream_pipeline_boot_clear(p);
    if (!rc && !p->sink_failed)
        segstream_stage_cluster_catalog(p->cluster, &cs);
    if (!rc && p->sink_failed)
        rc = segstream_err_set(err, "pipeline: output: %s", p->sink_err.message);
    p->stats.total_ns += now_ns() - t0;
    return rc;
}
