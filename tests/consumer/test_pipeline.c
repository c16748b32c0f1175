/* test_pipeline.c - the batch pipeline on real texts (StackOverflow titles)
 * with the real model: ordering by (event_time, partition, offset),
 * deterministic ids, dedupe of identical texts, a dead letter for each
 * invalid kind (nothing lost), invalid UTF-8 repaired and a 1 MB text cut
 * instead of refused, and the snapshot property: A, snapshot, restore into
 * a fresh pipeline, B == A then B, byte for byte (split during the
 * bootstrap and after it); a snapshot of a model of another dimension is
 * refused on restore. The encoder cache is off where outputs of two
 * pipelines are compared: a cache hit returns the vector of an earlier
 * forward pass, whose last bits depend on that pass's other texts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "consumer/file_sink.h"
#include "consumer/pipeline.h"
#include "consumer/codec_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_TITLES 120
#define T0 INT64_C(1500000000000)
#define MINUTE INT64_C(60000)

static char *titles[N_TITLES];

/* Every output as a line: "C json", "S json" or "D json". */
typedef struct collector {
    char *text;
    size_t len, cap;
    int changes, segments, dead;
    char reasons[64][24];
    int n_reasons;
} collector;

static void append(collector *c, char kind, const char *line)
{
    size_t n = strlen(line) + 3;
    if (c->len + n + 1 > c->cap) {
        c->cap = (c->len + n + 1) * 2;
        c->text = realloc(c->text, c->cap);
        assert_non_null(c->text);
    }
    c->len += (size_t)sprintf(c->text + c->len, "%c %s\n", kind, line);
}

static int on_change(void *ctx, const segstream_record *rec, segstream_err *err)
{
    char *j = segstream_record_to_json(rec, err);
    assert_non_null(j);
    append(ctx, 'C', j);
    ((collector *)ctx)->changes++;
    free(j);
    return 0;
}

static int on_segment(void *ctx, const segstream_record *rec, segstream_err *err)
{
    char *j = segstream_record_to_json(rec, err);
    assert_non_null(j);
    append(ctx, 'S', j);
    ((collector *)ctx)->segments++;
    free(j);
    return 0;
}

static int on_dead(void *ctx, const segstream_dead_letter *dl, segstream_err *err)
{
    collector *c = ctx;
    char *j = segstream_dead_letter_to_json(dl, err);
    assert_non_null(j);
    append(c, 'D', j);
    free(j);
    if (c->n_reasons < 64)
        snprintf(c->reasons[c->n_reasons++], sizeof c->reasons[0], "%s", dl->reason);
    c->dead++;
    return 0;
}

static segstream_pipeline_sink bind(collector *c)
{
    segstream_pipeline_sink s = {c, on_change, on_segment, on_dead};
    return s;
}

static void collector_free(collector *c)
{
    free(c->text);
    memset(c, 0, sizeof *c);
}

static segstream_stage_settings settings(int k, int init_sample)
{
    segstream_stage_settings s = segstream_stage_default_settings();
    s.model_dir = getenv("SEGSTREAM_MODEL_DIR");
    s.encoder_threads = 2;
    s.encoder_cache_entries = 0;
    s.k = k;
    s.init_sample = init_sample;
    s.window_ms = 8 * 60 * MINUTE;
    s.pane_ms = 60 * MINUTE;
    s.half_life_ms = 4 * 60 * MINUTE;
    s.allowed_lateness_ms = 0;
    s.max_future_skew_ms = 60 * MINUTE;
    s.reassign_slice = 5;
    return s;
}

static segstream_pipeline *open_pipeline(const segstream_stage_settings *s)
{
    segstream_err err = {{0}};
    segstream_pipeline *p = segstream_pipeline_open(s, &err);
    if (!p)
        fail_msg("%s", err.message);
    return p;
}

static segstream_record ic(const char *id, const char *user, int64_t t, int op, const char *text)
{
    segstream_record r;
    segstream_record_init(&r, SEGSTREAM_RECORD_INTEREST_CHANGE);
    r.interest_change.event_id = (char *)id;
    r.interest_change.user_id = (char *)user;
    r.interest_change.event_time = t;
    r.interest_change.op = (segstream_op)op;
    r.interest_change.text = (char *)text;
    return r;
}

