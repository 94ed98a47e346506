/* storage/query.c: read queries for the web server and /metrics (see query.h). Plain SQL on the
 * store's connection with bound parameters; aggregation into buckets happens here in C, in one pass
 * per instance. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/query.h"
#include "storage/store_internal.h"

/* The gap allowed between a scrape's start time and its id order (scrapes run in parallel and are
 * stored when they end), when an id bound is used to narrow a time range. */
#define QUERY_ID_SLACK_MS (2 * 60 * 1000)

static char *
col_dup(struct db_stmt *s, int i)
{
	const char *t = db_column_text(s, i);

	return strdup(t ? t : "");
}

static char *
col_dup_null(struct db_stmt *s, int i)
{
	const char *t = db_column_text(s, i);

	return t ? strdup(t) : NULL;
}

static int
prepare(struct store *st, const char *sql, struct db_stmt **out)
{
	/* Cached per connection by the store; logged there on error. */
	*out = store_prepare(st, sql);
	return *out ? 0 : -1;
}

/* The lowest scrape id that may have ts >= 'from' (ids follow time up to QUERY_ID_SLACK_MS), 0 when
 * none. */
static int
first_scrape_id(struct store *st, int64_t from, int64_t *id)
{
	struct db_stmt *s;
	int rc;

	if (prepare(st, "SELECT id FROM scrapes WHERE ts >= ?1 ORDER BY ts LIMIT 1", &s) < 0)
		return -1;
	db_bind_int64(s, 1, from - QUERY_ID_SLACK_MS);
	rc = db_step(s);
	*id = rc == DB_ROW ? db_column_int64(s, 0) : INT64_MAX;
	store_stmt_done(s);
	return rc == DB_ROW || rc == DB_DONE ? 0 : -1;
}

void
query_series_release(struct query_series *q)
{
	for (size_t i = 0; i < q->ninst; i++) {
		free(q->inst[i].service);
		free(q->inst[i].target);
		free(q->inst[i].values);
	}
	free(q->inst);
	free(q->total);
	free(q->restarts);
	*q = (struct query_series){0};
}

static int
series_add_restart(struct query_series *q, size_t *cap, int64_t target_id, int64_t ts,
                   enum lifetime_reason reason)
{
	if (q->nrestarts == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct query_restart *nr;

		if (ncap > QUERY_MAX_BUCKETS)
			return 0; /* enough markers to see; drop the rest */
		nr = realloc(q->restarts, ncap * sizeof(*nr));
		if (!nr)
			return -1;
		q->restarts = nr;
		*cap = ncap;
	}
	q->restarts[q->nrestarts++] =
	    (struct query_restart){.target_id = target_id, .ts = ts, .reason = reason};
	return 0;
}

/* Fill one instance's buckets from its scrapes in the range. */
static int
series_fill_instance(struct query_series *q, struct db_stmt *s, struct query_instance_series *in,
                     size_t *rcap)
{
	int rc;

	while ((rc = db_step(s)) == DB_ROW) {
		int64_t ts = db_column_int64(s, 0);
		double count = (double)db_column_int64(s, 1);
		enum lifetime_reason reason = lifetime_reason_parse(db_column_text(s, 2));
		size_t b;

		if (ts < q->from)
			continue;
		b = (size_t)((ts - q->from) / q->step);
		if (b >= q->nbuckets)
			continue;
		if (isnan(in->values[b]) || count > in->values[b])
			in->values[b] = count;
		in->latest = (uint64_t)count;
		/* The process lifetimes the detector ranked with, as the ingest stored them (a
		 * target's first scrape is no restart). */
		if (reason != LIFETIME_SAME && reason != LIFETIME_FIRST &&
		    series_add_restart(q, rcap, in->target_id, ts, reason) < 0)
			return -1;
	}
	return rc == DB_DONE ? 0 : -1;
}

#define QUERY_HOUR_MS 3600000

/* Where the raw samples kept begin: the start of the hour of the oldest scrape (retention deletes
 * whole hours), 'to' when none is kept. */
static int
series_raw_start(struct store *st, int64_t to, int64_t *out)
{
	struct db_stmt *s;
	int rc;

	if (prepare(st, "SELECT ts FROM scrapes ORDER BY ts LIMIT 1", &s) < 0)
		return -1;
	rc = db_step(s);
	if (rc == DB_ROW) {
		int64_t ts = db_column_int64(s, 0);

		*out = ts - ((ts % QUERY_HOUR_MS) + QUERY_HOUR_MS) % QUERY_HOUR_MS;
	} else {
		*out = to;
	}
	store_stmt_done(s);
	return rc == DB_ROW || rc == DB_DONE ? 0 : -1;
}

/* Fill 'hourly' (NaN-filled, nbuckets) for the buckets before q->hourly_until from the rollups:
 * per hour, the sum over services of mean_count times the instance-hours its steps cover (for hours
 * rolled up before that was kept: the instances seen with it); per bucket, the highest of its
 * hours. */
