/* daemon/cmd_suspects.c: `leakprofd suspects`: print the leak ranking, best first, as an aligned
 * table with the explanation of each suspect, or as JSON. Without --window it prints the ranking
 * the running daemon stored if it is recent, else it computes one over the configured window; with
 * --window (or --at) it computes one. The database is opened read-only: this command never writes,
 * so it is safe next to a running daemon. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "daemon/cmd.h"
#include "base/config.h"
#include "base/units.h"
#include "detect/detect.h"
#include "base/log.h"
#include "storage/store.h"

#define SUSPECTS_MIN_FRESH                                                                         \
	120 /* seconds: a stored ranking at most this old (or 3 intervals) is recent */

struct suspects_opts {
	const char *config;
	const char *db;
	const char *service;
	const char *window;
	bool json;
	bool have_at;
	int64_t at; /* Unix ms, with --at */
	size_t limit;
};

static void
suspects_usage(FILE *f)
{
	fprintf(f, "usage: leakprofd suspects [--config FILE | --db FILE] [--service S] [--window "
	           "6h] [--json] "
	           "[--limit N]\n\n"
	           "Print the locations whose blocked goroutine counts keep growing, best first.\n"
	           "  --config FILE  use the database and detector settings of this configuration\n"
	           "  --db FILE      use this database with default detector settings (default "
	           "./leakprofd.db)\n"
	           "  --service S    only this service (ranks are then within the service)\n"
	           "  --window DUR   compute the ranking now over this window (e.g. 30m, 6h) "
	           "instead of printing the\n"
	           "                 ranking the daemon stored\n"
	           "  --at MS        compute the ranking as it was at this Unix time in "
	           "milliseconds (for evaluations)\n"
	           "  --json         print JSON\n"
	           "  --limit N      print at most N suspects\n"
	           "Exit status: 0 success (with or without suspects), 1 error, 2 usage.\n");
}

static int
parse_u64(const char *s, unsigned long long *out)
{
	char *end;

	errno = 0;
	if (!s || *s == '\0' || *s == '-')
		return -1;
	*out = strtoull(s, &end, 10);
	if (errno || *end != '\0')
		return -1;
	return 0;
}

static int
suspects_parse_args(int argc, char **argv, struct suspects_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned long long n;

		if (strcmp(a, "--json") == 0) {
			o->json = true;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			suspects_usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--config") != 0 && strcmp(a, "--db") != 0 &&
		    strcmp(a, "--service") != 0 && strcmp(a, "--window") != 0 &&
		    strcmp(a, "--limit") != 0 && strcmp(a, "--at") != 0) {
			fprintf(stderr, "leakprofd suspects: unknown option '%s'\n", a);
			return -1;
		}
		if (!v) {
			fprintf(stderr, "leakprofd suspects: option '%s' needs a value\n", a);
			return -1;
		}
		i++;
		if (strcmp(a, "--config") == 0) {
			o->config = v;
		} else if (strcmp(a, "--db") == 0) {
			o->db = v;
		} else if (strcmp(a, "--service") == 0) {
			o->service = v;
		} else if (strcmp(a, "--window") == 0) {
			o->window = v;
		} else if (strcmp(a, "--limit") == 0) {
			if (parse_u64(v, &n) < 0 || n > 1000000) {
				fprintf(stderr,
				        "leakprofd suspects: --limit: '%s' is not a count\n", v);
				return -1;
			}
			o->limit = (size_t)n;
		} else {
			if (parse_u64(v, &n) < 0 || n > (unsigned long long)INT64_MAX) {
				fprintf(stderr,
				        "leakprofd suspects: --at: '%s' is not a Unix time in ms\n",
				        v);
				return -1;
			}
			o->have_at = true;
			o->at = (int64_t)n;
		}
	}
	if (o->config && o->db) {
		fprintf(stderr, "leakprofd suspects: --config and --db exclude each other\n");
		return -1;
	}
	return 0;
}

