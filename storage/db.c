/* storage/db.c: one database connection behind one API (see db.h): the statement cache, the error
 * message and what both drivers share. The drivers are db_sqlite.c and db_pg.c (db_driver.h). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/sbuf.h"
#include "base/xalloc.h"
#include "storage/db.h"
#include "storage/db_driver.h"

void
db_set_error(struct db *db, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(db->err, sizeof(db->err), fmt, ap);
	va_end(ap);
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", sqlstate != NULL ? sqlstate : "");
	if (sqlstate == NULL)
		db->failure = DB_FAIL_OTHER;
	else if (strcmp(sqlstate, "57014") == 0)
		db->failure = DB_FAIL_INTERRUPT;
	else if (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 ||
	         strncmp(sqlstate, "54", 2) == 0)
		db->failure = DB_FAIL_DATA;
	else
		db->failure = DB_FAIL_OTHER;
}

/* Forget the last failure: a new command starts. */
static void
clear_error(struct db *db)
{
	db->err[0] = '\0';
	db->sqlstate[0] = '\0';
	db->failure = DB_FAIL_NONE;
}

/* ---- Connections ---- */

bool
db_target_is_postgres(const char *target)
{
	if (target == NULL)
		return false;
	if (strncmp(target, "postgres://", 11) == 0 || strncmp(target, "postgresql://", 13) == 0)
		return true;
	return dbpg_is_target(target);
}

/* The end of the value that starts at 'p' in a connection string: a quoted one ('...', with \'
 * escapes) or up to a space, or, in a URI, up to '&'. */
static const char *
value_end(const char *p, bool uri)
{
	if (!uri && *p == '\'') {
		for (p++; *p != '\0' && *p != '\''; p++)
			if (*p == '\\' && p[1] != '\0')
				p++;
		return *p == '\'' ? p + 1 : p;
	}
	return p + strcspn(p, uri ? "&#" : " \t");
}

char *
db_target_shown(const char *target)
{
	bool uri =
	    strncmp(target, "postgres://", 11) == 0 || strncmp(target, "postgresql://", 13) == 0;
	const char *p = target, *auth = uri ? strstr(target, "://") + 3 : NULL;
	struct sbuf b = {0};
	size_t len;
	char *s;

	if (!db_target_is_postgres(target))
		return xstrdup(target);
	if (auth != NULL) {
		const char *end = auth + strcspn(auth, "/?#"), *at = NULL, *colon;

		for (const char *q = auth; q < end; q++)
			if (*q == '@')
				at = q;
		colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		if (colon != NULL) {
			sbuf_add(&b, target, (size_t)(colon - target));
			sbuf_puts(&b, ":***");
			p = at;
		}
	}
	while (*p != '\0') {
		const char *kw = strstr(p, "password");
		const char *eq;

		if (kw == NULL)
			break;
		eq = kw + 8;
		eq += strspn(eq, " \t");
		if (*eq != '=' ||
		    (kw > target && (isalnum((unsigned char)kw[-1]) || kw[-1] == '_'))) {
			sbuf_add(&b, p, (size_t)(kw + 8 - p));
			p = kw + 8;
			continue;
		}
		eq++;
		eq += uri ? 0 : strspn(eq, " \t");
		sbuf_add(&b, p, (size_t)(eq - p));
		sbuf_puts(&b, "***");
		p = value_end(eq, uri);
	}
	sbuf_puts(&b, p);
	s = sbuf_steal(&b, &len);
	return s != NULL ? s : xstrdup("");
}

struct db *
db_open(const char *target, char *err, size_t errlen)
{
	return db_open_flags(target, 0, err, errlen);
}

struct db *
db_open_flags(const char *target, unsigned flags, char *err, size_t errlen)
{
	struct db *db;
	int rc;

	if (target == NULL || target[0] == '\0') {
		snprintf(err, errlen, "no database named");
		return NULL;
	}
	db = xcalloc(1, sizeof(*db));
	db->flags = flags;
	db->kind = db_target_is_postgres(target) ? DB_POSTGRES : DB_SQLITE;
	if (db->kind == DB_POSTGRES)
		rc = dbpg_open(db, target, err, errlen);
	else
		rc = dblite_open(db, target, err, errlen);
	if (rc < 0) {
		db_close(db);
		return NULL;
	}
	return db;
}

void
db_close(struct db *db)
{
	if (db == NULL)
		return;
	db->closing = true;
	while (db->nstmts > 0)
		db_finalize(db->stmts[db->nstmts - 1]);
	free(db->stmts);
	if (db->kind == DB_POSTGRES)
		dbpg_close(db);
	else
		dblite_close(db);
	free(db);
}

enum db_kind
db_kind(const struct db *db)
{
	return db->kind;
}

const char *
db_errmsg(const struct db *db)
{
	return db->err;
}

const char *
db_sqlstate(const struct db *db)
{
	return db->sqlstate;
}

