/* collector/parse_proto.c: debug=0 goroutine profiles: gzip-compressed pprof profile.proto, decoded
 * by hand.
 *
 * The gzip stream is inflated with zlib into one buffer capped at PROFILE_MAX_INFLATED (a gzip bomb
 * is an error, not an allocation). Go writes the string table last, so the message is read twice:
 * the first pass collects sample types, locations, functions and strings; the second walks the
 * samples and aggregates them. Repeated numbers are accepted packed (wire type 2) and unpacked
 * (wire type 0) as protobuf requires; inlined calls are several Lines in one Location, innermost
 * first. Field numbers: profile.proto (see
 * ../shared/docs/goroutine-profile-formats.md) and Go's runtime/pprof/protobuf.go. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "collector/profile_internal.h"

#define MAX_SAMPLE_TYPES 16

struct pstr {
	const char *s;
	uint32_t len;
};

struct pfunc {
	uint64_t id;
	uint64_t name, file; /* string indices */
};

struct pline {
	uint64_t func_id; /* resolved to a function index after pass 1 */
	int64_t line;
};

struct ploc {
	uint64_t id;
	size_t first, n; /* into lines */
};

/* uint64 id -> index, open addressing. */
struct idmap {
	uint64_t *keys;
	uint32_t *vals; /* index + 1; 0 = empty */
	size_t mask;
};

struct proto {
	const uint8_t *base;
	size_t len;
	struct parse_error *err;
	struct pstr *strs;
	size_t nstrs, capstrs;
	struct pfunc *funcs;
	size_t nfuncs, capfuncs;
	struct ploc *locs;
	size_t nlocs, caplocs;
	struct pline *lines;
	size_t nlines, caplines;
	uint64_t stype[MAX_SAMPLE_TYPES][2];
	size_t nstype;
	uint64_t ptype[2];
	bool has_ptype;
	struct idmap fmap, lmap;
};

static int
grow(void **p, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *np;

	if (n < *cap)
		return 0;
	ncap = *cap ? 2 * *cap : 256;
	np = realloc(*p, ncap * size);
	if (np == NULL)
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

static int
oom(struct proto *P)
{
	return perr(P->err, 0, 0, "out of memory decoding the profile");
}

/* ---- wire format ---- */

struct rd {
	const uint8_t *p, *end;
};

static int
rd_varint(struct proto *P, struct rd *r, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned shift = 0; shift < 70; shift += 7) {
		uint8_t b;

		if (r->p >= r->end)
			break;
		b = *r->p++;
		if (shift == 63 && b > 1)
			break;
		x |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*v = x;
			return 0;
		}
	}
	return perr(P->err, (size_t)(r->p - P->base), 0,
	            "bad varint at byte %zu of the inflated profile", (size_t)(r->p - P->base));
}

/* Next field: number, wire type, and its value (varint/fixed) or payload (length-delimited). */
static int
rd_field(struct proto *P, struct rd *r, uint32_t *field, uint32_t *wt, uint64_t *v, struct rd *sub)
{
	uint64_t key, n;
	size_t off = (size_t)(r->p - P->base);

	if (rd_varint(P, r, &key) < 0)
		return -1;
	*field = (uint32_t)(key >> 3);
	*wt = (uint32_t)(key & 7);
	if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
		return perr(P->err, off, 0, "proto: bad field number %llu at byte %zu",
		            (unsigned long long)(key >> 3), off);
	switch (*wt) {
	case 0:
		return rd_varint(P, r, v);
	case 1:
	case 5:
		n = *wt == 1 ? 8 : 4;
		if ((size_t)(r->end - r->p) < n)
			return perr(P->err, off, 0, "proto: truncated fixed%u field at byte %zu",
			            (unsigned)n * 8, off);
		*v = 0;
		memcpy(v, r->p,
		       n); /* little-endian hosts only; values of these fields are not used */
		r->p += n;
		return 0;
	case 2:
		if (rd_varint(P, r, &n) < 0)
			return -1;
		if (n > (uint64_t)(r->end - r->p))
			return perr(P->err, off, 0,
			            "proto: field %u at byte %zu is %llu bytes long, past the end "
			            "of its message",
			            *field, off, (unsigned long long)n);
		sub->p = r->p;
		sub->end = r->p + n;
		r->p += n;
		return 0;
	default:
		return perr(P->err, off, 0,
		            "proto: unsupported wire type %u of field %u at byte %zu", *wt, *field,
		            off);
	}
}

