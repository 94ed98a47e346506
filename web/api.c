/* web/api.c: the JSON API. Each handler reads through a read-only store connection, builds one
 * jansson tree and serialises it once. Parameters are validated before any query, and a bad one is
 * named in the 400 reply. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect/detect.h"
#include "base/log.h"
#include "base/srclink.h"
#include "base/units.h"
#include "base/xalloc.h"
#include "storage/fleet.h"
#include "storage/query.h"
#include "detect/suspect_labels.h"
#include "web/api.h"
#include "web/recompute.h"

#define API_MAX_LIMIT 100000
#define API_CACHE_MAX 64
#define API_CACHE_FRESH_MS 250        /* a new ranking shows this late, or one refresh later */
#define API_MICRO_TTL_MS 1000         /* other API answers are at most this stale, or one refresh */
#define API_MICRO_MAX_BODY (4u << 20) /* larger answers are not kept */
#define API_CACHE_REFRESH_MS 2000 /* a refresh taking longer than this lets another request try */

struct api_cache_entry {
	char *key;
	char *body;
	size_t len;
};

/* Any other API answer, kept briefly: a dashboard polled by many clients asks the same questions.
 */
struct api_micro_entry {
	char *key;
	char *body;
	size_t len;
	int64_t built_ms;   /* when it was computed */
	int64_t refresh_ms; /* when a request went to recompute it (0: none is) */
};

struct api_cache {
	pthread_mutex_t lock;
	int64_t ranking_id; /* the ranking every entry was built from */
	int64_t checked_ms; /* when ranking_id was last read from the database */
	int64_t refresh_ms; /* when a request went to read it again (0: none is) */
	struct api_cache_entry e[API_CACHE_MAX];
	size_t n;
	size_t next;                             /* the entry to replace when full */
	struct api_micro_entry m[API_CACHE_MAX]; /* other API answers, for API_MICRO_TTL_MS */
	size_t nm;
	size_t next_m;
};

void
api_error(struct web_reply *r, unsigned status, const char *fmt, ...)
{
	char msg[512];
	struct sbuf b = {0};
	json_t *o;
	char *text;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sbuf_utf8(&b, msg);
	o = json_pack("{s:s?}", "error", b.p ? b.p : "");
	sbuf_release(&b);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	web_reply_release(r);
	r->status = status;
	r->content_type = "application/json";
	r->body = text ? text : strdup("{\"error\":\"out of memory\"}");
	r->len = r->body ? strlen(r->body) : 0;
}

json_t *
api_string(const char *s)
{
	json_t *j = json_string(s ? s : "");
	struct sbuf b = {0};

	if (j)
		return j;
	sbuf_utf8(&b, s);
	j = json_string(b.p ? b.p : "");
	sbuf_release(&b);
	return j;
}

static json_t *
api_parse_json(const char *text, json_t *fallback)
{
	json_t *j = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;

	if (!j)
		return fallback;
	json_decref(fallback);
	return j;
}

static bool cache_get(struct api_cache *cache, int64_t id, int64_t now, const char *key,
                      struct web_reply *r);
static bool cache_get_fresh(struct api_cache *cache, int64_t now, const char *key,
                            struct web_reply *r);
static void cache_put(struct api_cache *cache, int64_t id, const char *key,
                      const struct web_reply *r);

/* The cache key of a stored-ranking request; false when it is not cacheable (a recompute window,
 * or huge parameters). */
static bool
cache_key(const struct web_ctx *c, char *key, size_t n)
{
	const char *service = web_arg(c, "service"), *limit = web_arg(c, "limit");
	const char *window = web_arg(c, "window"), *label = web_arg(c, "label");
	uint64_t w;

	/* Another window is recomputed; an invalid one is the handler's 400. */
	if (window &&
	    (web_parse_duration(window, API_MAX_WINDOW, &w) < 0 || w != c->cfg->detector.window))
		return false;
	if ((service && strlen(service) > 256) || (limit && strlen(limit) > 32) ||
	    (label && strlen(label) > 256))
		return false;
	snprintf(key, n, "%zu:%s|%s|%zu:%s", service ? strlen(service) : 0, service ? service : "",
	         limit ? limit : "", label ? strlen(label) : 0, label ? label : "");
	return true;
}

bool
api_cached(const struct web_ctx *c, struct web_reply *r)
{
	char key[600];

	return c->cache && strcmp(c->path, "/api/v1/suspects") == 0 &&
	       cache_key(c, key, sizeof(key)) && cache_get_fresh(c->cache, c->now_ms, key, r);
}

static bool
service_known(struct store *st, const char *name)
{
	int64_t id;

	return query_service_id(st, name, &id) != 1;
}

uint64_t
api_recompute_window(const struct web_ctx *c)
{
	const char *wtext = web_arg(c, "window");
	uint64_t window;

	if (!wtext || web_parse_duration(wtext, API_MAX_WINDOW, &window) < 0 ||
	    window == c->cfg->detector.window || api_window_kept(c->cfg, window, NULL, 0) < 0)
		return 0;
	return window;
}

