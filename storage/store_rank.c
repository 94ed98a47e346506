/* storage/store_rank.c: the detector's side of the store. See store.h.
 *
 * The detector reads a window of count scrapes and per-location samples (store_each_scrape(),
 * store_each_sample(), store_location_get()) and writes back its ranking (store_ranking_save()),
 * which the web, the alerts and `leakprofd suspects` read (store_ranking_load()). The walks go one
 * service at a time in a join order fixed by CROSS JOIN, so that a sort holds one service's window
 * and no row outside the window is read (tests/check_store.c fails on a full scan or an automatic
 * index). Long windows also read the hourly rollups (store_each_rollup()), one service at a time
 * through their primary keys. Saving a ranking keeps the last STORE_RANKINGS_KEEP. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "storage/store.h"
#include "storage/store_internal.h"

/* ---- Detector queries ---- */

/* Every service name, sorted. Caller frees each and the array. 0, or -1 (logged). */
static int
service_names(struct store *st, char ***out, size_t *n)
{
	struct db_stmt *stmt = store_prepare(st, "SELECT name FROM services ORDER BY name");
	char **names = NULL;
	size_t cap = 0, count = 0, i;
	int rc;

	*out = NULL;
	*n = 0;
	if (stmt == NULL)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		if (count == cap) {
			char **grown;

			cap = cap ? cap * 2 : 16;
			grown = realloc(names, cap * sizeof(*grown));
			if (grown == NULL) {
				log_err("store: out of memory");
				abort();
			}
			names = grown;
		}
		names[count++] = store_column_strdup(stmt, 0, true);
	}
	if (rc != DB_DONE) {
		store_log_db(st, "listing services");
		store_stmt_done(stmt);
		for (i = 0; i < count; i++)
			free(names[i]);
		free(names);
		return -1;
	}
	store_stmt_done(stmt);
	*out = names;
	*n = count;
	return 0;
}

static int
each_scrape_service(struct store *st, const char *service, int64_t since,
                    int (*cb)(const struct store_scrape *s, void *arg), void *arg)
{
	/* CROSS JOIN fixes the join order: from the service's targets (in URL order, by their
	 * unique index) into the (target_id, ts) index, so that rows come out in the wanted order
	 * without a sort and no scrape outside the window is read. */
	static const char sql[] =
	    "SELECT s.id, s.target_id, t.service_id, sv.name, t.url, s.ts, s.total_goroutines, "
	    "s.kind, s.restart IS NOT NULL, t.active"
	    " FROM services sv CROSS JOIN targets t CROSS JOIN scrapes s"
	    " WHERE sv.name = ?1 AND t.service_id = sv.id AND s.target_id = t.id AND s.ts >= ?2"
	    " AND s.status = 'ok' AND s.detail = 0 AND " STORE_SQL_SHARD(
	        "?3") " ORDER BY t.url, s.ts";
	struct db_stmt *stmt = store_prepare(st, sql);
	int rc, ret = 0;

	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, service);
	db_bind_int64(stmt, 2, since);
	db_bind_int64(stmt, 3, store_walk_shard(st));
	while ((rc = db_step(stmt)) == DB_ROW) {
		const char *kind = db_column_text(stmt, 7);
		struct store_scrape s = {
		    .scrape_id = db_column_int64(stmt, 0),
		    .target_id = db_column_int64(stmt, 1),
		    .service_id = db_column_int64(stmt, 2),
		    .service = db_column_text(stmt, 3),
		    .target = db_column_text(stmt, 4),
		    .ts = db_column_int64(stmt, 5),
		    .total_goroutines = (uint64_t)db_column_int64(stmt, 6),
		    .goroutineleak = kind != NULL && strcmp(kind, "goroutineleak") == 0,
		    .restart = db_column_int(stmt, 8) != 0,
		    .target_active = db_column_int(stmt, 9) != 0,
		};

		ret = cb(&s, arg);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != DB_DONE) {
		store_log_db(st, "reading scrapes");
		ret = -1;
	}
	store_stmt_done(stmt);
	return ret;
}

