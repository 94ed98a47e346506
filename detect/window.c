/* detect/window.c: the detector's window kept in memory between rankings. See window.h.
 *
 * Per target: its successful count scrapes from the window's start on (pts[head..n), numbered
 * from first_no, so that runs keep their numbers as the window moves), and its series sorted by
 * location. A series' runs are numbered like the scrapes; a location absent from a count scrape
 * held 0 there, which the end of each scrape writes into every series it did not name. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "detect/window.h"
#include "storage/query.h"

/* The intervals between a target's consecutive scrapes held, as a sorted multiset: its usual
 * interval (the median) without sorting its window at each ranking. Scrapes keep to a schedule,
 * so few values recur. */
struct wiv {
	int64_t ms;
	uint32_t n;
};

struct wleak {
	int64_t ts;
	uint64_t leaked;
};

struct wdetail {
	int64_t ts, scrape_id;
	int32_t max, median;
};

/* What few series have: leaked counts and detail ages. */
struct wextra {
	struct wleak *leaks;
	size_t nleaks, capleaks;
	struct wdetail *details;
	size_t ndetails, capdetails;
};

struct wser {
	int64_t location_id;
	struct count_run *r; /* r[head..n) */
	uint32_t n, cap, head;
	struct runs_index ix; /* r's blocks (r[0] starts the first) */
	struct life_memos memo;
	uint32_t stamp; /* 1 + the number of the last count scrape that named it */
	/* where its latest run above 0 ended (the next run's 'at'): UINT32_MAX while it lasts, 0
	 * when it never held more than 0 */
	uint32_t nz_end;
	struct wextra *x;
};

struct wtgt {
	int64_t target_id, service_id;
	char *url;
	bool active, listed;
	struct pt *pts; /* pts[head..n), pts[i] numbered first_no + i - head */
	size_t n, cap, head;
	uint32_t first_no;
	uint32_t *rs; /* the numbers of the pts held that start a lifetime, ascending */
	size_t nrs, caprs;
	struct wiv *iv; /* the intervals between the pts held */
	size_t niv, capiv;
	struct wser *sers; /* by location_id */
	size_t nsers, capsers;
	/* for a walk: its scrapes in the window, [lo, hi) of pts, and its service's name */
	size_t lo, hi;
	const char *svc;
};

struct wsvc {
	int64_t service_id;
	char *name;
};

struct window {
	bool valid;
	int64_t since, now;
	int64_t max_id, max_seq;
	struct wtgt *tgts; /* by target_id */
	size_t ntgts, captgts;
	struct wsvc *svcs; /* by service_id */
	size_t nsvcs, capsvcs;
	/* the scrape being applied */
	struct wtgt *cur_t;
	bool cur_count; /* a count scrape (else detail) */
	uint32_t cur_no;
	size_t merge; /* next series of cur_t a sample may be */
	bool reload;  /* a scrape older than one held: read the window again */
	/* the rows of the scrape being read, applied once all of it is read: what a failing read
	 * leaves applied is whole scrapes */
	struct store_window_row *pend;
	size_t npend, cappend;
	int64_t applied_id; /* the last scrape applied by this update, 0: none */
	bool cb_failed;     /* the walk stopped on this side, not the store's */
	uint64_t limit;     /* bytes it may hold */
	uint64_t bytes;     /* it holds, about (as of the last update) */
	bool over;          /* it grew past 'limit' at that: rankings read the store */
	/* for the walks, as of the last update (walk_order()) */
	struct wtgt **order;
	size_t norder;
	uint32_t *rel; /* the targets' lifetime starts, for the detector (window_each_target()) */
	size_t caprel;
	struct walk_ser *walk;
	size_t capwalk;
	uint64_t updates, reloads, rows;
};

struct walk_ser {
	int64_t location_id;
	size_t order; /* the target's place in the walk */
	struct wtgt *t;
	struct wser *s;
};

/* Many of its arrays stay small (a series' runs): they start at 4. */
static void *
grow(void *p, size_t *cap, size_t need, size_t elem)
{
	return array_grow(p, cap, need, elem, 4);
}

/* grow() for what the window holds, counted in w->bytes. */
static void *
held_grow(struct window *w, void *p, size_t *cap, size_t need, size_t elem)
{
	size_t before = *cap;
	void *np = grow(p, cap, need, elem);

	if (np)
		w->bytes += (*cap - before) * elem;
	return np;
}

