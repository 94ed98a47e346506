/* tests/testutil.c: temporary directories and files for the unit test suites. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/db.h"
#include "tests/testutil.h"

void
testutil_mkdtemp(char *dir, size_t n, const char *name)
{
	ck_assert_int_lt(snprintf(dir, n, "/tmp/%s.XXXXXX", name), (int)n);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

void
testutil_rmtree(const char *dir)
{
	char cmd[600];

	ck_assert_ptr_null(strchr(dir, '\''));
	ck_assert_int_lt(snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir), (int)sizeof(cmd));
	ck_assert_int_eq(system(cmd), 0);
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
