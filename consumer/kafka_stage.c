/* kafka_stage.c - the stage's Kafka loop: consume a batch, process it in one
 * transaction with its outputs, snapshot and offsets, repeat.
 *
 * Design choices of this first cut:
 * - A batch is only collected while polling; its transaction is begun,
 *   filled and committed inside process_batch(), so no transaction is ever
 *   open while the consumer is polled. A rebalance (which only happens inside
 *   poll) therefore finds no open transaction: on revoke the collected but
 *   unprocessed messages are dropped (they come again from the committed
 *   offsets, to whichever instance gets the partition); on assign the state
 *   is read back from topics.state and consumption resumes at the group's
 *   committed offsets.
 * - One snapshot of the whole pipeline per transaction (state_store.h), key
 *   "<group.id>/model": one instance per group (scale-out is a later issue).
 * - Errors: an abortable transaction error aborts, restores the last
 *   committed snapshot and seeks back to the committed offsets (the batch is
 *   polled again). Anything else (fatal producer error, fenced, the pipeline
 *   failing) is logged and the process exits 1, for systemd to restart it;
 *   restarting recovers state and offsets the same way.
 * - Batches are encoded per batch, so the encoder's floats (and thereby
 *   `similarity` in the last bits) can differ from file mode's fixed encode
 *   chunks; everything else is the same for inputs in event-time order. */
#include "consumer/kafka_stage.h"
#include "consumer/cli_kafka.h"
#include "consumer/codec.h"
#include "consumer/config.h"
#include "consumer/http_server.h"
#include "consumer/log.h"
#include "consumer/metrics.h"
#include "consumer/pipeline.h"
#include "consumer/state_store.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SETS 64
#ifndef SEGSTREAM_VERSION
#define SEGSTREAM_VERSION "unknown" /* defined for the executable only */
#endif

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

typedef struct stage {
    const segstream_config *cfg;
    rd_kafka_conf_t *base_conf; /* kafka.* + bootstrap, for the state reader */
    rd_kafka_t *consumer, *producer;
    segstream_pipeline *p;
    segstream_codec *codec;
    segstream_buf buf;
    const char *t_out, *t_seg, *t_state, *t_dlq;
    char state_key[256];
    uint8_t *fresh, *committed; /* snapshots: empty pipeline, last committed */
    size_t fresh_len, committed_len;
    rd_kafka_message_t **batch;
    size_t n, cap;
    bool fatal;
    segstream_err fatal_err;
    segstream_stage_metrics m;
    segstream_http_server *http;
    int64_t last_input_ms;
    bool assigned; /* the idle clock runs only while partitions are assigned */
    uint64_t dlq_in_batch;
} stage;

static void drop_batch(stage *s)
{
    for (size_t i = 0; i < s->n; i++)
        rd_kafka_message_destroy(s->batch[i]);
    s->n = 0;
}

static int set_committed(stage *s, uint8_t *blob, size_t len)
{
    free(s->committed);
    s->committed = blob;
    s->committed_len = len;
    return 0;
}

/* Reads the latest snapshot of the state topic into the pipeline (or resets
 * it to empty when there is none). */