static void process(segstream_pipeline *p, const segstream_pipeline_event *ev, size_t n, collector *c)
{
    segstream_err err = {{0}};
    segstream_pipeline_sink s = bind(c);
    if (segstream_pipeline_process(p, ev, n, &s, &err))
        fail_msg("process: %s", err.message);
}

/* Two events with distinct texts, so k = 2 bootstraps at once. */
static void bootstrap(segstream_pipeline *p, collector *c)
{
    segstream_record r[2] = {ic("boot-0", "b0", T0, SEGSTREAM_OP_SET, titles[0]),
                             ic("boot-1", "b1", T0, SEGSTREAM_OP_SET, titles[5])};
    segstream_pipeline_event ev[2] = {{&r[0], {"t", 0, 0}, NULL, NULL, 0}, {&r[1], {"t", 0, 1}, NULL, NULL, 0}};
    process(p, ev, 2, c);
    segstream_pipeline_stats st;
    segstream_pipeline_get_stats(p, &st);
    assert_int_equal(st.model_version, 1);
}

/* Offsets of the INTEREST_CHANGED outputs, in output order. */
static int change_offsets(const collector *c, long *out, int max)
{
    int n = 0;
    for (const char *l = c->text; l && (l = strstr(l, "\"cause\":\"INTEREST_CHANGED\"")); l++) {
        const char *o = strstr(l, "\"source_offset\":");
        assert_non_null(o);
        if (n < max)
            out[n++] = strtol(o + 16, NULL, 10);
    }
    return n;
}

static void test_order_ids_dedupe(void **state)
{
    (void)state;
    segstream_stage_settings s = settings(2, 2);
    collector runs[2] = {{0}};
    uint64_t encoded[2] = {0};
    for (int run = 0; run < 2; run++) {
        segstream_pipeline *p = open_pipeline(&s);
        collector boot = {0};
        bootstrap(p, &boot);
        collector_free(&boot);
        segstream_pipeline_stats before, after;
        segstream_pipeline_get_stats(p, &before);
        /* same pane; new users, so each gets exactly one INTEREST_CHANGED;
         * titles 10 and 11 appear twice: 4 distinct texts of 6 */
        segstream_record r[6] = {
            ic("e1", "n1", T0 + 3 * MINUTE, SEGSTREAM_OP_SET, titles[10]),
            ic("e2", "n2", T0 + 1 * MINUTE, SEGSTREAM_OP_SET, titles[11]),
            ic("e3", "n3", T0 + 1 * MINUTE, SEGSTREAM_OP_ADD, titles[10]),
            ic("e4", "n4", T0 + 2 * MINUTE, SEGSTREAM_OP_SET, titles[12]),
            ic("e5", "n5", T0 + 1 * MINUTE, SEGSTREAM_OP_SET, titles[13]),
            ic("e6", "n6", T0 + 2 * MINUTE, SEGSTREAM_OP_SET, titles[11]),
        };
        segstream_pipeline_event ev[6] = {
            {&r[0], {"t", 1, 5}, NULL, NULL, 0}, {&r[1], {"t", 0, 9}, NULL, NULL, 0},
            {&r[2], {"t", 0, 3}, NULL, NULL, 0}, {&r[3], {"t", 2, 1}, NULL, NULL, 0},
            {&r[4], {"t", 1, 0}, NULL, NULL, 0}, {&r[5], {"t", 0, 7}, NULL, NULL, 0},
        };
        process(p, ev, 6, &runs[run]);
        segstream_pipeline_get_stats(p, &after);
        encoded[run] = after.texts_encoded - before.texts_encoded;
        assert_int_equal(after.applied - before.applied, 6);
        segstream_pipeline_close(p);
    }
    assert_int_equal(encoded[0], 4);
    long off[16];
    int n = change_offsets(&runs[0], off, 16);
    assert_int_equal(n, 6);
    /* (time, partition, offset): (1,0,3) (1,0,9) (1,1,0) (2,0,7) (2,2,1) (3,1,5) */
    long want[6] = {3, 9, 0, 7, 1, 5};
    for (int i = 0; i < 6; i++)
        assert_int_equal(off[i], want[i]);
    /* same input, same bytes (ids included); ids are 32 hex digits and distinct */
    assert_int_equal(runs[0].len, runs[1].len);
    assert_memory_equal(runs[0].text, runs[1].text, runs[0].len);
    char ids[16][33];
    int n_ids = 0;
    for (const char *l = runs[0].text; (l = strstr(l, "\"event_id\":\"")); l += 12) {
        assert_true(n_ids < 16);
        memcpy(ids[n_ids], l + 12, 32);
        ids[n_ids][32] = '\0';
        assert_int_equal(strspn(ids[n_ids], "0123456789abcdef"), 32);
        for (int j = 0; j < n_ids; j++)
            assert_string_not_equal(ids[j], ids[n_ids]);
        n_ids++;
    }
    assert_int_equal(n_ids, 6);
    collector_free(&runs[0]);
    collector_free(&runs[1]);
}

