/* tests/check_targets.c: file_sd discovery (JSON and YAML), change detection, broken files,
 * sharding and profile URL building, against real files in a temporary directory. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "collector/targets.h"

static char tmpdir[64];

static void
setup_dir(void)
{
	testutil_mkdtemp(tmpdir, sizeof(tmpdir), "check_targets");
}

static void
teardown_dir(void)
{
	testutil_rmtree(tmpdir);
}

static void
write_file(const char *name, const char *content)
{
	testutil_write(tmpdir, name, content, strlen(content), NULL, 0);
}

static bool
errs_contain(const struct targets_errors *e, const char *needle)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (strstr(e->msgs[i], needle))
			return true;
	return false;
}

static const char *
label(const struct targets_entry *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->nlabels; i++)
		if (strcmp(e->labels[i].name, name) == 0)
			return e->labels[i].value;
	return NULL;
}

static void
assert_url(const char *base, const char *path, int debug, const char *want)
{
	char *got = targets_profile_url(base, path, debug);

	if (!want) {
		ck_assert_msg(got == NULL, "%s: want NULL, got %s", base, got);
		return;
	}
	ck_assert_msg(got != NULL, "%s: got NULL", base);
	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(test_profile_url)
{
	assert_url("http://127.0.0.1:6060", "/debug/pprof/goroutine", 1,
	           "http://127.0.0.1:6060/debug/pprof/goroutine?debug=1");
	assert_url("http://127.0.0.1:6060/", "/debug/pprof/goroutineleak", 0,
	           "http://127.0.0.1:6060/debug/pprof/goroutineleak?debug=0");
	assert_url("https://h:1", NULL, 2, "https://h:1/debug/pprof/goroutine?debug=2");
	/* a full profile URL keeps its path; the debug value is replaced, other parameters stay */
	assert_url("http://h:1/x/debug/pprof/goroutine?debug=1", "/ignored", 2,
	           "http://h:1/x/debug/pprof/goroutine?debug=2");
	assert_url("http://h:1/debug/pprof/goroutine?a=1&debug=1&b=2#frag", NULL, 0,
	           "http://h:1/debug/pprof/goroutine?a=1&b=2&debug=0");
	assert_url("http://h:1/debug/pprof/goroutineleak?debug=2", NULL, -1,
	           "http://h:1/debug/pprof/goroutineleak?debug=2");
	assert_url("http://h:1/debug/pprof/goroutine", NULL, -1,
	           "http://h:1/debug/pprof/goroutine");
	/* any other path is a profile URL as written */
	assert_url("http://gw:80/payments/goroutines", "/debug/pprof/goroutine", 1,
	           "http://gw:80/payments/goroutines?debug=1");
	assert_url("http://gw:80/p?x=y#f", NULL, -1, "http://gw:80/p?x=y");
	assert_url("http://h:1?x=y", "/debug/pprof/goroutine", 1,
	           "http://h:1/debug/pprof/goroutine?x=y&debug=1");
	assert_url("http://h:1", "debug/pprof/goroutine", 1,
	           "http://h:1/debug/pprof/goroutine?debug=1");
	assert_url("ftp://h:1", NULL, 1, NULL);
	assert_url("http://", NULL, 1, NULL);
	assert_url("127.0.0.1:6060", NULL, 1, NULL);
	assert_url("http://h:1/a b", NULL, 1, NULL);
	assert_url("http://h:1", NULL, 3, NULL);
}
END_TEST

START_TEST(test_hash_and_shards)
{
	unsigned counts[3] = {0};
	char url[64];
	unsigned i, s;

	/* FNV-1a 64 reference values */
	ck_assert_uint_eq(targets_hash(""), 0xcbf29ce484222325ULL);
	ck_assert_uint_eq(targets_hash("a"), 0xaf63dc4c8601ec8cULL);
	ck_assert_uint_eq(targets_hash("foobar"), 0x85944171f73967e8ULL);
	/* Shard membership must not change between versions or machines: pinned values. */
	ck_assert_uint_eq(targets_shard_of("payments", 3), 0);
	ck_assert_uint_eq(targets_shard_of("search", 3), 1);
	ck_assert_uint_eq(targets_shard_of("checkout", 10), 0);
	for (i = 0; i < 3000; i++) {
		unsigned owners = 0;

		snprintf(url, sizeof(url), "http://10.0.%u.%u:6060", i / 250, i % 250);
		for (s = 0; s < 3; s++) {
			if (targets_shard_keep(url, s, 3)) {
				owners++;
				counts[s]++;
			}
		}
		ck_assert_uint_eq(owners, 1); /* every target in exactly one shard */
		ck_assert(targets_shard_keep(url, 0, 1));
		ck_assert(targets_shard_keep(url, 0, 0));
		ck_assert_uint_eq(targets_shard_of(url, 0), 0);
		ck_assert_uint_eq(targets_shard_of(url, 1), 0);
	}
	for (s = 0; s < 3; s++)
		ck_assert_msg(counts[s] > 850 && counts[s] < 1150, "shard %u has %u of 3000", s,
		              counts[s]);
}
END_TEST

