/* cluster.h - windowed streaming spherical k-means with decay, stable segments,
 * user assignment with hysteresis, segment labels and snapshots.
 *
 * The model knows nothing of BERT, Kafka or Avro: it takes unit vectors of a
 * fixed dimension, word tokens and event times (int64 epoch milliseconds) and
 * reports segment changes and catalog changes through a caller-provided sink.
 *
 * Time is event time only. A watermark (max event time seen minus the allowed
 * lateness) moves it forward; the window is made of panes of `pane_ms`. When the
 * watermark enters a new pane the model is updated: panes that left the window
 * are dropped whole, centroids and sizes are recomputed from the decayed pane
 * sums, segments retire / merge / split, labels are recomputed, the model
 * version is bumped and a re-assignment sweep of every tracked user starts. The
 * sweep runs in bounded slices (`reassign_slice` users per update call) so a
 * large user table never stalls the stream; segstream_cluster_sweep() lets the
 * caller finish it in bulk on several threads (e.g. at the end of a batch).
 *
 * Determinism: the same calls with the same inputs in the same order give the
 * same outputs, byte for byte, on the same build and hardware. No wall clock,
 * no hash-order dependence, the random generator lives in the state, and a
 * snapshot taken between two calls restores to an identical model.
 *
 * Thread rules: a segstream_cluster is not thread-safe; one thread calls it at
 * a time. segstream_cluster_sweep() may use worker threads internally; the
 * sink is always called on the calling thread. */
#ifndef SEGSTREAM_CLUSTER_CLUSTER_H
#define SEGSTREAM_CLUSTER_CLUSTER_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct segstream_cluster segstream_cluster;

/* How user profiles are stored (memory per user versus precision). */
typedef enum segstream_profile_codec {
    SEGSTREAM_PROFILE_FP16 = 0, /* IEEE half floats: 2 bytes per dimension */
    SEGSTREAM_PROFILE_INT8 = 1, /* int8 with one float scale per user: 1 byte per dimension */
} segstream_profile_codec;

typedef struct segstream_cluster_options {
    int dim;                      /* vector dimension, e.g. 384 */
    int k;                        /* target number of active segments */
    int64_t window_ms;            /* W: the sliding window, a multiple of pane_ms */
    int64_t pane_ms;              /* S: pane length; the model updates once per pane */
    int64_t half_life_ms;         /* H: a pane ending at p weighs 0.5^((t-p)/H) */
    int64_t allowed_lateness_ms;  /* watermark = max event time - this; <= window_ms */
    int64_t max_future_skew_ms;   /* events later than max event time + this are refused; 0 = no limit */
    int init_sample;              /* events buffered to bootstrap k-means++ (>= k) */
    int kmeans_iterations;        /* Lloyd iterations after the k-means++ seeding */
    int kmeans_restarts;          /* bootstrap runs; the lowest inertia wins (like n_init) */
    uint64_t seed;                /* seeds the random generator kept in the state */
    double retire_share;          /* retire when size < retire_share * (total size / k) */
    double merge_cosine;          /* merge two segments whose centroids' cosine exceeds this */
    double hysteresis;            /* on an event, a user moves only if the new similarity wins by this; at a
                                     model update, only a move back to the segment the user last left needs it */
    segstream_profile_codec profile_codec;
    int reassign_slice;           /* users re-assigned per update call while a sweep is due; 0: only in segstream_cluster_sweep() */
    int reservoir_size;           /* recent member vectors kept per segment, used to split it */
    int label_terms;              /* keywords per segment label */
    int label_table_size;         /* decayed term counters kept per segment (bounded memory) */
    int user_capacity;            /* initial user table capacity hint (grows as needed) */
    long max_users;               /* most users tracked (bounds memory); 0 = no limit. When a new
                                     user would exceed it, the least recently active users
                                     (last event time, then id; max_users/64 of them, at least
                                     one) expire with an EXPIRED change, so the scan for them
                                     is amortised over many insertions */
    int shared_model;             /* 0: one model sees every event and its centroids follow each one.
                                     1: several models (one per instance, each fed its own users) share
                                     one centroid model: see "Shared model" below */
} segstream_cluster_options;

/* The defaults: dim 384, k 64, window 7d, pane 1h, half-life 1d, lateness 5m,
 * no future-skew limit, init sample 1000, 20 Lloyd iterations, 10 restarts, seed 42, retire share
 * 0.05, merge cosine 0.95, hysteresis 0.02, fp16 profiles, slice 64 users,
 * reservoir 32, 5 label terms out of 64 counters, 1024 users, no user limit. */
segstream_cluster_options segstream_cluster_default_options(void);

/* Checks every field. Returns 0, or -1 with err naming the field, its value and
 * the accepted range. */
