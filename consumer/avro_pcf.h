/* avro_pcf.h - the Parsing Canonical Form of an Avro schema, as the Avro
 * specification defines it, so fingerprints are computed from the .avsc text
 * in C rather than copied from another tool. */
#ifndef SEGSTREAM_CONSUMER_AVRO_PCF_H
#define SEGSTREAM_CONSUMER_AVRO_PCF_H

#include "common/err.h"

#include <stddef.h>

/* Parses the schema JSON (len bytes) and returns its canonical form as a new
 * NUL-terminated string the caller frees, or NULL with err set (bad JSON, a
 * schema object without "type", a named type without "name", ...). Handles
 * every schema kind: primitives, records, enums, fixed, arrays, maps, unions
 * and references to named types. Thread-safe. */
char *segstream_avro_canonical_form(const char *json, size_t len, segstream_err *err);

#endif
