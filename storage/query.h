/* storage/query.h: the read queries the dashboard, the JSON API and /metrics need beyond store.h: a
 * location's counts over time per instance, its latest count per instance, per-service health,
 * pages of targets, scrape counters, and the alert and outbox tables written by alerting.
 * Read-only; every statement uses bound parameters. */
#ifndef QUERY_H
#define QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

/* At most this many buckets in a series (window / step) and instances in one answer. */
#define QUERY_MAX_BUCKETS 5000
#define QUERY_MAX_INSTANCES 2000

/* One instance's series: per bucket the highest count seen in it, NaN where the instance had no
 * scrape. */
struct query_instance_series {
	int64_t target_id;
	char *service;
	char *target;    /* url */
	double *values;  /* nbuckets */
	uint64_t latest; /* count at the instance's last scrape in the window */
};

/* A restart of one instance: the first scrape of a new process lifetime after another one, as
 * the ingest decided it (scrapes.restart, storage/lifetime.h) and the detector ranks with. */
struct query_restart {
	int64_t target_id;
	int64_t ts;
	enum lifetime_reason reason;
};

struct query_series {
	int64_t from; /* ms, start of bucket 0 */
	int64_t step; /* ms */
	size_t nbuckets;
	double *total; /* nbuckets: sum over instances of each one's bucket value; NaN: no data */
	struct query_instance_series *inst;
	size_t ninst;
	bool truncated; /* more instances than QUERY_MAX_INSTANCES had the location */
	struct query_restart *restarts;
	size_t nrestarts;
	/* Buckets starting before this (ms) are past the raw samples kept: their total is the
	 * hourly rollups' mean per scrape times the instances running (the highest such hour in the
	 * bucket), their instance values NaN. 'from' when the whole range is raw. */
	int64_t hourly_until;
};

/* The counts of 'location_id' in [from, to) in buckets of 'step' ms, per instance of the services
 * where it appeared in that range (only 'service' when not NULL). A successful scrape without the
 * location counts 0. The total carries each instance's last value forward into empty buckets for up
 * to 'lookback' ms, so instances scraped at different moments add up without a sawtooth. The part
 * of the range older than the oldest raw scrape kept comes from the hourly rollups (see
 * hourly_until). 0, or -1 (message in store_errmsg, or ENOMEM). Caller releases with
 * query_series_release. */
int query_location_series(struct store *st, int64_t location_id, const char *service, int64_t from,
                          int64_t to, int64_t step, int64_t lookback, struct query_series *out)
    __attribute__((warn_unused_result));
void query_series_release(struct query_series *s);

/* A location's count in each instance's latest successful scrape (instances where it is present).
 */
struct query_instance {
	int64_t target_id;
	char *service;
	char *target;
	int64_t ts;
	uint64_t count;
	uint64_t leaked;
	int64_t total_goroutines; /* -1 unknown */
};
/* Instances that had 'location_id' in a scrape since 'since' (ms) and still have it in their latest
 * successful scrape, largest count first, at most QUERY_MAX_INSTANCES. The bound keeps the scan to
 * recent samples: pass the location's last_seen minus a few scrape intervals. 0, or -1. Caller
 * releases with query_instances_free. */
int query_location_instances(struct store *st, int64_t location_id, int64_t since,
                             struct query_instance **out, size_t *n)
    __attribute__((warn_unused_result));
void query_instances_free(struct query_instance *v, size_t n);

/* The wait ages of a location in the newest debug=2 detail scrape since 'since' (ms) that saw it
 * (-1: unknown). 0, or -1. */
int query_location_ages(struct store *st, int64_t location_id, int64_t since, int32_t *max_wait,
                        int32_t *median_wait) __attribute__((warn_unused_result));

/* A location's call sites in one service over a window: each distinct stack that led to it
 * (sample_stacks; a sample stored without any stands for the location's representative stack),
 * its count over time, summed over the service's instances. */
#define QUERY_CALL_SITES_MAX 8     /* stacks in one answer */
#define QUERY_CALL_SITES_POINTS 48 /* points in one stack's series */
struct query_call_site {
	int64_t stack_id;
	char *frames_json; /* the stack's frames, innermost first (JSON array text) */
	uint64_t first;    /* its count in the window's first point with the location, */
	uint64_t last;     /* and in its last one */
	size_t npoints;
	int64_t *ts; /* npoints: each point's bucket start (ms) */
	uint64_t
	    *count; /* npoints: the sum over instances of each one's last scrape in the bucket */
};
struct query_call_sites {
	struct query_call_site *v; /* the largest by their last count (then their peak) */
	size_t n;
	size_t nstacks; /* distinct stacks seen, kept or not */
};
/* The call sites of 'location_id' in service 'service_id' over [from, to), in buckets of 'step'
 * ms (widened so that there are at most QUERY_CALL_SITES_POINTS), at most QUERY_CALL_SITES_MAX
 * stacks: the largest, and 'keep_stack_id' (the one a ranking named; 0: none) whatever its
 * size. An instance's bucket value is its count in its last count scrape in the bucket that had
 * the location (a stack absent from that scrape: 0); points are the buckets where some instance
 * had it. Reads the location's rows by index from the window's first scrape on. 0, or -1
 * (message in store_errmsg, or ENOMEM). Caller releases with query_call_sites_release. */
int query_location_call_sites(struct store *st, int64_t location_id, int64_t service_id,
                              int64_t from, int64_t to, int64_t step, int64_t keep_stack_id,
                              struct query_call_sites *out) __attribute__((warn_unused_result));
void query_call_sites_release(struct query_call_sites *cs);