int segstream_cluster_options_validate(const segstream_cluster_options *opt, segstream_err *err);

typedef enum segstream_cluster_op {
    SEGSTREAM_CLUSTER_OP_SET = 0,    /* the vector replaces the user's profile */
    SEGSTREAM_CLUSTER_OP_ADD = 1,    /* the vector is mixed into the decayed profile */
    SEGSTREAM_CLUSTER_OP_DELETE = 2, /* forget the user (vector and words ignored) */
} segstream_cluster_op;

/* One input event. The model copies what it keeps; nothing is retained. */
typedef struct segstream_cluster_event {
    const char *user_id;      /* NUL-terminated, non-empty, at most 255 bytes */
    int op;                   /* a segstream_cluster_op */
    const float *vector;      /* dim floats, finite, non-zero (normalised here); NULL for DELETE */
    const char *const *words; /* the text's word tokens, for labels; may be NULL */
    size_t n_words;
    int64_t event_time;       /* epoch milliseconds */
    int32_t shard;            /* where the event came from (the stage: its input partition); a user belongs
                                 to the shard of its latest event, and snapshots can be split by shard */
} segstream_cluster_event;

/* Why an event was refused: stable codes for the dead-letter topic. */
typedef enum segstream_cluster_reject_reason {
    SEGSTREAM_REJECT_NONE = 0,
    SEGSTREAM_REJECT_BAD_USER = 1,      /* missing, empty or too long user id */
    SEGSTREAM_REJECT_BAD_OP = 2,        /* op is not SET, ADD or DELETE */
    SEGSTREAM_REJECT_BAD_VECTOR = 3,    /* missing vector, NaN or infinity */
    SEGSTREAM_REJECT_ZERO_VECTOR = 4,   /* all zeros: no direction */
    SEGSTREAM_REJECT_TOO_LATE = 5,      /* its pane already left the window */
    SEGSTREAM_REJECT_TOO_FAR_FUTURE = 6,/* beyond max event time + max_future_skew_ms */
} segstream_cluster_reject_reason;

typedef struct segstream_cluster_reject {
    segstream_cluster_reject_reason reason;
    char message[160]; /* a sentence for the dead-letter headers */
} segstream_cluster_reject;

/* Stable name of a reason ("TOO_LATE", ...). */
const char *segstream_cluster_reject_name(segstream_cluster_reject_reason reason);

typedef enum segstream_change_cause {
    SEGSTREAM_CLUSTER_CAUSE_INTEREST_CHANGED = 0,
    SEGSTREAM_CLUSTER_CAUSE_MODEL_UPDATED = 1,
    SEGSTREAM_CLUSTER_CAUSE_EXPIRED = 2,
    SEGSTREAM_CLUSTER_CAUSE_DELETED = 3,
} segstream_change_cause;

const char *segstream_change_cause_name(segstream_change_cause cause);

/* A user's segment changed. Pointers are valid only during the callback. */
typedef struct segstream_cluster_change {
    const char *user_id;
    int64_t event_time;        /* the input event's time; for sweeps, the watermark */
    int64_t previous_segment;  /* -1: none */
    int64_t segment;           /* -1: none (expired or deleted) */
    float similarity;          /* cosine to the new segment; NaN when segment == -1 */
    segstream_change_cause cause;
    int64_t model_version;
} segstream_cluster_change;

typedef enum segstream_catalog_kind {
    SEGSTREAM_CATALOG_BORN = 0,    /* created by the bootstrap */
    SEGSTREAM_CATALOG_SPLIT = 1,   /* created by splitting `parent` (which retires) */
    SEGSTREAM_CATALOG_UPDATED = 2, /* new centroid, size or label after a model update */
    SEGSTREAM_CATALOG_MERGED = 3,  /* retired: merged into `merged_into` */
    SEGSTREAM_CATALOG_RETIRED = 4, /* retired: too small, or split into children */
} segstream_catalog_kind;

/* A segment of the catalog changed. Pointers valid only during the callback. */
typedef struct segstream_catalog_change {
    int64_t segment_id;
    segstream_catalog_kind kind;
    int active;                 /* 1 ACTIVE, 0 RETIRED */
    int64_t parent;             /* -1: none (born of the bootstrap) */
    int64_t merged_into;        /* -1 unless kind == MERGED */
    const char *const *label;   /* top keywords, best first */
    int n_label;
    double size;                /* decayed count */
    const float *centroid;      /* dim floats, unit length; NULL when retired */
    int dim;
    int64_t created_time;
    int64_t updated_time;
    int64_t model_version;
} segstream_catalog_change;

/* Where outputs go. Either callback may be NULL (that output is dropped). The
 * callbacks must not call back into the model. */
