/* tests/check_store.c: the SQLite store on real temp-file databases (and :memory:): migrations,
 * interning, the one-transaction-per-scrape guarantee under injected failures and a full disk,
 * read-only opens, the detector's walks, retention rollup arithmetic, rankings, target health and
 * the paged target lists (each filter's page read through its own index).
 * Profiles are built as the parsers build them (struct profile is public), with the op names Go
 * prints. One suite for the storage module (STYLE.md: one Check suite per module) covers all of
 * storage/store*.c, which is why it runs past 1,200 lines. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "tests/testutil.h"
#include "base/clock.h"
#include "collector/profile.h"
#include "storage/query.h"
#include "storage/store.h"
#include "storage/store_internal.h"

#define MIN 60000LL
#define HOUR 3600000LL
#define T0 1789999200000LL /* a fixed time on an hour boundary (ms) */

static char tmpdir[256];
static char dbpath[1100];

static void
setup(void)
{
	testutil_mkdtemp(tmpdir, sizeof(tmpdir), "check_store");
	testutil_store_target(dbpath, sizeof(dbpath), tmpdir, "test.db");
}

static void
teardown(void)
{
	chmod(tmpdir, 0700); /* some tests take the write bit away */
	testutil_rmtree(tmpdir);
}

/* ---- helpers ---- */

static const struct frame stack_a[] = {
    {"runtime.gopark", "/usr/lib/go/src/runtime/proc.go", 363},
    {"runtime.chansend", "/usr/lib/go/src/runtime/chan.go", 259},
    {"main.leakSend", "/src/app/leak.go", 42},
    {"main.handler.func1", "/src/app/handler.go", 17},
};
static const struct frame stack_b[] = {
    {"runtime.gopark", "/usr/lib/go/src/runtime/proc.go", 363},
    {"main.pool.worker", "/src/app/pool.go", 88},
};

static const struct frame stack_c[] = {
    {"runtime.gopark", "/usr/lib/go/src/runtime/proc.go", 363},
    {"main.leakSend", "/src/app/leak.go", 42},
    {"main.otherCaller", "/src/app/other.go", 5},
};

static struct prof_location
loc(const char *fn, const char *file, uint32_t line, const char *op, uint64_t count,
    const struct frame *stack, size_t nstack)
{
	struct prof_location l = {
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
	return l;
}

static struct profile
prof(struct prof_location *locs, size_t n)
{
	struct profile p = {.format = PROFILE_FORMAT_PROTO,
	                    .kind = PROFILE_KIND_GOROUTINE,
	                    .locations = locs,
	                    .nlocations = n};
	size_t i;

	for (i = 0; i < n; i++)
		p.total_goroutines += locs[i].count;
	p.total_goroutines += 5; /* running, GC workers: not in any blocked location */
	return p;
}

static void
add(struct store *st, int64_t target, int64_t ts, const struct profile *p)
{
	struct scrape_record rec = {.target_id = target,
	                            .ts = ts,
	                            .duration_ms = 12,
	                            .bytes = 3456,
	                            .status = "ok",
	                            .profile = p};

	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
}

/* The first column of the single row 'sql' answers, on the store's own connection (either
 * database). */
static int64_t
count_rows(struct store *st, const char *sql)
{
	return testutil_db_int(store_dbh(st), sql);
}

static void
exec_ok(struct store *st, const char *sql)
{
	testutil_db_exec(store_dbh(st), sql);
}

/* No row refers to one that is not there: SQLite's foreign_key_check finds nothing. PostgreSQL
 * checks every declared reference itself; a raw row's scrape is the store's to keep there
 * (storage/schema_pg.sql), so each raw table is read for rows whose scrape is gone. */
static void
assert_foreign_keys(struct store *st)
{
	static const char *const raw[] = {"samples", "sample_stacks", "label_samples",
	                                  "restart_moves"};
	char sql[200];

	if (!testutil_backend_pg()) {
		ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM pragma_foreign_key_check"),
		                 0);
		return;
	}
	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		snprintf(sql, sizeof(sql),
		         "SELECT count(*) FROM %s x WHERE NOT EXISTS (SELECT 1 FROM scrapes s"
		         " WHERE s.id = x.scrape_id AND s.ts = x.scrape_ts)",
		         raw[i]);
		ck_assert_msg(count_rows(st, sql) == 0, "%s: rows of scrapes that are gone",
		              raw[i]);
	}
}

/* What is left of the raw rows: 'by_hour' where retention deletes them an hour at a time once
 * rolled up and past the raw retention (SQLite), 'by_day' where it drops them a day at a time once
 * the whole day is (PostgreSQL: storage/schema_pg.sql). */
static int64_t
raw_left(int64_t by_hour, int64_t by_day)
{
	return testutil_backend_pg() ? by_day : by_hour;
}

/* With 'on', a sample of count 666 fails to insert, as a constraint would ("injected failure"),
 * until called again without it. */
static void
inject_failure(struct store *st, bool on)
{
	if (!testutil_backend_pg()) {
		exec_ok(st, on ? "CREATE TEMP TRIGGER inject BEFORE INSERT ON samples"
		                 " WHEN NEW.count = 666"
		                 " BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
		               : "DROP TRIGGER inject");
		return;
	}
	exec_ok(st, on ? "CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
	                 " IF NEW.count = 666 THEN"
	                 " RAISE EXCEPTION 'injected failure' USING ERRCODE = '23000';"
	                 " END IF; RETURN NEW; END $$;"
	                 " CREATE TRIGGER inject BEFORE INSERT ON samples"
	                 " FOR EACH ROW EXECUTE FUNCTION inject()"
	               : "DROP TRIGGER inject ON samples; DROP FUNCTION inject()");
}

/* Run 'fn' in a child with stderr captured to 'errfile'; returns its exit status. */
static int
run_captured(void (*fn)(void), const char *errfile, bool drop_root)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0666);

		if (fd < 0 || dup2(fd, 2) < 0)
			_exit(90);
		if (drop_root && geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(91);
		fn();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static char *
slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* ---- open and migrate ---- */

/* SQLite's counters of the connection's cached statements whose text holds one of 'needles'
 * (NULL-ended): none made a full scan or an automatic index. How many were checked; 0 on
 * PostgreSQL, which keeps no such counters. */
static int
assert_indexed(struct store *st, const char *const *needles)
{
	sqlite3_stmt *stmt = NULL;
	int checked = 0;

	if (store_db(st) == NULL)
		return 0;
	while ((stmt = sqlite3_next_stmt(store_db(st), stmt)) != NULL) {
		const char *sql = sqlite3_sql(stmt);
		size_t i = 0;

		while (needles[i] != NULL && strstr(sql, needles[i]) == NULL)
			i++;
		if (needles[i] == NULL)
			continue;
		ck_assert_msg(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0) == 0,
		              "full scan in: %s", sql);
		ck_assert_msg(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_AUTOINDEX, 0) == 0,
		              "automatic index in: %s", sql);
		checked++;
	}
	return checked;
}

START_TEST(test_open_migrates)
{
	struct store *st = store_open(dbpath, 0);
	int64_t t;

	ck_assert_ptr_nonnull(st);
	if (testutil_backend_pg()) {
		ck_assert_int_ge(count_rows(st, "SELECT version FROM schema_version"), 2);
		ck_assert_int_eq(
		    count_rows(st, "SELECT count(*) FROM information_schema.columns"
		                   " WHERE table_schema = current_schema()"
		                   " AND table_name = 'scrapes' AND column_name = 'restart'"),
		    1);
		ck_assert_int_eq(
		    count_rows(
		        st, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
		            " AND tablename IN ('services', 'targets', 'scrapes', 'samples',"
		            " 'locations', 'stacks', 'rollups', 'rankings', 'suspects', 'alerts',"
		            " 'outbox')"),
		    11);
	} else {
		ck_assert_int_ge(count_rows(st, "PRAGMA user_version"), 2);
		ck_assert_int_eq(
		    count_rows(
		        st,
		        "SELECT count(*) FROM pragma_table_info('scrapes') WHERE name = 'restart'"),
		    1);
		ck_assert_int_eq(
		    count_rows(
		        st,
		        "SELECT count(*) FROM sqlite_schema WHERE name IN ('services', 'targets',"
		        " 'scrapes', 'samples', 'locations', 'stacks', 'rollups', 'rankings', "
		        "'suspects', 'alerts', 'outbox')"),
		    11);
		ck_assert_int_eq(count_rows(st, "PRAGMA foreign_keys"), 1);
		ck_assert_int_eq(
		    count_rows(st, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
		ck_assert_int_eq(count_rows(st, "PRAGMA synchronous"), 1); /* NORMAL */
	}
	t = store_target_upsert(st, "payments", "{\"team\":\"pay\"}", "http://127.0.0.1:6060");
	ck_assert_int_gt(t, 0);
	ck_assert_int_gt(store_db_size(st), 0);
	store_free(st);

	/* Reopening an up-to-date database changes nothing. */
	st = store_open(dbpath, 0);
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(
	    store_target_upsert(st, "payments", "{\"team\":\"pay\"}", "http://127.0.0.1:6060"), t);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM targets"), 1);
	ck_assert_int_eq(count_rows(st, "SELECT labels = '{\"team\":\"pay\"}' FROM services"), 1);
	store_free(st);
	store_free(NULL);
}
END_TEST

START_TEST(test_memory)
{
	struct store *st = store_open(":memory:", 0);
	struct prof_location l[] = {loc("main.a", "/a.go", 1, "chan receive", 3, stack_b, 2)};
	struct profile p = prof(l, 1);
	int64_t t;

	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "s", NULL, "http://x");
	ck_assert_int_gt(t, 0);
	add(st, t, T0, &p);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples"), 1);
	store_free(st);
}
END_TEST

/* SQLite's memory for every connection together stays near STORE_HEAP_LIMIT however many of them
 * fill their page caches: the two connections here, each reading a table of 40 MB through a cache
 * of 32 MiB, would hold twice that without the bound. */
START_TEST(test_memory_bound)
{
	static const char fill[] =
	    "CREATE TABLE big (x BLOB);"
	    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000)"
	    " INSERT INTO big SELECT zeroblob(1000) FROM n";
	static const char read_all[] = "SELECT count(*) FROM big WHERE length(x) = 1000";
	struct store *a, *b;
	int64_t peak, used;

	if (testutil_sqlite_only("test_memory_bound", "SQLite's soft heap limit"))
		return;
	a = store_open(dbpath, 0);
	ck_assert_ptr_nonnull(a);
	exec_ok(a, fill);
	b = store_open(dbpath, 0);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(count_rows(a, read_all), 40000);
	ck_assert_int_eq(count_rows(b, read_all), 40000);
	ck_assert_int_eq(count_rows(a, read_all), 40000);
	used = store_memory_used(&peak);
	ck_assert_int_gt(used, 8 << 20); /* the caches did fill */
	ck_assert_int_le(peak, STORE_HEAP_LIMIT + (4 << 20));
	store_free(b);
	store_free(a);
}
END_TEST

static void
open_newer_child(void)
{
	struct store *st = store_open(dbpath, 0);

	_exit(st == NULL ? 0 : 1);
}

static void
open_newer_ro_child(void)
{
	struct store *st = store_open(dbpath, STORE_READONLY);

	_exit(st == NULL ? 0 : 1);
}

static void
open_rw_child(void)
{
	struct store *st = store_open(dbpath, 0);

	_exit(st == NULL ? 0 : 1);
}

START_TEST(test_newer_version_refused)
{
	struct store *st = store_open(dbpath, 0);
	char errfile[400];

	ck_assert_ptr_nonnull(st);
	exec_ok(st, testutil_backend_pg() ? "UPDATE schema_version SET version = 1000"
	                                  : "PRAGMA user_version = 1000");
	store_free(st);
	snprintf(errfile, sizeof(errfile), "%s/err", tmpdir);
	ck_assert_int_eq(run_captured(open_newer_child, errfile, false), 0);
	ck_assert_ptr_nonnull(
	    strstr(slurp(errfile), "schema version 1000 is newer than this leakprofd supports"));
	ck_assert_ptr_nonnull(strstr(slurp(errfile), dbpath));
	ck_assert_int_eq(run_captured(open_newer_ro_child, errfile, false), 0);
	ck_assert_ptr_nonnull(strstr(slurp(errfile), "newer"));
}
END_TEST

START_TEST(test_not_a_database)
{
	FILE *f = fopen(dbpath, "w");
	char errfile[400];

	if (testutil_sqlite_only("test_not_a_database", "a file that is not a SQLite database"))
		return;
	ck_assert_ptr_nonnull(f);
	fputs("this is not an SQLite database, it is a text file that is long enough to have a "
	      "header......\n",
	      f);
	fclose(f);
	snprintf(errfile, sizeof(errfile), "%s/err", tmpdir);
	ck_assert_int_eq(run_captured(open_newer_child, errfile, false), 0);
	ck_assert_ptr_nonnull(strstr(slurp(errfile), "file is not a database"));
	ck_assert_ptr_nonnull(strstr(slurp(errfile), dbpath));
}
END_TEST

/* ---- read-only ---- */

START_TEST(test_readonly)
{
	struct prof_location l[] = {loc("main.a", "/a.go", 1, "chan receive", 3, stack_b, 2)};
	struct profile p = prof(l, 1);
	struct store *rw, *ro;
	struct target_health *h;
	char errfile[400];
	size_t n;
	int64_t t;

	snprintf(errfile, sizeof(errfile), "%s/err", tmpdir);
	if (testutil_backend_pg()) {
		/* An empty database, then one with a table of another program's: a read-only open
		 * creates nothing, a read-write one refuses someone else's. */
		ck_assert_int_eq(run_captured(open_newer_ro_child, errfile, false), 0);
		ck_assert_ptr_nonnull(
		    strstr(slurp(errfile), "not a leakprofd database (no schema)"));
		struct db *other = db_open(dbpath, errfile, sizeof(errfile));

		ck_assert_ptr_nonnull(other);
		testutil_db_exec(other, "CREATE TABLE other (x INTEGER)");
		snprintf(errfile, sizeof(errfile), "%s/err", tmpdir);
		ck_assert_int_eq(run_captured(open_newer_ro_child, errfile, false), 0);
		ck_assert_ptr_nonnull(
		    strstr(slurp(errfile), "not a leakprofd database (schema has"));
		ck_assert_int_eq(run_captured(open_rw_child, errfile, false), 0);
		ck_assert_ptr_nonnull(
		    strstr(slurp(errfile), "not a leakprofd database (schema has"));
		testutil_db_exec(other, "DROP TABLE other");
		db_close(other);
	} else {
		/* Missing file: a clear error, and nothing is created. */
		ck_assert_int_eq(run_captured(open_newer_ro_child, errfile, false), 0);
		ck_assert_ptr_nonnull(strstr(slurp(errfile), "cannot open read-only"));
		ck_assert_int_ne(access(dbpath, F_OK), 0);
	}

	/* An SQLite file without leakprofd's schema is not migrated by a read-only open. */
	if (!testutil_backend_pg()) {
		sqlite3 *db;

		ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
		ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE other (x)", NULL, NULL, NULL),
		                 SQLITE_OK);
		sqlite3_close(db);
		ck_assert_int_eq(run_captured(open_newer_ro_child, errfile, false), 0);
		ck_assert_ptr_nonnull(
		    strstr(slurp(errfile), "not a leakprofd database (no schema)"));
		/* nor by a read-write one: it is someone else's database */
		ck_assert_int_eq(run_captured(open_rw_child, errfile, false), 0);
		ck_assert_ptr_nonnull(
		    strstr(slurp(errfile), "not a leakprofd database (it has tables"));
		unlink(dbpath);
	}

	rw = store_open(dbpath, 0);
	ck_assert_ptr_nonnull(rw);
	t = store_target_upsert(rw, "s", NULL, "http://x");
	add(rw, t, T0, &p);

	ro = store_open(dbpath, STORE_READONLY);
	ck_assert_ptr_nonnull(ro);
	ck_assert(store_readonly(ro));
	ck_assert_int_eq(store_target_health(ro, &h, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(h[0].last_status, "ok");
	target_health_free(h, n);
	/* Writes fail with the database's reason; the connection stays usable. */
	ck_assert_int_eq(store_target_upsert(ro, "s", NULL, "http://y"), -1);
	ck_assert_ptr_nonnull(
	    strstr(store_errmsg(ro), testutil_backend_pg() ? "read-only transaction" : "readonly"));
	/* The writer keeps going while a reader is open (WAL). */
	add(rw, t, T0 + MIN, &p);
	ck_assert_int_eq(count_rows(ro, "SELECT count(*) FROM scrapes"), 2);
	store_free(ro);
	store_free(rw);
}
END_TEST

START_TEST(test_readonly_directory)
{
	char errfile[400];

	if (testutil_sqlite_only("test_readonly_directory", "a SQLite file's directory"))
		return;
	/* A database that cannot be created: the directory is read-only (checked as an unprivileged
	 * user, root writes anywhere). */
	ck_assert_int_eq(chmod(tmpdir, 0555), 0);
	snprintf(errfile, sizeof(errfile), "/tmp/leakprofd-store-err-%d", (int)getpid());
	ck_assert_int_eq(run_captured(open_rw_child, errfile, true), 0);
	ck_assert_ptr_nonnull(strstr(slurp(errfile), dbpath));
	ck_assert_ptr_nonnull(strstr(slurp(errfile), "unable to open database file"));
	ck_assert_ptr_nonnull(strstr(slurp(errfile), "Permission denied"));
	unlink(errfile);
	chmod(tmpdir, 0700);
}
END_TEST

START_TEST(test_readonly_file)
{
	struct store *st;
	char errfile[400];

	if (testutil_sqlite_only("test_readonly_file", "a SQLite file's permissions"))
		return;
	st = store_open(dbpath, 0);
	ck_assert_ptr_nonnull(st);
	store_free(st);
	/* An existing database in a directory where its WAL cannot be created, then a
	 * write-protected file. */
	ck_assert_int_eq(chmod(tmpdir, 0555), 0);
	ck_assert_int_eq(chmod(dbpath, 0666), 0);
	snprintf(errfile, sizeof(errfile), "/tmp/leakprofd-store-err-%d", (int)getpid());
	ck_assert_int_eq(run_captured(open_rw_child, errfile, true), 0);
	ck_assert_ptr_nonnull(strstr(slurp(errfile), dbpath));
	ck_assert_msg(strstr(slurp(errfile), "directory") != NULL, "%s", slurp(errfile));
	ck_assert_int_eq(chmod(tmpdir, 0777), 0);
	ck_assert_int_eq(chmod(dbpath, 0444), 0);
	ck_assert_int_eq(run_captured(open_rw_child, errfile, true), 0);
	ck_assert_msg(
	    strstr(slurp(errfile), "the database file is read-only (Permission denied)") != NULL,
	    "%s", slurp(errfile));
	unlink(errfile);
	chmod(tmpdir, 0700);
	chmod(dbpath, 0600);
}
END_TEST

/* ---- ingest ---- */

START_TEST(test_interning)
{
	struct prof_location l1[] = {
	    loc("main.leakSend", "/src/app/leak.go", 42, "chan send", 10, stack_a, 4),
	    loc("main.pool.worker", "/src/app/pool.go", 88, "chan receive", 100, stack_b, 2),
	};
	struct prof_location l2[] = {
	    loc("main.leakSend", "/src/app/leak.go", 42, "chan send", 11, stack_a, 4),
	    loc("main.pool.worker", "/src/app/pool.go", 88, "chan receive", 100, stack_b, 2),
	    /* same function and line, another op: its own location, sharing the stack */
	    loc("main.pool.worker", "/src/app/pool.go", 88, "select", 1, stack_b, 2),
	};
	struct profile p1 = prof(l1, 2), p2 = prof(l2, 3);
	struct store *st = store_open(dbpath, 0);
	struct store_location sl;
	int64_t a, b, id;
	json_t *frames;

	ck_assert_ptr_nonnull(st);
	a = store_target_upsert(st, "payments", NULL, "http://10.0.0.1:6060");
	b = store_target_upsert(st, "payments", NULL, "http://10.0.0.2:6060");
	ck_assert_int_ne(a, b);
	add(st, a, T0, &p1);
	add(st, b, T0 + 1000, &p2);
	add(st, a, T0 + MIN, &p2);
	store_free(st);

	/* A fresh connection (empty caches) finds the same rows. */
	st = store_open(dbpath, 0);
	add(st, b, T0 + MIN + 1000, &p2);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM locations"), 3);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM stacks"), 2);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples"), 2 + 3 + 3 + 3);
	ck_assert_int_eq(count_rows(st, "SELECT sum(count) FROM samples"), 110 + 3 * 112);
	ck_assert_int_eq(count_rows(st, "SELECT total_goroutines FROM scrapes ORDER BY id LIMIT 1"),
	                 115);
	ck_assert_int_eq(
	    count_rows(
	        st, "SELECT count(*) FROM scrapes WHERE format = 'proto' AND kind = 'goroutine'"),
	    4);

	id = count_rows(st, "SELECT id FROM locations WHERE function = 'main.leakSend'");
	ck_assert_int_eq(store_location_get(st, id, &sl), 0);
	ck_assert_str_eq(sl.function, "main.leakSend");
	ck_assert_str_eq(sl.file, "/src/app/leak.go");
	ck_assert_uint_eq(sl.line, 42);
	ck_assert_str_eq(sl.op, "chan send");
	ck_assert_int_eq(sl.first_seen, T0);
	ck_assert_int_eq(sl.last_seen, T0 + MIN); /* T0 + MIN + 1000 is within the 30 s precision */
	frames = json_loads(sl.stack_json, 0, NULL);
	ck_assert_ptr_nonnull(frames);
	ck_assert_uint_eq(json_array_size(frames), 4);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(frames, 2), "function")),
	                 "main.leakSend");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(frames, 2), "line")),
	                 42);
	json_decref(frames);
	store_location_release(&sl);
	ck_assert_int_eq(store_location_get(st, 9999, &sl), 1);

	/* Another stack at a known location: the location keeps its first stack as its
	 * representative, the new one is stored as the scrape's call site, and last_seen moves on.
	 */
	l1[0].stack = stack_c;
	l1[0].nstack = 3;
	add(st, a, T0 + 10 * MIN, &p1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM stacks"), 3);
	ck_assert_int_eq(count_rows(st,
	                            "SELECT count(*) FROM sample_stacks x JOIN stacks k ON"
	                            " k.id = x.stack_id WHERE x.scrape_id = (SELECT max(id) FROM"
	                            " scrapes) AND k.frames LIKE '%main.otherCaller%'"
	                            " AND x.count = 10"),
	                 1);
	ck_assert_int_eq(store_location_get(st, id, &sl), 0);
	ck_assert_ptr_nonnull(strstr(sl.stack_json, "main.handler.func1"));
	ck_assert_int_eq(sl.last_seen, T0 + 10 * MIN);
	store_location_release(&sl);
	store_free(st);
}
END_TEST

