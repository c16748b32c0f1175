/* avro_file.h - Avro object container files of event records (file mode:
 * backfills and trying the pipeline without Kafka, e.g. events.avro).
 *
 * Writing goes through avro-c's container writer, fed with bodies from the
 * hand-written encoder. Reading is hand-written and bounded like the message
 * decoder (avro-c 1.11 trusts file contents: block counts and sizes, the
 * metadata map): header, metadata and every block are checked against
 * limits and the sync marker before a record is decoded. Codecs: "null" and
 * "deflate". The file's writer schema must be one of ours (same canonical
 * form, so docs may differ); schema resolution is not done.
 *
 * Threads: a reader or writer is used by one thread at a time. */
#ifndef SEGSTREAM_CONSUMER_AVRO_FILE_H
#define SEGSTREAM_CONSUMER_AVRO_FILE_H

#include "common/err.h"
#include "consumer/codec.h"
#include "consumer/records.h"

typedef struct segstream_avro_file_writer segstream_avro_file_writer;
typedef struct segstream_avro_file_reader segstream_avro_file_reader;

/* Creates (truncates) path for records of `type`; compression "null" or
 * "deflate". Returns NULL with err set. */
segstream_avro_file_writer *segstream_avro_file_writer_open(const char *path, segstream_record_type type,
                                                            const char *compression, segstream_err *err);

/* Appends one record (of the writer's type). Returns 0 or -1 with err. */
int segstream_avro_file_writer_append(segstream_avro_file_writer *w, const segstream_record *rec,
                                      segstream_err *err);

/* Flushes the last block and closes; frees w even on failure. Returns 0 or -1. */
int segstream_avro_file_writer_close(segstream_avro_file_writer *w, segstream_err *err);

/* Opens a container file and checks its header; the codec (borrowed, must
 * outlive the reader) identifies the writer schema by fingerprint. */
segstream_avro_file_reader *segstream_avro_file_reader_open(const segstream_codec *codec, const char *path,
                                                            segstream_err *err);

/* The record type of the file's writer schema. */
segstream_record_type segstream_avro_file_reader_type(const segstream_avro_file_reader *r);

/* Reads the next record into *out (overwritten; the caller clears it).
 * Returns 1 for a record, 0 at the end of the file, -1 with err (which names
 * the block's file offset and the field). After an error the reader is
 * done: further calls return -1. */
int segstream_avro_file_reader_next(segstream_avro_file_reader *r, segstream_record *out, segstream_err *err);

void segstream_avro_file_reader_close(segstream_avro_file_reader *r);

#endif
