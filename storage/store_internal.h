/* storage/store_internal.h: what the other storage files (store_ingest.c, store_rank.c,
 * store_retention.c, query.c, alertstore.c) share with store.c, and store.c with the ingest.
 *
 * Not for use outside storage/. A struct store wraps one database connection (storage/db.h; one
 * thread); these helpers give other storage modules that connection, a cache of prepared statements
 * keyed by their SQL text, transactions and the house error message format, so that every storage
 * file prepares each statement once and names the database path and the database's message when
 * something fails. */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/db.h"
#include "storage/store.h"

/* The connection. Borrowed: valid until store_free(). */
struct db *store_dbh(struct store *st);
/* The SQLite connection underneath (db_sqlite()), for what only SQLite has; NULL on PostgreSQL.
 * Borrowed. */
struct sqlite3 *store_db(struct store *st);
/* The database path as given to store_open(). Borrowed. */
const char *store_path(const struct store *st);
/* True when opened with STORE_READONLY. */
bool store_readonly(const struct store *st);

/* Rankings kept: store_ranking_save() and store_retention_step() prune older ones. */
#define STORE_RANKINGS_KEEP 50

/* A prepared statement for 'sql', compiled on first use and cached in 'st' for its lifetime. The
 * cache is keyed by the string's address: pass a string literal or a static const array, never a
 * built buffer (at most 128 statements per connection). The statement comes back reset with its
 * bindings cleared; after stepping it, call store_stmt_done() (or db_reset()) so that it releases
 * its read snapshot. Never finalize it. Do not hold one across a call that may prepare the same SQL
 * (a nested walk would reset it; so would the same text at another address: db.h caches by text).
 * Borrowed. NULL on error (logged: path, SQL's first words and the database's
 * message; store_errmsg() has the message). */
struct db_stmt *store_prepare(struct store *st, const char *sql);
/* Step a write statement to completion and reset it: 0, or -1 logged as store_log_db(st, what). */
int store_step_write(struct store *st, struct db_stmt *stmt, const char *what)
    __attribute__((warn_unused_result));
/* Step a statement that returns one id row (RETURNING id) and reset it: the id, or -1 logged as
 * store_log_db(st, what). */
int64_t store_step_id(struct store *st, struct db_stmt *stmt, const char *what);
/* Reset 'stmt' (NULL is fine) and clear its bindings. */
void store_stmt_done(struct db_stmt *stmt);
/* Bind a wait in minutes to parameter 'col': NULL when unknown (negative). */
void store_bind_wait(struct db_stmt *stmt, int col, int32_t minutes);

/* Transactions. store_begin() starts a write transaction (db_begin(): SQLite's BEGIN IMMEDIATE, a
 * writer taking the lock up front, so that busy_timeout applies there and never half-way through);
 * store_begin_read() one for consistent multi-statement reads (db_begin_read(); end it with
 * store_rollback() or store_commit()). store_commit() commits (on failure it rolls back and returns
 * -1); store_rollback() resets every cached statement, rolls back, and is safe to call when no
 * transaction is open. Nested calls are not supported: the store's own API functions open their
 * own transactions, so never call them between store_begin() and store_commit(). 0, or -1
 * (logged). */
int store_begin(struct store *st) __attribute__((warn_unused_result));
int store_begin_read(struct store *st) __attribute__((warn_unused_result));
int store_commit(struct store *st) __attribute__((warn_unused_result));
void store_rollback(struct store *st);

/* Inside store_batch_begin(). */
bool store_batch_open(const struct store *st);

/* Log "store: '<path>': <what>: <database message>" for the connection's last error (error level;
 * info for an interrupt, see query_set_interrupt()).
 * store_errmsg() keeps the message. */
void store_log_db(struct store *st, const char *what);
/* Keep a failure of our own (not the database's) as the message store_errmsg() returns; logs
 * nothing. */
