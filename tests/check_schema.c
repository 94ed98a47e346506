/* tests/check_schema.c: the PostgreSQL schema (storage/schema_pg.sql) against SQLite's after every
 * migration, on the server tests/pg/pg_start.sh starts (make unit names it in LEAKPROFD_PG_URI;
 * each test works in a schema of its own, dropped first). Without LEAKPROFD_PG_URI the suite
 * fails, saying so, unless LEAKPROFD_PG=off leaves it out.
 *
 * Both schemas are read from their catalogs into facts, one line each (a column with its type
 * class, NOT NULL and default; a primary key; a unique constraint; an index with its columns; a
 * foreign key; a CHECK's values; each table's column order), and the two sets must be equal: a
 * SQLite migration without its PostgreSQL twin fails here, naming the table and the column. The
 * partition keys that only PostgreSQL has (schema_pg.sql) are taken out of its keys first. */
#include <check.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "base/xalloc.h"
#include "storage/db.h"
#include "storage/schema_pg.h"
#include "storage/store.h"

static char tmpdir[256];
static char schema[64];

/* What PostgreSQL adds for its day partitions: the partition key of each partitioned table, a
 * column of its own where 'added' (a copy of the scrape's ts). */
static const struct {
	const char *table, *column;
	bool added;
} partition_keys[] = {
    {"scrapes", "ts", false},
    {"samples", "scrape_ts", true},
    {"sample_stacks", "scrape_ts", true},
    {"label_samples", "scrape_ts", true},
    {"restart_moves", "scrape_ts", true},
};
#define NPARTITIONED (sizeof(partition_keys) / sizeof(partition_keys[0]))

static const char *
partition_key(const char *table)
{
	for (size_t i = 0; i < NPARTITIONED; i++)
		if (strcmp(partition_keys[i].table, table) == 0)
			return partition_keys[i].column;
	return NULL;
}

static bool
added_column(const char *table, const char *column)
{
	for (size_t i = 0; i < NPARTITIONED; i++)
		if (partition_keys[i].added && strcmp(partition_keys[i].table, table) == 0 &&
		    strcmp(partition_keys[i].column, column) == 0)
			return true;
	return false;
}

/* ---- Connections ---- */

static void
setup(void)
{
	testutil_mkdtemp(tmpdir, sizeof(tmpdir), "check_schema");
	snprintf(schema, sizeof(schema), "check_schema_%ld", (long)getpid());
}

static void
teardown(void)
{
	testutil_rmtree(tmpdir);
}

static struct db *
open_target(const char *target)
{
	char err[512];
	struct db *db = db_open(target, err, sizeof(err));

	ck_assert_msg(db != NULL, "'%s': %s", target, err);
	return db;
}

/* The schema of the test dropped (and created again when 'create'), as the server's superuser. */
static void
reset_schema(bool create)
{
	struct db *admin = open_target(testutil_pg_uri());
	char sql[256];

	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
	testutil_db_exec(admin, sql);
	if (create) {
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
		testutil_db_exec(admin, sql);
	}
	db_close(admin);
}

/* A connection to a fresh, empty schema of the test's, first in its search_path; NULL when
 * PostgreSQL is left out. */
static struct db *
open_pg(void)
{
	char target[1024];
	const char *uri;

	if (testutil_pg_off())
		return NULL;
	uri = testutil_pg_uri();
	reset_schema(true);
	if (strncmp(uri, "postgres", 8) == 0)
		snprintf(target, sizeof(target), "%s%coptions=-csearch_path%%3D%s", uri,
		         strchr(uri, '?') != NULL ? '&' : '?', schema);
	else
		snprintf(target, sizeof(target), "%s options='-csearch_path=%s'", uri, schema);
	return open_target(target);
}

static void
close_pg(struct db *db)
{
	db_close(db);
	reset_schema(false);
}

/* The PostgreSQL schema applied: a fresh schema migrated. */
static struct db *
open_pg_migrated(void)
{
	struct db *db = open_pg();
	char err[512];

	if (db == NULL)
		return NULL;
	ck_assert_msg(schema_pg_migrate(db, err, sizeof(err)) == 0, "%s", err);
	return db;
}

