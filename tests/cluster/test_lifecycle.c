/* test_lifecycle.c - bootstrap determinism, retire / split / merge with stable
 * ids, hysteresis, expiry, SET / ADD / DELETE, deferred bootstrap records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cluster/internal.h"
#include "helpers.h"

#include <math.h>

#define D 16

static segstream_cluster_options opts(int k)
{
    segstream_cluster_options o = segstream_cluster_default_options();
    o.dim = D;
    o.k = k;
    o.pane_ms = 1000;
    o.window_ms = 10000;
    o.half_life_ms = 5000;
    o.allowed_lateness_ms = 0;
    o.init_sample = 30;
    o.kmeans_restarts = 3;
    o.reassign_slice = 8;
    return o;
}

static void feed(segstream_cluster *c, recorder *r, const char *user, int op, const float *v, int64_t t)
{
    segstream_cluster_event ev = {user, op, v, NULL, 0, t, 0};
    segstream_cluster_sink sink = rec_sink(r);
    segstream_cluster_reject rj;
    segstream_err err = {{0}};
    int rc = segstream_cluster_update(c, &ev, &sink, &rj, &err);
    if (rc)
        fail_msg("update %s at %lld: rc %d: %s %s", user, (long long)t, rc, rj.message, err.message);
}

/* n events, users u0..u(users-1), axes 0..clusters-1, 100 ms apart. */
static void stream(segstream_cluster *c, recorder *r, uint64_t seed, int n, int users, int clusters, int64_t t0)
{
    float v[D];
    char id[32];
    for (int i = 0; i < n; i++) {
        int u = (int)(t_next(&seed) % (uint64_t)users);
        t_vector(&seed, D, u % clusters, 0.15, v);
        snprintf(id, sizeof id, "u%d", u);
        feed(c, r, id, SEGSTREAM_CLUSTER_OP_SET, v, t0 + 100LL * i);
    }
}

static void bootstrap_is_deterministic_and_deferred(void **state)
{
    (void)state;
    segstream_cluster_options o = opts(4);
    char *logs[3];
    for (int run = 0; run < 3; run++) {
        if (run == 2)
            o.seed = 7;
        segstream_err err = {{0}};
        segstream_cluster *c = segstream_cluster_create(&o, &err);
        recorder r = {0};
        stream(c, &r, 99, 29, 1000, 4, 0);
        assert_int_equal(r.changes, 0); /* still buffering */
        segstream_cluster_stats st;
        segstream_cluster_get_stats(c, &st);
        assert_int_equal(st.bootstrap_buffered, 29);
        assert_int_equal(st.model_version, 0);
        stream(c, &r, 1234, 1, 1000, 4, 2900);
        /* the model exists: one INTEREST_CHANGED per buffered user, previous -1 */
        assert_true(r.changes >= 25 && r.changes <= 30);
        assert_int_equal(r.by_cause[SEGSTREAM_CLUSTER_CAUSE_INTEREST_CHANGED], r.changes);
        assert_non_null(strstr(r.log, "C u"));
        for (const char *line = r.log; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
            long long t, prev, seg;
            char user[32];
            if (line[0] == 'C' && sscanf(line, "C %31s %lld %lld %lld", user, &t, &prev, &seg) == 4) {
                assert_int_equal(prev, -1);
                assert_true(seg >= 1 && seg <= 4);
            }
        }
        assert_int_equal(r.by_kind[SEGSTREAM_CATALOG_BORN], 4);
        stream(c, &r, 5, 2000, 300, 4, 3000);
        logs[run] = r.log;
        segstream_cluster_free(c);
    }
    assert_string_equal(logs[0], logs[1]);
    assert_true(strcmp(logs[0], logs[2]) != 0); /* the seed matters: the test can fail */
    for (int i = 0; i < 3; i++)
        free(logs[i]);
}