START_TEST(test_untrusted_text)
{
	static const struct frame bad_stack[] = {
	    {"runtime.\xffgopark", "/go/src/\x01runtime/proc.go", 363},
	    {"main.\xff\xfe\"quoted\"\n", "/src/\xc3(bad.go", 7},
	    {"main.\xff"
	     "caller",
	     "/src/\x02"
	     "caller.go",
	     9},
	};
	char longname[5000];
	struct prof_location l[2];
	struct profile p;
	struct store *st = store_open(dbpath, 0);
	struct store_location sl;
	json_t *frames;
	int64_t t, id;

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	l[0] =
	    loc("main.\xff\xfe\"quoted\"\n", "/src/\xc3(bad.go", 7, "chan send", 2, bad_stack, 3);
	l[1] = loc(longname, "/x.go", 1, "chan send", 2, NULL, 0);
	p = prof(l, 2);
	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "s", NULL, "http://x");
	add(st, t, T0, &p);

	id = count_rows(st, "SELECT id FROM locations WHERE line = 7");
	ck_assert_int_eq(store_location_get(st, id, &sl), 0);
	ck_assert_str_eq(sl.function, "main.??\"quoted\"?");
	ck_assert_str_eq(sl.file, "/src/?(bad.go");
	frames = json_loads(sl.stack_json, 0, NULL);
	ck_assert_ptr_nonnull(frames);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(frames, 0), "function")),
	                 "runtime.?gopark");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(frames, 0), "file")),
	                 "/go/src/?runtime/proc.go");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(frames, 1), "function")),
	                 "main.??\"quoted\"?");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(frames, 2), "file")),
	                 "/src/?caller.go");
	json_decref(frames);
	store_location_release(&sl);
	ck_assert_int_eq(count_rows(st, "SELECT length(function) FROM locations WHERE line = 1"),
	                 2048);
	/* No stack: "[]". */
	id = count_rows(st, "SELECT id FROM locations WHERE line = 1");
	ck_assert_int_eq(store_location_get(st, id, &sl), 0);
	ck_assert_str_eq(sl.stack_json, "[]");
	store_location_release(&sl);
	store_free(st);
}
END_TEST

START_TEST(test_failed_scrapes_and_detail)
{
	struct prof_location l[] = {loc("main.a", "/a.go", 1, "chan receive", 3, stack_b, 2)};
	struct prof_location ld[] = {loc("main.a", "/a.go", 1, "chan receive", 3, stack_b, 2)};
	struct profile p = prof(l, 1), pd;
	struct store *st = store_open(dbpath, 0);
	struct scrape_record rec = {
	    .duration_ms = 10000, .status = "timeout", .consecutive_failures = 1};
	int64_t t;

	ld[0].max_wait_minutes = 30;
	ld[0].median_wait_minutes = 12;
	ld[0].min_wait_minutes = 2;
	pd = prof(ld, 1);
	pd.format = PROFILE_FORMAT_DEBUG2;
	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "s", NULL, "http://x");
	rec.target_id = t;
	rec.ts = T0;
	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
	add(st, t, T0 + MIN, &p);
	rec.ts = T0 + 2 * MIN;
	rec.status = "ok";
	rec.detail = true;
	rec.profile = &pd;
	rec.consecutive_failures = 0;
	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
	/* "ok" without a profile is a caller bug, rejected. */
	rec.profile = NULL;
	ck_assert_int_eq(store_add_scrape(st, &rec), 1);

	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 3);
	ck_assert_int_eq(
	    count_rows(st, "SELECT total_goroutines IS NULL AND format IS NULL FROM scrapes"
	                   " WHERE status = 'timeout'"),
	    1);
	ck_assert_int_eq(
	    count_rows(st, "SELECT max_wait * 10000 + median_wait * 100 + min_wait FROM samples"
	                   " JOIN scrapes ON scrapes.id = scrape_id WHERE detail = 1"),
	    301202);
	ck_assert_int_eq(
	    count_rows(st,
	               "SELECT max_wait IS NULL FROM samples JOIN scrapes ON scrapes.id = scrape_id"
	               " WHERE detail = 0"),
	    1);
	store_free(st);
}
END_TEST

/* ---- one transaction per scrape ---- */

START_TEST(test_scrape_atomic)
{
	struct prof_location l1[] = {loc("main.a", "/a.go", 1, "chan receive", 3, stack_b, 2)};
	struct prof_location l2[] = {
	    loc("main.a", "/a.go", 1, "chan receive", 4, stack_b, 2),
	    loc("main.new1", "/n.go", 10, "chan send", 5, stack_a, 4),
	    loc("main.new2", "/n.go", 20, "chan send", 666, stack_a,
	        3), /* the trigger rejects this one */
	    loc("main.new3", "/n.go", 30, "chan send", 7, NULL, 0),
	};
	struct profile p1 = prof(l1, 1), p2 = prof(l2, 4);
	struct store *st = store_open(dbpath, 0);
	struct scrape_record rec;
	struct target_health *h;
	size_t n;
	int64_t t;

	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "s", NULL, "http://x");
	add(st, t, T0, &p1);
	inject_failure(st, true);
	rec = (struct scrape_record){.target_id = t,
	                             .ts = T0 + MIN,
	                             .duration_ms = 99,
	                             .bytes = 1,
	                             .status = "ok",
	                             .profile = &p2};
	/* the scrape's own failure (a constraint): rejected, not worth a retry */
	ck_assert_int_eq(store_add_scrape(st, &rec), 1);
	ck_assert_ptr_nonnull(strstr(store_errmsg(st), "injected failure"));

	/* Nothing of the failed scrape: no scrape row, no samples, no new locations or stacks,
	 * health unchanged. */
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples"), 1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM locations"), 1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM stacks"), 1);
	ck_assert_int_eq(store_target_health(st, &h, &n), 0);
	ck_assert_int_eq(h[0].last_scrape, T0);
	ck_assert_uint_eq(h[0].last_duration_ms, 12);
	target_health_free(h, n);

	/* The store stays usable, and the retry stores everything (ids from the failed attempt are
	 * not reused). */
	inject_failure(st, false);
	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples"), 5);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM locations"), 4);
	ck_assert_int_eq(count_rows(st,
	                            "SELECT count(*) FROM samples s LEFT JOIN locations l ON l.id ="
	                            " s.location_id WHERE l.id IS NULL"),
	                 0);
	ck_assert_int_eq(
	    count_rows(st,
	               "SELECT count(*) FROM locations l LEFT JOIN stacks k ON k.id = l.stack_id"
	               " WHERE l.stack_id IS NOT NULL AND k.id IS NULL"),
	    0);
	assert_foreign_keys(st);
	store_free(st);
}
END_TEST

START_TEST(test_unknown_target)
{
	struct prof_location l[] = {loc("main.a", "/a.go", 1, "chan receive", 3, stack_b, 2)};
	struct profile p = prof(l, 1);
	struct store *st = store_open(dbpath, 0);
	struct scrape_record rec = {.target_id = 42, .ts = T0, .status = "ok", .profile = &p};

	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(store_add_scrape(st, &rec), 1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM locations"), 0);
	store_free(st);
}
END_TEST

/* ---- several scrapes per transaction ---- */

/* A batch stores its scrapes at its commit, and not before (a second connection sees none until
 * then); a target's second scrape in the batch is judged against its first. A scrape the database
 * rejects (a constraint: the injected trigger, an unknown target) is 1 and rolls the whole batch
 * back, its new locations too; the others stored again without it are kept. */
START_TEST(test_batch)
{
	struct prof_location l1[] = {
	    loc("main.a", "/a.go", 1, "chan receive", 3, stack_b, 2),
	    loc("main.b", "/b.go", 2, "chan send", 4, stack_a, 4),
	};
	struct prof_location lbad[] = {
	    loc("main.only_in_bad", "/c.go", 3, "select", 5, stack_a, 3),
	    loc("main.a", "/a.go", 1, "chan receive", 666, stack_b, 2), /* trigger */
	};
	struct profile p1 = prof(l1, 2), pbad = prof(lbad, 2);
	struct store *st = store_open(dbpath, 0), *rd;
	struct scrape_record good[] = {
	    {.target_id = 1, .ts = T0, .status = "ok", .profile = &p1},
	    {.target_id = 2, .ts = T0 + 3, .status = "timeout"},
	    {.target_id = 1, .ts = T0 + MIN, .status = "ok", .profile = &p1},
	};
	struct scrape_record bad[] = {
	    {.target_id = 2, .ts = T0 + 1, .status = "ok", .profile = &pbad},
	    {.target_id = 42, .ts = T0 + 2, .status = "ok", .profile = &p1},
	};

	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(store_target_upsert(st, "s", NULL, "http://x"), 1);
	ck_assert_int_eq(store_target_upsert(st, "s", NULL, "http://y"), 2);
	inject_failure(st, true);
	rd = store_open(dbpath, STORE_READONLY);
	ck_assert_ptr_nonnull(rd);

	for (size_t k = 0; k < 2; k++) {
		ck_assert_int_eq(store_batch_begin(st), 0);
		ck_assert_int_eq(store_add_scrape(st, &good[0]), 0);
		ck_assert_int_eq(store_add_scrape(st, &bad[k]), 1);
		ck_assert_ptr_nonnull(strstr(store_errmsg(st), k == 0 ? "injected failure"
		                                               : testutil_backend_pg()
		                                                   ? "foreign key constraint"
		                                                   : "FOREIGN KEY constraint"));
		/* rolled back: a new batch can start */
		ck_assert_int_eq(count_rows(rd, "SELECT count(*) FROM scrapes"), 0);
		ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM locations"), 0);
	}
	ck_assert_int_eq(store_batch_begin(st), 0);
	for (size_t k = 0; k < 3; k++)
		ck_assert_int_eq(store_add_scrape(st, &good[k]), 0);
	ck_assert_int_eq(count_rows(rd, "SELECT count(*) FROM scrapes"), 0);
	ck_assert_int_eq(store_batch_commit(st), 0);

	ck_assert_int_eq(count_rows(rd, "SELECT count(*) FROM scrapes"), 3);
	ck_assert_int_eq(count_rows(rd, "SELECT count(*) FROM samples"), 4);
	ck_assert_int_eq(count_rows(rd, "SELECT count(*) FROM locations"), 2);
	ck_assert_int_eq(
	    count_rows(rd, "SELECT count(*) FROM locations WHERE function = 'main.only_in_bad'"),
	    0);
	assert_foreign_keys(rd);
	/* the target's second scrape in the batch was judged against its first */
	ck_assert_int_eq(count_rows(rd, "SELECT count(*) FROM scrapes WHERE target_id = 1"
	                                " AND restart = 'first'"),
	                 1);
	ck_assert_int_eq(count_rows(rd, "SELECT count(*) FROM scrapes WHERE target_id = 1"
	                                " AND restart IS NULL"),
	                 1);
	store_free(rd);
	store_free(st);
}
END_TEST

/* A batch rolled back (the database refused a later scrape, or the commit) stores nothing, and the
 * store forgets what its scrapes showed of their targets: a target whose only scrape was rolled
 * back starts its first process lifetime with its next scrape. */
START_TEST(test_batch_rollback)
{
	struct prof_location l[] = {loc("main.a", "/a.go", 1, "chan receive", 3, stack_b, 2)};
	struct profile p = prof(l, 1);
	struct store *st = store_open(dbpath, 0);
	int64_t t;

	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "s", NULL, "http://x");
	ck_assert_int_eq(store_batch_begin(st), 0);
	ck_assert_int_eq(
	    store_add_scrape(
	        st,
	        &(struct scrape_record){.target_id = t, .ts = T0, .status = "ok", .profile = &p}),
	    0);
	store_batch_rollback(st);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM locations"), 0);

	add(st, t, T0 + MIN, &p);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes WHERE restart = 'first'"), 1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples"), 1);
	store_free(st);
}
END_TEST

/* A full disk in the middle of a batch is the database's refusal, not the scrape's: -1, and the
 * batch is rolled back, nothing of it stored; once there is room the same batch is stored whole. */
START_TEST(test_batch_full_disk)
{
	static struct frame big[64];
	static char names[64][256];
	struct prof_location l[40];
	struct profile p;
	struct store *st;
	int64_t t, pages;
	int i, j, rc = 0;
	char sql[64];

	if (testutil_sqlite_only("test_batch_full_disk",
	                         "SQLite's max_page_count stands for a full disk"))
		return;
	st = store_open(dbpath, 0);
	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "s", NULL, "http://x");
	for (i = 0; i < 64; i++) {
		snprintf(names[i], sizeof(names[i]),
		         "example.com/some/long/package/path.(*Type%d).Method%0150d", i, i);
		big[i] = (struct frame){names[i], "/src/example.com/some/long/package/path/file.go",
		                        (uint32_t)i + 1};
	}
	for (i = 0; i < 40; i++)
		l[i] = loc(names[i], "/src/x.go", (uint32_t)i + 1, "chan send", (uint64_t)i + 1,
		           big, 64);
	p = prof(l, 40);
	add(st, t, T0, &p);
	pages = count_rows(st, "PRAGMA page_count");
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", (long long)pages);
	exec_ok(st, sql);

	for (int attempt = 0; attempt < 2; attempt++) {
		ck_assert_int_eq(store_batch_begin(st), 0);
		for (j = 0, rc = 0; j < 20 && rc == 0; j++) {
			struct scrape_record rec = {.target_id = t,
			                            .ts = T0 + (j + 1) * MIN,
			                            .status = "ok",
			                            .profile = &p};

			for (i = 0; i < 40; i++)
				l[i].loc.line = (uint32_t)(1000 * (j + 1) + i);
			rc = store_add_scrape(st, &rec);
		}
		if (attempt == 0) {
			/* refused, and the batch rolled back */
			ck_assert_int_eq(rc, -1);
			ck_assert_ptr_nonnull(strstr(store_errmsg(st), "database or disk is full"));
			ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 1);
			exec_ok(st, "PRAGMA max_page_count = 1073741823");
		} else {
			ck_assert_int_eq(rc, 0);
			ck_assert_int_eq(store_batch_commit(st), 0);
		}
	}
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 21);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples"), 21 * 40);
	ck_assert_int_eq(
	    count_rows(st, "SELECT integrity_check = 'ok' FROM pragma_integrity_check"), 1);
	store_free(st);
}
END_TEST

