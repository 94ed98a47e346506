/* storage/store_labels.c: pprof label sets per count scrape and location (tables labelsets, each
 * distinct set once, and label_samples), and what they say over a window: which sets a location's
 * goroutines carry now and which grew.
 *
 * The parser bounds a set's size and the sets per location; the daemon keeps the top
 * detector.max_label_sets of them per location; here at most STORE_LABEL_ROWS rows and
 * STORE_LABEL_BYTES of set text are written per scrape, for the locations whose op may leak, the
 * locations with the most goroutines first, so what a scrape stores is bounded whatever its
 * targets send. Rows are deleted with their scrape, so their retention is the raw samples'; a set
 * unseen for as long goes too (store_labels_retention()). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/xalloc.h"
#include "storage/store_internal.h"

/* clang-format off */
static const char set_sql[] =
    "INSERT INTO labelsets (labels, last_seen) VALUES (?1, ?2) ON CONFLICT (labels)"
    " DO UPDATE SET last_seen = " STORE_SQL_MAX("labelsets.last_seen", "excluded.last_seen")
    " RETURNING id";
/* clang-format on */

/* The id of set 'set' in labelsets (added when new), its last_seen brought to 'ts'; -1 on error
 * (logged). */
static int64_t
intern_set(struct store *st, const char *set, int64_t ts)
{
	struct db_stmt *stmt;

	stmt = store_prepare(st, set_sql);
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, set);
	db_bind_int64(stmt, 2, ts);
	return store_step_id(st, stmt, "storing a label set");
}

/* A row of label_samples: on PostgreSQL with its scrape's time, the partition key (?5). */
#define LABEL_UPSERT " DO UPDATE SET count = label_samples.count + excluded.count"
static const char row_sqlite[] =
    "INSERT INTO label_samples (scrape_id, location_id, labelset_id, count)"
    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (scrape_id, location_id, labelset_id)" LABEL_UPSERT;
/* PostgreSQL: a scrape's rows at once (store_pg_write_rows()) */
static const char rows_pg[] =
    "INSERT INTO label_samples (scrape_id, location_id, labelset_id, count, scrape_ts)"
    " SELECT ?1, u.l, u.s, u.c, ?2 FROM unnest(CAST(?3 AS BIGINT[]), CAST(?4 AS BIGINT[]),"
    " CAST(?5 AS BIGINT[])) AS u (l, s, c)"
    " ON CONFLICT (scrape_id, location_id, labelset_id, scrape_ts)" LABEL_UPSERT;

/* The rows of one scrape PostgreSQL gathers (store_labels_add()). */
struct pg_rows {
	struct store_pg_row *v;
	size_t n, cap;
};

/* One row: 'set' (NULL: the sets not kept) with 'count' goroutines; on PostgreSQL ('pg' not NULL)
 * gathered into 'pg'. */
static int
put_row(struct store *st, int64_t scrape_id, int64_t ts, int64_t location_id, const char *set,
        uint64_t count, struct pg_rows *pg)
{
	struct db_stmt *stmt;
	int64_t set_id = set != NULL ? intern_set(st, set, ts) : 0;

	if (set_id < 0)
		return -1;
	if (pg != NULL) {
		if (pg->n == pg->cap) {
			pg->cap = pg->cap ? pg->cap * 2 : 64;
			pg->v = xrealloc(pg->v, pg->cap * sizeof(*pg->v));
		}
		pg->v[pg->n++] =
		    (struct store_pg_row){.a = location_id,
		                          .b = set_id,
		                          .count = count > INT64_MAX ? INT64_MAX : (int64_t)count};
		return 0;
	}
	stmt = store_prepare(st, row_sqlite);
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, scrape_id);
	db_bind_int64(stmt, 2, location_id);
	db_bind_int64(stmt, 3, set_id);
	db_bind_int64(stmt, 4, count > INT64_MAX ? INT64_MAX : (int64_t)count);
	return store_step_write(st, stmt, "storing a label set");
}

int
store_labels_add(struct store *st, int64_t scrape_id, int64_t ts, const struct profile *p,
                 const int64_t *ids)
{
	struct pg_rows gathered = {0}, *pg = store_on_pg(st) ? &gathered : NULL;
	size_t rows = 0, bytes = 0;
	int rc = 0;

	for (size_t i = 0; i < p->nlocations && rows < STORE_LABEL_ROWS && rc == 0; i++) {
		const struct prof_location *l = &p->locations[i];

		if (l->op_class == OP_CLASS_BENIGN)
			continue;
		for (size_t k = 0; k < l->nlabels && rows < STORE_LABEL_ROWS && rc == 0;
		     k++, rows++) {
			bytes += strlen(l->labels[k].set);
			if (bytes > STORE_LABEL_BYTES)
				goto out; /* the sets of the locations with fewer goroutines go */
			rc = put_row(st, scrape_id, ts, ids[i], l->labels[k].set,
			             l->labels[k].count, pg);
		}
		if (rc == 0 && l->labels_other > 0 && rows < STORE_LABEL_ROWS) {
			rc = put_row(st, scrape_id, ts, ids[i], NULL, l->labels_other, pg);
			rows++;
		}
	}
out:
	if (rc == 0 && pg != NULL)
		rc = store_pg_write_rows(st, rows_pg, scrape_id, ts, pg->v, pg->n,
		                         "storing label sets");
	free(gathered.v);
	return rc < 0 ? -1 : 0;
}

