/* codec.c - the codec object: embedded schemas checked with avro-c against the
 * C field tables, their canonical forms and fingerprints, the schema-id
 * registry, and the two framings around codec_body.c. */
#include "consumer/codec.h"

#include "consumer/avro_pcf.h"
#include "consumer/codec_internal.h"
#include "consumer/crc64avro.h"
#include "consumer/record_fields.h"
#include "consumer/schemas.h"

#include <avro.h>
#include <stdlib.h>
#include <string.h>

typedef struct schema_id_entry {
    uint32_t id;
    segstream_record_type type;
} schema_id_entry;

struct segstream_codec {
    segstream_codec_options opts;
    char *canonical[SEGSTREAM_RECORD_TYPE_COUNT];
    uint64_t fingerprint[SEGSTREAM_RECORD_TYPE_COUNT];
    schema_id_entry *ids; /* registered Confluent schema ids, unsorted: a handful */
    size_t id_count;
};

segstream_codec_options segstream_codec_default_options(void)
{
    return (segstream_codec_options){.max_message_bytes = 16u << 20};
}

const char *segstream_codec_schema_json(segstream_record_type type)
{
    switch (type) {
    case SEGSTREAM_RECORD_INTEREST_CHANGE:
        return segstream_schema_interest_change_json;
    case SEGSTREAM_RECORD_SEGMENT_CHANGE:
        return segstream_schema_segment_change_json;
    case SEGSTREAM_RECORD_SEGMENT:
        return segstream_schema_segment_json;
    }
    return NULL;
}

/* True when `s` is the union ["null", T] and *t gets T. */
static bool nullable(avro_schema_t s, avro_schema_t *t)
{
    if (!is_avro_union(s) || avro_schema_union_size(s) != 2)
        return false;
    avro_schema_t first = avro_schema_union_branch(s, 0);
    *t = avro_schema_union_branch(s, 1);
    return is_avro_null(first);
}

/* Does the avro-c view of one field agree with what the C code will write? */
static int check_field(avro_schema_t fs, const segstream_field *f, segstream_err *err)
{
    avro_schema_t inner = NULL;
    bool ok = false;
    switch (f->kind) {
    case SEGSTREAM_FIELD_STRING:
        ok = is_avro_string(fs);
        break;
    case SEGSTREAM_FIELD_OPT_STRING:
        ok = nullable(fs, &inner) && is_avro_string(inner);
        break;
    case SEGSTREAM_FIELD_INT:
        ok = is_avro_int32(fs);
        break;
    case SEGSTREAM_FIELD_LONG:
        ok = is_avro_int64(fs);
        break;
    case SEGSTREAM_FIELD_OPT_LONG:
        ok = nullable(fs, &inner) && is_avro_int64(inner);
        break;
    case SEGSTREAM_FIELD_OPT_FLOAT:
        ok = nullable(fs, &inner) && is_avro_float(inner);
        break;
    case SEGSTREAM_FIELD_DOUBLE:
        ok = is_avro_double(fs);
        break;
    case SEGSTREAM_FIELD_ENUM:
        ok = is_avro_enum(fs) && !strcmp(avro_schema_name(fs), f->enum_name) &&
             avro_schema_enum_number_of_symbols(fs) == f->symbol_count;
        for (int k = 0; ok && k < f->symbol_count; k++)
            ok = !strcmp(avro_schema_enum_get(fs, k), f->symbols[k]);
        break;
    case SEGSTREAM_FIELD_STRING_ARRAY:
        ok = is_avro_array(fs) && is_avro_string(avro_schema_array_items(fs));
        break;
    case SEGSTREAM_FIELD_OPT_FLOAT_ARRAY:
        ok = nullable(fs, &inner) && is_avro_array(inner) &&
             is_avro_float(avro_schema_array_items(inner));
        break;
    }
    if (!ok)
        return segstream_err_set(err, "field %s: the schema's type (%s) is not what the C codec encodes",
                                 f->name, avro_schema_type_name(fs));
    return 0;
}

/* Parses the embedded .avsc with avro-c and compares it with the field table,
 * so a schema edit the C code does not follow stops the start-up. */
