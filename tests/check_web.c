/* tests/check_web.c: the web server's pure helpers: escaping for each output context, the capped
 * buffer, parameter parsing, base64 and secret comparison, sparklines and count formatting; the
 * caches' keys, the sharing and bounding of recomputed rankings (real threads), /healthz's checks
 * and replies, the scrape counters of /metrics, and the paged target lists of the API and the
 * targets page, the bound on /metrics' per-target series and the stack a suspect shows (a real
 * SQLite store). */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tests/testutil.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/units.h"
#include "detect/suspect_labels.h"
#include "storage/query.h"
#include "detect/detect.h"
#include "storage/store.h"
#include "storage/store_internal.h"
#include "web/api.h"
#include "web/health.h"
#include "web/metrics.h"
#include "web/pages.h"
#include "web/recompute.h"
#include "web/web.h"

static char *
html(const char *s)
{
	struct sbuf b = {0};
	size_t n;

	sbuf_html(&b, s);
	sbuf_add(&b, "", 0);
	return sbuf_steal(&b, &n);
}

START_TEST(test_html_escapes_markup)
{
	char *s = html("<script>alert(1)</script>");

	ck_assert_str_eq(s, "&lt;script&gt;alert(1)&lt;/script&gt;");
	free(s);
	s = html("a\"b'c&d");
	ck_assert_str_eq(s, "a&quot;b&#39;c&amp;d");
	free(s);
	s = html("\" onmouseover=\"x");
	ck_assert_ptr_null(strchr(s, '"'));
	free(s);
}
END_TEST

START_TEST(test_html_replaces_invalid_utf8_and_controls)
{
	char *s = html("ok \xc3\xa9 \xff bad \x01 ctl \xe2\x82 cut");

	/* é is kept; a stray byte, a control character and a truncated sequence become U+FFFD. */
	ck_assert_str_eq(
	    s, "ok \xc3\xa9 \xef\xbf\xbd bad \xef\xbf\xbd ctl \xef\xbf\xbd\xef\xbf\xbd cut");
	free(s);
	s = html("tab\tnl\n");
	ck_assert_str_eq(s, "tab\tnl\n");
	free(s);
	s = html(NULL);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(test_url_encodes_reserved)
{
	struct sbuf b = {0};

	sbuf_url(&b, "a b&c=d/é<");
	ck_assert_str_eq(b.p, "a%20b%26c%3Dd%2F%C3%A9%3C");
	sbuf_release(&b);
}
END_TEST

START_TEST(test_prom_label_escaping)
{
	struct sbuf b = {0};

	sbuf_prom(&b, "a\"b\\c\nd");
	ck_assert_str_eq(b.p, "a\\\"b\\\\c\\nd");
	sbuf_release(&b);
}
END_TEST

START_TEST(test_json_string_survives_invalid_utf8)
{
	json_t *j = api_string("f\xff<script>\"");
	char *t = json_dumps(j, JSON_ENCODE_ANY);

	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t, "\"f\xef\xbf\xbd<script>\\\"\"");
	free(t);
	json_decref(j);
}
END_TEST

START_TEST(test_sbuf_cap)
{
	struct sbuf b = {.max = 16};
	size_t n;

	sbuf_puts(&b, "0123456789");
	ck_assert(!b.failed);
	sbuf_puts(&b, "0123456789");
	ck_assert(b.failed);
	sbuf_puts(&b, "x");
	ck_assert_ptr_null(sbuf_steal(&b, &n));
	ck_assert_uint_eq(n, 0);

	struct sbuf g = {0};

	for (int i = 0; i < 10000; i++)
		sbuf_addf(&g, "%d,", i);
	ck_assert(!g.failed);
	ck_assert_uint_eq(strlen(g.p), g.len);
	ck_assert(strncmp(g.p + g.len - 5, "9999,", 5) == 0);
	sbuf_release(&g);
}
END_TEST

START_TEST(test_parse_duration)
{
	uint64_t v = 0;

	ck_assert_int_eq(web_parse_duration("6h", 86400, &v), 0);
	ck_assert_uint_eq(v, 21600);
	ck_assert_int_eq(web_parse_duration("90", 86400, &v), 0);
	ck_assert_uint_eq(v, 90);
	ck_assert_int_eq(web_parse_duration("2d", 30 * 86400, &v), 0);
	ck_assert_uint_eq(v, 172800);
	ck_assert_int_eq(web_parse_duration("0", 86400, &v), -1);
	ck_assert_int_eq(web_parse_duration("2d", 86400, &v), -1);
	ck_assert_int_eq(web_parse_duration("6hours", 86400, &v), -1);
	ck_assert_int_eq(web_parse_duration("-1h", 86400, &v), -1);
	ck_assert_int_eq(web_parse_duration("h", 86400, &v), -1);
	ck_assert_int_eq(web_parse_duration("99999999999999999999999d", UINT64_MAX, &v), -1);
	ck_assert_int_eq(web_parse_duration("18446744073709551615d", UINT64_MAX, &v), -1);
}
END_TEST

START_TEST(test_parse_uint)
{
	uint64_t v = 0;

	ck_assert_int_eq(web_parse_uint("50", 100, &v), 0);
	ck_assert_uint_eq(v, 50);
	ck_assert_int_eq(web_parse_uint("101", 100, &v), -1);
	ck_assert_int_eq(web_parse_uint("5x", 100, &v), -1);
	ck_assert_int_eq(web_parse_uint(" 5", 100, &v), -1);
	ck_assert_int_eq(web_parse_uint("", 100, &v), -1);
}
END_TEST

