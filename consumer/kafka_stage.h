/* kafka_stage.h - `segstream run` without --input: the stage on Kafka.
 *
 * Consumer group (range, eager; no auto commit; read_committed) on
 * topics.input, one transactional producer (transactional.id =
 * <group.id>-<instance.id>). Each batch (batch.max_events / batch.max_ms) is
 * one transaction: outputs, dead letters, the pipeline snapshot on
 * topics.state, the input offsets. See kafka_stage.c for the error policy. */
#ifndef SEGSTREAM_CONSUMER_KAFKA_STAGE_H
#define SEGSTREAM_CONSUMER_KAFKA_STAGE_H

/* The command: `segstream run -c FILE [--set k=v]... [--exit-when-idle S]`.
 * Returns the process exit status: 0 after a clean stop (signal or idle),
 * 1 on a fatal error, 2 on bad usage or configuration. */
int segstream_cmd_run_kafka(int argc, char **argv);

#endif
