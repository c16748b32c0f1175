/* model_log.h - the records of the model topic (scale-out) and the
 * collection of one barrier from them.
 *
 * Instances of one consumer group share one model: at a barrier each
 * instance publishes, for every input partition it owns, that partition's
 * delta (stage_cluster.h "Partition models"), in one record on the
 * single-partition model topic, inside the transaction that commits the
 * partition's outputs and offsets up to the barrier. Every instance reads
 * the topic with read_committed. Barrier `seq` is complete when every input
 * partition has a delta for it; in log order the first delta per partition
 * counts (a later one, from an instance that took the partition over, is
 * ignored). The pane it opens is the smallest any record wants (an
 * instance with nothing to give wants none: INT64_MAX). So every instance
 * applies the same deltas with the same pane, whatever the timing.
 *
 * Record value: "SGML", version 1, group id, barrier seq, wanted pane, the
 * input topic's partition count, the number of entries, per entry its
 * partition and delta bytes (Avro longs, strings and bytes), then an XXH64
 * of all before it (8 bytes, little-endian). Key: the group id. A record
 * that does not parse is an error naming what is wrong: the topic is the
 * group's, so a damaged record means a damaged model. */
#ifndef SEGSTREAM_CONSUMER_MODEL_LOG_H
#define SEGSTREAM_CONSUMER_MODEL_LOG_H

#include "common/err.h"
#include "consumer/avro_binary.h"
#include "consumer/stage_cluster.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One record into out (appended). 0 or -1 (out of memory). */
int segstream_model_record_write(segstream_buf *out, const char *group, int64_t seq, int64_t wanted_pane,
                                 int32_t n_partitions, const segstream_stage_delta *d, size_t n);

typedef struct segstream_model_log segstream_model_log;

/* Collects barriers of group for an input topic of n_partitions partitions. */
segstream_model_log *segstream_model_log_new(const char *group, int32_t n_partitions);
void segstream_model_log_free(segstream_model_log *log);

/* Starts collecting barrier seq (what was collected is dropped). */
void segstream_model_log_expect(segstream_model_log *log, int64_t seq);

/* A record read at offset. Records of other groups or of earlier barriers
 * are skipped; one of a later barrier than the one collected is an error
 * (the log skipped one), as is a malformed record. Returns 1 when the
 * barrier is complete (the rest waits: call again after
 * segstream_model_log_expect for the next), 0 otherwise, -1 with err. */
int segstream_model_log_add(segstream_model_log *log, const void *value, size_t len, int64_t offset,
                            segstream_err *err);

/* The barrier being collected: its number, whether any partition gave its
 * delta yet (another instance waits for ours), whether it is complete. */
int64_t segstream_model_log_seq(const segstream_model_log *log);
bool segstream_model_log_started(const segstream_model_log *log);
bool segstream_model_log_complete(const segstream_model_log *log);

/* A complete barrier: every partition's delta (partition order; owned by
 * the log), the pane it opens, and the log position after it. */
const segstream_stage_delta *segstream_model_log_deltas(const segstream_model_log *log, size_t *n);
int64_t segstream_model_log_pane(const segstream_model_log *log);
int64_t segstream_model_log_end(const segstream_model_log *log);

#endif
