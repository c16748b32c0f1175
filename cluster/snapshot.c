/* snapshot.c - the whole state to a versioned binary blob and back.
 *
 * Blob: "SEGSTRCL" magic (8 bytes), format version (u32), payload length
 * (u64), FNV-1a-64 checksum of the payload (u64), payload. All integers are
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
#include "cluster/internal.h"

#include <stdlib.h>
#include <string.h>

#define SNAPSHOT_MAGIC "SEGSTRCL"
#define SNAPSHOT_VERSION 3u /* 2: options gained max_users; 3: sparse panes, users gained left_segment_id */
#define SNAPSHOT_DENSE_PANES_VERSION 2u /* still restored */
#define HEADER_BYTES (8 + 4 + 8 + 8)

typedef struct writer {
    uint8_t *p;
    size_t n, cap;
    int failed;
} writer;

/* Room for n more bytes at the end (w->n advanced), or NULL once failed. */
static uint8_t *reserve(writer *w, size_t n)
{
    if (w->failed)
        return NULL;
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->n + n)
            cap *= 2;
        uint8_t *p = realloc(w->p, cap);
        if (!p) {
            w->failed = 1;
            return NULL;
        }
        w->p = p;
        w->cap = cap;
    }
    w->n += n;
    return w->p + w->n - n;
}

static void put(writer *w, const void *src, size_t n)
{
    uint8_t *dst = reserve(w, n);
    if (dst && n)
        memcpy(dst, src, n);
}

static void put_u64(writer *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, 8);
}
static void put_i64(writer *w, int64_t v) { put_u64(w, (uint64_t)v); }
static void put_u32(writer *w, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(w, b, 4);
}
static void put_f64(writer *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    put_u64(w, u);
}
/* Floats as their IEEE bits, little-endian: on a little-endian host those
 * are the array's own bytes, copied at once (reservoirs and centroids are
 * megabytes, written every transaction). */
static void put_floats(writer *w, const float *v, size_t n)
{
    uint8_t *dst = reserve(w, n * 4);
    if (!dst || !n)
        return;
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, v, n * 4);
#else
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int j = 0; j < 4; j++)
            dst[4 * i + j] = (uint8_t)(u >> (8 * j));
    }
#endif
}
static void put_str(writer *w, const char *s)
{
    size_t n = strlen(s);
    put_u32(w, (uint32_t)n);
    put(w, s, n);
}

typedef struct reader {
    const uint8_t *p;
    size_t n, pos;
    int failed;
} reader;

