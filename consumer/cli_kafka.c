/* cli_kafka.c - librdkafka configuration for the command-line tools, and the
 * watch on authentication and TLS failures. The watch is one process-wide
 * record under a mutex: error callbacks run on whichever thread serves a
 * handle's queue, and the first failure is the one worth reporting (later
 * ones are its consequences, e.g. "all brokers down"). */
#include "consumer/cli_kafka.h"
#include "consumer/config.h"
#include "consumer/redact.h"

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
    pthread_mutex_t lock;
    bool failed;
    char failure[SEGSTREAM_ERR_MESSAGE_MAX]; /* the first auth/TLS failure, described */
    char last[256];                          /* the last error of any kind, for timeouts */
} g_watch = {PTHREAD_MUTEX_INITIALIZER, false, "", ""};

static void conf_value(const rd_kafka_conf_t *conf, const char *key, char *out, size_t size)
{
    size_t n = size;
    if (!conf || rd_kafka_conf_get(conf, key, out, &n) != RD_KAFKA_CONF_OK || !out[0])
        snprintf(out, size, "(not set)");
}

/* Runs on the thread serving rk's queue. Only names and the client's own
 * settings go into the description, never a password. */
void segstream_kafka_record_error(rd_kafka_t *rk, int code, const char *reason)
{
    rd_kafka_resp_err_t e = (rd_kafka_resp_err_t)code;
    bool auth = e == RD_KAFKA_RESP_ERR__AUTHENTICATION || e == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED;
    /* librdkafka 2.0 reports a TLS failure as __SSL when it meets it in its
     * handshake step, but as __TRANSPORT with OpenSSL's text when an I/O
     * event meets it first (timing decides); "in state SSL_HANDSHAKE" plus an
     * OpenSSL error code tells the latter from a plain disconnect. */
    bool tls = e == RD_KAFKA_RESP_ERR__SSL ||
               (e == RD_KAFKA_RESP_ERR__TRANSPORT && reason && strstr(reason, "in state SSL_HANDSHAKE") &&
                strstr(reason, "error:"));
    char protocol[64], mechanism[64], user[128], ca[256], what[SEGSTREAM_ERR_MESSAGE_MAX] = "";
    if (auth || tls) {
        const rd_kafka_conf_t *conf = rd_kafka_conf(rk);
        conf_value(conf, "security.protocol", protocol, sizeof protocol);
        for (char *c = protocol; *c; c++) /* librdkafka reads it back lower-case; docs write SASL_SSL */
            *c = (char)toupper((unsigned char)*c);
        if (auth) {
            conf_value(conf, "sasl.mechanisms", mechanism, sizeof mechanism);
            conf_value(conf, "sasl.username", user, sizeof user);
            snprintf(what, sizeof what,
                     "kafka: authentication failed (%s, SASL %s as user %s): %s; check kafka.sasl.username, "
                     "kafka.sasl.password (or SEGSTREAM_KAFKA_SASL_PASSWORD[_FILE]) and kafka.sasl.mechanisms",
                     protocol, mechanism, user, reason ? reason : rd_kafka_err2str(e));
        } else {
            conf_value(conf, "ssl.ca.location", ca, sizeof ca);
            snprintf(what, sizeof what,
                     "kafka: TLS handshake failed (%s, ssl.ca.location %s): %s; set kafka.ssl.ca.location to the "
                     "CA that signed the brokers' certificates",
                     protocol, ca, reason ? reason : rd_kafka_err2str(e));
        }
    }
    pthread_mutex_lock(&g_watch.lock);
    if (what[0] && !g_watch.failed) {
        g_watch.failed = true;
        memcpy(g_watch.failure, what, sizeof what);
    }
    snprintf(g_watch.last, sizeof g_watch.last, "%s", reason ? reason : rd_kafka_err2str(e));
    pthread_mutex_unlock(&g_watch.lock);
}

static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    (void)opaque;
    segstream_kafka_record_error(rk, code, reason);
}

