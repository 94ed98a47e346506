/* tests/check_migrate.c: `leakprofd migrate-db` (storage/migrate.h) from a SQLite file the store
 * wrote into a real PostgreSQL server (make unit names it in LEAKPROFD_PG_URI; each test copies
 * into a database of its own, created fresh). The source is written through the store's own API
 * (scrapes with call sites, label sets and a goid restart across two days, failed scrapes, the
 * rollups of retention, a ranking, an alert and its notification), so that every table has rows;
 * after a copy each table is compared row by row, column by column. Without LEAKPROFD_PG_URI the
 * suite fails, saying so, unless LEAKPROFD_PG=off leaves PostgreSQL out. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "collector/profile.h"
#include "storage/alertstore.h"
#include "storage/db.h"
#include "storage/migrate.h"
#include "storage/schema_pg.h"
#include "storage/store.h"

#define MIN 60000LL
#define HOUR 3600000LL
#define DAY 86400000LL
#define T0 1789948800000LL /* a fixed time at the start of a UTC day (ms) */

/* Every table of the SQLite schema. */
static const char *const tables[] = {
    "services", "targets",      "scrapes",       "stacks",        "locations",     "samples",
    "rollups",  "rollup_hours", "rollup_stacks", "rankings",      "suspects",      "alerts",
    "outbox",   "labelsets",    "label_samples", "sample_stacks", "restart_moves",
};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

static char tmpdir[256];
static char srcpath[300];
static char dbname[64];
static char target[1024];

static void
setup(void)
{
	testutil_mkdtemp(tmpdir, sizeof(tmpdir), "check_migrate");
	snprintf(srcpath, sizeof(srcpath), "%s/leak'prof ü.db", tmpdir);
	snprintf(dbname, sizeof(dbname), "check_migrate_%ld", (long)getpid());
	target[0] = '\0';
}

static struct db *
open_target(const char *t)
{
	char err[512];
	struct db *db = db_open(t, err, sizeof(err));

	ck_assert_msg(db != NULL, "'%s': %s", t, err);
	return db;
}

/* Drop the test's database (and create it again when 'create'), as the server's superuser. */
static void
reset_database(bool create)
{
	struct db *admin = open_target(testutil_pg_uri());
	char sql[256];

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
	testutil_db_exec(admin, sql);
	if (create) {
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
		testutil_db_exec(admin, sql);
	}
	db_close(admin);
}

static void
teardown(void)
{
	if (target[0] != '\0')
		reset_database(false);
	testutil_rmtree(tmpdir);
}

/* A fresh, empty database of the test's into 'target' (the server's URI naming it instead);
 * false when PostgreSQL is left out. */
static bool
fresh_target(void)
{
	const char *uri;
	const char *slash, *query;

	if (testutil_pg_off())
		return false;
	uri = testutil_pg_uri();
	reset_database(true);
	if (strncmp(uri, "postgres", 8) == 0) {
		query = strchr(uri, '?');
		slash = strrchr(uri, '/');
		ck_assert_ptr_nonnull(slash);
		snprintf(target, sizeof(target), "%.*s/%s%s", (int)(slash - uri), uri, dbname,
		         query != NULL ? query : "");
	} else {
		snprintf(target, sizeof(target), "%s dbname=%s", uri, dbname);
	}
	return true;
}

/* ---- The source: a history written by the store ---- */

static const struct frame stack_a[] = {
    {"runtime.gopark", "/usr/lib/go/src/runtime/proc.go", 363},
    {"runtime.chansend", "/usr/lib/go/src/runtime/chan.go", 259},
    {"main.leakSend", "/src/app/leak.go", 42},
    {"main.handler.func1", "/src/app/handler \"ü\".go", 17},
};
static const struct frame stack_b[] = {
    {"runtime.gopark", "/usr/lib/go/src/runtime/proc.go", 363},
    {"main.pool.worker", "/src/app/pool.go", 88},
};
static const struct frame stack_c[] = {
    {"runtime.gopark", "/usr/lib/go/src/runtime/proc.go", 363},
    {"main.leakSend", "/src/app/leak.go", 42},
    {"main.otherCaller", "/src/app/other's.go", 5},
};

static struct prof_location
loc(const char *fn, const char *file, uint32_t line, const char *op, uint64_t count,
    const struct frame *stack, size_t nstack)
{
	return (struct prof_location){
	    .loc = {.function = fn, .file = file, .line = line},
	    .op = op,
	    .op_class = OP_CLASS_CHAN,
	    .count = count,
	    .max_wait_minutes = -1,
	    .min_wait_minutes = -1,
	    .median_wait_minutes = -1,
	    .stack = stack,
	    .nstack = nstack,
	};
}

