/* detect/trend.c: Theil-Sen, Kendall's tau-b and monotonicity. See trend.h. */
#include <math.h>
#include <stdlib.h>

#include "detect/trend.h"

#define HOUR_MS 3600000.0

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
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
	if (np) {
		qsort(pairs_slope, np, sizeof(*pairs_slope), cmp_double);
		*slope = np % 2 ? pairs_slope[np / 2]
		                : (pairs_slope[np / 2 - 1] + pairs_slope[np / 2]) / 2;
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
