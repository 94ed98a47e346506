/* daemon/cmd_parse.c: `leakprofd parse [--json] [--all] FILE|-`: read one saved goroutine profile
 * (any format, auto-detected), reduce it to blocked counts per source location and print them. Exit
 * 0 parsed, 1 input error (message on stderr), 2 usage. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/profile.h"
#include "daemon/cmd.h"
#include "daemon/output.h"
#include "daemon/usage.h"

enum { PARSE_OPT_JSON = 256, PARSE_OPT_ALL };

/* The largest file read: the biggest debug=2 dump Go writes is 64 MiB; leave room for hand-made
 * inputs. */
#define PARSE_MAX_INPUT ((size_t)1 << 30)

/* Read all of 'fd' into a new buffer, at most PARSE_MAX_INPUT bytes. 0, or -1 with errno (EFBIG:
 * too big). */
static int
read_all(int fd, char **out, size_t *outlen)
{
	struct stat st;
	size_t cap = 1 << 16, len = 0;
	char *buf;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		if ((uint64_t)st.st_size > PARSE_MAX_INPUT) {
			errno = EFBIG;
			return -1;
		}
		cap = (size_t)st.st_size + 1;
	}
	buf = malloc(cap);
	if (buf == NULL)
		return -1;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t ncap = cap * 2;
			char *nb;

			if (cap > PARSE_MAX_INPUT) {
				free(buf);
				errno = EFBIG;
				return -1;
			}
			if (ncap > PARSE_MAX_INPUT + 1)
				ncap = PARSE_MAX_INPUT + 1;
			nb = realloc(buf, ncap);
			if (nb == NULL) {
				free(buf);
				return -1;
			}
			buf = nb;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > PARSE_MAX_INPUT) {
		free(buf);
		errno = EFBIG;
		return -1;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

int
cmd_parse(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, PARSE_OPT_JSON},
	    {"all", no_argument, NULL, PARSE_OPT_ALL},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum output_flags flags = 0;
	const char *path = NULL;
	struct profile prof;
	struct parse_error perr = {.msg = ""};
	char *buf = NULL;
	size_t len = 0;
	int fd, c, ret = 1;

	optind = 0;
	while ((c = usage_getopt("parse", argc, argv, opts)) != -1) {
		switch (c) {
		case PARSE_OPT_JSON:
			flags |= OUTPUT_JSON;
			break;
		case PARSE_OPT_ALL:
			flags |= OUTPUT_ALL;
			break;
		case 'h':
			usage_print(stdout, "parse");
			return 0;
		default:
			return 2;
		}
	}
	if (optind == argc)
		return usage_error("parse", "no input file (use - for standard input)");
	if (argc - optind > 1)
		return usage_error("parse", "more than one input ('%s')", argv[optind + 1]);
	path = argv[optind];
	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "leakprofd parse: '%s': %s\n", path, strerror(errno));
			return 1;
		}
	}
	if (read_all(fd, &buf, &len) < 0) {
		if (errno == EFBIG)
			fprintf(stderr, "leakprofd parse: '%s': larger than %zu MiB\n", path,
			        PARSE_MAX_INPUT >> 20);
		else
			fprintf(stderr, "leakprofd parse: '%s': %s\n", path, strerror(errno));
		goto out_close;
	}
	if (profile_parse(buf, len, &prof, &perr) < 0) {
		fprintf(stderr, "leakprofd parse: '%s': %s\n", path, perr.msg);
		goto out_free;
	}
	if (output_profile(stdout, &prof, flags) < 0)
		fprintf(stderr, "leakprofd parse: writing the output: %s\n", strerror(errno));
	else
		ret = 0;
	profile_release(&prof);
out_free:
	free(buf);
out_close:
	if (fd != STDIN_FILENO)
		close(fd);
	return ret;
}
