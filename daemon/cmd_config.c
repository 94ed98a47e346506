/* daemon/cmd_config.c: `leakprofd check-config FILE`: load a configuration exactly as the daemon would and say
 * "configuration OK", or print every error (file:line: key: message) to stderr. Like nginx -t, it is meant to run
 * before a reload: the same loader, the same checks of referenced files (readable by the user it runs as). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/cmd.h"
#include "base/config.h"

#define STDIN_MAX_BYTES (16u << 20)

static void
usage(FILE *f)
{
	fprintf(f, "usage: leakprofd check-config FILE|-\n"
	    "Validate a configuration file (YAML or JSON; '-' reads standard input).\n"
	    "Prints 'configuration OK' and exits 0, or prints every error and exits 1.\n");
}

/* All of standard input, at most STDIN_MAX_BYTES. Caller owns; NULL on error (printed). */
static char *
read_stdin(size_t *len)
{
	size_t cap = 0, n = 0, r;
	char *buf = NULL, *nb;

	for (;;) {
		if (n == cap) {
			if (cap >= STDIN_MAX_BYTES) {
				fprintf(stderr, "leakprofd: check-config: standard input is larger than %u bytes\n",
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
				fprintf(stderr, "leakprofd: check-config: reading standard input: %s\n",
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
	struct config_errors errs = { 0 };
	struct config *cfg;
	const char *file = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--") == 0 && i + 1 < argc && file == NULL && i + 2 == argc) {
			file = argv[i + 1];
			break;
		}
		if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "leakprofd: check-config: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
		if (file != NULL) {
			fprintf(stderr, "leakprofd: check-config: one file at a time\n");
			usage(stderr);
			return 2;
		}
		file = argv[i];
	}
	if (file == NULL) {
		usage(stderr);
		return 2;
	}
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
