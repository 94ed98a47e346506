/* storage/store_retention.c: the store's retention, in bounded steps. See store_retention_step() in
 * store.h.
 *
 * Every completed hour of raw scrapes is rolled up into hourly rollups, one (target, hour) at a
 * time so that each instance's share of an hour is added exactly once, and its scrapes are marked
 * rolled; rolled scrapes and their samples are deleted once older than the raw retention. The
 * rollups thus cover every hour up to the last completed one, and hold what the detector's long
 * windows and the dashboard's long charts need past the raw retention:
 * - mean_count: the mean over every count scrape of every instance of the service in the hour, a
 *   scrape without the location counting 0 (each instance added later dilutes the rows already
 *   there, so the mean stays exact whatever order the instances arrive in);
 * - rise: the count's change over the steps between consecutive count scrapes of one process
 *   lifetime (a restart is where the ingest stored one, scrapes.restart: the one rule of
 *   storage/lifetime.c, which the detector and the charts follow too), summed over instances,
 *   with the step time in rollup_hours.step_ms. A leak rises in every hour whatever the deploys do;
 *   a pool's rises cancel out. An hour's last step reaches the instance's first scrape of the next
 *   hour, so an hour is rolled up only once the next one is over too.
 * - rollup_stacks: for the locations with call sites stored (sample_stacks) in the hour, each
 *   stack's rise over the same steps (a scrape that stored none for such a location counts under
 *   its representative stack), so that a ranking over the rollups judges call sites as the raw
 *   ranking does.
 * Rollups past their own retention, delivered or dropped outbox rows and old rankings are deleted
 * too, and, once the rollups are caught up, locations and stacks that nothing refers to any more
 * (a stack also once no scrape had it for as long as rollups are kept; the ingest's caches are
 * then forgotten).
 *
 * On PostgreSQL the raw tables are partitioned by day (storage/schema_pg.sql): a day's raw rows go
 * as a few dropped tables once the whole day is past the raw retention and rolled up, rather than
 * row by row (only a raw retention shorter than a day still deletes rows), and the partitions of
 * today and tomorrow are made ahead at each step.
 *
 * Targets come and go (pods are replaced, instances rescheduled): a target out of the
 * configuration (inactive) and not scraped for longer than the rollups are kept expires, and is
 * deleted with its scrapes and samples. Nothing of it is needed any more: the rollups that hold its
 * hours are per service, and past their own retention anyway. Its service goes too once nothing
 * refers to it (no target, rollup, alert, suspect or outbox row). The daemon registers a target
 * again when it comes back (daemon/targetset.h), so a deleted target simply starts anew. Each call
 * does at most a budget's worth in one write transaction, so that the single writer never holds
 * ingest up for long. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "storage/schema_pg.h"
#include "storage/store.h"
#include "storage/store_internal.h"

#define HOUR_MS 3600000
/* An hour is rolled up when the hour after it is over: its last step ends there. */
#define ROLLUP_DELAY_MS HOUR_MS

/* One count scrape of the (target, hour) being rolled up; the last may be the next hour's first. */
struct roll_scrape {
	int64_t id;
	int64_t ts;
	bool restart; /* a new process lifetime starts with it (scrapes.restart) */
	int weight;   /* how its counts enter rise: +1 as a step's end, -1 as a step's start */
};

/* One sample of those scrapes. */
struct roll_sample {
	int64_t location_id;
	int64_t count;
	int weight;
	bool in_hour;
	uint32_t scrape; /* index among the scrapes read */
};

/* One call site (sample_stacks row) of those scrapes. */
struct roll_stack {
	int64_t location_id;
	int64_t stack_id;
	int64_t count;
	int weight;
	uint32_t scrape;
};

static int
cmp_roll_sample(const void *a, const void *b)
{
	const struct roll_sample *x = a, *y = b;

	return (x->location_id > y->location_id) - (x->location_id < y->location_id);
}

static int
cmp_roll_stack(const void *a, const void *b)
{
	const struct roll_stack *x = a, *y = b;

	if (x->location_id != y->location_id)
		return x->location_id < y->location_id ? -1 : 1;
	if (x->stack_id != y->stack_id)
		return x->stack_id < y->stack_id ? -1 : 1;
	return (x->scrape > y->scrape) - (x->scrape < y->scrape);
}

static void
roll_stack_add(struct roll_stack **v, size_t *n, size_t *cap, struct roll_stack r)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = r;
}

/* The index of the first row of 'location_id' in 'ys' (sorted by location), or 'n'. */
static size_t
roll_stack_first(const struct roll_stack *ys, size_t n, int64_t location_id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ys[mid].location_id < location_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && ys[lo].location_id == location_id ? lo : n;
}

