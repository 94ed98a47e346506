/* daemon/ingest.h: the ingest thread: the one writer of the database, storing what the main loop
 * queues (target registrations, the active set, finished scrapes) in order, so a slow disk never
 * delays a scrape. Finished scrapes are stored in batches: the run of scrapes at the head of the
 * queue, up to batch_max of them or batch_ms of work, in one transaction; any other job in a
 * transaction of its own, in its place in the order. A database that refuses writes (read-only,
 * full, locked) never stops the main loop: the refused work stays at the head and is retried,
 * finished scrapes wait behind it up to a bound, and the rest of the queue follows once writes
 * succeed. A scrape the database rejects (a constraint: bad data, a target deleted under it) is
 * given up, logged with its target's URL; the rest of its batch is stored.
 *
 * Acknowledged: a scrape is acknowledged once the transaction holding it has committed
 * (ingest_committed() counts them); from then on a kill -9 or a crash of the process cannot lose
 * it. What is not acknowledged is in memory only, and that is what a kill -9 loses: the scrapes
 * queued and the batch being written. The queue bounds it: it takes a scrape only while its oldest
 * job has waited less than pending_ms (ingest.buffer_duration, 10 minutes by default) and fewer
 * than pending_max (ingest.buffer_scrapes, 4,096) scrapes wait, the batch being written included;
 * beyond, new scrapes are dropped (logged, counted). So a kill -9 loses at most pending_max
 * scrapes, all finished after the oldest of them was queued, which was less than pending_ms before
 * the newest; and an outage of the database shorter than pending_ms, during which fewer than
 * pending_max scrapes finish, loses none. A database taking writes keeps the queue far below
 * either bound: about one batch_ms of work plus what finishes meanwhile (ingest_stats_take()
 * measures it).
 *
 * Targets are named by the caller's ids (> 0; the daemon's registry ids, see targetset.h); the
 * thread maps each to its database id when it registers it.
 *
 * Threads: the ingest_push_*() functions, ingest_set_retention(), ingest_set_buffer(),
 * ingest_committed(), ingest_failing() and ingest_queue_get() may be called from any thread; the
 * rest from the one that owns the struct ingest. */
#ifndef INGEST_H
#define INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "collector/scrape.h"
#include "storage/store.h"

/* The defaults of struct ingest_options. */
/* finished scrapes waiting to be stored, at most */
#define INGEST_PENDING_MAX CONFIG_INGEST_BUFFER_SCRAPES_DEFAULT
/* the oldest job waited less when a scrape is queued */
#define INGEST_PENDING_MS (CONFIG_INGEST_BUFFER_DURATION_DEFAULT * 1000)
#define INGEST_RETRY_MS 5000 /* a refused write is retried this often */
#define INGEST_STOP_MS 3000  /* a stop stores what is queued for this long at most */
#define INGEST_BATCH_MAX 256 /* finished scrapes stored in one transaction, at most */
#define INGEST_BATCH_MS 250  /* and for this long at most (then committed) */

struct ingest; /* opaque */

struct ingest_options {
	const char *db_path; /* named in messages; copied */
	size_t pending_max;  /* finished scrapes queued at most; 0: INGEST_PENDING_MAX */
	int64_t pending_ms;  /* and the oldest job waited less; 0: INGEST_PENDING_MS */
	int64_t retry_ms;    /* retry a refused write this often; 0: INGEST_RETRY_MS */
	int64_t stop_ms; /* ingest_stop() stores the queue this long at most; 0: INGEST_STOP_MS */
	/* scrapes per transaction at most; 0: INGEST_BATCH_MAX (1: one transaction each) */
	size_t batch_max;
	int64_t batch_ms; /* a batch is committed after this long; 0: INGEST_BATCH_MS */
	/* what store_retention_step() keeps, > 0 (later: ingest_set_retention()) */
	int64_t retention_raw_ms;
	int64_t retention_rollup_ms;
};

/* Set up a queue writing to 'st', the read-write connection: steals it (closed by ingest_free()).
 * No thread runs yet: jobs pushed now wait for ingest_run_queued() or ingest_start(). Caller owns;
 * never NULL (out of memory aborts). */
