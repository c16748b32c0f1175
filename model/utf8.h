/* utf8.h - UTF-8 decoding that never fails and never reads past the end.
 *
 * Invalid input becomes U+FFFD by the "maximal subpart" rule of the WHATWG
 * Encoding standard, which Rust's String::from_utf8_lossy and Python's
 * bytes.decode(errors='replace') both follow: each maximal prefix of a valid
 * sequence, or each lone invalid byte, is one U+FFFD. Surrogates and code
 * points above U+10FFFF are never produced. */
#ifndef SEGSTREAM_MODEL_UTF8_H
#define SEGSTREAM_MODEL_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define SEGSTREAM_UTF8_REPLACEMENT 0xFFFDu

/* Decodes the code point at s[*pos] (requires *pos < len) and advances *pos
 * past the bytes it used (at least one). */
uint32_t segstream_utf8_decode(const unsigned char *s, size_t len, size_t *pos);

/* Writes cp (a scalar value) as 1..4 bytes to out; returns the byte count. */
int segstream_utf8_encode(uint32_t cp, char out[4]);

#endif
