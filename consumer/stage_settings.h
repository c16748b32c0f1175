/* stage_settings.h - the parameters of the batch pipeline (encoder, cluster,
 * text limits) in one plain struct, free of Kafka, Avro and cluster/ types.
 *
 * The configuration module fills it from the properties file, --set and the
 * environment (model.path, cluster.k, cluster.window, ...); until then the
 * `segstream run` flags do. It stays free of cluster/cluster.h on purpose:
 * that header and consumer/records.h define the same names
 * (segstream_segment_change, SEGSTREAM_OP_*, SEGSTREAM_CAUSE_*), so no file
 * can include both; consumer/stage_cluster.c is the one file that talks to
 * cluster/. */
#ifndef SEGSTREAM_CONSUMER_STAGE_SETTINGS_H
#define SEGSTREAM_CONSUMER_STAGE_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

typedef struct segstream_stage_settings {
    /* encoder (model.*) */
    const char *model_dir;        /* model.path: sentence-transformers folder; borrowed */
    int encoder_threads;          /* 0 = all cores */
    int encoder_batch_tokens;     /* token budget of one forward pass */
    size_t encoder_cache_entries; /* LRU text -> embedding cache; 0 = off */
    int encoder_deterministic;    /* batch-invariant embeddings (model/encoder.h) */
    int encoder_precision;        /* encoder.precision: 0 fp32, 1 bf16, 2 int8 */
    /* cluster (cluster.*); dim comes from the model */
    int k;
    int64_t window_ms;
    int64_t pane_ms;
    int64_t half_life_ms;
    int64_t allowed_lateness_ms;
    int64_t max_future_skew_ms;
    int init_sample;       /* events buffered before the k-means++ bootstrap */
    uint64_t seed;
    double hysteresis;
    int reassign_slice;    /* users re-assigned per event while a sweep is due */
    int label_terms;       /* keywords per segment label */
    double retire_share;   /* cluster.retire_size */
    double merge_cosine;   /* cluster.merge_similarity */
    int profile_int8;      /* cluster.profile_codec: 0 fp16, 1 int8 */
    long max_users;        /* cluster.max_users: 0 = no limit */
    int shared_model;      /* cluster.shared_model: centroids change at barriers (cluster/ "Shared model") */
    int partition_models;  /* one shared model per owned input partition, barriers by the caller
                              (the Kafka stage with topics.model: scale-out) */
    /* pipeline */
    size_t max_text_bytes; /* longer texts are cut (on a UTF-8 boundary) before tokenizing;
                              the encoder truncates to the model's max tokens anyway */
    int max_label_words;   /* words of a text kept for labels */
    int keep_input_order;  /* 1: apply a batch in the order given (the Kafka stage's
                              partition merge decided it); 0: sort each batch by
                              (event_time, topic, partition, offset) */
} segstream_stage_settings;

/* Defaults: cluster/'s defaults (k 64, window 7d, pane 1h, half-life 1d,
 * lateness 5m, skew 1h, init sample 1000, seed 42, hysteresis 0.02, slice 64,
 * 5 label terms), the encoder's (all cores, 2048 tokens, 10000 cached texts),
 * texts cut at 64 KiB, 256 label words. model_dir NULL. */
segstream_stage_settings segstream_stage_default_settings(void);

#endif
