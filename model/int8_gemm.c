/* int8_gemm.c - the AVX2 micro-kernel behind int8_gemm.h: 4 rows x 16 columns in registers.
 *
 * Per group of 4 k: the 4 codes of a row are broadcast to every 32-bit lane
 * (vpbroadcastd), vpmaddubsw multiplies them with the panel's 2 x 32 weight
 * bytes and adds pairs (16 bits, exact for 7-bit weights), vpmaddwd with ones
 * adds the pairs again into 32 bits, vpaddd accumulates. 4 rows x 2 vectors =
 * 8 accumulators, 2 weight vectors, the ones and a temporary: 16 ymm
 * registers do not spill. The kernel is bound by the two multiplies per 32
 * products (Zen 3 issues two vector multiplies a cycle), so wider tiles, which
 * would spill, buy nothing. Loops: columns (16-wide panels) outside, split
 * between threads; then blocks of 64 rows, so that a block's codes stay in L2
 * while the panels go by; then the 4-row tiles, for which a panel (K x 16
 * bytes, at most 24 KiB for MiniLM) stays in L1. The AVX2 code is compiled
 * through target attributes (no -march flag), as fma_peak.c and
 * kernel_dispatch.h do, so the file builds for any x86-64 and elsewhere. */
#include "model/int8_gemm.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum {
    NR = 16,       /* columns a panel */
    KG = 4,        /* k values a group: the 4 bytes broadcast to a lane */
    MR = 4,        /* rows a register tile */
    MC = 64,       /* rows a cache block */
    GROUP = NR * KG /* bytes of one k group of a panel */
};

/* Products a thread must get before a second one pays for the fork, about
 * 16 x 384 x 768. On the dev box (tools/bench/bench_int8_gemm) a 16 x 384 x
 * 1536 call took 83 us on 2 threads against about 100 on 1 with spinning
 * workers; with sleeping ones (OMP_WAIT_POLICY=passive) the wake-up costs
 * more than that, which is why bert.c runs short passes on one thread. */
#define MIN_MACS_PER_THREAD (1L << 22)

/* Panels a thread takes at a time: 64 columns, 6 chunks of a 384-wide
 * output, 24 of a 1536-wide one. */
#define CHUNK_PANELS 4

static size_t k_groups(int k)
{
    return ((size_t)k + KG - 1) / KG;
}

static size_t panel_count(int n)
{
    return ((size_t)n + NR - 1) / NR;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SEGSTREAM_INT8_GEMM_X86 1

int segstream_int8_gemm_supported(void)
{
    static int cached = -1; /* benign race: every thread computes the same value */
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2");
    }
    return cached;
}

#define TARGET __attribute__((target("avx2")))

/* acc[r] += (the 4 codes of row r at a, or the bytes < 4 left at the end of K,
 * zero-filled) x one k group of a panel; mr and bytes are constants after inlining. */
static inline TARGET __attribute__((always_inline)) void group(__m256i acc[][2], const uint8_t *a, size_t lda,
                                                               const int8_t *w, int mr, int bytes)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i w0 = _mm256_load_si256((const __m256i *)w);
    const __m256i w1 = _mm256_load_si256((const __m256i *)(w + 32));
    for (int r = 0; r < mr; r++) {
        int32_t v = 0;
        memcpy(&v, a + (size_t)r * lda, (size_t)bytes);
        const __m256i x = _mm256_set1_epi32(v);
        acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w0), ones));
        acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w1), ones));
    }
}

/* c[mr rows][cols] = a[mr rows][k] . panel; mr is a constant after inlining. */
static inline TARGET __attribute__((always_inline)) void tile(const uint8_t *a, size_t lda, int k,
                                                              const int8_t *panel, int32_t *c, size_t ldc,
                                                              int mr, int cols)
{
    __m256i acc[MR][2];
    for (int r = 0; r < mr; r++)
        acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    const int full = k / KG, rem = k % KG;
    for (int g = 0; g < full; g++)
        group(acc, a + (size_t)g * KG, lda, panel + (size_t)g * GROUP, mr, KG);
    switch (rem) { /* constant byte counts: memcpy stays a plain load */
    case 3:
        group(acc, a + (size_t)full * KG, lda, panel + (size_t)full * GROUP, mr, 3);
        break;
    case 2:
        group(acc, a + (size_t)full * KG, lda, panel + (size_t)full * GROUP, mr, 2);
        break;
    case 1:
        group(acc, a + (size_t)full * KG, lda, panel + (size_t)full * GROUP, mr, 1);
        break;
    default:
        break;
    }
    for (int r = 0; r < mr; r++) {
        int32_t *dst = c + (size_t)r * ldc;
        if (cols == NR) {
            _mm256_storeu_si256((__m256i *)dst, acc[r][0]);
            _mm256_storeu_si256((__m256i *)(dst + 8), acc[r][1]);
        } else {
            int32_t tmp[NR];
            _mm256_storeu_si256((__m256i *)tmp, acc[r][0]);
            _mm256_storeu_si256((__m256i *)(tmp + 8), acc[r][1]);
            memcpy(dst, tmp, (size_t)cols * sizeof *dst);
        }
    }
}

