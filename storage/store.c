/* storage/store.c: the store's connection: open and migrate, statements, transactions. See store.h.
 *
 * One database connection (storage/db.h: SQLite in WAL mode, or PostgreSQL) per struct store. The
 * SQLite schema is compiled in (storage/schema.sql is migration 1) and migrated with PRAGMA
 * user_version; PostgreSQL's is storage/schema_pg.c's, at the same version numbers. Every statement
 * is prepared once and cached in the struct. This file also registers services and targets and
 * reports their health. The rest of the store lives beside it and shares the connection, the
 * statement cache, transactions and the error messages through store_internal.h: a scrape's ingest
 * (store_ingest.c), the detector's queries and the ranking (store_rank.c), retention
 * (store_retention.c), the web's queries (query.c) and the alert state (alertstore.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "storage/schema_pg.h"
#include "storage/store.h"
#include "storage/store_internal.h"

/* clang-format off */
static const char schema_sql[] =
#include "storage/schema.sql.inc"
;

/* Alerts keep the json-format event of their latest firing notification in
 * alerts.firing_payload (NULL: none yet); the resolved notification is made from it. It was
 * taken from the outbox, whose delivered rows retention deletes after retention.raw, so an alert
 * firing longer than that without a repeat resolved with no notification. Alerts firing when the
 * database is migrated take it from the outbox while it is still there. */
static const char migration_alert_firing_payload[] =
	"ALTER TABLE alerts ADD COLUMN firing_payload TEXT;"
	"UPDATE alerts SET firing_payload = (SELECT o.payload FROM outbox o"
	" WHERE o.service_id = alerts.service_id AND o.location_id = alerts.location_id"
	" AND o.status = 'firing' ORDER BY o.id DESC LIMIT 1) WHERE state = 'firing';";

/* scrapes.restart: NULL when a successful count scrape continues its target's process lifetime,
 * else why a new one starts with it ('first', 'total', 'goid', 'failed', 'connection', 'silence',
 * 'collapse': storage/lifetime.h). The ingest decides it once; the detector's lifetimes and the
 * dashboard's restart markers read it. Rows stored before it are given the rule they were ranked
 * with then: the target's first scrape, or a total falling below half by at least 10. */
static const char migration_restart_sql[] =
	"ALTER TABLE scrapes ADD COLUMN restart TEXT;\n"
	"UPDATE scrapes SET restart = r.reason FROM ("
	" SELECT id, CASE WHEN prev IS NULL THEN 'first'"
	"  WHEN total_goroutines * 2 < prev AND prev - total_goroutines >= 10 THEN 'total' END AS reason"
	" FROM (SELECT id, total_goroutines, LAG(total_goroutines) OVER"
	"  (PARTITION BY target_id ORDER BY ts, id) AS prev"
	"  FROM scrapes WHERE status = 'ok' AND detail = 0)) AS r"
	" WHERE scrapes.id = r.id AND r.reason IS NOT NULL;\n";

/* outbox.state 'failed': a receiver refused the notification with an answer that no retry can
 * change (a 4xx other than 408, 425 and 429, such as Slack's 400 invalid_payload or 404
 * no_service), so it is not retried (detect/alert.c); retention deletes it like a dropped one.
 * SQLite cannot change a CHECK constraint in place: the table is rebuilt, same columns and index. */
static const char migration_outbox_failed[] =
	"CREATE TABLE outbox_failed ("
	" id INTEGER PRIMARY KEY, event_id TEXT NOT NULL, webhook TEXT NOT NULL,"
	" status TEXT NOT NULL, service_id INTEGER NOT NULL, location_id INTEGER NOT NULL,"
	" payload TEXT NOT NULL, created INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
	" next_attempt INTEGER NOT NULL, last_error TEXT,"
	" state TEXT NOT NULL DEFAULT 'pending'"
	"  CHECK (state IN ('pending', 'delivered', 'dropped', 'failed')),"
	" delivered_at INTEGER, UNIQUE (event_id, webhook));"
	"INSERT INTO outbox_failed (id, event_id, webhook, status, service_id, location_id, payload,"
	" created, attempts, next_attempt, last_error, state, delivered_at)"
	" SELECT id, event_id, webhook, status, service_id, location_id, payload, created, attempts,"
	" next_attempt, last_error, state, delivered_at FROM outbox;"
	"DROP TABLE outbox;"
	"ALTER TABLE outbox_failed RENAME TO outbox;"
	"CREATE INDEX outbox_pending ON outbox (state, webhook, id);";

/* Call sites: a location reached from several callers (a shared helper) holds goroutines of each.
 * sample_stacks: per count scrape, the distinct stacks (stacks.id) behind each location whose op
 * may leak (at most PROFILE_LOC_STACKS per location and scrape, the largest by count), with their
 * counts; a scrape is one target's, so they are per service, and they go with their scrape. A
 * location whose goroutines all have its representative stack (locations.stack_id) stores none:
 * its sample stands for that stack. stacks.last_seen: the latest scrape that had the stack (to within 30 s; 0: stored before this
 * migration, kept as long as a location refers to it); retention deletes a stack unseen for
 * retention.rollup (and two hours) that no location or suspect refers to: the scrapes that had
 * it, older than retention.raw, are gone by then, so sample_stacks needs no index by stack (its
 * stack_id is a stacks.id, not declared a foreign key: a reader skips one it cannot find). suspects.stack_id (a stacks.id): the stack a ranking
 * shows for its suspect, the one that grew in that service (NULL: the location's representative). */