static void
ser_free(struct window *w, struct wser *s)
{
	w->bytes -= (size_t)s->cap * sizeof(*s->r) + s->ix.cap * sizeof(*s->ix.b) +
	            (s->memo.cut_counted ? sizeof(*s->memo.cut) : 0) +
	            (s->memo.fold_counted ? sizeof(*s->memo.fold) : 0);
	free(s->r);
	runs_index_release(&s->ix);
	life_memos_release(&s->memo);
	if (s->x) {
		w->bytes -= sizeof(*s->x) + s->x->capleaks * sizeof(*s->x->leaks) +
		            s->x->capdetails * sizeof(*s->x->details);
		free(s->x->leaks);
		free(s->x->details);
		free(s->x);
	}
}

static void
tgt_free(struct window *w, struct wtgt *t)
{
	w->bytes -= t->capsers * sizeof(*t->sers) + t->cap * sizeof(*t->pts) +
	            t->caprs * sizeof(*t->rs) + t->capiv * sizeof(*t->iv);
	free(t->rs);
	free(t->iv);
	for (size_t i = 0; i < t->nsers; i++)
		ser_free(w, &t->sers[i]);
	free(t->sers);
	free(t->pts);
	free(t->url);
}

static void
window_clear(struct window *w)
{
	for (size_t i = 0; i < w->ntgts; i++)
		tgt_free(w, &w->tgts[i]);
	w->ntgts = 0;
	w->bytes = 0;
	for (size_t i = 0; i < w->nsvcs; i++)
		free(w->svcs[i].name);
	w->nsvcs = 0;
	w->valid = false;
	w->max_id = w->max_seq = 0;
	w->npend = 0;
	w->norder = 0;
	w->cur_t = NULL;
}

struct window *
window_new(void)
{
	return calloc(1, sizeof(struct window));
}

void
window_free(struct window *w)
{
	if (!w)
		return;
	window_clear(w);
	free(w->tgts);
	free(w->svcs);
	free(w->order);
	free(w->rel);
	free(w->pend);
	free(w->walk);
	free(w);
}

/* The first of the 'n' elements of 'a' ('size' bytes each, ascending by key_of()) whose key is
 * at least 'key'; n when none. The window's arrays are all searched so. */
static size_t
lower_bound(const void *a, size_t n, size_t size, int64_t key, int64_t (*key_of)(const void *))
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_of((const char *)a + mid * size) < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int64_t
tgt_key(const void *x)
{
	return ((const struct wtgt *)x)->target_id;
}

static int64_t
svc_key(const void *x)
{
	return ((const struct wsvc *)x)->service_id;
}

static int64_t
iv_key(const void *x)
{
	return ((const struct wiv *)x)->ms;
}

static int64_t
rs_key(const void *x)
{
	return *(const uint32_t *)x;
}

static int64_t
pt_key(const void *x)
{
	return ((const struct pt *)x)->scrape_id;
}

static int64_t
run_key(const void *x)
{
	return ((const struct count_run *)x)->at;
}

static struct wtgt *
find_tgt(struct window *w, int64_t id)
{
	size_t lo = lower_bound(w->tgts, w->ntgts, sizeof(*w->tgts), id, tgt_key);

	return lo < w->ntgts && w->tgts[lo].target_id == id ? &w->tgts[lo] : NULL;
}

static const char *
svc_name(const struct window *w, int64_t id)
{
	size_t lo = lower_bound(w->svcs, w->nsvcs, sizeof(*w->svcs), id, svc_key);

	return lo < w->nsvcs && w->svcs[lo].service_id == id ? w->svcs[lo].name : "";
}

/* ---- the targets: every one stored, as listed at each update ---- */

struct listing {
	struct window *w;
	struct wtgt *tgts; /* the new array, by id */
	size_t n, cap;
	struct wsvc *svcs;
	size_t nsvcs, capsvcs;
	size_t old; /* merge position in w->tgts */
};

