/* detect/detector.c: the detector thread (see detector.h).
 *
 * DESIGN
 * ------
 *
 * The thread sleeps on a condition variable until kicked (the daemon's ingest thread does so once a
 * round's scrapes are stored) or stopped. Kicks coalesce into one flag: rounds finished while a
 * ranking runs are ranked together by the next one. Each ranking takes a reference to the current
 * configuration snapshot from a config_slot and drops it when done, so a reload never waits for a
 * ranking and a ranking never sees a configuration change under it; the mutex guards only the
 * kicked and stop flags and is never held across a ranking.
 *
 * The thread keeps the window in memory between rankings (window.h), so a ranking reads only what
 * was stored since the last one; when the window would outgrow detector.window_memory, a ranking
 * reads its whole window from the store (minutes for 10,000 targets over 6 h). After a slow
 * ranking the thread rests DETECT_PACE_FACTOR times as long as it took: the detector stays under a
 * fifth of a core, and a fleet ranked within DETECT_PACE_MIN_MS is ranked every round.
 *
 * A ranking cannot be cut short from inside detect_run(), so the thread's connection has a SQLite
 * progress handler that reads the cancel flag: detector_cancel() makes the statement running (a
 * walk over the window, where a large fleet's ranking spends nearly all its time) fail with
 * SQLITE_INTERRUPT within milliseconds, detect_run() returns -1 without storing anything (a save
 * interrupted half-way rolls back), and the thread reports a stopped ranking rather than a failed
 * one. Setting the flag never waits for the mutex, so a stopping daemon cancels first and only then
 * drains the ingest queue, whose marks would otherwise kick a new ranking.
 *
 * For health checks the thread keeps when the oldest round not yet answered by a stored ranking
 * was handed to it (a failed ranking answers nothing, so its rounds keep waiting) and its pace: how
 * long a round may wait behind a ranking and its rest. The pace starts from the duration of the
 * ranking stored by the previous run, so a large fleet's first ranking is not mistaken for a stall.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "detect/detect.h"
#include "detect/detector.h"
#include "detect/window.h"
#include "storage/db.h"
#include "storage/query.h"
#include "storage/store.h"

#define DETECT_PACE_MIN_MS 1000 /* rankings faster than this run after every round */
#define DETECT_PACE_FACTOR 4    /* else rest this many times as long as the last one took */

struct detector {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool kicked, stop;  /* guarded by mu */
	atomic_bool cancel; /* detector_cancel(): read by the progress handler */
	int64_t
	    kicked_ms; /* guarded by mu: the oldest kick not taken up yet (monotonic), 0: none */
	int64_t serving_ms; /* guarded by mu: the oldest kick the ranking in progress, or the last
	                       failed one, answers (monotonic), 0: none */
	int64_t pace_ms;    /* guarded by mu: a ranking as long as the last one plus its rest */
	struct config_slot cfg;     /* the snapshot the next ranking uses */
	struct store *st;           /* the thread's own connection */
	struct window *win;         /* the window kept between rankings (window.h) */
	struct window_stats wstats; /* guarded by mu: what it held after the last ranking */
	struct alerter *alert;      /* borrowed */
};

/* How long a round may wait behind a ranking that takes 'took' ms and the rest after it. */
static int64_t
pace_of(int64_t took)
{
	return took > DETECT_PACE_MIN_MS ? (DETECT_PACE_FACTOR + 1) * took : took;
}

/* The connection's progress handler: non-zero aborts the running statement. */
static int
detector_interrupt(void *arg)
{
	struct detector *d = arg;

	return atomic_load_explicit(&d->cancel, memory_order_relaxed) ? 1 : 0;
}

