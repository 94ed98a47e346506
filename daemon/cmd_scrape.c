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
#include "base/secret.h"
#include "base/units.h"
#include "base/url.h"
#include "daemon/cmd.h"
#include "base/config.h"
#include "daemon/output.h"
#include "daemon/usage.h"

#define MAX_HEADERS 32

enum {
	SCRAPE_OPT_JSON = 256,
	SCRAPE_OPT_ALL,
	SCRAPE_OPT_INSECURE,
	SCRAPE_OPT_TIMEOUT,
	SCRAPE_OPT_MAX_BODY,
	SCRAPE_OPT_FORMAT,
	SCRAPE_OPT_PROFILE,
	SCRAPE_OPT_HEADER,
	SCRAPE_OPT_BEARER_TOKEN_FILE,
	SCRAPE_OPT_CA_FILE,
};

/* --timeout: any duration of base/units.h ("500ms", "10s", "1m", "30"), not zero. */
static int
parse_timeout_ms(const char *s, uint64_t *ms)
{
	if (units_parse_duration_ms(s, ms) != 0 || *ms == 0)
		return -1;
	return 0;
}

/* The bearer token file by the secret-file rule (base/secret.h), one line since it becomes a
 * header. Caller frees; NULL on error (message printed). */
static char *
read_token(const char *path)
{
	char err[512], *tok = secret_read(path, err, sizeof(err));

	if (tok == NULL) {
		fprintf(stderr, "leakprofd: scrape: bearer token file %s\n", err);
		return NULL;
	}
	if (strpbrk(tok, "\r\n") != NULL) {
		fprintf(stderr, "leakprofd: scrape: bearer token file '%s': not one line\n", path);
		free(tok);
		return NULL;
	}
	return tok;
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

int
cmd_scrape(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, SCRAPE_OPT_JSON},
	    {"all", no_argument, NULL, SCRAPE_OPT_ALL},
	    {"insecure", no_argument, NULL, SCRAPE_OPT_INSECURE},
	    {"timeout", required_argument, NULL, SCRAPE_OPT_TIMEOUT},
	    {"max-body", required_argument, NULL, SCRAPE_OPT_MAX_BODY},
	    {"format", required_argument, NULL, SCRAPE_OPT_FORMAT},
	    {"profile", required_argument, NULL, SCRAPE_OPT_PROFILE},
	    {"header", required_argument, NULL, SCRAPE_OPT_HEADER},
	    {"bearer-token-file", required_argument, NULL, SCRAPE_OPT_BEARER_TOKEN_FILE},
	    {"ca-file", required_argument, NULL, SCRAPE_OPT_CA_FILE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct scrape_header headers[MAX_HEADERS];
	struct scrape_target t = {
	    .service = "scrape",
	    .format = PROFILE_FORMAT_PROTO,
	    .timeout_ms = 10000,
	    .max_body_bytes = CONFIG_MAX_BODY_DEFAULT,
	    .interval_ms = 60000,
	};
	struct scrape_result res;
	const char *url = NULL, *token_file = NULL, *profile = "goroutine";
	char path[64], *profile_url = NULL, *token = NULL;
	enum output_flags flags = 0;
	int debug = -2, rc = 1, c;

	optind = 0;
	while ((c = usage_getopt("scrape", argc, argv, opts)) != -1) {
		const char *v = optarg;

		switch (c) {
		case 'h':
			usage_print(stdout, "scrape");
			return 0;
		case SCRAPE_OPT_JSON:
			flags |= OUTPUT_JSON;
			break;
		case SCRAPE_OPT_ALL:
			flags |= OUTPUT_ALL;
			break;
		case SCRAPE_OPT_INSECURE:
			t.tls_insecure = true;
			break;
		case SCRAPE_OPT_TIMEOUT:
			if (parse_timeout_ms(v, &t.timeout_ms) != 0) {
				fprintf(stderr,
				        "leakprofd: scrape: --timeout: '%s' is not a duration like "
				        "10s or 500ms\n",
				        v);
				return 2;
			}
			break;
		case SCRAPE_OPT_MAX_BODY:
			if (units_parse_size(v, &t.max_body_bytes) != 0 || t.max_body_bytes == 0) {
				fprintf(stderr,
				        "leakprofd: scrape: --max-body: '%s' is not a size like "
				        "64MiB\n",
				        v);
				return 2;
			}
			break;
		case SCRAPE_OPT_FORMAT:
			if (format_parse(v, &t.format) == 0) {
				debug = format_debug(t.format);
			} else {
				fprintf(stderr,
				        "leakprofd: scrape: --format: '%s' is not proto, debug=1 "
				        "or debug=2\n",
				        v);
				return 2;
			}
			break;
		case SCRAPE_OPT_PROFILE:
			if (strcmp(v, "goroutine") != 0 && strcmp(v, "goroutineleak") != 0) {
				fprintf(stderr,
				        "leakprofd: scrape: --profile: '%s' is not goroutine or "
				        "goroutineleak\n",
				        v);
				return 2;
			}
			profile = v;
			break;
		case SCRAPE_OPT_HEADER:
			if (t.nheaders == MAX_HEADERS ||
			    split_header(optarg, &headers[t.nheaders]) != 0) {
				fprintf(stderr,
				        "leakprofd: scrape: --header: '%s' is not 'Name: value' "
				        "(at most %d)\n",
				        v, MAX_HEADERS);
				return 2;
			}
			t.nheaders++;
			break;
		case SCRAPE_OPT_BEARER_TOKEN_FILE:
			token_file = v;
			break;
		case SCRAPE_OPT_CA_FILE:
			t.tls_ca_file = v;
			break;
		default:
			return 2;
		}
	}
	if (optind == argc)
		return usage_error("scrape", "no URL");
	if (argc - optind > 1)
		return usage_error("scrape", "one URL only ('%s' and '%s')", argv[optind],
		                   argv[optind + 1]);
	url = argv[optind];
	/* A base URL gets the profile path and a debug parameter (proto by default); a URL with a
	 * path is the profile URL, kept as written unless --format is given. */
	if (debug == -2)
		debug = url_has_path(url) ? -1 : 0;
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
