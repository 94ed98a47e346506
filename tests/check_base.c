/* tests/check_base.c: the foundation helpers: durations and sizes, times, hashing, secret files,
 * allocation and the capped string buffer. Each is the one helper for its rule, so its edge cases
 * are pinned here. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "base/clock.h"
#include "base/hash.h"
#include "base/sbuf.h"
#include "base/secret.h"
#include "base/units.h"
#include "base/url.h"
#include "base/xalloc.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(test_parse_duration)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} cases[] = {
	    {"30s", 0, 30},
	    {"5m", 0, 300},
	    {"2h", 0, 7200},
	    {"1d", 0, 86400},
	    {"1w", 0, 604800},
	    {"0", 0, 0},
	    {"45", 0, 45},
	    {"1h30m", 0, 5400},
	    {"1d2h3m4s", 0, 93784},
	    {"", -1, 0},
	    {"-5s", -1, 0},
	    {"+5s", -1, 0},
	    {"5", 0, 5},
	    {"5 s", -1, 0},
	    {" 5s", -1, 0},
	    {"5S", -1, 0},
	    {"5ms", -1, 0},
	    {"2000ms", 0, 2},
	    {"1h30", -1, 0},
	    {"s", -1, 0},
	    {"1.5h", -1, 0},
	    {"ten seconds", -1, 0},
	    {"99999999999999999999", -1, 0},
	    {"9223372036854775807s", -1, 0},
	    {"300000000000000d", -1, 0},
	    {"9223372036854775s", 0, 9223372036854775ull},
	    {"9223372036854776s", -1, 0},
	};

	for (size_t i = 0; i < N(cases); i++) {
		uint64_t v = 12345;
		int rc = units_parse_duration(cases[i].s, &v);

		ck_assert_msg(rc == cases[i].rc, "'%s': rc %d", cases[i].s, rc);
		if (rc == 0)
			ck_assert_msg(v == cases[i].v, "'%s': %llu", cases[i].s,
			              (unsigned long long)v);
		else
			ck_assert_uint_eq(v, 12345);
	}
	ck_assert_int_eq(units_parse_duration(NULL, &(uint64_t){0}), -1);
}
END_TEST

START_TEST(test_parse_size)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} cases[] = {
	    {"64MiB", 0, 64ull << 20},
	    {"512KiB", 0, 512ull << 10},
	    {"1GiB", 0, 1ull << 30},
	    {"2TiB", 0, 2ull << 40},
	    {"10MB", 0, 10000000},
	    {"100kB", 0, 100000},
	    {"100KB", 0, 100000},
	    {"3GB", 0, 3000000000ull},
	    {"1TB", 0, 1000000000000ull},
	    {"4096", 0, 4096},
	    {"4096B", 0, 4096},
	    {"64 MiB", 0, 64ull << 20},
	    {"0", 0, 0},
	    {"", -1, 0},
	    {"-1", -1, 0},
	    {"MiB", -1, 0},
	    {"1.5MiB", -1, 0},
	    {"64 furlongs", -1, 0},
	    {"64MiB ", -1, 0},
	    {"64  MiB", -1, 0},
	    {"64 ", -1, 0},
	    {"18446744073709551616", -1, 0},
	    {"9000000TiB", -1, 0},
	    {"64Mi", -1, 0},
	};

	for (size_t i = 0; i < N(cases); i++) {
		uint64_t v = 12345;
		int rc = units_parse_size(cases[i].s, &v);

		ck_assert_msg(rc == cases[i].rc, "'%s': rc %d", cases[i].s, rc);
		if (rc == 0)
			ck_assert_msg(v == cases[i].v, "'%s': %llu", cases[i].s,
			              (unsigned long long)v);
	}
}
END_TEST

START_TEST(test_parse_duration_ms)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t v;
	} cases[] = {
	    {"500ms", 0, 500}, {"1s500ms", 0, 1500},  {"10s", 0, 10000}, {"1m", 0, 60000},
	    {"30", 0, 30000},  {"1h30m", 0, 5400000}, {"ms", -1, 0},     {"5m s", -1, 0},
	    {"5mss", -1, 0},   {"1.5s", -1, 0},
	};

	for (size_t i = 0; i < N(cases); i++) {
		uint64_t v = 12345;
		int rc = units_parse_duration_ms(cases[i].s, &v);

		ck_assert_msg(rc == cases[i].rc, "'%s': rc %d", cases[i].s, rc);
		if (rc == 0)
			ck_assert_msg(v == cases[i].v, "'%s': %llu", cases[i].s,
			              (unsigned long long)v);
	}
}
END_TEST

START_TEST(test_fmt_duration)
{
	static const struct {
		uint64_t s;
		const char *want;
	} cases[] = {{21600, "6h"}, {172800, "2d"}, {5400, "90m"},
	             {90, "90s"},   {0, "0s"},      {604800, "7d"}};
	char buf[32];

	for (size_t i = 0; i < N(cases); i++) {
		uint64_t back = 0;

		units_fmt_duration(cases[i].s, buf, sizeof(buf));
		ck_assert_str_eq(buf, cases[i].want);
		/* What is printed parses back to the same value. */
		ck_assert_int_eq(units_parse_duration(buf, &back), 0);
		ck_assert_uint_eq(back, cases[i].s);
	}
}
END_TEST

