/* kafka_inspect.c - what the end-to-end tests read back from the broker, as
 * plain text that shell scripts can compare with cmp(1).
 *   kafka_inspect dump TOPIC           every partition, read_committed, to its end: one line a
 *                                      record, "PARTITION<TAB>KEYHEX<TAB>VALUEHEX<TAB>HEADERS<TAB>JSON"
 *                                      (HEADERS: "name=value;..." with \t \n ; \\ escaped, "-" if
 *                                      none; JSON: the value decoded, "-" if it does not), partition
 *                                      by partition in offset order. Offsets are left out: aborted
 *                                      transactions and their markers take offsets too, so two runs
 *                                      with the same records may number them differently.
 *   kafka_inspect offsets GROUP TOPIC  one line a partition, "PARTITION COMMITTED END": the group's
 *                                      committed offset (-1: none) and the high watermark
 * Brokers from $SEGSTREAM_BROKERS. The records are held in memory until every
 * partition has reached its end, so the output never interleaves partitions.
 * A test tool: exits 1 on any error, with the reason on stderr. */
#include "consumer/codec.h"
#include "consumer/codec_json.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_MS 30000

static const char *brokers(void)
{
    const char *b = getenv("SEGSTREAM_BROKERS");
    return b && *b ? b : "127.0.0.1:9092";
}

static int die(const char *what, const char *detail)
{
    fprintf(stderr, "kafka_inspect: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return 1;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A consumer of group `group` that never joins it (partitions are assigned). */
static rd_kafka_t *consumer(const char *group, char *errstr, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {{"bootstrap.servers", brokers()},   {"group.id", group},
                           {"isolation.level", "read_committed"}, {"enable.partition.eof", "true"},
                           {"enable.auto.commit", "false"},     {"enable.auto.offset.store", "false"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, errlen) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errlen);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

static int partition_count(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, TIMEOUT_MS);
    int n = -1;
    if (e)
        die("metadata", rd_kafka_err2str(e));
    else if (md->topic_cnt != 1 || md->topics[0].err)
        die("no such topic", topic);
    else
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return n;
}

typedef struct text {
    char *s;
    size_t len, cap;
} text;

static bool put(text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->s, cap);
        if (!p)
            return false;
        t->s = p, t->cap = cap;
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = '\0';
    return true;
}

static bool put_hex(text *t, const void *data, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *b = data;
    for (size_t i = 0; i < n; i++) {
        char h[2] = {digits[b[i] >> 4], digits[b[i] & 15]};
        if (!put(t, h, 2))
            return false;
    }
    return true;
}

static bool put_escaped(text *t, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *e = s[i] == '\t' ? "\\t"
                        : s[i] == '\n' ? "\\n"
                        : s[i] == ';'  ? "\\;"
                        : s[i] == '\\' ? "\\\\"
                                       : NULL;
        if (!(e ? put(t, e, 2) : put(t, s + i, 1)))
            return false;
    }
    return true;
}

static bool put_headers(text *t, const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *h = NULL;
    if (rd_kafka_message_headers(m, &h) || !rd_kafka_header_cnt(h))
        return put(t, "-", 1);
    const char *name;
    const void *val;
    size_t len;
    for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &val, &len); i++)
        if ((i && !put(t, ";", 1)) || !put_escaped(t, name, strlen(name)) || !put(t, "=", 1) ||
            !put_escaped(t, val ? val : "", val ? len : 0))
            return false;
    return true;
}

