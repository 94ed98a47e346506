/* detect/series.c: a series as runs of equal counts. See series.h. */
#include <stdlib.h>
#include <string.h>

#include "detect/series.h"

static int
push(struct runs *s, size_t at, uint32_t v)
{
	if (s->n && s->r[s->n - 1].v == v)
		return 0;
	if (at > UINT32_MAX)
		return -1;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct count_run *r = realloc(s->r, cap * sizeof(*r));

		if (!r)
			return -1;
		s->r = r;
		s->cap = cap;
	}
	s->r[s->n++] = (struct count_run){.at = (uint32_t)at, .v = v};
	return 0;
}

void
runs_clear(struct runs *s)
{
	s->n = 0;
	s->next = 0;
	s->base = 0;
}

int
runs_set(struct runs *s, size_t j, uint64_t v)
{
	if (j < s->next)
		return 0; /* one count per scrape: the first given stands */
	if (j > s->next && push(s, s->next, 0) < 0)
		return -1;
	if (push(s, j, v > UINT32_MAX ? UINT32_MAX : (uint32_t)v) < 0)
		return -1;
	s->next = j + 1;
	return 0;
}

int
runs_end(struct runs *s, size_t n)
{
	if (s->next < n && push(s, s->next, 0) < 0)
		return -1;
	if (s->next < n)
		s->next = n;
	return 0;
}

void
runs_release(struct runs *s)
{
	free(s->r);
	*s = (struct runs){0};
}

size_t
runs_find(const struct runs *v, size_t j)
{
	size_t lo = 0, hi = v->n;

	/* the last run starting at or before j */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (runs_start(v, mid) <= j)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}
