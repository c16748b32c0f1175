/* record_fields.h - one table per record type saying, field by field, the
 * Avro name, the kind of value and where it lives in the C struct.
 *
 * Everything that walks a record (binary coding, NDJSON, copy, compare, free)
 * is driven by these tables, so a field is described once. At start-up the
 * codec checks each table against the .avsc parsed by avro-c: a schema edit
 * the C code does not follow fails loudly instead of mis-encoding. Internal to
 * consumer/. */
#ifndef SEGSTREAM_CONSUMER_RECORD_FIELDS_H
#define SEGSTREAM_CONSUMER_RECORD_FIELDS_H

#include "consumer/records.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum segstream_field_kind {
    SEGSTREAM_FIELD_STRING = 0,          /* "string": char * */
    SEGSTREAM_FIELD_OPT_STRING = 1,      /* ["null","string"]: char *, NULL = null */
    SEGSTREAM_FIELD_INT = 2,             /* "int": int32_t */
    SEGSTREAM_FIELD_LONG = 3,            /* "long": int64_t */
    SEGSTREAM_FIELD_OPT_LONG = 4,        /* ["null","long"]: bool has + int64_t */
    SEGSTREAM_FIELD_OPT_FLOAT = 5,       /* ["null","float"]: bool has + float */
    SEGSTREAM_FIELD_DOUBLE = 6,          /* "double": double */
    SEGSTREAM_FIELD_ENUM = 7,            /* enum: a C enum holding the symbol index */
    SEGSTREAM_FIELD_STRING_ARRAY = 8,    /* {"array","string"}: char ** + size_t count */
    SEGSTREAM_FIELD_OPT_FLOAT_ARRAY = 9, /* ["null",{"array","float"}]: bool has + float * + size_t count */
} segstream_field_kind;

typedef struct segstream_field {
    const char *name;
    segstream_field_kind kind;
    size_t offset;       /* of the value (or pointer) inside the record's union member */
    size_t has_offset;   /* OPT_LONG, OPT_FLOAT, OPT_FLOAT_ARRAY: the bool flag; else unused */
    size_t count_offset; /* arrays: the size_t element count; else unused */
    const char *enum_name;       /* ENUM: the Avro enum's name ("Op") */
    const char *const *symbols;  /* ENUM: symbols in index order */
    int symbol_count;            /* ENUM */
} segstream_field;

typedef struct segstream_record_desc {
    const char *avro_name;  /* "InterestChange" */
    const char *namespace_; /* "io.segstream" */
    const char *file_stem;  /* "interest_change": schemas/<stem>.avsc */
    const segstream_field *fields;
    size_t field_count;
} segstream_record_desc;

#define SEGSTREAM_AVRO_NAMESPACE "io.segstream"

/* The table of one type; NULL for an out-of-range type. */
const segstream_record_desc *segstream_record_desc_of(segstream_record_type type);

/* The start of the live union member, which the field offsets are relative to. */
static inline char *segstream_record_body(segstream_record *rec)
{
    return (char *)rec + offsetof(segstream_record, interest_change);
}
static inline const char *segstream_record_body_const(const segstream_record *rec)
{
    return (const char *)rec + offsetof(segstream_record, interest_change);
}

/* Typed access through memcpy: the generic walkers never alias struct fields
 * through a pointer of another type. */
#define SEGSTREAM_FIELD_GETTER(suffix, ctype)                                   \
    static inline ctype segstream_field_get_##suffix(const char *body, size_t off) \
    {                                                                           \
        ctype v;                                                                \
        memcpy(&v, body + off, sizeof v);                                       \
        return v;                                                               \
    }                                                                           \
    static inline void segstream_field_set_##suffix(char *body, size_t off, ctype v) \
    {                                                                           \
        memcpy(body + off, &v, sizeof v);                                       \
    }
SEGSTREAM_FIELD_GETTER(ptr, void *)
SEGSTREAM_FIELD_GETTER(i32, int32_t)
SEGSTREAM_FIELD_GETTER(i64, int64_t)
SEGSTREAM_FIELD_GETTER(f32, float)
SEGSTREAM_FIELD_GETTER(f64, double)
SEGSTREAM_FIELD_GETTER(bool, bool)
SEGSTREAM_FIELD_GETTER(size, size_t)
#undef SEGSTREAM_FIELD_GETTER

/* C enums are stored as the compiler's enum type; all ours are int-sized. */
static inline int segstream_field_get_enum(const char *body, size_t off)
{
    segstream_op v; /* any of our enums: same size and representation */
    memcpy(&v, body + off, sizeof v);
    return (int)v;
}
static inline void segstream_field_set_enum(char *body, size_t off, int index)
{
    segstream_op v = (segstream_op)index;
    memcpy(body + off, &v, sizeof v);
}

#endif