void segstream_kafka_watch_errors(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_error_cb(conf, on_error);
}

int segstream_kafka_auth_check(segstream_err *err)
{
    pthread_mutex_lock(&g_watch.lock);
    int rc = g_watch.failed ? segstream_err_set(err, "%s", g_watch.failure) : 0;
    pthread_mutex_unlock(&g_watch.lock);
    return rc;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int segstream_kafka_wait_connected(rd_kafka_t *rk, int timeout_ms, segstream_err *err)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md, 500);
        if (md)
            rd_kafka_metadata_destroy(md);
        rd_kafka_poll(rk, e ? 100 : 0); /* serves on_error */
        if (segstream_kafka_auth_check(err))
            return -1;
        if (!e)
            return 0;
        if (now_ms() >= deadline) {
            char brokers[512], last[sizeof g_watch.last];
            conf_value(rd_kafka_conf(rk), "bootstrap.servers", brokers, sizeof brokers);
            pthread_mutex_lock(&g_watch.lock);
            memcpy(last, g_watch.last, sizeof last);
            pthread_mutex_unlock(&g_watch.lock);
            return segstream_err_set(err,
                                     "kafka.bootstrap.servers = %s: no broker answered within %.1f s (%s); check "
                                     "the host names and ports and that the brokers run and are reachable",
                                     brokers, timeout_ms / 1000.0, last[0] ? last : rd_kafka_err2str(e));
        }
    }
}

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
        return segstream_err_set(err, "kafka setting %s=%s: %s", key, segstream_redact(key, value), errstr);
    return 0;
}

/* bootstrap.servers, the tool's defaults, then --set, onto conf; 0 or -1. */
static int apply_cli(rd_kafka_conf_t *conf, const char *brokers, const char *const *defaults, char *const *sets,
                     size_t nsets, segstream_err *err)
{
    if (segstream_cli_kafka_set(conf, "bootstrap.servers", brokers, err) < 0)
        return -1;
    for (size_t i = 0; defaults && defaults[i] && defaults[i + 1]; i += 2)
        if (segstream_cli_kafka_set(conf, defaults[i], defaults[i + 1], err) < 0)
            return -1;
    for (size_t i = 0; i < nsets; i++) {
        const char *eq = strchr(sets[i], '=');
        if (!eq || eq == sets[i])
            return segstream_err_set(err, "--set %s: expected key=value", sets[i]);
        char key[256];
        size_t n = (size_t)(eq - sets[i]);
        if (n >= sizeof key)
            return segstream_err_set(err, "--set: key too long");
        memcpy(key, sets[i], n);
        key[n] = '\0';
        if (segstream_cli_kafka_set(conf, key, eq + 1, err) < 0)
            return -1;
    }
    segstream_kafka_watch_errors(conf);
    return 0;
}

