/* daemon/cmd_suspects.c: PLACEHOLDER during development; replaced by the real implementation of 'suspects'. */
#include <stdio.h>

#include "daemon/cmd.h"

int
cmd_suspects(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "leakprofd: 'suspects' is not built yet\n");
	return 1;
}
