/* daemon/cmd_parse.c: PLACEHOLDER during development; replaced by the real implementation of 'parse'. */
#include <stdio.h>

#include "daemon/cmd.h"

int
cmd_parse(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "leakprofd: 'parse' is not built yet\n");
	return 1;
}