/* A SQLite database as the store makes it: every migration applied. */
static struct db *
open_sqlite_store(void)
{
	char path[512];
	struct store *st;

	snprintf(path, sizeof(path), "%s/store.db", tmpdir);
	st = store_open(path, 0);
	ck_assert_msg(st != NULL, "store_open('%s') failed", path);
	store_free(st);
	return open_target(path);
}

/* Step to the next row: false at the end; an error fails the test. */
static bool
next_row(struct db_stmt *stmt, struct db *db)
{
	enum db_step_result rc = db_step(stmt);

	ck_assert_msg(rc != DB_ERROR, "step: %s", db_errmsg(db));
	return rc == DB_ROW;
}

static int64_t
query_int(struct db *db, const char *sql)
{
	struct db_stmt *stmt = testutil_db_prepare(db, sql);
	int64_t v;

	ck_assert_msg(next_row(stmt, db), "'%s': no row", sql);
	v = db_column_int64(stmt, 0);
	db_reset(stmt);
	return v;
}

static const char *
text_or(struct db_stmt *stmt, int col, const char *null)
{
	const char *s = db_column_text(stmt, col);

	return s != NULL ? s : null;
}

/* ---- Facts ---- */

struct facts {
	char **v;
	size_t n, cap;
};

static void __attribute__((format(printf, 2, 3))) fact_add(struct facts *f, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (f->n == f->cap) {
		f->cap = f->cap == 0 ? 64 : f->cap * 2;
		f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
	}
	f->v[f->n++] = xstrdup(buf);
}

static void
facts_free(struct facts *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i]);
	free(f->v);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
facts_has(const struct facts *f, const char *s)
{
	return bsearch(&s, f->v, f->n, sizeof(*f->v), cmp_str) != NULL;
}

/* A list "a, b, c" being built. */
static void
list_add(char *buf, size_t n, const char *item)
{
	size_t len = strlen(buf);

	snprintf(buf + len, n - len, "%s%s", len > 0 ? ", " : "", item);
}

/* The quoted literals of 'sql' from 'p' to the parenthesis closing the one at 'p', as "a|b|c". */
static void
check_literals(const char *p, char *out, size_t n)
{
	int depth = 0;
	char lit[256];

	out[0] = '\0';
	for (; *p != '\0'; p++) {
		if (*p == '(') {
			depth++;
		} else if (*p == ')') {
			if (--depth == 0)
				break;
		} else if (*p == '\'') {
			size_t k = 0;

			for (p++; *p != '\0' && *p != '\''; p++)
				if (k + 1 < sizeof(lit))
					lit[k++] = *p;
			lit[k] = '\0';
			snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? "|" : "",
			         lit);
			if (*p == '\0')
				break;
		}
	}
}

/* A partial index's condition compared as text: lower case, without blanks and parentheses
 * (PostgreSQL writes "(rolled = 0)" for SQLite's "rolled = 0"). "" for NULL. */
static void
predicate(const char *where, char *out, size_t n)
{
	size_t k = 0;

	for (; where != NULL && *where != '\0' && k + 1 < n; where++)
		if (strchr("() \t\n", *where) == NULL)
			out[k++] = (char)tolower((unsigned char)*where);
	out[k] = '\0';
}

/* The PostgreSQL type of a SQLite declared type: its affinity (https://sqlite.org/datatype3.html,
 * 3.1) INTEGER is BIGINT, REAL DOUBLE PRECISION, TEXT TEXT and BLOB BYTEA; NUMERIC has none. */
static const char *
sqlite_type(const char *decl)
{
	char up[64];
	size_t i;

	for (i = 0; decl[i] != '\0' && i + 1 < sizeof(up); i++)
		up[i] = (char)toupper((unsigned char)decl[i]);
	up[i] = '\0';
	if (strstr(up, "INT") != NULL)
		return "bigint";
	if (strstr(up, "CHAR") != NULL || strstr(up, "CLOB") != NULL || strstr(up, "TEXT") != NULL)
		return "text";
	if (up[0] == '\0' || strstr(up, "BLOB") != NULL)
		return "bytea";
	if (strstr(up, "REAL") != NULL || strstr(up, "FLOA") != NULL || strstr(up, "DOUB") != NULL)
		return "double precision";
	return "numeric affinity (no PostgreSQL twin)";
}

