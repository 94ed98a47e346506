/* tests/bench/bench_store.c: database bytes per target per day, and ingest and detector-query
 * speed, at the default settings, through the real store API.
 *
 * A simulated fleet (services of --per-service instances) is scraped every --interval seconds of
 * simulated time for
 * --days days, with retention run every 10 simulated minutes as the daemon runs it (raw 48 h,
 * rollups 30 d). Each service has a realistic goroutine profile: 30 locations every instance always
 * has (HTTP connections in IO wait, worker pools on chan receive, tickers in select, database/sql
 * openers, ...), 40 that come and go (request handlers blocked for a while), so 30-70 per scrape
 * (about 50), and 2 that leak (growing about one goroutine every 2 minutes and reset by a restart
 * every 12 hours). Stacks are 8-20 frames with realistic module paths, two variants per location.
 * Times are simulated: a 3-day run takes seconds. Prints a report, with the bytes and ingest CPU
 * as ratios to a floor measured in the same run (floor_day); exit 1 on any store failure. */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "collector/profile.h"
#include "storage/store.h"
#include "storage/store_internal.h"

#define NLOC 72 /* per service: 30 always, 40 sometimes, 2 leaking */
#define NALWAYS 30
#define NLEAK 2
#define MAXFRAMES 20
#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)
#define T_START 1789999200000LL /* an hour boundary */

struct sim_loc {
	char function[160];
	char file[160];
	uint32_t line;
	const char *op;
	struct frame stacks[2][MAXFRAMES];
	size_t nstack[2];
	uint64_t base; /* typical count */
};

struct sim_service {
	char name[32];
	struct sim_loc locs[NLOC];
	char strings[NLOC][2][MAXFRAMES][2][160]; /* frame function and file names */
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t
rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *const always_ops[] = {"IO wait", "chan receive", "select", "sync.Cond.Wait",
                                         "sleep"};
static const char *const pkgs[] = {"internal/server",
                                   "internal/store",
                                   "internal/queue",
                                   "pkg/rpc",
                                   "vendor/google.golang.org/grpc/internal/transport",
                                   "vendor/github.com/jackc/pgx/v5/pgxpool"};

static void
service_init(struct sim_service *sv, int idx)
{
	int i, v, f;

	snprintf(sv->name, sizeof(sv->name), "service-%03d", idx);
	for (i = 0; i < NLOC; i++) {
		struct sim_loc *l = &sv->locs[i];
		const char *pkg = pkgs[rng() % 6];

		snprintf(l->function, sizeof(l->function),
		         "github.com/acme/%s/%s.(*Handler%02d).serve%02d.func1", sv->name, pkg,
		         i % 17, i);
		snprintf(l->file, sizeof(l->file),
		         "/home/build/go/src/github.com/acme/%s/%s/handler_%02d.go", sv->name, pkg,
		         i % 23);
		l->line = (uint32_t)(20 + rng() % 900);
		if (i < NALWAYS) {
			l->op = always_ops[i % 5];
			l->base = i % 5 == 1 ? 64 : 1 + rng() % 8;
		} else if (i < NLOC - NLEAK) {
			l->op = i % 2 ? "chan receive" : "select";
			l->base = 1 + rng() % 20;
		} else {
			l->op = i % 2 ? "chan send" : "chan receive";
			l->base = 0;
		}
		for (v = 0; v < 2; v++) {
			size_t n = 8 + rng() % (MAXFRAMES - 8);

			l->nstack[v] = n;
			for (f = 0; f < (int)n; f++) {
				char *fn = sv->strings[i][v][f][0], *file = sv->strings[i][v][f][1];

				if (f == 0) {
					snprintf(fn, 160, "runtime.gopark");
					snprintf(file, 160, "/usr/lib/go-1.19/src/runtime/proc.go");
				} else if (f == 1) {
					snprintf(fn, 160, "%s", l->function);
					snprintf(file, 160, "%s", l->file);
				} else {
					snprintf(fn, 160, "github.com/acme/%s/%s.caller%d_%d",
					         sv->name, pkgs[(i + f) % 6], f, v);
					snprintf(
					    file, 160,
					    "/home/build/go/src/github.com/acme/%s/%s/mid_%d.go",
					    sv->name, pkgs[(i + f) % 6], f);
				}
				l->stacks[v][f] =
				    (struct frame){fn, file, (uint32_t)(10 + (f * 37 + i) % 700)};
			}
		}
	}
}

/* One instance's profile at simulated minute 'minute'. */
static void
make_profile(const struct sim_service *sv, int instance, int64_t minute, struct prof_location *out,
             struct profile *p)
{
	int64_t lifetime = (minute + instance * 97) % (12 * 60); /* restart every 12 h, staggered */
	size_t n = 0;
	int i;

