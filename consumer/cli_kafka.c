/* cli_kafka.c - librdkafka configuration for the command-line tools. */
#include "consumer/cli_kafka.h"

#include <stdlib.h>
#include <string.h>

const char *segstream_cli_brokers(const char *flag)
{
    if (flag && *flag)
        return flag;
    const char *env = getenv("SEGSTREAM_BROKERS");
    return env && *env ? env : "127.0.0.1:9092";
}

int segstream_cli_kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                            segstream_err *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return segstream_err_set(err, "kafka setting %s=%s: %s", key, value, errstr);
    return 0;
}

rd_kafka_conf_t *segstream_cli_kafka_conf(const char *brokers, const char *const *defaults,
                                          char *const *sets, size_t nsets, segstream_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (segstream_cli_kafka_set(conf, "bootstrap.servers", brokers, err) < 0)
        goto fail;
    for (size_t i = 0; defaults && defaults[i] && defaults[i + 1]; i += 2)
        if (segstream_cli_kafka_set(conf, defaults[i], defaults[i + 1], err) < 0)
            goto fail;
    for (size_t i = 0; i < nsets; i++) {
        const char *eq = strchr(sets[i], '=');
        if (!eq || eq == sets[i]) {
            segstream_err_set(err, "--set %s: expected key=value", sets[i]);
            goto fail;
        }
        char key[256];
        size_t n = (size_t)(eq - sets[i]);
        if (n >= sizeof key) {
            segstream_err_set(err, "--set: key too long");
            goto fail;
        }
        memcpy(key, sets[i], n);
        key[n] = '\0';
        if (segstream_cli_kafka_set(conf, key, eq + 1, err) < 0)
            goto fail;
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int segstream_cli_create_topic(rd_kafka_t *rk, const char *topic, int partitions, int timeout_ms,
                               segstream_err *err)
{
    char errstr[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, errstr, sizeof errstr);
    if (!nt)
        return segstream_err_set(err, "topic %s: %s", topic, errstr);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, timeout_ms, errstr, sizeof errstr);
    rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
    int rc = segstream_err_set(err, "creating topic %s: no answer within %d ms", topic, timeout_ms);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    if (ev && rd_kafka_event_error(ev)) {
        rc = segstream_err_set(err, "creating topic %s: %s", topic, rd_kafka_event_error_string(ev));
    } else if (ev) {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t n = 0;
        const rd_kafka_topic_result_t **results = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        rd_kafka_resp_err_t terr = n ? rd_kafka_topic_result_error(results[0]) : RD_KAFKA_RESP_ERR_UNKNOWN;
        if (terr == RD_KAFKA_RESP_ERR_NO_ERROR || terr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            rc = 0;
        else
            rc = segstream_err_set(err, "creating topic %s: %s", topic,
                                   n && rd_kafka_topic_result_error_string(results[0])
                                       ? rd_kafka_topic_result_error_string(results[0])
                                       : rd_kafka_err2str(terr));
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    return rc;
}
