/* test_shared.c - a shared model (options.shared_model): several models, each
 * fed its own users, exchange deltas at barriers and hold the same model as
 * one model fed everything: the same catalog, byte for byte, whatever the
 * number of sharers or the order the deltas are given in; users land (nearly
 * all) in the same segments; a snapshot taken between a take and its barrier restores to
 * the same bytes and the same future; damaged or stale deltas are refused and
 * change nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "helpers.h"

#define D 24
#define TOPICS 6
#define USERS 400
#define N_EVENTS 6000
#define MAX_SHARERS 4
#define SHARDS 6 /* input partitions: user u's is u % SHARDS, owned by sharer shard % n */

static const char *topic_words[TOPICS][3] = {
    {"python", "pandas", "numpy"},   {"football", "goal", "match"}, {"kafka", "stream", "broker"},
    {"jazz", "piano", "trumpet"},    {"tomato", "basil", "pasta"},  {"galaxy", "telescope", "orbit"},
};
static const char *filler[] = {"the", "really", "new", "like", "good", "things"};

static segstream_cluster_options opts(void)
{
    segstream_cluster_options o = segstream_cluster_default_options();
    o.dim = D;
    o.k = TOPICS;
    o.pane_ms = 10000;
    o.window_ms = 200000;
    o.half_life_ms = 60000;
    o.allowed_lateness_ms = 3000;
    o.init_sample = 300;
    o.kmeans_restarts = 3;
    o.reassign_slice = 7;
    o.label_table_size = 16;
    o.label_terms = 3;
    o.reservoir_size = 8;
    o.shared_model = 1;
    return o;
}

/* Event i (deterministic in i): a user's interest in one of the topics, which
 * drift for some users half way through; times advance 250 ms an event with
 * some events late (inside the lateness) and a few too late. */
static void make_event(int i, segstream_cluster_event *ev, float *v, char *user, const char **words, int *user_no)
{
    uint64_t s = 0xabc + (uint64_t)i * 104729;
    int u = (int)(t_next(&s) % USERS);
    int topic = (u + (i > N_EVENTS / 2 && u % 4 == 0 ? 1 : 0)) % TOPICS;
    t_vector(&s, D, topic, 0.15, v);
    snprintf(user, 32, "user-%d", u);
    uint64_t r = t_next(&s) % 100;
    int op = r < 55 ? SEGSTREAM_CLUSTER_OP_SET : r < 97 ? SEGSTREAM_CLUSTER_OP_ADD : SEGSTREAM_CLUSTER_OP_DELETE;
    int64_t t = 1000000 + 250LL * i;
    uint64_t q = t_next(&s) % 100;
    if (q < 10)
        t -= (int64_t)(t_next(&s) % 2500);
    else if (q < 11)
        t -= 400000; /* before the window */
    size_t nw = (size_t)(t_next(&s) % 4);
    for (size_t w = 0; w < nw; w++)
        words[w] = w % 2 ? filler[t_next(&s) % 6] : topic_words[topic][t_next(&s) % 3];
    *ev = (segstream_cluster_event){user, op, v, words, nw, t, u % SHARDS};
    *user_no = u;
}

typedef struct sharers {
    int n;
    segstream_cluster *m[MAX_SHARERS];
    recorder rec[MAX_SHARERS];
    int64_t pane; /* of the last barrier */
    long barriers;
    int reverse;  /* give the deltas in reverse order */
} sharers;

/* Every shard's owner takes the shard's delta; every sharer applies all of them. */
static void barrier_all(sharers *g, int64_t pane, int final)
{
    uint8_t *bytes[SHARDS];
    size_t lens[SHARDS];
    segstream_err err = {{0}};
    for (int s = 0; s < SHARDS; s++)
        if (segstream_cluster_delta_take(g->m[s % g->n], s, &bytes[s], &lens[s], &err))
            fail_msg("take: %s", err.message);
    const uint8_t *given[SHARDS];
    size_t given_lens[SHARDS];
    for (int s = 0; s < SHARDS; s++) {
        int from = g->reverse ? SHARDS - 1 - s : s;
        given[s] = bytes[from];
        given_lens[s] = lens[from];
    }
    for (int j = 0; j < g->n; j++) {
        segstream_cluster_sink sink = rec_sink(&g->rec[j]);
        if (segstream_cluster_barrier(g->m[j], given, given_lens, SHARDS, pane, final, &sink, &err))
            fail_msg("barrier at pane %lld: %s", (long long)pane, err.message);
    }
    for (int s = 0; s < SHARDS; s++)
        free(bytes[s]);
    g->pane = pane;
    g->barriers++;
}

