/* stage_cluster.h - the pipeline's door to cluster/, in neutral types.
 *
 * The pipeline speaks in Avro records (consumer/records.h); the model in its
 * own types (segstream_cluster_change, SEGSTREAM_CLUSTER_OP_*). This adapter
 * is the only consumer/ file of the pipeline that includes cluster.h: it maps
 * stage settings to cluster options and cluster outputs to the plain structs
 * below. Causes keep the numbering both headers share (0 INTEREST_CHANGED,
 * 1 MODEL_UPDATED, 2 EXPIRED, 3 DELETED).
 *
 * Thread rules: those of segstream_cluster (one thread at a time). */
#ifndef SEGSTREAM_CONSUMER_STAGE_CLUSTER_H
#define SEGSTREAM_CONSUMER_STAGE_CLUSTER_H

#include "common/err.h"
#include "consumer/stage_settings.h"

#include <stddef.h>
#include <stdint.h>

typedef struct segstream_stage_cluster segstream_stage_cluster;

/* A user's segment changed; pointers valid during the callback only. */
typedef struct segstream_stage_change {
    const char *user_id;
    int64_t event_time;
    int64_t previous_segment; /* -1: none */
    int64_t segment;          /* -1: none */
    float similarity;         /* NaN when segment == -1 */
    int cause;                /* 0..3, the Avro symbol index */
    int64_t model_version;
} segstream_stage_change;

/* A catalog entry changed; pointers valid during the callback only. */
typedef struct segstream_stage_segment {
    int64_t segment_id;
    int active;                /* 1 ACTIVE, 0 RETIRED */
    int64_t parent;            /* -1: none */
    const char *const *label;
    int n_label;
    double size;
    const float *centroid;     /* dim floats; NULL when retired */
    int dim;
    int64_t created_time;
    int64_t updated_time;
    int64_t model_version;
} segstream_stage_segment;

typedef struct segstream_stage_cluster_sink {
    void *ctx;
    void (*change)(void *ctx, const segstream_stage_change *change);
    void (*segment)(void *ctx, const segstream_stage_segment *segment);
} segstream_stage_cluster_sink;

/* The settings' cluster fields as the model's options (cluster/cluster.h,
 * named by its struct tag so this header need not include it), checked by
 * segstream_cluster_options_validate(). The one mapping from settings to
 * options: the stage creates its model with it and configuration validation
 * checks the cluster.* keys through it. Returns 0, or -1 with err. */
struct segstream_cluster_options;
int segstream_stage_cluster_options(const segstream_stage_settings *s, int dim, struct segstream_cluster_options *out,
                                    segstream_err *err);

/* A model for vectors of `dim` floats with the settings' cluster fields.
 * NULL with err (naming the bad setting) on failure. */
segstream_stage_cluster *segstream_stage_cluster_create(const segstream_stage_settings *s, int dim,
                                                        segstream_err *err);
void segstream_stage_cluster_free(segstream_stage_cluster *c); /* NULL is fine */

/* Applies one event (op 0 SET, 1 ADD, 2 DELETE). Returns 0 applied, 1 refused
 * (reason gets the cluster's stable name, message a sentence), -1 failure. */
int segstream_stage_cluster_apply(segstream_stage_cluster *c, const char *user_id, int op,
                                  const float *vector, const char *const *words, size_t n_words,
                                  int64_t event_time, int32_t partition, const segstream_stage_cluster_sink *sink,
                                  const char **reason, char message[160], segstream_err *err);

/* End of input: bootstraps now if the sample is still buffered (when there
 * are at least k vectors; otherwise *still_buffered says how many events
 * wait) and finishes the pending re-assignment sweep. Returns 0 or -1. */
int segstream_stage_cluster_finish(segstream_stage_cluster *c, const segstream_stage_cluster_sink *sink,
                                   long *still_buffered, segstream_err *err);

int64_t segstream_stage_cluster_model_version(const segstream_stage_cluster *c);
int segstream_stage_cluster_is_shared(const segstream_stage_cluster *c);

/* Gauges for operations: tracked users, active segments, the event-time
 * watermark (INT64_MIN before the first event), heap bytes of the model. */
typedef struct segstream_stage_cluster_gauges {
    long users;
    int active_segments;
    int64_t watermark;
    size_t memory_bytes;
} segstream_stage_cluster_gauges;
void segstream_stage_cluster_get_gauges(const segstream_stage_cluster *c, segstream_stage_cluster_gauges *g);

