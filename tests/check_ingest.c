/* tests/check_ingest.c: the daemon's ingest queue on real SQLite files in a temporary directory:
 * scrapes are stored in the order they were queued, each under its target's database id, with marks
 * run once everything before them is stored; the bounds on waiting scrapes (how many, and how long
 * the oldest job has waited: what a kill -9 can lose) and the measure of the queue; and a database
 * that refuses writes (another connection holds its write lock, as a backup or an operator's
 * sqlite3 shell would): the refusal is reported, scrapes wait in order up to the bound, and are all
 * stored once the lock is gone, or given up when the queue is stopped meanwhile. Scrapes are stored
 * several to a transaction (commits counted by a commit hook), and a scrape the database rejects
 * is left out of its batch alone; what is acknowledged (ingest_committed()) is what has committed.
 */
#include <check.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tests/testutil.h"
#include "base/clock.h"
#include "base/sbuf.h"
#include "collector/profile.h"
#include "collector/scrape.h"
#include "daemon/ingest.h"
#include "storage/store.h"
#include "storage/store_internal.h"

#define HOUR 3600000LL
#define FIXTURE "fixtures/go1.19/goroutine.debug2.txt"

static char tmpdir[64];
static char dbpath[1100];
static atomic_int marks;

static void
setup(void)
{
	testutil_mkdtemp(tmpdir, sizeof(tmpdir), "check_ingest");
	testutil_store_target(dbpath, sizeof(dbpath), tmpdir, "test.db");
	atomic_store(&marks, 0);
}

static void
teardown(void)
{
	testutil_rmtree(tmpdir);
}

static struct ingest *
open_ingest_ms(size_t pending_max, int64_t pending_ms, int64_t retry_ms)
{
	struct store *st = store_open(dbpath, 0);

	ck_assert_ptr_nonnull(st);
	return ingest_new(st, &(struct ingest_options){
	                          .db_path = dbpath,
	                          .pending_max = pending_max,
	                          .pending_ms = pending_ms,
	                          .retry_ms = retry_ms,
	                          .retention_raw_ms = 48 * HOUR,
	                          .retention_rollup_ms = 30 * 24 * HOUR,
	                      });
}

static struct ingest *
open_ingest(size_t pending_max, int64_t retry_ms)
{
	return open_ingest_ms(pending_max, 0, retry_ms);
}

/* A finished scrape of target 'id' with status 'status'; "ok" ones carry the parsed fixture. */
static struct scrape_result
result(int64_t id, const char *status, int64_t ts)
{
	struct scrape_result res = {.id = id, .start_ms = ts, .duration_ms = 12, .bytes = 345};

	snprintf(res.status, sizeof(res.status), "%s", status);
	res.ok = strcmp(status, "ok") == 0;
	res.consecutive_failures = res.ok ? 0 : 1;
	if (res.ok) {
		static char buf[1 << 20];
		struct parse_error err;
		FILE *f = fopen(FIXTURE, "rb");
		size_t n;

		ck_assert_ptr_nonnull(f);
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		ck_assert_int_eq(profile_parse(buf, n, &res.profile, &err), 0);
	}
	return res;
}

static bool
push(struct ingest *in, int64_t id, const char *status, int64_t ts)
{
	struct scrape_result res = result(id, status, ts);
	bool queued = ingest_push_scrape(in, &res);

	/* stolen when ok, whether queued or dropped */
	ck_assert_ptr_null(res.profile.arena);
	return queued;
}

static void
on_mark(void *arg)
{
	(void)arg;
	atomic_fetch_add(&marks, 1);
}

/* Wait up to 'ms' for marks to reach 'n'. */
static bool
wait_marks(int n, int ms)
{
	for (int waited = 0; atomic_load(&marks) < n; waited += 10) {
		if (waited >= ms)
			return false;
		usleep(10 * 1000);
	}
	return true;
}

/* The first column of the rows 'sql' answers, over a fresh read-only connection, joined by ','
 * ("" for NULL). Caller frees. */
