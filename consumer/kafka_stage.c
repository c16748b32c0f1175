/* kafka_stage.c - the stage's Kafka loop: poll, decode, merge partitions by
 * event time, process released events in batches, one transaction each.
 *
 * Design choices:
 * - Polling and processing alternate on one thread, so no transaction is
 *   ever open while the consumer is polled. A rebalance (which only happens
 *   inside poll) therefore finds no open transaction: on revoke everything
 *   buffered is dropped (it comes again from the committed offsets, to
 *   whichever instance gets the partition); on assign the state is read back
 *   from topics.state and consumption resumes at the group's committed
 *   offsets.
 * - Order: the partition merge releases an event only when no assigned
 *   partition can still deliver an earlier one, so the model sees the same
 *   sequence however fetches interleave; with the encoder's batch-invariant
 *   floats, batch boundaries do not matter either, and a restart, a replay
 *   or another batch size gives the same bytes.
 * - Batch close: by count, bytes, or batch.max_ms after the first event;
 *   but a batch whose first event was already queued when the previous batch
 *   committed closes as soon as the queue runs dry (group commit): its
 *   events have waited a whole batch already, and a busy stream then commits
 *   as often as the transactions allow instead of adding the wait each time.
 * - One snapshot of the whole pipeline per transaction, on the state topic
 *   as one key per slice (state_bundle.h): "<group.id>/model" and the users
 *   of each input partition under "<group.id>/users/<partition>", rewritten
 *   only when they changed. Without topics.model the model is one per
 *   group, so one instance per group: an assignment of only some input
 *   partitions is held back for up to a session timeout (it usually means
 *   a killed instance is still a member and the group gives us everything
 *   once the broker drops it; processing the part meanwhile would make the
 *   order, and so the output, depend on when the other instance died).
 * - Scale-out (topics.model): each owned partition has its own copy of the
 *   shared model, in its own state key with its users and pending delta, so
 *   it moves with the partition. At a barrier (an event that would open a
 *   new pane, stage_cluster.h) the transaction that commits the events
 *   before it also puts the owned partitions' deltas on the model topic;
 *   events then wait until the model topic holds every partition's delta
 *   for that barrier (model_log.h), and the next transaction applies them.
 *   An instance with nothing to process gives its deltas as soon as another
 *   instance starts a barrier. Every instance applies the same records in
 *   the same order, so all hold the same model; only the owner of input
 *   partition 0 publishes the catalog.
 * - Errors: an abortable transaction error aborts, restores the last
 *   committed snapshot and seeks back to the committed positions (the events
 *   come again). A retriable one is retried. A fatal producer error (not a
 *   fencing) recreates the producer, whose init_transactions settles what was
 *   open, then reads the last commit back from the topics (the failed commit
 *   may have been applied) and rewinds to it; a few in a row without a commit between
 *   them stop the process (exit 1, for systemd to restart it). Fencing (another
 *   instance took our transactional id) and pipeline failures stop at once;
 *   but a fencing after a transaction since the last commit stayed open past
 *   transaction.timeout.ms (the broker aborted it: this process stalled) is recovered.
 * - Start: topics.create makes the topics before the producer exists (its
 *   metadata request would have the broker create them with its defaults);
 *   a state topic that could delete chunks the latest checkpoint still lists
 *   is refused. Partitions are assigned at explicit offsets (the committed
 *   ones, read on assignment anyway), so fetching starts at once.
 * - Back-pressure: a partition whose buffered events reach four batches is
 *   paused until it drains to one batch, so a partition far ahead in event
 *   time cannot fill memory while another one is waited for; producing waits
 *   while the producer queue is full. */
#include "consumer/kafka_stage.h"
#include "consumer/cli_kafka.h"
#include "consumer/codec.h"
#include "consumer/config_stage.h"
#include "consumer/http_server.h"
#include "consumer/log.h"
#include "consumer/metrics.h"
#include "consumer/model_log.h"
#include "consumer/partition_merge.h"
#include "consumer/pipeline.h"
#include "consumer/state_bundle.h"

#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PRODUCER_RESTARTS 3
/* Readiness asks the broker itself only after this long without a commit. */
#define READINESS_PROBE_AFTER_MS 5000
/* An event taken this soon after a batch ended was waiting in the queue. */
#define QUEUED_WITHIN_MS 2
#ifndef SEGSTREAM_VERSION
#define SEGSTREAM_VERSION "unknown" /* defined for the executable only */
#endif

/* A stop (signal, idle, fatal error) commits what was released and closes;
 * if that hangs, the process ends anyway after STOP_GRACE_SECONDS, and a
 * second stop signal ends it at once. Seen: librdkafka 2.0's rd_kafka_destroy()
 * waiting forever on a transactional producer whose topics had been deleted.
 * Ending early is safe: the next instance's producer fences this one and
 * aborts whatever transaction it left open. */
#define STOP_GRACE_SECONDS 60

static volatile sig_atomic_t g_stop;

static void say_and_exit(const char *line, size_t len)
{
    ssize_t ignored = write(STDERR_FILENO, line, len);
    (void)ignored;
    _exit(1);
}

static void on_signal(int sig)
{
    (void)sig;
    if (g_stop) {
        static const char m[] = "{\"level\":\"error\",\"msg\":\"second stop signal: exiting now\"}\n";
        say_and_exit(m, sizeof m - 1);
    }
    g_stop = 1;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "{\"level\":\"error\",\"msg\":\"stopping took longer than 60 s: exiting now\"}\n";
    say_and_exit(m, sizeof m - 1);
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Milliseconds with a fraction, for the steps of a batch. */
static double now_fms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* A consumed message, decoded as it arrived. */
typedef struct pending {
    rd_kafka_message_t *m;
    segstream_record rec;
    bool decoded;
    char why[256]; /* the decode error */
} pending;

static void pending_free(void *item)
{
    pending *p = item;
    if (p->decoded)
        segstream_record_clear(&p->rec);
    rd_kafka_message_destroy(p->m);
    free(p);
}

typedef struct stage {
    const segstream_kafka_stage_options *o;
    const segstream_config *cfg;
    rd_kafka_conf_t *base_conf; /* kafka.* + bootstrap */
    rd_kafka_conf_t *producer_conf;
    rd_kafka_t *consumer, *producer;
    char txid[512];
    segstream_pipeline *p;
    segstream_codec *codec;
    segstream_buf buf;
    const char *t_in, *t_out, *t_seg, *t_state, *t_dlq;
    char group[256];     /* the state topic keys: "<group>/model", "<group>/users/<partition>" */
    bool replay;
    uint8_t *fresh, *committed; /* snapshots: the start state, the last committed */
    size_t fresh_len, committed_len;
    /* per state-topic key, the chunk list the topic holds and the one the
     * open transaction writes (state_bundle.h) */
    segstream_state_keys state_keys;
    segstream_state_bundle_stats state_stats; /* of the last write */
    segstream_merge *merge;
    pending **batch;
    size_t n, cap, batch_bytes;
    int64_t batch_start;
    /* When the last batch ended, and whether the open batch's first event was
     * already queued then: such a batch closes as soon as the input runs dry
     * (its events have waited a batch already; group commit), the others
     * batch.max_ms after their first event (see release). */
    int64_t flushed_ms;
    bool batch_queued;
    int64_t max_events, max_ms, max_bytes, partition_idle_ms;
    /* committed positions of the assigned partitions (the rewind target and
     * the base of the lag gauge), and the replay's end offsets */
    rd_kafka_topic_partition_list_t *positions, *ends, *paused;
    bool fatal;
    segstream_err fatal_err;
    segstream_stage_metrics m;
    segstream_http_server *http;
    int64_t last_input_ms, last_gauges_ms;
    int64_t last_commit_ms; /* when a transaction last committed or the group assigned: the broker answered then */
    bool assigned;
    /* Until then a partial assignment is held back (see whole_input_wait). */
    int64_t partial_until_ms, session_timeout_ms;
    uint64_t dlq_in_batch;
    int producer_restarts; /* since the last commit */
    /* Fault injection for tests (SEGSTREAM_TEST_LOSE_COMMIT=N): the Nth
     * commit of this process succeeds on the broker, but the stage is told
     * a fatal error, as when the EndTxn response is lost. 0 = off. */
    long lose_commit_at, commits;
    /* Fault injection for tests (SEGSTREAM_TEST_FENCE=STEP:N): at STEP of the
     * Nth transaction (begin, produce, offsets, commit), at the Nth barrier
     * publish (barrier) or after the Nth assignment (assign), a second producer with our transactional id
     * fences ours, as the broker does when it aborts a transaction left open
     * past transaction.timeout.ms; the stage recovers it like that stall. */
    char fence_step[16];
    long fence_at, txns, assignments, publishes;
    bool fence_injected;
    /* Scale-out (topics.model): one model per owned partition (stage_cluster.h),
     * barriers through the model topic (model_log.h) */
    bool scale_out;
    const char *t_model;
    rd_kafka_t *model_reader; /* assigned partition 0 of topics.model, read_committed */
    segstream_model_log *mlog;
    int32_t n_input_partitions;
    const uint8_t *fresh_model; /* the model slice of a fresh pipeline (in s->fresh) */
    size_t fresh_model_len;
    bool join_barrier; /* the next transaction gives our deltas without an event asking */
    int64_t txn_began_ms, txn_timeout_ms; /* the open transaction's start; the producer's limit */
    /* The longest a transaction stayed open since the last commit: the broker may fence us
     * for an earlier transaction that overran (its timeout check runs periodically), after
     * we aborted that one ourselves and began the next. */
    int64_t longest_open_ms;
} stage;

static void drop_batch(stage *s)
{
    for (size_t i = 0; i < s->n; i++)
        pending_free(s->batch[i]);
    s->n = 0;
    s->batch_bytes = 0;
}

/* The batch's first events went through (scale-out: the rest wait for a barrier). */
static void drop_first(stage *s, size_t cut)
{
    if (cut >= s->n) {
        drop_batch(s);
        return;
    }
    for (size_t i = 0; i < cut; i++) {
        s->batch_bytes -= s->batch[i]->m->len;
        pending_free(s->batch[i]);
    }
    memmove(s->batch, s->batch + cut, (s->n - cut) * sizeof *s->batch);
    s->n -= cut;
}

static void set_committed(stage *s, uint8_t *blob, size_t len)
{
    free(s->committed);
    s->committed = blob;
    s->committed_len = len;
}

static int64_t offset_in(const rd_kafka_topic_partition_list_t *l, const char *topic, int32_t partition,
                         int64_t missing)
{
    const rd_kafka_topic_partition_t *tp =
        l ? rd_kafka_topic_partition_list_find((rd_kafka_topic_partition_list_t *)l, topic, partition) : NULL;
    return tp ? tp->offset : missing;
}

static void set_offset_in(rd_kafka_topic_partition_list_t *l, const char *topic, int32_t partition, int64_t off)
{
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(l, topic, partition);
    if (!tp)
        tp = rd_kafka_topic_partition_list_add(l, topic, partition);
    tp->offset = off;
}

/* Empties the merge and tracks every position's partition again; a replay
 * partition already at its end never holds the others back. */
static int merge_reset(stage *s, segstream_err *err)
{
    segstream_merge_clear(s->merge, pending_free);
    for (int i = 0; i < s->positions->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &s->positions->elems[i];
        if (segstream_merge_add_partition(s->merge, tp->topic, tp->partition))
            return segstream_err_set(err, "out of memory");
        if (s->ends && tp->offset >= offset_in(s->ends, tp->topic, tp->partition, INT64_MAX))
            segstream_merge_finished(s->merge, tp->topic, tp->partition);
    }
    return 0;
}

static void resume_all(stage *s)
{
    if (s->paused->cnt)
        rd_kafka_resume_partitions(s->consumer, s->paused);
    rd_kafka_topic_partition_list_destroy(s->paused);
    s->paused = rd_kafka_topic_partition_list_new(4);
}

/* Scale-out: the model reader goes back to where the owned partitions'
 * models need the log from, and expects the earliest barrier among them. */
static int model_log_seek(stage *s, segstream_err *err)
{
    segstream_stage_barrier_state st;
    segstream_pipeline_barrier_state(s->p, &st);
    segstream_model_log_expect(s->mlog, st.seq_min);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, s->t_model, 0)->offset =
        st.log_pos_min > 0 ? st.log_pos_min : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(s->model_reader, tp);
    rd_kafka_topic_partition_list_destroy(tp);
    if (e)
        return segstream_err_set(err, "reading %s: %s", s->t_model, rd_kafka_err2str(e));
    return 0;
}