START_TEST(test_base64_and_secrets)
{
	char out[64];

	ck_assert_int_eq(web_base64_decode("YWRtaW46czNjcjN0", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "admin:s3cr3t");
	ck_assert_int_eq(web_base64_decode("YQ==", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "a");
	ck_assert_int_eq(web_base64_decode("Y", out, sizeof(out)), -1);
	ck_assert_int_eq(web_base64_decode("YW*k", out, sizeof(out)), -1);
	ck_assert_int_eq(web_base64_decode("YWRtaW46czNjcjN0", out, 4), -1);
	ck_assert(web_secret_equal("abc", 3, "abc", 3));
	ck_assert(!web_secret_equal("abc", 3, "abd", 3));
	ck_assert(!web_secret_equal("abc", 3, "abcd", 4));
	ck_assert(!web_secret_equal("", 0, "a", 1));
}
END_TEST

START_TEST(test_format_helpers)
{
	char buf[32];

	web_fmt_time(1795816913000LL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2026-11-27T22:01:53Z");
	web_fmt_time(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "never");
	units_fmt_duration(21600, buf, sizeof(buf));
	ck_assert_str_eq(buf, "6h");
	units_fmt_duration(172800, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2d");
	units_fmt_duration(90, buf, sizeof(buf));
	ck_assert_str_eq(buf, "90s");
	pages_fmt_count(48210, buf, sizeof(buf));
	ck_assert_str_eq(buf, "48.2k");
	pages_fmt_count(12, buf, sizeof(buf));
	ck_assert_str_eq(buf, "12");
	pages_fmt_count(NAN, buf, sizeof(buf));
	ck_assert_str_eq(buf, "—");
}
END_TEST

START_TEST(test_sparkline)
{
	double v[8];
	size_t n = pages_parse_numbers("[0, 10, null, 20, \"x\"]", v, 8);
	struct sbuf b = {0};

	ck_assert_uint_eq(n, 5);
	ck_assert(isnan(v[2]) && isnan(v[4]));
	pages_sparkline(&b, v, n, 100, 20);
	/* The line bridges the missing value. */
	ck_assert_ptr_nonnull(strstr(b.p, "<path d=\"M1.0 18.0L25.5 10.0L74.5 2.0\"/>"));
	sbuf_release(&b);
	ck_assert_uint_eq(pages_parse_numbers("not json", v, 8), 0);
	ck_assert_uint_eq(pages_parse_numbers(NULL, v, 8), 0);
	ck_assert_uint_eq(pages_parse_numbers("[1,2,3]", v, 2), 2);
	pages_sparkline(&b, v, 0, 100, 20);
	ck_assert_ptr_null(strstr(b.p, "<path"));
	sbuf_release(&b);
}
END_TEST

static const char *
fake_arg(void *cls, const char *name)
{
	const char *const *kv = cls;

	for (; kv[0]; kv += 2) {
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	}
	return NULL;
}

START_TEST(test_ranking_parameters_rejected_by_name)
{
	static const char *const bad_window[] = {"window", "6 hours", NULL};
	static const char *const bad_limit[] = {"limit", "0", NULL};
	struct config cfg = {.detector = {.window = 21600}};
	struct web_ctx c = {.cfg = &cfg, .arg = fake_arg, .path = "/api/v1/suspects"};
	struct api_ranking ar;
	char err[200];

	c.arg_cls = (void *)bad_window;
	ck_assert_uint_eq(api_load_ranking(&c, &ar, err, sizeof(err)), 400);
	ck_assert(strncmp(err, "window:", 7) == 0);
	c.arg_cls = (void *)bad_limit;
	ck_assert_uint_eq(api_load_ranking(&c, &ar, err, sizeof(err)), 400);
	ck_assert(strncmp(err, "limit:", 6) == 0);
}
END_TEST

/* A window reaching back past what retention.rollup keeps is a 400 naming the window, on the
 * ranking, the series and the location page alike (checked before anything is read). */
START_TEST(test_window_past_retention)
{
	static const char *const long_window[] = {"window", "10d", NULL};
	struct config cfg = {.detector = {.window = 21600}, .retention_rollup = 7 * 86400};
	struct web_ctx c = {.cfg = &cfg, .arg = fake_arg, .arg_cls = (void *)long_window};
	const char *want = "window: at most 7d, as long as data is kept (retention.rollup)";
	struct web_reply r = {0};
	struct api_ranking rk;
	char err[200];
	json_t *j;

	c.path = "/api/v1/suspects";
	ck_assert_uint_eq(api_load_ranking(&c, &rk, err, sizeof(err)), 400);
	ck_assert_uint_eq(api_recompute_window(&c), 0);
	ck_assert_str_eq(err, want);
	c.path = "/api/v1/locations/1/series";
	api_handle(&c, &r);
	ck_assert_uint_eq(r.status, 400);
	j = json_loadb(r.body, r.len, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "error")), want);
	json_decref(j);
	web_reply_release(&r);
	c.path = "/locations/1";
	pages_handle(&c, &r);
	ck_assert_uint_eq(r.status, 400);
	ck_assert_ptr_nonnull(memmem(r.body, r.len, want, strlen(want)));
	web_reply_release(&r);
	ck_assert_int_eq(api_window_kept(&cfg, 7 * 86400, err, sizeof(err)), 0);
	ck_assert_int_eq(api_window_kept(&cfg, 7 * 86400 + 1, err, sizeof(err)), -1);
}
END_TEST

/* A location seen only days ago, whose raw samples are gone, still has its 7 d chart: hourly
 * means from the rollups, marked as such. */
START_TEST(test_chart_past_raw)
{
	static const char *const week[] = {"window", "7d", NULL};
	static const struct frame stack[] = {{"main.fill", "/src/app/fill.go", 8}};
	const int64_t hour = 3600000, now = 1790000000000LL - 1790000000000LL % hour;
	struct config *cfg = config_default();
	struct web_ctx c = {.cfg = cfg, .arg = fake_arg, .arg_cls = (void *)week};
	struct web_reply r = {0};
	char dir[256], path[300];
	struct store *st;
	int64_t t;
	int rc;

	ck_assert_ptr_nonnull(cfg);
	testutil_mkdtemp(dir, sizeof(dir), "check_web");
	testutil_store_target(path, sizeof(path), dir, "t.db");
	st = store_open(path, 0);
	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "app", NULL, "http://a");
	for (int64_t ts = now - 6 * 24 * hour; ts < now - 4 * 24 * hour; ts += 600000) {
		struct prof_location l = {.loc = {"main.fill", "/src/app/fill.go", 8},
		                          .op = "chan send",
		                          .op_class = OP_CLASS_CHAN,
		                          .count = 40,
		                          .max_wait_minutes = -1,
		                          .min_wait_minutes = -1,
		                          .median_wait_minutes = -1,
		                          .stack = stack,
		                          .nstack = 1};
		struct profile p = {.format = PROFILE_FORMAT_PROTO,
		                    .kind = PROFILE_KIND_GOROUTINE,
		                    .locations = &l,
		                    .nlocations = 1,
		                    .total_goroutines = 45};
		struct scrape_record rec = {
		    .target_id = t, .ts = ts, .status = "ok", .profile = &p};

		ck_assert_int_eq(store_add_scrape(st, &rec), 0);
	}
	while ((rc = store_retention_step(st, now, 48 * hour, 30 * 24 * hour, 1000)) == 1)
		;
	ck_assert_int_eq(rc, 0);
	c.st = st;
	c.now_ms = now;
	c.path = "/locations/1";
	pages_handle(&c, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_null(memmem(r.body, r.len, "No samples", 10));
	ck_assert_ptr_nonnull(memmem(r.body, r.len, "class=\"total\" d=\"M", 18));
	ck_assert_ptr_nonnull(memmem(r.body, r.len, ": hourly mean of the total", 26));
	web_reply_release(&r);
	store_free(st);
	config_unref(cfg);
	testutil_rmtree(dir);
}
END_TEST

/* How often 'needle' occurs in the 'len' bytes at 'hay'. */
static size_t
occurrences(const char *hay, size_t len, const char *needle)
{
	size_t n = 0, nl = strlen(needle);

	for (const char *p = hay; (p = memmem(p, len - (size_t)(p - hay), needle, nl)) != NULL;
	     p += nl)
		n++;
	return n;
}

/* The location page of a service with a `source` key links each file:line of its stack to the code
 * at the version its targets' version label names, the link percent-encoded and HTML-escaped;
 * frames outside strip_prefix, and every frame of a service without the key, stay plain text. */
START_TEST(test_location_source_links)
{
	static const char *const none[] = {NULL};
	static const struct frame stack[] = {
	    {"runtime.chansend1", "/usr/local/go/src/runtime/chan.go", 161},
	    {"main.fetch.func1", "/build/cmd/pay/x\"><b>.go", 42},
	    {"main.fetch", "/build/cmd/pay/main.go", 38},
	};
	static const char yaml[] =
	    "services:\n"
	    "  - name: pay\n"
	    "    targets: [\"http://a:1\"]\n"
	    "    source:\n"
	    "      url: "
	    "\"https://git.example/pay/blob/{version}/{path}?plain=1&l={line}#L{line}\"\n"
	    "      strip_prefix: /build/\n"
	    "      version_label: version\n";
	const char *want_leaf = "<a class=\"src\" rel=\"noreferrer\" "
	                        "href=\"https://git.example/pay/blob/v1.4.2/cmd/pay/"
	                        "x%22%3E%3Cb%3E.go?plain=1&amp;l=42#L42\">/build/cmd/pay/"
	                        "x&quot;&gt;&lt;b&gt;.go:42</a>";
	const char *want_caller = "href=\"https://git.example/pay/blob/v1.4.2/cmd/pay/"
	                          "main.go?plain=1&amp;l=38#L38\">/build/cmd/pay/main.go:38</a>";
	struct config_errors errs = {0};
	struct config *cfg = config_load_buffer("t.yaml", yaml, strlen(yaml), &errs);
	struct web_ctx c = {.cfg = cfg, .arg = fake_arg, .arg_cls = (void *)none};
	struct web_reply r = {0};
	char dir[256], path[300];
	struct store *st;
	int64_t t, now = 1790000000000LL;

	ck_assert_msg(cfg != NULL, "config: %s", errs.n ? errs.msgs[0] : "?");
	testutil_mkdtemp(dir, sizeof(dir), "check_web");
	testutil_store_target(path, sizeof(path), dir, "t.db");
	st = store_open(path, 0);
	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "pay", "{\"service\":\"pay\",\"version\":\"v1.4.2\"}",
	                        "http://a:1");
	{
		struct prof_location l = {
		    .loc = {"main.fetch.func1", "/build/cmd/pay/x\"><b>.go", 42},
		    .op = "chan send",
		    .op_class = OP_CLASS_CHAN,
		    .count = 40,
		    .max_wait_minutes = -1,
		    .min_wait_minutes = -1,
		    .median_wait_minutes = -1,
		    .stack = stack,
		    .nstack = 3};
		struct profile p = {.format = PROFILE_FORMAT_PROTO,
		                    .kind = PROFILE_KIND_GOROUTINE,
		                    .locations = &l,
		                    .nlocations = 1,
		                    .total_goroutines = 45};
		struct scrape_record rec = {
		    .target_id = t, .ts = now, .status = "ok", .profile = &p};

		ck_assert_int_eq(store_add_scrape(st, &rec), 0);
	}
	c.st = st;
	c.now_ms = now + 1000;
	c.path = "/locations/1";
	pages_handle(&c, &r);
	ck_assert_uint_eq(r.status, 200);
	/* The heading and the stack's frame, the caller, and the issue text. */
	ck_assert_uint_eq(occurrences(r.body, r.len, want_leaf), 2);
	ck_assert_ptr_nonnull(memmem(r.body, r.len, want_caller, strlen(want_caller)));
	ck_assert_ptr_nonnull(memmem(r.body, r.len,
	                             "Source: https://git.example/pay/blob/v1.4.2/cmd/pay/"
	                             "x%22%3E%3Cb%3E.go?plain=1&amp;l=42#L42",
	                             87));
	/* The toolchain's frame has no link; no raw markup from the file name. */
	ck_assert_ptr_nonnull(
	    memmem(r.body, r.len,
	           "<span class=\"file\">/usr/local/go/src/runtime/chan.go:161</span>", 63));
	ck_assert_ptr_null(memmem(r.body, r.len, "<b>", 3));
	web_reply_release(&r);

	/* No version label on the service's targets: no link (the template needs the version). */
	t = store_target_upsert(st, "pay", "{\"service\":\"pay\"}", "http://a:1");
	pages_handle(&c, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_null(memmem(r.body, r.len, "class=\"src\"", 11));
	ck_assert_ptr_null(memmem(r.body, r.len, "Source: ", 8));
	web_reply_release(&r);

	/* Without the source key: the page is as before. */
	config_unref(cfg);
	cfg = config_default();
	ck_assert_ptr_nonnull(cfg);
	c.cfg = cfg;
	t = store_target_upsert(st, "pay", "{\"service\":\"pay\",\"version\":\"v1.4.2\"}",
	                        "http://a:1");
	pages_handle(&c, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_null(memmem(r.body, r.len, "class=\"src\"", 11));
	ck_assert_ptr_nonnull(
	    memmem(r.body, r.len, "<span class=\"file\">/build/cmd/pay/main.go:38</span>", 50));
	web_reply_release(&r);
	store_free(st);
	config_unref(cfg);
	testutil_rmtree(dir);
}
END_TEST

/* The window a request recomputes: its own, unless it is the detector's (the stored ranking). */
START_TEST(test_recompute_window)
{
	static const char *const own[] = {"window", "1h", "junk", "x", NULL};
	static const char *const seconds[] = {"window", "21600", NULL};
	static const char *const detector[] = {"window", "6h", NULL};
	static const char *const bad[] = {"window", "6 hours", NULL};
	static const char *const none[] = {"service", "a", NULL};
	struct config cfg = {.detector = {.window = 21600}};
	struct web_ctx c = {.cfg = &cfg, .arg = fake_arg, .path = "/api/v1/suspects"};

	c.arg_cls = (void *)own;
	ck_assert_uint_eq(api_recompute_window(&c), 3600);
	c.arg_cls = (void *)seconds;
	ck_assert_uint_eq(api_recompute_window(&c), 0);
	c.arg_cls = (void *)detector;
	ck_assert_uint_eq(api_recompute_window(&c), 0);
	c.arg_cls = (void *)bad;
	ck_assert_uint_eq(api_recompute_window(&c), 0);
	c.arg_cls = (void *)none;
	ck_assert_uint_eq(api_recompute_window(&c), 0);
}
END_TEST

static char *
micro_key(const char *path, const char *const *args)
{
	static struct config cfg = {.detector = {.window = 21600}};
	struct web_ctx c = {.cfg = &cfg, .arg = fake_arg, .arg_cls = (void *)args, .path = path};

	return api_micro_key(&c);
}

/* Arguments the API does not read cannot make a request miss the cache. */
START_TEST(test_micro_key_ignores_unknown_arguments)
{
	static const char *const plain[] = {"window", "2d", "service", "a", NULL};
	static const char *const junk[] = {"zz",      "1", "window", "2d", "cachebust", "9",
	                                   "service", "a", "",       "",   NULL};
	static const char *const other[] = {"window", "2d", "service", "b", NULL};
	static const char *const stored[] = {"window", "6h", "junk", "1", NULL};
	char *a = micro_key("/api/v1/suspects", plain), *b = micro_key("/api/v1/suspects", junk);
	char *o = micro_key("/api/v1/suspects", other);
	char *s1 = micro_key("/api/v1/locations/3/series", plain);
	char *s2 = micro_key("/api/v1/locations/3/series", junk);

	ck_assert_ptr_nonnull(a);
	ck_assert_str_eq(a, b);
	ck_assert_str_ne(a, o);
	ck_assert_str_eq(s1, s2);
	ck_assert_str_ne(a, s1);
	/* The stored ranking has its own cache; pages are not micro-cached. */
	ck_assert_ptr_null(micro_key("/api/v1/suspects", stored));
	ck_assert_ptr_null(micro_key("/", plain));
	free(a);
	free(b);
	free(o);
	free(s1);
	free(s2);
}
END_TEST

/* A ranking of one suspect whose explanation names 'tag'. */
static struct ranking
one_suspect(const char *tag)
{
	struct ranking rk = {.generated_at = 1000, .window_seconds = 3600, .n = 1};

	rk.suspects = calloc(1, sizeof(*rk.suspects));
	ck_assert_ptr_nonnull(rk.suspects);
	rk.suspects[0].rank = 1;
	rk.suspects[0].explanation = strdup(tag);
	return rk;
}

struct claimer {
	struct recompute *rc;
	pthread_t thread;
	enum recompute_claim got;
	struct recompute_entry *e;
	unsigned status;
	const char *explanation;
};

static void *
claimer_main(void *arg)
{
	struct claimer *cl = arg;
	unsigned retry;
	const char *err;
	const struct ranking *rk;

	cl->got =
	    recompute_claim(cl->rc, 7200, "svc", 5000, clock_wall_ms() + 20000, &cl->e, &retry);
	if (cl->got == RECOMPUTE_READY) {
		rk = recompute_result(cl->e, &cl->status, &err);
		cl->explanation = rk && rk->n ? rk->suspects[0].explanation : NULL;
	}
	return NULL;
}

/* Requests asking for the same window while it is computed wait for that one recompute and share
 * its answer. */
START_TEST(test_recompute_single_flight)
{
	struct recompute *rc = recompute_new(2);
	struct recompute_entry *mine;
	struct claimer cl[8];
	struct ranking rk = one_suspect("shared");
	uint64_t started, refused;
	unsigned retry;

	ck_assert_ptr_nonnull(rc);
	ck_assert_int_eq(
	    recompute_claim(rc, 7200, "svc", 5000, clock_wall_ms() + 20000, &mine, &retry),
	    RECOMPUTE_COMPUTE);
	for (size_t i = 0; i < 8; i++) {
		cl[i] = (struct claimer){.rc = rc};
		ck_assert_int_eq(pthread_create(&cl[i].thread, NULL, claimer_main, &cl[i]), 0);
	}
	usleep(200 * 1000); /* they wait for this request's answer */
	recompute_finish(rc, mine, 200, NULL, &rk, 300, 5000);
	ck_assert_ptr_null(rk.suspects); /* stolen */
	for (size_t i = 0; i < 8; i++) {
		ck_assert_int_eq(pthread_join(cl[i].thread, NULL), 0);
		ck_assert_int_eq(cl[i].got, RECOMPUTE_READY);
		ck_assert_ptr_eq(cl[i].e, mine);
		ck_assert_uint_eq(cl[i].status, 200);
		ck_assert_str_eq(cl[i].explanation, "shared");
		recompute_release(rc, cl[i].e);
	}
	recompute_release(rc, mine);
	recompute_stats(rc, &started, &refused);
	ck_assert_uint_eq(started, 1);
	ck_assert_uint_eq(refused, 0);
	recompute_free(rc);
}
END_TEST

/* At most max_running recomputes run: another window is refused with a Retry-After, not queued;
 * a request that waits for a running one gives up at its own deadline. */
START_TEST(test_recompute_bound_and_deadline)
{
	struct recompute *rc = recompute_new(1);
	struct recompute_entry *a, *b;
	struct ranking rk = one_suspect("a");
	uint64_t started, refused;
	unsigned retry;
	int64_t t0;

	ck_assert_int_eq(recompute_claim(rc, 3600, NULL, 1000, clock_wall_ms() + 5000, &a, &retry),
	                 RECOMPUTE_COMPUTE);
	ck_assert_int_eq(recompute_claim(rc, 7200, NULL, 1000, clock_wall_ms() + 5000, &b, &retry),
	                 RECOMPUTE_BUSY);
	ck_assert_ptr_null(b);
	ck_assert_uint_ge(retry, 1);
	/* Another service is another ranking. */
	ck_assert_int_eq(recompute_claim(rc, 3600, "svc", 1000, clock_wall_ms() + 5000, &b, &retry),
	                 RECOMPUTE_BUSY);
	t0 = clock_mono_ms();
	ck_assert_int_eq(recompute_claim(rc, 3600, NULL, 1000, clock_wall_ms() + 150, &b, &retry),
	                 RECOMPUTE_TIMEOUT);
	ck_assert_int_ge(clock_mono_ms() - t0, 100);
	recompute_stats(rc, &started, &refused);
	ck_assert_uint_eq(started, 1);
	ck_assert_uint_eq(refused, 2);
	/* Took 3 s: refused requests are told to come back in about that long. */
	recompute_finish(rc, a, 200, NULL, &rk, 3000, 4000);
	recompute_release(rc, a);
	ck_assert_int_eq(recompute_claim(rc, 7200, NULL, 4000, clock_wall_ms() + 5000, &b, &retry),
	                 RECOMPUTE_COMPUTE);
	ck_assert_int_eq(recompute_claim(rc, 60, NULL, 4000, clock_wall_ms() + 5000, &a, &retry),
	                 RECOMPUTE_BUSY);
	ck_assert_uint_eq(retry, 3);
	recompute_finish(rc, b, 500, "failed", NULL, 10, 4010);
	recompute_release(rc, b);
	recompute_free(rc);
}
END_TEST

/* An answer is served again while fresh (at least a second, or four times its cost); errors are
 * handed to the requests that waited but not kept. */
START_TEST(test_recompute_freshness_and_errors)
{
	struct recompute *rc = recompute_new(2);
	struct recompute_entry *e, *again;
	struct ranking rk = one_suspect("x");
	unsigned retry, status;
	const char *err;
	uint64_t started, refused;

	ck_assert_int_eq(recompute_claim(rc, 600, "a", 10000, clock_wall_ms() + 5000, &e, &retry),
	                 RECOMPUTE_COMPUTE);
	recompute_finish(rc, e, 200, NULL, &rk, 500, 10000);
	recompute_release(rc, e);
	ck_assert_int_eq(recompute_claim(rc, 600, "a", 11999, clock_wall_ms() + 5000, &e, &retry),
	                 RECOMPUTE_READY);
	ck_assert_ptr_nonnull(recompute_result(e, &status, &err));
	ck_assert_uint_eq(status, 200);
	/* Stale from 10000 + 4 × 500; a request still holding the old answer keeps it. */
	ck_assert_int_eq(
	    recompute_claim(rc, 600, "a", 12000, clock_wall_ms() + 5000, &again, &retry),
	    RECOMPUTE_COMPUTE);
	ck_assert_ptr_ne(again, e);
	ck_assert_ptr_nonnull(recompute_result(e, &status, &err));
	recompute_release(rc, e);
	recompute_finish(rc, again, 404, "service: no service named 'a'", NULL, 5, 12005);
	ck_assert_ptr_null(recompute_result(again, &status, &err));
	ck_assert_uint_eq(status, 404);
	ck_assert_str_eq(err, "service: no service named 'a'");
	recompute_release(rc, again);
	ck_assert_int_eq(recompute_claim(rc, 600, "a", 12010, clock_wall_ms() + 5000, &e, &retry),
	                 RECOMPUTE_COMPUTE);
	recompute_finish(rc, e, 200, NULL, NULL, 5, 12020); /* no ranking: an error */
	ck_assert_ptr_null(recompute_result(e, &status, &err));
	ck_assert_uint_eq(status, 500);
	recompute_release(rc, e);
	recompute_stats(rc, &started, &refused);
	ck_assert_uint_eq(started, 3);
	recompute_free(rc);
}
END_TEST

/* More keys than the table holds: the stalest answers make room, and everything is freed. */
START_TEST(test_recompute_table_turns_over)
{
	struct recompute *rc = recompute_new(2);
	struct recompute_entry *e;
	unsigned retry;

	for (uint64_t w = 1; w <= 40; w++) {
		struct ranking rk = one_suspect("t");

		ck_assert_int_eq(
		    recompute_claim(rc, w, NULL, 100, clock_wall_ms() + 5000, &e, &retry),
		    RECOMPUTE_COMPUTE);
		recompute_finish(rc, e, 200, NULL, &rk, (int64_t)w, 100);
		recompute_release(rc, e);
	}
	/* The newest stay. */
	ck_assert_int_eq(recompute_claim(rc, 40, NULL, 150, clock_wall_ms() + 5000, &e, &retry),
	                 RECOMPUTE_READY);
	recompute_release(rc, e);
	recompute_free(rc);
}
END_TEST

START_TEST(test_api_error_is_json)
{
	struct web_reply r = {0};
	json_t *j;

	api_error(&r, 400, "service: no service named '%s'", "<x\"\xff>");
	ck_assert_uint_eq(r.status, 400);
	ck_assert_str_eq(r.content_type, "application/json");
	j = json_loadb(r.body, r.len, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "error")),
	                 "service: no service named '<x\"\xef\xbf\xbd>'");
	json_decref(j);
	web_reply_release(&r);
}
END_TEST

START_TEST(test_micro_cache)
{
	struct api_cache *cache = api_cache_new();
	struct web_reply in = {.status = 200,
	                       .content_type = "application/json",
	                       .body = strdup("{\"a\":1}"),
	                       .len = 7};
	struct web_reply out = {0};
	struct web_reply err = {
	    .status = 404, .content_type = "application/json", .body = strdup("{}"), .len = 2};

	ck_assert_ptr_nonnull(cache);
	ck_assert(!api_micro_get(cache, "/api/v1/services", 1000, &out));
	api_micro_put(cache, "/api/v1/services", 1000, &in);
	ck_assert(api_micro_get(cache, "/api/v1/services", 1500, &out));
	ck_assert_str_eq(out.body, "{\"a\":1}");
	ck_assert(!api_micro_get(cache, "/api/v1/targets", 1500, &out));
	/* Expired: the first asker recomputes, the others meanwhile get the previous answer. */
	ck_assert(!api_micro_get(cache, "/api/v1/services", 2100, &out));
	ck_assert(api_micro_get(cache, "/api/v1/services", 2200, &out));
	/* A refresh that never came back lets another request try after a while. */
	ck_assert(!api_micro_get(cache, "/api/v1/services", 4200, &out));
	api_micro_put(cache, "/api/v1/services", 4300, &in);
	ck_assert(api_micro_get(cache, "/api/v1/services", 4400, &out));
	/* Errors are never kept. */
	api_micro_put(cache, "/api/v1/locations/9", 4400, &err);
	ck_assert(!api_micro_get(cache, "/api/v1/locations/9", 4500, &out));
	web_reply_release(&out);
	web_reply_release(&in);
	web_reply_release(&err);
	api_cache_free(cache);
}
END_TEST

static json_t *
health_json(const struct health_input *in, unsigned *status)
{
	struct web_reply r = {0};
	json_t *j;

	health_reply(in, &r);
	*status = r.status;
	ck_assert_str_eq(r.content_type, "application/json");
	j = json_loadb(r.body, r.len, 0, NULL);
	ck_assert_ptr_nonnull(j);
	web_reply_release(&r);
	return j;
}

static bool
jbool(json_t *j, const char *obj, const char *key)
{
	return json_is_true(json_object_get(json_object_get(j, obj), key));
}

/* Each check fails /healthz on its own and is named in the reply. */
START_TEST(test_healthz_each_check)
{
	struct config cfg = {.scrape_interval = 10};
	struct health_input ok = {.free_bytes = 1ull << 30,
	                          .heartbeat_age_ms = 500,
	                          .heartbeat_limit_ms = health_collector_limit_ms(&cfg),
	                          .detector = true,
	                          .detector_waiting_ms = 31000,
	                          .detector_limit_ms = health_detector_limit_ms(&cfg, 2000)};
	struct health_input in;
	unsigned status;
	json_t *j;

	ck_assert_int_eq(ok.heartbeat_limit_ms, 30000);
	ck_assert_int_eq(ok.detector_limit_ms, 34000);
	j = health_json(&ok, &status);
	ck_assert_uint_eq(status, 200);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
	ck_assert(jbool(j, "database", "ok") && jbool(j, "collector", "ok") &&
	          jbool(j, "detector", "ok"));
	json_decref(j);

	in = ok;
	in.db_error = "database file not writable: Read-only file system";
	j = health_json(&in, &status);
	ck_assert_uint_eq(status, 503);
	ck_assert_str_eq(json_string_value(json_object_get(j, "status")), "unhealthy");
	ck_assert(!jbool(j, "database", "ok") && jbool(j, "collector", "ok") &&
	          jbool(j, "detector", "ok"));
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(j, "database"), "error")),
	    in.db_error);
	json_decref(j);

	in = ok;
	in.heartbeat_age_ms = 30001;
	j = health_json(&in, &status);
	ck_assert_uint_eq(status, 503);
	ck_assert(jbool(j, "database", "ok") && !jbool(j, "collector", "ok") &&
	          jbool(j, "detector", "ok"));
	json_decref(j);

	in = ok;
	in.detector_waiting_ms = 34001;
	j = health_json(&in, &status);
	ck_assert_uint_eq(status, 503);
	ck_assert(jbool(j, "database", "ok") && jbool(j, "collector", "ok") &&
	          !jbool(j, "detector", "ok"));
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(j, "detector"), "waiting_ms")),
	    34001);
	json_decref(j);

	/* No detector reports to the server: not judged. */
	in.detector = false;
	j = health_json(&in, &status);
	ck_assert_uint_eq(status, 200);
	json_decref(j);
}
END_TEST

