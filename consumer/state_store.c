/* state_store.c - snapshots on the state topic as content-defined chunks +
 * a manifest written last (see state_store.h for the scheme and its limits). */
#include "consumer/state_store.h"

#include "common/hash64.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CUT_BITS SEGSTREAM_STATE_CUT_BITS

/* Manifest v2's chunk and blob hash; still the hash of the key prefixes
 * (short, and part of no stored value). */
static uint64_t fnv64(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* Manifest v3's. */
static uint64_t xxh64(const uint8_t *p, size_t n)
{
    return segstream_xxh64(p, n, 0);
}

static double ms_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void gear_table(uint64_t gear[256])
{
    uint64_t seed = 0x5e65747265616dULL; /* fixed: the cut points are part of the format */
    for (int i = 0; i < 256; i++)
        gear[i] = splitmix64(&seed);
}

void segstream_state_stored_clear(segstream_state_stored *s)
{
    free(s->hashes);
    free(s->lens);
    *s = (segstream_state_stored){0};
}

/* The gear hash that picks a cut runs from 64 bytes before the first allowed
 * cut (its top bits depend on the last 64 bytes only, one shift a byte);
 * each chunk and the whole blob are then hashed with XXH64, which costs a
 * fraction of the cut search (FNV-1a, manifest v2, cost twice the search). */
int segstream_state_chunk_list(const uint8_t *blob, size_t len, segstream_state_stored *out, uint64_t *blob_hash)
{
    segstream_state_stored_clear(out);
    uint64_t gear[256];
    gear_table(gear);
    size_t cap = len / SEGSTREAM_STATE_CHUNK_MIN + 2, n = 0;
    out->hashes = malloc(cap * sizeof *out->hashes);
    out->lens = malloc(cap * sizeof *out->lens);
    if (!out->hashes || !out->lens) {
        segstream_state_stored_clear(out);
        return -1;
    }
    size_t start = 0;
    while (start < len) {
        size_t limit = len - start < SEGSTREAM_STATE_CHUNK_MAX ? len : start + SEGSTREAM_STATE_CHUNK_MAX;
        size_t i = limit - start > SEGSTREAM_STATE_CHUNK_MIN ? start + SEGSTREAM_STATE_CHUNK_MIN - 64 : limit;
        size_t first_cut = start + SEGSTREAM_STATE_CHUNK_MIN, end = limit;
        uint64_t g = 0;
        for (; i < limit; i++) {
            g = (g << 1) + gear[blob[i]];
            if (i + 1 >= first_cut && !(g >> (64 - CUT_BITS))) {
                end = i + 1;
                break;
            }
        }
        out->hashes[n] = segstream_xxh64(blob + start, end - start, 0);
        out->lens[n++] = (uint32_t)(end - start);
        start = end;
    }
    out->n = n;
    out->known = true;
    *blob_hash = segstream_xxh64(blob, len, 0);
    return 0;
}

long segstream_state_chunk_ends(const uint8_t *blob, size_t len, size_t **ends)
{
    segstream_state_stored l = {0};
    uint64_t h;
    if (segstream_state_chunk_list(blob, len, &l, &h))
        return -1;
    *ends = malloc((l.n + 1) * sizeof **ends);
    if (!*ends) {
        segstream_state_stored_clear(&l);
        return -1;
    }
    for (size_t i = 0, end = 0; i < l.n; i++)
        (*ends)[i] = end += l.lens[i];
    long n = (long)l.n;
    segstream_state_stored_clear(&l);
    return n;
}

static int produce(rd_kafka_t *rk, const char *topic, const char *key, const void *val, size_t len,
                   segstream_err *err)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(rk, 50);
            continue;
        }
        if (e)
            return segstream_err_set(err, "state topic %s key %s: %s", topic, key, rd_kafka_err2str(e));
        return 0;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool contains(const uint64_t *sorted, size_t n, uint64_t h)
{
    return n && bsearch(&h, sorted, n, sizeof h, cmp_u64);
}

static uint64_t *sorted_copy(const uint64_t *v, size_t n)
{
    uint64_t *s = malloc((n + 1) * sizeof *s);
    if (s && n) {
        memcpy(s, v, n * sizeof *s);
        qsort(s, n, sizeof *s, cmp_u64);
    }
    return s;
}

/* Whether v[i] appears in v before i: a repeated chunk is sent or deleted once. */
static bool repeated(const uint64_t *v, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (v[j] == v[i])
            return true;
    return false;
}

