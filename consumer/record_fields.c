/* record_fields.c - the field tables of the three records (see record_fields.h).
 * The order of each table is the field order of its .avsc. */
#include "consumer/record_fields.h"

_Static_assert(sizeof(segstream_op) == sizeof(segstream_cause) &&
                   sizeof(segstream_op) == sizeof(segstream_segment_status),
               "the generic enum accessors assume every record enum has one size");

#define F(type, member) offsetof(type, member)

static const char *const op_symbols[] = {"SET", "ADD", "DELETE"};
static const char *const cause_symbols[] = {"INTEREST_CHANGED", "MODEL_UPDATED", "EXPIRED",
                                            "DELETED"};
static const char *const status_symbols[] = {"ACTIVE", "RETIRED"};

#define IC segstream_interest_change
static const segstream_field interest_change_fields[] = {
    {.name = "event_id", .kind = SEGSTREAM_FIELD_STRING, .offset = F(IC, event_id)},
    {.name = "user_id", .kind = SEGSTREAM_FIELD_STRING, .offset = F(IC, user_id)},
    {.name = "event_time", .kind = SEGSTREAM_FIELD_LONG, .offset = F(IC, event_time)},
    {.name = "op", .kind = SEGSTREAM_FIELD_ENUM, .offset = F(IC, op), .enum_name = "Op",
     .symbols = op_symbols, .symbol_count = 3},
    {.name = "text", .kind = SEGSTREAM_FIELD_OPT_STRING, .offset = F(IC, text)},
    {.name = "source", .kind = SEGSTREAM_FIELD_OPT_STRING, .offset = F(IC, source)},
    {.name = "locale", .kind = SEGSTREAM_FIELD_OPT_STRING, .offset = F(IC, locale)},
};
#undef IC

#define SC segstream_segment_change
static const segstream_field segment_change_fields[] = {
    {.name = "event_id", .kind = SEGSTREAM_FIELD_STRING, .offset = F(SC, event_id)},
    {.name = "user_id", .kind = SEGSTREAM_FIELD_STRING, .offset = F(SC, user_id)},
    {.name = "event_time", .kind = SEGSTREAM_FIELD_LONG, .offset = F(SC, event_time)},
    {.name = "previous_segment", .kind = SEGSTREAM_FIELD_OPT_LONG,
     .offset = F(SC, previous_segment), .has_offset = F(SC, has_previous_segment)},
    {.name = "segment", .kind = SEGSTREAM_FIELD_OPT_LONG, .offset = F(SC, segment),
     .has_offset = F(SC, has_segment)},
    {.name = "similarity", .kind = SEGSTREAM_FIELD_OPT_FLOAT, .offset = F(SC, similarity),
     .has_offset = F(SC, has_similarity)},
    {.name = "cause", .kind = SEGSTREAM_FIELD_ENUM, .offset = F(SC, cause), .enum_name = "Cause",
     .symbols = cause_symbols, .symbol_count = 4},
    {.name = "model_version", .kind = SEGSTREAM_FIELD_LONG, .offset = F(SC, model_version)},
    {.name = "source_topic", .kind = SEGSTREAM_FIELD_STRING, .offset = F(SC, source_topic)},
    {.name = "source_partition", .kind = SEGSTREAM_FIELD_INT, .offset = F(SC, source_partition)},
    {.name = "source_offset", .kind = SEGSTREAM_FIELD_LONG, .offset = F(SC, source_offset)},
};
#undef SC

#define SG segstream_segment
static const segstream_field segment_fields[] = {
    {.name = "segment_id", .kind = SEGSTREAM_FIELD_LONG, .offset = F(SG, segment_id)},
    {.name = "status", .kind = SEGSTREAM_FIELD_ENUM, .offset = F(SG, status),
     .enum_name = "Status", .symbols = status_symbols, .symbol_count = 2},
    {.name = "label", .kind = SEGSTREAM_FIELD_STRING_ARRAY, .offset = F(SG, label),
     .count_offset = F(SG, label_count)},
    {.name = "size", .kind = SEGSTREAM_FIELD_DOUBLE, .offset = F(SG, size)},
    {.name = "parent", .kind = SEGSTREAM_FIELD_OPT_LONG, .offset = F(SG, parent),
     .has_offset = F(SG, has_parent)},
    {.name = "created_time", .kind = SEGSTREAM_FIELD_LONG, .offset = F(SG, created_time)},
    {.name = "updated_time", .kind = SEGSTREAM_FIELD_LONG, .offset = F(SG, updated_time)},
    {.name = "model_version", .kind = SEGSTREAM_FIELD_LONG, .offset = F(SG, model_version)},
    {.name = "centroid", .kind = SEGSTREAM_FIELD_OPT_FLOAT_ARRAY, .offset = F(SG, centroid),
     .has_offset = F(SG, has_centroid), .count_offset = F(SG, centroid_len)},
};
#undef SG

#define N(a) (sizeof(a) / sizeof((a)[0]))
static const segstream_record_desc descs[SEGSTREAM_RECORD_TYPE_COUNT] = {
    {"InterestChange", SEGSTREAM_AVRO_NAMESPACE, "interest_change", interest_change_fields,
     N(interest_change_fields)},
    {"SegmentChange", SEGSTREAM_AVRO_NAMESPACE, "segment_change", segment_change_fields,
     N(segment_change_fields)},
    {"Segment", SEGSTREAM_AVRO_NAMESPACE, "segment", segment_fields, N(segment_fields)},
};

const segstream_record_desc *segstream_record_desc_of(segstream_record_type type)
{
    if ((unsigned)type >= SEGSTREAM_RECORD_TYPE_COUNT)
        return NULL;
    return &descs[type];
}
