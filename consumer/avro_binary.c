/* avro_binary.c - Avro binary primitives with bounds checks (see avro_binary.h).
 * Little-endian floats are assembled byte by byte, so the code does not depend
 * on the host's byte order. */
#include "consumer/avro_binary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void segstream_buf_free(segstream_buf *buf)
{
    if (!buf)
        return;
    free(buf->data);
    memset(buf, 0, sizeof *buf);
}

void segstream_buf_reset(segstream_buf *buf)
{
    buf->len = 0;
    buf->oom = false;
}

void segstream_buf_put(segstream_buf *buf, const void *data, size_t len)
{
    if (buf->oom || len == 0)
        return;
    if (len > SIZE_MAX / 2 - buf->len) {
        buf->oom = true;
        return;
    }
    if (buf->len + len > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 128;
        while (cap < buf->len + len)
            cap *= 2;
        uint8_t *d = realloc(buf->data, cap);
        if (!d) {
            buf->oom = true;
            return;
        }
        buf->data = d;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
}

void segstream_avro_put_long(segstream_buf *buf, int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); /* zig-zag */
    uint8_t bytes[10];
    size_t n = 0;
    while (z & ~(uint64_t)0x7f) {
        bytes[n++] = (uint8_t)((z & 0x7f) | 0x80);
        z >>= 7;
    }
    bytes[n++] = (uint8_t)z;
    segstream_buf_put(buf, bytes, n);
}

void segstream_avro_put_float(segstream_buf *buf, float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    segstream_buf_put(buf, b, sizeof b);
}

void segstream_avro_put_double(segstream_buf *buf, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(u >> (8 * i));
    segstream_buf_put(buf, b, sizeof b);
}

void segstream_avro_put_string(segstream_buf *buf, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    segstream_avro_put_long(buf, (int64_t)n);
    segstream_buf_put(buf, s, n);
}

static int fail(segstream_avro_reader *r, size_t at, const char *field, const char *what)
{
    return segstream_err_set(r->err, "field %s at byte %zu: %s", field, r->base + at, what);
}

int segstream_avro_get_long(segstream_avro_reader *r, const char *field, int64_t *out)
{
    size_t start = r->pos;
    uint64_t z = 0;
    for (int i = 0;; i++) {
        if (r->pos >= r->len)
            return fail(r, start, field, "truncated varint");
        uint8_t b = r->data[r->pos++];
        /* The 10th byte holds bit 63 only; anything more overflows 64 bits. */
        if (i == 9 && b > 1)
            return fail(r, start, field, "varint longer than 64 bits");
        z |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            break;
    }
    *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    return 0;
}

int segstream_avro_get_int(segstream_avro_reader *r, const char *field, int32_t *out)
{
    size_t start = r->pos;
    int64_t v = 0; /* set on success; GCC -O3 cannot see that fail() returns -1 */
    if (segstream_avro_get_long(r, field, &v) < 0)
        return -1;
    if (v < INT32_MIN || v > INT32_MAX)
        return fail(r, start, field, "int out of 32-bit range");
    *out = (int32_t)v;
    return 0;
}

int segstream_avro_get_float(segstream_avro_reader *r, const char *field, float *out)
{
    if (r->len - r->pos < 4)
        return fail(r, r->pos, field, "truncated float");
    const uint8_t *b = r->data + r->pos;
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    memcpy(out, &u, sizeof u);
    r->pos += 4;
    return 0;
}

int segstream_avro_get_double(segstream_avro_reader *r, const char *field, double *out)
{
    if (r->len - r->pos < 8)
        return fail(r, r->pos, field, "truncated double");
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u |= (uint64_t)r->data[r->pos + i] << (8 * i);
    memcpy(out, &u, sizeof u);
    r->pos += 8;
    return 0;
}

int segstream_avro_get_string(segstream_avro_reader *r, const char *field, char **out)
{
    size_t start = r->pos;
    int64_t n;
    if (segstream_avro_get_long(r, field, &n) < 0)
        return -1;
    if (n < 0)
        return fail(r, start, field, "negative string length");
    if ((uint64_t)n > r->len - r->pos)
        return fail(r, start, field, "string length beyond the end of the message");
    const uint8_t *bytes = r->data + r->pos;
    if (memchr(bytes, 0, (size_t)n))
        return fail(r, start, field, "string contains a NUL byte");
    char *s = malloc((size_t)n + 1);
    if (!s)
        return fail(r, start, field, "out of memory");
    memcpy(s, bytes, (size_t)n);
    s[n] = '\0';
    r->pos += (size_t)n;
    *out = s;
    return 0;
}

int segstream_avro_get_index(segstream_avro_reader *r, const char *field, const char *what,
                             int count, int *out)
{
    size_t start = r->pos;
    int64_t v;
    if (segstream_avro_get_long(r, field, &v) < 0)
        return -1;
    if (v < 0 || v >= count) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s index %lld outside [0, %d)", what, (long long)v, count);
        return fail(r, start, field, msg);
    }
    *out = (int)v;
    return 0;
}

int segstream_avro_get_block_count(segstream_avro_reader *r, const char *field,
                                   size_t min_item_bytes, size_t *count)
{
    size_t start = r->pos;
    int64_t n;
    if (segstream_avro_get_long(r, field, &n) < 0)
        return -1;
    if (n == INT64_MIN)
        return fail(r, start, field, "array block count out of range");
    if (n < 0) {
        n = -n;
        int64_t bytes;
        size_t size_at = r->pos;
        if (segstream_avro_get_long(r, field, &bytes) < 0)
            return -1;
        if (bytes < 0 || (uint64_t)bytes > r->len - r->pos)
            return fail(r, size_at, field, "array block size beyond the end of the message");
    }
    if ((uint64_t)n > (r->len - r->pos) / (min_item_bytes ? min_item_bytes : 1))
        return fail(r, start, field, "array block count larger than the bytes left could hold");
    *count = (size_t)n;
    return 0;
}