/* Whether 'ys' (sorted by location) has a row of 'location_id' from scrape 'scrape'. */
static bool
roll_stack_has(const struct roll_stack *ys, size_t n, int64_t location_id, uint32_t scrape)
{
	for (size_t i = roll_stack_first(ys, n, location_id);
	     i < n && ys[i].location_id == location_id; i++)
		if (ys[i].scrape == scrape)
			return true;
	return false;
}

/* The call sites of the (target, hour) being rolled up: per location that had any in the hour's
 * scrapes, each stack's rise over the same steps as the location's (a scrape that stored none
 * for it counts under its representative stack), added to rollup_stacks. 'xs' are the scrapes'
 * samples sorted by location. Cheap when no location has call sites: one lookup per scrape. 0,
 * or -1. */
static int
roll_stacks(struct store *st, int64_t service_id, int64_t hour, const struct roll_scrape *sc,
            size_t nsc, size_t nh, const struct roll_sample *xs, size_t nxs)
{
	struct roll_stack *ys = NULL;
	size_t nys = 0, capys = 0, nrows, i, j;
	struct db_stmt *stmt;
	int rc, ret = -1;

	stmt = store_prepare(
	    st, "SELECT location_id, stack_id, count FROM sample_stacks WHERE scrape_id = ?1");
	if (stmt == NULL)
		return -1;
	for (i = 0; i < nsc; i++) {
		if (i >= nh && sc[i].weight == 0)
			break;
		db_bind_int64(stmt, 1, sc[i].id);
		while ((rc = db_step(stmt)) == DB_ROW)
			roll_stack_add(&ys, &nys, &capys,
			               (struct roll_stack){.location_id = db_column_int64(stmt, 0),
			                                   .stack_id = db_column_int64(stmt, 1),
			                                   .count = db_column_int64(stmt, 2),
			                                   .weight = sc[i].weight,
			                                   .scrape = (uint32_t)i});
		db_reset(stmt);
		if (rc != DB_DONE) {
			store_log_db(st, "retention: reading call sites");
			store_stmt_done(stmt);
			goto out_free;
		}
	}
	store_stmt_done(stmt);
	if (nys == 0) {
		ret = 0;
		goto out_free;
	}
	qsort(ys, nys, sizeof(*ys), cmp_roll_stack);

	/* The samples of those locations stored without call sites: their representative's. */
	nrows = nys;
	for (i = 0; i < nxs; i = j) {
		int64_t rep = 0;
		bool with_calls = roll_stack_first(ys, nrows, xs[i].location_id) < nrows;

		for (j = i; j < nxs && xs[j].location_id == xs[i].location_id; j++)
			;
		for (size_t k = i; with_calls && k < j; k++) {
			if (xs[k].count == 0 ||
			    roll_stack_has(ys, nrows, xs[k].location_id, xs[k].scrape))
				continue;
			if (rep == 0) {
				stmt = store_prepare(
				    st,
				    "SELECT coalesce(stack_id, 0) FROM locations WHERE id = ?1");
				if (stmt == NULL)
					goto out_free;
				db_bind_int64(stmt, 1, xs[k].location_id);
				rc = db_step(stmt);
				rep = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
				store_stmt_done(stmt);
				if (rc != DB_ROW && rc != DB_DONE) {
					store_log_db(st, "retention: reading a location");
					goto out_free;
				}
				if (rep == 0)
					rep = -1; /* none: nothing to count it under */
			}
			if (rep < 0)
				break;
			roll_stack_add(&ys, &nys, &capys,
			               (struct roll_stack){.location_id = xs[k].location_id,
			                                   .stack_id = rep,
			                                   .count = xs[k].count,
			                                   .weight = xs[k].weight,
			                                   .scrape = xs[k].scrape});
		}
	}
	if (nys > nrows)
		qsort(ys, nys, sizeof(*ys), cmp_roll_stack);

	for (i = 0; i < nys; i = j) {
		int64_t rise = 0;

		for (j = i; j < nys && ys[j].location_id == ys[i].location_id &&
		            ys[j].stack_id == ys[i].stack_id;
		     j++)
			rise += ys[j].count * ys[j].weight;
		stmt = store_prepare(
		    st, "INSERT INTO rollup_stacks (service_id, location_id, hour, stack_id, rise)"
		        " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (service_id, location_id, hour,"
		        " stack_id) DO UPDATE SET rise = rollup_stacks.rise + excluded.rise");
		if (stmt == NULL)
			goto out_free;
		db_bind_int64(stmt, 1, service_id);
		db_bind_int64(stmt, 2, ys[i].location_id);
		db_bind_int64(stmt, 3, hour);
		db_bind_int64(stmt, 4, ys[i].stack_id);
		db_bind_double(stmt, 5, (double)rise);
		if (store_step_write(st, stmt, "retention: rolling up call sites") != 0)
			goto out_free;
	}
	ret = 0;
out_free:
	free(ys);
	return ret;
}

