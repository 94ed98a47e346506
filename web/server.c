/* web/server.c: the HTTP side of the dashboard: libmicrohttpd with its own thread pool, routing,
 * GET/HEAD only, optional bearer or basic auth, optional TLS, bounded connections and request
 * timeouts, security headers.
 *
 * Each request borrows a read-only SQLite connection from a small pool (at most one per server
 * thread), so the web never holds the collector's connection and never writes: with WAL, readers do
 * not block the writer. A SQLite progress handler enforces the request timeout on slow queries, and
 * ends them at once when the server stops, so that a stop never waits for a slow request.
 *
 * DESIGN: the configuration reaches requests as an immutable, reference-counted bundle (struct
 * web_conf): a config snapshot and what is loaded from it (the auth secrets, the base URL), made
 * together so a request never sees the secrets of one config with the settings of another. A
 * request takes a reference to the current bundle when it starts and drops it when it ends;
 * web_reload makes a new bundle and swaps the pointer. The lock is held only to copy the pointer,
 * so a reload lands at once, however slow the requests in flight, and they finish on the snapshot
 * they started with. What libmicrohttpd fixes at start (the address, TLS, the connection limit and
 * timeout) is read once by web_start; those keys need a restart (base/config.c marks them). */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "detect/detector.h"
#include "detect/window.h"
#include "storage/db.h"
#include "storage/query.h"
#include "web/api.h"
#include "web/health.h"
#include "web/metrics.h"
#include "web/pages.h"
#include "web/recompute.h"
#include "web/server.h"

#define WEB_TLS_FILE_MAX (1u << 20)
#define WEB_POOL_MAX 32     /* read connections at most (requests using the database at once) */
#define WEB_POOL_RESERVED 2 /* of which kept for priority requests */

static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' "
                          "data:; connect-src 'self'; "
                          "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

static const char app_css[] =
#include "web/static/app.css.inc"
    ;
static const char app_js[] =
#include "web/static/app.js.inc"
    ;
static const char favicon_svg[] =
#include "web/static/favicon.svg.inc"
    ;

static const struct {
	const char *path;
	const char *type;
	const char *body;
	size_t len;
} statics[] = {
    {"/static/app.css", "text/css; charset=utf-8", app_css, sizeof(app_css) - 1},
    {"/static/app.js", "text/javascript; charset=utf-8", app_js, sizeof(app_js) - 1},
    {"/static/favicon.svg", "image/svg+xml", favicon_svg, sizeof(favicon_svg) - 1},
};

/* A pooled read-only connection with the deadline its progress handler enforces. */
struct conn {
	struct store *st;
	_Atomic int64_t deadline_ms;
	const atomic_bool *stopping; /* the server's web_stop() flag */
};

/* What requests read of one configuration (see DESIGN above). Immutable once made. */
struct web_conf {
	atomic_uint refs;
	struct config *cfg; /* a reference of its own */
	char *token;        /* bearer token, NULL: none */
	char *basic_user;   /* NULL: no basic auth */
	char *basic_pass;
	char *base_url; /* the dashboard's external URL, no trailing slash */
};

struct web {
	struct MHD_Daemon *mhd;
	/* Fixed at start (restart keys). */
	char *database;
	char *database_shown; /* in messages: its password masked (db_target_shown()) */
	unsigned shard,
	    shards; /* shard.index, .count: the fleet a page shows, this daemon's part */
	char *listen;
	char *tls_key;
	char *tls_cert;
	uint64_t request_timeout; /* seconds */
	atomic_bool stopping;     /* web_stop(): every query ends at once */

	pthread_mutex_t conf_lock; /* held only to copy 'conf' and count a reference */
	struct web_conf *conf;     /* the current bundle, a reference of its own */

	pthread_mutex_t pool_lock;
	pthread_cond_t pool_free;
	struct conn *pool[WEB_POOL_MAX];
	size_t npool;  /* idle connections in pool[] */
	size_t in_use; /* connections lent to requests */
	size_t slots;  /* at most this many lent at once */

	_Atomic int64_t heartbeat_ms;
	_Atomic int64_t refused_since_ms; /* the writer's writes refused since (wall), 0: taken */
	_Atomic uint64_t queued, queued_max, dropped; /* web_set_ingest() */
	_Atomic int64_t queued_max_ms;
	pthread_mutex_t sources_lock;
	struct targets_source_state *sources; /* web_set_sources()'s copy, under sources_lock */
	size_t nsources, sources_total;
	struct detector *_Atomic detector; /* borrowed, NULL: none reports here */
	struct metrics *metrics;
	struct api_cache *cache;
	struct recompute *recompute;
};

