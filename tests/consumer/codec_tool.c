/* codec_tool.c - a small driver of the C codec for the parity test against
 * fastavro (codec_parity.py). Modes:
 *   codec_tool schema <type>   fingerprint (wire bytes, hex) and canonical form
 *   codec_tool pcf             schema JSON on stdin -> fingerprint and canonical form
 *   codec_tool encode <type>   NDJSON lines -> hex of single-object messages
 *   codec_tool decode          hex lines -> NDJSON lines ("ERROR <message>" on failure)
 *   codec_tool write-file <type> <path> <null|deflate>   NDJSON lines -> Avro container file
 *   codec_tool read-file <path>                          Avro container file -> NDJSON lines */
#include "consumer/avro_file.h"
#include "consumer/avro_pcf.h"
#include "consumer/codec.h"
#include "consumer/codec_json.h"
#include "consumer/crc64avro.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_fingerprint(uint64_t fp)
{
    for (int i = 0; i < 8; i++)
        printf("%02x", (unsigned)(fp >> (8 * i)) & 0xff);
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int main(int argc, char **argv)
{
    segstream_err err = {{0}};
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "pcf")) {
        static char json[1 << 16];
        size_t n = fread(json, 1, sizeof json, stdin);
        char *pcf = segstream_avro_canonical_form(json, n, &err);
        if (!pcf) {
            fprintf(stderr, "pcf: %s\n", err.message);
            return 1;
        }
        print_fingerprint(segstream_crc64_avro(pcf, strlen(pcf)));
        printf(" %s\n", pcf);
        free(pcf);
        return 0;
    }
    segstream_codec *codec = segstream_codec_new(NULL, &err);
    if (!codec) {
        fprintf(stderr, "codec: %s\n", err.message);
        return 1;
    }
    segstream_record_type type = SEGSTREAM_RECORD_INTEREST_CHANGE;
    bool typed = !strcmp(argv[1], "schema") || !strcmp(argv[1], "encode") || !strcmp(argv[1], "write-file");
    if (typed && argc > 2 && segstream_record_type_parse(argv[2], &type) < 0) {
        fprintf(stderr, "unknown type %s\n", argv[2]);
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    segstream_buf buf = {0};
    if (!strcmp(argv[1], "schema")) {
        print_fingerprint(segstream_codec_fingerprint(codec, type));
        printf(" %s\n", segstream_codec_canonical_form(codec, type));
    } else if (!strcmp(argv[1], "encode")) {
        while ((len = getline(&line, &cap, stdin)) > 0) {
            segstream_record r;
            if (segstream_record_from_json(type, line, (size_t)len, &r, &err) < 0 ||
                segstream_codec_encode(codec, &r, SEGSTREAM_FRAMING_SINGLE_OBJECT, 0, &buf, &err) < 0) {
                fprintf(stderr, "encode: %s\n", err.message);
                rc = 1;
            }
            for (size_t i = 0; i < buf.len; i++)
                printf("%02x", buf.data[i]);
            printf("\n");
            segstream_record_clear(&r);
        }
    } else if (!strcmp(argv[1], "decode")) {
        while ((len = getline(&line, &cap, stdin)) > 0) {
            segstream_buf_reset(&buf);
            for (ssize_t i = 0; i + 1 < len && hexval(line[i]) >= 0; i += 2) {
                uint8_t b = (uint8_t)(hexval(line[i]) << 4 | hexval(line[i + 1]));
                segstream_buf_put(&buf, &b, 1);
            }
            segstream_record r;
            char *json = NULL;
            if (segstream_codec_decode(codec, buf.data, buf.len, &r, NULL, &err) < 0 ||
                !(json = segstream_record_to_json(&r, &err)))
                printf("ERROR %s\n", err.message);
            else
                printf("%s %s\n", segstream_record_type_name(r.type), json);
            free(json);
            segstream_record_clear(&r);
        }
    } else if (!strcmp(argv[1], "write-file") && argc == 5) {
        segstream_avro_file_writer *w = segstream_avro_file_writer_open(argv[3], type, argv[4], &err);
        while (w && (len = getline(&line, &cap, stdin)) > 0) {
            segstream_record r;
            if (segstream_record_from_json(type, line, (size_t)len, &r, &err) < 0 ||
                segstream_avro_file_writer_append(w, &r, &err) < 0) {
                fprintf(stderr, "write-file: %s\n", err.message);
                rc = 1;
            }
            segstream_record_clear(&r);
        }
        if (!w || segstream_avro_file_writer_close(w, &err) < 0) {
            fprintf(stderr, "write-file: %s\n", err.message);
            rc = 1;
        }
    } else if (!strcmp(argv[1], "read-file") && argc == 3) {
        segstream_avro_file_reader *fr = segstream_avro_file_reader_open(codec, argv[2], &err);
        segstream_record r;
        int got = fr ? 1 : -1;
        while (fr && (got = segstream_avro_file_reader_next(fr, &r, &err)) == 1) {
            char *json = segstream_record_to_json(&r, &err);
            printf("%s\n", json ? json : "null");
            free(json);
            segstream_record_clear(&r);
        }
        if (got < 0) {
            fprintf(stderr, "read-file: %s\n", err.message);
            rc = 1;
        }
        segstream_avro_file_reader_close(fr);
    } else {
        rc = 2;
    }
    free(line);
    segstream_buf_free(&buf);
    segstream_codec_free(codec);
    return rc;
}