	memset(p, 0, sizeof(*p));
	p->format = PROFILE_FORMAT_PROTO;
	p->kind = PROFILE_KIND_GOROUTINE;
	for (i = 0; i < NLOC; i++) {
		const struct sim_loc *l = &sv->locs[i];
		uint64_t count;
		int v = (int)((minute / 7 + i + instance) % 2);

		if (i < NALWAYS)
			count = l->base;
		else if (i < NLOC - NLEAK) {
			if (rng() % 2)
				continue;
			count = 1 + rng() % (l->base + 1);
		} else {
			count = (uint64_t)(lifetime / 2);
			if (count == 0)
				continue;
		}
		out[n] = (struct prof_location){
		    .loc = {l->function, l->file, l->line},
		    .op = l->op,
		    .count = count,
		    .max_wait_minutes = -1,
		    .min_wait_minutes = -1,
		    .median_wait_minutes = -1,
		    .stack = l->stacks[v],
		    .nstack = l->nstack[v],
		};
		p->total_goroutines += count;
		n++;
	}
	p->total_goroutines += 12;
	p->locations = out;
	p->nlocations = n;
}

static int64_t
q1(struct store *st, const char *sql)
{
	sqlite3_stmt *stmt;
	int64_t v = -1;

	if (sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/* Bytes in use (file size minus free pages). */
static int64_t
used_bytes(struct store *st)
{
	return store_db_size(st) - q1(st, "PRAGMA freelist_count") * q1(st, "PRAGMA page_size");
}

static void
print_tables(struct store *st)
{
	sqlite3_stmt *stmt;

	if (sqlite3_prepare_v2(
	        store_db(st),
	        "SELECT name, sum(pgsize), sum(ncell) FROM dbstat WHERE aggregate = 0 GROUP BY name"
	        " HAVING sum(pgsize) > 65536 ORDER BY 2 DESC",
	        -1, &stmt, NULL) != SQLITE_OK) {
		printf("  (dbstat unavailable: %s)\n", sqlite3_errmsg(store_db(st)));
		return;
	}
	while (sqlite3_step(stmt) == SQLITE_ROW)
		printf("  %-22s %10.1f MiB  %12lld rows\n", sqlite3_column_text(stmt, 0),
		       sqlite3_column_int64(stmt, 1) / 1048576.0,
		       (long long)sqlite3_column_int64(stmt, 2));
	sqlite3_finalize(stmt);
}

static void
print_plan(struct store *st, const char *label, const char *sql)
{
	sqlite3_stmt *stmt;
	char q[4096];

	snprintf(q, sizeof(q), "EXPLAIN QUERY PLAN %s", sql);
	if (sqlite3_prepare_v2(store_db(st), q, -1, &stmt, NULL) != SQLITE_OK)
		return;
	printf("  %s:\n", label);
	while (sqlite3_step(stmt) == SQLITE_ROW)
		printf("    %s\n", sqlite3_column_text(stmt, 3));
	sqlite3_finalize(stmt);
}

static int
count_sample(const struct store_sample *s, void *arg)
{
	(void)s;
	++*(uint64_t *)arg;
	return 0;
}

static int
count_scrape(const struct store_scrape *s, void *arg)
{
	(void)s;
	++*(uint64_t *)arg;
	return 0;
}

static long
arg_long(const char *s)
{
	char *end;
	long v;

	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v <= 0) {
		fprintf(stderr, "bench_store: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

/* The floor, measured in the same run: the same simulated fleet for one day, each scrape's numbers
 * (target, time, and per location an id and a count) in two bare integer tables with no index, in
 * a database set up as the store's (WAL, synchronous NORMAL, one transaction per scrape). What
 * the store adds over it (location interning, stacks, ops, waits, indexes for the detector and the
 * web) shows as the ratio. Returns 0 and fills *bytes (in use after the day) and *cpu (seconds of
 * CPU, profile generation included as in the store's ingest figure), or -1. */
static int
floor_day(const char *path, struct sim_service *svcs, long targets, long per_service, long interval,
          int64_t *bytes, double *cpu, uint64_t *nscrapes)
{
	static const char setup[] =
	    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
	    "CREATE TABLE scrapes (id INTEGER PRIMARY KEY, target_id INTEGER NOT NULL,"
	    " ts INTEGER NOT NULL);"
	    "CREATE TABLE samples (scrape_id INTEGER NOT NULL, location_id INTEGER NOT NULL,"
	    " count INTEGER NOT NULL);";
	struct prof_location locs[NLOC];
	sqlite3_stmt *ins_scrape = NULL, *ins_sample = NULL;
	sqlite3 *db = NULL;
	double cpu0;
	int64_t t;
	long i;
	size_t k;
	int rc = -1;

	remove(path);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, setup, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO scrapes (target_id, ts) VALUES (?1, ?2)", -1,
	                       &ins_scrape, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	                       "INSERT INTO samples (scrape_id, location_id, count)"
	                       " VALUES (?1, ?2, ?3)",
	                       -1, &ins_sample, NULL) != SQLITE_OK) {
		fprintf(stderr, "bench_store: floor database '%s': %s\n", path, sqlite3_errmsg(db));
		goto out;
	}
	*nscrapes = 0;
	cpu0 = cpu_s();
	for (t = T_START; t < T_START + DAY_MS; t += interval * 1000) {
		for (i = 0; i < targets; i++) {
			const struct sim_service *sv = &svcs[i / per_service];
			struct profile p;
			int64_t scrape_id;

			make_profile(sv, (int)(i % per_service), (t - T_START) / 60000, locs, &p);
			if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
				goto out_err;
			sqlite3_bind_int64(ins_scrape, 1, i + 1);
			sqlite3_bind_int64(ins_scrape, 2, t + (interval * 1000 * i) / targets);
			if (sqlite3_step(ins_scrape) != SQLITE_DONE)
				goto out_err;
			sqlite3_reset(ins_scrape);
			scrape_id = sqlite3_last_insert_rowid(db);
			for (k = 0; k < p.nlocations; k++) {
				/* the location's index in its service, from the interned function
				 * name */
				const struct sim_loc *l =
				    (const struct sim_loc
				         *)(const void *)(p.locations[k].loc.function -
				                          offsetof(struct sim_loc, function));

				sqlite3_bind_int64(ins_sample, 1, scrape_id);
				sqlite3_bind_int64(ins_sample, 2,
				                   (i / per_service) * NLOC + (l - sv->locs));
				sqlite3_bind_int64(ins_sample, 3, (int64_t)p.locations[k].count);
				if (sqlite3_step(ins_sample) != SQLITE_DONE)
					goto out_err;
				sqlite3_reset(ins_sample);
			}
			if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
				goto out_err;
			++*nscrapes;
		}
	}
	*cpu = cpu_s() - cpu0;
	sqlite3_finalize(ins_scrape);
	sqlite3_finalize(ins_sample);
	ins_scrape = ins_sample = NULL;
	{
		sqlite3_stmt *stmt;

		*bytes = -1;
		if (sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) ==
		        SQLITE_OK &&
		    sqlite3_prepare_v2(db,
		                       "SELECT (SELECT page_count FROM pragma_page_count) -"
		                       " (SELECT freelist_count FROM pragma_freelist_count),"
		                       " (SELECT page_size FROM pragma_page_size)",
		                       -1, &stmt, NULL) == SQLITE_OK) {
			if (sqlite3_step(stmt) == SQLITE_ROW)
				*bytes =
				    sqlite3_column_int64(stmt, 0) * sqlite3_column_int64(stmt, 1);
			sqlite3_finalize(stmt);
		}
	}
	rc = *bytes < 0 ? -1 : 0;
	goto out;
out_err:
	fprintf(stderr, "bench_store: floor database '%s': %s\n", path, sqlite3_errmsg(db));
out:
	sqlite3_finalize(ins_scrape);
	sqlite3_finalize(ins_sample);
	sqlite3_close(db);
	return rc;
}

/* Sustained ingest, as the daemon's writer does it: INGEST_TARGETS targets (services of 100)
 * scraped every simulated second, stored for 'seconds' of wall clock on a fresh database 'path':
 * 'batch' scrapes per transaction (store_batch_begin(), a savepoint each, store_batch_commit(),
 * committed early after 250 ms of work as daemon/ingest.c does), or with a batch of 1 one
 * transaction per scrape (store_add_scrape() alone: the writer before batches, and what the
 * daemon's batch_max of 1 still does). A retention step about every second, sized to what was
 * stored since, as the ingest thread takes one under load. Returns scrapes per second of wall
 * clock (profile generation included: a few microseconds a scrape) and fills *cpu_ms (CPU per
 * scrape), or -1. */
#define INGEST_TARGETS 1000
static double ingest_batch_s = 0.25; /* --batch-ms */

/* Bytes this process has written so far (write(2) and pwrite(2): the WAL, checkpoints). */
static uint64_t
written_bytes(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	unsigned long long v = 0;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "wchar: %llu", &v) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return v;
}

static double
ingest_rate(const char *path, struct sim_service *svcs, long batch, double seconds, double *cpu_ms,
            double *kib)
{
	uint64_t w0;
	struct prof_location locs[NLOC];
	struct store *st;
	int64_t ids[INGEST_TARGETS], t = T_START;
	double wall0, cpu0, last_ret, end;
	uint64_t n = 0, since_ret = 0;
	long i = 0;

	remove(path);
	st = store_open(path, 0);
	if (st == NULL)
		return -1;
	for (i = 0; i < INGEST_TARGETS; i++) {
		char url[64];

		snprintf(url, sizeof(url), "http://10.1.%ld.%ld:6060", i / 256, i % 256);
		ids[i] = store_target_upsert(st, svcs[i / 100].name, "{\"team\":\"bench\"}", url);
		if (ids[i] < 0)
			goto out_fail;
	}
	i = 0;
	wall0 = last_ret = now_s();
	cpu0 = cpu_s();
	w0 = written_bytes();
	end = wall0 + seconds;
	while (now_s() < end) {
		double until = now_s() + ingest_batch_s;
		long k;

		if (batch > 1 && store_batch_begin(st) != 0)
			goto out_fail;
		for (k = 0; k < batch && (k == 0 || now_s() < until); k++) {
			struct profile p;
			struct scrape_record rec = {.target_id = ids[i],
			                            .ts = t + (1000 * i) / INGEST_TARGETS,
			                            .duration_ms = 40,
			                            .bytes = 9000,
			                            .status = "ok",
			                            .profile = &p};

			make_profile(&svcs[i / 100], (int)(i % 100), (t - T_START) / 60000, locs,
			             &p);
			if (store_add_scrape(st, &rec) != 0)
				goto out_fail;
			if (++i == INGEST_TARGETS) {
				i = 0;
				t += 1000;
			}
		}
		if (batch > 1 && store_batch_commit(st) != 0)
			goto out_fail;
		n += (uint64_t)k;
		since_ret += (uint64_t)k;
		if (now_s() - last_ret >= 1.0) {
			uint64_t budget = since_ret * 2 < 20 ? 20 : since_ret * 2;

			if (store_retention_step(st, t, 48 * HOUR_MS, 30 * DAY_MS,
			                         (unsigned)(budget > 2000 ? 2000 : budget)) < 0)
				goto out_fail;
			since_ret = 0;
			last_ret = now_s();
		}
	}
	*cpu_ms = (cpu_s() - cpu0) * 1000 / (double)n;
	*kib = (double)(written_bytes() - w0) / 1024 / (double)n;
	wall0 = (double)n / (now_s() - wall0);
	store_free(st);
	remove(path);
	return wall0;

out_fail:
	store_batch_rollback(st);
	store_free(st);
	return -1;
}

int
main(int argc, char **argv)
{
	const char *path = "bench_store.db";
	long targets = 10, per_service = 10, days = 3, interval = 60, hours = 0;
	int64_t raw_ms = 48 * HOUR_MS, rollup_ms = 30 * DAY_MS, t, end, last_ret = 0,
	        day_mark = T_START + DAY_MS;
	int64_t size_day[16] = {0};
	int64_t *ids;
	struct sim_service *svcs;
	struct prof_location locs[NLOC];
	struct store *st;
	double wall0, cpu0, ingest_wall = 0, ingest_cpu = 0, ret_wall = 0, ret_max = 0;
	uint64_t nscrapes = 0, nsamples = 0, n;
	long nsvc, i;
	int day = 0, a;
	long ingest_batch = 256, ingest_seconds = 20;
	bool ingest_only = false;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--db") == 0 && a + 1 < argc)
			path = argv[++a];
		else if (strcmp(argv[a], "--targets") == 0 && a + 1 < argc)
			targets = arg_long(argv[++a]);
		else if (strcmp(argv[a], "--per-service") == 0 && a + 1 < argc)
			per_service = arg_long(argv[++a]);
		else if (strcmp(argv[a], "--days") == 0 && a + 1 < argc)
			days = arg_long(argv[++a]);
		else if (strcmp(argv[a], "--hours") == 0 && a + 1 < argc)
			hours = arg_long(argv[++a]);
		else if (strcmp(argv[a], "--interval") == 0 && a + 1 < argc)
			interval = arg_long(argv[++a]);
		else if (strcmp(argv[a], "--batch") == 0 && a + 1 < argc)
			ingest_batch = arg_long(argv[++a]);
		else if (strcmp(argv[a], "--batch-ms") == 0 && a + 1 < argc)
			ingest_batch_s = (double)arg_long(argv[++a]) / 1000;
		else if (strcmp(argv[a], "--ingest-seconds") == 0 && a + 1 < argc)
			ingest_seconds = arg_long(argv[++a]);
		else if (strcmp(argv[a], "--ingest-only") == 0)
			ingest_only = true;
		else {
			fprintf(stderr, "usage: bench_store [--db FILE] [--targets N] "
			                "[--per-service N] [--days N]"
			                " [--hours N] [--interval S] [--batch N] [--batch-ms MS] "
			                "[--ingest-seconds S]"
			                " [--ingest-only]\n");
			return 2;
		}
	}
	{
		/* Sustained ingest: one transaction per scrape (the baseline) against batches of
		 * --batch, each measured on a fresh database for --ingest-seconds (the baseline
		 * for half as long: it is the slow one) in this run. */
		struct sim_service *isv = calloc(INGEST_TARGETS / 100, sizeof(*isv));
		char ipath[4096];
		double base, batched, base_cpu = 0, batched_cpu = 0, base_kib = 0, batched_kib = 0;

		if (isv == NULL)
			return 1;
		for (i = 0; i < INGEST_TARGETS / 100; i++)
			service_init(&isv[i], 500 + (int)i);
		snprintf(ipath, sizeof(ipath), "%s.ingest", path);
		base = ingest_rate(ipath, isv, 1, (double)ingest_seconds / 2, &base_cpu, &base_kib);
		batched = ingest_rate(ipath, isv, ingest_batch, (double)ingest_seconds,
		                      &batched_cpu, &batched_kib);
		free(isv);
		if (base < 0 || batched < 0)
			return 1;
		printf(
		    "ingest, sustained (%d targets every second, ~50 locations a scrape, retention "
		    "steps as the daemon takes them): one transaction per scrape %.0f scrapes/s "
		    "(%.3f ms CPU, %.1f KiB written each); up to %ld per transaction (or %.0f ms) "
		    "%.0f scrapes/s (%.3f ms CPU, %.1f KiB written each); %.1fx\n",
		    INGEST_TARGETS, base, base_cpu, base_kib, ingest_batch, ingest_batch_s * 1000,
		    batched, batched_cpu, batched_kib, batched / base);
		printf("INGEST_SCRAPES_PER_S_BATCH1 %.0f\nINGEST_SCRAPES_PER_S_BATCH%ld %.0f\n",
		       base, ingest_batch, batched);
		if (ingest_only)
			return 0;
	}
	if (days > 15)
		days = 15;
	remove(path);
	st = store_open(path, 0);
	if (st == NULL)
		return 1;
	nsvc = (targets + per_service - 1) / per_service;
	svcs = calloc((size_t)nsvc, sizeof(*svcs));
	ids = calloc((size_t)targets, sizeof(*ids));
	if (svcs == NULL || ids == NULL)
		return 1;
	for (i = 0; i < nsvc; i++)
		service_init(&svcs[i], (int)i);
	for (i = 0; i < targets; i++) {
		char url[64];

		snprintf(url, sizeof(url), "http://10.%ld.%ld.%ld:6060", i / 65536, (i / 256) % 256,
		         i % 256);
		ids[i] = store_target_upsert(st, svcs[i / per_service].name,
		                             "{\"team\":\"bench\",\"env\":\"prod\"}", url);
		if (ids[i] < 0)
			return 1;
	}