/* Feeds events [from, to) in order, each to the sharer of its user. */
static void feed(sharers *g, int from, int to)
{
    for (int i = from; i < to; i++) {
        segstream_cluster_event ev;
        float v[D];
        char user[32];
        const char *words[4];
        int u;
        make_event(i, &ev, v, user, words, &u);
        int j = (u % SHARDS) % g->n;
        segstream_cluster_sink sink = rec_sink(&g->rec[j]);
        segstream_cluster_reject rj;
        segstream_err err = {{0}};
        int rc = segstream_cluster_update(g->m[j], &ev, &sink, &rj, &err);
        if (rc == SEGSTREAM_CLUSTER_AT_BARRIER) {
            barrier_all(g, segstream_cluster_barrier_wanted(g->m[j]), 0);
            rc = segstream_cluster_update(g->m[j], &ev, &sink, &rj, &err);
        }
        if (rc < 0 || rc == SEGSTREAM_CLUSTER_AT_BARRIER)
            fail_msg("event %d: rc %d %s", i, rc, err.message);
    }
}

static void start(sharers *g, int n)
{
    memset(g, 0, sizeof *g);
    g->n = n;
    segstream_cluster_options o = opts();
    segstream_err err = {{0}};
    for (int j = 0; j < n; j++)
        assert_non_null(g->m[j] = segstream_cluster_create(&o, &err));
}

static void finish(sharers *g)
{
    barrier_all(g, g->pane, 1);
    segstream_err err = {{0}};
    for (int j = 0; j < g->n; j++) {
        segstream_cluster_sink sink = rec_sink(&g->rec[j]);
        assert_true(segstream_cluster_sweep(g->m[j], 0, 1, &sink, &err) == 0);
    }
}

static void stop(sharers *g)
{
    for (int j = 0; j < g->n; j++) {
        segstream_cluster_free(g->m[j]);
        rec_free(&g->rec[j]);
    }
}

/* The catalog lines ("S ...") of a log, in order: what every sharer must agree on. */
static char *catalog_of(const recorder *r)
{
    char *out = calloc(r->len + 1, 1);
    size_t n = 0;
    for (const char *p = r->log; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) + 1 : strlen(p);
        if (p[0] == 'S') {
            memcpy(out + n, p, len);
            n += len;
        }
        p += len;
    }
    return out;
}

static void assert_same_catalog(const recorder *a, const recorder *b)
{
    char *x = catalog_of(a), *y = catalog_of(b);
    assert_true(strlen(x) > 1000);
    if (strcmp(x, y)) {
        size_t i = 0;
        while (x[i] && x[i] == y[i])
            i++;
        fail_msg("catalogs differ at byte %zu:\n%.200s\n---\n%.200s", i, x + (i > 80 ? i - 80 : 0),
                 y + (i > 80 ? i - 80 : 0));
    }
    free(x);
    free(y);
}

/* Everyone's final segment per user (-1 none). */
static void final_segments(const sharers *g, int64_t *seg)
{
    for (int u = 0; u < USERS; u++) {
        char user[32];
        snprintf(user, sizeof user, "user-%d", u);
        seg[u] = segstream_cluster_user_segment(g->m[(u % SHARDS) % g->n], user, NULL);
    }
}

/* No change record goes from no segment to no segment (a user deleted or expired before
 * the bootstrap placed it tells a consumer nothing). */
static void assert_no_empty_changes(const recorder *r)
{
    for (const char *p = r->log; p && *p;) {
        const char *e = strchr(p, '\n');
        if (p[0] == 'C') {
            char user[64];
            long long t, prev, next;
            if (sscanf(p, "C %63s %lld %lld %lld", user, &t, &prev, &next) == 4 && prev < 0 && next < 0)
                fail_msg("a change from no segment to no segment: %.80s", p);
        }
        p = e ? e + 1 : p + strlen(p);
    }
}