static const char migration_sample_stacks_sql[] =
	"CREATE TABLE sample_stacks ("
	" scrape_id INTEGER NOT NULL REFERENCES scrapes(id) ON DELETE CASCADE,"
	" location_id INTEGER NOT NULL REFERENCES locations(id),"
	" stack_id INTEGER NOT NULL,"
	" count INTEGER NOT NULL,"
	" PRIMARY KEY (scrape_id, location_id, stack_id)) WITHOUT ROWID;\n"
	"CREATE INDEX sample_stacks_location ON sample_stacks (location_id, scrape_id);\n"

	"ALTER TABLE stacks ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;\n"
	"CREATE INDEX stacks_last_seen ON stacks (last_seen) WHERE last_seen > 0;\n"
	"ALTER TABLE suspects ADD COLUMN stack_id INTEGER;\n"
	"CREATE INDEX suspects_stack ON suspects (stack_id) WHERE stack_id IS NOT NULL;\n";

/* Call sites past the raw samples: rollup_stacks holds, per (service, location, hour) rolled up,
 * each distinct stack the location's goroutines had in that hour's count scrapes (sample_stacks;
 * a scrape that stored none for the location counts under its representative stack) and its
 * rise: its count's change over the same steps as rollups.rise, summed over instances. Only
 * locations with call sites stored in the hour have rows; an hour without any stands for the
 * representative stack alone. Ranking over the rollups matches the ignore rules against each
 * stack as the raw ranking does (detect/callsites.h). Rows go with their hour's rollups
 * (retention.rollup); stack_id is a stacks.id, not declared a foreign key (a reader skips one it
 * cannot find; a stack unseen since outlives its rows by retention's two hours). IF NOT EXISTS: a
 * test re-runs the migrations before this one. */
static const char migration_rollup_stacks_sql[] =
	"CREATE TABLE IF NOT EXISTS rollup_stacks ("
	" service_id INTEGER NOT NULL,"
	" location_id INTEGER NOT NULL,"
	" hour INTEGER NOT NULL,"
	" stack_id INTEGER NOT NULL,"
	" rise REAL NOT NULL,"
	" PRIMARY KEY (service_id, location_id, hour, stack_id)) WITHOUT ROWID;\n"
	"CREATE INDEX IF NOT EXISTS rollup_stacks_hour ON rollup_stacks (hour);\n";

/* Several daemons on one database (storage/fleet.h), each the daemon of one shard of shard.count:
 * - daemons: one row per shard index, held by the daemon running it (owner: a random id of that
 *   run) and kept by its heartbeat; a row whose heartbeat is older than the lease, or stopped, can
 *   be taken. scrape_mark and move_mark are the newest scrape id and restart move its ingest has
 *   committed: what the shard's detector reads up to (every scrape of the shard's targets up to
 *   them is committed, which the newest id of the whole table does not say once several daemons
 *   write). WITHOUT ROWID: the shard index is a key, not a number SQLite hands out.
 * - targets.shard: the shard of the daemon that registered the target, which scrapes it; its
 *   detector ranks only those. rankings.shard and shards: the shard that stored the ranking, of
 *   how many; every daemon shows the newest ranking of each shard of its own count, merged.
 * - outbox.claimed_by and claim_until: a daemon delivering a notification claims it (its owner
 *   id, until when) so that another waits for the claim to end instead of delivering it twice.
 * Rows from before it are shard 0 of 1, which is what the single daemon they came from was. */
static const char migration_shards_sql[] =
	"ALTER TABLE targets ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE rankings ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE rankings ADD COLUMN shards INTEGER NOT NULL DEFAULT 1;"
	"CREATE INDEX rankings_shard ON rankings (shards, shard, id);"
	"ALTER TABLE outbox ADD COLUMN claimed_by TEXT;"
	"ALTER TABLE outbox ADD COLUMN claim_until INTEGER;"
	"CREATE TABLE daemons ("
	" shard INTEGER NOT NULL PRIMARY KEY,"
	" shards INTEGER NOT NULL,"
	" owner TEXT NOT NULL,"
	" host TEXT NOT NULL,"
	" pid INTEGER NOT NULL,"
	" listen TEXT NOT NULL,"
	" version TEXT NOT NULL,"
	" started INTEGER NOT NULL,"
	" heartbeat INTEGER NOT NULL,"
	" stopped INTEGER,"
	" scrape_mark INTEGER NOT NULL DEFAULT 0,"
	" move_mark INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;";

/* Migrations, in order: entry i brings a database from user_version i to i + 1. Never edit a
 * released one. */
