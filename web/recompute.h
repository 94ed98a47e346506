/* web/recompute.h: rankings recomputed over a window a request asks for (?window= on
 * /api/v1/suspects and the Suspects page), shared between requests. A recompute reads the whole
 * window of the fleet (up to the request timeout), so: one runs per (window, service) at a time and
 * every request asking for it meanwhile waits for its answer; at most 'max_running' run at once,
 * and a request that would start one more is refused (503 with Retry-After) rather than queued; a
 * finished answer is served again while it is fresh (a second, or four times as long as it took to
 * compute, so that recomputing one window stays under a fifth of a core). The module coordinates
 * only: the caller that is told to compute does it on its own database connection. Thread-safe. */
#ifndef RECOMPUTE_H
#define RECOMPUTE_H

#include <stdint.h>

#include "storage/store.h"

#define RECOMPUTE_MAX_RUNNING 2 /* recomputes running at once, at most (the web server's bound) */
#define RECOMPUTE_FRESH_MIN_MS 1000 /* an answer is served again for at least this long */
#define RECOMPUTE_PACE 4            /* ... or this many times as long as it took to compute */

struct recompute;       /* opaque */
struct recompute_entry; /* opaque: one (window, service) answer, shared by the requests asking */

/* A coordinator allowing 'max_running' (>= 1) recomputes at once. NULL on ENOMEM. Caller owns. */
struct recompute *recompute_new(unsigned max_running);
/* Free; every entry must have been released. recompute_free(NULL) does nothing. */
void recompute_free(struct recompute *rc);

enum recompute_claim {
	RECOMPUTE_READY,   /* *e is a finished answer (recompute_result), possibly an error */
	RECOMPUTE_COMPUTE, /* the caller computes *e and must call recompute_finish(), whatever
	                      happens */
	RECOMPUTE_BUSY,    /* max_running other recomputes run: refused, retry in *retry_after_s */
	RECOMPUTE_TIMEOUT, /* 'deadline_ms' passed while another request was computing it */
};

/* The answer for the ranking over 'window' seconds of 'service' (NULL: all; copied): a fresh one,
 * the one another request is computing (waiting for it until 'deadline_ms', wall clock), or the
 * caller's to compute. With READY and COMPUTE the caller holds a reference to *e and drops it with
 * recompute_release(). 'now_ms' is the wall clock. */
enum recompute_claim recompute_claim(struct recompute *rc, uint64_t window, const char *service,
                                     int64_t now_ms, int64_t deadline_ms,
                                     struct recompute_entry **e, unsigned *retry_after_s);
/* Publish the answer of a COMPUTE claim and wake the requests waiting for it: 'status' (200, or an
 * HTTP error with 'err'), the ranking 'rk' (stolen, released here when status is not 200; may be
 * NULL then), computed in 'took_ms' and finished at 'now_ms'. Errors are handed to the waiters but
 * not kept for later requests. */
void recompute_finish(struct recompute *rc, struct recompute_entry *e, unsigned status,
                      const char *err, struct ranking *rk, int64_t took_ms, int64_t now_ms);
/* The answer of a READY entry: the status, 'err' (when not 200) and the ranking (when 200), valid
 * while the caller holds its reference. */
const struct ranking *recompute_result(const struct recompute_entry *e, unsigned *status,
                                       const char **err);
/* Drop a reference from recompute_claim(). NULL does nothing. */
void recompute_release(struct recompute *rc, struct recompute_entry *e);

/* Counters since recompute_new(): recomputes started, and requests refused because max_running
 * were running. */
void recompute_stats(struct recompute *rc, uint64_t *started, uint64_t *refused);

#endif