unsigned
api_compute_ranking(struct store *st, const struct config *cfg, const char *service,
                    uint64_t window, int64_t now_ms, struct ranking *out, char *err, size_t errsz)
{
	*out = (struct ranking){0};
	if (service && !service_known(st, service)) {
		snprintf(err, errsz, "service: no service named '%.200s'", service);
		return 404;
	}
	if (detect_rank(st, cfg, service, window, now_ms, out) < 0) {
		snprintf(err, errsz, "ranking over the window failed (see the daemon log)");
		return 500;
	}
	return 200;
}

/* The suspects of out->rk shown: those carrying label 'key' = 'value' (all when 'key' is NULL), at
 * most 'limit' (0: all). 200, or 500 with 'err'. */
static unsigned
api_pick(const struct web_ctx *c, struct api_ranking *out, size_t limit, const char *key,
         const char *value, char *err, size_t errsz)
{
	const struct ranking *rk = out->rk;

	out->shown = xcalloc(rk->n ? rk->n : 1, sizeof(*out->shown));
	out->n = 0;
	for (size_t i = 0; i < rk->n && (limit == 0 || out->n < limit); i++) {
		if (key != NULL) {
			int m = suspect_labels_match(c->st, &rk->suspects[i], rk->generated_at,
			                             rk->window_seconds, key, value);

			if (m < 0) {
				snprintf(err, errsz,
				         "reading label sets failed (see the daemon log)");
				api_ranking_release(out);
				return 500;
			}
			if (m == 0)
				continue;
		}
		out->shown[out->n++] = &rk->suspects[i];
	}
	return 200;
}

/* The `window` argument, when given, into *window (else left as it is): a duration of at most
 * API_MAX_WINDOW within what is kept. 0, or -1 with the reason in err. */
static int
window_arg(const struct web_ctx *c, uint64_t *window, char *err, size_t errsz)
{
	const char *wtext = web_arg(c, "window");

	if (wtext && web_parse_duration(wtext, API_MAX_WINDOW, window) < 0) {
		snprintf(err, errsz, "window: expected a duration like 30m, 6h or 2d, at most 30d");
		return -1;
	}
	return api_window_kept(c->cfg, *window, err, errsz);
}

unsigned
api_load_ranking(const struct web_ctx *c, struct api_ranking *out, char *err, size_t errsz)
{
	const char *service = web_arg(c, "service");
	const char *ltext = web_arg(c, "limit");
	const char *label = web_arg(c, "label");
	const char *lkey = NULL, *lvalue = NULL;
	char lspec[512];
	uint64_t window = 0, limit = 0;
	int rc;

	*out = (struct api_ranking){.rk = &out->own};
	if (window_arg(c, &window, err, errsz) < 0)
		return 400;
	if (ltext && (web_parse_uint(ltext, API_MAX_LIMIT, &limit) < 0 || limit == 0)) {
		snprintf(err, errsz, "limit: expected an integer from 1 to %d", API_MAX_LIMIT);
		return 400;
	}
	if (label != NULL && label[0] != '\0') {
		size_t llen = strlen(label);

		if (llen < sizeof(lspec))
			memcpy(lspec, label, llen + 1);
		if (llen >= sizeof(lspec) || !store_label_filter_parse(lspec, &lkey, &lvalue)) {
			snprintf(err, errsz, "label: expected KEY=VALUE (at most %zu bytes)",
			         sizeof(lspec) - 1);
			return 400;
		}
	}
	window = api_recompute_window(c);
	if (window && c->recomputed) {
		const char *why;
		unsigned status;
		const struct ranking *rk = recompute_result(c->recomputed, &status, &why);

		if (status != 200) {
			snprintf(err, errsz, "%s", why);
			return status;
		}
		out->rk = rk;
	} else if (window) {
		unsigned status = api_compute_ranking(c->st, c->cfg, service, window, c->now_ms,
		                                      &out->own, err, errsz);

		if (status != 200) {
			api_ranking_release(out);
			return status;
		}
	} else {
		if (service && !service_known(c->st, service)) {
			snprintf(err, errsz, "service: no service named '%.200s'", service);
			return 404;
		}
		rc =
		    store_ranking_load(c->st, service, lkey != NULL ? 0 : (size_t)limit, &out->own);
		if (rc < 0) {
			log_err("web: loading the stored ranking: %s", store_errmsg(c->st));
			snprintf(err, errsz, "loading the ranking failed (see the daemon log)");
			return 500;
		}
		if (rc == 1)
			out->own = (struct ranking){.window_seconds = c->cfg->detector.window};
	}
	out->window = window;
	return api_pick(c, out, (size_t)limit, lkey, lvalue, err, errsz);
}

void
api_ranking_release(struct api_ranking *r)
{
	ranking_release(&r->own);
	free(r->shown);
	*r = (struct api_ranking){.rk = &r->own};
}

char *
api_micro_key(const struct web_ctx *c)
{
	static const char *const args[] = {"service", "window", "step",     "limit",
	                                   "status",  "after",  "inactive", "label"};
	struct sbuf b = {.max = 2048};
	size_t n;

	if (strncmp(c->path, "/api/v1/", 8) != 0)
		return NULL;
	if (strcmp(c->path, "/api/v1/suspects") == 0 && !api_recompute_window(c))
		return NULL;
	sbuf_url(&b, c->path);
	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		const char *v = web_arg(c, args[i]);

		if (!v)
			continue;
		sbuf_addf(&b, "&%s=", args[i]);
		sbuf_url(&b, v);
	}
	return sbuf_steal(&b, &n);
}

