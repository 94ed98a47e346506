/* storage/db.h: one database connection, SQLite or PostgreSQL, behind one small API.
 *
 * Shaped after the sqlite3_* calls the store makes, so that a call site changes name and little
 * else: statements are prepared once per connection and cached by their SQL text, parameters are
 * written '?1', '?2'... (numbered from 1; a bare '?' takes the next number, as in SQLite) and
 * bound by number, a statement is stepped row by row, and columns are read by index from 0. The
 * few SQL texts that must differ between the two ask db_kind().
 *
 * PostgreSQL (libpq): '?N' becomes '$N' outside string literals, quoted identifiers and comments
 * (so the jsonb '?' operators cannot be written: use jsonb_exists()); each statement is prepared
 * under a name of its own on the server the first time it runs on a connection. Parameters go as
 * text, blobs as bytea; an integer parameter is sent typed bigint and a double double precision, a
 * text or NULL one untyped (the server infers it, as for a literal). Rows come one at a time
 * (single-row mode): a large result holds one row in memory, not the result. One statement
 * streams at a time on a connection: starting another while one is part-way through reads the
 * rest of the first one's rows into memory, where its later steps find them. Boolean columns read
 * as 1 and 0. A lost connection fails the statement with a message saying so; the next statement
 * started (or db_reconnect()) connects again and prepares the statements again. A connection lost
 * inside a transaction fails every statement until db_rollback(), so that no later statement runs
 * outside the transaction it was written for.
 *
 * One struct db per thread; nothing is shared between connections. */
#ifndef DB_H
#define DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;      /* opaque: one connection */
struct db_stmt; /* opaque: one prepared statement of a connection */

enum db_kind {
	DB_SQLITE,
	DB_POSTGRES,
};

/* What db_step() found. */
enum db_step_result {
	DB_ERROR = -1, /* db_errmsg() says why */
	DB_ROW = 1,    /* a row: read it with db_column_*() */
	DB_DONE = 2,   /* no more rows: the statement ran to completion */
};

/* True when 'target' names a PostgreSQL database: a 'postgres://' or 'postgresql://' URI, or a
 * libpq key=value string (its first word a keyword followed by '=', such as 'host=' or
 * 'dbname='). Anything else is a SQLite file path. */
bool db_target_is_postgres(const char *target);

/* 'target' as messages may name it: a PostgreSQL target with its passwords masked (a URI's
 * user:password@ and every password= value as ***), a SQLite path as it is. Caller owns. */
char *db_target_shown(const char *target);

/* How db_open_flags() opens. */
enum db_flags {
	/* Reads only. SQLite: the file opened read-only (it must exist). PostgreSQL: every
	 * transaction of the session is READ ONLY (SET SESSION CHARACTERISTICS, again on each
	 * reconnection), so that a write fails with SQLSTATE 25006. */
	DB_READONLY = 1 << 0,
};

/* Connect to 'target' (see db_target_is_postgres()): a SQLite file, created when missing, or a
 * PostgreSQL server, the string passed to libpq as it is (its passfile and sslmode options, and
 * PGPASSFILE and the other PG* variables, apply). NULL on failure, with the reason in 'err'
 * (never holding a password). Caller owns: db_close(). */
