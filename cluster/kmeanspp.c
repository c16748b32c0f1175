/* kmeanspp.c - the bootstrap: greedy k-means++ seeding (2 + log k candidate
 * draws per centre, keep the one that lowers the potential most, as
 * scikit-learn does) then Lloyd iterations of spherical k-means (cosine
 * assignment, centroid = normalised member sum). Distances are 1 - cos, half
 * the squared Euclidean distance between unit vectors. Every draw comes from
 * the model's generator, so the bootstrap is reproducible from the seed. */
#include "cluster/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static long draw(cl_rng *rng, const double *w, long n, double total)
{
    double r = cl_rng_uniform(rng) * total, acc = 0;
    for (long i = 0; i < n; i++) {
        acc += w[i];
        if (acc > r)
            return i;
    }
    for (long i = n - 1; i >= 0; i--) /* rounding at the top end */
        if (w[i] > 0)
            return i;
    return 0;
}

double cl_kmeans_inertia(const float *X, long n, int d, const float *centroids, int k, float *sims)
{
    cl_dots_block(X, (int)n, centroids, k, d, sims);
    double sum = 0;
    for (long i = 0; i < n; i++) {
        float bs = -INFINITY;
        for (int j = 0; j < k; j++)
            bs = sims[(size_t)i * k + j] > bs ? sims[(size_t)i * k + j] : bs;
        sum += 1.0 - bs;
    }
    return sum;
}

/* candidate draws per centre after the first */
static int kmeanspp_trials(int k)
{
    return 2 + (int)log((double)k);
}

/* Takes exactly draws_per_restart(k) numbers from rng. */
static int kmeans_once(const float *X, long n, int d, int k, int iterations, cl_rng *rng, float *centroids,
                       double *inertia, segstream_err *err)
{
    if (n < k)
        return segstream_err_set(err, "k-means: %ld vectors for k = %d", n, k);
    double *dist = malloc((size_t)n * sizeof *dist), *cand = malloc((size_t)n * sizeof *cand);
    double *best_d = malloc((size_t)n * sizeof *best_d);
    int *assign = malloc((size_t)n * sizeof *assign);
    long *count = malloc((size_t)k * sizeof *count);
    int trials = kmeanspp_trials(k);
    /* similarities of a step's candidates, or of every vector to every centre */
    float *sims = malloc((size_t)n * (size_t)(trials > k ? trials : k) * sizeof *sims);
    float *cand_rows = malloc((size_t)trials * d * sizeof *cand_rows);
    if (!dist || !cand || !best_d || !assign || !count || !sims || !cand_rows) {
        free(dist), free(cand), free(best_d), free(assign), free(count), free(sims), free(cand_rows);
        return segstream_err_set(err, "k-means: out of memory");
    }
    long first = (long)(cl_rng_next(rng) % (uint64_t)n);
    memcpy(centroids, X + (size_t)first * d, (size_t)d * sizeof(float));
    double total = 0;
    for (long i = 0; i < n; i++) {
        dist[i] = fmax(0.0, 1.0 - cl_dot(X + (size_t)i * d, centroids, d));
        total += dist[i];
    }
    for (int j = 1; j < k; j++) {
        /* a step's draws all come from the same potential, so they can be
         * drawn first and their distances formed in one blocked pass */
        for (int t = 0; t < trials; t++) {
            long cidx = total > 0 ? draw(rng, dist, n, total) : (long)(cl_rng_next(rng) % (uint64_t)n);
            memcpy(cand_rows + (size_t)t * d, X + (size_t)cidx * d, (size_t)d * sizeof(float));
        }
        cl_dots_block(cand_rows, trials, X, (int)n, d, sims);
        int pick = -1;
        double pick_total = INFINITY;
        for (int t = 0; t < trials; t++) {
            const float *s = sims + (size_t)t * n;
            double sum = 0;
            for (long i = 0; i < n; i++) {
                cand[i] = fmin(dist[i], fmax(0.0, 1.0 - s[i]));
                sum += cand[i];
            }
            if (sum < pick_total) {
                pick_total = sum;
                pick = t;
                memcpy(best_d, cand, (size_t)n * sizeof *best_d);
            }
        }
        if (pick < 0) /* every potential NaN (never from unit vectors): the first draw */
            pick = 0;
        memcpy(centroids + (size_t)j * d, cand_rows + (size_t)pick * d, (size_t)d * sizeof(float));
        memcpy(dist, best_d, (size_t)n * sizeof *dist);
        total = pick_total;
    }
    for (long i = 0; i < n; i++)
        assign[i] = -1;
    for (int it = 0; it < iterations; it++) {
        long moved = 0;
        cl_dots_block(X, (int)n, centroids, k, d, sims);
        for (long i = 0; i < n; i++) {
            const float *si = sims + (size_t)i * k;
            int b = 0;
            float bs = -INFINITY;
            for (int j = 0; j < k; j++)
                if (si[j] > bs) {
                    bs = si[j];
                    b = j;
                }
            moved += assign[i] != b;
            assign[i] = b;
            dist[i] = 1.0 - bs;
        }
        if (!moved)
            break;
        memset(centroids, 0, (size_t)k * d * sizeof(float));
        memset(count, 0, (size_t)k * sizeof *count);
        for (long i = 0; i < n; i++) {
            cl_axpy(centroids + (size_t)assign[i] * d, 1.0f, X + (size_t)i * d, d);
            count[assign[i]]++;
        }
        for (int j = 0; j < k; j++) {
            float *cj = centroids + (size_t)j * d;
            double len = cl_norm(cj, d);
            if (!count[j] || len <= 0) { /* empty: take the worst-served point */
                long w = 0;
                for (long i = 1; i < n; i++)
                    if (dist[i] > dist[w])
                        w = i;
                memcpy(cj, X + (size_t)w * d, (size_t)d * sizeof(float));
                dist[w] = 0;
                continue;
            }
            for (int q = 0; q < d; q++)
                cj[q] = (float)(cj[q] / len);
        }
    }
    /* the inertia of the final centroids picks the best restart */
    *inertia = cl_kmeans_inertia(X, n, d, centroids, k, sims);
    free(dist), free(cand), free(best_d), free(assign), free(count), free(sims), free(cand_rows);
    return 0;
}

