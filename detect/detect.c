/* detect/detect.c: the leak detector. It walks the stored samples of a window once, ordered by
 * service, location, target and time, and judges each (service, location, op) by the evidence that
 * its blocked count keeps growing: a robust slope inside each process lifetime, the share of steps
 * that do not go down, how well a rising trend explains the series, whether the rise is kept (a
 * burst falls back, a leak does not), the spread over instances, the size, the wait ages of debug=2
 * detail scrapes, and goroutineleak confirmation. Memory is bounded by the per-target scrape lists
 * of the window plus one location's series at a time.
 *
 * How one (location, instance) series is judged:
 * - It is cut into process lifetimes where the ingest found a restart (scrapes.restart, one rule
 *   in storage/lifetime.c); absent from a successful scrape means 0.
 * - In each lifetime the segment since the count's last minimum is judged: growing when it rose
 *   in at least two steps spread over min_scrapes scrapes (2 x min_scrapes when it follows a flat
 *   stretch, the shape of a burst as much as of a late leak), its Theil-Sen slope is positive,
 *   Kendall's tau >= 0.5, >= 60% of steps do not go down, it kept >= half its rise, it has not
 *   stalled (flat after the last rise for 3x as long as it rose), and it did not already rise and
 *   fall back by half as much earlier in the lifetime (a burst).
 * - The instance is growing when its latest judgeable lifetime grows and so do most of its
 *   judged lifetimes, so growth survives restarts and a fix deployed by a restart ends it. The
 *   lifetime that follows a growing one is judged once it has min_scrapes scrapes and has lasted
 *   long enough to show DETECT_EXPECT_RISE goroutines at the rate the previous one grew, without
 *   rising half as much: until then it says nothing.
 *
 * Only live instances count: a target in the configuration or target files whose latest success
 * is at most DETECT_LIVE_INTERVALS usual intervals old (as of the newest scrape stored). Dead ones
 * stay in the history (the sparkline, the location page) but not in the current count, the
 * growing instances or the spread. When a service's instances were all replaced (a deploy, a
 * reschedule: new addresses), the replaced generation's verdict stands in for the new one on the
 * same terms as a restart's: until the new instances have lasted long enough to show the leak at
 * the rate it grew, and do not.
 *
 * A location ranks when it grows in an instance holding min_count there (or in the generation
 * it replaced), or holds min_count proven leaks.
 *
 * The score, in [0, 1], is documented at detect_score() below. */
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/sbuf.h"
#include "base/xalloc.h"
#include "collector/profile.h"
#include "detect/callsites.h"
#include "detect/detect.h"
#include "detect/history.h"
#include "detect/series.h"
#include "detect/window.h"
#include "detect/trend.h"
#include "base/log.h"
#include "storage/lifetime.h"
#include "storage/query.h"

/* Sparkline buckets over the window. */
#define DETECT_SPARK_POINTS 30
/* A ranking longer than this helps nobody. */
#define DETECT_MAX_SUSPECTS 1000
/* Below this a location that passed the minimums is still not listed. */
#define DETECT_MIN_SCORE 0.25
/* An instance is live while its latest success is at most this many usual intervals old (and
 * half an interval for jitter). */
#define DETECT_LIVE_INTERVALS 3
/* A lifetime after a growing one says something once the leak would have added this many
 * goroutines to it at the rate it grew before. */
#define DETECT_EXPECT_RISE 3
/* A rise after a quiet stretch must last half as long as the quiet, up to this (ms). */
#define DETECT_LATE_MS (30 * 60 * 1000LL)
/* Kendall's tau below this is not a rising trend. */
#define DETECT_MIN_FIT 0.5
/* Share of steps not going down. */
#define DETECT_MIN_MONO 0.6
/* Share of a lifetime's rise still there at its end. */
#define DETECT_MIN_RETAINED 0.5

struct svc {
	int64_t service_id;
	char *name;
	uint32_t instances; /* live targets with at least two scrapes in the window */
	uint32_t live;      /* live targets */
	uint32_t prevgen;   /* targets of the replaced generation with at least two scrapes */
	int64_t gen_start;  /* earliest start of a live target's current lifetime */
	int64_t live_ms;    /* longest current lifetime of a live target so far */
	size_t live_n;      /* most scrapes in a live target's current lifetime */
	int64_t first_ts, last_ts;
};

/* What one lifetime of one (location, target) series shows. */
struct life_stats {
	size_t n; /* scrapes in the lifetime (the rest describes the judged segment) */
	size_t steps, ups, downs;
	size_t first_up, last_up; /* indexes of the first and last up-step (valid when ups > 0) */
	uint64_t first, last, peak;
	double slope;    /* Theil-Sen, goroutines per hour */
	double tau;      /* Kendall's tau-b of count against time, [-1, 1] */
	double retained; /* (last - first) / (peak - first), 0 when it never rose */
	int64_t t0, t1;
	bool growing;
};

/* The growth evidence of a set of instances of one (service, location). */
struct growth {
	uint32_t growing;               /* targets judged growing */
	double w, fit_w, mono_w, ret_w; /* step-weighted sums over growing targets */
	double growth_per_hour;         /* sum of growing targets' slopes */
	uint64_t max_instance_count;    /* largest count in one instance in the window */
	uint64_t max_growing_count; /* largest count in one growing instance: what min_count is held
	                               against */
	uint64_t from_sum,
	    to_sum;          /* growing targets: start and end of their latest growing lifetime */
	int64_t grow_ms;     /* longest latest growing lifetime */
	uint32_t grow_lives; /* growing lifetimes over growing targets */
};

/* Evidence for one (service, location), summed over its targets. */
struct loc_acc {
	int64_t service_id;
	int64_t location_id;
	struct svc *svc;
	uint32_t seen;      /* live targets where it was ever non-zero */
	struct growth live; /* over live targets */
	struct growth gone; /* over the replaced generation (struct tgt prevgen) */
	bool stand_in;      /* ranked on the replaced generation's evidence (see growth_of()) */
	uint64_t live_rise; /* largest rise in a live target's current lifetime */
	double all_w, all_fit_w,
	    all_mono_w;       /* the same over every judgeable lifetime (for confirmed ones) */
	uint64_t current_sum; /* latest count of each live target */
	double max_share;     /* largest latest share of a live instance's goroutines */
	uint64_t leaked_max;
	bool confirmed;
	int32_t oldest_wait, median_wait;
	double spark[DETECT_SPARK_POINTS];
	bool valid;
	bool counted; /* it has count samples (not only debug=2 detail ones) */
	bool orphan;  /* detail samples only: ages for the counted location at the same place */
	bool dropped;
	struct store_location loc; /* looked up after the walk, for candidates */
	/* its call sites in this service (callsites.h): the stack shown and what it says */
	struct callsites_verdict calls;
};

/* The current (location, target) series being read. */
struct series {
	struct tgt *t;           /* NULL: no target yet */
	struct runs runs;        /* over the target's pts, read from samples; absent = 0 */
	struct runs view;        /* or borrowed from the window (window.h) */
	const struct runs *v;    /* which of the two */
	struct life_memos *memo; /* the window's memos of its lifetimes (NULL: none) */
	size_t cursor;           /* merge position in the target's pts */
	bool any;                /* a non-zero count sample was seen */
	uint64_t leaked;
	int64_t detail_ts; /* latest detail sample */
	int32_t detail_max, detail_median;
};

/* What one (location, instance) series says, kept until the location's last series is read:
 * whether its growth counts depends on the service's other instances too (see
 * location_verdicts()). */
struct verdict {
	bool live;         /* else the replaced generation (struct tgt prevgen) */
	bool growing;      /* by its own lifetimes */
	bool judged;       /* a lifetime of it was judged */
	int64_t age_ms;    /* of its current lifetime */
	uint64_t wmax;     /* largest count in the window */
	uint64_t fellback; /* largest fall-back inside one of its lifetimes */
	/* when growing: step-weighted sums over growing lifetimes and the latest growing one */
	double w, fit, mono, ret, slope;
	uint64_t from, to;
	int64_t grow_ms;
	uint32_t lives;
};

/* Where a target's scrapes fall in the sparkline's buckets (spark_map()). */
struct spark_map {
	uint32_t end[DETECT_SPARK_POINTS]; /* its scrapes up to the bucket's end */
	uint32_t on;                       /* bit b: bucket b holds its count */
	bool made;                         /* found (else the above are not yet) */
};

/* A series whose counts the sparkline has still to add: its target, and its runs. */
struct spark_src {
	const struct tgt *t;
	struct runs v;
};

struct detect_ctx {
	const struct config *cfg;
	int64_t since, now;
	int64_t ref;         /* what "recent" is measured from: now, or the newest scrape stored */
	int64_t interval_ms; /* the configured scrape interval, for targets with one scrape */
	unsigned min_scrapes;
	uint64_t min_count;
	struct pt *pts;
	size_t npts, cappts;
	struct tgt *tgts;
	size_t ntgts, captgts;
	struct spark_map *sparks; /* per target, aligned with tgts */
	/* the current location's series borrowed from the window, their sparkline counts added
	 * only when it is a candidate (cand_add()): most locations are not */
	struct spark_src *spark_srcs;
	size_t nspark_srcs, capspark_srcs;
	size_t *life_first; /* per target: its lifetimes' ends in life_ends */
	size_t *life_ends;  /* per lifetime of each target: the index after its last pt */
	struct svc *svcs;
	size_t nsvcs, capsvcs;
	size_t last_svc;
	struct loc_acc cur;
	struct series ser;
	struct loc_acc *cands; /* locations that passed the minimums */
	size_t ncands, capcands;
	struct verdict *verdicts; /* the current location's series */
	size_t nverdicts, capverdicts;
	struct verdict *plateaus; /* its non-growing ones (capverdicts long) */
	size_t nplateaus;
	struct callsites calls; /* the candidates' call sites */
	int err;
};