/* Scale-out: the owned partitions' models from the state topic (fresh ones
 * for partitions without state), and the model reader set for them. */
static int restore_owned(stage *s, const rd_kafka_topic_partition_list_t *parts, segstream_err *err)
{
    int32_t *ids = calloc((size_t)parts->cnt + 1, sizeof *ids);
    size_t n = 0;
    if (!ids)
        return segstream_err_set(err, "out of memory");
    for (int i = 0; i < parts->cnt; i++)
        if (!strcmp(parts->elems[i].topic, s->t_in))
            ids[n++] = parts->elems[i].partition;
    uint8_t *blob = NULL, *own = NULL;
    size_t len = 0, own_len = 0;
    segstream_state_keys_clear(&s->state_keys);
    int rc = segstream_state_bundle_read_parts(s->base_conf, s->t_state, s->group, ids, n, s->fresh_model,
                                               s->fresh_model_len, &blob, &len, &s->state_keys, 120000, err);
    if (!rc)
        rc = segstream_pipeline_restore(s->p, blob ? blob : s->fresh, blob ? len : s->fresh_len, err);
    if (!rc)
        rc = segstream_pipeline_own_partitions(s->p, ids, n, err);
    /* what a rewind goes back to: the restored models and the fresh ones */
    if (!rc)
        rc = segstream_pipeline_snapshot(s->p, &own, &own_len, err);
    if (!rc) {
        set_committed(s, own, own_len);
        rc = model_log_seek(s, err);
    }
    if (!rc) {
        segstream_stage_barrier_state st;
        segstream_pipeline_barrier_state(s->p, &st);
        char list[256] = "";
        for (size_t i = 0, at = 0; i < n && at + 16 < sizeof list; i++)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%d", i ? "," : "", (int)ids[i]);
        segstream_log_info("restored %zu partition models [%s] (%zu bytes of state from %s), at barrier %" PRId64
                           " to %" PRId64 ", %d waiting for a barrier", n, list, len, s->t_state, st.seq_min,
                           st.seq_max, st.taken);
    }
    free(ids), free(blob);
    return rc ? segstream_err_prefix(err, "restoring the partitions' models") : 0;
}

/* Reads the latest snapshot of the state topic into the pipeline (or the
 * start state when there is none). */
static int restore_state(stage *s, const rd_kafka_topic_partition_list_t *parts, segstream_err *err)
{
    if (s->scale_out)
        return restore_owned(s, parts, err);
    uint8_t *blob = NULL;
    size_t len = 0;
    segstream_state_keys_clear(&s->state_keys);
    /* the chunk lists read back with it: no need to cut and hash blob again */
    if (!s->replay &&
        segstream_state_bundle_read(s->base_conf, s->t_state, s->group, &blob, &len, &s->state_keys, 60000, err))
        return -1;
    if (!blob) {
        if (!s->replay)
            segstream_log_info("no snapshot on %s under %s/model: starting with an empty model", s->t_state,
                               s->group);
        if (segstream_pipeline_restore(s->p, s->fresh, s->fresh_len, err))
            return -1;
        uint8_t *copy = malloc(s->fresh_len);
        if (!copy)
            return segstream_err_set(err, "out of memory");
        memcpy(copy, s->fresh, s->fresh_len);
        set_committed(s, copy, s->fresh_len);
        return 0;
    }
    if (segstream_pipeline_restore(s->p, blob, len, err)) {
        free(blob);
        return segstream_err_prefix(err, "restoring the snapshot from %s", s->t_state);
    }
    segstream_pipeline_stats st;
    segstream_pipeline_get_stats(s->p, &st);
    segstream_log_info("restored a %zu-byte snapshot from %s, %zu keys (model version %" PRId64 ")", len, s->t_state,
                       s->state_keys.n, st.model_version);
    set_committed(s, blob, len);
    return 0;
}

/* The state and the group's offsets of parts as the last committed
 * transaction left them in the topics; the offsets become the positions. */
static int read_committed(stage *s, const rd_kafka_topic_partition_list_t *parts, segstream_err *err)
{
    if (restore_state(s, parts, err))
        return -1;
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t e = rd_kafka_committed(s->consumer, committed, 30000);
    if (e) {
        rd_kafka_topic_partition_list_destroy(committed);
        return segstream_err_set(err, "reading the committed offsets: %s", rd_kafka_err2str(e));
    }
    rd_kafka_topic_partition_list_destroy(s->positions);
    s->positions = committed;
    return 0;
}

/* On assignment: state, then the group's committed offsets as positions. */
static int on_assign(stage *s, rd_kafka_topic_partition_list_t *parts, segstream_err *err)
{
    if (read_committed(s, parts, err))
        return -1;
    return merge_reset(s, err);
}

