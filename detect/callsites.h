/* detect/callsites.h: a candidate's call sites, as the detector judges them: internal to detect/.
 * A location reached from several callers (a shared helper) holds goroutines of each; the
 * ingest keeps each scrape's distinct stacks per location (sample_stacks), and the detector
 * reads them for the locations that passed its minimums: which stack grew, whether the ignore
 * rules drop the location on them, and which stack its suspect shows. The window's scrapes and
 * targets are detect.c's (struct pt, struct tgt); this header shares their layout. */
#ifndef CALLSITES_H
#define CALLSITES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "storage/store.h"

/* One successful count scrape of a target, in the window. */
struct pt {
	int64_t scrape_id;
	int64_t ts;
	uint32_t total; /* its goroutines (held in 32 bits: past them, UINT32_MAX) */
	bool restart;   /* a new lifetime starts here (as stored) */
};

struct tgt {
	int64_t target_id;
	int64_t service_id;
	size_t first;       /* index of its first pt in the ranking's own array, when it has one */
	const struct pt *p; /* its pts */
	size_t n;
	/* given by the window kept between rankings (detect/window.h), else found from p */
	const uint32_t *restarts; /* the indexes (from 1) of the pts that start a lifetime */
	size_t nrestarts;
	bool has_restarts;
	double med; /* its usual interval: the median between consecutive pts (ms) */
	bool has_med;
	uint32_t nlives;
	size_t cur;   /* index (from first) of its current lifetime's first pt */
	bool active;  /* in the configuration or target files */
	bool live;    /* active, and its latest success is recent */
	bool prevgen; /* dead, and went away as the service's live instances came up */
};

/* The window a ranking reads call sites over: its targets and their scrapes (borrowed), and the
 * buffers reused from one candidate to the next (owned: callsites_release()). */
struct callsites {
	const struct config *cfg;
	const struct pt *pts;
	size_t npts;
	const struct tgt *tgts;
	size_t ntgts;
	struct scrape_ref *refs; /* every pt by scrape id (built when first needed) */
	size_t nrefs;
	struct call_row *rows; /* one candidate's call-site rows */
	size_t nrows, caprows;
};

/* What a candidate's call sites say. */
struct callsites_verdict {
	int64_t
	    stack_id; /* the stack shown; 0: none stored (the location's representative stands) */
	char *stack_json; /* its frames; owned */
	bool ignored;     /* the ignore rules drop the location on its call sites */
	uint32_t n;       /* distinct stacks seen in the service in the window */
	bool grew;        /* the stack shown grew in live instances' current lifetimes */
};

/* One distinct stack of a location in one service, and what the ignore rules make of it. */
struct callsites_stack {
	int64_t stack_id;
	int64_t rise;     /* how much it grew (see callsites.c and history.c for each window's) */
	uint64_t current; /* goroutines it holds now (a tie-break) */
	uint64_t total;   /* over the window (the next tie-break) */
	char *json;       /* its frames (NULL: gone); owned by the caller */
	bool ignored;     /* set by callsites_rule() */
};

/* The one rule for ignore rules over a location's call sites, whichever window they come from
 * (the raw ranking's, the hourly rollups'). Each stack is ignored when a rule matches location
 * 'loc' of 'service' with that stack (any_function: a frame of it). Then:
 * - when the ignored stacks rose (their rise > 0), the location is dropped (*drop) unless the
 *   other stacks rose by more than a tenth of that: growth that comes (all but jitter) from
 *   ignored callers is not a suspect; past that tenth it is one, shown with its own caller;
 * - when no ignored stack rose, it is dropped only when every stack seen is ignored.
 * Returns the index of the stack to show: of the stacks not ignored (all when every one is),
 * the one that rose most, then the one holding most now, then over the window; -1 when none
 * (no stack with frames). */
int callsites_rule(const struct config *cfg, const char *service, const struct store_location *loc,
                   struct callsites_stack *v, size_t n, bool *drop);

/* Judge the call sites of location 'loc' (id 'location_id') of service 'service_id' (named
 * 'service') over the window of 'cs' (see callsites.c). Fills '*out' (zeroed first; nothing
 * stored leaves it so). 0, or -1 on a storage error (not logged: the caller knows what it
 * ranked). */
int callsites_judge(struct callsites *cs, struct store *st, int64_t service_id, const char *service,
                    int64_t location_id, const struct store_location *loc,
                    struct callsites_verdict *out) __attribute__((warn_unused_result));

/* Free the buffers of 'cs' (not what it borrows). */
void callsites_release(struct callsites *cs);

#endif
