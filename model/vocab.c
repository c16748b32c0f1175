/* vocab.c - vocab.txt in an open-addressing hash table (see vocab.h).
 * All token text lives in one pool (the file's bytes, lines NUL-terminated in
 * place); slots hold a hash, the id and the key's place in the pool. */
#include "model/vocab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vocab_slot {
    uint32_t hash;
    int32_t id;       /* -1: empty slot */
    uint32_t offset;  /* key bytes in the pool ("##" already skipped) */
    uint32_t length;
} vocab_slot;

struct segstream_vocab {
    char *pool;           /* the file's bytes, each line NUL-terminated */
    uint32_t *token_offset; /* id -> token text in pool */
    int size;
    vocab_slot *slots;
    uint32_t mask;        /* slot count - 1 */
    size_t max_piece;
};

#define CONTINUATION_SEED 0x9E3779B9u

static uint32_t hash_bytes(bool continuation, const char *s, size_t len)
{
    uint32_t h = continuation ? 2166136261u ^ CONTINUATION_SEED : 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h ^ (h >> 15);
}

static bool split_key(const char *token, size_t len, const char **key, size_t *key_len)
{
    if (len > 2 && token[0] == '#' && token[1] == '#') {
        *key = token + 2;
        *key_len = len - 2;
        return true;
    }
    *key = token;
    *key_len = len;
    return false;
}

static vocab_slot *probe(const segstream_vocab *v, uint32_t hash, bool continuation, const char *s,
                         size_t len)
{
    for (uint32_t i = hash & v->mask;; i = (i + 1) & v->mask) {
        vocab_slot *slot = &v->slots[i];
        if (slot->id < 0)
            return slot;
        if (slot->hash == hash && slot->length == len) {
            const char *token = v->pool + v->token_offset[slot->id];
            bool cont = v->pool + slot->offset != token;
            if (cont == continuation && memcmp(v->pool + slot->offset, s, len) == 0)
                return slot;
        }
    }
}

static int read_file(const char *path, char **data, size_t *size, segstream_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return segstream_err_set(err, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *bigger = realloc(buf, 2 * cap + 1);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int failed = !buf || ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return segstream_err_set(err, "%s: read failed", path);
    }
    buf[n] = '\0';
    *data = buf;
    *size = n;
    return 0;
}

segstream_vocab *segstream_vocab_load(const char *path, segstream_err *err)
{
    char *data = NULL;
    size_t size = 0;
    if (read_file(path, &data, &size, err) < 0)
        return NULL;
    segstream_vocab *v = calloc(1, sizeof *v);
    if (!v) {
        free(data);
        segstream_err_set(err, "%s: out of memory", path);
        return NULL;
    }
    v->pool = data;
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    if (size > 0 && data[size - 1] != '\n')
        lines++;
    if (lines == 0 || lines > INT32_MAX / 4 || size > UINT32_MAX) {
        segstream_vocab_free(v);
        segstream_err_set(err, "%s: %s", path, lines == 0 ? "empty vocabulary" : "too large");
        return NULL;
    }
    uint32_t slots = 16;
    while (slots < 2 * lines)
        slots *= 2;
    v->token_offset = malloc(lines * sizeof *v->token_offset);
    v->slots = malloc(slots * sizeof *v->slots);
    if (!v->token_offset || !v->slots) {
        segstream_vocab_free(v);
        segstream_err_set(err, "%s: out of memory", path);
        return NULL;
    }
    for (uint32_t i = 0; i < slots; i++)
        v->slots[i].id = -1;
    v->mask = slots - 1;
    size_t pos = 0;
    for (int id = 0; pos < size; id++) {
        char *line = data + pos;
        char *nl = memchr(line, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - line) : size - pos;
        pos += len + 1;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        line[len] = '\0';
        v->token_offset[id] = (uint32_t)(line - data);
        v->size = id + 1;
        const char *key;
        size_t key_len;
        bool cont = split_key(line, len, &key, &key_len);
        uint32_t h = hash_bytes(cont, key, key_len);
        vocab_slot *slot = probe(v, h, cont, key, key_len);
        slot->hash = h;
        slot->id = id; /* a repeated token takes the later id */
        slot->offset = (uint32_t)(key - data);
        slot->length = (uint32_t)key_len;
        if (key_len > v->max_piece)
            v->max_piece = key_len;
    }
    return v;
}

void segstream_vocab_free(segstream_vocab *v)
{
    if (!v)
        return;
    free(v->pool);
    free(v->token_offset);
    free(v->slots);
    free(v);
}

int32_t segstream_vocab_find(const segstream_vocab *v, bool continuation, const char *s, size_t len)
{
    return probe(v, hash_bytes(continuation, s, len), continuation, s, len)->id;
}

int32_t segstream_vocab_id(const segstream_vocab *v, const char *token)
{
    const char *key;
    size_t key_len;
    bool cont = split_key(token, strlen(token), &key, &key_len);
    return segstream_vocab_find(v, cont, key, key_len);
}

int segstream_vocab_size(const segstream_vocab *v)
{
    return v->size;
}

const char *segstream_vocab_token(const segstream_vocab *v, int32_t id)
{
    return id >= 0 && id < v->size ? v->pool + v->token_offset[id] : NULL;
}

size_t segstream_vocab_max_piece_bytes(const segstream_vocab *v)
{
    return v->max_piece;
}
