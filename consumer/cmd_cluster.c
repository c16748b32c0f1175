/* cmd_cluster.c - `segstream cluster`: streams precomputed embeddings through
 * cluster/ and prints every item's segment, for quality evaluation.
 *
 * Each item (row i of the .npy, line i of the texts) is its own user "u<i>"
 * with one SET event. Items are fed in a fixed-seed shuffled order with event
 * times interval_ms apart, or in the order and at the times of --order FILE
 * (lines "index time_ms", for drift scenarios). Output, one line per item in
 * input order: "item seen final", where `seen` is the segment the item got
 * when its event was applied and `final` its user's segment at the end of the
 * stream after the re-assignment sweep has finished (-1: none, e.g. expired,
 * or refused). Both are honest answers to "which segment is it in".
 *
 * --sharers N runs N models that share one centroid model (cluster/ "Shared
 * model"), exchanging their deltas at every barrier in process: what N stage
 * instances would do through Kafka, for measuring the quality of the shared
 * model against one model. Item i is in shard i mod S (--shards S, the input
 * partitions; default N), and shard s belongs to model s mod N: the same S
 * with any N gives the same model. */
#include "cluster/cluster.h"
#include "consumer/commands.h"
#include "consumer/duration.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHARERS 16
#define MAX_SHARDS 256

static void usage(FILE *out)
{
    fprintf(out,
            "usage: segstream cluster --embeddings X.npy [--texts FILE] [--order FILE] [-o OUT]\n"
            "         [--k K] [--window D] [--pane D] [--half-life D] [--lateness D] [--interval-ms N]\n"
            "         [--init-sample N] [--restarts N] [--seed N] [--shuffle-seed N] [--hysteresis X] [--merge-cosine X]\n"
            "         [--retire-share X] [--codec fp16|int8] [--slice N] [--threads N] [--catalog FILE]\n"
            "         [--sharers N [--shards S]]\n"
            "Defaults: k 20, window 7d, pane 15m, half-life 7d, lateness 0, interval 1s,\n"
            "init sample max(2000, 100 k) (at most n), hysteresis 0.02, fp16 profiles.\n"
            "Durations: 500ms, 30s, 15m, 6h, 7d, 1h30m (consumer/duration.h).\n"
            "Prints \"item seen_segment final_segment\" per input row, in input order.\n");
}

/* Reads a 2-D little-endian float32 C-order .npy. */
static float *read_npy(const char *path, long *rows, int *cols)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "segstream cluster: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    unsigned char magic[10];
    float *data = NULL;
    if (fread(magic, 1, 10, f) != 10 || memcmp(magic, "\x93NUMPY", 6)) {
        fprintf(stderr, "segstream cluster: %s: not a .npy file\n", path);
        goto out;
    }
    size_t hlen = magic[8] | (size_t)magic[9] << 8;
    if (magic[6] >= 2) {
        unsigned char more[2];
        if (fread(more, 1, 2, f) != 2)
            goto out;
        hlen |= (size_t)more[0] << 16 | (size_t)more[1] << 24;
    }
    char *header = calloc(hlen + 1, 1);
    if (!header || fread(header, 1, hlen, f) != hlen) {
        free(header);
        goto out;
    }
    long r = 0, c = 0;
    char *shape = strstr(header, "'shape'");
    if (!strstr(header, "'<f4'") || strstr(header, "'fortran_order': True") || !shape ||
        sscanf(strchr(shape, '(') ? strchr(shape, '(') : "", "(%ld, %ld)", &r, &c) != 2 || r <= 0 || c <= 0 ||
        c > 65536) {
        fprintf(stderr, "segstream cluster: %s: need a 2-D float32 (<f4) C-order array: %s\n", path, header);
        free(header);
        goto out;
    }
    free(header);
    data = malloc((size_t)r * c * sizeof(float));
    if (!data || fread(data, sizeof(float), (size_t)r * c, f) != (size_t)r * c) {
        fprintf(stderr, "segstream cluster: %s: short file\n", path);
        free(data);
        data = NULL;
        goto out;
    }
    *rows = r;
    *cols = (int)c;
