/* tests/check_scrape.c: the scraper against a real HTTP server (libmicrohttpd, in process, on
 * 127.0.0.1 with an ephemeral port): statuses, body caps, gzip, timeouts, auth and redirects,
 * concurrency bound, schedule and backoff, detail scrapes, target-set replacement, connection reuse
 * and wakeups. */
#include <check.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "base/clock.h"
#include "collector/scrape.h"

/* The first records of a real Go 1.19 debug=1 goroutine profile (tests/go/zoo with early_return=3,
 * mutex=2 and sleepers), the total adjusted to the records kept. */
static const char PROFILE1[] =
    "goroutine profile: total 9\n"
    "4 @ 0x439976 0x466755 0x6b2f2f 0x4697a1\n"
    "#\t0x466754\ttime.Sleep+0x134\t/usr/lib/go-1.19/src/runtime/time.go:195\n"
    "#\t0x6b2f2e\tmain.sleeper+0x2e\t/work/main/tests/go/zoo/benign.go:58\n"
    "\n"
    "3 @ 0x439976 0x40576c 0x40531d 0x6b4665 0x4697a1\n"
    "#\t0x6b4664\tmain.earlyReturnChild+0x44\t/work/main/tests/go/zoo/leaks.go:60\n"
    "\n"
    "2 @ 0x439976 0x44a83e 0x44a815 0x465aa5 0x46fce5 0x6b56f5 0x6b56d0 0x4697a1\n"
    "#\t0x465aa4\tsync.runtime_SemacquireMutex+0x24\t/usr/lib/go-1.19/src/runtime/sema.go:77\n"
    "#\t0x46fce4\tsync.(*Mutex).lockSlow+0x164\t\t/usr/lib/go-1.19/src/sync/mutex.go:171\n"
    "#\t0x6b56f4\tsync.(*Mutex).Lock+0x54\t\t\t/usr/lib/go-1.19/src/sync/mutex.go:90\n"
    "#\t0x6b56cf\tmain.mutexLocker+0x2f\t\t\t/work/main/tests/go/zoo/leaks.go:212\n"
    "\n";

/* --- the test server -------------------------------------------------------------------------- */

/* 164 bytes of host name labels: "<these>.x.localhost" and "<these>.y.localhost" are two hosts
 * (curl resolves every *.localhost to the loopback) that agree on far more than a short buffer. */
#define LONG_LABELS                                                                                \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."                            \
	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb."                            \
	"cccccccccccccccccccccccccccccccccccccccccc"

struct srv {
	struct MHD_Daemon *d;
	unsigned port;
	atomic_bool stopping;
	atomic_int inflight;
	atomic_int max_inflight;
	atomic_int requests;
	atomic_int connections;
	pthread_mutex_t mu;
	char last_auth[256]; /* Authorization of the last request, per path below */
	char auth_path[64];
	char last_accept_enc[128];
	char last_scope[64];
	struct seen {
		char path[64];
		char host[256];
		char auth[256];
		char apikey[64];
	} seen[32]; /* the first requests of a test, in order */
	int nseen;
	char *gz; /* PROFILE1 gzip-compressed */
	size_t gzlen;
	char *bomb; /* 64 MiB of zeros, gzip-compressed */
	size_t bomblen;
};

static struct srv S;

static char *
gzip_buf(const char *in, size_t len, size_t repeat, size_t *outlen)
{
	z_stream z;
	size_t cap = len * repeat / 100 + 65536, i;
	char *out = malloc(cap);

	ck_assert_ptr_nonnull(out);
	memset(&z, 0, sizeof(z));
	ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)cap;
	for (i = 0; i < repeat; i++) {
		z.next_in = (Bytef *)(uintptr_t)in;
		z.avail_in = (uInt)len;
		ck_assert_int_eq(deflate(&z, i + 1 == repeat ? Z_FINISH : Z_NO_FLUSH) >= 0, 1);
		ck_assert_uint_eq(z.avail_in, 0);
	}
	ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	*outlen = z.total_out;
	deflateEnd(&z);
	return out;
}

static long
query_num(struct MHD_Connection *c, const char *key, long def)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
	char *end;
	long n;

	if (!v)
		return def;
	n = strtol(v, &end, 10);
	return *end ? def : n;
}

static enum MHD_Result
reply_type(struct MHD_Connection *c, unsigned code, const void *body, size_t len, const char *enc,
           const char *type)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (enc)
		MHD_add_response_header(r, "Content-Encoding", enc);
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned code, const void *body, size_t len, const char *enc)
{
	return reply_type(c, code, body, len, enc, "text/plain; charset=utf-8");
}

/* Streams 'n' bytes of profile-like text, with or without a Content-Length. */
static ssize_t
big_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	uint64_t total = (uint64_t)(uintptr_t)cls;
	size_t i, n;

	if (pos >= total)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = total - pos < max ? (size_t)(total - pos) : max;
	for (i = 0; i < n; i++)
		buf[i] = "1 @ 0x439976 0x466755\n"[(pos + i) % 22];
	return (ssize_t)n;
}

static void
sleep_unless_stopping(long ms)
{
	uint64_t end = (uint64_t)clock_mono_ms() + (uint64_t)ms;

	while ((uint64_t)clock_mono_ms() < end && !atomic_load(&S.stopping))
		usleep(5000);
}

static void
copy_header(struct MHD_Connection *c, const char *name, char *dst, size_t cap)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);

	snprintf(dst, cap, "%s", v ? v : "");
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
        const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	enum MHD_Result ret;
	int in, m;

	(void)cls;
	(void)method;
	(void)version;
	(void)upload;
	(void)upload_size;
	if (*con_cls == NULL) { /* first call: headers only */
		*con_cls = (void *)1;
		return MHD_YES;
	}
	atomic_fetch_add(&S.requests, 1);
	in = atomic_fetch_add(&S.inflight, 1) + 1;
	m = atomic_load(&S.max_inflight);
	while (in > m && !atomic_compare_exchange_weak(&S.max_inflight, &m, in))
		;
	pthread_mutex_lock(&S.mu);
	copy_header(c, "Accept-Encoding", S.last_accept_enc, sizeof(S.last_accept_enc));
	if (!S.auth_path[0] || strcmp(S.auth_path, url) == 0)
		copy_header(c, "Authorization", S.last_auth, sizeof(S.last_auth));
	copy_header(c, "X-Scope", S.last_scope, sizeof(S.last_scope));
	if (S.nseen < (int)(sizeof(S.seen) / sizeof(S.seen[0]))) {
		struct seen *w = &S.seen[S.nseen++];

		snprintf(w->path, sizeof(w->path), "%s", url);
		copy_header(c, "Host", w->host, sizeof(w->host));
		copy_header(c, "Authorization", w->auth, sizeof(w->auth));
		copy_header(c, "X-Api-Key", w->apikey, sizeof(w->apikey));
	}
	pthread_mutex_unlock(&S.mu);

	if (strcmp(url, "/ok") == 0 || strcmp(url, "/auth") == 0) {
		ret = reply(c, 200, PROFILE1, strlen(PROFILE1), NULL);
	} else if (strcmp(url, "/500") == 0) {
		ret = reply(c, 500, "boom\n", 5, NULL);
	} else if (strcmp(url, "/slow") == 0 || strcmp(url, "/count") == 0) {
		sleep_unless_stopping(query_num(c, "ms", 200));
		ret = reply(c, 200, PROFILE1, strlen(PROFILE1), NULL);
	} else if (strcmp(url, "/gzip") == 0) {
		ret = reply(c, 200, S.gz, S.gzlen, "gzip");
	} else if (strcmp(url, "/bomb") == 0) {
		ret = reply(c, 200, S.bomb, S.bomblen, "gzip");
	} else if (strcmp(url, "/garbage") == 0) {
		static const char g[] = "\x01\x02\xff garbage \x00 more";

		ret = reply(c, 200, g, sizeof(g), NULL);
	} else if (strcmp(url, "/html") == 0) {
		static const char h[] = "<html><body>Service Unavailable</body></html>\n";

		ret = reply(c, 200, h, strlen(h), NULL);
	} else if (strcmp(url, "/login") == 0) {
		/* what an SSO proxy answers in place of the profile */
		static const char h[] =
		    "\n  <!DOCTYPE html>\n<HTML lang=en><head><title>Sign in</title></head><body>"
		    "<form method=post action=/login><input name=user>"
		    "<input type=\"password\" name=pw></form></body></HTML>\n";

		ret = reply_type(c, 200, h, strlen(h), NULL, "text/html; charset=utf-8");
	} else if (strcmp(url, "/ok-as-html") == 0) {
		/* a mislabelled profile is still a profile */
		ret = reply_type(c, 200, PROFILE1, strlen(PROFILE1), NULL, "text/html");
	} else if (strcmp(url, "/401") == 0) {
		ret = reply(c, 401, "Unauthorized\n", 13, NULL);
	} else if (strcmp(url, "/403") == 0) {
		ret = reply(c, 403, "Forbidden\n", 10, NULL);
	} else if (strcmp(url, "/big") == 0 || strcmp(url, "/biglen") == 0) {
		uint64_t n = (uint64_t)query_num(c, "n", 1 << 20);
		struct MHD_Response *r = MHD_create_response_from_callback(
		    strcmp(url, "/big") == 0 ? MHD_SIZE_UNKNOWN : n, 32 * 1024, big_reader,
		    (void *)(uintptr_t)n, NULL);

		ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
	} else if (strncmp(url, "/redirect", 9) == 0) {
		char loc[512];
		struct MHD_Response *r =
		    MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);

		/* "localhost" is another host name than "127.0.0.1": another origin, on this server
		 */
		if (strncmp(url, "/redirect-other", 15) == 0)
			snprintf(loc, sizeof(loc), "http://localhost:%u%s", S.port,
			         url[15] ? url + 15 : "/auth");
		else if (strcmp(url, "/redirect-long") == 0)
			snprintf(loc, sizeof(loc), "http://%s.y.localhost:%u/auth", LONG_LABELS,
			         S.port);
		else if (strcmp(url, "/redirect-home") == 0)
			snprintf(loc, sizeof(loc), "http://127.0.0.1:%u/auth", S.port);
		else if (strcmp(url, "/redirect-loop") == 0)
			snprintf(loc, sizeof(loc), "/redirect-loop");
		else if (strcmp(url, "/redirect-ftp") == 0)
			snprintf(loc, sizeof(loc), "ftp://127.0.0.1:%u/auth", S.port);
		else if (strcmp(url, "/redirect-idn") == 0)
			snprintf(loc, sizeof(loc),
			         "http://b\xc3\xbc"
			         "cher.invalid:%u/auth",
			         S.port);
		else if (strcmp(url, "/redirect-https") == 0)
			snprintf(loc, sizeof(loc), "https://127.0.0.1:%u/auth", S.port);
		else if (strcmp(url, "/redirect-slow") == 0)
			snprintf(loc, sizeof(loc), "/slow?ms=4000");
		else
			snprintf(loc, sizeof(loc), "/auth");
		if (strcmp(url, "/redirect-slow") == 0)
			sleep_unless_stopping(query_num(c, "ms", 0));
		MHD_add_response_header(r, "Location", loc);
		ret = MHD_queue_response(c, 302, r);
		MHD_destroy_response(r);
	} else {
		ret = reply(c, 404, "404 page not found\n", 19, NULL);
	}
	atomic_fetch_sub(&S.inflight, 1);
	return ret;
}

