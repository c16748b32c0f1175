/* codec_json.h - event records as NDJSON lines (files, tools, debugging).
 *
 * One JSON object per record with the schema's field names in schema order,
 * enums as symbol strings, times as epoch milliseconds, nulls as JSON null,
 * arrays as JSON arrays. Strings that are not valid UTF-8 (Avro input is not
 * checked) are written with U+FFFD in place of each bad sequence, since JSON
 * cannot carry them. Thread-safe: no shared state. */
#ifndef SEGSTREAM_CONSUMER_CODEC_JSON_H
#define SEGSTREAM_CONSUMER_CODEC_JSON_H

#include "common/err.h"
#include "consumer/records.h"

#include <stddef.h>

/* The record as one line of compact JSON, without the newline. Returns a new
 * string the caller frees, or NULL with err set (a required string is NULL,
 * a float is NaN or infinite: JSON has no such numbers). */
char *segstream_record_to_json(const segstream_record *rec, segstream_err *err);

/* Parses one JSON object (len bytes, need not be NUL-terminated) as a record of
 * the given type into *out (overwritten; clear it afterwards). Optional fields
 * may be null or absent; unknown keys are ignored (newer writers may add
 * fields). Returns 0, or -1 with err naming the field, *out left cleared. */
int segstream_record_from_json(segstream_record_type type, const char *json, size_t len,
                               segstream_record *out, segstream_err *err);

/* Copy of len bytes with every invalid UTF-8 sequence replaced by U+FFFD
 * (EF BF BD) and NUL bytes dropped; NULL when out of memory. *changed (may be
 * NULL) says whether anything was replaced. */
char *segstream_utf8_repair(const char *s, size_t len, int *changed);

#endif
