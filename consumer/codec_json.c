/* codec_json.c - records <-> NDJSON with jansson, walking the field tables.
 * Parsing names the offending field in every error; writing repairs invalid
 * UTF-8 instead of failing, because a record must always be printable. */
#include "consumer/codec_json.h"

#include "consumer/record_fields.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp, min;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

char *segstream_utf8_repair(const char *s, size_t len, int *changed)
{
    if (changed)
        *changed = 0;
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc(3 * len + 1); /* each bad byte becomes at most 3 bytes */
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < len) {
        if (p[i] == 0) {
            i++;
            if (changed)
                *changed = 1;
            continue;
        }
        size_t n = utf8_sequence(p + i, len - i);
        if (n) {
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            if (changed)
                *changed = 1;
        }
    }
    out[o] = '\0';
    return out;
}

static json_t *json_text(const char *s)
{
    int changed;
    char *fixed = segstream_utf8_repair(s, strlen(s), &changed);
    if (!fixed)
        return NULL;
    json_t *j = json_string(fixed);
    free(fixed);
    return j;
}

static json_t *json_finite(double v, const char *field, segstream_err *err)
{
    if (!isfinite(v)) {
        segstream_err_set(err, "field %s: %g cannot be written as JSON", field, v);
        return NULL;
    }
    return json_real(v);
}