struct db *db_open(const char *target, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* db_open() with 'flags' (enum db_flags; 0 is db_open()). */
struct db *db_open_flags(const char *target, unsigned flags, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Finalize every statement and close; db_close(NULL) does nothing. */
void db_close(struct db *db);
enum db_kind db_kind(const struct db *db);
/* The last failure's message: for PostgreSQL the server's message and its SQLSTATE, or what the
 * client saw (a lost connection). Borrowed: valid until the next call on 'db'. "" when none. */
const char *db_errmsg(const struct db *db);
/* The SQLSTATE of the last failure ("23505"), "" when there is none or the backend has none
 * (SQLite). Borrowed, as db_errmsg(). */
const char *db_sqlstate(const struct db *db);

/* What the last failure was, for a caller that acts on it (kept as long as db_errmsg()). */
enum db_failure {
	DB_FAIL_NONE,  /* none */
	DB_FAIL_OTHER, /* the database's (full, locked, read-only, I/O, a lost connection) or a
	                  misuse */
	/* the data's: a constraint, a type mismatch, a value too big or out of range (SQLite's
	 * CONSTRAINT, MISMATCH, TOOBIG and RANGE; PostgreSQL's SQLSTATE classes 22, 23 and 54) */
	DB_FAIL_DATA,
	/* stopped on purpose: SQLite's progress handler asked (INTERRUPT); PostgreSQL's statement
	 * was cancelled (57014) */
	DB_FAIL_INTERRUPT,
};
enum db_failure db_failure(const struct db *db);

/* Run 'sql', statements that return no rows: for SQLite several separated by ';', for PostgreSQL
 * too when it has no parameters (it is sent as one simple query). No parameters. 0, or -1
 * (db_errmsg()). */
int db_exec(struct db *db, const char *sql) __attribute__((warn_unused_result));

/* The statement for 'sql' (one statement, '?N' parameters), prepared on first use and cached for
 * the connection's lifetime by its text: preparing the same text again returns the same statement,
 * reset and its bindings cleared. The cache has no bound: a text built with varying content (an IN
 * list of its own length) is to be finalized once used. Borrowed: valid until db_finalize() or
 * db_close(). Do not hold one across a call that may prepare the same text (it would be reset).
 * NULL on error (db_errmsg(); for PostgreSQL a syntax error shows at the first db_step(), where the
 * server prepares it). */
struct db_stmt *db_prepare(struct db *db, const char *sql);
/* Drop 'stmt' from its connection's cache and free it (NULL does nothing). */
void db_finalize(struct db_stmt *stmt);
/* End the statement's run (its remaining rows are discarded) and clear its bindings, ready to run
 * again. NULL does nothing. */
void db_reset(struct db_stmt *stmt);

/* Bind parameter 'i' (from 1) for the next run. The value is copied. Binding a statement part-way
 * through a run ends that run first. 0, or -1 when 'i' is out of range (db_errmsg()). */
int db_bind_int64(struct db_stmt *stmt, int i, int64_t v);
int db_bind_double(struct db_stmt *stmt, int i, double v);
/* 's' NULL binds NULL. */
int db_bind_text(struct db_stmt *stmt, int i, const char *s);
/* The 'n' bytes at 's' as text (no NUL needed after them; none among them). */
int db_bind_text_n(struct db_stmt *stmt, int i, const char *s, size_t n);
/* 'p' may be NULL when 'n' is 0 (an empty blob). */
int db_bind_blob(struct db_stmt *stmt, int i, const void *p, size_t n);
int db_bind_null(struct db_stmt *stmt, int i);

/* Run the statement, or continue the run: DB_ROW, DB_DONE or DB_ERROR (db_errmsg()). After
 * DB_DONE or DB_ERROR the next step starts a new run with the same bindings. */
enum db_step_result db_step(struct db_stmt *stmt);

/* The current row's columns, from 0; valid after DB_ROW until the next step, reset or bind. NULL
 * reads as 0, 0.0 and NULL; a boolean as 1 or 0 (as text too: "1", "0"); text as a number as SQLite
 * converts it (its leading number, else 0). */
int db_column_count(struct db_stmt *stmt);
bool db_column_is_null(struct db_stmt *stmt, int col);
int64_t db_column_int64(struct db_stmt *stmt, int col);
int db_column_int(struct db_stmt *stmt, int col);
double db_column_double(struct db_stmt *stmt, int col);
/* NUL-terminated text (a blob's bytes with a NUL after them); NULL for NULL. Borrowed. */
const char *db_column_text(struct db_stmt *stmt, int col);
/* A blob's bytes (or text's); NULL for NULL or an empty value. Borrowed. */
const void *db_column_blob(struct db_stmt *stmt, int col);
/* The length in bytes of what db_column_blob() or db_column_text() returns (no NUL). */
size_t db_column_bytes(struct db_stmt *stmt, int col);

/* Rows the last completed INSERT, UPDATE or DELETE changed (as sqlite3_changes()). */
int64_t db_changes(const struct db *db);
/* SQLite: the rowid of the last row inserted on the connection (as sqlite3_last_insert_rowid()).
 * Cheaper there than INSERT ... RETURNING, which SQLite runs through a temporary table (a few
 * microseconds per row). PostgreSQL has no such thing: -1, with db_errmsg() saying to use
 * RETURNING. */
int64_t db_last_insert_rowid(struct db *db);

/* Transactions. db_begin() starts a write transaction (SQLite: BEGIN IMMEDIATE, so that a writer
 * waits for the lock up front); db_begin_read() one for consistent reads (SQLite: deferred;
 * PostgreSQL: REPEATABLE READ, READ ONLY). db_rollback() is safe when no transaction is open, and
 * after a connection was lost in one. 0, or -1 (db_errmsg()). */
int db_begin(struct db *db) __attribute__((warn_unused_result));
int db_begin_read(struct db *db) __attribute__((warn_unused_result));
int db_commit(struct db *db) __attribute__((warn_unused_result));
int db_rollback(struct db *db);
/* True inside a transaction (PostgreSQL: as the connection last reported it). */
bool db_in_transaction(const struct db *db);

/* Call 'interrupt' (NULL: none) now and then while a statement of 'db' runs, on the thread using
 * 'db': when it returns non-zero the statement stops and its step fails with DB_FAIL_INTERRUPT.
 * SQLite: every 10,000 virtual machine steps (its progress handler: well under a millisecond).
 * PostgreSQL: at each step, and every DB_INTERRUPT_MS while a step waits for the server; the
 * server is then asked to cancel the statement (PQcancel), which also aborts the transaction
 * around it (roll it back). 'arg' borrowed. */
void db_set_interrupt(struct db *db, int (*interrupt)(void *arg), void *arg);
#define DB_INTERRUPT_MS 10

/* PostgreSQL: connect again now (an open transaction is lost); every statement is prepared again
 * when next run. SQLite: nothing to do. 0, or -1 (db_errmsg()). */
int db_reconnect(struct db *db) __attribute__((warn_unused_result));
/* How many times the connection was made again since db_open() (PostgreSQL). */
unsigned db_reconnects(const struct db *db);

/* The SQLite connection, for what only SQLite has (a progress handler, memory limits, PRAGMAs'
 * side effects); NULL for PostgreSQL. Borrowed. */
struct sqlite3;
struct sqlite3 *db_sqlite(struct db *db);

#endif
