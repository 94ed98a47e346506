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

struct count_run {
	uint32_t at; /* the index of its first scrape in the instance's window */
	uint64_t v;
};

struct runs {
	struct count_run *r; /* ascending 'at', r[0].at == 0 once ended, no two neighbours equal */
	size_t n, cap;
	size_t next; /* the first scrape not yet given a count */
};

/* Start a series over again (keeps the buffer). */
void runs_clear(struct runs *s);
/* Scrape 'j' (at least s->next) held 'v'; the scrapes since the last one given held 0. 0, or -1
 * out of memory. */
int runs_set(struct runs *s, size_t j, uint64_t v) __attribute__((warn_unused_result));
/* Every scrape before 'n' not given a count held 0. 0, or -1 out of memory. */
int runs_end(struct runs *s, size_t n) __attribute__((warn_unused_result));
/* Make 's' the runs 'r' of a whole series of 'len' scrapes. 0, or -1 out of memory. */
int runs_copy(struct runs *s, const struct count_run *r, size_t n, size_t len)
    __attribute__((warn_unused_result));
void runs_release(struct runs *s);

/* The index of the run holding scrape 'j' (r must start at 0). */
size_t runs_find(const struct count_run *r, size_t n, size_t j);

/* A forward reader of the counts at ascending scrapes. */
struct runs_cursor {
	const struct count_run *r;
	size_t n, k;
};

static inline uint64_t
runs_at(struct runs_cursor *c, size_t j)
{
	while (c->k + 1 < c->n && c->r[c->k + 1].at <= j)
		c->k++;
	return c->r[c->k].v;
}

/* The scrapes [from, to) that run 'k' covers inside [a, b) (b at most the series' length); false
 * when none. */
static inline bool
runs_span(const struct count_run *r, size_t n, size_t k, size_t a, size_t b, size_t *from,
          size_t *to)
{
	size_t end = k + 1 < n ? r[k + 1].at : b;

	*from = r[k].at > a ? r[k].at : a;
	*to = end < b ? end : b;
	return *from < *to;
}

#endif
