/* collector/parse_proto.c: debug=0 goroutine profiles: gzip-compressed pprof profile.proto, decoded
 * by hand.
 *
 * The gzip stream is inflated with zlib through a small window, never whole: memory follows the
 * largest top-level field and the tables, not the profile. Both are bounded by the limits the
 * caller derives from max_body_bytes: a gzip bomb costs CPU up to max_inflated inflated bytes,
 * then an error, and the window, the tables and the aggregate together are counted against the
 * max_memory budget as they grow, so a stream of tiny entries (2 bytes that cost 16-24 bytes each
 * in a table) stops at the budget with the byte it reached. Go writes the string table last, so
 * the stream is read twice: the first pass collects sample types, locations, functions and strings
 * (copied); the second inflates again, walks the samples and aggregates them. Repeated numbers are
 * accepted packed (wire type 2) and unpacked (wire type 0) as protobuf requires; inlined calls are
 * several Lines in one Location, innermost first. Field numbers: profile.proto (see
 * ../shared/docs/goroutine-profile-formats.md) and Go's runtime/pprof/protobuf.go. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/config.h"
#include "base/hash.h"
#include "collector/profile_internal.h"

#define MAX_SAMPLE_TYPES 16

struct pstr {
	const char *s; /* set once pass 1 is done; until then 'off' into strbuf */
	size_t off;
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
	/* the (inflated) stream, read through a window */
	const uint8_t *in; /* the input, gzip or raw profile.proto */
	size_t inlen;
	bool gz;
	bool zinit;
	z_stream zs;
	uint8_t *buf; /* window storage (gzip only) */
	size_t cap;
	const uint8_t *win; /* stream byte win_off is at win[0] */
	size_t win_off;
	const uint8_t *p, *end; /* unread bytes of the window */
	bool eof;
	size_t total_out;
	size_t max_inflated;
	struct parse_budget budget; /* everything below, the window and the aggregate */
	char *strbuf;               /* string table bytes, copied out of the window */
	size_t nstrbuf, capstrbuf;
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

/* Out of memory or over the budget at byte 'off' of the inflated stream. */
static int
oom(struct proto *P, size_t off)
{
	return perr_nomem(P->err, &P->budget, off, 0, "proto: ");
}

/* Room for element 'n' of a table of 'size'-byte elements, within the budget. */
static int
grow(struct proto *P, void **p, size_t *cap, size_t n, size_t size, size_t off)
{
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? 2 * *cap : 256;
	if (ncap > SIZE_MAX / 2 / size ||
	    budget_realloc(&P->budget, p, *cap * size, ncap * size) < 0)
		return oom(P, off);
	*cap = ncap;
	return 0;
}

/* ---- wire format ---- */

struct rd {
	const uint8_t *p, *end;
};

/* Stream offset of a pointer into the window. */
static size_t
at(const struct proto *P, const uint8_t *p)
{
	return P->win_off + (size_t)(p - P->win);
}

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
	return perr(P->err, at(P, r->p), 0, "bad varint at byte %zu of the inflated profile",
	            at(P, r->p));
}

/* Next field: number, wire type, and its value (varint/fixed) or payload (length-delimited). */
static int
rd_field(struct proto *P, struct rd *r, uint32_t *field, uint32_t *wt, uint64_t *v, struct rd *sub)
{
	uint64_t key, n;
	size_t off = at(P, r->p);

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
	size_t off = at(P, r->p);

	if (wt == want)
		return 0;
	return perr(P->err, off, 0,
	            "proto: %s (field %u) has wire type %u, expected %u, near byte %zu", what,
	            field, wt, want, off);
}

/* ---- id maps ---- */

static int
idmap_init(struct idmap *m, size_t n, struct parse_budget *b)
{
	size_t cap = 16;

	while (cap < 2 * n + 2)
		cap *= 2;
	m->keys = budget_calloc(b, cap, sizeof(*m->keys));
	m->vals = budget_calloc(b, cap, sizeof(*m->vals));
	m->mask = cap - 1;
	return m->keys != NULL && m->vals != NULL ? 0 : -1;
}

