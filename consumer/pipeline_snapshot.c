/* pipeline_snapshot.c - the pipeline's state as a blob and back.
 *
 * The blob is a bundle: "SGPB", version (Avro long), slice count, per slice
 * its partition (-1 for the model) and length, then the slices' bytes in that
 * order: the model slice, then one per input partition with users (the
 * cluster's user parts, self-checking: cluster/snapshot.c). The bundle only
 * frames; each slice checks itself, since the state topic stores them apart.
 *
 * Model slice: "SGPL", version (Avro long: 1 with the users inside the
 * cluster blob, as older versions wrote and still restore; 2 with the users
 * in the user slices; 3 as 2 with an XXH64 checksum), the cluster's blob
 * (length + bytes), the bootstrap attribution queue (count, then per entry
 * event id, user, topic, partition, offset, event time), the last event
 * (flag, id, topic, partition, offset), and a checksum of everything before
 * it, little-endian: XXH64 (seed 0) from version 3, CRC-64-AVRO before. Numbers are Avro
 * zig-zag varints and strings Avro strings, read back with the bounded reader
 * of avro_binary.h, so a damaged blob is an error naming the field, never a
 * crash. Restore builds everything aside and swaps it in only when the whole
 * blob has been read. */
#include "consumer/pipeline_internal.h"

#include "consumer/avro_binary.h"
#include "consumer/crc64avro.h"
#include "common/hash64.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_MAGIC "SGPL"
#define SNAPSHOT_WHOLE_VERSION 1 /* users inside the cluster blob: still restored */
#define SNAPSHOT_VERSION 3 /* 2: users in the user slices; 3: an XXH64 tail instead of CRC-64-AVRO */
#define SNAPSHOT_XXH64_VERSION 3
#define BUNDLE_MAGIC "SGPB"
#define BUNDLE_VERSION 1

/* CRC-64-AVRO (8 bytes a step, ~1.7 ms a 4 MB slice) before version 3. */
static uint64_t slice_checksum(const uint8_t *data, size_t len, int64_t version)
{
    return version >= SNAPSHOT_XXH64_VERSION ? segstream_xxh64(data, len, 0) : segstream_crc64_avro(data, len);
}

static void put_str(segstream_buf *b, const char *s)
{
    segstream_avro_put_string(b, s ? s : "");
}

/* The model slice around the cluster's model blob. */
static void put_model(const segstream_pipeline *p, const uint8_t *cb, size_t cl, segstream_buf *b)
{
    segstream_buf_put(b, SNAPSHOT_MAGIC, 4);
    segstream_avro_put_long(b, SNAPSHOT_VERSION);
    segstream_avro_put_long(b, (int64_t)cl);
    segstream_buf_put(b, cb, cl);
    segstream_avro_put_long(b, (int64_t)(p->n_boot - p->boot_head));
    for (size_t i = p->boot_head; i < p->n_boot; i++) {
        const boot_entry *e = &p->boot[i];
        put_str(b, e->event_id);
        put_str(b, e->user_id);
        put_str(b, e->topic);
        segstream_avro_put_long(b, e->partition);
        segstream_avro_put_long(b, e->offset);
        segstream_avro_put_long(b, e->event_time);
    }
    segstream_avro_put_long(b, p->last_event_id != NULL);
    if (p->last_event_id) {
        put_str(b, p->last_event_id);
        put_str(b, p->last_topic);
        segstream_avro_put_long(b, p->last_partition);
        segstream_avro_put_long(b, p->last_offset);
    }
    uint64_t sum = slice_checksum(b->data, b->len, SNAPSHOT_VERSION);
    uint8_t tail[8];
    for (int i = 0; i < 8; i++)
        tail[i] = (uint8_t)(sum >> (8 * i));
    segstream_buf_put(b, tail, 8);
}

