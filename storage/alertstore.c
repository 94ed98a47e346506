/* storage/alertstore.c: alert state and the notification outbox in SQLite. See alertstore.h. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/alertstore.h"
#include "storage/store_internal.h"

static void
bind_ms_or_null(struct db_stmt *stmt, int idx, int64_t ms)
{
	if (ms > 0)
		db_bind_int64(stmt, idx, ms);
	else
		db_bind_null(stmt, idx);
}

static void
row_from_stmt(struct db_stmt *stmt, struct alert_row *out)
{
	const char *state;

	memset(out, 0, sizeof(*out));
	out->service_id = db_column_int64(stmt, 0);
	out->location_id = db_column_int64(stmt, 1);
	state = db_column_text(stmt, 2);
	if (state != NULL)
		snprintf(out->state, sizeof(out->state), "%s", state);
	out->pending_since = db_column_int64(stmt, 3);
	out->firing_since = db_column_int64(stmt, 4);
	out->resolved_at = db_column_int64(stmt, 5);
	out->last_notified = db_column_int64(stmt, 6);
	out->last_score = db_column_double(stmt, 7);
	out->last_count = db_column_int64(stmt, 8);
	out->firing_payload = store_column_strdup(stmt, 9, false);
	out->service = store_column_strdup(stmt, 10, false);
}

#define ALERT_COLUMNS                                                                              \
	"service_id, location_id, state, pending_since, firing_since, resolved_at, "               \
	"last_notified, last_score, last_count, firing_payload"
/* ALERT_COLUMNS as read, with the service's name */
#define ALERT_READ_COLUMNS                                                                         \
	ALERT_COLUMNS ", (SELECT name FROM services WHERE id = alerts.service_id)"

void
alert_row_release(struct alert_row *row)
{
	if (row == NULL)
		return;
	free(row->firing_payload);
	free(row->service);
	memset(row, 0, sizeof(*row));
}

int
alertstore_get(struct store *st, int64_t service_id, int64_t location_id, struct alert_row *out)
{
	struct db_stmt *stmt;
	int rc;

	stmt = store_prepare(st, "SELECT " ALERT_READ_COLUMNS
	                         " FROM alerts WHERE service_id = ?1 AND location_id = ?2");
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, service_id);
	db_bind_int64(stmt, 2, location_id);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		row_from_stmt(stmt, out);
		store_stmt_done(stmt);
		return 0;
	}
	store_stmt_done(stmt);
	if (rc == DB_DONE)
		return 1;
	store_log_db(st, "reading alert state");
	return -1;
}

int
alertstore_each_active(struct store *st, int (*cb)(const struct alert_row *row, void *arg),
                       void *arg)
{
	struct alert_row *rows = NULL, *grown;
	size_t n = 0, cap = 0;
	struct db_stmt *stmt;
	int rc = DB_DONE, ret = 0;

	/* Collect first, then call back: the callback may write (and a statement must not stay open
	 * meanwhile). */
	stmt = store_prepare(st, "SELECT " ALERT_READ_COLUMNS
	                         " FROM alerts WHERE state IN ('pending', 'firing') "
	                         "ORDER BY service_id, location_id");
	if (stmt == NULL)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(rows, cap * sizeof(*rows));
			if (grown == NULL) {
				store_stmt_done(stmt);
				ret = -1;
				goto out_free;
			}
			rows = grown;
		}
		row_from_stmt(stmt, &rows[n++]);
	}
	store_stmt_done(stmt);
	if (rc != DB_DONE) {
		store_log_db(st, "listing active alerts");
		ret = -1;
		goto out_free;
	}
	for (size_t i = 0; i < n && ret == 0; i++)
		ret = cb(&rows[i], arg);
out_free:
	for (size_t i = 0; i < n; i++)
		alert_row_release(&rows[i]);
	free(rows);
	return ret;
}

