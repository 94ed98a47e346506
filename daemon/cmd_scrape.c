/* daemon/cmd_scrape.c: `leakprofd scrape`: fetch one goroutine profile over HTTP and print it as
 * `parse` does.
 *
 * The fetch goes through the daemon's own scraper (collector/scrape.h), so the one-shot command
 * shows exactly what the daemon would record for a target: the same status words, caps, timeouts
 * and decoding. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/scrape.h"
#include "collector/targets.h"
#include "base/units.h"
#include "daemon/cmd.h"
#include "base/config.h"
#include "daemon/output.h"

#define MAX_HEADERS 32
#define MAX_TOKEN_BYTES 65536

static void
usage(FILE *f)
{
	fputs("usage: leakprofd scrape [--json] [--all] [--timeout DUR] [--max-body SIZE]\n"
	      "         [--format proto|debug=1|debug=2] [--profile goroutine|goroutineleak]\n"
	      "         [--header 'Name: value']... [--bearer-token-file FILE]\n"
	      "         [--ca-file FILE] [--insecure] URL\n"
	      "\n"
	      "Fetch one goroutine profile and print its blocked locations as `leakprofd parse`\n"
	      "does. URL is a base URL (http://host:port, then /debug/pprof/<profile>?debug=N is\n"
	      "appended) or, with any other path, the profile URL (kept as written unless\n"
	      "--format is given). Defaults: --timeout 10s, --max-body 64MiB, --format proto\n"
	      "(debug=0, cheap on the target). Exit status: 0 printed, 1 the scrape or the parse\n"
	      "failed (the status on stderr), 2 usage.\n",
	      f);
}

/* --timeout: any duration of base/units.h ("500ms", "10s", "1m", "30"), not zero. */
static int
parse_timeout_ms(const char *s, uint64_t *ms)
{
	if (units_parse_duration_ms(s, ms) != 0 || *ms == 0)
		return -1;
	return 0;
}

/* The token file's content without trailing line breaks. Caller frees; NULL on error (message
 * printed). */
static char *
read_token(const char *path)
{
	char *buf = malloc(MAX_TOKEN_BYTES + 1);
	size_t len = 0;
	int fd;

	if (!buf) {
		fprintf(stderr, "leakprofd: scrape: out of memory\n");
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "leakprofd: scrape: bearer token file '%s': %s\n", path,
		        strerror(errno));
		goto out_free;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, MAX_TOKEN_BYTES + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "leakprofd: scrape: bearer token file '%s': %s\n", path,
			        strerror(errno));
			goto out_close;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > MAX_TOKEN_BYTES) {
			fprintf(stderr,
			        "leakprofd: scrape: bearer token file '%s': larger than %d bytes\n",
			        path, MAX_TOKEN_BYTES);
			goto out_close;
		}
	}
	close(fd);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	if (len == 0 || memchr(buf, '\n', len) || memchr(buf, '\r', len) || strlen(buf) != len) {
		fprintf(stderr,
		        "leakprofd: scrape: bearer token file '%s': empty or not one line\n", path);
		goto out_free;
	}
	return buf;

out_close:
	close(fd);
out_free:
	free(buf);
	return NULL;
}

/* "Name: value" → header; the strings point into 'line' (modified). */
static int
split_header(char *line, struct scrape_header *h)
{
	char *colon = strchr(line, ':');
	char *v;

	if (!colon || colon == line)
		return -1;
	*colon = '\0';
	v = colon + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	h->name = line;
	h->value = v;
	return 0;
}

/* Does 'url' have a path other than "/"? Then it is a profile URL, not a base URL. */
static bool
has_path(const char *url)
{
	const char *p = strstr(url, "://");
	const char *slash;

	if (!p)
		return false;
	slash = p + 3 + strcspn(p + 3, "/?#");
	return *slash == '/' && slash[1] != '\0' && slash[1] != '?' && slash[1] != '#';
}

