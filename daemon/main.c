/* daemon/main.c: leakprofd's entry point: global options and the dispatch to a subcommand of the
 * table in daemon/usage.c. */
#include <stdio.h>
#include <string.h>

#include "daemon/usage.h"

#ifndef LEAKPROFD_VERSION
#define LEAKPROFD_VERSION "0.1.0"
#endif

int
main(int argc, char **argv)
{
	const struct usage_command *c;

	if (argc < 2) {
		usage_overview(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage_overview(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("leakprofd %s\n", LEAKPROFD_VERSION);
		return 0;
	}
	c = usage_find(argv[1]);
	if (c != NULL)
		return c->run(argc - 1, argv + 1);
	fprintf(stderr, "leakprofd: unknown command '%s'\n", argv[1]);
	usage_overview(stderr);
	return 2;
}
