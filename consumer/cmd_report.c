/* cmd_report.c - `segstream report`: the segment catalog and the segment
 * changes (files or topics) -> one self-contained HTML page (map of the
 * active segments, sizes over time with births, splits, merges and
 * retirements, change rates per cause, keywords and example texts).
 *
 * Reads the catalog first, then the changes, then the optional input events
 * (report.h keeps only the events some change points at), so memory stays
 * proportional to the catalog and the changes. The catalog is fed in model
 * version order: a topic's partitions interleave arbitrarily (each segment's
 * records stay in order, since the key is the segment id), so its records
 * are collected and stably sorted first. Changes are fed as read: each
 * user's stay in order (key = user id), which is all the report needs. */
#include "consumer/cli_kafka.h"
#include "consumer/commands.h"
#include "consumer/report.h"
#include "consumer/report_html.h"
#include "consumer/report_source.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out,
            "usage: segstream report (--segments FILE | --topic TOPIC) [--changes FILE | --changes-topic TOPIC]\n"
            "                        [--events FILE] [--brokers B] [--set kafka.key=value]... [--timeout S]\n"
            "                        [--retire-size X] [--examples N] [--title T] -o report.html\n"
            "Writes one self-contained HTML page (no network access) about the segments.\n"
            "  --segments FILE       the segment catalog: NDJSON (segstream run --segments) or an Avro file\n"
            "  --topic TOPIC         ... or the catalog topic, read to its end (read_committed)\n"
            "  --changes FILE        the segment changes: NDJSON or an Avro file\n"
            "  --changes-topic TOPIC ... or the segment-changes topic, read to its end\n"
            "  --events FILE         the input events (NDJSON or Avro), for example texts per segment\n"
            "  --brokers B           bootstrap servers (default $SEGSTREAM_BROKERS, else 127.0.0.1:9092)\n"
            "  --timeout S           give up on a topic after S seconds without progress (default 30)\n"
            "  --retire-size X       the run's cluster.retire_size (default 0.05): tells merges from retirements\n"
            "  --examples N          example texts per segment (default 5)\n"
            "  --title T             the page title\n"
            "  -o FILE               where to write the page (- = stdout)\n");
}

typedef struct report_args {
    const char *segments, *topic, *changes, *changes_topic, *events, *brokers, *title, *output;
    char *sets[SEGSTREAM_CLI_MAX_SETS];
    size_t nsets;
    double timeout_s;
    segstream_report_options opt;
} report_args;

static int parse_number(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "segstream report: %s %s: expected a number in %g..%g\n", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* -1 = go on; else the exit status. */
static int parse_args(int argc, char **argv, report_args *a)
{
    enum { O_SEG = 256, O_TOPIC, O_CHG, O_CHGT, O_EV, O_BROKERS, O_SET, O_TIMEOUT, O_RETIRE, O_EX, O_TITLE };
    static const struct option longopts[] = {
        {"segments", required_argument, NULL, O_SEG},  {"topic", required_argument, NULL, O_TOPIC},
        {"changes", required_argument, NULL, O_CHG},   {"changes-topic", required_argument, NULL, O_CHGT},
        {"events", required_argument, NULL, O_EV},     {"brokers", required_argument, NULL, O_BROKERS},
        {"set", required_argument, NULL, O_SET},       {"timeout", required_argument, NULL, O_TIMEOUT},
        {"retire-size", required_argument, NULL, O_RETIRE}, {"examples", required_argument, NULL, O_EX},
        {"title", required_argument, NULL, O_TITLE},   {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},              {NULL, 0, NULL, 0}};
    int c;
    double v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case O_SEG: a->segments = optarg; break;
        case O_TOPIC: a->topic = optarg; break;
        case O_CHG: a->changes = optarg; break;
        case O_CHGT: a->changes_topic = optarg; break;
        case O_EV: a->events = optarg; break;
        case O_BROKERS: a->brokers = optarg; break;
        case O_TITLE: a->title = optarg; break;
        case 'o': a->output = optarg; break;
        case O_SET:
            if (a->nsets == SEGSTREAM_CLI_MAX_SETS) {
                fprintf(stderr, "segstream report: more than %d --set\n", SEGSTREAM_CLI_MAX_SETS);
                return 2;
            }
            a->sets[a->nsets++] = optarg;
            break;
        case O_TIMEOUT:
            if (parse_number("--timeout", optarg, 0.1, 86400, &a->timeout_s) < 0)
                return 2;
            break;
        case O_RETIRE:
            if (parse_number("--retire-size", optarg, 0, 0.999, &a->opt.retire_share) < 0)
                return 2;
            break;
        case O_EX:
            if (parse_number("--examples", optarg, 0, 100, &v) < 0)
                return 2;
            a->opt.max_examples = (size_t)v;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !a->output || !a->segments == !a->topic || (a->changes && a->changes_topic)) {
        if (optind == argc && a->output && !a->segments == !a->topic)
            fprintf(stderr, "segstream report: give one of --segments and --topic\n");
        else if (a->changes && a->changes_topic)
            fprintf(stderr, "segstream report: give at most one of --changes and --changes-topic\n");
        usage(stderr);
        return 2;
    }
    return -1;
}

typedef struct catalog_buffer {
    segstream_record *recs;
    size_t n, cap;
} catalog_buffer;

static int collect_segment(void *ctx, const segstream_record *rec, int32_t partition, int64_t position,
                           segstream_err *err)
{
    (void)partition, (void)position;
    catalog_buffer *b = ctx;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        segstream_record *recs = realloc(b->recs, cap * sizeof *recs);
        if (!recs)
            return segstream_err_set(err, "report: out of memory");
        b->recs = recs, b->cap = cap;
    }
    if (segstream_record_copy(&b->recs[b->n], rec) < 0)
        return segstream_err_set(err, "report: out of memory");
    b->n++;
    return 0;
}

