/* detect/series.c: a series as runs of equal counts, and the block summaries that answer what a
 * range of them holds. See series.h. */
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/xalloc.h"
#include "detect/series.h"
#include "storage/lifetime.h"

/* ---- block summaries ---- */

/* Run r[pos] joins its block, made when it is the block's first. */
static int
block_add(struct runs_index *ix, const struct count_run *r, size_t pos)
{
	size_t b = pos / RUNS_BLOCK, i = pos % RUNS_BLOCK;
	uint32_t v = r[pos].v;
	struct runs_block *blk;
	bool reset = pos > 0 && ix->held && r[pos].at - ix->held_at >= LIFETIME_COLLAPSE_HELD &&
	             lifetime_fell_steeply(r[pos - 1].v, v);

	/* the stretch of runs holding at least LIFETIME_FALL_MIN that the next run falls from */
	if (v < LIFETIME_FALL_MIN) {
		ix->held = false;
	} else if (!ix->held) {
		ix->held = true;
		ix->held_at = r[pos].at;
	}
	if (i == 0 && b == ix->nb) {
		size_t cap = ix->cap;
		void *p = array_grow(ix->b, &cap, (size_t)ix->nb + 1, sizeof(*ix->b), 1);

		if (!p)
			return -1; /* the blocks no longer cover the array: runs_blocks() is NULL */
		ix->b = p;
		ix->cap = (uint32_t)cap;
		ix->b[ix->nb++] = (struct runs_block){.max = v, .min = v};
	} else if (i == 0 || b + 1 != ix->nb) {
		return 0; /* a block was lost before: so is the index */
	} else {
		blk = &ix->b[b];
		if (v > blk->max)
			blk->max = v;
		if (blk->max - v > blk->drop)
			blk->drop = blk->max - v;
		if (v <= blk->min) {
			blk->min = v;
			blk->minlast = (uint8_t)i;
		}
	}
	blk = &ix->b[b];
	if (pos > 0 && v > r[pos - 1].v) {
		if (!blk->ups)
			blk->first_up = (uint8_t)i;
		blk->last_up = (uint8_t)i;
		blk->ups++;
	} else if (pos > 0 && v < r[pos - 1].v) {
		blk->downs++;
	}
	if (reset)
		blk->resets |= (uint64_t)1 << i;
	return 0;
}

int
runs_index_push(struct runs_index *ix, const struct count_run *r, size_t pos)
{
	/* Most series change seldom and stay short: their runs are read one by one, and their
	 * blocks made once there are enough of them for one (from the array's start, which is the
	 * series' own while it has no block to drop). */
	if (ix->nb == 0 && pos + 1 < RUNS_BLOCK)
		return 0;
	if (ix->nb == 0 && pos + 1 == RUNS_BLOCK) {
		ix->held = false;
		for (size_t k = 0; k <= pos; k++)
			if (block_add(ix, r, k) < 0)
				return -1;
		return 0;
	}
	return block_add(ix, r, pos);
}

void
runs_index_drop(struct runs_index *ix, size_t blocks)
{
	if (blocks >= ix->nb) {
		ix->nb = 0;
		return;
	}
	memmove(ix->b, ix->b + blocks, (ix->nb - blocks) * sizeof(*ix->b));
	ix->nb -= blocks;
}

void
runs_index_clear(struct runs_index *ix)
{
	ix->nb = 0;
	ix->held = false;
	ix->held_at = 0;
}

void
runs_index_release(struct runs_index *ix)
{
	free(ix->b);
	*ix = (struct runs_index){0};
}

const struct runs_block *
runs_blocks(const struct runs_index *ix, size_t n)
{
	return ix->nb == (n + RUNS_BLOCK - 1) / RUNS_BLOCK ? ix->b : NULL;
}

/* ---- a series' runs ---- */

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
	if (runs_index_push(&s->ix, s->r, s->n - 1) < 0)
		return -1;
	s->blocks = runs_blocks(&s->ix, s->n);
	return 0;
}

void
runs_clear(struct runs *s)
{
	s->n = 0;
	s->next = 0;
	s->base = 0;
	s->blocks = NULL;
	s->off = 0;
	runs_index_clear(&s->ix);
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
	runs_index_release(&s->ix);
	*s = (struct runs){0};
}

