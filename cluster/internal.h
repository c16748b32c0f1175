/* internal.h - the model's state, shared by the files of cluster/ only.
 *
 * Layout: fixed arrays sized from the options at creation (k segment slots,
 * a ring of panes, per-segment reservoirs and label tables) plus the growing
 * user table. Everything that is state is in this struct and is serialised by
 * snapshot.c; scratch buffers are marked as such and are not. */
#ifndef SEGSTREAM_CLUSTER_INTERNAL_H
#define SEGSTREAM_CLUSTER_INTERNAL_H

#include "cluster/cluster.h"

#include <stdint.h>

#define SEGSTREAM_TERM_MAX 32 /* bytes of a label term, NUL included */
#define SEGSTREAM_USER_ID_MAX 255

/* ---- rng.c: xoshiro256**, seeded by splitmix64; its 4 words are state. ---- */
typedef struct cl_rng {
    uint64_t s[4];
} cl_rng;
void cl_rng_seed(cl_rng *r, uint64_t seed);
uint64_t cl_rng_next(cl_rng *r);
double cl_rng_uniform(cl_rng *r); /* [0, 1) */

/* ---- vec.c: the few vector kernels, written so results do not depend on
 * the vector width the compiler picks (fixed accumulation order). ---- */
float cl_dot(const float *a, const float *b, int d);
double cl_norm(const float *a, int d);
void cl_axpy(float *y, float a, const float *x, int d); /* y += a x */
/* out[j] = dot(x, C[j]) for j < n (C row-major n x d). */
void cl_dots(const float *x, const float *C, int n, int d, float *out);
/* out[u][j] = dot(X[u], C[j]) for u < nu, j < n (X nu x d, out nu x n, row-major):
 * the same bits as cl_dots(X[u], C) for every u, whatever nu (the sweep's kernel). */
void cl_dots_block(const float *X, int nu, const float *C, int n, int d, float *out);

/* ---- profile_codec.c ---- */
void cl_codec_init(void); /* builds the fp16 decode table once; idempotent */
size_t cl_profile_bytes(segstream_profile_codec codec, int d);
void cl_profile_encode(segstream_profile_codec codec, const float *x, int d, uint8_t *out);
void cl_profile_decode(segstream_profile_codec codec, const uint8_t *in, int d, float *x);
uint16_t cl_fp16_from_float(float f);
float cl_fp16_to_float(uint16_t h);

/* ---- labels.c: a per-segment table of decayed term counters. ---- */
typedef struct cl_term {
    char text[SEGSTREAM_TERM_MAX]; /* "" : free entry */
    uint32_t hash;
    double count;                   /* on the segment's scale: value at t = count * 0.5^((t - label_epoch)/H) */
    double error;                   /* space-saving overestimate inherited at insertion (same scale) */
} cl_term;

/* ---- users.c: the user table (see users.c for probing and load factor). ---- */
typedef struct cl_users {
    long n;            /* users, densely at indices 0..n-1 */
    long cap;          /* capacity of the dense arrays */
    long slots;        /* open-addressing slots, a power of two */
    int32_t *slot;     /* slots: dense index, or -1 empty */
    char **id;         /* per user: owned NUL-terminated id */
    uint64_t *hash;    /* per user: hash of the id */
    uint8_t *profile;  /* per user: profile_bytes, fp16 or int8+scale */
    float *weight;     /* per user: decayed event count behind the profile */
    int32_t *segment;  /* per user: segment slot, -1 none */
    int64_t *segment_id; /* per user: segment id, -1 none (kept apart: the slot may be reused) */
    float *similarity;
    int64_t *last_time;
    int64_t *seen_version; /* model version the assignment was last checked against */
    int64_t *left_segment_id; /* the segment the user last moved out of, -1 none (see sweep.c) */
    int32_t *shard;    /* per user: the shard of the user's latest event (snapshot parts) */
} cl_users;