START_TEST(test_full_disk)
{
	static struct frame big[64];
	static char names[64][256];
	struct prof_location l[40];
	struct profile p;
	struct store *st;
	int64_t t, scrapes, samples, pages;
	int i, j, rc = 0;

	if (testutil_sqlite_only("test_full_disk",
	                         "SQLite's max_page_count stands for a full disk"))
		return;
	st = store_open(dbpath, 0);
	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "s", NULL, "http://x");
	for (i = 0; i < 64; i++) {
		snprintf(names[i], sizeof(names[i]),
		         "example.com/some/long/package/path.(*Type%d).Method%0150d", i, i);
		big[i] = (struct frame){names[i], "/src/example.com/some/long/package/path/file.go",
		                        (uint32_t)i + 1};
	}
	for (i = 0; i < 40; i++)
		l[i] = loc(names[i], "/src/x.go", (uint32_t)i + 1, "chan send", (uint64_t)i + 1,
		           big, 64);
	p = prof(l, 40);
	add(st, t, T0, &p);
	scrapes = count_rows(st, "SELECT count(*) FROM scrapes");
	samples = count_rows(st, "SELECT count(*) FROM samples");

	/* The disk is full: no page can be added beyond the current size. */
	pages = count_rows(st, "PRAGMA page_count");
	{
		char sql[64];

		snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", (long long)pages);
		exec_ok(st, sql);
	}
	/* New locations with new stacks need new pages. */
	for (j = 0; j < 20 && rc == 0; j++) {
		struct scrape_record rec = {
		    .target_id = t, .ts = T0 + (j + 1) * MIN, .status = "ok", .profile = &p};

		for (i = 0; i < 40; i++)
			l[i].loc.line = (uint32_t)(1000 * (j + 1) + i);
		big[0].line = (uint32_t)(1000 * (j + 1));
		rc = store_add_scrape(st, &rec);
		if (rc == 0) {
			scrapes++;
			samples += 40;
		}
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(store_errmsg(st), "database or disk is full"));
	/* Everything committed before is intact, nothing partial of the failed scrape. */
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), scrapes);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples"), samples);
	ck_assert_int_eq(count_rows(st,
	                            "SELECT count(*) FROM samples s LEFT JOIN locations l ON l.id ="
	                            " s.location_id WHERE l.id IS NULL"),
	                 0);

	/* Space comes back: the next scrape is stored. */
	exec_ok(st, "PRAGMA max_page_count = 1073741823");
	add(st, t, T0 + 100 * MIN, &p);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), scrapes + 1);
	store_free(st);

	st = store_open(dbpath, 0);
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), scrapes + 1);
	ck_assert_int_eq(
	    count_rows(st, "SELECT integrity_check = 'ok' FROM pragma_integrity_check"), 1);
	store_free(st);
}
END_TEST

/* ---- detector walks ---- */

struct walk {
	char log[64][96];
	int n;
	int stop_at;
};

static int
on_scrape(const struct store_scrape *s, void *arg)
{
	struct walk *w = arg;

	ck_assert_int_lt(w->n, 64);
	snprintf(w->log[w->n++], sizeof(w->log[0]), "%s %s %lld %llu%s", s->service, s->target,
	         (long long)((s->ts - T0) / MIN), (unsigned long long)s->total_goroutines,
	         s->goroutineleak ? " leak" : "");
	return w->n == w->stop_at ? 7 : 0;
}

static int
on_sample(const struct store_sample *s, void *arg)
{
	struct walk *w = arg;

	ck_assert_int_lt(w->n, 64);
	snprintf(w->log[w->n++], sizeof(w->log[0]), "%lld %lld %lld %lld %llu%s",
	         (long long)s->service_id, (long long)s->location_id, (long long)s->target_id,
	         (long long)((s->ts - T0) / MIN), (unsigned long long)s->count,
	         s->detail ? " d" : "");
	return 0;
}

START_TEST(test_walks)
{
	struct prof_location la[] = {
	    loc("main.b", "/b.go", 2, "chan send", 7, stack_a, 4),
	    loc("main.a", "/a.go", 1, "chan receive", 3, stack_b, 2),
	};
	struct prof_location lb[] = {loc("main.a", "/a.go", 1, "chan receive", 9, stack_b, 2)};
	struct profile pa = prof(la, 2), pb = prof(lb, 1), pl = prof(lb, 1);
	struct store *st = store_open(dbpath, 0);
	struct scrape_record fail = {.ts = T0 + 2 * MIN, .status = "connect refused"};
	struct walk w = {.n = 0};
	int64_t zeta1, zeta2, alpha, a_id, b_id;
	char expect[96];

	ck_assert_ptr_nonnull(st);
	pl.kind = PROFILE_KIND_GOROUTINELEAK;
	/* Registered out of order: the walks order by service name and URL, not by id. */
	zeta2 = store_target_upsert(st, "zeta", NULL, "http://z2");
	zeta1 = store_target_upsert(st, "zeta", NULL, "http://z1");
	alpha = store_target_upsert(st, "alpha", NULL, "http://a1");
	add(st, zeta2, T0 + 1 * MIN, &pa); /* a location id for main.b first */
	add(st, zeta1, T0 + 1 * MIN, &pb);
	add(st, alpha, T0 + 1 * MIN, &pl);
	add(st, zeta1, T0 + 0 * MIN, &pa); /* too old below */
	add(st, zeta1, T0 + 3 * MIN, &pa);
	add(st, zeta2, T0 + 2 * MIN, &pb);
	fail.target_id = zeta1;
	ck_assert_int_eq(store_add_scrape(st, &fail), 0);
	b_id = count_rows(st, "SELECT id FROM locations WHERE function = 'main.b'");
	a_id = count_rows(st, "SELECT id FROM locations WHERE function = 'main.a'");
	ck_assert_int_lt(b_id, a_id);

	ck_assert_int_eq(store_each_scrape(st, NULL, T0 + MIN, on_scrape, &w), 0);
	ck_assert_int_eq(w.n, 5);
	ck_assert_str_eq(w.log[0], "alpha http://a1 1 14 leak");
	ck_assert_str_eq(w.log[1], "zeta http://z1 1 14");
	ck_assert_str_eq(w.log[2], "zeta http://z1 3 15");
	ck_assert_str_eq(w.log[3], "zeta http://z2 1 15");
	ck_assert_str_eq(w.log[4], "zeta http://z2 2 14");

	w = (struct walk){.stop_at = 2};
	ck_assert_int_eq(store_each_scrape(st, "zeta", T0 + MIN, on_scrape, &w), 7);
	ck_assert_int_eq(w.n, 2);
	ck_assert_str_eq(w.log[1], "zeta http://z1 3 15");
	w = (struct walk){.n = 0};
	ck_assert_int_eq(store_each_scrape(st, "nosuch", 0, on_scrape, &w), 0);
	ck_assert_int_eq(w.n, 0);

	/* Samples: by service name, location, target URL, time. */
	w = (struct walk){.n = 0};
	ck_assert_int_eq(store_each_sample(st, "zeta", T0 + MIN, on_sample, &w), 0);
	ck_assert_int_eq(w.n, 6);
	snprintf(expect, sizeof(expect), "1 %lld %lld 3 7", (long long)b_id, (long long)zeta1);
	ck_assert_str_eq(w.log[0], expect);
	snprintf(expect, sizeof(expect), "1 %lld %lld 1 7", (long long)b_id, (long long)zeta2);
	ck_assert_str_eq(w.log[1], expect);
	snprintf(expect, sizeof(expect), "1 %lld %lld 1 9", (long long)a_id, (long long)zeta1);
	ck_assert_str_eq(w.log[2], expect);
	snprintf(expect, sizeof(expect), "1 %lld %lld 3 3", (long long)a_id, (long long)zeta1);
	ck_assert_str_eq(w.log[3], expect);
	snprintf(expect, sizeof(expect), "1 %lld %lld 1 3", (long long)a_id, (long long)zeta2);
	ck_assert_str_eq(w.log[4], expect);
	snprintf(expect, sizeof(expect), "1 %lld %lld 2 9", (long long)a_id, (long long)zeta2);
	ck_assert_str_eq(w.log[5], expect);

	w = (struct walk){.n = 0};
	ck_assert_int_eq(store_each_sample(st, NULL, T0 + MIN, on_sample, &w), 0);
	ck_assert_int_eq(w.n, 7);
	/* alpha's service id: 2 on SQLite, 3 on PostgreSQL (its sequence moved on at the second
	 * registration of zeta, an upsert) */
	snprintf(expect, sizeof(expect), "%lld %lld %lld 1 9",
	         (long long)count_rows(st, "SELECT id FROM services WHERE name = 'alpha'"),
	         (long long)a_id, (long long)alpha);
	ck_assert_str_eq(w.log[0], expect);
	store_free(st);
}
END_TEST

static int
walk_nothing(const struct store_sample *s, void *arg)
{
	(void)s;
	(void)arg;
	return 0;
}

static int
walk_nothing_scrape(const struct store_scrape *s, void *arg)
{
	(void)s;
	(void)arg;
	return 0;
}

static int
count_rollup_hours(const struct store_rollup_hour *h, void *arg)
{
	(void)h;
	(*(int *)arg) += 1000;
	return 0;
}

static int
count_rollups(const struct store_rollup *r, void *arg)
{
	(void)r;
	(*(int *)arg)++;
	return 0;
}

/* The statements on the big tables use their indexes: after the detector's walks, retention and
 * the ranking load ran over real rows, none of the store's own statements touching scrapes or
 * samples stepped through a full table scan or built an automatic index (SQLite counts both per
 * statement). */
START_TEST(test_no_full_scans)
{
	struct prof_location l[] = {
	    loc("main.leakSend", "/src/app/leak.go", 42, "chan send", 10, stack_a, 4),
	    loc("main.pool.worker", "/src/app/pool.go", 88, "chan receive", 100, stack_b, 2),
	};
	struct profile p = prof(l, 2);
	struct store *st = store_open(dbpath, 0);
	struct ranking r;
	int64_t t[3];
	int i, j, checked = 0, rolled;

	ck_assert_ptr_nonnull(st);
	t[0] = store_target_upsert(st, "a", NULL, "http://a1");
	t[1] = store_target_upsert(st, "a", NULL, "http://a2");
	t[2] = store_target_upsert(st, "b", NULL, "http://b1");
	for (i = 0; i < 30; i++)
		for (j = 0; j < 3; j++)
			add(st, t[j], T0 + i * 10 * MIN, &p);
	ck_assert_int_eq(store_each_sample(st, NULL, T0 + HOUR, walk_nothing, NULL), 0);
	ck_assert_int_eq(store_each_sample(st, "a", T0 + HOUR, walk_nothing, NULL), 0);
	ck_assert_int_eq(store_each_scrape(st, NULL, T0 + HOUR, walk_nothing_scrape, NULL), 0);
	ck_assert_int_eq(store_each_scrape(st, "b", T0 + HOUR, walk_nothing_scrape, NULL), 0);
	ck_assert_int_ge(store_retention_step(st, T0 + 50 * HOUR, 48 * HOUR, 30 * 24 * HOUR, 1000),
	                 0);
	ck_assert_int_eq(store_ranking_load(st, NULL, 0, &r), 1);
	/* Hours T0 .. T0 + 4 h rolled up: 5 hours (x 1000) with 2 locations each in each service;
	 * 1 hour and its 2 rows in [T0 + 1 h, T0 + 2 h) of b. */
	rolled = 0;
	ck_assert_int_eq(store_each_rollup(st, NULL, T0, T0 + 50 * HOUR, count_rollup_hours,
	                                   count_rollups, &rolled),
	                 0);
	ck_assert_int_eq(rolled, 10 * 1000 + 20);
	rolled = 0;
	ck_assert_int_eq(store_each_rollup(st, "b", T0 + HOUR, T0 + 2 * HOUR, count_rollup_hours,
	                                   count_rollups, &rolled),
	                 0);
	ck_assert_int_eq(rolled, 1000 + 2);
	{
		struct store_labels lb;
		int64_t sid;

		ck_assert_int_eq(store_service_id(st, "a", &sid), 0);
		ck_assert_int_eq(store_labels_top(st, sid, 1, T0, T0 + 50 * HOUR, 5, "k", "v", &lb),
		                 0);
		store_labels_release(&lb);
	}
	/* The target lists: each of their statements (all, by service, by state, both). */
	for (int k = 0; k < 4; k++) {
		struct query_targets_filter f = {.service = k & 1 ? "a" : NULL,
		                                 .state =
		                                     k & 2 ? QUERY_TARGETS_UP : QUERY_TARGETS_ANY,
		                                 .limit = 2};
		struct target_health *h;
		size_t n;
		int64_t next;

		ck_assert_msg(query_targets(st, &f, &h, &n, &next) == 0, "%s", store_errmsg(st));
		ck_assert_uint_eq(n, 2);
		target_health_free(h, n);
	}

	/* SQLite's statement counters (PostgreSQL has none) */
	checked = assert_indexed(
	    st, (const char *const[]){"scrapes", "samples", "ORDER BY t.id LIMIT", NULL});
	ck_assert_int_ge(checked, store_db(st) != NULL ? 10 : 0);
	store_free(st);
}
END_TEST

/* ---- pprof label sets ---- */

/* Label sets are stored per count scrape and location for the ops that may leak, summed over
 * instances at their last and first scrape of a window, filtered by one label, capped per scrape,
 * and deleted with their scrape. */
START_TEST(test_labels)
{
	struct prof_labelset s1[] = {{"{\"tenant\":\"x\"}", 3}, {"{\"tenant\":\"y\"}", 2}};
	struct prof_labelset s2[] = {{"{\"tenant\":\"y\"}", 7}, {"{\"tenant\":\"x\"}", 3}};
	struct prof_labelset sb[] = {{"{\"tenant\":\"x\"}", 50}};
	struct prof_location l1[] = {
	    loc("main.leakSend", "/src/app/leak.go", 42, "chan send", 6, stack_a, 4),
	    loc("main.pool.worker", "/src/app/pool.go", 88, "IO wait", 50, stack_b, 2),
	};
	struct prof_location l2[] = {
	    loc("main.leakSend", "/src/app/leak.go", 42, "chan send", 12, stack_a, 4),
	};
	struct prof_location *many = calloc(100, sizeof(*many));
	struct prof_labelset *manysets = calloc(PROFILE_MAX_LABEL_SETS, sizeof(*manysets));
	char names[100][32], sets[PROFILE_MAX_LABEL_SETS][32];
	struct profile p1, p2, pm;
	struct store *st = store_open(dbpath, 0);
	struct store_labels out;
	int64_t ta, tb, sid, lid;
	char spec[] = "tenant=y", bad[] = "=y";
	const char *k, *v;

	ck_assert_ptr_nonnull(st);
	l1[0].labels = s1;
	l1[0].nlabels = 2;
	l1[0].labels_other = 1;
	l1[1].op_class = OP_CLASS_BENIGN;
	l1[1].labels = sb;
	l1[1].nlabels = 1;
	l2[0].labels = s2;
	l2[0].nlabels = 2;
	l2[0].labels_other = 2;
	p1 = prof(l1, 2);
	p2 = prof(l2, 1);
	ta = store_target_upsert(st, "a", NULL, "http://a1");
	tb = store_target_upsert(st, "a", NULL, "http://a2");
	add(st, ta, T0, &p1);
	add(st, tb, T0, &p1);
	add(st, ta, T0 + 10 * MIN, &p2);
	add(st, tb, T0 + 10 * MIN, &p2);
	/* a detail scrape's labels are not counted */
	ck_assert_int_eq(store_add_scrape(st, &(struct scrape_record){.target_id = ta,
	                                                              .ts = T0 + 11 * MIN,
	                                                              .status = "ok",
	                                                              .detail = true,
	                                                              .profile = &p1}),
	                 0);
	/* IO wait never leaks: its labels are not stored */
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM label_samples l JOIN labelsets s"
	                                " ON s.id = l.labelset_id WHERE s.labels LIKE '%x%'"
	                                " AND l.count = 50"),
	                 0);
	/* each distinct set is stored once, however many scrapes and locations carry it */
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM labelsets"), 2);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM label_samples"), 4 * 3);
	ck_assert_int_eq(store_service_id(st, "a", &sid), 0);
	lid = count_rows(st, "SELECT id FROM locations WHERE function = 'main.leakSend'");

	ck_assert_int_eq(store_labels_top(st, sid, lid, T0, T0 + HOUR, 0, NULL, NULL, &out), 0);
	ck_assert_uint_eq(out.n, 2);
	ck_assert_str_eq(out.sets[0].set, "{\"tenant\":\"y\"}");
	ck_assert_uint_eq(out.sets[0].count, 14);
	ck_assert_uint_eq(out.sets[0].first, 4);
	ck_assert_str_eq(out.sets[1].set, "{\"tenant\":\"x\"}");
	ck_assert_uint_eq(out.sets[1].count, 6);
	ck_assert_uint_eq(out.sets[1].first, 6);
	ck_assert_uint_eq(out.other, 4);
	ck_assert_uint_eq(out.other_first, 2);
	store_labels_release(&out);
	/* one set: the other goes with the sets not kept */
	ck_assert_int_eq(store_labels_top(st, sid, lid, T0, T0 + HOUR, 1, NULL, NULL, &out), 0);
	ck_assert_uint_eq(out.n, 1);
	ck_assert_uint_eq(out.other, 10);
	store_labels_release(&out);
	/* the window starts at the second scrape: first = count */
	ck_assert_int_eq(store_labels_top(st, sid, lid, T0 + MIN, T0 + HOUR, 0, NULL, NULL, &out),
	                 0);
	ck_assert_uint_eq(out.sets[0].first, 14);
	store_labels_release(&out);
	ck_assert(store_label_filter_parse(spec, &k, &v));
	ck_assert(!store_label_filter_parse(bad, &k, &v));
	ck_assert_int_eq(store_labels_top(st, sid, lid, T0, T0 + HOUR, 0, "tenant", "y", &out), 0);
	ck_assert_uint_eq(out.n, 1);
	ck_assert_str_eq(out.sets[0].set, "{\"tenant\":\"y\"}");
	ck_assert_uint_eq(out.other, 0);
	store_labels_release(&out);
	ck_assert_int_eq(store_labels_top(st, sid, lid, T0, T0 + HOUR, 0, "tenant", "z", &out), 0);
	ck_assert_uint_eq(out.n, 0);
	store_labels_release(&out);

	/* 100 locations of 32 sets each: STORE_LABEL_ROWS rows at most */
	for (int i = 0; i < PROFILE_MAX_LABEL_SETS; i++) {
		snprintf(sets[i], sizeof(sets[i]), "{\"k\":\"%d\"}", i);
		manysets[i] = (struct prof_labelset){sets[i], 1};
	}
	for (int i = 0; i < 100; i++) {
		snprintf(names[i], sizeof(names[i]), "main.f%d", i);
		many[i] =
		    loc(names[i], "/src/app/many.go", (uint32_t)i + 1, "chan send", 40, stack_c, 3);
		many[i].labels = manysets;
		many[i].nlabels = PROFILE_MAX_LABEL_SETS;
	}
	pm = prof(many, 100);
	add(st, ta, T0 + 20 * MIN, &pm);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM label_samples WHERE scrape_id ="
	                                " (SELECT max(id) FROM scrapes)"),
	                 STORE_LABEL_ROWS);
	/* 100 locations of 32 sets of 900 bytes: STORE_LABEL_BYTES of set text at most */
	for (int i = 0; i < PROFILE_MAX_LABEL_SETS; i++) {
		char *t = malloc(1000);

		snprintf(t, 1000, "{\"k\":\"%0890d\"}", i);
		manysets[i].set = t;
	}
	add(st, ta, T0 + 21 * MIN, &pm);
	ck_assert_int_le(count_rows(st, "SELECT sum(length(s.labels)) FROM label_samples l JOIN"
	                                " labelsets s ON s.id = l.labelset_id WHERE"
	                                " l.scrape_id = (SELECT max(id) FROM scrapes)"),
	                 STORE_LABEL_BYTES);
	ck_assert_int_ge(count_rows(st, "SELECT sum(length(s.labels)) FROM label_samples l JOIN"
	                                " labelsets s ON s.id = l.labelset_id WHERE"
	                                " l.scrape_id = (SELECT max(id) FROM scrapes)"),
	                 STORE_LABEL_BYTES - 1000);
	for (int i = 0; i < PROFILE_MAX_LABEL_SETS; i++)
		free((char *)manysets[i].set);

	/* retention finds the old sets by their last_seen index, never by a scan (SQLite's plan) */
	if (!testutil_backend_pg()) {
		sqlite3_stmt *q;
		bool indexed = false;

		ck_assert_int_eq(
		    sqlite3_prepare_v2(store_db(st),
		                       "EXPLAIN QUERY PLAN DELETE FROM labelsets WHERE id"
		                       " IN (SELECT id FROM labelsets WHERE last_seen < 1"
		                       " LIMIT 5)",
		                       -1, &q, NULL),
		    SQLITE_OK);
		while (sqlite3_step(q) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(q, 3);

			indexed |= strstr(d, "labelsets_last_seen") != NULL;
			ck_assert_msg(strncmp(d, "SCAN labelsets", 14) != 0 ||
			                  strstr(d, "INDEX") != NULL,
			              "plan: %s", d);
		}
		sqlite3_finalize(q);
		ck_assert(indexed);
	}
	/* retention deletes them with their scrapes, and the sets no scrape stored since */
	while (store_retention_step(st, T0 + 100 * HOUR, 48 * HOUR, 30 * 24 * HOUR, 1000) > 0)
		;
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM label_samples"), 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM labelsets"), 0);
	store_free(st);
	free(many);
	free(manysets);
}
END_TEST