/* The sources of targets are shown, not judged: a failing one with its last good list in use, and
 * one with no list at all, leave /healthz at 200 with discovery.ok false. */
START_TEST(test_healthz_sources)
{
	struct config cfg = {.scrape_interval = 10};
	struct targets_source_state src[2] = {
	    {.kind = "file",
	     .name = "/etc/leakprofd/targets/a.json",
	     .targets = 3,
	     .last_refresh_ms = 1790000000000LL,
	     .last_success_ms = 1790000000000LL},
	    {.kind = "http_sd",
	     .name = "http://inventory/sd",
	     .targets = 12,
	     .last_refresh_ms = 1790000060000LL,
	     .last_success_ms = 1790000000000LL,
	     .error = "HTTP status 503 (want 200)",
	     .last_good = true},
	};
	struct health_input in = {.free_bytes = 1ull << 30,
	                          .heartbeat_limit_ms = health_collector_limit_ms(&cfg),
	                          .sources = src,
	                          .nsources = 2,
	                          .sources_total = 2};
	unsigned status;
	json_t *j, *d, *s1;

	j = health_json(&in, &status);
	ck_assert_uint_eq(status, 200);
	d = json_object_get(j, "discovery");
	ck_assert(json_is_false(json_object_get(d, "ok")));
	ck_assert_int_eq(json_integer_value(json_object_get(d, "total")), 2);
	ck_assert(json_is_null(
	    json_object_get(json_array_get(json_object_get(d, "sources"), 0), "error")));
	s1 = json_array_get(json_object_get(d, "sources"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(s1, "kind")), "http_sd");
	ck_assert_str_eq(json_string_value(json_object_get(s1, "error")),
	                 "HTTP status 503 (want 200)");
	ck_assert_int_eq(json_integer_value(json_object_get(s1, "targets")), 12);
	ck_assert(json_is_true(json_object_get(s1, "last_good_list_in_use")));
	ck_assert_str_eq(json_string_value(json_object_get(s1, "last_success")),
	                 "2026-09-21T14:13:20Z");
	json_decref(j);
	/* A source that never answered: still not a 503. */
	src[1].last_good = false;
	src[1].last_success_ms = 0;
	j = health_json(&in, &status);
	ck_assert_uint_eq(status, 200);
	json_decref(j);
}
END_TEST