int
alertstore_update(struct store *st, const struct alert_row *row, const struct outbox_new *out,
                  size_t nout, int64_t now)
{
	struct db_stmt *stmt;

	if (store_begin(st) != 0)
		return -1;
	/* the whole row, new or replacing the old one: (service_id, location_id) is its only key */
	stmt = store_prepare(
	    st, "INSERT INTO alerts (" ALERT_COLUMNS ", updated) "
	        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
	        " ON CONFLICT (service_id, location_id) DO UPDATE SET state = excluded.state,"
	        " pending_since = excluded.pending_since, firing_since = excluded.firing_since,"
	        " resolved_at = excluded.resolved_at, last_notified = excluded.last_notified,"
	        " last_score = excluded.last_score, last_count = excluded.last_count,"
	        " firing_payload = excluded.firing_payload, updated = excluded.updated");
	if (stmt == NULL)
		goto out_rollback;
	db_bind_int64(stmt, 1, row->service_id);
	db_bind_int64(stmt, 2, row->location_id);
	db_bind_text(stmt, 3, row->state);
	bind_ms_or_null(stmt, 4, row->pending_since);
	bind_ms_or_null(stmt, 5, row->firing_since);
	bind_ms_or_null(stmt, 6, row->resolved_at);
	bind_ms_or_null(stmt, 7, row->last_notified);
	db_bind_double(stmt, 8, row->last_score);
	db_bind_int64(stmt, 9, row->last_count);
	if (row->firing_payload != NULL)
		db_bind_text(stmt, 10, row->firing_payload);
	else
		db_bind_null(stmt, 10);
	db_bind_int64(stmt, 11, now);
	if (store_step_write(st, stmt, "writing alert state") != 0)
		goto out_rollback;
	for (size_t i = 0; i < nout; i++) {
		stmt = store_prepare(
		    st, "INSERT INTO outbox (event_id, webhook, status, service_id, location_id,"
		        " payload, created, next_attempt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"
		        " ON CONFLICT (event_id, webhook) DO NOTHING");
		if (stmt == NULL)
			goto out_rollback;
		db_bind_text(stmt, 1, out[i].event_id);
		db_bind_text(stmt, 2, out[i].webhook);
		db_bind_text(stmt, 3, out[i].status);
		db_bind_int64(stmt, 4, row->service_id);
		db_bind_int64(stmt, 5, row->location_id);
		db_bind_text(stmt, 6, out[i].payload);
		db_bind_int64(stmt, 7, now);
		if (store_step_write(st, stmt, "queueing a notification") != 0)
			goto out_rollback;
	}
	return store_commit(st);

out_rollback:
	store_rollback(st);
	return -1;
}

/* Run one write statement with up to three parameters, ?1 and ?2 (integers) and ?3 (text or NULL);
 * binding a parameter the statement does not use is harmless (db_bind_*() refuses it, ignored). */
static int
exec_write(struct store *st, const char *sql, const char *what, int64_t a, int64_t b,
           const char *text)
{
	struct db_stmt *stmt = store_prepare(st, sql);

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, a);
	db_bind_int64(stmt, 2, b);
	if (text != NULL)
		db_bind_text(stmt, 3, text);
	else
		db_bind_null(stmt, 3);
	return store_step_write(st, stmt, what);
}

int
alertstore_delete(struct store *st, int64_t service_id, int64_t location_id)
{
	return exec_write(st, "DELETE FROM alerts WHERE service_id = ?1 AND location_id = ?2",
	                  "forgetting an alert", service_id, location_id, NULL);
}

#define OUTBOX_COLUMNS                                                                             \
	"id, event_id, webhook, status, service_id, location_id, payload, created, "               \
	"next_attempt, attempts, last_error, state, delivered_at"

static void
outbox_from_stmt(struct db_stmt *stmt, struct outbox_row *out)
{
	memset(out, 0, sizeof(*out));
	out->id = db_column_int64(stmt, 0);
	out->event_id = store_column_strdup(stmt, 1, true);
	out->webhook = store_column_strdup(stmt, 2, true);
	out->status = store_column_strdup(stmt, 3, true);
	out->service_id = db_column_int64(stmt, 4);
	out->location_id = db_column_int64(stmt, 5);
	out->payload = store_column_strdup(stmt, 6, true);
	out->created = db_column_int64(stmt, 7);
	out->next_attempt = db_column_int64(stmt, 8);
	out->attempts = db_column_int(stmt, 9);
	out->last_error = store_column_strdup(stmt, 10, false);
	out->state = store_column_strdup(stmt, 11, true);
	out->delivered_at = db_column_int64(stmt, 12);
}

int
alertstore_outbox_head(struct store *st, const char *webhook, struct outbox_row *out)
{
	struct db_stmt *stmt;
	int rc;

	stmt = store_prepare(st, "SELECT " OUTBOX_COLUMNS
	                         " FROM outbox WHERE state = 'pending' AND webhook = ?1 "
	                         "ORDER BY id LIMIT 1");
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, webhook);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		outbox_from_stmt(stmt, out);
		store_stmt_done(stmt);
		return 0;
	}
	store_stmt_done(stmt);
	if (rc == DB_DONE)
		return 1;
	store_log_db(st, "reading the outbox");
	return -1;
}

/* An attempt's outcome ends its claim: the next attempt is any daemon's. */
#define CLAIM_ENDS "claimed_by = NULL, claim_until = NULL"

