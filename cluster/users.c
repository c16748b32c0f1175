/* users.c - the user table: user id -> dense index, with the users' fields in
 * parallel dense arrays (indices 0..n-1, so sweeps and bulk re-assignment run
 * over contiguous memory).
 *
 * Probing: open addressing with linear probing over a power-of-two slot array
 * holding dense indices (-1 empty). Load factor at most 1/2: the slot array
 * doubles when n would exceed slots/2. Deletion is by backward shift (no
 * tombstones), and the last dense user moves into the freed index. The hash is
 * FNV-1a followed by a splitmix64 finaliser, fixed (no per-process seed), so
 * the table layout, and with it every output order, depends only on the input. */
#include "cluster/internal.h"

#include <stdlib.h>
#include <string.h>

uint64_t cl_hash_id(const char *id)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

static int grow_dense(cl_users *u, long cap, size_t pb)
{
#define GROW(field, size)                                                                          \
    do {                                                                                           \
        void *p = realloc(u->field, (size_t)cap * (size));                                         \
        if (!p)                                                                                    \
            return -1;                                                                             \
        u->field = p;                                                                              \
    } while (0)
    GROW(id, sizeof(char *));
    GROW(hash, sizeof(uint64_t));
    GROW(profile, pb);
    GROW(weight, sizeof(float));
    GROW(segment, sizeof(int32_t));
    GROW(segment_id, sizeof(int64_t));
    GROW(similarity, sizeof(float));
    GROW(last_time, sizeof(int64_t));
    GROW(seen_version, sizeof(int64_t));
    GROW(left_segment_id, sizeof(int64_t));
    GROW(shard, sizeof(int32_t));
#undef GROW
    u->cap = cap;
    return 0;
}

static int rehash(cl_users *u, long slots)
{
    int32_t *s = malloc((size_t)slots * sizeof *s);
    if (!s)
        return -1;
    memset(s, 0xff, (size_t)slots * sizeof *s);
    for (long i = 0; i < u->n; i++) {
        size_t m = (size_t)slots - 1, p = u->hash[i] & m;
        while (s[p] >= 0)
            p = (p + 1) & m;
        s[p] = (int32_t)i;
    }
    free(u->slot);
    u->slot = s;
    u->slots = slots;
    return 0;
}

int cl_users_init(cl_users *u, long cap, size_t pb)
{
    memset(u, 0, sizeof *u);
    if (cap < 16)
        cap = 16;
    long slots = 32;
    while (slots < 2 * cap)
        slots *= 2;
    if (grow_dense(u, cap, pb) || rehash(u, slots)) {
        cl_users_free(u);
        return -1;
    }
    return 0;
}

void cl_users_free(cl_users *u)
{
    for (long i = 0; i < u->n; i++)
        free(u->id[i]);
    free(u->slot);
    free(u->id);
    free(u->hash);
    free(u->profile);
    free(u->weight);
    free(u->segment);
    free(u->segment_id);
    free(u->similarity);
    free(u->last_time);
    free(u->seen_version);
    free(u->left_segment_id);
    free(u->shard);
    memset(u, 0, sizeof *u);
}

long cl_users_find(const cl_users *u, const char *id, uint64_t h)
{
    size_t m = (size_t)u->slots - 1, p = h & m;
    for (;;) {
        int32_t i = u->slot[p];
        if (i < 0)
            return -1;
        if (u->hash[i] == h && !strcmp(u->id[i], id))
            return i;
        p = (p + 1) & m;
    }
}

long cl_users_insert(cl_users *u, const char *id, uint64_t h, size_t pb)
{
    if (u->n >= INT32_MAX - 1)
        return -1;
    if (u->n + 1 > u->cap && grow_dense(u, u->cap * 2, pb))
        return -1;
    if (2 * (u->n + 1) > u->slots && rehash(u, u->slots * 2))
        return -1;
    char *copy = strdup(id);
    if (!copy)
        return -1;
    long i = u->n++;
    u->id[i] = copy;
    u->hash[i] = h;
    u->left_segment_id[i] = -1;
    u->shard[i] = 0;
    size_t m = (size_t)u->slots - 1, p = h & m;
    while (u->slot[p] >= 0)
        p = (p + 1) & m;
    u->slot[p] = (int32_t)i;
    return i;
}

static size_t slot_of(const cl_users *u, long i)
{
    size_t m = (size_t)u->slots - 1, p = u->hash[i] & m;
    while (u->slot[p] != i)
        p = (p + 1) & m;
    return p;
}

void cl_users_remove(cl_users *u, long i, size_t pb)
{
    size_t m = (size_t)u->slots - 1, hole = slot_of(u, i);
    /* backward-shift deletion: pull later entries of the cluster into the hole
     * when their home slot does not lie cyclically in (hole, p] */
    u->slot[hole] = -1;
    for (size_t p = (hole + 1) & m; u->slot[p] >= 0; p = (p + 1) & m) {
        size_t home = u->hash[u->slot[p]] & m;
        int stays = hole <= p ? (hole < home && home <= p) : (hole < home || home <= p);
        if (!stays) {
            u->slot[hole] = u->slot[p];
            u->slot[p] = -1;
            hole = p;
        }
    }
    free(u->id[i]);
    long last = --u->n;
    if (i != last) {
        u->slot[slot_of(u, last)] = (int32_t)i;
        u->id[i] = u->id[last];
        u->hash[i] = u->hash[last];
        memcpy(u->profile + (size_t)i * pb, u->profile + (size_t)last * pb, pb);
        u->weight[i] = u->weight[last];
        u->segment[i] = u->segment[last];
        u->segment_id[i] = u->segment_id[last];
        u->similarity[i] = u->similarity[last];
        u->last_time[i] = u->last_time[last];
        u->seen_version[i] = u->seen_version[last];
        u->left_segment_id[i] = u->left_segment_id[last];
        u->shard[i] = u->shard[last];
    }
}

size_t cl_users_memory(const cl_users *u, size_t pb)
{
    size_t per = sizeof(char *) + sizeof(uint64_t) + pb + sizeof(float) + sizeof(int32_t) + sizeof(int64_t) +
                 sizeof(float) + 3 * sizeof(int64_t) + sizeof(int32_t);
    size_t ids = 0;
    for (long i = 0; i < u->n; i++)
        ids += strlen(u->id[i]) + 1;
    return (size_t)u->cap * per + (size_t)u->slots * sizeof(int32_t) + ids;
}
