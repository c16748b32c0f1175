/* avro_file.c - Avro object container files (see avro_file.h).
 *
 * Layout read here, per the Avro spec: "Obj" 01, a metadata map<bytes>
 * (avro.schema, avro.codec), a 16-byte sync marker, then blocks of
 * (record count, byte size, records, sync marker). The reader streams one
 * block at a time, so memory stays bounded by the largest block allowed. */
#include "consumer/avro_file.h"

#include "consumer/avro_pcf.h"
#include "consumer/codec_internal.h"
#include "consumer/crc64avro.h"

#include <avro.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define WRITER_BLOCK_BYTES (1u << 20)      /* avro-c's block buffer: a record must fit */
#define MAX_BLOCK_BYTES (64u << 20)        /* stored or inflated */
#define MAX_METADATA_VALUE_BYTES (1u << 20) /* a schema is a few KiB */
#define MAX_METADATA_ENTRIES 1024
#define SYNC_BYTES 16

/* ---------------------------------------------------------------- writer */

struct segstream_avro_file_writer {
    avro_file_writer_t file;
    segstream_record_type type;
    segstream_buf body;
};

segstream_avro_file_writer *segstream_avro_file_writer_open(const char *path, segstream_record_type type,
                                                            const char *compression, segstream_err *err)
{
    const char *json = segstream_codec_schema_json(type);
    if (!json) {
        segstream_err_set(err, "%s: unknown record type %d", path, (int)type);
        return NULL;
    }
    if (strcmp(compression, "null") && strcmp(compression, "deflate")) {
        segstream_err_set(err, "%s: compression %s: expected null or deflate", path, compression);
        return NULL;
    }
    avro_schema_t schema;
    if (avro_schema_from_json_length(json, strlen(json), &schema)) {
        segstream_err_set(err, "%s: schema: %s", path, avro_strerror());
        return NULL;
    }
    segstream_avro_file_writer *w = calloc(1, sizeof *w);
    if (!w) {
        avro_schema_decref(schema);
        segstream_err_set(err, "out of memory");
        return NULL;
    }
    w->type = type;
    int rc = avro_file_writer_create_with_codec(path, schema, &w->file, compression, WRITER_BLOCK_BYTES);
    avro_schema_decref(schema); /* the writer keeps its own reference */
    if (rc) {
        segstream_err_set(err, "%s: %s", path, avro_strerror());
        free(w);
        return NULL;
    }
    return w;
}

int segstream_avro_file_writer_append(segstream_avro_file_writer *w, const segstream_record *rec,
                                      segstream_err *err)
{
    if (rec->type != w->type)
        return segstream_err_set(err, "a %s record in a file of %s", segstream_record_type_name(rec->type),
                                 segstream_record_type_name(w->type));
    segstream_buf_reset(&w->body);
    if (segstream_codec_encode_body(rec, &w->body, err) < 0)
        return -1;
    if (w->body.len > WRITER_BLOCK_BYTES)
        return segstream_err_set(err, "record of %zu bytes exceeds the file block size %u", w->body.len,
                                 WRITER_BLOCK_BYTES);
    if (avro_file_writer_append_encoded(w->file, w->body.data, (int64_t)w->body.len))
        return segstream_err_set(err, "avro-c: %s", avro_strerror());
    return 0;
}

int segstream_avro_file_writer_close(segstream_avro_file_writer *w, segstream_err *err)
{
    if (!w)
        return 0;
    int rc = 0;
    if (avro_file_writer_close(w->file))
        rc = segstream_err_set(err, "closing the Avro file: %s", avro_strerror());
    segstream_buf_free(&w->body);
    free(w);
    return rc;
}

/* ---------------------------------------------------------------- reader */