static int
on_target(const struct store_window_target *st, void *arg)
{
	struct listing *l = arg;
	struct window *w = l->w;
	struct wtgt *t;
	void *p;

	p = grow(l->tgts, &l->cap, l->n + 1, sizeof(*l->tgts));
	if (!p)
		return -1;
	l->tgts = p;
	t = &l->tgts[l->n];
	/* both lists are by id: the held targets gone from the store are freed on the way */
	while (l->old < w->ntgts && w->tgts[l->old].target_id < st->target_id)
		tgt_free(w, &w->tgts[l->old++]);
	if (l->old < w->ntgts && w->tgts[l->old].target_id == st->target_id) {
		*t = w->tgts[l->old];
		w->tgts[l->old++] = (struct wtgt){0};
		if (strcmp(t->url, st->url) != 0) {
			char *u = strdup(st->url);

			if (!u) {
				tgt_free(w, t);
				return -1;
			}
			free(t->url);
			t->url = u;
		}
	} else {
		*t = (struct wtgt){.target_id = st->target_id};
		t->url = strdup(st->url);
		if (!t->url)
			return -1;
	}
	l->n++;
	t->service_id = st->service_id;
	t->active = st->active;
	if (l->nsvcs == 0 || l->svcs[l->nsvcs - 1].service_id != st->service_id) {
		size_t i;

		for (i = 0; i < l->nsvcs && l->svcs[i].service_id != st->service_id; i++)
			;
		if (i == l->nsvcs) {
			p = grow(l->svcs, &l->capsvcs, l->nsvcs + 1, sizeof(*l->svcs));
			if (!p)
				return -1;
			l->svcs = p;
			l->svcs[l->nsvcs].service_id = st->service_id;
			l->svcs[l->nsvcs].name = strdup(st->service);
			if (!l->svcs[l->nsvcs].name)
				return -1;
			l->nsvcs++;
		}
	}
	return 0;
}

static int
cmp_svc(const void *a, const void *b)
{
	const struct wsvc *x = a, *y = b;

	return (x->service_id > y->service_id) - (x->service_id < y->service_id);
}

static int
list_targets(struct window *w, struct store *st)
{
	struct listing l = {.w = w};
	int rc = store_each_window_target(st, on_target, &l);

	while (l.old < w->ntgts)
		tgt_free(w, &w->tgts[l.old++]);
	free(w->tgts);
	w->tgts = l.tgts;
	w->ntgts = l.n;
	w->captgts = l.cap;
	for (size_t i = 0; i < w->nsvcs; i++)
		free(w->svcs[i].name);
	free(w->svcs);
	if (l.nsvcs > 1)
		qsort(l.svcs, l.nsvcs, sizeof(*l.svcs), cmp_svc);
	w->svcs = l.svcs;
	w->nsvcs = l.nsvcs;
	w->capsvcs = l.capsvcs;
	return rc;
}

/* ---- reading rows ---- */

static int
run_push(struct window *w, struct wser *s, uint32_t at, uint32_t v)
{
	void *p;
	size_t cap = s->cap, bcap = s->ix.cap;
	uint32_t drop = s->head / RUNS_BLOCK * RUNS_BLOCK; /* whole blocks, so they stay aligned */

	if (s->n > s->head && s->r[s->n - 1].v == v)
		return 0;
	if (s->n == s->cap && drop > 0 && s->head * 2 >= s->n) {
		memmove(s->r, s->r + drop, (s->n - drop) * sizeof(*s->r));
		runs_index_drop(&s->ix, drop / RUNS_BLOCK);
		s->n -= drop;
		s->head -= drop;
	}
	p = held_grow(w, s->r, &cap, (size_t)s->n + 1, sizeof(*s->r));
	if (!p || cap > UINT32_MAX)
		return -1;
	s->r = p;
	s->cap = (uint32_t)cap;
	if (v > 0)
		s->nz_end = UINT32_MAX;
	else if (s->nz_end == UINT32_MAX)
		s->nz_end = at;
	s->r[s->n++] = (struct count_run){.at = at, .v = v};
	if (runs_index_push(&s->ix, s->r, s->n - 1) < 0)
		return -1;
	w->bytes += (s->ix.cap - bcap) * sizeof(*s->ix.b);
	return 0;
}

/* The series of 'loc' in the target being read, made when new: samples come by location, so the
 * search goes on from the last one. */
static struct wser *
series_of(struct window *w, int64_t loc)
{
	struct wtgt *t = w->cur_t;
	struct wser *s;
	void *p;

	while (w->merge < t->nsers && t->sers[w->merge].location_id < loc)
		w->merge++;
	if (w->merge < t->nsers && t->sers[w->merge].location_id == loc)
		return &t->sers[w->merge];
	p = held_grow(w, t->sers, &t->capsers, t->nsers + 1, sizeof(*t->sers));
	if (!p)
		return NULL;
	t->sers = p;
	memmove(&t->sers[w->merge + 1], &t->sers[w->merge],
	        (t->nsers - w->merge) * sizeof(*t->sers));
	t->nsers++;
	s = &t->sers[w->merge];
	*s = (struct wser){.location_id = loc};
	/* absent (0) until now */
	if (run_push(w, s, 0, 0) < 0)
		return NULL;
	return s;
}