int segstream_codec_check_schema(segstream_record_type type, const char *json, segstream_err *err)
{
    const segstream_record_desc *desc = segstream_record_desc_of(type);
    if (!desc)
        return segstream_err_set(err, "unknown record type %d", (int)type);
    avro_schema_t schema = NULL;
    if (avro_schema_from_json_length(json, strlen(json), &schema) != 0)
        return segstream_err_set(err, "schemas/%s.avsc: avro-c cannot parse it: %s", desc->file_stem,
                                 avro_strerror());
    int rc = 0;
    const char *ns = avro_schema_namespace(schema);
    if (!is_avro_record(schema) || strcmp(avro_schema_name(schema), desc->avro_name) ||
        !ns || strcmp(ns, desc->namespace_)) {
        rc = segstream_err_set(err, "not the record %s.%s", desc->namespace_, desc->avro_name);
    } else if (avro_schema_record_size(schema) != desc->field_count) {
        rc = segstream_err_set(err, "%zu fields, the C codec knows %zu", avro_schema_record_size(schema),
                               desc->field_count);
    }
    for (size_t i = 0; rc == 0 && i < desc->field_count; i++) {
        const char *name = avro_schema_record_field_name(schema, (int)i);
        if (!name || strcmp(name, desc->fields[i].name))
            rc = segstream_err_set(err, "field %zu is %s, the C codec expects %s", i,
                                   name ? name : "(none)", desc->fields[i].name);
        else
            rc = check_field(avro_schema_record_field_get_by_index(schema, (int)i), &desc->fields[i], err);
    }
    avro_schema_decref(schema);
    if (rc < 0)
        segstream_err_prefix(err, "schemas/%s.avsc", desc->file_stem);
    return rc;
}

segstream_codec *segstream_codec_new(const segstream_codec_options *opts, segstream_err *err)
{
    segstream_codec *codec = calloc(1, sizeof *codec);
    if (!codec) {
        segstream_err_set(err, "out of memory");
        return NULL;
    }
    codec->opts = opts ? *opts : segstream_codec_default_options();
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++) {
        const char *json = segstream_codec_schema_json((segstream_record_type)t);
        if (segstream_codec_check_schema((segstream_record_type)t, json, err) < 0)
            goto fail;
        codec->canonical[t] = segstream_avro_canonical_form(json, strlen(json), err);
        if (!codec->canonical[t]) {
            segstream_err_prefix(err, "schemas/%s.avsc", segstream_record_type_name((segstream_record_type)t));
            goto fail;
        }
        codec->fingerprint[t] = segstream_crc64_avro(codec->canonical[t], strlen(codec->canonical[t]));
    }
    return codec;
fail:
    segstream_codec_free(codec);
    return NULL;
}

void segstream_codec_free(segstream_codec *codec)
{
    if (!codec)
        return;
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++)
        free(codec->canonical[t]);
    free(codec->ids);
    free(codec);
}

int segstream_codec_register_schema_id(segstream_codec *codec, uint32_t schema_id,
                                       segstream_record_type type, segstream_err *err)
{
    if (!segstream_record_desc_of(type))
        return segstream_err_set(err, "schema id %u: unknown record type %d", schema_id, (int)type);
    for (size_t i = 0; i < codec->id_count; i++)
        if (codec->ids[i].id == schema_id) {
            codec->ids[i].type = type;
            return 0;
        }
    schema_id_entry *ids = realloc(codec->ids, (codec->id_count + 1) * sizeof *ids);
    if (!ids)
        return segstream_err_set(err, "out of memory");
    ids[codec->id_count++] = (schema_id_entry){schema_id, type};
    codec->ids = ids;
    return 0;
}

uint64_t segstream_codec_fingerprint(const segstream_codec *codec, segstream_record_type type)
{
    return segstream_record_desc_of(type) ? codec->fingerprint[type] : 0;
}

int segstream_codec_type_of_fingerprint(const segstream_codec *codec, uint64_t fingerprint,
                                        segstream_record_type *out)
{
    for (int t = 0; t < SEGSTREAM_RECORD_TYPE_COUNT; t++)
        if (codec->fingerprint[t] == fingerprint) {
            *out = (segstream_record_type)t;
            return 0;
        }
    return -1;
}

