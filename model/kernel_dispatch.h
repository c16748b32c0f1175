/* kernel_dispatch.h - private to model/: compile a loop kernel for AVX2+FMA and baseline x86-64.
 *
 * Included by the .c files of hand-written kernels (bert_kernels.c,
 * int8_kernels.c), which are built with -O3 -ffp-contract=fast so that the
 * loops vectorise with fused multiply-adds. Each per-row function is
 * compiled twice, and the first call picks by CPUID. (GCC's target_clones
 * was tried: its resolver matches CPU model names, so an AMD Zen 3 got the
 * baseline.) */
#ifndef SEGSTREAM_MODEL_KERNEL_DISPATCH_H
#define SEGSTREAM_MODEL_KERNEL_DISPATCH_H

#include <stdint.h>

/* A kernel is written once as NAME_impl (always inlined) and instantiated
 * as NAME_avx2 and NAME_base; NAME() calls the one the CPU runs best. */
#define KERNEL static inline __attribute__((always_inline))
#if defined(__x86_64__) && defined(__GNUC__)
static inline int cpu_has_avx2_fma(void)
{
    static int cached = -1; /* benign race: every thread computes the same value */
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}
#define INSTANTIATE(name, params, args)                                                  \
    __attribute__((target("avx2,fma"))) static void name##_avx2 params { name##_impl args; } \
    static void name##_base params { name##_impl args; }                                  \
    static void name params                                                              \
    {                                                                                    \
        if (cpu_has_avx2_fma())                                                          \
            name##_avx2 args;                                                            \
        else                                                                             \
            name##_base args;                                                            \
    }
#else
#define INSTANTIATE(name, params, args) \
    static void name params { name##_impl args; }
#endif

/* e^x for x <= 0 (softmax arguments after subtracting the maximum), relative
 * error < 2e-7: x = k ln2 + r with |r| <= ln2/2, e^r by its degree-6 Taylor
 * polynomial, 2^k built in the exponent bits. */
static inline __attribute__((always_inline)) float exp_nonpositive(float x)
{
    x = x < -87.0f ? -87.0f : x;
    const float round = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float k = (x * 1.44269504f + round) - round;
    /* ln2 split in two (Cephes): k * 0.693359375f is exact for any k here */
    float r = x - k * 0.693359375f;
    r = r + k * 2.12194440e-4f;
    float p = 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union {
        int32_t i;
        float f;
    } scale = {.i = ((int32_t)k + 127) << 23};
    return p * scale.f;
}

#endif
