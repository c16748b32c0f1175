/* synthetic_model.c - a random-weight BERT folder written with st_writer. */
#include "synthetic_model.h"

#include "st_writer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct builder {
    const synthetic_model *m;
    st_tensor *t;
    size_t n, cap;
    uint64_t rng;
    char **names;
};

static float uniform(struct builder *b)
{
    b->rng = b->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((b->rng >> 40) & 0xffffff) / (float)0x1000000 - 0.5f;
}

/* kind 0: random * 0.08, 1: all ones (LayerNorm gamma), 2: zeros */
static int add(struct builder *b, const char *name, int ndim, int64_t d0, int64_t d1, int kind)
{
    if (b->m->omit && !strcmp(name, b->m->omit))
        return 0;
    if (b->m->wrong_shape && !strcmp(name, b->m->wrong_shape))
        d0++;
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->t = realloc(b->t, b->cap * sizeof *b->t);
        b->names = realloc(b->names, b->cap * sizeof *b->names);
    }
    size_t count = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    const char *dtype = "F32";
    if (b->m->mixed_dtypes && ndim == 2)
        dtype = (b->n % 3 == 0) ? "F16" : (b->n % 3 == 1) ? "BF16" : "F32";
    size_t esize = strcmp(dtype, "F32") ? 2 : 4;
    unsigned char *data = malloc(count * esize);
    for (size_t i = 0; i < count; i++) {
        float v = kind == 1 ? 1.0f : kind == 2 ? 0.0f : 0.08f * uniform(b);
        if (esize == 4) {
            memcpy(data + 4 * i, &v, 4);
        } else {
            uint16_t h = !strcmp(dtype, "F16") ? st_f32_to_f16(v) : st_f32_to_bf16(v);
            memcpy(data + 2 * i, &h, 2);
        }
    }
    char *full = malloc(strlen(b->m->prefix) + strlen(name) + 1);
    strcpy(full, b->m->prefix);
    strcat(full, name);
    b->names[b->n] = full;
    b->t[b->n++] = (st_tensor){full, dtype, ndim, {d0, ndim == 2 ? d1 : 0}, data, count * esize};
    return 0;
}

static int write_text(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return st_write_raw(path, text, strlen(text));
}

static int copy_vocab(const char *dir, const char *from, int lines)
{
    FILE *in = fopen(from, "r");
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    FILE *out = fopen(path, "w");
    if (!in || !out) {
        if (in)
            fclose(in);
        if (out)
            fclose(out);
        return -1;
    }
    char line[1024];
    for (int i = 0; i < lines && fgets(line, sizeof line, in); i++)
        fputs(line, out);
    fclose(in);
    return fclose(out);
}

int synthetic_model_write(const char *dir, const synthetic_model *m)
{
    struct builder b = {.m = m, .rng = 42};
    const int64_t h = m->hidden, f = m->ffn;
    add(&b, "embeddings.word_embeddings.weight", 2, m->vocab, h, 0);
    add(&b, "embeddings.position_embeddings.weight", 2, m->max_position, h, 0);
    add(&b, "embeddings.token_type_embeddings.weight", 2, 2, h, 0);
    add(&b, "embeddings.LayerNorm.weight", 1, h, 0, 1);
    add(&b, "embeddings.LayerNorm.bias", 1, h, 0, 2);
    for (int l = 0; l < m->layers; l++) {
        static const struct {
            const char *name;
            int ndim, d0, d1, kind; /* d0/d1: 0 = h, 1 = f */
        } parts[] = {
            {"attention.self.query.weight", 2, 0, 0, 0}, {"attention.self.query.bias", 1, 0, 0, 0},
            {"attention.self.key.weight", 2, 0, 0, 0},   {"attention.self.key.bias", 1, 0, 0, 0},
            {"attention.self.value.weight", 2, 0, 0, 0}, {"attention.self.value.bias", 1, 0, 0, 0},
            {"attention.output.dense.weight", 2, 0, 0, 0}, {"attention.output.dense.bias", 1, 0, 0, 0},
            {"attention.output.LayerNorm.weight", 1, 0, 0, 1}, {"attention.output.LayerNorm.bias", 1, 0, 0, 2},
            {"intermediate.dense.weight", 2, 1, 0, 0},   {"intermediate.dense.bias", 1, 1, 0, 0},
            {"output.dense.weight", 2, 0, 1, 0},         {"output.dense.bias", 1, 0, 0, 0},
            {"output.LayerNorm.weight", 1, 0, 0, 1},     {"output.LayerNorm.bias", 1, 0, 0, 2},
        };
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
            char name[128];
            snprintf(name, sizeof name, "encoder.layer.%d.%s", l, parts[i].name);
            add(&b, name, parts[i].ndim, parts[i].d0 ? f : h, parts[i].d1 ? f : h, parts[i].kind);
        }
    }
    char path[4096], config[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = st_write(path, b.t, b.n);
    for (size_t i = 0; i < b.n; i++) {
        free((void *)b.t[i].data);
        free(b.names[i]);
    }
    free(b.t);
    free(b.names);
    snprintf(config, sizeof config,
             "{\"architectures\": [\"BertModel\"], \"hidden_act\": \"gelu\", \"hidden_size\": %d, "
             "\"intermediate_size\": %d, \"layer_norm_eps\": 1e-12, \"max_position_embeddings\": %d, "
             "\"model_type\": \"bert\", \"num_attention_heads\": %d, \"num_hidden_layers\": %d, "
             "\"type_vocab_size\": 2, \"vocab_size\": %d}",
             m->hidden, m->ffn, m->max_position, m->heads, m->layers, m->vocab);
    rc |= write_text(dir, "config.json", config);
    rc |= write_text(dir, "tokenizer_config.json", "{\"do_lower_case\": true}");
    if (m->vocab_from)
        rc |= copy_vocab(dir, m->vocab_from, m->vocab);
    if (m->cls_pooling) {
        snprintf(path, sizeof path, "%s/1_Pooling", dir);
        mkdir(path, 0755);
        snprintf(config, sizeof config,
                 "{\"word_embedding_dimension\": %d, \"pooling_mode_cls_token\": true, "
                 "\"pooling_mode_mean_tokens\": false}",
                 m->hidden);
        rc |= write_text(dir, "1_Pooling/config.json", config);
    }
    return rc ? -1 : 0;
}