const char *segstream_codec_canonical_form(const segstream_codec *codec, segstream_record_type type)
{
    return segstream_record_desc_of(type) ? codec->canonical[type] : NULL;
}

int segstream_codec_encode(const segstream_codec *codec, const segstream_record *rec,
                           segstream_framing framing, uint32_t schema_id, segstream_buf *out,
                           segstream_err *err)
{
    segstream_buf_reset(out);
    if (!segstream_record_desc_of(rec->type))
        return segstream_err_set(err, "unknown record type %d", (int)rec->type);
    if (framing == SEGSTREAM_FRAMING_CONFLUENT) {
        uint8_t h[SEGSTREAM_CONFLUENT_HEADER] = {0x00, (uint8_t)(schema_id >> 24), (uint8_t)(schema_id >> 16),
                                                 (uint8_t)(schema_id >> 8), (uint8_t)schema_id};
        segstream_buf_put(out, h, sizeof h);
    } else {
        uint64_t fp = codec->fingerprint[rec->type];
        uint8_t h[SEGSTREAM_SINGLE_OBJECT_HEADER] = {0xC3, 0x01};
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)(fp >> (8 * i));
        segstream_buf_put(out, h, sizeof h);
    }
    return segstream_codec_encode_body(rec, out, err);
}

int segstream_codec_decode(const segstream_codec *codec, const void *data, size_t len,
                           segstream_record *out, segstream_framing *framing_out, segstream_err *err)
{
    const uint8_t *p = data;
    segstream_record_init(out, SEGSTREAM_RECORD_INTEREST_CHANGE);
    if (codec->opts.max_message_bytes && len > codec->opts.max_message_bytes)
        return segstream_err_set(err, "message of %zu bytes exceeds the limit of %zu", len,
                                 codec->opts.max_message_bytes);
    if (len >= 2 && p[0] == 0xC3 && p[1] == 0x01) {
        if (len < SEGSTREAM_SINGLE_OBJECT_HEADER)
            return segstream_err_set(err, "single-object header truncated: %zu of %d bytes", len,
                                     SEGSTREAM_SINGLE_OBJECT_HEADER);
        uint64_t fp = 0;
        for (int i = 0; i < 8; i++)
            fp |= (uint64_t)p[2 + i] << (8 * i);
        segstream_record_type type;
        if (segstream_codec_type_of_fingerprint(codec, fp, &type) == 0) {
            if (framing_out)
                *framing_out = SEGSTREAM_FRAMING_SINGLE_OBJECT;
            return segstream_codec_decode_body_at(type, p + SEGSTREAM_SINGLE_OBJECT_HEADER,
                                                  len - SEGSTREAM_SINGLE_OBJECT_HEADER,
                                                  SEGSTREAM_SINGLE_OBJECT_HEADER, out, err);
        }
        return segstream_err_set(err, "unknown schema fingerprint %016llx (single-object encoding)",
                                 (unsigned long long)fp);
    }
    if (len >= 1 && p[0] == 0x00) {
        if (len < SEGSTREAM_CONFLUENT_HEADER)
            return segstream_err_set(err, "Confluent header truncated: %zu of %d bytes", len,
                                     SEGSTREAM_CONFLUENT_HEADER);
        uint32_t id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
        for (size_t i = 0; i < codec->id_count; i++)
            if (codec->ids[i].id == id) {
                if (framing_out)
                    *framing_out = SEGSTREAM_FRAMING_CONFLUENT;
                return segstream_codec_decode_body_at(codec->ids[i].type, p + SEGSTREAM_CONFLUENT_HEADER,
                                                      len - SEGSTREAM_CONFLUENT_HEADER,
                                                      SEGSTREAM_CONFLUENT_HEADER, out, err);
            }
        return segstream_err_set(err, "unknown schema id %u (Confluent framing): not registered", id);
    }
    if (len == 0)
        return segstream_err_set(err, "empty message");
    return segstream_err_set(err, "unknown framing: first bytes %02x %02x are neither C3 01 "
                                  "(single-object) nor 00 (Confluent)",
                             p[0], len > 1 ? p[1] : 0);
}