static const char *const migrations[] = {
	schema_sql,
	/* Rollups for every completed hour, exact for absent locations and for growth across
	 * deploys (store_retention.c): a scrape is marked once its (target, hour) is rolled up, and
	 * only rolled-up scrapes are deleted at retention.raw. rollup_hours holds, per service and
	 * hour, what every location's row of that hour shares: the instances and count scrapes
	 * (mean_count's denominator, absent = 0) and step_ms, the time covered by steps between
	 * consecutive count scrapes of one process lifetime, summed over instances. rollups.rise
	 * is the location's count change over those same steps, summed over instances: rise /
	 * step_ms is its growth per instance-hour, unaffected by restarts and replaced instances.
	 * Hours rolled up before this migration carry rise 0 and no rollup_hours row. */
	"ALTER TABLE scrapes ADD COLUMN rolled INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX scrapes_unrolled ON scrapes (ts) WHERE rolled = 0;"
	"ALTER TABLE rollups ADD COLUMN rise REAL NOT NULL DEFAULT 0;"
	"CREATE TABLE rollup_hours ("
	" service_id INTEGER NOT NULL REFERENCES services(id),"
	" hour INTEGER NOT NULL,"
	" instances INTEGER NOT NULL,"
	" scrapes INTEGER NOT NULL,"
	" step_ms INTEGER NOT NULL,"
	" PRIMARY KEY (service_id, hour)) WITHOUT ROWID;"
	"CREATE INDEX rollup_hours_hour ON rollup_hours (hour);",
	migration_alert_firing_payload,
	/* The target lists (query_targets) page by id through the targets active in the
	 * configuration, or the retired ones, optionally of one service and in one state: up
	 * (ifnull(last_status = 'ok', -1) = 1), down (0) or never scraped (-1). Each combination has
	 * the index that serves its filter and its order, so a page reads its own rows however many
	 * targets were ever seen. IF NOT EXISTS: a test re-runs the migrations before this one. */
	"CREATE INDEX IF NOT EXISTS targets_active ON targets (active, id);"
	"CREATE INDEX IF NOT EXISTS targets_service_active ON targets (service_id, active, id);"
	"CREATE INDEX IF NOT EXISTS targets_active_state ON targets"
	" (active, ifnull(last_status = 'ok', -1), id);"
	"CREATE INDEX IF NOT EXISTS targets_service_active_state ON targets"
	" (service_id, active, ifnull(last_status = 'ok', -1), id);",
	/* Retention deletes the targets out of the configuration (active = 0) whose last scrape
	 * attempt, or registration when never scraped, is older than retention.rollup, with their
	 * scrapes (store_retention.c): targets_expire finds them without reading the active ones.
	 * IF NOT EXISTS: a test re-runs the migrations before this one. */
	"CREATE INDEX IF NOT EXISTS targets_expire ON targets (coalesce(last_scrape, first_seen))"
	" WHERE active = 0;",
	migration_restart_sql,
	/* pprof label sets (storage/store_labels.c). labelsets holds each distinct set once: labels
	 * is its canonical JSON object (keys sorted), last_seen the latest scrape that stored it
	 * (retention deletes the sets unseen for retention.raw). label_samples holds per count
	 * scrape and location the sets the daemon keeps (detector.max_label_sets, the most
	 * goroutines first) with their goroutines; labelset_id 0 counts the goroutines of the sets
	 * not kept. Its rows go with their scrape (ON DELETE CASCADE: as long as the raw samples);
	 * locations and sets outlive them, so neither needs a reference. IF NOT EXISTS: a test
	 * re-runs the migrations before this one. */
	"CREATE TABLE IF NOT EXISTS labelsets ("
	" id INTEGER PRIMARY KEY,"
	" labels TEXT NOT NULL UNIQUE,"
	" last_seen INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS labelsets_last_seen ON labelsets (last_seen);"
	"CREATE TABLE IF NOT EXISTS label_samples ("
	" scrape_id INTEGER NOT NULL REFERENCES scrapes(id) ON DELETE CASCADE,"
	" location_id INTEGER NOT NULL,"
	" labelset_id INTEGER NOT NULL,"
	" count INTEGER NOT NULL,"
	" PRIMARY KEY (scrape_id, location_id, labelset_id)) WITHOUT ROWID;",
	migration_outbox_failed,
	migration_sample_stacks_sql,
	migration_rollup_stacks_sql,
	/* Restarts placed on a scrape after it was stored (a goid restart, store_ingest.c), in the
	 * order placed: the detector's window (detect/window.c) reads the ones newer than it holds
	 * instead of its whole window again. Retention deletes a move with its scrape. IF NOT
	 * EXISTS: a test re-runs the migrations before this one. */
	"CREATE TABLE IF NOT EXISTS restart_moves ("
	" seq INTEGER PRIMARY KEY,"
	" scrape_id INTEGER NOT NULL REFERENCES scrapes(id) ON DELETE CASCADE);"
	"CREATE INDEX IF NOT EXISTS restart_moves_scrape ON restart_moves (scrape_id);",
	migration_shards_sql,
};
/* clang-format on */
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define STMT_CACHE_MAX 128 /* distinct statements per connection */

struct stmt_slot {
	const char *sql;
	struct db_stmt *stmt; /* db_prepare()'s, finalized by db_close() */
};

struct store {
	struct db *db;
	bool in_write; /* inside store_begin(): a rollback drops the intern caches */
	bool batch;    /* inside store_batch_begin() */
	char *path;
	unsigned flags;
	struct stmt_slot stmts[STMT_CACHE_MAX];
	size_t nstmts;
	struct store_ingest *ingest; /* owned */
	unsigned shard, shards;      /* store_set_shard(); 0 of 1 until then */
	bool walk_all;               /* store_set_fleet(): the walks read every shard */
	char *owner;                 /* the daemon's fleet id; NULL: none */
	int64_t mark_scrape;         /* the newest scrape and restart move written in the open */
	int64_t mark_move;           /* write transaction, for the shard's marks; 0: none */
	char errbuf[512];            /* the message of the last failure, kept across the rollback */
};