static void *
grow_array(void *p, size_t *cap, size_t need, size_t elem)
{
	return array_grow(p, cap, need, elem, 64);
}

static int
cmp_tgt(const void *a, const void *b)
{
	const struct tgt *x = a, *y = b;

	return (x->target_id > y->target_id) - (x->target_id < y->target_id);
}

static struct tgt *
find_tgt(struct detect_ctx *c, int64_t target_id)
{
	struct tgt key = {.target_id = target_id};

	/* No scrape in the window leaves no array (bsearch(NULL, 0) is undefined). */
	if (c->ntgts == 0)
		return NULL;
	return bsearch(&key, c->tgts, c->ntgts, sizeof(*c->tgts), cmp_tgt);
}

/* Rows arrive grouped by service, so the last one found is almost always the one wanted. */
static struct svc *
find_svc(struct detect_ctx *c, int64_t service_id)
{
	if (c->last_svc < c->nsvcs && c->svcs[c->last_svc].service_id == service_id)
		return &c->svcs[c->last_svc];
	for (size_t i = 0; i < c->nsvcs; i++) {
		if (c->svcs[i].service_id == service_id) {
			c->last_svc = i;
			return &c->svcs[i];
		}
	}
	return NULL;
}

/* ---- pass 1: the scrapes of the window, per target ---- */

static int
on_scrape(const struct store_scrape *s, void *arg)
{
	struct detect_ctx *c = arg;
	struct tgt *t;
	void *p;

	if (s->ts > c->now)
		return 0;
	t = c->ntgts ? &c->tgts[c->ntgts - 1] : NULL;
	if (!t || t->target_id != s->target_id) {
		p = grow_array(c->tgts, &c->captgts, c->ntgts + 1, sizeof(*c->tgts));
		if (!p)
			return -1;
		c->tgts = p;
		t = &c->tgts[c->ntgts++];
		*t = (struct tgt){
		    .target_id = s->target_id, .service_id = s->service_id, .first = c->npts};
		if (!find_svc(c, s->service_id)) {
			p = grow_array(c->svcs, &c->capsvcs, c->nsvcs + 1, sizeof(*c->svcs));
			if (!p)
				return -1;
			c->svcs = p;
			c->svcs[c->nsvcs] = (struct svc){.service_id = s->service_id,
			                                 .name = strdup(s->service),
			                                 .first_ts = s->ts,
			                                 .last_ts = s->ts};
			if (!c->svcs[c->nsvcs].name)
				return -1;
			c->nsvcs++;
		}
	}
	p = grow_array(c->pts, &c->cappts, c->npts + 1, sizeof(*c->pts));
	if (!p)
		return -1;
	c->pts = p;
	c->pts[c->npts++] = (struct pt){
	    .scrape_id = s->scrape_id,
	    .ts = s->ts,
	    .total = s->total_goroutines > UINT32_MAX ? UINT32_MAX : (uint32_t)s->total_goroutines,
	    .restart = s->restart};
	t->n++;
	t->active = s->target_active;
	return 0;
}

static int
life_end_add(struct detect_ctx *c, size_t *n, size_t *cap, size_t end)
{
	void *p = grow_array(c->life_ends, cap, *n + 1, sizeof(*c->life_ends));

	if (!p)
		return -1;
	c->life_ends = p;
	c->life_ends[(*n)++] = end;
	return 0;
}

/* A target of the window kept between rankings (window.h), with its scrapes: what on_scrape()
 * makes of them one by one, the scrapes borrowed from the window. */
static int
on_window_target(const struct window_target *wt, void *arg)
{
	struct detect_ctx *c = arg;
	struct tgt *t;
	void *p = grow_array(c->tgts, &c->captgts, c->ntgts + 1, sizeof(*c->tgts));

	if (!p)
		return -1;
	c->tgts = p;
	t = &c->tgts[c->ntgts++];
	*t = (struct tgt){.target_id = wt->target_id,
	                  .service_id = wt->service_id,
	                  .p = wt->pts,
	                  .n = wt->n,
	                  .active = wt->active,
	                  .restarts = wt->restarts,
	                  .nrestarts = wt->nrestarts,
	                  .has_restarts = true,
	                  .med = wt->med,
	                  .has_med = wt->has_med};
	c->npts += wt->n;
	if (!find_svc(c, wt->service_id)) {
		p = grow_array(c->svcs, &c->capsvcs, c->nsvcs + 1, sizeof(*c->svcs));
		if (!p)
			return -1;
		c->svcs = p;
		c->svcs[c->nsvcs] = (struct svc){.service_id = wt->service_id,
		                                 .name = strdup(wt->service),
		                                 .first_ts = wt->pts[0].ts,
		                                 .last_ts = wt->pts[0].ts};
		if (!c->svcs[c->nsvcs].name)
			return -1;
		c->nsvcs++;
	}
	return 0;
}

/* Split each target's scrapes into the process lifetimes the ingest stored, and tell the live
 * instances from the dead: live while in the configuration and succeeding recently, as of c->ref
 * (within DETECT_LIVE_INTERVALS of its usual interval: the median in the window, else the
 * configured one). Then per service: where its live instances' current lifetimes began and how
 * long they have lasted, and which dead instances are the generation they replaced (gone since the
 * earliest of them came up). */
static int
split_lifetimes(struct detect_ctx *c)
{
	double *dts = NULL;
	size_t capdts = 0, nends = 0, capends = 0;

	c->life_first = calloc(c->ntgts ? c->ntgts : 1, sizeof(*c->life_first));
	if (!c->life_first)
		return -1;

	for (size_t i = 0; i < c->nsvcs; i++)
		c->svcs[i].gen_start = INT64_MAX;
	for (size_t i = 0; i < c->ntgts; i++) {
		struct tgt *t = &c->tgts[i];
		const struct pt *p = t->p;
		struct svc *s = find_svc(c, t->service_id);
		double med = (double)c->interval_ms;
		uint32_t life = 0;

		if (s) {
			if (p[0].ts < s->first_ts)
				s->first_ts = p[0].ts;
			if (t->n && p[t->n - 1].ts > s->last_ts)
				s->last_ts = p[t->n - 1].ts;
		}
		if (t->n >= 2 && t->has_med) {
			med = t->med;
		} else if (t->n >= 2) {
			void *np = grow_array(dts, &capdts, t->n, sizeof(*dts));

			if (np) {
				dts = np;
				for (size_t j = 1; j < t->n; j++)
					dts[j - 1] = (double)(p[j].ts - p[j - 1].ts);
				med = trend_kth_smallest(dts, t->n - 1, (t->n - 1) / 2);
			}
		}
		t->cur = 0;
		c->life_first[i] = nends;
		for (size_t k = 0, j; k < (t->has_restarts ? t->nrestarts : t->n); k++) {
			j = t->has_restarts ? t->restarts[k] : k;
			if (j > 0 && j < t->n && (t->has_restarts || p[j].restart)) {
				if (life_end_add(c, &nends, &capends, j) < 0)
					goto nomem;
				life++;
				t->cur = j;
			}
		}
		if (life_end_add(c, &nends, &capends, t->n) < 0)
			goto nomem;
		t->nlives = t->n ? life + 1 : 0;
		t->live = t->active && t->n > 0 &&
		          (double)(c->ref - p[t->n - 1].ts) <= med * (DETECT_LIVE_INTERVALS + 0.5);
		if (!s || !t->live)
			continue;
		s->live++;
		if (t->n >= 2)
			s->instances++;
		if (p[t->cur].ts < s->gen_start)
			s->gen_start = p[t->cur].ts;
		if (p[t->n - 1].ts - p[t->cur].ts > s->live_ms)
			s->live_ms = p[t->n - 1].ts - p[t->cur].ts;
		if (t->n - t->cur > s->live_n)
			s->live_n = t->n - t->cur;
	}
	for (size_t i = 0; i < c->ntgts; i++) {
		struct tgt *t = &c->tgts[i];
		struct svc *s = find_svc(c, t->service_id);

		t->prevgen =
		    s && !t->live && s->live > 0 && t->n > 0 &&
		    t->p[t->n - 1].ts >= s->gen_start - DETECT_LIVE_INTERVALS * c->interval_ms;
		if (t->prevgen && t->n >= 2)
			s->prevgen++;
	}
	free(dts);
	return 0;
nomem:
	free(dts);
	return -1;
}

/* ---- statistics of one lifetime ---- */

/* Theil-Sen slope and Kendall's tau-b (detect/trend.h) of the counts of the scrapes [s0, end)
 * against time; run k0 holds scrape s0. */
static void
trend(const struct pt *p, const struct runs *v, size_t s0, size_t k0, size_t end, double *slope,
      double *tau)
{
	size_t idx[TREND_MAX_POINTS], m = trend_pick(end - s0, idx);
	struct runs_cursor rc = {.v = v, .k = k0};
	int64_t t[TREND_MAX_POINTS];
	double y[TREND_MAX_POINTS];

	for (size_t i = 0; i < m; i++) {
		t[i] = p[s0 + idx[i]].ts;
		y[i] = (double)runs_at(&rc, s0 + idx[i]);
	}
	trend_fit(t, y, m, slope, tau);
}

/* What the segment [s0, end) of a lifetime says that does not depend on where the lifetime
 * starts: a series' runs [k0, kb] hold it, k0 holding the lifetime's last minimum. */
