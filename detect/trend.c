/* detect/trend.c: Theil-Sen, Kendall's tau-b and monotonicity. See trend.h. */
#include <math.h>

#include "detect/trend.h"

#define HOUR_MS 3600000.0

double
trend_kth_smallest(double *a, size_t n, size_t k)
{
	size_t lo = 0, hi = n;

	while (hi - lo > 1) {
		double pivot = a[lo + (hi - lo) / 2];
		size_t lt = lo, i = lo, gt = hi;

		/* [lo, lt) < pivot, [lt, i) == pivot, [gt, hi) > pivot */
		while (i < gt) {
			if (a[i] < pivot) {
				double x = a[i];

				a[i++] = a[lt];
				a[lt++] = x;
			} else if (a[i] > pivot) {
				double x = a[i];

				a[i] = a[--gt];
				a[gt] = x;
			} else {
				i++;
			}
		}
		if (k < lt)
			hi = lt;
		else if (k >= gt)
			lo = gt;
		else
			return pivot;
	}
	return a[lo];
}

size_t
trend_pick(size_t n, size_t idx[TREND_MAX_POINTS])
{
	size_t m = n < TREND_MAX_POINTS ? n : TREND_MAX_POINTS;

	for (size_t i = 0; i < m; i++)
		idx[i] = m > 1 ? i * (n - 1) / (m - 1) : 0;
	return m;
}

void
trend_fit(const int64_t *t, const double *v, size_t m, double *slope, double *tau)
{
	double pairs_slope[TREND_MAX_POINTS * (TREND_MAX_POINTS - 1) / 2];
	long conc = 0, disc = 0, tied = 0, pairs = 0;
	size_t np = 0;

	if (m > TREND_MAX_POINTS)
		m = TREND_MAX_POINTS;
	for (size_t i = 0; i < m; i++) {
		for (size_t j = i + 1; j < m; j++) {
			double dv = v[j] - v[i];
			double dt = (double)(t[j] - t[i]);

			pairs++;
			if (dv > 0)
				conc++;
			else if (dv < 0)
				disc++;
			else
				tied++;
			if (dt > 0)
				pairs_slope[np++] = dv / dt * HOUR_MS;
		}
	}
	*slope = 0;
	if (np % 2) {
		*slope = trend_kth_smallest(pairs_slope, np, np / 2);
	} else if (np) {
		double lo = trend_kth_smallest(pairs_slope, np, np / 2 - 1);

		*slope = (lo + trend_kth_smallest(pairs_slope, np, np / 2)) / 2;
	}
	/* Time has no ties, so tau-b = (C - D) / sqrt(pairs * (pairs - ties in v)). */
	*tau =
	    pairs > tied ? (double)(conc - disc) / sqrt((double)pairs * (double)(pairs - tied)) : 0;
}

double
trend_mono(size_t steps, size_t downs)
{
	if (steps == 0 || downs > steps)
		return 0;
	return (double)(steps - downs) / (double)steps;
}
