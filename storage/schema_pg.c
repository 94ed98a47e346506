/* storage/schema_pg.c: the PostgreSQL schema's migrations and its day partitions. See
 * schema_pg.h; the design (what is partitioned, on what, and what the keys become) is written at
 * the top of schema_pg.sql. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/xalloc.h"
#include "storage/schema_pg.h"

/* clang-format off */
static const char schema_sql[] =
#include "storage/schema_pg.sql.inc"
;
/* clang-format on */

/* One migration: it brings a database to 'version', the SQLite migration of that number's twin. */
struct pg_migration {
	int version;
	const char *sql;
};

/* Any constant: the key of the advisory lock making and dropping day partitions take in turn. */
#define DAYS_LOCK_KEY "7809847927456342020"

/* In order, versions consecutive. The first creates the whole schema in an empty database, at the
 * version SQLite's migrations had reached when PostgreSQL came (SQLite's 11: restart_moves); each
 * later one applies to a database of the version before it. Never edit a released one. A
 * partitioned table added later goes into leakprofd_partitioned() too (CREATE OR REPLACE), with
 * the partitions of the days that exist. */
static const struct pg_migration migrations[] = {
    {.version = 11, .sql = schema_sql},
    /* SQLite's migration_shards_sql (storage/store.c): several daemons on one database */
    {.version = 12,
     .sql = "ALTER TABLE targets ADD COLUMN shard BIGINT NOT NULL DEFAULT 0;"
            "ALTER TABLE rankings ADD COLUMN shard BIGINT NOT NULL DEFAULT 0;"
            "ALTER TABLE rankings ADD COLUMN shards BIGINT NOT NULL DEFAULT 1;"
            "CREATE INDEX rankings_shard ON rankings (shards, shard, id);"
            "ALTER TABLE outbox ADD COLUMN claimed_by TEXT;"
            "ALTER TABLE outbox ADD COLUMN claim_until BIGINT;"
            "CREATE TABLE daemons ("
            " shard BIGINT NOT NULL PRIMARY KEY,"
            " shards BIGINT NOT NULL,"
            " owner TEXT NOT NULL,"
            " host TEXT NOT NULL,"
            " pid BIGINT NOT NULL,"
            " listen TEXT NOT NULL,"
            " version TEXT NOT NULL,"
            " started BIGINT NOT NULL,"
            " heartbeat BIGINT NOT NULL,"
            " stopped BIGINT,"
            " scrape_mark BIGINT NOT NULL DEFAULT 0,"
            " move_mark BIGINT NOT NULL DEFAULT 0);"
            /* The raw tables' references to their scrape go (schema_pg.sql): each cost more
             * than the rest of its row's insert, on a partitioned table. */
            "ALTER TABLE samples DROP CONSTRAINT IF EXISTS samples_scrape_id_scrape_ts_fkey;"
            "ALTER TABLE sample_stacks DROP CONSTRAINT IF EXISTS"
            " sample_stacks_scrape_id_scrape_ts_fkey;"
            "ALTER TABLE label_samples DROP CONSTRAINT IF EXISTS"
            " label_samples_scrape_id_scrape_ts_fkey;"
            "ALTER TABLE restart_moves DROP CONSTRAINT IF EXISTS"
            " restart_moves_scrape_id_scrape_ts_fkey;"
            /* Daemons sharing the database make and drop day partitions at once: each
             * function takes its turn (a transaction-level advisory lock), or two CREATE
             * TABLE IF NOT EXISTS of one day race and one fails. Otherwise as before. */
            "CREATE OR REPLACE FUNCTION leakprofd_create_day(day BIGINT) RETURNS INTEGER"
            " LANGUAGE plpgsql AS $$"
            " DECLARE tbl TEXT; made INTEGER := 0;"
            " BEGIN"
            "  PERFORM pg_advisory_xact_lock(" DAYS_LOCK_KEY ");"
            "  FOREACH tbl IN ARRAY leakprofd_partitioned() LOOP"
            "   IF to_regclass(quote_ident(leakprofd_partition_name(tbl, day))) IS NULL THEN"
            "    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF %I"
            " FOR VALUES FROM (%s) TO (%s)',"
            "                   leakprofd_partition_name(tbl, day), tbl, day * 86400000,"
            "                   (day + 1) * 86400000);"
            "    made := made + 1;"
            "   END IF;"
            "  END LOOP;"
            "  RETURN made;"
            " END $$;"
            "CREATE OR REPLACE FUNCTION leakprofd_drop_day(day BIGINT) RETURNS BOOLEAN"
            " LANGUAGE plpgsql AS $$"
            " DECLARE tbl TEXT; part TEXT; unrolled BOOLEAN;"
            " BEGIN"
            "  PERFORM pg_advisory_xact_lock(" DAYS_LOCK_KEY ");"
            "  part := leakprofd_partition_name('scrapes', day);"
            "  IF to_regclass(quote_ident(part)) IS NOT NULL THEN"
            "   EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE rolled = 0)', part)"
            "    INTO unrolled;"
            "   IF unrolled THEN RETURN false; END IF;"
            "  END IF;"
            "  FOREACH tbl IN ARRAY leakprofd_partitioned() LOOP"
            "   CONTINUE WHEN tbl = 'scrapes';"
            "   EXECUTE format('DROP TABLE IF EXISTS %I', leakprofd_partition_name(tbl, day));"
            "  END LOOP;"
            "  IF to_regclass(quote_ident(part)) IS NOT NULL THEN"
            "   EXECUTE format('ALTER TABLE scrapes DETACH PARTITION %I', part);"
            "   EXECUTE format('DROP TABLE %I', part);"
            "  END IF;"
            "  RETURN true;"
            " END $$"},
};
#define NMIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