/* Changing shard.count from N to N+1 moves only the services the new shard takes (none between two
 * old shards), about 1/(N+1) of them, and every shard gets its fair part. Names that differ only in
 * their last characters, as fleets name services, must spread as well as random ones. */
START_TEST(test_shard_moves)
{
	enum { NSVC = 10000, MAXN = 16 };
	static unsigned shard[NSVC];
	unsigned counts[MAXN + 1];
	char name[64];

	for (unsigned i = 0; i < NSVC; i++) {
		snprintf(name, sizeof(name), "svc-%u", i);
		shard[i] = targets_shard_of(name, 1);
		ck_assert_uint_eq(shard[i], 0);
	}
	for (unsigned n = 1; n < MAXN; n++) {
		unsigned moved = 0;
		double want = (double)NSVC / (n + 1), frac;

		memset(counts, 0, sizeof(counts));
		for (unsigned i = 0; i < NSVC; i++) {
			unsigned now;

			snprintf(name, sizeof(name), "svc-%u", i);
			now = targets_shard_of(name, n + 1);
			ck_assert_uint_lt(now, n + 1);
			if (now != shard[i]) {
				ck_assert_msg(now == n,
				              "%s moved from shard %u to %u going from %u to %u",
				              name, shard[i], now, n, n + 1);
				moved++;
			}
			shard[i] = now;
			counts[now]++;
		}
		frac = (double)moved / NSVC;
		ck_assert_msg(frac > 0.8 / (n + 1) && frac < 1.2 / (n + 1),
		              "%u -> %u shards moved %.3f of the services, want about %.3f", n,
		              n + 1, frac, 1.0 / (n + 1));
		for (unsigned s = 0; s <= n; s++)
			ck_assert_msg(counts[s] > 0.8 * want && counts[s] < 1.2 * want,
			              "%u shards: shard %u has %u services, want about %.0f", n + 1,
			              s, counts[s], want);
	}
}
END_TEST

START_TEST(test_parse_json)
{
	const char *doc =
	    "[\n"
	    " {\"targets\": [\"10.0.0.5:6060\", \"10.0.0.6:6060\"],\n"
	    "  \"labels\": {\"service\": \"payments\", \"team\": \"pay\", \"__meta_x\": \"y\"}},\n"
	    " {\"targets\": [\"h:443\"], \"labels\": {\"job\": \"search\", \"__scheme__\": "
	    "\"https\"}},\n"
	    " {\"targets\": [\"http://u:1/custom/path\"], \"labels\": {\"service\": \"s\", "
	    "\"job\": \"j\"}},\n"
	    " {\"targets\": []}\n"
	    "]\n";
	struct targets_entry *e = NULL;
	struct targets_errors errs = {0};
	size_t n = 0;

	ck_assert_int_eq(targets_parse_file_sd("fleet.json", doc, strlen(doc), &e, &n, &errs), 0);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(e[0].service, "payments");
	ck_assert_str_eq(e[0].base_url, "http://10.0.0.5:6060");
	ck_assert_str_eq(e[1].base_url, "http://10.0.0.6:6060");
	ck_assert_str_eq(label(&e[0], "team"), "pay");
	ck_assert_ptr_null(label(&e[0], "__meta_x"));
	ck_assert_str_eq(e[0].file, "fleet.json");
	ck_assert_str_eq(e[2].service, "search");         /* job when there is no service label */
	ck_assert_str_eq(e[2].base_url, "https://h:443"); /* __scheme__ */
	ck_assert_ptr_null(label(&e[2], "__scheme__"));
	ck_assert_str_eq(e[3].service, "s"); /* service wins over job */
	ck_assert_str_eq(e[3].base_url, "http://u:1/custom/path");
	targets_entries_free(e, n);
}
END_TEST