/* Writes refused (another process holding the write lock, PostgreSQL down): fine within the bound,
 * which follows the scrape interval between 10 and 30 s, and past it a failure naming the
 * database, since when, and the finished scrapes waiting in memory and dropped. */
START_TEST(test_healthz_writes_refused)
{
	struct config fast = {.scrape_interval = 1}, mid = {.scrape_interval = 5},
	              slow = {.scrape_interval = 60};
	char buf[300];
	const char *why;

	ck_assert_int_eq(health_database_limit_ms(&fast), 10000);
	ck_assert_int_eq(health_database_limit_ms(&mid), 15000);
	ck_assert_int_eq(health_database_limit_ms(&slow), 30000);
	struct web_ingest taken = {.queued = 3, .queued_max = 4096, .queued_max_ms = 600000},
	                  refused = {.refused_since_ms = 1790000000000LL,
	                             .queued = 37,
	                             .queued_max = 4096,
	                             .queued_max_ms = 600000,
	                             .dropped = 2};

	ck_assert_ptr_null(health_check_writes("/var/lib/leakprofd/db", &taken, 1790000012500LL,
	                                       10000, buf, sizeof(buf)));
	ck_assert_ptr_null(health_check_writes("/var/lib/leakprofd/db", &refused, 1790000010000LL,
	                                       10000, buf, sizeof(buf)));
	why = health_check_writes("/var/lib/leakprofd/db", &refused, 1790000012500LL, 10000, buf,
	                          sizeof(buf));
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, "writes to database '/var/lib/leakprofd/db' refused for 12 s, since "
	                      "2026-09-21T14:13:20Z (see the daemon's log): 37 finished scrapes "
	                      "wait in memory, at most 4096 for 600 s; 2 dropped");
}
END_TEST

/* The database check on real files: a usable database, a missing one, one that cannot be read. */
START_TEST(test_healthz_database_check)
{
	char dir[256], path[300], buf[200];
	unsigned long long free_bytes;
	struct store *st;
	const char *why;

	testutil_mkdtemp(dir, sizeof(dir), "check_web");
	if (testutil_backend_pg()) {
		/* the server's files are its own: a database that answers is usable */
		testutil_store_target(path, sizeof(path), dir, "leakprofd.db");
		st = store_open(path, 0);
		ck_assert_ptr_nonnull(st);
		why = health_check_database(path, st, buf, sizeof(buf), &free_bytes);
		ck_assert_msg(why == NULL, "%s", why);
		why = health_check_database(path, NULL, buf, sizeof(buf), &free_bytes);
		ck_assert_str_eq(why, "database not readable: cannot open");
		store_free(st);
		testutil_rmtree(dir);
		return;
	}
	snprintf(path, sizeof(path), "%s/leakprofd.db", dir);
	st = store_open(path, 0);
	ck_assert_ptr_nonnull(st);
	why = health_check_database(path, st, buf, sizeof(buf), &free_bytes);
	ck_assert_msg(why == NULL, "%s", why);
	ck_assert_uint_gt(free_bytes, 0);
	why = health_check_database(path, NULL, buf, sizeof(buf), &free_bytes);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, "database not readable: cannot open");
	store_free(st);
	snprintf(path, sizeof(path), "%s/gone/leakprofd.db", dir);
	why = health_check_database(path, NULL, buf, sizeof(buf), &free_bytes);
	ck_assert_ptr_nonnull(why);
	ck_assert_str_eq(why, "database file not writable: No such file or directory");
	testutil_rmtree(dir);
}
END_TEST

