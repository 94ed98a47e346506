/* tests/check_targetset.c: the daemon's target registry and the mapping from a configuration plus
 * file_sd target files to scrape targets: each service's settings (URLs, formats, detail scrapes,
 * headers, auth with real secret files, TLS), file_sd targets with and without a configured
 * service, shards, repeats, reload diffs (what is added, kept, removed and re-registered between
 * two configurations) and scrape rounds. Configurations are loaded from YAML text, target files are
 * real files in a temporary directory. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "base/config.h"
#include "collector/targets.h"
#include "daemon/targetset.h"

static char tmpdir[64];

static void
setup(void)
{
	testutil_mkdtemp(tmpdir, sizeof(tmpdir), "check_targetset");
}

static void
teardown(void)
{
	testutil_rmtree(tmpdir);
}

/* Write 'content' to tmpdir/name; the path goes to 'path' (PATH_MAX-ish buffer). */
static void
write_file(const char *name, const char *content, char *path, size_t pathlen)
{
	testutil_write(tmpdir, name, content, strlen(content), path, pathlen);
}

/* A configuration from YAML text; the test fails with the loader's messages when it is invalid. */
static struct config *
load(const char *yaml)
{
	struct config_errors errs = {0};
	struct config *cfg = config_load_buffer("test.yaml", yaml, strlen(yaml), &errs);

	ck_assert_msg(cfg != NULL, "config: %s", errs.n ? errs.msgs[0] : "?");
	config_errors_release(&errs);
	return cfg;
}

/* The target of 'p' with this profile URL, or NULL. */
static const struct scrape_target *
find(const struct targetset_plan *p, const char *url, size_t *index)
{
	size_t n;
	const struct scrape_target *t = targetset_plan_targets(p, &n);

	for (size_t i = 0; i < n; i++) {
		if (strcmp(t[i].url, url) == 0) {
			if (index)
				*index = i;
			return &t[i];
		}
	}
	return NULL;
}

