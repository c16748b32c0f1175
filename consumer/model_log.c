/* model_log.c - model-topic records and the collection of a barrier from
 * them (model_log.h). The collector keeps, for the barrier it expects, the
 * first delta of each input partition (copied out of the record) and the
 * smallest pane wanted; a record holds one instance's partitions. */
#include "consumer/model_log.h"

#include "common/hash64.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_MAGIC "SGML"
#define RECORD_VERSION 1

int segstream_model_record_write(segstream_buf *out, const char *group, int64_t seq, int64_t wanted_pane,
                                 int32_t n_partitions, const segstream_stage_delta *d, size_t n)
{
    size_t start = out->len;
    segstream_buf_put(out, RECORD_MAGIC, 4);
    segstream_avro_put_long(out, RECORD_VERSION);
    segstream_avro_put_string(out, group);
    segstream_avro_put_long(out, seq);
    segstream_avro_put_long(out, wanted_pane);
    segstream_avro_put_long(out, n_partitions);
    segstream_avro_put_long(out, (int64_t)n);
    for (size_t i = 0; i < n; i++) {
        segstream_avro_put_long(out, d[i].partition);
        segstream_avro_put_long(out, (int64_t)d[i].len);
        segstream_buf_put(out, d[i].bytes, d[i].len);
    }
    if (out->oom)
        return -1;
    uint64_t sum = segstream_xxh64(out->data + start, out->len - start, 0);
    uint8_t tail[8];
    for (int i = 0; i < 8; i++)
        tail[i] = (uint8_t)(sum >> (8 * i));
    segstream_buf_put(out, tail, 8);
    return out->oom ? -1 : 0;
}

struct segstream_model_log {
    char *group;
    int32_t n_partitions;
    int64_t seq;
    int64_t pane;           /* smallest wanted so far */
    int64_t end;            /* log position after the completing record */
    int32_t given;          /* partitions with a delta */
    segstream_stage_delta *by_partition; /* [n_partitions]; bytes NULL = not given */
};

segstream_model_log *segstream_model_log_new(const char *group, int32_t n_partitions)
{
    segstream_model_log *log = calloc(1, sizeof *log);
    if (!log)
        return NULL;
    log->group = strdup(group);
    log->n_partitions = n_partitions;
    log->by_partition = calloc(n_partitions > 0 ? (size_t)n_partitions : 1, sizeof *log->by_partition);
    if (!log->group || !log->by_partition || n_partitions <= 0) {
        segstream_model_log_free(log);
        return NULL;
    }
    segstream_model_log_expect(log, 0);
    return log;
}

void segstream_model_log_expect(segstream_model_log *log, int64_t seq)
{
    for (int32_t p = 0; p < log->n_partitions; p++) {
        free(log->by_partition[p].bytes);
        log->by_partition[p] = (segstream_stage_delta){p, seq, NULL, 0};
    }
    log->seq = seq;
    log->pane = INT64_MAX;
    log->end = -1;
    log->given = 0;
}

void segstream_model_log_free(segstream_model_log *log)
{
    if (!log)
        return;
    for (int32_t p = 0; log->by_partition && p < log->n_partitions; p++)
        free(log->by_partition[p].bytes);
    free(log->by_partition);
    free(log->group);
    free(log);
}

int64_t segstream_model_log_seq(const segstream_model_log *log) { return log->seq; }
bool segstream_model_log_started(const segstream_model_log *log) { return log->given > 0; }
bool segstream_model_log_complete(const segstream_model_log *log) { return log->given == log->n_partitions; }
int64_t segstream_model_log_pane(const segstream_model_log *log) { return log->pane; }
int64_t segstream_model_log_end(const segstream_model_log *log) { return log->end; }

const segstream_stage_delta *segstream_model_log_deltas(const segstream_model_log *log, size_t *n)
{
    *n = (size_t)log->n_partitions;
    return log->by_partition;
}