/* ---- process lifetimes, decided at ingest ---- */

/* Store a successful scrape of 'p' with what the scraper knows of its connection. */
static void
add_conn(struct store *st, int64_t target, int64_t ts, const struct profile *p,
         enum lifetime_conn conn, bool detail)
{
	struct scrape_record rec = {.target_id = target,
	                            .ts = ts,
	                            .duration_ms = 12,
	                            .bytes = 3456,
	                            .status = "ok",
	                            .detail = detail,
	                            .connection = conn,
	                            .profile = p};

	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
}

static void
add_failed(struct store *st, int64_t target, int64_t ts, const char *status)
{
	struct scrape_record rec = {.target_id = target, .ts = ts, .status = status};

	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
}

/* The stored restart reasons of a target's successful count scrapes, in time order ("-": none). */
static const char *
restarts(struct store *st, int64_t target)
{
	static char out[512];
	struct db_stmt *stmt = testutil_db_prepare(
	    store_dbh(st), "SELECT coalesce(restart, '-') FROM scrapes WHERE target_id = ?1"
	                   " AND status = 'ok' AND detail = 0 ORDER BY ts");
	size_t n = 0;
	int rc;

	out[0] = '\0';
	db_bind_int64(stmt, 1, target);
	while ((rc = db_step(stmt)) == DB_ROW) {
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s", n ? " " : "",
		                      db_column_text(stmt, 0));
		ck_assert_uint_lt(n, sizeof(out));
	}
	ck_assert_int_eq(rc, DB_DONE);
	db_finalize(stmt);
	return out;
}

/* Each signal of storage/lifetime.c, as the ingest sees it: a pool of 2,000 keeps the total up
 * whatever the leak does, so only the other signals show its restarts. A new connection or a
 * failed scrape without a steep fall, a timeout, and a daemon that restarted itself (its first
 * connections are all new) start nothing. */
START_TEST(test_lifetime_ingest)
{
	struct prof_location l[] = {
	    loc("main.pool.worker", "/src/app/pool.go", 88, "chan receive", 2000, stack_b, 2),
	    loc("main.leakSend", "/src/app/leak.go", 42, "chan send", 0, stack_a, 4),
	};
	struct profile p = prof(l, 2);
	struct store *st = store_open(dbpath, 0);
	int64_t t, ts = T0;
	int i;

	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "svc", NULL, "http://a1");
#define STEP(leak, conn)                                                                           \
	do {                                                                                       \
		l[1].count = (leak);                                                               \
		p = prof(l, 2);                                                                    \
		ts += MIN;                                                                         \
		add_conn(st, t, ts, &p, (conn), false);                                            \
	} while (0)
	for (i = 0; i < 5; i++)
		STEP(20 * (uint64_t)i, LIFETIME_CONN_REUSED); /* first, then the leak grows to 80 */
	STEP(2, LIFETIME_CONN_NEW);                           /* connection */
	STEP(40, LIFETIME_CONN_REUSED);
	STEP(60, LIFETIME_CONN_NEW); /* a new connection alone */
	STEP(1, LIFETIME_CONN_NEW);  /* and a fall after a connection that was not kept alive */
	STEP(40, LIFETIME_CONN_REUSED);
	STEP(0, LIFETIME_CONN_REUSED); /* a burst draining over a kept-alive connection */
	STEP(40, LIFETIME_CONN_REUSED);
	add_failed(st, t, ts + MIN, "connect refused");
	ts += MIN;
	STEP(3, LIFETIME_CONN_NEW); /* failed */
	STEP(40, LIFETIME_CONN_REUSED);
	add_failed(st, t, ts + MIN, "timeout");
	ts += MIN;
	STEP(3, LIFETIME_CONN_NEW); /* a timeout is no restart */
	STEP(40, LIFETIME_CONN_REUSED);
	ts += 5 * MIN;
	STEP(3, LIFETIME_CONN_REUSED); /* silence */
	l[0].count = 0;
	STEP(3, LIFETIME_CONN_REUSED); /* total */
	l[0].count = 2000;
	STEP(40, LIFETIME_CONN_REUSED); /* a total that rises is no restart */
	ck_assert_str_eq(restarts(st, t),
	                 "first - - - - connection - - - - - - failed - - - silence total -");
	store_free(st);

	/* A daemon restarted: every connection is new, and the last session's is unknown. */
	st = store_open(dbpath, 0);
	ck_assert_ptr_nonnull(st);
	STEP(3, LIFETIME_CONN_NEW);
	STEP(40, LIFETIME_CONN_REUSED);
	STEP(3, LIFETIME_CONN_NEW); /* now known again */
	l[0].count = 0;
	store_free(st);
	st = store_open(dbpath, 0);
	ck_assert_ptr_nonnull(st);
	STEP(3, LIFETIME_CONN_NEW); /* the stored total is enough for a collapse */
	ck_assert_str_eq(restarts(st, t), "first - - - - connection - - - - - - failed - - - "
	                                  "silence total - - - connection total");
#undef STEP
	store_free(st);
}
END_TEST

/* Goroutine ids from debug=2 detail scrapes, taken every fifth count scrape: when they start again
 * from low numbers, the count scrape since the previous dump where a location that had held for a
 * while fell steeply starts the lifetime, not the one where a burst drained (the total fell more
 * there); ids that keep growing, or fall by less than half, start nothing. */
START_TEST(test_lifetime_goid)
{
	struct prof_location l[] = {
	    loc("main.pool.worker", "/src/app/pool.go", 88, "chan receive", 2000, stack_b, 2),
	    loc("main.leakSend", "/src/app/leak.go", 42, "chan send", 0, stack_a, 4),
	    loc("main.slow", "/src/app/slow.go", 7, "select", 0, stack_c, 3),
	};
	static const uint64_t goids[] = {30000, 31000, 18000, 17000, 4000};
	struct profile p = prof(l, 3);
	struct store *st = store_open(dbpath, 0);
	int64_t t;

	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "svc", NULL, "http://a1");
	for (int i = 0; i < 25; i++) {
		/* restarted between scrapes 16 and 17 (2,165 -> 2,005); slow requests pile up
		 * from 17 to 18 and drain at 19 (2,515 -> 2,015) */
		l[1].count = i <= 16 ? 10 * (uint64_t)i : 5 * (uint64_t)(i - 17);
		l[2].count = i == 17 || i == 18 ? 250 * (uint64_t)(i - 16) : 0;
		p = prof(l, 3);
		add_conn(st, t, T0 + i * MIN, &p, LIFETIME_CONN_UNKNOWN, false);
		if (i % 5 != 0)
			continue;
		p.format = PROFILE_FORMAT_DEBUG2;
		p.max_goid = goids[i / 5];
		add_conn(st, t, T0 + i * MIN + 2000, &p, LIFETIME_CONN_UNKNOWN, true);
		if (i < 20)
			ck_assert_ptr_null(strstr(restarts(st, t), "goid"));
	}
	ck_assert_str_eq(restarts(st, t),
	                 "first - - - - - - - - - - - - - - - - goid - - - - - - -");
	store_free(st);
}
END_TEST

/* Three locations that had accumulated for half an hour collapsing at once start a lifetime
 * (nothing else shows the restart: a pool of 2,000 holds the total, the scraper does not know its
 * connections); three handlers that a downstream outage blocked for five minutes and released at
 * once do not. */
START_TEST(test_lifetime_collapse)
{
	struct prof_location l[] = {
	    loc("main.pool.worker", "/src/app/pool.go", 88, "chan receive", 2000, stack_b, 2),
	    loc("main.a", "/src/app/a.go", 1, "chan send", 0, stack_a, 4),
	    loc("main.b", "/src/app/b.go", 2, "chan send", 0, stack_a, 4),
	    loc("main.c", "/src/app/c.go", 3, "chan send", 0, stack_a, 4),
	};
	struct profile p;
	struct store *st = store_open(dbpath, 0);
	int64_t t;
	int i, m = 0;

	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "svc", NULL, "http://a1");
	for (i = 0; i < 36; i++, m++) { /* accumulating for 35 minutes, then a restart */
		for (int k = 1; k < 4; k++)
			l[k].count = i < 35 ? 10 + (uint64_t)(k * i) : 1;
		p = prof(l, 4);
		add_conn(st, t, T0 + m * MIN, &p, LIFETIME_CONN_UNKNOWN, false);
	}
	for (i = 0; i < 12; i++, m++) { /* an outage: five minutes of pile-up, then released */
		for (int k = 1; k < 4; k++)
			l[k].count = i >= 4 && i < 9 ? 30 * (uint64_t)(i - 3) : 0;
		p = prof(l, 4);
		add_conn(st, t, T0 + m * MIN, &p, LIFETIME_CONN_UNKNOWN, false);
	}
	ck_assert_str_eq(restarts(st, t),
	                 "first - - - - - - - - - - - - - - - - - - - - - - - - - - "
	                 "- - - - - - - - collapse - - - - - - - - - - - -");
	store_free(st);
}
END_TEST

/* A database from before lifetimes were stored gets the rule it was ranked with then: each
 * target's first scrape, and totals falling below half by at least 10. */
/* What the call sites' migration adds, dropped to emulate a database from before it (the
 * migrations after the version set run again). */
#define DROP_CALL_SITES                                                                            \
	"DROP TABLE sample_stacks; DROP INDEX stacks_last_seen; DROP INDEX suspects_stack;"        \
	" ALTER TABLE stacks DROP COLUMN last_seen; ALTER TABLE suspects DROP COLUMN "             \
	"stack_id;" TESTUTIL_DROP_SHARDS

START_TEST(test_lifetime_migration)
{
	struct store *st;

	if (testutil_sqlite_only("test_lifetime_migration",
	                         "SQLite's migrations (PostgreSQL's: check_schema)"))
		return;
	st = store_open(dbpath, 0);
	ck_assert_ptr_nonnull(st);
	/* The database as it was before this migration, the newest: its column gone, the version
	 * one lower. */
	exec_ok(st, DROP_CALL_SITES
	        "ALTER TABLE scrapes DROP COLUMN restart; PRAGMA user_version = 5;"
	        "INSERT INTO services (id, name) VALUES (1, 'svc');"
	        "INSERT INTO targets (id, service_id, url, first_seen) VALUES"
	        " (1, 1, 'http://a1', 0), (2, 1, 'http://a2', 0);"
	        "INSERT INTO scrapes (target_id, ts, duration_ms, bytes, status, detail,"
	        " total_goroutines) VALUES"
	        " (1, 1000, 1, 1, 'ok', 0, 100), (2, 1000, 1, 1, 'ok', 0, 40),"
	        " (1, 2000, 1, 1, 'ok', 0, 120), (1, 2500, 1, 1, 'ok', 1, 3),"
	        " (1, 3000, 1, 1, 'connect refused', 0, NULL), (2, 2000, 1, 1, 'ok', 0, 15),"
	        " (1, 4000, 1, 1, 'ok', 0, 59), (2, 3000, 1, 1, 'ok', 0, 30),"
	        " (1, 5000, 1, 1, 'ok', 0, 70);");
	store_free(st);
	st = store_open(dbpath, 0);
	ck_assert_ptr_nonnull(st);
	ck_assert_int_ge(count_rows(st, "PRAGMA user_version"), 2);
	ck_assert_str_eq(restarts(st, 1), "first - total -");
	ck_assert_str_eq(restarts(st, 2), "first total -");
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes WHERE restart IS NOT NULL"
	                                " AND (status != 'ok' OR detail != 0)"),
	                 0);
	store_free(st);
}
END_TEST

/* ---- rankings ---- */

START_TEST(test_ranking_roundtrip)
{
	struct prof_location l[] = {
	    loc("main.leakSend", "/src/app/leak.go", 42, "chan send", 10, stack_a, 4),
	    loc("main.pool.worker", "/src/app/pool.go", 88, "chan receive", 100, stack_b, 2),
	};
	struct profile p = prof(l, 2);
	struct store *st = store_open(dbpath, 0);
	struct suspect s[3];
	struct ranking r = {0}, out;
	int64_t ta, tb, sa, sb, l1, l2;
	int i;

	ck_assert_ptr_nonnull(st);
	ta = store_target_upsert(st, "payments", NULL, "http://a");
	tb = store_target_upsert(st, "search", NULL, "http://b");
	add(st, ta, T0, &p);
	add(st, tb, T0, &p);
	ck_assert_int_eq(store_ranking_load(st, NULL, 0, &out), 1);
	ck_assert_int_eq(store_service_id(st, "payments", &sa), 0);
	ck_assert_int_eq(store_service_id(st, "search", &sb), 0);
	ck_assert_int_eq(store_service_id(st, "nosuch", &sb), 1);
	ck_assert_int_eq(store_service_id(st, "search", &sb), 0);
	l1 = count_rows(st, "SELECT id FROM locations WHERE function = 'main.leakSend'");
	l2 = count_rows(st, "SELECT id FROM locations WHERE function = 'main.pool.worker'");

	memset(s, 0, sizeof(s));
	s[0] = (struct suspect){.rank = 1,
	                        .service_id = sa,
	                        .location_id = l1,
	                        .score = 0.93,
	                        .confirmed = true,
	                        .current_count = 48210,
	                        .max_instance_count = 4000,
	                        .instances_growing = 14,
	                        .instances_total = 16,
	                        .growth_per_hour = 8000.5,
	                        .monotonicity = 0.99,
	                        .fit = 0.97,
	                        .oldest_wait_minutes = 340,
	                        .median_wait_minutes = 120,
	                        .first_seen = T0 - HOUR,
	                        .explanation = (char *)"grew 12 → 48,210 in 6 h",
	                        .sparkline_json = (char *)"[1,2,3]"};
	s[1] = (struct suspect){.rank = 2,
	                        .service_id = sb,
	                        .location_id = l1,
	                        .score = 0.5,
	                        .oldest_wait_minutes = -1,
	                        .median_wait_minutes = -1,
	                        .explanation = (char *)"second"};
	s[2] = (struct suspect){.rank = 3,
	                        .service_id = sa,
	                        .location_id = l2,
	                        .score = 0.2,
	                        .oldest_wait_minutes = -1,
	                        .median_wait_minutes = -1,
	                        .explanation = NULL};
	r = (struct ranking){
	    .generated_at = T0, .window_seconds = 21600, .duration_ms = 42, .suspects = s, .n = 3};
	ck_assert_int_eq(store_ranking_save(st, &r), 0);

	ck_assert_int_eq(store_ranking_load(st, NULL, 0, &out), 0);
	ck_assert_int_eq(out.generated_at, T0);
	ck_assert_uint_eq(out.window_seconds, 21600);
	ck_assert_uint_eq(out.duration_ms, 42);
	ck_assert_uint_eq(out.n, 3);
	ck_assert_int_eq(out.suspects[0].rank, 1);
	ck_assert_str_eq(out.suspects[0].service, "payments");
	ck_assert_str_eq(out.suspects[0].function, "main.leakSend");
	ck_assert_str_eq(out.suspects[0].file, "/src/app/leak.go");
	ck_assert_uint_eq(out.suspects[0].line, 42);
	ck_assert_str_eq(out.suspects[0].op, "chan send");
	ck_assert_double_eq(out.suspects[0].score, 0.93);
	ck_assert(out.suspects[0].confirmed);
	ck_assert_uint_eq(out.suspects[0].current_count, 48210);
	ck_assert_uint_eq(out.suspects[0].max_instance_count, 4000);
	ck_assert_uint_eq(out.suspects[0].instances_growing, 14);
	ck_assert_uint_eq(out.suspects[0].instances_total, 16);
	ck_assert_double_eq(out.suspects[0].growth_per_hour, 8000.5);
	ck_assert_double_eq(out.suspects[0].monotonicity, 0.99);
	ck_assert_double_eq(out.suspects[0].fit, 0.97);
	ck_assert_int_eq(out.suspects[0].oldest_wait_minutes, 340);
	ck_assert_int_eq(out.suspects[0].median_wait_minutes, 120);
	ck_assert_int_eq(out.suspects[0].first_seen, T0 - HOUR);
	ck_assert_str_eq(out.suspects[0].explanation, "grew 12 → 48,210 in 6 h");
	ck_assert_str_eq(out.suspects[0].sparkline_json, "[1,2,3]");
	ck_assert_ptr_nonnull(strstr(out.suspects[0].stack_json, "\"main.handler.func1\""));
	ck_assert_str_eq(out.suspects[1].service, "search");
	ck_assert_int_eq(out.suspects[1].oldest_wait_minutes, -1);
	ck_assert(!out.suspects[1].confirmed);
	ck_assert_str_eq(out.suspects[2].explanation, "");
	ck_assert_str_eq(out.suspects[2].sparkline_json, "[]");
	ck_assert_str_eq(out.suspects[2].function, "main.pool.worker");
	ranking_release(&out);
	ck_assert_uint_eq(out.n, 0);

	/* One service, ranks as stored; a limit. */
	ck_assert_int_eq(store_ranking_load(st, "payments", 0, &out), 0);
	ck_assert_uint_eq(out.n, 2);
	ck_assert_int_eq(out.suspects[0].rank, 1);
	ck_assert_int_eq(out.suspects[1].rank, 3);
	ranking_release(&out);
	ck_assert_int_eq(store_ranking_load(st, NULL, 1, &out), 0);
	ck_assert_uint_eq(out.n, 1);
	ranking_release(&out);
	ck_assert_int_eq(store_ranking_load(st, "nosuch", 0, &out), 0);
	ck_assert_uint_eq(out.n, 0);
	ranking_release(&out);

	/* A bad suspect (unknown location) fails the whole save; the previous ranking stays the
	 * latest. */
	s[1].location_id = 9999;
	r.generated_at = T0 + MIN;
	ck_assert_int_eq(store_ranking_save(st, &r), -1);
	ck_assert_int_eq(store_ranking_load(st, NULL, 0, &out), 0);
	ck_assert_int_eq(out.generated_at, T0);
	ck_assert_uint_eq(out.n, 3);
	ranking_release(&out);
	s[1].location_id = l1;

	/* A bounded history. */
	for (i = 0; i < 70; i++) {
		r.generated_at = T0 + (i + 2) * MIN;
		r.n = (size_t)(i % 4);
		ck_assert_int_eq(store_ranking_save(st, &r), 0);
	}
	ck_assert_int_le(count_rows(st, "SELECT count(*) FROM rankings"), 50);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM suspects WHERE ranking_id NOT IN"
	                                " (SELECT id FROM rankings)"),
	                 0);
	ck_assert_int_eq(store_ranking_load(st, NULL, 0, &out), 0);
	ck_assert_int_eq(out.generated_at, T0 + 71 * MIN);
	ck_assert_uint_eq(out.n, 69 % 4);
	ranking_release(&out);
	store_free(st);
}
END_TEST

