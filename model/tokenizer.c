/* tokenizer.c - the BERT tokenizer pipeline (see tokenizer.h).
 *
 * One pass over the bytes, nothing materialised: decode a code point, cut
 * the text at special tokens written in it (matched on the raw text, leftmost
 * then longest, as Hugging Face's added-token matcher does), normalize,
 * pre-tokenize, and run WordPiece on each finished word. Encoding stops as
 * soon as max_tokens ids are known, so a huge text costs no more than its
 * first few hundred words. */
#include "model/tokenizer.h"

#include "model/normalize.h"
#include "model/pretokenize.h"
#include "model/tokenizer_config.h"
#include "model/utf8.h"
#include "model/vocab.h"
#include "model/wordpiece.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Hugging Face's WordPiece default max_input_chars_per_word. */
#define MAX_CHARS_PER_WORD 100

typedef struct special_token {
    char text[SEGSTREAM_TOKENIZER_SPECIAL_LEN];
    size_t len;
    int32_t id;
} special_token;

struct segstream_tokenizer {
    segstream_vocab *vocab;
    segstream_normalizer_config norm;
    int max_tokens;
    int32_t unk_id, cls_id, sep_id;
    special_token special[SEGSTREAM_TOKENIZER_SPECIAL_MAX];
    int nspecial;
    unsigned char special_first[256]; /* 1: some special token starts with this byte */
};

segstream_tokenizer_options segstream_tokenizer_default_options(void)
{
    segstream_tokenizer_options opt = {.max_tokens = 0};
    return opt;
}

static int32_t required_id(const segstream_vocab *vocab, const char *token, const char *vocab_path,
                           segstream_err *err)
{
    int32_t id = segstream_vocab_id(vocab, token);
    if (id < 0)
        segstream_err_set(err, "%s: special token %s is missing", vocab_path, token);
    return id;
}

segstream_tokenizer *segstream_tokenizer_open(const char *model_dir, const segstream_tokenizer_options *opt,
                                              segstream_err *err)
{
    segstream_tokenizer_options o = opt ? *opt : segstream_tokenizer_default_options();
    if (o.max_tokens != 0 && o.max_tokens < 2) {
        segstream_err_set(err, "tokenizer: max_tokens %d must be 0 (from the model) or >= 2", o.max_tokens);
        return NULL;
    }
    segstream_tokenizer_config cfg;
    if (segstream_tokenizer_config_load(model_dir, o.max_tokens == 0, &cfg, err) < 0)
        return NULL;
    segstream_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        segstream_err_set(err, "tokenizer: out of memory");
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", model_dir);
    tok->vocab = segstream_vocab_load(path, err);
    if (!tok->vocab)
        goto fail;
    tok->norm = (segstream_normalizer_config){
        .clean_text = true,
        .handle_chinese_chars = cfg.handle_chinese_chars,
        .strip_accents = cfg.strip_accents,
        .lowercase = cfg.lowercase,
    };
    tok->max_tokens = o.max_tokens ? o.max_tokens : cfg.max_seq_length;
    if ((tok->unk_id = required_id(tok->vocab, cfg.unk, path, err)) < 0 ||
        (tok->cls_id = required_id(tok->vocab, cfg.cls, path, err)) < 0 ||
        (tok->sep_id = required_id(tok->vocab, cfg.sep, path, err)) < 0)
        goto fail;
    for (int i = 0; i < cfg.nspecial; i++) {
        int32_t id = segstream_vocab_id(tok->vocab, cfg.special[i]);
        if (id < 0)
            continue; /* not in the vocabulary: nothing to emit for it */
        special_token *s = &tok->special[tok->nspecial++];
        memcpy(s->text, cfg.special[i], sizeof s->text);
        s->len = strlen(s->text);
        s->id = id;
        tok->special_first[(unsigned char)s->text[0]] = 1;
    }
    return tok;
fail:
    segstream_tokenizer_close(tok);
    return NULL;
}

void segstream_tokenizer_close(segstream_tokenizer *tok)
{
    if (!tok)
        return;
    segstream_vocab_free(tok->vocab);
    free(tok);
}

int segstream_tokenizer_max_tokens(const segstream_tokenizer *tok)
{
    return tok->max_tokens;
}

int segstream_tokenizer_vocab_size(const segstream_tokenizer *tok)
{
    return segstream_vocab_size(tok->vocab);
}

const char *segstream_tokenizer_token(const segstream_tokenizer *tok, int32_t id)
{
    return segstream_vocab_token(tok->vocab, id);
}

/* The longest special token starting at text[0..len), or NULL. */
static const special_token *match_special(const segstream_tokenizer *tok, const char *text, size_t len)
{
    const special_token *best = NULL;
    for (int i = 0; i < tok->nspecial; i++) {
        const special_token *s = &tok->special[i];
        if (s->len <= len && (!best || s->len > best->len) && memcmp(text, s->text, s->len) == 0)
            best = s;
    }
    return best;
}

