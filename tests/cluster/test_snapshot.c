/* test_snapshot.c - the snapshot property: snapshot at random points, restore,
 * feed the rest -> byte-identical outputs to an uninterrupted run; blobs are
 * deterministic; corrupt, truncated or foreign blobs are errors, never crashes;
 * forged model sizes are refused before anything is allocated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

#define D 16
#define N_EVENTS 4000

static const char *vocabulary[] = {"python", "pandas", "the", "goal", "match", "football", "的", "数据",
                                   "kafka", "stream", "a", "Segment", "x", "2024", "matrix", "label"};

static segstream_cluster_options opts(void)
{
    segstream_cluster_options o = segstream_cluster_default_options();
    o.dim = D;
    o.k = 4;
    o.pane_ms = 1000;
    o.window_ms = 8000;
    o.half_life_ms = 3000;
    o.allowed_lateness_ms = 500;
    o.max_future_skew_ms = 5000;
    o.init_sample = 40;
    o.kmeans_restarts = 2;
    o.reassign_slice = 5;
    o.retire_share = 0.15;
    o.merge_cosine = 0.97;
    o.label_table_size = 8;
    return o;
}

/* Event i of the test stream (deterministic in i): topics drift over time,
 * ops mix SET/ADD/DELETE, some events are late, too late, or invalid. */
static void make_event(int i, segstream_cluster_event *ev, float *v, char *user, const char **words)
{
    uint64_t s = 0x1234 + (uint64_t)i * 7919;
    int topic = (int)((t_next(&s) % 3) + (uint64_t)(i / 1000)) % 6;
    t_vector(&s, D, topic, 0.2, v);
    snprintf(user, 32, "user-%d", (int)(t_next(&s) % 150));
    uint64_t r = t_next(&s) % 100;
    int op = r < 60 ? SEGSTREAM_CLUSTER_OP_SET : r < 92 ? SEGSTREAM_CLUSTER_OP_ADD : SEGSTREAM_CLUSTER_OP_DELETE;
    int64_t t = 200LL * i;
    uint64_t q = t_next(&s) % 100;
    if (q < 8)
        t -= (int64_t)(t_next(&s) % 3000); /* late, often still in the window */
    else if (q < 9)
        t -= 20000; /* too late */
    else if (q < 10)
        v[3] = NAN;
    else if (q < 11)
        op = 9;
    size_t nw = (size_t)(t_next(&s) % 5);
    for (size_t w = 0; w < nw; w++)
        words[w] = vocabulary[(topic * 2 + t_next(&s) % 4) % 16];
    *ev = (segstream_cluster_event){user, op, v, words, nw, t};
}

static void run_range(segstream_cluster *c, recorder *r, int from, int to)
{
    segstream_cluster_sink sink = rec_sink(r);
    for (int i = from; i < to; i++) {
        segstream_cluster_event ev;
        float v[D];
        char user[32];
        const char *words[8];
        make_event(i, &ev, v, user, words);
        segstream_cluster_reject rj;
        segstream_err err = {{0}};
        int rc = segstream_cluster_update(c, &ev, &sink, &rj, &err);
        assert_int_not_equal(rc, -1);
        rec_printf(r, "E %d %d %s\n", i, rc, rc ? segstream_cluster_reject_name(rj.reason) : "");
        if (i % 700 == 699) /* a bulk sweep on two threads now and then */
            assert_true(segstream_cluster_sweep(c, 0, 2, &sink, &err) >= 0);
    }
}

static segstream_cluster *round_trip(segstream_cluster *c)
{
    uint8_t *blob, *again;
    size_t len, len2;
    segstream_err err = {{0}};
    assert_int_equal(segstream_cluster_snapshot(c, &blob, &len, &err), 0);
    segstream_cluster *back = segstream_cluster_restore(blob, len, &err);
    if (!back)
        fail_msg("%s", err.message);
    assert_int_equal(segstream_cluster_snapshot(back, &again, &len2, &err), 0);
    assert_int_equal(len, len2);
    assert_memory_equal(blob, again, len); /* same state, same bytes */
    free(blob);
    free(again);
    segstream_cluster_free(c);
    return back;
}