/* 0 when a service named 'name' exists (*id set), 1 when not, -1 on error. */
int query_service_id(struct store *st, const char *name, int64_t *id)
    __attribute__((warn_unused_result));

/* Per-service health. */
struct query_service {
	int64_t id;
	char *name;
	char *labels_json;   /* JSON object text */
	uint32_t targets;    /* active targets */
	uint32_t targets_up; /* active targets whose last scrape succeeded */
	int64_t last_scrape; /* ms: the latest of the active targets', 0: never */
	int64_t goroutines;  /* sum of the active targets' last goroutine totals, -1 unknown */
};
/* Every service with at least one active target (in the configuration), by name, summed over
 * those: retired targets are not read. 0, or -1. Caller releases with query_services_free. */
int query_services(struct store *st, struct query_service **out, size_t *n)
    __attribute__((warn_unused_result));
void query_services_free(struct query_service *v, size_t n);

/* What query_targets() lists: the state of a target's last scrape. */
enum query_target_state {
	QUERY_TARGETS_ANY = 0,
	QUERY_TARGETS_UP,      /* its last scrape succeeded */
	QUERY_TARGETS_DOWN,    /* its last scrape failed */
	QUERY_TARGETS_UNKNOWN, /* never scraped */
};

struct query_targets_filter {
	const char *service; /* only this service's targets; NULL: every service's */
	enum query_target_state state;
	/* with QUERY_TARGETS_DOWN: only those whose last status starts with this ("timeout",
	 * "http 5"); NULL: any */
	const char *status_prefix;
	bool inactive; /* the targets no longer in the configuration instead of the active ones */
	int64_t after; /* only ids above this (the previous page's *next); 0: from the first */
	size_t limit;  /* at most this many, >= 1 */
};

/* One page of the targets 'f' selects, by id (the order targets were first seen in; a target
 * added meanwhile never shifts a later page), each read through an index that serves the filter
 * and the order, however many targets were ever seen. *next is the id to pass as 'after' for the
 * next page, 0 when no target follows this page. Returns 0, 1 when no service is named
 * f->service (nothing listed), or -1. Caller releases *out with target_health_free. */
int query_targets(struct store *st, const struct query_targets_filter *f,
                  struct target_health **out, size_t *n, int64_t *next)
    __attribute__((warn_unused_result));

/* Scrape attempts per service and outcome with id > 'after_id' (ids only grow): calls 'cb' per
 * (service, ok) group with the count and summed duration, and sets *max_id to the highest id seen
 * (unchanged when none). Lets /metrics keep monotonic counters across retention. 0, or -1. */
int query_scrape_counts(struct store *st, int64_t after_id, int64_t *max_id,
                        void (*cb)(const char *service, bool ok, uint64_t count,
                                   uint64_t duration_ms_sum, void *arg),
                        void *arg) __attribute__((warn_unused_result));

/* The highest scrape id stored (0: none). 0, or -1. */
int query_last_scrape_id(struct store *st, int64_t *id) __attribute__((warn_unused_result));

/* The id of the latest stored ranking (0: none yet); it changes whenever the detector stores a new
 * one. */
int query_latest_ranking_id(struct store *st, int64_t *id) __attribute__((warn_unused_result));

/* Prepare a read-only connection for serving: memory-mapped reads (SQLite), and
 * query_set_interrupt(st, interrupt, arg) (request deadlines). 0, or -1. */
int query_reader_setup(struct store *st, int (*interrupt)(void *arg), void *arg)
    __attribute__((warn_unused_result));

/* Call 'interrupt' (NULL: none) while 'st''s statements run (db_set_interrupt(): every few
 * thousand SQLite steps, or each PostgreSQL step and every few ms it waits): a non-zero return
 * aborts the running statement, which fails like any other (a write rolls back)
 * and is logged at info level only: whoever interrupts knows why (a request deadline, a daemon
 * stopping). 'arg' borrowed; 'interrupt' may run on the thread using 'st' only. */
void query_set_interrupt(struct store *st, int (*interrupt)(void *arg), void *arg);
/* The last failure on 'st' was an interrupt (query_set_interrupt()), not an error to report. */
bool query_interrupted(struct store *st);

/* Alert state of one (service, location), as stored by alerting. */
struct query_alert {
	int64_t service_id;
	int64_t location_id;
	char state[12];        /* "pending" | "firing" | "resolved" */
	int64_t since;         /* ms: pending_since, firing_since or resolved_at by state */
	int64_t last_notified; /* 0: never */
	char *service;         /* its name, whether or not a target of it is still active */
};
/* Every alert not resolved for longer than 'resolved_within' ms before 'now'. 0, or -1. Release
 * with query_alerts_free(). */
int query_alerts(struct store *st, int64_t now, int64_t resolved_within, struct query_alert **out,
                 size_t *n) __attribute__((warn_unused_result));
void query_alerts_free(struct query_alert *v, size_t n);

/* Undelivered, dropped or failed outbox rows, oldest first. */
struct query_outbox {
	int64_t id;
	char *event_id;
	char *webhook;
	char *status; /* firing | resolved */
	char *service;
	char *function;
	char *state; /* pending | dropped | failed */
	int64_t created;
	uint32_t attempts;
	int64_t next_attempt;
	char *last_error; /* NULL: none */
};
/* At most 'limit' pending rows, then at most 'limit' dropped or failed ones. 0, or -1. */
int query_outbox(struct store *st, size_t limit, struct query_outbox **out, size_t *n)
    __attribute__((warn_unused_result));
void query_outbox_free(struct query_outbox *v, size_t n);

#endif
