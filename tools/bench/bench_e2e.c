/* bench_e2e.c - the two ends of tools/bench-e2e's latency measurement.
 *   bench_e2e pace TOPIC RATE   InterestChange NDJSON on stdin -> TOPIC at RATE records/s on a
 *                               fixed schedule (record i is due at start + i/RATE, so a slow
 *                               send is caught up, never accumulated); when all are delivered,
 *                               one line a record on stdout: "PARTITION OFFSET PRODUCED_NS"
 *   bench_e2e read TOPIC        SegmentChange records of TOPIC, read_committed from the start
 *                               of every partition, until SIGTERM/SIGINT: one line a record on
 *                               stdout, "SOURCE_PARTITION SOURCE_OFFSET ARRIVED_NS"
 *   bench_e2e sizes FILE        a pipeline snapshot (segstream state export) -> one line of
 *                               "part bytes" pairs: total, cluster parts (panes as written
 *                               and as a dense ring would be, users, labels, ...), pipeline
 * Times are CLOCK_REALTIME nanoseconds on this machine, taken right before the
 * produce call and right after the poll that returned the record, so
 * ARRIVED - PRODUCED is the event-to-output latency as a consumer of the
 * output topic sees it (batching, encoding, transaction commit and the
 * read_committed fetch included). Every record is encoded before the clock
 * starts, and the producer sends at once (linger.ms=0): the pacing is the
 * only wait. Brokers from $SEGSTREAM_BROKERS. Exits 1 on any error. */
#include "cluster/cluster.h"
#include "consumer/avro_binary.h"
#include "consumer/codec.h"
#include "consumer/codec_json.h"
#include "consumer/pipeline.h"

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static const char *brokers(void)
{
    const char *b = getenv("SEGSTREAM_BROKERS");
    return b && *b ? b : "127.0.0.1:9092";
}

static int die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_e2e: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    return 1;
}

static int64_t realtime_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *const *kv, rd_kafka_conf_t *conf)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        die("config", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    for (size_t i = 0; kv[i]; i += 2)
        if (rd_kafka_conf_set(conf, kv[i], kv[i + 1], errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            die("config", errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        die("client", errstr);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

/* --- pace ------------------------------------------------------------------ */

typedef struct sent {
    segstream_buf value;
    char key[256];
    size_t key_len;
    int64_t produced_ns;
    int32_t partition;
    int64_t offset; /* -1 until delivered */
} sent;

typedef struct pace_state {
    size_t delivered, failed;
} pace_state;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    pace_state *ps = opaque;
    sent *s = m->_private;
    (void)rk;
    if (m->err) {
        ps->failed++;
        fprintf(stderr, "bench_e2e: delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    s->partition = m->partition;
    s->offset = m->offset;
    ps->delivered++;
}

static int read_records(segstream_codec *codec, sent **out, size_t *n_out)
{
    sent *v = NULL;
    size_t n = 0, cap = 0, lcap = 0;
    char *line = NULL;
    ssize_t len;
    segstream_err err = {{0}};
    while ((len = getline(&line, &lcap, stdin)) > 0) {
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            sent *w = realloc(v, cap * sizeof *v);
            if (!w)
                return die("out of memory", NULL);
            v = w;
        }
        segstream_record rec;
        if (segstream_record_from_json(SEGSTREAM_RECORD_INTEREST_CHANGE, line, (size_t)len, &rec, &err))
            return die("bad input line", err.message);
        sent *s = &v[n++];
        memset(s, 0, sizeof *s);
        s->offset = -1;
        if (segstream_codec_encode(codec, &rec, SEGSTREAM_FRAMING_SINGLE_OBJECT, 0, &s->value, &err))
            return die("encode", err.message);
        char kb[24];
        size_t kl;
        const char *key = segstream_record_key(&rec, kb, &kl);
        s->key_len = kl < sizeof s->key ? kl : sizeof s->key;
        memcpy(s->key, key, s->key_len);
        segstream_record_clear(&rec);
    }
    free(line);
    *out = v;
    *n_out = n;
    return 0;
}

static int pace(const char *topic, double rate)
{
    segstream_err err = {{0}};
    segstream_codec *codec = segstream_codec_new(NULL, &err);
    if (!codec)
        return die("codec", err.message);
    sent *recs = NULL;
    size_t n = 0;
    if (read_records(codec, &recs, &n))
        return 1;
    pace_state ps = {0};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &ps);
    static const char *const kv[] = {"linger.ms", "0", "partitioner", "murmur2_random", NULL};
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, kv, conf);
    if (!rk)
        return 1;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (size_t i = 0; i < n && !g_stop; i++) {
        int64_t due = (int64_t)((double)i * 1e9 / rate);
        struct timespec at = {start.tv_sec + (time_t)((start.tv_nsec + due) / 1000000000),
                              (long)((start.tv_nsec + due) % 1000000000)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL))
            ; /* EINTR: sleep on to the same instant */
        recs[i].produced_ns = realtime_ns();
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(recs[i].key, recs[i].key_len),
                                      RD_KAFKA_V_VALUE(recs[i].value.data, recs[i].value.len),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&recs[i]),
                                      RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        if (e)
            return die("produce", rd_kafka_err2str(e));
        rd_kafka_poll(rk, 0);
    }
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    if (rd_kafka_flush(rk, 60000))
        return die("flush timed out", NULL);
    double secs = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    fprintf(stderr, "bench_e2e pace: %zu records in %.2f s (%.1f/s, asked %.1f/s), %zu failed\n", ps.delivered,
            secs, n > 1 ? (double)(n - 1) / secs : 0.0, rate, ps.failed);
    for (size_t i = 0; i < n; i++)
        if (recs[i].offset >= 0)
            printf("%d %lld %lld\n", (int)recs[i].partition, (long long)recs[i].offset,
                   (long long)recs[i].produced_ns);
    for (size_t i = 0; i < n; i++)
        segstream_buf_free(&recs[i].value);
    free(recs);
    rd_kafka_destroy(rk);
    segstream_codec_free(codec);
    return ps.failed || ps.delivered != n ? 1 : 0;
}

