/* bench_encoder.c - speed and memory of model/encoder.h on real titles (a
 * benchmark, not a test: it prints numbers as JSON, asserts nothing; the
 * comparison with ONNX Runtime is made by tools/bench-encoder).
 *
 *   bench_encoder --model DIR --texts FILE [--n 2000] [--threads 1]
 *                   [--budget TOKENS] [--latency-texts 500] [--reps 1]
 *                   [--embeddings OUT.f32] [--profile] [--deterministic 0|1]
 *                   [--precision f32|int8]
 *
 * One process measures one thread count, so its VmHWM is that of the encoder
 * at that setting alone. Passes (each the best of --reps):
 *   full      texts -> embeddings: segstream_encoder_encode (tokenize, pack by
 *             the token budget, forward, pool, normalise), cache off
 *   model     pre-tokenized ids -> embeddings: segstream_encoder_encode_ids
 *   lat16     batch-1 latency of the first title with exactly 16 tokens
 *             ([CLS]/[SEP] included), 300 calls after 20 warm-up calls
 *   latreal   batch-1 latency of each of the first --latency-texts titles
 * --embeddings OUT only encodes the texts (full path) and writes the vectors
 * (n x dim little-endian f32) for the cosine check against the peer, no timing. --profile runs one quiet model pass,
 * then one with oneDNN's verbose mode on (dnnl_set_verbose(1)): its
 * "dnnl_verbose,exec" lines on stdout time every matmul of one real pass. */
#include "model/encoder.h"
#include "model/tokenizer.h"

#include <dnnl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bench_args {
    const char *model, *texts, *embeddings, *precision;
    int n, threads, budget, latency_texts, reps, profile, embed_only, deterministic;
} bench_args;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of all the process's threads: unlike wall time, it does not grow
 * while other processes hold the cores, which on a shared box makes it the
 * steadier measure of work done (idle OpenMP threads must sleep, not spin:
 * OMP_WAIT_POLICY=passive, or their spinning counts too). */
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The kB value of a "Key:" line of /proc/self/status, or -1. */
static long proc_status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, k) == 0 && line[k] == ':') {
            v = strtol(line + k + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* The first n non-empty lines of path, each a NUL-terminated string; *got = count read. */
static char **read_lines(const char *path, int n, int *got)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char **lines = calloc((size_t)n, sizeof *lines);
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int count = 0;
    while (lines && count < n && (len = getline(&buf, &cap, f)) >= 0) {
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
            buf[--len] = '\0';
        if (len == 0)
            continue;
        if (!(lines[count++] = strdup(buf)))
            break;
    }
    free(buf);
    fclose(f);
    *got = count;
    return lines;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) of v[0..n) by nearest rank; sorts v. */
static double quantile(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int i = (int)(q * n + 0.999999) - 1;
    return v[i < 0 ? 0 : (i >= n ? n - 1 : i)];
}

static int parse_args(int argc, char **argv, bench_args *a)
{
    *a = (bench_args){.n = 2000, .threads = 1, .budget = 0, .latency_texts = 500, .reps = 1, .precision = "f32"};
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(k, "--profile") == 0) {
            a->profile = 1;
            continue;
        }
        if (!v)
            return fprintf(stderr, "bench_encoder: %s needs a value\n", k), -1;
        i++;
        if (strcmp(k, "--model") == 0)
            a->model = v;
        else if (strcmp(k, "--texts") == 0)
            a->texts = v;
        else if (strcmp(k, "--embeddings") == 0)
            a->embeddings = v, a->embed_only = 1;
        else if (strcmp(k, "--n") == 0)
            a->n = atoi(v);
        else if (strcmp(k, "--threads") == 0)
            a->threads = atoi(v);
        else if (strcmp(k, "--budget") == 0)
            a->budget = atoi(v);
        else if (strcmp(k, "--latency-texts") == 0)
            a->latency_texts = atoi(v);
        else if (strcmp(k, "--reps") == 0)
            a->reps = atoi(v);
        else if (strcmp(k, "--deterministic") == 0)
            a->deterministic = atoi(v);
        else if (strcmp(k, "--precision") == 0)
            a->precision = v;
        else
            return fprintf(stderr, "bench_encoder: unknown option %s\n", k), -1;
    }
    if (!a->model || !a->texts || a->n < 1 || a->threads < 1 || a->budget < 0 || a->reps < 1 ||
        a->latency_texts < 0 || (strcmp(a->precision, "f32") && strcmp(a->precision, "int8")))
        return fprintf(stderr, "usage: bench_encoder --model DIR --texts FILE [--n N] [--threads T] "
                               "[--budget TOKENS] [--latency-texts K] [--reps R] [--embeddings OUT] "
                               "[--profile] [--deterministic 0|1] [--precision f32|int8]\n"),
               -1;
    return 0;
}