struct segstream_avro_file_reader {
    FILE *file;
    char *path;
    const segstream_codec *codec;
    segstream_record_type type;
    bool deflate;
    uint8_t sync[SYNC_BYTES];
    uint64_t offset;       /* file bytes consumed so far */
    uint8_t *block;        /* the current block's records (inflated if needed) */
    size_t block_len, block_pos;
    uint64_t block_offset; /* file offset of the current block's count */
    int64_t block_left;    /* records still to read in the current block */
    uint8_t *raw;          /* scratch for compressed blocks */
    bool failed;
};

static int read_exact(segstream_avro_file_reader *r, void *buf, size_t n, const char *what, segstream_err *err)
{
    if (n && fread(buf, 1, n, r->file) != n)
        return segstream_err_set(err, "%s: %s truncated at byte %llu", r->path, what,
                                 (unsigned long long)r->offset);
    r->offset += n;
    return 0;
}

/* A zig-zag varint from the file; *eof set (and 0 returned) when the file
 * ends before its first byte and eof is not NULL. */
static int read_long(segstream_avro_file_reader *r, const char *what, int64_t *out, bool *eof, segstream_err *err)
{
    uint64_t z = 0;
    uint64_t start = r->offset;
    for (int i = 0;; i++) {
        int c = fgetc(r->file);
        if (c == EOF) {
            if (i == 0 && eof) {
                *eof = true;
                return 0;
            }
            return segstream_err_set(err, "%s: %s truncated at byte %llu", r->path, what,
                                     (unsigned long long)start);
        }
        r->offset++;
        if (i == 9 && c > 1)
            return segstream_err_set(err, "%s: %s at byte %llu: varint longer than 64 bits", r->path, what,
                                     (unsigned long long)start);
        z |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80))
            break;
    }
    *out = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
    return 0;
}

/* A length-prefixed byte string of at most max bytes, NUL-terminated copy. */
static int read_bytes(segstream_avro_file_reader *r, const char *what, size_t max, char **out, size_t *len,
                      segstream_err *err)
{
    uint64_t at = r->offset;
    int64_t n;
    if (read_long(r, what, &n, NULL, err) < 0)
        return -1;
    if (n < 0 || (uint64_t)n > max)
        return segstream_err_set(err, "%s: %s at byte %llu: length %lld outside [0, %zu]", r->path, what,
                                 (unsigned long long)at, (long long)n, max);
    char *s = malloc((size_t)n + 1);
    if (!s)
        return segstream_err_set(err, "out of memory");
    if (read_exact(r, s, (size_t)n, what, err) < 0) {
        free(s);
        return -1;
    }
    s[n] = '\0';
    *out = s;
    *len = (size_t)n;
    return 0;
}

