/* delta.c - a shared model's contributions, kept so that merging is exact.
 *
 * Several models that share one centroid model (scale-out: each sees only its
 * own users) must end up with the same bits whichever of them saw an event
 * and in whatever order their contributions meet. So a delta holds only
 * statistics whose merge is associative and commutative to the bit:
 *   - per (pane, segment slot): the sum of member vectors in fixed point
 *     (int64 in units of 2^-32: a unit vector's components fit with 2^31 of
 *     headroom for the count) and the member count;
 *   - per (pane, slot, label term): an integer count;
 *   - per slot: the R latest member vectors by (event time, user hash, vector
 *     bits), a total order, so the top R of a union is the top R of the parts'
 *     top R (kept in the profile codec's bytes, which is what the vector was
 *     decoded from: half the floats' size, no loss); the same order sorts the
 *     bootstrap sample.
 * cl_delta_sort() then puts terms, recent vectors and the sample in one
 * canonical order, the order the barrier applies them in (shared.c); sum rows
 * need none, each lands in its own cell.
 *
 * Bytes: "SEGSTRDL", u32 format, u32 d, u32 k, u32 R, i32 shard, u32 profile codec, i64 model version,
 * u32 rows { i64 pane, u32 slot, i64 count, i64 sum[d] }, u32 terms { i64 pane,
 * u32 slot, i64 count, u8 length, text }, u32 picks { u32 slot, i64 time,
 * u64 user hash, the encoded profile }, u32 sample rows { i64 time, u64 user hash,
 * f32 v[d] }, u64 XXH64 of everything before it. Little-endian. A delta comes
 * from the log of another process, so every count and index is checked. */
#include "cluster/bytes.h"
#include "cluster/internal.h"

#include "common/hash64.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DELTA_MAGIC "SEGSTRDL"
#define DELTA_FORMAT 1u
#define FIX_ONE 4294967296.0 /* 2^32 */

cl_delta *cl_delta_new(int d, int k, int R, segstream_profile_codec codec)
{
    cl_delta *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->d = d, x->k = k, x->R = R;
    x->codec = codec;
    x->pick_bytes = cl_profile_bytes(codec, d);
    x->shard = -1;
    x->pick_n = calloc((size_t)k, sizeof *x->pick_n);
    if (!x->pick_n) {
        cl_delta_free(x);
        return NULL;
    }
    return x;
}

void cl_delta_free(cl_delta *x)
{
    if (!x)
        return;
    free(x->row_pane), free(x->row_slot), free(x->row_count), free(x->row_sum);
    free(x->terms), free(x->term_slots);
    free(x->pick_n), free(x->picks), free(x->pick_code);
    free(x->sample), free(x->sample_vec);
    free(x);
}

void cl_delta_clear(cl_delta *x)
{
    x->n_rows = x->n_terms = x->n_sample = 0;
    if (x->term_slots)
        memset(x->term_slots, 0xff, (size_t)x->n_term_slots * sizeof *x->term_slots);
    memset(x->pick_n, 0, (size_t)x->k * sizeof *x->pick_n);
}

size_t cl_delta_memory(const cl_delta *x)
{
    if (!x)
        return 0;
    return sizeof *x + (size_t)x->cap_rows * (24 + (size_t)x->d * 8) + (size_t)x->cap_terms * sizeof(cl_delta_term) +
           (size_t)x->n_term_slots * 4 + (x->picks ? (size_t)x->k * x->R * (sizeof(cl_pick) + x->pick_bytes) : 0) +
           4 * (size_t)x->k + (size_t)x->cap_sample * (sizeof(cl_pick) + (size_t)x->d * 4);
}

static int grow(void **p, long *cap, long need, size_t each)
{
    if (need <= *cap)
        return 0;
    long n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, (size_t)n * each);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

/* The row of (pane, slot), added (zero) when missing; -1 on OOM. Recent rows are
 * the likely ones, so the scan runs backwards; a delta holds few panes. */
