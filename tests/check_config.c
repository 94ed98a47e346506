/* tests/check_config.c: the configuration loader: every key, every default, every error message.
 * Fixtures are under tests/fixtures/config/ (the tests run with cwd = tests/, which the fixtures'
 * file paths are relative to). */
#include <arpa/inet.h>
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"

#define FIX "fixtures/config/"
#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct config *
load_str(const char *text, struct config_errors *errs)
{
	return config_load_buffer("t.yaml", text, strlen(text), errs);
}

static void
dump_errors(const struct config_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		fprintf(stderr, "  got: %s\n", errs->msgs[i]);
}

/* Load 'text' and require exactly the messages in 'want', in order. */
static void
expect_errors_in(struct config *cfg, struct config_errors *errs, const char *const *want, size_t n)
{
	ck_assert_ptr_null(cfg);
	if (errs->n != n)
		dump_errors(errs);
	ck_assert_uint_eq(errs->n, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(errs->msgs[i], want[i]);
	config_errors_release(errs);
}

static void
expect_file_errors(const char *file, const char *const *want, size_t n)
{
	struct config_errors errs = {0};

	expect_errors_in(config_load(file, &errs), &errs, want, n);
}

/* One error, for a small document: "t.yaml:LINE: KEY: message". */
static void
expect_error(const char *text, const char *want)
{
	struct config_errors errs = {0};
	struct config *cfg = load_str(text, &errs);

	if (cfg != NULL || errs.n != 1)
		dump_errors(&errs);
	ck_assert_msg(cfg == NULL, "accepted: %s", text);
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(errs.msgs[0], want);
	config_errors_release(&errs);
}

static struct config *
expect_ok(const char *text)
{
	struct config_errors errs = {0};
	struct config *cfg = load_str(text, &errs);

	if (cfg == NULL)
		dump_errors(&errs);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_uint_eq(errs.n, 0);
	return cfg;
}

static void
check_defaults(const struct config *cfg)
{
	ck_assert_str_eq(cfg->listen, "127.0.0.1:8080");
	ck_assert_str_eq(cfg->log_level, "info");
	ck_assert_ptr_null(cfg->external_url);
	ck_assert_uint_eq(cfg->scrape_interval, 60);
	ck_assert_uint_eq(cfg->scrape_timeout, 10);
	ck_assert_uint_eq(cfg->max_body_bytes, 64u << 20);
	ck_assert_uint_eq(cfg->max_concurrent_scrapes, 64);
	ck_assert_uint_eq(cfg->retention_raw, 48 * 3600);
	ck_assert_uint_eq(cfg->retention_rollup, 30 * 86400);
	ck_assert_uint_eq(cfg->ingest.buffer_scrapes, 4096);
	ck_assert_uint_eq(cfg->ingest.buffer_duration, 600);
	ck_assert_uint_eq(cfg->nservices, 0);
	ck_assert_uint_eq(cfg->ntarget_files, 0);
	ck_assert_uint_eq(cfg->shard_index, 0);
	ck_assert_uint_eq(cfg->shard_count, 1);
	ck_assert_uint_eq(cfg->detector.window, 6 * 3600);
	ck_assert_uint_eq(cfg->detector.min_scrapes, 4);
	ck_assert_uint_eq(cfg->detector.min_count, 10);
	ck_assert_uint_eq(cfg->detector.max_label_sets, 5);
	ck_assert_uint_eq(cfg->detector.window_memory, CONFIG_WINDOW_MEMORY_DEFAULT);
	ck_assert_uint_eq(cfg->detector.nignore, 0);
	ck_assert_ptr_null(cfg->web.bearer_token_file);
	ck_assert_ptr_null(cfg->web.basic_auth.username);
	ck_assert_ptr_null(cfg->web.basic_auth.password_file);
	ck_assert_ptr_null(cfg->web.tls_cert_file);
	ck_assert_ptr_null(cfg->web.tls_key_file);
	ck_assert_uint_eq(cfg->web.max_connections, 64);
	ck_assert_uint_eq(cfg->web.request_timeout, 30);
	ck_assert(cfg->alerting.min_score == 0.8);
	ck_assert_uint_eq(cfg->alerting.min_count, 100);
	ck_assert_uint_eq(cfg->alerting.for_duration, 600);
	ck_assert_uint_eq(cfg->alerting.repeat_interval, 86400);
	ck_assert_uint_eq(cfg->alerting.max_age, 86400);
	ck_assert_uint_eq(cfg->alerting.nwebhooks, 0);
}

START_TEST(test_default)
{
	struct config *cfg = config_default();

	ck_assert_ptr_nonnull(cfg);
	check_defaults(cfg);
	ck_assert_str_eq(cfg->database, "./leakprofd.db");
	ck_assert_str_eq(cfg->source, "(default)");
	config_unref(cfg);
	config_unref(NULL);
}
END_TEST

START_TEST(test_empty_file_has_file_defaults)
{
	struct config_errors errs = {0};
	struct config *cfg = config_load(FIX "empty.yaml", &errs);

	ck_assert_ptr_nonnull(cfg);
	ck_assert_uint_eq(errs.n, 0);
	check_defaults(cfg);
	ck_assert_str_eq(cfg->database, "/var/lib/leakprofd/leakprofd.db");
	ck_assert_str_eq(cfg->source, FIX "empty.yaml");
	config_unref(cfg);

	/* A document that is only a comment, or only "---", is empty too. */
	cfg = expect_ok("# nothing here\n");
	check_defaults(cfg);
	config_unref(cfg);
	cfg = expect_ok("---\n");
	config_unref(cfg);
}
END_TEST

/* full.yaml and full.json set every key to a non-default value; both must read the same. */
static void
check_full(const struct config *cfg)
{
	const struct config_service *s;
	const struct config_webhook *w;

	ck_assert_str_eq(cfg->listen, "[::1]:9090");
	ck_assert_str_eq(cfg->database, "/tmp/leakprofd-test.db");
	ck_assert_str_eq(cfg->log_level, "debug");
	ck_assert_str_eq(cfg->external_url, "https://leakprofd.example.com/");
	ck_assert_uint_eq(cfg->scrape_interval, 120);
	ck_assert_uint_eq(cfg->scrape_timeout, 30);
	ck_assert_uint_eq(cfg->max_body_bytes, 128u << 20);
	ck_assert_uint_eq(cfg->max_concurrent_scrapes, 16);
	ck_assert_uint_eq(cfg->retention_raw, 3 * 86400);
	ck_assert_uint_eq(cfg->retention_rollup, 60 * 86400);

	ck_assert_uint_eq(cfg->nservices, 2);
	s = &cfg->services[0];
	ck_assert_str_eq(s->name, "payments");
	ck_assert_uint_eq(s->ntargets, 2);
	ck_assert_str_eq(s->targets[0], "http://127.0.0.1:6060");
	ck_assert_str_eq(s->targets[1], "https://[::1]:6061");
	ck_assert_str_eq(s->profile, "goroutineleak");
	ck_assert_str_eq(s->path, "/debug/pprof/goroutineleak");
	ck_assert_int_eq(s->format, PROFILE_FORMAT_DEBUG1);
	ck_assert_uint_eq(s->detail_every, 0);
	ck_assert_uint_eq(s->detail_max_goroutines, 5000);
	ck_assert_uint_eq(s->nlabels, 2);
	ck_assert_str_eq(s->labels[0].key, "team");
	ck_assert_str_eq(s->labels[0].value, "pay");
	ck_assert_str_eq(s->labels[1].key, "env");
	ck_assert_str_eq(s->labels[1].value, "prod");
	ck_assert_uint_eq(s->nheaders, 1);
	ck_assert_str_eq(s->headers[0].key, "X-Scope");
	ck_assert_str_eq(s->headers[0].value, "payments");
	ck_assert_str_eq(s->bearer_token_file, FIX "files/payments.token");
	ck_assert_ptr_null(s->basic_auth.username);
	ck_assert_str_eq(s->tls.ca_file, FIX "files/ca.pem");
	ck_assert_str_eq(s->tls.cert_file, FIX "files/client.pem");
	ck_assert_str_eq(s->tls.key_file, FIX "files/client.key");
	ck_assert(s->tls.insecure_skip_verify);

	s = &cfg->services[1];
	ck_assert_str_eq(s->name, "search");
	ck_assert_uint_eq(s->ntargets, 1);
	ck_assert_str_eq(s->targets[0], "http://10.0.0.7:6060");
	ck_assert_str_eq(s->profile, "goroutine");
	ck_assert_str_eq(s->path, "/internal/pprof/goroutine");
	ck_assert_int_eq(s->format, PROFILE_FORMAT_DEBUG2);
	ck_assert_uint_eq(s->detail_every, 10);
	ck_assert_uint_eq(s->detail_max_goroutines, 10000);
	ck_assert_uint_eq(s->nlabels, 0);
	ck_assert_uint_eq(s->nheaders, 0);
	ck_assert_ptr_null(s->bearer_token_file);
	ck_assert_str_eq(s->basic_auth.username, "scraper");
	ck_assert_str_eq(s->basic_auth.password_file, FIX "files/password");
	ck_assert_ptr_null(s->tls.ca_file);
	ck_assert(!s->tls.insecure_skip_verify);

	ck_assert_uint_eq(cfg->ntarget_files, 2);
	ck_assert_str_eq(cfg->target_files[0], "/etc/leakprofd/targets/*.json");
	ck_assert_str_eq(cfg->target_files[1], "/etc/leakprofd/targets/*.yaml");
	ck_assert_uint_eq(cfg->shard_index, 2);
	ck_assert_uint_eq(cfg->shard_count, 3);

	ck_assert_uint_eq(cfg->detector.window, 12 * 3600);
	ck_assert_uint_eq(cfg->detector.min_scrapes, 6);
	ck_assert_uint_eq(cfg->detector.min_count, 25);
	ck_assert_uint_eq(cfg->detector.max_label_sets, 3);
	ck_assert_uint_eq(cfg->detector.nignore, 3);
	ck_assert_str_eq(cfg->detector.ignore[0].function, "main.poolWorker");
	ck_assert_ptr_null(cfg->detector.ignore[0].any_function);
	ck_assert_ptr_null(cfg->detector.ignore[0].file);
	ck_assert_ptr_null(cfg->detector.ignore[0].service);
	ck_assert_ptr_null(cfg->detector.ignore[1].function);
	ck_assert_str_eq(cfg->detector.ignore[1].any_function, "net/http.(*persistConn).readLoop");
	ck_assert_str_eq(cfg->detector.ignore[1].service, "search");
	ck_assert_str_eq(cfg->detector.ignore[2].file, "*/vendor/*");

	ck_assert_str_eq(cfg->web.bearer_token_file, FIX "files/payments.token");
	ck_assert_str_eq(cfg->web.basic_auth.username, "admin");
	ck_assert_str_eq(cfg->web.basic_auth.password_file, FIX "files/password");
	ck_assert_str_eq(cfg->web.tls_cert_file, FIX "files/web.pem");
	ck_assert_str_eq(cfg->web.tls_key_file, FIX "files/web.key");
	ck_assert_uint_eq(cfg->web.max_connections, 128);
	ck_assert_uint_eq(cfg->web.request_timeout, 60);

	ck_assert(cfg->alerting.min_score == 0.9);
	ck_assert_uint_eq(cfg->alerting.min_count, 500);
	ck_assert_uint_eq(cfg->alerting.for_duration, 900);
	ck_assert_uint_eq(cfg->alerting.repeat_interval, 12 * 3600);
	ck_assert_uint_eq(cfg->alerting.max_age, 2 * 86400);
	ck_assert_uint_eq(cfg->alerting.nwebhooks, 2);
	w = &cfg->alerting.webhooks[0];
	ck_assert_str_eq(w->name, "team-chat");
	ck_assert_str_eq(w->url, "https://hooks.example/abc");
	ck_assert_ptr_null(w->url_file);
	ck_assert_int_eq(w->format, WEBHOOK_FORMAT_SLACK);
	ck_assert_str_eq(w->secret_file, FIX "files/hook.key");
	ck_assert_uint_eq(w->nservices, 1);
	ck_assert_str_eq(w->services[0], "payments");
	ck_assert_uint_eq(w->timeout, 5);
	w = &cfg->alerting.webhooks[1];
	ck_assert_str_eq(w->name, "incidents");
	/* url_file is read at load time, surrounding blanks and newlines trimmed. */
	ck_assert_str_eq(w->url, "https://hooks.example.com/services/T0/B0/XYZ");
	ck_assert_str_eq(w->url_file, FIX "files/hook.url");
	ck_assert_int_eq(w->format, WEBHOOK_FORMAT_ALERTMANAGER);
	ck_assert_ptr_null(w->secret_file);
	ck_assert_uint_eq(w->nservices, 0);
	ck_assert_uint_eq(w->timeout, 10);
}

START_TEST(test_full_yaml)
{
	struct config_errors errs = {0};
	struct config *cfg = config_load(FIX "full.yaml", &errs);

	if (cfg == NULL)
		dump_errors(&errs);
	ck_assert_ptr_nonnull(cfg);
	check_full(cfg);
	config_unref(cfg);
}
END_TEST

START_TEST(test_full_json)
{
	struct config_errors errs = {0};
	struct config *cfg = config_load(FIX "full.json", &errs);

	if (cfg == NULL)
		dump_errors(&errs);
	ck_assert_ptr_nonnull(cfg);
	check_full(cfg);
	config_unref(cfg);
}
END_TEST

START_TEST(test_minimal_service_defaults)
{
	struct config_errors errs = {0};
	struct config *cfg = config_load(FIX "minimal.yaml", &errs);
	const struct config_service *s;

	ck_assert_ptr_nonnull(cfg);
	ck_assert_uint_eq(cfg->nservices, 1);
	s = &cfg->services[0];
	ck_assert_str_eq(s->name, "payments");
	ck_assert_str_eq(s->profile, "goroutine");
	ck_assert_str_eq(s->path, "/debug/pprof/goroutine");
	ck_assert_int_eq(s->format, PROFILE_FORMAT_PROTO);
	ck_assert_uint_eq(s->detail_every, 10);
	ck_assert_uint_eq(s->detail_max_goroutines, 10000);
	ck_assert_ptr_null(s->bearer_token_file);
	ck_assert_ptr_null(s->basic_auth.username);
	ck_assert_ptr_null(s->tls.ca_file);
	ck_assert_ptr_null(s->tls.cert_file);
	ck_assert(!s->tls.insecure_skip_verify);
	config_unref(cfg);
}
END_TEST

/* detector.window reaches back at most as far as the rollups are kept; past retention.raw it is
 * served from them, which is fine. */
START_TEST(test_window_within_retention)
{
	struct config *cfg;

	expect_error("services: []\ndetector:\n  window: 31d\n",
	             "t.yaml:3: detector.window: detector.window (2678400s) must not exceed "
	             "retention.rollup (2592000s): older data is not kept");
	expect_error("retention:\n  raw: 1h\n  rollup: 2h\n",
	             "t.yaml:3: retention.rollup: detector.window (21600s) must not exceed "
	             "retention.rollup (7200s): older data is not kept");
	cfg = expect_ok("retention: {raw: 1d, rollup: 7d}\ndetector: {window: 7d}\n");
	ck_assert_uint_eq(cfg->detector.window, 7 * 86400);
	config_unref(cfg);
}
END_TEST

START_TEST(test_values_accepted)
{
	struct config *cfg;

	/* Durations: units, compounds, plain seconds (quoted or not); sizes: decimal and binary
	 * units. */
	cfg = expect_ok(
	    "scrape_interval: 90\nscrape_timeout: \"1m30s\"\nmax_body_bytes: 1048576\n"
	    "retention: {raw: 1w, rollup: 1w}\nalerting: {for: 0s, min_score: 0, min_count: 0}\n");
	ck_assert_uint_eq(cfg->scrape_interval, 90);
	ck_assert_uint_eq(cfg->scrape_timeout, 90);
	ck_assert_uint_eq(cfg->max_body_bytes, 1048576);
	ck_assert_uint_eq(cfg->retention_raw, 7 * 86400);
	ck_assert_uint_eq(cfg->alerting.for_duration, 0);
	ck_assert(cfg->alerting.min_score == 0.0);
	config_unref(cfg);

	cfg = expect_ok("max_body_bytes: 10MB\nalerting: {min_score: 1}\nlisten: \"0.0.0.0:0\"\n");
	ck_assert_uint_eq(cfg->max_body_bytes, 10000000);
	ck_assert(cfg->alerting.min_score == 1.0);
	ck_assert_str_eq(cfg->listen, "0.0.0.0:0");
	config_unref(cfg);

	cfg = expect_ok("max_body_bytes: 100kB\nlisten: localhost:8080\nlog_level: WARNING\n");
	ck_assert_uint_eq(cfg->max_body_bytes, 100000);
	ck_assert_str_eq(cfg->listen, "localhost:8080");
	config_unref(cfg);

	/* Optional strings may be null ("~", empty) and stay unset. */
	cfg = expect_ok("external_url: ~\nweb: {auth: {bearer_token_file: }}\n");
	ck_assert_ptr_null(cfg->external_url);
	ck_assert_ptr_null(cfg->web.bearer_token_file);
	config_unref(cfg);

	/* Anchors and aliases are plain YAML: a shared target list. */
	cfg = expect_ok("services:\n  - {name: a, targets: &t [http://h:1, http://h:2]}\n"
	                "  - {name: b, targets: *t, format: debug=2}\n");
	ck_assert_uint_eq(cfg->nservices, 2);
	ck_assert_uint_eq(cfg->services[1].ntargets, 2);
	ck_assert_str_eq(cfg->services[1].targets[1], "http://h:2");
	ck_assert_str_eq(format_name(cfg->services[1].format), "debug=2");
	config_unref(cfg);

	/* A service without targets is fine when target files can supply them. */
	cfg = expect_ok(
	    "target_files: [/etc/leakprofd/targets/*.json]\nservices: [{name: discovered}]\n");
	ck_assert_uint_eq(cfg->services[0].ntargets, 0);
	config_unref(cfg);

	/* URLs: IPv6, credentials, a path prefix, upper-case scheme. */
	cfg = expect_ok(
	    "services: [{name: a, targets: [\"http://[fe80::1]:6060\", \"HTTPS://u:p@h/prefix\", "
	    "\"http://h\"]}]\n");
	ck_assert_uint_eq(cfg->services[0].ntargets, 3);
	config_unref(cfg);
}
END_TEST

START_TEST(test_json_compact_and_tabs)
{
	/* JSON without spaces after colons, tabs for indentation, escapes: still read by libyaml.
	 */
	struct config *cfg = expect_ok(
	    "{\"listen\":\"127.0.0.1:9\",\n\t\"services\":[{\"name\":\"a\\/b\","
	    "\"targets\":[\"http://h:1\"],\"detail_every\":3}],\"alerting\":{\"min_score\":0.5}}");

	ck_assert_str_eq(cfg->listen, "127.0.0.1:9");
	ck_assert_str_eq(cfg->services[0].name, "a/b");
	ck_assert_uint_eq(cfg->services[0].detail_every, 3);
	ck_assert(cfg->alerting.min_score == 0.5);
	config_unref(cfg);
}
END_TEST

START_TEST(test_errors_values)
{
	static const char *const want[] = {
	    FIX "bad-values.yaml:1: listen: invalid address 'localhost': missing port (use "
	        "host:port or [addr]:port)",
	    FIX "bad-values.yaml:2: database: empty string",
	    FIX "bad-values.yaml:3: log_level: unknown level 'loud' (use debug, info, notice, "
	        "warning or error)",
	    FIX "bad-values.yaml:4: external_url: invalid URL 'ftp://example.com/': the scheme "
	        "must be http:// or "
	        "https://",
	    FIX "bad-values.yaml:5: scrape_interval: invalid duration '-5s' (use e.g. 30s, 5m, 2h)",
	    FIX "bad-values.yaml:6: scrape_timeout: invalid duration 'ten seconds' (use e.g. 30s, "
	        "5m, 2h)",
	    FIX "bad-values.yaml:7: max_body_bytes: invalid size '64 furlongs' (use e.g. 64MiB, "
	        "512KiB, 10MB or "
	        "plain bytes)",
	    FIX "bad-values.yaml:8: max_concurrent_scrapes: 0 is out of range (1 to 100000)",
	    FIX "bad-values.yaml:9: retention.raw: invalid duration '99999999999999999999s' (use "
	        "e.g. 30s, 5m, 2h)",
	    FIX "bad-values.yaml:9: retention.rollup: invalid duration '1x' (use e.g. 30s, 5m, 2h)",
	    FIX "bad-values.yaml:12: services[0].targets[0]: invalid URL '127.0.0.1:6060': the "
	        "scheme must be "
	        "http:// or https://",
	    FIX
	    "bad-values.yaml:12: services[0].targets[1]: invalid URL 'http://:6060': missing host",
	    FIX "bad-values.yaml:12: services[0].targets[2]: invalid URL 'http://h:99999': invalid "
	        "port",
	    FIX "bad-values.yaml:13: services[0].profile: unknown profile 'heap' (use goroutine or "
	        "goroutineleak)",
	    FIX "bad-values.yaml:14: services[0].path: invalid path 'debug/pprof/goroutine' (must "
	        "start with '/', "
	        "no spaces)",
	    FIX "bad-values.yaml:15: services[0].format: unknown format 'debug=3' (use proto, "
	        "debug=1 or debug=2)",
	    FIX "bad-values.yaml:16: services[0].detail_every: invalid number '-1' (expected a "
	        "non-negative "
	        "integer)",
	    FIX "bad-values.yaml:17: services[0].detail_max_goroutines: invalid number 'lots' "
	        "(expected a "
	        "non-negative integer)",
	    FIX "bad-values.yaml:18: services[0].labels.bad-label: invalid label name (use "
	        "letters, digits and "
	        "'_', not starting with a digit)",
	    FIX "bad-values.yaml:19: services[0].headers.Bad Header: invalid header name",
	    FIX "bad-values.yaml:20: services[0].tls.insecure_skip_verify: invalid boolean 'yes "
	        "please' (use true "
	        "or false)",
	    FIX "bad-values.yaml:21: target_files[0]: empty string",
	    FIX "bad-values.yaml:22: shard.count: 0 is out of range (1 to 65536)",
	    FIX "bad-values.yaml:23: detector.window: duration must be at least 60s",
	    FIX "bad-values.yaml:23: detector.min_scrapes: 1 is out of range (2 to 1000000)",
	    FIX "bad-values.yaml:23: detector.min_count: invalid number '1.5' (expected a "
	        "non-negative integer)",
	    FIX "bad-values.yaml:23: detector.max_label_sets: 33 is out of range (0 to 32)",
	    FIX "bad-values.yaml:24: web.max_connections: 0 is out of range (1 to 100000)",
	    FIX "bad-values.yaml:24: web.request_timeout: duration must be at least 1s",
	    FIX "bad-values.yaml:26: alerting.min_score: 1.5 is out of range (0 to 1)",
	    FIX "bad-values.yaml:27: alerting.min_count: invalid number '-1' (expected a "
	        "non-negative integer)",
	    FIX "bad-values.yaml:28: alerting.for: invalid duration '10 minutes' (use e.g. 30s, "
	        "5m, 2h)",
	    FIX "bad-values.yaml:29: alerting.repeat_interval: duration must be at least 60s",
	    FIX
	    "bad-values.yaml:30: alerting.max_age: invalid duration '1y' (use e.g. 30s, 5m, 2h)",
	    FIX "bad-values.yaml:32: alerting.webhooks[0].url: invalid URL 'mailto:x@example.com': "
	        "the scheme "
	        "must be http:// or https://",
	    FIX "bad-values.yaml:32: alerting.webhooks[0].format: unknown format 'xml' (use json, "
	        "slack or "
	        "alertmanager)",
	    FIX "bad-values.yaml:32: alerting.webhooks[0].timeout: duration must be at least 1s",
	};

	expect_file_errors(FIX "bad-values.yaml", want, N(want));
}
END_TEST

START_TEST(test_errors_keys)
{
	static const char *const want[] = {
	    FIX "bad-keys.yaml:2: scrape_intervall: unknown key",
	    FIX "bad-keys.yaml:6: services[0].scrape_interval: unknown key",
	    FIX "bad-keys.yaml:7: services[0].tls.ca: unknown key",
	    FIX "bad-keys.yaml:8: retention.cooked: unknown key",
	    FIX "bad-keys.yaml:9: detector.ignore[0].line: unknown key",
	    FIX "bad-keys.yaml:10: web.auth.token: unknown key",
	    FIX "bad-keys.yaml:11: alerting.webhooks[0].retries: unknown key",
	    FIX "bad-keys.yaml:12: listen: duplicate key",
	};

	expect_file_errors(FIX "bad-keys.yaml", want, N(want));
}
END_TEST

START_TEST(test_errors_types)
{
	static const char *const want[] = {
	    FIX "bad-types.yaml:1: listen: expected a string, got a list",
	    FIX "bad-types.yaml:2: database: expected a string, got a mapping",
	    FIX "bad-types.yaml:4: services: expected a list, got a mapping",
	    FIX "bad-types.yaml:5: target_files: expected a list, got a scalar",
	    FIX "bad-types.yaml:6: shard: expected a mapping, got a scalar",
	    FIX "bad-types.yaml:7: detector: expected a mapping, got a list",
	    FIX "bad-types.yaml:8: web: expected a mapping, got nothing",
	    FIX "bad-types.yaml:9: alerting.webhooks: expected a list, got a mapping",
	};

	expect_file_errors(FIX "bad-types.yaml", want, N(want));
}
END_TEST

START_TEST(test_errors_rules)
{
	static const char *const want[] = {
	    FIX "bad-rules.yaml:2: scrape_timeout: scrape_timeout (10s) must not exceed "
	        "scrape_interval (5s)",
	    FIX "bad-rules.yaml:3: retention.rollup: rollup (604800s) must not be shorter than raw "
	        "(2592000s)",
	    FIX "bad-rules.yaml:5: services[0]: bearer_token_file and basic_auth are mutually "
	        "exclusive",
	    FIX
	    "bad-rules.yaml:6: services[0].targets[1]: duplicate target 'http://127.0.0.1:6060'",
	    FIX "bad-rules.yaml:9: services[1]: duplicate service name 'payments'",
	    FIX "bad-rules.yaml:11: services[2]: name is required",
	    FIX "bad-rules.yaml:12: services[3]: no targets (give targets, or target_files, "
	        "http_sd or dns_sd for "
	        "discovery)",
	    FIX "bad-rules.yaml:15: services[4].tls: cert_file and key_file go together",
	    FIX "bad-rules.yaml:16: services[4].basic_auth: password_file is required",
	    FIX "bad-rules.yaml:17: shard: index 3 must be less than count 3",
	    FIX "bad-rules.yaml:20: detector.ignore[0]: a rule needs at least one of function, "
	        "any_function, file, "
	        "service",
	    FIX "bad-rules.yaml:22: web.tls: cert_file and key_file are both required",
	    FIX "bad-rules.yaml:23: web.auth.basic_auth: username is required",
	    FIX "bad-rules.yaml:26: alerting.webhooks[0]: url and url_file are mutually exclusive",
	    FIX "bad-rules.yaml:27: alerting.webhooks[1]: duplicate webhook name 'a'",
	    FIX "bad-rules.yaml:28: alerting.webhooks[2]: url or url_file is required",
	};

	expect_file_errors(FIX "bad-rules.yaml", want, N(want));
}
END_TEST

START_TEST(test_errors_files)
{
	static const char *const want[] = {
	    FIX "bad-files.yaml:4: services[0].bearer_token_file: cannot read '" FIX
	        "files/missing.token': "
	        "No such file or directory",
	    FIX "bad-files.yaml:5: services[0].tls.ca_file: cannot read '" FIX
	        "files': not a regular file",
	    FIX "bad-files.yaml:5: services[0].tls.cert_file: cannot read '/nonexistent/c.pem': No "
	        "such file or "
	        "directory",
	    FIX "bad-files.yaml:5: services[0].tls.key_file: cannot read '/nonexistent/c.key': No "
	        "such file or "
	        "directory",
	    FIX "bad-files.yaml:7: web.auth.bearer_token_file: cannot read "
	        "'/nonexistent/web.token': No such file "
	        "or directory",
	    FIX "bad-files.yaml:10: alerting.webhooks[0].url_file: cannot read '" FIX
	        "files/missing.url': No such "
	        "file or directory",
	    FIX "bad-files.yaml:10: alerting.webhooks[0].secret_file: cannot read "
	        "'/nonexistent/hook.key': No such "
	        "file or directory",
	    FIX "bad-files.yaml:11: alerting.webhooks[1]: url_file '" FIX
	        "files/bad.url': invalid URL: contains "
	        "spaces or control characters",
	    FIX "bad-files.yaml:12: alerting.webhooks[2]: url_file '" FIX "files/empty.url': empty",
	};

	expect_file_errors(FIX "bad-files.yaml", want, N(want));
}
END_TEST

START_TEST(test_errors_json)
{
	static const char *const want[] = {
	    FIX "bad-json.json:3: scrape_timeout: invalid duration 'ten seconds' (use e.g. 30s, "
	        "5m, 2h)",
	    FIX "bad-json.json:8: services[0].scrape_interval: unknown key",
	};
	static const char *const want_syntax[] = {
	    FIX "bad-syntax.json:5: syntax error: did not find expected ',' or ']' (while parsing "
	        "a flow sequence "
	        "started at line 3)",
	};

	expect_file_errors(FIX "bad-json.json", want, N(want));
	expect_file_errors(FIX "bad-syntax.json", want_syntax, N(want_syntax));
}
END_TEST

START_TEST(test_errors_syntax_and_file)
{
	static const char *const want_syntax[] = {
	    FIX "bad-syntax.yaml:5: syntax error: did not find expected ',' or ']' (while parsing "
	        "a flow sequence "
	        "started at line 4)",
	};
	static const char *const want_missing[] = {
	    FIX "missing.yaml: cannot open: No such file or directory",
	};
	static const char *const want_dir[] = {
	    FIX ": cannot read: Is a directory",
	};

	expect_file_errors(FIX "bad-syntax.yaml", want_syntax, N(want_syntax));
	expect_file_errors(FIX "missing.yaml", want_missing, N(want_missing));
	expect_file_errors(FIX, want_dir, N(want_dir));
}
END_TEST

START_TEST(test_errors_small)
{
	expect_error("- a\n- b\n",
	             "t.yaml:1: expected a mapping of keys at the top level, got a list");
	expect_error("listen: 127.0.0.1:1\n---\nlisten: 127.0.0.1:2\n",
	             "t.yaml:3: more than one YAML document in the file");
	expect_error("listen: \"127.0.0.1:\\0\"\n", "t.yaml:1: listen: contains a NUL byte");
	expect_error("listen:\n", "t.yaml:1: listen: missing value (expected a string)");
	expect_error("listen: \"::1:8080\"\n", "t.yaml:1: listen: invalid address '::1:8080': IPv6 "
	                                       "addresses need brackets: [addr]:port");
	expect_error("listen: \"[::1]\"\n", "t.yaml:1: listen: invalid address '[::1]': missing "
	                                    "port (use host:port or [addr]:port)");
	expect_error(
	    "listen: \":8080\"\n",
	    "t.yaml:1: listen: invalid address ':8080': missing host (use e.g. 127.0.0.1:8080)");
	expect_error(
	    "listen: \"[]:80\"\n",
	    "t.yaml:1: listen: invalid address '[]:80': bad IPv6 address (use [addr]:port)");
	expect_error("listen: \"h:65536\"\n",
	             "t.yaml:1: listen: invalid address 'h:65536': invalid port");
	expect_error(
	    "listen: \"h :1\"\n",
	    "t.yaml:1: listen: invalid address 'h :1': contains spaces or control characters");
	expect_error("? [a]\n: b\n", "t.yaml:1: keys must be strings, got a list");
	expect_error("scrape_interval: 0\n",
	             "t.yaml:1: scrape_interval: duration must be at least 1s");
	expect_error(
	    "scrape_interval: 5s\nscrape_timeout: 6s\n",
	    "t.yaml:2: scrape_timeout: scrape_timeout (6s) must not exceed scrape_interval (5s)");
	expect_error(
	    "scrape_timeout: 10s\nscrape_interval: 1s\n",
	    "t.yaml:1: scrape_timeout: scrape_timeout (10s) must not exceed scrape_interval "
	    "(1s)");
	expect_error("max_body_bytes: 1KB\n",
	             "t.yaml:1: max_body_bytes: size must be at least 1024 bytes");
	expect_error("max_concurrent_scrapes: \"8\"\n",
	             "t.yaml:1: max_concurrent_scrapes: invalid number '8' (expected a "
	             "non-negative integer)");
	expect_error("max_concurrent_scrapes: 99999999999999999999999\n",
	             "t.yaml:1: max_concurrent_scrapes: invalid number '99999999999999999999999' "
	             "(expected a non-negative "
	             "integer)");
	expect_error("alerting: {min_score: \"0.5\"}\n",
	             "t.yaml:1: alerting.min_score: invalid number '0.5'");
	expect_error("alerting: {min_score: .nan}\n",
	             "t.yaml:1: alerting.min_score: invalid number '.nan'");
	expect_error("alerting: {min_score: -0.1}\n",
	             "t.yaml:1: alerting.min_score: -0.1 is out of range (0 to 1)");
	expect_error(
	    "services: [{name: a, targets: [http://h:1], tls: {insecure_skip_verify: \"true\"}}]\n",
	    "t.yaml:1: services[0].tls.insecure_skip_verify: invalid boolean 'true' (use true or "
	    "false)");
	expect_error("services: [{name: a, targets: [http://h:1], labels: {a: [x]}}]\n",
	             "t.yaml:1: services[0].labels.a: expected a string, got a list");
	expect_error(
	    "services: [{name: a, targets: [http://h:1], headers: {X-A: \"a\\r\\nB: c\"}}]\n",
	    "t.yaml:1: services[0].headers.X-A: value contains a line break or NUL byte");
	expect_error("services: [{name: a, targets: [http://h:1], headers: {X-A: a, x-a: b}}]\n",
	             "t.yaml:1: services[0].headers.x-a: duplicate key");
	expect_error("services: [{name: a, targets: [\"http://[::1\"]}]\n",
	             "t.yaml:1: services[0].targets[0]: invalid URL 'http://[::1': bad IPv6 "
	             "address (use [addr]:port)");
	expect_error("services: [{name: a, targets: [\"http://h:0\"]}]\n",
	             "t.yaml:1: services[0].targets[0]: invalid URL 'http://h:0': invalid port");
	expect_error("services: [{name: a, targets: [\"http://h x\"]}]\n",
	             "t.yaml:1: services[0].targets[0]: invalid URL 'http://h x': contains spaces "
	             "or control characters");
	expect_error("services: [{name: a, targets: [\"http:///x\"]}]\n",
	             "t.yaml:1: services[0].targets[0]: invalid URL 'http:///x': missing host");
	expect_error("services: [{name: \"\", targets: [http://h:1]}]\n",
	             "t.yaml:1: services[0].name: empty string");
	expect_error("services: [{name: \"a\\tb\", targets: [http://h:1]}]\n",
	             "t.yaml:1: services[0].name: name contains control characters");
	expect_error("services: [x]\n", "t.yaml:1: services[0]: expected a mapping, got a scalar");
	expect_error("detector: {ignore: [x]}\n",
	             "t.yaml:1: detector.ignore[0]: expected a mapping, got a scalar");
	expect_error("alerting: {webhooks: [x]}\n",
	             "t.yaml:1: alerting.webhooks[0]: expected a mapping, got a scalar");
	expect_error("alerting: {webhooks: [{name: a, url: \"http://h/\", timeout: 2h}]}\n",
	             "t.yaml:1: alerting.webhooks[0].timeout: duration must be at most 3600s");
	expect_error("target_files: [[a]]\n",
	             "t.yaml:1: target_files[0]: expected a string, got a list");
	expect_error("log_level: [debug]\n", "t.yaml:1: log_level: expected a string, got a list");
	expect_error("shard: {index: 70000}\n",
	             "t.yaml:1: shard.index: 70000 is out of range (0 to 65535)");
	/* A control character in an unknown key is not echoed raw into the terminal. */
	expect_error("\"bad\\ekey\": 1\n", "t.yaml:1: bad?key: unknown key");
}
END_TEST

START_TEST(test_errors_accumulate_and_cap)
{
	struct config_errors errs = {0};
	char *big;
	size_t len = 0, cap = 1100 * 16;

	/* Errors append to what errs already holds. */
	ck_assert_ptr_null(load_str("a: 1\n", &errs));
	ck_assert_ptr_null(load_str("b: 1\n", &errs));
	ck_assert_uint_eq(errs.n, 2);
	ck_assert_str_eq(errs.msgs[1], "t.yaml:1: b: unknown key");
	config_errors_release(&errs);
	ck_assert_uint_eq(errs.n, 0);
	config_errors_release(&errs);

	/* A file of thousands of mistakes gets a bounded list and a count of the rest. */
	big = malloc(cap);
	ck_assert_ptr_nonnull(big);
	for (int i = 0; i < 1100; i++)
		len += (size_t)snprintf(big + len, cap - len, "k%d: 1\n", i);
	ck_assert_ptr_null(config_load_buffer("big.yaml", big, len, &errs));
	ck_assert_uint_eq(errs.n, 1001);
	ck_assert_str_eq(errs.msgs[1000], "big.yaml: too many errors, 100 more not shown");
	config_errors_release(&errs);
	free(big);

	/* Without an error list, a bad config still fails. */
	ck_assert_ptr_null(load_str("a: 1\n", NULL));
}
END_TEST

/* An unwritten scrape_timeout is the smaller of 10 s and the interval (as in Prometheus): a short
 * interval alone is valid; only a written timeout longer than the interval is an error. */
START_TEST(test_scrape_timeout_default)
{
	static const struct {
		const char *text;
		uint64_t interval, timeout;
		bool set;
	} cases[] = {
	    {"scrape_interval: 1s\n", 1, 1, false},
	    {"scrape_interval: 5s\n", 5, 5, false},
	    {"scrape_interval: 10s\n", 10, 10, false},
	    {"scrape_interval: 30s\n", 30, 10, false},
	    {"{\"scrape_interval\": \"2s\"}\n", 2, 2, false},
	    {"scrape_interval: 5s\nscrape_timeout: 5s\n", 5, 5, true},
	    {"scrape_interval: 5s\nscrape_timeout: 2s\n", 5, 2, true},
	    {"scrape_timeout: 30s\n", 60, 30, true},
	    {"listen: 127.0.0.1:1\n", 60, 10, false},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct config *cfg = expect_ok(cases[i].text);

		ck_assert_msg(cfg->scrape_interval == cases[i].interval &&
		                  cfg->scrape_timeout == cases[i].timeout &&
		                  cfg->scrape_timeout_set == cases[i].set,
		              "%s: interval %llu timeout %llu set %d", cases[i].text,
		              (unsigned long long)cfg->scrape_interval,
		              (unsigned long long)cfg->scrape_timeout, cfg->scrape_timeout_set);
		config_unref(cfg);
	}
}
END_TEST

/* `run --interval` goes by the same rule: a defaulted timeout follows the new interval, a written
 * one is only cut to it. */
START_TEST(test_set_scrape_interval)
{
	struct config *cfg = expect_ok("scrape_interval: 5s\n");

	config_set_scrape_interval(cfg, 30);
	ck_assert_uint_eq(cfg->scrape_interval, 30);
	ck_assert_uint_eq(cfg->scrape_timeout, 10);
	config_set_scrape_interval(cfg, 3);
	ck_assert_uint_eq(cfg->scrape_timeout, 3);
	config_unref(cfg);

	cfg = expect_ok("scrape_interval: 60s\nscrape_timeout: 20s\n");
	config_set_scrape_interval(cfg, 120);
	ck_assert_uint_eq(cfg->scrape_timeout, 20);
	config_set_scrape_interval(cfg, 5);
	ck_assert_uint_eq(cfg->scrape_timeout, 5);
	config_unref(cfg);

	cfg = config_default();
	ck_assert_ptr_nonnull(cfg);
	ck_assert(!cfg->scrape_timeout_set);
	config_set_scrape_interval(cfg, 2);
	ck_assert_uint_eq(cfg->scrape_timeout, 2);
	config_set_scrape_interval(cfg, 600);
	ck_assert_uint_eq(cfg->scrape_timeout, 10);
	config_unref(cfg);
}
END_TEST

START_TEST(test_add_target)
{
	struct config_errors errs = {0};
	struct config *cfg = config_default();

	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(config_add_target(cfg, "http://127.0.0.1:6060", &errs), 0);
	ck_assert_int_eq(config_add_target(cfg, "http://127.0.0.1:6061", &errs), 0);
	ck_assert_uint_eq(cfg->nservices, 1);
	ck_assert_str_eq(cfg->services[0].name, "cli");
	ck_assert_str_eq(cfg->services[0].profile, "goroutine");
	ck_assert_str_eq(cfg->services[0].path, "/debug/pprof/goroutine");
	ck_assert_int_eq(cfg->services[0].format, PROFILE_FORMAT_PROTO);
	ck_assert_uint_eq(cfg->services[0].detail_every, 10);
	ck_assert_uint_eq(cfg->services[0].ntargets, 2);
	ck_assert_str_eq(cfg->services[0].targets[1], "http://127.0.0.1:6061");
	ck_assert_uint_eq(errs.n, 0);

	ck_assert_int_eq(config_add_target(cfg, "127.0.0.1:6060", &errs), -1);
	ck_assert_int_eq(config_add_target(cfg, "http://127.0.0.1:6060", &errs), -1);
	ck_assert_uint_eq(errs.n, 2);
	ck_assert_str_eq(
	    errs.msgs[0],
	    "--target: invalid URL '127.0.0.1:6060': the scheme must be http:// or https://");
	ck_assert_str_eq(errs.msgs[1], "--target: duplicate target 'http://127.0.0.1:6060'");
	ck_assert_uint_eq(cfg->services[0].ntargets, 2);
	config_errors_release(&errs);
	config_unref(cfg);

	/* Next to services from a file, "cli" is one more service; a file's own "cli" is extended.
	 */
	cfg = expect_ok(
	    "services: [{name: a, targets: [http://h:1]}, {name: cli, targets: [http://h:2]}]\n");
	ck_assert_int_eq(config_add_target(cfg, "http://h:3", &errs), 0);
	ck_assert_uint_eq(cfg->nservices, 2);
	ck_assert_uint_eq(cfg->services[1].ntargets, 2);
	config_unref(cfg);
	cfg = expect_ok("services: [{name: a, targets: [http://h:1]}]\n");
	ck_assert_int_eq(config_add_target(cfg, "http://h:1", &errs), 0);
	ck_assert_uint_eq(cfg->nservices, 2);
	ck_assert_str_eq(cfg->services[1].name, "cli");
	config_unref(cfg);
}
END_TEST

START_TEST(test_example_config)
{
	/* The commented example shipped in deploy/ loads, and spells out the defaults. */
	struct config_errors errs = {0};
	struct config *cfg = config_load("../deploy/leakprofd.yaml", &errs);

	if (cfg == NULL)
		dump_errors(&errs);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_str_eq(cfg->database, "/var/lib/leakprofd/leakprofd.db");
	ck_assert_str_eq(cfg->listen, "127.0.0.1:8080");
	ck_assert_uint_eq(cfg->scrape_interval, 60);
	ck_assert_uint_eq(cfg->max_body_bytes, 64u << 20);
	ck_assert(cfg->alerting.min_score == 0.8);
	ck_assert_uint_eq(cfg->detector.window_memory, 512u << 20);
	config_unref(cfg);
}
END_TEST

/* What config_log_restart_changes(old, next) logs: stderr is pointed at a temporary file meanwhile.
 * The text is in a static buffer. */
static const char *
restart_changes(const struct config *old, const struct config *next)
{
	static char text[4096];
	char path[] = "/tmp/check_config.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(unlink(path), 0);
	fflush(stderr);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	config_log_restart_changes(old, next);
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	n = pread(fd, text, sizeof(text) - 1, 0);
	ck_assert_int_ge(n, 0);
	text[n] = '\0';
	close(fd);
	return text;
}

static size_t
count_lines(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++)
		n += *text == '\n';
	return n;
}