int segstream_snapshot_bundle(const segstream_snapshot_slice *slices, size_t n, uint8_t **blob, size_t *len,
                              segstream_err *err)
{
    size_t models = 0, model = 0;
    for (size_t i = 0; i < n; i++)
        if (slices[i].partition == SEGSTREAM_SNAPSHOT_MODEL)
            models++, model = i;
    if (models != 1)
        return segstream_err_set(err, "snapshot bundle: %zu model slices, want 1", models);
    segstream_buf b = {0};
    segstream_buf_put(&b, BUNDLE_MAGIC, 4);
    segstream_avro_put_long(&b, BUNDLE_VERSION);
    segstream_avro_put_long(&b, (int64_t)n);
    for (size_t k = 0; k < n; k++) { /* the model first, the rest in the order given */
        size_t i = k == 0 ? model : k <= model ? k - 1 : k;
        segstream_avro_put_long(&b, slices[i].partition);
        segstream_avro_put_long(&b, (int64_t)slices[i].len);
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = k == 0 ? model : k <= model ? k - 1 : k;
        segstream_buf_put(&b, slices[i].data, slices[i].len);
    }
    if (b.oom) {
        segstream_buf_free(&b);
        return segstream_err_set(err, "snapshot bundle: out of memory");
    }
    *blob = b.data;
    *len = b.len;
    return 0;
}

int segstream_snapshot_slices(const uint8_t *blob, size_t len, segstream_snapshot_slice **slices, size_t *n,
                              segstream_err *err)
{
    *slices = NULL;
    *n = 0;
    if (len >= 4 && !memcmp(blob, SNAPSHOT_MAGIC, 4)) { /* a bare model slice */
        segstream_snapshot_slice *one = malloc(sizeof *one);
        if (!one)
            return segstream_err_set(err, "snapshot: out of memory");
        *one = (segstream_snapshot_slice){SEGSTREAM_SNAPSHOT_MODEL, blob, len};
        *slices = one;
        *n = 1;
        return 0;
    }
    if (len < 4 || memcmp(blob, BUNDLE_MAGIC, 4))
        return segstream_err_set(err, "pipeline restore: not a pipeline snapshot (bad magic or too short)");
    segstream_avro_reader r = {blob, len, 4, 0, err};
    int64_t version, count;
    if (segstream_avro_get_long(&r, "bundle.version", &version) || segstream_avro_get_long(&r, "bundle.count", &count))
        return segstream_err_prefix(err, "pipeline restore");
    if (version != BUNDLE_VERSION)
        return segstream_err_set(err, "pipeline restore: bundle version %" PRId64 ", this build reads %d", version,
                                 BUNDLE_VERSION);
    if (count < 1 || (uint64_t)count > (len - r.pos) / 2)
        return segstream_err_set(err, "pipeline restore: bundle of %" PRId64 " slices is impossible", count);
    segstream_snapshot_slice *sl = calloc((size_t)count, sizeof *sl);
    if (!sl)
        return segstream_err_set(err, "pipeline restore: out of memory");
    uint64_t total = 0;
    for (int64_t i = 0; i < count; i++) {
        int64_t part, n_bytes;
        if (segstream_avro_get_long(&r, "bundle.partition", &part) ||
            segstream_avro_get_long(&r, "bundle.length", &n_bytes)) {
            free(sl);
            return segstream_err_prefix(err, "pipeline restore");
        }
        if ((i == 0) != (part == SEGSTREAM_SNAPSHOT_MODEL) || part < SEGSTREAM_SNAPSHOT_MODEL || part > INT32_MAX ||
            n_bytes < 0 || (uint64_t)n_bytes > len) {
            free(sl);
            return segstream_err_set(err, "pipeline restore: bundle slice %" PRId64 " (partition %" PRId64
                                          ", %" PRId64 " bytes) is impossible", i, part, n_bytes);
        }
        sl[i].partition = (int32_t)part;
        sl[i].len = (size_t)n_bytes;
        total += (uint64_t)n_bytes;
    }
    if (total != len - r.pos) {
        free(sl);
        return segstream_err_set(err, "pipeline restore: the bundle's slices take %" PRIu64 " bytes, %zu follow",
                                 total, len - r.pos);
    }
    size_t at = r.pos;
    for (int64_t i = 0; i < count; i++) {
        sl[i].data = blob + at;
        at += sl[i].len;
    }
    *slices = sl;
    *n = (size_t)count;
    return 0;
}

