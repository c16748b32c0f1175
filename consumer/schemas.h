/* schemas.h - the event schemas' JSON text, embedded from schemas/ (.avsc) at
 * build time (consumer/embed_schemas.cmake). NUL-terminated, read-only. */
#ifndef SEGSTREAM_CONSUMER_SCHEMAS_H
#define SEGSTREAM_CONSUMER_SCHEMAS_H

extern const char segstream_schema_interest_change_json[];
extern const char segstream_schema_segment_change_json[];
extern const char segstream_schema_segment_json[];

#endif
