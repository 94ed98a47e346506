/* collector/discovery.c: the http_sd and dns_sd sources and their threads (see discovery.h).
 *
 * A source's thread loops: fetch (libcurl's easy interface, bounded by the source's timeout and
 * DISCOVERY_MAX_BODY) or query (the resolver library on a private res_state, pointed at the
 * configured server if any), parse, publish, sleep refresh_interval. It publishes a list only when
 * its content differs from the last one published, and an error only when it differs from the
 * last one, so an unchanged inventory costs the main loop nothing. Credentials files are read at
 * every fetch, as Prometheus reads its *_file settings, so a rotated token is picked up without a
 * reload. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <resolv.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/secret.h"
#include "base/url.h"
#include "base/xalloc.h"
#include "collector/discovery.h"

#define MAX_REDIRECTS 5
/* A query's bound, which is also how long stopping may wait for a thread (at a reload): seconds
 * per try and tries per server, resolv.conf's values capped. Servers answer in milliseconds. */
#define DNS_MAX_RETRANS 2
#define DNS_MAX_RETRY 2
#define DNS_WAIT_MS ((DNS_MAX_RETRANS * DNS_MAX_RETRY + 1) * 1000)

struct source {
	struct discovery *d;
	const struct config_http_sd *http; /* one of the two, borrowed from d->cfg */
	const struct config_dns_sd *dns;
	char *name;   /* "http_sd 'URL'", "dns_sd 'NAME, ...'": messages, entries' 'file' */
	uint64_t key; /* what the source asks for: an identical source takes over its list */
	int64_t interval_ms;
	int64_t wait_ms; /* a first attempt's bound, for discovery_start(wait) */
	pthread_t thread;
	bool started;
	bool adopted; /* its list came from a previous source */

	/* The thread's own. */
	uint64_t published; /* content hash of the last list published */
	bool has_published;

	/* Shared with the owner, under d->mu. */
	struct targets_entry *fresh; /* a new list, not collected yet */
	size_t nfresh;
	bool has_fresh;
	char *err;                 /* of the latest attempt; NULL: it went well */
	int64_t tried_ms, good_ms; /* wall: the latest attempt, the latest good answer; 0: none */
	char *err_key;             /* what tells one error from another (no timings in it) */
	bool err_news;             /* err_key changed since the last collect */
	unsigned tries;            /* attempts finished */

	/* The owner's. */
	struct targets_entry *cur;
	size_t ncur;
	char *reported; /* err_key last reported; NULL: none */
};

struct discovery {
	struct config *cfg; /* a reference: the sources borrow their settings from it */
	pthread_mutex_t mu;
	pthread_cond_t wake; /* stop: ends the threads' sleeps */
	pthread_cond_t done; /* an attempt finished: for discovery_start(wait) */
	atomic_bool stop;
	atomic_bool pending;
	struct source *src;
	size_t n;
};

/* ---- Helpers ---- */

static char *xprintf(const char *f, ...) __attribute__((format(printf, 1, 2)));

static char *
xprintf(const char *f, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	if (n < 0) {
		log_err("discovery: out of memory");
		abort();
	}
	return s;
}

static bool
str_eq(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* Several messages in one, for one error of a source ("a; b; c", the first few). */
static char *
errs_join(const struct targets_errors *errs)
{
	char buf[1024];
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < errs->n && i < 3 && len < sizeof(buf); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "; " : "",
		                        errs->msgs[i]);
	if (errs->n > 3 && len < sizeof(buf))
		snprintf(buf + len, sizeof(buf) - len, "; and %zu more", errs->n - 3);
	return xstrdup(errs->n ? buf : "unknown error");
}

static struct targets_entry *
entries_dup(const struct targets_entry *e, size_t n, const char *file)
{
	struct targets_entry *c = xcalloc(n, sizeof(*c));

	for (size_t i = 0; i < n; i++) {
		c[i] = (struct targets_entry){
		    .service = xstrdup(e[i].service),
		    .base_url = xstrdup(e[i].base_url),
		    .labels = xcalloc(e[i].nlabels, sizeof(*c[i].labels)),
		    .nlabels = e[i].nlabels,
		    .file = file,
		};
		for (size_t j = 0; j < e[i].nlabels; j++) {
			c[i].labels[j].name = xstrdup(e[i].labels[j].name);
			c[i].labels[j].value = xstrdup(e[i].labels[j].value);
		}
	}
	return c;
}

