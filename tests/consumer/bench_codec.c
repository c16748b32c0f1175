/* bench_codec.c - encode/decode speed of the C codec on NDJSON records from
 * stdin (bench_codec.py feeds the same records to fastavro and prints both).
 * Prints one line: "<records> <bytes> <encode_s> <decode_s>" for `rounds`
 * passes over all records. Built with -DSEGSTREAM_BENCH=ON. */
#include "consumer/codec.h"
#include "consumer/codec_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    segstream_record_type type;
    if (argc != 3 || segstream_record_type_parse(argv[1], &type) < 0) {
        fprintf(stderr, "usage: bench_codec <type> <rounds> < records.ndjson\n");
        return 2;
    }
    int rounds = atoi(argv[2]);
    segstream_err err = {{0}};
    segstream_codec *codec = segstream_codec_new(NULL, &err);
    size_t n = 0, cap = 0;
    segstream_record *recs = NULL;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, stdin)) > 0) {
        if (n == cap)
            recs = realloc(recs, (cap = cap ? 2 * cap : 1024) * sizeof *recs);
        if (segstream_record_from_json(type, line, (size_t)len, &recs[n], &err) < 0) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        n++;
    }
    segstream_buf *enc = calloc(n, sizeof *enc);
    size_t bytes = 0;
    double t0 = now_s();
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < n; i++)
            if (segstream_codec_encode(codec, &recs[i], SEGSTREAM_FRAMING_SINGLE_OBJECT, 0, &enc[i], &err) < 0)
                return 1;
    double t1 = now_s();
    for (size_t i = 0; i < n; i++)
        bytes += enc[i].len;
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < n; i++) {
            segstream_record out;
            if (segstream_codec_decode(codec, enc[i].data, enc[i].len, &out, NULL, &err) < 0)
                return 1;
            segstream_record_clear(&out);
        }
    double t2 = now_s();
    printf("%zu %zu %.6f %.6f\n", n * (size_t)rounds, bytes * (size_t)rounds, t1 - t0, t2 - t1);
    for (size_t i = 0; i < n; i++) {
        segstream_record_clear(&recs[i]);
        segstream_buf_free(&enc[i]);
    }
    free(recs);
    free(enc);
    free(line);
    segstream_codec_free(codec);
    return 0;
}