static int restore_state(stage *s, segstream_err *err)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    if (segstream_state_read(s->base_conf, s->t_state, s->state_key, &blob, &len, 60000, err))
        return -1;
    if (!blob) {
        segstream_log_info("no snapshot on %s under %s: starting with an empty model", s->t_state, s->state_key);
        if (segstream_pipeline_restore(s->p, s->fresh, s->fresh_len, err))
            return -1;
        uint8_t *copy = malloc(s->fresh_len);
        if (!copy)
            return segstream_err_set(err, "out of memory");
        memcpy(copy, s->fresh, s->fresh_len);
        return set_committed(s, copy, s->fresh_len);
    }
    if (segstream_pipeline_restore(s->p, blob, len, err)) {
        free(blob);
        return segstream_err_prefix(err, "restoring the snapshot from %s", s->t_state);
    }
    segstream_pipeline_stats st;
    segstream_pipeline_get_stats(s->p, &st);
    segstream_log_info("restored a %zu-byte snapshot from %s (model version %" PRId64 ")", len, s->t_state,
                       st.model_version);
    return set_committed(s, blob, len);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    stage *s = opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (restore_state(s, &s->fatal_err)) {
            s->fatal = true;
            rd_kafka_assign(rk, NULL);
            return;
        }
        rd_kafka_assign(rk, parts); /* offsets INVALID = the group's committed ones */
        segstream_log_info("assigned %d partitions", parts->cnt);
        s->last_input_ms = now_ms();
        s->assigned = true;
        segstream_http_set_ready(s->http, true, NULL);
    } else {
        /* No transaction is open while polling: what was collected is dropped
         * and comes again from the committed offsets. */
        drop_batch(s);
        rd_kafka_assign(rk, NULL);
        s->assigned = false;
        segstream_log_info("revoked %d partitions", parts->cnt);
        segstream_http_set_ready(s->http, false, "no partitions assigned");
    }
}

static rd_kafka_message_t *find_message(stage *s, const segstream_event_source *src)
{
    for (size_t i = 0; i < s->n; i++) {
        rd_kafka_message_t *m = s->batch[i];
        if (m->partition == src->partition && m->offset == src->offset &&
            !strcmp(rd_kafka_topic_name(m->rkt), src->topic))
            return m;
    }
    return NULL;
}

static int produce(stage *s, const char *topic, const void *key, size_t key_len, const void *val, size_t len,
                   rd_kafka_headers_t *hdrs, segstream_err *err)
{
    for (;;) {
        rd_kafka_resp_err_t e =
            hdrs ? rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                                     RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                     RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END)
                 : rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                                     RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                     RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(s->producer, 50);
            continue;
        }
        if (e) {
            if (hdrs)
                rd_kafka_headers_destroy(hdrs);
            return segstream_err_set(err, "producing to %s: %s", topic, rd_kafka_err2str(e));
        }
        return 0;
    }
}

static int produce_record(stage *s, const char *topic, const segstream_record *rec, segstream_err *err)
{
    if (segstream_codec_encode(s->codec, rec, SEGSTREAM_FRAMING_SINGLE_OBJECT, 0, &s->buf, err))
        return -1;
    char kb[24];
    size_t kl;
    const char *key = segstream_record_key(rec, kb, &kl);
    return produce(s, topic, key, kl, s->buf.data, s->buf.len, NULL, err);
}

static int on_change(void *ctx, const segstream_record *rec, segstream_err *err)
{
    stage *s = ctx;
    return produce_record(s, s->t_out, rec, err);
}

static int on_segment(void *ctx, const segstream_record *rec, segstream_err *err)
{
    stage *s = ctx;
    return produce_record(s, s->t_seg, rec, err);
}

static int on_dead_letter(void *ctx, const segstream_dead_letter *dl, segstream_err *err)
{
    stage *s = ctx;
    rd_kafka_message_t *m = find_message(s, &dl->source);
    rd_kafka_headers_t *h = rd_kafka_headers_new(6);
    char part[16], off[24], ts[24];
    snprintf(part, sizeof part, "%" PRId32, dl->source.partition);
    snprintf(off, sizeof off, "%" PRId64, dl->source.offset);
    snprintf(ts, sizeof ts, "%" PRId64, m ? rd_kafka_message_timestamp(m, NULL) : -1);
    rd_kafka_header_add(h, "segstream.error.reason", -1, dl->reason, -1);
    rd_kafka_header_add(h, "segstream.error.message", -1, dl->message ? dl->message : "", -1);
    rd_kafka_header_add(h, "segstream.source.topic", -1, dl->source.topic, -1);
    rd_kafka_header_add(h, "segstream.source.partition", -1, part, -1);
    rd_kafka_header_add(h, "segstream.source.offset", -1, off, -1);
    rd_kafka_header_add(h, "segstream.source.timestamp", -1, ts, -1);
    const void *val = m ? m->payload : dl->raw;
    size_t len = m ? m->len : dl->raw_len;
    segstream_counter_add(segstream_metric_with(s->m.dead_letters, dl->reason), 1);
    s->dlq_in_batch++;
    return produce(s, s->t_dlq, m ? m->key : NULL, m ? m->key_len : 0, val, len, h, err);
}

