/* web/metrics.c: GET /metrics in the Prometheus text format. Suspects and target health come from
 * the database on every request. The scrape counters are kept here, in memory, from the daemon's
 * start: the collector loop counts every finished scrape (web_count_scrape), so a first /metrics
 * request long after the start shows every scrape since, and the counters never rescan the
 * database. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/log.h"
#include "collector/targets.h"
#include "detect/window.h"
#include "storage/alertstore.h"
#include "storage/query.h"
#include "web/metrics.h"
#include "web/recompute.h"

#define METRICS_MAX_SERVICES 10000

struct svc_counter {
	char *service;
	uint64_t hash;
	uint64_t ok;
	uint64_t failed;
	uint64_t duration_ms;
};

struct metrics {
	pthread_mutex_t lock;
	struct svc_counter *svc; /* in the order first seen */
	size_t nsvc;
	size_t cap;
	uint32_t *index; /* open addressing over svc: position + 1, 0 empty; nindex a power of 2 */
	size_t nindex;
	_Atomic uint64_t http[6]; /* by status class: 1xx..5xx, index 0 unused */
	_Atomic uint64_t stored;  /* scrapes committed since the start */
};

struct metrics *
metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nsvc; i++)
		free(m->svc[i].service);
	free(m->svc);
	free(m->index);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void
metrics_count_request(struct metrics *m, unsigned status)
{
	if (m && status >= 100 && status < 600)
		m->http[status / 100]++;
}

void
metrics_set_stored(struct metrics *m, uint64_t n)
{
	if (m)
		atomic_store(&m->stored, n);
}

/* With m->lock held: put position 'pos' of svc into the index (which has room). */
static void
index_put(struct metrics *m, size_t pos)
{
	size_t mask = m->nindex - 1, i = (size_t)hash_mix64(m->svc[pos].hash) & mask;

	while (m->index[i])
		i = (i + 1) & mask;
	m->index[i] = (uint32_t)pos + 1;
}

/* With m->lock held: the counters of 'service', added when new. NULL when METRICS_MAX_SERVICES
 * services are counted already, or out of memory. */
static struct svc_counter *
counter(struct metrics *m, const char *service)
{
	uint64_t h = hash_fnv1a_str(HASH_FNV1A_INIT, service);
	size_t mask, i;
	struct svc_counter *c;

	if (!service)
		service = "";
	if (m->nindex) {
		mask = m->nindex - 1;
		for (i = (size_t)hash_mix64(h) & mask; m->index[i]; i = (i + 1) & mask) {
			c = &m->svc[m->index[i] - 1];
			if (c->hash == h && strcmp(c->service, service) == 0)
				return c;
		}
	}
	if (m->nsvc >= METRICS_MAX_SERVICES)
		return NULL;
	if (m->nsvc == m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 16;
		struct svc_counter *nv = realloc(m->svc, ncap * sizeof(*nv));

		if (!nv)
			return NULL;
		m->svc = nv;
		m->cap = ncap;
	}
	if (2 * (m->nsvc + 1) > m->nindex) {
		size_t n = m->nindex ? m->nindex * 2 : 32;
		uint32_t *ni = calloc(n, sizeof(*ni));

		if (!ni)
			return NULL;
		free(m->index);
		m->index = ni;
		m->nindex = n;
		for (size_t k = 0; k < m->nsvc; k++)
			index_put(m, k);
	}
	c = &m->svc[m->nsvc];
	*c = (struct svc_counter){.service = strdup(service), .hash = h};
	if (!c->service)
		return NULL;
	index_put(m, m->nsvc++);
	return c;
}

void
metrics_count_scrape(struct metrics *m, const char *service, bool ok, uint64_t duration_ms)
{
	struct svc_counter *c;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	c = counter(m, service);
	if (c) {
		if (ok)
			c->ok++;
		else
			c->failed++;
		c->duration_ms += duration_ms;
	}
	pthread_mutex_unlock(&m->lock);
}