/* Serialise 'o' (stolen) into a 200 reply. */
static void
reply_json(struct web_reply *r, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;

	json_decref(o);
	if (!text) {
		api_error(r, 500, "out of memory");
		return;
	}
	web_reply_release(r);
	r->status = 200;
	r->content_type = "application/json";
	r->body = text;
	r->len = strlen(text);
}

/* A suspect as the API shows it: detect_suspect_json() and its "labels" over the ranking's window
 * (suspect_labels_json(): at most detector.max_label_sets sets, then the others). */
static json_t *
api_suspect_json(const struct web_ctx *c, const struct ranking *rk, const struct suspect *s)
{
	json_t *o = detect_suspect_json(s);
	struct store_labels lb = {0};

	if (c->cfg->detector.max_label_sets > 0 &&
	    suspect_labels_load(c->st, s, rk->generated_at, rk->window_seconds,
	                        c->cfg->detector.max_label_sets, &lb) < 0)
		log_err("web: label sets of location %lld: %s", (long long)s->location_id,
		        store_errmsg(c->st));
	json_object_set_new(o, "labels", suspect_labels_json(&lb));
	store_labels_release(&lb);
	return o;
}

static void
api_suspects(const struct web_ctx *c, struct web_reply *r)
{
	struct api_ranking ar;
	char err[300], key[600];
	unsigned status;
	json_t *o, *arr;
	int64_t ranking_id = 0;
	bool cacheable = c->cache && !api_recompute_window(c);

	/* The stored ranking's answers are cached until the detector stores the next one. */
	if (cacheable) {
		cacheable = cache_key(c, key, sizeof(key)) &&
		            query_latest_ranking_id(c->st, &ranking_id) == 0;
		if (cacheable && cache_get(c->cache, ranking_id, c->now_ms, key, r))
			return;
	}
	status = api_load_ranking(c, &ar, err, sizeof(err));
	if (status != 200) {
		api_error(r, status, "%s", err);
		return;
	}
	o = json_object();
	arr = json_array();
	if (!o || !arr) {
		json_decref(o);
		json_decref(arr);
		api_ranking_release(&ar);
		api_error(r, 500, "out of memory");
		return;
	}
	json_object_set_new(o, "generated_at", detect_time_json(ar.rk->generated_at));
	json_object_set_new(o, "window_seconds", json_integer((json_int_t)ar.rk->window_seconds));
	for (size_t i = 0; i < ar.n; i++)
		json_array_append_new(arr, api_suspect_json(c, ar.rk, ar.shown[i]));
	json_object_set_new(o, "suspects", arr);
	api_ranking_release(&ar);
	reply_json(r, o);
	if (cacheable && r->status == 200)
		cache_put(c->cache, ranking_id, key, r);
}

/* Parse the decimal id in 'p' up to '/' or the end; the rest is returned in *rest. */
static int
parse_id(const char *p, int64_t *id, const char **rest)
{
	char *end;
	long long v;

	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	v = strtoll(p, &end, 10);
	if (errno || v <= 0 || (*end && *end != '/'))
		return -1;
	*id = v;
	*rest = end;
	return 0;
}

/* The call sites of a location in one service as JSON: each kept stack with the frame that calls
 * the location in it, its frames, its count at the start of the window and now, and its series.
 * New reference. */
static json_t *
call_sites_json(const struct store_location *loc, const struct query_call_sites *cs,
                const struct suspect *s)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < cs->n; i++) {
		const struct query_call_site *k = &cs->v[i];
		char *caller = detect_caller_of(k->frames_json, loc->function, loc->line);
		json_t *e = json_object(), *series = json_array();

		json_object_set_new(e, "stack_id", json_integer(k->stack_id));
		json_object_set_new(e, "caller", caller ? api_string(caller) : json_null());
		json_object_set_new(e, "frames", api_parse_json(k->frames_json, json_array()));
		json_object_set_new(e, "first", json_integer((json_int_t)k->first));
		json_object_set_new(e, "last", json_integer((json_int_t)k->last));
		json_object_set_new(e, "growth",
		                    json_integer((json_int_t)k->last - (json_int_t)k->first));
		json_object_set_new(e, "ranked", json_boolean(api_call_site_ranked(s, k)));
		for (size_t p = 0; p < k->npoints; p++)
			json_array_append_new(series, json_pack("[I,I]", (json_int_t)k->ts[p],
			                                        (json_int_t)k->count[p]));
		json_object_set_new(e, "series", series);
		json_array_append_new(arr, e);
		free(caller);
	}
	return arr;
}