int cl_users_init(cl_users *u, long cap, size_t profile_bytes);
void cl_users_free(cl_users *u);
uint64_t cl_hash_id(const char *id);
long cl_users_find(const cl_users *u, const char *id, uint64_t h); /* dense index or -1 */
long cl_users_insert(cl_users *u, const char *id, uint64_t h, size_t profile_bytes); /* new index or -1 (OOM) */
/* Removes user i; the last user moves into i. */
void cl_users_remove(cl_users *u, long i, size_t profile_bytes);
size_t cl_users_memory(const cl_users *u, size_t profile_bytes);

/* ---- the model ---- */
typedef struct cl_segment {
    int64_t id;            /* -1: free slot */
    int64_t parent;        /* -1: none */
    int64_t created_time;
    int64_t updated_time;
    double size;           /* decayed count at the last model update */
    double live_count;     /* count added since the last model update */
    double coherence;      /* |decayed sum| / decayed count, in [0,1]; 1 = tight */
    int reservoir_n;       /* valid reservoir rows */
    int reservoir_next;    /* next row to overwrite (ring) */
    int64_t label_epoch;   /* time of scale 1 of the label counters; INT64_MIN: none yet */
    int n_label;
    char label[16][SEGSTREAM_TERM_MAX];
} cl_segment;

typedef struct cl_boot_event {
    char *user_id;
    int op;
    float *vector;   /* NULL for DELETE */
    char **words;
    size_t n_words;
    int64_t event_time;
    int32_t shard;
} cl_boot_event;

struct segstream_cluster {
    segstream_cluster_options opt;
    int d, k;
    size_t profile_bytes;

    /* time */
    int64_t max_time;       /* INT64_MIN before the first event */
    int64_t watermark;      /* INT64_MIN before the first event */
    int64_t model_pane;     /* pane index of the watermark at the last model update */
    int n_window_panes;     /* W / S */
    int n_ring;             /* panes kept: window + lateness + 1 */

    /* panes: ring slot r holds pane index pane_index[r] (INT64_MIN: empty) */
    int64_t *pane_index;
    float *pane_sum;        /* [n_ring][k][d] */
    double *pane_count;     /* [n_ring][k] */

    /* segments */
    cl_segment *seg;        /* [k] */
    float *acc;             /* [k][d]: decayed sum at the last update + additions since */
    float *centroid;        /* [k][d]: unit acc (the live centroid) */
    float *reservoir;       /* [k][reservoir_size][d] */
    cl_term *terms;         /* [k][label_table_size] */
    int64_t next_segment_id;/* ids are never reused */
    int64_t version;        /* 0 until the bootstrap */
    int n_active;

    /* users */
    cl_users users;
    long sweep_due;         /* users whose seen_version < version */
    long sweep_cursor;      /* next dense index the sweep visits (cyclic) */

    cl_rng rng;

    /* bootstrap buffer */
    cl_boot_event *boot;
    long n_boot, cap_boot;

    /* shared model (options.shared_model): per shard (input partition) the contributions
     * not yet through a barrier, ascending by shard; and the bootstrap sample merged so
     * far (every sharer's, in barrier order) */
    struct cl_delta **pending;
    int32_t *pending_shard;
    int n_pending, cap_pending;
    struct cl_delta *sample;
    int64_t barrier_wanted; /* pane the last AT_BARRIER event needs; INT64_MIN none */
    int at_barrier;         /* the pending delta was taken: no event until the barrier */

    /* scratch (not state) */
    float *scratch_x;       /* d: the profile being updated */
    float *scratch_unit;    /* d: the event's normalised vector */
    float *scratch_sims;    /* k */
};

/* Users last active before this time have expired. A shared model counts from its
 * barrier's pane, the same for every sharer, so a user's profile does not depend on
 * when this instance's sweep happened to reach it. */
static inline int64_t cl_expiry_horizon(const segstream_cluster *c)
{
    if (c->opt.shared_model)
        return c->model_pane == INT64_MIN ? INT64_MIN : c->model_pane * c->opt.pane_ms - c->opt.window_ms;
    return c->watermark == INT64_MIN ? INT64_MIN : c->watermark - c->opt.window_ms; /* MIN: a restored model
                                                                                      that saw no event yet */
}