static void
segment_sum(const struct pt *p, const struct runs *v, size_t s0, size_t end, size_t k0, size_t kb,
            struct life_cut *sg)
{
	struct runs_sum seg;

	runs_sum(v, k0, kb, &seg);
	*sg = (struct life_cut){.ups = (uint32_t)seg.ups,
	                        .downs = (uint32_t)seg.downs,
	                        .first = v->r[k0].v,
	                        .last = v->r[kb].v,
	                        .peak = seg.max,
	                        .drop = seg.drop,
	                        .t0 = p[s0].ts,
	                        .t1 = p[end - 1].ts};
	if (seg.ups) {
		sg->first_up = (uint32_t)(runs_start(v, seg.first_up) - s0);
		sg->last_up = (uint32_t)(runs_start(v, seg.last_up) - s0);
	}
	if (end - s0 >= 2 && seg.ups)
		trend(p, v, s0, k0, end, &sg->slope, &sg->tau);
}

/* Judge the lifetime [start, end) of a series over the target's scrapes 'p': the segment since
 * its last minimum (which scrape s0 ends) says 'sg', and the largest fall-back before it is
 * 'fellback'. */
static void
life_judge(struct detect_ctx *c, const struct pt *p, size_t start, size_t end, size_t s0,
           const struct life_cut *sg, uint64_t fellback, struct life_stats *ls)
{
	size_t n = end - s0;
	int64_t late_ms;

	memset(ls, 0, sizeof(*ls));
	ls->n = end - start;
	/* The segment judged is the stretch since the lifetime's last minimum: a leak that starts
	 * mid-lifetime after a long flat stretch is judged on its rise, not drowned in the flat
	 * pairs. What came before it only says whether this location already rose and fell back in
	 * this lifetime (a burst does, a leak cannot). */
	late_ms = (sg->t0 - p[start].ts) / 2;
	if (late_ms > DETECT_LATE_MS)
		late_ms = DETECT_LATE_MS;
	/* A rise after a flat stretch (at least min_scrapes long, and longer than the rise so far)
	 * has the shape of a burst as much as of a leak that started late: it must persist twice as
	 * long before it counts, and for half the flat stretch (at most DETECT_LATE_MS): slow
	 * requests pile up for minutes after a quiet hour, a leak keeps going. */
	bool late = s0 - start >= c->min_scrapes && s0 - start >= n;
	ls->first = sg->first;
	ls->peak = sg->peak;
	ls->t0 = sg->t0;
	ls->t1 = sg->t1;
	ls->steps = n - 1;
	ls->ups = sg->ups;
	ls->downs = sg->downs;
	if (sg->ups) {
		ls->first_up = sg->first_up;
		ls->last_up = sg->last_up;
	}
	ls->last = sg->last;
	if (ls->peak > ls->first && ls->last > ls->first)
		ls->retained = (double)(ls->last - ls->first) / (double)(ls->peak - ls->first);
	if (n < 2 || ls->ups == 0)
		return;
	ls->slope = sg->slope;
	ls->tau = sg->tau;

	/* Growth over at least min_scrapes scrapes: the up-steps must spread over that many scrapes
	 * (a burst that arrives in one scrape is one step, however tall), and it must not have
	 * stalled: a flat stretch after the last rise three times longer than the stretch that rose
	 * means the growth stopped (a start-up pool); a leak that pauses overnight after growing
	 * all day is still growing. A rise no taller than twice what already fell back earlier in
	 * the lifetime is the next burst, not a leak (location_verdicts() looks at the other
	 * instances). */
	size_t span = ls->last_up - ls->first_up + 2;
	size_t since_up = n - 1 - ls->last_up;
	bool stalled = since_up > c->min_scrapes && since_up > 3 * (ls->last_up - ls->first_up + 1);
	bool burst = fellback >= 2 && (double)fellback * 2 >= (double)(ls->last - ls->first);
	double mono = trend_mono(ls->steps, ls->downs);

	ls->growing = ls->ups >= 2 && span >= (late ? 2 * c->min_scrapes : c->min_scrapes) &&
	              (!late || ls->t1 - ls->t0 >= late_ms) && ls->last > ls->first &&
	              ls->slope > 0 && ls->tau >= DETECT_MIN_FIT && mono >= DETECT_MIN_MONO &&
	              ls->retained >= DETECT_MIN_RETAINED && !stalled && !burst;
}

/* ---- pass 2: samples, one (location, target) series at a time ---- */

/* Where target 't''s scrapes fall in its service's sparkline buckets, found once per ranking,
 * when a sparkline first needs them: each bucket holds the target's count at the end of the
 * bucket (service total = sum over targets), carried over buckets without a scrape, but not past
 * the target's last scrape (it went away). A series then adds its counts in DETECT_SPARK_POINTS
 * steps, not one per scrape. */
static const struct spark_map *
spark_map(struct detect_ctx *c, const struct tgt *t)
{
	struct spark_map *m = &c->sparks[t - c->tgts];
	const struct pt *p = t->p;
	const struct svc *s;
	size_t j = 0;
	int64_t width;

	if (m->made)
		return m;
	m->made = true;
	s = find_svc(c, t->service_id);
	if (!s || s->last_ts <= s->first_ts)
		return m;
	width = (s->last_ts - s->first_ts) / DETECT_SPARK_POINTS + 1;
	for (size_t b = 0; b < DETECT_SPARK_POINTS; b++) {
		int64_t end = s->first_ts + (int64_t)((double)(s->last_ts - s->first_ts) *
		                                      (double)(b + 1) / DETECT_SPARK_POINTS);
		size_t from = j, hi = t->n;

		/* the first scrape after the bucket's end */
		while (j < hi) {
			size_t mid = j + (hi - j) / 2;

			if (p[mid].ts <= end)
				j = mid + 1;
			else
				hi = mid;
		}
		bool any = j > from;

		m->end[b] = (uint32_t)j;
		if (any || (j > 0 && (j < t->n || end - p[t->n - 1].ts <= width)))
			m->on |= 1u << b;
	}
	return m;
}

/* Add the counts of series 'v' of target 't' to the current location's sparkline. */
static void
spark_add(struct detect_ctx *c, const struct tgt *t, const struct runs *v)
{
	const struct spark_map *m = spark_map(c, t);
	struct runs_cursor rc = {.v = v};

	for (size_t b = 0; b < DETECT_SPARK_POINTS; b++)
		if (m->on & (1u << b))
			c->cur.spark[b] += (double)runs_at(&rc, m->end[b] - 1);
}

/* Whether the lifetime just after a growing one (slope 'prev_slope' per hour) says anything yet:
 * it has min_scrapes scrapes and has lasted long enough that the leak, at that rate, would have
 * added DETECT_EXPECT_RISE goroutines, and it rose less than half that. Until then a restart (or
 * a replacement) leaves the growing verdict standing; a fix deployed by one ends it as soon as the
 * fixed process has had the time to show the leak and did not. */
static bool
after_growth_conclusive(const struct detect_ctx *c, double prev_slope, size_t n, int64_t ms,
                        uint64_t rise)
{
	double expected = prev_slope * (double)ms / 3600000.0;

	return n >= c->min_scrapes && expected >= DETECT_EXPECT_RISE && (double)rise * 2 < expected;
}

/* Whether the scrapes [cur, n) of one lifetime of a series end in a young pile-up: the
 * location was absent for LIFETIME_COLLAPSE_HELD scrapes in a row of the lifetime, then held
 * goroutines in every scrape since, fewer than LIFETIME_COLLAPSE_HELD of them. That is how a
 * downstream outage starts, blocking the handlers of long-running processes at once, to release
 * them minutes later, whatever the interval. A leak that begins mid-life counts once it has piled
 * up for longer; the leak of a new process starts with it, with no absence before. */
static bool
pileup_young(const struct runs *v, size_t cur, size_t n)
{
	size_t k = n, zeros = 0, from, to, r;

	if (n <= cur)
		return false;
	r = runs_find(v, n - 1);
	/* back over the counts held since the last absence, then over the absence */
	for (;; r--) {
		if (!runs_span(v, r, cur, n, &from, &to) || v->r[r].v == 0)
			break;
		k = from;
		if (n - k >= LIFETIME_COLLAPSE_HELD)
			return false; /* held too long to be young: no need to look further back */
		if (r == 0)
			break;
	}
	if (k == n)
		return false;
	for (;; r--) {
		if (!runs_span(v, r, cur, k, &from, &to) || v->r[r].v != 0)
			break;
		zeros += to - from;
		if (r == 0 || zeros >= LIFETIME_COLLAPSE_HELD)
			break;
	}
	return zeros >= LIFETIME_COLLAPSE_HELD;
}

/* Which of the 'n' lifetime ends is the first past scrape 'j': that of the lifetime holding it. */
static size_t
life_end_index(const size_t *ends, size_t n, size_t j)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ends[mid] <= j)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* What the detector made of one lifetime of a series. */
struct life_result {
	uint32_t steps, downs;   /* of the segment judged (since the lifetime's last minimum) */
	uint32_t first, last;    /* the segment's first and last count */
	uint32_t drop, min, max; /* the lifetime's largest fall-back, least and greatest count */
	bool growing;
	double slope, tau, retained;
	int64_t grow_ms; /* the segment's length */
};

/* A lifetime the window's start cuts is kept (struct life_cut) when its runs are at least this
 * many: judging fewer costs less than keeping them. */
#define LIFE_CUT_MIN_RUNS 8

/* Where the first lifetime of series 'v', ended by the restart at scrape 'outer', ends: where
 * what the window kept of it ('cut', NULL: nothing) says, or runs_reset(). What a reset found then
 * says holds while the window's start stays LIFETIME_COLLAPSE_HELD scrapes or more before it: no
 * fall before it counted from an earlier start, and none counts from a later one. */