START_TEST(test_parse_yaml)
{
	const char *doc = "# fleet\n"
	                  "- targets: ['10.0.0.5:6060', 10.0.0.6:6060]\n"
	                  "  labels:\n"
	                  "    service: payments\n"
	                  "    env: prod\n"
	                  "- targets:\n"
	                  "    - search-1:6060\n"
	                  "  labels: {job: search}\n";
	struct targets_entry *e = NULL;
	struct targets_errors errs = {0};
	size_t n = 0;

	ck_assert_int_eq(targets_parse_file_sd("fleet.yml", doc, strlen(doc), &e, &n, &errs), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(e[1].base_url, "http://10.0.0.6:6060");
	ck_assert_str_eq(label(&e[1], "env"), "prod");
	ck_assert_str_eq(e[2].service, "search");
	targets_entries_free(e, n);

	/* an empty YAML document is an empty target list */
	e = NULL;
	n = 0;
	ck_assert_int_eq(targets_parse_file_sd("empty.yaml", "", 0, &e, &n, &errs), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(errs.n, 0);
	free(e);
}
END_TEST

/* Each broken document gives -1, leaves the output untouched, and names the file (and line for
 * YAML). */
START_TEST(test_parse_errors)
{
	static const struct {
		const char *name;
		const char *doc;
		const char *want;
	} cases[] = {
	    {"a.json", "[{\"targets\": [\"h:1\"]}]",
	     "a.json: group 1: has neither a 'service' nor a 'job' label"},
	    {"b.json",
	     "[{\"targets\": [\"h:1\"], \"labels\": {\"service\": \"x\"}},\n {\"targets\": 5}]",
	     "b.json: group 2: 'targets' must be an array of strings"},
	    {"c.json", "[{\"targets\": [\"h:1\"],\n \"lables\": {}}]",
	     "c.json: group 1: unknown key 'lables'"},
	    {"d.json", "[{\"targets\": [\"h:1\"],\n", "d.json:2: invalid JSON"},
	    {"e.json", "{\"targets\": []}", "e.json: expected a JSON array of target groups"},
	    {"f.json", "[{\"targets\": [\"h 1\"], \"labels\": {\"service\": \"x\"}}]",
	     "invalid target 'h 1'"},
	    {"g.json", "[{\"targets\": [\"ftp://h:1\"], \"labels\": {\"service\": \"x\"}}]",
	     "not an http or https URL"},
	    {"h.json",
	     "[{\"targets\": [\"h:1\"], \"labels\": {\"service\": \"x\", \"bad-name\": \"v\"}}]",
	     "invalid label name 'bad-name'"},
	    {"i.json", "[{\"targets\": [\"h:1\"], \"labels\": {\"service\": 5}}]",
	     "label 'service' must be a string"},
	    {"j.yml", "- targets: [h:1]\n  labels:\n    service: [x]\n",
	     "j.yml:3: group 1: labels must be strings"},
	    {"k.yml", "- targets: [h:1\n  labels: {service: x}\n", "k.yml:"},
	    {"l.yml", "targets: [h:1]\n", "l.yml:1: expected a list of target groups"},
	    {"m.yml", "- targets: [h:1]\n  labels: {service: x, __scheme__: gopher}\n",
	     "'__scheme__': 'gopher' is neither"},
	    {"n.yml", "- targets: [h:1]\n  labels: {service: x, service: y}\n",
	     "label 'service' given twice"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct targets_entry *e = (struct targets_entry *)0x1; /* must stay untouched */
		struct targets_errors errs = {0};
		size_t n = 7;

		ck_assert_int_eq(targets_parse_file_sd(cases[i].name, cases[i].doc,
		                                       strlen(cases[i].doc), &e, &n, &errs),
		                 -1);
		ck_assert_ptr_eq(e, (struct targets_entry *)0x1);
		ck_assert_uint_eq(n, 7);
		ck_assert_msg(errs.n > 0 && errs_contain(&errs, cases[i].want),
		              "%s: want '%s', got '%s'", cases[i].name, cases[i].want,
		              errs.n ? errs.msgs[0] : "(none)");
		targets_errors_release(&errs);
	}
}
END_TEST

static size_t
list_count(struct targets_sd *sd)
{
	size_t n;

	targets_sd_list(sd, &n);
	return n;
}

/* Each target file's state: a good read, then a broken rewrite that keeps the last good list in use
 * (with why), a file never read well (no list), and the recovery. Only the first 'max' are copied.
 */
START_TEST(test_sd_states)
{
	char glob[128];
	const char *globs[1] = {glob};
	struct targets_errors errs = {0};
	struct targets_source_state *st;
	struct targets_sd *sd;
	bool changed;

	snprintf(glob, sizeof(glob), "%s/*.json", tmpdir);
	sd = targets_sd_new(globs, 1);
	ck_assert_ptr_nonnull(sd);
	write_file("a.json",
	           "[{\"targets\": [\"a1:1\", \"a2:1\"], \"labels\": {\"service\": \"A\"}}]");
	write_file("b.json", "not json");
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), -1);
	targets_errors_release(&errs);
	ck_assert_uint_eq(targets_sd_states(sd, 10, &st), 2);
	ck_assert_str_eq(st[0].kind, "file");
	ck_assert(strstr(st[0].name, "/a.json") != NULL);
	ck_assert_uint_eq(st[0].targets, 2);
	ck_assert_str_eq(st[0].error, "");
	ck_assert(!st[0].last_good);
	ck_assert_int_gt(st[0].last_success_ms, 0);
	ck_assert_int_eq(st[0].last_refresh_ms, st[0].last_success_ms);
	ck_assert(strstr(st[1].error, "b.json") != NULL);
	ck_assert_uint_eq(st[1].targets, 0);
	ck_assert(!st[1].last_good); /* never read well: no list */
	ck_assert_int_eq(st[1].last_success_ms, 0);
	free(st);

	/* a broken rewrite: the two targets stay in use, and the state says why; unchanged since,
	 * the next refresh keeps saying so */
	write_file("a.json", "[{\"targets\": [\"a1:1\"]}]");
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), -1);
	targets_errors_release(&errs);
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), 0);
	ck_assert_uint_eq(targets_sd_states(sd, 1, &st), 2);
	ck_assert_uint_eq(st[0].targets, 2);
	ck_assert(st[0].last_good);
	ck_assert_msg(strstr(st[0].error, "a.json") != NULL, "error: %s", st[0].error);
	ck_assert_int_gt(st[0].last_refresh_ms, 0);
	free(st);

	/* repaired */
	write_file("a.json", "[{\"targets\": [\"a1:1\"], \"labels\": {\"service\": \"A\"}}]");
	write_file("b.json", "[]");
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), 0);
	ck_assert_uint_eq(targets_sd_states(sd, 10, &st), 2);
	ck_assert_str_eq(st[0].error, "");
	ck_assert(!st[0].last_good);
	ck_assert_uint_eq(st[0].targets, 1);
	ck_assert_str_eq(st[1].error, "");
	free(st);
	targets_sd_free(sd);
	ck_assert_uint_eq(targets_sd_states(NULL, 10, &st), 0);
	ck_assert_ptr_null(st);
}
END_TEST