/* The vector dimension of the model (a restored one's comes from its snapshot). */
int segstream_stage_cluster_dim(const segstream_stage_cluster *c);

/* Publishes every active segment through sink->segment (the full catalog). */
void segstream_stage_cluster_catalog(const segstream_stage_cluster *c, const segstream_stage_cluster_sink *sink);

/* Snapshot to a new malloc'ed blob / rebuild from one (see cluster.h). */
int segstream_stage_cluster_snapshot(const segstream_stage_cluster *c, uint8_t **blob, size_t *len,
                                     segstream_err *err);
segstream_stage_cluster *segstream_stage_cluster_restore(const uint8_t *blob, size_t len, segstream_err *err);

/* The users of one input partition (the partition of each user's latest event). */
typedef struct segstream_stage_user_part {
    int32_t partition;
    const uint8_t *blob;
    size_t len;
} segstream_stage_user_part;

/* The snapshot split into the model without users and one part per input
 * partition that has users, ascending (cluster.h: segstream_cluster_snapshot_split);
 * free the parts with segstream_stage_user_parts_free. */
int segstream_stage_cluster_snapshot_split(const segstream_stage_cluster *c, uint8_t **model, size_t *model_len,
                                           segstream_stage_user_part **parts, size_t *n_parts, segstream_err *err);
void segstream_stage_user_parts_free(segstream_stage_user_part *parts, size_t n);
/* Rebuilds from the model and all of its parts (or a whole blob and none). */
segstream_stage_cluster *segstream_stage_cluster_restore_split(const uint8_t *model, size_t model_len,
                                                               const segstream_stage_user_part *parts,
                                                               size_t n_parts, segstream_err *err);

/* --- Partition models (settings->partition_models: scale-out) ---
 * One shared model per owned input partition: a partition's model, users and
 * pending delta are one part of the split snapshot, so they move together
 * to whichever instance owns the partition. Every partition model applies
 * every barrier, so all hold the same centroids and segment ids at the same
 * barrier number (seq); only the model of partition 0 tells the catalog.
 * The caller runs barriers: apply returns SEGSTREAM_CLUSTER_AT_BARRIER (2)
 * for an event that needs one (nothing applied); the caller takes every
 * owned partition's delta, publishes them, gathers every partition's delta
 * for that barrier and applies them all. */

/* 1 with partition models. */
int segstream_stage_cluster_is_partitioned(const segstream_stage_cluster *c);

/* Owns exactly these partitions: a fresh model for each new one, the ones
 * not listed dropped. 0 or -1 with err. */
int segstream_stage_cluster_own(segstream_stage_cluster *c, const segstream_stage_settings *s,
                                const int32_t *partitions, size_t n, segstream_err *err);

typedef struct segstream_stage_barrier_state {
    int64_t seq_min, seq_max; /* barriers applied, over the owned partitions (0, 0 with none) */
    int64_t log_pos_min;      /* the earliest model-log position an owned partition still needs */
    int taken;                /* partitions whose delta for their next barrier was taken */
    int untaken_at_min;       /* partitions at seq_min still to give theirs */
    int owned;                /* partitions owned */
} segstream_stage_barrier_state;
void segstream_stage_cluster_barrier_state(const segstream_stage_cluster *c, segstream_stage_barrier_state *st);

/* One partition's delta for barrier seq (bytes malloc'ed). */
typedef struct segstream_stage_delta {
    int32_t partition;
    int64_t seq;
    uint8_t *bytes;
    size_t len;
} segstream_stage_delta;
void segstream_stage_deltas_free(segstream_stage_delta *d, size_t n);

/* Takes the delta of every owned partition that has not given it yet
 * (*out, *n; possibly none) and the pane the event that asked wants
 * (INT64_MAX when no event asked: an idle instance joining). 0 or -1. */
int segstream_stage_cluster_barrier_take(segstream_stage_cluster *c, segstream_stage_delta **out, size_t *n,
                                         int64_t *wanted, segstream_err *err);

/* Barrier seq is complete: all (n, every input partition's delta) applied,
 * the model moved to pane, to every owned partition model at seq (then
 * seq + 1 at log_pos), and its users swept. *applied: how many. 0 or -1. */
int segstream_stage_cluster_barrier_apply(segstream_stage_cluster *c, int64_t seq, const segstream_stage_delta *all,
                                          size_t n, int64_t pane, int64_t log_pos,
                                          const segstream_stage_cluster_sink *sink, long *applied, segstream_err *err);

#endif
