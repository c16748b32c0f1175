/* report.c - the report's model, built from catalog records, changes and
 * events; see report.h for what is derived and the rules it follows.
 *
 * Records are reduced as they arrive to what the page needs: per segment its
 * size points and latest label/centroid, per change five numbers, per event
 * only the text of events some change points at. The catalog's order is
 * replayed once in finish() to know the total active size and the active
 * count after every model update (the retirement threshold). */
#include "consumer/report.h"
#include "consumer/report_index.h"
#include "consumer/report_pca.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One catalog record as replayed in finish(). */
typedef struct cat_step {
    size_t seg; /* index into segs */
    int64_t time;
    double size;
    bool active;
} cat_step;

typedef struct change_row {
    uint32_t user;
    int64_t time;
    int64_t segment; /* -1 = none */
    int64_t source_offset;
    uint8_t cause;
} change_row;

typedef struct event_row {
    uint32_t user;
    int64_t time, position;
    char *text;
    int64_t next; /* next event of the same (user, time), -1 = none */
} event_row;

struct segstream_report {
    segstream_report_options opt;
    segstream_report_segment *segs;
    size_t nsegs, capsegs;
    bool sorted;
    int64_t *merge_candidate; /* per seg: nearest older active id at retirement, -1 */
    cat_step *steps;
    size_t nsteps, capsteps;
    change_row *changes;
    size_t nchanges, capchanges;
    event_row *events;
    size_t nevents, capevents;
    segstream_report_names users;
    char **user_text;       /* per user: the text of their latest event, or NULL */
    int64_t *user_text_time;
    size_t capusers;
    segstream_report_map seg_index;   /* segment id -> index in segs (until sorted) */
    segstream_report_map event_index; /* key2(user, time) -> first event, or -2 = wanted, none yet */
    segstream_report_bin *bins;
    size_t nbins;
    int64_t bin_width;
    segstream_report_totals totals;
    bool finished;
};

segstream_report_options segstream_report_default_options(void)
{
    return (segstream_report_options){.retire_share = 0.05, .max_examples = 5, .max_time_bins = 80};
}

segstream_report *segstream_report_new(const segstream_report_options *opts)
{
    segstream_report *r = calloc(1, sizeof *r);
    if (r)
        r->opt = opts ? *opts : segstream_report_default_options();
    return r;
}

static void free_strings(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

void segstream_report_free(segstream_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nsegs; i++) {
        segstream_report_segment *s = &r->segs[i];
        free_strings(s->label, s->label_count);
        free_strings(s->examples, s->nexamples);
        free(s->centroid);
        free(s->points);
    }
    for (size_t i = 0; i < r->nevents; i++)
        free(r->events[i].text);
    for (size_t i = 0; i < r->capusers && r->user_text; i++)
        free(r->user_text[i]);
    free(r->user_text), free(r->user_text_time);
    free(r->segs), free(r->merge_candidate), free(r->steps), free(r->changes), free(r->events), free(r->bins);
    segstream_report_names_free(&r->users);
    segstream_report_map_free(&r->seg_index);
    segstream_report_map_free(&r->event_index);
    free(r);
}

/* Grows *arr (element size `size`) to hold one more; 0 or -1. */
static int reserve(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 64;
    void *p = realloc(*arr, c * size);
    if (!p)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

static void note_time(segstream_report *r, int64_t t)
{
    if (!r->totals.first_time && !r->totals.last_time)
        r->totals.first_time = r->totals.last_time = t;
    if (t < r->totals.first_time)
        r->totals.first_time = t;
    if (t > r->totals.last_time)
        r->totals.last_time = t;
}

static float cosine(const float *a, const float *b, size_t d)
{
    double s = 0, na = 0, nb = 0;
    for (size_t i = 0; i < d; i++)
        s += (double)a[i] * b[i], na += (double)a[i] * a[i], nb += (double)b[i] * b[i];
    return na > 0 && nb > 0 ? (float)(s / sqrt(na * nb)) : -2.0f;
}

/* The nearest (by last centroid) active segment older than segs[i]: where
 * the cluster merges a younger duplicate. -1 when none has a centroid. */
static int64_t nearest_older(const segstream_report *r, size_t i)
{
    const segstream_report_segment *from = &r->segs[i];
    int64_t best_id = -1;
    float best = -3;
    if (!from->centroid)
        return -1;
    for (size_t j = 0; j < r->nsegs; j++) {
        const segstream_report_segment *s = &r->segs[j];
        if (j == i || !s->active || s->id >= from->id || !s->centroid || s->dim != from->dim)
            continue;
        float c = cosine(from->centroid, s->centroid, from->dim);
        if (c > best)
            best = c, best_id = s->id;
    }
    return best_id;
}

static char **copy_strings(char *const *src, size_t n)
{
    char **out = calloc(n ? n : 1, sizeof *out);
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = strdup(src[i]))) {
            free_strings(out, i);
            return NULL;
        }
    return out;
}