static uint64_t
hash_kv(uint64_t h, const struct config_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = hash_fnv1a_str(hash_fnv1a_str(hash_fnv1a_str(h, kv[i].key), "\n"), kv[i].value);
	return hash_fnv1a(h, &n, sizeof(n));
}

/* Everything that decides what the source answers, so an identical source of the next
 * configuration may start from this one's list. */
static uint64_t
source_key(const struct source *s)
{
	uint64_t h = HASH_FNV1A_INIT;

	if (s->http) {
		const struct config_http_sd *c = s->http;

		h = hash_fnv1a_str(h, "http\n");
		h = hash_fnv1a_str(hash_fnv1a_str(h, c->url), "\n");
		h = hash_kv(h, c->headers, c->nheaders);
		h = hash_fnv1a_str(hash_fnv1a_str(h, c->bearer_token_file), "\n");
		h = hash_fnv1a_str(hash_fnv1a_str(h, c->basic_auth.username), "\n");
		h = hash_fnv1a_str(hash_fnv1a_str(h, c->basic_auth.password_file), "\n");
		h = hash_fnv1a_str(hash_fnv1a_str(h, c->tls.ca_file), "\n");
		h = hash_fnv1a_str(hash_fnv1a_str(h, c->tls.cert_file), "\n");
		h = hash_fnv1a_str(hash_fnv1a_str(h, c->tls.key_file), "\n");
		h = hash_fnv1a(h, &c->tls.insecure_skip_verify,
		               sizeof(c->tls.insecure_skip_verify));
	} else {
		const struct config_dns_sd *c = s->dns;

		h = hash_fnv1a_str(h, "dns\n");
		for (size_t i = 0; i < c->nnames; i++)
			h = hash_fnv1a_str(hash_fnv1a_str(h, c->names[i]), "\n");
		h = hash_fnv1a(h, &c->type, sizeof(c->type));
		h = hash_fnv1a(h, &c->port, sizeof(c->port));
		h = hash_fnv1a_str(hash_fnv1a_str(h, c->server), "\n");
		h = hash_fnv1a_str(hash_fnv1a_str(h, c->service), "\n");
		h = hash_fnv1a(h, &c->scheme, sizeof(c->scheme));
		h = hash_kv(h, c->labels, c->nlabels);
	}
	return h;
}

/* ---- http_sd ---- */

struct body {
	char *buf;
	size_t len, cap;
	bool toobig;
};

static size_t
on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	if (n > DISCOVERY_MAX_BODY - b->len) {
		b->toobig = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->buf = xrealloc(b->buf, cap);
		b->cap = cap;
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return n;
}

/* Called by curl during a transfer, idle or not, about once a second at least: a stop aborts. */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	const struct discovery *d = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return atomic_load(&d->stop) ? 1 : 0;
}