static struct wextra *
extra_of(struct window *w, struct wser *s)
{
	if (!s->x) {
		s->x = calloc(1, sizeof(*s->x));
		if (s->x)
			w->bytes += sizeof(*s->x);
	}
	return s->x;
}

static int
add_leak(struct window *w, struct wser *s, int64_t ts, uint64_t leaked)
{
	struct wextra *x = extra_of(w, s);
	void *p;

	if (!x)
		return -1;
	p = held_grow(w, x->leaks, &x->capleaks, x->nleaks + 1, sizeof(*x->leaks));
	if (!p)
		return -1;
	x->leaks = p;
	x->leaks[x->nleaks++] = (struct wleak){.ts = ts, .leaked = leaked};
	return 0;
}

static bool
detail_before(const struct wdetail *a, const struct wdetail *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->scrape_id < b->scrape_id);
}

static int
add_detail(struct window *w, struct wser *s, const struct wdetail *d)
{
	struct wextra *x = extra_of(w, s);
	size_t i;
	void *p;

	if (!x)
		return -1;
	p = held_grow(w, x->details, &x->capdetails, x->ndetails + 1, sizeof(*x->details));
	if (!p)
		return -1;
	x->details = p;
	/* by (ts, scrape id): the latest is the one that counts */
	for (i = x->ndetails; i > 0 && detail_before(d, &x->details[i - 1]); i--)
		x->details[i] = x->details[i - 1];
	x->details[i] = *d;
	x->ndetails++;
	return 0;
}

/* Add (n = +1) or take (-1) an interval of 'ms' to or from t's multiset. 0, or -1. */
static int
iv_change(struct window *w, struct wtgt *t, int64_t ms, int n)
{
	size_t lo = lower_bound(t->iv, t->niv, sizeof(*t->iv), ms, iv_key);
	void *p;

	if (lo < t->niv && t->iv[lo].ms == ms) {
		if (n > 0) {
			t->iv[lo].n++;
		} else if (--t->iv[lo].n == 0) {
			memmove(&t->iv[lo], &t->iv[lo + 1], (t->niv - lo - 1) * sizeof(*t->iv));
			t->niv--;
		}
		return 0;
	}
	if (n < 0)
		return 0; /* not held: nothing to take */
	p = held_grow(w, t->iv, &t->capiv, t->niv + 1, sizeof(*t->iv));
	if (!p)
		return -1;
	t->iv = p;
	memmove(&t->iv[lo + 1], &t->iv[lo], (t->niv - lo) * sizeof(*t->iv));
	t->iv[lo] = (struct wiv){.ms = ms, .n = 1};
	t->niv++;
	return 0;
}

/* The k-th smallest (from 0) interval held. */
static int64_t
iv_kth(const struct wtgt *t, size_t k)
{
	for (size_t i = 0; i < t->niv; i++) {
		if (k < t->iv[i].n)
			return t->iv[i].ms;
		k -= t->iv[i].n;
	}
	return 0;
}

/* Mark scrape number 'no' of t as starting a lifetime or not. 0, or -1. */
static int
rs_set(struct window *w, struct wtgt *t, uint32_t no, bool restart)
{
	size_t lo = lower_bound(t->rs, t->nrs, sizeof(*t->rs), no, rs_key);
	void *p;

	if (lo < t->nrs && t->rs[lo] == no) {
		if (!restart) {
			memmove(&t->rs[lo], &t->rs[lo + 1], (t->nrs - lo - 1) * sizeof(*t->rs));
			t->nrs--;
		}
		return 0;
	}
	if (!restart)
		return 0;
	p = held_grow(w, t->rs, &t->caprs, t->nrs + 1, sizeof(*t->rs));
	if (!p)
		return -1;
	t->rs = p;
	memmove(&t->rs[lo + 1], &t->rs[lo], (t->nrs - lo) * sizeof(*t->rs));
	t->rs[lo] = no;
	t->nrs++;
	return 0;
}

/* The end of a count scrape: every series it did not name held 0 there. */
static int
scrape_end(struct window *w)
{
	struct wtgt *t = w->cur_t;

	if (t && w->cur_count) {
		for (size_t i = 0; i < t->nsers; i++) {
			struct wser *s = &t->sers[i];

			if (s->stamp != w->cur_no + 1 && run_push(w, s, w->cur_no, 0) < 0)
				return -1;
		}
	}
	w->cur_t = NULL;
	return 0;
}