static int read_header(segstream_avro_file_reader *r, segstream_err *err)
{
    uint8_t magic[4];
    if (read_exact(r, magic, 4, "header", err) < 0)
        return -1;
    if (memcmp(magic, "Obj\x01", 4))
        return segstream_err_set(err, "%s: not an Avro container file (no Obj 01 magic)", r->path);
    char *schema = NULL, *codec = NULL;
    size_t schema_len = 0, entries = 0;
    int rc = 0;
    for (;;) {
        int64_t count;
        if ((rc = read_long(r, "metadata block count", &count, NULL, err)) < 0)
            break;
        if (count == 0)
            break;
        if (count < 0) {
            int64_t size;
            if ((rc = read_long(r, "metadata block size", &size, NULL, err)) < 0)
                break;
            count = count == INT64_MIN ? INT64_MAX : -count;
        }
        if (count > MAX_METADATA_ENTRIES || (entries += (size_t)count) > MAX_METADATA_ENTRIES) {
            rc = segstream_err_set(err, "%s: more than %d metadata entries", r->path, MAX_METADATA_ENTRIES);
            break;
        }
        for (int64_t i = 0; rc == 0 && i < count; i++) {
            char *key = NULL, *value = NULL;
            size_t klen = 0, vlen = 0; /* set by read_bytes on success; GCC -O3 warns otherwise */
            if ((rc = read_bytes(r, "metadata key", 256, &key, &klen, err)) < 0)
                break;
            if ((rc = read_bytes(r, "metadata value", MAX_METADATA_VALUE_BYTES, &value, &vlen, err)) < 0) {
                free(key);
                break;
            }
            if (!strcmp(key, "avro.schema")) {
                free(schema);
                schema = value;
                schema_len = vlen;
            } else if (!strcmp(key, "avro.codec")) {
                free(codec);
                codec = value;
            } else {
                free(value);
            }
            free(key);
        }
        if (rc < 0)
            break;
    }
    if (rc == 0)
        rc = read_exact(r, r->sync, SYNC_BYTES, "sync marker", err);
    if (rc == 0 && !schema)
        rc = segstream_err_set(err, "%s: no avro.schema in the header", r->path);
    if (rc == 0 && codec && strcmp(codec, "null") && strcmp(codec, "deflate"))
        rc = segstream_err_set(err, "%s: codec %.32s not supported (null, deflate)", r->path, codec);
    r->deflate = codec && !strcmp(codec, "deflate");
    if (rc == 0) {
        char *pcf = segstream_avro_canonical_form(schema, schema_len, err);
        if (!pcf) {
            rc = segstream_err_prefix(err, "%s: avro.schema", r->path);
        } else {
            uint64_t fp = segstream_crc64_avro(pcf, strlen(pcf));
            if (segstream_codec_type_of_fingerprint(r->codec, fp, &r->type) < 0)
                rc = segstream_err_set(err, "%s: the writer schema is none of ours (canonical form %.200s); "
                                            "schema resolution is not supported", r->path, pcf);
            free(pcf);
        }
    }
    free(schema);
    free(codec);
    return rc;
}

segstream_avro_file_reader *segstream_avro_file_reader_open(const segstream_codec *codec, const char *path,
                                                            segstream_err *err)
{
    segstream_avro_file_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        segstream_err_set(err, "out of memory");
        return NULL;
    }
    r->codec = codec;
    if (!(r->file = fopen(path, "rb"))) {
        segstream_err_set(err, "%s: cannot open", path);
        segstream_avro_file_reader_close(r);
        return NULL;
    }
    if (read_header(r, err) < 0) {
        segstream_avro_file_reader_close(r);
        return NULL;
    }
    return r;
}

segstream_record_type segstream_avro_file_reader_type(const segstream_avro_file_reader *r)
{
    return r->type;
}

/* Raw deflate (no zlib header), as the Avro spec's "deflate" codec. */
static int inflate_block(segstream_avro_file_reader *r, const uint8_t *in, size_t n, segstream_err *err)
{
    z_stream zs = {0};
    if (inflateInit2(&zs, -15) != Z_OK)
        return segstream_err_set(err, "%s: zlib init failed", r->path);
    size_t cap = n * 4 + 1024 < MAX_BLOCK_BYTES ? n * 4 + 1024 : MAX_BLOCK_BYTES;
    uint8_t *out = realloc(r->block, cap);
    int rc = out ? 0 : segstream_err_set(err, "out of memory");
    if (out)
        r->block = out;
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    size_t produced = 0;
    while (rc == 0) {
        zs.next_out = r->block + produced;
        zs.avail_out = (uInt)(cap - produced);
        int z = inflate(&zs, Z_NO_FLUSH);
        produced = cap - zs.avail_out;
        if (z == Z_STREAM_END)
            break;
        if (z != Z_OK && !(z == Z_BUF_ERROR && zs.avail_out == 0)) {
            rc = segstream_err_set(err, "%s: block at byte %llu: deflate data corrupt", r->path,
                                   (unsigned long long)r->block_offset);
            break;
        }
        if (zs.avail_out == 0) {
            if (cap >= MAX_BLOCK_BYTES) {
                rc = segstream_err_set(err, "%s: block at byte %llu inflates beyond %u bytes", r->path,
                                       (unsigned long long)r->block_offset, MAX_BLOCK_BYTES);
                break;
            }
            cap = cap * 2 < MAX_BLOCK_BYTES ? cap * 2 : MAX_BLOCK_BYTES;
            uint8_t *grown = realloc(r->block, cap);
            if (!grown)
                rc = segstream_err_set(err, "out of memory");
            else
                r->block = grown;
        } else if (zs.avail_in == 0) {
            rc = segstream_err_set(err, "%s: block at byte %llu: deflate data truncated", r->path,
                                   (unsigned long long)r->block_offset);
        }
    }
    inflateEnd(&zs);
    r->block_len = produced;
    return rc;
}

