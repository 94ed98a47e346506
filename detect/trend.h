/* detect/trend.h: the trend statistics the detector judges growth by, one copy for the raw
 * samples (detect.c) and the hourly rollups (history.c): a Theil-Sen slope, Kendall's tau-b and
 * monotonicity. */
#ifndef TREND_H
#define TREND_H

#include <stddef.h>
#include <stdint.h>

/* Theil-Sen and Kendall's tau use at most this many points of a series, spread evenly: the cost
 * of one judgement is bounded whatever the window. */
#define TREND_MAX_POINTS 48

/* The indexes of at most TREND_MAX_POINTS points spread evenly over a series of 'n' points (the
 * first and the last included), ascending, into 'idx'. Returns how many (n when n is small). */
size_t trend_pick(size_t n, size_t idx[TREND_MAX_POINTS]);

/* Theil-Sen slope (the median of the pairwise slopes, in v per hour) into '*slope' and Kendall's
 * tau-b of v against t into '*tau' ([-1, 1]; 0 when every v is equal), over 'm' points (t in
 * milliseconds, strictly increasing; m at most TREND_MAX_POINTS: pick them with trend_pick()).
 * Both borrowed.
 *
 * Fit is Kendall's tau rather than R² of a line: leaks grow with traffic, which is not constant
 * over a day, so the rise is monotone but not linear; a rank correlation rewards "keeps going up"
 * without punishing a curve, and a single outlier cannot dominate it the way it dominates squared
 * residuals. */
void trend_fit(const int64_t *t, const double *v, size_t m, double *slope, double *tau);

/* The k-th smallest of a[0..n) (k < n; 'a' is reordered): what sorting and reading a[k] gives, in
 * linear time on average. Scrape intervals are mostly equal, so the partition is three-way. */
double trend_kth_smallest(double *a, size_t n, size_t k);

/* Monotonicity: the share of 'steps' steps that did not go down ('downs' of them did), in
 * [0, 1]; 0 when there is no step. */
double trend_mono(size_t steps, size_t downs);

#endif