static int count_reason(const collector *c, const char *reason)
{
    int n = 0;
    for (int i = 0; i < c->n_reasons; i++)
        n += !strcmp(c->reasons[i], reason);
    return n;
}

static void test_dead_letters(void **state)
{
    (void)state;
    segstream_stage_settings s = settings(2, 2);
    segstream_pipeline *p = open_pipeline(&s);
    collector c = {0};
    bootstrap(p, &c);
    collector_free(&c);

    char long_user[301];
    memset(long_user, 'u', 300);
    long_user[300] = '\0';
    size_t big = 1 << 20;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    for (size_t i = 0; i < big; i++)
        huge[i] = "kafka stream "[i % 13];
    huge[big] = '\0';
    const char *bad_utf8 = "caf\xC3( \xff\xfe visual studio plugin";
    float nan_vec[384], zero_vec[384];
    for (int i = 0; i < 384; i++)
        nan_vec[i] = i == 7 ? NAN : 0.05f, zero_vec[i] = 0.0f;

    segstream_record seg;
    segstream_record_init(&seg, SEGSTREAM_RECORD_SEGMENT);
    int64_t t = T0 + 5 * MINUTE;
    segstream_record r[] = {
        ic(NULL, "a", t, SEGSTREAM_OP_SET, titles[20]),                       /* MISSING_EVENT_ID */
        ic("", "a", t, SEGSTREAM_OP_SET, titles[20]),                         /* MISSING_EVENT_ID */
        ic("d3", NULL, t, SEGSTREAM_OP_SET, titles[20]),                      /* BAD_USER */
        ic("d4", "", t, SEGSTREAM_OP_SET, titles[20]),                        /* BAD_USER */
        ic("d5", long_user, t, SEGSTREAM_OP_SET, titles[20]),                 /* BAD_USER */
        ic("d6", "a", t, 7, titles[20]),                                      /* BAD_OP */
        ic("d7", "a", t, SEGSTREAM_OP_SET, NULL),                             /* MISSING_TEXT */
        ic("d8", "a", t, SEGSTREAM_OP_ADD, " \t\n "),                         /* EMPTY_TEXT */
        ic("d9", "a", T0 - 30 * 24 * 60 * MINUTE, SEGSTREAM_OP_SET, titles[21]), /* TOO_LATE */
        ic("d10", "a", t + 10 * 60 * MINUTE, SEGSTREAM_OP_SET, titles[22]),   /* TOO_FAR_FUTURE */
        ic("d11", "v", t, SEGSTREAM_OP_SET, titles[23]),                      /* BAD_VECTOR (given NaN) */
        ic("d12", "w", t, SEGSTREAM_OP_SET, titles[24]),                      /* ZERO_VECTOR (given) */
        ic("ok1", "x", t, SEGSTREAM_OP_SET, bad_utf8),                        /* repaired, applied */
        ic("ok2", "y", t, SEGSTREAM_OP_ADD, huge),                            /* cut, applied */
        ic("ok3", "z", t, SEGSTREAM_OP_DELETE, NULL),                         /* DELETE needs no text */
        ic("ok4", "b0", t, SEGSTREAM_OP_ADD, titles[25]),
    };
    size_t n = sizeof r / sizeof *r;
    segstream_pipeline_event ev[sizeof r / sizeof *r + 1];
    for (size_t i = 0; i < n; i++)
        ev[i] = (segstream_pipeline_event){&r[i], {"t", 0, (int64_t)i}, NULL, "raw", 3};
    ev[10].vector = nan_vec;
    ev[11].vector = zero_vec;
    ev[n] = (segstream_pipeline_event){&seg, {"t", 0, 99}, NULL, NULL, 0}; /* WRONG_TYPE */
    segstream_pipeline_stats before, after;
    segstream_pipeline_get_stats(p, &before);
    process(p, ev, n + 1, &c);
    segstream_pipeline_get_stats(p, &after);

    assert_int_equal(count_reason(&c, "MISSING_EVENT_ID"), 2);
    assert_int_equal(count_reason(&c, "BAD_USER"), 3);
    assert_int_equal(count_reason(&c, "BAD_OP"), 1);
    assert_int_equal(count_reason(&c, "MISSING_TEXT"), 1);
    assert_int_equal(count_reason(&c, "EMPTY_TEXT"), 1);
    assert_int_equal(count_reason(&c, "TOO_LATE"), 1);
    assert_int_equal(count_reason(&c, "TOO_FAR_FUTURE"), 1);
    assert_int_equal(count_reason(&c, "BAD_VECTOR"), 1);
    assert_int_equal(count_reason(&c, "ZERO_VECTOR"), 1);
    assert_int_equal(count_reason(&c, "WRONG_TYPE"), 1);
    assert_int_equal(c.dead, 13);
    /* nothing lost: every event is applied or dead-lettered */
    assert_int_equal(after.applied - before.applied, 4);
    assert_int_equal(after.dead_letters - before.dead_letters, 13);
    assert_int_equal(after.texts_repaired - before.texts_repaired, 1);
    assert_int_equal(after.texts_truncated - before.texts_truncated, 1);
    /* dead letters carry the original record and bytes */
    assert_non_null(strstr(c.text, "\"reason\":\"TOO_LATE\""));
    assert_non_null(strstr(c.text, "\"event_id\":\"d9\""));
    assert_non_null(strstr(c.text, "\"raw\":\"raw\""));
    /* the repaired and the cut text made their users' segment changes */
    assert_non_null(strstr(c.text, "\"user_id\":\"x\""));
    assert_non_null(strstr(c.text, "\"user_id\":\"y\""));
    collector_free(&c);
    free(huge);
    segstream_pipeline_close(p);
}

