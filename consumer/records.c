/* records.c - lifetime, copy and comparison of event records, walking the
 * field tables of record_fields.c so no field is forgotten. */
#include "consumer/records.h"

#include "consumer/record_fields.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void segstream_record_init(segstream_record *rec, segstream_record_type type)
{
    memset(rec, 0, sizeof *rec);
    rec->type = type;
}

void segstream_record_clear(segstream_record *rec)
{
    if (!rec)
        return;
    const segstream_record_desc *desc = segstream_record_desc_of(rec->type);
    char *body = segstream_record_body(rec);
    for (size_t i = 0; desc && i < desc->field_count; i++) {
        const segstream_field *f = &desc->fields[i];
        switch (f->kind) {
        case SEGSTREAM_FIELD_STRING:
        case SEGSTREAM_FIELD_OPT_STRING:
        case SEGSTREAM_FIELD_OPT_FLOAT_ARRAY:
            free(segstream_field_get_ptr(body, f->offset));
            break;
        case SEGSTREAM_FIELD_STRING_ARRAY: {
            char **items = segstream_field_get_ptr(body, f->offset);
            size_t n = segstream_field_get_size(body, f->count_offset);
            for (size_t k = 0; items && k < n; k++)
                free(items[k]);
            free(items);
            break;
        }
        default:
            break;
        }
    }
    segstream_record_init(rec, rec->type);
}

static char *dup_or_null(const char *s, bool *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *failed = true;
    return d;
}

int segstream_record_copy(segstream_record *dst, const segstream_record *src)
{
    *dst = *src; /* scalars; pointers replaced below */
    const segstream_record_desc *desc = segstream_record_desc_of(src->type);
    const char *sb = segstream_record_body_const(src);
    char *db = segstream_record_body(dst);
    bool failed = false;
    /* First null every owned pointer in dst, so a failure half-way frees only copies. */
    for (size_t i = 0; desc && i < desc->field_count; i++) {
        const segstream_field *f = &desc->fields[i];
        if (f->kind == SEGSTREAM_FIELD_STRING || f->kind == SEGSTREAM_FIELD_OPT_STRING ||
            f->kind == SEGSTREAM_FIELD_OPT_FLOAT_ARRAY)
            segstream_field_set_ptr(db, f->offset, NULL);
        if (f->kind == SEGSTREAM_FIELD_STRING_ARRAY) {
            segstream_field_set_ptr(db, f->offset, NULL);
            segstream_field_set_size(db, f->count_offset, 0);
        }
    }
    for (size_t i = 0; desc && i < desc->field_count && !failed; i++) {
        const segstream_field *f = &desc->fields[i];
        switch (f->kind) {
        case SEGSTREAM_FIELD_STRING:
        case SEGSTREAM_FIELD_OPT_STRING:
            segstream_field_set_ptr(db, f->offset,
                                    dup_or_null(segstream_field_get_ptr(sb, f->offset), &failed));
            break;
        case SEGSTREAM_FIELD_OPT_FLOAT_ARRAY: {
            const float *v = segstream_field_get_ptr(sb, f->offset);
            size_t n = segstream_field_get_size(sb, f->count_offset);
            if (v && n) {
                float *c = malloc(n * sizeof *c);
                if (!c)
                    failed = true;
                else
                    memcpy(c, v, n * sizeof *c);
                segstream_field_set_ptr(db, f->offset, c);
            }
            break;
        }
        case SEGSTREAM_FIELD_STRING_ARRAY: {
            char *const *v = segstream_field_get_ptr(sb, f->offset);
            size_t n = segstream_field_get_size(sb, f->count_offset);
            if (!v || !n)
                break;
            char **c = calloc(n, sizeof *c);
            if (!c) {
                failed = true;
                break;
            }
            segstream_field_set_ptr(db, f->offset, c);
            segstream_field_set_size(db, f->count_offset, n);
            for (size_t k = 0; k < n; k++)
                c[k] = dup_or_null(v[k], &failed);
            break;
        }
        default:
            break;
        }
    }
    if (failed) {
        segstream_record_clear(dst);
        return -1;
    }
    return 0;
}

