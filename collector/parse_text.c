/* collector/parse_text.c: the text goroutine profiles: debug=2 (one record per goroutine, as
 * runtime.Stack prints them) and debug=1 (stacks grouped with counts), including the goroutineleak
 * variants of Go 1.26+. Grammar: ../shared/docs/goroutine-profile-formats.md; Go's
 * runtime/traceback.go and runtime/pprof/pprof.go.
 *
 * Lines are found with memchr. A record's frames are parsed only up to the attributed location
 * (usually the first one to three frames); the rest of the record is skipped with a one-byte check
 * per line and parsed in full only when its (location, op) bucket is new and needs a representative
 * stack. A dump cut off by Go's 64 MiB runtime.Stack buffer ends in a partial record: its
 * incomplete last line is ignored. Memory follows the distinct (location, op) buckets and their
 * stacks, each drawn from bytes of its own record, and is counted against the max_memory budget
 * all the same (a 4-byte debug=1 frame line costs a 24-byte stack frame). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "collector/profile_internal.h"

struct lines {
	const char *buf;
	size_t len;
	size_t pos;    /* start of the next line */
	size_t lineno; /* number of the line last returned (1-based) */
};

struct line {
	const char *s;
	size_t n;   /* without the '\n' */
	size_t off; /* byte offset of s */
};

/* Next complete line. 1: got one; 0: end of input (an unterminated last line is ignored: a cut-off
 * dump); -1: a line over PROFILE_MAX_LINE. */
static int
next_line(struct lines *L, struct line *ln, struct parse_error *err)
{
	const char *s = L->buf + L->pos, *nl;
	size_t left = L->len - L->pos;

	if (left == 0)
		return 0;
	nl = memchr(s, '\n', left > PROFILE_MAX_LINE + 1 ? PROFILE_MAX_LINE + 1 : left);
	if (nl == NULL) {
		if (left > PROFILE_MAX_LINE)
			return perr(err, L->pos, L->lineno + 1,
			            "line %zu is longer than %u bytes (byte %zu)", L->lineno + 1,
			            PROFILE_MAX_LINE, L->pos);
		return 0;
	}
	ln->s = s;
	ln->n = (size_t)(nl - s);
	ln->off = L->pos;
	L->pos += ln->n + 1;
	L->lineno++;
	if (ln->n > 0 && s[ln->n - 1] == '\r')
		ln->n--; /* a profile saved with CRLF line ends */
	return 1;
}

static bool
has_prefix(const struct line *ln, const char *lit, size_t n)
{
	return ln->n >= n && memcmp(ln->s, lit, n) == 0;
}

static int
bad_line(struct parse_error *err, const struct lines *L, const struct line *ln,
         const char *expected)
{
	char q[200];

	perr_quote(q, sizeof(q), ln->s, ln->n);
	return perr(err, ln->off, L->lineno, "line %zu: expected %s, found '%s' (byte %zu)",
	            L->lineno, expected, q, ln->off);
}

/* Decimal digits to uint64; false on overflow or no digits. */
static bool
parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* "FILE:LINE", maybe followed by " +0x1d" and crash-dump " fp=... sp=... pc=...": the last ':'
 * followed by digits and then the end or a space. */
static bool
parse_file_line(const char *s, size_t n, struct raw_frame *f)
{
	size_t end = n;

	while (end > 0) {
		const char *c = memrchr(s, ':', end);
		size_t i, j;
		uint64_t line;

		if (c == NULL)
			return false;
		i = (size_t)(c - s);
		for (j = i + 1; j < n && s[j] >= '0' && s[j] <= '9'; j++)
			;
		if (j > i + 1 && (j == n || s[j] == ' ') &&
		    parse_u64(s + i + 1, j - i - 1, &line) && line <= UINT32_MAX) {
			f->file = s;
			f->filelen = (uint32_t)i;
			f->line = (uint32_t)line;
			return true;
		}
		end = i;
	}
	return false;
}

struct text_parser {
	struct lines L;
	struct parse_budget budget;
	struct profile_arena *arena;
	struct agg *agg;
	struct raw_frame *fr; /* PROFILE_MAX_FRAMES scratch frames */
	struct label_scratch *labels;
	struct label_memo *memo; /* LABEL_MEMO slots */
	struct parse_error *err;
};

