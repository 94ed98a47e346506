/* collector/fetch.c: one HTTP transfer of a target on the scraper's libcurl multi handle: the
 * body grown in a buffer capped at max_body_bytes (after content decoding, so a gzip bomb stops at
 * the cap), redirects followed here hop by hop so that a target's headers and credentials never
 * leave its origin (see transfer_follow()), and the status a failure gets: what the target
 * answered, an HTML or login page, a redirect away, a timeout. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/clock.h"
#include "base/url.h"
#include "collector/scrape_internal.h"

#define MAX_REDIRECTS 3
#define BODY_INITIAL (64u << 10)
#define HTML_SNIFF_BYTES 1024   /* where an HTML page shows it is one */
#define LOGIN_SNIFF_BYTES 65536 /* where a login page shows its password field */

/* --- transfers -------------------------------------------------------------------------------- */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct transfer *x = arg;
	size_t n = size * nmemb;

	if (n == 0)
		return 0;
	if ((uint64_t)x->len + n > x->max) {
		x->toobig = true;
		return 0; /* CURLE_WRITE_ERROR ends the transfer */
	}
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : BODY_INITIAL;
		char *nb;

		while (cap < x->len + n + 1)
			cap *= 2;
		if ((uint64_t)cap > x->max + 1)
			cap = (size_t)x->max + 1;
		nb = realloc(x->buf, cap);
		if (!nb)
			return 0;
		x->buf = nb;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, data, n);
	x->len += n;
	return n;
}

void
transfer_free(struct transfer *x)
{
	if (!x)
		return;
	if (x->easy) {
		if (x->sc)
			curl_multi_remove_handle(x->sc->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdrs);
	target_cfg_release(&x->cfg);
	free(x->buf);
	free(x);
}

#define SETOPT(x, opt, val)                                                                        \
	do {                                                                                       \
		if (curl_easy_setopt((x)->easy, opt, val) != CURLE_OK)                             \
			goto out_fail;                                                             \
	} while (0)

/* Does the transfer have anything to keep from other hosts: headers, basic or bearer auth, a user
 * in the URL, a client certificate? */
static bool
has_credentials(const struct transfer *x)
{
	const struct scrape_target *t = &x->cfg.t;

	return t->nheaders > 0 || t->bearer_token || t->basic_user || x->url_userinfo ||
	       t->tls_cert_file;
}

/* Put the configured headers, basic or bearer auth and client certificate on the next request of
 * 'x' when 'send', or take them all off. 0, or -1 when curl refused an option. */
static int
transfer_credentials(struct transfer *x, bool send)
{
	const struct scrape_target *t = &x->cfg.t;

	SETOPT(x, CURLOPT_HTTPHEADER, send ? x->hdrs : NULL);
	SETOPT(x, CURLOPT_HTTPAUTH, (long)CURLAUTH_NONE);
	SETOPT(x, CURLOPT_XOAUTH2_BEARER, (char *)NULL);
	SETOPT(x, CURLOPT_USERNAME, (char *)NULL);
	SETOPT(x, CURLOPT_PASSWORD, (char *)NULL);
	SETOPT(x, CURLOPT_SSLCERT, send ? t->tls_cert_file : NULL);
	SETOPT(x, CURLOPT_SSLKEY, send ? t->tls_key_file : NULL);
	if (send && t->bearer_token) {
		SETOPT(x, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		SETOPT(x, CURLOPT_XOAUTH2_BEARER, t->bearer_token);
	} else if (send && t->basic_user) {
		SETOPT(x, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SETOPT(x, CURLOPT_USERNAME, t->basic_user);
		SETOPT(x, CURLOPT_PASSWORD, t->basic_password ? t->basic_password : "");
	} else if (send) {
		/* curl's default: a user and password written in the URL go as basic auth */
		SETOPT(x, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
	}
	return 0;

out_fail:
	return -1;
}

/* Set the whole-transfer timeout on the next hop: what is left of 'timeout_ms'. */
static int
transfer_set_timeout(struct transfer *x, uint64_t left_ms)
{
	long ms = (long)(left_ms > LONG_MAX ? LONG_MAX : left_ms);

	SETOPT(x, CURLOPT_TIMEOUT_MS, ms);
	SETOPT(x, CURLOPT_CONNECTTIMEOUT_MS, ms);
	return 0;

out_fail:
	return -1;
}

/* The origin of the http(s) URL 'url' as curl parses it (the parser that decides where curl
 * connects), for comparing: "scheme://host:port", with the scheme's port when the URL has none.
 * Whole, never cut, so that two long host names cannot compare equal. In 'shown' (when not NULL)
 * the same with only a port the URL names, cut to fit and every byte outside [A-Za-z0-9.:/_%[]-]
 * made '?' (the host comes from a Location header). Caller frees; NULL when curl cannot parse it,
 * it is not http or https, or memory ran out. */
static char *
url_origin(const char *url, char *shown, size_t showncap)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *eport = NULL, *key = NULL;
	size_t n;

	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out_free;
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)
		goto out_free;
	n = strlen(scheme) + strlen(host) + strlen(port) + sizeof("://:");
	key = malloc(n);
	if (!key)
		goto out_free;
	scrape_fmt(key, n, "%s://%s:%s", scheme, host, port);
	if (shown) {
		size_t i;

		if (curl_url_get(u, CURLUPART_PORT, &eport, 0) != CURLUE_OK)
			eport = NULL;
		scrape_fmt(shown, showncap, "%s://%s%s%s", scheme, host, eport ? ":" : "",
		           eport ? eport : "");
		for (i = 0; shown[i]; i++) {
			unsigned char ch = (unsigned char)shown[i];

			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || strchr(".:/_%[]-", ch)))
				shown[i] = '?';
		}
	}

out_free:
	curl_free(eport);
	curl_free(port);
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
	return key;
}