static void
help(struct sbuf *b, const char *name, const char *type, const char *text)
{
	sbuf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static void
suspect_labels(struct sbuf *b, const struct suspect *s)
{
	sbuf_puts(b, "{service=\"");
	sbuf_prom(b, s->service);
	sbuf_puts(b, "\",function=\"");
	sbuf_prom(b, s->function);
	sbuf_puts(b, "\",file=\"");
	sbuf_prom(b, s->file);
	sbuf_addf(b, "\",line=\"%u\",op=\"", s->line);
	sbuf_prom(b, s->op);
	sbuf_puts(b, "\"}");
}

#define METRICS_TARGETS_PAGE 500

/* Whether 'service' is this daemon's to tell of: of several daemons sharing a database, the
 * services whose name falls in its shard (targets_shard_of(); a service split with shard_by: target
 * is told of whole by that one daemon). */
static bool
metrics_own(const struct web_ctx *c, const char *service)
{
	return service == NULL ||
	       targets_shard_keep(service, c->cfg->shard_index, c->cfg->shard_count);
}

/* leakprofd_target_up and leakprofd_target_scrape_duration_seconds of the active targets, at
 * most 'max' of each, read a page at a time. 0, or -1. */
static int
target_series(const struct web_ctx *c, struct sbuf *b, size_t max)
{
	struct query_targets_filter f = {.limit = METRICS_TARGETS_PAGE};
	struct sbuf dur = {0};
	size_t seen = 0;

	help(b, "leakprofd_target_up", "gauge", "1 when the target's last scrape succeeded.");
	help(&dur, "leakprofd_target_scrape_duration_seconds", "gauge",
	     "Duration of the target's last scrape.");
	do {
		struct target_health *h;
		size_t n;

		if (query_targets(c->st, &f, &h, &n, &f.after) != 0) {
			sbuf_release(&dur);
			return -1;
		}
		for (size_t i = 0; i < n && seen < max; i++) {
			if (!metrics_own(c, h[i].service))
				continue;
			seen++;
			sbuf_puts(b, "leakprofd_target_up{service=\"");
			sbuf_prom(b, h[i].service);
			sbuf_puts(b, "\",target=\"");
			sbuf_prom(b, h[i].url);
			sbuf_addf(b, "\"} %d\n",
			          h[i].last_status && strcmp(h[i].last_status, "ok") == 0);
			if (!h[i].last_scrape)
				continue;
			sbuf_puts(&dur, "leakprofd_target_scrape_duration_seconds{service=\"");
			sbuf_prom(&dur, h[i].service);
			sbuf_puts(&dur, "\",target=\"");
			sbuf_prom(&dur, h[i].url);
			sbuf_addf(&dur, "\"} %.3f\n", h[i].last_duration_ms / 1000.0);
		}
		target_health_free(h, n);
	} while (f.after && seen < max);
	if (dur.p)
		sbuf_add(b, dur.p, dur.len);
	sbuf_release(&dur);
	return 0;
}

/* One leakprofd_notifications_failed line per webhook the outbox holds failed notifications of. */
struct failed_lines {
	struct sbuf *b;
	const struct config_alerting *al;
	bool *seen; /* per configured webhook */
};

static int
failed_line(const char *webhook, int64_t n, void *arg)
{
	struct failed_lines *f = arg;

	for (size_t i = 0; i < f->al->nwebhooks; i++) {
		if (strcmp(f->al->webhooks[i].name, webhook) == 0)
			f->seen[i] = true;
	}
	sbuf_puts(f->b, "leakprofd_notifications_failed{webhook=\"");
	sbuf_prom(f->b, webhook);
	sbuf_addf(f->b, "\"} %lld\n", (long long)n);
	return 0;
}

/* leakprofd_notifications_failed: every configured webhook (0 when none), and any other name the
 * outbox still holds failed notifications of (a webhook renamed or removed since). 0, or -1. */
static int
failed_series(const struct web_ctx *c, struct sbuf *b)
{
	const struct config_alerting *al = &c->cfg->alerting;
	struct failed_lines f = {.b = b, .al = al};
	int rc;

	f.seen = calloc(al->nwebhooks + 1, sizeof(*f.seen));
	if (f.seen == NULL)
		return -1;
	help(b, "leakprofd_notifications_failed", "gauge",
	     "Notifications a webhook refused with an answer no retry can change (a 4xx other "
	     "than 408, 425 and 429), not retried; kept in the outbox for retention.raw.");
	rc = alertstore_outbox_failed(c->st, failed_line, &f);
	for (size_t i = 0; rc == 0 && i < al->nwebhooks; i++) {
		if (f.seen[i])
			continue;
		sbuf_puts(b, "leakprofd_notifications_failed{webhook=\"");
		sbuf_prom(b, al->webhooks[i].name);
		sbuf_puts(b, "\"} 0\n");
	}
	free(f.seen);
	return rc;
}

/* The series read from the database (the ranking, target health, failed notifications, its size)
 * into 'b', and the services it knows into *sv, *nsv (caller frees). 0, or -1 (logged): the
 * database cannot be read, and 'b' holds part of them. */
static int
database_series(const struct web_ctx *c, struct sbuf *b, struct query_service **sv, size_t *nsv)
{
	struct ranking rk = {0};
	uint64_t active = 0;
	int64_t size;

	if (!c->st)
		return -1;
	/* Of several daemons on one database, each tells of its own shard (its suspects, its
	 * services), so that sums over every daemon's series count each once. */
	if (store_ranking_load_own(c->st, 0, &rk) < 0 || query_services(c->st, sv, nsv) < 0)
		goto out_failed;
	help(b, "leakprofd_blocked_goroutines", "gauge",
	     "Goroutines blocked at a suspect location, summed over the service's instances "
	     "(latest scrapes).");
	for (size_t i = 0; i < rk.n; i++) {
		sbuf_puts(b, "leakprofd_blocked_goroutines");
		suspect_labels(b, &rk.suspects[i]);
		sbuf_addf(b, " %llu\n", (unsigned long long)rk.suspects[i].current_count);
	}
	help(b, "leakprofd_suspect_score", "gauge", "Leak score of a suspect location, 0 to 1.");
	for (size_t i = 0; i < rk.n; i++) {
		sbuf_puts(b, "leakprofd_suspect_score");
		suspect_labels(b, &rk.suspects[i]);
		sbuf_addf(b, " %.4f\n", rk.suspects[i].score);
	}
	help(b, "leakprofd_suspect_growth_per_hour", "gauge",
	     "Growth of a suspect location's blocked goroutines, per hour, over the ranking "
	     "window.");
	for (size_t i = 0; i < rk.n; i++) {
		sbuf_puts(b, "leakprofd_suspect_growth_per_hour");
		suspect_labels(b, &rk.suspects[i]);
		sbuf_addf(b, " %.3f\n", rk.suspects[i].growth_per_hour);
	}
	help(b, "leakprofd_suspects", "gauge", "Locations in the current ranking.");
	sbuf_addf(b, "leakprofd_suspects %zu\n", rk.n);
	help(b, "leakprofd_ranking_duration_seconds", "gauge",
	     "Time the detector took for the latest ranking.");
	sbuf_addf(b, "leakprofd_ranking_duration_seconds %.3f\n", rk.duration_ms / 1000.0);
	help(b, "leakprofd_ranking_timestamp_seconds", "gauge",
	     "When the latest ranking was computed (0: never).");
	sbuf_addf(b, "leakprofd_ranking_timestamp_seconds %.3f\n", rk.generated_at / 1000.0);
	ranking_release(&rk);

	help(b, "leakprofd_targets", "gauge",
	     "Active targets per service by the result of their last scrape.");
	for (size_t i = 0; i < *nsv; i++) {
		if (!metrics_own(c, (*sv)[i].name))
			continue;
		sbuf_puts(b, "leakprofd_targets{service=\"");
		sbuf_prom(b, (*sv)[i].name);
		sbuf_addf(b, "\",state=\"up\"} %u\n", (*sv)[i].targets_up);
		sbuf_puts(b, "leakprofd_targets{service=\"");
		sbuf_prom(b, (*sv)[i].name);
		sbuf_addf(b, "\",state=\"down\"} %u\n", (*sv)[i].targets - (*sv)[i].targets_up);
	}
	for (size_t i = 0; i < *nsv; i++)
		if (metrics_own(c, (*sv)[i].name))
			active += (*sv)[i].targets;
	/* Per-target series only for a fleet small enough: past metrics.per_target_max active
	 * targets they would outgrow what Prometheus should take from one exporter. */
	help(b, "leakprofd_target_series_suppressed", "gauge",
	     "1 when the per-target series (leakprofd_target_up, "
	     "leakprofd_target_scrape_duration_seconds) are left out because more targets are "
	     "active than metrics.per_target_max.");
	sbuf_addf(b, "leakprofd_target_series_suppressed %d\n",
	          active > c->cfg->metrics.per_target_max);
	if (active <= c->cfg->metrics.per_target_max &&
	    target_series(c, b, (size_t)c->cfg->metrics.per_target_max) < 0)
		goto out_failed;
	if (failed_series(c, b) != 0)
		goto out_failed;
	size = store_db_size(c->st);
	if (size < 0)
		goto out_failed;
	help(b, "leakprofd_database_size_bytes", "gauge",
	     "Size of the database: the SQLite file's pages in use, or PostgreSQL's "
	     "pg_database_size().");
	sbuf_addf(b, "leakprofd_database_size_bytes %lld\n", (long long)size);
	return 0;

out_failed:
	log_err("web: /metrics: reading the database: %s", store_errmsg(c->st));
	ranking_release(&rk);
	return -1;
}

/* The daemon's writer (ingest): the database taking its writes, the scrapes waiting for it. */
static void
ingest_series(const struct web_ctx *c, struct sbuf *b)
{
	const struct web_ingest *in = c->ingest;

	help(b, "leakprofd_database_writes_refused", "gauge",
	     "1 while the database refuses the daemon's writes (PostgreSQL down or unreachable, "
	     "a lock held, a full disk): finished scrapes wait in memory meanwhile.");
	sbuf_addf(b, "leakprofd_database_writes_refused %d\n", in->refused_since_ms > 0);
	help(b, "leakprofd_database_writes_refused_since_seconds", "gauge",
	     "Since when the database refuses the daemon's writes, Unix time (0: it takes them).");
	sbuf_addf(b, "leakprofd_database_writes_refused_since_seconds %.3f\n",
	          in->refused_since_ms / 1000.0);
	help(b, "leakprofd_scrapes_queued", "gauge",
	     "Finished scrapes waiting in memory to be stored, the batch being written included: "
	     "what a kill -9 would lose.");
	sbuf_addf(b, "leakprofd_scrapes_queued %llu\n", (unsigned long long)in->queued);
	help(b, "leakprofd_scrapes_queued_max", "gauge",
	     "ingest.buffer_scrapes: past it, or once the oldest waited ingest.buffer_duration, "
	     "new scrapes are dropped.");
	sbuf_addf(b, "leakprofd_scrapes_queued_max %llu\n", (unsigned long long)in->queued_max);
	help(b, "leakprofd_scrapes_dropped_total", "counter",
	     "Finished scrapes dropped since the start because the queue was at its bound.");
	sbuf_addf(b, "leakprofd_scrapes_dropped_total %llu\n", (unsigned long long)in->dropped);
}

void
metrics_handle(const struct web_ctx *c, struct metrics *m, struct web_reply *r)
{
	struct sbuf b = {0}, db = {0};
	struct query_service *sv = NULL;
	size_t nsv = 0;
	bool db_ok;

	/* What the database holds, when it can be read; the daemon's own figures in any case, so
	 * that an outage of the database shows here too. */
	db_ok = database_series(c, &db, &sv, &nsv) == 0;
	if (!db_ok) {
		sbuf_release(&db);
		query_services_free(sv, nsv);
		sv = NULL;
		nsv = 0;
	}
	help(&b, "leakprofd_database_up", "gauge",
	     "1 when this reply could read the database; 0: the series read from it (suspects, "
	     "targets, notifications, its size) are left out, see the daemon's log.");
	sbuf_addf(&b, "leakprofd_database_up %d\n", db_ok);
	if (db.p)
		sbuf_add(&b, db.p, db.len);
	sbuf_release(&db);

	/* Scrape counters, from the daemon's start. */
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < nsv; i++)
		(void)counter(m, sv[i].name); /* every service has its series, even at 0 */
	query_services_free(sv, nsv);
	help(&b, "leakprofd_scrapes_total", "counter", "Scrape attempts per service and result.");
	for (size_t i = 0; i < m->nsvc; i++) {
		sbuf_puts(&b, "leakprofd_scrapes_total{service=\"");
		sbuf_prom(&b, m->svc[i].service);
		sbuf_addf(&b, "\",result=\"success\"} %llu\n", (unsigned long long)m->svc[i].ok);
		sbuf_puts(&b, "leakprofd_scrapes_total{service=\"");
		sbuf_prom(&b, m->svc[i].service);
		sbuf_addf(&b, "\",result=\"failure\"} %llu\n",
		          (unsigned long long)m->svc[i].failed);
	}
	help(&b, "leakprofd_scrape_duration_seconds", "summary",
	     "Duration of scrape attempts per service.");
	for (size_t i = 0; i < m->nsvc; i++) {
		sbuf_puts(&b, "leakprofd_scrape_duration_seconds_sum{service=\"");
		sbuf_prom(&b, m->svc[i].service);
		sbuf_addf(&b, "\"} %.3f\n", m->svc[i].duration_ms / 1000.0);
		sbuf_puts(&b, "leakprofd_scrape_duration_seconds_count{service=\"");
		sbuf_prom(&b, m->svc[i].service);
		sbuf_addf(&b, "\"} %llu\n", (unsigned long long)(m->svc[i].ok + m->svc[i].failed));
	}
	pthread_mutex_unlock(&m->lock);
	help(&b, "leakprofd_scrapes_stored_total", "counter",
	     "Scrapes committed to the database since the start: acknowledged, kept by a kill -9 "
	     "(the others wait in the ingest queue).");
	sbuf_addf(&b, "leakprofd_scrapes_stored_total %llu\n",
	          (unsigned long long)atomic_load(&m->stored));
	if (c->ingest)
		ingest_series(c, &b);

	help(
	    &b, "leakprofd_sqlite_memory_bytes", "gauge",
	    "Memory SQLite holds for every database connection of the daemon together (page "
	    "caches, statements), held near leakprofd_sqlite_memory_limit_bytes; 0 on PostgreSQL.");
	sbuf_addf(&b, "leakprofd_sqlite_memory_bytes %lld\n", (long long)store_memory_used(NULL));
	help(&b, "leakprofd_sqlite_memory_limit_bytes", "gauge",
	     "The memory past which SQLite's page caches recycle their pages instead of growing.");
	sbuf_addf(&b, "leakprofd_sqlite_memory_limit_bytes %lld\n", (long long)STORE_HEAP_LIMIT);
	if (c->window) {
		const struct window_stats *ws = c->window;

		help(&b, "leakprofd_detector_window_bytes", "gauge",
		     "Memory the detector's window kept between rankings holds, after the latest "
		     "ranking (0: none kept, past leakprofd_detector_window_limit_bytes).");
		sbuf_addf(&b, "leakprofd_detector_window_bytes %zu\n", ws->bytes);
		help(&b, "leakprofd_detector_window_limit_bytes", "gauge",
		     "detector.window_memory: past it, rankings read their whole window from the "
		     "database.");
		sbuf_addf(&b, "leakprofd_detector_window_limit_bytes %llu\n",
		          (unsigned long long)(c->cfg ? c->cfg->detector.window_memory
		                                      : CONFIG_WINDOW_MEMORY_DEFAULT));
		help(&b, "leakprofd_detector_window_scrapes", "gauge",
		     "Count scrapes the detector's window holds.");
		sbuf_addf(&b, "leakprofd_detector_window_scrapes %zu\n", ws->scrapes);
		help(&b, "leakprofd_detector_window_series", "gauge",
		     "(location, instance) series the detector's window holds.");
		sbuf_addf(&b, "leakprofd_detector_window_series %zu\n", ws->series);
		help(&b, "leakprofd_detector_window_rows_read", "gauge",
		     "Scrape and sample rows the latest ranking read from the database.");
		sbuf_addf(&b, "leakprofd_detector_window_rows_read %llu\n",
		          (unsigned long long)ws->rows_read);
		help(&b, "leakprofd_detector_window_reads_total", "counter",
		     "Rankings that read their whole window from the database into the kept window "
		     "(the first, and after a longer window or a scrape older than one held).");
		sbuf_addf(&b, "leakprofd_detector_window_reads_total %llu\n",
		          (unsigned long long)ws->reloads);
	}
	if (c->recompute) {
		uint64_t started, refused;

		recompute_stats(c->recompute, &started, &refused);
		help(&b, "leakprofd_ranking_recomputes_total", "counter",
		     "Rankings recomputed over a window a request asked for (?window=), each "
		     "shared by every request asking for it meanwhile.");
		sbuf_addf(&b, "leakprofd_ranking_recomputes_total %llu\n",
		          (unsigned long long)started);
		help(&b, "leakprofd_ranking_recomputes_refused_total", "counter",
		     "Requests for a ranking over a window refused (503) because the most "
		     "recomputes allowed at once were running.");
		sbuf_addf(&b, "leakprofd_ranking_recomputes_refused_total %llu\n",
		          (unsigned long long)refused);
	}
	help(&b, "leakprofd_http_requests_total", "counter",
	     "Requests answered by the web server, by status class.");
	for (unsigned k = 1; k < 6; k++)
		sbuf_addf(&b, "leakprofd_http_requests_total{code=\"%uxx\"} %llu\n", k,
		          (unsigned long long)m->http[k]);
	web_reply_take(r, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
}