static long row_of(cl_delta *x, int64_t pane, int s)
{
    for (long i = x->n_rows - 1; i >= 0; i--)
        if (x->row_slot[i] == s && x->row_pane[i] == pane)
            return i;
    long need = x->n_rows + 1, cap = x->cap_rows;
    if (need > cap) {
        long c1 = cap, c2 = cap, c3 = cap, c4 = cap;
        if (grow((void **)&x->row_pane, &c1, need, sizeof(int64_t)) ||
            grow((void **)&x->row_slot, &c2, need, sizeof(int32_t)) ||
            grow((void **)&x->row_count, &c3, need, sizeof(int64_t)) ||
            grow((void **)&x->row_sum, &c4, need, (size_t)x->d * sizeof(int64_t)))
            return -1;
        x->cap_rows = c4; /* all four grew to the same count */
    }
    long i = x->n_rows++;
    x->row_pane[i] = pane;
    x->row_slot[i] = s;
    x->row_count[i] = 0;
    memset(x->row_sum + (size_t)i * x->d, 0, (size_t)x->d * sizeof(int64_t));
    return i;
}

static uint32_t term_hash(int64_t pane, int s, const char *text)
{
    uint32_t h = 2166136261u ^ (uint32_t)s ^ (uint32_t)((uint64_t)pane * 0x9e3779b97f4a7c15ULL >> 32);
    for (; *text; text++)
        h = (h ^ (unsigned char)*text) * 16777619u;
    return h;
}

static int rehash_terms(cl_delta *x, long slots)
{
    int32_t *t = malloc((size_t)slots * sizeof *t);
    if (!t)
        return -1;
    memset(t, 0xff, (size_t)slots * sizeof *t);
    for (long i = 0; i < x->n_terms; i++) {
        long j = x->terms[i].hash & (slots - 1);
        while (t[j] >= 0)
            j = (j + 1) & (slots - 1);
        t[j] = (int32_t)i;
    }
    free(x->term_slots);
    x->term_slots = t;
    x->n_term_slots = slots;
    return 0;
}

static int add_term(cl_delta *x, int64_t pane, int s, const char *text, int64_t count)
{
    if (2 * (x->n_terms + 1) >= x->n_term_slots) {
        long slots = x->n_term_slots ? 2 * x->n_term_slots : 256;
        while (2 * (x->n_terms + 1) >= slots)
            slots *= 2;
        if (rehash_terms(x, slots))
            return -1;
    }
    uint32_t h = term_hash(pane, s, text);
    long j = h & (x->n_term_slots - 1);
    for (; x->term_slots[j] >= 0; j = (j + 1) & (x->n_term_slots - 1)) {
        cl_delta_term *e = &x->terms[x->term_slots[j]];
        if (e->hash == h && e->slot == s && e->pane == pane && !strcmp(e->text, text)) {
            e->count += count;
            return 0;
        }
    }
    if (x->n_terms >= INT32_MAX - 1 || grow((void **)&x->terms, &x->cap_terms, x->n_terms + 1, sizeof *x->terms))
        return -1;
    cl_delta_term *e = &x->terms[x->n_terms];
    memset(e, 0, sizeof *e);
    e->pane = pane, e->slot = s, e->hash = h, e->count = count;
    strcpy(e->text, text);
    x->term_slots[j] = (int32_t)x->n_terms++;
    return 0;
}

/* The total order of picks and sample rows: time, user hash, then the row's bytes
 * (a pick's encoded profile, a sample row's float bits). */
static int pick_cmp(const cl_pick *a, const uint8_t *va, const cl_pick *b, const uint8_t *vb, size_t rb)
{
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    if (a->user_hash != b->user_hash)
        return a->user_hash < b->user_hash ? -1 : 1;
    return memcmp(va, vb, rb);
}