static int
series_fill_hourly(struct store *st, const struct query_series *q, int64_t location_id,
                   const char *service, double *hourly)
{
	struct db_stmt *s;
	int64_t cur = INT64_MIN;
	double sum = 0;
	int rc;

	if (prepare(
	        st,
	        "SELECT r.hour, r.mean_count, coalesce(h.step_ms, 0), r.instances FROM rollups r"
	        " LEFT JOIN rollup_hours h ON h.service_id = r.service_id AND h.hour = r.hour"
	        " WHERE r.location_id = ?1 AND r.hour >= ?2 AND r.hour < ?3 AND (CAST(?4 AS TEXT) "
	        "IS NULL OR"
	        " r.service_id = (SELECT id FROM services WHERE name = ?4)) ORDER BY r.hour",
	        &s) < 0)
		return -1;
	db_bind_int64(s, 1, location_id);
	db_bind_int64(s, 2, q->from - QUERY_HOUR_MS + 1);
	db_bind_int64(s, 3, q->hourly_until);
	if (service)
		db_bind_text(s, 4, service);
	else
		db_bind_null(s, 4);
	for (;;) {
		int64_t hour = INT64_MAX;
		double v = 0;

		rc = db_step(s);
		if (rc == DB_ROW) {
			int64_t step_ms = db_column_int64(s, 2);

			hour = db_column_int64(s, 0);
			v = db_column_double(s, 1) * (step_ms > 0 ? (double)step_ms / QUERY_HOUR_MS
			                                          : (double)db_column_int64(s, 3));
		} else if (rc != DB_DONE) {
			store_stmt_done(s);
			return -1;
		}
		if (hour != cur && cur != INT64_MIN) {
			/* Every bucket starting before hourly_until that overlaps the hour. */
			int64_t b0 = cur > q->from ? (cur - q->from) / q->step : 0;

			for (int64_t b = b0; b < (int64_t)q->nbuckets; b++) {
				int64_t start = q->from + b * q->step;

				if (start >= cur + QUERY_HOUR_MS || start >= q->hourly_until)
					break;
				if (isnan(hourly[b]) || sum > hourly[b])
					hourly[b] = sum;
			}
			sum = 0;
		}
		if (rc == DB_DONE)
			break;
		cur = hour;
		sum += v;
	}
	store_stmt_done(s);
	return 0;
}

int
query_location_series(struct store *st, int64_t location_id, const char *service, int64_t from,
                      int64_t to, int64_t step, int64_t lookback, struct query_series *out)
{
	struct db_stmt *ts_stmt = NULL, *sc_stmt = NULL;
	double *hourly = NULL;
	size_t icap = 0, rcap = 0;
	int64_t min_id;
	int rc;

	*out = (struct query_series){0};
	if (step <= 0 || to <= from ||
	    (uint64_t)((to - from + step - 1) / step) > QUERY_MAX_BUCKETS) {
		errno = EINVAL;
		return -1;
	}
	out->from = from;
	out->step = step;
	out->nbuckets = (size_t)((to - from + step - 1) / step);
	out->total = malloc(out->nbuckets * sizeof(double));
	if (!out->total)
		goto out_fail;
	if (first_scrape_id(st, from, &min_id) < 0)
		goto out_fail;

	/* Instances where the location appears in the range. */
	if (prepare(st,
	            "SELECT t.id, sv.name, t.url FROM targets t JOIN services sv ON sv.id = "
	            "t.service_id "
	            "WHERE (CAST(?4 AS TEXT) IS NULL OR sv.name = ?4) AND t.id IN (SELECT DISTINCT "
	            "sc.target_id "
	            "FROM samples sa "
	            "JOIN scrapes sc ON sc.id = sa.scrape_id WHERE sa.location_id = ?1 AND "
	            "sa.scrape_id >= ?5 "
	            "AND sc.ts >= ?2 AND sc.ts < ?3 AND sc.detail = 0) ORDER BY sv.name, t.url",
	            &ts_stmt) < 0)
		goto out_fail;
	db_bind_int64(ts_stmt, 1, location_id);
	db_bind_int64(ts_stmt, 2, from);
	db_bind_int64(ts_stmt, 3, to);
	if (service)
		db_bind_text(ts_stmt, 4, service);
	else
		db_bind_null(ts_stmt, 4);
	db_bind_int64(ts_stmt, 5, min_id);
	if (prepare(st,
	            "SELECT sc.ts, COALESCE(sa.count, 0), sc.restart FROM scrapes sc "
	            "LEFT JOIN samples sa ON sa.scrape_id = sc.id AND sa.location_id = ?1 "
	            "WHERE sc.target_id = ?2 AND sc.ts >= ?3 AND sc.ts < ?4 AND sc.status = 'ok' "
	            "AND sc.detail = 0 "
	            "ORDER BY sc.ts",
	            &sc_stmt) < 0)
		goto out_fail;

	while ((rc = db_step(ts_stmt)) == DB_ROW) {
		struct query_instance_series *in;

		if (out->ninst == QUERY_MAX_INSTANCES) {
			out->truncated = true;
			break;
		}
		if (out->ninst == icap) {
			size_t ncap = icap ? icap * 2 : 8;
			struct query_instance_series *ni = realloc(out->inst, ncap * sizeof(*ni));

			if (!ni)
				goto out_fail;
			out->inst = ni;
			icap = ncap;
		}
		in = &out->inst[out->ninst];
		*in = (struct query_instance_series){.target_id = db_column_int64(ts_stmt, 0)};
		out->ninst++;
		in->service = col_dup(ts_stmt, 1);
		in->target = col_dup(ts_stmt, 2);
		in->values = malloc(out->nbuckets * sizeof(double));
		if (!in->service || !in->target || !in->values)
			goto out_fail;
		for (size_t b = 0; b < out->nbuckets; b++)
			in->values[b] = NAN;
		db_reset(sc_stmt);
		db_bind_int64(sc_stmt, 1, location_id);
		db_bind_int64(sc_stmt, 2, in->target_id);
		db_bind_int64(sc_stmt, 3, from);
		db_bind_int64(sc_stmt, 4, to);
		if (series_fill_instance(out, sc_stmt, in, &rcap) < 0)
			goto out_fail;
	}
	if (rc != DB_ROW && rc != DB_DONE)
		goto out_fail;
	for (size_t b = 0; b < out->nbuckets; b++)
		out->total[b] = NAN;
	/* Past the raw samples kept: the rollups. */
	if (series_raw_start(st, to, &out->hourly_until) < 0)
		goto out_fail;
	if (out->hourly_until < from)
		out->hourly_until = from;
	if (out->hourly_until > from) {
		hourly = malloc(out->nbuckets * sizeof(*hourly));
		if (!hourly)
			goto out_fail;
		for (size_t b = 0; b < out->nbuckets; b++)
			hourly[b] = NAN;
		if (series_fill_hourly(st, out, location_id, service, hourly) < 0)
			goto out_fail;
	}
	for (size_t i = 0; i < out->ninst; i++) {
		double last = NAN;
		size_t last_b = 0;

		for (size_t b = 0; b < out->nbuckets; b++) {
			double v = out->inst[i].values[b];

			if (!isnan(v)) {
				last = v;
				last_b = b;
			} else if (!isnan(last) && (int64_t)(b - last_b) * step <= lookback) {
				v = last;
			}
			if (!isnan(v))
				out->total[b] = isnan(out->total[b]) ? v : out->total[b] + v;
		}
	}
	/* A bucket across hourly_until shows the higher of its two parts. */
	for (size_t b = 0; hourly && b < out->nbuckets; b++)
		if (!isnan(hourly[b]) && (isnan(out->total[b]) || hourly[b] > out->total[b]))
			out->total[b] = hourly[b];
	free(hourly);
	store_stmt_done(ts_stmt);
	store_stmt_done(sc_stmt);
	return 0;

out_fail:
	free(hourly);
	store_stmt_done(ts_stmt);
	store_stmt_done(sc_stmt);
	query_series_release(out);
	return -1;
}