/* ---- target health ---- */

START_TEST(test_target_health)
{
	struct prof_location l[] = {loc("main.a", "/a.go", 1, "chan receive", 3, stack_b, 2)};
	struct profile p = prof(l, 1);
	struct store *st = store_open(dbpath, 0);
	struct scrape_record fail = {
	    .duration_ms = 10000, .status = "timeout", .consecutive_failures = 3};
	struct target_health *h;
	int64_t ok1, ok2, bad, gone, never, keep[4];
	size_t n;

	ck_assert_ptr_nonnull(st);
	ok2 = store_target_upsert(st, "b", NULL, "http://ok2");
	gone = store_target_upsert(st, "a", NULL, "http://gone");
	ok1 = store_target_upsert(st, "a", NULL, "http://ok1");
	bad = store_target_upsert(st, "b", NULL, "http://bad");
	never = store_target_upsert(st, "c", NULL, "http://never");
	add(st, ok1, T0, &p);
	add(st, ok2, T0, &p);
	add(st, bad, T0, &p);
	fail.target_id = bad;
	fail.ts = T0 + MIN;
	ck_assert_int_eq(store_add_scrape(st, &fail), 0);
	fail.target_id = gone;
	ck_assert_int_eq(store_add_scrape(st, &fail), 0);
	keep[0] = ok1;
	keep[1] = ok2;
	keep[2] = bad;
	keep[3] = never;
	ck_assert_int_eq(store_targets_set_active(st, keep, 4), 0);

	ck_assert_int_eq(store_target_health(st, &h, &n), 0);
	ck_assert_uint_eq(n, 5);
	/* Active first, failing first among them, then service and URL. */
	ck_assert_int_eq(h[0].target_id, bad);
	ck_assert_str_eq(h[0].last_status, "timeout");
	ck_assert_uint_eq(h[0].consecutive_failures, 3);
	ck_assert_int_eq(h[0].last_scrape, T0 + MIN);
	ck_assert_int_eq(h[0].last_success, T0);
	ck_assert_int_eq(h[0].last_goroutines, 8);
	ck_assert_uint_eq(h[0].last_duration_ms, 10000);
	ck_assert_int_eq(h[1].target_id, ok1);
	ck_assert_str_eq(h[1].service, "a");
	ck_assert_str_eq(h[1].url, "http://ok1");
	ck_assert_uint_eq(h[1].last_bytes, 3456);
	ck_assert_int_eq(h[2].target_id, ok2);
	ck_assert_int_eq(h[3].target_id, never);
	ck_assert_ptr_null(h[3].last_status);
	ck_assert_int_eq(h[3].last_scrape, 0);
	ck_assert_int_eq(h[3].last_goroutines, -1);
	ck_assert(h[3].active);
	ck_assert_int_eq(h[4].target_id, gone);
	ck_assert(!h[4].active);
	target_health_free(h, n);

	/* Re-registering reactivates. */
	ck_assert_int_eq(store_target_upsert(st, "a", NULL, "http://gone"), gone);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM targets WHERE active = 1"), 5);
	target_health_free(NULL, 0);
	store_free(st);
}
END_TEST

/* ---- the paged target lists (query_targets) ---- */

/* Page through the targets 'f' selects, f.limit at a time, into ids (at most 'max'); checks that
 * a page followed by another is full and names its last id as the cursor, and that no page but
 * a first one is empty. Returns how many were listed. */
static size_t
page_all(struct store *st, struct query_targets_filter f, int64_t *ids, size_t max)
{
	size_t got = 0;

	f.after = 0;
	for (;;) {
		struct target_health *h;
		size_t n;
		int64_t next;

		ck_assert_msg(query_targets(st, &f, &h, &n, &next) == 0, "%s", store_errmsg(st));
		ck_assert_uint_le(n, f.limit);
		ck_assert(n > 0 || got == 0);
		for (size_t i = 0; i < n; i++) {
			ck_assert_uint_lt(got, max);
			ids[got++] = h[i].target_id;
		}
		if (next) {
			ck_assert_uint_eq(n, f.limit);
			ck_assert_int_eq(next, h[n - 1].target_id);
		}
		target_health_free(h, n);
		if (!next)
			return got;
		f.after = next;
	}
}

/* The fixture of test_query_targets: target i (0..59) of service "a" below 40, else "b"; retired
 * when i % 3 == 0; its last scrape by i % 4: "http 503", "timeout", ok, never scraped. */
static bool
fixture_selects(size_t i, const struct query_targets_filter *f)
{
	static const char *const last[] = {"http 503", "timeout", "ok", NULL};
	const char *status = last[i % 4];

	if (f->service && strcmp(f->service, i < 40 ? "a" : "b") != 0)
		return false;
	if (f->inactive != (i % 3 == 0))
		return false;
	switch (f->state) {
	case QUERY_TARGETS_ANY:
		return true;
	case QUERY_TARGETS_UP:
		return status && strcmp(status, "ok") == 0;
	case QUERY_TARGETS_UNKNOWN:
		return status == NULL;
	case QUERY_TARGETS_DOWN:
		return status && strcmp(status, "ok") != 0 &&
		       (!f->status_prefix ||
		        strncmp(status, f->status_prefix, strlen(f->status_prefix)) == 0);
	}
	return false;
}

/* Every filter's pages, whatever the page size, list exactly the targets it selects, in id order,
 * each once; a target added between two pages shows on a later one and shifts nothing. */
START_TEST(test_query_targets)
{
	static const char *const services[] = {NULL, "a", "b"};
	static const char *const prefixes[] = {NULL, "http 5", "time", "nope"};
	struct prof_location l[] = {loc("main.a", "/a.go", 1, "chan receive", 3, stack_b, 2)};
	struct profile p = prof(l, 1);
	struct store *st = store_open(dbpath, 0);
	struct query_targets_filter f = {.limit = 5};
	struct target_health *h;
	int64_t ids[61], keep[60], got[64], next, added;
	size_t nkeep = 0, n, cases = 0;

	ck_assert_ptr_nonnull(st);
	for (size_t i = 0; i < 60; i++) {
		char url[32];
		struct scrape_record fail = {.ts = T0,
		                             .status = i % 4 == 0 ? "http 503" : "timeout",
		                             .consecutive_failures = 2};

		snprintf(url, sizeof(url), "http://t%zu", i);
		ids[i] = store_target_upsert(st, i < 40 ? "a" : "b", NULL, url);
		ck_assert_int_gt(ids[i], 0);
		if (i % 4 == 2)
			add(st, ids[i], T0, &p);
		fail.target_id = ids[i];
		if (i % 4 < 2)
			ck_assert_int_eq(store_add_scrape(st, &fail), 0);
		if (i % 3 != 0)
			keep[nkeep++] = ids[i];
	}
	ck_assert_int_eq(store_targets_set_active(st, keep, nkeep), 0);

	for (size_t sv = 0; sv < 3; sv++) {
		for (unsigned state = QUERY_TARGETS_ANY; state <= QUERY_TARGETS_UNKNOWN; state++) {
			for (size_t pf = 0; pf < 4; pf++) {
				if (pf > 0 && state != QUERY_TARGETS_DOWN)
					continue;
				for (int inactive = 0; inactive < 2; inactive++) {
					for (size_t limit = 1; limit <= 61; limit += 6) {
						size_t want = 0, ngot;

						f = (struct query_targets_filter){
						    .service = services[sv],
						    .state = state,
						    .status_prefix = prefixes[pf],
						    .inactive = inactive,
						    .limit = limit};
						ngot = page_all(st, f, got, 64);
						for (size_t i = 0; i < 60; i++) {
							if (!fixture_selects(i, &f))
								continue;
							ck_assert_uint_lt(want, ngot);
							ck_assert_int_eq(got[want], ids[i]);
							want++;
						}
						ck_assert_uint_eq(ngot, want);
						cases++;
					}
				}
			}
		}
	}
	ck_assert_uint_eq(cases, 3 * (4 + 3) * 2 * 11);

	/* The rows carry the target's health. */
	f = (struct query_targets_filter){.service = "a", .state = QUERY_TARGETS_DOWN, .limit = 1};
	ck_assert_msg(query_targets(st, &f, &h, &n, &next) == 0, "%s", store_errmsg(st));
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(h[0].target_id, ids[1]);
	ck_assert_str_eq(h[0].service, "a");
	ck_assert_str_eq(h[0].url, "http://t1");
	ck_assert_str_eq(h[0].last_status, "timeout");
	ck_assert_uint_eq(h[0].consecutive_failures, 2);
	ck_assert(h[0].active);
	ck_assert_int_eq(next, ids[1]);
	target_health_free(h, n);

	/* A target added between pages comes on a later page; none is skipped or repeated. */
	f = (struct query_targets_filter){.limit = 10};
	ck_assert_msg(query_targets(st, &f, &h, &n, &next) == 0, "%s", store_errmsg(st));
	ck_assert_uint_eq(n, 10);
	target_health_free(h, n);
	added = store_target_upsert(st, "a", NULL, "http://added");
	ck_assert_int_gt(added, ids[59]);
	f.after = next;
	f.limit = 100;
	ck_assert_msg(query_targets(st, &f, &h, &n, &next) == 0, "%s", store_errmsg(st));
	ck_assert_uint_eq(n, nkeep - 10 + 1);
	ck_assert_int_eq(h[0].target_id, keep[10]);
	ck_assert_int_eq(h[n - 1].target_id, added);
	ck_assert_int_eq(next, 0);
	target_health_free(h, n);

	/* An unknown service lists nothing, and says so. */
	f = (struct query_targets_filter){.service = "nosuch", .limit = 10};
	ck_assert_int_eq(query_targets(st, &f, &h, &n, &next), 1);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(h);
	store_free(st);
}
END_TEST

/* Run 'f' and return the virtual machine steps its statement took; fails on a full scan, a sort
 * or an automatic index in it. */
static int
targets_query_cost(struct store *st, const struct query_targets_filter *f, size_t want)
{
	struct target_health *h;
	sqlite3_stmt *stmt = NULL;
	size_t n;
	int64_t next;
	int steps = 0;

	/* SQLite's statement counters (PostgreSQL has none) */
	if (store_db(st) != NULL)
		while ((stmt = sqlite3_next_stmt(store_db(st), stmt)) != NULL)
			(void)sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, 1);
	ck_assert_int_eq(query_targets(st, f, &h, &n, &next), 0);
	ck_assert_uint_eq(n, want);
	target_health_free(h, n);
	/* SQLite's statement counters (PostgreSQL has none) */
	if (store_db(st) != NULL)
		while ((stmt = sqlite3_next_stmt(store_db(st), stmt)) != NULL) {
			const char *sql = sqlite3_sql(stmt);

			if (strstr(sql, "ORDER BY t.id LIMIT") == NULL)
				continue;
			ck_assert_msg(
			    sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0) == 0,
			    "full scan in: %s", sql);
			ck_assert_msg(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_SORT, 0) == 0,
			              "sort in: %s", sql);
			ck_assert_msg(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_AUTOINDEX, 0) ==
			                  0,
			              "automatic index in: %s", sql);
			steps += sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, 1);
		}
	return steps;
}

/* A page costs its own rows, not the targets before it: 3,000 targets ever seen, of which the
 * last 300 are active; of those, service "b" holds the last 50, and the 3 active targets of "a"
 * just before them are down. Each filter's first page of 2 must be found through an index that
 * serves the filter and the order (a walk over the rows before them takes thousands of steps). */
START_TEST(test_query_targets_index)
{
	struct store *st = store_open(dbpath, 0);
	struct scrape_record fail = {.ts = T0, .status = "http 503", .consecutive_failures = 1};
	struct query_targets_filter f = {.limit = 2};
	int64_t keep[300];
	size_t nkeep = 0;
	int worst = 0, steps;

	ck_assert_ptr_nonnull(st);
	for (int i = 0; i < 3000; i++) {
		char url[32];
		int64_t id;

		snprintf(url, sizeof(url), "http://t%d", i);
		id = store_target_upsert(st, i < 2950 ? "a" : "b", NULL, url);
		ck_assert_int_gt(id, 0);
		if (i >= 2700)
			keep[nkeep++] = id;
		if (i >= 2947 && i < 2950) {
			fail.target_id = id;
			ck_assert_int_eq(store_add_scrape(st, &fail), 0);
		}
	}
	ck_assert_int_eq(store_targets_set_active(st, keep, nkeep), 0);

	steps = targets_query_cost(st, &f, 2);
	worst = steps > worst ? steps : worst;
	f.service = "b";
	steps = targets_query_cost(st, &f, 2);
	worst = steps > worst ? steps : worst;
	f.service = NULL;
	f.state = QUERY_TARGETS_DOWN;
	steps = targets_query_cost(st, &f, 2);
	worst = steps > worst ? steps : worst;
	f.service = "a";
	steps = targets_query_cost(st, &f, 2);
	worst = steps > worst ? steps : worst;
	f.service = "b";
	f.state = QUERY_TARGETS_UNKNOWN;
	steps = targets_query_cost(st, &f, 2);
	worst = steps > worst ? steps : worst;
	ck_assert_msg(worst < 300, "a page of 2 targets took %d steps", worst);
	store_free(st);
}
END_TEST

/* The per-service summaries (dashboard, /metrics, /api/v1/services) read the active targets only:
 * 200,000 retired targets beside 30 active ones cost nothing, and a service with none active is
 * not listed. Prints the time it took. */
START_TEST(test_query_services_active_only)
{
	struct store *st = store_open(dbpath, 0);
	struct query_service *sv;
	sqlite3_stmt *stmt = NULL;
	int64_t keep[30], t0;
	size_t n, nkeep = 0;
	int steps = 0;

	ck_assert_ptr_nonnull(st);
	for (int i = 0; i < 30; i++) {
		char url[32];

		snprintf(url, sizeof(url), "http://t%d", i);
		keep[nkeep] = store_target_upsert(st, i < 20 ? "a" : "b", NULL, url);
		ck_assert_int_gt(keep[nkeep], 0);
		nkeep++;
	}
	/* scraped: half of them up, with 7 goroutines each */
	exec_ok(st,
	        "UPDATE targets SET last_scrape = 1789999200000, last_status = CASE id % 2 WHEN 0"
	        " THEN 'ok' ELSE 'timeout' END, last_goroutines = CASE id % 2 WHEN 0 THEN 7 END");
	ck_assert_int_gt(store_target_upsert(st, "gone", NULL, "http://gone"), 0);
	ck_assert_int_eq(store_targets_set_active(st, keep, nkeep), 0);
	exec_ok(st,
	        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200000)"
	        " INSERT INTO targets (service_id, url, first_seen, active, last_scrape,"
	        " last_status, last_goroutines)"
	        " SELECT (SELECT id FROM services WHERE name = CASE i % 3 WHEN 0 THEN 'a'"
	        " WHEN 1 THEN 'b' ELSE 'gone' END), 'http://old' || i, 1, 0, 2, 'ok', 1000 FROM c");

	t0 = clock_mono_ms();
	ck_assert_int_eq(query_services(st, &sv, &n), 0);
	printf("query_services: 30 active targets of 200,031: %lld ms\n",
	       (long long)(clock_mono_ms() - t0));
	fflush(stdout);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(sv[0].name, "a");
	ck_assert_uint_eq(sv[0].targets, 20);
	ck_assert_uint_eq(sv[0].targets_up, 10);
	ck_assert_int_eq(sv[0].goroutines, 70);
	ck_assert_int_eq(sv[0].last_scrape, T0);
	ck_assert_str_eq(sv[1].name, "b");
	ck_assert_uint_eq(sv[1].targets, 10);
	ck_assert_uint_eq(sv[1].targets_up, 5);
	query_services_free(sv, n);
	/* SQLite's statement counters (PostgreSQL has none) */
	if (store_db(st) != NULL)
		while ((stmt = sqlite3_next_stmt(store_db(st), stmt)) != NULL) {
			const char *sql = sqlite3_sql(stmt);

			if (strstr(sql, "FROM services sv") == NULL)
				continue;
			ck_assert_msg(
			    sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0) < 10,
			    "full scan in: %s", sql);
			ck_assert_msg(sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_AUTOINDEX, 0) ==
			                  0,
			              "automatic index in: %s", sql);
			steps += sqlite3_stmt_status(stmt, SQLITE_STMTSTATUS_VM_STEP, 0);
		}
	ck_assert_msg((steps > 0 || store_db(st) == NULL) && steps < 2000,
	              "query_services took %d steps", steps);
	store_free(st);
}
END_TEST

/* ---- retention ---- */

