/* tests/check_history.c: ranking over days from the hourly rollups. A fleet is simulated scrape by
 * scrape: goroutine profiles are written as Go prints them (debug=1), parsed by the real parser,
 * stored through the real store API into a temp SQLite file with injected times, and the real
 * retention step runs every simulated hour as the daemon's ingest thread runs it, so that raw rows
 * past retention.raw are only left as rollups. Then detect_rank() ranks as of the end. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "collector/profile.h"
#include "detect/detect.h"
#include "storage/store.h"
#include "tests/testutil.h"

#define MIN 60000LL
#define HOUR 3600000LL
#define T0 1790002800000LL /* on an hour boundary, ms */

#define INSTANCES 20
#define INTERVAL (5 * MIN)
/* Instances are replaced every day, one a minute, starting at 20:00 (T0 + 20 h). */
#define DEPLOY_AT (20 * HOUR)
#define DAY (24 * HOUR)
#define END (76 * HOUR)

/* One blocked location of a profile (one stack: the location's frame, and its caller's when
 * 'caller' is set). */
struct hloc {
	const char *function;
	const char *file;
	int line;
	uint64_t count;
	const char *caller;
};

static char *
debug1(const struct hloc *locs, size_t n, size_t *len)
{
	size_t cap = 4096, off = 0;
	char *p = malloc(cap);
	uint64_t total = 1;
	int k;

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < n; i++)
		total += locs[i].count;
	k = snprintf(p, cap,
	             "goroutine profile: total %llu\n1 @ 0x43b296 0x46b281\n"
	             "#\t0x43b295\truntime/pprof.writeGoroutineStacks+0x24\t"
	             "/usr/lib/go-1.19/src/runtime/pprof/pprof.go:692\n\n",
	             (unsigned long long)total);
	off += (size_t)k;
	for (size_t i = 0; i < n; i++) {
		unsigned pc = 0x600000 + (unsigned)i * 0x100;

		if (locs[i].count == 0)
			continue;
		if (locs[i].caller != NULL)
			k = snprintf(p + off, cap - off,
			             "%llu @ 0x43b296 0x%x 0x%x 0x46b281\n"
			             "#\t0x%x\t%s+0x24\t%s:%d\n"
			             "#\t0x%x\t%s+0x10\t/src/shop/callers.go:%u\n\n",
			             (unsigned long long)locs[i].count, pc, pc + 0x100000, pc,
			             locs[i].function, locs[i].file, locs[i].line, pc + 0x100000,
			             locs[i].caller, (unsigned)i + 1);
		else
			k = snprintf(p + off, cap - off,
			             "%llu @ 0x43b296 0x%x 0x46b281\n"
			             "#\t0x%x\t%s+0x24\t%s:%d\n\n",
			             (unsigned long long)locs[i].count, pc, pc, locs[i].function,
			             locs[i].file, locs[i].line);
		ck_assert(k > 0 && (size_t)k < cap - off);
		off += (size_t)k;
	}
	*len = off;
	return p;
}

static void
scrape(struct store *st, int64_t tid, int64_t ts, const struct hloc *locs, size_t n)
{
	struct profile p;
	struct parse_error e;
	size_t len;
	char *text = debug1(locs, n, &len);
	struct scrape_record rec = {
	    .target_id = tid, .ts = ts, .duration_ms = 5, .bytes = len, .status = "ok"};

	ck_assert_msg(profile_parse(text, len, &p, &e) == 0, "parse: line %zu: %s", e.line, e.msg);
	rec.profile = &p;
	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
	profile_release(&p);
	free(text);
}

static char db_dir[64], db_path[1100];

static struct store *
db_new(void)
{
	struct store *st;

	testutil_mkdtemp(db_dir, sizeof(db_dir), "check_history");
	testutil_store_target(db_path, sizeof(db_path), db_dir, "test.db");
	st = store_open(db_path, 0);
	ck_assert_ptr_nonnull(st);
	return st;
}

static void
db_free(struct store *st)
{
	store_free(st);
	testutil_rmtree(db_dir);
}

static void
retention(struct store *st, int64_t now, const struct config *cfg)
{
	int rc, calls = 0;

	while ((rc = store_retention_step(st, now, (int64_t)cfg->retention_raw * 1000,
	                                  (int64_t)cfg->retention_rollup * 1000, 1000)) == 1)
		ck_assert_int_lt(++calls, 1000);
	ck_assert_int_eq(rc, 0);
}

static const struct suspect *
find(const struct ranking *r, const char *function)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->suspects[i].function, function) == 0)
			return &r->suspects[i];
	return NULL;
}

/* A pool that follows the day's traffic: 100 at 12:00, up 20 an hour for 14 hours to 380, down
 * for the next 10. */
