/* detect/history.c: slow growth over days, from the hourly rollups (see history.h).
 *
 * Raw samples are kept for retention.raw only, and a slow leak in instances replaced every day
 * never holds min_count long enough in one process to be judged there. The rollups keep, per
 * (service, location, hour), the rise: the count's change over the steps between consecutive
 * scrapes of one process lifetime, summed over instances, with the time those steps cover
 * (store_retention.c). Their ratio is the hour's growth per instance-hour; deploys, restarts and
 * replaced instances leave it alone, since no step crosses them. Summed hour after hour it is the
 * count one instance would have reached had it never restarted:
 * - a leak's sum rises hour after hour, day after day;
 * - a pool's steps cancel out: flat at any size;
 * - a burst's sum rises and falls back; a start-up pool's rises once an hour per deploy, then
 *   stays flat for the rest of the day.
 * That sum is judged as detect.c judges one lifetime: the stretch since its last minimum, at least
 * HISTORY_MIN_HOURS long and rising by more than twice what the sum fell back before it (a pool
 * that swings with the day's traffic rises again every morning), must rise by HISTORY_MIN_RISE
 * goroutines per instance with a positive
 * Theil-Sen slope, Kendall's tau >= 0.5, >= 60% of hours not down, >= half of them up (a pool
 * that fills at each start rises in one hour a day: a staircase, not a leak), and >= half of its
 * rise kept;
 * and it must still be rising over its last quarter (at least 6 hours) at half its overall rate at
 * least, and must not have stayed flat for 6 hours since its count last collapsed (a fix deployed
 * by a restart), so that a fixed leak drops out within hours of the fix. The largest count one
 * instance held must reach min_count. Cost: one pass over the window's rollup rows, one service's
 * hours and one location's series in memory at a time. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/sbuf.h"
#include "base/xalloc.h"
#include "collector/profile.h"
#include "detect/callsites.h"
#include "detect/detect.h"
#include "detect/history.h"
#include "detect/trend.h"

#define HOUR_MS 3600000
/* Hours (since the sum's last minimum) a judgement needs. */
#define HISTORY_MIN_HOURS 12
/* Goroutines per instance the judged hours must add up to. */
#define HISTORY_MIN_RISE 1.0
#define HISTORY_MIN_FIT 0.5
#define HISTORY_MIN_MONO 0.6
#define HISTORY_MIN_RETAINED 0.5
/* Share of hours that rose: a leak rises in most hours, a pool filled at each start in one. */
#define HISTORY_MIN_UPS 0.5
/* The last quarter of the judged hours (at least this many) must still rise at half the rate. */
#define HISTORY_RECENT_HOURS 6
#define HISTORY_RECENT_RATE 0.5
/* As detect.c: below this a location that passed the minimums is not listed. */
#define HISTORY_MIN_SCORE 0.25
#define HISTORY_SPARK_POINTS 30

/* One hour of the service being read. */
struct hist_hour {
	int64_t hour;
	double inst_hours; /* instance-hours its steps cover */
	uint32_t instances;
};

/* A (service, location) that grew over the window. */
struct hist_cand {
	int64_t service_id;
	int64_t location_id;
	char *service;
	double score, fit, mono, per_instance, growth;
	uint64_t current, max_count;
	uint32_t instances, instances_total;
	int64_t span_ms;
	unsigned restarts;
	double spark[HISTORY_SPARK_POINTS];
};

struct hist_ctx {
	const struct config *cfg;
	int64_t since, until; /* the window */
	uint64_t min_count;
	int64_t service_id; /* 0: none yet */
	char *service;
	struct hist_hour *hours;
	size_t nhours, caphours;
	/* The location being read, aligned with hours. */
	int64_t location_id; /* 0: none */
	double *mean, *rise, *sum;
	uint64_t *max;
	uint32_t *inst;
	size_t cursor;
	struct hist_cand *cands;
	size_t ncands, capcands;
};

static int
cmp_cand(const void *a, const void *b)
{
	const struct hist_cand *x = a, *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return (x->location_id > y->location_id) - (x->location_id < y->location_id);
}

