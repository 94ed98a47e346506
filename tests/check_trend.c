/* tests/check_trend.c: the trend statistics both rankings judge growth by (detect/trend.c): the
 * even subsample, Theil-Sen's slope and its robustness, Kendall's tau-b with ties, and
 * monotonicity. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect/trend.h"

#define MIN 60000LL

START_TEST(test_pick)
{
	size_t idx[TREND_MAX_POINTS];

	ck_assert_uint_eq(trend_pick(0, idx), 0);
	ck_assert_uint_eq(trend_pick(1, idx), 1);
	ck_assert_uint_eq(idx[0], 0);
	ck_assert_uint_eq(trend_pick(5, idx), 5);
	for (size_t i = 0; i < 5; i++)
		ck_assert_uint_eq(idx[i], i);
	/* A long series: TREND_MAX_POINTS points, the first and the last among them, ascending. */
	ck_assert_uint_eq(trend_pick(10000, idx), TREND_MAX_POINTS);
	ck_assert_uint_eq(idx[0], 0);
	ck_assert_uint_eq(idx[TREND_MAX_POINTS - 1], 9999);
	for (size_t i = 1; i < TREND_MAX_POINTS; i++) {
		ck_assert_uint_gt(idx[i], idx[i - 1]);
		/* evenly: no gap more than one point wider than another */
		ck_assert_uint_le(idx[i] - idx[i - 1], 9999 / (TREND_MAX_POINTS - 1) + 1);
	}
}
END_TEST

START_TEST(test_line)
{
	int64_t t[10];
	double v[10], slope, tau;

	/* +2 a minute: +120 an hour, every pair concordant. */
	for (int i = 0; i < 10; i++) {
		t[i] = 1790000000000LL + i * MIN;
		v[i] = 7 + 2.0 * i;
	}
	trend_fit(t, v, 10, &slope, &tau);
	ck_assert_double_eq_tol(slope, 120.0, 1e-9);
	ck_assert_double_eq_tol(tau, 1.0, 1e-12);
	/* falling: the same, negated */
	for (int i = 0; i < 10; i++)
		v[i] = 100 - 2.0 * i;
	trend_fit(t, v, 10, &slope, &tau);
	ck_assert_double_eq_tol(slope, -120.0, 1e-9);
	ck_assert_double_eq_tol(tau, -1.0, 1e-12);
	/* flat: no slope, no trend */
	for (int i = 0; i < 10; i++)
		v[i] = 500;
	trend_fit(t, v, 10, &slope, &tau);
	ck_assert_double_eq(slope, 0);
	ck_assert_double_eq(tau, 0);
	/* one point: nothing to say */
	trend_fit(t, v, 1, &slope, &tau);
	ck_assert_double_eq(slope, 0);
	ck_assert_double_eq(tau, 0);
}
END_TEST

/* Theil-Sen is the median of the pairwise slopes: one wild scrape leaves it where the others
 * are, where a least-squares line would follow it. */
START_TEST(test_outlier)
{
	int64_t t[11];
	double v[11], slope, tau;

	for (int i = 0; i < 11; i++) {
		t[i] = i * 10 * MIN;
		v[i] = 10 + i; /* +6 an hour */
	}
	v[10] = 5000;
	trend_fit(t, v, 11, &slope, &tau);
	ck_assert_double_eq_tol(slope, 6.0, 1e-9);
	ck_assert_double_eq_tol(tau, 1.0, 1e-12);
	v[10] = 0; /* a last point fallen to 0 lowers tau, not the slope */
	trend_fit(t, v, 11, &slope, &tau);
	ck_assert_double_eq_tol(slope, 6.0, 1e-9);
	ck_assert_double_lt(tau, 1.0);
	ck_assert_double_gt(tau, 0.5);
}
END_TEST

/* Kendall's tau-b with ties in the values: (C - D) / sqrt(pairs * (pairs - ties)). */
START_TEST(test_ties)
{
	int64_t t[4] = {0, MIN, 2 * MIN, 3 * MIN};
	double v[4] = {1, 1, 2, 2}, slope, tau;

	/* pairs 6, ties 2 (the two 1s, the two 2s), concordant 4, discordant 0 */
	trend_fit(t, v, 4, &slope, &tau);
	ck_assert_double_eq_tol(tau, 4.0 / sqrt(6.0 * 4.0), 1e-12);
	/* pairwise slopes per hour: 0, 30, 20, 60, 30, 0: the median is 25 */
	ck_assert_double_eq_tol(slope, 25.0, 1e-9);
	/* a staircase that went down once: 1 discordant of 6 */
	double w[4] = {1, 3, 2, 4};
	trend_fit(t, w, 4, &slope, &tau);
	ck_assert_double_eq_tol(tau, (5.0 - 1.0) / 6.0, 1e-12);
}
END_TEST

static int
cmp_double_asc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The k-th smallest is what sorting gives, for every k, with ties (intervals repeat) and
 * without. */
START_TEST(test_kth_smallest)
{
	uint64_t rng = 0x2545f4914f6cdd1dULL;

	for (int round = 0; round < 300; round++) {
		double a[200], sorted[200], work[200];
		size_t n = 1 + round % 200;
		unsigned spread = round % 3 == 0 ? 4 : 1000000;

		for (size_t i = 0; i < n; i++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			a[i] = (double)(rng % spread) - spread / 2.0;
			sorted[i] = a[i];
		}
		qsort(sorted, n, sizeof(*sorted), cmp_double_asc);
		for (size_t k = 0; k < n; k++) {
			memcpy(work, a, n * sizeof(*a));
			ck_assert(trend_kth_smallest(work, n, k) == sorted[k]);
		}
	}
}
END_TEST

START_TEST(test_mono)
{
	ck_assert_double_eq(trend_mono(0, 0), 0);
	ck_assert_double_eq(trend_mono(10, 0), 1);
	ck_assert_double_eq_tol(trend_mono(10, 4), 0.6, 1e-12);
	ck_assert_double_eq(trend_mono(10, 10), 0);
}
END_TEST

Suite *trend_suite(void);

Suite *
trend_suite(void)
{
	Suite *s = suite_create("trend");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_pick);
	tcase_add_test(tc, test_line);
	tcase_add_test(tc, test_outlier);
	tcase_add_test(tc, test_ties);
	tcase_add_test(tc, test_mono);
	tcase_add_test(tc, test_kth_smallest);
	suite_add_tcase(s, tc);
	return s;
}