START_TEST(test_retention_rollup)
{
	struct prof_location l10[] = {loc("main.L", "/l.go", 1, "chan send", 10, stack_a, 4),
	                              loc("main.M", "/m.go", 2, "select", 4, NULL, 0)};
	struct prof_location l20[] = {loc("main.L", "/l.go", 1, "chan send", 20, stack_a, 4)};
	struct prof_location l30[] = {loc("main.L", "/l.go", 1, "chan send", 30, stack_a, 4)};
	struct prof_location l5[] = {loc("main.L", "/l.go", 1, "chan send", 5, stack_a, 4)};
	struct prof_location l999[] = {loc("main.L", "/l.go", 1, "chan send", 999, stack_a, 4)};
	struct prof_location lnone[] = {loc("main.Other", "/o.go", 3, "chan receive", 1, NULL, 0)};
	struct profile p10 = prof(l10, 2), p20 = prof(l20, 1), p30 = prof(l30, 1), p5 = prof(l5, 1),
	               p999 = prof(l999, 1), pnone = prof(lnone, 1);
	struct store *st = store_open(dbpath, 0);
	struct scrape_record rec;
	int64_t a, b, c, now = T0 + 50 * HOUR + 10 * MIN, raw = 48 * HOUR, rollup = 30 * 24 * HOUR;
	int calls = 0, rc;

	ck_assert_ptr_nonnull(st);
	a = store_target_upsert(st, "svc", NULL, "http://a");
	b = store_target_upsert(st, "svc", NULL, "http://b");
	c = store_target_upsert(st, "other", NULL, "http://c");
	/* Hour T0 (fully older than now - 48 h = T0 + 2 h 10 min): */
	add(st, a, T0 + 0 * MIN, &p10);
	add(st, a, T0 + 20 * MIN, &p20);
	add(st, a, T0 + 40 * MIN, &p30);
	add(st, b, T0 + 10 * MIN, &p5);
	add(st, b, T0 + 30 * MIN, &pnone); /* L absent: counts as 0 in b's mean */
	rec = (struct scrape_record){.target_id = b,
	                             .ts = T0 + 50 * MIN,
	                             .status = "ok",
	                             .detail = true,
	                             .profile =
	                                 &p999}; /* a detail scrape: deleted, never rolled up */
	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
	rec = (struct scrape_record){.target_id = b, .ts = T0 + 55 * MIN, .status = "timeout"};
	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
	add(st, c, T0 + 5 * MIN, &p30);
	/* Hour T0 + 1 h: */
	add(st, a, T0 + HOUR + 5 * MIN, &p5);
	/* Hour T0 + 2 h straddles the cutoff: kept raw. */
	add(st, a, T0 + 2 * HOUR + 5 * MIN, &p5);
	add(st, a, T0 + 2 * HOUR + 15 * MIN, &p5);
	/* Recent. */
	add(st, a, now - MIN, &p5);
	/* An old rollup and old outbox rows. */
	exec_ok(st, "INSERT INTO rollups (service_id, location_id, hour, max_count, mean_count, "
	            "instances, scrapes) VALUES (1, 1, 0, 1, 1.0, 1, 1)");
	exec_ok(st, "INSERT INTO outbox (event_id, webhook, status, service_id, location_id, "
	            "payload, created,"
	            " next_attempt, state, delivered_at) VALUES ('e1', 'w', 'firing', 1, 1, '{}', "
	            "0, 0, 'delivered', 0),"
	            " ('e2', 'w', 'firing', 1, 1, '{}', 0, 0, 'pending', NULL),"
	            " ('e3', 'w', 'firing', 1, 1, '{}', 0, 0, 'dropped', NULL)");

	exec_ok(st, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60)"
	            " INSERT INTO rankings (generated_at, window_seconds) SELECT i, 21600 FROM n");

	/* A budget of one scrape: one (target, hour) per call. */
	while ((rc = store_retention_step(st, now, raw, rollup, 1)) == 1)
		ck_assert_int_lt(++calls, 20);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_ge(calls, 4);

	/* svc, L, hour T0: a saw 10, 20, 30 (3 scrapes), b saw 5 and then nothing (2 count
	 * scrapes). */
	ck_assert_int_eq(
	    count_rows(st, "SELECT count(*) FROM rollups r JOIN locations l ON l.id = r.location_id"
	                   " JOIN services s ON s.id = r.service_id WHERE s.name = 'svc' AND "
	                   "l.function = 'main.L'"
	                   " AND r.hour = 1789999200000 AND r.max_count = 30 AND r.instances = 2 "
	                   "AND r.scrapes = 5"
	                   " AND abs(r.mean_count - 13.0) < 1e-9"),
	    1);
	/* svc, M, hour T0: only a, once (4), over the service's 5 count scrapes (b's without it
	 * count 0). */
	ck_assert_int_eq(
	    count_rows(st, "SELECT count(*) FROM rollups r JOIN locations l ON l.id = r.location_id"
	                   " WHERE l.function = 'main.M' AND r.max_count = 4 AND r.instances = 1 "
	                   "AND r.scrapes = 5"
	                   " AND abs(r.mean_count - 4.0 / 5) < 1e-9"),
	    1);
	/* other, L: its own row. */
	ck_assert_int_eq(
	    count_rows(st, "SELECT count(*) FROM rollups r JOIN services s ON s.id = r.service_id"
	                   " WHERE s.name = 'other' AND r.max_count = 30 AND r.instances = 1 AND "
	                   "r.mean_count = 30"),
	    1);
	/* svc, L, hour T0 + 1 h. */
	ck_assert_int_eq(
	    count_rows(st,
	               "SELECT count(*) FROM rollups WHERE hour = 1790002800000 AND max_count = 5"),
	    1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM rollups WHERE max_count = 999"), 0);
	/* The old rollup is gone (older than 30 d), raw rows of rolled hours are gone, the rest
	 * kept. */
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM rollups WHERE hour = 0"), 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), raw_left(3, 12));
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples"), raw_left(3, 12));
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes WHERE ts < 1790006400000"),
	                 raw_left(0, 9));
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM outbox"), 1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM outbox WHERE state = 'pending'"), 1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM rankings"), 50);
	ck_assert_int_eq(count_rows(st, "SELECT min(generated_at) FROM rankings"), 11);
	assert_foreign_keys(st);

	/* Nothing left to do; then ingest still works. */
	ck_assert_int_eq(store_retention_step(st, now, raw, rollup, 100), 0);
	add(st, a, now, &p5);
	/* A day later the whole of T0's day is past the raw retention: every database has deleted
	 * it. */
	while ((rc = store_retention_step(st, now + 24 * HOUR, raw, rollup, 100)) == 1)
		ck_assert_int_lt(++calls, 100);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 2);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes WHERE ts < 1790035200000"),
	                 0);
	store_free(st);
}
END_TEST

/* A rollup row of (service, location, hour): -1 in max_count when there is none. */
struct rollup_row {
	int64_t max_count, instances, scrapes;
	double mean, rise;
};

static struct rollup_row
rollup_of(struct store *st, const char *fn, int64_t hour)
{
	struct rollup_row row = {.max_count = -1};
	struct db_stmt *stmt = testutil_db_prepare(
	    store_dbh(st), "SELECT r.max_count, r.instances, r.scrapes, r.mean_count, r.rise"
	                   " FROM rollups r JOIN locations l ON l.id = r.location_id"
	                   " WHERE l.function = ?1 AND r.hour = ?2");

	db_bind_text(stmt, 1, fn);
	db_bind_int64(stmt, 2, hour);
	if (db_step(stmt) == DB_ROW) {
		row.max_count = db_column_int64(stmt, 0);
		row.instances = db_column_int64(stmt, 1);
		row.scrapes = db_column_int64(stmt, 2);
		row.mean = db_column_double(stmt, 3);
		row.rise = db_column_double(stmt, 4);
	}
	db_finalize(stmt);
	return row;
}

/* Rollups are written for every completed hour, raw rows kept: the mean counts every count scrape
 * of every instance of the service (a location absent from a scrape, or from a whole instance,
 * counts 0, whichever instance is rolled up first), and the rise sums each instance's count changes
 * between consecutive scrapes of one process lifetime, the step into the next hour included and the
 * step across a restart left out. */
START_TEST(test_rollup_absent_and_rise)
{
	struct prof_location la[5][2], lb[4][2], lc[2][2];
	struct profile pa[5], pb[4], pc[2];
	struct store *st = store_open(dbpath, 0);
	int64_t a, b, c, now = T0 + 2 * HOUR + 30 * MIN;
	const int64_t b_l[] = {0, 6, 2, 3}, b_p[] = {100, 100, 0, 0};
	struct rollup_row row;
	int i, rc, calls = 0;

	ck_assert_ptr_nonnull(st);
	a = store_target_upsert(st, "s", NULL, "http://a");
	b = store_target_upsert(st, "s", NULL, "http://b");
	c = store_target_upsert(st, "s", NULL, "http://c");
	/* a: L rises 1..4 every 15 min next to a pool P of 100, and 5 in the next hour. */
	for (i = 0; i < 5; i++) {
		la[i][0] = loc("main.L", "/l.go", 1, "chan send", (uint64_t)i + 1, stack_a, 4);
		la[i][1] = loc("main.P", "/p.go", 2, "chan receive", 100, stack_b, 2);
		pa[i] = prof(la[i], 2);
		add(st, a, T0 + i * 15 * MIN, &pa[i]);
	}
	/* b: L absent, 6, then a restart (the total collapses), 2, 3. */
	for (i = 0; i < 4; i++) {
		size_t n = 0;

		if (b_l[i])
			lb[i][n++] =
			    loc("main.L", "/l.go", 1, "chan send", (uint64_t)b_l[i], stack_a, 4);
		if (b_p[i])
			lb[i][n++] =
			    loc("main.P", "/p.go", 2, "chan receive", (uint64_t)b_p[i], stack_b, 2);
		pb[i] = prof(lb[i], n);
		add(st, b, T0 + 5 * MIN + i * 15 * MIN, &pb[i]);
	}
	/* c, rolled up last: Q only here, once; L never. */
	lc[0][0] = loc("main.Q", "/q.go", 3, "select", 7, NULL, 0);
	lc[0][1] = loc("main.P", "/p.go", 2, "chan receive", 100, stack_b, 2);
	lc[1][0] = loc("main.P", "/p.go", 2, "chan receive", 100, stack_b, 2);
	pc[0] = prof(lc[0], 2);
	pc[1] = prof(lc[1], 1);
	add(st, c, T0 + 10 * MIN, &pc[0]);
	add(st, c, T0 + 40 * MIN, &pc[1]);

	while ((rc = store_retention_step(st, now, 48 * HOUR, 30 * 24 * HOUR, 1)) == 1)
		ck_assert_int_lt(++calls, 20);
	ck_assert_int_eq(rc, 0);

	/* 10 count scrapes of s in hour T0: a 4, b 4, c 2. */
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM rollup_hours WHERE hour = "
	                                "1789999200000 AND instances = 3 AND scrapes = 10"
	                                " AND step_ms = 7200000"),
	                 1);
	row = rollup_of(st, "main.L", T0);
	ck_assert_int_eq(row.max_count, 6);
	ck_assert_int_eq(row.instances, 2);
	ck_assert_int_eq(row.scrapes, 10);
	ck_assert_double_eq_tol(row.mean, 21.0 / 10, 1e-9);
	ck_assert_double_eq_tol(row.rise, 4 + 6 + 1, 1e-9); /* a: 1 → 5; b: 0 → 6, 2 → 3 */
	row = rollup_of(st, "main.P", T0);
	ck_assert_double_eq_tol(row.mean, 800.0 / 10, 1e-9); /* a 4 x 100, b 2, c 2 */
	ck_assert_double_eq_tol(row.rise, 0, 1e-9);          /* the restart's drop is not a step */
	row = rollup_of(st, "main.Q", T0);
	ck_assert_int_eq(row.instances, 1);
	ck_assert_int_eq(row.scrapes, 10);
	ck_assert_double_eq_tol(row.mean, 7.0 / 10, 1e-9);
	ck_assert_double_eq_tol(row.rise, -7, 1e-9);
	/* The next hour is not over yet: nothing of it rolled up; raw rows are all kept. */
	ck_assert_int_eq(rollup_of(st, "main.L", T0 + HOUR).max_count, -1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 11);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes WHERE rolled = 0"), 1);

	/* Once past the raw retention (PostgreSQL: the whole day), rolled-up hours go; the rollups
	 * stay as they were. */
	while ((rc = store_retention_step(st, now + raw_left(48, 72) * HOUR, 48 * HOUR,
	                                  30 * 24 * HOUR, 1)) == 1)
		ck_assert_int_lt(++calls, 40);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples"), 0);
	ck_assert_double_eq_tol(rollup_of(st, "main.L", T0).mean, 21.0 / 10, 1e-9);
	ck_assert_double_eq_tol(rollup_of(st, "main.L", T0 + HOUR).mean, 5, 1e-9);
	store_free(st);
}
END_TEST

/* The rollups' rise follows the lifetimes the ingest stored (scrapes.restart), not a rule of its
 * own: next to a pool of 2,000 a leak's fall at a restart barely moves the total, and only the new
 * connection shows it (storage/lifetime.c); that fall is no step, so the hour's rise is what the
 * leak added in its two lifetimes. */
START_TEST(test_rollup_follows_stored_restarts)
{
	static const uint64_t leak[] = {0, 20, 40, 60, 80, 2, 20};
	struct prof_location l[7][2];
	struct profile p[7];
	struct store *st = store_open(dbpath, 0);
	int64_t t, now = T0 + 2 * HOUR + 30 * MIN;
	int i, rc, calls = 0;

	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "s", NULL, "http://a");
	for (i = 0; i < 7; i++) {
		l[i][0] = loc("main.pool", "/p.go", 2, "chan receive", 2000, stack_b, 2);
		l[i][1] = loc("main.L", "/l.go", 1, "chan send", leak[i], stack_a, 4);
		p[i] = prof(l[i], leak[i] ? 2 : 1);
		/* every 10 minutes; the restart at T0 + 50 min, the last in the next hour */
		add_conn(st, t, T0 + i * 10 * MIN, &p[i],
		         i == 5 ? LIFETIME_CONN_NEW : LIFETIME_CONN_REUSED, false);
	}
	ck_assert_str_eq(restarts(st, t), "first - - - - connection -");
	while ((rc = store_retention_step(st, now, 48 * HOUR, 30 * 24 * HOUR, 1)) == 1)
		ck_assert_int_lt(++calls, 20);
	ck_assert_int_eq(rc, 0);
	/* 0 -> 80, then 2 -> 20 into the next hour; the fall 80 -> 2 left out */
	ck_assert_double_eq_tol(rollup_of(st, "main.L", T0).rise, 80 + 18, 1e-9);
	/* the steps it covers: 4 of the first lifetime, 1 into the next hour */
	ck_assert_int_eq(count_rows(st, "SELECT step_ms FROM rollup_hours WHERE hour = "
	                                "1789999200000"),
	                 50 * MIN);
	store_free(st);
}
END_TEST

/* A chart over 7 days with 2 days of raw samples shows 7 days: hourly rollup totals where the raw
 * samples are gone, raw ones after. Two instances hold day + 1 goroutines at L on day 'day'. */
START_TEST(test_series_past_raw)
{
	struct store *st = store_open(dbpath, 0);
	int64_t t[2], now = T0 + 8 * 24 * HOUR, from, step = 42 * MIN;
	struct query_series q;
	int rc, calls = 0;
	size_t b;

	ck_assert_ptr_nonnull(st);
	t[0] = store_target_upsert(st, "s", NULL, "http://a");
	t[1] = store_target_upsert(st, "s", NULL, "http://b");
	for (int64_t ts = T0; ts < now; ts += 10 * MIN) {
		struct prof_location l[] = {loc("main.L", "/l.go", 1, "chan send",
		                                (uint64_t)((ts - T0) / (24 * HOUR)) + 1, stack_a,
		                                4)};
		struct profile p = prof(l, 1);

		add(st, t[0], ts, &p);
		add(st, t[1], ts + MIN, &p);
	}
	while ((rc = store_retention_step(st, now, 48 * HOUR, 30 * 24 * HOUR, 1000)) == 1)
		ck_assert_int_lt(++calls, 100);
	ck_assert_int_eq(rc, 0);

	from = now - 240 * step; /* 7 days: as the API asks for a 7 d chart */
	ck_assert_int_eq(query_location_series(st, 1, NULL, from, now, step, 30 * MIN, &q), 0);
	ck_assert_int_eq(q.nbuckets, 240);
	/* the oldest raw scrape kept: PostgreSQL keeps the whole day retention.raw ends in */
	ck_assert_int_eq(q.hourly_until,
	                 raw_left(now - 48 * HOUR, (now - 48 * HOUR) / (24 * HOUR) * (24 * HOUR)));
	for (b = 0; b < q.nbuckets; b++) {
		int64_t start = from + (int64_t)b * step;
		/* the highest day the bucket touches, in both instances */
		double want = 2.0 * (double)((start + step - 1 - T0) / (24 * HOUR) + 1);

		ck_assert_msg(!isnan(q.total[b]), "bucket %zu (%.1f h ago) is empty", b,
		              (double)(now - start) / HOUR);
		if (start < q.hourly_until)
			ck_assert_msg(fabs(q.total[b] - want) < 1e-6,
			              "bucket %zu (%.1f h ago): %f, not %f", b,
			              (double)(now - start) / HOUR, q.total[b], want);
	}
	ck_assert_double_eq_tol(q.total[0], 2 * 2, 1e-6); /* 7 days ago: day 1, 2 goroutines each */
	ck_assert_double_eq_tol(q.total[q.nbuckets - 1], 2 * 8, 1e-6);
	ck_assert_int_eq(q.ninst, 2);
	ck_assert(isnan(q.inst[0].values[0]));
	query_series_release(&q);

	/* Only one service's rows: none elsewhere. */
	ck_assert_int_eq(query_location_series(st, 1, "nosuch", from, now, step, 30 * MIN, &q), 0);
	ck_assert(isnan(q.total[0]));
	query_series_release(&q);
	store_free(st);
}
END_TEST

/* Locations not seen for longer than rollups are kept are forgotten with their stacks, unless
 * something still refers to them; a location seen again afterwards is simply stored anew. */
START_TEST(test_retention_forgets_locations)
{
	struct prof_location lold[] = {
	    loc("main.A", "/a.go", 1, "chan send", 1, stack_c, 3),
	    loc("main.B", "/b.go", 2, "chan send", 2, stack_a, 4),
	    loc("main.C", "/c.go", 3, "chan send", 3, NULL, 0),
	};
	struct prof_location lnew[] = {loc("main.D", "/d.go", 4, "chan send", 4, stack_a, 4)};
	/* main.B is reached from two call sites; stack_b is no location's representative */
	const struct prof_stack calls_b[] = {{.frames = stack_a, .nframes = 4, .count = 1},
	                                     {.frames = stack_b, .nframes = 2, .count = 1}};
	struct profile pold, pnew = prof(lnew, 1);
	struct store *st = store_open(dbpath, 0);
	int64_t t, now = T0 + 40 * 24 * HOUR, c_id;
	char sql[200];
	int rc, calls = 0;

	ck_assert_ptr_nonnull(st);
	lold[1].stacks = calls_b;
	lold[1].nstacks = 2;
	pold = prof(lold, 3);
	t = store_target_upsert(st, "s", NULL, "http://x");
	add(st, t, T0, &pold);
	add(st, t, now - MIN, &pnew);
	c_id = count_rows(st, "SELECT id FROM locations WHERE function = 'main.C'");
	snprintf(sql, sizeof(sql),
	         "INSERT INTO alerts (service_id, location_id, state, updated)"
	         " VALUES (1, %lld, 'resolved', 0)",
	         (long long)c_id);
	exec_ok(st, sql);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM stacks"), 3);
	/* main.B's two; main.A and main.D have only their representative stack, main.C none */
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM sample_stacks"), 2);

	while ((rc = store_retention_step(st, now, 48 * HOUR, 30 * 24 * HOUR, 100)) == 1)
		ck_assert_int_lt(++calls, 20);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM rollups"), 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM rollup_stacks"), 0);
	ck_assert_int_eq(
	    count_rows(st, "SELECT count(*) FROM locations WHERE function IN ('main.A', 'main.B')"),
	    0);
	ck_assert_int_eq(
	    count_rows(st, "SELECT count(*) FROM locations WHERE function IN ('main.C', 'main.D')"),
	    2);
	/* stack_c went with main.A, stack_b (a call site unseen since) with its scrape; stack_a
	 * stays for main.D. */
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM stacks"), 1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM sample_stacks"), 0);
	ck_assert_int_eq(
	    count_rows(st, "SELECT count(*) FROM stacks WHERE frames LIKE '%main.handler.func1%'"),
	    1);

	/* Seen again: stored anew, through the same connection (its caches must not name deleted
	 * rows). */
	add(st, t, now, &pold);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM locations"), 4);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM stacks"), 3);
	assert_foreign_keys(st);
	store_free(st);
}
END_TEST

/* ---- call sites over time ---- */

/* A location reached from ten callers in one service (five per instance) and from another
 * service's: query_location_call_sites() answers the service's own, at most
 * QUERY_CALL_SITES_MAX, the largest now first (then by peak) and the asked-for one whatever its
 * size; per bucket each instance's last scrape counts, a stack absent from it 0, and a sample
 * stored without call sites counts under the location's representative stack. Its statement
 * reads by index. */
