/* storage/schema_pg.h: the PostgreSQL schema, its migrations and its partitions by day.
 *
 * storage/schema_pg.sql is the schema as SQLite's stands after every migration of store.c, and each
 * later SQLite migration has its twin here, under the same version number: a PostgreSQL database
 * holds in schema_version the user_version a SQLite one would, and tests/check_schema.c fails when
 * the two disagree on a table, a column, a key or an index. The raw tables (scrapes and the rows of
 * a scrape) are partitioned by UTC day so that retention drops a day whole: the design is written
 * at the top of schema_pg.sql. */
#ifndef SCHEMA_PG_H
#define SCHEMA_PG_H

#include <stddef.h>
#include <stdint.h>

#include "storage/db.h"

/* A day partition's width in ms: day N holds scrapes with ts in [N * this, (N + 1) * this). */
#define SCHEMA_PG_DAY_MS 86400000LL

/* The version schema_pg_migrate() brings a database to (the SQLite store's user_version). */
int schema_pg_version(void);

/* The version of the schema in the connection's current schema: 0 when it has no schema_version
 * and no table; a schema with tables but no schema_version is refused (another program's). Writes
 * nothing (a read-only connection may ask). 0, or -1 with the reason in 'err'. */
int schema_pg_read_version(struct db *db, int64_t *version, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Create the schema in the connection's current schema (the first of its search_path), or
 * migrate it to schema_pg_version(), in one transaction that holds an advisory lock (two daemons
 * starting at once migrate once). Refuses a schema that has tables but no schema_version (another
 * program's), or a version newer than this build knows. 0, or -1 with the reason in 'err'. */
int schema_pg_migrate(struct db *db, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Create the missing day partitions of every partitioned table for the days from 'from_ms' to
 * 'to_ms' (both included; the store creates today's and tomorrow's ahead of the scrapes that need
 * them). The number of partitions created, or -1 with the reason in 'err'. */
int schema_pg_create_days(struct db *db, int64_t from_ms, int64_t to_ms, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Drop the day partitions that lie wholly before 'before_ms', each day's children first: a day with
 * a scrape not rolled up yet (scrapes.rolled = 0) is kept whole. The number of days dropped, or -1
 * with the reason in 'err'. Run outside a transaction: each day is dropped in one of its own. */
int schema_pg_drop_days_before(struct db *db, int64_t before_ms, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The day 'ms' (Unix ms) falls in, the number of its partitions (floor division: a time before
 * 1970 is in a negative day). */
int64_t schema_pg_day(int64_t ms);

#endif
