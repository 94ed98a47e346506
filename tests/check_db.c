/* tests/check_db.c: the database layer (storage/db.h), each test against both drivers: SQLite on a
 * temp file, and PostgreSQL on the server tests/pg/pg_start.sh starts (make unit starts one and
 * names it in LEAKPROFD_PG_URI; each test works in a schema of its own, dropped first). Without
 * LEAKPROFD_PG_URI the PostgreSQL half fails, saying so, unless LEAKPROFD_PG=off leaves it out.
 * Loop index 0 is SQLite, 1 PostgreSQL. */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "tests/testutil.h"
#include "storage/db.h"

enum { SQLITE = 0, POSTGRES = 1 };

static char tmpdir[256];
static char schema[64];

static void
setup(void)
{
	testutil_mkdtemp(tmpdir, sizeof(tmpdir), "check_db");
	snprintf(schema, sizeof(schema), "check_db_%ld", (long)getpid());
}

static void
teardown(void)
{
	testutil_rmtree(tmpdir);
}

/* A connection as the server's superuser, in no schema of the test's. */
static struct db *
open_admin(void)
{
	char err[512];
	struct db *db = db_open(testutil_pg_uri(), err, sizeof(err));

	ck_assert_msg(db != NULL, "%s", err);
	return db;
}

/* 'uri' with the test's schema first in search_path. */
static void
pg_target(char *buf, size_t n, const char *uri)
{
	if (strncmp(uri, "postgres", 8) == 0)
		snprintf(buf, n, "%s%coptions=-csearch_path%%3D%s", uri,
		         strchr(uri, '?') != NULL ? '&' : '?', schema);
	else
		snprintf(buf, n, "%s options='-csearch_path=%s'", uri, schema);
}

/* A fresh database of the kind 'backend' names, or NULL when PostgreSQL is left out. */
static struct db *
open_fresh(int backend)
{
	char target[1024], err[512], sql[256];
	struct db *db;

	if (backend == SQLITE) {
		snprintf(target, sizeof(target), "%s/test.db", tmpdir);
	} else {
		struct db *admin;

		if (testutil_pg_off())
			return NULL;
		admin = open_admin();
		snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s",
		         schema, schema);
		testutil_db_exec(admin, sql);
		db_close(admin);
		pg_target(target, sizeof(target), testutil_pg_uri());
	}
	db = db_open(target, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(db_kind(db), backend == SQLITE ? DB_SQLITE : DB_POSTGRES);
	return db;
}

/* A second connection to the same database, opened with 'flags' (enum db_flags). */
static struct db *
open_again_flags(struct db *db, unsigned flags)
{
	char target[1024], err[512];
	struct db *other;

	if (db_kind(db) == DB_SQLITE)
		snprintf(target, sizeof(target), "%s/test.db", tmpdir);
	else
		pg_target(target, sizeof(target), testutil_pg_uri());
	other = db_open_flags(target, flags, err, sizeof(err));
	ck_assert_msg(other != NULL, "%s", err);
	return other;
}

static struct db *
open_again(struct db *db)
{
	return open_again_flags(db, 0);
}

static void
close_fresh(struct db *db)
{
	char sql[128];
	struct db *admin;
	bool pg = db_kind(db) == DB_POSTGRES;

	db_close(db);
	if (!pg)
		return;
	admin = open_admin();
	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
	testutil_db_exec(admin, sql);
	db_close(admin);
}

static void
step_row(struct db_stmt *stmt, struct db *db)
{
	enum db_step_result rc = db_step(stmt);

	ck_assert_msg(rc == DB_ROW, "step: %d, not a row: %s", rc, db_errmsg(db));
}

static void
step_done(struct db_stmt *stmt, struct db *db)
{
	enum db_step_result rc = db_step(stmt);

	ck_assert_msg(rc == DB_DONE, "step: %d, not done: %s", rc, db_errmsg(db));
}

/* The single integer 'sql' answers. */
static int64_t
query_int(struct db *db, const char *sql)
{
	struct db_stmt *stmt = testutil_db_prepare(db, sql);
	int64_t v;

	step_row(stmt, db);
	v = db_column_int64(stmt, 0);
	db_reset(stmt);
	return v;
}

/* ---- Targets ---- */

START_TEST(test_targets)
{
	char err[512];
	struct db *db;

	ck_assert(db_target_is_postgres("postgres://u@127.0.0.1:5432/d"));
	ck_assert(db_target_is_postgres("postgresql:///d?host=/run/postgresql"));
	ck_assert(db_target_is_postgres("host=127.0.0.1 dbname=d"));
	ck_assert(db_target_is_postgres("  dbname = d passfile=/etc/leakprofd/pgpass"));
	ck_assert(db_target_is_postgres("service=leakprofd"));
	ck_assert(!db_target_is_postgres("/var/lib/leakprofd/leakprofd.db"));
	ck_assert(!db_target_is_postgres("leakprofd.db"));
	ck_assert(!db_target_is_postgres("week=1.db"));         /* not a libpq keyword */
	ck_assert(!db_target_is_postgres("hostname=x.db"));     /* nor this */
	ck_assert(!db_target_is_postgres("file:x.db?mode=ro")); /* a SQLite URI */
	ck_assert(!db_target_is_postgres("postgres.db"));

	/* failures say what, and where */
	err[0] = '\0';
	ck_assert_ptr_null(db_open("/nonexistent/dir/x.db", err, sizeof(err)));
	ck_assert_msg(strstr(err, "/nonexistent/dir/x.db") != NULL && strstr(err, "open") != NULL,
	              "%s", err);
	err[0] = '\0';
	db = db_open("host=127.0.0.1 port=1 dbname=x connect_timeout=5", err, sizeof(err));
	ck_assert_ptr_null(db);
	ck_assert_msg(strstr(err, "postgresql: ") == err && strstr(err, "127.0.0.1") != NULL, "%s",
	              err);
	/* libpq's lines as one */
	ck_assert_msg(strchr(err, '\n') == NULL && strchr(err, '\t') == NULL, "%s", err);
}
END_TEST

/* ---- Placeholders ---- */

