/* snapshot.c - the whole state to a versioned binary blob and back.
 *
 * Blob: "SEGSTRCL" magic (8 bytes), format version (u32), payload length
 * (u64), checksum of the payload (u64: XXH64 seed 0 from format 5, FNV-1a-64
 * before, which cost ~5 ms per 4 MB snapshot), payload. All integers are
 * little-endian, floats are their IEEE bits, so the same state gives the same
 * bytes. The payload holds the options, time, the random generator, panes,
 * segments, label counters, users in dense order (the order sweeps follow;
 * the hash slots are rebuilt, their layout never shows in outputs) and the
 * bootstrap buffer. Restore checks the magic, version, length and checksum,
 * then every count and index against its range: a corrupt blob is an error.
 *
 * Panes are sparse (format 3): per ring slot its pane index, a bitmap of the
 * k segment slots, then only the marked (pane, segment) rows, each d sums and
 * the count. A row is marked when any of its bits is set (a -0.0 counts), so
 * unmarked rows are exactly the zero bits restore starts from; restore refuses
 * a marked row that is all zero bits or a set padding bit, so a blob that
 * restores is the one its model writes again. A stream that touches few
 * segments per pane (the ring spans the whole window, 170 panes by default)
 * writes a fraction of the 16 MiB a dense ring takes at k 64, d 384; one
 * that fills every pane and segment writes k/8 bytes per pane more than dense.
 * Format 2 (dense panes) still restores. */
#include "cluster/bytes.h"
#include "cluster/internal.h"

#include "common/hash64.h"

#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_MAGIC "SEGSTRCL"
#define SNAPSHOT_VERSION 6u /* 2: options gained max_users; 3: sparse panes, users gained left_segment_id;
                                  4: users and buffered events gained their shard, users may be apart;
                                  5: XXH64 checksums instead of FNV-1a (same payload);
                                  6: a shared-model flag ends the payload; when set, the barrier flag, the
                                     pending delta and the merged bootstrap sample follow it */
#define SNAPSHOT_XXH64_VERSION 5u
#define SNAPSHOT_DENSE_PANES_VERSION 2u /* still restored, as is 3 */
#define HEADER_BYTES (8 + 4 + 8 + 8)
#define PART_MAGIC "SEGSTRUP"
#define PART_VERSION 2u /* 1: FNV-1a checksum (still restored), 2: XXH64 */

/* The payload checksum: FNV-1a-64 in the formats before XXH64 replaced it. */
static uint64_t payload_checksum(const uint8_t *p, size_t n, int xxh64)
{
    if (xxh64)
        return segstream_xxh64(p, n, 0);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static void put_options(cl_writer *w, const segstream_cluster_options *o)
{
    cl_put_i64(w, o->dim);
    cl_put_i64(w, o->k);
    cl_put_i64(w, o->window_ms);
    cl_put_i64(w, o->pane_ms);
    cl_put_i64(w, o->half_life_ms);
    cl_put_i64(w, o->allowed_lateness_ms);
    cl_put_i64(w, o->max_future_skew_ms);
    cl_put_i64(w, o->init_sample);
    cl_put_i64(w, o->kmeans_iterations);
    cl_put_i64(w, o->kmeans_restarts);
    cl_put_u64(w, o->seed);
    cl_put_f64(w, o->retire_share);
    cl_put_f64(w, o->merge_cosine);
    cl_put_f64(w, o->hysteresis);
    cl_put_i64(w, o->profile_codec);
    cl_put_i64(w, o->reassign_slice);
    cl_put_i64(w, o->reservoir_size);
    cl_put_i64(w, o->label_terms);
    cl_put_i64(w, o->label_table_size);
    cl_put_i64(w, o->user_capacity);
    cl_put_i64(w, o->max_users);
}

static int get_options(cl_reader *r, segstream_cluster_options *o)
{
    int64_t v[10];
    for (int i = 0; i < 10; i++)
        v[i] = cl_get_i64(r);
    o->seed = cl_get_u64(r);
    o->retire_share = cl_get_f64(r);
    o->merge_cosine = cl_get_f64(r);
    o->hysteresis = cl_get_f64(r);
    int64_t tail[6];
    for (int i = 0; i < 6; i++)
        tail[i] = cl_get_i64(r);
    if (r->failed)
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 2 && i != 3 && i != 4 && i != 5 && i != 6 && (v[i] < 0 || v[i] > INT32_MAX))
            return -1;
    for (int i = 0; i < 6; i++)
        if (tail[i] < 0 || tail[i] > INT32_MAX)
            return -1;
    o->dim = (int)v[0];
    o->k = (int)v[1];
    o->window_ms = v[2];
    o->pane_ms = v[3];
    o->half_life_ms = v[4];
    o->allowed_lateness_ms = v[5];
    o->max_future_skew_ms = v[6];
    o->init_sample = (int)v[7];
    o->kmeans_iterations = (int)v[8];
    o->kmeans_restarts = (int)v[9];
    o->profile_codec = (segstream_profile_codec)tail[0];
    o->reassign_slice = (int)tail[1];
    o->reservoir_size = (int)tail[2];
    o->label_terms = (int)tail[3];
    o->label_table_size = (int)tail[4];
    o->user_capacity = (int)tail[5];
    o->max_users = cl_get_i64(r);
    if (r->failed || o->max_users < 0 || o->max_users > INT32_MAX)
        return -1;
    return 0;
}

static size_t bitmap_bytes(int k) { return ((size_t)k + 7) / 8; }

/* Row s of ring slot r: its d sums and its count. */
static const float *row_sum(const segstream_cluster *c, int r, int s)
{
    return c->pane_sum + ((size_t)r * c->k + s) * c->d;
}