/* The tokenized texts: ids[i] (its own buffer of max_tokens ids) holds lengths[i] ids. */
typedef struct tokenized {
    int32_t **ids;
    int *lengths;
    long total;
} tokenized;

static int tokenize_all(const segstream_tokenizer *tok, char **texts, int n, tokenized *out,
                        segstream_err *err)
{
    const int cap = segstream_tokenizer_max_tokens(tok);
    out->ids = calloc((size_t)n, sizeof *out->ids);
    out->lengths = calloc((size_t)n, sizeof *out->lengths);
    out->total = 0;
    if (!out->ids || !out->lengths)
        return segstream_err_set(err, "out of memory");
    for (int i = 0; i < n; i++) {
        if (!(out->ids[i] = malloc((size_t)cap * sizeof(int32_t))))
            return segstream_err_set(err, "out of memory");
        int r = segstream_tokenizer_encode(tok, texts[i], strlen(texts[i]), out->ids[i], cap, err);
        if (r < 0)
            return segstream_err_prefix(err, "text %d", i);
        out->lengths[i] = r;
        out->total += r;
    }
    return 0;
}

/* Matmul FLOPs of one forward pass over these sequences (all-MiniLM-L6-v2
 * shapes from the caller): per token per layer 2H*3H + 2H*H + 2*2*H*F, plus
 * attention's QK^T and PV, 2*2*L*H per token of an L-token sequence. */
static double forward_flops(const tokenized *tk, int n, int layers, double h, double f)
{
    double total = 0;
    for (int i = 0; i < n; i++) {
        double l = tk->lengths[i];
        total += l * (2 * h * 3 * h + 2 * h * h + 4 * h * f) + 4 * l * l * h;
    }
    return total * layers;
}

/* Batch-1 latencies (ms) of encoding each text of texts[0..count) once; NULL on error. */
static double *latencies(segstream_encoder *enc, const char *const *texts, int count, float *vec,
                         segstream_err *err)
{
    double *ms = malloc((size_t)count * sizeof *ms);
    if (!ms)
        return segstream_err_set(err, "out of memory"), NULL;
    for (int i = 0; i < count; i++) {
        double t0 = now_s();
        if (segstream_encoder_encode(enc, &texts[i], 1, vec, err)) {
            free(ms);
            return NULL;
        }
        ms[i] = (now_s() - t0) * 1e3;
    }
    return ms;
}

/* What the environment of one run holds, for the passes below. */
typedef struct bench_run {
    segstream_encoder *enc;
    char **texts;
    int n, dim, budget;
    tokenized tk;
    float *out;
    long rss_before, rss_loaded;
    double t_open;
} bench_run;