static void *
detector_main(void *arg)
{
	struct detector *d = arg;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		struct config *cfg;
		int64_t started, took;
		int r;

		while (!d->kicked && !d->stop)
			pthread_cond_wait(&d->cv, &d->mu);
		if (d->stop)
			break;
		d->kicked = false;
		if (!d->serving_ms)
			d->serving_ms = d->kicked_ms;
		d->kicked_ms = 0;
		pthread_mutex_unlock(&d->mu);

		cfg = config_slot_get(&d->cfg);
		started = clock_mono_ms();
		log_debug("detect: ranking started");
		r = detect_run(d->st, cfg, d->win, clock_wall_ms());
		took = clock_mono_ms() - started;
		config_unref(cfg);
		if (atomic_load(&d->cancel)) {
			if (r != 0)
				log_notice("detect: stopped a ranking in progress after %" PRId64
				           " ms: the daemon is stopping",
				           took);
			pthread_mutex_lock(&d->mu);
			break;
		}
		if (r == 0)
			alert_kick(d->alert);
		{
			struct window_stats ws;

			window_stats(d->win, &ws);
			pthread_mutex_lock(&d->mu);
			d->wstats = ws;
			pthread_mutex_unlock(&d->mu);
		}

		pthread_mutex_lock(&d->mu);
		if (r == 0)
			d->serving_ms = 0;
		d->pace_ms = pace_of(took);
		if (took > DETECT_PACE_MIN_MS) {
			int64_t until = clock_wall_ms() + DETECT_PACE_FACTOR * took;
			struct timespec ts = {.tv_sec = until / 1000,
			                      .tv_nsec = (until % 1000) * 1000000};

			log_info("detect: ranking took %" PRId64 " ms; next ranking in %" PRId64
			         " s at the earliest",
			         took, DETECT_PACE_FACTOR * took / 1000);
			while (!d->stop && pthread_cond_timedwait(&d->cv, &d->mu, &ts) != ETIMEDOUT)
				;
		}
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

struct detector *
detector_start(const struct config *cfg, struct alerter *alert)
{
	struct detector *d = xcalloc(1, sizeof(*d));
	int r;

	d->st = store_open(cfg->database, 0);
	if (d->st == NULL) {
		char *shown = db_target_shown(cfg->database);

		log_err("detect: cannot open a second connection to database '%s'", shown);
		free(shown);
		free(d);
		return NULL;
	}
	/* its shard's targets, its shard's rankings */
	store_set_shard(d->st, cfg->shard_index, cfg->shard_count, NULL);
	d->win = window_new();
	if (d->win == NULL) {
		log_err("detect: out of memory");
		store_free(d->st);
		free(d);
		return NULL;
	}
	d->alert = alert;
	atomic_init(&d->cancel, false);
	query_set_interrupt(d->st, detector_interrupt, d);
	{
		struct ranking last;

		if (store_ranking_load(d->st, NULL, 1, &last) == 0) {
			d->pace_ms = pace_of(last.duration_ms);
			ranking_release(&last);
		}
	}
	config_slot_init(&d->cfg, config_ref(cfg));
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	r = pthread_create(&d->thread, NULL, detector_main, d);
	if (r != 0) {
		log_err("detect: cannot start the detector thread: %s", strerror(r));
		pthread_cond_destroy(&d->cv);
		pthread_mutex_destroy(&d->mu);
		config_slot_release(&d->cfg);
		store_free(d->st);
		window_free(d->win);
		free(d);
		return NULL;
	}
	return d;
}

void
detector_kick(struct detector *d)
{
	if (d == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	d->kicked = true;
	if (!d->kicked_ms)
		d->kicked_ms = clock_mono_ms();
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

void
detector_window(struct detector *d, struct window_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (d == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	*out = d->wstats;
	pthread_mutex_unlock(&d->mu);
}

void
detector_lag(struct detector *d, int64_t *waiting_ms, int64_t *pace_ms)
{
	int64_t oldest;

	*waiting_ms = 0;
	*pace_ms = 0;
	if (d == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	oldest = d->serving_ms;
	if (!oldest || (d->kicked_ms && d->kicked_ms < oldest))
		oldest = d->kicked_ms;
	*pace_ms = d->pace_ms;
	pthread_mutex_unlock(&d->mu);
	if (oldest)
		*waiting_ms = clock_mono_ms() - oldest;
}

void
detector_reload(struct detector *d, const struct config *cfg)
{
	struct config *ref;

	if (d == NULL)
		return;
	ref = config_ref(cfg); /* config_slot_set() takes a reference of its own */
	config_slot_set(&d->cfg, ref);
	config_unref(ref);
}

void
detector_cancel(struct detector *d)
{
	if (d == NULL)
		return;
	atomic_store(&d->cancel, true); /* first: a running statement stops at its next check */
	pthread_mutex_lock(&d->mu);
	d->stop = true;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

void
detector_stop(struct detector *d)
{
	if (d == NULL)
		return;
	detector_cancel(d);
	pthread_join(d->thread, NULL);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	config_slot_release(&d->cfg);
	store_free(d->st);
	window_free(d->win);
	free(d);
}
