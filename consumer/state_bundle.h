/* state_bundle.h - the stage's snapshot on the state topic, one key per slice.
 *
 * A pipeline snapshot is a bundle of slices (pipeline.h): the model, and the
 * users of each input partition. On topics.state each slice is a snapshot of
 * its own (state_store.h): the model under "<group.id>/model", the users of
 * partition P under "<group.id>/users/P", all written in the stage's
 * transaction, so read_committed readers see them change together. A
 * partition whose users did not change costs nothing (its chunk list equals
 * the stored one); one that no longer has users gets an empty snapshot, which
 * readers skip. Reading collects the group's keys in one pass and bundles
 * them again; the model lists its user slices with their checksums, so a
 * missing or stale slice fails the restore instead of passing for state.
 *
 * The writer keeps, per key, the chunk list the topic holds (stored) and the
 * one an open transaction is writing: commit makes the second the first,
 * abort drops it. */
#ifndef SEGSTREAM_CONSUMER_STATE_BUNDLE_H
#define SEGSTREAM_CONSUMER_STATE_BUNDLE_H

#include "common/err.h"
#include "consumer/state_store.h"

#include <librdkafka/rdkafka.h>
#include <stdint.h>

typedef struct segstream_state_key {
    char *key;
    segstream_state_stored stored, writing;
    bool empty;   /* the stored snapshot is the empty one (a partition without users) */
    bool written; /* part of the open transaction's snapshot */
} segstream_state_key;

typedef struct segstream_state_keys {
    segstream_state_key *k;
    size_t n, cap;
} segstream_state_keys;

void segstream_state_keys_clear(segstream_state_keys *keys); /* frees everything; zeroed again */
void segstream_state_keys_commit(segstream_state_keys *keys);  /* the open transaction committed */
void segstream_state_keys_abort(segstream_state_keys *keys);   /* ... aborted */

/* What one bundle write cost, summed over its keys. */
typedef struct segstream_state_bundle_stats {
    segstream_state_write_stats sum; /* unchanged: unused */
    size_t keys, keys_unchanged;
} segstream_state_bundle_stats;

/* Writes the bundle's slices under group's keys (a transaction must be
 * open), and the empty snapshot under every known user key the bundle lacks.
 * Returns 0 or -1 with err. */
int segstream_state_bundle_write(rd_kafka_t *producer, const char *topic, const char *group, const uint8_t *bundle,
                                 size_t len, segstream_state_keys *keys, segstream_state_bundle_stats *stats,
                                 segstream_err *err);

/* Reads group's keys from the topic (one pass) into a bundle (*bundle
 * malloc'ed, or NULL when the group has no model there yet) and replaces
 * keys by what the topic holds. Returns 0 or -1 with err (a key of the group
 * whose chunks do not assemble is an error). */
int segstream_state_bundle_read(const rd_kafka_conf_t *conf, const char *topic, const char *group, uint8_t **bundle,
                                size_t *len, segstream_state_keys *keys, int timeout_ms, segstream_err *err);

/* Scale-out (partition models: each partition's slice holds its whole
 * model; consumer/stage_cluster.h): partitions move between instances, so
 * an instance reads and writes only the partitions it owns and keeps no
 * model key of its own. read_parts bundles the given model slice (the
 * instance's fresh one) with the slices of parts (*bundle NULL when none of
 * them has state yet); keys gets those keys only. write_parts writes the
 * bundle's partition slices and nothing else. 0 or -1 with err. */
int segstream_state_bundle_read_parts(const rd_kafka_conf_t *conf, const char *topic, const char *group,
                                      const int32_t *parts, size_t n_parts, const uint8_t *model, size_t model_len,
                                      uint8_t **bundle, size_t *len, segstream_state_keys *keys, int timeout_ms,
                                      segstream_err *err);
int segstream_state_bundle_write_parts(rd_kafka_t *producer, const char *topic, const char *group,
                                       const uint8_t *bundle, size_t len, segstream_state_keys *keys,
                                       segstream_state_bundle_stats *stats, segstream_err *err);

#endif
