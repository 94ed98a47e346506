/* storage/migrate.c: copy a SQLite history into PostgreSQL. See migrate.h.
 *
 * Which tables, in which order, is written here (the foreign-key order of schema_pg.sql); what
 * each table holds is read from the source: its columns, their declared types and its primary key
 * (pragma_table_info). A source table this file does not list is refused rather than left behind.
 * Every key column is an integer, so a table's rows are read in key order after the last key
 * copied ("keyset" pages, each a range scan of the primary key on both sides), and a table whose
 * key is one integer column (a rowid) has an identity column in PostgreSQL. The rows of a scrape
 * (samples, sample_stacks, label_samples, restart_moves) take their scrape's ts into scrape_ts,
 * PostgreSQL's partition key, from a join in the read. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "base/sbuf.h"
#include "base/xalloc.h"
#include "storage/db.h"
#include "storage/migrate.h"
#include "storage/schema_pg.h"

/* The source's tables in the order they are copied: each after those it refers to. */
static const struct {
	const char *name;
	bool by_scrape; /* the rows of a scrape: PostgreSQL adds scrape_ts */
} table_list[] = {
    {"services", false},     {"targets", false},      {"scrapes", false},
    {"stacks", false},       {"locations", false},    {"samples", true},
    {"rollups", false},      {"rollup_hours", false}, {"rollup_stacks", false},
    {"rankings", false},     {"suspects", false},     {"alerts", false},
    {"outbox", false},       {"labelsets", false},    {"label_samples", true},
    {"sample_stacks", true}, {"restart_moves", true}, {"daemons", false},
};
#define NTABLES (sizeof(table_list) / sizeof(table_list[0]))

#define MAX_KEY 8           /* columns of a primary key */
#define PG_MAX_PARAMS 65535 /* parameters of one PostgreSQL statement */
#define PROGRESS_MS 1000    /* at most one progress line a second per table */

/* Any constant: the key of the advisory lock held while a copy runs. */
#define MIGRATE_LOCK_KEY "7809847927456342018"

/* What the target records of the copy it holds (one row). */
static const char record_sql[] = "CREATE TABLE IF NOT EXISTS leakprofd_migration ("
                                 " one BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),"
                                 " source TEXT NOT NULL,"
                                 " identity TEXT NOT NULL,"
                                 " started BIGINT NOT NULL,"
                                 " finished BIGINT)";

/* How a column's values are read and bound: SQLite's affinity of its declared type. */
enum col_kind {
	COL_INTEGER,
	COL_REAL,
	COL_TEXT,
	COL_BLOB,
};

struct column {
	char *name;
	enum col_kind kind;
};

/* One value of a row read, until it is bound. */
struct value {
	bool null;
	int64_t i;
	double d;
	char *p; /* text or blob bytes, owned */
	size_t n;
};

struct table {
	const char *name;
	bool by_scrape;
	struct column *cols;
	size_t ncols;
	size_t key[MAX_KEY]; /* indexes into cols, in key order */
	size_t nkey;
	bool identity;  /* the key is a rowid: an identity column in PostgreSQL */
	size_t nvalues; /* values per row bound: ncols, + scrape_ts when by_scrape */
};

struct migration {
	const struct migrate_options *opts;
	char *to; /* opts->to as messages name it: without a password */
	struct db *src, *dst;
	char *err;
	size_t errlen;
	unsigned batch, tx_batches;
	unsigned committed; /* transactions committed by this run */
	int64_t copied;     /* rows copied by this run */
	struct table tables[NTABLES];
};

static void __attribute__((format(printf, 2, 3)))
progress(struct migration *m, const char *fmt, ...)
{
	va_list ap;

	if (m->opts->progress == NULL)
		return;
	fputs("migrate-db: ", m->opts->progress);
	va_start(ap, fmt);
	vfprintf(m->opts->progress, fmt, ap);
	va_end(ap);
	fputc('\n', m->opts->progress);
	fflush(m->opts->progress);
}

/* A failure of 'db' while doing 'what' (a printf format) into m->err: -1. */
static int __attribute__((format(printf, 3, 4)))
fail_db(struct migration *m, struct db *db, const char *what, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, what);
	vsnprintf(buf, sizeof(buf), what, ap);
	va_end(ap);
	snprintf(m->err, m->errlen, "'%s': %s: %s", db == m->src ? m->opts->from : m->to, buf,
	         db_errmsg(db));
	return -1;
}

/* ---- Small queries ---- */

/* Run 'sql' with the integer parameters 'args' (?1...) and read the integers of its one row into
 * 'out' (up to 'nout'). 1 a row, 0 none, -1 error (db_errmsg()). */
