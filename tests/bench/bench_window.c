/* tests/bench/bench_window.c: ranking from the window kept between rankings (detect/window.h)
 * against ranking from the store, and what the window costs at 10,000 targets.
 *
 * The fleet: services of --per-service instances scraped every minute, each profile 50 locations:
 * 40 that hold a steady count (pools, watchers), 5 that jitter by a goroutine or two at every
 * scrape (--jitter N: only N of them; the others hold), 3 that come and go, 1 that leaks in every
 * tenth service (and holds 2 elsewhere), 1 that holds 1; every instance restarts every 8 hours, at
 * its own time.
 *
 * --compare: --targets instances with --hours of history written into a SQLite database (rows
 * inserted directly, as the store holds them), then ranked over the last 6 h from the store and
 * from a window read from the same database: first cold, then kept up to date over --repeat more
 * rounds of real scrapes stored through the store API, each ranked both ways. The two rankings
 * must be equal; the times are the best of each.
 *
 * --scale: a window over 6 h and one over 24 h, held at once, each over --targets instances in a
 * store of its own (the 24 h one's file is the --db path with ".24h" added): its history fed to
 * the window directly (days of 500,000 series are more than a bench should write; the store holds
 * the targets, the locations and the history's last minute, which the first round's lifetimes are
 * judged against), then rounds of real scrapes stored through the store API, each ranked from the
 * window: a first one not counted (its ranking judges every lifetime that ended in the window,
 * which the window keeps from then on, as a daemon's first ranking does), then --repeat more. The
 * two windows' rounds alternate (6 h, 24 h, 6 h, ...), so other work on a shared machine falls on
 * both alike, and each ranking follows a round of its own. Prints each window's best and median
 * ranking time, in wall clock and in CPU time (without the time other work held the CPU), their
 * ratios, the ratio of each 24 h ranking to the 6 h one before it, and what the windows hold. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <jansson.h>
#include <sqlite3.h>

#include "base/config.h"
#include "base/log.h"
#include "collector/profile.h"
#include "detect/detect.h"
#include "detect/window.h"
#include "storage/lifetime.h"
#include "storage/store.h"

#define NLOC 50
#define MIN_MS 60000LL
#define HOUR_MS (60 * MIN_MS)
#define T_START 1789999200000LL
#define RESTART_MIN (8 * 60)

static char fn[NLOC][32];

struct fleet {
	long targets, per_service;
	int jitter;        /* of the 5 locations that may jitter, how many do */
	int64_t *ids;      /* target ids */
	int64_t loc[NLOC]; /* location ids */
	uint64_t *leak;    /* per target: the leak's count */
	uint64_t rng;
};

static uint64_t
rng(struct fleet *f)
{
	uint64_t x = f->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	f->rng = x;
	return x;
}

static double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static bool
restarts(long t, long m)
{
	return m > 0 && (m + t * 7) % RESTART_MIN == 0;
}

/* The count of location i in target t's scrape at minute m (0: absent). */
static uint64_t
count_of(struct fleet *f, long t, long m, int i)
{
	long svc = t / f->per_service;

	if (i < 40)
		return (uint64_t)(1 + (i * 7 + svc) % 20);
	if (i < 45)
		return (uint64_t)(20 + i) + (i - 40 < f->jitter ? rng(f) % 3 : 0);
	if (i < 48)
		return rng(f) % 10 ? 0 : 1 + rng(f) % 5;
	if (i == 48) {
		if (svc % 10)
			return 2;
		if (restarts(t, m))
			f->leak[t] = 0;
		return f->leak[t] += rng(f) % 3;
	}
	return 1;
}

static const struct frame stack[] = {
    {"runtime.gopark", "/usr/local/go/src/runtime/proc.go", 435},
    {"main.handler", "/src/app/handler.go", 17},
};

