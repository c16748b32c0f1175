/* cmd_produce.c - placeholder until the codec work lands: says so, never pretends. */
#include "consumer/commands.h"

#include <stdio.h>

int segstream_cmd_produce(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "segstream produce: not built yet\n");
    return 1;
}