int segstream_state_write(rd_kafka_t *producer, const char *topic, const char *prefix, const uint8_t *blob,
                          size_t len, const segstream_state_stored *stored, segstream_state_stored *written,
                          segstream_state_write_stats *stats, segstream_err *err)
{
    int rc = -1;
    double t0 = ms_now(), t1 = t0;
    segstream_state_stored now = {0};
    uint64_t *old_sorted = NULL, *new_sorted = NULL, blob_hash = 0;
    size_t bytes = 0, n_written = 0, n_deleted = 0, n_old = stored && stored->known ? stored->n : 0;
    char *manifest = NULL, key[512];
    if (written)
        segstream_state_stored_clear(written);
    if (segstream_state_chunk_list(blob, len, &now, &blob_hash) ||
        !(old_sorted = sorted_copy(n_old ? stored->hashes : NULL, n_old)) ||
        !(new_sorted = sorted_copy(now.hashes, now.n)))
        goto oom;
    t1 = ms_now();
    if (stored && stored->known && !stored->legacy_chunks && stored->n == now.n &&
        !memcmp(stored->hashes, now.hashes, now.n * sizeof *now.hashes) &&
        !memcmp(stored->lens, now.lens, now.n * sizeof *now.lens)) {
        /* the topic holds this snapshot already: its manifest stays the latest under prefix */
        if (stats)
            *stats = (segstream_state_write_stats){.chunks = now.n, .unchanged = true, .hash_ms = t1 - t0};
        if (written) {
            *written = now;
            now = (segstream_state_stored){0};
        }
        rc = 0;
        goto done;
    }
    /* new chunks: those the topic lacks, once each */
    for (size_t i = 0, start = 0; i < now.n; start += now.lens[i++]) {
        if (contains(old_sorted, n_old, now.hashes[i]) || repeated(now.hashes, i))
            continue;
        snprintf(key, sizeof key, "%s/c-%016" PRIx64, prefix, now.hashes[i]);
        if (produce(producer, topic, key, blob + start, now.lens[i], err))
            goto done;
        bytes += now.lens[i];
        n_written++;
    }
    /* deletions: chunks of the stored snapshot the new one does not use */
    for (size_t i = 0; i < n_old; i++) {
        if (contains(new_sorted, now.n, stored->hashes[i]) || repeated(stored->hashes, i))
            continue;
        snprintf(key, sizeof key, "%s/c-%016" PRIx64, prefix, stored->hashes[i]);
        if (produce(producer, topic, key, NULL, 0, err))
            goto done;
        n_deleted++;
    }
    for (size_t i = 0; stored && i < stored->legacy_chunks; i++) {
        snprintf(key, sizeof key, "%s/chunk-%zu", prefix, i);
        if (produce(producer, topic, key, NULL, 0, err))
            goto done;
    }
    size_t cap = 96 + 17 * now.n;
    if (!(manifest = malloc(cap)))
        goto oom;
    size_t m = (size_t)snprintf(manifest, cap, "segstream-state v3 %zu %zu %016" PRIx64, now.n, len, blob_hash);
    for (size_t i = 0; i < now.n; i++)
        m += (size_t)snprintf(manifest + m, cap - m, " %016" PRIx64, now.hashes[i]);
    if (produce(producer, topic, prefix, manifest, m, err))
        goto done;
    if (stats)
        *stats = (segstream_state_write_stats){bytes, now.n, n_written, n_deleted, false, t1 - t0, ms_now() - t1};
    if (written) {
        *written = now;
        now = (segstream_state_stored){0};
    }
    rc = 0;
    goto done;
oom:
    segstream_err_set(err, "state snapshot of %zu bytes: out of memory", len);
done:
    segstream_state_stored_clear(&now);
    free(old_sorted), free(new_sorted), free(manifest);
    return rc;
}

/* The reader's latest value of every chunk key: v1 chunks by index, v2
 * chunks by hash in an open-addressing table (a deleted chunk keeps its slot
 * with no data: it may come back). */
typedef struct chunk {
    uint64_t id;
    bool used, present;
    uint8_t *data;
    size_t len;
} chunk;

typedef struct chunk_map {
    chunk *slot;
    size_t cap, n;
} chunk_map;