/* "P\tKEY\tVALUE\tHEADERS\tJSON\n" for one record. */
static bool put_record(text *t, const segstream_codec *codec, const rd_kafka_message_t *m)
{
    char head[16];
    if (!put(t, head, (size_t)snprintf(head, sizeof head, "%d\t", (int)m->partition)) ||
        !put_hex(t, m->key, m->key_len) || !put(t, "\t", 1) || !put_hex(t, m->payload, m->len) ||
        !put(t, "\t", 1) || !put_headers(t, m) || !put(t, "\t", 1))
        return false;
    segstream_err err = {{0}};
    segstream_record rec;
    char *json = NULL;
    if (!segstream_codec_decode(codec, m->payload, m->len, &rec, NULL, &err)) {
        json = segstream_record_to_json(&rec, &err);
        segstream_record_clear(&rec);
    }
    bool ok = json ? put(t, json, strlen(json)) : put(t, "-", 1);
    free(json);
    return ok && put(t, "\n", 1);
}

static int dump(const char *topic)
{
    char errstr[512], group[64];
    snprintf(group, sizeof group, "kafka-inspect-%ld", (long)getpid());
    rd_kafka_t *rk = consumer(group, errstr, sizeof errstr);
    if (!rk)
        return die("consumer", errstr);
    rd_kafka_poll_set_consumer(rk);
    segstream_err err = {{0}};
    segstream_codec *codec = segstream_codec_new(NULL, &err);
    int n = codec ? partition_count(rk, topic) : -1, rc = 1, ended = 0;
    if (!codec)
        die("codec", err.message);
    text *out = n > 0 ? calloc((size_t)n, sizeof *out) : NULL;
    bool *at_end = n > 0 ? calloc((size_t)n, sizeof *at_end) : NULL;
    if (!out || !at_end)
        goto done;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e) {
        die("assign", rd_kafka_err2str(e));
        goto done;
    }
    double deadline = now_s() + TIMEOUT_MS / 1000.0;
    while (ended < n) {
        if (now_s() > deadline) {
            die("timed out before the end of", topic);
            goto done;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        bool ok = true;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (!at_end[m->partition])
                at_end[m->partition] = true, ended++;
        } else if (m->err) {
            die("consume", rd_kafka_message_errstr(m));
            ok = false;
        } else {
            if (at_end[m->partition]) /* more arrived after the end: keep reading */
                at_end[m->partition] = false, ended--;
            ok = put_record(&out[m->partition], codec, m);
            if (!ok)
                die("out of memory", NULL);
        }
        rd_kafka_message_destroy(m);
        if (!ok)
            goto done;
    }
    for (int p = 0; p < n; p++)
        if (out[p].len)
            fwrite(out[p].s, 1, out[p].len, stdout);
    rc = fflush(stdout) ? die("writing stdout", NULL) : 0;
done:
    for (int p = 0; out && p < n; p++)
        free(out[p].s);
    free(out), free(at_end);
    segstream_codec_free(codec);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

static int offsets(const char *group, const char *topic)
{
    char errstr[512];
    rd_kafka_t *rk = consumer(group, errstr, sizeof errstr);
    if (!rk)
        return die("consumer", errstr);
    int n = partition_count(rk, topic), rc = 1;
    if (n <= 0)
        goto done;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p);
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, parts, TIMEOUT_MS);
    if (e) {
        rd_kafka_topic_partition_list_destroy(parts);
        die("committed offsets", rd_kafka_err2str(e));
        goto done;
    }
    rc = 0;
    for (int i = 0; i < parts->cnt && !rc; i++) {
        int64_t lo, hi;
        e = rd_kafka_query_watermark_offsets(rk, topic, parts->elems[i].partition, &lo, &hi, TIMEOUT_MS);
        if (e)
            rc = die("watermarks", rd_kafka_err2str(e));
        else
            printf("%d %lld %lld\n", (int)parts->elems[i].partition,
                   (long long)(parts->elems[i].offset < 0 ? -1 : parts->elems[i].offset), (long long)hi);
    }
    rd_kafka_topic_partition_list_destroy(parts);
done:
    rd_kafka_destroy(rk);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "dump"))
        return dump(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "offsets"))
        return offsets(argv[2], argv[3]);
    return die("usage: kafka_inspect dump TOPIC | kafka_inspect offsets GROUP TOPIC", NULL);
}
