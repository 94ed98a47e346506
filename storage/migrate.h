/* storage/migrate.h: copy a leakprofd SQLite history into PostgreSQL (`leakprofd migrate-db`).
 *
 * The SQLite file is opened read-only and read in one transaction (a consistent snapshot); its
 * schema version must be the one this build writes. The PostgreSQL database is migrated
 * (schema_pg_migrate()), given the day partitions the source's scrapes need, and filled table by
 * table in foreign-key order, each table in the order of its primary key, in multi-row INSERTs of
 * bound parameters, several to a transaction; ids are kept and the identity sequences set past
 * them. A copy stopped anywhere (a kill, a lost server) resumes where it stopped: a table goes on
 * after the greatest key PostgreSQL holds of it, every transaction having committed whole rows in
 * key order. The target records which source it is a copy of (table leakprofd_migration) and a
 * database that holds other data (a daemon's own) is refused. At the end the row count and the sum
 * of the first key column of every table are compared between the two. */
#ifndef MIGRATE_H
#define MIGRATE_H

#include <stddef.h>
#include <stdio.h>

/* What migrate_run() did. */
enum migrate_result {
	MIGRATE_ERROR = -1,   /* refused or failed: the reason in 'err' */
	MIGRATE_OK = 0,       /* copied (or already copied) and verified */
	MIGRATE_STOPPED = 1,  /* stopped by stop_after (tests): resumable */
	MIGRATE_MISMATCH = 2, /* copied, but a table differs: 'err' names it */
};

#define MIGRATE_BATCH_DEFAULT 500 /* rows per INSERT */
#define MIGRATE_BATCH_MAX 5000
#define MIGRATE_TX_BATCHES_DEFAULT 20 /* INSERTs per transaction */

struct migrate_options {
	const char *from;    /* the SQLite file (a path, not a URI) */
	const char *to;      /* a PostgreSQL URI or libpq key=value string */
	unsigned batch;      /* rows per INSERT; 0: MIGRATE_BATCH_DEFAULT (at most _MAX) */
	unsigned tx_batches; /* INSERTs per transaction; 0: MIGRATE_TX_BATCHES_DEFAULT */
	unsigned stop_after; /* tests: stop after this many committed transactions (0: never) */
	FILE *progress;      /* progress and the summary, or NULL for none. Borrowed. */
};

/* Copy opts->from into opts->to as the header says. A migrate_result; on MIGRATE_ERROR and
 * MIGRATE_MISMATCH the reason, naming the file, the database or the table, is in 'err'. */
enum migrate_result migrate_run(const struct migrate_options *opts, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
