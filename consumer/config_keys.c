/* config_keys.c - the table of known configuration keys: names, types,
 * defaults, ranges and one line of doc each. It is the single source for
 * parsing, validation, `config --list` (the README's reference) and
 * deploy/segstream.properties.example. Cluster ranges follow
 * segstream_cluster_options_validate() so a bad value is refused with the
 * configuration's key name before the cluster ever sees it. */
#include "consumer/config.h"
#include "consumer/records.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

/* Kafka's topic name rule: 1..249 of [a-zA-Z0-9._-], not "." or "..". */
static int check_topic(const char *v, char *why, size_t n)
{
    size_t len = strlen(v);
    if (len == 0 || len > 249 || !strcmp(v, ".") || !strcmp(v, "..") ||
        strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len) {
        snprintf(why, n, "expected a Kafka topic name: 1 to 249 of a-z A-Z 0-9 . _ -");
        return -1;
    }
    return 0;
}

/* Empty (the feature is off) or a topic name. */
static int check_optional_topic(const char *v, char *why, size_t n)
{
    return v[0] ? check_topic(v, why, n) : 0;
}

/* Part of the transactional id and of metric labels: keep it plain. */
static int check_id(const char *v, char *why, size_t n)
{
    size_t len = strlen(v);
    if (len == 0 || len > 200 ||
        strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len) {
        snprintf(why, n, "expected 1 to 200 of a-z A-Z 0-9 . _ -");
        return -1;
    }
    return 0;
}

static int check_nonempty(const char *v, char *why, size_t n)
{
    if (!*v) {
        snprintf(why, n, "must not be empty");
        return -1;
    }
    return 0;
}

/* "host:port", "[v6]:port", ":port" (every address) or "" (disabled); port
 * 0..65535 (0: any free port). */
static int check_listen(const char *v, char *why, size_t n)
{
    if (!*v)
        return 0;
    const char *colon = strrchr(v, ':');
    bool ok = colon && colon[1];
    if (ok && v[0] == '[')
        ok = colon - v > 2 && colon[-1] == ']';
    else if (ok)
        ok = memchr(v, ':', (size_t)(colon - v)) == NULL; /* a bare IPv6 address needs brackets */
    if (ok) {
        char *end;
        errno = 0;
        long port = strtol(colon + 1, &end, 10);
        ok = !errno && *end == '\0' && port >= 0 && port <= 65535 && colon[1] >= '0' && colon[1] <= '9';
    }
    if (!ok) {
        snprintf(why, n, "expected host:port, [ipv6]:port, :port (every address), or empty to disable (port 0..65535)");
        return -1;
    }
    return 0;
}

/* "ID=TYPE,ID=TYPE" with TYPE a record type name; "" is fine. */
static int check_schema_ids(const char *v, char *why, size_t n)
{
    const char *p = v;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[128];
        bool ok = len > 0 && len < sizeof item;
        if (ok) {
            memcpy(item, p, len);
            item[len] = '\0';
            char *eq = strchr(item, '='), *num_end;
            segstream_record_type type;
            errno = 0;
            unsigned long long id = eq ? strtoull(item, &num_end, 10) : 0;
            ok = eq && item[0] >= '0' && item[0] <= '9' && !errno && num_end == eq && id <= UINT32_MAX &&
                 segstream_record_type_parse(eq + 1, &type) == 0;
        }
        if (!ok) {
            snprintf(why, n, "expected ID=TYPE[,ID=TYPE...] with TYPE interest_change, segment_change or segment");
            return -1;
        }
        p += len;
        if (*p == ',' && !*++p) {
            snprintf(why, n, "expected ID=TYPE[,ID=TYPE...]: nothing after the last ','");
            return -1;
        }
    }
    return 0;
}

#define STR(name, def, check, doc) {name, SEGSTREAM_CONFIG_STRING, def, 0, 0, 0, 0, NULL, check, doc}
#define INT(name, def, lo, hi, doc) {name, SEGSTREAM_CONFIG_INT, def, lo, hi, 0, 0, NULL, NULL, doc}
#define DBL(name, def, lo, hi, doc) {name, SEGSTREAM_CONFIG_DOUBLE, def, 0, 0, lo, hi, NULL, NULL, doc}
#define DUR(name, def, lo, hi, doc) {name, SEGSTREAM_CONFIG_DURATION, def, lo, hi, 0, 0, NULL, NULL, doc}
#define BOOL(name, def, doc) {name, SEGSTREAM_CONFIG_BOOL, def, 0, 0, 0, 0, NULL, NULL, doc}
#define ENUM(name, def, choices, doc) {name, SEGSTREAM_CONFIG_ENUM, def, 0, 0, 0, 0, choices, NULL, doc}

