/* cmd_encode.c - `segstream encode`: texts on stdin, one a line, to sentence
 * embeddings: a .npy file (float32, shape (n, dim); the default) or NDJSON
 * (one JSON array of floats a line).
 *
 * NDJSON streams: texts are encoded and written in chunks as they arrive.
 * .npy needs the row count in its header, so all texts are read first (texts
 * are small; their embeddings are still encoded and written chunk by chunk).
 * A line is any bytes up to '\n' (removed); a NUL byte ends the text early,
 * since the encoder takes NUL-terminated strings. */
#include "consumer/commands.h"

#include "model/encoder.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 1024 /* texts a call to the encoder; each call batches by the token budget */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: segstream encode --model DIR [--threads N] [--format npy|ndjson]\n"
            "                        [-o FILE] [--batch-tokens N] [--precision fp32|bf16|int8]\n\n"
            "Reads texts from stdin, one a line, and writes their sentence embeddings\n"
            "(unit vectors, float32) in input order.\n\n"
            "  --model DIR         sentence-transformers model folder (config.json,\n"
            "                      model.safetensors, vocab.txt, 1_Pooling/config.json)\n"
            "  --threads N         threads to use (default 0: all cores)\n"
            "  --format F          npy (default): one .npy array of shape (n, dim);\n"
            "                      ndjson: one JSON array of floats a line\n"
            "  -o, --output FILE   write there instead of stdout\n"
            "  --batch-tokens N    token budget of one forward pass (default %d)\n"
            "  --precision P       fp32 (default), bf16 (where the CPU has it) or int8\n"
            "                      (faster; cosine to fp32 about 0.998)\n"
            "  --help              this text\n",
            segstream_encoder_default_options().max_batch_tokens);
}

struct texts {
    char **v;
    size_t n, cap;
};

static int texts_push(struct texts *t, const char *s, size_t len)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        char **v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return -1;
        t->v = v;
        t->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    t->v[t->n++] = copy;
    return 0;
}

static void texts_clear(struct texts *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i]);
    t->n = 0;
}

/* Reads up to max lines (0: all) into t. Returns 0, or -1 on a read or memory error. */
static int read_lines(FILE *in, struct texts *t, size_t max)
{
    static char *line;
    static size_t cap;
    ssize_t n;
    while ((max == 0 || t->n < max) && (n = getline(&line, &cap, in)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            n--;
        if (texts_push(t, line, (size_t)n))
            return -1;
    }
    if (feof(in) || ferror(in)) {
        free(line);
        line = NULL;
        cap = 0;
    }
    return ferror(in) ? -1 : 0;
}

static int write_npy_header(FILE *out, size_t n, int dim)
{
    char dict[128];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }",
                       n, dim);
    /* magic (6) + version (2) + header length (2) + dict padded with spaces and
     * ended by '\n' to a multiple of 64 bytes, as numpy writes it */
    size_t total = (10 + (size_t)len + 1 + 63) & ~(size_t)63;
    size_t hlen = total - 10;
    unsigned char head[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                              (unsigned char)(hlen >> 8)};
    if (fwrite(head, 1, sizeof head, out) != sizeof head || fwrite(dict, 1, (size_t)len, out) != (size_t)len)
        return -1;
    for (size_t i = (size_t)len; i + 1 < hlen; i++)
        if (fputc(' ', out) == EOF)
            return -1;
    return fputc('\n', out) == EOF ? -1 : 0;
}

static int write_npy_rows(FILE *out, const float *v, size_t count)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "segstream encode writes little-endian float32 ('<f4'); add a byte swap for this platform"
#endif
    return fwrite(v, sizeof *v, count, out) == count ? 0 : -1;
}

static int write_ndjson_rows(FILE *out, const float *v, size_t rows, int dim)
{
    for (size_t r = 0; r < rows; r++) {
        if (fputc('[', out) == EOF)
            return -1;
        for (int j = 0; j < dim; j++)
            /* %.9g round-trips a float32 exactly */
            if (fprintf(out, j ? ",%.9g" : "%.9g", (double)v[r * (size_t)dim + (size_t)j]) < 0)
                return -1;
        if (fputs("]\n", out) == EOF)
            return -1;
    }
    return 0;
}

