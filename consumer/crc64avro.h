/* crc64avro.h - the CRC-64-AVRO fingerprint (Rabin, the Avro spec's
 * "fingerprint64") used by single-object encoding. */
#ifndef SEGSTREAM_CONSUMER_CRC64AVRO_H
#define SEGSTREAM_CONSUMER_CRC64AVRO_H

#include <stddef.h>
#include <stdint.h>

/* Fingerprint of len bytes (normally a schema's Parsing Canonical Form).
 * Pure function, thread-safe. On the wire it is written little-endian. */
uint64_t segstream_crc64_avro(const void *data, size_t len);

#endif