/* Append the count scrapes of 'target_id' in [from, to) to *v, at most 'limit' (0: all). 0, or
 * -1. */
static int
roll_read_scrapes(struct store *st, int64_t target_id, int64_t from, int64_t to, int limit,
                  struct roll_scrape **v, size_t *n, size_t *cap)
{
	struct db_stmt *stmt = store_prepare(
	    st,
	    "SELECT id, ts, restart IS NOT NULL FROM scrapes WHERE target_id = ?1"
	    " AND ts >= ?2 AND ts < ?3 AND status = 'ok' AND detail = 0 ORDER BY ts, id LIMIT ?4");
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, target_id);
	db_bind_int64(stmt, 2, from);
	db_bind_int64(stmt, 3, to);
	db_bind_int64(stmt, 4, limit > 0 ? limit : INT64_MAX); /* not -1: PostgreSQL refuses it */
	while ((rc = db_step(stmt)) == DB_ROW) {
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*v = xrealloc(*v, *cap * sizeof(**v));
		}
		(*v)[(*n)++] = (struct roll_scrape){.id = db_column_int64(stmt, 0),
		                                    .ts = db_column_int64(stmt, 1),
		                                    .restart = db_column_int(stmt, 2) != 0};
	}
	store_stmt_done(stmt);
	if (rc != DB_DONE) {
		store_log_db(st, "retention: reading scrapes");
		return -1;
	}
	return 0;
}

/* Weigh the steps between consecutive scrapes of one lifetime: sc[0..nh) are the hour's, sc[nh]
 * (when n > nh) the next hour's first. A step into a scrape that starts a lifetime crosses a
 * restart and is left out. Returns the time the counted steps cover, in ms. */
static int64_t
roll_weigh_steps(struct roll_scrape *sc, size_t nh, size_t n)
{
	int64_t step_ms = 0;

	for (size_t i = 0; i < nh && i + 1 < n; i++) {
		if (sc[i + 1].restart)
			continue;
		sc[i].weight--;
		sc[i + 1].weight++;
		step_ms += sc[i + 1].ts - sc[i].ts;
	}
	return step_ms;
}

/* One location's sum, largest count and rise in one instance's hour, joined to its rollup row (the
 * mean over the hour's scrapes so far, ?6). */
/* clang-format off */
static const char rollup_sql[] =
    "INSERT INTO rollups (service_id, location_id, hour, max_count, mean_count, instances,"
    " scrapes, rise) VALUES (?1, ?2, ?3, ?4, CAST(?5 AS DOUBLE PRECISION) / ?6, ?7, ?6, ?8)"
    " ON CONFLICT (service_id, location_id, hour) DO UPDATE SET"
    " max_count = " STORE_SQL_MAX("rollups.max_count", "excluded.max_count") ","
    " mean_count = rollups.mean_count + CAST(?5 AS DOUBLE PRECISION) / rollups.scrapes,"
    " instances = rollups.instances + excluded.instances,"
    " rise = rollups.rise + excluded.rise";
/* clang-format on */

/* Roll up the count scrapes of one target in one hour (nothing to do without one) and mark every
 * scrape of it in the hour rolled up. Adds the number of scrapes marked to *done. */
