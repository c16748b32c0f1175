/* file_source.c - NDJSON lines or Avro container records as inputs (see
 * file_source.h). NDJSON is read with getline, so a line may be of any
 * length; a container file goes through the bounded avro_file reader. */
#include "consumer/file_source.h"

#include "consumer/avro_file.h"
#include "consumer/codec_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct segstream_file_source {
    FILE *f;                          /* NDJSON; NULL for Avro */
    segstream_avro_file_reader *avro; /* Avro; NULL for NDJSON */
    int avro_done;
    int64_t position;
    char *line;
    size_t line_cap;
};

segstream_file_source *segstream_file_source_open(const segstream_codec *codec, const char *path,
                                                  segstream_err *err)
{
    segstream_file_source *src = calloc(1, sizeof *src);
    if (!src) {
        segstream_err_set(err, "%s: out of memory", path);
        return NULL;
    }
    if (!strcmp(path, "-")) {
        src->f = stdin;
        return src;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        segstream_err_set(err, "%s: %s", path, strerror(errno));
        free(src);
        return NULL;
    }
    unsigned char magic[4] = {0};
    size_t got = fread(magic, 1, 4, f);
    if (got == 4 && !memcmp(magic, "Obj\x01", 4)) {
        fclose(f);
        src->avro = segstream_avro_file_reader_open(codec, path, err);
        if (!src->avro) {
            free(src);
            return NULL;
        }
        if (segstream_avro_file_reader_type(src->avro) != SEGSTREAM_RECORD_INTEREST_CHANGE) {
            segstream_err_set(err, "%s: holds %s records, not InterestChange", path,
                              segstream_record_type_avro_name(segstream_avro_file_reader_type(src->avro)));
            segstream_file_source_close(src);
            return NULL;
        }
        return src;
    }
    rewind(f);
    src->f = f;
    return src;
}

const char *segstream_file_source_format(const segstream_file_source *src)
{
    return src->avro ? "avro" : "ndjson";
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

int segstream_file_source_next(segstream_file_source *src, segstream_file_input *in, segstream_err *err)
{
    memset(in, 0, sizeof *in);
    segstream_record_init(&in->record, SEGSTREAM_RECORD_INTEREST_CHANGE);
    if (src->avro) {
        if (src->avro_done)
            return 0;
        segstream_err e = {{0}};
        int rc = segstream_avro_file_reader_next(src->avro, &in->record, &e);
        if (rc == 0) {
            src->avro_done = 1;
            return 0;
        }
        in->position = ++src->position;
        if (rc < 0) {
            src->avro_done = 1; /* the block framing is lost: nothing after it can be trusted */
            snprintf(in->error, sizeof in->error, "record %lld: %s (the rest of the file is skipped)",
                     (long long)in->position, e.message);
            segstream_record_init(&in->record, SEGSTREAM_RECORD_INTEREST_CHANGE);
            return 1;
        }
        in->decoded = 1;
        return 1;
    }
    for (;;) {
        errno = 0;
        ssize_t n = getline(&src->line, &src->line_cap, src->f);
        if (n < 0) {
            if (ferror(src->f))
                return segstream_err_set(err, "reading line %lld: %s", (long long)src->position + 1,
                                         strerror(errno ? errno : EIO));
            return 0;
        }
        src->position++;
        size_t len = (size_t)n;
        while (len > 0 && (src->line[len - 1] == '\n' || src->line[len - 1] == '\r'))
            len--;
        if (blank(src->line, len))
            continue;
        in->position = src->position;
        in->raw = malloc(len + 1);
        if (!in->raw)
            return segstream_err_set(err, "line %lld: out of memory", (long long)in->position);
        memcpy(in->raw, src->line, len);
        in->raw[len] = '\0';
        in->raw_len = len;
        segstream_err e = {{0}};
        if (segstream_record_from_json(SEGSTREAM_RECORD_INTEREST_CHANGE, src->line, len, &in->record, &e)) {
            snprintf(in->error, sizeof in->error, "line %lld: %s", (long long)in->position, e.message);
            segstream_record_init(&in->record, SEGSTREAM_RECORD_INTEREST_CHANGE);
            return 1;
        }
        in->decoded = 1;
        return 1;
    }
}

void segstream_file_input_clear(segstream_file_input *in)
{
    segstream_record_clear(&in->record);
    free(in->raw);
    in->raw = NULL;
    in->raw_len = 0;
}

void segstream_file_source_close(segstream_file_source *src)
{
    if (!src)
        return;
    if (src->f && src->f != stdin)
        fclose(src->f);
    segstream_avro_file_reader_close(src->avro);
    free(src->line);
    free(src);
}
