/* storage/db_sqlite.c: the SQLite driver of db.h (see db_driver.h). A thin layer: the API was
 * shaped after SQLite's own, and '?N' parameters are SQLite's. */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "storage/db.h"
#include "storage/db_driver.h"

#define BUSY_TIMEOUT_MS 5000

/* db_failure() for SQLite's result code 'code'. */
static enum db_failure
failure_of(int code)
{
	switch (code & 0xff) {
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
		return DB_FAIL_DATA;
	case SQLITE_INTERRUPT:
		return DB_FAIL_INTERRUPT;
	default:
		return DB_FAIL_OTHER;
	}
}

/* Keep 'msg' (NULL: the connection's own) and the kind of the connection's last failure. */
static void
save_error_msg(struct db *db, const char *msg)
{
	int code = sqlite3_extended_errcode(db->lite);

	db_set_error(db, NULL, "%s", msg != NULL ? msg : sqlite3_errmsg(db->lite));
	db->failure = code == SQLITE_OK ? DB_FAIL_OTHER : failure_of(code);
}

static void
save_error(struct db *db)
{
	save_error_msg(db, NULL);
}

int
dblite_open(struct db *db, const char *target, char *err, size_t errlen)
{
	int mode = (db->flags & DB_READONLY) != 0 ? SQLITE_OPEN_READONLY
	                                          : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	int rc =
	    sqlite3_open_v2(target, &db->lite, mode | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, NULL);

	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "'%s': %s", target,
		         db->lite != NULL ? sqlite3_errmsg(db->lite) : sqlite3_errstr(rc));
		return -1;
	}
	sqlite3_extended_result_codes(db->lite, 1);
	sqlite3_busy_timeout(db->lite, BUSY_TIMEOUT_MS);
	return 0;
}

void
dblite_close(struct db *db)
{
	for (int i = 0; i < DBLITE_TX_N; i++)
		sqlite3_finalize(db->lite_tx[i]);
	/* every statement is finalized by now: close cannot fail on one left open */
	sqlite3_close(db->lite);
	db->lite = NULL;
}

int
dblite_exec(struct db *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db->lite, sql, NULL, NULL, &msg) != SQLITE_OK) {
		save_error_msg(db, msg);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int
dblite_tx(struct db *db, enum dblite_tx tx)
{
	static const char *const sql[DBLITE_TX_N] = {
	    [DBLITE_BEGIN] = "BEGIN IMMEDIATE",
	    [DBLITE_BEGIN_READ] = "BEGIN",
	    [DBLITE_COMMIT] = "COMMIT",
	    [DBLITE_ROLLBACK] = "ROLLBACK",
	};
	sqlite3_stmt **stmt = &db->lite_tx[tx];
	int rc;

	if (*stmt == NULL && sqlite3_prepare_v3(db->lite, sql[tx], -1, SQLITE_PREPARE_PERSISTENT,
	                                        stmt, NULL) != SQLITE_OK) {
		save_error(db);
		return -1;
	}
	rc = sqlite3_step(*stmt);
	if (rc != SQLITE_DONE)
		save_error(db);
	sqlite3_reset(*stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
dblite_prepare(struct db_stmt *stmt)
{
	struct db *db = stmt->db;
	const char *tail = NULL;

	if (sqlite3_prepare_v3(db->lite, stmt->sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt->lite,
	                       &tail) != SQLITE_OK) {
		save_error(db);
		return -1;
	}
	if (stmt->lite == NULL) {
		db_set_error(db, NULL, "no statement in '%.40s'", stmt->sql);
		return -1;
	}
	tail += strspn(tail, " \t\r\n;");
	if (*tail != '\0') {
		sqlite3_finalize(stmt->lite);
		stmt->lite = NULL;
		db_set_error(db, NULL, "more than one statement in '%.40s'", stmt->sql);
		return -1;
	}
	stmt->nparams = sqlite3_bind_parameter_count(stmt->lite);
	return 0;
}

void
dblite_finalize(struct db_stmt *stmt)
{
	sqlite3_finalize(stmt->lite);
}

void
dblite_end(struct db_stmt *stmt)
{
	sqlite3_reset(stmt->lite);
	stmt->lite_ran = false;
	stmt->lite_ncols = 0;
}

void
dblite_clear(struct db_stmt *stmt)
{
	sqlite3_clear_bindings(stmt->lite);
}

int
dblite_bind(struct db_stmt *stmt, int i, const struct db_value *v)
{
	int rc = SQLITE_OK;

	/* part-way through a run, or at its end: bindings change only on a reset statement (a reset
	 * costs as much as a binding: only when it ran) */
	if (stmt->lite_ran)
		dblite_end(stmt);
	switch (v->type) {
	case DB_TYPE_NULL:
		rc = sqlite3_bind_null(stmt->lite, i);
		break;
	case DB_TYPE_INT64:
		rc = sqlite3_bind_int64(stmt->lite, i, v->i);
		break;
	case DB_TYPE_DOUBLE:
		rc = sqlite3_bind_double(stmt->lite, i, v->d);
		break;
	case DB_TYPE_TEXT:
		rc = sqlite3_bind_text64(stmt->lite, i, v->p, v->n, SQLITE_TRANSIENT, SQLITE_UTF8);
		break;
	case DB_TYPE_BLOB:
		rc = sqlite3_bind_blob64(stmt->lite, i, v->p, v->n, SQLITE_TRANSIENT);
		break;
	}
	if (rc != SQLITE_OK) {
		save_error(stmt->db);
		return -1;
	}
	return 0;
}

enum db_step_result
dblite_step(struct db_stmt *stmt)
{
	int rc;

	stmt->lite_ran = true;
	rc = sqlite3_step(stmt->lite);
	/* counted once per row: every column read checks its index against it */
	stmt->lite_ncols = rc == SQLITE_ROW ? sqlite3_data_count(stmt->lite) : 0;
	if (rc == SQLITE_ROW)
		return DB_ROW;
	if (rc == SQLITE_DONE)
		return DB_DONE;
	save_error(stmt->db);
	return DB_ERROR;
}

int
dblite_column_count(struct db_stmt *stmt)
{
	return stmt->lite_ncols;
}

bool
dblite_column_is_null(struct db_stmt *stmt, int col)
{
	return sqlite3_column_type(stmt->lite, col) == SQLITE_NULL;
}

int64_t
dblite_column_int64(struct db_stmt *stmt, int col)
{
	return sqlite3_column_int64(stmt->lite, col);
}

double
dblite_column_double(struct db_stmt *stmt, int col)
{
	return sqlite3_column_double(stmt->lite, col);
}

const char *
dblite_column_text(struct db_stmt *stmt, int col)
{
	return (const char *)sqlite3_column_text(stmt->lite, col);
}

const void *
dblite_column_blob(struct db_stmt *stmt, int col)
{
	return sqlite3_column_blob(stmt->lite, col);
}

size_t
dblite_column_bytes(struct db_stmt *stmt, int col)
{
	return (size_t)sqlite3_column_bytes(stmt->lite, col);
}

int64_t
dblite_changes(const struct db *db)
{
	return sqlite3_changes64(db->lite);
}

int64_t
dblite_last_insert_rowid(const struct db *db)
{
	return sqlite3_last_insert_rowid(db->lite);
}

bool
dblite_in_transaction(const struct db *db)
{
	return !sqlite3_get_autocommit(db->lite);
}

void
dblite_set_interrupt(struct db *db, int (*interrupt)(void *arg), void *arg)
{
	/* 10,000 steps take well under a millisecond: an interrupt lands about that soon */
	sqlite3_progress_handler(db->lite, 10000, interrupt, arg);
}
