/* cmd_consume.c - `segstream consume`: the Avro records of a Kafka topic ->
 * NDJSON on stdout, one record a line.
 *
 * It assigns every partition of the topic directly instead of joining a
 * consumer group: nothing is committed, no group is left behind, and no
 * rebalance delays the start. Reads with isolation.level=read_committed, so
 * it shows what the pipeline's downstream consumers see. Either framing is
 * accepted; messages that do not decode are reported on stderr with their
 * partition and offset and skipped. */
#include "consumer/cli_kafka.h"
#include "consumer/codec.h"
#include "consumer/codec_json.h"
#include "consumer/commands.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: segstream consume --topic T [--brokers B | -c FILE] [--from-beginning] [--timeout S]\n"
            "                         [--max N] [--to-end] [--schema TYPE] [--schema-id ID=TYPE]...\n"
            "                         [--set kafka.key=value]...\n"
            "Prints the records of topic T as NDJSON (read_committed).\n"
            "  -c FILE           the kafka.* keys of a stage configuration (and SEGSTREAM_KAFKA_*, KEY.file)\n"
            "  --from-beginning  start at the earliest offset (default: only new records)\n"
            "  --timeout S       stop after S seconds without a record (default 10; 0 = never)\n"
            "  --max N           stop after N records\n"
            "  --to-end          stop once every partition is read to its end\n"
            "  --schema TYPE     accept only interest_change, segment_change or segment records\n"
            "  --schema-id ID=TYPE  a schema registry id for Confluent-framed records\n");
}

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct consume_opts {
    const char *topic, *brokers, *config_file;
    bool from_beginning, to_end;
    double timeout_s;
    long long max_records; /* 0 = no limit */
    bool filter_type;
    segstream_record_type type;
    char *sets[SEGSTREAM_CLI_MAX_SETS];
    size_t nsets;
} consume_opts;

/* Parses "--schema-id 17=segment" into the codec's registry. */
static int register_id(segstream_codec *codec, const char *arg, segstream_err *err)
{
    char *end;
    errno = 0;
    unsigned long long id = strtoull(arg, &end, 10);
    segstream_record_type type;
    if (errno || end == arg || *end != '=' || id > UINT32_MAX || segstream_record_type_parse(end + 1, &type) < 0)
        return segstream_err_set(err, "--schema-id %s: expected ID=interest_change|segment_change|segment", arg);
    return segstream_codec_register_schema_id(codec, (uint32_t)id, type, err);
}

