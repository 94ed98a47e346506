/* storage/store.h: blocked-goroutine counts over time, in SQLite (WAL) or PostgreSQL.
 *
 * One struct store per thread (database connections are not shared). The daemon's collector thread
 * owns the read-write store; the web server and the CLI open read-only ones. Times are Unix
 * milliseconds. Every statement is prepared with bound parameters. Storage knows the profile model
 * (collector/profile.h) and nothing above. */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/profile.h"
#include "storage/lifetime.h"

struct store; /* opaque */

enum store_flags {
	STORE_READONLY = 1 << 0, /* open an existing database read-only (web, CLI queries) */
};

/* Open or create 'path' and migrate its schema (PRAGMA user_version). 'path' is a SQLite file, or a
 * PostgreSQL database when db_target_is_postgres() says so (storage/db.h): its schema is created or
 * migrated by schema_pg_migrate() to the same version, and STORE_READONLY makes the session's
 * transactions read-only. A database whose schema is newer than this build's is refused. NULL on
 * error (logged, naming the path, a PostgreSQL target without its password, and the database's
 * message: a read-only directory, a full disk, a file that is not a database, a server that
 * refuses the connection). Caller owns. */
struct store *store_open(const char *path, unsigned flags);
/* Close and free; store_free(NULL) does nothing. */
void store_free(struct store *st);
/* The database's last error message for this connection. Borrowed. */
const char *store_errmsg(struct store *st);

/* ---- Shards: several daemons on one database (storage/fleet.h) ----
 *
 * A daemon runs shard 'index' of 'count' (config shard.index, shard.count) and tells each of its
 * connections so. Then:
 * - a target it registers is its shard's (targets.shard), and the active set it writes
 *   (store_targets_set_active()) touches its shard's targets only;
 * - with count > 1, the walks the detector ranks from (store_each_scrape(), store_each_sample(),
 *   the window's) read the shard's targets only, up to the shard's marks (store_window_marks());
 * - a ranking is stored as the shard's, and store_ranking_load() shows every shard's newest,
 *   merged: the fleet;
 * - with an 'owner' (the daemon's fleet id, storage/fleet.h; NULL: none), each write transaction
 *   that stores scrapes moves the shard's marks, and fails once another daemon took the shard;
 *   the outbox is claimed in its name (storage/alertstore.h).
 * Every connection is shard 0 of 1 until told otherwise: one daemon, which owns everything. */
void store_set_shard(struct store *st, unsigned index, unsigned count, const char *owner);
/* A reader of the whole fleet of 'count' shards for the daemon of shard 'index' (the web): its
 * rankings are every shard's, merged, and its walks read every target; store_ranking_load_own()
 * reads its own shard's. */
void store_set_fleet(struct store *st, unsigned index, unsigned count);
void store_shard(const struct store *st, unsigned *index, unsigned *count);
/* The owner given to store_set_shard(), NULL: none. Borrowed. */
const char *store_owner(const struct store *st);

/* Register a service (with its labels as a JSON object text, or NULL) and its target URL; marks it
 * active. Returns the target id (> 0), or -1 (logged). Idempotent. */
int64_t store_target_upsert(struct store *st, const char *service, const char *labels_json,
                            const char *url);
/* Mark every target not in 'ids' inactive and those in 'ids' active (after a config reload),
 * writing only the rows that change. Ids with no target are ignored. 0, or -1. */
int store_targets_set_active(struct store *st, const int64_t *ids, size_t n)
    __attribute__((warn_unused_result));

/* One scrape attempt, successful or not. */
struct scrape_record {
	int64_t target_id; /* from store_target_upsert() */
	int64_t ts;        /* start, Unix ms */
	uint32_t duration_ms;
	uint64_t bytes;     /* body bytes received */
	const char *status; /* "ok" or the failure: "timeout", "http 500", "parse error: ..." */
	bool detail; /* a debug=2 detail scrape: its counts are stored but not a count sample */
	uint32_t consecutive_failures; /* after this attempt */
	enum lifetime_conn connection; /* whether the scraper opened a new connection */
	const struct profile
	    *profile; /* parsed profile when status is "ok", else NULL. Borrowed. */
};

