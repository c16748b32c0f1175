/* profile_codec.c - compact user profiles: fp16 (2 bytes a dimension) or int8
 * with one float scale (1 byte a dimension + 4). Decoding fp16 goes through a
 * 65536-entry table built once (no F16C needed, same bits on every x86-64);
 * encoding rounds to nearest even. int8 stores q = round(x * 127 / max|x|). */
#include "cluster/internal.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

static float fp16_table[65536];
static pthread_once_t fp16_once = PTHREAD_ONCE_INIT;

static float fp16_decode_slow(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void build_table(void)
{
    for (uint32_t h = 0; h < 65536; h++)
        fp16_table[h] = fp16_decode_slow((uint16_t)h);
}

void cl_codec_init(void) { pthread_once(&fp16_once, build_table); }

float cl_fp16_to_float(uint16_t h) { return fp16_table[h]; }

uint16_t cl_fp16_from_float(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t mant = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) /* inf / nan */
        return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 : 0));
    if (exp >= 0x1f)
        return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10)
            return (uint16_t)sign;
        mant |= 0x800000;
        int shift = 14 - exp;
        uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)exp << 10) | (mant >> 13), rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++; /* may carry into the exponent: that is the correct rounding */
    return (uint16_t)(sign | half);
}

size_t cl_profile_bytes(segstream_profile_codec codec, int d)
{
    return codec == SEGSTREAM_PROFILE_INT8 ? sizeof(float) + (size_t)d : 2 * (size_t)d;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
/* F16C converts with round-to-nearest-even, exactly as cl_fp16_from_float:
 * the same bits, eight at a time. */
__attribute__((target("avx,f16c"))) static void encode_f16c(const float *x, int d, uint8_t *out)
{
    int i = 0;
    for (; i + 8 <= d; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128((__m128i *)(void *)(out + 2 * i), h);
    }
    for (; i < d; i++) {
        uint16_t h = cl_fp16_from_float(x[i]);
        memcpy(out + 2 * i, &h, 2);
    }
}
static int have_f16c(void)
{
    static int cached = -1;
    if (cached < 0)
    {
        /* clang 14 does not know __builtin_cpu_supports("f16c"): read CPUID leaf 1
         * ECX bit 29 ourselves; "avx" also covers the OS saving the YMM state. */
        unsigned eax, ebx, ecx, edx;
        int f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
        cached = f16c && __builtin_cpu_supports("avx");
    }
    return cached;
}
/* fp16 -> fp32 is exact, so F16C gives the table's bits (NaNs aside, which a
 * profile never holds: it is a finite unit vector). */
__attribute__((target("avx,f16c"))) static void decode_f16c(const uint8_t *in, int d, float *x)
{
    int i = 0;
    for (; i + 8 <= d; i += 8)
        _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(in + 2 * i))));
    for (; i < d; i++) {
        uint16_t h;
        memcpy(&h, in + 2 * i, 2);
        x[i] = fp16_table[h];
    }
}
#else
static void encode_f16c(const float *x, int d, uint8_t *out) { (void)x, (void)d, (void)out; }
static void decode_f16c(const uint8_t *in, int d, float *x) { (void)in, (void)d, (void)x; }
static int have_f16c(void) { return 0; }
#endif

void cl_profile_encode(segstream_profile_codec codec, const float *x, int d, uint8_t *out)
{
    if (codec == SEGSTREAM_PROFILE_FP16 && have_f16c()) {
        encode_f16c(x, d, out);
        return;
    }
    if (codec == SEGSTREAM_PROFILE_FP16) {
        for (int i = 0; i < d; i++) {
            uint16_t h = cl_fp16_from_float(x[i]);
            memcpy(out + 2 * i, &h, 2);
        }
        return;
    }
    float m = 0;
    for (int i = 0; i < d; i++)
        m = fmaxf(m, fabsf(x[i]));
    float scale = m > 0 ? m / 127.0f : 1.0f, inv = 1.0f / scale;
    memcpy(out, &scale, sizeof scale);
    int8_t *q = (int8_t *)(out + sizeof scale);
    for (int i = 0; i < d; i++) { /* round half away from zero, clamped: |x| * inv <= 127 (+ rounding) */
        float v = x[i] * inv;
        int r = (int)(v + (v >= 0 ? 0.5f : -0.5f));
        q[i] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
    }
}

void cl_profile_decode(segstream_profile_codec codec, const uint8_t *in, int d, float *x)
{
    if (codec == SEGSTREAM_PROFILE_FP16 && have_f16c()) {
        decode_f16c(in, d, x);
        return;
    }
    if (codec == SEGSTREAM_PROFILE_FP16) {
        const uint16_t *h = (const uint16_t *)(const void *)in;
        for (int i = 0; i < d; i++)
            x[i] = fp16_table[h[i]];
        return;
    }
    float scale;
    memcpy(&scale, in, sizeof scale);
    const int8_t *q = (const int8_t *)(in + sizeof scale);
    for (int i = 0; i < d; i++)
        x[i] = (float)q[i] * scale;
}
