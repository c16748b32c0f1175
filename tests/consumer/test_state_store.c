/* test_state_store.c - the state topic's content-defined chunks + manifest
 * against the real broker:
 * - a first snapshot writes every chunk; a second one with 100 bytes
 *   inserted at a third and a byte changed near the end writes only the
 *   chunks around the changes (the cut points realign after an insertion)
 *   and reads back byte for byte;
 * - an aborted write (new chunks and deletions of the stored ones) is
 *   invisible: the reader still returns the last committed snapshot;
 * - a smaller snapshot replaces it (its deletions committed);
 * - a format v1 snapshot (fixed chunks, written here by hand) is read, and
 *   the first v2 write after it replaces it;
 * - an unknown prefix gives none;
 * - the one-pass chunk list (cut points, chunk hashes, whole-blob hash) is
 *   the format's: the same cuts as a plain gear-hash cutter written here,
 *   the same hashes as FNV-1a over the slices;
 * - the remembered list: a write's returned list equals the chunk list of
 *   its blob; the list read back with a snapshot equals the one written and
 *   a write on top of it sends only the changed chunks; after an aborted
 *   write the list kept is the committed one, and building on it gives a
 *   snapshot that reads back, while building on the aborted write's list
 *   skips chunks the topic never got and the snapshot cannot be read (which
 *   is why the stage keeps a list only once its transaction commits). */
#include "consumer/cli_kafka.h"
#include "consumer/state_store.h"

#include "common/hash64.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: failed: %s (%s)\n", __FILE__, __LINE__, #c, err.message);     \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
    uint8_t *b = malloc(n);
    for (size_t i = 0; i < n; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        b[i] = (uint8_t)(seed >> 24);
    }
    return b;
}

/* The format's cut points, written plainly: a gear hash byte by byte from
 * the chunk's start, a cut where its top CUT_BITS bits are zero once the chunk
 * has the minimum length, or at the maximum. */
static size_t reference_cuts(const uint8_t *b, size_t len, size_t *ends)
{
    uint64_t gear[256], x = 0x5e65747265616dULL;
    for (int i = 0; i < 256; i++) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        gear[i] = z ^ (z >> 31);
    }
    size_t n = 0, start = 0;
    while (start < len) {
        size_t end = start;
        uint64_t h = 0;
        for (;;) {
            h = (h << 1) + gear[b[end++]];
            if (end == len || end - start == SEGSTREAM_STATE_CHUNK_MAX ||
                (end - start >= SEGSTREAM_STATE_CHUNK_MIN && !(h >> (64 - SEGSTREAM_STATE_CUT_BITS))))
                break;
        }
        ends[n++] = end;
        start = end;
    }
    return n;
}

