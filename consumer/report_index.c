/* report_index.c - string interning and a u64 map, open addressing; see
 * report_index.h. FNV-1a for strings, a splitmix64 finaliser for numbers. */
#include "consumer/report_index.h"

#include <stdlib.h>
#include <string.h>

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return mix64(h);
}

uint64_t segstream_report_key2(uint64_t a, uint64_t b)
{
    return mix64(mix64(a) ^ (b + 0x9e3779b97f4a7c15ULL));
}

static int names_grow(segstream_report_names *t)
{
    size_t n = t->nslots ? t->nslots * 2 : 64;
    uint32_t *slots = calloc(n, sizeof *slots);
    char **names = realloc(t->names, (n / 2) * sizeof *names);
    if (!slots || !names) {
        free(slots);
        if (names)
            t->names = names;
        return -1;
    }
    t->names = names;
    for (size_t i = 0; i < t->count; i++) {
        size_t j = hash_bytes(names[i], strlen(names[i])) & (n - 1);
        while (slots[j])
            j = (j + 1) & (n - 1);
        slots[j] = (uint32_t)i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
    return 0;
}

int64_t segstream_report_names_get(segstream_report_names *t, const char *name, size_t len, int add)
{
    if (t->nslots) {
        size_t j = hash_bytes(name, len) & (t->nslots - 1);
        for (; t->slots[j]; j = (j + 1) & (t->nslots - 1)) {
            const char *s = t->names[t->slots[j] - 1];
            if (!strncmp(s, name, len) && s[len] == '\0')
                return t->slots[j] - 1;
        }
    }
    if (!add)
        return -1;
    if ((t->count + 1) * 2 > t->nslots && names_grow(t) < 0)
        return -2;
    char *copy = malloc(len + 1);
    if (!copy)
        return -2;
    memcpy(copy, name, len);
    copy[len] = '\0';
    size_t j = hash_bytes(name, len) & (t->nslots - 1);
    while (t->slots[j])
        j = (j + 1) & (t->nslots - 1);
    t->names[t->count] = copy;
    t->slots[j] = (uint32_t)++t->count;
    return (int64_t)t->count - 1;
}

void segstream_report_names_free(segstream_report_names *t)
{
    for (size_t i = 0; i < t->count; i++)
        free(t->names[i]);
    free(t->names);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static int map_grow(segstream_report_map *m)
{
    size_t n = m->nslots ? m->nslots * 2 : 64;
    uint64_t *keys = calloc(n, sizeof *keys);
    int64_t *values = calloc(n, sizeof *values);
    uint8_t *used = calloc(n, 1);
    if (!keys || !values || !used) {
        free(keys), free(values), free(used);
        return -1;
    }
    for (size_t i = 0; i < m->nslots; i++) {
        if (!m->used[i])
            continue;
        size_t j = mix64(m->keys[i]) & (n - 1);
        while (used[j])
            j = (j + 1) & (n - 1);
        used[j] = 1, keys[j] = m->keys[i], values[j] = m->values[i];
    }
    free(m->keys), free(m->values), free(m->used);
    m->keys = keys, m->values = values, m->used = used, m->nslots = n;
    return 0;
}

int64_t *segstream_report_map_get(segstream_report_map *m, uint64_t key, int64_t initial, int add)
{
    if (m->nslots) {
        size_t j = mix64(key) & (m->nslots - 1);
        for (; m->used[j]; j = (j + 1) & (m->nslots - 1))
            if (m->keys[j] == key)
                return &m->values[j];
    }
    if (!add || ((m->count + 1) * 2 > m->nslots && map_grow(m) < 0))
        return NULL;
    size_t j = mix64(key) & (m->nslots - 1);
    while (m->used[j])
        j = (j + 1) & (m->nslots - 1);
    m->used[j] = 1, m->keys[j] = key, m->values[j] = initial;
    m->count++;
    return &m->values[j];
}

void segstream_report_map_free(segstream_report_map *m)
{
    free(m->keys), free(m->values), free(m->used);
    memset(m, 0, sizeof *m);
}