/* Label texts seen lately and their canonical sets, direct-mapped by hash: the goroutines of one
 * handler repeat the same labels, and decoding a set costs more than the rest of its header. */
#define LABEL_MEMO 32
struct label_memo {
	const char *raw; /* borrowed from the input; NULL: an empty slot */
	size_t rawlen;
	size_t jsonlen; /* 0: the text is no set */
	char json[PROFILE_MAX_LABELSET];
};

/* The record's label set from the text 's' ("{...}", n bytes; NULL: none) into 'rec' (borrowed
 * until the next call). A set that does not parse is left out: the goroutines still count,
 * unlabelled. */
static void
text_labels(struct text_parser *P, const char *s, size_t n, struct agg_record *rec)
{
	struct label_memo *m;

	rec->labels = NULL;
	rec->labelslen = 0;
	if (s == NULL)
		return;
	m = &P->memo[hash_fnv1a(HASH_FNV1A_INIT, s, n) % LABEL_MEMO];
	if (m->raw == NULL || m->rawlen != n || memcmp(m->raw, s, n) != 0) {
		m->raw = s;
		m->rawlen = n;
		m->jsonlen = 0;
		if (labels_parse_text(P->labels, s, n) == 0 && labels_canon(P->labels) > 0) {
			memcpy(m->json, P->labels->json, P->labels->jsonlen);
			m->jsonlen = P->labels->jsonlen;
		}
	}
	if (m->jsonlen > 0) {
		rec->labels = m->json;
		rec->labelslen = m->jsonlen;
	}
}

static bool
frames_have_nul(const struct raw_frame *fr, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (memchr(fr[i].fn, '\0', fr[i].fnlen) != NULL ||
		    memchr(fr[i].file, '\0', fr[i].filelen) != NULL)
			return true;
	}
	return false;
}

/* ---- debug=2 ---- */

enum d2_state {
	D2_FRAME,    /* expecting a function line (or the record's end) */
	D2_FILE,     /* expecting the file line of a stack frame */
	D2_SKIPFILE, /* expecting the file line of a "created by" or ancestor frame */
	D2_KEYFILE, /* expecting the file line of a stack frame not collected (it goes into the key)
	             */
};

/* Parse one record's frame lines from L until its empty line or the end. With 'all', collect every
 * frame (up to PROFILE_MAX_FRAMES); else stop collecting after the first non-internal frame.
 * 'key' (may be NULL) gets a hash of the stack's frames (functions, and file lines with their PC
 * offsets), which tells its stack from others (never 0). Returns the number of frames collected,
 * or -1 on a syntax error. '*found' tells whether a non-internal frame was collected. */
static long
d2_frames(struct text_parser *P, bool all, bool *found, bool *any_line, uint64_t *key)
{
	struct line ln;
	enum d2_state st = D2_FRAME;
	bool ancestors = false, collect = true;
	size_t n = 0;
	uint64_t h = 0x6432;
	int r;

	*found = false;
	*any_line = false;
	while ((r = next_line(&P->L, &ln, P->err)) > 0) {
		if (ln.n == 0)
			break;
		*any_line = true;
		if (ln.s[0] == '\t') {
			if (key != NULL && (st == D2_FILE || st == D2_KEYFILE))
				h = agg_hash(ln.s, ln.n, h);
			if (st == D2_FILE) {
				if (collect) {
					struct raw_frame *f = &P->fr[n];

					if (!parse_file_line(ln.s + 1, ln.n - 1, f))
						return bad_line(
						    P->err, &P->L, &ln,
						    "'\\tFILE:LINE' after a function line");
					n++;
					if (!all && !classify_internal(f->fn, f->fnlen)) {
						*found = true;
						collect = false;
					}
					if (n == PROFILE_MAX_FRAMES)
						collect = false;
				}
			} else if (st == D2_FRAME &&
			           !has_prefix(&ln, "\tgoroutine running on other thread", 34)) {
				return bad_line(P->err, &P->L, &ln,
				                "a function line before '\\tFILE:LINE'");
			}
			st = D2_FRAME;
			continue;
		}
		if (st != D2_FRAME)
			return bad_line(P->err, &P->L, &ln, "'\\tFILE:LINE' after a function line");
		if (ln.s[0] == '.' && has_prefix(&ln, "...", 3))
			continue; /* "...additional frames elided..." / "...N frames elided..." */
		if (ln.s[0] == 'c' && has_prefix(&ln, "created by ", 11)) {
			st = D2_SKIPFILE;
			continue;
		}
		if (ln.s[0] == '[' && has_prefix(&ln, "[originating from goroutine ", 28)) {
			ancestors = true;
			collect = false;
			continue;
		}
		if (ln.s[ln.n - 1] != ')')
			return bad_line(P->err, &P->L, &ln, "a function line 'FUNC(ARGS)'");
		if (collect && !ancestors) {
			const char *p = memrchr(ln.s, '(', ln.n);

			if (p == NULL || p == ln.s)
				return bad_line(P->err, &P->L, &ln, "a function line 'FUNC(ARGS)'");
			P->fr[n] = (struct raw_frame){.fn = ln.s, .fnlen = (uint32_t)(p - ln.s)};
			st = D2_FILE;
		} else {
			st = ancestors ? D2_SKIPFILE : D2_KEYFILE;
		}
		if (key != NULL && !ancestors) {
			/* the function, without its arguments (they differ by goroutine) */
			const char *p = memrchr(ln.s, '(', ln.n);

			h = agg_hash(ln.s, p != NULL ? (size_t)(p - ln.s) : ln.n, h);
		}
	}
	if (r < 0)
		return -1;
	if (key != NULL)
		*key = h | 1;
	if (all && n > 0 && !*found) {
		bool f;

		classify_location(P->fr, n, &f);
		*found = f;
	}
	return (long)n;
}