static chunk *map_find(chunk_map *m, uint64_t id, bool add)
{
    if (add && (m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 256;
        chunk *grown = calloc(cap, sizeof *grown);
        if (!grown)
            return NULL;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slot[i].used) {
                size_t j = (size_t)(m->slot[i].id * 0x9e3779b97f4a7c15ULL) & (cap - 1);
                while (grown[j].used)
                    j = (j + 1) & (cap - 1);
                grown[j] = m->slot[i];
            }
        free(m->slot);
        m->slot = grown, m->cap = cap;
    }
    if (!m->cap)
        return NULL;
    size_t j = (size_t)(id * 0x9e3779b97f4a7c15ULL) & (m->cap - 1);
    while (m->slot[j].used) {
        if (m->slot[j].id == id)
            return &m->slot[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (!add)
        return NULL;
    m->slot[j] = (chunk){.id = id, .used = true};
    m->n++;
    return &m->slot[j];
}

static void map_free(chunk_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slot[i].data);
    free(m->slot);
}

/* Parses "<hex16>" or "<decimal>" keys' tails; -1 when malformed. */
static int parse_tail(const char *k, size_t kl, int hex, uint64_t *out)
{
    uint64_t v = 0;
    if (!kl || kl > (hex ? 16u : 9u))
        return -1;
    for (size_t i = 0; i < kl; i++) {
        int c = k[i], d = c >= '0' && c <= '9' ? c - '0' : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * (hex ? 16 : 10) + (uint64_t)d;
    }
    *out = v;
    return 0;
}

static int keep(chunk_map *m, uint64_t id, const rd_kafka_message_t *msg)
{
    chunk *c = map_find(m, id, true);
    if (!c)
        return -1;
    free(c->data);
    c->data = NULL, c->len = 0, c->present = msg->payload != NULL;
    if (c->present) {
        if (!(c->data = malloc(msg->len ? msg->len : 1)))
            return -1;
        memcpy(c->data, msg->payload, msg->len);
        c->len = msg->len;
    }
    return 0;
}

/* Chunks of every snapshot the reader collects share one map: a chunk's id
 * mixes its snapshot's prefix into the hash (or index) its key names. */
static uint64_t chunk_id(uint64_t prefix_hash, uint64_t tail)
{
    uint64_t x = prefix_hash + tail * 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Assembles the manifest's blob from the chunks and, for formats 2 and 3,
 * keeps its chunk list in found->stored; 0, or -1 with err. */
static int assemble(const char *topic, const char *manifest, uint64_t prefix_hash, chunk_map *v1, chunk_map *v2,
                    uint8_t **blob, size_t *len, segstream_state_found *found, segstream_err *err)
{
    int version = 0, used = 0;
    size_t want_chunks = 0, want_len = 0;
    uint64_t hash = 0;
    if (sscanf(manifest, "segstream-state v%d %zu %zu %" SCNx64 "%n", &version, &want_chunks, &want_len, &hash,
               &used) != 4 ||
        version < 1 || version > 3 || want_len > ((size_t)1 << 40) ||
        want_chunks > want_len / (version == 1 ? 1 : SEGSTREAM_STATE_CHUNK_MIN / 2) + 1)
        return segstream_err_set(err, "state topic %s: bad manifest '%.80s'", topic, manifest);
    uint8_t *b = malloc(want_len ? want_len : 1);
    uint64_t (*sum)(const uint8_t *, size_t) = version == 3 ? xxh64 : fnv64;
    segstream_state_stored list = {.known = version >= 2, .legacy_chunks = version == 1 ? want_chunks : 0};
    if (version >= 2) {
        list.hashes = malloc((want_chunks + 1) * sizeof *list.hashes);
        list.lens = malloc((want_chunks + 1) * sizeof *list.lens);
    }
    if (!b || (version >= 2 && (!list.hashes || !list.lens))) {
        free(b);
        segstream_state_stored_clear(&list);
        return segstream_err_set(err, "state topic %s: out of memory for a %zu-byte snapshot", topic, want_len);
    }
    size_t off = 0, i = 0;
    const char *p = manifest + used;
    for (; i < want_chunks; i++) {
        chunk *c = NULL;
        if (version == 1) {
            c = map_find(v1, chunk_id(prefix_hash, i), false);
        } else {
            uint64_t h;
            int adv = 0;
            if (sscanf(p, " %" SCNx64 "%n", &h, &adv) != 1)
                break;
            p += adv;
            c = map_find(v2, chunk_id(prefix_hash, h), false);
            if (!c || !c->present || sum(c->data, c->len) != h || c->len > UINT32_MAX)
                break;
            list.hashes[i] = h;
            list.lens[i] = (uint32_t)c->len;
        }
        if (!c || !c->present || c->len > want_len - off)
            break;
        memcpy(b + off, c->data, c->len);
        off += c->len;
    }
    if (i == want_chunks && off == want_len && sum(b, off) == hash) {
        *blob = b;
        *len = want_len;
        found->version = version;
        found->chunks = want_chunks;
        list.n = version >= 2 ? want_chunks : 0;
        found->stored = list;
        return 0;
    }
    free(b);
    segstream_state_stored_clear(&list);
    return segstream_err_set(err, "state topic %s: the chunks do not match the manifest '%.80s'", topic, manifest);
}

/* The latest manifest of each snapshot under the scanned prefix. */
typedef struct manifest_entry {
    char *prefix;   /* the manifest's key */
    char *manifest; /* NULL: deleted */
} manifest_entry;

typedef struct scan_result {
    chunk_map v1, v2;
    manifest_entry *m;
    size_t n, cap;
} scan_result;

static void scan_free(scan_result *r)
{
    map_free(&r->v1), map_free(&r->v2);
    for (size_t i = 0; i < r->n; i++)
        free(r->m[i].prefix), free(r->m[i].manifest);
    free(r->m);
}

static int keep_manifest(scan_result *r, const char *k, size_t kl, const rd_kafka_message_t *msg)
{
    size_t i = 0;
    while (i < r->n && !(strlen(r->m[i].prefix) == kl && !memcmp(r->m[i].prefix, k, kl)))
        i++;
    if (i == r->n) {
        if (!msg->payload)
            return 0; /* a deletion of something never seen */
        if (r->n == r->cap) {
            size_t cap = r->cap ? 2 * r->cap : 8;
            manifest_entry *m = realloc(r->m, cap * sizeof *m);
            if (!m)
                return -1;
            r->m = m, r->cap = cap;
        }
        if (!(r->m[i].prefix = malloc(kl + 1)))
            return -1;
        memcpy(r->m[i].prefix, k, kl);
        r->m[i].prefix[kl] = '\0';
        r->m[i].manifest = NULL;
        r->n++;
    }
    free(r->m[i].manifest);
    r->m[i].manifest = NULL;
    if (msg->payload) {
        if (!(r->m[i].manifest = malloc(msg->len + 1)))
            return -1;
        memcpy(r->m[i].manifest, msg->payload, msg->len);
        r->m[i].manifest[msg->len] = '\0';
    }
    return 0;
}

#define NOT_A_CHUNK ((size_t)0)
#define BAD_CHUNK_KEY SIZE_MAX

/* Where a key's chunk suffix starts ("/c-<hex16>" or "/chunk-<decimal>"),
 * with its kind and number; NOT_A_CHUNK for a manifest's key, BAD_CHUNK_KEY
 * for a chunk key whose number does not parse (ignored, as before). */
static size_t chunk_suffix(const char *k, size_t kl, int *v1, uint64_t *id)
{
    for (size_t i = kl; i-- > 0;) {
        if (k[i] != '/')
            continue;
        if (kl - i >= 3 && !memcmp(k + i, "/c-", 3)) {
            *v1 = 0;
            return parse_tail(k + i + 3, kl - i - 3, 1, id) || i == 0 ? BAD_CHUNK_KEY : i;
        }
        if (kl - i >= 7 && !memcmp(k + i, "/chunk-", 7)) {
            *v1 = 1;
            return parse_tail(k + i + 7, kl - i - 7, 0, id) || i == 0 ? BAD_CHUNK_KEY : i;
        }
        return NOT_A_CHUNK;
    }
    return NOT_A_CHUNK;
}

/* Reads `topic` partition 0 to its end, keeping the latest value of every
 * key that starts with `filter`. */
static int scan(const rd_kafka_conf_t *conf0, const char *topic, const char *filter, scan_result *out, int timeout_ms,
                segstream_err *err)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(conf0);
    const char *sets[][2] = {{"isolation.level", "read_committed"}, {"enable.partition.eof", "true"},
                             {"enable.auto.commit", "false"}, {"auto.offset.reset", "earliest"},
                             {"group.id", "segstream-state-reader"}};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (rd_kafka_conf_set(conf, sets[i][0], sets[i][1], errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return segstream_err_set(err, "state reader %s: %s", sets[i][0], errstr);
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return segstream_err_set(err, "state reader: %s", errstr);
    }
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, tp);
    rd_kafka_topic_partition_list_destroy(tp);
    int rc = -1;
    size_t pre = strlen(filter);
    if (e) {
        segstream_err_set(err, "state reader: assign %s: %s", topic, rd_kafka_err2str(e));
        goto done;
    }
    /* The end is the log end as of now, not the first end-of-partition: read_committed
     * stops at the first open transaction, and behind it may lie what another instance
     * committed since (a partition's state its last owner wrote before giving it up). So
     * the read goes on until the position passes this log end: open transactions end
     * within their timeout (a killed instance's: transaction.timeout.ms). */
    int64_t lo = 0, hi = 0;
    e = rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, timeout_ms);
    if (e) {
        segstream_err_set(err, "state reader: the end of %s: %s", topic, rd_kafka_err2str(e));
        goto done;
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool at_end = hi <= lo;
    while (!at_end) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 200);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (!msg || msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* the end-of-partition event tells its offset; the position covers an end
             * reached past control records without a new event */
            at_end = msg && msg->offset >= hi;
            if (msg)
                rd_kafka_message_destroy(msg);
            rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(pos, topic, 0);
            at_end = at_end || (!rd_kafka_position(rk, pos) && pos->elems[0].offset >= hi);
            rd_kafka_topic_partition_list_destroy(pos);
            if (!at_end && (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms) {
                segstream_err_set(err, "state reader: %s not read to its end (offset %" PRId64 ") within %d ms: "
                                       "a transaction open for longer (transaction.timeout.ms)?", topic, hi,
                                  timeout_ms);
                goto done;
            }
            continue;
        }
        if (msg->err) {
            segstream_err_set(err, "state reader: %s: %s", topic, rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            goto done;
        }
        const char *k = msg->key;
        size_t kl = msg->key_len;
        int kept = 0, v1 = 0;
        uint64_t id = 0;
        if (k && kl >= pre && !memcmp(k, filter, pre)) { /* else another group's key */
            size_t at = chunk_suffix(k, kl, &v1, &id);
            if (at == NOT_A_CHUNK)
                kept = keep_manifest(out, k, kl, msg);
            else if (at != BAD_CHUNK_KEY)
                kept = keep(v1 ? &out->v1 : &out->v2, chunk_id(fnv64((const uint8_t *)k, at), id), msg);
        }
        rd_kafka_message_destroy(msg);
        if (kept) {
            segstream_err_set(err, "state reader: out of memory");
            goto done;
        }
    }
    rc = 0;
done:
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

int segstream_state_read(const rd_kafka_conf_t *conf, const char *topic, const char *prefix, uint8_t **blob,
                         size_t *len, segstream_state_found *found, int timeout_ms, segstream_err *err)
{
    segstream_state_found none = {0};
    if (!found)
        found = &none;
    *found = (segstream_state_found){0};
    *blob = NULL;
    *len = 0;
    scan_result r = {0};
    int rc = scan(conf, topic, prefix, &r, timeout_ms, err);
    for (size_t i = 0; !rc && i < r.n; i++)
        if (!strcmp(r.m[i].prefix, prefix) && r.m[i].manifest) /* none yet: 0 */
            rc = assemble(topic, r.m[i].manifest, fnv64((const uint8_t *)prefix, strlen(prefix)), &r.v1, &r.v2,
                          blob, len, found, err);
    scan_free(&r);
    segstream_state_stored_clear(&none.stored);
    return rc;
}

void segstream_state_snapshots_free(segstream_state_snapshot *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        free(s[i].prefix);
        free(s[i].blob);
        free(s[i].error);
        segstream_state_stored_clear(&s[i].found.stored);
    }
    free(s);
}

int segstream_state_read_all(const rd_kafka_conf_t *conf, const char *topic, const char *base,
                             segstream_state_snapshot **out, size_t *n_out, int timeout_ms, segstream_err *err)
{
    *out = NULL;
    *n_out = 0;
    scan_result r = {0};
    if (scan(conf, topic, base, &r, timeout_ms, err)) {
        scan_free(&r);
        return -1;
    }
    segstream_state_snapshot *s = calloc(r.n + 1, sizeof *s);
    size_t n = 0;
    int rc = s ? 0 : segstream_err_set(err, "state reader: out of memory");
    for (size_t i = 0; !rc && i < r.n; i++) {
        if (!r.m[i].manifest)
            continue;
        segstream_state_snapshot *x = &s[n++];
        x->prefix = r.m[i].prefix;
        r.m[i].prefix = NULL;
        segstream_err e = {{0}};
        if (assemble(topic, r.m[i].manifest, fnv64((const uint8_t *)x->prefix, strlen(x->prefix)), &r.v1, &r.v2,
                     &x->blob, &x->len, &x->found, &e) &&
            !(x->error = strdup(e.message)))
            rc = segstream_err_set(err, "state reader: out of memory");
    }
    scan_free(&r);
    if (rc) {
        segstream_state_snapshots_free(s, n);
        return -1;
    }
    *out = s;
    *n_out = n;
    return 0;
}
