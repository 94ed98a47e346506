/* tests/bench/bench_churn.c: pod churn through the target registry and the database: a million
 * distinct targets come and go, and neither the registry, the database nor the process's memory
 * may grow with them.
 *
 * A fleet of --set targets (over --services services) is replaced half by half: every generation
 * (--gen-minutes of simulated time) half of the targets leave and as many new ones come, so each
 * lives two generations, until --targets distinct targets have been in the set. Every generation
 * goes through the daemon's own code paths: a configuration listing the set is loaded
 * (config_load_buffer), built and applied to the registry (targetset_build, targetset_apply), the
 * targets the diff names are registered and the active set written (store_target_upsert,
 * store_targets_set_active), as the ingest thread does; then every target of the set is scraped
 * once (store_add_scrape, with a small profile and times spread over the generation) and retention
 * runs (store_retention_step, to completion, four times a generation) with --raw-hours and
 * --rollup-hours. Services are renamed every simulated day, so they come and go too. Times are
 * simulated, starting from the wall clock (a target's registration time is real).
 *
 * Prints, every --report generations: the targets seen so far, the registry's size and largest id,
 * the database's rows (targets, services, scrapes, samples, rollups, locations) and file size, and
 * the process's resident memory (VmRSS) and its peak (VmHWM). Exits 1 on a store failure, or when
 * at the end the registry holds more than twice the set, the targets table more than the set times
 * (rollup retention / generation + 3), or the resident memory of the last report exceeds that of
 * the first report after warm-up by more than half. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "collector/profile.h"
#include "daemon/targetset.h"
#include "storage/store.h"
#include "storage/store_internal.h"

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL

struct opts {
	const char *db;
	uint64_t targets;
	unsigned set;
	unsigned services;
	unsigned gen_minutes;
	unsigned raw_hours;
	unsigned rollup_hours;
	unsigned report;
};

struct slot {
	uint64_t n;     /* the target's number: its URL */
	unsigned birth; /* the generation it came in: its service */
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* VmRSS and VmHWM of this process, in KiB. */
static void
memory_kib(long *rss, long *hwm)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	*rss = *hwm = -1;
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss = strtol(line + 6, NULL, 10);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			*hwm = strtol(line + 6, NULL, 10);
	}
	fclose(f);
}