/* The partition count of the topic, waiting up to timeout_s for it to exist. */
static int partition_count(rd_kafka_t *rk, const char *topic, double timeout_s, segstream_err *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    double deadline = now_s() + (timeout_s > 0 ? timeout_s : 10);
    int n = -1;
    while (n < 0 && !stop_requested) {
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
        if (n < 0 && now_s() > deadline)
            break;
        if (n < 0)
            usleep(200 * 1000);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

static int parse_args(int argc, char **argv, consume_opts *o, segstream_codec *codec)
{
    static const struct option longopts[] = {
        {"topic", required_argument, NULL, 't'},     {"brokers", required_argument, NULL, 'b'},
        {"from-beginning", no_argument, NULL, 'B'},  {"timeout", required_argument, NULL, 'T'},
        {"max", required_argument, NULL, 'n'},       {"to-end", no_argument, NULL, 'E'},
        {"schema", required_argument, NULL, 's'},    {"schema-id", required_argument, NULL, 'i'},
        {"set", required_argument, NULL, 'S'},       {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    segstream_err err = {{0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:b:BT:n:Es:i:S:c:h", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'c': o->config_file = optarg; break;
        case 't': o->topic = optarg; break;
        case 'b': o->brokers = optarg; break;
        case 'B': o->from_beginning = true; break;
        case 'E': o->to_end = true; break;
        case 'T':
            o->timeout_s = strtod(optarg, &end);
            if (*end || end == optarg || o->timeout_s < 0) {
                fprintf(stderr, "segstream consume: --timeout %s: expected seconds >= 0\n", optarg);
                return 2;
            }
            break;
        case 'n':
            o->max_records = strtoll(optarg, &end, 10);
            if (*end || end == optarg || o->max_records < 1) {
                fprintf(stderr, "segstream consume: --max %s: expected a count >= 1\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (segstream_record_type_parse(optarg, &o->type) < 0) {
                fprintf(stderr, "segstream consume: --schema %s: expected interest_change, segment_change or segment\n",
                        optarg);
                return 2;
            }
            o->filter_type = true;
            break;
        case 'i':
            if (register_id(codec, optarg, &err) < 0) {
                fprintf(stderr, "segstream consume: %s\n", err.message);
                return 2;
            }
            break;
        case 'S':
            if (o->nsets == SEGSTREAM_CLI_MAX_SETS) {
                fprintf(stderr, "segstream consume: more than %d --set\n", SEGSTREAM_CLI_MAX_SETS);
                return 2;
            }
            o->sets[o->nsets++] = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!o->topic || optind != argc) {
        usage(stderr);
        return 2;
    }
    return -1; /* go on */
}

/* Prints one message as NDJSON, or reports why it cannot. Returns 1 if printed. */
static int print_message(const segstream_codec *codec, const consume_opts *o, const rd_kafka_message_t *m)
{
    segstream_err err = {{0}};
    segstream_record rec;
    char *line = NULL;
    int printed = 0;
    if (segstream_codec_decode(codec, m->payload, m->len, &rec, NULL, &err) < 0) {
        /* err already says what */
    } else if (o->filter_type && rec.type != o->type) {
        segstream_err_set(&err, "a %s record, not %s", segstream_record_type_name(rec.type),
                          segstream_record_type_name(o->type));
    } else if ((line = segstream_record_to_json(&rec, &err))) {
        puts(line);
        printed = 1;
    }
    if (!printed)
        fprintf(stderr, "segstream consume: %s [%d] offset %lld: skipped: %s\n", o->topic, (int)m->partition,
                (long long)m->offset, err.message);
    free(line);
    segstream_record_clear(&rec);
    return printed;
}

int segstream_cmd_consume(int argc, char **argv)
{
    segstream_err err = {{0}};
    segstream_codec *codec = segstream_codec_new(NULL, &err);
    if (!codec) {
        fprintf(stderr, "segstream consume: %s\n", err.message);
        return 1;
    }
    consume_opts o = {.timeout_s = 10};
    int rc = parse_args(argc, argv, &o, codec);
    if (rc >= 0) {
        segstream_codec_free(codec);
        return rc;
    }
    char group[96];
    snprintf(group, sizeof group, "segstream-consume-%ld-%ld", (long)getpid(), (long)time(NULL));
    const char *const consumer_defaults[] = {
        "group.id", group, /* never joined (partitions are assigned), never committed */
        "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",
        "isolation.level", "read_committed",
        "enable.partition.eof", "true",
        "auto.offset.reset", o.from_beginning ? "earliest" : "latest",
        NULL};
    rd_kafka_conf_t *conf =
        segstream_cli_kafka_conf_from(o.config_file, o.brokers, consumer_defaults, o.sets, o.nsets, &err);
    if (!conf) {
        fprintf(stderr, "segstream consume: %s\n", err.message);
        segstream_codec_free(codec);
        return 2;
    }
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "segstream consume: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        segstream_codec_free(codec);
        return 1;
    }
    rc = 1;
    bool *at_end = NULL;
    if (segstream_kafka_wait_connected(rk, o.timeout_s > 0 ? (int)(o.timeout_s * 1000) : 30000, &err) < 0) {
        fprintf(stderr, "segstream consume: %s\n", err.message);
        goto done;
    }
    rd_kafka_poll_set_consumer(rk);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int partitions = partition_count(rk, o.topic, o.timeout_s, &err);
    if (partitions < 0) {
        fprintf(stderr, "segstream consume: %s\n", err.message);
        goto done;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(parts, o.topic, p)->offset =
            o.from_beginning ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
    rd_kafka_resp_err_t kerr = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (kerr) {
        fprintf(stderr, "segstream consume: assign %s: %s\n", o.topic, rd_kafka_err2str(kerr));
        goto done;
    }
    at_end = calloc((size_t)partitions, sizeof *at_end);
    long long printed = 0, skipped = 0;
    int ended = 0;
    double last = now_s();
    rc = 0;
    while (!stop_requested && (!o.max_records || printed < o.max_records)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (segstream_kafka_auth_check(&err) < 0) {
            fprintf(stderr, "segstream consume: %s\n", err.message);
            if (m)
                rd_kafka_message_destroy(m);
            rc = 1;
            break;
        }
        if (!m) {
            if (o.timeout_s > 0 && now_s() - last >= o.timeout_s)
                break;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < partitions && !at_end[m->partition]) {
                at_end[m->partition] = true;
                ended++;
            }
            rd_kafka_message_destroy(m);
            if (o.to_end && ended == partitions)
                break;
            continue;
        }
        if (m->err) {
            fprintf(stderr, "segstream consume: %s\n", rd_kafka_message_errstr(m));
            bool fatal = m->err == RD_KAFKA_RESP_ERR__FATAL || m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
            rd_kafka_message_destroy(m);
            if (fatal) {
                rc = 1;
                break;
            }
            continue;
        }
        last = now_s();
        if (m->partition >= 0 && m->partition < partitions && at_end[m->partition]) {
            at_end[m->partition] = false;
            ended--;
        }
        if (print_message(codec, &o, m))
            printed++;
        else
            skipped++;
        rd_kafka_message_destroy(m);
    }
    fflush(stdout);
    fprintf(stderr, "segstream consume: %lld records from %s, %lld skipped\n", printed, o.topic, skipped);
done:
    free(at_end);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    segstream_codec_free(codec);
    return rc;
}
