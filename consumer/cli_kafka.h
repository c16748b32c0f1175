/* cli_kafka.h - librdkafka configuration shared by the `produce` and
 * `consume` tools: brokers from the flag, else $SEGSTREAM_BROKERS, else the
 * local broker of deploy/; `--set key=value` passed through to librdkafka. */
#ifndef SEGSTREAM_CONSUMER_CLI_KAFKA_H
#define SEGSTREAM_CONSUMER_CLI_KAFKA_H

#include "common/err.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#define SEGSTREAM_CLI_MAX_SETS 32

/* The bootstrap servers to use: `flag` if not NULL, else the environment, else
 * 127.0.0.1:9092. */
const char *segstream_cli_brokers(const char *flag);

/* A new librdkafka configuration: bootstrap.servers = brokers, then the
 * tool's own settings `defaults` (key, value, key, value, ..., NULL), then
 * each "key=value" of sets[0..nsets) from the command line, so the user has
 * the last word. Returns NULL with err naming the bad key. The caller owns
 * the result (rd_kafka_new takes it over). */
rd_kafka_conf_t *segstream_cli_kafka_conf(const char *brokers, const char *const *defaults,
                                          char *const *sets, size_t nsets, segstream_err *err);

/* Sets one key; returns 0 or -1 with err. */
int segstream_cli_kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                            segstream_err *err);

/* Creates `topic` with `partitions` partitions (replication factor 1: the
 * local broker) through rk's admin API, waiting up to timeout_ms. A topic that
 * already exists is fine. Returns 0, or -1 with err. Blocks; any thread. */
int segstream_cli_create_topic(rd_kafka_t *rk, const char *topic, int partitions, int timeout_ms,
                               segstream_err *err);

#endif
