/* file_source.h - InterestChange events from a file, for file mode.
 *
 * Two formats, told apart by the first bytes (an Avro container file starts
 * with "Obj" 01): NDJSON, one record a line (blank lines skipped), or an Avro
 * object container file of InterestChange records (consumer/avro_file.h).
 * A line that does not parse is not an error of the source: it comes back as
 * an input that did not decode, with its bytes and the reason, so the caller
 * dead-letters it and goes on. In a container file a bad block ends the file
 * (its framing is lost): that comes back once as an input that did not
 * decode, then the end.
 *
 * Each input carries its position: the 1-based line number (NDJSON) or
 * record number (Avro), so both forms of the same events number them alike.
 *
 * Threads: one thread at a time per source. */
#ifndef SEGSTREAM_CONSUMER_FILE_SOURCE_H
#define SEGSTREAM_CONSUMER_FILE_SOURCE_H

#include "common/err.h"
#include "consumer/codec.h"
#include "consumer/records.h"

#include <stdint.h>

typedef struct segstream_file_source segstream_file_source;

typedef struct segstream_file_input {
    int decoded;              /* 1: record holds the event; 0: error says why not */
    segstream_record record;  /* an InterestChange when decoded */
    int64_t position;         /* line number (NDJSON) or record number (Avro), from 1 */
    char *raw;                /* the line's bytes (NDJSON; NULL for Avro) */
    size_t raw_len;
    char error[SEGSTREAM_ERR_MESSAGE_MAX + 96]; /* room for the position around a decoder message */
} segstream_file_input;

/* Opens path ("-" = stdin, NDJSON only). The codec is borrowed for Avro
 * files and must outlive the source. NULL with err if the file cannot be
 * opened or an Avro file's header is bad or holds another record type. */
segstream_file_source *segstream_file_source_open(const segstream_codec *codec, const char *path,
                                                  segstream_err *err);

/* Reads the next input into *in (overwritten; release it with
 * segstream_file_input_clear). Returns 1, 0 at the end, or -1 with err on a
 * read error of the file itself. */
int segstream_file_source_next(segstream_file_source *src, segstream_file_input *in, segstream_err *err);

/* "ndjson" or "avro". */
const char *segstream_file_source_format(const segstream_file_source *src);

void segstream_file_input_clear(segstream_file_input *in);
void segstream_file_source_close(segstream_file_source *src); /* NULL is fine */

#endif
