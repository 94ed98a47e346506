/* tests/testutil.h: what the unit test suites share: a temporary directory per test and files written into it
 * the way configuration tools write them. Each helper fails the running Check test on error. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Make a fresh directory "/tmp/<name>.XXXXXX" into 'dir' (at least 64 bytes). */
void testutil_mkdtemp(char *dir, size_t n, const char *name);
/* Remove 'dir' and everything below it, and drop the PostgreSQL databases testutil_store_target()
 * made for it. */
void testutil_rmtree(const char *dir);
/* Write 'len' bytes to dir/name through a rename (a new inode, as config management tools write files); the
 * path goes to 'path' when it is not NULL. */
void testutil_write(const char *dir, const char *name, const void *data, size_t len, char *path, size_t pathlen);

/* The PostgreSQL test server (tests/pg/with_pg.sh): whether LEAKPROFD_PG=off leaves it out, and its URI
 * (LEAKPROFD_PG_URI; unset fails the test, saying how to run one). */
bool testutil_pg_off(void);
const char *testutil_pg_uri(void);

/* The backend the store-backed suites run on: PostgreSQL when LEAKPROFD_TEST_BACKEND=pg, else
 * SQLite. */
bool testutil_backend_pg(void);
/* A test of what only SQLite has (its files, PRAGMAs, query plans, migrations): true on
 * PostgreSQL, after saying on stderr that 'test' is left out and why, for the test to return. */
bool testutil_sqlite_only(const char *test, const char *why);
/* Where a test keeps its store: the SQLite file 'dir'/'name' or, on PostgreSQL
 * (testutil_backend_pg()), a fresh empty database of its own on the test server (CREATE DATABASE
 * through LEAKPROFD_PG_URI's), named by a URI. Into 'out' ('n' bytes). The database is dropped by
 * testutil_rmtree('dir') or testutil_store_drop(), else with the test server. */
void testutil_store_target(char *out, size_t n, const char *dir, const char *name);
/* Drop what testutil_store_target() made for 'target': its PostgreSQL database, or the SQLite
 * file with its -wal and -shm. */
void testutil_store_drop(const char *target);

/* storage/db.h: run 'sql' (no rows), or prepare it; a failure fails the test, naming the SQL. */
struct db;
struct db_stmt;
void testutil_db_exec(struct db *db, const char *sql);
struct db_stmt *testutil_db_prepare(struct db *db, const char *sql);
/* The first column of the one row 'sql' returns (no parameters), as an integer. */
int64_t testutil_db_int(struct db *db, const char *sql);


/* SQL undoing SQLite's shards migration (storage/store.c, migration_shards_sql), for the tests
 * that take a database back to an earlier version and migrate it again. */
#define TESTUTIL_DROP_SHARDS                                                                       \
	" DROP TABLE daemons; DROP INDEX rankings_shard; ALTER TABLE rankings DROP COLUMN shards;" \
	" ALTER TABLE rankings DROP COLUMN shard; ALTER TABLE targets DROP COLUMN shard;"          \
	" ALTER TABLE outbox DROP COLUMN claim_until; ALTER TABLE outbox DROP COLUMN claimed_by;"

#endif