static void
api_location(const struct web_ctx *c, int64_t id, struct web_reply *r)
{
	const char *service = web_arg(c, "service");
	struct store_location loc;
	struct query_instance *inst = NULL;
	size_t ninst = 0;
	struct ranking rk = {0};
	struct query_call_sites cs = {0};
	const struct suspect *s = NULL;
	struct api_source ps;
	struct sbuf url = {.max = 16 * 1024};
	uint64_t window = c->cfg->detector.window;
	int32_t max_wait, median_wait;
	char err[128];
	json_t *o, *arr;
	int rc;

	if (window_arg(c, &window, err, sizeof(err)) < 0) {
		api_error(r, 400, "%s", err);
		return;
	}
	rc = store_location_get(c->st, id, &loc);
	if (rc == 1) {
		api_error(r, 404, "location %lld not found", (long long)id);
		return;
	}
	if (rc < 0 ||
	    query_location_instances(c->st, id, api_recent(c->cfg, loc.last_seen), &inst, &ninst) <
	        0 ||
	    query_location_ages(c->st, id, loc.last_seen - 3600 * 1000, &max_wait, &median_wait) <
	        0 ||
	    store_ranking_load(c->st, NULL, 0, &rk) < 0) {
		log_err("web: location %lld: %s", (long long)id, store_errmsg(c->st));
		if (rc == 0)
			store_location_release(&loc);
		query_instances_free(inst, ninst);
		api_error(r, 500, "reading location %lld failed (see the daemon log)",
		          (long long)id);
		return;
	}
	/* The service the call sites are of: the one asked for, else the one it is ranked in, else
	 * the first instance's (as the location page). */
	for (size_t i = 0; i < rk.n && !s; i++) {
		if (rk.suspects[i].location_id == id &&
		    (!service || strcmp(rk.suspects[i].service, service) == 0))
			s = &rk.suspects[i];
	}
	if (!service)
		service = s ? s->service : ninst > 0 ? inst[0].service : NULL;
	if (api_call_sites(c, id, service, window, s ? s->stack_id : 0, &cs) < 0) {
		store_location_release(&loc);
		query_instances_free(inst, ninst);
		ranking_release(&rk);
		api_error(r, 500,
		          "reading the call sites of location %lld failed (see the daemon log)",
		          (long long)id);
		return;
	}
	o = json_object();
	json_object_set_new(o, "id", json_integer(loc.id));
	json_object_set_new(o, "function", api_string(loc.function));
	json_object_set_new(o, "file", api_string(loc.file));
	json_object_set_new(o, "line", json_integer(loc.line));
	json_object_set_new(o, "op", api_string(loc.op));
	json_object_set_new(o, "first_seen", detect_time_json(loc.first_seen));
	json_object_set_new(o, "last_seen", detect_time_json(loc.last_seen));
	json_object_set_new(o, "oldest_wait_minutes",
	                    max_wait >= 0 ? json_integer(max_wait) : json_null());
	json_object_set_new(o, "median_wait_minutes",
	                    median_wait >= 0 ? json_integer(median_wait) : json_null());
	json_object_set_new(o, "stack", api_parse_json(loc.stack_json, json_array()));
	api_source_init(&ps, c, service);
	json_object_set_new(o, "source_url",
	                    api_source_url(&ps, loc.file, loc.line, &url) == 0 ? api_string(url.p)
	                                                                       : json_null());
	sbuf_release(&url);
	api_source_release(&ps);
	json_object_set_new(o, "call_sites_service", service ? api_string(service) : json_null());
	json_object_set_new(o, "call_sites", call_sites_json(&loc, &cs, s));
	json_object_set_new(o, "call_sites_seen", json_integer((json_int_t)cs.nstacks));
	query_call_sites_release(&cs);
	arr = json_array();
	for (size_t i = 0; i < ninst; i++) {
		json_t *e = json_object();

		json_object_set_new(e, "service", api_string(inst[i].service));
		json_object_set_new(e, "target", api_string(inst[i].target));
		json_object_set_new(e, "count", json_integer((json_int_t)inst[i].count));
		json_object_set_new(e, "leaked", json_integer((json_int_t)inst[i].leaked));
		json_object_set_new(e, "total_goroutines",
		                    inst[i].total_goroutines >= 0
		                        ? json_integer(inst[i].total_goroutines)
		                        : json_null());
		json_object_set_new(e, "scraped_at", detect_time_json(inst[i].ts));
		json_array_append_new(arr, e);
	}
	json_object_set_new(o, "instances", arr);
	arr = json_array();
	for (size_t i = 0; i < rk.n; i++) {
		if (rk.suspects[i].location_id == id)
			json_array_append_new(arr, api_suspect_json(c, &rk, &rk.suspects[i]));
	}
	json_object_set_new(o, "suspects", arr);
	ranking_release(&rk);
	query_instances_free(inst, ninst);
	store_location_release(&loc);
	reply_json(r, o);
}

static json_t *
json_number_or_null(double v)
{
	return isnan(v) ? json_null() : json_integer((json_int_t)v);
}