void
query_instances_free(struct query_instance *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].service);
		free(v[i].target);
	}
	free(v);
}

int
query_location_instances(struct store *st, int64_t location_id, int64_t since,
                         struct query_instance **out, size_t *n)
{
	struct db_stmt *s;
	struct query_instance *v = NULL;
	size_t cap = 0;
	int64_t min_id;
	int rc;

	*out = NULL;
	*n = 0;
	if (first_scrape_id(st, since, &min_id) < 0)
		return -1;
	if (prepare(st,
	            "SELECT t.id, sv.name, t.url, sc.ts, sa.count, sa.leaked, sc.total_goroutines "
	            "FROM (SELECT DISTINCT "
	            "x.target_id AS tid FROM samples s2 JOIN scrapes x ON x.id = s2.scrape_id "
	            "WHERE s2.location_id = ?1 "
	            "AND s2.scrape_id >= ?3) recent JOIN targets t ON t.id = recent.tid JOIN "
	            "services sv ON sv.id = t.service_id "
	            "JOIN scrapes sc ON sc.id = (SELECT x.id FROM scrapes x WHERE x.target_id = "
	            "t.id AND x.status = 'ok' "
	            "AND x.detail = 0 ORDER BY x.ts DESC LIMIT 1) "
	            "JOIN samples sa ON sa.scrape_id = sc.id AND sa.location_id = ?1 "
	            "ORDER BY sa.count DESC, sv.name, t.url LIMIT ?2",
	            &s) < 0)
		return -1;
	db_bind_int64(s, 1, location_id);
	db_bind_int64(s, 2, QUERY_MAX_INSTANCES);
	db_bind_int64(s, 3, min_id);
	while ((rc = db_step(s)) == DB_ROW) {
		struct query_instance *q;

		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct query_instance *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv)
				goto out_fail;
			v = nv;
			cap = ncap;
		}
		q = &v[(*n)++];
		*q = (struct query_instance){
		    .target_id = db_column_int64(s, 0),
		    .service = col_dup(s, 1),
		    .target = col_dup(s, 2),
		    .ts = db_column_int64(s, 3),
		    .count = (uint64_t)db_column_int64(s, 4),
		    .leaked = (uint64_t)db_column_int64(s, 5),
		    .total_goroutines = db_column_is_null(s, 6) ? -1 : db_column_int64(s, 6),
		};
		if (!q->service || !q->target)
			goto out_fail;
	}
	if (rc != DB_DONE)
		goto out_fail;
	store_stmt_done(s);
	*out = v;
	return 0;

out_fail:
	store_stmt_done(s);
	query_instances_free(v, *n);
	*n = 0;
	return -1;
}

