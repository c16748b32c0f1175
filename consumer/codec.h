/* codec.h - Avro encoding and decoding of the event records, with framing.
 *
 * Encodes a segstream_record to the Avro binary body of its schema
 * (schemas/ (.avsc), embedded at build time) behind one of two framings:
 *   single-object: C3 01 + 8-byte little-endian CRC-64-AVRO fingerprint of
 *                  the schema's Parsing Canonical Form + body;
 *   Confluent:     00 + 4-byte big-endian schema registry id + body.
 * Decoding looks at the first bytes to tell the framing, picks the schema by
 * fingerprint or by the registry ids the caller registered, and decodes with
 * bounds checks on every byte (malformed input gives an error naming the
 * field and byte offset, never a crash or a huge allocation).
 *
 * The body coding is written by hand from the field tables; avro-c parses
 * each embedded .avsc at start-up and the codec refuses to start if a schema
 * and the C field table disagree.
 *
 * Threads: a codec is immutable once its schema ids are registered; encode
 * and decode may then run on any number of threads at once. */
#ifndef SEGSTREAM_CONSUMER_CODEC_H
#define SEGSTREAM_CONSUMER_CODEC_H

#include "common/err.h"
#include "consumer/avro_binary.h"
#include "consumer/records.h"

#include <stddef.h>
#include <stdint.h>

typedef enum segstream_framing {
    SEGSTREAM_FRAMING_SINGLE_OBJECT = 0, /* C3 01 + fingerprint (no registry) */
    SEGSTREAM_FRAMING_CONFLUENT = 1,     /* 00 + schema id (schema registry) */
} segstream_framing;

#define SEGSTREAM_SINGLE_OBJECT_HEADER 10 /* bytes before the body */
#define SEGSTREAM_CONFLUENT_HEADER 5

typedef struct segstream_codec segstream_codec;

typedef struct segstream_codec_options {
    size_t max_message_bytes; /* decode rejects longer messages; 0 = no limit */
} segstream_codec_options;

segstream_codec_options segstream_codec_default_options(void); /* 16 MiB max message */

/* Parses and checks the embedded schemas, computes their canonical forms and
 * fingerprints. Returns NULL with err set if a schema does not parse or does
 * not match the C field tables. opts NULL = defaults. Free with
 * segstream_codec_free(). */
segstream_codec *segstream_codec_new(const segstream_codec_options *opts, segstream_err *err);
void segstream_codec_free(segstream_codec *codec);

/* Maps a schema registry id to a record type, for Confluent-framed input and
 * output. Re-registering an id replaces it. Not thread-safe: register before
 * sharing the codec. Returns 0, or -1 if out of memory. */
int segstream_codec_register_schema_id(segstream_codec *codec, uint32_t schema_id,
                                       segstream_record_type type, segstream_err *err);

/* The CRC-64-AVRO fingerprint and Parsing Canonical Form of a type's schema
 * (the string belongs to the codec), and the schema's JSON as embedded. */
uint64_t segstream_codec_fingerprint(const segstream_codec *codec, segstream_record_type type);
const char *segstream_codec_canonical_form(const segstream_codec *codec, segstream_record_type type);
const char *segstream_codec_schema_json(segstream_record_type type);

/* The record type whose schema has this fingerprint; 0, or -1 if none. */
int segstream_codec_type_of_fingerprint(const segstream_codec *codec, uint64_t fingerprint,
                                        segstream_record_type *out);

/* Encodes rec into out (reset first, its memory reused). For
 * SEGSTREAM_FRAMING_CONFLUENT, schema_id is written as given; otherwise
 * ignored. Fails (-1, err) if a required string is NULL or out of memory. */
int segstream_codec_encode(const segstream_codec *codec, const segstream_record *rec,
                           segstream_framing framing, uint32_t schema_id, segstream_buf *out,
                           segstream_err *err);

/* Decodes one framed message (either framing) into *out, which must be
 * cleared or zeroed; on failure *out is left cleared and err says which
 * field, at which byte, went wrong. *framing_out (may be NULL) gets the
 * framing seen. Trailing bytes after the body are an error. */
int segstream_codec_decode(const segstream_codec *codec, const void *data, size_t len,
                           segstream_record *out, segstream_framing *framing_out,
                           segstream_err *err);

/* The body alone (no framing), e.g. inside Avro container files. encode_body
 * appends to out (no reset); decode_body rejects trailing bytes. */
int segstream_codec_encode_body(const segstream_record *rec, segstream_buf *out, segstream_err *err);
int segstream_codec_decode_body(segstream_record_type type, const void *data, size_t len,
                                segstream_record *out, segstream_err *err);

#endif