/* Scrapes counted before the first /metrics request are all in its answer. */
START_TEST(test_metrics_count_from_start)
{
	char dir[256], path[300];
	struct config cfg = {.scrape_interval = 60, .detector = {.window = 3600}};
	struct metrics *m = metrics_new();
	struct web_reply r = {0};
	struct web_ctx c = {.cfg = &cfg, .path = "/metrics"};
	const char *sqlite_mem;
	char want[96];

	testutil_mkdtemp(dir, sizeof(dir), "check_web");
	testutil_store_target(path, sizeof(path), dir, "leakprofd.db");
	c.st = store_open(path, 0);
	ck_assert_ptr_nonnull(c.st);
	ck_assert_ptr_nonnull(m);
	metrics_count_scrape(m, "payments", true, 20);
	metrics_count_scrape(m, "payments", true, 30);
	metrics_count_scrape(m, "payments", false, 1000);
	metrics_count_scrape(m, "search \"x\"", true, 5);
	for (int i = 0; i < 3000; i++) {
		char name[32];

		snprintf(name, sizeof(name), "svc-%d", i % 1500);
		metrics_count_scrape(m, name, i % 2 == 0, 1);
	}
	metrics_handle(&c, m, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(
	    r.body, "\nleakprofd_scrapes_total{service=\"payments\",result=\"success\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(
	    r.body, "\nleakprofd_scrapes_total{service=\"payments\",result=\"failure\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(
	    r.body, "\nleakprofd_scrape_duration_seconds_sum{service=\"payments\"} 1.050\n"));
	ck_assert_ptr_nonnull(strstr(
	    r.body,
	    "\nleakprofd_scrapes_total{service=\"search \\\"x\\\"\",result=\"success\"} 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(r.body, "\nleakprofd_scrape_duration_seconds_count{service=\"svc-1499\"} 2\n"));
	/* SQLite's memory (the connection above holds its schema and statements) and its bound */
	sqlite_mem = strstr(r.body, "\nleakprofd_sqlite_memory_bytes ");
	ck_assert_ptr_nonnull(sqlite_mem);
	/* (0 with every store on PostgreSQL: the process holds no SQLite connection) */
	ck_assert_int_gt(strtoll(sqlite_mem + strlen("\nleakprofd_sqlite_memory_bytes "), NULL, 10),
	                 testutil_backend_pg() ? -1 : 0);
	snprintf(want, sizeof(want), "\nleakprofd_sqlite_memory_limit_bytes %lld\n",
	         (long long)STORE_HEAP_LIMIT);
	ck_assert_ptr_nonnull(strstr(r.body, want));
	web_reply_release(&r);
	metrics_free(m);
	store_free(c.st);
	testutil_rmtree(dir);
}
END_TEST

/* Failed notifications per webhook: every configured webhook has its series, 0 without any, and a
 * name the outbox still holds (a webhook removed since) keeps its own. */
START_TEST(test_metrics_failed_notifications)
{
	static const char yaml[] =
	    "alerting:\n"
	    "  webhooks:\n"
	    "    - {name: slack, url: 'http://127.0.0.1:1/a', format: slack}\n"
	    "    - {name: quiet, url: 'http://127.0.0.1:1/b'}\n";
	struct config_errors errs = {0};
	struct config *cfg = config_load_buffer("m.yaml", yaml, strlen(yaml), &errs);
	struct metrics *m = metrics_new();
	struct web_ctx c = {.cfg = cfg, .path = "/metrics"};
	struct web_reply r = {0};
	char dir[256], path[300];

	ck_assert_msg(cfg != NULL, "config: %s", errs.n ? errs.msgs[0] : "?");
	testutil_mkdtemp(dir, sizeof(dir), "check_web");
	testutil_store_target(path, sizeof(path), dir, "leakprofd.db");
	c.st = store_open(path, 0);
	ck_assert_ptr_nonnull(c.st);
	testutil_db_exec(store_dbh(c.st),
	                 "INSERT INTO outbox (event_id, webhook, status, service_id, location_id, "
	                 "payload, created, next_attempt, state) VALUES "
	                 "('e1', 'slack', 'firing', 1, 1, '{}', 1, 1, 'failed'), "
	                 "('e2', 'slack', 'firing', 1, 1, '{}', 1, 1, 'failed'), "
	                 "('e3', 'slack', 'firing', 1, 1, '{}', 1, 1, 'pending'), "
	                 "('e4', 'quiet', 'firing', 1, 1, '{}', 1, 1, 'dropped'), "
	                 "('e5', 'gone', 'firing', 1, 1, '{}', 1, 1, 'failed')");
	metrics_handle(&c, m, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_nonnull(
	    strstr(r.body, "\nleakprofd_notifications_failed{webhook=\"slack\"} 2\n"));
	ck_assert_ptr_nonnull(
	    strstr(r.body, "\nleakprofd_notifications_failed{webhook=\"quiet\"} 0\n"));
	ck_assert_ptr_nonnull(
	    strstr(r.body, "\nleakprofd_notifications_failed{webhook=\"gone\"} 1\n"));
	web_reply_release(&r);
	metrics_free(m);
	store_free(c.st);
	testutil_rmtree(dir);
	config_unref(cfg);
}
END_TEST

/* ---- the paged target lists and the bounded /metrics ---- */

/* A database in 'dir' with 'n' targets, "http://t<i>" of service "<b>svc" (a name to escape)
 * for even i, else "a"; target i's last scrape failed with "timeout" when i % 5 == 0 and
 * succeeded otherwise. Every target but those listed retired in 'retire' (NULL: none) stays
 * active. */
static struct store *
targets_db(const char *dir, size_t n, const bool *retire)
{
	struct prof_location l = {.loc = {"main.w", "/w.go", 3},
	                          .op = "chan receive",
	                          .op_class = OP_CLASS_CHAN,
	                          .count = 4,
	                          .max_wait_minutes = -1,
	                          .min_wait_minutes = -1,
	                          .median_wait_minutes = -1};
	struct profile p = {.format = PROFILE_FORMAT_PROTO,
	                    .kind = PROFILE_KIND_GOROUTINE,
	                    .locations = &l,
	                    .nlocations = 1,
	                    .total_goroutines = 9};
	char path[300];
	int64_t keep[256];
	size_t nkeep = 0;
	struct store *st;

	ck_assert_uint_le(n, 256);
	testutil_store_target(path, sizeof(path), dir, "leakprofd.db");
	st = store_open(path, 0);
	ck_assert_ptr_nonnull(st);
	for (size_t i = 0; i < n; i++) {
		char url[32];
		struct scrape_record rec = {.ts = 1790000000000LL, .duration_ms = 250};
		int64_t id;

		snprintf(url, sizeof(url), "http://t%zu", i);
		id = store_target_upsert(st, i % 2 == 0 ? "<b>svc" : "a", NULL, url);
		ck_assert_int_gt(id, 0);
		rec.target_id = id;
		rec.status = i % 5 == 0 ? "timeout" : "ok";
		rec.profile = i % 5 == 0 ? NULL : &p;
		rec.consecutive_failures = i % 5 == 0;
		ck_assert_int_eq(store_add_scrape(st, &rec), 0);
		if (!retire || !retire[i])
			keep[nkeep++] = id;
	}
	ck_assert_int_eq(store_targets_set_active(st, keep, nkeep), 0);
	return st;
}

/* GET path with 'args' ("name", "value", ..., NULL) through api_handle: the JSON reply (status in
 * *status). */
static json_t *
api_get(struct web_ctx *c, const char *path, const char *const *args, unsigned *status)
{
	struct web_reply r = {0};
	json_t *j;

	c->path = path;
	c->arg = fake_arg;
	c->arg_cls = (void *)args;
	api_handle(c, &r);
	*status = r.status;
	ck_assert_str_eq(r.content_type, "application/json");
	j = json_loadb(r.body, r.len, 0, NULL);
	ck_assert_ptr_nonnull(j);
	web_reply_release(&r);
	return j;
}

/* One scrape of 'target' holding 'count' goroutines at main.waitAll, all of them from 'caller'. */
static void
web_call_site_scrape(struct store *st, int64_t target, int64_t ts, const char *caller,
                     uint64_t count)
{
	const struct frame stack[] = {{"runtime.gopark", "/go/src/runtime/proc.go", 363},
	                              {"main.waitAll", "/src/lib/wait.go", 9},
	                              {caller, "/src/app/handler.go", 77}};
	const struct prof_stack one = {.frames = stack, .nframes = 3, .count = count};
	struct prof_location l = {.loc = {"main.waitAll", "/src/lib/wait.go", 9},
	                          .op = "chan receive",
	                          .op_class = OP_CLASS_CHAN,
	                          .count = count,
	                          .max_wait_minutes = -1,
	                          .min_wait_minutes = -1,
	                          .median_wait_minutes = -1,
	                          .stack = stack,
	                          .nstack = 3,
	                          .stacks = &one,
	                          .nstacks = 1};
	struct profile p = {.format = PROFILE_FORMAT_PROTO,
	                    .kind = PROFILE_KIND_GOROUTINE,
	                    .locations = &l,
	                    .nlocations = 1,
	                    .total_goroutines = count + 5};
	struct scrape_record rec = {.target_id = target, .ts = ts, .status = "ok", .profile = &p};

	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
}

/* A location shared by two services (a helper both call): the suspect's stack, on the location
 * page of its service and in /api/v1/suspects, is its service's own call site, not the first stack
 * stored for the location (the other service's, scraped first). */
START_TEST(test_suspect_shows_own_stack)
{
	static const char *const svc[] = {"service", "a", NULL};
	static const char *const none[] = {NULL};
	const int64_t now = 1790000000000LL;
	struct config *cfg = config_default();
	struct web_ctx c = {.cfg = cfg, .arg = fake_arg, .arg_cls = (void *)svc, .now_ms = now};
	struct web_reply r = {0};
	char dir[256], path[300], *text;
	unsigned status;
	struct store *st;
	int64_t a, b;
	json_t *j, *stack;

	ck_assert_ptr_nonnull(cfg);
	testutil_mkdtemp(dir, sizeof(dir), "check_web");
	testutil_store_target(path, sizeof(path), dir, "t.db");
	st = store_open(path, 0);
	ck_assert_ptr_nonnull(st);
	b = store_target_upsert(st, "b", NULL, "http://b");
	a = store_target_upsert(st, "a", NULL, "http://a");
	for (int i = 0; i < 12; i++) {
		int64_t ts = now - (12 - i) * 60000;

		web_call_site_scrape(st, b, ts, "main.bHandler", 30);
		web_call_site_scrape(st, a, ts + 1000, "main.aHandler", 5 + 10 * (uint64_t)i);
	}
	ck_assert_int_eq(detect_run(st, cfg, NULL, now), 0);
	c.st = st;
	c.path = "/locations/1";
	pages_handle(&c, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_nonnull(memmem(r.body, r.len, "main.aHandler", 13));
	ck_assert_ptr_null(memmem(r.body, r.len, "main.bHandler", 13));
	ck_assert_ptr_nonnull(memmem(r.body, r.len, "the call site ranked in a", 25));
	web_reply_release(&r);
	j = api_get(&c, "/api/v1/suspects", none, &status);
	ck_assert_uint_eq(status, 200);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "suspects")), 1);
	stack = json_object_get(json_array_get(json_object_get(j, "suspects"), 0), "stack");
	text = json_dumps(stack, 0);
	ck_assert_ptr_nonnull(strstr(text, "main.aHandler"));
	ck_assert_ptr_null(strstr(text, "main.bHandler"));
	free(text);
	json_decref(j);
	store_free(st);
	config_unref(cfg);
	testutil_rmtree(dir);
}
END_TEST

/* One scrape of 'target' with goroutines at main.waitAll from two callers: 'grow' of them from
 * 'hostile' (a function name with markup in it) and 20 from main.steady. */
static void
web_two_callers_scrape(struct store *st, int64_t target, int64_t ts, const char *hostile,
                       uint64_t grow)
{
	const struct frame a[] = {{"runtime.gopark", "/go/src/runtime/proc.go", 363},
	                          {"main.waitAll", "/src/lib/wait.go", 9},
	                          {hostile, "/src/app/handler.go", 77}};
	const struct frame b[] = {{"runtime.gopark", "/go/src/runtime/proc.go", 363},
	                          {"main.waitAll", "/src/lib/wait.go", 9},
	                          {"main.steady", "/src/app/steady.go", 12}};
	const struct prof_stack stacks[] = {{.frames = a, .nframes = 3, .count = grow},
	                                    {.frames = b, .nframes = 3, .count = 20}};
	struct prof_location l = {.loc = {"main.waitAll", "/src/lib/wait.go", 9},
	                          .op = "chan receive",
	                          .op_class = OP_CLASS_CHAN,
	                          .count = grow + 20,
	                          .max_wait_minutes = -1,
	                          .min_wait_minutes = -1,
	                          .median_wait_minutes = -1,
	                          .stack = b,
	                          .nstack = 3,
	                          .stacks = stacks,
	                          .nstacks = 2};
	struct profile p = {.format = PROFILE_FORMAT_PROTO,
	                    .kind = PROFILE_KIND_GOROUTINE,
	                    .locations = &l,
	                    .nlocations = 1,
	                    .total_goroutines = grow + 25};
	struct scrape_record rec = {.target_id = target, .ts = ts, .status = "ok", .profile = &p};

	ck_assert_int_eq(store_add_scrape(st, &rec), 0);
}

/* The location page's "Call sites" card and /api/v1/locations/{id}'s call_sites: each stack of the
 * service with its caller (escaped: function names are scraped), its count at the window's start
 * and now, its series, and which one the ranking names as growing; and the API's source_url. */
