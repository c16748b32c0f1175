/* bench_cluster.c - speed and memory of cluster/ at k=64, d=384 (a benchmark,
 * not a test: it prints numbers next to a peer, asserts nothing).
 *
 *   bench-cluster events [N] [USERS]   per-event update + assign, fp16 and int8,
 *                                      next to a naive nearest-centroid loop
 *   bench-cluster users  [N] [codec]   RSS per tracked user at N users, then the
 *                                      full re-assignment of all N on 1 and 2 threads
 *   bench-cluster agree  [N]           assignments from fp16 / int8 profiles vs fp32
 *
 * Vectors come from a fixed pool of clustered unit vectors (64 topics) so that
 * generating them costs nothing inside the timed loops. */
#include "cluster/cluster.h"
#include "cluster/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define D 384
#define K 64
#define POOL 8192

static float pool[POOL][D];
static int pool_topic[POOL];

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double uniform(uint64_t *s) { return (double)(next(s) >> 11) * 0x1.0p-53; }
static double normal(uint64_t *s)
{
    return sqrt(-2 * log(uniform(s) + 1e-12)) * cos(6.283185307179586 * uniform(s));
}

static void make_pool(void)
{
    static float topics[K][D];
    uint64_t s = 42;
    for (int t = 0; t < K; t++)
        for (int i = 0; i < D; i++)
            topics[t][i] = (float)normal(&s);
    for (int p = 0; p < POOL; p++) {
        int t = (int)(next(&s) % K);
        double n = 0;
        for (int i = 0; i < D; i++) {
            pool[p][i] = topics[t][i] + (float)(1.2 * normal(&s));
            n += (double)pool[p][i] * pool[p][i];
        }
        for (int i = 0; i < D; i++)
            pool[p][i] = (float)(pool[p][i] / sqrt(n));
        pool_topic[p] = t;
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU seconds of the whole process (all threads): less sensitive than the
 * wall clock to the other jobs sharing the machine. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static segstream_cluster_options bench_options(segstream_profile_codec codec)
{
    segstream_cluster_options o = segstream_cluster_default_options();
    o.dim = D;
    o.k = K;
    o.profile_codec = codec;
    o.kmeans_restarts = 2;
    return o;
}

static segstream_cluster *make_model(segstream_cluster_options o)
{
    segstream_err err = {{0}};
    segstream_cluster *c = segstream_cluster_create(&o, &err);
    if (!c) {
        fprintf(stderr, "bench-cluster: %s\n", err.message);
        exit(1);
    }
    return c;
}

static long n_changes;
static void count_change(void *ctx, const segstream_cluster_change *ch)
{
    (void)ctx;
    (void)ch;
    n_changes++;
}

static void feed(segstream_cluster *c, const char *user, int op, const float *v, int64_t t,
                 const char *const *words, size_t nw)
{
    segstream_cluster_event ev = {user, op, v, words, nw, t, 0};
    segstream_cluster_sink sink = {NULL, count_change, NULL};
    segstream_cluster_reject rj;
    segstream_err err = {{0}};
    if (segstream_cluster_update(c, &ev, &sink, &rj, &err) < 0) {
        fprintf(stderr, "bench-cluster: %s\n", err.message);
        exit(1);
    }
}

/* The peer: a plain nearest-centroid loop (one double accumulator per dot),
 * what one writes first; it does only the assignment, nothing else. */
static int naive_nearest(const float *x, const float *C)
{
    int best = 0;
    double bs = -2;
    for (int j = 0; j < K; j++) {
        double s = 0;
        for (int i = 0; i < D; i++)
            s += (double)x[i] * C[j * D + i];
        if (s > bs) {
            bs = s;
            best = j;
        }
    }
    return best;
}

static void bench_events(long n, long users)
{
    static const char *const words[] = {"kafka", "stream", "python", "football", "segment", "label", "data", "the"};
    printf("per-event update + assign, k=%d d=%d, %ld events over %ld users, pane every %ld events\n", K, D, n,
           users, n / 20);
    for (int codec = 0; codec < 2; codec++)
        for (int with_words = 0; with_words < 2; with_words++) {
            segstream_cluster_options o = bench_options((segstream_profile_codec)codec);
            o.reassign_slice = 0; /* the sweep is measured on its own (bench-cluster users) */
            o.pane_ms = 1000;
            o.window_ms = 24 * 1000;
            o.half_life_ms = 8000;
            o.allowed_lateness_ms = 0;
            segstream_cluster *c = make_model(o);
            char id[32];
            uint64_t s = 7;
            int64_t step = 20 * 1000 / n > 0 ? 20 * 1000 / n : 1; /* 20 panes over the run */
            for (long i = 0; i < o.init_sample; i++) {
                snprintf(id, sizeof id, "user-%ld", (long)(next(&s) % (uint64_t)users));
                feed(c, id, SEGSTREAM_CLUSTER_OP_SET, pool[next(&s) % POOL], 0, NULL, 0);
            }
            double t0 = now();
            for (long i = 0; i < n; i++) {
                snprintf(id, sizeof id, "user-%ld", (long)(next(&s) % (uint64_t)users));
                int op = (i & 3) == 3 ? SEGSTREAM_CLUSTER_OP_ADD : SEGSTREAM_CLUSTER_OP_SET;
                feed(c, id, op, pool[next(&s) % POOL], (int64_t)(i * 20000 / n) + step, with_words ? words : NULL,
                     with_words ? 8 : 0);
            }
            double dt = now() - t0;
            segstream_cluster_stats st;
            segstream_cluster_get_stats(c, &st);
            printf("  segstream %-4s %-11s %6.2f us/event  (%ld users, model version %lld)\n", codec ? "int8" : "fp16",
                   with_words ? "+ 8 words" : "no words", dt / n * 1e6, st.users, (long long)st.model_version);
            segstream_cluster_free(c);
        }
    float *C = malloc((size_t)K * D * sizeof(float));
    for (int j = 0; j < K; j++)
        memcpy(C + j * D, pool[j], D * sizeof(float));
    uint64_t s = 9;
    long sum = 0;
    double t0 = now();
    for (long i = 0; i < n; i++)
        sum += naive_nearest(pool[next(&s) % POOL], C);
    double dt = now() - t0;
    printf("  naive nearest-centroid loop (assign only, no update): %6.2f us/event  (checksum %ld)\n", dt / n * 1e6,
           sum % 7);
    s = 9;
    float sims[K];
    t0 = now();
    for (long i = 0; i < n; i++) {
        cl_dots(pool[next(&s) % POOL], C, K, D, sims);
        int b = 0;
        for (int j = 1; j < K; j++)
            b = sims[j] > sims[b] ? j : b;
        sum += b;
    }
    dt = now() - t0;
    printf("  segstream kernel  (assign only, no update):           %6.2f us/event\n", dt / n * 1e6);
    free(C);
}

/* The sweep's kernel against the per-event one on the model's own stored
 * profiles, one thread: decode + score one user at a time (cl_dots, 4 rows
 * per pass) vs blocks of 48 (cl_dots_block, 3 users x 4 rows per tile).
 * Rounds alternate and the best of each is kept (the machine is shared);
 * the two must give the same bits. */
static void sweep_kernels(segstream_cluster *c)
{
    enum { B = 48, ROUNDS = 3 };
    long m = c->users.n < 200000 ? c->users.n : 200000;
    size_t pb = c->profile_bytes;
    float *x = malloc((size_t)B * D * sizeof(float)), *a = malloc((size_t)B * K * sizeof(float)),
          *b = malloc((size_t)B * K * sizeof(float));
    double best[2] = {1e30, 1e30};
    long differ = 0, sum = 0;
    for (long q0 = 0; q0 < m; q0 += B) { /* untimed: the same bits */
        int nb = m - q0 < B ? (int)(m - q0) : B;
        for (int u = 0; u < nb; u++)
            cl_profile_decode(c->opt.profile_codec, c->users.profile + (size_t)(q0 + u) * pb, D, x + (size_t)u * D);
        cl_dots_block(x, nb, c->centroid, K, D, b);
        for (int u = 0; u < nb; u++)
            cl_dots(x + (size_t)u * D, c->centroid, K, D, a + (size_t)u * K);
        differ += memcmp(a, b, (size_t)nb * K * sizeof(float)) != 0;
    }
    for (int r = 0; r < ROUNDS; r++)
        for (int blocked = 0; blocked < 2; blocked++) {
            double t0 = cpu_now();
            for (long q0 = 0; q0 < m; q0 += B) {
                int nb = m - q0 < B ? (int)(m - q0) : B;
                float *out = blocked ? b : a;
                for (int u = 0; u < nb; u++)
                    cl_profile_decode(c->opt.profile_codec, c->users.profile + (size_t)(q0 + u) * pb, D,
                                      x + (size_t)u * D);
                if (blocked)
                    cl_dots_block(x, nb, c->centroid, K, D, out);
                else
                    for (int u = 0; u < nb; u++)
                        cl_dots(x + (size_t)u * D, c->centroid, K, D, out + (size_t)u * K);
                sum += (long)(out[0] * 1000);
            }
            double dt = cpu_now() - t0;
            if (dt < best[blocked])
                best[blocked] = dt;
        }
    printf("  sweep kernel, decode + score, 1 thread, %ld users, best of %d (CPU time):\n"
           "    one user at a time (per-event cl_dots): %.0f ns/user\n"
           "    blocks of %d (cl_dots_block):           %.0f ns/user  -> %.2fx; blocks with different bits: %ld"
           " (checksum %ld)\n",
           m, ROUNDS, best[0] / m * 1e9, B, best[1] / m * 1e9, best[0] / best[1], differ, sum % 7);
    free(x), free(a), free(b);
}

static void bench_users(long n, segstream_profile_codec codec)
{
    segstream_cluster_options o = bench_options(codec);
    o.reassign_slice = 0;
    o.user_capacity = 1024;
    o.max_future_skew_ms = 30LL * 86400000; /* the ticks below jump panes ahead */
    long rss0 = rss_kib();
    segstream_cluster *c = make_model(o);
    char id[32];
    uint64_t s = 3;
    for (long i = 0; i < o.init_sample; i++) {
        snprintf(id, sizeof id, "user-%ld", i);
        feed(c, id, SEGSTREAM_CLUSTER_OP_SET, pool[next(&s) % POOL], 0, NULL, 0);
    }
    long rss1 = rss_kib();
    double t0 = now();
    for (long i = o.init_sample; i < n; i++) {
        snprintf(id, sizeof id, "user-%ld", i);
        feed(c, id, SEGSTREAM_CLUSTER_OP_SET, pool[next(&s) % POOL], 1000, NULL, 0);
    }
    double fill = now() - t0;
    long rss2 = rss_kib();
    segstream_cluster_stats st;
    segstream_cluster_get_stats(c, &st);
    printf("%s profiles: %ld users tracked (filled in %.1f s, %.2f us/event)\n", codec ? "int8" : "fp16", st.users,
           fill, fill / (n - o.init_sample) * 1e6);
    printf("  RSS: model alone %ld KiB; with users %ld KiB -> %.0f bytes per user (everything included);"
           " model's own count %.0f bytes per user\n",
           rss1 - rss0, rss2 - rss0, (double)(rss2 - rss1) * 1024 / (st.users - o.init_sample),
           (double)st.memory_bytes / st.users);
    /* a model update (next pane) makes every user due for re-assignment; three
     * rounds of 1 then 2 threads, the best wall time of each kept (shared machine) */
    double best_wall[3] = {1e30, 1e30, 1e30}, best_cpu[3] = {0};
    long due = 0, moved[3] = {0};
    for (int round = 0, tick = 2; round < 3; round++)
        for (int threads = 1; threads <= 2; threads++, tick++) {
            feed(c, "tick", SEGSTREAM_CLUSTER_OP_SET, pool[1], (int64_t)tick * o.pane_ms + 1000, NULL, 0);
            segstream_cluster_get_stats(c, &st);
            due = st.sweep_due;
            segstream_cluster_sink sink = {NULL, count_change, NULL};
            segstream_err err = {{0}};
            n_changes = 0;
            t0 = now();
            double cpu0 = cpu_now();
            if (segstream_cluster_sweep(c, 0, threads, &sink, &err) < 0) {
                fprintf(stderr, "bench-cluster: %s\n", err.message);
                exit(1);
            }
            double dt = now() - t0, cpu = cpu_now() - cpu0;
            moved[threads] += n_changes;
            if (dt < best_wall[threads]) {
                best_wall[threads] = dt;
                best_cpu[threads] = cpu;
            }
        }
    for (int threads = 1; threads <= 2; threads++)
        printf("  re-assign %ld users on %d thread%s: %.3f s (%.0f ns/user, %.3f CPU s; best of 3; %ld moved in all)\n",
               due, threads, threads > 1 ? "s" : "", best_wall[threads], best_wall[threads] / due * 1e9,
               best_cpu[threads], moved[threads]);
    sweep_kernels(c);
    /* the peer: the same users, fp32 profiles, the naive loop, one thread */
    long m = n < 200000 ? n : 200000;
    float *C = malloc((size_t)K * D * sizeof(float));
    for (int j = 0; j < K; j++)
        memcpy(C + j * D, pool[j], D * sizeof(float));
    long sum = 0;
    t0 = now();
    for (long i = 0; i < m; i++)
        sum += naive_nearest(pool[i % POOL], C);
    double dt = now() - t0;
    printf("  naive fp32 loop, 1 thread: %.0f ns/user -> %.3f s for %ld users (checksum %ld)\n", dt / m * 1e9,
           dt / m * n, n, sum % 7);
    free(C);
    segstream_cluster_free(c);
}

static void bench_agree(long n)
{
    segstream_cluster_options o = bench_options(SEGSTREAM_PROFILE_FP16);
    segstream_cluster *c = make_model(o);
    char id[32];
    uint64_t s = 5;
    for (long i = 0; i < o.init_sample; i++) {
        snprintf(id, sizeof id, "b%ld", i);
        feed(c, id, SEGSTREAM_CLUSTER_OP_SET, pool[next(&s) % POOL], 0, NULL, 0);
    }
    cl_codec_init();
    uint8_t buf[2 * D + 8];
    float y[D], sims[K];
    long agree[2] = {0}, margin_flip[2] = {0};
    double err_sum[2] = {0};
    for (long i = 0; i < n; i++) {
        const float *x = pool[(long)(next(&s) % POOL)];
        int exact = cl_nearest(c, x, sims);
        float exact_sim = sims[exact];
        for (int codec = 0; codec < 2; codec++) {
            cl_profile_encode((segstream_profile_codec)codec, x, D, buf);
            cl_profile_decode((segstream_profile_codec)codec, buf, D, y);
            int b = cl_nearest(c, y, sims);
            agree[codec] += b == exact;
            err_sum[codec] += fabs(sims[exact] - exact_sim);
            margin_flip[codec] += b != exact && sims[b] - sims[exact] > 0.02f;
        }
    }
    printf("assignment agreement with fp32 profiles over %ld users (k=%d, d=%d):\n", n, K, D);
    printf("  fp16: %.4f%% same segment, mean |sim error| %.2e, %ld would pass a 0.02 hysteresis\n",
           100.0 * agree[0] / n, err_sum[0] / n, margin_flip[0]);
    printf("  int8: %.4f%% same segment, mean |sim error| %.2e, %ld would pass a 0.02 hysteresis\n",
           100.0 * agree[1] / n, err_sum[1] / n, margin_flip[1]);
    segstream_cluster_free(c);
}

int main(int argc, char **argv)
{
    make_pool();
    const char *mode = argc > 1 ? argv[1] : "events";
    if (!strcmp(mode, "events"))
        bench_events(argc > 2 ? atol(argv[2]) : 200000, argc > 3 ? atol(argv[3]) : 100000);
    else if (!strcmp(mode, "users"))
        bench_users(argc > 2 ? atol(argv[2]) : 1000000,
                    argc > 3 && !strcmp(argv[3], "int8") ? SEGSTREAM_PROFILE_INT8 : SEGSTREAM_PROFILE_FP16);
    else if (!strcmp(mode, "agree"))
        bench_agree(argc > 2 ? atol(argv[2]) : 100000);
    else {
        fprintf(stderr, "usage: bench-cluster events [N] [USERS] | users [N] [fp16|int8] | agree [N]\n");
        return 2;
    }
    return 0;
}
