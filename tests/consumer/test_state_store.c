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
 * - an unknown prefix gives none. */
#include "consumer/cli_kafka.h"
#include "consumer/state_store.h"

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

static uint64_t fnv64(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

/* One transaction writing blob under prefix on top of `stored`. */
static int txn(rd_kafka_t *p, const char *topic, const char *prefix, const uint8_t *blob, size_t len,
               const segstream_state_stored *stored, int commit, size_t *written, segstream_err *err)
{
    segstream_state_write_stats st;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(p);
    if (e || segstream_state_write(p, topic, prefix, blob, len, stored, &st, err))
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

static int reads_back(const rd_kafka_conf_t *rconf, const char *topic, const char *prefix, const uint8_t *want,
                      size_t want_len, int version, segstream_err *err)
{
    uint8_t *got = NULL;
    size_t len = 0;
    segstream_state_found found;
    if (segstream_state_read(rconf, topic, prefix, &got, &len, &found, 60000, err))
        return 0;
    int ok = got && len == want_len && !memcmp(got, want, len) && found.version == version;
    if (!ok)
        fprintf(stderr, "read %zu bytes (format %d), want %zu (format %d)\n", len, found.version, want_len, version);
    free(got);
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
    uint8_t *a2 = malloc(big + 100);
    memcpy(a2, a, big / 3);
    memset(a2 + big / 3, 0x5a, 100);
    memcpy(a2 + big / 3 + 100, a + big / 3, big - big / 3);
    a2[big + 100 - 5000] ^= 1;

    CHECK(txn(p, topic, "g/model", a, big, NULL, 1, &written, &err) == 0);
    CHECK(written == big);
    CHECK(reads_back(rconf, topic, "g/model", a, big, 2, &err));
    segstream_state_stored stored = {a, big, 0};
    CHECK(txn(p, topic, "g/model", a2, big + 100, &stored, 1, &written, &err) == 0);
    printf("changed snapshot: %zu of %zu bytes written\n", written, big + 100);
    CHECK(written > 0 && written < 4 * SEGSTREAM_STATE_CHUNK_MAX);
    CHECK(reads_back(rconf, topic, "g/model", a2, big + 100, 2, &err));

    stored = (segstream_state_stored){a2, big + 100, 0};
    CHECK(txn(p, topic, "g/model", c, big, &stored, 0, &written, &err) == 0); /* aborted */
    CHECK(reads_back(rconf, topic, "g/model", a2, big + 100, 2, &err));
    CHECK(txn(p, topic, "g/model", b, small, &stored, 1, &written, &err) == 0);
    CHECK(reads_back(rconf, topic, "g/model", b, small, 2, &err));

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
    CHECK(reads_back(rconf, topic, "old/model", c, v1_chunk + 1000, 1, &err));
    stored = (segstream_state_stored){NULL, 0, 2};
    CHECK(txn(p, topic, "old/model", a, big, &stored, 1, &written, &err) == 0);
    CHECK(reads_back(rconf, topic, "old/model", a, big, 2, &err));
    CHECK(reads_back(rconf, topic, "g/model", b, small, 2, &err)); /* the other prefix untouched */

    uint8_t *none = NULL;
    size_t len = 0;
    CHECK(segstream_state_read(rconf, topic, "other/model", &none, &len, NULL, 60000, &err) == 0);
    CHECK(none == NULL);
    printf("state store: full, incremental, aborted, smaller and v1 -> v2 snapshots read back correctly\n");
    rd_kafka_conf_destroy(rconf);
    rd_kafka_destroy(p);
    free(a), free(a2), free(b), free(c);
    return 0;
}
