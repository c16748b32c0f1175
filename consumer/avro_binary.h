/* avro_binary.h - Avro binary encoding primitives: a growable output buffer
 * and a bounded reader.
 *
 * The reader trusts nothing: every varint is at most 10 bytes and must fit
 * 64 bits, every length and block count is checked against the bytes that
 * remain before anything is allocated, and every failure names the field and
 * the byte offset (counted from the start of the whole message, framing
 * included). This is why the codec decodes by hand instead of handing
 * untrusted bytes to avro-c 1.11, which checks none of this. */
#ifndef SEGSTREAM_CONSUMER_AVRO_BINARY_H
#define SEGSTREAM_CONSUMER_AVRO_BINARY_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer. Zero-initialise; free with segstream_buf_free().
 * `len` bytes of `data` are valid; on out of memory `oom` is set and further
 * writes are dropped (checked once at the end). */
typedef struct segstream_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool oom;
} segstream_buf;

void segstream_buf_free(segstream_buf *buf);
void segstream_buf_reset(segstream_buf *buf); /* len = 0, oom = false; keeps the memory */
void segstream_buf_put(segstream_buf *buf, const void *data, size_t len);
void segstream_avro_put_long(segstream_buf *buf, int64_t v); /* zig-zag varint; int too */
void segstream_avro_put_float(segstream_buf *buf, float v);  /* 4 bytes little-endian */
void segstream_avro_put_double(segstream_buf *buf, double v);
void segstream_avro_put_string(segstream_buf *buf, const char *s); /* length + bytes */

/* A cursor over untrusted bytes. */
typedef struct segstream_avro_reader {
    const uint8_t *data;
    size_t len;
    size_t pos;
    size_t base; /* offset of data[0] in the whole message, for error messages */
    segstream_err *err;
} segstream_avro_reader;

/* Each returns 0, or -1 with err set to "field F at byte N: ...". */
int segstream_avro_get_long(segstream_avro_reader *r, const char *field, int64_t *out);
int segstream_avro_get_int(segstream_avro_reader *r, const char *field, int32_t *out);
int segstream_avro_get_float(segstream_avro_reader *r, const char *field, float *out);
int segstream_avro_get_double(segstream_avro_reader *r, const char *field, double *out);
/* A string as a new NUL-terminated copy (caller frees). Bytes are kept as they
 * are (no UTF-8 check), but an embedded NUL is rejected: it would silently
 * truncate the value for every C consumer. */
int segstream_avro_get_string(segstream_avro_reader *r, const char *field, char **out);
/* An enum symbol or union branch index in [0, count). */
int segstream_avro_get_index(segstream_avro_reader *r, const char *field, const char *what,
                             int count, int *out);
/* The item count of the next array block (0 ends the array). A negative count
 * is followed by the block's size in bytes, which is checked and skipped over.
 * `min_item_bytes` (>= 1) bounds the count by the bytes left, so a forged count
 * cannot make the caller allocate more than the message could hold. */
int segstream_avro_get_block_count(segstream_avro_reader *r, const char *field,
                                   size_t min_item_bytes, size_t *count);

#endif
