/* crc64avro.c - CRC-64-AVRO as given in the Avro specification: a table-driven
 * reflected CRC with the polynomial's empty value 0xc15d213aa4d7a795. The
 * table is rebuilt per call: fingerprints are computed once per schema at
 * start-up, and a per-call table needs no once-initialisation. */
#include "consumer/crc64avro.h"

#define CRC64_AVRO_EMPTY 0xc15d213aa4d7a795ULL

uint64_t segstream_crc64_avro(const void *data, size_t len)
{
    uint64_t table[256];
    for (uint64_t i = 0; i < 256; i++) {
        uint64_t fp = i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & (0 - (fp & 1)));
        table[i] = fp;
    }
    const unsigned char *p = data;
    uint64_t fp = CRC64_AVRO_EMPTY;
    for (size_t i = 0; i < len; i++)
        fp = (fp >> 8) ^ table[(fp ^ p[i]) & 0xff];
    return fp;
}