static uint64_t fnv64(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* One transaction writing blob under prefix on top of `stored`; *out (may
 * be NULL) gets the list the write returned. */
static int txn(rd_kafka_t *p, const char *topic, const char *prefix, const uint8_t *blob, size_t len,
               const segstream_state_stored *stored, int commit, size_t *written, segstream_state_stored *out,
               segstream_err *err)
{
    segstream_state_write_stats st;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(p);
    if (e || segstream_state_write(p, topic, prefix, blob, len, stored, out, &st, err))
        return -1;
    *written = st.bytes_written;
    if (!commit) {
        rd_kafka_flush(p, 30000);
        e = rd_kafka_abort_transaction(p, 30000);
    } else {
        e = rd_kafka_commit_transaction(p, 30000);
    }
    return e ? -1 : 0;
}

/* Reads prefix back: 1 when it is want (format `version`); *list (may be
 * NULL) gets the list read with it. */
static int reads_back(const rd_kafka_conf_t *rconf, const char *topic, const char *prefix, const uint8_t *want,
                      size_t want_len, int version, segstream_state_stored *list, segstream_err *err)
{
    uint8_t *got = NULL;
    size_t len = 0;
    segstream_state_found found;
    if (segstream_state_read(rconf, topic, prefix, &got, &len, &found, 60000, err)) {
        segstream_state_stored_clear(&found.stored);
        return 0;
    }
    int ok = got && len == want_len && !memcmp(got, want, len) && found.version == version;
    if (!ok)
        fprintf(stderr, "read %zu bytes (format %d), want %zu (format %d)\n", len, found.version, want_len, version);
    free(got);
    if (list) {
        segstream_state_stored_clear(list);
        *list = found.stored;
    } else {
        segstream_state_stored_clear(&found.stored);
    }
    return ok;
}

static int same_list(const segstream_state_stored *x, const segstream_state_stored *y)
{
    return x->known == y->known && x->n == y->n && x->legacy_chunks == y->legacy_chunks &&
           (!x->n || (!memcmp(x->hashes, y->hashes, x->n * sizeof *x->hashes) &&
                      !memcmp(x->lens, y->lens, x->n * sizeof *x->lens)));
}

/* The list against the plain cutter and XXH64 over the slices. */
static int list_is_formats(const uint8_t *b, size_t len)
{
    segstream_state_stored l = {0};
    uint64_t whole;
    size_t *ends = malloc((len / SEGSTREAM_STATE_CHUNK_MIN + 2) * sizeof *ends);
    size_t n = reference_cuts(b, len, ends);
    int ok = !segstream_state_chunk_list(b, len, &l, &whole) && l.known && l.n == n &&
             whole == segstream_xxh64(b, len, 0);
    for (size_t i = 0, start = 0; ok && i < n; start = ends[i++])
        ok = l.lens[i] == ends[i] - start && l.hashes[i] == segstream_xxh64(b + start, ends[i] - start, 0);
    size_t *ends2 = NULL;
    ok = ok && segstream_state_chunk_ends(b, len, &ends2) == (long)n && (!n || !memcmp(ends, ends2, n * sizeof *ends));
    free(ends), free(ends2);
    segstream_state_stored_clear(&l);
    return ok;
}

int main(void)
{
    segstream_err err = {{0}};
    char topic[128], txid[160];
    snprintf(topic, sizeof topic, "state-store-test-%ld-%d", (long)time(NULL), (int)(clock() & 0xffff));
    snprintf(txid, sizeof txid, "%s-tx", topic);
    const char *pdef[] = {"transactional.id", txid, NULL};
    rd_kafka_conf_t *conf = segstream_cli_kafka_conf(segstream_cli_brokers(NULL), pdef, NULL, 0, &err);
    CHECK(conf);
    char errstr[512];
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    CHECK(p);
    CHECK(segstream_cli_create_topic(p, topic, 1, 30000, &err) == 0);
    CHECK(!rd_kafka_init_transactions(p, 60000));
    rd_kafka_conf_t *rconf = segstream_cli_kafka_conf(segstream_cli_brokers(NULL), NULL, NULL, 0, &err);
    CHECK(rconf);

    size_t big = 3u << 20, small = 12345, written = 0;
    uint8_t *a = random_bytes(big, 1), *b = random_bytes(small, 2), *c = random_bytes(big, 3);
    uint8_t *a2 = malloc(big + 100), *zeros = calloc(1, 600000);
    memcpy(a2, a, big / 3);
    memset(a2 + big / 3, 0x5a, 100);
    memcpy(a2 + big / 3 + 100, a + big / 3, big - big / 3);
    a2[big + 100 - 5000] ^= 1;

    /* the one pass is the format (a run of zeros cuts only at the maximum) */
    CHECK(list_is_formats(a, big) && list_is_formats(b, small) && list_is_formats(zeros, 600000) &&
          list_is_formats(a, 0) && list_is_formats(a, SEGSTREAM_STATE_CHUNK_MIN) &&
          list_is_formats(a, SEGSTREAM_STATE_CHUNK_MIN + 1));

    segstream_state_stored stored = {0}, next = {0}, back = {0}, aborted = {0}, want = {0};
    uint64_t whole;
    CHECK(txn(p, topic, "g/model", a, big, NULL, 1, &written, &next, &err) == 0);
    CHECK(written == big);
    CHECK(!segstream_state_chunk_list(a, big, &want, &whole) && same_list(&next, &want));
    CHECK(reads_back(rconf, topic, "g/model", a, big, 3, &back, &err));
    CHECK(same_list(&back, &next)); /* the list comes back with the snapshot */
    segstream_state_stored_clear(&stored);
    stored = next, next = (segstream_state_stored){0};
    CHECK(txn(p, topic, "g/model", a2, big + 100, &stored, 1, &written, &next, &err) == 0);
    printf("changed snapshot: %zu of %zu bytes written\n", written, big + 100);
    CHECK(written > 0 && written < 4 * SEGSTREAM_STATE_CHUNK_MAX);
    CHECK(reads_back(rconf, topic, "g/model", a2, big + 100, 3, NULL, &err));
    segstream_state_stored_clear(&stored);
    stored = next, next = (segstream_state_stored){0};

    /* aborted: the kept list stays the committed one */
    CHECK(txn(p, topic, "g/model", c, big, &stored, 0, &written, &aborted, &err) == 0);
    CHECK(reads_back(rconf, topic, "g/model", a2, big + 100, 3, &back, &err));
    CHECK(same_list(&back, &stored));
    /* c again (a byte changed near its end) on the committed list: all of it
     * is sent, since the aborted write's chunks never became visible */
    c[big - 3000] ^= 1;
    CHECK(txn(p, topic, "g/model", c, big, &stored, 1, &written, &next, &err) == 0);
    CHECK(written == big);
    CHECK(reads_back(rconf, topic, "g/model", c, big, 3, &back, &err));
    /* after a restore: build on the list read back */
    CHECK(same_list(&back, &next));
    segstream_state_stored_clear(&stored), segstream_state_stored_clear(&next);
    c[big - 3000] ^= 1;
    CHECK(txn(p, topic, "g/model", c, big, &back, 1, &written, &next, &err) == 0);
    CHECK(written > 0 && written <= SEGSTREAM_STATE_CHUNK_MAX);
    CHECK(reads_back(rconf, topic, "g/model", c, big, 3, NULL, &err));
    CHECK(txn(p, topic, "g/model", b, small, &next, 1, &written, NULL, &err) == 0);
    CHECK(reads_back(rconf, topic, "g/model", b, small, 3, NULL, &err));
    segstream_state_stored_clear(&next);

    /* why the list must not advance on an abort: building on the aborted
     * write's list, the same write looks unchanged and is skipped, so the
     * topic keeps the older snapshot (a, not c) */
    CHECK(txn(p, topic, "wrong/model", a, big, NULL, 1, &written, NULL, &err) == 0);
    CHECK(txn(p, topic, "wrong/model", c, big, &aborted, 1, &written, NULL, &err) == 0);
    CHECK(written == 0);
    CHECK(reads_back(rconf, topic, "wrong/model", a, big, 3, NULL, &err));

    /* format v1, by hand: two fixed chunks and the manifest, then a v2 write */
    rd_kafka_error_t *e = rd_kafka_begin_transaction(p);
    CHECK(!e);
    const size_t v1_chunk = 900u * 1024u;
    const char *keys[] = {"old/model/chunk-0", "old/model/chunk-1"};
    for (int i = 0; i < 2; i++)
        CHECK(!rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                 RD_KAFKA_V_KEY(keys[i], strlen(keys[i])),
                                 RD_KAFKA_V_VALUE(c + i * v1_chunk, i ? 1000 : v1_chunk),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END));
    char manifest[128];
    int m = snprintf(manifest, sizeof manifest, "segstream-state v1 2 %zu %016" PRIx64, v1_chunk + 1000,
                     fnv64(c, v1_chunk + 1000));
    CHECK(!rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY("old/model", 9),
                             RD_KAFKA_V_VALUE(manifest, (size_t)m), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_END));
    CHECK(!rd_kafka_commit_transaction(p, 30000));
    CHECK(reads_back(rconf, topic, "old/model", c, v1_chunk + 1000, 1, &back, &err));
    CHECK(!back.known && back.n == 0 && back.legacy_chunks == 2);
    CHECK(txn(p, topic, "old/model", a, big, &back, 1, &written, &next, &err) == 0);
    CHECK(reads_back(rconf, topic, "old/model", a, big, 3, NULL, &err));
    /* the same snapshot again on the committed list: nothing written */
    CHECK(txn(p, topic, "old/model", a, big, &next, 1, &written, NULL, &err) == 0);
    CHECK(written == 0);
    CHECK(reads_back(rconf, topic, "old/model", a, big, 3, NULL, &err));
    segstream_state_stored_clear(&next);

    /* format v2, by hand: the v3 scheme with FNV-1a hashes (what topics hold
     * from before XXH64), then a v3 write on its list: every chunk is named
     * anew, so all are written once, and it reads back as v3 */
    {
        size_t *ends = NULL;
        long n_ends = segstream_state_chunk_ends(a2, big, &ends);
        CHECK(n_ends > 1);
        size_t cap = 64 + (size_t)n_ends * 17, at = 0;
        char *v2 = malloc(cap);
        CHECK(v2);
        int w = snprintf(v2, cap, "segstream-state v2 %ld %zu %016" PRIx64, n_ends, big, fnv64(a2, big));
        rd_kafka_error_t *te = rd_kafka_begin_transaction(p);
        CHECK(!te);
        for (long i = 0; i < n_ends; at = ends[i++]) {
            uint64_t h = fnv64(a2 + at, ends[i] - at);
            char key[64];
            snprintf(key, sizeof key, "v2/model/c-%016" PRIx64, h);
            CHECK(!rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                                     RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(a2 + at, ends[i] - at),
                                     RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END));
            w += snprintf(v2 + w, cap - (size_t)w, " %016" PRIx64, h);
        }
        CHECK(!rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY("v2/model", 8),
                                 RD_KAFKA_V_VALUE(v2, (size_t)w), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END));
        CHECK(!rd_kafka_commit_transaction(p, 30000));
        segstream_state_stored v2_list = {0}, v3_list = {0};
        CHECK(reads_back(rconf, topic, "v2/model", a2, big, 2, &v2_list, &err));
        CHECK(v2_list.known && v2_list.n == (size_t)n_ends);
        CHECK(txn(p, topic, "v2/model", a2, big, &v2_list, 1, &written, &v3_list, &err) == 0);
        CHECK(written >= big);
        CHECK(reads_back(rconf, topic, "v2/model", a2, big, 3, NULL, &err));
        segstream_state_stored_clear(&v2_list), segstream_state_stored_clear(&v3_list);
        free(ends), free(v2);
    }

    /* several snapshots under one base, in one transaction, read in one pass
     * (the stage: "<group>/model" and "<group>/users/<partition>"); an empty
     * one is a snapshot too, and other bases stay out */
    {
        rd_kafka_error_t *te = rd_kafka_begin_transaction(p);
        CHECK(!te);
        CHECK(!segstream_state_write(p, topic, "multi/model", b, small, NULL, NULL, NULL, &err));
        CHECK(!segstream_state_write(p, topic, "multi/users/0", c, 70000, NULL, NULL, NULL, &err));
        CHECK(!segstream_state_write(p, topic, "multi/users/7", c, 0, NULL, NULL, NULL, &err));
        CHECK(!rd_kafka_commit_transaction(p, 30000));
        segstream_state_snapshot *all = NULL;
        size_t n_all = 0;
        CHECK(!segstream_state_read_all(rconf, topic, "multi/", &all, &n_all, 60000, &err));
        CHECK(n_all == 3);
        CHECK(!strcmp(all[0].prefix, "multi/model") && all[0].len == small && !memcmp(all[0].blob, b, small));
        CHECK(!strcmp(all[1].prefix, "multi/users/0") && all[1].len == 70000 && !memcmp(all[1].blob, c, 70000));
        CHECK(!strcmp(all[2].prefix, "multi/users/7") && all[2].len == 0 && !all[2].error);
        CHECK(all[1].found.stored.known && all[1].found.stored.n >= 1);
        segstream_state_snapshots_free(all, n_all);
    }
    CHECK(reads_back(rconf, topic, "g/model", b, small, 3, NULL, &err)); /* the other prefix untouched */

    uint8_t *none = NULL;
    size_t len = 0;
    CHECK(segstream_state_read(rconf, topic, "other/model", &none, &len, NULL, 60000, &err) == 0);
    CHECK(none == NULL);
    printf("state store: full, incremental, aborted, restored, smaller and v1 -> v2 snapshots read back correctly;"
           " the remembered chunk list follows only committed writes\n");
    segstream_state_stored_clear(&back), segstream_state_stored_clear(&aborted), segstream_state_stored_clear(&want);
    rd_kafka_conf_destroy(rconf);
    rd_kafka_destroy(p);
    free(a), free(a2), free(b), free(c), free(zeros);
    return 0;
}