/* How many partitions the input topic has (0 when unknown). */
static int input_partition_count(stage *s)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(s->consumer, s->t_in, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = 0;
    if (rkt && !rd_kafka_metadata(s->consumer, 0, rkt, &md, 10000)) {
        if (md->topic_cnt == 1 && !md->topics[0].err)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    return n;
}

/* Holds a partial assignment back (see the design notes at the top) for
 * the session timeout plus a few heartbeats, after which the partial
 * assignment is processed: then another live instance shares the group. */
static void whole_input_wait(stage *s, const rd_kafka_topic_partition_list_t *parts)
{
    int total = input_partition_count(s);
    s->partial_until_ms = 0;
    if (total <= 0 || parts->cnt >= total || s->scale_out) /* scale-out: a part is what an instance gets */
        return;
    int64_t wait_ms = s->session_timeout_ms + 10000;
    s->partial_until_ms = now_ms() + wait_ms;
    segstream_log_warn("assigned %d of the %d partitions of %s: waiting up to %.0f s for the whole input "
                       "(another member of the group holds the rest; one instance processes a group's input)",
                       parts->cnt, total, s->t_in, (double)wait_ms / 1000);
    segstream_http_set_ready(s->http, false, "waiting for the whole input");
}

static bool holding_back(stage *s, int64_t now)
{
    if (!s->partial_until_ms)
        return false;
    if (now < s->partial_until_ms)
        return true;
    s->partial_until_ms = 0;
    segstream_log_warn("still only part of %s after the wait: processing it; another live instance in this "
                       "group writes its own model, which scale-out does not support yet", s->t_in);
    segstream_http_set_ready(s->http, true, NULL);
    return false;
}

/* Where to start each assigned partition: its committed offset (just read
 * by on_assign), or without one the log's start, which is what
 * auto.offset.reset=earliest means. Explicit offsets spare librdkafka 2.0 its
 * own committed-offset fetch and, on a partition with no commit yet, an
 * offset-reset path that starts fetching only after a 100 ms timer (seen in
 * its debug log; a tenth of a second on every first assignment). NULL (out
 * of memory): the caller assigns with INVALID offsets, librdkafka's way. */
static rd_kafka_topic_partition_list_t *start_offsets(stage *s, const rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *at = rd_kafka_topic_partition_list_copy(parts);
    if (!at)
        return NULL;
    for (int i = 0; i < at->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &at->elems[i];
        int64_t committed = offset_in(s->positions, tp->topic, tp->partition, RD_KAFKA_OFFSET_INVALID);
        int64_t low = 0, high = 0;
        if (committed >= 0)
            tp->offset = committed;
        else if (!rd_kafka_query_watermark_offsets(s->consumer, tp->topic, tp->partition, &low, &high, 10000))
            tp->offset = low;
        else
            tp->offset = RD_KAFKA_OFFSET_INVALID; /* librdkafka resets it as configured */
    }
    return at;
}

/* SEGSTREAM_TEST_FENCE: fences our producer at the count-th time step comes. */
static void test_fence(stage *s, const char *step, long count)
{
    if (!s->fence_at || s->fence_injected || count != s->fence_at || strcmp(step, s->fence_step))
        return;
    s->fence_injected = true;
    char errstr[512];
    rd_kafka_t *other = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_dup(s->producer_conf), errstr, sizeof errstr);
    rd_kafka_error_t *ke = other ? rd_kafka_init_transactions(other, 30000) : NULL;
    segstream_log_warn("injected fencing at %s %ld (SEGSTREAM_TEST_FENCE): %s", step, count,
                       !other ? errstr : ke ? rd_kafka_error_string(ke) : "another producer took transactional id");
    if (ke)
        rd_kafka_error_destroy(ke);
    if (other)
        rd_kafka_destroy(other);
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e, rd_kafka_topic_partition_list_t *parts,
                         void *opaque)
{
    stage *s = opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (on_assign(s, parts, &s->fatal_err)) {
            s->fatal = true;
            rd_kafka_assign(rk, NULL);
            return;
        }
        rd_kafka_topic_partition_list_t *start_at = start_offsets(s, parts);
        rd_kafka_assign(rk, start_at ? start_at : parts); /* offsets INVALID = the group's committed ones */
        if (start_at)
            rd_kafka_topic_partition_list_destroy(start_at);
        segstream_log_info("assigned %d partitions", parts->cnt);
        /* no readiness probe right away: it would wait behind the first fetch's long-poll, and hold the first batch */
        s->last_input_ms = s->last_commit_ms = now_ms();
        s->assigned = true;
        segstream_http_set_ready(s->http, true, NULL);
        whole_input_wait(s, parts);
        test_fence(s, "assign", ++s->assignments);
    } else {
        /* No transaction is open while polling: what was buffered is dropped
         * and comes again from the committed offsets. */
        drop_batch(s);
        segstream_merge_clear(s->merge, pending_free);
        rd_kafka_topic_partition_list_destroy(s->positions);
        s->positions = rd_kafka_topic_partition_list_new(1);
        resume_all(s); /* unassign with no partition left paused */
        rd_kafka_assign(rk, NULL);
        s->assigned = false;
        s->partial_until_ms = 0;
        s->join_barrier = false;
        segstream_log_info("revoked %d partitions", parts->cnt);
        segstream_http_set_ready(s->http, false, "no partitions assigned");
    }
}

/* librdkafka's own errors: a broker cut-off shows on /readyz; bad
 * credentials stop the stage with a clear message instead of a long wait. */
static void error_cb(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
    stage *s = opaque;
    segstream_kafka_record_error(rk, e, reason); /* authentication / TLS: checked in the loop */
    if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        segstream_log_warn("kafka: all brokers down: %s", reason);
        segstream_http_set_ready(s->http, false, "all brokers down");
    } else {
        segstream_log_warn("kafka: %s: %s", rd_kafka_err2name(e), reason);
    }
}

static pending *find_pending(stage *s, const segstream_event_source *src)
{
    for (size_t i = 0; i < s->n; i++) {
        rd_kafka_message_t *m = s->batch[i]->m;
        if (m->partition == src->partition && m->offset == src->offset &&
            !strcmp(rd_kafka_topic_name(m->rkt), src->topic))
            return s->batch[i];
    }
    return NULL;
}

