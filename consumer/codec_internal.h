/* codec_internal.h - pieces of the codec shared inside consumer/ (framing in
 * codec.c, container files in avro_file.c); not a public API. */
#ifndef SEGSTREAM_CONSUMER_CODEC_INTERNAL_H
#define SEGSTREAM_CONSUMER_CODEC_INTERNAL_H

#include "consumer/avro_binary.h"
#include "consumer/records.h"

/* Decodes one record body of `type` at the reader's position, advancing it;
 * bytes after the record are left for the caller. *out is initialised here;
 * on failure it is left cleared and r->err names the field and byte. */
int segstream_codec_read_record(segstream_avro_reader *r, segstream_record_type type, segstream_record *out);

/* A whole body of `type` that starts at byte `base` of a message: trailing
 * bytes are an error. */
int segstream_codec_decode_body_at(segstream_record_type type, const void *data, size_t len, size_t base,
                                   segstream_record *out, segstream_err *err);

/* Parses schema JSON with avro-c and checks that it is the record `type` with
 * exactly the fields, types and enum symbols of the C field table. */
int segstream_codec_check_schema(segstream_record_type type, const char *json, segstream_err *err);

#endif
