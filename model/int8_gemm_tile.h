/* int8_gemm_tile.h - private to int8_gemm.c: its register tile and panel loop,
 * written once and included once per instruction set (no include guard on
 * purpose), the way a C++ template would be instantiated. The includer defines:
 *   TILE_SUFFIX  appended to every function name (avx2, vnni)
 *   TILE_TARGET  the function attribute that enables the instruction set
 *   TILE_MR      rows a register tile, 4 to 8
 *   TILE_ZMM     (optional) a row's 16 columns in one 512-bit vector instead
 *                of two 256-bit ones
 *   TILE_DOT(acc, x, w)  acc + the sum of 4 u8 x s8 products per 32-bit lane,
 *                exact for the 7-bit weights of int8_gemm.h
 * and has NR, KG, MC, GROUP and k_groups() in scope. Every variant computes
 * the same exact integer sums, so which one runs never changes a bit. */

#if TILE_MR < 4 || TILE_MR > 8
#error "int8_gemm_tile.h: TILE_MR must be 4 to 8"
#endif

#ifdef TILE_ZMM
#define TILE_VEC __m512i
#define TILE_VECS 1
#define TILE_LOAD(p) _mm512_load_si512((const void *)(p))
#define TILE_STOREU(p, v) _mm512_storeu_si512((void *)(p), (v))
#define TILE_SET1(v) _mm512_set1_epi32(v)
#define TILE_ZERO() _mm512_setzero_si512()
#else
#define TILE_VEC __m256i
#define TILE_VECS 2
#define TILE_LOAD(p) _mm256_load_si256((const __m256i *)(p))
#define TILE_STOREU(p, v) _mm256_storeu_si256((__m256i *)(p), (v))
#define TILE_SET1(v) _mm256_set1_epi32(v)
#define TILE_ZERO() _mm256_setzero_si256()
#endif

#define TILE_CAT2(a, b) a##_##b
#define TILE_CAT(a, b) TILE_CAT2(a, b)
#define TILE_FN(name) TILE_CAT(name, TILE_SUFFIX)

/* acc[r] += (the 4 codes of row r at a, or the bytes < 4 left at the end of K,
 * zero-filled) x one k group of a panel; mr and bytes are constants after inlining. */
static inline TILE_TARGET __attribute__((always_inline)) void TILE_FN(group)(TILE_VEC acc[][TILE_VECS],
                                                                             const uint8_t *a, size_t lda,
                                                                             const int8_t *w, int mr, int bytes)
{
    const __m256i ones = _mm256_set1_epi16(1);
    (void)ones; /* only TILE_DOT of the AVX2 variant uses it */
    TILE_VEC wv[TILE_VECS];
    for (int l = 0; l < TILE_VECS; l++)
        wv[l] = TILE_LOAD(w + l * (GROUP / TILE_VECS));
    for (int r = 0; r < mr; r++) {
        int32_t v = 0;
        memcpy(&v, a + (size_t)r * lda, (size_t)bytes);
        const TILE_VEC x = TILE_SET1(v);
        for (int l = 0; l < TILE_VECS; l++)
            acc[r][l] = TILE_DOT(acc[r][l], x, wv[l]);
    }
}

