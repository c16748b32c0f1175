/* test_int8_gemm.c - the packed int8 gemm against a plain product, and the encoder on it against oneDNN.
 *
 * 1. segstream_int8_gemm_run on pseudo-random u8 codes and 7-bit s8 weights
 *    (the extremes 255 and +-63 over-represented, all-255 rows among them:
 *    the largest pair sums vpmaddubsw sees) equals a scalar int64 product
 *    exactly, for every M in 1..70 and K, N that are not multiples of the
 *    kernel's 4 and 16 (tails), on 1 and 2 threads, and for shapes large
 *    enough that the columns are split between threads and rows span more
 *    than one cache block; on a VNNI CPU for both kernels (vpdpbusd and,
 *    with SEGSTREAM_INT8_GEMM=avx2, vpmaddubsw).
 * 2. The int8 encoder on the packed kernel gives bit for bit the embeddings
 *    of the int8 encoder on oneDNN's matmul (SEGSTREAM_INT8_GEMM=onednn) for
 *    the 1001 real texts of tests/data/encoder_reference.txt, in large
 *    batches on 2 threads and one text a call on 1 thread.
 * Skipped (not passed) on a CPU without AVX2, where the kernel is never used. */
#include "model/encoder.h"
#include "model/int8_gemm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static uint32_t rng = 2463534242u;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* one value in 8 an extreme, the rest uniform */
static uint8_t code(void)
{
    return next() % 8 == 0 ? 255 : (uint8_t)(next() % 256);
}

static int8_t weight(void)
{
    const uint32_t r = next();
    return r % 8 == 0 ? (r & 8 ? 63 : -63) : (int8_t)((int)(r >> 8) % 127 - 63);
}

/* Packs random weights, runs m rows on `threads`, compares with int64 sums. */
static void check_shape(int m, int k, int n, int threads)
{
    uint8_t *a = malloc((size_t)m * (size_t)k);
    int8_t *w = malloc((size_t)k * (size_t)n);
    int32_t *c = malloc((size_t)m * (size_t)n * sizeof *c);
    assert_true(a && w && c);
    for (size_t i = 0; i < (size_t)m * (size_t)k; i++)
        a[i] = code();
    if (m > 2)
        memset(a + (size_t)(m / 2) * (size_t)k, 255, (size_t)k);
    for (size_t i = 0; i < (size_t)k * (size_t)n; i++)
        w[i] = weight();
    segstream_int8_packed p;
    segstream_err err = {{0}};
    if (segstream_int8_gemm_pack(&p, w, k, n, &err))
        fail_msg("pack %dx%d: %s", k, n, err.message);
    memset(c, 0x5a, (size_t)m * (size_t)n * sizeof *c);
    segstream_int8_gemm_run(&p, a, m, c, threads);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            int64_t exact = 0;
            for (int x = 0; x < k; x++)
                exact += (int64_t)a[(size_t)i * k + x] * w[(size_t)x * n + j];
            if (exact != c[(size_t)i * n + j])
                fail_msg("%s kernel, m=%d k=%d n=%d threads=%d: c[%d][%d] = %d, exact %lld",
                         p.vnni ? "VNNI" : "AVX2", m, k, n, threads, i, j, (int)c[(size_t)i * n + j],
                         (long long)exact);
            assert_int_equal(segstream_int8_gemm_weight(&p, i % k, j), w[(size_t)(i % k) * n + j]);
        }
    segstream_int8_gemm_free(&p);
    free(a);
    free(w);
    free(c);
}

#define SKIP_WITHOUT_AVX2()                                                            \
    do {                                                                               \
        if (!segstream_int8_gemm_supported()) {                                        \
            print_message("no AVX2 on this CPU: the packed kernel is never used\n"); \
            skip();                                                                    \
        }                                                                              \
    } while (0)

/* The kernels this CPU runs: its default, and AVX2 as well where that is VNNI. */
static int kernel_count(void)
{
    return strcmp(segstream_int8_gemm_kernel(), "avx512-vnni") == 0 ? 2 : 1;
}

static void use_kernel(int i)
{
    if (i)
        setenv("SEGSTREAM_INT8_GEMM", "avx2", 1);
    else
        unsetenv("SEGSTREAM_INT8_GEMM");
}

static void every_row_count_and_tail_is_exact(void **state)
{
    (void)state;
    SKIP_WITHOUT_AVX2();
    static const int ks[] = {1, 2, 3, 4, 5, 7, 31, 33, 66, 384};
    static const int ns[] = {1, 5, 15, 16, 17, 40};
    for (int kernel = kernel_count() - 1; kernel >= 0; kernel--) {
        use_kernel(kernel);
        for (int m = 1; m <= 70; m++)
            for (size_t x = 0; x < sizeof ks / sizeof *ks; x++)
                for (size_t y = 0; y < sizeof ns / sizeof *ns; y++)
                    check_shape(m, ks[x], ns[y], 1 + (m + (int)x + (int)y) % 2);
    }
}

