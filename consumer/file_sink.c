/* file_sink.c - NDJSON writers behind the pipeline sink (see file_sink.h).
 * Records go through codec_json; the dead-letter envelope is built with
 * jansson around the record's own JSON so both use one field spelling. */
#include "consumer/file_sink.h"

#include "consumer/codec_json.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int write_line(FILE *f, const char *line, const char *what, segstream_err *err)
{
    if (fputs(line, f) == EOF || fputc('\n', f) == EOF)
        return segstream_err_set(err, "writing %s: %s", what, strerror(errno ? errno : EIO));
    return 0;
}

static int write_record(FILE *f, const segstream_record *rec, const char *what, segstream_err *err)
{
    if (!f)
        return 0;
    char *line = segstream_record_to_json(rec, err);
    if (!line)
        return segstream_err_prefix(err, "%s", what);
    int rc = write_line(f, line, what, err);
    free(line);
    return rc;
}

static int on_change(void *ctx, const segstream_record *rec, segstream_err *err)
{
    return write_record(((segstream_file_sink *)ctx)->changes, rec, "segment changes", err);
}

static int on_segment(void *ctx, const segstream_record *rec, segstream_err *err)
{
    return write_record(((segstream_file_sink *)ctx)->segments, rec, "segments", err);
}

static json_t *repaired_string(const char *s, size_t len)
{
    char *t = segstream_utf8_repair(s, len, NULL);
    if (!t)
        return NULL;
    json_t *j = json_stringn(t, strlen(t));
    free(t);
    return j;
}

char *segstream_dead_letter_to_json(const segstream_dead_letter *dl, segstream_err *err)
{
    json_t *o = json_object();
    json_t *record = json_null();
    if (dl->record) {
        segstream_err ignored;
        char *rj = segstream_record_to_json(dl->record, &ignored);
        if (rj) { /* a record missing required fields cannot be written; raw keeps the bytes */
            record = json_loads(rj, JSON_DECODE_ANY, NULL);
            free(rj);
        }
    }
    const char *topic = dl->source.topic ? dl->source.topic : "";
    int bad = !o || !record;
    bad |= json_object_set_new(o, "reason", repaired_string(dl->reason, strlen(dl->reason)));
    bad |= json_object_set_new(o, "message", repaired_string(dl->message, strlen(dl->message)));
    bad |= json_object_set_new(o, "source_topic", repaired_string(topic, strlen(topic)));
    bad |= json_object_set_new(o, "source_partition", json_integer(dl->source.partition));
    bad |= json_object_set_new(o, "source_offset", json_integer(dl->source.offset));
    bad |= json_object_set_new(o, "record", record ? record : json_null());
    bad |= json_object_set_new(o, "raw", dl->raw ? repaired_string(dl->raw, dl->raw_len) : json_null());
    char *out = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!out)
        segstream_err_set(err, "dead letter: out of memory");
    return out;
}

static int on_dead_letter(void *ctx, const segstream_dead_letter *dl, segstream_err *err)
{
    FILE *f = ((segstream_file_sink *)ctx)->dead_letters;
    if (!f)
        return 0;
    char *line = segstream_dead_letter_to_json(dl, err);
    if (!line)
        return -1;
    int rc = write_line(f, line, "dead letters", err);
    free(line);
    return rc;
}

segstream_pipeline_sink segstream_file_sink_bind(segstream_file_sink *fs)
{
    segstream_pipeline_sink s = {fs, on_change, on_segment, on_dead_letter};
    return s;
}