static void retire_split_merge_keep_ids_stable(void **state)
{
    (void)state;
    segstream_cluster_options o = opts(3);
    o.retire_share = 0.2;
    segstream_err err = {{0}};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    recorder r = {0};
    /* three clusters (axes 0, 1, 2) for the bootstrap and a while */
    stream(c, &r, 1, 300, 90, 3, 0);
    assert_int_equal(r.by_kind[SEGSTREAM_CATALOG_BORN], 3);
    /* then axis 2 disappears and a new topic between axes 0 and 3 arrives: it
     * joins the segment of axis 0, which gets wide; the segment of axis 2
     * empties out and retires, and the widest one splits */
    float v[D];
    uint64_t seed = 3;
    char id[32];
    for (int i = 0; i < 3000; i++) {
        int topic = (int)(t_next(&seed) % 3);
        t_vector(&seed, D, topic == 2 ? 3 : topic, 0.1, v);
        if (topic == 2) {
            v[0] += 1.0f;
            double n = 0;
            for (int q = 0; q < D; q++)
                n += (double)v[q] * v[q];
            for (int q = 0; q < D; q++)
                v[q] = (float)(v[q] / sqrt(n));
        }
        snprintf(id, sizeof id, "n%d", i % 400);
        feed(c, &r, id, SEGSTREAM_CLUSTER_OP_SET, v, 30000 + 100LL * i);
    }
    assert_true(r.by_kind[SEGSTREAM_CATALOG_RETIRED] >= 1);
    assert_true(r.by_kind[SEGSTREAM_CATALOG_SPLIT] >= 2);
    segstream_cluster_stats st;
    segstream_cluster_get_stats(c, &st);
    assert_int_equal(st.active_segments, 3);
    /* ids: handed out once, increasing; children name a retired parent */
    int64_t last_new = 0;
    for (const char *p = r.log; (p = strstr(p, "S ")); p++) {
        if (p != r.log && p[-1] != '\n')
            continue;
        long long id, parent, into;
        int kind, active;
        if (sscanf(p, "S %lld %d %d %lld %lld", &id, &kind, &active, &parent, &into) != 5)
            fail();
        if (kind == SEGSTREAM_CATALOG_BORN || kind == SEGSTREAM_CATALOG_SPLIT) {
            assert_true(id > last_new); /* never reused */
            last_new = id;
        }
        if (kind == SEGSTREAM_CATALOG_SPLIT) {
            assert_true(parent >= 1 && parent < id);
            assert_int_equal(r.active[parent], 0);
        }
    }
    assert_int_equal(last_new, st.segments_created);
    rec_free(&r);
    segstream_cluster_free(c);

    /* merge: two bootstrap segments on near-duplicate topics fold into the older id */
    o = opts(3);
    o.merge_cosine = 0.9;
    c = segstream_cluster_create(&o, &err);
    recorder m = {0};
    seed = 11;
    for (int i = 0; i < 600; i++) {
        int topic = (int)(t_next(&seed) % 2);
        t_vector(&seed, D, topic, 0.2, v);
        snprintf(id, sizeof id, "m%d", i % 200);
        feed(c, &m, id, SEGSTREAM_CLUSTER_OP_SET, v, 100LL * i);
    }
    assert_true(m.by_kind[SEGSTREAM_CATALOG_MERGED] >= 1);
    for (int64_t s = 1; s < 256; s++)
        if (m.merged_into[s] > 0)
            assert_true(m.merged_into[s] < s);
    rec_free(&m);
    segstream_cluster_free(c);
}

static void hysteresis_prevents_flapping(void **state)
{
    (void)state;
    long flips[2];
    for (int h = 0; h < 2; h++) {
        segstream_cluster_options o = opts(2);
        o.hysteresis = h ? 0.3 : 0.0;
        o.merge_cosine = 1;
        segstream_err err = {{0}};
        segstream_cluster *c = segstream_cluster_create(&o, &err);
        recorder r = {0};
        stream(c, &r, 2, 200, 50, 2, 0);
        long before = r.by_cause[SEGSTREAM_CLUSTER_CAUSE_INTEREST_CHANGED];
        /* a user between the two topics, leaning one way then the other */
        float v[D];
        for (int i = 0; i < 20; i++) {
            memset(v, 0, sizeof v);
            v[0] = i % 2 ? 1.0f : 0.8f;
            v[1] = i % 2 ? 0.8f : 1.0f;
            feed(c, &r, "undecided", SEGSTREAM_CLUSTER_OP_SET, v, 20000 + i);
        }
        flips[h] = r.by_cause[SEGSTREAM_CLUSTER_CAUSE_INTEREST_CHANGED] - before;
        rec_free(&r);
        segstream_cluster_free(c);
    }
    if (flips[0] < 10 || flips[1] != 1)
        fail_msg("flips without hysteresis %ld, with %ld", flips[0], flips[1]);
    assert_true(flips[0] >= 10); /* without a margin it flaps */
    assert_int_equal(flips[1], 1); /* with one it is placed once */
}

/* Places the two segments' centroids so that the unit user on axis 0 has
 * similarity a to slot 0 and b to slot 1 (other axes carry the rest), then
 * runs the model update's sweep as a model update would. */
