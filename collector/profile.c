/* collector/profile.c: the profile model: the memory budget of a parse, its arena, the (location,
 * op) aggregator every parser feeds, format detection and dispatch, and the op class tables.
 *
 * Speed and memory come from doing per-goroutine work only on borrowed bytes: a record is hashed by
 * its attributed location and op and merged into an open-addressing table; strings are interned
 * into the arena and the representative stack copied only when a (location, op) bucket is first
 * seen. Wait minutes are kept as one (bucket, minutes) pair per goroutine that shows them, sorted
 * once at the end for the medians. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/hash.h"
#include "base/xalloc.h"
#include "collector/profile_internal.h"

/* ---- limits and the memory budget ---- */

struct profile_limits
profile_limits_for(uint64_t max_body)
{
	uint64_t mem = max_body > PROFILE_MIN_MEMORY ? max_body : PROFILE_MIN_MEMORY;

	return (struct profile_limits){
	    .max_body = max_body,
	    .max_inflated = max_body > UINT64_MAX / PROFILE_INFLATE_RATIO
	                        ? UINT64_MAX
	                        : max_body * PROFILE_INFLATE_RATIO,
	    .max_memory = mem,
	};
}

void
budget_init(struct parse_budget *b, const struct profile_limits *lim)
{
	struct profile_limits def = profile_limits_for(CONFIG_MAX_BODY_DEFAULT);

	if (lim == NULL)
		lim = &def;
	/* a quarter of the address space at most, so used + a request never overflows */
	*b = (struct parse_budget){
	    .limit = lim->max_memory > SIZE_MAX / 4 ? SIZE_MAX / 4 : (size_t)lim->max_memory,
	    .max_body = lim->max_body,
	};
}

/* Account 'newsize' more bytes (the old block still counted); false when over the limit. */
static bool
budget_take(struct parse_budget *b, size_t newsize)
{
	if (b == NULL)
		return true;
	if (newsize > b->limit || b->used + newsize > b->limit) {
		b->over = true;
		return false;
	}
	b->used += newsize;
	return true;
}

int
budget_realloc(struct parse_budget *b, void **p, size_t oldsize, size_t newsize)
{
	void *np;

	if (!budget_take(b, newsize))
		return -1;
	np = realloc(*p, newsize);
	if (b != NULL)
		b->used -= np == NULL ? newsize : oldsize;
	if (np == NULL)
		return -1;
	*p = np;
	return 0;
}

void *
budget_calloc(struct parse_budget *b, size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	if (!budget_take(b, n * size))
		return NULL;
	p = calloc(n, size);
	if (p == NULL && b != NULL)
		b->used -= n * size;
	return p;
}

void
budget_free(struct parse_budget *b, void *p, size_t size)
{
	if (p == NULL)
		return;
	free(p);
	if (b != NULL)
		b->used -= size < b->used ? size : b->used;
}

/* "64 MiB", or the bytes when not a whole number of MiB. */
static void
fmt_size(char *dst, size_t n, uint64_t bytes)
{
	if (bytes % (1u << 20) == 0)
		snprintf(dst, n, "%llu MiB", (unsigned long long)(bytes >> 20));
	else
		snprintf(dst, n, "%llu bytes", (unsigned long long)bytes);
}

int
perr_nomem(struct parse_error *err, const struct parse_budget *b, size_t offset, size_t line,
           const char *prefix)
{
	char lim[32], body[32];

	if (b == NULL || !b->over)
		return perr(err, offset, line, "%sout of memory at byte %zu", prefix, offset);
	fmt_size(lim, sizeof(lim), b->limit);
	fmt_size(body, sizeof(body), b->max_body);
	return perr(err, offset, line,
	            "%sprofile tables need more than %s (the limit for a max_body_bytes of %s) at "
	            "byte %zu",
	            prefix, lim, body, offset);
}

/* ---- arena ---- */

struct arena_chunk {
	struct arena_chunk *next;
	max_align_t data[];
};

struct profile_arena {
	struct arena_chunk *head;
	char *cur;
	size_t left;
	size_t chunk;                /* size of the next chunk; doubles up to ARENA_MAX_CHUNK */
	struct parse_budget *budget; /* while a parse fills it */
};

#define ARENA_MIN_CHUNK (64u << 10)
#define ARENA_MAX_CHUNK (4u << 20)

