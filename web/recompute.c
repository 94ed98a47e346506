/* web/recompute.c: recomputed rankings shared between requests (see recompute.h).
 *
 * DESIGN: a small table of entries keyed by (window, service), under one mutex that is never held
 * while a ranking is computed. An entry is either being computed (by the request that claimed it)
 * or finished. Requests finding one being computed take a reference and wait on the condition
 * variable until it is finished or their own deadline passes; the computing request publishes the
 * answer with recompute_finish() and broadcasts. A finished entry stays in the table while it is
 * fresh (errors leave it at once), and is freed when the table and the last request let go of it.
 * The table holds at most RECOMPUTE_TABLE entries: a new key replaces the stalest finished one, and
 * since at most max_running (< RECOMPUTE_TABLE) are being computed, one always can be replaced. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web/recompute.h"

#define RECOMPUTE_TABLE 16
#define RECOMPUTE_ERR_MAX 300

struct recompute_entry {
	unsigned refs; /* the table's (while listed) and each request's; guarded by the lock */
	uint64_t window;
	char *service; /* NULL: all services */
	bool computing;
	/* Set once by recompute_finish(), read-only afterwards. */
	unsigned status;
	char err[RECOMPUTE_ERR_MAX];
	struct ranking rk;
	int64_t fresh_until_ms;
};

struct recompute {
	pthread_mutex_t lock;
	pthread_cond_t done; /* broadcast when an entry is finished */
	unsigned max_running;
	unsigned running;
	int64_t last_took_ms;
	uint64_t started;
	uint64_t refused;
	struct recompute_entry *table[RECOMPUTE_TABLE]; /* NULL: a free slot */
};

struct recompute *
recompute_new(unsigned max_running)
{
	struct recompute *rc = calloc(1, sizeof(*rc));

	if (!rc)
		return NULL;
	pthread_mutex_init(&rc->lock, NULL);
	pthread_cond_init(&rc->done, NULL);
	rc->max_running = max_running ? max_running : 1;
	if (rc->max_running >= RECOMPUTE_TABLE)
		rc->max_running = RECOMPUTE_TABLE - 1;
	return rc;
}

static void
entry_free(struct recompute_entry *e)
{
	ranking_release(&e->rk);
	free(e->service);
	free(e);
}

/* With the lock held: drop one reference. */
static void
entry_unref(struct recompute_entry *e)
{
	if (--e->refs == 0)
		entry_free(e);
}

void
recompute_free(struct recompute *rc)
{
	if (!rc)
		return;
	for (size_t i = 0; i < RECOMPUTE_TABLE; i++) {
		if (rc->table[i])
			entry_unref(rc->table[i]);
	}
	pthread_cond_destroy(&rc->done);
	pthread_mutex_destroy(&rc->lock);
	free(rc);
}

