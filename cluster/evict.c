/* evict.c - the user limit (options.max_users): when a new user would not
 * fit, the least recently active users expire.
 *
 * "Least recently active" is the last event time, ties broken by user id, so
 * the choice depends only on the input, never on table layout. Finding them
 * costs a sort of the whole table, so each round frees max_users/64 places
 * (at least one): the sort is paid once per that many new users, about
 * 64 * log2(n) comparisons per insertion when the table stays full. */
#include "cluster/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct candidate {
    int64_t last_time;
    const char *id;
    long index;
} candidate;

static int by_recency(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->last_time != y->last_time)
        return x->last_time < y->last_time ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int by_index_descending(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

int cl_evict_for_new_user(segstream_cluster *c, const segstream_cluster_sink *sink, int64_t time,
                          segstream_err *err)
{
    cl_users *u = &c->users;
    long limit = c->opt.max_users;
    if (limit <= 0 || u->n < limit)
        return 0;
    long n = u->n, count = limit / 64 > 0 ? limit / 64 : 1;
    if (count > n)
        count = n;
    candidate *all = malloc((size_t)n * sizeof *all);
    long *gone = malloc((size_t)count * sizeof *gone);
    if (!all || !gone) {
        free(all), free(gone);
        return segstream_err_set(err, "cluster: out of memory choosing users to expire");
    }
    for (long i = 0; i < n; i++)
        all[i] = (candidate){u->last_time[i], u->id[i], i};
    qsort(all, (size_t)n, sizeof *all, by_recency);
    for (long q = 0; q < count; q++) {
        long i = all[q].index;
        cl_emit_change(c, sink, i, u->id[i], time, u->segment_id[i], -1, NAN, SEGSTREAM_CLUSTER_CAUSE_EXPIRED);
        if (u->seen_version[i] < c->version)
            c->sweep_due--;
        gone[q] = i;
    }
    free(all);
    qsort(gone, (size_t)count, sizeof *gone, by_index_descending);
    for (long q = 0; q < count; q++)
        cl_users_remove(u, gone[q], c->profile_bytes);
    free(gone);
    if (c->sweep_due < 0)
        c->sweep_due = 0;
    if (c->sweep_cursor >= u->n)
        c->sweep_cursor = 0;
    return 0;
}
