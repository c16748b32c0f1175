/* fuzz_pipeline_snapshot.c - libFuzzer target for segstream_pipeline_restore,
 * the blob the Kafka stage reads back from its state topic on assignment.
 * Restore touches only the pipeline's state (cluster model, bootstrap queue,
 * last event), never the encoder, so the target builds a pipeline without a
 * model through pipeline_internal.h: the fuzz run needs no weights. Both
 * checksums (the pipeline's CRC-64-AVRO and the inner cluster blob's) are
 * fixed up after mutation (snapshot_fixup.h); the raw bytes are tried too.
 *
 * A blob that restores must snapshot, restore and snapshot again to the same
 * bytes. Each blob is restored as one model and as partition models
 * (scale-out). Seeds: tests/fuzz/corpus/pipeline_snapshot (make_seeds). */
#include "consumer/crc64avro.h"
#include "consumer/pipeline_internal.h"

#include "snapshot_fixup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, const segstream_err *err)
{
    fprintf(stderr, "fuzz_pipeline_snapshot: %s: %s\n", what, err ? err->message : "");
    abort();
}

static void try_restore(const uint8_t *blob, size_t len, int partition_models)
{
    segstream_err err = {{0}};
    segstream_pipeline *p = calloc(1, sizeof *p), *q = calloc(1, sizeof *q);
    if (!p || !q)
        abort();
    p->settings = q->settings = segstream_stage_default_settings();
    p->settings.shared_model = q->settings.shared_model = partition_models;
    p->settings.partition_models = q->settings.partition_models = partition_models;
    if (segstream_pipeline_restore(p, blob, len, &err) == 0) {
        uint8_t *b1 = NULL, *b2 = NULL;
        size_t l1 = 0, l2 = 0;
        if (segstream_pipeline_snapshot(p, &b1, &l1, &err) < 0)
            fail("snapshot of a restored pipeline", &err);
        if (segstream_pipeline_restore(q, b1, l1, &err) < 0)
            fail("a restored pipeline's own snapshot does not restore", &err);
        if (segstream_pipeline_snapshot(q, &b2, &l2, &err) < 0)
            fail("second snapshot", &err);
        if (l1 != l2 || memcmp(b1, b2, l1))
            fail("snapshot -> restore -> snapshot changed the bytes", NULL);
        free(b1), free(b2);
    }
    segstream_pipeline_close(p);
    segstream_pipeline_close(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    try_restore(data, size, 0);
    try_restore(data, size, 1); /* scale-out: one shared model per partition */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    fuzz_fix_pipeline_blob(copy, size, segstream_crc64_avro);
    if (memcmp(copy, data, size)) {
        try_restore(copy, size, 0);
        try_restore(copy, size, 1);
    }
    free(copy);
    return 0;
}