	end = T_START + (hours > 0 ? hours * HOUR_MS : days * DAY_MS);
	for (t = T_START; t < end; t += interval * 1000) {
		wall0 = now_s();
		cpu0 = cpu_s();
		for (i = 0; i < targets; i++) {
			struct profile p;
			int64_t ts =
			    t + (interval * 1000 * i) / targets; /* spread over the interval */
			struct scrape_record rec = {.target_id = ids[i],
			                            .ts = ts,
			                            .duration_ms = 40,
			                            .bytes = 9000,
			                            .status = "ok",
			                            .profile = &p};

			make_profile(&svcs[i / per_service], (int)(i % per_service),
			             (t - T_START) / 60000, locs, &p);
			if (store_add_scrape(st, &rec) != 0)
				return 1;
			nscrapes++;
			nsamples += p.nlocations;
		}
		ingest_wall += now_s() - wall0;
		ingest_cpu += cpu_s() - cpu0;
		if (t - last_ret >= 10 * 60000) {
			int rc;

			do {
				double call;

				wall0 = now_s();
				rc = store_retention_step(st, t, raw_ms, rollup_ms, 1000);
				call = now_s() - wall0;
				ret_wall += call;
				if (call > ret_max)
					ret_max = call;
			} while (rc == 1);
			if (rc < 0)
				return 1;
			last_ret = t;
		}
		if (t + interval * 1000 >= day_mark) {
			size_day[day++] = used_bytes(st);
			day_mark += DAY_MS;
		}
	}