static void
add(struct store *st, int64_t t, int64_t ts, struct prof_location *l, size_t n, uint64_t max_goid)
{
	struct profile p = {.format = max_goid > 0 ? PROFILE_FORMAT_DEBUG2 : PROFILE_FORMAT_PROTO,
	                    .kind = PROFILE_KIND_GOROUTINE,
	                    .locations = l,
	                    .nlocations = n,
	                    .max_goid = max_goid};
	struct scrape_record rec = {.target_id = t,
	                            .ts = ts,
	                            .duration_ms = 12,
	                            .bytes = 3456,
	                            .status = "ok",
	                            .detail = max_goid > 0,
	                            .profile = &p};

	for (size_t i = 0; i < n; i++)
		p.total_goroutines += l[i].count;
	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
}

static int64_t
src_int(const char *sql)
{
	struct db *db = open_target(srcpath);
	struct db_stmt *stmt = testutil_db_prepare(db, sql);
	int64_t v;

	ck_assert_int_eq(db_step(stmt), DB_ROW);
	v = db_column_int64(stmt, 0);
	db_close(db);
	return v;
}

/* Write the source at 'path': two services, 'n' minutes of scrapes each (a goid restart among
 * the first target's, failures on the second's), across the day boundary at T0. */
static void
build_source(const char *path, int n)
{
	static const struct prof_stack leak_stacks[] = {{stack_a, 4, 0}, {stack_c, 3, 0}};
	static const struct prof_labelset leak_labels[] = {
	    {"{\"route\":\"/ü/\\\"q\\\"'s\"}", 0},
	    {"{\"route\":\"/b\"}", 0},
	};
	static const uint64_t goids[] = {30000, 31000, 18000, 17000, 4000};
	struct prof_stack stacks[2];
	struct prof_labelset labels[2];
	struct prof_location l[3];
	struct store *st = store_open(path, 0);
	int64_t ta, tb, t0 = T0 - 30 * MIN, sid, lid;
	struct suspect s[2];
	struct ranking r;
	struct alert_row row = {0};
	struct outbox_new out = {.event_id = "ev-1",
	                         .webhook = "slack \"ops\"",
	                         .status = "firing",
	                         .payload = "{\"text\":\"leak at main.leakSend ü 'x'\"}"};

	ck_assert_ptr_nonnull(st);
	ta = store_target_upsert(st, "payments \"α\"", "{\"team\":\"ünï 'q'\"}", "http://a1:6060");
	tb = store_target_upsert(st, "search", NULL, "http://b1:6060");
	ck_assert_int_gt(ta, 0);
	ck_assert_int_gt(tb, 0);
	for (int i = 0; i < n; i++) {
		uint64_t c = i <= 16 ? 10 * (uint64_t)i : 5 * (uint64_t)(i - 17);

		memcpy(stacks, leak_stacks, sizeof(stacks));
		memcpy(labels, leak_labels, sizeof(labels));
		stacks[0].count = c - c / 3;
		stacks[1].count = c / 3;
		labels[0].count = c / 2;
		labels[1].count = c / 4;
		l[0] = loc("main.pool.worker", "/src/app/pool.go", 88, "chan receive", 2000,
		           stack_b, 2);
		l[1] = loc("main.leakSend", "/src/app/leak.go", 42, "chan send", c, stack_a, 4);
		l[1].stacks = stacks;
		l[1].nstacks = 2;
		l[1].labels = labels;
		l[1].nlabels = 2;
		l[1].labels_other = c - c / 2 - c / 4;
		l[1].max_wait_minutes = i;
		l[1].median_wait_minutes = i / 2;
		l[2] = loc("main.slow", "/src/app/slow.go", 7, "select",
		           i == 17 || i == 18 ? 500 : 0, stack_c, 3);
		add(st, ta, t0 + i * MIN, l, 3, 0);
		if (i % 5 == 0 && i / 5 < 5)
			add(st, ta, t0 + i * MIN + 2000, l, 3, goids[i / 5]);
		if (i % 7 == 3) {
			struct scrape_record rec = {.target_id = tb,
			                            .ts = t0 + i * MIN + 500,
			                            .duration_ms = 10000,
			                            .status = "timeout",
			                            .consecutive_failures = 1};

			ck_assert_int_eq(store_add_scrape(st, &rec), 0);
		} else {
			add(st, tb, t0 + i * MIN + 500, l, 2, 0);
		}
	}
	/* hours rolled up, nothing deleted */
	while (store_retention_step(st, t0 + (n + 180) * MIN, 30 * DAY, 60 * DAY, 1000) > 0)
		;
	store_free(st);

	sid = src_int("SELECT id FROM services WHERE name = 'payments \"α\"'");
	lid = src_int("SELECT id FROM locations WHERE function = 'main.leakSend'");
	st = store_open(path, 0);
	ck_assert_ptr_nonnull(st);
	s[0] = (struct suspect){.rank = 1,
	                        .service_id = sid,
	                        .location_id = lid,
	                        .score = 0.1234567890123456789,
	                        .confirmed = true,
	                        .current_count = 48210,
	                        .growth_per_hour = 1.0 / 3.0,
	                        .monotonicity = 0.95,
	                        .fit = 1e-300,
	                        .oldest_wait_minutes = 340,
	                        .median_wait_minutes = -1,
	                        .first_seen = t0,
	                        .explanation = (char *)"grew 12 → 48,210 in 6 h: \"steady\"",
	                        .sparkline_json = (char *)"[1,2,3]"};
	s[1] = (struct suspect){.rank = 2,
	                        .service_id = sid,
	                        .location_id = lid,
	                        .score = 0.5,
	                        .oldest_wait_minutes = -1,
	                        .median_wait_minutes = -1,
	                        .explanation = (char *)"second"};
	r = (struct ranking){.generated_at = t0 + n * MIN,
	                     .window_seconds = 21600,
	                     .duration_ms = 42,
	                     .suspects = s,
	                     .n = 2};
	ck_assert_int_eq(store_ranking_save(st, &r), 0);
	row.service_id = sid;
	row.location_id = lid;
	snprintf(row.state, sizeof(row.state), "firing");
	row.firing_since = t0 + n * MIN;
	row.last_score = 0.1234567890123456789;
	row.last_count = 48210;
	row.firing_payload = (char *)out.payload;
	ck_assert_int_eq(alertstore_update(st, &row, &out, 1, t0 + n * MIN), 0);
	store_free(st);
}

