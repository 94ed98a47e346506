/* storage/store_retention.c: the store's retention, in bounded steps. See store_retention_step() in
 * store.h.
 *
 * Raw scrapes and samples older than the raw retention are rolled up into hourly rollups, one
 * (target, hour) at a time so that each instance's share of an hour is added exactly once, then
 * deleted. Rollups past their own retention, delivered or dropped outbox rows and old rankings are
 * deleted too, and, once the rollups are caught up, locations and stacks that nothing refers to any
 * more (the ingest's caches are then forgotten). Each call does at most a budget's worth in one
 * write transaction, so that the single writer never holds ingest up for long. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "base/xalloc.h"
#include "storage/store.h"
#include "storage/store_internal.h"

#define HOUR_MS 3600000

/* Roll up and delete the raw scrapes of one target in one hour. Adds the number of scrapes to
 * *done. */
static int
retention_target_hour(struct store *st, int64_t target_id, int64_t hour, unsigned *done)
{
	sqlite3_stmt *stmt;
	int64_t nscrapes;

	/* The count scrapes of this instance in the hour: the denominator of its mean (absent
	 * counts are 0). */
	stmt = store_prepare(
	    st,
	    "SELECT count(*) FROM scrapes WHERE target_id = ?1 AND ts >= ?2 AND ts < ?2 + 3600000"
	    " AND status = 'ok' AND detail = 0");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, target_id);
	sqlite3_bind_int64(stmt, 2, hour);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		store_log_sqlite(st, "retention: counting scrapes");
		store_stmt_done(stmt);
		return -1;
	}
	nscrapes = sqlite3_column_int64(stmt, 0);
	store_stmt_done(stmt);

	if (nscrapes > 0) {
		stmt = store_prepare(
		    st,
		    "INSERT INTO rollups (service_id, location_id, hour, max_count, mean_count, "
		    "instances, scrapes)"
		    " SELECT t.service_id, x.location_id, ?2, max(x.count), CAST(sum(x.count) AS "
		    "REAL) / ?3, 1, ?3"
		    " FROM targets t CROSS JOIN scrapes s CROSS JOIN samples x"
		    " WHERE t.id = ?1 AND s.target_id = t.id AND s.ts >= ?2 AND s.ts < ?2 + 3600000"
		    " AND s.status = 'ok' AND s.detail = 0 AND x.scrape_id = s.id"
		    " GROUP BY t.service_id, x.location_id"
		    " ON CONFLICT (service_id, location_id, hour) DO UPDATE SET"
		    " max_count = max(max_count, excluded.max_count),"
		    " mean_count = (mean_count * scrapes + excluded.mean_count * excluded.scrapes)"
		    " / (scrapes + excluded.scrapes),"
		    " instances = instances + excluded.instances, scrapes = scrapes + "
		    "excluded.scrapes");
		if (stmt == NULL)
			return -1;
		sqlite3_bind_int64(stmt, 1, target_id);
		sqlite3_bind_int64(stmt, 2, hour);
		sqlite3_bind_int64(stmt, 3, nscrapes);
		if (store_step_write(st, stmt, "retention: rolling up samples") != 0)
			return -1;
	}

	stmt = store_prepare(
	    st,
	    "DELETE FROM samples WHERE scrape_id IN"
	    " (SELECT id FROM scrapes WHERE target_id = ?1 AND ts >= ?2 AND ts < ?2 + 3600000)");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, target_id);
	sqlite3_bind_int64(stmt, 2, hour);
	if (store_step_write(st, stmt, "retention: deleting samples") != 0)
		return -1;

	stmt = store_prepare(
	    st, "DELETE FROM scrapes WHERE target_id = ?1 AND ts >= ?2 AND ts < ?2 + 3600000");
	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, target_id);
	sqlite3_bind_int64(stmt, 2, hour);
	if (store_step_write(st, stmt, "retention: deleting scrapes") != 0)
		return -1;
	*done += (unsigned)sqlite3_changes(store_db(st));
	return 0;
}

/* Delete up to 'limit' rows chosen by 'sql' (bound ?1 = cutoff or count, ?2 = limit). Rows deleted,
 * or -1. */
static int
retention_delete(struct store *st, const char *sql, int64_t cutoff, unsigned limit,
                 const char *what)
{
	sqlite3_stmt *stmt = store_prepare(st, sql);
	int n;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, cutoff);
	sqlite3_bind_int64(stmt, 2, limit);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		store_log_sqlite(st, what);
		store_stmt_done(stmt);
		return -1;
	}
	store_stmt_done(stmt);
	n = sqlite3_changes(store_db(st));
	return n;
}

/* Forget up to 'limit' locations last seen before 'cutoff' that nothing refers to any more, then
 * their stacks when no other location shares them. The number of locations deleted, or -1. */
