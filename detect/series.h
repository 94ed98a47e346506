/* detect/series.h: one (location, instance) series as runs of equal counts over the instance's
 * count scrapes in a window, and what the detector made of its lifetimes. A run holds its count
 * from its first scrape up to the next run's; a location absent from a scrape had 0 there. Runs are
 * what the detector judges (detect.c), built from stored samples or kept up to date between
 * rankings (window.c): a flat series is one run whatever the window, so its cost does not grow with
 * it. */
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

/* Summaries of a run array by blocks of RUNS_BLOCK runs, kept as runs are appended, so that what
 * the detector asks of a range of runs (its least and greatest count, its largest fall-back, its
 * up- and down-steps, where it falls steeply after holding) costs the blocks the range covers,
 * not its runs. Block b summarizes runs [b * RUNS_BLOCK, (b + 1) * RUNS_BLOCK) of the array; the
 * steps of a block are those from the run before each of its runs (its first run's from the
 * previous block's last). */
#define RUNS_BLOCK 64

struct runs_block {
	uint64_t resets; /* bit i: run i falls steeply after a held count (runs_reset()) */
	uint32_t max, min;
	uint32_t drop;             /* the largest fall from a run to a later one */
	uint8_t minlast;           /* the last run holding 'min' */
	uint8_t ups, downs;        /* steps up and down */
	uint8_t first_up, last_up; /* the first and the last run that stepped up (when ups) */
};

/* The blocks of one run array, and what appending needs to know of the runs before. */
struct runs_index {
	struct runs_block *b;
	uint32_t nb, cap;
	/* where the current stretch of runs of at least LIFETIME_FALL_MIN began */
	uint32_t held_at;
	bool held; /* the last run is in such a stretch */
};

/* The array 'r' had run r[pos] appended (r[pos - 1] before it, when pos > 0). 0, or -1 out of
 * memory (the index is then dropped: ix->nb is 0). */
int runs_index_push(struct runs_index *ix, const struct count_run *r, size_t pos)
    __attribute__((warn_unused_result));
/* The array's first 'blocks' blocks of runs were removed. */
void runs_index_drop(struct runs_index *ix, size_t blocks);
void runs_index_clear(struct runs_index *ix);
void runs_index_release(struct runs_index *ix);
/* The blocks, when they cover the array's 'n' runs; NULL when they do not (fewer runs than a
 * block, or memory ran out). */
const struct runs_block *runs_blocks(const struct runs_index *ix, size_t n);

/* A series' runs, owned (built by runs_set()) or borrowed (runs_view()). */
struct runs {
	struct count_run *r; /* ascending 'at', r[0].at <= base, no two neighbours equal */
	size_t n, cap;
	size_t next;   /* the first scrape not yet given a count */
	uint32_t base; /* what 'at' counts from: scrape j of the window is base + j */
	/* the array's blocks (NULL: none, every question is answered run by run); r[0] is run 'off'
	 * of the array they summarize */
	const struct runs_block *blocks;
	size_t off;
	struct runs_index ix; /* owned runs: their blocks */
};

/* Start a series over again (keeps the buffer). */
void runs_clear(struct runs *s);
/* Scrape 'j' (at least s->next) held 'v'; the scrapes since the last one given held 0. 0, or -1
 * out of memory. */
int runs_set(struct runs *s, size_t j, uint64_t v) __attribute__((warn_unused_result));
/* Every scrape before 'n' not given a count held 0. 0, or -1 out of memory. */
int runs_end(struct runs *s, size_t n) __attribute__((warn_unused_result));
void runs_release(struct runs *s);
/* The runs 'r' (n of them, the first holding scrape 'base') of a whole series, borrowed; 'r' is
 * run 'off' of an array whose blocks are 'blocks' (NULL: none). */