struct profile_arena *
arena_new(struct parse_budget *b)
{
	struct profile_arena *a = xmalloc(sizeof(*a));

	*a = (struct profile_arena){.chunk = ARENA_MIN_CHUNK, .budget = b};
	return a;
}

void *
arena_alloc(struct profile_arena *a, size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (n > a->left) {
		size_t size = n > a->chunk ? n : a->chunk;
		struct arena_chunk *c = NULL;

		if (a->budget == NULL)
			c = xmalloc(sizeof(*c) + size);
		else if (budget_realloc(a->budget, (void **)&c, 0, sizeof(*c) + size) < 0)
			return NULL;
		c->next = a->head;
		a->head = c;
		a->cur = (char *)c->data;
		a->left = size;
		if (a->chunk < ARENA_MAX_CHUNK)
			a->chunk *= 2;
	}
	p = a->cur;
	a->cur += n;
	a->left -= n;
	return p;
}

void
arena_free(struct profile_arena *a)
{
	if (a == NULL)
		return;
	while (a->head != NULL) {
		struct arena_chunk *next = a->head->next;

		free(a->head);
		a->head = next;
	}
	free(a);
}

/* ---- hashing and interning ---- */

static uint64_t
hash_bytes(const char *p, size_t n, uint64_t seed)
{
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL);
	uint64_t w;

	while (n >= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0x100000001b3ULL;
		h ^= h >> 32;
		p += 8;
		n -= 8;
	}
	w = 0;
	memcpy(&w, p, n);
	h = (h ^ w) * 0x100000001b3ULL;
	return hash_mix64(h);
}

struct istr {
	uint64_t hash;
	const char *s;
	size_t len;
};

struct intern {
	struct istr *slots;
	size_t mask; /* nslots - 1 */
	size_t used;
};

/* 's' copied into the arena once; NULL when over the budget. */
static const char *
intern_str(struct intern *in, struct profile_arena *a, struct parse_budget *bud, const char *s,
           size_t len)
{
	uint64_t h = hash_bytes(s, len, 7);
	size_t i;
	char *copy;

	if (len == 0)
		return "";
	if (2 * (in->used + 1) > in->mask + 1) {
		size_t nslots = in->mask == 0 ? 1024 : 2 * (in->mask + 1);
		struct istr *ns = budget_calloc(bud, nslots, sizeof(*ns));

		if (ns == NULL)
			return NULL;
		for (i = 0; in->mask != 0 && i <= in->mask; i++) {
			size_t j;

			if (in->slots[i].s == NULL)
				continue;
			for (j = in->slots[i].hash & (nslots - 1); ns[j].s != NULL;
			     j = (j + 1) & (nslots - 1))
				;
			ns[j] = in->slots[i];
		}
		budget_free(bud, in->slots, in->mask == 0 ? 0 : (in->mask + 1) * sizeof(*ns));
		in->slots = ns;
		in->mask = nslots - 1;
	}
	for (i = h & in->mask; in->slots[i].s != NULL; i = (i + 1) & in->mask) {
		if (in->slots[i].hash == h && in->slots[i].len == len &&
		    memcmp(in->slots[i].s, s, len) == 0)
			return in->slots[i].s;
	}
	copy = arena_alloc(a, len + 1);
	if (copy == NULL)
		return NULL;
	memcpy(copy, s, len);
	copy[len] = '\0';
	in->slots[i] = (struct istr){.hash = h, .s = copy, .len = len};
	in->used++;
	return copy;
}

/* ---- aggregator ---- */

uint64_t
agg_hash(const void *p, size_t n, uint64_t seed)
{
	return hash_bytes(p, n, seed);
}

/* A distinct stack of a bucket. */
struct bstack {
	uint64_t hash;
	struct frame *frames; /* in the arena */
	size_t n;
	uint64_t count;
};

struct bucket {
	uint64_t hash;
	const char *fn, *file, *op; /* interned (op may be a static string) */
	uint32_t fnlen, filelen, oplen, line;
	uint64_t count, leaked;
	uint64_t nwait; /* goroutines that showed "N minutes" */
	int32_t max_wait, min_wait;
	struct bstack stacks[PROFILE_LOC_STACKS]; /* the distinct stacks kept, in order seen */
	uint32_t nstacks;
	struct bucket_set *sets; /* PROFILE_MAX_LABEL_SETS slots once a labelled goroutine came */
	uint32_t nsets;
	uint64_t labels_other;
};

