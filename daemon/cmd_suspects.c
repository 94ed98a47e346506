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

#include "base/clock.h"
#include "daemon/cmd.h"
#include "base/config.h"
#include "base/units.h"
#include "detect/detect.h"
#include "detect/suspect_labels.h"
#include "base/log.h"
#include "storage/store.h"
#include "daemon/usage.h"

#define SUSPECTS_MIN_FRESH                                                                         \
	120 /* seconds: a stored ranking at most this old (or 3 intervals) is recent */

struct suspects_opts {
	const char *config;
	const char *db;
	const char *service;
	const char *window;
	char *label; /* --label KEY=VALUE, split into label_key and label_value */
	const char *label_key, *label_value;
	bool json;
	bool have_at;
	int64_t at; /* Unix ms, with --at */
	size_t limit;
};

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

enum {
	SUSPECTS_OPT_CONFIG = 256,
	SUSPECTS_OPT_DB,
	SUSPECTS_OPT_SERVICE,
	SUSPECTS_OPT_WINDOW,
	SUSPECTS_OPT_AT,
	SUSPECTS_OPT_JSON,
	SUSPECTS_OPT_LIMIT,
	SUSPECTS_OPT_LABEL,
};

/* The options into 'o'. 0; 1 when --help printed the usage; or 2, the exit status of a usage error
 * (printed). */
static int
suspects_parse_args(int argc, char **argv, struct suspects_opts *o)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, SUSPECTS_OPT_CONFIG},
	    {"db", required_argument, NULL, SUSPECTS_OPT_DB},
	    {"service", required_argument, NULL, SUSPECTS_OPT_SERVICE},
	    {"window", required_argument, NULL, SUSPECTS_OPT_WINDOW},
	    {"at", required_argument, NULL, SUSPECTS_OPT_AT},
	    {"json", no_argument, NULL, SUSPECTS_OPT_JSON},
	    {"limit", required_argument, NULL, SUSPECTS_OPT_LIMIT},
	    {"label", required_argument, NULL, SUSPECTS_OPT_LABEL},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned long long n;
	int c;

	optind = 0;
	while ((c = usage_getopt("suspects", argc, argv, opts)) != -1) {
		switch (c) {
		case 'h':
			usage_print(stdout, "suspects");
			return 1;
		case SUSPECTS_OPT_CONFIG:
			o->config = optarg;
			break;
		case SUSPECTS_OPT_DB:
			o->db = optarg;
			break;
		case SUSPECTS_OPT_SERVICE:
			o->service = optarg;
			break;
		case SUSPECTS_OPT_WINDOW:
			o->window = optarg;
			break;
		case SUSPECTS_OPT_JSON:
			o->json = true;
			break;
		case SUSPECTS_OPT_LABEL:
			o->label = optarg;
			if (!store_label_filter_parse(o->label, &o->label_key, &o->label_value))
				return usage_error("suspects", "--label: '%s' is not KEY=VALUE",
				                   optarg);
			break;
		case SUSPECTS_OPT_LIMIT:
			if (parse_u64(optarg, &n) < 0 || n > 1000000)
				return usage_error("suspects", "--limit: '%s' is not a count",
				                   optarg);
			o->limit = (size_t)n;
			break;
		case SUSPECTS_OPT_AT:
			if (parse_u64(optarg, &n) < 0 || n > (unsigned long long)INT64_MAX)
				return usage_error("suspects",
				                   "--at: '%s' is not a Unix time in ms", optarg);
			o->have_at = true;
			o->at = (int64_t)n;
			break;
		default:
			return 2;
		}
	}
	if (optind < argc)
		return usage_error("suspects", "unexpected argument '%s'", argv[optind]);
	if (o->config && o->db)
		return usage_error("suspects", "--config and --db exclude each other");
	return 0;
}

/* The top 'max_sets' label sets of each suspect of 'r' (labels[i] for suspects[i]). Caller frees
 * with labels_free(). NULL on error (printed). */
static struct store_labels *
labels_load(struct store *st, const struct ranking *r, size_t max_sets)
{
	struct store_labels *l = calloc(r->n ? r->n : 1, sizeof(*l));

	if (l == NULL)
		return NULL;
	for (size_t i = 0; max_sets > 0 && i < r->n; i++) {
		if (suspect_labels_load(st, &r->suspects[i], r->generated_at, r->window_seconds,
		                        max_sets, &l[i]) < 0) {
			fprintf(stderr, "leakprofd suspects: reading label sets: %s\n",
			        store_errmsg(st));
			for (size_t k = 0; k < i; k++)
				store_labels_release(&l[k]);
			free(l);
			return NULL;
		}
	}
	return l;
}

static void
labels_free(struct store_labels *l, size_t n)
{
	for (size_t i = 0; l != NULL && i < n; i++)
		store_labels_release(&l[i]);
	free(l);
}