static int
retention_target_hour(struct store *st, int64_t target_id, int64_t hour, unsigned *done)
{
	struct roll_scrape *sc = NULL;
	struct roll_sample *xs = NULL;
	size_t nsc = 0, capsc = 0, nh, nxs = 0, capxs = 0, i, j;
	struct db_stmt *stmt;
	int64_t service_id, step_ms, prev_scrapes = 0;
	int rc, ret = -1;

	stmt = store_prepare(st, "SELECT service_id FROM targets WHERE id = ?1");
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, target_id);
	rc = db_step(stmt);
	service_id = rc == DB_ROW ? db_column_int64(stmt, 0) : 0;
	store_stmt_done(stmt);
	if (rc != DB_ROW) {
		store_log_db(st, "retention: reading a target");
		return -1;
	}

	if (roll_read_scrapes(st, target_id, hour, hour + HOUR_MS, 0, &sc, &nsc, &capsc) < 0)
		goto out_free;
	nh = nsc;
	if (nh == 0)
		goto mark;
	if (roll_read_scrapes(st, target_id, hour + HOUR_MS, hour + 2 * HOUR_MS, 1, &sc, &nsc,
	                      &capsc) < 0)
		goto out_free;
	step_ms = roll_weigh_steps(sc, nh, nsc);

	/* The samples of those scrapes, sorted by location. */
	stmt = store_prepare(st, "SELECT location_id, count FROM samples WHERE scrape_id = ?1");
	if (stmt == NULL)
		goto out_free;
	for (i = 0; i < nsc; i++) {
		if (i >= nh && sc[i].weight == 0)
			break;
		db_bind_int64(stmt, 1, sc[i].id);
		while ((rc = db_step(stmt)) == DB_ROW) {
			if (nxs == capxs) {
				capxs = capxs ? capxs * 2 : 256;
				xs = xrealloc(xs, capxs * sizeof(*xs));
			}
			xs[nxs++] = (struct roll_sample){.location_id = db_column_int64(stmt, 0),
			                                 .count = db_column_int64(stmt, 1),
			                                 .weight = sc[i].weight,
			                                 .in_hour = i < nh,
			                                 .scrape = (uint32_t)i};
		}
		db_reset(stmt);
		if (rc != DB_DONE) {
			store_log_db(st, "retention: reading samples");
			store_stmt_done(stmt);
			goto out_free;
		}
	}
	store_stmt_done(stmt);
	if (nxs > 1)
		qsort(xs, nxs, sizeof(*xs), cmp_roll_sample);

	/* The service's hour: this instance's scrapes join the denominator of every location's
	 * mean, present or not. */
	stmt = store_prepare(
	    st, "SELECT scrapes FROM rollup_hours WHERE service_id = ?1 AND hour = ?2");
	if (stmt == NULL)
		goto out_free;
	db_bind_int64(stmt, 1, service_id);
	db_bind_int64(stmt, 2, hour);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		prev_scrapes = db_column_int64(stmt, 0);
	store_stmt_done(stmt);
	if (rc != DB_ROW && rc != DB_DONE) {
		store_log_db(st, "retention: reading the hour's scrapes");
		goto out_free;
	}
	stmt = store_prepare(
	    st, "INSERT INTO rollup_hours (service_id, hour, instances, scrapes, step_ms)"
	        " VALUES (?1, ?2, 1, ?3, ?4) ON CONFLICT (service_id, hour) DO UPDATE SET"
	        " instances = rollup_hours.instances + 1, scrapes = rollup_hours.scrapes + ?3,"
	        " step_ms = rollup_hours.step_ms + ?4");
	if (stmt == NULL)
		goto out_free;
	db_bind_int64(stmt, 1, service_id);
	db_bind_int64(stmt, 2, hour);
	db_bind_int64(stmt, 3, (int64_t)nh);
	db_bind_int64(stmt, 4, step_ms);
	if (store_step_write(st, stmt, "retention: adding to the hour") != 0)
		goto out_free;
	stmt = store_prepare(
	    st, "UPDATE rollups SET mean_count = mean_count * scrapes / (scrapes + ?3),"
	        " scrapes = scrapes + ?3 WHERE service_id = ?1 AND hour = ?2");
	if (stmt == NULL)
		goto out_free;
	db_bind_int64(stmt, 1, service_id);
	db_bind_int64(stmt, 2, hour);
	db_bind_int64(stmt, 3, (int64_t)nh);
	if (store_step_write(st, stmt, "retention: diluting the hour's means") != 0)
		goto out_free;

	/* Each location of this instance: its sum joins the (already diluted) mean. */
	for (i = 0; i < nxs; i = j) {
		int64_t sum = 0, max = 0, rise = 0;

		for (j = i; j < nxs && xs[j].location_id == xs[i].location_id; j++) {
			rise += xs[j].count * xs[j].weight;
			if (!xs[j].in_hour)
				continue;
			sum += xs[j].count;
			if (xs[j].count > max)
				max = xs[j].count;
		}
		if (sum == 0 && rise == 0)
			continue;
		stmt = store_prepare(st, rollup_sql);
		if (stmt == NULL)
			goto out_free;
		db_bind_int64(stmt, 1, service_id);
		db_bind_int64(stmt, 2, xs[i].location_id);
		db_bind_int64(stmt, 3, hour);
		db_bind_int64(stmt, 4, max);
		db_bind_int64(stmt, 5, sum);
		db_bind_int64(stmt, 6, prev_scrapes + (int64_t)nh);
		db_bind_int64(stmt, 7, sum > 0 ? 1 : 0);
		db_bind_double(stmt, 8, (double)rise);
		if (store_step_write(st, stmt, "retention: rolling up samples") != 0)
			goto out_free;
	}
	if (roll_stacks(st, service_id, hour, sc, nsc, nh, xs, nxs) < 0)
		goto out_free;

mark:
	stmt = store_prepare(st, "UPDATE scrapes SET rolled = 1 WHERE target_id = ?1 AND ts >= ?2"
	                         " AND ts < ?2 + 3600000 AND rolled = 0");
	if (stmt == NULL)
		goto out_free;
	db_bind_int64(stmt, 1, target_id);
	db_bind_int64(stmt, 2, hour);
	if (store_step_write(st, stmt, "retention: marking scrapes rolled up") != 0)
		goto out_free;
	*done += (unsigned)db_changes(store_dbh(st));
	ret = 0;
out_free:
	free(xs);
	free(sc);
	return ret;
}

/* Delete up to 'limit' rows chosen by 'sql' (bound ?1 = cutoff or count, ?2 = limit). Rows deleted,
 * or -1. */