/* Aborts the open transaction, puts back the last committed state and seeks
 * to the committed offsets so that the batch is polled again. */
static int abort_and_rewind(stage *s, segstream_err *err)
{
    rd_kafka_error_t *ke = rd_kafka_abort_transaction(s->producer, 60000);
    if (ke) {
        segstream_err_set(err, "abort_transaction: %s", rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
        return -1;
    }
    segstream_counter_add(s->m.transaction_aborts, 1);
    if (segstream_pipeline_restore(s->p, s->committed, s->committed_len, err))
        return -1;
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t e = rd_kafka_assignment(s->consumer, &parts);
    if (!e)
        e = rd_kafka_committed(s->consumer, parts, 30000);
    if (e) {
        if (parts)
            rd_kafka_topic_partition_list_destroy(parts);
        return segstream_err_set(err, "reading the committed offsets: %s", rd_kafka_err2str(e));
    }
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].offset < 0)
            parts->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    ke = rd_kafka_seek_partitions(s->consumer, parts, 30000);
    rd_kafka_topic_partition_list_destroy(parts);
    if (ke) {
        segstream_err_set(err, "seeking to the committed offsets: %s", rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
        return -1;
    }
    drop_batch(s);
    return 0;
}

/* One transactional step of the producer: 0 done, 1 aborted and rewound
 * (the batch comes again), -1 fatal. ke is consumed. */
static int txn_result(stage *s, rd_kafka_error_t *ke, const char *what, segstream_err *err)
{
    if (!ke)
        return 0;
    segstream_err_set(err, "%s: %s", what, rd_kafka_error_string(ke));
    bool abortable = rd_kafka_error_txn_requires_abort(ke);
    rd_kafka_error_destroy(ke);
    if (!abortable)
        return -1;
    segstream_log_warn("%s; aborting the transaction and rewinding", err->message);
    return abort_and_rewind(s, err) ? -1 : 1;
}

/* Processes the collected batch in one transaction. Returns 0 (committed, or
 * aborted and rewound) or -1 on a fatal error. */
