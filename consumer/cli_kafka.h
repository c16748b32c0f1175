/* cli_kafka.h - librdkafka configuration shared by the `produce` and
 * `consume` tools: brokers from the flag, else $SEGSTREAM_BROKERS, else the
 * local broker of deploy/; `--set key=value` passed through to librdkafka;
 * or the kafka.* keys of the stage's configuration (`-c FILE`, environment,
 * KEY.file). Also the watch on connection failures that retrying cannot fix
 * (wrong credentials, untrusted certificates), shared with the stage. */
#ifndef SEGSTREAM_CONSUMER_CLI_KAFKA_H
#define SEGSTREAM_CONSUMER_CLI_KAFKA_H

#include "common/err.h"
#include "consumer/config.h"

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

/* Like segstream_cli_kafka_conf(), but when config_file is not NULL the base
 * is the kafka.* keys of the stage's configuration (that file, then the
 * SEGSTREAM_* environment, KEY.file secrets; segstream_config_load()), with
 * bootstrap.servers from brokers_flag when given. With config_file NULL it is
 * segstream_cli_kafka_conf(segstream_cli_brokers(brokers_flag), ...). Both
 * install segstream_kafka_watch_errors(). */
rd_kafka_conf_t *segstream_cli_kafka_conf_from(const char *config_file, const char *brokers_flag,
                                               const char *const *defaults, char *const *sets, size_t nsets,
                                               segstream_err *err);

/* The librdkafka configuration of a loaded segstream configuration (its
 * kafka.* keys), with bootstrap.servers from segstream_cli_brokers() when the
 * file sets none. NULL with err. The stage, replay and state export use it. */
rd_kafka_conf_t *segstream_cli_stage_kafka_conf(const segstream_config *cfg, segstream_err *err);

/* Sets one key; returns 0 or -1 with err. */
int segstream_cli_kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                            segstream_err *err);

/* Creates `topic` with `partitions` partitions (replication factor 1: the
 * local broker) through rk's admin API, waiting up to timeout_ms. A topic that
 * already exists is fine. Returns 0, or -1 with err. Blocks; any thread. */
int segstream_cli_create_topic(rd_kafka_t *rk, const char *topic, int partitions, int timeout_ms,
                               segstream_err *err);
/* The same with topic configs: key, value, ..., NULL. */
int segstream_cli_create_topic_with(rd_kafka_t *rk, const char *topic, int partitions, const char *const *configs,
                                    int timeout_ms, segstream_err *err);

/* The values of `topic`'s configs named in names[0..n) (as the broker applies
 * them, defaults included) into values[i] (malloc'd; NULL when the broker does
 * not list the name). Returns 0; 1 when the topic does not exist; or -1 with
 * err (no answer, not allowed to describe). Blocks; any thread. */
int segstream_cli_topic_configs(rd_kafka_t *rk, const char *topic, const char *const *names, char **values, size_t n,
                                int timeout_ms, segstream_err *err);

/* --- Failures retrying cannot fix. librdkafka retries a broker connection
 * for ever, so a wrong password or an untrusted certificate otherwise shows
 * only as a call timing out (init_transactions: a minute later). The record
 * is process-wide, because a handle's opaque belongs to its owner (the
 * stage's rebalance callback, produce's delivery counts). --- */

/* Installs segstream's error callback on conf (replacing any other; the
 * opaque is not used). Handles created from conf, or from copies of it,
 * record the first authentication failure (SASL) or TLS handshake failure
 * when their callbacks are served: rd_kafka_poll(), rd_kafka_consumer_poll(),
 * segstream_kafka_wait_connected(). */
void segstream_kafka_watch_errors(rd_kafka_conf_t *conf);

/* What the watch's callback does, for a client with an error callback of its
 * own (the stage's, which also tracks broker reachability): records an
 * authentication or TLS failure; other errors only as the last one seen. */
void segstream_kafka_record_error(rd_kafka_t *rk, int code, const char *reason);

/* 0 while no such failure was recorded; else -1 with err, e.g. "kafka:
 * authentication failed (SASL SCRAM-SHA-512 as user x): <librdkafka's
 * text>" or "kafka: TLS handshake failed (...): ...". Any thread. */
int segstream_kafka_auth_check(segstream_err *err);

/* Waits until a broker answers rk's metadata request, serving rk's callbacks
 * meanwhile. Returns 0; -1 with err as soon as an authentication or TLS
 * failure is recorded, or when nothing answered within timeout_ms (err
 * names bootstrap.servers and the last error seen). Call it on the thread
 * that polls rk, before rd_kafka_poll_set_consumer(). */
int segstream_kafka_wait_connected(rd_kafka_t *rk, int timeout_ms, segstream_err *err);

#endif