/* Theil-Sen slope (per hour) and Kendall's tau-b (detect/trend.h) of v against the hours. */
static void
hist_trend(const struct hist_hour *h, const double *v, size_t n, double *slope, double *tau)
{
	size_t idx[TREND_MAX_POINTS], m = trend_pick(n, idx);
	int64_t t[TREND_MAX_POINTS];
	double y[TREND_MAX_POINTS];

	for (size_t i = 0; i < m; i++) {
		t[i] = h[idx[i]].hour;
		y[i] = v[idx[i]];
	}
	trend_fit(t, y, m, slope, tau);
}

/* Judge the location read so far; a grower becomes a candidate. */
static void
hist_judge(struct hist_ctx *c)
{
	const struct hist_hour *h = c->hours;
	size_t n = c->nhours, s0 = 0, m, q, last;
	double *g = c->sum, first, peak, retained, slope, tau, mono, recent, spread, mag, ih;
	size_t downs = 0, ups = 0;
	uint64_t max = 0;
	unsigned restarts = 0;
	bool collapsing = false;
	size_t last_collapse = 0, flat_from;
	double runmax = 0, fellback = 0;
	struct hist_cand *k;

	if (c->location_id == 0 || n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		double rate = h[i].inst_hours > 0 ? c->rise[i] / h[i].inst_hours : 0;

		g[i] = (i ? g[i - 1] : 0) + rate;
	}
	for (size_t i = 1; i < n; i++)
		if (g[i] <= g[s0])
			s0 = i;
	m = n - s0;
	last = n - 1;
	if (m < HISTORY_MIN_HOURS)
		return;
	/* Before the judged stretch, did the sum already rise and fall back by half as much as it
	 * rises now? Then this is the next swing of a cycle (a pool following the day's traffic),
	 * as a burst is in detect.c. */
	for (size_t i = 0; i <= s0; i++) {
		if (g[i] > runmax)
			runmax = g[i];
		if (runmax - g[i] > fellback)
			fellback = runmax - g[i];
	}
	if (fellback * 2 >= g[last] - g[s0])
		return;
	first = g[s0];
	peak = first;
	for (size_t i = s0; i < n; i++) {
		if (g[i] > peak)
			peak = g[i];
		if (i > s0 && g[i] < g[i - 1])
			downs++;
		if (i > s0 && g[i] > g[i - 1])
			ups++;
		if (c->max[i] > max)
			max = c->max[i];
		/* A deploy's collapse may take two hours (instances replaced one by one). */
		if (i > s0 && c->mean[i] * 2 < c->mean[i - 1] && c->mean[i - 1] >= 1) {
			if (!collapsing) {
				restarts++;
				last_collapse = i;
			}
			collapsing = true;
		} else {
			collapsing = false;
		}
	}
	if (g[last] - first < HISTORY_MIN_RISE || max < c->min_count)
		return;
	retained = (g[last] - first) / (peak - first);
	mono = trend_mono(m - 1, downs);
	hist_trend(h + s0, g + s0, m, &slope, &tau);
	if (slope <= 0 || tau < HISTORY_MIN_FIT || mono < HISTORY_MIN_MONO ||
	    (double)ups < HISTORY_MIN_UPS * (double)(m - 1) || retained < HISTORY_MIN_RETAINED)
		return;
	/* Still rising: a fixed leak's sum goes flat. */
	q = m / 4 > HISTORY_RECENT_HOURS ? m / 4 : HISTORY_RECENT_HOURS;
	if (q > m - 1)
		q = m - 1;
	recent = (g[last] - g[last - q]) / ((double)(h[last].hour - h[last - q].hour) / HOUR_MS);
	if (recent < HISTORY_RECENT_RATE * slope)
		return;
	/* Fixed: the count collapsed at a restart and has not risen since, for
	 * HISTORY_RECENT_HOURS. (A leak that pauses overnight keeps its count: no collapse.) */
	flat_from = n;
	while (flat_from > s0 + 1 && g[flat_from - 1] <= g[flat_from - 2])
		flat_from--;
	if (restarts && last_collapse + 1 >= flat_from && n - flat_from >= HISTORY_RECENT_HOURS)
		return;

	/* The score, as detect.c's for an unconfirmed suspect, with the evidence rollups keep:
	 * growth = fit x monotonicity x retained; spread = instances holding it now / instances;
	 * magnitude = the mean of min(1, log10(1 + x) / 4) over the largest count in one
	 * instance and the service-wide growth per hour; no share, no age. */
	ih = h[last].inst_hours > 0 ? h[last].inst_hours : h[last].instances;
	spread = h[last].instances ? fmin(1.0, (double)c->inst[last] / h[last].instances) : 0;
	mag =
	    (fmin(1.0, log10(1.0 + (double)max) / 4) + fmin(1.0, log10(1.0 + slope * ih) / 4)) / 2;
	if (c->ncands == c->capcands) {
		c->capcands = c->capcands ? c->capcands * 2 : 16;
		c->cands = xrealloc(c->cands, c->capcands * sizeof(*c->cands));
	}
	k = &c->cands[c->ncands];
	*k = (struct hist_cand){
	    .service_id = c->service_id,
	    .location_id = c->location_id,
	    .score = 0.95 * tau * mono * retained * (0.70 + 0.15 * spread + 0.10 * mag),
	    .fit = tau,
	    .mono = mono,
	    .per_instance = slope,
	    .growth = slope * ih,
	    .current = (uint64_t)llround(c->mean[last] * ih),
	    .max_count = max,
	    .instances = c->inst[last],
	    .instances_total = h[last].instances,
	    .span_ms = h[last].hour - h[s0].hour + HOUR_MS,
	    .restarts = restarts,
	};
	if (k->score < HISTORY_MIN_SCORE)
		return;
	for (size_t b = 0; b < HISTORY_SPARK_POINTS; b++) {
		size_t i = (b + 1) * n / HISTORY_SPARK_POINTS;

		i = i ? i - 1 : 0;
		k->spark[b] = c->mean[i] * (h[i].inst_hours > 0 ? h[i].inst_hours : h[i].instances);
	}
	k->service = xstrdup(c->service);
	c->ncands++;
}