static size_t
cut_end(const struct runs *v, const struct life_cut *cut, size_t outer)
{
	if (cut && cut->outer == v->base + outer && cut->from <= v->base &&
	    (cut->end == cut->outer ||
	     (uint64_t)cut->end >= (uint64_t)v->base + LIFETIME_COLLAPSE_HELD))
		return cut->end - v->base;
	return runs_reset(v, 0, outer);
}

/* What runs [ka, k0] of a series hold (ka < k0: the stretch before a lifetime's last minimum):
 * the runs since the start of k0's block are also kept in 'cut' (NULL: nothing kept), when the
 * stretch holds more. */
static void
pre_sum(const struct runs *v, size_t ka, size_t k0, struct life_cut *cut, struct runs_sum *pre)
{
	size_t back = v->blocks ? (k0 + v->off) % RUNS_BLOCK : k0, kt = k0 - back;
	struct runs_sum tail;

	if (!cut || back >= k0 - ka) {
		runs_sum(v, ka, k0, pre);
		return;
	}
	runs_sum(v, kt, k0, &tail);
	cut->tail_at = v->r[kt].at;
	cut->tail_runs = (uint32_t)(k0 - kt + 1);
	cut->tail_max = tail.max;
	cut->tail_drop = tail.drop;
	runs_sum_tail(v, ka, kt,
	              &(struct runs_block){.max = tail.max, .min = tail.min, .drop = tail.drop},
	              pre);
}

/* What the lifetime [start, end) of series 'v' says: life_judge() and pileup_young(), and the
 * lifetime's largest fall-back, least and greatest count. 'cut': what the window keeps of a
 * lifetime its start cuts (NULL: none kept), used and kept up to date. -1 out of memory. */
static int
life_eval(struct detect_ctx *c, const struct pt *p, const struct runs *v, size_t start, size_t end,
          size_t outer, struct life_cut **cut, struct life_result *lr)
{
	size_t ka = runs_find(v, start), kb, k0, s0, from, to;
	uint32_t at = v->base + (uint32_t)start, ends = v->base + (uint32_t)end;
	struct runs_sum all, pre;
	struct life_cut seg, *sg = &seg;
	struct life_stats ls;
	uint64_t fellback = 0;

	if (cut && *cut && (*cut)->end == ends && (*cut)->from <= at && at <= (*cut)->s0) {
		/* the least count is where it was, and the segment since as it was */
		sg = *cut;
		s0 = sg->s0 - v->base;
		k0 = runs_find(v, s0);
		all = (struct runs_sum){.max = sg->peak, .min = sg->first, .drop = sg->drop};
		if (k0 > ka) {
			size_t kt = k0 + 1 - sg->tail_runs;

			/* read up to the runs kept, when the start has not reached them */
			if (sg->tail_runs > 0 && sg->tail_runs <= k0 && kt > ka &&
			    v->r[kt].at == sg->tail_at)
				runs_sum_tail(v, ka, kt,
				              &(struct runs_block){.max = sg->tail_max,
				                                   .min = sg->first,
				                                   .drop = sg->tail_drop},
				              &pre);
			else
				runs_sum(v, ka, k0, &pre);
			if (pre.max > all.max)
				all.max = pre.max;
			if (pre.drop > all.drop)
				all.drop = pre.drop;
		}
	} else {
		kb = runs_find(v, end - 1);
		runs_sum(v, ka, kb, &all);
		k0 = all.minlast;
		(void)runs_span(v, k0, start, end, &from, &to);
		s0 = to - 1;
		segment_sum(p, v, s0, end, k0, kb, &seg);
		if (cut && kb - ka + 1 >= LIFE_CUT_MIN_RUNS) {
			if (!*cut && !(*cut = malloc(sizeof(**cut))))
				return -1;
			**cut = seg;
			(*cut)->from = at;
			(*cut)->s0 = v->base + (uint32_t)s0;
			(*cut)->end = ends;
			(*cut)->outer = v->base + (uint32_t)outer;
			sg = *cut;
		}
		if (k0 > ka)
			pre_sum(v, ka, k0, sg != &seg ? sg : NULL, &pre);
	}
	if (k0 > ka)
		fellback = pre.drop;
	life_judge(c, p, start, end, s0, sg, fellback, &ls);
	*lr = (struct life_result){.steps = (uint32_t)ls.steps,
	                           .downs = (uint32_t)ls.downs,
	                           .first = (uint32_t)ls.first,
	                           .last = (uint32_t)ls.last,
	                           .drop = all.drop,
	                           .min = all.min,
	                           .max = all.max,
	                           /* not yet, whatever life_judge() says */
	                           .growing = ls.growing && !pileup_young(v, start, end),
	                           .slope = ls.slope,
	                           .tau = ls.tau,
	                           .retained = ls.retained,
	                           .grow_ms = ls.t1 - ls.t0};
	return 0;
}

/* Lifetime 'lr', of 'n' scrapes, joins the sums 's' of the lifetimes before it in its series
 * (n 0: it is not judged yet). */
static void
life_sums_add(const struct detect_ctx *c, struct life_sums *s, const struct life_result *lr,
              size_t n)
{
	double lw, lmono, lt;

	if (lr->drop > s->fellback)
		s->fellback = lr->drop;
	if (lr->max > s->wmax)
		s->wmax = lr->max;
	if (n < c->min_scrapes)
		return;
	lw = (double)(n - 1);
	lmono = lr->steps ? (double)(lr->steps - lr->downs) / (double)lr->steps : 1;
	lt = lr->tau > 0 ? lr->tau : 0;
	s->judged_w += lw;
	s->all_fit += lw * lt;
	s->all_mono += lw * lmono;
	s->judged = true;
	s->grows = lr->growing;
	if (!lr->growing)
		return;
	s->grow_w += lw;
	s->fit += lw * lt;
	s->mono += lw * lmono;
	s->ret += lw * lr->retained;
	s->slope += lw * lr->slope;
	s->g_slope = lr->slope;
	s->g_ms = lr->grow_ms;
	s->g_first = lr->first;
	s->g_last = lr->last;
	s->lives++;
}

/* The sums 'g' of the lifetimes that follow those summed in 's' join them. */
static void
life_sums_merge(struct life_sums *s, const struct life_sums *g)
{
	s->judged_w += g->judged_w;
	s->all_fit += g->all_fit;
	s->all_mono += g->all_mono;
	s->grow_w += g->grow_w;
	s->fit += g->fit;
	s->mono += g->mono;
	s->ret += g->ret;
	s->slope += g->slope;
	if (g->fellback > s->fellback)
		s->fellback = g->fellback;
	if (g->wmax > s->wmax)
		s->wmax = g->wmax;
	if (g->judged) {
		s->judged = true;
		s->grows = g->grows;
	}
	if (g->lives) {
		s->g_slope = g->g_slope;
		s->g_ms = g->g_ms;
		s->g_first = g->g_first;
		s->g_last = g->g_last;
		s->lives += g->lives;
	}
}

/* Sum into 'g' the lifetimes of the current series that ended inside the window after its first
 * one: they tile its scrapes [from, t->cur), t's lifetimes ending at 'life_end'. The window keeps
 * the sum (struct life_fold): it is taken as kept while it starts at 'from' and was made with
 * the same restarts and min_scrapes, and the lifetimes that ended since are added to it. The
 * ranking from the store sums the same lifetimes apart and in the same order, so both add the
 * same numbers the same way. -1 out of memory. */
static int
ended_sums(struct detect_ctx *c, const struct tgt *t, const size_t *life_end, size_t from,
           struct life_sums *g)
{
	const struct runs *v = c->ser.v;
	struct life_fold *f = c->ser.memo ? c->ser.memo->fold : NULL;
	size_t i = life_end_index(life_end, t->nlives, from), start;
	uint64_t h;

	start = life_fold_resume(f, v->base, from, t->cur, c->min_scrapes, life_end + i,
	                         t->nlives - i, &h);
	*g = start > from ? f->s : (struct life_sums){0};
	if (start == t->cur)
		return 0; /* nothing ended since */
	i = life_end_index(life_end, t->nlives, start);
	while (start < t->cur) {
		size_t outer = life_end[i], end = runs_reset(v, start, outer);
		struct life_result lr;

		if (life_eval(c, t->p, v, start, end, outer, NULL, &lr) < 0)
			return -1;
		life_sums_add(c, g, &lr, end - start);
		if (end == outer) {
			h = life_fold_hash(h, v->base + (uint32_t)outer);
			i++;
		}
		start = end;
	}
	if (!c->ser.memo)
		return 0;
	if (!f && !(f = c->ser.memo->fold = malloc(sizeof(*f))))
		return -1;
	*f = (struct life_fold){.from = v->base + (uint32_t)from,
	                        .to = v->base + (uint32_t)t->cur,
	                        .min_scrapes = c->min_scrapes,
	                        .ends = h,
	                        .s = *g};
	return 0;
}

/* The sums of every lifetime of the current series when it held one count 'x' over the whole
 * window, as most series do (pools, watchers): what life_eval() says of each is then that it
 * held x for its length, and nothing else (no step, no fall, no reset cutting it). Summed as
 * series_finish() sums them: the first lifetime, the sum of those that ended after it, and the
 * current one. */
static void
flat_sums(const struct detect_ctx *c, const struct tgt *t, const size_t *life_end, uint32_t x,
          struct life_sums *s)
{
	const struct life_result lr = {.first = x, .last = x, .min = x, .max = x};
	struct life_sums ended = {0};
	size_t start = 0;