static bool
same_service(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* With the lock held: take entry 'i' out of the table. */
static void
table_drop(struct recompute *rc, size_t i)
{
	struct recompute_entry *e = rc->table[i];

	rc->table[i] = NULL;
	entry_unref(e);
}

/* With the lock held: a free slot, made by dropping the stalest finished entry when none is. */
static size_t
table_slot(struct recompute *rc)
{
	size_t victim = RECOMPUTE_TABLE;

	for (size_t i = 0; i < RECOMPUTE_TABLE; i++) {
		if (!rc->table[i])
			return i;
		if (!rc->table[i]->computing &&
		    (victim == RECOMPUTE_TABLE ||
		     rc->table[i]->fresh_until_ms < rc->table[victim]->fresh_until_ms))
			victim = i;
	}
	/* At most max_running < RECOMPUTE_TABLE entries are being computed. */
	table_drop(rc, victim);
	return victim;
}

enum recompute_claim
recompute_claim(struct recompute *rc, uint64_t window, const char *service, int64_t now_ms,
                int64_t deadline_ms, struct recompute_entry **out, unsigned *retry_after_s)
{
	struct timespec until = {.tv_sec = deadline_ms / 1000,
	                         .tv_nsec = (deadline_ms % 1000) * 1000000};
	struct recompute_entry *e = NULL;
	size_t slot;

	*out = NULL;
	*retry_after_s = 0;
	pthread_mutex_lock(&rc->lock);
	for (size_t i = 0; i < RECOMPUTE_TABLE && !e; i++) {
		struct recompute_entry *t = rc->table[i];

		if (!t || t->window != window || !same_service(t->service, service))
			continue;
		if (!t->computing && now_ms >= t->fresh_until_ms)
			table_drop(rc, i); /* stale: computed again below */
		else
			e = t;
	}
	if (e) {
		e->refs++;
		while (e->computing) {
			if (pthread_cond_timedwait(&rc->done, &rc->lock, &until) == ETIMEDOUT &&
			    e->computing) {
				entry_unref(e);
				pthread_mutex_unlock(&rc->lock);
				return RECOMPUTE_TIMEOUT;
			}
		}
		*out = e;
		pthread_mutex_unlock(&rc->lock);
		return RECOMPUTE_READY;
	}
	if (rc->running >= rc->max_running) {
		int64_t s = (rc->last_took_ms + 999) / 1000;

		rc->refused++;
		*retry_after_s = (unsigned)(s < 1 ? 1 : s > 60 ? 60 : s);
		pthread_mutex_unlock(&rc->lock);
		return RECOMPUTE_BUSY;
	}
	e = calloc(1, sizeof(*e));
	if (e && service) {
		e->service = strdup(service);
		if (!e->service) {
			free(e);
			e = NULL;
		}
	}
	if (!e) {
		/* Out of memory: refused like a busy server. */
		*retry_after_s = 1;
		pthread_mutex_unlock(&rc->lock);
		return RECOMPUTE_BUSY;
	}
	e->window = window;
	e->computing = true;
	e->refs = 2; /* the table's and the caller's */
	slot = table_slot(rc);
	rc->table[slot] = e;
	rc->running++;
	rc->started++;
	*out = e;
	pthread_mutex_unlock(&rc->lock);
	return RECOMPUTE_COMPUTE;
}

void
recompute_finish(struct recompute *rc, struct recompute_entry *e, unsigned status, const char *err,
                 struct ranking *rk, int64_t took_ms, int64_t now_ms)
{
	int64_t fresh = RECOMPUTE_PACE * (took_ms > 0 ? took_ms : 0);

	pthread_mutex_lock(&rc->lock);
	e->status = status;
	if (status == 200 && rk) {
		e->rk = *rk;
	} else {
		if (status == 200)
			e->status = 500;
		snprintf(e->err, sizeof(e->err), "%s", err ? err : "the ranking failed");
		if (rk)
			ranking_release(rk);
	}
	if (rk)
		*rk = (struct ranking){0};
	e->fresh_until_ms =
	    now_ms + (fresh > RECOMPUTE_FRESH_MIN_MS ? fresh : RECOMPUTE_FRESH_MIN_MS);
	e->computing = false;
	rc->running--;
	rc->last_took_ms = took_ms;
	if (e->status != 200) {
		for (size_t i = 0; i < RECOMPUTE_TABLE; i++) {
			if (rc->table[i] == e)
				table_drop(rc, i);
		}
	}
	pthread_cond_broadcast(&rc->done);
	pthread_mutex_unlock(&rc->lock);
}

const struct ranking *
recompute_result(const struct recompute_entry *e, unsigned *status, const char **err)
{
	*status = e->status;
	*err = e->status == 200 ? NULL : e->err;
	return e->status == 200 ? &e->rk : NULL;
}

void
recompute_release(struct recompute *rc, struct recompute_entry *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&rc->lock);
	entry_unref(e);
	pthread_mutex_unlock(&rc->lock);
}

void
recompute_stats(struct recompute *rc, uint64_t *started, uint64_t *refused)
{
	pthread_mutex_lock(&rc->lock);
	*started = rc->started;
	*refused = rc->refused;
	pthread_mutex_unlock(&rc->lock);
}