static void
iso_time(char *buf, size_t len, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)ms);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
print_json(const struct ranking *r)
{
	json_t *root = json_object(), *arr = json_array();
	int rc = -1;

	if (!root || !arr) {
		json_decref(arr);
		goto out;
	}
	json_object_set_new(root, "generated_at", detect_time_json(r->generated_at));
	json_object_set_new(root, "window_seconds", json_integer((json_int_t)r->window_seconds));
	json_object_set_new(root, "suspects", arr);
	for (size_t i = 0; i < r->n; i++) {
		json_t *o = detect_suspect_json(&r->suspects[i]);

		if (!o)
			goto out;
		json_array_append_new(arr, o);
	}
	if (json_dumpf(root, stdout, JSON_INDENT(2)) == 0 && fputc('\n', stdout) != EOF)
		rc = 0;
out:
	json_decref(root);
	return rc;
}

/* Width in terminal columns of UTF-8 text (the explanation's arrow is one column, three bytes). */
static size_t
text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

/* 10799.7 -> "+11k", 120.4 -> "+120", 0.42 -> "+0.4" */
static void
fmt_rate(char *buf, size_t len, double v)
{
	double a = v < 0 ? -v : v;

	if (a >= 1e6)
		snprintf(buf, len, "%+.1fM", v / 1e6);
	else if (a >= 1e4)
		snprintf(buf, len, "%+.0fk", v / 1e3);
	else if (a >= 1e3)
		snprintf(buf, len, "%+.1fk", v / 1e3);
	else if (a >= 10)
		snprintf(buf, len, "%+.0f", v);
	else
		snprintf(buf, len, "%+.1f", v);
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static void
print_table(const struct ranking *r, bool stored)
{
	enum { NCOL = 8 };
	static const char *const head[NCOL] = {"RANK",  "SCORE",    "SERVICE",   "OP",
	                                       "COUNT", "GROWTH/H", "INSTANCES", "LOCATION"};
	size_t width[NCOL];
	char when[40], cell[NCOL][512];

	iso_time(when, sizeof(when), r->generated_at);
	printf("%s ranking of %s over %llu s: %zu suspect%s\n", stored ? "stored" : "computed",
	       when, (unsigned long long)r->window_seconds, r->n, r->n == 1 ? "" : "s");
	if (r->n == 0)
		return;
	for (int c = 0; c < NCOL; c++)
		width[c] = strlen(head[c]);
	/* Two passes: measure, then print. */
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			for (int c = 0; c < NCOL; c++)
				printf("%s%-*s", c ? "  " : "", c == NCOL - 1 ? 0 : (int)width[c],
				       head[c]);
			printf("\n");
		}
		for (size_t i = 0; i < r->n; i++) {
			const struct suspect *s = &r->suspects[i];

			snprintf(cell[0], sizeof(cell[0]), "%d", s->rank);
			snprintf(cell[1], sizeof(cell[1]), "%.2f%s", s->score,
			         s->confirmed ? "!" : "");
			snprintf(cell[2], sizeof(cell[2]), "%s", s->service ? s->service : "");
			snprintf(cell[3], sizeof(cell[3]), "%s", s->op ? s->op : "");
			snprintf(cell[4], sizeof(cell[4]), "%llu",
			         (unsigned long long)s->current_count);
			fmt_rate(cell[5], sizeof(cell[5]), s->growth_per_hour);
			snprintf(cell[6], sizeof(cell[6]), "%u/%u", s->instances_growing,
			         s->instances_total);
			snprintf(cell[7], sizeof(cell[7]), "%s (%s:%u)",
			         s->function ? s->function : "", base_name(s->file ? s->file : ""),
			         s->line);
			if (pass == 0) {
				for (int c = 0; c < NCOL; c++)
					if (text_width(cell[c]) > width[c])
						width[c] = text_width(cell[c]);
				continue;
			}
			for (int c = 0; c < NCOL; c++) {
				size_t pad = c == NCOL - 1 ? 0 : width[c] - text_width(cell[c]);

				printf("%s%s%*s", c ? "  " : "", cell[c], (int)pad, "");
			}
			printf("\n%*s%s\n", (int)width[0] + 2, "",
			       s->explanation ? s->explanation : "");
		}
	}
	if (r->n && r->suspects[0].confirmed)
		printf("(! = confirmed by the Go runtime: goroutineleak profile or (leaked) "
		       "goroutines)\n");
}