void store_set_error(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A TEXT column as a new string (NULL column: NULL unless 'empty_for_null', then ""). Aborts on out
 * of memory. */
char *store_column_strdup(struct db_stmt *stmt, int col, bool empty_for_null);

/* Look up ids without creating anything: 0 found (*id set), 1 no such row, -1 error. */
int store_service_id(struct store *st, const char *service, int64_t *id);

/* What the ingest (store_ingest.c) keeps per connection: the caches of interned location and stack
 * ids and the buffers scraped text is cleaned into. Opaque; each struct store owns one. */
struct store_ingest;
/* A new, empty one. Aborts on out of memory. Caller owns; free with store_ingest_free(), which does
 * nothing with NULL. */
struct store_ingest *store_ingest_new(void);
void store_ingest_free(struct store_ingest *ing);
/* Forget every cached id: after a write transaction rolls back (ids interned in it no longer exist)
 * and after locations or stacks are deleted. */
void store_ingest_forget(struct store_ingest *ing);
/* Forget what the latest scrapes of each target showed (lifetime_judge()'s memory): after a batch
 * rolls back, whose scrapes were remembered as they were stored. */
void store_ingest_forget_lifetimes(struct store_ingest *ing);
/* The store's own (kept by store.c). Borrowed: valid until store_free(). */
struct store_ingest *store_ingest_state(struct store *st);

/* Store the label sets of 'p's locations (ids[i] the location id of p->locations[i]) for count
 * scrape 'scrape_id' taken at 'ts', inside the open write transaction: at most STORE_LABEL_ROWS
 * rows and STORE_LABEL_BYTES bytes of set text, the locations with the most goroutines first, those
 * whose op may leak only. 0, or -1 (logged). */
int store_labels_add(struct store *st, int64_t scrape_id, int64_t ts, const struct profile *p,
                     const int64_t *ids) __attribute__((warn_unused_result));
/* Delete up to 'limit' label sets no scrape stored since 'cutoff' (their rows, if any are left,
 * go with their scrapes, and are no longer shown). The number deleted, or -1 (logged). */
int store_labels_retention(struct store *st, int64_t cutoff, unsigned limit);
#define STORE_LABEL_ROWS 2048
#define STORE_LABEL_BYTES (64u << 10)

/* SQLite's two-argument max(a, b) and min(a, b) as portable SQL text ('a' and 'b' string literals
 * naming columns or parameters): NULL when either is NULL, else the larger (smaller) one. Not
 * PostgreSQL's greatest() and least(), which ignore a NULL, nor a name SQLite lacks. */
#define STORE_SQL_MAX(a, b)                                                                        \
	"CASE WHEN " a " IS NULL OR " b " IS NULL THEN NULL WHEN " b " > " a " THEN " b " ELSE " a \
	" END"
#define STORE_SQL_MIN(a, b)                                                                        \
	"CASE WHEN " a " IS NULL OR " b " IS NULL THEN NULL WHEN " b " < " a " THEN " b " ELSE " a \
	" END"

/* The shard whose targets the detector's walks read: the store's shard index when shard.count > 1,
 * else -1 (every target). STORE_SQL_SHARD(p) is the condition on targets t for it bound as
 * parameter 'p' (a string literal such as "?3"). */
int64_t store_walk_shard(const struct store *st);
#define STORE_SQL_SHARD(p) "(CAST(" p " AS BIGINT) < 0 OR t.shard = " p ")"
/* The ingest wrote scrape 'scrape_id' and restart move 'move_seq' (0: none) in the open write
 * transaction: its commit moves the shard's marks past them (store_set_shard()). */
void store_mark_written(struct store *st, int64_t scrape_id, int64_t move_seq);

/* PostgreSQL writes a scrape's rows of one raw table with one statement: 'sql' is an INSERT taking
 * ?1 the scrape's id, ?2 its ts and ?3, ?4, ?5 the arrays of the rows' two key columns and count
 * (SELECT ... FROM unnest(CAST(?3 AS BIGINT[]), ...)). Rows of one (a, b) are merged first by
 * adding their counts, as SQLite's upserts of a row at a time merge them (a statement may not
 * touch one row twice). Sorts 'rows'. 0, or -1 (logged). */
struct store_pg_row {
	int64_t a, b, count;
};
int store_pg_write_rows(struct store *st, const char *sql, int64_t scrape_id, int64_t ts,
                        struct store_pg_row *rows, size_t n, const char *what)
    __attribute__((warn_unused_result));

/* True when the store is on PostgreSQL: for the few statements written twice, side by side (the
 * raw tables' scrape_ts there, SQLite's rowid here). */
bool store_on_pg(struct store *st);

/* PostgreSQL: create the day partitions of the raw tables from the day of 'now' to the next one
 * that do not exist yet, so that no scrape waits for its day's: at open, and before each
 * retention step (store_retention_step() calls it). Outside a transaction. Nothing on SQLite. 0, or
 * -1 (logged). */
int store_retention_partitions_ahead(struct store *st, int64_t now)
    __attribute__((warn_unused_result));

#endif
