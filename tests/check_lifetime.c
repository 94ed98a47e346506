/* tests/check_lifetime.c: the one rule for where a target's process lifetimes begin
 * (storage/lifetime.c), signal by signal: each fires on what a restart shows and stays quiet on
 * what a burst draining, a slow scrape or an evicted connection shows. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "collector/profile.h"
#include "storage/lifetime.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MIN 60000LL

/* A quiet step: one minute after a successful scrape, the same total, the connection reused,
 * seen by the same scraper. */
static struct lifetime_step
quiet(void)
{
	return (struct lifetime_step){
	    .have_prev = true,
	    .session = true,
	    .prev_ts = 10 * MIN,
	    .ts = 11 * MIN,
	    .prev_total = 2100,
	    .total = 2100,
	    .interval_ms = MIN,
	    .prev_conn = LIFETIME_CONN_REUSED,
	    .conn = LIFETIME_CONN_REUSED,
	};
}

START_TEST(test_first_and_quiet)
{
	struct lifetime_step s = quiet();

	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME);
	s.have_prev = false;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_FIRST);
	/* whatever else the step says */
	s.total = 0;
	s.down_between = 3;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_FIRST);
}
END_TEST

/* Below half and by at least 10: a small service restarting; not a pool-dominated one. */
START_TEST(test_total)
{
	static const struct {
		uint64_t before, after;
		enum lifetime_reason want;
	} cases[] = {
	    {43, 3, LIFETIME_TOTAL},     {2100, 1049, LIFETIME_TOTAL}, {2100, 1050, LIFETIME_SAME},
	    {2150, 2000, LIFETIME_SAME}, {15, 6, LIFETIME_SAME},       {19, 9, LIFETIME_TOTAL},
	    {0, 0, LIFETIME_SAME},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct lifetime_step s = quiet();

		s.prev_total = cases[i].before;
		s.total = cases[i].after;
		ck_assert_msg(lifetime_judge(&s) == cases[i].want, "%llu -> %llu",
		              (unsigned long long)cases[i].before,
		              (unsigned long long)cases[i].after);
	}
}
END_TEST

/* Goroutine ids start again from low numbers: at most half the previous dump's largest. */
START_TEST(test_goid)
{
	struct lifetime_step s = quiet();

	ck_assert(lifetime_goid_restarted(48211, 2100));
	ck_assert(lifetime_goid_restarted(4000, 2000));
	ck_assert(!lifetime_goid_restarted(4000, 2001));
	ck_assert(!lifetime_goid_restarted(4000, 9000)); /* a later dump of the same process */
	ck_assert(!lifetime_goid_restarted(0, 5));
	ck_assert(!lifetime_goid_restarted(5000, 0));
	s.prev_goid = 48211;
	s.goid = 2101;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_GOID);
	s.goid = 0; /* this scrape is no dump */
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME);
	s.goid = 48300;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME);
}
END_TEST

/* A scrape that found no process, then a fall (of the total or one location); a timeout or an
 * HTTP error says the process was there. */
START_TEST(test_failed)
{
	struct lifetime_fall leak = {.before = 150, .after = 2};
	struct lifetime_step s = quiet();

	ck_assert(lifetime_status_down("connect refused"));
	ck_assert(lifetime_status_down("connect failed: No route to host"));
	ck_assert(lifetime_status_down("connection reset"));
	ck_assert(lifetime_status_down("empty reply"));
	ck_assert(lifetime_status_down("truncated body"));
	ck_assert(lifetime_status_down("http 502"));
	ck_assert(!lifetime_status_down("timeout"));
	ck_assert(!lifetime_status_down("http 500"));
	ck_assert(!lifetime_status_down("http 503"));
	ck_assert(!lifetime_status_down("ok"));
	ck_assert(!lifetime_status_down("parse error: line 1"));
	ck_assert(!lifetime_status_down(NULL));

	s.down_between = 1;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME); /* nothing fell */
	s.total = 2099;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_FAILED);
	s.total = 2100;
	s.falls = &leak;
	s.nfalls = 1;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_FAILED);
	/* known to the scraper or not: failures are counted by whoever saw them */
	s.session = false;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_FAILED);
}
END_TEST

