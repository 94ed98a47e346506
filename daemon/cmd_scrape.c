/* daemon/cmd_scrape.c: PLACEHOLDER during development; replaced by the real implementation of 'scrape'. */
#include <stdio.h>

#include "daemon/cmd.h"

int
cmd_scrape(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "leakprofd: 'scrape' is not built yet\n");
	return 1;
}
