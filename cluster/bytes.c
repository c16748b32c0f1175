/* bytes.c - little-endian writing and checked reading of the cluster's
 * binary formats (snapshots, shared-model deltas): a growing buffer whose
 * failure sticks, and a reader that refuses to read past its end. */
#include "cluster/bytes.h"

#include <stdlib.h>
#include <string.h>

/* Room for n more bytes at the end (w->n advanced), or NULL once failed. */
uint8_t *cl_reserve(cl_writer *w, size_t n)
{
    if (w->failed)
        return NULL;
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->n + n)
            cap *= 2;
        uint8_t *p = realloc(w->p, cap);
        if (!p) {
            w->failed = 1;
            return NULL;
        }
        w->p = p;
        w->cap = cap;
    }
    w->n += n;
    return w->p + w->n - n;
}

void cl_put(cl_writer *w, const void *src, size_t n)
{
    uint8_t *dst = cl_reserve(w, n);
    if (dst && n)
        memcpy(dst, src, n);
}

void cl_put_u64(cl_writer *w, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    cl_put(w, b, 8);
}
void cl_put_i64(cl_writer *w, int64_t v) { cl_put_u64(w, (uint64_t)v); }
void cl_put_u32(cl_writer *w, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    cl_put(w, b, 4);
}
void cl_put_f64(cl_writer *w, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    cl_put_u64(w, u);
}
/* Floats as their IEEE bits, little-endian: on a little-endian host those
 * are the array's own bytes, copied at once (reservoirs and centroids are
 * megabytes, written every transaction). */
void cl_put_floats(cl_writer *w, const float *v, size_t n)
{
    uint8_t *dst = cl_reserve(w, n * 4);
    if (!dst || !n)
        return;
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(dst, v, n * 4);
#else
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        for (int j = 0; j < 4; j++)
            dst[4 * i + j] = (uint8_t)(u >> (8 * j));
    }
#endif
}
void cl_put_str(cl_writer *w, const char *s)
{
    size_t n = strlen(s);
    cl_put_u32(w, (uint32_t)n);
    cl_put(w, s, n);
}

const uint8_t *cl_take(cl_reader *r, size_t n)
{
    if (r->failed || n > r->n - r->pos) {
        r->failed = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}
uint64_t cl_get_u64(cl_reader *r)
{
    const uint8_t *b = cl_take(r, 8);
    uint64_t v = 0;
    for (int i = 0; b && i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}
int64_t cl_get_i64(cl_reader *r) { return (int64_t)cl_get_u64(r); }
uint32_t cl_get_u32(cl_reader *r)
{
    const uint8_t *b = cl_take(r, 4);
    uint32_t v = 0;
    for (int i = 0; b && i < 4; i++)
        v |= (uint32_t)b[i] << (8 * i);
    return v;
}
double cl_get_f64(cl_reader *r)
{
    uint64_t u = cl_get_u64(r);
    double v;
    memcpy(&v, &u, 8);
    return v;
}
void cl_get_floats(cl_reader *r, float *v, size_t n)
{
    if (n > (r->n - r->pos) / 4) {
        r->failed = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t u = cl_get_u32(r);
        memcpy(&v[i], &u, 4);
    }
}
/* A string into a new buffer; NULL on failure (r->failed set when corrupt). */
char *cl_get_str(cl_reader *r, size_t max)
{
    uint32_t n = cl_get_u32(r);
    if (r->failed || n > max) {
        r->failed = 1;
        return NULL;
    }
    const uint8_t *b = cl_take(r, n);
    char *s = b ? malloc((size_t)n + 1) : NULL;
    if (!s) {
        r->failed = 1;
        return NULL;
    }
    memcpy(s, b, n);
    s[n] = '\0';
    if (strlen(s) != n) { /* embedded NUL */
        free(s);
        r->failed = 1;
        return NULL;
    }
    return s;
}