/* c[mr rows][cols] = a[mr rows][k] . panel; mr is a constant after inlining. */
static inline TILE_TARGET __attribute__((always_inline)) void TILE_FN(tile)(const uint8_t *a, size_t lda, int k,
                                                                            const int8_t *panel, int32_t *c,
                                                                            size_t ldc, int mr, int cols)
{
    TILE_VEC acc[TILE_MR][TILE_VECS];
    for (int r = 0; r < mr; r++)
        for (int l = 0; l < TILE_VECS; l++)
            acc[r][l] = TILE_ZERO();
    const int full = k / KG, rem = k % KG;
    for (int g = 0; g < full; g++)
        TILE_FN(group)(acc, a + (size_t)g * KG, lda, panel + (size_t)g * GROUP, mr, KG);
    const uint8_t *a_rem = a + (size_t)full * KG;
    const int8_t *w_rem = panel + (size_t)full * GROUP;
    switch (rem) { /* constant byte counts: memcpy stays a plain load */
    case 3:
        TILE_FN(group)(acc, a_rem, lda, w_rem, mr, 3);
        break;
    case 2:
        TILE_FN(group)(acc, a_rem, lda, w_rem, mr, 2);
        break;
    case 1:
        TILE_FN(group)(acc, a_rem, lda, w_rem, mr, 1);
        break;
    default:
        break;
    }
    for (int r = 0; r < mr; r++) {
        int32_t *dst = c + (size_t)r * ldc;
        if (cols == NR) {
            for (int l = 0; l < TILE_VECS; l++)
                TILE_STOREU(dst + l * (NR / TILE_VECS), acc[r][l]);
        } else {
            int32_t tmp[NR];
            for (int l = 0; l < TILE_VECS; l++)
                TILE_STOREU(tmp + l * (NR / TILE_VECS), acc[r][l]);
            memcpy(dst, tmp, (size_t)cols * sizeof *dst);
        }
    }
}

/* One instance per tile height, so that each keeps its accumulators in registers. */
static TILE_TARGET void TILE_FN(tile_rows)(const uint8_t *a, size_t lda, int k, const int8_t *panel, int32_t *c,
                                           size_t ldc, int mr, int cols)
{
    switch (mr) {
#if TILE_MR >= 8
    case 8:
        TILE_FN(tile)(a, lda, k, panel, c, ldc, 8, cols);
        break;
#endif
#if TILE_MR >= 7
    case 7:
        TILE_FN(tile)(a, lda, k, panel, c, ldc, 7, cols);
        break;
#endif
#if TILE_MR >= 6
    case 6:
        TILE_FN(tile)(a, lda, k, panel, c, ldc, 6, cols);
        break;
#endif
#if TILE_MR >= 5
    case 5:
        TILE_FN(tile)(a, lda, k, panel, c, ldc, 5, cols);
        break;
#endif
    case 4:
        TILE_FN(tile)(a, lda, k, panel, c, ldc, 4, cols);
        break;
    case 3:
        TILE_FN(tile)(a, lda, k, panel, c, ldc, 3, cols);
        break;
    case 2:
        TILE_FN(tile)(a, lda, k, panel, c, ldc, 2, cols);
        break;
    default:
        TILE_FN(tile)(a, lda, k, panel, c, ldc, 1, cols);
        break;
    }
}

/* Panels [p0, p1) for every row: blocks of MC rows, so that a block's codes
 * stay in L2 while the panels go by; a panel stays in L1 for the tiles. */
static TILE_TARGET void TILE_FN(panels_run)(const segstream_int8_packed *p, const uint8_t *a, int m, int32_t *c,
                                            size_t p0, size_t p1)
{
    const size_t lda = (size_t)p->k, ldc = (size_t)p->n, panel_bytes = k_groups(p->k) * GROUP;
    for (int i0 = 0; i0 < m; i0 += MC) {
        const int i1 = m - i0 < MC ? m : i0 + MC;
        for (size_t q = p0; q < p1; q++) {
            const int j = (int)(q * NR), cols = p->n - j < NR ? p->n - j : NR;
            const int8_t *panel = p->panels + q * panel_bytes;
            for (int i = i0; i < i1; i += TILE_MR)
                TILE_FN(tile_rows)(a + (size_t)i * lda, lda, p->k, panel, c + (size_t)i * ldc + (size_t)j, ldc,
                                   i1 - i < TILE_MR ? i1 - i : TILE_MR, cols);
        }
    }
}

#undef TILE_FN
#undef TILE_CAT
#undef TILE_CAT2
#undef TILE_VEC
#undef TILE_VECS
#undef TILE_LOAD
#undef TILE_STOREU
#undef TILE_SET1
#undef TILE_ZERO