/* 120 events, 10 minutes apart (20 hours, several panes and model updates):
 * users come and go, mostly SET, some ADD, a few DELETE. */
static void stream(segstream_record *r, char ids[][16], char users[][16])
{
    for (int i = 0; i < N_TITLES; i++) {
        snprintf(ids[i], 16, "s%d", i);
        snprintf(users[i], 16, "u%d", (i * 7) % 23);
        int op = i % 19 == 18 ? SEGSTREAM_OP_DELETE : i % 3 == 1 ? SEGSTREAM_OP_ADD : SEGSTREAM_OP_SET;
        r[i] = ic(ids[i], users[i], T0 + i * 10 * MINUTE, op, op == SEGSTREAM_OP_DELETE ? NULL : titles[i]);
    }
}

static void run_batches(segstream_pipeline *p, segstream_pipeline_event *ev, int from, int to, int batch,
                        collector *c)
{
    for (int lo = from; lo < to; lo += batch)
        process(p, ev + lo, (size_t)(lo + batch < to ? batch : to - lo), c);
}

static void snapshot_restore_with(int shared)
{
    segstream_stage_settings s = settings(3, 20);
    s.shared_model = shared;
    static segstream_record r[N_TITLES];
    static char ids[N_TITLES][16], users[N_TITLES][16];
    stream(r, ids, users);
    segstream_pipeline_event ev[N_TITLES];
    for (int i = 0; i < N_TITLES; i++)
        ev[i] = (segstream_pipeline_event){&r[i], {"interest-changes", i % 3, i}, NULL, NULL, 0};
    const int batch = 8;
    segstream_err err = {{0}};

    collector whole = {0};
    segstream_pipeline *p = open_pipeline(&s);
    run_batches(p, ev, 0, N_TITLES, batch, &whole);
    segstream_pipeline_sink sk = bind(&whole);
    assert_int_equal(segstream_pipeline_finish(p, &sk, &err), 0);
    segstream_pipeline_stats st;
    segstream_pipeline_get_stats(p, &st);
    assert_true(st.model_version > 3); /* the split points below see a living model */
    assert_true(whole.changes > 20);
    segstream_pipeline_close(p);

    int splits[2] = {16, 64}; /* during the bootstrap (20 events), and well after it */
    for (int k = 0; k < 2; k++) {
        collector split = {0};
        segstream_pipeline *a = open_pipeline(&s);
        run_batches(a, ev, 0, splits[k], batch, &split);
        uint8_t *blob = NULL, *blob2 = NULL;
        size_t len = 0, len2 = 0;
        if (segstream_pipeline_snapshot(a, &blob, &len, &err) || segstream_pipeline_snapshot(a, &blob2, &len2, &err))
            fail_msg("snapshot: %s", err.message);
        assert_int_equal(len, len2); /* deterministic bytes */
        assert_memory_equal(blob, blob2, len);
        segstream_pipeline_close(a);

        segstream_stage_settings other = s;
        other.shared_model = !shared;
        segstream_pipeline *o = open_pipeline(&other);
        assert_int_equal(segstream_pipeline_restore(o, blob, len, &err), -1);
        if (!strstr(err.message, "cluster.shared_model"))
            fail_msg("restore as the other kind: %s", err.message);
        segstream_pipeline_close(o);
        segstream_pipeline *b = open_pipeline(&s);
        /* a damaged blob is refused and leaves the pipeline as it was */
        blob2[len2 / 2] ^= 0x40;
        assert_int_equal(segstream_pipeline_restore(b, blob2, len2, &err), -1);
        assert_int_equal(segstream_pipeline_restore(b, blob2, 7, &err), -1);
        if (segstream_pipeline_restore(b, blob, len, &err))
            fail_msg("restore: %s", err.message);
        run_batches(b, ev, splits[k], N_TITLES, batch, &split);
        sk = bind(&split);
        assert_int_equal(segstream_pipeline_finish(b, &sk, &err), 0);
        segstream_pipeline_close(b);
        free(blob), free(blob2);
        assert_int_equal(split.len, whole.len);
        assert_memory_equal(split.text, whole.text, whole.len);
        collector_free(&split);
    }
    collector_free(&whole);
}