	for (size_t i = 0; i < t->nlives; i++) {
		bool in_ended = start > 0 && start < t->cur;

		life_sums_add(c, in_ended ? &ended : s, &lr, life_end[i] - start);
		start = life_end[i];
		if (in_ended && start == t->cur)
			life_sums_merge(s, &ended);
	}
}

static void
series_finish(struct detect_ctx *c)
{
	struct tgt *t = c->ser.t;
	struct loc_acc *a = &c->cur;
	struct verdict vd = {0};
	const struct pt *p;
	const struct runs *v = c->ser.v;
	const size_t *life_end;
	struct life_sums sums = {0};
	uint32_t live_lo = UINT32_MAX;
	size_t start = 0;
	void *np;

	if (!t)
		return;
	c->ser.t = NULL;
	if (!c->ser.any && !c->ser.leaked && !c->ser.detail_ts)
		return;
	p = t->p;
	life_end = &c->life_ends[c->life_first[t - c->tgts]];
	if (v == &c->ser.runs && runs_end(&c->ser.runs, t->n) < 0) {
		c->err = -1;
		return;
	}
	if (v == &c->ser.view) {
		/* borrowed from the window until the ranking ends: added if a candidate */
		np = grow_array(c->spark_srcs, &c->capspark_srcs, c->nspark_srcs + 1,
		                sizeof(*c->spark_srcs));
		if (!np) {
			c->err = -1;
			return;
		}
		c->spark_srcs = np;
		c->spark_srcs[c->nspark_srcs++] = (struct spark_src){.t = t, .v = *v};
	} else {
		spark_add(c, t, v);
	}
	if (!t->live && !t->prevgen)
		return; /* history only */
	vd.live = t->live;
	if (t->live) {
		uint64_t last = v->r[v->n - 1].v;

		a->seen++;
		if (c->ser.any)
			a->counted = true;
		if (c->ser.leaked) {
			a->confirmed = true;
			if (c->ser.leaked > a->leaked_max)
				a->leaked_max = c->ser.leaked;
		}
		a->current_sum += last;
		if (p[t->n - 1].total && (double)last / (double)p[t->n - 1].total > a->max_share)
			a->max_share = (double)last / (double)p[t->n - 1].total;
	}

	/* Judge each lifetime; a lifetime too short to judge (the one that just started) gives no
	 * evidence, nor does the current one while it cannot yet tell a fix from the leak. A
	 * location that falls to near 0 after holding for long (runs_reset()) was reset by a
	 * restart that nothing else showed (the pools refilled at once, so the total did not
	 * collapse, and neither a connection nor goroutine ids told): judged apart, its fall is not
	 * a burst falling back. What a burst or a downstream outage piles up drains as steeply, but
	 * piled up for minutes, not for the process's life. The lifetimes that ended after the
	 * first one are summed apart (ended_sums()): the window keeps their sum. */
	if (v->n == 1) {
		flat_sums(c, t, life_end, v->r[0].v, &sums);
		live_lo = v->r[0].v;
		start = t->n;
	}
	while (start < t->n) {
		size_t outer, end, n;
		struct life_result lr;
		struct life_cut **cut;

		if (start > 0 && start < t->cur) {
			struct life_sums ended;

			if (ended_sums(c, t, life_end, start, &ended) < 0) {
				c->err = -1;
				return;
			}
			life_sums_merge(&sums, &ended);
			start = t->cur;
			continue;
		}
		outer = life_end[life_end_index(life_end, t->nlives, start)];
		/* the first lifetime, when it ended: the window keeps what its start does not
		 * change */
		cut = c->ser.memo && start == 0 && outer < t->n ? &c->ser.memo->cut : NULL;
		end = cut ? cut_end(v, *cut, outer) : runs_reset(v, start, outer);
		if (life_eval(c, p, v, start, end, outer, cut, &lr) < 0) {
			c->err = -1;
			return;
		}
		n = end - start;
		if (start >= t->cur && lr.min < live_lo)
			live_lo = lr.min; /* the current lifetime */
		if (n >= c->min_scrapes && end == t->n && sums.grows && !lr.growing &&
		    !after_growth_conclusive(c, sums.g_slope, n, p[end - 1].ts - p[start].ts,
		                             lr.last - lr.min))
			n = 0;
		life_sums_add(c, &sums, &lr, n);
		start = end;
	}
	vd.fellback = sums.fellback;
	vd.wmax = sums.wmax;
	vd.judged = sums.judged;
	if (t->live) {
		a->all_w += sums.judged_w;
		a->all_fit_w += sums.all_fit;
		a->all_mono_w += sums.all_mono;
	}
	if (sums.lives) {
		vd.w = sums.grow_w;
		vd.fit = sums.fit;
		vd.mono = sums.mono;
		vd.ret = sums.ret;
		vd.slope = sums.slope;
		vd.lives = sums.lives;
		vd.from = sums.g_first;
		vd.to = sums.g_last;
		vd.grow_ms = sums.g_ms;
	}
	if (t->live && v->r[v->n - 1].v - live_lo > a->live_rise)
		a->live_rise = v->r[v->n - 1].v - live_lo;
	/* Growth must survive restarts: the latest judgeable lifetime grows, and so do most of the
	 * judged ones. */
	vd.growing = sums.grows && sums.grow_w * 2 >= sums.judged_w && vd.w > 0;
	vd.age_ms = t->n ? p[t->n - 1].ts - p[t->cur].ts : 0;
	if (c->nverdicts == c->capverdicts) {
		size_t cap = c->capverdicts;

		np = grow_array(c->verdicts, &cap, c->nverdicts + 1, sizeof(*c->verdicts));
		if (np)
			c->verdicts = np;
		np = np ? realloc(c->plateaus, cap * sizeof(*c->plateaus)) : NULL;
		if (!np) {
			c->err = -1;
			return;
		}
		c->plateaus = np;
		c->capverdicts = cap;
	}
	c->verdicts[c->nverdicts++] = vd;
	/* Ages from the latest detail scrape, if it belongs to the current lifetime. */
	if (t->live && c->ser.detail_ts && t->n && c->ser.detail_ts >= p[t->cur].ts) {
		if (c->ser.detail_max > a->oldest_wait)
			a->oldest_wait = c->ser.detail_max;
		if (c->ser.detail_median > a->median_wait)
			a->median_wait = c->ser.detail_median;
	}
}

/* Whether a growing series' growth counts, in the light of the service's other instances:
 * - a rise no taller than twice what the location fell back by inside a lifetime in two
 *   instances is the next burst (slow requests, an outage: they come and go everywhere);
 * - a rise to no higher than where the location stays, not growing, in an instance whose
 *   current lifetime is older than the rise is warming up (a pool filling after a start, an
 *   elastic pool, a jittering level): a leak grows in the older instances too, or is absent
 *   from them.
 * Then the evidence is summed, over the live instances and over the replaced generation. */
static int
cmp_plateau_age_desc(const void *x, const void *y)
{
	const struct verdict *a = x, *b = y;

	return (a->age_ms < b->age_ms) - (a->age_ms > b->age_ms);
}

/* The highest level a non-growing instance whose current lifetime is older than 'ms' holds:
 * c->plateaus holds them by age, oldest first, with wmax made a running maximum. */
static uint64_t
plateau_older_than(const struct detect_ctx *c, int64_t ms)
{
	size_t lo = 0, hi = c->nplateaus;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->plateaus[mid].age_ms > ms)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? c->plateaus[lo - 1].wmax : 0;
}

static void
location_verdicts(struct detect_ctx *c)
{
	struct loc_acc *a = &c->cur;
	uint64_t fb1 = 0, fb2 = 0; /* the two largest fall-backs */
	bool any_growing = false;

	c->nplateaus = 0;
	for (size_t i = 0; i < c->nverdicts; i++) {
		const struct verdict *vd = &c->verdicts[i];

		if (vd->fellback > fb1) {
			fb2 = fb1;
			fb1 = vd->fellback;
		} else if (vd->fellback > fb2) {
			fb2 = vd->fellback;
		}
		any_growing |= vd->growing;
		if (vd->judged && !vd->growing)
			c->plateaus[c->nplateaus++] = *vd;
	}
	if (any_growing && c->nplateaus > 1) {
		qsort(c->plateaus, c->nplateaus, sizeof(*c->plateaus), cmp_plateau_age_desc);
		for (size_t i = 1; i < c->nplateaus; i++)
			if (c->plateaus[i - 1].wmax > c->plateaus[i].wmax)
				c->plateaus[i].wmax = c->plateaus[i - 1].wmax;
	}
	for (size_t i = 0; i < c->nverdicts; i++) {
		const struct verdict *vd = &c->verdicts[i];
		struct growth *g = vd->live ? &a->live : &a->gone;
		bool counts = vd->growing;

		if (vd->wmax > g->max_instance_count)
			g->max_instance_count = vd->wmax;
		if (counts && fb2 >= 2 && (double)fb2 * 2 >= (double)(vd->to - vd->from))
			counts = false;
		if (counts && c->nplateaus && plateau_older_than(c, vd->grow_ms) >= vd->to)
			counts = false;
		if (!counts)
			continue;
		g->growing++;
		g->w += vd->w;
		g->fit_w += vd->fit;
		g->mono_w += vd->mono;
		g->ret_w += vd->ret;
		g->growth_per_hour += vd->slope / vd->w;
		if (vd->wmax > g->max_growing_count)
			g->max_growing_count = vd->wmax;
		g->from_sum += vd->from;
		g->to_sum += vd->to;
		if (vd->grow_ms > g->grow_ms)
			g->grow_ms = vd->grow_ms;
		g->grow_lives += vd->lives;
	}
	c->nverdicts = 0;
}

static double detect_score(const struct loc_acc *a, double fit, double mono, double retained);