struct ingest *ingest_new(struct store *st, const struct ingest_options *opt);

/* Keep raw samples 'raw_ms' and hourly rollups 'rollup_ms' from the next retention step on. */
void ingest_set_retention(struct ingest *in, int64_t raw_ms, int64_t rollup_ms);
/* Bound the queue at 'pending_max' scrapes and 'pending_ms' (0: the defaults, as ingest_new()) from
 * the next scrape pushed on: a reload. Scrapes already queued stay queued. */
void ingest_set_buffer(struct ingest *in, size_t pending_max, int64_t pending_ms);

/* Queue the registration of target 'id' (store_target_upsert()): later jobs of 'id' use the
 * database id it gets. A target's scrapes are stored only once it is registered. Strings copied. */
void ingest_push_register(struct ingest *in, int64_t id, const char *service, const char *base_url,
                          const char *labels_json);
/* Queue the active set (store_targets_set_active()): targets not in 'ids' become inactive. 'ids'
 * copied; ids never registered count as none. */
void ingest_push_active(struct ingest *in, const int64_t *ids, size_t n);
/* Queue the finished scrape 'res' of target res->id. Steals res->profile when res->ok (zeroing it);
 * the rest is copied. false when the scrape was dropped because pending_max scrapes already wait or
 * the oldest job has waited pending_ms; once dropping, until both are back under half (the first
 * drop is logged, and the end of the drops with their number). */
bool ingest_push_scrape(struct ingest *in, struct scrape_result *res);
/* Queue a mark: once everything queued before it is stored, the ingest thread calls fn(arg). It
 * must be quick (it holds up the queue): the daemon wakes the detector with it. */
void ingest_push_mark(struct ingest *in, void (*fn)(void *arg), void *arg);

/* Before ingest_start(), in the caller's thread: run the queued jobs, so that a large fleet's first
 * registrations are stored before any scrape queues up behind them. Stops at the first refusal
 * (logged); the thread retries from there once started. */
void ingest_run_queued(struct ingest *in);
/* Start the thread (it inherits the caller's signal mask). 0, or -1 (logged). */
int ingest_start(struct ingest *in) __attribute__((warn_unused_result));

/* Scrapes committed since ingest_new(): acknowledged, safe from a kill -9. Thread-safe. */
uint64_t ingest_committed(struct ingest *in);

/* The database refuses writes now (for the daemon's STATUS=). */
bool ingest_failing(struct ingest *in);

/* The queue now, for /healthz, /metrics and the targets page. */
struct ingest_queue {
	size_t scrapes;           /* finished scrapes queued, the batch being written included */
	size_t max_scrapes;       /* pending_max */
	int64_t max_ms;           /* pending_ms */
	uint64_t dropped;         /* scrapes dropped at the bound since ingest_new() */
	int64_t refused_since_ms; /* Unix ms: the database refuses writes since; 0: it takes them */
};
/* Fill 'out'. Thread-safe. */
void ingest_queue_get(struct ingest *in, struct ingest_queue *out);

/* How far the writer trailed the collector since the previous call: what a kill -9 would have
 * lost at worst. */
struct ingest_stats {
	size_t peak_scrapes; /* the most finished scrapes queued at once */
	int64_t
	    peak_wait_ms; /* the longest a stored scrape waited between its push and its commit */
	uint64_t stored;  /* scrapes stored (committed) */
	uint64_t dropped; /* scrapes dropped at the bound */
};
/* Fill 'out' and start the next period. Thread-safe. */
void ingest_stats_take(struct ingest *in, struct ingest_stats *out);

/* Stop the thread when it runs: it stores what is queued (how many scrapes, logged) and exits;
 * then join it. It gives up (logged) once stop_ms have passed, so that a daemon stops within
 * seconds even when the writer is far behind (a disk slower than the fleet), and at once while the
 * database refuses writes. Queued jobs still left are dropped. Idempotent. */
void ingest_stop(struct ingest *in);
/* ingest_stop(), then close the connection and free. ingest_free(NULL) does nothing. */
void ingest_free(struct ingest *in);

#endif