/* Read a whole small file into a NUL-terminated string (caller frees). NULL on error (logged). */
static char *
read_small_file(const char *path, size_t max, const char *what)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f) {
		log_err("web: %s '%s': %s", what, path, strerror(errno));
		return NULL;
	}
	buf = malloc(max + 1);
	if (!buf) {
		fclose(f);
		log_err("web: %s '%s': out of memory", what, path);
		return NULL;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f) || n > max) {
		log_err("web: %s '%s': %s", what, path,
		        ferror(f) ? strerror(errno) : "file too large");
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* A secret file (base/secret.h's rule). NULL on error (logged). Caller owns. */
static char *
read_secret(const char *path, const char *what)
{
	char err[512], *s = secret_read(path, err, sizeof(err));

	if (s == NULL)
		log_err("web: %s %s", what, err);
	return s;
}

/* ---- the configuration bundle ---- */

static void
conf_put(struct web_conf *c)
{
	if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	config_unref(c->cfg);
	free(c->token);
	free(c->basic_user);
	free(c->basic_pass);
	free(c->base_url);
	free(c);
}

/* A bundle for 'cfg' (a reference of its own), its secrets read now; the server's address and
 * scheme are the ones it runs with. NULL on error (logged). */
static struct web_conf *
conf_new(const struct web *w, const struct config *cfg)
{
	struct web_conf *c = calloc(1, sizeof(*c));

	if (!c) {
		log_err("web: out of memory");
		return NULL;
	}
	atomic_init(&c->refs, 1);
	c->cfg = config_ref(cfg);
	if (cfg->web.bearer_token_file) {
		c->token = read_secret(cfg->web.bearer_token_file, "bearer token file");
		if (!c->token)
			goto out_put;
	}
	if (cfg->web.basic_auth.username) {
		if (!cfg->web.basic_auth.password_file) {
			log_err("web: basic_auth for '%s' has no password_file",
			        cfg->web.basic_auth.username);
			goto out_put;
		}
		c->basic_user = strdup(cfg->web.basic_auth.username);
		c->basic_pass =
		    read_secret(cfg->web.basic_auth.password_file, "basic auth password file");
		if (!c->basic_user || !c->basic_pass)
			goto out_put;
	}
	if (cfg->external_url) {
		size_t n = strlen(cfg->external_url);

		while (n && cfg->external_url[n - 1] == '/')
			n--;
		c->base_url = strndup(cfg->external_url, n);
	} else {
		size_t n = strlen("https://") + strlen(w->listen) + 1;

		c->base_url = malloc(n);
		if (c->base_url)
			snprintf(c->base_url, n, "%s://%s", w->tls_cert ? "https" : "http",
			         w->listen);
	}
	if (!c->base_url) {
		log_err("web: out of memory");
		goto out_put;
	}
	return c;

out_put:
	conf_put(c);
	return NULL;
}

/* A new reference to the current bundle; the caller drops it with conf_put(). */
static struct web_conf *
conf_get(struct web *w)
{
	struct web_conf *c;

	pthread_mutex_lock(&w->conf_lock);
	c = w->conf;
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	pthread_mutex_unlock(&w->conf_lock);
	return c;
}

/* Make 'c' current (steals the caller's reference); requests holding the old one finish on it. */
static void
conf_set(struct web *w, struct web_conf *c)
{
	struct web_conf *old;

	pthread_mutex_lock(&w->conf_lock);
	old = w->conf;
	w->conf = c;
	pthread_mutex_unlock(&w->conf_lock);
	conf_put(old);
}

/* ---- the connection pool ---- */

static int
conn_progress(void *arg)
{
	struct conn *c = arg;

	return atomic_load(c->stopping) || clock_wall_ms() > c->deadline_ms;
}

/* Borrow a connection, waiting until 'deadline' for one when all 'slots' are lent: the number of
 * requests working in SQLite at once is bounded (CPU and memory), while a connection thread with a
 * fast request is not queued behind a slow one. NULL on timeout or error (logged). */
static struct conn *
pool_get(struct web *w, int64_t deadline, bool priority)
{
	struct conn *c = NULL;
	struct timespec until = {.tv_sec = deadline / 1000, .tv_nsec = (deadline % 1000) * 1000000};

	pthread_mutex_lock(&w->pool_lock);
	/* WEB_POOL_RESERVED connections are kept for cheap priority requests (/healthz, the stored
	 * ranking), so that slow ones filling the pool do not queue them. */
	while (w->in_use >= (priority ? w->slots : w->slots - WEB_POOL_RESERVED)) {
		if (pthread_cond_timedwait(&w->pool_free, &w->pool_lock, &until) == ETIMEDOUT) {
			pthread_mutex_unlock(&w->pool_lock);
			return NULL;
		}
	}
	w->in_use++;
	if (w->npool)
		c = w->pool[--w->npool];
	pthread_mutex_unlock(&w->pool_lock);
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			goto out_release;
		c->stopping = &w->stopping;
		c->st = store_open(w->database, STORE_READONLY);
		if (!c->st)
			goto out_free;
		store_set_fleet(c->st, w->shard, w->shards);
		if (query_reader_setup(c->st, conn_progress, c) < 0) {
			log_err("web: '%s': preparing a read connection: %s", w->database_shown,
			        store_errmsg(c->st));
			store_free(c->st);
			goto out_free;
		}
	}
	c->deadline_ms = deadline;
	return c;

out_free:
	free(c);
out_release:
	pthread_mutex_lock(&w->pool_lock);
	w->in_use--;
	pthread_cond_signal(&w->pool_free);
	pthread_mutex_unlock(&w->pool_lock);
	return NULL;
}

static void
pool_put(struct web *w, struct conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&w->pool_lock);
	w->in_use--;
	w->pool[w->npool++] = c; /* never more than slots <= WEB_POOL_MAX exist */
	pthread_cond_signal(&w->pool_free);
	pthread_mutex_unlock(&w->pool_lock);
}