/* The evidence a location is ranked on (see choose_evidence()). */
static const struct growth *
growth_of(const struct loc_acc *a)
{
	return a->stand_in ? &a->gone : &a->live;
}

/* The instances that evidence is over: the live ones with two scrapes or more, or the replaced
 * ones. */
static uint32_t
instances_of(const struct loc_acc *a)
{
	uint32_t n = !a->svc ? 0 : a->stand_in ? a->svc->prevgen : a->svc->instances;

	return n < growth_of(a)->growing ? growth_of(a)->growing : n;
}

/* The weighted fit, monotonicity and retention of a location: over its growing lifetimes when it
 * grows, else over all of them (with no retention). One rule for the minimums and the score. */
static void
loc_evidence(const struct loc_acc *a, double *fit, double *mono, double *ret)
{
	const struct growth *g = growth_of(a);

	if (g->growing) {
		*fit = g->fit_w / g->w;
		*mono = g->mono_w / g->w;
		*ret = g->ret_w / g->w;
	} else {
		*fit = a->all_w > 0 ? a->all_fit_w / a->all_w : 0;
		*mono = a->all_w > 0 ? a->all_mono_w / a->all_w : 0;
		*ret = 0;
	}
}

/* Which instances a location is ranked on: the live ones, or, when none of them grows, the
 * generation they replaced while the new one cannot tell yet (after_growth_conclusive(), with the
 * replaced instances' mean rate and the longest-lived live instance). A location that grew in the
 * replaced generation and grows again in the new one holds min_count against both. */
static void
choose_evidence(const struct detect_ctx *c, struct loc_acc *a)
{
	const struct svc *s = a->svc;

	a->stand_in = false;
	if (a->live.growing > 0) {
		if (a->gone.growing > 0 && a->gone.max_growing_count > a->live.max_growing_count)
			a->live.max_growing_count = a->gone.max_growing_count;
		return;
	}
	if (a->gone.growing == 0 || !s || s->live == 0)
		return;
	if (after_growth_conclusive(c, a->gone.growth_per_hour / a->gone.growing, s->live_n,
	                            s->live_ms, a->live_rise))
		return;
	a->stand_in = true;
	if (a->live.max_instance_count > a->gone.max_instance_count)
		a->gone.max_instance_count = a->live.max_instance_count;
}

/* Keep the current location as a candidate, its sparkline complete. 0, or -1. */
static int
cand_add(struct detect_ctx *c)
{
	void *p = grow_array(c->cands, &c->capcands, c->ncands + 1, sizeof(*c->cands));

	if (!p)
		return -1;
	c->cands = p;
	for (size_t i = 0; i < c->nspark_srcs; i++)
		spark_add(c, c->spark_srcs[i].t, &c->spark_srcs[i].v);
	c->nspark_srcs = 0;
	c->cands[c->ncands++] = c->cur;
	return 0;
}

static int
location_finish(struct detect_ctx *c)
{
	struct loc_acc *a = &c->cur;
	double fit, mono, ret;

	series_finish(c);
	if (c->err)
		return -1;
	if (!a->valid)
		return 0;
	a->valid = false;
	location_verdicts(c);
	choose_evidence(c, a);
	/* Only debug=2 detail samples here: the count scrapes (proto, debug=1) name the op
	 * differently (unknown, or chan send for chan send (nil chan)), so its ages and (leaked)
	 * tags belong to the counted location at the same function, file and line; matched after
	 * the walk. */
	if (!a->counted && !a->stand_in) {
		if (a->oldest_wait < 0 && a->leaked_max == 0)
			return 0;
		a->orphan = true;
		return cand_add(c);
	}
	/* The minimums: growth (judged over min_scrapes) with min_count goroutines in a growing
	 * instance, or min_count proven leaks. */
	if (!(growth_of(a)->growing && growth_of(a)->max_growing_count >= c->min_count) &&
	    !(a->confirmed && a->leaked_max >= c->min_count))
		return 0;
	loc_evidence(a, &fit, &mono, &ret);
	if (detect_score(a, fit, mono, ret) < DETECT_MIN_SCORE)
		return 0;
	return cand_add(c);
}

/* The (service, location) the next series belong to: the one before is finished when it
 * changes. 0, or -1. */
static int
location_begin(struct detect_ctx *c, int64_t service_id, int64_t location_id)
{
	if (c->cur.valid && c->cur.location_id == location_id && c->cur.service_id == service_id)
		return 0;
	if (location_finish(c) < 0)
		return -1;
	memset(&c->cur, 0, sizeof(c->cur));
	c->nspark_srcs = 0;
	c->cur.valid = true;
	c->cur.service_id = service_id;
	c->cur.location_id = location_id;
	c->cur.svc = find_svc(c, service_id);
	c->cur.oldest_wait = -1;
	c->cur.median_wait = -1;
	return 0;
}

/* The next series is of 'target_id': the one before is finished. NULL when the target has no
 * successful count scrape in the window. */
static struct tgt *
series_begin(struct detect_ctx *c, int64_t target_id)
{
	struct series *ser = &c->ser;
	struct tgt *t;

	series_finish(c);
	t = find_tgt(c, target_id);
	if (!t)
		return NULL;
	runs_clear(&ser->runs);
	ser->v = &ser->runs;
	ser->memo = NULL;
	ser->t = t;
	ser->cursor = 0;
	ser->any = false;
	ser->leaked = 0;
	ser->detail_ts = 0;
	ser->detail_max = -1;
	ser->detail_median = -1;
	return t;
}

/* A series the window (window.h) kept: the same as its samples read one by one. */
static int
on_series(const struct window_series *s, void *arg)
{
	struct detect_ctx *c = arg;
	struct series *ser = &c->ser;
	struct tgt *t;

	if (location_begin(c, s->service_id, s->location_id) < 0)
		return -1;
	t = series_begin(c, s->target_id);
	if (!t)
		return 0;
	ser->view = runs_view(s->runs, s->nruns, s->base, s->blocks, s->off);
	ser->v = &ser->view;
	ser->memo = s->memo;
	ser->any = s->any;
	ser->leaked = s->leaked;
	ser->detail_ts = s->detail_ts;
	ser->detail_max = s->detail_max;
	ser->detail_median = s->detail_median;
	return 0;
}

static int
on_sample(const struct store_sample *s, void *arg)
{
	struct detect_ctx *c = arg;
	struct series *ser = &c->ser;
	struct tgt *t;

	if (s->ts > c->now)
		return 0;
	if (location_begin(c, s->service_id, s->location_id) < 0)
		return -1;
	if ((!ser->t || ser->t->target_id != s->target_id) && !series_begin(c, s->target_id))
		return 0;
	t = ser->t;
	if (s->leaked > ser->leaked)
		ser->leaked = s->leaked;
	if (s->detail) {
		/* A leak profile fetch is stored as a detail scrape without ages (proto or
		 * debug=1): it confirms leaks above, but must not hide the ages of the latest
		 * debug=2 one. */
		if (s->max_wait >= 0 && s->ts >= ser->detail_ts) {
			ser->detail_ts = s->ts;
			ser->detail_max = s->max_wait;
			ser->detail_median = s->median_wait;
		}
		return 0;
	}
	{
		const struct pt *p = t->p;
		size_t j = ser->cursor;

		while (j < t->n && p[j].ts < s->ts)
			j++;
		ser->cursor = j;
		for (; j < t->n && p[j].ts == s->ts; j++) {
			if (p[j].scrape_id == s->scrape_id) {
				if (runs_set(&ser->runs, j, s->count) < 0)
					return -1;
				if (s->count)
					ser->any = true;
				break;
			}
		}
	}
	return 0;
}

/* The score, in [0, 1], monotone in every piece of evidence:
 *
 *   growth    = fit × monotonicity × retained   (each in [0, 1]; 0 for a flat or falling series)
 *   magnitude = ⅓·min(1, log10(1 + max instance count) / 4)
 *             + ⅓·min(1, log10(1 + growth per hour) / 4)
 *             + ⅓·(largest share of an instance's goroutines at this location, latest scrape)
 *   age       = min(1, oldest wait minutes / 60)     (0 when no detail scrape says)
 *   spread    = instances growing / instances (live ones, or the replaced generation standing
 *               in for them)
 *   unconfirmed: score = 0.95 × growth × (0.70 + 0.15·spread + 0.10·magnitude + 0.05·age)
 *   confirmed:   score = 0.95 + 0.05 × min(1, log10(1 + leaked goroutines) / 4)
 *
 * Growth multiplies everything else, so size alone never scores: a flat pool of 5,000 has fit 0
 * (every pair of scrapes tied) and scores 0. Confirmed leaks score at least 0.95, unconfirmed at
 * most 0.95, and ranking sorts confirmed first anyway. Locations below DETECT_MIN_SCORE are not
 * listed even when they pass the minimums. */
static double
detect_score(const struct loc_acc *a, double fit, double mono, double retained)
{
	const struct growth *g = growth_of(a);
	uint32_t total = instances_of(a);
	double growth, mag, age, spread;

	if (a->confirmed)
		return 0.95 + 0.05 * fmin(1.0, log10(1.0 + (double)a->leaked_max) / 4);
	growth = fmax(0, fit) * fmax(0, mono) * fmax(0, retained);
	mag = (fmin(1.0, log10(1.0 + (double)g->max_instance_count) / 4) +
	       fmin(1.0, log10(1.0 + fmax(0, g->growth_per_hour)) / 4) + fmin(1.0, a->max_share)) /
	      3;
	age = a->oldest_wait > 0 ? fmin(1.0, a->oldest_wait / 60.0) : 0;
	spread = total ? fmin(1.0, (double)g->growing / total) : 0;
	return 0.95 * growth * (0.70 + 0.15 * spread + 0.10 * mag + 0.05 * age);
}