/* Any constant: the key of the advisory lock that serializes migrations. */
#define MIGRATE_LOCK_KEY "7809847927456342017"

int
schema_pg_version(void)
{
	return migrations[NMIGRATIONS - 1].version;
}

static int
fail(struct db *db, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, db_errmsg(db));
	return -1;
}

/* The single integer 'sql' answers into *v; 'arg', when not NULL, is its parameter ?1. 0, or -1
 * (db_errmsg()). */
static int
query_int(struct db *db, const char *sql, const int64_t *arg, int64_t *v)
{
	struct db_stmt *stmt = db_prepare(db, sql);

	if (stmt == NULL)
		return -1;
	if (arg != NULL && db_bind_int64(stmt, 1, *arg) < 0)
		return -1;
	if (db_step(stmt) != DB_ROW) {
		db_reset(stmt);
		return -1;
	}
	*v = db_column_int64(stmt, 0);
	db_reset(stmt);
	return 0;
}

int
schema_pg_read_version(struct db *db, int64_t *version, char *err, size_t errlen)
{
	int64_t has, tables;

	if (query_int(db,
	              "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
	              " AND tablename = 'schema_version'",
	              NULL, &has) < 0)
		return fail(db, err, errlen, "reading the schema version");
	if (has == 0) {
		/* Never write our tables into another program's schema. */
		if (query_int(db,
		              "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()",
		              NULL, &tables) < 0)
			return fail(db, err, errlen, "reading the schema");
		if (tables > 0) {
			snprintf(err, errlen,
			         "not a leakprofd database (schema has %" PRId64
			         " tables but no leakprofd schema_version)",
			         tables);
			return -1;
		}
		*version = 0;
		return 0;
	}
	if (query_int(db, "SELECT version FROM schema_version", NULL, version) < 0)
		return fail(db, err, errlen, "reading the schema version");
	return 0;
}