int segstream_report_add_segment(segstream_report *r, const segstream_segment *rec, segstream_err *err)
{
    if (r->finished)
        return segstream_err_set(err, "report: catalog record after finish");
    int64_t *slot = segstream_report_map_get(&r->seg_index, (uint64_t)rec->segment_id, (int64_t)r->nsegs, 1);
    if (!slot || *slot < 0)
        return segstream_err_set(err, "report: out of memory");
    size_t i = (size_t)*slot;
    if (i == r->nsegs) {
        if (reserve((void **)&r->segs, &r->capsegs, r->nsegs, sizeof *r->segs) < 0) {
            *slot = -1; /* not reachable again: the map keeps the key */
            return segstream_err_set(err, "report: out of memory");
        }
        int64_t *cand = realloc(r->merge_candidate, r->capsegs * sizeof *cand);
        if (!cand)
            return segstream_err_set(err, "report: out of memory");
        r->merge_candidate = cand;
        cand[i] = -1;
        segstream_report_segment *s = &r->segs[r->nsegs++];
        memset(s, 0, sizeof *s);
        s->id = rec->segment_id;
        s->merged_into = -1;
        s->active = true;
    }
    segstream_report_segment *s = &r->segs[i];
    bool active = rec->status == SEGSTREAM_SEGMENT_ACTIVE;
    r->totals.catalog_records++;
    note_time(r, rec->updated_time);
    if (rec->model_version > r->totals.model_version)
        r->totals.model_version = rec->model_version;
    /* The final catalog repeats the last records: one point per distinct one. */
    if (s->npoints && s->points[s->npoints - 1].time == rec->updated_time && s->active == active &&
        s->points[s->npoints - 1].size == rec->size)
        return 0;
    if (s->active && !active) /* retiring now: while the others' centroids are current */
        r->merge_candidate[i] = nearest_older(r, i);
    s->active = active;
    s->has_parent = rec->has_parent;
    s->parent = rec->parent;
    s->created_time = rec->created_time;
    s->size = rec->size;
    if (!active)
        s->end_time = rec->updated_time;
    if (rec->label_count) {
        char **label = copy_strings(rec->label, rec->label_count);
        if (!label)
            return segstream_err_set(err, "report: out of memory");
        free_strings(s->label, s->label_count);
        s->label = label;
        s->label_count = rec->label_count;
    }
    if (rec->has_centroid && rec->centroid_len) {
        if (s->dim != rec->centroid_len) {
            float *c = realloc(s->centroid, rec->centroid_len * sizeof *c);
            if (!c)
                return segstream_err_set(err, "report: out of memory");
            s->centroid = c;
            s->dim = rec->centroid_len;
        }
        memcpy(s->centroid, rec->centroid, s->dim * sizeof *s->centroid);
    }
    size_t cap = s->npoints; /* grow by powers of two: realloc when npoints is one */
    if ((cap & (cap - 1)) == 0) {
        segstream_report_point *p = realloc(s->points, (cap ? cap * 2 : 1) * sizeof *p);
        if (!p)
            return segstream_err_set(err, "report: out of memory");
        s->points = p;
    }
    s->points[s->npoints++] = (segstream_report_point){.time = rec->updated_time, .size = rec->size};
    if (reserve((void **)&r->steps, &r->capsteps, r->nsteps, sizeof *r->steps) < 0)
        return segstream_err_set(err, "report: out of memory");
    r->steps[r->nsteps++] = (cat_step){.seg = i, .time = rec->updated_time, .size = rec->size, .active = active};
    return 0;
}

