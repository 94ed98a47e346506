/* tests/eval/fleetsim.c: simulated fleets in simulated time (see fleetsim.h).
 *
 * One run: a temp-file database written only through the daemon's ingest queue (ingest_new() on a
 * read-write connection, ingest_push_register(), ingest_push_active(), ingest_push_scrape(),
 * ingest_run_queued()), the detector ranking on a second connection as the daemon's detector
 * thread does, and, when asked, the real alerter thread on a third. Time is simulated: every
 * scrape carries its simulated start, and the detector ranks "as of" a simulated now, so a day of
 * one-minute scrapes takes seconds.
 *
 * The fleet model: traffic follows a daily cycle (10% of the peak at midnight, the peak at noon);
 * requests create goroutines, so the goroutine ids of a process grow with its traffic. Leaks grow
 * with traffic too (Poisson), in the instances whose build leaks. A crash restart takes downtime_s
 * during which scrapes find no process ("connect refused"); the new process starts with fresh
 * pools, no leaked goroutines, small goroutine ids, and the scraper's kept-alive connection gone.
 * Deploys replace every instance by new ones on new addresses (the old targets leave the active
 * set) or restart them in place; autoscaling adds and removes instances with the traffic. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "collector/profile.h"
#include "collector/scrape.h"
#include "daemon/ingest.h"
#include "detect/alert.h"
#include "detect/detect.h"
#include "detect/window.h"
#include "storage/query.h"
#include "storage/store.h"
#include "storage/store_internal.h"
#include "tests/eval/fleetsim.h"

#define T0 1790121600000LL /* a midnight, UTC (ms) */
#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)
#define INTERVAL_MS 60000LL
#define WINDOW_S (6 * 3600)
#define MIN_SCRAPES 4
#define MIN_COUNT 10
#define CHECK_EVERY_MS (30 * 60000LL)
#define DETAIL_MAX_GOROUTINES 10000
#define EXPECT_RISE 3           /* the detector's DETECT_EXPECT_RISE */
#define MAX_ROUNDS_FOLLOWED 360 /* rounds ranked one by one after a leak's start or a fix */

/* ---- randomness ---- */

struct rng {
	uint64_t s;
};

static uint64_t
rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545F4914F6CDD1DULL;
}

static double
rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) / 9007199254740992.0;
}

static double
rng_gauss(struct rng *r)
{
	double u = rng_unit(r), v = rng_unit(r);

	return sqrt(-2 * log(u > 1e-300 ? u : 1e-300)) * cos(2 * M_PI * v);
}

static uint64_t
rng_poisson(struct rng *r, double lambda)
{
	if (lambda <= 0)
		return 0;
	if (lambda < 30) {
		double l = exp(-lambda), p = 1;
		uint64_t k = 0;

		do {
			k++;
			p *= rng_unit(r);
		} while (p > l);
		return k - 1;
	}
	lambda += sqrt(lambda) * rng_gauss(r);
	return lambda > 0 ? (uint64_t)(lambda + 0.5) : 0;
}

static double
rng_exp(struct rng *r, double mean)
{
	return -mean * log(1 - rng_unit(r));
}

/* The daily traffic cycle: 0.1 at midnight, 1 at noon. */
static double
traffic(int64_t t)
{
	double day = (double)((t - T0) % DAY_MS) / (double)DAY_MS;

	return 0.55 - 0.45 * cos(2 * M_PI * day);
}

/* ---- the fleet ---- */

struct inst {
	int64_t id; /* the target's id in the daemon's registry sense */
	char url[64];
	int slot;   /* the service's n-th instance */
	bool leaky; /* its build leaks at the FK_LEAK location */
	int64_t phase;
	int64_t proc_start; /* the process runs from here on */
	int64_t down_until; /* no process listens before this */
	int64_t next_crash;
	int64_t last_ms; /* its state is advanced to here */
	int64_t last_scrape;
	int64_t last_ok_start; /* the process start its last successful scrape saw */
	uint64_t goid;         /* goroutines the process created */
	bool conn;             /* the scraper keeps a connection to it */
	uint32_t failures;
	unsigned nscrapes;
	uint64_t leaked;
	double swell[FLEET_MAX_LOCS]; /* FK_SWELL: the elastic pool's size */
	double burst_h[FLEET_MAX_LOCS];
	int burst_len[FLEET_MAX_LOCS], burst_left[FLEET_MAX_LOCS];
	uint64_t burst_cur[FLEET_MAX_LOCS];
};

struct svc {
	const struct fleet_service *spec;
	int index;
	struct inst *v;
	size_t n, cap;
	int next_slot;
	int64_t next_deploy;
	bool build_leaks;
	bool fixed_deployed, leak_deployed;
	int64_t outage_start, outage_end, next_outage;
	double outage_h;
};

/* A leaking (service, location) and what was seen of it. */
struct leak {
	int svc;
	char function[64];
	int64_t from, until; /* it leaks in [from, until) */
	int64_t due;         /* from then on it must be ranked */
	int64_t grace;       /* after 'until', it may still be ranked this long */
	bool detected;
	int first_rank1; /* rounds; -1 not yet */
	int fix_rounds;
	int64_t location_id;
};

/* A successful scrape that followed a restart of its process. */
struct restart_seen {
	char url[64];
	int64_t ts;
	bool found;
};

struct run {
	const struct fleet_scenario *sc;
	struct restart_seen *restarts;
	size_t nrestarts, caprestarts;
	struct rng rng;
	struct config *cfg;
	char path[4096];
	struct ingest *in;
	struct store *st; /* the detector's connection */
	struct alerter *alert;
	struct svc svcs[FLEET_MAX_SERVICES];
	struct leak leaks[FLEET_MAX_SERVICES];
	size_t nleaks;
	int64_t next_id;
	bool active_changed;
	struct fleet_result *res;
	struct sbuf text;
	double rank_ms_sum;
	unsigned nranks;
	struct window *win; /* the detector's window kept between checkpoints */
};

static const char *const kind_fn[] = {
    [FK_LEAK] = "leakyHandler", [FK_POOL] = "poolWorker",       [FK_SWELL] = "elasticWorker",
    [FK_BURST] = "slowRequest", [FK_OUTAGE] = "downstreamCall", [FK_JITTER] = "jitterWorker",
    [FK_FEW] = "fewWatchers",   [FK_ONCE] = "startOnce",        [FK_STARTUP] = "warmPool",
    [FK_LONGPOLL] = "longPoll", [FK_IO] = "connReader",         [FK_SLEEP] = "ticker",
};

static void
loc_function(const struct fleet_service *s, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "main.%s%zu", kind_fn[s->locs[i].kind], i);
}

static uint64_t
pool_total(const struct fleet_service *s)
{
	uint64_t n = 0;

	for (size_t i = 0; i < s->nlocs; i++)
		if (s->locs[i].kind == FK_POOL || s->locs[i].kind == FK_SLEEP)
			n += (uint64_t)s->locs[i].a;
	return n;
}