START_TEST(test_placeholders)
{
	struct db *db = open_fresh(_i);
	struct db_stmt *stmt;

	if (db == NULL)
		return;
	/* ?1 twice; '?' in a literal, a quoted identifier and comments stays; a bare ? is ?3 */
	stmt = testutil_db_prepare(db, "SELECT ?1 + ?1 AS \"a?b\", 'x?y''?1' || ?2, -- what ?4 ?\n"
	                               " /* ?5 */ ?, 'it''s ?'");
	ck_assert_int_eq(db_bind_int64(stmt, 1, 21), 0);
	ck_assert_int_eq(db_bind_text(stmt, 2, "!"), 0);
	ck_assert_int_eq(db_bind_text(stmt, 3, "third"), 0);
	ck_assert_int_eq(db_bind_int64(stmt, 4, 1), -1); /* there are three */
	ck_assert_msg(strstr(db_errmsg(db), "parameter 4") != NULL, "%s", db_errmsg(db));
	ck_assert_int_eq(db_bind_int64(stmt, 0, 1), -1);
	step_row(stmt, db);
	ck_assert_int_eq(db_column_count(stmt), 4);
	ck_assert_int_eq(db_column_int64(stmt, 0), 42);
	ck_assert_str_eq(db_column_text(stmt, 1), "x?y'?1!");
	ck_assert_str_eq(db_column_text(stmt, 2), "third");
	ck_assert_str_eq(db_column_text(stmt, 3), "it's ?");
	step_done(stmt, db);

	/* numbers out of order, and a gap */
	stmt = testutil_db_prepare(db, "SELECT ?3 || ?1, ?3");
	ck_assert_int_eq(db_bind_text(stmt, 1, "b"), 0);
	ck_assert_int_eq(db_bind_text(stmt, 3, "a"), 0);
	ck_assert_int_eq(db_bind_text(stmt, 2, "unused"), 0);
	ck_assert_int_eq(db_bind_text(stmt, 4, "x"), -1);
	/* whatever ?2, used nowhere, is bound to (PostgreSQL could not type it: it is sent as a
	 * text NULL) */
	step_row(stmt, db);
	ck_assert_str_eq(db_column_text(stmt, 0), "ab");
	db_reset(stmt);
	ck_assert_int_eq(db_bind_text(stmt, 1, "b"), 0);
	ck_assert_int_eq(db_bind_text(stmt, 3, "a"), 0);
	ck_assert_int_eq(db_bind_int64(stmt, 2, 7), 0);
	step_row(stmt, db);
	ck_assert_str_eq(db_column_text(stmt, 0), "ab");
	step_done(stmt, db);

	if (_i == POSTGRES) {
		/* dollar quotes, E'' escapes and $N written directly */
		stmt = testutil_db_prepare(db, "SELECT $$a ?1 'b$$, $t$?$t$, E'\\'?', ?1 || $1");
		ck_assert_int_eq(db_bind_text(stmt, 1, "z"), 0);
		step_row(stmt, db);
		ck_assert_str_eq(db_column_text(stmt, 0), "a ?1 'b");
		ck_assert_str_eq(db_column_text(stmt, 1), "?");
		ck_assert_str_eq(db_column_text(stmt, 2), "'?");
		ck_assert_str_eq(db_column_text(stmt, 3), "zz");
		step_done(stmt, db);
		ck_assert_ptr_null(db_prepare(db, "SELECT ?0"));
		ck_assert_msg(strstr(db_errmsg(db), "'?0' out of range") != NULL, "%s",
		              db_errmsg(db));
		ck_assert_ptr_null(db_prepare(db, "SELECT ?40000"));
	}
	close_fresh(db);
}
END_TEST

/* ---- Types ---- */