/* A PostgreSQL default as SQLite writes it: without its cast ('x'::text is 'x'). */
static void
pg_default(const char *def, char *out, size_t n)
{
	const char *cast;

	if (def == NULL) {
		snprintf(out, n, "none");
		return;
	}
	cast = strstr(def, "::");
	snprintf(out, n, "%.*s", cast != NULL ? (int)(cast - def) : (int)strlen(def), def);
}

static const char *
pg_on_delete(const char *code)
{
	switch (code[0]) {
	case 'c':
		return "CASCADE";
	case 'r':
		return "RESTRICT";
	case 'n':
		return "SET NULL";
	case 'd':
		return "SET DEFAULT";
	default:
		return "NO ACTION";
	}
}

/* ---- SQLite's schema ---- */

static void
sqlite_table(struct db *db, const char *t, const char *sql, struct facts *f)
{
	struct db_stmt *stmt;
	char order[2048] = "", pk[512] = "", cols[512], lit[1024], key[32] = "", pred[512];
	int npk = 0;
	bool rowid = strstr(sql, "WITHOUT ROWID") == NULL;
	const char *p;

	stmt = testutil_db_prepare(db, "SELECT name, type, \"notnull\", dflt_value, pk"
	                               " FROM pragma_table_info(?1) ORDER BY cid");
	db_bind_text(stmt, 1, t);
	while (next_row(stmt, db)) {
		const char *name = db_column_text(stmt, 0), *type = db_column_text(stmt, 1);
		bool in_pk = db_column_int(stmt, 4) > 0;

		fact_add(f, "%s.%s: %s%s, default %s", t, name, sqlite_type(type),
		         db_column_int(stmt, 2) || in_pk ? " NOT NULL" : "",
		         text_or(stmt, 3, "none"));
		list_add(order, sizeof(order), name);
		if (in_pk) {
			npk++;
			/* INTEGER PRIMARY KEY: the rowid, numbered by SQLite */
			if (rowid && strcmp(type, "INTEGER") == 0)
				snprintf(key, sizeof(key), "%s", name);
		}
	}
	db_reset(stmt);
	fact_add(f, "%s: columns in order %s", t, order);
	if (rowid && npk == 1 && key[0] != '\0')
		fact_add(f, "%s.%s: numbered (rowid, identity)", t, key);

	stmt = testutil_db_prepare(
	    db, "SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk");
	db_bind_text(stmt, 1, t);
	while (next_row(stmt, db))
		list_add(pk, sizeof(pk), db_column_text(stmt, 0));
	db_reset(stmt);
	if (pk[0] != '\0')
		fact_add(f, "%s: primary key (%s)", t, pk);

	stmt = testutil_db_prepare(
	    db, "SELECT l.name, l.\"unique\", l.origin, l.partial, s.sql"
	        " FROM pragma_index_list(?1) AS l LEFT JOIN sqlite_schema AS s"
	        " ON s.type = 'index' AND s.name = l.name WHERE l.origin <> 'pk'");
	db_bind_text(stmt, 1, t);
	while (next_row(stmt, db)) {
		char *name = xstrdup(db_column_text(stmt, 0));
		bool unique = db_column_int(stmt, 1),
		     constraint = db_column_text(stmt, 2)[0] == 'u';
		const char *where =
		    db_column_int(stmt, 3) ? strstr(db_column_text(stmt, 4), " WHERE ") : NULL;
		struct db_stmt *cs =
		    testutil_db_prepare(db, "SELECT cid, name FROM pragma_index_info(?1)"
		                            " ORDER BY seqno");

		cols[0] = '\0';
		db_bind_text(cs, 1, name);
		while (next_row(cs, db))
			list_add(cols, sizeof(cols),
			         db_column_int(cs, 0) == -2 ? "<expression>"
			                                    : db_column_text(cs, 1));
		db_reset(cs);
		predicate(where != NULL ? where + 7 : NULL, pred, sizeof(pred));
		if (constraint)
			fact_add(f, "%s: unique (%s)", t, cols);
		else
			fact_add(f, "%s: index %s (%s)%s%s%s", t, name, cols,
			         unique ? " unique" : "", pred[0] != '\0' ? " where " : "", pred);
		free(name);
	}
	db_reset(stmt);

	stmt = testutil_db_prepare(db, "SELECT id, \"from\", \"table\", \"to\", on_delete"
	                               " FROM pragma_foreign_key_list(?1) ORDER BY id, seq");
	db_bind_text(stmt, 1, t);
	{
		int64_t id = -1;
		char from[256] = "", to[256] = "", ref[128] = "", del[32] = "";

		for (;;) {
			bool row = next_row(stmt, db);

			/* A raw row's scrape is kept by the store on PostgreSQL, not declared
			 * (schema_pg.sql, schema 12) */
			if (id >= 0 && (!row || db_column_int64(stmt, 0) != id) &&
			    !(partition_key(t) != NULL && strcmp(ref, "scrapes") == 0))
				fact_add(f, "%s: foreign key (%s) references %s (%s) on delete %s",
				         t, from, ref, to, del);
			if (!row)
				break;
			if (db_column_int64(stmt, 0) != id) {
				id = db_column_int64(stmt, 0);
				from[0] = to[0] = '\0';
				snprintf(ref, sizeof(ref), "%s", db_column_text(stmt, 2));
				snprintf(del, sizeof(del), "%s", db_column_text(stmt, 4));
			}
			list_add(from, sizeof(from), db_column_text(stmt, 1));
			list_add(to, sizeof(to), text_or(stmt, 3, "?"));
		}
	}
	db_reset(stmt);

	/* CHECK constraints: their quoted values (they are all IN lists) */
	for (p = strstr(sql, "CHECK"); p != NULL; p = strstr(p + 5, "CHECK")) {
		check_literals(strchr(p, '('), lit, sizeof(lit));
		fact_add(f, "%s: check (%s)", t, lit);
	}
}