static int
retention_delete(struct store *st, const char *sql, int64_t cutoff, unsigned limit,
                 const char *what)
{
	struct db_stmt *stmt = store_prepare(st, sql);
	int n;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, cutoff);
	db_bind_int64(stmt, 2, limit);
	if (db_step(stmt) != DB_DONE) {
		store_log_db(st, what);
		store_stmt_done(stmt);
		return -1;
	}
	store_stmt_done(stmt);
	n = db_changes(store_dbh(st));
	return n;
}

/* The rows of the scrapes 'sel' picks (?1, ?2: retention_delete()'s), from each raw table that
 * holds a scrape's rows: deleted before their scrapes, as on PostgreSQL nothing else deletes them
 * (schema_pg.sql); on SQLite the cascade would. */
#define SCRAPE_ROWS_DELETE(table, sel)                                                             \
	"DELETE FROM " table " WHERE scrape_id IN (SELECT id FROM scrapes WHERE " sel ")"
#define SCRAPE_ROWS_DELETES(sel)                                                                   \
	{                                                                                          \
		SCRAPE_ROWS_DELETE("samples", sel), SCRAPE_ROWS_DELETE("sample_stacks", sel),      \
		    SCRAPE_ROWS_DELETE("label_samples", sel),                                      \
		    SCRAPE_ROWS_DELETE("restart_moves", sel)                                       \
	}
#define SCRAPE_ROWS_TABLES 4
static const char *const expired_rows[SCRAPE_ROWS_TABLES] =
    SCRAPE_ROWS_DELETES("target_id = ?1 ORDER BY ts LIMIT ?2");
static const char *const rolled_rows[SCRAPE_ROWS_TABLES] =
    SCRAPE_ROWS_DELETES("ts < ?1 AND rolled = 1 ORDER BY ts LIMIT ?2");

/* Run the SCRAPE_ROWS_TABLES statements of 'sql' with 'a' and 'limit'. 0, or -1 (logged). */
static int
delete_scrape_rows(struct store *st, const char *const *sql, int64_t a, unsigned limit,
                   const char *what)
{
	for (size_t i = 0; i < SCRAPE_ROWS_TABLES; i++)
		if (retention_delete(st, sql[i], a, limit, what) < 0)
			return -1;
	return 0;
}

/* Forget up to 'limit' locations last seen before 'cutoff' that nothing refers to any more, then
 * their stacks when no other location shares them. The number of locations deleted, or -1. */
static int
retention_locations(struct store *st, int64_t cutoff, unsigned limit)
{
	int64_t *ids, *stack_ids;
	struct db_stmt *stmt;
	size_t n = 0, i;
	int rc = DB_DONE, ret = -1;

	ids = xcalloc(limit, sizeof(*ids));
	stack_ids = xcalloc(limit, sizeof(*stack_ids));
	stmt = store_prepare(
	    st, "SELECT l.id, coalesce(l.stack_id, 0) FROM locations l WHERE l.last_seen < ?1"
	        " AND NOT EXISTS (SELECT 1 FROM samples x WHERE x.location_id = l.id)"
	        " AND NOT EXISTS (SELECT 1 FROM rollups r WHERE r.location_id = l.id)"
	        " AND NOT EXISTS (SELECT 1 FROM suspects u WHERE u.location_id = l.id)"
	        " AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.location_id = l.id)"
	        " LIMIT ?2");
	if (stmt == NULL)
		goto out_free;
	db_bind_int64(stmt, 1, cutoff);
	db_bind_int64(stmt, 2, limit);
	while (n < limit && (rc = db_step(stmt)) == DB_ROW) {
		ids[n] = db_column_int64(stmt, 0);
		stack_ids[n] = db_column_int64(stmt, 1);
		n++;
	}
	if (n < limit && rc != DB_DONE) {
		store_log_db(st, "retention: finding unused locations");
		store_stmt_done(stmt);
		goto out_free;
	}
	store_stmt_done(stmt);

	for (i = 0; i < n; i++) {
		stmt = store_prepare(st, "DELETE FROM locations WHERE id = ?1");
		if (stmt == NULL)
			goto out_free;
		db_bind_int64(stmt, 1, ids[i]);
		if (store_step_write(st, stmt, "retention: deleting an unused location") != 0)
			goto out_free;
	}
	for (i = 0; i < n; i++) {
		if (stack_ids[i] == 0)
			continue;
		stmt = store_prepare(
		    st, "DELETE FROM stacks WHERE id = ?1 AND last_seen = 0"
		        " AND NOT EXISTS (SELECT 1 FROM locations WHERE stack_id = ?1)"
		        " AND NOT EXISTS (SELECT 1 FROM suspects WHERE stack_id = ?1)");
		if (stmt == NULL)
			goto out_free;
		db_bind_int64(stmt, 1, stack_ids[i]);
		if (store_step_write(st, stmt, "retention: deleting an unused stack") != 0)
			goto out_free;
	}
	if (n > 0) {
		/* The caches may name what was just deleted. */
		store_ingest_forget(store_ingest_state(st));
	}
	ret = (int)n;
out_free:
	free(stack_ids);
	free(ids);
	return ret;
}