START_TEST(test_types)
{
	static const char blob[] = {'a', '\0', 'b', '\0', '\xff', '\x01', '\0'};
	static const char text[] =
	    "it's \"quoted\" \\ back-slashed; größe ✓ 日本語 \xf0\x9f\x90\x98";
	struct db *db = open_fresh(_i);
	struct db_stmt *stmt;
	const char *s;

	if (db == NULL)
		return;
	testutil_db_exec(
	    db, _i == SQLITE
	            ? "CREATE TABLE v (k INTEGER PRIMARY KEY, i INTEGER, d REAL, t TEXT, b BLOB)"
	            : "CREATE TABLE v (k BIGINT PRIMARY KEY, i BIGINT, d DOUBLE PRECISION,"
	              " t TEXT, b BYTEA)");
	stmt = testutil_db_prepare(db, "INSERT INTO v (k, i, d, t, b) VALUES (?1, ?2, ?3, ?4, ?5)");
	ck_assert_int_eq(db_bind_int64(stmt, 1, 1), 0);
	ck_assert_int_eq(db_bind_int64(stmt, 2, INT64_MAX), 0);
	ck_assert_int_eq(db_bind_double(stmt, 3, 0.1), 0);
	ck_assert_int_eq(db_bind_text(stmt, 4, text), 0);
	ck_assert_int_eq(db_bind_blob(stmt, 5, blob, sizeof(blob)), 0);
	step_done(stmt, db);
	ck_assert_int_eq(db_changes(db), 1);
	/* the same statement, other values: bound again over the old ones */
	ck_assert_int_eq(db_bind_int64(stmt, 1, 2), 0);
	ck_assert_int_eq(db_bind_int64(stmt, 2, INT64_MIN), 0);
	ck_assert_int_eq(db_bind_double(stmt, 3, -1e300), 0);
	ck_assert_int_eq(db_bind_text(stmt, 4, ""), 0);
	ck_assert_int_eq(db_bind_blob(stmt, 5, NULL, 0), 0);
	step_done(stmt, db);
	/* and NULLs, each way of binding one */
	ck_assert_int_eq(db_bind_int64(stmt, 1, 3), 0);
	ck_assert_int_eq(db_bind_null(stmt, 2), 0);
	ck_assert_int_eq(db_bind_null(stmt, 3), 0);
	ck_assert_int_eq(db_bind_text(stmt, 4, NULL), 0);
	ck_assert_int_eq(db_bind_null(stmt, 5), 0);
	step_done(stmt, db);
	ck_assert_int_eq(db_bind_int64(stmt, 1, 4), 0);
	ck_assert_int_eq(db_bind_double(stmt, 3, INFINITY), 0);
	ck_assert_int_eq(db_bind_int64(stmt, 2, -1), 0);
	step_done(stmt, db);

	stmt = testutil_db_prepare(db, "SELECT i, d, t, b FROM v WHERE k >= ?1 ORDER BY k");
	ck_assert_int_eq(db_bind_int64(stmt, 1, 1), 0);
	step_row(stmt, db);
	ck_assert_int_eq(db_column_int64(stmt, 0), INT64_MAX);
	ck_assert_int_eq(db_column_int(stmt, 0), -1); /* the low 32 bits, as sqlite3_column_int */
	ck_assert(db_column_double(stmt, 1) == 0.1);
	ck_assert_str_eq(db_column_text(stmt, 2), text);
	ck_assert_uint_eq(db_column_bytes(stmt, 2), strlen(text));
	ck_assert_uint_eq(db_column_bytes(stmt, 3), sizeof(blob));
	ck_assert_mem_eq(db_column_blob(stmt, 3), blob, sizeof(blob));
	ck_assert(!db_column_is_null(stmt, 3));
	step_row(stmt, db);
	ck_assert_int_eq(db_column_int64(stmt, 0), INT64_MIN);
	ck_assert(db_column_double(stmt, 1) == -1e300);
	ck_assert_str_eq(db_column_text(stmt, 2), "");
	ck_assert(!db_column_is_null(stmt, 2));
	ck_assert(!db_column_is_null(stmt, 3)); /* an empty blob is not NULL */
	ck_assert_uint_eq(db_column_bytes(stmt, 3), 0);
	step_row(stmt, db);
	for (int c = 0; c < 4; c++)
		ck_assert_msg(db_column_is_null(stmt, c), "column %d", c);
	ck_assert_int_eq(db_column_int64(stmt, 0), 0);
	ck_assert(db_column_double(stmt, 1) == 0.0);
	ck_assert_ptr_null(db_column_text(stmt, 2));
	ck_assert_ptr_null(db_column_blob(stmt, 3));
	ck_assert_uint_eq(db_column_bytes(stmt, 3), 0);
	step_row(stmt, db);
	ck_assert_int_eq(db_column_int64(stmt, 0), -1);
	ck_assert(isinf(db_column_double(stmt, 1)) && db_column_double(stmt, 1) > 0);
	ck_assert(db_column_is_null(stmt, 2));
	step_done(stmt, db);

	/* numbers as text, text as numbers; a column past the last reads as NULL */
	stmt = testutil_db_prepare(db, "SELECT CAST(?1 AS TEXT), '17', 2.5, '-3.75'");
	ck_assert_int_eq(db_bind_text(stmt, 1, "-9000000000"), 0);
	step_row(stmt, db);
	ck_assert_int_eq(db_column_int64(stmt, 0), -9000000000LL);
	ck_assert_int_eq(db_column_int64(stmt, 1), 17);
	ck_assert_int_eq(db_column_int64(stmt, 2), 2);
	ck_assert(db_column_double(stmt, 2) == 2.5);
	ck_assert(db_column_double(stmt, 3) == -3.75);
	s = db_column_text(stmt, 2);
	ck_assert_msg(s != NULL && strcmp(s, "2.5") == 0, "%s", s ? s : "NULL");
	ck_assert(db_column_is_null(stmt, 4));
	ck_assert_ptr_null(db_column_text(stmt, 4));
	db_reset(stmt);

	/* one parameter bound with each type in turn (PostgreSQL prepares it again for each) */
	stmt = testutil_db_prepare(db, "SELECT ?1");
	ck_assert_int_eq(db_bind_int64(stmt, 1, -7), 0);
	step_row(stmt, db);
	ck_assert_int_eq(db_column_int64(stmt, 0), -7);
	ck_assert_int_eq(db_bind_blob(stmt, 1, blob, sizeof(blob)), 0);
	step_row(stmt, db);
	ck_assert_uint_eq(db_column_bytes(stmt, 0), sizeof(blob));
	ck_assert_mem_eq(db_column_blob(stmt, 0), blob, sizeof(blob));
	ck_assert_int_eq(db_bind_double(stmt, 1, 2.5), 0);
	step_row(stmt, db);
	ck_assert(db_column_double(stmt, 0) == 2.5);
	ck_assert_int_eq(db_bind_text(stmt, 1, "text"), 0);
	step_row(stmt, db);
	ck_assert_str_eq(db_column_text(stmt, 0), "text");
	/* text given by length: the bytes before it only, as text */
	ck_assert_int_eq(db_bind_text_n(stmt, 1, "textual", 4), 0);
	step_row(stmt, db);
	ck_assert_str_eq(db_column_text(stmt, 0), "text");
	ck_assert_uint_eq(db_column_bytes(stmt, 0), 4);
	ck_assert_int_eq(db_bind_text_n(stmt, 1, NULL, 0), 0);
	step_row(stmt, db);
	ck_assert_str_eq(db_column_text(stmt, 0), "");
	ck_assert(!db_column_is_null(stmt, 0));
	ck_assert_int_eq(db_bind_null(stmt, 1), 0);
	step_row(stmt, db);
	ck_assert(db_column_is_null(stmt, 0));
	ck_assert_int_eq(db_bind_int64(stmt, 1, 8), 0);
	step_row(stmt, db);
	ck_assert_int_eq(db_column_int64(stmt, 0), 8);
	step_done(stmt, db);
	close_fresh(db);
}
END_TEST

START_TEST(test_booleans)
{
	struct db *db = open_fresh(_i);
	struct db_stmt *stmt;

	if (db == NULL)
		return;
	stmt = testutil_db_prepare(
	    db, "SELECT 1 = 1, 1 = 2, NULL IS NULL, ?1 > 5, CAST(NULL AS BOOLEAN)");
	ck_assert_int_eq(db_bind_int64(stmt, 1, 3), 0);
	step_row(stmt, db);
	ck_assert_int_eq(db_column_int64(stmt, 0), 1);
	ck_assert_int_eq(db_column_int64(stmt, 1), 0);
	ck_assert_int_eq(db_column_int(stmt, 2), 1);
	ck_assert_int_eq(db_column_int(stmt, 3), 0);
	ck_assert(db_column_double(stmt, 0) == 1.0);
	ck_assert(db_column_double(stmt, 1) == 0.0);
	ck_assert_str_eq(db_column_text(stmt, 0), "1");
	ck_assert_str_eq(db_column_text(stmt, 1), "0");
	ck_assert_uint_eq(db_column_bytes(stmt, 1), 1);
	ck_assert(db_column_is_null(stmt, 4));
	ck_assert_int_eq(db_column_int64(stmt, 4), 0);
	step_done(stmt, db);

	testutil_db_exec(db, "CREATE TABLE f (k INTEGER, on_ BOOLEAN NOT NULL)");
	testutil_db_exec(db, "INSERT INTO f VALUES (1, TRUE), (2, FALSE)");
	stmt = testutil_db_prepare(db, "SELECT on_, NOT on_ FROM f ORDER BY k");
	step_row(stmt, db);
	ck_assert_int_eq(db_column_int64(stmt, 0), 1);
	ck_assert_int_eq(db_column_int64(stmt, 1), 0);
	step_row(stmt, db);
	ck_assert_int_eq(db_column_int64(stmt, 0), 0);
	ck_assert_int_eq(db_column_int64(stmt, 1), 1);
	step_done(stmt, db);
	close_fresh(db);
}
END_TEST