static void
sqlite_facts(struct db *db, struct facts *f)
{
	struct db_stmt *stmt =
	    testutil_db_prepare(db, "SELECT name, sql FROM sqlite_schema WHERE type ="
	                            " 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
	char **names = NULL, **sqls = NULL;
	size_t n = 0;

	while (next_row(stmt, db)) {
		names = xrealloc(names, (n + 1) * sizeof(*names));
		sqls = xrealloc(sqls, (n + 1) * sizeof(*sqls));
		names[n] = xstrdup(db_column_text(stmt, 0));
		sqls[n++] = xstrdup(db_column_text(stmt, 1));
	}
	db_reset(stmt);
	for (size_t i = 0; i < n; i++) {
		fact_add(f, "%s: a table", names[i]);
		sqlite_table(db, names[i], sqls[i], f);
		free(names[i]);
		free(sqls[i]);
	}
	free(names);
	free(sqls);
}

/* ---- PostgreSQL's schema ---- */

/* The columns of key 'k' (in order, partition key left out) of the constraint of 'sql' with
 * parameter 't'. */
static void
pg_key_columns(struct db *db, const char *sql, const char *t, char *out, size_t n)
{
	struct db_stmt *stmt = testutil_db_prepare(db, sql);
	const char *pkey = partition_key(t);

	out[0] = '\0';
	db_bind_text(stmt, 1, t);
	while (next_row(stmt, db))
		if (pkey == NULL || strcmp(db_column_text(stmt, 0), pkey) != 0)
			list_add(out, n, db_column_text(stmt, 0));
	db_reset(stmt);
}

static void
pg_table(struct db *db, const char *t, struct facts *f)
{
	struct db_stmt *stmt;
	char order[2048] = "", def[256], cols[512], lit[1024], pred[512];

	stmt = testutil_db_prepare(
	    db, "SELECT column_name, data_type, is_nullable = 'NO', column_default,"
	        " is_identity = 'YES' FROM information_schema.columns"
	        " WHERE table_schema = current_schema() AND table_name = ?1"
	        " ORDER BY ordinal_position");
	db_bind_text(stmt, 1, t);
	while (next_row(stmt, db)) {
		const char *name = db_column_text(stmt, 0);

		if (added_column(t, name))
			continue;
		pg_default(db_column_text(stmt, 3), def, sizeof(def));
		fact_add(f, "%s.%s: %s%s, default %s", t, name, db_column_text(stmt, 1),
		         db_column_int(stmt, 2) ? " NOT NULL" : "", def);
		list_add(order, sizeof(order), name);
		if (db_column_int(stmt, 4))
			fact_add(f, "%s.%s: numbered (rowid, identity)", t, name);
	}
	db_reset(stmt);
	fact_add(f, "%s: columns in order %s", t, order);

	pg_key_columns(db,
	               "SELECT a.attname FROM pg_constraint c, unnest(c.conkey) WITH ORDINALITY"
	               " AS k(attnum, ord), pg_attribute a WHERE c.conrelid = to_regclass(?1)"
	               " AND c.contype = 'p' AND a.attrelid = c.conrelid AND a.attnum = k.attnum"
	               " ORDER BY k.ord",
	               t, cols, sizeof(cols));
	if (cols[0] != '\0')
		fact_add(f, "%s: primary key (%s)", t, cols);

	stmt = testutil_db_prepare(
	    db, "SELECT c.relname, i.indisunique, pg_get_expr(i.indpred, i.indrelid),"
	        " (SELECT string_agg(CASE WHEN i.indkey[k] = 0 THEN '<expression>'"
	        "   ELSE pg_get_indexdef(i.indexrelid, k + 1, true) END, ', ' ORDER BY k)"
	        "  FROM generate_series(0, i.indnkeyatts - 1) AS k),"
	        " EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = i.indexrelid"
	        "  AND conrelid = i.indrelid AND contype = 'u')"
	        " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
	        " WHERE i.indrelid = to_regclass(?1) AND NOT i.indisprimary");
	db_bind_text(stmt, 1, t);
	while (next_row(stmt, db)) {
		predicate(db_column_text(stmt, 2), pred, sizeof(pred));
		if (db_column_int(stmt, 4))
			fact_add(f, "%s: unique (%s)", t, db_column_text(stmt, 3));
		else
			fact_add(f, "%s: index %s (%s)%s%s%s", t, db_column_text(stmt, 0),
			         db_column_text(stmt, 3), db_column_int(stmt, 1) ? " unique" : "",
			         pred[0] != '\0' ? " where " : "", pred);
	}
	db_reset(stmt);

	/* Foreign keys, the partition key's pair left out. */
	stmt = testutil_db_prepare(
	    db, "SELECT c.oid, r.relname, c.confdeltype, a.attname, b.attname"
	        " FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid,"
	        " unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(attnum, fnum, ord),"
	        " pg_attribute a, pg_attribute b"
	        " WHERE c.conrelid = to_regclass(?1) AND c.contype = 'f' AND c.conparentid = 0"
	        " AND a.attrelid = c.conrelid AND a.attnum = k.attnum"
	        " AND b.attrelid = c.confrelid AND b.attnum = k.fnum ORDER BY c.oid, k.ord");
	db_bind_text(stmt, 1, t);
	{
		int64_t oid = -1;
		char from[256] = "", to[256] = "", ref[128] = "", del[32] = "";
		const char *pkey = partition_key(t);

		for (;;) {
			bool row = next_row(stmt, db);

			if (oid >= 0 && (!row || db_column_int64(stmt, 0) != oid))
				fact_add(f, "%s: foreign key (%s) references %s (%s) on delete %s",
				         t, from, ref, to, del);
			if (!row)
				break;
			if (db_column_int64(stmt, 0) != oid) {
				oid = db_column_int64(stmt, 0);
				from[0] = to[0] = '\0';
				snprintf(ref, sizeof(ref), "%s", db_column_text(stmt, 1));
				snprintf(del, sizeof(del), "%s",
				         pg_on_delete(db_column_text(stmt, 2)));
			}
			if (pkey != NULL && strcmp(db_column_text(stmt, 3), pkey) == 0)
				continue;
			list_add(from, sizeof(from), db_column_text(stmt, 3));
			list_add(to, sizeof(to), db_column_text(stmt, 4));
		}
	}
	db_reset(stmt);

	stmt = testutil_db_prepare(
	    db, "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
	        " WHERE conrelid = to_regclass(?1) AND contype = 'c' ORDER BY oid");
	db_bind_text(stmt, 1, t);
	while (next_row(stmt, db)) {
		check_literals(strchr(db_column_text(stmt, 0), '('), lit, sizeof(lit));
		fact_add(f, "%s: check (%s)", t, lit);
	}
	db_reset(stmt);
}

static void
pg_facts(struct db *db, struct facts *f)
{
	struct db_stmt *stmt = testutil_db_prepare(
	    db, "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
	        " AND relkind IN ('r', 'p') AND NOT relispartition AND relname <> 'schema_version'"
	        " ORDER BY relname");
	char **names = NULL;
	size_t n = 0;

	while (next_row(stmt, db)) {
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(db_column_text(stmt, 0));
	}
	db_reset(stmt);
	for (size_t i = 0; i < n; i++) {
		fact_add(f, "%s: a table", names[i]);
		pg_table(db, names[i], f);
		free(names[i]);
	}
	free(names);
}

/* ---- Tests ---- */

START_TEST(test_parity)
{
	struct db *lite = open_sqlite_store(), *pg = open_pg_migrated();
	struct facts fl = {0}, fp = {0};
	char msg[8192] = "";
	size_t bad = 0;

	if (pg == NULL) {
		db_close(lite);
		return;
	}
	/* both stores agree on which migrations exist */
	ck_assert_int_eq(query_int(pg, "SELECT version FROM schema_version"),
	                 query_int(lite, "PRAGMA user_version"));
	ck_assert_int_eq(schema_pg_version(), query_int(lite, "PRAGMA user_version"));

	sqlite_facts(lite, &fl);
	pg_facts(pg, &fp);
	qsort(fl.v, fl.n, sizeof(*fl.v), cmp_str);
	qsort(fp.v, fp.n, sizeof(*fp.v), cmp_str);
	for (size_t i = 0; i < fl.n; i++)
		if (!facts_has(&fp, fl.v[i])) {
			bad++;
			snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
			         "\n  SQLite has, PostgreSQL not:   %s", fl.v[i]);
		}
	for (size_t i = 0; i < fp.n; i++)
		if (!facts_has(&fl, fp.v[i])) {
			bad++;
			snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
			         "\n  PostgreSQL has, SQLite not:   %s", fp.v[i]);
		}
	ck_assert_msg(bad == 0, "the schemas differ (%zu):%s", bad, msg);
	/* the comparison saw the schema: every table, e.g. the last migration's */
	ck_assert(facts_has(&fp, "restart_moves: primary key (seq)"));
	ck_assert_uint_gt(fl.n, 150);

	/* each raw table partitioned by day on its key */
	for (size_t i = 0; i < NPARTITIONED; i++) {
		char sql[512];

		snprintf(sql, sizeof(sql),
		         "SELECT count(*) FROM pg_partitioned_table p JOIN pg_attribute a"
		         " ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]"
		         " WHERE p.partrelid = to_regclass('%s') AND p.partstrat = 'r'"
		         " AND a.attname = '%s'",
		         partition_keys[i].table, partition_keys[i].column);
		ck_assert_msg(query_int(pg, sql) == 1, "%s: not partitioned by range on %s",
		              partition_keys[i].table, partition_keys[i].column);
	}
	/* and no other: each is in the list whose days leakprofd_create_day() creates */
	ck_assert_int_eq(query_int(pg, "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c"
	                               " ON c.oid = p.partrelid WHERE c.relnamespace ="
	                               " current_schema()::regnamespace"),
	                 NPARTITIONED);
	ck_assert_int_eq(query_int(pg, "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c"
	                               " ON c.oid = p.partrelid WHERE c.relnamespace ="
	                               " current_schema()::regnamespace"
	                               " AND c.relname = ANY (leakprofd_partitioned())"),
	                 NPARTITIONED);
	facts_free(&fl);
	facts_free(&fp);
	db_close(lite);
	close_pg(pg);
}
END_TEST

