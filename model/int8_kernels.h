/* int8_kernels.h - the fp32 <-> integer passes around an int8 matmul.
 *
 * Activations are quantized per row (per token) to 7-bit unsigned codes
 * with a zero point: x[j] ~ scale * (q[j] - zero), q in [0, 127], the range
 * [min(row, 0), max(row, 0)] mapped onto the 128 codes (so 0 is exact and a
 * skewed row, such as a GELU output, loses no code to the side it lacks).
 * 7 bits, not 8, because AVX2 without VNNI multiplies u8 by s8 with
 * vpmaddubsw, which adds pairs of products in saturating 16 bits: with
 * codes <= 127 and weights in [-127, 127] a pair stays <= 32258, so the
 * integer matmul is exact on every x86 int8 path (int8_matmul.h checks it
 * at open). Rows never mix: each row's codes and its dequantized result
 * depend on that row alone, whatever the batch. */
#ifndef SEGSTREAM_MODEL_INT8_KERNELS_H
#define SEGSTREAM_MODEL_INT8_KERNELS_H

#include <stdint.h>

/* Largest activation code: 2^7 - 1 (see above). */
#define SEGSTREAM_INT8_CODE_MAX 127

/* m rows of k floats -> q[m][k] codes, scale[m], zero[m]. */
void segstream_int8_quantize_rows(const float *x, int m, int k, uint8_t *q, float *scale, int32_t *zero);

typedef enum segstream_int8_output {
    SEGSTREAM_INT8_SET = 0,  /* dst = v */
    SEGSTREAM_INT8_GELU = 1, /* dst = gelu_erf(v), to about 1e-7 |v| */
    SEGSTREAM_INT8_ADD = 2,  /* dst += v */
} segstream_int8_output;

/* For m rows of n columns: v = (acc - zero[i] * colsum[j]) * scale[i] * wscale[j]
 * + bias[j], where acc = q . W_int (the integer matmul of the row codes),
 * colsum[j] = sum over k of W_int[k][j] and W ~ W_int * wscale[j]. */
void segstream_int8_dequantize_rows(const int32_t *acc, int m, int n, const float *scale,
                                    const int32_t *zero, const int32_t *colsum, const float *wscale,
                                    const float *bias, segstream_int8_output out, float *dst);

#endif