/* A new process of 'x' starting at 'start'. */
static void
proc_start(const struct svc *s, struct inst *x, int64_t start)
{
	x->proc_start = start;
	x->last_ms = start;
	x->goid = 12 + pool_total(s->spec);
	x->conn = false;
	x->leaked = 0;
	for (size_t i = 0; i < s->spec->nlocs; i++) {
		x->swell[i] = s->spec->locs[i].a * 0.3;
		x->burst_left[i] = 0;
		x->burst_cur[i] = 0;
	}
}

static void
schedule_crash(struct run *r, const struct svc *s, struct inst *x, int64_t after)
{
	double per_day = s->spec->crash_per_day;

	x->next_crash =
	    per_day > 0 ? after + (int64_t)rng_exp(&r->rng, (double)DAY_MS / per_day) : INT64_MAX;
}

static bool
slot_leaks(const struct svc *s, int slot)
{
	double share = s->spec->leak_share;

	/* spread evenly over slots: slot k leaks when its share bucket turns over */
	return share >= 1 || floor((slot + 1) * share) > floor(slot * share);
}

static struct inst *
inst_add(struct run *r, struct svc *s, int64_t t)
{
	struct inst *x;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			abort();
	}
	x = &s->v[s->n++];
	memset(x, 0, sizeof(*x));
	x->id = ++r->next_id;
	x->slot = s->next_slot++;
	snprintf(x->url, sizeof(x->url), "http://10.%d.%d.%d:6060", s->index + 1,
	         (int)(x->id / 250) % 250, (int)(x->id % 250) + 1);
	x->leaky = s->build_leaks && slot_leaks(s, x->slot);
	x->phase = (int64_t)(rng_next(&r->rng) % (uint64_t)(INTERVAL_MS - 5000));
	x->down_until = t;
	proc_start(s, x, t);
	schedule_crash(r, s, x, t);
	ingest_push_register(r->in, x->id, s->spec->name, x->url, "{}");
	r->active_changed = true;
	return x;
}

static void
inst_remove(struct run *r, struct svc *s, size_t k)
{
	s->v[k] = s->v[--s->n];
	r->active_changed = true;
}

/* Leaked goroutines and goroutine ids from last_ms to 't' in a running process. */
static void
accumulate(struct run *r, const struct svc *s, struct inst *x, int64_t t)
{
	double h, tr;

	if (t <= x->last_ms)
		return;
	h = (double)(t - x->last_ms) / (double)HOUR_MS;
	tr = traffic(x->last_ms + (t - x->last_ms) / 2);
	for (size_t i = 0; i < s->spec->nlocs; i++) {
		if (s->spec->locs[i].kind == FK_LEAK && x->leaky) {
			uint64_t k = rng_poisson(&r->rng, s->spec->locs[i].a * tr * h);

			x->leaked += k;
			x->goid += k;
		}
	}
	/* requests: about 20 a second at the peak, a goroutine each */
	x->goid += rng_poisson(&r->rng, 72000.0 * tr * h);
	x->last_ms = t;
}

/* Bring 'x' to time 't': crashes on the way restart it. */
static void
advance(struct run *r, const struct svc *s, struct inst *x, int64_t t)
{
	while (x->next_crash <= t) {
		int64_t c = x->next_crash;

		if (c >= x->proc_start)
			accumulate(r, s, x, c);
		x->down_until = c + (int64_t)s->spec->downtime_s * 1000;
		proc_start(s, x, x->down_until);
		schedule_crash(r, s, x, c);
	}
	if (t >= x->proc_start)
		accumulate(r, s, x, t);
}

/* The count of location 'i' in 'x' at 't' (a scrape). */
static uint64_t
loc_count(struct run *r, struct svc *s, struct inst *x, size_t i, int64_t t)
{
	const struct fleet_loc *l = &s->spec->locs[i];
	double tr = traffic(t), age_min = (double)(t - x->proc_start) / 60000.0;
	uint64_t demand;

	switch (l->kind) {
	case FK_LEAK:
		return x->leaky ? x->leaked : 0;
	case FK_POOL:
		return (uint64_t)l->a - (rng_next(&r->rng) % 8 == 0 ? 1 : 0);
	case FK_SWELL: {
		double since =
		    (double)(t - (x->last_scrape > x->proc_start ? x->last_scrape : t)) / 60000.0;

		/* idle workers are reaped after a while; a busy moment grows the pool */
		demand = rng_poisson(&r->rng, l->a * tr);
		x->swell[i] *= pow(0.97, since);
		if (x->swell[i] < 1.2 * (double)demand + 2)
			x->swell[i] = 1.2 * (double)demand + 2;
		return (uint64_t)x->swell[i] - demand;
	}
	case FK_BURST:
		if (x->burst_left[i] == 0 && rng_unit(&r->rng) < l->b / 60.0) {
			x->burst_len[i] = 2 + (int)(rng_next(&r->rng) % 6);
			x->burst_left[i] = x->burst_len[i];
			x->burst_h[i] = l->a * (0.5 + 0.5 * rng_unit(&r->rng)) / x->burst_len[i];
			x->burst_cur[i] = 0;
		}
		if (x->burst_left[i] == 0)
			return 0;
		x->burst_left[i]--;
		/* slow requests pile up, and some finish anyway */
		x->burst_cur[i] += rng_poisson(&r->rng, x->burst_h[i] * 1.3);
		x->burst_cur[i] -= x->burst_cur[i] / 6;
		return x->burst_cur[i];
	case FK_OUTAGE:
		if (t < s->outage_start || t >= s->outage_end)
			return 0;
		return rng_poisson(&r->rng, s->outage_h * l->a * (0.3 + tr) *
		                                (double)(t - s->outage_start) /
		                                (double)(s->outage_end - s->outage_start));
	case FK_JITTER:
		return (uint64_t)l->a + rng_next(&r->rng) % 3 - 1;
	case FK_FEW:
		return (uint64_t)l->a;
	case FK_ONCE:
		return 1;
	case FK_STARTUP:
		return age_min >= l->b ? (uint64_t)l->a : (uint64_t)(l->a * age_min / l->b);
	case FK_LONGPOLL:
		return rng_poisson(&r->rng, l->a * tr);
	case FK_IO:
		return rng_poisson(&r->rng, l->a * tr) + (uint64_t)(l->a / 4);
	case FK_SLEEP:
		return (uint64_t)l->a;
	}
	return 0;
}

static void
restart_note(struct run *r, const struct inst *x, int64_t t)
{
	if (r->nrestarts == r->caprestarts) {
		r->caprestarts = r->caprestarts ? 2 * r->caprestarts : 256;
		r->restarts = realloc(r->restarts, r->caprestarts * sizeof(*r->restarts));
		if (!r->restarts)
			abort();
	}
	r->restarts[r->nrestarts] = (struct restart_seen){.ts = t};
	snprintf(r->restarts[r->nrestarts++].url, sizeof(r->restarts[0].url), "%s", x->url);
}

static int
cmp_restart_seen(const void *a, const void *b)
{
	const struct restart_seen *x = a, *y = b;
	int c = strcmp(x->url, y->url);

	return c ? c : (x->ts > y->ts) - (x->ts < y->ts);
}