static int
query_ints(struct db *db, const char *sql, const int64_t *args, size_t nargs, int64_t *out,
           size_t nout)
{
	struct db_stmt *stmt = db_prepare(db, sql);
	enum db_step_result rc;

	if (stmt == NULL)
		return -1;
	for (size_t i = 0; i < nargs; i++)
		if (db_bind_int64(stmt, (int)i + 1, args[i]) < 0)
			return -1;
	rc = db_step(stmt);
	if (rc == DB_ROW)
		for (size_t i = 0; i < nout; i++)
			out[i] = db_column_int64(stmt, (int)i);
	db_reset(stmt);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/* '"name"' appended: identifiers come from the source's catalog. */
static void
add_ident(struct sbuf *b, const char *prefix, const char *name)
{
	sbuf_puts(b, prefix);
	sbuf_puts(b, "\"");
	for (const char *p = name; *p != '\0'; p++) {
		if (*p == '"')
			sbuf_puts(b, "\"\"");
		else
			sbuf_add(b, p, 1);
	}
	sbuf_puts(b, "\"");
}

/* The text built, owned by the caller. */
static char *
sbuf_text(struct sbuf *b)
{
	size_t len;
	char *s = sbuf_steal(b, &len);

	return s != NULL ? s : xstrdup("");
}

/* ---- The source ---- */

/* 'path' as a read-only SQLite URI (file:PATH?mode=ro, PATH percent-encoded). Caller owns. */
static char *
readonly_uri(const char *path)
{
	struct sbuf b = {0};

	sbuf_puts(&b, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/-._~", *p) != NULL)
			sbuf_add(&b, (const char *)p, 1);
		else
			sbuf_addf(&b, "%%%02X", *p);
	}
	sbuf_puts(&b, "?mode=ro");
	return sbuf_text(&b);
}

/* Open the source read-only and check its schema version. 0, or -1 (m->err). */
static int
open_source(struct migration *m)
{
	const char *path = m->opts->from;
	struct stat sb;
	char *uri, oerr[512];
	int64_t version = 0;

	if (stat(path, &sb) < 0) {
		snprintf(m->err, m->errlen, "'%s': cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(m->err, m->errlen, "'%s': not a regular file", path);
		return -1;
	}
	uri = readonly_uri(path);
	m->src = db_open(uri, oerr, sizeof(oerr));
	free(uri);
	if (m->src == NULL) {
		snprintf(m->err, m->errlen, "'%s': cannot open read-only: %s", path, oerr);
		return -1;
	}
	if (query_ints(m->src, "PRAGMA user_version", NULL, 0, &version, 1) < 0)
		return fail_db(m, m->src, "reading the schema version");
	if (version != schema_pg_version()) {
		snprintf(m->err, m->errlen,
		         "'%s': schema version %" PRId64
		         ", but this leakprofd writes version %d: %s",
		         path, version, schema_pg_version(),
		         version == 0 ? "not a leakprofd database"
		         : version < schema_pg_version()
		             ? "run this leakprofd on it once (leakprofd run --database FILE) to "
		               "migrate it first"
		             : "use the leakprofd that wrote it");
		return -1;
	}
	/* one snapshot for the whole copy, whatever writes the file meanwhile */
	if (db_begin_read(m->src) < 0)
		return fail_db(m, m->src, "starting a read transaction");
	return 0;
}

/* SQLite's affinity rules (datatype3.html, 3.1) on a declared type. */
static int
col_kind(const char *decl, enum col_kind *kind)
{
	if (strcasestr(decl, "INT") != NULL)
		*kind = COL_INTEGER;
	else if (strcasestr(decl, "CHAR") != NULL || strcasestr(decl, "CLOB") != NULL ||
	         strcasestr(decl, "TEXT") != NULL)
		*kind = COL_TEXT;
	else if (decl[0] == '\0' || strcasestr(decl, "BLOB") != NULL)
		*kind = COL_BLOB;
	else if (strcasestr(decl, "REAL") != NULL || strcasestr(decl, "FLOA") != NULL ||
	         strcasestr(decl, "DOUB") != NULL)
		*kind = COL_REAL;
	else
		return -1; /* NUMERIC: a value may be either; none of ours is */
	return 0;
}

/* Read table 'name's columns and key from the source into 't'. 0, or -1 (m->err). */
static int
load_table(struct migration *m, struct table *t, const char *name, bool by_scrape)
{
	struct db_stmt *stmt;
	size_t cap = 0, pkpos[MAX_KEY];
	enum db_step_result rc;

	t->name = name;
	t->by_scrape = by_scrape;
	stmt = db_prepare(m->src, "SELECT name, type, pk FROM pragma_table_info(?1) ORDER BY cid");
	if (stmt == NULL || db_bind_text(stmt, 1, name) < 0)
		return fail_db(m, m->src, "reading the columns of table '%s'", name);
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct column *c;
		int64_t pk = db_column_int64(stmt, 2);

		t->cols = array_grow(t->cols, &cap, t->ncols + 1, sizeof(*t->cols), 16);
		c = &t->cols[t->ncols];
		c->name = xstrdup(db_column_text(stmt, 0));
		if (col_kind(db_column_text(stmt, 1) ? db_column_text(stmt, 1) : "", &c->kind) <
		    0) {
			snprintf(m->err, m->errlen,
			         "'%s': column %s.%s: type '%s' cannot be copied", m->opts->from,
			         name, c->name, db_column_text(stmt, 1));
			free(c->name);
			db_reset(stmt);
			return -1;
		}
		t->ncols++;
		if (pk > 0 && pk <= MAX_KEY) {
			pkpos[pk - 1] = t->ncols - 1;
			if ((size_t)pk > t->nkey)
				t->nkey = (size_t)pk;
		}
	}
	db_reset(stmt);
	if (rc != DB_DONE)
		return fail_db(m, m->src, "reading the columns of table '%s'", name);
	if (t->ncols == 0) {
		snprintf(m->err, m->errlen, "'%s': no table '%s'", m->opts->from, name);
		return -1;
	}
	if (t->nkey == 0) {
		snprintf(m->err, m->errlen, "'%s': table '%s' has no primary key", m->opts->from,
		         name);
		return -1;
	}
	for (size_t k = 0; k < t->nkey; k++) {
		t->key[k] = pkpos[k];
		if (t->cols[pkpos[k]].kind != COL_INTEGER) {
			snprintf(m->err, m->errlen,
			         "'%s': table '%s': key column '%s' is not an integer",
			         m->opts->from, name, t->cols[pkpos[k]].name);
			return -1;
		}
	}
	t->identity = t->nkey == 1;
	t->nvalues = t->ncols + (by_scrape ? 1 : 0);
	if (t->nvalues * m->batch > PG_MAX_PARAMS) {
		snprintf(m->err, m->errlen,
		         "table '%s': %u rows of %zu columns are too many for one "
		         "statement: use a smaller --batch",
		         name, m->batch, t->nvalues);
		return -1;
	}
	return 0;
}

/* Every source table is one this file copies, and every one it copies is there. */
static int
load_tables(struct migration *m)
{
	struct db_stmt *stmt;
	enum db_step_result rc;

	stmt = db_prepare(m->src, "SELECT name FROM sqlite_schema WHERE type = 'table'"
	                          " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name");
	if (stmt == NULL)
		return fail_db(m, m->src, "listing the tables");
	while ((rc = db_step(stmt)) == DB_ROW) {
		const char *name = db_column_text(stmt, 0);
		size_t i;

		for (i = 0; i < NTABLES; i++)
			if (strcmp(table_list[i].name, name) == 0)
				break;
		if (i == NTABLES) {
			snprintf(
			    m->err, m->errlen,
			    "'%s': table '%s' is not one that this leakprofd knows how to copy",
			    m->opts->from, name);
			db_reset(stmt);
			return -1;
		}
	}
	db_reset(stmt);
	if (rc != DB_DONE)
		return fail_db(m, m->src, "listing the tables");
	for (size_t i = 0; i < NTABLES; i++)
		if (load_table(m, &m->tables[i], table_list[i].name, table_list[i].by_scrape) < 0)
			return -1;
	return 0;
}

/* What tells this source from another: the first target registered, the start of its history
 * (a daemon writing meanwhile changes neither). Caller owns. */
static char *
source_identity(struct migration *m)
{
	struct db_stmt *stmt;
	struct sbuf b = {0};
	enum db_step_result rc;

	stmt = db_prepare(m->src, "SELECT id, url, first_seen FROM targets ORDER BY id LIMIT 1");
	if (stmt == NULL) {
		fail_db(m, m->src, "reading the first target");
		return NULL;
	}
	rc = db_step(stmt);
	if (rc == DB_ROW)
		sbuf_addf(&b, "first target %" PRId64 " '%s' first seen %" PRId64,
		          db_column_int64(stmt, 0), db_column_text(stmt, 1),
		          db_column_int64(stmt, 2));
	else if (rc == DB_DONE)
		sbuf_puts(&b, "no targets");
	db_reset(stmt);
	if (rc == DB_ERROR) {
		fail_db(m, m->src, "reading the first target");
		return NULL;
	}
	return sbuf_text(&b);
}

/* ---- The target ---- */

/* Does any table of ours in the target hold a row? Its name into *table. 0, or -1 (m->err). */
static int
first_table_with_rows(struct migration *m, const char **table)
{
	*table = NULL;
	for (size_t i = 0; i < NTABLES && *table == NULL; i++) {
		struct sbuf b = {0};
		char *sql;
		int64_t one;
		int rc;

		add_ident(&b, "SELECT 1 FROM ", m->tables[i].name);
		sbuf_puts(&b, " LIMIT 1");
		sql = sbuf_text(&b);
		rc = query_ints(m->dst, sql, NULL, 0, &one, 1);
		db_finalize(db_prepare(m->dst, sql));
		free(sql);
		if (rc < 0)
			return fail_db(m, m->dst, "reading table '%s'", m->tables[i].name);
		if (rc == 1)
			*table = m->tables[i].name;
	}
	return 0;
}

/* Claim the target for this source: a target that records a copy of this very source resumes;
 * one that records another source, or holds rows with no record, is refused. In one transaction.
 * *finished: the copy recorded was completed and verified before. 0, or -1 (m->err). */
static int
claim_target(struct migration *m, const char *source, const char *identity, bool *finished)
{
	struct db_stmt *stmt;
	enum db_step_result rc;
	const char *busy;

	*finished = false;
	if (db_begin(m->dst) < 0)
		return fail_db(m, m->dst, "starting a transaction");
	if (db_exec(m->dst, record_sql) < 0) {
		fail_db(m, m->dst, "creating table leakprofd_migration");
		goto out_rollback;
	}
	stmt = db_prepare(m->dst, "SELECT source, identity, finished IS NOT NULL"
	                          " FROM leakprofd_migration");
	if (stmt == NULL) {
		fail_db(m, m->dst, "reading table leakprofd_migration");
		goto out_rollback;
	}
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		bool same = strcmp(db_column_text(stmt, 0), source) == 0 &&
		            strcmp(db_column_text(stmt, 1), identity) == 0;

		if (!same)
			snprintf(
			    m->err, m->errlen,
			    "'%s': holds a copy of '%s' (%s), not of '%s' (%s): migrate into an "
			    "empty database",
			    m->to, db_column_text(stmt, 0), db_column_text(stmt, 1), source,
			    identity);
		*finished = db_column_int(stmt, 2) != 0;
		db_reset(stmt);
		if (!same)
			goto out_rollback;
		return db_commit(m->dst) < 0 ? fail_db(m, m->dst, "committing") : 0;
	}
	db_reset(stmt);
	if (rc != DB_DONE) {
		fail_db(m, m->dst, "reading table leakprofd_migration");
		goto out_rollback;
	}
	if (first_table_with_rows(m, &busy) < 0)
		goto out_rollback;
	if (busy != NULL) {
		snprintf(
		    m->err, m->errlen,
		    "'%s': already holds leakprofd data (table '%s' has rows) that no migrate-db "
		    "of '%s' wrote: migrate into an empty database",
		    m->to, busy, source);
		goto out_rollback;
	}
	stmt = db_prepare(m->dst, "INSERT INTO leakprofd_migration (source, identity, started)"
	                          " VALUES (?1, ?2, ?3)");
	if (stmt == NULL || db_bind_text(stmt, 1, source) < 0 ||
	    db_bind_text(stmt, 2, identity) < 0 || db_bind_int64(stmt, 3, clock_wall_ms()) < 0 ||
	    db_step(stmt) != DB_DONE) {
		db_reset(stmt);
		fail_db(m, m->dst, "recording the migration");
		goto out_rollback;
	}
	db_reset(stmt);
	if (db_commit(m->dst) < 0)
		return fail_db(m, m->dst, "recording the migration");
	return 0;

out_rollback:
	db_rollback(m->dst);
	return -1;
}