/* Keeps the encoded profile `code` among slot s's R latest rows; -1 on OOM. */
static int offer_pick(cl_delta *x, int s, int64_t t, uint64_t user_hash, const uint8_t *code)
{
    size_t rb = x->pick_bytes;
    if (!x->picks) { /* most shards' deltas of a pane touch few segments, but any may come */
        x->picks = calloc((size_t)x->k * x->R, sizeof *x->picks);
        x->pick_code = malloc((size_t)x->k * x->R * rb);
        if (!x->picks || !x->pick_code) {
            free(x->picks), free(x->pick_code);
            x->picks = NULL, x->pick_code = NULL;
            return -1;
        }
    }
    cl_pick p = {t, user_hash, s};
    cl_pick *row = x->picks + (size_t)s * x->R;
    uint8_t *code_of = x->pick_code + (size_t)s * x->R * rb;
    int n = x->pick_n[s], at;
    if (n < x->R) {
        at = x->pick_n[s]++;
    } else {
        at = 0;
        for (int i = 1; i < n; i++)
            if (pick_cmp(&row[i], code_of + (size_t)i * rb, &row[at], code_of + (size_t)at * rb, rb) < 0)
                at = i;
        if (pick_cmp(&p, code, &row[at], code_of + (size_t)at * rb, rb) <= 0)
            return 0;
    }
    row[at] = p;
    memcpy(code_of + (size_t)at * rb, code, rb);
    return 0;
}

int cl_delta_add_event(cl_delta *x, int64_t pane, int s, const float *v, const uint8_t *code, int64_t t,
                       uint64_t user_hash, const char *const *words, size_t n_words)
{
    long r = row_of(x, pane, s);
    if (r < 0)
        return -1;
    int64_t *sum = x->row_sum + (size_t)r * x->d;
    for (int q = 0; q < x->d; q++)
        sum[q] += (int64_t)llrint((double)v[q] * FIX_ONE);
    x->row_count[r]++;
    if (offer_pick(x, s, t, user_hash, code))
        return -1;
    char term[SEGSTREAM_TERM_MAX];
    for (size_t w = 0; w < n_words; w++)
        if (cl_label_term(words[w], term) && add_term(x, pane, s, term, 1))
            return -1;
    return 0;
}

int cl_delta_add_sample(cl_delta *x, int64_t t, uint64_t user_hash, const float *v)
{
    long need = x->n_sample + 1, c1 = x->cap_sample, c2 = x->cap_sample;
    if (grow((void **)&x->sample, &c1, need, sizeof *x->sample) ||
        grow((void **)&x->sample_vec, &c2, need, (size_t)x->d * sizeof(float)))
        return -1;
    x->cap_sample = c1;
    x->sample[x->n_sample] = (cl_pick){t, user_hash, -1};
    memcpy(x->sample_vec + (size_t)x->n_sample * x->d, v, (size_t)x->d * sizeof(float));
    x->n_sample++;
    return 0;
}

/* ---- canonical order ---- */

static int cmp_term(const void *a, const void *b)
{
    const cl_delta_term *x = a, *y = b;
    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    if (x->pane != y->pane)
        return x->pane < y->pane ? -1 : 1;
    return strcmp(x->text, y->text);
}

/* Sorts n rows of (key, rb bytes) by the pick order; insertion sort keeps it simple
 * for the R rows of a slot, a merge sort handles the sample. */