/* false when 'key' is already there. */
static bool
idmap_put(struct idmap *m, uint64_t key, uint32_t val)
{
	size_t i;

	for (i = hash_mix64(key) & m->mask; m->vals[i] != 0; i = (i + 1) & m->mask) {
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
	for (size_t i = hash_mix64(key) & m->mask; m->vals[i] != 0; i = (i + 1) & m->mask) {
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

/* ---- the stream ---- */

#define WINDOW_MIN (64u << 10)

/* (Re)start reading the stream from its first byte. */
static int
src_start(struct proto *P)
{
	P->win_off = 0;
	P->total_out = 0;
	if (!P->gz) {
		P->win = P->p = P->in;
		P->end = P->in + P->inlen;
		P->eof = true;
		return 0;
	}
	if (P->buf == NULL) {
		if (budget_realloc(&P->budget, (void **)&P->buf, 0, WINDOW_MIN) < 0)
			return oom(P, 0);
		P->cap = WINDOW_MIN;
	}
	if (!P->zinit) {
		if (inflateInit2(&P->zs, 16 + MAX_WBITS) != Z_OK)
			return perr(P->err, 0, 0, "zlib: cannot initialize inflate");
		P->zinit = true;
	} else if (inflateReset(&P->zs) != Z_OK) {
		return perr(P->err, 0, 0, "zlib: cannot reset inflate");
	}
	P->zs.next_in = (Bytef *)(uintptr_t)P->in;
	P->win = P->p = P->end = P->buf;
	P->eof = false;
	return 0;
}

static int
inflated_too_much(struct proto *P, size_t in_pos)
{
	if (P->max_inflated % (1u << 20) == 0)
		return perr(
		    P->err, in_pos, 0,
		    "gzip stream inflates to more than %zu MiB at byte %zu (a gzip bomb? the "
		    "limit is %u x max_body_bytes)",
		    P->max_inflated >> 20, in_pos, PROFILE_INFLATE_RATIO);
	return perr(
	    P->err, in_pos, 0,
	    "gzip stream inflates to more than %zu bytes at byte %zu (a gzip bomb? the limit "
	    "is %u x max_body_bytes)",
	    P->max_inflated, in_pos, PROFILE_INFLATE_RATIO);
}

/* Make at least 'n' unread bytes available in the window, unless the stream ends first. Moves
 * the window: pointers into it are invalid afterwards. */
static int
src_need(struct proto *P, size_t n)
{
	while ((size_t)(P->end - P->p) < n && !P->eof) {
		size_t in_pos = (size_t)((const uint8_t *)P->zs.next_in - P->in), produced;
		int zr;

		if (P->p != P->buf) { /* slide the unread bytes to the start */
			size_t avail = (size_t)(P->end - P->p);

			memmove(P->buf, P->p, avail);
			P->win_off += (size_t)(P->p - P->buf);
			P->p = P->win = P->buf;
			P->end = P->buf + avail;
		}
		if (P->end == P->buf + P->cap) {
			size_t ncap = P->cap * 2, avail = (size_t)(P->end - P->p);

			if (ncap > P->max_inflated + 1)
				ncap = P->max_inflated + 1;
			if (ncap <= P->cap)
				return perr(P->err, in_pos, 0,
				            "proto: a field longer than %zu bytes at byte %zu",
				            P->max_inflated, P->win_off);
			if (budget_realloc(&P->budget, (void **)&P->buf, P->cap, ncap) < 0)
				return oom(P, P->win_off);
			P->cap = ncap;
			P->p = P->win = P->buf;
			P->end = P->buf + avail;
		}
		P->zs.next_out = (Bytef *)(uintptr_t)P->end;
		P->zs.avail_out = (uInt)(P->buf + P->cap - P->end);
		P->zs.avail_in =
		    P->inlen - in_pos > UINT32_MAX ? UINT32_MAX : (uInt)(P->inlen - in_pos);
		zr = inflate(&P->zs, Z_NO_FLUSH);
		produced = (size_t)(P->zs.next_out - P->end);
		P->end += produced;
		P->total_out += produced;
		in_pos = (size_t)((const uint8_t *)P->zs.next_in - P->in);
		if (P->total_out > P->max_inflated)
			return inflated_too_much(P, in_pos);
		if (zr == Z_STREAM_END) {
			if (in_pos + 2 <= P->inlen && P->in[in_pos] == 0x1f &&
			    P->in[in_pos + 1] == 0x8b) {
				inflateReset(&P->zs); /* another gzip member */
				P->zs.next_in = (Bytef *)(uintptr_t)(P->in + in_pos);
				continue;
			}
			for (; in_pos < P->inlen; in_pos++) {
				if (P->in[in_pos] != 0)
					return perr(
					    P->err, in_pos, 0,
					    "trailing garbage after the gzip stream at byte %zu",
					    in_pos);
			}
			P->eof = true;
		} else if (zr == Z_BUF_ERROR && in_pos == P->inlen) {
			return perr(P->err, P->inlen, 0, "truncated gzip stream at byte %zu",
			            P->inlen);
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			return perr(P->err, in_pos, 0, "corrupt gzip stream at byte %zu: %s",
			            in_pos, P->zs.msg ? P->zs.msg : "inflate error");
		}
	}
	return 0;
}

/* The next top-level field of the Profile message; a length-delimited payload is whole in the
 * window until the next call. 1: a field; 0: the end; -1: error. */
static int
next_top(struct proto *P, uint32_t *field, uint32_t *wt, uint64_t *v, struct rd *sub)
{
	struct rd r;
	uint64_t n;
	size_t hdr, off;

	if (src_need(P, 22) < 0)
		return -1;
	if (P->p == P->end)
		return 0;
	r = (struct rd){P->p, P->end};
	off = at(P, r.p);
	if (*(r.p) >> 3 == 0 && (*r.p & 0x80) == 0)
		return perr(P->err, off, 0, "proto: bad field number 0 at byte %zu", off);
	if ((r.p[0] & 7) != 2) { /* fits in the 22 bytes */
		if (rd_field(P, &r, field, wt, v, sub) < 0)
			return -1;
		P->p = r.p;
		return 1;
	}
	if (rd_varint(P, &r, v) < 0 || rd_varint(P, &r, &n) < 0)
		return -1;
	*field = (uint32_t)(*v >> 3);
	*wt = 2;
	if (*v >> 3 == 0 || *v >> 3 > 0x1fffffff)
		return perr(P->err, off, 0, "proto: bad field number at byte %zu", off);
	hdr = (size_t)(r.p - P->p);
	if (n > P->max_inflated)
		return perr(
		    P->err, off, 0,
		    "proto: field %u at byte %zu is %llu bytes long, past the end of its message",
		    *field, off, (unsigned long long)n);
	if (src_need(P, hdr + (size_t)n) < 0)
		return -1;
	if ((size_t)(P->end - P->p) < hdr + n)
		return perr(
		    P->err, off, 0,
		    "proto: field %u at byte %zu is %llu bytes long, past the end of its message",
		    *field, off, (unsigned long long)n);
	sub->p = P->p + hdr;
	sub->end = sub->p + n;
	P->p = sub->end;
	return 1;
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
	size_t off = at(P, r->p);

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
	if (grow(P, (void **)&P->funcs, &P->capfuncs, P->nfuncs, sizeof(*P->funcs), off) < 0)
		return -1;
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
	size_t off = at(P, r->p);

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
			if (grow(P, (void **)&P->lines, &P->caplines, P->nlines, sizeof(*P->lines),
			         at(P, sub.p)) < 0)
				return -1;
			P->lines[P->nlines++] = ln;
		}
	}
	loc.n = P->nlines - loc.first;
	if (grow(P, (void **)&P->locs, &P->caplocs, P->nlocs, sizeof(*P->locs), off) < 0)
		return -1;
	P->locs[P->nlocs++] = loc;
	return 0;
}

/* Copy one string table entry out of the window. */
static int
add_string(struct proto *P, const struct rd *sub)
{
	size_t n = (size_t)(sub->end - sub->p), off = at(P, sub->p);

	if (grow(P, (void **)&P->strs, &P->capstrs, P->nstrs, sizeof(*P->strs), off) < 0)
		return -1;
	if (P->nstrbuf + n + 1 > P->capstrbuf) {
		size_t ncap = P->capstrbuf ? P->capstrbuf : 4096;

		while (P->nstrbuf + n + 1 > ncap)
			ncap *= 2;
		if (budget_realloc(&P->budget, (void **)&P->strbuf, P->capstrbuf, ncap) < 0)
			return oom(P, off);
		P->capstrbuf = ncap;
	}
	memcpy(P->strbuf + P->nstrbuf, sub->p, n);
	P->strbuf[P->nstrbuf + n] = '\0';
	P->strs[P->nstrs++] = (struct pstr){.off = P->nstrbuf, .len = (uint32_t)n};
	P->nstrbuf += n + 1;
	return 0;
}

static int
pass1(struct proto *P)
{
	struct rd r = {NULL, NULL}, sub;
	uint32_t f, wt;
	uint64_t v;
	int got;

	if (src_start(P) < 0)
		return -1;
	while ((got = next_top(P, &f, &wt, &v, &sub)) > 0) {
		r.p = r.end = sub.end; /* for error offsets */
		if (wt != 2)
			r.p = r.end = P->p;
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
			if (add_string(P, &sub) < 0)
				return -1;
			break;
		default:
			break;
		}
	}
	if (got < 0)
		return -1;
	for (size_t i = 0; i < P->nstrs; i++)
		P->strs[i].s = P->strbuf + P->strs[i].off;
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
	if (idmap_init(&P->fmap, P->nfuncs, &P->budget) < 0 ||
	    idmap_init(&P->lmap, P->nlocs, &P->budget) < 0)
		return oom(P, at(P, P->p));
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
	struct label_scratch *labels; /* the current sample's string labels */
};

