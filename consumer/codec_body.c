/* codec_body.c - the Avro binary body of a record, encoded and decoded by
 * walking its field table. Decoding goes through the bounded reader of
 * avro_binary.c and frees whatever it had built when a field fails. */
#include "consumer/codec.h"

#include "consumer/codec_internal.h"
#include "consumer/record_fields.h"

#include <stdlib.h>
#include <string.h>

/* Union branch of ["null", T]: 0 = null, 1 = T. */
#define BRANCH_NULL 0
#define BRANCH_VALUE 1

int segstream_codec_encode_body(const segstream_record *rec, segstream_buf *out, segstream_err *err)
{
    const segstream_record_desc *desc = segstream_record_desc_of(rec->type);
    if (!desc)
        return segstream_err_set(err, "unknown record type %d", (int)rec->type);
    const char *b = segstream_record_body_const(rec);
    for (size_t i = 0; i < desc->field_count; i++) {
        const segstream_field *f = &desc->fields[i];
        size_t o = f->offset;
        switch (f->kind) {
        case SEGSTREAM_FIELD_STRING: {
            const char *s = segstream_field_get_ptr(b, o);
            if (!s)
                return segstream_err_set(err, "%s.%s: required string is NULL", desc->avro_name, f->name);
            segstream_avro_put_string(out, s);
            break;
        }
        case SEGSTREAM_FIELD_OPT_STRING: {
            const char *s = segstream_field_get_ptr(b, o);
            segstream_avro_put_long(out, s ? BRANCH_VALUE : BRANCH_NULL);
            if (s)
                segstream_avro_put_string(out, s);
            break;
        }
        case SEGSTREAM_FIELD_INT:
            segstream_avro_put_long(out, segstream_field_get_i32(b, o));
            break;
        case SEGSTREAM_FIELD_LONG:
            segstream_avro_put_long(out, segstream_field_get_i64(b, o));
            break;
        case SEGSTREAM_FIELD_OPT_LONG: {
            bool has = segstream_field_get_bool(b, f->has_offset);
            segstream_avro_put_long(out, has ? BRANCH_VALUE : BRANCH_NULL);
            if (has)
                segstream_avro_put_long(out, segstream_field_get_i64(b, o));
            break;
        }
        case SEGSTREAM_FIELD_OPT_FLOAT: {
            bool has = segstream_field_get_bool(b, f->has_offset);
            segstream_avro_put_long(out, has ? BRANCH_VALUE : BRANCH_NULL);
            if (has)
                segstream_avro_put_float(out, segstream_field_get_f32(b, o));
            break;
        }
        case SEGSTREAM_FIELD_DOUBLE:
            segstream_avro_put_double(out, segstream_field_get_f64(b, o));
            break;
        case SEGSTREAM_FIELD_ENUM: {
            int v = segstream_field_get_enum(b, o);
            if (v < 0 || v >= f->symbol_count)
                return segstream_err_set(err, "%s.%s: enum value %d is not a symbol of %s",
                                         desc->avro_name, f->name, v, f->enum_name);
            segstream_avro_put_long(out, v);
            break;
        }
        case SEGSTREAM_FIELD_STRING_ARRAY: {
            char *const *items = segstream_field_get_ptr(b, o);
            size_t n = segstream_field_get_size(b, f->count_offset);
            if (n) { /* one block, then the 0 terminator */
                segstream_avro_put_long(out, (int64_t)n);
                for (size_t k = 0; k < n; k++) {
                    if (!items || !items[k])
                        return segstream_err_set(err, "%s.%s[%zu]: string is NULL", desc->avro_name,
                                                 f->name, k);
                    segstream_avro_put_string(out, items[k]);
                }
            }
            segstream_avro_put_long(out, 0);
            break;
        }
        case SEGSTREAM_FIELD_OPT_FLOAT_ARRAY: {
            bool has = segstream_field_get_bool(b, f->has_offset);
            const float *v = segstream_field_get_ptr(b, o);
            size_t n = segstream_field_get_size(b, f->count_offset);
            segstream_avro_put_long(out, has ? BRANCH_VALUE : BRANCH_NULL);
            if (!has)
                break;
            if (n && !v)
                return segstream_err_set(err, "%s.%s: %zu floats but no array", desc->avro_name, f->name, n);
            if (n) {
                segstream_avro_put_long(out, (int64_t)n);
                for (size_t k = 0; k < n; k++)
                    segstream_avro_put_float(out, v[k]);
            }
            segstream_avro_put_long(out, 0);
            break;
        }
        }
    }
    if (out->oom)
        return segstream_err_set(err, "%s: out of memory while encoding", desc->avro_name);
    return 0;
}

/* Appends the blocks of an array field, growing *items as blocks come. */
static int get_string_array(segstream_avro_reader *r, const char *field, char ***items, size_t *count)
{
    for (;;) {
        size_t n;
        if (segstream_avro_get_block_count(r, field, 1, &n) < 0)
            return -1;
        if (n == 0)
            return 0;
        char **grown = realloc(*items, (*count + n) * sizeof **items);
        if (!grown)
            return segstream_err_set(r->err, "field %s: out of memory", field);
        *items = grown;
        for (size_t k = 0; k < n; k++) {
            if (segstream_avro_get_string(r, field, &grown[*count]) < 0)
                return -1;
            (*count)++;
        }
    }
}