static void sort_picks(cl_pick *p, uint8_t *v, long n, size_t rb, cl_pick *tmp_p, uint8_t *tmp_v)
{
    if (n < 2)
        return;
    if (n <= 32) {
        for (long i = 1; i < n; i++) {
            cl_pick kp = p[i];
            memcpy(tmp_v, v + (size_t)i * rb, rb);
            long j = i - 1;
            while (j >= 0 && pick_cmp(&p[j], v + (size_t)j * rb, &kp, tmp_v, rb) > 0) {
                p[j + 1] = p[j];
                memcpy(v + (size_t)(j + 1) * rb, v + (size_t)j * rb, rb);
                j--;
            }
            p[j + 1] = kp;
            memcpy(v + (size_t)(j + 1) * rb, tmp_v, rb);
        }
        return;
    }
    long h = n / 2;
    sort_picks(p, v, h, rb, tmp_p, tmp_v);
    sort_picks(p + h, v + (size_t)h * rb, n - h, rb, tmp_p, tmp_v);
    long i = 0, j = h, o = 0;
    while (i < h || j < n) {
        long from = (j >= n || (i < h && pick_cmp(&p[i], v + (size_t)i * rb, &p[j], v + (size_t)j * rb, rb) <= 0))
                        ? i++
                        : j++;
        tmp_p[o] = p[from];
        memcpy(tmp_v + (size_t)o * rb, v + (size_t)from * rb, rb);
        o++;
    }
    memcpy(p, tmp_p, (size_t)n * sizeof *p);
    memcpy(v, tmp_v, (size_t)n * rb);
}

void cl_delta_sort(cl_delta *x)
{
    /* rows need no order: after a merge each (pane, slot) is one row, added to its own cell */
    if (x->n_terms > 1) {
        qsort(x->terms, (size_t)x->n_terms, sizeof *x->terms, cmp_term); /* keys unique: order is total */
        free(x->term_slots); /* indices moved: the next add_term rebuilds the table */
        x->term_slots = NULL;
        x->n_term_slots = 0;
    }
    long most = x->n_sample > x->R ? x->n_sample : x->R;
    size_t sample_rb = (size_t)x->d * sizeof(float), rb = sample_rb > x->pick_bytes ? sample_rb : x->pick_bytes;
    cl_pick *tp = malloc((size_t)(most ? most : 1) * sizeof *tp);
    uint8_t *tv = malloc((size_t)(most ? most : 1) * rb);
    if (tp && tv) {
        for (int s = 0; x->picks && s < x->k; s++)
            sort_picks(x->picks + (size_t)s * x->R, x->pick_code + (size_t)s * x->R * x->pick_bytes, x->pick_n[s],
                       x->pick_bytes, tp, tv);
        sort_picks(x->sample, (uint8_t *)x->sample_vec, x->n_sample, sample_rb, tp, tv);
    }
    free(tp);
    free(tv);
}

/* ---- bytes ---- */

int cl_delta_write(const cl_delta *x, uint8_t **bytes, size_t *len, segstream_err *err)
{
    cl_writer b = {0};
    cl_put(&b, DELTA_MAGIC, 8);
    cl_put_u32(&b, DELTA_FORMAT);
    cl_put_u32(&b, (uint32_t)x->d);
    cl_put_u32(&b, (uint32_t)x->k);
    cl_put_u32(&b, (uint32_t)x->R);
    cl_put_u32(&b, (uint32_t)x->shard);
    cl_put_u32(&b, (uint32_t)x->codec);
    cl_put_u64(&b, (uint64_t)x->version);
    cl_put_u32(&b, (uint32_t)x->n_rows);
    for (long i = 0; i < x->n_rows; i++) {
        cl_put_u64(&b, (uint64_t)x->row_pane[i]);
        cl_put_u32(&b, (uint32_t)x->row_slot[i]);
        cl_put_u64(&b, (uint64_t)x->row_count[i]);
        for (int q = 0; q < x->d; q++)
            cl_put_u64(&b, (uint64_t)x->row_sum[(size_t)i * x->d + q]);
    }
    cl_put_u32(&b, (uint32_t)x->n_terms);
    for (long i = 0; i < x->n_terms; i++) {
        const cl_delta_term *e = &x->terms[i];
        cl_put_u64(&b, (uint64_t)e->pane);
        cl_put_u32(&b, (uint32_t)e->slot);
        cl_put_u64(&b, (uint64_t)e->count);
        uint8_t n = (uint8_t)strlen(e->text);
        cl_put(&b, &n, 1);
        cl_put(&b, e->text, n);
    }
    uint32_t n_picks = 0;
    for (int s = 0; s < x->k; s++)
        n_picks += (uint32_t)x->pick_n[s];
    cl_put_u32(&b, n_picks);
    for (int s = 0; s < x->k; s++)
        for (int i = 0; i < x->pick_n[s]; i++) {
            const cl_pick *p = &x->picks[(size_t)s * x->R + i];
            cl_put_u32(&b, (uint32_t)s);
            cl_put_u64(&b, (uint64_t)p->time);
            cl_put_u64(&b, p->user_hash);
            cl_put(&b, x->pick_code + ((size_t)s * x->R + i) * x->pick_bytes, x->pick_bytes);
        }
    cl_put_u32(&b, (uint32_t)x->n_sample);
    for (long i = 0; i < x->n_sample; i++) {
        cl_put_u64(&b, (uint64_t)x->sample[i].time);
        cl_put_u64(&b, x->sample[i].user_hash);
        cl_put_floats(&b, x->sample_vec + (size_t)i * x->d, (size_t)x->d);
    }
    if (!b.failed)
        cl_put_u64(&b, segstream_xxh64(b.p, b.n, 0));
    if (b.failed) {
        free(b.p);
        return segstream_err_set(err, "cluster delta: out of memory writing %zu bytes", b.n);
    }
    *bytes = b.p;
    *len = b.n;
    return 0;
}

