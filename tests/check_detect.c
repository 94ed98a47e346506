/* tests/check_detect.c: the leak detector on synthetic but realistic histories. Each test writes
 * goroutine profiles as Go prints them (debug=1 grouped stacks for large counts, debug=2 records
 * where the op, the (leaked) tag or wait ages matter), parses them with the real parser, stores
 * them through the real store API in a temp SQLite file with increasing scrape times, and ranks
 * with detect_rank() as of chosen times. */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "collector/profile.h"
#include "base/config.h"
#include "base/hash.h"
#include "detect/detect.h"
#include "detect/series.h"
#include "detect/window.h"
#include "storage/query.h"
#include "storage/store.h"
#include "storage/store_internal.h"
#include "tests/testutil.h"

#define MIN 60000LL        /* ms */
#define T0 1790000000000LL /* a fixed start time, ms */

/* What a simulated location is blocked in; decides the frames Go prints. */
enum gen_kind { G_CHAN_SEND, G_CHAN_RECV, G_IO, G_SLEEP, G_MUTEX };

struct gen_loc {
	const char *function; /* the attributed frame */
	const char *file;
	int line;
	enum gen_kind kind;
	const char *caller; /* a frame below it (for any_function rules), or NULL */
	uint64_t count;
	int minutes; /* debug=2: blocked minutes, 0 = none printed */
	bool leaked; /* debug=2: tagged (leaked) */
};

/* ---- a bounded growing text buffer ---- */

struct buf {
	char *p;
	size_t len, cap;
};

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		ck_assert_int_ge(n, 0);
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		ck_assert_msg(b->cap < (64u << 20), "test profile text over 64 MiB");
		b->cap = b->cap ? b->cap * 2 : 4096;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
}

static void
frame1(struct buf *b, unsigned pc, const char *fn, const char *file, int line)
{
	buf_printf(b, "#\t0x%x\t%s+0x24\t%s:%d\n", pc, fn, file, line);
}

/* debug=1: one record per location. Channel ops are invisible here (the op is "unknown"). */
static char *
gen_debug1(const struct gen_loc *locs, size_t n, bool leakprofile, size_t *len)
{
	struct buf b = {0};
	uint64_t total = leakprofile ? 0 : 2; /* the two records written below */

	for (size_t i = 0; i < n; i++)
		total += locs[i].count;
	buf_printf(&b, "%s profile: total %llu\n", leakprofile ? "goroutineleak" : "goroutine",
	           (unsigned long long)total);
	if (!leakprofile) {
		buf_printf(&b, "1 @ 0x43b296 0x46b281\n");
		frame1(&b, 0x43b295, "runtime/pprof.writeGoroutineStacks",
		       "/usr/lib/go-1.19/src/runtime/pprof/pprof.go", 692);
		buf_printf(&b, "\n1 @ 0x43b297 0x46b282\n");
		frame1(&b, 0x43b296, "main.main", "/src/app/main.go", 30);
		buf_printf(&b, "\n");
	}
	for (size_t i = 0; i < n; i++) {
		const struct gen_loc *l = &locs[i];
		unsigned pc = 0x600000 + (unsigned)i * 0x100;

		if (!l->count)
			continue;
		buf_printf(&b, "%llu @ 0x43b296 0x%x 0x%x 0x46b281\n", (unsigned long long)l->count,
		           pc, pc + 8);
		switch (l->kind) {
		case G_IO:
			frame1(&b, 0x4e1000, "internal/poll.runtime_pollWait",
			       "/usr/lib/go-1.19/src/runtime/netpoll.go", 305);
			frame1(&b, 0x4e2000, "internal/poll.(*pollDesc).wait",
			       "/usr/lib/go-1.19/src/internal/poll/fd_poll_runtime.go", 84);
			break;
		case G_SLEEP:
			frame1(&b, 0x44c0f0, "time.Sleep", "/usr/lib/go-1.19/src/runtime/time.go",
			       195);
			break;
		case G_MUTEX:
			frame1(&b, 0x466000, "sync.runtime_SemacquireMutex",
			       "/usr/lib/go-1.19/src/runtime/sema.go", 77);
			frame1(&b, 0x467000, "sync.(*Mutex).lockSlow",
			       "/usr/lib/go-1.19/src/sync/mutex.go", 171);
			frame1(&b, 0x468000, "sync.(*Mutex).Lock",
			       "/usr/lib/go-1.19/src/sync/mutex.go", 90);
			break;
		default:
			break;
		}
		frame1(&b, pc, l->function, l->file, l->line);
		if (l->caller)
			frame1(&b, pc + 7, l->caller, "/src/app/handler.go", 77);
		buf_printf(&b, "\n");
	}
	*len = b.len;
	return b.p;
}

/* The id of the first goroutine gen_debug2() prints; the others follow it. A process hands out
 * ids from one counter, so a long-lived one prints large ids and a restarted one small ones. */
static unsigned long long goid_base = 1;

/* debug=2: one record per goroutine, with the wait reason, ages and the (leaked) tag. */
static char *
gen_debug2(const struct gen_loc *locs, size_t n, size_t *len)
{
	struct buf b = {0};
	unsigned long long id = goid_base;

	buf_printf(&b, "goroutine %llu [running]:\nmain.main()\n\t/src/app/main.go:30 +0x1d\n",
	           id++);
	for (size_t i = 0; i < n; i++) {
		const struct gen_loc *l = &locs[i];
		const char *op = l->kind == G_CHAN_SEND   ? "chan send"
		                 : l->kind == G_CHAN_RECV ? "chan receive"
		                 : l->kind == G_IO        ? "IO wait"
		                 : l->kind == G_SLEEP     ? "sleep"
		                                          : "sync.Mutex.Lock";

		for (uint64_t k = 0; k < l->count; k++) {
			buf_printf(&b, "\ngoroutine %llu [%s%s", id++, op,
			           l->leaked ? " (leaked)" : "");
			if (l->minutes)
				buf_printf(&b, ", %d minutes", l->minutes);
			buf_printf(&b, "]:\n");
			if (l->kind == G_IO)
				buf_printf(&b,
				           "internal/poll.runtime_pollWait(0x7f, 0x72)\n"
				           "\t/usr/lib/go-1.19/src/runtime/netpoll.go:305 +0x89\n");
			else if (l->kind == G_SLEEP)
				buf_printf(&b, "time.Sleep(0x3b9aca00)\n\t/usr/lib/go-1.19/src/"
				               "runtime/time.go:195 +0x135\n");
			else if (l->kind == G_MUTEX)
				buf_printf(&b, "sync.runtime_SemacquireMutex(0x0?, 0x0?, 0x0?)\n"
				               "\t/usr/lib/go-1.19/src/runtime/sema.go:77 +0x25\n"
				               "sync.(*Mutex).lockSlow(0xc0000140a8)\n\t/usr/lib/"
				               "go-1.19/src/sync/mutex.go:171 +0x165\n"
				               "sync.(*Mutex).Lock(...)\n\t/usr/lib/go-1.19/src/"
				               "sync/mutex.go:90\n");
			buf_printf(&b, "%s(0xc000010000)\n\t%s:%d +0x1d\n", l->function, l->file,
			           l->line);
			if (l->caller)
				buf_printf(&b, "%s(...)\n\t/src/app/handler.go:77\n", l->caller);
			buf_printf(&b, "created by main.main\n\t/src/app/main.go:20 +0x20\n");
		}
	}
	*len = b.len;
	return b.p;
}

/* ---- the store ---- */

static char db_dir[64], db_path[1100];
/* Every ranking of all services is also made from a window kept between the rankings of a test
 * (detect/window.h), which must give the same: rank(). */
static struct window *test_window;

static struct store *
db_new(void)
{
	struct store *st;

	window_free(test_window);
	test_window = window_new();
	ck_assert_ptr_nonnull(test_window);
	testutil_mkdtemp(db_dir, sizeof(db_dir), "check_detect");
	testutil_store_target(db_path, sizeof(db_path), db_dir, "test.db");
	st = store_open(db_path, 0);
	ck_assert_ptr_nonnull(st);
	return st;
}

static void
db_free(struct store *st)
{
	store_free(st);
	window_free(test_window);
	test_window = NULL;
	testutil_rmtree(db_dir);
}

static int64_t
target(struct store *st, const char *service, const char *url)
{
	int64_t id = store_target_upsert(st, service, NULL, url);

	ck_assert_int_gt(id, 0);
	return id;
}

/* n targets of 'service' at http://10.0.0.1:6060, .2, ... into t[]. */
static void
targets(struct store *st, const char *service, int64_t *t, int n)
{
	for (int k = 0; k < n; k++) {
		char url[64];

		snprintf(url, sizeof(url), "http://10.0.0.%d:6060", k + 1);
		t[k] = target(st, service, url);
	}
}

enum { FMT_D1, FMT_D2, FMT_LEAK1 };

/* Store one successful scrape of 'tid' at 'ts' holding 'locs', over a connection that the
 * scraper reports as 'conn'; the parse must see each one. */
static void
scrape_conn(struct store *st, int64_t tid, int64_t ts, const struct gen_loc *locs, size_t n,
            int fmt, bool detail, enum lifetime_conn conn)
{
	struct profile p;
	struct parse_error e;
	size_t len;
	char *text =
	    fmt == FMT_D2 ? gen_debug2(locs, n, &len) : gen_debug1(locs, n, fmt == FMT_LEAK1, &len);
	struct scrape_record rec = {.target_id = tid,
	                            .ts = ts,
	                            .duration_ms = 5,
	                            .bytes = len,
	                            .status = "ok",
	                            .detail = detail,
	                            .connection = conn};

	ck_assert_msg(profile_parse(text, len, &p, &e) == 0, "parse: line %zu: %s", e.line, e.msg);
	for (size_t i = 0; i < n; i++) {
		/* Where IO wait and sleep are attributed is the parser's business; the op class is
		 * what matters. Entries at one function (from several callers) add up. */
		bool benign = locs[i].kind == G_IO || locs[i].kind == G_SLEEP;
		bool found = locs[i].count == 0;
		uint64_t want = 0;

		for (size_t k = 0; k < n; k++)
			if (k == i || (!benign && strcmp(locs[k].function, locs[i].function) == 0))
				want += locs[k].count;
		for (size_t j = 0; j < p.nlocations && !found; j++)
			found = benign
			            ? p.locations[j].count == locs[i].count &&
			                  !profile_op_may_leak(p.locations[j].op)
			            : strcmp(p.locations[j].loc.function, locs[i].function) == 0 &&
			                  p.locations[j].count == want;
		ck_assert_msg(found, "the parser did not see %llu goroutines at %s",
		              (unsigned long long)locs[i].count, locs[i].function);
	}
	rec.profile = &p;
	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
	profile_release(&p);
	free(text);
}

/* The same from a caller that does not know the connection. */
static void
scrape(struct store *st, int64_t tid, int64_t ts, const struct gen_loc *locs, size_t n, int fmt,
       bool detail)
{
	scrape_conn(st, tid, ts, locs, n, fmt, detail, LIFETIME_CONN_UNKNOWN);
}

/* A failed scrape of 'tid' at 'ts'. */
static void
scrape_failed(struct store *st, int64_t tid, int64_t ts, const char *status, uint32_t failures)
{
	struct scrape_record rec = {.target_id = tid,
	                            .ts = ts,
	                            .duration_ms = 1,
	                            .status = status,
	                            .consecutive_failures = failures};

	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
}

static struct config *
cfg_new(uint64_t window, unsigned min_scrapes, uint64_t min_count)
{
	struct config *cfg = config_default();

	ck_assert_ptr_nonnull(cfg);
	cfg->detector.window = window;
	cfg->detector.min_scrapes = min_scrapes;
	cfg->detector.min_count = min_count;
	return cfg;
}

