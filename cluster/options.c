/* options.c - the cluster options: defaults in one place, and a validator whose
 * every message names the field, the value given and the accepted range. */
#include "cluster/cluster.h"

#include <inttypes.h>
#include <math.h>

#define HOUR_MS (3600LL * 1000)
#define DAY_MS (24 * HOUR_MS)

segstream_cluster_options segstream_cluster_default_options(void)
{
    return (segstream_cluster_options){
        .dim = 384,
        .k = 64,
        .window_ms = 7 * DAY_MS,
        .pane_ms = HOUR_MS,
        .half_life_ms = DAY_MS,
        .allowed_lateness_ms = 5 * 60 * 1000,
        .max_future_skew_ms = 0, /* off: a quiet spell longer than the skew would refuse everything after it */
        .init_sample = 1000,
        .kmeans_iterations = 20,
        .kmeans_restarts = 10,
        .seed = 42,
        .retire_share = 0.05,
        .merge_cosine = 0.95,
        .hysteresis = 0.02,
        .profile_codec = SEGSTREAM_PROFILE_FP16,
        .reassign_slice = 64,
        .reservoir_size = 32,
        .label_terms = 5,
        .label_table_size = 64,
        .user_capacity = 1024,
    };
}

#define CHECK_INT(field, lo, hi)                                                                   \
    if (opt->field < (lo) || opt->field > (hi))                                                    \
        return segstream_err_set(err, "cluster option " #field " = %lld: accepted range %lld..%lld", \
                                 (long long)opt->field, (long long)(lo), (long long)(hi));
#define CHECK_REAL(field, lo, hi, range_text)                                                      \
    if (!(opt->field >= (lo) && opt->field <= (hi)))                                               \
        return segstream_err_set(err, "cluster option " #field " = %g: accepted range %s",         \
                                 (double)opt->field, range_text);

int segstream_cluster_options_validate(const segstream_cluster_options *opt, segstream_err *err)
{
    if (!opt)
        return segstream_err_set(err, "cluster options: NULL");
    CHECK_INT(dim, 1, 65536);
    CHECK_INT(k, 1, 4096);
    CHECK_INT(pane_ms, 1, 366 * DAY_MS);
    CHECK_INT(window_ms, opt->pane_ms, 10000 * opt->pane_ms);
    if (opt->window_ms % opt->pane_ms)
        return segstream_err_set(err,
                                 "cluster option window_ms = %" PRId64 ": must be a multiple of pane_ms = %" PRId64,
                                 opt->window_ms, opt->pane_ms);
    CHECK_INT(half_life_ms, 1, INT64_MAX / 2);
    CHECK_INT(allowed_lateness_ms, 0, opt->window_ms);
    CHECK_INT(max_future_skew_ms, 0, 3650 * DAY_MS);
    CHECK_INT(init_sample, opt->k, 10000000);
    CHECK_INT(kmeans_iterations, 0, 1000);
    CHECK_INT(kmeans_restarts, 1, 1000);
    CHECK_REAL(retire_share, 0.0, 0.999, "0..0.999");
    CHECK_REAL(merge_cosine, 0.5, 1.0, "0.5..1 (1 disables merges)");
    CHECK_REAL(hysteresis, 0.0, 2.0, "0..2");
    if (opt->profile_codec != SEGSTREAM_PROFILE_FP16 && opt->profile_codec != SEGSTREAM_PROFILE_INT8)
        return segstream_err_set(err, "cluster option profile_codec = %d: accepted 0 (fp16) or 1 (int8)",
                                 (int)opt->profile_codec);
    CHECK_INT(reassign_slice, 0, 100000000);
    CHECK_INT(reservoir_size, 2, 4096);
    CHECK_INT(label_terms, 0, 16);
    CHECK_INT(label_table_size, opt->label_terms > 1 ? opt->label_terms : 1, 4096);
    CHECK_INT(user_capacity, 0, 1 << 30);
    CHECK_INT(max_users, 0, INT32_MAX - 1);
    CHECK_INT(shared_model, 0, 1);
    return 0;
}
