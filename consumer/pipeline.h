/* pipeline.h - the batch pipeline of the stage, shared by the Kafka path and
 * file mode: InterestChange records in; SegmentChange records, Segment
 * catalog records and dead letters out through a sink.
 *
 * One call processes one batch: validate each event (invalid ones become dead
 * letters with a stable reason code, never an error), order the batch by
 * (event_time, source topic, partition, offset), repair invalid UTF-8 and cut
 * over-long texts, encode the batch's distinct texts in one packed encoder
 * call (the encoder's LRU cache covers repeats across batches), split texts
 * into words for labels, apply the events to the cluster model in that order
 * and hand every output to the sink as it happens. Cluster refusals (TOO_LATE,
 * BAD_VECTOR, ...) become dead letters under the cluster's reason name.
 *
 * Output event ids are deterministic: 32 hex digits hashed from the input
 * event's id, the cause and the user (plus an ordinal when one event causes
 * several changes of one cause for one user), so a replay of the same input
 * gives the same ids. MODEL_UPDATED and EXPIRED changes carry the source
 * coordinates of the event whose arrival triggered the model update; changes
 * released by the bootstrap carry those of the buffered event they belong to;
 * changes made by segstream_pipeline_finish() carry the last event's.
 *
 * Determinism: the same events in the same batches give byte-identical
 * outputs. The encoder's floats depend (in the last bits) on which texts share
 * a forward pass, so batch boundaries can change outputs unless the caller
 * supplies vectors computed in fixed groups (segstream_pipeline_encode(),
 * as file mode does).
 *
 * The Kafka path, per poll batch: decode each message (an undecodable one is
 * its own dead letter: reason DECODE_ERROR, raw bytes, no record), build a
 * segstream_pipeline_event per decoded record with its (topic, partition,
 * offset) and raw bytes, call segstream_pipeline_process() with a sink whose
 * callbacks encode and produce into the open transaction, then
 * segstream_pipeline_snapshot() for the state topic, then send offsets and
 * commit. On abort or restart: segstream_pipeline_restore() from the last
 * committed snapshot and re-poll from the committed offsets.
 *
 * Thread rules: a pipeline is used by one thread at a time; sink callbacks run
 * on the calling thread, must not call back into the pipeline, and see
 * records that live only during the callback. */
#ifndef SEGSTREAM_CONSUMER_PIPELINE_H
#define SEGSTREAM_CONSUMER_PIPELINE_H

#include "common/err.h"
#include "consumer/records.h"
#include "consumer/stage_cluster.h"
#include "consumer/stage_settings.h"

#include <stddef.h>
#include <stdint.h>

typedef struct segstream_pipeline segstream_pipeline;

/* Where an input came from: a Kafka coordinate, or (file mode) the file name
 * as topic, partition 0 and the line / record number as offset. */
typedef struct segstream_event_source {
    const char *topic; /* never NULL; borrowed */
    int32_t partition;
    int64_t offset;
} segstream_event_source;

/* One input of a batch; everything borrowed for the duration of the call. */
typedef struct segstream_pipeline_event {
    const segstream_record *record; /* an InterestChange (anything else is dead-lettered) */
    segstream_event_source source;
    const float *vector;            /* optional: the embedding of this event's text from
                                       segstream_pipeline_encode(); NULL = encode here */
    const void *raw;                /* optional: the original bytes, for dead letters */
    size_t raw_len;
} segstream_pipeline_event;

/* Stable dead-letter reason codes of the pipeline itself; cluster refusals
 * use the cluster's names (BAD_USER, BAD_OP, BAD_VECTOR, ZERO_VECTOR,
 * TOO_LATE, TOO_FAR_FUTURE), and file mode adds DECODE_ERROR. */
#define SEGSTREAM_DLQ_WRONG_TYPE "WRONG_TYPE"             /* not an InterestChange */
#define SEGSTREAM_DLQ_MISSING_EVENT_ID "MISSING_EVENT_ID" /* null or empty event_id */
#define SEGSTREAM_DLQ_BAD_USER "BAD_USER"                 /* empty or > 255-byte user_id */
#define SEGSTREAM_DLQ_BAD_OP "BAD_OP"                     /* op not SET, ADD or DELETE */
#define SEGSTREAM_DLQ_MISSING_TEXT "MISSING_TEXT"         /* SET/ADD with a null text */
#define SEGSTREAM_DLQ_EMPTY_TEXT "EMPTY_TEXT"             /* SET/ADD text with no words */
#define SEGSTREAM_DLQ_DECODE_ERROR "DECODE_ERROR"         /* the input did not decode */