static int parse_int(const char *flag, const char *s, long lo, long hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "segstream encode: %s must be an integer in %ld..%ld\n", flag, lo, hi);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int segstream_cmd_encode(int argc, char **argv)
{
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},   {"threads", required_argument, NULL, 't'},
        {"format", required_argument, NULL, 'f'},  {"output", required_argument, NULL, 'o'},
        {"batch-tokens", required_argument, NULL, 'b'}, {"help", no_argument, NULL, 'h'},
        {"precision", required_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *output = NULL;
    int ndjson = 0;
    segstream_encoder_options opt = segstream_encoder_default_options();
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:f:o:b:p:h", options, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 't':
            if (parse_int("--threads", optarg, 0, 1024, &opt.threads))
                return 2;
            break;
        case 'f':
            if (strcmp(optarg, "npy") && strcmp(optarg, "ndjson")) {
                fprintf(stderr, "segstream encode: --format must be npy or ndjson\n");
                return 2;
            }
            ndjson = !strcmp(optarg, "ndjson");
            break;
        case 'o':
            output = optarg;
            break;
        case 'b':
            if (parse_int("--batch-tokens", optarg, 1, 1 << 20, &opt.max_batch_tokens))
                return 2;
            break;
        case 'p':
            if (!strcmp(optarg, "fp32"))
                opt.precision = SEGSTREAM_PRECISION_F32;
            else if (!strcmp(optarg, "bf16"))
                opt.precision = SEGSTREAM_PRECISION_BF16;
            else if (!strcmp(optarg, "int8"))
                opt.precision = SEGSTREAM_PRECISION_INT8;
            else {
                fprintf(stderr, "segstream encode: --precision must be fp32, bf16 or int8\n");
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!model || optind != argc) {
        fprintf(stderr, "segstream encode: %s\n", model ? "unexpected argument" : "--model DIR is required");
        usage(stderr);
        return 2;
    }

    segstream_err err = {{0}};
    segstream_encoder *enc = segstream_encoder_open(model, &opt, &err);
    if (!enc) {
        fprintf(stderr, "segstream encode: %s\n", err.message);
        return 1;
    }
    char write_failed[600];
    snprintf(write_failed, sizeof write_failed, "writing %s failed", output ? output : "stdout");
    FILE *out = output ? fopen(output, "wb") : stdout;
    if (!out) {
        fprintf(stderr, "segstream encode: cannot write %s\n", output);
        segstream_encoder_close(enc);
        return 1;
    }
    const int dim = segstream_encoder_dim(enc);
    struct texts t = {0};
    float *vectors = malloc((size_t)CHUNK * (size_t)dim * sizeof *vectors);
    const char *failure = vectors ? NULL : "out of memory";
    if (!failure && !ndjson) {
        if (read_lines(stdin, &t, 0))
            failure = "reading stdin failed (or out of memory)";
        else if (write_npy_header(out, t.n, dim))
            failure = write_failed;
    }
    size_t done = 0;
    while (!failure) {
        if (ndjson) {
            texts_clear(&t);
            if (read_lines(stdin, &t, CHUNK)) {
                failure = "reading stdin failed (or out of memory)";
                break;
            }
            done = 0;
        }
        size_t count = t.n - done < CHUNK ? t.n - done : CHUNK;
        if (count == 0)
            break;
        if (segstream_encoder_encode(enc, (const char *const *)t.v + done, count, vectors, &err)) {
            segstream_err_prefix(&err, "line %zu..%zu", done + 1, done + count);
            failure = err.message;
            break;
        }
        if (ndjson ? write_ndjson_rows(out, vectors, count, dim)
                   : write_npy_rows(out, vectors, count * (size_t)dim))
            failure = write_failed;
        done += count;
    }
    if (fflush(out) != 0 && !failure)
        failure = write_failed;
    if (output && fclose(out) != 0 && !failure)
        failure = write_failed;
    if (failure)
        fprintf(stderr, "segstream encode: %s\n", failure);
    texts_clear(&t);
    free(t.v);
    free(vectors);
    segstream_encoder_close(enc);
    return failure ? 1 : 0;
}
