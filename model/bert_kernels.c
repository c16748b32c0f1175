/* bert_kernels.c - layer norm, embeddings, per-sequence attention and pooling.
 *
 * Attention is computed one (sequence, head) pair at a time with plain loops
 * rather than oneDNN primitives: sentence-encoder sequences are short (10-60
 * tokens), where a primitive call per pair would cost more in dispatch and
 * thread synchronisation than the arithmetic itself; one OpenMP loop over all
 * pairs of the batch keeps both cores busy instead. Keys are transposed into
 * per-thread scratch so the score loop runs over contiguous memory, and exp
 * is a polynomial the compiler can vectorise (libm's expf is not).
 *
 * Each per-row function is compiled twice, for AVX2+FMA and for baseline
 * x86-64, and the first call picks by CPUID (kernel_dispatch.h). */
#include "model/bert_kernels.h"

#include "model/kernel_dispatch.h"

#include <math.h>
#include <omp.h>
#include <string.h>

KERNEL void layer_norm_row_impl(float *x, int h, const float *gamma, const float *beta, float eps)
{
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < h; j++)
        sum += x[j];
    float mean = sum / (float)h, var = 0.0f;
#pragma omp simd reduction(+ : var)
    for (int j = 0; j < h; j++)
        var += (x[j] - mean) * (x[j] - mean);
    float inv = 1.0f / sqrtf(var / (float)h + eps);
#pragma omp simd
    for (int j = 0; j < h; j++)
        x[j] = (x[j] - mean) * inv * gamma[j] + beta[j];
}
INSTANTIATE(layer_norm_row, (float *x, int h, const float *gamma, const float *beta, float eps),
            (x, h, gamma, beta, eps))

KERNEL void embed_row_impl(float *x, const float *word, const float *position, const float *type0,
                           int h)
{
#pragma omp simd
    for (int j = 0; j < h; j++)
        x[j] = word[j] + position[j] + type0[j];
}
INSTANTIATE(embed_row, (float *x, const float *word, const float *position, const float *type0, int h),
            (x, word, position, type0, h))

void segstream_bert_embed(float *x, const int32_t *ids, const int *positions, int t, int h,
                          const float *word, const float *position, const float *type0,
                          const float *gamma, const float *beta, float eps)
{
#pragma omp parallel for schedule(dynamic, 16)
    for (int i = 0; i < t; i++) {
        float *row = x + (size_t)i * h;
        embed_row(row, word + (size_t)ids[i] * h, position + (size_t)positions[i] * h, type0, h);
        layer_norm_row(row, h, gamma, beta, eps);
    }
}

void segstream_bert_layer_norm(float *x, int t, int h, const float *gamma, const float *beta,
                               float eps)
{
#pragma omp parallel for schedule(dynamic, 16)
    for (int i = 0; i < t; i++)
        layer_norm_row(x + (size_t)i * h, h, gamma, beta, eps);
}

size_t segstream_bert_attention_scratch(int max_len, int h)
{
    /* transposed keys of all heads + one row of scores, rounded up to a cache line */
    size_t n = (size_t)max_len * (size_t)h + (size_t)max_len;
    return (n + 15) & ~(size_t)15;
}

/* Heads [head0, head1) of one sequence of len tokens whose qkv rows start at
 * qkv (rows ld = 3h floats apart); writes their columns of ctx (rows h apart).
 * The sequence's keys are first transposed into scratch in row order, while
 * its queries and values are prefetched: reading them head by head instead,
 * 128 bytes every 3h floats, waits on memory at every row. */