static char *
query(const char *sql)
{
	char err[512];
	struct db *db = db_open_flags(dbpath, DB_READONLY, err, sizeof(err));
	struct db_stmt *stmt;
	struct sbuf b = {0};
	enum db_step_result rc;
	size_t len;
	char *out;

	ck_assert_msg(db != NULL, "%s", err);
	stmt = testutil_db_prepare(db, sql);
	for (int n = 0; (rc = db_step(stmt)) == DB_ROW; n++) {
		const char *v = db_column_text(stmt, 0);

		sbuf_addf(&b, "%s%s", n > 0 ? "," : "", v != NULL ? v : "");
	}
	ck_assert_msg(rc == DB_DONE, "%s: %s", sql, db_errmsg(db));
	db_close(db);
	out = sbuf_steal(&b, &len);
	return out != NULL ? out : strdup("");
}

static void
assert_query(const char *sql, const char *want)
{
	char *got = query(sql);

	ck_assert_msg(strcmp(got, want) == 0, "%s: got '%s', want '%s'", sql, got, want);
	free(got);
}

#define STATUSES "SELECT status FROM scrapes ORDER BY id"

START_TEST(test_order)
{
	struct ingest *in = open_ingest(0, 0);
	int64_t t0 = clock_wall_ms() - 60000, both[] = {1, 2}, second[] = {2};
	char want[512] = "";
	size_t len = 0;

	ingest_push_register(in, 1, "api", "http://10.0.0.1:6060", "{\"team\":\"core\"}");
	ingest_push_register(in, 2, "api", "http://10.0.0.2:6060", "{\"team\":\"core\"}");
	ingest_push_active(in, both, 2);
	ck_assert_int_eq(ingest_start(in), 0);
	for (int i = 0; i < 20; i++) {
		char status[16];

		if (i == 5)
			snprintf(status, sizeof(status), "ok");
		else
			snprintf(status, sizeof(status), "s%d", i);
		ck_assert(push(in, 1 + i % 2, status, t0 + i));
		len +=
		    (size_t)snprintf(want + len, sizeof(want) - len, "%s%s", i ? "," : "", status);
	}
	/* a target never registered: its scrape is not stored, and holds nothing up */
	ck_assert(push(in, 7, "s99", t0 + 99));
	ingest_push_mark(in, on_mark, NULL);
	ck_assert(wait_marks(1, 10000));

	/* in the order queued, each under its target; the ok one with its profile */
	assert_query(STATUSES, want);
	assert_query("SELECT ts - (SELECT min(ts) FROM scrapes) FROM scrapes ORDER BY id",
	             "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19");
	/* the last digit of each scrape's target URL, in storage order */
	assert_query(
	    "SELECT substr(t.url, 15, 1) FROM scrapes s JOIN targets t ON t.id = s.target_id"
	    " ORDER BY s.id",
	    "1,2,1,2,1,2,1,2,1,2,1,2,1,2,1,2,1,2,1,2");
	assert_query("SELECT total_goroutines > 0 FROM scrapes WHERE status = 'ok'", "1");
	assert_query("SELECT count(*) > 0 FROM samples", "1");
	assert_query("SELECT labels FROM services WHERE name = 'api'", "{\"team\":\"core\"}");
	assert_query("SELECT active FROM targets ORDER BY url", "1,1");

	/* the active set follows the queue too */
	ingest_push_active(in, second, 1);
	ingest_push_mark(in, on_mark, NULL);
	ck_assert(wait_marks(2, 10000));
	assert_query("SELECT active FROM targets ORDER BY url", "0,1");
	ck_assert(!ingest_failing(in));
	ingest_free(in);
}
END_TEST

START_TEST(test_run_queued)
{
	struct ingest *in = open_ingest(0, 0);
	int64_t t0 = clock_wall_ms() - 60000;

	/* before the thread starts, in the caller's thread */
	ingest_push_register(in, 1, "api", "http://10.0.0.1:6060", "{}");
	ck_assert(push(in, 1, "timeout", t0));
	ck_assert(push(in, 1, "ok", t0 + 1));
	ingest_push_mark(in, on_mark, NULL);
	ingest_run_queued(in);
	ck_assert_int_eq(atomic_load(&marks), 1);
	assert_query(STATUSES, "timeout,ok");

	/* never started: what is still queued at the end is dropped, not stored */
	ck_assert(push(in, 1, "http 500", t0 + 2));
	ingest_free(in);
	assert_query(STATUSES, "timeout,ok");
}
END_TEST

