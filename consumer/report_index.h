/* report_index.h - the two lookups `segstream report` needs while it reads
 * tens of thousands of changes and events: user id -> dense user number
 * (string interning) and a 64-bit key -> value map.
 *
 * Open addressing with linear probing, power-of-two tables kept at most half
 * full (so a probe run stays short), growing by doubling. Keys are never
 * removed. Threads: one thread at a time per index. */
#ifndef SEGSTREAM_CONSUMER_REPORT_INDEX_H
#define SEGSTREAM_CONSUMER_REPORT_INDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct segstream_report_names {
    char **names;      /* names[i] is the string of number i (owned) */
    size_t count;
    uint32_t *slots;   /* table of number + 1; 0 = empty */
    size_t nslots;     /* power of two, or 0 before the first insert */
} segstream_report_names;

/* The number of `name` (len bytes), adding it when new and add != 0.
 * Returns the number, -1 when absent (add == 0), or -2 when out of memory. */
int64_t segstream_report_names_get(segstream_report_names *t, const char *name, size_t len, int add);
void segstream_report_names_free(segstream_report_names *t);

typedef struct segstream_report_map {
    uint64_t *keys;
    int64_t *values;
    uint8_t *used;
    size_t count, nslots;
} segstream_report_map;

/* Returns a pointer to key's value, inserting it with `initial` when new and
 * add != 0; NULL when absent (add == 0) or out of memory (add != 0). The
 * pointer is valid until the next insert. */
int64_t *segstream_report_map_get(segstream_report_map *m, uint64_t key, int64_t initial, int add);
void segstream_report_map_free(segstream_report_map *m);

/* A well-mixed 64-bit key from two numbers (user, time). */
uint64_t segstream_report_key2(uint64_t a, uint64_t b);

#endif