int
query_location_ages(struct store *st, int64_t location_id, int64_t since, int32_t *max_wait,
                    int32_t *median_wait)
{
	struct db_stmt *s;
	int64_t min_id;
	int rc;

	*max_wait = -1;
	*median_wait = -1;
	if (first_scrape_id(st, since, &min_id) < 0)
		return -1;
	/* The newest detail scrape that saw the location carries the freshest ages. */
	if (prepare(st,
	            "SELECT sa.max_wait, sa.median_wait FROM samples sa JOIN scrapes sc ON sc.id = "
	            "sa.scrape_id "
	            "WHERE sa.location_id = ?1 AND sa.scrape_id >= ?2 AND sc.detail = 1 ORDER BY "
	            "sa.scrape_id DESC LIMIT 1",
	            &s) < 0)
		return -1;
	db_bind_int64(s, 1, location_id);
	db_bind_int64(s, 2, min_id);
	rc = db_step(s);
	if (rc == DB_ROW) {
		if (!db_column_is_null(s, 0))
			*max_wait = db_column_int(s, 0);
		if (!db_column_is_null(s, 1))
			*median_wait = db_column_int(s, 1);
	}
	store_stmt_done(s);
	return rc == DB_ROW || rc == DB_DONE ? 0 : -1;
}

void
query_services_free(struct query_service *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].labels_json);
	}
	free(v);
}

#define SERVICES_COLUMNS                                                                           \
	"SELECT sv.id, sv.name, sv.labels, count(*),"                                              \
	" SUM(CASE WHEN t.last_status = 'ok' THEN 1 ELSE 0 END), MAX(t.last_scrape),"              \
	" SUM(t.last_goroutines) FROM services sv CROSS JOIN targets t"
/* sv.name and sv.labels beside the aggregates: they follow from sv.id, the primary key (which
 * PostgreSQL accepts as well) */
#define SERVICES_WHERE                                                                             \
	" WHERE t.service_id = sv.id AND t.active = 1 GROUP BY sv.id ORDER BY sv.name"
static const char services_sql[] =
    SERVICES_COLUMNS " INDEXED BY targets_service_active" SERVICES_WHERE;
static const char services_pg_sql[] = SERVICES_COLUMNS SERVICES_WHERE;

int
query_services(struct store *st, struct query_service **out, size_t *n)
{
	struct db_stmt *s;
	struct query_service *v = NULL;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	/* Services first (CROSS JOIN keeps that order), each with its active targets through
	 * targets_service_active: the targets ever seen and since retired are never read.
	 * PostgreSQL has no INDEXED BY: its planner picks that index for the join by itself. */
	if (prepare(st, db_kind(store_dbh(st)) == DB_POSTGRES ? services_pg_sql : services_sql,
	            &s) < 0)
		return -1;
	while ((rc = db_step(s)) == DB_ROW) {
		struct query_service *q;

		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct query_service *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv)
				goto out_fail;
			v = nv;
			cap = ncap;
		}
		q = &v[(*n)++];
		*q = (struct query_service){
		    .id = db_column_int64(s, 0),
		    .name = col_dup(s, 1),
		    .labels_json = col_dup(s, 2),
		    .targets = (uint32_t)db_column_int64(s, 3),
		    .targets_up = (uint32_t)db_column_int64(s, 4),
		    .last_scrape = db_column_int64(s, 5),
		    .goroutines = db_column_is_null(s, 6) ? -1 : db_column_int64(s, 6),
		};
		if (!q->name || !q->labels_json)
			goto out_fail;
	}
	if (rc != DB_DONE)
		goto out_fail;
	store_stmt_done(s);
	*out = v;
	return 0;

out_fail:
	store_stmt_done(s);
	query_services_free(v, *n);
	*n = 0;
	return -1;
}

/* The columns of store_target_health(), then a page's filters: ?1 active, ?2 after, ?3 limit,
 * ?4 service id, ?5 state (ifnull(last_status = 'ok', -1): 1 up, 0 down, -1 never scraped), ?6 a
 * prefix of the last status. Each statement's WHERE and ORDER BY match one of the targets_*
 * indexes (storage/store.c's migrations) exactly. */
#define TARGETS_COLUMNS                                                                            \
	"SELECT t.id, sv.name, t.url, t.active, t.last_scrape, t.last_success, "                   \
	"t.last_duration_ms, t.last_bytes, t.last_status, t.last_goroutines, "                     \
	"t.consecutive_failures FROM targets t JOIN services sv ON sv.id = t.service_id "
#define TARGETS_PREFIX                                                                             \
	" AND (CAST(?6 AS TEXT) IS NULL OR substr(t.last_status, 1, length(?6)) = ?6)"
#define TARGETS_ORDER " AND t.id > ?2 ORDER BY t.id LIMIT ?3"

static const char targets_all_sql[] = TARGETS_COLUMNS "WHERE t.active = ?1" TARGETS_ORDER;
static const char targets_service_sql[] =
    TARGETS_COLUMNS "WHERE t.service_id = ?4 AND t.active = ?1" TARGETS_ORDER;
/* The state as the indexes hold it: SQLite's expression, and PostgreSQL's CASE (a boolean is no
 * number there; storage/schema_pg.sql). */
#define TARGETS_STATE_LITE "ifnull(t.last_status = 'ok', -1)"
#define TARGETS_STATE_PG                                                                           \
	"(CASE WHEN t.last_status IS NULL THEN -1 WHEN t.last_status = 'ok' THEN 1 ELSE 0 END)"
#define TARGETS_STATE_SQL(state)                                                                   \
	TARGETS_COLUMNS "WHERE t.active = ?1 AND " state " = ?5" TARGETS_PREFIX TARGETS_ORDER
#define TARGETS_SERVICE_STATE_SQL(state)                                                           \
	TARGETS_COLUMNS "WHERE t.service_id = ?4 AND t.active = ?1 AND " state                     \
	                " = ?5" TARGETS_PREFIX TARGETS_ORDER