/* Record one scrape, its per-location counts, locations, stacks and the target's health: in a
 * transaction of its own, or inside the open batch (store_batch_begin()). On failure nothing of it
 * is stored (logged), and inside a batch nothing of the batch either: it is rolled back whole. The
 * result says whether to try again:
 *    0  stored (committed; inside a batch: part of it, committed with it);
 *    1  rejected: this scrape cannot be stored (a target that does not exist, data the schema
 *       refuses; store_errmsg() says why) and would be rejected again. Store the batch's
 *       scrapes before it again without it;
 *   -1  the database refuses writes (full, read-only, locked, an I/O error): try again later.
 *
 * A successful count scrape also gets its place in the target's process lifetimes, decided here
 * once by lifetime_judge() from what this connection saw of the target's previous scrapes (or,
 * after a store_open(), from the stored ones): scrapes.restart names why a new lifetime starts
 * with it. A debug=2 dump whose goroutine ids started again from low numbers marks the count
 * scrape since the previous dump that lifetime_goid_place() picks. Scrapes of one target must come
 * in time order. */
int store_add_scrape(struct store *st, const struct scrape_record *rec)
    __attribute__((warn_unused_result));

/* Batches: store_batch_begin() opens one write transaction for several store_add_scrape() calls,
 * and store_batch_commit() commits them at once: each page the scrapes touch is written once per
 * batch instead of once per scrape. A failed store_add_scrape() rolls the whole batch back (a
 * savepoint per scrape would undo one alone, but costs about as much again as the scrape, SQLite
 * journalling the pages each one changes: a rejected scrape is rare, so the caller stores the
 * others again). Nothing of a batch is stored before its commit returns 0; a failed commit rolls
 * the batch back. Nothing else may write between begin and commit (the store's other API functions
 * open their own transactions). Each 0, or -1 (logged). */
int store_batch_begin(struct store *st) __attribute__((warn_unused_result));
int store_batch_commit(struct store *st) __attribute__((warn_unused_result));
/* Roll the open batch back (nothing of it stored); safe when none is open. */
void store_batch_rollback(struct store *st);

/* Retention: roll every completed hour of raw samples up into hourly rollups (an hour is rolled
 * up once the hour after it is over too), delete the raw samples of the hours older than now -
 * raw_ms once rolled up, delete rollups older than now - rollup_ms; delete the targets that are
 * inactive (store_targets_set_active()) and were last scraped (never scraped: registered) before
 * now - rollup_ms, with their scrapes and samples, then the services that nothing refers to any
 * more (no target, rollup, alert, suspect or outbox row); prune old rankings and delivered/dropped
 * outbox rows. Works in bounded batches of at most 'budget' scrapes rolled up, 'budget' deleted
 * and 'budget' of expired targets' deleted per call (and at most 64 rows of the small tables per
 * unit of budget) so it never blocks ingest for long; returns 1 when more work remains, 0 when
 * done, -1 on error. */
int store_retention_step(struct store *st, int64_t now, int64_t raw_ms, int64_t rollup_ms,
                         unsigned budget);

/* ---- Queries for the detector ---- */

/* A successful count scrape (detail = 0) of one target. */
struct store_scrape {
	int64_t scrape_id;
	int64_t target_id;
	int64_t service_id;
	const char *service; /* borrowed, valid during the callback */
	const char *target;  /* url, borrowed */
	int64_t ts;
	uint64_t total_goroutines;
	bool goroutineleak; /* kind = goroutineleak */
	bool restart;       /* a new process lifetime of the target starts here (scrapes.restart) */
	bool target_active; /* the target is in the current configuration or target files */
};

/* A stored per-location count of one scrape (detail or not). */
struct store_sample {
	int64_t scrape_id;
	int64_t target_id;
	int64_t service_id;
	int64_t location_id;
	int64_t ts;
	bool detail;
	uint64_t count;
	uint64_t leaked;
	int32_t max_wait;    /* -1 unknown */
	int32_t median_wait; /* -1 unknown */
};

/* Call 'cb' for every successful non-detail scrape since 'since' (inclusive), of 'service' or of
 * all when NULL, ordered by service, target, ts. A non-zero return from cb stops the walk and is
 * returned. -1 on error. */