static int
want_wt(struct proto *P, struct rd *r, uint32_t field, uint32_t wt, uint32_t want, const char *what)
{
	size_t off = (size_t)(r->p - P->base);

	if (wt == want)
		return 0;
	return perr(P->err, off, 0,
	            "proto: %s (field %u) has wire type %u, expected %u, near byte %zu", what,
	            field, wt, want, off);
}

/* ---- id maps ---- */

static int
idmap_init(struct idmap *m, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n + 2)
		cap *= 2;
	m->keys = calloc(cap, sizeof(*m->keys));
	m->vals = calloc(cap, sizeof(*m->vals));
	m->mask = cap - 1;
	return m->keys != NULL && m->vals != NULL ? 0 : -1;
}

static uint64_t
idhash(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

/* false when 'key' is already there. */
static bool
idmap_put(struct idmap *m, uint64_t key, uint32_t val)
{
	size_t i;

	for (i = idhash(key) & m->mask; m->vals[i] != 0; i = (i + 1) & m->mask) {
		if (m->keys[i] == key)
			return false;
	}
	m->keys[i] = key;
	m->vals[i] = val + 1;
	return true;
}

static bool
idmap_get(const struct idmap *m, uint64_t key, uint32_t *val)
{
	for (size_t i = idhash(key) & m->mask; m->vals[i] != 0; i = (i + 1) & m->mask) {
		if (m->keys[i] == key) {
			*val = m->vals[i] - 1;
			return true;
		}
	}
	return false;
}

static void
idmap_free(struct idmap *m)
{
	free(m->keys);
	free(m->vals);
}

/* ---- pass 1: tables ---- */

static int
decode_value_type(struct proto *P, struct rd *r, uint64_t out[2])
{
	uint32_t f, wt;
	uint64_t v;
	struct rd sub;

	out[0] = out[1] = 0;
	while (r->p < r->end) {
		if (rd_field(P, r, &f, &wt, &v, &sub) < 0)
			return -1;
		if ((f == 1 || f == 2) && want_wt(P, r, f, wt, 0, "ValueType string index") < 0)
			return -1;
		if (f == 1 || f == 2)
			out[f - 1] = v;
	}
	return 0;
}

static int
decode_function(struct proto *P, struct rd *r)
{
	struct pfunc fn = {0};
	uint32_t f, wt;
	uint64_t v;
	struct rd sub;

	while (r->p < r->end) {
		if (rd_field(P, r, &f, &wt, &v, &sub) < 0)
			return -1;
		if (f >= 1 && f <= 5 && want_wt(P, r, f, wt, 0, "Function field") < 0)
			return -1;
		if (f == 1)
			fn.id = v;
		else if (f == 2)
			fn.name = v;
		else if (f == 4)
			fn.file = v;
	}
	if (grow((void **)&P->funcs, &P->capfuncs, P->nfuncs, sizeof(*P->funcs)) < 0)
		return oom(P);
	P->funcs[P->nfuncs++] = fn;
	return 0;
}

static int
decode_location(struct proto *P, struct rd *r)
{
	struct ploc loc = {.first = P->nlines};
	uint32_t f, wt;
	uint64_t v;
	struct rd sub;

	while (r->p < r->end) {
		if (rd_field(P, r, &f, &wt, &v, &sub) < 0)
			return -1;
		if (f == 1) {
			if (want_wt(P, r, f, wt, 0, "Location.id") < 0)
				return -1;
			loc.id = v;
		} else if (f == 4) {
			struct pline ln = {0};
			uint32_t f2, wt2;
			struct rd sub2;

			if (want_wt(P, r, f, wt, 2, "Location.line") < 0)
				return -1;
			while (sub.p < sub.end) {
				if (rd_field(P, &sub, &f2, &wt2, &v, &sub2) < 0)
					return -1;
				if ((f2 == 1 || f2 == 2) &&
				    want_wt(P, &sub, f2, wt2, 0, "Line field") < 0)
					return -1;
				if (f2 == 1)
					ln.func_id = v;
				else if (f2 == 2)
					ln.line = (int64_t)v;
			}
			if (grow((void **)&P->lines, &P->caplines, P->nlines, sizeof(*P->lines)) <
			    0)
				return oom(P);
			P->lines[P->nlines++] = ln;
		}
	}
	loc.n = P->nlines - loc.first;
	if (grow((void **)&P->locs, &P->caplocs, P->nlocs, sizeof(*P->locs)) < 0)
		return oom(P);
	P->locs[P->nlocs++] = loc;
	return 0;
}

static int
pass1(struct proto *P)
{
	struct rd r = {P->base, P->base + P->len}, sub;
	uint32_t f, wt;
	uint64_t v;

	while (r.p < r.end) {
		if (rd_field(P, &r, &f, &wt, &v, &sub) < 0)
			return -1;
		switch (f) {
		case 1:
		case 11:
			if (want_wt(P, &r, f, wt, 2, f == 1 ? "sample_type" : "period_type") < 0)
				return -1;
			if (f == 11) {
				if (decode_value_type(P, &sub, P->ptype) < 0)
					return -1;
				P->has_ptype = true;
			} else if (P->nstype < MAX_SAMPLE_TYPES) {
				if (decode_value_type(P, &sub, P->stype[P->nstype]) < 0)
					return -1;
				P->nstype++;
			}
			break;
		case 2:
			if (want_wt(P, &r, f, wt, 2, "sample") < 0)
				return -1;
			break;
		case 4:
			if (want_wt(P, &r, f, wt, 2, "location") < 0 ||
			    decode_location(P, &sub) < 0)
				return -1;
			break;
		case 5:
			if (want_wt(P, &r, f, wt, 2, "function") < 0 ||
			    decode_function(P, &sub) < 0)
				return -1;
			break;
		case 6:
			if (want_wt(P, &r, f, wt, 2, "string_table") < 0)
				return -1;
			if ((size_t)(sub.end - sub.p) > UINT32_MAX)
				return perr(P->err, 0, 0, "proto: string too long");
			if (grow((void **)&P->strs, &P->capstrs, P->nstrs, sizeof(*P->strs)) < 0)
				return oom(P);
			P->strs[P->nstrs++] =
			    (struct pstr){(const char *)sub.p, (uint32_t)(sub.end - sub.p)};
			break;
		default:
			break;
		}
	}
	return 0;
}

static const char *
str_at(struct proto *P, uint64_t i, size_t *len)
{
	if (i >= P->nstrs) {
		*len = 0;
		return NULL;
	}
	*len = P->strs[i].len;
	return P->strs[i].s;
}

/* Check the strings, index functions and locations, and resolve each line's function. */
static int
resolve(struct proto *P)
{
	size_t i;

	if (P->nstrs == 0 || P->strs[0].len != 0)
		return perr(P->err, 0, 0, "proto: string table %s",
		            P->nstrs ? "does not start with \"\"" : "is missing");
	if (idmap_init(&P->fmap, P->nfuncs) < 0 || idmap_init(&P->lmap, P->nlocs) < 0)
		return oom(P);
	for (i = 0; i < P->nfuncs; i++) {
		if (P->funcs[i].name >= P->nstrs || P->funcs[i].file >= P->nstrs)
			return perr(
			    P->err, 0, 0, "proto: function %llu refers to string %llu of %zu",
			    (unsigned long long)P->funcs[i].id,
			    (unsigned long long)(P->funcs[i].name >= P->nstrs ? P->funcs[i].name
			                                                      : P->funcs[i].file),
			    P->nstrs);
		if (P->funcs[i].id == 0 || !idmap_put(&P->fmap, P->funcs[i].id, (uint32_t)i))
			return perr(P->err, 0, 0, "proto: function id %llu is zero or not unique",
			            (unsigned long long)P->funcs[i].id);
		if (memchr(P->strs[P->funcs[i].name].s, '\0', P->strs[P->funcs[i].name].len) !=
		        NULL ||
		    memchr(P->strs[P->funcs[i].file].s, '\0', P->strs[P->funcs[i].file].len) !=
		        NULL)
			return perr(P->err, 0, 0,
			            "proto: NUL byte in the name or file of function %llu",
			            (unsigned long long)P->funcs[i].id);
	}
	for (i = 0; i < P->nlocs; i++) {
		if (P->locs[i].id == 0 || !idmap_put(&P->lmap, P->locs[i].id, (uint32_t)i))
			return perr(P->err, 0, 0, "proto: location id %llu is zero or not unique",
			            (unsigned long long)P->locs[i].id);
	}
	for (i = 0; i < P->nlines; i++) {
		uint32_t fi;

		if (!idmap_get(&P->fmap, P->lines[i].func_id, &fi))
			return perr(P->err, 0, 0,
			            "proto: a location refers to missing function %llu",
			            (unsigned long long)P->lines[i].func_id);
		P->lines[i].func_id = fi;
	}
	return 0;
}

/* The goroutine value among the sample types; the profile kind. */
static int
check_type(struct proto *P, size_t *vidx, enum profile_kind *kind)
{
	const char *t, *u;
	size_t tl, ul;

	for (size_t i = 0; i < P->nstype; i++) {
		t = str_at(P, P->stype[i][0], &tl);
		if (t != NULL && tl == 9 && memcmp(t, "goroutine", 9) == 0) {
			*vidx = i;
			*kind = PROFILE_KIND_GOROUTINE;
			return 0;
		}
		if (t != NULL && tl == 13 && memcmp(t, "goroutineleak", 13) == 0) {
			*vidx = i;
			*kind = PROFILE_KIND_GOROUTINELEAK;
			return 0;
		}
	}
	if (P->nstype == 0) {
		if (P->has_ptype) {
			t = str_at(P, P->ptype[0], &tl);
			if (t != NULL && ((tl == 9 && memcmp(t, "goroutine", 9) == 0) ||
			                  (tl == 13 && memcmp(t, "goroutineleak", 13) == 0))) {
				*vidx = 0;
				*kind =
				    tl == 9 ? PROFILE_KIND_GOROUTINE : PROFILE_KIND_GOROUTINELEAK;
				return 0;
			}
		}
		return perr(P->err, 0, 0, "proto: no sample_type: not a goroutine profile");
	}
	t = str_at(P, P->stype[0][0], &tl);
	u = str_at(P, P->stype[0][1], &ul);
	{
		char qt[200], qu[200];
		const char *hint = "";

		perr_quote(qt, sizeof(qt), t ? t : "?", t ? tl : 1);
		perr_quote(qu, sizeof(qu), u ? u : "?", u ? ul : 1);
		if (strstr(qt, "inuse_") != NULL || strstr(qt, "alloc_") != NULL)
			hint = " (a heap profile?)";
		else if (strcmp(qt, "samples") == 0 || strcmp(qt, "cpu") == 0)
			hint = " (a CPU profile?)";
		else if (strcmp(qt, "contentions") == 0 || strcmp(qt, "delay") == 0)
			hint = " (a block or mutex profile?)";
		else if (strcmp(qt, "threadcreate") == 0)
			hint = " (a threadcreate profile?)";
		return perr(P->err, 0, 0,
		            "proto: sample_type is '%s/%s', not a goroutine profile%s", qt, qu,
		            hint);
	}
}

/* ---- pass 2: samples ---- */

struct sampler {
	struct proto *P;
	uint64_t *ids; /* location ids of the current sample, leaf first */
	size_t nids;
	struct raw_frame *fr;
};

/* Expand locations into frames; with !all stop after the first non-internal one. -1: missing
 * location. */
static long
sample_frames(struct sampler *S, bool all, bool *found)
{
	struct proto *P = S->P;
	size_t n = 0;

	*found = false;
	for (size_t i = 0; i < S->nids && n < PROFILE_MAX_FRAMES; i++) {
		uint32_t li;
		const struct ploc *loc;

		if (!idmap_get(&P->lmap, S->ids[i], &li))
			return perr(P->err, 0, 0, "proto: a sample refers to missing location %llu",
			            (unsigned long long)S->ids[i]);
		loc = &P->locs[li];
		if (loc->n == 0) {
			S->fr[n++] = (struct raw_frame){.fn = "", .file = ""};
			if (!all) {
				*found = true;
				return (long)n;
			}
			continue;
		}
		for (size_t k = 0; k < loc->n && n < PROFILE_MAX_FRAMES; k++) {
			const struct pline *ln = &P->lines[loc->first + k];
			const struct pfunc *fn = &P->funcs[ln->func_id];
			struct raw_frame *f = &S->fr[n++];

			f->fn = P->strs[fn->name].s;
			f->fnlen = P->strs[fn->name].len;
			f->file = P->strs[fn->file].s;
			f->filelen = P->strs[fn->file].len;
			f->line = ln->line < 0 || ln->line > UINT32_MAX ? 0 : (uint32_t)ln->line;
			if (!all && !classify_internal(f->fn, f->fnlen)) {
				*found = true;
				return (long)n;
			}
		}
	}
	if (all)
		classify_location(S->fr, n, found);
	return (long)n;
}

static int
decode_sample(struct sampler *S, struct rd *r, size_t vidx, int64_t *value)
{
	struct proto *P = S->P;
	uint32_t f, wt;
	uint64_t v;
	struct rd sub;
	size_t nvals = 0;

	S->nids = 0;
	*value = 0;
	while (r->p < r->end) {
		if (rd_field(P, r, &f, &wt, &v, &sub) < 0)
			return -1;
		if (f != 1 && f != 2)
			continue; /* labels */
		if (wt == 2) {
			while (sub.p < sub.end) {
				if (rd_varint(P, &sub, &v) < 0)
					return -1;
				if (f == 1 && S->nids < PROFILE_MAX_FRAMES)
					S->ids[S->nids++] = v;
				else if (f == 2 && nvals++ == vidx)
					*value = (int64_t)v;
			}
		} else if (wt == 0) {
			if (f == 1 && S->nids < PROFILE_MAX_FRAMES)
				S->ids[S->nids++] = v;
			else if (f == 2 && nvals++ == vidx)
				*value = (int64_t)v;
		} else {
			return want_wt(P, r, f, wt, 2,
			               f == 1 ? "Sample.location_id" : "Sample.value");
		}
	}
	return 0;
}

static int
pass2(struct proto *P, struct agg *g, size_t vidx, enum profile_kind kind, uint64_t *total)
{
	struct rd r = {P->base, P->base + P->len}, sub;
	struct sampler S = {.P = P};
	uint32_t f, wt;
	uint64_t v;
	int ret = -1;

	S.ids = malloc(PROFILE_MAX_FRAMES * sizeof(*S.ids));
	S.fr = malloc(PROFILE_MAX_FRAMES * sizeof(*S.fr));
	if (S.ids == NULL || S.fr == NULL) {
		oom(P);
		goto out_free;
	}
	*total = 0;
	while (r.p < r.end) {
		struct agg_record rec = {.wait_minutes = -1};
		size_t off = (size_t)(r.p - P->base);
		int64_t value;
		bool found;
		long n;
		int added;

		if (rd_field(P, &r, &f, &wt, &v, &sub) < 0)
			goto out_free;
		if (f != 2)
			continue;
		if (decode_sample(&S, &sub, vidx, &value) < 0)
			goto out_free;
		if (value < 0) {
			perr(P->err, off, 0,
			     "proto: negative goroutine count %lld in the sample at byte %zu",
			     (long long)value, off);
			goto out_free;
		}
		if (value == 0)
			continue;
		n = sample_frames(&S, false, &found);
		if (n < 0)
			goto out_free;
		rec.frames = S.fr;
		rec.nframes = (size_t)n;
		rec.count = (uint64_t)value;
		rec.leaked = kind == PROFILE_KIND_GOROUTINELEAK ? rec.count : 0;
		if (*total > UINT64_MAX - rec.count) {
			perr(P->err, off, 0, "proto: goroutine counts overflow at byte %zu", off);
			goto out_free;
		}
		*total += rec.count;
		added = agg_add(g, &rec);
		if (added < 0) {
			oom(P);
			goto out_free;
		}
		if (added == 1) {
			n = sample_frames(&S, true, &found);
			if (n < 0)
				goto out_free;
			agg_set_stack(g, S.fr, (size_t)n);
		}
	}
	ret = 0;
out_free:
	free(S.ids);
	free(S.fr);
	return ret;
}

/* ---- gzip ---- */

static int
inflate_all(const char *buf, size_t len, uint8_t **out, size_t *outlen, struct parse_error *err)
{
	z_stream zs = {0};
	uint8_t *dst = NULL;
	size_t cap, hint = 0;
	int zr, ret = -1;

	/* ISIZE (the size mod 2^32) as a first guess; pages never written are never resident. */
	if (len >= 18)
		hint = (size_t)((const uint8_t *)buf)[len - 4] |
		       (size_t)((const uint8_t *)buf)[len - 3] << 8 |
		       (size_t)((const uint8_t *)buf)[len - 2] << 16 |
		       (size_t)((const uint8_t *)buf)[len - 1] << 24;
	if (hint / 1032 > len)
		hint = len * 1032; /* deflate never exceeds 1032:1 */
	if (hint > (64u << 20))
		hint = 64u << 20;
	cap = hint + 64 > 4 * len ? hint + 64 : 4 * len;
	if (cap < 4096)
		cap = 4096;
	if (cap > PROFILE_MAX_INFLATED + 1)
		cap = PROFILE_MAX_INFLATED + 1;
	dst = malloc(cap);
	if (dst == NULL)
		return perr(err, 0, 0, "out of memory inflating the profile");
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
		free(dst);
		return perr(err, 0, 0, "zlib: cannot initialize inflate");
	}
	zs.next_in = (Bytef *)(uintptr_t)buf;
	zs.next_out = dst;
	for (;;) {
		size_t in_left = len - (size_t)((const char *)zs.next_in - buf);
		size_t done = (size_t)(zs.next_out - dst);

		if (done == cap) {
			size_t ncap = cap * 2;
			uint8_t *nd;

			if (cap > PROFILE_MAX_INFLATED) {
				perr(err, (size_t)((const char *)zs.next_in - buf), 0,
				     "gzip stream inflates to more than %u MiB at byte %zu (a gzip "
				     "bomb?)",
				     PROFILE_MAX_INFLATED >> 20,
				     (size_t)((const char *)zs.next_in - buf));
				goto out_end;
			}
			if (ncap > PROFILE_MAX_INFLATED + 1)
				ncap = PROFILE_MAX_INFLATED + 1;
			nd = realloc(dst, ncap);
			if (nd == NULL) {
				perr(err, 0, 0, "out of memory inflating the profile");
				goto out_end;
			}
			dst = nd;
			cap = ncap;
			zs.next_out = dst + done;
		}
		zs.avail_in = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left;
		zs.avail_out = cap - done > UINT32_MAX ? UINT32_MAX : (uInt)(cap - done);
		zr = inflate(&zs, Z_NO_FLUSH);
		if (zr == Z_STREAM_END) {
			size_t pos = (size_t)((const char *)zs.next_in - buf);

			if (pos + 2 <= len && (uint8_t)buf[pos] == 0x1f &&
			    (uint8_t)buf[pos + 1] == 0x8b) {
				inflateReset(&zs); /* another gzip member */
				continue;
			}
			for (; pos < len; pos++) {
				if (buf[pos] != '\0') {
					perr(err, pos, 0,
					     "trailing garbage after the gzip stream at byte %zu",
					     pos);
					goto out_end;
				}
			}
			break;
		}
		if (zr == Z_OK)
			continue;
		if (zr == Z_BUF_ERROR && zs.avail_out > 0) {
			perr(err, len, 0, "truncated gzip stream at byte %zu", len);
			goto out_end;
		}
		if (zr == Z_BUF_ERROR)
			continue;
		perr(err, (size_t)((const char *)zs.next_in - buf), 0,
		     "corrupt gzip stream at byte %zu: %s",
		     (size_t)((const char *)zs.next_in - buf), zs.msg ? zs.msg : "inflate error");
		goto out_end;
	}
	if ((size_t)(zs.next_out - dst) > PROFILE_MAX_INFLATED) {
		perr(err, len, 0, "gzip stream inflates to more than %u MiB (a gzip bomb?)",
		     PROFILE_MAX_INFLATED >> 20);
		goto out_end;
	}
	*out = dst;
	*outlen = (size_t)(zs.next_out - dst);
	dst = NULL;
	ret = 0;
out_end:
	inflateEnd(&zs);
	free(dst);
	return ret;
}