static int process_batch(stage *s, segstream_err *err)
{
    size_t n = s->n, k = 0;
    int rc = -1;
    segstream_record *recs = calloc(n, sizeof *recs);
    segstream_pipeline_event *pev = calloc(n, sizeof *pev);
    bool *bad = calloc(n, sizeof *bad);
    char (*why)[256] = calloc(n, sizeof *why);
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(4);
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    if (!recs || !pev || !bad || !why) {
        segstream_err_set(err, "out of memory for a batch of %zu", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = s->batch[i];
        segstream_err derr = {{0}};
        if (segstream_codec_decode(s->codec, m->payload, m->len, &recs[k], NULL, &derr)) {
            bad[i] = true;
            snprintf(why[i], sizeof why[i], "%.255s", derr.message);
            segstream_record_clear(&recs[k]);
        } else {
            pev[k] = (segstream_pipeline_event){&recs[k], {rd_kafka_topic_name(m->rkt), m->partition, m->offset},
                                                NULL, m->payload, m->len};
            k++;
        }
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(offsets, rd_kafka_topic_name(m->rkt),
                                                                            m->partition);
        if (!tp)
            tp = rd_kafka_topic_partition_list_add(offsets, rd_kafka_topic_name(m->rkt), m->partition);
        if (m->offset + 1 > tp->offset)
            tp->offset = m->offset + 1;
    }
    segstream_pipeline_stats before, after;
    segstream_pipeline_get_stats(s->p, &before);
    s->dlq_in_batch = 0;
    int t = txn_result(s, rd_kafka_begin_transaction(s->producer), "begin_transaction", err);
    if (t)
        goto txn_done;
    segstream_pipeline_sink sink = {s, on_change, on_segment, on_dead_letter};
    for (size_t i = 0; i < n; i++)
        if (bad[i]) {
            rd_kafka_message_t *m = s->batch[i];
            segstream_dead_letter dl = {SEGSTREAM_DLQ_DECODE_ERROR, why[i],
                                        {rd_kafka_topic_name(m->rkt), m->partition, m->offset}, NULL, m->payload,
                                        m->len};
            if (on_dead_letter(s, &dl, err))
                goto pipeline_failed;
        }
    if (segstream_pipeline_process(s->p, pev, k, &sink, err) ||
        segstream_pipeline_snapshot(s->p, &blob, &blob_len, err) ||
        segstream_state_write(s->producer, s->t_state, s->state_key, blob, blob_len, err))
        goto pipeline_failed;
    rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(s->consumer);
    t = txn_result(s, rd_kafka_send_offsets_to_transaction(s->producer, offsets, cgmd, 60000),
                   "send_offsets_to_transaction", err);
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    if (t)
        goto txn_done;
    t = txn_result(s, rd_kafka_commit_transaction(s->producer, 120000), "commit_transaction", err);
    if (t)
        goto txn_done;
    set_committed(s, blob, blob_len);
    blob = NULL;
    segstream_pipeline_get_stats(s->p, &after);
    segstream_counter_add(s->m.events_in, n);
    segstream_counter_add(s->m.events_out, after.changes - before.changes);
    segstream_counter_add(s->m.catalog_out, after.segments - before.segments);
    segstream_histogram_observe(s->m.batch_size, (double)n);
    segstream_histogram_observe(s->m.encode_seconds, (double)(after.encode_ns - before.encode_ns) / 1e9);
    segstream_gauge_set(s->m.model_version, (double)after.model_version);
    segstream_counter_add(s->m.transactions, 1);
    segstream_log_kv(SEGSTREAM_LOG_DEBUG,
                     SEGSTREAM_LOG_FIELDS(SLF_INT("events", n), SLF_INT("changes", after.changes - before.changes),
                                          SLF_INT("dead_letters", s->dlq_in_batch),
                                          SLF_INT("snapshot_bytes", s->committed_len)),
                     "batch committed");
    drop_batch(s);
    rc = 0;
    goto done;
pipeline_failed:
    /* Not the transaction's fault: abort it so that nothing half-written is
     * ever visible, then stop (fatal). */
    segstream_log_error("batch failed: %s", err->message);
    {
        segstream_err aerr = {{0}};
        if (abort_and_rewind(s, &aerr))
            segstream_log_error("%s", aerr.message);
    }
    goto done;
txn_done:
    rc = t > 0 ? 0 : -1;
done:
    for (size_t i = 0; i < k; i++)
        segstream_record_clear(&recs[i]);
    free(recs), free(pev), free(bad), free(why), free(blob);
    rd_kafka_topic_partition_list_destroy(offsets);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: segstream run -c FILE [--set key=value]... [--exit-when-idle SECONDS]\n"
                 "       segstream run --input EVENTS --output CHANGES ...   (file mode: segstream run --input x --help)\n\n"
                 "  -c, --config FILE      properties file (see segstream config --list)\n"
                 "  --set key=value        overrides a key (highest precedence; environment SEGSTREAM_* in between)\n"
                 "  --exit-when-idle S     stop cleanly after S seconds without input (default pipeline.idle_timeout)\n"
                 "Exit status: 0 stopped cleanly (SIGTERM/SIGINT or idle), 1 fatal error, 2 bad usage or configuration.\n");
}

static void add_secret(void *ctx, const char *value)
{
    (void)ctx;
    segstream_log_add_secret(value);
}

/* cluster.* keys that segstream_stage_settings cannot carry yet (the
 * pipeline builds its cluster with their defaults): refused when set rather
 * than silently ignored. */