static bool
has_id(const int64_t *ids, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Build and apply 'cfg' (and 'sd'); the diff goes to 'diff'. */
static void
apply(struct targetset *ts, const struct config *cfg, const struct targets_sd *sd,
      struct targetset_diff *diff)
{
	struct targetset_plan *p = targetset_build(ts, cfg, sd);

	ck_assert_ptr_nonnull(p);
	targetset_apply(ts, p, diff);
	targetset_plan_free(p);
}

/* The registry id of (service, base URL) as 'ts' applied it, or 0. */
static int64_t
id_of(const struct targetset *ts, const char *service, const char *base_url)
{
	struct targetset_target t;

	for (int64_t id = 1; id <= targetset_max_id(ts); id++)
		if (targetset_get(ts, id, &t) && strcmp(t.service, service) == 0 &&
		    strcmp(t.base_url, base_url) == 0)
			return id;
	return 0;
}

START_TEST(test_services)
{
	struct config *cfg = load("scrape_interval: 30s\n"
	                          "scrape_timeout: 5s\n"
	                          "max_body_bytes: 1MiB\n"
	                          "services:\n"
	                          "  - name: api\n"
	                          "    targets: ['http://10.0.0.1:6060', 'http://10.0.0.2:6060/']\n"
	                          "    format: debug=1\n"
	                          "    detail_every: 5\n"
	                          "    detail_max_goroutines: 500\n"
	                          "    labels: {team: core, env: prod}\n"
	                          "    headers: {X-Scope: api}\n"
	                          "  - name: jobs\n"
	                          "    targets: ['https://jobs.internal:8443']\n"
	                          "    path: /prefix/debug/pprof/goroutine\n"
	                          "    format: debug=2\n"
	                          "  - name: batch\n"
	                          "    targets: ['http://10.0.0.9:6060']\n"
	                          "    detail_every: 0\n");
	struct targetset *ts = targetset_new();
	struct targetset_plan *p = targetset_build(ts, cfg, NULL);
	const struct scrape_target *t;
	size_t n, i;

	ck_assert_ptr_nonnull(p);
	targetset_plan_targets(p, &n);
	ck_assert_uint_eq(n, 4);

	t = find(p, "http://10.0.0.1:6060/debug/pprof/goroutine?debug=1", &i);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->service, "api");
	ck_assert_int_eq(t->format, PROFILE_FORMAT_DEBUG1);
	ck_assert_str_eq(t->detail_url, "http://10.0.0.1:6060/debug/pprof/goroutine?debug=2");
	ck_assert_uint_eq(t->detail_every, 5);
	ck_assert_uint_eq(t->detail_max_goroutines, 500);
	ck_assert_uint_eq(t->interval_ms, 30000);
	ck_assert_uint_eq(t->timeout_ms, 5000);
	ck_assert_uint_eq(t->detail_timeout_ms, 15000); /* debug=2 gets three timeouts */
	ck_assert_uint_eq(t->max_body_bytes, 1 << 20);
	ck_assert_uint_eq(t->nheaders, 1);
	ck_assert_str_eq(t->headers[0].name, "X-Scope");
	ck_assert_str_eq(t->headers[0].value, "api");
	ck_assert_ptr_null(t->bearer_token);
	ck_assert_ptr_null(t->basic_user);
	ck_assert_str_eq(targetset_plan_labels(p, i), "{\"team\":\"core\",\"env\":\"prod\"}");
	/* a base URL with the path "/" gets the profile path too */
	ck_assert_ptr_nonnull(find(p, "http://10.0.0.2:6060/debug/pprof/goroutine?debug=1", NULL));

	/* debug=2 is its own detail: no second URL */
	t = find(p, "https://jobs.internal:8443/prefix/debug/pprof/goroutine?debug=2", &i);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->format, PROFILE_FORMAT_DEBUG2);
	ck_assert_ptr_null(t->detail_url);
	ck_assert_uint_eq(t->detail_every, 0);
	ck_assert_str_eq(targetset_plan_labels(p, i), "{}");

	/* the defaults: proto, a detail scrape every 10th, none when detail_every is 0 */
	t = find(p, "http://10.0.0.9:6060/debug/pprof/goroutine?debug=0", NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->format, PROFILE_FORMAT_PROTO);
	ck_assert_ptr_null(t->detail_url);

	/* building assigns registry ids, in order, but applies nothing */
	t = targetset_plan_targets(p, &n);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(t[i].id, (int64_t)i + 1);
	ck_assert_uint_eq(targetset_count(ts), 0);

	targetset_plan_free(p);
	targetset_free(ts);
	config_unref(cfg);
}
END_TEST

START_TEST(test_auth)
{
	char token[300], password[300], ca[300], yaml[2048];
	struct config *cfg;
	struct targetset *ts = targetset_new();
	struct targetset_plan *p;
	const struct scrape_target *t;

	write_file("token", "s3cr3t-token\n", token, sizeof(token));
	write_file("password", "hunter2\r\n", password, sizeof(password));
	write_file("ca.pem", "not really a certificate\n", ca, sizeof(ca));
	snprintf(yaml, sizeof(yaml),
	         "services:\n"
	         "  - name: bearer\n"
	         "    targets: ['https://10.0.0.1:6060']\n"
	         "    bearer_token_file: %s\n"
	         "    tls: {ca_file: %s, insecure_skip_verify: true}\n"
	         "  - name: basic\n"
	         "    targets: ['http://10.0.0.2:6060']\n"
	         "    basic_auth: {username: scraper, password_file: %s}\n",
	         token, ca, password);
	cfg = load(yaml);
	p = targetset_build(ts, cfg, NULL);
	ck_assert_ptr_nonnull(p);

	/* the secrets themselves, without the newline the editor left */
	t = find(p, "https://10.0.0.1:6060/debug/pprof/goroutine?debug=0", NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->bearer_token, "s3cr3t-token");
	ck_assert_str_eq(t->tls_ca_file, ca);
	ck_assert(t->tls_insecure);
	t = find(p, "http://10.0.0.2:6060/debug/pprof/goroutine?debug=0", NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->basic_user, "scraper");
	ck_assert_str_eq(t->basic_password, "hunter2");
	ck_assert_ptr_null(t->bearer_token);
	ck_assert_ptr_null(t->tls_ca_file);
	targetset_plan_free(p);

	/* a secret file gone since the configuration was loaded: no plan at all */
	ck_assert_int_eq(unlink(token), 0);
	ck_assert_ptr_null(targetset_build(ts, cfg, NULL));
	/* an empty one neither */
	write_file("token", "\n", token, sizeof(token));
	ck_assert_ptr_null(targetset_build(ts, cfg, NULL));

	targetset_free(ts);
	config_unref(cfg);
}
END_TEST