static int64_t sweep_with_sims(segstream_cluster *c, recorder *r, float a, float b)
{
    float *c0 = c->centroid, *c1 = c->centroid + D;
    memset(c0, 0, 2 * D * sizeof(float));
    c0[0] = a;
    c0[1] = sqrtf(1 - a * a);
    c1[0] = b;
    c1[2] = sqrtf(1 - b * b);
    c->version++;
    cl_sweep_start(c);
    segstream_cluster_sink sink = rec_sink(r);
    segstream_err err = {{0}};
    assert_true(segstream_cluster_sweep(c, 0, 1, &sink, &err) == 0);
    return segstream_cluster_user_segment(c, "quiet", NULL);
}

/* At a model update a quiet user follows the centroids to the nearer segment
 * (no margin: its profile did not change, the model moved), but a move back
 * to the segment it just left must win by the hysteresis margin (0.02). */
static void sweep_margin_only_against_moving_back(void **state)
{
    (void)state;
    segstream_cluster_options o = opts(2);
    o.reassign_slice = 0;
    segstream_err err = {{0}};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    recorder r = {0};
    stream(c, &r, 2, 100, 30, 2, 0);
    float v[D];
    t_axis(D, 0, v);
    feed(c, &r, "quiet", SEGSTREAM_CLUSTER_OP_SET, v, 10000);
    assert_int_equal(c->n_active, 2);
    assert_true(c->seg[0].id >= 0 && c->seg[1].id >= 0);
    int64_t A = c->seg[0].id, B = c->seg[1].id;
    assert_int_equal(sweep_with_sims(c, &r, 0.60f, 0.50f), A); /* clearly A */
    assert_int_equal(sweep_with_sims(c, &r, 0.50f, 0.51f), B); /* B nearer by 0.01: follows */
    assert_int_equal(sweep_with_sims(c, &r, 0.51f, 0.50f), B); /* back to A by 0.01: stays */
    assert_int_equal(sweep_with_sims(c, &r, 0.515f, 0.50f), B);
    assert_int_equal(sweep_with_sims(c, &r, 0.53f, 0.50f), A); /* back by 0.03 > 0.02: moves */
    assert_int_equal(sweep_with_sims(c, &r, 0.50f, 0.51f), A); /* B is now the one just left */
    /* the same through a snapshot: the segment left is state */
    uint8_t *blob;
    size_t len;
    assert_int_equal(segstream_cluster_snapshot(c, &blob, &len, &err), 0);
    segstream_cluster *back = segstream_cluster_restore(blob, len, &err);
    free(blob);
    if (!back)
        fail_msg("%s", err.message);
    assert_int_equal(sweep_with_sims(back, &r, 0.50f, 0.51f), A);
    assert_int_equal(sweep_with_sims(back, &r, 0.50f, 0.525f), B);
    segstream_cluster_free(back);
    rec_free(&r);
    segstream_cluster_free(c);
}

static void users_silent_for_a_window_expire(void **state)
{
    (void)state;
    segstream_cluster_options o = opts(2);
    segstream_err err = {{0}};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    recorder r = {0};
    segstream_cluster_sink sink = rec_sink(&r);
    stream(c, &r, 4, 100, 30, 2, 0);
    segstream_cluster_stats st;
    segstream_cluster_get_stats(c, &st);
    long early = st.users;
    float v[D];
    t_axis(D, 0, v);
    feed(c, &r, "quiet", SEGSTREAM_CLUSTER_OP_SET, v, 10000);
    assert_true(segstream_cluster_user_segment(c, "quiet", NULL) > 0);
    /* others keep talking for more than a window */
    uint64_t seed = 8;
    for (int i = 0; i < 150; i++) {
        t_vector(&seed, D, i % 2, 0.1, v);
        feed(c, &r, i % 2 ? "x" : "y", SEGSTREAM_CLUSTER_OP_SET, v, 10100 + 100LL * i);
    }
    assert_true(segstream_cluster_sweep(c, 0, 2, &sink, &err) == 0);
    assert_int_equal(segstream_cluster_user_segment(c, "quiet", NULL), -1);
    assert_non_null(strstr(r.log, "C quiet"));
    assert_int_equal(r.by_cause[SEGSTREAM_CLUSTER_CAUSE_EXPIRED], early + 1); /* the early users and quiet */
    segstream_cluster_get_stats(c, &st);
    assert_int_equal(st.users, 2);
    assert_true(segstream_cluster_user_segment(c, "x", NULL) > 0);
    rec_free(&r);
    segstream_cluster_free(c);
}

