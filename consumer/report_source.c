/* report_source.c - every record of a file or a topic; see report_source.h.
 *
 * A topic is read to "its end" by partition EOF events: with read_committed
 * librdkafka signals EOF at the last stable offset, so records of open
 * transactions are neither shown nor waited for. The reader stops once every
 * partition has signalled EOF and no record arrived since. */
#include "consumer/report_source.h"
#include "consumer/avro_file.h"
#include "consumer/cli_kafka.h"
#include "consumer/codec.h"
#include "consumer/codec_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Decoded, of the wrong type, or not decodable: 1 for a record, 0 skipped, -1 error. */
static int bad_record(const segstream_report_source *src, int64_t *skipped, segstream_err *err)
{
    if (!src->skip_bad)
        return -1;
    if (skipped)
        (*skipped)++;
    segstream_err_clear(err);
    return 0;
}

static int64_t read_avro(const segstream_report_source *src, segstream_record_type type,
                         segstream_report_record_fn fn, void *ctx, segstream_err *err)
{
    segstream_codec *codec = segstream_codec_new(NULL, err);
    if (!codec)
        return -1;
    segstream_avro_file_reader *rd = segstream_avro_file_reader_open(codec, src->file, err);
    int64_t n = -1;
    if (!rd)
        goto out;
    if (segstream_avro_file_reader_type(rd) != type) {
        segstream_err_set(err, "%s: holds %s records, not %s", src->file,
                          segstream_record_type_name(segstream_avro_file_reader_type(rd)),
                          segstream_record_type_name(type));
        goto out;
    }
    segstream_record rec;
    segstream_record_init(&rec, type);
    int rc;
    n = 0;
    while ((rc = segstream_avro_file_reader_next(rd, &rec, err)) == 1) {
        int cb = fn(ctx, &rec, 0, n + 1, err);
        segstream_record_clear(&rec);
        if (cb < 0) {
            n = -1;
            break;
        }
        n++;
    }
    if (rc < 0) {
        segstream_err_prefix(err, "%s", src->file);
        n = -1;
    }
out:
    segstream_avro_file_reader_close(rd);
    segstream_codec_free(codec);
    return n;
}

static int64_t read_file(const segstream_report_source *src, segstream_record_type type,
                         segstream_report_record_fn fn, void *ctx, int64_t *skipped, segstream_err *err)
{
    FILE *f = fopen(src->file, "rb");
    if (!f)
        return segstream_err_set(err, "%s: %s", src->file, strerror(errno));
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    if (got == 4 && !memcmp(magic, "Obj\x01", 4)) {
        fclose(f);
        return read_avro(src, type, fn, ctx, err);
    }
    rewind(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t n = 0, lineno = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        size_t start = 0;
        while ((ssize_t)start < len && (line[start] == ' ' || line[start] == '\t'))
            start++;
        if ((ssize_t)start == len)
            continue;
        segstream_record rec;
        if (segstream_record_from_json(type, line + start, (size_t)len - start, &rec, err) < 0) {
            segstream_err_prefix(err, "%s line %lld", src->file, (long long)lineno);
            if (bad_record(src, skipped, err) < 0) {
                n = -1;
                break;
            }
            continue;
        }
        int cb = fn(ctx, &rec, 0, lineno, err);
        segstream_record_clear(&rec);
        if (cb < 0) {
            n = -1;
            break;
        }
        n++;
    }
    if (n >= 0 && ferror(f))
        n = segstream_err_set(err, "%s: read error", src->file);
    free(line);
    fclose(f);
    return n;
}