static void
api_series(const struct web_ctx *c, int64_t id, struct web_reply *r)
{
	const char *service = web_arg(c, "service");
	struct store_location loc;
	struct query_series q;
	uint64_t window = c->cfg->detector.window, step = 0;
	int64_t from, to, lookback;
	char err[128];
	json_t *o, *arr;
	int rc;

	if (window_arg(c, &window, err, sizeof(err)) < 0) {
		api_error(r, 400, "%s", err);
		return;
	}
	if (web_arg(c, "step") &&
	    web_parse_duration(web_arg(c, "step"), API_MAX_WINDOW, &step) < 0) {
		api_error(r, 400, "step: expected a duration like 10s, 1m or 1h");
		return;
	}
	if (step && window / step > QUERY_MAX_BUCKETS) {
		api_error(r, 400, "step: too small for the window (at most %d points)",
		          QUERY_MAX_BUCKETS);
		return;
	}
	rc = store_location_get(c->st, id, &loc);
	if (rc == 1) {
		api_error(r, 404, "location %lld not found", (long long)id);
		return;
	}
	if (rc < 0) {
		log_err("web: location %lld: %s", (long long)id, store_errmsg(c->st));
		api_error(r, 500, "reading location %lld failed (see the daemon log)",
		          (long long)id);
		return;
	}
	store_location_release(&loc);
	api_series_range(c->cfg, window, &step, c->now_ms, &from, &to, &lookback);
	if (query_location_series(c->st, id, service, from, to, (int64_t)step * 1000, lookback,
	                          &q) < 0) {
		log_err("web: series of location %lld: %s", (long long)id, store_errmsg(c->st));
		api_error(r, 500, "reading the series failed (see the daemon log)");
		return;
	}
	o = json_object();
	json_object_set_new(o, "location_id", json_integer(id));
	json_object_set_new(o, "from", detect_time_json(from));
	json_object_set_new(o, "to", detect_time_json(to));
	json_object_set_new(o, "step_seconds", json_integer((json_int_t)step));
	arr = json_array();
	for (size_t b = 0; b < q.nbuckets; b++)
		json_array_append_new(arr, json_integer(from + (int64_t)b * q.step));
	json_object_set_new(o, "timestamps", arr);
	arr = json_array();
	for (size_t b = 0; b < q.nbuckets; b++)
		json_array_append_new(arr, json_number_or_null(q.total[b]));
	json_object_set_new(o, "total", arr);
	arr = json_array();
	for (size_t i = 0; i < q.ninst; i++) {
		json_t *e = json_object(), *vals = json_array();

		json_object_set_new(e, "service", api_string(q.inst[i].service));
		json_object_set_new(e, "target", api_string(q.inst[i].target));
		for (size_t b = 0; b < q.nbuckets; b++)
			json_array_append_new(vals, json_number_or_null(q.inst[i].values[b]));
		json_object_set_new(e, "values", vals);
		json_array_append_new(arr, e);
	}
	json_object_set_new(o, "instances", arr);
	json_object_set_new(o, "instances_truncated", json_boolean(q.truncated));
	arr = json_array();
	for (size_t i = 0; i < q.nrestarts; i++) {
		const char *target = "";

		for (size_t j = 0; j < q.ninst; j++) {
			if (q.inst[j].target_id == q.restarts[i].target_id)
				target = q.inst[j].target;
		}
		json_array_append_new(arr, json_pack("{s:o,s:I}", "target", api_string(target),
		                                     "ts", (json_int_t)q.restarts[i].ts));
	}
	json_object_set_new(o, "restarts", arr);
	query_series_release(&q);
	reply_json(r, o);
}

static void
api_services(const struct web_ctx *c, struct web_reply *r)
{
	struct query_service *v;
	size_t n;
	json_t *o, *arr;

	if (query_services(c->st, &v, &n) < 0) {
		log_err("web: services: %s", store_errmsg(c->st));
		api_error(r, 500, "reading services failed (see the daemon log)");
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_object();

		json_object_set_new(e, "name", api_string(v[i].name));
		json_object_set_new(e, "labels", api_parse_json(v[i].labels_json, json_object()));
		json_object_set_new(e, "targets", json_integer(v[i].targets));
		json_object_set_new(e, "targets_up", json_integer(v[i].targets_up));
		json_object_set_new(e, "last_scrape", detect_time_json(v[i].last_scrape));
		json_object_set_new(e, "goroutines",
		                    v[i].goroutines >= 0 ? json_integer(v[i].goroutines)
		                                         : json_null());
		json_array_append_new(arr, e);
	}
	query_services_free(v, n);
	o = json_object();
	json_object_set_new(o, "services", arr);
	reply_json(r, o);
}

#define API_STATUS_PREFIX_MAX 200

unsigned
api_targets_filter(const struct web_ctx *c, struct query_targets_filter *f, char *err, size_t errsz)
{
	const char *status = web_arg(c, "status"), *inactive = web_arg(c, "inactive");
	const char *ltext = web_arg(c, "limit"), *atext = web_arg(c, "after");
	uint64_t limit = API_TARGETS_LIMIT, after = 0;

	*f = (struct query_targets_filter){.service = web_arg(c, "service")};
	if (ltext && (web_parse_uint(ltext, API_TARGETS_MAX, &limit) < 0 || limit == 0)) {
		snprintf(err, errsz, "limit: expected an integer from 1 to %d", API_TARGETS_MAX);
		return 400;
	}
	if (atext && web_parse_uint(atext, INT64_MAX, &after) < 0) {
		snprintf(err, errsz,
		         "after: expected the \"next\" of the previous page (a target id)");
		return 400;
	}
	if (inactive && strcmp(inactive, "1") != 0 && strcmp(inactive, "true") != 0 &&
	    strcmp(inactive, "0") != 0 && strcmp(inactive, "false") != 0) {
		snprintf(err, errsz, "inactive: expected 1 or 0");
		return 400;
	}
	if (status && strlen(status) > API_STATUS_PREFIX_MAX) {
		snprintf(err, errsz, "status: at most %d bytes", API_STATUS_PREFIX_MAX);
		return 400;
	}
	if (!status)
		f->state = QUERY_TARGETS_ANY;
	else if (strcmp(status, "up") == 0)
		f->state = QUERY_TARGETS_UP;
	else if (strcmp(status, "unknown") == 0)
		f->state = QUERY_TARGETS_UNKNOWN;
	else
		f->state = QUERY_TARGETS_DOWN;
	if (f->state == QUERY_TARGETS_DOWN && strcmp(status, "down") != 0)
		f->status_prefix = status;
	f->inactive = inactive && (strcmp(inactive, "1") == 0 || strcmp(inactive, "true") == 0);
	f->limit = (size_t)limit;
	f->after = (int64_t)after;
	return 200;
}