static int
scrape_begin(struct window *w, const struct store_window_row *r)
{
	struct wtgt *t = find_tgt(w, r->target_id);
	void *p;

	w->cur_t = NULL;
	w->merge = 0;
	if (!t)
		return 0; /* a target stored after the listing: its scrapes come next time */
	w->cur_count = !r->detail;
	if (r->detail) {
		w->cur_t = t;
		return 0;
	}
	if (t->n > t->head && r->ts < t->pts[t->n - 1].ts) {
		w->reload = true;
		return 1;
	}
	if (t->n == t->cap && t->head > 0 && t->head * 2 >= t->n) {
		memmove(t->pts, t->pts + t->head, (t->n - t->head) * sizeof(*t->pts));
		t->n -= t->head;
		t->head = 0;
	}
	p = held_grow(w, t->pts, &t->cap, t->n + 1, sizeof(*t->pts));
	if (!p)
		return -1;
	t->pts = p;
	if (t->first_no + (t->n - t->head) >= UINT32_MAX)
		return -1;
	w->cur_no = t->first_no + (uint32_t)(t->n - t->head);
	if (t->n > t->head && iv_change(w, t, r->ts - t->pts[t->n - 1].ts, 1) < 0)
		return -1;
	if (r->restart && rs_set(w, t, w->cur_no, true) < 0)
		return -1;
	t->pts[t->n++] = (struct pt){
	    .scrape_id = r->scrape_id,
	    .ts = r->ts,
	    .total = r->total_goroutines > UINT32_MAX ? UINT32_MAX : (uint32_t)r->total_goroutines,
	    .restart = r->restart};
	w->cur_t = t;
	return 0;
}

/* One sample row of the scrape being applied. */
static int
apply_sample(struct window *w, const struct store_window_row *r)
{
	struct wser *s;

	if (!w->cur_t || !r->has_sample)
		return 0;
	s = series_of(w, r->location_id);
	if (!s)
		return -1;
	if (w->cur_count) {
		/* held in 32 bits, as the detector holds counts (series.h) */
		if (run_push(w, s, w->cur_no,
		             r->count > UINT32_MAX ? UINT32_MAX : (uint32_t)r->count) < 0)
			return -1;
		s->stamp = w->cur_no + 1;
	}
	if (r->leaked > 0 && add_leak(w, s, r->ts, r->leaked) < 0)
		return -1;
	if (!w->cur_count && r->max_wait >= 0) {
		struct wdetail d = {.ts = r->ts,
		                    .scrape_id = r->scrape_id,
		                    .max = r->max_wait,
		                    .median = r->median_wait};

		if (add_detail(w, s, &d) < 0)
			return -1;
	}
	return 0;
}

/* Apply the scrape whose rows were read. 0; 1 when it is older than one held (read the window
 * again); -1 out of memory. */
static int
apply_pending(struct window *w)
{
	int rc;

	if (w->npend == 0)
		return 0;
	rc = scrape_begin(w, &w->pend[0]);
	for (size_t i = 0; rc == 0 && i < w->npend; i++)
		rc = apply_sample(w, &w->pend[i]);
	if (rc == 0 && scrape_end(w) < 0)
		rc = -1;
	if (rc == 0)
		w->applied_id = w->pend[0].scrape_id;
	w->npend = 0;
	return rc;
}

static int
on_row(const struct store_window_row *r, void *arg)
{
	struct window *w = arg;
	int rc = 0;
	void *p;

	w->rows++;
	if (w->bytes > w->limit)
		rc = 2; /* past detector.window_memory: window_update() says so */
	else if (w->npend && w->pend[0].scrape_id != r->scrape_id)
		rc = apply_pending(w);
	if (rc == 0) {
		p = grow(w->pend, &w->cappend, w->npend + 1, sizeof(*w->pend));
		if (!p)
			rc = -1;
		else
			(w->pend = p)[w->npend++] = *r;
	}
	if (rc != 0)
		w->cb_failed = true;
	return rc;
}

static int
on_move(int64_t scrape_id, int64_t target_id, bool restart, void *arg)
{
	struct window *w = arg;
	struct wtgt *t = find_tgt(w, target_id);
	size_t lo;

	if (!t)
		return 0;
	/* scrape ids grow with time within a target */
	lo = t->head +
	     lower_bound(t->pts + t->head, t->n - t->head, sizeof(*t->pts), scrape_id, pt_key);
	if (lo < t->n && t->pts[lo].scrape_id == scrape_id) {
		t->pts[lo].restart = restart;
		return rs_set(w, t, t->first_no + (uint32_t)(lo - t->head), restart);
	}
	return 0;
}

/* ---- what left the window, and what can no longer count ---- */