#define SETOPT(h, opt, val)                                                                        \
	do {                                                                                       \
		if (curl_easy_setopt((h), opt, val) != CURLE_OK) {                                 \
			*err = xprintf("%s: cannot set up libcurl (%s)", s->name, #opt);           \
			goto out_free;                                                             \
		}                                                                                  \
	} while (0)

/* Fetch and parse. 0 with the list in *out, or -1 with *err and *key set. */
static int
http_refresh(struct source *s, struct targets_entry **out, size_t *nout, char **err, char **key)
{
	const struct config_http_sd *c = s->http;
	struct targets_errors errs = {0};
	struct curl_slist *hdrs = NULL, *nh;
	struct body b = {0};
	char errbuf[CURL_ERROR_SIZE], why[512];
	char *bearer = NULL, *password = NULL, *ct = NULL;
	long status = 0, ms = (long)c->timeout * 1000;
	CURLcode rc;
	CURL *h;
	int ret = -1;

	errbuf[0] = '\0';
	h = curl_easy_init();
	if (h == NULL) {
		*err = xprintf("%s: cannot set up libcurl", s->name);
		return -1;
	}
	if (c->bearer_token_file) {
		bearer = secret_read(c->bearer_token_file, why, sizeof(why));
		if (bearer == NULL) {
			*err = xprintf("%s: cannot read bearer_token_file %s", s->name, why);
			goto out_free;
		}
	}
	if (c->basic_auth.password_file) {
		password = secret_read(c->basic_auth.password_file, why, sizeof(why));
		if (password == NULL) {
			*err = xprintf("%s: cannot read basic_auth.password_file %s", s->name, why);
			goto out_free;
		}
	}
	nh = curl_slist_append(hdrs, "Accept: application/json");
	for (size_t i = 0; nh != NULL && i < c->nheaders; i++) {
		char *line = xprintf("%s: %s", c->headers[i].key, c->headers[i].value);

		hdrs = nh;
		nh = curl_slist_append(hdrs, line);
		free(line);
	}
	if (nh == NULL) {
		*err = xprintf("%s: out of memory", s->name);
		goto out_free;
	}
	hdrs = nh;
	SETOPT(h, CURLOPT_URL, c->url);
	SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
	SETOPT(h, CURLOPT_WRITEDATA, &b);
	SETOPT(h, CURLOPT_ERRORBUFFER, errbuf);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(h, CURLOPT_TIMEOUT_MS, ms);
	SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, ms);
	SETOPT(h, CURLOPT_NOPROGRESS, 0L);
	SETOPT(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	SETOPT(h, CURLOPT_XFERINFODATA, s->d);
	SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SETOPT(h, CURLOPT_FOLLOWLOCATION, 1L);
	SETOPT(h, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
	SETOPT(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
	SETOPT(h, CURLOPT_ACCEPT_ENCODING, "gzip, deflate");
	SETOPT(h, CURLOPT_USERAGENT, "leakprofd/" LEAKPROFD_VERSION);
	SETOPT(h, CURLOPT_HTTPHEADER, hdrs);
	if (bearer) {
		SETOPT(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		SETOPT(h, CURLOPT_XOAUTH2_BEARER, bearer);
	} else if (c->basic_auth.username) {
		SETOPT(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SETOPT(h, CURLOPT_USERNAME, c->basic_auth.username);
		SETOPT(h, CURLOPT_PASSWORD, password ? password : "");
	}
	if (c->tls.ca_file)
		SETOPT(h, CURLOPT_CAINFO, c->tls.ca_file);
	if (c->tls.cert_file)
		SETOPT(h, CURLOPT_SSLCERT, c->tls.cert_file);
	if (c->tls.key_file)
		SETOPT(h, CURLOPT_SSLKEY, c->tls.key_file);
	if (c->tls.insecure_skip_verify) {
		SETOPT(h, CURLOPT_SSL_VERIFYPEER, 0L);
		SETOPT(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	rc = curl_easy_perform(h);
	if (rc == CURLE_WRITE_ERROR && b.toobig) {
		*err = xprintf("%s: answer larger than %u bytes", s->name, DISCOVERY_MAX_BODY);
		goto out_free;
	}
	if (rc != CURLE_OK) {
		*err = xprintf("%s: cannot fetch: %s", s->name,
		               errbuf[0] ? errbuf : curl_easy_strerror(rc));
		*key = xprintf("curl %d", (int)rc);
		goto out_free;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
	if (discovery_parse_http(s->name, status, ct, b.buf ? b.buf : "", b.len, out, nout,
	                         &errs) != 0) {
		*err = errs_join(&errs);
		goto out_free;
	}
	ret = 0;
out_free:
	targets_errors_release(&errs);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	free(b.buf);
	free(bearer);
	free(password);
	return ret;
}

#undef SETOPT

/* ---- dns_sd ---- */

static int
addr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Look up every name, then build the source's one group. 0 with the list in *out, or -1 with *err
 * set. */
static int
dns_refresh(struct source *s, struct targets_entry **out, size_t *nout, char **err, char **key)
{
	const struct config_dns_sd *c = s->dns;
	int qtype = c->type == CONFIG_DNS_SRV ? ns_t_srv
	            : c->type == CONFIG_DNS_A ? ns_t_a
	                                      : ns_t_aaaa;
	struct targets_label *labels = xcalloc(c->nlabels + 2, sizeof(*labels));
	struct targets_errors errs = {0};
	unsigned char *ans = xmalloc(NS_MAXMSG);
	struct __res_state st;
	char **addrs = NULL, why[256], from[64];
	size_t naddrs = 0, nlabels = 0, k = 0;
	int ret = -1;

	(void)key;
	memset(&st, 0, sizeof(st));
	if (res_ninit(&st) != 0) {
		*err = xprintf("%s: cannot initialise the resolver (resolv.conf)", s->name);
		goto out_free;
	}
	if (c->server) {
		/* res_send copies the list into its private state at the first query, IPv6
		 * entries from resolv.conf included, so one IPv4 entry replaces them all. */
		st.nscount = 1;
		st.nsaddr_list[0] = (struct sockaddr_in){
		    .sin_family = AF_INET,
		    .sin_port = htons(c->server_port),
		    .sin_addr.s_addr = c->server_addr,
		};
		snprintf(from, sizeof(from), "server %s", c->server);
	} else {
		snprintf(from, sizeof(from), "the servers of resolv.conf");
	}
	if (st.retrans > DNS_MAX_RETRANS)
		st.retrans = DNS_MAX_RETRANS;
	if (st.retry > DNS_MAX_RETRY)
		st.retry = DNS_MAX_RETRY;
	for (size_t i = 0; i < c->nnames; i++) {
		int n = res_nsearch(&st, c->names[i], ns_c_in, qtype, ans, NS_MAXMSG);
		char which[300] = "";

		if (c->nnames > 1)
			snprintf(which, sizeof(which), " '%s':", c->names[i]);
		if (n < 0) {
			switch (st.res_h_errno) {
			case HOST_NOT_FOUND:
			case NO_DATA:
				continue; /* no such name or no such records: no targets */
			case TRY_AGAIN:
				*err = xprintf("%s:%s no answer from %s (no reply, refused, or "
				               "the server failed)",
				               s->name, which, from);
				break;
			case NO_RECOVERY:
				*err = xprintf("%s:%s %s answered something unreadable", s->name,
				               which, from);
				break;
			default:
				*err = xprintf("%s:%s lookup failed: %s", s->name, which,
				               hstrerror(st.res_h_errno));
				break;
			}
			goto out_close;
		}
		if (discovery_parse_dns(ans, n > NS_MAXMSG ? NS_MAXMSG : (size_t)n, c->type,
		                        c->port, &addrs, &naddrs, why, sizeof(why)) != 0) {
			*err = xprintf("%s:%s %s", s->name, which, why);
			goto out_close;
		}
	}
	/* Servers rotate records: sorted, an unchanged answer is an unchanged list. */
	if (naddrs > 1)
		qsort(addrs, naddrs, sizeof(*addrs), addr_cmp);
	for (size_t i = 0; i < naddrs; i++) {
		if (k > 0 && strcmp(addrs[k - 1], addrs[i]) == 0)
			free(addrs[i]);
		else
			addrs[k++] = addrs[i];
	}
	naddrs = k;
	/* targets_label's strings are not const; these are only read */
	static char service_label[] = "service", scheme_label[] = "__scheme__", https[] = "https";

	labels[nlabels++] = (struct targets_label){.name = service_label, .value = c->service};
	for (size_t i = 0; i < c->nlabels; i++)
		labels[nlabels++] =
		    (struct targets_label){.name = c->labels[i].key, .value = c->labels[i].value};
	if (c->scheme == CONFIG_SCHEME_HTTPS)
		labels[nlabels++] = (struct targets_label){.name = scheme_label, .value = https};
	if (targets_group_entries(s->name, (const char *const *)addrs, naddrs, labels, nlabels, out,
	                          nout, &errs) != 0) {
		*err = errs_join(&errs);
		goto out_close;
	}
	ret = 0;
out_close:
	res_nclose(&st);
out_free:
	for (size_t i = 0; i < naddrs; i++)
		free(addrs[i]);
	free(addrs);
	free(ans);
	free(labels);
	targets_errors_release(&errs);
	return ret;
}

/* ---- The threads ---- */

static void
deadline_after(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *
source_main(void *arg)
{
	struct source *s = arg;
	struct discovery *d = s->d;

	for (;;) {
		struct targets_entry *list = NULL;
		size_t n = 0;
		char *err = NULL, *key = NULL;
		struct timespec until;
		uint64_t hash = 0;
		int r;

		r = s->http ? http_refresh(s, &list, &n, &err, &key)
		            : dns_refresh(s, &list, &n, &err, &key);
		if (r != 0 && key == NULL)
			key = xstrdup(err);
		if (r == 0)
			hash = targets_entries_hash(list, n);
		pthread_mutex_lock(&d->mu);
		if (r == 0 && (!s->has_published || hash != s->published)) {
			targets_entries_free(s->fresh, s->nfresh);
			s->fresh = list;
			s->nfresh = n;
			s->has_fresh = true;
			s->published = hash;
			s->has_published = true;
			list = NULL;
			atomic_store(&d->pending, true);
		}
		if (!str_eq(key, s->err_key)) {
			free(s->err);
			free(s->err_key);
			s->err = err;
			s->err_key = key;
			s->err_news = true;
			err = key = NULL;
			atomic_store(&d->pending, true);
		}
		s->tries++;
		s->tried_ms = clock_wall_ms();
		if (r == 0)
			s->good_ms = s->tried_ms;
		pthread_cond_broadcast(&d->done);
		deadline_after(&until, s->interval_ms);
		while (!atomic_load(&d->stop) &&
		       pthread_cond_timedwait(&d->wake, &d->mu, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&d->mu);
		targets_entries_free(list, list ? n : 0);
		free(err);
		free(key);
		if (atomic_load(&d->stop))
			return NULL;
	}
}

static void
source_release(struct source *s)
{
	targets_entries_free(s->fresh, s->nfresh);
	targets_entries_free(s->cur, s->ncur);
	free(s->err);
	free(s->err_key);
	free(s->reported);
	free(s->name);
}

/* The source of 'prev' that asks what 's' asks, or NULL. */
static const struct source *
source_twin(const struct discovery *prev, const struct source *s)
{
	for (size_t i = 0; prev != NULL && i < prev->n; i++) {
		if (prev->src[i].key == s->key && (prev->src[i].http != NULL) == (s->http != NULL))
			return &prev->src[i];
	}
	return NULL;
}

static void
source_init(struct discovery *d, struct source *s, const struct discovery *prev)
{
	const struct source *twin;

	s->d = d;
	if (s->http) {
		s->name = xprintf("http_sd '%s'", s->http->url);
		s->interval_ms = (int64_t)s->http->refresh_interval * 1000;
		s->wait_ms = (int64_t)s->http->timeout * 1000 + 1000;
	} else {
		char names[256];
		size_t len = 0;

		names[0] = '\0';
		for (size_t i = 0; i < s->dns->nnames && len < sizeof(names); i++)
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s",
			                        i ? ", " : "", s->dns->names[i]);
		s->name = xprintf("dns_sd '%s' (%s)", names,
		                  s->dns->type == CONFIG_DNS_SRV ? "SRV"
		                  : s->dns->type == CONFIG_DNS_A ? "A"
		                                                 : "AAAA");
		s->interval_ms = (int64_t)s->dns->refresh_interval * 1000;
		s->wait_ms = DNS_WAIT_MS;
	}
	s->key = source_key(s);
	twin = source_twin(prev, s);
	if (twin != NULL) {
		s->cur = entries_dup(twin->cur, twin->ncur, s->name);
		s->ncur = twin->ncur;
		s->published = targets_entries_hash(s->cur, s->ncur);
		s->has_published = true;
		s->reported = xstrdup(twin->reported);
		s->err_key = xstrdup(twin->reported);
		s->good_ms = twin->good_ms;
		s->adopted = true;
	}
}

struct discovery *
discovery_start(const struct config *cfg, const struct discovery *prev, bool wait)
{
	size_t n = cfg->nhttp_sd + cfg->ndns_sd;
	pthread_condattr_t ca;
	struct discovery *d;
	int64_t wait_ms = 0;

	if (n == 0)
		return NULL;
	d = xcalloc(1, sizeof(*d));
	d->cfg = config_ref(cfg);
	pthread_mutex_init(&d->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->wake, &ca);
	pthread_cond_init(&d->done, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&d->stop, false);
	atomic_init(&d->pending, false);
	d->src = xcalloc(n, sizeof(*d->src));
	d->n = n;
	for (size_t i = 0; i < n; i++) {
		struct source *s = &d->src[i];

		if (i < cfg->nhttp_sd)
			s->http = &cfg->http_sd[i];
		else
			s->dns = &cfg->dns_sd[i - cfg->nhttp_sd];
		source_init(d, s, prev);
	}
	for (size_t i = 0; i < n; i++) {
		struct source *s = &d->src[i];
		int rc = pthread_create(&s->thread, NULL, source_main, s);

		if (rc != 0) {
			log_err("discovery: %s: cannot start a thread: %s", s->name, strerror(rc));
			discovery_stop(d);
			return NULL;
		}
		s->started = true;
		if (!s->adopted && s->wait_ms > wait_ms)
			wait_ms = s->wait_ms;
	}
	if (wait && wait_ms > 0) {
		struct timespec until;
		bool all;

		deadline_after(&until, wait_ms);
		pthread_mutex_lock(&d->mu);
		do {
			all = true;
			for (size_t i = 0; i < n; i++)
				all = all && (d->src[i].adopted || d->src[i].tries > 0);
		} while (!all && pthread_cond_timedwait(&d->done, &d->mu, &until) != ETIMEDOUT);
		pthread_mutex_unlock(&d->mu);
	}
	return d;
}

void
discovery_stop(struct discovery *d)
{
	if (d == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	atomic_store(&d->stop, true);
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->mu);
	for (size_t i = 0; i < d->n; i++) {
		if (d->src[i].started)
			pthread_join(d->src[i].thread, NULL);
	}
	for (size_t i = 0; i < d->n; i++)
		source_release(&d->src[i]);
	free(d->src);
	pthread_cond_destroy(&d->wake);
	pthread_cond_destroy(&d->done);
	pthread_mutex_destroy(&d->mu);
	config_unref(d->cfg);
	free(d);
}

/* ---- The owner's side ---- */

bool
discovery_collect(struct discovery *d, struct targets_errors *errs)
{
	bool changed = false;

	if (d == NULL)
		return false;
	atomic_store(&d->pending, false);
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->n; i++) {
		struct source *s = &d->src[i];

		if (s->has_fresh) {
			targets_entries_free(s->cur, s->ncur);
			s->cur = s->fresh;
			s->ncur = s->nfresh;
			s->fresh = NULL;
			s->nfresh = 0;
			s->has_fresh = false;
			changed = true;
		}
		if (!s->err_news)
			continue;
		s->err_news = false;
		if (s->err_key != NULL && !str_eq(s->err_key, s->reported))
			targets_errors_add(errs, "%s", s->err);
		else if (s->err_key == NULL && s->reported != NULL)
			log_notice("targets: %s: answering again (%zu targets)", s->name, s->ncur);
		free(s->reported);
		s->reported = xstrdup(s->err_key);
	}
	pthread_mutex_unlock(&d->mu);
	return changed;
}

bool
discovery_pending(const struct discovery *d)
{
	return d != NULL && atomic_load(&d->pending);
}

size_t
discovery_count(const struct discovery *d)
{
	return d != NULL ? d->n : 0;
}

/* 'url' as it may be shown to anyone (/healthz has no auth): without user information, query and
 * fragment, where credentials and tokens go. */
static void
url_shown(const char *url, char *out, size_t n)
{
	size_t scheme = url_scheme_len(url), len = strcspn(url, "?#");
	const char *host = url + scheme, *end = url + len;
	const char *slash = memchr(host, '/', (size_t)(end - host));
	const char *at = NULL;

	for (const char *p = host; p < (slash ? slash : end); p++) {
		if (*p == '@')
			at = p;
	}
	if (at != NULL)
		host = at + 1;
	snprintf(out, n, "%.*s%.*s", (int)scheme, url, (int)(end - host), host);
}

void
discovery_states(const struct discovery *d, struct targets_source_state *out)
{
	if (d == NULL)
		return;
	pthread_mutex_lock((pthread_mutex_t *)&d->mu);
	for (size_t i = 0; i < d->n; i++) {
		const struct source *s = &d->src[i];
		struct targets_source_state *o = &out[i];

		memset(o, 0, sizeof(*o));
		const char *err = s->err;
		size_t nlen = strlen(s->name);

		snprintf(o->kind, sizeof(o->kind), "%s", s->http ? "http_sd" : "dns_sd");
		if (s->http)
			url_shown(s->http->url, o->name, sizeof(o->name));
		else /* "dns_sd 'NAMES' (TYPE)" → "'NAMES' (TYPE)" */
			snprintf(o->name, sizeof(o->name), "%s", s->name + strlen("dns_sd "));
		o->last_refresh_ms = s->tried_ms;
		o->last_success_ms = s->good_ms;
		/* the error without the source's name it starts with (it holds the whole URL) */
		if (err != NULL && strncmp(err, s->name, nlen) == 0 &&
		    strncmp(err + nlen, ": ", 2) == 0)
			err += nlen + 2;
		snprintf(o->error, sizeof(o->error), "%s", err ? err : "");
		o->targets = s->ncur;
		o->last_good = s->err != NULL && s->good_ms > 0;
	}
	pthread_mutex_unlock((pthread_mutex_t *)&d->mu);
}

const struct targets_entry *
discovery_list(const struct discovery *d, size_t i, size_t *n)
{
	*n = d->src[i].ncur;
	return d->src[i].cur;
}
