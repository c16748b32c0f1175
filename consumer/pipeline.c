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
#include "consumer/pipeline.h"

#include "consumer/avro_binary.h"
#include "consumer/codec_json.h"
#include "consumer/crc64avro.h"
#include "consumer/stage_cluster.h"
#include "model/encoder.h"
#include "model/tokenizer.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_USER_BYTES 255
#define SNAPSHOT_MAGIC "SGPL"
#define SNAPSHOT_VERSION 1

/* A buffered bootstrap event: whose change the bootstrap will release. */
typedef struct boot_entry {
    char *event_id;
    char *user_id;
    char *topic;
    int32_t partition;
    int64_t offset;
    int64_t event_time;
} boot_entry;

/* The event whose outputs are being emitted. */
typedef struct trigger {
    const char *event_id;
    segstream_event_source source;
} trigger;

/* (cause, user) keys already used by the current trigger, for ordinals: an
 * open-addressing table of 64-bit hashes (0 = empty), cleared per trigger
 * through the list of used slots. Load factor <= 1/2. */
typedef struct ordinal_table {
    uint64_t *keys;
    uint32_t *counts;
    size_t cap; /* power of two, or 0 */
    size_t *used;
    size_t n_used;
} ordinal_table;

struct segstream_pipeline {
    segstream_stage_settings settings; /* model_dir points to model_dir below */
    char *model_dir;
    segstream_encoder *enc;
    const segstream_tokenizer *tok;
    int dim;
    segstream_stage_cluster *cluster;

    boot_entry *boot; /* FIFO: entries [boot_head, n_boot) are pending */
    size_t boot_head, n_boot, cap_boot;

    char *last_event_id; /* the last applied event, for finish(); NULL before any */
    char *last_topic;
    int32_t last_partition;
    int64_t last_offset;

    /* per call */
    const segstream_pipeline_sink *sink;
    segstream_err sink_err;
    int sink_failed;
    trigger cur;
    int releasing; /* the model was bootstrapping when the current event arrived */
    ordinal_table ord;

    segstream_pipeline_stats stats;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- deterministic ids --------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

/* Two independent FNV-1a-style lanes over length-prefixed fields, finalised:
 * 128 bits, so distinct (event, cause, user, ordinal) never share an id in
 * practice. Not cryptographic; ids only need to be stable and distinct. */
typedef struct hash128 {
    uint64_t a, b;
} hash128;

static void h_bytes(hash128 *h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h->a = (h->a ^ p[i]) * UINT64_C(0x100000001b3);
        h->b = (h->b ^ p[i]) * UINT64_C(0x00000100000001b3) + UINT64_C(0x9e3779b97f4a7c15);
    }
}

static void h_field(hash128 *h, const char *s)
{
    uint64_t n = strlen(s);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    h_bytes(h, len, 8);
    h_bytes(h, s, n);
}

static void change_event_id(const char *event_id, int cause, const char *user, uint32_t ordinal, char out[33])
{
    hash128 h = {UINT64_C(0xcbf29ce484222325), UINT64_C(0x84222325cbf29ce4)};
    char num[16];
    h_field(&h, event_id);
    snprintf(num, sizeof num, "%d", cause);
    h_field(&h, num);
    h_field(&h, user);
    if (ordinal) { /* only repeats get one, so the usual id is hash(event, cause, user) */
        snprintf(num, sizeof num, "%" PRIu32, ordinal);
        h_field(&h, num);
    }
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, mix64(h.a), mix64(h.b ^ mix64(h.a)));
}

static void ord_clear(ordinal_table *t)
{
    for (size_t i = 0; i < t->n_used; i++)
        t->keys[t->used[i]] = 0;
    t->n_used = 0;
}