enum db_failure
db_failure(const struct db *db)
{
	return db->failure;
}

int64_t
db_changes(const struct db *db)
{
	return db->kind == DB_POSTGRES ? db->changes : dblite_changes(db);
}

int64_t
db_last_insert_rowid(struct db *db)
{
	if (db->kind == DB_POSTGRES) {
		db_set_error(db, NULL, "no last inserted rowid on PostgreSQL: use RETURNING");
		return -1;
	}
	return dblite_last_insert_rowid(db);
}

int
db_reconnect(struct db *db)
{
	if (db->kind != DB_POSTGRES)
		return 0;
	return dbpg_reconnect(db);
}

unsigned
db_reconnects(const struct db *db)
{
	return db->gen > 1 ? db->gen - 1 : 0;
}

void
db_set_interrupt(struct db *db, int (*interrupt)(void *arg), void *arg)
{
	if (db->kind == DB_SQLITE) {
		dblite_set_interrupt(db, interrupt, arg);
		return;
	}
	db->interrupt = interrupt;
	db->interrupt_arg = arg;
}

sqlite3 *
db_sqlite(struct db *db)
{
	return db->lite;
}

/* ---- Statements ---- */

int
db_exec(struct db *db, const char *sql)
{
	clear_error(db);
	return db->kind == DB_POSTGRES ? dbpg_exec(db, sql) : dblite_exec(db, sql);
}

struct db_stmt *
db_prepare(struct db *db, const char *sql)
{
	uint64_t hash = hash_fnv1a_str(HASH_FNV1A_INIT, sql);
	struct db_stmt *stmt;
	size_t i;
	int rc;

	for (i = 0; i < db->nstmts; i++) {
		stmt = db->stmts[i];
		if (stmt->hash == hash && strcmp(stmt->sql, sql) == 0) {
			db_reset(stmt);
			return stmt;
		}
	}
	clear_error(db);
	stmt = xcalloc(1, sizeof(*stmt));
	stmt->db = db;
	stmt->sql = xstrdup(sql);
	stmt->hash = hash;
	rc = db->kind == DB_POSTGRES ? dbpg_prepare(stmt) : dblite_prepare(stmt);
	if (rc < 0) {
		free(stmt->sql);
		free(stmt);
		return NULL;
	}
	if (db->nstmts == db->capstmts) {
		db->capstmts = db->capstmts ? db->capstmts * 2 : 32;
		db->stmts = xrealloc(db->stmts, db->capstmts * sizeof(*db->stmts));
	}
	db->stmts[db->nstmts++] = stmt;
	return stmt;
}

void
db_finalize(struct db_stmt *stmt)
{
	struct db *db;
	size_t i;

	if (stmt == NULL)
		return;
	db = stmt->db;
	for (i = 0; i < db->nstmts; i++) {
		if (db->stmts[i] == stmt) {
			db->stmts[i] = db->stmts[--db->nstmts];
			break;
		}
	}
	if (db->kind == DB_POSTGRES)
		dbpg_finalize(stmt);
	else
		dblite_finalize(stmt);
	free(stmt->sql);
	free(stmt);
}

void
db_reset(struct db_stmt *stmt)
{
	if (stmt == NULL)
		return;
	if (stmt->db->kind == DB_POSTGRES) {
		dbpg_end(stmt);
		dbpg_clear(stmt);
	} else {
		dblite_end(stmt);
		dblite_clear(stmt);
	}
}

static int
bind(struct db_stmt *stmt, int i, const struct db_value *v)
{
	if (i < 1 || i > stmt->nparams) {
		db_set_error(stmt->db, NULL, "binding parameter %d: the statement has %d", i,
		             stmt->nparams);
		return -1;
	}
	if (stmt->db->kind == DB_POSTGRES)
		return dbpg_bind(stmt, i, v);
	return dblite_bind(stmt, i, v);
}

int
db_bind_int64(struct db_stmt *stmt, int i, int64_t v)
{
	return bind(stmt, i, &(struct db_value){.type = DB_TYPE_INT64, .i = v});
}

int
db_bind_double(struct db_stmt *stmt, int i, double v)
{
	return bind(stmt, i, &(struct db_value){.type = DB_TYPE_DOUBLE, .d = v});
}

int
db_bind_text(struct db_stmt *stmt, int i, const char *s)
{
	if (s == NULL)
		return db_bind_null(stmt, i);
	return bind(stmt, i, &(struct db_value){.type = DB_TYPE_TEXT, .p = s, .n = strlen(s)});
}

int
db_bind_text_n(struct db_stmt *stmt, int i, const char *s, size_t n)
{
	return bind(stmt, i, &(struct db_value){.type = DB_TYPE_TEXT, .p = n ? s : "", .n = n});
}

int
db_bind_blob(struct db_stmt *stmt, int i, const void *p, size_t n)
{
	return bind(stmt, i, &(struct db_value){.type = DB_TYPE_BLOB, .p = n ? p : "", .n = n});
}

