/* web/server.h: the dashboard, JSON API and Prometheus /metrics, served by libmicrohttpd on its own
 * threads with read-only SQLite connections, so it never blocks the collector. */
#ifndef SERVER_H
#define SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "collector/targets.h"
#include "detect/detector.h"

struct web; /* opaque */

/* Start serving on cfg->listen, reading the database cfg->database. The server takes a reference of
 * its own to 'cfg' (the caller keeps its own). listen, database, web.tls, web.max_connections and
 * web.request_timeout are read here only: they need a restart. NULL on error (logged: bad address,
 * port in use, TLS, unreadable secrets). */
struct web *web_start(const struct config *cfg);
/* Make 'cfg' current (auth secrets read again, external_url, the detector's window default...):
 * the server takes a reference of its own and requests that start from now on use it; requests in
 * flight finish on the snapshot they started with, and it does not wait for them. When a secret
 * file cannot be read (logged) the previous configuration stays current. Changes to the keys that
 * web_start alone reads are ignored (config_log_restart_changes names them). */
void web_reload(struct web *w, const struct config *cfg);
/* The collector loop calls this on every iteration; /healthz answers 503 when it has not for 3
 * intervals. */
void web_heartbeat(struct web *w, int64_t now_ms);
/* The daemon's writer as it last reported (web_set_ingest()): whether the
 * database takes its writes, and the finished scrapes waiting in memory meanwhile. */
struct web_ingest {
	int64_t refused_since_ms; /* Unix ms: the database refuses writes since; 0: it takes them */
	uint64_t queued;          /* finished scrapes waiting to be stored */
	uint64_t queued_max;      /* the bound: ingest.buffer_scrapes (0: unknown) */
	int64_t queued_max_ms;    /* and ingest.buffer_duration, in ms */
	uint64_t dropped;         /* scrapes dropped at the bound since the start */
};

/* The daemon's writer as it is now (copied): since when the database refuses its writes (/healthz
 * answers 503 once that lasts longer than health_database_limit_ms()) and the finished scrapes
 * waiting in memory, which /healthz, /metrics and the targets page show. Any thread. */
void web_set_ingest(struct web *w, const struct web_ingest *in);
/* The state of the sources of targets (target files, http_sd, dns_sd): 'n' of 'total', copied.
 * /healthz shows them without judging them, and so does the targets page. Any thread. */
void web_set_sources(struct web *w, const struct targets_source_state *s, size_t n, size_t total);
/* /healthz judges 'd' (borrowed; it must outlive the server, or be unset with NULL first) by
 * detector_lag(): 503 when a scrape round has waited for a stored ranking longer than three
 * intervals plus twice the detector's pace. NULL: the detector is not judged. */
void web_watch_detector(struct web *w, struct detector *d);
/* Count one finished scrape of 'service' for /metrics (leakprofd_scrapes_total and
 * leakprofd_scrape_duration_seconds count from the daemon's start). Any thread. */
void web_count_scrape(struct web *w, const char *service, bool ok, uint64_t duration_ms);
/* The scrapes committed to the database since the start, for /metrics
 * (leakprofd_scrapes_stored_total). Any thread. */
void web_set_stored(struct web *w, uint64_t n);
/* Stop accepting, finish in-flight requests, free. web_stop(NULL) does nothing. */
void web_stop(struct web *w);

#endif
