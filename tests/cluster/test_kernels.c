/* test_kernels.c - the sweep's kernels give the per-event path's bits: the
 * blocked dot products equal cl_dots for every block shape (and a dot its
 * mirror, which the k-means bootstrap relies on), the fast fp16
 * decode equals the table for every half, and a full sweep's similarities
 * do not depend on the thread count and equal the per-event computation;
 * the bootstrap's k-means restarts, run in parallel, give the bits of running
 * them one after the other. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cluster/internal.h"
#include "helpers.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void random_rows(uint64_t *s, float *x, long n)
{
    for (long i = 0; i < n; i++)
        x[i] = (float)t_normal(s);
}

/* Every user count 1..50 (full tiles, tails of 1 and 2, more than one group
 * of 12), row counts with and without a tail of 4, dimensions that take the
 * tiled path and ones that do not. */
static void blocked_dots_equal_per_user_dots(void **state)
{
    (void)state;
    static const int dims[] = {8, 24, 384, 13, 100};
    static const int rows[] = {1, 3, 4, 7, 64, 66};
    uint64_t s = 99;
    for (size_t di = 0; di < sizeof dims / sizeof *dims; di++)
        for (size_t ri = 0; ri < sizeof rows / sizeof *rows; ri++) {
            int d = dims[di], n = rows[ri];
            float *X = malloc(50 * (size_t)d * sizeof(float)), *C = malloc((size_t)n * d * sizeof(float));
            float *blocked = malloc(50 * (size_t)n * sizeof(float)), *single = malloc((size_t)n * sizeof(float));
            assert_non_null(X), assert_non_null(C), assert_non_null(blocked), assert_non_null(single);
            random_rows(&s, X, 50L * d);
            random_rows(&s, C, (long)n * d);
            for (int nu = 1; nu <= 50; nu++) {
                memset(blocked, 0xff, 50 * (size_t)n * sizeof(float));
                cl_dots_block(X, nu, C, n, d, blocked);
                for (int u = 0; u < nu; u++) {
                    cl_dots(X + (size_t)u * d, C, n, d, single);
                    for (int j = 0; j < n; j++)
                        if (memcmp(&blocked[(size_t)u * n + j], &single[j], sizeof(float)))
                            fail_msg("d %d, %d rows, %d users: user %d row %d: blocked %.9g, per user %.9g", d, n,
                                     nu, u, j, blocked[(size_t)u * n + j], single[j]);
                    if (memcmp(&single[0], &(float){cl_dot(X + (size_t)u * d, C, d)}, sizeof(float)))
                        fail_msg("cl_dots and cl_dot differ (d %d)", d);
                    /* the k-means bootstrap blocks candidates against the vectors,
                     * the other way round: a dot must not depend on its order */
                    if (memcmp(&single[0], &(float){cl_dot(C, X + (size_t)u * d, d)}, sizeof(float)))
                        fail_msg("cl_dot(a, b) and cl_dot(b, a) differ (d %d)", d);
                }
            }
            free(X), free(C), free(blocked), free(single);
        }
}

static void fp16_decode_equals_table_for_every_half(void **state)
{
    (void)state;
    cl_codec_init();
    enum { D = 24 }; /* three vectors of eight and no tail, then a tail below */
    uint8_t in[2 * D];
    float out[D];
    long checked = 0;
    for (uint32_t h0 = 0; h0 < 65536; h0 += D) {
        for (int i = 0; i < D; i++) {
            uint16_t h = (uint16_t)((h0 + (uint32_t)i) & 0xffff);
            memcpy(in + 2 * i, &h, 2);
        }
        for (int d = D; d >= D - 3; d -= 3) /* 24: vectors only; 21: a scalar tail */
        {
            cl_profile_decode(SEGSTREAM_PROFILE_FP16, in, d, out);
            for (int i = 0; i < d; i++) {
                uint16_t h;
                memcpy(&h, in + 2 * i, 2);
                float want = cl_fp16_to_float(h);
                if (isnan(want)) /* a profile is finite; NaN payloads may differ */
                    continue;
                if (memcmp(&want, &out[i], sizeof want))
                    fail_msg("half 0x%04x: decoded %.9g, table %.9g", h, out[i], want);
                checked++;
            }
        }
    }
    assert_true(checked > 65536 + 50000); /* both lengths, NaNs aside */
}

/* Two copies of one model, swept on 1 and on 2 threads: the same change
 * records, bit for bit; every user's similarity is cl_dots of its stored
 * profile against its segment's centroid, the per-event computation. */