/* A new connection where the previous attempt reused one, with a location falling to at most a
 * fifth of at least LIFETIME_FALL_MIN. Without the fall, or without a kept-alive connection
 * before, or from a scraper that just started, it says nothing. */
START_TEST(test_connection)
{
	static const struct {
		uint64_t before, after;
		bool steep;
	} falls[] = {
	    {75, 3, true}, {900, 12, true}, {10, 2, true},   {10, 3, false},
	    {9, 0, false}, {50, 10, true},  {50, 11, false}, {300, 200, false},
	};

	for (size_t i = 0; i < N(falls); i++) {
		struct lifetime_fall f = {.before = falls[i].before, .after = falls[i].after};
		struct lifetime_step s = quiet();

		s.falls = &f;
		s.nfalls = 1;
		s.conn = LIFETIME_CONN_NEW;
		ck_assert_msg(lifetime_judge(&s) ==
		                  (falls[i].steep ? LIFETIME_CONNECTION : LIFETIME_SAME),
		              "%llu -> %llu", (unsigned long long)falls[i].before,
		              (unsigned long long)falls[i].after);
		if (!falls[i].steep)
			continue;
		s.prev_conn = LIFETIME_CONN_NEW; /* never kept alive: caches evict */
		ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME);
		s.prev_conn = LIFETIME_CONN_UNKNOWN;
		ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME);
		s.prev_conn = LIFETIME_CONN_REUSED;
		s.session = false; /* the daemon itself restarted: every connection is new */
		ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME);
		s.session = true;
		s.conn = LIFETIME_CONN_REUSED;
		ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME); /* a burst draining */
	}
}
END_TEST

/* No success for more than four usual intervals, then a fall. */
START_TEST(test_silence)
{
	struct lifetime_step s = quiet();

	s.total = 2000;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME);
	s.ts = s.prev_ts + 4 * MIN;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME);
	s.ts = s.prev_ts + 4 * MIN + 1;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SILENCE);
	s.total = 2100;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME); /* nothing fell */
	s.total = 2000;
	s.interval_ms = 0;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME);
	s.interval_ms = MIN;
	s.session = false; /* the daemon was down, not the target */
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME);
}
END_TEST

/* Three locations that had held for a while falling steeply at once, with the total; not three
 * handlers an outage blocked for a few minutes. */
START_TEST(test_collapse)
{
	struct lifetime_fall f[] = {
	    {.before = 60, .after = 0, .held = 90},
	    {.before = 40, .after = 2, .held = 20},
	    {.before = 25, .after = 5, .held = 400},
	    {.before = 2000, .after = 2000, .held = 9000},
	};
	struct lifetime_step s = quiet();

	s.falls = f;
	s.nfalls = 4;
	s.total = 2100 - 118;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_COLLAPSE);
	s.total = 2100; /* something else rose as much */
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME);
	s.total = 2100 - 118;
	f[1].held = 19; /* an outage piled it up */
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME);
	f[1].held = 20;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_COLLAPSE);
	f[2].after = 6; /* only two fell steeply */
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_SAME);
}
END_TEST

/* The strongest reason is the one stored. */
START_TEST(test_order)
{
	struct lifetime_fall f = {.before = 75, .after = 0};
	struct lifetime_step s = quiet();

	s.falls = &f;
	s.nfalls = 1;
	s.conn = LIFETIME_CONN_NEW;
	s.down_between = 2;
	s.ts = s.prev_ts + 10 * MIN;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_FAILED);
	s.prev_goid = 9000;
	s.goid = 80;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_GOID);
	s.total = 10;
	ck_assert_int_eq(lifetime_judge(&s), LIFETIME_TOTAL);
}
END_TEST

/* The ids come from the parser: the largest goroutine id of a debug=2 dump (records in any order,
 * a truncated last record included), none for the grouped formats. */