int segstream_report_add_change(segstream_report *r, const segstream_segment_change *c, segstream_err *err)
{
    if (r->finished)
        return segstream_err_set(err, "report: change after finish");
    if ((unsigned)c->cause > 3)
        return segstream_err_set(err, "report: change %s: cause %d out of range", c->event_id, (int)c->cause);
    int64_t user = segstream_report_names_get(&r->users, c->user_id, strlen(c->user_id), 1);
    if (user < 0 || reserve((void **)&r->changes, &r->capchanges, r->nchanges, sizeof *r->changes) < 0)
        return segstream_err_set(err, "report: out of memory");
    r->changes[r->nchanges++] = (change_row){.user = (uint32_t)user,
                                             .time = c->event_time,
                                             .segment = c->has_segment ? c->segment : -1,
                                             .source_offset = c->source_offset,
                                             .cause = (uint8_t)c->cause};
    r->totals.changes++;
    r->totals.changes_by_cause[c->cause]++;
    note_time(r, c->event_time);
    /* The event behind a move into a segment is wanted for its text. */
    if (c->cause == SEGSTREAM_CAUSE_INTEREST_CHANGED && c->has_segment &&
        !segstream_report_map_get(&r->event_index, segstream_report_key2((uint64_t)user, (uint64_t)c->event_time),
                                  -2, 1))
        return segstream_err_set(err, "report: out of memory");
    return 0;
}

/* Keeps the text of each user's latest event (for current members' examples). */
static int remember_text(segstream_report *r, size_t user, const segstream_interest_change *e)
{
    if (!r->user_text) {
        r->capusers = r->users.count;
        r->user_text = calloc(r->capusers ? r->capusers : 1, sizeof *r->user_text);
        r->user_text_time = calloc(r->capusers ? r->capusers : 1, sizeof *r->user_text_time);
        if (!r->user_text || !r->user_text_time)
            return -1;
    }
    if (user >= r->capusers || (r->user_text[user] && e->event_time < r->user_text_time[user]))
        return 0;
    char *text = strdup(e->text);
    if (!text)
        return -1;
    free(r->user_text[user]);
    r->user_text[user] = text;
    r->user_text_time[user] = e->event_time;
    return 0;
}

int segstream_report_add_event(segstream_report *r, const segstream_interest_change *e, int64_t position,
                               segstream_err *err)
{
    if (r->finished)
        return segstream_err_set(err, "report: event after finish");
    r->totals.events++;
    if (!e->text)
        return 0;
    int64_t user = segstream_report_names_get(&r->users, e->user_id, strlen(e->user_id), 0);
    if (user < 0)
        return 0;
    if (remember_text(r, (size_t)user, e) < 0)
        return segstream_err_set(err, "report: out of memory");
    int64_t *head =
        segstream_report_map_get(&r->event_index, segstream_report_key2((uint64_t)user, (uint64_t)e->event_time), 0, 0);
    if (!head)
        return 0; /* no change points at it */
    if (reserve((void **)&r->events, &r->capevents, r->nevents, sizeof *r->events) < 0)
        return segstream_err_set(err, "report: out of memory");
    char *text = strdup(e->text);
    if (!text)
        return segstream_err_set(err, "report: out of memory");
    /* Append to the (user, time) chain, keeping input order. */
    r->events[r->nevents] = (event_row){.user = (uint32_t)user, .time = e->event_time, .position = position,
                                        .text = text, .next = -1};
    if (*head < 0) {
        *head = (int64_t)r->nevents;
    } else {
        int64_t k = *head;
        while (r->events[k].next >= 0)
            k = r->events[k].next;
        r->events[k].next = (int64_t)r->nevents;
    }
    r->nevents++;
    return 0;
}

/* The text of the event behind change c, or NULL. */
static const char *change_text(const segstream_report *r, const change_row *c)
{
    int64_t *head = segstream_report_map_get((segstream_report_map *)&r->event_index,
                                             segstream_report_key2(c->user, (uint64_t)c->time), 0, 0);
    const event_row *first = NULL;
    for (int64_t k = head ? *head : -1; k >= 0; k = r->events[k].next) {
        const event_row *e = &r->events[k];
        if (e->user != c->user || e->time != c->time)
            continue; /* a 64-bit key collision */
        if (!first)
            first = e;
        if (e->position == c->source_offset)
            return e->text; /* file mode: line numbers on both sides */
    }
    for (int64_t k = head ? *head : -1; k >= 0; k = r->events[k].next)
        if (r->events[k].user == c->user && r->events[k].time == c->time &&
            r->events[k].position == c->source_offset + 1)
            return r->events[k].text; /* events file produced in order to a one-partition topic */
    return first ? first->text : NULL;
}