static int
each_sample_service(struct store *st, const char *service, int64_t since,
                    int (*cb)(const struct store_sample *s, void *arg), void *arg)
{
	/* Rows are found through the scrapes in the window (services -> targets ->
	 * scrapes(target_id, ts) -> samples' primary key), then sorted by location: reading samples
	 * by location instead would walk every stored sample of the location, in and out of the
	 * window and of other services. */
	static const char sql[] =
	    "SELECT x.scrape_id, s.target_id, t.service_id, x.location_id, s.ts, s.detail, "
	    "x.count, x.leaked,"
	    " x.max_wait, x.median_wait"
	    " FROM services sv CROSS JOIN targets t CROSS JOIN scrapes s CROSS JOIN samples x"
	    " WHERE sv.name = ?1 AND t.service_id = sv.id AND s.target_id = t.id AND s.ts >= ?2"
	    " AND s.status = 'ok' AND x.scrape_id = s.id AND " STORE_SQL_SHARD(
	        "?3") " ORDER BY x.location_id, t.url, s.ts, s.id";
	struct db_stmt *stmt = store_prepare(st, sql);
	int rc, ret = 0;

	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, service);
	db_bind_int64(stmt, 2, since);
	db_bind_int64(stmt, 3, store_walk_shard(st));
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct store_sample s = {
		    .scrape_id = db_column_int64(stmt, 0),
		    .target_id = db_column_int64(stmt, 1),
		    .service_id = db_column_int64(stmt, 2),
		    .location_id = db_column_int64(stmt, 3),
		    .ts = db_column_int64(stmt, 4),
		    .detail = db_column_int(stmt, 5) != 0,
		    .count = (uint64_t)db_column_int64(stmt, 6),
		    .leaked = (uint64_t)db_column_int64(stmt, 7),
		    .max_wait = db_column_is_null(stmt, 8) ? -1 : db_column_int(stmt, 8),
		    .median_wait = db_column_is_null(stmt, 9) ? -1 : db_column_int(stmt, 9),
		};

		ret = cb(&s, arg);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != DB_DONE) {
		store_log_db(st, "reading samples");
		ret = -1;
	}
	store_stmt_done(stmt);
	return ret;
}

/* A walk over one service's window, for each_service(). */
struct walk {
	int64_t since;
	int (*scrape_cb)(const struct store_scrape *s, void *arg);
	int (*sample_cb)(const struct store_sample *s, void *arg);
	void *arg;
};

static int
walk_service(struct store *st, const char *service, const struct walk *w)
{
	if (w->scrape_cb != NULL)
		return each_scrape_service(st, service, w->since, w->scrape_cb, w->arg);
	return each_sample_service(st, service, w->since, w->sample_cb, w->arg);
}

/* All services are walked one at a time, in name order: the same order as one query sorting
 * everything, but each sort holds one service's window instead of the whole fleet's. */
static int
each_service(struct store *st, const char *service, const struct walk *w)
{
	char **names;
	size_t n, i;
	int ret = 0;

	if (service != NULL)
		return walk_service(st, service, w);
	if (service_names(st, &names, &n) < 0)
		return -1;
	for (i = 0; i < n && ret == 0; i++)
		ret = walk_service(st, names[i], w);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

int
store_each_scrape(struct store *st, const char *service, int64_t since,
                  int (*cb)(const struct store_scrape *s, void *arg), void *arg)
{
	const struct walk w = {.since = since, .scrape_cb = cb, .arg = arg};

	return each_service(st, service, &w);
}

int
store_each_sample(struct store *st, const char *service, int64_t since,
                  int (*cb)(const struct store_sample *s, void *arg), void *arg)
{
	const struct walk w = {.since = since, .sample_cb = cb, .arg = arg};

	return each_service(st, service, &w);
}

/* A service with an instance in the configuration or target files: the history of a service
 * nobody scrapes any more is not a suspect, as detect.c counts live instances only. */
#define SERVICE_ACTIVE                                                                             \
	"EXISTS (SELECT 1 FROM targets t WHERE t.service_id = sv.id AND t.active = 1)"

/* One service's rollup hours, then its rollup rows, in [since, until), when it is active. */
static int
each_rollup_service(struct store *st, const char *service, int64_t since, int64_t until,
                    int (*hour_cb)(const struct store_rollup_hour *h, void *arg),
                    int (*row_cb)(const struct store_rollup *r, void *arg), void *arg)
{
	/* Both through the primary keys: (service_id, hour) for the hours; (service_id,
	 * location_id, hour) for the rows, which come out in the wanted order without a sort. */
	static const char hours_sql[] =
	    "SELECT sv.id, sv.name, h.hour, h.instances, h.scrapes, h.step_ms"
	    " FROM services sv CROSS JOIN rollup_hours h"
	    " WHERE sv.name = ?1 AND h.service_id = sv.id AND h.hour >= ?2 AND h.hour < ?3"
	    " AND " SERVICE_ACTIVE " ORDER BY h.hour";
	static const char rows_sql[] =
	    "SELECT r.service_id, r.location_id, r.hour, r.max_count, r.mean_count, r.instances,"
	    " r.scrapes, r.rise FROM services sv CROSS JOIN rollups r"
	    " WHERE sv.name = ?1 AND r.service_id = sv.id AND r.hour >= ?2 AND r.hour < ?3"
	    " AND " SERVICE_ACTIVE " ORDER BY r.location_id, r.hour";
	struct db_stmt *stmt = store_prepare(st, hours_sql);
	int rc, ret = 0;

	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, service);
	db_bind_int64(stmt, 2, since);
	db_bind_int64(stmt, 3, until);
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct store_rollup_hour h = {
		    .service_id = db_column_int64(stmt, 0),
		    .service = db_column_text(stmt, 1),
		    .hour = db_column_int64(stmt, 2),
		    .instances = (uint32_t)db_column_int64(stmt, 3),
		    .scrapes = (uint64_t)db_column_int64(stmt, 4),
		    .step_ms = db_column_int64(stmt, 5),
		};

		ret = hour_cb(&h, arg);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != DB_DONE) {
		store_log_db(st, "reading rollup hours");
		ret = -1;
	}
	store_stmt_done(stmt);
	if (ret != 0)
		return ret;

	stmt = store_prepare(st, rows_sql);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, service);
	db_bind_int64(stmt, 2, since);
	db_bind_int64(stmt, 3, until);
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct store_rollup r = {
		    .service_id = db_column_int64(stmt, 0),
		    .location_id = db_column_int64(stmt, 1),
		    .hour = db_column_int64(stmt, 2),
		    .max_count = (uint64_t)db_column_int64(stmt, 3),
		    .mean_count = db_column_double(stmt, 4),
		    .instances = (uint32_t)db_column_int64(stmt, 5),
		    .scrapes = (uint64_t)db_column_int64(stmt, 6),
		    .rise = db_column_double(stmt, 7),
		};

		ret = row_cb(&r, arg);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != DB_DONE) {
		store_log_db(st, "reading rollups");
		ret = -1;
	}
	store_stmt_done(stmt);
	return ret;
}

