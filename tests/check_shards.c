/* tests/check_shards.c: several daemons on one database (storage/fleet.h, store_set_shard()):
 * claims and heartbeats, each shard's walks and marks, the fleet's merged ranking and the outbox
 * claimed once. Each "daemon" here is a connection of its own to one database (SQLite file, or a
 * PostgreSQL database with LEAKPROFD_TEST_BACKEND=pg). */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/config.h"
#include "collector/profile.h"
#include "collector/targets.h"
#include "detect/alert.h"
#include "storage/alertstore.h"
#include "storage/fleet.h"
#include "storage/store.h"
#include "storage/store_internal.h"
#include "tests/testutil.h"

#define T0 1789999200000LL /* a fixed time on an hour boundary (ms) */

static char tmpdir[256];
static char dbpath[1100];

static void
setup(void)
{
	testutil_mkdtemp(tmpdir, sizeof(tmpdir), "check_shards");
	testutil_store_target(dbpath, sizeof(dbpath), tmpdir, "test.db");
}

static void
teardown(void)
{
	testutil_rmtree(tmpdir);
}

/* A daemon's connection: shard 'index' of 'count', run id 'owner'. */
static struct store *
daemon_store(unsigned index, unsigned count, const char *owner)
{
	struct store *st = store_open(dbpath, 0);

	ck_assert_ptr_nonnull(st);
	store_set_shard(st, index, count, owner);
	return st;
}

static struct fleet_self
self(unsigned shard, unsigned shards, const char *owner, const char *host, int64_t pid)
{
	return (struct fleet_self){.shard = shard,
	                           .shards = shards,
	                           .owner = owner,
	                           .host = host,
	                           .pid = pid,
	                           .listen = "127.0.0.1:8080",
	                           .version = "test"};
}

/* A pid no process has: a child's, once it exited and was reaped. */
static int64_t
dead_pid(void)
{
	pid_t p = fork();
	int status;

	ck_assert_int_ge(p, 0);
	if (p == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(p, &status, 0), p);
	return p;
}

