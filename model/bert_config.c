/* bert_config.c - reads config.json, sentence_bert_config.json and 1_Pooling/config.json.
 *
 * Limits are generous (BERT-large and beyond fit) but finite, so that later
 * size arithmetic cannot overflow whatever a file says. */
#include "model/bert_config.h"
#include "model/json_file.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define DIM_MAX 65536

/* Reads an integer key in [lo, hi]; a missing optional key leaves *out unchanged. */
static int get_int(json_t *obj, const char *key, int required, long long lo, long long hi, int *out,
                   const char *path, segstream_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (!required)
            return 0;
        return segstream_err_set(err, "%s: missing \"%s\"", path, key);
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return segstream_err_set(err, "%s: \"%s\" must be an integer in [%lld, %lld]", path, key,
                                 lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_bool(json_t *obj, const char *key, int *out, const char *path, segstream_err *err)
{
    json_t *v = json_object_get(obj, key);
    *out = 0;
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return segstream_err_set(err, "%s: \"%s\" must be true or false", path, key);
    *out = json_is_true(v);
    return 0;
}

static int read_transformer(json_t *c, const char *path, segstream_bert_config *cfg, segstream_err *err)
{
    if (get_int(c, "hidden_size", 1, 1, DIM_MAX, &cfg->hidden_size, path, err) ||
        get_int(c, "num_hidden_layers", 1, 1, 1024, &cfg->num_layers, path, err) ||
        get_int(c, "num_attention_heads", 1, 1, 1024, &cfg->num_heads, path, err) ||
        get_int(c, "intermediate_size", 1, 1, 4 * DIM_MAX, &cfg->intermediate_size, path, err) ||
        get_int(c, "max_position_embeddings", 1, 2, DIM_MAX, &cfg->max_position, path, err) ||
        get_int(c, "type_vocab_size", 0, 1, DIM_MAX, &cfg->type_vocab_size, path, err) ||
        get_int(c, "vocab_size", 0, 1, 1 << 24, &cfg->vocab_size, path, err))
        return -1;
    if (cfg->hidden_size % cfg->num_heads)
        return segstream_err_set(err, "%s: hidden_size %d is not a multiple of num_attention_heads %d",
                                 path, cfg->hidden_size, cfg->num_heads);
    cfg->head_dim = cfg->hidden_size / cfg->num_heads;
    json_t *eps = json_object_get(c, "layer_norm_eps");
    if (eps) {
        if (!json_is_number(eps) || json_number_value(eps) <= 0 || json_number_value(eps) > 1)
            return segstream_err_set(err, "%s: \"layer_norm_eps\" must be a number in (0, 1]", path);
        cfg->layer_norm_eps = (float)json_number_value(eps);
    }
    json_t *act = json_object_get(c, "hidden_act");
    if (act && (!json_is_string(act) || strcmp(json_string_value(act), "gelu")))
        return segstream_err_set(err, "%s: \"hidden_act\" is %s; only \"gelu\" (erf) is supported",
                                 path, json_is_string(act) ? json_string_value(act) : "not a string");
    json_t *pos = json_object_get(c, "position_embedding_type");
    if (pos && (!json_is_string(pos) || strcmp(json_string_value(pos), "absolute")))
        return segstream_err_set(err, "%s: only \"position_embedding_type\": \"absolute\" is supported",
                                 path);
    return 0;
}

static int read_pooling(json_t *p, const char *path, segstream_bert_config *cfg, segstream_err *err)
{
    int mean, cls, max, sqrt_len;
    if (get_bool(p, "pooling_mode_mean_tokens", &mean, path, err) ||
        get_bool(p, "pooling_mode_cls_token", &cls, path, err) ||
        get_bool(p, "pooling_mode_max_tokens", &max, path, err) ||
        get_bool(p, "pooling_mode_mean_sqrt_len_tokens", &sqrt_len, path, err))
        return -1;
    if (mean + cls + max + sqrt_len != 1 || max || sqrt_len)
        return segstream_err_set(err, "%s: exactly one of pooling_mode_mean_tokens and "
                                      "pooling_mode_cls_token must be true (other modes are not supported)",
                                 path);
    cfg->pooling = cls ? SEGSTREAM_POOLING_CLS : SEGSTREAM_POOLING_MEAN;
    int dim = cfg->hidden_size;
    if (get_int(p, "word_embedding_dimension", 0, 1, DIM_MAX, &dim, path, err))
        return -1;
    if (dim != cfg->hidden_size)
        return segstream_err_set(err, "%s: word_embedding_dimension %d differs from hidden_size %d",
                                 path, dim, cfg->hidden_size);
    return 0;
}

int segstream_bert_config_load(const char *model_dir, segstream_bert_config *cfg, segstream_err *err)
{
    *cfg = (segstream_bert_config){.type_vocab_size = 2, .layer_norm_eps = 1e-12f,
                                   .pooling = SEGSTREAM_POOLING_MEAN};
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    json_t *c = segstream_json_file_load(path, 1, err);
    if (!c)
        return -1;
    int rc = read_transformer(c, path, cfg, err);
    json_decref(c);
    if (rc)
        return -1;

    cfg->max_seq_length = cfg->max_position;
    snprintf(path, sizeof path, "%s/sentence_bert_config.json", model_dir);
    json_t *s = segstream_json_file_load(path, 0, err);
    if (!s)
        return -1;
    rc = get_int(s, "max_seq_length", 0, 2, cfg->max_position, &cfg->max_seq_length, path, err);
    json_decref(s);
    if (rc)
        return -1;

    snprintf(path, sizeof path, "%s/1_Pooling/config.json", model_dir);
    json_t *p = segstream_json_file_load(path, 0, err);
    if (!p)
        return -1;
    rc = json_is_null(p) ? 0 : read_pooling(p, path, cfg, err);
    json_decref(p);
    return rc;
}