/* "goroutine N [status, M minutes, locked to thread]:" (crash dumps may add " gp=... m=..." before
 * '['). Labels (GODEBUG=tracebacklabels=1, the default from Go 1.27): Go 1.26 prints them last
 * inside the brackets, "[status labels:{"k": "v"}]:"; Go 1.27 after them, "[status] {k: "v 2"}:".
 */
static int
d2_header(struct text_parser *P, const struct line *ln, struct agg_record *rec, bool *leaked,
          uint64_t *goid)
{
	const char *s = ln->s, *br, *end, *comma, *lset = NULL;
	size_t lsetlen = 0;
	size_t i = 10, stlen;

	if (!has_prefix(ln, "goroutine ", 10) || ln->n < 14 || s[i] < '0' || s[i] > '9')
		return bad_line(P->err, &P->L, ln, "a 'goroutine N [status]:' header");
	while (i < ln->n && s[i] >= '0' && s[i] <= '9')
		i++;
	if (!parse_u64(s + 10, i - 10, goid))
		*goid = 0;
	br = memchr(s + i, '[', ln->n - i);
	if (br == NULL || s[ln->n - 1] != ':' || br >= s + ln->n - 2)
		return bad_line(P->err, &P->L, ln, "a 'goroutine N [status]:' header");
	br++;
	end = s + ln->n - 2;
	if (*end == '}') {
		/* Go 1.27: no status holds ']', so the first one closes the brackets; the label
		 * values after it may hold anything. */
		end = memchr(br, ']', (size_t)(end - br));
		if (end == NULL || end[1] != ' ' || end[2] != '{')
			return bad_line(P->err, &P->L, ln, "a 'goroutine N [status]:' header");
		lset = end + 2;
		lsetlen = (size_t)(s + ln->n - 1 - lset);
	} else if (*end != ']') {
		return bad_line(P->err, &P->L, ln, "a 'goroutine N [status]:' header");
	} else {
		/* Go 1.26: 'labels:{...}' last in the brackets; its values may hold ", ". */
		const char *lab = memmem(br, (size_t)(end - br), "labels:", 7);

		if (lab != NULL) {
			lset = lab + 7;
			lsetlen = (size_t)(end - lset);
			end = lab;
			while (end > br && (end[-1] == ' ' || end[-1] == ','))
				end--;
		}
	}
	comma = memmem(br, (size_t)(end - br), ", ", 2);
	stlen = (size_t)((comma ? comma : end) - br);
	*leaked = false;
	stlen = classify_strip_markers(br, stlen, leaked);
	if (stlen == 0)
		return bad_line(P->err, &P->L, ln, "a status in 'goroutine N [status]:'");
	rec->op = br;
	rec->oplen = stlen;
	rec->wait_minutes = -1;
	while (comma != NULL) {
		const char *part = comma + 2, *pend;
		uint64_t m;
		size_t d;

		comma = memmem(part, (size_t)(end - part), ", ", 2);
		pend = comma ? comma : end;
		for (d = 0; part + d < pend && part[d] >= '0' && part[d] <= '9'; d++)
			;
		if (d > 0 && (size_t)(pend - part) == d + 8 &&
		    memcmp(part + d, " minutes", 8) == 0 && parse_u64(part, d, &m)) {
			rec->wait_minutes = m > INT32_MAX ? INT32_MAX : (int32_t)m;
			break;
		}
	}
	text_labels(P, lset, lsetlen, rec);
	return 0;
}