/* ---- requests ---- */

/* A query argument. One with a NUL byte inside ("%00") would read as its prefix ("service=%00x" as
 * "", all services): it is handed on as a value no name, number or duration can have, so it fails
 * like any bad value. */
static const char *
mhd_arg(void *cls, const char *name)
{
	const char *v = NULL;
	size_t n = 0;

	if (MHD_lookup_connection_value_n(cls, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v, &n) !=
	    MHD_YES)
		return NULL;
	if (v != NULL && strlen(v) != n)
		return "\x7f(NUL byte)";
	return v;
}

static bool
is_api(const char *url)
{
	return strncmp(url, "/api/", 5) == 0;
}

/* An error reply in the form the path expects: JSON under /api/, text elsewhere. */
static void
reply_error(struct web_reply *r, const char *url, unsigned status, const char *msg)
{
	if (is_api(url)) {
		api_error(r, status, "%s", msg);
	} else {
		char text[300];

		snprintf(text, sizeof(text), "%s\n", msg);
		web_reply_text(r, status, text);
	}
}

/* true when the request carries valid credentials for 'c', or none are configured. */
static bool
auth_ok(const struct web_conf *c, struct MHD_Connection *conn)
{
	const char *h;
	/* user:password, each at most a secret file's size */
	char decoded[2 * SECRET_MAX_BYTES + 2];
	const char *colon;

	if (!c->token && !c->basic_user)
		return true;
	h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h)
		return false;
	if (c->token && strncasecmp(h, "Bearer ", 7) == 0) {
		const char *t = h + 7;

		while (*t == ' ')
			t++;
		return web_secret_equal(t, strlen(t), c->token, strlen(c->token));
	}
	if (c->basic_user && strncasecmp(h, "Basic ", 6) == 0) {
		const char *t = h + 6;
		size_t ulen;
		bool user_ok, pass_ok;

		while (*t == ' ')
			t++;
		if (web_base64_decode(t, decoded, sizeof(decoded)) < 0)
			return false;
		colon = strchr(decoded, ':');
		if (!colon)
			return false;
		ulen = (size_t)(colon - decoded);
		user_ok = web_secret_equal(decoded, ulen, c->basic_user, strlen(c->basic_user));
		pass_ok = web_secret_equal(colon + 1, strlen(colon + 1), c->basic_pass,
		                           strlen(c->basic_pass));
		return user_ok && pass_ok;
	}
	return false;
}

