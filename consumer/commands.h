/* commands.h - the subcommands of the `segstream` executable.
 *
 * Each takes the arguments after the subcommand name (argv[0] is the
 * subcommand) and returns the process exit status: 0 success, 1 failure at
 * run time, 2 bad usage. They print errors to stderr themselves. */
#ifndef SEGSTREAM_CONSUMER_COMMANDS_H
#define SEGSTREAM_CONSUMER_COMMANDS_H

int segstream_cmd_tokenize(int argc, char **argv); /* model: texts -> ids */
int segstream_cmd_encode(int argc, char **argv);   /* model: texts -> embeddings */
int segstream_cmd_produce(int argc, char **argv);  /* NDJSON -> Avro records on a topic */
int segstream_cmd_consume(int argc, char **argv);  /* Avro records on a topic -> NDJSON */
int segstream_cmd_cluster(int argc, char **argv);  /* cluster: embeddings -> segments (evaluation) */
int segstream_cmd_run(int argc, char **argv);      /* the pipeline over files: events -> segment changes */
int segstream_cmd_config(int argc, char **argv);
int segstream_cmd_replay(int argc, char **argv);   /* the Kafka stage over a fixed range into another topic */
int segstream_cmd_state(int argc, char **argv);    /* export the stage's snapshot and committed offsets */   /* list keys / show the effective configuration */

#endif
