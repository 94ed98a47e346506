/* detect/callsites.c: a candidate's call sites (see callsites.h). The ranking reads them only for
 * the locations that passed its minimums, one location at a time: its rows (sample_stacks, and a
 * sample stored without any under the location's representative stack) in the window, mapped to
 * the window's targets and their scrapes by scrape id. Memory: the window's scrape index, built
 * once per ranking, and one candidate's rows. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/xalloc.h"
#include "detect/callsites.h"
#include "detect/detect.h"

/* Where a scrape of the window is: its target and its index among the target's pts. */
struct scrape_ref {
	int64_t scrape_id;
	uint32_t tgt;
	uint32_t pt;
};

/* One (scrape, stack) count of the candidate whose call sites are read. */
struct call_row {
	int64_t stack_id;
	uint32_t tgt, pt;
	uint64_t count;
};

char *
detect_caller_of(const char *stack_json, const char *function, uint32_t line)
{
	json_t *root = json_loads(stack_json ? stack_json : "[]", 0, NULL), *fr;
	char *out = NULL;
	size_t i;

	if (!json_is_array(root)) {
		json_decref(root);
		return NULL;
	}
	json_array_foreach(root, i, fr)
	{
		const char *f = json_string_value(json_object_get(fr, "function"));

		if (f && strcmp(f, function) == 0 &&
		    json_integer_value(json_object_get(fr, "line")) == (json_int_t)line) {
			f = json_string_value(
			    json_object_get(json_array_get(root, i + 1), "function"));
			if (f && *f)
				out = xstrdup(f);
			break;
		}
	}
	json_decref(root);
	return out;
}

static int
cmp_scrape_ref(const void *x, const void *y)
{
	const struct scrape_ref *a = x, *b = y;

	return (a->scrape_id > b->scrape_id) - (a->scrape_id < b->scrape_id);
}

static int
cmp_call_row(const void *x, const void *y)
{
	const struct call_row *a = x, *b = y;

	if (a->stack_id != b->stack_id)
		return a->stack_id < b->stack_id ? -1 : 1;
	if (a->tgt != b->tgt)
		return a->tgt < b->tgt ? -1 : 1;
	return (a->pt > b->pt) - (a->pt < b->pt);
}

static const struct scrape_ref *
find_ref(const struct callsites *c, int64_t scrape_id)
{
	size_t lo = 0, hi = c->nrefs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->refs[mid].scrape_id < scrape_id)
			lo = mid + 1;
		else if (c->refs[mid].scrape_id > scrape_id)
			hi = mid;
		else
			return &c->refs[mid];
	}
	return NULL;
}

struct call_walk {
	struct callsites *c;
	int64_t service_id;
};

static int
on_call_row(const struct store_stack_sample *r, void *arg)
{
	struct call_walk *w = arg;
	struct callsites *c = w->c;
	const struct scrape_ref *ref = find_ref(c, r->scrape_id);

	if (ref == NULL || c->tgts[ref->tgt].service_id != w->service_id)
		return 0; /* another service's, or outside the window */
	if (c->nrows == c->caprows) {
		c->caprows = c->caprows ? c->caprows * 2 : 64;
		c->rows = xrealloc(c->rows, c->caprows * sizeof(*c->rows));
	}
	c->rows[c->nrows++] = (struct call_row){
	    .stack_id = r->stack_id, .tgt = ref->tgt, .pt = ref->pt, .count = r->count};
	return 0;
}

int
callsites_rule(const struct config *cfg, const char *service, const struct store_location *loc,
               struct callsites_stack *v, size_t n, bool *drop)
{
	int64_t rise_ign = 0, rise_ok = 0;
	bool all_ignored = true;
	int best = -1;

	for (size_t i = 0; i < n; i++) {
		struct store_location l = *loc;

		l.stack_json = v[i].json;
		v[i].ignored = detect_ignored(cfg, service, &l);
		all_ignored &= v[i].ignored;
		if (v[i].ignored)
			rise_ign += v[i].rise > 0 ? v[i].rise : 0;
		else
			rise_ok += v[i].rise > 0 ? v[i].rise : 0;
	}
	*drop = rise_ign > 0 ? rise_ok * 10 <= rise_ign : all_ignored;
	for (size_t i = 0; i < n; i++) {
		const struct callsites_stack *k = &v[i], *b = best >= 0 ? &v[best] : NULL;

		if (k->json == NULL || (k->ignored && !all_ignored))
			continue;
		if (b == NULL || k->rise > b->rise ||
		    (k->rise == b->rise && (k->current > b->current ||
		                            (k->current == b->current && k->total > b->total))))
			best = (int)i;
	}
	return best;
}