/* The start of a parse within 'lim': the budget, the arena and the scratch frames. */
static int
text_start(struct text_parser *P, const struct profile_limits *lim)
{
	budget_init(&P->budget, lim);
	P->arena = arena_new(&P->budget);
	P->fr = budget_calloc(&P->budget, PROFILE_MAX_FRAMES, sizeof(*P->fr));
	P->labels = budget_calloc(&P->budget, 1, sizeof(*P->labels));
	P->memo = budget_calloc(&P->budget, LABEL_MEMO, sizeof(*P->memo));
	if (P->fr == NULL || P->labels == NULL || P->memo == NULL)
		return perr_nomem(P->err, &P->budget, 0, 0, "");
	return 0;
}

/* Out of memory or over the budget in the record at line 'line' (byte 'off'). */
static int
text_nomem(struct text_parser *P, size_t off, size_t line)
{
	char prefix[48];

	snprintf(prefix, sizeof(prefix), "line %zu: ", line);
	return perr_nomem(P->err, &P->budget, off, line, prefix);
}

int
profile_parse_debug2(const char *buf, size_t len, const struct profile_limits *lim,
                     struct profile *out, struct parse_error *err)
{
	struct text_parser P = {.L = {.buf = buf, .len = len}, .err = err};
	uint64_t total = 0, max_goid = 0;
	bool any_leaked = false;
	struct line ln;
	int r, ret = -1;

	*out = (struct profile){0};
	if (text_start(&P, lim) < 0)
		goto out_free;
	P.agg = agg_new(P.arena, &P.budget, PROFILE_FORMAT_DEBUG2, PROFILE_KIND_GOROUTINE);
	if (P.agg == NULL) {
		perr_nomem(err, &P.budget, 0, 0, "");
		goto out_free;
	}
	while ((r = next_line(&P.L, &ln, err)) > 0) {
		struct agg_record rec = {.count = 1};
		size_t rec_pos, rec_line;
		bool found, any, leaked;
		uint64_t goid = 0;
		long n;
		int added;

		if (ln.n == 0)
			continue;
		if (d2_header(&P, &ln, &rec, &leaked, &goid) < 0)
			goto out_free;
		if (goid > max_goid)
			max_goid = goid;
		rec_pos = P.L.pos;
		rec_line = P.L.lineno;
		n = d2_frames(&P, false, &found, &any, &rec.stack_key);
		if (n < 0)
			goto out_free;
		if (n == 0 && P.L.pos == len && (len == 0 || buf[len - 1] != '\n' || !any))
			break; /* a record cut off at the end of a truncated dump */
		rec.frames = P.fr;
		rec.nframes = (size_t)n;
		rec.leaked = leaked ? 1 : 0;
		any_leaked |= leaked;
		added = agg_add(P.agg, &rec);
		if (added < 0) {
			text_nomem(&P, ln.off, rec_line);
			goto out_free;
		}
		total++;
		if (added == 1) {
			struct lines saved = P.L;

			P.L.pos = rec_pos;
			P.L.lineno = rec_line;
			n = d2_frames(&P, true, &found, &any, NULL);
			if (n < 0)
				goto out_free;
			if (frames_have_nul(P.fr, (size_t)n)) {
				perr(err, rec_pos, rec_line,
				     "line %zu: NUL byte in a frame of the goroutine (byte %zu)",
				     rec_line + 1, rec_pos);
				goto out_free;
			}
			if (agg_set_stack(P.agg, P.fr, (size_t)n) < 0) {
				text_nomem(&P, ln.off, rec_line);
				goto out_free;
			}
			P.L = saved;
		}
	}
	if (r < 0)
		goto out_free;
	if (any_leaked)
		agg_set_kind(P.agg, PROFILE_KIND_GOROUTINELEAK);
	if (agg_finish(P.agg, out, total) < 0) {
		text_nomem(&P, len, P.L.lineno);
		goto out_free;
	}
	out->max_goid = max_goid;
	ret = 0;
out_free:
	if (ret < 0)
		arena_free(P.arena);
	agg_free(P.agg);
	free(P.fr);
	free(P.labels);
	free(P.memo);
	return ret;
}