/* --- read ------------------------------------------------------------------ */

static int read_topic(const char *topic)
{
    segstream_err err = {{0}};
    segstream_codec *codec = segstream_codec_new(NULL, &err);
    if (!codec)
        return die("codec", err.message);
    char group[64];
    snprintf(group, sizeof group, "bench-e2e-read-%ld", (long)time(NULL));
    /* fetch.wait.max.ms: the broker answers a fetch within 5 ms when nothing
     * new is committed, so a commit is seen within about that. */
    const char *const kv[] = {"group.id", group, "isolation.level", "read_committed", "enable.auto.commit",
                                     "false", "fetch.wait.max.ms", "5", NULL};
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, kv, rd_kafka_conf_new());
    if (!rk)
        return 1;
    rd_kafka_poll_set_consumer(rk);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 30000);
    rd_kafka_topic_destroy(t);
    if (e || md->topic_cnt != 1 || md->topics[0].err)
        return die("no metadata for", topic);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int p = 0; p < md->topics[0].partition_cnt; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    e = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e)
        return die("assign", rd_kafka_err2str(e));
    size_t n = 0;
    while (!g_stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        int64_t arrived = realtime_ns();
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "bench_e2e read: %s\n", rd_kafka_message_errstr(m));
        } else {
            segstream_record rec;
            if (!segstream_codec_decode(codec, m->payload, m->len, &rec, NULL, &err)) {
                if (rec.type == SEGSTREAM_RECORD_SEGMENT_CHANGE) {
                    printf("%d %lld %lld\n", (int)rec.segment_change.source_partition,
                           (long long)rec.segment_change.source_offset, (long long)arrived);
                    n++;
                }
                segstream_record_clear(&rec);
            }
        }
        rd_kafka_message_destroy(m);
    }
    fflush(stdout);
    fprintf(stderr, "bench_e2e read: %zu segment changes\n", n);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    segstream_codec_free(codec);
    return 0;
}

/* The cluster model inside a pipeline snapshot (a bundle: the model slice
 * "SGPL", version, length, cluster blob, ...; then the user slices, see
 * consumer/pipeline_snapshot.c), restored with its user parts, its parts
 * measured as one whole cluster blob. */
static int sizes(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return die("cannot open", path);
    segstream_buf b = {0};
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        segstream_buf_put(&b, chunk, n);
    fclose(f);
    segstream_err err = {{0}};
    segstream_snapshot_slice *sl = NULL;
    size_t n_sl = 0;
    if (b.oom || segstream_snapshot_slices(b.data, b.len, &sl, &n_sl, &err))
        return segstream_buf_free(&b), die("not a pipeline snapshot", path);
    int64_t version = 0, cl = 0;
    segstream_avro_reader r = {sl[0].data, sl[0].len, 4, 0, &err};
    if (sl[0].len < 4 || memcmp(sl[0].data, "SGPL", 4) || segstream_avro_get_long(&r, "version", &version) ||
        segstream_avro_get_long(&r, "cluster_len", &cl) || cl < 0 || (uint64_t)cl > sl[0].len - r.pos)
        return free(sl), segstream_buf_free(&b), die("not a pipeline snapshot", path);
    segstream_cluster_user_part *parts = calloc(n_sl, sizeof *parts);
    size_t users_bytes = 0;
    for (size_t i = 1; parts && i < n_sl; i++) {
        parts[i - 1] = (segstream_cluster_user_part){sl[i].partition, sl[i].data, sl[i].len};
        users_bytes += sl[i].len;
    }
    segstream_cluster *c =
        parts ? segstream_cluster_restore_split(sl[0].data + r.pos, (size_t)cl, parts, n_sl - 1, &err) : NULL;
    free(parts);
    segstream_cluster_snapshot_parts p;
    if (!c || segstream_cluster_snapshot_sizes(c, &p, &err))
        return segstream_cluster_free(c), free(sl), segstream_buf_free(&b), die(err.message, path);
    printf("file %zu cluster_as_read %lld user_slices %zu user_slice_bytes %zu cluster %zu panes %zu panes_dense %zu "
           "segments %zu reservoirs %zu labels %zu users %zu bootstrap %zu other %zu pipeline_other %zu\n",
           b.len, (long long)cl, n_sl - 1, users_bytes, p.total, p.panes, p.panes_dense, p.segments, p.reservoirs,
           p.labels, p.users, p.bootstrap, p.other, sl[0].len - (size_t)cl);
    segstream_cluster_free(c);
    free(sl);
    segstream_buf_free(&b);
    return 0;
}

int main(int argc, char **argv)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (argc == 4 && !strcmp(argv[1], "pace")) {
        char *end;
        double rate = strtod(argv[3], &end);
        if (*end || rate <= 0)
            return die("RATE must be a number > 0", argv[3]);
        return pace(argv[2], rate);
    }
    if (argc == 3 && !strcmp(argv[1], "read"))
        return read_topic(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "sizes"))
        return sizes(argv[2]);
    return die("usage: bench_e2e pace TOPIC RATE < events.ndjson | bench_e2e read TOPIC | bench_e2e sizes FILE",
               NULL);
}