static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
              enum MHD_ConnectionNotificationCode t)
{
	(void)cls;
	(void)c;
	(void)socket_context;
	if (t == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&S.connections, 1);
}

static void
srv_start(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	const union MHD_DaemonInfo *info;

	memset(&S, 0, sizeof(S));
	pthread_mutex_init(&S.mu, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	S.gz = gzip_buf(PROFILE1, strlen(PROFILE1), 1, &S.gzlen);
	S.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
	                       NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR,
	                       (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
	                       NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	ck_assert_ptr_nonnull(S.d);
	info = MHD_get_daemon_info(S.d, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert_ptr_nonnull(info);
	S.port = info->port;
	ck_assert_uint_ne(S.port, 0);
}

static void
srv_stop(void)
{
	atomic_store(&S.stopping, true);
	MHD_stop_daemon(S.d);
	free(S.gz);
	free(S.bomb);
	pthread_mutex_destroy(&S.mu);
}

static char *
url_of(const char *path)
{
	static char bufs[8][256];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, 256, "http://127.0.0.1:%u%s", S.port, path);
	return b;
}

static struct scrape_target
target(const char *service, const char *path)
{
	return (struct scrape_target){
	    .service = service,
	    .url = url_of(path),
	    .format = PROFILE_FORMAT_DEBUG1,
	    .interval_ms = 60000,
	    .timeout_ms = 5000,
	    .max_body_bytes = 1 << 20,
	};
}

/* --- collecting results ----------------------------------------------------------------------- */

#define MAXRES 256

struct rec {
	char service[32];
	char url[256];
	char status[SCRAPE_STATUS_MAX];
	bool ok;
	bool detail;
	bool leak;
	long http_code;
	uint64_t at_ms; /* monotonic, at delivery */
	int64_t start_ms;
	uint64_t duration_ms;
	uint64_t bytes;
	uint64_t total;
	unsigned failures;
	uint64_t lag_ms;
	bool new_connection;
};

struct recs {
	struct rec r[MAXRES];
	int n;
};

static void
on_done(void *arg, struct scrape_result *res)
{
	struct recs *rs = arg;
	struct rec *r;

	ck_assert_int_lt(rs->n, MAXRES);
	r = &rs->r[rs->n++];
	snprintf(r->service, sizeof(r->service), "%s", res->service);
	snprintf(r->url, sizeof(r->url), "%s", res->url);
	snprintf(r->status, sizeof(r->status), "%s", res->status);
	r->ok = res->ok;
	r->detail = res->detail;
	r->leak = res->leak;
	r->http_code = res->http_code;
	r->at_ms = (uint64_t)clock_mono_ms();
	r->start_ms = res->start_ms;
	r->duration_ms = res->duration_ms;
	r->bytes = res->bytes;
	r->total = res->ok ? res->profile.total_goroutines : 0;
	r->failures = res->consecutive_failures;
	r->lag_ms = res->lag_ms;
	r->new_connection = res->new_connection;
	if (res->ok)
		ck_assert_uint_gt(res->profile.nlocations, 0);
}

/* The gap between the scheduled starts of results i-1 and i (start minus lag): the scheduler's
 * decision, independent of how busy the machine running the test is. */
static int64_t
due_gap(const struct recs *rs, int i)
{
	return (rs->r[i].start_ms - (int64_t)rs->r[i].lag_ms) -
	       (rs->r[i - 1].start_ms - (int64_t)rs->r[i - 1].lag_ms);
}

/* Poll until 'want' results arrived or 'max_ms' passed. */
static void
run_until(struct scraper *sc, struct recs *rs, int want, uint64_t max_ms)
{
	uint64_t end = (uint64_t)clock_mono_ms() + max_ms;
	char err[256];

	while (rs->n < want && (uint64_t)clock_mono_ms() < end)
		ck_assert_int_ge(scrape_poll(sc, NULL, 0, 50, err, sizeof(err)), 0);
}

static struct rec *
find(struct recs *rs, const char *service)
{
	int i;

	for (i = 0; i < rs->n; i++)
		if (strcmp(rs->r[i].service, service) == 0)
			return &rs->r[i];
	return NULL;
}

static struct scraper *
new_scraper(struct recs *rs, unsigned max_concurrent)
{
	struct scrape_options opt = {
	    .max_concurrent = max_concurrent, .done = on_done, .done_arg = rs};
	struct scraper *sc = scrape_new(&opt);

	ck_assert_ptr_nonnull(sc);
	memset(rs, 0, sizeof(*rs));
	return sc;
}

static void
set_targets(struct scraper *sc, const struct scrape_target *t, size_t n)
{
	char err[256];

	ck_assert_msg(scrape_set_targets(sc, t, n, err, sizeof(err)) == 0, "set_targets: %s", err);
}

/* A port on 127.0.0.1 that nothing listens on: bind, read the port, close. */
static unsigned
dead_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* --- tests ------------------------------------------------------------------------------------ */

START_TEST(test_once_ok)
{
	struct scrape_target t = target("svc", "/ok");
	struct scrape_result res;

	ck_assert_int_eq(scrape_once(&t, &res), 0);
	ck_assert_str_eq(res.status, "ok");
	ck_assert(res.ok);
	ck_assert_int_eq(res.http_code, 200);
	ck_assert_uint_eq(res.bytes, strlen(PROFILE1));
	ck_assert_uint_eq(res.profile.total_goroutines, 9);
	ck_assert_uint_eq(res.profile.nlocations, 3);
	ck_assert_str_eq(res.service, "svc");
	ck_assert_ptr_eq(res.url, t.url);
	ck_assert_int_gt(res.start_ms, 1600000000000LL);
	profile_release(&res.profile);
}
END_TEST

static void
assert_once_status(struct scrape_target t, const char *want)
{
	struct scrape_result res;

	ck_assert_int_eq(scrape_once(&t, &res), -1);
	ck_assert(!res.ok);
	ck_assert_msg(strncmp(res.status, want, strlen(want)) == 0, "%s: want '%s', got '%s'",
	              t.url, want, res.status);
	ck_assert_uint_eq(res.profile.nlocations, 0);
	profile_release(&res.profile);
}

static void
assert_once_is(struct scrape_target t, const char *want)
{
	struct scrape_result res;

	ck_assert_int_eq(scrape_once(&t, &res), -1);
	ck_assert_msg(strcmp(res.status, want) == 0, "%s: want '%s', got '%s'", t.url, want,
	              res.status);
	profile_release(&res.profile);
}

START_TEST(test_statuses)
{
	struct scrape_target t;
	char url[128];

	assert_once_status(target("s", "/nope"), "http 404");
	assert_once_status(target("s", "/500"), "http 500");
	assert_once_status(target("s", "/garbage"), "parse error: ");
	assert_once_is(target("s", "/html"), "html page, not a profile");
	assert_once_status(target("s", "/redirect-loop"), "too many redirects");
	assert_once_status(target("s", "/redirect-ftp"),
	                   "redirected to a URL that is not http or https");
	t = target("s", "/ok");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/ok", dead_port());
	t.url = url;
	assert_once_status(t, "connect refused");
	t.url = "http://nonexistent.invalid:6060/debug/pprof/goroutine?debug=1";
	assert_once_status(t, "dns error");
	/* TLS to a plain HTTP server: the handshake fails */
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/ok", S.port);
	t.url = url;
	assert_once_status(t, "tls error: ");
}
END_TEST

/* What a target answers in place of a profile, said plainly: credentials wanted or refused, an HTML
 * page, and where a redirect to another origin led. */
START_TEST(test_statuses_auth_html_redirect)
{
	struct scrape_header h[] = {{"X-Api-Key", "k3y"}};
	struct scrape_target t = target("s", "/401");
	struct scrape_result res;
	char want[SCRAPE_STATUS_MAX];

	assert_once_is(t, "http 401 unauthorized (no basic_auth or bearer_token_file configured)");
	t.bearer_token = "s3cret";
	assert_once_is(t, "http 401 unauthorized (check basic_auth/bearer_token_file)");
	t.bearer_token = NULL;
	t.basic_user = "u";
	t.basic_password = "p";
	assert_once_is(t, "http 401 unauthorized (check basic_auth/bearer_token_file)");
	t.basic_user = NULL;
	t.headers = h;
	t.nheaders = 1;
	assert_once_is(t, "http 401 unauthorized (check headers)");
	assert_once_is(target("s", "/403"), "http 403 forbidden");
	assert_once_is(target("s", "/login"), "html page, not a profile (a login page?)");
	/* a profile under an HTML content type is still a profile */
	t = target("s", "/ok-as-html");
	ck_assert_int_eq(scrape_once(&t, &res), 0);
	ck_assert_str_eq(res.status, "ok");
	profile_release(&res.profile);

	/* after a redirect to another origin: where to, and that the credentials stayed home */
	t = target("s", "/redirect-other/401");
	t.bearer_token = "s3cret";
	snprintf(want, sizeof(want),
	         "redirected to http://localhost:%u (credentials not sent): http 401 unauthorized",
	         S.port);
	assert_once_is(t, want);
	t = target("s", "/redirect-other/login");
	snprintf(want, sizeof(want),
	         "redirected to http://localhost:%u: html page, not a profile (a login page?)",
	         S.port);
	assert_once_is(t, want);
	/* the same host over https is another origin too */
	t = target("s", "/redirect-https");
	t.headers = h;
	t.nheaders = 1;
	snprintf(want, sizeof(want),
	         "redirected to https://127.0.0.1:%u (credentials not sent): tls error: ", S.port);
	assert_once_status(t, want);
	/* a Location's host is shown with its bytes made printable (then it fails to resolve, or
	 * to parse without IDN support) */
	snprintf(want, sizeof(want), "redirected to http://b??cher.invalid:%u: ", S.port);
	assert_once_status(target("s", "/redirect-idn"), want);
	assert_once_is(target("s", "/redirect-ftp"),
	               "redirected to a URL that is not http or https");
	/* a failure on the configured origin after a redirect there needs no note */
	assert_once_is(target("s", "/redirect-loop"), "too many redirects");
}
END_TEST

/* A raw TCP peer for what an HTTP server library will not do: reset the connection, close without a
 * word, or cut the body short. Serves one connection, then exits. */
enum raw_mode { RAW_RESET, RAW_CLOSE, RAW_TRUNCATE };

struct raw_peer {
	int lfd;
	unsigned port;
	enum raw_mode mode;
	pthread_t th;
};

static void *
raw_serve(void *arg)
{
	struct raw_peer *rp = arg;
	static const char partial[] =
	    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n"
	    "goroutine profile: total 9\n";
	char buf[4096];
	int fd = accept(rp->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (read(fd, buf, sizeof(buf)) <= 0) {
		close(fd);
		return NULL;
	}
	if (rp->mode == RAW_RESET) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)); /* close sends RST */
	} else if (rp->mode == RAW_TRUNCATE) {
		if (write(fd, partial, sizeof(partial) - 1) < 0)
			perror("raw peer write");
	}
	close(fd);
	return NULL;
}

