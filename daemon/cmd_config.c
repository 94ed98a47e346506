/* daemon/cmd_config.c: PLACEHOLDER during development; replaced by the real implementation of 'check-config'. */
#include <stdio.h>

#include "daemon/cmd.h"

int
cmd_check_config(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "leakprofd: 'check-config' is not built yet\n");
	return 1;
}