/* 'r', ranked from the store, and the same from the window kept between rankings. */
static void
same_from_window(struct store *st, const struct config *cfg, int64_t now, const struct ranking *r)
{
	struct ranking w;

	ck_assert_int_eq(detect_rank_window(st, cfg, test_window, cfg->detector.window, now, &w),
	                 0);
	ck_assert_msg(w.n == r->n, "%zu suspects from the store, %zu from the window", r->n, w.n);
	for (size_t i = 0; i < r->n; i++) {
		json_t *a = detect_suspect_json(&r->suspects[i]),
		       *b = detect_suspect_json(&w.suspects[i]);
		char *ta = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
		char *tb = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);

		ck_assert_msg(json_equal(a, b), "suspect %zu differs:\nstore:  %s\nwindow: %s",
		              i + 1, ta, tb);
		ck_assert_msg(strcmp(r->suspects[i].sparkline_json, w.suspects[i].sparkline_json) ==
		                  0,
		              "suspect %zu's sparkline differs:\nstore:  %s\nwindow: %s", i + 1,
		              r->suspects[i].sparkline_json, w.suspects[i].sparkline_json);
		free(ta);
		free(tb);
		json_decref(a);
		json_decref(b);
	}
	ranking_release(&w);
}

static void
rank(struct store *st, const struct config *cfg, const char *service, int64_t now,
     struct ranking *r)
{
	ck_assert_int_eq(detect_rank(st, cfg, service, cfg->detector.window, now, r), 0);
	if (service == NULL && test_window)
		same_from_window(st, cfg, now, r);
	for (size_t i = 0; i < r->n; i++) {
		const struct suspect *s = &r->suspects[i];

		ck_assert_int_eq(s->rank, (int)i + 1);
		ck_assert_msg(s->score >= 0 && s->score <= 1, "score %f of %s outside [0, 1]",
		              s->score, s->function);
		ck_assert(s->monotonicity >= 0 && s->monotonicity <= 1);
		ck_assert(s->fit >= 0 && s->fit <= 1);
		ck_assert_ptr_nonnull(s->explanation);
		ck_assert_ptr_nonnull(s->sparkline_json);
		ck_assert_ptr_nonnull(s->stack_json);
		ck_assert_int_le(s->instances_growing, s->instances_total);
	}
}

/* Rank of 'function' (1-based), 0 when it is not a suspect. */
static int
rank_of(const struct ranking *r, const char *function)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->suspects[i].function, function) == 0)
			return r->suspects[i].rank;
	return 0;
}

static const struct suspect *
find(const struct ranking *r, const char *function)
{
	int k = rank_of(r, function);

	ck_assert_msg(k > 0, "%s is not a suspect", function);
	return &r->suspects[k - 1];
}

/* ---- tests ---- */

/* One service with a steady leak among look-alikes: a flat pool of 5,000, a start-up pool that
 * ramps then stays flat, a burst that rises over three scrapes and falls back every ten, and IO
 * wait and sleep counts that grow. At every scrape from the third on only the leak may be a
 * suspect; at the end it is #1. */
START_TEST(test_steady_leak_ranks_first_benign_never)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t tid = target(st, "shop", "http://10.0.0.1:6060");
	struct gen_loc locs[] = {
	    {"main.leakyHandler", "/src/shop/leak.go", 42, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/shop/pool.go", 17, G_CHAN_RECV, NULL, 5000, 0, false},
	    {"main.startupWorker", "/src/shop/pool.go", 60, G_CHAN_RECV, NULL, 0, 0, false},
	    {"main.burstHandler", "/src/shop/burst.go", 12, G_CHAN_RECV, NULL, 0, 0, false},
	    {"main.reader", "/src/shop/io.go", 9, G_IO, NULL, 0, 0, false},
	    {"main.sleeper", "/src/shop/sleep.go", 5, G_SLEEP, NULL, 0, 0, false},
	};
	struct ranking r;
	int first_rank1 = -1;

	for (int i = 0; i < 40; i++) {
		locs[0].count =
		    3 + 25 * (uint64_t)i + (uint64_t)(i % 3); /* traffic is not perfectly even */
		locs[2].count = i == 0 ? 100 : 200;
		locs[3].count = (i % 10) < 3 ? 300 * (uint64_t)((i % 10) + 1) : 0;
		locs[4].count = 10 + 30 * (uint64_t)i;
		locs[5].count = 20 + 7 * (uint64_t)i;
		scrape(st, tid, T0 + i * MIN, locs, 6, FMT_D1, false);
		if (i < 2)
			continue;
		rank(st, cfg, NULL, T0 + i * MIN + 1000, &r);
		for (size_t k = 0; k < r.n; k++)
			ck_assert_msg(strcmp(r.suspects[k].function, "main.leakyHandler") == 0,
			              "scrape %d: %s (%s) is a suspect: %s", i,
			              r.suspects[k].function, r.suspects[k].op,
			              r.suspects[k].explanation);
		if (first_rank1 < 0 && rank_of(&r, "main.leakyHandler") == 1)
			first_rank1 = i;
		ranking_release(&r);
	}
	ck_assert_msg(first_rank1 >= 0 && first_rank1 <= 5, "the leak first ranked #1 at scrape %d",
	              first_rank1);
	rank(st, cfg, "shop", T0 + 39 * MIN + 1000, &r);
	ck_assert_int_eq(r.n, 1);
	ck_assert_str_eq(r.suspects[0].op, "unknown");
	ck_assert_str_eq(r.suspects[0].service, "shop");
	ck_assert_int_eq(r.suspects[0].line, 42);
	ck_assert(r.suspects[0].score >= 0.5);
	ck_assert(!r.suspects[0].confirmed);
	ck_assert_int_eq(r.suspects[0].current_count, 3 + 25 * 39);
	ck_assert_int_eq(r.suspects[0].instances_growing, 1);
	ck_assert_int_eq(r.suspects[0].instances_total, 1);
	ck_assert(r.suspects[0].growth_per_hour > 1400 && r.suspects[0].growth_per_hour < 1600);
	ck_assert(r.suspects[0].monotonicity > 0.9);
	ck_assert_int_eq(r.suspects[0].first_seen, T0);
	ranking_release(&r);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* A flat pool of 5,000 scores below the minimum even with the loosest minimums. */
START_TEST(test_flat_pool_never)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 2, 0);
	int64_t tid = target(st, "pool", "http://10.0.0.1:6060");
	struct gen_loc l = {
	    "main.poolWorker", "/src/p/pool.go", 17, G_CHAN_RECV, NULL, 5000, 0, false};
	struct ranking r;

	for (int i = 0; i < 30; i++) {
		l.count = 5000 - (uint64_t)(i % 2); /* one worker busy now and then */
		scrape(st, tid, T0 + i * MIN, &l, 1, FMT_D1, false);
	}
	rank(st, cfg, NULL, T0 + 30 * MIN, &r);
	ck_assert_int_eq(r.n, 0);
	ranking_release(&r);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* A burst that rises and falls back (slowly, over five scrapes each way) is never a suspect once it
 * has fallen, and a ramp that rises once at start-up and stays flat stops being one. */
START_TEST(test_burst_and_startup_never)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t tid = target(st, "web", "http://10.0.0.1:6060");
	struct gen_loc locs[] = {
	    {"main.burstHandler", "/src/w/burst.go", 12, G_CHAN_RECV, NULL, 0, 0, false},
	    {"main.other", "/src/w/o.go", 3, G_CHAN_RECV, NULL, 400, 0, false},
	};
	static const uint64_t shape[] = {0,   0,   0,  50, 120, 180, 260, 300,
	                                 200, 120, 40, 0,  0,   0,   0,   0};
	struct ranking r;

	for (int i = 0; i < 64; i++) {
		locs[0].count = shape[i % 16];
		scrape(st, tid, T0 + i * MIN, locs, 2, FMT_D1, false);
		rank(st, cfg, NULL, T0 + i * MIN + 1000, &r);
		/* The very first rise is indistinguishable from a leak; after it fell back once,
		 * never again. */
		if (i >= 11)
			ck_assert_msg(r.n == 0, "scrape %d: %s is a suspect: %s", i,
			              r.n ? r.suspects[0].function : "",
			              r.n ? r.suspects[0].explanation : "");
		ranking_release(&r);
	}
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* One a minute, scraped every minute: not a suspect while under the minimums, a suspect once past
 * them. */
START_TEST(test_slow_leak)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t tid = target(st, "slow", "http://10.0.0.1:6060");
	struct gen_loc locs[] = {
	    {"main.slowLeak", "/src/s/leak.go", 8, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/s/pool.go", 17, G_CHAN_RECV, NULL, 64, 0, false},
	};
	struct ranking r;

	for (int i = 0; i < 30; i++) {
		locs[0].count = (uint64_t)i + 1;
		scrape(st, tid, T0 + i * MIN, locs, 2, FMT_D1, false);
		rank(st, cfg, NULL, T0 + i * MIN + 1000, &r);
		if (locs[0].count < 10)
			ck_assert_msg(r.n == 0, "count %llu: ranked before min_count",
			              (unsigned long long)locs[0].count);
		else
			ck_assert_msg(rank_of(&r, "main.slowLeak") == 1, "count %llu: not #1",
			              (unsigned long long)locs[0].count);
		ranking_release(&r);
	}
	rank(st, cfg, NULL, T0 + 29 * MIN + 1000, &r);
	ck_assert(fabs(r.suspects[0].growth_per_hour - 60) < 1);
	ck_assert_ptr_nonnull(
	    strstr(r.suspects[0].explanation, "grew 1 → 30 in 29 min on 1/1 instance (+60/h"));
	ranking_release(&r);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* A suspect whose location has no call site stored (all its goroutines under its representative
 * stack) is ranked without reading its samples a second time for call sites: that costs as much
 * as the walk over the window did for the location, once per candidate. */
START_TEST(test_call_sites_read_only_when_stored)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t tid = target(st, "one", "http://10.0.0.1:6060");
	struct gen_loc l = {"main.slowLeak", "/src/s/leak.go", 8, G_CHAN_SEND, NULL, 0, 0, false};
	sqlite3_stmt *stmt = NULL;
	struct ranking r;
	int probes = 0;

	for (int i = 0; i < 20; i++) {
		l.count = 10 + (uint64_t)i;
		scrape(st, tid, T0 + i * MIN, &l, 1, FMT_D1, false);
	}
	rank(st, cfg, NULL, T0 + 19 * MIN + 1000, &r);
	ck_assert_int_eq(rank_of(&r, "main.slowLeak"), 1);
	ranking_release(&r);
	/* SQLite's statement counters (PostgreSQL has none) */
	while (store_db(st) != NULL && (stmt = sqlite3_next_stmt(store_db(st), stmt)) != NULL) {
		const char *sql = sqlite3_sql(stmt);

		if (strstr(sql, "FROM sample_stacks") == NULL)
			continue;
		if (strstr(sql, "UNION ALL") != NULL)
			ck_assert_msg(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_RUN, 0) == 0,
			              "call sites read: %s", sql);
		else
			probes += sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_RUN, 0);
	}
	/* one probe per ranking: rank() ranks from the store and from the window */
	ck_assert_int_eq(probes, store_db(st) != NULL ? 2 : 0);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* A small service restarted every six scrapes while leaking: its total collapses at each restart,
 * and growth inside each lifetime survives the restarts. */
START_TEST(test_restarts)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t a = target(st, "restarting", "http://10.0.0.1:6060");
	struct gen_loc la[] = {{"main.leakA", "/src/r/a.go", 8, G_CHAN_SEND, NULL, 0, 0, false}};
	struct ranking r;

	for (int i = 0; i < 36; i++) {
		la[0].count = 1 + 8 * (uint64_t)(i % 6);
		scrape(st, a, T0 + i * MIN, la, 1, FMT_D1, false);
		if (i < 12)
			continue;
		rank(st, cfg, NULL, T0 + i * MIN + 1000, &r);
		ck_assert_msg(rank_of(&r, "main.leakA") > 0,
		              "scrape %d: the leak in the small service is lost", i);
		ranking_release(&r);
	}
	rank(st, cfg, "restarting", T0 + 36 * MIN, &r);
	ck_assert_int_eq(r.n, 1);
	ck_assert_ptr_nonnull(strstr(r.suspects[0].explanation, "restarts"));
	ranking_release(&r);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* Two instances, each with an idle pool of 2,000 and a leak of 3 goroutines a second at one line,
 * restart every 25 s on the same address with no gap, scraped every second. A restart moves the
 * total by 3%: what shows it is the connection the dying server closed, with the leak falling to
 * near 0. The leak ranks first at every scrape from its second lifetime on, through every
 * restart, and the pool never ranks. */