/* Keep only 'service' (renumbering ranks within it) and at most 'limit' entries. */
static void
filter_ranking(struct ranking *r, const char *service, size_t limit)
{
	size_t k = 0;

	for (size_t i = 0; i < r->n; i++) {
		bool keep = (!service || (r->suspects[i].service &&
		                          strcmp(r->suspects[i].service, service) == 0)) &&
		            (limit == 0 || k < limit);

		if (!keep) {
			suspect_release(&r->suspects[i]);
			continue;
		}
		if (k != i)
			r->suspects[k] = r->suspects[i];
		if (service)
			r->suspects[k].rank = (int)k + 1;
		k++;
	}
	r->n = k;
}

int
cmd_suspects(int argc, char **argv)
{
	struct suspects_opts o = {0};
	struct config_errors errs = {0};
	struct config *cfg;
	struct store *st;
	struct ranking r = {0};
	uint64_t window = 0;
	bool stored = false;
	int rc = 1, lrc;

	if (suspects_parse_args(argc, argv, &o) < 0) {
		suspects_usage(stderr);
		return 2;
	}
	if (o.window && (units_parse_duration(o.window, &window) < 0 || window == 0)) {
		fprintf(stderr,
		        "leakprofd suspects: --window: '%s' is not a duration (e.g. 30m, 6h)\n",
		        o.window);
		return 2;
	}
	if (o.config) {
		cfg = config_load(o.config, &errs);
		if (!cfg) {
			for (size_t i = 0; i < errs.n; i++)
				fprintf(stderr, "%s\n", errs.msgs[i]);
			config_errors_release(&errs);
			return 1;
		}
	} else {
		cfg = config_default();
		if (!cfg) {
			fprintf(stderr, "leakprofd suspects: out of memory\n");
			return 1;
		}
	}
	config_errors_release(&errs);
	if (!window)
		window = cfg->detector.window ? cfg->detector.window : 6 * 3600;
	st = store_open(o.db ? o.db : o.config ? cfg->database : "./leakprofd.db", STORE_READONLY);
	if (!st)
		goto out_config; /* store_open logged why */

	if (!o.window && !o.have_at) {
		lrc = store_ranking_load(st, NULL, 0, &r);
		if (lrc < 0) {
			fprintf(stderr, "leakprofd suspects: loading the stored ranking: %s\n",
			        store_errmsg(st));
			goto out_store;
		}
		if (lrc == 0) {
			uint64_t fresh = 3 * cfg->scrape_interval;

			if (fresh < SUSPECTS_MIN_FRESH)
				fresh = SUSPECTS_MIN_FRESH;
			if (now_ms() - r.generated_at <= (int64_t)(fresh * 1000)) {
				stored = true;
			} else {
				ranking_release(&r);
				memset(&r, 0, sizeof(r));
			}
		}
	}
	if (!stored &&
	    detect_rank(st, cfg, o.service, window, o.have_at ? o.at : now_ms(), &r) < 0) {
		fprintf(stderr, "leakprofd suspects: computing the ranking failed\n");
		goto out_store;
	}
	filter_ranking(&r, o.service, o.limit);
	if (o.json) {
		if (print_json(&r) < 0) {
			fprintf(stderr, "leakprofd suspects: writing JSON failed\n");
			goto out_ranking;
		}
	} else {
		print_table(&r, stored);
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "leakprofd suspects: writing the output: %s\n", strerror(errno));
		goto out_ranking;
	}
	rc = 0;
out_ranking:
	ranking_release(&r);
out_store:
	store_free(st);
out_config:
	config_unref(cfg);
	return rc;
}
