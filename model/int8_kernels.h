/* int8_kernels.h - the fp32 <-> integer passes around an int8 matmul.
 *
 * Activations are quantized per row (per token) to 8-bit unsigned codes
 * with a zero point: x[j] ~ scale * (q[j] - zero), q in [0, 255], the range
 * [min(row, 0), max(row, 0)] mapped onto the 256 codes (so 0 is exact and a
 * skewed row, such as a GELU output, loses no code to the side it lacks).
 * Weights (int8_matmul.h) then get 7 bits, [-63, 63], because AVX2 without
 * VNNI multiplies u8 by s8 with vpmaddubsw, which adds pairs of products in
 * saturating 16 bits: 2 * 255 * 63 = 32130 fits, so the integer matmul is
 * exact on every x86 int8 path (int8_matmul.h checks it at open); with full
 * 8-bit weights and 8-bit codes random data saturated most outputs on the
 * dev box. 8-bit codes and 7-bit weights measured closer to fp32 than the
 * other way round (7-bit codes, 8-bit weights): cosine min 0.9952 / mean
 * 0.9980 against 0.9934 / 0.9973 on 2000 StackOverflow titles. Rows never
 * mix: each row's codes and dequantized result depend on that row alone,
 * whatever the batch. */
#ifndef SEGSTREAM_MODEL_INT8_KERNELS_H
#define SEGSTREAM_MODEL_INT8_KERNELS_H

#include <stdint.h>

/* Largest activation code and largest weight magnitude: 2 * CODE_MAX *
 * WEIGHT_MAX must stay <= 32767 (see above). */
#ifndef SEGSTREAM_INT8_CODE_MAX
#define SEGSTREAM_INT8_CODE_MAX 255
#endif
#ifndef SEGSTREAM_INT8_WEIGHT_MAX
#define SEGSTREAM_INT8_WEIGHT_MAX 63
#endif
_Static_assert(2 * SEGSTREAM_INT8_CODE_MAX * SEGSTREAM_INT8_WEIGHT_MAX <= 32767,
               "a pair of u8 x s8 products must fit vpmaddubsw's saturating 16 bits");

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