/* ---- debug=1 ---- */

/* "#\t0xPC\tFUNC+0xOFF\tFILE:LINE" (tabwriter: one or more TABs between columns), or "#\t0xPC". */
static bool
d1_frame(const struct line *ln, struct raw_frame *f)
{
	const char *s = ln->s + 2, *end = ln->s + ln->n, *t, *plus;

	*f = (struct raw_frame){.fn = "", .file = ""};
	t = memchr(s, '\t', (size_t)(end - s));
	if (t == NULL)
		return s < end && s[0] == '0';
	while (t < end && *t == '\t')
		t++;
	s = t;
	t = memchr(s, '\t', (size_t)(end - s));
	if (t == NULL || t == s)
		return false;
	f->fn = s;
	f->fnlen = (uint32_t)(t - s);
	plus = memrchr(s, '+', (size_t)(t - s));
	if (plus != NULL && plus > s)
		f->fnlen = (uint32_t)(plus - s);
	while (t < end && *t == '\t')
		t++;
	return parse_file_line(t, (size_t)(end - t), f);
}

/* Frame lines of one group. Same contract as d2_frames(); '*labels' (NULL: not wanted) gets the
 * group's "# labels: {...}" set, s NULL when it has none. */
static long
d1_frames(struct text_parser *P, bool all, bool *found, struct line *labels)
{
	struct line ln;
	bool collect = true;
	size_t n = 0;
	int r;

	*found = false;
	while ((r = next_line(&P->L, &ln, P->err)) > 0) {
		if (ln.n == 0)
			break;
		if (ln.s[0] != '#')
			return bad_line(P->err, &P->L, &ln,
			                "a '#\\t0xPC\\tFUNC+0xOFF\\tFILE:LINE' frame line");
		if (ln.n < 2 || ln.s[1] != '\t') {
			if (labels != NULL && has_prefix(&ln, "# labels: ", 10))
				*labels = (struct line){.s = ln.s + 10, .n = ln.n - 10};
			continue;
		}
		if (!collect)
			continue;
		if (!d1_frame(&ln, &P->fr[n]))
			return bad_line(P->err, &P->L, &ln,
			                "a '#\\t0xPC\\tFUNC+0xOFF\\tFILE:LINE' frame line");
		n++;
		if (!all && !classify_internal(P->fr[n - 1].fn, P->fr[n - 1].fnlen)) {
			*found = true;
			collect = false;
		}
		if (n == PROFILE_MAX_FRAMES)
			collect = false;
	}
	if (r < 0)
		return -1;
	return (long)n;
}

int
profile_parse_debug1(const char *buf, size_t len, const struct profile_limits *lim,
                     struct profile *out, struct parse_error *err)
{
	struct text_parser P = {.L = {.buf = buf, .len = len}, .err = err};
	enum profile_kind kind;
	uint64_t total = 0, sum = 0; /* sum: goroutines in the groups */
	struct line ln;
	size_t hl;
	int r, ret = -1;