rd_kafka_conf_t *segstream_cli_kafka_conf(const char *brokers, const char *const *defaults,
                                          char *const *sets, size_t nsets, segstream_err *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (apply_cli(conf, brokers, defaults, sets, nsets, err) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

rd_kafka_conf_t *segstream_cli_kafka_conf_from(const char *config_file, const char *brokers_flag,
                                               const char *const *defaults, char *const *sets, size_t nsets,
                                               segstream_err *err)
{
    if (!config_file)
        return segstream_cli_kafka_conf(segstream_cli_brokers(brokers_flag), defaults, sets, nsets, err);
    segstream_config *cfg = segstream_config_load(config_file, NULL, 0, err);
    if (!cfg)
        return NULL;
    char brokers[1024];
    snprintf(brokers, sizeof brokers, "%s",
             brokers_flag && *brokers_flag ? brokers_flag : segstream_config_get(cfg, "kafka.bootstrap.servers"));
    rd_kafka_conf_t *conf = segstream_config_kafka_conf(cfg, err);
    segstream_config_free(cfg);
    /* The tool's own settings and --set go on top of the file's keys. */
    if (conf && apply_cli(conf, brokers, defaults, sets, nsets, err) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

rd_kafka_conf_t *segstream_cli_stage_kafka_conf(const segstream_config *cfg, segstream_err *err)
{
    rd_kafka_conf_t *conf = segstream_config_kafka_conf(cfg, err);
    if (!conf)
        return NULL;
    char val[512];
    size_t vl = sizeof val;
    if ((rd_kafka_conf_get(conf, "bootstrap.servers", val, &vl) != RD_KAFKA_CONF_OK || !val[0]) &&
        segstream_cli_kafka_set(conf, "bootstrap.servers", segstream_cli_brokers(NULL), err)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

int segstream_cli_create_topic(rd_kafka_t *rk, const char *topic, int partitions, int timeout_ms,
                               segstream_err *err)
{
    return segstream_cli_create_topic_with(rk, topic, partitions, NULL, timeout_ms, err);
}

int segstream_cli_create_topic_with(rd_kafka_t *rk, const char *topic, int partitions, const char *const *configs,
                                    int timeout_ms, segstream_err *err)
{
    char errstr[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, errstr, sizeof errstr);
    if (!nt)
        return segstream_err_set(err, "topic %s: %s", topic, errstr);
    for (size_t i = 0; configs && configs[i] && configs[i + 1]; i += 2)
        if (rd_kafka_NewTopic_set_config(nt, configs[i], configs[i + 1])) {
            rd_kafka_NewTopic_destroy(nt);
            return segstream_err_set(err, "topic %s: config %s=%s refused", topic, configs[i], configs[i + 1]);
        }
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

int segstream_cli_topic_configs(rd_kafka_t *rk, const char *topic, const char *const *names, char **values, size_t n,
                                int timeout_ms, segstream_err *err)
{
    for (size_t i = 0; i < n; i++)
        values[i] = NULL;
    char errstr[512];
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    if (!cr)
        return segstream_err_set(err, "describing topic %s: out of memory", topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(ao, timeout_ms, errstr, sizeof errstr);
    rd_kafka_DescribeConfigs(rk, &cr, 1, ao, q);
    int rc = segstream_err_set(err, "describing topic %s: no answer within %d ms", topic, timeout_ms);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    if (ev && rd_kafka_event_error(ev)) {
        rc = segstream_err_set(err, "describing topic %s: %s", topic, rd_kafka_event_error_string(ev));
    } else if (ev) {
        const rd_kafka_DescribeConfigs_result_t *res = rd_kafka_event_DescribeConfigs_result(ev);
        size_t nr = 0;
        const rd_kafka_ConfigResource_t **rs = res ? rd_kafka_DescribeConfigs_result_resources(res, &nr) : NULL;
        rd_kafka_resp_err_t rerr = nr ? rd_kafka_ConfigResource_error(rs[0]) : RD_KAFKA_RESP_ERR_UNKNOWN;
        if (rerr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
            rc = 1;
        } else if (rerr) {
            const char *why = nr ? rd_kafka_ConfigResource_error_string(rs[0]) : NULL;
            rc = segstream_err_set(err, "describing topic %s: %s", topic, why ? why : rd_kafka_err2str(rerr));
        } else {
            size_t ne = 0;
            const rd_kafka_ConfigEntry_t **entries = rd_kafka_ConfigResource_configs(rs[0], &ne);
            rc = 0;
            for (size_t e = 0; e < ne && !rc; e++)
                for (size_t i = 0; i < n && !rc; i++) {
                    const char *value = rd_kafka_ConfigEntry_value(entries[e]);
                    if (values[i] || strcmp(rd_kafka_ConfigEntry_name(entries[e]), names[i]) || !value)
                        continue;
                    if (!(values[i] = strdup(value)))
                        rc = segstream_err_set(err, "describing topic %s: out of memory", topic);
                }
            if (rc)
                for (size_t i = 0; i < n; i++)
                    free(values[i]), values[i] = NULL;
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_ConfigResource_destroy(cr);
    rd_kafka_queue_destroy(q);
    return rc;
}