int store_each_scrape(struct store *st, const char *service, int64_t since,
                      int (*cb)(const struct store_scrape *s, void *arg), void *arg);
/* Likewise every sample since 'since', ordered by service, location, target, ts. */
int store_each_sample(struct store *st, const char *service, int64_t since,
                      int (*cb)(const struct store_sample *s, void *arg), void *arg);
/* ---- Reading only what is new (the detector's window kept between rankings, detect/window.c) ----
 *
 * A scrape's id grows with each one stored, and a scrape is stored with its samples in one
 * transaction, so "every scrape up to id N" is a complete set once N is read. The one later
 * change to a stored scrape is a restart placed on it (a goid restart, store_ingest.c); each is
 * also logged in restart_moves with a growing seq. */

/* The newest scrape id and restart move stored (0: none). 0, or -1 (logged). */
int store_window_marks(struct store *st, int64_t *scrape_id, int64_t *move_seq)
    __attribute__((warn_unused_result));

/* A target as the window holds it. */
struct store_window_target {
	int64_t target_id;
	int64_t service_id;
	const char *service; /* borrowed, valid during the callback */
	const char *url;     /* borrowed */
	bool active;
};
/* Every target, by id. A non-zero return from cb stops the walk and is returned; -1 on error. */
int store_each_window_target(struct store *st,
                             int (*cb)(const struct store_window_target *t, void *arg), void *arg);

/* One successful scrape and one of its samples (has_sample false: a scrape with none). */
struct store_window_row {
	int64_t scrape_id;
	int64_t target_id;
	int64_t ts;
	uint64_t total_goroutines;
	bool detail;
	bool restart;
	bool has_sample;
	int64_t location_id;
	uint64_t count;
	uint64_t leaked;
	int32_t max_wait;    /* -1 unknown */
	int32_t median_wait; /* -1 unknown */
};
/* Every successful scrape with ts >= 'since' and id <= 'upto' with its samples, by target, ts, id
 * and location: all of a window. */
int store_each_window_row(struct store *st, int64_t since, int64_t upto,
                          int (*cb)(const struct store_window_row *r, void *arg), void *arg);
/* Likewise the scrapes with 'after' < id <= 'upto' (and ts >= 'since'), by id and location: what
 * was stored since. */
int store_each_window_row_after(struct store *st, int64_t after, int64_t upto, int64_t since,
                                int (*cb)(const struct store_window_row *r, void *arg), void *arg);
/* The restarts placed on stored scrapes with 'after' < seq <= 'upto': cb gets the scrape, its
 * target and whether it now starts a lifetime. */
int store_each_restart_move(struct store *st, int64_t after, int64_t upto,
                            int (*cb)(int64_t scrape_id, int64_t target_id, bool restart,
                                      void *arg),
                            void *arg);

/* The start of the newest scrape attempt stored (successful or not) into *ts, 0 when none: how
 * fresh the data is. 0, or -1 (logged). */
int store_last_attempt(struct store *st, int64_t *ts) __attribute__((warn_unused_result));

/* What every rollup row of one service and hour shares (store_retention.c): the instances with
 * count scrapes in the hour, those scrapes, and the time covered by the steps between consecutive
 * scrapes of one process lifetime, summed over instances. */
struct store_rollup_hour {
	int64_t service_id;
	const char *service; /* borrowed, valid during the callback */
	int64_t hour;        /* start, ms */
	uint32_t instances;
	uint64_t scrapes;
	int64_t step_ms;
};

/* One location's hour in one service. */
struct store_rollup {
	int64_t service_id;
	int64_t location_id;
	int64_t hour;
	uint64_t max_count; /* in one instance, at one scrape */
	double mean_count;  /* over every count scrape of the hour (absent: 0) */
	uint32_t instances; /* instances where it appeared */
	uint64_t scrapes;   /* the service's count scrapes in the hour */
	double
	    rise; /* count change over the hour's steps within lifetimes, summed over instances */
};

/* Walk the hourly rollups with hour in [since, until): for each service in name order ('service'
 * only, when not NULL), 'hour_cb' for each of its hours in hour order, then 'row_cb' for each of
 * its rows ordered by location and hour. Services without an active target (none in the
 * configuration or target files) are skipped. A location absent from an hour has no row there. A
 * non-zero return from a callback stops the walk and is returned. -1 on error. */
