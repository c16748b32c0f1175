/* test_snapshot.c - the snapshot property: snapshot at random points, restore,
 * feed the rest -> byte-identical outputs to an uninterrupted run; blobs are
 * deterministic; corrupt, truncated or foreign blobs are errors, never crashes;
 * forged model sizes are refused before anything is allocated; panes are
 * written sparsely (format 3) and format 2 blobs (dense panes, fixtures in
 * tests/data/cluster) restore to the same state; a snapshot split by shard
 * (format 4) restores to the same bytes, and only with its own parts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "helpers.h"
#include "common/hash64.h"

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
    int user_no = (int)(t_next(&s) % 150);
    snprintf(user, 32, "user-%d", user_no);
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
    /* five shards; users move to another one now and then */
    *ev = (segstream_cluster_event){user, op, v, words, nw, t, (user_no + i / 1500) % 5};
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

/* Restores c from its split snapshot (the user parts given in reverse, as
 * a store may return them in any order) or from its whole blob (split 0). */
static segstream_cluster *restore_from(segstream_cluster *c, int split, segstream_err *err)
{
    if (!split) {
        uint8_t *blob;
        size_t len;
        assert_int_equal(segstream_cluster_snapshot(c, &blob, &len, err), 0);
        segstream_cluster *back = segstream_cluster_restore(blob, len, err);
        free(blob);
        return back;
    }
    uint8_t *model;
    size_t model_len, n;
    segstream_cluster_user_part *parts;
    assert_int_equal(segstream_cluster_snapshot_split(c, &model, &model_len, &parts, &n, err), 0);
    segstream_cluster_stats st;
    segstream_cluster_get_stats(c, &st);
    assert_true(st.users == 0 ? n == 0 : n >= 1 && n <= 5);
    for (size_t i = 0; i + 1 < n; i++)
        assert_true(parts[i].shard < parts[i + 1].shard);
    segstream_cluster_user_part *reversed = calloc(n + 1, sizeof *reversed);
    for (size_t i = 0; i < n; i++)
        reversed[i] = parts[n - 1 - i];
    segstream_cluster *back = segstream_cluster_restore_split(model, model_len, reversed, n, err);
    free(reversed), free(model);
    segstream_cluster_user_parts_free(parts, n);
    return back;
}