/* Runs the passes the arguments ask for and prints their JSON line. */
static int measure(const bench_args *a, bench_run *b, segstream_err *err)
{
    segstream_encoder *enc = b->enc;
    char **texts = b->texts;
    const int n = b->n, dim = b->dim;
    const tokenized tk = b->tk;
    float *out = b->out;
    const char *const *ctexts = (const char *const *)texts;

    if (a->profile) { /* one warm-up pass quiet, one model pass with oneDNN's verbose timing on */
        if (segstream_encoder_encode_ids(enc, (const int32_t *const *)tk.ids, tk.lengths, (size_t)n, out, err))
            return -1;
        dnnl_set_verbose(1);
        double t0 = now_s();
        if (segstream_encoder_encode_ids(enc, (const int32_t *const *)tk.ids, tk.lengths, (size_t)n, out, err))
            return -1;
        double secs = now_s() - t0;
        dnnl_set_verbose(0);
        printf("{\"peer\": \"segstream-profile\", \"threads\": %d, \"texts\": %d, \"tokens\": %ld, "
               "\"model_s\": %.5f, \"forward_gflop\": %.4f}\n",
               a->threads, n, tk.total, secs, forward_flops(&tk, n, 6, dim, 4.0 * dim) * 1e-9);
        return 0;
    }

    if (a->embed_only) { /* the parity check's vectors, no timing */
        if (segstream_encoder_encode(enc, ctexts, (size_t)n, out, err))
            return -1;
        FILE *f = fopen(a->embeddings, "wb");
        size_t count = (size_t)n * (size_t)dim;
        int bad = !f || fwrite(out, sizeof *out, count, f) != count;
        if ((f && fclose(f)) || bad)
            return segstream_err_set(err, "%s: cannot write embeddings", a->embeddings);
        printf("{\"peer\": \"segstream\", \"texts\": %d, \"tokens\": %ld, \"embeddings\": \"%s\"}\n", n,
               tk.total, a->embeddings);
        return 0;
    }

    /* warm-up: first-touch of scratch buffers and oneDNN's kernel generation */
    if (segstream_encoder_encode(enc, ctexts, (size_t)(n < 64 ? n : 64), out, err))
        return -1;
    double best_full = 1e30, best_model = 1e30, cpu_full = 1e30, cpu_model = 1e30;
    for (int r = 0; r < a->reps; r++) {
        double t0 = now_s(), c0 = cpu_s();
        if (segstream_encoder_encode(enc, ctexts, (size_t)n, out, err))
            return -1;
        double t1 = now_s(), c1 = cpu_s();
        if (segstream_encoder_encode_ids(enc, (const int32_t *const *)tk.ids, tk.lengths, (size_t)n, out, err))
            return -1;
        double t3 = now_s(), c3 = cpu_s();
        best_full = t1 - t0 < best_full ? t1 - t0 : best_full;
        best_model = t3 - t1 < best_model ? t3 - t1 : best_model;
        cpu_full = c1 - c0 < cpu_full ? c1 - c0 : cpu_full;
        cpu_model = c3 - c1 < cpu_model ? c3 - c1 : cpu_model;
    }

    /* the 16-token text: the first title that tokenizes to exactly 16 ids */
    int i16 = -1;
    for (int i = 0; i < n && i16 < 0; i++)
        if (tk.lengths[i] == 16)
            i16 = i;
    double p50_16 = -1, p99_16 = -1;
    if (i16 >= 0) {
        enum { WARM = 20, CALLS = 300 };
        const char *same[CALLS];
        for (int i = 0; i < CALLS; i++)
            same[i] = texts[i16];
        double *ms = latencies(enc, same, WARM, out, err);
        free(ms);
        double best50 = 1e30, best99 = 1e30;
        for (int r = 0; r < a->reps; r++) {
            if (!(ms = latencies(enc, same, CALLS, out, err)))
                return -1;
            double q50 = quantile(ms, CALLS, 0.50), q99 = quantile(ms, CALLS, 0.99);
            best50 = q50 < best50 ? q50 : best50;
            best99 = q99 < best99 ? q99 : best99;
            free(ms);
        }
        p50_16 = best50;
        p99_16 = best99;
    }
    int lat_n = a->latency_texts < n ? a->latency_texts : n;
    double p50_real = -1, p99_real = -1, mean_real = -1;
    long lat_tokens = 0;
    for (int i = 0; i < lat_n; i++)
        lat_tokens += tk.lengths[i];
    for (int r = 0; r < a->reps && lat_n > 0; r++) {
        double *ms = latencies(enc, ctexts, lat_n, out, err);
        if (!ms)
            return -1;
        double sum = 0;
        for (int i = 0; i < lat_n; i++)
            sum += ms[i];
        double q50 = quantile(ms, lat_n, 0.50), q99 = quantile(ms, lat_n, 0.99);
        if (mean_real < 0 || sum / lat_n < mean_real)
            mean_real = sum / lat_n;
        if (p50_real < 0 || q50 < p50_real)
            p50_real = q50;
        if (p99_real < 0 || q99 < p99_real)
            p99_real = q99;
        free(ms);
    }

    const double flops = forward_flops(&tk, n, 6, dim, 4.0 * dim);
    printf("{\"peer\": \"%s\", \"threads\": %d, \"texts\": %d, \"tokens\": %ld, \"budget\": %d, "
           "\"deterministic\": %d, \"precision\": \"%s\", \"open_s\": %.4f, \"full_s\": %.5f, \"model_s\": %.5f, \"full_cpu_s\": %.5f, "
           "\"model_cpu_s\": %.5f, \"forward_gflop\": %.4f, "
           "\"text16_index\": %d, \"lat16_p50_ms\": %.4f, \"lat16_p99_ms\": %.4f, "
           "\"latreal_texts\": %d, \"latreal_tokens\": %ld, \"latreal_p50_ms\": %.4f, "
           "\"latreal_p99_ms\": %.4f, \"latreal_mean_ms\": %.4f, "
           "\"rss_start_kib\": %ld, \"rss_loaded_kib\": %ld, \"hwm_kib\": %ld}\n",
           strcmp(a->precision, "int8") ? "segstream" : "segstream-int8", a->threads, n, tk.total, b->budget, a->deterministic, a->precision, b->t_open, best_full, best_model, cpu_full, cpu_model, flops * 1e-9, i16, p50_16,
           p99_16, lat_n, lat_tokens, p50_real, p99_real, mean_real, b->rss_before, b->rss_loaded,
           proc_status_kib("VmHWM"));
    return 0;
}

