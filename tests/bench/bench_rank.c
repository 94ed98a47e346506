/* tests/bench/bench_rank.c: the detector's ranking time per (location, instance) series.
 *
 * --generate writes a simulated fleet into --db through the real store API: services of
 * --per-service instances scraped every minute for --hours hours, each profile 40 locations (30
 * pools and worker states that stay, 8 that come and go, 2 that leak and reset at each of the
 * instance's restarts, every three hours, with the new connection a restart shows). --rank ranks
 * every service over the last 6 h --repeat times on that database and prints the best time per
 * series, next to the floor every ranking pays: the same walk over the samples with nothing done
 * per row (store_each_sample()). Built by bench_rank.sh, once with the current detector and, when
 * asked, once with an older revision's, on the same database. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/config.h"
#include "base/log.h"
#include "collector/profile.h"
#include "detect/detect.h"
#include "storage/store.h"

#define NLOC 40
#define MIN_MS 60000LL
#define T_START 1789999200000LL

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
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const struct frame stack[] = {
    {"runtime.gopark", "/usr/lib/go-1.19/src/runtime/proc.go", 363},
    {"main.handler", "/src/app/handler.go", 17},
};

static int
generate(const char *db, long per_service, long targets, long hours)
{
	static char fn[NLOC][64];
	struct store *st = store_open(db, 0);
	int64_t *ids = calloc((size_t)targets, sizeof(*ids));
	uint64_t *leak = calloc((size_t)targets * 2, sizeof(*leak));
	struct prof_location locs[NLOC];
	char svc[32], url[64];

	if (!st || !ids || !leak)
		return 1;
	for (int i = 0; i < NLOC; i++)
		snprintf(fn[i], sizeof(fn[i]), "main.location%02d", i);
	for (long t = 0; t < targets; t++) {
		snprintf(svc, sizeof(svc), "service-%03ld", t / per_service);
		snprintf(url, sizeof(url), "http://10.0.%ld.%ld:6060", t / 250, t % 250);
		ids[t] = store_target_upsert(st, svc, NULL, url);
		if (ids[t] <= 0)
			return 1;
	}
	for (long m = 0; m < hours * 60; m++) {
		for (long t = 0; t < targets; t++) {
			bool restart = (m + t * 7) % 180 == 0 && m > 0;
			struct profile p = {.format = PROFILE_FORMAT_PROTO,
			                    .kind = PROFILE_KIND_GOROUTINE,
			                    .locations = locs};
			struct scrape_record rec = {
			    .target_id = ids[t],
			    .ts = T_START + m * MIN_MS + t * 50,
			    .duration_ms = 10,
			    .bytes = 4000,
			    .status = "ok",
			    .connection = restart ? LIFETIME_CONN_NEW : LIFETIME_CONN_REUSED,
			    .profile = &p,
			};

			for (int i = 0; i < NLOC; i++) {
				uint64_t c;

				if (i < 30)
					c = (uint64_t)(4 + i * 3) + rng() % 2;
				else if (i < 38)
					c = rng() % 3 ? 0 : 1 + rng() % 15;
				else
					c = restart ? (leak[t * 2 + (i - 38)] = 0)
					            : (leak[t * 2 + (i - 38)] += rng() % 3);
				if (c == 0)
					continue;
				locs[p.nlocations++] = (struct prof_location){
				    .loc = {.function = fn[i],
				            .file = "/src/app/app.go",
				            .line = 10 + (uint32_t)i},
				    .op = i < 30 ? "chan receive" : "chan send",
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
				return 1;
		}
	}
	store_free(st);
	free(ids);
	free(leak);
	return 0;
}

struct walk {
	uint64_t samples, series;
	int64_t loc, target;
};

static int
on_sample(const struct store_sample *s, void *arg)
{
	struct walk *w = arg;

	w->samples++;
	if (s->location_id != w->loc || s->target_id != w->target) {
		w->series++;
		w->loc = s->location_id;
		w->target = s->target_id;
	}
	return 0;
}

static int
rank(const char *db, long hours, int repeat)
{
	struct store *st = store_open(db, 0);
	struct config *cfg = config_default();
	int64_t now = T_START + hours * 60 * MIN_MS;
	double best_rank = 1e9, best_walk = 1e9;
	struct walk w = {0};
	size_t suspects = 0;

	if (!st || !cfg)
		return 1;
	for (int i = 0; i < repeat; i++) {
		struct ranking r;
		double t0 = now_s();

		w = (struct walk){.loc = -1};
		if (store_each_sample(st, NULL, now - 6 * 3600 * 1000LL, on_sample, &w) != 0)
			return 1;
		if (now_s() - t0 < best_walk)
			best_walk = now_s() - t0;
		t0 = now_s();
		if (detect_rank(st, cfg, NULL, 6 * 3600, now, &r) != 0)
			return 1;
		if (now_s() - t0 < best_rank)
			best_rank = now_s() - t0;
		suspects = r.n;
		ranking_release(&r);
	}
	printf(
	    "ranking (6 h): %" PRIu64 " series, %" PRIu64 " samples, %zu suspects: "
	    "%.1f ms, %.2f us per series; the bare walk %.1f ms, %.2f us per series; ratio %.2f\n",
	    w.series, w.samples, suspects, best_rank * 1000, best_rank * 1e6 / (double)w.series,
	    best_walk * 1000, best_walk * 1e6 / (double)w.series, best_rank / best_walk);
	config_unref(cfg);
	store_free(st);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *db = NULL;
	long per_service = 20, targets = 200, hours = 8;
	int repeat = 3;
	bool gen = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--generate") == 0)
			gen = true;
		else if (strcmp(argv[i], "--rank") == 0)
			gen = false;
		else if (i + 1 < argc && strcmp(argv[i], "--db") == 0)
			db = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--targets") == 0)
			targets = strtol(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "--per-service") == 0)
			per_service = strtol(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "--hours") == 0)
			hours = strtol(argv[++i], NULL, 10);
		else if (i + 1 < argc && strcmp(argv[i], "--repeat") == 0)
			repeat = (int)strtol(argv[++i], NULL, 10);
		else {
			fprintf(stderr,
			        "usage: bench_rank --db FILE [--generate | --rank] [--targets N] "
			        "[--per-service N] [--hours H] [--repeat N]\n");
			return 2;
		}
	}
	if (!db || targets < 1 || per_service < 1 || hours < 7 || repeat < 1) {
		fprintf(stderr, "bench_rank: --db FILE needed; --hours at least 7\n");
		return 2;
	}
	log_set_level(LOG_LEVEL_WARNING);
	return gen ? generate(db, per_service, targets, hours) : rank(db, hours, repeat);
}
