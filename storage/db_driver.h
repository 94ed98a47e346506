/* storage/db_driver.h: what db.c shares with its two drivers, db_sqlite.c and db_pg.c.
 *
 * Not for use outside those three files. db.c holds the public API of db.h: the statement cache,
 * the error message and the checks common to both; it calls the driver of the connection's kind
 * for the rest. */
#ifndef DB_DRIVER_H
#define DB_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "storage/db.h"

/* A value to bind. */
enum db_type {
	DB_TYPE_NULL,
	DB_TYPE_INT64,
	DB_TYPE_DOUBLE,
	DB_TYPE_TEXT,
	DB_TYPE_BLOB,
};

struct db_value {
	enum db_type type;
	int64_t i;
	double d;
	const void *p; /* text (NUL-terminated) or blob bytes */
	size_t n;      /* blob bytes */
};

/* PostgreSQL: one parameter as it is sent (a copy, text or binary). */
struct db_param {
	char *buf;
	size_t cap;
	int len;
	int format;   /* 0 text, 1 binary */
	unsigned oid; /* the type it asks for; 0: the server infers it */
	bool null;
};

/* PostgreSQL: a bytea column of the current row, decoded on first read. */
struct db_bytes {
	unsigned char *p;
	size_t len;
	bool done;
};

/* PostgreSQL: where a statement's run is. */
enum db_run {
	DB_RUN_IDLE,      /* not running: the next step starts a run */
	DB_RUN_STREAMING, /* its rows are coming from the connection, one at a time */
	DB_RUN_BUFFERED,  /* another statement needed the connection: the rest is in 'queue' */
};

struct db_stmt {
	struct db *db;
	char *sql;     /* the text as given, the cache key */
	uint64_t hash; /* of 'sql' */
	int nparams;
	sqlite3_stmt *lite;
	bool lite_ran;  /* SQLite: stepped since its last reset (a binding must reset it first) */
	int lite_ncols; /* SQLite: the current row's columns, 0 without a row */
	/* PostgreSQL */
	char *pg_sql;   /* with $N placeholders */
	char name[32];  /* the server's name of the prepared statement */
	unsigned gen;   /* the connection it was prepared on (db->gen); 0: not prepared */
	unsigned *oids; /* the parameter types it was prepared with */
	/* which parameter numbers the text has: one it skips (SQLite allows it) is sent as a text
	 * NULL, whatever is bound, for the server cannot type it */
	bool *used;
	struct db_param *params;
	enum db_run run;
	PGresult *row; /* the current row (single-row result) */
	PGresult **queue;
	size_t qhead, qlen, qcap;
	struct db_bytes *bytes; /* per column of 'row' */
	int nbytes;
};

/* SQLite: the statements that begin and end transactions (see dblite_tx()). */
enum dblite_tx {
	DBLITE_BEGIN,      /* BEGIN IMMEDIATE */
	DBLITE_BEGIN_READ, /* BEGIN */
	DBLITE_COMMIT,
	DBLITE_ROLLBACK,
	DBLITE_TX_N,
};

struct db {
	enum db_kind kind;
	unsigned flags; /* enum db_flags */
	sqlite3 *lite;
	sqlite3_stmt *lite_tx[DBLITE_TX_N]; /* prepared on first use */
	PGconn *pg;
	unsigned gen;           /* connections made, from 1 */
	unsigned next_name;     /* the last statement name given */
	bool in_tx;             /* PostgreSQL: in a transaction when the last command completed */
	bool tx_lost;           /* PostgreSQL: the connection was lost inside a transaction */
	bool closing;           /* in db_close(): statements go with the connection */
	struct db_stmt *active; /* PostgreSQL: the statement streaming on the connection */
	struct db_stmt **stmts; /* the cache */
	size_t nstmts, capstmts;
	int64_t changes;             /* PostgreSQL: of the last INSERT, UPDATE or DELETE */
	int (*interrupt)(void *arg); /* PostgreSQL: db_set_interrupt()'s */
	void *interrupt_arg;
	char err[1024];
	char sqlstate[6];
	enum db_failure failure;
};

/* Keep a message as db_errmsg() (and 'sqlstate', NULL for none, as db_sqlstate()); db_failure()
 * follows from the SQLSTATE (DB_FAIL_OTHER without one: the SQLite driver sets its own after). */
void db_set_error(struct db *db, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* SQLite (db_sqlite.c). */
int dblite_open(struct db *db, const char *target, char *err, size_t errlen);
void dblite_close(struct db *db);
int dblite_exec(struct db *db, const char *sql);
/* Run 'tx' (a statement prepared once per connection: a transaction per unit of work would
 * otherwise parse two statements each). 0, or -1 (db_errmsg()). */
int dblite_tx(struct db *db, enum dblite_tx tx);
int dblite_prepare(struct db_stmt *stmt);
void dblite_finalize(struct db_stmt *stmt);
void dblite_end(struct db_stmt *stmt);
void dblite_clear(struct db_stmt *stmt);
int dblite_bind(struct db_stmt *stmt, int i, const struct db_value *v);
enum db_step_result dblite_step(struct db_stmt *stmt);
int dblite_column_count(struct db_stmt *stmt);
bool dblite_column_is_null(struct db_stmt *stmt, int col);
int64_t dblite_column_int64(struct db_stmt *stmt, int col);
double dblite_column_double(struct db_stmt *stmt, int col);
const char *dblite_column_text(struct db_stmt *stmt, int col);
const void *dblite_column_blob(struct db_stmt *stmt, int col);
size_t dblite_column_bytes(struct db_stmt *stmt, int col);
int64_t dblite_changes(const struct db *db);
int64_t dblite_last_insert_rowid(const struct db *db);
bool dblite_in_transaction(const struct db *db);
void dblite_set_interrupt(struct db *db, int (*interrupt)(void *arg), void *arg);

/* PostgreSQL (db_pg.c). */
int dbpg_open(struct db *db, const char *target, char *err, size_t errlen);
void dbpg_close(struct db *db);
int dbpg_reconnect(struct db *db);
int dbpg_exec(struct db *db, const char *sql);
int dbpg_commit(struct db *db);
int dbpg_rollback(struct db *db);
int dbpg_prepare(struct db_stmt *stmt);
void dbpg_finalize(struct db_stmt *stmt);
void dbpg_end(struct db_stmt *stmt);
void dbpg_clear(struct db_stmt *stmt);
int dbpg_bind(struct db_stmt *stmt, int i, const struct db_value *v);
enum db_step_result dbpg_step(struct db_stmt *stmt);
int dbpg_column_count(struct db_stmt *stmt);
bool dbpg_column_is_null(struct db_stmt *stmt, int col);
int64_t dbpg_column_int64(struct db_stmt *stmt, int col);
double dbpg_column_double(struct db_stmt *stmt, int col);
const char *dbpg_column_text(struct db_stmt *stmt, int col);
const void *dbpg_column_blob(struct db_stmt *stmt, int col);
size_t dbpg_column_bytes(struct db_stmt *stmt, int col);
bool dbpg_in_transaction(const struct db *db);
bool dbpg_is_target(const char *target);
/* 'sql' with '?N' as '$N' (see db.h); the highest parameter number in '*nparams', and when 'used'
 * is not NULL, in '*used' a new array of '*nparams' flags saying which numbers the text has
 * (caller owns; NULL for none). A new string (caller owns), or NULL when a parameter number is out
 * of range (db_errmsg()). */
char *dbpg_translate(struct db *db, const char *sql, int *nparams, bool **used);

#endif