static int check_unmapped(const segstream_config *cfg, segstream_err *err)
{
    static const char *const unmapped[] = {"cluster.retire_size", "cluster.merge_similarity", "cluster.max_users",
                                           "cluster.profile_codec"};
    for (size_t i = 0; i < sizeof unmapped / sizeof unmapped[0]; i++)
        if (segstream_config_source_of(cfg, unmapped[i]) != SEGSTREAM_CONFIG_DEFAULT)
            return segstream_err_set(err, "%s (set in %s): not supported by `segstream run` yet; only the default "
                                          "is used, so remove the setting",
                                     unmapped[i], segstream_config_origin_of(cfg, unmapped[i]));
    return 0;
}

static segstream_stage_settings settings_of(const segstream_config *cfg)
{
    segstream_stage_settings st = segstream_stage_default_settings();
    st.model_dir = segstream_config_string(cfg, "model.path");
    st.encoder_threads = (int)segstream_config_int(cfg, "encoder.threads");
    st.encoder_batch_tokens = (int)segstream_config_int(cfg, "encoder.batch_tokens");
    st.encoder_cache_entries = (size_t)segstream_config_int(cfg, "encoder.cache_entries");
    st.k = (int)segstream_config_int(cfg, "cluster.k");
    st.window_ms = segstream_config_duration_ms(cfg, "cluster.window");
    st.pane_ms = segstream_config_duration_ms(cfg, "cluster.pane");
    st.half_life_ms = segstream_config_duration_ms(cfg, "cluster.half_life");
    st.allowed_lateness_ms = segstream_config_duration_ms(cfg, "cluster.allowed_lateness");
    st.max_future_skew_ms = segstream_config_duration_ms(cfg, "cluster.max_future_skew");
    st.init_sample = (int)segstream_config_int(cfg, "cluster.init_sample");
    st.seed = (uint64_t)segstream_config_int(cfg, "cluster.seed");
    st.hysteresis = segstream_config_double(cfg, "cluster.hysteresis");
    st.label_terms = (int)segstream_config_int(cfg, "cluster.label_terms");
    return st;
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, segstream_err *err)
{
    return segstream_cli_kafka_set(conf, k, v, err);
}