static void sharers_hold_one_model_whatever_their_number(void **state)
{
    (void)state;
    sharers one, three, four;
    start(&one, 1);
    feed(&one, 0, N_EVENTS);
    finish(&one);
    start(&three, 3);
    feed(&three, 0, N_EVENTS);
    finish(&three);
    start(&four, 4);
    four.reverse = 1;
    feed(&four, 0, N_EVENTS);
    finish(&four);
    assert_int_equal(one.barriers, three.barriers);
    assert_true(one.barriers > 100);
    for (int j = 0; j < 3; j++) {
        assert_same_catalog(&one.rec[0], &three.rec[j]);
        assert_no_empty_changes(&three.rec[j]);
    }
    for (int j = 0; j < 4; j++)
        assert_same_catalog(&one.rec[0], &four.rec[j]);
    segstream_cluster_stats a, b;
    segstream_cluster_get_stats(one.m[0], &a);
    segstream_cluster_get_stats(three.m[2], &b);
    assert_int_equal(a.model_version, b.model_version);
    assert_true(a.model_version > 100);
    assert_int_equal(a.active_segments, b.active_segments);
    /* users: nearly all in the segment one model put them in. Not all: with hysteresis a
     * user's segment depends on whether its own next event or this instance's sweep
     * looked at it first after an update, and each instance sweeps its own users. */
    int64_t s1[USERS], s3[USERS];
    final_segments(&one, s1);
    final_segments(&three, s3);
    int same = 0, placed = 0;
    for (int u = 0; u < USERS; u++) {
        same += s1[u] == s3[u];
        placed += s1[u] >= 0;
    }
    assert_true(placed > USERS / 2);
    assert_true(same >= USERS * 97 / 100);
    /* and the segments are the topics: most users who kept one topic share a segment with
     * most of that topic's other such users */
    int agree = 0, steady = 0;
    for (int u = 0; u < USERS; u++) {
        if (s1[u] < 0 || u % 4 == 0)
            continue;
        int peers = 0, with = 0;
        for (int v = u % TOPICS; v < USERS; v += TOPICS)
            if (v != u && s1[v] >= 0 && v % 4 != 0) {
                peers++;
                with += s1[v] == s1[u];
            }
        steady++;
        agree += peers && 2 * with > peers;
    }
    assert_true(agree > steady * 8 / 10);
    stop(&one);
    stop(&three);
    stop(&four);
}

/* Every shard's delta, taken by its owner. */
static void take_all(sharers *g, uint8_t **bytes, size_t *lens)
{
    segstream_err err = {{0}};
    for (int s = 0; s < SHARDS; s++)
        if (segstream_cluster_delta_take(g->m[s % g->n], s, &bytes[s], &lens[s], &err))
            fail_msg("take: %s", err.message);
}

/* A sharer snapshotted after it took its deltas, and restored, writes the same
 * bytes and goes on exactly as before. */