int
alertstore_outbox_claim(struct store *st, int64_t id, int64_t now, int64_t until,
                        int64_t *held_until)
{
	const char *owner = store_owner(st);
	struct db_stmt *stmt;
	int rc;

	*held_until = 0;
	if (owner == NULL)
		return 0;
	stmt = store_prepare(st, "UPDATE outbox SET claimed_by = ?3, claim_until = ?2"
	                         " WHERE id = ?1 AND state = 'pending' AND (claimed_by IS NULL"
	                         " OR claimed_by = ?3 OR claim_until < ?4)");
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, id);
	db_bind_int64(stmt, 2, until);
	db_bind_text(stmt, 3, owner);
	db_bind_int64(stmt, 4, now);
	if (store_step_write(st, stmt, "claiming a notification") != 0)
		return -1;
	if (db_changes(store_dbh(st)) == 1)
		return 0;
	stmt = store_prepare(st, "SELECT coalesce(claim_until, 0) FROM outbox WHERE id = ?1");
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, id);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*held_until = db_column_int64(stmt, 0);
	store_stmt_done(stmt);
	if (rc != DB_ROW && rc != DB_DONE) {
		store_log_db(st, "reading a notification's claim");
		return -1;
	}
	return 1;
}

int
alertstore_outbox_delivered(struct store *st, int64_t id, int64_t now)
{
	return exec_write(
	    st,
	    "UPDATE outbox SET state = 'delivered', delivered_at = ?2, attempts = attempts + 1, "
	    "last_error = ?3, " CLAIM_ENDS " WHERE id = ?1",
	    "marking a notification delivered", id, now, NULL);
}

int
alertstore_outbox_retry(struct store *st, int64_t id, int64_t next_attempt, const char *error)
{
	return exec_write(st,
	                  "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?2, "
	                  "last_error = ?3, " CLAIM_ENDS " WHERE id = ?1",
	                  "scheduling a notification retry", id, next_attempt, error);
}

int
alertstore_outbox_drop(struct store *st, int64_t id, const char *error)
{
	return exec_write(st,
	                  "UPDATE outbox SET state = 'dropped', last_error = coalesce(?3, "
	                  "last_error), " CLAIM_ENDS " WHERE id = ?1",
	                  "dropping a notification", id, 0, error);
}

int
alertstore_outbox_fail(struct store *st, int64_t id, const char *error)
{
	return exec_write(st,
	                  "UPDATE outbox SET state = 'failed', attempts = attempts + 1, "
	                  "last_error = ?3, " CLAIM_ENDS " WHERE id = ?1",
	                  "marking a notification failed", id, 0, error);
}

int
alertstore_outbox_failed(struct store *st, int (*cb)(const char *webhook, int64_t n, void *arg),
                         void *arg)
{
	struct db_stmt *stmt;
	int rc = DB_DONE, ret = 0;

	stmt = store_prepare(st, "SELECT webhook, count(*) FROM outbox WHERE state = 'failed' "
	                         "GROUP BY webhook ORDER BY webhook");
	if (stmt == NULL)
		return -1;
	while (ret == 0 && (rc = db_step(stmt)) == DB_ROW)
		ret = cb(db_column_text(stmt, 0), db_column_int64(stmt, 1), arg);
	store_stmt_done(stmt);
	if (ret == 0 && rc != DB_DONE) {
		store_log_db(st, "counting failed notifications");
		return -1;
	}
	return ret;
}

int
alertstore_outbox_expire(struct store *st, int64_t cutoff,
                         void (*cb)(const struct outbox_row *row, void *arg), void *arg)
{
	struct db_stmt *stmt;
	struct outbox_row row;
	int dropped = 0, rc;

	for (;;) {
		stmt = store_prepare(st, "SELECT " OUTBOX_COLUMNS
		                         " FROM outbox WHERE state = 'pending' AND "
		                         "created < ?1 ORDER BY id LIMIT 1");
		if (stmt == NULL)
			return -1;
		db_bind_int64(stmt, 1, cutoff);
		rc = db_step(stmt);
		if (rc != DB_ROW) {
			store_stmt_done(stmt);
			if (rc == DB_DONE)
				return dropped;
			store_log_db(st, "expiring notifications");
			return -1;
		}
		outbox_from_stmt(stmt, &row);
		store_stmt_done(stmt);
		if (cb != NULL)
			cb(&row, arg);
		rc = alertstore_outbox_drop(st, row.id,
		                            "expired: not delivered within alerting.max_age");
		outbox_row_release(&row);
		if (rc != 0)
			return -1;
		dropped++;
	}
}

void
outbox_row_release(struct outbox_row *row)
{
	if (row == NULL)
		return;
	free(row->event_id);
	free(row->webhook);
	free(row->status);
	free(row->payload);
	free(row->last_error);
	free(row->state);
	memset(row, 0, sizeof(*row));
}
