/* test_records.h - sample records for the codec tests: every field set, or
 * every optional field null, with non-ASCII text. Header-only. */
#ifndef SEGSTREAM_TESTS_CONSUMER_TEST_RECORDS_H
#define SEGSTREAM_TESTS_CONSUMER_TEST_RECORDS_H

#include "consumer/records.h"

#include <stdlib.h>
#include <string.h>

static inline void sample_record(segstream_record *r, segstream_record_type type, int all_set)
{
    segstream_record_init(r, type);
    switch (type) {
    case SEGSTREAM_RECORD_INTEREST_CHANGE: {
        segstream_interest_change *ic = &r->interest_change;
        ic->event_id = strdup("evt-000042");
        ic->user_id = strdup("user-\xe7\x94\xa8\xe6\x88\xb7-7");
        ic->event_time = 1764255600123;
        ic->op = all_set ? SEGSTREAM_OP_ADD : SEGSTREAM_OP_DELETE;
        if (all_set) {
            ic->text = strdup("hiking, sourdough bread and \xe4\xb8\xad\xe6\x96\x87\xe5\xb0\x8f\xe8\xaf\xb4 \xf0\x9f\x8e\xb8");
            ic->source = strdup("movielens-small");
            ic->locale = strdup("zh-CN");
        }
        break;
    }
    case SEGSTREAM_RECORD_SEGMENT_CHANGE: {
        segstream_segment_change *sc = &r->segment_change;
        sc->event_id = strdup("evt-000042/INTEREST_CHANGED");
        sc->user_id = strdup("user-7");
        sc->event_time = -5; /* before the epoch: zig-zag negative */
        sc->has_previous_segment = all_set;
        sc->previous_segment = all_set ? 3 : 0;
        sc->has_segment = all_set;
        sc->segment = all_set ? INT64_MAX : 0;
        sc->has_similarity = all_set;
        sc->similarity = all_set ? 0.8125f : 0.0f;
        sc->cause = all_set ? SEGSTREAM_CAUSE_MODEL_UPDATED : SEGSTREAM_CAUSE_EXPIRED;
        sc->model_version = 17;
        sc->source_topic = strdup("interest-changes");
        sc->source_partition = INT32_MAX;
        sc->source_offset = INT64_MIN;
        break;
    }
    case SEGSTREAM_RECORD_SEGMENT: {
        segstream_segment *sg = &r->segment;
        sg->segment_id = 12;
        sg->status = all_set ? SEGSTREAM_SEGMENT_RETIRED : SEGSTREAM_SEGMENT_ACTIVE;
        if (all_set) {
            sg->label_count = 3;
            sg->label = calloc(3, sizeof *sg->label);
            sg->label[0] = strdup("hiking");
            sg->label[1] = strdup("\xe5\xb0\x8f\xe8\xaf\xb4");
            sg->label[2] = strdup("");
        }
        sg->size = all_set ? 1234.5678 : 0.0;
        sg->has_parent = all_set;
        sg->parent = all_set ? 4 : 0;
        sg->created_time = 1764255600000;
        sg->updated_time = 1764259200000;
        sg->model_version = 99;
        sg->has_centroid = all_set;
        if (all_set) {
            sg->centroid_len = 384;
            sg->centroid = malloc(384 * sizeof(float));
            for (int i = 0; i < 384; i++)
                sg->centroid[i] = (float)((i % 7) - 3) / 7.0f;
        }
        break;
    }
    }
}

#endif
