/* crc64avro.c - CRC-64-AVRO as given in the Avro specification: a reflected
 * CRC with the polynomial's empty value 0xc15d213aa4d7a795. Besides schema
 * fingerprints it checks every pipeline snapshot (megabytes per
 * transaction), so it goes 8 bytes a step ("slicing-by-8": 8 tables, each
 * the previous one shifted by a byte; same value as the byte-wise table
 * loop, about 4x faster). The tables (16 KiB) are rebuilt per call: that
 * costs microseconds and needs no once-initialisation. */
#include "consumer/crc64avro.h"

#define CRC64_AVRO_EMPTY 0xc15d213aa4d7a795ULL

uint64_t segstream_crc64_avro(const void *data, size_t len)
{
    uint64_t t[8][256];
    for (uint64_t i = 0; i < 256; i++) {
        uint64_t fp = i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & (0 - (fp & 1)));
        t[0][i] = fp;
    }
    for (int k = 1; k < 8; k++)
        for (int i = 0; i < 256; i++)
            t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
    const unsigned char *p = data;
    uint64_t fp = CRC64_AVRO_EMPTY;
    for (; len >= 8; len -= 8, p += 8) {
        uint64_t w = 0;
        for (int i = 0; i < 8; i++) /* little-endian load, byte order independent of the host */
            w |= (uint64_t)p[i] << (8 * i);
        fp ^= w;
        fp = t[7][fp & 0xff] ^ t[6][(fp >> 8) & 0xff] ^ t[5][(fp >> 16) & 0xff] ^ t[4][(fp >> 24) & 0xff] ^
             t[3][(fp >> 32) & 0xff] ^ t[2][(fp >> 40) & 0xff] ^ t[1][(fp >> 48) & 0xff] ^ t[0][fp >> 56];
    }
    for (; len; len--, p++)
        fp = (fp >> 8) ^ t[0][(fp ^ *p) & 0xff];
    return fp;
}
