/* web/api.h: the JSON API under /api/v1/ (jansson), and the data loaders the HTML pages share with
 * it. */
#ifndef API_H
#define API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "base/config.h"
#include "base/sbuf.h"
#include "storage/query.h"
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

/* The ranking a request asks for, as shown: the stored ranking, or one recomputed over ?window=
 * (shared between requests, see recompute.h), with ?service= and ?limit= applied. */
struct api_ranking {
	const struct ranking *rk; /* what to show: &own, or the shared recomputed ranking */
	size_t n;                 /* entries of rk to show (the limit applied) */
	uint64_t window;          /* recomputed over this window (seconds); 0: the stored ranking */
	struct ranking own;       /* the stored ranking, loaded for this request */
	const struct suspect **shown; /* the n entries shown, in rank order (owned) */
};

/* The window a request's ?window= asks a recompute for: the seconds, or 0 when the request asks
 * for the stored ranking (no window, or the detector's own, whose ranking is the stored one) or
 * its window is invalid or longer than the data kept (the handler names it). */
uint64_t api_recompute_window(const struct web_ctx *c);

/* Recompute the ranking over 'window' seconds ending at 'now_ms' for 'service' (NULL: all) with
 * the detector. Returns an HTTP status: 200 with 'out' filled (caller releases), else 404 (unknown
 * service) or 500 with 'err' set. */
unsigned api_compute_ranking(struct store *st, const struct config *cfg, const char *service,
                             uint64_t window, int64_t now_ms, struct ranking *out, char *err,
                             size_t errsz);

/* The ranking a request asks for through ?service=, ?window=, ?limit= and ?label=KEY=VALUE (only
 * the suspects whose goroutines carry that pprof label at the end of the window): with a recompute
 * window (api_recompute_window), the answer in c->recomputed, or computed here when the request has
 * none; otherwise the stored ranking. Returns an HTTP status: 200 with 'out' filled (release it
 * with api_ranking_release; out->rk->generated_at is 0 when nothing was ranked yet), else
 * 400/404/500/503 with 'err' set. */
unsigned api_load_ranking(const struct web_ctx *c, struct api_ranking *out, char *err,
                          size_t errsz);
void api_ranking_release(struct api_ranking *r);

/* A page of the target lists (/api/v1/targets, /targets) holds this many targets unless ?limit=
 * asks for another number, at most API_TARGETS_MAX. */
#define API_TARGETS_LIMIT 100
#define API_TARGETS_MAX 1000

/* The page of targets a request asks for: ?service=NAME, ?status= (up, down, unknown: never
 * scraped, or any other text: down with a last status starting with it, like "timeout" or
 * "http 5"), ?inactive=1 (the targets no longer in the configuration instead of the active ones),
 * ?limit=N (1..API_TARGETS_MAX, default API_TARGETS_LIMIT) and ?after=ID (the "next" of the
 * previous page). 'f' borrows the request's strings. Returns 200, or 400 with 'err' naming the
 * bad parameter. */
unsigned api_targets_filter(const struct web_ctx *c, struct query_targets_filter *f, char *err,
                            size_t errsz);

/* The micro-cache key of an API request: its path and the arguments the API reads (others do not
 * change the answer and must not defeat the cache), or NULL when it is not micro-cached (the stored
 * ranking has its own cache). Caller frees. */
char *api_micro_key(const struct web_ctx *c);

/* 0 when 'window' seconds reach back no further than retention.rollup keeps data; else -1 with
 * "window: ..." in 'err' (answered with 400; err may be NULL with errsz 0). */
int api_window_kept(const struct config *cfg, uint64_t window, char *err, size_t errsz);

/* The buckets of a location chart over 'window' seconds ending now: 'step' (0: about 240 points,
 * never finer than the scrape interval) aligned on whole steps so refreshes do not shift them;
 * *lookback_ms for query_location_series. */
void api_series_range(const struct config *cfg, uint64_t window, uint64_t *step, int64_t now_ms,
                      int64_t *from, int64_t *to, int64_t *lookback_ms);

/* The start of "recently" for a location last seen at 'last_seen': ten scrape intervals (at least a
 * minute) before. */
int64_t api_recent(const struct config *cfg, int64_t last_seen);

/* Where a service's code lives (its `source` key) and the version it runs (its version_label target
 * label, as stored with the service), for links from file:line to the code. */
struct api_source {
	const struct config_source *src; /* NULL: no links; borrowed from the configuration */
	char *version;                   /* NULL: unknown; owned */
};
/* The source settings of 'service' (NULL: none). Release with api_source_release. */
void api_source_init(struct api_source *ps, const struct web_ctx *c, const char *service);
void api_source_release(struct api_source *ps);
/* The link to 'file':'line' in the service's code into 'url' (base/srclink.h): 0, or -1 when
 * the service has none (or it did not fit 'url''s cap). */
int api_source_url(const struct api_source *ps, const char *file, long long line, struct sbuf *url);

/* The call sites of location 'location_id' in 'service' over the 'window' seconds ending now,
 * in about QUERY_CALL_SITES_POINTS points (never finer than two scrape intervals), keeping
 * 'keep_stack_id' (the stack a ranking named; 0: none): query_location_call_sites(). An unknown
 * service (or NULL) has none. 0, or -1 (logged). Caller releases with query_call_sites_release. */
int api_call_sites(const struct web_ctx *c, int64_t location_id, const char *service,
                   uint64_t window, int64_t keep_stack_id, struct query_call_sites *out)
    __attribute__((warn_unused_result));

/* True when 'k' is the stack suspect 's' (NULL: none) shows: the call site the detector found
 * growing in its service. */
bool api_call_site_ranked(const struct suspect *s, const struct query_call_site *k);

/* A string as JSON, invalid UTF-8 replaced; never NULL unless out of memory. New reference. */
json_t *api_string(const char *s);

#endif