/* The restarts run in parallel (the caller's OpenMP thread count), with the
 * same bits as one after the other: a restart takes exactly
 * draws_per_restart() numbers from the generator, so restart r starts from
 * the generator advanced r times that, and the generator ends where the
 * serial loop would leave it. */
static long draws_per_restart(int k)
{
    return 1 + (long)(k - 1) * kmeanspp_trials(k);
}

int cl_kmeans(const float *X, long n, int d, int k, int iterations, int restarts, cl_rng *rng, float *centroids,
              segstream_err *err)
{
    if (n < k)
        return segstream_err_set(err, "k-means: %ld vectors for k = %d", n, k);
    if (restarts < 1)
        restarts = 1;
    float *trial = malloc((size_t)restarts * k * d * sizeof(float));
    double *inertia = malloc((size_t)restarts * sizeof *inertia);
    /* starts[r]: where restart r starts; starts[restarts]: where the generator ends */
    cl_rng *starts = malloc(((size_t)restarts + 1) * sizeof *starts), *rngs = malloc((size_t)restarts * sizeof *rngs);
    segstream_err *errs = calloc((size_t)restarts, sizeof *errs);
    int *failed = calloc((size_t)restarts, sizeof *failed);
    if (!trial || !inertia || !starts || !rngs || !errs || !failed) {
        free(trial), free(inertia), free(starts), free(rngs), free(errs), free(failed);
        return segstream_err_set(err, "k-means: out of memory");
    }
    starts[0] = *rng;
    for (int r = 0; r < restarts; r++) {
        rngs[r] = starts[r + 1] = starts[r];
        for (long i = draws_per_restart(k); i > 0; i--)
            cl_rng_next(&starts[r + 1]);
    }
#pragma omp parallel for schedule(dynamic, 1) if (restarts > 1)
    for (int r = 0; r < restarts; r++) {
        inertia[r] = INFINITY;
        failed[r] = kmeans_once(X, n, d, k, iterations, &rngs[r], trial + (size_t)r * k * d, &inertia[r], &errs[r]);
    }
    int rc = 0, best = -1;
    for (int r = 0; r < restarts && !rc; r++) {
        if (failed[r]) {
            *err = errs[r];
            rc = -1;
        } else if (memcmp(&rngs[r], &starts[r + 1], sizeof *rngs)) /* the count above is wrong: a bug */
            rc = segstream_err_set(err, "k-means: a restart drew other than %ld numbers", draws_per_restart(k));
        else if (best < 0 || inertia[r] < inertia[best]) /* strict: ties keep the earlier restart */
            best = r;
    }
    if (!rc) {
        memcpy(centroids, trial + (size_t)best * k * d, (size_t)k * d * sizeof(float));
        *rng = starts[restarts];
    }
    free(trial), free(inertia), free(starts), free(rngs), free(errs), free(failed);
    return rc;
}
