/* web/server.h: the dashboard, JSON API and Prometheus /metrics, served by libmicrohttpd on its own threads with
 * read-only SQLite connections, so it never blocks the collector. */
#ifndef SERVER_H
#define SERVER_H

#include <stdint.h>

#include "base/config.h"

struct web;                                     /* opaque */

/* Start serving on cfg->listen, reading the database cfg->database. 'cfg' is copied what it needs of (the
 * caller may free it after web_stop or a web_reload). NULL on error (logged: bad address, port in use, TLS). */
struct web *web_start(const struct config *cfg);
/* Apply a reloaded config (auth, external_url, detector window default); listen changes need a restart (logged). */
void web_reload(struct web *w, const struct config *cfg);
/* The collector loop calls this on every iteration; /healthz answers 503 when it has not for 3 intervals. */
void web_heartbeat(struct web *w, int64_t now_ms);
/* Stop accepting, finish in-flight requests, free. web_stop(NULL) does nothing. */
void web_stop(struct web *w);

#endif