/* ---- Errors ---- */

static void
save_error(struct store *st)
{
	snprintf(st->errbuf, sizeof(st->errbuf), "%s", db_errmsg(st->db));
}

void
store_log_db(struct store *st, const char *what)
{
	save_error(st);
	/* an interrupted statement was stopped on purpose (query_set_interrupt()) */
	log_msg(db_failure(st->db) == DB_FAIL_INTERRUPT ? LOG_LEVEL_INFO : LOG_LEVEL_ERR,
	        "store: '%s': %s: %s", st->path, what, st->errbuf);
}

void
store_set_error(struct store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->errbuf, sizeof(st->errbuf), fmt, ap);
	va_end(ap);
}

const char *
store_errmsg(struct store *st)
{
	if (st == NULL)
		return "no store";
	if (st->errbuf[0] != '\0' || st->db == NULL)
		return st->errbuf;
	return db_errmsg(st->db);
}

/* ---- Small accessors for the other storage files ---- */

struct db *
store_dbh(struct store *st)
{
	return st->db;
}

sqlite3 *
store_db(struct store *st)
{
	return db_sqlite(st->db); /* NULL on PostgreSQL */
}

const char *
store_path(const struct store *st)
{
	return st->path;
}

bool
store_readonly(const struct store *st)
{
	return (st->flags & STORE_READONLY) != 0;
}

struct store_ingest *
store_ingest_state(struct store *st)
{
	return st->ingest;
}

char *
store_column_strdup(struct db_stmt *stmt, int col, bool empty_for_null)
{
	const char *s = db_column_text(stmt, col);

	if (s == NULL)
		return empty_for_null ? xstrdup("") : NULL;
	return xstrdup(s);
}

/* ---- Statement cache ---- */

struct db_stmt *
store_prepare(struct store *st, const char *sql)
{
	struct db_stmt *stmt;
	size_t i;

	for (i = 0; i < st->nstmts; i++) {
		if (st->stmts[i].sql == sql) {
			stmt = st->stmts[i].stmt;
			db_reset(stmt);
			return stmt;
		}
	}
	if (st->nstmts == STMT_CACHE_MAX) {
		snprintf(st->errbuf, sizeof(st->errbuf), "statement cache full (%d statements)",
		         STMT_CACHE_MAX);
		log_err("store: '%s': %s", st->path, st->errbuf);
		return NULL;
	}
	stmt = db_prepare(st->db, sql);
	if (stmt == NULL) {
		save_error(st);
		log_err("store: '%s': preparing '%.40s...': %s", st->path, sql, st->errbuf);
		return NULL;
	}
	st->stmts[st->nstmts].sql = sql;
	st->stmts[st->nstmts].stmt = stmt;
	st->nstmts++;
	return stmt;
}

void
store_stmt_done(struct db_stmt *stmt)
{
	db_reset(stmt);
}

void
store_bind_wait(struct db_stmt *stmt, int col, int32_t minutes)
{
	if (minutes >= 0)
		db_bind_int64(stmt, col, minutes);
	else
		db_bind_null(stmt, col);
}

/* ---- Transactions ---- */

int
store_step_write(struct store *st, struct db_stmt *stmt, const char *what)
{
	int rc = db_step(stmt);

	if (rc != DB_DONE)
		store_log_db(st, what);
	store_stmt_done(stmt);
	return rc == DB_DONE ? 0 : -1;
}

int64_t
store_step_id(struct store *st, struct db_stmt *stmt, const char *what)
{
	int64_t id = -1;

	if (db_step(stmt) == DB_ROW)
		id = db_column_int64(stmt, 0);
	else
		store_log_db(st, what);
	store_stmt_done(stmt);
	return id;
}

int
store_begin(struct store *st)
{
	if (db_begin(st->db) < 0) {
		store_log_db(st, "starting a write transaction");
		return -1;
	}
	st->in_write = true;
	return 0;
}

int
store_begin_read(struct store *st)
{
	if (db_begin_read(st->db) < 0) {
		store_log_db(st, "starting a read transaction");
		return -1;
	}
	return 0;
}

/* A shard's daemon moves its marks (daemons.scrape_mark, move_mark) with the transaction that
 * wrote past them, so that they never name a scrape not committed. Only while it holds the shard:
 * a daemon whose shard another took writes nothing more. 0, or -1 (logged). */
static int
write_marks(struct store *st)
{
	struct db_stmt *stmt;

	if (st->owner == NULL || st->shards <= 1 || (st->mark_scrape == 0 && st->mark_move == 0))
		return 0;
	stmt = store_prepare(
	    st, "UPDATE daemons SET scrape_mark = " STORE_SQL_MAX(
	            "scrape_mark",
	            "?1") ", move_mark = " STORE_SQL_MAX("move_mark",
	                                                 "?2") " WHERE shard = ?3 AND owner = ?4");
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, st->mark_scrape);
	db_bind_int64(stmt, 2, st->mark_move);
	db_bind_int64(stmt, 3, st->shard);
	db_bind_text(stmt, 4, st->owner);
	if (store_step_write(st, stmt, "moving the shard's marks") != 0)
		return -1;
	if (db_changes(st->db) != 1) {
		store_set_error(st, "shard %u is no longer held by this daemon (another took it)",
		                st->shard);
		log_err("store: '%s': %s", st->path, st->errbuf);
		return -1;
	}
	return 0;
}

