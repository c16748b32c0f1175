/* cmd_replay.c - `segstream replay`: the stage over a fixed range of the
 * input topic, into another output topic, from a fresh or a given state.
 *
 * Start: --from-offset P:O,... (those partitions only) or --from-time T (every
 * partition, at the first offset whose record timestamp is >= T, Kafka's
 * offsetsForTimes). End (exclusive): --to-time T2 the same way, else the log
 * end of each partition when the replay starts. Between them the same loop as
 * the live stage (kafka_stage.c) runs with its own consumer group and
 * transactional id, never writing the state topic; the partition merge waits
 * for every partition until its end (no idle timeout), so the order and hence
 * the output equal the live run's for the same events from the same state.
 *
 * Record timestamps are those of the input topic (produce time unless the
 * producers set them); `segstream state export` gives a snapshot and the
 * committed offsets it belongs to, which is what --state and --from-offset
 * take. */
#define _XOPEN_SOURCE 700 /* strptime */
#include "consumer/cli_kafka.h"
#include "consumer/commands.h"
#include "consumer/config.h"
#include "consumer/kafka_stage.h"
#include "consumer/log.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: segstream replay -c FILE (--from-offset P:O[,P:O...] | --from-time T) [--to-time T2]\n"
            "                        --output-topic TOPIC [--segments-topic TOPIC] [--state FILE|fresh]\n"
            "                        [--group ID] [--set key=value]...\n\n"
            "  --from-offset P:O,... start partition P of topics.input at offset O (only the partitions named)\n"
            "  --from-time T         start every partition at its first record with timestamp >= T\n"
            "  --to-time T2          stop before the first record with timestamp >= T2 (default: the log end\n"
            "                        when the replay starts)\n"
            "  --output-topic TOPIC  where the segment changes go (must not be topics.output)\n"
            "  --segments-topic TOPIC  catalog records (default TOPIC.segments)\n"
            "  --state FILE|fresh    start from a snapshot (segstream state export) or an empty model (default)\n"
            "  --group ID            consumer group and transactional id (default <group.id>-replay-<TOPIC>)\n"
            "Times: milliseconds since the epoch, or 2026-11-27T10:00:00Z.\n"
            "Exit status: 0 the range was replayed, 1 failure, 2 bad usage or configuration.\n");
}

static int parse_time(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!errno && end != s && !*end && v >= 0) {
        *out = v;
        return 0;
    }
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest || (*rest && strcmp(rest, "Z")))
        return -1;
    *out = (int64_t)timegm(&tm) * 1000;
    return 0;
}

static int parse_offsets(const char *s, const char *topic, rd_kafka_topic_partition_list_t *l)
{
    while (*s) {
        char *end;
        errno = 0;
        long p = strtol(s, &end, 10);
        if (errno || end == s || *end != ':' || p < 0 || p > INT32_MAX)
            return -1;
        s = end + 1;
        long long o = strtoll(s, &end, 10);
        if (errno || end == s || o < 0 || (*end && *end != ','))
            return -1;
        if (rd_kafka_topic_partition_list_find(l, topic, (int32_t)p))
            return -1;
        rd_kafka_topic_partition_list_add(l, topic, (int32_t)p)->offset = o;
        s = *end ? end + 1 : end;
    }
    return l->cnt ? 0 : -1;
}

/* The partitions of topic (metadata), into l with offset = `offset`. */
static int all_partitions(rd_kafka_t *rk, const char *topic, int64_t offset, rd_kafka_topic_partition_list_t *l,
                          segstream_err *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 30000);
    rd_kafka_topic_destroy(rkt);
    if (e)
        return segstream_err_set(err, "metadata of %s: %s", topic, rd_kafka_err2str(e));
    int rc = 0;
    if (md->topic_cnt != 1 || md->topics[0].err || !md->topics[0].partition_cnt)
        rc = segstream_err_set(err, "topic %s: %s", topic,
                               md->topic_cnt == 1 && md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                                                       : "no partitions");
    for (int i = 0; !rc && i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[i].id)->offset = offset;
    rd_kafka_metadata_destroy(md);
    return rc;
}

/* Offsets for times in place; a partition with no record at or after the
 * time gets its log end. */
static int offsets_for_times(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, segstream_err *err)
{
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, 30000);
    if (e)
        return segstream_err_set(err, "offsets for times: %s", rd_kafka_err2str(e));
    for (int i = 0; i < l->cnt; i++) {
        if (l->elems[i].err)
            return segstream_err_set(err, "offsets for times, partition %" PRId32 ": %s", l->elems[i].partition,
                                     rd_kafka_err2str(l->elems[i].err));
        if (l->elems[i].offset < 0) {
            int64_t lo, hi;
            e = rd_kafka_query_watermark_offsets(rk, l->elems[i].topic, l->elems[i].partition, &lo, &hi, 30000);
            if (e)
                return segstream_err_set(err, "log end of partition %" PRId32 ": %s", l->elems[i].partition,
                                         rd_kafka_err2str(e));
            l->elems[i].offset = hi;
        }
    }
    return 0;
}

static int log_ends(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *l, segstream_err *err)
{
    for (int i = 0; i < l->cnt; i++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, l->elems[i].topic, l->elems[i].partition, &lo, &hi, 30000);
        if (e)
            return segstream_err_set(err, "log end of partition %" PRId32 ": %s", l->elems[i].partition,
                                     rd_kafka_err2str(e));
        l->elems[i].offset = hi;
    }
    return 0;
}