/* ---- Comparing the copy ---- */

static int64_t
count_rows(struct db *db, const char *table)
{
	char sql[128];
	struct db_stmt *stmt;
	int64_t n;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	stmt = testutil_db_prepare(db, sql);
	ck_assert_int_eq(db_step(stmt), DB_ROW);
	n = db_column_int64(stmt, 0);
	db_finalize(stmt);
	return n;
}

/* Every row of 'table' the same on both sides, column by column (as the source declares the
 * column: integer, real or text), and each row of a scrape with its scrape's ts. The rows
 * compared. */
static int64_t
compare_table(struct db *src, struct db *dst, const char *table)
{
	char cols[1024] = "", order[256] = "", sql[2048], types[64];
	struct db_stmt *info, *a, *b;
	size_t ncols = 0, nkey = 0;
	int64_t rows = 0;

	snprintf(sql, sizeof(sql),
	         "SELECT name, type, pk FROM pragma_table_info('%s') ORDER BY cid", table);
	info = testutil_db_prepare(src, sql);
	while (db_step(info) == DB_ROW) {
		const char *type = db_column_text(info, 1);

		snprintf(cols + strlen(cols), sizeof(cols) - strlen(cols), "%s\"%s\"",
		         ncols > 0 ? ", " : "", db_column_text(info, 0));
		types[ncols++] = strstr(type, "INT") ? 'i' : strstr(type, "REAL") ? 'r' : 't';
		if (db_column_int(info, 2) > 0)
			nkey++;
	}
	db_finalize(info);
	ck_assert_uint_gt(ncols, 0);
	/* the key is the first columns of every table, in key order, but for alerts' (service,
	 * location) too: order by every column, which is as unique */
	for (size_t i = 0; i < ncols; i++)
		snprintf(order + strlen(order), sizeof(order) - strlen(order), "%s%zu",
		         i > 0 ? ", " : "", i + 1);
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", cols, table, order);
	a = testutil_db_prepare(src, sql);
	b = testutil_db_prepare(dst, sql);
	for (;;) {
		enum db_step_result ra = db_step(a), rb = db_step(b);

		ck_assert_int_eq(ra, rb);
		if (ra != DB_ROW)
			break;
		rows++;
		for (size_t i = 0; i < ncols; i++) {
			ck_assert_msg(db_column_is_null(a, (int)i) == db_column_is_null(b, (int)i),
			              "%s row %" PRId64 " column %zu: NULL on one side only", table,
			              rows, i);
			if (types[i] == 'i')
				ck_assert_int_eq(db_column_int64(a, (int)i),
				                 db_column_int64(b, (int)i));
			else if (types[i] == 'r')
				ck_assert_msg(
				    db_column_double(a, (int)i) == db_column_double(b, (int)i),
				    "%s.%zu: %.17g != %.17g", table, i, db_column_double(a, (int)i),
				    db_column_double(b, (int)i));
			else if (!db_column_is_null(a, (int)i))
				ck_assert_str_eq(db_column_text(a, (int)i),
				                 db_column_text(b, (int)i));
		}
	}
	db_finalize(a);
	db_finalize(b);
	ck_assert_uint_gt(nkey, 0);
	return rows;
}

