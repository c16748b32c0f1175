/* cmd_run.c - `segstream run`: the pipeline over files (file mode).
 *
 * Reads every event of the input (NDJSON or Avro container file) and feeds
 * them to the pipeline in file order, in batches of --batch-events; writes
 * changes, catalog records and dead letters as NDJSON. Lines that do not
 * decode are dead-lettered first, in file order, as they are read.
 *
 * Why file order: a file is one partition, and the Kafka path applies each
 * partition in offset order (events out of time order are late events for
 * the model, counted in their pane or refused as too late), so the same
 * events give the same output through either path. The whole input is read
 * first (about 100 bytes plus the text per event).
 *
 * Why texts are encoded in fixed chunks of --encode-chunk events of the
 * ordered input, separately from the batches: the encoder's floats depend in
 * their last bits on which texts share a forward pass, so encoding per batch
 * would tie the output to --batch-events. Chunks of the ordered input are the
 * same whatever the batch size, hence so are the vectors and the output.
 *
 * Without --input and --output, `run` is the Kafka stage (kafka_stage.c). */
#include "consumer/commands.h"
#include "consumer/config_stage.h"
#include "consumer/codec.h"
#include "consumer/file_sink.h"
#include "consumer/file_source.h"
#include "consumer/kafka_stage.h"
#include "consumer/pipeline.h"

#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: segstream run --input EVENTS --output CHANGES [-c FILE] [--set key=value]... [options]\n\n"
            "  --input FILE          InterestChange events: NDJSON (one a line) or an Avro container file\n"
            "  --output FILE         SegmentChange NDJSON (\"-\" = stdout)\n"
            "  --segments FILE       Segment catalog NDJSON (every change, then the final catalog)\n"
            "  --dead-letters FILE   dead letters NDJSON (invalid, refused or undecodable inputs)\n"
            "  --model DIR           sentence-transformers folder (default $SEGSTREAM_MODEL_DIR)\n"
            "  --source-topic NAME   source_topic of the outputs (default interest-changes)\n"
            "  --batch-events N      events per pipeline batch (default 1000)\n"
            "  --encode-chunk N      events per encoder call (default 256)\n"
            "  -c, --config FILE     properties file: its model.*, encoder.*, cluster.*, pipeline.* keys apply\n"
            "  --set key=value       overrides one key (see segstream config --list)\n"
            "  --k N  --window D  --pane D  --half-life D  --lateness D  --future-skew D\n"
            "  --init-sample N  --seed N  --hysteresis X  --slice N  --label-terms N\n"
            "                        shorthands for cluster.k, cluster.window, ... cluster.reassign_slice\n"
            "  --threads N  --batch-tokens N  --cache N   shorthands for encoder.*\n"
            "  --max-text-bytes N    shorthand for pipeline.max_text_bytes\n"
            "  --quiet               no summary on stderr\n"
            "Durations: 500ms, 30s, 15m, 6h, 7d (a bare number is milliseconds).\n");
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

enum {
    OPT_INPUT = 256, OPT_OUTPUT, OPT_SEGMENTS, OPT_DLQ, OPT_MODEL, OPT_TOPIC, OPT_BATCH, OPT_CHUNK, OPT_K,
    OPT_WINDOW, OPT_PANE, OPT_HALF_LIFE, OPT_LATENESS, OPT_SKEW, OPT_INIT, OPT_SEED, OPT_HYST, OPT_SLICE,
    OPT_LABEL, OPT_THREADS, OPT_TOKENS, OPT_CACHE, OPT_MAX_TEXT, OPT_QUIET, OPT_HELP, OPT_CONFIG, OPT_SET,
};

#define MAX_SETS 64

typedef struct run_args {
    const char *input, *output, *segments, *dead_letters, *topic, *config_file;
    long batch_events, encode_chunk;
    int quiet;
    char *sets[MAX_SETS]; /* --set and the shorthand flags, as key=value; owned */
    size_t nsets;
    segstream_config *cfg;
    segstream_stage_settings settings;
} run_args;

/* The shorthand flags are configuration keys (one mapping, one validation). */
static const struct {
    int opt;
    const char *key;
} flag_keys[] = {
    {OPT_MODEL, "model.path"},
    {OPT_K, "cluster.k"},
    {OPT_WINDOW, "cluster.window"},
    {OPT_PANE, "cluster.pane"},
    {OPT_HALF_LIFE, "cluster.half_life"},
    {OPT_LATENESS, "cluster.allowed_lateness"},
    {OPT_SKEW, "cluster.max_future_skew"},
    {OPT_INIT, "cluster.init_sample"},
    {OPT_SEED, "cluster.seed"},
    {OPT_HYST, "cluster.hysteresis"},
    {OPT_SLICE, "cluster.reassign_slice"},
    {OPT_LABEL, "cluster.label_terms"},
    {OPT_THREADS, "encoder.threads"},
    {OPT_TOKENS, "encoder.batch_tokens"},
    {OPT_CACHE, "encoder.cache_entries"},
    {OPT_MAX_TEXT, "pipeline.max_text_bytes"},
};