static void
hist_location_start(struct hist_ctx *c, int64_t location_id)
{
	c->location_id = location_id;
	c->cursor = 0;
	memset(c->mean, 0, c->nhours * sizeof(*c->mean));
	memset(c->rise, 0, c->nhours * sizeof(*c->rise));
	memset(c->max, 0, c->nhours * sizeof(*c->max));
	memset(c->inst, 0, c->nhours * sizeof(*c->inst));
}

static int
on_hour(const struct store_rollup_hour *h, void *arg)
{
	struct hist_ctx *c = arg;

	if (h->service_id != c->service_id) {
		hist_judge(c);
		c->location_id = 0;
		c->service_id = h->service_id;
		free(c->service);
		c->service = xstrdup(h->service != NULL ? h->service : "");
		c->nhours = 0;
	}
	if (c->nhours == c->caphours) {
		c->caphours = c->caphours ? c->caphours * 2 : 256;
		c->hours = xrealloc(c->hours, c->caphours * sizeof(*c->hours));
		c->mean = xrealloc(c->mean, c->caphours * sizeof(*c->mean));
		c->rise = xrealloc(c->rise, c->caphours * sizeof(*c->rise));
		c->sum = xrealloc(c->sum, c->caphours * sizeof(*c->sum));
		c->max = xrealloc(c->max, c->caphours * sizeof(*c->max));
		c->inst = xrealloc(c->inst, c->caphours * sizeof(*c->inst));
	}
	c->hours[c->nhours++] = (struct hist_hour){
	    .hour = h->hour, .inst_hours = (double)h->step_ms / HOUR_MS, .instances = h->instances};
	return 0;
}

static int
on_rollup(const struct store_rollup *r, void *arg)
{
	struct hist_ctx *c = arg;

	/* A service whose hours all predate rollup_hours has nothing to judge. */
	if (r->service_id != c->service_id)
		return 0;
	if (r->location_id != c->location_id) {
		hist_judge(c);
		hist_location_start(c, r->location_id);
	}
	while (c->cursor < c->nhours && c->hours[c->cursor].hour < r->hour)
		c->cursor++;
	if (c->cursor < c->nhours && c->hours[c->cursor].hour == r->hour) {
		c->mean[c->cursor] = r->mean_count;
		c->rise[c->cursor] = r->rise;
		c->max[c->cursor] = r->max_count;
		c->inst[c->cursor] = r->instances;
	}
	return 0;
}