/* The copy at 'target' equals the source, every table non-empty. */
static void
assert_copy_equal(void)
{
	struct db *src = open_target(srcpath), *dst = open_target(target);
	struct db_stmt *stmt;

	for (size_t i = 0; i < NTABLES; i++) {
		int64_t n = count_rows(src, tables[i]);

		ck_assert_msg(n > 0, "the source's table %s is empty", tables[i]);
		ck_assert_msg(count_rows(dst, tables[i]) == n,
		              "%s: %" PRId64 " rows, want %" PRId64, tables[i],
		              count_rows(dst, tables[i]), n);
		ck_assert_int_eq(compare_table(src, dst, tables[i]), n);
	}
	/* each row of a scrape carries its scrape's ts */
	stmt = testutil_db_prepare(dst, "SELECT count(*) FROM samples x JOIN scrapes s"
	                                " ON s.id = x.scrape_id AND s.ts = x.scrape_ts");
	ck_assert_int_eq(db_step(stmt), DB_ROW);
	ck_assert_int_eq(db_column_int64(stmt, 0), count_rows(src, "samples"));
	db_finalize(stmt);
	db_close(src);
	db_close(dst);
}

static enum migrate_result
run(unsigned batch, unsigned tx_batches, unsigned stop_after, char *err, size_t errlen)
{
	struct migrate_options o = {.from = srcpath,
	                            .to = target,
	                            .batch = batch,
	                            .tx_batches = tx_batches,
	                            .stop_after = stop_after};

	return migrate_run(&o, err, errlen);
}

/* ---- Tests ---- */

/* Every table copied as it is (ids, text with quotes and non-ASCII letters, NULLs, doubles to the
 * last bit), the scrapes' rows in the day partitions of both days, and the identity sequences
 * past the ids copied: the daemon's next rows take new ids. */
START_TEST(test_copy)
{
	char err[1024];
	struct db *dst;
	struct db_stmt *stmt;

	if (!fresh_target())
		return;
	build_source(srcpath, 60);
	ck_assert_msg(run(7, 3, 0, err, sizeof(err)) == MIGRATE_OK, "%s", err);
	assert_copy_equal();

	dst = open_target(target);
	/* minutes 30 to 59: the count scrapes of both targets (timeouts included) */
	ck_assert_int_eq(count_rows(dst, "scrapes_p20260921"), 30 * 2);
	stmt = testutil_db_prepare(dst, "SELECT score, fit, oldest_wait_minutes IS NULL,"
	                                " median_wait_minutes IS NULL, explanation FROM suspects"
	                                " WHERE rank = 1");
	ck_assert_int_eq(db_step(stmt), DB_ROW);
	ck_assert(db_column_double(stmt, 0) == 0.1234567890123456789);
	ck_assert(db_column_double(stmt, 1) == 1e-300);
	ck_assert_int_eq(db_column_int(stmt, 2), 0);
	ck_assert_int_eq(db_column_int(stmt, 3), 1);
	ck_assert_str_eq(db_column_text(stmt, 4), "grew 12 → 48,210 in 6 h: \"steady\"");
	db_finalize(stmt);
	testutil_db_exec(dst, "INSERT INTO services (name) VALUES ('new')");
	stmt = testutil_db_prepare(dst, "SELECT id FROM services WHERE name = 'new'");
	ck_assert_int_eq(db_step(stmt), DB_ROW);
	ck_assert_int_eq(db_column_int64(stmt, 0), 3);
	db_finalize(stmt);
	stmt = testutil_db_prepare(dst,
	                           "SELECT source, finished IS NOT NULL FROM leakprofd_migration");
	ck_assert_int_eq(db_step(stmt), DB_ROW);
	ck_assert_ptr_nonnull(strstr(db_column_text(stmt, 0), "leak'prof ü.db"));
	ck_assert_int_eq(db_column_int(stmt, 1), 1);
	db_finalize(stmt);
	db_close(dst);
}
END_TEST