/* A label set at a bucket: interned, so equal sets share one string. */
struct bucket_set {
	const char *s;
	size_t len;
	uint64_t count;
};

struct wait_pair {
	uint32_t bucket;
	int32_t minutes;
};

struct agg {
	struct profile_arena *arena;
	struct parse_budget *budget;
	enum profile_format format;
	enum profile_kind kind;
	struct intern in;
	struct bucket *b;
	size_t nb, capb;
	uint32_t *slots; /* bucket index + 1; 0 = empty */
	size_t mask;
	struct wait_pair *waits;
	size_t nwaits, capwaits;
	size_t pending_bucket,
	    pending_stack; /* the stack awaiting agg_set_stack(); SIZE_MAX: none */
};

struct agg *
agg_new(struct profile_arena *arena, struct parse_budget *b, enum profile_format format,
        enum profile_kind kind)
{
	struct agg *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->arena = arena;
	g->budget = b;
	g->format = format;
	g->kind = kind;
	g->pending_bucket = SIZE_MAX;
	g->mask = 1023;
	g->slots = budget_calloc(b, g->mask + 1, sizeof(*g->slots));
	if (g->slots == NULL) {
		free(g);
		return NULL;
	}
	return g;
}

void
agg_free(struct agg *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->nb; i++)
		budget_free(g->budget, g->b[i].sets,
		            PROFILE_MAX_LABEL_SETS * sizeof(*g->b[i].sets));
	free(g->in.slots);
	free(g->b);
	free(g->slots);
	free(g->waits);
	free(g);
}

static int
agg_grow_slots(struct agg *g)
{
	size_t nslots = 2 * (g->mask + 1);
	uint32_t *ns = budget_calloc(g->budget, nslots, sizeof(*ns));

	if (ns == NULL)
		return -1;
	for (size_t i = 0; i < g->nb; i++) {
		size_t j;

		for (j = g->b[i].hash & (nslots - 1); ns[j] != 0; j = (j + 1) & (nslots - 1))
			;
		ns[j] = (uint32_t)(i + 1);
	}
	budget_free(g->budget, g->slots, (g->mask + 1) * sizeof(*ns));
	g->slots = ns;
	g->mask = nslots - 1;
	return 0;
}

static int
agg_add_wait(struct agg *g, size_t bucket, int32_t minutes)
{
	struct bucket *b = &g->b[bucket];

	if (g->nwaits == g->capwaits) {
		size_t cap = g->capwaits ? 2 * g->capwaits : 1024;

		if (budget_realloc(g->budget, (void **)&g->waits, g->capwaits * sizeof(*g->waits),
		                   cap * sizeof(*g->waits)) < 0)
			return -1;
		g->capwaits = cap;
	}
	g->waits[g->nwaits++] = (struct wait_pair){.bucket = (uint32_t)bucket, .minutes = minutes};
	if (b->nwait == 0 || minutes > b->max_wait)
		b->max_wait = minutes;
	if (b->nwait == 0 || minutes < b->min_wait)
		b->min_wait = minutes;
	b->nwait++;
	return 0;
}

/* Count 'r's goroutines under their label set at 'b'. Memory: one table of PROFILE_MAX_LABEL_SETS
 * per labelled bucket and each distinct set kept once, however many goroutines carry it. */
static int
agg_add_labels(struct agg *g, struct bucket *b, const struct agg_record *r)
{
	const char *s;

	for (uint32_t i = 0; i < b->nsets; i++) {
		if (b->sets[i].len == r->labelslen &&
		    memcmp(b->sets[i].s, r->labels, r->labelslen) == 0) {
			b->sets[i].count += r->count;
			return 0;
		}
	}
	if (b->nsets == PROFILE_MAX_LABEL_SETS) {
		b->labels_other += r->count;
		return 0;
	}
	if (b->sets == NULL) {
		b->sets = budget_calloc(g->budget, PROFILE_MAX_LABEL_SETS, sizeof(*b->sets));
		if (b->sets == NULL)
			return -1;
	}
	s = intern_str(&g->in, g->arena, g->budget, r->labels, r->labelslen);
	if (s == NULL)
		return -1;
	b->sets[b->nsets++] = (struct bucket_set){.s = s, .len = r->labelslen, .count = r->count};
	return 0;
}

