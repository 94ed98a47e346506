/* detect/series.h: one (location, instance) series as runs of equal counts over the instance's
 * count scrapes in a window. A run holds its count from its first scrape up to the next run's; a
 * location absent from a scrape had 0 there. Runs are what the detector judges (detect.c), built
 * from stored samples or kept up to date between rankings (window.c): a flat series is one run
 * whatever the window, so its cost does not grow with it. */
#ifndef SERIES_H
#define SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Counts are held in 32 bits: no Go process holds four billion goroutines; a count past them is
 * held as UINT32_MAX, whichever way the series was built. */
struct count_run {
	uint32_t at; /* its first scrape: base + the index in the instance's window */
	uint32_t v;
};

/* A series' runs, owned (built by runs_set()) or borrowed (runs_view()). */
struct runs {
	struct count_run *r; /* ascending 'at', r[0].at <= base, no two neighbours equal */
	size_t n, cap;
	size_t next;   /* the first scrape not yet given a count */
	uint32_t base; /* what 'at' counts from: scrape j of the window is base + j */
};

/* Start a series over again (keeps the buffer). */
void runs_clear(struct runs *s);
/* Scrape 'j' (at least s->next) held 'v'; the scrapes since the last one given held 0. 0, or -1
 * out of memory. */
int runs_set(struct runs *s, size_t j, uint64_t v) __attribute__((warn_unused_result));
/* Every scrape before 'n' not given a count held 0. 0, or -1 out of memory. */
int runs_end(struct runs *s, size_t n) __attribute__((warn_unused_result));
void runs_release(struct runs *s);
/* The runs 'r' (n of them, the first holding scrape 'base') of a whole series, borrowed. */
static inline struct runs
runs_view(const struct count_run *r, size_t n, uint32_t base)
{
	return (struct runs){.r = (struct count_run *)r, .n = n, .base = base};
}

/* Where run 'k' starts in the window. */
static inline size_t
runs_start(const struct runs *v, size_t k)
{
	return v->r[k].at > v->base ? v->r[k].at - v->base : 0;
}

/* The index of the run holding scrape 'j'. */
size_t runs_find(const struct runs *v, size_t j);

/* A forward reader of the counts at ascending scrapes. */
struct runs_cursor {
	const struct runs *v;
	size_t k;
};

static inline uint32_t
runs_at(struct runs_cursor *c, size_t j)
{
	while (c->k + 1 < c->v->n && runs_start(c->v, c->k + 1) <= j)
		c->k++;
	return c->v->r[c->k].v;
}

/* The scrapes [from, to) that run 'k' covers inside [a, b) (b at most the series' length); false
 * when none. */
static inline bool
runs_span(const struct runs *v, size_t k, size_t a, size_t b, size_t *from, size_t *to)
{
	size_t start = runs_start(v, k), end = k + 1 < v->n ? runs_start(v, k + 1) : b;

	*from = start > a ? start : a;
	*to = end < b ? end : b;
	return *from < *to;
}

#endif