/* Whether 'text' holds the restart message for 'key'. */
static bool
names_key(const char *text, const char *key)
{
	char want[200];

	snprintf(want, sizeof(want), "config: %s changed: takes effect after restart\n", key);
	return strstr(text, want) != NULL;
}

/* ingest.buffer_scrapes and ingest.buffer_duration: read, bounded with errors naming the key and
 * the range, and reloadable (no restart message). */
START_TEST(test_ingest_buffer)
{
	struct config *cfg, *old;

	cfg = expect_ok("ingest:\n  buffer_scrapes: 20000\n  buffer_duration: 30m\n");
	ck_assert_uint_eq(cfg->ingest.buffer_scrapes, 20000);
	ck_assert_uint_eq(cfg->ingest.buffer_duration, 1800);
	old = expect_ok("scrape_interval: 60s\n");
	ck_assert_str_eq(restart_changes(old, cfg), "");
	config_unref(old);
	config_unref(cfg);
	cfg = expect_ok("ingest: {buffer_duration: 10s}\n");
	ck_assert_uint_eq(cfg->ingest.buffer_scrapes, CONFIG_INGEST_BUFFER_SCRAPES_DEFAULT);
	ck_assert_uint_eq(cfg->ingest.buffer_duration, 10);
	config_unref(cfg);

	expect_error("ingest:\n  buffer_scrapes: 8\n",
	             "t.yaml:2: ingest.buffer_scrapes: 8 is out of range (16 to 1000000)");
	expect_error("ingest:\n  buffer_scrapes: 1000001\n",
	             "t.yaml:2: ingest.buffer_scrapes: 1000001 is out of range (16 to 1000000)");
	expect_error("ingest:\n  buffer_scrapes: lots\n",
	             "t.yaml:2: ingest.buffer_scrapes: invalid number 'lots' (expected a "
	             "non-negative integer)");
	expect_error("ingest:\n  buffer_duration: 5s\n",
	             "t.yaml:2: ingest.buffer_duration: duration must be at least 10s");
	expect_error("ingest:\n  buffer_duration: 2d\n",
	             "t.yaml:2: ingest.buffer_duration: duration must be at most 86400s");
	expect_error("ingest:\n  buffer_duration: soon\n",
	             "t.yaml:2: ingest.buffer_duration: invalid duration 'soon' (use e.g. 30s, "
	             "5m, 2h)");
	expect_error("ingest:\n  buffer_bytes: 1\n", "t.yaml:2: ingest.buffer_bytes: unknown key");
}
END_TEST