	printf(
	    "bench_store: %ld targets (%ld services of %ld), %ld s interval, %lld simulated hours,"
	    " raw 48 h, rollups 30 d\n",
	    targets, nsvc, per_service, interval, (long long)((end - T_START) / HOUR_MS));
	printf("ingest: %" PRIu64 " scrapes, %" PRIu64
	       " samples (%.1f per scrape): %.0f scrapes/s wall,"
	       " %.3f ms CPU per scrape; retention %.1f s wall in total, longest step (budget 1000 "
	       "scrapes) %.0f ms\n",
	       nscrapes, nsamples, (double)nsamples / (double)nscrapes,
	       (double)nscrapes / ingest_wall, ingest_cpu * 1000 / (double)nscrapes, ret_wall,
	       ret_max * 1000);
	for (a = 0; a < day; a++)
		printf("day %d: %.2f MiB in use, %.0f bytes per target\n", a + 1,
		       size_day[a] / 1048576.0, (double)size_day[a] / (double)targets);
	if (day == 0)
		printf(
		    "after %lld h: %.2f MiB in use, %.0f bytes per target per day (extrapolated)\n",
		    (long long)((end - T_START) / HOUR_MS), used_bytes(st) / 1048576.0,
		    (double)used_bytes(st) / (double)targets * (double)DAY_MS /
		        (double)(end - T_START));
	else
		printf("BYTES_PER_TARGET_PER_DAY_RAW %.0f\n",
		       (double)size_day[0] / (double)targets);
	if (day >= 3) {
		/* Day 3 onwards: raw stays at 48 h; what still grows is the rollups. */
		printf("STEADY_BYTES_PER_TARGET_48H %.0f\n",
		       (double)size_day[day - 1] / (double)targets);
	}
	printf("ROLLUP_ROWS_PER_SERVICE_PER_DAY %.0f\n",
	       days > 2 ? (double)q1(st, "SELECT count(*) FROM rollups") / (double)nsvc /
	                      (double)(days - 2)
	                : 0.0);
	printf("tables at the end:\n");
	print_tables(st);