static int
retention_locations(struct store *st, int64_t cutoff, unsigned limit)
{
	int64_t *ids, *stack_ids;
	sqlite3_stmt *stmt;
	size_t n = 0, i;
	int rc = SQLITE_DONE, ret = -1;

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
	sqlite3_bind_int64(stmt, 1, cutoff);
	sqlite3_bind_int64(stmt, 2, limit);
	while (n < limit && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		ids[n] = sqlite3_column_int64(stmt, 0);
		stack_ids[n] = sqlite3_column_int64(stmt, 1);
		n++;
	}
	if (n < limit && rc != SQLITE_DONE) {
		store_log_sqlite(st, "retention: finding unused locations");
		store_stmt_done(stmt);
		goto out_free;
	}
	store_stmt_done(stmt);

	for (i = 0; i < n; i++) {
		stmt = store_prepare(st, "DELETE FROM locations WHERE id = ?1");
		if (stmt == NULL)
			goto out_free;
		sqlite3_bind_int64(stmt, 1, ids[i]);
		if (store_step_write(st, stmt, "retention: deleting an unused location") != 0)
			goto out_free;
	}
	for (i = 0; i < n; i++) {
		if (stack_ids[i] == 0)
			continue;
		stmt = store_prepare(st, "DELETE FROM stacks WHERE id = ?1 AND NOT EXISTS (SELECT "
		                         "1 FROM locations WHERE stack_id = ?1)");
		if (stmt == NULL)
			goto out_free;
		sqlite3_bind_int64(stmt, 1, stack_ids[i]);
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

int
store_retention_step(struct store *st, int64_t now, int64_t raw_ms, int64_t rollup_ms,
                     unsigned budget)
{
	static const char oldest_sql[] = "SELECT target_id, ts FROM scrapes ORDER BY ts LIMIT 1";
	int64_t raw_cutoff = now - raw_ms, rollup_cutoff = now - rollup_ms;
	unsigned done = 0, row_budget;
	bool more = false;
	int n;

	if (budget == 0)
		budget = 1;
	/* Rows of the small tables per step, bounded whatever the caller asks. */
	row_budget = budget > 1000 ? 64000 : budget * 64;
	if (store_begin(st) < 0)
		return -1;

	/* Whole hours only, one (target, hour) at a time: an instance's contribution to an hour's
	 * rollup is then added exactly once, so instances and means stay exact across batches. */
	while (done < budget) {
		sqlite3_stmt *stmt = store_prepare(st, oldest_sql);
		int64_t target_id, ts, hour;
		int rc;

		if (stmt == NULL)
			goto out_rollback;
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE) {
			store_stmt_done(stmt);
			break;
		}
		if (rc != SQLITE_ROW) {
			store_log_sqlite(st, "retention: finding the oldest scrape");
			store_stmt_done(stmt);
			goto out_rollback;
		}
		target_id = sqlite3_column_int64(stmt, 0);
		ts = sqlite3_column_int64(stmt, 1);
		store_stmt_done(stmt);
		hour = ts - ((ts % HOUR_MS) + HOUR_MS) % HOUR_MS;
		if (hour + HOUR_MS > raw_cutoff)
			break;
		if (retention_target_hour(st, target_id, hour, &done) < 0)
			goto out_rollback;
		more = true;
	}
	if (done >= budget)
		more = true;
	else
		more = false;

	n = retention_delete(
	    st,
	    "DELETE FROM rollups WHERE (service_id, location_id, hour) IN"
	    " (SELECT service_id, location_id, hour FROM rollups WHERE hour < ?1 LIMIT ?2)",
	    rollup_cutoff, row_budget, "retention: deleting old rollups");
	if (n < 0)
		goto out_rollback;
	if ((unsigned)n >= row_budget)
		more = true;

	if (!more) {
		/* Rollups are caught up: locations last seen before the oldest kept rollup hour
		 * have nothing left. */
		n = retention_locations(st, rollup_cutoff - HOUR_MS, row_budget);
		if (n < 0)
			goto out_rollback;
		if ((unsigned)n >= row_budget)
			more = true;
	}

	n = retention_delete(st,
	                     "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state IN "
	                     "('delivered', 'dropped')"
	                     " AND coalesce(delivered_at, created) < ?1 LIMIT ?2)",
	                     raw_cutoff, row_budget, "retention: deleting old outbox rows");
	if (n < 0)
		goto out_rollback;
	if ((unsigned)n >= row_budget)
		more = true;

	n = retention_delete(
	    st,
	    "DELETE FROM rankings WHERE id IN (SELECT id FROM rankings"
	    " WHERE id < (SELECT id FROM rankings ORDER BY id DESC LIMIT 1 OFFSET ?1) LIMIT ?2)",
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