/* A copy of the sources' state for one request (caller frees *out). */
static void
sources_get(struct web *w, struct targets_source_state **out, size_t *n, size_t *total)
{
	pthread_mutex_lock(&w->sources_lock);
	*out = NULL;
	*n = w->nsources;
	*total = w->sources_total;
	if (*n > 0) {
		*out = xcalloc(*n, sizeof(**out));
		memcpy(*out, w->sources, *n * sizeof(**out));
	}
	pthread_mutex_unlock(&w->sources_lock);
}

/* The writer's state as the daemon last reported it. */
static void
ingest_get(struct web *w, struct web_ingest *out)
{
	*out = (struct web_ingest){
	    .refused_since_ms = atomic_load(&w->refused_since_ms),
	    .queued = atomic_load(&w->queued),
	    .queued_max = atomic_load(&w->queued_max),
	    .queued_max_ms = atomic_load(&w->queued_max_ms),
	    .dropped = atomic_load(&w->dropped),
	};
}

/* /healthz (web/health.h): the database usable and taking the writer's writes, the collector loop's
 * heartbeat within 3 intervals, and the detector keeping its pace. */
static void
healthz(struct web *w, const struct config *cfg, struct store *st, struct web_reply *r)
{
	char buf[512];
	struct health_input in = {0};
	struct detector *d = atomic_load(&w->detector);
	struct targets_source_state *sources;
	int64_t pace = 0;

	int64_t now = clock_wall_ms(), refused;

	ingest_get(w, &in.ingest);
	refused = in.ingest.refused_since_ms;
	in.db_error = health_check_database(w->database, st, buf, sizeof(buf), &in.free_bytes);
	in.db_refused_ms = refused > 0 && now > refused ? now - refused : 0;
	in.db_refused_limit_ms = health_database_limit_ms(cfg);
	if (in.db_error == NULL)
		in.db_error = health_check_writes(w->database_shown, &in.ingest, now,
		                                  in.db_refused_limit_ms, buf, sizeof(buf));
	in.heartbeat_age_ms = now - w->heartbeat_ms;
	in.heartbeat_limit_ms = health_collector_limit_ms(cfg);
	if (d) {
		in.detector = true;
		detector_lag(d, &in.detector_waiting_ms, &pace);
	}
	in.detector_limit_ms = health_detector_limit_ms(cfg, pace);
	sources_get(w, &sources, &in.nsources, &in.sources_total);
	in.sources = sources;
	health_reply(&in, r);
	free(sources);
}

/* Before the handler of a request for a ranking over a window other than the detector's ('q',
 * 'window'): claim its answer (web/recompute.h) into *e. A fresh answer, or the one another request
 * is computing, is waited for without holding a database connection; when it is this request's to
 * compute, it borrows *c (kept for the handler) and computes it. 0: the handler runs with *e; -1:
 * 'r' is filled (503: too many recomputes running, timed out, no connection). */
static int
claim_recompute(struct web *w, const struct web_ctx *q, uint64_t window, int64_t deadline,
                struct conn **c, struct recompute_entry **e, struct web_reply *r)
{
	const char *service = web_arg(q, "service");
	struct ranking rk = {0};
	unsigned status, retry = 0;
	char err[300];
	int64_t started;

	switch (recompute_claim(w->recompute, window, service, q->now_ms, deadline, e, &retry)) {
	case RECOMPUTE_READY:
		return 0;
	case RECOMPUTE_BUSY:
		reply_error(r, q->path, 503,
		            "busy: rankings over other windows are being computed; retry later, or "
		            "leave out ?window= for the stored ranking");
		r->retry_after = retry;
		return -1;
	case RECOMPUTE_TIMEOUT:
		reply_error(r, q->path, 503,
		            "request timed out waiting for the ranking over the window");
		return -1;
	case RECOMPUTE_COMPUTE:
		break;
	}
	started = clock_mono_ms();
	*c = pool_get(w, deadline, false);
	if (!*c) {
		status = 503;
		snprintf(err, sizeof(err),
		         "busy, or the database is not available (see the daemon log)");
	} else {
		status = api_compute_ranking((*c)->st, q->cfg, service, window, q->now_ms, &rk, err,
		                             sizeof(err));
		/* A query stopped by the deadline leaves a 500 behind: say what happened. */
		if (status == 500 && clock_wall_ms() > deadline) {
			status = 503;
			snprintf(err, sizeof(err), "request timed out");
		}
	}
	recompute_finish(w->recompute, *e, status, err, &rk, clock_mono_ms() - started,
	                 clock_wall_ms());
	if (!*c) {
		recompute_release(w->recompute, *e);
		*e = NULL;
		reply_error(r, q->path, 503, err);
		return -1;
	}
	return 0;
}