int
store_each_rollup(struct store *st, const char *service, int64_t since, int64_t until,
                  int (*hour_cb)(const struct store_rollup_hour *h, void *arg),
                  int (*row_cb)(const struct store_rollup *r, void *arg), void *arg)
{
	char **names;
	size_t n, i;
	int ret = 0;

	if (service != NULL)
		return each_rollup_service(st, service, since, until, hour_cb, row_cb, arg);
	if (service_names(st, &names, &n) < 0)
		return -1;
	for (i = 0; i < n && ret == 0; i++)
		ret = each_rollup_service(st, names[i], since, until, hour_cb, row_cb, arg);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

int
store_last_attempt(struct store *st, int64_t *ts)
{
	struct db_stmt *stmt = store_prepare(st, "SELECT max(ts) FROM scrapes");
	int rc;

	*ts = 0;
	if (stmt == NULL)
		return -1;
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*ts = db_column_int64(stmt, 0);
	store_stmt_done(stmt);
	if (rc != DB_ROW) {
		store_log_db(st, "reading the newest scrape");
		return -1;
	}
	return 0;
}

int
store_location_get(struct store *st, int64_t id, struct store_location *out)
{
	struct db_stmt *stmt = store_prepare(
	    st, "SELECT l.function, l.file, l.line, l.op, coalesce(k.frames, '[]'), l.first_seen, "
	        "l.last_seen"
	        " FROM locations l LEFT JOIN stacks k ON k.id = l.stack_id WHERE l.id = ?1");
	int rc;

	memset(out, 0, sizeof(*out));
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, id);
	rc = db_step(stmt);
	if (rc == DB_DONE) {
		store_stmt_done(stmt);
		return 1;
	}
	if (rc != DB_ROW) {
		store_log_db(st, "reading a location");
		store_stmt_done(stmt);
		return -1;
	}
	out->id = id;
	out->function = store_column_strdup(stmt, 0, true);
	out->file = store_column_strdup(stmt, 1, true);
	out->line = (uint32_t)db_column_int64(stmt, 2);
	out->op = store_column_strdup(stmt, 3, true);
	out->stack_json = store_column_strdup(stmt, 4, true);
	out->first_seen = db_column_int64(stmt, 5);
	out->last_seen = db_column_int64(stmt, 6);
	store_stmt_done(stmt);
	return 0;
}

void
store_location_release(struct store_location *loc)
{
	if (loc == NULL)
		return;
	free(loc->function);
	free(loc->file);
	free(loc->op);
	free(loc->stack_json);
	memset(loc, 0, sizeof(*loc));
}

/* ---- Call sites ---- */

int
store_each_stack_sample(struct store *st, int64_t location_id, int64_t min_scrape_id,
                        int (*cb)(const struct store_stack_sample *s, void *arg), void *arg)
{
	/* A sample without call sites had all its goroutines under the location's representative
	 * stack (the ingest stores none then). */
	struct db_stmt *stmt = store_prepare(
	    st, "SELECT scrape_id, stack_id, count FROM sample_stacks"
	        " WHERE location_id = ?1 AND scrape_id >= ?2"
	        " UNION ALL SELECT x.scrape_id, l.stack_id, x.count FROM samples x"
	        " JOIN locations l ON l.id = x.location_id"
	        " WHERE x.location_id = ?1 AND x.scrape_id >= ?2 AND x.count > 0"
	        " AND l.stack_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sample_stacks y"
	        " WHERE y.scrape_id = x.scrape_id AND y.location_id = ?1)"
	        " ORDER BY 1");
	int rc, ret = 0;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, location_id);
	db_bind_int64(stmt, 2, min_scrape_id);
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct store_stack_sample s = {
		    .scrape_id = db_column_int64(stmt, 0),
		    .stack_id = db_column_int64(stmt, 1),
		    .count = (uint64_t)db_column_int64(stmt, 2),
		};

		ret = cb(&s, arg);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != DB_DONE) {
		store_log_db(st, "reading a location's call sites");
		ret = -1;
	}
	store_stmt_done(stmt);
	return ret;
}