static int
print_json(const struct ranking *r, const struct store_labels *labels)
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
		json_object_set_new(o, "labels", suspect_labels_json(&labels[i]));
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

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* "labels: route=/a +12 (40), tenant=b (3), …" under a suspect: its top sets, each with its
 * goroutines now and what it gained over the window. */
static void
print_labels(const struct store_labels *l, int indent)
{
	struct sbuf b = {0};

	if (l->n == 0)
		return;
	for (size_t i = 0; i < l->n; i++) {
		long long growth = (long long)l->sets[i].count - (long long)l->sets[i].first;

		sbuf_puts(&b, i ? "; " : "labels: ");
		suspect_labels_text(&b, l->sets[i].set, 200);
		sbuf_addf(&b, " %llu", (unsigned long long)l->sets[i].count);
		if (growth != 0)
			sbuf_addf(&b, " (%+lld)", growth);
	}
	if (l->other > 0)
		sbuf_addf(&b, "; other sets %llu", (unsigned long long)l->other);
	if (b.p != NULL)
		printf("%*s%s\n", indent, "", b.p);
	sbuf_release(&b);
}

static void
print_table(const struct ranking *r, bool stored, const struct store_labels *labels)
{
	enum { NCOL = 8 };
	static const char *const head[NCOL] = {"RANK",  "SCORE",    "SERVICE",   "OP",
	                                       "COUNT", "GROWTH/H", "INSTANCES", "LOCATION"};
	size_t width[NCOL];
	char when[40], cell[NCOL][512];

	if (!clock_fmt_iso8601(r->generated_at, when, sizeof(when)))
		snprintf(when, sizeof(when), "never");
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
			detect_fmt_rate(cell[5], sizeof(cell[5]), s->growth_per_hour, true);
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
			print_labels(&labels[i], (int)width[0] + 2);
		}
	}
	if (r->n && r->suspects[0].confirmed)
		printf("(! = confirmed by the Go runtime: goroutineleak profile or (leaked) "
		       "goroutines)\n");
}

/* Keep only 'service' (renumbering ranks within it), only the suspects carrying label
 * o->label_key = o->label_value when given (ranks kept), and at most 'limit' entries. 0, or -1 on
 * a read error (printed). */
static int
filter_ranking(struct store *st, struct ranking *r, const struct suspects_opts *o)
{
	const char *service = o->service;
	size_t limit = o->limit, k = 0;

	for (size_t i = 0; i < r->n; i++) {
		bool keep = (!service || (r->suspects[i].service &&
		                          strcmp(r->suspects[i].service, service) == 0)) &&
		            (limit == 0 || k < limit);

		if (keep && o->label_key != NULL) {
			int m =
			    suspect_labels_match(st, &r->suspects[i], r->generated_at,
			                         r->window_seconds, o->label_key, o->label_value);

			if (m < 0) {
				fprintf(stderr, "leakprofd suspects: reading label sets: %s\n",
				        store_errmsg(st));
				for (; i < r->n; i++)
					suspect_release(&r->suspects[i]);
				r->n = k;
				return -1;
			}
			keep = m == 1;
		}

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
	return 0;
}

int
cmd_suspects(int argc, char **argv)
{
	struct suspects_opts o = {0};
	struct config_errors errs = {0};
	struct config *cfg;
	struct store *st;
	struct ranking r = {0};
	struct store_labels *labels = NULL;
	uint64_t window = 0;
	bool stored = false;
	int rc = 1, lrc;

	lrc = suspects_parse_args(argc, argv, &o);
	if (lrc != 0)
		return lrc == 1 ? 0 : lrc;
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
	/* the whole fleet, as the dashboard shows it */
	store_set_fleet(st, cfg->shard_index, cfg->shard_count);

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
			if (clock_wall_ms() - r.generated_at <= (int64_t)(fresh * 1000)) {
				stored = true;
			} else {
				ranking_release(&r);
				memset(&r, 0, sizeof(r));
			}
		}
	}
	if (!stored &&
	    detect_rank(st, cfg, o.service, window, o.have_at ? o.at : clock_wall_ms(), &r) < 0) {
		fprintf(stderr, "leakprofd suspects: computing the ranking failed\n");
		goto out_store;
	}
	if (filter_ranking(st, &r, &o) < 0)
		goto out_ranking;
	labels = labels_load(st, &r, cfg->detector.max_label_sets);
	if (labels == NULL)
		goto out_ranking;
	if (o.json) {
		if (print_json(&r, labels) < 0) {
			fprintf(stderr, "leakprofd suspects: writing JSON failed\n");
			goto out_ranking;
		}
	} else {
		print_table(&r, stored, labels);
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "leakprofd suspects: writing the output: %s\n", strerror(errno));
		goto out_ranking;
	}
	rc = 0;
out_ranking:
	labels_free(labels, r.n);
	ranking_release(&r);
out_store:
	store_free(st);
out_config:
	config_unref(cfg);
	return rc;
}