static const segstream_config_key keys[] = {
    STR("model.path", "/var/lib/segstream/models/all-MiniLM-L6-v2", check_nonempty,
        "sentence-transformers model folder (config.json, vocab.txt, model.safetensors); never fetched at run time"),
    INT("encoder.threads", "0", 0, 1024, "oneDNN threads for the encoder; 0 = one per core"),
    INT("encoder.batch_tokens", "1024", 64, 1048576, "most tokens in one packed encoder batch (1024 is as fast as 4096 here, with 30% less peak memory)"),
    INT("encoder.cache_entries", "65536", 0, 100000000,
        "embeddings cached by text (LRU); 0 disables the cache"),

    BOOL("encoder.deterministic", "true",
         "batch-invariant embeddings (fixed 48-row matmul tiles, ~20% more CPU): restarts and replays give "
         "byte-identical output; false = a little faster, outputs may differ in the last float bits"),
    ENUM("encoder.precision", "fp32", "fp32|bf16|int8",
         "linear layers in fp32; bf16 where the CPU has bf16 instructions (else fp32); or int8: ~1.7x faster "
         "on AVX2, 4x smaller weights, cosine to fp32 ~0.998 (>= 0.98 on one-word texts), batch-invariant "
         "without the 48-row tiles, so encoder.deterministic costs nothing"),
    INT("cluster.k", "64", 1, 4096, "number of active segments kept"),
    DUR("cluster.window", "7d", 1, 3650 * DAY,
        "sliding window in event time; a multiple of cluster.pane; users silent longer expire"),
    DUR("cluster.pane", "1h", 1, 366 * DAY, "pane length; the model updates once per pane"),
    DUR("cluster.half_life", "1d", 1, 3650 * DAY, "exponential decay: a pane's weight halves every half-life"),
    DUR("cluster.allowed_lateness", "5m", 0, 3650 * DAY,
        "watermark = max event time - this (at most cluster.window); later events still count in their pane"),
    DUR("cluster.max_future_skew", "0", 0, 3650 * DAY,
        "events later than the max event time + this go to the dead-letter topic; 0 = no limit (a sparse stream's gaps exceed any skew)"),
    INT("cluster.init_sample", "1000", 1, 10000000, "events buffered to bootstrap k-means++ (at least cluster.k)"),
    DBL("cluster.hysteresis", "0.02", 0.0, 2.0,
        "on an event a user changes segment only when the new cosine similarity wins by this margin; at a model update only a move back to the segment the user last left needs it"),
    DBL("cluster.retire_size", "0.05", 0.0, 0.999,
        "a segment retires when its decayed size falls below this share of the mean segment size"),
    DBL("cluster.merge_similarity", "0.95", 0.5, 1.0,
        "two segments whose centroids' cosine exceeds this merge; 1 disables merges"),
    INT("cluster.seed", "42", 0, INT64_MAX, "seed of the model's random generator (k-means++, splits)"),
    INT("cluster.max_users", "0", 0, 1 << 30, "most users tracked at once (bounds memory); 0 = no limit"),
    ENUM("cluster.profile_codec", "fp16", "fp16|int8", "user profile storage: fp16 (2 bytes/dim) or int8 (1 byte/dim)"),
    INT("cluster.label_terms", "5", 0, 16, "keywords in each segment's label"),
    INT("cluster.reassign_slice", "64", 0, 100000000,
        "users re-assigned per event while a model update's sweep is due (spreads the sweep over the stream)"),
    BOOL("cluster.shared_model", "false",
         "centroids change only at pane boundaries, from exact per-partition deltas: the model that scale-out shares (README \"Scale-out\"; with topics.model, across instances). Users get their first segment from the bootstrap's sweep"),

    STR("topics.input", "interest-changes", check_topic, "input topic of InterestChange records"),
    STR("topics.output", "segment-changes", check_topic, "output topic of SegmentChange records"),
    STR("topics.segments", "segments", check_topic, "compacted segment catalog, key = segment id"),
    STR("topics.state", "segstream-state", check_topic, "compacted checkpoints of the model and the user profiles"),
    STR("topics.dlq", "interest-changes.dlq", check_topic,
        "dead letters: undecodable or invalid input with headers saying why"),
    STR("topics.model", "", check_optional_topic,
        "scale-out: the single-partition topic through which the group's instances share one model (needs "
        "cluster.shared_model=true; README \"Scale-out\"); empty: this instance keeps its model to itself"),
    BOOL("topics.create", "false",
         "create missing topics at start as deploy/kafka/topics.sh does (state and segments compacted); "
         "handy with the local broker; production topics belong to ops"),
    STR("schema.registry.ids", "", check_schema_ids,
        "schema registry ids for Confluent framing, e.g. 12=interest_change,13=segment_change"),

    STR("group.id", "segstream", check_id, "Kafka consumer group of the instances sharing the input"),
    STR("instance.id", "segstream-0", check_id, "names this instance; part of its transactional id, unique per instance"),
    INT("batch.max_events", "1000", 1, 1000000, "most input events in one batch (one transaction)"),
    INT("batch.max_ms", "500", 1, 600000,
        "a batch closes this many milliseconds after its first event even if not full (one whose events were "
        "already queued when the previous batch committed closes as soon as the queue runs dry)"),
    INT("batch.max_bytes", "16777216", 1024, 1073741824,
        "a batch closes when its input messages reach this many bytes (bounds memory with large texts)"),
    INT("pipeline.max_text_bytes", "65536", 16, 16777216,
        "longer texts are cut (on a UTF-8 boundary) before tokenizing; the model reads at most 256 tokens anyway"),
    DUR("pipeline.partition_idle", "0", 0, 3650 * DAY,
        "how long an assigned partition that has reached its end holds back events of the others (event-time order "
        "across partitions); 0 = not at all once it is caught up"),
    DUR("pipeline.idle_timeout", "0", 0, 3650 * DAY,
        "stop after this long without input (for backfills); 0 = run until stopped"),
    DUR("pipeline.broker_wait", "60s", SEC, HOUR,
        "how long the stage waits at start for a broker to answer before it stops with an error naming "
        "kafka.bootstrap.servers"),
    STR("metrics.listen", "127.0.0.1:9464", check_listen,
        "host:port of /metrics, /healthz, /readyz (:port = every address); empty disables"),
    ENUM("log.level", "info", "debug|info|warn|error", "least severe level written to the JSON log on stderr"),
};

const segstream_config_key *segstream_config_keys(size_t *n)
{
    *n = sizeof keys / sizeof keys[0];
    return keys;
}

const segstream_config_key *segstream_config_key_find(const char *name)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}