int
store_has_stack_samples(struct store *st, int64_t location_id, int64_t min_scrape_id)
{
	struct db_stmt *stmt =
	    store_prepare(st, "SELECT 1 FROM sample_stacks WHERE location_id = ?1"
	                      " AND scrape_id >= ?2 LIMIT 1");
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, location_id);
	db_bind_int64(stmt, 2, min_scrape_id);
	rc = db_step(stmt);
	store_stmt_done(stmt);
	if (rc != DB_ROW && rc != DB_DONE) {
		store_log_db(st, "reading a location's call sites");
		return -1;
	}
	return rc == DB_ROW ? 1 : 0;
}

/* One stack of a location in the rollups. */
struct rollup_stack {
	int64_t stack_id;
	double rise;
};

int
store_each_rollup_stack(struct store *st, int64_t service_id, int64_t location_id, int64_t since,
                        int64_t until, int (*cb)(int64_t stack_id, double rise, void *arg),
                        void *arg)
{
	struct rollup_stack *v = NULL;
	size_t n = 0, cap = 0;
	double total = 0, stacked = 0;
	int64_t rep = 0;
	struct db_stmt *stmt;
	int rc, ret = -1;

	stmt = store_prepare(
	    st, "SELECT stack_id, sum(rise) FROM rollup_stacks WHERE service_id = ?1"
	        " AND location_id = ?2 AND hour >= ?3 AND hour < ?4 GROUP BY stack_id");
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, service_id);
	db_bind_int64(stmt, 2, location_id);
	db_bind_int64(stmt, 3, since);
	db_bind_int64(stmt, 4, until);
	while ((rc = db_step(stmt)) == DB_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n] = (struct rollup_stack){.stack_id = db_column_int64(stmt, 0),
		                             .rise = db_column_double(stmt, 1)};
		stacked += v[n++].rise;
	}
	store_stmt_done(stmt);
	if (rc != DB_DONE) {
		store_log_db(st, "reading a location's call sites in the rollups");
		goto out_free;
	}
	stmt =
	    store_prepare(st, "SELECT coalesce((SELECT sum(rise) FROM rollups WHERE service_id = ?1"
	                      " AND location_id = ?2 AND hour >= ?3 AND hour < ?4), 0),"
	                      " coalesce((SELECT stack_id FROM locations WHERE id = ?2), 0)");
	if (stmt == NULL)
		goto out_free;
	db_bind_int64(stmt, 1, service_id);
	db_bind_int64(stmt, 2, location_id);
	db_bind_int64(stmt, 3, since);
	db_bind_int64(stmt, 4, until);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		total = db_column_double(stmt, 0);
		rep = db_column_int64(stmt, 1);
	}
	store_stmt_done(stmt);
	if (rc != DB_ROW) {
		store_log_db(st, "reading a location's rollups");
		goto out_free;
	}
	if (rep != 0 && (total != stacked || n == 0)) {
		size_t i;

		for (i = 0; i < n && v[i].stack_id != rep; i++)
			;
		if (i == n) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n++] = (struct rollup_stack){.stack_id = rep};
		}
		v[i].rise += total - stacked;
	}
	ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++)
		ret = cb(v[i].stack_id, v[i].rise, arg);
out_free:
	free(v);
	return ret;
}

int
store_stack_json(struct store *st, int64_t stack_id, char **out)
{
	struct db_stmt *stmt = store_prepare(st, "SELECT frames FROM stacks WHERE id = ?1");
	int rc;

	*out = NULL;
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, stack_id);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*out = store_column_strdup(stmt, 0, true);
	store_stmt_done(stmt);
	if (rc != DB_ROW && rc != DB_DONE) {
		store_log_db(st, "reading a stack");
		return -1;
	}
	return 0;
}

/* ---- Rankings ---- */