static void
fmt_span(char *buf, size_t len, int64_t ms)
{
	double h = (double)ms / HOUR_MS;

	if (h < 48)
		snprintf(buf, len, "%.0f h", h);
	else
		snprintf(buf, len, "%.1f d", h / 24);
}

/* The history's evidence in words, after 'lead'. Caller owns. */
static char *
hist_explain(const struct hist_cand *k, const char *lead, bool alone)
{
	struct sbuf b = {0};
	char span[32], rate[32], per[32];
	size_t len;
	char *text;

	fmt_span(span, sizeof(span), k->span_ms);
	detect_fmt_rate(rate, sizeof(rate), k->growth, true);
	detect_fmt_rate(per, sizeof(per), k->per_instance, true);
	sbuf_puts(&b, lead);
	if (alone)
		sbuf_addf(&b,
		          "grew %s/h for %s in the hourly rollups (%s/h per instance, on %u/%u "
		          "instances now, %.0f%% of hours not down)",
		          rate, span, per, k->instances, k->instances_total, k->mono * 100);
	else
		sbuf_addf(
		    &b, "; over %s of hourly rollups: %s/h per instance, %.0f%% of hours not down",
		    span, per, k->mono * 100);
	if (k->restarts)
		sbuf_addf(&b, ", through %u restart%s", k->restarts, k->restarts == 1 ? "" : "s");
	text = sbuf_steal(&b, &len);
	return text;
}

static char *
hist_spark_json(const struct hist_cand *k)
{
	struct sbuf b = {0};
	size_t len;

	sbuf_puts(&b, "[");
	for (size_t i = 0; i < HISTORY_SPARK_POINTS; i++)
		sbuf_addf(&b, "%s%.0f", i ? "," : "", k->spark[i]);
	sbuf_puts(&b, "]");
	return sbuf_steal(&b, &len);
}

/* Collects a location's call sites in the rollups (store_each_rollup_stack()). */
struct hist_calls {
	struct callsites_stack *v;
	size_t n, cap;
};

static int
on_rollup_stack(int64_t stack_id, double rise, void *arg)
{
	struct hist_calls *h = arg;

	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 8;
		h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	h->v[h->n++] = (struct callsites_stack){.stack_id = stack_id, .rise = llround(rise)};
	return 0;
}

/* The ignore rules over the call sites of candidate 'k' (location 'loc') in the rollups of the
 * window, as the raw ranking applies them (callsites_rule()): a stack's rise is its own over the
 * hours, as rollups.rise is the location's. Sets *drop; on a suspect, swaps the stack shown into
 * 'loc' and its id into *stack_id (0: the representative stands). 0, or -1 (logged). */
static int
hist_call_sites(struct hist_ctx *c, struct store *st, const struct hist_cand *k,
                struct store_location *loc, int64_t *stack_id, bool *drop)
{
	struct hist_calls h = {0};
	int best, ret = -1;

	*stack_id = 0;
	if (store_each_rollup_stack(st, k->service_id, k->location_id, c->since, c->until,
	                            on_rollup_stack, &h) != 0) {
		log_err("detect: call sites of location %lld in the rollups: %s",
		        (long long)k->location_id, store_errmsg(st));
		goto out_free;
	}
	if (h.n == 0) {
		/* nothing stored: the location's representative stack stands */
		*drop = detect_ignored(c->cfg, k->service, loc);
		ret = 0;
		goto out_free;
	}
	for (size_t i = 0; i < h.n; i++)
		if (store_stack_json(st, h.v[i].stack_id, &h.v[i].json) < 0)
			goto out_free;
	best = callsites_rule(c->cfg, k->service, loc, h.v, h.n, drop);
	if (best >= 0 && !*drop) {
		free(loc->stack_json);
		loc->stack_json = h.v[best].json;
		h.v[best].json = NULL;
		*stack_id = h.v[best].stack_id;
	}
	ret = 0;
out_free:
	for (size_t i = 0; i < h.n; i++)
		free(h.v[i].json);
	free(h.v);
	return ret;
}

