/* cmd_consume.c - placeholder until the codec work lands: says so, never pretends. */
#include "consumer/commands.h"

#include <stdio.h>

int segstream_cmd_consume(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "segstream consume: not built yet\n");
    return 1;
}