static const char targets_state_sql[] = TARGETS_STATE_SQL(TARGETS_STATE_LITE);
static const char targets_state_pg_sql[] = TARGETS_STATE_SQL(TARGETS_STATE_PG);
static const char targets_service_state_sql[] = TARGETS_SERVICE_STATE_SQL(TARGETS_STATE_LITE);
static const char targets_service_state_pg_sql[] = TARGETS_SERVICE_STATE_SQL(TARGETS_STATE_PG);

int
query_targets(struct store *st, const struct query_targets_filter *f, struct target_health **out,
              size_t *n, int64_t *next)
{
	const char *sql;
	struct db_stmt *s;
	struct target_health *v = NULL;
	size_t cap = 0, limit = f->limit < 1 ? 1 : f->limit;
	int64_t service_id = 0;
	int rc;

	*out = NULL;
	*n = 0;
	*next = 0;
	if (f->service) {
		rc = store_service_id(st, f->service, &service_id);
		if (rc != 0)
			return rc;
	}
	if (f->state == QUERY_TARGETS_ANY)
		sql = f->service ? targets_service_sql : targets_all_sql;
	else if (db_kind(store_dbh(st)) == DB_POSTGRES)
		sql = f->service ? targets_service_state_pg_sql : targets_state_pg_sql;
	else
		sql = f->service ? targets_service_state_sql : targets_state_sql;
	if (prepare(st, sql, &s) < 0)
		return -1;
	db_bind_int64(s, 1, f->inactive ? 0 : 1);
	db_bind_int64(s, 2, f->after);
	/* One more than asked: whether a next page exists, without a page that turns out empty. */
	db_bind_int64(s, 3, (int64_t)limit + 1);
	if (f->service)
		db_bind_int64(s, 4, service_id);
	db_bind_int64(s, 5,
	              f->state == QUERY_TARGETS_UP     ? 1
	              : f->state == QUERY_TARGETS_DOWN ? 0
	                                               : -1);
	if (f->state == QUERY_TARGETS_DOWN && f->status_prefix)
		db_bind_text(s, 6, f->status_prefix);
	while ((rc = db_step(s)) == DB_ROW) {
		struct target_health *e;

		if (*n == limit) {
			*next = v[*n - 1].target_id;
			rc = DB_DONE;
			break;
		}
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct target_health *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv)
				goto out_fail;
			v = nv;
			cap = ncap;
		}
		e = &v[(*n)++];
		*e = (struct target_health){
		    .target_id = db_column_int64(s, 0),
		    .service = col_dup(s, 1),
		    .url = col_dup(s, 2),
		    .active = db_column_int(s, 3) != 0,
		    .last_scrape = db_column_int64(s, 4),
		    .last_success = db_column_int64(s, 5),
		    .last_duration_ms = (uint32_t)db_column_int64(s, 6),
		    .last_bytes = (uint64_t)db_column_int64(s, 7),
		    .last_status = col_dup_null(s, 8),
		    .last_goroutines = db_column_is_null(s, 9) ? -1 : db_column_int64(s, 9),
		    .consecutive_failures = (uint32_t)db_column_int64(s, 10),
		};
		if (!e->service || !e->url || (!e->last_status && !db_column_is_null(s, 8)))
			goto out_fail;
	}
	if (rc != DB_DONE)
		goto out_fail;
	store_stmt_done(s);
	*out = v;
	return 0;

out_fail:
	store_stmt_done(s);
	target_health_free(v, *n);
	*n = 0;
	*next = 0;
	return -1;
}

int
query_scrape_counts(struct store *st, int64_t after_id, int64_t *max_id,
                    void (*cb)(const char *service, bool ok, uint64_t count,
                               uint64_t duration_ms_sum, void *arg),
                    void *arg)
{
	struct db_stmt *s;
	int rc;

	/* CROSS JOIN keeps scrapes as the outer loop, walked by id from after_id: the planner would
	 * otherwise scan every scrape through the (target_id, ts) index. */
	if (prepare(st,
	            "SELECT sv.name, sc.status = 'ok', COUNT(*), COALESCE(SUM(sc.duration_ms), 0), "
	            "MAX(sc.id) "
	            "FROM scrapes sc "
	            "CROSS JOIN targets t ON t.id = sc.target_id CROSS JOIN services sv ON sv.id = "
	            "t.service_id "
	            "WHERE sc.id > ?1 GROUP BY sv.name, sc.status = 'ok'",
	            &s) < 0)
		return -1;
	db_bind_int64(s, 1, after_id);
	while ((rc = db_step(s)) == DB_ROW) {
		int64_t id = db_column_int64(s, 4);

		cb(db_column_text(s, 0), db_column_int(s, 1) != 0, (uint64_t)db_column_int64(s, 2),
		   (uint64_t)db_column_double(s, 3), arg);
		if (id > *max_id)
			*max_id = id;
	}
	store_stmt_done(s);
	return rc == DB_DONE ? 0 : -1;
}