static int row_is_zero(const segstream_cluster *c, int r, int s)
{
    uint64_t count;
    memcpy(&count, &c->pane_count[(size_t)r * c->k + s], 8);
    if (count)
        return 0;
    /* every ring row is scanned at each snapshot (16 MiB at k 64, d 384,
     * mostly zero): OR 64 at a time, which the compiler vectorises */
    const float *v = row_sum(c, r, s);
    for (int i = 0; i < c->d; i += 64) {
        int m = c->d - i < 64 ? c->d - i : 64;
        uint32_t any = 0;
        for (int j = 0; j < m; j++) {
            uint32_t u;
            memcpy(&u, &v[i + j], 4);
            any |= u;
        }
        if (any)
            return 0;
    }
    return 1;
}

/* Format 3: per ring slot, pane index, bitmap of non-zero rows, those rows. */
static void put_panes(cl_writer *w, const segstream_cluster *c)
{
    size_t nb = bitmap_bytes(c->k);
    uint8_t *bits = calloc(nb, 1);
    if (!bits) {
        w->failed = 1;
        return;
    }
    for (int r = 0; r < c->n_ring; r++) {
        cl_put_i64(w, c->pane_index[r]);
        memset(bits, 0, nb);
        for (int s = 0; s < c->k; s++)
            if (!row_is_zero(c, r, s))
                bits[s / 8] |= (uint8_t)(1u << (s % 8));
        cl_put(w, bits, nb);
        for (int s = 0; s < c->k; s++)
            if (bits[s / 8] >> (s % 8) & 1) {
                cl_put_floats(w, row_sum(c, r, s), (size_t)c->d);
                cl_put_f64(w, c->pane_count[(size_t)r * c->k + s]);
            }
    }
    free(bits);
}

static void put_user(cl_writer *w, const segstream_cluster *c, long i)
{
    const cl_users *u = &c->users;
    cl_put_str(w, u->id[i]);
    cl_put(w, u->profile + (size_t)i * c->profile_bytes, c->profile_bytes);
    cl_put_floats(w, &u->weight[i], 1);
    cl_put_i64(w, u->segment[i]);
    cl_put_i64(w, u->segment_id[i]);
    cl_put_floats(w, &u->similarity[i], 1);
    cl_put_i64(w, u->last_time[i]);
    cl_put_i64(w, u->seen_version[i]);
    cl_put_i64(w, u->left_segment_id[i]);
    cl_put_i64(w, u->shard[i]);
}

/* Magic, version, payload length and checksum into the first HEADER_BYTES. */
static void seal(cl_writer *w, const char *magic, uint32_t version)
{
    size_t payload = w->n - HEADER_BYTES;
    memcpy(w->p, magic, 8);
    for (int i = 0; i < 4; i++)
        w->p[8 + i] = (uint8_t)(version >> (8 * i));
    uint64_t sum = payload_checksum(w->p + HEADER_BYTES, payload, 1);
    for (int i = 0; i < 8; i++) {
        w->p[12 + i] = (uint8_t)((uint64_t)payload >> (8 * i));
        w->p[20 + i] = (uint8_t)(sum >> (8 * i));
    }
}

static uint64_t sealed_checksum(const uint8_t *blob)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)blob[20 + i] << (8 * i);
    return v;
}

/* parts == NULL: the users inline (the whole state in one blob); otherwise
 * they are in parts (sealed already) and the blob lists each part's shard,
 * user count and checksum, so restore can tell a missing or stale part. */