START_TEST(test_location_call_sites)
{
	static const char *const svc[] = {"service", "a", NULL};
	static const char yaml[] =
	    "services:\n"
	    "  - name: a\n"
	    "    targets: [\"http://a\"]\n"
	    "    source:\n"
	    "      url: \"https://git.example/a/blob/main/{path}#L{line}\"\n";
	const char *hostile = "main.(*h).<img src=x onerror=alert(1)>";
	const int64_t now = 1790000000000LL;
	struct config_errors errs = {0};
	struct config *cfg = config_load_buffer("t.yaml", yaml, strlen(yaml), &errs);
	struct web_ctx c = {.arg = fake_arg, .arg_cls = (void *)svc, .now_ms = now};
	struct web_reply r = {0};
	char dir[256], path[300], want[128];
	unsigned status;
	struct store *st;
	int64_t a, grow_id = 0;
	json_t *j, *sites;
	size_t i;
	json_t *e;

	ck_assert_msg(cfg != NULL, "config: %s", errs.n ? errs.msgs[0] : "?");
	c.cfg = cfg;
	testutil_mkdtemp(dir, sizeof(dir), "check_web");
	testutil_store_target(path, sizeof(path), dir, "t.db");
	st = store_open(path, 0);
	ck_assert_ptr_nonnull(st);
	a = store_target_upsert(st, "a", NULL, "http://a");
	for (int k = 0; k < 30; k++)
		web_two_callers_scrape(st, a, now - (30 - k) * 60000, hostile,
		                       5 + 10 * (uint64_t)k);
	ck_assert_int_eq(detect_run(st, cfg, NULL, now), 0);
	c.st = st;

	j = api_get(&c, "/api/v1/locations/1", svc, &status);
	ck_assert_uint_eq(status, 200);
	ck_assert_str_eq(json_string_value(json_object_get(j, "source_url")),
	                 "https://git.example/a/blob/main/src/lib/wait.go#L9");
	sites = json_object_get(j, "call_sites");
	ck_assert_uint_eq(json_array_size(sites), 2);
	json_array_foreach(sites, i, e)
	{
		const char *caller = json_string_value(json_object_get(e, "caller"));
		json_int_t first = json_integer_value(json_object_get(e, "first"));
		json_int_t last = json_integer_value(json_object_get(e, "last"));
		json_t *series = json_object_get(e, "series");

		ck_assert_ptr_nonnull(caller);
		ck_assert_uint_ge(json_array_size(series), 3);
		ck_assert_uint_le(json_array_size(series), QUERY_CALL_SITES_POINTS);
		ck_assert_int_eq(json_integer_value(json_array_get(json_array_get(series, 0), 1)),
		                 first);
		ck_assert_int_eq(json_integer_value(json_array_get(
		                     json_array_get(series, json_array_size(series) - 1), 1)),
		                 last);
		ck_assert_int_eq(json_integer_value(json_object_get(e, "growth")), last - first);
		ck_assert_uint_eq(json_array_size(json_object_get(e, "frames")), 3);
		if (i == 0) {
			/* the largest now: the growing one, the one the ranking names */
			ck_assert_str_eq(caller, hostile);
			ck_assert_int_eq(last, 295);
			ck_assert_int_gt(last - first, 200);
			ck_assert(json_is_true(json_object_get(e, "ranked")));
			grow_id = json_integer_value(json_object_get(e, "stack_id"));
		} else {
			ck_assert_str_eq(caller, "main.steady");
			ck_assert_int_eq(first, 20);
			ck_assert_int_eq(last, 20);
			ck_assert(json_is_false(json_object_get(e, "ranked")));
		}
	}
	json_decref(j);

	c.path = "/locations/1";
	c.arg_cls = (void *)svc;
	pages_handle(&c, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_nonnull(memmem(r.body, r.len, "<h2>Call sites", 14));
	ck_assert_ptr_null(memmem(r.body, r.len, "<img src=x", 10));
	ck_assert_uint_eq(
	    occurrences(r.body, r.len, "main.(*h).&lt;img src=x onerror=alert(1)&gt;</span>"),
	    3); /* the card's caller and frame, and the suspect's stack */
	snprintf(want, sizeof(want), "<tr class=\"ranked\" data-stack=\"%lld\">",
	         (long long)grow_id);
	ck_assert_ptr_nonnull(memmem(r.body, r.len, want, strlen(want)));
	ck_assert_uint_eq(occurrences(r.body, r.len, "class=\"ranked\""), 1);
	ck_assert_ptr_nonnull(memmem(r.body, r.len, "<span class=\"fn\">main.steady</span>", 35));
	web_reply_release(&r);
	store_free(st);
	config_unref(cfg);
	testutil_rmtree(dir);
}
END_TEST

/* /api/v1/targets: pages of ?limit= linked by "next" through ?after=, filtered by ?service=,
 * ?status= and ?inactive=; the fields of each target as before; bad parameters named. */
START_TEST(test_api_targets_pages)
{
	static const char *const fields[] = {"id",
	                                     "service",
	                                     "url",
	                                     "active",
	                                     "up",
	                                     "status",
	                                     "error",
	                                     "last_scrape",
	                                     "last_success",
	                                     "duration_ms",
	                                     "bytes",
	                                     "goroutines",
	                                     "consecutive_failures"};
	struct config cfg = {.scrape_interval = 60, .detector = {.window = 3600}};
	struct web_ctx c = {.cfg = &cfg};
	bool retire[30] = {[3] = true, [4] = true, [17] = true};
	char dir[256], after[32];
	const char *args[12];
	int64_t last = 0;
	size_t seen = 0, pages = 0;
	unsigned status;
	json_t *j, *t;

	testutil_mkdtemp(dir, sizeof(dir), "check_web");
	c.st = targets_db(dir, 30, retire);

	/* The default page holds every active target (100 at most). */
	args[0] = NULL;
	j = api_get(&c, "/api/v1/targets", args, &status);
	ck_assert_uint_eq(status, 200);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "targets")), 27);
	ck_assert(json_is_null(json_object_get(j, "next")));
	t = json_array_get(json_object_get(j, "targets"), 0);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		ck_assert_msg(json_object_get(t, fields[i]) != NULL, "no %s", fields[i]);
	ck_assert_str_eq(json_string_value(json_object_get(t, "service")), "<b>svc");
	ck_assert_str_eq(json_string_value(json_object_get(t, "error")), "timeout");
	ck_assert(json_is_false(json_object_get(t, "up")));
	json_decref(j);

	/* Pages of 4, each after the last one's "next": every active target once, in id order. */
	for (;;) {
		size_t k = 0;

		args[k++] = "limit";
		args[k++] = "4";
		if (last) {
			snprintf(after, sizeof(after), "%lld", (long long)last);
			args[k++] = "after";
			args[k++] = after;
		}
		args[k] = NULL;
		j = api_get(&c, "/api/v1/targets", args, &status);
		ck_assert_uint_eq(status, 200);
		pages++;
		for (size_t i = 0; i < json_array_size(json_object_get(j, "targets")); i++) {
			int64_t id = json_integer_value(json_object_get(
			    json_array_get(json_object_get(j, "targets"), i), "id"));

			ck_assert_int_gt(id, last);
			ck_assert_int_ne(id, 4); /* retired: t3 */
			last = id;
			seen++;
		}
		if (json_is_null(json_object_get(j, "next"))) {
			json_decref(j);
			break;
		}
		ck_assert_int_eq(json_integer_value(json_object_get(j, "next")), last);
		json_decref(j);
	}
	ck_assert_uint_eq(seen, 27);
	ck_assert_uint_eq(pages, 7);

	/* Filters: the failing ones of a service (t0, t10, t20), a status prefix, the retired. */
	args[0] = "service", args[1] = "<b>svc", args[2] = "status", args[3] = "down";
	args[4] = NULL;
	j = api_get(&c, "/api/v1/targets", args, &status);
	ck_assert_uint_eq(status, 200);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "targets")), 3);
	json_decref(j);
	args[1] = "a", args[3] = "time";
	j = api_get(&c, "/api/v1/targets", args, &status);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "targets")), 3); /* t5, t15, t25 */
	json_decref(j);
	args[3] = "up";
	j = api_get(&c, "/api/v1/targets", args, &status);
	/* 15, less the 3 failing and the retired t3 and t17 */
	ck_assert_uint_eq(json_array_size(json_object_get(j, "targets")), 10);
	json_decref(j);
	args[0] = "inactive", args[1] = "1", args[2] = NULL;
	j = api_get(&c, "/api/v1/targets", args, &status);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "targets")), 3);
	ck_assert(json_is_false(
	    json_object_get(json_array_get(json_object_get(j, "targets"), 0), "active")));
	json_decref(j);

	/* Bad parameters are named; an unknown service is a 404. */
	{
		static const char *const bad[][3] = {{"limit", "0", "limit:"},
		                                     {"limit", "1001", "limit:"},
		                                     {"after", "-1", "after:"},
		                                     {"after", "x", "after:"},
		                                     {"inactive", "maybe", "inactive:"}};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			args[0] = bad[i][0], args[1] = bad[i][1], args[2] = NULL;
			j = api_get(&c, "/api/v1/targets", args, &status);
			ck_assert_uint_eq(status, 400);
			ck_assert_msg(strncmp(json_string_value(json_object_get(j, "error")),
			                      bad[i][2], strlen(bad[i][2])) == 0,
			              "%s=%s", bad[i][0], bad[i][1]);
			json_decref(j);
		}
	}
	args[0] = "service", args[1] = "nosuch", args[2] = NULL;
	j = api_get(&c, "/api/v1/targets", args, &status);
	ck_assert_uint_eq(status, 404);
	json_decref(j);
	store_free(c.st);
	testutil_rmtree(dir);
}
END_TEST

/* The micro-cache keeps pages and filters of the target list apart. */
START_TEST(test_micro_key_targets)
{
	static const char *const p1[] = {"limit", "10", NULL};
	static const char *const p2[] = {"limit", "10", "after", "40", NULL};
	static const char *const down[] = {"status", "down", NULL};
	static const char *const retired[] = {"inactive", "1", NULL};
	char *a = micro_key("/api/v1/targets", p1), *b = micro_key("/api/v1/targets", p2);
	char *d = micro_key("/api/v1/targets", down), *r = micro_key("/api/v1/targets", retired);

	ck_assert_str_ne(a, b);
	ck_assert_str_ne(d, r);
	ck_assert_str_ne(d, "/api/v1/targets");
	free(a);
	free(b);
	free(d);
	free(r);
}
END_TEST

static char *page_get(struct web_ctx *c, const char *const *args, unsigned *status);

/* Which label values grow: each (key, value) summed over the sets holding it, growth first. */
START_TEST(test_label_values)
{
	struct store_labelset sets[] = {
	    {.set = (char *)"{\"h\":\"a\",\"t\":\"x\"}", .count = 10, .first = 2},
	    {.set = (char *)"{\"h\":\"a\",\"t\":\"y\"}", .count = 5, .first = 5},
	    {.set = (char *)"not json", .count = 99, .first = 0},
	};
	struct store_labels l = {.sets = sets, .n = 3, .other = 7};
	struct suspect_label_value *v;
	size_t n = suspect_label_values(&l, &v);

	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(v[0].key, "h");
	ck_assert_str_eq(v[0].value, "a");
	ck_assert_int_eq(v[0].count, 15);
	ck_assert_int_eq(v[0].growth, 8);
	ck_assert_str_eq(v[1].value, "x");
	ck_assert_int_eq(v[1].growth, 8);
	ck_assert_str_eq(v[2].value, "y");
	ck_assert_int_eq(v[2].growth, 0);
	suspect_label_values_free(v, n);
}
END_TEST