int
store_ranking_save(struct store *st, const struct ranking *r)
{
	struct db_stmt *stmt;
	int64_t ranking_id;
	unsigned shard, shards;
	size_t i;

	if (store_begin(st) < 0)
		return -1;
	stmt = store_prepare(st, "INSERT INTO rankings (generated_at, window_seconds, duration_ms, "
	                         "shard, shards) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id");
	if (stmt == NULL)
		goto out_rollback;
	store_shard(st, &shard, &shards);
	db_bind_int64(stmt, 4, shard);
	db_bind_int64(stmt, 5, shards);
	db_bind_int64(stmt, 1, r->generated_at);
	db_bind_int64(stmt, 2,
	              r->window_seconds > INT64_MAX ? INT64_MAX : (int64_t)r->window_seconds);
	db_bind_int64(stmt, 3, r->duration_ms);
	ranking_id = store_step_id(st, stmt, "saving a ranking");
	if (ranking_id < 0)
		goto out_rollback;

	for (i = 0; i < r->n; i++) {
		const struct suspect *s = &r->suspects[i];

		stmt = store_prepare(st, "INSERT INTO suspects (ranking_id, rank, service_id, "
		                         "location_id, score, confirmed,"
		                         " current_count, max_instance_count, instances_growing, "
		                         "instances_total, growth_per_hour,"
		                         " monotonicity, fit, oldest_wait_minutes, "
		                         "median_wait_minutes, first_seen, explanation, sparkline,"
		                         " stack_id)"
		                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
		                         "?12, ?13, ?14, ?15, ?16, ?17,"
		                         " coalesce(?18, '[]'), ?19)");
		if (stmt == NULL)
			goto out_rollback;
		db_bind_int64(stmt, 1, ranking_id);
		db_bind_int64(stmt, 2, s->rank);
		db_bind_int64(stmt, 3, s->service_id);
		db_bind_int64(stmt, 4, s->location_id);
		db_bind_double(stmt, 5, s->score);
		db_bind_int64(stmt, 6, s->confirmed ? 1 : 0);
		db_bind_int64(stmt, 7,
		              s->current_count > INT64_MAX ? INT64_MAX : (int64_t)s->current_count);
		db_bind_int64(stmt, 8,
		              s->max_instance_count > INT64_MAX ? INT64_MAX
		                                                : (int64_t)s->max_instance_count);
		db_bind_int64(stmt, 9, s->instances_growing);
		db_bind_int64(stmt, 10, s->instances_total);
		db_bind_double(stmt, 11, s->growth_per_hour);
		db_bind_double(stmt, 12, s->monotonicity);
		db_bind_double(stmt, 13, s->fit);
		store_bind_wait(stmt, 14, s->oldest_wait_minutes);
		store_bind_wait(stmt, 15, s->median_wait_minutes);
		db_bind_int64(stmt, 16, s->first_seen);
		db_bind_text(stmt, 17, s->explanation ? s->explanation : "");
		db_bind_text(stmt, 18, s->sparkline_json);
		if (s->stack_id > 0)
			db_bind_int64(stmt, 19, s->stack_id);
		if (store_step_write(st, stmt, "saving a suspect") != 0)
			goto out_rollback;
	}

	/* the shard's own older ones: the others' newest stay whatever this one stores */
	stmt =
	    store_prepare(st, "DELETE FROM rankings WHERE shards = ?3 AND shard = ?4 AND id <"
	                      " (SELECT min(id) FROM (SELECT id FROM rankings WHERE shards = ?3"
	                      " AND shard = ?4 AND id <= ?1 ORDER BY id DESC LIMIT ?2) AS kept)");
	if (stmt == NULL)
		goto out_rollback;
	db_bind_int64(stmt, 1, ranking_id);
	db_bind_int64(stmt, 2, STORE_RANKINGS_KEEP);
	db_bind_int64(stmt, 3, shards);
	db_bind_int64(stmt, 4, shard);
	if (store_step_write(st, stmt, "pruning old rankings") != 0)
		goto out_rollback;
	return store_commit(st);

out_rollback:
	store_rollback(st);
	return -1;
}

void
suspect_release(struct suspect *s)
{
	if (s == NULL)
		return;
	free(s->service);
	free(s->function);
	free(s->file);
	free(s->op);
	free(s->explanation);
	free(s->stack_json);
	free(s->sparkline_json);
	memset(s, 0, sizeof(*s));
}

void
ranking_release(struct ranking *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		suspect_release(&r->suspects[i]);
	free(r->suspects);
	memset(r, 0, sizeof(*r));
}

int
suspect_cmp(const void *x, const void *y)
{
	const struct suspect *a = x, *b = y;

	if (a->confirmed != b->confirmed)
		return a->confirmed ? -1 : 1;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->current_count != b->current_count)
		return a->current_count > b->current_count ? -1 : 1;
	if (a->service_id != b->service_id)
		return a->service_id < b->service_id ? -1 : 1;
	return (a->location_id > b->location_id) - (a->location_id < b->location_id);
}

/* Append the suspects of ranking 'ranking_id' (of 'service' when not NULL, the first 'limit': 0
 * all) to 'r'. 0, or -1 (logged). */
