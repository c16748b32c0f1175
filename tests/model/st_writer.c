/* st_writer.c - a minimal safetensors writer for tests. */
#include "st_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int st_write_raw(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(bytes, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int st_write(const char *path, const st_tensor *t, size_t n)
{
    size_t cap = 256 + n * 256, len = 0, offset = 0;
    char *h = malloc(cap);
    if (!h)
        return -1;
    len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < n; i++) {
        len += (size_t)snprintf(h + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[i].name,
                                t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++)
            len += (size_t)snprintf(h + len, cap - len, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", offset,
                                offset + t[i].nbytes);
        offset += t[i].nbytes;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8) /* the format pads the header with spaces to 8 bytes */
        h[len++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(h);
        return -1;
    }
    unsigned char size[8];
    for (int i = 0; i < 8; i++)
        size[i] = (unsigned char)((uint64_t)len >> (8 * i));
    int ok = fwrite(size, 1, 8, f) == 8 && fwrite(h, 1, len, f) == len;
    for (size_t i = 0; ok && i < n; i++)
        ok = fwrite(t[i].data, 1, t[i].nbytes, f) == t[i].nbytes;
    free(h);
    return fclose(f) == 0 && ok ? 0 : -1;
}

uint16_t st_f32_to_bf16(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    b += 0x7fff + ((b >> 16) & 1);
    return (uint16_t)(b >> 16);
}

uint16_t st_f32_to_f16(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    uint32_t sign = (b >> 16) & 0x8000;
    int32_t exp = (int32_t)((b >> 23) & 0xff) - 127 + 15;
    uint32_t mant = b & 0x7fffff;
    if (exp <= 0) { /* subnormal or zero */
        if (exp < -10)
            return (uint16_t)sign;
        mant |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = mant >> shift, rest = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    if (exp >= 31)
        return (uint16_t)(sign | 0x7c00);
    uint32_t half = sign | (uint32_t)exp << 10 | mant >> 13, rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
        half++;
    return (uint16_t)half;
}