static uint64_t
cycle(int64_t t)
{
	double p = (double)(((t - 12 * HOUR) % DAY + DAY) % DAY) / (double)HOUR;

	return (uint64_t)(p < 14 ? 100 + 20 * p : 380 - 28 * (p - 14));
}

/* The fleet: 20 instances of "shop", replaced by new ones (new addresses) every day. In
 * each, main.(*Cache).fill leaks one goroutine an hour; main.worker is a pool of 500 (give or take
 * 3 from scrape to scrape); main.(*Conns).warm fills a pool of 200 in the first 20 minutes of each
 * process and then stays; main.(*Sessions).hold leaks like the cache until the last deploy fixes
 * it; main.(*Server).serve swings with the day's traffic, rising for the 14 hours before the end;
 * main.(*Queue).wait holds 50 goroutines from main.steadyCaller (its representative stack) and
 * leaks one an hour from main.leakyCaller, which an any_function rule ignores: its only growing
 * call site is ignored, over the rollups as over raw samples. Ranked as of 76 h, 8 h after the
 * last deploy, with a day of raw samples and then with 6 h. */
START_TEST(test_slow_leak_over_days)
{
	struct config *cfg = config_default();
	struct store *st = db_new();
	int64_t tids[4][INSTANCES];
	uint64_t scrapes = 0;
	struct ranking r;
	const struct suspect *s;
	char url[64];

	ck_assert_ptr_nonnull(cfg);
	cfg->retention_raw = 24 * 3600;
	cfg->retention_rollup = 30 * 86400;
	cfg->detector.window = 3 * 86400;
	cfg->detector.min_count = 10;
	cfg->detector.ignore = calloc(2, sizeof(*cfg->detector.ignore));
	ck_assert_ptr_nonnull(cfg->detector.ignore);
	cfg->detector.ignore[0].any_function = strdup("main.leakyCaller");
	cfg->detector.nignore = 1;
	for (int g = 0; g < 4; g++) {
		for (int i = 0; i < INSTANCES; i++) {
			snprintf(url, sizeof(url), "http://10.1.%d.%d:6060", g, i + 1);
			tids[g][i] = store_target_upsert(st, "shop", NULL, url);
			ck_assert_int_gt(tids[g][i], 0);
		}
	}
	for (int64_t t = 0; t < END; t += INTERVAL) {
		for (int i = 0; i < INSTANCES; i++) {
			/* Generation g started at the deploy before t (the first at 0). */
			int64_t off = i * MIN, start;
			int g = t < DEPLOY_AT + off ? 0 : (int)((t - DEPLOY_AT - off) / DAY) + 1;
			int64_t age;

			start = g == 0 ? 0 : DEPLOY_AT + (g - 1) * DAY + off;
			age = t - start;
			{
				struct hloc locs[] = {
				    {"main.(*Cache).fill", "/src/shop/cache.go", 88,
				     (uint64_t)((age + (int64_t)i * 3 * MIN) / HOUR), NULL},
				    {"main.worker", "/src/shop/pool.go", 30,
				     (uint64_t)(500 + (int)((scrapes * 7 + (uint64_t)i * 13) % 7) -
				                3),
				     NULL},
				    {"main.(*Conns).warm", "/src/shop/conns.go", 51,
				     (uint64_t)(age >= 20 * MIN ? 200 : age / MIN * 10), NULL},
				    {"main.(*Sessions).hold", "/src/shop/sessions.go", 140,
				     g == 3 ? 0 : (uint64_t)((age + (int64_t)i * 3 * MIN) / HOUR),
				     NULL},
				    {"main.(*Server).serve", "/src/shop/server.go", 61, cycle(t),
				     NULL},
				    {"main.(*Queue).wait", "/src/shop/queue.go", 20, 50,
				     "main.steadyCaller"},
				    {"main.(*Queue).wait", "/src/shop/queue.go", 20,
				     (uint64_t)((age + (int64_t)i * 3 * MIN) / HOUR),
				     "main.leakyCaller"},
				};

				scrape(st, tids[g][i], T0 + t + i * 1000, locs, 7);
				scrapes++;
			}
		}
		if ((t + INTERVAL) % HOUR == 0)
			retention(st, T0 + t + INTERVAL, cfg);
	}
	retention(st, T0 + END, cfg);

	/* With a day of raw samples the raw ranking sees the leak in the instances replaced 8 h
	 * ago; the rollups add the days before. */
	ck_assert_int_eq(detect_rank(st, cfg, NULL, 3 * 86400, T0 + END, &r), 0);
	ck_assert_msg(r.n >= 1, "nothing ranked over 3 days");
	s = &r.suspects[0];
	ck_assert_str_eq(s->function, "main.(*Cache).fill");
	ck_assert_msg(
	    strstr(s->explanation, "; over 3.0 d of hourly rollups: +1.0/h per instance") != NULL,
	    "explanation: %s", s->explanation);
	ck_assert_ptr_null(find(&r, "main.worker"));
	ck_assert_ptr_null(find(&r, "main.(*Conns).warm"));
	ck_assert_ptr_null(find(&r, "main.(*Queue).wait"));
	ranking_release(&r);

	/* With 6 h of raw samples, a process holds at most 8 leaked goroutines in the raw window,
	 * under min_count: the raw window alone cannot show the leak. */
	cfg->retention_raw = 6 * 3600;
	retention(st, T0 + END, cfg);
	ck_assert_int_eq(detect_rank(st, cfg, NULL, 6 * 3600, T0 + END, &r), 0);
	ck_assert_ptr_null(find(&r, "main.(*Cache).fill"));
	ranking_release(&r);

	/* Three days can, and only it. */
	ck_assert_int_eq(detect_rank(st, cfg, NULL, 3 * 86400, T0 + END, &r), 0);
	ck_assert_msg(r.n >= 1, "nothing ranked over 3 days");
	s = &r.suspects[0];
	ck_assert_str_eq(s->function, "main.(*Cache).fill");
	ck_assert_int_eq(s->rank, 1);
	ck_assert_str_eq(s->service, "shop");
	ck_assert_double_ge(s->score, 0.5);
	ck_assert_double_ge(s->growth_per_hour, 10);
	ck_assert_double_le(s->growth_per_hour, 40);
	ck_assert_uint_eq(s->instances_growing, INSTANCES);
	ck_assert_msg(strstr(s->explanation, "hourly rollups") != NULL &&
	                  strstr(s->explanation, "restart") != NULL,
	              "explanation: %s", s->explanation);
	ck_assert_ptr_null(find(&r, "main.worker"));
	ck_assert_ptr_null(find(&r, "main.(*Conns).warm"));
	/* Fixed 8 h ago: no longer a suspect. */
	ck_assert_ptr_null(find(&r, "main.(*Sessions).hold"));
	ck_assert_ptr_null(find(&r, "main.(*Server).serve"));
	/* Its only growing call site ignored, in a stack other than its representative. */
	ck_assert_ptr_null(find(&r, "main.(*Queue).wait"));
	ranking_release(&r);
	/* Without the rule it grows over the rollups, shown with its leaking caller's stack. */
	cfg->detector.nignore = 0;
	ck_assert_int_eq(detect_rank(st, cfg, NULL, 3 * 86400, T0 + END, &r), 0);
	s = find(&r, "main.(*Queue).wait");
	ck_assert_ptr_nonnull(s);
	ck_assert_msg(strstr(s->stack_json, "main.leakyCaller") != NULL, "stack: %s",
	              s->stack_json);
	ranking_release(&r);
	cfg->detector.nignore = 1;

	/* Nor do the pools rank over any other window. */
	for (uint64_t w = 12 * 3600; w <= 4 * 86400; w += 12 * 3600) {
		ck_assert_int_eq(detect_rank(st, cfg, NULL, w, T0 + END, &r), 0);
		ck_assert_ptr_null(find(&r, "main.worker"));
		ck_assert_ptr_null(find(&r, "main.(*Conns).warm"));
		ck_assert_ptr_null(find(&r, "main.(*Server).serve"));
		ck_assert_ptr_null(find(&r, "main.(*Queue).wait"));
		ranking_release(&r);
	}
	/* A service out of the configuration (no active target) is history, not a suspect. */
	ck_assert_int_eq(store_targets_set_active(st, NULL, 0), 0);
	ck_assert_int_eq(detect_rank(st, cfg, NULL, 3 * 86400, T0 + END, &r), 0);
	ck_assert_ptr_null(find(&r, "main.(*Cache).fill"));
	ranking_release(&r);
	ck_assert_int_eq(store_targets_set_active(st, &tids[3][0], 1), 0);
	ck_assert_int_eq(detect_rank(st, cfg, NULL, 3 * 86400, T0 + END, &r), 0);
	ck_assert_ptr_nonnull(find(&r, "main.(*Cache).fill"));
	ranking_release(&r);

	/* The detector's ignore rules apply to what history finds. */
	cfg->detector.ignore[1].function = strdup("main.(*Cache).fill");
	cfg->detector.nignore = 2;
	ck_assert_int_eq(detect_rank(st, cfg, NULL, 3 * 86400, T0 + END, &r), 0);
	ck_assert_ptr_null(find(&r, "main.(*Cache).fill"));
	ranking_release(&r);
	config_unref(cfg);
	db_free(st);
}
END_TEST

Suite *history_suite(void);

Suite *
history_suite(void)
{
	Suite *s = suite_create("history");
	TCase *tc = tcase_create("history");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_slow_leak_over_days);
	suite_add_tcase(s, tc);
	return s;
}