START_TEST(test_file_sd)
{
	char sdfile[300], yaml[1024];
	const char *globs[1];
	struct targets_errors errs = {0};
	struct targets_sd *sd;
	struct config *cfg;
	struct targetset *ts = targetset_new();
	struct targetset_plan *p;
	const struct scrape_target *t;
	bool changed;
	size_t n, i;

	write_file(
	    "fleet.json",
	    "[{\"targets\": [\"10.1.0.1:6060\", \"10.1.0.2:6060\"],\n"
	    "  \"labels\": {\"service\": \"api\", \"zone\": \"a\", \"__meta_x\": \"dropped\"}},\n"
	    " {\"targets\": [\"10.1.0.3:6060\"],\n"
	    "  \"labels\": {\"job\": \"other\", \"__scheme__\": \"https\"}},\n"
	    " {\"targets\": [\"10.0.0.1:6060\"], \"labels\": {\"service\": \"api\"}}]\n",
	    sdfile, sizeof(sdfile));
	snprintf(yaml, sizeof(yaml),
	         "target_files: ['%s/*.json']\n"
	         "services:\n"
	         "  - name: api\n"
	         "    targets: ['http://10.0.0.1:6060']\n"
	         "    format: debug=1\n"
	         "    labels: {team: core, zone: default}\n",
	         tmpdir);
	cfg = load(yaml);
	globs[0] = cfg->target_files[0];
	sd = targets_sd_new(globs, 1);
	ck_assert_ptr_nonnull(sd);
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), 0);
	ck_assert(changed);

	p = targetset_build(ts, cfg, sd);
	ck_assert_ptr_nonnull(p);
	t = targetset_plan_targets(p, &n);
	/* the configured target first; the file's copy of it is a repeat */
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(t[0].url, "http://10.0.0.1:6060/debug/pprof/goroutine?debug=1");

	/* a file_sd target of a configured service takes its settings; the group's labels win */
	t = find(p, "http://10.1.0.1:6060/debug/pprof/goroutine?debug=1", &i);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->service, "api");
	ck_assert_str_eq(targetset_plan_labels(p, i),
	                 "{\"team\":\"core\",\"zone\":\"a\",\"service\":\"api\"}");
	ck_assert_ptr_nonnull(find(p, "http://10.1.0.2:6060/debug/pprof/goroutine?debug=1", NULL));

	/* any other service gets the defaults */
	t = find(p, "https://10.1.0.3:6060/debug/pprof/goroutine?debug=0", &i);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t->service, "other");
	ck_assert_int_eq(t->format, PROFILE_FORMAT_PROTO);
	ck_assert_str_eq(t->detail_url, "https://10.1.0.3:6060/debug/pprof/goroutine?debug=2");
	ck_assert_uint_eq(t->detail_every, 10);
	ck_assert_str_eq(targetset_plan_labels(p, i), "{\"job\":\"other\"}");

	targetset_plan_free(p);
	targets_errors_release(&errs);
	targets_sd_free(sd);
	targetset_free(ts);
	config_unref(cfg);
}
END_TEST

/* Each daemon keeps whole services, by the hash of the service name: a configured service's and a
 * file_sd service's instances all land on one daemon. A service with shard_by: target is split by
 * base URL. Together the shards cover every target once. */
