/* pretokenize.c - whitespace/punctuation splitting of normalized text (see
 * pretokenize.h). Classes come from the generated Unicode tables: Rust's
 * char::is_whitespace, and ASCII punctuation or Unicode P* for punctuation. */
#include "model/pretokenize.h"

#include "model/unicode_tables.h"
#include "model/utf8.h"

#include <stdlib.h>
#include <string.h>

void segstream_pretokenizer_init(segstream_pretokenizer *p, size_t keep_chars, segstream_word_sink sink,
                                 void *ctx)
{
    p->buf = p->inline_buf;
    p->len = 0;
    p->cap = sizeof p->inline_buf;
    p->nchars = 0;
    p->keep_chars = keep_chars;
    p->sink = sink;
    p->ctx = ctx;
}

void segstream_pretokenizer_free(segstream_pretokenizer *p)
{
    if (p->buf != p->inline_buf)
        free(p->buf);
    p->buf = p->inline_buf;
    p->cap = sizeof p->inline_buf;
}

int segstream_pretokenize_end(segstream_pretokenizer *p)
{
    if (p->nchars == 0)
        return 0;
    int r = p->sink(p->ctx, p->buf, p->len, p->nchars);
    p->len = 0;
    p->nchars = 0;
    return r;
}

static int append(segstream_pretokenizer *p, uint32_t cp)
{
    p->nchars++;
    if (p->keep_chars && p->nchars > p->keep_chars)
        return 0;
    if (p->cap - p->len < 4) {
        size_t cap = 2 * p->cap;
        char *bigger = p->buf == p->inline_buf ? malloc(cap) : realloc(p->buf, cap);
        if (!bigger)
            return -1;
        if (p->buf == p->inline_buf)
            memcpy(bigger, p->inline_buf, p->len);
        p->buf = bigger;
        p->cap = cap;
    }
    p->len += (size_t)segstream_utf8_encode(cp, p->buf + p->len);
    return 0;
}

int segstream_pretokenize_push(segstream_pretokenizer *p, uint32_t cp)
{
    unsigned flags = segstream_uc_flags(cp);
    if (flags & SEGSTREAM_UC_WS)
        return segstream_pretokenize_end(p);
    if (flags & SEGSTREAM_UC_PUNCT) {
        int r = segstream_pretokenize_end(p);
        if (r)
            return r;
        append(p, cp); /* one character always fits the inline buffer */
        return segstream_pretokenize_end(p);
    }
    return append(p, cp);
}