static int produce_to(stage *s, const char *topic, int32_t partition, const void *key, size_t key_len,
                      const void *val, size_t len, rd_kafka_headers_t *hdrs, segstream_err *err)
{
    for (;;) {
        rd_kafka_resp_err_t e =
            hdrs ? rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                                     RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                     RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_END)
                 : rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                                     RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                     RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) { /* back-pressure: wait for deliveries */
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

static int produce(stage *s, const char *topic, const void *key, size_t key_len, const void *val, size_t len,
                   rd_kafka_headers_t *hdrs, segstream_err *err)
{
    return produce_to(s, topic, RD_KAFKA_PARTITION_UA, key, key_len, val, len, hdrs, err);
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
    pending *p = find_pending(s, &dl->source);
    rd_kafka_message_t *m = p ? p->m : NULL;
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

/* Puts back the last committed state and seeks every assigned partition to
 * its committed position, so the events after it come again: the state and
 * positions of our own copy of that commit, or (reread) the topics'. */
static int rewind_to_committed(stage *s, bool reread, segstream_err *err)
{
    drop_batch(s);
    if (reread) {
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_copy(s->positions);
        int rc = read_committed(s, parts, err);
        rd_kafka_topic_partition_list_destroy(parts);
        if (rc)
            return -1;
    } else if (segstream_pipeline_restore(s->p, s->committed, s->committed_len, err) ||
               (s->scale_out && model_log_seek(s, err)))
        return -1;
    rd_kafka_topic_partition_list_t *to = rd_kafka_topic_partition_list_copy(s->positions);
    for (int i = 0; i < to->cnt; i++)
        if (to->elems[i].offset < 0)
            to->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
    resume_all(s);
    rd_kafka_error_t *ke = to->cnt ? rd_kafka_seek_partitions(s->consumer, to, 30000) : NULL;
    rd_kafka_topic_partition_list_destroy(to);
    if (ke) {
        segstream_err_set(err, "seeking to the committed offsets: %s", rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
        return -1;
    }
    return merge_reset(s, err);
}

/* Notes in longest_open_ms how long the current transaction has been open. */
static void note_open(stage *s)
{
    int64_t open_ms = s->txn_began_ms ? now_ms() - s->txn_began_ms : 0;
    if (open_ms > s->longest_open_ms)
        s->longest_open_ms = open_ms;
}

static int abort_and_rewind(stage *s, segstream_err *err)
{
    note_open(s);
    segstream_http_set_ready(s->http, false, "aborting a transaction and rewinding");
    rd_kafka_error_t *ke = rd_kafka_abort_transaction(s->producer, 60000);
    if (ke) {
        segstream_err_set(err, "abort_transaction: %s", rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
        return -1;
    }
    segstream_counter_add(s->m.transaction_aborts, 1);
    return rewind_to_committed(s, false, err);
}

/* The outcome of one transactional call: 0 done, 1 aborted and rewound (the
 * events come again), -1 fatal. ke is consumed. */
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

/* Each blocking call waits this long, then counts as a retriable timeout: the
 * loop around it keeps /readyz and /healthz telling the truth meanwhile. */
#define TXN_STEP_TIMEOUT_MS 5000

typedef enum txn_step { TXN_INIT, TXN_BEGIN, TXN_SEND_OFFSETS, TXN_COMMIT } txn_step;

static rd_kafka_error_t *txn_call(stage *s, txn_step step, const rd_kafka_topic_partition_list_t *offsets)
{
    note_open(s);
    switch (step) {
    case TXN_INIT: return rd_kafka_init_transactions(s->producer, TXN_STEP_TIMEOUT_MS);
    case TXN_BEGIN: return rd_kafka_begin_transaction(s->producer);
    case TXN_SEND_OFFSETS: {
        rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(s->consumer);
        rd_kafka_error_t *ke = rd_kafka_send_offsets_to_transaction(s->producer, offsets, cgmd, TXN_STEP_TIMEOUT_MS);
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        return ke;
    }
    case TXN_COMMIT: return rd_kafka_commit_transaction(s->producer, TXN_STEP_TIMEOUT_MS);
    }
    return NULL;
}

/* Calls a transactional step again while it fails with a retriable error
 * (a coordinator moving, a broker briefly away), for up to timeout_ms;
 * meanwhile /readyz says why the stage is not ready. */
static rd_kafka_error_t *txn_retrying(stage *s, txn_step step, const rd_kafka_topic_partition_list_t *offsets,
                                      int64_t timeout_ms)
{
    rd_kafka_error_t *ke = txn_call(s, step, offsets);
    int64_t until = now_ms() + timeout_ms;
    while (ke && rd_kafka_error_is_retriable(ke) && now_ms() < until) {
        segstream_log_warn("%s (retrying)", rd_kafka_error_string(ke));
        segstream_http_set_ready(s->http, false, rd_kafka_error_string(ke));
        segstream_http_heartbeat(s->http); /* alive, waiting for the brokers */
        rd_kafka_error_destroy(ke);
        rd_kafka_poll(s->producer, 200);
        ke = txn_call(s, step, offsets);
    }
    return ke;
}

/* The gauges, and readiness. probe: ask the broker for a log end (a round
 * trip that can wait up to 500 ms behind the consumer's fetch long-poll on
 * the same connection), for when nothing else shows that the broker answers;
 * a transaction that just committed shows it, so busy stages never probe. */
static void update_gauges(stage *s, bool probe)
{
    segstream_pipeline_stats st;
    segstream_pipeline_get_stats(s->p, &st);
    segstream_gauge_set(s->m.model_version, (double)st.model_version);
    segstream_gauge_set(s->m.users_tracked, (double)st.users);
    segstream_gauge_set(s->m.active_segments, (double)st.active_segments);
    if (st.watermark != INT64_MIN)
        segstream_gauge_set(s->m.watermark, (double)st.watermark / 1000.0);
    /* counters: add what is new since the last look */
    uint64_t hits = segstream_counter_value(s->m.cache_hits), misses = segstream_counter_value(s->m.cache_misses);
    if (st.cache_hits > hits)
        segstream_counter_add(s->m.cache_hits, st.cache_hits - hits);
    if (st.cache_misses > misses)
        segstream_counter_add(s->m.cache_misses, st.cache_misses - misses);
    /* readiness, actively: one log-end query to the leader of an assigned
     * partition (librdkafka's all-brokers-down event alone proved unreliable
     * when the stage sat idle) */
    if (!probe) {
        bool waiting = s->partial_until_ms != 0;
        segstream_http_set_ready(s->http, s->assigned && !waiting,
                                 !s->assigned ? "no partitions assigned"
                                 : waiting    ? "waiting for the whole input"
                                              : NULL);
    } else if (s->consumer && s->assigned && s->positions->cnt) {
        int64_t lo, hi;
        const rd_kafka_topic_partition_t *tp = &s->positions->elems[0];
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(s->consumer, tp->topic, tp->partition, &lo, &hi, 500);
        bool waiting = s->partial_until_ms != 0;
        segstream_http_set_ready(s->http, !e && !waiting,
                                 e ? rd_kafka_err2str(e) : waiting ? "waiting for the whole input" : NULL);
    }
    /* lag: our committed positions against the cached log ends (librdkafka's
     * own lag is stale under transactions) */
    for (int i = 0; s->consumer && i < s->positions->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &s->positions->elems[i];
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(s->consumer, tp->topic, tp->partition, &lo, &hi) || hi < 0)
            continue;
        int64_t from = tp->offset >= 0 ? tp->offset : lo;
        char part[16];
        snprintf(part, sizeof part, "%" PRId32, tp->partition);
        const char *labels[] = {tp->topic, part, NULL};
        segstream_gauge_set(segstream_metric_series(s->m.consumer_lag, labels), (double)(hi > from ? hi - from : 0));
    }
    s->last_gauges_ms = now_ms();
}

/* The checkpoint: only what the state topic does not hold yet. */
static int write_state(stage *s, const uint8_t *blob, size_t len, segstream_err *err)
{
    if (s->scale_out) /* only the owned partitions: the other keys are other instances' */
        return segstream_state_bundle_write_parts(s->producer, s->t_state, s->group, blob, len, &s->state_keys,
                                                  &s->state_stats, err);
    return segstream_state_bundle_write(s->producer, s->t_state, s->group, blob, len, &s->state_keys,
                                        &s->state_stats, err);
}

/* Scale-out: reads what the model topic has (never waits); stops at a
 * complete barrier, which waits to be applied. */
static int model_log_poll(stage *s, segstream_err *err)
{
    while (!segstream_model_log_complete(s->mlog)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->model_reader, 0);
        if (!m)
            return 0;
        int rc = 0;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            rc = 0;
        else if (m->err)
            segstream_log_warn("reading %s: %s", s->t_model, rd_kafka_message_errstr(m));
        else
            rc = segstream_model_log_add(s->mlog, m->payload, m->len, m->offset, err);
        rd_kafka_message_destroy(m);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Scale-out: our partitions' deltas on the model topic, one record each (a
 * delta can be megabytes), in the open transaction. */
static int publish_deltas(stage *s, segstream_err *err)
{
    segstream_stage_delta *d = NULL;
    size_t n = 0;
    int64_t wanted;
    if (segstream_pipeline_barrier_take(s->p, &d, &n, &wanted, err))
        return -1;
    int rc = 0;
    segstream_buf b = {0};
    for (size_t i = 0; !rc && i < n; i++) {
        segstream_buf_reset(&b);
        if (segstream_model_record_write(&b, s->group, d[i].seq, wanted, s->n_input_partitions, &d[i], 1))
            rc = segstream_err_set(err, "out of memory for a model record");
        else
            rc = produce_to(s, s->t_model, 0, s->group, strlen(s->group), b.data, b.len, NULL, err);
        if (!rc)
            segstream_log_debug("barrier %" PRId64 ": partition %d gives %zu bytes of delta%s", d[i].seq,
                                (int)d[i].partition, d[i].len, wanted == INT64_MAX ? " (no event asked here)" : "");
    }
    segstream_buf_free(&b);
    segstream_stage_deltas_free(d, n);
    return rc;
}

/* The dead letters of batch[0, upto) that did not decode. */
static int undecodable_dead_letters(stage *s, size_t upto, segstream_err *err)
{
    for (size_t i = 0; i < upto; i++)
        if (!s->batch[i]->decoded) {
            rd_kafka_message_t *m = s->batch[i]->m;
            segstream_dead_letter dl = {SEGSTREAM_DLQ_DECODE_ERROR, s->batch[i]->why,
                                        {rd_kafka_topic_name(m->rkt), m->partition, m->offset}, NULL, m->payload,
                                        m->len};
            if (on_dead_letter(s, &dl, err))
                return -1;
        }
    return 0;
}

/* Processes the released batch in one transaction. Returns 0 (committed, or
 * aborted and rewound) or -1 on a fatal error (s->producer_fatal tells whether
 * the producer is to blame). */
static int process_batch(stage *s, bool *producer_fatal, segstream_err *err)
{
    size_t n = s->n, k = 0, cut = n; /* batch[0, cut) is what this transaction takes */
    int rc = -1;
    int64_t started = now_ms();
    *producer_fatal = false;
    segstream_pipeline_event *pev = calloc(n ? n : 1, sizeof *pev);
    size_t *batch_of = calloc(n ? n : 1, sizeof *batch_of); /* pev index -> batch index */
    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new(4);
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    int64_t applied_seq = -1;
    if (!pev || !batch_of) {
        segstream_err_set(err, "out of memory for a batch of %zu", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        pending *p = s->batch[i];
        rd_kafka_message_t *m = p->m;
        if (p->decoded) {
            batch_of[k] = i;
            pev[k++] = (segstream_pipeline_event){&p->rec, {rd_kafka_topic_name(m->rkt), m->partition, m->offset},
                                                  NULL, m->payload, m->len};
        }
    }
    segstream_pipeline_stats before, after;
    segstream_pipeline_get_stats(s->p, &before);
    s->dlq_in_batch = 0;
    s->state_stats = (segstream_state_bundle_stats){0};
    /* the steps' times, for the "batch committed" line: where a batch's time goes */
    double t_begin = now_fms(), t_process = 0, t_snapshot = 0, t_state = 0, t_offsets = 0, t_commit = 0;
    s->txn_began_ms = now_ms();
    int t = txn_result(s, txn_retrying(s, TXN_BEGIN, NULL, 30000), "begin_transaction", err);
    if (t)
        goto txn_done;
    test_fence(s, "begin", ++s->txns);
    segstream_pipeline_sink sink = {s, on_change, on_segment, on_dead_letter};
    if (!s->scale_out && undecodable_dead_letters(s, n, err))
        goto pipeline_failed;
    t_process = now_fms();
    bool at_barrier = false;
    if (s->scale_out) {
        /* a complete barrier first; events only once every owned model has caught up */
        segstream_stage_barrier_state st;
        segstream_pipeline_barrier_state(s->p, &st);
        if (segstream_model_log_complete(s->mlog) && segstream_model_log_seq(s->mlog) == st.seq_min) {
            size_t n_all;
            const segstream_stage_delta *all = segstream_model_log_deltas(s->mlog, &n_all);
            long models = 0;
            applied_seq = st.seq_min;
            if (segstream_pipeline_barrier_apply(s->p, applied_seq, all, n_all, segstream_model_log_pane(s->mlog),
                                                 segstream_model_log_end(s->mlog), &sink, &models, err))
                goto pipeline_failed;
            segstream_log_debug("barrier %" PRId64 " applied to %ld partition models (pane %" PRId64 ")",
                                applied_seq, models, segstream_model_log_pane(s->mlog));
            segstream_pipeline_barrier_state(s->p, &st);
        }
        size_t applied = 0;
        int prc = st.seq_min == st.seq_max
                      ? segstream_pipeline_process_to_barrier(s->p, pev, k, &sink, &applied, err)
                      : SEGSTREAM_PIPELINE_AT_BARRIER;
        if (prc < 0)
            goto pipeline_failed;
        if (prc == SEGSTREAM_PIPELINE_AT_BARRIER) {
            cut = applied < k ? batch_of[applied] : n;
            at_barrier = st.seq_min == st.seq_max;
        }
        if (at_barrier || s->join_barrier)
            test_fence(s, "barrier", ++s->publishes);
        if ((at_barrier || s->join_barrier) && publish_deltas(s, err))
            goto pipeline_failed;
    } else if (segstream_pipeline_process(s->p, pev, k, &sink, err)) {
        goto pipeline_failed;
    }
    for (size_t i = 0; i < cut; i++) {
        rd_kafka_message_t *m = s->batch[i]->m;
        set_offset_in(offsets, rd_kafka_topic_name(m->rkt), m->partition, m->offset + 1);
    }
    if (s->scale_out && undecodable_dead_letters(s, cut, err)) /* only now is the cut known */
        goto pipeline_failed;
    test_fence(s, "produce", s->txns);
    t_snapshot = now_fms();
    if (segstream_pipeline_snapshot(s->p, &blob, &blob_len, err))
        goto pipeline_failed;
    t_state = now_fms();
    if (!s->replay && write_state(s, blob, blob_len, err))
        goto pipeline_failed;
    segstream_http_heartbeat(s->http); /* a long batch is progress, not a stall (readiness) */
    t_offsets = now_fms();
    /* Scale-out: a transaction of only a barrier (no event went through) sends the committed
     * positions again, for the group generation they carry: an instance the group has
     * dropped without its knowing (a long pause) must not commit deltas or state of
     * partitions another instance now owns; the broker aborts such a transaction. */
    bool resend = s->scale_out && !offsets->cnt;
    for (int i = 0; resend && i < s->positions->cnt; i++)
        if (s->positions->elems[i].offset >= 0)
            set_offset_in(offsets, s->positions->elems[i].topic, s->positions->elems[i].partition,
                          s->positions->elems[i].offset);
    test_fence(s, "offsets", s->txns);
    if (offsets->cnt) /* none: nothing was ever committed, and no event went through yet */
        t = txn_result(s, txn_retrying(s, TXN_SEND_OFFSETS, offsets, 120000), "send_offsets_to_transaction", err);
    if (t)
        goto txn_done;
    t_commit = now_fms();
    test_fence(s, "commit", s->txns);
    t = txn_result(s, txn_retrying(s, TXN_COMMIT, NULL, 300000), "commit_transaction", err);
    if (t)
        goto txn_done;
    if (s->lose_commit_at && ++s->commits == s->lose_commit_at) {
        segstream_err_set(err, "commit_transaction: fatal error after the broker committed (injected by "
                               "SEGSTREAM_TEST_LOSE_COMMIT)");
        t = -1;
        goto txn_done;
    }
    double t_end = now_fms();
    segstream_http_heartbeat(s->http);
    set_committed(s, blob, blob_len);
    blob = NULL;
    segstream_state_keys_commit(&s->state_keys); /* a replay wrote nothing: stays as it was */
    for (int i = 0; i < offsets->cnt; i++)
        set_offset_in(s->positions, offsets->elems[i].topic, offsets->elems[i].partition, offsets->elems[i].offset);
    s->producer_restarts = 0;
    s->longest_open_ms = 0;
    s->last_commit_ms = now_ms();
    segstream_pipeline_get_stats(s->p, &after);
    segstream_counter_add(s->m.events_in, cut);
    segstream_counter_add(s->m.events_out, after.changes - before.changes);
    segstream_counter_add(s->m.catalog_out, after.segments - before.segments);
    segstream_histogram_observe(s->m.batch_size, (double)cut);
    segstream_histogram_observe(s->m.encode_seconds, (double)(after.encode_ns - before.encode_ns) / 1e9);
    segstream_counter_add(s->m.transactions, 1);
    update_gauges(s, false);
    segstream_log_kv(SEGSTREAM_LOG_DEBUG,
                     SEGSTREAM_LOG_FIELDS(SLF_INT("events", cut), SLF_INT("changes", after.changes - before.changes),
                                          SLF_INT("dead_letters", s->dlq_in_batch),
                                          SLF_INT("snapshot_bytes", s->committed_len),
                                          SLF_INT("state_keys", s->state_stats.keys),
                                          SLF_INT("state_keys_unchanged", s->state_stats.keys_unchanged),
                                          SLF_INT("state_bytes_written", s->state_stats.sum.bytes_written),
                                          SLF_INT("state_chunks", s->state_stats.sum.chunks),
                                          SLF_INT("state_chunks_written", s->state_stats.sum.chunks_written),
                                          SLF_INT("state_chunks_deleted", s->state_stats.sum.deletions),
                                          SLF_INT("encode_ms", (after.encode_ns - before.encode_ns) / 1000000),
                                          SLF_DBL("begin_ms", t_process - t_begin),
                                          SLF_DBL("process_ms", t_snapshot - t_process),
                                          SLF_DBL("snapshot_ms", t_state - t_snapshot),
                                          SLF_DBL("state_hash_ms", s->state_stats.sum.hash_ms),
                                          SLF_DBL("state_produce_ms", s->state_stats.sum.produce_ms),
                                          SLF_DBL("state_ms", t_offsets - t_state),
                                          SLF_DBL("send_offsets_ms", t_commit - t_offsets),
                                          SLF_DBL("commit_ms", t_end - t_commit),
                                          SLF_INT("batch_ms", now_ms() - started),
                                          SLF_INT("waited_ms", started - s->batch_start)),
                     "batch committed");
    if (applied_seq >= 0) {
        segstream_model_log_expect(s->mlog, applied_seq + 1);
        segstream_counter_add(s->m.barriers, 1);
    }
    s->join_barrier = false;
    drop_first(s, cut);
    rc = 0;
    goto done;
pipeline_failed:
    note_open(s);
    if (rd_kafka_fatal_error(s->producer, NULL, 0)) { /* a produce call met the producer's fatal error */
        *producer_fatal = true;
        goto done;
    }
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
    *producer_fatal = t < 0;
done:
    free(pev), free(batch_of), free(blob);
    segstream_state_keys_abort(&s->state_keys); /* not committed: the topic holds the stored lists still */
    rd_kafka_topic_partition_list_destroy(offsets);
    return rc;
}

/* Asks the broker, once, where the topics the stage writes live. Without it
 * the first transaction's records wait for librdkafka's next scan of topics
 * it does not know (up to a second; 300-550 ms measured in bench-e2e) inside
 * commit_transaction. A failure here is not an error: producing asks again. */
static void learn_output_topics(stage *s)
{
    const char *names[] = {s->t_out, s->t_seg, s->t_state, s->t_dlq, s->t_model ? s->t_model : s->t_dlq};
    rd_kafka_topic_t *rkt[sizeof names / sizeof *names] = {0};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        rkt[i] = rd_kafka_topic_new(s->producer, names[i], NULL);
    const struct rd_kafka_metadata *md = NULL;
    /* all_topics 0 and no topic given: the topics this producer knows, those above */
    rd_kafka_resp_err_t e = rd_kafka_metadata(s->producer, 0, NULL, &md, 10000);
    if (e)
        segstream_log_debug("output topics' metadata: %s (asked again when producing)", rd_kafka_err2str(e));
    else
        rd_kafka_metadata_destroy(md);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (rkt[i])
            rd_kafka_topic_destroy(rkt[i]);
}

/* A new producer under the same transactional id: init_transactions aborts
 * whatever the old one left open and fences it. */
static int start_producer(stage *s, segstream_err *err)
{
    char errstr[512];
    rd_kafka_conf_t *pc = rd_kafka_conf_dup(s->producer_conf);
    s->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof errstr);
    if (!s->producer) {
        rd_kafka_conf_destroy(pc);
        return segstream_err_set(err, "producer: %s", errstr);
    }
    /* wrong credentials or an unreachable cluster: a clear error now, not a
     * minute of init_transactions retries */
    if (segstream_kafka_wait_connected(s->producer, (int)segstream_config_duration_ms(s->cfg, "pipeline.broker_wait"),
                                       err))
        return -1;
    rd_kafka_error_t *ke = txn_retrying(s, TXN_INIT, NULL, 60000);
    if (ke) {
        segstream_err_set(err, "init_transactions (%s): %s", s->txid, rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
        return -1;
    }
    learn_output_topics(s);
    return 0;
}

static bool fenced(rd_kafka_t *producer)
{
    char buf[256];
    rd_kafka_resp_err_t e = rd_kafka_fatal_error(producer, buf, sizeof buf);
    return e == RD_KAFKA_RESP_ERR__FENCED || e == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           e == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH || e == RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
}

static int restart_producer(stage *s, segstream_err *err)
{
    /* Fenced: another instance took our transactional id, or the broker aborted our
     * transaction because it stayed open past transaction.timeout.ms, which bumps the
     * epoch the same way. The second (this process stalled: a pause, a frozen VM) is
     * recovered like any fatal producer error; the first stops us. The overrun may
     * have been an earlier transaction since the last commit: the broker's timeout
     * check runs every few seconds, so its fencing can land in the transaction after
     * the one that overran (which we aborted ourselves when its step failed). */
    if (fenced(s->producer) && s->fence_injected && s->fence_at > 0) {
        s->fence_at = 0; /* once */
        segstream_log_warn("fenced by the injected producer (SEGSTREAM_TEST_FENCE): recovered as a stall");
    } else if (fenced(s->producer)) {
        note_open(s);
        if (s->longest_open_ms < s->txn_timeout_ms)
            return segstream_err_prefix(err, "fenced: another instance uses transactional id %s", s->txid);
        segstream_log_warn("a transaction was open for %.1f s, past transaction.timeout.ms (%.1f s): the broker "
                           "aborted it (this process stalled?)", (double)s->longest_open_ms / 1000,
                           (double)s->txn_timeout_ms / 1000);
    }
    if (++s->producer_restarts > MAX_PRODUCER_RESTARTS)
        return segstream_err_prefix(err, "%d producer restarts without a commit", MAX_PRODUCER_RESTARTS);
    segstream_log_warn("%s; recreating the producer and rewinding", err->message);
    segstream_http_set_ready(s->http, false, "recreating the producer");
    rd_kafka_purge(s->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(s->producer);
    s->producer = NULL;
    if (start_producer(s, err))
        return -1;
    /* A fatal error can come after the broker applied the commit (a lost
     * EndTxn response, say); init_transactions has settled the transaction
     * one way or the other, so the topics, not our copy, say where we are,
     * as on an assignment. A replay keeps no state in the topics: it can only
     * go back to its own copy. */
    return rewind_to_committed(s, !s->replay, err);
}

/* A polled message: end-of-partition news, an error, or an input to buffer. */
static int intake(stage *s, rd_kafka_message_t *msg, int64_t now, segstream_err *err)
{
    const char *topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : "";
    int64_t end = s->ends ? offset_in(s->ends, topic, msg->partition, INT64_MAX) : INT64_MAX;
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        segstream_merge_caught_up(s->merge, topic, msg->partition, now);
        if (msg->offset >= end)
            segstream_merge_finished(s->merge, topic, msg->partition);
        rd_kafka_message_destroy(msg);
        return 0;
    }
    if (msg->err) {
        segstream_log_warn("consumer: %s", rd_kafka_message_errstr(msg));
        bool fatal = msg->err == RD_KAFKA_RESP_ERR__FATAL;
        rd_kafka_message_destroy(msg);
        return fatal ? segstream_err_set(err, "consumer: fatal error") : 0;
    }
    s->last_input_ms = now;
    if (msg->offset >= end) { /* a replay past its end */
        segstream_merge_finished(s->merge, topic, msg->partition);
        rd_kafka_message_destroy(msg);
        return 0;
    }
    pending *p = calloc(1, sizeof *p);
    if (!p) {
        rd_kafka_message_destroy(msg);
        return segstream_err_set(err, "out of memory");
    }
    p->m = msg;
    segstream_err derr = {{0}};
    p->decoded = !segstream_codec_decode(s->codec, msg->payload, msg->len, &p->rec, NULL, &derr);
    if (!p->decoded) {
        snprintf(p->why, sizeof p->why, "%.255s", derr.message);
        segstream_record_clear(&p->rec);
    }
    int64_t t = p->decoded && p->rec.type == SEGSTREAM_RECORD_INTEREST_CHANGE ? p->rec.interest_change.event_time
                                                                              : SEGSTREAM_MERGE_INHERIT_TIME;
    int32_t part = msg->partition;
    int64_t off = msg->offset;
    if (segstream_merge_push(s->merge, topic, part, t, p)) {
        pending_free(p);
        return segstream_err_set(err, "out of memory");
    }
    if (off + 1 >= end)
        segstream_merge_finished(s->merge, topic, part);
    if ((int64_t)segstream_merge_partition_buffered(s->merge, topic, part) >= 4 * s->max_events &&
        !rd_kafka_topic_partition_list_find(s->paused, topic, part)) {
        rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(one, topic, part);
        rd_kafka_pause_partitions(s->consumer, one);
        rd_kafka_topic_partition_list_destroy(one);
        rd_kafka_topic_partition_list_add(s->paused, topic, part);
    }
    return 0;
}

/* Moves released events into the batch, and resumes drained partitions. */
static void release(stage *s, int64_t now)
{
    while ((int64_t)s->n < s->max_events && (int64_t)s->batch_bytes < s->max_bytes) {
        pending *p = segstream_merge_pop(s->merge, now, s->partition_idle_ms);
        if (!p)
            break;
        if (!s->n) {
            s->batch_start = now;
            s->batch_queued = now - s->flushed_ms <= QUEUED_WITHIN_MS;
        }
        s->batch[s->n++] = p;
        s->batch_bytes += p->m->len;
    }
    for (int i = 0; i < s->paused->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &s->paused->elems[i];
        if ((int64_t)segstream_merge_partition_buffered(s->merge, tp->topic, tp->partition) <= s->max_events) {
            rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(one, tp->topic, tp->partition);
            rd_kafka_resume_partitions(s->consumer, one);
            rd_kafka_topic_partition_list_destroy(one);
            rd_kafka_topic_partition_list_del_by_idx(s->paused, i--);
        }
    }
}

static int register_schema_id(void *ctx, uint32_t id, const char *type_name, segstream_err *err)
{
    segstream_record_type type;
    if (segstream_record_type_parse(type_name, &type) < 0)
        return segstream_err_set(err, "schema.registry.ids: unknown record type '%s'", type_name);
    return segstream_codec_register_schema_id(ctx, id, type, err);
}

static void add_secret(void *ctx, const char *value)
{
    (void)ctx;
    segstream_log_add_secret(value);
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, segstream_err *err)
{
    return segstream_cli_kafka_set(conf, k, v, err);
}

/* Scale-out: the model topic's reader (no group: it is assigned where the
 * owned partitions' models need it) and the barrier collector. */
static int start_model_reader(stage *s, const char *group, segstream_err *err)
{
    s->n_input_partitions = input_partition_count(s);
    if (s->n_input_partitions <= 0)
        return segstream_err_set(err, "topics.input: cannot learn how many partitions %s has", s->t_in);
    s->mlog = segstream_model_log_new(group, s->n_input_partitions);
    if (!s->mlog)
        return segstream_err_set(err, "out of memory");
    char errstr[512], reader_group[300];
    snprintf(reader_group, sizeof reader_group, "%s.model-reader", group);
    rd_kafka_conf_t *mc = rd_kafka_conf_dup(s->base_conf);
    if (conf_set(mc, "group.id", reader_group, err) || conf_set(mc, "enable.auto.commit", "false", err) ||
        conf_set(mc, "isolation.level", "read_committed", err) || conf_set(mc, "auto.offset.reset", "earliest", err) ||
        conf_set(mc, "fetch.wait.max.ms", "50", err) || conf_set(mc, "fetch.message.max.bytes", "16777216", err)) {
        rd_kafka_conf_destroy(mc);
        return -1;
    }
    s->model_reader = rd_kafka_new(RD_KAFKA_CONSUMER, mc, errstr, sizeof errstr);
    if (!s->model_reader) {
        rd_kafka_conf_destroy(mc);
        return segstream_err_set(err, "model topic reader: %s", errstr);
    }
    rd_kafka_poll_set_consumer(s->model_reader);
    segstream_log_info("scale-out: sharing the model of group %s through %s (%d input partitions)", group, s->t_model,
                       (int)s->n_input_partitions);
    return 0;
}

/* Scale-out: whether a transaction is due for the model (a complete barrier
 * to apply, or our deltas for a barrier another instance started while we
 * have nothing to process), and whether events wait for a barrier. */
static bool barrier_due(stage *s, bool *waiting)
{
    segstream_stage_barrier_state st;
    segstream_pipeline_barrier_state(s->p, &st);
    if (!st.owned) { /* nothing to share: the model topic is the owners' business */
        *waiting = false;
        return false;
    }
    bool ready = segstream_model_log_complete(s->mlog) && segstream_model_log_seq(s->mlog) == st.seq_min;
    /* Events wait while every owned model gave its delta, or some lag behind. With some
     * given and some not (partitions taken over mid-barrier), events go on: those of the
     * models that gave theirs stop the batch, and then the others give theirs. */
    *waiting = !ready && (st.seq_min != st.seq_max || (st.taken > 0 && st.untaken_at_min == 0));
    bool join = !ready && st.seq_min == st.seq_max && st.untaken_at_min > 0 &&
                segstream_model_log_started(s->mlog) && segstream_model_log_seq(s->mlog) == st.seq_min && !s->n &&
                !segstream_merge_buffered(s->merge);
    if (join)
        s->join_barrier = true;
    return ready || join;
}

/* topics.create: the topics as deploy/kafka/topics.sh creates them: the catalog
 * and the checkpoints compacted, checkpoint chunks and whole poison messages
 * larger than the 1 MiB default; the model topic with one partition, every
 * record kept (a partition's model may need the log from its last checkpoint
 * on) and records of up to a partition's delta. */
static int create_topics(stage *s, rd_kafka_t *admin, segstream_err *err)
{
    static const char *const compacted[] = {"cleanup.policy", "compact", NULL};
    static const char *const state_configs[] = {"cleanup.policy", "compact", "max.message.bytes", "8388608", NULL};
    static const char *const dlq_configs[] = {"max.message.bytes", "2097152", NULL};
    static const char *const model_configs[] = {"retention.ms", "-1", "max.message.bytes", "16777216", NULL};
    const char *topics[] = {s->t_in, s->t_out, s->t_seg, s->t_state, s->t_dlq, s->t_model};
    const char *const *configs[] = {NULL, NULL, compacted, state_configs, dlq_configs, model_configs};
    for (size_t i = 0; i < sizeof topics / sizeof *topics; i++)
        if (topics[i] && segstream_cli_create_topic_with(admin, topics[i], 1, configs[i], 30000, err))
            return -1;
    return 0;
}

/* The latest checkpoint lists chunks written long ago (those that did not
 * change since), so the state topic must never delete by age or size: it is
 * compacted, or keeps everything. A topic that does not exist is refused too
 * (the producer would have the broker create it with its defaults). Brokers
 * that do not let us describe the topic only get a warning. */
static int check_state_topic(stage *s, rd_kafka_t *admin, segstream_err *err)
{
    static const char *const names[] = {"cleanup.policy", "retention.ms", "retention.bytes"};
    char *v[3];
    segstream_err derr = {{0}};
    int found = segstream_cli_topic_configs(admin, s->t_state, names, v, 3, 30000, &derr);
    if (found < 0) {
        segstream_log_warn("topics.state: could not check the configs of %s (%s)", s->t_state, derr.message);
        return 0;
    }
    if (found == 1)
        return segstream_err_set(err,
                                 "topics.state: topic %s does not exist; create it compacted "
                                 "(deploy/kafka/topics.sh) or set topics.create=true",
                                 s->t_state);
    const char *policy = v[0] ? v[0] : "delete"; /* the broker's default */
    bool deletes = strstr(policy, "delete") || !strstr(policy, "compact");
    bool keeps_all = v[1] && !strcmp(v[1], "-1") && (!v[2] || !strcmp(v[2], "-1"));
    int rc = 0;
    if (deletes && !keeps_all)
        rc = segstream_err_set(err,
                               "topics.state: topic %s has cleanup.policy=%s (retention.ms=%s, retention.bytes=%s): "
                               "the broker would delete checkpoint chunks the latest checkpoint still needs; "
                               "set cleanup.policy=compact on it",
                               s->t_state, policy, v[1] ? v[1] : "?", v[2] ? v[2] : "?");
    for (int i = 0; i < 3; i++)
        free(v[i]);
    return rc;
}

/* A missing input topic would leave the consumer waiting for an assignment
 * for ever, with nothing in the log: refuse it at start. A broker that does
 * not let us describe the topic only gets a warning. */
static int check_input_topic(stage *s, rd_kafka_t *admin, segstream_err *err)
{
    static const char *const names[] = {"cleanup.policy"};
    char *v[1];
    segstream_err derr = {{0}};
    int found = segstream_cli_topic_configs(admin, s->t_in, names, v, 1, 30000, &derr);
    if (found < 0) {
        segstream_log_warn("topics.input: could not check that %s exists (%s)", s->t_in, derr.message);
        return 0;
    }
    free(v[0]);
    if (found == 1)
        return segstream_err_set(err,
                                 "topics.input: topic %s does not exist on the cluster; create it "
                                 "(deploy/kafka/topics.sh), set topics.create=true, or name an existing topic",
                                 s->t_in);
    return 0;
}

/* Everything up to a running consumer. */
static int start(stage *s, segstream_metrics *metrics, segstream_err *err)
{
    const segstream_kafka_stage_options *o = s->o;
    const segstream_config *cfg = s->cfg;
    const char *group = o->group_id ? o->group_id : segstream_config_string(cfg, "group.id");
    s->t_in = segstream_config_string(cfg, "topics.input");
    s->t_out = o->output_topic ? o->output_topic : segstream_config_string(cfg, "topics.output");
    s->t_seg = o->segments_topic ? o->segments_topic : segstream_config_string(cfg, "topics.segments");
    s->t_state = segstream_config_string(cfg, "topics.state");
    s->t_dlq = segstream_config_string(cfg, "topics.dlq");
    s->replay = o->start != NULL;
    const char *model_topic = segstream_config_string(cfg, "topics.model");
    s->t_model = model_topic[0] ? model_topic : NULL;
    s->scale_out = s->t_model && !s->replay;
    snprintf(s->group, sizeof s->group, "%s", group);
    s->max_events = segstream_config_int(cfg, "batch.max_events");
    s->max_ms = segstream_config_int(cfg, "batch.max_ms");
    s->max_bytes = segstream_config_int(cfg, "batch.max_bytes");
    const char *lose = getenv("SEGSTREAM_TEST_LOSE_COMMIT");
    s->lose_commit_at = lose ? strtol(lose, NULL, 10) : 0;
    const char *fence = getenv("SEGSTREAM_TEST_FENCE");
    if (fence && *fence) {
        const char *colon = strchr(fence, ':');
        static const char *const steps[] = {"begin", "produce", "barrier", "offsets", "commit", "assign"};
        size_t len = colon ? (size_t)(colon - fence) : 0;
        for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
            if (len == strlen(steps[i]) && !strncmp(fence, steps[i], len))
                snprintf(s->fence_step, sizeof s->fence_step, "%s", steps[i]);
        s->fence_at = colon ? strtol(colon + 1, NULL, 10) : 0;
        if (!s->fence_step[0] || s->fence_at <= 0)
            return segstream_err_set(err, "SEGSTREAM_TEST_FENCE=%s: expected STEP:N, STEP one of begin, produce, "
                                          "barrier, offsets, commit, assign, and N >= 1", fence);
    }
    s->partition_idle_ms = s->replay ? INT64_MAX / 4 : segstream_config_duration_ms(cfg, "pipeline.partition_idle");
    s->positions = rd_kafka_topic_partition_list_new(1);
    s->paused = rd_kafka_topic_partition_list_new(4);
    s->merge = segstream_merge_new();
    s->batch = malloc((size_t)s->max_events * sizeof *s->batch);
    if (!s->merge || !s->batch)
        return segstream_err_set(err, "out of memory");

    if (segstream_stage_metrics_register(metrics, SEGSTREAM_VERSION, &s->m, err))
        return -1;
    segstream_http_options ho = segstream_http_default_options();
    ho.listen = segstream_config_string(cfg, "metrics.listen");
    ho.metrics = metrics;
    /* librdkafka 2.0's send_offsets_to_transaction can block without a bound
     * while the coordinator is unreachable: the main loop's heartbeat going
     * stale is what tells /readyz then */
    ho.ready_stall_ms = 15000;
    if (segstream_http_start(&ho, &s->http, err))
        return -1;
    if (s->http)
        segstream_log_info("metrics on port %d", segstream_http_port(s->http));
    segstream_http_set_ready(s->http, false, "starting");

    segstream_stage_settings st = segstream_config_stage_settings(cfg);
    st.keep_input_order = 1; /* the partition merge orders */
    st.partition_models = s->scale_out;
    if (s->t_model && s->replay)
        segstream_log_info("replay: one shared model over the replayed partitions (topics.model is for the live "
                           "group)");
    s->p = segstream_pipeline_open(&st, err);
    if (!s->p)
        return -1;
    if (o->state) {
        if (segstream_pipeline_restore(s->p, o->state, o->state_len, err))
            return segstream_err_prefix(err, "the replay's start state");
    }
    if (segstream_pipeline_snapshot(s->p, &s->fresh, &s->fresh_len, err))
        return -1;
    if (s->scale_out) { /* the model slice every restore of owned partitions goes with */
        segstream_snapshot_slice *sl = NULL;
        size_t n_sl = 0;
        if (segstream_snapshot_slices(s->fresh, s->fresh_len, &sl, &n_sl, err))
            return -1;
        s->fresh_model = sl[0].data;
        s->fresh_model_len = sl[0].len;
        free(sl);
    }
    s->codec = segstream_codec_new(NULL, err);
    if (!s->codec || segstream_config_each_schema_id(cfg, register_schema_id, s->codec, err))
        return -1;

    s->base_conf = segstream_cli_stage_kafka_conf(cfg, err);
    if (!s->base_conf)
        return -1;
    rd_kafka_conf_set_error_cb(s->base_conf, error_cb);
    rd_kafka_conf_set_opaque(s->base_conf, s);

    /* The producer first: init_transactions fences an older instance with the
     * same transactional id and aborts its open transaction, so the state
     * topic read on assignment holds only committed snapshots. */
    if (o->transactional_id)
        snprintf(s->txid, sizeof s->txid, "%s", o->transactional_id);
    else
        snprintf(s->txid, sizeof s->txid, "%s-%s", group, segstream_config_string(cfg, "instance.id"));
    s->producer_conf = rd_kafka_conf_dup(s->base_conf);
    if (conf_set(s->producer_conf, "transactional.id", s->txid, err) ||
        conf_set(s->producer_conf, "partitioner", "murmur2_random", err) ||
        conf_set(s->producer_conf, "message.max.bytes", s->scale_out ? "16777216" : "4194304", err))
        return -1;
    /* No linger unless kafka.linger.ms says otherwise: a batch's records are all produced before its
     * commit, which waits for them, so lingering only adds its 5 ms (librdkafka's default) to every
     * transaction (bench-e2e: commit 10.7 -> 4.2 ms a transaction) */
    if (!segstream_config_get(cfg, "kafka.linger.ms") && !segstream_config_get(cfg, "kafka.queue.buffering.max.ms") &&
        conf_set(s->producer_conf, "linger.ms", "0", err))
        return -1;
    char txn_timeout[32];
    size_t txn_timeout_size = sizeof txn_timeout;
    s->txn_timeout_ms = 60000; /* librdkafka's default */
    if (rd_kafka_conf_get(s->producer_conf, "transaction.timeout.ms", txn_timeout, &txn_timeout_size) ==
        RD_KAFKA_CONF_OK)
        s->txn_timeout_ms = strtoll(txn_timeout, NULL, 10);
    /* before the producer: its metadata request for the output topics makes a broker with
     * auto.create.topics.enable create missing ones with the broker's defaults */
    char errstr[512];
    rd_kafka_t *admin = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_dup(s->base_conf), errstr, sizeof errstr);
    if (!admin)
        return segstream_err_set(err, "admin client: %s", errstr);
    /* bad credentials or no broker: a clear error now, not an admin request's timeout */
    int rc = segstream_kafka_wait_connected(admin, (int)segstream_config_duration_ms(cfg, "pipeline.broker_wait"), err);
    if (!rc && segstream_config_bool(cfg, "topics.create"))
        rc = create_topics(s, admin, err);
    if (!rc)
        rc = check_input_topic(s, admin, err);
    if (!rc && !s->replay) /* a replay writes no checkpoints */
        rc = check_state_topic(s, admin, err);
    rd_kafka_destroy(admin);
    if (rc)
        return -1;
    if (start_producer(s, err))
        return -1;

    rd_kafka_conf_t *cc = rd_kafka_conf_dup(s->base_conf);
    if (conf_set(cc, "group.id", group, err) || conf_set(cc, "partition.assignment.strategy", "range", err) ||
        conf_set(cc, "enable.auto.commit", "false", err) || conf_set(cc, "isolation.level", "read_committed", err) ||
        conf_set(cc, "auto.offset.reset", "earliest", err) || conf_set(cc, "enable.partition.eof", "true", err)) {
        rd_kafka_conf_destroy(cc);
        return -1;
    }
    if (!s->replay)
        rd_kafka_conf_set_rebalance_cb(cc, rebalance_cb);
    char timeout[32];
    size_t timeout_size = sizeof timeout;
    s->session_timeout_ms = 45000;
    if (rd_kafka_conf_get(cc, "session.timeout.ms", timeout, &timeout_size) == RD_KAFKA_CONF_OK)
        s->session_timeout_ms = strtoll(timeout, NULL, 10);
    s->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof errstr);
    if (!s->consumer) {
        rd_kafka_conf_destroy(cc);
        return segstream_err_set(err, "consumer: %s", errstr);
    }
    rd_kafka_poll_set_consumer(s->consumer);
    if (s->scale_out && start_model_reader(s, group, err))
        return -1;
    if (s->replay) {
        s->ends = rd_kafka_topic_partition_list_copy(o->end);
        rd_kafka_topic_partition_list_destroy(s->positions);
        s->positions = rd_kafka_topic_partition_list_copy(o->start);
        if (restore_state(s, o->start, err) || merge_reset(s, err))
            return -1;
        rd_kafka_resp_err_t e = rd_kafka_assign(s->consumer, o->start);
        if (e)
            return segstream_err_set(err, "assigning the replay's partitions: %s", rd_kafka_err2str(e));
        s->assigned = true;
        segstream_http_set_ready(s->http, true, NULL);
        segstream_log_info("replaying %d partitions of %s into %s, transactional id %s", o->start->cnt, s->t_in,
                           s->t_out, s->txid);
    } else {
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, s->t_in, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(s->consumer, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (e)
            return segstream_err_set(err, "subscribing to %s: %s", s->t_in, rd_kafka_err2str(e));
        segstream_log_info("consuming %s as group %s, transactional id %s", s->t_in, group, s->txid);
    }
    return 0;
}

/* Processes the batch; a fatal producer error gets a new producer. */
static int flush_batch(stage *s, segstream_err *err)
{
    bool producer_fatal;
    if (!process_batch(s, &producer_fatal, err))
        return 0;
    if (!producer_fatal)
        return -1;
    return restart_producer(s, err);
}

int segstream_kafka_stage_run(const segstream_kafka_stage_options *o)
{
    stage s = {.o = o, .cfg = o->cfg};
    segstream_err err = {{0}};
    int status = 1;
    segstream_config_each_secret(o->cfg, add_secret, NULL);
    segstream_metrics *metrics = segstream_metrics_new();
    int64_t idle_ms =
        o->exit_when_idle_ms >= 0 ? o->exit_when_idle_ms : segstream_config_duration_ms(o->cfg, "pipeline.idle_timeout");
    if (!metrics) {
        segstream_err_set(&err, "out of memory");
        goto fail;
    }
    /* from the start: a SIGTERM while the model loads is a clean stop too */
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct sigaction sa_alarm = {0};
    sa_alarm.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa_alarm, NULL);
    if (start(&s, metrics, &err))
        goto fail;
    s.last_input_ms = now_ms();
    while (!g_stop && !s.fatal) {
        bool waiting = false, model_due = false;
        if (s.scale_out && s.assigned) {
            if (model_log_poll(&s, &err))
                goto fail;
            model_due = barrier_due(&s, &waiting);
            segstream_gauge_set(s.m.barrier_waiting, waiting ? 1.0 : 0.0);
        }
        rd_kafka_message_t *msg =
            rd_kafka_consumer_poll(s.consumer, waiting || model_due ? 5 : s.batch_queued && s.n ? 1 : s.n ? 10 : 100);
        bool ran_dry = !msg;
        rd_kafka_poll(s.producer, 0); /* the producer's error callbacks */
        segstream_http_heartbeat(s.http);
        if (!s.fatal && segstream_kafka_auth_check(&s.fatal_err))
            s.fatal = true;
        int64_t now = now_ms();
        if (msg && intake(&s, msg, now, &err))
            goto fail;
        if (s.fatal)
            break;
        if (!holding_back(&s, now))
            release(&s, now);
        bool replay_done = s.replay && segstream_merge_all_finished(s.merge);
        bool due = s.n && !waiting &&
                   ((int64_t)s.n >= s.max_events || (int64_t)s.batch_bytes >= s.max_bytes ||
                    now - s.batch_start >= s.max_ms || (s.batch_queued && ran_dry) || replay_done);
        due = due || (model_due && s.assigned);
        if (due) {
            if (flush_batch(&s, &err))
                goto fail;
            s.last_input_ms = s.flushed_ms = now_ms(); /* a slow batch is not idleness: count from its end */
        }
        if (replay_done && !s.n) {
            segstream_log_info("replay reached its end");
            break;
        }
        if (idle_ms > 0 && s.assigned && !s.partial_until_ms && !s.n && !segstream_merge_buffered(s.merge) &&
            !waiting && !model_due && now - s.last_input_ms >= idle_ms) {
            segstream_log_info("no input for %.1f s: stopping", (double)idle_ms / 1000);
            break;
        }
        if (now - s.last_gauges_ms >= 1000)
            update_gauges(&s, now - s.last_commit_ms >= READINESS_PROBE_AFTER_MS);
    }
    alarm(STOP_GRACE_SECONDS);
    if (s.fatal) {
        err = s.fatal_err;
        goto fail;
    }
    /* A clean stop: what was released is committed; what the merge still
     * holds comes again from the committed offsets next time. */
    if (s.n && flush_batch(&s, &err))
        goto fail;
    segstream_http_set_alive(s.http, false);
    resume_all(&s); /* close with no partition left paused */
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
    alarm(STOP_GRACE_SECONDS);
    segstream_log_error("fatal: %s", err.message);
done:
    /* The consumer goes first: closing it (rd_kafka_destroy closes one still
     * open, after a fatal error) revokes the assignment through rebalance_cb,
     * which uses the batch, the merge and the positions. */
    if (s.consumer) {
        if (status) { /* not closed yet */
            if (s.paused)
                resume_all(&s);
            rd_kafka_consumer_close(s.consumer);
        }
        rd_kafka_destroy(s.consumer);
    }
    drop_batch(&s);
    if (s.merge)
        segstream_merge_free(s.merge, pending_free);
    free(s.batch);
    if (s.model_reader) {
        rd_kafka_consumer_close(s.model_reader);
        rd_kafka_destroy(s.model_reader);
    }
    segstream_model_log_free(s.mlog);
    if (s.producer) {
        if (status)
            rd_kafka_purge(s.producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(s.producer);
    }
    if (s.producer_conf)
        rd_kafka_conf_destroy(s.producer_conf);
    if (s.base_conf)
        rd_kafka_conf_destroy(s.base_conf);
    if (s.positions)
        rd_kafka_topic_partition_list_destroy(s.positions);
    if (s.paused)
        rd_kafka_topic_partition_list_destroy(s.paused);
    if (s.ends)
        rd_kafka_topic_partition_list_destroy(s.ends);
    segstream_http_stop(s.http);
    segstream_metrics_free(metrics);
    segstream_codec_free(s.codec);
    segstream_pipeline_close(s.p);
    segstream_buf_free(&s.buf);
    free(s.fresh), free(s.committed);
    segstream_state_keys_clear(&s.state_keys);
    alarm(0);
    return status;
}