static int add_set(run_args *a, const char *key, const char *value)
{
    if (a->nsets == MAX_SETS) {
        fprintf(stderr, "segstream run: more than %d settings on the command line\n", MAX_SETS);
        return -1;
    }
    size_t n = (key ? strlen(key) + 1 : 0) + strlen(value) + 1;
    char *kv = malloc(n);
    if (!kv)
        return -1;
    snprintf(kv, n, "%s%s%s", key ? key : "", key ? "=" : "", value);
    a->sets[a->nsets++] = kv;
    return 0;
}

static void free_args(run_args *a)
{
    for (size_t i = 0; i < a->nsets; i++)
        free(a->sets[i]);
    segstream_config_free(a->cfg);
}

/* Returns 0, 1 for --help, or 2 for bad usage (message printed). */
static int parse_args(int argc, char **argv, run_args *a)
{
    static const struct option opts[] = {
        {"input", required_argument, 0, OPT_INPUT},       {"output", required_argument, 0, OPT_OUTPUT},
        {"segments", required_argument, 0, OPT_SEGMENTS}, {"dead-letters", required_argument, 0, OPT_DLQ},
        {"model", required_argument, 0, OPT_MODEL},       {"source-topic", required_argument, 0, OPT_TOPIC},
        {"batch-events", required_argument, 0, OPT_BATCH}, {"encode-chunk", required_argument, 0, OPT_CHUNK},
        {"k", required_argument, 0, OPT_K},               {"window", required_argument, 0, OPT_WINDOW},
        {"pane", required_argument, 0, OPT_PANE},         {"half-life", required_argument, 0, OPT_HALF_LIFE},
        {"lateness", required_argument, 0, OPT_LATENESS}, {"future-skew", required_argument, 0, OPT_SKEW},
        {"init-sample", required_argument, 0, OPT_INIT},  {"seed", required_argument, 0, OPT_SEED},
        {"hysteresis", required_argument, 0, OPT_HYST},   {"slice", required_argument, 0, OPT_SLICE},
        {"label-terms", required_argument, 0, OPT_LABEL}, {"threads", required_argument, 0, OPT_THREADS},
        {"batch-tokens", required_argument, 0, OPT_TOKENS}, {"cache", required_argument, 0, OPT_CACHE},
        {"max-text-bytes", required_argument, 0, OPT_MAX_TEXT}, {"quiet", no_argument, 0, OPT_QUIET},
        {"help", no_argument, 0, OPT_HELP},               {"config", required_argument, 0, OPT_CONFIG},
        {"set", required_argument, 0, OPT_SET},           {0, 0, 0, 0},
    };
    optind = 1;
    int c;
    bool model_given = false;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case OPT_INPUT: a->input = optarg; break;
        case OPT_OUTPUT: a->output = optarg; break;
        case OPT_SEGMENTS: a->segments = optarg; break;
        case OPT_DLQ: a->dead_letters = optarg; break;
        case OPT_TOPIC: a->topic = optarg; break;
        case OPT_BATCH: bad = parse_long(optarg, 1, 10000000, &a->batch_events); break;
        case OPT_CHUNK: bad = parse_long(optarg, 1, 1000000, &a->encode_chunk); break;
        case OPT_QUIET: a->quiet = 1; break;
        case OPT_HELP: usage(stdout); return 1;
        case 'c':
        case OPT_CONFIG: a->config_file = optarg; break;
        case OPT_SET:
            if (add_set(a, NULL, optarg))
                return 2;
            break;
        default: {
            size_t i = 0;
            while (i < sizeof flag_keys / sizeof flag_keys[0] && flag_keys[i].opt != c)
                i++;
            if (i == sizeof flag_keys / sizeof flag_keys[0]) {
                usage(stderr);
                return 2;
            }
            model_given |= c == OPT_MODEL;
            if (add_set(a, flag_keys[i].key, optarg))
                return 2;
        }
        }
        if (bad) {
            fprintf(stderr, "segstream run: bad value '%s' for --%s\n", optarg, opts[c - OPT_INPUT].name);
            return 2;
        }
    }
    if (optind < argc || !a->input || !a->output) {
        fprintf(stderr, "segstream run: %s\n", optind < argc ? "unexpected argument" : "--input and --output are required");
        usage(stderr);
        return 2;
    }
    segstream_err err = {{0}};
    a->cfg = segstream_config_load(a->config_file, a->sets, a->nsets, &err);
    if (!a->cfg) {
        fprintf(stderr, "segstream run: %s\n", err.message);
        return 2;
    }
    a->settings = segstream_config_stage_settings(a->cfg);
    a->settings.keep_input_order = 1;
    /* file mode's own default: the model of the environment (tests, tools) */
    const char *env_model = getenv("SEGSTREAM_MODEL_DIR");
    if (!model_given && segstream_config_source_of(a->cfg, "model.path") == SEGSTREAM_CONFIG_DEFAULT && env_model &&
        *env_model)
        a->settings.model_dir = env_model;
    return 0;
}

