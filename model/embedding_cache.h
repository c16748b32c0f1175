/* embedding_cache.h - a fixed-capacity LRU map from text to its embedding.
 *
 * Real interest streams repeat texts, and encoding one costs milliseconds
 * while a lookup costs a hash. Entries live in one preallocated array (the
 * vectors in one slab, capacity x dim floats), chained into hash buckets and
 * into a doubly linked recency list by index; when full, the least recently
 * used entry is evicted. Not thread-safe: the owning encoder serialises use. */
#ifndef SEGSTREAM_MODEL_EMBEDDING_CACHE_H
#define SEGSTREAM_MODEL_EMBEDDING_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct segstream_embedding_cache segstream_embedding_cache;

/* A cache of `capacity` (>= 1) vectors of dim floats; NULL when out of memory. */
segstream_embedding_cache *segstream_embedding_cache_create(size_t capacity, int dim);
void segstream_embedding_cache_destroy(segstream_embedding_cache *cache); /* NULL is fine */

/* If text[0..len) is cached: copies its vector to out, makes it the most
 * recently used, counts a hit and returns 1. Else counts a miss, returns 0. */
int segstream_embedding_cache_get(segstream_embedding_cache *cache, const char *text, size_t len,
                                  float *out);

/* Stores a copy of vec under a copy of text[0..len) as the most recently used
 * entry (replacing the text's old vector if present), evicting the least
 * recently used entry when full. Returns 0, or -1 when out of memory (the
 * cache is then unchanged). */
int segstream_embedding_cache_put(segstream_embedding_cache *cache, const char *text, size_t len,
                                  const float *vec);

size_t segstream_embedding_cache_size(const segstream_embedding_cache *cache);
uint64_t segstream_embedding_cache_hits(const segstream_embedding_cache *cache);
uint64_t segstream_embedding_cache_misses(const segstream_embedding_cache *cache);

#endif
