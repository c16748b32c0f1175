/* cmd_produce.c - `segstream produce`: NDJSON records on stdin -> Avro records
 * on a Kafka topic, keyed like the pipeline keys them (user id, or segment id
 * for the catalog). The producer is idempotent and partitions with
 * murmur2_random, as the Java clients do, so keys land where other tools
 * expect; every record's delivery is checked and any failure makes the exit
 * status non-zero. Bad input lines are reported with their line number and
 * skipped. */
#include "consumer/cli_kafka.h"
#include "consumer/codec.h"
#include "consumer/codec_json.h"
#include "consumer/commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: segstream produce --topic T [--brokers B | -c FILE] [--schema TYPE]\n"
            "                         [--framing single-object|confluent --schema-id N]\n"
            "                         [--set kafka.key=value]... [--create-topic N]\n"
            "Reads one JSON record a line on stdin and produces it Avro-encoded to topic T.\n"
            "  --schema     interest_change (default), segment_change or segment\n"
            "  --brokers    bootstrap servers (default $SEGSTREAM_BROKERS or 127.0.0.1:9092)\n"
            "  -c FILE      the kafka.* keys of a stage configuration (and SEGSTREAM_KAFKA_*, KEY.file)\n"
            "  --framing    single-object (default: C3 01 + fingerprint) or confluent (00 + id)\n"
            "  --set        a librdkafka setting, e.g. --set compression.type=lz4\n"
            "  --create-topic N  create the topic with N partitions first if it does not exist\n"
            "Exit status: 0 all delivered, 1 a line was invalid or a delivery failed, 2 bad usage.\n");
}

typedef struct delivery_stats {
    size_t delivered;
    size_t failed;
} delivery_stats;

/* Runs on the thread that calls rd_kafka_poll/flush (this one). */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    delivery_stats *stats = opaque;
    if (msg->err) {
        stats->failed++;
        fprintf(stderr, "segstream produce: line %zu: delivery failed: %s\n", (size_t)(uintptr_t)msg->_private,
                rd_kafka_err2str(msg->err));
    } else {
        stats->delivered++;
    }
}

