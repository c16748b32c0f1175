/* cmd_tokenize.c - `segstream tokenize`: texts on stdin, one a line, to
 * WordPiece ids on stdout, one JSON array a line (the same format as
 * tools/tokenizer-reference, so the two can be diffed).
 *
 * A line is any bytes up to '\n' (which is removed; '\r' and invalid UTF-8 are
 * text like any other); lines of any length are read with getline. Output is
 * formatted by hand into a large stdio buffer: printf per id would dominate. */
#include "consumer/commands.h"

#include "model/tokenizer.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: segstream tokenize --model DIR [--max-tokens N]\n\n"
            "Reads texts from stdin, one a line (the trailing newline removed, any\n"
            "bytes allowed), and writes each one's WordPiece ids, [CLS] and [SEP]\n"
            "included, as a JSON array on a line of stdout.\n\n"
            "  --model DIR       Hugging Face model folder (vocab.txt, tokenizer_config.json,\n"
            "                    sentence_bert_config.json)\n"
            "  --max-tokens N    truncate to N ids (default: the model's max_seq_length)\n"
            "  --help            this text\n");
}

static int write_ids(const int32_t *ids, int n, FILE *out)
{
    char line[16 * 1024];
    size_t w = 0;
    line[w++] = '[';
    for (int i = 0; i < n; i++) {
        if (w + 16 > sizeof line) {
            if (fwrite(line, 1, w, out) != w)
                return -1;
            w = 0;
        }
        if (i)
            line[w++] = ',';
        char digits[12];
        int k = 0;
        uint32_t v = (uint32_t)ids[i]; /* ids are never negative */
        do
            digits[k++] = (char)('0' + v % 10);
        while ((v /= 10));
        while (k)
            line[w++] = digits[--k];
    }
    line[w++] = ']';
    line[w++] = '\n';
    return fwrite(line, 1, w, out) == w ? 0 : -1;
}

int segstream_cmd_tokenize(int argc, char **argv)
{
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},
        {"max-tokens", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model = NULL;
    segstream_tokenizer_options opt = segstream_tokenizer_default_options();
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:t:h", options, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 2 || v > 1 << 20) {
                fprintf(stderr, "segstream tokenize: --max-tokens must be an integer in 2..%d\n", 1 << 20);
                return 2;
            }
            opt.max_tokens = (int)v;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!model || optind != argc) {
        fprintf(stderr, "segstream tokenize: %s\n",
                model ? "unexpected argument" : "--model DIR is required");
        usage(stderr);
        return 2;
    }
    segstream_err err = {{0}};
    segstream_tokenizer *tok = segstream_tokenizer_open(model, &opt, &err);
    if (!tok) {
        fprintf(stderr, "segstream tokenize: %s\n", err.message);
        return 1;
    }
    int cap = segstream_tokenizer_max_tokens(tok);
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t n;
    int rc = ids ? 0 : 1;
    while (rc == 0 && (n = getline(&line, &line_cap, stdin)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            n--;
        int k = segstream_tokenizer_encode(tok, line, (size_t)n, ids, cap, &err);
        if (k < 0 || write_ids(ids, k, stdout) < 0) {
            fprintf(stderr, "segstream tokenize: %s\n", k < 0 ? err.message : "write to stdout failed");
            rc = 1;
        }
    }
    if (rc == 0 && ferror(stdin)) {
        fprintf(stderr, "segstream tokenize: reading stdin failed\n");
        rc = 1;
    }
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "segstream tokenize: write to stdout failed\n");
        rc = 1;
    }
    free(line);
    free(ids);
    segstream_tokenizer_close(tok);
    return rc;
}