static inline struct runs
runs_view(const struct count_run *r, size_t n, uint32_t base, const struct runs_block *blocks,
          size_t off)
{
	return (struct runs){
	    .r = (struct count_run *)r, .n = n, .base = base, .blocks = blocks, .off = off};
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

/* The index of the run holding scrape 'j', among the runs from 'k' on (j at or past run k's
 * start), searched outwards from k: what lies near is found reading near. */
size_t runs_find_from(const struct runs *v, size_t k, size_t j);

static inline uint32_t
runs_at(struct runs_cursor *c, size_t j)
{
	/* the next run or a search: what is read at far apart scrapes skips the runs between */
	if (c->k + 1 < c->v->n && runs_start(c->v, c->k + 1) <= j)
		c->k = runs_find_from(c->v, c->k + 1, j);
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

/* What runs [ka, kb] of a series (ka <= kb < n) hold; the steps are those into runs ka + 1..kb. */
struct runs_sum {
	uint32_t max, min;
	uint32_t drop;            /* the largest fall from a run to a later one */
	size_t minlast;           /* the last run holding 'min' */
	size_t ups, downs;        /* steps up and down */
	size_t first_up, last_up; /* the first and the last run that stepped up (when ups) */
};
void runs_sum(const struct runs *v, size_t ka, size_t kb, struct runs_sum *out);
/* The greatest and least count of runs [ka, kb] and their largest fall (the rest of 'out' is not
 * set), when those of runs [kt, kb] (ka < kt <= kb) are 'tail' (its max, min and drop; no step
 * counted, 'minlast' from kt). */
void runs_sum_tail(const struct runs *v, size_t ka, size_t kt, const struct runs_block *tail,
                   struct runs_sum *out);

/* Where, in the scrapes [start, end) (end at most the series' length), the first run starts that
 * falls steeply (lifetime_fell_steeply()) after holding at least LIFETIME_FALL_MIN for
 * LIFETIME_COLLAPSE_HELD scrapes in a row, all inside [start, end); 'end' when none does. */
size_t runs_reset(const struct runs *v, size_t start, size_t end);

/* What a stretch of a series' lifetimes adds to its verdict (detect.c), summed in their order.
 * The lifetimes that ended inside the window after the first one are summed apart: what they say
 * never changes (their counts and times do not), so the window keeps their sum between rankings
 * (struct life_fold), and a ranking judges only the lifetimes still going or cut by the window's
 * start, however many ended inside it. */
struct life_sums {
	double judged_w, all_fit, all_mono;   /* step-weighted, over the judged lifetimes */
	double grow_w, fit, mono, ret, slope; /* the same over the growing ones */
	double g_slope;                       /* the latest growing lifetime's slope, */
	int64_t g_ms;                         /* its segment's length, */
	uint32_t g_first, g_last;             /* and the segment's first and last count */
	uint32_t fellback, wmax; /* the largest fall-back inside one lifetime, the greatest count */
	uint32_t lives;          /* growing lifetimes */
	bool judged;             /* one was judged */
	bool grows;              /* the latest judged one grows */
};

/* The sum of the lifetimes tiling scrapes [from, to) of a series (numbered as the runs' 'at'),
 * judged with 'min_scrapes': those the restarts in (from, to] end, hashed into 'ends', and the
 * parts runs_reset() cut them into. */
struct life_fold {
	uint32_t from, to, min_scrapes;
	uint64_t ends;
	struct life_sums s;
};

/* What the detector made of the lifetime the window's start cuts (detect.c): it ended at 'end',
 * the window then starting at 'from'. Its least count was last held at scrape 's0': while the
 * window's start has not passed s0, the lifetime's least count stays there, and so does the
 * segment judged since, however far the start moved, and this is what that segment says
 * (struct life_stats). What the start changes (the stretch before s0) is read again. */
struct life_cut {
	uint32_t from, s0, end;
	/* the restart that ended the lifetime: 'end', or later when a reset cut it */
	uint32_t outer;
	uint32_t ups, downs, first_up, last_up; /* first_up, last_up: from s0 */
	uint32_t first, last, peak;             /* the segment's first, last and greatest count */
	uint32_t drop;                          /* its largest fall */
	int64_t t0, t1;                         /* when scrape s0 was, and the lifetime's last */
	double slope, tau;
	/* The runs before s0's since the start of its block of runs (struct runs_block), kept so
	 * that the stretch before s0 is read only up to there: with s0's run they are 'tail_runs'
	 * (0: none kept), the first starting at scrape 'tail_at'; they hold at most 'tail_max' and
	 * fall by at most 'tail_drop' (the least is s0's count, the lifetime's least). */
	uint32_t tail_at, tail_runs, tail_max, tail_drop;
};

/* A restart at scrape 'end' (numbered as the runs' 'at') joins the hash 'h' of the restarts a
 * sum was made with (h starts as HASH_FNV1A_INIT). */
uint64_t life_fold_hash(uint64_t h, uint32_t end);
/* Where the sum 'f' kept of a series' lifetimes goes on, when asked to sum those tiling its
 * scrapes [from, to) (numbered from 'base' as the runs' 'at') with 'min_scrapes', their ends
 * being 'ends' (n of them, ascending, the first past 'from'; to is one of them): at 'to' when it
 * holds them all; at where it ends, when it holds the first ones and more ended since; at 'from'
 * when it is of no use (none kept, or made from another start, with other restarts or another
 * min_scrapes). *h: the hash of the restarts up to there. */
size_t life_fold_resume(const struct life_fold *f, uint32_t base, size_t from, size_t to,
                        unsigned min_scrapes, const size_t *ends, size_t n, uint64_t *h);

/* What the window keeps for the detector of one series (NULL: not yet). */
struct life_memos {
	struct life_cut *cut;
	struct life_fold *fold;
	bool cut_counted, fold_counted; /* counted as held by the window */
};
void life_memos_release(struct life_memos *ms);

#endif