KERNEL void attend_impl(const float *qkv, int len, int h, int hd, int head0, int head1, float *ctx,
                        float *scratch)
{
    const size_t ld = 3 * (size_t)h;
    const int c0 = head0 * hd, c1 = head1 * hd;
    float *kt = scratch, *p = scratch + (size_t)len * h; /* kt[c][j]: key column c of token j */
    for (int j = 0; j < len; j++) {
        const float *row = qkv + j * ld, *krow = row + h;
        for (int c = c0; c < c1; c++)
            kt[(size_t)c * len + j] = krow[c];
        /* the heads' queries, values and outputs of this token, into cache now */
        for (int c = c0; c < c1; c += 16) {
            __builtin_prefetch(row + c);
            __builtin_prefetch(row + 2 * h + c);
            __builtin_prefetch(ctx + (size_t)j * h + c, 1);
        }
    }
    const float scale = 1.0f / sqrtf((float)hd);
    for (int head = head0; head < head1; head++) {
        const float *q = qkv + (size_t)head * hd, *v = qkv + 2 * (size_t)h + (size_t)head * hd;
        const float *kh = kt + (size_t)head * hd * len;
        for (int i = 0; i < len; i++) {
            const float *qi = q + i * ld;
            const float q0 = qi[0] * scale;
#pragma omp simd
            for (int j = 0; j < len; j++)
                p[j] = q0 * kh[j];
            for (int d = 1; d < hd; d++) {
                const float qd = qi[d] * scale, *kd = kh + (size_t)d * len;
#pragma omp simd
                for (int j = 0; j < len; j++)
                    p[j] += qd * kd[j];
            }
            float max = p[0];
#pragma omp simd reduction(max : max)
            for (int j = 0; j < len; j++)
                max = p[j] > max ? p[j] : max;
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < len; j++) {
                p[j] = exp_nonpositive(p[j] - max);
                sum += p[j];
            }
            const float inv = 1.0f / sum;
            float *o = ctx + (size_t)i * h + (size_t)head * hd;
            const float p0 = p[0] * inv;
#pragma omp simd
            for (int d = 0; d < hd; d++)
                o[d] = p0 * v[d];
            for (int j = 1; j < len; j++) {
                const float pj = p[j] * inv, *vj = v + j * ld;
#pragma omp simd
                for (int d = 0; d < hd; d++)
                    o[d] += pj * vj[d];
            }
        }
    }
}
INSTANTIATE(attend, (const float *qkv, int len, int h, int hd, int head0, int head1, float *ctx, float *scratch),
            (qkv, len, h, hd, head0, head1, ctx, scratch))

void segstream_bert_attention(const float *qkv, float *ctx, const int *starts, const int *lengths,
                              size_t n, int h, int heads, float *scratch, size_t scratch_per_thread)
{
    const int hd = h / heads;
    /* A task is a whole sequence when there are enough of them to share out;
     * with few sequences (one long text), each head is a task so all threads work. */
    const int groups = n >= 4 * (size_t)omp_get_max_threads() ? 1 : heads;
    const long tasks = (long)n * groups;
    /* Dynamic: task costs grow with len^2 and lengths vary a lot within a batch. */
#pragma omp parallel for schedule(dynamic, 1)
    for (long task = 0; task < tasks; task++) {
        size_t s = (size_t)(task / groups);
        int g = (int)(task % groups);
        attend(qkv + (size_t)starts[s] * 3 * h, lengths[s], h, hd, g * heads / groups,
               (g + 1) * heads / groups, ctx + (size_t)starts[s] * h,
               scratch + (size_t)omp_get_thread_num() * scratch_per_thread);
    }
}

KERNEL void pool_one_impl(const float *x, int len, int h, int cls, float *out)
{
    memcpy(out, x, (size_t)h * sizeof *out);
    if (!cls) {
        for (int i = 1; i < len; i++) {
            const float *row = x + (size_t)i * h;
#pragma omp simd
            for (int j = 0; j < h; j++)
                out[j] += row[j];
        }
        const float inv_len = 1.0f / (float)len;
#pragma omp simd
        for (int j = 0; j < h; j++)
            out[j] *= inv_len;
    }
    float sq = 0.0f;
#pragma omp simd reduction(+ : sq)
    for (int j = 0; j < h; j++)
        sq += out[j] * out[j];
    /* as torch.nn.functional.normalize: divide by max(norm, 1e-12) */
    float norm = sqrtf(sq);
    const float inv = 1.0f / (norm > 1e-12f ? norm : 1e-12f);
#pragma omp simd
    for (int j = 0; j < h; j++)
        out[j] *= inv;
}
INSTANTIATE(pool_one, (const float *x, int len, int h, int cls, float *out), (x, len, h, cls, out))

void segstream_bert_pool(const float *x, const int *starts, const int *lengths, size_t n, int h,
                         int cls, float *out)
{
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)n; i++)
        pool_one(x + (size_t)starts[i] * h, lengths[i], h, cls, out + (size_t)i * h);
}
