/* kafka_raw.c - raw Kafka messages for the stage's poison-message test.
 *   kafka_raw produce TOPIC   stdin lines "KEY hex HEX" (those bytes), "KEY trunc JSON"
 *                             (the InterestChange encoded, last 3 bytes cut), "KEY json JSON"
 *                             (encoded as is), "KEY badutf8 JSON" (encoded with the text's
 *                             first byte replaced by 0xFF) -> partition 0, in order
 *   kafka_raw dump TOPIC      partition 0 read_committed to its end: one line per message,
 *                             "key=K value=HEX" then each header as " name=value"
 * Brokers from $SEGSTREAM_BROKERS. A test tool: exits 1 on any error. */
#include "consumer/codec.h"
#include "consumer/codec_json.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *brokers(void)
{
    const char *b = getenv("SEGSTREAM_BROKERS");
    return b && *b ? b : "127.0.0.1:9092";
}

static int die(const char *what)
{
    fprintf(stderr, "kafka_raw: %s\n", what);
    return 1;
}

static int produce(const char *topic)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers(), errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    segstream_err err = {{0}};
    segstream_codec *codec = segstream_codec_new(NULL, &err);
    if (!rk || !codec)
        return die("setup");
    char line[65536];
    segstream_buf buf = {0};
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = '\0';
        char *key = strtok(line, " "), *kind = strtok(NULL, " "), *arg = strtok(NULL, "");
        if (!key || !kind || !arg)
            return die("bad input line");
        segstream_buf_reset(&buf);
        if (!strcmp(kind, "hex")) {
            for (size_t i = 0; arg[i] && arg[i + 1]; i += 2) {
                unsigned v;
                sscanf(arg + i, "%2x", &v);
                uint8_t b = (uint8_t)v;
                segstream_buf_put(&buf, &b, 1);
            }
        } else {
            segstream_record rec = {0};
            if (segstream_record_from_json(SEGSTREAM_RECORD_INTEREST_CHANGE, arg, strlen(arg), &rec, &err))
                return die(err.message);
            if (!strcmp(kind, "badutf8") && rec.interest_change.text)
                rec.interest_change.text[0] = (char)0xFF;
            if (segstream_codec_encode(codec, &rec, SEGSTREAM_FRAMING_SINGLE_OBJECT, 0, &buf, &err))
                return die(err.message);
            segstream_record_clear(&rec);
            if (!strcmp(kind, "trunc"))
                buf.len -= 3;
        }
        if (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                              RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(buf.data, buf.len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END))
            return die("produce");
    }
    if (rd_kafka_flush(rk, 30000))
        return die("flush");
    segstream_buf_free(&buf);
    segstream_codec_free(codec);
    rd_kafka_destroy(rk);
    return 0;
}

static int dump(const char *topic)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers(), errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "group.id", "kafka-raw-dump", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "isolation.level", "read_committed", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk)
        return die(errstr);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, tp);
    rd_kafka_topic_partition_list_destroy(tp);
    for (int idle = 0; idle < 300;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m) {
            idle++;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            break;
        }
        if (m->err)
            return die(rd_kafka_message_errstr(m));
        printf("key=%.*s value=", (int)m->key_len, (const char *)m->key);
        for (size_t i = 0; i < m->len; i++)
            printf("%02x", ((const uint8_t *)m->payload)[i]);
        rd_kafka_headers_t *h = NULL;
        if (!rd_kafka_message_headers(m, &h)) {
            const char *name;
            const void *val;
            size_t len;
            for (size_t i = 0; !rd_kafka_header_get_all(h, i, &name, &val, &len); i++)
                printf(" %s=%.*s", name, (int)len, (const char *)val);
        }
        printf("\n");
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return die("usage: kafka_raw produce|dump TOPIC");
    return !strcmp(argv[1], "produce") ? produce(argv[2]) : !strcmp(argv[1], "dump") ? dump(argv[2]) : die("usage");
}