int segstream_pipeline_snapshot(const segstream_pipeline *p, uint8_t **blob, size_t *len, segstream_err *err)
{
    uint8_t *cb = NULL;
    size_t cl = 0, n_parts = 0;
    segstream_stage_user_part *parts = NULL;
    if (segstream_stage_cluster_snapshot_split(p->cluster, &cb, &cl, &parts, &n_parts, err))
        return segstream_err_prefix(err, "pipeline snapshot");
    segstream_buf m = {0};
    put_model(p, cb, cl, &m);
    free(cb);
    segstream_snapshot_slice *sl = calloc(n_parts + 1, sizeof *sl);
    int rc = -1;
    if (m.oom || !sl) {
        segstream_err_set(err, "pipeline snapshot: out of memory");
    } else {
        sl[0] = (segstream_snapshot_slice){SEGSTREAM_SNAPSHOT_MODEL, m.data, m.len};
        for (size_t i = 0; i < n_parts; i++)
            sl[i + 1] = (segstream_snapshot_slice){parts[i].partition, parts[i].blob, parts[i].len};
        rc = segstream_snapshot_bundle(sl, n_parts + 1, blob, len, err);
        if (rc)
            segstream_err_prefix(err, "pipeline snapshot");
    }
    free(sl);
    segstream_buf_free(&m);
    segstream_stage_user_parts_free(parts, n_parts);
    return rc;
}

/* Whether a restored model fits this pipeline's encoder and settings. */
static int model_fits(const segstream_pipeline *p, const segstream_stage_cluster *c, segstream_err *err)
{
    /* A snapshot written with another model (model.path changed) would feed
     * this encoder's vectors into centroids of another length. */
    if (p->dim > 0 && segstream_stage_cluster_dim(c) != p->dim)
        return segstream_err_set(err, "pipeline restore: the snapshot's model takes %d-dimension vectors, this "
                                      "encoder gives %d (was model.path changed?)", segstream_stage_cluster_dim(c),
                                 p->dim);
    int shared = segstream_stage_cluster_is_shared(c), partitioned = segstream_stage_cluster_is_partitioned(c);
    if (shared != (p->settings.shared_model != 0))
        return segstream_err_set(err, "pipeline restore: the snapshot's model is %sshared, but cluster.shared_model = "
                                      "%s; a model cannot change kind (start from fresh state: replay with "
                                      "--state fresh, or a new group.id)", shared ? "" : "not ",
                                 p->settings.shared_model ? "true" : "false");
    if (partitioned != (p->settings.partition_models != 0))
        return segstream_err_set(err, "pipeline restore: the snapshot holds %s, but topics.model is %s; the state of "
                                      "a scale-out group and of a single instance do not mix (start from fresh "
                                      "state: a new group.id)", partitioned ? "one model per partition" : "one model",
                                 p->settings.partition_models ? "set" : "not set");
    return 0;
}

