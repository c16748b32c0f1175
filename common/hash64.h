/* hash64.h - XXH64, the 64-bit non-cryptographic hash of xxHash (Yann
 * Collet's specification, https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md).
 *
 * Why not FNV-1a: FNV takes one byte per multiply, ~4 cycles a byte in one
 * dependency chain, so checksumming a 4 MB snapshot cost ~5 ms per
 * transaction; XXH64 takes 32 bytes per step in four independent lanes
 * (~0.1 cycle a byte). The value is part of stored formats (snapshot
 * headers, state-topic manifests): the result must never change. */
#ifndef SEGSTREAM_HASH64_H
#define SEGSTREAM_HASH64_H

#include <stddef.h>
#include <stdint.h>

uint64_t segstream_xxh64(const void *data, size_t len, uint64_t seed);

#endif