START_TEST(test_restart_changes)
{
	static const char *const keys[] = {"database",
	                                   "max_concurrent_scrapes",
	                                   "web.max_connections",
	                                   "web.request_timeout",
	                                   "web.tls.cert_file",
	                                   "web.tls.key_file"};
	struct config *old, *next;
	const char *text;

	/* A restart key and a reloadable key changed: one message, naming the restart key. */
	old = expect_ok("listen: 127.0.0.1:8080\nscrape_interval: 60s\n");
	next = expect_ok("listen: 127.0.0.1:9090\nscrape_interval: 30s\n");
	text = restart_changes(old, next);
	ck_assert_msg(count_lines(text) == 1 && names_key(text, "listen"), "got: %s", text);
	config_unref(next);

	/* Nothing changed, or only reloadable keys (the restart keys spelled out at their
	 * defaults). */
	ck_assert_str_eq(restart_changes(old, old), "");
	next = expect_ok("listen: 127.0.0.1:8080\nmax_concurrent_scrapes: 64\nlog_level: debug\n"
	                 "detector: {window: 1h}\nalerting: {min_score: 0.5}\n"
	                 "services: [{name: a, targets: [http://h:1]}]\n"
	                 "web: {max_connections: 64, auth: {bearer_token_file: " FIX
	                 "files/payments.token}}\n");
	ck_assert_str_eq(restart_changes(old, next), "");
	config_unref(next);

	/* Every restart key, nested ones by their full name; a section marked as a whole (web.tls)
	 * names each of its keys. */
	next =
	    expect_ok("database: /tmp/other.db\nmax_concurrent_scrapes: 8\n"
	              "web:\n  max_connections: 10\n  request_timeout: 5s\n"
	              "  tls: {cert_file: " FIX "files/web.pem, key_file: " FIX "files/web.key}\n");
	ck_assert_str_eq(next->listen, old->listen);
	text = restart_changes(old, next);
	ck_assert_msg(count_lines(text) == N(keys), "got: %s", text);
	for (size_t i = 0; i < N(keys); i++)
		ck_assert_msg(names_key(text, keys[i]), "%s not named in: %s", keys[i], text);
	config_unref(next);
	config_unref(old);
}
END_TEST