/* By model version; equal versions keep their reading order (merge sort). */
static void sort_by_version(segstream_record *a, segstream_record *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sort_by_version(a, tmp, h);
    sort_by_version(a + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = a[j].segment.model_version < a[i].segment.model_version ? a[j++] : a[i++];
    while (i < h)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
}

static int add_record(void *ctx, const segstream_record *rec, int32_t partition, int64_t position, segstream_err *err)
{
    (void)partition;
    segstream_report *r = ctx;
    switch (rec->type) {
    case SEGSTREAM_RECORD_SEGMENT: return segstream_report_add_segment(r, &rec->segment, err);
    case SEGSTREAM_RECORD_SEGMENT_CHANGE: return segstream_report_add_change(r, &rec->segment_change, err);
    case SEGSTREAM_RECORD_INTEREST_CHANGE:
        return segstream_report_add_event(r, &rec->interest_change, position, err);
    }
    return segstream_err_set(err, "report: unexpected record type");
}

/* Reads one input into the report; logs what it read. 0 or -1 (printed). */
static int read_input(const report_args *a, const char *file, const char *topic, segstream_record_type type,
                      segstream_report *r)
{
    segstream_err err = {{0}};
    segstream_report_source src = {.file = file,
                                   .topic = topic,
                                   .brokers = a->brokers,
                                   .kafka_sets = a->sets,
                                   .nsets = a->nsets,
                                   .timeout_s = a->timeout_s,
                                   .skip_bad = type == SEGSTREAM_RECORD_INTEREST_CHANGE};
    int64_t skipped = 0, n;
    if (type == SEGSTREAM_RECORD_SEGMENT) {
        catalog_buffer b = {0};
        n = segstream_report_source_read(&src, type, collect_segment, &b, &skipped, &err);
        segstream_record *tmp = n > 0 ? malloc(b.n * sizeof *tmp) : NULL;
        if (n > 0 && !tmp)
            n = segstream_err_set(&err, "report: out of memory");
        if (n > 0)
            sort_by_version(b.recs, tmp, b.n);
        for (size_t i = 0; i < b.n; i++) {
            if (n >= 0 && segstream_report_add_segment(r, &b.recs[i].segment, &err) < 0)
                n = -1;
            segstream_record_clear(&b.recs[i]);
        }
        free(tmp);
        free(b.recs);
    } else {
        n = segstream_report_source_read(&src, type, add_record, r, &skipped, &err);
    }
    if (n < 0) {
        fprintf(stderr, "segstream report: %s\n", err.message);
        return -1;
    }
    fprintf(stderr, "segstream report: %lld %s records from %s %s", (long long)n, segstream_record_type_name(type),
            file ? "file" : "topic", file ? file : topic);
    if (skipped)
        fprintf(stderr, " (%lld lines skipped: not %s records)", (long long)skipped, segstream_record_type_name(type));
    fputc('\n', stderr);
    return 0;
}

int segstream_cmd_report(int argc, char **argv)
{
    report_args a = {.opt = segstream_report_default_options(), .timeout_s = 30};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    segstream_report *r = segstream_report_new(&a.opt);
    if (!r) {
        fprintf(stderr, "segstream report: out of memory\n");
        return 1;
    }
    segstream_err err = {{0}};
    rc = 1;
    if (read_input(&a, a.segments, a.topic, SEGSTREAM_RECORD_SEGMENT, r) < 0)
        goto out;
    if ((a.changes || a.changes_topic) &&
        read_input(&a, a.changes, a.changes_topic, SEGSTREAM_RECORD_SEGMENT_CHANGE, r) < 0)
        goto out;
    if (a.events && read_input(&a, a.events, NULL, SEGSTREAM_RECORD_INTEREST_CHANGE, r) < 0)
        goto out;
    if (segstream_report_finish(r, &err) < 0) {
        fprintf(stderr, "segstream report: %s\n", err.message);
        goto out;
    }
    char source[1024];
    snprintf(source, sizeof source, "Catalog: %s %s; changes: %s%s; events: %s.", a.topic ? "topic" : "file",
             a.topic ? a.topic : a.segments, a.changes_topic ? "topic " : a.changes ? "file " : "",
             a.changes_topic ? a.changes_topic : a.changes ? a.changes : "none", a.events ? a.events : "none");
    segstream_report_html_options html = {.title = a.title, .source = source};
    bool to_stdout = !strcmp(a.output, "-");
    FILE *out = to_stdout ? stdout : fopen(a.output, "w");
    if (!out) {
        fprintf(stderr, "segstream report: %s: %s\n", a.output, strerror(errno));
        goto out;
    }
    int wrc = segstream_report_write_html(r, &html, out, &err);
    if (!to_stdout && fclose(out) != 0 && wrc == 0)
        wrc = segstream_err_set(&err, "report: closing %s: %s", a.output, strerror(errno));
    if (wrc < 0) {
        fprintf(stderr, "segstream report: %s: %s\n", a.output, err.message);
        goto out;
    }
    size_t n, active = 0;
    const segstream_report_segment *segs = segstream_report_segments(r, &n);
    for (size_t i = 0; i < n; i++)
        active += segs[i].active;
    fprintf(stderr, "segstream report: %zu active segments of %zu ids -> %s\n", active, n, a.output);
    rc = 0;
out:
    segstream_report_free(r);
    return rc;
}