/* Fold one candidate into the ranking. 0, or -1 (logged). */
static int
hist_merge_one(struct hist_ctx *c, struct store *st, struct hist_cand *k, struct ranking *r)
{
	struct store_location loc;
	struct suspect *s;
	int64_t stack_id;
	bool drop = false;
	int rc;

	for (size_t i = 0; i < r->n; i++) {
		char *more;

		s = &r->suspects[i];
		if (s->service_id != k->service_id || s->location_id != k->location_id)
			continue;
		more = hist_explain(k, s->explanation != NULL ? s->explanation : "", false);
		if (more == NULL)
			return -1;
		free(s->explanation);
		s->explanation = more;
		/* The trend over the whole window, not only its raw part. */
		more = hist_spark_json(k);
		if (more == NULL)
			return -1;
		free(s->sparkline_json);
		s->sparkline_json = more;
		if (!s->confirmed && k->score > s->score)
			s->score = fmin(1.0, k->score);
		return 0;
	}
	rc = store_location_get(st, k->location_id, &loc);
	if (rc < 0) {
		log_err("detect: location %lld: %s", (long long)k->location_id, store_errmsg(st));
		return -1;
	}
	if (rc > 0)
		return 0;
	/* The detector's own rules: blocking ops that can leak, and the ignore list over the
	 * location's call sites in the service. */
	if (!profile_op_may_leak(loc.op)) {
		store_location_release(&loc);
		return 0;
	}
	if (hist_call_sites(c, st, k, &loc, &stack_id, &drop) < 0 || drop) {
		store_location_release(&loc);
		return drop ? 0 : -1;
	}
	r->suspects = xrealloc(r->suspects, (r->n + 1) * sizeof(*r->suspects));
	s = &r->suspects[r->n];
	*s = (struct suspect){
	    .service_id = k->service_id,
	    .location_id = k->location_id,
	    .service = k->service,
	    .function = loc.function,
	    .file = loc.file,
	    .line = loc.line,
	    .op = loc.op,
	    .stack_json = loc.stack_json != NULL ? loc.stack_json : xstrdup("[]"),
	    .stack_id = stack_id,
	    .score = fmin(1.0, k->score),
	    .current_count = k->current,
	    .max_instance_count = k->max_count,
	    .instances_growing = k->instances,
	    .instances_total = k->instances_total,
	    .growth_per_hour = k->growth,
	    .monotonicity = fmin(1, fmax(0, k->mono)),
	    .fit = fmin(1, fmax(0, k->fit)),
	    .oldest_wait_minutes = -1,
	    .median_wait_minutes = -1,
	    .first_seen = loc.first_seen,
	    .explanation = hist_explain(k, "", true),
	    .sparkline_json = hist_spark_json(k),
	};
	k->service = NULL;
	r->n++;
	if (s->explanation == NULL || s->sparkline_json == NULL)
		return -1;
	return 0;
}

int
history_merge(struct store *st, const struct config *cfg, const char *service,
              uint64_t window_seconds, int64_t now_ms, struct ranking *r)
{
	uint64_t raw = cfg != NULL && cfg->retention_raw ? cfg->retention_raw : 48 * 3600;
	struct hist_ctx *c;
	int64_t since;
	int ret = -1;

	if (window_seconds <= raw)
		return 0;
	since = window_seconds >= (uint64_t)(now_ms / 1000)
	            ? 0
	            : now_ms - (int64_t)window_seconds * 1000;
	c = xcalloc(1, sizeof(*c));
	c->cfg = cfg;
	c->since = since;
	c->until = now_ms;
	c->min_count = cfg != NULL ? cfg->detector.min_count : 10;
	if (store_each_rollup(st, service, since, now_ms, on_hour, on_rollup, c) != 0) {
		log_err("detect: reading rollups: %s", store_errmsg(st));
		goto out_free;
	}
	hist_judge(c);
	if (c->ncands > 1)
		qsort(c->cands, c->ncands, sizeof(*c->cands), cmp_cand);
	for (size_t i = 0; i < c->ncands; i++)
		if (hist_merge_one(c, st, &c->cands[i], r) < 0)
			goto out_free;
	ret = 0;
out_free:
	for (size_t i = 0; i < c->ncands; i++)
		free(c->cands[i].service);
	free(c->cands);
	free(c->service);
	free(c->hours);
	free(c->mean);
	free(c->rise);
	free(c->sum);
	free(c->max);
	free(c->inst);
	free(c);
	return ret;
}
