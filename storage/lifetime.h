/* storage/lifetime.h: where a target's process lifetimes begin: the one rule.
 *
 * A restart resets every goroutine of a process, but what a scrape shows of it depends on the
 * service: the total collapses only when the goroutines that accumulate outweigh the pools that
 * refill at start-up. So the rule takes every signal a scrape offers: the target's first scrape,
 * scrapes that found no process or a long silence, the total collapsing, goroutine ids of debug=2
 * dumps starting again from low numbers, a new connection where the previous one was kept alive,
 * and locations collapsing together. The signals that also happen without a restart (a failed
 * scrape, a new connection) count only together with a steep fall, so a burst that drains is still
 * a burst. The ingest decides once per scrape and stores the reason (scrapes.restart); the detector
 * and the dashboard's restart markers read what it stored. Pure functions, no I/O. */
#ifndef LIFETIME_H
#define LIFETIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why a scrape starts a new process lifetime of its target (stored by name). */
enum lifetime_reason {
	LIFETIME_SAME = 0,   /* it continues the previous one (stored as NULL) */
	LIFETIME_FIRST,      /* "first": the target's first successful count scrape */
	LIFETIME_TOTAL,      /* "total": the total collapsed (below half, by at least 10) */
	LIFETIME_GOID,       /* "goid": goroutine ids started again from low numbers */
	LIFETIME_FAILED,     /* "failed": a scrape in between found no process, then a fall */
	LIFETIME_CONNECTION, /* "connection": the kept-alive connection was closed, and a steep fall
	                      */
	LIFETIME_SILENCE,    /* "silence": no success for several intervals, then a fall */
	LIFETIME_COLLAPSE,   /* "collapse": several long-held locations fell steeply at once */
};

/* What the scraper knows of a scrape's connection. */
enum lifetime_conn {
	LIFETIME_CONN_UNKNOWN = 0,
	LIFETIME_CONN_REUSED, /* the connection kept alive from an earlier scrape */
	LIFETIME_CONN_NEW,    /* a new one: none was kept, or the server closed it */
};

/* A location holding at least this many goroutines that falls to at most a fifth of it falls
 * steeply. */
#define LIFETIME_FALL_MIN 10
/* True when a location holding 'before' goroutines that holds 'after' in the next scrape fell
 * steeply: from at least LIFETIME_FALL_MIN to at most a fifth. */
bool lifetime_fell_steeply(uint64_t before, uint64_t after);

/* This many locations falling steeply at once collapse together, when each had held at least
 * LIFETIME_FALL_MIN for LIFETIME_COLLAPSE_HELD scrapes: what a restart resets had accumulated, what
 * a downstream outage releases at once had piled up for minutes. */
#define LIFETIME_COLLAPSE_LOCATIONS 3
#define LIFETIME_COLLAPSE_HELD 20
/* No success for more than this many usual intervals is a silence. */
#define LIFETIME_SILENCE_INTERVALS 4

/* One location's count in the previous successful count scrape of the target and in this one
 * (0: absent), and for how many successful count scrapes up to the previous one it held at least
 * LIFETIME_FALL_MIN. Only locations that held at least LIFETIME_FALL_MIN before need be given. */
struct lifetime_fall {
	uint64_t before, after;
	unsigned held;
};

/* A step from the target's previous successful count scrape to this one. */
struct lifetime_step {
	bool have_prev; /* false: this is the target's first successful count scrape */
	/* The previous one was seen by the same scraper (the same daemon run): only then do a
	 * silence and a connection say something about the target rather than about the daemon. */
	bool session;
	int64_t prev_ts, ts; /* ms */
	uint64_t prev_total, total;
	int64_t interval_ms;          /* the target's usual interval; 0: unknown */
	unsigned down_between;        /* attempts since prev that found no process */
	enum lifetime_conn prev_conn; /* of the target's previous attempt */
	enum lifetime_conn conn;      /* of this one */
	/* The largest goroutine id of the target's latest debug=2 dump at or after prev, and of
	 * this scrape when it is one; 0: unknown. */
	uint64_t prev_goid, goid;
	const struct lifetime_fall *falls; /* borrowed; NULL when nfalls is 0 */
	size_t nfalls;
};

/* Whether and why 'step' starts a new process lifetime: LIFETIME_SAME or the strongest reason. */
enum lifetime_reason lifetime_judge(const struct lifetime_step *step);

/* True when a debug=2 dump with largest goroutine id 'goid' cannot come from the process whose
 * earlier dump had 'prev_goid': the ids started again from low numbers (at most half). False when
 * either is unknown (0). */
bool lifetime_goid_restarted(uint64_t prev_goid, uint64_t goid);

/* A location that held at least LIFETIME_FALL_MIN for this many scrapes and then fell steeply
 * shows where, between two dumps, a process restarted. */
#define LIFETIME_PLACE_HELD 10

/* The steep falls of a step: of locations that held for LIFETIME_PLACE_HELD scrapes and, among
 * them, for LIFETIME_COLLAPSE_HELD. */
struct lifetime_falls_held {
	unsigned place, collapse;
};
struct lifetime_falls_held lifetime_count_falls(const struct lifetime_fall *falls, size_t n);

/* One successful count scrape between two debug=2 dumps of a target, for lifetime_goid_place(). */
struct lifetime_candidate {
	bool restart;        /* it starts a lifetime already */
	unsigned held_falls; /* its step's lifetime_count_falls().place */
};

/* Between two dumps whose goroutine ids show a restart, the count scrape (of 'n', in time order)
 * that starts the new lifetime: the one where the most locations that had held for a while fell
 * steeply (the earliest of equals), or the only one. 'n' when none should: one of them starts a
 * lifetime already, or nothing shows where the restart was (a burst draining must not be taken
 * for it). */
size_t lifetime_goid_place(const struct lifetime_candidate *c, size_t n);

/* True when a failed scrape's status says no process answered at the address (refused, reset, an
 * empty or cut reply), as a restart does; a timeout or an HTTP error says the process is there. */
bool lifetime_status_down(const char *status);

/* The stored name of 'r' ("first", "total", ...); NULL for LIFETIME_SAME. Static. */
const char *lifetime_reason_name(enum lifetime_reason r);
/* The reason a stored name stands for; LIFETIME_SAME for NULL or an unknown name. */
enum lifetime_reason lifetime_reason_parse(const char *name);

#endif
