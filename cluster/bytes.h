/* bytes.h - little-endian writing and checked reading for the cluster's
 * binary formats (snapshot.c, delta.c). */
#ifndef SEGSTREAM_CLUSTER_BYTES_H
#define SEGSTREAM_CLUSTER_BYTES_H

#include <stddef.h>
#include <stdint.h>

typedef struct cl_writer {
    uint8_t *p;
    size_t n, cap;
    int failed;
} cl_writer;

/* Room for n more bytes at the end (w->n advanced), or NULL once failed. */
uint8_t *cl_reserve(cl_writer *w, size_t n);
void cl_put(cl_writer *w, const void *src, size_t n);
void cl_put_u64(cl_writer *w, uint64_t v);
void cl_put_i64(cl_writer *w, int64_t v);
void cl_put_u32(cl_writer *w, uint32_t v);
void cl_put_f64(cl_writer *w, double v);
/* Floats as their IEEE bits. */
void cl_put_floats(cl_writer *w, const float *v, size_t n);
/* u32 length, then the bytes. */
void cl_put_str(cl_writer *w, const char *s);

typedef struct cl_reader {
    const uint8_t *p;
    size_t n, pos;
    int failed;
} cl_reader;

/* n bytes, or NULL (r->failed set) past the end. Reads after a failure give zeros. */
const uint8_t *cl_take(cl_reader *r, size_t n);
uint64_t cl_get_u64(cl_reader *r);
int64_t cl_get_i64(cl_reader *r);
uint32_t cl_get_u32(cl_reader *r);
double cl_get_f64(cl_reader *r);
void cl_get_floats(cl_reader *r, float *v, size_t n);
/* A string into a new buffer; NULL on failure (r->failed set when corrupt). */
char *cl_get_str(cl_reader *r, size_t max);

#endif