static int write_snapshot(const segstream_cluster *c, uint8_t **blob, size_t *len,
                          segstream_cluster_snapshot_parts *sizes, const segstream_cluster_user_part *parts,
                          const long *part_users, size_t n_parts, segstream_err *err)
{
    cl_writer w = {0};
    uint8_t header[HEADER_BYTES] = {0};
    cl_put(&w, header, sizeof header); /* filled in at the end */
    put_options(&w, &c->opt);
    cl_put_i64(&w, c->max_time);
    cl_put_i64(&w, c->watermark);
    cl_put_i64(&w, c->model_pane);
    for (int i = 0; i < 4; i++)
        cl_put_u64(&w, c->rng.s[i]);
    cl_put_i64(&w, c->next_segment_id);
    cl_put_i64(&w, c->version);
    cl_put_i64(&w, c->sweep_due);
    cl_put_i64(&w, c->sweep_cursor);
    size_t kd = (size_t)c->k * c->d;
    size_t panes_at = w.n;
    put_panes(&w, c);
    if (sizes)
        sizes->panes = w.n - panes_at;
    size_t segments_at = w.n;
    for (int s = 0; s < c->k; s++) {
        const cl_segment *g = &c->seg[s];
        cl_put_i64(&w, g->id);
        cl_put_i64(&w, g->parent);
        cl_put_i64(&w, g->created_time);
        cl_put_i64(&w, g->updated_time);
        cl_put_f64(&w, g->size);
        cl_put_f64(&w, g->live_count);
        cl_put_f64(&w, g->coherence);
        cl_put_i64(&w, g->label_epoch);
        cl_put_u32(&w, (uint32_t)g->reservoir_n);
        cl_put_u32(&w, (uint32_t)g->reservoir_next);
        cl_put_u32(&w, (uint32_t)g->n_label);
        for (int i = 0; i < g->n_label; i++)
            cl_put_str(&w, g->label[i]);
    }
    cl_put_floats(&w, c->acc, kd);
    cl_put_floats(&w, c->centroid, kd);
    size_t reservoirs_at = w.n;
    cl_put_floats(&w, c->reservoir, kd * c->opt.reservoir_size);
    size_t labels_at = w.n;
    for (size_t i = 0; i < (size_t)c->k * c->opt.label_table_size; i++) {
        const cl_term *t = &c->terms[i];
        cl_put_str(&w, t->text);
        cl_put_u32(&w, t->hash);
        cl_put_f64(&w, t->count);
        cl_put_f64(&w, t->error);
    }
    size_t users_at = w.n;
    const cl_users *u = &c->users;
    cl_put_i64(&w, u->n);
    cl_put_u32(&w, parts != NULL);
    if (parts) {
        cl_put_i64(&w, (int64_t)n_parts);
        for (size_t q = 0; q < n_parts; q++) {
            cl_put_i64(&w, parts[q].shard);
            cl_put_i64(&w, part_users[q]);
            cl_put_u64(&w, sealed_checksum(parts[q].blob));
        }
    } else {
        for (long i = 0; i < u->n; i++)
            put_user(&w, c, i);
    }
    size_t boot_at = w.n;
    cl_put_i64(&w, c->n_boot);
    for (long i = 0; i < c->n_boot; i++) {
        const cl_boot_event *b = &c->boot[i];
        cl_put_str(&w, b->user_id);
        cl_put_i64(&w, b->op);
        cl_put_i64(&w, b->event_time);
        cl_put_i64(&w, b->shard);
        cl_put_u32(&w, b->vector != NULL);
        if (b->vector)
            cl_put_floats(&w, b->vector, (size_t)c->d);
        cl_put_i64(&w, (int64_t)b->n_words);
        for (size_t q = 0; q < b->n_words; q++)
            cl_put_str(&w, b->words[q]);
    }
    cl_put_u32(&w, (uint32_t)c->opt.shared_model);
    if (c->opt.shared_model) {
        cl_put_u32(&w, (uint32_t)c->at_barrier);
        cl_put_u32(&w, (uint32_t)c->n_pending);
        for (int q = -1; q < c->n_pending; q++) { /* the sample, then each shard's pending delta */
            uint8_t *bytes = NULL;
            size_t n = 0;
            if (cl_delta_write(q < 0 ? c->sample : c->pending[q], &bytes, &n, err)) {
                free(w.p);
                return segstream_err_prefix(err, "cluster snapshot");
            }
            if (q >= 0)
                cl_put_u32(&w, (uint32_t)c->pending_shard[q]);
            cl_put_u64(&w, n);
            cl_put(&w, bytes, n);
            free(bytes);
        }
    }
    if (w.failed) {
        free(w.p);
        return segstream_err_set(err, "cluster snapshot: out of memory (%zu bytes written)", w.n);
    }
    seal(&w, SNAPSHOT_MAGIC, SNAPSHOT_VERSION);
    if (sizes) {
        sizes->total = w.n;
        sizes->panes_dense = (size_t)c->n_ring * (8 + kd * 4 + (size_t)c->k * 8);
        sizes->segments = reservoirs_at - segments_at;
        sizes->reservoirs = labels_at - reservoirs_at;
        sizes->labels = users_at - labels_at;
        sizes->users = boot_at - users_at;
        sizes->bootstrap = w.n - boot_at;
        sizes->other = w.n - sizes->panes - sizes->segments - sizes->reservoirs - sizes->labels - sizes->users -
                       sizes->bootstrap;
    }
    if (blob) {
        *blob = w.p;
        *len = w.n;
    } else {
        free(w.p);
    }
    return 0;
}

int segstream_cluster_snapshot(const segstream_cluster *c, uint8_t **blob, size_t *len, segstream_err *err)
{
    return write_snapshot(c, blob, len, NULL, NULL, NULL, 0, err);
}

int segstream_cluster_snapshot_sizes(const segstream_cluster *c, segstream_cluster_snapshot_parts *sizes,
                                     segstream_err *err)
{
    memset(sizes, 0, sizeof *sizes);
    return write_snapshot(c, NULL, NULL, sizes, NULL, NULL, 0, err);
}