static const uint8_t *take(reader *r, size_t n)
{
    if (r->failed || n > r->n - r->pos) {
        r->failed = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}
static uint64_t get_u64(reader *r)
{
    const uint8_t *b = take(r, 8);
    uint64_t v = 0;
    for (int i = 0; b && i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}
static int64_t get_i64(reader *r) { return (int64_t)get_u64(r); }
static uint32_t get_u32(reader *r)
{
    const uint8_t *b = take(r, 4);
    uint32_t v = 0;
    for (int i = 0; b && i < 4; i++)
        v |= (uint32_t)b[i] << (8 * i);
    return v;
}
static double get_f64(reader *r)
{
    uint64_t u = get_u64(r);
    double v;
    memcpy(&v, &u, 8);
    return v;
}
static void get_floats(reader *r, float *v, size_t n)
{
    if (n > (r->n - r->pos) / 4) {
        r->failed = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t u = get_u32(r);
        memcpy(&v[i], &u, 4);
    }
}
/* A string into a new buffer; NULL on failure (r->failed set when corrupt). */
static char *get_str(reader *r, size_t max)
{
    uint32_t n = get_u32(r);
    if (r->failed || n > max) {
        r->failed = 1;
        return NULL;
    }
    const uint8_t *b = take(r, n);
    char *s = b ? malloc((size_t)n + 1) : NULL;
    if (!s) {
        r->failed = 1;
        return NULL;
    }
    memcpy(s, b, n);
    s[n] = '\0';
    if (strlen(s) != n) { /* embedded NUL */
        free(s);
        r->failed = 1;
        return NULL;
    }
    return s;
}

static uint64_t fnv64(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static void put_options(writer *w, const segstream_cluster_options *o)
{
    put_i64(w, o->dim);
    put_i64(w, o->k);
    put_i64(w, o->window_ms);
    put_i64(w, o->pane_ms);
    put_i64(w, o->half_life_ms);
    put_i64(w, o->allowed_lateness_ms);
    put_i64(w, o->max_future_skew_ms);
    put_i64(w, o->init_sample);
    put_i64(w, o->kmeans_iterations);
    put_i64(w, o->kmeans_restarts);
    put_u64(w, o->seed);
    put_f64(w, o->retire_share);
    put_f64(w, o->merge_cosine);
    put_f64(w, o->hysteresis);
    put_i64(w, o->profile_codec);
    put_i64(w, o->reassign_slice);
    put_i64(w, o->reservoir_size);
    put_i64(w, o->label_terms);
    put_i64(w, o->label_table_size);
    put_i64(w, o->user_capacity);
    put_i64(w, o->max_users);
}

static int get_options(reader *r, segstream_cluster_options *o)
{
    int64_t v[10];
    for (int i = 0; i < 10; i++)
        v[i] = get_i64(r);
    o->seed = get_u64(r);
    o->retire_share = get_f64(r);
    o->merge_cosine = get_f64(r);
    o->hysteresis = get_f64(r);
    int64_t tail[6];
    for (int i = 0; i < 6; i++)
        tail[i] = get_i64(r);
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
    o->max_users = get_i64(r);
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
static void put_panes(writer *w, const segstream_cluster *c)
{
    size_t nb = bitmap_bytes(c->k);
    uint8_t *bits = calloc(nb, 1);
    if (!bits) {
        w->failed = 1;
        return;
    }
    for (int r = 0; r < c->n_ring; r++) {
        put_i64(w, c->pane_index[r]);
        memset(bits, 0, nb);
        for (int s = 0; s < c->k; s++)
            if (!row_is_zero(c, r, s))
                bits[s / 8] |= (uint8_t)(1u << (s % 8));
        put(w, bits, nb);
        for (int s = 0; s < c->k; s++)
            if (bits[s / 8] >> (s % 8) & 1) {
                put_floats(w, row_sum(c, r, s), (size_t)c->d);
                put_f64(w, c->pane_count[(size_t)r * c->k + s]);
            }
    }
    free(bits);
}

static int write_snapshot(const segstream_cluster *c, uint8_t **blob, size_t *len,
                          segstream_cluster_snapshot_parts *sizes, segstream_err *err)
{
    writer w = {0};
    uint8_t header[HEADER_BYTES] = {0};
    put(&w, header, sizeof header); /* filled in at the end */
    put_options(&w, &c->opt);
    put_i64(&w, c->max_time);
    put_i64(&w, c->watermark);
    put_i64(&w, c->model_pane);
    for (int i = 0; i < 4; i++)
        put_u64(&w, c->rng.s[i]);
    put_i64(&w, c->next_segment_id);
    put_i64(&w, c->version);
    put_i64(&w, c->sweep_due);
    put_i64(&w, c->sweep_cursor);
    size_t kd = (size_t)c->k * c->d;
    size_t panes_at = w.n;
    put_panes(&w, c);
    if (sizes)
        sizes->panes = w.n - panes_at;
    size_t segments_at = w.n;
    for (int s = 0; s < c->k; s++) {
        const cl_segment *g = &c->seg[s];
        put_i64(&w, g->id);
        put_i64(&w, g->parent);
        put_i64(&w, g->created_time);
        put_i64(&w, g->updated_time);
        put_f64(&w, g->size);
        put_f64(&w, g->live_count);
        put_f64(&w, g->coherence);
        put_i64(&w, g->label_epoch);
        put_u32(&w, (uint32_t)g->reservoir_n);
        put_u32(&w, (uint32_t)g->reservoir_next);
        put_u32(&w, (uint32_t)g->n_label);
        for (int i = 0; i < g->n_label; i++)
            put_str(&w, g->label[i]);
    }
    put_floats(&w, c->acc, kd);
    put_floats(&w, c->centroid, kd);
    size_t reservoirs_at = w.n;
    put_floats(&w, c->reservoir, kd * c->opt.reservoir_size);
    size_t labels_at = w.n;
    for (size_t i = 0; i < (size_t)c->k * c->opt.label_table_size; i++) {
        const cl_term *t = &c->terms[i];
        put_str(&w, t->text);
        put_u32(&w, t->hash);
        put_f64(&w, t->count);
        put_f64(&w, t->error);
    }
    size_t users_at = w.n;
    const cl_users *u = &c->users;
    put_i64(&w, u->n);
    for (long i = 0; i < u->n; i++) {
        put_str(&w, u->id[i]);
        put(&w, u->profile + (size_t)i * c->profile_bytes, c->profile_bytes);
        put_floats(&w, &u->weight[i], 1);
        put_i64(&w, u->segment[i]);
        put_i64(&w, u->segment_id[i]);
        put_floats(&w, &u->similarity[i], 1);
        put_i64(&w, u->last_time[i]);
        put_i64(&w, u->seen_version[i]);
        put_i64(&w, u->left_segment_id[i]);
    }
    size_t boot_at = w.n;
    put_i64(&w, c->n_boot);
    for (long i = 0; i < c->n_boot; i++) {
        const cl_boot_event *b = &c->boot[i];
        put_str(&w, b->user_id);
        put_i64(&w, b->op);
        put_i64(&w, b->event_time);
        put_u32(&w, b->vector != NULL);
        if (b->vector)
            put_floats(&w, b->vector, (size_t)c->d);
        put_i64(&w, (int64_t)b->n_words);
        for (size_t q = 0; q < b->n_words; q++)
            put_str(&w, b->words[q]);
    }
    if (w.failed) {
        free(w.p);
        return segstream_err_set(err, "cluster snapshot: out of memory (%zu bytes written)", w.n);
    }
    size_t payload = w.n - HEADER_BYTES;
    memcpy(w.p, SNAPSHOT_MAGIC, 8);
    for (int i = 0; i < 4; i++)
        w.p[8 + i] = (uint8_t)(SNAPSHOT_VERSION >> (8 * i));
    uint64_t sum = fnv64(w.p + HEADER_BYTES, payload);
    for (int i = 0; i < 8; i++) {
        w.p[12 + i] = (uint8_t)((uint64_t)payload >> (8 * i));
        w.p[20 + i] = (uint8_t)(sum >> (8 * i));
    }
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
    return write_snapshot(c, blob, len, NULL, err);
}

int segstream_cluster_snapshot_sizes(const segstream_cluster *c, segstream_cluster_snapshot_parts *sizes,
                                     segstream_err *err)
{
    memset(sizes, 0, sizeof *sizes);
    return write_snapshot(c, NULL, NULL, sizes, err);
}

#define CORRUPT(what)                                                                              \
    do {                                                                                           \
        segstream_err_set(err, "cluster restore: corrupt snapshot (%s, at byte %zu of %zu)", what,  \
                          r.pos + HEADER_BYTES, len);                                              \
        goto fail;                                                                                 \
    } while (0)

segstream_cluster *segstream_cluster_restore(const uint8_t *blob, size_t len, segstream_err *err)
{
    if (!blob || len < HEADER_BYTES || memcmp(blob, SNAPSHOT_MAGIC, 8)) {
        segstream_err_set(err, "cluster restore: not a cluster snapshot (bad magic or %zu bytes)", len);
        return NULL;
    }
    reader h = {blob + 8, HEADER_BYTES - 8, 0, 0};
    uint32_t version = get_u32(&h);
    uint64_t payload = get_u64(&h), sum = get_u64(&h);
    if (version != SNAPSHOT_VERSION && version != SNAPSHOT_DENSE_PANES_VERSION) {
        segstream_err_set(err, "cluster restore: snapshot format version %u, this build reads %u and %u", version,
                          SNAPSHOT_DENSE_PANES_VERSION, SNAPSHOT_VERSION);
        return NULL;
    }
    int dense_panes = version == SNAPSHOT_DENSE_PANES_VERSION;
    if (payload != len - HEADER_BYTES) {
        segstream_err_set(err, "cluster restore: payload length %llu but the blob has %zu bytes after the header",
                          (unsigned long long)payload, len - HEADER_BYTES);
        return NULL;
    }
    if (fnv64(blob + HEADER_BYTES, (size_t)payload) != sum) {
        segstream_err_set(err, "cluster restore: checksum mismatch (corrupt snapshot)");
        return NULL;
    }
    reader r = {blob + HEADER_BYTES, (size_t)payload, 0, 0};
    segstream_cluster_options opt;
    segstream_cluster *c = NULL;
    if (get_options(&r, &opt))
        CORRUPT("options");
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
    long max_users = (long)((r.n - r.pos) / (cl_profile_bytes(opt.profile_codec, opt.dim) + 44));
    if (create_opt.user_capacity > max_users)
        create_opt.user_capacity = (int)max_users;
    c = segstream_cluster_create(&create_opt, err);
    if (!c)
        return NULL;
    c->opt.user_capacity = opt.user_capacity;
    c->max_time = get_i64(&r);
    c->watermark = get_i64(&r);
    c->model_pane = get_i64(&r);
    for (int i = 0; i < 4; i++)
        c->rng.s[i] = get_u64(&r);
    c->next_segment_id = get_i64(&r);
    c->version = get_i64(&r);
    int64_t sweep_due = get_i64(&r), sweep_cursor = get_i64(&r);
    const int64_t limit = INT64_C(1) << 62; /* the range update() accepts; keeps arithmetic from overflowing */
#define TIME_OK(v) ((v) == INT64_MIN || ((v) >= -limit && (v) <= limit))
    if (r.failed || c->next_segment_id < 1 || c->next_segment_id > limit || c->version < 0 || c->version > limit ||
        !TIME_OK(c->max_time) || !TIME_OK(c->watermark) || !TIME_OK(c->model_pane))
        CORRUPT("model header");
    size_t kd = (size_t)c->k * c->d;
    if (dense_panes) {
        for (int i = 0; i < c->n_ring; i++) {
            c->pane_index[i] = get_i64(&r);
            if (!TIME_OK(c->pane_index[i]))
                CORRUPT("pane index");
        }
        get_floats(&r, c->pane_sum, (size_t)c->n_ring * kd);
        for (size_t i = 0; i < (size_t)c->n_ring * c->k; i++)
            c->pane_count[i] = get_f64(&r);
        if (r.failed)
            CORRUPT("panes");
    } else {
        /* the ring starts zeroed (create): unmarked rows are already right */
        size_t nb = bitmap_bytes(c->k);
        for (int i = 0; i < c->n_ring; i++) {
            c->pane_index[i] = get_i64(&r);
            if (!TIME_OK(c->pane_index[i]))
                CORRUPT("pane index");
            const uint8_t *bits = take(&r, nb);
            if (!bits)
                CORRUPT("pane bitmap");
            if (c->k % 8 && bits[nb - 1] >> (c->k % 8))
                CORRUPT("pane bitmap padding");
            for (int s = 0; s < c->k; s++) {
                if (!(bits[s / 8] >> (s % 8) & 1))
                    continue;
                get_floats(&r, c->pane_sum + ((size_t)i * c->k + s) * c->d, (size_t)c->d);
                c->pane_count[(size_t)i * c->k + s] = get_f64(&r);
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
        g->id = get_i64(&r);
        g->parent = get_i64(&r);
        g->created_time = get_i64(&r);
        g->updated_time = get_i64(&r);
        g->size = get_f64(&r);
        g->live_count = get_f64(&r);
        g->coherence = get_f64(&r);
        g->label_epoch = get_i64(&r);
        g->reservoir_n = (int)get_u32(&r);
        g->reservoir_next = (int)get_u32(&r);
        g->n_label = (int)get_u32(&r);
        if (r.failed || g->id < -1 || g->id >= c->next_segment_id || g->reservoir_n < 0 ||
            g->reservoir_n > opt.reservoir_size || g->reservoir_next < 0 || g->reservoir_next >= opt.reservoir_size ||
            g->n_label < 0 || g->n_label > opt.label_terms)
            CORRUPT("segment");
        for (int i = 0; i < g->n_label; i++) {
            char *s2 = get_str(&r, SEGSTREAM_TERM_MAX - 1);
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
    get_floats(&r, c->acc, kd);
    get_floats(&r, c->centroid, kd);
    get_floats(&r, c->reservoir, kd * opt.reservoir_size);
    if (r.failed)
        CORRUPT("centroids");
    for (size_t i = 0; i < (size_t)c->k * opt.label_table_size; i++) {
        cl_term *t = &c->terms[i];
        char *s2 = get_str(&r, SEGSTREAM_TERM_MAX - 1);
        if (!s2)
            CORRUPT("label counter");
        memset(t->text, 0, sizeof t->text);
        strcpy(t->text, s2);
        free(s2);
        t->hash = get_u32(&r);
        t->count = get_f64(&r);
        t->error = get_f64(&r);
    }
    int64_t n_users = get_i64(&r);
    if (r.failed || n_users < 0 || n_users > (int64_t)((r.n - r.pos) / (c->profile_bytes + 44)))
        CORRUPT("user count");
    cl_users *u = &c->users;
    for (int64_t q = 0; q < n_users; q++) {
        char *id = get_str(&r, SEGSTREAM_USER_ID_MAX);
        if (!id || !id[0]) {
            free(id);
            CORRUPT("user id");
        }
        uint64_t hh = cl_hash_id(id);
        if (cl_users_find(u, id, hh) >= 0) {
            free(id);
            CORRUPT("duplicate user");
        }
        long i = cl_users_insert(u, id, hh, c->profile_bytes);
        free(id);
        if (i < 0) {
            segstream_err_set(err, "cluster restore: out of memory at user %lld", (long long)q);
            goto fail;
        }
        const uint8_t *prof = take(&r, c->profile_bytes);
        if (prof)
            memcpy(u->profile + (size_t)i * c->profile_bytes, prof, c->profile_bytes);
        get_floats(&r, &u->weight[i], 1);
        int64_t seg = get_i64(&r);
        u->segment_id[i] = get_i64(&r);
        get_floats(&r, &u->similarity[i], 1);
        u->last_time[i] = get_i64(&r);
        u->seen_version[i] = get_i64(&r);
        u->left_segment_id[i] = version >= 3 ? get_i64(&r) : -1; /* 2: no move recorded */
        if (r.failed || u->left_segment_id[i] < -1 || u->left_segment_id[i] >= c->next_segment_id || seg < -1 || seg >= c->k || u->last_time[i] < -limit || u->last_time[i] > limit)
            CORRUPT("user");
        u->segment[i] = (int32_t)seg;
    }
    if (sweep_due < 0 || sweep_due > n_users || sweep_cursor < 0 || sweep_cursor > (n_users ? n_users - 1 : 0))
        CORRUPT("sweep position");
    c->sweep_due = (long)sweep_due;
    c->sweep_cursor = (long)sweep_cursor;
    int64_t n_boot = get_i64(&r);
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
        b->user_id = get_str(&r, SEGSTREAM_USER_ID_MAX);
        int64_t op = get_i64(&r);
        b->event_time = get_i64(&r);
        uint32_t has_vector = get_u32(&r);
        if (r.failed || op < 0 || op > 2 || has_vector > 1 || (has_vector != 0) != (op != SEGSTREAM_CLUSTER_OP_DELETE) ||
            b->event_time < -limit || b->event_time > limit || !b->user_id || !b->user_id[0])
            CORRUPT("bootstrap event");
        b->op = (int)op;
        if (has_vector) {
            b->vector = malloc((size_t)c->d * sizeof(float));
            if (!b->vector)
                CORRUPT("bootstrap vector (out of memory)");
            get_floats(&r, b->vector, (size_t)c->d);
        }
        int64_t n_words = get_i64(&r);
        if (r.failed || n_words < 0 || n_words > (int64_t)(r.n - r.pos) / 4)
            CORRUPT("bootstrap words");
        if (n_words) {
            b->words = calloc((size_t)n_words, sizeof(char *));
            if (!b->words)
                CORRUPT("bootstrap words (out of memory)");
        }
        for (int64_t w = 0; w < n_words; w++) {
            b->words[w] = get_str(&r, 1u << 20);
            b->n_words = (size_t)w + 1;
            if (!b->words[w])
                CORRUPT("bootstrap word");
        }
    }
    if (r.failed)
        CORRUPT("truncated");
    if (r.pos != r.n)
        CORRUPT("trailing bytes");
    return c;
fail:
    segstream_cluster_free(c);
    return NULL;
}
