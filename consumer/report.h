/* report.h - what `segstream report` shows, built from the segment catalog,
 * the segment changes and (optionally) the input events.
 *
 * Feed records in any order of the three kinds but each kind in log order
 * (catalog records by model version, as the stage writes them; changes by
 * event time; events as the input had them), then call
 * segstream_report_finish() once, which derives everything the page shows:
 *   - per segment id: its size over time (one point per distinct catalog
 *     record, repeats of the final catalog dropped), its latest label,
 *     centroid and status, how it began (bootstrap or split of `parent`) and
 *     how it ended (split, merge or retirement);
 *   - the 2-D map: PCA of the active segments' centroids;
 *   - example texts per active segment (when events were fed);
 *   - changes per cause per time bucket.
 *
 * The catalog record does not say why a segment retired, so the end is
 * inferred: "split" when segments name it as parent; otherwise "merged" when
 * its decayed size at retirement was at least the retirement threshold
 * (retire_share x total active size / k, the cluster's own rule, with k the
 * most segments ever active at once), into the older active segment whose
 * last centroid is nearest; else "retired" (too small).
 *
 * Example texts, newest first, distinct, at most max_examples: first the
 * latest event text of each user the changes leave in the segment (its
 * current members); then the texts of the events whose INTEREST_CHANGED
 * change moved a user into the segment (members first, then users since
 * gone). An event is matched to its change by (user id, event time) and,
 * among events of the same user at the same millisecond, by source offset.
 *
 * Threads: one thread at a time per report. */
#ifndef SEGSTREAM_CONSUMER_REPORT_H
#define SEGSTREAM_CONSUMER_REPORT_H

#include "common/err.h"
#include "consumer/records.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct segstream_report segstream_report;

typedef struct segstream_report_options {
    double retire_share;   /* cluster.retire_size of the run (for telling merges from retirements) */
    size_t max_examples;   /* example texts per segment */
    size_t max_time_bins;  /* at most this many buckets in the change-rate chart */
} segstream_report_options;

segstream_report_options segstream_report_default_options(void); /* 0.05, 5, 80 */

typedef enum segstream_report_end {
    SEGSTREAM_REPORT_END_NONE = 0,    /* still active */
    SEGSTREAM_REPORT_END_SPLIT = 1,   /* split into the segments naming it as parent */
    SEGSTREAM_REPORT_END_MERGED = 2,  /* merged into merged_into (-1: target unknown) */
    SEGSTREAM_REPORT_END_RETIRED = 3, /* too small */
} segstream_report_end;

typedef struct segstream_report_point {
    int64_t time; /* updated_time of the catalog record */
    double size;
} segstream_report_point;

typedef struct segstream_report_segment {
    int64_t id;
    bool active;                /* latest catalog record is ACTIVE */
    bool has_parent;            /* born of a split of `parent` */
    int64_t parent;
    int64_t created_time;
    int64_t end_time;           /* updated_time of the RETIRED record; valid when !active */
    segstream_report_end end;
    int64_t merged_into;        /* -1 unless end == MERGED with a known target */
    double size;                /* latest decayed size (at retirement for retired ones) */
    char **label;               /* latest non-empty label, label_count strings */
    size_t label_count;
    float *centroid;            /* latest published centroid, dim floats; NULL if none */
    size_t dim;
    segstream_report_point *points; /* size history, time order */
    size_t npoints;
    char **examples;            /* example texts, nexamples strings */
    size_t nexamples;
    size_t members;             /* users whose latest change put them here */
    double map_x, map_y;        /* PCA coordinates; valid when active && centroid */
    bool on_map;
} segstream_report_segment;

/* Changes per cause in one time bucket [start, start + width). */
typedef struct segstream_report_bin {
    int64_t start;
    int64_t count[4]; /* by segstream_cause */
} segstream_report_bin;

/* A new empty report; NULL when out of memory. */
segstream_report *segstream_report_new(const segstream_report_options *opts);
void segstream_report_free(segstream_report *r); /* NULL is fine */

/* Feed one record (borrowed: copied as needed). Before finish() only.
 * Events must come after every change: only events some INTEREST_CHANGED
 * change points at are kept. An event's position is its line number in an
 * NDJSON file or record number in an Avro file (from 1), or its offset in a
 * topic. Return 0, or -1 with err (out of memory). */
int segstream_report_add_segment(segstream_report *r, const segstream_segment *s, segstream_err *err);
int segstream_report_add_change(segstream_report *r, const segstream_segment_change *c, segstream_err *err);
int segstream_report_add_event(segstream_report *r, const segstream_interest_change *e, int64_t position,
                               segstream_err *err);

/* Derives everything listed at the top. Call once; returns 0 or -1 with err. */
int segstream_report_finish(segstream_report *r, segstream_err *err);

/* Results, valid after finish() until free(). Segments are sorted by id. */
const segstream_report_segment *segstream_report_segments(const segstream_report *r, size_t *n);
const segstream_report_segment *segstream_report_find(const segstream_report *r, int64_t id);
const segstream_report_bin *segstream_report_bins(const segstream_report *r, size_t *n, int64_t *width_ms);

typedef struct segstream_report_totals {
    size_t catalog_records, changes, events, events_matched;
    int64_t changes_by_cause[4];
    int64_t first_time, last_time; /* over catalog and changes; 0 when empty */
    int64_t model_version;          /* highest seen */
    size_t max_active;              /* most segments active at once (k) */
    double map_variance[2];         /* variance along the map's two axes */
    double total_variance;          /* of the active centroids, for "x% shown" */
} segstream_report_totals;

const segstream_report_totals *segstream_report_get_totals(const segstream_report *r);

#endif