typedef struct segstream_cluster_sink {
    void *ctx;
    void (*segment_change)(void *ctx, const segstream_cluster_change *change);
    void (*catalog_change)(void *ctx, const segstream_catalog_change *change);
} segstream_cluster_sink;

/* Creates a model; options are validated and copied. NULL with err on failure.
 * Free with segstream_cluster_free(). */
segstream_cluster *segstream_cluster_create(const segstream_cluster_options *opt, segstream_err *err);

void segstream_cluster_free(segstream_cluster *c);

/* Applies one event. Returns 0 when applied, 1 when refused (reject says why;
 * nothing changed except that a refused event never moves time), -1 on an
 * internal failure such as out of memory (err says what). During the bootstrap
 * events are buffered: their change records come once the model exists, with
 * previous_segment -1, cause INTEREST_CHANGED, in arrival order. */
int segstream_cluster_update(segstream_cluster *c, const segstream_cluster_event *ev,
                             const segstream_cluster_sink *sink, segstream_cluster_reject *reject,
                             segstream_err *err);

/* Continues the pending re-assignment sweep by up to max_users users (0: until
 * done), computing on n_threads threads (1: this thread only). Users silent
 * for longer than the window expire here. Returns the number of users still
 * due, or -1 on failure. */
long segstream_cluster_sweep(segstream_cluster *c, long max_users, int n_threads,
                             const segstream_cluster_sink *sink, segstream_err *err);

/* Ends the bootstrap early (fewer than init_sample events buffered, at least
 * k distinct vectors): builds the model and replays the buffer. Returns 0, or
 * -1 when there is not enough data (the buffer is kept). */
int segstream_cluster_bootstrap_now(segstream_cluster *c, const segstream_cluster_sink *sink,
                                    segstream_err *err);

/* --- Shared model (options.shared_model = 1): scale-out ---
 *
 * Events never move the centroids directly. Each is assigned against the model
 * as it stands, and what it would teach the model (its vector summed per pane
 * and segment, its label terms, a recent vector for splits, before the
 * bootstrap its sample row) waits in the pending delta of its shard (the input
 * partition: a shard's delta moves with it). Before the bootstrap users are
 * tracked without a segment; the bootstrap's sweep assigns them (MODEL_UPDATED
 * changes from segment -1). The model changes only
 * at a barrier, where every model that shares it applies the same set of
 * deltas, its own included: sums are exact fixed point and the rest goes in a
 * canonical order, so the set's order does not matter and models fed disjoint
 * users hold the same bits, the same bits as one model fed every event in the
 * same event-time order. Then, when the barrier opens a new pane, the model
 * update runs at that pane's start time (bootstrap first, once the shared
 * sample holds init_sample rows).
 *
 * The cycle: segstream_cluster_update() returns SEGSTREAM_CLUSTER_AT_BARRIER
 * (nothing applied) when the event would take this model's watermark into a
 * pane past the last barrier's (or on the first event);
 * segstream_cluster_barrier_wanted() names that pane. The caller takes the
 * pending delta of each of its shards with segstream_cluster_delta_take(),
 * gathers every shard's delta for the barrier, agrees on the pane (the smallest any sharer wants:
 * with time-ordered input that is the pane a single model would open), calls
 * segstream_cluster_barrier() and feeds the event again. Between the take and
 * the barrier every update returns AT_BARRIER. */
#define SEGSTREAM_CLUSTER_AT_BARRIER 2

/* The pane the last AT_BARRIER event needs; INT64_MIN when none. */
int64_t segstream_cluster_barrier_wanted(const segstream_cluster *c);

/* Serialises the pending delta of one shard (an input partition: the shard of the
 * events whose contributions it holds; malloc'd bytes, the caller frees) and empties
 * it; a shard without contributions gives an empty delta. Until the next barrier,
 * updates return AT_BARRIER. 0, or -1 with err. */
int segstream_cluster_delta_take(segstream_cluster *c, int32_t shard, uint8_t **bytes, size_t *len,
                                 segstream_err *err);

/* 1 between a take and its barrier (every update returns AT_BARRIER then). */
int segstream_cluster_barrier_taken(const segstream_cluster *c);

/* The shards that hold a pending delta (empty ones included), ascending: up to max
 * of them into out; returns how many there are. */
int segstream_cluster_pending_shards(const segstream_cluster *c, int32_t *out, int max);

/* Applies the n deltas (every sharer's, taken for this barrier) and moves the
 * model to `pane` (a pane not after the last barrier's opens none). `final`: the
 * input has ended; bootstrap with what the shared sample holds (at least k rows)
 * and run a model update even though no pane opened. Every sharer must make the
 * same calls. A delta that is damaged, or was made against another model version,
 * is an error and nothing changes. 0, or -1 with err. */
int segstream_cluster_barrier(segstream_cluster *c, const uint8_t *const *deltas, const size_t *lens, size_t n,
                              int64_t pane, int final, const segstream_cluster_sink *sink, segstream_err *err);