/* Delete up to 'limit' stacks not seen in a scrape since 'cutoff' that no location or kept
 * ranking's suspect refers to. The caller passes a cutoff (retention.rollup and two hours ago)
 * before which every scrape is deleted once retention is caught up, with its call sites
 * (sample_stacks): last_seen lags a stack's latest scrape by at most 30 s. The number deleted, or
 * -1. Stacks stored before stacks.last_seen (0) go with their location. */
static int
retention_stacks(struct store *st, int64_t cutoff, unsigned limit)
{
	int n = retention_delete(
	    st,
	    "DELETE FROM stacks WHERE id IN (SELECT k.id FROM stacks k"
	    " WHERE k.last_seen > 0 AND k.last_seen < ?1"
	    " AND NOT EXISTS (SELECT 1 FROM locations l WHERE l.stack_id = k.id)"
	    " AND NOT EXISTS (SELECT 1 FROM suspects u WHERE u.stack_id = k.id) LIMIT ?2)",
	    cutoff, limit, "retention: deleting unused stacks");

	if (n > 0)
		store_ingest_forget(store_ingest_state(st)); /* the caches may name them */
	return n;
}

/* Delete up to 'limit' inactive targets last scraped (never scraped: registered) before 'cutoff',
 * oldest first, deleting at most 'budget' of their scrapes (and those scrapes' samples). A target
 * whose scrapes are not all deleted yet stays for the next call. Sets *more when some may be left.
 * The number of targets deleted, or -1. */
static int
retention_targets(struct store *st, int64_t cutoff, unsigned limit, unsigned budget, bool *more)
{
	int64_t *ids;
	struct db_stmt *stmt;
	size_t n = 0, i;
	int rc = DB_DONE, ret = -1, deleted = 0, k;

	ids = xcalloc(limit, sizeof(*ids));
	stmt = store_prepare(st, "SELECT id FROM targets WHERE active = 0"
	                         " AND coalesce(last_scrape, first_seen) < ?1"
	                         " ORDER BY coalesce(last_scrape, first_seen) LIMIT ?2");
	if (stmt == NULL)
		goto out_free;
	db_bind_int64(stmt, 1, cutoff);
	db_bind_int64(stmt, 2, limit);
	while (n < limit && (rc = db_step(stmt)) == DB_ROW)
		ids[n++] = db_column_int64(stmt, 0);
	if (n < limit && rc != DB_DONE) {
		store_log_db(st, "retention: finding expired targets");
		store_stmt_done(stmt);
		goto out_free;
	}
	store_stmt_done(stmt);
	if (n == limit)
		*more = true;

	for (i = 0; i < n; i++) {
		if (budget == 0) {
			*more = true;
			break;
		}
		if (delete_scrape_rows(st, expired_rows, ids[i], budget,
		                       "retention: deleting an expired target's scrapes' rows") < 0)
			goto out_free;
		k = retention_delete(st,
		                     "DELETE FROM scrapes WHERE id IN (SELECT id FROM scrapes"
		                     " WHERE target_id = ?1 ORDER BY ts LIMIT ?2)",
		                     ids[i], budget,
		                     "retention: deleting an expired target's scrapes");
		if (k < 0)
			goto out_free;
		if ((unsigned)k >= budget) {
			/* maybe more of its scrapes: the next call goes on */
			*more = true;
			break;
		}
		budget -= (unsigned)k;
		stmt = store_prepare(st, "DELETE FROM targets WHERE id = ?1 AND active = 0");
		if (stmt == NULL)
			goto out_free;
		db_bind_int64(stmt, 1, ids[i]);
		if (store_step_write(st, stmt, "retention: deleting an expired target") != 0)
			goto out_free;
		deleted++;
	}
	ret = deleted;
out_free:
	free(ids);
	return ret;
}

/* Delete up to 'limit' services that nothing refers to any more: no target, no rollup (nor hour),
 * no alert, no suspect of a kept ranking, no outbox row. The number deleted, or -1. */