/* One instance per tile height, so that each keeps its accumulators in registers. */
static TARGET void tile_rows(const uint8_t *a, size_t lda, int k, const int8_t *panel, int32_t *c, size_t ldc,
                             int mr, int cols)
{
    switch (mr) {
    case 4:
        tile(a, lda, k, panel, c, ldc, 4, cols);
        break;
    case 3:
        tile(a, lda, k, panel, c, ldc, 3, cols);
        break;
    case 2:
        tile(a, lda, k, panel, c, ldc, 2, cols);
        break;
    default:
        tile(a, lda, k, panel, c, ldc, 1, cols);
        break;
    }
}

/* Panels [p0, p1) for every row. */
static void panels_run(const segstream_int8_packed *p, const uint8_t *a, int m, int32_t *c, size_t p0,
                       size_t p1)
{
    const size_t lda = (size_t)p->k, ldc = (size_t)p->n, panel_bytes = k_groups(p->k) * GROUP;
    for (int i0 = 0; i0 < m; i0 += MC) {
        const int i1 = m - i0 < MC ? m : i0 + MC;
        for (size_t q = p0; q < p1; q++) {
            const int j = (int)(q * NR), cols = p->n - j < NR ? p->n - j : NR;
            const int8_t *panel = p->panels + q * panel_bytes;
            for (int i = i0; i < i1; i += MR)
                tile_rows(a + (size_t)i * lda, lda, p->k, panel, c + (size_t)i * ldc + (size_t)j, ldc,
                          i1 - i < MR ? i1 - i : MR, cols);
        }
    }
}
/* Threads worth using: one per MIN_MACS_PER_THREAD products, at most one per panel. */
static int split(const segstream_int8_packed *p, int m, int max_threads)
{
    const long macs = (long)m * p->k * p->n, panels = (long)panel_count(p->n);
    long t = macs / MIN_MACS_PER_THREAD;
    t = t < 1 ? 1 : t;
    t = t > max_threads ? max_threads : t;
    return (int)(t > panels ? panels : t);
}
#else
int segstream_int8_gemm_supported(void)
{
    return 0;
}
#endif

int segstream_int8_gemm_pack(segstream_int8_packed *p, const int8_t *w, int k, int n, segstream_err *err)
{
    p->panels = NULL;
    p->k = k;
    p->n = n;
    if (k < 1 || n < 1)
        return segstream_err_set(err, "int8 gemm: bad shape %d x %d", k, n);
    const size_t groups = k_groups(k), panels = panel_count(n), bytes = panels * groups * GROUP;
    /* 32-byte aligned groups: the kernel loads them aligned */
    p->panels = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!p->panels)
        return segstream_err_set(err, "out of memory for packed int8 weights %d x %d", k, n);
    memset(p->panels, 0, bytes);
    for (size_t i = 0; i < (size_t)k; i++)
        for (size_t j = 0; j < (size_t)n; j++)
            p->panels[((j / NR) * groups + i / KG) * GROUP + (j % NR) * KG + i % KG] = w[i * (size_t)n + j];
    return 0;
}

void segstream_int8_gemm_free(segstream_int8_packed *p)
{
    free(p->panels);
    p->panels = NULL;
}

int8_t segstream_int8_gemm_weight(const segstream_int8_packed *p, int i, int j)
{
    const size_t groups = k_groups(p->k);
    return p->panels[((size_t)j / NR * groups + (size_t)i / KG) * GROUP + (size_t)j % NR * KG + (size_t)i % KG];
}

void segstream_int8_gemm_run(const segstream_int8_packed *p, const uint8_t *a, int m, int32_t *c,
                             int max_threads)
{
#ifdef SEGSTREAM_INT8_GEMM_X86
    const size_t panels = panel_count(p->n);
    const int threads = split(p, m, max_threads);
    if (threads <= 1) {
        panels_run(p, a, m, c, 0, panels);
        return;
    }
    /* Chunks handed out as threads come free, not halves fixed in advance:
     * next to a broker on the same cores, a worker that wakes late or is
     * preempted mid-call otherwise leaves the other waiting at the barrier
     * for its whole half (bench-e2e: 2 encoder threads encoded no faster than
     * 1 inside the stage). Each element's sum is the same whoever computes it. */
    const long chunks = (long)((panels + CHUNK_PANELS - 1) / CHUNK_PANELS);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (long q = 0; q < chunks; q++) {
        const size_t p0 = (size_t)q * CHUNK_PANELS, p1 = p0 + CHUNK_PANELS < panels ? p0 + CHUNK_PANELS : panels;
        panels_run(p, a, m, c, p0, p1);
    }
#else
    (void)p;
    (void)a;
    (void)m;
    (void)c;
    (void)max_threads;
#endif
}