/* Does the URL name a user (basic auth written into it)? */
static bool
url_has_userinfo(const char *url)
{
	CURLU *u = curl_url();
	char *user = NULL;
	bool has = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	           curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK;

	curl_free(user);
	curl_url_cleanup(u);
	return has;
}

/* 'next' with the user and password of 'from' (as written there, still encoded) in place of its
 * own: a redirect home keeps the credentials of the configured URL, as its first request had them.
 * Caller frees; NULL on failure. */
static char *
url_with_userinfo_of(const char *next, const char *from)
{
	CURLU *f = curl_url(), *n = curl_url();
	char *user = NULL, *password = NULL, *joined = NULL, *out = NULL;

	if (!f || !n || curl_url_set(f, CURLUPART_URL, from, 0) != CURLUE_OK ||
	    curl_url_set(n, CURLUPART_URL, next, 0) != CURLUE_OK)
		goto out_free;
	if (curl_url_get(f, CURLUPART_USER, &user, 0) != CURLUE_OK)
		user = NULL;
	if (curl_url_get(f, CURLUPART_PASSWORD, &password, 0) != CURLUE_OK)
		password = NULL;
	if (curl_url_set(n, CURLUPART_USER, user, 0) != CURLUE_OK ||
	    curl_url_set(n, CURLUPART_PASSWORD, password, 0) != CURLUE_OK ||
	    curl_url_get(n, CURLUPART_URL, &joined, 0) != CURLUE_OK)
		goto out_free;
	out = strdup(joined);

out_free:
	curl_free(joined);
	curl_free(password);
	curl_free(user);
	curl_url_cleanup(n);
	curl_url_cleanup(f);
	return out;
}