/* The frames of a stack, copied into the arena. NULL on out-of-memory or over the budget. */
static struct frame *
agg_copy_frames(struct agg *g, const struct raw_frame *frames, size_t n)
{
	struct frame *stack = arena_alloc(g->arena, (n ? n : 1) * sizeof(*stack));

	if (stack == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		stack[i] = (struct frame){
		    .function =
		        intern_str(&g->in, g->arena, g->budget, frames[i].fn, frames[i].fnlen),
		    .file =
		        intern_str(&g->in, g->arena, g->budget, frames[i].file, frames[i].filelen),
		    .line = frames[i].line,
		};
		if (stack[i].function == NULL || stack[i].file == NULL)
			return NULL;
	}
	return stack;
}

/* Count the record's goroutines under its stack among the bucket's distinct stacks (see
 * PROFILE_LOC_STACKS). 1 when the bucket keeps it as a new stack whose frames agg_set_stack() is
 * to supply (r->stack_key set), else 0; -1 on out-of-memory or over the budget. */
static int
agg_add_stack(struct agg *g, struct bucket *b, const struct agg_record *r)
{
	size_t n = r->nframes < PROFILE_MAX_FRAMES ? r->nframes : PROFILE_MAX_FRAMES;
	uint64_t h = 0x51ac;
	struct bstack *k = NULL;

	if (r->stack_key != 0) {
		h = hash_mix64(r->stack_key);
	} else {
		for (size_t i = 0; i < n; i++) {
			h = hash_bytes(r->frames[i].fn, r->frames[i].fnlen, h ^ r->frames[i].line);
			h = hash_bytes(r->frames[i].file, r->frames[i].filelen, h);
		}
	}
	for (uint32_t i = 0; i < b->nstacks; i++) {
		if (b->stacks[i].hash == h) {
			b->stacks[i].count += r->count;
			return 0;
		}
	}
	if (b->nstacks < PROFILE_LOC_STACKS) {
		k = &b->stacks[b->nstacks++];
	} else {
		for (uint32_t i = 0; i < b->nstacks; i++)
			if (k == NULL || b->stacks[i].count < k->count)
				k = &b->stacks[i];
		if (r->count <= k->count)
			return 0; /* counted in the location only */
	}
	*k = (struct bstack){.hash = h, .count = r->count};
	if (r->stack_key != 0) {
		g->pending_bucket = (size_t)(b - g->b);
		g->pending_stack = (size_t)(k - b->stacks);
		return 1;
	}
	k->n = n;
	k->frames = agg_copy_frames(g, r->frames, n);
	return k->frames != NULL ? 0 : -1;
}

int
agg_set_stack(struct agg *g, const struct raw_frame *frames, size_t n)
{
	struct bstack *k;

	if (g->pending_bucket == SIZE_MAX)
		return 0;
	k = &g->b[g->pending_bucket].stacks[g->pending_stack];
	g->pending_bucket = SIZE_MAX;
	if (n > PROFILE_MAX_FRAMES)
		n = PROFILE_MAX_FRAMES;
	k->frames = agg_copy_frames(g, frames, n);
	k->n = n;
	return k->frames != NULL ? 0 : -1;
}