static void
raw_start(struct raw_peer *rp, enum raw_mode mode)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	rp->mode = mode;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rp->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(rp->lfd, 0);
	ck_assert_int_eq(bind(rp->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(rp->lfd, 4), 0);
	ck_assert_int_eq(getsockname(rp->lfd, (struct sockaddr *)&sa, &len), 0);
	rp->port = ntohs(sa.sin_port);
	ck_assert_int_eq(pthread_create(&rp->th, NULL, raw_serve, rp), 0);
}

static void
raw_check(enum raw_mode mode, const char *want)
{
	struct scrape_target t = target("raw", "/");
	struct raw_peer rp;
	char url[128];

	raw_start(&rp, mode);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/debug/pprof/goroutine?debug=1", rp.port);
	t.url = url;
	assert_once_status(t, want);
	ck_assert_int_eq(pthread_join(rp.th, NULL), 0);
	close(rp.lfd);
}

START_TEST(test_hostile_peers)
{
	raw_check(RAW_RESET, "connection reset");
	raw_check(RAW_CLOSE, "empty reply");
	raw_check(RAW_TRUNCATE, "truncated body");
}
END_TEST

START_TEST(test_timeout)
{
	struct scrape_target t = target("s", "/slow?ms=4000");
	struct scrape_result res;
	uint64_t t0 = (uint64_t)clock_mono_ms();

	t.timeout_ms = 300;
	ck_assert_int_eq(scrape_once(&t, &res), -1);
	ck_assert_str_eq(res.status, "timeout");
	ck_assert_uint_lt((uint64_t)clock_mono_ms() - t0, 1500);
	ck_assert_uint_ge(res.duration_ms, 290);
}
END_TEST

START_TEST(test_body_cap)
{
	struct scrape_target t = target("s", "/big?n=5000000");
	struct scrape_result res;

	t.max_body_bytes = 1 << 20;
	ck_assert_int_eq(scrape_once(&t, &res), -1);
	ck_assert_str_eq(res.status, "body too large");
	ck_assert_uint_le(res.bytes, 1 << 20);
	/* with a Content-Length, curl refuses before reading */
	t.url = url_of("/biglen?n=5000000");
	ck_assert_int_eq(scrape_once(&t, &res), -1);
	ck_assert_str_eq(res.status, "body too large");
	/* a gzip bomb stops at the cap after decoding: 64 MiB of zeros from a ~64 KiB body */
	{
		static char zeros[1 << 20];

		S.bomb = gzip_buf(zeros, sizeof(zeros), 64, &S.bomblen);
	}
	t.url = url_of("/bomb");
	ck_assert_uint_lt(S.bomblen, 1 << 20);
	ck_assert_int_eq(scrape_once(&t, &res), -1);
	ck_assert_str_eq(res.status, "body too large");
	ck_assert_uint_le(res.bytes, 1 << 20);
	/* exactly at the cap is fine (then a parse error, as it is not a profile) */
	t.url = url_of("/big?n=1048576");
	ck_assert_int_eq(scrape_once(&t, &res), -1);
	ck_assert_str_ne(res.status, "body too large");
	ck_assert_uint_eq(res.bytes, 1 << 20);
}
END_TEST

START_TEST(test_gzip)
{
	struct scrape_target t = target("s", "/gzip");
	struct scrape_result res;

	ck_assert_int_eq(scrape_once(&t, &res), 0);
	ck_assert_uint_eq(res.bytes, strlen(PROFILE1)); /* decoded */
	ck_assert_uint_eq(res.profile.total_goroutines, 9);
	ck_assert(strstr(S.last_accept_enc, "gzip") != NULL);
	profile_release(&res.profile);
	/* debug=0 bodies are gzip already: no Accept-Encoding, nothing decoded twice */
	t = target("s", "/ok");
	t.format = PROFILE_FORMAT_PROTO;
	ck_assert_int_eq(scrape_once(&t, &res), 0);
	ck_assert_str_eq(S.last_accept_enc, "");
	profile_release(&res.profile);
}
END_TEST