/* pprof labels through the API and the pages: each suspect's top sets with their growth over its
 * ranking's window, ?label=KEY=VALUE keeping the suspects that carry it (a malformed one named),
 * and the location page's Labels card, every name escaped. */
START_TEST(test_labels_api_and_pages)
{
	static const char *const none[] = {NULL};
	static const char *const has[] = {"label", "route=/a<x>", NULL};
	static const char *const lacks[] = {"label", "route=/b", NULL};
	static const char *const bad[] = {"label", "route", NULL};
	struct prof_labelset s1[] = {{"{\"route\":\"/a\\u003cx\\u003e\"}", 2},
	                             {"{\"route\":\"/c\"}", 4}};
	struct prof_labelset s2[] = {{"{\"route\":\"/a\\u003cx\\u003e\"}", 9},
	                             {"{\"route\":\"/c\"}", 4}};
	struct prof_location l = {.loc = {"main.leak", "/leak.go", 7},
	                          .op = "chan send",
	                          .op_class = OP_CLASS_CHAN,
	                          .count = 6,
	                          .max_wait_minutes = -1,
	                          .min_wait_minutes = -1,
	                          .median_wait_minutes = -1,
	                          .labels = s1,
	                          .nlabels = 2};
	struct profile p = {.format = PROFILE_FORMAT_PROTO,
	                    .kind = PROFILE_KIND_GOROUTINE,
	                    .locations = &l,
	                    .nlocations = 1,
	                    .total_goroutines = 9};
	struct config cfg = {.scrape_interval = 60,
	                     .retention_rollup = 86400,
	                     .detector = {.window = 3600, .max_label_sets = 5}};
	struct web_ctx c = {.cfg = &cfg, .now_ms = 1790000600000LL};
	struct suspect sus = {.rank = 1,
	                      .service = (char *)"<b>svc",
	                      .function = (char *)"main.leak",
	                      .file = (char *)"/leak.go",
	                      .line = 7,
	                      .op = (char *)"chan send",
	                      .score = 0.9,
	                      .current_count = 13,
	                      .oldest_wait_minutes = -1,
	                      .median_wait_minutes = -1,
	                      .explanation = (char *)"grew",
	                      .stack_json = (char *)"[]",
	                      .sparkline_json = (char *)"[]"};
	struct ranking rk = {.generated_at = 1790000500000LL, .window_seconds = 3600, .n = 1};
	char dir[256], path[300], page[64];
	struct web_reply r = {0};
	unsigned status;
	json_t *j, *lab;
	int64_t t;

	testutil_mkdtemp(dir, sizeof(dir), "check_web");
	testutil_store_target(path, sizeof(path), dir, "leakprofd.db");
	c.st = store_open(path, 0);
	ck_assert_ptr_nonnull(c.st);
	t = store_target_upsert(c.st, "<b>svc", NULL, "http://t1");
	ck_assert_int_eq(store_add_scrape(c.st, &(struct scrape_record){.target_id = t,
	                                                                .ts = 1790000000000LL,
	                                                                .status = "ok",
	                                                                .profile = &p}),
	                 0);
	l.labels = s2;
	l.count = 13;
	ck_assert_int_eq(store_add_scrape(c.st, &(struct scrape_record){.target_id = t,
	                                                                .ts = 1790000300000LL,
	                                                                .status = "ok",
	                                                                .profile = &p}),
	                 0);
	ck_assert_int_eq(query_service_id(c.st, "<b>svc", &sus.service_id), 0);
	sus.location_id = 1;
	rk.suspects = &sus;
	ck_assert_int_eq(store_ranking_save(c.st, &rk), 0);

	j = api_get(&c, "/api/v1/suspects", none, &status);
	ck_assert_uint_eq(status, 200);
	lab = json_object_get(json_array_get(json_object_get(j, "suspects"), 0), "labels");
	ck_assert_uint_eq(json_array_size(lab), 2);
	ck_assert_str_eq(json_string_value(json_object_get(
	                     json_object_get(json_array_get(lab, 0), "set"), "route")),
	                 "/a<x>");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(lab, 0), "count")), 9);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(lab, 0), "growth")), 7);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(lab, 1), "growth")), 0);
	json_decref(j);
	j = api_get(&c, "/api/v1/suspects", has, &status);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "suspects")), 1);
	json_decref(j);
	j = api_get(&c, "/api/v1/suspects", lacks, &status);
	ck_assert_uint_eq(status, 200);
	ck_assert_uint_eq(json_array_size(json_object_get(j, "suspects")), 0);
	json_decref(j);
	j = api_get(&c, "/api/v1/suspects", bad, &status);
	ck_assert_uint_eq(status, 400);
	ck_assert(strncmp(json_string_value(json_object_get(j, "error")), "label:", 6) == 0);
	json_decref(j);

	/* the location page: the card, escaped, the growing set marked */
	snprintf(page, sizeof(page), "/locations/%lld", (long long)sus.location_id);
	c.path = page;
	c.arg = fake_arg;
	c.arg_cls = (void *)none;
	pages_handle(&c, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "<h2>Labels"));
	ck_assert_ptr_nonnull(strstr(r.body, "<tr class=\"growing\"><td class=\"mono\">"
	                                     "route=/a&lt;x&gt;</td>"));
	ck_assert_ptr_nonnull(strstr(r.body, ">+7</td>"));
	ck_assert_ptr_nonnull(strstr(r.body,
	                             "<p class=\"grows\">Growing: <a class=\"mono\" "
	                             "href=\"/?service=%3Cb%3Esvc&amp;label=route%3D%2Fa%3Cx%3E\">"
	                             "route=/a&lt;x&gt;</a> +7</p>"));
	ck_assert_ptr_null(strstr(r.body, "/a<x>"));
	web_reply_release(&r);
	/* the suspects page: the filter kept in its field, escaped */
	c.path = "/";
	c.arg_cls = (void *)has;
	pages_handle(&c, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "name=\"label\" placeholder=\"key=value\" "
	                                     "size=\"18\" value=\"route=/a&lt;x&gt;\""));
	ck_assert_ptr_nonnull(strstr(r.body, "1 suspect "));
	web_reply_release(&r);
	store_free(c.st);
	testutil_rmtree(dir);
}
END_TEST

static char *
page_get(struct web_ctx *c, const char *const *args, unsigned *status)
{
	struct web_reply r = {0};
	char *body;

	c->path = "/targets";
	c->arg = fake_arg;
	c->arg_cls = (void *)args;
	pages_handle(c, &r);
	*status = r.status;
	body = r.body;
	r.body = NULL;
	web_reply_release(&r);
	return body;
}

/* An alert outlives its service's place in the configuration (it resolves later, and the alerts
 * page lists resolved ones for 7 days): the page names its service from the alert itself, escaped,
 * not from the services that still have active targets. */
START_TEST(test_alerts_page_names_removed_service)
{
	static const char *const none[] = {NULL};
	struct config cfg = {.scrape_interval = 60, .detector = {.window = 3600}};
	int64_t now = 1790000060000LL;
	struct web_ctx c = {.cfg = &cfg, .now_ms = now, .arg = fake_arg, .arg_cls = (void *)none};
	struct web_reply r = {0};
	char dir[256], path[300], sql[512];
	struct store *st;
	int64_t t;

	testutil_mkdtemp(dir, sizeof(dir), "check_web");
	testutil_store_target(path, sizeof(path), dir, "t.db");
	st = store_open(path, 0);
	ck_assert_ptr_nonnull(st);
	t = store_target_upsert(st, "pay<ments>", NULL, "http://a:1");
	ck_assert_int_gt(t, 0);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO locations (id, function, file, line, op, first_seen, last_seen)"
	         " VALUES (7, 'main.fetch', '/src/fetch.go', 42, 'chan send', 0, 0);"
	         "INSERT INTO alerts (service_id, location_id, state, firing_since, resolved_at,"
	         " updated) SELECT service_id, 7, 'resolved', %lld, %lld, %lld FROM targets"
	         " WHERE id = %lld;",
	         (long long)(now - 7200000), (long long)(now - 60000), (long long)(now - 60000),
	         (long long)t);
	testutil_db_exec(store_dbh(st), sql);
	/* The service leaves the configuration: no active target of it remains. */
	ck_assert_int_eq(store_targets_set_active(st, NULL, 0), 0);
	c.st = st;
	c.path = "/alerts";
	pages_handle(&c, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_msg(strstr(r.body, "<td>pay&lt;ments&gt;</td>") != NULL, "page: %s", r.body);
	web_reply_release(&r);
	store_free(st);
	testutil_rmtree(dir);
}
END_TEST

/* The targets page: the failing ones first, then a page of all, linked to the next page with the
 * filters kept (escaped for the attribute); every name from the database escaped. */
START_TEST(test_targets_page)
{
	static const char *const first[] = {"limit", "5", NULL};
	static const char *const prefix[] = {"status", "time\"out<", "limit", "5", NULL};
	static const char *const bad[] = {"limit", "5000", NULL};
	struct config cfg = {.scrape_interval = 60, .detector = {.window = 3600}};
	struct web_ctx c = {.cfg = &cfg, .now_ms = 1790000060000LL};
	char dir[256];
	unsigned status;
	char *body, *failing, *all, *next;

	testutil_mkdtemp(dir, sizeof(dir), "check_web");
	c.st = targets_db(dir, 12, NULL);
	body = page_get(&c, first, &status);
	ck_assert_uint_eq(status, 200);
	ck_assert_ptr_null(strstr(body, "<b>svc"));
	ck_assert_ptr_nonnull(strstr(body, "&lt;b&gt;svc"));
	/* 3 failing (t0, t5, t10): listed before the page of all. */
	failing = strstr(body, "<h2>Failing</h2>");
	all = strstr(body, "<h2>Targets ");
	ck_assert_ptr_nonnull(failing);
	ck_assert_ptr_nonnull(all);
	ck_assert(failing < all);
	ck_assert_ptr_nonnull(strstr(body, "12 active targets"));
	ck_assert_ptr_nonnull(strstr(body, "3 not up"));
	next = strstr(body, "<a rel=\"next\" href=\"/targets?limit=5&amp;after=5\">");
	ck_assert_msg(next != NULL, "no link to the next page");
	ck_assert_ptr_nonnull(strstr(body, "JSON: <a href=\"/api/v1/targets?limit=5\">"));
	free(body);

	/* A status prefix is kept in the form and the links, escaped. */
	body = page_get(&c, prefix, &status);
	ck_assert_uint_eq(status, 200);
	ck_assert_ptr_null(strstr(body, "time\"out<"));
	ck_assert_ptr_nonnull(strstr(body, "<option selected value=\"time&quot;out&lt;\">"));
	ck_assert_ptr_null(strstr(body, "<h2>Failing</h2>"));
	ck_assert_ptr_null(strstr(body, "rel=\"next\"")); /* no target failed with that */
	ck_assert_ptr_nonnull(strstr(body, "No targets match."));
	ck_assert_ptr_nonnull(
	    strstr(body, "JSON: <a href=\"/api/v1/targets?status=time%22out%3C&amp;limit=5\">"));
	free(body);

	body = page_get(&c, bad, &status);
	ck_assert_uint_eq(status, 400);
	ck_assert_ptr_nonnull(strstr(body, "limit: expected an integer from 1 to 1000"));
	free(body);
	store_free(c.st);
	testutil_rmtree(dir);
}
END_TEST

