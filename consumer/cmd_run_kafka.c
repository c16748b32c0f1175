/* cmd_run_kafka.c - `segstream run -c FILE`: the live stage's command line
 * (the stage itself is kafka_stage.c). */
#include "consumer/config.h"
#include "consumer/kafka_stage.h"
#include "consumer/log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: segstream run -c FILE [--set key=value]... [--exit-when-idle SECONDS]\n"
                 "       segstream run --input EVENTS --output CHANGES ...   (file mode: segstream run --input x --help)\n\n"
                 "  -c, --config FILE      properties file (see segstream config --list)\n"
                 "  --set key=value        overrides a key (highest precedence; environment SEGSTREAM_* in between)\n"
                 "  --exit-when-idle S     stop cleanly after S seconds without input (default pipeline.idle_timeout)\n"
                 "Exit status: 0 stopped cleanly (SIGTERM/SIGINT or idle), 1 fatal error, 2 bad usage or configuration.\n");
}

int segstream_cmd_run_kafka(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"set", required_argument, 0, 's'},
                                         {"exit-when-idle", required_argument, 0, 'i'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *file = NULL;
    segstream_config_sets sets = {0};
    double idle_s = -1;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        switch (c) {
        case 'c': file = optarg; break;
        case 's':
            if (segstream_config_sets_add(&sets, optarg, "segstream run"))
                return 2;
            break;
        case 'i': {
            char *end;
            idle_s = strtod(optarg, &end);
            if (end == optarg || *end || idle_s < 0) {
                fprintf(stderr, "segstream run: bad value '%s' for --exit-when-idle (seconds)\n", optarg);
                return 2;
            }
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "segstream run: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    segstream_err err = {{0}};
    segstream_config *cfg = segstream_config_load(file, sets.arg, sets.n, &err);
    if (!cfg) {
        fprintf(stderr, "segstream run: %s\n", err.message);
        return 2;
    }
    segstream_log_level lvl;
    if (!segstream_log_level_parse(segstream_config_get(cfg, "log.level"), &lvl))
        segstream_log_set_level(lvl);
    segstream_kafka_stage_options o = {.cfg = cfg, .exit_when_idle_ms = idle_s >= 0 ? (int64_t)(idle_s * 1000) : -1};
    int status = segstream_kafka_stage_run(&o);
    segstream_config_free(cfg);
    return status;
}