/* Commit the open transaction: 0, or -1 logged as "<what>" (the transaction is left to the
 * caller's rollback). */
static int
commit(struct store *st, const char *what)
{
	if (write_marks(st) < 0)
		return -1;
	if (db_commit(st->db) < 0) {
		store_log_db(st, what);
		return -1;
	}
	st->mark_scrape = st->mark_move = 0;
	return 0;
}

void
store_set_shard(struct store *st, unsigned index, unsigned count, const char *owner)
{
	st->shard = count > 1 ? index : 0;
	st->shards = count > 1 ? count : 1;
	st->walk_all = false;
	free(st->owner);
	st->owner = owner != NULL ? xstrdup(owner) : NULL;
}

void
store_set_fleet(struct store *st, unsigned index, unsigned count)
{
	store_set_shard(st, index, count, NULL);
	st->walk_all = true;
}

void
store_shard(const struct store *st, unsigned *index, unsigned *count)
{
	*index = st->shard;
	*count = st->shards;
}

const char *
store_owner(const struct store *st)
{
	return st->owner;
}

int64_t
store_walk_shard(const struct store *st)
{
	return st->shards > 1 && !st->walk_all ? (int64_t)st->shard : -1;
}

void
store_mark_written(struct store *st, int64_t scrape_id, int64_t move_seq)
{
	if (scrape_id > st->mark_scrape)
		st->mark_scrape = scrape_id;
	if (move_seq > st->mark_move)
		st->mark_move = move_seq;
}

int
store_commit(struct store *st)
{
	if (commit(st, "committing") < 0) {
		store_rollback(st);
		return -1;
	}
	st->in_write = false;
	return 0;
}

void
store_rollback(struct store *st)
{
	/* A statement still stepping would keep its read snapshot (db_rollback() ends every run
	 * too; with no transaction open it is not called, so that the last failure stays the
	 * connection's, as query_interrupted() reads it). */
	for (size_t i = 0; i < st->nstmts; i++)
		db_reset(st->stmts[i].stmt);
	if (db_in_transaction(st->db) && db_rollback(st->db) < 0)
		log_err("store: '%s': rolling back: %s", st->path, db_errmsg(st->db));
	st->mark_scrape = st->mark_move = 0;
	/* Ids interned inside a rolled-back write transaction no longer exist. */
	if (st->in_write) {
		store_ingest_forget(st->ingest);
		st->in_write = false;
	}
	/* A batch's scrapes taught the lifetimes what is no longer stored. */
	if (st->batch) {
		store_ingest_forget_lifetimes(st->ingest);
		st->batch = false;
	}
}

bool
store_batch_open(const struct store *st)
{
	return st->batch;
}

int
store_batch_begin(struct store *st)
{
	if (store_begin(st) < 0)
		return -1;
	st->batch = true;
	return 0;
}

int
store_batch_commit(struct store *st)
{
	if (db_in_transaction(st->db) && commit(st, "committing a batch of scrapes") == 0) {
		st->in_write = false;
		st->batch = false;
		return 0;
	}
	if (!db_in_transaction(st->db)) {
		store_set_error(st, "the transaction was rolled back");
		log_err("store: '%s': committing a batch of scrapes: %s", st->path, st->errbuf);
	}
	store_rollback(st);
	return -1;
}

void
store_batch_rollback(struct store *st)
{
	store_rollback(st);
}

/* ---- Open and migrate ---- */

static int
migrate(struct store *st)
{
	struct db_stmt *stmt;
	int version, v;
	char pragma[64];

	if (store_begin(st) < 0)
		return -1;
	stmt = store_prepare(st, "PRAGMA user_version");
	if (stmt == NULL)
		goto out_rollback;
	if (db_step(stmt) != DB_ROW) {
		store_log_db(st, "reading the schema version");
		store_stmt_done(stmt);
		goto out_rollback;
	}
	version = db_column_int(stmt, 0);
	store_stmt_done(stmt);
	if (version > SCHEMA_VERSION) {
		snprintf(st->errbuf, sizeof(st->errbuf),
		         "database schema version %d is newer than this leakprofd supports (%d): "
		         "upgrade leakprofd",
		         version, SCHEMA_VERSION);
		log_err("store: '%s': %s", st->path, st->errbuf);
		goto out_rollback;
	}
	if (version == 0) {
		/* Never write our tables into another program's database. */
		stmt = store_prepare(st, "SELECT count(*) FROM sqlite_schema");
		if (stmt == NULL)
			goto out_rollback;
		if (db_step(stmt) != DB_ROW) {
			store_log_db(st, "reading the schema");
			store_stmt_done(stmt);
			goto out_rollback;
		}
		if (db_column_int64(stmt, 0) > 0) {
			store_stmt_done(stmt);
			snprintf(st->errbuf, sizeof(st->errbuf),
			         "not a leakprofd database (it has tables but no leakprofd schema "
			         "version)");
			log_err("store: '%s': %s", st->path, st->errbuf);
			goto out_rollback;
		}
		store_stmt_done(stmt);
	}
	for (v = version; v < SCHEMA_VERSION; v++) {
		if (db_exec(st->db, migrations[v]) < 0) {
			snprintf(pragma, sizeof(pragma), "applying schema migration %d", v + 1);
			store_log_db(st, pragma);
			goto out_rollback;
		}
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		if (db_exec(st->db, pragma) < 0) {
			store_log_db(st, "setting the schema version");
			goto out_rollback;
		}
	}
	if (store_commit(st) < 0)
		return -1;
	if (version < SCHEMA_VERSION)
		log_info("store: '%s': schema migrated from version %d to %d", st->path, version,
		         SCHEMA_VERSION);
	return 0;

out_rollback:
	store_rollback(st);
	return -1;
}