START_TEST(test_claim)
{
	struct store *st = daemon_store(0, 1, NULL);
	struct fleet_self a = self(0, 2, "aaaa", "host-a", 4242);
	struct fleet_self b = self(0, 2, "bbbb", "host-b", 4343);
	struct fleet_self c = self(1, 3, "cccc", "host-c", 4444);
	struct fleet_self b1 = self(1, 2, "bbbb", "host-b", 4343);
	struct fleet_daemon *list;
	char err[768];
	size_t n;

	ck_assert_int_eq(fleet_claim(st, &a, T0, err, sizeof(err)), 0);
	/* a second daemon for the shard is refused, the holder named */
	ck_assert_int_eq(fleet_claim(st, &b, T0 + 1000, err, sizeof(err)), 1);
	ck_assert_msg(strstr(err, "host-a") != NULL && strstr(err, "pid 4242") != NULL &&
	                  strstr(err, "shard 0 of 2") != NULL,
	              "%s", err);
	/* another shard.count too, while a daemon of this one runs */
	ck_assert_int_eq(fleet_claim(st, &c, T0 + 1000, err, sizeof(err)), 1);
	ck_assert_msg(strstr(err, "shard.count is 3") != NULL && strstr(err, "host-a") != NULL,
	              "%s", err);
	/* the other shard is free */
	ck_assert_int_eq(fleet_claim(st, &b1, T0 + 1000, err, sizeof(err)), 0);
	/* the holder beats; a claim within the lease of the beat is still refused */
	ck_assert_int_eq(fleet_heartbeat(st, &a, T0 + FLEET_LEASE_MS, err, sizeof(err)), 0);
	ck_assert_int_eq(fleet_claim(st, &b, T0 + FLEET_LEASE_MS + 1000, err, sizeof(err)), 1);
	/* past the lease it is taken, and the old holder's next beat finds it lost */
	ck_assert_int_eq(fleet_claim(st, &b, T0 + 2 * FLEET_LEASE_MS + 1, err, sizeof(err)), 0);
	ck_assert_int_eq(fleet_heartbeat(st, &a, T0 + 2 * FLEET_LEASE_MS + 2, err, sizeof(err)), 1);
	ck_assert_msg(strstr(err, "host-b") != NULL, "%s", err);
	/* a clean stop frees it at once */
	ck_assert_int_eq(fleet_release(st, &b, T0 + 2 * FLEET_LEASE_MS + 3), 0);
	ck_assert_int_eq(fleet_claim(st, &a, T0 + 2 * FLEET_LEASE_MS + 4, err, sizeof(err)), 0);

	ck_assert_int_eq(fleet_list(st, T0 + 2 * FLEET_LEASE_MS + 5, &list, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(list[0].shard, 0);
	ck_assert_str_eq(list[0].host, "host-a");
	ck_assert(list[0].live);
	ck_assert_uint_eq(list[1].shard, 1);
	ck_assert(!list[1].live); /* shard 1's last beat was at T0 + 1 s */
	fleet_list_free(list, n);
	store_free(st);
}
END_TEST

START_TEST(test_claim_after_crash_on_host)
{
	struct store *st = daemon_store(0, 1, NULL);
	struct fleet_self old = self(0, 2, "aaaa", "same-host", dead_pid());
	struct fleet_self live = self(0, 2, "aaaa", "same-host", (int64_t)getpid());
	struct fleet_self next = self(0, 2, "bbbb", "same-host", 4343);
	struct fleet_self elsewhere = self(0, 2, "cccc", "other-host", 4444);
	char err[768];

	/* a daemon killed with -9 on this host: its restart takes the shard at once */
	ck_assert_int_eq(fleet_claim(st, &old, T0, err, sizeof(err)), 0);
	ck_assert_int_eq(fleet_claim(st, &elsewhere, T0 + 1000, err, sizeof(err)), 1);
	ck_assert_int_eq(fleet_claim(st, &next, T0 + 1000, err, sizeof(err)), 0);
	/* but not while its process runs */
	ck_assert_int_eq(fleet_release(st, &next, T0 + 2000), 0);
	ck_assert_int_eq(fleet_claim(st, &live, T0 + 3000, err, sizeof(err)), 0);
	ck_assert_int_eq(fleet_claim(st, &next, T0 + 4000, err, sizeof(err)), 1);
	store_free(st);
}
END_TEST

static const struct frame stack_a[] = {
    {"runtime.gopark", "/usr/lib/go/src/runtime/proc.go", 363},
    {"main.leakSend", "/src/app/leak.go", 42},
};

/* Store a scrape of 'target' at 'ts' with 'count' goroutines at one leaking location:
 * store_add_scrape()'s answer. */
static int
add_scrape(struct store *st, int64_t target, int64_t ts, uint64_t count)
{
	struct prof_location l = {
	    .loc = {.function = "main.leakSend", .file = "/src/app/leak.go", .line = 42},
	    .op = "chan send",
	    .op_class = OP_CLASS_CHAN,
	    .count = count,
	    .max_wait_minutes = -1,
	    .min_wait_minutes = -1,
	    .median_wait_minutes = -1,
	    .stack = stack_a,
	    .nstack = 2,
	};
	struct profile p = {.format = PROFILE_FORMAT_PROTO,
	                    .kind = PROFILE_KIND_GOROUTINE,
	                    .locations = &l,
	                    .nlocations = 1,
	                    .total_goroutines = count + 5};
	struct scrape_record rec = {.target_id = target,
	                            .ts = ts,
	                            .duration_ms = 12,
	                            .bytes = 3456,
	                            .status = "ok",
	                            .profile = &p};

	return store_add_scrape(st, &rec);
}

static void
add(struct store *st, int64_t target, int64_t ts, uint64_t count)
{
	ck_assert_int_eq(add_scrape(st, target, ts, count), 0);
}

static int
count_target(const struct store_window_target *t, void *arg)
{
	(void)t;
	++*(int *)arg;
	return 0;
}

struct rows {
	int n;
	int64_t target;
};

static int
count_row(const struct store_window_row *r, void *arg)
{
	struct rows *x = arg;

	x->n++;
	x->target = r->target_id;
	return 0;
}

static int
count_scrape(const struct store_scrape *s, void *arg)
{
	struct rows *x = arg;

	x->n++;
	x->target = s->target_id;
	return 0;
}

START_TEST(test_walks_and_marks)
{
	struct store *a = daemon_store(0, 2, "aaaa"), *b = daemon_store(1, 2, "bbbb");
	struct fleet_self sa = self(0, 2, "aaaa", "host-a", 1),
	                  sb = self(1, 2, "bbbb", "host-b", 2);
	int64_t ta, tb, upto, seq;
	struct rows rows = {0};
	int ntargets = 0;
	char err[768];

	ck_assert_int_eq(fleet_claim(a, &sa, T0, err, sizeof(err)), 0);
	ck_assert_int_eq(fleet_claim(b, &sb, T0, err, sizeof(err)), 0);
	ta = store_target_upsert(a, "svc-a", NULL, "http://a:1");
	tb = store_target_upsert(b, "svc-b", NULL, "http://b:1");
	ck_assert_int_gt(ta, 0);
	ck_assert_int_gt(tb, 0);
	/* a's reload touches its own targets only: b's stays active */
	ck_assert_int_eq(store_targets_set_active(a, &ta, 1), 0);
	ck_assert_int_eq(
	    testutil_db_int(store_dbh(a), "SELECT count(*) FROM targets WHERE active = 1"), 2);

	add(a, ta, T0, 10);
	ck_assert_int_eq(store_batch_begin(b), 0);
	add(b, tb, T0, 20);
	add(b, tb, T0 + 60000, 21);
	ck_assert_int_eq(store_batch_commit(b), 0);

	/* each shard's marks are its own scrapes' */
	ck_assert_int_eq(store_window_marks(a, &upto, &seq), 0);
	ck_assert_int_eq(upto, testutil_db_int(store_dbh(a), "SELECT min(id) FROM scrapes"));
	ck_assert_int_eq(store_window_marks(b, &upto, &seq), 0);
	ck_assert_int_eq(upto, testutil_db_int(store_dbh(a), "SELECT max(id) FROM scrapes"));

	/* each shard walks its own targets */
	ck_assert_int_eq(store_each_window_target(a, count_target, &ntargets), 0);
	ck_assert_int_eq(ntargets, 1);
	ck_assert_int_eq(store_each_window_row(b, 0, upto, count_row, &rows), 0);
	ck_assert_int_eq(rows.n, 2);
	ck_assert_int_eq(rows.target, tb);
	rows = (struct rows){0};
	ck_assert_int_eq(store_each_window_row_after(a, 0, upto, 0, count_row, &rows), 0);
	ck_assert_int_eq(rows.n, 1);
	ck_assert_int_eq(rows.target, ta);
	rows = (struct rows){0};
	ck_assert_int_eq(store_each_scrape(b, NULL, 0, count_scrape, &rows), 0);
	ck_assert_int_eq(rows.n, 2);
	ck_assert_int_eq(rows.target, tb);
	/* the fleet's reader walks both */
	store_set_fleet(a, 0, 2);
	rows = (struct rows){0};
	ck_assert_int_eq(store_each_scrape(a, NULL, 0, count_scrape, &rows), 0);
	ck_assert_int_eq(rows.n, 3);
	store_set_shard(a, 0, 2, "aaaa");

	/* a daemon whose shard another took writes nothing more */
	ck_assert_int_eq(fleet_claim(b,
	                             &(struct fleet_self){.shard = 0,
	                                                  .shards = 2,
	                                                  .owner = "cccc",
	                                                  .host = "host-c",
	                                                  .pid = 3,
	                                                  .listen = "x",
	                                                  .version = "test"},
	                             T0 + 2 * FLEET_LEASE_MS, err, sizeof(err)),
	                 0);
	ck_assert_int_eq(add_scrape(a, ta, T0 + 120000, 11), -1);
	ck_assert_msg(strstr(store_errmsg(a), "no longer held") != NULL, "%s", store_errmsg(a));
	ck_assert_int_eq(testutil_db_int(store_dbh(a), "SELECT count(*) FROM scrapes"), 3);
	store_free(a);
	store_free(b);
}
END_TEST

static struct suspect
suspect(int64_t service_id, int64_t location_id, double score, bool confirmed)
{
	return (struct suspect){.service_id = service_id,
	                        .location_id = location_id,
	                        .score = score,
	                        .confirmed = confirmed,
	                        .current_count = 100,
	                        .oldest_wait_minutes = -1,
	                        .median_wait_minutes = -1,
	                        .explanation = NULL};
}

static void
save(struct store *st, int64_t at, struct suspect *s, size_t n)
{
	struct ranking r = {
	    .generated_at = at, .window_seconds = 3600, .duration_ms = 5, .suspects = s, .n = n};

	for (size_t i = 0; i < n; i++)
		s[i].rank = (int)i + 1;
	ck_assert_int_eq(store_ranking_save(st, &r), 0);
}

START_TEST(test_ranking_merged)
{
	struct store *a = daemon_store(0, 2, NULL), *b = daemon_store(1, 2, NULL);
	struct store *web = store_open(dbpath, STORE_READONLY);
	struct store *other = daemon_store(0, 3, NULL);
	int64_t sa, sb, l1, l2, l3;
	struct ranking r;

	ck_assert_ptr_nonnull(web);
	store_set_fleet(web, 1, 2);
	ck_assert_int_gt(store_target_upsert(a, "svc-a", NULL, "http://a:1"), 0);
	ck_assert_int_gt(store_target_upsert(b, "svc-b", NULL, "http://b:1"), 0);
	sa = testutil_db_int(store_dbh(a), "SELECT id FROM services WHERE name = 'svc-a'");
	sb = testutil_db_int(store_dbh(a), "SELECT id FROM services WHERE name = 'svc-b'");
	testutil_db_exec(
	    store_dbh(a),
	    "INSERT INTO locations (function, file, line, op, first_seen, last_seen)"
	    " VALUES ('f1', '/1.go', 1, 'chan send', 0, 0),"
	    " ('f2', '/2.go', 2, 'chan send', 0, 0), ('f3', '/3.go', 3, 'select', 0, 0)");
	l1 = testutil_db_int(store_dbh(a), "SELECT id FROM locations WHERE function = 'f1'");
	l2 = testutil_db_int(store_dbh(a), "SELECT id FROM locations WHERE function = 'f2'");
	l3 = testutil_db_int(store_dbh(a), "SELECT id FROM locations WHERE function = 'f3'");

	ck_assert_int_eq(store_ranking_load(web, NULL, 0, &r), 1);
	{
		struct suspect s[] = {suspect(sa, l1, 0.9, false), suspect(sa, l2, 0.5, false)};

		save(a, T0, s, 2);
	}
	{
		/* a service split by target: svc-a's l1 ranked on this shard's part too */
		struct suspect s[] = {suspect(sb, l3, 0.7, true), suspect(sb, l1, 0.95, false),
		                      suspect(sa, l1, 0.4, false)};

		save(b, T0 + 500, s, 3);
	}
	{
		/* a layout no daemon of this fleet runs */
		struct suspect s[] = {suspect(sb, l2, 0.99, true)};

		save(other, T0 + 900, s, 1);
	}
	ck_assert_int_eq(store_ranking_load(web, NULL, 0, &r), 0);
	ck_assert_uint_eq(r.n, 4);
	ck_assert_int_eq(r.generated_at, T0); /* the oldest shard's */
	/* confirmed first, then by score; svc-a's l1 once, the higher-scored */
	ck_assert_int_eq(r.suspects[0].location_id, l3);
	ck_assert_int_eq(r.suspects[1].service_id, sb);
	ck_assert_int_eq(r.suspects[1].location_id, l1);
	ck_assert_int_eq(r.suspects[2].service_id, sa);
	ck_assert_int_eq(r.suspects[2].location_id, l1);
	ck_assert(r.suspects[2].score == 0.9);
	ck_assert_int_eq(r.suspects[3].location_id, l2);
	for (size_t i = 0; i < r.n; i++)
		ck_assert_int_eq(r.suspects[i].rank, (int)i + 1);
	ranking_release(&r);
	/* a limit, and one service */
	ck_assert_int_eq(store_ranking_load(web, NULL, 2, &r), 0);
	ck_assert_uint_eq(r.n, 2);
	ck_assert_int_eq(r.suspects[1].location_id, l1);
	ranking_release(&r);
	ck_assert_int_eq(store_ranking_load(web, "svc-a", 0, &r), 0);
	ck_assert_uint_eq(r.n, 2);
	ck_assert(r.suspects[0].score == 0.9);
	ranking_release(&r);

	/* a daemon's own part: shard 1's newest alone, as stored */
	ck_assert_int_eq(store_ranking_load_own(web, 0, &r), 0);
	ck_assert_uint_eq(r.n, 3);
	ck_assert_int_eq(r.suspects[0].location_id, l3);
	ck_assert_int_eq(r.generated_at, T0 + 500);
	ranking_release(&r);

	/* one shard's history is pruned without touching the other's newest */
	for (int i = 0; i < STORE_RANKINGS_KEEP + 5; i++) {
		struct suspect s[] = {suspect(sa, l2, 0.3, false)};

		save(a, T0 + 1000 + i, s, 1);
	}
	ck_assert_int_eq(
	    testutil_db_int(store_dbh(a),
	                    "SELECT count(*) FROM rankings WHERE shards = 2 AND shard = 0"),
	    STORE_RANKINGS_KEEP);
	ck_assert_int_eq(store_ranking_load(web, NULL, 0, &r), 0);
	ck_assert_uint_eq(r.n, 4); /* b's three and a's one */
	ranking_release(&r);
	/* each daemon alone sees its own shard's */
	store_set_shard(web, 0, 1, NULL);
	ck_assert_int_eq(store_ranking_load(web, NULL, 0, &r), 1);
	store_free(web);
	store_free(other);
	store_free(a);
	store_free(b);
}
END_TEST

START_TEST(test_outbox_claimed_once)
{
	struct store *a = daemon_store(0, 2, "aaaa"), *b = daemon_store(1, 2, "bbbb");
	struct store *alone = daemon_store(0, 1, NULL);
	struct alert_row row = {.location_id = 0, .state = "firing", .pending_since = T0};
	struct outbox_new out = {
	    .event_id = "e1", .webhook = "hook", .status = "firing", .payload = "{}"};
	struct outbox_row head;
	int64_t held, id;

	ck_assert_int_gt(store_target_upsert(a, "svc", NULL, "http://a:1"), 0);
	row.service_id = testutil_db_int(store_dbh(a), "SELECT id FROM services");
	testutil_db_exec(store_dbh(a),
	                 "INSERT INTO locations (function, file, line, op, first_seen, last_seen)"
	                 " VALUES ('f1', '/1.go', 1, 'chan send', 0, 0)");
	row.location_id = testutil_db_int(store_dbh(a), "SELECT id FROM locations");
	ck_assert_int_eq(alertstore_update(a, &row, &out, 1, T0), 0);
	ck_assert_int_eq(alertstore_outbox_head(a, "hook", &head), 0);
	id = head.id;
	outbox_row_release(&head);

	ck_assert_int_eq(alertstore_outbox_claim(a, id, T0, T0 + 50000, &held), 0);
	ck_assert_int_eq(alertstore_outbox_claim(b, id, T0 + 1000, T0 + 51000, &held), 1);
	ck_assert_int_eq(held, T0 + 50000);
	/* a daemon alone claims nothing and is never held */
	ck_assert_int_eq(alertstore_outbox_claim(alone, id, T0 + 1000, T0 + 51000, &held), 0);
	/* the holder may renew its own */
	ck_assert_int_eq(alertstore_outbox_claim(a, id, T0 + 2000, T0 + 52000, &held), 0);
	/* an attempt's outcome ends the claim */
	ck_assert_int_eq(alertstore_outbox_retry(a, id, T0 + 3000, "http 500"), 0);
	ck_assert_int_eq(alertstore_outbox_claim(b, id, T0 + 3000, T0 + 53000, &held), 0);
	/* a claim past its time (its daemon died mid-attempt) is anyone's */
	ck_assert_int_eq(alertstore_outbox_claim(a, id, T0 + 53001, T0 + 103001, &held), 0);
	ck_assert_int_eq(alertstore_outbox_delivered(a, id, T0 + 53002), 0);
	/* delivered: no longer pending, held by nobody */
	ck_assert_int_eq(alertstore_outbox_claim(b, id, T0 + 53003, T0 + 99999, &held), 1);
	ck_assert_int_eq(held, 0);
	ck_assert_int_eq(testutil_db_int(store_dbh(a),
	                                 "SELECT count(*) FROM outbox WHERE"
	                                 " claimed_by IS NULL AND state = 'delivered'"),
	                 1);
	store_free(alone);
	store_free(a);
	store_free(b);
}
END_TEST

/* An alerter of shard 'index' of 2 on the test database, without webhooks. */
static struct alerter *
shard_alerter(unsigned index)
{
	struct config_errors errs = {0};
	struct config *cfg;
	struct alerter *a;
	char yaml[1400];

	snprintf(yaml, sizeof(yaml),
	         "database: \"%s\"\nshard: {index: %u, count: 2}\n"
	         "alerting: {min_score: 0.5, min_count: 20, for: 1m}\n",
	         dbpath, index);
	cfg = config_load_buffer("shards.yaml", yaml, strlen(yaml), &errs);
	ck_assert_msg(cfg != NULL, "config: %s", errs.n ? errs.msgs[0] : "?");
	config_errors_release(&errs);
	a = alert_open(cfg, NULL);
	ck_assert_ptr_nonnull(a);
	config_unref(cfg);
	return a;
}

START_TEST(test_alerts_by_shard)
{
	static const char *const names[] = {"alpha", "bravo", "charlie", "delta"};
	struct store *sh[2] = {daemon_store(0, 2, NULL), daemon_store(1, 2, NULL)};
	struct alerter *al[2] = {shard_alerter(0), shard_alerter(1)};
	struct suspect s[2][4];
	size_t n[2] = {0, 0};
	int64_t loc;
	int mine[2] = {0, 0};
	char sql[200];

	testutil_db_exec(store_dbh(sh[0]),
	                 "INSERT INTO locations (function, file, line, op, first_seen, last_seen)"
	                 " VALUES ('main.leak', '/l.go', 1, 'chan send', 0, 0)");
	loc = testutil_db_int(store_dbh(sh[0]), "SELECT id FROM locations");
	/* each shard ranks its own services */
	for (size_t i = 0; i < 4; i++) {
		unsigned k = targets_shard_of(names[i], 2);
		char url[64];

		snprintf(url, sizeof(url), "http://%s:1", names[i]);
		ck_assert_int_gt(store_target_upsert(sh[k], names[i], NULL, url), 0);
		snprintf(sql, sizeof(sql), "SELECT id FROM services WHERE name = '%s'", names[i]);
		s[k][n[k]] = suspect(testutil_db_int(store_dbh(sh[0]), sql), loc, 0.9, false);
		s[k][n[k]].current_count = s[k][n[k]].max_instance_count = 500;
		n[k]++;
		mine[k]++;
	}
	ck_assert_msg(mine[0] > 0 && mine[1] > 0, "the names fall in one shard");
	save(sh[0], T0, s[0], n[0]);
	save(sh[1], T0, s[1], n[1]);

	/* shard 0's alerter starts the alerts of shard 0's services only, on the fleet's ranking */
	(void)alert_pass(al[0], T0 + 1000);
	ck_assert_int_eq(testutil_db_int(store_dbh(sh[0]), "SELECT count(*) FROM alerts"), mine[0]);
	(void)alert_pass(al[1], T0 + 1000);
	ck_assert_int_eq(testutil_db_int(store_dbh(sh[0]), "SELECT count(*) FROM alerts"), 4);
	/* shard 1's services leave its ranking: shard 0 leaves their alerts alone, shard 1 ends
	 * them */
	save(sh[1], T0 + 2000, s[1], 0);
	(void)alert_pass(al[0], T0 + 3000);
	ck_assert_int_eq(testutil_db_int(store_dbh(sh[0]), "SELECT count(*) FROM alerts"), 4);
	(void)alert_pass(al[1], T0 + 3000);
	ck_assert_int_eq(testutil_db_int(store_dbh(sh[0]), "SELECT count(*) FROM alerts"), mine[0]);
	alert_free(al[0]);
	alert_free(al[1]);
	store_free(sh[0]);
	store_free(sh[1]);
}
END_TEST

Suite *
shards_suite(void)
{
	Suite *s = suite_create("shards");
	TCase *tc = tcase_create("shards");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_claim);
	tcase_add_test(tc, test_claim_after_crash_on_host);
	tcase_add_test(tc, test_walks_and_marks);
	tcase_add_test(tc, test_ranking_merged);
	tcase_add_test(tc, test_outbox_claimed_once);
	tcase_add_test(tc, test_alerts_by_shard);
	suite_add_tcase(s, tc);
	return s;
}
