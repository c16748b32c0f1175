/* file_sink.h - the pipeline's outputs as NDJSON files (file mode).
 *
 * Segment changes, catalog records and dead letters each go to their own
 * stream, one JSON object a line, written with codec_json (the schema's field
 * names; see codec_json.h). A dead letter is a line
 *   {"reason":..,"message":..,"source_topic":..,"source_partition":..,
 *    "source_offset":..,"record":{InterestChange}|null,"raw":"line"|null}
 * with invalid UTF-8 replaced by U+FFFD. A stream that is NULL drops its
 * output. The sink does not own the FILEs.
 *
 * Threads: one thread at a time. */
#ifndef SEGSTREAM_CONSUMER_FILE_SINK_H
#define SEGSTREAM_CONSUMER_FILE_SINK_H

#include "consumer/pipeline.h"

#include <stdio.h>

typedef struct segstream_file_sink {
    FILE *changes;      /* SegmentChange lines; NULL = dropped */
    FILE *segments;     /* Segment lines; NULL = dropped */
    FILE *dead_letters; /* dead-letter lines; NULL = dropped */
} segstream_file_sink;

/* A pipeline sink writing to fs (borrowed; must outlive the returned sink's use). */
segstream_pipeline_sink segstream_file_sink_bind(segstream_file_sink *fs);

/* The dead-letter line for dl, without the newline: a new string the caller
 * frees, or NULL with err. */
char *segstream_dead_letter_to_json(const segstream_dead_letter *dl, segstream_err *err);

#endif