/* A copy stopped after a few transactions, anywhere in any table, goes on where it stopped when
 * run again: no row twice, none missing; a finished copy run again copies nothing. */
START_TEST(test_resume)
{
	char err[1024];
	enum migrate_result rc;
	int64_t before, after;
	struct db *dst;
	int runs = 0;

	if (!fresh_target())
		return;
	build_source(srcpath, 60);
	rc = run(5, 2, 3, err, sizeof(err));
	ck_assert_msg(rc == MIGRATE_STOPPED, "%d: %s", rc, err);
	dst = open_target(target);
	before =
	    count_rows(dst, "services") + count_rows(dst, "targets") + count_rows(dst, "scrapes");
	ck_assert_int_gt(before, 0);
	ck_assert_int_eq(count_rows(dst, "samples"), 0);
	db_close(dst);
	/* stop every 4 transactions until done: in the middle of the scrapes' rows too */
	do {
		rc = run(5, 2, 4, err, sizeof(err));
		runs++;
		ck_assert_msg(rc == MIGRATE_STOPPED || rc == MIGRATE_OK, "%d: %s", rc, err);
		ck_assert_int_lt(runs, 500);
	} while (rc == MIGRATE_STOPPED);
	ck_assert_int_gt(runs, 10);
	assert_copy_equal();

	dst = open_target(target);
	before = count_rows(dst, "samples");
	db_close(dst);
	ck_assert_msg(run(0, 0, 0, err, sizeof(err)) == MIGRATE_OK, "%s", err);
	dst = open_target(target);
	after = count_rows(dst, "samples");
	db_close(dst);
	ck_assert_int_eq(before, after);
}
END_TEST

/* A row missing in the middle of a table copied is not copied again (only what follows the last
 * key is), and the verification names that table. */
START_TEST(test_verify_mismatch)
{
	char err[1024];
	struct db *dst;

	if (!fresh_target())
		return;
	build_source(srcpath, 20);
	ck_assert_msg(run(0, 0, 0, err, sizeof(err)) == MIGRATE_OK, "%s", err);
	dst = open_target(target);
	testutil_db_exec(dst, "DELETE FROM sample_stacks WHERE scrape_id ="
	                      " (SELECT min(scrape_id) FROM sample_stacks)");
	db_close(dst);
	ck_assert_int_eq(run(0, 0, 0, err, sizeof(err)), MIGRATE_MISMATCH);
	ck_assert_msg(strstr(err, "table 'sample_stacks' differs") != NULL, "%s", err);
}
END_TEST

/* A target that holds leakprofd data no copy of this file wrote (a daemon's) is refused and left
 * as it was; so is one holding the copy of another file. */
START_TEST(test_refuse_foreign)
{
	char err[1024];
	struct db *dst;
	struct db_stmt *stmt;

	if (!fresh_target())
		return;
	build_source(srcpath, 10);
	dst = open_target(target);
	ck_assert_msg(schema_pg_migrate(dst, err, sizeof(err)) == 0, "%s", err);
	testutil_db_exec(dst, "INSERT INTO services (name) VALUES ('a daemon''s')");
	db_close(dst);
	ck_assert_int_eq(run(0, 0, 0, err, sizeof(err)), MIGRATE_ERROR);
	ck_assert_msg(strstr(err, "already holds leakprofd data (table 'services' has rows)") !=
	                  NULL,
	              "%s", err);
	dst = open_target(target);
	ck_assert_int_eq(count_rows(dst, "services"), 1);
	stmt = testutil_db_prepare(dst, "SELECT to_regclass('leakprofd_migration') IS NULL");
	ck_assert_int_eq(db_step(stmt), DB_ROW);
	ck_assert_int_eq(db_column_int(stmt, 0), 1);
	db_finalize(stmt);
	db_close(dst);

	/* the copy of another file */
	reset_database(true);
	ck_assert_msg(run(0, 0, 0, err, sizeof(err)) == MIGRATE_OK, "%s", err);
	snprintf(srcpath, sizeof(srcpath), "%s/other.db", tmpdir);
	build_source(srcpath, 10);
	ck_assert_int_eq(run(0, 0, 0, err, sizeof(err)), MIGRATE_ERROR);
	ck_assert_msg(strstr(err, "holds a copy of") != NULL && strstr(err, "leak'prof ü.db"), "%s",
	              err);
}
END_TEST