/* An input event and where it sits in the file. */
typedef struct file_event {
    segstream_record record;
    int64_t position;
} file_event;

/* Reads all inputs: decoded events into *events, undecodable ones straight to
 * the dead letters. Returns 0 or -1 with err. */
static int read_input(const char *path, const char *topic, const segstream_pipeline_sink *sink,
                      file_event **events, size_t *n, uint64_t *undecodable, segstream_err *err)
{
    segstream_codec *codec = segstream_codec_new(NULL, err);
    if (!codec)
        return -1;
    segstream_file_source *src = segstream_file_source_open(codec, path, err);
    if (!src) {
        segstream_codec_free(codec);
        return -1;
    }
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        segstream_file_input in;
        int got = segstream_file_source_next(src, &in, err);
        if (got <= 0) {
            segstream_file_input_clear(&in);
            rc = got < 0 ? segstream_err_prefix(err, "%s", path) : 0;
            break;
        }
        if (!in.decoded) {
            segstream_dead_letter dl = {SEGSTREAM_DLQ_DECODE_ERROR, in.error, {topic, 0, in.position}, NULL,
                                        in.raw, in.raw_len};
            ++*undecodable;
            rc = sink->on_dead_letter ? sink->on_dead_letter(sink->ctx, &dl, err) : 0;
            segstream_file_input_clear(&in);
            if (rc)
                break;
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 4096;
            file_event *e = realloc(*events, cap * sizeof *e);
            if (!e) {
                segstream_file_input_clear(&in);
                rc = segstream_err_set(err, "%s: out of memory after %zu events", path, *n);
                break;
            }
            *events = e;
        }
        (*events)[*n].record = in.record; /* ownership moves */
        (*events)[(*n)++].position = in.position;
        free(in.raw);
    }
    segstream_file_source_close(src);
    segstream_codec_free(codec);
    return rc;
}