int segstream_model_log_add(segstream_model_log *log, const void *value, size_t len, int64_t offset,
                            segstream_err *err)
{
    const uint8_t *b = value;
    if (segstream_model_log_complete(log))
        return 1;
    if (!b || len < 4 + 8 || memcmp(b, RECORD_MAGIC, 4))
        return segstream_err_set(err, "model topic offset %" PRId64 ": not a model record (bad magic or too short)",
                                 offset);
    uint64_t sum = 0;
    for (int i = 0; i < 8; i++)
        sum |= (uint64_t)b[len - 8 + i] << (8 * i);
    if (sum != segstream_xxh64(b, len - 8, 0))
        return segstream_err_set(err, "model topic offset %" PRId64 ": checksum mismatch (a damaged record)", offset);
    segstream_avro_reader r = {b, len - 8, 4, 0, err};
    int64_t version, seq, wanted, n_parts, n;
    char *group = NULL;
    if (segstream_avro_get_long(&r, "version", &version))
        return segstream_err_prefix(err, "model topic offset %" PRId64, offset);
    if (version != RECORD_VERSION)
        return segstream_err_set(err, "model topic offset %" PRId64 ": record version %" PRId64 ", this build reads %d",
                                 offset, version, RECORD_VERSION);
    if (segstream_avro_get_string(&r, "group", &group))
        return segstream_err_prefix(err, "model topic offset %" PRId64, offset);
    int other_group = strcmp(group, log->group) != 0;
    free(group);
    if (other_group)
        return 0;
    if (segstream_avro_get_long(&r, "seq", &seq) || segstream_avro_get_long(&r, "wanted_pane", &wanted) ||
        segstream_avro_get_long(&r, "partitions", &n_parts) || segstream_avro_get_long(&r, "entries", &n))
        return segstream_err_prefix(err, "model topic offset %" PRId64, offset);
    if (seq < log->seq)
        return 0; /* a barrier already applied (or a late duplicate of one) */
    if (seq > log->seq)
        return segstream_err_set(err, "model topic offset %" PRId64 ": a record of barrier %" PRId64 " while barrier %"
                                      PRId64 " is incomplete (records missing from the log?)", offset, seq, log->seq);
    if (n_parts != log->n_partitions)
        return segstream_err_set(err, "model topic offset %" PRId64 ": made for %" PRId64 " input partitions, the input "
                                      "has %d (partitions added to a running group are not supported)",
                                 offset, n_parts, (int)log->n_partitions);
    if (n < 0 || n > n_parts)
        return segstream_err_set(err, "model topic offset %" PRId64 ": %" PRId64 " entries", offset, n);
    /* parse everything before keeping anything: a bad record changes nothing */
    size_t at = r.pos;
    for (int pass = 0; pass < 2; pass++) {
        r.pos = at;
        for (int64_t i = 0; i < n; i++) {
            int64_t part, bytes;
            if (segstream_avro_get_long(&r, "partition", &part) || segstream_avro_get_long(&r, "delta_length", &bytes))
                return segstream_err_prefix(err, "model topic offset %" PRId64, offset);
            if (part < 0 || part >= log->n_partitions || bytes < 0 || (uint64_t)bytes > r.len - r.pos)
                return segstream_err_set(err, "model topic offset %" PRId64 ": entry of partition %" PRId64 " with %"
                                              PRId64 " bytes is impossible", offset, part, bytes);
            segstream_stage_delta *d = &log->by_partition[part];
            if (pass == 1 && !d->bytes) { /* the first delta of a partition counts */
                d->bytes = malloc(bytes ? (size_t)bytes : 1);
                if (!d->bytes)
                    return segstream_err_set(err, "model topic: out of memory");
                memcpy(d->bytes, r.data + r.pos, (size_t)bytes);
                d->len = (size_t)bytes;
                log->given++;
                if (wanted < log->pane)
                    log->pane = wanted;
            }
            r.pos += (size_t)bytes;
        }
        if (r.pos != r.len)
            return segstream_err_set(err, "model topic offset %" PRId64 ": %zu trailing bytes", offset, r.len - r.pos);
    }
    if (!segstream_model_log_complete(log))
        return 0;
    log->end = offset + 1;
    return 1;
}