/* A read-only store opens a database at this build's version only: it cannot migrate one. 0, or -1
 * (logged, naming what to do). */
static int
check_version(struct store *st, int64_t version)
{
	if (version == SCHEMA_VERSION)
		return 0;
	if (version == 0)
		snprintf(st->errbuf, sizeof(st->errbuf), "not a leakprofd database (no schema)");
	else if (version > SCHEMA_VERSION)
		snprintf(st->errbuf, sizeof(st->errbuf),
		         "database schema version %" PRId64
		         " is newer than this leakprofd supports (%d): upgrade leakprofd",
		         version, SCHEMA_VERSION);
	else
		snprintf(st->errbuf, sizeof(st->errbuf),
		         "database schema version %" PRId64
		         " is older than %d: run 'leakprofd run' once to migrate it",
		         version, SCHEMA_VERSION);
	log_err("store: '%s': %s", st->path, st->errbuf);
	return -1;
}

static int
check_version_readonly(struct store *st)
{
	struct db_stmt *stmt;
	int64_t version;

	if (db_kind(st->db) == DB_POSTGRES) {
		if (schema_pg_read_version(st->db, &version, st->errbuf, sizeof(st->errbuf)) < 0) {
			log_err("store: '%s': %s", st->path, st->errbuf);
			return -1;
		}
		return check_version(st, version);
	}
	stmt = store_prepare(st, "PRAGMA user_version");
	if (stmt == NULL)
		return -1;
	if (db_step(stmt) != DB_ROW) {
		store_log_db(st, "reading the schema version");
		store_stmt_done(stmt);
		return -1;
	}
	version = db_column_int64(stmt, 0);
	store_stmt_done(stmt);
	return check_version(st, version);
}

/* PostgreSQL: create or migrate the schema (schema_pg_migrate(): the same versions as SQLite's
 * user_version, its own SQL), and the raw tables' partitions of today and tomorrow, so that a
 * batch crossing midnight before the first retention step finds its day. 0, or -1 (logged). */
static int
migrate_pg(struct store *st)
{
	if (schema_pg_migrate(st->db, st->errbuf, sizeof(st->errbuf)) < 0) {
		log_err("store: '%s': %s", st->path, st->errbuf);
		return -1;
	}
	return store_retention_partitions_ahead(st, clock_wall_ms());
}

/* A hint for SQLite's terse "unable to open database file". */
static void
log_open_error(const char *path, const char *msg, bool readonly)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');

	if (readonly && access(path, F_OK) != 0) {
		log_err("store: '%s': cannot open read-only: %s", path, strerror(errno));
		return;
	}
	if (!readonly) {
		if (slash == NULL)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == path)
			snprintf(dir, sizeof(dir), "/");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		if (access(dir, W_OK) != 0) {
			log_err("store: '%s': cannot open: %s (directory '%s': %s)", path, msg, dir,
			        strerror(errno));
			return;
		}
	}
	log_err("store: '%s': cannot open: %s", path, msg);
}

static int
apply_pragmas(struct store *st)
{
	static const char *const rw_pragmas[] = {
	    "PRAGMA journal_mode = WAL",  "PRAGMA synchronous = NORMAL",
	    "PRAGMA foreign_keys = ON",   "PRAGMA journal_size_limit = 67108864",
	    "PRAGMA cache_size = -32768", /* 32 MiB: the hot index pages of a large fleet */
	};
	size_t i;

	/* db_open() set the busy timeout. One bound for every connection of the process together:
	 * each page cache may grow to its cache_size, but once SQLite's memory as a whole reaches
	 * STORE_HEAP_LIMIT they recycle their own pages instead of taking more. */
	sqlite3_soft_heap_limit64(STORE_HEAP_LIMIT);
	if (store_readonly(st)) {
		if (db_exec(st->db, "PRAGMA foreign_keys = ON") < 0)
			goto out_error;
		return 0;
	}
	/* SQLite quietly opens a write-protected file read-only; say so now rather than at the
	 * first scrape. */
	if (sqlite3_db_readonly(db_sqlite(st->db), "main") == 1) {
		snprintf(st->errbuf, sizeof(st->errbuf), "the database file is read-only (%s)",
		         access(st->path, W_OK) != 0 ? strerror(errno) : "opened read-only");
		log_err("store: '%s': cannot open for writing: %s", st->path, st->errbuf);
		return -1;
	}
	for (i = 0; i < sizeof(rw_pragmas) / sizeof(rw_pragmas[0]); i++) {
		if (db_exec(st->db, rw_pragmas[i]) < 0)
			goto out_error;
	}
	return 0;

out_error:
	save_error(st);
	log_open_error(st->path, st->errbuf, store_readonly(st));
	return -1;
}