	/* The detector's walks over a 6 h window, for one service and for all. */
	{
		static const char plan_sql[] = "SELECT x.scrape_id, s.target_id, t.service_id, "
		                               "x.location_id, s.ts, s.detail, x.count, x.leaked,"
		                               " x.max_wait, x.median_wait"
		                               " FROM services sv CROSS JOIN targets t CROSS JOIN "
		                               "scrapes s CROSS JOIN samples x"
		                               " WHERE sv.name = ?1 AND t.service_id = sv.id AND "
		                               "s.target_id = t.id AND s.ts >= ?2"
		                               " AND s.status = 'ok' AND x.scrape_id = s.id"
		                               " ORDER BY x.location_id, t.url, s.ts, s.id";
		int64_t since = end - 6 * HOUR_MS;

		print_plan(st, "store_each_sample(service) plan", plan_sql);
		wall0 = now_s();
		n = 0;
		if (store_each_sample(st, svcs[0].name, since, count_sample, &n) != 0)
			return 1;
		printf("store_each_sample(one service, 6 h): %" PRIu64 " samples in %.3f s\n", n,
		       now_s() - wall0);
		wall0 = now_s();
		n = 0;
		if (store_each_scrape(st, svcs[0].name, since, count_scrape, &n) != 0)
			return 1;
		printf("store_each_scrape(one service, 6 h): %" PRIu64 " scrapes in %.3f s\n", n,
		       now_s() - wall0);
		wall0 = now_s();
		n = 0;
		if (store_each_sample(st, NULL, since, count_sample, &n) != 0)
			return 1;
		printf("store_each_sample(all, 6 h): %" PRIu64
		       " samples in %.3f s (%.0f samples/s)\n",
		       n, now_s() - wall0, (double)n / (now_s() - wall0));
	}
	{
		char floor_path[4096];
		int64_t floor_bytes;
		double floor_cpu, store_day1;
		uint64_t floor_n;

		snprintf(floor_path, sizeof(floor_path), "%s.floor", path);
		if (floor_day(floor_path, svcs, targets, per_service, interval, &floor_bytes,
		              &floor_cpu, &floor_n) != 0)
			return 1;
		store_day1 =
		    day > 0 ? (double)size_day[0]
		            : (double)used_bytes(st) * (double)DAY_MS / (double)(end - T_START);
		printf("floor (same fleet, 1 day, bare integer tables, no index): %.0f bytes per "
		       "target"
		       " per day, %.3f ms CPU per scrape\n",
		       (double)floor_bytes / (double)targets, floor_cpu * 1000 / (double)floor_n);
		printf("store/floor: %.2fx the bytes per target per day (day 1), %.2fx the CPU per"
		       " scrape\n",
		       store_day1 / (double)floor_bytes,
		       (ingest_cpu / (double)nscrapes) / (floor_cpu / (double)floor_n));
		remove(floor_path);
	}
	store_free(st);
	free(svcs);
	free(ids);
	return 0;
}