/* Snapshot at two points (during the bootstrap, well after it), restore, run
 * the rest: the same outputs as one uninterrupted run, with each kind of model.
 * A model does not restore as the other kind. */
static void test_snapshot_restore(void **state)
{
    (void)state;
    for (int shared = 0; shared < 2; shared++)
        snapshot_restore_with(shared);
}

/* A valid snapshot of an 8-dimension model (the fuzz seed make_seeds wrote)
 * must not restore into a pipeline whose encoder gives 384 dimensions: its
 * vectors would overrun the centroids (found reviewing restore for fuzzing).
 * The same seed as the version before user slices wrote it (one blob, users
 * inside, tests/data/pipeline) gets as far, as does the one before XXH64
 * checksums (bundle, CRC-64-AVRO, cluster format 4): old state topics still
 * restore. */
static void test_restore_other_dimension(void **state)
{
    (void)state;
    const char *files[] = {"tests/fuzz/corpus/pipeline_snapshot/running.bin",
                           "tests/data/pipeline/snapshot-v1-running-8dim.bin",
                           "tests/data/pipeline/snapshot-v2-running-8dim.bin"};
    segstream_stage_settings s = settings(3, 20);
    segstream_pipeline *p = open_pipeline(&s);
    for (int i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", getenv("SEGSTREAM_ROOT"), files[i]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static uint8_t blob[1 << 16];
        size_t len = fread(blob, 1, sizeof blob, f);
        fclose(f);
        assert_true(len > 0 && len < sizeof blob);
        assert_memory_equal(blob, i == 1 ? "SGPL" : "SGPB", 4);
        segstream_err err = {{0}};
        assert_int_equal(segstream_pipeline_restore(p, blob, len, &err), -1);
        if (!strstr(err.message, "8-dimension"))
            fail_msg("%s: %s", files[i], err.message);
    }
    segstream_pipeline_close(p);
}

/* --- partition models (scale-out), the barrier exchange done in process --- */

#define PM_PARTS 3

/* Instances [0, n) own partitions by owner[]; every event goes to its
 * partition's owner; a barrier takes every instance's deltas and applies all
 * of them everywhere, as the model topic does between processes. */
typedef struct group {
    segstream_pipeline *inst[3];
    collector out[3];
    int n;
    int owner[PM_PARTS];
    int64_t seq;
    long barriers;
} group;