int
profile_parse_proto(const char *buf, size_t len, struct profile *out, struct parse_error *err)
{
	struct proto P = {.err = err};
	struct profile_arena *arena = NULL;
	struct agg *g = NULL;
	uint8_t *raw = NULL;
	enum profile_kind kind = PROFILE_KIND_GOROUTINE;
	uint64_t total = 0;
	size_t vidx = 0;
	int ret = -1;

	*out = (struct profile){0};
	if (len >= 2 && (uint8_t)buf[0] == 0x1f && (uint8_t)buf[1] == 0x8b) {
		if (inflate_all(buf, len, &raw, &P.len, err) < 0)
			return -1;
		P.base = raw;
	} else {
		P.base = (const uint8_t *)buf; /* an uncompressed profile.proto */
		P.len = len;
	}
	if (P.len == 0) {
		perr(err, 0, 0, "proto: empty profile");
		goto out_free;
	}
	if (pass1(&P) < 0 || resolve(&P) < 0 || check_type(&P, &vidx, &kind) < 0)
		goto out_free;
	arena = arena_new();
	g = agg_new(arena, PROFILE_FORMAT_PROTO, kind);
	if (g == NULL) {
		oom(&P);
		goto out_free;
	}
	if (pass2(&P, g, vidx, kind, &total) < 0)
		goto out_free;
	if (agg_finish(g, out, total) < 0) {
		oom(&P);
		goto out_free;
	}
	arena = NULL;
	ret = 0;
out_free:
	agg_free(g);
	arena_free(arena);
	idmap_free(&P.fmap);
	idmap_free(&P.lmap);
	free(P.strs);
	free(P.funcs);
	free(P.locs);
	free(P.lines);
	free(raw);
	return ret;
}