START_TEST(test_auth_and_redirects)
{
	struct scrape_header h[] = {{"X-Scope", "payments"}};
	struct scrape_target t = target("s", "/auth");
	struct scrape_result res;

	t.headers = h;
	t.nheaders = 1;
	t.bearer_token = "s3cret";
	ck_assert_int_eq(scrape_once(&t, &res), 0);
	profile_release(&res.profile);
	ck_assert_str_eq(S.last_auth, "Bearer s3cret");
	ck_assert_str_eq(S.last_scope, "payments");

	t.bearer_token = NULL;
	t.basic_user = "u";
	t.basic_password = "p";
	ck_assert_int_eq(scrape_once(&t, &res), 0);
	profile_release(&res.profile);
	ck_assert_str_eq(S.last_auth, "Basic dTpw");

	/* a redirect on the same host keeps the credentials; one to another host never gets them */
	snprintf(S.auth_path, sizeof(S.auth_path), "/auth");
	t.basic_user = NULL;
	t.bearer_token = "s3cret";
	t.url = url_of("/redirect-same");
	ck_assert_int_eq(scrape_once(&t, &res), 0);
	profile_release(&res.profile);
	ck_assert_str_eq(S.last_auth, "Bearer s3cret");
	t.url = url_of("/redirect-other");
	ck_assert_int_eq(scrape_once(&t, &res), 0);
	profile_release(&res.profile);
	ck_assert_str_eq(S.last_auth, "");
}
END_TEST

/* The i-th request the server saw in this test. */
static struct seen
seen(int i)
{
	struct seen w;

	pthread_mutex_lock(&S.mu);
	ck_assert_msg(i < S.nseen, "request %d not seen (%d seen)", i, S.nseen);
	w = S.seen[i];
	pthread_mutex_unlock(&S.mu);
	return w;
}

static void
seen_reset(void)
{
	pthread_mutex_lock(&S.mu);
	S.nseen = 0;
	pthread_mutex_unlock(&S.mu);
}

/* Assert what request 'i' carried: its path, its Host, and the configured secrets or none. */
static void
assert_seen(int i, const char *path, const char *host, const char *auth, const char *apikey)
{
	struct seen w = seen(i);

	ck_assert_msg(strcmp(w.path, path) == 0, "request %d: path '%s', want '%s'", i, w.path,
	              path);
	ck_assert_msg(strcmp(w.host, host) == 0, "request %d: Host '%s', want '%s'", i, w.host,
	              host);
	ck_assert_msg(strcmp(w.auth, auth) == 0, "request %d (%s): Authorization '%s', want '%s'",
	              i, w.host, w.auth, auth);
	ck_assert_msg(strcmp(w.apikey, apikey) == 0, "request %d (%s): X-Api-Key '%s', want '%s'",
	              i, w.host, w.apikey, apikey);
}

/* Configured headers and credentials go to the configured origin only: a redirect to another host
 * name (localhost, served by the same server on 127.0.0.1) gets none of them, a redirect on the
 * same origin keeps them, and a way back home gets them again. */
START_TEST(test_redirect_keeps_secrets_home)
{
	struct scrape_header h[] = {{"X-Api-Key", "k3y"}, {"X-Scope", "payments"}};
	struct scrape_target t = target("s", "/redirect-other");
	struct scrape_result res;
	char home[64], other[64];

	snprintf(home, sizeof(home), "127.0.0.1:%u", S.port);
	snprintf(other, sizeof(other), "localhost:%u", S.port);
	t.headers = h;
	t.nheaders = 2;
	t.bearer_token = "s3cret";
	ck_assert_int_eq(scrape_once(&t, &res), 0);
	profile_release(&res.profile);
	ck_assert_int_eq(S.nseen, 2);
	assert_seen(0, "/redirect-other", home, "Bearer s3cret", "k3y");
	assert_seen(1, "/auth", other, "", "");
	ck_assert_str_eq(S.last_scope, "");

	t.bearer_token = NULL;
	t.basic_user = "u";
	t.basic_password = "p";
	seen_reset();
	ck_assert_int_eq(scrape_once(&t, &res), 0);
	profile_release(&res.profile);
	assert_seen(0, "/redirect-other", home, "Basic dTpw", "k3y");
	assert_seen(1, "/auth", other, "", "");

	t.url = url_of("/redirect-same");
	seen_reset();
	ck_assert_int_eq(scrape_once(&t, &res), 0);
	profile_release(&res.profile);
	assert_seen(0, "/redirect-same", home, "Basic dTpw", "k3y");
	assert_seen(1, "/auth", home, "Basic dTpw", "k3y");
	ck_assert_str_eq(S.last_scope, "payments");

	t.url = url_of("/redirect-other/redirect-home");
	seen_reset();
	ck_assert_int_eq(scrape_once(&t, &res), 0);
	profile_release(&res.profile);
	ck_assert_int_eq(S.nseen, 3);
	assert_seen(0, "/redirect-other/redirect-home", home, "Basic dTpw", "k3y");
	assert_seen(1, "/redirect-home", other, "", "");
	assert_seen(2, "/auth", home, "Basic dTpw", "k3y");
}
END_TEST

/* Credentials in the target URL itself are basic auth like basic_user's: sent home on every hop,
 * never elsewhere. */
START_TEST(test_url_credentials)
{
	struct scrape_target t = target("s", "/");
	struct scrape_result res;
	char url[128], home[64], other[64];

	snprintf(home, sizeof(home), "127.0.0.1:%u", S.port);
	snprintf(other, sizeof(other), "localhost:%u", S.port);
	snprintf(url, sizeof(url), "http://u:p@127.0.0.1:%u/auth", S.port);
	t.url = url;
	ck_assert_int_eq(scrape_once(&t, &res), 0);
	profile_release(&res.profile);
	assert_seen(0, "/auth", home, "Basic dTpw", "");

	snprintf(url, sizeof(url), "http://u:p@127.0.0.1:%u/redirect-same", S.port);
	seen_reset();
	ck_assert_int_eq(scrape_once(&t, &res), 0);
	profile_release(&res.profile);
	assert_seen(0, "/redirect-same", home, "Basic dTpw", "");
	assert_seen(1, "/auth", home, "Basic dTpw", "");

	snprintf(url, sizeof(url), "http://u:p@127.0.0.1:%u/redirect-other/401", S.port);
	seen_reset();
	ck_assert_int_eq(scrape_once(&t, &res), -1);
	assert_seen(0, "/redirect-other/401", home, "Basic dTpw", "");
	assert_seen(1, "/401", other, "", "");
	snprintf(url, sizeof(url),
	         "redirected to http://localhost:%u (credentials not sent): http 401 unauthorized",
	         S.port);
	ck_assert_str_eq(res.status, url);

	snprintf(url, sizeof(url), "http://u:p@127.0.0.1:%u/401", S.port);
	assert_once_is(t, "http 401 unauthorized (check the user and password in the URL)");
}
END_TEST

/* Origins are compared whole: two long host names that agree on their first 160 bytes are still two
 * hosts. */
START_TEST(test_redirect_long_host_names)
{
	struct scrape_header h[] = {{"X-Api-Key", "k3y"}};
	struct scrape_target t = target("s", "/");
	struct scrape_result res;
	char url[512], home[256], other[256];

	snprintf(home, sizeof(home), "%s.x.localhost:%u", LONG_LABELS, S.port);
	snprintf(other, sizeof(other), "%s.y.localhost:%u", LONG_LABELS, S.port);
	snprintf(url, sizeof(url), "http://%s/redirect-long", home);
	t.url = url;
	t.headers = h;
	t.nheaders = 1;
	t.bearer_token = "s3cret";
	ck_assert_int_eq(scrape_once(&t, &res), 0);
	profile_release(&res.profile);
	assert_seen(0, "/redirect-long", home, "Bearer s3cret", "k3y");
	assert_seen(1, "/auth", other, "", "");
}
END_TEST

/* The timeout bounds the whole scrape, every redirect hop included. */
START_TEST(test_redirect_timeout)
{
	struct scrape_target t = target("s", "/redirect-slow?ms=400");
	struct scrape_result res;

	t.timeout_ms = 700;
	ck_assert_int_eq(scrape_once(&t, &res), -1);
	ck_assert_str_eq(res.status, "timeout");
	ck_assert_uint_ge(res.duration_ms, 690);
	/* a fresh timeout per hop would take 400 + 700 ms */
	ck_assert_uint_lt(res.duration_ms, 1000);
}
END_TEST

START_TEST(test_invalid_targets)
{
	struct recs *rs = calloc(1, sizeof(*rs));
	struct scraper *sc = new_scraper(rs, 4);
	struct scrape_target t[2] = {target("a", "/ok"), target("a", "/ok")};
	struct scrape_header bad[] = {{"X-Evil", "a\r\nInjected: 1"}};
	char err[256];

	ck_assert_int_eq(scrape_set_targets(sc, t, 2, err, sizeof(err)), -1);
	ck_assert(strstr(err, "listed twice") != NULL);
	ck_assert_uint_eq(scrape_count(sc), 0);
	t[1].url = "gopher://x";
	ck_assert_int_eq(scrape_set_targets(sc, t, 2, err, sizeof(err)), -1);
	ck_assert(strstr(err, "not an http or https URL") != NULL);
	t[1] = target("b", "/ok");
	t[1].headers = bad;
	t[1].nheaders = 1;
	ck_assert_int_eq(scrape_set_targets(sc, t, 2, err, sizeof(err)), -1);
	ck_assert(strstr(err, "bad header 'X-Evil'") != NULL);
	t[1].nheaders = 0;
	t[1].interval_ms = 0;
	ck_assert_int_eq(scrape_set_targets(sc, t, 2, err, sizeof(err)), -1);
	t[1].interval_ms = 1000;
	ck_assert_int_eq(scrape_set_targets(sc, t, 2, err, sizeof(err)), 0);
	ck_assert_uint_eq(scrape_count(sc), 2);
	/* a failed replacement leaves the old set */
	t[1].service = "";
	ck_assert_int_eq(scrape_set_targets(sc, t, 2, err, sizeof(err)), -1);
	ck_assert_uint_eq(scrape_count(sc), 2);
	scrape_free(sc);
	scrape_free(NULL);
	free(rs);
}
END_TEST

