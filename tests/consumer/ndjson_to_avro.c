/* ndjson_to_avro.c - test tool: InterestChange NDJSON on stdin -> an Avro
 * container file (for the file-mode test: the same events in both forms).
 * Usage: ndjson_to_avro OUT.avro [null|deflate]. Blank lines are skipped; a
 * line that does not parse is an error (the test feeds clean input). */
#include "consumer/avro_file.h"
#include "consumer/codec_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: ndjson_to_avro OUT.avro [null|deflate] < events.ndjson\n");
        return 2;
    }
    segstream_err err = {{0}};
    segstream_avro_file_writer *w = segstream_avro_file_writer_open(
        argv[1], SEGSTREAM_RECORD_INTEREST_CHANGE, argc > 2 ? argv[2] : "deflate", &err);
    if (!w) {
        fprintf(stderr, "ndjson_to_avro: %s\n", err.message);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0;
    while (!rc && (n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        segstream_record rec;
        segstream_record_init(&rec, SEGSTREAM_RECORD_INTEREST_CHANGE);
        if (segstream_record_from_json(SEGSTREAM_RECORD_INTEREST_CHANGE, line, (size_t)n, &rec, &err) ||
            segstream_avro_file_writer_append(w, &rec, &err)) {
            fprintf(stderr, "ndjson_to_avro: line %ld: %s\n", lineno, err.message);
            rc = 1;
        }
        segstream_record_clear(&rec);
    }
    free(line);
    if (segstream_avro_file_writer_close(w, &err) && !rc) {
        fprintf(stderr, "ndjson_to_avro: %s\n", err.message);
        rc = 1;
    }
    return rc;
}