START_TEST(test_sd_watch)
{
	char glob1[128], glob2[128];
	const char *globs[2] = {glob1, glob2};
	struct targets_errors errs = {0};
	const struct targets_entry *l;
	struct targets_sd *sd;
	bool changed;
	size_t n;

	snprintf(glob1, sizeof(glob1), "%s/*.json", tmpdir);
	snprintf(glob2, sizeof(glob2), "%s/*.y*ml", tmpdir);
	sd = targets_sd_new(globs, 2);
	ck_assert_ptr_nonnull(sd);
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), 0);
	ck_assert(!changed);
	ck_assert_uint_eq(list_count(sd), 0);

	write_file("b.json",
	           "[{\"targets\": [\"b1:1\", \"b2:1\"], \"labels\": {\"service\": \"B\"}}]");
	write_file("a.json", "[{\"targets\": [\"a1:1\"], \"labels\": {\"service\": \"A\"}}]");
	write_file("c.yaml", "- targets: [c1:1, a1:1]\n  labels: {service: A}\n");
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), 0);
	ck_assert(changed);
	l = targets_sd_list(sd, &n);
	/* glob order, then file name order; the duplicate A http://a1:1 from c.yaml is kept once */
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(l[0].base_url, "http://a1:1");
	ck_assert_str_eq(l[1].base_url, "http://b1:1");
	ck_assert_str_eq(l[2].base_url, "http://b2:1");
	ck_assert_str_eq(l[3].base_url, "http://c1:1");
	ck_assert(strstr(l[3].file, "c.yaml") != NULL);

	/* nothing changed: no re-read, no change */
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), 0);
	ck_assert(!changed);

	/* a label change alone is a change */
	write_file("a.json",
	           "[{\"targets\": [\"a1:1\"], \"labels\": {\"service\": \"A\", \"x\": \"1\"}}]");
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), 0);
	ck_assert(changed);

	/* same size, new content (new inode through rename) */
	write_file("a.json",
	           "[{\"targets\": [\"a9:1\"], \"labels\": {\"service\": \"A\", \"x\": \"1\"}}]");
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), 0);
	ck_assert(changed);
	l = targets_sd_list(sd, &n);
	ck_assert_str_eq(l[0].base_url, "http://a9:1");

	/* a broken file: an error naming it, its old targets stay */
	write_file("b.json",
	           "[{\"targets\": [\"b1:1\", \"b2:1\"], \"labels\": {\"service\": \"B\"}");
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), -1);
	ck_assert(!changed);
	ck_assert(errs_contain(&errs, "b.json"));
	ck_assert(errs_contain(&errs, "invalid JSON"));
	ck_assert(errs_contain(&errs, "keeping the 2 targets"));
	/* a9, b1, b2, c1 and c.yaml's a1 (no longer a duplicate of a.json's) */
	ck_assert_uint_eq(list_count(sd), 5);
	targets_errors_release(&errs);
	/* reported once: an unchanged broken file is not re-read */
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), 0);
	ck_assert_uint_eq(errs.n, 0);

	/* fixed again */
	write_file("b.json", "[{\"targets\": [\"b3:1\"], \"labels\": {\"service\": \"B\"}}]");
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), 0);
	ck_assert(changed);
	ck_assert_uint_eq(list_count(sd), 4);

	/* a vanished file drops its targets */
	{
		char path[256];

		snprintf(path, sizeof(path), "%s/c.yaml", tmpdir);
		ck_assert_int_eq(unlink(path), 0);
	}
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), 0);
	ck_assert(changed);
	l = targets_sd_list(sd, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(l[0].base_url, "http://a9:1");
	ck_assert_str_eq(l[1].base_url, "http://b3:1");
	targets_sd_free(sd);
	targets_sd_free(NULL);
}
END_TEST