void segstream_cluster_user_parts_free(segstream_cluster_user_part *parts, size_t n)
{
    for (size_t i = 0; parts && i < n; i++)
        free((void *)parts[i].blob); /* const for the restore side; these were malloc'ed here */
    free(parts);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Part blob: the common header with PART_MAGIC, then shard, user count and
 * per user its dense index followed by the record the whole blob has. */
int segstream_cluster_snapshot_split(const segstream_cluster *c, uint8_t **model, size_t *model_len,
                                     segstream_cluster_user_part **parts_out, size_t *n_parts_out,
                                     segstream_err *err)
{
    const cl_users *u = &c->users;
    /* the distinct shards, ascending; shard -> part through a small open-addressed map */
    size_t n_parts = 0, map_cap = 16;
    int32_t *shards = NULL, *map_shard = NULL;
    long *map_part = NULL, *part_users = NULL;
    cl_writer *w = NULL;
    segstream_cluster_user_part *parts = NULL;
    map_shard = malloc(map_cap * sizeof *map_shard);
    map_part = malloc(map_cap * sizeof *map_part);
    if (!map_shard || !map_part)
        goto oom;
    for (size_t j = 0; j < map_cap; j++)
        map_part[j] = -1;
    for (long i = 0; i < u->n; i++) {
        size_t j = ((uint32_t)u->shard[i] * 2654435761u) & (map_cap - 1);
        while (map_part[j] >= 0 && map_shard[j] != u->shard[i])
            j = (j + 1) & (map_cap - 1);
        if (map_part[j] >= 0)
            continue;
        map_shard[j] = u->shard[i];
        map_part[j] = (long)n_parts++;
        if (2 * n_parts > map_cap) { /* grow and reinsert */
            size_t cap = 2 * map_cap;
            int32_t *ms = malloc(cap * sizeof *ms);
            long *mp = malloc(cap * sizeof *mp);
            if (!ms || !mp) {
                free(ms), free(mp);
                goto oom;
            }
            for (size_t q = 0; q < cap; q++)
                mp[q] = -1;
            for (size_t q = 0; q < map_cap; q++)
                if (map_part[q] >= 0) {
                    size_t t = ((uint32_t)map_shard[q] * 2654435761u) & (cap - 1);
                    while (mp[t] >= 0)
                        t = (t + 1) & (cap - 1);
                    ms[t] = map_shard[q], mp[t] = map_part[q];
                }
            free(map_shard), free(map_part);
            map_shard = ms, map_part = mp, map_cap = cap;
        }
    }
    /* number the parts by ascending shard */
    if (n_parts) {
        shards = malloc(n_parts * sizeof *shards);
        if (!shards)
            goto oom;
        for (size_t q = 0, k = 0; q < map_cap; q++)
            if (map_part[q] >= 0)
                shards[k++] = map_shard[q];
        qsort(shards, n_parts, sizeof *shards, cmp_i32);
        for (size_t q = 0; q < map_cap; q++)
            if (map_part[q] >= 0)
                map_part[q] = (long)((int32_t *)bsearch(&map_shard[q], shards, n_parts, sizeof *shards, cmp_i32) -
                                     shards);
        w = calloc(n_parts, sizeof *w);
        part_users = calloc(n_parts, sizeof *part_users);
        parts = calloc(n_parts, sizeof *parts);
        if (!w || !part_users || !parts)
            goto oom;
    }
    for (size_t q = 0; q < n_parts; q++) {
        uint8_t header[HEADER_BYTES] = {0};
        cl_put(&w[q], header, sizeof header);
        cl_put_i64(&w[q], shards[q]);
        cl_put_i64(&w[q], 0); /* the count, filled in below */
    }
    for (long i = 0; i < u->n; i++) {
        size_t j = ((uint32_t)u->shard[i] * 2654435761u) & (map_cap - 1);
        while (map_shard[j] != u->shard[i])
            j = (j + 1) & (map_cap - 1);
        cl_writer *pw = &w[map_part[j]];
        part_users[map_part[j]]++;
        cl_put_i64(pw, i);
        put_user(pw, c, i);
    }
    for (size_t q = 0; q < n_parts; q++) {
        if (w[q].failed)
            goto oom;
        for (int b = 0; b < 8; b++)
            w[q].p[HEADER_BYTES + 8 + b] = (uint8_t)((uint64_t)part_users[q] >> (8 * b));
        seal(&w[q], PART_MAGIC, PART_VERSION);
        parts[q] = (segstream_cluster_user_part){shards[q], w[q].p, w[q].n};
        w[q].p = NULL;
    }
    if (write_snapshot(c, model, model_len, NULL, parts, part_users, n_parts, err))
        goto fail;
    free(shards), free(map_shard), free(map_part), free(part_users), free(w);
    *parts_out = parts;
    *n_parts_out = n_parts;
    return 0;
oom:
    segstream_err_set(err, "cluster snapshot: out of memory splitting %ld users by shard", u->n);
fail:
    for (size_t q = 0; w && q < n_parts; q++)
        free(w[q].p);
    segstream_cluster_user_parts_free(parts, parts ? n_parts : 0);
    free(shards), free(map_shard), free(map_part), free(part_users), free(w);
    return -1;
}

/* One user record as read, before it goes into the table. */
typedef struct user_rec {
    char *id; /* malloc'ed */
    const uint8_t *profile;
    float weight, similarity;
    int64_t segment, segment_id, last_time, seen_version, left_segment_id, shard;
} user_rec;

/* Reads and checks one record (format `version`); -1 when corrupt. */
static int get_user(cl_reader *r, const segstream_cluster *c, uint32_t version, user_rec *x)
{
    const int64_t limit = INT64_C(1) << 62;
    memset(x, 0, sizeof *x);
    x->id = cl_get_str(r, SEGSTREAM_USER_ID_MAX);
    x->profile = cl_take(r, c->profile_bytes);
    cl_get_floats(r, &x->weight, 1);
    x->segment = cl_get_i64(r);
    x->segment_id = cl_get_i64(r);
    cl_get_floats(r, &x->similarity, 1);
    x->last_time = cl_get_i64(r);
    x->seen_version = cl_get_i64(r);
    x->left_segment_id = version >= 3 ? cl_get_i64(r) : -1; /* 2: no move recorded */
    x->shard = version >= 4 ? cl_get_i64(r) : 0;
    if (r->failed || !x->id || !x->id[0] || x->left_segment_id < -1 || x->left_segment_id >= c->next_segment_id ||
        x->segment < -1 || x->segment >= c->k || x->last_time < -limit || x->last_time > limit ||
        x->shard < INT32_MIN || x->shard > INT32_MAX) {
        free(x->id);
        x->id = NULL;
        return -1;
    }
    return 0;
}

/* Appends the record to the user table: 0, 1 when the id is there already,
 * -1 out of memory (err set). */
static int insert_user(segstream_cluster *c, const user_rec *x, segstream_err *err)
{
    cl_users *u = &c->users;
    uint64_t hh = cl_hash_id(x->id);
    if (cl_users_find(u, x->id, hh) >= 0)
        return 1;
    long i = cl_users_insert(u, x->id, hh, c->profile_bytes);
    if (i < 0)
        return segstream_err_set(err, "cluster restore: out of memory at user %ld", u->n + 1);
    memcpy(u->profile + (size_t)i * c->profile_bytes, x->profile, c->profile_bytes);
    u->weight[i] = x->weight;
    u->segment[i] = (int32_t)x->segment;
    u->segment_id[i] = x->segment_id;
    u->similarity[i] = x->similarity;
    u->last_time[i] = x->last_time;
    u->seen_version[i] = x->seen_version;
    u->left_segment_id[i] = x->left_segment_id;
    u->shard[i] = (int32_t)x->shard;
    return 0;
}

/* What the model blob says of one user part. */
typedef struct part_listing {
    int32_t shard;
    int64_t count;
    uint64_t checksum;
} part_listing;

/* Puts the parts' users into c in their recorded order: every listed part
 * must be given (and nothing else), sealed intact, with the listed
 * checksum, and their dense indices must cover 0..n_users-1 once each. */
static int restore_parts(segstream_cluster *c, uint32_t version, const part_listing *listing, size_t n_listing,
                         int64_t n_users, const segstream_cluster_user_part *parts, size_t n_parts,
                         segstream_err *err)
{
    /* where each user's record starts: part index and offset */
    uint32_t *at_part = malloc(((size_t)n_users + 1) * sizeof *at_part);
    size_t *at_pos = malloc(((size_t)n_users + 1) * sizeof *at_pos);
    const segstream_cluster_user_part **given = calloc(n_listing + 1, sizeof *given);
    int rc = -1;
    if (!at_part || !at_pos || !given) {
        segstream_err_set(err, "cluster restore: out of memory for %lld users", (long long)n_users);
        goto done;
    }
    memset(at_part, 0xff, ((size_t)n_users + 1) * sizeof *at_part);
    for (size_t p = 0; p < n_parts; p++) {
        const segstream_cluster_user_part *pt = &parts[p];
        size_t q = 0;
        while (q < n_listing && listing[q].shard != pt->shard)
            q++;
        if (q == n_listing || given[q]) {
            segstream_err_set(err, "cluster restore: a user part of shard %d that the snapshot does not list%s",
                              (int)pt->shard, q < n_listing ? " (given twice)" : "");
            goto done;
        }
        given[q] = pt;
        if (!pt->blob || pt->len < HEADER_BYTES || memcmp(pt->blob, PART_MAGIC, 8) ||
            pt->blob[8] < 1 || pt->blob[8] > PART_VERSION || pt->blob[9] || pt->blob[10] || pt->blob[11]) {
            segstream_err_set(err, "cluster restore: the user part of shard %d is not one (bad magic or version)",
                              (int)pt->shard);
            goto done;
        }
        cl_reader h = {pt->blob + 12, 16, 0, 0};
        uint64_t payload = cl_get_u64(&h), sum = cl_get_u64(&h);
        if (payload != pt->len - HEADER_BYTES ||
            payload_checksum(pt->blob + HEADER_BYTES, pt->len - HEADER_BYTES, pt->blob[8] >= 2) != sum) {
            segstream_err_set(err, "cluster restore: the user part of shard %d is corrupt (length or checksum)",
                              (int)pt->shard);
            goto done;
        }
        if (sum != listing[q].checksum) {
            segstream_err_set(err, "cluster restore: the user part of shard %d is not the one this snapshot "
                              "wrote (another checkpoint's?)", (int)pt->shard);
            goto done;
        }
        cl_reader r = {pt->blob + HEADER_BYTES, pt->len - HEADER_BYTES, 0, 0};
        int64_t shard = cl_get_i64(&r), count = cl_get_i64(&r);
        if (r.failed || shard != pt->shard || count != listing[q].count) {
            segstream_err_set(err, "cluster restore: the user part of shard %d: header does not match", (int)pt->shard);
            goto done;
        }
        for (int64_t k = 0; k < count; k++) {
            int64_t idx = cl_get_i64(&r);
            size_t pos = r.pos;
            user_rec rec;
            if (r.failed || idx < 0 || idx >= n_users || at_part[idx] != UINT32_MAX || get_user(&r, c, version, &rec)) {
                segstream_err_set(err, "cluster restore: the user part of shard %d: corrupt user %lld",
                                  (int)pt->shard, (long long)k);
                goto done;
            }
            free(rec.id);
            at_part[idx] = (uint32_t)p;
            at_pos[idx] = pos;
        }
        if (r.pos != r.n) {
            segstream_err_set(err, "cluster restore: the user part of shard %d: trailing bytes", (int)pt->shard);
            goto done;
        }
    }
    for (size_t q = 0; q < n_listing; q++)
        if (!given[q]) {
            segstream_err_set(err, "cluster restore: the user part of shard %d is missing (the snapshot has %zu)",
                              (int)listing[q].shard, n_listing);
            goto done;
        }
    for (int64_t i = 0; i < n_users; i++) {
        if (at_part[i] == UINT32_MAX) {
            segstream_err_set(err, "cluster restore: no user part holds user %lld of %lld", (long long)i,
                              (long long)n_users);
            goto done;
        }
        const segstream_cluster_user_part *pt = &parts[at_part[i]];
        cl_reader r = {pt->blob + HEADER_BYTES, pt->len - HEADER_BYTES, at_pos[i], 0};
        user_rec rec;
        if (get_user(&r, c, version, &rec)) { /* read once already: cannot fail */
            segstream_err_set(err, "cluster restore: user %lld unreadable", (long long)i);
            goto done;
        }
        int dup = insert_user(c, &rec, err);
        free(rec.id);
        if (dup > 0)
            segstream_err_set(err, "cluster restore: user parts: duplicate user");
        if (dup)
            goto done;
    }
    rc = 0;
done:
    free(at_part), free(at_pos), free(given);
    return rc;
}

#define CORRUPT(what)                                                                              \
    do {                                                                                           \
        segstream_err_set(err, "cluster restore: corrupt snapshot (%s, at byte %zu of %zu)", what,  \
                          r.pos + HEADER_BYTES, len);                                              \
        goto fail;                                                                                 \
    } while (0)

static segstream_cluster *restore(const uint8_t *blob, size_t len, const segstream_cluster_user_part *parts,
                                  size_t n_parts, segstream_err *err)
{
    part_listing *listing = NULL;
    size_t n_listing = 0;
    if (!blob || len < HEADER_BYTES || memcmp(blob, SNAPSHOT_MAGIC, 8)) {
        segstream_err_set(err, "cluster restore: not a cluster snapshot (bad magic or %zu bytes)", len);
        return NULL;
    }
    cl_reader h = {blob + 8, HEADER_BYTES - 8, 0, 0};
    uint32_t version = cl_get_u32(&h);
    uint64_t payload = cl_get_u64(&h), sum = cl_get_u64(&h);
    if (version < SNAPSHOT_DENSE_PANES_VERSION || version > SNAPSHOT_VERSION) {
        segstream_err_set(err, "cluster restore: snapshot format version %u, this build reads %u to %u", version,
                          SNAPSHOT_DENSE_PANES_VERSION, SNAPSHOT_VERSION);
        return NULL;
    }
    int dense_panes = version == SNAPSHOT_DENSE_PANES_VERSION;
    if (payload != len - HEADER_BYTES) {
        segstream_err_set(err, "cluster restore: payload length %llu but the blob has %zu bytes after the header",
                          (unsigned long long)payload, len - HEADER_BYTES);
        return NULL;
    }
    if (payload_checksum(blob + HEADER_BYTES, (size_t)payload, version >= SNAPSHOT_XXH64_VERSION) != sum) {
        segstream_err_set(err, "cluster restore: checksum mismatch (corrupt snapshot)");
        return NULL;
    }
    cl_reader r = {blob + HEADER_BYTES, (size_t)payload, 0, 0};
    segstream_cluster_options opt;
    segstream_cluster *c = NULL;
    if (get_options(&r, &opt))
        CORRUPT("options");
    opt.shared_model = 0; /* read at the end (format 6), where the shared state is */
    if (segstream_cluster_options_validate(&opt, err)) {
        segstream_err_prefix(err, "cluster restore");
        return NULL;
    }
    /* Valid options can describe a model of terabytes (dim 65536, k 4096,
     * 10000 panes). Its centroids, reservoirs, label counters and every
     * pane's index and bitmap (format 2: every pane row) are in the payload,
     * so a blob too short to hold them is refused before anything is
     * allocated. Sparse panes let a small blob describe a larger ring, but no
     * more than about n_ring (<= 10002) times larger: each k x d float of
     * the ring has at least four of acc, centroid and reservoirs (>= 2 rows)
     * in the payload. The user table starts no larger than the users the
     * payload could hold (the option itself is kept for the next snapshot). */
    double kd_bytes = 4.0 * opt.k * opt.dim;
    double n_ring = (double)(opt.window_ms / opt.pane_ms) +
                    (double)((opt.allowed_lateness_ms + opt.pane_ms - 1) / opt.pane_ms) + 1;
    double pane_bytes = dense_panes ? 8 + kd_bytes + 8.0 * opt.k : 8 + (double)bitmap_bytes(opt.k);
    double need = n_ring * pane_bytes + kd_bytes * (2.0 + opt.reservoir_size) + 24.0 * opt.k * opt.label_table_size;
    if (need > (double)(r.n - r.pos))
        CORRUPT("options describe a model larger than the snapshot");
    segstream_cluster_options create_opt = opt;
    size_t parts_bytes = 0;
    for (size_t q = 0; q < n_parts; q++)
        parts_bytes += parts[q].len;
    long max_users = (long)((r.n - r.pos + parts_bytes) / (cl_profile_bytes(opt.profile_codec, opt.dim) + 44));
    if (create_opt.user_capacity > max_users)
        create_opt.user_capacity = (int)max_users;
    c = segstream_cluster_create(&create_opt, err);
    if (!c)
        return NULL;
    c->opt.user_capacity = opt.user_capacity;
    c->max_time = cl_get_i64(&r);
    c->watermark = cl_get_i64(&r);
    c->model_pane = cl_get_i64(&r);
    for (int i = 0; i < 4; i++)
        c->rng.s[i] = cl_get_u64(&r);
    c->next_segment_id = cl_get_i64(&r);
    c->version = cl_get_i64(&r);
    int64_t sweep_due = cl_get_i64(&r), sweep_cursor = cl_get_i64(&r);
    const int64_t limit = INT64_C(1) << 62; /* the range update() accepts; keeps arithmetic from overflowing */
#define TIME_OK(v) ((v) == INT64_MIN || ((v) >= -limit && (v) <= limit))
    /* a pane index times pane_ms is a time: bounded as times are (an index near
     * 2^62 overflowed the pane's end time; found by fuzzing) */
#define PANE_OK(v) ((v) == INT64_MIN || ((v) >= -limit / c->opt.pane_ms - 1 && (v) <= limit / c->opt.pane_ms))
    if (r.failed || c->next_segment_id < 1 || c->next_segment_id > limit || c->version < 0 || c->version > limit ||
        !TIME_OK(c->max_time) || !TIME_OK(c->watermark) || !PANE_OK(c->model_pane))
        CORRUPT("model header");
    /* the cursor indexes users (a negative one read before the table: found by
     * fuzzing); the count is only decremented, so bound it away from overflow */
    if (sweep_cursor < 0 || sweep_cursor > limit || sweep_due < -limit || sweep_due > limit)
        CORRUPT("sweep state");
    size_t kd = (size_t)c->k * c->d;
    if (dense_panes) {
        for (int i = 0; i < c->n_ring; i++) {
            c->pane_index[i] = cl_get_i64(&r);
            if (!PANE_OK(c->pane_index[i]))
                CORRUPT("pane index");
        }
        cl_get_floats(&r, c->pane_sum, (size_t)c->n_ring * kd);
        for (size_t i = 0; i < (size_t)c->n_ring * c->k; i++)
            c->pane_count[i] = cl_get_f64(&r);
        if (r.failed)
            CORRUPT("panes");
    } else {
        /* the ring starts zeroed (create): unmarked rows are already right */
        size_t nb = bitmap_bytes(c->k);
        for (int i = 0; i < c->n_ring; i++) {
            c->pane_index[i] = cl_get_i64(&r);
            if (!PANE_OK(c->pane_index[i]))
                CORRUPT("pane index");
            const uint8_t *bits = cl_take(&r, nb);
            if (!bits)
                CORRUPT("pane bitmap");
            if (c->k % 8 && bits[nb - 1] >> (c->k % 8))
                CORRUPT("pane bitmap padding");
            for (int s = 0; s < c->k; s++) {
                if (!(bits[s / 8] >> (s % 8) & 1))
                    continue;
                cl_get_floats(&r, c->pane_sum + ((size_t)i * c->k + s) * c->d, (size_t)c->d);
                c->pane_count[(size_t)i * c->k + s] = cl_get_f64(&r);
                if (r.failed)
                    CORRUPT("pane row");
                if (row_is_zero(c, i, s))
                    CORRUPT("pane row marked but zero");
            }
        }
    }
    c->n_active = 0;
    for (int s = 0; s < c->k; s++) {
        cl_segment *g = &c->seg[s];
        g->id = cl_get_i64(&r);
        g->parent = cl_get_i64(&r);
        g->created_time = cl_get_i64(&r);
        g->updated_time = cl_get_i64(&r);
        g->size = cl_get_f64(&r);
        g->live_count = cl_get_f64(&r);
        g->coherence = cl_get_f64(&r);
        g->label_epoch = cl_get_i64(&r);
        g->reservoir_n = (int)cl_get_u32(&r);
        g->reservoir_next = (int)cl_get_u32(&r);
        g->n_label = (int)cl_get_u32(&r);
        if (r.failed || g->id < -1 || g->id >= c->next_segment_id || g->reservoir_n < 0 ||
            g->reservoir_n > opt.reservoir_size || g->reservoir_next < 0 || g->reservoir_next >= opt.reservoir_size ||
            g->n_label < 0 || g->n_label > opt.label_terms)
            CORRUPT("segment");
        for (int i = 0; i < g->n_label; i++) {
            char *s2 = cl_get_str(&r, SEGSTREAM_TERM_MAX - 1);
            if (!s2)
                CORRUPT("segment label");
            strcpy(g->label[i], s2);
            free(s2);
        }
        c->n_active += g->id >= 0;
    }
    /* a running model always keeps a segment (retire and merge leave one):
     * without one, the nearest segment of the next event is slot -1 */
    if (c->version > 0 && c->n_active == 0)
        CORRUPT("a running model without an active segment");
    cl_get_floats(&r, c->acc, kd);
    cl_get_floats(&r, c->centroid, kd);
    cl_get_floats(&r, c->reservoir, kd * opt.reservoir_size);
    if (r.failed)
        CORRUPT("centroids");
    for (size_t i = 0; i < (size_t)c->k * opt.label_table_size; i++) {
        cl_term *t = &c->terms[i];
        char *s2 = cl_get_str(&r, SEGSTREAM_TERM_MAX - 1);
        if (!s2)
            CORRUPT("label counter");
        memset(t->text, 0, sizeof t->text);
        strcpy(t->text, s2);
        free(s2);
        t->hash = cl_get_u32(&r);
        t->count = cl_get_f64(&r);
        t->error = cl_get_f64(&r);
    }
    int64_t n_users = cl_get_i64(&r);
    uint32_t apart = version >= 4 ? cl_get_u32(&r) : 0;
    if (!r.failed && apart == 1 && n_users > 0 && n_parts == 0) {
        segstream_err_set(err, "cluster restore: the snapshot's %lld users are in separate parts, none given",
                          (long long)n_users);
        goto fail;
    }
    if (r.failed || n_users < 0 || apart > 1 ||
        n_users > (int64_t)((apart ? parts_bytes : r.n - r.pos) / (c->profile_bytes + 44)))
        CORRUPT("user count");
    if (!apart && n_parts)
        CORRUPT("user parts given, but this snapshot holds its users");
    if (apart) {
        int64_t n_listed = cl_get_i64(&r), listed_users = 0;
        if (r.failed || n_listed < 0 || n_listed > (int64_t)((r.n - r.pos) / 24))
            CORRUPT("user part count");
        listing = calloc((size_t)n_listed + 1, sizeof *listing);
        if (!listing) {
            segstream_err_set(err, "cluster restore: out of memory");
            goto fail;
        }
        for (int64_t q = 0; q < n_listed; q++) {
            int64_t shard = cl_get_i64(&r), count = cl_get_i64(&r);
            listing[q].checksum = cl_get_u64(&r);
            if (r.failed || shard < INT32_MIN || shard > INT32_MAX || count < 1 || count > n_users ||
                (q > 0 && shard <= listing[q - 1].shard))
                CORRUPT("user part listing");
            listing[q].shard = (int32_t)shard;
            listing[q].count = count;
            listed_users += count;
        }
        if (listed_users != n_users)
            CORRUPT("user part listing (counts)");
        n_listing = (size_t)n_listed;
    } else {
        for (int64_t q = 0; q < n_users; q++) {
            user_rec rec;
            if (get_user(&r, c, version, &rec))
                CORRUPT("user");
            int rc = insert_user(c, &rec, err);
            free(rec.id);
            if (rc < 0)
                goto fail;
            if (rc > 0)
                CORRUPT("duplicate user");
        }
    }
    c->sweep_due = (long)sweep_due;
    c->sweep_cursor = (long)sweep_cursor;
    int64_t n_boot = cl_get_i64(&r);
    if (r.failed || n_boot < 0 || n_boot > (int64_t)(r.n - r.pos) / 24)
        CORRUPT("bootstrap count");
    if (n_boot) {
        c->boot = calloc((size_t)n_boot, sizeof *c->boot);
        if (!c->boot) {
            segstream_err_set(err, "cluster restore: out of memory");
            goto fail;
        }
        c->cap_boot = (long)n_boot;
    }
    for (int64_t q = 0; q < n_boot; q++) {
        cl_boot_event *b = &c->boot[q];
        c->n_boot = (long)q + 1;
        b->user_id = cl_get_str(&r, SEGSTREAM_USER_ID_MAX);
        int64_t op = cl_get_i64(&r);
        b->event_time = cl_get_i64(&r);
        int64_t shard = version >= 4 ? cl_get_i64(&r) : 0;
        if (shard < INT32_MIN || shard > INT32_MAX)
            CORRUPT("bootstrap event shard");
        b->shard = (int32_t)shard;
        uint32_t has_vector = cl_get_u32(&r);
        if (r.failed || op < 0 || op > 2 || has_vector > 1 || (has_vector != 0) != (op != SEGSTREAM_CLUSTER_OP_DELETE) ||
            b->event_time < -limit || b->event_time > limit || !b->user_id || !b->user_id[0])
            CORRUPT("bootstrap event");
        b->op = (int)op;
        if (has_vector) {
            b->vector = malloc((size_t)c->d * sizeof(float));
            if (!b->vector)
                CORRUPT("bootstrap vector (out of memory)");
            cl_get_floats(&r, b->vector, (size_t)c->d);
        }
        int64_t n_words = cl_get_i64(&r);
        if (r.failed || n_words < 0 || n_words > (int64_t)(r.n - r.pos) / 4)
            CORRUPT("bootstrap words");
        if (n_words) {
            b->words = calloc((size_t)n_words, sizeof(char *));
            if (!b->words)
                CORRUPT("bootstrap words (out of memory)");
        }
        for (int64_t w = 0; w < n_words; w++) {
            b->words[w] = cl_get_str(&r, 1u << 20);
            b->n_words = (size_t)w + 1;
            if (!b->words[w])
                CORRUPT("bootstrap word");
        }
    }
    uint32_t shared = version >= 6 ? cl_get_u32(&r) : 0;
    if (r.failed || shared > 1)
        CORRUPT("shared model flag");
    if (shared) {
        c->opt.shared_model = 1;
        c->sample = cl_delta_new(c->d, c->k, c->opt.reservoir_size, c->opt.profile_codec);
        if (!c->sample) {
            segstream_err_set(err, "cluster restore: out of memory (shared model deltas)");
            goto fail;
        }
        uint32_t at_barrier = cl_get_u32(&r), n_pending = cl_get_u32(&r);
        if (r.failed || at_barrier > 1 || n_pending > (r.n - r.pos) / 48)
            CORRUPT("shared model header");
        c->at_barrier = (int)at_barrier;
        for (int64_t q = -1; q < (int64_t)n_pending; q++) {
            cl_delta *x = c->sample;
            if (q >= 0) {
                int32_t shard = (int32_t)cl_get_u32(&r);
                if (r.failed || (c->n_pending > 0 && shard <= c->pending_shard[c->n_pending - 1]))
                    CORRUPT("pending delta shard (not ascending)");
                if (!(x = cl_pending_of(c, shard))) {
                    segstream_err_set(err, "cluster restore: out of memory (shared model deltas)");
                    goto fail;
                }
            }
            uint64_t n = cl_get_u64(&r);
            const uint8_t *bytes = !r.failed && n <= r.n - r.pos ? cl_take(&r, (size_t)n) : NULL;
            if (!bytes)
                CORRUPT("shared model delta length");
            if (cl_delta_absorb(x, bytes, (size_t)n, err)) {
                segstream_err_prefix(err, "cluster restore");
                goto fail;
            }
        }
        if (c->version > 0 && c->sample->n_sample)
            CORRUPT("a bootstrap sample in a running model");
    }
    if (r.failed)
        CORRUPT("truncated");
    if (r.pos != r.n)
        CORRUPT("trailing bytes");
    if (apart && restore_parts(c, version, listing, n_listing, n_users, parts, n_parts, err))
        goto fail;
    free(listing);
    return c;
fail:
    free(listing);
    segstream_cluster_free(c);
    return NULL;
}

segstream_cluster *segstream_cluster_restore(const uint8_t *blob, size_t len, segstream_err *err)
{
    return restore(blob, len, NULL, 0, err);
}

segstream_cluster *segstream_cluster_restore_split(const uint8_t *model, size_t model_len,
                                                   const segstream_cluster_user_part *parts, size_t n_parts,
                                                   segstream_err *err)
{
    return restore(model, model_len, parts, n_parts, err);
}