/* A ready-to-add easy handle for target settings 'c'; NULL on failure. */
struct transfer *
transfer_new(const struct target_cfg *c, enum fetch fetch, const char *user_agent)
{
	const struct scrape_target *t;
	struct transfer *x = calloc(1, sizeof(*x));
	size_t i;

	if (!x)
		return NULL;
	if (target_cfg_copy(&x->cfg, &c->t) != 0) {
		free(x);
		return NULL;
	}
	t = &x->cfg.t;
	x->fetch = fetch;
	x->timeout_ms = t->timeout_ms;
	x->url = t->url;
	if (fetch == FETCH_DETAIL) {
		x->url = t->detail_url;
		if (t->detail_timeout_ms)
			x->timeout_ms = t->detail_timeout_ms;
	} else if (fetch == FETCH_LEAK) {
		x->url = t->leak_url;
		if (t->leak_timeout_ms)
			x->timeout_ms = t->leak_timeout_ms;
	}
	x->max = t->max_body_bytes;
	x->service = t->service;
	x->url_userinfo = url_has_userinfo(x->url);
	x->easy = curl_easy_init();
	if (!x->easy)
		goto out_fail;
	for (i = 0; i < t->nheaders; i++) {
		size_t n = strlen(t->headers[i].name) + strlen(t->headers[i].value) + 3;
		char *line = malloc(n);
		struct curl_slist *l;

		if (!line)
			goto out_fail;
		scrape_fmt(line, n, "%s: %s", t->headers[i].name, t->headers[i].value);
		l = curl_slist_append(x->hdrs, line);
		free(line);
		if (!l)
			goto out_fail;
		x->hdrs = l;
	}
	SETOPT(x, CURLOPT_URL, x->url);
	SETOPT(x, CURLOPT_PRIVATE, x);
	SETOPT(x, CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(x, CURLOPT_WRITEDATA, x);
	SETOPT(x, CURLOPT_ERRORBUFFER, x->errbuf);
	SETOPT(x, CURLOPT_NOSIGNAL, 1L);
	if (transfer_set_timeout(x, x->timeout_ms) != 0)
		goto out_fail;
	SETOPT(x, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Redirects are followed by transfer_follow(), which decides what each hop may carry. */
	SETOPT(x, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(x, CURLOPT_FAILONERROR, 1L);
	SETOPT(x, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->max_body_bytes);
	SETOPT(x, CURLOPT_USERAGENT, user_agent);
	/* debug=0 bodies are gzip-compressed protobuf already; compressing text saves the fleet's
	 * bandwidth. A detail scrape is debug=2 text whatever the regular format. */
	if (fetch == FETCH_DETAIL || t->format != PROFILE_FORMAT_PROTO)
		SETOPT(x, CURLOPT_ACCEPT_ENCODING, "gzip, deflate");
	if (transfer_credentials(x, true) != 0)
		goto out_fail;
	if (t->tls_ca_file)
		SETOPT(x, CURLOPT_CAINFO, t->tls_ca_file);
	if (t->tls_insecure) {
		SETOPT(x, CURLOPT_SSL_VERIFYPEER, 0L);
		SETOPT(x, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (t->proxy)
		SETOPT(x, CURLOPT_PROXY, t->proxy);
	return x;

out_fail:
	transfer_free(x);
	return NULL;
}

/* After a finished hop: when it answered a redirect, send 'x' on to the next hop and return true.
 *
 * Redirects are followed here rather than by curl (CURLOPT_FOLLOWLOCATION) because curl forwards
 * custom headers (an X-Api-Key) to any host a redirect names. Each hop carries the configured
 * headers, auth and client certificate only when its origin (scheme, host and port) is the
 * configured URL's, so a redirect to another origin and back gets them again only back home. The
 * timeout covers every hop. False when there is nothing to follow, or when the redirect is not
 * followed ('x->fail' says why). */
bool
transfer_follow(struct scraper *sc, struct transfer *x, CURLcode rc)
{
	char shown[ORIGIN_MAX];
	char *loc = NULL, *home, *there, *next;
	uint64_t spent;
	long code = 0;
	bool away;

	if (rc != CURLE_OK)
		return false;
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308)
		return false;
	if (curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &loc) != CURLE_OK || !loc)
		return false; /* no Location: "http 302" */
	if (x->hops >= MAX_REDIRECTS) {
		x->fail = "too many redirects";
		return false;
	}
	spent = clock_mono_ms() - x->start_mono_ms;
	if (spent >= x->timeout_ms) {
		x->fail = "timeout";
		return false;
	}
	there = url_origin(loc, shown, sizeof(shown));
	if (!there) {
		x->fail = "redirected to a URL that is not http or https";
		return false;
	}
	home = url_origin(x->url, NULL, 0);
	away = !home || strcasecmp(home, there) != 0;
	free(home);
	free(there);
	/* a copy: 'loc' belongs to the handle */
	next = !away && x->url_userinfo ? url_with_userinfo_of(loc, x->url) : strdup(loc);
	if (!next) {
		x->fail = "error: cannot follow the redirect";
		return false;
	}
	curl_multi_remove_handle(sc->multi, x->easy);
	if (curl_easy_setopt(x->easy, CURLOPT_URL, next) != CURLE_OK ||
	    transfer_set_timeout(x, x->timeout_ms - spent) != 0 ||
	    transfer_credentials(x, !away) != 0) {
		free(next);
		x->fail = "error: cannot follow the redirect";
		return false;
	}
	free(next);
	x->hops++;
	x->away = away;
	memcpy(x->where, shown, sizeof(x->where));
	x->len = 0;
	x->toobig = false;
	x->errbuf[0] = '\0';
	if (curl_multi_add_handle(sc->multi, x->easy) != CURLM_OK) {
		x->fail = "error: cannot follow the redirect";
		return false;
	}
	return true;
}

/* Does 'needle' (lower case) occur in the first 'max' bytes of 's' (length 'len'), ignoring
 * case? */
static bool
has_word(const char *s, size_t len, size_t max, const char *needle)
{
	size_t n = strlen(needle), i;

	if (len > max)
		len = max;
	for (i = 0; i + n <= len; i++)
		if (strncasecmp(s + i, needle, n) == 0)
			return true;
	return false;
}

/* Is the body an HTML page (a login form, a proxy's error page) rather than a profile? A profile
 * never starts with '<': text starts with "goroutine profile:" or "goroutine 1 [", debug=0 with
 * gzip's magic bytes. */
static bool
body_is_html(const struct transfer *x)
{
	const char *p = x->buf, *end = x->buf + x->len, *ctype = NULL;

	if (!p)
		return false;
	if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p == end || *p != '<')
		return false;
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ctype);
	if (ctype && has_word(ctype, strlen(ctype), SIZE_MAX, "html"))
		return true;
	return has_word(p, (size_t)(end - p), HTML_SNIFF_BYTES, "<html") ||
	       has_word(p, (size_t)(end - p), HTML_SNIFF_BYTES, "<!doctype html");
}

/* The status of an HTML body: a page with a password field is a login form. */
static void
html_status(const struct transfer *x, char *out, size_t cap)
{
	bool login = has_word(x->buf, x->len, LOGIN_SNIFF_BYTES, "type=\"password\"") ||
	             has_word(x->buf, x->len, LOGIN_SNIFF_BYTES, "type='password'") ||
	             has_word(x->buf, x->len, LOGIN_SNIFF_BYTES, "type=password");

	scrape_fmt(out, cap, "html page, not a profile%s", login ? " (a login page?)" : "");
}

/* "http 401 unauthorized" with what to check: the credentials that went with the request, or that
 * none are configured. After a redirect to another origin they were kept back, which the status's
 * prefix says (see transfer_note_redirect()). */
static void
unauthorized_status(const struct transfer *x, char *out, size_t cap)
{
	const struct scrape_target *t = &x->cfg.t;

	if (x->away)
		scrape_fmt(out, cap, "http 401 unauthorized");
	else if (t->bearer_token || t->basic_user)
		scrape_fmt(out, cap, "http 401 unauthorized (check basic_auth/bearer_token_file)");
	else if (x->url_userinfo)
		scrape_fmt(out, cap,
		           "http 401 unauthorized (check the user and password in the URL)");
	else if (t->nheaders > 0)
		scrape_fmt(out, cap, "http 401 unauthorized (check headers)");
	else
		scrape_fmt(out, cap,
		           "http 401 unauthorized (no basic_auth or bearer_token_file configured)");
}

/* The status text of a finished transfer. */
static void
transfer_status(struct transfer *x, CURLcode rc, long code, char *out, size_t cap)
{
	long oserr = 0;
	const char *msg = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);

	if (x->fail) {
		scrape_fmt(out, cap, "%s", x->fail);
		return;
	}
	curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &oserr);
	switch (rc) {
	case CURLE_OK:
		if (code != 200)
			scrape_fmt(out, cap, "http %ld", code);
		else if (body_is_html(x))
			html_status(x, out, cap);
		else
			scrape_fmt(out, cap, "ok");
		return;
	case CURLE_HTTP_RETURNED_ERROR:
		if (code == 401)
			unauthorized_status(x, out, cap);
		else if (code == 403)
			scrape_fmt(out, cap, "http 403 forbidden");
		else
			scrape_fmt(out, cap, "http %ld", code);
		return;
	case CURLE_OPERATION_TIMEDOUT:
		scrape_fmt(out, cap, "timeout");
		return;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		scrape_fmt(out, cap, "dns error");
		return;
	case CURLE_COULDNT_CONNECT:
		if (oserr == ECONNREFUSED || oserr == 0)
			scrape_fmt(out, cap, "connect refused");
		else
			scrape_fmt(out, cap, "connect failed: %s", strerror((int)oserr));
		return;
	case CURLE_FILESIZE_EXCEEDED:
		scrape_fmt(out, cap, "body too large");
		return;
	case CURLE_WRITE_ERROR:
		scrape_fmt(out, cap,
		           x->toobig ? "body too large" : "error: out of memory for the body");
		return;
	case CURLE_OUT_OF_MEMORY:
		scrape_fmt(out, cap, "error: out of memory");
		return;
	case CURLE_GOT_NOTHING:
		scrape_fmt(out, cap, "empty reply");
		return;
	case CURLE_PARTIAL_FILE:
		scrape_fmt(out, cap, "truncated body");
		return;
	case CURLE_BAD_CONTENT_ENCODING:
		scrape_fmt(out, cap, "bad content encoding: %s", msg);
		return;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CLIENTCERT:
		scrape_fmt(out, cap, "tls error: %s", msg);
		return;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		if (oserr == ECONNRESET || strstr(msg, "reset"))
			scrape_fmt(out, cap, "connection reset");
		else
			scrape_fmt(out, cap, "error: %s", msg);
		return;
	default:
		scrape_fmt(out, cap, "error: %s", msg);
		return;
	}
}

