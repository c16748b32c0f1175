/* state_store.c - snapshots on the state topic as chunks + a manifest
 * written last (see state_store.h for the scheme and its limits). */
#include "consumer/state_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t fnv64(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
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

int segstream_state_write(rd_kafka_t *producer, const char *topic, const char *prefix, const uint8_t *blob,
                          size_t len, segstream_err *err)
{
    size_t chunks = (len + SEGSTREAM_STATE_CHUNK - 1) / SEGSTREAM_STATE_CHUNK;
    char key[512];
    for (size_t i = 0; i < chunks; i++) {
        size_t off = i * SEGSTREAM_STATE_CHUNK;
        size_t n = len - off < SEGSTREAM_STATE_CHUNK ? len - off : SEGSTREAM_STATE_CHUNK;
        snprintf(key, sizeof key, "%s/chunk-%zu", prefix, i);
        if (produce(producer, topic, key, blob + off, n, err))
            return -1;
    }
    char manifest[128];
    int m = snprintf(manifest, sizeof manifest, "segstream-state v1 %zu %zu %016" PRIx64, chunks, len,
                     fnv64(blob, len));
    return produce(producer, topic, prefix, manifest, (size_t)m, err);
}

typedef struct chunk {
    uint8_t *data;
    size_t len;
} chunk;

int segstream_state_read(const rd_kafka_conf_t *conf0, const char *topic, const char *prefix, uint8_t **blob,
                         size_t *len, int timeout_ms, segstream_err *err)
{
    *blob = NULL;
    *len = 0;
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
    chunk *chunks = NULL;
    size_t nchunks = 0;
    char *manifest = NULL;
    size_t pre = strlen(prefix);
    if (e) {
        segstream_err_set(err, "state reader: assign %s: %s", topic, rd_kafka_err2str(e));
        goto done;
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 200);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (!msg) {
            if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms) {
                segstream_err_set(err, "state reader: %s not read to its end within %d ms", topic, timeout_ms);
                goto done;
            }
            continue;
        }
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(msg);
            break;
        }
        if (msg->err) {
            segstream_err_set(err, "state reader: %s: %s", topic, rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            goto done;
        }
        const char *k = msg->key;
        size_t kl = msg->key_len;
        if (k && kl == pre && !memcmp(k, prefix, pre)) {
            free(manifest);
            manifest = malloc(msg->len + 1);
            if (manifest) {
                memcpy(manifest, msg->payload, msg->len);
                manifest[msg->len] = '\0';
            }
        } else if (k && kl > pre + 7 && !memcmp(k, prefix, pre) && !memcmp(k + pre, "/chunk-", 7)) {
            size_t idx = 0, i = pre + 7;
            for (; i < kl && k[i] >= '0' && k[i] <= '9' && idx < 1000000; i++)
                idx = idx * 10 + (size_t)(k[i] - '0');
            if (i == kl) {
                if (idx >= nchunks) {
                    chunk *c = realloc(chunks, (idx + 1) * sizeof *c);
                    if (!c) {
                        rd_kafka_message_destroy(msg);
                        segstream_err_set(err, "state reader: out of memory");
                        goto done;
                    }
                    memset(c + nchunks, 0, (idx + 1 - nchunks) * sizeof *c);
                    chunks = c, nchunks = idx + 1;
                }
                free(chunks[idx].data);
                chunks[idx].data = malloc(msg->len ? msg->len : 1);
                chunks[idx].len = msg->len;
                if (chunks[idx].data)
                    memcpy(chunks[idx].data, msg->payload, msg->len);
            }
        }
        rd_kafka_message_destroy(msg);
    }
    if (!manifest) {
        rc = 0; /* no snapshot yet */
        goto done;
    }
    size_t want_chunks, want_len;
    uint64_t hash;
    if (sscanf(manifest, "segstream-state v1 %zu %zu %" SCNx64, &want_chunks, &want_len, &hash) != 3 ||
        want_chunks > nchunks) {
        segstream_err_set(err, "state topic %s: bad or incomplete manifest '%.80s' (%zu chunks present)", topic,
                          manifest, nchunks);
        goto done;
    }
    uint8_t *b = malloc(want_len ? want_len : 1);
    size_t off = 0;
    for (size_t i = 0; b && i < want_chunks; i++) {
        if (!chunks[i].data || off + chunks[i].len > want_len)
            break;
        memcpy(b + off, chunks[i].data, chunks[i].len);
        off += chunks[i].len;
    }
    if (!b || off != want_len || fnv64(b, off) != hash) {
        free(b);
        segstream_err_set(err, "state topic %s: the chunks do not match the manifest '%.80s'", topic, manifest);
        goto done;
    }
    *blob = b;
    *len = want_len;
    rc = 0;
done:
    for (size_t i = 0; i < nchunks; i++)
        free(chunks[i].data);
    free(chunks);
    free(manifest);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