/* /metrics has a series per target while metrics.per_target_max targets or fewer are active, and
 * past it per-service summaries only, saying so. */
/* The database refusing the daemon's writes, as /metrics, the targets page and /healthz show it:
 * since when, the scrapes waiting in memory and dropped; and when the database cannot be read at
 * all (PostgreSQL down), /metrics still answers with the daemon's own figures and the targets page
 * with the banner, not a bare error. */
START_TEST(test_writes_refused_shown)
{
	struct config *cfg = config_default();
	struct metrics *m = metrics_new();
	struct web_ingest refused = {.refused_since_ms = 1790000000000LL,
	                             .queued = 37,
	                             .queued_max = 4096,
	                             .queued_max_ms = 600000,
	                             .dropped = 2},
	                  taken = {.queued = 1, .queued_max = 4096, .queued_max_ms = 600000};
	struct web_ctx c = {.cfg = cfg, .path = "/metrics", .now_ms = 1790000030000LL};
	struct health_input hin = {.heartbeat_limit_ms = 30000, .ingest = refused};
	struct web_reply r = {0};
	unsigned status;
	char dir[256];
	json_t *j, *d;

	ck_assert_ptr_nonnull(m);
	metrics_count_scrape(m, "payments", true, 20);
	metrics_set_stored(m, 5);

	/* no database connection at all: the daemon's own figures, and database_up 0 */
	c.ingest = &refused;
	metrics_handle(&c, m, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\nleakprofd_database_up 0\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\nleakprofd_database_writes_refused 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(r.body, "\nleakprofd_database_writes_refused_since_seconds 1790000000.000\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\nleakprofd_scrapes_queued 37\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\nleakprofd_scrapes_queued_max 4096\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\nleakprofd_scrapes_dropped_total 2\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\nleakprofd_scrapes_stored_total 5\n"));
	ck_assert_ptr_nonnull(strstr(
	    r.body, "\nleakprofd_scrapes_total{service=\"payments\",result=\"success\"} 1\n"));
	ck_assert_ptr_null(strstr(r.body, "leakprofd_suspects "));
	web_reply_release(&r);

	c.path = "/targets";
	pages_handle(&c, &r);
	ck_assert_uint_eq(r.status, 503);
	ck_assert_ptr_nonnull(strstr(r.body, "id=\"writes-refused\""));
	ck_assert_ptr_nonnull(strstr(r.body, "37 finished scrapes wait in memory"));
	ck_assert_ptr_nonnull(strstr(r.body, "<b>2 dropped</b>"));
	ck_assert_ptr_nonnull(strstr(r.body, "datetime=\"2026-09-21T14:13:20Z\""));
	web_reply_release(&r);

	/* a readable database: everything, the banner above the targets while refused */
	testutil_mkdtemp(dir, sizeof(dir), "check_web");
	c.st = targets_db(dir, 2, NULL);
	c.path = "/metrics";
	metrics_handle(&c, m, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\nleakprofd_database_up 1\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\nleakprofd_suspects "));
	ck_assert_ptr_nonnull(strstr(r.body, "\nleakprofd_scrapes_queued 37\n"));
	web_reply_release(&r);
	c.path = "/targets";
	pages_handle(&c, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "id=\"writes-refused\""));
	web_reply_release(&r);
	c.ingest = &taken;
	pages_handle(&c, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_null(strstr(r.body, "writes-refused"));
	web_reply_release(&r);
	c.path = "/metrics";
	metrics_handle(&c, m, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "\nleakprofd_database_writes_refused 0\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\nleakprofd_scrapes_queued 1\n"));
	web_reply_release(&r);
	store_free(c.st);
	testutil_rmtree(dir);

	/* /healthz: the same figures in "database" */
	j = health_json(&hin, &status);
	d = json_object_get(j, "database");
	ck_assert_str_eq(json_string_value(json_object_get(d, "writes_refused_since")),
	                 "2026-09-21T14:13:20Z");
	ck_assert_int_eq(json_integer_value(json_object_get(d, "scrapes_queued")), 37);
	ck_assert_int_eq(json_integer_value(json_object_get(d, "scrapes_queued_max")), 4096);
	ck_assert_int_eq(json_integer_value(json_object_get(d, "scrapes_dropped")), 2);
	json_decref(j);
	hin.ingest = taken;
	j = health_json(&hin, &status);
	ck_assert(
	    json_is_null(json_object_get(json_object_get(j, "database"), "writes_refused_since")));
	json_decref(j);
	metrics_free(m);
	config_unref(cfg);
}
END_TEST

START_TEST(test_metrics_per_target_bound)
{
	static const char yaml[] = "metrics:\n  per_target_max: 3\n";
	static const char bad[] = "metrics:\n  per_target_max: -1\n";
	struct config_errors errs = {0};
	struct config *cfg = config_load_buffer("m.yaml", yaml, strlen(yaml), &errs);
	struct config *dflt = config_default();
	struct metrics *m = metrics_new();
	struct web_ctx c = {.path = "/metrics"};
	bool retire[4] = {[3] = true};
	struct web_reply r = {0};
	char dir[256];

	ck_assert_ptr_nonnull(cfg);
	ck_assert_ptr_nonnull(dflt);
	ck_assert_uint_eq(cfg->metrics.per_target_max, 3);
	ck_assert_uint_eq(dflt->metrics.per_target_max, 1000);
	ck_assert_ptr_null(config_load_buffer("m.yaml", bad, strlen(bad), &errs));
	ck_assert_uint_ge(errs.n, 1);
	ck_assert_ptr_nonnull(strstr(errs.msgs[0], "metrics.per_target_max"));
	config_errors_release(&errs);

	/* 3 active targets (the 4th retired): every one has its series. */
	testutil_mkdtemp(dir, sizeof(dir), "check_web");
	c.st = targets_db(dir, 4, retire);
	c.cfg = cfg;
	metrics_handle(&c, m, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\nleakprofd_target_series_suppressed 0\n"));
	ck_assert_ptr_nonnull(
	    strstr(r.body, "\nleakprofd_target_up{service=\"<b>svc\",target=\"http://t0\"} 0\n"));
	ck_assert_ptr_nonnull(
	    strstr(r.body, "\nleakprofd_target_up{service=\"a\",target=\"http://t1\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(r.body,
	                             "\nleakprofd_target_scrape_duration_seconds{service=\"a\","
	                             "target=\"http://t1\"} 0.250\n"));
	ck_assert_ptr_null(strstr(r.body, "target=\"http://t3\""));
	web_reply_release(&r);
	store_free(c.st);
	testutil_rmtree(dir);

	/* 4 active: no per-target series, the summaries stay. */
	testutil_mkdtemp(dir, sizeof(dir), "check_web");
	c.st = targets_db(dir, 4, NULL);
	metrics_handle(&c, m, &r);
	ck_assert_uint_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\nleakprofd_target_series_suppressed 1\n"));
	ck_assert_ptr_null(strstr(r.body, "\nleakprofd_target_up{"));
	ck_assert_ptr_null(strstr(r.body, "\nleakprofd_target_scrape_duration_seconds{"));
	ck_assert_ptr_nonnull(
	    strstr(r.body, "\nleakprofd_targets{service=\"a\",state=\"up\"} 2\n"));
	ck_assert_ptr_nonnull(
	    strstr(r.body, "\nleakprofd_targets{service=\"<b>svc\",state=\"down\"} 1\n"));
	web_reply_release(&r);
	/* The default bound lets them through. */
	c.cfg = dflt;
	metrics_handle(&c, m, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "\nleakprofd_target_series_suppressed 0\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "target=\"http://t3\""));
	web_reply_release(&r);
	store_free(c.st);
	testutil_rmtree(dir);
	metrics_free(m);
	config_unref(cfg);
	config_unref(dflt);
}
END_TEST

Suite *web_suite(void);

Suite *
web_suite(void)
{
	Suite *s = suite_create("web");
	TCase *tc = tcase_create("helpers");

	tcase_add_test(tc, test_html_escapes_markup);
	tcase_add_test(tc, test_html_replaces_invalid_utf8_and_controls);
	tcase_add_test(tc, test_url_encodes_reserved);
	tcase_add_test(tc, test_prom_label_escaping);
	tcase_add_test(tc, test_json_string_survives_invalid_utf8);
	tcase_add_test(tc, test_sbuf_cap);
	tcase_add_test(tc, test_parse_duration);
	tcase_add_test(tc, test_parse_uint);
	tcase_add_test(tc, test_base64_and_secrets);
	tcase_add_test(tc, test_format_helpers);
	tcase_add_test(tc, test_sparkline);
	tcase_add_test(tc, test_ranking_parameters_rejected_by_name);
	tcase_add_test(tc, test_api_error_is_json);
	tcase_add_test(tc, test_window_past_retention);
	tcase_add_test(tc, test_chart_past_raw);
	tcase_add_test(tc, test_location_source_links);
	tcase_add_test(tc, test_suspect_shows_own_stack);
	tcase_add_test(tc, test_location_call_sites);
	tcase_add_test(tc, test_micro_cache);
	tcase_add_test(tc, test_recompute_window);
	tcase_add_test(tc, test_micro_key_ignores_unknown_arguments);
	tcase_add_test(tc, test_recompute_single_flight);
	tcase_add_test(tc, test_recompute_bound_and_deadline);
	tcase_add_test(tc, test_recompute_freshness_and_errors);
	tcase_add_test(tc, test_recompute_table_turns_over);
	tcase_add_test(tc, test_healthz_each_check);
	tcase_add_test(tc, test_healthz_database_check);
	tcase_add_test(tc, test_healthz_writes_refused);
	tcase_add_test(tc, test_writes_refused_shown);
	tcase_add_test(tc, test_healthz_sources);
	tcase_add_test(tc, test_metrics_count_from_start);
	tcase_add_test(tc, test_metrics_failed_notifications);
	tcase_add_test(tc, test_api_targets_pages);
	tcase_add_test(tc, test_micro_key_targets);
	tcase_add_test(tc, test_targets_page);
	tcase_add_test(tc, test_alerts_page_names_removed_service);
	tcase_add_test(tc, test_labels_api_and_pages);
	tcase_add_test(tc, test_label_values);
	tcase_add_test(tc, test_metrics_per_target_bound);
	suite_add_tcase(s, tc);
	return s;
}