START_TEST(test_concurrency_bound)
{
	struct recs *rs = calloc(1, sizeof(*rs));
	struct scraper *sc = new_scraper(rs, 3);
	struct scrape_target t[10];
	char names[10][16];
	unsigned maxfl = 0;
	uint64_t end;
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(names[i], sizeof(names[i]), "c%d", i);
		t[i] = target(names[i], "/count?ms=150");
	}
	set_targets(sc, t, 10);
	scrape_trigger_all(sc);
	end = (uint64_t)clock_mono_ms() + 5000;
	while (rs->n < 10 && (uint64_t)clock_mono_ms() < end) {
		char err[128];

		ck_assert_int_ge(scrape_poll(sc, NULL, 0, 20, err, sizeof(err)), 0);
		if (scrape_in_flight(sc) > maxfl)
			maxfl = scrape_in_flight(sc);
	}
	ck_assert_int_eq(rs->n, 10);
	for (i = 0; i < 10; i++)
		ck_assert_str_eq(rs->r[i].status, "ok");
	ck_assert_uint_le(maxfl, 3);
	ck_assert_int_le(atomic_load(&S.max_inflight), 3);
	ck_assert_int_ge(atomic_load(&S.max_inflight), 2); /* and it does run them side by side */
	scrape_free(sc);
	free(rs);
}
END_TEST

/* A target that never answers holds one slot until its timeout; the others go through the remaining
 * slot. */
START_TEST(test_slow_target_does_not_stall_others)
{
	struct recs *rs = calloc(1, sizeof(*rs));
	struct scraper *sc = new_scraper(rs, 2);
	struct scrape_target t[6];
	char names[6][16];
	uint64_t t0;
	int i;

	t[0] = target("slow", "/slow?ms=10000");
	t[0].timeout_ms = 3000;
	for (i = 1; i < 6; i++) {
		snprintf(names[i], sizeof(names[i]), "f%d", i);
		t[i] = target(names[i], "/ok");
	}
	set_targets(sc, t, 6);
	scrape_trigger_all(sc);
	t0 = (uint64_t)clock_mono_ms();
	run_until(sc, rs, 5, 2500);
	ck_assert_int_eq(rs->n, 5);
	for (i = 0; i < 5; i++) {
		ck_assert_str_ne(rs->r[i].service, "slow");
		ck_assert_str_eq(rs->r[i].status, "ok");
	}
	/* well before the slow one's 3 s timeout frees its slot */
	ck_assert_uint_lt((uint64_t)clock_mono_ms() - t0, 2000);
	run_until(sc, rs, 6, 4000);
	ck_assert_str_eq(find(rs, "slow")->status, "timeout");
	scrape_free(sc);
	free(rs);
}
END_TEST

START_TEST(test_schedule_maths)
{
	unsigned buckets[10] = {0};
	char url[64];
	int i;

	ck_assert_uint_eq(scrape_backoff_ms(60000, 0), 60000);
	ck_assert_uint_eq(scrape_backoff_ms(60000, 1), 60000);
	ck_assert_uint_eq(scrape_backoff_ms(60000, 2), 120000);
	ck_assert_uint_eq(scrape_backoff_ms(60000, 3), 240000);
	ck_assert_uint_eq(scrape_backoff_ms(60000, 4), 480000);
	ck_assert_uint_eq(scrape_backoff_ms(60000, 1000), 480000); /* capped at interval × 8 */
	ck_assert_uint_eq(scrape_jitter_max_ms(60000), 3000);
	ck_assert_uint_eq(scrape_jitter_max_ms(600000), 5000);
	ck_assert_uint_eq(scrape_jitter_max_ms(1000), 50);
	/* phases: stable, inside the interval, spread evenly over it */
	for (i = 0; i < 5000; i++) {
		uint64_t p;

		snprintf(url, sizeof(url), "http://10.1.%d.%d:6060/debug/pprof/goroutine?debug=0",
		         i / 200, i % 200);
		p = scrape_phase_ms("svc", url, 60000);
		ck_assert_uint_lt(p, 60000);
		ck_assert_uint_eq(p, scrape_phase_ms("svc", url, 60000));
		buckets[p / 6000]++;
	}
	for (i = 0; i < 10; i++)
		ck_assert_msg(buckets[i] > 400 && buckets[i] < 600, "bucket %d: %u of 5000", i,
		              buckets[i]);
	ck_assert_uint_ne(scrape_phase_ms("a", "http://x/", 60000),
	                  scrape_phase_ms("b", "http://x/", 60000));
}
END_TEST

/* A new target's first scrape: at once when few join together, else at the next slot of its grid,
 * which is stable (across calls, and across restarts: the wall clock), inside the interval and
 * spread evenly over it. */
START_TEST(test_first_delay_rule)
{
	unsigned buckets[10] = {0};
	char url[96];
	int64_t now = 1796569415123; /* any wall-clock time */
	uint64_t iv = 60000;
	int i;

	ck_assert_uint_eq(scrape_start_at_once_max(64), 64);
	ck_assert_uint_eq(scrape_start_at_once_max(4), 4);
	ck_assert_uint_eq(scrape_start_at_once_max(100000), SCRAPE_START_AT_ONCE);
	/* small fleets: at once, whatever the phase */
	for (i = 0; i < 200; i++) {
		snprintf(url, sizeof(url), "http://10.2.0.%d:6060/debug/pprof/goroutine", i);
		ck_assert_uint_eq(scrape_first_delay_ms("svc", url, iv, now, 1, 64), 0);
		ck_assert_uint_eq(scrape_first_delay_ms("svc", url, iv, now, 64, 64), 0);
		ck_assert_uint_eq(scrape_first_delay_ms("svc", url, iv, now, 4, 4), 0);
		/* more than the bound: some wait, and none is at once by chance of the rule */
		ck_assert_uint_gt(scrape_first_delay_ms("svc", url, iv, now, 5, 4), 0);
	}
	/* a large fleet: (0, interval], stable, at its phase, spread evenly */
	for (i = 0; i < 5000; i++) {
		uint64_t d;
		int64_t phase;

		snprintf(url, sizeof(url), "http://10.1.%d.%d:6060/debug/pprof/goroutine?debug=0",
		         i / 200, i % 200);
		d = scrape_first_delay_ms("svc", url, iv, now, 5000, 64);
		ck_assert_uint_gt(d, 0);
		ck_assert_uint_le(d, iv);
		ck_assert_uint_eq(d, scrape_first_delay_ms("svc", url, iv, now, 5000, 64));
		/* the same slot seen 25 s later: the grid stays, so does the place in it */
		phase = (int64_t)scrape_phase_ms("svc", url, iv);
		ck_assert_int_eq((now + (int64_t)d) % (int64_t)iv, phase);
		if (d > 25000)
			ck_assert_uint_eq(
			    scrape_first_delay_ms("svc", url, iv, now + 25000, 5000, 64),
			    d - 25000);
		buckets[(d - 1) / 6000]++;
	}
	for (i = 0; i < 10; i++)
		ck_assert_msg(buckets[i] > 400 && buckets[i] < 600, "bucket %d: %u of 5000", i,
		              buckets[i]);
	ck_assert_uint_eq(scrape_first_delay_ms("svc", "http://x/", 0, now, 5000, 64), 0);
}
END_TEST

/* The rule in a live scraper: a few targets are scraped at once and their second scrape comes at
 * least an interval later; many are placed at their phase, and so are their first leak fetches
 * (on the grid of the leak interval) instead of coming right after the first regular scrape. */