int
cmd_scrape(int argc, char **argv)
{
	struct scrape_header headers[MAX_HEADERS];
	struct scrape_target t = {
	    .service = "scrape",
	    .format = PROFILE_FORMAT_PROTO,
	    .timeout_ms = 10000,
	    .max_body_bytes = 64u << 20,
	    .interval_ms = 60000,
	};
	struct scrape_result res;
	const char *url = NULL, *token_file = NULL, *profile = "goroutine";
	char path[64], *profile_url = NULL, *token = NULL;
	enum output_flags flags = 0;
	int debug = -2, rc = 1, i;
	bool opts_done = false;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (opts_done || a[0] != '-' || strcmp(a, "-") == 0) {
			if (url) {
				fprintf(stderr, "leakprofd: scrape: one URL only ('%s' and '%s')\n",
				        url, a);
				return 2;
			}
			url = a;
		} else if (strcmp(a, "--") == 0) {
			opts_done = true;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--json") == 0) {
			flags |= OUTPUT_JSON;
		} else if (strcmp(a, "--all") == 0) {
			flags |= OUTPUT_ALL;
		} else if (strcmp(a, "--insecure") == 0) {
			t.tls_insecure = true;
		} else if (!v) {
			fprintf(stderr, "leakprofd: scrape: option '%s' needs a value\n", a);
			usage(stderr);
			return 2;
		} else if (strcmp(a, "--timeout") == 0) {
			if (parse_timeout_ms(v, &t.timeout_ms) != 0) {
				fprintf(stderr,
				        "leakprofd: scrape: --timeout: '%s' is not a duration like "
				        "10s or 500ms\n",
				        v);
				return 2;
			}
			i++;
		} else if (strcmp(a, "--max-body") == 0) {
			if (units_parse_size(v, &t.max_body_bytes) != 0 || t.max_body_bytes == 0) {
				fprintf(stderr,
				        "leakprofd: scrape: --max-body: '%s' is not a size like "
				        "64MiB\n",
				        v);
				return 2;
			}
			i++;
		} else if (strcmp(a, "--format") == 0) {
			if (strcmp(v, "proto") == 0 || strcmp(v, "debug=0") == 0) {
				debug = 0;
				t.format = PROFILE_FORMAT_PROTO;
			} else if (strcmp(v, "debug=1") == 0) {
				debug = 1;
				t.format = PROFILE_FORMAT_DEBUG1;
			} else if (strcmp(v, "debug=2") == 0) {
				debug = 2;
				t.format = PROFILE_FORMAT_DEBUG2;
			} else {
				fprintf(stderr,
				        "leakprofd: scrape: --format: '%s' is not proto, debug=1 "
				        "or debug=2\n",
				        v);
				return 2;
			}
			i++;
		} else if (strcmp(a, "--profile") == 0) {
			if (strcmp(v, "goroutine") != 0 && strcmp(v, "goroutineleak") != 0) {
				fprintf(stderr,
				        "leakprofd: scrape: --profile: '%s' is not goroutine or "
				        "goroutineleak\n",
				        v);
				return 2;
			}
			profile = v;
			i++;
		} else if (strcmp(a, "--header") == 0) {
			if (t.nheaders == MAX_HEADERS ||
			    split_header(argv[i + 1], &headers[t.nheaders]) != 0) {
				fprintf(stderr,
				        "leakprofd: scrape: --header: '%s' is not 'Name: value' "
				        "(at most %d)\n",
				        v, MAX_HEADERS);
				return 2;
			}
			t.nheaders++;
			i++;
		} else if (strcmp(a, "--bearer-token-file") == 0) {
			token_file = v;
			i++;
		} else if (strcmp(a, "--ca-file") == 0) {
			t.tls_ca_file = v;
			i++;
		} else {
			fprintf(stderr, "leakprofd: scrape: unknown option '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!url) {
		usage(stderr);
		return 2;
	}
	/* A base URL gets the profile path and a debug parameter (proto by default); a URL with a
	 * path is the profile URL, kept as written unless --format is given. */
	if (debug == -2)
		debug = has_path(url) ? -1 : 0;
	snprintf(path, sizeof(path), "/debug/pprof/%s", profile);
	profile_url = targets_profile_url(url, path, debug);
	if (!profile_url) {
		fprintf(stderr, "leakprofd: scrape: '%s' is not an http or https URL\n", url);
		return 2;
	}
	if (debug == 1)
		t.format = PROFILE_FORMAT_DEBUG1;
	else if (debug == 2)
		t.format = PROFILE_FORMAT_DEBUG2;
	else if (debug == -1 && strstr(profile_url, "debug=2"))
		t.format = PROFILE_FORMAT_DEBUG2; /* text: ask for compression */
	else if (debug == -1 && strstr(profile_url, "debug=1"))
		t.format = PROFILE_FORMAT_DEBUG1;
	t.url = profile_url;
	t.headers = headers;
	if (token_file) {
		token = read_token(token_file);
		if (!token)
			goto out_free;
		t.bearer_token = token;
	}
	if (scrape_once(&t, &res) != 0) {
		if (strcmp(res.status, "timeout") == 0)
			fprintf(stderr, "leakprofd: scrape: '%s': timeout after %llu ms\n",
			        profile_url, (unsigned long long)t.timeout_ms);
		else if (strcmp(res.status, "body too large") == 0)
			fprintf(stderr,
			        "leakprofd: scrape: '%s': body too large (more than %llu bytes)\n",
			        profile_url, (unsigned long long)t.max_body_bytes);
		else
			fprintf(stderr, "leakprofd: scrape: '%s': %s\n", profile_url, res.status);
		goto out_free;
	}
	rc = output_profile(stdout, &res.profile, flags) == 0 ? 0 : 1;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "leakprofd: scrape: writing the output: %s\n", strerror(errno));
		rc = 1;
	}
	profile_release(&res.profile);
out_free:
	free(token);
	free(profile_url);
	return rc;
}