int segstream_cmd_produce(int argc, char **argv)
{
    const char *topic = NULL, *brokers = NULL, *config_file = NULL, *schema = "interest_change", *framing_name = "single-object";
    long long schema_id = -1;
    int create_partitions = 0;
    char *sets[SEGSTREAM_CLI_MAX_SETS];
    size_t nsets = 0;
    static const struct option longopts[] = {
        {"topic", required_argument, NULL, 't'},   {"brokers", required_argument, NULL, 'b'},
        {"schema", required_argument, NULL, 's'},  {"framing", required_argument, NULL, 'f'},
        {"schema-id", required_argument, NULL, 'i'}, {"set", required_argument, NULL, 'S'},
        {"create-topic", required_argument, NULL, 'P'}, {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    /* -c is the configuration, as for `segstream run`; --create-topic has no short form. */
    while ((c = getopt_long(argc, argv, "t:b:s:f:i:S:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_file = optarg; break;
        case 't': topic = optarg; break;
        case 'b': brokers = optarg; break;
        case 's': schema = optarg; break;
        case 'f': framing_name = optarg; break;
        case 'i': {
            char *end;
            errno = 0;
            schema_id = strtoll(optarg, &end, 10);
            if (errno || *end || schema_id < 0 || schema_id > UINT32_MAX) {
                fprintf(stderr, "segstream produce: --schema-id %s: expected 0..%u\n", optarg, UINT32_MAX);
                return 2;
            }
            break;
        }
        case 'S':
            if (nsets == SEGSTREAM_CLI_MAX_SETS) {
                fprintf(stderr, "segstream produce: more than %d --set\n", SEGSTREAM_CLI_MAX_SETS);
                return 2;
            }
            sets[nsets++] = optarg;
            break;
        case 'P':
            create_partitions = atoi(optarg);
            if (create_partitions < 1) {
                fprintf(stderr, "segstream produce: --create-topic %s: expected a partition count >= 1\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    segstream_record_type type;
    segstream_framing framing = SEGSTREAM_FRAMING_SINGLE_OBJECT;
    if (!topic || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (segstream_record_type_parse(schema, &type) < 0) {
        fprintf(stderr, "segstream produce: --schema %s: expected interest_change, segment_change or segment\n", schema);
        return 2;
    }
    if (!strcmp(framing_name, "confluent")) {
        framing = SEGSTREAM_FRAMING_CONFLUENT;
        if (schema_id < 0) {
            fprintf(stderr, "segstream produce: --framing confluent needs --schema-id\n");
            return 2;
        }
    } else if (strcmp(framing_name, "single-object")) {
        fprintf(stderr, "segstream produce: --framing %s: expected single-object or confluent\n", framing_name);
        return 2;
    }

    segstream_err err = {{0}};
    segstream_codec *codec = segstream_codec_new(NULL, &err);
    if (!codec) {
        fprintf(stderr, "segstream produce: %s\n", err.message);
        return 1;
    }
    delivery_stats stats = {0};
    static const char *const producer_defaults[] = {
        "enable.idempotence", "true",   /* no duplicates or reordering on retries */
        "partitioner", "murmur2_random", /* the Java clients' key -> partition mapping */
        "linger.ms", "5", NULL};
    rd_kafka_conf_t *conf = segstream_cli_kafka_conf_from(config_file, brokers, producer_defaults, sets, nsets, &err);
    if (!conf) {
        fprintf(stderr, "segstream produce: %s\n", err.message);
        segstream_codec_free(codec);
        return 2;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &stats);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "segstream produce: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        segstream_codec_free(codec);
        return 1;
    }

    if (segstream_kafka_wait_connected(rk, 30000, &err) < 0 ||
        (create_partitions && segstream_cli_create_topic(rk, topic, create_partitions, 30000, &err) < 0)) {
        fprintf(stderr, "segstream produce: %s\n", err.message);
        rd_kafka_destroy(rk);
        segstream_codec_free(codec);
        return 1;
    }

    size_t lineno = 0, bad_lines = 0, sent = 0, refused = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    segstream_buf buf = {0};
    while ((len = getline(&line, &cap, stdin)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        segstream_record rec;
        if (segstream_record_from_json(type, line, (size_t)len, &rec, &err) < 0 ||
            segstream_codec_encode(codec, &rec, framing, (uint32_t)schema_id, &buf, &err) < 0) {
            fprintf(stderr, "segstream produce: line %zu: %s\n", lineno, err.message);
            bad_lines++;
            segstream_record_clear(&rec);
            continue;
        }
        char keybuf[24];
        size_t keylen;
        const char *key = segstream_record_key(&rec, keybuf, &keylen);
        rd_kafka_resp_err_t kerr;
        for (;;) {
            kerr = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
                                     RD_KAFKA_V_VALUE(buf.data, buf.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                     RD_KAFKA_V_OPAQUE((void *)(uintptr_t)lineno), RD_KAFKA_V_END);
            if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(rk, 100); /* the queue drains as deliveries complete */
        }
        segstream_record_clear(&rec);
        if (kerr) {
            fprintf(stderr, "segstream produce: line %zu: %s\n", lineno, rd_kafka_err2str(kerr));
            refused++;
            if (kerr == RD_KAFKA_RESP_ERR__FATAL)
                break;
            continue;
        }
        sent++;
        rd_kafka_poll(rk, 0);
    }
    free(line);
    segstream_buf_free(&buf);

    rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, 60 * 1000);
    if (segstream_kafka_auth_check(&err) < 0)
        fprintf(stderr, "segstream produce: %s\n", err.message);
    int undelivered = rd_kafka_outq_len(rk);
    if (ferr || undelivered > 0)
        fprintf(stderr, "segstream produce: %d records still undelivered after 60 s: %s\n", undelivered,
                rd_kafka_err2str(ferr));
    fprintf(stderr, "segstream produce: %zu delivered to %s, %zu failed, %zu invalid lines\n", stats.delivered,
            topic, stats.failed + refused + (size_t)(undelivered > 0 ? undelivered : 0), bad_lines);
    int ok = bad_lines == 0 && refused == 0 && stats.failed == 0 && stats.delivered == sent && undelivered == 0;
    rd_kafka_destroy(rk);
    segstream_codec_free(codec);
    return ok ? 0 : 1;
}