static void sweep_same_bits_on_any_thread_count_and_as_per_event(void **state)
{
    segstream_profile_codec codec = *(segstream_profile_codec *)*state;
    enum { DIM = 384, K = 10, USERS = 1337 };
    segstream_cluster_options o = segstream_cluster_default_options();
    o.dim = DIM;
    o.k = K; /* not a multiple of 4: the row tail is exercised */
    o.profile_codec = codec;
    o.init_sample = 200;
    o.kmeans_restarts = 1;
    o.reassign_slice = 0;
    o.pane_ms = 1000;
    o.window_ms = 100000;
    o.allowed_lateness_ms = 0;
    segstream_cluster *model[2];
    recorder rec[2] = {{0}, {0}};
    float *v = malloc(DIM * sizeof(float));
    for (int m = 0; m < 2; m++) {
        segstream_err err = {{0}};
        model[m] = segstream_cluster_create(&o, &err);
        assert_non_null(model[m]);
        segstream_cluster_sink sink = rec_sink(&rec[m]);
        uint64_t s = 5;
        char id[32];
        for (int i = 0; i < USERS; i++) {
            snprintf(id, sizeof id, "u%d", i);
            t_vector(&s, DIM, (int)(t_next(&s) % K), 0.3, v);
            segstream_cluster_event ev = {id, SEGSTREAM_CLUSTER_OP_SET, v, NULL, 0, 10LL * (i / 400), 0};
            assert_int_equal(segstream_cluster_update(model[m], &ev, &sink, NULL, &err), 0);
        }
        /* a later pane: a model update, every user due */
        t_vector(&s, DIM, 0, 0.3, v);
        segstream_cluster_event tick = {"tick", SEGSTREAM_CLUSTER_OP_SET, v, NULL, 0, 5000, 0};
        assert_int_equal(segstream_cluster_update(model[m], &tick, &sink, NULL, &err), 0);
        segstream_cluster_stats st;
        segstream_cluster_get_stats(model[m], &st);
        assert_true(st.sweep_due > 1000);
        rec_printf(&rec[m], "sweep\n");
        assert_int_equal(segstream_cluster_sweep(model[m], 0, m + 1, &sink, &err), 0);
    }
    assert_string_equal(rec[0].log, rec[1].log);
    assert_non_null(strstr(rec[0].log, "sweep\n"));
    segstream_cluster *c = model[1];
    float *x = malloc(DIM * sizeof(float)), sims[K];
    for (long i = 0; i < c->users.n; i++) {
        if (!strcmp(c->users.id[i], "tick")) /* placed by its event; its centroid moved since */
            continue;
        cl_profile_decode(codec, c->users.profile + (size_t)i * c->profile_bytes, DIM, x);
        cl_dots(x, c->centroid, K, DIM, sims);
        float got = c->users.similarity[i], want = sims[c->users.segment[i]];
        if (memcmp(&got, &want, sizeof got))
            fail_msg("user %s: stored similarity %.9g, per-event kernel %.9g", c->users.id[i], got, want);
    }
    free(x), free(v);
    for (int m = 0; m < 2; m++) {
        rec_free(&rec[m]);
        segstream_cluster_free(model[m]);
    }
}

/* cl_kmeans with 5 restarts on 1 and on 3 threads, and 5 calls of one
 * restart each on one generator keeping the strictly best: the same
 * centroids and the same generator state after. */
static void kmeans_restarts_same_bits_in_parallel_and_one_by_one(void **state)
{
    (void)state;
    enum { N = 300, D = 24, K = 7, RESTARTS = 5, ITER = 20 };
    uint64_t s = 17;
    float *X = malloc((size_t)N * D * sizeof(float));
    assert_non_null(X);
    for (long i = 0; i < N; i++)
        t_vector(&s, D, (int)(t_next(&s) % K), 0.6, X + (size_t)i * D);
    float got[2][K * D], ref[K * D], one[K * D];
    cl_rng rng_got[2], rng_ref;
    segstream_err err = {{0}};
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t ? 3 : 1);
        cl_rng_seed(&rng_got[t], 42);
        assert_int_equal(cl_kmeans(X, N, D, K, ITER, RESTARTS, &rng_got[t], got[t], &err), 0);
    }
    cl_rng_seed(&rng_ref, 42);
    double best = INFINITY;
    for (int r = 0; r < RESTARTS; r++) {
        assert_int_equal(cl_kmeans(X, N, D, K, ITER, 1, &rng_ref, one, &err), 0);
        float sims[N * K];
        double inertia = cl_kmeans_inertia(X, N, D, one, K, sims);
        if (inertia < best) {
            best = inertia;
            memcpy(ref, one, sizeof ref);
        }
    }
    for (int t = 0; t < 2; t++) {
        assert_memory_equal(got[t], ref, sizeof ref);
        assert_memory_equal(&rng_got[t], &rng_ref, sizeof rng_ref);
    }
    /* a failing bootstrap says why, whatever thread failed */
    assert_int_equal(cl_kmeans(X, K - 1, D, K, ITER, RESTARTS, &rng_ref, one, &err), -1);
    assert_non_null(strstr(err.message, "vectors for k"));
    free(X);
}

int main(void)
{
    static segstream_profile_codec fp16 = SEGSTREAM_PROFILE_FP16, int8 = SEGSTREAM_PROFILE_INT8;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocked_dots_equal_per_user_dots),
        cmocka_unit_test(fp16_decode_equals_table_for_every_half),
        cmocka_unit_test(kmeans_restarts_same_bits_in_parallel_and_one_by_one),
        cmocka_unit_test_prestate(sweep_same_bits_on_any_thread_count_and_as_per_event, &fp16),
        cmocka_unit_test_prestate(sweep_same_bits_on_any_thread_count_and_as_per_event, &int8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
