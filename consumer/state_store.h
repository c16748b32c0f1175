/* state_store.h - pipeline snapshots on the state topic (topics.state).
 *
 * Scheme (the simplest that is correct with compaction and transactions): a
 * snapshot is cut into chunks of at most SEGSTREAM_STATE_CHUNK bytes written
 * as keys "<prefix>/chunk-<i>", then a manifest under key "<prefix>" saying
 * "segstream-state v1 <chunks> <bytes> <fnv64 hex>", written last, all in the
 * caller's open transaction and all to partition 0 so their order is total.
 * A reader (read_committed) keeps the latest value of every key and at the
 * end assembles the latest manifest's chunks; the hash guards against a
 * mismatch. Compaction keeps exactly those latest values. Chunks beyond the
 * latest manifest's count are ignored.
 *
 * Limitation: one snapshot per prefix (= per group.id) covers every
 * partition of one instance; several instances of one group would overwrite
 * each other's state (scale-out is a later issue). */
#ifndef SEGSTREAM_CONSUMER_STATE_STORE_H
#define SEGSTREAM_CONSUMER_STATE_STORE_H

#include "common/err.h"

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#define SEGSTREAM_STATE_CHUNK (900u * 1024u)

/* Produces blob as chunks + manifest to `topic` partition 0 through the
 * transactional producer (a transaction must be open). Returns 0 or -1. */
int segstream_state_write(rd_kafka_t *producer, const char *topic, const char *prefix, const uint8_t *blob,
                          size_t len, segstream_err *err);

/* Reads `topic` partition 0 from the beginning to its end with a new
 * read_committed consumer made from conf (duplicated, still the caller's) and
 * returns the latest complete snapshot of `prefix` in *blob (malloc'ed, the
 * caller frees), or *blob = NULL when there is none. Blocks up to about
 * timeout_ms. Returns 0 or -1 with err. */
int segstream_state_read(const rd_kafka_conf_t *conf, const char *topic, const char *prefix, uint8_t **blob,
                         size_t *len, int timeout_ms, segstream_err *err);

#endif