/* FLEET_VERBOSE: a restart the ingest did not find, with the totals of the scrapes around it. */
static void
restart_missed(struct run *r, const struct restart_seen *m)
{
	static const char sql[] =
	    "SELECT s.ts, s.total_goroutines FROM scrapes s JOIN targets t ON t.id = s.target_id"
	    " WHERE t.url = ?1 AND s.ts BETWEEN ?2 - 180000 AND ?2 AND s.status = 'ok'"
	    " AND s.detail = 0 ORDER BY s.ts";
	sqlite3_stmt *stmt;

	fprintf(stderr, "fleet: %s: a restart not seen: %s at %.2f h, totals", r->sc->name, m->url,
	        (double)(m->ts - T0) / (double)HOUR_MS);
	if (sqlite3_prepare_v2(store_db(r->st), sql, -1, &stmt, NULL) == SQLITE_OK) {
		sqlite3_bind_text(stmt, 1, m->url, -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 2, m->ts);
		while (sqlite3_step(stmt) == SQLITE_ROW)
			fprintf(stderr, " %lld", (long long)sqlite3_column_int64(stmt, 1));
		sqlite3_finalize(stmt);
	}
	fputc('\n', stderr);
}

/* The lifetimes the ingest stored against the restarts that happened: how many it found, and how
 * many it stored where no process had restarted (with FLEET_VERBOSE, each miss and each false
 * one). */