int segstream_cmd_run_kafka(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"set", required_argument, 0, 's'},
                                         {"exit-when-idle", required_argument, 0, 'i'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *file = NULL;
    char *sets[MAX_SETS];
    size_t nsets = 0;
    double idle_s = -1;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': file = optarg; break;
        case 's':
            if (nsets == MAX_SETS) {
                fprintf(stderr, "segstream run: more than %d --set\n", MAX_SETS);
                return 2;
            }
            sets[nsets++] = optarg;
            break;
        case 'i': {
            char *end;
            idle_s = strtod(optarg, &end);
            if (end == optarg || *end || idle_s < 0) {
                fprintf(stderr, "segstream run: bad value '%s' for --exit-when-idle (seconds)\n", optarg);
                return 2;
            }
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "segstream run: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    segstream_err err = {{0}};
    segstream_config *cfg = segstream_config_load(file, sets, nsets, &err);
    if (!cfg || check_unmapped(cfg, &err)) {
        fprintf(stderr, "segstream run: %s\n", err.message);
        segstream_config_free(cfg);
        return 2;
    }
    segstream_log_level lvl;
    if (!segstream_log_level_parse(segstream_config_get(cfg, "log.level"), &lvl))
        segstream_log_set_level(lvl);
    segstream_config_each_secret(cfg, add_secret, NULL);

    stage s = {.cfg = cfg};
    int status = 1;
    segstream_metrics *metrics = NULL;
    const char *group = segstream_config_string(cfg, "group.id");
    const char *t_in = segstream_config_string(cfg, "topics.input");
    s.t_out = segstream_config_string(cfg, "topics.output");
    s.t_seg = segstream_config_string(cfg, "topics.segments");
    s.t_state = segstream_config_string(cfg, "topics.state");
    s.t_dlq = segstream_config_string(cfg, "topics.dlq");
    snprintf(s.state_key, sizeof s.state_key, "%s/model", group);
    int64_t idle_ms = idle_s >= 0 ? (int64_t)(idle_s * 1000) : segstream_config_duration_ms(cfg, "pipeline.idle_timeout");
    int64_t max_events = segstream_config_int(cfg, "batch.max_events");
    int64_t max_ms = segstream_config_int(cfg, "batch.max_ms");

    metrics = segstream_metrics_new();
    if (!metrics || segstream_stage_metrics_register(metrics, SEGSTREAM_VERSION, &s.m, &err))
        goto fail;
    segstream_http_options ho = segstream_http_default_options();
    ho.listen = segstream_config_string(cfg, "metrics.listen");
    ho.metrics = metrics;
    if (segstream_http_start(&ho, &s.http, &err))
        goto fail;
    if (s.http)
        segstream_log_info("metrics on port %d", segstream_http_port(s.http));

    segstream_stage_settings st = settings_of(cfg);
    s.p = segstream_pipeline_open(&st, &err);
    if (!s.p || segstream_pipeline_snapshot(s.p, &s.fresh, &s.fresh_len, &err))
        goto fail;
    s.codec = segstream_codec_new(NULL, &err);
    if (!s.codec)
        goto fail;

    s.base_conf = segstream_config_kafka_conf(cfg, &err);
    if (!s.base_conf)
        goto fail;
    char val[512];
    size_t vl = sizeof val;
    if (rd_kafka_conf_get(s.base_conf, "bootstrap.servers", val, &vl) != RD_KAFKA_CONF_OK || !val[0])
        if (conf_set(s.base_conf, "bootstrap.servers", segstream_cli_brokers(NULL), &err))
            goto fail;
    segstream_kafka_watch_errors(s.base_conf); /* wrong credentials: fatal at once, not a minute later */

    /* The producer first: init_transactions fences an older instance with the
     * same transactional id and aborts its open transaction, so the state
     * topic read on assignment holds only committed snapshots. */
    char errstr[512], txid[512];
    snprintf(txid, sizeof txid, "%s-%s", group, segstream_config_string(cfg, "instance.id"));
    rd_kafka_conf_t *pc = rd_kafka_conf_dup(s.base_conf);
    if (conf_set(pc, "transactional.id", txid, &err) || conf_set(pc, "partitioner", "murmur2_random", &err) ||
        conf_set(pc, "message.max.bytes", "4194304", &err)) {
        rd_kafka_conf_destroy(pc);
        goto fail;
    }
    s.producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof errstr);
    if (!s.producer) {
        rd_kafka_conf_destroy(pc);
        segstream_err_set(&err, "producer: %s", errstr);
        goto fail;
    }
    if (segstream_kafka_wait_connected(s.producer, 60000, &err))
        goto fail;
    if (segstream_config_bool(cfg, "topics.create")) {
        const char *topics[] = {t_in, s.t_out, s.t_seg, s.t_state, s.t_dlq};
        for (size_t i = 0; i < 5; i++)
            if (segstream_cli_create_topic(s.producer, topics[i], 1, 30000, &err))
                goto fail;
    }
    rd_kafka_error_t *ke = rd_kafka_init_transactions(s.producer, 60000);
    if (ke) {
        segstream_err_set(&err, "init_transactions (%s): %s", txid, rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
        goto fail;
    }

    rd_kafka_conf_t *cc = rd_kafka_conf_dup(s.base_conf);
    if (conf_set(cc, "group.id", group, &err) || conf_set(cc, "partition.assignment.strategy", "range", &err) ||
        conf_set(cc, "enable.auto.commit", "false", &err) || conf_set(cc, "isolation.level", "read_committed", &err) ||
        conf_set(cc, "auto.offset.reset", "earliest", &err)) {
        rd_kafka_conf_destroy(cc);
        goto fail;
    }
    rd_kafka_conf_set_rebalance_cb(cc, rebalance_cb);
    rd_kafka_conf_set_opaque(cc, &s);
    s.consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof errstr);
    if (!s.consumer) {
        rd_kafka_conf_destroy(cc);
        segstream_err_set(&err, "consumer: %s", errstr);
        goto fail;
    }
    rd_kafka_poll_set_consumer(s.consumer);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, t_in, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(s.consumer, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e) {
        segstream_err_set(&err, "subscribing to %s: %s", t_in, rd_kafka_err2str(e));
        goto fail;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    segstream_log_info("consuming %s as group %s, transactional id %s", t_in, group, txid);

    s.last_input_ms = now_ms();
    int64_t batch_start = 0;
    while (!g_stop && !s.fatal) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(s.consumer, 100);
        segstream_http_heartbeat(s.http);
        if (!s.fatal && segstream_kafka_auth_check(&s.fatal_err))
            s.fatal = true;
        if (s.fatal) {
            if (msg)
                rd_kafka_message_destroy(msg);
            err = s.fatal_err;
            goto fail;
        }
        if (msg && msg->err) {
            if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                segstream_log_warn("consumer: %s", rd_kafka_message_errstr(msg));
            bool fatal = msg->err == RD_KAFKA_RESP_ERR__FATAL;
            rd_kafka_message_destroy(msg);
            if (fatal) {
                segstream_err_set(&err, "consumer: fatal error");
                goto fail;
            }
        } else if (msg) {
            if (s.n == s.cap) {
                size_t cap = s.cap ? 2 * s.cap : 1024;
                rd_kafka_message_t **b = realloc(s.batch, cap * sizeof *b);
                if (!b) {
                    rd_kafka_message_destroy(msg);
                    segstream_err_set(&err, "out of memory");
                    goto fail;
                }
                s.batch = b, s.cap = cap;
            }
            if (!s.n)
                batch_start = now_ms();
            s.batch[s.n++] = msg;
            s.last_input_ms = now_ms();
        }
        int64_t now = now_ms();
        if (s.n && ((int64_t)s.n >= max_events || now - batch_start >= max_ms)) {
            if (process_batch(&s, &err))
                goto fail;
            /* Idle time counts from the end of the work: a batch that took
             * longer than the idle timeout must not stop the stage at once. */
            now = s.last_input_ms = now_ms();
        }
        if (idle_ms > 0 && s.assigned && !s.n && now - s.last_input_ms >= idle_ms) {
            segstream_log_info("no input for %.1f s: stopping", (double)idle_ms / 1000);
            break;
        }
    }
    if (s.n && !s.fatal && process_batch(&s, &err))
        goto fail;
    segstream_http_set_alive(s.http, false);
    rd_kafka_consumer_close(s.consumer);
    segstream_pipeline_stats stats;
    segstream_pipeline_get_stats(s.p, &stats);
    segstream_log_kv(SEGSTREAM_LOG_INFO,
                     SEGSTREAM_LOG_FIELDS(SLF_INT("events", stats.events), SLF_INT("changes", stats.changes),
                                          SLF_INT("dead_letters", stats.dead_letters),
                                          SLF_INT("model_version", stats.model_version)),
                     "stopped");
    status = 0;
    goto done;
fail:
    segstream_log_error("fatal: %s", err.message);
done:
    drop_batch(&s);
    free(s.batch);
    if (s.consumer)
        rd_kafka_destroy(s.consumer);
    if (s.producer) {
        if (status)
            rd_kafka_purge(s.producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(s.producer);
    }
    if (s.base_conf)
        rd_kafka_conf_destroy(s.base_conf);
    segstream_http_stop(s.http);
    segstream_metrics_free(metrics);
    segstream_codec_free(s.codec);
    segstream_pipeline_close(s.p);
    segstream_buf_free(&s.buf);
    free(s.fresh), free(s.committed);
    segstream_config_free(cfg);
    return status;
}
