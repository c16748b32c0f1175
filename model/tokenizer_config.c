/* tokenizer_config.c - reads the tokenizer's JSON files with jansson (see
 * tokenizer_config.h). Special tokens may be plain strings or, in newer
 * folders, objects {"content": "[SEP]", ...}. */
#include "model/tokenizer_config.h"
#include "model/json_file.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static int read_bool(json_t *root, const char *key, bool fallback, bool *out, const char *file,
                     segstream_err *err)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        *out = fallback;
    else if (json_is_boolean(v))
        *out = json_is_true(v);
    else
        return segstream_err_set(err, "%s: \"%s\" must be true, false or null", file, key);
    return 0;
}

/* Copies a special token (string or {"content": ...}) into out; 0 if absent. */
static int read_token(json_t *v, char out[SEGSTREAM_TOKENIZER_SPECIAL_LEN], const char *file,
                      const char *key, segstream_err *err)
{
    if (json_is_object(v))
        v = json_object_get(v, "content");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) >= SEGSTREAM_TOKENIZER_SPECIAL_LEN)
        return segstream_err_set(err, "%s: \"%s\" must be a non-empty string of under %d bytes", file,
                                 key, SEGSTREAM_TOKENIZER_SPECIAL_LEN);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 1;
}

static int add_special(segstream_tokenizer_config *cfg, json_t *v, const char *file, const char *key,
                       char *also, segstream_err *err)
{
    char token[SEGSTREAM_TOKENIZER_SPECIAL_LEN];
    int r = read_token(v, token, file, key, err);
    if (r <= 0)
        return r;
    if (also)
        memcpy(also, token, sizeof token);
    for (int i = 0; i < cfg->nspecial; i++)
        if (!strcmp(cfg->special[i], token))
            return 0;
    if (cfg->nspecial == SEGSTREAM_TOKENIZER_SPECIAL_MAX)
        return segstream_err_set(err, "%s: more than %d special tokens", file,
                                 SEGSTREAM_TOKENIZER_SPECIAL_MAX);
    memcpy(cfg->special[cfg->nspecial++], token, sizeof token);
    return 0;
}

static int read_tokenizer_config(const char *dir, segstream_tokenizer_config *cfg, segstream_err *err)
{
    char file[4096];
    snprintf(file, sizeof file, "%s/tokenizer_config.json", dir);
    json_t *root = segstream_json_file_load(file, 1, err);
    if (!root)
        return -1;
    int rc = -1;
    if (read_bool(root, "do_lower_case", true, &cfg->lowercase, file, err) < 0 ||
        read_bool(root, "strip_accents", cfg->lowercase, &cfg->strip_accents, file, err) < 0 ||
        read_bool(root, "tokenize_chinese_chars", true, &cfg->handle_chinese_chars, file, err) < 0)
        goto out;
    strcpy(cfg->unk, "[UNK]");
    strcpy(cfg->cls, "[CLS]");
    strcpy(cfg->sep, "[SEP]");
    static const char *const keys[] = {"unk_token", "sep_token", "pad_token", "cls_token", "mask_token"};
    char *targets[] = {cfg->unk, cfg->sep, NULL, cfg->cls, NULL};
    static const char *const fallback[] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(root, keys[i]);
        json_t *dflt = NULL;
        if (!v) /* absent key: BertTokenizer's default applies */
            v = dflt = json_string(fallback[i]);
        int r = add_special(cfg, v, file, keys[i], targets[i], err);
        json_decref(dflt);
        if (r < 0)
            goto out;
    }
    json_t *extra = json_object_get(root, "additional_special_tokens");
    if (json_is_array(extra)) {
        size_t i;
        json_t *v;
        json_array_foreach(extra, i, v) {
            if (add_special(cfg, v, file, "additional_special_tokens", NULL, err) < 0)
                goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static int read_max_seq_length(const char *dir, segstream_tokenizer_config *cfg, segstream_err *err)
{
    char file[4096];
    snprintf(file, sizeof file, "%s/sentence_bert_config.json", dir);
    json_t *root = segstream_json_file_load(file, 1, err);
    if (!root)
        return -1;
    json_t *v = json_object_get(root, "max_seq_length");
    int rc = 0;
    if (!json_is_integer(v) || json_integer_value(v) < 2 || json_integer_value(v) > 1 << 20)
        rc = segstream_err_set(err, "%s: \"max_seq_length\" must be an integer in 2..%d", file,
                               1 << 20);
    else
        cfg->max_seq_length = (int)json_integer_value(v);
    json_decref(root);
    return rc;
}

int segstream_tokenizer_config_load(const char *model_dir, bool read_max_seq_length_file,
                                    segstream_tokenizer_config *cfg, segstream_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    if (read_tokenizer_config(model_dir, cfg, err) < 0)
        return -1;
    if (read_max_seq_length_file && read_max_seq_length(model_dir, cfg, err) < 0)
        return -1;
    return 0;
}