static int get_float_array(segstream_avro_reader *r, const char *field, float **items, size_t *count)
{
    for (;;) {
        size_t n;
        if (segstream_avro_get_block_count(r, field, 4, &n) < 0)
            return -1;
        if (n == 0)
            return 0;
        float *grown = realloc(*items, (*count + n) * sizeof **items);
        if (!grown)
            return segstream_err_set(r->err, "field %s: out of memory", field);
        *items = grown;
        for (size_t k = 0; k < n; k++) {
            if (segstream_avro_get_float(r, field, &grown[*count]) < 0)
                return -1;
            (*count)++;
        }
    }
}

/* Decodes the fields in order, storing each as soon as it is whole, so that
 * segstream_record_clear() frees exactly what was built when one fails. */
static int decode_fields(segstream_avro_reader *r, const segstream_record_desc *desc, char *b)
{
    for (size_t i = 0; i < desc->field_count; i++) {
        const segstream_field *f = &desc->fields[i];
        size_t o = f->offset;
        int branch;
        switch (f->kind) {
        case SEGSTREAM_FIELD_STRING: {
            char *s;
            if (segstream_avro_get_string(r, f->name, &s) < 0)
                return -1;
            segstream_field_set_ptr(b, o, s);
            break;
        }
        case SEGSTREAM_FIELD_OPT_STRING: {
            if (segstream_avro_get_index(r, f->name, "union", 2, &branch) < 0)
                return -1;
            if (branch == BRANCH_NULL)
                break;
            char *s;
            if (segstream_avro_get_string(r, f->name, &s) < 0)
                return -1;
            segstream_field_set_ptr(b, o, s);
            break;
        }
        case SEGSTREAM_FIELD_INT: {
            int32_t v;
            if (segstream_avro_get_int(r, f->name, &v) < 0)
                return -1;
            segstream_field_set_i32(b, o, v);
            break;
        }
        case SEGSTREAM_FIELD_LONG:
        case SEGSTREAM_FIELD_OPT_LONG: {
            if (f->kind == SEGSTREAM_FIELD_OPT_LONG) {
                if (segstream_avro_get_index(r, f->name, "union", 2, &branch) < 0)
                    return -1;
                segstream_field_set_bool(b, f->has_offset, branch == BRANCH_VALUE);
                if (branch == BRANCH_NULL)
                    break;
            }
            int64_t v;
            if (segstream_avro_get_long(r, f->name, &v) < 0)
                return -1;
            segstream_field_set_i64(b, o, v);
            break;
        }
        case SEGSTREAM_FIELD_OPT_FLOAT: {
            if (segstream_avro_get_index(r, f->name, "union", 2, &branch) < 0)
                return -1;
            segstream_field_set_bool(b, f->has_offset, branch == BRANCH_VALUE);
            if (branch == BRANCH_NULL)
                break;
            float v;
            if (segstream_avro_get_float(r, f->name, &v) < 0)
                return -1;
            segstream_field_set_f32(b, o, v);
            break;
        }
        case SEGSTREAM_FIELD_DOUBLE: {
            double v;
            if (segstream_avro_get_double(r, f->name, &v) < 0)
                return -1;
            segstream_field_set_f64(b, o, v);
            break;
        }
        case SEGSTREAM_FIELD_ENUM: {
            int v;
            if (segstream_avro_get_index(r, f->name, "enum symbol", f->symbol_count, &v) < 0)
                return -1;
            segstream_field_set_enum(b, o, v);
            break;
        }
        case SEGSTREAM_FIELD_STRING_ARRAY: {
            char **items = NULL;
            size_t n = 0;
            int rc = get_string_array(r, f->name, &items, &n);
            segstream_field_set_ptr(b, o, items); /* even on failure: clear() frees n items */
            segstream_field_set_size(b, f->count_offset, n);
            if (rc < 0)
                return -1;
            break;
        }
        case SEGSTREAM_FIELD_OPT_FLOAT_ARRAY: {
            if (segstream_avro_get_index(r, f->name, "union", 2, &branch) < 0)
                return -1;
            segstream_field_set_bool(b, f->has_offset, branch == BRANCH_VALUE);
            if (branch == BRANCH_NULL)
                break;
            float *items = NULL;
            size_t n = 0;
            int rc = get_float_array(r, f->name, &items, &n);
            segstream_field_set_ptr(b, o, items);
            segstream_field_set_size(b, f->count_offset, n);
            if (rc < 0)
                return -1;
            break;
        }
        }
    }
    return 0;
}

int segstream_codec_read_record(segstream_avro_reader *r, segstream_record_type type, segstream_record *out)
{
    const segstream_record_desc *desc = segstream_record_desc_of(type);
    segstream_record_init(out, type);
    if (!desc)
        return segstream_err_set(r->err, "unknown record type %d", (int)type);
    if (decode_fields(r, desc, segstream_record_body(out)) < 0) {
        segstream_err_prefix(r->err, "%s", desc->avro_name);
        segstream_record_clear(out);
        return -1;
    }
    return 0;
}

int segstream_codec_decode_body_at(segstream_record_type type, const void *data, size_t len,
                                   size_t base, segstream_record *out, segstream_err *err)
{
    segstream_avro_reader r = {.data = data, .len = len, .base = base, .err = err};
    if (segstream_codec_read_record(&r, type, out) < 0)
        return -1;
    if (r.pos != r.len) {
        segstream_record_clear(out);
        return segstream_err_set(err, "%s: %zu trailing bytes after the record at byte %zu",
                                 segstream_record_type_avro_name(type), r.len - r.pos, base + r.pos);
    }
    return 0;
}

int segstream_codec_decode_body(segstream_record_type type, const void *data, size_t len,
                                segstream_record *out, segstream_err *err)
{
    return segstream_codec_decode_body_at(type, data, len, 0, out, err);
}