static int
retention_services(struct store *st, unsigned limit)
{
	struct db_stmt *stmt = store_prepare(
	    st, "DELETE FROM services WHERE id IN (SELECT s.id FROM services s"
	        " WHERE NOT EXISTS (SELECT 1 FROM targets t WHERE t.service_id = s.id)"
	        " AND NOT EXISTS (SELECT 1 FROM rollup_hours h WHERE h.service_id = s.id)"
	        " AND NOT EXISTS (SELECT 1 FROM rollups r WHERE r.service_id = s.id)"
	        " AND NOT EXISTS (SELECT 1 FROM rollup_stacks k WHERE k.service_id = s.id)"
	        " AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.service_id = s.id)"
	        " AND s.id NOT IN (SELECT service_id FROM suspects)"
	        " AND s.id NOT IN (SELECT service_id FROM outbox) LIMIT ?1)");

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, limit);
	if (store_step_write(st, stmt, "retention: deleting unused services") != 0)
		return -1;
	return db_changes(store_dbh(st));
}

int
store_retention_partitions_ahead(struct store *st, int64_t now)
{
	char err[512];

	if (!store_on_pg(st))
		return 0;
	if (schema_pg_create_days(store_dbh(st), now, now + SCHEMA_PG_DAY_MS, err, sizeof(err)) <
	    0) {
		store_set_error(st, "%s", err);
		log_err("store: '%s': retention: %s", store_path(st), err);
		return -1;
	}
	return 0;
}

/* PostgreSQL: drop the days of raw rows wholly before 'cutoff' whose scrapes are all rolled up,
 * each in a transaction of its own. 0, or -1 (logged). */
static int
retention_drop_days(struct store *st, int64_t cutoff)
{
	char err[512];
	int n = schema_pg_drop_days_before(store_dbh(st), cutoff, err, sizeof(err));

	if (n < 0) {
		store_set_error(st, "%s", err);
		log_err("store: '%s': retention: %s", store_path(st), err);
		return -1;
	}
	if (n > 0) /* the ingest's caches may name a day dropped */
		store_ingest_forget(store_ingest_state(st));
	return 0;
}

/* Any constant: the key of the advisory lock a retention step holds on PostgreSQL. */
#define RETENTION_LOCK_KEY "7809847927456342019"