static void group_own(group *g)
{
    segstream_err err = {{0}};
    for (int i = 0; i < g->n; i++) {
        int32_t parts[PM_PARTS];
        size_t k = 0;
        for (int q = 0; q < PM_PARTS; q++)
            if (g->owner[q] == i)
                parts[k++] = q;
        if (segstream_pipeline_own_partitions(g->inst[i], parts, k, &err))
            fail_msg("own: %s", err.message);
    }
}

static void group_barrier(group *g)
{
    segstream_err err = {{0}};
    segstream_stage_delta *d[3] = {0}, all[PM_PARTS];
    size_t nd[3] = {0}, n_all = 0;
    int64_t pane = INT64_MAX;
    for (int i = 0; i < g->n; i++) {
        int64_t wanted;
        if (segstream_pipeline_barrier_take(g->inst[i], &d[i], &nd[i], &wanted, &err))
            fail_msg("take: %s", err.message);
        pane = wanted < pane ? wanted : pane;
        for (size_t j = 0; j < nd[i]; j++) {
            assert_int_equal(d[i][j].seq, g->seq);
            all[n_all++] = d[i][j];
        }
    }
    assert_int_equal(n_all, PM_PARTS);
    assert_true(pane != INT64_MAX);
    for (int i = 0; i < g->n; i++) {
        segstream_pipeline_sink sk = bind(&g->out[i]);
        long applied = 0;
        if (segstream_pipeline_barrier_apply(g->inst[i], g->seq, all, n_all, pane, 1000 + g->seq, &sk, &applied, &err))
            fail_msg("apply: %s", err.message);
        segstream_stage_barrier_state st;
        segstream_pipeline_barrier_state(g->inst[i], &st);
        assert_int_equal(st.seq_min, g->seq + 1);
        assert_int_equal(st.taken, 0);
    }
    for (int i = 0; i < g->n; i++)
        segstream_stage_deltas_free(d[i], nd[i]);
    g->seq++;
    g->barriers++;
}

static void group_feed(group *g, segstream_pipeline_event *ev, int from, int to)
{
    segstream_err err = {{0}};
    for (int e = from; e < to; e++) {
        int i = g->owner[ev[e].source.partition];
        segstream_pipeline_sink sk = bind(&g->out[i]);
        for (int tries = 0;; tries++) {
            size_t applied = 9;
            int rc = segstream_pipeline_process_to_barrier(g->inst[i], &ev[e], 1, &sk, &applied, &err);
            if (rc == 0) {
                assert_int_equal(applied, 1);
                break;
            }
            if (rc != SEGSTREAM_PIPELINE_AT_BARRIER || tries > 3)
                fail_msg("event %d: rc %d %s", e, rc, err.message);
            assert_int_equal(applied, 0);
            group_barrier(g);
        }
    }
}

/* The catalog lines of a collector ("S ..."), in order. */
static char *catalog_lines(const collector *c)
{
    char *out = calloc(c->len + 1, 1);
    size_t n = 0;
    for (const char *l = c->text; l && *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l + 1) : strlen(l);
        if (l[0] == 'S')
            memcpy(out + n, l, len), n += len;
        l += len;
    }
    return out;
}

static int count_prefix(const collector *c, const char *what)
{
    int n = 0;
    for (const char *l = c->text; l && (l = strstr(l, what)); l++)
        n++;
    return n;
}

/* Partition models: one instance owning every partition, and two sharing
 * them (partition 2 moving from one to the other halfway, through their
 * snapshots' slices) hold the same model: the catalog (told by partition 0's
 * owner only) is the same byte for byte, and every user gets the same number
 * of changes. A snapshot of partition models does not restore as one model. */