int
query_alerts(struct store *st, int64_t now, int64_t resolved_within, struct query_alert **out,
             size_t *n)
{
	struct db_stmt *s;
	struct query_alert *v = NULL;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (prepare(st,
	            "SELECT a.service_id, a.location_id, a.state, CASE a.state WHEN 'pending' THEN "
	            "a.pending_since WHEN 'firing' THEN a.firing_since ELSE a.resolved_at END, "
	            "a.last_notified, sv.name FROM alerts a LEFT JOIN services sv ON sv.id = "
	            "a.service_id "
	            "WHERE a.state <> 'resolved' OR a.resolved_at >= ?1",
	            &s) < 0)
		return -1;
	db_bind_int64(s, 1, now - resolved_within);
	while ((rc = db_step(s)) == DB_ROW) {
		const char *state = db_column_text(s, 2);
		struct query_alert *q;

		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct query_alert *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv)
				goto out_fail;
			v = nv;
			cap = ncap;
		}
		q = &v[(*n)++];
		*q = (struct query_alert){
		    .service_id = db_column_int64(s, 0),
		    .location_id = db_column_int64(s, 1),
		    .since = db_column_int64(s, 3),
		    .last_notified = db_column_int64(s, 4),
		    .service = store_column_strdup(s, 5, false),
		};
		snprintf(q->state, sizeof(q->state), "%s", state ? state : "");
	}
	if (rc != DB_DONE)
		goto out_fail;
	store_stmt_done(s);
	*out = v;
	return 0;

out_fail:
	store_stmt_done(s);
	query_alerts_free(v, *n);
	*n = 0;
	return -1;
}

void
query_alerts_free(struct query_alert *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].service);
	free(v);
}

void
query_outbox_free(struct query_outbox *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].event_id);
		free(v[i].webhook);
		free(v[i].status);
		free(v[i].service);
		free(v[i].function);
		free(v[i].state);
		free(v[i].last_error);
	}
	free(v);
}

int
query_outbox(struct store *st, size_t limit, struct query_outbox **out, size_t *n)
{
	struct db_stmt *s;
	struct query_outbox *v = NULL;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (prepare(
	        st,
	        "SELECT * FROM (SELECT o.id, o.event_id, o.webhook, o.status, sv.name, "
	        "l.function, o.state, o.created, "
	        "o.attempts, o.next_attempt, o.last_error FROM outbox o LEFT JOIN services sv "
	        "ON sv.id = o.service_id "
	        "LEFT JOIN locations l ON l.id = o.location_id WHERE o.state = 'pending' ORDER "
	        "BY o.id LIMIT ?1) AS pending "
	        "UNION ALL SELECT * FROM (SELECT o.id, o.event_id, o.webhook, o.status, "
	        "sv.name, l.function, o.state, "
	        "o.created, o.attempts, o.next_attempt, o.last_error FROM outbox o "
	        "LEFT JOIN services sv ON sv.id = o.service_id LEFT JOIN locations l ON l.id = "
	        "o.location_id "
	        "WHERE o.state IN ('dropped', 'failed') ORDER BY o.id DESC LIMIT ?1) AS given_up",
	        &s) < 0)
		return -1;
	db_bind_int64(s, 1, (int64_t)limit);
	while ((rc = db_step(s)) == DB_ROW) {
		struct query_outbox *q;

		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct query_outbox *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv)
				goto out_fail;
			v = nv;
			cap = ncap;
		}
		q = &v[(*n)++];
		*q = (struct query_outbox){
		    .id = db_column_int64(s, 0),
		    .event_id = col_dup(s, 1),
		    .webhook = col_dup(s, 2),
		    .status = col_dup(s, 3),
		    .service = col_dup(s, 4),
		    .function = col_dup(s, 5),
		    .state = col_dup(s, 6),
		    .created = db_column_int64(s, 7),
		    .attempts = (uint32_t)db_column_int64(s, 8),
		    .next_attempt = db_column_int64(s, 9),
		    .last_error = col_dup_null(s, 10),
		};
		if (!q->event_id || !q->webhook || !q->status || !q->service || !q->function ||
		    !q->state)
			goto out_fail;
	}
	if (rc != DB_DONE)
		goto out_fail;
	store_stmt_done(s);
	*out = v;
	return 0;

out_fail:
	store_stmt_done(s);
	query_outbox_free(v, *n);
	*n = 0;
	return -1;
}

int
query_service_id(struct store *st, const char *name, int64_t *id)
{
	return store_service_id(st, name, id);
}

int
query_last_scrape_id(struct store *st, int64_t *id)
{
	struct db_stmt *s;
	int rc;

	if (prepare(st, "SELECT COALESCE(MAX(id), 0) FROM scrapes", &s) < 0)
		return -1;
	rc = db_step(s);
	if (rc == DB_ROW)
		*id = db_column_int64(s, 0);
	store_stmt_done(s);
	return rc == DB_ROW ? 0 : -1;
}

int
query_latest_ranking_id(struct store *st, int64_t *id)
{
	struct db_stmt *s;
	int rc;

	if (prepare(st, "SELECT COALESCE(MAX(id), 0) FROM rankings", &s) < 0)
		return -1;
	rc = db_step(s);
	if (rc == DB_ROW)
		*id = db_column_int64(s, 0);
	store_stmt_done(s);
	return rc == DB_ROW ? 0 : -1;
}

int
query_reader_setup(struct store *st, int (*interrupt)(void *arg), void *arg)
{
	/* Reads through a shared memory map skip a read(2) and a copy per page: the web's
	 * connections all scan the same hot index pages (SQLite's: a PostgreSQL server caches
	 * pages for every connection itself). */
	if (db_kind(store_dbh(st)) == DB_SQLITE &&
	    db_exec(store_dbh(st), "PRAGMA mmap_size = 268435456") < 0)
		return -1;
	query_set_interrupt(st, interrupt, arg);
	return 0;
}