static void
trim_series(struct window *w, struct wser *s, uint32_t first_no, int64_t since, int64_t now)
{
	struct wextra *x = s->x;

	/* the run holding the window's first scrape stays */
	while (s->n - s->head > 1 && s->r[s->head + 1].at <= first_no)
		s->head++;
	/* what the detector keeps here, counted as it was made since */
	if (s->memo.cut && !s->memo.cut_counted) {
		w->bytes += sizeof(*s->memo.cut);
		s->memo.cut_counted = true;
	}
	if (s->memo.fold && !s->memo.fold_counted) {
		w->bytes += sizeof(*s->memo.fold);
		s->memo.fold_counted = true;
	}
	if (!x)
		return;
	/* leaked counts: those left, and those a later, larger one within 'now' outlasts */
	{
		size_t k = 0;

		for (size_t i = 0; i < x->nleaks; i++) {
			if (x->leaks[i].ts < since)
				continue;
			if (x->leaks[i].ts <= now)
				while (k > 0 && x->leaks[k - 1].ts <= x->leaks[i].ts &&
				       x->leaks[k - 1].leaked <= x->leaks[i].leaked)
					k--;
			x->leaks[k++] = x->leaks[i];
		}
		x->nleaks = k;
	}
	/* detail ages: those left, and all but the latest within 'now' */
	{
		size_t k = 0, keep = SIZE_MAX;

		for (size_t i = 0; i < x->ndetails; i++)
			if (x->details[i].ts >= since && x->details[i].ts <= now)
				keep = i;
		for (size_t i = 0; i < x->ndetails; i++)
			if (x->details[i].ts >= since && (i == keep || x->details[i].ts > now))
				x->details[k++] = x->details[i];
		x->ndetails = k;
	}
}

static void
trim(struct window *w, int64_t since, int64_t now)
{
	for (size_t i = 0; i < w->ntgts; i++) {
		struct wtgt *t = &w->tgts[i];
		size_t k = t->head;

		while (k < t->n && t->pts[k].ts < since) {
			if (k + 1 < t->n)
				(void)iv_change(w, t, t->pts[k + 1].ts - t->pts[k].ts, -1);
			k++;
		}
		t->first_no += (uint32_t)(k - t->head);
		{
			size_t d = 0;

			while (d < t->nrs && t->rs[d] < t->first_no)
				d++;
			if (d > 0) {
				memmove(t->rs, t->rs + d, (t->nrs - d) * sizeof(*t->rs));
				t->nrs -= d;
			}
		}
		t->head = k;
		if (t->head == t->n) {
			t->n = t->head = 0;
		}
		for (size_t j = 0; j < t->nsers; j++)
			trim_series(w, &t->sers[j], t->first_no, since, now);
	}
}

static int walk_order(struct window *w);

/* Ready to read rows. */
static void
read_begin(struct window *w)
{
	w->reload = false;
	w->cb_failed = false;
	w->npend = 0;
	w->applied_id = 0;
	w->cur_t = NULL;
}

int
window_update(struct window *w, struct store *st, int64_t since, int64_t now, uint64_t limit)
{
	int64_t upto, seq;
	bool was_valid;
	int rc;

	w->rows = 0;
	w->norder = 0; /* the targets are listed again: walks wait for this update */
	if (limit != w->limit) {
		w->limit = limit;
		w->over = false;
	}
	if (w->over || limit == 0) {
		window_clear(w);
		return 1;
	}
	if (w->valid && (since < w->since || now < w->now))
		window_clear(w);
	was_valid = w->valid;
	if (store_window_marks(st, &upto, &seq) < 0)
		goto failed_read; /* nothing changed */
	if (list_targets(w, st) != 0)
		goto fail;
	read_begin(w);
	if (!w->valid) {
		w->reloads++;
		rc = store_each_window_row(st, since, upto, on_row, w);
	} else {
		rc = store_each_window_row_after(st, w->max_id, upto, since, on_row, w);
	}
	if (rc == 0)
		rc = apply_pending(w);
	if (rc == 1 && w->reload) {
		log_info(
		    "detect: a scrape older than one already ranked: reading the window again");
		window_clear(w);
		return window_update(w, st, since, now, limit);
	}
	if (rc == 2 || (rc == 0 && w->bytes > limit)) {
		log_warn("detect: the window kept between rankings would hold more than "
		         "detector.window_memory (%" PRIu64 " bytes): rankings read the store",
		         limit);
		window_clear(w);
		w->over = true;
		return 1;
	}
	if (rc != 0 && (w->cb_failed || !was_valid))
		goto fail;
	if (rc != 0) {
		/* The store failed part-way through what is new: the scrapes applied are whole
		 * (rows are applied a scrape at a time, by growing id), so the window holds what it
		 * held up to the last of them, and the next update reads on from there. */
		if (w->applied_id)
			w->max_id = w->applied_id;
		w->npend = 0;
		goto failed_read;
	}
	w->max_id = upto;
	w->valid = true;
	/* a restart move not read now is read next time: max_seq moves only once it is */
	if (was_valid && store_each_restart_move(st, w->max_seq, seq, on_move, w) != 0)
		goto failed_read;
	w->max_seq = seq;
	w->since = since;
	w->now = now;
	w->updates++;
	trim(w, since, now);
	if (walk_order(w) < 0)
		goto fail;
	return 0;
failed_read:
	if (!query_interrupted(st))
		log_err("detect: reading the window: %s", store_errmsg(st));
	return -1;
fail:
	if (!query_interrupted(st))
		log_err("detect: reading the window: %s", store_errmsg(st));
	window_clear(w);
	return -1;
}

