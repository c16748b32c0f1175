/* state_store.h - pipeline snapshots on the state topic (topics.state).
 *
 * Scheme: a snapshot is cut into content-defined chunks (a gear rolling hash
 * picks the cut points, so an insertion or a change early in the blob moves
 * only the chunks around it, not every chunk after it), each written under
 * the key "<prefix>/c-<XXH64 of the chunk>", then a manifest under key
 * "<prefix>": "segstream-state v3 <chunks> <bytes> <XXH64 of the blob>
 * <chunk hash> ...", written last, all in the caller's open transaction and
 * all to partition 0 so their order is total. A write sends only the chunks
 * the topic does not hold yet and deletes (null value) those the new
 * manifest no longer names, so a checkpoint costs what changed since the
 * last one, and compaction keeps exactly the latest snapshot's chunks. The
 * writer knows what the topic holds from the last committed manifest's chunk
 * list (segstream_state_stored, kept by the caller), so a write reads the
 * new snapshot once (cuts and hashes in one pass) and never the old one.
 * A reader (read_committed) keeps the latest value of every key and at the
 * end assembles the latest manifest's chunks; the hashes guard against a
 * mismatch. Aborted writes, deletions included, are invisible to it.
 *
 * Format v1 (fixed 900 KiB chunks "<prefix>/chunk-<i>", manifest
 * "segstream-state v1 <chunks> <bytes> <hash>") is still read, and the first
 * write after it deletes the v1 chunks. Format v2 (the same as v3 with
 * FNV-1a-64 hashes, ~4 cycles a byte) is still read; the first v3 write
 * after it names other chunks, so it rewrites them all once.
 *
 * A reader can collect every snapshot under a common prefix in one pass
 * (segstream_state_read_all): the stage keeps its model under
 * "<group.id>/model" and the users of input partition P under
 * "<group.id>/users/P", each a snapshot of its own, and a write whose chunk
 * list equals the stored one writes nothing, so a checkpoint rewrites only
 * the partitions whose users changed. */
#ifndef SEGSTREAM_CONSUMER_STATE_STORE_H
#define SEGSTREAM_CONSUMER_STATE_STORE_H

#include "common/err.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds of a chunk (the last one may be shorter than the minimum); the
 * mean is about 6 KiB. The maximum stays far below message.max.bytes. */
#define SEGSTREAM_STATE_CHUNK_MIN (2u * 1024u)
#define SEGSTREAM_STATE_CHUNK_MAX (64u * 1024u)
/* A cut where the gear hash's top 12 bits are zero: one in 4 KiB after the
 * minimum. Small chunks because a batch touches a few hundred bytes in many
 * places (users, reservoir rows): with a 40 KiB mean (15 bits, before) a
 * checkpoint rewrote 1.7 MB of a 4.2 MB snapshot, with 6 KiB 0.5 MB. */
#define SEGSTREAM_STATE_CUT_BITS 12

/* What the state topic holds under a prefix, as far as the writer knows:
 * the chunk list of the last manifest written (and committed) or read back,
 * so that a write compares chunk hashes instead of cutting and hashing the
 * previous snapshot again. The stage keeps one from the restore on and
 * replaces it only when a transaction commits: an aborted write leaves the
 * topic, and so this list, as it was. */
typedef struct segstream_state_stored {
    bool known;            /* false: unknown or none, so every chunk is written */
    size_t n;              /* chunks, in manifest order (a hash may repeat) */
    uint64_t *hashes;      /* malloc'ed, owned by the struct */
    uint32_t *lens;        /* each chunk's length, malloc'ed, owned */
    size_t legacy_chunks;  /* v1 chunks "<prefix>/chunk-<i>", i < this, to delete */
} segstream_state_stored;

/* Frees the lists and leaves *s unknown (a zeroed struct is unknown too). */
void segstream_state_stored_clear(segstream_state_stored *s);