static int64_t
rows(struct store *st, const char *sql)
{
	sqlite3_stmt *stmt;
	int64_t n = -1;

	if (sqlite3_prepare_v2(store_db(st), sql, -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

/* The simulated day a target's service was named in: services are renamed every day. */
static unsigned
service_epoch(const struct opts *o, const struct slot *s)
{
	return s->birth / (24 * 60 / o->gen_minutes);
}

static void
target_url(char *buf, size_t len, uint64_t n)
{
	snprintf(buf, len, "http://10.%u.%u.%u:%u", (unsigned)(n >> 16) & 255,
	         (unsigned)(n >> 8) & 255, (unsigned)n & 255, 6060 + (unsigned)(n >> 24));
}

/* The configuration listing the set, service by service: slot i belongs to service
 * svc-<its epoch>-<i modulo the services>. NULL on error (printed). */
static struct config *
set_config(const struct opts *o, const struct slot *set)
{
	size_t cap = 64 + (size_t)o->set * 64 + (size_t)o->services * 2 * 64, len = 0;
	char *yaml = xcalloc(cap, 1), url[64];
	struct config_errors errs = {0};
	struct config *cfg;

	len += (size_t)snprintf(yaml + len, cap - len, "services:\n");
	for (size_t k = 0; k < o->services; k++) {
		unsigned epochs[2], nepochs = 0;

		/* the set spans two generations, so a service index has at most two epochs */
		for (size_t i = k; i < o->set && nepochs < 2; i += o->services) {
			unsigned e = service_epoch(o, &set[i]);

			if (nepochs == 0 || (epochs[0] != e && nepochs == 1))
				epochs[nepochs++] = e;
		}
		for (unsigned j = 0; j < nepochs; j++) {
			bool first = true;

			len +=
			    (size_t)snprintf(yaml + len, cap - len,
			                     "  - name: svc-%u-%zu\n    targets: [", epochs[j], k);
			for (size_t i = k; i < o->set; i += o->services) {
				if (service_epoch(o, &set[i]) != epochs[j])
					continue;
				target_url(url, sizeof(url), set[i].n);
				len += (size_t)snprintf(yaml + len, cap - len, "%s'%s'",
				                        first ? "" : ", ", url);
				first = false;
			}
			len += (size_t)snprintf(yaml + len, cap - len, "]\n");
		}
	}
	cfg = config_load_buffer("bench_churn.yaml", yaml, len, &errs);
	if (cfg == NULL)
		fprintf(stderr, "bench_churn: configuration: %s\n", errs.n ? errs.msgs[0] : "?");
	config_errors_release(&errs);
	free(yaml);
	return cfg;
}

static void
usage(void)
{
	fprintf(stderr, "usage: bench_churn --db FILE [--targets N] [--set N] [--services N]"
	                " [--gen-minutes M] [--raw-hours H] [--rollup-hours H] [--report G]\n");
	exit(2);
}

static uint64_t
num(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v == 0)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	struct opts o = {.targets = 1000000,
	                 .set = 5000,
	                 .services = 50,
	                 .gen_minutes = 30,
	                 .raw_hours = 1,
	                 .rollup_hours = 6,
	                 .report = 0};
	static const struct frame stack_w[] = {{"runtime.gopark", "runtime/proc.go", 363},
	                                       {"main.worker", "/src/app/pool.go", 88}};
	static const struct frame stack_h[] = {{"runtime.gopark", "runtime/proc.go", 363},
	                                       {"main.handle.func1", "/src/app/handler.go", 42}};
	struct prof_location locs[2] = {
	    {.loc = {"main.worker", "/src/app/pool.go", 88},
	     .op = "chan receive",
	     .op_class = OP_CLASS_CHAN,
	     .max_wait_minutes = -1,
	     .min_wait_minutes = -1,
	     .median_wait_minutes = -1,
	     .stack = stack_w,
	     .nstack = 2},
	    {.loc = {"main.handle.func1", "/src/app/handler.go", 42},
	     .op = "chan send",
	     .op_class = OP_CLASS_CHAN,
	     .max_wait_minutes = -1,
	     .min_wait_minutes = -1,
	     .median_wait_minutes = -1,
	     .stack = stack_h,
	     .nstack = 2},
	};
	struct profile prof = {.format = PROFILE_FORMAT_PROTO,
	                       .kind = PROFILE_KIND_GOROUTINE,
	                       .locations = locs,
	                       .nlocations = 2};
	struct targetset *ts;
	struct store *st;
	struct slot *set;
	int64_t *dbid = NULL, *active = NULL, start, gen_ms, raw_ms, rollup_ms;
	size_t ndbid = 0, max_registry = 0;
	uint64_t seen = 0, scrapes = 0;
	unsigned gen, gens, half;
	long rss0 = -1, rss = -1, hwm = -1;
	int64_t max_targets_rows = 0;
	double t0 = now_s();
	int ret = 1;

	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--db") == 0)
			o.db = argv[++i];
		else if (strcmp(argv[i], "--targets") == 0)
			o.targets = num(argv[++i]);
		else if (strcmp(argv[i], "--set") == 0)
			o.set = (unsigned)num(argv[++i]);
		else if (strcmp(argv[i], "--services") == 0)
			o.services = (unsigned)num(argv[++i]);
		else if (strcmp(argv[i], "--gen-minutes") == 0)
			o.gen_minutes = (unsigned)num(argv[++i]);
		else if (strcmp(argv[i], "--raw-hours") == 0)
			o.raw_hours = (unsigned)num(argv[++i]);
		else if (strcmp(argv[i], "--rollup-hours") == 0)
			o.rollup_hours = (unsigned)num(argv[++i]);
		else if (strcmp(argv[i], "--report") == 0)
			o.report = (unsigned)num(argv[++i]);
		else
			usage();
	}
	if (o.db == NULL || o.set < 2 || o.set > o.targets || o.services > o.set ||
	    o.gen_minutes > 24 * 60 || o.rollup_hours < o.raw_hours)
		usage();
	log_set_level(LOG_LEVEL_WARNING);
	half = o.set / 2;
	gens = (unsigned)((o.targets - o.set) / half + 1);
	if (o.report == 0)
		o.report = gens / 20 ? gens / 20 : 1;
	gen_ms = (int64_t)o.gen_minutes * MIN_MS;
	raw_ms = (int64_t)o.raw_hours * HOUR_MS;
	rollup_ms = (int64_t)o.rollup_hours * HOUR_MS;
	start = clock_wall_ms() / HOUR_MS * HOUR_MS + HOUR_MS;

	st = store_open(o.db, 0);
	if (st == NULL)
		return 1;
	ts = targetset_new();
	set = xcalloc(o.set, sizeof(*set));
	active = xcalloc(o.set, sizeof(*active));
	for (size_t i = 0; i < o.set; i++)
		set[i] = (struct slot){.n = seen++, .birth = 0};

	printf("bench_churn: %" PRIu64 " distinct targets, %u at a time over %u services, half "
	       "replaced every %u simulated minutes (%u generations, %.1f simulated days); "
	       "retention raw %u h, rollups %u h\n",
	       o.targets, o.set, o.services, o.gen_minutes, gens,
	       (double)gens * o.gen_minutes / (24 * 60), o.raw_hours, o.rollup_hours);
	printf("%6s %9s %8s %7s %8s %8s %8s %8s %7s %5s %7s %7s %7s %7s\n", "gen", "seen",
	       "registry", "max_id", "targets", "services", "scrapes", "samples", "rollups", "locs",
	       "db_MiB", "rss_MiB", "hwm_MiB", "wall_s");
	for (gen = 0; gen < gens; gen++) {
		int64_t gen_start = start + (int64_t)gen * gen_ms;
		struct targetset_plan *plan;
		struct targetset_diff diff;
		const struct scrape_target *t;
		struct config *cfg;
		size_t n;

		if (gen > 0) {
			/* the older half leaves, as many new targets come */
			size_t from = (gen % 2) * half;

			for (size_t i = from; i < from + half; i++)
				set[i] = (struct slot){.n = seen++, .birth = gen};
		}
		cfg = set_config(&o, set);
		if (cfg == NULL)
			goto out;
		plan = targetset_build(ts, cfg, NULL);
		if (plan == NULL) {
			config_unref(cfg);
			goto out;
		}
		if (targetset_size(ts) > max_registry)
			max_registry = targetset_size(ts);
		targetset_apply(ts, plan, &diff);
		/* what the ingest thread does with it: register, then the active set */
		if ((size_t)targetset_max_id(ts) > ndbid) {
			size_t m = (size_t)targetset_max_id(ts);

			dbid = xrealloc(dbid, m * sizeof(*dbid));
			memset(dbid + ndbid, 0, (m - ndbid) * sizeof(*dbid));
			ndbid = m;
		}
		for (size_t i = 0; i < diff.nchanged; i++) {
			struct targetset_target tt;

			if (!targetset_get(ts, diff.changed[i], &tt))
				continue;
			dbid[tt.id - 1] =
			    store_target_upsert(st, tt.service, tt.labels_json, tt.base_url);
			if (dbid[tt.id - 1] <= 0)
				goto out_free_plan;
		}
		for (size_t i = 0; i < diff.nactive; i++)
			active[i] = dbid[diff.active[i] - 1];
		if (store_targets_set_active(st, active, diff.nactive) != 0)
			goto out_free_plan;

		/* one scrape of each, spread over the generation; retention four times */
		t = targetset_plan_targets(plan, &n);
		for (size_t i = 0; i < n; i++) {
			int64_t ts_ms = gen_start + (int64_t)i * gen_ms / (int64_t)n;
			struct scrape_record rec = {.target_id = dbid[t[i].id - 1],
			                            .ts = ts_ms,
			                            .duration_ms = 15,
			                            .bytes = 2048,
			                            .status = "ok",
			                            .profile = &prof};

			locs[0].count = 20 + (t[i].id % 7);
			locs[1].count = 1 + (uint64_t)(ts_ms - start) / HOUR_MS % 30;
			prof.total_goroutines = locs[0].count + locs[1].count + 12;
			if (store_add_scrape(st, &rec) != 0)
				goto out_free_plan;
			scrapes++;
			if ((i + 1) % ((n + 3) / 4) == 0 || i + 1 == n) {
				int r;

				while ((r = store_retention_step(st, ts_ms, raw_ms, rollup_ms,
				                                 2000)) == 1)
					;
				if (r < 0)
					goto out_free_plan;
			}
		}
		targetset_diff_release(&diff);
		targetset_plan_free(plan);
		config_unref(cfg);

		if ((gen + 1) % o.report == 0 || gen + 1 == gens) {
			int64_t trows = rows(st, "SELECT count(*) FROM targets");

			memory_kib(&rss, &hwm);
			/* warm-up: the set, the caches and SQLite's page cache fill first */
			if (rss0 < 0 && gen + 1 >= gens / 4)
				rss0 = rss;
			if (trows > max_targets_rows)
				max_targets_rows = trows;
			printf("%6u %9" PRIu64 " %8zu %7" PRId64 " %8" PRId64 " %8" PRId64
			       " %8" PRId64 " %8" PRId64 " %7" PRId64 " %5" PRId64
			       " %7.1f %7.1f %7.1f %7.0f\n",
			       gen + 1, seen, targetset_size(ts), targetset_max_id(ts), trows,
			       rows(st, "SELECT count(*) FROM services"),
			       rows(st, "SELECT count(*) FROM scrapes"),
			       rows(st, "SELECT count(*) FROM samples"),
			       rows(st, "SELECT count(*) FROM rollups"),
			       rows(st, "SELECT count(*) FROM locations"),
			       (double)store_db_size(st) / (1 << 20), rss / 1024.0, hwm / 1024.0,
			       now_s() - t0);
			fflush(stdout);
		}
		continue;
	out_free_plan:
		targetset_diff_release(&diff);
		targetset_plan_free(plan);
		config_unref(cfg);
		goto out;
	}
	printf("bench_churn: %" PRIu64 " targets and %" PRIu64 " scrapes in %.0f s; largest "
	       "registry %zu (set %u), targets table at most %" PRId64 " rows, the ingest's id "
	       "table %zu entries\n",
	       seen, scrapes, now_s() - t0, max_registry, o.set, max_targets_rows, ndbid);
	ret = 0;
	if (max_registry > 2 * (size_t)o.set) {
		printf("bench_churn: FAIL: the registry held %zu targets, over twice the set\n",
		       max_registry);
		ret = 1;
	}
	if (max_targets_rows >
	    (int64_t)o.set * ((int64_t)o.rollup_hours * 60 / o.gen_minutes + 3)) {
		printf("bench_churn: FAIL: the targets table reached %" PRId64 " rows\n",
		       max_targets_rows);
		ret = 1;
	}
	if (rss0 > 0 && rss > rss0 + rss0 / 2) {
		printf(
		    "bench_churn: FAIL: resident memory grew from %.1f to %.1f MiB after warm-up\n",
		    rss0 / 1024.0, rss / 1024.0);
		ret = 1;
	}
out:
	if (ret != 0 && gen < gens)
		fprintf(stderr, "bench_churn: failed in generation %u: %s\n", gen,
		        store_errmsg(st));
	free(active);
	free(dbid);
	free(set);
	targetset_free(ts);
	store_free(st);
	return ret;
}