static void a_snapshot_between_take_and_barrier_restores(void **state)
{
    (void)state;
    sharers a, b;
    start(&a, 2);
    start(&b, 2);
    feed(&a, 0, 2500);
    feed(&b, 0, 2500);
    barrier_all(&a, a.pane, 0); /* what b does below, without the snapshot */
    uint8_t *delta[SHARDS], *blob, *again;
    size_t dlen[SHARDS], len, len2;
    segstream_err err = {{0}};
    take_all(&b, delta, dlen);
    assert_int_equal(segstream_cluster_snapshot(b.m[1], &blob, &len, &err), 0);
    segstream_cluster *back = segstream_cluster_restore(blob, len, &err);
    if (!back)
        fail_msg("%s", err.message);
    assert_int_equal(segstream_cluster_snapshot(back, &again, &len2, &err), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(blob, again, len);
    /* at the barrier, an event waits */
    segstream_cluster_event ev;
    float v[D];
    char user[32];
    const char *words[4];
    int u;
    make_event(2500, &ev, v, user, words, &u);
    assert_int_equal(segstream_cluster_update(back, &ev, NULL, NULL, &err), SEGSTREAM_CLUSTER_AT_BARRIER);
    segstream_cluster_free(b.m[1]);
    b.m[1] = back;
    const uint8_t *given[SHARDS];
    for (int s = 0; s < SHARDS; s++)
        given[s] = delta[s];
    for (int j = 0; j < 2; j++) {
        segstream_cluster_sink sink = rec_sink(&b.rec[j]);
        assert_int_equal(segstream_cluster_barrier(b.m[j], given, dlen, SHARDS, b.pane, 0, &sink, &err), 0);
    }
    feed(&a, 2500, N_EVENTS);
    feed(&b, 2500, N_EVENTS);
    finish(&a);
    finish(&b);
    assert_same_catalog(&a.rec[1], &b.rec[1]);
    uint8_t *sa, *sb;
    size_t la, lb;
    assert_int_equal(segstream_cluster_snapshot(a.m[1], &sa, &la, &err), 0);
    assert_int_equal(segstream_cluster_snapshot(b.m[1], &sb, &lb, &err), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(sa, sb, la);
    free(sa), free(sb), free(blob), free(again);
    for (int s = 0; s < SHARDS; s++)
        free(delta[s]);
    stop(&a);
    stop(&b);
}

/* Damaged, foreign or stale deltas are refused and leave the model as it was;
 * so is a barrier before the take, or one that would lose a shard's contributions. */
static void bad_deltas_change_nothing(void **state)
{
    (void)state;
    sharers g;
    start(&g, 2);
    feed(&g, 0, 2000);
    segstream_err err = {{0}};
    uint8_t *delta[SHARDS], *before, *after;
    size_t lens[SHARDS], before_len, after_len;
    take_all(&g, delta, lens);
    assert_true(lens[1] > 100);
    assert_int_equal(segstream_cluster_snapshot(g.m[0], &before, &before_len, &err), 0);
    const uint8_t *given[SHARDS];
    for (int s = 0; s < SHARDS; s++)
        given[s] = delta[s];
    segstream_cluster_sink sink = rec_sink(&g.rec[0]);
    /* a flipped bit: the checksum */
    delta[4][lens[4] / 2] ^= 4;
    assert_int_equal(segstream_cluster_barrier(g.m[0], given, lens, SHARDS, g.pane + 1, 0, &sink, &err), -1);
    assert_non_null(strstr(err.message, "delta 5 of 6"));
    assert_non_null(strstr(err.message, "checksum"));
    delta[4][lens[4] / 2] ^= 4;
    /* truncated */
    lens[2] -= 9;
    assert_int_equal(segstream_cluster_barrier(g.m[0], given, lens, SHARDS, g.pane + 1, 0, &sink, &err), -1);
    lens[2] += 9;
    /* garbage */
    uint8_t junk[64] = "not a delta at all";
    const uint8_t *bad[1] = {junk};
    size_t bad_len[1] = {sizeof junk};
    assert_int_equal(segstream_cluster_barrier(g.m[0], bad, bad_len, 1, g.pane + 1, 0, &sink, &err), -1);
    assert_non_null(strstr(err.message, "not a delta"));
    assert_int_equal(segstream_cluster_snapshot(g.m[0], &after, &after_len, &err), 0);
    assert_int_equal(before_len, after_len);
    assert_memory_equal(before, after, before_len);
    free(after);
    /* the good set goes through; then the same deltas again are stale */
    assert_int_equal(segstream_cluster_barrier(g.m[0], given, lens, SHARDS, g.pane + 1, 0, &sink, &err), 0);
    uint8_t *again;
    size_t again_len;
    assert_int_equal(segstream_cluster_delta_take(g.m[0], 0, &again, &again_len, &err), 0);
    assert_int_equal(segstream_cluster_barrier(g.m[0], given, lens, SHARDS, g.pane + 2, 0, &sink, &err), -1);
    assert_non_null(strstr(err.message, "model version"));
    free(again);
    /* a barrier before the take is refused */
    sink = rec_sink(&g.rec[1]);
    assert_int_equal(segstream_cluster_barrier(g.m[1], given, lens, SHARDS, g.pane + 1, 0, &sink, &err), 0);
    assert_int_equal(segstream_cluster_barrier(g.m[1], given, lens, SHARDS, g.pane + 2, 0, &sink, &err), -1);
    assert_non_null(strstr(err.message, "take"));
    /* and so is one with a shard's contributions left behind */
    sharers h;
    start(&h, 1);
    feed(&h, 0, 2000);
    uint8_t *only;
    size_t only_len;
    assert_int_equal(segstream_cluster_delta_take(h.m[0], 0, &only, &only_len, &err), 0);
    const uint8_t *one[1] = {only};
    assert_int_equal(segstream_cluster_barrier(h.m[0], one, &only_len, 1, h.pane + 1, 0, NULL, &err), -1);
    assert_non_null(strstr(err.message, "not taken"));
    free(only);
    for (int s = 0; s < SHARDS; s++)
        free(delta[s]);
    free(before);
    stop(&h);
    stop(&g);
}

/* The shared calls refuse a model that is not shared, and the other way round. */
static void shared_calls_need_a_shared_model(void **state)
{
    (void)state;
    segstream_cluster_options o = opts();
    o.shared_model = 0;
    segstream_err err = {{0}};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    uint8_t *bytes = NULL;
    size_t len = 0;
    assert_int_equal(segstream_cluster_delta_take(c, 0, &bytes, &len, &err), -1);
    assert_non_null(strstr(err.message, "not shared"));
    assert_int_equal(segstream_cluster_barrier(c, NULL, NULL, 0, 0, 1, NULL, &err), -1);
    segstream_cluster_free(c);
    o.shared_model = 2;
    assert_null(segstream_cluster_create(&o, &err));
    assert_non_null(strstr(err.message, "shared_model"));
    o.shared_model = 1;
    c = segstream_cluster_create(&o, &err);
    assert_int_equal(segstream_cluster_bootstrap_now(c, NULL, &err), -1);
    assert_non_null(strstr(err.message, "barrier"));
    segstream_cluster_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sharers_hold_one_model_whatever_their_number),
        cmocka_unit_test(a_snapshot_between_take_and_barrier_restores),
        cmocka_unit_test(bad_deltas_change_nothing),
        cmocka_unit_test(shared_calls_need_a_shared_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
