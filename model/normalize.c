/* normalize.c - the streamed BERT normalizer (see normalize.h).
 * Every step is a per-character table lookup except the canonical ordering
 * of surviving combining marks, which needs the pending run in the state. */
#include "model/normalize.h"

#include "model/unicode_tables.h"

#define HANGUL_FIRST 0xAC00u
#define HANGUL_LAST 0xD7A3u

void segstream_normalizer_reset(segstream_normalizer_state *st)
{
    st->npending = 0;
}

static int emit_lowercased(const segstream_normalizer_config *cfg, uint32_t cp, uint32_t *out)
{
    if (cp < 0x80) { /* the common case, without a table search */
        out[0] = cfg->lowercase && cp >= 'A' && cp <= 'Z' ? cp + ('a' - 'A') : cp;
        return 1;
    }
    if (cfg->lowercase && (segstream_uc_flags(cp) & SEGSTREAM_UC_HAS_LOWER)) {
        const segstream_uc_mapping *m =
            segstream_uc_find(segstream_uc_lower, segstream_uc_lower_count, cp);
        if (m) {
            for (int i = 0; i < m->length; i++)
                out[i] = segstream_uc_lower_pool[m->offset + i];
            return m->length;
        }
    }
    out[0] = cp;
    return 1;
}

/* Stable insertion sort by combining class: canonical ordering. */
static int flush_pending(const segstream_normalizer_config *cfg, segstream_normalizer_state *st,
                         uint32_t *out)
{
    int n = st->npending, w = 0;
    for (int i = 1; i < n; i++) {
        uint32_t cp = st->pending[i];
        unsigned c = segstream_uc_ccc(cp);
        int j = i;
        while (j > 0 && segstream_uc_ccc(st->pending[j - 1]) > c) {
            st->pending[j] = st->pending[j - 1];
            j--;
        }
        st->pending[j] = cp;
    }
    for (int i = 0; i < n; i++)
        w += emit_lowercased(cfg, st->pending[i], out + w);
    st->npending = 0;
    return w;
}

/* One fully decomposed code point through reordering and the mark filter. */
static int strip_one(const segstream_normalizer_config *cfg, segstream_normalizer_state *st,
                     uint32_t cp, uint32_t *out)
{
    unsigned flags = segstream_uc_flags(cp);
    unsigned ccc = segstream_uc_ccc(cp);
    if (ccc != 0) {
        if (flags & SEGSTREAM_UC_MN)
            return 0; /* dropping it leaves the survivors' order unchanged */
        int w = 0;
        if (st->npending == SEGSTREAM_NORM_PENDING_MAX)
            w = flush_pending(cfg, st, out);
        st->pending[st->npending++] = cp;
        return w;
    }
    int w = flush_pending(cfg, st, out);
    if (!(flags & SEGSTREAM_UC_MN))
        w += emit_lowercased(cfg, cp, out + w);
    return w;
}

static int strip_accents(const segstream_normalizer_config *cfg, segstream_normalizer_state *st,
                         uint32_t cp, uint32_t *out)
{
    if (cp >= HANGUL_FIRST && cp <= HANGUL_LAST) {
        uint32_t s = cp - HANGUL_FIRST, t = s % 28;
        int w = strip_one(cfg, st, 0x1100 + s / 588, out);
        w += strip_one(cfg, st, 0x1161 + (s % 588) / 28, out + w);
        if (t)
            w += strip_one(cfg, st, 0x11A7 + t, out + w);
        return w;
    }
    if (segstream_uc_flags(cp) & SEGSTREAM_UC_HAS_NFD) {
        const segstream_uc_mapping *m = segstream_uc_find(segstream_uc_nfd, segstream_uc_nfd_count, cp);
        if (m) {
            int w = 0;
            for (int i = 0; i < m->length; i++)
                w += strip_one(cfg, st, segstream_uc_nfd_pool[m->offset + i], out + w);
            return w;
        }
    }
    return strip_one(cfg, st, cp, out);
}

static int after_clean(const segstream_normalizer_config *cfg, segstream_normalizer_state *st,
                       uint32_t cp, uint32_t *out)
{
    if (cfg->strip_accents)
        return strip_accents(cfg, st, cp, out);
    return emit_lowercased(cfg, cp, out);
}

int segstream_normalize_push(const segstream_normalizer_config *cfg, segstream_normalizer_state *st,
                             uint32_t cp, uint32_t *out)
{
    unsigned flags = segstream_uc_flags(cp);
    if (cfg->clean_text) {
        if (flags & SEGSTREAM_UC_DROP)
            return 0;
        if (flags & SEGSTREAM_UC_SPACE)
            cp = ' ';
    }
    if (cfg->handle_chinese_chars && (flags & SEGSTREAM_UC_CJK)) {
        int w = after_clean(cfg, st, ' ', out);
        w += after_clean(cfg, st, cp, out + w);
        w += after_clean(cfg, st, ' ', out + w);
        return w;
    }
    return after_clean(cfg, st, cp, out);
}

int segstream_normalize_flush(const segstream_normalizer_config *cfg,
                              segstream_normalizer_state *st, uint32_t *out)
{
    return flush_pending(cfg, st, out);
}