int
schema_pg_migrate(struct db *db, char *err, size_t errlen)
{
	int64_t version, ignored;
	char what[64];
	struct db_stmt *stmt;

	if (db_begin(db) < 0)
		return fail(db, err, errlen, "starting the migration");
	if (query_int(db, "SELECT 0 FROM pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", NULL,
	              &ignored) < 0) {
		fail(db, err, errlen, "locking the schema");
		goto out_rollback;
	}
	if (schema_pg_read_version(db, &version, err, errlen) < 0)
		goto out_rollback;
	if (version > schema_pg_version()) {
		snprintf(err, errlen,
		         "database schema version %" PRId64
		         " is newer than this leakprofd supports (%d): upgrade leakprofd",
		         version, schema_pg_version());
		goto out_rollback;
	}
	for (size_t i = 0; i < NMIGRATIONS; i++) {
		const struct pg_migration *m = &migrations[i];

		if (m->version <= version)
			continue;
		if (i == 0 ? version != 0 : version != migrations[i - 1].version) {
			snprintf(err, errlen, "no migration from schema version %" PRId64 " to %d",
			         version, m->version);
			goto out_rollback;
		}
		if (db_exec(db, m->sql) < 0) {
			snprintf(what, sizeof(what), "applying schema migration %d", m->version);
			fail(db, err, errlen, what);
			goto out_rollback;
		}
		stmt = db_prepare(db, i == 0 ? "INSERT INTO schema_version (version) VALUES (?1)"
		                             : "UPDATE schema_version SET version = ?1");
		if (stmt == NULL || db_bind_int64(stmt, 1, m->version) < 0 ||
		    db_step(stmt) != DB_DONE) {
			db_reset(stmt);
			fail(db, err, errlen, "setting the schema version");
			goto out_rollback;
		}
		db_reset(stmt);
		version = m->version;
	}
	if (db_commit(db) < 0)
		return fail(db, err, errlen, "committing the migration");
	return 0;

out_rollback:
	db_rollback(db);
	return -1;
}

/* The day 'ms' falls in (floor division: a time before 1970 is in a negative day). */
static int64_t
day_of(int64_t ms)
{
	return ms >= 0 ? ms / SCHEMA_PG_DAY_MS : -((-ms + SCHEMA_PG_DAY_MS - 1) / SCHEMA_PG_DAY_MS);
}

int
schema_pg_create_days(struct db *db, int64_t from_ms, int64_t to_ms, char *err, size_t errlen)
{
	int64_t made, total = 0;

	for (int64_t day = day_of(from_ms); day <= day_of(to_ms); day++) {
		if (query_int(db, "SELECT leakprofd_create_day(?1)", &day, &made) < 0)
			return fail(db, err, errlen, "creating a day's partitions");
		total += made;
	}
	return (int)total;
}

int
schema_pg_drop_days_before(struct db *db, int64_t before_ms, char *err, size_t errlen)
{
	struct db_stmt *stmt;
	int64_t *days = NULL, dropped;
	size_t n = 0, cap = 0;
	int done = 0;
	char what[96];

	/* The days first: each is dropped in a transaction of its own. */
	stmt = db_prepare(db, "SELECT d FROM leakprofd_days() AS d WHERE d < ?1");
	if (stmt == NULL || db_bind_int64(stmt, 1, day_of(before_ms)) < 0)
		return fail(db, err, errlen, "listing the day partitions");
	for (;;) {
		enum db_step_result rc = db_step(stmt);

		if (rc == DB_DONE)
			break;
		if (rc != DB_ROW) {
			db_reset(stmt);
			free(days);
			return fail(db, err, errlen, "listing the day partitions");
		}
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			days = xrealloc(days, cap * sizeof(*days));
		}
		days[n++] = db_column_int64(stmt, 0);
	}
	db_reset(stmt);
	for (size_t i = 0; i < n; i++) {
		snprintf(what, sizeof(what), "dropping the partitions of day %" PRId64, days[i]);
		if (db_begin(db) < 0) {
			done = fail(db, err, errlen, what);
			break;
		}
		if (query_int(db, "SELECT leakprofd_drop_day(?1)", &days[i], &dropped) < 0) {
			done = fail(db, err, errlen, what);
			db_rollback(db);
			break;
		}
		if (db_commit(db) < 0) {
			done = fail(db, err, errlen, what);
			break;
		}
		done += dropped != 0;
	}
	free(days);
	return done;
}

int64_t
schema_pg_day(int64_t ms)
{
	return day_of(ms);
}