typedef struct segstream_dead_letter {
    const char *reason;            /* a stable code, above */
    const char *message;           /* a sentence saying what was wrong */
    segstream_event_source source;
    const segstream_record *record; /* the decoded input; NULL when it did not decode */
    const void *raw;                /* the original bytes when known, else NULL */
    size_t raw_len;
} segstream_dead_letter;

/* Where outputs go. A callback returns 0, or -1 to fail the batch (e.g. an
 * I/O error; the pipeline then returns -1 with the sink's message, which the
 * callback writes into *err). NULL callbacks drop that output. */
typedef struct segstream_pipeline_sink {
    void *ctx;
    int (*on_change)(void *ctx, const segstream_record *segment_change, segstream_err *err);
    int (*on_segment)(void *ctx, const segstream_record *segment, segstream_err *err);
    int (*on_dead_letter)(void *ctx, const segstream_dead_letter *dead_letter, segstream_err *err);
} segstream_pipeline_sink;

/* Opens the encoder of settings->model_dir and creates an empty cluster model
 * from the settings (copied; model_dir need not outlive the call). NULL with
 * err on failure. Free with segstream_pipeline_close(). */
segstream_pipeline *segstream_pipeline_open(const segstream_stage_settings *settings, segstream_err *err);
void segstream_pipeline_close(segstream_pipeline *p); /* NULL is fine */

/* Processes one batch of n events (see the top of this file). Returns 0, or
 * -1 with err on a failure that is not the input's fault (out of memory, the
 * encoder failed, a sink callback failed); the model may then have applied
 * part of the batch, so the caller restores its last snapshot. */
int segstream_pipeline_process(segstream_pipeline *p, const segstream_pipeline_event *events, size_t n,
                               const segstream_pipeline_sink *sink, segstream_err *err);

/* Encodes the texts of events (n of them; vector fields ignored) the way
 * process would, one packed call with identical texts encoded once. Row i of
 * vectors (n * dim floats, caller-owned) gets event i's embedding when
 * has_vector[i] is set to 1; 0 for events without a usable text (process
 * dead-letters those). For callers that can encode in fixed groups
 * independent of their batches. Returns 0 or -1 with err. */
int segstream_pipeline_encode(segstream_pipeline *p, const segstream_pipeline_event *events, size_t n,
                              float *vectors, unsigned char *has_vector, segstream_err *err);

/* End of input (file mode, end of a replay): bootstraps the model if it is
 * still buffering its first sample, finishes the pending re-assignment sweep
 * and publishes the whole active catalog through on_segment. Returns 0 or -1. */
int segstream_pipeline_finish(segstream_pipeline *p, const segstream_pipeline_sink *sink, segstream_err *err);

/* Embedding dimension (the model's hidden size). */
int segstream_pipeline_dim(const segstream_pipeline *p);

/* Serialises the whole state (the cluster model and the pipeline's own: the
 * queue attributing bootstrap outputs to their events, the last event's id
 * and source; not the stats counters) into a new malloc'ed
 * blob the caller frees. Deterministic: the same state, the same bytes. Call
 * between batches. Returns 0 or -1.
 *
 * The blob is a bundle of slices (segstream_snapshot_slices): the model
 * first, everything but the users, then the users of each input partition
 * (that of a user's latest event) that has any, ascending. The state topic
 * keeps each slice under its own key, so a checkpoint rewrites only the
 * partitions whose users changed, and a partition's users can follow it. */
int segstream_pipeline_snapshot(const segstream_pipeline *p, uint8_t **blob, size_t *len, segstream_err *err);

/* One slice of a snapshot bundle (pointing into it). */
typedef struct segstream_snapshot_slice {
    int32_t partition; /* SEGSTREAM_SNAPSHOT_MODEL for the model slice */
    const uint8_t *data;
    size_t len;
} segstream_snapshot_slice;
#define SEGSTREAM_SNAPSHOT_MODEL (-1)