/* A target whose schema is newer than this build is refused, untouched. */
START_TEST(test_refuse_newer_target)
{
	char err[1024];
	struct db *dst;

	if (!fresh_target())
		return;
	build_source(srcpath, 5);
	dst = open_target(target);
	ck_assert_msg(schema_pg_migrate(dst, err, sizeof(err)) == 0, "%s", err);
	testutil_db_exec(dst, "UPDATE schema_version SET version = version + 1");
	db_close(dst);
	ck_assert_int_eq(run(0, 0, 0, err, sizeof(err)), MIGRATE_ERROR);
	ck_assert_msg(strstr(err, "newer than this leakprofd supports") != NULL, "%s", err);
	dst = open_target(target);
	ck_assert_int_eq(count_rows(dst, "scrapes"), 0);
	db_close(dst);
}
END_TEST

/* A source that is missing, or of another schema version than this build writes, is refused with
 * its path and both versions; the source is never written (opened read-only). */
START_TEST(test_refuse_source)
{
	char err[1024], missing[320], sql[64], want[64];
	struct db *db;

	snprintf(missing, sizeof(missing), "%s/missing.db", tmpdir);
	ck_assert_int_eq(migrate_run(&(struct migrate_options){.from = missing,
	                                                       .to = "postgres://127.0.0.1:1/x"},
	                             err, sizeof(err)),
	                 MIGRATE_ERROR);
	ck_assert_msg(strstr(err, missing) != NULL && strstr(err, "No such file") != NULL, "%s",
	              err);
	ck_assert_int_eq(access(missing, F_OK), -1);

	build_source(srcpath, 3);
	db = open_target(srcpath);
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", schema_pg_version() - 1);
	testutil_db_exec(db, sql);
	db_close(db);
	ck_assert_int_eq(migrate_run(&(struct migrate_options){.from = srcpath,
	                                                       .to = "postgres://127.0.0.1:1/x"},
	                             err, sizeof(err)),
	                 MIGRATE_ERROR);
	snprintf(want, sizeof(want), "schema version %d, but this leakprofd writes version %d",
	         schema_pg_version() - 1, schema_pg_version());
	ck_assert_msg(strstr(err, srcpath) != NULL && strstr(err, want) != NULL, "%s", err);
}
END_TEST

/* The target is named in messages without its password, in a URI or a key=value string. */
START_TEST(test_password_hidden)
{
	static const struct {
		const char *to, *shown;
	} cases[] = {
	    {"postgres://u:s3cr%40t@127.0.0.1:1/x?password=0ther&sslmode=disable",
	     "'postgres://u:***@127.0.0.1:1/x?password=***&sslmode=disable'"},
	    {"host=127.0.0.1 port=1 password = 'se cr\\'et' dbname=x",
	     "'host=127.0.0.1 port=1 password = *** dbname=x'"},
	    {"host=127.0.0.1 port=1 dbname=x password=s3cret",
	     "'host=127.0.0.1 port=1 dbname=x password=***'"},
	};
	char err[1024];

	build_source(srcpath, 3);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(
		    migrate_run(&(struct migrate_options){.from = srcpath, .to = cases[i].to}, err,
		                sizeof(err)),
		    MIGRATE_ERROR);
		ck_assert_msg(strstr(err, cases[i].shown) != NULL, "%s", err);
		ck_assert_msg(strstr(err, "s3cr") == NULL && strstr(err, "se cr") == NULL &&
		                  strstr(err, "0ther") == NULL,
		              "%s", err);
	}
}
END_TEST

Suite *
migrate_suite(void)
{
	Suite *s = suite_create("migrate");
	TCase *tc = tcase_create("migrate");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_copy);
	tcase_add_test(tc, test_resume);
	tcase_add_test(tc, test_verify_mismatch);
	tcase_add_test(tc, test_refuse_foreign);
	tcase_add_test(tc, test_refuse_newer_target);
	tcase_add_test(tc, test_refuse_source);
	tcase_add_test(tc, test_password_hidden);
	suite_add_tcase(s, tc);
	return s;
}
