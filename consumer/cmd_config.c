/* cmd_config.c - `segstream config`: the reference of known keys (--list, as
 * Markdown for the README) and the effective configuration of a file plus
 * environment plus --set (--show, secrets redacted), after full validation,
 * so it doubles as a check of a configuration before deploying it. */
#include "consumer/commands.h"
#include "consumer/config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define MAX_SETS 256

static void usage(FILE *out)
{
    fprintf(out,
            "usage: segstream config --list\n"
            "       segstream config --show [-c FILE] [--set key=value]...\n"
            "  --list          the known keys, their types, defaults and docs (Markdown)\n"
            "  --show          the effective configuration (defaults < file < SEGSTREAM_* environment < --set),\n"
            "                  validated, secrets shown as ***; exit status 1 if it is invalid\n"
            "  -c, --config F  the properties file\n"
            "  --set key=value override one key (repeatable)\n");
}

int segstream_cmd_config(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"list", no_argument, NULL, 'l'},   {"show", no_argument, NULL, 's'},
        {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},   {NULL, 0, NULL, 0},
    };
    bool list = false, show = false;
    const char *file = NULL;
    char *sets[MAX_SETS];
    size_t nsets = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            list = true;
            break;
        case 's':
            show = true;
            break;
        case 'c':
            file = optarg;
            break;
        case 'S':
            if (nsets == MAX_SETS) {
                fprintf(stderr, "segstream config: more than %d --set\n", MAX_SETS);
                return 2;
            }
            sets[nsets++] = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || list == show) {
        usage(stderr);
        return 2;
    }
    if (list) {
        segstream_config_write_markdown(stdout);
        return 0;
    }
    segstream_err err = {{0}};
    segstream_config *cfg = segstream_config_load(file, sets, nsets, &err);
    if (!cfg) {
        fprintf(stderr, "segstream config: %s\n", err.message);
        return 1;
    }
    segstream_config_write_effective(cfg, stdout);
    segstream_config_free(cfg);
    return 0;
}