static int cmp_seg(const void *a, const void *b)
{
    const segstream_report_segment *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Replays the catalog: the end of each retired segment, and k. */
static int classify_ends(segstream_report *r, segstream_err *err)
{
    double *cur = calloc(r->nsegs ? r->nsegs : 1, sizeof *cur);
    bool *on = calloc(r->nsegs ? r->nsegs : 1, sizeof *on);
    size_t *retired_at = malloc((r->nsteps ? r->nsteps : 1) * sizeof *retired_at), nretired = 0;
    if (!cur || !on || !retired_at) {
        free(cur), free(on), free(retired_at);
        return segstream_err_set(err, "report: out of memory");
    }
    size_t active = 0;
    for (size_t i = 0; i < r->nsteps; i++) {
        const cat_step *st = &r->steps[i];
        if (st->active && !on[st->seg])
            active++;
        if (!st->active && on[st->seg]) {
            active--;
            retired_at[nretired++] = i;
        }
        on[st->seg] = st->active;
        cur[st->seg] = st->size;
        /* Counted once an update's records are all in: within one, a split's
         * children may be read before their parent's retirement. */
        bool update_done = i + 1 == r->nsteps || r->steps[i + 1].time != st->time;
        if (update_done && active > r->totals.max_active)
            r->totals.max_active = active;
    }
    /* Children name their parent: those ends are splits. */
    for (size_t i = 0; i < r->nsegs; i++)
        if (r->segs[i].has_parent) {
            int64_t *p = segstream_report_map_get(&r->seg_index, (uint64_t)r->segs[i].parent, 0, 0);
            if (p && *p >= 0 && !r->segs[*p].active)
                r->segs[*p].end = SEGSTREAM_REPORT_END_SPLIT;
        }
    /* The rest: the total active size after the update that retired them
     * (every record of the same time replayed) against the threshold. */
    memset(cur, 0, r->nsegs * sizeof *cur);
    memset(on, 0, r->nsegs * sizeof *on);
    size_t next = 0;
    for (size_t i = 0; i < r->nsteps; i++) {
        const cat_step *st = &r->steps[i];
        on[st->seg] = st->active;
        cur[st->seg] = st->size;
        bool update_done = i + 1 == r->nsteps || r->steps[i + 1].time != st->time;
        if (!update_done)
            continue;
        double total = 0;
        for (size_t s = 0; s < r->nsegs; s++)
            if (on[s])
                total += cur[s];
        double threshold = r->totals.max_active ? r->opt.retire_share * total / (double)r->totals.max_active : 0;
        for (; next < nretired && retired_at[next] <= i; next++) {
            const cat_step *ret = &r->steps[retired_at[next]];
            segstream_report_segment *s = &r->segs[ret->seg];
            if (s->end == SEGSTREAM_REPORT_END_SPLIT)
                continue;
            if (ret->size >= threshold) {
                s->end = SEGSTREAM_REPORT_END_MERGED;
                s->merged_into = r->merge_candidate[ret->seg];
            } else {
                s->end = SEGSTREAM_REPORT_END_RETIRED;
            }
        }
    }
    free(cur), free(on), free(retired_at);
    return 0;
}

static int add_example(segstream_report_segment *s, const char *text, size_t max)
{
    if (s->nexamples >= max)
        return 0;
    for (size_t i = 0; i < s->nexamples; i++)
        if (!strcmp(s->examples[i], text))
            return 0;
    if (!s->examples && !(s->examples = calloc(max, sizeof *s->examples)))
        return -1;
    if (!(s->examples[s->nexamples] = strdup(text)))
        return -1;
    s->nexamples++;
    return 0;
}

typedef struct user_time {
    int64_t time, offset;
    const char *name; /* user id: ties broken by it, not by reading order */
    size_t index;     /* user number, or change index */
} user_time;

/* Newest first; ties by offset, then user id, so the choice does not depend
 * on how a topic's partitions interleaved. */
static int cmp_user_time(const void *a, const void *b)
{
    const user_time *x = a, *y = b;
    if (x->time != y->time)
        return x->time > y->time ? -1 : 1;
    if (x->offset != y->offset)
        return x->offset > y->offset ? -1 : 1;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

static int derive_examples(segstream_report *r, segstream_err *err)
{
    size_t nusers = r->users.count;
    int64_t *final = malloc((nusers ? nusers : 1) * sizeof *final);
    if (!final)
        return segstream_err_set(err, "report: out of memory");
    for (size_t u = 0; u < nusers; u++)
        final[u] = -1;
    for (size_t i = 0; i < r->nchanges; i++)
        final[r->changes[i].user] = r->changes[i].segment;
    for (size_t u = 0; u < nusers; u++) {
        const segstream_report_segment *s = final[u] >= 0 ? segstream_report_find(r, final[u]) : NULL;
        if (s)
            ((segstream_report_segment *)s)->members++;
    }
    /* Current members' latest texts, newest first. */
    user_time *order = malloc((nusers ? nusers : 1) * sizeof *order);
    size_t nmembers = 0;
    if (!order) {
        free(final);
        return segstream_err_set(err, "report: out of memory");
    }
    for (size_t u = 0; r->user_text && u < nusers && u < r->capusers; u++)
        if (final[u] >= 0 && r->user_text[u])
            order[nmembers++] = (user_time){.time = r->user_text_time[u], .name = r->users.names[u], .index = u};
    qsort(order, nmembers, sizeof *order, cmp_user_time);
    for (size_t i = 0; i < nmembers; i++) {
        size_t u = order[i].index;
        segstream_report_segment *s = (segstream_report_segment *)segstream_report_find(r, final[u]);
        if (s && s->active && add_example(s, r->user_text[u], r->opt.max_examples) < 0) {
            free(final), free(order);
            return segstream_err_set(err, "report: out of memory");
        }
    }
    /* Then the events that moved users in, newest first; current members in
     * the first pass, users since gone in the second. */
    size_t nmoves = 0;
    for (size_t i = 0; i < r->nchanges; i++)
        nmoves += r->changes[i].cause == SEGSTREAM_CAUSE_INTEREST_CHANGED && r->changes[i].segment >= 0;
    user_time *moves = r->nevents && nmoves ? malloc(nmoves * sizeof *moves) : NULL;
    if (r->nevents && nmoves && !moves) {
        free(final), free(order);
        return segstream_err_set(err, "report: out of memory");
    }
    nmoves = 0;
    for (size_t i = 0; moves && i < r->nchanges; i++) {
        const change_row *c = &r->changes[i];
        if (c->cause == SEGSTREAM_CAUSE_INTEREST_CHANGED && c->segment >= 0)
            moves[nmoves++] = (user_time){.time = c->time, .offset = c->source_offset,
                                          .name = r->users.names[c->user], .index = i};
    }
    if (moves)
        qsort(moves, nmoves, sizeof *moves, cmp_user_time);
    for (int pass = 0; pass < 2 && moves; pass++)
        for (size_t m = 0; m < nmoves; m++) {
            const change_row *c = &r->changes[moves[m].index];
            if ((final[c->user] == c->segment) != !pass)
                continue;
            segstream_report_segment *s = (segstream_report_segment *)segstream_report_find(r, c->segment);
            if (!s || !s->active || s->nexamples >= r->opt.max_examples)
                continue;
            const char *text = change_text(r, c);
            if (text && add_example(s, text, r->opt.max_examples) < 0) {
                free(final), free(order), free(moves);
                return segstream_err_set(err, "report: out of memory");
            }
        }
    free(order);
    free(moves);
    size_t matched = 0;
    for (size_t i = 0; i < r->nchanges; i++)
        if (r->changes[i].cause == SEGSTREAM_CAUSE_INTEREST_CHANGED && r->changes[i].segment >= 0 &&
            change_text(r, &r->changes[i]))
            matched++;
    r->totals.events_matched = matched;
    free(final);
    return 0;
}

static int place_on_map(segstream_report *r, segstream_err *err)
{
    size_t n = 0, dim = 0;
    for (size_t i = 0; i < r->nsegs; i++)
        if (r->segs[i].active && r->segs[i].centroid && (!dim || r->segs[i].dim == dim))
            dim = r->segs[i].dim, n++;
    if (!n)
        return 0;
    float *x = malloc(n * dim * sizeof *x);
    double *xy = malloc(n * 2 * sizeof *xy);
    if (!x || !xy) {
        free(x), free(xy);
        return segstream_err_set(err, "report: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < r->nsegs; i++)
        if (r->segs[i].active && r->segs[i].centroid && r->segs[i].dim == dim)
            memcpy(x + k++ * dim, r->segs[i].centroid, dim * sizeof *x);
    int rc = segstream_pca2(x, n, dim, xy, r->totals.map_variance, err);
    if (rc == 0) {
        double total = 0;
        for (size_t j = 0; j < dim; j++) {
            double m = 0, q = 0;
            for (size_t i = 0; i < n; i++)
                m += x[i * dim + j];
            m /= (double)n;
            for (size_t i = 0; i < n; i++)
                q += (x[i * dim + j] - m) * (x[i * dim + j] - m);
            total += q / (double)n;
        }
        r->totals.total_variance = total;
        k = 0;
        for (size_t i = 0; i < r->nsegs; i++)
            if (r->segs[i].active && r->segs[i].centroid && r->segs[i].dim == dim) {
                r->segs[i].map_x = xy[2 * k], r->segs[i].map_y = xy[2 * k + 1];
                r->segs[i].on_map = true;
                k++;
            }
    }
    free(x), free(xy);
    return rc;
}

/* A width from a fixed ladder of round durations: at most max_bins buckets. */
static int bin_changes(segstream_report *r, segstream_err *err)
{
    if (!r->nchanges)
        return 0;
    static const int64_t ladder[] = {60000LL, 300000LL, 900000LL, 3600000LL, 21600000LL, 86400000LL,
                                     604800000LL, 2592000000LL, 7776000000LL, 31536000000LL};
    int64_t lo = r->changes[0].time, hi = lo;
    for (size_t i = 0; i < r->nchanges; i++) {
        if (r->changes[i].time < lo)
            lo = r->changes[i].time;
        if (r->changes[i].time > hi)
            hi = r->changes[i].time;
    }
    size_t max_bins = r->opt.max_time_bins ? r->opt.max_time_bins : 80;
    int64_t w = ladder[sizeof ladder / sizeof ladder[0] - 1];
    for (size_t i = 0; i < sizeof ladder / sizeof ladder[0]; i++)
        if ((hi - lo) / ladder[i] + 1 <= (int64_t)max_bins) {
            w = ladder[i];
            break;
        }
    while ((hi - lo) / w + 1 > (int64_t)max_bins) /* spans beyond the ladder */
        w *= 2;
    int64_t start = lo >= 0 ? lo / w * w : -((-lo + w - 1) / w) * w;
    size_t n = (size_t)((hi - start) / w + 1);
    r->bins = calloc(n, sizeof *r->bins);
    if (!r->bins)
        return segstream_err_set(err, "report: out of memory");
    for (size_t b = 0; b < n; b++)
        r->bins[b].start = start + (int64_t)b * w;
    for (size_t i = 0; i < r->nchanges; i++)
        r->bins[(r->changes[i].time - start) / w].count[r->changes[i].cause]++;
    r->nbins = n;
    r->bin_width = w;
    return 0;
}

int segstream_report_finish(segstream_report *r, segstream_err *err)
{
    if (r->finished)
        return segstream_err_set(err, "report: finished twice");
    r->finished = true;
    if (classify_ends(r, err) < 0)
        return -1;
    if (r->nsegs)
        qsort(r->segs, r->nsegs, sizeof *r->segs, cmp_seg);
    r->sorted = true;
    if (place_on_map(r, err) < 0 || derive_examples(r, err) < 0 || bin_changes(r, err) < 0)
        return -1;
    return 0;
}

const segstream_report_segment *segstream_report_segments(const segstream_report *r, size_t *n)
{
    *n = r->nsegs;
    return r->segs;
}

const segstream_report_segment *segstream_report_find(const segstream_report *r, int64_t id)
{
    if (!r->sorted) {
        int64_t *i = segstream_report_map_get((segstream_report_map *)&r->seg_index, (uint64_t)id, 0, 0);
        return i && *i >= 0 ? &r->segs[*i] : NULL;
    }
    size_t lo = 0, hi = r->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->segs[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < r->nsegs && r->segs[lo].id == id ? &r->segs[lo] : NULL;
}

const segstream_report_bin *segstream_report_bins(const segstream_report *r, size_t *n, int64_t *width_ms)
{
    *n = r->nbins;
    if (width_ms)
        *width_ms = r->bin_width;
    return r->bins;
}

const segstream_report_totals *segstream_report_get_totals(const segstream_report *r)
{
    return &r->totals;
}