static int run(const bench_args *a, segstream_err *err)
{
    bench_run b = {0};
    int rc = -1;
    if (!(b.texts = read_lines(a->texts, a->n, &b.n)) || b.n == 0) {
        segstream_err_set(err, "%s: cannot read texts", a->texts);
        goto done;
    }
    b.rss_before = proc_status_kib("VmRSS");
    segstream_encoder_options opt = segstream_encoder_default_options();
    opt.threads = a->threads;
    if (a->budget > 0) /* else the encoder's default budget, as the product runs */
        opt.max_batch_tokens = a->budget;
    opt.cache_entries = 0; /* every pass must run the model */
    opt.deterministic = a->deterministic;
    opt.precision = strcmp(a->precision, "int8") ? SEGSTREAM_PRECISION_F32 : SEGSTREAM_PRECISION_INT8;
    b.budget = opt.max_batch_tokens;
    b.t_open = now_s();
    if (!(b.enc = segstream_encoder_open(a->model, &opt, err)))
        goto done;
    b.t_open = now_s() - b.t_open;
    b.rss_loaded = proc_status_kib("VmRSS");
    b.dim = segstream_encoder_dim(b.enc);
    if (tokenize_all(segstream_encoder_tokenizer(b.enc), b.texts, b.n, &b.tk, err))
        goto done;
    if (!(b.out = malloc((size_t)b.n * (size_t)b.dim * sizeof *b.out))) {
        segstream_err_set(err, "out of memory");
        goto done;
    }
    rc = measure(a, &b, err);
done:
    segstream_encoder_close(b.enc);
    for (int i = 0; b.texts && i < b.n; i++)
        free(b.texts[i]);
    for (int i = 0; b.tk.ids && i < b.n; i++)
        free(b.tk.ids[i]);
    free(b.texts);
    free(b.tk.ids);
    free(b.tk.lengths);
    free(b.out);
    return rc;
}

int main(int argc, char **argv)
{
    bench_args a;
    if (parse_args(argc, argv, &a))
        return 2;
    segstream_err err = {0};
    if (run(&a, &err)) {
        fprintf(stderr, "bench_encoder: %s\n", err.message);
        return 1;
    }
    return 0;
}
