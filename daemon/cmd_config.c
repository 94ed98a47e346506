/* daemon/cmd_config.c: `leakprofd check-config FILE`: load a configuration exactly as the daemon
 * would and say "configuration OK", or print every error (file:line: key: message) to stderr. Like
 * nginx -t, it is meant to run before a reload: the same loader, the same checks of referenced
 * files (readable by the user it runs as). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/cmd.h"
#include "base/config.h"
#include "daemon/usage.h"

#define STDIN_MAX_BYTES (16u << 20)

/* All of standard input, at most STDIN_MAX_BYTES. Caller owns; NULL on error (printed). */
static char *
read_stdin(size_t *len)
{
	size_t cap = 0, n = 0, r;
	char *buf = NULL, *nb;

	for (;;) {
		if (n == cap) {
			if (cap >= STDIN_MAX_BYTES) {
				fprintf(stderr,
				        "leakprofd: check-config: standard input is larger than %u "
				        "bytes\n",
				        STDIN_MAX_BYTES);
				free(buf);
				return NULL;
			}
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				fprintf(stderr, "leakprofd: check-config: out of memory\n");
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n, stdin);
		n += r;
		if (r == 0) {
			if (ferror(stdin)) {
				fprintf(stderr,
				        "leakprofd: check-config: reading standard input: %s\n",
				        strerror(errno));
				free(buf);
				return NULL;
			}
			break;
		}
	}
	*len = n;
	return buf;
}

int
cmd_check_config(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct config_errors errs = {0};
	struct config *cfg;
	const char *file;
	int c;

	optind = 0;
	while ((c = usage_getopt("check-config", argc, argv, opts)) != -1) {
		switch (c) {
		case 'h':
			usage_print(stdout, "check-config");
			return 0;
		default:
			return 2;
		}
	}
	if (optind == argc)
		return usage_error("check-config",
		                   "no configuration file (use - for standard input)");
	if (argc - optind > 1)
		return usage_error("check-config", "one file at a time");
	file = argv[optind];
	if (strcmp(file, "-") == 0) {
		size_t len = 0;
		char *buf = read_stdin(&len);

		if (buf == NULL)
			return 1;
		cfg = config_load_buffer("<stdin>", buf, len, &errs);
		free(buf);
	} else {
		cfg = config_load(file, &errs);
	}
	if (cfg == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		if (errs.n == 0)
			fprintf(stderr, "%s: invalid configuration (out of memory)\n", file);
		config_errors_release(&errs);
		return 1;
	}
	config_errors_release(&errs);
	config_unref(cfg);
	if (printf("configuration OK\n") < 0 || fflush(stdout) != 0)
		return 1;
	return 0;
}