/* Open the target, migrate its schema, take the lock of a copy and claim it. */
static int
open_target(struct migration *m, bool *finished)
{
	char oerr[512], *identity, *source;
	int64_t locked = 0;
	int rc;

	m->dst = db_open(m->opts->to, oerr, sizeof(oerr));
	if (m->dst == NULL) {
		snprintf(m->err, m->errlen, "'%s': cannot connect: %s", m->to, oerr);
		return -1;
	}
	if (db_kind(m->dst) != DB_POSTGRES) {
		snprintf(m->err, m->errlen, "'%s': not a PostgreSQL URI", m->to);
		return -1;
	}
	if (schema_pg_migrate(m->dst, oerr, sizeof(oerr)) < 0) {
		snprintf(m->err, m->errlen, "'%s': %s", m->to, oerr);
		return -1;
	}
	if (query_ints(m->dst, "SELECT pg_try_advisory_lock(" MIGRATE_LOCK_KEY ")::int", NULL, 0,
	               &locked, 1) < 0)
		return fail_db(m, m->dst, "taking the migration lock");
	if (!locked) {
		snprintf(m->err, m->errlen, "'%s': another migrate-db is copying into it", m->to);
		return -1;
	}
	identity = source_identity(m);
	if (identity == NULL)
		return -1;
	source = realpath(m->opts->from, NULL);
	rc = claim_target(m, source != NULL ? source : m->opts->from, identity, finished);
	free(source);
	free(identity);
	return rc;
}

