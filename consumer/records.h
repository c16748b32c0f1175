/* records.h - the three event records of schemas/ (.avsc) as plain C structs.
 *
 * A record owns every string and array it points to; segstream_record_clear()
 * frees them. Strings are NUL-terminated bytes: what the wire carried, not
 * checked for UTF-8 (the NDJSON writer and the tokenizer repair it where it
 * matters), but never with an embedded NUL (the decoder rejects those). An
 * optional ("null" or T) field is NULL for a pointer, or has_<field> == false
 * for a number. The field order follows the schemas. */
#ifndef SEGSTREAM_CONSUMER_RECORDS_H
#define SEGSTREAM_CONSUMER_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum segstream_record_type {
    SEGSTREAM_RECORD_INTEREST_CHANGE = 0, /* io.segstream.InterestChange */
    SEGSTREAM_RECORD_SEGMENT_CHANGE = 1,  /* io.segstream.SegmentChange */
    SEGSTREAM_RECORD_SEGMENT = 2,         /* io.segstream.Segment */
} segstream_record_type;
#define SEGSTREAM_RECORD_TYPE_COUNT 3

/* Enum values equal the Avro symbol index. */
typedef enum segstream_op {
    SEGSTREAM_OP_SET = 0,    /* text replaces the user's interests */
    SEGSTREAM_OP_ADD = 1,    /* text is mixed into the user's decayed profile */
    SEGSTREAM_OP_DELETE = 2, /* forget the user */
} segstream_op;

typedef enum segstream_cause {
    SEGSTREAM_CAUSE_INTEREST_CHANGED = 0,
    SEGSTREAM_CAUSE_MODEL_UPDATED = 1,
    SEGSTREAM_CAUSE_EXPIRED = 2,
    SEGSTREAM_CAUSE_DELETED = 3,
} segstream_cause;

typedef enum segstream_segment_status {
    SEGSTREAM_SEGMENT_ACTIVE = 0,
    SEGSTREAM_SEGMENT_RETIRED = 1,
} segstream_segment_status;

typedef struct segstream_interest_change {
    char *event_id;     /* never NULL in a valid record */
    char *user_id;      /* never NULL; the Kafka key */
    int64_t event_time; /* epoch milliseconds, UTC */
    segstream_op op;
    char *text;   /* NULL = null */
    char *source; /* NULL = null */
    char *locale; /* NULL = null */
} segstream_interest_change;

typedef struct segstream_segment_change {
    char *event_id; /* never NULL */
    char *user_id;  /* never NULL; the Kafka key */
    int64_t event_time;
    bool has_previous_segment; /* false = null */
    int64_t previous_segment;
    bool has_segment; /* false = null (expired or deleted) */
    int64_t segment;
    bool has_similarity; /* false = null */
    float similarity;
    segstream_cause cause;
    int64_t model_version;
    char *source_topic; /* never NULL */
    int32_t source_partition;
    int64_t source_offset;
} segstream_segment_change;

typedef struct segstream_segment {
    int64_t segment_id; /* the Kafka key, as a decimal string */
    segstream_segment_status status;
    char **label;       /* label_count strings, each never NULL */
    size_t label_count; /* label may be NULL when 0 */
    double size;
    bool has_parent; /* false = null */
    int64_t parent;
    int64_t created_time;
    int64_t updated_time;
    int64_t model_version;
    bool has_centroid;     /* false = null; true with centroid_len 0 = [] */
    float *centroid;       /* centroid_len floats */
    size_t centroid_len;
} segstream_segment;

/* One record of any of the three types; `type` says which member is live.
 * Zero-initialise (or segstream_record_init) before the first use. */
typedef struct segstream_record {
    segstream_record_type type;
    union {
        segstream_interest_change interest_change;
        segstream_segment_change segment_change;
        segstream_segment segment;
    };
} segstream_record;

/* Zeroes *rec and sets its type; owns nothing yet. */
void segstream_record_init(segstream_record *rec, segstream_record_type type);

/* Frees everything rec owns and zeroes it, keeping its type. NULL is a no-op. */
void segstream_record_clear(segstream_record *rec);

/* Deep copy of src into dst (dst is overwritten, not cleared first).
 * Returns 0, or -1 when out of memory (dst is then cleared). */
int segstream_record_copy(segstream_record *dst, const segstream_record *src);

/* True when both records have the same type and equal fields (floats compared
 * bit for bit, so NaN equals the same NaN). */
bool segstream_record_equal(const segstream_record *a, const segstream_record *b);

/* The Kafka message key: user_id for InterestChange and SegmentChange, the
 * decimal segment_id for Segment (written into buf, which must hold 24 bytes).
 * Returns a pointer into rec or into buf; *len gets its length. */
const char *segstream_record_key(const segstream_record *rec, char buf[24], size_t *len);

/* Names: the schema's file stem ("interest_change", "segment_change",
 * "segment") and the record's Avro name ("InterestChange", ...). */
const char *segstream_record_type_name(segstream_record_type type);
const char *segstream_record_type_avro_name(segstream_record_type type);

/* Parses either name form; returns 0, or -1 if `name` is none of them. */
int segstream_record_type_parse(const char *name, segstream_record_type *out);

/* Symbols as written in the schema ("SET", "MODEL_UPDATED", "ACTIVE"). */
const char *segstream_op_name(segstream_op op);
const char *segstream_cause_name(segstream_cause cause);
const char *segstream_segment_status_name(segstream_segment_status status);

#endif