START_TEST(test_schedule_first_live)
{
	struct recs *rs = calloc(1, sizeof(*rs));
	struct scraper *sc = new_scraper(rs, 4);
	struct scrape_target t[100];
	char urls[100][64];
	uint64_t t0;
	int64_t now;
	size_t i;

	for (i = 0; i < 100; i++) {
		snprintf(urls[i], sizeof(urls[i]), "http://10.9.1.%zu:6060/debug/pprof/goroutine",
		         i);
		t[i] = target("first", "/ok");
		t[i].url = urls[i];
		t[i].leak_url = urls[i];
		t[i].leak_interval_ms = 3600000;
	}
	/* four (max_concurrent) real targets at a 60 s interval: scraped at once */
	for (i = 0; i < 4; i++) {
		t[i].url = url_of("/ok");
		t[i].leak_url = NULL;
		t[i].leak_interval_ms = 0;
		t[i].service = i == 0 ? "f0" : i == 1 ? "f1" : i == 2 ? "f2" : "f3";
	}
	t0 = (uint64_t)clock_mono_ms();
	set_targets(sc, t, 4);
	for (i = 0; i < 4; i++) {
		struct scrape_health h;

		scrape_get_health(sc, i, &h);
		ck_assert_uint_eq(h.next_in_ms, 0);
	}
	run_until(sc, rs, 4, 3000);
	ck_assert_int_eq(rs->n, 4);
	ck_assert_uint_lt(rs->r[3].at_ms - t0, 2000);
	for (i = 0; i < 4; i++) {
		struct scrape_health h;

		scrape_get_health(sc, i, &h);
		ck_assert(h.scraped);
		/* on its grid, at least an interval after the first scrape (in the last 2 s) */
		ck_assert_uint_ge(h.next_in_ms, 60000 - 2000);
		ck_assert_uint_le(h.next_in_ms, 2 * 60000 + scrape_jitter_max_ms(60000));
	}
	scrape_free(sc);

	/* five, one more than max_concurrent: each at its phase, its first leak fetch at its leak
	 * phase */
	sc = new_scraper(rs, 4);
	for (i = 0; i < 4; i++) {
		t[i].url = urls[i];
		t[i].leak_url = urls[i];
		t[i].leak_interval_ms = 3600000;
	}
	now = clock_wall_ms();
	set_targets(sc, t, 5);
	for (i = 0; i < 5; i++) {
		struct scrape_health h;
		uint64_t want = scrape_first_delay_ms(t[i].service, urls[i], 60000, now, 5, 4);
		uint64_t leak = scrape_first_delay_ms(t[i].service, urls[i], 3600000, now, 5, 4);

		scrape_get_health(sc, i, &h);
		/* the slot may have passed between 'now' and the schedule: then the next one */
		if (h.next_in_ms > want + 60000 - 100)
			want += 60000;
		if (h.leak_next_in_ms > leak + 3600000 - 100)
			leak += 3600000;
		ck_assert_msg(h.next_in_ms + 30 >= want &&
		                  h.next_in_ms <= want + scrape_jitter_max_ms(60000),
		              "target %zu: first scrape in %llu ms, its slot in %llu", i,
		              (unsigned long long)h.next_in_ms, (unsigned long long)want);
		ck_assert_msg(h.leak_next_in_ms + 30 >= leak && h.leak_next_in_ms <= leak,
		              "target %zu: first leak fetch in %llu ms, its slot in %llu", i,
		              (unsigned long long)h.leak_next_in_ms, (unsigned long long)leak);
	}
	/* a hundred: spread over the interval, and so are their first leak fetches */
	set_targets(sc, t, 100);
	{
		uint64_t lo = UINT64_MAX, hi = 0, llo = UINT64_MAX, lhi = 0;

		for (i = 0; i < 100; i++) {
			struct scrape_health h;

			scrape_get_health(sc, i, &h);
			lo = h.next_in_ms < lo ? h.next_in_ms : lo;
			hi = h.next_in_ms > hi ? h.next_in_ms : hi;
			llo = h.leak_next_in_ms < llo ? h.leak_next_in_ms : llo;
			lhi = h.leak_next_in_ms > lhi ? h.leak_next_in_ms : lhi;
		}
		ck_assert_uint_lt(lo, 10000);
		ck_assert_uint_gt(hi, 50000);
		ck_assert_uint_lt(llo, 600000);
		ck_assert_uint_gt(lhi, 3000000);
	}
	/* a reload moving the leak profile of many: each asked at its place on the new URL's grid;
	 * of a few: each asked after its next scrape */
	{
		static char leak_urls[100][80];

		for (i = 0; i < 100; i++) {
			snprintf(leak_urls[i], sizeof(leak_urls[i]), "%.63s?leak=2", urls[i]);
			t[i].leak_url = leak_urls[i];
		}
		now = clock_wall_ms();
		set_targets(sc, t, 100);
		for (i = 0; i < 100; i++) {
			struct scrape_health h;
			uint64_t leak =
			    scrape_first_delay_ms(t[i].service, leak_urls[i], 3600000, now, 100, 4);

			scrape_get_health(sc, i, &h);
			if (h.leak_next_in_ms > leak + 3600000 - 100)
				leak += 3600000;
			ck_assert_msg(h.leak_next_in_ms + 30 >= leak && h.leak_next_in_ms <= leak,
			              "target %zu: leak fetch in %llu ms, its slot in %llu", i,
			              (unsigned long long)h.leak_next_in_ms,
			              (unsigned long long)leak);
		}
		for (i = 0; i < 3; i++)
			t[i].leak_url = urls[i];
		set_targets(sc, t, 100);
		for (i = 0; i < 100; i++) {
			struct scrape_health h;

			scrape_get_health(sc, i, &h);
			if (i < 3)
				ck_assert_uint_eq(h.leak_next_in_ms, 0);
			else
				ck_assert_uint_gt(h.leak_next_in_ms, 0);
		}
	}
	scrape_free(sc);
	free(rs);
}
END_TEST

/* A reload that changes a target's interval moves it to the grid of the new interval, never less
 * than the new interval after the slot of its last scrape: whether it was idle or in flight at the
 * reload, and whether the interval grew or shrank. */
START_TEST(test_regrid_keeps_the_gap)
{
	struct recs *rs = calloc(1, sizeof(*rs));
	struct scraper *sc = new_scraper(rs, 4);
	struct scrape_target t = target("rg", "/ok");
	struct scrape_health h;
	uint64_t t0;
	char err[128];

	t.interval_ms = 60000;
	t0 = (uint64_t)clock_mono_ms();
	set_targets(sc, &t, 1);
	run_until(sc, rs, 1, 2000);
	ck_assert_int_eq(rs->n, 1);
	/* shorter: 20 s after the last slot at the earliest, not the next 20 s slot from now */
	t.interval_ms = 20000;
	set_targets(sc, &t, 1);
	scrape_get_health(sc, 0, &h);
	ck_assert_msg(h.next_in_ms + ((uint64_t)clock_mono_ms() - t0) + 5 >= 20000,
	              "next scrape in %llu ms", (unsigned long long)h.next_in_ms);
	ck_assert_uint_le(h.next_in_ms, 2 * 20000 + scrape_jitter_max_ms(20000));
	/* longer: 90 s after the last slot at the earliest */
	t.interval_ms = 90000;
	set_targets(sc, &t, 1);
	scrape_get_health(sc, 0, &h);
	ck_assert_msg(h.next_in_ms + ((uint64_t)clock_mono_ms() - t0) + 5 >= 90000,
	              "next scrape in %llu ms", (unsigned long long)h.next_in_ms);
	ck_assert_uint_le(h.next_in_ms, 2 * 90000 + scrape_jitter_max_ms(90000));
	/* in flight at the reload: the same once it finishes */
	t.url = url_of("/slow?ms=300");
	t.interval_ms = 60000;
	t0 = (uint64_t)clock_mono_ms();
	set_targets(sc, &t, 1); /* another URL: a new target, scraped at once */
	ck_assert_int_ge(scrape_poll(sc, NULL, 0, 50, err, sizeof(err)), 0);
	ck_assert_uint_eq(scrape_in_flight(sc), 1);
	t.interval_ms = 20000;
	set_targets(sc, &t, 1);
	run_until(sc, rs, 2, 3000);
	ck_assert_int_eq(rs->n, 2);
	scrape_get_health(sc, 0, &h);
	ck_assert_msg(h.next_in_ms + ((uint64_t)clock_mono_ms() - t0) + 5 >= 20000,
	              "next scrape in %llu ms", (unsigned long long)h.next_in_ms);
	scrape_free(sc);
	free(rs);
}
END_TEST

/* A live schedule: the first scrape lands within one interval, the next ones one interval apart. */
START_TEST(test_schedule_live)
{
	struct recs *rs = calloc(1, sizeof(*rs));
	struct scraper *sc = new_scraper(rs, 4);
	struct scrape_target t = target("sched", "/ok");
	struct scrape_health h;
	uint64_t t0 = (uint64_t)clock_mono_ms();
	int i;

	t.interval_ms = 300;
	set_targets(sc, &t, 1);
	scrape_get_health(sc, 0, &h);
	ck_assert(!h.scraped);
	ck_assert_uint_eq(h.next_in_ms, 0); /* one new target: at once */
	run_until(sc, rs, 4, 3000);
	ck_assert_int_eq(rs->n, 4);
	ck_assert_uint_le(rs->r[0].at_ms - t0, 400);
	for (i = 1; i < 4; i++) {
		int64_t gap = due_gap(rs, i);

		/* one interval, give or take the two starts' jitters (at most 15 ms each) and ms
		 * rounding; after the first, the first slot of its grid at least one interval on */
		ck_assert_msg(gap >= 300 - 15 - 3 && gap <= (i == 1 ? 600 : 300) + 15 + 3,
		              "gap %d: %lld ms", i, (long long)gap);
		ck_assert_uint_lt(rs->r[i].lag_ms, 500);
	}
	scrape_get_health(sc, 0, &h);
	ck_assert(h.scraped && h.up);
	ck_assert_str_eq(h.status, "ok");
	ck_assert_uint_eq(h.scrapes, 4);
	ck_assert_uint_eq(h.last_bytes, strlen(PROFILE1));
	ck_assert_uint_eq(h.last_total_goroutines, 9);
	scrape_free(sc);
	free(rs);
}
END_TEST