int store_each_rollup(struct store *st, const char *service, int64_t since, int64_t until,
                      int (*hour_cb)(const struct store_rollup_hour *h, void *arg),
                      int (*row_cb)(const struct store_rollup *r, void *arg), void *arg);

/* A location with its representative stack. Strings owned by the struct; release with
 * store_location_release. */
struct store_location {
	int64_t id;
	char *function;
	char *file;
	uint32_t line;
	char *op;
	char *stack_json; /* JSON array text, "[]" when none */
	int64_t first_seen;
	int64_t last_seen;
};
/* 0 found, 1 no such id, -1 error. */
int store_location_get(struct store *st, int64_t id, struct store_location *out);
void store_location_release(struct store_location *loc);

/* ---- pprof label sets (store_labels.c) ---- */

/* One label set of a location in a service over a window: the goroutines carrying it summed over
 * the service's instances, each at its last count scrape of the window ('count') and at its first
 * ('first'): count - first is how much the set grew. */
struct store_labelset {
	char *set; /* canonical JSON object text, keys sorted */
	uint64_t count;
	uint64_t first;
};

struct store_labels {
	struct store_labelset *sets; /* count descending, then first descending, then set */
	size_t n;
	uint64_t other, other_first; /* goroutines in the sets not kept, as count and first */
};

/* The label sets of 'location_id' in 'service_id' over count scrapes with ts in [since, until], at
 * most 'limit' (0: every stored one). With 'key' (and 'value'), only the sets holding that label.
 * 0 (out->n may be 0), or -1 (logged). Caller releases with store_labels_release(). */
int store_labels_top(struct store *st, int64_t service_id, int64_t location_id, int64_t since,
                     int64_t until, size_t limit, const char *key, const char *value,
                     struct store_labels *out) __attribute__((warn_unused_result));
/* Free what 'l' holds and zero it; NULL does nothing. */
void store_labels_release(struct store_labels *l);

/* Split "key=value" (at its first '=') into 'key' and 'value' (NUL-terminated, borrowed from
 * 'spec', which is modified). False when there is no '=' or the key is empty. */
bool store_label_filter_parse(char *spec, const char **key, const char **value);

/* One location's goroutines under one of its call sites' stacks in one count scrape. */
struct store_stack_sample {
	int64_t scrape_id;
	int64_t stack_id;
	uint64_t count;
};
/* Walk the call sites of 'location_id' in the scrapes with an id of at least 'min_scrape_id', by
 * scrape id, whatever their service (the caller tells them apart by scrape): those stored
 * (sample_stacks), and for a sample stored without any, its count under the location's
 * representative stack. Detail scrapes' samples are among them. A non-zero return from 'cb' stops
 * the walk and is returned. -1 on error (logged). */
int store_each_stack_sample(struct store *st, int64_t location_id, int64_t min_scrape_id,
                            int (*cb)(const struct store_stack_sample *s, void *arg), void *arg);
/* 1 when 'location_id' has a call site stored (sample_stacks) in a scrape with id >=
 * 'min_scrape_id', 0 when none (each of its samples since stands for its representative stack),
 * -1 on error (logged). One index probe. */
int store_has_stack_samples(struct store *st, int64_t location_id, int64_t min_scrape_id);
/* The call sites of 'location_id' in service 'service_id' over the rollup hours [since, until)
 * (rollup_stacks): 'cb' once per stack seen with its rise summed over those hours. What the
 * location's rollups rose beyond its stacks' rows (hours and instances without call sites stored,
 * stacks past the ones kept per scrape) counts under its representative stack, which is seen
 * when that is not 0 or when no stack row exists. A non-zero return from 'cb' stops the walk and
 * is returned. -1 on error (logged). */
int store_each_rollup_stack(struct store *st, int64_t service_id, int64_t location_id,
                            int64_t since, int64_t until,
                            int (*cb)(int64_t stack_id, double rise, void *arg), void *arg);
/* The frames of stack 'stack_id' as JSON array text into '*out' (caller owns; NULL when there is
 * no such stack). 0, or -1 on error (logged). */