out:
    fclose(f);
    return data;
}

/* Word tokens for labels: runs of ASCII letters/digits and non-ASCII bytes.
 * (The stage proper passes the tokenizer's words, CJK ideographs one by one.) */
static size_t split_words(char *line, char **words, size_t max)
{
    size_t n = 0;
    unsigned char *p = (unsigned char *)line;
    while (*p && n < max) {
        while (*p && *p < 0x80 && !((*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')))
            *p++ = '\0';
        if (!*p)
            break;
        words[n++] = (char *)p;
        while (*p && (*p >= 0x80 || (*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')))
            p++;
    }
    return n;
}

typedef struct run {
    long n;
    int64_t *seen; /* per item */
    int64_t *left; /* per item: the segment the item's user last moved out of (-1 none) */
    long current;  /* item being applied */
    FILE *catalog;
    long changes, catalog_records;
    long model_moves, returns; /* MODEL_UPDATED moves between two segments; moves back to the one just left */
} run;

static void on_change(void *ctx, const segstream_cluster_change *ch)
{
    run *r = ctx;
    r->changes++;
    long item = strtol(ch->user_id + 1, NULL, 10);
    if (item < 0 || item >= r->n)
        return;
    if (ch->cause == SEGSTREAM_CLUSTER_CAUSE_INTEREST_CHANGED)
        r->seen[item] = ch->segment;
    if (ch->cause == SEGSTREAM_CLUSTER_CAUSE_MODEL_UPDATED && ch->previous_segment >= 0 && ch->segment >= 0) {
        r->model_moves++;
        r->returns += ch->segment == r->left[item]; /* flapping: back where it was */
    }
    if (ch->previous_segment >= 0)
        r->left[item] = ch->previous_segment;
}

static void on_catalog(void *ctx, const segstream_catalog_change *ch)
{
    run *r = ctx;
    r->catalog_records++;
    (void)ch;
}

static void print_segment(void *ctx, const segstream_catalog_change *ch)
{
    FILE *f = ctx;
    fprintf(f, "{\"segment_id\":%" PRId64 ",\"parent\":%" PRId64 ",\"size\":%.3f,\"label\":[", ch->segment_id,
            ch->parent, ch->size);
    for (int i = 0; i < ch->n_label; i++) {
        fputc('"', f);
        for (const char *s = ch->label[i]; *s; s++)
            if (*s == '"' || *s == '\\')
                fprintf(f, "\\%c", *s);
            else if ((unsigned char)*s >= 0x20)
                fputc(*s, f);
        fprintf(f, "\"%s", i + 1 < ch->n_label ? "," : "");
    }
    fprintf(f, "]}\n");
}

/* Each shard's owner (model s mod n) takes the shard's pending delta, then
 * every model applies all of them at `pane`. */
static int barrier_all(segstream_cluster **m, int n, int shards, int64_t pane, int final,
                       const segstream_cluster_sink *sinks, segstream_err *err)
{
    uint8_t *bytes[MAX_SHARDS] = {0};
    size_t lens[MAX_SHARDS] = {0};
    int rc = 0;
    for (int s = 0; s < shards && !rc; s++)
        rc = segstream_cluster_delta_take(m[s % n], s, &bytes[s], &lens[s], err);
    for (int j = 0; j < n && !rc; j++)
        rc = segstream_cluster_barrier(m[j], (const uint8_t *const *)bytes, lens, (size_t)shards, pane, final,
                                       &sinks[j], err);
    for (int s = 0; s < shards; s++)
        free(bytes[s]);
    return rc;
}

int segstream_cmd_cluster(int argc, char **argv)
{
    segstream_cluster_options opt = segstream_cluster_default_options();
    opt.k = 20;
    opt.window_ms = 7 * 86400000LL;
    opt.pane_ms = 900000;
    opt.half_life_ms = 7 * 86400000LL;
    opt.allowed_lateness_ms = 0;
    opt.init_sample = 0; /* 0: chosen from k and n below */
    const char *emb_path = NULL, *texts_path = NULL, *order_path = NULL, *out_path = NULL, *catalog_path = NULL;
    int64_t interval = 1000;
    uint64_t shuffle_seed = 1;
    int threads = 2, sharers = 0, shards = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t dur;
#define NEED_VALUE                                                                                 \
    if (!v) {                                                                                      \
        fprintf(stderr, "segstream cluster: %s needs a value\n", a);                               \
        return 2;                                                                                  \
    }                                                                                              \
    i++;
#define DURATION(field)                                                                            \
    NEED_VALUE if (segstream_duration_parse(v, &dur)) {                                                      \
        fprintf(stderr, "segstream cluster: %s: bad duration '%s'\n", a, v);                       \
        return 2;                                                                                  \
    }                                                                                              \
    field = dur;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--embeddings")) {
            NEED_VALUE emb_path = v;
        } else if (!strcmp(a, "--texts")) {
            NEED_VALUE texts_path = v;
        } else if (!strcmp(a, "--order")) {
            NEED_VALUE order_path = v;
        } else if (!strcmp(a, "-o")) {
            NEED_VALUE out_path = v;
        } else if (!strcmp(a, "--catalog")) {
            NEED_VALUE catalog_path = v;
        } else if (!strcmp(a, "--k")) {
            NEED_VALUE opt.k = atoi(v);
        } else if (!strcmp(a, "--window")) {
            DURATION(opt.window_ms)
        } else if (!strcmp(a, "--pane")) {
            DURATION(opt.pane_ms)
        } else if (!strcmp(a, "--half-life")) {
            DURATION(opt.half_life_ms)
        } else if (!strcmp(a, "--lateness")) {
            DURATION(opt.allowed_lateness_ms)
        } else if (!strcmp(a, "--interval-ms")) {
            DURATION(interval)
        } else if (!strcmp(a, "--init-sample")) {
            NEED_VALUE opt.init_sample = atoi(v);
        } else if (!strcmp(a, "--restarts")) {
            NEED_VALUE opt.kmeans_restarts = atoi(v);
        } else if (!strcmp(a, "--seed")) {
            NEED_VALUE opt.seed = strtoull(v, NULL, 10);
        } else if (!strcmp(a, "--shuffle-seed")) {
            NEED_VALUE shuffle_seed = strtoull(v, NULL, 10);
        } else if (!strcmp(a, "--hysteresis")) {
            NEED_VALUE opt.hysteresis = atof(v);
        } else if (!strcmp(a, "--merge-cosine")) {
            NEED_VALUE opt.merge_cosine = atof(v);
        } else if (!strcmp(a, "--retire-share")) {
            NEED_VALUE opt.retire_share = atof(v);
        } else if (!strcmp(a, "--slice")) {
            NEED_VALUE opt.reassign_slice = atoi(v);
        } else if (!strcmp(a, "--threads")) {
            NEED_VALUE threads = atoi(v);
        } else if (!strcmp(a, "--shards")) {
            NEED_VALUE shards = atoi(v);
            if (shards < 1 || shards > MAX_SHARDS) {
                fprintf(stderr, "segstream cluster: --shards %s: accepted 1..%d\n", v, MAX_SHARDS);
                return 2;
            }
        } else if (!strcmp(a, "--sharers")) {
            NEED_VALUE sharers = atoi(v);
            if (sharers < 1 || sharers > MAX_SHARERS) {
                fprintf(stderr, "segstream cluster: --sharers %s: accepted 1..%d\n", v, MAX_SHARERS);
                return 2;
            }
        } else if (!strcmp(a, "--codec")) {
            NEED_VALUE if (!strcmp(v, "fp16")) opt.profile_codec = SEGSTREAM_PROFILE_FP16;
            else if (!strcmp(v, "int8")) opt.profile_codec = SEGSTREAM_PROFILE_INT8;
            else {
                fprintf(stderr, "segstream cluster: --codec: fp16 or int8\n");
                return 2;
            }
        } else {
            fprintf(stderr, "segstream cluster: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!emb_path) {
        usage(stderr);
        return 2;
    }
    long n;
    int d;
    float *X = read_npy(emb_path, &n, &d);
    if (!X)
        return 1;
    opt.dim = d;
    if (opt.init_sample == 0) { /* default: a sample large enough for k-means to see every topic */
        long want = 100L * opt.k > 2000 ? 100L * opt.k : 2000;
        opt.init_sample = (int)(want < n ? want : n);
    }
    int status = 1;
    char **texts = calloc((size_t)n, sizeof *texts);
    long *order = malloc((size_t)n * sizeof *order);
    int64_t *times = malloc((size_t)n * sizeof *times);
    run r = {.n = n, .seen = malloc((size_t)n * sizeof(int64_t)), .left = malloc((size_t)n * sizeof(int64_t))};
    segstream_cluster *c = NULL, *models[MAX_SHARERS] = {0};
    int n_models = sharers ? sharers : 1;
    if (!shards)
        shards = n_models;
    opt.shared_model = sharers > 0;
    FILE *out = stdout;
    if (!texts || !order || !times || !r.seen || !r.left) {
        fprintf(stderr, "segstream cluster: out of memory\n");
        goto done;
    }
    for (long i = 0; i < n; i++)
        r.seen[i] = r.left[i] = -1;
    if (texts_path) {
        FILE *f = fopen(texts_path, "r");
        if (!f) {
            fprintf(stderr, "segstream cluster: %s: %s\n", texts_path, strerror(errno));
            goto done;
        }
        char *line = NULL;
        size_t cap = 0;
        long i = 0;
        while (i < n && getline(&line, &cap, f) >= 0)
            texts[i++] = strdup(line);
        free(line);
        fclose(f);
    }
    long n_events = n;
    if (order_path) {
        FILE *f = fopen(order_path, "r");
        if (!f) {
            fprintf(stderr, "segstream cluster: %s: %s\n", order_path, strerror(errno));
            goto done;
        }
        n_events = 0;
        long idx;
        int64_t t;
        while (n_events < n && fscanf(f, "%ld %" SCNd64, &idx, &t) == 2) {
            if (idx < 0 || idx >= n) {
                fprintf(stderr, "segstream cluster: %s: item %ld out of range\n", order_path, idx);
                fclose(f);
                goto done;
            }
            order[n_events] = idx;
            times[n_events++] = t;
        }
        fclose(f);
    } else {
        uint64_t s = shuffle_seed * 0x9e3779b97f4a7c15ULL + 1;
        for (long i = 0; i < n; i++)
            order[i] = i;
        for (long i = n - 1; i > 0; i--) { /* Fisher-Yates with a splitmix64 stream */
            uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            z ^= z >> 31;
            long j = (long)(z % (uint64_t)(i + 1));
            long tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        for (long i = 0; i < n; i++)
            times[i] = 1700000000000LL + i * interval;
    }
    segstream_err err = {{0}};
    for (int j = 0; j < n_models; j++)
        if (!(models[j] = segstream_cluster_create(&opt, &err))) {
            fprintf(stderr, "segstream cluster: %s\n", err.message);
            status = 2;
            goto done;
        }
    c = models[0];
    segstream_cluster_sink sink = {&r, on_change, on_catalog}, sinks[MAX_SHARERS];
    for (int j = 0; j < n_models; j++) /* the catalog once: every sharer emits the same */
        sinks[j] = (segstream_cluster_sink){&r, on_change, j ? NULL : on_catalog};
    int64_t last_pane = INT64_MIN;
    long refused = 0;
    char *words[512];
    for (long e = 0; e < n_events; e++) {
        long i = order[e];
        char uid[32], *copy = texts[i] ? strdup(texts[i]) : NULL;
        snprintf(uid, sizeof uid, "u%ld", i);
        size_t nw = copy ? split_words(copy, words, 512) : 0;
        segstream_cluster_event ev = {uid, SEGSTREAM_CLUSTER_OP_SET, X + (size_t)i * d, (const char *const *)words, nw,
                                      times[e], (int32_t)(sharers ? i % shards : 0)};
        segstream_cluster_reject rj;
        r.current = i;
        int owner = (int)(i % shards) % n_models;
        segstream_cluster *mi = models[owner];
        int rc = segstream_cluster_update(mi, &ev, &sinks[owner], &rj, &err);
        if (rc == SEGSTREAM_CLUSTER_AT_BARRIER) {
            last_pane = segstream_cluster_barrier_wanted(mi);
            rc = barrier_all(models, n_models, shards, last_pane, 0, sinks, &err);
            if (rc == 0)
                rc = segstream_cluster_update(mi, &ev, &sinks[owner], &rj, &err);
        }
        free(copy);
        if (rc < 0) {
            fprintf(stderr, "segstream cluster: %s\n", err.message);
            goto done;
        }
        refused += rc == 1;
    }
    if (sharers ? last_pane != INT64_MIN && barrier_all(models, n_models, shards, last_pane, 1, sinks, &err)
                : segstream_cluster_bootstrap_now(c, &sink, &err)) {
        fprintf(stderr, "segstream cluster: %s\n", err.message);
        goto done;
    }
    for (int j = 0; j < n_models; j++)
        if (segstream_cluster_sweep(models[j], 0, threads, &sinks[j], &err) < 0) {
            fprintf(stderr, "segstream cluster: %s\n", err.message);
            goto done;
        }
    if (out_path && !(out = fopen(out_path, "w"))) {
        fprintf(stderr, "segstream cluster: %s: %s\n", out_path, strerror(errno));
        out = stdout;
        goto done;
    }
    fprintf(out, "item seen final\n");
    for (long i = 0; i < n; i++) {
        char uid[32];
        snprintf(uid, sizeof uid, "u%ld", i);
        fprintf(out, "%ld %" PRId64 " %" PRId64 "\n", i, r.seen[i],
                segstream_cluster_user_segment(models[(int)(i % shards) % n_models], uid, NULL));
    }
    segstream_cluster_stats st;
    segstream_cluster_get_stats(c, &st);
    for (int j = 1; j < n_models; j++) {
        segstream_cluster_stats more;
        segstream_cluster_get_stats(models[j], &more);
        st.users += more.users;
    }
    fprintf(stderr,
            "segstream cluster: %ld events, %ld refused, %ld segment changes, %ld catalog records, model version "
            "%" PRId64 ", %d active segments, %" PRId64 " ids used, %ld users; %ld moves by model updates, %ld of them"
            " back to the segment just left\n",
            n_events, refused, r.changes, r.catalog_records, st.model_version, st.active_segments,
            st.segments_created, st.users, r.model_moves, r.returns);
    if (catalog_path) {
        FILE *f = fopen(catalog_path, "w");
        if (f) {
            segstream_cluster_sink cs = {f, NULL, print_segment};
            segstream_cluster_for_each_segment(c, &cs);
            fclose(f);
        }
    }
    status = 0;
done:
    if (out != stdout)
        fclose(out);
    for (int j = 0; j < n_models; j++)
        segstream_cluster_free(models[j]);
    for (long i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    free(order);
    free(times);
    free(r.seen);
    free(r.left);
    free(X);
    return status;
}
