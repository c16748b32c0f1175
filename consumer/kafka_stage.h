/* kafka_stage.h - the stage on Kafka: `segstream run -c` (live, a consumer
 * group) and `segstream replay` (explicit partitions and offsets, up to an
 * end) share this loop.
 *
 * Consumer (range, eager; no auto commit; read_committed) on topics.input,
 * one transactional producer. Messages are decoded as they arrive and held
 * in a partition merge (partition_merge.h) that releases them in event-time
 * order across partitions; released events form batches (batch.max_events /
 * batch.max_ms / batch.max_bytes), each one transaction: outputs, dead
 * letters, the pipeline snapshot on topics.state (live only), the input
 * offsets. See kafka_stage.c for the error policy. */
#ifndef SEGSTREAM_CONSUMER_KAFKA_STAGE_H
#define SEGSTREAM_CONSUMER_KAFKA_STAGE_H

#include "consumer/config.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

typedef struct segstream_kafka_stage_options {
    const segstream_config *cfg; /* loaded and validated; borrowed */
    int64_t exit_when_idle_ms;   /* < 0: pipeline.idle_timeout; 0: never */
    /* Replay: start != NULL assigns these partitions of topics.input at these
     * offsets (no group subscription, no state topic) and stops once every
     * partition reached its end offset in `end` (exclusive; same partitions). */
    const rd_kafka_topic_partition_list_t *start;
    const rd_kafka_topic_partition_list_t *end;
    const char *group_id;         /* NULL: group.id */
    const char *transactional_id; /* NULL: <group.id>-<instance.id> */
    const char *output_topic;     /* NULL: topics.output */
    const char *segments_topic;   /* NULL: topics.segments */
    const uint8_t *state;         /* replay: the snapshot to start from; NULL: an empty model */
    size_t state_len;
} segstream_kafka_stage_options;

/* Runs until stopped (SIGTERM/SIGINT), idle, the replay's end, or a fatal
 * error. Returns the process exit status: 0 clean stop, 1 fatal error. */
int segstream_kafka_stage_run(const segstream_kafka_stage_options *opts);

/* The command: `segstream run -c FILE [--set k=v]... [--exit-when-idle S]`.
 * Returns the process exit status: 0 after a clean stop (signal or idle),
 * 1 on a fatal error, 2 on bad usage or configuration. */
int segstream_cmd_run_kafka(int argc, char **argv);

#endif