/* What the driver does with special tokens found in the text. */
typedef int (*special_sink)(void *ctx, const special_token *s);

/* The single pass shared by encode and words. Returns 0 at the end of the
 * text, or the first nonzero result of a sink (1: stop, -1: error). */
static int run(const segstream_tokenizer *tok, const char *text, size_t len, segstream_pretokenizer *pre,
               special_sink on_special, void *ctx)
{
    const unsigned char *s = (const unsigned char *)text;
    segstream_normalizer_state st;
    segstream_normalizer_reset(&st);
    uint32_t out[SEGSTREAM_NORM_OUT_MAX];
    size_t pos = 0;
    int r;
    while (pos < len) {
        const special_token *special;
        if (tok->special_first[s[pos]] && (special = match_special(tok, text + pos, len - pos))) {
            int n = segstream_normalize_flush(&tok->norm, &st, out);
            for (int i = 0; i < n; i++)
                if ((r = segstream_pretokenize_push(pre, out[i])))
                    return r;
            if ((r = segstream_pretokenize_end(pre)) || (r = on_special(ctx, special)))
                return r;
            pos += special->len;
            continue;
        }
        uint32_t cp = s[pos] < 0x80 ? s[pos++] : segstream_utf8_decode(s, len, &pos);
        int n = segstream_normalize_push(&tok->norm, &st, cp, out);
        for (int i = 0; i < n; i++)
            if ((r = segstream_pretokenize_push(pre, out[i])))
                return r;
    }
    int n = segstream_normalize_flush(&tok->norm, &st, out);
    for (int i = 0; i < n; i++)
        if ((r = segstream_pretokenize_push(pre, out[i])))
            return r;
    return segstream_pretokenize_end(pre);
}

/* Encoding: ids[0] is [CLS]; pieces go to ids[1..]; [SEP] is added last. */
typedef struct encode_ctx {
    const segstream_tokenizer *tok;
    int32_t *ids;
    int cap;
    int limit; /* pieces that fit max_tokens */
    int n;     /* pieces so far (counted even past cap, to report the need) */
} encode_ctx;

static int add_piece(encode_ctx *c, int32_t id)
{
    if (c->n + 2 <= c->cap) /* room for it and the [SEP] after it */
        c->ids[1 + c->n] = id;
    c->n++;
    return c->n == c->limit;
}

static int encode_word(void *ctx, const char *word, size_t len, size_t nchars)
{
    encode_ctx *c = ctx;
    int32_t pieces[SEGSTREAM_PRETOK_INLINE];
    int n = segstream_wordpiece(c->tok->vocab, word, len, nchars, MAX_CHARS_PER_WORD, c->tok->unk_id,
                                pieces, SEGSTREAM_PRETOK_INLINE);
    for (int i = 0; i < n; i++)
        if (add_piece(c, pieces[i]))
            return 1;
    return 0;
}

static int encode_special(void *ctx, const special_token *s)
{
    return add_piece(ctx, s->id);
}

int segstream_tokenizer_encode(const segstream_tokenizer *tok, const char *text, size_t len, int32_t *ids,
                               int cap, segstream_err *err)
{
    if (cap < 2)
        return segstream_err_set(err, "tokenizer: the ids buffer holds %d ids, at least 2 are needed", cap);
    encode_ctx c = {.tok = tok, .ids = ids, .cap = cap, .limit = tok->max_tokens - 2, .n = 0};
    ids[0] = tok->cls_id;
    if (c.limit > 0) {
        segstream_pretokenizer pre;
        segstream_pretokenizer_init(&pre, MAX_CHARS_PER_WORD + 1, encode_word, &c);
        run(tok, text, len, &pre, encode_special, &c); /* cannot fail: fixed buffers only */
    }
    if (c.n + 2 > cap)
        return segstream_err_set(err, "tokenizer: the ids buffer holds %d ids, this text needs %d", cap,
                                 c.n + 2);
    ids[1 + c.n] = tok->sep_id;
    return c.n + 2;
}

typedef struct words_ctx {
    void (*fn)(const char *word, size_t len, void *user);
    void *user;
} words_ctx;

static int words_word(void *ctx, const char *word, size_t len, size_t nchars)
{
    (void)nchars;
    words_ctx *c = ctx;
    c->fn(word, len, c->user);
    return 0;
}

static int words_special(void *ctx, const special_token *s)
{
    words_ctx *c = ctx;
    c->fn(s->text, s->len, c->user);
    return 0;
}

int segstream_tokenizer_words(const segstream_tokenizer *tok, const char *text, size_t len,
                              void (*fn)(const char *word, size_t len, void *user), void *user,
                              segstream_err *err)
{
    words_ctx c = {.fn = fn, .user = user};
    segstream_pretokenizer pre;
    segstream_pretokenizer_init(&pre, 0, words_word, &c);
    int r = run(tok, text, len, &pre, words_special, &c);
    segstream_pretokenizer_free(&pre);
    if (r < 0)
        return segstream_err_set(err, "tokenizer: out of memory while splitting a text into words");
    return 0;
}
