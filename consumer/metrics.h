/* metrics.h - a registry of counters, gauges and histograms rendered in the
 * Prometheus text exposition format 0.0.4 (served on /metrics by
 * http_server.h).
 *
 * A metric (family) has a name, a help line, a type and up to 4 label names;
 * a series is one combination of label values. Updates are lock-free C11
 * atomics on the series, so the pipeline thread never waits for a scrape;
 * creating a series and rendering take the registry's mutex. A scrape sees
 * each value atomically but not all values at one instant (as Prometheus
 * clients do); a histogram's _count is the sum of its buckets, so the
 * +Inf bucket always equals _count.
 *
 * Thread rules: every function may be called from any thread, except
 * segstream_metrics_free() (no other call may run or follow). Series
 * pointers stay valid until the registry is freed: look them up once and
 * keep them. */
#ifndef SEGSTREAM_CONSUMER_METRICS_H
#define SEGSTREAM_CONSUMER_METRICS_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

#define SEGSTREAM_METRIC_MAX_LABELS 4
#define SEGSTREAM_METRIC_MAX_BUCKETS 32

typedef enum segstream_metric_type {
    SEGSTREAM_METRIC_COUNTER = 0,   /* only goes up */
    SEGSTREAM_METRIC_GAUGE = 1,     /* set to any value */
    SEGSTREAM_METRIC_HISTOGRAM = 2, /* observations counted in fixed buckets */
} segstream_metric_type;

typedef struct segstream_metrics segstream_metrics;
typedef struct segstream_metric segstream_metric;
typedef struct segstream_series segstream_series;

/* An empty registry; NULL when out of memory. */
segstream_metrics *segstream_metrics_new(void);
void segstream_metrics_free(segstream_metrics *m);

/* Registers a metric. name must match [a-zA-Z_:][a-zA-Z0-9_:]* and be new;
 * labels is a NULL-terminated list of label names (NULL: none); buckets are
 * the histogram's upper bounds, finite and increasing (+Inf is implied),
 * ignored for other types. An unlabelled metric gets its series at once (so
 * it renders 0 before the first update). Returns the metric (owned by m) or
 * NULL with err. */
segstream_metric *segstream_metrics_add(segstream_metrics *m, segstream_metric_type type, const char *name,
                                        const char *help, const char *const *labels, const double *buckets,
                                        size_t n_buckets, segstream_err *err);

/* The series for these label values (one per label name, in order; NULL when
 * the metric has no labels), created on first use starting at zero. NULL
 * only when out of memory or the count of values is wrong. */
segstream_series *segstream_metric_series(segstream_metric *metric, const char *const *values);

/* Shorthand for a metric with exactly one label. */
segstream_series *segstream_metric_with(segstream_metric *metric, const char *value);

/* Updates; a NULL series is ignored, so a failed lookup never crashes the
 * pipeline. Counters: n >= 0. */
void segstream_counter_add(segstream_series *s, uint64_t n);
void segstream_gauge_set(segstream_series *s, double value);
void segstream_gauge_add(segstream_series *s, double delta);
void segstream_histogram_observe(segstream_series *s, double value);

/* Reads back (for tests and for the stage's own decisions). */
uint64_t segstream_counter_value(const segstream_series *s);
double segstream_gauge_value(const segstream_series *s);

/* The exposition text (HELP, TYPE, samples; families in registration order,
 * series in creation order). A malloc'ed NUL-terminated string the caller
 * frees, *len (optional) its length; NULL when out of memory. */
char *segstream_metrics_render(segstream_metrics *m, size_t *len);

/* The stage's metrics, named once here; the pipeline updates them. */
typedef struct segstream_stage_metrics {
    segstream_series *events_in;       /* segstream_events_in_total: input records read */
    segstream_series *events_out;      /* segstream_events_out_total: SegmentChange records written */
    segstream_series *catalog_out;     /* segstream_catalog_updates_total: Segment records written */
    segstream_metric *dead_letters;    /* segstream_dead_letters_total{reason} */
    segstream_series *batch_size;      /* segstream_batch_events: events per batch (histogram) */
    segstream_series *encode_seconds;  /* segstream_encode_seconds: encoder time per batch (histogram) */
    segstream_series *users_tracked;   /* segstream_users_tracked */
    segstream_series *active_segments; /* segstream_active_segments */
    segstream_series *model_version;   /* segstream_model_version */
    segstream_series *watermark;       /* segstream_watermark_seconds: event-time watermark (epoch s) */
    segstream_series *cache_hits;      /* segstream_encoder_cache_hits_total */
    segstream_series *cache_misses;    /* segstream_encoder_cache_misses_total */
    segstream_metric *consumer_lag;    /* segstream_consumer_lag{topic,partition}: records behind the end */
    segstream_series *transactions;    /* segstream_transactions_total: committed */
    segstream_series *transaction_aborts; /* segstream_transaction_aborts_total */
    segstream_series *barriers;        /* segstream_barriers_total: scale-out barriers applied (and committed) */
    segstream_series *barrier_waiting; /* segstream_barrier_waiting: 1 while events wait for other instances */
} segstream_stage_metrics;

/* Registers the stage's metrics in m (plus segstream_build_info{version} = 1)
 * and fills out. Returns 0, or -1 with err. */
int segstream_stage_metrics_register(segstream_metrics *m, const char *version, segstream_stage_metrics *out,
                                     segstream_err *err);

#endif