static bool str_equal(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

bool segstream_record_equal(const segstream_record *a, const segstream_record *b)
{
    if (a->type != b->type)
        return false;
    const segstream_record_desc *desc = segstream_record_desc_of(a->type);
    const char *x = segstream_record_body_const(a), *y = segstream_record_body_const(b);
    for (size_t i = 0; desc && i < desc->field_count; i++) {
        const segstream_field *f = &desc->fields[i];
        size_t o = f->offset;
        switch (f->kind) {
        case SEGSTREAM_FIELD_STRING:
        case SEGSTREAM_FIELD_OPT_STRING:
            if (!str_equal(segstream_field_get_ptr(x, o), segstream_field_get_ptr(y, o)))
                return false;
            break;
        case SEGSTREAM_FIELD_INT:
            if (segstream_field_get_i32(x, o) != segstream_field_get_i32(y, o))
                return false;
            break;
        case SEGSTREAM_FIELD_OPT_LONG:
            if (segstream_field_get_bool(x, f->has_offset) != segstream_field_get_bool(y, f->has_offset))
                return false;
            if (!segstream_field_get_bool(x, f->has_offset))
                break;
            /* fall through */
        case SEGSTREAM_FIELD_LONG:
            if (segstream_field_get_i64(x, o) != segstream_field_get_i64(y, o))
                return false;
            break;
        case SEGSTREAM_FIELD_OPT_FLOAT:
            if (segstream_field_get_bool(x, f->has_offset) != segstream_field_get_bool(y, f->has_offset))
                return false;
            if (segstream_field_get_bool(x, f->has_offset) && memcmp(x + o, y + o, sizeof(float)))
                return false;
            break;
        case SEGSTREAM_FIELD_DOUBLE:
            if (memcmp(x + o, y + o, sizeof(double)))
                return false;
            break;
        case SEGSTREAM_FIELD_ENUM:
            if (segstream_field_get_enum(x, o) != segstream_field_get_enum(y, o))
                return false;
            break;
        case SEGSTREAM_FIELD_STRING_ARRAY: {
            size_t n = segstream_field_get_size(x, f->count_offset);
            if (n != segstream_field_get_size(y, f->count_offset))
                return false;
            char *const *p = segstream_field_get_ptr(x, o), *const *q = segstream_field_get_ptr(y, o);
            for (size_t k = 0; k < n; k++)
                if (!str_equal(p[k], q[k]))
                    return false;
            break;
        }
        case SEGSTREAM_FIELD_OPT_FLOAT_ARRAY: {
            bool has = segstream_field_get_bool(x, f->has_offset);
            if (has != segstream_field_get_bool(y, f->has_offset))
                return false;
            size_t n = segstream_field_get_size(x, f->count_offset);
            if (has && n != segstream_field_get_size(y, f->count_offset))
                return false;
            if (has && n &&
                memcmp(segstream_field_get_ptr(x, o), segstream_field_get_ptr(y, o), n * sizeof(float)))
                return false;
            break;
        }
        }
    }
    return true;
}

const char *segstream_record_key(const segstream_record *rec, char buf[24], size_t *len)
{
    const char *key = "";
    switch (rec->type) {
    case SEGSTREAM_RECORD_INTEREST_CHANGE:
        key = rec->interest_change.user_id;
        break;
    case SEGSTREAM_RECORD_SEGMENT_CHANGE:
        key = rec->segment_change.user_id;
        break;
    case SEGSTREAM_RECORD_SEGMENT:
        snprintf(buf, 24, "%" PRId64, rec->segment.segment_id);
        key = buf;
        break;
    }
    if (!key)
        key = "";
    *len = strlen(key);
    return key;
}

const char *segstream_record_type_name(segstream_record_type type)
{
    const segstream_record_desc *d = segstream_record_desc_of(type);
    return d ? d->file_stem : "?";
}

const char *segstream_record_type_avro_name(segstream_record_type type)
{
    const segstream_record_desc *d = segstream_record_desc_of(type);
    return d ? d->avro_name : "?";
}

int segstream_record_type_parse(const char *name, segstream_record_type *out)
{
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++) {
        const segstream_record_desc *d = segstream_record_desc_of((segstream_record_type)t);
        char full[64];
        snprintf(full, sizeof full, "%s.%s", d->namespace_, d->avro_name);
        if (!strcmp(name, d->file_stem) || !strcmp(name, d->avro_name) || !strcmp(name, full)) {
            *out = (segstream_record_type)t;
            return 0;
        }
    }
    return -1;
}

static const char *symbol(segstream_record_type type, const char *field, int index)
{
    const segstream_record_desc *d = segstream_record_desc_of(type);
    for (size_t i = 0; i < d->field_count; i++)
        if (!strcmp(d->fields[i].name, field))
            return index >= 0 && index < d->fields[i].symbol_count ? d->fields[i].symbols[index] : "?";
    return "?";
}

const char *segstream_op_name(segstream_op op)
{
    return symbol(SEGSTREAM_RECORD_INTEREST_CHANGE, "op", (int)op);
}

const char *segstream_cause_name(segstream_cause cause)
{
    return symbol(SEGSTREAM_RECORD_SEGMENT_CHANGE, "cause", (int)cause);
}

const char *segstream_segment_status_name(segstream_segment_status status)
{
    return symbol(SEGSTREAM_RECORD_SEGMENT, "status", (int)status);
}
