/* cmd_tokenize.c - placeholder until the model work lands: says so, never pretends. */
#include "consumer/commands.h"

#include <stdio.h>

int segstream_cmd_tokenize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "segstream tokenize: not built yet\n");
    return 1;
}