static void model_shapes_split_between_threads_are_exact(void **state)
{
    (void)state;
    SKIP_WITHOUT_AVX2();
    /* MiniLM's K x N with 16 rows (one short text), then more rows than one
     * cache block and odd sizes, each large enough to run on 2 threads */
    static const int shapes[][3] = {{16, 384, 1152}, {16, 384, 384}, {16, 384, 1536}, {16, 1536, 384},
                                    {131, 1537, 389}, {70, 1023, 1001}, {200, 385, 47}};
    for (int kernel = kernel_count() - 1; kernel >= 0; kernel--) {
        use_kernel(kernel);
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
            for (int threads = 1; threads <= 2; threads++)
                check_shape(shapes[i][0], shapes[i][1], shapes[i][2], threads);
    }
}

/* --- the encoder on the packed kernel = the encoder on oneDNN --- */

static size_t read_lines(char **buf, const char ***lines)
{
    const char *dir = getenv("SEGSTREAM_TESTDATA");
    assert_non_null(dir);
    char path[4096];
    snprintf(path, sizeof path, "%s/encoder_reference.txt", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    const long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc((size_t)len + 1);
    assert_non_null(*buf);
    assert_int_equal(fread(*buf, 1, (size_t)len, f), (size_t)len);
    (*buf)[len] = '\0';
    fclose(f);
    size_t n = 0;
    for (char *p = *buf; *p; p++)
        n += *p == '\n';
    *lines = malloc(n * sizeof **lines);
    char *p = *buf;
    for (size_t i = 0; i < n; i++) {
        char *nl = strchr(p, '\n');
        *nl = '\0';
        (*lines)[i] = p;
        p = nl + 1;
    }
    return n;
}

/* Embeddings of texts[0..n) with the int8 kernel `gemm` ("packed" or "onednn"). */
static float *encode_all(const char *gemm, const char *const *texts, size_t n, int threads, size_t per_call)
{
    if (strcmp(gemm, "onednn") == 0)
        setenv("SEGSTREAM_INT8_GEMM", "onednn", 1);
    else
        unsetenv("SEGSTREAM_INT8_GEMM");
    segstream_encoder_options opt = segstream_encoder_default_options();
    opt.precision = SEGSTREAM_PRECISION_INT8;
    opt.threads = threads;
    segstream_err err = {{0}};
    segstream_encoder *enc = segstream_encoder_open(getenv("SEGSTREAM_MODEL_DIR"), &opt, &err);
    unsetenv("SEGSTREAM_INT8_GEMM");
    if (!enc)
        fail_msg("open (%s): %s", gemm, err.message);
    const size_t dim = (size_t)segstream_encoder_dim(enc);
    float *out = malloc(n * dim * sizeof *out);
    assert_non_null(out);
    for (size_t i = 0; i < n; i += per_call) {
        const size_t count = n - i < per_call ? n - i : per_call;
        if (segstream_encoder_encode(enc, texts + i, count, out + i * dim, &err))
            fail_msg("encode (%s): %s", gemm, err.message);
    }
    segstream_encoder_close(enc);
    return out;
}

static void encoder_on_packed_kernel_equals_onednn_bit_for_bit(void **state)
{
    (void)state;
    SKIP_WITHOUT_AVX2();
    char *buf;
    const char **texts;
    const size_t n = read_lines(&buf, &texts);
    assert_true(n > 1000);
    const size_t dim = 384;
    struct {
        int threads;
        size_t per_call, count;
    } runs[] = {{2, 256, n}, {1, 1, 120}};
    for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
        float *packed = encode_all("packed", texts, runs[r].count, runs[r].threads, runs[r].per_call);
        float *onednn = encode_all("onednn", texts, runs[r].count, runs[r].threads, runs[r].per_call);
        for (size_t i = 0; i < runs[r].count; i++)
            if (memcmp(packed + i * dim, onednn + i * dim, dim * sizeof *packed))
                fail_msg("text %zu (\"%s\"), %d threads, %zu a call: packed and oneDNN embeddings differ", i,
                         texts[i], runs[r].threads, runs[r].per_call);
        free(packed);
        free(onednn);
    }
    free(texts);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_row_count_and_tail_is_exact),
        cmocka_unit_test(model_shapes_split_between_threads_are_exact),
        cmocka_unit_test(encoder_on_packed_kernel_equals_onednn_bit_for_bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