/* Returns how many times key was seen before in this trigger, or -1 (OOM). */
static long ord_bump(ordinal_table *t, uint64_t key)
{
    key |= 1; /* 0 marks an empty slot */
    if (2 * (t->n_used + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        uint64_t *keys = calloc(cap, sizeof *keys);
        uint32_t *counts = calloc(cap, sizeof *counts);
        size_t *used = malloc(cap / 2 * sizeof *used);
        if (!keys || !counts || !used) {
            free(keys), free(counts), free(used);
            return -1;
        }
        size_t n = 0;
        for (size_t i = 0; i < t->n_used; i++) {
            size_t s = t->used[i], j = (size_t)mix64(t->keys[s]) & (cap - 1);
            while (keys[j])
                j = (j + 1) & (cap - 1);
            keys[j] = t->keys[s];
            counts[j] = t->counts[s];
            used[n++] = j;
        }
        free(t->keys), free(t->counts), free(t->used);
        t->keys = keys, t->counts = counts, t->used = used, t->cap = cap;
    }
    size_t j = (size_t)mix64(key) & (t->cap - 1);
    while (t->keys[j] && t->keys[j] != key)
        j = (j + 1) & (t->cap - 1);
    if (t->keys[j])
        return t->counts[j]++;
    t->keys[j] = key;
    t->counts[j] = 1;
    t->used[t->n_used++] = j;
    return 0;
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
    hash128 k = {0, 0};
    h_field(&k, who.event_id);
    h_field(&k, ch->user_id);
    long ordinal = ord_bump(&p->ord, mix64(k.a ^ (uint64_t)ch->cause) ^ k.b);
    if (ordinal < 0) {
        sink_fail(p, "out of memory");
        return;
    }
    char id[33];
    change_event_id(who.event_id, ch->cause, ch->user_id, (uint32_t)ordinal, id);
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
    p->enc = segstream_encoder_open(settings->model_dir, &eo, err);
    if (!p->enc)
        goto fail;
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

static void free_boot(segstream_pipeline *p)
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
    free_boot(p);
    free(p->boot);
    free(p->last_event_id);
    free(p->last_topic);
    free(p->ord.keys), free(p->ord.counts), free(p->ord.used);
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
        free_boot(p);
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
    ord_clear(&p->ord);
    int bootstrapping = segstream_stage_cluster_model_version(p->cluster) == 0;
    if (bootstrapping && push_boot(p, ic, &ev->source)) {
        free(heap_words);
        return segstream_err_set(err, "pipeline: out of memory");
    }
    p->releasing = bootstrapping;
    segstream_stage_cluster_sink cs = {p, on_cluster_change, on_cluster_segment};
    const char *reason = NULL;
    char message[160];
    int rc = segstream_stage_cluster_apply(p->cluster, ic->user_id, (int)ic->op, it->vector,
                                           (const char *const *)wp, it->n_words, ic->event_time, &cs, &reason,
                                           message, err);
    free(heap_words);
    p->releasing = 0;
    if (rc < 0)
        return segstream_err_prefix(err, "pipeline: cluster, event %s", ic->event_id);
    if (bootstrapping && (rc == 1 || segstream_stage_cluster_model_version(p->cluster) > 0)) {
        if (rc == 1)
            drop_last_boot(p);
        else
            free_boot(p); /* the bootstrap released every buffered event */
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

int segstream_pipeline_process(segstream_pipeline *p, const segstream_pipeline_event *events, size_t n,
                               const segstream_pipeline_sink *sink, segstream_err *err)
{
    uint64_t t0 = now_ns();
    batch b = {0};
    p->sink = sink;
    p->sink_failed = 0;
    p->stats.events += n;
    int rc = prepare_batch(p, &b, events, n, 1, err);
    if (!rc)
        rc = sort_batch(&b, n, err);
    if (!rc)
        rc = encode_items(p, &b, b.order, n, err);
    for (size_t j = 0; !rc && j < n; j++) {
        rc = apply_one(p, &b, &b.items[b.order[j]], err);
        if (rc && p->sink_failed)
            segstream_err_prefix(err, "pipeline: output");
    }
    batch_free(&b, n);
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
    p->sink = sink;
    p->sink_failed = 0;
    segstream_event_source src = {p->last_topic ? p->last_topic : "", p->last_partition, p->last_offset};
    p->cur = (trigger){p->last_event_id ? p->last_event_id : "", src};
    ord_clear(&p->ord);
    int bootstrapping = segstream_stage_cluster_model_version(p->cluster) == 0;
    p->releasing = bootstrapping;
    segstream_stage_cluster_sink cs = {p, on_cluster_change, on_cluster_segment};
    long still = 0;
    int rc = segstream_stage_cluster_finish(p->cluster, &cs, &still, err);
    p->releasing = 0;
    if (!rc && bootstrapping && segstream_stage_cluster_model_version(p->cluster) > 0)
        free_boot(p);
    if (!rc && !p->sink_failed)
        segstream_stage_cluster_catalog(p->cluster, &cs);
    if (!rc && p->sink_failed)
        rc = segstream_err_set(err, "pipeline: output: %s", p->sink_err.message);
    p->stats.total_ns += now_ns() - t0;
    return rc;
}

/* --- snapshots ------------------------------------------------------------ */

static void put_str(segstream_buf *b, const char *s)
{
    segstream_avro_put_string(b, s ? s : "");
}

int segstream_pipeline_snapshot(const segstream_pipeline *p, uint8_t **blob, size_t *len, segstream_err *err)
{
    uint8_t *cb = NULL;
    size_t cl = 0;
    if (segstream_stage_cluster_snapshot(p->cluster, &cb, &cl, err))
        return segstream_err_prefix(err, "pipeline snapshot");
    segstream_buf b = {0};
    segstream_buf_put(&b, SNAPSHOT_MAGIC, 4);
    segstream_avro_put_long(&b, SNAPSHOT_VERSION);
    segstream_avro_put_long(&b, (int64_t)cl);
    segstream_buf_put(&b, cb, cl);
    free(cb);
    segstream_avro_put_long(&b, (int64_t)(p->n_boot - p->boot_head));
    for (size_t i = p->boot_head; i < p->n_boot; i++) {
        const boot_entry *e = &p->boot[i];
        put_str(&b, e->event_id);
        put_str(&b, e->user_id);
        put_str(&b, e->topic);
        segstream_avro_put_long(&b, e->partition);
        segstream_avro_put_long(&b, e->offset);
        segstream_avro_put_long(&b, e->event_time);
    }
    segstream_avro_put_long(&b, p->last_event_id != NULL);
    if (p->last_event_id) {
        put_str(&b, p->last_event_id);
        put_str(&b, p->last_topic);
        segstream_avro_put_long(&b, p->last_partition);
        segstream_avro_put_long(&b, p->last_offset);
    }
    uint64_t crc = segstream_crc64_avro(b.data, b.len);
    uint8_t tail[8];
    for (int i = 0; i < 8; i++)
        tail[i] = (uint8_t)(crc >> (8 * i));
    segstream_buf_put(&b, tail, 8);
    if (b.oom) {
        segstream_buf_free(&b);
        return segstream_err_set(err, "pipeline snapshot: out of memory");
    }
    *blob = b.data;
    *len = b.len;
    return 0;
}

int segstream_pipeline_restore(segstream_pipeline *p, const uint8_t *blob, size_t len, segstream_err *err)
{
    if (len < 4 + 8 || memcmp(blob, SNAPSHOT_MAGIC, 4))
        return segstream_err_set(err, "pipeline restore: not a pipeline snapshot (bad magic or too short)");
    uint64_t crc = 0;
    for (int i = 0; i < 8; i++)
        crc |= (uint64_t)blob[len - 8 + i] << (8 * i);
    if (crc != segstream_crc64_avro(blob, len - 8))
        return segstream_err_set(err, "pipeline restore: checksum mismatch (corrupt or truncated snapshot)");
    segstream_avro_reader r = {blob, len - 8, 4, 0, err};
    int64_t version, cl;
    if (segstream_avro_get_long(&r, "version", &version) || segstream_avro_get_long(&r, "cluster_len", &cl))
        return segstream_err_prefix(err, "pipeline restore");
    if (version != SNAPSHOT_VERSION)
        return segstream_err_set(err, "pipeline restore: snapshot version %" PRId64 ", this build reads %d", version,
                                 SNAPSHOT_VERSION);
    if (cl < 0 || (uint64_t)cl > r.len - r.pos)
        return segstream_err_set(err, "pipeline restore: cluster blob of %" PRId64 " bytes overruns the snapshot", cl);
    segstream_stage_cluster *c = segstream_stage_cluster_restore(blob + r.pos, (size_t)cl, err);
    if (!c)
        return segstream_err_prefix(err, "pipeline restore");
    r.pos += (size_t)cl;
    segstream_pipeline tmp = {0}; /* the pipeline's own state, swapped in on success */
    int64_t n_boot, has_last;
    int rc = segstream_avro_get_long(&r, "boot_count", &n_boot);
    if (!rc && (n_boot < 0 || (uint64_t)n_boot > r.len - r.pos))
        rc = segstream_err_set(err, "boot_count %" PRId64 " is impossible", n_boot);
    if (!rc && n_boot > 0) {
        tmp.boot = calloc((size_t)n_boot, sizeof *tmp.boot);
        tmp.cap_boot = (size_t)n_boot;
        if (!tmp.boot)
            rc = segstream_err_set(err, "out of memory");
    }
    for (int64_t i = 0; !rc && i < n_boot; i++) {
        boot_entry *e = &tmp.boot[i];
        tmp.n_boot++;
        int64_t part;
        rc = segstream_avro_get_string(&r, "boot.event_id", &e->event_id) ||
             segstream_avro_get_string(&r, "boot.user_id", &e->user_id) ||
             segstream_avro_get_string(&r, "boot.topic", &e->topic) ||
             segstream_avro_get_long(&r, "boot.partition", &part) ||
             segstream_avro_get_long(&r, "boot.offset", &e->offset) ||
             segstream_avro_get_long(&r, "boot.event_time", &e->event_time);
        e->partition = (int32_t)part;
    }
    if (!rc)
        rc = segstream_avro_get_long(&r, "has_last", &has_last);
    if (!rc && has_last) {
        int64_t part;
        rc = segstream_avro_get_string(&r, "last.event_id", &tmp.last_event_id) ||
             segstream_avro_get_string(&r, "last.topic", &tmp.last_topic) ||
             segstream_avro_get_long(&r, "last.partition", &part) ||
             segstream_avro_get_long(&r, "last.offset", &tmp.last_offset);
        tmp.last_partition = (int32_t)part;
    }
    if (!rc && r.pos != r.len)
        rc = segstream_err_set(err, "%zu trailing bytes", r.len - r.pos);
    if (rc) {
        free_boot(&tmp);
        free(tmp.boot), free(tmp.last_event_id), free(tmp.last_topic);
        segstream_stage_cluster_free(c);
        return segstream_err_prefix(err, "pipeline restore");
    }
    segstream_stage_cluster_free(p->cluster);
    p->cluster = c;
    free_boot(p);
    free(p->boot), free(p->last_event_id), free(p->last_topic);
    p->boot = tmp.boot, p->n_boot = tmp.n_boot, p->cap_boot = tmp.cap_boot, p->boot_head = 0;
    p->last_event_id = tmp.last_event_id, p->last_topic = tmp.last_topic;
    p->last_partition = tmp.last_partition, p->last_offset = tmp.last_offset;
    return 0;
}
