/* main.c - the `segstream` command: dispatches to one subcommand. */
#include "consumer/commands.h"

#include <stdio.h>
#include <string.h>

#ifndef SEGSTREAM_VERSION
#define SEGSTREAM_VERSION "unknown"
#endif

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"tokenize", segstream_cmd_tokenize, "texts on stdin -> WordPiece ids, one JSON array a line"},
    {"encode", segstream_cmd_encode, "texts on stdin -> sentence embeddings (.npy or NDJSON)"},
    {"produce", segstream_cmd_produce, "NDJSON records on stdin -> Avro records on a Kafka topic"},
    {"consume", segstream_cmd_consume, "Avro records of a Kafka topic -> NDJSON on stdout"},
    {"cluster", segstream_cmd_cluster, "embeddings (.npy) -> streaming segments, one line per item"},
    {"replay", segstream_cmd_replay, "the Kafka stage over a range of offsets or times into another output topic"},
    {"state", segstream_cmd_state, "state export: the group's latest snapshot to a file, and its committed offsets"},
    {"run", segstream_cmd_run, "events (NDJSON or Avro file) -> segment changes, catalog, dead letters (NDJSON)"},
    {"config", segstream_cmd_config, "the configuration keys (--list) or the effective configuration (--show)"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: segstream <command> [options]\n"
            "       segstream <command> --help\n\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-10s %s\n", "version", "print the version");
    fprintf(out, "  %-10s %s\n", "help", "this text");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "version") || !strcmp(name, "--version")) {
        printf("segstream %s\n", SEGSTREAM_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "segstream: unknown command '%s'\n", name);
    usage(stderr);
    return 2;
}