/* The slices of a bundle, the model first, in *slices (malloc'ed; the
 * caller frees it, not the data it points to). A bare model slice, as
 * older versions wrote, is a bundle of one. Checks the framing only (the
 * slices are checked by restore). Returns 0 or -1 with err. */
int segstream_snapshot_slices(const uint8_t *blob, size_t len, segstream_snapshot_slice **slices, size_t *n,
                              segstream_err *err);

/* The bundle of slices (one of them the model; any order) in a new malloc'ed
 * blob: what restore and a --state file take. Returns 0 or -1 with err. */
int segstream_snapshot_bundle(const segstream_snapshot_slice *slices, size_t n, uint8_t **blob, size_t *len,
                              segstream_err *err);

/* Replaces p's state by a snapshot's (the encoder and its cache stay). A
 * corrupt or foreign blob, a missing or stale user slice, or one whose model
 * takes vectors of another dimension than this encoder's, is an error that
 * leaves p unchanged. Returns 0 or -1. */
int segstream_pipeline_restore(segstream_pipeline *p, const uint8_t *blob, size_t len, segstream_err *err);

/* --- Scale-out (settings.partition_models: one shared model per owned input
 * partition; consumer/stage_cluster.h "Partition models") ---
 * The caller owns partitions, and runs the barriers: process_to_barrier
 * applies events[0..*applied) and returns SEGSTREAM_PIPELINE_AT_BARRIER when
 * events[*applied] needs a barrier first (nothing of it applied), 0 when all
 * were applied, -1 on failure. Then barrier_take gives the owned partitions'
 * deltas to publish; once every partition's delta for that barrier is known,
 * barrier_apply moves the models (outputs through sink: their ids hashed
 * from "barrier-<seq>", their source the last applied event's) and the
 * caller gives the rest of the batch again. */
#define SEGSTREAM_PIPELINE_AT_BARRIER 2
int segstream_pipeline_process_to_barrier(segstream_pipeline *p, const segstream_pipeline_event *events, size_t n,
                                          const segstream_pipeline_sink *sink, size_t *applied, segstream_err *err);
int segstream_pipeline_own_partitions(segstream_pipeline *p, const int32_t *partitions, size_t n, segstream_err *err);
void segstream_pipeline_barrier_state(const segstream_pipeline *p, segstream_stage_barrier_state *st);
int segstream_pipeline_barrier_take(segstream_pipeline *p, segstream_stage_delta **out, size_t *n, int64_t *wanted,
                                    segstream_err *err);
int segstream_pipeline_barrier_apply(segstream_pipeline *p, int64_t seq, const segstream_stage_delta *all, size_t n,
                                     int64_t pane, int64_t log_pos, const segstream_pipeline_sink *sink,
                                     long *applied, segstream_err *err);

typedef struct segstream_pipeline_stats {
    uint64_t events;          /* inputs seen by process */
    uint64_t applied;         /* accepted by the model */
    uint64_t dead_letters;    /* from validation and cluster refusals */
    uint64_t changes;         /* SegmentChange outputs */
    uint64_t segments;        /* Segment catalog outputs */
    uint64_t texts_encoded;   /* distinct texts handed to the encoder */
    uint64_t texts_truncated; /* texts cut at max_text_bytes */
    uint64_t texts_repaired;  /* texts with invalid UTF-8 replaced */
    uint64_t encode_ns;       /* time inside the encoder */
    uint64_t total_ns;        /* time inside process + encode + finish, sink included */
    int64_t model_version;
    /* gauges of the current state (not counters) */
    long users;               /* tracked users */
    int active_segments;
    int64_t watermark;        /* event-time watermark; INT64_MIN before the first event */
    size_t model_bytes;       /* heap held by the cluster model */
    uint64_t cache_hits;      /* the encoder's text -> embedding cache, since open */
    uint64_t cache_misses;
} segstream_pipeline_stats;

/* Counters since open (restore keeps them running). */
void segstream_pipeline_get_stats(const segstream_pipeline *p, segstream_pipeline_stats *stats);

#endif