START_TEST(test_iso8601)
{
	char buf[CLOCK_ISO8601_LEN], buf2[CLOCK_ISO8601_MS_LEN];

	ck_assert(clock_fmt_iso8601(1795818428940, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "2026-11-27T22:27:08Z");
	ck_assert(!clock_fmt_iso8601(0, buf, sizeof(buf)));
	ck_assert_str_eq(buf, "");
	ck_assert(!clock_fmt_iso8601(-5, buf, sizeof(buf)));
	/* Too small a buffer is an empty string, never a cut time. */
	ck_assert(!clock_fmt_iso8601(1795818428940, buf, 10));
	ck_assert_str_eq(buf, "");
	ck_assert(clock_fmt_iso8601_ms(1795818428042, buf2, sizeof(buf2)));
	ck_assert_str_eq(buf2, "2026-11-27T22:27:08.042Z");
	ck_assert(!clock_fmt_iso8601_ms(0, buf2, sizeof(buf2)));
	ck_assert(clock_wall_ms() > 1700000000000);
	ck_assert(clock_mono_ms() >= 0);
}
END_TEST

START_TEST(test_fnv1a)
{
	/* Reference vectors of FNV-1a 64; shard membership depends on these staying put. */
	ck_assert_uint_eq(hash_fnv1a_str(HASH_FNV1A_INIT, ""), 0xcbf29ce484222325ULL);
	ck_assert_uint_eq(hash_fnv1a_str(HASH_FNV1A_INIT, "a"), 0xaf63dc4c8601ec8cULL);
	ck_assert_uint_eq(hash_fnv1a_str(HASH_FNV1A_INIT, "foobar"), 0x85944171f73967e8ULL);
	ck_assert_uint_eq(hash_fnv1a(HASH_FNV1A_INIT, "foobar", 6), 0x85944171f73967e8ULL);
	ck_assert_uint_eq(hash_fnv1a_str(hash_fnv1a_str(HASH_FNV1A_INIT, "foo"), "bar"),
	                  0x85944171f73967e8ULL);
	ck_assert_uint_eq(hash_fnv1a_str(HASH_FNV1A_INIT, NULL), HASH_FNV1A_INIT);
}
END_TEST

static char *
write_tmp(const char *dir, const char *name, const void *data, size_t len)
{
	char *path = xmalloc(512);

	testutil_write(dir, name, data, len, path, 512);
	return path;
}

START_TEST(test_secret_read)
{
	char dir[64], err[256];
	static const struct {
		const char *content;
		const char *want; /* NULL: an error containing 'why' */
		const char *why;
	} cases[] = {
	    {"hunter2\n", "hunter2", NULL},
	    {"hunter2\r\n\n", "hunter2", NULL},
	    {"pass word \t \n", "pass word", NULL},
	    {"  \tboth ends \n", "both ends", NULL},
	    {"in side", "in side", NULL},
	    {"multi\nline\n", "multi\nline", NULL},
	    {"", NULL, "empty"},
	    {" \n\t\r\n", NULL, "empty"},
	};
	char *big, *path, *s;

	testutil_mkdtemp(dir, sizeof(dir), "check_base");
	for (size_t i = 0; i < N(cases); i++) {
		path = write_tmp(dir, "s", cases[i].content, strlen(cases[i].content));
		err[0] = '\0';
		s = secret_read(path, err, sizeof(err));
		if (cases[i].want) {
			ck_assert_ptr_nonnull(s);
			ck_assert_str_eq(s, cases[i].want);
		} else {
			ck_assert_ptr_null(s);
			ck_assert_msg(strstr(err, cases[i].why) && strstr(err, path),
			              "case %zu: '%s'", i, err);
		}
		free(s);
		unlink(path);
		free(path);
	}
	/* A NUL byte is an error, not a secret cut at it. */
	path = write_tmp(dir, "s", "ab\0cd", 5);
	ck_assert_ptr_null(secret_read(path, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "NUL"));
	unlink(path);
	free(path);
	/* Exactly the cap is read whole; one byte more is an error, never a silently cut secret. */
	big = xmalloc(SECRET_MAX_BYTES + 1);
	memset(big, 'k', SECRET_MAX_BYTES + 1);
	path = write_tmp(dir, "s", big, SECRET_MAX_BYTES);
	s = secret_read(path, err, sizeof(err));
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(strlen(s), SECRET_MAX_BYTES);
	free(s);
	unlink(path);
	free(path);
	path = write_tmp(dir, "s", big, SECRET_MAX_BYTES + 1);
	ck_assert_ptr_null(secret_read(path, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "larger than"));
	unlink(path);
	free(path);
	free(big);
	/* A missing file names the file and the system's reason. */
	ck_assert_ptr_null(secret_read("/nonexistent/leakprofd-secret", err, sizeof(err)));
	ck_assert_str_eq(err, "'/nonexistent/leakprofd-secret': No such file or directory");
	testutil_rmtree(dir);
}
END_TEST

START_TEST(test_xalloc)
{
	char *s = xstrdup("abc"), *t = xstrndup("abcdef", 2);

	ck_assert_str_eq(s, "abc");
	ck_assert_str_eq(t, "ab");
	ck_assert_ptr_null(xstrdup(NULL));
	free(s);
	free(t);
	free(xcalloc(0, 0));
}
END_TEST

START_TEST(test_sbuf_cap)
{
	struct sbuf b = {.max = 8};
	size_t len;
	char *p;

	sbuf_puts(&b, "abc");
	sbuf_addf(&b, "%d", 1234);
	ck_assert(!b.failed);
	ck_assert_str_eq(b.p, "abc1234");
	sbuf_puts(&b, "x"); /* 8 bytes and the NUL do not fit in 8 */
	ck_assert(b.failed);
	sbuf_puts(&b, "");
	ck_assert_ptr_null(sbuf_steal(&b, &len));
	ck_assert_uint_eq(len, 0);
	b = (struct sbuf){0};
	sbuf_utf8(&b, "ok\xff\xc3\xa9");
	p = sbuf_steal(&b, &len);
	ck_assert_str_eq(p, "ok\xef\xbf\xbd\xc3\xa9");
	free(p);
}
END_TEST

START_TEST(test_url)
{
	ck_assert_uint_eq(url_scheme_len("http://h"), 7);
	ck_assert_uint_eq(url_scheme_len("HTTPS://h"), 8);
	ck_assert_uint_eq(url_scheme_len("ftp://h"), 0);
	ck_assert_uint_eq(url_scheme_len(NULL), 0);
	ck_assert_ptr_null(url_problem("http://127.0.0.1:6060"));
	ck_assert_ptr_null(url_problem("HTTP://h/debug/pprof/goroutine?debug=2"));
	ck_assert_ptr_null(url_problem("https://user@[::1]:443/x"));
	ck_assert_str_eq(url_problem("ftp://h"), "the scheme must be http:// or https://");
	ck_assert_str_eq(url_problem("http:///x"), "missing host");
	ck_assert_str_eq(url_problem("http://h:0"), "invalid port");
	ck_assert_str_eq(url_problem("http://h:65536"), "invalid port");
	ck_assert_str_eq(url_problem("http://h x"), "contains spaces or control characters");
	ck_assert_ptr_null(url_listen_problem("127.0.0.1:0"));
	ck_assert_ptr_null(url_listen_problem("[::1]:8080"));
	ck_assert_str_eq(url_listen_problem("::1:8080"),
	                 "IPv6 addresses need brackets: [addr]:port");
	ck_assert(url_has_path("http://h:1/debug/pprof/goroutine"));
	ck_assert(!url_has_path("http://h:1/"));
	ck_assert(!url_has_path("http://h:1"));
	ck_assert(!url_has_path("http://h:1/?x=1"));
}
END_TEST

Suite *base_suite(void);

Suite *
base_suite(void)
{
	Suite *s = suite_create("base");
	TCase *tc = tcase_create("base");

	tcase_add_test(tc, test_parse_duration);
	tcase_add_test(tc, test_parse_duration_ms);
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_fmt_duration);
	tcase_add_test(tc, test_iso8601);
	tcase_add_test(tc, test_fnv1a);
	tcase_add_test(tc, test_secret_read);
	tcase_add_test(tc, test_xalloc);
	tcase_add_test(tc, test_sbuf_cap);
	tcase_add_test(tc, test_url);
	suite_add_tcase(s, tc);
	return s;
}
