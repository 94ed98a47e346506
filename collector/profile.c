/* collector/profile.c: the profile model: its arena, the (location, op) aggregator every parser
 * feeds, format detection and dispatch, and the op class tables.
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

#include "base/hash.h"
#include "base/xalloc.h"
#include "collector/profile_internal.h"

/* ---- arena ---- */

struct arena_chunk {
	struct arena_chunk *next;
	max_align_t data[];
};

struct profile_arena {
	struct arena_chunk *head;
	char *cur;
	size_t left;
	size_t chunk; /* size of the next chunk; doubles up to ARENA_MAX_CHUNK */
};

#define ARENA_MIN_CHUNK (64u << 10)
#define ARENA_MAX_CHUNK (4u << 20)

struct profile_arena *
arena_new(void)
{
	struct profile_arena *a = xmalloc(sizeof(*a));

	*a = (struct profile_arena){.chunk = ARENA_MIN_CHUNK};
	return a;
}

void *
arena_alloc(struct profile_arena *a, size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (n > a->left) {
		size_t size = n > a->chunk ? n : a->chunk;
		struct arena_chunk *c = xmalloc(sizeof(*c) + size);

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

static const char *
intern_str(struct intern *in, struct profile_arena *a, const char *s, size_t len)
{
	uint64_t h = hash_bytes(s, len, 7);
	size_t i;
	char *copy;

	if (len == 0)
		return "";
	if (2 * (in->used + 1) > in->mask + 1) {
		size_t nslots = in->mask == 0 ? 1024 : 2 * (in->mask + 1);
		struct istr *ns = xmalloc(nslots * sizeof(*ns));

		memset(ns, 0, nslots * sizeof(*ns));
		for (i = 0; in->mask != 0 && i <= in->mask; i++) {
			size_t j;

			if (in->slots[i].s == NULL)
				continue;
			for (j = in->slots[i].hash & (nslots - 1); ns[j].s != NULL;
			     j = (j + 1) & (nslots - 1))
				;
			ns[j] = in->slots[i];
		}
		free(in->slots);
		in->slots = ns;
		in->mask = nslots - 1;
	}
	for (i = h & in->mask; in->slots[i].s != NULL; i = (i + 1) & in->mask) {
		if (in->slots[i].hash == h && in->slots[i].len == len &&
		    memcmp(in->slots[i].s, s, len) == 0)
			return in->slots[i].s;
	}
	copy = arena_alloc(a, len + 1);
	memcpy(copy, s, len);
	copy[len] = '\0';
	in->slots[i] = (struct istr){.hash = h, .s = copy, .len = len};
	in->used++;
	return copy;
}

/* ---- aggregator ---- */

struct bucket {
	uint64_t hash;
	const char *fn, *file, *op; /* interned (op may be a static string) */
	uint32_t fnlen, filelen, oplen, line;
	uint64_t count, leaked;
	uint64_t nwait; /* goroutines that showed "N minutes" */
	int32_t max_wait, min_wait;
	struct frame *stack;
	size_t nstack;
};

struct wait_pair {
	uint32_t bucket;
	int32_t minutes;
};

struct agg {
	struct profile_arena *arena;
	enum profile_format format;
	enum profile_kind kind;
	struct intern in;
	struct bucket *b;
	size_t nb, capb;
	uint32_t *slots; /* bucket index + 1; 0 = empty */
	size_t mask;
	struct wait_pair *waits;
	size_t nwaits, capwaits;
	size_t pending; /* bucket awaiting agg_set_stack(), or SIZE_MAX */
};

struct agg *
agg_new(struct profile_arena *arena, enum profile_format format, enum profile_kind kind)
{
	struct agg *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->arena = arena;
	g->format = format;
	g->kind = kind;
	g->pending = SIZE_MAX;
	g->mask = 1023;
	g->slots = calloc(g->mask + 1, sizeof(*g->slots));
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
	uint32_t *ns = calloc(nslots, sizeof(*ns));

	if (ns == NULL)
		return -1;
	for (size_t i = 0; i < g->nb; i++) {
		size_t j;

		for (j = g->b[i].hash & (nslots - 1); ns[j] != 0; j = (j + 1) & (nslots - 1))
			;
		ns[j] = (uint32_t)(i + 1);
	}
	free(g->slots);
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
		struct wait_pair *nw = realloc(g->waits, cap * sizeof(*nw));

		if (nw == NULL)
			return -1;
		g->waits = nw;
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

int
agg_add(struct agg *g, const struct agg_record *r)
{
	static const struct raw_frame none = {.fn = "", .file = ""};
	const struct raw_frame *loc;
	const char *op;
	size_t oplen, i;
	uint64_t h;
	bool found, is_new = false;
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
		struct bucket *nb = realloc(g->b, cap * sizeof(*nb));

		if (nb == NULL)
			return -1;
		g->b = nb;
		g->capb = cap;
	}
	b = &g->b[g->nb];
	*b = (struct bucket){
	    .hash = h,
	    .fn = intern_str(&g->in, g->arena, loc->fn, loc->fnlen),
	    .fnlen = loc->fnlen,
	    .file = intern_str(&g->in, g->arena, loc->file, loc->filelen),
	    .filelen = loc->filelen,
	    .op = intern_str(&g->in, g->arena, op, oplen),
	    .oplen = (uint32_t)oplen,
	    .line = loc->line,
	    .max_wait = -1,
	    .min_wait = -1,
	};
	g->slots[i] = (uint32_t)(g->nb + 1);
	g->pending = g->nb;
	g->nb++;
	is_new = true;
	if (2 * g->nb > g->mask + 1 && agg_grow_slots(g) < 0)
		return -1;
	b = &g->b[g->pending];
merge:
	b->count += r->count;
	b->leaked += r->leaked;
	if (r->wait_minutes >= 0 && agg_add_wait(g, (size_t)(b - g->b), r->wait_minutes) < 0)
		return -1;
	return is_new ? 1 : 0;
}

void
agg_set_stack(struct agg *g, const struct raw_frame *frames, size_t n)
{
	struct bucket *b;

	if (g->pending == SIZE_MAX)
		return;
	b = &g->b[g->pending];
	g->pending = SIZE_MAX;
	if (n > PROFILE_MAX_FRAMES)
		n = PROFILE_MAX_FRAMES;
	b->stack = arena_alloc(g->arena, (n ? n : 1) * sizeof(*b->stack));
	for (size_t i = 0; i < n; i++) {
		b->stack[i] = (struct frame){
		    .function = intern_str(&g->in, g->arena, frames[i].fn, frames[i].fnlen),
		    .file = intern_str(&g->in, g->arena, frames[i].file, frames[i].filelen),
		    .line = frames[i].line,
		};
	}
	b->nstack = n;
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
	if (g->nwaits > 1)
		qsort(g->waits, g->nwaits, sizeof(*g->waits), cmp_wait);
	for (i = 0, w = 0; i < g->nb; i++) {
		struct bucket *b = &g->b[i];
		struct prof_location *l = &locs[i];

		*l = (struct prof_location){
		    .loc = {.function = b->fn, .file = b->file, .line = b->line},
		    .op = b->op,
		    .op_class = profile_op_class(b->op),
		    .count = b->count,
		    .leaked = b->leaked,
		    .max_wait_minutes = -1,
		    .min_wait_minutes = -1,
		    .median_wait_minutes = -1,
		    .stack = b->stack,
		    .nstack = b->nstack,
		};
		if (b->stack == NULL) {
			l->stack = arena_alloc(g->arena, sizeof(*l->stack));
			l->nstack = 0;
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
profile_parse(const char *buf, size_t len, struct profile *out, struct parse_error *err)
{
	char what[256];

	*out = (struct profile){0};
	switch (profile_detect(buf, len)) {
	case PROFILE_FORMAT_PROTO:
		return profile_parse_proto(buf, len, out, err);
	case PROFILE_FORMAT_DEBUG1:
		return profile_parse_debug1(buf, len, out, err);
	case PROFILE_FORMAT_DEBUG2:
		return profile_parse_debug2(buf, len, out, err);
	case PROFILE_FORMAT_UNKNOWN:
		break;
	}
	describe(buf, len, what, sizeof(what));
	return perr(err, 0, len > 0 ? 1 : 0,
	            "expected a goroutine profile (debug=0 gzip protobuf, debug=1 or debug=2 "
	            "text), found %s at byte 0",
	            what);
}

void
profile_release(struct profile *p)
{
	if (p == NULL)
		return;
	arena_free(p->arena);
	*p = (struct profile){0};
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