/* ---- explanation ---- */

/* 48210 -> "48,210" */
static void
fmt_count(char *buf, size_t len, uint64_t v)
{
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
	size_t o = 0;

	for (int i = 0; i < n && o + 1 < len; i++) {
		if (i > 0 && (n - i) % 3 == 0 && o + 2 < len)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = '\0';
}

void
detect_fmt_rate(char *buf, size_t len, double v, bool sign)
{
	double a = fabs(v), scaled = a >= 1e6 ? v / 1e6 : a >= 1e3 ? v / 1e3 : v;
	const char *unit = a >= 1e6 ? "M" : a >= 1e3 ? "k" : "";
	/* Whole numbers from 10k to 1M and from 10 to 1k; one decimal elsewhere. */
	int decimals = (a >= 1e4 && a < 1e6) || (a >= 10 && a < 1e3) ? 0 : 1;

	if (sign)
		snprintf(buf, len, "%+.*f%s", decimals, scaled, unit);
	else
		snprintf(buf, len, "%.*f%s", decimals, scaled, unit);
}

static void
fmt_duration(char *buf, size_t len, int64_t ms)
{
	double s = (double)ms / 1000.0;

	if (s < 120)
		snprintf(buf, len, "%.0f s", s);
	else if (s < 7200)
		snprintf(buf, len, "%.0f min", s / 60);
	else if (s < 172800)
		snprintf(buf, len, "%.0f h", s / 3600);
	else
		snprintf(buf, len, "%.0f d", s / 86400);
}

static char *
explain(const struct loc_acc *a, const struct suspect *s)
{
	const struct growth *g = growth_of(a);
	struct sbuf out = {0};
	char from[32], to[32], rate[32], dur[32], cnt[32];
	uint32_t total = instances_of(a);
	size_t len;
	char *text, *caller;

	if (a->confirmed) {
		fmt_count(cnt, sizeof(cnt), a->leaked_max);
		sbuf_addf(&out, "confirmed leak: %s goroutine%s proven leaked%s", cnt,
		          a->leaked_max == 1 ? "" : "s", g->growing ? "; " : "");
	}
	if (g->growing) {
		fmt_count(from, sizeof(from), g->from_sum);
		fmt_count(to, sizeof(to), g->to_sum);
		detect_fmt_rate(rate, sizeof(rate), s->growth_per_hour, false);
		fmt_duration(dur, sizeof(dur), g->grow_ms);
		sbuf_addf(
		    &out,
		    "grew %s → %s in %s on %u/%u instance%s (+%s/h, %.0f%% of steps not down)",
		    from, to, dur, g->growing, total, total == 1 ? "" : "s", rate,
		    s->monotonicity * 100);
		if (g->grow_lives > g->growing)
			sbuf_addf(&out, ", again after each of %u restarts",
			          g->grow_lives - g->growing);
		if (a->stand_in && a->svc)
			sbuf_addf(&out, "; they were replaced by %u instance%s too young to tell",
			          a->svc->live, a->svc->live == 1 ? "" : "s");
	} else {
		fmt_count(cnt, sizeof(cnt), s->current_count);
		sbuf_addf(&out, " (%s now on %u/%u instances)", cnt, a->seen, total);
	}
	if (a->oldest_wait > 0)
		sbuf_addf(&out, ", oldest blocked %d min", a->oldest_wait);
	/* A location reached from several callers: which one this is. */
	caller = a->calls.n > 1 ? detect_caller_of(s->stack_json, s->function, s->line) : NULL;
	if (caller != NULL)
		sbuf_addf(&out, "; %s %s, 1 of %u call stacks here",
		          a->calls.grew ? "grows through" : "through", caller, a->calls.n);
	free(caller);
	text = sbuf_steal(&out, &len);
	return text != NULL ? text : xstrdup("");
}

/* ---- ignore rules ---- */

static bool
stack_has_function(const char *stack_json, const char *fn)
{
	json_t *root, *fr;
	size_t i;
	bool hit = false;

	if (!stack_json)
		return false;
	root = json_loads(stack_json, 0, NULL);
	if (!json_is_array(root)) {
		json_decref(root);
		return false;
	}
	json_array_foreach(root, i, fr)
	{
		const char *f = json_string_value(json_object_get(fr, "function"));

		if (f && strcmp(f, fn) == 0) {
			hit = true;
			break;
		}
	}
	json_decref(root);
	return hit;
}

static bool
ignored(const struct config *cfg, const char *service, const struct store_location *loc)
{
	for (size_t i = 0; cfg && i < cfg->detector.nignore; i++) {
		const struct config_ignore *r = &cfg->detector.ignore[i];

		if (!r->function && !r->any_function && !r->file && !r->service)
			continue;
		if (r->service && strcmp(r->service, service) != 0)
			continue;
		if (r->function && strcmp(r->function, loc->function) != 0)
			continue;
		if (r->file && fnmatch(r->file, loc->file, 0) != 0)
			continue;
		if (r->any_function && strcmp(r->any_function, loc->function) != 0 &&
		    !stack_has_function(loc->stack_json, r->any_function))
			continue;
		return true;
	}
	return false;
}

bool
detect_ignored(const struct config *cfg, const char *service, const struct store_location *loc)
{
	return ignored(cfg, service, loc);
}

/* ---- ranking ---- */

static char *
spark_json(const struct loc_acc *a)
{
	struct sbuf b = {0};
	size_t len;
	char *text;

	sbuf_puts(&b, "[");
	for (size_t i = 0; i < DETECT_SPARK_POINTS; i++)
		sbuf_addf(&b, "%s%.0f", i ? "," : "", a->spark[i]);
	sbuf_puts(&b, "]");
	text = sbuf_steal(&b, &len);
	return text != NULL ? text : xstrdup("[]");
}

/* Look up every candidate's location, then fold detail-only (orphan) entries into the counted
 * location at the same function, file and line of the same service. An orphan left over counts on
 * its own only when it holds proven leaks. 0, or -1 on a storage error (logged). */
static int
merge_orphans(struct detect_ctx *c, struct store *st)
{
	for (size_t i = 0; i < c->ncands; i++) {
		struct loc_acc *a = &c->cands[i];
		int rc = store_location_get(st, a->location_id, &a->loc);

		if (rc < 0) {
			log_err("detect: location %lld: %s", (long long)a->location_id,
			        store_errmsg(st));
			return -1;
		}
		a->dropped = rc > 0;
	}
	for (size_t j = 0; j < c->ncands; j++) {
		struct loc_acc *o = &c->cands[j];

		if (!o->orphan || o->dropped)
			continue;
		for (size_t i = 0; i < c->ncands; i++) {
			struct loc_acc *a = &c->cands[i];

			if (a->orphan || a->dropped || a->service_id != o->service_id ||
			    a->loc.line != o->loc.line ||
			    strcmp(a->loc.function, o->loc.function) != 0 ||
			    strcmp(a->loc.file, o->loc.file) != 0)
				continue;
			if (o->oldest_wait > a->oldest_wait)
				a->oldest_wait = o->oldest_wait;
			if (o->median_wait > a->median_wait)
				a->median_wait = o->median_wait;
			if (o->leaked_max) {
				a->confirmed = true;
				if (o->leaked_max > a->leaked_max)
					a->leaked_max = o->leaked_max;
			}
			o->dropped = true;
			break;
		}
		if (!o->dropped && (!o->confirmed || o->leaked_max < c->min_count))
			o->dropped = true;
	}
	return 0;
}

static int
build_suspect(struct detect_ctx *c, struct loc_acc *a, struct suspect *s, bool *keep)
{
	struct store_location *loc = &a->loc;
	double fit, mono, ret;

	*keep = false;
	if (a->dropped || !profile_op_may_leak(loc->op))
		return 0;
	if (a->calls.n > 0 ? a->calls.ignored : ignored(c->cfg, a->svc ? a->svc->name : "", loc))
		return 0;
	if (a->calls.stack_json != NULL) {
		free(loc->stack_json);
		loc->stack_json = a->calls.stack_json;
		a->calls.stack_json = NULL;
	}
	loc_evidence(a, &fit, &mono, &ret);
	memset(s, 0, sizeof(*s));
	s->service_id = a->service_id;
	s->location_id = a->location_id;
	s->service = strdup(a->svc ? a->svc->name : "");
	s->function = loc->function;
	s->file = loc->file;
	s->op = loc->op;
	s->stack_json = loc->stack_json;
	s->line = loc->line;
	s->stack_id = a->calls.stack_id;
	s->first_seen = loc->first_seen;
	loc->function = loc->file = loc->op = loc->stack_json = NULL;
	s->score = fmin(1.0, fmax(0.0, detect_score(a, fit, mono, ret)));
	s->confirmed = a->confirmed;
	s->current_count = a->current_sum;
	s->max_instance_count = growth_of(a)->max_instance_count;
	s->instances_growing = growth_of(a)->growing;
	s->instances_total = instances_of(a);
	s->growth_per_hour = growth_of(a)->growth_per_hour;
	s->monotonicity = fmin(1, fmax(0, mono));
	s->fit = fmin(1, fmax(0, fit));
	if (a->orphan) {
		s->current_count = a->leaked_max;
		s->max_instance_count = a->leaked_max;
	}
	s->oldest_wait_minutes = a->oldest_wait;
	s->median_wait_minutes = a->median_wait;
	s->sparkline_json = spark_json(a);
	s->explanation = explain(a, s);
	if (!s->service || !s->sparkline_json || !s->explanation || !s->function || !s->file ||
	    !s->op) {
		suspect_release(s);
		return -1;
	}
	if (!s->stack_json) {
		s->stack_json = strdup("[]");
		if (!s->stack_json) {
			suspect_release(s);
			return -1;
		}
	}
	*keep = true;
	return 0;
}

static void
ctx_release(struct detect_ctx *c)
{
	for (size_t i = 0; i < c->nsvcs; i++)
		free(c->svcs[i].name);
	free(c->svcs);
	free(c->pts);
	free(c->tgts);
	for (size_t i = 0; i < c->ncands; i++) {
		store_location_release(&c->cands[i].loc);
		free(c->cands[i].calls.stack_json);
	}
	free(c->cands);
	callsites_release(&c->calls);
	runs_release(&c->ser.runs);
	free(c->sparks);
	free(c->spark_srcs);
	free(c->life_first);
	free(c->life_ends);
	free(c->verdicts);
	free(c->plateaus);
}

/* Rank from 'w' when given (all services), else from the store. */
static int
rank(struct store *st, const struct config *cfg, const char *service, struct window *w,
     uint64_t window_seconds, int64_t now_ms, struct ranking *out)
{
	struct detect_ctx c = {.cfg = cfg, .now = now_ms};
	int64_t t0 = clock_mono_ms();
	int rc = -1;

	memset(out, 0, sizeof(*out));
	c.since = window_seconds >= (uint64_t)(now_ms / 1000)
	              ? 0
	              : now_ms - (int64_t)window_seconds * 1000;
	c.min_scrapes = cfg && cfg->detector.min_scrapes ? cfg->detector.min_scrapes : 4;
	if (c.min_scrapes < 2)
		c.min_scrapes = 2;
	c.min_count = cfg ? cfg->detector.min_count : 10;
	c.interval_ms = (int64_t)(cfg && cfg->scrape_interval ? cfg->scrape_interval : 60) * 1000;
	/* Recent is measured from the newest data: a ranking of a database whose daemon stopped
	 * shows the instances live when it stopped. */
	if (store_last_attempt(st, &c.ref) != 0) {
		log_err("detect: reading scrapes: %s", store_errmsg(st));
		goto out_release;
	}
	if (c.ref == 0 || c.ref > now_ms)
		c.ref = now_ms;
	if (w) {
		int u =
		    window_update(w, st, c.since, now_ms,
		                  cfg ? cfg->detector.window_memory : CONFIG_WINDOW_MEMORY_DEFAULT);

		if (u < 0)
			goto out_release;
		if (u > 0)
			w = NULL; /* read from the store */
	}
	if ((w ? window_each_target(w, on_window_target, &c)
	       : store_each_scrape(st, service, c.since, on_scrape, &c)) != 0) {
		if (!query_interrupted(st)) /* an interrupt is its interrupter's to report */
			log_err("detect: reading scrapes: %s", store_errmsg(st));
		goto out_release;
	}
	/* A window with no scrape (a service just added, a window shorter than the interval) leaves
	 * c.tgts NULL, which qsort must not be given even with a count of 0. */
	if (c.ntgts > 1)
		qsort(c.tgts, c.ntgts, sizeof(*c.tgts), cmp_tgt);
	for (size_t i = 0; i < c.ntgts; i++)
		if (!c.tgts[i].p)
			c.tgts[i].p = c.pts + c.tgts[i].first;
	c.sparks = calloc(c.ntgts ? c.ntgts : 1, sizeof(*c.sparks));
	if (!c.sparks || split_lifetimes(&c) < 0)
		goto out_nomem;
	if ((w ? window_each_series(w, on_series, &c)
	       : store_each_sample(st, service, c.since, on_sample, &c)) != 0 ||
	    location_finish(&c) < 0) {
		if (!query_interrupted(st))
			log_err("detect: reading samples: %s", store_errmsg(st));
		goto out_release;
	}
	if (merge_orphans(&c, st) < 0)
		goto out_release;
	c.calls = (struct callsites){
	    .cfg = cfg, .pts = c.pts, .npts = c.npts, .tgts = c.tgts, .ntgts = c.ntgts};
	for (size_t i = 0; i < c.ncands; i++) {
		struct loc_acc *a = &c.cands[i];

		if (a->dropped || !profile_op_may_leak(a->loc.op))
			continue;
		if (callsites_judge(&c.calls, st, a->service_id, a->svc ? a->svc->name : "",
		                    a->location_id, &a->loc, &a->calls) < 0) {
			if (!query_interrupted(st))
				log_err("detect: reading call sites: %s", store_errmsg(st));
			goto out_release;
		}
	}
	out->suspects = calloc(c.ncands ? c.ncands : 1, sizeof(*out->suspects));
	if (!out->suspects)
		goto out_nomem;
	for (size_t i = 0; i < c.ncands; i++) {
		bool keep;

		if (build_suspect(&c, &c.cands[i], &out->suspects[out->n], &keep) < 0)
			goto out_ranking;
		if (keep)
			out->n++;
	}
	/* Windows longer than retention.raw: slow growth over days, from the hourly rollups. */
	if (history_merge(st, cfg, service, window_seconds, now_ms, out) < 0)
		goto out_ranking;
	qsort(out->suspects, out->n, sizeof(*out->suspects), suspect_cmp);
	if (out->n > DETECT_MAX_SUSPECTS) {
		for (size_t i = DETECT_MAX_SUSPECTS; i < out->n; i++)
			suspect_release(&out->suspects[i]);
		out->n = DETECT_MAX_SUSPECTS;
	}
	for (size_t i = 0; i < out->n; i++)
		out->suspects[i].rank = (int)i + 1;
	out->generated_at = now_ms;
	out->window_seconds = window_seconds;
	out->duration_ms = (uint32_t)(clock_mono_ms() - t0);
	rc = 0;
	goto out_release;
out_nomem:
	log_err("detect: out of memory");
	goto out_release;
out_ranking:
	ranking_release(out);
	memset(out, 0, sizeof(*out));
out_release:
	ctx_release(&c);
	return rc;
}

int
detect_rank(struct store *st, const struct config *cfg, const char *service,
            uint64_t window_seconds, int64_t now_ms, struct ranking *out)
{
	return rank(st, cfg, service, NULL, window_seconds, now_ms, out);
}

int
detect_rank_window(struct store *st, const struct config *cfg, struct window *w,
                   uint64_t window_seconds, int64_t now_ms, struct ranking *out)
{
	/* Past retention.raw the store no longer holds what the window would: read it. */
	if (cfg && cfg->retention_raw && window_seconds > cfg->retention_raw)
		w = NULL;
	return rank(st, cfg, NULL, w, window_seconds, now_ms, out);
}

int
detect_run(struct store *st, const struct config *cfg, struct window *w, int64_t now_ms)
{
	struct ranking r;
	uint64_t window = cfg && cfg->detector.window ? cfg->detector.window : 6 * 3600;
	int rc;

	if (detect_rank_window(st, cfg, w, window, now_ms, &r) < 0)
		return -1;
	rc = store_ranking_save(st, &r);
	if (rc < 0)
		log_err("detect: saving the ranking: %s", store_errmsg(st));
	else
		log_debug("detect: ranked %zu suspects in %u ms", r.n, r.duration_ms);
	ranking_release(&r);
	return rc < 0 ? -1 : 0;
}

json_t *
detect_time_json(int64_t ms)
{
	char buf[CLOCK_ISO8601_LEN];

	return clock_fmt_iso8601(ms, buf, sizeof(buf)) ? json_string(buf) : json_null();
}

/* Stored names are valid UTF-8 (the store cleans them), so json_string() only fails on ENOMEM; then
 * "". */
static json_t *
str_json(const char *s)
{
	json_t *j = json_string(s != NULL ? s : "");

	return j != NULL ? j : json_string("");
}

json_t *
detect_suspect_json(const struct suspect *s)
{
	json_t *o = json_object(), *stack;

	if (o == NULL)
		return NULL;
	stack = s->stack_json != NULL ? json_loads(s->stack_json, 0, NULL) : NULL;
	if (!json_is_array(stack)) {
		json_decref(stack);
		stack = json_array();
	}
	json_object_set_new(o, "rank", json_integer(s->rank));
	json_object_set_new(o, "location_id", json_integer(s->location_id));
	json_object_set_new(o, "service", str_json(s->service));
	json_object_set_new(o, "function", str_json(s->function));
	json_object_set_new(o, "file", str_json(s->file));
	json_object_set_new(o, "line", json_integer(s->line));
	json_object_set_new(o, "op", str_json(s->op));
	json_object_set_new(o, "score", json_real(s->score));
	json_object_set_new(o, "confirmed", json_boolean(s->confirmed));
	json_object_set_new(o, "current_count", json_integer((json_int_t)s->current_count));
	json_object_set_new(o, "max_instance_count",
	                    json_integer((json_int_t)s->max_instance_count));
	json_object_set_new(o, "instances_growing", json_integer(s->instances_growing));
	json_object_set_new(o, "instances_total", json_integer(s->instances_total));
	json_object_set_new(o, "growth_per_hour",
	                    json_real(isfinite(s->growth_per_hour) ? s->growth_per_hour : 0));
	json_object_set_new(o, "monotonicity", json_real(s->monotonicity));
	json_object_set_new(o, "oldest_wait_minutes",
	                    s->oldest_wait_minutes >= 0 ? json_integer(s->oldest_wait_minutes)
	                                                : json_null());
	json_object_set_new(o, "first_seen", detect_time_json(s->first_seen));
	json_object_set_new(o, "explanation", str_json(s->explanation));
	json_object_set_new(o, "stack", stack);
	return o;
}