static void
api_targets(const struct web_ctx *c, struct web_reply *r)
{
	struct query_targets_filter f;
	struct target_health *h;
	size_t n;
	int64_t next;
	json_t *o, *arr;
	char err[300];
	int rc;

	if (api_targets_filter(c, &f, err, sizeof(err)) != 200) {
		api_error(r, 400, "%s", err);
		return;
	}
	rc = query_targets(c->st, &f, &h, &n, &next);
	if (rc == 1) {
		api_error(r, 404, "service: no service named '%.200s'", f.service);
		return;
	}
	if (rc < 0) {
		log_err("web: targets: %s", store_errmsg(c->st));
		api_error(r, 500, "reading targets failed (see the daemon log)");
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_object();
		bool up = h[i].last_status && strcmp(h[i].last_status, "ok") == 0;

		json_object_set_new(e, "id", json_integer(h[i].target_id));
		json_object_set_new(e, "service", api_string(h[i].service));
		json_object_set_new(e, "url", api_string(h[i].url));
		json_object_set_new(e, "active", json_boolean(h[i].active));
		json_object_set_new(e, "up", json_boolean(up));
		json_object_set_new(e, "status",
		                    h[i].last_status ? api_string(h[i].last_status) : json_null());
		json_object_set_new(e, "error",
		                    h[i].last_status && !up ? api_string(h[i].last_status)
		                                            : json_null());
		json_object_set_new(e, "last_scrape", detect_time_json(h[i].last_scrape));
		json_object_set_new(e, "last_success", detect_time_json(h[i].last_success));
		json_object_set_new(e, "duration_ms", json_integer(h[i].last_duration_ms));
		json_object_set_new(e, "bytes", json_integer((json_int_t)h[i].last_bytes));
		json_object_set_new(e, "goroutines",
		                    h[i].last_goroutines >= 0 ? json_integer(h[i].last_goroutines)
		                                              : json_null());
		json_object_set_new(e, "consecutive_failures",
		                    json_integer(h[i].consecutive_failures));
		json_array_append_new(arr, e);
	}
	target_health_free(h, n);
	o = json_object();
	json_object_set_new(o, "targets", arr);
	/* The cursor of the next page (pass it as ?after=), null on the last one. */
	json_object_set_new(o, "next", next ? json_integer(next) : json_null());
	reply_json(r, o);
}

/* The daemons sharing the database: each shard's, live or not (storage/fleet.h). */
static void
api_daemons(const struct web_ctx *c, struct web_reply *r)
{
	struct fleet_daemon *d;
	size_t n;
	json_t *o, *arr;

	if (fleet_list(c->st, c->now_ms, &d, &n) < 0) {
		log_err("web: daemons: %s", store_errmsg(c->st));
		api_error(r, 500, "reading the daemons failed (see the daemon log)");
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_object();

		json_object_set_new(e, "shard", json_integer(d[i].shard));
		json_object_set_new(e, "shards", json_integer(d[i].shards));
		json_object_set_new(e, "host", api_string(d[i].host));
		json_object_set_new(e, "pid", json_integer(d[i].pid));
		json_object_set_new(e, "listen", api_string(d[i].listen));
		json_object_set_new(e, "version", api_string(d[i].version));
		json_object_set_new(e, "started", detect_time_json(d[i].started));
		json_object_set_new(e, "heartbeat", detect_time_json(d[i].heartbeat));
		json_object_set_new(e, "stopped",
		                    d[i].stopped ? detect_time_json(d[i].stopped) : json_null());
		json_object_set_new(e, "live", json_boolean(d[i].live));
		json_array_append_new(arr, e);
	}
	fleet_list_free(d, n);
	o = json_object();
	json_object_set_new(o, "daemons", arr);
	reply_json(r, o);
}

void
api_handle(const struct web_ctx *c, struct web_reply *r)
{
	const char *p = c->path + strlen("/api/v1/");
	const char *rest;
	int64_t id;

	if (strcmp(p, "suspects") == 0) {
		api_suspects(c, r);
	} else if (strcmp(p, "services") == 0) {
		api_services(c, r);
	} else if (strcmp(p, "targets") == 0) {
		api_targets(c, r);
	} else if (strcmp(p, "daemons") == 0) {
		api_daemons(c, r);
	} else if (strncmp(p, "locations/", 10) == 0) {
		if (parse_id(p + 10, &id, &rest) < 0)
			api_error(r, 404,
			          "no such location: expected /api/v1/locations/{id} with a "
			          "positive integer id");
		else if (*rest == '\0')
			api_location(c, id, r);
		else if (strcmp(rest, "/series") == 0)
			api_series(c, id, r);
		else
			api_error(r, 404, "not found");
	} else {
		api_error(r, 404,
		          "not found: see /api/v1/suspects, /api/v1/locations/{id}, "
		          "/api/v1/locations/{id}/series, /api/v1/services, /api/v1/targets, "
		          "/api/v1/daemons");
	}
}

