/* pipeline_snapshot.c - the pipeline's state as a blob and back.
 *
 * Layout: "SGPL", version (Avro long), the cluster's own snapshot (length +
 * bytes), the bootstrap attribution queue (count, then per entry event id,
 * user, topic, partition, offset, event time), the last event (flag, id,
 * topic, partition, offset), and a CRC-64-AVRO of everything before it,
 * little-endian. Numbers are Avro zig-zag varints and strings Avro strings,
 * read back with the bounded reader of avro_binary.h, so a damaged blob is an
 * error naming the field, never a crash. Restore builds everything aside and
 * swaps it in only when the whole blob has been read. */
#include "consumer/pipeline_internal.h"

#include "consumer/avro_binary.h"
#include "consumer/crc64avro.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_MAGIC "SGPL"
#define SNAPSHOT_VERSION 1

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
    /* A snapshot written with another model (model.path changed) would feed
     * this encoder's vectors into centroids of another length. */
    if (p->dim > 0 && segstream_stage_cluster_dim(c) != p->dim) {
        int dim = segstream_stage_cluster_dim(c);
        segstream_stage_cluster_free(c);
        return segstream_err_set(err, "pipeline restore: the snapshot's model takes %d-dimension vectors, this "
                                      "encoder gives %d (was model.path changed?)", dim, p->dim);
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