static int
load_suspects(struct store *st, int64_t ranking_id, const char *service, size_t limit,
              struct ranking *r, size_t *cap)
{
	static const char suspects_sql[] =
	    "SELECT su.rank, su.service_id, su.location_id, sv.name, l.function, l.file, l.line, "
	    "l.op, su.score,"
	    " su.confirmed, su.current_count, su.max_instance_count, su.instances_growing, "
	    "su.instances_total,"
	    " su.growth_per_hour, su.monotonicity, su.fit, su.oldest_wait_minutes, "
	    "su.median_wait_minutes,"
	    " su.first_seen, su.explanation, coalesce(k.frames, '[]'), su.sparkline,"
	    " coalesce(su.stack_id, 0)"
	    " FROM suspects su JOIN services sv ON sv.id = su.service_id JOIN locations l ON l.id "
	    "= su.location_id"
	    " LEFT JOIN stacks k ON k.id = coalesce(su.stack_id, l.stack_id)"
	    " WHERE su.ranking_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR sv.name = ?2)"
	    " ORDER BY su.rank LIMIT ?3";
	struct db_stmt *stmt = store_prepare(st, suspects_sql);
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, ranking_id);
	if (service != NULL)
		db_bind_text(stmt, 2, service);
	/* no bound: the largest (PostgreSQL refuses SQLite's -1) */
	db_bind_int64(stmt, 3, limit == 0 || limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct suspect *s;

		if (r->n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			r->suspects = xrealloc(r->suspects, *cap * sizeof(*r->suspects));
		}
		s = &r->suspects[r->n++];
		memset(s, 0, sizeof(*s));
		s->rank = db_column_int(stmt, 0);
		s->service_id = db_column_int64(stmt, 1);
		s->location_id = db_column_int64(stmt, 2);
		s->service = store_column_strdup(stmt, 3, true);
		s->function = store_column_strdup(stmt, 4, true);
		s->file = store_column_strdup(stmt, 5, true);
		s->line = (uint32_t)db_column_int64(stmt, 6);
		s->op = store_column_strdup(stmt, 7, true);
		s->score = db_column_double(stmt, 8);
		s->confirmed = db_column_int(stmt, 9) != 0;
		s->current_count = (uint64_t)db_column_int64(stmt, 10);
		s->max_instance_count = (uint64_t)db_column_int64(stmt, 11);
		s->instances_growing = (uint32_t)db_column_int64(stmt, 12);
		s->instances_total = (uint32_t)db_column_int64(stmt, 13);
		s->growth_per_hour = db_column_double(stmt, 14);
		s->monotonicity = db_column_double(stmt, 15);
		s->fit = db_column_double(stmt, 16);
		s->oldest_wait_minutes = db_column_is_null(stmt, 17) ? -1 : db_column_int(stmt, 17);
		s->median_wait_minutes = db_column_is_null(stmt, 18) ? -1 : db_column_int(stmt, 18);
		s->first_seen = db_column_int64(stmt, 19);
		s->explanation = store_column_strdup(stmt, 20, true);
		s->stack_json = store_column_strdup(stmt, 21, true);
		s->sparkline_json = store_column_strdup(stmt, 22, true);
		s->stack_id = db_column_int64(stmt, 23);
	}
	store_stmt_done(stmt);
	if (rc != DB_DONE) {
		store_log_db(st, "loading the ranking's suspects");
		return -1;
	}
	return 0;
}

/* By service and location, then in ranking order (suspect_cmp()). */
static int
cmp_suspect_key(const void *x, const void *y)
{
	const struct suspect *a = x, *b = y;

	if (a->service_id != b->service_id)
		return a->service_id < b->service_id ? -1 : 1;
	if (a->location_id != b->location_id)
		return a->location_id < b->location_id ? -1 : 1;
	return suspect_cmp(a, b);
}

/* Rankings of several shards as one: by suspect_cmp(), a (service, location) once (the first: a
 * service split over shards by target is ranked on each one's part), ranked again from 1, at most
 * 'limit' (0: all). */
static void
merge_shards(struct ranking *r, size_t limit)
{
	size_t i, n = 0;

	/* one entry per (service, location), the first in ranking order: by key, then once more in
	 * ranking order, n log n however many shards and suspects (a page load does this) */
	qsort(r->suspects, r->n, sizeof(*r->suspects), cmp_suspect_key);
	for (i = 0; i < r->n; i++) {
		if (n > 0 && r->suspects[n - 1].service_id == r->suspects[i].service_id &&
		    r->suspects[n - 1].location_id == r->suspects[i].location_id) {
			suspect_release(&r->suspects[i]);
			continue;
		}
		if (n != i)
			r->suspects[n] = r->suspects[i];
		n++;
	}
	qsort(r->suspects, n, sizeof(*r->suspects), suspect_cmp);
	for (i = 0; i < n; i++) {
		if (limit > 0 && i >= limit)
			suspect_release(&r->suspects[i]);
		else
			r->suspects[i].rank = (int)(i + 1);
	}
	r->n = limit > 0 && n > limit ? limit : n;
}

