/* embedding_cache.c - hash chains + LRU list over a fixed array of entries.
 *
 * Indices (uint32_t, NONE = empty) instead of pointers: one allocation for
 * all entries, and the bucket array is a power of two at least twice the
 * capacity, so chains stay short without ever rehashing. Keys are 64-bit
 * FNV-1a hashes compared first, then the bytes. */
#include "model/embedding_cache.h"

#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

struct entry {
    char *text; /* owned copy; NULL when the entry is free */
    size_t len;
    uint64_t hash;
    uint32_t chain;      /* next entry in the same bucket */
    uint32_t prev, next; /* recency list: prev is more recent */
};

struct segstream_embedding_cache {
    int dim;
    uint32_t capacity, size;
    struct entry *entries;
    float *vectors; /* entry i's vector at vectors + i * dim */
    uint32_t *buckets;
    uint64_t bucket_mask;
    uint32_t head, tail; /* most and least recently used */
    uint64_t hits, misses;
};

static uint64_t hash_bytes(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

segstream_embedding_cache *segstream_embedding_cache_create(size_t capacity, int dim)
{
    if (capacity < 1 || capacity >= NONE || dim < 1)
        return NULL;
    segstream_embedding_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    size_t buckets = 16;
    while (buckets < 2 * capacity)
        buckets *= 2;
    c->dim = dim;
    c->capacity = (uint32_t)capacity;
    c->entries = calloc(capacity, sizeof *c->entries);
    c->vectors = malloc(capacity * (size_t)dim * sizeof *c->vectors);
    c->buckets = malloc(buckets * sizeof *c->buckets);
    if (!c->entries || !c->vectors || !c->buckets) {
        segstream_embedding_cache_destroy(c);
        return NULL;
    }
    memset(c->buckets, 0xff, buckets * sizeof *c->buckets); /* all NONE */
    c->bucket_mask = buckets - 1;
    c->head = c->tail = NONE;
    return c;
}

void segstream_embedding_cache_destroy(segstream_embedding_cache *c)
{
    if (!c)
        return;
    if (c->entries)
        for (uint32_t i = 0; i < c->size; i++)
            free(c->entries[i].text);
    free(c->entries);
    free(c->vectors);
    free(c->buckets);
    free(c);
}

static uint32_t find(const segstream_embedding_cache *c, const char *text, size_t len, uint64_t hash)
{
    for (uint32_t i = c->buckets[hash & c->bucket_mask]; i != NONE; i = c->entries[i].chain) {
        const struct entry *e = &c->entries[i];
        if (e->hash == hash && e->len == len && !memcmp(e->text, text, len))
            return i;
    }
    return NONE;
}

static void list_unlink(segstream_embedding_cache *c, uint32_t i)
{
    struct entry *e = &c->entries[i];
    if (e->prev != NONE)
        c->entries[e->prev].next = e->next;
    else
        c->head = e->next;
    if (e->next != NONE)
        c->entries[e->next].prev = e->prev;
    else
        c->tail = e->prev;
}

static void list_push_front(segstream_embedding_cache *c, uint32_t i)
{
    struct entry *e = &c->entries[i];
    e->prev = NONE;
    e->next = c->head;
    if (c->head != NONE)
        c->entries[c->head].prev = i;
    c->head = i;
    if (c->tail == NONE)
        c->tail = i;
}

static void chain_remove(segstream_embedding_cache *c, uint32_t i)
{
    uint32_t *link = &c->buckets[c->entries[i].hash & c->bucket_mask];
    while (*link != i)
        link = &c->entries[*link].chain;
    *link = c->entries[i].chain;
}

int segstream_embedding_cache_get(segstream_embedding_cache *c, const char *text, size_t len, float *out)
{
    uint32_t i = find(c, text, len, hash_bytes(text, len));
    if (i == NONE) {
        c->misses++;
        return 0;
    }
    c->hits++;
    if (c->head != i) {
        list_unlink(c, i);
        list_push_front(c, i);
    }
    memcpy(out, c->vectors + (size_t)i * c->dim, (size_t)c->dim * sizeof *out);
    return 1;
}

int segstream_embedding_cache_put(segstream_embedding_cache *c, const char *text, size_t len,
                                  const float *vec)
{
    uint64_t hash = hash_bytes(text, len);
    uint32_t i = find(c, text, len, hash);
    if (i == NONE) {
        char *copy = malloc(len ? len : 1);
        if (!copy)
            return -1;
        memcpy(copy, text, len);
        if (c->size < c->capacity) {
            i = c->size++;
        } else { /* evict the least recently used */
            i = c->tail;
            list_unlink(c, i);
            chain_remove(c, i);
            free(c->entries[i].text);
        }
        struct entry *e = &c->entries[i];
        e->text = copy;
        e->len = len;
        e->hash = hash;
        e->chain = c->buckets[hash & c->bucket_mask];
        c->buckets[hash & c->bucket_mask] = i;
    } else {
        list_unlink(c, i);
    }
    list_push_front(c, i);
    memcpy(c->vectors + (size_t)i * c->dim, vec, (size_t)c->dim * sizeof *vec);
    return 0;
}

size_t segstream_embedding_cache_size(const segstream_embedding_cache *c)
{
    return c->size;
}

uint64_t segstream_embedding_cache_hits(const segstream_embedding_cache *c)
{
    return c->hits;
}

uint64_t segstream_embedding_cache_misses(const segstream_embedding_cache *c)
{
    return c->misses;
}
