/* cmd_state.c - `segstream state export`: the stage's latest committed
 * snapshot (topics.state, keys <group.id>/model and <group.id>/users/<partition>,
 * bundled into one file as segstream_pipeline_snapshot writes it) to a file, and the group's
 * committed input offsets to stdout as P:O,... — the pair `segstream replay
 * --state FILE --from-offset P:O,...` starts from.
 *
 * The snapshot and the offsets are committed in one transaction by the
 * stage, but read here one after the other: export while the group's
 * instances are stopped (or accept that a running stage may commit in
 * between; the command then says so and exits 1). */
#include "consumer/cli_kafka.h"
#include "consumer/commands.h"
#include "consumer/config.h"
#include "consumer/state_bundle.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: segstream state export -c FILE [--set key=value]... -o SNAPSHOT\n\n"
                 "Writes the latest snapshot of group.id from topics.state to SNAPSHOT and prints the group's\n"
                 "committed offsets of topics.input as P:O,... (for segstream replay --state --from-offset).\n");
}

/* The group's committed offsets of every partition of topic, as "P:O,...". */
static int committed_offsets(rd_kafka_t *rk, const char *topic, char *out, size_t cap, segstream_err *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 30000);
    rd_kafka_topic_destroy(rkt);
    if (e)
        return segstream_err_set(err, "metadata of %s: %s", topic, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (int i = 0; md->topic_cnt == 1 && i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(l, topic, md->topics[0].partitions[i].id);
    rd_kafka_metadata_destroy(md);
    e = l->cnt ? rd_kafka_committed(rk, l, 30000) : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    int rc = 0;
    if (e)
        rc = segstream_err_set(err, "committed offsets of %s: %s", topic, rd_kafka_err2str(e));
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; !rc && i < l->cnt; i++) {
        int64_t off = l->elems[i].offset < 0 ? 0 : l->elems[i].offset;
        int w = snprintf(out + n, cap - n, "%s%" PRId32 ":%" PRId64, i ? "," : "", l->elems[i].partition, off);
        if (w < 0 || (size_t)w >= cap - n)
            rc = segstream_err_set(err, "too many partitions");
        else
            n += (size_t)w;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

int segstream_cmd_state(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "export")) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return 2;
    }
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"set", required_argument, 0, 's'},
                                         {"output", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *file = NULL, *output = NULL;
    segstream_config_sets sets = {0};
    optind = 1;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "c:o:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': file = optarg; break;
        case 's':
            if (segstream_config_sets_add(&sets, optarg, "segstream state"))
                return 2;
            break;
        case 'o': output = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!output || optind < argc - 1) {
        usage(stderr);
        return 2;
    }
    segstream_err err = {{0}};
    segstream_config *cfg = segstream_config_load(file, sets.arg, sets.n, &err);
    if (!cfg) {
        fprintf(stderr, "segstream state: %s\n", err.message);
        return 2;
    }
    if (segstream_config_string(cfg, "topics.model")[0]) {
        fprintf(stderr, "segstream state: topics.model is set: a scale-out group keeps one model per input "
                        "partition, which replay cannot start from (replay with --state fresh)\n");
        segstream_config_free(cfg);
        return 2;
    }
    int status = 1;
    uint8_t *blob = NULL, *again = NULL;
    size_t len = 0, again_len = 0;
    rd_kafka_t *rk = NULL;
    char offsets[8192], errstr[512];
    const char *group = segstream_config_string(cfg, "group.id");
    segstream_state_keys keys = {0};
    rd_kafka_conf_t *conf = segstream_cli_stage_kafka_conf(cfg, &err);
    if (!conf)
        goto fail;
    if (segstream_state_bundle_read(conf, segstream_config_string(cfg, "topics.state"), group, &blob, &len, &keys,
                                    60000, &err)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rd_kafka_conf_t *cc = rd_kafka_conf_dup(conf);
    if (segstream_cli_kafka_set(cc, "group.id", group, &err)) {
        rd_kafka_conf_destroy(cc);
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(cc);
        rd_kafka_conf_destroy(conf);
        segstream_err_set(&err, "consumer: %s", errstr);
        goto fail;
    }
    int rc = committed_offsets(rk, segstream_config_string(cfg, "topics.input"), offsets, sizeof offsets, &err);
    if (!rc) /* the snapshot again: unchanged means the offsets belong to it */
        rc = segstream_state_bundle_read(conf, segstream_config_string(cfg, "topics.state"), group, &again, &again_len,
                                         &keys, 60000, &err);
    rd_kafka_conf_destroy(conf);
    if (rc)
        goto fail;
    if (!blob) {
        segstream_err_set(&err, "no snapshot of group %s on %s", group, segstream_config_string(cfg, "topics.state"));
        goto fail;
    }
    if (!again || again_len != len || memcmp(blob, again, len)) {
        segstream_err_set(&err, "the group committed a new snapshot while exporting; stop its instances and retry");
        goto fail;
    }
    FILE *f = fopen(output, "wb");
    bool written = f && fwrite(blob, 1, len, f) == len;
    if (f && fclose(f))
        written = false;
    if (!written) {
        segstream_err_set(&err, "writing %s: %s", output, strerror(errno));
        goto fail;
    }
    printf("%s\n", offsets);
    fprintf(stderr, "segstream state: %zu-byte snapshot of group %s written to %s\n", len, group, output);
    status = 0;
    goto done;
fail:
    fprintf(stderr, "segstream state: %s\n", err.message);
done:
    segstream_state_keys_clear(&keys);
    if (rk)
        rd_kafka_destroy(rk);
    free(blob), free(again);
    segstream_config_free(cfg);
    return status;
}
