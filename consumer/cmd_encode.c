/* cmd_encode.c - placeholder until the model work lands: says so, never pretends. */
#include "consumer/commands.h"

#include <stdio.h>

int segstream_cmd_encode(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "segstream encode: not built yet\n");
    return 1;
}