/* --- Inspection (read-only, cheap) --- */

typedef struct segstream_cluster_stats {
    int64_t model_version;     /* 0 until the bootstrap */
    int64_t watermark;         /* INT64_MIN before the first event */
    int64_t max_event_time;
    int active_segments;
    int64_t segments_created;  /* ids handed out so far (ids are 1..this) */
    long users;                /* tracked users */
    long sweep_due;            /* users still to re-assign after the last update */
    long bootstrap_buffered;   /* events waiting for the bootstrap */
    int64_t barrier_pane;      /* a shared model: the pane its last barrier opened; INT64_MIN none */
    size_t memory_bytes;       /* heap held by the model, everything included */
} segstream_cluster_stats;

void segstream_cluster_get_stats(const segstream_cluster *c, segstream_cluster_stats *stats);

/* The vector dimension the model was created or restored with. */
int segstream_cluster_dim(const segstream_cluster *c);

/* 1 when the model is a shared one (options.shared_model). */
int segstream_cluster_is_shared(const segstream_cluster *c);

/* The user's current segment (-1: none or unknown user); similarity optional. */
int64_t segstream_cluster_user_segment(const segstream_cluster *c, const char *user_id, float *similarity);

/* Calls fn for every active segment, in slot order, as a catalog change of
 * kind UPDATED (for publishing the full catalog). */
void segstream_cluster_for_each_segment(const segstream_cluster *c, const segstream_cluster_sink *sink);

/* --- Snapshots --- */

/* Serialises the whole state (options, model, panes, users, labels, random
 * generator, bootstrap buffer) into a new malloc'ed blob the caller frees.
 * Returns 0 or -1. The blob is deterministic: the same state gives the same bytes. */
int segstream_cluster_snapshot(const segstream_cluster *c, uint8_t **blob, size_t *len, segstream_err *err);

/* Bytes of each part of the blob segstream_cluster_snapshot writes for c now
 * (for benchmarks and sizing the state topic). */
typedef struct segstream_cluster_snapshot_parts {
    size_t total;       /* the whole blob */
    size_t panes;       /* the pane ring as written: sparse, only non-zero (pane, segment) rows */
    size_t panes_dense; /* what the same ring took dense (format 2), for comparison; not in total */
    size_t segments;    /* segment records, accumulators and centroids */
    size_t reservoirs;  /* per-segment reservoirs of member vectors */
    size_t labels;      /* label counter tables */
    size_t users;       /* user ids, profiles and assignments */
    size_t bootstrap;   /* events buffered before the model starts */
    size_t other;       /* header, options, clock, random generator */
} segstream_cluster_snapshot_parts;

/* Fills sizes by serialising c (as segstream_cluster_snapshot, same cost).
 * Returns 0 or -1 (out of memory). */
int segstream_cluster_snapshot_sizes(const segstream_cluster *c, segstream_cluster_snapshot_parts *sizes,
                                     segstream_err *err);

/* Rebuilds a model from a blob. A corrupt, truncated or foreign blob is an
 * error (NULL with err), never a crash. */
segstream_cluster *segstream_cluster_restore(const uint8_t *blob, size_t len, segstream_err *err);

/* The users of one shard, apart from the model: for a store keyed by input
 * partition, where a part that did not change need not be written again. */
typedef struct segstream_cluster_user_part {
    int32_t shard;
    const uint8_t *blob; /* from segstream_cluster_snapshot_split: malloc'ed, freed by ..._user_parts_free */
    size_t len;
} segstream_cluster_user_part;

/* The same state as segstream_cluster_snapshot, split: *model gets the blob
 * without the user records (it keeps their count and the sweep position),
 * *parts one blob per shard that has users, in ascending shard order (NULL
 * and 0 when there are no users). Each record keeps its place in the user
 * order, so restoring the parts gives back the same model, bit for bit.
 * Returns 0 or -1 (nothing to free then). */
int segstream_cluster_snapshot_split(const segstream_cluster *c, uint8_t **model, size_t *model_len,
                                     segstream_cluster_user_part **parts, size_t *n_parts, segstream_err *err);
void segstream_cluster_user_parts_free(segstream_cluster_user_part *parts, size_t n);

/* Rebuilds a model from a split snapshot: the model blob and all its user
 * parts, in any order (a whole blob of segstream_cluster_snapshot is taken
 * too, with no parts). Parts that do not add up to the model's users (one
 * missing, a user twice, a foreign part) are an error, as is any corruption. */
segstream_cluster *segstream_cluster_restore_split(const uint8_t *model, size_t model_len,
                                                   const segstream_cluster_user_part *parts, size_t n_parts,
                                                   segstream_err *err);

#endif
