/* web/metrics.h: GET /metrics in the Prometheus text exposition format (version 0.0.4). */
#ifndef METRICS_H
#define METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "web/web.h"

struct metrics; /* opaque: counters kept across scrapes of /metrics */

/* NULL on ENOMEM. Caller owns; free with metrics_free (NULL: no-op). */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* Count one answered HTTP request by status code (any thread). */
void metrics_count_request(struct metrics *m, unsigned status);
/* Count one finished scrape of 'service' (any thread; at most 10,000 services are counted). */
void metrics_count_scrape(struct metrics *m, const char *service, bool ok, uint64_t duration_ms);
/* Set the scrapes committed to the database since the start (any thread). */
void metrics_set_stored(struct metrics *m, uint64_t n);
/* Render every metric. Thread-safe. */
void metrics_handle(const struct web_ctx *c, struct metrics *m, struct web_reply *r);

#endif