/* store_ranking_load() and store_ranking_load_own() */
static int
ranking_load(struct store *st, const char *service, size_t limit, bool own, struct ranking *r)
{
	/* The newest ranking of each shard of this daemon's shard.count (rankings of another count
	 * are a layout no daemon runs any more), or of its own shard only. */
	struct db_stmt *stmt;
	int64_t *ids = NULL;
	unsigned shard, shards;
	size_t n = 0, capids = 0, cap = 0, i;
	int rc;

	memset(r, 0, sizeof(*r));
	store_shard(st, &shard, &shards);
	if (store_begin_read(st) < 0)
		return -1;
	stmt = store_prepare(st, "SELECT r.id, r.generated_at, r.window_seconds, r.duration_ms"
	                         " FROM rankings r WHERE r.shards = ?1 AND r.id = (SELECT max(id)"
	                         " FROM rankings x WHERE x.shards = ?1 AND x.shard = r.shard)"
	                         " AND (CAST(?2 AS BIGINT) < 0 OR r.shard = ?2) ORDER BY r.shard");
	if (stmt == NULL)
		goto out_rollback;
	db_bind_int64(stmt, 1, shards);
	db_bind_int64(stmt, 2, own ? (int64_t)shard : -1);
	while ((rc = db_step(stmt)) == DB_ROW) {
		uint32_t duration = (uint32_t)db_column_int64(stmt, 3);
		int64_t generated = db_column_int64(stmt, 1);

		if (n == capids) {
			capids = capids ? capids * 2 : 4;
			ids = xrealloc(ids, capids * sizeof(*ids));
		}
		ids[n] = db_column_int64(stmt, 0);
		/* the fleet's ranking is as old as its oldest part, and took as long as its longest
		 */
		if (n == 0 || generated < r->generated_at)
			r->generated_at = generated;
		if (duration > r->duration_ms)
			r->duration_ms = duration;
		r->window_seconds = (uint64_t)db_column_int64(stmt, 2);
		n++;
	}
	store_stmt_done(stmt);
	if (rc != DB_ROW && rc != DB_DONE) {
		store_log_db(st, "loading the ranking");
		goto out_rollback;
	}
	if (n == 0) {
		store_rollback(st);
		return 1;
	}
	for (i = 0; i < n; i++)
		if (load_suspects(st, ids[i], service, limit, r, &cap) < 0)
			goto out_release;
	if (n > 1)
		merge_shards(r, limit);
	store_rollback(st);
	free(ids);
	return 0;

out_release:
	ranking_release(r);
out_rollback:
	store_rollback(st);
	free(ids);
	return -1;
}

int
store_ranking_load(struct store *st, const char *service, size_t limit, struct ranking *r)
{
	return ranking_load(st, service, limit, false, r);
}

int
store_ranking_load_own(struct store *st, size_t limit, struct ranking *r)
{
	return ranking_load(st, NULL, limit, true, r);
}

/* ---- Reading only what is new ---- */

int
store_window_marks(struct store *st, int64_t *scrape_id, int64_t *move_seq)
{
	/* One daemon writes alone, so the newest id is committed with everything before it; of
	 * several, another daemon may commit a newer id before this one commits an older one: the
	 * shard's own marks say how far its scrapes are committed. */
	struct db_stmt *stmt =
	    store_walk_shard(st) < 0
	        ? store_prepare(st, "SELECT (SELECT coalesce(max(id), 0) FROM scrapes),"
	                            " (SELECT coalesce(max(seq), 0) FROM restart_moves)")
	        : store_prepare(st,
	                        "SELECT coalesce(max(scrape_mark), 0), coalesce(max(move_mark), 0)"
	                        " FROM daemons WHERE shard = ?1");

	if (stmt == NULL)
		return -1;
	if (store_walk_shard(st) >= 0)
		db_bind_int64(stmt, 1, store_walk_shard(st));
	if (db_step(stmt) != DB_ROW) {
		store_log_db(st, "reading the newest scrape");
		store_stmt_done(stmt);
		return -1;
	}
	*scrape_id = db_column_int64(stmt, 0);
	*move_seq = db_column_int64(stmt, 1);
	store_stmt_done(stmt);
	return 0;
}

int
store_each_window_target(struct store *st,
                         int (*cb)(const struct store_window_target *t, void *arg), void *arg)
{
	struct db_stmt *stmt =
	    store_prepare(st, "SELECT t.id, t.service_id, sv.name, t.url, t.active"
	                      " FROM targets t JOIN services sv ON sv.id = t.service_id"
	                      " WHERE " STORE_SQL_SHARD("?1") " ORDER BY t.id");
	int rc, ret = 0;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, store_walk_shard(st));
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct store_window_target t = {
		    .target_id = db_column_int64(stmt, 0),
		    .service_id = db_column_int64(stmt, 1),
		    .service = db_column_text(stmt, 2),
		    .url = db_column_text(stmt, 3),
		    .active = db_column_int(stmt, 4) != 0,
		};

		if (!t.service || !t.url)
			continue;
		ret = cb(&t, arg);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != DB_DONE) {
		store_log_db(st, "reading targets");
		ret = -1;
	}
	store_stmt_done(stmt);
	return ret;
}