static double seconds(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Vectors of the ordered events [lo, hi), encoded chunk by chunk. */
typedef struct vector_window {
    size_t lo, hi;
    float *vec;
    unsigned char *has;
    size_t cap; /* events the buffers hold */
} vector_window;

static int cover(segstream_pipeline *p, vector_window *w, const segstream_pipeline_event *pev, size_t n_events,
                 size_t chunk, size_t a, size_t b, segstream_err *err)
{
    size_t dim = (size_t)segstream_pipeline_dim(p);
    size_t keep_from = a / chunk * chunk;
    if (keep_from > w->lo) { /* drop chunks before the batch */
        size_t drop = keep_from - w->lo;
        memmove(w->vec, w->vec + drop * dim, (w->hi - keep_from) * dim * sizeof(float));
        memmove(w->has, w->has + drop, w->hi - keep_from);
        w->lo = keep_from;
    }
    while (w->hi < b) {
        size_t end = w->hi + chunk < n_events ? w->hi + chunk : n_events;
        if (end - w->lo > w->cap) {
            size_t cap = (end - w->lo) * 2;
            float *v = realloc(w->vec, cap * dim * sizeof(float));
            if (v)
                w->vec = v;
            unsigned char *h = realloc(w->has, cap);
            if (h)
                w->has = h;
            if (!v || !h)
                return segstream_err_set(err, "out of memory for %zu vectors", cap);
            w->cap = cap;
        }
        if (segstream_pipeline_encode(p, pev + w->hi, end - w->hi, w->vec + (w->hi - w->lo) * dim,
                                      w->has + (w->hi - w->lo), err))
            return -1;
        w->hi = end;
    }
    return 0;
}

/* File mode needs --input/--output; without them `run` is the Kafka stage. */
static int is_file_mode(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--input", 7) || !strncmp(argv[i], "--output", 8))
            return 1;
    return 0;
}

int segstream_cmd_run(int argc, char **argv)
{
    if (!is_file_mode(argc, argv))
        return segstream_cmd_run_kafka(argc, argv);
    run_args a = {.topic = "interest-changes", .batch_events = 1000, .encode_chunk = 256};
    int prc = parse_args(argc, argv, &a);
    if (prc) {
        free_args(&a);
        return prc == 1 ? 0 : 2;
    }

    struct timespec t_start, t_read, t_end;
    clock_gettime(CLOCK_MONOTONIC, &t_start);
    segstream_err err = {{0}};
    int status = 1;
    FILE *out = NULL, *seg = NULL, *dlq = NULL;
    file_event *events = NULL;
    segstream_pipeline_event *pev = NULL;
    size_t n = 0;
    uint64_t undecodable = 0;
    vector_window w = {0};
    segstream_pipeline *p = NULL;

    out = strcmp(a.output, "-") ? fopen(a.output, "w") : stdout;
    if (!out || (a.segments && !(seg = fopen(a.segments, "w"))) ||
        (a.dead_letters && !(dlq = fopen(a.dead_letters, "w")))) {
        fprintf(stderr, "segstream run: cannot create an output file: %s\n", strerror(errno));
        goto done;
    }
    segstream_file_sink fs = {out, seg, dlq};
    segstream_pipeline_sink sink = segstream_file_sink_bind(&fs);

    p = segstream_pipeline_open(&a.settings, &err);
    if (!p)
        goto fail;
    if (read_input(a.input, a.topic, &sink, &events, &n, &undecodable, &err))
        goto fail;
    clock_gettime(CLOCK_MONOTONIC, &t_read);

    pev = calloc(n ? n : 1, sizeof *pev);
    if (!pev) {
        segstream_err_set(&err, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        pev[i] = (segstream_pipeline_event){&events[i].record, {a.topic, 0, events[i].position}, NULL, NULL, 0};
    size_t dim = (size_t)segstream_pipeline_dim(p);
    for (size_t lo = 0; lo < n; lo += (size_t)a.batch_events) {
        size_t hi = lo + (size_t)a.batch_events < n ? lo + (size_t)a.batch_events : n;
        if (cover(p, &w, pev, n, (size_t)a.encode_chunk, lo, hi, &err))
            goto fail;
        for (size_t i = lo; i < hi; i++)
            pev[i].vector = w.has[i - w.lo] ? w.vec + (i - w.lo) * dim : NULL;
        if (segstream_pipeline_process(p, pev + lo, hi - lo, &sink, &err))
            goto fail;
    }
    if (segstream_pipeline_finish(p, &sink, &err))
        goto fail;
    if (fflush(out) || (seg && fflush(seg)) || (dlq && fflush(dlq))) {
        segstream_err_set(&err, "writing the outputs: %s", strerror(errno));
        goto fail;
    }
    clock_gettime(CLOCK_MONOTONIC, &t_end);
    if (!a.quiet) {
        segstream_pipeline_stats st;
        segstream_pipeline_get_stats(p, &st);
        double total = seconds(&t_start, &t_end), pipe = (double)st.total_ns / 1e9, enc = (double)st.encode_ns / 1e9;
        fprintf(stderr,
                "segstream run: %zu events (%" PRIu64 " undecodable) in %.2f s = %.0f events/s; applied %" PRIu64
                ", dead letters %" PRIu64 ", changes %" PRIu64 ", segment records %" PRIu64 ", model version %" PRId64
                "\n"
                "  time: read %.3f s, pipeline %.3f s = encoder %.3f s (%" PRIu64 " distinct texts) + rest %.3f s"
                " (%.1f%% of the encoder's time)\n",
                n, undecodable, total, total > 0 ? (double)n / total : 0.0, st.applied, st.dead_letters + undecodable,
                st.changes, st.segments, st.model_version, seconds(&t_start, &t_read), pipe, enc, st.texts_encoded,
                pipe - enc, enc > 0 ? 100.0 * (pipe - enc) / enc : 0.0);
    }
    status = 0;
    goto done;
fail:
    fprintf(stderr, "segstream run: %s\n", err.message);
done:
    segstream_pipeline_close(p);
    for (size_t i = 0; i < n; i++)
        segstream_record_clear(&events[i].record);
    free(events), free(pev), free(w.vec), free(w.has);
    if (out && out != stdout && fclose(out) && !status) {
        fprintf(stderr, "segstream run: closing %s: %s\n", a.output, strerror(errno));
        status = 1;
    }
    if (seg)
        fclose(seg);
    if (dlq)
        fclose(dlq);
    free_args(&a);
    return status;
}
