/* tests/testutil.c: temporary directories and files for the unit test suites, and the database
 * a store-backed test keeps its store in (a SQLite file, or a PostgreSQL database of its own). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/db.h"
#include "tests/testutil.h"

void
testutil_mkdtemp(char *dir, size_t n, const char *name)
{
	ck_assert_int_lt(snprintf(dir, n, "/tmp/%s.XXXXXX", name), (int)n);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* The PostgreSQL databases testutil_store_target() made in this process and not dropped yet, each
 * with the directory it goes with. */
struct made_db {
	char dir[256];
	char name[64];
	char target[1024];
};
static struct made_db made[32];
static size_t nmade;

static void drop_made(size_t i);

void
testutil_rmtree(const char *dir)
{
	char cmd[600];

	ck_assert_ptr_null(strchr(dir, '\''));
	ck_assert_int_lt(snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir), (int)sizeof(cmd));
	ck_assert_int_eq(system(cmd), 0);
	for (size_t i = nmade; i-- > 0;)
		if (strcmp(made[i].dir, dir) == 0)
			drop_made(i);
}

void
testutil_write(const char *dir, const char *name, const void *data, size_t len, char *path,
               size_t pathlen)
{
	char full[512], tmp[520];
	FILE *f;

	ck_assert_int_lt(snprintf(full, sizeof(full), "%s/%s", dir, name), (int)sizeof(full));
	snprintf(tmp, sizeof(tmp), "%s.new", full);
	f = fopen(tmp, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, full), 0);
	if (path != NULL)
		ck_assert_int_lt(snprintf(path, pathlen, "%s", full), (int)pathlen);
}

bool
testutil_pg_off(void)
{
	const char *v = getenv("LEAKPROFD_PG");

	return v != NULL && strcmp(v, "off") == 0;
}

const char *
testutil_pg_uri(void)
{
	const char *uri = getenv("LEAKPROFD_PG_URI");

	if (uri == NULL || uri[0] == '\0')
		ck_abort_msg(
		    "LEAKPROFD_PG_URI is not set: run the suite through 'make unit' (or "
		    "tests/pg/with_pg.sh), which starts a PostgreSQL server for it, or set "
		    "LEAKPROFD_PG=off to leave PostgreSQL out");
	return uri;
}

bool
testutil_backend_pg(void)
{
	const char *v = getenv("LEAKPROFD_TEST_BACKEND");

	return v != NULL && strcmp(v, "pg") == 0;
}

bool
testutil_sqlite_only(const char *test, const char *why)
{
	if (!testutil_backend_pg())
		return false;
	fprintf(stderr, "%s: SQLite only, left out on PostgreSQL: %s\n", test, why);
	return true;
}

/* Run 'sql' on the test server's own database (LEAKPROFD_PG_URI), as its superuser. */
static void
pg_admin_exec(const char *sql)
{
	char err[512];
	struct db *db = db_open(testutil_pg_uri(), err, sizeof(err));

	ck_assert_msg(db != NULL, "%s", err);
	testutil_db_exec(db, sql);
	db_close(db);
}

/* The test server's URI (or key=value string) naming database 'name' instead of its own. */
static void
pg_database_target(char *out, size_t n, const char *name)
{
	const char *uri = testutil_pg_uri(), *auth, *end;
	int len;

	if (strncmp(uri, "postgres", 8) == 0) {
		auth = strstr(uri, "://");
		ck_assert_ptr_nonnull(auth);
		end = auth + 3 + strcspn(auth + 3, "/?#");
		len = snprintf(out, n, "%.*s/%s%s", (int)(end - uri), uri, name,
		               end[0] == '/' ? end + strcspn(end, "?#") : end);
	} else {
		len = snprintf(out, n, "%s dbname=%s", uri, name); /* the last dbname wins */
	}
	ck_assert_int_lt(len, (int)n);
}

static void
drop_made(size_t i)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", made[i].name);
	pg_admin_exec(sql);
	made[i] = made[--nmade];
}

void
testutil_store_target(char *out, size_t n, const char *dir, const char *name)
{
	static unsigned seq;
	struct made_db *m;
	char sql[160], dbname[64];

	if (!testutil_backend_pg()) {
		ck_assert_int_lt(snprintf(out, n, "%s/%s", dir, name), (int)n);
		return;
	}
	ck_assert_uint_lt(nmade, sizeof(made) / sizeof(made[0]));
	m = &made[nmade];
	ck_assert_int_lt(snprintf(m->dir, sizeof(m->dir), "%s", dir), (int)sizeof(m->dir));
	/* unique among the tests running at once (one process each); one a killed run left is
	 * dropped first */
	snprintf(dbname, sizeof(dbname), "leakprofd_test_%ld_%u", (long)getpid(), ++seq);
	pg_database_target(m->target, sizeof(m->target), dbname);
	snprintf(m->name, sizeof(m->name), "%s", dbname);
	ck_assert_int_lt(snprintf(out, n, "%s", m->target), (int)n);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", m->name);
	pg_admin_exec(sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", m->name);
	pg_admin_exec(sql);
	nmade++;
}

void
testutil_store_drop(const char *target)
{
	char p[1100];

	if (!db_target_is_postgres(target)) {
		unlink(target);
		snprintf(p, sizeof(p), "%s-wal", target);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", target);
		unlink(p);
		return;
	}
	for (size_t i = 0; i < nmade; i++) {
		if (strcmp(made[i].target, target) == 0) {
			drop_made(i);
			return;
		}
	}
}

void
testutil_db_exec(struct db *db, const char *sql)
{
	ck_assert_msg(db_exec(db, sql) == 0, "'%s': %s", sql, db_errmsg(db));
}

struct db_stmt *
testutil_db_prepare(struct db *db, const char *sql)
{
	struct db_stmt *stmt = db_prepare(db, sql);

	ck_assert_msg(stmt != NULL, "preparing '%s': %s", sql, db_errmsg(db));
	return stmt;
}

int64_t
testutil_db_int(struct db *db, const char *sql)
{
	struct db_stmt *stmt = testutil_db_prepare(db, sql);
	enum db_step_result rc = db_step(stmt);
	int64_t v;

	ck_assert_msg(rc == DB_ROW, "'%s': no row: %s", sql, db_errmsg(db));
	v = db_column_int64(stmt, 0);
	db_finalize(stmt);
	return v;
}
