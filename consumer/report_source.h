/* report_source.h - reads every record of one kind from a file or a topic,
 * for `segstream report`.
 *
 * Files: NDJSON (one record a line, blank lines skipped) or an Avro object
 * container file, told apart by the first bytes. Topics: every partition is
 * assigned directly (no group joined, nothing committed) from the beginning
 * and read with isolation.level=read_committed up to its end as it was when
 * reading reached it, so the report shows what downstream consumers see.
 * Either wire framing is accepted.
 *
 * Threads: blocking; one call at a time per thread, no shared state. */
#ifndef SEGSTREAM_CONSUMER_REPORT_SOURCE_H
#define SEGSTREAM_CONSUMER_REPORT_SOURCE_H

#include "common/err.h"
#include "consumer/records.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct segstream_report_source {
    const char *file;             /* read this file, or */
    const char *topic;            /* this topic (exactly one of the two is set) */
    const char *brokers;          /* NULL: $SEGSTREAM_BROKERS or the local broker */
    char *const *kafka_sets;      /* "key=value" librdkafka settings, nsets of them */
    size_t nsets;
    double timeout_s;             /* topics: give up after this long without progress */
    bool skip_bad;                /* skip (and count) records that do not decode instead of failing */
} segstream_report_source;

/* Called for each record; `position` is the 1-based line or record number in
 * a file, the offset in a topic (partition in *partition, 0 for files).
 * Returns 0 to go on, -1 (with err set) to stop. */
typedef int (*segstream_report_record_fn)(void *ctx, const segstream_record *rec, int32_t partition,
                                          int64_t position, segstream_err *err);

/* Reads every record of `type` from src into fn. *skipped (may be NULL) gets
 * the records skipped when src->skip_bad. Returns the number of records
 * passed to fn, or -1 with err naming the file line / partition and offset. */
int64_t segstream_report_source_read(const segstream_report_source *src, segstream_record_type type,
                                     segstream_report_record_fn fn, void *ctx, int64_t *skipped,
                                     segstream_err *err);

#endif