void
query_set_interrupt(struct store *st, int (*interrupt)(void *arg), void *arg)
{
	db_set_interrupt(store_dbh(st), interrupt, arg);
}

bool
query_interrupted(struct store *st)
{
	/* a failed step's kind stays the connection's through a reset until the next statement
	 * runs */
	return db_failure(store_dbh(st)) == DB_FAIL_INTERRUPT;
}

/* ---- Call sites ---- */

/* Distinct stacks a call-site answer reads at most (it keeps QUERY_CALL_SITES_MAX of them). */
#define CALL_SITES_SEEN_MAX 256

/* One distinct stack being read: its value per bucket. */
struct cs_acc {
	int64_t stack_id;
	uint64_t *v;
	uint64_t first, last, peak;
};

/* One (stack, count) of the scrape an instance's bucket value comes from. */
struct cs_pending {
	int64_t stack_id;
	uint64_t count;
};

struct cs_read {
	struct cs_acc *acc;
	size_t nacc;
	size_t nb;
	bool *has; /* nb: some instance had the location in the bucket */
	struct cs_pending *pend;
	size_t npend, cappend;
};

static int
cmp_cs_acc(const void *x, const void *y)
{
	const struct cs_acc *a = x, *b = y;

	if (a->last != b->last)
		return a->last > b->last ? -1 : 1;
	if (a->peak != b->peak)
		return a->peak > b->peak ? -1 : 1;
	return (a->stack_id > b->stack_id) - (a->stack_id < b->stack_id);
}

/* Add the pending scrape's counts to bucket 'b'. 0, or -1 on ENOMEM. */
static int
cs_flush(struct cs_read *r, size_t b)
{
	r->has[b] = true;
	for (size_t i = 0; i < r->npend; i++) {
		struct cs_acc *a = NULL;

		for (size_t k = 0; k < r->nacc && a == NULL; k++)
			if (r->acc[k].stack_id == r->pend[i].stack_id)
				a = &r->acc[k];
		if (a == NULL) {
			if (r->nacc == CALL_SITES_SEEN_MAX)
				continue;
			a = &r->acc[r->nacc];
			*a = (struct cs_acc){.stack_id = r->pend[i].stack_id,
			                     .v = calloc(r->nb, sizeof(*a->v))};
			if (a->v == NULL)
				return -1;
			r->nacc++;
		}
		a->v[b] += r->pend[i].count;
	}
	r->npend = 0;
	return 0;
}

/* Read the rows of the window into per-stack buckets. 0, or -1. */
static int
cs_read_rows(struct store *st, struct cs_read *r, int64_t location_id, int64_t service_id,
             int64_t from, int64_t to, int64_t step)
{
	struct db_stmt *s;
	int64_t min_id, cur_tgt = 0, cur_scrape = 0;
	size_t cur_b = SIZE_MAX;
	int rc;

	if (first_scrape_id(st, from, &min_id) < 0)
		return -1;
	if (prepare(st,
	            "SELECT x.target_id, x.ts, x.id, ss.stack_id, ss.count FROM sample_stacks ss"
	            " JOIN scrapes x ON x.id = ss.scrape_id JOIN targets t ON t.id = x.target_id"
	            " WHERE ss.location_id = ?1 AND ss.scrape_id >= ?2 AND x.ts >= ?3"
	            " AND x.ts < ?4 AND t.service_id = ?5"
	            " UNION ALL SELECT x.target_id, x.ts, x.id, l.stack_id, s.count FROM samples s"
	            " JOIN scrapes x ON x.id = s.scrape_id JOIN targets t ON t.id = x.target_id"
	            " JOIN locations l ON l.id = s.location_id"
	            " WHERE s.location_id = ?1 AND s.scrape_id >= ?2 AND x.ts >= ?3 AND x.ts < ?4"
	            " AND t.service_id = ?5 AND x.detail = 0 AND s.count > 0"
	            " AND l.stack_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sample_stacks y"
	            " WHERE y.scrape_id = s.scrape_id AND y.location_id = ?1)"
	            " ORDER BY 1, 2, 3",
	            &s) < 0)
		return -1;
	db_bind_int64(s, 1, location_id);
	db_bind_int64(s, 2, min_id);
	db_bind_int64(s, 3, from);
	db_bind_int64(s, 4, to);
	db_bind_int64(s, 5, service_id);
	while ((rc = db_step(s)) == DB_ROW) {
		int64_t tgt = db_column_int64(s, 0), ts = db_column_int64(s, 1);
		int64_t scrape = db_column_int64(s, 2);
		size_t b = (size_t)((ts - from) / step);

		if (ts < from || b >= r->nb)
			continue;
		if (tgt != cur_tgt || b != cur_b) {
			if (cur_b != SIZE_MAX && cs_flush(r, cur_b) < 0)
				goto out_nomem;
			cur_tgt = tgt;
			cur_b = b;
			cur_scrape = scrape;
		} else if (scrape != cur_scrape) {
			r->npend = 0; /* a later scrape of the instance in the bucket */
			cur_scrape = scrape;
		}
		if (r->npend == r->cappend) {
			size_t ncap = r->cappend ? r->cappend * 2 : 16;
			struct cs_pending *np = realloc(r->pend, ncap * sizeof(*np));

			if (np == NULL)
				goto out_nomem;
			r->pend = np;
			r->cappend = ncap;
		}
		r->pend[r->npend++] = (struct cs_pending){.stack_id = db_column_int64(s, 3),
		                                          .count = (uint64_t)db_column_int64(s, 4)};
	}
	store_stmt_done(s);
	if (rc != DB_DONE)
		return -1;
	if (cur_b != SIZE_MAX && cs_flush(r, cur_b) < 0) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
out_nomem:
	store_stmt_done(s);
	errno = ENOMEM;
	return -1;
}