START_TEST(test_query_call_sites)
{
	static const char *const callers[] = {"main.caller0", "main.caller1", "main.caller2",
	                                      "main.caller3", "main.caller4", "main.caller5",
	                                      "main.caller6", "main.caller7", "main.caller8",
	                                      "main.caller9", "main.otherSvc"};
	struct frame frames[11][3];
	struct prof_stack stacks[11];
	struct store *st = store_open(dbpath, 0);
	struct query_call_sites cs;
	int64_t t1, t2, t3, id3, loc_id, svc_id;
	int checked = 0;

	ck_assert_ptr_nonnull(st);
	for (int k = 0; k < 11; k++) {
		frames[k][0] =
		    (struct frame){"runtime.gopark", "/usr/lib/go/src/runtime/proc.go", 363};
		frames[k][1] = (struct frame){"main.leakSend", "/src/app/leak.go", 42};
		frames[k][2] = (struct frame){callers[k], "/src/app/callers.go", (uint32_t)k + 1};
		stacks[k] = (struct prof_stack){.frames = frames[k], .nframes = 3, .count = k};
	}
	t1 = store_target_upsert(st, "s", NULL, "http://1");
	t2 = store_target_upsert(st, "s", NULL, "http://2");
	t3 = store_target_upsert(st, "other", NULL, "http://3");
	for (int i = 0; i < 12; i++) {
		struct prof_location l =
		    loc("main.leakSend", "/src/app/leak.go", 42, "chan send", 0, stack_a, 4);
		struct prof_stack v[5];
		struct profile p;
		uint64_t sum = 0;
		size_t n = 0;

		/* t1: callers 0-4, caller0 growing; caller3 gone from the last scrape */
		for (int k = 0; k < 5; k++) {
			if (k == 3 && i == 11)
				continue;
			v[n] = stacks[k];
			v[n].count = k == 0 ? 10 + (uint64_t)i : (uint64_t)k;
			sum += v[n++].count;
		}
		l.stacks = v;
		l.nstacks = n;
		l.count = sum;
		p = prof(&l, 1);
		add(st, t1, T0 + i * MIN + 1000, &p);
		/* t2: callers 5-9; its last scrape only the representative stack (none stored) */
		n = 0;
		sum = 0;
		for (int k = 5; k < 10 && i < 11; k++) {
			v[n] = stacks[k];
			sum += v[n++].count;
		}
		l.stacks = n ? v : NULL;
		l.nstacks = n;
		l.count = n ? sum : 50;
		p = prof(&l, 1);
		add(st, t2, T0 + i * MIN + 2000, &p);
		/* another service's caller, larger than any */
		v[0] = stacks[10];
		v[0].count = 1000;
		l.stacks = v;
		l.nstacks = 1;
		l.count = 1000;
		p = prof(&l, 1);
		add(st, t3, T0 + i * MIN + 3000, &p);
	}
	loc_id = count_rows(st, "SELECT id FROM locations WHERE function = 'main.leakSend'");
	svc_id = count_rows(st, "SELECT id FROM services WHERE name = 's'");
	id3 = count_rows(st, "SELECT id FROM stacks WHERE frames LIKE '%main.caller3\"%'");
	ck_assert_int_gt(id3, 0);

	ck_assert_int_eq(
	    query_location_call_sites(st, loc_id, svc_id, T0, T0 + 12 * MIN, 2 * MIN, id3, &cs), 0);
	ck_assert_uint_eq(cs.nstacks, 11); /* ten callers and the representative */
	ck_assert_uint_eq(cs.n, QUERY_CALL_SITES_MAX);
	/* the representative: t2's last scrape */
	ck_assert_ptr_nonnull(strstr(cs.v[0].frames_json, "main.handler.func1"));
	ck_assert_uint_eq(cs.v[0].first, 0);
	ck_assert_uint_eq(cs.v[0].last, 50);
	/* caller0: each bucket's last scrape of t1 */
	ck_assert_ptr_nonnull(strstr(cs.v[1].frames_json, "main.caller0\""));
	ck_assert_uint_eq(cs.v[1].npoints, 6);
	for (size_t b = 0; b < 6; b++) {
		ck_assert_int_eq(cs.v[1].ts[b], T0 + (int64_t)b * 2 * MIN);
		ck_assert_uint_eq(cs.v[1].count[b], 10 + 2 * b + 1);
	}
	ck_assert_uint_eq(cs.v[1].first, 11);
	ck_assert_uint_eq(cs.v[1].last, 21);
	ck_assert_ptr_nonnull(strstr(cs.v[2].frames_json, "main.caller4\""));
	ck_assert_ptr_nonnull(strstr(cs.v[5].frames_json, "main.caller9\""));
	ck_assert_uint_eq(cs.v[5].first, 9);
	ck_assert_uint_eq(cs.v[5].last, 0);
	/* caller3, asked for, in the last place; absent from t1's last scrape: 0 */
	ck_assert_int_eq(cs.v[7].stack_id, id3);
	ck_assert_uint_eq(cs.v[7].first, 3);
	ck_assert_uint_eq(cs.v[7].last, 0);
	for (size_t i = 0; i < cs.n; i++)
		ck_assert_ptr_null(strstr(cs.v[i].frames_json, "main.otherSvc"));
	query_call_sites_release(&cs);

	/* A window of many scrape intervals: at most QUERY_CALL_SITES_POINTS points. */
	ck_assert_int_eq(
	    query_location_call_sites(st, loc_id, svc_id, T0, T0 + 12 * MIN, 1000, 0, &cs), 0);
	ck_assert_uint_le(cs.v[0].npoints, QUERY_CALL_SITES_POINTS);
	ck_assert_uint_ge(cs.v[0].npoints, 10);
	query_call_sites_release(&cs);

	/* SQLite's statement counters (PostgreSQL has none) */
	checked = assert_indexed(st, (const char *const[]){"FROM sample_stacks ss", NULL});
	ck_assert_int_eq(checked, store_db(st) != NULL ? 1 : 0);
	store_free(st);
}
END_TEST

/* ---- expiring targets ---- */

/* Run retention steps until one reports nothing left. */
static void
retention_done(struct store *st, int64_t now, unsigned budget)
{
	int rc, calls = 0;

	while ((rc = store_retention_step(st, now, 48 * HOUR, 30 * 24 * HOUR, budget)) == 1)
		ck_assert_int_lt(++calls, 1000);
	ck_assert_int_eq(rc, 0);
}

/* A raw retention shorter than a day deletes scrapes row by row on both databases: each scrape's
 * call sites and label sets go before it (no cascade on PostgreSQL: storage/schema_pg.sql), and no
 * row is left whose scrape is gone. */
START_TEST(test_retention_rows_of_a_scrape)
{
	static const struct prof_stack two[] = {{.frames = stack_a, .nframes = 4, .count = 6},
	                                        {.frames = stack_c, .nframes = 3, .count = 4}};
	static const struct prof_labelset sets[] = {{.set = "{\"route\":\"/a\"}", .count = 10}};
	struct prof_location l[] = {loc("main.L", "/l.go", 1, "chan send", 10, stack_a, 4)};
	struct store *st = store_open(dbpath, 0);
	struct profile p;
	int64_t t;
	int rc, calls = 0;

	ck_assert_ptr_nonnull(st);
	l[0].stacks = two;
	l[0].nstacks = 2;
	l[0].labels = sets;
	l[0].nlabels = 1;
	p = prof(l, 1);
	t = store_target_upsert(st, "s", NULL, "http://a");
	for (int i = 0; i < 6; i++) /* three in the first hour, three in the fourth */
		add(st, t, T0 + (i < 3 ? 0 : 3 * HOUR) + (i % 3) * 20 * MIN, &p);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM sample_stacks"), 12);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM label_samples"), 6);
	/* raw kept 2 h: at T0 + 4 h the first hour's three scrapes go (rolled up), the others stay
	 */
	while ((rc = store_retention_step(st, T0 + 4 * HOUR, 2 * HOUR, 30 * 24 * HOUR, 100)) == 1)
		ck_assert_int_lt(++calls, 100);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 3);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples"), 3);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM sample_stacks"), 6);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM label_samples"), 3);
	assert_foreign_keys(st);
	store_free(st);
}
END_TEST

/* Targets out of the configuration and unseen for longer than the rollups are kept leave with
 * their scrapes and samples; active targets, and inactive ones seen since, stay, and so do the
 * service's rollups. A service goes once nothing refers to it, and stays while an alert or an
 * outbox row does. A deleted target registered again starts anew. The statements that find and
 * delete them use their indexes. */
START_TEST(test_retention_expires_targets)
{
	struct prof_location l[] = {loc("main.L", "/l.go", 1, "chan send", 10, stack_a, 4),
	                            loc("main.M", "/m.go", 2, "select", 4, NULL, 0)};
	struct profile p = prof(l, 2);
	struct store *st = store_open(dbpath, 0);
	int64_t now = T0 + 40 * 24 * HOUR, old = now - 35 * 24 * HOUR, a, b, c, n_old, n_new, g, h,
	        q, a2, keep[3];
	char sql[512];
	int checked = 0;

	ck_assert_ptr_nonnull(st);
	a = store_target_upsert(st, "s", NULL, "http://a");         /* old, inactive */
	b = store_target_upsert(st, "s", NULL, "http://b");         /* inactive, seen 10 h ago */
	c = store_target_upsert(st, "s", NULL, "http://c");         /* old, active */
	n_old = store_target_upsert(st, "s", NULL, "http://n-old"); /* never scraped */
	n_new = store_target_upsert(st, "s", NULL, "http://n-new");
	g = store_target_upsert(st, "gone", NULL, "http://g");    /* its service goes too */
	h = store_target_upsert(st, "alerted", NULL, "http://h"); /* its service has an alert */
	q = store_target_upsert(st, "queued", NULL, "http://q");  /* and this one an outbox row */
	/* a's scrapes have call sites and label sets too: rows that go with their scrape */
	static const struct prof_stack two[] = {{.frames = stack_a, .nframes = 4, .count = 6},
	                                        {.frames = stack_c, .nframes = 3, .count = 4}};
	static const struct prof_labelset sets[] = {{.set = "{\"route\":\"/a\"}", .count = 10}};
	struct prof_location la[] = {loc("main.L", "/l.go", 1, "chan send", 10, stack_a, 4)};
	struct profile pa;

	la[0].stacks = two;
	la[0].nstacks = 2;
	la[0].labels = sets;
	la[0].nlabels = 1;
	pa = prof(la, 1);
	for (int i = 0; i < 3; i++) {
		add(st, a, old + i * MIN, &pa);
		add(st, c, old + i * MIN, &p);
		add(st, g, old + i * MIN, &p);
		add(st, h, old + i * MIN, &p);
		add(st, q, old + i * MIN, &p);
	}
	add(st, b, now - 10 * HOUR, &p);
	add(st, b, now - 10 * HOUR + MIN, &p);
	snprintf(sql, sizeof(sql), "UPDATE targets SET first_seen = %lld WHERE id = %lld",
	         (long long)(now - 31 * 24 * HOUR), (long long)n_old);
	exec_ok(st, sql);
	snprintf(sql, sizeof(sql), "UPDATE targets SET first_seen = %lld WHERE id = %lld",
	         (long long)(now - 24 * HOUR), (long long)n_new);
	exec_ok(st, sql);
	exec_ok(st, "INSERT INTO alerts (service_id, location_id, state, updated)"
	            " SELECT s.id, 1, 'resolved', 0 FROM services s WHERE s.name = 'alerted'");
	exec_ok(st,
	        "INSERT INTO outbox (event_id, webhook, status, service_id, location_id,"
	        " payload, created, next_attempt) SELECT 'e1', 'w', 'firing', s.id, 1, '{}', 0, 0"
	        " FROM services s WHERE s.name = 'queued'");
	keep[0] = c;
	keep[1] = n_new;
	keep[2] = n_old;
	ck_assert_int_eq(store_targets_set_active(st, keep, 1), 0); /* c alone */
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM targets WHERE active = 0"), 7);
	ck_assert_int_gt(count_rows(st, "SELECT count(*) FROM sample_stacks"), 0);
	ck_assert_int_gt(count_rows(st, "SELECT count(*) FROM label_samples"), 0);

	retention_done(st, now, 100);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM sample_stacks"), 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM label_samples"), 0);
	/* b (seen 10 h ago), c (active) and n-new (registered a day ago) stay. */
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM targets"), 3);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM targets WHERE id IN (%lld, %lld, %lld)",
	         (long long)b, (long long)c, (long long)n_new);
	ck_assert_int_eq(count_rows(st, sql), 3);
	/* Only b's scrapes are left (c's went at retention.raw), with their samples. */
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 2);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM scrapes WHERE target_id = %lld",
	         (long long)b);
	ck_assert_int_eq(count_rows(st, sql), 2);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples"), 4);
	/* b's rolled-up hour stays in the service's rollups. */
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM rollups r JOIN services s ON s.id = r.service_id"
	         " WHERE s.name = 's' AND r.hour >= %lld",
	         (long long)(now - 11 * HOUR));
	ck_assert_int_eq(count_rows(st, sql), 2);
	/* 'gone' has nothing left; the others are referred to. */
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM services WHERE name = 'gone'"), 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM services WHERE name IN"
	                                " ('s', 'alerted', 'queued')"),
	                 3);
	assert_foreign_keys(st);

	/* SQLite's plans (the statements' counters): the statements deleting targets (listing the
	 * active ones reads them all) */
	checked = assert_indexed(
	    st, (const char *const[]){"coalesce(last_scrape", "WHERE target_id = ?1", NULL});
	ck_assert(testutil_backend_pg() || checked >= 2);

	/* Back in the configuration: registered anew, scraped, and left alone. */
	a2 = store_target_upsert(st, "gone", NULL, "http://g");
	ck_assert_int_gt(a2, 0);
	add(st, a2, now, &p);
	retention_done(st, now + MIN, 100);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM services WHERE name = 'gone'"), 1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM targets"), 4);
	(void)a;
	store_free(st);
}
END_TEST

/* Deleting them is bounded per step: at most the budget of scrapes, and 64 targets per unit of
 * budget, even when the rollups are behind (the expired targets' scrapes then go unrolled: they are
 * past the rollups' retention). */
START_TEST(test_retention_expires_bounded)
{
	struct prof_location l[] = {loc("main.L", "/l.go", 1, "chan send", 10, stack_a, 4)};
	struct profile p = prof(l, 1);
	struct store *st = store_open(dbpath, 0);
	int64_t now = T0 + 40 * 24 * HOUR, e, t[5], ids[1];
	int rc;

	ck_assert_ptr_nonnull(st);
	/* e: active, with a backlog of 10 hours never rolled up, older than everything else */
	e = store_target_upsert(st, "s", NULL, "http://e");
	for (int i = 0; i < 10; i++)
		add(st, e, T0 + i * HOUR, &p);
	for (int i = 0; i < 5; i++) {
		char url[32];

		snprintf(url, sizeof(url), "http://t%d", i);
		t[i] = store_target_upsert(st, "s", NULL, url);
		for (int j = 0; j < 3; j++)
			add(st, t[i], T0 + 12 * HOUR + (i * 3 + j) * MIN, &p);
	}
	/* 200 never scraped, registered 31 days ago (after the others' last scrapes) */
	exec_ok(st, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)"
	            " INSERT INTO targets (service_id, url, first_seen, active)"
	            " SELECT 1, 'http://never-' || i, 1790776800000, 0 FROM n");
	ids[0] = e;
	ck_assert_int_eq(store_targets_set_active(st, ids, 1), 0);

	/* A budget of 2: two of e's hours rolled up and deleted, two scrapes of the oldest
	 * expired targets deleted (never rolled up), no target of them gone yet, and at most 64
	 * targets deleted. */
	ck_assert_int_eq(store_retention_step(st, now, 48 * HOUR, 30 * 24 * HOUR, 2), 1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes WHERE target_id = 1"),
	                 raw_left(8, 10));
	ck_assert_int_eq(
	    count_rows(st, "SELECT count(*) FROM scrapes WHERE target_id = 1 AND rolled = 0"), 8);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes WHERE target_id != 1"), 13);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes WHERE rolled = 1"),
	                 raw_left(0, 2));
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples"), raw_left(8, 10) + 13);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM targets"), 206);

	/* Once the scraped ones are gone, a budget of 1 deletes 64 targets never scraped. */
	for (int calls = 0;
	     count_rows(st, "SELECT count(*) FROM targets WHERE url LIKE 'http://t%'") > 0;) {
		ck_assert_int_eq(store_retention_step(st, now, 48 * HOUR, 30 * 24 * HOUR, 2), 1);
		ck_assert_int_lt(++calls, 20);
	}
	{
		int64_t before = count_rows(st, "SELECT count(*) FROM targets");

		ck_assert_int_gt(before, 1 + 64);
		ck_assert_int_eq(store_retention_step(st, now, 48 * HOUR, 30 * 24 * HOUR, 1), 1);
		ck_assert_int_eq(before - count_rows(st, "SELECT count(*) FROM targets"), 64);
	}
	while ((rc = store_retention_step(st, now, 48 * HOUR, 30 * 24 * HOUR, 2)) == 1)
		;
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM targets"), 1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples"), 0);
	assert_foreign_keys(st);
	store_free(st);
}
END_TEST

/* PostgreSQL: how many of the raw tables (scrapes and its four child tables) have their partition
 * of 'day' (days since 1970) attached. */
static int64_t
pg_day_parts(struct store *st, int64_t day)
{
	char sql[400];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM unnest(leakprofd_partitioned()) AS p(t) JOIN pg_inherits i"
	         " ON i.inhrelid = to_regclass(leakprofd_partition_name(p.t, %lld))"
	         " AND i.inhparent = to_regclass(p.t)",
	         (long long)day);
	return count_rows(st, sql);
}

/* PostgreSQL: the rows of table 'tbl' that lie in its partition of 'day'. */
static int64_t
pg_day_rows(struct store *st, const char *tbl, int64_t day)
{
	char sql[300];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM %s x JOIN pg_class c ON c.oid = x.tableoid"
	         " WHERE c.relname = leakprofd_partition_name('%s', %lld)",
	         tbl, tbl, (long long)day);
	return count_rows(st, sql);
}

/* PostgreSQL only: a scrape of a day without partitions makes them (also when they went since
 * this connection made them: the insert fails, the day is made and the scrape stored again; in a
 * batch, the batch is refused, to be stored again); retention makes today's and tomorrow's ahead
 * and drops the days wholly past the raw retention once rolled up, keeping their rollups. */