/* Fill 'res' from a finished transfer (status, timing, parsed profile). */
void
transfer_result(struct transfer *x, CURLcode rc, struct scrape_result *res)
{
	long code = 0, connects = 0;
	struct parse_error perr;
	struct profile_limits lim = profile_limits_for(x->max);

	memset(res, 0, sizeof(*res));
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &connects);
	res->new_connection = connects > 0;
	res->service = x->service;
	res->url = x->url;
	res->detail = x->fetch == FETCH_DETAIL;
	res->leak = x->fetch == FETCH_LEAK;
	res->http_code = code;
	res->start_ms = x->start_wall_ms;
	res->duration_ms = clock_mono_ms() - x->start_mono_ms;
	res->lag_ms = x->lag_ms;
	res->bytes = x->len;
	transfer_status(x, rc, code, res->status, sizeof(res->status));
	if (strcmp(res->status, "ok") != 0)
		return;
	memset(&perr, 0, sizeof(perr));
	if (profile_parse_limited(x->buf ? x->buf : "", x->len, &lim, &res->profile, &perr) != 0) {
		scrape_fmt(res->status, sizeof(res->status), "parse error: %s",
		           perr.msg[0] ? perr.msg : "unknown");
		memset(&res->profile, 0, sizeof(res->profile));
		return;
	}
	res->ok = true;
	/* The body is not needed past the parse: free it now rather than after the callback. */
	free(x->buf);
	x->buf = NULL;
	x->cap = 0;
}

/* A failure on another origin than the configured one says where the redirects led, and that the
 * credentials stayed home: "redirected to https://sso.example.com (credentials not sent): http 401
 * unauthorized". */
void
transfer_note_redirect(const struct transfer *x, struct scrape_result *res)
{
	char why[SCRAPE_STATUS_MAX];

	if (res->ok || !x->away)
		return;
	memcpy(why, res->status, sizeof(why));
	scrape_fmt(res->status, sizeof(res->status), "redirected to %s%s: %s", x->where,
	           has_credentials(x) ? " (credentials not sent)" : "", why);
}