/* Queue 'r' (its body is handed to libmicrohttpd). With 'challenge', a 401 names the schemes that
 * bundle accepts. */
static enum MHD_Result
send_reply(struct MHD_Connection *conn, struct web_reply *r, const struct web_conf *challenge)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		web_reply_release(r);
		return MHD_NO;
	}
	r->body = NULL; /* the response owns it now */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
	MHD_add_response_header(resp, "Content-Security-Policy", csp);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	                        r->cacheable ? "max-age=300" : "no-store");
	if (r->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->retry_after) {
		char v[16];

		snprintf(v, sizeof(v), "%u", r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
	}
	if (challenge) {
		if (challenge->token)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			                        "Bearer realm=\"leakprofd\"");
		if (challenge->basic_user)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
			                        "Basic realm=\"leakprofd\", charset=\"UTF-8\"");
	}
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct web *w = cls;
	struct web_conf *conf;
	struct web_reply r = {0};
	struct conn *c = NULL;
	struct recompute_entry *entry = NULL;
	bool challenge = false, priority;
	char *mkey = NULL;
	struct targets_source_state *sources = NULL;
	struct web_ingest ingest;
	bool own_state;
	enum MHD_Result ret;
	int64_t now = clock_wall_ms(), deadline;
	uint64_t window = 0;

	(void)version;
	(void)upload_data;
	/* Answer on the second call, once the request is complete: a reply queued earlier makes
	 * libmicrohttpd close the connection instead of keeping it alive. Other methods are refused
	 * at once (and closed). */
	if (*req_cls == NULL && (strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
	                         strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)) {
		*req_cls = w;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0; /* a GET with a body: ignore the body */
		return MHD_YES;
	}
	/* The request works with the bundle current now until it ends; a reload meanwhile does not
	 * wait for it. */
	conf = conf_get(w);
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		reply_error(&r, url, 405, "method not allowed: use GET or HEAD");
		r.allow = "GET, HEAD";
		goto out_send;
	}
	if (strcmp(url, "/healthz") == 0) {
		c = pool_get(w, now + 5000, true);
		healthz(w, conf->cfg, c ? c->st : NULL, &r);
		goto out_send;
	}
	if (!auth_ok(conf, conn)) {
		reply_error(&r, url, 401, "authentication required");
		challenge = true;
		goto out_send;
	}
	for (size_t i = 0; i < sizeof(statics) / sizeof(statics[0]); i++) {
		if (strcmp(url, statics[i].path) == 0) {
			r.status = 200;
			r.content_type = statics[i].type;
			r.body = malloc(statics[i].len ? statics[i].len : 1);
			r.len = statics[i].len;
			r.cacheable = true;
			if (r.body)
				memcpy(r.body, statics[i].body, statics[i].len);
			else
				web_reply_text(&r, 500, "out of memory\n");
			goto out_send;
		}
	}
	deadline = now + (int64_t)w->request_timeout * 1000;
	{
		struct web_ctx quick = {.cfg = conf->cfg,
		                        .now_ms = now,
		                        .path = url,
		                        .arg = mhd_arg,
		                        .arg_cls = conn,
		                        .cache = w->cache};

		if (api_cached(&quick, &r))
			goto out_send;
		mkey = api_micro_key(&quick);
		if (mkey && api_micro_get(w->cache, mkey, now, &r))
			goto out_send;
		if (strcmp(url, "/api/v1/suspects") == 0 || strcmp(url, "/") == 0)
			window = api_recompute_window(&quick);
		if (window && claim_recompute(w, &quick, window, deadline, &c, &entry, &r) < 0)
			goto out_send;
	}
	/* The stored ranking is cheap: it may use the connections kept for priority requests. */
	priority = strcmp(url, "/api/v1/suspects") == 0 && !window;
	if (!c)
		c = pool_get(w, deadline, priority);
	/* /metrics and the targets page show the daemon's own state (its writer's, the database
	 * refusing writes) even when the database cannot be read */
	own_state = strcmp(url, "/metrics") == 0 || strcmp(url, "/targets") == 0;
	if (!c && !own_state) {
		reply_error(&r, url, 503,
		            "busy, or the database is not available (see the daemon log)");
		goto out_send;
	}
	ingest_get(w, &ingest);
	{
		struct web_ctx ctx = {
		    .st = c ? c->st : NULL,
		    .cfg = conf->cfg,
		    .now_ms = now,
		    .base_url = conf->base_url,
		    .cache = w->cache,
		    .recompute = w->recompute,
		    .recomputed = entry,
		    .path = url,
		    .arg = mhd_arg,
		    .arg_cls = conn,
		    .ingest = own_state ? &ingest : NULL,
		};

		if (strcmp(url, "/targets") == 0) {
			sources_get(w, &sources, &ctx.nsources, &ctx.sources_total);
			ctx.sources = sources;
		}
		if (strcmp(url, "/metrics") == 0) {
			struct detector *d = atomic_load(&w->detector);
			struct window_stats ws;

			if (d) {
				detector_window(d, &ws);
				ctx.window = &ws;
			}
			metrics_handle(&ctx, w->metrics, &r);
		} else if (strncmp(url, "/api/v1/", 8) == 0) {
			api_handle(&ctx, &r);
		} else if (is_api(url)) {
			api_error(&r, 404, "not found: the API is under /api/v1/");
		} else {
			pages_handle(&ctx, &r);
		}
		if (mkey)
			api_micro_put(w->cache, mkey, now, &r);
	}
	/* A query stopped by the deadline leaves a 500 behind: say what happened. */
	if (r.status == 500 && c && clock_wall_ms() > c->deadline_ms)
		reply_error(&r, url, 503, "request timed out");

