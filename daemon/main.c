/* daemon/main.c: leakprofd's entry point: global options and the subcommand table. */
#include <stdio.h>
#include <string.h>

#include "daemon/cmd.h"

#ifndef LEAKPROFD_VERSION
#define LEAKPROFD_VERSION "0.1.0"
#endif

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *usage;
	const char *what;
} commands[] = {
	{ "run", cmd_run, "run [--config FILE] [--target URL]... [--log-level LEVEL] [--interval DUR] [--listen ADDR]\n"
	    "      [--database FILE]", "scrape, store, rank, serve and alert, in the foreground" },
	{ "parse", cmd_parse, "parse [--json] [--all] FILE|-", "print the blocked locations of a goroutine profile" },
	{ "scrape", cmd_scrape, "scrape [--json] [--all] [--timeout DUR] [--format F] [--header 'K: V']... URL",
	    "fetch one profile and print it as parse does" },
	{ "suspects", cmd_suspects, "suspects [--config FILE | --db FILE] [--service S] [--window 6h] [--json] "
	    "[--limit N]", "the leak suspects, best first" },
	{ "check-config", cmd_check_config, "check-config FILE|-", "validate a configuration" },
	{ "test-webhook", cmd_test_webhook, "test-webhook [--config FILE] NAME", "send a sample notification" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: leakprofd COMMAND [OPTIONS]\n\n"
	    "leakprofd finds goroutine leaks in running Go services: it scrapes goroutine profiles, stores blocked\n"
	    "counts per source location over time, and ranks the locations whose counts keep growing.\n\n"
	    "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  leakprofd %s\n      %s\n", commands[i].usage, commands[i].what);
	fprintf(f, "\n  leakprofd COMMAND --help      the command's own options\n"
	    "  leakprofd --help | --version\n\nSee leakprofd(8) and leakprofd.yaml(5).\n");
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("leakprofd %s\n", LEAKPROFD_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "leakprofd: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