START_TEST(test_shards)
{
	enum { NSVC = 8, NPER = 4, NHUGE = 12 };
	size_t total = 0, huge_shards = 0;
	char sdpath[512];

	write_file("sd.json",
	           "[{\"targets\": [\"10.3.0.1:6060\", \"10.3.0.2:6060\", \"10.3.0.3:6060\"],"
	           " \"labels\": {\"service\": \"fromfile\"}}]",
	           sdpath, sizeof(sdpath));
	for (unsigned shard = 0; shard < 3; shard++) {
		char yaml[8192], base[64], url[128];
		size_t len, n, in_huge = 0;
		const char *globs[] = {sdpath};
		struct targets_sd *sd = targets_sd_new(globs, 1);
		struct targets_errors errs = {0};
		struct config *cfg;
		struct targetset *ts = targetset_new();
		struct targetset_plan *p;
		bool changed;

		ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), 0);
		len = (size_t)snprintf(yaml, sizeof(yaml),
		                       "shard: {index: %u, count: 3}\nservices:\n", shard);
		for (unsigned s = 0; s < NSVC; s++) {
			len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
			                        "  - name: svc-%u\n    targets: [", s);
			for (unsigned t = 0; t < NPER; t++)
				len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
				                        "%s'http://10.2.%u.%u:6060'", t ? ", " : "",
				                        s, t);
			len += (size_t)snprintf(yaml + len, sizeof(yaml) - len, "]\n");
		}
		len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
		                        "  - name: huge\n    shard_by: target\n    targets: [");
		for (unsigned t = 0; t < NHUGE; t++)
			len += (size_t)snprintf(yaml + len, sizeof(yaml) - len,
			                        "%s'http://10.9.0.%u:6060'", t ? ", " : "", t);
		snprintf(yaml + len, sizeof(yaml) - len, "]\n");
		cfg = load(yaml);
		p = targetset_build(ts, cfg, sd);
		ck_assert_ptr_nonnull(p);
		targetset_plan_targets(p, &n);
		total += n;
		for (unsigned s = 0; s < NSVC; s++) {
			char name[32];
			bool mine;

			snprintf(name, sizeof(name), "svc-%u", s);
			mine = targets_shard_of(name, 3) == shard;
			for (unsigned t = 0; t < NPER; t++) {
				snprintf(url, sizeof(url),
				         "http://10.2.%u.%u:6060/debug/pprof/goroutine?debug=0", s,
				         t);
				ck_assert_msg((find(p, url, NULL) != NULL) == mine,
				              "%s of %s in shard %u", url, name, shard);
			}
		}
		for (unsigned t = 1; t <= 3; t++) {
			snprintf(url, sizeof(url),
			         "http://10.3.0.%u:6060/debug/pprof/goroutine?debug=0", t);
			ck_assert_msg((find(p, url, NULL) != NULL) ==
			                  (targets_shard_of("fromfile", 3) == shard),
			              "%s of fromfile in shard %u", url, shard);
		}
		for (unsigned t = 0; t < NHUGE; t++) {
			bool mine;

			snprintf(base, sizeof(base), "http://10.9.0.%u:6060", t);
			snprintf(url, sizeof(url), "%s/debug/pprof/goroutine?debug=0", base);
			mine = targets_shard_of(base, 3) == shard;
			ck_assert_msg((find(p, url, NULL) != NULL) == mine,
			              "%s of huge in shard %u", base, shard);
			in_huge += mine;
		}
		huge_shards += in_huge > 0;
		targetset_plan_free(p);
		targetset_free(ts);
		targets_sd_free(sd);
		config_unref(cfg);
	}
	/* together they cover the fleet once, and the huge service is split */
	ck_assert_uint_eq(total, NSVC * NPER + 3 + NHUGE);
	ck_assert_uint_gt(huge_shards, 1);
}
END_TEST