/* Reads d floats into v; 0 when one is not finite or out of [-1, 1] (picks and sample rows are unit vectors). */
static int get_unit_floats(cl_reader *r, float *v, int d)
{
    int ok = 1;
    for (int q = 0; q < d; q++) {
        uint32_t u = cl_get_u32(r);
        memcpy(&v[q], &u, 4);
        ok &= v[q] >= -1.0f && v[q] <= 1.0f; /* false for NaN */
    }
    return ok;
}

/* A recent vector's encoded profile decodes to finite values in [-1, 1] (into v). */
static int decodes_to_unit_range(const cl_delta *x, const uint8_t *code, float *v)
{
    cl_profile_decode(x->codec, code, x->d, v);
    for (int q = 0; q < x->d; q++)
        if (!(v[q] >= -1.0f && v[q] <= 1.0f))
            return 0;
    return 1;
}

#define PANE_LIMIT (INT64_C(1) << 61)

int cl_delta_absorb(cl_delta *x, const uint8_t *bytes, size_t len, segstream_err *err)
{
    if (!bytes || len < 8 + 6 * 4 + 8 + 8 || memcmp(bytes, DELTA_MAGIC, 8))
        return segstream_err_set(err, "cluster delta: not a delta (%zu bytes, bad magic or too short)", len);
    uint64_t want = 0;
    for (int i = 0; i < 8; i++)
        want |= (uint64_t)bytes[len - 8 + i] << (8 * i);
    if (segstream_xxh64(bytes, len - 8, 0) != want)
        return segstream_err_set(err, "cluster delta: checksum mismatch (%zu bytes): damaged", len);
    cl_reader r = {bytes, len - 8, 8, 0};
    uint32_t format = cl_get_u32(&r), d = cl_get_u32(&r), k = cl_get_u32(&r), R = cl_get_u32(&r);
    (void)cl_get_u32(&r); /* the shard it came from: any, the merge does not depend on it */
    uint32_t codec = cl_get_u32(&r);
    int64_t version = (int64_t)cl_get_u64(&r);
    if (format != DELTA_FORMAT)
        return segstream_err_set(err, "cluster delta: format %u, this build reads %u", format, DELTA_FORMAT);
    if ((int)d != x->d || (int)k != x->k || (int)R != x->R || codec != (uint32_t)x->codec)
        return segstream_err_set(err, "cluster delta: made for dim %u, k %u, reservoir %u, profile codec %u; this "
                                      "model has %d, %d, %d, %d", d, k, R, codec, x->d, x->k, x->R, (int)x->codec);
    if (version != x->version)
        return segstream_err_set(err, "cluster delta: made against model version %lld, expected %lld",
                                 (long long)version, (long long)x->version);
    float *v = malloc((size_t)x->d * sizeof(float));
    if (!v)
        return segstream_err_set(err, "cluster delta: out of memory");
    const char *why = NULL;
    uint32_t n = cl_get_u32(&r);
    for (uint32_t i = 0; i < n && !r.failed && !why; i++) {
        int64_t pane = (int64_t)cl_get_u64(&r);
        uint32_t s = cl_get_u32(&r);
        int64_t count = (int64_t)cl_get_u64(&r);
        if (pane < -PANE_LIMIT || pane > PANE_LIMIT || s >= k || count <= 0 || count > (INT64_C(1) << 30)) {
            why = "a sum row's pane, slot or count is out of range";
            break;
        }
        long row = row_of(x, pane, (int)s);
        if (row < 0) {
            why = "out of memory";
            break;
        }
        int64_t *sum = x->row_sum + (size_t)row * x->d;
        for (uint32_t q = 0; q < d; q++) {
            int64_t add = (int64_t)cl_get_u64(&r);
            /* |sum| <= count * 2^32, so a legitimate row never overflows */
            if (add > count * (INT64_C(1) << 32) || add < -count * (INT64_C(1) << 32) ||
                (add > 0 && sum[q] > INT64_MAX / 2) || (add < 0 && sum[q] < INT64_MIN / 2)) {
                why = "a sum exceeds its count";
                break;
            }
            sum[q] += add;
        }
        x->row_count[row] += count;
    }
    n = why ? 0 : cl_get_u32(&r);
    for (uint32_t i = 0; i < n && !r.failed && !why; i++) {
        int64_t pane = (int64_t)cl_get_u64(&r);
        uint32_t s = cl_get_u32(&r);
        int64_t count = (int64_t)cl_get_u64(&r);
        const uint8_t *tl = cl_take(&r, 1);
        size_t tn = tl ? *tl : 0;
        const uint8_t *text = cl_take(&r, tn);
        if (r.failed)
            break;
        if (pane < -PANE_LIMIT || pane > PANE_LIMIT || s >= k || count <= 0 || count > (INT64_C(1) << 40) ||
            tn == 0 || tn >= SEGSTREAM_TERM_MAX || memchr(text, 0, tn)) {
            why = "a term's pane, slot, count or text is out of range";
            break;
        }
        char t[SEGSTREAM_TERM_MAX];
        memcpy(t, text, tn);
        t[tn] = '\0';
        if (add_term(x, pane, (int)s, t, count))
            why = "out of memory";
    }
    n = why ? 0 : cl_get_u32(&r);
    for (uint32_t i = 0; i < n && !r.failed && !why; i++) {
        uint32_t s = cl_get_u32(&r);
        int64_t t = (int64_t)cl_get_u64(&r);
        uint64_t uh = cl_get_u64(&r);
        const uint8_t *code = cl_take(&r, x->pick_bytes);
        if (!code)
            break;
        if (s >= k || !decodes_to_unit_range(x, code, v))
            why = "a recent vector's slot or values are out of range";
        else if (offer_pick(x, (int)s, t, uh, code))
            why = "out of memory";
    }
    n = why ? 0 : cl_get_u32(&r);
    for (uint32_t i = 0; i < n && !r.failed && !why; i++) {
        int64_t t = (int64_t)cl_get_u64(&r);
        uint64_t uh = cl_get_u64(&r);
        if (!get_unit_floats(&r, v, x->d))
            why = "a sample vector's values are out of range";
        else if (!r.failed && cl_delta_add_sample(x, t, uh, v))
            why = "out of memory";
    }
    free(v);
    if (!why && !r.failed && r.pos != r.n)
        why = "bytes left over after the last section";
    if (why || r.failed)
        return segstream_err_set(err, "cluster delta: %s (%zu bytes)", why ? why : "truncated", len);
    return 0;
}