START_TEST(test_migrate)
{
	struct db *pg = open_pg();
	char err[512];

	if (pg == NULL)
		return;
	/* another program's schema is left alone */
	testutil_db_exec(pg, "CREATE TABLE theirs (x int)");
	ck_assert_int_eq(schema_pg_migrate(pg, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a leakprofd database") != NULL, "%s", err);
	ck_assert_int_eq(query_int(pg, "SELECT count(*) FROM pg_tables"
	                               " WHERE schemaname = current_schema()"),
	                 1);
	testutil_db_exec(pg, "DROP TABLE theirs");

	/* created once; migrating again changes nothing */
	ck_assert_msg(schema_pg_migrate(pg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(schema_pg_migrate(pg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(query_int(pg, "SELECT count(*) FROM schema_version"), 1);
	ck_assert_int_eq(query_int(pg, "SELECT version FROM schema_version"), schema_pg_version());

	/* a newer version than this build knows is refused */
	testutil_db_exec(pg, "UPDATE schema_version SET version = version + 1");
	ck_assert_int_eq(schema_pg_migrate(pg, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "newer than this leakprofd supports") != NULL, "%s", err);
	ck_assert(!db_in_transaction(pg));
	close_pg(pg);
}
END_TEST

/* One scrape of 'target' at 'ts' with a row in each table that goes with it. */
static int64_t
add_scrape(struct db *db, int64_t ts, bool rolled)
{
	struct db_stmt *stmt;
	int64_t id;
	static const char *const children[] = {
	    "INSERT INTO samples (scrape_id, scrape_ts, location_id, count) VALUES (?1, ?2, 1, 5)",
	    "INSERT INTO sample_stacks (scrape_id, scrape_ts, location_id, stack_id, count)"
	    " VALUES (?1, ?2, 1, 1, 5)",
	    "INSERT INTO label_samples (scrape_id, scrape_ts, location_id, labelset_id, count)"
	    " VALUES (?1, ?2, 1, 0, 5)",
	    "INSERT INTO restart_moves (scrape_id, scrape_ts) VALUES (?1, ?2)",
	};

	stmt = testutil_db_prepare(db,
	                           "INSERT INTO scrapes (target_id, ts, duration_ms, bytes, status,"
	                           " rolled) VALUES (1, ?1, 10, 100, 'ok', ?2) RETURNING id");
	db_bind_int64(stmt, 1, ts);
	db_bind_int64(stmt, 2, rolled);
	ck_assert(next_row(stmt, db));
	id = db_column_int64(stmt, 0);
	db_reset(stmt);
	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++) {
		stmt = testutil_db_prepare(db, children[i]);
		db_bind_int64(stmt, 1, id);
		db_bind_int64(stmt, 2, ts);
		ck_assert_msg(db_step(stmt) == DB_DONE, "%s: %s", children[i], db_errmsg(db));
		db_reset(stmt);
	}
	return id;
}

static int
create_days(struct db *db, int64_t from_ms, int64_t to_ms)
{
	char err[512] = "";
	int n = schema_pg_create_days(db, from_ms, to_ms, err, sizeof(err));

	ck_assert_msg(n >= 0, "creating the days' partitions: %s", err);
	return n;
}

static int
drop_days(struct db *db, int64_t before_ms)
{
	char err[512] = "";
	int n = schema_pg_drop_days_before(db, before_ms, err, sizeof(err));

	ck_assert_msg(n >= 0, "dropping the days' partitions: %s", err);
	return n;
}

/* Rows of the raw tables that go with scrape 'id'. */
static int64_t
rows_of(struct db *db, int64_t id)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
	         "SELECT (SELECT count(*) FROM scrapes WHERE id = %1$" PRId64 ")"
	         " + (SELECT count(*) FROM samples WHERE scrape_id = %1$" PRId64 ")"
	         " + (SELECT count(*) FROM sample_stacks WHERE scrape_id = %1$" PRId64 ")"
	         " + (SELECT count(*) FROM label_samples WHERE scrape_id = %1$" PRId64 ")"
	         " + (SELECT count(*) FROM restart_moves WHERE scrape_id = %1$" PRId64 ")",
	         id);
	return query_int(db, sql);
}

START_TEST(test_partitions)
{
	struct db *pg = open_pg_migrated();
	const int64_t day = 20428 * SCHEMA_PG_DAY_MS; /* 2025-12-06 00:00 UTC */
	int64_t old, kept, other;

	if (pg == NULL)
		return;
	testutil_db_exec(
	    pg, "INSERT INTO services (name) VALUES ('api');"
	        "INSERT INTO targets (service_id, url, first_seen) VALUES (1, 'http://a', 0);"
	        "INSERT INTO stacks (hash, frames) VALUES (1, '[]');"
	        "INSERT INTO locations (function, file, line, op, stack_id, first_seen,"
	        " last_seen) VALUES ('f', 'f.go', 1, 'chan receive', 1, 0, 0)");

	/* two days' partitions of each of the five tables, made once */
	ck_assert_int_eq(create_days(pg, day + 1000, day + SCHEMA_PG_DAY_MS), 10);
	ck_assert_int_eq(create_days(pg, day, day + SCHEMA_PG_DAY_MS + 1), 0);
	ck_assert_int_eq(query_int(pg, "SELECT count(*) FROM leakprofd_days()"), 2);

	/* a scrape past the days made is refused, saying why */
	ck_assert_int_eq(db_exec(pg, "INSERT INTO scrapes (target_id, ts, duration_ms, bytes,"
	                             " status) VALUES (1, 1765152000000, 1, 1, 'ok')"),
	                 -1);
	ck_assert_msg(strstr(db_errmsg(pg), "no partition") != NULL, "%s", db_errmsg(pg));

	old = add_scrape(pg, day + 3600000, true);
	kept = add_scrape(pg, day + SCHEMA_PG_DAY_MS + 60000, false);
	other = add_scrape(pg, day + SCHEMA_PG_DAY_MS + 120000, true);
	ck_assert_int_eq(rows_of(pg, old), 5);
	ck_assert_int_eq(rows_of(pg, kept), 5);
	/* the rows of a scrape land in its day's partitions */
	ck_assert_int_eq(query_int(pg, "SELECT count(*) FROM samples_p20251206"), 1);
	ck_assert_int_eq(query_int(pg, "SELECT count(*) FROM restart_moves_p20251207"), 2);
	/* a raw row's scrape is the store's to keep, not a declared reference (schema 12) */
	ck_assert_int_eq(query_int(pg, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
	                               " AND confrelid = 'scrapes'::regclass AND conparentid = 0"),
	                 0);

	/* The older day is dropped whole, the newer one untouched; its day is kept while one of
	 * its scrapes is not rolled up. */
	ck_assert_int_eq(drop_days(pg, day + 2 * SCHEMA_PG_DAY_MS - 1), 1);
	ck_assert_int_eq(rows_of(pg, old), 0);
	ck_assert_int_eq(rows_of(pg, kept), 5);
	ck_assert_int_eq(rows_of(pg, other), 5);
	ck_assert_int_eq(
	    query_int(pg, "SELECT count(*) FROM pg_class WHERE relname LIKE"
	                  " '%_p20251206' AND relnamespace = current_schema()::regnamespace"),
	    0);
	ck_assert_int_eq(query_int(pg, "SELECT min(d) FROM leakprofd_days() AS d"), 20429);
	ck_assert_int_eq(drop_days(pg, day + 3 * SCHEMA_PG_DAY_MS), 0);
	ck_assert_int_eq(rows_of(pg, kept), 5);

	/* rows are still deleted one by one through the parents; a scrape's rows first, as
	 * retention does (no cascade since schema 12) */
	testutil_db_exec(pg, "DELETE FROM samples WHERE scrape_id IN (SELECT id FROM scrapes"
	                     " WHERE rolled = 0);"
	                     "DELETE FROM sample_stacks WHERE scrape_id IN (SELECT id FROM scrapes"
	                     " WHERE rolled = 0);"
	                     "DELETE FROM label_samples WHERE scrape_id IN (SELECT id FROM scrapes"
	                     " WHERE rolled = 0);"
	                     "DELETE FROM restart_moves WHERE scrape_id IN (SELECT id FROM scrapes"
	                     " WHERE rolled = 0);"
	                     "DELETE FROM scrapes WHERE rolled = 0");
	ck_assert_int_eq(rows_of(pg, kept), 0);
	ck_assert_int_eq(rows_of(pg, other), 5);
	ck_assert_int_eq(drop_days(pg, day + 3 * SCHEMA_PG_DAY_MS), 1);
	ck_assert_int_eq(rows_of(pg, other), 0);
	ck_assert_int_eq(query_int(pg, "SELECT count(*) FROM leakprofd_days()"), 0);
	close_pg(pg);
}
END_TEST

static void
say_pg_off(void)
{
	if (testutil_pg_off())
		fprintf(stderr, "schema: LEAKPROFD_PG=off: the suite is left out\n");
}

Suite *
schema_suite(void)
{
	Suite *s = suite_create("schema");
	TCase *tc = tcase_create("schema");

	tcase_add_unchecked_fixture(tc, say_pg_off, NULL);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_parity);
	tcase_add_test(tc, test_migrate);
	tcase_add_test(tc, test_partitions);
	suite_add_tcase(s, tc);
	return s;
}