/* Store one round of real scrapes (minute m) through the store API. */
static int
store_round(struct store *st, struct fleet *f, long m)
{
	struct prof_location locs[NLOC];

	for (long t = 0; t < f->targets; t++) {
		struct profile p = {.format = PROFILE_FORMAT_PROTO,
		                    .kind = PROFILE_KIND_GOROUTINE,
		                    .locations = locs};
		struct scrape_record rec = {
		    .target_id = f->ids[t],
		    .ts = T_START + m * MIN_MS + t % 50000,
		    .duration_ms = 10,
		    .bytes = 4000,
		    .status = "ok",
		    .connection = restarts(t, m) ? LIFETIME_CONN_NEW : LIFETIME_CONN_REUSED,
		    .profile = &p,
		};

		for (int i = 0; i < NLOC; i++) {
			uint64_t c = count_of(f, t, m, i);

			if (c == 0)
				continue;
			locs[p.nlocations++] = (struct prof_location){
			    .loc = {.function = fn[i],
			            .file = "/src/app/app.go",
			            .line = 10 + (uint32_t)i},
			    .op = i < 45 ? "chan receive" : "chan send",
			    .count = c,
			    .max_wait_minutes = -1,
			    .min_wait_minutes = -1,
			    .median_wait_minutes = -1,
			    .stack = stack,
			    .nstack = 2,
			};
			p.total_goroutines += c;
		}
		if (store_add_scrape(st, &rec) != 0)
			return -1;
	}
	return 0;
}

/* The targets, and the locations (through one real scrape, which is then deleted). */
static int
setup(struct store *st, sqlite3 *db, struct fleet *f)
{
	char svc[32], url[64];

	for (int i = 0; i < NLOC; i++)
		snprintf(fn[i], sizeof(fn[i]), "main.location%02d", i);
	f->ids = calloc((size_t)f->targets, sizeof(*f->ids));
	f->leak = calloc((size_t)f->targets, sizeof(*f->leak));
	if (!f->ids || !f->leak)
		return -1;
	for (long t = 0; t < f->targets; t++) {
		snprintf(svc, sizeof(svc), "service-%04ld", t / f->per_service);
		snprintf(url, sizeof(url), "http://10.%ld.%ld.%ld:6060", t / 62500, t / 250 % 250,
		         t % 250);
		f->ids[t] = store_target_upsert(st, svc, NULL, url);
		if (f->ids[t] <= 0)
			return -1;
	}
	{
		struct prof_location locs[NLOC];
		struct profile p = {.format = PROFILE_FORMAT_PROTO,
		                    .kind = PROFILE_KIND_GOROUTINE,
		                    .locations = locs,
		                    .nlocations = NLOC,
		                    .total_goroutines = NLOC};
		struct scrape_record rec = {.target_id = f->ids[0],
		                            .ts = T_START - HOUR_MS,
		                            .duration_ms = 10,
		                            .bytes = 4000,
		                            .status = "ok",
		                            .profile = &p};

		for (int i = 0; i < NLOC; i++)
			locs[i] = (struct prof_location){
			    .loc = {.function = fn[i],
			            .file = "/src/app/app.go",
			            .line = 10 + (uint32_t)i},
			    .op = i < 45 ? "chan receive" : "chan send",
			    .count = 1,
			    .max_wait_minutes = -1,
			    .min_wait_minutes = -1,
			    .median_wait_minutes = -1,
			    .stack = stack,
			    .nstack = 2,
			};
		if (store_add_scrape(st, &rec) != 0)
			return -1;
	}
	for (int i = 0; i < NLOC; i++) {
		sqlite3_stmt *q;

		if (sqlite3_prepare_v2(db, "SELECT id FROM locations WHERE function = ?1", -1, &q,
		                       NULL) != SQLITE_OK)
			return -1;
		sqlite3_bind_text(q, 1, fn[i], -1, SQLITE_STATIC);
		if (sqlite3_step(q) != SQLITE_ROW)
			return -1;
		f->loc[i] = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	}
	return sqlite3_exec(db,
	                    "DELETE FROM samples; DELETE FROM label_samples;"
	                    " DELETE FROM sample_stacks; DELETE FROM scrapes;",
	                    NULL, NULL, NULL) == SQLITE_OK
	           ? 0
	           : -1;
}

/* The history [0, minutes) of every target as rows, by target then time, to 'row' (the scrape id
 * of minute m of target t is 1 + m * targets + t: growing with time, as stored). */