/* A temporary file of 'len' bytes of 'c'; its path in 'path' (PATH_MAX). */
static void
make_file(char *path, size_t len, char c)
{
	char chunk[4096];
	FILE *f;
	int fd;

	snprintf(path, 64, "/tmp/check_config.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	memset(chunk, c, sizeof(chunk));
	for (size_t done = 0; done < len; done += sizeof(chunk))
		ck_assert_uint_eq(
		    fwrite(chunk, 1, len - done < sizeof(chunk) ? len - done : sizeof(chunk), f),
		    len - done < sizeof(chunk) ? len - done : sizeof(chunk));
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_errors_limits)
{
	struct config_errors errs = {0};
	char path[64], text[512], want[512], name[200];

	/* A config file over 16 MiB is refused unread. */
	make_file(path, (16u << 20) + 1, ' ');
	ck_assert_ptr_null(config_load(path, &errs));
	ck_assert_uint_eq(errs.n, 1);
	snprintf(want, sizeof(want), "%s: larger than 16777216 bytes", path);
	ck_assert_str_eq(errs.msgs[0], want);
	config_errors_release(&errs);
	unlink(path);

	/* url_file is read as any secret file (base/secret.h): over 64 KiB, or with a NUL byte, it
	 * is refused without echoing it. */
	make_file(path, 65537, 'a');
	snprintf(text, sizeof(text), "alerting:\n  webhooks:\n    - {name: a, url_file: %s}\n",
	         path);
	snprintf(want, sizeof(want),
	         "t.yaml:3: alerting.webhooks[0]: url_file '%s': larger than 65536 bytes", path);
	expect_error(text, want);
	unlink(path);
	expect_error("alerting:\n  webhooks:\n    - {name: a, url_file: " FIX "files/nul.url}\n",
	             "t.yaml:3: alerting.webhooks[0]: url_file '" FIX
	             "files/nul.url': contains a NUL byte");

	/* Names are bounded. */
	memset(name, 'n', 129);
	name[129] = '\0';
	snprintf(text, sizeof(text), "services: [{name: %s, targets: [http://h:1]}]\n", name);
	expect_error(text, "t.yaml:1: services[0].name: name longer than 128 bytes");
	name[128] = '\0';
	snprintf(text, sizeof(text), "services: [{name: %s, targets: [http://h:1]}]\n", name);
	config_unref(expect_ok(text));
}
END_TEST

START_TEST(test_errors_syntax_forms)
{
	/* Bytes that are not UTF-8: the line is counted up to the offset libyaml reports. */
	expect_error("listen: 127.0.0.1:1\ndatabase: \"\xff\"\n",
	             "t.yaml:2: syntax error: invalid leading UTF-8 octet (byte 31)");
	expect_error("a: b: c\n",
	             "t.yaml:1: syntax error: mapping values are not allowed in this context");
	expect_error("listen: [\n",
	             "t.yaml:2: syntax error: did not find expected node content (while parsing a "
	             "flow node)");
	expect_error("a:\n  - b\n c: 1\n",
	             "t.yaml:3: syntax error: did not find expected key (while parsing a "
	             "block mapping started at line 1)");
}
END_TEST

START_TEST(test_nesting_limit)
{
	char buf[256];
	int n;

	/* Deep flow nesting is refused before libyaml, whose scanner is quadratic in it. */
	n = snprintf(
	    buf, sizeof(buf), "listen: 127.0.0.1:1\nx: %.*s\n", 65,
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
	ck_assert_int_gt(n, 0);
	expect_error(buf, "t.yaml:2: lists and mappings nested more than 64 deep");
	/* Brackets in quoted strings and comments do not count. */
	n = snprintf(
	    buf, sizeof(buf), "services: [{name: \"%.*s\", targets: ['http://h:1']}] # %.*s\n", 70,
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", 70,
	    "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{");
	ck_assert_int_gt(n, 0);
	config_unref(expect_ok(buf));
}
END_TEST

/* source: the URL template, strip_prefix and version_label; without it no links. A template with
 * an unknown placeholder, another scheme, no {path}, or {version} without version_label is refused
 * at load time, naming the key. */
START_TEST(test_source_key)
{
	struct config *cfg;
	const struct config_service *s;

	cfg = expect_ok("services:\n"
	                "  - {name: a, targets: [\"http://h:1\"]}\n"
	                "  - name: b\n"
	                "    targets: [\"http://h:2\"]\n"
	                "    source:\n"
	                "      url: \"https://git.example/pay/blob/{version}/{path}#L{line}\"\n"
	                "      strip_prefix: /build/\n"
	                "      version_label: version\n"
	                "  - {name: c, targets: [\"http://h:3\"], "
	                "source: {url: \"http://code.example/{path}?l={line}\"}}\n");
	s = cfg->services;
	ck_assert_ptr_null(s[0].source.url);
	ck_assert_ptr_null(s[0].source.strip_prefix);
	ck_assert_ptr_null(s[0].source.version_label);
	ck_assert_str_eq(s[1].source.url, "https://git.example/pay/blob/{version}/{path}#L{line}");
	ck_assert_str_eq(s[1].source.strip_prefix, "/build/");
	ck_assert_str_eq(s[1].source.version_label, "version");
	ck_assert_str_eq(s[2].source.url, "http://code.example/{path}?l={line}");
	ck_assert_ptr_null(s[2].source.version_label);
	config_unref(cfg);
	expect_error(
	    "services: [{name: a, targets: [\"http://h:1\"], "
	    "source: {url: \"https://g.example/{commit}/{path}\"}}]\n",
	    "t.yaml:1: services[0].source.url: unknown placeholder '{commit}' (use {path}, "
	    "{line} and {version})");
	expect_error("services: [{name: a, targets: [\"http://h:1\"], "
	             "source: {url: \"https://g.example/{path}#L{line\"}}]\n",
	             "t.yaml:1: services[0].source.url: '{' without a placeholder at byte 26 (use "
	             "{path}, {line} and {version})");
	expect_error("services: [{name: a, targets: [\"http://h:1\"], "
	             "source: {url: \"ftp://g.example/{path}\"}}]\n",
	             "t.yaml:1: services[0].source.url: not an http:// or https:// URL: the scheme "
	             "must be http:// or https://");
	expect_error("services: [{name: a, targets: [\"http://h:1\"], "
	             "source: {url: \"javascript:alert(1)//{path}\"}}]\n",
	             "t.yaml:1: services[0].source.url: not an http:// or https:// URL: the scheme "
	             "must be http:// or https://");
	expect_error("services: [{name: a, targets: [\"http://h:1\"], "
	             "source: {url: \"https://g.example/main/x.go\"}}]\n",
	             "t.yaml:1: services[0].source.url: the template needs {path}");
	expect_error("services: [{name: a, targets: [\"http://h:1\"], "
	             "source: {url: \"https://g.example/{version}/{path}\"}}]\n",
	             "t.yaml:1: services[0].source.url: {version} needs version_label (the target "
	             "label naming the running version: the profiles do not show it)");
	expect_error("services: [{name: a, targets: [\"http://h:1\"], "
	             "source: {url: \"https://g.example/{path}\", version_label: 1v}}]\n",
	             "t.yaml:1: services[0].source.version_label: invalid label name (use letters, "
	             "digits and '_', not starting with a digit)");
	expect_error(
	    "services: [{name: a, targets: [\"http://h:1\"], source: {strip_prefix: /b/}}]\n",
	    "t.yaml:1: services[0].source: url is required");
	expect_error("services: [{name: a, targets: [\"http://h:1\"], "
	             "source: {url: \"https://g.example/{path}\", branch: main}}]\n",
	             "t.yaml:1: services[0].source.branch: unknown key");
}
END_TEST

/* leak_profile: on by default at its default interval; enabled, interval (at least a minute) and
 * path; a bad value names the key. */
START_TEST(test_leak_profile_key)
{
	struct config *cfg;
	const struct config_service *s;

	cfg = expect_ok("services:\n"
	                "  - {name: a, targets: [\"http://h:1\"]}\n"
	                "  - {name: b, targets: [\"http://h:2\"], leak_profile: {interval: 2h}}\n"
	                "  - {name: c, targets: [\"http://h:3\"], leak_profile: {enabled: false}}\n"
	                "  - name: d\n"
	                "    targets: [\"http://h:4\"]\n"
	                "    leak_profile:\n"
	                "      interval: 1m\n"
	                "      path: /internal/pprof/goroutineleak\n");
	s = cfg->services;
	ck_assert(s[0].leak_profile.enabled);
	ck_assert_uint_eq(s[0].leak_profile.interval, CONFIG_LEAK_INTERVAL_DEFAULT);
	ck_assert_ptr_null(s[0].leak_profile.path);
	ck_assert(s[1].leak_profile.enabled);
	ck_assert_uint_eq(s[1].leak_profile.interval, 7200);
	ck_assert(!s[2].leak_profile.enabled);
	ck_assert_uint_eq(s[2].leak_profile.interval, CONFIG_LEAK_INTERVAL_DEFAULT);
	ck_assert_uint_eq(s[3].leak_profile.interval, 60);
	ck_assert_str_eq(s[3].leak_profile.path, "/internal/pprof/goroutineleak");
	config_unref(cfg);
	expect_error("services: [{name: a, targets: [\"http://h:1\"], "
	             "leak_profile: {interval: 30s}}]\n",
	             "t.yaml:1: services[0].leak_profile.interval: duration must be at least 60s");
	expect_error("services: [{name: a, targets: [\"http://h:1\"], "
	             "leak_profile: {interval: often}}]\n",
	             "t.yaml:1: services[0].leak_profile.interval: invalid duration 'often' (use "
	             "e.g. 30s, 5m, 2h)");
	expect_error("services: [{name: a, targets: [\"http://h:1\"], "
	             "leak_profile: {enabled: maybe}}]\n",
	             "t.yaml:1: services[0].leak_profile.enabled: invalid boolean 'maybe' (use "
	             "true or false)");
	expect_error("services: [{name: a, targets: [\"http://h:1\"], "
	             "leak_profile: {path: leak}}]\n",
	             "t.yaml:1: services[0].leak_profile.path: invalid path 'leak' (must start "
	             "with '/', no spaces)");
	expect_error("services: [{name: a, targets: [\"http://h:1\"], leak_profile: 1h}]\n",
	             "t.yaml:1: services[0].leak_profile: expected a mapping, got a scalar");
}
END_TEST

/* shard_by: service (the default) or target; anything else names the choices. */
START_TEST(test_shard_by)
{
	struct config *cfg =
	    expect_ok("shard: {index: 1, count: 4}\n"
	              "services:\n"
	              "  - {name: a, targets: [\"http://h:1\"]}\n"
	              "  - {name: b, targets: [\"http://h:2\"], shard_by: service}\n"
	              "  - {name: c, targets: [\"http://h:3\"], shard_by: target}\n");

	ck_assert_uint_eq(cfg->services[0].shard_by, CONFIG_SHARD_BY_SERVICE);
	ck_assert_uint_eq(cfg->services[1].shard_by, CONFIG_SHARD_BY_SERVICE);
	ck_assert_uint_eq(cfg->services[2].shard_by, CONFIG_SHARD_BY_TARGET);
	config_unref(cfg);
	expect_error("services:\n  - name: a\n    targets: [\"http://h:1\"]\n    shard_by: url\n",
	             "t.yaml:4: services[0].shard_by: unknown value 'url' (use service or target)");
	expect_error("services: [{name: a, targets: [\"http://h:1\"], shard_by: [target]}]\n",
	             "t.yaml:1: services[0].shard_by: expected a string, got a list");
}
END_TEST

/* http_sd and dns_sd: every key, the defaults, and each rule's message with its line. */
START_TEST(test_discovery_keys)
{
	struct config *cfg;
	const struct config_http_sd *h;
	const struct config_dns_sd *d;

	cfg = expect_ok("http_sd:\n"
	                "  - url: http://inventory:8080/sd\n"
	                "  - url: https://inventory:8443/sd\n"
	                "    refresh_interval: 5s\n"
	                "    headers: {X-Team: pay}\n"
	                "    tls: {insecure_skip_verify: true}\n"
	                "dns_sd:\n"
	                "  - names: [_pprof._tcp.example.com, _pprof._tcp.other.example.]\n"
	                "    service: payments\n"
	                "    server: 127.0.0.1:5353\n"
	                "    labels: {team: pay}\n"
	                "  - names: [search.example.com]\n"
	                "    type: AAAA\n"
	                "    port: 6060\n"
	                "    refresh_interval: 1m\n"
	                "    service: search\n"
	                "    scheme: https\n"
	                "services:\n"
	                "  - {name: payments, shard_by: target}\n");
	ck_assert_uint_eq(cfg->nhttp_sd, 2);
	h = &cfg->http_sd[0];
	ck_assert_str_eq(h->url, "http://inventory:8080/sd");
	ck_assert_uint_eq(h->refresh_interval, 60);
	ck_assert_uint_eq(h->timeout, 10);
	h = &cfg->http_sd[1];
	ck_assert_uint_eq(h->refresh_interval, 5);
	ck_assert_uint_eq(h->timeout, 5); /* the shorter of 10s and the interval */
	ck_assert_uint_eq(h->nheaders, 1);
	ck_assert(h->tls.insecure_skip_verify);
	ck_assert_uint_eq(cfg->ndns_sd, 2);
	d = &cfg->dns_sd[0];
	ck_assert_uint_eq(d->nnames, 2);
	ck_assert_str_eq(d->names[1], "_pprof._tcp.other.example.");
	ck_assert_uint_eq(d->type, CONFIG_DNS_SRV);
	ck_assert_uint_eq(d->port, 0);
	ck_assert_uint_eq(d->refresh_interval, 30);
	ck_assert_str_eq(d->server, "127.0.0.1:5353");
	ck_assert_uint_eq(d->server_addr, htonl(0x7f000001));
	ck_assert_uint_eq(d->server_port, 5353);
	ck_assert_str_eq(d->service, "payments");
	ck_assert_uint_eq(d->scheme, CONFIG_SCHEME_HTTP);
	ck_assert_uint_eq(d->nlabels, 1);
	d = &cfg->dns_sd[1];
	ck_assert_uint_eq(d->type, CONFIG_DNS_AAAA);
	ck_assert_uint_eq(d->port, 6060);
	ck_assert_uint_eq(d->refresh_interval, 60);
	ck_assert_ptr_null(d->server);
	ck_assert_uint_eq(d->scheme, CONFIG_SCHEME_HTTPS);
	config_unref(cfg);
	cfg = expect_ok("dns_sd: [{names: [a.example], type: A, port: 80, service: a, "
	                "server: 10.0.0.1}]\n");
	ck_assert_uint_eq(cfg->dns_sd[0].server_port, 53);
	config_unref(cfg);

	expect_error("http_sd: [{refresh_interval: 5s}]\n",
	             "t.yaml:1: http_sd[0]: url is required");
	expect_error("http_sd: [{url: ftp://h/sd}]\n",
	             "t.yaml:1: http_sd[0].url: invalid URL 'ftp://h/sd': the scheme must be "
	             "http:// or https://");
	expect_error("http_sd:\n  - url: http://h/sd\n    refresh_interval: 5s\n    timeout: 6s\n",
	             "t.yaml:4: http_sd[0]: timeout (6s) must not exceed refresh_interval (5s)");
	expect_error("http_sd: [{url: http://h/sd, colour: red}]\n",
	             "t.yaml:1: http_sd[0].colour: unknown key");
	expect_error("http_sd: {url: http://h/sd}\n",
	             "t.yaml:1: http_sd: expected a list, got a mapping");
	expect_error("dns_sd: [{service: a}]\n",
	             "t.yaml:1: dns_sd[0]: names: at least one name is required");
	expect_error("dns_sd: [{names: [], service: a}]\n",
	             "t.yaml:1: dns_sd[0]: names: at least one name is required");
	expect_error("dns_sd:\n  - names: [\"a b.example\"]\n    service: a\n",
	             "t.yaml:2: dns_sd[0].names: invalid DNS name 'a b.example'");
	expect_error("dns_sd: [{names: [a..example], service: a}]\n",
	             "t.yaml:1: dns_sd[0].names: invalid DNS name 'a..example'");
	expect_error("dns_sd: [{names: [_x._tcp.example]}]\n",
	             "t.yaml:1: dns_sd[0]: service is required");
	expect_error(
	    "dns_sd:\n  - names: [_x._tcp.example]\n    service: a\n    port: 80\n",
	    "t.yaml:4: dns_sd[0]: port: only for type A or AAAA (SRV records carry the port)");
	expect_error("dns_sd: [{names: [x.example], type: A, service: a}]\n",
	             "t.yaml:1: dns_sd[0]: port is required for type A");
	expect_error("dns_sd: [{names: [x.example], type: MX, service: a}]\n",
	             "t.yaml:1: dns_sd[0].type: unknown value 'MX' (use SRV, A or AAAA)");
	expect_error("dns_sd: [{names: [x.example], type: A, port: 0, service: a}]\n",
	             "t.yaml:1: dns_sd[0].port: 0 is out of range (1 to 65535)");
	expect_error(
	    "dns_sd: [{names: [_x._tcp.example], service: a, server: dns.example}]\n",
	    "t.yaml:1: dns_sd[0].server: invalid server 'dns.example' (use an IPv4 address, "
	    "with :port if not 53)");
	expect_error(
	    "dns_sd: [{names: [_x._tcp.example], service: a, server: \"127.0.0.1:0\"}]\n",
	    "t.yaml:1: dns_sd[0].server: invalid server '127.0.0.1:0' (use an IPv4 address, "
	    "with :port if not 53)");
	expect_error(
	    "dns_sd: [{names: [_x._tcp.example], service: a, labels: {service: b}}]\n",
	    "t.yaml:1: dns_sd[0].labels: label 'service' is reserved (the service is the key "
	    "'service')");
	expect_error("dns_sd: [{names: [_x._tcp.example], service: a, scheme: ftp}]\n",
	             "t.yaml:1: dns_sd[0].scheme: unknown value 'ftp' (use http or https)");
	/* A service may leave its targets to discovery. */
	config_unref(expect_ok("http_sd: [{url: http://h/sd}]\nservices: [{name: a}]\n"));
	config_unref(expect_ok("dns_sd: [{names: [_x._tcp.example], service: a}]\n"
	                       "services: [{name: a}]\n"));
	expect_error("services: [{name: a}]\n",
	             "t.yaml:1: services[0]: no targets (give targets, or target_files, http_sd or "
	             "dns_sd for discovery)");
}
END_TEST

Suite *config_suite(void);

Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, test_default);
	tcase_add_test(tc, test_empty_file_has_file_defaults);
	tcase_add_test(tc, test_full_yaml);
	tcase_add_test(tc, test_full_json);
	tcase_add_test(tc, test_minimal_service_defaults);
	tcase_add_test(tc, test_values_accepted);
	tcase_add_test(tc, test_json_compact_and_tabs);
	tcase_add_test(tc, test_errors_values);
	tcase_add_test(tc, test_errors_keys);
	tcase_add_test(tc, test_errors_types);
	tcase_add_test(tc, test_errors_rules);
	tcase_add_test(tc, test_errors_files);
	tcase_add_test(tc, test_errors_json);
	tcase_add_test(tc, test_errors_syntax_and_file);
	tcase_add_test(tc, test_errors_small);
	tcase_add_test(tc, test_errors_accumulate_and_cap);
	tcase_add_test(tc, test_nesting_limit);
	tcase_add_test(tc, test_errors_limits);
	tcase_add_test(tc, test_errors_syntax_forms);
	tcase_add_test(tc, test_scrape_timeout_default);
	tcase_add_test(tc, test_set_scrape_interval);
	tcase_add_test(tc, test_add_target);
	tcase_add_test(tc, test_example_config);
	tcase_add_test(tc, test_restart_changes);
	tcase_add_test(tc, test_ingest_buffer);
	tcase_add_test(tc, test_window_within_retention);
	tcase_add_test(tc, test_shard_by);
	tcase_add_test(tc, test_leak_profile_key);
	tcase_add_test(tc, test_source_key);
	tcase_add_test(tc, test_discovery_keys);
	suite_add_tcase(s, tc);
	return s;
}