static segstream_cluster *round_trip(segstream_cluster *c, int split)
{
    uint8_t *blob, *again;
    size_t len, len2;
    segstream_err err = {{0}};
    assert_int_equal(segstream_cluster_snapshot(c, &blob, &len, &err), 0);
    segstream_cluster *back = restore_from(c, split, &err);
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
            c = round_trip(c, (trial + q) % 2);
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

/* The payload checksum the blob's format version calls for (XXH64 from 5). */
static uint64_t payload_sum(const uint8_t *blob, size_t len)
{
    return blob[8] >= 5 ? segstream_xxh64(blob + 28, len - 28, 0) : fnv64(blob + 28, len - 28);
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
        uint64_t sum = payload_sum(bad, len);
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
    uint64_t sum = payload_sum(blob, len);
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

static int64_t get_i64_at(const uint8_t *blob, size_t at)
{
    uint64_t v = 0;
    for (int b = 7; b >= 0; b--)
        v = v << 8 | blob[at + b];
    return (int64_t)v;
}

/* Payload offsets: options (21 x 8 bytes), clock, generator and counters
 * (11 x 8) come before the panes, in both formats. */
#define PANES_AT (28 + 21 * 8 + 11 * 8)

typedef struct ring_shape {
    int64_t dim, k, n_ring;
} ring_shape;

static ring_shape shape_of(const uint8_t *blob)
{
    int64_t pane = get_i64_at(blob, 28 + 24), lateness = get_i64_at(blob, 28 + 40);
    return (ring_shape){get_i64_at(blob, 28), get_i64_at(blob, 28 + 8),
                        get_i64_at(blob, 28 + 16) / pane + (lateness + pane - 1) / pane + 1};
}

/* Expands a format 3 pane section at blob + PANES_AT into format 2's dense
 * layout (indices, then every sum, then every count); returns the bytes the
 * sparse section took. */
static size_t expand_panes(const uint8_t *blob, ring_shape sh, uint8_t *dense)
{
    size_t row = (size_t)sh.dim * 4, nb = ((size_t)sh.k + 7) / 8, at = PANES_AT;
    uint8_t *sums = dense + sh.n_ring * 8, *counts = sums + (size_t)sh.n_ring * sh.k * row;
    memset(dense, 0, (size_t)sh.n_ring * (8 + sh.k * (row + 8)));
    for (int64_t r = 0; r < sh.n_ring; r++) {
        memcpy(dense + r * 8, blob + at, 8);
        const uint8_t *bits = blob + at + 8;
        at += 8 + nb;
        for (int64_t s = 0; s < sh.k; s++)
            if (bits[s / 8] >> (s % 8) & 1) {
                memcpy(sums + ((size_t)r * sh.k + s) * row, blob + at, row);
                memcpy(counts + ((size_t)r * sh.k + s) * 8, blob + at + row, 8);
                at += row + 8;
            }
    }
    return at - PANES_AT;
}

static uint8_t *read_fixture(const char *name, size_t *len)
{
    const char *dir = getenv("SEGSTREAM_TESTDATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/cluster/%s", dir ? dir : "tests/data", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    uint8_t *b = malloc(1 << 20);
    *len = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

/* A format 2 blob (written by the build before format 3, kept in
 * tests/data/cluster) restores, and the model writes format 3 whose every
 * byte outside the header and the panes is the old blob's, and whose sparse
 * panes expand to the old dense ones. */
static void dense_format_2_restores_to_the_same_state(void **state)
{
    (void)state;
    const char *names[] = {"snapshot-v2-running.bin", "snapshot-v2-expired.bin"};
    for (int f = 0; f < 2; f++) {
        size_t len2, len3;
        uint8_t *v2 = read_fixture(names[f], &len2), *v3;
        assert_int_equal(get_i64_at(v2, 8) & 0xffffffff, 2);
        segstream_err err = {{0}};
        segstream_cluster *c = segstream_cluster_restore(v2, len2, &err);
        if (!c)
            fail_msg("%s: %s", names[f], err.message);
        assert_int_equal(segstream_cluster_snapshot(c, &v3, &len3, &err), 0);
        segstream_cluster_free(c);
        assert_int_equal(v3[8], 6);
        ring_shape sh = shape_of(v2);
        size_t dense_len = (size_t)sh.n_ring * (8 + sh.k * (sh.dim * 4 + 8));
        uint8_t *dense = malloc(dense_len);
        size_t sparse_len = expand_panes(v3, sh, dense);
        assert_true(sparse_len < dense_len);
        segstream_cluster_stats st;
        c = segstream_cluster_restore(v3, len3, &err);
        assert_non_null(c);
        segstream_cluster_get_stats(c, &st);
        segstream_cluster_free(c);
        /* format 3 users also carry the segment they last left (8 bytes), format 4 their
         * shard (8 bytes, as buffered events do) and the users-inline flag (4 bytes), format 6
         * the shared-model flag (4 bytes) */
        assert_int_equal(len3 - sparse_len, len2 - dense_len + 16 * (size_t)st.users + 8 * (size_t)st.bootstrap_buffered + 8);
        assert_memory_equal(v2 + 28, v3 + 28, PANES_AT - 28);
        assert_memory_equal(v2 + PANES_AT, dense, dense_len);
        free(dense), free(v2), free(v3);
    }
}

/* Format 3 keeps one blob per state: a marked row that is all zero bits or
 * a set bitmap padding bit is refused (either would restore a model that
 * writes other bytes), and a -0.0 in a row keeps the row. */
static void sparse_panes_are_canonical(void **state)
{
    (void)state;
    segstream_cluster_options o = opts();
    o.k = 5; /* 3 padding bits in each 1-byte bitmap */
    segstream_err err = {{0}};
    recorder r = {0};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    run_range(c, &r, 0, 1200);
    uint8_t *blob, *again;
    size_t len, len2;
    assert_int_equal(segstream_cluster_snapshot(c, &blob, &len, &err), 0);
    segstream_cluster_free(c);
    ring_shape sh = shape_of(blob);
    assert_int_equal(sh.k, 5);
    /* find a slot with an unmarked and a marked row */
    size_t row = (size_t)sh.dim * 4 + 8, at = PANES_AT;
    size_t bitmap_at = 0, marked_at = 0;
    int unmarked = -1;
    for (int64_t i = 0; i < sh.n_ring; i++) {
        uint8_t bits = blob[at + 8];
        int n = __builtin_popcount(bits);
        if (!bitmap_at && n > 0 && n < sh.k) {
            bitmap_at = at + 8;
            marked_at = at + 9;
            for (int s = 0; s < sh.k && unmarked < 0; s++)
                if (!(bits >> s & 1))
                    unmarked = s;
        }
        at += 9 + (size_t)n * row;
    }
    assert_true(bitmap_at > 0 && unmarked >= 0);
    uint8_t *bad = malloc(len + row);

    memcpy(bad, blob, len);
    bad[bitmap_at] |= 0x80; /* padding */
    fix_checksum(bad, len);
    assert_null(segstream_cluster_restore(bad, len, &err));
    assert_non_null(strstr(err.message, "padding"));

    memcpy(bad, blob, len);
    memset(bad + marked_at, 0, row); /* the slot's first marked row zeroed */
    fix_checksum(bad, len);
    assert_null(segstream_cluster_restore(bad, len, &err));
    assert_non_null(strstr(err.message, "marked but zero"));

    /* an extra marked row: first unmarked slot, all -0.0 and count 0 (as a
     * split of an empty pane can leave): restores and writes the same bytes */
    size_t insert = marked_at;
    for (int s = 0; s < unmarked; s++)
        if (blob[bitmap_at] >> s & 1)
            insert += row;
    memcpy(bad, blob, insert);
    for (size_t i = 0; i < row - 8; i += 4)
        memcpy(bad + insert + i, "\0\0\0\x80", 4);
    memset(bad + insert + row - 8, 0, 8);
    memcpy(bad + insert + row, blob + insert, len - insert);
    bad[bitmap_at] |= (uint8_t)(1u << unmarked);
    for (int b = 0; b < 8; b++)
        bad[12 + b] = (uint8_t)((uint64_t)(len + row - 28) >> (8 * b));
    fix_checksum(bad, len + row);
    c = segstream_cluster_restore(bad, len + row, &err);
    if (!c)
        fail_msg("a -0.0 row: %s", err.message);
    assert_int_equal(segstream_cluster_snapshot(c, &again, &len2, &err), 0);
    assert_int_equal(len2, len + row);
    assert_memory_equal(again, bad, len2);
    segstream_cluster_free(c);
    free(again), free(bad), free(blob);
    rec_free(&r);
}

/* Found by fuzz_cluster_snapshot (regressions/cluster_snapshot/
 * running-without-segments.bin): a running model (version > 0) whose every
 * segment id was forged to -1 restored, and its next event read slot -1. */
static void a_running_model_without_segments_is_refused(void **state)
{
    (void)state;
    segstream_cluster_options o = opts();
    segstream_err err = {{0}};
    recorder r = {0};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    run_range(c, &r, 0, 500);
    uint8_t *blob;
    size_t len;
    assert_int_equal(segstream_cluster_snapshot(c, &blob, &len, &err), 0);
    segstream_cluster_free(c);
    ring_shape sh = shape_of(blob);
    uint8_t *dense = malloc((size_t)sh.n_ring * (8 + sh.k * (sh.dim * 4 + 8)));
    size_t at = PANES_AT + expand_panes(blob, sh, dense);
    free(dense);
    for (int64_t s = 0; s < sh.k; s++) { /* id, 3 times, 3 reals, epoch, 3 u32, labels */
        put_i64_at(blob, at, -1);
        uint32_t n_label = (uint32_t)get_i64_at(blob, at + 72);
        at += 76;
        for (uint32_t l = 0; l < n_label; l++)
            at += 4 + (uint32_t)get_i64_at(blob, at);
    }
    fix_checksum(blob, len);
    assert_null(segstream_cluster_restore(blob, len, &err));
    assert_non_null(strstr(err.message, "without an active segment"));
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
    snprintf(path, sizeof path, "%s/cluster/snapshot-v2-running.bin", dir);
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
    assert_int_equal(blob[8], 6);
    segstream_cluster *back = segstream_cluster_restore(blob, n, &err);
    assert_non_null(back);
    assert_int_equal(segstream_cluster_snapshot(back, &again, &n2, &err), 0);
    assert_int_equal(n, n2);
    assert_memory_equal(blob, again, n);
    segstream_cluster_free(back);
    /* format 5 is format 6 without the shared-model flag (a model that is not
     * shared), and format 4 is format 5 with an FNV-1a checksum: what state
     * topics hold from before; both restore to the same state */
    for (int old_format = 5; old_format >= 4; old_format--) {
        uint8_t *older = malloc(n - 4);
        memcpy(older, blob, n - 4);
        older[8] = (uint8_t)old_format;
        for (int b = 0; b < 8; b++)
            older[12 + b] = (uint8_t)((uint64_t)(n - 4 - 28) >> (8 * b));
        fix_checksum(older, n - 4);
        back = segstream_cluster_restore(older, n - 4, &err);
        if (!back)
            fail_msg("format %d: %s", old_format, err.message);
        free(again);
        assert_int_equal(segstream_cluster_snapshot(back, &again, &n2, &err), 0);
        assert_int_equal(n, n2);
        assert_int_equal(again[8], 6);
        assert_memory_equal(blob + 28, again + 28, n - 28);
        segstream_cluster_free(back);
        if (old_format == 4) {
            memcpy(blob, older, n - 4);
            n -= 4;
        }
        free(older);
    }
    blob[20] ^= 1; /* and format 4's checksum is still checked */
    assert_null(segstream_cluster_restore(blob, n, &err));
    free(blob), free(again);
    segstream_cluster_free(c);
}

/* A split snapshot restores only whole: a missing part, a part of another
 * checkpoint, a part twice, a damaged part or parts given to a whole blob
 * are errors that say which shard. */
static void split_parts_must_match_their_model(void **state)
{
    (void)state;
    segstream_cluster_options o = opts();
    segstream_err err = {{0}};
    recorder r = {0};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    run_range(c, &r, 0, 1200);
    uint8_t *old_model, *model, *whole;
    size_t old_len, len, whole_len, n_old, n;
    segstream_cluster_user_part *old_parts, *parts;
    assert_int_equal(segstream_cluster_snapshot_split(c, &old_model, &old_len, &old_parts, &n_old, &err), 0);
    run_range(c, &r, 1200, 1300);
    assert_int_equal(segstream_cluster_snapshot_split(c, &model, &len, &parts, &n, &err), 0);
    assert_int_equal(segstream_cluster_snapshot(c, &whole, &whole_len, &err), 0);
    segstream_cluster_free(c);
    assert_int_equal(n, 5);
    assert_int_equal(n_old, 5);
    segstream_cluster_user_part given[6];
    /* one missing */
    memcpy(given, parts, 4 * sizeof *given);
    assert_null(segstream_cluster_restore_split(model, len, given, 4, &err));
    assert_non_null(strstr(err.message, "shard 4 is missing"));
    /* one twice */
    given[4] = parts[0];
    assert_null(segstream_cluster_restore_split(model, len, given, 5, &err));
    assert_non_null(strstr(err.message, "twice"));
    /* the previous checkpoint's part of a shard whose users changed since */
    int stale = -1;
    for (size_t i = 0; i < n && stale < 0; i++)
        if (old_parts[i].len != parts[i].len || memcmp(old_parts[i].blob, parts[i].blob, parts[i].len))
            stale = (int)i;
    assert_true(stale >= 0);
    memcpy(given, parts, 5 * sizeof *given);
    given[stale] = old_parts[stale];
    assert_null(segstream_cluster_restore_split(model, len, given, 5, &err));
    assert_non_null(strstr(err.message, "not the one this snapshot"));
    /* a shard the model does not list */
    memcpy(given, parts, 5 * sizeof *given);
    given[5] = parts[1];
    given[5].shard = 77;
    assert_null(segstream_cluster_restore_split(model, len, given, 6, &err));
    assert_non_null(strstr(err.message, "shard 77"));
    /* a damaged part */
    uint8_t *bad = malloc(parts[2].len);
    memcpy(bad, parts[2].blob, parts[2].len);
    bad[parts[2].len / 2] ^= 0x40;
    memcpy(given, parts, 5 * sizeof *given);
    given[2].blob = bad;
    assert_null(segstream_cluster_restore_split(model, len, given, 5, &err));
    assert_non_null(strstr(err.message, "corrupt"));
    /* truncated parts never crash */
    for (size_t cut = 0; cut < parts[2].len; cut += 7) {
        given[2].len = cut;
        assert_null(segstream_cluster_restore_split(model, len, given, 5, &err));
    }
    free(bad);
    /* the model without its parts, and parts with a whole blob */
    assert_null(segstream_cluster_restore(model, len, &err));
    assert_non_null(strstr(err.message, "separate parts"));
    assert_null(segstream_cluster_restore_split(whole, whole_len, parts, 5, &err));
    assert_non_null(strstr(err.message, "holds its users"));
    /* and the right set restores */
    c = segstream_cluster_restore_split(model, len, parts, 5, &err);
    if (!c)
        fail_msg("%s", err.message);
    uint8_t *again;
    size_t again_len;
    assert_int_equal(segstream_cluster_snapshot(c, &again, &again_len, &err), 0);
    segstream_cluster_free(c);
    /* as written before XXH64 (model format 4, parts version 1, FNV-1a sums,
     * the listing naming the parts' FNV sums): restores to the same state */
    uint8_t *old_parts_bytes[5];
    for (size_t i = 0; i < n; i++) {
        uint8_t *p = old_parts_bytes[i] = malloc(parts[i].len);
        memcpy(p, parts[i].blob, parts[i].len);
        p[8] = 1;
        uint64_t fnv = fnv64(p + 28, parts[i].len - 28);
        uint8_t *listed = NULL;
        for (size_t at = 28; at + 8 <= len && !listed; at++)
            if (!memcmp(model + at, p + 20, 8))
                listed = model + at;
        assert_non_null(listed);
        for (int b = 0; b < 8; b++)
            p[20 + b] = listed[b] = (uint8_t)(fnv >> (8 * b));
        given[i] = (segstream_cluster_user_part){parts[i].shard, p, parts[i].len};
    }
    model[8] = 4;
    len -= 4; /* format 6's shared-model flag */
    for (int b = 0; b < 8; b++)
        model[12 + b] = (uint8_t)((uint64_t)(len - 28) >> (8 * b));
    fix_checksum(model, len);
    c = segstream_cluster_restore_split(model, len, given, 5, &err);
    if (!c)
        fail_msg("format 4 with version 1 parts: %s", err.message);
    uint8_t *back;
    size_t back_len;
    assert_int_equal(segstream_cluster_snapshot(c, &back, &back_len, &err), 0);
    segstream_cluster_free(c);
    assert_int_equal(back_len, again_len);
    assert_memory_equal(back, again, back_len);
    for (size_t i = 0; i < n; i++)
        free(old_parts_bytes[i]);
    free(back), free(again);
    free(old_model), free(model), free(whole);
    segstream_cluster_user_parts_free(old_parts, n_old);
    segstream_cluster_user_parts_free(parts, n);
    rec_free(&r);
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
        cmocka_unit_test(dense_format_2_restores_to_the_same_state),
        cmocka_unit_test(sparse_panes_are_canonical),
        cmocka_unit_test(a_running_model_without_segments_is_refused),
        cmocka_unit_test(split_parts_must_match_their_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