int
agg_add(struct agg *g, const struct agg_record *r)
{
	static const struct raw_frame none = {.fn = "", .file = ""};
	const struct raw_frame *loc;
	const char *op;
	size_t oplen, i;
	uint64_t h;
	bool found;
	struct bucket *b;

	i = classify_location(r->frames, r->nframes, &found);
	loc = r->nframes > 0 ? &r->frames[i] : &none;
	if (r->op != NULL) {
		op = r->op;
		oplen = r->oplen;
		if (oplen == 10 && memcmp(op, "semacquire", 10) == 0) {
			op = classify_refine_semacquire(r->frames, r->nframes);
			oplen = strlen(op);
		}
	} else {
		op = classify_infer_op(r->frames, r->nframes);
		oplen = strlen(op);
	}
	h = hash_bytes(loc->fn, loc->fnlen, loc->line);
	h = hash_bytes(loc->file, loc->filelen, h);
	h = hash_bytes(op, oplen, h);
	for (i = h & g->mask;; i = (i + 1) & g->mask) {
		uint32_t s = g->slots[i];

		if (s == 0)
			break;
		b = &g->b[s - 1];
		if (b->hash == h && b->line == loc->line && b->fnlen == loc->fnlen &&
		    b->filelen == loc->filelen && b->oplen == oplen &&
		    memcmp(b->fn, loc->fn, loc->fnlen) == 0 &&
		    memcmp(b->file, loc->file, loc->filelen) == 0 && memcmp(b->op, op, oplen) == 0)
			goto merge;
	}
	if (g->nb >= UINT32_MAX - 1)
		return -1;
	if (g->nb == g->capb) {
		size_t cap = g->capb ? 2 * g->capb : 256;

		if (budget_realloc(g->budget, (void **)&g->b, g->capb * sizeof(*g->b),
		                   cap * sizeof(*g->b)) < 0)
			return -1;
		g->capb = cap;
	}
	b = &g->b[g->nb];
	*b = (struct bucket){
	    .hash = h,
	    .fn = intern_str(&g->in, g->arena, g->budget, loc->fn, loc->fnlen),
	    .fnlen = loc->fnlen,
	    .file = intern_str(&g->in, g->arena, g->budget, loc->file, loc->filelen),
	    .filelen = loc->filelen,
	    .op = intern_str(&g->in, g->arena, g->budget, op, oplen),
	    .oplen = (uint32_t)oplen,
	    .line = loc->line,
	    .max_wait = -1,
	    .min_wait = -1,
	};
	if (b->fn == NULL || b->file == NULL || b->op == NULL)
		return -1;
	g->slots[i] = (uint32_t)(g->nb + 1);
	i = g->nb++;
	if (2 * g->nb > g->mask + 1 && agg_grow_slots(g) < 0)
		return -1;
	b = &g->b[i];
merge:
	b->count += r->count;
	b->leaked += r->leaked;
	if (r->wait_minutes >= 0 && agg_add_wait(g, (size_t)(b - g->b), r->wait_minutes) < 0)
		return -1;
	if (r->labels != NULL && r->labelslen > 0 && agg_add_labels(g, b, r) < 0)
		return -1;
	return agg_add_stack(g, b, r);
}

void
agg_set_kind(struct agg *g, enum profile_kind kind)
{
	g->kind = kind;
}

static int
cmp_wait(const void *a, const void *b)
{
	const struct wait_pair *x = a, *y = b;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	return (x->minutes > y->minutes) - (x->minutes < y->minutes);
}

static int
cmp_labelset(const void *a, const void *b)
{
	const struct prof_labelset *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->set, y->set);
}

static int
cmp_location(const void *a, const void *b)
{
	const struct prof_location *x = a, *y = b;
	int c;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	c = strcmp(x->loc.function, y->loc.function);
	if (c == 0)
		c = strcmp(x->loc.file, y->loc.file);
	if (c == 0 && x->loc.line != y->loc.line)
		c = x->loc.line < y->loc.line ? -1 : 1;
	if (c == 0)
		c = strcmp(x->op, y->op);
	return c;
}