/* Whether label set 'set' (NULL or "": the sets not kept) is a JSON object whose 'key' holds the
 * string 'value': the filter of store_labels_top(). Read here, not in SQL, so that every database
 * reads a set alike. */
static bool
set_has(const char *set, const char *key, const char *value)
{
	json_t *o, *v;
	bool has;

	if (set == NULL || set[0] == '\0')
		return false;
	o = json_loads(set, 0, NULL);
	if (o == NULL)
		return false;
	v = json_object_get(o, key); /* NULL when 'o' is no object */
	has = json_is_string(v) && strcmp(json_string_value(v), value) == 0;
	json_decref(o);
	return has;
}

int
store_labels_top(struct store *st, int64_t service_id, int64_t location_id, int64_t since,
                 int64_t until, size_t limit, const char *key, const char *value,
                 struct store_labels *out)
{
	/* Each instance's first and last count scrape of the window, each found in the
	 * (target_id, ts) index from the service's targets, then their rows of the location by the
	 * label_samples key. The label filter is set_has(), on the rows (one per set). */
	static const char sql[] =
	    "SELECT coalesce(ls.labels, ''),"
	    " sum(CASE WHEN l.scrape_id = p.last THEN l.count ELSE 0 END) AS cur,"
	    " sum(CASE WHEN l.scrape_id = p.first THEN l.count ELSE 0 END) AS fst"
	    " FROM (SELECT (SELECT s.id FROM scrapes s WHERE s.target_id = t.id AND s.ts >= ?2"
	    "   AND s.ts <= ?3 AND s.status = 'ok' AND s.detail = 0 ORDER BY s.ts LIMIT 1) AS "
	    "first,"
	    "  (SELECT s.id FROM scrapes s WHERE s.target_id = t.id AND s.ts >= ?2"
	    "   AND s.ts <= ?3 AND s.status = 'ok' AND s.detail = 0 ORDER BY s.ts DESC LIMIT 1)"
	    "  AS last FROM targets t WHERE t.service_id = ?1) p"
	    " CROSS JOIN label_samples l LEFT JOIN labelsets ls ON ls.id = l.labelset_id"
	    " WHERE l.scrape_id IN (p.first, p.last) AND l.location_id = ?4"
	    " AND (l.labelset_id = 0 OR ls.id IS NOT NULL)"
	    " GROUP BY l.labelset_id, ls.labels"
	    " ORDER BY l.labelset_id = 0, cur DESC, fst DESC, ls.labels";
	struct db_stmt *stmt;
	size_t cap = 0;
	int rc;

	*out = (struct store_labels){0};
	stmt = store_prepare(st, sql);
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, service_id);
	db_bind_int64(stmt, 2, since);
	db_bind_int64(stmt, 3, until);
	db_bind_int64(stmt, 4, location_id);
	while ((rc = db_step(stmt)) == DB_ROW) {
		const char *set = db_column_text(stmt, 0);
		int64_t cur = db_column_int64(stmt, 1), first = db_column_int64(stmt, 2);

		if (key != NULL && !set_has(set, key, value ? value : ""))
			continue;
		if (set == NULL || set[0] == '\0') {
			out->other += cur > 0 ? (uint64_t)cur : 0;
			out->other_first += first > 0 ? (uint64_t)first : 0;
			continue;
		}
		if (limit > 0 && out->n >= limit) {
			/* past the limit: counted with the other sets */
			out->other += cur > 0 ? (uint64_t)cur : 0;
			out->other_first += first > 0 ? (uint64_t)first : 0;
			continue;
		}
		if (out->n == cap) {
			cap = cap ? 2 * cap : 8;
			out->sets = xrealloc(out->sets, cap * sizeof(*out->sets));
		}
		out->sets[out->n++] = (struct store_labelset){
		    .set = xstrdup(set),
		    .count = cur > 0 ? (uint64_t)cur : 0,
		    .first = first > 0 ? (uint64_t)first : 0,
		};
	}
	if (rc != DB_DONE) {
		store_log_db(st, "reading label sets");
		store_stmt_done(stmt);
		store_labels_release(out);
		return -1;
	}
	store_stmt_done(stmt);
	return 0;
}

void
store_labels_release(struct store_labels *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->sets[i].set);
	free(l->sets);
	*l = (struct store_labels){0};
}

bool
store_label_filter_parse(char *spec, const char **key, const char **value)
{
	char *eq = spec != NULL ? strchr(spec, '=') : NULL;

	if (eq == NULL || eq == spec)
		return false;
	*eq = '\0';
	*key = spec;
	*value = eq + 1;
	return true;
}

int
store_labels_retention(struct store *st, int64_t cutoff, unsigned limit)
{
	struct db_stmt *stmt;

	stmt = store_prepare(st, "DELETE FROM labelsets WHERE id IN (SELECT id FROM labelsets"
	                         " WHERE last_seen < ?1 LIMIT ?2)");
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, cutoff);
	db_bind_int64(stmt, 2, limit);
	if (store_step_write(st, stmt, "retention: deleting old label sets") != 0)
		return -1;
	return db_changes(store_dbh(st));
}