static int
history(struct fleet *f, long minutes, int (*row)(const struct store_window_row *r, void *arg),
        void *arg)
{
	for (long t = 0; t < f->targets; t++) {
		for (long m = 0; m < minutes; m++) {
			struct store_window_row r = {
			    .scrape_id = 1 + m * f->targets + t,
			    .target_id = f->ids[t],
			    .ts = T_START + m * MIN_MS + t % 50000,
			    .restart = restarts(t, m),
			    .max_wait = -1,
			    .median_wait = -1,
			};
			uint64_t c[NLOC];

			for (int i = 0; i < NLOC; i++) {
				c[i] = count_of(f, t, m, i);
				r.total_goroutines += c[i];
			}
			for (int i = 0; i < NLOC; i++) {
				if (c[i] == 0)
					continue;
				r.has_sample = true;
				r.location_id = f->loc[i];
				r.count = c[i];
				if (row(&r, arg) != 0)
					return -1;
			}
		}
	}
	return 0;
}

struct inserter {
	sqlite3_stmt *scrape, *sample;
	int64_t last;
};

static int
insert_row(const struct store_window_row *r, void *arg)
{
	struct inserter *in = arg;

	if (r->scrape_id != in->last) {
		sqlite3_reset(in->scrape);
		sqlite3_bind_int64(in->scrape, 1, r->scrape_id);
		sqlite3_bind_int64(in->scrape, 2, r->target_id);
		sqlite3_bind_int64(in->scrape, 3, r->ts);
		sqlite3_bind_int64(in->scrape, 4, (int64_t)r->total_goroutines);
		if (r->restart)
			sqlite3_bind_text(in->scrape, 5, "connection", -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(in->scrape, 5);
		if (sqlite3_step(in->scrape) != SQLITE_DONE)
			return -1;
		in->last = r->scrape_id;
	}
	sqlite3_reset(in->sample);
	sqlite3_bind_int64(in->sample, 1, r->scrape_id);
	sqlite3_bind_int64(in->sample, 2, r->location_id);
	sqlite3_bind_int64(in->sample, 3, (int64_t)r->count);
	return sqlite3_step(in->sample) == SQLITE_DONE ? 0 : -1;
}

/* Prepare 'in' to write rows as the store holds them. 0, or -1. */
static int
inserter_prepare(sqlite3 *db, struct inserter *in)
{
	in->last = -1;
	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO scrapes (id, target_id, ts, duration_ms, bytes, status,"
	                       " format, kind, detail, total_goroutines, restart, rolled)"
	                       " VALUES (?1, ?2, ?3, 10, 4000, 'ok', 'proto', 'goroutine', 0, ?4,"
	                       " ?5, 1)",
	                       -1, &in->scrape, NULL) != SQLITE_OK)
		return -1;
	return sqlite3_prepare_v2(
	           db, "INSERT INTO samples (scrape_id, location_id, count) VALUES (?1, ?2, ?3)",
	           -1, &in->sample, NULL) == SQLITE_OK
	           ? 0
	           : -1;
}

static void
inserter_release(struct inserter *in)
{
	sqlite3_finalize(in->scrape);
	sqlite3_finalize(in->sample);
}

/* A window fed its history, of which the scrapes from 'from' on are also written to the store:
 * the store judges where a scrape starts a lifetime against the target's scrape before it, and
 * without one it takes every target's first round for a start (every series' lifetime would end
 * there, and the rankings would judge lifetimes of a few scrapes instead of hours). */
struct feeder {
	struct window *w;
	struct inserter in;
	int64_t from;
};

static int
feed_row(const struct store_window_row *r, void *arg)
{
	struct feeder *fd = arg;

	if (window_feed_row(fd->w, r) != 0)
		return -1;
	return r->scrape_id >= fd->from ? insert_row(r, &fd->in) : 0;
}

static bool
same(const struct ranking *a, const struct ranking *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		json_t *x = detect_suspect_json(&a->suspects[i]),
		       *y = detect_suspect_json(&b->suspects[i]);
		bool eq = x && y && json_equal(x, y) &&
		          strcmp(a->suspects[i].sparkline_json, b->suspects[i].sparkline_json) == 0;

		json_decref(x);
		json_decref(y);
		if (!eq)
			return false;
	}
	return true;
}

static long
rss_mib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024;
}