/* One Label message (1 key, 2 str, 3 num, 4 num_unit) of a sample: a string label is kept, a
 * numeric one (Go's goroutine profiles have none) ignored. */
static int
decode_label(struct sampler *S, struct rd *r)
{
	struct proto *P = S->P;
	uint64_t key = 0, str = 0, v;
	uint32_t f, wt;
	struct rd sub;
	const char *k, *s;
	size_t kl, sl;

	while (r->p < r->end) {
		if (rd_field(P, r, &f, &wt, &v, &sub) < 0)
			return -1;
		if ((f == 1 || f == 2) && wt != 0)
			return want_wt(P, r, f, wt, 0, f == 1 ? "Label.key" : "Label.str");
		if (f == 1)
			key = v;
		else if (f == 2)
			str = v;
	}
	if (key >= P->nstrs || str >= P->nstrs)
		return perr(P->err, at(P, r->p), 0,
		            "proto: a sample label refers to string %llu of %zu at byte %zu",
		            (unsigned long long)(key >= P->nstrs ? key : str), P->nstrs,
		            at(P, r->p));
	if (key == 0 || str == 0)
		return 0; /* no key, or a numeric label */
	k = str_at(P, key, &kl);
	s = str_at(P, str, &sl);
	labels_add(S->labels, k, kl, s, sl);
	return 0;
}

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
	labels_reset(S->labels);
	while (r->p < r->end) {
		if (rd_field(P, r, &f, &wt, &v, &sub) < 0)
			return -1;
		if (f == 3 && wt == 2) {
			if (decode_label(S, &sub) < 0)
				return -1;
			continue;
		}
		if (f != 1 && f != 2)
			continue;
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
	struct rd sub;
	struct sampler S = {.P = P};
	uint32_t f, wt;
	uint64_t v;
	int got, ret = -1;

	S.ids = budget_calloc(&P->budget, PROFILE_MAX_FRAMES, sizeof(*S.ids));
	S.fr = budget_calloc(&P->budget, PROFILE_MAX_FRAMES, sizeof(*S.fr));
	S.labels = budget_calloc(&P->budget, 1, sizeof(*S.labels));
	if (S.ids == NULL || S.fr == NULL || S.labels == NULL) {
		oom(P, 0);
		goto out_free;
	}
	*total = 0;
	if (src_start(P) < 0)
		goto out_free;
	while ((got = next_top(P, &f, &wt, &v, &sub)) > 0) {
		struct agg_record rec = {.wait_minutes = -1};
		size_t off;
		int64_t value;
		bool found;
		long n;
		int added;

		if (f != 2 || wt != 2)
			continue;
		off = at(P, sub.p);
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
		/* A sample's location ids name its stack. */
		rec.stack_key = agg_hash(S.ids, S.nids * sizeof(*S.ids), 0x70) | 1;
		rec.frames = S.fr;
		rec.nframes = (size_t)n;
		rec.count = (uint64_t)value;
		rec.leaked = kind == PROFILE_KIND_GOROUTINELEAK ? rec.count : 0;
		if (labels_canon(S.labels) > 0) {
			rec.labels = S.labels->json;
			rec.labelslen = S.labels->jsonlen;
		}
		if (*total > UINT64_MAX - rec.count) {
			perr(P->err, off, 0, "proto: goroutine counts overflow at byte %zu", off);
			goto out_free;
		}
		*total += rec.count;
		added = agg_add(g, &rec);
		if (added < 0) {
			oom(P, off);
			goto out_free;
		}
		if (added == 1) {
			n = sample_frames(&S, true, &found);
			if (n < 0)
				goto out_free;
			if (agg_set_stack(g, S.fr, (size_t)n) < 0) {
				oom(P, off);
				goto out_free;
			}
		}
	}
	if (got == 0)
		ret = 0;
out_free:
	free(S.ids);
	free(S.fr);
	free(S.labels);
	return ret;
}

