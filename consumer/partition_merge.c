/* partition_merge.c - k-way merge of partition streams by event time (see
 * partition_merge.h). An instance holds few partitions, so the candidate is
 * found by a linear scan instead of a heap: simpler, and a batch of 1000
 * events over a dozen partitions costs microseconds. Each partition's buffer
 * is a growable ring of (time, item). */
#include "consumer/partition_merge.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
    int64_t time;
    void *item;
} entry;

typedef struct part {
    char *topic;
    int32_t partition;
    entry *ring;
    size_t cap, head, len;
    int64_t last_time;
    bool caught_up, finished;
    int64_t caught_up_since;
} part;

struct segstream_merge {
    part *parts;
    size_t n, cap;
    size_t buffered;
};

segstream_merge *segstream_merge_new(void)
{
    return calloc(1, sizeof(segstream_merge));
}

static void drain(part *p, void (*free_item)(void *item))
{
    for (size_t i = 0; i < p->len; i++) {
        void *item = p->ring[(p->head + i) % p->cap].item;
        if (free_item)
            free_item(item);
    }
    p->head = p->len = 0;
}

void segstream_merge_clear(segstream_merge *m, void (*free_item)(void *item))
{
    for (size_t i = 0; i < m->n; i++) {
        drain(&m->parts[i], free_item);
        free(m->parts[i].ring);
        free(m->parts[i].topic);
    }
    m->n = 0;
    m->buffered = 0;
}

void segstream_merge_free(segstream_merge *m, void (*free_item)(void *item))
{
    if (!m)
        return;
    segstream_merge_clear(m, free_item);
    free(m->parts);
    free(m);
}

static part *find(const segstream_merge *m, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->parts[i].partition == partition && !strcmp(m->parts[i].topic, topic))
            return &m->parts[i];
    return NULL;
}

static part *find_or_add(segstream_merge *m, const char *topic, int32_t partition)
{
    part *p = find(m, topic, partition);
    if (p)
        return p;
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 8;
        part *grown = realloc(m->parts, cap * sizeof *grown);
        if (!grown)
            return NULL;
        m->parts = grown, m->cap = cap;
    }
    char *name = strdup(topic);
    if (!name)
        return NULL;
    p = &m->parts[m->n++];
    *p = (part){.topic = name, .partition = partition, .last_time = INT64_MIN};
    return p;
}

int segstream_merge_add_partition(segstream_merge *m, const char *topic, int32_t partition)
{
    return find_or_add(m, topic, partition) ? 0 : -1;
}

static int grow(part *p)
{
    size_t cap = p->cap ? 2 * p->cap : 64;
    entry *ring = malloc(cap * sizeof *ring);
    if (!ring)
        return -1;
    for (size_t i = 0; i < p->len; i++)
        ring[i] = p->ring[(p->head + i) % p->cap];
    free(p->ring);
    p->ring = ring, p->cap = cap, p->head = 0;
    return 0;
}

int segstream_merge_push(segstream_merge *m, const char *topic, int32_t partition, int64_t event_time, void *item)
{
    part *p = find_or_add(m, topic, partition);
    if (!p || (p->len == p->cap && grow(p)))
        return -1;
    if (event_time == SEGSTREAM_MERGE_INHERIT_TIME)
        event_time = p->last_time;
    p->last_time = event_time;
    p->ring[(p->head + p->len) % p->cap] = (entry){event_time, item};
    p->len++;
    p->caught_up = false;
    m->buffered++;
    return 0;
}

void segstream_merge_caught_up(segstream_merge *m, const char *topic, int32_t partition, int64_t now_ms)
{
    part *p = find(m, topic, partition);
    if (p && !p->caught_up) {
        p->caught_up = true;
        p->caught_up_since = now_ms;
    }
}

void segstream_merge_finished(segstream_merge *m, const char *topic, int32_t partition)
{
    part *p = find(m, topic, partition);
    if (p)
        p->finished = true;
}

/* Does p come before q in merge order (both non-empty)? */
static bool before(const part *p, const part *q)
{
    int64_t tp = p->ring[p->head].time, tq = q->ring[q->head].time;
    if (tp != tq)
        return tp < tq;
    int c = strcmp(p->topic, q->topic);
    if (c)
        return c < 0;
    return p->partition < q->partition;
}

void *segstream_merge_pop(segstream_merge *m, int64_t now_ms, int64_t idle_ms)
{
    part *best = NULL;
    for (size_t i = 0; i < m->n; i++) {
        part *p = &m->parts[i];
        if (p->len) {
            if (!best || before(p, best))
                best = p;
        } else if (!p->finished && !(p->caught_up && now_ms - p->caught_up_since >= idle_ms)) {
            return NULL; /* its next event may come earlier than anything buffered */
        }
    }
    if (!best)
        return NULL;
    void *item = best->ring[best->head].item;
    best->head = (best->head + 1) % best->cap;
    best->len--;
    m->buffered--;
    return item;
}

size_t segstream_merge_buffered(const segstream_merge *m)
{
    return m->buffered;
}

size_t segstream_merge_partition_buffered(const segstream_merge *m, const char *topic, int32_t partition)
{
    const part *p = find(m, topic, partition);
    return p ? p->len : 0;
}

bool segstream_merge_all_finished(const segstream_merge *m)
{
    for (size_t i = 0; i < m->n; i++)
        if (!m->parts[i].finished || m->parts[i].len)
            return false;
    return true;
}
