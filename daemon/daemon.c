/* daemon/daemon.c: PLACEHOLDER during development; replaced by the real implementation of 'run'. */
#include <stdio.h>

#include "daemon/cmd.h"

int
cmd_run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "leakprofd: 'run' is not built yet\n");
	return 1;
}