static int partition_count(rd_kafka_t *rk, const char *topic, double timeout_s, segstream_err *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    double deadline = now_s() + timeout_s;
    int n = -1;
    while (n < 0) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t kerr = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        if (kerr)
            segstream_err_set(err, "metadata of %s: %s", topic, rd_kafka_err2str(kerr));
        else if (md->topic_cnt != 1 || md->topics[0].err)
            segstream_err_set(err, "topic %s: %s", topic,
                              rd_kafka_err2str(md->topic_cnt ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN));
        else
            n = md->topics[0].partition_cnt;
        if (md)
            rd_kafka_metadata_destroy(md);
        if (n >= 0 || now_s() > deadline)
            break;
        usleep(200 * 1000);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

static int64_t read_topic(const segstream_report_source *src, segstream_record_type type,
                          segstream_report_record_fn fn, void *ctx, int64_t *skipped, segstream_err *err)
{
    char group[96];
    snprintf(group, sizeof group, "segstream-report-%ld-%ld", (long)getpid(), (long)time(NULL));
    const char *const defaults[] = {"group.id", group, /* never joined: partitions are assigned */
                                    "enable.auto.commit", "false",
                                    "enable.auto.offset.store", "false",
                                    "isolation.level", "read_committed",
                                    "enable.partition.eof", "true",
                                    "auto.offset.reset", "earliest",
                                    NULL};
    rd_kafka_conf_t *conf =
        segstream_cli_kafka_conf(segstream_cli_brokers(src->brokers), defaults, src->kafka_sets, src->nsets, err);
    if (!conf)
        return -1;
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return segstream_err_set(err, "kafka: %s", errstr);
    }
    rd_kafka_poll_set_consumer(rk);
    segstream_codec *codec = segstream_codec_new(NULL, err);
    int64_t n = -1;
    bool *at_end = NULL;
    double timeout = src->timeout_s > 0 ? src->timeout_s : 30;
    int parts = codec ? partition_count(rk, src->topic, timeout, err) : -1;
    if (parts < 0)
        goto out;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(list, src->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t kerr = rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (kerr) {
        segstream_err_set(err, "assign %s: %s", src->topic, rd_kafka_err2str(kerr));
        goto out;
    }
    if (!(at_end = calloc((size_t)parts ? (size_t)parts : 1, sizeof *at_end))) {
        segstream_err_set(err, "out of memory");
        goto out;
    }
    int ended = 0;
    double last = now_s();
    n = 0;
    while (ended < parts) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m) {
            if (now_s() - last > timeout) {
                n = segstream_err_set(err, "%s: no progress for %.0f s (%d of %d partitions read to the end)",
                                      src->topic, timeout, ended, parts);
                break;
            }
            continue;
        }
        last = now_s();
        int in_range = m->partition >= 0 && m->partition < parts;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (in_range && !at_end[m->partition])
                at_end[m->partition] = true, ended++;
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            segstream_err_set(err, "%s: %s", src->topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            n = -1;
            break;
        }
        if (in_range && at_end[m->partition])
            at_end[m->partition] = false, ended--;
        segstream_record rec;
        int rc = segstream_codec_decode(codec, m->payload, m->len, &rec, NULL, err);
        if (rc == 0 && rec.type != type) {
            segstream_record_clear(&rec);
            rc = segstream_err_set(err, "a %s record, not %s", segstream_record_type_name(rec.type),
                                   segstream_record_type_name(type));
        }
        if (rc < 0) {
            segstream_err_prefix(err, "%s [%d] offset %lld", src->topic, (int)m->partition, (long long)m->offset);
            rd_kafka_message_destroy(m);
            if (bad_record(src, skipped, err) < 0) {
                n = -1;
                break;
            }
            continue;
        }
        int cb = fn(ctx, &rec, m->partition, m->offset, err);
        segstream_record_clear(&rec);
        rd_kafka_message_destroy(m);
        if (cb < 0) {
            n = -1;
            break;
        }
        n++;
    }
out:
    free(at_end);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    segstream_codec_free(codec);
    return n;
}

int64_t segstream_report_source_read(const segstream_report_source *src, segstream_record_type type,
                                     segstream_report_record_fn fn, void *ctx, int64_t *skipped,
                                     segstream_err *err)
{
    if (skipped)
        *skipped = 0;
    if ((src->file != NULL) == (src->topic != NULL))
        return segstream_err_set(err, "report source: give exactly one of a file and a topic");
    return src->file ? read_file(src, type, fn, ctx, skipped, err) : read_topic(src, type, fn, ctx, skipped, err);
}
