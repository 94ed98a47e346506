/* detect/window.h: the detector's window kept in memory between rankings.
 *
 * A ranking judges every (location, instance) series of its window. Reading the whole window from
 * the store each time costs as much as the window holds; the window kept here reads only what was
 * stored since the last ranking (scrapes by growing id, and the restarts placed on stored scrapes
 * since, storage/store.h), drops what left the window, and hands the detector the same scrapes
 * and the same series, as runs of equal counts (series.h), that the store would. A ranking from
 * it equals one from the store (tests/check_detect.c and the simulated fleets compare both).
 *
 * It holds per target its successful count scrapes in the window, and per series its runs, the
 * leaked counts that may still be the window's largest and the detail ages that may still be its
 * latest. Rankings must come with a non-decreasing window start and end (the detector thread's
 * do); anything else, a scrape of a target older than one already held, or running out of memory
 * makes the next update read the whole window again. Rows are applied a whole scrape at a time: a
 * read of what is new that fails part-way (an interrupt, a database error) keeps the scrapes
 * applied, and the next update reads on from the last of them. */
#ifndef WINDOW_H
#define WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "detect/callsites.h"
#include "detect/series.h"
#include "storage/store.h"

struct window;

struct window *window_new(void);
void window_free(struct window *w);

/* Bring 'w' up to date with 'st' for a ranking of the scrapes with since <= ts <= now, holding at
 * most 'limit' bytes (detector.window_memory). 0; 1 when this ranking must read the store instead
 * (it would hold more than 'limit', which it does not try again until 'limit' changes); or -1
 * (logged unless interrupted; see above for what it keeps). */
int window_update(struct window *w, struct store *st, int64_t since, int64_t now, uint64_t limit)
    __attribute__((warn_unused_result));

/* The window as of the last update, walked as the store's walks are ordered: every target with a
 * successful count scrape in it, by service name and URL, with those scrapes (the detector's
 * struct pt, callsites.h), where its lifetimes start and its usual interval; then per service
 * every series by location and target URL. Both borrowed until the next update. */
struct window_target {
	int64_t target_id;
	int64_t service_id;
	const char *service;
	const char *url;
	bool active;
	const struct pt *pts;
	size_t n;
	const uint32_t *restarts; /* the indexes (from 1) of the pts that start a lifetime */
	size_t nrestarts;
	double med;   /* the median interval between consecutive pts (ms) */
	bool has_med; /* false: not known here (the detector finds it from pts) */
};

struct window_series {
	int64_t service_id;
	int64_t location_id;
	int64_t target_id;
	/* its runs, borrowed, over the target's scrapes as walked: scrape j of them is base + j
	 * (runs_view()) */
	const struct count_run *runs;
	size_t nruns;
	uint32_t base;
	const struct runs_block
	    *blocks; /* their blocks: runs[0] is run 'off' of them (NULL: none) */
	size_t off;
	struct life_memos *memo; /* what the detector keeps here of its lifetimes that ended */
	bool any;                /* some count above 0 */
	uint64_t leaked;         /* the largest leaked count in the window */
	int64_t detail_ts;       /* the latest detail sample with ages (0: none) */
	int32_t detail_max, detail_median;
};

int window_each_target(struct window *w, int (*cb)(const struct window_target *t, void *arg),
                       void *arg);
int window_each_series(struct window *w, int (*cb)(const struct window_series *s, void *arg),
                       void *arg);

/* Rows from elsewhere than the store, for benchmarks that cannot store days of a large fleet:
 * window_feed_begin() lists the targets from 'st' as an update does (to hold at most 'limit'
 * bytes), window_feed_row() takes rows
 * as store_each_window_row() gives them (by target, or by growing scrape id), and
 * window_feed_end() makes 'w' as up to date as an update reading the store up to scrape 'upto'
 * and restart move 'seq' for a ranking of [since, now]. 0, or -1. */
int window_feed_begin(struct window *w, struct store *st, uint64_t limit)
    __attribute__((warn_unused_result));
int window_feed_row(struct window *w, const struct store_window_row *r)
    __attribute__((warn_unused_result));
int window_feed_end(struct window *w, int64_t upto, int64_t seq, int64_t since, int64_t now)
    __attribute__((warn_unused_result));

/* What it holds, for /metrics and the benchmarks. */
struct window_stats {
	size_t targets, scrapes, series, runs;
	size_t bytes; /* allocated for them, about */
	uint64_t updates, reloads;
	uint64_t rows_read; /* by the last update */
};
void window_stats(const struct window *w, struct window_stats *out);

#endif