/* ---- Transactions and changes ---- */

START_TEST(test_transactions)
{
	struct db *db = open_fresh(_i), *other;
	struct db_stmt *ins;

	if (db == NULL)
		return;
	testutil_db_exec(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
	other = open_again(db);
	ck_assert(!db_in_transaction(db));
	ck_assert_int_eq(db_rollback(db), 0); /* none open: nothing to do */
	ck_assert_int_eq(db_commit(db), -1);
	ck_assert_msg(strstr(db_errmsg(db), "no transaction") != NULL, "%s", db_errmsg(db));

	/* a rollback discards */
	ck_assert_int_eq(db_begin(db), 0);
	ck_assert(db_in_transaction(db));
	ins = testutil_db_prepare(db, "INSERT INTO t (k, v) VALUES (?1, ?2)");
	ck_assert_int_eq(db_bind_int64(ins, 1, 1), 0);
	ck_assert_int_eq(db_bind_text(ins, 2, "one"), 0);
	step_done(ins, db);
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM t"), 1);
	ck_assert_int_eq(db_rollback(db), 0);
	ck_assert(!db_in_transaction(db));
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM t"), 0);

	/* a commit keeps; the other connection sees it only then */
	ck_assert_int_eq(db_begin(db), 0);
	ins = testutil_db_prepare(db, "INSERT INTO t (k, v) VALUES (?1, ?2)");
	ck_assert_int_eq(db_bind_int64(ins, 1, 2), 0);
	ck_assert_int_eq(db_bind_text(ins, 2, "two"), 0);
	step_done(ins, db);
	ck_assert_int_eq(query_int(other, "SELECT count(*) FROM t"), 0);
	ck_assert_int_eq(db_commit(db), 0);
	ck_assert(!db_in_transaction(db));
	ck_assert_int_eq(query_int(other, "SELECT count(*) FROM t"), 1);

	/* a read transaction */
	ck_assert_int_eq(db_begin_read(db), 0);
	ck_assert(db_in_transaction(db));
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM t"), 1);
	ck_assert_int_eq(db_commit(db), 0);

	/* PostgreSQL: an error aborts the transaction, and the commit says so */
	if (_i == POSTGRES) {
		ck_assert_int_eq(db_begin(db), 0);
		ck_assert_int_eq(db_bind_int64(ins, 1, 3), 0);
		step_done(ins, db);
		ck_assert_int_eq(db_bind_int64(ins, 1, 3), 0);
		ck_assert_int_eq(db_step(ins), DB_ERROR);
		ck_assert_int_eq(db_commit(db), -1);
		ck_assert_msg(strstr(db_errmsg(db), "aborted") != NULL, "%s", db_errmsg(db));
		ck_assert(!db_in_transaction(db));
		ck_assert_int_eq(query_int(db, "SELECT count(*) FROM t"), 1);
	}
	db_close(other);
	close_fresh(db);
}
END_TEST

START_TEST(test_changes)
{
	struct db *db = open_fresh(_i);
	struct db_stmt *stmt;

	if (db == NULL)
		return;
	testutil_db_exec(db, "CREATE TABLE c (k INTEGER PRIMARY KEY, v INTEGER)");
	testutil_db_exec(db, "INSERT INTO c (k, v) VALUES (1, 10), (2, 20), (3, 30)");
	ck_assert_int_eq(db_changes(db), 3);
	stmt = testutil_db_prepare(db, "UPDATE c SET v = v + 1 WHERE v >= ?1");
	ck_assert_int_eq(db_bind_int64(stmt, 1, 20), 0);
	step_done(stmt, db);
	ck_assert_int_eq(db_changes(db), 2);
	/* a SELECT changes nothing, nor the count */
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM c"), 3);
	ck_assert_int_eq(db_changes(db), 2);
	stmt = testutil_db_prepare(db, "DELETE FROM c WHERE k = ?1");
	ck_assert_int_eq(db_bind_int64(stmt, 1, 1), 0);
	step_done(stmt, db);
	ck_assert_int_eq(db_changes(db), 1);
	ck_assert_int_eq(db_bind_int64(stmt, 1, 1), 0);
	step_done(stmt, db);
	ck_assert_int_eq(db_changes(db), 0);
	/* RETURNING: the rows come back, and count once the statement completes */
	stmt = testutil_db_prepare(db, "UPDATE c SET v = 0 RETURNING k");
	step_row(stmt, db);
	step_row(stmt, db);
	step_done(stmt, db);
	ck_assert_int_eq(db_changes(db), 2);
	/* the last inserted rowid: SQLite's; PostgreSQL refuses, naming RETURNING */
	testutil_db_exec(db, "INSERT INTO c (k, v) VALUES (41, 1)");
	if (_i == SQLITE) {
		ck_assert_int_eq(db_last_insert_rowid(db), 41);
	} else {
		ck_assert_int_eq(db_last_insert_rowid(db), -1);
		ck_assert_msg(strstr(db_errmsg(db), "RETURNING") != NULL, "%s", db_errmsg(db));
	}
	close_fresh(db);
}
END_TEST

/* ---- The statement cache ---- */

START_TEST(test_cache)
{
	struct db *db = open_fresh(_i);
	struct db_stmt *a, *b;
	char sql[64];

	if (db == NULL)
		return;
	a = testutil_db_prepare(db, "SELECT ?1 + 1");
	ck_assert_int_eq(db_bind_int64(a, 1, 41), 0);
	step_row(a, db);
	ck_assert_int_eq(db_column_int64(a, 0), 42);
	/* the same text from another buffer: the same statement, reset, its bindings cleared */
	snprintf(sql, sizeof(sql), "SELECT ?%d + 1", 1);
	b = testutil_db_prepare(db, sql);
	ck_assert_ptr_eq(a, b);
	step_row(b, db);
	ck_assert(db_column_is_null(b, 0));
	step_done(b, db);
	/* another text is another statement */
	b = testutil_db_prepare(db, "SELECT ?1 + 2");
	ck_assert_ptr_ne(a, b);
	if (_i == POSTGRES) {
		/* prepared once on the server, however many runs; finalized, gone from there */
		ck_assert_int_eq(db_bind_int64(b, 1, 1), 0);
		step_row(b, db);
		step_done(b, db);
		ck_assert_int_eq(db_bind_int64(b, 1, 2), 0);
		step_row(b, db);
		ck_assert_int_eq(db_column_int64(b, 0), 4);
		step_done(b, db);
		ck_assert_int_eq(query_int(db, "SELECT count(*) FROM pg_prepared_statements"
		                               " WHERE statement LIKE 'SELECT $1 + %'"),
		                 2);
		db_finalize(b);
		ck_assert_int_eq(query_int(db, "SELECT count(*) FROM pg_prepared_statements"
		                               " WHERE statement LIKE 'SELECT $1 + %'"),
		                 1);
	} else {
		db_finalize(b);
	}
	b = testutil_db_prepare(db, "SELECT ?1 + 2");
	ck_assert_int_eq(db_bind_int64(b, 1, 5), 0);
	step_row(b, db);
	ck_assert_int_eq(db_column_int64(b, 0), 7);
	db_reset(b);
	close_fresh(db);
}
END_TEST

/* ---- Errors ---- */

START_TEST(test_errors)
{
	struct db *db = open_fresh(_i);
	struct db_stmt *stmt;
	enum db_step_result rc;

	if (db == NULL)
		return;
	/* a syntax error: SQLite finds it preparing, PostgreSQL at the first run */
	stmt = db_prepare(db, "SELEC 1 FROM nowhere");
	rc = stmt != NULL ? db_step(stmt) : DB_ERROR;
	ck_assert_int_eq(rc, DB_ERROR);
	ck_assert_msg(strstr(db_errmsg(db), "syntax error") != NULL, "%s", db_errmsg(db));
	ck_assert_int_eq(db_failure(db), DB_FAIL_OTHER);
	if (_i == POSTGRES) {
		ck_assert_msg(strstr(db_errmsg(db), "SQLSTATE 42601") != NULL, "%s", db_errmsg(db));
		ck_assert_str_eq(db_sqlstate(db), "42601");
	}
	ck_assert_int_eq(db_exec(db, "CREATE TABLEX u"), -1);
	ck_assert_msg(strstr(db_errmsg(db), "syntax error") != NULL, "%s", db_errmsg(db));

	/* a unique violation */
	testutil_db_exec(db, "CREATE TABLE u (k TEXT UNIQUE)");
	stmt = testutil_db_prepare(db, "INSERT INTO u (k) VALUES (?1)");
	ck_assert_int_eq(db_bind_text(stmt, 1, "same"), 0);
	step_done(stmt, db);
	ck_assert_int_eq(db_bind_text(stmt, 1, "same"), 0);
	ck_assert_int_eq(db_step(stmt), DB_ERROR);
	ck_assert_msg(strcasestr(db_errmsg(db), "unique") != NULL, "%s", db_errmsg(db));
	/* the data's fault, kept through the reset */
	ck_assert_int_eq(db_failure(db), DB_FAIL_DATA);
	db_reset(stmt);
	ck_assert_int_eq(db_failure(db), DB_FAIL_DATA);
	if (_i == POSTGRES) {
		ck_assert_str_eq(db_sqlstate(db), "23505");
		ck_assert_msg(strstr(db_errmsg(db), "duplicate key") != NULL &&
		                  strstr(db_errmsg(db), "(k)=(same)") != NULL,
		              "%s", db_errmsg(db));
	}
	/* the connection goes on */
	ck_assert_int_eq(db_bind_text(stmt, 1, "other"), 0);
	step_done(stmt, db);
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM u"), 2);
	ck_assert_str_eq(db_errmsg(db), "");
	ck_assert_int_eq(db_failure(db), DB_FAIL_NONE);
	/* PostgreSQL: a failure after some rows were sent ends the run there; the next run works */
	if (_i == POSTGRES) {
		int rows = 0;

		stmt = testutil_db_prepare(
		    db, "SELECT 10 / (?1 - n) FROM generate_series(1, ?1) AS g(n)");
		ck_assert_int_eq(db_bind_int64(stmt, 1, 50), 0);
		while ((rc = db_step(stmt)) == DB_ROW)
			rows++;
		ck_assert_int_eq(rc, DB_ERROR);
		ck_assert_int_eq(rows, 49);
		ck_assert_msg(strstr(db_errmsg(db), "division by zero (SQLSTATE 22012)") != NULL,
		              "%s", db_errmsg(db));
		ck_assert_int_eq(db_failure(db), DB_FAIL_DATA);
		ck_assert_int_eq(query_int(db, "SELECT count(*) FROM u"), 2);
		ck_assert_int_eq(db_bind_int64(stmt, 1, 0), 0);
		step_done(stmt, db);
	}
	/* a missing table, through db_exec */
	ck_assert_int_eq(db_exec(db, "DELETE FROM missing_table"), -1);
	ck_assert_msg(strstr(db_errmsg(db), "missing_table") != NULL, "%s", db_errmsg(db));
	/* one statement per db_prepare */
	stmt = db_prepare(db, "SELECT 1; SELECT 2");
	rc = stmt != NULL ? db_step(stmt) : DB_ERROR;
	ck_assert_int_eq(rc, DB_ERROR);
	ck_assert_msg(strcasestr(db_errmsg(db), _i == SQLITE ? "more than one" : "multiple") !=
	                  NULL,
	              "%s", db_errmsg(db));
	close_fresh(db);
}
END_TEST

/* db_set_interrupt()'s callback: stop once the time in 'arg' (CLOCK_MONOTONIC ms) has passed,
 * counting the calls. */
struct stop_at {
	int64_t at_ms;
	unsigned calls;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
stop_after(void *arg)
{
	struct stop_at *s = arg;

	s->calls++;
	return mono_ms() >= s->at_ms;
}

/* A statement stopped on purpose (db_set_interrupt()) stops soon and says so: SQLite's progress
 * handler, PostgreSQL's cancel while the step waits for the server (a statement timeout cancels
 * as a cancel request does). The connection serves the next statement. */
START_TEST(test_interrupt)
{
	struct db *db = open_fresh(_i);
	struct db_stmt *stmt;
	struct stop_at stop;
	int64_t t0;

	if (db == NULL)
		return;
	if (_i == SQLITE)
		stmt =
		    testutil_db_prepare(db, "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + "
		                            "1 FROM c WHERE n < 100000000) SELECT count(*) FROM c");
	else
		stmt = testutil_db_prepare(db, "SELECT pg_sleep(5)");
	t0 = mono_ms();
	stop = (struct stop_at){.at_ms = t0 + 100};
	db_set_interrupt(db, stop_after, &stop);
	ck_assert_int_eq(db_step(stmt), DB_ERROR);
	ck_assert_msg(db_failure(db) == DB_FAIL_INTERRUPT, "%d: %s", db_failure(db), db_errmsg(db));
	ck_assert_int_lt(mono_ms() - t0, 1500);
	ck_assert_uint_gt(stop.calls, 1);
	db_reset(stmt);
	ck_assert_int_eq(db_failure(db), DB_FAIL_INTERRUPT);
	db_set_interrupt(db, NULL, NULL);
	stmt = testutil_db_prepare(db, "SELECT 7");
	step_row(stmt, db);
	ck_assert_int_eq(db_column_int(stmt, 0), 7);
	db_reset(stmt);
	if (_i == POSTGRES) {
		testutil_db_exec(db, "SET statement_timeout = 10");
		stmt = testutil_db_prepare(db, "SELECT pg_sleep(5)");
		ck_assert_int_eq(db_step(stmt), DB_ERROR);
		ck_assert_msg(db_failure(db) == DB_FAIL_INTERRUPT, "%d: %s", db_failure(db),
		              db_errmsg(db));
		db_reset(stmt);
	}
	close_fresh(db);
}
END_TEST

/* DB_READONLY: reads work, writes fail; for PostgreSQL on a connection made again too. */
START_TEST(test_readonly)
{
	struct db *db = open_fresh(_i), *ro;
	struct db_stmt *stmt;
	char path[512], err[512];

	if (db == NULL)
		return;
	testutil_db_exec(db, "CREATE TABLE r (k INTEGER); INSERT INTO r VALUES (7)");
	ro = open_again_flags(db, DB_READONLY);
	ck_assert_int_eq(query_int(ro, "SELECT k FROM r"), 7);
	ck_assert_int_eq(db_exec(ro, "INSERT INTO r VALUES (8)"), -1);
	ck_assert_msg(strcasestr(db_errmsg(ro), "read") != NULL, "%s", db_errmsg(ro));
	if (_i == POSTGRES) {
		ck_assert_str_eq(db_sqlstate(ro), "25006");
		ck_assert_int_eq(db_reconnect(ro), 0);
		stmt = testutil_db_prepare(ro, "INSERT INTO r VALUES (?1)");
		ck_assert_int_eq(db_bind_int64(stmt, 1, 9), 0);
		ck_assert_int_eq(db_step(stmt), DB_ERROR);
		ck_assert_str_eq(db_sqlstate(ro), "25006");
	} else {
		/* read-only never creates the file */
		snprintf(path, sizeof(path), "%s/missing.db", tmpdir);
		ck_assert_ptr_null(db_open_flags(path, DB_READONLY, err, sizeof(err)));
		ck_assert_int_ne(access(path, F_OK), 0);
	}
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM r"), 1);
	db_close(ro);
	close_fresh(db);
}
END_TEST

/* ---- Large results, and statements interleaved ---- */

#define LARGE_ROWS 200000

START_TEST(test_large_result)
{
	struct db *db = open_fresh(_i), *other = NULL;
	struct db_stmt *stmt;
	char pad[201];
	int64_t n = 0, sum = 0, pid = 0;
	enum db_step_result rc;

	if (db == NULL)
		return;
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	if (_i == POSTGRES) {
		pid = query_int(db, "SELECT pg_backend_pid()");
		other = open_again(db);
	}
	/* 200,000 rows of 200 bytes and more: 40 MB, more than any socket buffers */
	stmt =
	    testutil_db_prepare(db, "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g"
	                            " WHERE n < ?1) SELECT n, ?2 FROM g");
	ck_assert_int_eq(db_bind_int64(stmt, 1, LARGE_ROWS), 0);
	ck_assert_int_eq(db_bind_text(stmt, 2, pad), 0);
	while ((rc = db_step(stmt)) == DB_ROW) {
		n++;
		sum += db_column_int64(stmt, 0);
		ck_assert_uint_eq(db_column_bytes(stmt, 1), 200);
		if (n == 10 && other != NULL) {
			/* the server is still sending: the client holds the rows it read, not the
			 * result (a whole result would have been read by the first step) */
			struct db_stmt *q =
			    testutil_db_prepare(other, "SELECT state FROM pg_stat_activity"
			                               " WHERE pid = ?1");

			ck_assert_int_eq(db_bind_int64(q, 1, pid), 0);
			step_row(q, other);
			ck_assert_str_eq(db_column_text(q, 0), "active");
			db_reset(q);
		}
	}
	ck_assert_msg(rc == DB_DONE, "%s", db_errmsg(db));
	ck_assert_int_eq(n, LARGE_ROWS);
	ck_assert_int_eq(sum, (int64_t)LARGE_ROWS * (LARGE_ROWS + 1) / 2);
	db_close(other);
	close_fresh(db);
}
END_TEST

START_TEST(test_interleaved)
{
	struct db *db = open_fresh(_i);
	struct db_stmt *outer, *inner;
	int64_t n = 0, sum = 0;
	enum db_step_result rc;

	if (db == NULL)
		return;
	testutil_db_exec(db, "CREATE TABLE w (k INTEGER PRIMARY KEY, v INTEGER)");
	testutil_db_exec(
	    db, "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 1000)"
	        " INSERT INTO w SELECT n, 0 FROM g");
	/* a walk that writes as it goes, as the store's walks do */
	outer = testutil_db_prepare(db, "SELECT k FROM w WHERE k <= ?1 ORDER BY k");
	ck_assert_int_eq(db_bind_int64(outer, 1, 500), 0);
	while ((rc = db_step(outer)) == DB_ROW) {
		int64_t k = db_column_int64(outer, 0);

		n++;
		sum += k;
		if (k % 100 == 0) {
			inner = testutil_db_prepare(db, "UPDATE w SET v = ?2 WHERE k = ?1 + 500");
			ck_assert_int_eq(db_bind_int64(inner, 1, k), 0);
			ck_assert_int_eq(db_bind_int64(inner, 2, k), 0);
			step_done(inner, db);
			testutil_db_exec(db, "UPDATE w SET v = v + 1 WHERE k = 999");
		}
	}
	ck_assert_msg(rc == DB_DONE, "%s", db_errmsg(db));
	ck_assert_int_eq(n, 500);
	ck_assert_int_eq(sum, 500 * 501 / 2);
	ck_assert_int_eq(query_int(db, "SELECT sum(v) FROM w"), 100 + 200 + 300 + 400 + 500 + 5);
	/* a reset part-way, then the same statement from the start */
	ck_assert_int_eq(db_bind_int64(outer, 1, 500), 0);
	step_row(outer, db);
	step_row(outer, db);
	ck_assert_int_eq(db_column_int64(outer, 0), 2);
	db_reset(outer);
	ck_assert_int_eq(db_bind_int64(outer, 1, 3), 0);
	step_row(outer, db);
	ck_assert_int_eq(db_column_int64(outer, 0), 1);
	/* binding part-way ends the run and starts a new one */
	ck_assert_int_eq(db_bind_int64(outer, 1, 1), 0);
	step_row(outer, db);
	ck_assert_int_eq(db_column_int64(outer, 0), 1);
	step_done(outer, db);
	close_fresh(db);
}
END_TEST

/* ---- PostgreSQL only: a lost connection, password files ---- */

/* End the backend of 'db' from another connection. */
static void
kill_backend(struct db *db)
{
	int64_t pid = query_int(db, "SELECT pg_backend_pid()");
	struct db *admin = open_admin();
	struct db_stmt *stmt =
	    testutil_db_prepare(admin, "SELECT pg_terminate_backend(CAST(?1 AS INTEGER), 5000)");

	ck_assert_int_eq(db_bind_int64(stmt, 1, pid), 0);
	step_row(stmt, admin);
	ck_assert_int_eq(db_column_int64(stmt, 0), 1);
	db_reset(stmt);
	db_close(admin);
}

START_TEST(test_lost_connection)
{
	struct db *db;
	struct db_stmt *stmt, *ins;
	int64_t pid;

	if (testutil_pg_off())
		return;
	db = open_fresh(POSTGRES);
	testutil_db_exec(db, "CREATE TABLE l (k INTEGER PRIMARY KEY)");
	stmt = testutil_db_prepare(db, "SELECT ?1 + 1, pg_backend_pid()");
	ck_assert_int_eq(db_bind_int64(stmt, 1, 1), 0);
	step_row(stmt, db);
	pid = db_column_int64(stmt, 1);
	db_reset(stmt);

	/* ended while idle (a server restart, an administrator): noticed before the next run,
	 * which goes to a new connection, the statement prepared again, instead of failing */
	kill_backend(db);
	ck_assert_int_eq(db_bind_int64(stmt, 1, 2), 0);
	step_row(stmt, db);
	ck_assert_int_eq(db_column_int64(stmt, 0), 3);
	ck_assert_int_ne(db_column_int64(stmt, 1), pid);
	db_reset(stmt);
	ck_assert_uint_eq(db_reconnects(db), 1);

	/* ended during a statement: it fails, saying why, on one line; the next command connects
	 * again */
	ck_assert_int_eq(db_exec(db, "SELECT pg_terminate_backend(pg_backend_pid())"), -1);
	ck_assert_msg(strstr(db_errmsg(db), "connection to the server lost") != NULL, "%s",
	              db_errmsg(db));
	ck_assert_msg(strchr(db_errmsg(db), '\n') == NULL, "%s", db_errmsg(db));
	ck_assert(db_failure(db) == DB_FAIL_OTHER); /* a refusal to retry, not the data's */
	ck_assert_uint_eq(db_reconnects(db), 1);
	testutil_db_exec(db, "INSERT INTO l VALUES (1)");
	ck_assert_uint_eq(db_reconnects(db), 2);

	/* lost inside a transaction: nothing runs until the rollback */
	ck_assert_int_eq(db_begin(db), 0);
	ins = testutil_db_prepare(db, "INSERT INTO l VALUES (?1)");
	ck_assert_int_eq(db_bind_int64(ins, 1, 2), 0);
	step_done(ins, db);
	kill_backend(db);
	ck_assert_int_eq(db_bind_int64(ins, 1, 3), 0);
	ck_assert_int_eq(db_step(ins), DB_ERROR);
	ck_assert(db_in_transaction(db));
	ck_assert_int_eq(db_step(ins), DB_ERROR);
	ck_assert_msg(strstr(db_errmsg(db), "lost inside a transaction") != NULL, "%s",
	              db_errmsg(db));
	ck_assert_int_eq(db_exec(db, "INSERT INTO l VALUES (4)"), -1);
	ck_assert_int_eq(db_commit(db), -1);
	ck_assert_int_eq(db_rollback(db), 0);
	ck_assert(!db_in_transaction(db));
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM l"), 1);
	step_done(ins, db);
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM l"), 2);

	/* lost inside a transaction that nothing ran in since: the rollback is all it takes */
	ck_assert_int_eq(db_begin(db), 0);
	ck_assert_int_eq(db_bind_int64(ins, 1, 5), 0);
	step_done(ins, db);
	kill_backend(db);
	ck_assert_msg(db_rollback(db) == 0, "%s", db_errmsg(db));
	ck_assert(!db_in_transaction(db));
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM l"), 2);

	/* db_reconnect() on a live connection */
	ck_assert_int_eq(db_reconnect(db), 0);
	ck_assert_uint_eq(db_reconnects(db), 5);
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM l"), 2);
	close_fresh(db);
}
END_TEST

/* The first column of the one row 'sql' answers, as text, into 'buf'. */
static void
query_str(struct db *db, const char *sql, char *buf, size_t n)
{
	struct db_stmt *stmt = testutil_db_prepare(db, sql);

	step_row(stmt, db);
	snprintf(buf, n, "%s", db_column_text(stmt, 0));
	db_finalize(stmt);
}

/* Every session gets a lock_timeout unless something else set one, so that a write queued behind
 * another session's lock fails, as a refusal to retry, instead of waiting for as long as the lock
 * lasts. */
START_TEST(test_lock_timeout)
{
	char target[1024], err[512], v[64];
	struct db *db, *other, *own;
	struct timespec t0, t1;
	double secs;

	if (testutil_pg_off())
		return;
	db = open_fresh(POSTGRES);
	query_str(db, "SHOW lock_timeout", v, sizeof(v));
	ck_assert_str_eq(v, "5s");
	/* again on a new connection */
	ck_assert_int_eq(db_reconnect(db), 0);
	query_str(db, "SHOW lock_timeout", v, sizeof(v));
	ck_assert_str_eq(v, "5s");

	/* one the connection's options set stays */
	snprintf(target, sizeof(target), "%s%coptions=-clock_timeout%%3D1500", testutil_pg_uri(),
	         strchr(testutil_pg_uri(), '?') != NULL ? '&' : '?');
	own = db_open(target, err, sizeof(err));
	ck_assert_msg(own != NULL, "%s", err);
	query_str(own, "SHOW lock_timeout", v, sizeof(v));
	ck_assert_str_eq(v, "1500ms");
	db_close(own);

	/* a write behind another session's lock fails after it: 55P03, the database's failure */
	testutil_db_exec(db, "CREATE TABLE l (k INTEGER PRIMARY KEY)");
	other = open_again(db);
	ck_assert_int_eq(db_begin(other), 0);
	testutil_db_exec(other, "LOCK TABLE l IN ACCESS EXCLUSIVE MODE");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(db_exec(db, "INSERT INTO l VALUES (1)"), -1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(secs >= 4.5 && secs < 10, "failed after %.1f s", secs);
	ck_assert_str_eq(db_sqlstate(db), "55P03");
	ck_assert(db_failure(db) == DB_FAIL_OTHER);
	ck_assert_int_eq(db_rollback(other), 0);
	testutil_db_exec(db, "INSERT INTO l VALUES (1)");
	db_close(other);
	close_fresh(db);
}
END_TEST

START_TEST(test_passfile)
{
	char sql[512], path[512], target[1024], err[512], line[512];
	const char *uri;
	PQconninfoOption *opts, *o;
	const char *host = NULL, *port = NULL;
	struct db *admin, *db;

	if (testutil_pg_off())
		return;
	uri = testutil_pg_uri();
	opts = PQconninfoParse(uri, NULL);
	ck_assert_ptr_nonnull(opts);
	for (o = opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
	}
	ck_assert_ptr_nonnull(host);
	ck_assert_ptr_nonnull(port);
	admin = open_admin();
	snprintf(sql, sizeof(sql),
	         "DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN PASSWORD 'pw-%s'"
	         " IN ROLE leakprofd_password",
	         schema, schema, schema);
	testutil_db_exec(admin, sql);

	/* the password from a file that libpq reads (mode 0600, as it requires) */
	snprintf(line, sizeof(line), "%s:%s:leakprofd:%s:pw-%s\n", host, port, schema, schema);
	testutil_write(tmpdir, "pgpass", line, strlen(line), path, sizeof(path));
	ck_assert_int_eq(chmod(path, 0600), 0);
	snprintf(target, sizeof(target), "host=%s port=%s dbname=leakprofd user=%s passfile=%s",
	         host, port, schema, path);
	db = db_open(target, err, sizeof(err));
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(query_int(db, "SELECT count(*) FROM pg_roles WHERE rolname = current_user"
	                               " AND rolname LIKE 'check_db_%'"),
	                 1);
	db_close(db);

	/* a wrong one: refused, the password not in the message */
	snprintf(line, sizeof(line), "%s:%s:leakprofd:%s:wrong-%s\n", host, port, schema, schema);
	testutil_write(tmpdir, "pgpass", line, strlen(line), path, sizeof(path));
	ck_assert_int_eq(chmod(path, 0600), 0);
	db = db_open(target, err, sizeof(err));
	ck_assert_ptr_null(db);
	ck_assert_msg(strstr(err, "password authentication failed") != NULL, "%s", err);
	ck_assert_msg(strstr(err, "wrong-") == NULL, "%s", err);

	snprintf(sql, sizeof(sql), "DROP ROLE %s", schema);
	testutil_db_exec(admin, sql);
	db_close(admin);
	PQconninfoFree(opts);
}
END_TEST

static void
say_pg_off(void)
{
	if (testutil_pg_off())
		fprintf(stderr,
		        "db: LEAKPROFD_PG=off: the PostgreSQL half of the suite is left out\n");
}

Suite *
db_suite(void)
{
	Suite *s = suite_create("db");
	TCase *tc = tcase_create("db");

	tcase_add_unchecked_fixture(tc, say_pg_off, NULL);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_targets);
	tcase_add_loop_test(tc, test_placeholders, 0, 2);
	tcase_add_loop_test(tc, test_types, 0, 2);
	tcase_add_loop_test(tc, test_booleans, 0, 2);
	tcase_add_loop_test(tc, test_transactions, 0, 2);
	tcase_add_loop_test(tc, test_changes, 0, 2);
	tcase_add_loop_test(tc, test_cache, 0, 2);
	tcase_add_loop_test(tc, test_errors, 0, 2);
	tcase_add_loop_test(tc, test_interrupt, 0, 2);
	tcase_add_loop_test(tc, test_readonly, 0, 2);
	tcase_add_loop_test(tc, test_large_result, 0, 2);
	tcase_add_loop_test(tc, test_interleaved, 0, 2);
	tcase_add_test(tc, test_lost_connection);
	tcase_add_test(tc, test_passfile);
	tcase_add_test(tc, test_lock_timeout);
	suite_add_tcase(s, tc);
	return s;
}