int
window_feed_begin(struct window *w, struct store *st, uint64_t limit)
{
	w->limit = limit;
	w->over = false;
	read_begin(w);
	return list_targets(w, st) == 0 ? 0 : -1;
}

int
window_feed_row(struct window *w, const struct store_window_row *r)
{
	return on_row(r, w) == 0 ? 0 : -1;
}

int
window_feed_end(struct window *w, int64_t upto, int64_t seq, int64_t since, int64_t now)
{
	if (apply_pending(w) != 0)
		return -1;
	w->valid = true;
	w->max_id = upto;
	w->max_seq = seq;
	w->since = since;
	w->now = now;
	trim(w, since, now);
	return walk_order(w);
}

/* ---- walks ---- */

static int
cmp_order(const void *a, const void *b)
{
	const struct wtgt *x = *(struct wtgt *const *)a, *y = *(struct wtgt *const *)b;
	int c = strcmp(x->svc, y->svc);

	return c ? c : strcmp(x->url, y->url);
}

/* The targets with a scrape in the window, by service name and URL (the store's walks' order),
 * with their scrapes in it: pts[lo, hi). */
static int
walk_order(struct window *w)
{
	size_t n = 0;
	void *p = realloc(w->order, (w->ntgts ? w->ntgts : 1) * sizeof(*w->order));

	w->norder = 0;
	if (!p)
		return -1;
	w->order = p;
	for (size_t i = 0; i < w->ntgts; i++) {
		struct wtgt *t = &w->tgts[i];
		size_t lo = t->head, hi = t->n;

		while (hi > lo && t->pts[hi - 1].ts > w->now)
			hi--;
		t->lo = lo;
		t->hi = hi;
		t->svc = svc_name(w, t->service_id);
		if (hi > lo)
			w->order[n++] = t;
	}
	if (n > 1)
		qsort(w->order, n, sizeof(*w->order), cmp_order);
	w->norder = n;
	return 0;
}