/* The model slice (with the cluster's user parts) into p. */
static int restore_model(segstream_pipeline *p, const uint8_t *blob, size_t len, const segstream_stage_user_part *parts,
                         size_t n_parts, segstream_err *err)
{
    if (len < 4 + 8 || memcmp(blob, SNAPSHOT_MAGIC, 4))
        return segstream_err_set(err, "pipeline restore: not a pipeline snapshot (bad magic or too short)");
    segstream_avro_reader r = {blob, len - 8, 4, 0, err};
    int64_t version, cl;
    if (segstream_avro_get_long(&r, "version", &version))
        return segstream_err_prefix(err, "pipeline restore");
    if (version < SNAPSHOT_WHOLE_VERSION || version > SNAPSHOT_VERSION)
        return segstream_err_set(err, "pipeline restore: snapshot version %" PRId64 ", this build reads %d to %d",
                                 version, SNAPSHOT_WHOLE_VERSION, SNAPSHOT_VERSION);
    uint64_t sum = 0;
    for (int i = 0; i < 8; i++)
        sum |= (uint64_t)blob[len - 8 + i] << (8 * i);
    if (sum != slice_checksum(blob, len - 8, version))
        return segstream_err_set(err, "pipeline restore: checksum mismatch (corrupt or truncated snapshot)");
    if (segstream_avro_get_long(&r, "cluster_len", &cl))
        return segstream_err_prefix(err, "pipeline restore");
    if (version == SNAPSHOT_WHOLE_VERSION && n_parts)
        return segstream_err_set(err, "pipeline restore: a version-1 snapshot holds its users, yet user slices came "
                                      "with it");
    if (cl < 0 || (uint64_t)cl > r.len - r.pos)
        return segstream_err_set(err, "pipeline restore: cluster blob of %" PRId64 " bytes overruns the snapshot", cl);
    segstream_stage_cluster *c = segstream_stage_cluster_restore_split(blob + r.pos, (size_t)cl, parts, n_parts, err);
    if (!c)
        return segstream_err_prefix(err, "pipeline restore");
    if (model_fits(p, c, err)) {
        segstream_stage_cluster_free(c);
        return -1;
    }
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
        int64_t part = 0;
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
        int64_t part = 0;
        rc = segstream_avro_get_string(&r, "last.event_id", &tmp.last_event_id) ||
             segstream_avro_get_string(&r, "last.topic", &tmp.last_topic) ||
             segstream_avro_get_long(&r, "last.partition", &part) ||
             segstream_avro_get_long(&r, "last.offset", &tmp.last_offset);
        tmp.last_partition = (int32_t)part;
    }
    if (!rc && r.pos != r.len)
        rc = segstream_err_set(err, "%zu trailing bytes", r.len - r.pos);
    if (rc) {
        segstream_pipeline_boot_clear(&tmp);
        free(tmp.boot), free(tmp.last_event_id), free(tmp.last_topic);
        segstream_stage_cluster_free(c);
        return segstream_err_prefix(err, "pipeline restore");
    }
    segstream_stage_cluster_free(p->cluster);
    p->cluster = c;
    segstream_pipeline_boot_clear(p);
    free(p->boot), free(p->last_event_id), free(p->last_topic);
    p->boot = tmp.boot, p->n_boot = tmp.n_boot, p->cap_boot = tmp.cap_boot, p->boot_head = 0;
    p->last_event_id = tmp.last_event_id, p->last_topic = tmp.last_topic;
    p->last_partition = tmp.last_partition, p->last_offset = tmp.last_offset;
    return 0;
}

int segstream_pipeline_restore(segstream_pipeline *p, const uint8_t *whole, size_t whole_len, segstream_err *err)
{
    segstream_snapshot_slice *sl = NULL;
    size_t n_sl = 0;
    if (segstream_snapshot_slices(whole, whole_len, &sl, &n_sl, err))
        return -1;
    segstream_stage_user_part *parts = n_sl > 1 ? calloc(n_sl - 1, sizeof *parts) : NULL;
    if (n_sl > 1 && !parts) {
        free(sl);
        return segstream_err_set(err, "pipeline restore: out of memory");
    }
    for (size_t i = 1; i < n_sl; i++)
        parts[i - 1] = (segstream_stage_user_part){sl[i].partition, sl[i].data, sl[i].len};
    int rc = restore_model(p, sl[0].data, sl[0].len, parts, n_sl - 1, err);
    free(parts);
    free(sl);
    return rc;
}