int
agg_finish(struct agg *g, struct profile *out, uint64_t total)
{
	struct prof_location *locs;
	size_t i, w;

	locs = arena_alloc(g->arena, (g->nb ? g->nb : 1) * sizeof(*locs));
	if (locs == NULL)
		return -1;
	if (g->nwaits > 1)
		qsort(g->waits, g->nwaits, sizeof(*g->waits), cmp_wait);
	for (i = 0, w = 0; i < g->nb; i++) {
		struct bucket *b = &g->b[i];
		struct prof_location *l = &locs[i];
		struct prof_stack *ps =
		    arena_alloc(g->arena, (b->nstacks ? b->nstacks : 1) * sizeof(*ps));
		static const struct frame none;

		if (ps == NULL)
			return -1;
		/* most goroutines first; equal counts in the order seen */
		for (uint32_t k = 0; k < b->nstacks; k++) {
			uint32_t j = k;

			while (j > 0 && ps[j - 1].count < b->stacks[k].count) {
				ps[j] = ps[j - 1];
				j--;
			}
			ps[j] = (struct prof_stack){
			    .frames = b->stacks[k].frames ? b->stacks[k].frames : &none,
			    .nframes = b->stacks[k].frames ? b->stacks[k].n : 0,
			    .count = b->stacks[k].count};
		}

		*l = (struct prof_location){
		    .loc = {.function = b->fn, .file = b->file, .line = b->line},
		    .op = b->op,
		    .op_class = profile_op_class(b->op),
		    .count = b->count,
		    .leaked = b->leaked,
		    .max_wait_minutes = -1,
		    .min_wait_minutes = -1,
		    .median_wait_minutes = -1,
		    .stack = b->nstacks ? ps[0].frames : &none,
		    .nstack = b->nstacks ? ps[0].nframes : 0,
		    .stacks = ps,
		    .nstacks = b->nstacks,
		    .labels_other = b->labels_other,
		};
		if (b->nsets > 0) {
			struct prof_labelset *ls = arena_alloc(g->arena, b->nsets * sizeof(*ls));

			if (ls == NULL)
				return -1;
			for (uint32_t k = 0; k < b->nsets; k++)
				ls[k] = (struct prof_labelset){.set = b->sets[k].s,
				                               .count = b->sets[k].count};
			qsort(ls, b->nsets, sizeof(*ls), cmp_labelset);
			l->labels = ls;
			l->nlabels = b->nsets;
		}
		while (w < g->nwaits && g->waits[w].bucket < i)
			w++;
		if (b->nwait > 0) {
			/* Goroutines without "N minutes" waited under a minute: they count as 0. */
			uint64_t zeros = b->count > b->nwait ? b->count - b->nwait : 0;
			uint64_t k = (b->count - 1) / 2;

			l->max_wait_minutes = b->max_wait;
			l->min_wait_minutes = zeros > 0 ? 0 : b->min_wait;
			l->median_wait_minutes = k < zeros ? 0 : g->waits[w + (k - zeros)].minutes;
		}
	}
	if (g->nb > 1)
		qsort(locs, g->nb, sizeof(*locs), cmp_location);
	*out = (struct profile){
	    .format = g->format,
	    .kind = g->kind,
	    .total_goroutines = total,
	    .locations = locs,
	    .nlocations = g->nb,
	    .arena = g->arena,
	};
	g->arena->budget = NULL; /* the profile's now, past the parse and its budget */
	g->arena = NULL;
	return 0;
}

/* ---- errors ---- */

int
perr(struct parse_error *err, size_t offset, size_t line, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->offset = offset;
	err->line = line;
	return -1;
}

void
perr_quote(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t o = 0;
	bool cut = len > 40;

	if (cut)
		len = 40;
	for (size_t i = 0; i < len && o + 5 < dstlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
			dst[o++] = (char)c;
		} else {
			snprintf(dst + o, dstlen - o, "\\x%02x", c);
			o += 4;
		}
	}
	if (cut && o + 4 < dstlen) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o < dstlen ? o : dstlen - 1] = '\0';
}

/* ---- detection and dispatch ---- */

static bool
starts_with(const char *buf, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len >= n && memcmp(buf, lit, n) == 0;
}

enum profile_format
profile_detect(const char *buf, size_t len)
{
	if (len >= 2 && (unsigned char)buf[0] == 0x1f && (unsigned char)buf[1] == 0x8b)
		return PROFILE_FORMAT_PROTO;
	if (starts_with(buf, len, "goroutine profile: total ") ||
	    starts_with(buf, len, "goroutineleak profile: total "))
		return PROFILE_FORMAT_DEBUG1;
	if (starts_with(buf, len, "goroutine ") && len > 10 && buf[10] >= '0' && buf[10] <= '9')
		return PROFILE_FORMAT_DEBUG2;
	return PROFILE_FORMAT_UNKNOWN;
}

static bool
has_ci(const char *buf, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	for (size_t i = 0; i + n <= len; i++) {
		if (strncasecmp(buf + i, lit, n) == 0)
			return true;
	}
	return false;
}