START_TEST(test_reload_diff)
{
	struct config *a =
	    load("services:\n"
	         "  - {name: web, targets: ['http://10.3.0.1:6060', "
	         "'http://10.3.0.2:6060'], labels: {team: x}}\n"
	         "  - {name: db, targets: ['http://10.3.0.3:6060'], labels: {tier: 1}}\n");
	struct config *b =
	    load("services:\n"
	         "  - {name: web, targets: ['http://10.3.0.1:6060'], labels: {team: x}}\n"
	         "  - {name: db, targets: ['http://10.3.0.3:6060'], labels: {tier: 2}}\n"
	         "  - {name: cache, targets: ['http://10.3.0.4:6060']}\n");
	struct targetset *ts = targetset_new();
	struct targetset_diff d;
	struct targetset_target t;
	int64_t web1, web2, db, cache;

	/* the first set: everything is new and registered */
	apply(ts, a, NULL, &d);
	web1 = id_of(ts, "web", "http://10.3.0.1:6060");
	web2 = id_of(ts, "web", "http://10.3.0.2:6060");
	db = id_of(ts, "db", "http://10.3.0.3:6060");
	ck_assert(web1 > 0 && web2 > 0 && db > 0);
	ck_assert_uint_eq(d.nactive, 3);
	ck_assert_uint_eq(d.nadded, 3);
	ck_assert_uint_eq(d.nkept, 0);
	ck_assert_uint_eq(d.nremoved, 0);
	ck_assert_uint_eq(d.nchanged, 3);
	ck_assert_uint_eq(targetset_count(ts), 3);
	ck_assert(targetset_get(ts, db, &t));
	ck_assert_str_eq(t.labels_json, "{\"tier\":\"1\"}");
	ck_assert(t.in_set);
	targetset_diff_release(&d);

	/* web2 goes, db is relabelled, cache comes; web1 stays as it was */
	apply(ts, b, NULL, &d);
	cache = id_of(ts, "cache", "http://10.3.0.4:6060");
	ck_assert(cache > 0);
	ck_assert_uint_eq(d.nactive, 3);
	ck_assert_uint_eq(d.nadded, 1);
	ck_assert_int_eq(d.added[0], cache);
	ck_assert_uint_eq(d.nkept, 2);
	ck_assert(has_id(d.kept, d.nkept, web1) && has_id(d.kept, d.nkept, db));
	ck_assert_uint_eq(d.nremoved, 1);
	ck_assert_int_eq(d.removed[0], web2);
	ck_assert_uint_eq(d.nchanged, 2);
	ck_assert(has_id(d.changed, d.nchanged, db) && has_id(d.changed, d.nchanged, cache));
	ck_assert(!has_id(d.active, d.nactive, web2));
	ck_assert(targetset_get(ts, db, &t));
	ck_assert_str_eq(t.labels_json, "{\"tier\":\"2\"}");
	/* a removed target leaves the registry */
	ck_assert(!targetset_get(ts, web2, &t));
	ck_assert_uint_eq(targetset_size(ts), 3);
	targetset_diff_release(&d);

	/* back to the first: web2 returns, in the lowest free id (its old one), and is registered
	 * again (the database may have deleted it meanwhile); db's labels change back */
	apply(ts, a, NULL, &d);
	ck_assert_int_eq(id_of(ts, "web", "http://10.3.0.2:6060"), web2);
	ck_assert_uint_eq(d.nadded, 1);
	ck_assert_int_eq(d.added[0], web2);
	ck_assert_uint_eq(d.nremoved, 1);
	ck_assert_int_eq(d.removed[0], cache);
	ck_assert_uint_eq(d.nchanged, 2);
	ck_assert(has_id(d.changed, d.nchanged, db) && has_id(d.changed, d.nchanged, web2));
	ck_assert(targetset_get(ts, web2, &t));
	ck_assert_str_eq(t.labels_json, "{\"team\":\"x\"}");
	targetset_diff_release(&d);

	/* the same again: nothing changes */
	apply(ts, a, NULL, &d);
	ck_assert_uint_eq(d.nactive, 3);
	ck_assert_uint_eq(d.nkept, 3);
	ck_assert_uint_eq(d.nadded + d.nremoved + d.nchanged, 0);
	targetset_diff_release(&d);

	/* an empty configuration removes everything */
	config_unref(b);
	b = load("services: []\n");
	apply(ts, b, NULL, &d);
	ck_assert_uint_eq(d.nactive, 0);
	ck_assert_uint_eq(d.nremoved, 3);
	ck_assert_uint_eq(targetset_count(ts), 0);
	targetset_diff_release(&d);

	targetset_free(ts);
	config_unref(a);
	config_unref(b);
}
END_TEST