START_TEST(test_pg_day_partitions)
{
	struct prof_location l[] = {loc("main.L", "/l.go", 1, "chan send", 10, stack_a, 4)};
	struct profile p = prof(l, 1);
	struct store *st = store_open(dbpath, 0);
	const int64_t day_ms = 24 * HOUR, day = T0 / day_ms, now = T0 + 4 * day_ms;
	struct scrape_record rec = {
	    .target_id = 0, .ts = T0 + 2 * HOUR, .status = "ok", .profile = &p};
	int64_t t;
	int rc, calls = 0;

	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "s", NULL, "http://a");
	rec.target_id = t;
	ck_assert_int_eq(pg_day_parts(st, day), 0);
	add(st, t, T0, &p);
	ck_assert_int_eq(pg_day_parts(st, day), 5);
	ck_assert_int_eq(pg_day_rows(st, "scrapes", day), 1);
	ck_assert_int_eq(pg_day_rows(st, "samples", day), 1);
	ck_assert_int_eq(pg_day_rows(st, "sample_stacks", day), 0);

	/* The day dropped behind the store's back: made again, the scrape stored all the same. */
	exec_ok(st, "UPDATE scrapes SET rolled = 1");
	ck_assert_int_eq(count_rows(st, "SELECT CASE WHEN leakprofd_drop_day(20717) THEN 1 END"),
	                 1);
	ck_assert_int_eq(pg_day_parts(st, day), 0);
	add(st, t, T0 + HOUR, &p);
	ck_assert_int_eq(pg_day_parts(st, day), 5);
	ck_assert_int_eq(pg_day_rows(st, "samples", day), 1);

	/* In a batch: refused (rolled back, try again later), the day made for the next try. */
	exec_ok(st, "UPDATE scrapes SET rolled = 1");
	ck_assert_int_eq(count_rows(st, "SELECT CASE WHEN leakprofd_drop_day(20717) THEN 1 END"),
	                 1);
	ck_assert_int_eq(store_batch_begin(st), 0);
	ck_assert_int_eq(store_add_scrape(st, &rec), -1);
	ck_assert_int_eq(pg_day_parts(st, day), 5);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 0);
	ck_assert_int_eq(store_batch_begin(st), 0);
	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
	ck_assert_int_eq(store_batch_commit(st), 0);
	ck_assert_int_eq(pg_day_rows(st, "scrapes", day), 1);

	/* Retention, raw kept 2 days: the first two days go whole, the fourth stays. */
	add(st, t, T0 + day_ms, &p);
	add(st, t, T0 + 3 * day_ms, &p);
	ck_assert_int_eq(pg_day_parts(st, day + 1), 5);
	while ((rc = store_retention_step(st, now, 2 * day_ms, 30 * day_ms, 1000)) == 1)
		ck_assert_int_lt(++calls, 10);
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(pg_day_parts(st, day), 0);
	ck_assert_int_eq(pg_day_parts(st, day + 1), 0);
	ck_assert_int_eq(pg_day_parts(st, day + 3), 5);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM scrapes"), 1);
	ck_assert_int_eq(pg_day_rows(st, "samples", day + 3), 1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM rollups WHERE hour = 1789999200000"
	                                " + 2 * 3600000"),
	                 1);
	/* made ahead: the days of 'now' and the next */
	ck_assert_int_eq(pg_day_parts(st, day + 4), 5);
	ck_assert_int_eq(pg_day_parts(st, day + 5), 5);
	store_free(st);
}
END_TEST

/* A mark from which writes_since() counts the rows written: SQLite's count of changes, or
 * PostgreSQL's transaction id (a row written after has a newer xmin). */
static int64_t
writes_mark(struct store *st)
{
	if (store_db(st) != NULL)
		return sqlite3_total_changes64(store_db(st));
	return count_rows(st, "SELECT txid_current()");
}

/* Rows written since 'mark' (PostgreSQL: rows of targets, the only table the test writes). */
static int64_t
writes_since(struct store *st, int64_t mark)
{
	char sql[128];

	if (store_db(st) != NULL)
		return sqlite3_total_changes64(store_db(st)) - mark;
	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM targets WHERE CAST(CAST(xmin AS TEXT) AS BIGINT) > %" PRId64,
	         mark);
	return count_rows(st, sql);
}

/* The active set is written row by row only where it changes: an unchanged set writes nothing. */
START_TEST(test_targets_set_active_changes_only)
{
	struct store *st = store_open(dbpath, 0);
	int64_t t[3], ids[5], before;

	ck_assert_ptr_nonnull(st);
	t[0] = store_target_upsert(st, "s", NULL, "http://1");
	t[1] = store_target_upsert(st, "s", NULL, "http://2");
	t[2] = store_target_upsert(st, "s", NULL, "http://3");
	ids[0] = t[2];
	ids[1] = t[0];
	ids[2] = t[1];
	ids[3] = 0;    /* never registered */
	ids[4] = 9999; /* no such target */
	before = writes_mark(st);
	ck_assert_int_eq(store_targets_set_active(st, ids, 5), 0);
	ck_assert_int_eq(writes_since(st, before), 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM targets WHERE active = 1"), 3);

	before = writes_mark(st);
	ck_assert_int_eq(store_targets_set_active(st, ids + 1, 1), 0);
	ck_assert_int_eq(writes_since(st, before), 2);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM targets WHERE active = 1"), 1);

	before = writes_mark(st);
	ck_assert_int_eq(store_targets_set_active(st, ids, 2), 0);
	ck_assert_int_eq(writes_since(st, before), 1);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM targets WHERE active = 1"), 2);

	ck_assert_int_eq(store_targets_set_active(st, NULL, 0), 0);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM targets WHERE active = 1"), 0);
	store_free(st);
}
END_TEST

START_TEST(test_statement_cache)
{
	static const char sql[] = "SELECT count(*) FROM targets";
	struct store *st = store_open(dbpath, 0);
	struct db_stmt *s1, *s2;

	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(store_path(st), dbpath);
	ck_assert(!store_readonly(st));
	s1 = store_prepare(st, sql);
	ck_assert_ptr_nonnull(s1);
	ck_assert_int_eq(db_step(s1), DB_ROW);
	s2 = store_prepare(st, sql);
	ck_assert_ptr_eq(s1, s2);
	ck_assert_int_eq(db_step(s2), DB_ROW); /* reset by store_prepare */
	store_stmt_done(s2);
	if (store_db(st) != NULL) {
		ck_assert_ptr_null(store_prepare(st, "SELECT nosuchcolumn FROM targets"));
	} else {
		/* PostgreSQL prepares a statement on the server at its first step (storage/db.h) */
		s1 = store_prepare(st, "SELECT nosuchcolumn FROM targets");
		ck_assert_ptr_nonnull(s1);
		ck_assert_int_eq(db_step(s1), DB_ERROR);
		store_stmt_done(s1);
	}
	ck_assert_ptr_nonnull(strstr(store_errmsg(st), "nosuchcolumn"));
	ck_assert_int_eq(store_begin(st), 0);
	ck_assert_int_eq(store_target_upsert(st, "x", NULL, "u"), -1); /* nested: refused */
	store_rollback(st);
	store_rollback(st); /* no transaction: harmless */
	ck_assert_int_eq(store_begin_read(st), 0);
	ck_assert_int_eq(store_commit(st), 0);
	store_free(st);
}
END_TEST

/* ---- real profiles, through the real parsers ---- */

static char *
read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_gt(n, 0);
	rewind(f);
	buf = malloc((size_t)n);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Every parsed location is stored exactly, as one sample of the scrape. */
static void
check_stored(struct store *st, int64_t ts, const struct profile *p)
{
	struct db_stmt *stmt = testutil_db_prepare(
	    store_dbh(st),
	    "SELECT count(*), coalesce(sum(x.count), 0), s.total_goroutines FROM scrapes s"
	    " LEFT JOIN samples x ON x.scrape_id = s.id WHERE s.ts = ?1 GROUP BY "
	    "s.total_goroutines");
	uint64_t sum = 0;
	size_t i;

	db_bind_int64(stmt, 1, ts);
	ck_assert_int_eq(db_step(stmt), DB_ROW);
	for (i = 0; i < p->nlocations; i++)
		sum += p->locations[i].count;
	ck_assert_int_eq(db_column_int64(stmt, 0), (int64_t)p->nlocations);
	ck_assert_int_eq(db_column_int64(stmt, 1), (int64_t)sum);
	ck_assert_int_eq(db_column_int64(stmt, 2), (int64_t)p->total_goroutines);
	db_finalize(stmt);

	stmt = testutil_db_prepare(
	    store_dbh(st),
	    "SELECT x.count, x.leaked, l.id FROM scrapes s JOIN samples x ON x.scrape_id = s.id"
	    " JOIN locations l ON l.id = x.location_id"
	    " WHERE s.ts = ?1 AND l.function = ?2 AND l.file = ?3 AND l.line = ?4 AND l.op = ?5");
	for (i = 0; i < p->nlocations; i++) {
		const struct prof_location *pl = &p->locations[i];
		struct store_location sl;
		json_t *frames;

		db_reset(stmt);
		db_bind_int64(stmt, 1, ts);
		db_bind_text(stmt, 2, pl->loc.function);
		db_bind_text(stmt, 3, pl->loc.file);
		db_bind_int64(stmt, 4, pl->loc.line);
		db_bind_text(stmt, 5, pl->op);
		ck_assert_msg(db_step(stmt) == DB_ROW, "location %s %s:%u %s not stored",
		              pl->loc.function, pl->loc.file, pl->loc.line, pl->op);
		ck_assert_int_eq(db_column_int64(stmt, 0), (int64_t)pl->count);
		ck_assert_int_eq(db_column_int64(stmt, 1), (int64_t)pl->leaked);
		ck_assert_int_eq(store_location_get(st, db_column_int64(stmt, 2), &sl), 0);
		frames = json_loads(sl.stack_json, 0, NULL);
		ck_assert_ptr_nonnull(frames);
		/* The representative stack is the first one seen at the location. */
		if (sl.first_seen == ts)
			ck_assert_uint_eq(json_array_size(frames),
			                  pl->nstack < 128 ? pl->nstack : 128);
		else if (pl->nstack > 0)
			ck_assert_uint_gt(json_array_size(frames), 0);
		json_decref(frames);
		store_location_release(&sl);
	}
	db_finalize(stmt);
}

/* Two entries of one profile at one location (the store keys a location by function, file, line
 * and op) make one sample: counts added, the waits by SQLite's max and min (an unknown one makes
 * the result unknown), the first's median; their call sites one row per stack, counts added. Both
 * databases store the same rows (PostgreSQL gathers a scrape's rows into one statement). */
START_TEST(test_same_location_twice)
{
	struct store *st = store_open(dbpath, 0);
	struct prof_location locs[3];
	struct profile p;
	int64_t tid;

	ck_assert_ptr_nonnull(st);
	tid = store_target_upsert(st, "svc", NULL, "http://a:1");
	locs[0] = loc("main.leakSend", "/src/app/leak.go", 42, "chan send", 10, stack_a, 4);
	locs[0].max_wait_minutes = 30;
	locs[0].min_wait_minutes = 2;
	locs[0].median_wait_minutes = 7;
	locs[1] = loc("main.pool.worker", "/src/app/pool.go", 88, "chan receive", 3, stack_b, 2);
	locs[2] = loc("main.leakSend", "/src/app/leak.go", 42, "chan send", 5, stack_c, 3);
	locs[2].leaked = 4;
	locs[2].max_wait_minutes = 50;
	locs[2].min_wait_minutes = 1;
	locs[2].median_wait_minutes = 9;
	p = prof(locs, 3);
	add(st, tid, T0, &p);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples"), 2);
	ck_assert_int_eq(count_rows(st, "SELECT count FROM samples x JOIN locations l ON l.id ="
	                                " x.location_id WHERE l.line = 42"),
	                 15);
	ck_assert_int_eq(count_rows(st,
	                            "SELECT leaked * 1000000 + max_wait * 10000 + min_wait * 100"
	                            " + median_wait FROM samples x JOIN locations l ON l.id ="
	                            " x.location_id WHERE l.line = 42"),
	                 4 * 1000000 + 50 * 10000 + 1 * 100 + 7);
	/* the other caller's stack is a call site; the location's own stack needs none */
	ck_assert_int_eq(count_rows(st,
	                            "SELECT count(*) * 1000 + sum(k.count) FROM sample_stacks k"
	                            " JOIN locations l ON l.id = k.location_id WHERE l.line = 42"),
	                 1005);
	/* an unknown wait makes the merged one unknown */
	locs[2].max_wait_minutes = -1;
	add(st, tid, T0 + 60000, &p);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) FROM samples x JOIN scrapes s ON s.id ="
	                                " x.scrape_id JOIN locations l ON l.id = x.location_id"
	                                " WHERE l.line = 42 AND s.ts = 1789999260000"
	                                " AND x.max_wait IS NULL AND x.min_wait = 1"),
	                 1);
	/* one label set of one location twice: one row, counts added */
	{
		static const struct prof_labelset sets_a[] = {
		    {.set = "{\"route\":\"/a\"}", .count = 4},
		    {.set = "{\"route\":\"/b\"}", .count = 2}};
		static const struct prof_labelset sets_c[] = {
		    {.set = "{\"route\":\"/a\"}", .count = 3}};

		locs[0].labels = sets_a;
		locs[0].nlabels = 2;
		locs[2].labels = sets_c;
		locs[2].nlabels = 1;
		locs[2].labels_other = 1;
		add(st, tid, T0 + 90000, &p);
		ck_assert_int_eq(
		    count_rows(st, "SELECT count(*) * 1000 + sum(x.count) FROM label_samples x"
		                   " JOIN scrapes s ON s.id = x.scrape_id"
		                   " WHERE s.ts = 1789999290000"),
		    3010);
		ck_assert_int_eq(count_rows(st,
		                            "SELECT x.count FROM label_samples x JOIN labelsets l"
		                            " ON l.id = x.labelset_id JOIN scrapes s"
		                            " ON s.id = x.scrape_id WHERE s.ts = 1789999290000"
		                            " AND l.labels LIKE '%/a%'"),
		                 7);
		locs[0].labels = locs[2].labels = NULL;
		locs[0].nlabels = locs[2].nlabels = 0;
		locs[2].labels_other = 0;
	}
	/* the same location with the same stack twice: one call-site row, counts added */
	locs[2] = loc("main.leakSend", "/src/app/leak.go", 42, "chan send", 5, stack_c, 3);
	locs[0] = loc("main.leakSend", "/src/app/leak.go", 42, "chan send", 6, stack_c, 3);
	add(st, tid, T0 + 120000, &p);
	ck_assert_int_eq(count_rows(st, "SELECT count(*) * 1000 + sum(k.count) FROM sample_stacks k"
	                                " JOIN scrapes s ON s.id = k.scrape_id"
	                                " WHERE s.ts = 1789999320000"),
	                 1011);
	store_free(st);
}
END_TEST

START_TEST(test_real_profiles)
{
	static const char *const fixtures[] = {
	    "fixtures/go1.19/goroutine.debug2.txt",
	    "fixtures/go1.19/goroutine.debug1.txt",
	    "fixtures/go1.19/goroutine.debug0.pb.gz",
	};
	static const char debug1[] = "goroutine profile: total 7\n"
	                             "5 @ 0x438b76 0x40651b 0x406018 0x4eeb90 0x465121\n"
	                             "#\t0x4eeb8f\tmain.leakSend+0x2f\t/src/app/leak.go:42\n"
	                             "#\t0x4ef089\tmain.main.func1+0x29\t/src/app/main.go:17\n"
	                             "\n"
	                             "2 @ 0x438b76 0x40651b 0x4eeb90 0x465121\n"
	                             "#\t0x4eeb8f\tmain.pool.worker+0x2f\t/src/app/pool.go:88\n"
	                             "\n";
	struct store *st = store_open(dbpath, 0);
	struct parse_error perr;
	struct profile p;
	size_t i, len;
	int64_t t;

	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "fixtures", NULL, "http://127.0.0.1:6060");
	ck_assert_msg(profile_parse(debug1, sizeof(debug1) - 1, &p, &perr) == 0, "%s", perr.msg);
	ck_assert_uint_eq(p.nlocations, 2);
	add(st, t, T0, &p);
	check_stored(st, T0, &p);
	ck_assert_int_eq(
	    count_rows(st, "SELECT count(*) FROM locations WHERE function = 'main.leakSend'"
	                   " AND file = '/src/app/leak.go' AND line = 42"),
	    1);
	ck_assert_int_eq(
	    count_rows(st, "SELECT format = 'debug=1' FROM scrapes WHERE ts = 1789999200000"), 1);
	profile_release(&p);

	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		char *buf = read_file(fixtures[i], &len);

		ck_assert_msg(profile_parse(buf, len, &p, &perr) == 0, "%s: %s", fixtures[i],
		              perr.msg);
		ck_assert_uint_gt(p.nlocations, 3);
		add(st, t, T0 + (int64_t)(i + 1) * MIN, &p);
		check_stored(st, T0 + (int64_t)(i + 1) * MIN, &p);
		profile_release(&p);
		free(buf);
	}
	assert_foreign_keys(st);
	store_free(st);
}
END_TEST

Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_open_migrates);
	tcase_add_test(tc, test_memory);
	tcase_add_test(tc, test_memory_bound);
	tcase_add_test(tc, test_newer_version_refused);
	tcase_add_test(tc, test_not_a_database);
	tcase_add_test(tc, test_readonly);
	tcase_add_test(tc, test_readonly_directory);
	tcase_add_test(tc, test_readonly_file);
	tcase_add_test(tc, test_interning);
	tcase_add_test(tc, test_untrusted_text);
	tcase_add_test(tc, test_failed_scrapes_and_detail);
	tcase_add_test(tc, test_scrape_atomic);
	tcase_add_test(tc, test_unknown_target);
	tcase_add_test(tc, test_batch);
	tcase_add_test(tc, test_batch_rollback);
	/* SQLite's: a full disk (max_page_count); PostgreSQL's server owns its disk */
	if (!testutil_backend_pg()) {
		tcase_add_test(tc, test_batch_full_disk);
		tcase_add_test(tc, test_full_disk);
	}
	tcase_add_test(tc, test_walks);
	tcase_add_test(tc, test_no_full_scans);
	tcase_add_test(tc, test_labels);
	tcase_add_test(tc, test_lifetime_ingest);
	tcase_add_test(tc, test_lifetime_goid);
	tcase_add_test(tc, test_lifetime_collapse);
	/* SQLite's migration from a version before PostgreSQL's first schema */
	if (!testutil_backend_pg())
		tcase_add_test(tc, test_lifetime_migration);
	tcase_add_test(tc, test_ranking_roundtrip);
	tcase_add_test(tc, test_target_health);
	tcase_add_test(tc, test_query_targets);
	tcase_add_test(tc, test_query_targets_index);
	tcase_add_test(tc, test_retention_rollup);
	tcase_add_test(tc, test_retention_forgets_locations);
	tcase_add_test(tc, test_query_call_sites);
	tcase_add_test(tc, test_rollup_absent_and_rise);
	tcase_add_test(tc, test_rollup_follows_stored_restarts);
	tcase_add_test(tc, test_series_past_raw);
	tcase_add_test(tc, test_retention_expires_targets);
	tcase_add_test(tc, test_retention_expires_bounded);
	tcase_add_test(tc, test_targets_set_active_changes_only);
	tcase_add_test(tc, test_statement_cache);
	tcase_add_test(tc, test_query_services_active_only);
	tcase_add_test(tc, test_real_profiles);
	tcase_add_test(tc, test_same_location_twice);
	tcase_add_test(tc, test_retention_rows_of_a_scrape);
	if (testutil_backend_pg())
		tcase_add_test(tc, test_pg_day_partitions);
	suite_add_tcase(s, tc);
	return s;
}