	*out = (struct profile){0};
	if (text_start(&P, lim) < 0)
		goto out_free;
	r = next_line(&P.L, &ln, err);
	if (r < 0)
		goto out_free;
	if (r > 0 && has_prefix(&ln, "goroutine profile: total ", 25)) {
		kind = PROFILE_KIND_GOROUTINE;
		hl = 25;
	} else if (r > 0 && has_prefix(&ln, "goroutineleak profile: total ", 29)) {
		kind = PROFILE_KIND_GOROUTINELEAK;
		hl = 29;
	} else {
		struct line whole = {.s = buf, .n = len < 80 ? len : 80};

		if (r > 0)
			whole = ln;
		P.L.lineno = 1;
		bad_line(err, &P.L, &whole, "a 'goroutine profile: total N' header");
		goto out_free;
	}
	if (!parse_u64(ln.s + hl, ln.n - hl, &total)) {
		bad_line(err, &P.L, &ln, "a number after 'profile: total '");
		goto out_free;
	}
	P.agg = agg_new(P.arena, &P.budget, PROFILE_FORMAT_DEBUG1, kind);
	if (P.agg == NULL) {
		perr_nomem(err, &P.budget, 0, 0, "");
		goto out_free;
	}
	while ((r = next_line(&P.L, &ln, err)) > 0) {
		struct agg_record rec = {.wait_minutes = -1};
		struct line lab = {.s = NULL};
		const char *at;
		size_t rec_pos, rec_line;
		bool found;
		long n;
		int added;

		if (ln.n == 0)
			continue;
		at = memmem(ln.s, ln.n, " @", 2);
		if (at == NULL || !parse_u64(ln.s, (size_t)(at - ln.s), &rec.count)) {
			bad_line(err, &P.L, &ln, "a 'COUNT @ 0xPC ...' line");
			goto out_free;
		}
		rec_pos = P.L.pos;
		rec_line = P.L.lineno;
		n = d1_frames(&P, false, &found, &lab);
		if (n < 0)
			goto out_free;
		if (n == 0 && P.L.pos == len)
			break; /* a group cut off at the end */
		text_labels(&P, lab.s, lab.n, &rec);
		/* Go groups goroutines by their PCs: the list after '@' names the stack. */
		rec.stack_key = agg_hash(at, ln.n - (size_t)(at - ln.s), 0x64) | 1;
		sum += rec.count;
		if (rec.count == 0)
			continue;
		rec.frames = P.fr;
		rec.nframes = (size_t)n;
		rec.leaked = kind == PROFILE_KIND_GOROUTINELEAK ? rec.count : 0;
		added = agg_add(P.agg, &rec);
		if (added < 0) {
			text_nomem(&P, ln.off, rec_line);
			goto out_free;
		}
		if (added == 1) {
			struct lines saved = P.L;

			P.L.pos = rec_pos;
			P.L.lineno = rec_line;
			n = d1_frames(&P, true, &found, NULL);
			if (n < 0)
				goto out_free;
			if (frames_have_nul(P.fr, (size_t)n)) {
				perr(err, rec_pos, rec_line + 1,
				     "line %zu: NUL byte in a frame (byte %zu)", rec_line + 1,
				     rec_pos);
				goto out_free;
			}
			if (agg_set_stack(P.agg, P.fr, (size_t)n) < 0) {
				text_nomem(&P, ln.off, rec_line);
				goto out_free;
			}
			P.L = saved;
		}
	}
	if (r < 0)
		goto out_free;
	/* Go writes debug=1 whole (unlike debug=2, which runtime.Stack may cut): a last line
	 * without its newline or a last group without its closing empty line mean the body was cut
	 * off on the way. (The groups need not add up to the header's total: Go 1.19's concurrent
	 * goroutine profile can count a goroutine that exits before its stack is taken, so a cut
	 * exactly between two groups cannot be told from that.) */
	if (P.L.pos < len) {
		perr(err, P.L.pos, P.L.lineno + 1,
		     "truncated debug=1 profile: line %zu (byte %zu) ends without a newline",
		     P.L.lineno + 1, P.L.pos);
		goto out_free;
	}
	/* Every group, the last one too, ends with an empty line: a cut at a line end inside the
	 * last group. */
	if ((total > 0 || sum > 0) &&
	    !(len >= 2 && buf[len - 1] == '\n' &&
	      (buf[len - 2] == '\n' ||
	       (len >= 3 && buf[len - 2] == '\r' && buf[len - 3] == '\n')))) {
		perr(err, len, P.L.lineno,
		     "truncated debug=1 profile: the last group (line %zu) is not closed by an "
		     "empty line",
		     P.L.lineno);
		goto out_free;
	}
	if (agg_finish(P.agg, out, total) < 0) {
		text_nomem(&P, len, P.L.lineno);
		goto out_free;
	}
	ret = 0;
out_free:
	if (ret < 0)
		arena_free(P.arena);
	agg_free(P.agg);
	free(P.fr);
	free(P.labels);
	free(P.memo);
	return ret;
}