int
api_window_kept(const struct config *cfg, uint64_t window, char *err, size_t errsz)
{
	char kept[32];

	if (cfg->retention_rollup == 0 || window <= cfg->retention_rollup)
		return 0;
	units_fmt_duration(cfg->retention_rollup, kept, sizeof(kept));
	snprintf(err, errsz, "window: at most %s, as long as data is kept (retention.rollup)",
	         kept);
	return -1;
}

void
api_series_range(const struct config *cfg, uint64_t window, uint64_t *step, int64_t now_ms,
                 int64_t *from, int64_t *to, int64_t *lookback_ms)
{
	uint64_t interval = cfg->scrape_interval ? cfg->scrape_interval : 60;
	int64_t s;

	if (!*step) {
		*step = window / 240;
		if (*step < interval)
			*step = interval;
		if (*step < 1)
			*step = 1;
	}
	s = (int64_t)*step * 1000;
	*to = (now_ms / s + 1) * s;
	*from = *to - (int64_t)(window / *step) * s;
	if (*from == *to)
		*from = *to - s;
	/* An instance missing from a bucket still counts in the total for up to three scrape
	 * intervals. */
	*lookback_ms = 3 * (int64_t)interval * 1000;
	if (*lookback_ms < s)
		*lookback_ms = s;
}

struct api_cache *
api_cache_new(void)
{
	struct api_cache *cache = calloc(1, sizeof(*cache));

	if (cache)
		pthread_mutex_init(&cache->lock, NULL);
	return cache;
}

/* With the lock held. */
static void
cache_clear(struct api_cache *cache)
{
	for (size_t i = 0; i < cache->n; i++) {
		free(cache->e[i].key);
		free(cache->e[i].body);
	}
	cache->n = 0;
	cache->next = 0;
}

void
api_cache_free(struct api_cache *cache)
{
	if (!cache)
		return;
	cache_clear(cache);
	for (size_t i = 0; i < cache->nm; i++) {
		free(cache->m[i].key);
		free(cache->m[i].body);
	}
	pthread_mutex_destroy(&cache->lock);
	free(cache);
}

/* With the lock held: a copy of the body cached for 'key' into 'r', false when there is none. */
static bool
cache_copy(struct api_cache *cache, const char *key, struct web_reply *r)
{
	for (size_t i = 0; i < cache->n; i++) {
		char *body;

		if (strcmp(cache->e[i].key, key) != 0)
			continue;
		body = malloc(cache->e[i].len + 1);
		if (!body)
			return false;
		memcpy(body, cache->e[i].body, cache->e[i].len + 1);
		web_reply_release(r);
		*r = (struct web_reply){.status = 200,
		                        .content_type = "application/json",
		                        .body = body,
		                        .len = cache->e[i].len};
		return true;
	}
	return false;
}

/* The body cached for 'key' built from ranking 'id' (just read from the database at 'now'). */
static bool
cache_get(struct api_cache *cache, int64_t id, int64_t now, const char *key, struct web_reply *r)
{
	bool hit;

	pthread_mutex_lock(&cache->lock);
	if (cache->ranking_id != id)
		cache_clear(cache);
	cache->ranking_id = id;
	cache->checked_ms = now;
	cache->refresh_ms = 0;
	hit = cache_copy(cache, key, r);
	pthread_mutex_unlock(&cache->lock);
	return hit;
}

/* The body cached for 'key' when the ranking id was confirmed less than API_CACHE_FRESH_MS ago,
 * answered without touching the database, so a busy database never delays the most common request.
 * Once that is older, one request at a time goes to read the ranking id again while the others keep
 * getting the cached body. */
static bool
cache_get_fresh(struct api_cache *cache, int64_t now, const char *key, struct web_reply *r)
{
	int64_t age;
	bool hit = false;

	pthread_mutex_lock(&cache->lock);
	age = now - cache->checked_ms;
	if (age >= 0 && age < API_CACHE_FRESH_MS) {
		hit = cache_copy(cache, key, r);
	} else if (cache->refresh_ms && now - cache->refresh_ms < API_CACHE_REFRESH_MS) {
		hit = cache_copy(cache, key, r); /* another request is refreshing it */
	} else {
		cache->refresh_ms = now; /* this one will */
	}
	pthread_mutex_unlock(&cache->lock);
	return hit;
}

static void
cache_put(struct api_cache *cache, int64_t id, const char *key, const struct web_reply *r)
{
	struct api_cache_entry e = {.key = strdup(key), .body = malloc(r->len + 1), .len = r->len};

	if (!e.key || !e.body) {
		free(e.key);
		free(e.body);
		return;
	}
	memcpy(e.body, r->body, r->len);
	e.body[r->len] = '\0';
	pthread_mutex_lock(&cache->lock);
	if (cache->ranking_id == id) {
		struct api_cache_entry *slot;

		if (cache->n < API_CACHE_MAX) {
			slot = &cache->e[cache->n++];
		} else {
			slot = &cache->e[cache->next];
			cache->next = (cache->next + 1) % API_CACHE_MAX;
			free(slot->key);
			free(slot->body);
		}
		*slot = e;
		e = (struct api_cache_entry){0};
	}
	pthread_mutex_unlock(&cache->lock);
	free(e.key);
	free(e.body);
}

