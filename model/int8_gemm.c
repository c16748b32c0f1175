/* int8_gemm.c - the micro-kernels behind int8_gemm.h: a few rows x 16 columns in registers.
 *
 * Per group of 4 k: the 4 codes of a row are broadcast to every 32-bit lane
 * (vpbroadcastd) and multiplied with the 64 weight bytes of the panel's k
 * group, 4 products summed per lane: on AVX2 by vpmaddubsw + vpmaddwd +
 * vpaddd on two 256-bit vectors, on AVX-512 VNNI by one vpdpbusd on one
 * 512-bit vector (int8_gemm_tile.h holds the tile once, for both). The AVX2
 * kernel is bound by its two multiplies per 32 products (Zen 3 issues two
 * vector multiplies a cycle), so wider tiles, which would spill its 16
 * registers, buy nothing; VNNI needs one multiply, not two. Loops:
 * columns (16-wide panels) outside, split between threads; then blocks of 64
 * rows, so that a block's codes stay in L2 while the panels go by; then the
 * register tiles, for which a panel (K x 16 bytes, at most 24 KiB for
 * MiniLM) stays in L1. The code is compiled through target attributes (no
 * -march flag), as fma_peak.c and kernel_dispatch.h do, and picked at run
 * time, so the file builds for any x86-64 and elsewhere. */
#include "model/int8_gemm.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

enum {
    NR = 16,       /* columns a panel */
    KG = 4,        /* k values a group: the 4 bytes broadcast to a lane */
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

/* The AVX2 tile: vpmaddubsw multiplies and adds pairs into 16 bits (exact
 * for 7-bit weights), vpmaddwd with ones adds the pairs into 32 bits, vpaddd
 * accumulates. 4 rows x 2 vectors = 8 accumulators, 2 weight vectors, the
 * ones and a temporary: the 16 ymm registers of AVX2 do not spill. */
#define TILE_SUFFIX avx2
#define TILE_TARGET __attribute__((target("avx2")))
#define TILE_MR 4
#define TILE_DOT(acc, x, w) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((x), (w)), ones))
#include "model/int8_gemm_tile.h"
#undef TILE_SUFFIX
#undef TILE_TARGET
#undef TILE_MR
#undef TILE_DOT

/* The VNNI tile (AVX-512 VNNI: Ice Lake, Sapphire Rapids, Zen 4): vpdpbusd
 * does the three steps above in one instruction with 32-bit sums, on a
 * 512-bit vector that holds a whole k group of the panel (16 columns x 4 k),
 * so a row's 16 columns are one accumulator: 8 rows = 8 accumulators, one
 * weight vector. Measured on the Zen 4 dev box (tools/bench/bench_int8_gemm,
 * 16 rows, one core): the integer matmuls of a forward pass 1484 us on AVX2,
 * 997 with this tile on 256-bit vectors (GCC shuffled the 16 accumulators
 * between registers), 754 on 512-bit ones; oneDNN's VNNI gemm 1050. */
#define TILE_SUFFIX vnni
#define TILE_TARGET __attribute__((target("avx2,avx512f,avx512vnni")))
#define TILE_MR 8
#define TILE_ZMM
#define TILE_DOT(acc, x, w) _mm512_dpbusd_epi32((acc), (x), (w))
#include "model/int8_gemm_tile.h"
#undef TILE_SUFFIX
#undef TILE_TARGET
#undef TILE_MR
#undef TILE_ZMM
#undef TILE_DOT

/* The variant for this CPU, chosen when weights are packed (read once per
 * set of weights, not per call); SEGSTREAM_INT8_GEMM=avx2 keeps the AVX2
 * one on a VNNI CPU (tests compare the two, benchmarks time them). */
static int use_vnni(void)
{
    static int cpu = -1; /* benign race: every thread computes the same value */
    if (cpu < 0) {
        __builtin_cpu_init();
        cpu = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
    }
    const char *env = getenv("SEGSTREAM_INT8_GEMM");
    return cpu && !(env && strcmp(env, "avx2") == 0);
}

/* Panels [p0, p1) for every row, on the variant chosen at packing. */
static void panels_run(const segstream_int8_packed *p, const uint8_t *a, int m, int32_t *c, size_t p0,
                       size_t p1)
{
    if (p->vnni)
        panels_run_vnni(p, a, m, c, p0, p1);
    else
        panels_run_avx2(p, a, m, c, p0, p1);
}

const char *segstream_int8_gemm_kernel(void)
{
    return !segstream_int8_gemm_supported() ? "none" : use_vnni() ? "avx512-vnni" : "avx2";
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

const char *segstream_int8_gemm_kernel(void)
{
    return "none";
}
#endif

int segstream_int8_gemm_pack(segstream_int8_packed *p, const int8_t *w, int k, int n, segstream_err *err)
{
    p->panels = NULL;
    p->k = k;
    p->n = n;
#ifdef SEGSTREAM_INT8_GEMM_X86
    p->vnni = segstream_int8_gemm_supported() && use_vnni();
#else
    p->vnni = 0;
#endif
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