/* The day partitions of every day the source has scrapes of. */
static int
create_days(struct migration *m)
{
	struct db_stmt *stmt;
	enum db_step_result rc;
	int64_t *days = NULL;
	size_t n = 0, cap = 0;
	char perr[512];
	int made = 0, k;

	stmt = db_prepare(m->src, "SELECT DISTINCT CASE WHEN ts >= 0 THEN ts / 86400000"
	                          " ELSE -((-ts + 86399999) / 86400000) END FROM scrapes");
	if (stmt == NULL)
		return fail_db(m, m->src, "reading the days of the scrapes");
	while ((rc = db_step(stmt)) == DB_ROW) {
		days = array_grow(days, &cap, n + 1, sizeof(*days), 64);
		days[n++] = db_column_int64(stmt, 0);
	}
	db_reset(stmt);
	if (rc != DB_DONE) {
		free(days);
		return fail_db(m, m->src, "reading the days of the scrapes");
	}
	for (size_t i = 0; i < n; i++) {
		k = schema_pg_create_days(m->dst, days[i] * SCHEMA_PG_DAY_MS,
		                          days[i] * SCHEMA_PG_DAY_MS, perr, sizeof(perr));
		if (k < 0) {
			snprintf(m->err, m->errlen, "'%s': %s", m->to, perr);
			free(days);
			return -1;
		}
		made += k;
	}
	progress(m, "%zu days of scrapes: %d partitions created", n, made);
	free(days);
	return 0;
}