START_TEST(test_restarts_fast_no_gap)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t t[2] = {target(st, "sawtooth", "http://10.0.0.1:6060"),
	                target(st, "sawtooth", "http://10.0.0.2:6060")};
	struct gen_loc l[] = {
	    {"main.leak", "/src/s/leak.go", 31, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/s/pool.go", 17, G_CHAN_RECV, NULL, 2000, 0, false},
	};
	struct ranking r;

	for (int sec = 0; sec < 180; sec++) {
		for (int k = 0; k < 2; k++) {
			int age = (sec + 12 * k) % 25;

			l[0].count = 3 * (uint64_t)age;
			scrape_conn(st, t[k], T0 + sec * 1000LL + k * 300, l, 2, FMT_D1, false,
			            age == 0 ? LIFETIME_CONN_NEW : LIFETIME_CONN_REUSED);
		}
		if (sec < 30)
			continue;
		rank(st, cfg, NULL, T0 + sec * 1000LL + 500, &r);
		ck_assert_msg(rank_of(&r, "main.leak") == 1, "second %d: the leak is not #1", sec);
		ck_assert_int_eq(rank_of(&r, "main.poolWorker"), 0);
		ck_assert_int_eq(find(&r, "main.leak")->instances_total, 2);
		ranking_release(&r);
	}
	rank(st, cfg, NULL, T0 + 180 * 1000LL, &r);
	ck_assert_int_eq(find(&r, "main.leak")->instances_growing, 2);
	ck_assert_ptr_nonnull(strstr(find(&r, "main.leak")->explanation, "restarts"));
	ranking_release(&r);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* One scrape a minute, a pool of 2,000, 10 leaked a minute, a restart every 85 min with no gap,
 * over the whole 6 h window: ranked #1 from its first quarter hour to the end, through four
 * restarts. Once the scraper reports connections (a restarted server closes the kept-alive one);
 * once it does not, where debug=2 detail scrapes every 10 scrapes show goroutine ids starting
 * again from low numbers (the ranking right after each detail scrape sees the restart). */
START_TEST(test_restarts_slow_no_gap)
{
	for (int variant = 0; variant < 2; variant++) {
		struct store *st = db_new();
		struct config *cfg = cfg_new(6 * 3600, 4, 10);
		int64_t t = target(st, "slowsaw", "http://10.0.0.1:6060");
		struct gen_loc l[] = {
		    {"main.leak", "/src/s/leak.go", 31, G_CHAN_SEND, NULL, 0, 0, false},
		    {"main.poolWorker", "/src/s/pool.go", 17, G_CHAN_RECV, NULL, 2000, 0, false},
		};
		struct ranking r;

		for (int i = 0; i < 360; i++) {
			int age = i % 85;
			int64_t ts = T0 + i * MIN;

			l[0].count = 10 * (uint64_t)age;
			if (variant == 0) {
				scrape_conn(st, t, ts, l, 2, FMT_D1, false,
				            age == 0 && i > 0 ? LIFETIME_CONN_NEW
				                              : LIFETIME_CONN_REUSED);
			} else {
				scrape(st, t, ts, l, 2, FMT_D1, false);
				if (i % 10 != 0)
					continue;
				/* ids handed out: 300 a minute of requests since the start */
				goid_base = 1 + 300 * (unsigned long long)age;
				scrape(st, t, ts + 2000, l, 2, FMT_D2, true);
				goid_base = 1;
			}
			if (i < 15)
				continue;
			rank(st, cfg, NULL, ts + 3000, &r);
			ck_assert_msg(rank_of(&r, "main.leak") == 1,
			              "variant %d, minute %d: not #1", variant, i);
			ck_assert_int_eq(rank_of(&r, "main.poolWorker"), 0);
			ranking_release(&r);
		}
		config_unref(cfg);
		db_free(st);
	}
}
END_TEST

/* Restarts nothing shows: six instances with a pool of 300 leak 3 goroutines a minute, on
 * connections that are never kept alive and with no debug=2 dumps; two of them restart with no
 * gap at minutes 60 and 70, where the leak falls from 180 and 210 to 0 and the total only from
 * about 480 to 300. The leak's fall is the restart, not a burst falling back: it stays #1 at every
 * ranking, through both. */
START_TEST(test_restarts_unseen)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t t[6];
	struct gen_loc l[] = {
	    {"main.leak", "/src/u/leak.go", 31, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/u/pool.go", 17, G_CHAN_RECV, NULL, 300, 0, false},
	};
	struct ranking r;

	targets(st, "unseen", t, 6);
	for (int i = 0; i < 180; i++) {
		for (int k = 0; k < 6; k++) {
			int start = k == 0 ? 60 : k == 1 ? 70 : 0;
			int age = i >= start ? i - start : i;

			l[0].count = 3 * (uint64_t)age;
			scrape_conn(st, t[k], T0 + i * MIN + k * 1000, l, 2, FMT_D1, false,
			            LIFETIME_CONN_NEW);
		}
		if (i < 20 || i % 5 != 0)
			continue;
		rank(st, cfg, NULL, T0 + i * MIN + 10000, &r);
		ck_assert_msg(rank_of(&r, "main.leak") == 1, "minute %d: the leak is not #1", i);
		ck_assert_int_eq(rank_of(&r, "main.poolWorker"), 0);
		ranking_release(&r);
	}
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* A leaking instance is replaced by a fixed build on a new address (its target dropped from the
 * configuration): the suspect leaves the ranking at once, and the location page still shows the
 * replaced instance's history. */
START_TEST(test_replaced_instance_leaves)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t a = target(st, "api", "http://10.0.0.1:6060");
	int64_t b = target(st, "api", "http://10.0.0.2:6060");
	int64_t a2, ids[2];
	struct gen_loc l[] = {
	    {"main.leak", "/src/api/leak.go", 31, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/api/pool.go", 17, G_CHAN_RECV, NULL, 40, 0, false},
	};
	struct query_series q;
	struct ranking r;
	int64_t loc;

	cfg->scrape_interval = 1;
	for (int sec = 0; sec < 40; sec++) {
		l[0].count = 65 + 5 * (uint64_t)sec;
		scrape(st, a, T0 + sec * 1000LL, l, 2, FMT_D1, false);
		l[0].count = 0;
		scrape(st, b, T0 + sec * 1000LL + 100, l, 2, FMT_D1, false);
	}
	rank(st, cfg, NULL, T0 + 40 * 1000LL, &r);
	ck_assert_int_eq(rank_of(&r, "main.leak"), 1);
	ck_assert_int_eq(find(&r, "main.leak")->instances_growing, 1);
	ck_assert_int_eq(find(&r, "main.leak")->instances_total, 2);
	loc = find(&r, "main.leak")->location_id;
	ranking_release(&r);
	/* The deploy: a new address in place of the leaking one. */
	a2 = target(st, "api", "http://10.0.0.3:6060");
	ids[0] = b;
	ids[1] = a2;
	ck_assert_int_eq(store_targets_set_active(st, ids, 2), 0);
	for (int sec = 40; sec < 60; sec++) {
		l[0].count = 0;
		scrape(st, a2, T0 + sec * 1000LL, l, 2, FMT_D1, false);
		scrape(st, b, T0 + sec * 1000LL + 100, l, 2, FMT_D1, false);
		rank(st, cfg, NULL, T0 + sec * 1000LL + 500, &r);
		ck_assert_msg(r.n == 0, "second %d: %s is still a suspect: %s", sec,
		              r.n ? r.suspects[0].function : "",
		              r.n ? r.suspects[0].explanation : "");
		ranking_release(&r);
	}
	/* the history stays */
	ck_assert_int_eq(query_location_series(st, loc, NULL, T0, T0 + 60 * 1000LL, 1000, 5000, &q),
	                 0);
	ck_assert_uint_eq(q.ninst, 1); /* only the replaced instance ever had the location */
	ck_assert_str_eq(q.inst[0].target, "http://10.0.0.1:6060");
	ck_assert(q.inst[0].values[39] == 65 + 5 * 39);
	query_series_release(&q);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* A leaking instance that stays configured but fails (its process is gone): it counts while its
 * latest success is at most three intervals old, then not. */
START_TEST(test_failing_instance_leaves)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t a = target(st, "api", "http://10.0.0.1:6060");
	int64_t b = target(st, "api", "http://10.0.0.2:6060");
	struct gen_loc l[] = {
	    {"main.leak", "/src/api/leak.go", 31, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/api/pool.go", 17, G_CHAN_RECV, NULL, 40, 0, false},
	};
	struct ranking r;
	uint32_t failures = 0;

	for (int i = 0; i < 30; i++) {
		l[0].count = 20 + 10 * (uint64_t)i;
		scrape(st, a, T0 + i * MIN, l, 2, FMT_D1, false);
		l[0].count = 0;
		scrape(st, b, T0 + i * MIN + 100, l, 2, FMT_D1, false);
	}
	for (int i = 30; i < 45; i++) {
		int64_t now = T0 + i * MIN + 500;

		/* the scraper backs off: 1, 2, 4, 8 intervals */
		if (i == 30 || i == 31 || i == 33 || i == 37)
			scrape_failed(st, a, T0 + i * MIN, "connect refused", ++failures);
		l[0].count = 0;
		scrape(st, b, T0 + i * MIN + 100, l, 2, FMT_D1, false);
		rank(st, cfg, NULL, now, &r);
		if (i <= 32)
			ck_assert_msg(rank_of(&r, "main.leak") == 1, "minute %d: lost too early",
			              i);
		else
			ck_assert_msg(r.n == 0, "minute %d: a dead instance still counts", i);
		ranking_release(&r);
	}
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* A single-instance service deployed every hour on a new address: the leak stays ranked through a
 * deploy of the leaking build (the replaced instance stands in while the new one is too young to
 * tell), and leaves within min_scrapes intervals of the deploy that fixes it. */
START_TEST(test_deploys_stand_in_and_fix)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t t[3];
	struct gen_loc l[] = {
	    {"main.leak", "/src/d/leak.go", 31, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/d/pool.go", 17, G_CHAN_RECV, NULL, 200, 0, false},
	};
	struct ranking r;

	for (int i = 0; i < 180; i++) {
		int gen = i / 60, age = i % 60;
		int64_t now = T0 + i * MIN + 500;

		if (age == 0) {
			char url[64];

			snprintf(url, sizeof(url), "http://10.0.1.%d:6060", gen + 1);
			t[gen] = target(st, "solo", url);
			ck_assert_int_eq(store_targets_set_active(st, &t[gen], 1), 0);
		}
		l[0].count = gen < 2 ? 10 * (uint64_t)age : 0;
		scrape(st, t[gen], T0 + i * MIN, l, 2, FMT_D1, false);
		if (i < 10)
			continue;
		rank(st, cfg, NULL, now, &r);
		if (i < 120 + 3)
			ck_assert_msg(rank_of(&r, "main.leak") == 1, "minute %d: lost", i);
		else
			ck_assert_msg(r.n == 0, "minute %d: still a suspect after the fix: %s", i,
			              r.n ? r.suspects[0].explanation : "");
		if (i == 61) {
			const struct suspect *s = find(&r, "main.leak");

			ck_assert_int_eq(s->instances_growing, 1);
			ck_assert_int_eq(s->current_count, 10);
			ck_assert_ptr_nonnull(strstr(s->explanation, "replaced by 1 instance"));
		}
		ranking_release(&r);
	}
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* The replaced generation stands in until the new one's current lifetime, the one since its latest
 * restart, has lasted long enough to show the leak at the rate it grew and rose less than half
 * that: its rise is measured from the least count of that lifetime, not of the target's earlier
 * ones. A single instance leaking one goroutine a minute, with a pool of 200, is replaced at
 * minute 60 by a new build on a new address, which crashes during start-up (its pool filled,
 * none of its 20 workers at the leak's line started yet) and is back a minute later with the 20
 * workers there: the total collapsing from 200 to 20 is the restart.
 * - A fixed build holds its 20: ranked while it is too young to tell (fewer than min_scrapes
 *   scrapes, or under the 3 goroutines the leak would have added), gone from then on. Measured
 *   from the crashed lifetime's 0 it would have risen 20, and the leak would stay 40 minutes more.
 * - A build whose count rose 20 since its lifetime's least, in one step at minute 63 (too few
 *   steps to be judged growing by itself): ranked until the leak would have added twice that, at
 *   minute 102; from the crashed lifetime's 0 that would take until minute 142. */
START_TEST(test_deploy_rise_since_current_lifetime)
{
	for (int rose = 0; rose < 2; rose++) {
		struct store *st = db_new();
		struct config *cfg = cfg_new(6 * 3600, 4, 10);
		int64_t old = target(st, "crashy", "http://10.0.2.1:6060"), neu = 0;
		struct gen_loc l[] = {
		    {"main.leak", "/src/c/leak.go", 31, G_CHAN_SEND, NULL, 0, 0, false},
		    {"main.poolWorker", "/src/c/pool.go", 17, G_CHAN_RECV, NULL, 200, 0, false},
		};
		struct ranking r;

		for (int i = 0; i < 110; i++) {
			int64_t tid = i < 60 ? old : neu;
			/* the current lifetime starts at minute 61: at 64 it has 4 scrapes over 3
			 * minutes, at 102 it is 41 minutes old */
			int gone = rose ? 102 : 64;

			if (i == 60) {
				neu = target(st, "crashy", "http://10.0.2.2:6060");
				ck_assert_int_eq(store_targets_set_active(st, &neu, 1), 0);
				tid = neu;
			}
			l[0].count = i < 60 ? (uint64_t)i : i == 60 ? 0 : rose && i >= 63 ? 40 : 20;
			l[1].count = i == 61 ? 0 : 200;
			scrape(st, tid, T0 + i * MIN, l, 2, FMT_D1, false);
			if (i < 20)
				continue;
			rank(st, cfg, NULL, T0 + i * MIN + 500, &r);
			ck_assert_int_eq(rank_of(&r, "main.poolWorker"), 0);
			if (i < gone)
				ck_assert_msg(rank_of(&r, "main.leak") == 1, "%s, minute %d: lost",
				              rose ? "risen" : "held", i);
			else
				ck_assert_msg(r.n == 0, "%s, minute %d: still a suspect: %s",
				              rose ? "risen" : "held", i,
				              r.n ? r.suspects[0].explanation : "");
			ranking_release(&r);
		}
		config_unref(cfg);
		db_free(st);
	}
}
END_TEST

/* Series that hold one count over the whole window (detect.c flat_sums()) are judged like any
 * other: an instance holding 80 for three hours makes a younger one's rise to 60 a warm-up; one
 * that came up holding 500 half an hour ago is younger than a rise to 60 beside it, which ranks,
 * with 500 as the most in one instance. The same rise alone ranks. A leak fixed by a deploy
 * whose instance holds 150 from its start ranks on the replaced instance's growth until the new
 * one has lasted long enough to show it, then no more. */
START_TEST(test_flat_instances)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t old = target(st, "warm", "http://10.0.4.1:6060"), young = 0, lone = 0, rise = 0,
	        big = 0, before = target(st, "fixed", "http://10.0.4.6:6060"), after = 0;
	struct gen_loc w = {"main.warmLeak", "/src/f/warm.go", 5, G_CHAN_SEND, NULL, 80, 0, false};
	struct gen_loc l = {"main.loneLeak", "/src/f/lone.go", 6, G_CHAN_SEND, NULL, 0, 0, false};
	struct gen_loc p = {"main.peakLeak", "/src/f/peak.go", 7, G_CHAN_SEND, NULL, 0, 0, false};
	struct gen_loc d = {"main.fixedLeak", "/src/f/fix.go", 8, G_CHAN_SEND, NULL, 0, 0, false};
	struct ranking r;

	for (int i = 0; i < 180; i++) {
		int64_t ts = T0 + i * MIN;
		uint64_t up = 1 + (uint64_t)(i - 120);

		scrape(st, old, ts, &w, 1, FMT_D1, false);
		/* the deploy at minute 100 */
		if (i == 100)
			after = target(st, "fixed", "http://10.0.4.7:6060");
		d.count = i < 100 ? 2 * (uint64_t)i : 150;
		scrape(st, i < 100 ? before : after, ts + 500, &d, 1, FMT_D1, false);
		if (i == 102) {
			rank(st, cfg, NULL, ts + 600, &r);
			ck_assert_int_eq(rank_of(&r, "main.fixedLeak"), 1);
			ranking_release(&r);
		}
		if (i == 120) {
			young = target(st, "warm", "http://10.0.4.2:6060");
			lone = target(st, "lone", "http://10.0.4.3:6060");
			rise = target(st, "peak", "http://10.0.4.4:6060");
		}
		if (i == 150)
			big = target(st, "peak", "http://10.0.4.5:6060");
		if (i < 120)
			continue;
		w.count = up;
		scrape(st, young, ts + 1000, &w, 1, FMT_D1, false);
		w.count = 80;
		l.count = up;
		scrape(st, lone, ts + 2000, &l, 1, FMT_D1, false);
		p.count = up;
		scrape(st, rise, ts + 3000, &p, 1, FMT_D1, false);
		if (i < 150)
			continue;
		p.count = 500;
		scrape(st, big, ts + 4000, &p, 1, FMT_D1, false);
	}
	rank(st, cfg, NULL, T0 + 180 * MIN, &r);
	ck_assert_int_eq(rank_of(&r, "main.warmLeak"), 0);
	ck_assert_int_eq(rank_of(&r, "main.fixedLeak"), 0);
	ck_assert_uint_eq(find(&r, "main.loneLeak")->max_instance_count, 60);
	ck_assert_uint_eq(find(&r, "main.peakLeak")->max_instance_count, 500);
	ranking_release(&r);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* The lifetime the window's start cuts, judged from what the window keeps of it as the start
 * moves (detect.c, struct life_cut): the same as judged whole each time. Its greatest count
 * lies before its last minimum, which the part kept does not hold. */
START_TEST(test_window_cut_lifetime)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(3600, 4, 10);
	int64_t a = target(st, "cut", "http://10.0.3.1:6060");
	struct gen_loc l[] = {
	    {"main.leak", "/src/k/leak.go", 12, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/k/pool.go", 40, G_CHAN_RECV, NULL, 200, 0, false},
	};
	struct ranking r;
	int ranked = 0;

	for (int i = 0; i < 130; i++) {
		/* up to 68, down to 10 at minute 58, a restart at 60, then a leak from 1 */
		l[0].count = i < 30   ? 10 + 2 * (uint64_t)i
		             : i < 59 ? 68 - 2 * (uint64_t)(i - 29)
		             : i < 60 ? 14
		                      : 1 + (uint64_t)(i - 60);
		l[1].count = i == 60 ? 0 : 200;
		scrape(st, a, T0 + i * MIN, l, 2, FMT_D1, false);
		if (i < 70)
			continue;
		/* the window's start moves from minute 10 past minute 58, one scrape a ranking */
		rank(st, cfg, NULL, T0 + i * MIN + 500, &r);
		/* ranked once the current lifetime outweighs the cut one; the greatest count is
		 * then the cut one's at the window's first scrape (minute i - 59) */
		if (i >= 89 && i <= 100) {
			ck_assert_int_eq(rank_of(&r, "main.leak"), 1);
			ck_assert_uint_eq(r.suspects[0].max_instance_count,
			                  68 - 2 * (uint64_t)(i - 88));
			ranked++;
		}
		ranking_release(&r);
	}
	ck_assert_int_eq(ranked, 12);
	config_unref(cfg);
	db_free(st);
}
END_TEST
/* The same for a cut lifetime of more runs than a block (RUNS_BLOCK): its greatest count lies
 * among the runs just before its last minimum, which the window keeps apart from the stretch
 * it reads again (struct life_cut's tail). A count jittering every minute, a spike to 300 at
 * minute 140, down to 80 (not steeply: the same lifetime) until the restart at 150, then a leak
 * from 1. */
START_TEST(test_window_cut_tail)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(3 * 3600, 4, 10);
	int64_t a = target(st, "tail", "http://10.0.3.3:6060");
	struct gen_loc l[] = {
	    {"main.leak", "/src/t/leak.go", 12, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/t/pool.go", 40, G_CHAN_RECV, NULL, 200, 0, false},
	};
	struct ranking r;
	int ranked = 0;

	for (int i = 0; i < 320; i++) {
		l[0].count = i < 140   ? 100 + (uint64_t)(i % 2)
		             : i < 141 ? 300
		             : i < 150 ? 80
		                       : 1 + (uint64_t)(i - 150);
		l[1].count = i == 150 ? 0 : 200;
		scrape(st, a, T0 + i * MIN, l, 2, FMT_D1, false);
		if (i < 190)
			continue;
		/* the window's start moves from minute 10 to 139, one scrape a ranking */
		rank(st, cfg, NULL, T0 + i * MIN + 500, &r);
		if (rank_of(&r, "main.leak") == 1) {
			ck_assert_uint_eq(r.suspects[0].max_instance_count, 300);
			ranked++;
		}
		ranking_release(&r);
	}
	ck_assert_int_gt(ranked, 40);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* The end the window keeps of the lifetime its start cuts (detect.c cut_end()): a location that
 * held 50 or 51 falls steeply to 5 at minute 100 with nothing else showing a restart (a reset,
 * runs_reset()), rises to 44, and the process restarts at 140. While the window's start is at
 * least LIFETIME_COLLAPSE_HELD scrapes before the fall, the fall ends a lifetime; from minute 81
 * on it no longer can, and the rise after it is a burst's of the lifetime cut by the start. */
START_TEST(test_window_cut_reset)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(2 * 3600, 4, 10);
	int64_t a = target(st, "reset", "http://10.0.3.4:6060");
	struct gen_loc l[] = {
	    {"main.leak", "/src/r/leak.go", 12, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/r/pool.go", 40, G_CHAN_RECV, NULL, 200, 0, false},
	};
	struct ranking r;

	for (int i = 0; i < 240; i++) {
		l[0].count = i < 100   ? 50 + (uint64_t)(i % 2)
		             : i < 140 ? 5 + (uint64_t)(i - 100)
		                       : 1 + (uint64_t)(i - 140);
		l[1].count = i == 140 ? 0 : 200;
		scrape(st, a, T0 + i * MIN, l, 2, FMT_D1, false);
		/* the window's start moves from minute 40 to 119, one scrape a ranking */
		if (i >= 160) {
			rank(st, cfg, NULL, T0 + i * MIN + 500, &r);
			ranking_release(&r);
		}
	}
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* The lifetimes that ended inside the window after its first one, summed apart and kept by the
 * window (detect.c ended_sums(), struct life_fold): the same as judged whole at every ranking,
 * as the window's start crosses them one after another, as more end, and as min_scrapes changes
 * between rankings (lifetimes of 5 scrapes are judged at 4, not at 6). */
START_TEST(test_window_ended_lifetimes)
{
	static const int lens[] = {13, 5, 11, 17, 5, 9, 14, 6};
	struct store *st = db_new();
	struct config *cfg[2] = {cfg_new(3600, 4, 10), cfg_new(3600, 6, 10)};
	int64_t a = target(st, "ended", "http://10.0.3.2:6060");
	struct gen_loc l[] = {
	    {"main.leak", "/src/e/leak.go", 21, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/e/pool.go", 8, G_CHAN_RECV, NULL, 200, 0, false},
	};
	struct ranking r;
	int life = 0, age = 0, ranked = 0;

	for (int i = 0; i < 200; i++, age++) {
		if (age == lens[life % 8]) {
			life++;
			age = 0;
		}
		/* each lifetime leaks at its own rate, some unevenly, from where it started */
		l[0].count = (uint64_t)(age * (2 + life % 3) + (life % 2 && age % 3 == 2 ? 3 : 0));
		l[1].count = age == 0 && i > 0 ? 0 : 200;
		scrape_conn(st, a, T0 + i * MIN, l, 2, FMT_D1, false,
		            age == 0 && i > 0 ? LIFETIME_CONN_NEW : LIFETIME_CONN_REUSED);
		if (i < 70)
			continue;
		rank(st, cfg[i % 2], NULL, T0 + i * MIN + 500, &r);
		ranked += rank_of(&r, "main.leak") == 1;
		ranking_release(&r);
	}
	ck_assert_int_gt(ranked, 60);
	config_unref(cfg[0]);
	config_unref(cfg[1]);
	db_free(st);
}
END_TEST

/* The dashboard's restart markers are the lifetimes the detector ranks with: a restart next to a
 * pool (the total falls 8%) is marked, a burst draining 45% of the total is not. */
START_TEST(test_restart_markers_are_lifetimes)
{
	struct store *st = db_new();
	int64_t t = target(st, "marks", "http://10.0.0.1:6060");
	struct gen_loc l[] = {
	    {"main.leak", "/src/m/leak.go", 31, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/m/pool.go", 17, G_CHAN_RECV, NULL, 2000, 0, false},
	    {"main.burst", "/src/m/burst.go", 9, G_CHAN_RECV, NULL, 0, 0, false},
	};
	struct query_series q;
	struct ranking r;
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t loc;

	for (int i = 0; i < 60; i++) {
		int age = i < 30 ? i : i - 30;

		l[0].count = 6 * (uint64_t)age;
		l[2].count = i >= 50 && i < 53 ? 1800 : 0;
		scrape_conn(st, t, T0 + i * MIN, l, 3, FMT_D1, false,
		            i == 30 ? LIFETIME_CONN_NEW : LIFETIME_CONN_REUSED);
	}
	rank(st, cfg, NULL, T0 + 60 * MIN, &r);
	loc = find(&r, "main.leak")->location_id;
	ck_assert_ptr_nonnull(
	    strstr(find(&r, "main.leak")->explanation, "after each of 1 restarts"));
	ranking_release(&r);
	ck_assert_int_eq(query_location_series(st, loc, NULL, T0, T0 + 60 * MIN, MIN, 5 * MIN, &q),
	                 0);
	ck_assert_uint_eq(q.nrestarts, 1);
	ck_assert_int_eq(q.restarts[0].ts, T0 + 30 * MIN);
	ck_assert_int_eq(q.restarts[0].target_id, t);
	ck_assert_int_eq(q.restarts[0].reason, LIFETIME_CONNECTION);
	query_series_release(&q);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* A pool that fills over ten minutes after a start and then stays is warming up, not leaking:
 * three instances hold it at 60; a fourth joins (autoscaling), another restarts, and each fills it
 * again while the older ones hold it flat. Never a suspect, at any scrape. */
START_TEST(test_warm_up_never)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t t[4];
	int64_t ids[4];
	int start[4] = {0, 0, 0, 120};
	struct gen_loc l[] = {
	    {"main.warmPool", "/src/w/pool.go", 5, G_CHAN_RECV, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/w/pool.go", 17, G_CHAN_RECV, NULL, 30, 0, false},
	};
	struct ranking r;

	for (int k = 0; k < 4; k++) {
		char url[64];

		snprintf(url, sizeof(url), "http://10.0.0.%d:6060", k + 1);
		t[k] = target(st, "warm", url);
		ids[k] = t[k];
	}
	ck_assert_int_eq(store_targets_set_active(st, ids, 3), 0);
	for (int i = 0; i < 240; i++) {
		if (i == 120)
			ck_assert_int_eq(store_targets_set_active(st, ids, 4), 0);
		if (i == 150)
			start[1] = 150; /* a crash restart: it closes the connection */
		for (int k = 0; k < 4; k++) {
			int age = i - start[k];

			if (age < 0)
				continue;
			l[0].count = age >= 10 ? 60 : 6 * (uint64_t)age;
			scrape_conn(st, t[k], T0 + i * MIN + k * 1000, l, 2, FMT_D1, false,
			            age == 0 ? LIFETIME_CONN_NEW : LIFETIME_CONN_REUSED);
		}
		if (i < 100)
			continue;
		rank(st, cfg, NULL, T0 + i * MIN + 5000, &r);
		ck_assert_msg(r.n == 0, "minute %d: %s is a suspect: %s", i,
		              r.n ? r.suspects[0].function : "",
		              r.n ? r.suspects[0].explanation : "");
		ranking_release(&r);
	}
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* Slow requests pile up now and then in each instance and are released: once the location fell
 * back in two instances, a rise in a third (a new one, with no history of its own, rising higher
 * than the others ever did) is the next burst, not a leak. */
START_TEST(test_bursts_remembered)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t t[3];
	struct gen_loc l[] = {
	    {"main.slowRequest", "/src/b/slow.go", 5, G_CHAN_RECV, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/b/pool.go", 17, G_CHAN_RECV, NULL, 300, 0, false},
	};
	struct ranking r;

	targets(st, "bursty", t, 3);
	ck_assert_int_eq(store_targets_set_active(st, t, 2), 0);
	for (int i = 0; i < 130; i++) {
		if (i == 100)
			ck_assert_int_eq(store_targets_set_active(st, t, 3), 0);
		for (int k = 0; k < 3; k++) {
			/* bursts at minutes 20 and 50 in the first two, at once in the third (from
			 * minute 100 on), rising by 15 and 20 a minute for 12 minutes */
			int b = i - (k == 0 ? 20 : k == 1 ? 50 : 100);

			if (k == 2 && i < 100)
				continue;
			l[0].count = b >= 0 && b < 12 ? (k == 2 ? 20 : 15) * (uint64_t)(b + 1) : 0;
			scrape_conn(st, t[k], T0 + i * MIN + k * 1000, l, 2, FMT_D1, false,
			            i == 0 || (k == 2 && i == 100) ? LIFETIME_CONN_NEW
			                                           : LIFETIME_CONN_REUSED);
		}
		if (i < 95)
			continue;
		rank(st, cfg, NULL, T0 + i * MIN + 5000, &r);
		ck_assert_msg(r.n == 0, "minute %d: %s is a suspect: %s", i,
		              r.n ? r.suspects[0].function : "",
		              r.n ? r.suspects[0].explanation : "");
		ranking_release(&r);
	}
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* A downstream outage 22 minutes after a deploy blocks three handlers in every instance at
 * once, for 12 minutes, 15 more a minute each, then releases them: no earlier outage in the
 * window to remember, and the quiet before it is short, yet it is never a suspect. */
START_TEST(test_outage_never)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t t[3];
	struct gen_loc l[] = {
	    {"main.downstreamCall1", "/src/o/call.go", 11, G_CHAN_RECV, NULL, 0, 0, false},
	    {"main.downstreamCall2", "/src/o/call.go", 22, G_CHAN_RECV, NULL, 0, 0, false},
	    {"main.downstreamCall3", "/src/o/call.go", 33, G_IO, NULL, 0, 0, false},
	    {"main.poolWorker", "/src/o/pool.go", 17, G_CHAN_RECV, NULL, 300, 0, false},
	};
	struct ranking r;

	targets(st, "outage", t, 3);
	for (int i = 0; i < 45; i++) {
		for (int k = 0; k < 3; k++) {
			int b = i - 22;

			for (int j = 0; j < 3; j++)
				l[j].count =
				    b >= 0 && b < 12 ? (15 + 2 * (uint64_t)j) * (b + 1) : 0;
			scrape_conn(st, t[k], T0 + i * MIN + k * 1000, l, 4, FMT_D1, false,
			            i == 0 ? LIFETIME_CONN_NEW : LIFETIME_CONN_REUSED);
		}
		if (i < 20)
			continue;
		rank(st, cfg, NULL, T0 + i * MIN + 10000, &r);
		ck_assert_msg(r.n == 0, "minute %d: %s is a suspect: %s", i,
		              r.n ? r.suspects[0].function : "",
		              r.n ? r.suspects[0].explanation : "");
		ranking_release(&r);
	}
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* A small deterministic generator (xorshift). */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Noise never ranks: counts that jitter by ±1 around 40, a constant 6, one goroutine each process
 * starts and keeps on purpose (a bounded leak), in two instances that restart every two hours,
 * over 12 h of one-minute scrapes, ranked every 10 minutes; the one real leak beside them does. */
START_TEST(test_noise_never)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t t[2] = {target(st, "noisy", "http://10.0.0.1:6060"),
	                target(st, "noisy", "http://10.0.0.2:6060")};
	struct gen_loc l[] = {
	    {"main.jitter", "/src/n/j.go", 1, G_CHAN_RECV, NULL, 0, 0, false},
	    {"main.few", "/src/n/f.go", 2, G_CHAN_RECV, NULL, 6, 0, false},
	    {"main.oncePerStart", "/src/n/o.go", 3, G_CHAN_SEND, NULL, 1, 0, false},
	    {"main.poolWorker", "/src/n/pool.go", 17, G_CHAN_RECV, NULL, 500, 0, false},
	    {"main.leak", "/src/n/leak.go", 4, G_CHAN_SEND, NULL, 0, 0, false},
	};
	uint64_t seed = 0x2545F4914F6CDD1DULL;
	struct ranking r;

	for (int i = 0; i < 720; i++) {
		for (int k = 0; k < 2; k++) {
			int age = (i + 50 * k) % 120;

			l[0].count = age == 0 ? 12 : 40 + rnd(&seed) % 3 - 1;
			l[4].count = (uint64_t)age / 3;
			scrape_conn(st, t[k], T0 + i * MIN + k * 1000, l, 5, FMT_D1, false,
			            age == 0 && i > 0 ? LIFETIME_CONN_NEW : LIFETIME_CONN_REUSED);
		}
		if (i < 30 || i % 10 != 0)
			continue;
		rank(st, cfg, NULL, T0 + i * MIN + 5000, &r);
		for (size_t k = 0; k < r.n; k++)
			ck_assert_msg(strcmp(r.suspects[k].function, "main.leak") == 0,
			              "minute %d: %s is a suspect: %s", i, r.suspects[k].function,
			              r.suspects[k].explanation);
		ck_assert_msg(rank_of(&r, "main.leak") == 1, "minute %d: the leak is lost", i);
		ranking_release(&r);
	}
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* Proven leaks rank above every unconfirmed suspect, whatever the evidence of the others: (leaked)
 * goroutines in a debug=2 profile, and a goroutineleak profile. IO wait and sleep never rank, even
 * growing. */
START_TEST(test_confirmed_first)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t a = target(st, "api", "http://10.0.0.1:6060");
	int64_t b = target(st, "api", "http://10.0.0.1:6061");
	int64_t c = target(st, "jobs", "http://10.0.0.2:6060");
	struct gen_loc la[] = {
	    {"main.bigLeak", "/src/api/big.go", 8, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.provenLeak", "/src/api/proven.go", 9, G_CHAN_SEND, NULL, 12, 0, true},
	    {"main.reader", "/src/api/io.go", 9, G_IO, NULL, 0, 0, false},
	    {"main.sleeper", "/src/api/sleep.go", 5, G_SLEEP, NULL, 0, 0, false},
	    {"main.lockLeak", "/src/api/lock.go", 21, G_MUTEX, NULL, 0, 0, false},
	};
	struct gen_loc lc[] = {
	    {"main.jobLeak", "/src/jobs/job.go", 30, G_CHAN_RECV, NULL, 15, 0, false}};
	struct ranking r;

	for (int i = 0; i < 12; i++) {
		la[0].count = 10 + 40 * (uint64_t)i;
		la[2].count = 10 + 30 * (uint64_t)i;
		la[3].count = 10 + 30 * (uint64_t)i;
		la[4].count = 10 + 15 * (uint64_t)i;
		scrape(st, a, T0 + i * MIN, la, 5, FMT_D2, false);
		scrape(st, b, T0 + i * MIN + 500, la, 1, FMT_D2, false);
		scrape(st, c, T0 + i * MIN, lc, 1, FMT_LEAK1, false);
	}
	rank(st, cfg, NULL, T0 + 12 * MIN, &r);
	ck_assert_int_eq(r.n, 4);
	ck_assert(r.suspects[0].confirmed && r.suspects[1].confirmed && !r.suspects[2].confirmed);
	ck_assert(!r.suspects[3].confirmed);
	ck_assert_str_eq(find(&r, "main.bigLeak")->op, "chan send");
	ck_assert_int_eq(find(&r, "main.bigLeak")->instances_growing, 2);
	ck_assert_int_eq(find(&r, "main.bigLeak")->instances_total, 2);
	/* sync waits are reported on the same evidence */
	ck_assert_str_eq(find(&r, "main.lockLeak")->op, "sync.Mutex.Lock");
	ck_assert_int_eq(find(&r, "main.lockLeak")->instances_growing, 1);
	ck_assert(r.suspects[1].score >= r.suspects[2].score);
	ck_assert_int_gt(rank_of(&r, "main.provenLeak"), 0);
	ck_assert_int_gt(rank_of(&r, "main.jobLeak"), 0);
	ck_assert_ptr_nonnull(
	    strstr(find(&r, "main.provenLeak")->explanation, "confirmed leak: 12 goroutines"));
	ck_assert_int_eq(rank_of(&r, "main.reader"), 0);
	ck_assert_int_eq(rank_of(&r, "main.sleeper"), 0);
	ranking_release(&r);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* Each kind of ignore rule removes its location and nothing else. */
START_TEST(test_ignore_rules)
{
	static const char yaml[] = "detector:\n"
	                           "  min_scrapes: 4\n"
	                           "  min_count: 10\n"
	                           "  ignore:\n"
	                           "    - function: main.ignoredByName\n"
	                           "    - any_function: main.knownHandler\n"
	                           "    - file: \"*/vendor/*\"\n"
	                           "    - service: legacy\n"
	                           "    - function: main.kept\n"
	                           "      service: elsewhere\n";
	struct config_errors errs = {0};
	struct config *cfg = config_load_buffer("ignore.yaml", yaml, sizeof(yaml) - 1, &errs);
	struct store *st = db_new();
	int64_t a, b;
	struct gen_loc la[] = {
	    {"main.ignoredByName", "/src/a/x.go", 1, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.deepInStack", "/src/a/y.go", 2, G_CHAN_SEND, "main.knownHandler", 0, 0, false},
	    {"lib.vendored", "/src/a/vendor/lib/z.go", 3, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.kept", "/src/a/k.go", 4, G_CHAN_SEND, NULL, 0, 0, false},
	};
	struct gen_loc lb[] = {
	    {"main.legacyLeak", "/src/l/l.go", 5, G_CHAN_SEND, NULL, 0, 0, false}};
	struct ranking r;

	ck_assert_msg(cfg != NULL, "config: %s", errs.n ? errs.msgs[0] : "?");
	config_errors_release(&errs);
	a = target(st, "app", "http://10.0.0.1:6060");
	b = target(st, "legacy", "http://10.0.0.2:6060");
	for (int i = 0; i < 10; i++) {
		for (size_t k = 0; k < 4; k++)
			la[k].count = 5 + 20 * (uint64_t)i + k;
		lb[0].count = 5 + 20 * (uint64_t)i;
		scrape(st, a, T0 + i * MIN, la, 4, FMT_D2, false);
		scrape(st, b, T0 + i * MIN, lb, 1, FMT_D1, false);
	}
	rank(st, cfg, NULL, T0 + 10 * MIN, &r);
	ck_assert_int_eq(r.n, 1);
	ck_assert_str_eq(r.suspects[0].function, "main.kept");
	ranking_release(&r);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* Totals per stack of a location's call sites (test_call_sites). */
struct stack_totals {
	int64_t id[16];
	uint64_t total[16];
	size_t n;
};

static int
add_stack_total(const struct store_stack_sample *x, void *arg)
{
	struct stack_totals *t = arg;
	size_t i;

	for (i = 0; i < t->n && t->id[i] != x->stack_id; i++)
		;
	ck_assert_uint_lt(i, 16);
	if (i == t->n)
		t->id[t->n++] = x->stack_id;
	t->total[i] += x->count;
	return 0;
}

/* A helper reached from several callers (here main.waitAll, as errgroup.(*Group).Wait is) is one
 * location: per service the ranking reads its call sites, says which caller grows and shows that
 * caller's stack, the service's own, and the ignore rules match every call site:
 * - alpha: one caller leaks, another holds a pool; beta, scraped first (so the location's first
 *   stack is beta's), holds a flat pool from its own caller, which an any_function rule ignores:
 *   alpha's leak still ranks, with its own stack, and beta's pool does not;
 * - gamma: the growth comes only from an ignored caller (main.intentional), the other caller
 *   jitters by one: not a suspect;
 * - delta: an ignored caller and a leaking one both grow: a suspect, shown with the leaking one. */
START_TEST(test_call_sites)
{
	static const char yaml[] = "detector:\n"
	                           "  min_scrapes: 4\n"
	                           "  min_count: 10\n"
	                           "  ignore:\n"
	                           "    - any_function: main.betaHandler\n"
	                           "    - any_function: main.intentional\n";
	struct config_errors errs = {0};
	struct config *cfg = config_load_buffer("calls.yaml", yaml, sizeof(yaml) - 1, &errs);
	struct store *st = db_new();
	struct gen_loc la[] = {
	    {"main.waitAll", "/src/lib/wait.go", 9, G_CHAN_RECV, "main.alphaLeaky", 0, 0, false},
	    {"main.waitAll", "/src/lib/wait.go", 9, G_CHAN_RECV, "main.alphaPool", 40, 0, false},
	};
	struct gen_loc lb[] = {
	    {"main.waitAll", "/src/lib/wait.go", 9, G_CHAN_RECV, "main.betaHandler", 30, 0, false},
	};
	struct gen_loc lg[] = {
	    {"main.waitAll", "/src/lib/wait.go", 9, G_CHAN_RECV, "main.intentional", 0, 0, false},
	    {"main.waitAll", "/src/lib/wait.go", 9, G_CHAN_RECV, "main.gammaPool", 0, 0, false},
	};
	struct gen_loc ld[] = {
	    {"main.waitAll", "/src/lib/wait.go", 9, G_CHAN_RECV, "main.intentional", 0, 0, false},
	    {"main.waitAll", "/src/lib/wait.go", 9, G_CHAN_RECV, "main.deltaLeak", 0, 0, false},
	};
	int64_t a, b, g, d;
	const struct suspect *s;
	struct stack_totals tot = {0};
	bool beta_seen = false;
	struct ranking r;

	ck_assert_msg(cfg != NULL, "config: %s", errs.n ? errs.msgs[0] : "?");
	config_errors_release(&errs);
	b = target(st, "beta", "http://10.0.0.2:6060");
	a = target(st, "alpha", "http://10.0.0.1:6060");
	g = target(st, "gamma", "http://10.0.0.3:6060");
	d = target(st, "delta", "http://10.0.0.4:6060");
	for (int i = 0; i < 12; i++) {
		la[0].count = 5 + 10 * (uint64_t)i;
		lg[0].count = 5 + 10 * (uint64_t)i;
		lg[1].count = 20 + (uint64_t)(i % 2);
		ld[0].count = 5 + 10 * (uint64_t)i;
		ld[1].count = 5 + 5 * (uint64_t)i;
		scrape(st, b, T0 + i * MIN, lb, 1, FMT_D1, false);
		scrape(st, a, T0 + i * MIN + 1000, la, 2, FMT_D1, false);
		scrape(st, g, T0 + i * MIN + 2000, lg, 2, FMT_D2, false);
		scrape(st, d, T0 + i * MIN + 3000, ld, 2, FMT_D1, false);
	}
	ck_assert_int_eq(detect_run(st, cfg, NULL, T0 + 12 * MIN), 0);
	ck_assert_int_eq(store_ranking_load(st, NULL, 0, &r), 0);
	ck_assert_int_eq(r.n, 2);
	for (size_t i = 0; i < r.n; i++)
		ck_assert_str_eq(r.suspects[i].function, "main.waitAll");
	s = strcmp(r.suspects[0].service, "alpha") == 0 ? &r.suspects[0] : &r.suspects[1];
	ck_assert_str_eq(s->service, "alpha");
	ck_assert_int_gt(s->stack_id, 0);
	ck_assert_ptr_nonnull(strstr(s->stack_json, "main.alphaLeaky"));
	ck_assert_ptr_null(strstr(s->stack_json, "main.betaHandler"));
	ck_assert_msg(strstr(s->explanation, "grows through main.alphaLeaky, 1 of 2 call stacks"),
	              "%s", s->explanation);
	s = s == &r.suspects[0] ? &r.suspects[1] : &r.suspects[0];
	ck_assert_str_eq(s->service, "delta");
	ck_assert_ptr_nonnull(strstr(s->stack_json, "main.deltaLeak"));
	ck_assert_msg(strstr(s->explanation, "grows through main.deltaLeak"), "%s", s->explanation);
	/* Five call sites at this location (gamma's debug=2 dumps show the op, so theirs is
	 * another); beta's, the location's representative stack, is stored as no call site of its
	 * own (its samples stand for it): 30 goroutines in each of 12 scrapes. */
	ck_assert_int_eq(store_each_stack_sample(st, s->location_id, 0, add_stack_total, &tot), 0);
	ck_assert_uint_eq(tot.n, 5);
	for (size_t i = 0; i < tot.n; i++)
		beta_seen |= tot.total[i] == 30 * 12;
	ck_assert(beta_seen);
	ranking_release(&r);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* Only the window counts: growth long ago is out of a short window; minimums hold (min_scrapes,
 * min_count). */
START_TEST(test_window_and_minimums)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t tid = target(st, "win", "http://10.0.0.1:6060");
	struct gen_loc locs[] = {
	    {"main.grewEarly", "/src/w/e.go", 1, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.small", "/src/w/s.go", 2, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.late", "/src/w/l.go", 3, G_CHAN_SEND, NULL, 0, 0, false},
	};
	struct ranking r;

	for (int i = 0; i < 60; i++) {
		locs[0].count = i < 30 ? 10 + 5 * (uint64_t)i : 10 + 5 * 29;
		locs[1].count = 1 + (uint64_t)i / 8; /* 1 .. 8: always under min_count 10 */
		locs[2].count =
		    i < 30 ? 0 : 20 * (uint64_t)(i - 29); /* 0 for 30 scrapes, then grows over 30 */
		scrape(st, tid, T0 + i * MIN, locs, 3, FMT_D1, false);
	}
	/* 6 h window: the early growth is still there (and the flat stretch is shorter than 3x the
	 * rise). */
	rank(st, cfg, NULL, T0 + 60 * MIN, &r);
	ck_assert_int_gt(rank_of(&r, "main.grewEarly"), 0);
	ck_assert_int_eq(rank_of(&r, "main.small"), 0);
	ck_assert_int_gt(rank_of(&r, "main.late"), 0);
	ranking_release(&r);
	/* 20 min window: only the flat part of grewEarly is inside. */
	cfg->detector.window = 20 * 60;
	rank(st, cfg, NULL, T0 + 60 * MIN, &r);
	ck_assert_int_eq(rank_of(&r, "main.grewEarly"), 0);
	ck_assert_int_gt(rank_of(&r, "main.late"), 0);
	ranking_release(&r);
	/* A rise after a quiet stretch has the shape of slow requests piling up, or of a
	 * downstream outage: after 30 quiet scrapes it counts once it has been there for 20 (from
	 * minute 30 on: at minute 49), which is longer than 2 x min_scrapes and than half the
	 * quiet. */
	cfg->detector.window = 6 * 3600;
	rank(st, cfg, NULL, T0 + 48 * MIN, &r);
	ck_assert_int_eq(rank_of(&r, "main.late"), 0);
	ranking_release(&r);
	rank(st, cfg, NULL, T0 + 49 * MIN, &r);
	ck_assert_int_gt(rank_of(&r, "main.late"), 0);
	ranking_release(&r);
	/* min_scrapes 10: up-steps spread over eighteen scrapes are not enough; min_count 5 lets
	 * the small one in. */
	cfg->detector.min_scrapes = 10;
	cfg->detector.min_count = 5;
	rank(st, cfg, NULL, T0 + 46 * MIN, &r);
	ck_assert_int_eq(rank_of(&r, "main.late"), 0);
	ck_assert_int_gt(rank_of(&r, "main.small"), 0);
	ranking_release(&r);
	rank(st, cfg, NULL, T0 + 49 * MIN, &r);
	ck_assert_int_gt(rank_of(&r, "main.late"), 0);
	ranking_release(&r);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* Two of three instances grow from 6 and 6 to 24,105 each: the explanation says so in a service
 * owner's words, with the ages of the latest debug=2 detail scrape; detect_run stores the same
 * ranking. */
START_TEST(test_explanation_spread_ages)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t t[3];
	struct gen_loc l = {"main.fanout", "/src/f/f.go", 77, G_CHAN_SEND, NULL, 0, 0, false};
	struct gen_loc d = {"main.fanout", "/src/f/f.go", 77, G_CHAN_SEND, NULL, 3, 340, false};
	struct ranking r, saved;
	const struct suspect *s;

	targets(st, "fan", t, 3);
	for (int i = 0; i <= 360; i += 5) {
		for (int k = 0; k < 3; k++) {
			l.count = k == 2 ? 40 : 6 + (uint64_t)(24099.0 * i / 360);
			scrape(st, t[k], T0 + i * MIN, &l, 1, FMT_D1, false);
		}
	}
	scrape(st, t[0], T0 + 355 * MIN + 2000, &d, 1, FMT_D2, true);
	rank(st, cfg, NULL, T0 + 360 * MIN, &r);
	ck_assert_int_eq(r.n, 1);
	s = &r.suspects[0];
	ck_assert_int_eq(s->instances_growing, 2);
	ck_assert_int_eq(s->instances_total, 3);
	ck_assert_int_eq(s->current_count, 2 * 24105 + 40);
	ck_assert_int_eq(s->max_instance_count, 24105);
	ck_assert_int_eq(s->oldest_wait_minutes, 340);
	ck_assert_msg(strcmp(s->explanation,
	                     "grew 12 → 48,210 in 6 h on 2/3 instances (+8.0k/h, 100% of steps "
	                     "not down), oldest blocked 340 min") == 0,
	              "explanation: %s", s->explanation);
	{
		json_t *sp = json_loads(s->sparkline_json, 0, NULL);

		ck_assert(json_is_array(sp));
		ck_assert_int_eq(json_array_size(sp), 30);
		ck_assert_int_eq(json_number_value(json_array_get(sp, 29)), 2 * 24105 + 40);
		ck_assert(json_number_value(json_array_get(sp, 0)) <
		          json_number_value(json_array_get(sp, 15)));
		json_decref(sp);
	}
	ranking_release(&r);

	ck_assert_int_eq(detect_run(st, cfg, NULL, T0 + 360 * MIN), 0);
	ck_assert_int_eq(store_ranking_load(st, NULL, 0, &saved), 0);
	ck_assert_int_eq(saved.n, 1);
	ck_assert_str_eq(saved.suspects[0].function, "main.fanout");
	ck_assert_int_eq(saved.window_seconds, 6 * 3600);
	ranking_release(&saved);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* More evidence never lowers the score: the same leak on more instances, or growing faster, scores
 * higher. */
START_TEST(test_score_monotone)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(6 * 3600, 4, 10);
	int64_t t[3];
	struct gen_loc l[] = {
	    {"main.wide", "/src/m/w.go", 1, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.narrow", "/src/m/n.go", 2, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.fast", "/src/m/f.go", 3, G_CHAN_SEND, NULL, 0, 0, false},
	};
	struct ranking r;

	targets(st, "mono", t, 3);
	for (int i = 0; i < 20; i++) {
		for (int k = 0; k < 3; k++) {
			l[0].count = 10 + 10 * (uint64_t)i;
			l[1].count = k == 0 ? 10 + 10 * (uint64_t)i : 50;
			l[2].count = k == 0 ? 10 + 1000 * (uint64_t)i : 50;
			scrape(st, t[k], T0 + i * MIN, l, 3, FMT_D1, false);
		}
	}
	rank(st, cfg, NULL, T0 + 20 * MIN, &r);
	ck_assert_int_eq(r.n, 3);
	ck_assert(find(&r, "main.wide")->score > find(&r, "main.narrow")->score);
	ck_assert(find(&r, "main.fast")->score > find(&r, "main.narrow")->score);
	ck_assert_int_eq(find(&r, "main.narrow")->instances_growing, 1);
	ck_assert_int_eq(find(&r, "main.wide")->instances_growing, 3);
	ranking_release(&r);
	config_unref(cfg);
	db_free(st);
}
END_TEST

/* A window holding no scrape (an empty database, a window shorter than the scrape interval, a
 * known service never scraped) ranks nothing, without error and without handing qsort or bsearch
 * a NULL array (UBSan: nonnull-attribute). */
START_TEST(test_empty_window)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(3600, 4, 10);
	int64_t tid;
	struct gen_loc locs[] = {
	    {"main.grows", "/src/e/g.go", 1, G_CHAN_SEND, NULL, 0, 0, false},
	};
	struct ranking r;

	rank(st, cfg, NULL, T0, &r);
	ck_assert_uint_eq(r.n, 0);
	ranking_release(&r);
	ck_assert_int_eq(detect_run(st, cfg, NULL, T0), 0);
	tid = target(st, "empty", "http://10.0.0.2:6060");
	for (int i = 0; i < 10; i++) {
		locs[0].count = 10 + 10 * (uint64_t)i;
		scrape(st, tid, T0 + i * MIN, locs, 1, FMT_D1, false);
	}
	/* a 1 s window, 30 s after the last scrape */
	ck_assert_int_eq(detect_rank(st, cfg, NULL, 1, T0 + 9 * MIN + 30000, &r), 0);
	ck_assert_uint_eq(r.n, 0);
	ranking_release(&r);
	target(st, "idle", "http://10.0.0.3:6060");
	ck_assert_int_eq(detect_rank(st, cfg, "idle", 3600, T0 + 10 * MIN, &r), 0);
	ck_assert_uint_eq(r.n, 0);
	ranking_release(&r);
	/* the whole hour still ranks the leak */
	rank(st, cfg, NULL, T0 + 10 * MIN, &r);
	ck_assert_int_gt(rank_of(&r, "main.grows"), 0);
	ranking_release(&r);
	ck_assert_int_eq(detect_run(st, cfg, NULL, T0 + 10 * MIN), 0);
	config_unref(cfg);
	db_free(st);
}
END_TEST

START_TEST(test_fmt_rate)
{
	static const struct {
		double v;
		const char *plain, *sign;
	} cases[] = {
	    {8012.3, "8.0k", "+8.0k"},   {48210, "48k", "+48k"},     {120, "120", "+120"},
	    {0.4, "0.4", "+0.4"},        {2500000, "2.5M", "+2.5M"}, {-5, "-5.0", "-5.0"},
	    {9999.9, "10.0k", "+10.0k"},
	};
	char buf[32];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		detect_fmt_rate(buf, sizeof(buf), cases[i].v, false);
		ck_assert_str_eq(buf, cases[i].plain);
		detect_fmt_rate(buf, sizeof(buf), cases[i].v, true);
		ck_assert_str_eq(buf, cases[i].sign);
	}
}
END_TEST

Suite *detect_suite(void);

/* The window kept between rankings (detect/window.h) on what it does not hold the usual way: a
 * target's scrape older than one it holds (it reads the window again), a target out of the
 * configuration, a window grown longer, a count past 32 bits, and a memory limit (the ranking
 * reads the store). rank() holds every ranking against the store's. */
/* ---- the runs' block summaries (detect/series.h) ---- */

static uint64_t runs_rng = 88172645463325252ULL;

static uint32_t
runs_rand(uint32_t n)
{
	runs_rng ^= runs_rng << 13;
	runs_rng ^= runs_rng >> 7;
	runs_rng ^= runs_rng << 17;
	return (uint32_t)(runs_rng % n);
}

/* A series' counts at 'len' scrapes: holds, steps, tall levels held for long and steep falls. */
static void
runs_random(uint32_t *c, size_t len)
{
	uint32_t v = runs_rand(40);

	for (size_t j = 0; j < len; j++) {
		switch (runs_rand(32)) {
		case 0:
			v = runs_rand(3); /* a steep fall, or a start */
			break;
		case 1:
		case 2:
			v = 10 + runs_rand(200);
			break;
		case 3:
		case 4:
		case 5:
			v += runs_rand(5);
			break;
		case 6:
		case 7:
			v -= v > 3 ? runs_rand(3) : 0;
			break;
		default:
			break; /* held */
		}
		c[j] = runs_rand(50) ? v : 0; /* absent now and then */
	}
}

/* What a range says, with the blocks and run by run, where a lifetime resets, and which run
 * holds a scrape. */
static void
runs_compare(const struct runs *fast, size_t scrapes, unsigned *resets)
{
	struct runs slow = runs_view(fast->r, fast->n, fast->base, NULL, 0);

	for (int q = 0; q < 40; q++) {
		size_t j = runs_rand((uint32_t)scrapes), k = 0;

		while (k + 1 < fast->n && runs_start(fast, k + 1) <= j)
			k++;
		ck_assert_uint_eq(runs_find(fast, j), k);
		ck_assert_uint_eq(runs_find_from(fast, runs_rand((uint32_t)k + 1), j), k);
	}
	for (int q = 0; q < 40; q++) {
		size_t ka = runs_rand((uint32_t)fast->n),
		       kb = ka + runs_rand((uint32_t)(fast->n - ka));
		size_t start = runs_rand((uint32_t)scrapes);
		size_t end = start + 1 + runs_rand((uint32_t)(scrapes - start));
		struct runs_sum a, b;
		size_t ra, rb;

		runs_sum(fast, ka, kb, &a);
		runs_sum(&slow, ka, kb, &b);
		ck_assert_uint_eq(a.max, b.max);
		ck_assert_uint_eq(a.min, b.min);
		ck_assert_uint_eq(a.drop, b.drop);
		ck_assert_uint_eq(a.minlast, b.minlast);
		ck_assert_uint_eq(a.ups, b.ups);
		ck_assert_uint_eq(a.downs, b.downs);
		ck_assert_uint_eq(a.first_up, b.first_up);
		ck_assert_uint_eq(a.last_up, b.last_up);
		ra = runs_reset(fast, start, end);
		rb = runs_reset(&slow, start, end);
		ck_assert_uint_eq(ra, rb);
		*resets += ra != end;
	}
}

/* Where a kept sum of lifetimes goes on (life_fold_resume()): scrapes numbered from 1000, the
 * sum made of [10, 40) with min_scrapes 4, restarts at 20 and 40. */
START_TEST(test_life_fold)
{
	struct life_fold f = {.from = 1010, .to = 1040, .min_scrapes = 4};
	size_t ends[] = {20, 40, 55, 70}, moved[] = {22, 40, 55, 70}, more[] = {20, 30, 40, 70};
	size_t shifted[] = {30, 50, 65, 80};
	uint64_t h, want;

	f.ends = life_fold_hash(life_fold_hash(HASH_FNV1A_INIT, 1020), 1040);
	/* all of it, then its start and more that ended since */
	ck_assert_uint_eq(life_fold_resume(&f, 1000, 10, 40, 4, ends, 4, &h), 40);
	ck_assert_uint_eq(life_fold_resume(&f, 1000, 10, 55, 4, ends, 4, &h), 40);
	ck_assert(h == f.ends);
	/* the same scrapes numbered otherwise */
	ck_assert_uint_eq(life_fold_resume(&f, 990, 20, 65, 4, shifted, 4, &h), 50);
	/* of no use */
	want = HASH_FNV1A_INIT;
	ck_assert_uint_eq(life_fold_resume(NULL, 1000, 10, 55, 4, ends, 4, &h), 10);
	ck_assert_uint_eq(life_fold_resume(&f, 1000, 12, 55, 4, ends, 4, &h), 12);
	ck_assert_uint_eq(life_fold_resume(&f, 1000, 10, 55, 6, ends, 4, &h), 10);
	ck_assert_uint_eq(life_fold_resume(&f, 1000, 10, 55, 4, moved, 4, &h), 10);
	ck_assert_uint_eq(life_fold_resume(&f, 1000, 10, 70, 4, more, 4, &h), 10);
	ck_assert_uint_eq(life_fold_resume(&f, 1000, 10, 30, 4, more, 4, &h), 10);
	ck_assert(h == want);
}
END_TEST

START_TEST(test_runs_blocks)
{
	enum { LEN = 1500 };
	uint32_t *c = malloc(LEN * sizeof(*c));
	struct count_run *arr = malloc(LEN * sizeof(*arr));
	unsigned resets = 0, views = 0, blocked = 0;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(arr);
	for (int round = 0; round < 150; round++) {
		size_t len = 1 + runs_rand(LEN), n = 0, head = 0;
		struct runs s = {0};
		struct runs_index ix = {0};

		runs_random(c, len);
		/* owned, as the store's walk builds them */
		for (size_t j = 0; j < len; j++)
			ck_assert_int_eq(runs_set(&s, j, c[j]), 0);
		ck_assert_int_eq(runs_end(&s, len), 0);
		/* blocks once there are enough runs for one */
		ck_assert(s.n >= RUNS_BLOCK ? s.blocks != NULL : s.blocks == NULL);
		runs_compare(&s, len, &resets);
		/* kept as the window keeps them: the first runs leave, whole blocks are dropped
		 * from the array's front; views start at the window's first scrape */
		for (size_t j = 0; j < len; j++) {
			if (n > 0 && arr[n - 1].v == c[j])
				continue;
			arr[n] = (struct count_run){.at = (uint32_t)j, .v = c[j]};
			ck_assert_int_eq(runs_index_push(&ix, arr, n), 0);
			n++;
			if (runs_rand(4) == 0 && head + 1 < n)
				head += 1 + runs_rand((uint32_t)(n - head - 1));
			if (runs_rand(8) == 0 && head >= RUNS_BLOCK) {
				size_t drop = head / RUNS_BLOCK * RUNS_BLOCK;

				memmove(arr, arr + drop, (n - drop) * sizeof(*arr));
				runs_index_drop(&ix, drop / RUNS_BLOCK);
				n -= drop;
				head -= drop;
			}
			if (runs_rand(16) == 0) {
				uint32_t base = arr[head].at;
				struct runs v;

				if (head + 1 < n)
					base += runs_rand(arr[head + 1].at - arr[head].at);
				v = runs_view(arr + head, n - head, base, runs_blocks(&ix, n),
				              head);
				/* (fewer runs than a block are left with one after a drop) */
				ck_assert(n < RUNS_BLOCK || v.blocks != NULL);
				blocked += v.blocks != NULL;
				runs_compare(&v, j + 1 - base, &resets);
				views++;
			}
		}
		runs_index_release(&ix);
		runs_release(&s);
	}
	/* the data reached what is compared */
	ck_assert_uint_gt(resets, 100);
	ck_assert_uint_gt(views, 1000);
	ck_assert_uint_gt(blocked, 500);
	free(arr);
	free(c);
}
END_TEST

/* What the window keeps of lifetimes that ended: found by where they start and end, kept in
 * order, forgotten as the window leaves them, bounded. */
START_TEST(test_window_edges)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(3600, 4, 10);
	int64_t t[3];
	struct gen_loc l[2] = {
	    {"main.grows", "/src/w/w.go", 5, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.pool", "/src/w/p.go", 9, G_CHAN_RECV, NULL, 30, 0, false},
	};
	struct window_stats ws;
	struct ranking r;

	targets(st, "w", t, 3);
	for (int i = 0; i < 40; i++) {
		for (int k = 0; k < 3; k++) {
			l[0].count = 10 + (uint64_t)(i * (k + 1));
			scrape(st, t[k], T0 + i * MIN + k * 1000, l, 2, FMT_D1, false);
		}
		if (i % 10 == 9) {
			rank(st, cfg, NULL, T0 + i * MIN + 5000, &r);
			ck_assert_int_eq(rank_of(&r, "main.grows"), 1);
			ranking_release(&r);
		}
	}
	window_stats(test_window, &ws);
	ck_assert_uint_eq(ws.targets, 3);
	ck_assert_uint_eq(ws.reloads, 1);
	/* a scrape of t[0] older than its latest: read again, still the same ranking */
	l[0].count = 48;
	scrape(st, t[0], T0 + 39 * MIN - 30000, l, 2, FMT_D1, false);
	rank(st, cfg, NULL, T0 + 40 * MIN, &r);
	ranking_release(&r);
	window_stats(test_window, &ws);
	ck_assert_uint_eq(ws.reloads, 2);
	/* t[2] out of the configuration; a longer window (read again) */
	ck_assert_int_eq(store_targets_set_active(st, t, 2), 0);
	rank(st, cfg, NULL, T0 + 41 * MIN, &r);
	ranking_release(&r);
	cfg->detector.window = 7200;
	rank(st, cfg, NULL, T0 + 42 * MIN, &r);
	ranking_release(&r);
	window_stats(test_window, &ws);
	ck_assert_uint_eq(ws.reloads, 3);
	/* a count no process holds: held as UINT32_MAX both ways (detect/series.h) */
	l[0].count = 10 + 43 * 2;
	l[1].count = 5000000000ULL;
	scrape(st, t[1], T0 + 43 * MIN, l, 2, FMT_D1, false);
	rank(st, cfg, NULL, T0 + 43 * MIN + 5000, &r);
	ck_assert_int_eq(rank_of(&r, "main.grows"), 1);
	ranking_release(&r);
	/* a memory limit it cannot keep within: the store, and nothing held */
	cfg->detector.window_memory = 4096;
	rank(st, cfg, NULL, T0 + 44 * MIN, &r);
	ck_assert_int_eq(rank_of(&r, "main.grows"), 1);
	ranking_release(&r);
	window_stats(test_window, &ws);
	ck_assert_uint_eq(ws.targets, 0);
	ck_assert_uint_eq(ws.series, 0);
	config_unref(cfg);
	db_free(st);
}
END_TEST

static int interrupt_after; /* progress callbacks left before an interrupt; < 0: never */
static int callbacks;

static int
count_or_interrupt(void *arg)
{
	(void)arg;
	callbacks++;
	return interrupt_after >= 0 && --interrupt_after < 0;
}

/* A read of what is new that fails part-way (here an interrupt near its end, as a stopping
 * daemon's or a database error's) keeps the whole scrapes it applied: the next ranking reads on
 * from them, not the whole window again, and ranks as the store does. */
START_TEST(test_window_read_fails)
{
	struct store *st = db_new();
	struct config *cfg = cfg_new(3600, 4, 10);
	struct window *twin = window_new();
	struct window_stats ws;
	struct ranking r;
	int64_t t[3];
	struct gen_loc l[2] = {
	    {"main.grows", "/src/w/w.go", 5, G_CHAN_SEND, NULL, 0, 0, false},
	    {"main.pool", "/src/w/p.go", 9, G_CHAN_RECV, NULL, 30, 0, false},
	};
	int64_t now = T0;
	int total;

	ck_assert_ptr_nonnull(twin);
	targets(st, "w", t, 3);
	for (int i = 0; i < 60; i++) {
		if (i == 20) {
			/* both windows hold the first 20 rounds */
			rank(st, cfg, NULL, now, &r);
			ranking_release(&r);
			ck_assert_int_eq(window_update(twin, st, now - 3600000, now, 1 << 30), 0);
		}
		for (int k = 0; k < 3; k++) {
			l[0].count = 10 + (uint64_t)(i * (k + 1));
			l[1].count = 30 + (uint64_t)(i % 3);
			scrape(st, t[k], T0 + i * MIN + k * 1000, l, 2, FMT_D1, false);
		}
		now = T0 + i * MIN + 5000;
	}
	/* how many progress callbacks reading the 40 new rounds takes, on the twin: SQLite's every
	 * 20 steps, PostgreSQL's at each row (db_set_interrupt()) */
	interrupt_after = -1;
	callbacks = 0;
	if (store_db(st) != NULL)
		sqlite3_progress_handler(store_db(st), 20, count_or_interrupt, NULL);
	else
		db_set_interrupt(store_dbh(st), count_or_interrupt, NULL);
	ck_assert_int_eq(window_update(twin, st, now - 3600000, now, 1 << 30), 0);
	total = callbacks;
	ck_assert_int_gt(total, 10);
	/* the same read, interrupted near its end */
	interrupt_after = total - 3;
	ck_assert_int_eq(detect_rank_window(st, cfg, test_window, 3600, now, &r), -1);
	ck_assert(query_interrupted(st));
	if (store_db(st) != NULL)
		sqlite3_progress_handler(store_db(st), 0, NULL, NULL);
	else
		db_set_interrupt(store_dbh(st), NULL, NULL);
	rank(st, cfg, NULL, now, &r);
	ck_assert_int_eq(rank_of(&r, "main.grows"), 1);
	ranking_release(&r);
	window_stats(test_window, &ws);
	ck_assert_uint_eq(ws.reloads, 1);
	window_free(twin);
	config_unref(cfg);
	db_free(st);
}
END_TEST

Suite *
detect_suite(void)
{
	Suite *s = suite_create("detect");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_fmt_rate);
	tcase_add_test(tc, test_runs_blocks);
	tcase_add_test(tc, test_life_fold);
	tcase_add_test(tc, test_steady_leak_ranks_first_benign_never);
	tcase_add_test(tc, test_flat_pool_never);
	tcase_add_test(tc, test_burst_and_startup_never);
	tcase_add_test(tc, test_slow_leak);
	tcase_add_test(tc, test_restarts);
	tcase_add_test(tc, test_restarts_fast_no_gap);
	tcase_add_test(tc, test_restarts_slow_no_gap);
	tcase_add_test(tc, test_restarts_unseen);
	tcase_add_test(tc, test_replaced_instance_leaves);
	tcase_add_test(tc, test_failing_instance_leaves);
	tcase_add_test(tc, test_deploys_stand_in_and_fix);
	tcase_add_test(tc, test_deploy_rise_since_current_lifetime);
	tcase_add_test(tc, test_restart_markers_are_lifetimes);
	tcase_add_test(tc, test_flat_instances);
	tcase_add_test(tc, test_window_cut_lifetime);
	tcase_add_test(tc, test_window_cut_tail);
	tcase_add_test(tc, test_window_cut_reset);
	tcase_add_test(tc, test_window_ended_lifetimes);
	tcase_add_test(tc, test_noise_never);
	tcase_add_test(tc, test_warm_up_never);
	tcase_add_test(tc, test_bursts_remembered);
	tcase_add_test(tc, test_outage_never);
	tcase_add_test(tc, test_confirmed_first);
	tcase_add_test(tc, test_ignore_rules);
	tcase_add_test(tc, test_call_sites);
	tcase_add_test(tc, test_call_sites_read_only_when_stored);
	tcase_add_test(tc, test_window_and_minimums);
	tcase_add_test(tc, test_explanation_spread_ages);
	tcase_add_test(tc, test_score_monotone);
	tcase_add_test(tc, test_empty_window);
	tcase_add_test(tc, test_window_edges);
	tcase_add_test(tc, test_window_read_fails);
	suite_add_tcase(s, tc);
	return s;
}