/* In-place rewrites keep the inode: the size or mtime must still be noticed. */
START_TEST(test_sd_inplace_rewrite)
{
	char glob1[128], path[256];
	const char *globs[1] = {glob1};
	struct targets_errors errs = {0};
	const struct targets_entry *l;
	struct targets_sd *sd;
	struct timespec ts[2];
	bool changed;
	size_t n;
	FILE *f;

	snprintf(glob1, sizeof(glob1), "%s/x.json", tmpdir);
	snprintf(path, sizeof(path), "%s/x.json", tmpdir);
	write_file("x.json", "[{\"targets\": [\"p1:1\"], \"labels\": {\"service\": \"P\"}}]");
	sd = targets_sd_new(globs, 1);
	ck_assert_ptr_nonnull(sd);
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), 0);
	ck_assert(changed);
	f = fopen(path, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(
	    fputs("[{\"targets\": [\"p2:1\"], \"labels\": {\"service\": \"P\"}}]", f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	/* force a distinct mtime even on coarse-grained file systems */
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) + 10;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
	ck_assert_int_eq(targets_sd_refresh(sd, &changed, &errs), 0);
	ck_assert(changed);
	l = targets_sd_list(sd, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(l[0].base_url, "http://p2:1");
	targets_sd_free(sd);
}
END_TEST

Suite *targets_suite(void);

Suite *
targets_suite(void)
{
	Suite *s = suite_create("targets");
	TCase *tc = tcase_create("targets");

	tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
	tcase_add_test(tc, test_profile_url);
	tcase_add_test(tc, test_hash_and_shards);
	tcase_add_test(tc, test_shard_moves);
	tcase_add_test(tc, test_parse_json);
	tcase_add_test(tc, test_parse_yaml);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_sd_watch);
	tcase_add_test(tc, test_sd_states);
	tcase_add_test(tc, test_sd_inplace_rewrite);
	suite_add_tcase(s, tc);
	return s;
}