/* cluster.max_users: the table never holds more; the users that go are the
 * least recently active ones, each with one EXPIRED change; the run is
 * deterministic; a snapshot carries the limit. */
static void user_limit_expires_least_recent(void **state)
{
    (void)state;
    segstream_cluster_options o = opts(2);
    o.max_users = 128; /* frees 2 places per round */
    char *logs[2];
    for (int run = 0; run < 2; run++) {
        segstream_err err = {{0}};
        segstream_cluster *c = segstream_cluster_create(&o, &err);
        assert_non_null(c);
        recorder r = {0};
        float v[D];
        char id[32];
        uint64_t seed = 11;
        segstream_cluster_stats st;
        for (int i = 0; i < 1000; i++) {
            snprintf(id, sizeof id, "user%04d", i);
            t_vector(&seed, D, i % 2, 0.15, v);
            feed(c, &r, id, SEGSTREAM_CLUSTER_OP_SET, v, 1000 + 10LL * i);
            if (i % 7 == 0) /* a regular keeps coming back: never the least recent */
                feed(c, &r, "regular", SEGSTREAM_CLUSTER_OP_ADD, v, 1000 + 10LL * i);
            segstream_cluster_get_stats(c, &st);
            assert_true(st.users <= 128);
        }
        assert_true(st.users >= 127); /* a round frees 2, then one joins */
        assert_true(segstream_cluster_user_segment(c, "regular", NULL) > 0);
        assert_int_equal(segstream_cluster_user_segment(c, "user0000", NULL), -1);
        assert_true(segstream_cluster_user_segment(c, "user0999", NULL) > 0);
        /* 1001 users seen, 128 kept: the others expired once each (the window
         * is long enough that no one goes silent for it here) */
        assert_int_equal(r.by_cause[SEGSTREAM_CLUSTER_CAUSE_EXPIRED], 1001 - st.users);
        assert_null(strstr(r.log, "C regular 0"));
        uint8_t *blob;
        size_t len;
        assert_int_equal(segstream_cluster_snapshot(c, &blob, &len, &err), 0);
        segstream_cluster *back = segstream_cluster_restore(blob, len, &err);
        assert_non_null(back);
        free(blob);
        segstream_cluster_free(back);
        logs[run] = r.log;
        segstream_cluster_free(c);
    }
    assert_string_equal(logs[0], logs[1]);
    free(logs[0]), free(logs[1]);
}

static void set_add_delete(void **state)
{
    (void)state;
    segstream_cluster_options o = opts(2);
    segstream_err err = {{0}};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    recorder r = {0};
    stream(c, &r, 6, 100, 30, 2, 0);
    float a[D], b[D], p[D];
    t_axis(D, 0, a);
    t_axis(D, 1, b);
    feed(c, &r, "v", SEGSTREAM_CLUSTER_OP_SET, a, 10000);
    feed(c, &r, "v", SEGSTREAM_CLUSTER_OP_ADD, b, 10000); /* same time: equal weights */
    long i = cl_users_find(&c->users, "v", cl_hash_id("v"));
    assert_true(i >= 0);
    cl_profile_decode(o.profile_codec, c->users.profile + (size_t)i * c->profile_bytes, D, p);
    assert_near(p[0], sqrt(0.5), 1e-3);
    assert_near(p[1], sqrt(0.5), 1e-3);
    /* one half-life later the old profile weighs half: (2^-0.5 * 2 * 0.5, ...) + new */
    feed(c, &r, "v", SEGSTREAM_CLUSTER_OP_ADD, b, 15000);
    i = cl_users_find(&c->users, "v", cl_hash_id("v")); /* sweeps move users around */
    cl_profile_decode(o.profile_codec, c->users.profile + (size_t)i * c->profile_bytes, D, p);
    double x = sqrt(0.5) * 1.0, y = sqrt(0.5) * 1.0 + 1.0, n = sqrt(x * x + y * y); /* weight 2 * 0.5 = 1 */
    assert_near(p[0], x / n, 2e-3);
    assert_near(p[1], y / n, 2e-3);
    /* SET replaces */
    feed(c, &r, "v", SEGSTREAM_CLUSTER_OP_SET, a, 15001);
    i = cl_users_find(&c->users, "v", cl_hash_id("v"));
    cl_profile_decode(o.profile_codec, c->users.profile + (size_t)i * c->profile_bytes, D, p);
    assert_near(p[0], 1.0, 1e-3);
    int64_t seg = segstream_cluster_user_segment(c, "v", NULL);
    assert_true(seg > 0);
    long deleted = r.by_cause[SEGSTREAM_CLUSTER_CAUSE_DELETED];
    feed(c, &r, "v", SEGSTREAM_CLUSTER_OP_DELETE, NULL, 15002);
    assert_int_equal(r.by_cause[SEGSTREAM_CLUSTER_CAUSE_DELETED], deleted + 1);
    char want[64];
    snprintf(want, sizeof want, "C v 15002 %lld -1 7fc00000 3", (long long)seg);
    assert_non_null(strstr(r.log, want));
    assert_int_equal(segstream_cluster_user_segment(c, "v", NULL), -1);
    feed(c, &r, "nobody", SEGSTREAM_CLUSTER_OP_DELETE, NULL, 15003); /* unknown user: nothing to say */
    assert_int_equal(r.by_cause[SEGSTREAM_CLUSTER_CAUSE_DELETED], deleted + 1);
    rec_free(&r);
    segstream_cluster_free(c);
}

