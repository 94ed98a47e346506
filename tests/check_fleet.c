/* tests/check_fleet.c: the detector on simulated fleets (tests/eval/fleetsim.c): the scenarios of
 * the full evaluation marked 'asserted', one of each family, within `make check`'s budget. Each
 * writes hours of one-minute scrapes of a fleet through the daemon's ingest queue in simulated
 * time and ranks at checkpoints: every leak ranks from when it is due to when it is fixed, with no
 * checkpoint missed; nothing else ever ranks; a fixed leak leaves the ranking and its alert (the
 * real alerter) resolves; the ingest stores no lifetime where no process restarted. `make eval`
 * runs the whole set and prints the table. suite: long */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/eval/fleetsim.h"
#include "tests/testutil.h"

/* The quickest one first: it alone runs under valgrind (CK_EXCLUDE_TAGS=slow). */
#define QUICK "fast-1"

static const struct fleet_scenario *asserted[32];
static size_t nasserted;

static void
pick(void)
{
	const struct fleet_scenario *v;
	size_t n = fleet_scenarios(&v);

	nasserted = 1;
	asserted[0] = NULL;
	for (size_t i = 0; i < n && nasserted < 32; i++) {
		if (!v[i].asserted)
			continue;
		if (strcmp(v[i].name, QUICK) == 0)
			asserted[0] = &v[i];
		else
			asserted[nasserted++] = &v[i];
	}
}

START_TEST(test_fleet)
{
	const struct fleet_scenario *sc = asserted[_i];
	struct fleet_result r;
	char dir[256];
	bool fix = false;

	ck_assert_msg(sc != NULL, "no scenario " QUICK " is asserted");
	for (size_t i = 0; i < sc->nservices; i++)
		fix |= sc->services[i].fix_at_h > 0;
	testutil_mkdtemp(dir, sizeof(dir), "check_fleet");
	ck_assert_int_eq(fleet_run(sc, dir, fix, &r), 0);
	testutil_rmtree(dir);
	fprintf(stderr,
	        "fleet: %-12s %u/%u leaks ranked, %u/%u due checkpoints missed, %u false suspects,"
	        " #1 after %d scrapes, fix left after %d, alert %d, restarts %u/%u+%u, window same "
	        "at %u/%u,"
	        " %.1f s CPU\n",
	        sc->name, r.detected, r.leaks, r.dropouts, r.due, r.false_suspects, r.first_rank1,
	        r.fix_rounds, r.alert, r.restarts_found, r.restarts, r.restarts_false,
	        r.window_checks - r.window_mismatches, r.window_checks, r.cpu_s);
	ck_assert_msg(r.false_suspects == 0, "%s: false suspects: %s", sc->name, r.false_names);
	ck_assert_msg(r.window_checks > 0 && r.window_mismatches == 0,
	              "%s: the ranking from the window kept between checkpoints differed from the "
	              "store's at %u of %u checkpoints",
	              sc->name, r.window_mismatches, r.window_checks);
	ck_assert_msg(r.restarts_false == 0, "%s: %u lifetimes stored where no process restarted",
	              sc->name, r.restarts_false);
	ck_assert_msg(r.detected == r.leaks, "%s: %u of %u leaks never ranked", sc->name,
	              r.leaks - r.detected, r.leaks);
	ck_assert_msg(r.dropouts == 0, "%s: a leak was missing at %u of %u checkpoints", sc->name,
	              r.dropouts, r.due);
	if (r.leaks > 0)
		ck_assert_msg(r.first_rank1 >= 0, "%s: a leak never ranked #1 in its service",
		              sc->name);
	if (fix) {
		ck_assert_msg(r.fix_rounds >= 0, "%s: the fixed leak never left the ranking",
		              sc->name);
		ck_assert_msg(r.alert == 1, "%s: its alert did not fire, then resolve", sc->name);
	}
}
END_TEST

Suite *fleet_suite(void);

Suite *
fleet_suite(void)
{
	Suite *s = suite_create("fleet");
	TCase *quick = tcase_create("quick"), *rest = tcase_create("rest");

	pick();
	tcase_set_timeout(quick, 600);
	tcase_set_timeout(rest, 600);
	tcase_set_tags(rest, "slow");
	tcase_add_loop_test(quick, test_fleet, 0, 1);
	tcase_add_loop_test(rest, test_fleet, 1, (int)nasserted);
	suite_add_tcase(s, quick);
	suite_add_tcase(s, rest);
	return s;
}