static int
compare(struct store *st, sqlite3 *db, struct fleet *f, long hours, int repeat)
{
	struct config *cfg = config_default();
	struct window *w = window_new();
	struct inserter in;
	long m0 = hours * 60;
	double t0, best_store = 1e9, best_window = 1e9, cold;
	struct ranking a, b;
	size_t suspects = 0;
	int equal = 0;

	if (!cfg || !w)
		return 1;
	t0 = now_s();
	if (sqlite3_exec(db, "PRAGMA cache_size = -524288; BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    inserter_prepare(db, &in) != 0 || history(f, m0, insert_row, &in) != 0 ||
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_window: writing the history: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	inserter_release(&in);
	printf("history: %ld targets x %d locations x %ld h written in %.1f s\n", f->targets, NLOC,
	       hours, now_s() - t0);
	/* cold: the window reads all of it once */
	t0 = now_s();
	if (detect_rank_window(st, cfg, w, 6 * 3600, T_START + m0 * MIN_MS, &b) != 0)
		return 1;
	cold = now_s() - t0;
	ranking_release(&b);
	for (int k = 0; k < repeat; k++) {
		int64_t now = T_START + (m0 + k + 1) * MIN_MS;

		if (store_round(st, f, m0 + k) != 0)
			return 1;
		t0 = now_s();
		if (detect_rank(st, cfg, NULL, 6 * 3600, now, &a) != 0)
			return 1;
		if (now_s() - t0 < best_store)
			best_store = now_s() - t0;
		t0 = now_s();
		if (detect_rank_window(st, cfg, w, 6 * 3600, now, &b) != 0)
			return 1;
		if (now_s() - t0 < best_window)
			best_window = now_s() - t0;
		equal += same(&a, &b);
		suspects = a.n;
		ranking_release(&a);
		ranking_release(&b);
	}
	printf(
	    "ranking %ld targets x %d locations over 6 h (%zu suspects): from the store %.0f ms, "
	    "from the window %.0f ms (%.3fx; the first, reading the whole window, %.0f ms); "
	    "equal at %d of %d rounds\n",
	    f->targets, NLOC, suspects, best_store * 1000, best_window * 1000,
	    best_window / best_store, cold * 1000, equal, repeat);
	window_free(w);
	config_unref(cfg);
	return equal == repeat ? 0 : 1;
}

/* One window of --scale, with the store and the fleet its rounds are stored to. */
struct scaled {
	long hours, m0; /* the window, and the minutes of history fed to it */
	struct store *st;
	sqlite3 *db;
	struct fleet g;
	struct window *w;
	struct window_stats ws;
	/* per round, in round order (0: the first, not counted): wall clock, and CPU time */
	double *secs, *cpu;
};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The best and the median of n times. */
static void
best_median(const double *secs, int n, double *best, double *median)
{
	double *s = malloc((size_t)n * sizeof(*s));

	if (!s) {
		*best = *median = secs[0];
		return;
	}
	memcpy(s, secs, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	*best = s[0];
	*median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
}

static double
load1(void)
{
	double l[1];

	return getloadavg(l, 1) == 1 ? l[0] : -1;
}

/* Open the store at 'path' with the fleet's targets and locations. 0, or -1 (said on stderr). */
static int
fleet_open(const char *path, struct fleet *f, struct store **st, sqlite3 **db)
{
	*db = NULL;
	*st = store_open(path, 0);
	if (!*st || sqlite3_open(path, db) != SQLITE_OK || setup(*st, *db, f) != 0) {
		fprintf(stderr, "bench_window: setting up '%s' failed: %s / %s\n", path,
		        *st ? store_errmsg(*st) : "-", *db ? sqlite3_errmsg(*db) : "-");
		return -1;
	}
	return 0;
}

static void
fleet_close(struct fleet *f, struct store *st, sqlite3 *db)
{
	sqlite3_close(db);
	store_free(st);
	free(f->ids);
	free(f->leak);
	f->ids = NULL;
	f->leak = NULL;
}

/* Feed 'x' its history and store its last minute; the store's next scrape ids follow the
 * history's. */
static int
scaled_feed(struct scaled *x, const struct config *cfg)
{
	int64_t since = T_START + (x->m0 - x->hours * 60) * MIN_MS, upto = 1 + x->m0 * x->g.targets;
	struct feeder fd = {.from = 1 + (x->m0 - 1) * x->g.targets};
	double t0 = now_s();
	char sql[300];
	int rc = -1;

	x->w = fd.w = window_new();
	if (!x->w || window_feed_begin(x->w, x->st, cfg->detector.window_memory) != 0)
		return -1;
	if (sqlite3_exec(x->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	if (inserter_prepare(x->db, &fd.in) != 0)
		goto out_rollback;
	if (history(&x->g, x->m0, feed_row, &fd) != 0 ||
	    window_feed_end(x->w, upto, 0, since, T_START + x->m0 * MIN_MS) != 0)
		goto out_release;
	snprintf(sql, sizeof(sql),
	         "INSERT INTO scrapes (id, target_id, ts, duration_ms, bytes, status) VALUES"
	         " (%lld, %lld, 0, 0, 0, 'error'); COMMIT",
	         (long long)upto, (long long)x->g.ids[0]);
	rc = sqlite3_exec(x->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
	fprintf(stderr, "bench_window: %ld h fed in %.1f s\n", x->hours, now_s() - t0);
out_release:
	inserter_release(&fd.in);
out_rollback:
	if (rc != 0) {
		fprintf(stderr, "bench_window: %s\n", sqlite3_errmsg(x->db));
		sqlite3_exec(x->db, "ROLLBACK", NULL, NULL, NULL);
	}
	return rc;
}

/* Round i of 'x': a round of scrapes stored, then the ranking, timed. */
static int
scaled_round(struct scaled *x, const struct config *cfg, int i)
{
	int64_t now = T_START + (x->m0 + i + 1) * MIN_MS;
	struct ranking r;
	double t0, c0;

	if (store_round(x->st, &x->g, x->m0 + i) != 0)
		return -1;
	t0 = now_s();
	c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	if (detect_rank_window(x->st, cfg, x->w, (uint64_t)x->hours * 3600, now, &r) != 0)
		return -1;
	x->secs[i] = now_s() - t0;
	x->cpu[i] = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	ranking_release(&r);
	return 0;
}

static int
scale(const char *path, const struct fleet *f, int repeat)
{
	struct scaled x[2] = {{.hours = 6}, {.hours = 24}};
	struct config *cfg = config_default();
	double best[2] = {0}, median[2] = {0}, cbest[2] = {0}, cmedian[2] = {0};
	double load_start = load1(), *pairs;
	char path24[1100];
	int rc = 1, k;

	if (!cfg)
		return 1;
	cfg->retention_raw = 48 * 3600; /* else a 24 h window reads the store */
	/* per window, measured, not bounded: both together stay under 2 GiB at 10,000 targets */
	cfg->detector.window_memory = 16ULL << 30;
	if (snprintf(path24, sizeof(path24), "%s.24h", path) >= (int)sizeof(path24)) {
		fprintf(stderr, "bench_window: '%s': path too long\n", path);
		goto out;
	}
	for (k = 0; k < 2; k++) {
		x[k].m0 = x[k].hours * 60 + 60;
		x[k].g = *f;
		x[k].g.ids = NULL;
		x[k].g.leak = NULL;
		x[k].secs = calloc((size_t)repeat + 1, sizeof(*x[k].secs));
		x[k].cpu = calloc((size_t)repeat + 1, sizeof(*x[k].cpu));
		if (!x[k].secs || !x[k].cpu ||
		    fleet_open(k ? path24 : path, &x[k].g, &x[k].st, &x[k].db) != 0)
			goto out;
	}
	for (k = 0; k < 2; k++)
		if (scaled_feed(&x[k], cfg) != 0) {
			fprintf(stderr, "bench_window: feeding the %ld h window failed\n",
			        x[k].hours);
			goto out;
		}
	for (int i = 0; i <= repeat; i++)
		for (k = 0; k < 2; k++)
			if (scaled_round(&x[k], cfg, i) != 0) {
				fprintf(stderr, "bench_window: round %d over %ld h failed: %s\n", i,
				        x[k].hours, store_errmsg(x[k].st));
				goto out;
			}
	for (k = 0; k < 2; k++) {
		window_stats(x[k].w, &x[k].ws);
		best_median(x[k].secs + 1, repeat, &best[k], &median[k]);
		best_median(x[k].cpu + 1, repeat, &cbest[k], &cmedian[k]);
		printf(
		    "window %2ld h: %zu targets, %zu series, %zu scrapes, %zu runs, %.0f MiB held;"
		    " ranking %.0f ms best, %.0f ms median, CPU %.0f ms best, %.0f ms median (of"
		    " %d, each after a round of %ld scrapes)\n",
		    x[k].hours, x[k].ws.targets, x[k].ws.series, x[k].ws.scrapes, x[k].ws.runs,
		    (double)x[k].ws.bytes / 1048576.0, best[k] * 1000, median[k] * 1000,
		    cbest[k] * 1000, cmedian[k] * 1000, repeat, f->targets);
	}
	printf("rankings in round order, 6 h / 24 h (ms): the first, judging every lifetime that"
	       " ended in the window, %.0f/%.0f (not counted), then",
	       x[0].secs[0] * 1000, x[1].secs[0] * 1000);
	for (int i = 1; i <= repeat; i++)
		printf(" %.0f/%.0f", x[0].secs[i] * 1000, x[1].secs[i] * 1000);
	printf("\nboth windows held at once, their rounds alternating; peak RSS %ld MiB;"
	       " load average %.2f at the start, %.2f at the end\n",
	       rss_mib(), load_start, load1());
	printf("ranking over 24 h / over 6 h: %.2fx best, %.2fx median; CPU %.2fx best, %.2fx"
	       " median\n",
	       best[1] / best[0], median[1] / median[0], cbest[1] / cbest[0],
	       cmedian[1] / cmedian[0]);
	/* each 24 h round over the 6 h one just before it: what slows a shared machine for a few
	 * rounds falls on both */
	pairs = calloc((size_t)repeat, sizeof(*pairs));
	if (pairs) {
		for (int i = 1; i <= repeat; i++)
			pairs[i - 1] = x[1].secs[i] / x[0].secs[i];
		best_median(pairs, repeat, &best[1], &median[1]);
		printf("each 24 h ranking over the 6 h one before it: %.2fx median, %.2fx least\n",
		       median[1], best[1]);
		free(pairs);
	}
	rc = 0;
out:
	for (k = 0; k < 2; k++) {
		window_free(x[k].w);
		if (x[k].st)
			fleet_close(&x[k].g, x[k].st, x[k].db);
		free(x[k].secs);
		free(x[k].cpu);
	}
	config_unref(cfg);
	return rc;
}

static int
usage(FILE *to, int rc)
{
	fprintf(to, "usage: bench_window --db FILE (--compare | --scale) [--targets N]"
	            " [--per-service N] [--hours H (at least 7)] [--jitter 0..5] [--repeat N]\n");
	return rc;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	struct fleet f = {
	    .targets = 1000, .per_service = 20, .jitter = 5, .rng = 0x9e3779b97f4a7c15ull};
	long hours = 7;
	int repeat = 3, mode = 0, rc;
	struct store *st;
	sqlite3 *db;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--compare") == 0)
			mode = 1;
		else if (strcmp(argv[i], "--scale") == 0)
			mode = 2;
		else if (strcmp(argv[i], "--help") == 0)
			return usage(stdout, 0);
		else if (i + 1 < argc && strcmp(argv[i], "--db") == 0)
			path = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--targets") == 0)
			f.targets = strtol(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "--per-service") == 0)
			f.per_service = strtol(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "--hours") == 0)
			hours = strtol(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "--jitter") == 0)
			f.jitter = (int)strtol(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "--repeat") == 0)
			repeat = (int)strtol(argv[++i], NULL, 10);
		else
			mode = -1;
	}
	if (mode <= 0 || !path || f.targets < 1 || f.per_service < 1 || hours < 7 || repeat < 1)
		return usage(stderr, 2);
	log_set_level(LOG_LEVEL_WARNING);
	if (mode == 2)
		return scale(path, &f, repeat);
	if (fleet_open(path, &f, &st, &db) != 0)
		return 1;
	rc = compare(st, db, &f, hours, repeat);
	fleet_close(&f, st, db);
	return rc;
}