int store_stack_json(struct store *st, int64_t stack_id, char **out)
    __attribute__((warn_unused_result));

/* ---- The stored ranking (written by the detector, read by the web, alerts and `suspects`) ---- */

struct suspect {
	int rank;
	int64_t service_id;
	int64_t location_id;
	char *service;
	char *function;
	char *file;
	uint32_t line;
	char *op;
	double score; /* [0, 1] */
	bool confirmed;
	uint64_t current_count; /* sum over instances, latest scrape of each */
	uint64_t max_instance_count;
	uint32_t instances_growing;
	uint32_t instances_total;
	double growth_per_hour;      /* service-wide goroutines per hour */
	double monotonicity;         /* [0, 1] */
	double fit;                  /* [0, 1] */
	int32_t oldest_wait_minutes; /* -1 unknown */
	int32_t median_wait_minutes; /* -1 unknown */
	int64_t first_seen;          /* ms */
	char *explanation;
	char *stack_json;     /* JSON array text */
	char *sparkline_json; /* JSON array of numbers */
	int64_t stack_id;     /* the stack shown, one of the service's own; 0: the location's */
};

struct ranking {
	int64_t generated_at; /* ms */
	uint64_t window_seconds;
	uint32_t duration_ms;
	struct suspect *suspects;
	size_t n;
};

/* Store 'r' as this connection's shard's newest ranking (one transaction; keeps a bounded history
 * per shard). 0, or -1. */
int store_ranking_save(struct store *st, const struct ranking *r)
    __attribute__((warn_unused_result));
/* Load the latest ranking, optionally only 'service' (NULL: all) and at most 'limit' entries (0:
 * all): the newest ranking of every shard of this connection's shard.count (store_set_shard()),
 * which for one daemon is its own, ranks as stored. Of several shards, the suspects are merged in
 * suspect_cmp() order and ranked again, each (service, location) once; generated_at is the oldest
 * shard's, duration_ms the longest. 0 loaded (r->n may be 0), 1 no ranking stored yet, -1 error.
 * Caller releases with ranking_release. */
int store_ranking_load(struct store *st, const char *service, size_t limit, struct ranking *r);
/* Likewise, but only the newest ranking of this connection's own shard (for one daemon: the same).
 */
int store_ranking_load_own(struct store *st, size_t limit, struct ranking *r);
void ranking_release(struct ranking *r);
/* The order of a ranking (qsort): confirmed leaks first, then by score, current count, service
 * and location id, all descending but the ids. */
int suspect_cmp(const void *a, const void *b);
void suspect_release(struct suspect *s);

/* ---- Target health (web, /metrics, STATUS=) ---- */

struct target_health {
	int64_t target_id;
	char *service;
	char *url;
	bool active;
	int64_t last_scrape;  /* 0: never */
	int64_t last_success; /* 0: never */
	uint32_t last_duration_ms;
	uint64_t last_bytes;
	char *last_status;       /* NULL: never scraped */
	int64_t last_goroutines; /* -1 unknown */
	uint32_t consecutive_failures;
};
/* Every target (active first, then failing first, then by service and url). Caller releases with
 * target_health_free(). 0, or -1. */
int store_target_health(struct store *st, struct target_health **out, size_t *n)
    __attribute__((warn_unused_result));
void target_health_free(struct target_health *h, size_t n);

/* Database size in bytes: SQLite's file (page_count * page_size), PostgreSQL's database
 * (pg_database_size()). -1 on error. */
int64_t store_db_size(struct store *st);

/* What SQLite may hold on the heap for every SQLite connection of the process together (SQLite
 * only: a PostgreSQL server bounds its own memory): past it each
 * connection's page cache recycles its own pages instead of growing (a soft bound: the pages a
 * statement has pinned, a sort's buffer, can pass it for a moment). Without it every connection's
 * cache grows to its own cache_size (32 MiB for each read-write one) as the database grows. */
#define STORE_HEAP_LIMIT (48LL << 20)

/* Bytes SQLite holds on the heap for every connection of the process (page caches, statements,
 * schemas), and the most it has held since the start in *highwater (may be NULL). SQLite only: a
 * process whose stores are all on PostgreSQL reports 0. */
int64_t store_memory_used(int64_t *highwater);

#endif