START_TEST(test_goid_from_dump)
{
	static const char d2[] = "goroutine 48211 [running]:\n"
	                         "main.main()\n\t/src/app/main.go:30 +0x1d\n\n"
	                         "goroutine 7 [chan send, 3 minutes]:\n"
	                         "main.leak(0xc000010000)\n\t/src/app/leak.go:9 +0x1d\n"
	                         "created by main.main\n\t/src/app/main.go:20 +0x20\n\n"
	                         "goroutine 48213 [chan send]:\n"
	                         "main.leak(0xc000010000)\n\t/src/app/leak.go:9 +0x1d\n\n"
	                         "goroutine 90000 [chan send]:\n"
	                         "main.le";
	static const char d1[] = "goroutine profile: total 1\n"
	                         "1 @ 0x43b296 0x46b281\n"
	                         "#\t0x43b295\tmain.main+0x24\t/src/app/main.go:30\n\n";
	struct profile p;
	struct parse_error e;

	ck_assert_int_eq(profile_parse(d2, sizeof(d2) - 1, &p, &e), 0);
	ck_assert_uint_eq(p.max_goid, 90000);
	profile_release(&p);
	ck_assert_int_eq(profile_parse(d2, (size_t)(strstr(d2, "goroutine 90000") - d2), &p, &e),
	                 0);
	ck_assert_uint_eq(p.total_goroutines, 3);
	ck_assert_uint_eq(p.max_goid, 48213);
	profile_release(&p);
	ck_assert_int_eq(profile_parse(d1, sizeof(d1) - 1, &p, &e), 0);
	ck_assert_uint_eq(p.max_goid, 0);
	profile_release(&p);
}
END_TEST

/* Where a restart that dumps' ids show goes among the count scrapes between them: where the most
 * long-held locations fell; the only one; nowhere when one already starts a lifetime or when
 * nothing long-held fell (a burst draining is no restart). */
START_TEST(test_goid_place)
{
	struct lifetime_candidate c[] = {
	    {.held_falls = 0}, {.held_falls = 1}, {.held_falls = 0},
	    {.held_falls = 2}, {.held_falls = 2}, {.held_falls = 0},
	};
	struct lifetime_fall f[] = {
	    {.before = 150, .after = 0, .held = 15},      /* a leak */
	    {.before = 90, .after = 0, .held = 6},        /* a burst */
	    {.before = 2000, .after = 2000, .held = 900}, /* a pool */
	    {.before = 60, .after = 1, .held = 25},
	};
	struct lifetime_falls_held h = lifetime_count_falls(f, 4);

	ck_assert_uint_eq(h.place, 2);
	ck_assert_uint_eq(h.collapse, 1);
	ck_assert_uint_eq(lifetime_goid_place(c, 6), 3);
	ck_assert_uint_eq(lifetime_goid_place(c, 3), 1);
	ck_assert_uint_eq(lifetime_goid_place(c, 1), 0); /* the only one */
	ck_assert_uint_eq(lifetime_goid_place(c + 5, 1), 0);
	ck_assert_uint_eq(lifetime_goid_place(c + 1, 2), 0);
	c[1].held_falls = 0;
	ck_assert_uint_eq(lifetime_goid_place(c, 3), 3); /* nothing long-held fell */
	c[2].restart = true;
	ck_assert_uint_eq(lifetime_goid_place(c, 6), 6);
	ck_assert_uint_eq(lifetime_goid_place(c, 0), 0);
}
END_TEST

START_TEST(test_names)
{
	static const char *const names[] = {"first",      "total",   "goid",    "failed",
	                                    "connection", "silence", "collapse"};

	ck_assert_ptr_null(lifetime_reason_name(LIFETIME_SAME));
	for (size_t i = 0; i < N(names); i++) {
		enum lifetime_reason r = lifetime_reason_parse(names[i]);

		ck_assert_int_ne(r, LIFETIME_SAME);
		ck_assert_str_eq(lifetime_reason_name(r), names[i]);
	}
	ck_assert_int_eq(lifetime_reason_parse(NULL), LIFETIME_SAME);
	ck_assert_int_eq(lifetime_reason_parse("reboot"), LIFETIME_SAME);
	ck_assert_ptr_null(lifetime_reason_name((enum lifetime_reason)99));
}
END_TEST

Suite *lifetime_suite(void);

Suite *
lifetime_suite(void)
{
	Suite *s = suite_create("lifetime");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_first_and_quiet);
	tcase_add_test(tc, test_total);
	tcase_add_test(tc, test_goid);
	tcase_add_test(tc, test_failed);
	tcase_add_test(tc, test_connection);
	tcase_add_test(tc, test_silence);
	tcase_add_test(tc, test_collapse);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_goid_from_dump);
	tcase_add_test(tc, test_goid_place);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}