out_send:
	metrics_count_request(w->metrics, r.status);
	ret = send_reply(conn, &r, challenge ? conf : NULL);
	conf_put(conf);
	pool_put(w, c);
	recompute_release(w->recompute, entry);
	web_reply_release(&r);
	free(mkey);
	free(sources);
	return ret;
}

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_warn("web: %s", msg);
}

/* "host:port", "[v6]:port" or ":port" → a socket address. 0, or -1 (logged). */
static int
parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256], port[16];
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res;
	size_t hlen;
	int rc;

	if (!colon || strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(port)) {
		log_err("web: listen '%s': expected host:port", listen);
		return -1;
	}
	hlen = (size_t)(colon - listen);
	if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
		listen++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host)) {
		log_err("web: listen '%s': host name too long", listen);
		return -1;
	}
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	rc = getaddrinfo(hlen ? host : NULL, port, &hints, &res);
	if (rc != 0) {
		log_err("web: listen '%s': %s", listen, gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void
web_free(struct web *w)
{
	if (!w)
		return;
	conf_put(w->conf);
	for (size_t i = 0; i < w->npool; i++) {
		store_free(w->pool[i]->st);
		free(w->pool[i]);
	}
	metrics_free(w->metrics);
	api_cache_free(w->cache);
	recompute_free(w->recompute);
	pthread_mutex_destroy(&w->conf_lock);
	pthread_mutex_destroy(&w->pool_lock);
	pthread_mutex_destroy(&w->sources_lock);
	free(w->sources);
	pthread_cond_destroy(&w->pool_free);
	free(w->database);
	free(w->database_shown);
	free(w->listen);
	free(w->tls_key);
	free(w->tls_cert);
	free(w);
}

struct web *
web_start(const struct config *cfg)
{
	struct web *w = calloc(1, sizeof(*w));
	struct sockaddr_storage ss;
	socklen_t sslen;
	/* A thread per connection (bounded by max_connections): a slow request (a week-long series,
	 * a recomputed ranking) delays only its own client, and the database work is bounded by the
	 * connection pool. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                 MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned threads = ncpu > 0 ? (unsigned)ncpu * 4 : 8;
	const union MHD_DaemonInfo *info;

	if (!w) {
		log_err("web: out of memory");
		return NULL;
	}
	pthread_mutex_init(&w->conf_lock, NULL);
	pthread_mutex_init(&w->pool_lock, NULL);
	pthread_mutex_init(&w->sources_lock, NULL);
	pthread_cond_init(&w->pool_free, NULL);
	w->heartbeat_ms = clock_wall_ms();
	w->database = strdup(cfg->database);
	w->shard = cfg->shard_index;
	w->shards = cfg->shard_count;
	w->database_shown = db_target_shown(cfg->database);
	w->listen = strdup(cfg->listen);
	w->request_timeout = cfg->web.request_timeout ? cfg->web.request_timeout : 30;
	atomic_init(&w->stopping, false);
	w->metrics = metrics_new();
	w->cache = api_cache_new();
	w->recompute = recompute_new(RECOMPUTE_MAX_RUNNING);
	if (!w->database || !w->listen || !w->metrics || !w->cache || !w->recompute) {
		log_err("web: out of memory");
		goto out_free;
	}
	if (parse_listen(cfg->listen, &ss, &sslen) < 0)
		goto out_free;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cfg->web.tls_cert_file || cfg->web.tls_key_file) {
		if (!cfg->web.tls_cert_file || !cfg->web.tls_key_file) {
			log_err("web: tls needs both cert_file and key_file");
			goto out_free;
		}
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			log_err("web: tls: this libmicrohttpd was built without TLS support");
			goto out_free;
		}
		w->tls_cert =
		    read_small_file(cfg->web.tls_cert_file, WEB_TLS_FILE_MAX, "tls cert_file");
		w->tls_key =
		    read_small_file(cfg->web.tls_key_file, WEB_TLS_FILE_MAX, "tls key_file");
		if (!w->tls_cert || !w->tls_key)
			goto out_free;
		flags |= MHD_USE_TLS;
	}
	w->conf = conf_new(w, cfg);
	if (!w->conf)
		goto out_free;
	if (threads < 8)
		threads = 8;
	if (threads > WEB_POOL_MAX)
		threads = WEB_POOL_MAX;
	w->slots = threads;
	w->mhd = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, w, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)(cfg->web.max_connections ? cfg->web.max_connections : 64),
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)w->request_timeout,
	    MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
	    w->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, w->tls_cert,
	    MHD_OPTION_HTTPS_MEM_KEY, w->tls_key, MHD_OPTION_END);
	if (!w->mhd) {
		log_err(
		    "web: cannot listen on '%s' (address in use, no permission, or bad TLS files)",
		    cfg->listen);
		goto out_free;
	}
	info = MHD_get_daemon_info(w->mhd, MHD_DAEMON_INFO_BIND_PORT);
	log_info(
	    "web: listening on '%s' (port %u, %s, %u database connections, at most %u connections)",
	    cfg->listen, info ? (unsigned)info->port : 0, w->tls_cert ? "https" : "http", threads,
	    cfg->web.max_connections ? cfg->web.max_connections : 64);
	return w;

out_free:
	web_free(w);
	return NULL;
}

void
web_reload(struct web *w, const struct config *cfg)
{
	struct web_conf *c;

	if (!w)
		return;
	c = conf_new(w, cfg);
	if (!c) {
		log_err("web: reload: keeping the previous configuration (see above)");
		return;
	}
	conf_set(w, c);
}

void
web_heartbeat(struct web *w, int64_t now)
{
	if (w)
		w->heartbeat_ms = now;
}

void
web_set_sources(struct web *w, const struct targets_source_state *s, size_t n, size_t total)
{
	struct targets_source_state *copy = NULL, *old;

	if (!w)
		return;
	if (n > 0) {
		copy = xcalloc(n, sizeof(*copy));
		memcpy(copy, s, n * sizeof(*copy));
	}
	pthread_mutex_lock(&w->sources_lock);
	old = w->sources;
	w->sources = copy;
	w->nsources = n;
	w->sources_total = total;
	pthread_mutex_unlock(&w->sources_lock);
	free(old);
}

void
web_set_ingest(struct web *w, const struct web_ingest *in)
{
	if (!w)
		return;
	atomic_store(&w->refused_since_ms, in->refused_since_ms);
	atomic_store(&w->queued, in->queued);
	atomic_store(&w->queued_max, in->queued_max);
	atomic_store(&w->queued_max_ms, in->queued_max_ms);
	atomic_store(&w->dropped, in->dropped);
}

void
web_watch_detector(struct web *w, struct detector *d)
{
	if (w)
		atomic_store(&w->detector, d);
}

void
web_count_scrape(struct web *w, const char *service, bool ok, uint64_t duration_ms)
{
	if (w)
		metrics_count_scrape(w->metrics, service, ok, duration_ms);
}

void
web_set_stored(struct web *w, uint64_t n)
{
	if (w)
		metrics_set_stored(w->metrics, n);
}

void
web_stop(struct web *w)
{
	if (!w)
		return;
	atomic_store(&w->stopping, true); /* MHD_stop_daemon() waits for the requests */
	MHD_stop_daemon(w->mhd);
	web_free(w);
}