/* cluster.c */
void cl_free_boot(segstream_cluster *c);
void cl_emit_change(segstream_cluster *c, const segstream_cluster_sink *sink, long user,
                    const char *user_id, int64_t time, int64_t prev, int64_t next, float sim,
                    segstream_change_cause cause);
/* Nearest active segment to x (unit) and sims for all slots (-2 for free). */
int cl_nearest(segstream_cluster *c, const float *x, float *sims);
/* The best active slot given raw dots for all k slots (marks free slots -2). */
int cl_best_of(const segstream_cluster *c, float *sims);
/* Applies the hysteresis rule: returns the slot the user should be in. */
int cl_choose(const segstream_cluster *c, int current, const float *sims, int best);
int cl_apply_event(segstream_cluster *c, const segstream_cluster_event *ev, const float *unit,
                   const segstream_cluster_sink *sink, int update_centroids, segstream_err *err);

/* evict.c: makes room for one new user when options.max_users is reached,
 * expiring the least recently active users (EXPIRED changes at `time`). */
int cl_evict_for_new_user(segstream_cluster *c, const segstream_cluster_sink *sink, int64_t time,
                          segstream_err *err);

/* panes.c */
int64_t cl_floor_div(int64_t a, int64_t b);
int64_t cl_pane_of(const segstream_cluster *c, int64_t t);
int64_t cl_oldest_pane(const segstream_cluster *c); /* first pane index inside the window */
/* Adds x with count 1 to segment slot s of the pane of time t; 0, or 1 when that pane left the window. */
int cl_pane_add(segstream_cluster *c, int64_t t, int s, const float *x);
void cl_panes_drop_before(segstream_cluster *c, int64_t oldest);
/* Adds a merged sum (n events) to slot s of pane i; 1 when that pane is before `oldest`. */
int cl_pane_add_sum(segstream_cluster *c, int64_t i, int64_t oldest, int s, const float *sum, double n);
/* acc, size and coherence of every active slot from the decayed panes at time t. */
void cl_panes_recompute(segstream_cluster *c, int64_t t);
void cl_panes_clear_slot(segstream_cluster *c, int s);
void cl_panes_merge_slot(segstream_cluster *c, int into, int from);
/* Child slot `to` gets parent `from`'s pane stats scaled by share, pointed along dir (unit). */
void cl_panes_split_slot(segstream_cluster *c, int from, int to, double share, const float *dir);

/* segments.c */
void cl_segment_refresh_centroid(segstream_cluster *c, int s);
int cl_segment_new(segstream_cluster *c, int64_t parent, int64_t time);
void cl_reservoir_add(segstream_cluster *c, int s, const float *x);
/* The model update at pane close, at model time t with the window starting at pane
 * `oldest`: drop, recompute, retire, merge, split, labels, catalog. */
int cl_model_update(segstream_cluster *c, int64_t t, int64_t oldest, const segstream_cluster_sink *sink,
                    segstream_err *err);
void cl_emit_catalog(segstream_cluster *c, const segstream_cluster_sink *sink, int s,
                     segstream_catalog_kind kind, int64_t merged_into);

/* kmeanspp.c: seeding + Lloyd on n unit rows of X, best of `restarts` by
 * inertia; writes k unit centroids. */
int cl_kmeans(const float *X, long n, int d, int k, int iterations, int restarts, cl_rng *rng, float *centroids,
              segstream_err *err);
/* sum over the rows of 1 - their best cosine to the k centroids; sims: n * k scratch */
double cl_kmeans_inertia(const float *X, long n, int d, const float *centroids, int k, float *sims);