/* db_open()'s reason without the target it names first ("'<path>': "): the store's messages name
 * the path once. */
static const char *
open_reason(const char *path, const char *err)
{
	size_t n = strlen(path);

	if (err[0] == '\'' && strncmp(err + 1, path, n) == 0 && strncmp(err + 1 + n, "': ", 3) == 0)
		return err + n + 4;
	return err;
}

struct store *
store_open(const char *path, unsigned flags)
{
	struct store *st;
	char err[512];
	bool pg = db_target_is_postgres(path);

	st = xcalloc(1, sizeof(*st));
	st->shards = 1;
	/* messages name the target without its password */
	st->path = db_target_shown(path);
	st->flags = flags;
	st->ingest = store_ingest_new();
	st->db = db_open_flags(path, store_readonly(st) ? DB_READONLY : 0, err, sizeof(err));
	if (st->db == NULL) {
		if (pg)
			log_err("store: '%s': cannot open: %s", st->path, err);
		else
			log_open_error(path, open_reason(path, err), store_readonly(st));
		goto out_free;
	}
	/* PostgreSQL has no PRAGMAs: the server keeps its own settings, caches and durability */
	if (!pg && apply_pragmas(st) < 0)
		goto out_free;
	if (store_readonly(st)) {
		if (check_version_readonly(st) < 0)
			goto out_free;
	} else if ((pg ? migrate_pg(st) : migrate(st)) < 0) {
		goto out_free;
	}
	st->errbuf[0] = '\0';
	return st;

out_free:
	store_free(st);
	return NULL;
}

void
store_free(struct store *st)
{
	if (st == NULL)
		return;
	/* Fresh planner statistics for the web's queries; analysis_limit bounds the work on a large
	 * database, so that a shutdown never waits for a full ANALYZE. PostgreSQL's autovacuum
	 * keeps its own statistics. */
	if (st->db != NULL && db_kind(st->db) == DB_SQLITE && !store_readonly(st) &&
	    db_exec(st->db, "PRAGMA analysis_limit = 1000; PRAGMA optimize") < 0)
		log_debug("store: '%s': optimizing: %s", st->path, db_errmsg(st->db));
	/* finalizes the cached statements */
	db_close(st->db);
	store_ingest_free(st->ingest);
	free(st->owner);
	free(st->path);
	free(st);
}

int64_t
store_memory_used(int64_t *highwater)
{
	if (highwater != NULL)
		*highwater = (int64_t)sqlite3_memory_highwater(0);
	return (int64_t)sqlite3_memory_used();
}

int64_t
store_db_size(struct store *st)
{
	static const char page_count[] = "PRAGMA page_count";
	static const char page_size[] = "PRAGMA page_size";
	static const char pg_size[] = "SELECT pg_database_size(current_database()), 1";
	const char *sqls[2] = {page_count, page_size};
	int64_t v[2];
	int i, n = 2;

	if (db_kind(st->db) == DB_POSTGRES) {
		sqls[0] = pg_size;
		n = 1;
		v[1] = 1;
	}
	for (i = 0; i < n; i++) {
		struct db_stmt *stmt = store_prepare(st, sqls[i]);

		if (stmt == NULL)
			return -1;
		if (db_step(stmt) != DB_ROW) {
			store_log_db(st, "reading the database size");
			store_stmt_done(stmt);
			return -1;
		}
		v[i] = db_column_int64(stmt, 0);
		store_stmt_done(stmt);
	}
	return v[0] * v[1];
}

/* ---- Services and targets ---- */

int
store_service_id(struct store *st, const char *service, int64_t *id)
{
	struct db_stmt *stmt = store_prepare(st, "SELECT id FROM services WHERE name = ?1");
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, service);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		*id = db_column_int64(stmt, 0);
		store_stmt_done(stmt);
		return 0;
	}
	if (rc != DB_DONE) {
		store_log_db(st, "looking up a service");
		store_stmt_done(stmt);
		return -1;
	}
	store_stmt_done(stmt);
	return 1;
}

int64_t
store_target_upsert(struct store *st, const char *service, const char *labels_json, const char *url)
{
	struct db_stmt *stmt;
	int64_t service_id, target_id;
	char what[256];
	bool batch = store_batch_open(st);

	if (!batch && store_begin(st) < 0)
		return -1;
	stmt = store_prepare(
	    st, "INSERT INTO services (name, labels) VALUES (?1, coalesce(?2, '{}'))"
	        " ON CONFLICT (name) DO UPDATE SET labels = excluded.labels RETURNING id");
	if (stmt == NULL)
		goto out_rollback;
	db_bind_text(stmt, 1, service);
	db_bind_text(stmt, 2, labels_json);
	snprintf(what, sizeof(what), "registering service '%.100s'", service);
	service_id = store_step_id(st, stmt, what);
	if (service_id < 0)
		goto out_rollback;

	/* the shard registering a target scrapes it: a target moved by a new shard.count is the
	 * new shard's from its first registration there */
	stmt = store_prepare(
	    st, "INSERT INTO targets (service_id, url, first_seen, shard) VALUES (?1, ?2, ?3, ?4)"
	        " ON CONFLICT (service_id, url) DO UPDATE SET active = 1, shard = excluded.shard"
	        " RETURNING id");
	if (stmt == NULL)
		goto out_rollback;
	db_bind_int64(stmt, 1, service_id);
	db_bind_text(stmt, 2, url);
	db_bind_int64(stmt, 3, clock_wall_ms());
	db_bind_int64(stmt, 4, st->shard);
	snprintf(what, sizeof(what), "registering target '%.200s'", url);
	target_id = store_step_id(st, stmt, what);
	if (target_id < 0)
		goto out_rollback;
	if (!batch && store_commit(st) < 0)
		return -1;
	return target_id;

out_rollback:
	store_rollback(st);
	return -1;
}