/* ---- Copying a table ---- */

/* The SQL that reads a page of 't' from the source: after a key (?1...?nkey) or from the start,
 * at most ?(nkey + 1) (or ?1) rows. Caller owns. */
static char *
read_sql(const struct table *t, bool after)
{
	struct sbuf b = {0};

	sbuf_puts(&b, "SELECT ");
	for (size_t i = 0; i < t->ncols; i++)
		add_ident(&b, i == 0 ? "c." : ", c.", t->cols[i].name);
	if (t->by_scrape)
		sbuf_puts(&b, ", s.ts");
	add_ident(&b, " FROM ", t->name);
	sbuf_puts(&b, " AS c");
	if (t->by_scrape)
		sbuf_puts(&b, " JOIN scrapes AS s ON s.id = c.scrape_id");
	if (after) {
		sbuf_puts(&b, " WHERE (");
		for (size_t k = 0; k < t->nkey; k++)
			add_ident(&b, k == 0 ? "c." : ", c.", t->cols[t->key[k]].name);
		sbuf_puts(&b, ") > (");
		for (size_t k = 0; k < t->nkey; k++)
			sbuf_addf(&b, "%s?%zu", k == 0 ? "" : ", ", k + 1);
		sbuf_puts(&b, ")");
	}
	sbuf_puts(&b, " ORDER BY ");
	for (size_t k = 0; k < t->nkey; k++)
		add_ident(&b, k == 0 ? "c." : ", c.", t->cols[t->key[k]].name);
	sbuf_addf(&b, " LIMIT ?%zu", after ? t->nkey + 1 : 1);
	return sbuf_text(&b);
}

/* The INSERT of 'nrows' rows of 't' into the target. Caller owns. */
static char *
insert_sql(const struct table *t, size_t nrows)
{
	struct sbuf b = {.max = 64u << 20};
	size_t p = 1;

	add_ident(&b, "INSERT INTO ", t->name);
	for (size_t i = 0; i < t->ncols; i++)
		add_ident(&b, i == 0 ? " (" : ", ", t->cols[i].name);
	sbuf_puts(&b, t->by_scrape ? ", scrape_ts)" : ")");
	if (t->identity)
		sbuf_puts(&b, " OVERRIDING SYSTEM VALUE");
	sbuf_puts(&b, " VALUES ");
	for (size_t r = 0; r < nrows; r++) {
		sbuf_puts(&b, r == 0 ? "(" : ", (");
		for (size_t i = 0; i < t->nvalues; i++)
			sbuf_addf(&b, "%s?%zu", i == 0 ? "" : ", ", p++);
		sbuf_puts(&b, ")");
	}
	return sbuf_text(&b);
}

/* The key columns of 't' as a SQL list ("a", "b"), with 'suffix' after each. Caller owns. */
static char *
key_list(const struct table *t, const char *suffix)
{
	struct sbuf b = {0};

	for (size_t k = 0; k < t->nkey; k++) {
		add_ident(&b, k == 0 ? "" : ", ", t->cols[t->key[k]].name);
		sbuf_puts(&b, suffix);
	}
	return sbuf_text(&b);
}