static void restore_and_replay_equals_uninterrupted(void **state)
{
    segstream_cluster_options o = opts();
    o.profile_codec = *(segstream_profile_codec *)*state;
    segstream_err err = {{0}};
    recorder full = {0};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    run_range(c, &full, 0, N_EVENTS);
    segstream_cluster_stats st;
    segstream_cluster_get_stats(c, &st);
    /* the stream exercised what it should */
    assert_true(full.by_cause[SEGSTREAM_CLUSTER_CAUSE_MODEL_UPDATED] > 0);
    assert_true(full.by_cause[SEGSTREAM_CLUSTER_CAUSE_DELETED] > 0);
    assert_true(full.by_cause[SEGSTREAM_CLUSTER_CAUSE_EXPIRED] > 0);
    assert_true(full.by_kind[SEGSTREAM_CATALOG_SPLIT] + full.by_kind[SEGSTREAM_CATALOG_MERGED] > 0);
    segstream_cluster_free(c);

    uint64_t s = 77;
    for (int trial = 0; trial < 8; trial++) {
        int cuts[3];
        for (int q = 0; q < 3; q++)
            cuts[q] = (int)(t_next(&s) % N_EVENTS);
        if (trial == 0)
            cuts[0] = 10; /* inside the bootstrap buffer */
        for (int a = 0; a < 3; a++) /* sort */
            for (int b = a + 1; b < 3; b++)
                if (cuts[b] < cuts[a]) {
                    int t = cuts[a];
                    cuts[a] = cuts[b];
                    cuts[b] = t;
                }
        recorder part = {0};
        c = segstream_cluster_create(&o, &err);
        int at = 0;
        for (int q = 0; q < 3; q++) {
            run_range(c, &part, at, cuts[q]);
            c = round_trip(c);
            at = cuts[q];
        }
        run_range(c, &part, at, N_EVENTS);
        if (part.len != full.len || memcmp(part.log, full.log, full.len)) {
            size_t i = 0;
            while (i < part.len && i < full.len && part.log[i] == full.log[i])
                i++;
            fail_msg("trial %d (cuts %d %d %d): outputs differ at byte %zu: ...%.80s vs ...%.80s", trial, cuts[0],
                     cuts[1], cuts[2], i, full.log + i, part.log + i);
        }
        rec_free(&part);
        segstream_cluster_free(c);
    }
    rec_free(&full);
}