START_TEST(test_bound)
{
	struct ingest *in = open_ingest(3, 0);
	int64_t t0 = clock_wall_ms() - 60000;
	struct ingest_stats stats;

	ingest_push_register(in, 1, "api", "http://10.0.0.1:6060", "{}");
	ck_assert(push(in, 1, "s0", t0));
	ck_assert(push(in, 1, "ok", t0 + 1));
	ck_assert(push(in, 1, "s2", t0 + 2));
	/* three wait: newer scrapes are dropped (an ok one's profile freed); other jobs queue */
	ck_assert(!push(in, 1, "s3", t0 + 3));
	ck_assert(!push(in, 1, "ok", t0 + 4));
	ingest_push_mark(in, on_mark, NULL);
	ingest_run_queued(in);
	ck_assert_int_eq(atomic_load(&marks), 1);
	assert_query(STATUSES, "s0,ok,s2");
	ingest_stats_take(in, &stats);
	ck_assert_uint_eq(stats.stored, 3);
	ck_assert_uint_eq(stats.dropped, 2);
	ck_assert_uint_eq(stats.peak_scrapes, 3);

	/* stored: room again */
	ck_assert(push(in, 1, "s5", t0 + 5));
	ingest_run_queued(in);
	assert_query(STATUSES, "s0,ok,s2,s5");
	ingest_free(in);
}
END_TEST

START_TEST(test_bound_age)
{
	struct ingest *in = open_ingest_ms(0, 300, 0);
	int64_t t0 = clock_wall_ms() - 60000;
	struct ingest_stats stats;

	/* the thread is not started: the queue's head waits as behind a refused write */
	ingest_push_register(in, 1, "api", "http://10.0.0.1:6060", "{}");
	ck_assert(push(in, 1, "s0", t0));
	ck_assert(push(in, 1, "ok", t0 + 1));
	usleep(400 * 1000);
	/* the oldest job has waited longer than the bound: a kill -9 now would lose scrapes that
	 * finished further apart than it allows, so newer ones are dropped, however few wait */
	ck_assert(!push(in, 1, "s2", t0 + 2));
	ck_assert(!push(in, 1, "ok", t0 + 3));
	ingest_push_mark(in, on_mark, NULL);
	ingest_run_queued(in);
	ck_assert_int_eq(atomic_load(&marks), 1);
	assert_query(STATUSES, "s0,ok");
	ingest_stats_take(in, &stats);
	ck_assert_uint_eq(stats.stored, 2);
	ck_assert_uint_eq(stats.dropped, 2);
	ck_assert_int_ge(stats.peak_wait_ms, 400);

	/* stored: an empty queue takes scrapes again, and the measure starts over */
	ck_assert(push(in, 1, "s4", t0 + 4));
	ingest_run_queued(in);
	assert_query(STATUSES, "s0,ok,s4");
	ingest_stats_take(in, &stats);
	ck_assert_uint_eq(stats.stored, 1);
	ck_assert_uint_eq(stats.dropped, 0);
	ck_assert_uint_eq(stats.peak_scrapes, 1);
	ck_assert_int_lt(stats.peak_wait_ms, 300);
	ingest_free(in);
}
END_TEST

/* Another connection takes the database's write lock and keeps it: writers get SQLITE_BUSY once
 * their busy timeout has passed. */
