/* stage_metrics.c - the names, help lines and buckets of the stage's own
 * metrics, in one place so dashboards and the README can rely on them. */
#include "consumer/metrics.h"

#include <stdbool.h>

static segstream_series *plain(segstream_metrics *m, segstream_metric_type type, const char *name,
                               const char *help, const double *buckets, size_t n_buckets, bool *ok,
                               segstream_err *err)
{
    if (!*ok)
        return NULL;
    segstream_metric *f = segstream_metrics_add(m, type, name, help, NULL, buckets, n_buckets, err);
    segstream_series *s = f ? segstream_metric_series(f, NULL) : NULL;
    if (!s) {
        *ok = false;
        if (f)
            segstream_err_set(err, "metric %s: out of memory", name);
    }
    return s;
}

int segstream_stage_metrics_register(segstream_metrics *m, const char *version, segstream_stage_metrics *out,
                                     segstream_err *err)
{
    static const double batch_buckets[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};
    static const double seconds_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                             0.25,  0.5,    1,     2.5,  5,     10};
    const size_t n_batch = sizeof batch_buckets / sizeof batch_buckets[0];
    const size_t n_seconds = sizeof seconds_buckets / sizeof seconds_buckets[0];
    const segstream_metric_type C = SEGSTREAM_METRIC_COUNTER, G = SEGSTREAM_METRIC_GAUGE,
                                H = SEGSTREAM_METRIC_HISTOGRAM;
    bool ok = true;
    *out = (segstream_stage_metrics){0};

    static const char *const version_label[] = {"version", NULL};
    segstream_metric *info = segstream_metrics_add(m, G, "segstream_build_info",
                                                   "Always 1; the version label says which build runs.",
                                                   version_label, NULL, 0, err);
    const char *version_value[] = {version ? version : "unknown", NULL};
    segstream_gauge_set(segstream_metric_series(info, version_value), 1);
    ok = info != NULL;

    out->events_in = plain(m, C, "segstream_events_in_total", "Input records read from the input topic.", NULL, 0,
                           &ok, err);
    out->events_out = plain(m, C, "segstream_events_out_total", "SegmentChange records written.", NULL, 0, &ok,
                            err);
    out->catalog_out = plain(m, C, "segstream_catalog_updates_total", "Segment catalog records written.", NULL, 0,
                             &ok, err);
    static const char *const reason_label[] = {"reason", NULL};
    if (ok && !(out->dead_letters = segstream_metrics_add(m, C, "segstream_dead_letters_total",
                                                          "Input records sent to the dead-letter topic, by reason.",
                                                          reason_label, NULL, 0, err)))
        ok = false;
    out->batch_size = plain(m, H, "segstream_batch_events", "Input records per processed batch.", batch_buckets,
                            n_batch, &ok, err);
    out->encode_seconds = plain(m, H, "segstream_encode_seconds", "Encoder wall time per batch, in seconds.",
                                seconds_buckets, n_seconds, &ok, err);
    out->users_tracked = plain(m, G, "segstream_users_tracked", "Users with a profile in the model.", NULL, 0, &ok,
                               err);
    out->active_segments = plain(m, G, "segstream_active_segments", "Active segments in the model.", NULL, 0, &ok,
                                 err);
    out->model_version = plain(m, G, "segstream_model_version", "Version of the clustering model (bumped per update).",
                               NULL, 0, &ok, err);
    out->watermark = plain(m, G, "segstream_watermark_seconds", "Event-time watermark, in seconds since the epoch.",
                           NULL, 0, &ok, err);
    out->cache_hits = plain(m, C, "segstream_encoder_cache_hits_total", "Texts whose embedding came from the cache.",
                            NULL, 0, &ok, err);
    out->cache_misses = plain(m, C, "segstream_encoder_cache_misses_total", "Texts the encoder had to run for.",
                              NULL, 0, &ok, err);
    static const char *const lag_labels[] = {"topic", "partition", NULL};
    if (ok && !(out->consumer_lag = segstream_metrics_add(m, G, "segstream_consumer_lag",
                                                          "Records between the committed position and the end of "
                                                          "each assigned input partition.",
                                                          lag_labels, NULL, 0, err)))
        ok = false;
    out->transactions = plain(m, C, "segstream_transactions_total", "Transactions committed.", NULL, 0, &ok, err);
    out->transaction_aborts = plain(m, C, "segstream_transaction_aborts_total", "Transactions aborted.", NULL, 0,
                                    &ok, err);
    out->barriers = plain(m, C, "segstream_barriers_total",
                          "Scale-out barriers applied: model changes shared through topics.model.", NULL, 0, &ok, err);
    out->barrier_waiting = plain(m, G, "segstream_barrier_waiting",
                                 "1 while events wait for other instances' deltas at a scale-out barrier.", NULL, 0,
                                 &ok, err);
    return ok ? 0 : -1;
}