int
store_retention_step(struct store *st, int64_t now, int64_t raw_ms, int64_t rollup_ms,
                     unsigned budget)
{
	static const char oldest_sql[] =
	    "SELECT target_id, ts FROM scrapes WHERE rolled = 0 ORDER BY ts LIMIT 1";
	int64_t raw_cutoff = now - raw_ms, rollup_cutoff = now - rollup_ms;
	/* Raw scrapes go by whole hours, once rolled up. */
	int64_t raw_hour = raw_cutoff - ((raw_cutoff % HOUR_MS) + HOUR_MS) % HOUR_MS;
	unsigned done = 0, row_budget;
	/* PostgreSQL drops the raw rows a day at a time, once the whole day is past the raw
	 * retention (schema_pg.sql): row by row only when that is shorter than a day. */
	bool more = false, pg = store_on_pg(st), by_day = pg && raw_ms >= SCHEMA_PG_DAY_MS;
	int n;

	if (budget == 0)
		budget = 1;
	/* Rows of the small tables per step, bounded whatever the caller asks. */
	row_budget = budget > 1000 ? 64000 : budget * 64;
	if (store_retention_partitions_ahead(st, now) < 0)
		return -1;
	if (store_begin(st) < 0)
		return -1;
	/* Several daemons on one database take turns: two rolling up the same hour at once would
	 * both add it. SQLite's write transaction is the turn already. */
	if (pg) {
		struct db_stmt *stmt =
		    store_prepare(st, "SELECT CAST(pg_try_advisory_xact_lock(" RETENTION_LOCK_KEY
		                      ") AS INTEGER)");
		int rc;

		if (stmt == NULL)
			goto out_rollback;
		rc = db_step(stmt);
		if (rc != DB_ROW) {
			store_log_db(st, "retention: taking its turn");
			store_stmt_done(stmt);
			goto out_rollback;
		}
		rc = db_column_int(stmt, 0);
		store_stmt_done(stmt);
		if (rc == 0) {
			/* another daemon's turn: this one looks again at its next pass */
			store_rollback(st);
			return 0;
		}
	}

	/* Whole hours only, one (target, hour) at a time, oldest first: an instance's contribution
	 * to an hour's rollup is then added exactly once, so instances and means stay exact across
	 * batches. */
	while (done < budget) {
		struct db_stmt *stmt = store_prepare(st, oldest_sql);
		int64_t target_id, ts, hour;
		int rc;

		if (stmt == NULL)
			goto out_rollback;
		rc = db_step(stmt);
		if (rc == DB_DONE) {
			store_stmt_done(stmt);
			break;
		}
		if (rc != DB_ROW) {
			store_log_db(st, "retention: finding the oldest scrape");
			store_stmt_done(stmt);
			goto out_rollback;
		}
		target_id = db_column_int64(stmt, 0);
		ts = db_column_int64(stmt, 1);
		store_stmt_done(stmt);
		hour = ts - ((ts % HOUR_MS) + HOUR_MS) % HOUR_MS;
		if (hour + HOUR_MS + ROLLUP_DELAY_MS > now)
			break;
		if (retention_target_hour(st, target_id, hour, &done) < 0)
			goto out_rollback;
	}
	more = done >= budget;
	/* PostgreSQL: the days past the raw retention go between the rollup (committed first: their
	 * scrapes are then marked rolled up) and what follows from it, as the deletes below go on
	 * SQLite; each day in a transaction of its own. */
	if (pg &&
	    (store_commit(st) < 0 || retention_drop_days(st, raw_hour) < 0 || store_begin(st) < 0))
		return -1;

	/* Rolled-up scrapes of the hours past the raw retention, oldest first. */
	n = by_day ? 0
	           : delete_scrape_rows(st, rolled_rows, raw_hour, budget,
	                                "retention: deleting rolled-up scrapes' rows");
	if (n < 0)
		goto out_rollback;
	n = by_day ? 0
	           : retention_delete(st,
	                              "DELETE FROM scrapes WHERE id IN (SELECT id FROM scrapes"
	                              " WHERE ts < ?1 AND rolled = 1 ORDER BY ts LIMIT ?2)",
	                              raw_hour, budget, "retention: deleting scrapes");
	if (n < 0)
		goto out_rollback;
	if ((unsigned)n >= budget)
		more = true;
	/* pprof label sets no scrape kept stored since (store_labels.c): kept from the start of
	 * the oldest day kept when the raw rows go by the day */
	n = store_labels_retention(
	    st, by_day ? schema_pg_day(raw_hour) * SCHEMA_PG_DAY_MS : raw_hour, row_budget);
	if (n < 0)
		goto out_rollback;
	if ((unsigned)n >= row_budget)
		more = true;

	n = retention_delete(
	    st,
	    "DELETE FROM rollup_hours WHERE (service_id, hour) IN"
	    " (SELECT service_id, hour FROM rollup_hours WHERE hour < ?1 LIMIT ?2)",
	    rollup_cutoff, row_budget, "retention: deleting old rollup hours");
	if (n < 0)
		goto out_rollback;
	if ((unsigned)n >= row_budget)
		more = true;

	n = retention_delete(
	    st,
	    "DELETE FROM rollups WHERE (service_id, location_id, hour) IN"
	    " (SELECT service_id, location_id, hour FROM rollups WHERE hour < ?1 LIMIT ?2)",
	    rollup_cutoff, row_budget, "retention: deleting old rollups");
	if (n < 0)
		goto out_rollback;
	if ((unsigned)n >= row_budget)
		more = true;
	n = retention_delete(
	    st,
	    "DELETE FROM rollup_stacks WHERE (service_id, location_id, hour, stack_id) IN"
	    " (SELECT service_id, location_id, hour, stack_id FROM rollup_stacks WHERE hour < ?1"
	    " LIMIT ?2)",
	    rollup_cutoff, row_budget, "retention: deleting old call-site rollups");
	if (n < 0)
		goto out_rollback;
	if ((unsigned)n >= row_budget)
		more = true;

	/* Targets gone from the configuration for longer than the rollups are kept. */
	if (retention_targets(st, rollup_cutoff, row_budget, budget, &more) < 0)
		goto out_rollback;

	if (!more) {
		/* Rollups are caught up: locations last seen before the oldest kept rollup hour
		 * have nothing left. */
		n = retention_locations(st, rollup_cutoff - HOUR_MS, row_budget);
		if (n < 0)
			goto out_rollback;
		if ((unsigned)n >= row_budget)
			more = true;
		n = retention_stacks(st, rollup_cutoff - 2 * HOUR_MS, row_budget);
		if (n < 0)
			goto out_rollback;
		if ((unsigned)n >= row_budget)
			more = true;
		n = retention_services(st, row_budget);
		if (n < 0)
			goto out_rollback;
		if ((unsigned)n >= row_budget)
			more = true;
	}

	n = retention_delete(st,
	                     "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state IN "
	                     "('delivered', 'dropped', 'failed')"
	                     " AND coalesce(delivered_at, created) < ?1 LIMIT ?2)",
	                     raw_cutoff, row_budget, "retention: deleting old outbox rows");
	if (n < 0)
		goto out_rollback;
	if ((unsigned)n >= row_budget)
		more = true;

	n = retention_delete(
	    st,
	    "DELETE FROM rankings WHERE id IN (SELECT id FROM rankings r WHERE id < (SELECT x.id"
	    " FROM rankings x WHERE x.shards = r.shards AND x.shard = r.shard"
	    " ORDER BY x.id DESC LIMIT 1 OFFSET ?1) LIMIT ?2)",
	    STORE_RANKINGS_KEEP - 1, row_budget, "retention: deleting old rankings");
	if (n < 0)
		goto out_rollback;
	if (store_commit(st) < 0)
		return -1;
	return more ? 1 : 0;

out_rollback:
	store_rollback(st);
	return -1;
}
