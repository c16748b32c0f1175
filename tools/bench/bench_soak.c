/* bench_soak.c - the stage's memory over a long run: N events through the
 * batch pipeline (the code the Kafka stage and file mode run), with a
 * snapshot per batch as the stage takes, sampling the process's RSS.
 *
 * Events: users drawn from a population larger than cluster.max_users (so the
 * user limit expires users all the time), texts drawn from a file of real
 * texts (the encoder cache takes the repeats, as it does in production), one
 * second of event time apart (the window slides, panes close, silent users
 * expire). Prints RSS every --every events and the ratio of the final RSS to
 * the RSS after warm-up (the first 10%): flat means about 1.00.
 *
 * usage: bench_soak MODEL_DIR TEXTS_FILE [EVENTS=1000000] [MAX_USERS=100000]
 *                   [POPULATION=300000] [BATCH=1000] */
#include "consumer/pipeline.h"
#include "consumer/stage_settings.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double rss_mib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int drop(void *ctx, const segstream_record *r, segstream_err *err)
{
    (void)r, (void)err;
    ++*(uint64_t *)ctx;
    return 0;
}

static int drop_dl(void *ctx, const segstream_dead_letter *d, segstream_err *err)
{
    (void)d, (void)err;
    ++*(uint64_t *)ctx;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_soak MODEL_DIR TEXTS_FILE [EVENTS] [MAX_USERS] [POPULATION] [BATCH]\n");
        return 2;
    }
    long n = argc > 3 ? atol(argv[3]) : 1000000, max_users = argc > 4 ? atol(argv[4]) : 100000,
         population = argc > 5 ? atol(argv[5]) : 300000, batch = argc > 6 ? atol(argv[6]) : 1000;
    FILE *tf = fopen(argv[2], "r");
    if (!tf || n <= 0 || batch <= 0 || population <= 0) {
        fprintf(stderr, "bench_soak: cannot read %s or bad numbers\n", argv[2]);
        return 2;
    }
    char **texts = NULL, line[4096];
    size_t n_texts = 0, cap = 0;
    while (fgets(line, sizeof line, tf)) {
        line[strcspn(line, "\n")] = 0;
        if (!line[0])
            continue;
        if (n_texts == cap) {
            cap = cap ? 2 * cap : 1024;
            texts = realloc(texts, cap * sizeof *texts);
        }
        texts[n_texts++] = strdup(line);
    }
    fclose(tf);
    if (!n_texts)
        return 2;

    segstream_stage_settings st = segstream_stage_default_settings();
    st.model_dir = argv[1];
    st.max_users = max_users;
    st.encoder_deterministic = 1;
    st.keep_input_order = 1;
    segstream_err err = {{0}};
    segstream_pipeline *p = segstream_pipeline_open(&st, &err);
    if (!p) {
        fprintf(stderr, "bench_soak: %s\n", err.message);
        return 1;
    }
    uint64_t outputs = 0, seed = 42;
    segstream_pipeline_sink sink = {&outputs, drop, drop, drop_dl};
    segstream_record *recs = calloc((size_t)batch, sizeof *recs);
    segstream_pipeline_event *ev = calloc((size_t)batch, sizeof *ev);
    char (*ids)[2][32] = calloc((size_t)batch, sizeof *ids);
    long every = n / 20 > 0 ? n / 20 : 1;
    double t0 = now_s(), warm = 0, peak = 0;
    printf("%10s %10s %10s %10s %12s\n", "events", "RSS MiB", "users", "segments", "events/s");
    for (long done = 0; done < n;) {
        long m = n - done < batch ? n - done : batch;
        for (long i = 0; i < m; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            long user = (long)((seed >> 33) % (uint64_t)population);
            snprintf(ids[i][0], sizeof ids[i][0], "e%ld", done + i);
            snprintf(ids[i][1], sizeof ids[i][1], "u%ld", user);
            recs[i] = (segstream_record){.type = SEGSTREAM_RECORD_INTEREST_CHANGE};
            recs[i].interest_change = (segstream_interest_change){
                ids[i][0], ids[i][1], 1500000000000LL + (done + i) * 1000LL,
                (seed >> 20) % 4 ? SEGSTREAM_OP_ADD : SEGSTREAM_OP_SET, texts[(seed >> 40) % n_texts], NULL, NULL};
            ev[i] = (segstream_pipeline_event){&recs[i], {"soak", 0, done + i}, NULL, NULL, 0};
        }
        uint8_t *blob = NULL;
        size_t len = 0;
        if (segstream_pipeline_process(p, ev, (size_t)m, &sink, &err) ||
            segstream_pipeline_snapshot(p, &blob, &len, &err)) {
            fprintf(stderr, "bench_soak: %s\n", err.message);
            return 1;
        }
        free(blob);
        long before = done;
        done += m;
        if (done / every != before / every || done == n) {
            segstream_pipeline_stats s;
            segstream_pipeline_get_stats(p, &s);
            double rss = rss_mib();
            if (!warm && done >= n / 10)
                warm = rss;
            if (rss > peak)
                peak = rss;
            printf("%10ld %10.1f %10ld %10d %12.0f\n", done, rss, s.users, s.active_segments,
                   (double)done / (now_s() - t0));
            fflush(stdout);
        }
    }
    double end = rss_mib();
    printf("RSS after warm-up (10%%) %.1f MiB, at the end %.1f MiB, peak %.1f MiB: end / warm-up = %.2fx "
           "(%" PRIu64 " outputs, %zu distinct texts, user cap %ld of %ld)\n",
           warm, end, peak, warm > 0 ? end / warm : 0.0, outputs, n_texts, max_users, population);
    segstream_pipeline_close(p);
    for (size_t i = 0; i < n_texts; i++)
        free(texts[i]);
    free(texts), free(recs), free(ev), free(ids);
    return 0;
}
