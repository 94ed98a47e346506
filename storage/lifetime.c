/* storage/lifetime.c: where a target's process lifetimes begin. See lifetime.h.
 *
 * The signals, strongest first:
 * - first: nothing came before.
 * - total: the total fell below half, by at least 10 goroutines: a burst that large is rare, a
 *   restart of a service whose goroutines accumulate looks like this.
 * - goid: the largest goroutine id of a debug=2 dump is at most half the previous dump's. Ids
 *   come from one counter that only grows within a process; a long-lived process has handed out
 *   many more than a young one holds. When count scrapes came between the two dumps, the one
 *   where a location that had held for a while fell steeply starts the lifetime (see
 *   lifetime_goid_place()).
 * - failed: a scrape in between found no process (refused, reset, cut off), and something fell.
 * - connection: this scrape needed a new connection where the previous attempt reused one (a
 *   server closes its connections when it exits), and a location fell steeply. A new connection
 *   alone says little: caches evict connections and servers close idle ones.
 * - silence: no success for more than LIFETIME_SILENCE_INTERVALS usual intervals, then a fall.
 * - collapse: LIFETIME_COLLAPSE_LOCATIONS locations that had held for LIFETIME_COLLAPSE_HELD
 *   scrapes fell steeply at once, and so did the total. Handlers that a downstream outage blocked
 *   together are released together too, but they piled up for minutes, not for the process's
 *   life.
 * A steep fall is a location holding at least LIFETIME_FALL_MIN falling to at most a fifth. */
#include <stddef.h>
#include <string.h>

#include "storage/lifetime.h"

/* The total's collapse: below half, and by at least this many goroutines. */
#define LIFETIME_TOTAL_MIN_DROP 10

static const char *const reason_names[] = {
    [LIFETIME_SAME] = NULL,         [LIFETIME_FIRST] = "first",
    [LIFETIME_TOTAL] = "total",     [LIFETIME_GOID] = "goid",
    [LIFETIME_FAILED] = "failed",   [LIFETIME_CONNECTION] = "connection",
    [LIFETIME_SILENCE] = "silence", [LIFETIME_COLLAPSE] = "collapse",
};
#define NREASONS (sizeof(reason_names) / sizeof(reason_names[0]))

bool
lifetime_fell_steeply(uint64_t before, uint64_t after)
{
	return before >= LIFETIME_FALL_MIN && after * 5 <= before;
}

static bool
steep(const struct lifetime_fall *f)
{
	return lifetime_fell_steeply(f->before, f->after);
}

bool
lifetime_goid_restarted(uint64_t prev_goid, uint64_t goid)
{
	return prev_goid > 0 && goid > 0 && goid <= prev_goid / 2;
}

struct lifetime_falls_held
lifetime_count_falls(const struct lifetime_fall *falls, size_t n)
{
	struct lifetime_falls_held h = {0};

	for (size_t i = 0; i < n; i++) {
		if (!steep(&falls[i]))
			continue;
		if (falls[i].held >= LIFETIME_PLACE_HELD)
			h.place++;
		if (falls[i].held >= LIFETIME_COLLAPSE_HELD)
			h.collapse++;
	}
	return h;
}

size_t
lifetime_goid_place(const struct lifetime_candidate *c, size_t n)
{
	size_t best = n;

	for (size_t i = 0; i < n; i++)
		if (c[i].restart)
			return n;
	if (n == 1)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (c[i].held_falls > 0 && (best == n || c[i].held_falls > c[best].held_falls))
			best = i;
	return best;
}

enum lifetime_reason
lifetime_judge(const struct lifetime_step *s)
{
	size_t nsteep = 0;
	bool fell;

	if (!s->have_prev)
		return LIFETIME_FIRST;
	if (s->total * 2 < s->prev_total && s->prev_total - s->total >= LIFETIME_TOTAL_MIN_DROP)
		return LIFETIME_TOTAL;
	if (lifetime_goid_restarted(s->prev_goid, s->goid))
		return LIFETIME_GOID;
	for (size_t i = 0; i < s->nfalls; i++)
		if (steep(&s->falls[i]))
			nsteep++;
	fell = s->total < s->prev_total || nsteep > 0;
	if (s->down_between > 0 && fell)
		return LIFETIME_FAILED;
	if (s->session && s->conn == LIFETIME_CONN_NEW && s->prev_conn == LIFETIME_CONN_REUSED &&
	    nsteep > 0)
		return LIFETIME_CONNECTION;
	if (s->session && s->interval_ms > 0 && s->ts - s->prev_ts > 0 &&
	    (uint64_t)(s->ts - s->prev_ts) >
	        (uint64_t)s->interval_ms * LIFETIME_SILENCE_INTERVALS &&
	    fell)
		return LIFETIME_SILENCE;
	if (lifetime_count_falls(s->falls, s->nfalls).collapse >= LIFETIME_COLLAPSE_LOCATIONS &&
	    s->total < s->prev_total)
		return LIFETIME_COLLAPSE;
	return LIFETIME_SAME;
}

bool
lifetime_status_down(const char *status)
{
	static const char *const down[] = {
	    "connect refused", "connect failed", "connection reset",
	    "empty reply",     "truncated body", "http 502",
	};

	if (status == NULL)
		return false;
	for (size_t i = 0; i < sizeof(down) / sizeof(down[0]); i++)
		if (strncmp(status, down[i], strlen(down[i])) == 0)
			return true;
	return false;
}

const char *
lifetime_reason_name(enum lifetime_reason r)
{
	return (size_t)r < NREASONS ? reason_names[r] : NULL;
}

enum lifetime_reason
lifetime_reason_parse(const char *name)
{
	if (name == NULL)
		return LIFETIME_SAME;
	for (size_t i = 1; i < NREASONS; i++)
		if (strcmp(name, reason_names[i]) == 0)
			return (enum lifetime_reason)i;
	return LIFETIME_SAME;
}