/* Loads the next block; 0 with *eof at a clean end of file. */
static int next_block(segstream_avro_file_reader *r, bool *eof, segstream_err *err)
{
    int64_t count, size;
    r->block_offset = r->offset;
    if (read_long(r, "block count", &count, eof, err) < 0 || *eof)
        return *eof ? 0 : -1;
    if (read_long(r, "block size", &size, NULL, err) < 0)
        return -1;
    if (count < 0 || size < 0 || (uint64_t)size > MAX_BLOCK_BYTES)
        return segstream_err_set(err, "%s: block at byte %llu: count %lld, size %lld outside the limits (size <= %u)",
                                 r->path, (unsigned long long)r->block_offset, (long long)count, (long long)size,
                                 MAX_BLOCK_BYTES);
    uint8_t *dst = realloc(r->deflate ? r->raw : r->block, (size_t)size ? (size_t)size : 1);
    if (!dst)
        return segstream_err_set(err, "out of memory");
    if (r->deflate)
        r->raw = dst;
    else
        r->block = dst;
    if (read_exact(r, dst, (size_t)size, "block", err) < 0)
        return -1;
    if (r->deflate) {
        if (inflate_block(r, r->raw, (size_t)size, err) < 0)
            return -1;
    } else {
        r->block_len = (size_t)size;
    }
    /* Every record takes at least one byte: a larger count is forged. */
    if ((uint64_t)count > r->block_len)
        return segstream_err_set(err, "%s: block at byte %llu: %lld records cannot fit in %zu bytes", r->path,
                                 (unsigned long long)r->block_offset, (long long)count, r->block_len);
    uint8_t sync[SYNC_BYTES];
    if (read_exact(r, sync, SYNC_BYTES, "sync marker", err) < 0)
        return -1;
    if (memcmp(sync, r->sync, SYNC_BYTES))
        return segstream_err_set(err, "%s: block at byte %llu: sync marker mismatch", r->path,
                                 (unsigned long long)r->block_offset);
    r->block_pos = 0;
    r->block_left = count;
    return 0;
}

int segstream_avro_file_reader_next(segstream_avro_file_reader *r, segstream_record *out, segstream_err *err)
{
    segstream_record_init(out, r->type);
    if (r->failed)
        return segstream_err_set(err, "%s: reader stopped at an earlier error", r->path);
    while (r->block_left == 0) {
        if (r->block_pos != r->block_len) {
            r->failed = true;
            return segstream_err_set(err, "%s: block at byte %llu: %zu bytes after its last record", r->path,
                                     (unsigned long long)r->block_offset, r->block_len - r->block_pos);
        }
        bool eof = false;
        if (next_block(r, &eof, err) < 0) {
            r->failed = true;
            return -1;
        }
        if (eof)
            return 0;
    }
    segstream_avro_reader br = {.data = r->block, .len = r->block_len, .pos = r->block_pos, .err = err};
    if (segstream_codec_read_record(&br, r->type, out) < 0) {
        r->failed = true;
        return segstream_err_prefix(err, "%s: block at byte %llu%s", r->path, (unsigned long long)r->block_offset,
                                    r->deflate ? " (offsets in the inflated block)" : " (offsets in the block)");
    }
    r->block_pos = br.pos;
    r->block_left--;
    return 1;
}

void segstream_avro_file_reader_close(segstream_avro_file_reader *r)
{
    if (!r)
        return;
    if (r->file)
        fclose(r->file);
    free(r->block);
    free(r->raw);
    free(r->path);
    free(r);
}