static json_t *field_to_json(const char *b, const segstream_field *f, segstream_err *err)
{
    size_t o = f->offset;
    switch (f->kind) {
    case SEGSTREAM_FIELD_STRING:
    case SEGSTREAM_FIELD_OPT_STRING: {
        const char *s = segstream_field_get_ptr(b, o);
        if (!s) {
            if (f->kind == SEGSTREAM_FIELD_OPT_STRING)
                return json_null();
            segstream_err_set(err, "field %s: required string is NULL", f->name);
            return NULL;
        }
        return json_text(s);
    }
    case SEGSTREAM_FIELD_INT:
        return json_integer(segstream_field_get_i32(b, o));
    case SEGSTREAM_FIELD_LONG:
        return json_integer(segstream_field_get_i64(b, o));
    case SEGSTREAM_FIELD_OPT_LONG:
        return segstream_field_get_bool(b, f->has_offset) ? json_integer(segstream_field_get_i64(b, o))
                                                          : json_null();
    case SEGSTREAM_FIELD_OPT_FLOAT:
        return segstream_field_get_bool(b, f->has_offset)
                   ? json_finite(segstream_field_get_f32(b, o), f->name, err)
                   : json_null();
    case SEGSTREAM_FIELD_DOUBLE:
        return json_finite(segstream_field_get_f64(b, o), f->name, err);
    case SEGSTREAM_FIELD_ENUM: {
        int v = segstream_field_get_enum(b, o);
        if (v < 0 || v >= f->symbol_count) {
            segstream_err_set(err, "field %s: %d is not a symbol of %s", f->name, v, f->enum_name);
            return NULL;
        }
        return json_string(f->symbols[v]);
    }
    case SEGSTREAM_FIELD_STRING_ARRAY: {
        char *const *items = segstream_field_get_ptr(b, o);
        size_t n = segstream_field_get_size(b, f->count_offset);
        json_t *a = json_array();
        for (size_t k = 0; a && k < n; k++) {
            if (!items || !items[k]) {
                segstream_err_set(err, "field %s[%zu]: string is NULL", f->name, k);
                json_decref(a);
                return NULL;
            }
            if (json_array_append_new(a, json_text(items[k])) < 0) {
                json_decref(a);
                a = NULL;
            }
        }
        return a;
    }
    case SEGSTREAM_FIELD_OPT_FLOAT_ARRAY: {
        if (!segstream_field_get_bool(b, f->has_offset))
            return json_null();
        const float *v = segstream_field_get_ptr(b, o);
        size_t n = segstream_field_get_size(b, f->count_offset);
        json_t *a = json_array();
        for (size_t k = 0; a && k < n; k++) {
            json_t *x = json_finite(v[k], f->name, err);
            if (!x || json_array_append_new(a, x) < 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    }
    return NULL;
}

char *segstream_record_to_json(const segstream_record *rec, segstream_err *err)
{
    const segstream_record_desc *desc = segstream_record_desc_of(rec->type);
    if (!desc) {
        segstream_err_set(err, "unknown record type %d", (int)rec->type);
        return NULL;
    }
    const char *b = segstream_record_body_const(rec);
    segstream_err local = {{0}}; /* a NULL from jansson without a message is out of memory */
    json_t *obj = json_object();
    for (size_t i = 0; obj && i < desc->field_count; i++) {
        json_t *v = field_to_json(b, &desc->fields[i], &local);
        if (!v || json_object_set_new(obj, desc->fields[i].name, v) < 0) {
            json_decref(obj);
            obj = NULL;
        }
    }
    char *line = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(obj);
    if (!line) {
        if (!local.message[0])
            segstream_err_set(&local, "out of memory");
        segstream_err_set(err, "%s: %s", desc->avro_name, local.message);
    }
    return line;
}

static int bad(segstream_err *err, const segstream_field *f, const char *what)
{
    return segstream_err_set(err, "field %s: %s", f->name, what);
}

static int string_from_json(json_t *v, const segstream_field *f, char **out, segstream_err *err)
{
    if (!json_is_string(v))
        return bad(err, f, "expected a string");
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (memchr(s, 0, n))
        return bad(err, f, "string contains a NUL character");
    if (!(*out = strdup(s)))
        return bad(err, f, "out of memory");
    return 0;
}

static int number_from_json(json_t *v, const segstream_field *f, double *out, segstream_err *err)
{
    if (!json_is_number(v))
        return bad(err, f, "expected a number");
    *out = json_number_value(v);
    return 0;
}

/* Stores each field into the record as soon as it is whole (see codec_body.c). */
static int field_from_json(json_t *v, const segstream_field *f, char *b, segstream_err *err)
{
    size_t o = f->offset;
    bool is_null = !v || json_is_null(v);
    switch (f->kind) {
    case SEGSTREAM_FIELD_OPT_STRING:
        if (is_null)
            return 0;
        /* fall through */
    case SEGSTREAM_FIELD_STRING: {
        if (!v)
            return bad(err, f, "missing");
        char *s;
        if (string_from_json(v, f, &s, err) < 0)
            return -1;
        segstream_field_set_ptr(b, o, s);
        return 0;
    }
    case SEGSTREAM_FIELD_INT:
        if (!json_is_integer(v))
            return bad(err, f, v ? "expected an integer" : "missing");
        if (json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX)
            return bad(err, f, "out of 32-bit range");
        segstream_field_set_i32(b, o, (int32_t)json_integer_value(v));
        return 0;
    case SEGSTREAM_FIELD_OPT_LONG:
        segstream_field_set_bool(b, f->has_offset, !is_null);
        if (is_null)
            return 0;
        /* fall through */
    case SEGSTREAM_FIELD_LONG:
        if (!json_is_integer(v))
            return bad(err, f, v ? "expected an integer" : "missing");
        segstream_field_set_i64(b, o, json_integer_value(v));
        return 0;
    case SEGSTREAM_FIELD_OPT_FLOAT: {
        segstream_field_set_bool(b, f->has_offset, !is_null);
        if (is_null)
            return 0;
        double d = 0;
        if (number_from_json(v, f, &d, err) < 0)
            return -1;
        segstream_field_set_f32(b, o, (float)d);
        return 0;
    }
    case SEGSTREAM_FIELD_DOUBLE: {
        if (!v)
            return bad(err, f, "missing");
        double d = 0;
        if (number_from_json(v, f, &d, err) < 0)
            return -1;
        segstream_field_set_f64(b, o, d);
        return 0;
    }
    case SEGSTREAM_FIELD_ENUM: {
        if (!json_is_string(v))
            return bad(err, f, v ? "expected a symbol string" : "missing");
        for (int k = 0; k < f->symbol_count; k++)
            if (!strcmp(json_string_value(v), f->symbols[k])) {
                segstream_field_set_enum(b, o, k);
                return 0;
            }
        return segstream_err_set(err, "field %s: \"%.64s\" is not a symbol of %s", f->name,
                                 json_string_value(v), f->enum_name);
    }
    case SEGSTREAM_FIELD_STRING_ARRAY: {
        if (!json_is_array(v))
            return bad(err, f, v ? "expected an array of strings" : "missing");
        size_t n = json_array_size(v);
        char **items = n ? calloc(n, sizeof *items) : NULL;
        if (n && !items)
            return bad(err, f, "out of memory");
        segstream_field_set_ptr(b, o, items);
        for (size_t k = 0; k < n; k++) {
            if (string_from_json(json_array_get(v, k), f, &items[k], err) < 0) {
                segstream_field_set_size(b, f->count_offset, k);
                return segstream_err_prefix(err, "item %zu", k);
            }
        }
        segstream_field_set_size(b, f->count_offset, n);
        return 0;
    }
    case SEGSTREAM_FIELD_OPT_FLOAT_ARRAY: {
        segstream_field_set_bool(b, f->has_offset, !is_null);
        if (is_null)
            return 0;
        if (!json_is_array(v))
            return bad(err, f, "expected an array of numbers or null");
        size_t n = json_array_size(v);
        float *items = n ? malloc(n * sizeof *items) : NULL;
        if (n && !items)
            return bad(err, f, "out of memory");
        segstream_field_set_ptr(b, o, items);
        for (size_t k = 0; k < n; k++) {
            double d = 0;
            if (number_from_json(json_array_get(v, k), f, &d, err) < 0)
                return segstream_err_prefix(err, "item %zu", k);
            items[k] = (float)d;
        }
        segstream_field_set_size(b, f->count_offset, n);
        return 0;
    }
    }
    return bad(err, f, "unknown field kind");
}

int segstream_record_from_json(segstream_record_type type, const char *json, size_t len,
                               segstream_record *out, segstream_err *err)
{
    segstream_record_init(out, type);
    const segstream_record_desc *desc = segstream_record_desc_of(type);
    if (!desc)
        return segstream_err_set(err, "unknown record type %d", (int)type);
    json_error_t jerr;
    json_t *obj = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!obj)
        return segstream_err_set(err, "%s: invalid JSON at column %d: %s", desc->avro_name, jerr.column,
                                 jerr.text);
    int rc = 0;
    if (!json_is_object(obj))
        rc = segstream_err_set(err, "expected a JSON object");
    for (size_t i = 0; rc == 0 && i < desc->field_count; i++)
        rc = field_from_json(json_object_get(obj, desc->fields[i].name), &desc->fields[i],
                             segstream_record_body(out), err);
    json_decref(obj);
    if (rc < 0) {
        segstream_err_prefix(err, "%s", desc->avro_name);
        segstream_record_clear(out);
    }
    return rc;
}