START_TEST(test_rounds)
{
	struct config *a = load("services:\n"
	                        "  - {name: s, targets: ['http://10.4.0.1:6060', "
	                        "'http://10.4.0.2:6060']}\n");
	struct config *b = load("services:\n  - {name: s, targets: ['http://10.4.0.2:6060']}\n");
	struct targetset *ts = targetset_new();
	struct targetset_diff d;
	int64_t one, two;

	apply(ts, a, NULL, &d);
	targetset_diff_release(&d);
	one = id_of(ts, "s", "http://10.4.0.1:6060");
	two = id_of(ts, "s", "http://10.4.0.2:6060");
	ck_assert_uint_eq(targetset_rounded(ts), 0);

	/* failures are remembered per target; a target counts once per round */
	ck_assert_uint_eq(targetset_note_scrape(ts, one, 1), 0);
	ck_assert_uint_eq(targetset_note_scrape(ts, one, 2), 1);
	ck_assert_uint_eq(targetset_rounded(ts), 1);
	ck_assert_uint_eq(targetset_note_scrape(ts, two, 0), 0);
	ck_assert_uint_eq(targetset_rounded(ts), 2);
	ck_assert_uint_eq(targetset_note_scrape(ts, one, 0), 2);
	ck_assert_uint_eq(targetset_rounded(ts), 2);
	targetset_round_reset(ts);
	ck_assert_uint_eq(targetset_rounded(ts), 0);

	/* an unknown id is ignored */
	ck_assert_uint_eq(targetset_note_scrape(ts, 0, 3), 0);
	ck_assert_uint_eq(targetset_note_scrape(ts, 99, 3), 0);
	ck_assert_uint_eq(targetset_rounded(ts), 0);

	/* a target no longer in the set does not count (a result still in flight at a reload); a
	 * new set starts a new round */
	ck_assert_uint_eq(targetset_note_scrape(ts, two, 0), 0);
	apply(ts, b, NULL, &d);
	targetset_diff_release(&d);
	ck_assert_uint_eq(targetset_rounded(ts), 0);
	targetset_note_scrape(ts, one, 0);
	ck_assert_uint_eq(targetset_rounded(ts), 0);
	targetset_note_scrape(ts, two, 0);
	ck_assert_uint_eq(targetset_rounded(ts), 1);
	ck_assert_uint_eq(targetset_count(ts), 1);

	targetset_free(ts);
	config_unref(a);
	config_unref(b);
}
END_TEST

/* A configuration of 'n' targets of service 'svc': 'stable' long-lived ones (10.7.0.x, the same
 * in every generation), then generation 'gen''s own (10.8.<gen>.x). */
static struct config *
churn_config(unsigned gen, unsigned stable, unsigned n)
{
	size_t cap = 64 + (size_t)n * 32, len;
	char *yaml = malloc(cap);
	struct config *cfg;

	ck_assert_ptr_nonnull(yaml);
	len = (size_t)snprintf(yaml, cap, "services:\n  - name: svc\n    targets: [");
	for (unsigned i = 0; i < n; i++)
		len += (size_t)snprintf(yaml + len, cap - len, "%s'http://10.%u.%u.%u:6060'",
		                        i ? ", " : "", i < stable ? 7 : 8,
		                        i < stable ? 0 : gen % 256, i < stable ? i : i - stable);
	snprintf(yaml + len, cap - len, "]\n");
	cfg = load(yaml);
	free(yaml);
	return cfg;
}

/* Pod churn: set after set of new targets next to a few long-lived ones. The registry holds the
 * current set alone, whatever came and went before; ids stay below the largest set, are reused
 * by new targets (which the diff names for registration) and never change for a target that
 * stays; a result for a dropped id is ignored. */