/* Fill 'k' from 'a': its frames and its points. 1 when the stack is gone, 0, or -1. */
static int
cs_fill(struct store *st, const struct cs_read *r, const struct cs_acc *a, int64_t from,
        int64_t step, struct query_call_site *k)
{
	struct db_stmt *s;
	size_t n = 0;
	int rc;

	if (prepare(st, "SELECT frames FROM stacks WHERE id = ?1", &s) < 0)
		return -1;
	db_bind_int64(s, 1, a->stack_id);
	rc = db_step(s);
	*k = (struct query_call_site){.stack_id = a->stack_id, .first = a->first, .last = a->last};
	if (rc == DB_ROW)
		k->frames_json = col_dup(s, 0);
	store_stmt_done(s);
	if (rc == DB_DONE)
		return 1; /* deleted since: a reader skips a stack it cannot find */
	if (rc != DB_ROW || k->frames_json == NULL)
		return -1;
	for (size_t b = 0; b < r->nb; b++)
		n += r->has[b];
	k->ts = calloc(n ? n : 1, sizeof(*k->ts));
	k->count = calloc(n ? n : 1, sizeof(*k->count));
	if (k->ts == NULL || k->count == NULL)
		return -1;
	for (size_t b = 0; b < r->nb; b++) {
		if (!r->has[b])
			continue;
		k->ts[k->npoints] = from + (int64_t)b * step;
		k->count[k->npoints++] = a->v[b];
	}
	return 0;
}

int
query_location_call_sites(struct store *st, int64_t location_id, int64_t service_id, int64_t from,
                          int64_t to, int64_t step, int64_t keep_stack_id,
                          struct query_call_sites *out)
{
	struct cs_read r = {0};
	size_t fb = SIZE_MAX, lb = 0, nkeep;
	int ret = -1;

	*out = (struct query_call_sites){0};
	if (to <= from)
		return 0;
	if (step < (to - from + QUERY_CALL_SITES_POINTS - 1) / QUERY_CALL_SITES_POINTS)
		step = (to - from + QUERY_CALL_SITES_POINTS - 1) / QUERY_CALL_SITES_POINTS;
	r.nb = (size_t)((to - from + step - 1) / step);
	r.has = calloc(r.nb, sizeof(*r.has));
	r.acc = calloc(CALL_SITES_SEEN_MAX, sizeof(*r.acc));
	if (r.has == NULL || r.acc == NULL)
		goto out_free;
	if (cs_read_rows(st, &r, location_id, service_id, from, to, step) < 0)
		goto out_free;
	for (size_t b = 0; b < r.nb; b++) {
		if (!r.has[b])
			continue;
		if (fb == SIZE_MAX)
			fb = b;
		lb = b;
	}
	for (size_t i = 0; i < r.nacc; i++) {
		struct cs_acc *a = &r.acc[i];

		a->first = a->v[fb];
		a->last = a->v[lb];
		for (size_t b = fb; b <= lb; b++)
			if (a->v[b] > a->peak)
				a->peak = a->v[b];
	}
	if (r.nacc > 1)
		qsort(r.acc, r.nacc, sizeof(*r.acc), cmp_cs_acc);
	nkeep = r.nacc < QUERY_CALL_SITES_MAX ? r.nacc : QUERY_CALL_SITES_MAX;
	/* The stack the ranking named stays, in the last place kept when it is not among them. */
	for (size_t i = nkeep; keep_stack_id != 0 && i < r.nacc; i++) {
		if (r.acc[i].stack_id == keep_stack_id) {
			struct cs_acc t = r.acc[nkeep - 1];

			r.acc[nkeep - 1] = r.acc[i];
			r.acc[i] = t;
			break;
		}
	}
	out->nstacks = r.nacc;
	out->v = calloc(nkeep ? nkeep : 1, sizeof(*out->v));
	if (out->v == NULL)
		goto out_free;
	for (size_t i = 0; i < nkeep; i++) {
		int rc = cs_fill(st, &r, &r.acc[i], from, step, &out->v[out->n]);

		if (rc < 0) {
			out->n++; /* released with the rest */
			goto out_free;
		}
		if (rc == 0)
			out->n++;
	}
	ret = 0;
out_free:
	for (size_t i = 0; i < r.nacc; i++)
		free(r.acc[i].v);
	free(r.acc);
	free(r.has);
	free(r.pend);
	if (ret < 0)
		query_call_sites_release(out);
	return ret;
}

void
query_call_sites_release(struct query_call_sites *cs)
{
	for (size_t i = 0; cs->v != NULL && i < cs->n; i++) {
		free(cs->v[i].frames_json);
		free(cs->v[i].ts);
		free(cs->v[i].count);
	}
	free(cs->v);
	*cs = (struct query_call_sites){0};
}
