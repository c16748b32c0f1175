/* utf8.c - lossy UTF-8 decoding by maximal subparts (see utf8.h).
 * The second byte's valid range depends on the lead byte (that is what rules
 * out overlongs, surrogates and > U+10FFFF); every later byte is 80..BF. */
#include "model/utf8.h"

uint32_t segstream_utf8_decode(const unsigned char *s, size_t len, size_t *pos)
{
    size_t i = *pos;
    unsigned b0 = s[i];
    if (b0 < 0x80) {
        *pos = i + 1;
        return b0;
    }
    int need;          /* continuation bytes after the lead */
    unsigned lo = 0x80, hi = 0xBF; /* valid range of the second byte */
    uint32_t cp;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
        cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        cp = b0 & 0x0F;
        if (b0 == 0xE0)
            lo = 0xA0;
        else if (b0 == 0xED)
            hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        cp = b0 & 0x07;
        if (b0 == 0xF0)
            lo = 0x90;
        else if (b0 == 0xF4)
            hi = 0x8F;
    } else {
        *pos = i + 1;
        return SEGSTREAM_UTF8_REPLACEMENT;
    }
    i++;
    for (int k = 0; k < need; k++, i++) {
        if (i >= len || s[i] < lo || s[i] > hi) {
            *pos = i; /* the offending byte starts the next decode */
            return SEGSTREAM_UTF8_REPLACEMENT;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
        lo = 0x80;
        hi = 0xBF;
    }
    *pos = i;
    return cp;
}

int segstream_utf8_encode(uint32_t cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