static void profile_codecs_round_trip(void **state)
{
    (void)state;
    cl_codec_init();
    uint64_t seed = 5;
    float x[D], y[D];
    uint8_t buf[2 * D + 8];
    for (int codec = 0; codec < 2; codec++)
        for (int rep = 0; rep < 100; rep++) {
            t_vector(&seed, D, rep, 0.5, x);
            cl_profile_encode((segstream_profile_codec)codec, x, D, buf);
            cl_profile_decode((segstream_profile_codec)codec, buf, D, y);
            for (int i = 0; i < D; i++)
                assert_near(y[i], x[i], codec ? 0.01 : 1e-3);
        }
    /* fp16 corner cases: exact values, rounding to even, subnormals, overflow */
    assert_int_equal(cl_fp16_from_float(1.0f), 0x3c00);
    assert_int_equal(cl_fp16_from_float(-2.0f), 0xc000);
    assert_int_equal(cl_fp16_from_float(65504.0f), 0x7bff);
    assert_int_equal(cl_fp16_from_float(1e6f), 0x7c00);
    assert_int_equal(cl_fp16_from_float(1.0f + 0x1p-11f), 0x3c00); /* tie: to even */
    assert_int_equal(cl_fp16_from_float(0x1p-24f), 0x0001);
    assert_true(cl_fp16_to_float(0x0001) == 0x1p-24f);
    assert_true(cl_fp16_to_float(0x3555) > 0.333f && cl_fp16_to_float(0x3555) < 0.3334f);
}

/* Regression: a split whose children would merge back (closer than
 * merge_cosine) or retire at once (under the retirement threshold) used to be
 * made anyway, so every pane merged or retired one segment and split another:
 * thousands of ids on the MovieLens demo. Two tight clusters with k = 4 over
 * 300 panes must keep a handful of ids. */
static void splits_do_not_churn_ids(void **state)
{
    (void)state;
    segstream_cluster_options o = opts(4);
    segstream_err err = {{0}};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    assert_non_null(c);
    recorder r = {0};
    float v[D];
    char id[32];
    uint64_t seed = 11;
    for (int i = 0; i < 3000; i++) {
        int u = (int)(t_next(&seed) % 40);
        t_vector(&seed, D, u % 2, 0.03, v); /* cos within a cluster > 0.99 */
        snprintf(id, sizeof id, "u%d", u);
        feed(c, &r, id, SEGSTREAM_CLUSTER_OP_SET, v, 100LL * i);
    }
    long splits = r.by_kind[SEGSTREAM_CATALOG_SPLIT], retired = r.by_kind[SEGSTREAM_CATALOG_RETIRED],
         merged = r.by_kind[SEGSTREAM_CATALOG_MERGED];
    if (splits + retired + merged > 8)
        fail_msg("ids churn: %ld splits, %ld retirements, %ld merges over 300 panes", splits, retired, merged);
    segstream_cluster_free(c);
    rec_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bootstrap_is_deterministic_and_deferred),
        cmocka_unit_test(retire_split_merge_keep_ids_stable),
        cmocka_unit_test(hysteresis_prevents_flapping),
        cmocka_unit_test(sweep_margin_only_against_moving_back),
        cmocka_unit_test(users_silent_for_a_window_expire),
        cmocka_unit_test(set_add_delete),
        cmocka_unit_test(user_limit_expires_least_recent),
        cmocka_unit_test(profile_codecs_round_trip),
        cmocka_unit_test(splits_do_not_churn_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