int
db_bind_null(struct db_stmt *stmt, int i)
{
	return bind(stmt, i, &(struct db_value){.type = DB_TYPE_NULL});
}

enum db_step_result
db_step(struct db_stmt *stmt)
{
	struct db *db = stmt->db;

	clear_error(db);
	return db->kind == DB_POSTGRES ? dbpg_step(stmt) : dblite_step(stmt);
}

/* ---- Columns ---- */

int
db_column_count(struct db_stmt *stmt)
{
	if (stmt->db->kind == DB_POSTGRES)
		return dbpg_column_count(stmt);
	return dblite_column_count(stmt);
}

/* A column index that the current row has; out of range reads as NULL, as in SQLite. Read for
 * every column of every row: SQLite's count is the statement's own field. */
static bool
column_ok(struct db_stmt *stmt, int col)
{
	int n = stmt->db->kind == DB_POSTGRES ? dbpg_column_count(stmt) : stmt->lite_ncols;

	return col >= 0 && col < n;
}

bool
db_column_is_null(struct db_stmt *stmt, int col)
{
	if (!column_ok(stmt, col))
		return true;
	if (stmt->db->kind == DB_POSTGRES)
		return dbpg_column_is_null(stmt, col);
	return dblite_column_is_null(stmt, col);
}

int64_t
db_column_int64(struct db_stmt *stmt, int col)
{
	if (!column_ok(stmt, col))
		return 0;
	if (stmt->db->kind == DB_POSTGRES)
		return dbpg_column_int64(stmt, col);
	return dblite_column_int64(stmt, col);
}

int
db_column_int(struct db_stmt *stmt, int col)
{
	/* as sqlite3_column_int(): the low 32 bits */
	return (int)(uint32_t)(uint64_t)db_column_int64(stmt, col);
}

double
db_column_double(struct db_stmt *stmt, int col)
{
	if (!column_ok(stmt, col))
		return 0.0;
	if (stmt->db->kind == DB_POSTGRES)
		return dbpg_column_double(stmt, col);
	return dblite_column_double(stmt, col);
}

const char *
db_column_text(struct db_stmt *stmt, int col)
{
	if (!column_ok(stmt, col))
		return NULL;
	if (stmt->db->kind == DB_POSTGRES)
		return dbpg_column_text(stmt, col);
	return dblite_column_text(stmt, col);
}

const void *
db_column_blob(struct db_stmt *stmt, int col)
{
	if (!column_ok(stmt, col))
		return NULL;
	if (stmt->db->kind == DB_POSTGRES)
		return dbpg_column_blob(stmt, col);
	return dblite_column_blob(stmt, col);
}

size_t
db_column_bytes(struct db_stmt *stmt, int col)
{
	if (!column_ok(stmt, col))
		return 0;
	if (stmt->db->kind == DB_POSTGRES)
		return dbpg_column_bytes(stmt, col);
	return dblite_column_bytes(stmt, col);
}

/* ---- Transactions ---- */

/* Every statement's run ends: a statement still stepping would keep its read snapshot. */
static void
end_all(struct db *db)
{
	size_t i;

	for (i = 0; i < db->nstmts; i++) {
		if (db->kind == DB_POSTGRES)
			dbpg_end(db->stmts[i]);
		else
			dblite_end(db->stmts[i]);
	}
}

/* PostgreSQL: a BEGIN inside a transaction only warns, and the caller's COMMIT would then end the
 * outer one: refused, as SQLite refuses it. */
static int
pg_begin(struct db *db, const char *sql)
{
	clear_error(db);
	if (dbpg_in_transaction(db)) {
		db_set_error(db, NULL, "cannot start a transaction within a transaction");
		return -1;
	}
	return db_exec(db, sql);
}

int
db_begin(struct db *db)
{
	if (db->kind == DB_POSTGRES)
		return pg_begin(db, "BEGIN");
	clear_error(db);
	return dblite_tx(db, DBLITE_BEGIN);
}

int
db_begin_read(struct db *db)
{
	if (db->kind == DB_POSTGRES)
		return pg_begin(db, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
	clear_error(db);
	return dblite_tx(db, DBLITE_BEGIN_READ);
}

int
db_commit(struct db *db)
{
	clear_error(db);
	if (db->kind == DB_POSTGRES)
		return dbpg_commit(db);
	return dblite_tx(db, DBLITE_COMMIT);
}

int
db_rollback(struct db *db)
{
	end_all(db);
	clear_error(db);
	if (db->kind == DB_POSTGRES)
		return dbpg_rollback(db);
	if (!dblite_in_transaction(db))
		return 0;
	return dblite_tx(db, DBLITE_ROLLBACK);
}

bool
db_in_transaction(const struct db *db)
{
	return db->kind == DB_POSTGRES ? dbpg_in_transaction(db) : dblite_in_transaction(db);
}
