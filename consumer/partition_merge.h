/* partition_merge.h - the order in which the stage applies the events of all
 * its assigned partitions: offset order within each partition, and across
 * partitions by (event time, topic, partition) of each partition's next
 * event — a k-way merge of the partition streams, as Kafka Streams does.
 *
 * Why: a poll returns messages of several partitions interleaved however the
 * fetches happened to arrive, so applying them in poll order would make the
 * model (and the output) depend on network timing. The merge releases an
 * event only when every other assigned partition either has a buffered event
 * (so it is known that none of its events comes earlier) or is idle: caught
 * up with its log end (the caller says so when the consumer reports the
 * partition's end) for at least idle_ms, or finished (a replay reached the
 * end it was given). A partition that is merely waiting for a fetch blocks
 * the others; with events already in the log that makes the order
 * independent of polling, which is what restart and replay equality need.
 *
 * Items are opaque pointers owned by the caller (the Kafka stage keeps its
 * rd_kafka_message_t there); the merge never frees them except through the
 * free function given to segstream_merge_clear().
 *
 * Thread rules: one thread at a time. */
#ifndef SEGSTREAM_CONSUMER_PARTITION_MERGE_H
#define SEGSTREAM_CONSUMER_PARTITION_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct segstream_merge segstream_merge;

/* Inherit the previous event's time of the same partition (for inputs whose
 * time is unknown, e.g. undecodable messages). */
#define SEGSTREAM_MERGE_INHERIT_TIME INT64_MIN

/* NULL when out of memory. */
segstream_merge *segstream_merge_new(void);
/* Frees the merge; items still buffered are handed to free_item (may be NULL). */
void segstream_merge_free(segstream_merge *m, void (*free_item)(void *item));

/* Starts tracking a partition (idempotent). Returns 0, or -1 when out of memory. */
int segstream_merge_add_partition(segstream_merge *m, const char *topic, int32_t partition);
/* Stops tracking every partition; buffered items go to free_item. */
void segstream_merge_clear(segstream_merge *m, void (*free_item)(void *item));

/* Appends an item (offset order within its partition is the caller's: the
 * consumer's). Adds the partition if unknown. Clears its caught-up state.
 * Returns 0, or -1 when out of memory (the item is then not taken). */
int segstream_merge_push(segstream_merge *m, const char *topic, int32_t partition, int64_t event_time, void *item);

/* The consumer reached the partition's log end at now_ms (idle from then on
 * once its buffer is empty). */
void segstream_merge_caught_up(segstream_merge *m, const char *topic, int32_t partition, int64_t now_ms);

/* The partition will get no more items (a replay reached its end): it never
 * holds the others back again. */
void segstream_merge_finished(segstream_merge *m, const char *topic, int32_t partition);

/* The next item in merge order if it may be released at now_ms, else NULL
 * (nothing buffered, or a partition that is neither buffered nor idle holds
 * it back). idle_ms: how long a caught-up, empty partition is waited for. */
void *segstream_merge_pop(segstream_merge *m, int64_t now_ms, int64_t idle_ms);

/* Items buffered in total / in one partition (for back-pressure). */
size_t segstream_merge_buffered(const segstream_merge *m);
size_t segstream_merge_partition_buffered(const segstream_merge *m, const char *topic, int32_t partition);

/* True when every tracked partition is finished and empty. */
bool segstream_merge_all_finished(const segstream_merge *m);

#endif