/* The greatest key of 't' the target holds into 'key': 1, 0 when it holds no row, -1 error. */
static int
target_last_key(struct migration *m, const struct table *t, int64_t *key)
{
	struct sbuf b = {0};
	char *cols = key_list(t, ""), *order = key_list(t, " DESC"), *sql;
	int rc;

	sbuf_addf(&b, "SELECT %s", cols);
	add_ident(&b, " FROM ", t->name);
	sbuf_addf(&b, " ORDER BY %s LIMIT 1", order);
	sql = sbuf_text(&b);
	rc = query_ints(m->dst, sql, NULL, 0, key, t->nkey);
	db_finalize(db_prepare(m->dst, sql));
	free(sql);
	free(cols);
	free(order);
	if (rc < 0)
		return fail_db(m, m->dst, "reading the last key copied of table '%s'", t->name);
	return rc;
}

/* The source's rows of 't' after 'key' (all when 'after' is false). -1 on error. */
static int64_t
source_rows_after(struct migration *m, const struct table *t, bool after, const int64_t *key)
{
	struct sbuf b = {0};
	char *sql, *cols = key_list(t, "");
	int64_t n = 0;
	int rc;

	add_ident(&b, "SELECT count(*) FROM ", t->name);
	if (after) {
		sbuf_addf(&b, " WHERE (%s) > (", cols);
		for (size_t k = 0; k < t->nkey; k++)
			sbuf_addf(&b, "%s?%zu", k == 0 ? "" : ", ", k + 1);
		sbuf_puts(&b, ")");
	}
	sql = sbuf_text(&b);
	rc = query_ints(m->src, sql, key, after ? t->nkey : 0, &n, 1);
	db_finalize(db_prepare(m->src, sql));
	free(sql);
	free(cols);
	if (rc < 0)
		return fail_db(m, m->src, "counting the rows of table '%s'", t->name);
	return n;
}

static void
values_clear(struct value *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].p);
		v[i] = (struct value){0};
	}
}

/* Read up to m->batch rows of 't' after 'key' into 'vals' (t->nvalues a row). The rows read, or
 * -1 (m->err). */
static int64_t
read_page(struct migration *m, const struct table *t, const char *sql, bool after,
          const int64_t *key, struct value *vals)
{
	struct db_stmt *stmt = db_prepare(m->src, sql);
	enum db_step_result rc;
	int64_t nrows = 0;
	int p = 1;

	if (stmt == NULL)
		return fail_db(m, m->src, "reading table '%s'", t->name);
	for (size_t k = 0; after && k < t->nkey; k++)
		if (db_bind_int64(stmt, p++, key[k]) < 0)
			return fail_db(m, m->src, "reading table '%s'", t->name);
	if (db_bind_int64(stmt, p, m->batch) < 0)
		return fail_db(m, m->src, "reading table '%s'", t->name);
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct value *row = &vals[nrows * t->nvalues];

		for (size_t i = 0; i < t->nvalues; i++) {
			struct value *v = &row[i];
			enum col_kind kind = i < t->ncols ? t->cols[i].kind : COL_INTEGER;
			const void *bytes;

			v->null = db_column_is_null(stmt, (int)i);
			if (v->null)
				continue;
			switch (kind) {
			case COL_INTEGER:
				v->i = db_column_int64(stmt, (int)i);
				break;
			case COL_REAL:
				v->d = db_column_double(stmt, (int)i);
				break;
			case COL_TEXT:
				bytes = db_column_text(stmt, (int)i);
				v->n = db_column_bytes(stmt, (int)i);
				v->p = xstrndup(bytes, v->n);
				break;
			case COL_BLOB:
				bytes = db_column_blob(stmt, (int)i);
				v->n = db_column_bytes(stmt, (int)i);
				v->p = xmalloc(v->n + 1);
				if (v->n > 0)
					memcpy(v->p, bytes, v->n);
				break;
			}
		}
		nrows++;
	}
	db_reset(stmt);
	if (rc != DB_DONE)
		return fail_db(m, m->src, "reading table '%s'", t->name);
	return nrows;
}

/* Insert the 'nrows' rows of 'vals' into the target's 't'. 0, or -1 (m->err). */
static int
insert_page(struct migration *m, const struct table *t, const char *full_sql, int64_t nrows,
            const struct value *vals)
{
	char *own = (size_t)nrows == m->batch ? NULL : insert_sql(t, (size_t)nrows);
	struct db_stmt *stmt = db_prepare(m->dst, own != NULL ? own : full_sql);
	int rc = 0;

	if (stmt == NULL)
		rc = -1;
	for (int64_t r = 0; rc == 0 && r < nrows; r++) {
		for (size_t i = 0; rc == 0 && i < t->nvalues; i++) {
			const struct value *v = &vals[r * (int64_t)t->nvalues + (int64_t)i];
			enum col_kind kind = i < t->ncols ? t->cols[i].kind : COL_INTEGER;
			int p = (int)(r * (int64_t)t->nvalues + (int64_t)i) + 1;

			if (v->null)
				rc = db_bind_null(stmt, p);
			else if (kind == COL_INTEGER)
				rc = db_bind_int64(stmt, p, v->i);
			else if (kind == COL_REAL)
				rc = db_bind_double(stmt, p, v->d);
			else if (kind == COL_TEXT)
				rc = db_bind_text(stmt, p, v->p);
			else
				rc = db_bind_blob(stmt, p, v->p, v->n);
		}
	}
	if (rc == 0 && db_step(stmt) != DB_DONE)
		rc = -1;
	if (rc < 0)
		fail_db(m, m->dst, "table '%s': inserting %" PRId64 " rows", t->name, nrows);
	if (own != NULL) {
		db_finalize(stmt);
		free(own);
	} else {
		db_reset(stmt);
	}
	return rc;
}