/* New targets start at their phase within the interval (wall-clock grid) plus a random jitter of at
 * most scrape_jitter_max_ms(): never all at once, never all at the same offset. */
START_TEST(test_schedule_jitter)
{
	struct recs *rs = calloc(1, sizeof(*rs));
	struct scraper *sc = new_scraper(rs, 4);
	struct scrape_target t[100];
	char urls[100][64];
	int64_t jmin = INT64_MAX, jmax = INT64_MIN, iv = 60000, now;
	size_t i;

	for (i = 0; i < 100; i++) {
		snprintf(urls[i], sizeof(urls[i]), "http://10.9.0.%zu:6060/debug/pprof/goroutine",
		         i);
		t[i] = target("j", "/ok");
		t[i].url = urls[i];
	}
	now = clock_wall_ms();
	set_targets(sc, t, 100);
	for (i = 0; i < 100; i++) {
		struct scrape_health h;
		int64_t phase = (int64_t)scrape_phase_ms("j", urls[i], (uint64_t)iv);
		int64_t base = ((phase - now) % iv + iv) % iv;
		int64_t jitter;

		scrape_get_health(sc, i, &h);
		if (base == 0)
			base = iv;
		jitter = (int64_t)h.next_in_ms - base;
		/* 'now' was read a little before the schedule was made: allow a few ms */
		ck_assert_msg(jitter >= -30 &&
		                  jitter <= (int64_t)scrape_jitter_max_ms((uint64_t)iv) + 30,
		              "target %zu: jitter %lld ms", i, (long long)jitter);
		if (jitter < jmin)
			jmin = jitter;
		if (jitter > jmax)
			jmax = jitter;
	}
	ck_assert_msg(jmax - jmin > 1000, "jitters spread over %lld ms only",
	              (long long)(jmax - jmin));
	scrape_free(sc);
	free(rs);
}
END_TEST

/* A failing target backs off: gaps of 1, 2, 4 intervals; recovery resets the count. */
START_TEST(test_backoff_live)
{
	struct recs *rs = calloc(1, sizeof(*rs));
	struct scraper *sc = new_scraper(rs, 4);
	struct scrape_target t = target("bo", "/nope");
	static const int64_t want[] = {200, 400, 800};
	struct scrape_health h;
	size_t up, down;
	int i;

	t.interval_ms = 200;
	set_targets(sc, &t, 1);
	run_until(sc, rs, 4, 3000);
	ck_assert_int_eq(rs->n, 4);
	for (i = 0; i < 4; i++) {
		ck_assert_str_eq(rs->r[i].status, "http 404");
		ck_assert_uint_eq(rs->r[i].failures, (unsigned)i + 1);
	}
	for (i = 1; i < 4; i++) {
		int64_t gap = due_gap(rs, i);

		/* the first scrape at once, off the grid: the second at its first slot at least
		 * one interval on */
		ck_assert_msg(
		    gap >= want[i - 1] - 10 - 3 && gap <= want[i - 1] + (i == 1 ? 200 : 0) + 10 + 3,
		    "gap %d: %lld ms, want %lld", i, (long long)gap, (long long)want[i - 1]);
	}
	scrape_get_health(sc, 0, &h);
	ck_assert(!h.up);
	ck_assert_uint_eq(h.consecutive_failures, 4);
	ck_assert_uint_ge(h.next_in_ms, 1000); /* 8 intervals from the last slot */
	scrape_count_up(sc, &up, &down);
	ck_assert_uint_eq(up, 0);
	ck_assert_uint_eq(down, 1);
	scrape_free(sc);
	free(rs);
}
END_TEST

START_TEST(test_detail_scrapes)
{
	struct recs *rs = calloc(1, sizeof(*rs));
	struct scraper *sc = new_scraper(rs, 4);
	struct scrape_target t = target("d", "/count?ms=50");
	struct scrape_health h;
	int i;

	t.interval_ms = 150;
	t.detail_url = url_of("/count?ms=50&debug=2");
	t.detail_every = 2;
	t.detail_max_goroutines = 100;
	set_targets(sc, &t, 1);
	run_until(sc, rs, 6, 4000);
	ck_assert_int_eq(rs->n, 6);
	/* regular, regular, detail, regular, regular, detail */
	for (i = 0; i < 6; i++) {
		ck_assert_str_eq(rs->r[i].status, "ok");
		ck_assert_int_eq(rs->r[i].detail, i == 2 || i == 5);
		ck_assert(strstr(rs->r[i].url, "debug=2") ? rs->r[i].detail : !rs->r[i].detail);
	}
	/* one target never has two transfers at once */
	ck_assert_int_eq(atomic_load(&S.max_inflight), 1);
	scrape_get_health(sc, 0, &h);
	ck_assert_uint_eq(h.scrapes, 4);
	ck_assert_uint_eq(h.detail_scrapes, 2);
	scrape_free(sc);

	/* more goroutines than detail_max_goroutines (9 > 5): no detail scrape */
	sc = new_scraper(rs, 4);
	t.detail_max_goroutines = 5;
	set_targets(sc, &t, 1);
	run_until(sc, rs, 4, 3000);
	ck_assert_int_eq(rs->n, 4);
	for (i = 0; i < 4; i++)
		ck_assert(!rs->r[i].detail);
	scrape_free(sc);
	free(rs);
}
END_TEST

/* The leak profile: fetched right after the first ok regular scrape, then once per leak interval
 * (counted from the start of the previous leak fetch), always after the regular scrape and its
 * detail scrape, never two transfers of the target at once. */
START_TEST(test_leak_profile_schedule)
{
	struct recs *rs = calloc(1, sizeof(*rs));
	struct scraper *sc = new_scraper(rs, 4);
	struct scrape_target t = target("lk", "/count?ms=30");
	struct scrape_health h;
	int i, nleak = 0, last_leak = -1, nregular = 0;
	uint64_t start = (uint64_t)clock_mono_ms();

	atomic_store(&S.max_inflight, 0);
	t.interval_ms = 100;
	t.detail_url = url_of("/count?ms=30&debug=2");
	t.detail_every = 3;
	t.detail_max_goroutines = 100;
	t.leak_url = url_of("/count?ms=30&leak=1");
	t.leak_interval_ms = 450;
	set_targets(sc, &t, 1);
	while ((uint64_t)clock_mono_ms() - start < 2000) {
		char err[256];

		ck_assert_int_ge(scrape_poll(sc, NULL, 0, 50, err, sizeof(err)), 0);
	}
	ck_assert_int_ge(rs->n, 8);
	ck_assert_msg(rs->r[1].leak, "the first leak fetch follows the first regular scrape");
	for (i = 0; i < rs->n; i++) {
		const struct rec *r = &rs->r[i];

		ck_assert_str_eq(r->status, "ok");
		ck_assert(!(r->leak && r->detail));
		ck_assert(strstr(r->url, "leak=1") ? r->leak : !r->leak);
		if (!r->leak) {
			nregular += !r->detail;
			continue;
		}
		/* after a regular scrape or its detail scrape, never first nor twice in a row */
		ck_assert_int_gt(i, 0);
		ck_assert(!rs->r[i - 1].leak);
		if (last_leak >= 0) {
			int64_t gap = r->start_ms - rs->r[last_leak].start_ms;

			/* due 450 ms after the previous one started; taken after the next regular
			 * scrape (100 ms grid, 30 ms fetches, and a detail scrape now and then) */
			ck_assert_msg(gap >= 450 - 5 && gap <= 450 + 100 + 2 * 30 + 120,
			              "leak fetch %d: %lld ms after the previous one", i,
			              (long long)gap);
		}
		last_leak = i;
		nleak++;
	}
	/* about 2000 / 450 of them, not one per regular scrape */
	ck_assert_int_ge(nleak, 3);
	ck_assert_int_le(nleak, 5);
	ck_assert_int_ge(nregular, 2 * nleak);
	ck_assert_int_eq(atomic_load(&S.max_inflight), 1);
	scrape_get_health(sc, 0, &h);
	ck_assert_uint_eq(h.leak_scrapes, (uint64_t)nleak);
	ck_assert(!h.leak_unserved);
	ck_assert_uint_le(h.leak_next_in_ms, 450);
	ck_assert_uint_eq(h.consecutive_failures, 0);
	scrape_free(sc);
	free(rs);
}
END_TEST

/* A target that answers 404 for the leak profile does not serve it: no failure of the target, and
 * asked again only after leak_retry_ms; a reload naming another leak URL asks at once. */