static int read_file(const char *path, uint8_t **data, size_t *len, segstream_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return segstream_err_set(err, "--state %s: %s", path, strerror(errno));
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        uint8_t *grown = realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown, cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return segstream_err_set(err, "--state %s: %s", path, buf ? "read error" : "out of memory");
    }
    *data = buf, *len = n;
    return 0;
}

int segstream_cmd_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},      {"set", required_argument, 0, 's'},
        {"from-offset", required_argument, 0, 'o'}, {"from-time", required_argument, 0, 'f'},
        {"to-time", required_argument, 0, 't'},     {"output-topic", required_argument, 0, 'O'},
        {"segments-topic", required_argument, 0, 'S'}, {"state", required_argument, 0, 'x'},
        {"group", required_argument, 0, 'g'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *file = NULL, *from_offset = NULL, *output = NULL, *segments = NULL, *state = "fresh",
               *group = NULL;
    int64_t from_time = -1, to_time = -1;
    segstream_config_sets sets = {0};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': file = optarg; break;
        case 's':
            if (segstream_config_sets_add(&sets, optarg, "segstream replay"))
                return 2;
            break;
        case 'o': from_offset = optarg; break;
        case 'f':
        case 't':
            if (parse_time(optarg, c == 'f' ? &from_time : &to_time)) {
                fprintf(stderr, "segstream replay: bad time '%s' (epoch milliseconds or 2026-11-27T10:00:00Z)\n",
                        optarg);
                return 2;
            }
            break;
        case 'O': output = optarg; break;
        case 'S': segments = optarg; break;
        case 'x': state = optarg; break;
        case 'g': group = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || !output || (!from_offset) == (from_time < 0)) {
        fprintf(stderr, "segstream replay: %s\n",
                optind < argc ? "unexpected argument"
                : !output     ? "--output-topic is required"
                              : "give exactly one of --from-offset and --from-time");
        usage(stderr);
        return 2;
    }
    segstream_err err = {{0}};
    segstream_config *cfg = segstream_config_load(file, sets.arg, sets.n, &err);
    if (!cfg) {
        fprintf(stderr, "segstream replay: %s\n", err.message);
        return 2;
    }
    if (!strcmp(output, segstream_config_string(cfg, "topics.output"))) {
        fprintf(stderr, "segstream replay: --output-topic %s is topics.output, the live stage's output; replay into "
                        "another topic\n",
                output);
        segstream_config_free(cfg);
        return 2;
    }
    segstream_log_level lvl;
    if (!segstream_log_level_parse(segstream_config_get(cfg, "log.level"), &lvl))
        segstream_log_set_level(lvl);

    int status = 1;
    char group_buf[512], txid[600], seg_buf[512];
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    rd_kafka_t *rk = NULL;
    const char *t_in = segstream_config_string(cfg, "topics.input");
    rd_kafka_topic_partition_list_t *start = rd_kafka_topic_partition_list_new(4), *end = NULL;
    if (!group) {
        snprintf(group_buf, sizeof group_buf, "%s-replay-%s", segstream_config_string(cfg, "group.id"), output);
        group = group_buf;
    }
    snprintf(txid, sizeof txid, "%s-%s", group, segstream_config_string(cfg, "instance.id"));
    if (!segments) {
        snprintf(seg_buf, sizeof seg_buf, "%s.segments", output);
        segments = seg_buf;
    }
    if (strcmp(state, "fresh") && read_file(state, &blob, &blob_len, &err))
        goto fail;

    /* A plain client to find the range. */
    rd_kafka_conf_t *conf = segstream_cli_stage_kafka_conf(cfg, &err);
    if (!conf)
        goto fail;
    char errstr[512];
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        segstream_err_set(&err, "consumer: %s", errstr);
        goto fail;
    }
    if (from_offset) {
        if (parse_offsets(from_offset, t_in, start)) {
            fprintf(stderr, "segstream replay: bad --from-offset '%s' (P:O[,P:O...], each partition once)\n",
                    from_offset);
            status = 2;
            goto done;
        }
    } else if (all_partitions(rk, t_in, from_time, start, &err) || offsets_for_times(rk, start, &err)) {
        goto fail;
    }
    end = rd_kafka_topic_partition_list_copy(start);
    for (int i = 0; i < end->cnt; i++)
        end->elems[i].offset = to_time;
    if (to_time >= 0 ? offsets_for_times(rk, end, &err) : log_ends(rk, end, &err))
        goto fail;
    for (int i = 0; i < start->cnt; i++)
        segstream_log_info("replay partition %" PRId32 ": offsets %" PRId64 "..%" PRId64, start->elems[i].partition,
                           start->elems[i].offset, end->elems[i].offset);
    rd_kafka_destroy(rk);
    rk = NULL;

    segstream_kafka_stage_options o = {.cfg = cfg,
                                       .exit_when_idle_ms = 0,
                                       .start = start,
                                       .end = end,
                                       .group_id = group,
                                       .transactional_id = txid,
                                       .output_topic = output,
                                       .segments_topic = segments,
                                       .state = blob,
                                       .state_len = blob_len};
    status = segstream_kafka_stage_run(&o);
    goto done;
fail:
    fprintf(stderr, "segstream replay: %s\n", err.message);
done:
    if (rk)
        rd_kafka_destroy(rk);
    rd_kafka_topic_partition_list_destroy(start);
    if (end)
        rd_kafka_topic_partition_list_destroy(end);
    free(blob);
    segstream_config_free(cfg);
    return status;
}