/* Set the identity sequence of 't' past the greatest id copied. */
static int
set_sequence(struct migration *m, const struct table *t)
{
	struct sbuf b = {0};
	const char *id = t->cols[t->key[0]].name;
	struct db_stmt *stmt;
	enum db_step_result rc;
	char *sql;

	sbuf_puts(&b, "SELECT setval(pg_get_serial_sequence(?1, ?2), x.m) FROM (SELECT ");
	add_ident(&b, "max(", id);
	add_ident(&b, ") AS m FROM ", t->name);
	sbuf_puts(&b, ") AS x WHERE x.m IS NOT NULL");
	sql = sbuf_text(&b);
	stmt = db_prepare(m->dst, sql);
	rc = DB_ERROR;
	if (stmt != NULL && db_bind_text(stmt, 1, t->name) == 0 && db_bind_text(stmt, 2, id) == 0)
		while ((rc = db_step(stmt)) == DB_ROW)
			;
	db_finalize(stmt);
	free(sql);
	if (rc != DB_DONE)
		return fail_db(m, m->dst, "setting the sequence of %s.%s", t->name, id);
	return 0;
}

/* Copy what the target lacks of 't': pages after the greatest key it holds, m->tx_batches pages
 * a transaction. 0 copied, 1 stopped (stop_after), -1 error (m->err). */
static int
copy_table(struct migration *m, const struct table *t)
{
	int64_t key[MAX_KEY], todo, done = 0, nrows = 0;
	int64_t start = clock_mono_ms(), shown = start;
	char *first = read_sql(t, false), *after = read_sql(t, true),
	     *full = insert_sql(t, m->batch);
	struct value *vals = xcalloc((size_t)m->batch * t->nvalues, sizeof(*vals));
	bool have_key, more = true;
	int rc = -1;

	rc = target_last_key(m, t, key);
	if (rc < 0)
		goto out_free;
	have_key = rc == 1;
	rc = -1;
	todo = source_rows_after(m, t, have_key, key);
	if (todo < 0)
		goto out_free;
	while (more) {
		if (db_begin(m->dst) < 0) {
			fail_db(m, m->dst, "table '%s': starting a transaction", t->name);
			goto out_free;
		}
		for (unsigned b = 0; b < m->tx_batches && more; b++) {
			values_clear(vals, (size_t)nrows * t->nvalues);
			nrows = read_page(m, t, have_key ? after : first, have_key, key, vals);
			if (nrows < 0)
				goto out_rollback;
			if (nrows > 0 && insert_page(m, t, full, nrows, vals) < 0)
				goto out_rollback;
			for (size_t k = 0; nrows > 0 && k < t->nkey; k++)
				key[k] =
				    vals[(nrows - 1) * (int64_t)t->nvalues + (int64_t)t->key[k]].i;
			have_key = have_key || nrows > 0;
			done += nrows;
			more = nrows == (int64_t)m->batch;
		}
		if (db_commit(m->dst) < 0) {
			fail_db(m, m->dst, "table '%s': committing", t->name);
			goto out_free;
		}
		m->committed++;
		if (more && clock_mono_ms() - shown >= PROGRESS_MS) {
			shown = clock_mono_ms();
			progress(m, "%s: %" PRId64 " of %" PRId64 " rows, %.0f rows/s", t->name,
			         done, todo, (double)done * 1000.0 / (double)(shown - start + 1));
		}
		if (m->opts->stop_after > 0 && m->committed >= m->opts->stop_after && more) {
			m->copied += done;
			progress(m, "%s: stopped after %u transactions, %" PRId64 " rows", t->name,
			         m->committed, done);
			rc = 1;
			goto out_free;
		}
	}
	m->copied += done;
	if (t->identity && set_sequence(m, t) < 0)
		goto out_free;
	progress(m, "%s: %" PRId64 " rows copied in %.1f s (%.0f rows/s)", t->name, done,
	         (double)(clock_mono_ms() - start) / 1000.0,
	         (double)done * 1000.0 / (double)(clock_mono_ms() - start + 1));
	rc = 0;
	goto out_free;

out_rollback:
	db_rollback(m->dst);
out_free:
	values_clear(vals, (size_t)m->batch * t->nvalues); /* a page read part-way too */
	free(vals);
	free(first);
	free(after);
	free(full);
	return rc;
}