/* The call sites of a candidate in its service over the window (sample_stacks): which of its
 * distinct stacks grew, whether the ignore rules drop it on them (callsites_rule()), and the
 * stack it shows. A stack's rise is, summed over the service's live instances, its count at the
 * instance's latest scrape minus its count at the first scrape of the instance's current lifetime
 * (absent: 0): a leak's stack rises, a pool's or a jittering one's nets out near 0. Without
 * stored call sites (scrapes from before they were kept) the location's representative stack
 * stands, and the rules are matched against it (by the caller). */
int
callsites_judge(struct callsites *c, struct store *st, int64_t service_id, const char *service,
                int64_t location_id, const struct store_location *loc,
                struct callsites_verdict *out)
{
	struct call_walk w = {.c = c, .service_id = service_id};
	struct callsites_stack *cs = NULL;
	size_t ncs = 0, capcs = 0;
	int64_t min_id = INT64_MAX;
	int ret = -1, best;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < c->ntgts; i++)
		if (c->tgts[i].service_id == service_id && c->tgts[i].n > 0 &&
		    c->tgts[i].p[0].scrape_id < min_id)
			min_id = c->tgts[i].p[0].scrape_id;
	if (min_id == INT64_MAX)
		return 0;
	/* No call site stored since: every sample of it stands for its representative stack, which
	 * the caller judges as such. Reading them all (every service's) would cost as much again
	 * as the walk over the window did for the location. */
	switch (store_has_stack_samples(st, location_id, min_id)) {
	case 0:
		return 0;
	case 1:
		break;
	default:
		return -1;
	}
	if (c->refs == NULL && c->npts > 0) {
		c->refs = xcalloc(c->npts, sizeof(*c->refs));
		for (size_t i = 0; i < c->ntgts; i++)
			for (size_t j = 0; j < c->tgts[i].n; j++)
				c->refs[c->nrefs++] =
				    (struct scrape_ref){.scrape_id = c->tgts[i].p[j].scrape_id,
				                        .tgt = (uint32_t)i,
				                        .pt = (uint32_t)j};
		qsort(c->refs, c->nrefs, sizeof(*c->refs), cmp_scrape_ref);
	}
	c->nrows = 0;
	if (store_each_stack_sample(st, location_id, min_id, on_call_row, &w) != 0)
		return -1;
	if (c->nrows == 0)
		return 0;
	if (c->nrows > 1)
		qsort(c->rows, c->nrows, sizeof(*c->rows), cmp_call_row);

	/* Per stack, then per instance within it. */
	for (size_t i = 0, j; i < c->nrows; i = j) {
		struct callsites_stack *k;

		if (ncs == capcs) {
			capcs = capcs ? capcs * 2 : 8;
			cs = xrealloc(cs, capcs * sizeof(*cs));
		}
		k = &cs[ncs++];
		*k = (struct callsites_stack){.stack_id = c->rows[i].stack_id};
		for (j = i; j < c->nrows && c->rows[j].stack_id == k->stack_id; j++) {
			const struct call_row *r = &c->rows[j];
			const struct tgt *t = &c->tgts[r->tgt];

			k->total += r->count;
			if (!t->live)
				continue;
			if (r->pt == t->cur)
				k->rise -= (int64_t)r->count;
			if (r->pt == t->n - 1) {
				k->rise += (int64_t)r->count;
				k->current += r->count;
			}
		}
	}
	for (size_t i = 0; i < ncs; i++)
		if (store_stack_json(st, cs[i].stack_id, &cs[i].json) < 0)
			goto out_free;
	out->n = (uint32_t)ncs;
	best = callsites_rule(c->cfg, service, loc, cs, ncs, &out->ignored);
	if (best >= 0) {
		out->stack_id = cs[best].stack_id;
		out->stack_json = cs[best].json;
		out->grew = cs[best].rise > 0;
		cs[best].json = NULL;
	}
	ret = 0;
out_free:
	for (size_t i = 0; i < ncs; i++)
		free(cs[i].json);
	free(cs);
	return ret;
}

void
callsites_release(struct callsites *cs)
{
	free(cs->refs);
	free(cs->rows);
	cs->refs = NULL;
	cs->rows = NULL;
	cs->nrefs = cs->nrows = cs->caprows = 0;
}
