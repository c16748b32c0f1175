/* change_id.c - deterministic ids of output events (see change_id.h).
 *
 * The id is a 128-bit hash, two FNV-1a-style lanes over length-prefixed
 * fields with a murmur finaliser, written as 32 hex digits. Repeats of one
 * (cause, user) under one trigger are counted in an open-addressing table of
 * 64-bit key hashes (0 = empty slot, load factor <= 1/2), cleared per trigger
 * through the list of used slots so a reset costs what the trigger used. */
#include "consumer/change_id.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

/* Two independent FNV-1a-style lanes over length-prefixed fields, finalised:
 * 128 bits, so distinct (event, cause, user, ordinal) never share an id in
 * practice. Not cryptographic; ids only need to be stable and distinct. */
typedef struct hash128 {
    uint64_t a, b;
} hash128;

static void h_bytes(hash128 *h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h->a = (h->a ^ p[i]) * UINT64_C(0x100000001b3);
        h->b = (h->b ^ p[i]) * UINT64_C(0x00000100000001b3) + UINT64_C(0x9e3779b97f4a7c15);
    }
}

static void h_field(hash128 *h, const char *s)
{
    uint64_t n = strlen(s);
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(n >> (8 * i));
    h_bytes(h, len, 8);
    h_bytes(h, s, n);
}

static void format_id(const char *event_id, int cause, const char *user, uint32_t ordinal, char out[33])
{
    hash128 h = {UINT64_C(0xcbf29ce484222325), UINT64_C(0x84222325cbf29ce4)};
    char num[16];
    h_field(&h, event_id);
    snprintf(num, sizeof num, "%d", cause);
    h_field(&h, num);
    h_field(&h, user);
    if (ordinal) { /* only repeats get one, so the usual id is hash(event, cause, user) */
        snprintf(num, sizeof num, "%" PRIu32, ordinal);
        h_field(&h, num);
    }
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, mix64(h.a), mix64(h.b ^ mix64(h.a)));
}

void segstream_change_ids_reset(segstream_change_ids *t)
{
    for (size_t i = 0; i < t->n_used; i++)
        t->keys[t->used[i]] = 0;
    t->n_used = 0;
}

/* Returns how many times key was seen before in this trigger, or -1 (OOM). */
static long bump(segstream_change_ids *t, uint64_t key)
{
    key |= 1; /* 0 marks an empty slot */
    if (2 * (t->n_used + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        uint64_t *keys = calloc(cap, sizeof *keys);
        uint32_t *counts = calloc(cap, sizeof *counts);
        size_t *used = malloc(cap / 2 * sizeof *used);
        if (!keys || !counts || !used) {
            free(keys), free(counts), free(used);
            return -1;
        }
        size_t n = 0;
        for (size_t i = 0; i < t->n_used; i++) {
            size_t s = t->used[i], j = (size_t)mix64(t->keys[s]) & (cap - 1);
            while (keys[j])
                j = (j + 1) & (cap - 1);
            keys[j] = t->keys[s];
            counts[j] = t->counts[s];
            used[n++] = j;
        }
        free(t->keys), free(t->counts), free(t->used);
        t->keys = keys, t->counts = counts, t->used = used, t->cap = cap;
    }
    size_t j = (size_t)mix64(key) & (t->cap - 1);
    while (t->keys[j] && t->keys[j] != key)
        j = (j + 1) & (t->cap - 1);
    if (t->keys[j])
        return t->counts[j]++;
    t->keys[j] = key;
    t->counts[j] = 1;
    t->used[t->n_used++] = j;
    return 0;
}

int segstream_change_ids_next(segstream_change_ids *t, const char *event_id, int cause, const char *user,
                              char out[33])
{
    hash128 k = {0, 0};
    h_field(&k, event_id);
    h_field(&k, user);
    long ordinal = bump(t, mix64(k.a ^ (uint64_t)cause) ^ k.b);
    if (ordinal < 0)
        return -1;
    format_id(event_id, cause, user, (uint32_t)ordinal, out);
    return 0;
}

void segstream_change_ids_free(segstream_change_ids *t)
{
    free(t->keys), free(t->counts), free(t->used);
    memset(t, 0, sizeof *t);
}
