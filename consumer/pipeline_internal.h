/* pipeline_internal.h - the pipeline's state, shared by pipeline.c (the
 * batch path) and pipeline_snapshot.c (its serialisation). Not an API. */
#ifndef SEGSTREAM_CONSUMER_PIPELINE_INTERNAL_H
#define SEGSTREAM_CONSUMER_PIPELINE_INTERNAL_H

#include "consumer/change_id.h"
#include "consumer/pipeline.h"
#include "consumer/stage_cluster.h"
#include "model/encoder.h"
#include "model/tokenizer.h"

/* A buffered bootstrap event: whose change the bootstrap will release. */
typedef struct boot_entry {
    char *event_id;
    char *user_id;
    char *topic;
    int32_t partition;
    int64_t offset;
    int64_t event_time;
} boot_entry;

/* The event whose outputs are being emitted. */
typedef struct trigger {
    const char *event_id;
    segstream_event_source source;
} trigger;

struct segstream_pipeline {
    segstream_stage_settings settings; /* model_dir points to model_dir below */
    char *model_dir;
    segstream_encoder *enc;
    const segstream_tokenizer *tok;
    int dim;
    segstream_stage_cluster *cluster;

    boot_entry *boot; /* FIFO: entries [boot_head, n_boot) are pending */
    size_t boot_head, n_boot, cap_boot;

    char *last_event_id; /* the last applied event, for finish(); NULL before any */
    char *last_topic;
    int32_t last_partition;
    int64_t last_offset;

    /* per call */
    const segstream_pipeline_sink *sink;
    segstream_err sink_err;
    int sink_failed;
    trigger cur;
    int releasing; /* the model was bootstrapping when the current event arrived */
    segstream_change_ids ids; /* reset per trigger */

    segstream_pipeline_stats stats;
};

/* Frees the queued bootstrap entries (the array stays) and empties the queue. */
void segstream_pipeline_boot_clear(segstream_pipeline *p);

#endif