static void test_partition_models(void **state)
{
    (void)state;
    segstream_stage_settings s = settings(3, 20);
    s.shared_model = 1;
    s.partition_models = 1;
    s.keep_input_order = 1;
    static segstream_record r[N_TITLES];
    static char ids[N_TITLES][16], users[N_TITLES][16];
    stream(r, ids, users);
    segstream_pipeline_event ev[N_TITLES];
    for (int i = 0; i < N_TITLES; i++) /* a user's events on one partition, as keyed input has them */
        ev[i] = (segstream_pipeline_event){&r[i], {"interest-changes", ((i * 7) % 23) % PM_PARTS, i}, NULL, NULL, 0};
    segstream_err err = {{0}};

    group one = {.n = 1};
    one.inst[0] = open_pipeline(&s);
    group_own(&one);
    group_feed(&one, ev, 0, N_TITLES);
    assert_true(one.barriers > 5);
    segstream_pipeline_stats st;
    segstream_pipeline_get_stats(one.inst[0], &st);
    assert_true(st.model_version > 3);

    group two = {.n = 2, .owner = {0, 1, 0}};
    for (int i = 0; i < 2; i++)
        two.inst[i] = open_pipeline(&s);
    group_own(&two);
    group_feed(&two, ev, 0, N_TITLES / 2);
    /* partition 2 moves from instance 0 to 1: each restores its partitions' slices of the
     * two snapshots, as an instance reads them back from the state topic */
    uint8_t *blob[2];
    size_t len[2];
    segstream_snapshot_slice *sl[2];
    size_t n_sl[2];
    for (int i = 0; i < 2; i++)
        if (segstream_pipeline_snapshot(two.inst[i], &blob[i], &len[i], &err) ||
            segstream_snapshot_slices(blob[i], len[i], &sl[i], &n_sl[i], &err))
            fail_msg("snapshot: %s", err.message);
    two.owner[2] = 1;
    for (int i = 0; i < 2; i++) {
        segstream_snapshot_slice mine[PM_PARTS + 1];
        size_t k = 0;
        mine[k++] = sl[i][0];
        for (int from = 0; from < 2; from++)
            for (size_t j = 1; j < n_sl[from]; j++)
                if (two.owner[sl[from][j].partition] == i)
                    mine[k++] = sl[from][j];
        uint8_t *b;
        size_t bl;
        if (segstream_snapshot_bundle(mine, k, &b, &bl, &err) || segstream_pipeline_restore(two.inst[i], b, bl, &err))
            fail_msg("restore: %s", err.message);
        free(b);
    }
    segstream_stage_settings single = s;
    single.partition_models = 0;
    segstream_pipeline *o = open_pipeline(&single);
    assert_int_equal(segstream_pipeline_restore(o, blob[0], len[0], &err), -1);
    if (!strstr(err.message, "topics.model"))
        fail_msg("restore as one model: %s", err.message);
    segstream_pipeline_close(o);
    for (int i = 0; i < 2; i++)
        free(sl[i]), free(blob[i]);
    group_own(&two);
    group_feed(&two, ev, N_TITLES / 2, N_TITLES);
    assert_int_equal(two.barriers, one.barriers);

    char *a = catalog_lines(&one.out[0]), *b = catalog_lines(&two.out[0]), *c = catalog_lines(&two.out[1]);
    assert_true(strlen(a) > 0);
    assert_string_equal(a, b);
    assert_string_equal(c, ""); /* instance 1 does not own partition 0 */
    free(a), free(b), free(c);
    for (int u = 0; u < 23; u++) {
        char who[32];
        snprintf(who, sizeof who, "\"user_id\":\"u%d\"", u);
        assert_int_equal(count_prefix(&one.out[0], who), count_prefix(&two.out[0], who) + count_prefix(&two.out[1], who));
    }
    segstream_pipeline_close(one.inst[0]);
    collector_free(&one.out[0]);
    for (int i = 0; i < 2; i++) {
        segstream_pipeline_close(two.inst[i]);
        collector_free(&two.out[i]);
    }
}

static int load_titles(void **state)
{
    (void)state;
    const char *data = getenv("SEGSTREAM_DATA_DIR");
    if (!data || !getenv("SEGSTREAM_MODEL_DIR"))
        return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/short-text-clustering/StackOverflow.txt", data);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    for (int i = 0; i < N_TITLES && fgets(line, sizeof line, f);) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            titles[i++] = strdup(line);
    }
    fclose(f);
    return titles[N_TITLES - 1] ? 0 : -1;
}

static int free_titles(void **state)
{
    (void)state;
    for (int i = 0; i < N_TITLES; i++)
        free(titles[i]);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_ids_dedupe),
        cmocka_unit_test(test_dead_letters),
        cmocka_unit_test(test_snapshot_restore),
        cmocka_unit_test(test_restore_other_dimension),
        cmocka_unit_test(test_partition_models),
    };
    return cmocka_run_group_tests(tests, load_titles, free_titles);
}