int64_t
api_recent(const struct config *cfg, int64_t last_seen)
{
	int64_t span = 10 * (int64_t)(cfg->scrape_interval ? cfg->scrape_interval : 60);

	return last_seen - (span < 60 ? 60 : span) * 1000;
}

void
api_source_init(struct api_source *ps, const struct web_ctx *c, const char *service)
{
	struct query_service *sv = NULL;
	size_t nsv = 0;

	*ps = (struct api_source){0};
	for (size_t i = 0; service != NULL && i < c->cfg->nservices; i++) {
		const struct config_service *cs = &c->cfg->services[i];

		if (cs->source.url != NULL && strcmp(cs->name, service) == 0)
			ps->src = &cs->source;
	}
	if (ps->src == NULL || ps->src->version_label == NULL ||
	    query_services(c->st, &sv, &nsv) < 0)
		return;
	for (size_t i = 0; i < nsv && ps->version == NULL; i++) {
		if (strcmp(sv[i].name, service) == 0)
			ps->version = srclink_version(ps->src, sv[i].labels_json);
	}
	query_services_free(sv, nsv);
}

void
api_source_release(struct api_source *ps)
{
	free(ps->version);
	*ps = (struct api_source){0};
}

int
api_source_url(const struct api_source *ps, const char *file, long long line, struct sbuf *url)
{
	if (ps->src == NULL || line <= 0 ||
	    srclink_expand(ps->src, file, (unsigned long)line, ps->version, url) != 0 ||
	    url->failed)
		return -1;
	return 0;
}

bool
api_call_site_ranked(const struct suspect *s, const struct query_call_site *k)
{
	if (s == NULL)
		return false;
	if (s->stack_id != 0)
		return k->stack_id == s->stack_id;
	return s->stack_json != NULL && k->frames_json != NULL &&
	       strcmp(s->stack_json, k->frames_json) == 0;
}

int
api_call_sites(const struct web_ctx *c, int64_t location_id, const char *service, uint64_t window,
               int64_t keep_stack_id, struct query_call_sites *out)
{
	int64_t interval = (int64_t)(c->cfg->scrape_interval ? c->cfg->scrape_interval : 60) * 1000;
	int64_t service_id, step;
	int rc;

	*out = (struct query_call_sites){0};
	if (service == NULL)
		return 0;
	rc = query_service_id(c->st, service, &service_id);
	if (rc == 1)
		return 0;
	/* An instance's point is its last scrape in the bucket: two intervals per bucket at least,
	 * so that each instance has one in each. */
	step = (int64_t)window * 1000 / QUERY_CALL_SITES_POINTS;
	if (step < 2 * interval)
		step = 2 * interval;
	if (rc < 0 || query_location_call_sites(c->st, location_id, service_id,
	                                        c->now_ms - (int64_t)window * 1000, c->now_ms + 1,
	                                        step, keep_stack_id, out) < 0) {
		log_err("web: call sites of location %lld: %s", (long long)location_id,
		        store_errmsg(c->st));
		return -1;
	}
	return 0;
}

bool
api_micro_get(struct api_cache *cache, const char *key, int64_t now, struct web_reply *r)
{
	bool hit = false;

	pthread_mutex_lock(&cache->lock);
	for (size_t i = 0; i < cache->nm; i++) {
		struct api_micro_entry *e = &cache->m[i];
		char *body;

		if (strcmp(e->key, key) != 0)
			continue;
		/* Fresh; or stale while another request recomputes it; else this request will. */
		if (now - e->built_ms >= API_MICRO_TTL_MS &&
		    !(e->refresh_ms && now - e->refresh_ms < API_CACHE_REFRESH_MS)) {
			e->refresh_ms = now;
			break;
		}
		body = malloc(e->len + 1);
		if (!body)
			break;
		memcpy(body, e->body, e->len + 1);
		web_reply_release(r);
		*r = (struct web_reply){
		    .status = 200, .content_type = "application/json", .body = body, .len = e->len};
		hit = true;
		break;
	}
	pthread_mutex_unlock(&cache->lock);
	return hit;
}

void
api_micro_put(struct api_cache *cache, const char *key, int64_t now, const struct web_reply *r)
{
	struct api_micro_entry e = {.key = strdup(key), .len = r->len, .built_ms = now};
	struct api_micro_entry *slot = NULL;

	if (r->status != 200 || r->len > API_MICRO_MAX_BODY || !r->content_type ||
	    strcmp(r->content_type, "application/json") != 0) {
		free(e.key);
		return;
	}
	e.body = malloc(r->len + 1);
	if (!e.key || !e.body) {
		free(e.key);
		free(e.body);
		return;
	}
	memcpy(e.body, r->body, r->len);
	e.body[r->len] = '\0';
	pthread_mutex_lock(&cache->lock);
	for (size_t i = 0; i < cache->nm && !slot; i++) {
		if (strcmp(cache->m[i].key, key) == 0)
			slot = &cache->m[i];
	}
	if (!slot && cache->nm < API_CACHE_MAX) {
		slot = &cache->m[cache->nm++];
		*slot = (struct api_micro_entry){0};
	} else if (!slot) {
		slot = &cache->m[cache->next_m];
		cache->next_m = (cache->next_m + 1) % API_CACHE_MAX;
	}
	free(slot->key);
	free(slot->body);
	*slot = e;
	pthread_mutex_unlock(&cache->lock);
}