/* The columns both window walks read, in this order. */
#define WINDOW_ROW_COLUMNS                                                                         \
	"s.id, s.target_id, s.ts, s.total_goroutines, s.detail, s.restart IS NOT NULL,"            \
	" x.location_id, x.count, x.leaked, x.max_wait, x.median_wait"

static int
window_rows(struct store *st, struct db_stmt *stmt,
            int (*cb)(const struct store_window_row *r, void *arg), void *arg)
{
	int rc, ret = 0;

	while ((rc = db_step(stmt)) == DB_ROW) {
		struct store_window_row r = {
		    .scrape_id = db_column_int64(stmt, 0),
		    .target_id = db_column_int64(stmt, 1),
		    .ts = db_column_int64(stmt, 2),
		    .total_goroutines = (uint64_t)db_column_int64(stmt, 3),
		    .detail = db_column_int(stmt, 4) != 0,
		    .restart = db_column_int(stmt, 5) != 0,
		    .has_sample = !db_column_is_null(stmt, 6),
		    .location_id = db_column_int64(stmt, 6),
		    .count = (uint64_t)db_column_int64(stmt, 7),
		    .leaked = (uint64_t)db_column_int64(stmt, 8),
		    .max_wait = db_column_is_null(stmt, 9) ? -1 : db_column_int(stmt, 9),
		    .median_wait = db_column_is_null(stmt, 10) ? -1 : db_column_int(stmt, 10),
		};

		ret = cb(&r, arg);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != DB_DONE) {
		store_log_db(st, "reading the window");
		ret = -1;
	}
	store_stmt_done(stmt);
	return ret;
}

int
store_each_window_row(struct store *st, int64_t since, int64_t upto,
                      int (*cb)(const struct store_window_row *r, void *arg), void *arg)
{
	/* From each target into the (target_id, ts) index, then the samples' primary key: rows
	 * come out in the wanted order without a sort, and no scrape outside the window is read. */
	struct db_stmt *stmt = store_prepare(
	    st, "SELECT " WINDOW_ROW_COLUMNS " FROM targets t CROSS JOIN scrapes s"
	        " LEFT JOIN samples x ON x.scrape_id = s.id"
	        " WHERE s.target_id = t.id AND s.ts >= ?1 AND s.id <= ?2 AND s.status = 'ok'"
	        " AND " STORE_SQL_SHARD("?3") " ORDER BY t.id, s.ts, s.id, x.location_id");

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, since);
	db_bind_int64(stmt, 2, upto);
	db_bind_int64(stmt, 3, store_walk_shard(st));
	return window_rows(st, stmt, cb, arg);
}

int
store_each_window_row_after(struct store *st, int64_t after, int64_t upto, int64_t since,
                            int (*cb)(const struct store_window_row *r, void *arg), void *arg)
{
	/* of several daemons, the shard's targets' scrapes only: the one join more is left out of
	 * one daemon's statement */
	struct db_stmt *stmt =
	    store_walk_shard(st) < 0
	        ? store_prepare(st, "SELECT " WINDOW_ROW_COLUMNS " FROM scrapes s"
	                            " LEFT JOIN samples x ON x.scrape_id = s.id"
	                            " WHERE s.id > ?1 AND s.id <= ?2 AND s.ts >= ?3"
	                            " AND s.status = 'ok' ORDER BY s.id, x.location_id")
	        : store_prepare(st, "SELECT " WINDOW_ROW_COLUMNS " FROM scrapes s"
	                            " JOIN targets t ON t.id = s.target_id"
	                            " LEFT JOIN samples x ON x.scrape_id = s.id"
	                            " WHERE s.id > ?1 AND s.id <= ?2 AND s.ts >= ?3"
	                            " AND s.status = 'ok' AND t.shard = ?4"
	                            " ORDER BY s.id, x.location_id");

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, after);
	db_bind_int64(stmt, 2, upto);
	db_bind_int64(stmt, 3, since);
	if (store_walk_shard(st) >= 0)
		db_bind_int64(stmt, 4, store_walk_shard(st));
	return window_rows(st, stmt, cb, arg);
}

int
store_each_restart_move(struct store *st, int64_t after, int64_t upto,
                        int (*cb)(int64_t scrape_id, int64_t target_id, bool restart, void *arg),
                        void *arg)
{
	struct db_stmt *stmt = store_prepare(
	    st, "SELECT s.id, s.target_id, s.restart IS NOT NULL FROM restart_moves m"
	        " CROSS JOIN scrapes s WHERE m.seq > ?1 AND m.seq <= ?2 AND s.id = m.scrape_id"
	        " ORDER BY m.seq");
	int rc, ret = 0;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, after);
	db_bind_int64(stmt, 2, upto);
	while ((rc = db_step(stmt)) == DB_ROW) {
		ret = cb(db_column_int64(stmt, 0), db_column_int64(stmt, 1),
		         db_column_int(stmt, 2) != 0, arg);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != DB_DONE) {
		store_log_db(st, "reading restart moves");
		ret = -1;
	}
	store_stmt_done(stmt);
	return ret;
}