int
window_each_target(struct window *w, int (*cb)(const struct window_target *t, void *arg), void *arg)
{
	size_t n = w->norder, total = 0, used = 0;
	void *p;

	/* every target's lifetime starts in one buffer, kept until the next walk: the detector
	 * reads them after the walk */
	for (size_t i = 0; i < n; i++)
		total += w->order[i]->nrs;
	p = grow(w->rel, &w->caprel, total + 1, sizeof(*w->rel));
	if (!p)
		return -1;
	w->rel = p;
	for (size_t i = 0; i < n; i++) {
		const struct wtgt *t = w->order[i];
		size_t len = t->hi - t->lo;
		struct window_target wt = {.target_id = t->target_id,
		                           .service_id = t->service_id,
		                           .service = t->svc,
		                           .url = t->url,
		                           .active = t->active,
		                           .pts = &t->pts[t->lo],
		                           .n = len,
		                           .restarts = &w->rel[used]};
		int rc;

		/* t->lo is t->head, numbered first_no */
		for (size_t k = 0; k < t->nrs; k++)
			if (t->rs[k] > t->first_no && t->rs[k] - t->first_no < len)
				w->rel[used + wt.nrestarts++] = t->rs[k] - t->first_no;
		used += wt.nrestarts;
		/* the multiset holds the intervals of every scrape held: the window's, unless some
		 * are newer than its end */
		if (t->hi == t->n && len >= 2) {
			wt.has_med = true;
			wt.med = (double)iv_kth(t, (len - 1) / 2);
		}
		rc = cb(&wt, arg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
cmp_walk(const void *a, const void *b)
{
	const struct walk_ser *x = a, *y = b;

	if (x->location_id != y->location_id)
		return x->location_id < y->location_id ? -1 : 1;
	return (x->order > y->order) - (x->order < y->order);
}

/* One series over its target's scrapes in the window (its runs borrowed); false when it says
 * nothing there. */
static bool
series_cut(struct window *w, const struct walk_ser *ws, struct window_series *out)
{
	const struct wtgt *t = ws->t;
	const struct wser *s = ws->s;
	uint32_t base = t->first_no + (uint32_t)(t->lo - t->head);
	uint32_t len = (uint32_t)(t->hi - t->lo);
	size_t lo, k;

	/* the last run starting at or before the window's first scrape: mostly the first one held
	 * (trim_series() keeps it so), else searched */
	if (s->r[s->head].at <= base && (s->head + 1 == s->n || s->r[s->head + 1].at > base))
		lo = s->head;
	else
		lo = s->head +
		     lower_bound(s->r + s->head, s->n - s->head, sizeof(*s->r), (int64_t)base + 1,
		                 run_key) -
		     1;
	*out = (struct window_series){.service_id = t->service_id,
	                              .location_id = s->location_id,
	                              .target_id = t->target_id,
	                              .runs = &s->r[lo],
	                              .base = base,
	                              .blocks = runs_blocks(&s->ix, s->n),
	                              .off = lo,
	                              .memo = &ws->s->memo,
	                              .detail_max = -1,
	                              .detail_median = -1};
	/* the runs starting before the window's end: mostly every one held */
	if (s->r[s->n - 1].at < base + len)
		k = s->n;
	else
		k = lo +
		    lower_bound(s->r + lo, s->n - lo, sizeof(*s->r), (int64_t)base + len, run_key);
	out->nruns = k - lo;
	if (k == s->n) {
		/* the latest run above 0 reaches into the window (earlier ones end earlier) */
		out->any = s->nz_end > base;
	} else if (out->nruns) {
		struct runs view = runs_view(out->runs, out->nruns, base, out->blocks, out->off);
		struct runs_sum sum;

		runs_sum(&view, 0, out->nruns - 1, &sum);
		out->any = sum.max > 0;
	}
	if (s->x) {
		for (size_t i = 0; i < s->x->nleaks; i++)
			if (s->x->leaks[i].ts >= w->since && s->x->leaks[i].ts <= w->now &&
			    s->x->leaks[i].leaked > out->leaked)
				out->leaked = s->x->leaks[i].leaked;
		for (size_t i = 0; i < s->x->ndetails; i++) {
			const struct wdetail *d = &s->x->details[i];

			if (d->ts >= w->since && d->ts <= w->now) {
				out->detail_ts = d->ts;
				out->detail_max = d->max;
				out->detail_median = d->median;
			}
		}
	}
	return out->any || out->leaked || out->detail_ts;
}

int
window_each_series(struct window *w, int (*cb)(const struct window_series *s, void *arg), void *arg)
{
	size_t n = w->norder, i = 0;

	while (i < n) {
		int64_t svc = w->order[i]->service_id;
		size_t nw = 0;
		void *p;

		/* one service at a time: its series by location, then target */
		for (size_t j = i; j < n && w->order[j]->service_id == svc; j++) {
			struct wtgt *t = w->order[j];

			p = grow(w->walk, &w->capwalk, nw + t->nsers, sizeof(*w->walk));
			if (!p)
				return -1;
			w->walk = p;
			for (size_t k = 0; k < t->nsers; k++) {
				w->walk[nw++] =
				    (struct walk_ser){.location_id = t->sers[k].location_id,
				                      .order = j,
				                      .t = t,
				                      .s = &t->sers[k]};
			}
			i = j + 1;
		}

		if (nw > 1)
			qsort(w->walk, nw, sizeof(*w->walk), cmp_walk);
		for (size_t k = 0; k < nw; k++) {
			struct window_series ws;
			int rc;

			if (!series_cut(w, &w->walk[k], &ws))
				continue;
			rc = cb(&ws, arg);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

void
window_stats(const struct window *w, struct window_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->targets = w->ntgts;
	out->updates = w->updates;
	out->reloads = w->reloads;
	out->rows_read = w->rows;
	out->bytes = w->bytes; /* what is held against the bound */
	for (size_t i = 0; i < w->ntgts; i++) {
		const struct wtgt *t = &w->tgts[i];

		out->scrapes += t->n - t->head;
		out->series += t->nsers;
		for (size_t j = 0; j < t->nsers; j++)
			out->runs += t->sers[j].n - t->sers[j].head;
	}
}