static sqlite3 *
lock_db(void)
{
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static void
unlock_db(sqlite3 *db)
{
	ck_assert_int_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

static bool
wait_failing(struct ingest *in, bool want, int ms)
{
	for (int waited = 0; ingest_failing(in) != want; waited += 10) {
		if (waited >= ms)
			return false;
		usleep(10 * 1000);
	}
	return true;
}

static int
count_commit(void *arg)
{
	++*(int *)arg;
	return 0;
}

/* The commits counted: SQLite's commit hook's (PostgreSQL has no such hook: not checked there). */
static void
assert_commits(int commits, int want)
{
	if (!testutil_backend_pg())
		ck_assert_int_eq(commits, want);
}

/* An ingest with at most 'batch_max' scrapes per transaction, counting its connection's commits
 * into *commits. */
static struct ingest *
open_ingest_batch(size_t batch_max, int *commits)
{
	struct store *st = store_open(dbpath, 0);

	ck_assert_ptr_nonnull(st);
	if (store_db(st) != NULL)
		sqlite3_commit_hook(store_db(st), count_commit, commits);
	return ingest_new(st, &(struct ingest_options){
	                          .db_path = dbpath,
	                          .batch_max = batch_max,
	                          .retention_raw_ms = 48 * HOUR,
	                          .retention_rollup_ms = 30 * 24 * HOUR,
	                      });
}

/* Scrapes are stored several to a transaction, in order, a registration or a mark ending a run;
 * a batch_max of 1 gives one transaction per scrape. */
START_TEST(test_batches)
{
	int64_t t0 = clock_wall_ms() - 60000;
	int commits = 0;
	struct ingest *in = open_ingest_batch(4, &commits);
	struct ingest_stats stats;
	char want[256] = "";
	size_t len = 0;

	ingest_push_register(in, 1, "api", "http://10.0.0.1:6060", "{}");
	ingest_run_queued(in);
	commits = 0;
	for (int i = 0; i < 10; i++) {
		char status[16];

		snprintf(status, sizeof(status), i == 3 ? "ok" : "s%d", i);
		ck_assert(push(in, 1, status, t0 + i));
		len +=
		    (size_t)snprintf(want + len, sizeof(want) - len, "%s%s", i ? "," : "", status);
	}
	/* the registration ends the run: 10 scrapes, then it, then 2 more */
	ingest_push_register(in, 2, "api", "http://10.0.0.2:6060", "{}");
	ck_assert(push(in, 2, "s10", t0 + 10));
	ck_assert(push(in, 1, "s11", t0 + 11));
	len += (size_t)snprintf(want + len, sizeof(want) - len, ",s10,s11");
	ck_assert_uint_eq(ingest_committed(in), 0);
	ingest_run_queued(in);
	/* 4 + 4 + 2, the registration, 2 */
	assert_commits(commits, 5);
	assert_query(STATUSES, want);
	assert_query("SELECT target_id FROM scrapes ORDER BY id", "1,1,1,1,1,1,1,1,1,1,2,1");
	ck_assert_uint_eq(ingest_committed(in), 12);
	ingest_stats_take(in, &stats);
	ck_assert_uint_eq(stats.stored, 12);
	ingest_free(in);

	/* the baseline: one transaction per scrape */
	testutil_rmtree(tmpdir);
	setup();
	commits = 0;
	in = open_ingest_batch(1, &commits);
	ingest_push_register(in, 1, "api", "http://10.0.0.1:6060", "{}");
	ingest_run_queued(in);
	commits = 0;
	for (int i = 0; i < 10; i++)
		ck_assert(push(in, 1, "timeout", t0 + i));
	ingest_run_queued(in);
	assert_commits(commits, 10);
	ingest_free(in);
}
END_TEST

/* A new target set (every target at start: 50,000 of them) registers in transactions of batch_max
 * targets, not one each: the scrapes it schedules are not kept waiting behind thousands of
 * commits. The order still holds: the scrape queued after them is stored, under its target. */
START_TEST(test_registrations_batched)
{
	int64_t t0 = clock_wall_ms() - 60000;
	int commits = 0;
	struct ingest *in = open_ingest_batch(4, &commits);

	for (int i = 1; i <= 10; i++) {
		char url[64];

		snprintf(url, sizeof(url), "http://10.0.0.%d:6060", i);
		ingest_push_register(in, i, "api", url, "{}");
	}
	ck_assert(push(in, 7, "ok", t0));
	ingest_run_queued(in);
	/* 4 + 4 + 2 registrations, then the scrape */
	assert_commits(commits, 4);
	assert_query("SELECT count(*) FROM targets", "10");
	assert_query("SELECT t.url FROM scrapes s JOIN targets t ON t.id = s.target_id",
	             "http://10.0.0.7:6060");
	ingest_free(in);
}
END_TEST

/* A scrape the database rejects (its target's row was deleted under the daemon: a foreign key) is
 * given up with an error naming its target; the rest of its batch is stored, and counted as
 * committed, the rejected ones not. */
START_TEST(test_batch_rejected)
{
	int64_t t0 = clock_wall_ms() - 60000;
	int commits = 0;
	struct ingest *in = open_ingest_batch(0, &commits);
	struct ingest_stats stats;
	char errfile[192], log[4096];
	int fd, saved;
	FILE *f;
	size_t n;
	struct db *db;

	ingest_push_register(in, 1, "api", "http://10.0.0.1:6060", "{}");
	ingest_push_register(in, 2, "api", "http://10.0.0.2:6060", "{}");
	ingest_run_queued(in);
	db = db_open(dbpath, errfile, sizeof(errfile));
	ck_assert_ptr_nonnull(db);
	testutil_db_exec(db, "DELETE FROM targets WHERE url = 'http://10.0.0.2:6060'");
	db_close(db);

	ck_assert(push(in, 1, "s0", t0));
	ck_assert(push(in, 2, "ok", t0 + 1));
	ck_assert(push(in, 1, "ok", t0 + 2));
	ck_assert(push(in, 2, "s3", t0 + 3));
	ck_assert(push(in, 1, "s4", t0 + 4));
	snprintf(errfile, sizeof(errfile), "%s/stderr", tmpdir);
	fd = open(errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	commits = 0;
	ingest_run_queued(in);
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	close(fd);

	/* s0 (the batch before the first rejection), ok (between them), s4 */
	assert_commits(commits, 3);
	assert_query(STATUSES, "s0,ok,s4");
	assert_query("SELECT count(*) FROM samples WHERE scrape_id NOT IN (SELECT id FROM scrapes)",
	             "0");
	ck_assert_uint_eq(ingest_committed(in), 3);
	ingest_stats_take(in, &stats);
	ck_assert_uint_eq(stats.stored, 3);
	f = fopen(errfile, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(log, 1, sizeof(log) - 1, f);
	log[n] = '\0';
	fclose(f);
	ck_assert_msg(strstr(log, "daemon: the scrape of 'http://10.0.0.2:6060' started at ") &&
	                  strstr(log, testutil_backend_pg()
	                                  ? "(SQLSTATE 23503); the others are"
	                                  : "FOREIGN KEY constraint failed; the others are"),
	              "log: %s", log);
	/* each rejected scrape is logged once by the ingest */
	{
		size_t k = 0;

		for (char *q = log; (q = strstr(q, "daemon: the scrape of")) != NULL; q++)
			k++;
		ck_assert_uint_eq(k, 2);
	}
	ck_assert(!ingest_failing(in));
	ingest_free(in);
}
END_TEST

START_TEST(test_refused_then_retried)
{
	struct ingest *in;
	int64_t t0 = clock_wall_ms() - 60000, before;
	struct ingest_queue q;
	sqlite3 *lock;

	if (testutil_sqlite_only("test_refused_then_retried",
	                         "a SQLite write lock held by another connection"))
		return;
	in = open_ingest(8, 100);
	/* the schema exists (store_open made it); then the lock */
	lock = lock_db();
	before = clock_wall_ms();
	ingest_push_register(in, 1, "api", "http://10.0.0.1:6060", "{}");
	for (int i = 0; i < 5; i++) {
		char status[16];

		snprintf(status, sizeof(status), "s%d", i);
		ck_assert(push(in, 1, status, t0 + i));
	}
	ck_assert(!ingest_failing(in));
	ck_assert_int_eq(ingest_start(in), 0);
	/* the registration is refused once the busy timeout passes */
	ck_assert(wait_failing(in, true, 15000));

	/* scraping goes on: scrapes queue behind the refused job, up to the bound */
	ck_assert(push(in, 1, "s5", t0 + 5));
	ck_assert(push(in, 1, "ok", t0 + 6));
	ck_assert(push(in, 1, "s7", t0 + 7));
	ck_assert(!push(in, 1, "s8", t0 + 8));
	ck_assert(!push(in, 1, "s9", t0 + 9));
	ingest_push_mark(in, on_mark, NULL);
	usleep(300 * 1000); /* a few retries, all refused */
	ck_assert(ingest_failing(in));
	ck_assert_int_eq(atomic_load(&marks), 0);
	/* nothing acknowledged while refused */
	ck_assert_uint_eq(ingest_committed(in), 0);
	/* what /healthz and /metrics show: since when, how many wait, how many were dropped */
	ingest_queue_get(in, &q);
	ck_assert_int_ge(q.refused_since_ms, before);
	ck_assert_int_le(q.refused_since_ms, clock_wall_ms());
	ck_assert_uint_eq(q.scrapes, 8);
	ck_assert_uint_eq(q.max_scrapes, 8);
	ck_assert_uint_eq(q.dropped, 2);

	/* the lock goes: everything waiting is stored, in order, and the mark runs after it */
	unlock_db(lock);
	ck_assert(wait_marks(1, 10000));
	ck_assert(wait_failing(in, false, 5000));
	assert_query(STATUSES, "s0,s1,s2,s3,s4,s5,ok,s7");
	ck_assert_uint_eq(ingest_committed(in), 8);
	ingest_queue_get(in, &q);
	ck_assert_int_eq(q.refused_since_ms, 0);
	ck_assert_uint_eq(q.scrapes, 0);
	ck_assert_uint_eq(q.dropped, 2);

	/* and the queue takes new scrapes again */
	ck_assert(push(in, 1, "s10", t0 + 10));
	ingest_push_mark(in, on_mark, NULL);
	ck_assert(wait_marks(2, 10000));
	assert_query(STATUSES, "s0,s1,s2,s3,s4,s5,ok,s7,s10");
	ingest_free(in);
}
END_TEST

/* The bound follows a reload (ingest_set_buffer()) from the next scrape on; ingest_queue_get()
 * reports it with the scrapes waiting and those dropped. */
START_TEST(test_buffer_reload)
{
	struct ingest *in = open_ingest(2, 0);
	int64_t t0 = clock_wall_ms() - 60000;
	struct ingest_queue q;

	ingest_queue_get(in, &q);
	ck_assert_uint_eq(q.max_scrapes, 2);
	ck_assert_int_eq(q.max_ms, INGEST_PENDING_MS);
	ck_assert_int_eq(q.refused_since_ms, 0);
	/* not started: the queue's head waits as behind a refused write */
	ingest_push_register(in, 1, "api", "http://10.0.0.1:6060", "{}");
	ck_assert(push(in, 1, "s0", t0));
	ck_assert(push(in, 1, "s1", t0 + 1));
	ck_assert(!push(in, 1, "s2", t0 + 2));
	/* a larger bound: taken again (past half of it, as dropping asks) */
	ingest_set_buffer(in, 6, 0);
	ck_assert(push(in, 1, "s3", t0 + 3));
	ck_assert(push(in, 1, "s4", t0 + 4));
	ingest_queue_get(in, &q);
	ck_assert_uint_eq(q.scrapes, 4);
	ck_assert_uint_eq(q.max_scrapes, 6);
	ck_assert_uint_eq(q.dropped, 1);
	/* a shorter duration: the head has waited longer already */
	usleep(50 * 1000);
	ingest_set_buffer(in, 6, 20);
	ck_assert(!push(in, 1, "s5", t0 + 5));
	/* 0: the defaults */
	ingest_set_buffer(in, 0, 0);
	ingest_queue_get(in, &q);
	ck_assert_uint_eq(q.max_scrapes, INGEST_PENDING_MAX);
	ck_assert_int_eq(q.max_ms, INGEST_PENDING_MS);
	ck_assert_uint_eq(q.dropped, 2);
	ingest_run_queued(in);
	assert_query(STATUSES, "s0,s1,s3,s4");
	ingest_free(in);
}
END_TEST

/* PostgreSQL: a connection to the database, for a test's own statements. */
static struct db *
open_pg(void)
{
	char err[512];
	struct db *db = db_open(dbpath, err, sizeof(err));

	ck_assert_msg(db != NULL, "%s", err);
	return db;
}

/* PostgreSQL: another session locks the targets table: the writer's statements fail once their
 * lock_timeout (5 s, storage/db_pg.c) has passed, a refusal like SQLite's busy lock: the scrapes
 * wait in memory, in order, and are stored once the lock goes. Without the lock_timeout the writer
 * would hang behind the lock, never failing, nothing telling /healthz. */
START_TEST(test_pg_lock_refused)
{
	struct ingest *in;
	int64_t t0 = clock_wall_ms() - 60000;
	struct ingest_queue q;
	struct db *lock;

	if (!testutil_backend_pg())
		return;
	in = open_ingest(0, 200);
	ingest_push_register(in, 1, "api", "http://10.0.0.1:6060", "{}");
	ck_assert(push(in, 1, "s0", t0));
	ingest_run_queued(in);
	lock = open_pg();
	ck_assert_int_eq(db_begin(lock), 0);
	testutil_db_exec(lock, "LOCK TABLE targets IN ACCESS EXCLUSIVE MODE");
	ck_assert_int_eq(ingest_start(in), 0);
	for (int i = 1; i < 5; i++) {
		char status[16];

		snprintf(status, sizeof(status), "s%d", i);
		ck_assert(push(in, 1, status, t0 + i));
	}
	ck_assert(wait_failing(in, true, 15000));
	ck_assert(push(in, 1, "ok", t0 + 5));
	ingest_queue_get(in, &q);
	ck_assert_int_gt(q.refused_since_ms, 0);
	ck_assert_uint_eq(q.scrapes, 5);
	ck_assert_uint_eq(ingest_committed(in), 1);

	ck_assert_int_eq(db_rollback(lock), 0);
	db_close(lock);
	ingest_push_mark(in, on_mark, NULL);
	ck_assert(wait_marks(1, 15000));
	ck_assert(wait_failing(in, false, 5000));
	assert_query(STATUSES, "s0,s1,s2,s3,s4,ok");
	ck_assert_uint_eq(ingest_committed(in), 6);
	ingest_free(in);
}
END_TEST

/* PostgreSQL: the server ends the writer's connection while it is idle (a restart, an
 * administrator): the next write goes to a new connection at once, without a refusal and its retry
 * (30 s here). */
START_TEST(test_pg_connection_ended)
{
	struct ingest *in;
	int64_t t0 = clock_wall_ms() - 60000;
	struct db *admin;

	if (!testutil_backend_pg())
		return;
	in = open_ingest(0, 30000);
	ingest_push_register(in, 1, "api", "http://10.0.0.1:6060", "{}");
	ck_assert(push(in, 1, "s0", t0));
	ingest_run_queued(in);
	ck_assert_int_eq(ingest_start(in), 0);
	/* the thread's first retention step (on an empty queue) done: it is idle for a minute */
	ingest_push_mark(in, on_mark, NULL);
	ck_assert(wait_marks(1, 5000));
	usleep(500 * 1000);
	admin = open_pg();
	testutil_db_exec(admin, "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
	                        " WHERE datname = current_database() AND pid <> pg_backend_pid()");
	db_close(admin);
	ck_assert(push(in, 1, "ok", t0 + 1));
	ck_assert(push(in, 1, "s2", t0 + 2));
	ingest_push_mark(in, on_mark, NULL);
	ck_assert(wait_marks(2, 5000));
	ck_assert(!ingest_failing(in));
	assert_query(STATUSES, "s0,ok,s2");
	ingest_free(in);
}
END_TEST

START_TEST(test_stop_while_refused)
{
	struct ingest *in;
	int64_t t0 = clock_wall_ms() - 60000;
	sqlite3 *lock;

	if (testutil_sqlite_only("test_stop_while_refused",
	                         "a SQLite write lock held by another connection"))
		return;
	in = open_ingest(0, 100);
	ingest_push_register(in, 1, "api", "http://10.0.0.1:6060", "{}");
	ck_assert(push(in, 1, "s0", t0));
	ingest_run_queued(in);
	assert_query(STATUSES, "s0");

	lock = lock_db();
	ck_assert(push(in, 1, "s1", t0 + 1));
	ck_assert(push(in, 1, "s2", t0 + 2));
	ck_assert_int_eq(ingest_start(in), 0);
	ck_assert(wait_failing(in, true, 15000));
	/* stopping gives up at once: another try would wait out the busy timeout again */
	ingest_stop(in);
	unlock_db(lock);
	assert_query(STATUSES, "s0");
	ingest_free(in);
}
END_TEST

static atomic_bool slow_mark_started;

/* A mark that holds the queue up for half a second, as a slow disk would. */
static void
on_slow_mark(void *arg)
{
	(void)arg;
	atomic_store(&slow_mark_started, true);
	usleep(500 * 1000);
	atomic_fetch_add(&marks, 1);
}

START_TEST(test_stop_deadline)
{
	struct store *st = store_open(dbpath, 0);
	struct ingest *in;
	int64_t t0 = clock_wall_ms() - 60000, started;

	ck_assert_ptr_nonnull(st);
	in = ingest_new(st, &(struct ingest_options){
	                        .db_path = dbpath,
	                        .stop_ms = 200,
	                        .retention_raw_ms = 48 * HOUR,
	                        .retention_rollup_ms = 30 * 24 * HOUR,
	                    });
	atomic_store(&slow_mark_started, false);
	ingest_push_register(in, 1, "api", "http://10.0.0.1:6060", "{}");
	ck_assert(push(in, 1, "s0", t0));
	ingest_push_mark(in, on_slow_mark, NULL);
	ck_assert(push(in, 1, "s1", t0 + 1));
	ck_assert(push(in, 1, "s2", t0 + 2));
	ck_assert_int_eq(ingest_start(in), 0);
	for (int waited = 0; !atomic_load(&slow_mark_started); waited += 5) {
		ck_assert_int_lt(waited, 10000);
		usleep(5 * 1000);
	}
	/* the writer is behind by more than the stop allows: what it cannot store in time is
	 * given up, so that the daemon's stop stays short */
	started = clock_mono_ms();
	ingest_stop(in);
	ck_assert_int_lt(clock_mono_ms() - started, 2000);
	ck_assert_int_eq(atomic_load(&marks), 1);
	assert_query(STATUSES, "s0");
	ingest_free(in);
}
END_TEST

START_TEST(test_stop_stores_queue)
{
	struct ingest *in = open_ingest(0, 0);
	int64_t t0 = clock_wall_ms() - 60000;

	ingest_push_register(in, 1, "api", "http://10.0.0.1:6060", "{}");
	ck_assert_int_eq(ingest_start(in), 0);
	for (int i = 0; i < 20; i++)
		ck_assert(push(in, 1, i % 4 ? "timeout" : "ok", t0 + i));
	/* a writer keeping up stores everything queued before the stop */
	ingest_stop(in);
	assert_query("SELECT count(*) FROM scrapes", "20");
	ingest_free(in);
}
END_TEST

Suite *
ingest_suite(void)
{
	Suite *s = suite_create("ingest");
	TCase *tc = tcase_create("ingest");
	TCase *slow = tcase_create("refused");

	tcase_add_checked_fixture(tc, setup, teardown);
	/* each test parses a fixture per ok scrape: slow under the sanitizers on a busy machine */
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_run_queued);
	tcase_add_test(tc, test_bound);
	tcase_add_test(tc, test_bound_age);
	tcase_add_test(tc, test_stop_deadline);
	tcase_add_test(tc, test_stop_stores_queue);
	tcase_add_test(tc, test_batches);
	tcase_add_test(tc, test_registrations_batched);
	tcase_add_test(tc, test_batch_rejected);
	tcase_add_test(tc, test_buffer_reload);
	tcase_add_test(tc, test_pg_connection_ended);
	suite_add_tcase(s, tc);
	/* each refusal waits out SQLite's busy timeout (5 s) first */
	tcase_add_checked_fixture(slow, setup, teardown);
	tcase_set_timeout(slow, 60);
	tcase_add_test(slow, test_refused_then_retried);
	tcase_add_test(slow, test_stop_while_refused);
	tcase_add_test(slow, test_pg_lock_refused);
	suite_add_tcase(s, slow);
	return s;
}