/* Say what the input looks like, for the "expected ..., found ..." message. */
static void
describe(const char *buf, size_t len, char *dst, size_t dstlen)
{
	size_t head = len < 512 ? len : 512, i, eol;
	char q[200];

	for (i = 0;
	     i < head && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'); i++)
		;
	if (len == 0) {
		snprintf(dst, dstlen, "empty input");
		return;
	}
	if (i < head && buf[i] == '<' &&
	    (has_ci(buf, head, "<html") || has_ci(buf, head, "<!doctype"))) {
		snprintf(dst, dstlen, "an HTML page");
		return;
	}
	if (i < head && (buf[i] == '{' || buf[i] == '[')) {
		snprintf(dst, dstlen, "JSON");
		return;
	}
	if (memchr(buf, '\0', head) != NULL) {
		perr_quote(q, sizeof(q), buf, head < 16 ? head : 16);
		snprintf(dst, dstlen, "binary data '%s'", q);
		return;
	}
	for (eol = 0; eol < head && buf[eol] != '\n'; eol++)
		;
	perr_quote(q, sizeof(q), buf, eol);
	if (has_ci(buf, eol, " profile:"))
		snprintf(dst, dstlen, "another profile type '%s'", q);
	else
		snprintf(dst, dstlen, "text '%s'", q);
}

int
profile_parse_limited(const char *buf, size_t len, const struct profile_limits *lim,
                      struct profile *out, struct parse_error *err)
{
	char what[256];

	*out = (struct profile){0};
	switch (profile_detect(buf, len)) {
	case PROFILE_FORMAT_PROTO:
		return profile_parse_proto(buf, len, lim, out, err);
	case PROFILE_FORMAT_DEBUG1:
		return profile_parse_debug1(buf, len, lim, out, err);
	case PROFILE_FORMAT_DEBUG2:
		return profile_parse_debug2(buf, len, lim, out, err);
	case PROFILE_FORMAT_UNKNOWN:
		break;
	}
	describe(buf, len, what, sizeof(what));
	return perr(err, 0, len > 0 ? 1 : 0,
	            "expected a goroutine profile (debug=0 gzip protobuf, debug=1 or debug=2 "
	            "text), found %s at byte 0",
	            what);
}

int
profile_parse(const char *buf, size_t len, struct profile *out, struct parse_error *err)
{
	return profile_parse_limited(buf, len, NULL, out, err);
}

void
profile_release(struct profile *p)
{
	if (p == NULL)
		return;
	arena_free(p->arena);
	*p = (struct profile){0};
}

_Static_assert(CONFIG_MAX_LABEL_SETS <= PROFILE_MAX_LABEL_SETS,
               "detector.max_label_sets may ask for no more sets than a parse keeps");

void
profile_keep_labels(struct profile *p, size_t max_sets)
{
	for (size_t i = 0; i < p->nlocations; i++) {
		struct prof_location *l = &p->locations[i];

		while (l->nlabels > max_sets) {
			l->nlabels--;
			l->labels_other += l->labels[l->nlabels].count;
		}
		if (l->nlabels == 0)
			l->labels = NULL;
		if (max_sets == 0)
			l->labels_other = 0; /* no labels kept at all */
	}
}

const char *
profile_kind_name(enum profile_kind k)
{
	return k == PROFILE_KIND_GOROUTINELEAK ? "goroutineleak" : "goroutine";
}

/* ---- op classes ---- */

enum op_class
profile_op_class(const char *op)
{
	static const char *const chan[] = {
	    "chan send",           "chan receive",           "select",
	    "select (no cases)",   "chan send (nil chan)",   "chan receive (nil chan)",
	    "chan send (durable)", "chan receive (durable)", "select (durable)",
	};
	static const char *const sync[] = {
	    "sync.Mutex.Lock",
	    "sync.RWMutex.RLock",
	    "sync.RWMutex.Lock",
	    "sync.WaitGroup.Wait",
	    "sync.Cond.Wait",
	    "semacquire",
	    "sync.WaitGroup.Wait (durable)",
	};
	size_t i;

	if (op == NULL)
		return OP_CLASS_UNKNOWN;
	if (strcmp(op, "unknown") == 0)
		return OP_CLASS_UNKNOWN;
	for (i = 0; i < sizeof(chan) / sizeof(chan[0]); i++) {
		if (strcmp(op, chan[i]) == 0)
			return OP_CLASS_CHAN;
	}
	for (i = 0; i < sizeof(sync) / sizeof(sync[0]); i++) {
		if (strcmp(op, sync[i]) == 0)
			return OP_CLASS_SYNC;
	}
	/* Reasons of future Go versions: by family, so a new channel or sync wait is not taken as
	 * benign. */
	if (strncmp(op, "chan ", 5) == 0 || strncmp(op, "select ", 7) == 0)
		return OP_CLASS_CHAN;
	if (strncmp(op, "sync.", 5) == 0 && strncmp(op, "synctest", 8) != 0)
		return OP_CLASS_SYNC;
	return OP_CLASS_BENIGN;
}

bool
profile_op_may_leak(const char *op)
{
	return profile_op_class(op) != OP_CLASS_BENIGN;
}