static int
cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

int
store_targets_set_active(struct store *st, const int64_t *ids, size_t n)
{
	struct db_stmt *stmt;
	int64_t *want, *off = NULL;
	size_t i, noff = 0, capoff = 0;
	int rc;

	/* Only the rows that change are written: a reload or a discovery change of a large fleet
	 * touches the targets that came and went, not every target. */
	want = xcalloc(n ? n : 1, sizeof(*want));
	if (n > 0)
		memcpy(want, ids, n * sizeof(*want));
	qsort(want, n, sizeof(*want), cmp_id);
	if (store_begin(st) < 0)
		goto out_free;
	/* of several daemons, each (de)activates its own shard's targets only */
	stmt = store_prepare(
	    st, "SELECT id FROM targets t WHERE active = 1 AND " STORE_SQL_SHARD("?1"));
	if (stmt == NULL)
		goto out_rollback;
	db_bind_int64(stmt, 1, store_walk_shard(st));
	while ((rc = db_step(stmt)) == DB_ROW) {
		int64_t id = db_column_int64(stmt, 0);

		if (bsearch(&id, want, n, sizeof(*want), cmp_id) != NULL)
			continue;
		if (noff == capoff) {
			capoff = capoff ? capoff * 2 : 64;
			off = xrealloc(off, capoff * sizeof(*off));
		}
		off[noff++] = id;
	}
	store_stmt_done(stmt);
	if (rc != DB_DONE) {
		store_log_db(st, "listing active targets");
		goto out_rollback;
	}
	for (i = 0; i < noff; i++) {
		stmt = store_prepare(st, "UPDATE targets SET active = 0 WHERE id = ?1");
		if (stmt == NULL)
			goto out_rollback;
		db_bind_int64(stmt, 1, off[i]);
		if (store_step_write(st, stmt, "deactivating a target") != 0)
			goto out_rollback;
	}
	for (i = 0; i < n; i++) {
		stmt = store_prepare(st,
		                     "UPDATE targets SET active = 1 WHERE id = ?1 AND active != 1");
		if (stmt == NULL)
			goto out_rollback;
		db_bind_int64(stmt, 1, want[i]);
		if (store_step_write(st, stmt, "activating a target") != 0)
			goto out_rollback;
	}
	free(off);
	free(want);
	return store_commit(st);

out_rollback:
	store_rollback(st);
out_free:
	free(off);
	free(want);
	return -1;
}

/* ---- Target health ---- */

int
store_target_health(struct store *st, struct target_health **out, size_t *n)
{
	struct db_stmt *stmt = store_prepare(
	    st, "SELECT t.id, sv.name, t.url, t.active, t.last_scrape, t.last_success, "
	        "t.last_duration_ms, t.last_bytes,"
	        " t.last_status, t.last_goroutines, t.consecutive_failures"
	        " FROM targets t JOIN services sv ON sv.id = t.service_id"
	        " ORDER BY t.active DESC, t.consecutive_failures > 0 DESC, sv.name, t.url");
	struct target_health *h = NULL;
	size_t cap = 0, count = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (stmt == NULL)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct target_health *e;

		if (count == cap) {
			struct target_health *grown;

			cap = cap ? cap * 2 : 16;
			grown = realloc(h, cap * sizeof(*grown));
			if (grown == NULL) {
				log_err("store: out of memory");
				abort();
			}
			h = grown;
		}
		e = &h[count++];
		e->target_id = db_column_int64(stmt, 0);
		e->service = store_column_strdup(stmt, 1, true);
		e->url = store_column_strdup(stmt, 2, true);
		e->active = db_column_int(stmt, 3) != 0;
		e->last_scrape = db_column_int64(stmt, 4);
		e->last_success = db_column_int64(stmt, 5);
		e->last_duration_ms = (uint32_t)db_column_int64(stmt, 6);
		e->last_bytes = (uint64_t)db_column_int64(stmt, 7);
		e->last_status = store_column_strdup(stmt, 8, false);
		e->last_goroutines = db_column_is_null(stmt, 9) ? -1 : db_column_int64(stmt, 9);
		e->consecutive_failures = (uint32_t)db_column_int64(stmt, 10);
	}
	if (rc != DB_DONE) {
		store_log_db(st, "reading target health");
		store_stmt_done(stmt);
		target_health_free(h, count);
		return -1;
	}
	store_stmt_done(stmt);
	*out = h;
	*n = count;
	return 0;
}

void
target_health_free(struct target_health *h, size_t n)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(h[i].service);
		free(h[i].url);
		free(h[i].last_status);
	}
	free(h);
}