static uint64_t fnv64(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static void corrupt_blobs_are_rejected(void **state)
{
    (void)state;
    segstream_cluster_options o = opts();
    segstream_err err = {{0}};
    recorder r = {0};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    run_range(c, &r, 0, 1500);
    uint8_t *blob;
    size_t len;
    assert_int_equal(segstream_cluster_snapshot(c, &blob, &len, &err), 0);
    segstream_cluster_free(c);
    uint8_t *bad = malloc(len);
    /* truncated */
    size_t cuts[] = {0, 5, 27, 28, 100, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        assert_null(segstream_cluster_restore(blob, cuts[i], &err));
        assert_true(strlen(err.message) > 10);
    }
    /* foreign magic, future version */
    memcpy(bad, blob, len);
    bad[0] = 'X';
    assert_null(segstream_cluster_restore(bad, len, &err));
    assert_non_null(strstr(err.message, "magic"));
    memcpy(bad, blob, len);
    bad[8] = 99;
    assert_null(segstream_cluster_restore(bad, len, &err));
    assert_non_null(strstr(err.message, "version"));
    /* a flipped byte: the checksum catches it */
    uint64_t s = 5;
    for (int i = 0; i < 50; i++) {
        memcpy(bad, blob, len);
        size_t at = 28 + t_next(&s) % (len - 28);
        bad[at] ^= (uint8_t)(1 + t_next(&s) % 255);
        assert_null(segstream_cluster_restore(bad, len, &err));
        assert_non_null(strstr(err.message, "checksum"));
    }
    /* flipped bytes with a recomputed checksum: the field checks must hold
     * (a restored model may come back; it must never crash; ASan watches) */
    int rejected = 0;
    for (int i = 0; i < 400; i++) {
        memcpy(bad, blob, len);
        for (int f = 0; f < 3; f++) {
            size_t at = 28 + t_next(&s) % (i < 200 ? 600 : len - 28); /* half in the header fields */
            bad[at] ^= (uint8_t)(1 + t_next(&s) % 255);
        }
        uint64_t sum = fnv64(bad + 28, len - 28);
        for (int b = 0; b < 8; b++)
            bad[20 + b] = (uint8_t)(sum >> (8 * b));
        segstream_cluster *back = segstream_cluster_restore(bad, len, &err);
        rejected += back == NULL;
        if (back) { /* whatever came back must still run */
            recorder rr = {0};
            run_range(back, &rr, 1500, 1600);
            rec_free(&rr);
            segstream_cluster_free(back);
        }
    }
    assert_true(rejected > 100);
    free(bad);
    free(blob);
    rec_free(&r);
}

static void put_i64_at(uint8_t *blob, size_t at, int64_t v)
{
    for (int b = 0; b < 8; b++)
        blob[at + b] = (uint8_t)((uint64_t)v >> (8 * b));
}

static void fix_checksum(uint8_t *blob, size_t len)
{
    uint64_t sum = fnv64(blob + 28, len - 28);
    for (int b = 0; b < 8; b++)
        blob[20 + b] = (uint8_t)(sum >> (8 * b));
}

/* Found by fuzz_cluster_snapshot: options within their ranges can describe a
 * model of terabytes (restore allocated it before reading the payload, and
 * the out-of-memory path then read the freed model), and a user capacity
 * hint of 2^30 made restore allocate a 2^30-user table. Offsets are those of
 * the payload's options (dim, k, window, pane, ..., user_capacity at 152). */
static void forged_sizes_are_refused_before_allocating(void **state)
{
    (void)state;
    segstream_cluster_options o = opts();
    segstream_err err = {{0}};
    recorder r = {0};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    run_range(c, &r, 0, 500);
    uint8_t *blob, *again;
    size_t len, len2;
    assert_int_equal(segstream_cluster_snapshot(c, &blob, &len, &err), 0);
    segstream_cluster_free(c);
    uint8_t *bad = malloc(len);

    memcpy(bad, blob, len);
    put_i64_at(bad, 28 + 0, 65536);              /* dim */
    put_i64_at(bad, 28 + 8, 4096);               /* k */
    put_i64_at(bad, 28 + 16, 10000 * o.pane_ms); /* window: 10000 panes */
    put_i64_at(bad, 28 + 56, 4096);              /* init_sample >= k */
    fix_checksum(bad, len);
    assert_null(segstream_cluster_restore(bad, len, &err));
    assert_non_null(strstr(err.message, "larger than the snapshot"));

    /* The capacity hint is no size: the model restores, and keeps the hint. */
    memcpy(bad, blob, len);
    put_i64_at(bad, 28 + 152, INT64_C(1) << 30);
    fix_checksum(bad, len);
    c = segstream_cluster_restore(bad, len, &err);
    if (!c)
        fail_msg("restore with a 2^30 capacity hint: %s", err.message);
    assert_int_equal(segstream_cluster_snapshot(c, &again, &len2, &err), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(again, bad, len);
    segstream_cluster_free(c);
    free(again);
    free(bad);
    free(blob);
    rec_free(&r);
}

/* A format-2 snapshot (before users recorded the segment they left; written
 * by make_seeds of that version) still restores, with users and segments,
 * and is written back in the current format, which restores to the same bytes. */
static void format_2_snapshot_restores(void **state)
{
    (void)state;
    const char *dir = getenv("SEGSTREAM_TESTDATA");
    assert_non_null(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/cluster_snapshot_v2.bin", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open", path);
    static uint8_t old[1 << 20];
    size_t len = fread(old, 1, sizeof old, f);
    fclose(f);
    assert_true(len > 28 && len < sizeof old);
    assert_int_equal(old[8], 2);
    segstream_err err = {{0}};
    segstream_cluster *c = segstream_cluster_restore(old, len, &err);
    if (!c)
        fail_msg("%s", err.message);
    segstream_cluster_stats st;
    segstream_cluster_get_stats(c, &st);
    assert_true(st.users > 0 && st.active_segments > 0 && st.model_version > 0);
    uint8_t *blob, *again;
    size_t n, n2;
    assert_int_equal(segstream_cluster_snapshot(c, &blob, &n, &err), 0);
    assert_int_equal(blob[8], 3);
    assert_int_equal(n, len + 8 * (size_t)st.users); /* one more int64 a user */
    segstream_cluster *back = segstream_cluster_restore(blob, n, &err);
    assert_non_null(back);
    assert_int_equal(segstream_cluster_snapshot(back, &again, &n2, &err), 0);
    assert_int_equal(n, n2);
    assert_memory_equal(blob, again, n);
    free(blob), free(again);
    segstream_cluster_free(back);
    segstream_cluster_free(c);
}

static segstream_profile_codec fp16 = SEGSTREAM_PROFILE_FP16, int8 = SEGSTREAM_PROFILE_INT8;

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(restore_and_replay_equals_uninterrupted, &fp16),
        cmocka_unit_test_prestate(restore_and_replay_equals_uninterrupted, &int8),
        cmocka_unit_test(corrupt_blobs_are_rejected),
        cmocka_unit_test(format_2_snapshot_restores),
        cmocka_unit_test(forged_sizes_are_refused_before_allocating),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