/* ---- Verifying ---- */

/* Compare the row count and the sum of the first key column of every table. 0 equal, 1 a table
 * differs (m->err names the first), -1 error. */
static int
verify(struct migration *m)
{
	int differs = 0;

	for (size_t i = 0; i < NTABLES; i++) {
		const struct table *t = &m->tables[i];
		struct sbuf b = {0};
		int64_t src[2] = {0, 0}, dst[2] = {0, 0};
		char *sql;
		int rs, rd;

		add_ident(&b, "SELECT count(*), coalesce(sum(", t->cols[t->key[0]].name);
		add_ident(&b, "), 0) FROM ", t->name);
		sql = sbuf_text(&b);
		rs = query_ints(m->src, sql, NULL, 0, src, 2);
		db_finalize(db_prepare(m->src, sql));
		rd = rs < 0 ? 0 : query_ints(m->dst, sql, NULL, 0, dst, 2);
		db_finalize(db_prepare(m->dst, sql));
		free(sql);
		if (rs < 0)
			return fail_db(m, m->src, "counting table '%s'", t->name);
		if (rd < 0)
			return fail_db(m, m->dst, "counting table '%s'", t->name);
		if (src[0] == dst[0] && src[1] == dst[1]) {
			progress(m, "verify %s: %" PRId64 " rows in both", t->name, src[0]);
			continue;
		}
		progress(m,
		         "verify %s: DIFFERS: %" PRId64 " rows (sum of %s %" PRId64
		         ") in '%s', %" PRId64 " (%" PRId64 ") in the target",
		         t->name, src[0], t->cols[t->key[0]].name, src[1], m->opts->from, dst[0],
		         dst[1]);
		if (differs == 0)
			snprintf(m->err, m->errlen,
			         "table '%s' differs: %" PRId64 " rows in '%s', %" PRId64
			         " in '%s'",
			         t->name, src[0], m->opts->from, dst[0], m->to);
		differs = 1;
	}
	return differs;
}

static int
record_finished(struct migration *m)
{
	struct db_stmt *stmt = db_prepare(m->dst, "UPDATE leakprofd_migration SET finished = ?1");

	if (stmt == NULL || db_bind_int64(stmt, 1, clock_wall_ms()) < 0 ||
	    db_step(stmt) != DB_DONE) {
		db_reset(stmt);
		return fail_db(m, m->dst, "recording the migration as finished");
	}
	db_reset(stmt);
	return 0;
}

/* ---- The whole ---- */

enum migrate_result
migrate_run(const struct migrate_options *opts, char *err, size_t errlen)
{
	struct migration m = {.opts = opts, .err = err, .errlen = errlen};
	enum migrate_result result = MIGRATE_ERROR;
	int64_t start = clock_mono_ms();
	bool finished = false;
	int rc;

	err[0] = '\0';
	m.to = db_target_shown(opts->to);
	m.batch = opts->batch == 0 ? MIGRATE_BATCH_DEFAULT : opts->batch;
	if (m.batch > MIGRATE_BATCH_MAX)
		m.batch = MIGRATE_BATCH_MAX;
	m.tx_batches = opts->tx_batches == 0 ? MIGRATE_TX_BATCHES_DEFAULT : opts->tx_batches;
	if (open_source(&m) < 0 || load_tables(&m) < 0 || open_target(&m, &finished) < 0)
		goto out_close;
	if (finished)
		progress(&m, "'%s' already holds a verified copy of '%s': verifying again", m.to,
		         opts->from);
	if (create_days(&m) < 0)
		goto out_close;
	for (size_t i = 0; i < NTABLES; i++) {
		rc = copy_table(&m, &m.tables[i]);
		if (rc < 0)
			goto out_close;
		if (rc == 1) {
			result = MIGRATE_STOPPED;
			goto out_close;
		}
	}
	rc = verify(&m);
	if (rc < 0)
		goto out_close;
	if (rc == 1) {
		result = MIGRATE_MISMATCH;
		goto out_close;
	}
	if (record_finished(&m) < 0)
		goto out_close;
	progress(&m, "done: %" PRId64 " rows copied in %.1f s, %zu tables verified", m.copied,
	         (double)(clock_mono_ms() - start) / 1000.0, NTABLES);
	result = MIGRATE_OK;

out_close:
	if (m.src != NULL)
		db_rollback(m.src);
	db_close(m.src);
	db_close(m.dst);
	free(m.to);
	for (size_t i = 0; i < NTABLES; i++) {
		for (size_t c = 0; c < m.tables[i].ncols; c++)
			free(m.tables[i].cols[c].name);
		free(m.tables[i].cols);
	}
	return result;
}
