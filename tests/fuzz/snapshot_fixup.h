/* snapshot_fixup.h - makes a mutated snapshot's checksums right again, so the
 * fuzzer explores the parsers behind them instead of stopping at the check
 * (a random mutation passes a 64-bit checksum once in 2^64 tries).
 *
 * Cluster blob (cluster/snapshot.c): "SEGSTRCL", u32 version, u64 payload
 * length, u64 checksum of the payload (XXH64 from version 5, FNV-1a-64
 * before), payload; the length is set to the bytes present and the checksum
 * recomputed. Pipeline blob (consumer/pipeline_snapshot.c): "SGPL", varint
 * version, varint cluster length, cluster blob, ..., checksum of everything
 * before it (XXH64 from version 3, CRC-64-AVRO before); the inner cluster
 * blob is fixed up first when its length fits. Header-only. */
#ifndef SEGSTREAM_FUZZ_SNAPSHOT_FIXUP_H
#define SEGSTREAM_FUZZ_SNAPSHOT_FIXUP_H

#include "common/hash64.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FUZZ_CLUSTER_HEADER 28

static inline void fuzz_put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void fuzz_fix_cluster_blob(uint8_t *b, size_t len)
{
    if (len < FUZZ_CLUSTER_HEADER || memcmp(b, "SEGSTRCL", 8))
        return;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a-64 before format 5, as snapshot.c */
    if (b[8] >= 5)
        h = segstream_xxh64(b + FUZZ_CLUSTER_HEADER, len - FUZZ_CLUSTER_HEADER, 0);
    else
        for (size_t i = FUZZ_CLUSTER_HEADER; i < len; i++)
            h = (h ^ b[i]) * 0x100000001b3ull;
    fuzz_put_le(b + 12, len - FUZZ_CLUSTER_HEADER, 8);
    fuzz_put_le(b + 20, h, 8);
}

/* Reads one zig-zag varint at *pos; 0, or -1 when it does not fit. */
static inline int fuzz_get_varint(const uint8_t *b, size_t len, size_t *pos, int64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *pos < len; shift += 7) {
        uint8_t c = b[(*pos)++];
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return 0;
        }
    }
    return -1;
}

/* crc64 is the CRC-64-AVRO function of consumer/crc64avro.h, passed in so
 * that this header needs nothing from consumer/. */
static inline void fuzz_fix_pipeline_blob(uint8_t *b, size_t len, uint64_t (*crc64)(const void *, size_t))
{
    if (len < 12 || memcmp(b, "SGPL", 4))
        return;
    size_t pos = 4;
    int64_t version = 0, cl;
    if (!fuzz_get_varint(b, len - 8, &pos, &version) && !fuzz_get_varint(b, len - 8, &pos, &cl) && cl >= 0 &&
        (uint64_t)cl <= len - 8 - pos)
        fuzz_fix_cluster_blob(b + pos, (size_t)cl);
    fuzz_put_le(b + len - 8, version >= 3 ? segstream_xxh64(b, len - 8, 0) : crc64(b, len - 8), 8);
}

#endif