/* labels.c */
void cl_labels_add(segstream_cluster *c, int s, const char *const *words, size_t n, int64_t t);
void cl_labels_clear(segstream_cluster *c, int s);
void cl_labels_merge(segstream_cluster *c, int into, int from, int64_t t);
void cl_labels_copy_scaled(segstream_cluster *c, int to, int from, double share);
void cl_labels_recompute(segstream_cluster *c, int64_t t);

/* stopwords.c: 1 when the lowercased token is an English or Chinese stop word. */
int cl_is_stopword(const char *word);
int cl_stopwords_sorted(void); /* 1 when the lists are sorted (bsearch needs it) */

/* ---- delta.c: a shared model's contributions as exact, mergeable statistics ----
 * Vector sums are fixed point (int64, 2^-32 units) so that adding them is exact and
 * their order never shows; terms are integer counts; recent vectors for splits and the
 * bootstrap sample are kept by a total order (event time, user hash, vector bits), so
 * the union of several deltas' top rows is the top of their union. */
typedef struct cl_pick {
    int64_t time;
    uint64_t user_hash;
    int32_t slot; /* the sample's rows: -1 */
} cl_pick;

typedef struct cl_delta_term {
    int64_t pane;
    int32_t slot;
    uint32_t hash;
    int64_t count;
    char text[SEGSTREAM_TERM_MAX];
} cl_delta_term;

typedef struct cl_delta {
    int d, k, R;
    int32_t shard;        /* whose contributions (a merge of several: -1) */
    int64_t version;      /* model version the contributions were made against */
    long n_rows, cap_rows;
    int64_t *row_pane;
    int32_t *row_slot;
    int64_t *row_count;
    int64_t *row_sum;     /* [cap_rows][d], fixed point */
    long n_terms, cap_terms;
    cl_delta_term *terms;
    int32_t *term_slots;  /* open addressing over terms, -1 empty */
    long n_term_slots;    /* a power of two, > 2 n_terms */
    segstream_profile_codec codec; /* how picks are kept: the users' profile encoding */
    size_t pick_bytes;
    int32_t *pick_n;      /* [k] */
    cl_pick *picks;       /* [k][R], allocated at the first pick */
    uint8_t *pick_code;   /* [k][R][pick_bytes], likewise */
    long n_sample, cap_sample;
    cl_pick *sample;
    float *sample_vec;    /* [cap_sample][d] */
} cl_delta;

cl_delta *cl_delta_new(int d, int k, int R, segstream_profile_codec codec);
/* The pending delta of a shard, made (empty, at the model's version) if missing; NULL on OOM. */
cl_delta *cl_pending_of(segstream_cluster *c, int32_t shard);
void cl_delta_free(cl_delta *x);
void cl_delta_clear(cl_delta *x);
size_t cl_delta_memory(const cl_delta *x);
/* One event's contribution: profile v (unit; `code` is its encoding, which it was decoded
 * from) to segment slot s in the pane of t, and its words. -1 OOM. */
int cl_delta_add_event(cl_delta *x, int64_t pane, int s, const float *v, const uint8_t *code, int64_t t,
                       uint64_t user_hash, const char *const *words, size_t n_words);
int cl_delta_add_sample(cl_delta *x, int64_t t, uint64_t user_hash, const float *v);
/* Serialises / adds a serialised delta (checked: a malformed one is an error, and x is then
 * partly filled: discard it). */
int cl_delta_write(const cl_delta *x, uint8_t **bytes, size_t *len, segstream_err *err);
int cl_delta_absorb(cl_delta *x, const uint8_t *bytes, size_t len, segstream_err *err);
/* Puts terms, picks and the sample in their canonical order (rows need none). */
void cl_delta_sort(cl_delta *x);

/* labels.c: the normalised label term of a word; 0 when it is no label material. */
int cl_label_term(const char *word, char out[SEGSTREAM_TERM_MAX]);
/* Adds count to term (normalised) of slot s as if seen count times at t. */
void cl_labels_add_term(segstream_cluster *c, int s, const char *term, double count, int64_t t);

/* sweep.c */
void cl_sweep_start(segstream_cluster *c);

#endif