int
profile_parse_proto(const char *buf, size_t len, const struct profile_limits *lim,
                    struct profile *out, struct parse_error *err)
{
	struct proto P = {.err = err};
	struct profile_limits def = profile_limits_for(CONFIG_MAX_BODY_DEFAULT);
	struct profile_arena *arena = NULL;
	struct agg *g = NULL;
	enum profile_kind kind = PROFILE_KIND_GOROUTINE;
	uint64_t total = 0;
	size_t vidx = 0;
	int ret = -1;

	*out = (struct profile){0};
	if (lim == NULL)
		lim = &def;
	budget_init(&P.budget, lim);
	P.max_inflated =
	    lim->max_inflated > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)lim->max_inflated;
	P.in = (const uint8_t *)buf;
	P.inlen = len;
	/* gzip as Go serves it, else an uncompressed profile.proto */
	P.gz = len >= 2 && (uint8_t)buf[0] == 0x1f && (uint8_t)buf[1] == 0x8b;
	if (pass1(&P) < 0)
		goto out_free;
	if (P.win_off + (size_t)(P.p - P.win) == 0) {
		perr(err, 0, 0, "proto: empty profile");
		goto out_free;
	}
	if (resolve(&P) < 0 || check_type(&P, &vidx, &kind) < 0)
		goto out_free;
	arena = arena_new(&P.budget);
	g = agg_new(arena, &P.budget, PROFILE_FORMAT_PROTO, kind);
	if (g == NULL) {
		oom(&P, 0);
		goto out_free;
	}
	if (pass2(&P, g, vidx, kind, &total) < 0)
		goto out_free;
	if (agg_finish(g, out, total) < 0) {
		oom(&P, P.total_out);
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
	free(P.strbuf);
	free(P.buf);
	if (P.zinit)
		inflateEnd(&P.zs);
	return ret;
}