START_TEST(test_leak_profile_unserved)
{
	struct recs *rs = calloc(1, sizeof(*rs));
	struct scraper *sc = new_scraper(rs, 4);
	struct scrape_target t = target("nl", "/count?ms=5");
	struct scrape_health h;
	int i, nleak = 0, last_leak = -1, nregular = 0, first;
	uint64_t start = (uint64_t)clock_mono_ms();
	char err[256];

	t.interval_ms = 100;
	t.leak_url = url_of("/nope?leak=1");
	t.leak_interval_ms = 150;
	t.leak_retry_ms = 800;
	set_targets(sc, &t, 1);
	while ((uint64_t)clock_mono_ms() - start < 2000)
		ck_assert_int_ge(scrape_poll(sc, NULL, 0, 50, err, sizeof(err)), 0);
	for (i = 0; i < rs->n; i++) {
		const struct rec *r = &rs->r[i];

		if (!r->leak) {
			ck_assert_str_eq(r->status, "ok");
			ck_assert_uint_eq(r->failures, 0);
			nregular++;
			continue;
		}
		ck_assert_int_eq(r->http_code, 404);
		ck_assert_uint_eq(r->failures, 0);
		if (last_leak >= 0)
			ck_assert_int_ge(r->start_ms - rs->r[last_leak].start_ms, 800 - 5);
		last_leak = i;
		nleak++;
	}
	/* at 0 and about 900 ms, maybe 1800 ms: not every 150 ms */
	ck_assert_int_ge(nleak, 2);
	ck_assert_int_le(nleak, 3);
	ck_assert_int_ge(nregular, 12);
	scrape_get_health(sc, 0, &h);
	ck_assert(h.up);
	ck_assert_uint_eq(h.consecutive_failures, 0);
	ck_assert(h.leak_unserved);
	ck_assert_uint_gt(h.leak_next_in_ms, 0);

	/* A new leak URL (a deploy that serves it under another path) is asked after the next
	 * regular scrape, and it is served. */
	t.leak_url = url_of("/count?ms=5&leak=2");
	set_targets(sc, &t, 1);
	first = rs->n;
	run_until(sc, rs, first + 3, 2000);
	for (i = first; i < rs->n && !rs->r[i].leak; i++)
		;
	ck_assert_int_lt(i, first + 3);
	ck_assert_str_eq(rs->r[i].status, "ok");
	ck_assert(strstr(rs->r[i].url, "leak=2") != NULL);
	scrape_get_health(sc, 0, &h);
	ck_assert(!h.leak_unserved);
	scrape_free(sc);
	free(rs);
}
END_TEST

START_TEST(test_replace_targets)
{
	struct recs *rs = calloc(1, sizeof(*rs));
	struct scraper *sc = new_scraper(rs, 4);
	struct scrape_target t[3] = {target("a", "/ok"), target("b", "/ok"),
	                             target("slow", "/slow?ms=5000")};
	struct scrape_target t2[2];
	struct scrape_health h;
	int before;

	set_targets(sc, t, 3);
	scrape_trigger_all(sc);
	run_until(sc, rs, 2, 2000);
	ck_assert_int_eq(rs->n, 2);
	ck_assert_ptr_null(find(rs, "slow"));
	ck_assert_uint_eq(scrape_in_flight(sc), 1); /* "slow" still running */
	/* keep b (with a new header), drop a and the running slow one, add c */
	t2[0] = target("c", "/ok");
	t2[1] = target("b", "/ok");
	t2[1].timeout_ms = 1234;
	set_targets(sc, t2, 2);
	ck_assert_uint_eq(scrape_count(sc), 2);
	ck_assert_uint_eq(scrape_in_flight(sc), 0); /* slow aborted, without a callback */
	scrape_get_health(sc, 1, &h);
	ck_assert_str_eq(h.service, "b");
	ck_assert(h.scraped && h.up);
	ck_assert_uint_eq(h.scrapes, 1); /* b kept its health */
	ck_assert(h.next_in_ms > 50000); /* and its schedule (60 s interval, just scraped) */
	scrape_get_health(sc, 0, &h);
	ck_assert_str_eq(h.service, "c");
	ck_assert(!h.scraped);
	before = rs->n;
	scrape_trigger_all(sc);
	run_until(sc, rs, before + 2, 2000);
	ck_assert_int_eq(rs->n, before + 2);
	ck_assert_ptr_null(find(rs, "slow"));
	ck_assert_ptr_nonnull(find(rs, "c"));
	/* replace the set while a kept target's transfer is in flight: its result still arrives */
	t2[1] = target("b", "/slow?ms=300");
	set_targets(sc, t2, 2);
	before = rs->n;
	scrape_trigger_all(sc);
	{
		char err[128];

		ck_assert_int_ge(scrape_poll(sc, NULL, 0, 50, err, sizeof(err)), 0);
	}
	ck_assert_uint_ge(scrape_in_flight(sc), 1);
	set_targets(sc, t2, 2);
	run_until(sc, rs, before + 2, 3000);
	ck_assert_int_eq(rs->n, before + 2);
	/* and to nothing */
	set_targets(sc, NULL, 0);
	ck_assert_uint_eq(scrape_count(sc), 0);
	scrape_free(sc);
	free(rs);
}
END_TEST

START_TEST(test_connection_reuse)
{
	struct recs *rs = calloc(1, sizeof(*rs));
	struct scraper *sc = new_scraper(rs, 4);
	struct scrape_target t = target("r", "/ok");

	t.interval_ms = 100;
	set_targets(sc, &t, 1);
	run_until(sc, rs, 4, 3000);
	ck_assert_int_eq(rs->n, 4);
	ck_assert_int_eq(atomic_load(&S.requests), 4);
	ck_assert_int_eq(atomic_load(&S.connections), 1);
	/* what a restart shows: a new connection where one was kept alive */
	ck_assert(rs->r[0].new_connection);
	for (int i = 1; i < 4; i++)
		ck_assert(!rs->r[i].new_connection);
	scrape_free(sc);
	free(rs);
}
END_TEST

static void *
wake_later(void *arg)
{
	usleep(150 * 1000);
	scrape_wakeup(arg);
	return NULL;
}

START_TEST(test_wakeup_and_extra_fds)
{
	struct recs *rs = calloc(1, sizeof(*rs));
	struct scraper *sc = new_scraper(rs, 4);
	char err[128];
	pthread_t th;
	uint64_t t0;
	int p[2];

	t0 = (uint64_t)clock_mono_ms();
	ck_assert_int_eq(pthread_create(&th, NULL, wake_later, sc), 0);
	ck_assert_int_eq(scrape_poll(sc, NULL, 0, 5000, err, sizeof(err)), 0);
	ck_assert_uint_lt((uint64_t)clock_mono_ms() - t0, 2000);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	/* a readable extra descriptor (a signalfd in the daemon) ends the wait */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	t0 = (uint64_t)clock_mono_ms();
	ck_assert_int_eq(scrape_poll(sc, &p[0], 1, 5000, err, sizeof(err)), 0);
	ck_assert_uint_lt((uint64_t)clock_mono_ms() - t0, 1000);
	close(p[0]);
	close(p[1]);
	scrape_free(sc);
	free(rs);
}
END_TEST

Suite *scrape_suite(void);

Suite *
scrape_suite(void)
{
	Suite *s = suite_create("scrape");
	TCase *tc = tcase_create("scrape");

	tcase_add_checked_fixture(tc, srv_start, srv_stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_once_ok);
	tcase_add_test(tc, test_statuses);
	tcase_add_test(tc, test_hostile_peers);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_body_cap);
	tcase_add_test(tc, test_gzip);
	tcase_add_test(tc, test_auth_and_redirects);
	tcase_add_test(tc, test_statuses_auth_html_redirect);
	tcase_add_test(tc, test_redirect_keeps_secrets_home);
	tcase_add_test(tc, test_redirect_timeout);
	tcase_add_test(tc, test_url_credentials);
	tcase_add_test(tc, test_redirect_long_host_names);
	tcase_add_test(tc, test_invalid_targets);
	tcase_add_test(tc, test_concurrency_bound);
	tcase_add_test(tc, test_slow_target_does_not_stall_others);
	tcase_add_test(tc, test_schedule_maths);
	tcase_add_test(tc, test_first_delay_rule);
	tcase_add_test(tc, test_schedule_first_live);
	tcase_add_test(tc, test_regrid_keeps_the_gap);
	tcase_add_test(tc, test_schedule_live);
	tcase_add_test(tc, test_schedule_jitter);
	tcase_add_test(tc, test_backoff_live);
	tcase_add_test(tc, test_detail_scrapes);
	tcase_add_test(tc, test_leak_profile_schedule);
	tcase_add_test(tc, test_leak_profile_unserved);
	tcase_add_test(tc, test_replace_targets);
	tcase_add_test(tc, test_connection_reuse);
	tcase_add_test(tc, test_wakeup_and_extra_fds);
	suite_add_tcase(s, tc);
	return s;
}