static int
restarts_count(struct run *r)
{
	static const char sql[] =
	    "SELECT t.url, s.ts, s.restart, sv.name FROM scrapes s"
	    " JOIN targets t ON t.id = s.target_id JOIN services sv ON sv.id = t.service_id"
	    " WHERE s.restart IS NOT NULL AND s.restart != 'first'";
	struct fleet_result *res = r->res;
	bool verbose = getenv("FLEET_VERBOSE") != NULL;
	sqlite3_stmt *stmt;
	int rc;

	res->restarts = (unsigned)r->nrestarts;
	if (r->nrestarts > 1)
		qsort(r->restarts, r->nrestarts, sizeof(*r->restarts), cmp_restart_seen);
	if (sqlite3_prepare_v2(store_db(r->st), sql, -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct restart_seen key = {.ts = sqlite3_column_int64(stmt, 1)}, *hit = NULL;

		snprintf(key.url, sizeof(key.url), "%s",
		         (const char *)sqlite3_column_text(stmt, 0));
		if (r->nrestarts)
			hit =
			    bsearch(&key, r->restarts, r->nrestarts, sizeof(key), cmp_restart_seen);
		if (hit) {
			res->restarts_found++;
			hit->found = true;
			continue;
		}
		res->restarts_false++;
		if (verbose)
			fprintf(stderr,
			        "fleet: %s: a '%s' restart where none was: %s %s at %.2f h\n",
			        r->sc->name, (const char *)sqlite3_column_text(stmt, 2),
			        (const char *)sqlite3_column_text(stmt, 3), key.url,
			        (double)(key.ts - T0) / (double)HOUR_MS);
	}
	sqlite3_finalize(stmt);
	for (size_t i = 0; verbose && i < r->nrestarts; i++)
		if (!r->restarts[i].found)
			restart_missed(r, &r->restarts[i]);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- profiles as Go prints them ---- */

static void
frame1(struct sbuf *b, unsigned pc, const char *fn, const char *file, int line)
{
	sbuf_addf(b, "#\t0x%x\t%s+0x24\t%s:%d\n", pc, fn, file, line);
}

static void
gen_debug1(struct sbuf *b, const struct fleet_service *s, const uint64_t *cnt)
{
	uint64_t total = 8;
	char fn[64], file[96];

	for (size_t i = 0; i < s->nlocs; i++)
		total += cnt[i];
	sbuf_addf(b, "goroutine profile: total %" PRIu64 "\n", total);
	sbuf_addf(b, "1 @ 0x43b296 0x46b281\n");
	frame1(b, 0x43b295, "runtime/pprof.writeGoroutineStacks",
	       "/usr/lib/go-1.19/src/runtime/pprof/pprof.go", 692);
	sbuf_addf(b, "\n7 @ 0x43b297 0x46b282\n");
	frame1(b, 0x43b296, "main.main", "/src/app/main.go", 30);
	sbuf_addf(b, "\n");
	for (size_t i = 0; i < s->nlocs; i++) {
		unsigned pc = 0x600000 + (unsigned)i * 0x100;

		if (cnt[i] == 0)
			continue;
		loc_function(s, i, fn, sizeof(fn));
		snprintf(file, sizeof(file), "/src/%s/%s.go", s->name, kind_fn[s->locs[i].kind]);
		sbuf_addf(b, "%" PRIu64 " @ 0x43b296 0x%x 0x%x 0x46b281\n", cnt[i], pc, pc + 8);
		if (s->locs[i].kind == FK_IO) {
			frame1(b, 0x4e1000, "internal/poll.runtime_pollWait",
			       "/usr/lib/go-1.19/src/runtime/netpoll.go", 305);
			frame1(b, 0x4e2000, "internal/poll.(*pollDesc).wait",
			       "/usr/lib/go-1.19/src/internal/poll/fd_poll_runtime.go", 84);
		} else if (s->locs[i].kind == FK_SLEEP) {
			frame1(b, 0x44c0f0, "time.Sleep", "/usr/lib/go-1.19/src/runtime/time.go",
			       195);
		}
		frame1(b, pc, fn, file, 10 + (int)i);
		sbuf_addf(b, "\n");
	}
}

static const char *
kind_op(enum fleet_kind k)
{
	switch (k) {
	case FK_LEAK:
		return "chan send";
	case FK_BURST:
	case FK_OUTAGE:
	case FK_LONGPOLL:
		return "select";
	case FK_IO:
		return "IO wait";
	case FK_SLEEP:
		return "sleep";
	default:
		return "chan receive";
	}
}

/* debug=2: the goroutine serving the scrape is the newest ('goid'); the others print with ids
 * from the process's start. */
static void
gen_debug2(struct sbuf *b, const struct fleet_service *s, const uint64_t *cnt, uint64_t goid)
{
	uint64_t id = 1;
	char fn[64], file[96];

	sbuf_addf(b,
	          "goroutine %" PRIu64 " [running]:\n"
	          "runtime/pprof.writeGoroutineStacks({0x7f2c, 0xc000010000})\n"
	          "\t/usr/lib/go-1.19/src/runtime/pprof/pprof.go:692 +0x70\n",
	          goid);
	for (size_t i = 0; i < s->nlocs; i++) {
		enum fleet_kind k = s->locs[i].kind;

		loc_function(s, i, fn, sizeof(fn));
		snprintf(file, sizeof(file), "/src/%s/%s.go", s->name, kind_fn[k]);
		for (uint64_t g = 0; g < cnt[i]; g++) {
			sbuf_addf(b, "\ngoroutine %" PRIu64 " [%s]:\n", id++, kind_op(k));
			if (k == FK_IO)
				sbuf_addf(b,
				          "internal/poll.runtime_pollWait(0x7f, 0x72)\n"
				          "\t/usr/lib/go-1.19/src/runtime/netpoll.go:305 +0x89\n");
			else if (k == FK_SLEEP)
				sbuf_addf(b, "time.Sleep(0x3b9aca00)\n"
				             "\t/usr/lib/go-1.19/src/runtime/time.go:195 +0x135\n");
			sbuf_addf(b, "%s(0xc000010000)\n\t%s:%d +0x1d\n", fn, file, 10 + (int)i);
			sbuf_addf(b, "created by main.main\n\t/src/app/main.go:20 +0x20\n");
		}
	}
}

/* ---- scraping ---- */

static int
push_scrape(struct run *r, const struct svc *s, struct inst *x, int64_t t, bool detail,
            const uint64_t *cnt, bool new_conn)
{
	struct scrape_result res = {
	    .id = x->id,
	    .service = s->spec->name,
	    .url = x->url,
	    .detail = detail,
	    .start_ms = t,
	    .duration_ms = detail ? 180 : 25,
	    .new_connection = new_conn,
	};
	struct parse_error err;
	size_t len;
	char *text;

	if (cnt == NULL) {
		snprintf(res.status, sizeof(res.status), "connect refused");
		res.consecutive_failures = x->failures;
		ingest_push_scrape(r->in, &res);
		return 0;
	}
	if (detail)
		gen_debug2(&r->text, s->spec, cnt, x->goid);
	else
		gen_debug1(&r->text, s->spec, cnt);
	text = sbuf_steal(&r->text, &len);
	if (text == NULL)
		return -1;
	if (profile_parse(text, len, &res.profile, &err) != 0) {
		log_err("fleet: %s: the parser refused a simulated profile: line %zu: %s",
		        r->sc->name, err.line, err.msg);
		free(text);
		return -1;
	}
	free(text);
	snprintf(res.status, sizeof(res.status), "ok");
	res.ok = true;
	res.bytes = len;
	if (!ingest_push_scrape(r->in, &res))
		profile_release(&res.profile);
	r->res->scrapes++;
	return 0;
}

static int
scrape(struct run *r, struct svc *s, struct inst *x, int64_t t)
{
	uint64_t cnt[FLEET_MAX_LOCS], total = 8;
	bool new_conn;

	advance(r, s, x, t);
	if (t < x->down_until) {
		x->conn = false;
		x->failures++;
		return push_scrape(r, s, x, t, false, NULL, true);
	}
	for (size_t i = 0; i < s->spec->nlocs; i++) {
		cnt[i] = loc_count(r, s, x, i, t);
		total += cnt[i];
	}
	x->last_scrape = t;
	if (x->last_ok_start != 0 && x->last_ok_start != x->proc_start)
		restart_note(r, x, t);
	x->last_ok_start = x->proc_start;
	new_conn = s->spec->conn == FC_EVICTED || !x->conn;
	x->conn = s->spec->conn == FC_KEEPALIVE;
	x->failures = 0;
	x->nscrapes++;
	if (push_scrape(r, s, x, t, false, cnt, new_conn) < 0)
		return -1;
	if (s->spec->detail_every > 0 && x->nscrapes % (unsigned)s->spec->detail_every == 0 &&
	    total <= DETAIL_MAX_GOROUTINES)
		return push_scrape(r, s, x, t + 1500, true, cnt, s->spec->conn == FC_EVICTED);
	return 0;
}

/* ---- deploys, scaling, outages ---- */

static bool
build_leaks_at(const struct fleet_service *f, int64_t t)
{
	bool leaks = false;

	for (size_t i = 0; i < f->nlocs; i++)
		leaks |= f->locs[i].kind == FK_LEAK;
	if (!leaks || t < T0 + (int64_t)(f->leak_from_h * HOUR_MS))
		return false;
	return f->fix_at_h <= 0 || t < T0 + (int64_t)(f->fix_at_h * HOUR_MS);
}

/* Replace every instance (new addresses), or restart each in place, with the build of 't'. */
static void
deploy(struct run *r, struct svc *s, int64_t t)
{
	size_t n = s->n;

	s->build_leaks = build_leaks_at(s->spec, t);
	if (s->spec->deploy_in_place) {
		for (size_t k = 0; k < s->n; k++) {
			struct inst *x = &s->v[k];

			advance(r, s, x, t);
			x->leaky = s->build_leaks && slot_leaks(s, x->slot);
			x->down_until = t + (int64_t)s->spec->downtime_s * 1000;
			proc_start(s, x, x->down_until);
		}
		return;
	}
	for (size_t k = 0; k < n; k++)
		inst_remove(r, s, 0);
	for (size_t k = 0; k < n; k++)
		inst_add(r, s, t);
}

static void
events(struct run *r, struct svc *s, int64_t t)
{
	const struct fleet_service *f = s->spec;
	int64_t from = T0 + (int64_t)(f->leak_from_h * HOUR_MS);
	int64_t fix = T0 + (int64_t)(f->fix_at_h * HOUR_MS);

	if (f->leak_from_h > 0 && !s->leak_deployed && t >= from) {
		s->leak_deployed = true;
		deploy(r, s, t);
	} else if (f->fix_at_h > 0 && !s->fixed_deployed && t >= fix) {
		s->fixed_deployed = true;
		deploy(r, s, t);
	} else if (f->deploy_every_h > 0 && t >= s->next_deploy) {
		deploy(r, s, t);
	}
	while (f->deploy_every_h > 0 && s->next_deploy <= t)
		s->next_deploy += (int64_t)(f->deploy_every_h * HOUR_MS);
	if (f->max_instances > f->instances) {
		double tr = (traffic(t) - 0.1) / 0.9;
		size_t want = (size_t)f->instances +
		              (size_t)lround((double)(f->max_instances - f->instances) * tr);

		while (s->n < want)
			inst_add(r, s, t);
		while (s->n > want)
			inst_remove(r, s, s->n - 1);
	}
	if (t >= s->outage_end && t >= s->next_outage) {
		double per_day = 0;

		for (size_t i = 0; i < f->nlocs; i++)
			if (f->locs[i].kind == FK_OUTAGE)
				per_day = f->locs[i].b;
		if (per_day > 0) {
			if (s->next_outage > 0) {
				s->outage_start = t;
				s->outage_end = t + (3 + (int64_t)(rng_next(&r->rng) % 10)) * 60000;
				s->outage_h = 0.5 + 0.5 * rng_unit(&r->rng);
			}
			s->next_outage = t + (int64_t)rng_exp(&r->rng, (double)DAY_MS / per_day);
		} else {
			s->next_outage = INT64_MAX;
		}
	}
}

static void
push_active(struct run *r)
{
	int64_t *ids;
	size_t n = 0, cap = 0;

	if (!r->active_changed)
		return;
	for (size_t i = 0; i < r->sc->nservices; i++)
		cap += r->svcs[i].n;
	ids = calloc(cap ? cap : 1, sizeof(*ids));
	if (!ids)
		abort();
	for (size_t i = 0; i < r->sc->nservices; i++)
		for (size_t k = 0; k < r->svcs[i].n; k++)
			ids[n++] = r->svcs[i].v[k].id;
	ingest_push_active(r->in, ids, n);
	free(ids);
	r->active_changed = false;
}

/* ---- the truth ---- */

/* When one instance of 'f' that leaks from 'from' on has leaked 'want' goroutines, on average. */
static int64_t
time_to_leak(double rate, int64_t from, double want)
{
	double got = 0;
	int64_t t = from;

	while (got < want && t < from + 7 * DAY_MS) {
		got += rate * traffic(t) / 60.0;
		t += 60000;
	}
	return t;
}

static void
leaks_init(struct run *r)
{
	int64_t end = T0 + (int64_t)(r->sc->hours * HOUR_MS);

	for (size_t i = 0; i < r->sc->nservices; i++) {
		const struct fleet_service *f = &r->sc->services[i];

		for (size_t k = 0; k < f->nlocs; k++) {
			struct leak *l;

			if (f->locs[k].kind != FK_LEAK)
				continue;
			l = &r->leaks[r->nleaks++];
			memset(l, 0, sizeof(*l));
			l->svc = (int)i;
			loc_function(f, k, l->function, sizeof(l->function));
			l->from = T0 + (int64_t)(f->leak_from_h * HOUR_MS);
			l->until = f->fix_at_h > 0 ? T0 + (int64_t)(f->fix_at_h * HOUR_MS) : end;
			/* due once an instance holds twice min_count on average, and growth had
			 * 2 x min_scrapes scrapes to show */
			l->due = time_to_leak(f->locs[k].a, l->from, 2 * MIN_COUNT);
			if (l->due < l->from + 2 * MIN_SCRAPES * INTERVAL_MS)
				l->due = l->from + 2 * MIN_SCRAPES * INTERVAL_MS;
			/* a fix is seen once the fixed processes had min_scrapes scrapes and the
			 * time to show twice EXPECT_RISE at the leak's rate */
			l->grace = time_to_leak(f->locs[k].a, l->until, 2 * EXPECT_RISE) -
			           l->until + (MIN_SCRAPES + 2) * INTERVAL_MS;
			l->first_rank1 = -1;
			l->fix_rounds = -1;
		}
	}
}

static struct leak *
leak_of(struct run *r, const struct suspect *s)
{
	for (size_t i = 0; i < r->nleaks; i++)
		if (strcmp(r->sc->services[r->leaks[i].svc].name, s->service) == 0 &&
		    strcmp(r->leaks[i].function, s->function) == 0)
			return &r->leaks[i];
	return NULL;
}

static int
rank(struct run *r, const char *service, int64_t now, struct ranking *out)
{
	int64_t t0 = clock_mono_ms();

	if (detect_rank(r->st, r->cfg, service, WINDOW_S, now, out) != 0)
		return -1;
	if (service == NULL) {
		r->rank_ms_sum += (double)(clock_mono_ms() - t0);
		r->nranks++;
	}
	return 0;
}

static void
note_false(struct run *r, const struct suspect *s, int64_t now)
{
	size_t len = strlen(r->res->false_names);

	if (getenv("FLEET_VERBOSE"))
		fprintf(stderr, "fleet: %s: false suspect at %.2f h: %s/%s: %s\n", r->sc->name,
		        (double)(now - T0) / (double)HOUR_MS, s->service, s->function,
		        s->explanation);
	r->res->false_suspects++;
	if (len + 100 < sizeof(r->res->false_names))
		snprintf(r->res->false_names + len, sizeof(r->res->false_names) - len,
		         "%s%s/%s@%.1fh", len ? " " : "", s->service, s->function,
		         (double)(now - T0) / (double)HOUR_MS);
}

/* Whether the rankings 'a' and 'b' list the same suspects, saying the same of each. */
static bool
same_ranking(const struct ranking *a, const struct ranking *b, const char *scenario, int64_t now)
{
	bool same = a->n == b->n;

	for (size_t i = 0; same && i < a->n; i++) {
		json_t *x = detect_suspect_json(&a->suspects[i]),
		       *y = detect_suspect_json(&b->suspects[i]);

		same = x && y && json_equal(x, y) &&
		       strcmp(a->suspects[i].sparkline_json, b->suspects[i].sparkline_json) == 0;
		if (!same) {
			char *tx = x ? json_dumps(x, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
			char *ty = y ? json_dumps(y, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

			fprintf(stderr,
			        "fleet: %s: at %.2f h, suspect %zu differs:\n  store:  %s %s\n  "
			        "window: %s %s\n",
			        scenario, (double)(now - T0) / (double)HOUR_MS, i + 1,
			        tx ? tx : "?", a->suspects[i].sparkline_json, ty ? ty : "?",
			        b->suspects[i].sparkline_json);
			free(tx);
			free(ty);
		}
		json_decref(x);
		json_decref(y);
	}
	if (a->n != b->n)
		fprintf(stderr,
		        "fleet: %s: at %.2f h, %zu suspects from the store, %zu from the window\n",
		        scenario, (double)(now - T0) / (double)HOUR_MS, a->n, b->n);
	return same;
}

/* A checkpoint: rank every service as the daemon does and hold the ranking against the truth,
 * and the ranking from the window kept between checkpoints against the one read from the
 * store. */
static int
checkpoint(struct run *r, int64_t now, char (*seen_false)[128], size_t *nseen_false)
{
	struct ranking rk, wk;

	if (rank(r, NULL, now, &rk) != 0)
		return -1;
	if (detect_rank_window(r->st, r->cfg, r->win, WINDOW_S, now, &wk) != 0) {
		ranking_release(&rk);
		return -1;
	}
	r->res->window_checks++;
	if (!same_ranking(&rk, &wk, r->sc->name, now))
		r->res->window_mismatches++;
	ranking_release(&wk);
	for (size_t i = 0; i < rk.n; i++) {
		const struct suspect *s = &rk.suspects[i];
		struct leak *l = leak_of(r, s);
		char key[128];
		bool known = false;

		if (l && now >= l->from && now < l->until + l->grace) {
			r->res->tp++;
			l->detected = true;
			l->location_id = s->location_id;
			continue;
		}
		r->res->fp++;
		snprintf(key, sizeof(key), "%s/%s", s->service, s->function);
		for (size_t k = 0; k < *nseen_false && !known; k++)
			known = strcmp(seen_false[k], key) == 0;
		if (!known && *nseen_false < 64) {
			snprintf(seen_false[(*nseen_false)++], 128, "%s", key);
			note_false(r, s, now);
		}
	}
	for (size_t k = 0; k < r->nleaks; k++) {
		struct leak *l = &r->leaks[k];
		bool ranked = false;

		if (now < l->due || now >= l->until)
			continue;
		for (size_t i = 0; i < rk.n && !ranked; i++)
			ranked = leak_of(r, &rk.suspects[i]) == l;
		r->res->due++;
		if (!ranked) {
			r->res->dropouts++;
			if (getenv("FLEET_VERBOSE"))
				fprintf(stderr, "fleet: %s: %s/%s not ranked at %.2f h\n",
				        r->sc->name, r->sc->services[l->svc].name, l->function,
				        (double)(now - T0) / (double)HOUR_MS);
		}
	}
	ranking_release(&rk);
	return 0;
}

/* Follow one leak round by round: after its start until it is #1 in its service, after its fix
 * until it left. */
static int
follow(struct run *r, int64_t now)
{
	for (size_t k = 0; k < r->nleaks; k++) {
		struct leak *l = &r->leaks[k];
		const char *svc = r->sc->services[l->svc].name;
		bool start_phase = l->first_rank1 < 0 && now >= l->from &&
		                   now < l->from + MAX_ROUNDS_FOLLOWED * INTERVAL_MS;
		bool fix_phase = l->fix_rounds < 0 && r->sc->services[l->svc].fix_at_h > 0 &&
		                 now >= l->until &&
		                 now < l->until + MAX_ROUNDS_FOLLOWED * INTERVAL_MS;
		struct ranking rk;
		int rounds;

		if (!start_phase && !fix_phase)
			continue;
		if (rank(r, svc, now, &rk) != 0)
			return -1;
		rounds = (int)((now - (fix_phase ? l->until : l->from)) / INTERVAL_MS);
		if (start_phase && rk.n > 0 && leak_of(r, &rk.suspects[0]) == l)
			l->first_rank1 = rounds;
		if (fix_phase) {
			bool ranked = false;

			for (size_t i = 0; i < rk.n && !ranked; i++)
				ranked = leak_of(r, &rk.suspects[i]) == l;
			if (!ranked)
				l->fix_rounds = rounds;
		}
		ranking_release(&rk);
	}
	return 0;
}

/* ---- the alerter ---- */

/* The state of the alert of 'l' ("" when none), after the detector stored a ranking as of 'now'
 * and the alerter had up to 'wait_ms' to evaluate it. */
static void
alert_state(struct run *r, const struct leak *l, int64_t now, const char *want, char *state,
            size_t len)
{
	int64_t deadline = clock_mono_ms() + 10000;

	state[0] = '\0';
	if (detect_run(r->st, r->cfg, NULL, now) != 0)
		return;
	while (clock_mono_ms() < deadline) {
		struct query_alert *v = NULL;
		size_t n = 0;

		alert_kick(r->alert);
		usleep(100 * 1000);
		if (query_alerts(r->st, clock_wall_ms(), INT64_MAX / 4, &v, &n) != 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (v[i].location_id == l->location_id)
				snprintf(state, len, "%s", v[i].state);
		query_alerts_free(v, n);
		if (strcmp(state, want) == 0)
			return;
	}
}

/* ---- a run ---- */

static struct config *
run_config(const char *path)
{
	struct config *cfg = config_default();

	if (!cfg)
		return NULL;
	free(cfg->database);
	cfg->database = strdup(path);
	cfg->scrape_interval = INTERVAL_MS / 1000;
	cfg->detector.window = WINDOW_S;
	cfg->detector.min_scrapes = MIN_SCRAPES;
	cfg->detector.min_count = MIN_COUNT;
	cfg->alerting.min_score = 0.5;
	cfg->alerting.min_count = MIN_COUNT;
	cfg->alerting.for_duration = 0;
	return cfg->database ? cfg : NULL;
}

static void
remove_db(const char *path)
{
	char p[4200];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static int
simulate(struct run *r, bool alerts)
{
	int64_t end = T0 + (int64_t)(r->sc->hours * HOUR_MS);
	int64_t next_check = T0 + HOUR_MS;
	char(*seen_false)[128] = calloc(64, 128);
	size_t nseen_false = 0;
	bool fired_checked = false, resolved_checked = false;

	if (!seen_false)
		return -1;
	for (size_t i = 0; i < r->sc->nservices; i++) {
		struct svc *s = &r->svcs[i];

		s->spec = &r->sc->services[i];
		s->index = (int)i;
		s->build_leaks = build_leaks_at(s->spec, T0);
		s->next_deploy = s->spec->deploy_every_h > 0
		                     ? T0 + (int64_t)(s->spec->deploy_every_h * HOUR_MS)
		                     : INT64_MAX;
		for (int k = 0; k < s->spec->instances; k++)
			inst_add(r, s, T0 - 10 * 60000);
	}
	for (int64_t t = T0; t < end; t += INTERVAL_MS) {
		int64_t now = t + INTERVAL_MS - 1000;

		for (size_t i = 0; i < r->sc->nservices; i++)
			events(r, &r->svcs[i], t);
		push_active(r);
		for (size_t i = 0; i < r->sc->nservices; i++) {
			struct svc *s = &r->svcs[i];

			for (size_t k = 0; k < s->n; k++) {
				int64_t at =
				    t + s->v[k].phase + (int64_t)(rng_next(&r->rng) % 3000);

				if (scrape(r, s, &s->v[k], at) < 0)
					goto out_fail;
			}
		}
		ingest_run_queued(r->in);
		if (follow(r, now) < 0)
			goto out_fail;
		if (now >= next_check) {
			if (checkpoint(r, now, seen_false, &nseen_false) < 0)
				goto out_fail;
			next_check += CHECK_EVERY_MS;
		}
		for (size_t k = 0; alerts && k < r->nleaks; k++) {
			struct leak *l = &r->leaks[k];
			char state[16];

			if (r->sc->services[l->svc].fix_at_h <= 0 || l->location_id == 0)
				continue;
			if (!fired_checked && l->detected && now < l->until) {
				fired_checked = true;
				alert_state(r, l, now, "firing", state, sizeof(state));
				r->res->alert = strcmp(state, "firing") == 0 ? 0 : -1;
			}
			if (fired_checked && !resolved_checked && now >= l->until + l->grace) {
				resolved_checked = true;
				alert_state(r, l, now, "resolved", state, sizeof(state));
				r->res->alert =
				    r->res->alert == 0 && strcmp(state, "resolved") == 0 ? 1 : -1;
			}
		}
	}
	if (checkpoint(r, end, seen_false, &nseen_false) < 0)
		goto out_fail;
	free(seen_false);
	return 0;
out_fail:
	free(seen_false);
	return -1;
}

int
fleet_run(const struct fleet_scenario *sc, const char *dir, bool alerts, struct fleet_result *res)
{
	struct run *r = calloc(1, sizeof(*r));
	struct ingest_options opt = {
	    .pending_max = 1u << 20,
	    .retention_raw_ms = 48 * HOUR_MS,
	    .retention_rollup_ms = 30 * DAY_MS,
	};
	clock_t c0 = clock();
	struct store *w;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	if (!r)
		return -1;
	r->sc = sc;
	r->res = res;
	r->rng.s = sc->seed * 0x9E3779B97F4A7C15ULL + 1;
	snprintf(r->path, sizeof(r->path), "%s/fleet-%s.db", dir, sc->name);
	remove_db(r->path);
	r->cfg = run_config(r->path);
	if (!r->cfg)
		goto out_free;
	w = store_open(r->path, 0);
	if (!w)
		goto out_free;
	opt.db_path = r->path;
	r->in = ingest_new(w, &opt);
	r->st = store_open(r->path, 0);
	r->win = window_new();
	if (!r->st || !r->win)
		goto out_free;
	if (alerts) {
		r->alert = alert_start(r->cfg, NULL);
		if (!r->alert)
			goto out_free;
	}
	leaks_init(r);
	rc = simulate(r, alerts && r->nleaks > 0);
	if (rc == 0)
		rc = restarts_count(r);
	res->leaks = (unsigned)r->nleaks;
	res->first_rank1 = r->nleaks ? 0 : -1;
	res->fix_rounds = -1;
	for (size_t k = 0; k < r->nleaks; k++) {
		const struct leak *l = &r->leaks[k];

		res->detected += l->detected;
		if (l->first_rank1 < 0 || res->first_rank1 < 0)
			res->first_rank1 = -1;
		else if (l->first_rank1 > res->first_rank1)
			res->first_rank1 = l->first_rank1;
		if (sc->services[l->svc].fix_at_h > 0 && l->fix_rounds > res->fix_rounds)
			res->fix_rounds = l->fix_rounds;
	}
	res->rank_ms = r->nranks ? r->rank_ms_sum / r->nranks : 0;
out_free:
	alert_stop(r->alert);
	store_free(r->st);
	window_free(r->win);
	ingest_free(r->in);
	for (size_t i = 0; i < FLEET_MAX_SERVICES; i++)
		free(r->svcs[i].v);
	free(r->restarts);
	sbuf_release(&r->text);
	config_unref(r->cfg);
	remove_db(r->path);
	free(r);
	res->cpu_s = (double)(clock() - c0) / CLOCKS_PER_SEC;
	return rc;
}

/* ---- the scenarios ---- */

static void
loc_add(struct fleet_service *f, enum fleet_kind kind, double a, double b)
{
	if (f->nlocs < FLEET_MAX_LOCS)
		f->locs[f->nlocs++] = (struct fleet_loc){.kind = kind, .a = a, .b = b};
}

static char names[FLEET_MAX_SERVICES * 128][24];
static size_t nnames;

static struct fleet_service *
svc_add(struct fleet_scenario *sc, const char *kind, int instances)
{
	struct fleet_service *f = &sc->services[sc->nservices];
	char *name = names[nnames++];

	snprintf(name, sizeof(names[0]), "%s-%zu", kind, sc->nservices + 1);
	memset(f, 0, sizeof(*f));
	f->name = name;
	f->instances = instances;
	f->crash_per_day = 0.5;
	f->downtime_s = 20;
	f->conn = FC_KEEPALIVE;
	f->leak_share = 1;
	sc->nservices++;
	return f;
}

/* A request-serving service: worker pools, an elastic pool that follows the daily traffic, slow
 * requests that pile up now and then, long polls, connections and tickers, small constant ones. */
static struct fleet_service *
svc_api(struct fleet_scenario *sc, int instances, struct rng *g)
{
	struct fleet_service *f = svc_add(sc, "api", instances);

	loc_add(f, FK_POOL, 64 + (double)(rng_next(g) % 200), 0);
	loc_add(f, FK_SWELL, 20 + (double)(rng_next(g) % 60), 0);
	loc_add(f, FK_BURST, 40 + (double)(rng_next(g) % 200), 0.2 + rng_unit(g));
	loc_add(f, FK_LONGPOLL, 10 + (double)(rng_next(g) % 60), 0);
	loc_add(f, FK_IO, 20 + (double)(rng_next(g) % 80), 0);
	loc_add(f, FK_SLEEP, 3, 0);
	loc_add(f, FK_JITTER, 12 + (double)(rng_next(g) % 30), 0);
	loc_add(f, FK_FEW, 2 + (double)(rng_next(g) % 6), 0);
	loc_add(f, FK_ONCE, 0, 0);
	loc_add(f, FK_STARTUP, 50 + (double)(rng_next(g) % 150), 3 + (double)(rng_next(g) % 15));
	f->detail_every = 10;
	return f;
}

/* A queue worker: a big idle pool, and three handlers that a downstream outage blocks at once. */
static struct fleet_service *
svc_worker(struct fleet_scenario *sc, int instances, struct rng *g)
{
	struct fleet_service *f = svc_add(sc, "worker", instances);

	loc_add(f, FK_POOL, 500 + (double)(rng_next(g) % 2000), 0);
	loc_add(f, FK_OUTAGE, 30 + (double)(rng_next(g) % 120), 2 + rng_unit(g) * 6);
	loc_add(f, FK_OUTAGE, 30 + (double)(rng_next(g) % 120), 2 + rng_unit(g) * 6);
	loc_add(f, FK_OUTAGE, 30 + (double)(rng_next(g) % 120), 2 + rng_unit(g) * 6);
	loc_add(f, FK_IO, 10 + (double)(rng_next(g) % 30), 0);
	loc_add(f, FK_JITTER, 10 + (double)(rng_next(g) % 10), 0);
	loc_add(f, FK_ONCE, 0, 0);
	loc_add(f, FK_SLEEP, 2, 0);
	return f;
}

/* A service that leaks 'rate' goroutines an instance-hour at the traffic's peak, next to pools
 * and bursts of its own. */
static struct fleet_service *
svc_leaky(struct fleet_scenario *sc, int instances, double rate, struct rng *g)
{
	struct fleet_service *f = svc_add(sc, "leaky", instances);

	loc_add(f, FK_LEAK, rate, 0);
	loc_add(f, FK_POOL, 100 + (double)(rng_next(g) % 400), 0);
	loc_add(f, FK_SWELL, 20 + (double)(rng_next(g) % 40), 0);
	loc_add(f, FK_BURST, 40 + (double)(rng_next(g) % 150), 0.2 + rng_unit(g));
	loc_add(f, FK_IO, 20 + (double)(rng_next(g) % 50), 0);
	loc_add(f, FK_JITTER, 15, 0);
	loc_add(f, FK_ONCE, 0, 0);
	f->detail_every = 10;
	return f;
}

static struct fleet_scenario *
scenario_new(struct fleet_scenario *v, size_t *n, const char *family, int k, double hours,
             bool asserted, struct rng *g)
{
	struct fleet_scenario *sc = &v[(*n)++];

	memset(sc, 0, sizeof(*sc));
	snprintf(sc->name, sizeof(sc->name), "%s-%d", family, k + 1);
	sc->family = family;
	sc->seed = rng_next(g);
	sc->hours = hours;
	sc->asserted = asserted;
	return sc;
}

/* Beside every leak, services that never leak. */
static void
benign_neighbours(struct fleet_scenario *sc, int k, struct rng *g)
{
	/* `make check`'s subset keeps them small */
	int na = sc->asserted ? 4 : 6 + (int)(rng_next(g) % 12);
	int nw = sc->asserted ? 3 : 4 + (int)(rng_next(g) % 8);
	struct fleet_service *a = svc_api(sc, na, g);
	struct fleet_service *w = svc_worker(sc, nw, g);

	a->crash_per_day = 1 + (k % 3);
	w->deploy_every_h = k % 2 ? 5 : 0;
	if (k % 3 == 1) {
		a->max_instances = a->instances * 3;
		a->deploy_every_h = 4;
	}
}

#define FLEET_MAX_SCENARIOS 80

size_t
fleet_scenarios(const struct fleet_scenario **out)
{
	static struct fleet_scenario v[FLEET_MAX_SCENARIOS];
	static size_t n;
	struct rng g = {.s = 0x5EED0FF1EE7ULL};

	if (n > 0) {
		*out = v;
		return n;
	}
	/* Steady leaks in every instance, with occasional crashes. */
	for (int k = 0; k < 5; k++) {
		struct fleet_scenario *sc;
		struct fleet_service *f;

		sc = scenario_new(v, &n, "steady", k, 12, k == 0, &g);
		f = svc_leaky(sc, 10 + 10 * k, 60 + 50 * k, &g);
		f->crash_per_day = 0.5 + k;
		benign_neighbours(sc, k, &g);
	}
	/* Slow leaks: a few goroutines an hour, over a day or more. */
	for (int k = 0; k < 5; k++) {
		struct fleet_scenario *sc;
		struct fleet_service *f;

		sc = scenario_new(v, &n, "slow", k, k == 0 ? 18 : 24 + 6 * (k % 3), k == 0, &g);
		f = svc_leaky(sc, 8 + 4 * k, 10 + 3 * k, &g);
		f->crash_per_day = 0.2;
		benign_neighbours(sc, k + 1, &g);
	}
	/* Fast leaks: ten a minute and more. */
	for (int k = 0; k < 5; k++) {
		struct fleet_scenario *sc;
		struct fleet_service *f;

		sc = scenario_new(v, &n, "fast", k, 8, k == 0, &g);
		f = svc_leaky(sc, 10 + 5 * k, 600 + 300 * k, &g);
		f->crash_per_day = 2 + 2 * k;
		benign_neighbours(sc, k + 2, &g);
	}
	/* Leaks in a minority of the instances (a feature flag, a region). */
	for (int k = 0; k < 5; k++) {
		struct fleet_scenario *sc;
		struct fleet_service *f;

		sc = scenario_new(v, &n, "minority", k, 12, k == 0, &g);
		f = svc_leaky(sc, 20 + 10 * k, 80 + 40 * k, &g);
		f->leak_share = 0.1 + 0.05 * k;
		f->crash_per_day = 1;
		benign_neighbours(sc, k, &g);
	}
	/* A sawtooth: a big idle pool, restarts every 25 to 90 minutes on the same address, no
	 * gap; the leak falls to 0 at each. Some fleets evict connections (detail dumps' ids
	 * show the restarts then). */
	for (int k = 0; k < 6; k++) {
		struct fleet_scenario *sc;
		struct fleet_service *f;

		sc = scenario_new(v, &n, "sawtooth", k, 12, k == 1 || k == 4, &g);
		f = svc_leaky(sc, 4 + 3 * k, 300 + 150 * k, &g);
		f->locs[1].a = 2000;
		f->crash_per_day = 24.0 * 60 / (25 + 13 * k);
		f->downtime_s = k % 2 ? 0 : 5;
		f->conn = k >= 4 ? FC_EVICTED : FC_KEEPALIVE;
		f->detail_every = k >= 4 ? 5 : 10;
		benign_neighbours(sc, k, &g);
	}
	/* Deploys every few hours replace every instance on new addresses; the leak stays. */
	for (int k = 0; k < 6; k++) {
		struct fleet_scenario *sc;
		struct fleet_service *f;

		sc = scenario_new(v, &n, "deploys", k, k == 0 ? 12 : 24, k == 0, &g);
		f = svc_leaky(sc, 10 + 6 * k, 120 + 40 * k, &g);
		f->deploy_every_h = 2 + (k % 3);
		f->deploy_in_place = k == 5;
		benign_neighbours(sc, k, &g);
	}
	/* Autoscaling with the daily traffic. */
	for (int k = 0; k < 5; k++) {
		struct fleet_scenario *sc;
		struct fleet_service *f;

		sc = scenario_new(v, &n, "autoscale", k, k == 0 ? 12 : 24, k == 0, &g);
		f = svc_leaky(sc, 6 + 2 * k, 100 + 30 * k, &g);
		f->max_instances = f->instances * (3 + k % 2);
		f->deploy_every_h = k % 2 ? 6 : 0;
		benign_neighbours(sc, k + 1, &g);
	}
	/* A fix deployed midway: the suspect must leave, its alert resolve. */
	for (int k = 0; k < 6; k++) {
		struct fleet_scenario *sc;
		struct fleet_service *f;

		sc = scenario_new(v, &n, "fix", k, 14, k == 0 || k == 2, &g);
		f = svc_leaky(sc, 6 + 4 * k, 90 + 60 * k, &g);
		f->fix_at_h = 6 + k;
		f->deploy_in_place = k % 3 == 2;
		f->deploy_every_h = k % 3 == 1 ? 3 : 0;
		if (k == 4)
			f->leak_share = 0.3;
		benign_neighbours(sc, k, &g);
	}
	/* A leaking build deployed midway. */
	for (int k = 0; k < 3; k++) {
		struct fleet_scenario *sc;
		struct fleet_service *f;

		sc = scenario_new(v, &n, "late", k, 14, false, &g);
		f = svc_leaky(sc, 10 + 5 * k, 100 + 50 * k, &g);
		f->leak_from_h = 3 + 2 * k;
		benign_neighbours(sc, k, &g);
	}
	/* Large services: 100 to 200 instances. */
	for (int k = 0; k < 4; k++) {
		struct fleet_scenario *sc;
		struct fleet_service *f;

		sc = scenario_new(v, &n, "large", k, 8, false, &g);
		f = svc_leaky(sc, 100 + 33 * k, 120 + 60 * k, &g);
		f->leak_share = k % 2 ? 0.2 : 1;
		f->detail_every = 0;
		f->conn = k >= 2 ? FC_EVICTED : FC_KEEPALIVE;
		f->deploy_every_h = k == 3 ? 3 : 0;
		svc_worker(sc, 100, &g)->detail_every = 0;
	}
	/* Leak-free fleets over days: deploys, crashes, autoscaling, outages, swelling pools. */
	for (int k = 0; k < 8; k++) {
		struct fleet_scenario *sc;

		sc = scenario_new(v, &n, "benign", k, k < 2 ? 48 : k == 2 ? 12 : 24, k == 2, &g);
		for (int j = 0; j < 4; j++) {
			int small = sc->asserted ? 4 + j : 0;
			struct fleet_service *f =
			    j % 2 ? svc_worker(sc, small ? small : 5 + 4 * j, &g)
			          : svc_api(sc, small ? small : 8 + 5 * j, &g);

			f->crash_per_day = (double)(1 + (k + j) % 4);
			f->deploy_every_h = (k + j) % 3 == 0 ? 3 : 0;
			f->deploy_in_place = (k + j) % 5 == 0;
			f->max_instances = (k + j) % 4 == 1 ? f->instances * 3 : 0;
			f->conn = (k + j) % 6 == 5 ? FC_EVICTED : FC_KEEPALIVE;
		}
	}
	*out = v;
	return n;
}