/* The last of the runs [lo, hi) starting at or before scrape j (run lo does). */
static size_t
find_between(const struct runs *v, size_t lo, size_t hi, size_t j)
{
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (runs_start(v, mid) <= j)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

size_t
runs_find_from(const struct runs *v, size_t k, size_t j)
{
	size_t step = 1;

	/* steps doubling from k until a run starts past j, then a search between the last two */
	while (k + step < v->n && runs_start(v, k + step) <= j) {
		k += step;
		step *= 2;
	}
	return find_between(v, k, k + step < v->n ? k + step : v->n, j);
}

size_t
runs_find(const struct runs *v, size_t j)
{
	size_t last = v->n - 1, first, end, g, hi, step = 1;

	/* mostly asked of a lifetime's first or last scrape, often the window's */
	if (v->n < 2 || runs_start(v, 1) > j)
		return 0;
	end = runs_start(v, last);
	if (end <= j)
		return last;
	/* Between runs 1 and 'last': where j would be if the runs were evenly spread, which those
	 * of a count that moves (the ones with many runs) nearly are, then outwards from there. A
	 * search from the middle would read as many places of the array as it has levels, and a
	 * longer window's are longer. */
	first = runs_start(v, 1);
	g = 1 + (size_t)((double)(j - first) * (double)(last - 1) / (double)(end - first));
	if (g >= last)
		g = last - 1;
	if (runs_start(v, g) <= j)
		return runs_find_from(v, g, j);
	/* run g starts past j: steps doubling back from it (run 1 starts at or before j) */
	for (hi = g; hi - 1 > step && runs_start(v, hi - step) > j; step *= 2)
		hi -= step;
	return find_between(v, hi - 1 > step ? hi - step : 1, hi, j);
}

/* ---- what a range of runs holds ---- */

/* Run k (after k - 1, also in the range) joins 's'. */
static void
sum_run(const struct runs *v, size_t k, struct runs_sum *s)
{
	uint32_t x = v->r[k].v, prev = v->r[k - 1].v;

	if (x > prev) {
		if (!s->ups)
			s->first_up = k;
		s->last_up = k;
		s->ups++;
	} else if (x < prev) {
		s->downs++;
	}
	if (s->max > x && s->max - x > s->drop)
		s->drop = s->max - x;
	if (x > s->max)
		s->max = x;
	if (x <= s->min) {
		s->min = x;
		s->minlast = k;
	}
}

/* The block summarizing runs k.. (k after the range's first run) joins 's'. */
static void
sum_block(const struct runs_block *b, size_t k, struct runs_sum *s)
{
	if (b->ups) {
		if (!s->ups)
			s->first_up = k + b->first_up;
		s->last_up = k + b->last_up;
		s->ups += b->ups;
	}
	s->downs += b->downs;
	if (b->drop > s->drop)
		s->drop = b->drop;
	if (s->max > b->min && s->max - b->min > s->drop)
		s->drop = s->max - b->min;
	if (b->max > s->max)
		s->max = b->max;
	if (b->min <= s->min) {
		s->min = b->min;
		s->minlast = k + b->minlast;
	}
}

void
runs_sum(const struct runs *v, size_t ka, size_t kb, struct runs_sum *out)
{
	size_t k = ka + 1;

	*out = (struct runs_sum){.max = v->r[ka].v, .min = v->r[ka].v, .minlast = ka};
	if (v->blocks) {
		/* runs up to a block's start, the whole blocks, the runs after them */
		while (k <= kb && (k + v->off) % RUNS_BLOCK)
			sum_run(v, k++, out);
		for (; k <= kb && kb - k + 1 >= RUNS_BLOCK; k += RUNS_BLOCK)
			sum_block(&v->blocks[(k + v->off) / RUNS_BLOCK], k, out);
	}
	for (; k <= kb; k++)
		sum_run(v, k, out);
}

void
runs_sum_tail(const struct runs *v, size_t ka, size_t kt, const struct runs_block *tail,
              struct runs_sum *out)
{
	runs_sum(v, ka, kt - 1, out);
	sum_block(tail, kt, out);
}

/* runs_reset() run by run. */
static size_t
reset_scan(const struct runs *v, size_t start, size_t end)
{
	size_t held = 0, from, to;
	uint64_t prev = 0;

	/* inside a run the count does not fall, so only where one run follows another */
	for (size_t k = runs_find(v, start); k < v->n && runs_span(v, k, start, end, &from, &to);
	     k++) {
		if (from > start && held >= LIFETIME_COLLAPSE_HELD &&
		    lifetime_fell_steeply(prev, v->r[k].v))
			return from;
		held = v->r[k].v >= LIFETIME_FALL_MIN ? held + (to - from) : 0;
		prev = v->r[k].v;
	}
	return end;
}

size_t
runs_reset(const struct runs *v, size_t start, size_t end)
{
	size_t first = start + LIFETIME_COLLAPSE_HELD, k, kb;

	if (!v->blocks)
		return reset_scan(v, start, end);
	/* A run marked in its block falls steeply after a stretch of LIFETIME_COLLAPSE_HELD
	 * scrapes holding at least LIFETIME_FALL_MIN: inside [start, end) when the run starts at
	 * least LIFETIME_COLLAPSE_HELD scrapes after 'start' (what held before it does not count).
	 */
	if (first >= end)
		return end;
	k = runs_find(v, first);
	if (runs_start(v, k) < first)
		k++;
	kb = runs_find(v, end - 1);
	while (k <= kb) {
		size_t p = k + v->off, bit = p % RUNS_BLOCK;
		uint64_t m = v->blocks[p / RUNS_BLOCK].resets >> bit;
		size_t left = kb - k + 1;

		if (left < RUNS_BLOCK - bit)
			m &= ((uint64_t)1 << left) - 1;
		if (m)
			return runs_start(v, k + (size_t)__builtin_ctzll(m));
		k += RUNS_BLOCK - bit;
	}
	return end;
}

/* ---- what the window keeps for the detector ---- */

uint64_t
life_fold_hash(uint64_t h, uint32_t end)
{
	return hash_mix64(h ^ end);
}

size_t
life_fold_resume(const struct life_fold *f, uint32_t base, size_t from, size_t to,
                 unsigned min_scrapes, const size_t *ends, size_t n, uint64_t *h)
{
	*h = HASH_FNV1A_INIT;
	if (!f || f->from != base + from || f->min_scrapes != min_scrapes || f->to > base + to)
		return from;
	/* the restarts up to where the kept sum ends must be those it was made with */
	for (size_t k = 0; k < n && ends[k] <= to; k++) {
		uint32_t e = base + (uint32_t)ends[k];

		*h = life_fold_hash(*h, e);
		if (e < f->to)
			continue;
		if (e == f->to && *h == f->ends)
			return ends[k];
		break;
	}
	*h = HASH_FNV1A_INIT;
	return from;
}

void
life_memos_release(struct life_memos *ms)
{
	free(ms->cut);
	free(ms->fold);
	*ms = (struct life_memos){0};
}