/* What segstream_state_read found. */
typedef struct segstream_state_found {
    int version;   /* 0: no snapshot; 1 or 2: the manifest's format */
    size_t chunks; /* the manifest's chunk count */
    /* what the next write builds on: format 2's chunk list, or format 1's
     * chunks to delete; the caller frees it (segstream_state_stored_clear) */
    segstream_state_stored stored;
} segstream_state_found;

/* What one write cost: for the stage's per-batch log line. */
typedef struct segstream_state_write_stats {
    size_t bytes_written;  /* chunk bytes sent */
    size_t chunks, chunks_written, deletions;
    bool unchanged;        /* the topic held this snapshot already: nothing was written */
    double hash_ms;        /* cutting, hashing and diffing against `stored` */
    double produce_ms;     /* handing chunks, deletions and manifest to the producer */
} segstream_state_write_stats;

/* Produces blob to `topic` partition 0 through the transactional producer
 * (a transaction must be open): the chunks `stored` does not hold, deletions
 * of those it holds that blob does not use, then the manifest. stored may
 * be NULL (= nothing known). The blob is read once: cut points, chunk hashes
 * and the whole-blob hash in one pass. *written (may be NULL; cleared first)
 * gets blob's chunk list: what the topic holds once the transaction
 * commits, for the caller to keep as the next `stored` then (and to clear if
 * it aborts). stats (may be NULL) gets what it cost. Returns 0 or -1 with
 * err (*written is then unknown). */
int segstream_state_write(rd_kafka_t *producer, const char *topic, const char *prefix, const uint8_t *blob,
                          size_t len, const segstream_state_stored *stored, segstream_state_stored *written,
                          segstream_state_write_stats *stats, segstream_err *err);

/* Reads `topic` partition 0 from the beginning to its end with a new
 * read_committed consumer made from conf (duplicated, still the caller's) and
 * returns the latest complete snapshot of `prefix` in *blob (malloc'ed, the
 * caller frees), or *blob = NULL when there is none. found (may be NULL)
 * says which format held it and what a write after it builds on (the
 * caller clears found->stored, also after an error). Blocks up to about timeout_ms. Returns 0 or -1
 * with err. */
int segstream_state_read(const rd_kafka_conf_t *conf, const char *topic, const char *prefix, uint8_t **blob,
                         size_t *len, segstream_state_found *found, int timeout_ms, segstream_err *err);

/* One snapshot read back by segstream_state_read_all. */
typedef struct segstream_state_snapshot {
    char *prefix;  /* its manifest's key */
    uint8_t *blob; /* malloc'ed; NULL when error is set */
    size_t len;
    segstream_state_found found;
    char *error;   /* NULL, or why its chunks did not assemble (the caller decides whether it matters) */
} segstream_state_snapshot;

/* Reads the topic as segstream_state_read does, once, and returns every
 * snapshot whose prefix starts with `base` (e.g. "<group.id>/": the model and
 * the users of each input partition) in *out (*n_out of them, in the order
 * their first manifest appeared; deleted ones left out). Free with
 * segstream_state_snapshots_free. Returns 0 or -1 with err. */
int segstream_state_read_all(const rd_kafka_conf_t *conf, const char *topic, const char *base,
                             segstream_state_snapshot **out, size_t *n_out, int timeout_ms, segstream_err *err);
void segstream_state_snapshots_free(segstream_state_snapshot *s, size_t n);

/* The content-defined cut points of blob: ends[i] is the end offset of chunk
 * i; returns the number of chunks (0 for an empty blob) and sets *ends
 * (malloc'ed, the caller frees), or -1 when out of memory. A function of the
 * bytes only, exposed for the tests. */
long segstream_state_chunk_ends(const uint8_t *blob, size_t len, size_t **ends);

/* The one pass a write makes over blob: its chunk list in *out (cleared
 * first; known = true, no legacy chunks) and the FNV-1a 64 hash of the whole
 * blob in *blob_hash (the manifest's). Returns 0, or -1 when out of memory.
 * Exposed for the tests. */
int segstream_state_chunk_list(const uint8_t *blob, size_t len, segstream_state_stored *out, uint64_t *blob_hash);

#endif
