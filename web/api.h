/* web/api.h: the JSON API under /api/v1/ (jansson), and the data loaders the HTML pages share with
 * it. */
#ifndef API_H
#define API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "storage/store.h"
#include "web/web.h"

/* Longest window a request may ask for. */
#define API_MAX_WINDOW (30u * 86400)

/* Serialised answers of /api/v1/suspects for the stored ranking, keyed by their parameters and
 * dropped as soon as the detector stores a new ranking: under load every client asks for the same
 * few, and rebuilding the JSON per request would cost the CPU the collector needs. Thread-safe.
 * NULL on ENOMEM; api_cache_free(NULL) is a no-op. */
struct api_cache *api_cache_new(void);
/* Answer /api/v1/suspects from the cache alone when its ranking was confirmed current a moment ago
 * (no database connection needed). false: answer it normally. */
bool api_cached(const struct web_ctx *c, struct web_reply *r);
/* Other API answers (JSON, 200) keyed by 'key' (the path and its arguments), served for a second
 * after they were computed; after that one request recomputes while the others keep getting the
 * previous answer. A miss (false) makes the caller compute it and api_micro_put() the result. */
bool api_micro_get(struct api_cache *cache, const char *key, int64_t now, struct web_reply *r);
void api_micro_put(struct api_cache *cache, const char *key, int64_t now,
                   const struct web_reply *r);
void api_cache_free(struct api_cache *cache);

/* Answer a request whose path starts with "/api/v1/": every reply is JSON, errors {"error": "..."}.
 */
void api_handle(const struct web_ctx *c, struct web_reply *r);

/* Fill 'r' with {"error": msg} and 'status'. */
void api_error(struct web_reply *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The ranking a request asks for through ?service=, ?window= (recomputed over that window with
 * detect_rank; absent: the stored ranking) and ?limit=. Returns an HTTP status: 200 with 'out'
 * filled (caller releases with ranking_release; out->generated_at is 0 when nothing was ranked
 * yet), else 400/404/500 with 'err' set. *window_out is the window asked for, 0 for the stored
 * ranking. */
unsigned api_load_ranking(const struct web_ctx *c, struct ranking *out, uint64_t *window_out,
                          char *err, size_t errsz);

/* 0 when 'window' seconds reach back no further than retention.rollup keeps data; else -1 with
 * "window: ..." in 'err' (answered with 400). */
int api_window_kept(const struct config *cfg, uint64_t window, char *err, size_t errsz);

/* The buckets of a location chart over 'window' seconds ending now: 'step' (0: about 240 points,
 * never finer than the scrape interval) aligned on whole steps so refreshes do not shift them;
 * *lookback_ms for query_location_series. */
void api_series_range(const struct config *cfg, uint64_t window, uint64_t *step, int64_t now_ms,
                      int64_t *from, int64_t *to, int64_t *lookback_ms);

/* The start of "recently" for a location last seen at 'last_seen': ten scrape intervals (at least a
 * minute) before. */
int64_t api_recent(const struct config *cfg, int64_t last_seen);

/* A string as JSON, invalid UTF-8 replaced; never NULL unless out of memory. New reference. */
json_t *api_string(const char *s);

#endif
