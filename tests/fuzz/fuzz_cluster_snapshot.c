/* fuzz_cluster_snapshot.c - libFuzzer target for segstream_cluster_restore:
 * a snapshot blob from the state topic is untrusted (a damaged record, a
 * foreign writer). The mutated blob's length and checksum are fixed up
 * (snapshot_fixup.h) so the fuzzer reaches the payload parser; the raw bytes
 * are tried too, for the header checks.
 *
 * A blob that restores must give a model that works: it snapshots, restores
 * again and snapshots to the same bytes, and takes an event, a full sweep
 * and a deletion without crashing; a shared model first goes through a
 * barrier with its own pending delta (restore's range checks are what stand
 * between a forged count or index and a write out of bounds later).
 * Seeds: tests/fuzz/corpus/cluster_snapshot (real snapshots, make_seeds). */
#include "cluster/cluster.h"

#include "snapshot_fixup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, const segstream_err *err)
{
    fprintf(stderr, "fuzz_cluster_snapshot: %s: %s\n", what, err ? err->message : "");
    abort();
}

static void on_change(void *ctx, const segstream_cluster_change *ch)
{
    *(size_t *)ctx += strlen(ch->user_id);
}

static void on_segment(void *ctx, const segstream_catalog_change *seg)
{
    for (int i = 0; i < seg->n_label; i++)
        *(size_t *)ctx += strlen(seg->label[i]);
    if (seg->centroid)
        for (int i = 0; i < seg->dim; i++)
            *(size_t *)ctx += seg->centroid[i] > 0;
}

/* Uses a restored model the way the stage would after a restart. */
static void exercise(segstream_cluster *c, int dim)
{
    segstream_err err = {{0}};
    size_t seen = 0;
    segstream_cluster_sink sink = {&seen, on_change, on_segment};
    segstream_cluster_stats stats;
    segstream_cluster_get_stats(c, &stats);
    segstream_cluster_for_each_segment(c, &sink);
    float *v = calloc((size_t)dim, sizeof *v);
    if (!v)
        return;
    for (int i = 0; i < dim; i++)
        v[i] = (float)((i * 7919) % 13) - 6.0f;
    v[0] = 1.0f;
    const char *words[] = {"fuzz", "words"};
    int64_t t = stats.max_event_time == INT64_MIN ? 0 : stats.max_event_time;
    segstream_cluster_event ev = {"fuzz-user", SEGSTREAM_CLUSTER_OP_SET, v, words, 2, t, 0};
    segstream_cluster_reject reject;
    int rc = segstream_cluster_update(c, &ev, &sink, &reject, &err);
    if (rc == SEGSTREAM_CLUSTER_AT_BARRIER) {
        /* a shared model: its own pending deltas must go through a barrier */
        int n = segstream_cluster_pending_shards(c, NULL, 0);
        int32_t *shards = calloc((size_t)n + 1, sizeof *shards);
        uint8_t **delta = calloc((size_t)n + 1, sizeof *delta);
        size_t *len = calloc((size_t)n + 1, sizeof *len);
        if (!shards || !delta || !len)
            fail("out of memory", NULL);
        segstream_cluster_pending_shards(c, shards, n);
        int64_t pane = segstream_cluster_barrier_wanted(c);
        for (int s = 0; s < n; s++)
            if (segstream_cluster_delta_take(c, shards[s], &delta[s], &len[s], &err))
                fail("take on a restored shared model", &err);
        if (segstream_cluster_barrier(c, (const uint8_t *const *)delta, len, (size_t)n, pane, 1, &sink, &err))
            fail("barrier with a restored shared model's own deltas", &err);
        for (int s = 0; s < n; s++)
            free(delta[s]);
        free(shards), free(delta), free(len);
        rc = segstream_cluster_update(c, &ev, &sink, &reject, &err);
    }
    if (rc < 0)
        fail("update on a restored model", &err);
    if (segstream_cluster_sweep(c, 0, 1, &sink, &err) < 0)
        fail("sweep on a restored model", &err);
    segstream_cluster_user_segment(c, "fuzz-user", NULL);
    ev.op = SEGSTREAM_CLUSTER_OP_DELETE;
    ev.vector = NULL;
    if (segstream_cluster_update(c, &ev, &sink, &reject, &err) < 0)
        fail("delete on a restored model", &err);
    free(v);
}

static void try_restore(const uint8_t *blob, size_t len)
{
    segstream_err err = {{0}};
    segstream_cluster *c = segstream_cluster_restore(blob, len, &err);
    if (!c)
        return;
    uint8_t *b1 = NULL, *b2 = NULL;
    size_t l1 = 0, l2 = 0;
    if (segstream_cluster_snapshot(c, &b1, &l1, &err) < 0)
        fail("snapshot of a restored model", &err);
    segstream_cluster *c2 = segstream_cluster_restore(b1, l1, &err);
    if (!c2)
        fail("a restored model's own snapshot does not restore", &err);
    if (segstream_cluster_snapshot(c2, &b2, &l2, &err) < 0)
        fail("second snapshot", &err);
    if (l1 != l2 || memcmp(b1, b2, l1))
        fail("snapshot -> restore -> snapshot changed the bytes", NULL);
    /* dim is the payload's first field (options, little-endian i64). */
    int64_t dim = 0;
    for (int i = 7; i >= 0; i--)
        dim = dim << 8 | b1[FUZZ_CLUSTER_HEADER + i];
    exercise(c, (int)dim);
    free(b1), free(b2);
    segstream_cluster_free(c2);
    segstream_cluster_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    try_restore(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    fuzz_fix_cluster_blob(copy, size);
    if (size >= FUZZ_CLUSTER_HEADER && memcmp(copy, data, size))
        try_restore(copy, size);
    free(copy);
    return 0;
}