START_TEST(test_churn)
{
	enum { GENS = 60, STABLE = 5, PER = 100 };
	struct targetset *ts = targetset_new();
	struct targetset_diff d;
	struct targetset_target t;
	int64_t stable_ids[STABLE], gone = 0;

	for (unsigned gen = 0; gen < GENS; gen++) {
		struct config *cfg = churn_config(gen, STABLE, PER);

		apply(ts, cfg, NULL, &d);
		config_unref(cfg);
		ck_assert_uint_eq(d.nactive, PER);
		ck_assert_uint_eq(d.nkept, gen ? STABLE : 0);
		ck_assert_uint_eq(d.nadded, gen ? PER - STABLE : PER);
		/* every new target is registered, in a reused id or not */
		ck_assert_uint_eq(d.nchanged, d.nadded);
		for (size_t i = 0; i < d.nadded; i++)
			ck_assert(has_id(d.changed, d.nchanged, d.added[i]));
		if (gen > 0) {
			ck_assert_uint_eq(d.nremoved, PER - STABLE);
			/* a result of a dropped target that reaches the registry anyway */
			ck_assert(!targetset_get(ts, gone, &t) || t.in_set);
			ck_assert_uint_eq(targetset_note_scrape(ts, gone, 7), 0);
		}
		gone = d.nremoved ? d.removed[0] : 0;
		ck_assert_uint_eq(targetset_count(ts), PER);
		ck_assert_uint_eq(targetset_size(ts), PER);
		/* a build holds the old set and the new targets at once: the largest registry */
		ck_assert_int_le(targetset_max_id(ts), 2 * PER - STABLE);
		for (unsigned i = 0; i < STABLE; i++) {
			char url[64];
			int64_t id;

			snprintf(url, sizeof(url), "http://10.7.0.%u:6060", i);
			id = id_of(ts, "svc", url);
			ck_assert_int_gt(id, 0);
			if (gen == 0)
				stable_ids[i] = id;
			ck_assert_int_eq(id, stable_ids[i]);
			ck_assert(gen == 0 || !has_id(d.changed, d.nchanged, id));
		}
		/* every id in use names a target of the current set */
		for (int64_t id = 1; id <= targetset_max_id(ts); id++) {
			if (!targetset_get(ts, id, &t))
				continue;
			ck_assert(t.in_set);
			ck_assert_ptr_nonnull(t.labels_json);
		}
		targetset_diff_release(&d);
	}

	/* the fleet shrinks to its long-lived targets: the registry follows */
	{
		struct config *cfg = churn_config(0, STABLE, STABLE);

		apply(ts, cfg, NULL, &d);
		config_unref(cfg);
		targetset_diff_release(&d);
		ck_assert_uint_eq(targetset_size(ts), STABLE);
		for (unsigned i = 0; i < STABLE; i++) {
			char url[64];

			snprintf(url, sizeof(url), "http://10.7.0.%u:6060", i);
			ck_assert_int_eq(id_of(ts, "svc", url), stable_ids[i]);
		}
	}
	targetset_free(ts);
}
END_TEST

/* Plans built and never applied (the scraper refused them, or a reload failed after the build)
 * leave nothing behind once the next one is built. */
START_TEST(test_unapplied_plans)
{
	struct targetset *ts = targetset_new();
	struct targetset_diff d;
	struct config *cfg = churn_config(0, 3, 10);

	apply(ts, cfg, NULL, &d);
	targetset_diff_release(&d);
	config_unref(cfg);
	for (unsigned gen = 1; gen < 50; gen++) {
		struct targetset_plan *p;

		cfg = churn_config(gen, 3, 10);
		p = targetset_build(ts, cfg, NULL);
		ck_assert_ptr_nonnull(p);
		/* the current set plus this plan's 7 new targets */
		ck_assert_uint_eq(targetset_size(ts), 17);
		ck_assert_int_le(targetset_max_id(ts), 17);
		ck_assert_uint_eq(targetset_count(ts), 10);
		targetset_plan_free(p);
		config_unref(cfg);
	}
	/* the last plan is applied after all: its targets are the set, and only they */
	cfg = churn_config(49, 3, 10);
	apply(ts, cfg, NULL, &d);
	ck_assert_uint_eq(d.nadded, 7);
	ck_assert_uint_eq(d.nremoved, 7);
	ck_assert_uint_eq(targetset_size(ts), 10);
	targetset_diff_release(&d);
	config_unref(cfg);
	targetset_free(ts);
}
END_TEST

Suite *
targetset_suite(void)
{
	Suite *s = suite_create("targetset");
	TCase *tc = tcase_create("targetset");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_services);
	tcase_add_test(tc, test_auth);
	tcase_add_test(tc, test_file_sd);
	tcase_add_test(tc, test_shards);
	tcase_add_test(tc, test_reload_diff);
	tcase_add_test(tc, test_rounds);
	tcase_add_test(tc, test_churn);
	tcase_add_test(tc, test_unapplied_plans);
	suite_add_tcase(s, tc);
	return s;
}
