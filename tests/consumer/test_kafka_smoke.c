/* test_kafka_smoke.c - the codec against a real broker: 100 varied
 * InterestChange records (every op, null and non-null optional fields,
 * Chinese, emoji, long texts) produced with librdkafka to a fresh topic,
 * read back with read_committed, and compared field by field; keys and
 * per-key order checked too. Needs the `kafka` fixture. */
#include "consumer/cli_kafka.h"
#include "consumer/codec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define N_RECORDS 100
#define N_PARTITIONS 3

static const char *texts[] = {
    "hiking in the alps and sourdough baking",
    "\xe6\x88\x91\xe5\x96\x9c\xe6\xac\xa2\xe7\xa7\x91\xe5\xb9\xbb\xe5\xb0\x8f\xe8\xaf\xb4\xe5\x92\x8c\xe7\x88\xb5\xe5\xa3\xab\xe4\xb9\x90", /* Chinese */
    "jazz guitar \xf0\x9f\x8e\xb8 and caf\xc3\xa9s", "", "quotes \" backslash \\ tab\t newline\n end",
};

static void make_record(segstream_record *r, int i, long run)
{
    segstream_record_init(r, SEGSTREAM_RECORD_INTEREST_CHANGE);
    segstream_interest_change *ic = &r->interest_change;
    char buf[128];
    snprintf(buf, sizeof buf, "smoke-%ld-%03d", run, i);
    ic->event_id = strdup(buf);
    snprintf(buf, sizeof buf, "user-%d-\xe7\x94\xa8\xe6\x88\xb7", i % 17); /* repeated keys */
    ic->user_id = strdup(buf);
    ic->event_time = 1764255600000 + (int64_t)i * 1000 - (i % 5 == 0 ? 86400000 : 0);
    ic->op = (segstream_op)(i % 3);
    if (ic->op != SEGSTREAM_OP_DELETE) {
        if (i % 10 == 9) {
            char *long_text = malloc(4001);
            memset(long_text, 'w', 4000);
            long_text[4000] = '\0';
            ic->text = long_text;
        } else {
            ic->text = strdup(texts[i % 5]);
        }
    }
    if (i % 2)
        ic->source = strdup("smoke-test");
    if (i % 4 == 1)
        ic->locale = strdup(i % 8 == 1 ? "zh-CN" : "en");
}

static void produce_consume_compare(void **state)
{
    (void)state;
    const char *brokers = segstream_cli_brokers(NULL);
    segstream_err err = {{0}};
    segstream_codec *codec = segstream_codec_new(NULL, &err);
    assert_non_null(codec);
    long run = (long)time(NULL) * 1000 + getpid() % 1000;
    char topic[96];
    snprintf(topic, sizeof topic, "segstream-smoke-%ld", run);

    /* Producer, as the pipeline configures it: idempotent, Java-compatible keys. */
    static const char *const prod_conf[] = {"enable.idempotence", "true", "partitioner", "murmur2_random", NULL};
    rd_kafka_conf_t *conf = segstream_cli_kafka_conf(brokers, prod_conf, NULL, 0, &err);
    assert_non_null(conf);
    char errstr[512];
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(prod);
    if (segstream_cli_create_topic(prod, topic, N_PARTITIONS, 30000, &err) < 0)
        fail_msg("%s", err.message);

    segstream_record sent[N_RECORDS];
    segstream_buf buf = {0};
    for (int i = 0; i < N_RECORDS; i++) {
        make_record(&sent[i], i, run);
        assert_int_equal(segstream_codec_encode(codec, &sent[i], SEGSTREAM_FRAMING_SINGLE_OBJECT, 0, &buf, &err), 0);
        const char *key = sent[i].interest_change.user_id;
        rd_kafka_resp_err_t kerr = rd_kafka_producev(
            prod, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE(buf.data, buf.len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        assert_int_equal(kerr, RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(prod, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_outq_len(prod), 0);

    /* Consumer: every partition assigned from the beginning, read_committed. */
    static const char *const cons_conf[] = {"group.id", "segstream-smoke", "enable.auto.commit", "false",
                                            "isolation.level", "read_committed", NULL};
    conf = segstream_cli_kafka_conf(brokers, cons_conf, NULL, 0, &err);
    assert_non_null(conf);
    rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(cons);
    rd_kafka_poll_set_consumer(cons);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(N_PARTITIONS);
    for (int p = 0; p < N_PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(cons, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);

    int seen[N_RECORDS] = {0}, got = 0, partition_of_key[17], last_index_of_key[17];
    for (int k = 0; k < 17; k++)
        partition_of_key[k] = last_index_of_key[k] = -1;
    time_t deadline = time(NULL) + 60;
    while (got < N_RECORDS && time(NULL) < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(cons, 500);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        segstream_record rec;
        if (segstream_codec_decode(codec, m->payload, m->len, &rec, NULL, &err) < 0)
            fail_msg("partition %d offset %lld: %s", (int)m->partition, (long long)m->offset, err.message);
        int i = -1;
        sscanf(rec.interest_change.event_id + strlen(rec.interest_change.event_id) - 3, "%d", &i);
        assert_true(i >= 0 && i < N_RECORDS);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        got++;
        if (!segstream_record_equal(&rec, &sent[i]))
            fail_msg("record %d differs after the round trip through Kafka", i);
        /* Key = user id; one key, one partition, produce order kept. */
        assert_int_equal(m->key_len, strlen(sent[i].interest_change.user_id));
        assert_memory_equal(m->key, sent[i].interest_change.user_id, m->key_len);
        int k = i % 17;
        if (partition_of_key[k] < 0)
            partition_of_key[k] = m->partition;
        assert_int_equal(partition_of_key[k], m->partition);
        assert_true(i > last_index_of_key[k]);
        last_index_of_key[k] = i;
        segstream_record_clear(&rec);
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(got, N_RECORDS);
    printf("%d records through %s and back, all equal\n", got, topic);

    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    /* The topic is throwaway: delete it so repeated runs leave nothing behind. */
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(prod);
    rd_kafka_DeleteTopics(prod, &dt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(dt);
    rd_kafka_destroy(prod);
    for (int i = 0; i < N_RECORDS; i++)
        segstream_record_clear(&sent[i]);
    segstream_buf_free(&buf);
    segstream_codec_free(codec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(produce_consume_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
