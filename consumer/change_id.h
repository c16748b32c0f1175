/* change_id.h - deterministic event ids of SegmentChange outputs.
 *
 * An output's id is a hash of the input event that caused it (the trigger),
 * the cause and the user: the same input gives the same ids on every run and
 * replay, so downstream consumers can drop duplicates by id. When one trigger
 * causes several changes of one cause for one user (rare: a bootstrap
 * release), the repeats add an ordinal to the hash.
 *
 * Threads: one thread at a time per table. */
#ifndef SEGSTREAM_CONSUMER_CHANGE_ID_H
#define SEGSTREAM_CONSUMER_CHANGE_ID_H

#include <stddef.h>
#include <stdint.h>

/* Which (cause, user) pairs the current trigger has used. Zero-initialise. */
typedef struct segstream_change_ids {
    uint64_t *keys;   /* cap slots; 0 = empty */
    uint32_t *counts; /* uses of the key in the slot */
    size_t cap;       /* a power of two, or 0 */
    size_t *used;     /* slots filled since the last reset */
    size_t n_used;
} segstream_change_ids;

/* A new trigger: forgets the pairs of the previous one. */
void segstream_change_ids_reset(segstream_change_ids *t);

/* Writes the id of the trigger's next change of (cause, user) into out: 32
 * lowercase hex digits and a NUL. Returns 0, or -1 when out of memory. */
int segstream_change_ids_next(segstream_change_ids *t, const char *event_id, int cause, const char *user,
                              char out[33]);

void segstream_change_ids_free(segstream_change_ids *t);

#endif
