/* tests/check_profile.c: the goroutine profile parsers against real profiles of Go 1.19, 1.26 (with
 * and without GOEXPERIMENT=goroutineleakprofile) and 1.27 (tests/fixtures/go1.*, captured from
 * tests/go/fixturegen), protobufs built here, and malformed or hostile input. Runs with cwd
 * = tests/. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "collector/classify.h"
#include "collector/profile.h"
#include "daemon/output.h"

/* ---- helpers ---- */

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open fixture '%s'", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void
parse_ok(const char *buf, size_t len, struct profile *p)
{
	struct parse_error err = {.msg = ""};

	ck_assert_msg(profile_parse(buf, len, p, &err) == 0, "parse failed: %s", err.msg);
}

static void
parse_fixture(const char *path, struct profile *p)
{
	size_t len;
	char *buf = slurp(path, &len);

	parse_ok(buf, len, p);
	free(buf); /* the profile owns copies of everything */
}

/* The parse error message of 'buf' (parse must fail). */
static const char *
parse_fail(const char *buf, size_t len)
{
	static struct parse_error err;
	struct profile p;

	memset(&err, 0, sizeof(err));
	ck_assert_msg(profile_parse(buf, len, &p, &err) == -1, "parse of bad input succeeded");
	ck_assert_ptr_null(p.arena);
	ck_assert_uint_eq(p.nlocations, 0);
	ck_assert_msg(err.msg[0] != '\0', "empty error message");
	return err.msg;
}

static const struct prof_location *
find(const struct profile *p, const char *fn, const char *op)
{
	for (size_t i = 0; i < p->nlocations; i++) {
		if (strcmp(p->locations[i].loc.function, fn) == 0 &&
		    (op == NULL || strcmp(p->locations[i].op, op) == 0))
			return &p->locations[i];
	}
	return NULL;
}

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* The real captures of tests/fixtures/go1.* (tests/fixtures/capture.sh). A goroutineleak profile at
 * debug=0 and debug=1 holds the leaked goroutines only; at debug=2 it is the whole dump, the leaked
 * ones tagged. */
static const struct fixture {
	const char *path;
	enum profile_format fmt;
	enum profile_kind kind;
} fixtures[] = {
    {"go1.19/goroutine.debug0.pb.gz", PROFILE_FORMAT_PROTO, PROFILE_KIND_GOROUTINE},
    {"go1.19/goroutine.debug1.txt", PROFILE_FORMAT_DEBUG1, PROFILE_KIND_GOROUTINE},
    {"go1.19/goroutine.debug2.txt", PROFILE_FORMAT_DEBUG2, PROFILE_KIND_GOROUTINE},
    {"go1.26/goroutine.debug0.pb.gz", PROFILE_FORMAT_PROTO, PROFILE_KIND_GOROUTINE},
    {"go1.26/goroutine.debug1.txt", PROFILE_FORMAT_DEBUG1, PROFILE_KIND_GOROUTINE},
    {"go1.26/goroutine.debug2.txt", PROFILE_FORMAT_DEBUG2, PROFILE_KIND_GOROUTINE},
    {"go1.26/goroutine.tracebacklabels1.debug2.txt", PROFILE_FORMAT_DEBUG2, PROFILE_KIND_GOROUTINE},
    {"go1.26exp/goroutine.debug0.pb.gz", PROFILE_FORMAT_PROTO, PROFILE_KIND_GOROUTINE},
    {"go1.26exp/goroutine.debug1.txt", PROFILE_FORMAT_DEBUG1, PROFILE_KIND_GOROUTINE},
    {"go1.26exp/goroutine.debug2.txt", PROFILE_FORMAT_DEBUG2, PROFILE_KIND_GOROUTINE},
    {"go1.26exp/goroutineleak.debug0.pb.gz", PROFILE_FORMAT_PROTO, PROFILE_KIND_GOROUTINELEAK},
    {"go1.26exp/goroutineleak.debug1.txt", PROFILE_FORMAT_DEBUG1, PROFILE_KIND_GOROUTINELEAK},
    {"go1.26exp/goroutineleak.debug2.txt", PROFILE_FORMAT_DEBUG2, PROFILE_KIND_GOROUTINELEAK},
    {"go1.27/goroutine.debug0.pb.gz", PROFILE_FORMAT_PROTO, PROFILE_KIND_GOROUTINE},
    {"go1.27/goroutine.debug1.txt", PROFILE_FORMAT_DEBUG1, PROFILE_KIND_GOROUTINE},
    {"go1.27/goroutine.debug2.txt", PROFILE_FORMAT_DEBUG2, PROFILE_KIND_GOROUTINE},
    {"go1.27/goroutine.tracebacklabels0.debug2.txt", PROFILE_FORMAT_DEBUG2, PROFILE_KIND_GOROUTINE},
    {"go1.27/goroutineleak.debug0.pb.gz", PROFILE_FORMAT_PROTO, PROFILE_KIND_GOROUTINELEAK},
    {"go1.27/goroutineleak.debug1.txt", PROFILE_FORMAT_DEBUG1, PROFILE_KIND_GOROUTINELEAK},
    {"go1.27/goroutineleak.debug2.txt", PROFILE_FORMAT_DEBUG2, PROFILE_KIND_GOROUTINELEAK},
};

/* Check every line of the fixture's DIR/expected.txt ("count op function file:line leaked") against
 * 'p'. */
static void
check_expected(const struct profile *p, const struct fixture *fx)
{
	char path[128];
	const char *slash = strchr(fx->path, '/');
	bool leakprof = fx->kind == PROFILE_KIND_GOROUTINELEAK,
	     whole = fx->fmt == PROFILE_FORMAT_DEBUG2;
	size_t len, checked = 0;
	char *buf, *line, *next;
	uint64_t sum = 0;

	snprintf(path, sizeof(path), "fixtures/%.*s/expected.txt", (int)(slash - fx->path),
	         fx->path);
	buf = slurp(path, &len);
	buf[len] = '\0';
	for (line = buf; *line != '\0'; line = next) {
		char op[64], fn[128], fileline[128], want_op[64];
		const struct prof_location *l;
		unsigned long long count, leaked;
		char *colon;

		next = strchr(line, '\n');
		if (next == NULL)
			next = line + strlen(line);
		else
			*next++ = '\0';
		ck_assert_int_eq(sscanf(line, "%llu\t%63[^\t]\t%127[^\t]\t%127s\t%llu", &count, op,
		                        fn, fileline, &leaked),
		                 5);
		snprintf(want_op, sizeof(want_op), "%s", op);
		if (fx->fmt == PROFILE_FORMAT_DEBUG1 && profile_op_class(op) == OP_CLASS_CHAN)
			snprintf(want_op, sizeof(want_op),
			         "unknown"); /* debug=1 hides channel ops */
		if (fx->fmt == PROFILE_FORMAT_PROTO && strcmp(op, "chan send (nil chan)") == 0)
			snprintf(want_op, sizeof(want_op),
			         "chan send"); /* same frames as a non-nil send */
		if (fx->fmt == PROFILE_FORMAT_PROTO && strcmp(op, "chan receive (nil chan)") == 0)
			snprintf(want_op, sizeof(want_op), "chan receive");
		if (leakprof && !whole) {
			/* debug=0 and debug=1 of goroutineleak: the leaked goroutines, nothing else
			 */
			if (leaked == 0) {
				ck_assert_msg(find(p, fn, want_op) == NULL,
				              "%s: %s '%s' is not leaked", fx->path, fn, want_op);
				continue;
			}
			count = leaked;
		}
		if (!leakprof)
			leaked = 0; /* a goroutine profile taken before any leak detection */
		l = find(p, fn, want_op);
		ck_assert_msg(l != NULL, "%s: no location %s op '%s'", fx->path, fn, want_op);
		ck_assert_msg(l->count == count, "%s: %s '%s': count %llu, want %llu", fx->path, fn,
		              want_op, (unsigned long long)l->count, count);
		ck_assert_msg(l->leaked == leaked, "%s: %s '%s': leaked %llu, want %llu", fx->path,
		              fn, want_op, (unsigned long long)l->leaked, leaked);
		colon = strrchr(fileline, ':');
		ck_assert_ptr_nonnull(colon);
		*colon = '\0';
		if (strtoul(colon + 1, NULL, 10) != 0) {
			ck_assert_uint_eq(l->loc.line, strtoul(colon + 1, NULL, 10));
			ck_assert_str_eq(base_name(l->loc.file), fileline);
		}
		ck_assert_int_eq(l->op_class, profile_op_class(want_op));
		ck_assert_uint_ge(l->nstack, 1);
		sum += count;
		checked++;
	}
	ck_assert_uint_ge(checked, leakprof && !whole ? 11 : 16);
	/* plus main (sleeping in the profile write) and the goroutine writing the profile */
	ck_assert_uint_eq(p->total_goroutines, leakprof && !whole ? sum : sum + 1);
	free(buf);
}

static void
check_sorted(const struct profile *p)
{
	for (size_t i = 1; i < p->nlocations; i++) {
		const struct prof_location *a = &p->locations[i - 1], *b = &p->locations[i];

		ck_assert_uint_ge(a->count, b->count);
		if (a->count == b->count)
			ck_assert_int_le(strcmp(a->loc.function, b->loc.function), 0);
	}
}

/* fixturegen's one labelled pattern: main.labeled.func1 runs under pprof.Do with three labels whose
 * values hold a space, ", 5 minutes", ']' and '{id}'. Every format carries them but the debug=2
 * dumps of Go 1.19, of Go 1.26 by default and of Go 1.27 with GODEBUG=tracebacklabels=0: the
 * parsed set is the same canonical string, whichever form Go printed it in. */
static void
check_labels(const struct profile *p, const char *path)
{
	static const char *const unlabelled[] = {
	    "go1.19/goroutine.debug2.txt",
	    "go1.26/goroutine.debug2.txt",
	    "go1.26exp/goroutine.debug2.txt",
	    "go1.26exp/goroutineleak.debug2.txt",
	    "go1.27/goroutine.tracebacklabels0.debug2.txt",
	};
	bool want = true;

	for (size_t i = 0; i < sizeof(unlabelled) / sizeof(unlabelled[0]); i++)
		want &= strcmp(path, unlabelled[i]) != 0;
	for (size_t i = 0; i < p->nlocations; i++) {
		const struct prof_location *l = &p->locations[i];

		if (strcmp(l->loc.function, "main.labeled.func1") != 0 || !want) {
			ck_assert_msg(l->nlabels == 0, "%s: %s has labels", path, l->loc.function);
			continue;
		}
		ck_assert_msg(l->nlabels == 1, "%s: %zu label sets", path, l->nlabels);
		ck_assert_str_eq(l->labels[0].set, "{\"k2\":\"v 2\",\"leak\":\"labeled\","
		                                   "\"route\":\"/items/{id}], 5 minutes\"}");
		ck_assert_uint_eq(l->labels[0].count, l->count);
		ck_assert_uint_eq(l->labels_other, 0);
	}
	if (want)
		ck_assert_ptr_nonnull(find(p, "main.labeled.func1", NULL));
}

/* ---- real profiles of every toolchain ---- */

/* Every capture: the exact count, op, file:line and leaked count of every pattern fixturegen
 * parked. */
START_TEST(test_fixture)
{
	const struct fixture *fx = &fixtures[_i];
	char path[160];
	struct profile p;

	snprintf(path, sizeof(path), "fixtures/%s", fx->path);
	parse_fixture(path, &p);
	ck_assert_int_eq(p.format, fx->fmt);
	ck_assert_msg(p.kind == fx->kind, "%s: kind %s", fx->path, profile_kind_name(p.kind));
	check_expected(&p, fx);
	check_sorted(&p);
	check_labels(&p, fx->path);
	profile_release(&p);
}
END_TEST

/* The wait ages fixturegen -age leaves in every debug=2 dump: the goroutines parked before its GCs
 * waited a minute, the two nilRecv goroutines started later waited less. */
static void
check_ages(const struct profile *p, bool leakprof)
{
	const struct prof_location *l;

	l = find(p, "main.nilRecv", NULL);
	ck_assert_uint_eq(l->count, 5);
	if (leakprof) {
		/* a leaked goroutine's header carries no age */
		ck_assert_int_eq(l->max_wait_minutes, -1);
	} else {
		ck_assert_int_eq(l->max_wait_minutes, 1);
		ck_assert_int_eq(l->min_wait_minutes, 0);
		ck_assert_int_eq(l->median_wait_minutes, 1);
	}
	l = find(p, "main.mutexLock", "sync.Mutex.Lock");
	ck_assert_int_eq(l->max_wait_minutes, 1);
	ck_assert_int_eq(l->min_wait_minutes, 1);
	/* "[select (no cases), 1 minutes, locked to thread]:" */
	l = find(p, "main.selectForever", "select (no cases)");
	ck_assert_uint_eq(l->count, 7);
	ck_assert_int_eq(l->max_wait_minutes, leakprof ? -1 : 1);
	/* the labels' values hold ", 5 minutes" and "]": neither is the age nor ends the status */
	l = find(p, "main.labeled.func1", "chan receive");
	ck_assert_uint_eq(l->count, 15);
	ck_assert_int_eq(l->max_wait_minutes, leakprof ? -1 : 1);
}

START_TEST(test_go119_debug2)
{
	struct profile p;
	const struct prof_location *l;

	parse_fixture("fixtures/go1.19/goroutine.debug2.txt", &p);
	/* 150 recursions: Go 1.19 prints 100 frames, then "...additional frames elided..." */
	l = find(&p, "main.deep", NULL);
	ck_assert_uint_ge(l->nstack, 90);
	ck_assert_str_eq(l->stack[0].function, "main.deep");
	/* the representative stack keeps the runtime and sync frames, leaf first; the raw header
	 * says "semacquire" */
	l = find(&p, "main.wgWait", NULL);
	ck_assert_str_eq(l->op, "sync.WaitGroup.Wait");
	ck_assert_str_eq(l->stack[0].function, "sync.runtime_Semacquire");
	ck_assert_str_eq(l->stack[1].function, "sync.(*WaitGroup).Wait");
	ck_assert_str_eq(l->stack[2].function, "main.wgWait");
	check_ages(&p, false);
	l = find(&p, "runtime/pprof.writeGoroutineStacks", "running");
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->op_class, OP_CLASS_BENIGN);
	ck_assert_int_eq(l->max_wait_minutes, -1);
	profile_release(&p);
	profile_release(&p); /* a released profile is zeroed: releasing again does nothing */
}
END_TEST

START_TEST(test_go119_debug1)
{
	struct profile p;
	const struct prof_location *l;

	parse_fixture("fixtures/go1.19/goroutine.debug1.txt", &p);
	l = find(&p, "main.chanSend", NULL);
	ck_assert_str_eq(l->op, "unknown");
	ck_assert_int_eq(l->op_class, OP_CLASS_UNKNOWN);
	ck_assert(profile_op_may_leak(l->op));
	ck_assert_int_eq(l->max_wait_minutes, -1); /* debug=1 has no ages */
	profile_release(&p);
}
END_TEST

START_TEST(test_go119_proto)
{
	struct profile p;
	const struct prof_location *l;

	parse_fixture("fixtures/go1.19/goroutine.debug0.pb.gz", &p);
	l = find(&p, "main.chanSend", NULL);
	ck_assert_str_eq(l->stack[0].function, "runtime.gopark");
	ck_assert_str_eq(l->stack[1].function, "runtime.chansend");
	l = find(&p, "main.mutexLock", NULL);
	ck_assert_str_eq(l->op, "sync.Mutex.Lock");
	/* sync.(*Mutex).Lock is inlined: a Line of its own inside the caller's Location */
	ck_assert_ptr_nonnull(find(&p, "main.rwLock", "sync.RWMutex.Lock"));
	profile_release(&p);
}
END_TEST

/* Every prefix of a real proto: truncated gzip is an error naming the byte, never a crash. */
START_TEST(test_go119_proto_truncated)
{
	size_t len;
	char *buf = slurp("fixtures/go1.19/goroutine.debug0.pb.gz", &len);

	for (size_t n = 0; n < len; n++) {
		struct profile p;
		struct parse_error err;

		if (profile_parse(buf, n, &p, &err) == 0)
			profile_release(&p);
		else if (n > 20)
			ck_assert_msg(strstr(err.msg, "truncated gzip stream at byte") != NULL,
			              "cut at %zu: %s", n, err.msg);
	}
	free(buf);
}
END_TEST

/* A dump cut anywhere (Go cuts runtime.Stack at 64 MiB) still parses up to the cut: every cut of
 * real Go 1.27 and Go 1.26 records from a labelled header on (a dump starting there is a dump). */
START_TEST(test_debug2_truncated)
{
	static const char *const paths[] = {
	    "fixtures/go1.27/goroutineleak.debug2.txt",
	    "fixtures/go1.26/goroutine.tracebacklabels1.debug2.txt"};

	for (size_t f = 0; f < sizeof(paths) / sizeof(paths[0]); f++) {
		size_t len, n, end, recs;
		char *buf = slurp(paths[f], &len);
		const char *rec;

		buf[len] = '\0';
		rec = strstr(buf, "leak: labeled"); /* Go 1.27: after the brackets */
		if (rec == NULL)
			rec = strstr(buf, "\"leak\": \"labeled\""); /* Go 1.26: inside them */
		ck_assert_ptr_nonnull(rec);
		while (rec > buf + 1 && !(rec[-1] == '\n' && rec[-2] == '\n'))
			rec--;
		/* the labelled record and the next two */
		for (end = 0, recs = 0; recs < 3 && rec[end] != '\0'; end++)
			if (rec[end] == '\n' && rec[end + 1] == '\n')
				recs++;
		for (n = 11; n <= end; n++) {
			struct profile p;
			struct parse_error err;

			ck_assert_msg(profile_parse(rec, n, &p, &err) == 0, "%s: cut at %zu: %s",
			              paths[f], n, err.msg);
			ck_assert_uint_le(p.total_goroutines, 3);
			profile_release(&p);
		}
		free(buf);
	}
}
END_TEST

/* A real debug=1 profile cut inside a line or a group is an error naming truncation, never a
 * smaller profile: Go writes debug=1 whole, so a cut can only happen in transit. */
START_TEST(test_debug1_truncated)
{
	size_t len;
	char *buf = slurp("fixtures/go1.19/goroutine.debug1.txt", &len);
	struct profile p;
	struct parse_error err;

	for (size_t n = 40; n < len; n++) {
		/* A cut right after a group's closing empty line leaves a well-formed, smaller
		 * profile. */
		if (buf[n - 1] == '\n' && buf[n - 2] == '\n')
			continue;
		ck_assert_msg(profile_parse(buf, n, &p, &err) == -1, "cut at %zu of %zu parsed", n,
		              len);
		ck_assert_msg(strstr(err.msg, "truncated debug=1 profile") != NULL,
		              "cut at %zu: %s", n, err.msg);
	}
	ck_assert_int_eq(profile_parse(buf, len, &p, &err), 0);
	profile_release(&p);
	free(buf);
}
END_TEST

/* Go 1.21+ (here 1.26 and 1.27): "created by F in goroutine N", "...N frames elided..." mid-stack,
 * WaitGroup waits through sync.runtime_SemacquireWaitGroup (1.25+), mutex waits through
 * internal/sync (1.24+), wait reasons named for the sync call (1.20+). */
START_TEST(test_go126_go127_debug2)
{
	static const char *const paths[] = {
	    "fixtures/go1.26/goroutine.debug2.txt",
	    "fixtures/go1.26/goroutine.tracebacklabels1.debug2.txt",
	    "fixtures/go1.26exp/goroutine.debug2.txt",
	    "fixtures/go1.27/goroutine.debug2.txt",
	    "fixtures/go1.27/goroutine.tracebacklabels0.debug2.txt",
	};

	for (size_t f = 0; f < sizeof(paths) / sizeof(paths[0]); f++) {
		struct profile p;
		const struct prof_location *l;

		parse_fixture(paths[f], &p);
		l = find(&p, "main.chanSend", "chan send");
		ck_assert_str_eq(l->stack[l->nstack - 1].function,
		                 "main.main.func1"); /* "created by" is not a frame */
		/* 150 recursions: the 50 innermost and 50 outermost frames, "...52 frames
		 * elided..." skipped */
		l = find(&p, "main.deep", "chan receive");
		ck_assert_uint_eq(l->nstack, 100);
		ck_assert_uint_eq(l->loc.line, l->stack[0].line);
		l = find(&p, "main.wgWait", "sync.WaitGroup.Wait");
		ck_assert_str_eq(l->stack[0].function, "sync.runtime_SemacquireWaitGroup");
		l = find(&p, "main.mutexLock", "sync.Mutex.Lock");
		ck_assert_str_eq(l->stack[0].function, "internal/sync.runtime_SemacquireMutex");
		ck_assert_str_eq(l->loc.function, "main.mutexLock"); /* past internal/sync.* */
		check_ages(&p, false);
		profile_release(&p);
	}
}
END_TEST

/* Go 1.26 (GOEXPERIMENT=goroutineleakprofile) and 1.27: the goroutineleak dump is every goroutine,
 * the leaked ones tagged "[chan send (leaked)]:" (and "[...] (leaked)] {labels}:" in 1.27). */
START_TEST(test_goroutineleak_debug2)
{
	static const char *const paths[] = {"fixtures/go1.26exp/goroutineleak.debug2.txt",
	                                    "fixtures/go1.27/goroutineleak.debug2.txt"};

	for (size_t f = 0; f < sizeof(paths) / sizeof(paths[0]); f++) {
		struct profile p;
		const struct prof_location *l;

		parse_fixture(paths[f], &p);
		l = find(&p, "main.selectForever", "select (no cases)");
		ck_assert_uint_eq(l->leaked, 7);
		l = find(&p, "main.mutexLock", "sync.Mutex.Lock");
		ck_assert_uint_eq(l->leaked,
		                  0); /* a lock a package variable holds is never "leaked" */
		l = find(&p, "net.(*netFD).accept", "IO wait");
		ck_assert_int_eq(l->op_class, OP_CLASS_BENIGN);
		check_ages(&p, true);
		profile_release(&p);
	}
}
END_TEST

/* Go 1.25+ testing/synctest, from fixturegen's test binary (package names are import paths there):
 * "[chan receive (durable), synctest bubble 1]:" is a chan receive like any other, nothing proven;
 * the bubble's root waits in "[synctest.Run (durable), ...]", which never leaks. */
START_TEST(test_synctest_debug2)
{
	static const char *const paths[] = {"fixtures/go1.26/synctest.debug2.txt",
	                                    "fixtures/go1.27/synctest.debug2.txt"};

	for (size_t f = 0; f < sizeof(paths) / sizeof(paths[0]); f++) {
		struct profile p;
		const struct prof_location *l;

		parse_fixture(paths[f], &p);
		ck_assert_int_eq(p.kind, PROFILE_KIND_GOROUTINE);
		ck_assert_uint_eq(p.total_goroutines, 7);
		l = find(&p, "leakprofd/tests/go/fixturegen.bubbled", "chan receive");
		ck_assert_uint_eq(l->count, 3);
		ck_assert_uint_eq(l->leaked, 0);
		ck_assert_int_eq(l->op_class, OP_CLASS_CHAN);
		ck_assert_str_eq(base_name(l->loc.file), "synctest_test.go");
		l = find(&p, "internal/synctest.Run", "synctest.Run");
		ck_assert_int_eq(l->op_class, OP_CLASS_BENIGN);
		profile_release(&p);
	}
}
END_TEST

/* ---- protobufs built here ---- */

struct pbuf {
	unsigned char b[8192];
	size_t n;
};

static void
pb_varint(struct pbuf *pb, uint64_t v)
{
	do {
		ck_assert_uint_lt(pb->n, sizeof(pb->b));
		pb->b[pb->n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
}

static void
pb_uint(struct pbuf *pb, unsigned field, uint64_t v)
{
	pb_varint(pb, (uint64_t)field << 3);
	pb_varint(pb, v);
}

static void
pb_bytes(struct pbuf *pb, unsigned field, const void *p, size_t n)
{
	pb_varint(pb, (uint64_t)field << 3 | 2);
	pb_varint(pb, n);
	ck_assert_uint_le(pb->n + n, sizeof(pb->b));
	memcpy(pb->b + pb->n, p, n);
	pb->n += n;
}

static void
pb_msg(struct pbuf *pb, unsigned field, const struct pbuf *sub)
{
	pb_bytes(pb, field, sub->b, sub->n);
}

static size_t
gzip_buf(const void *in, size_t n, unsigned char *out, size_t cap)
{
	z_stream zs = {0};

	ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
	                 Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	n = zs.total_out;
	deflateEnd(&zs);
	return n;
}

/* A goroutine(leak) profile as Go writes it: string table last, sample value unpacked, location ids
 * packed; location 3 holds two Lines (runtime.chansend inlined into runtime.chansend1, innermost
 * first). */
static void
build_proto(struct pbuf *pb, const char *type, const char *unit)
{
	const char *strs[] = {"",
	                      type,
	                      unit,
	                      "main.leak",
	                      "/src/leak.go",
	                      "runtime.gopark",
	                      "/rt/proc.go",
	                      "runtime.chansend1",
	                      "/rt/chan.go",
	                      "runtime.chansend",
	                      "main.idle",
	                      "time.Sleep",
	                      "/rt/time.go"};
	struct pbuf vt = {.n = 0}, s = {.n = 0}, loc = {.n = 0}, ln = {.n = 0}, fn = {.n = 0},
	            ids = {.n = 0};

	pb->n = 0;
	pb_uint(&vt, 1, 1);
	pb_uint(&vt, 2, 2);
	pb_msg(pb, 11, &vt);
	pb_uint(pb, 12, 1);
	pb_msg(pb, 1, &vt);
	/* sample 1: 5 goroutines at main.leak:7 in chan send; ids packed */
	pb_varint(&ids, 2);
	pb_varint(&ids, 3);
	pb_varint(&ids, 1);
	pb_bytes(&s, 1, ids.b, ids.n);
	pb_uint(&s, 2, 5);
	pb_msg(pb, 2, &s);
	/* sample 2: 2 goroutines at main.idle:3 in time.Sleep; ids unpacked */
	s.n = 0;
	pb_uint(&s, 1, 2);
	pb_uint(&s, 1, 4);
	pb_uint(&s, 1, 5);
	pb_uint(&s, 2, 2);
	pb_msg(pb, 2, &s);
	for (unsigned id = 1; id <= 5; id++) {
		static const unsigned fns[][2] = {{0, 0}, {2, 0}, {1, 0}, {3, 5}, {4, 0}, {6, 0}};
		static const unsigned lines[] = {0, 7, 300, 20, 90, 3};

		loc.n = 0;
		pb_uint(&loc, 1, id);
		pb_uint(&loc, 3, 0x401000 + id);
		if (fns[id][1] != 0) {
			ln.n = 0;
			pb_uint(&ln, 1, fns[id][1]);
			pb_uint(&ln, 2, 100);
			pb_msg(&loc, 4, &ln);
		}
		ln.n = 0;
		pb_uint(&ln, 1, fns[id][0]);
		pb_uint(&ln, 2, lines[id]);
		pb_msg(&loc, 4, &ln);
		pb_msg(pb, 4, &loc);
	}
	for (unsigned id = 1; id <= 6; id++) {
		static const unsigned names[][2] = {{0, 0},   {5, 6}, {3, 4}, {7, 8},
		                                    {11, 12}, {9, 8}, {10, 4}};

		fn.n = 0;
		pb_uint(&fn, 1, id);
		pb_uint(&fn, 2, names[id][0]);
		pb_uint(&fn, 3, names[id][0]);
		pb_uint(&fn, 4, names[id][1]);
		pb_msg(pb, 5, &fn);
	}
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		pb_bytes(pb, 6, strs[i], strlen(strs[i]));
}

START_TEST(test_proto_goroutineleak)
{
	struct pbuf pb;
	unsigned char gz[16384];
	size_t n;
	struct profile p;
	const struct prof_location *l;

	build_proto(&pb, "goroutineleak", "count");
	n = gzip_buf(pb.b, pb.n, gz, sizeof(gz));
	parse_ok((const char *)gz, n, &p);
	ck_assert_int_eq(p.format, PROFILE_FORMAT_PROTO);
	ck_assert_int_eq(p.kind, PROFILE_KIND_GOROUTINELEAK);
	ck_assert_uint_eq(p.total_goroutines, 7);
	l = find(&p, "main.leak", "chan send");
	ck_assert_uint_eq(l->count, 5);
	ck_assert_uint_eq(l->leaked, 5);
	ck_assert_uint_eq(l->loc.line, 7);
	ck_assert_uint_eq(l->nstack, 4);
	ck_assert_str_eq(l->stack[0].function, "runtime.gopark");
	ck_assert_str_eq(l->stack[1].function, "runtime.chansend"); /* inlined: innermost first */
	ck_assert_str_eq(l->stack[2].function, "runtime.chansend1");
	ck_assert_str_eq(l->stack[3].function, "main.leak");
	l = find(&p, "main.idle", "sleep");
	ck_assert_uint_eq(l->count, 2);
	ck_assert_uint_eq(l->leaked, 2);
	profile_release(&p);

	/* uncompressed profile.proto goes through profile_parse_proto() directly */
	ck_assert_int_eq(profile_parse_proto((const char *)pb.b, pb.n, NULL, &p, NULL), 0);
	ck_assert_uint_eq(p.total_goroutines, 7);
	profile_release(&p);
}
END_TEST

START_TEST(test_proto_heap_rejected)
{
	struct pbuf pb;
	unsigned char gz[16384];
	size_t n;

	build_proto(&pb, "inuse_space", "bytes");
	n = gzip_buf(pb.b, pb.n, gz, sizeof(gz));
	ck_assert_str_eq(
	    parse_fail((const char *)gz, n),
	    "proto: sample_type is 'inuse_space/bytes', not a goroutine profile (a heap profile?)");
}
END_TEST

START_TEST(test_proto_malformed)
{
	static const unsigned char badvarint[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0xff,
	                                          0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	unsigned char gz[256], junk[64];
	struct pbuf pb;
	size_t n;

	n = gzip_buf(badvarint, sizeof(badvarint), gz, sizeof(gz));
	ck_assert_str_eq(parse_fail((const char *)gz, n),
	                 "bad varint at byte 11 of the inflated profile");
	/* a length past the end of the message */
	pb.n = 0;
	pb_varint(&pb, 2 << 3 | 2);
	pb_varint(&pb, 1000);
	n = gzip_buf(pb.b, pb.n, gz, sizeof(gz));
	ck_assert_ptr_nonnull(
	    strstr(parse_fail((const char *)gz, n), "past the end of its message"));
	/* a sample naming a location that does not exist */
	build_proto(&pb, "goroutine", "count");
	pb_bytes(&pb, 2, "\x08\x63\x10\x01", 4);
	n = gzip_buf(pb.b, pb.n, gz, sizeof(gz));
	ck_assert_str_eq(parse_fail((const char *)gz, n),
	                 "proto: a sample refers to missing location 99");
	/* corrupt deflate data after a valid gzip header */
	memcpy(junk, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
	memset(junk + 10, 0xff, sizeof(junk) - 10);
	ck_assert_ptr_nonnull(
	    strstr(parse_fail((const char *)junk, sizeof(junk)), "corrupt gzip stream at byte"));
	/* an empty but valid gzip */
	n = gzip_buf("", 0, gz, sizeof(gz));
	ck_assert_str_eq(parse_fail((const char *)gz, n), "proto: empty profile");
}
END_TEST

/* ---- bounded by max_body_bytes ---- */

/* The limits of a 1 MiB max_body_bytes: 8 MiB inflated, 16 MiB of memory (the floor). */
#define BOMB_MAX_BODY (1u << 20)
/* What a parse within those limits may add to the peak RSS of a process: the 16 MiB budget,
 * malloc's and the sanitizers' or valgrind's own overhead. Without the budget each bomb below
 * takes well over 100 MiB. */
#define BOMB_MAX_RSS_KIB (64u << 10)

/* A growable byte buffer for generated profiles. */
struct gbuf {
	unsigned char *b;
	size_t n, cap;
};

static void
gb_put(struct gbuf *g, const void *p, size_t n)
{
	if (g->n + n > g->cap) {
		g->cap = (g->n + n) * 2;
		g->b = realloc(g->b, g->cap);
		ck_assert_ptr_nonnull(g->b);
	}
	memcpy(g->b + g->n, p, n);
	g->n += n;
}

static void
gb_varint(struct gbuf *g, uint64_t v)
{
	unsigned char b[10];
	size_t n = 0;

	do {
		b[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	gb_put(g, b, n);
}

/* A key and a length (wire type 2). */
static void
gb_len(struct gbuf *g, unsigned field, size_t n)
{
	gb_varint(g, (uint64_t)field << 3 | 2);
	gb_varint(g, n);
}

/* gzip of 'head', then 'unit' 'count' times (deflated piecewise: the whole is never built). */
static void
gzip_repeat(const struct gbuf *head, const void *unit, size_t unitlen, size_t count,
            struct gbuf *out)
{
	unsigned char chunk[1 << 16], obuf[1 << 16];
	size_t per = sizeof(chunk) / unitlen, left = count;
	z_stream zs = {0};
	int flush;

	for (size_t i = 0; i < per; i++)
		memcpy(chunk + i * unitlen, unit, unitlen);
	ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
	                 Z_OK);
	out->n = 0;
	zs.next_in = head->b;
	zs.avail_in = (uInt)head->n;
	do {
		if (zs.avail_in == 0 && left > 0) {
			size_t k = left < per ? left : per;

			zs.next_in = chunk;
			zs.avail_in = (uInt)(k * unitlen);
			left -= k;
		}
		flush = left == 0 ? Z_FINISH : Z_NO_FLUSH;
		do {
			zs.next_out = obuf;
			zs.avail_out = sizeof(obuf);
			ck_assert_int_ne(deflate(&zs, flush), Z_STREAM_ERROR);
			gb_put(out, obuf, sizeof(obuf) - zs.avail_out);
		} while (zs.avail_out == 0);
	} while (flush != Z_FINISH);
	deflateEnd(&zs);
}

static long
maxrss_kib(void)
{
	struct rusage ru;

	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

/* Parse 'buf' within the limits of 'max_body' in a child process: the parse must fail; its error
 * goes to 'msg', and how much it raised the child's peak RSS to '*rss_kib'. */
static void
parse_fail_in_child(const void *buf, size_t len, uint64_t max_body, char *msg, size_t msglen,
                    long *rss_kib)
{
	struct {
		int rc;
		long rss;
		char msg[256];
	} r;
	int fds[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	fflush(stdout); /* the child must not write out the parent's buffered lines again */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct profile_limits lim = profile_limits_for(max_body);
		struct parse_error err = {.msg = ""};
		struct profile p;
		long before = maxrss_kib();

		memset(&r, 0, sizeof(r));
		r.rc = profile_parse_limited(buf, len, &lim, &p, &err);
		r.rss = maxrss_kib() - before;
		if (r.rc == 0)
			profile_release(&p);
		memcpy(r.msg, err.msg, sizeof(r.msg));
		_exit(write(fds[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &r, sizeof(r)), (ssize_t)sizeof(r));
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_msg(r.rc == -1, "the bomb parsed (peak RSS +%ld KiB)", r.rss);
	snprintf(msg, msglen, "%s", r.msg);
	*rss_kib = r.rss;
}

/* A gzip body of 'head' then 'unit' x 'count' fails within a 1 MiB max_body_bytes with the
 * budget's error and a bounded peak RSS. */
static void
check_bomb(const char *what, const struct gbuf *head, const void *unit, size_t unitlen,
           size_t count, const char *want)
{
	struct gbuf gz = {0};
	char msg[256];
	long rss;

	gzip_repeat(head, unit, unitlen, count, &gz);
	parse_fail_in_child(gz.b, gz.n, BOMB_MAX_BODY, msg, sizeof(msg), &rss);
	printf("%s bomb: %zu bytes of gzip, %zu inflated: '%s', peak RSS +%ld KiB\n", what, gz.n,
	       head->n + unitlen * count, msg, rss);
	ck_assert_msg(strncmp(msg, want, strlen(want)) == 0, "%s bomb: '%s', want '%s...'", what,
	              msg, want);
	ck_assert_msg(rss < (long)BOMB_MAX_RSS_KIB, "%s bomb: peak RSS +%ld KiB", what, rss);
	free(gz.b);
}

#define TABLES_ERROR                                                                               \
	"proto: profile tables need more than 16 MiB (the limit for a max_body_bytes of 1 MiB) "   \
	"at "                                                                                      \
	"byte "

/* 16 MB of 2-byte empty Function entries (8 M functions at 24 bytes each without a bound). */
START_TEST(test_proto_bomb_functions)
{
	static const unsigned char fn[] = {5 << 3 | 2, 0};
	struct gbuf none = {0};

	check_bomb("Function", &none, fn, sizeof(fn), 8u << 20, TABLES_ERROR);
}
END_TEST

/* The same with empty Locations, and with empty strings of the string table. */
START_TEST(test_proto_bomb_locations_strings)
{
	static const unsigned char loc[] = {4 << 3 | 2, 0}, str[] = {6 << 3 | 2, 0};
	struct gbuf none = {0};

	check_bomb("Location", &none, loc, sizeof(loc), 8u << 20, TABLES_ERROR);
	check_bomb("string", &none, str, sizeof(str), 8u << 20, TABLES_ERROR);
}
END_TEST

/* Locations of 1,000 empty Lines each: 16 bytes per 2-byte Line. */
START_TEST(test_proto_bomb_lines)
{
	struct gbuf loc = {0}, none = {0};

	gb_len(&loc, 4, 2000);
	for (int i = 0; i < 1000; i++)
		gb_put(&loc, "\x22\x00", 2);
	check_bomb("Line", &none, loc.b, loc.n, 8000, TABLES_ERROR);
	free(loc.b);
}
END_TEST

/* A valid goroutine profile of 'nloc' samples, sample k at location k (main.f, line k) with
 * 'depth' frames: location k, then location 1 again and again. */
static void
build_deep_samples(struct gbuf *pb, unsigned nloc, unsigned depth)
{
	static const char *const strs[] = {"", "goroutine", "count", "main.f", "/src/f.go"};
	struct gbuf ids = {0}, msg = {0}, line = {0};

	pb->n = 0;
	gb_len(pb, 1, 4); /* sample_type {type 1, unit 2} */
	gb_put(pb, "\x08\x01\x10\x02", 4);
	for (unsigned k = 1; k <= nloc; k++) {
		ids.n = msg.n = 0;
		gb_varint(&ids, k);
		for (unsigned d = 1; d < depth; d++)
			gb_varint(&ids, 1);
		gb_len(&msg, 1, ids.n); /* location_id, packed */
		gb_put(&msg, ids.b, ids.n);
		gb_put(&msg, "\x10\x01", 2); /* value 1 */
		gb_len(pb, 2, msg.n);
		gb_put(pb, msg.b, msg.n);
	}
	for (unsigned k = 1; k <= nloc; k++) {
		line.n = msg.n = 0;
		gb_put(&line, "\x08\x01\x10", 3); /* function_id 1, line k */
		gb_varint(&line, k);
		gb_varint(&msg, 1 << 3); /* id k */
		gb_varint(&msg, k);
		gb_len(&msg, 4, line.n);
		gb_put(&msg, line.b, line.n);
		gb_len(pb, 4, msg.n);
		gb_put(pb, msg.b, msg.n);
	}
	gb_len(pb, 5, 6); /* Function {id 1, name 3, filename 4} */
	gb_put(pb, "\x08\x01\x10\x03\x20\x04", 6);
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		gb_len(pb, 6, strlen(strs[i]));
		gb_put(pb, strs[i], strlen(strs[i]));
	}
	free(ids.b);
	free(msg.b);
	free(line.b);
}

/* Samples that each reach a new location through 1,000 frames: every (location, op) bucket
 * copies a 24 KiB representative stack out of about 1 KiB of samples. The aggregate is held to
 * the same budget as the tables. */
START_TEST(test_proto_bomb_stacks)
{
	struct profile_limits lim = profile_limits_for(BOMB_MAX_BODY);
	struct parse_error err = {.msg = ""};
	struct gbuf pb = {0}, gz = {0};
	struct profile p;

	/* 40 such locations parse, each with its whole stack */
	build_deep_samples(&pb, 40, 1000);
	gzip_repeat(&pb, "", 1, 0, &gz);
	ck_assert_msg(profile_parse_limited((const char *)gz.b, gz.n, &lim, &p, &err) == 0, "%s",
	              err.msg);
	ck_assert_uint_eq(p.nlocations, 40);
	ck_assert_uint_eq(p.total_goroutines, 40);
	for (size_t i = 0; i < p.nlocations; i++)
		ck_assert_uint_eq(p.locations[i].nstack, 1000);
	profile_release(&p);
	/* 4,000 need about 96 MiB */
	build_deep_samples(&pb, 4000, 1000);
	check_bomb("stack", &pb, "", 1, 0, TABLES_ERROR);
	free(pb.b);
	free(gz.b);
}
END_TEST

/* debug=1 groups at new locations with 1,000 frame lines of 4 bytes ("#\t0"): each a 24-byte frame
 * of a representative stack, 6 times the input. Bounded the same way. */
START_TEST(test_debug1_bomb_stacks)
{
	enum { NREC = 2000, DEPTH = 1000 };
	struct gbuf t = {0};
	char line[128], msg[256];
	long rss;

	snprintf(line, sizeof(line), "goroutine profile: total %d\n", NREC);
	gb_put(&t, line, strlen(line));
	for (int k = 1; k <= NREC; k++) {
		snprintf(line, sizeof(line), "1 @ 0x1\n#\t0x1\tmain.f+0x1\t/src/f.go:%d\n", k);
		gb_put(&t, line, strlen(line));
		for (int d = 1; d < DEPTH; d++)
			gb_put(&t, "#\t0\n", 4);
		gb_put(&t, "\n", 1);
	}
	parse_fail_in_child(t.b, t.n, BOMB_MAX_BODY, msg, sizeof(msg), &rss);
	printf("debug=1 stack bomb: %zu bytes: '%s', peak RSS +%ld KiB\n", t.n, msg, rss);
	ck_assert_msg(strstr(msg, ": profile tables need more than 16 MiB (the limit for a "
	                          "max_body_bytes of 1 MiB) at byte ") != NULL &&
	                  strncmp(msg, "line ", 5) == 0,
	              "%s", msg);
	ck_assert_msg(rss < (long)BOMB_MAX_RSS_KIB, "peak RSS +%ld KiB", rss);
	free(t.b);
}
END_TEST

/* Every real capture parses within the limits of a max_body_bytes as small as itself. */
START_TEST(test_fixtures_within_own_size)
{
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		struct parse_error err = {.msg = ""};
		struct profile_limits lim;
		struct profile p;
		char path[256];
		size_t len;
		char *buf;

		snprintf(path, sizeof(path), "fixtures/%s", fixtures[i].path);
		buf = slurp(path, &len);
		lim = profile_limits_for(len);

		ck_assert_msg(profile_parse_limited(buf, len, &lim, &p, &err) == 0, "%s: %s", path,
		              err.msg);
		ck_assert_uint_gt(p.nlocations, 0);
		profile_release(&p);
		free(buf);
	}
}
END_TEST

/* The limits follow max_body_bytes: the inflation cap names its ratio. */
START_TEST(test_limits)
{
	struct profile_limits lim = profile_limits_for(1024);
	struct gbuf none = {0}, gz = {0};
	struct parse_error err = {.msg = ""};
	struct profile p;

	ck_assert_uint_eq(lim.max_inflated, 8192);
	ck_assert_uint_eq(lim.max_memory, PROFILE_MIN_MEMORY);
	lim = profile_limits_for(64u << 20);
	ck_assert_uint_eq(lim.max_inflated, 512u << 20);
	ck_assert_uint_eq(lim.max_memory, 64u << 20);
	/* 10,000 bytes of time_nanos fields ('H' = field 9, varint 72) inflate past 8 KiB */
	gzip_repeat(&none, "H", 1, 10000, &gz);
	lim = profile_limits_for(1024);
	ck_assert_int_eq(profile_parse_limited((const char *)gz.b, gz.n, &lim, &p, &err), -1);
	ck_assert_msg(strstr(err.msg, "gzip stream inflates to more than 8192 bytes at byte ") ==
	                      err.msg &&
	                  strstr(err.msg, "(a gzip bomb? the limit is 8 x max_body_bytes)") != NULL,
	              "%s", err.msg);
	free(gz.b);
}
END_TEST

/* ---- hostile text ---- */

START_TEST(test_detect_errors)
{
	static const char html[] = "<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n";
	static const char heap[] = "heap profile: 1: 2 [3: 4] @ heap/1048576\n";

	ck_assert_str_eq(parse_fail(html, sizeof(html) - 1),
	                 "expected a goroutine profile (debug=0 gzip protobuf, debug=1 or debug=2 "
	                 "text), found an HTML page "
	                 "at byte 0");
	ck_assert_ptr_nonnull(strstr(parse_fail("", 0), "found empty input"));
	ck_assert_ptr_nonnull(
	    strstr(parse_fail(heap, sizeof(heap) - 1), "another profile type 'heap profile:"));
	ck_assert_ptr_nonnull(strstr(parse_fail("{\"a\":1}", 7), "found JSON"));
	ck_assert_ptr_nonnull(strstr(parse_fail("\x00\x01\x02garbage", 10), "found binary data"));
	ck_assert_int_eq(profile_detect("goroutine 1 [running]:\n", 23), PROFILE_FORMAT_DEBUG2);
	ck_assert_int_eq(profile_detect("goroutine profile: total 1\n", 27), PROFILE_FORMAT_DEBUG1);
	ck_assert_int_eq(profile_detect("goroutineleak profile: total 1\n", 31),
	                 PROFILE_FORMAT_DEBUG1);
	ck_assert_int_eq(profile_detect("\x1f\x8b", 2), PROFILE_FORMAT_PROTO);
	ck_assert_int_eq(profile_detect("goroutine x", 11), PROFILE_FORMAT_UNKNOWN);
}
END_TEST

START_TEST(test_text_errors)
{
	static const char badhdr[] =
	    "goroutine 1 [running]:\nmain.main()\n\t/a.go:1 +0x1\n\ngoroutine x\n";
	static const char nofile[] = "goroutine 1 [chan send]:\nmain.f()\nmain.g()\n\t/a.go:1\n";
	static const char badframe[] = "goroutine 1 [chan send]:\nthis is not a frame\n\t/a.go:1\n";
	static const char nul[] = "goroutine 1 [chan send]:\nmain.f\0x()\n\t/a.go:1\n";
	static const char d1bad[] =
	    "goroutine profile: total 1\n1 @ 0x1\n#\t0x1\tmain.f+0x1\t/a.go\n";
	static const char d1count[] = "goroutine profile: total 1\nxyz @ 0x1\n";
	const char *m;

	m = parse_fail(badhdr, sizeof(badhdr) - 1);
	ck_assert_str_eq(
	    m, "line 5: expected a 'goroutine N [status]:' header, found 'goroutine x' (byte 50)");
	m = parse_fail(nofile, sizeof(nofile) - 1);
	ck_assert_ptr_nonnull(strstr(m, "line 3: expected '\\tFILE:LINE' after a function line"));
	m = parse_fail(badframe, sizeof(badframe) - 1);
	ck_assert_ptr_nonnull(strstr(m, "line 2: expected a function line"));
	m = parse_fail(nul, sizeof(nul) - 1);
	ck_assert_ptr_nonnull(strstr(m, "NUL byte"));
	m = parse_fail(d1bad, sizeof(d1bad) - 1);
	ck_assert_ptr_nonnull(strstr(m, "line 3: expected a '#\\t0xPC"));
	m = parse_fail(d1count, sizeof(d1count) - 1);
	ck_assert_ptr_nonnull(strstr(m, "line 2: expected a 'COUNT @ 0xPC ...' line"));
}
END_TEST

/* Labels whatever a target sends (format rules: shared/docs/goroutine-profile-formats.md, debug=1
 * "# labels:" with Go's %q quoting, Go 1.27's header labels quoted only when needed): escapes
 * decoded and the set re-escaped for JSON and HTML, invalid UTF-8 replaced, keys and values cut at
 * PROFILE_MAX_LABEL_BYTES between characters, PROFILE_MAX_LABELS labels and PROFILE_MAX_LABEL_SETS
 * sets per location kept, a malformed set ignored with its goroutine still counted. */
START_TEST(test_labels_bounds)
{
	static const char d1[] =
	    "goroutine profile: total 2\n"
	    "2 @ 0x1 0x2\n"
	    "# labels: {\"a\\n<b>\":\"\\xff\\u00e9\\U0001F600\\\"\", \"b\":\"\\t&\"}\n"
	    "#\t0x1\tmain.f+0x1\t/a.go:3\n\n";
	char *big = malloc(1 << 20), *o = big;
	struct profile p;
	const struct prof_location *l;
	char want[400];

	parse_ok(d1, sizeof(d1) - 1, &p);
	l = find(&p, "main.f", NULL);
	ck_assert_uint_eq(l->nlabels, 1);
	ck_assert_str_eq(l->labels[0].set, "{\"a\\u000a\\u003cb\\u003e\":\"\xef\xbf\xbd\xc3\xa9"
	                                   "\xf0\x9f\x98\x80\\\"\",\"b\":\"\\u0009\\u0026\"}");
	ck_assert_uint_eq(l->labels[0].count, 2);
	profile_release(&p);

	/* Go 1.27 headers: 40 distinct sets at one location, 10 labels, a 300-byte key and value,
	 * and a malformed set */
	ck_assert_ptr_nonnull(big);
	for (int i = 0; i < 40; i++)
		o += sprintf(o, "goroutine %d [chan send] {t: t%02d}:\nmain.f()\n\t/a.go:3\n\n",
		             i + 2, i);
	o += sprintf(o, "goroutine 50 [select] {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, "
	                "i: 9, j: 10}:\nmain.g()\n\t/a.go:5\n\n");
	o += sprintf(o, "goroutine 51 [select] {");
	memset(o, 'k', 300);
	o += 300;
	o += sprintf(o, ": \"");
	memset(o, 'v', 298);
	o += 298;
	memcpy(o, "\xc3\xa9", 2); /* a two-byte character across the cut */
	o += 2;
	o += sprintf(o, "\"}:\nmain.h()\n\t/a.go:7\n\n");
	o += sprintf(o, "goroutine 52 [select] {k: \"unterminated}:\nmain.h()\n\t/a.go:7\n\n");
	parse_ok(big, (size_t)(o - big), &p);
	l = find(&p, "main.f", NULL);
	ck_assert_uint_eq(l->count, 40);
	ck_assert_uint_eq(l->nlabels, PROFILE_MAX_LABEL_SETS);
	ck_assert_uint_eq(l->labels_other, 40 - PROFILE_MAX_LABEL_SETS);
	ck_assert_str_eq(l->labels[0].set, "{\"t\":\"t00\"}");
	l = find(&p, "main.g", NULL);
	ck_assert_str_eq(l->labels[0].set, "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\","
	                                   "\"e\":\"5\",\"f\":\"6\",\"g\":\"7\",\"h\":\"8\"}");
	l = find(&p, "main.h", NULL);
	ck_assert_uint_eq(l->count, 2);
	ck_assert_uint_eq(l->nlabels, 1);
	ck_assert_uint_eq(l->labels[0].count, 1);
	o = want;
	*o++ = '{';
	*o++ = '"';
	memset(o, 'k', PROFILE_MAX_LABEL_BYTES);
	o += PROFILE_MAX_LABEL_BYTES;
	o += sprintf(o, "\":\"");
	memset(o, 'v', PROFILE_MAX_LABEL_BYTES);
	o += PROFILE_MAX_LABEL_BYTES;
	o += sprintf(o, "\"}");
	ck_assert_str_eq(l->labels[0].set, want);
	/* what the daemon stores: the top detector.max_label_sets, the rest as other */
	l = find(&p, "main.f", NULL);
	profile_keep_labels(&p, 3);
	ck_assert_uint_eq(l->nlabels, 3);
	ck_assert_uint_eq(l->labels_other, 40 - 3);
	profile_keep_labels(&p, 0);
	ck_assert_uint_eq(l->nlabels, 0);
	ck_assert_uint_eq(l->labels_other, 0);
	profile_release(&p);

	/* the cut falls inside the two-byte character: it is dropped whole */
	o = big;
	o += sprintf(o, "goroutine 1 [select] {k: \"");
	memset(o, 'v', PROFILE_MAX_LABEL_BYTES - 1);
	o += PROFILE_MAX_LABEL_BYTES - 1;
	o += sprintf(o, "\xc3\xa9\"}:\nmain.h()\n\t/a.go:7\n\n");
	parse_ok(big, (size_t)(o - big), &p);
	l = find(&p, "main.h", NULL);
	ck_assert_uint_eq(strlen(l->labels[0].set), PROFILE_MAX_LABEL_BYTES - 1 + 8);
	profile_release(&p);
	free(big);
}
END_TEST

/* Crash-dump and GODEBUG extras the grammar allows: "gp=... m=..." header fields, " fp= sp= pc="
 * frame suffixes, "(scan)", a goroutine running elsewhere, tracebackancestors sections. */
START_TEST(test_debug2_extras)
{
	static const char dump[] =
	    "goroutine 1 gp=0xc000002380 m=0 mp=0x5b8a40 [running]:\n"
	    "main.main()\n\t/src/m.go:9 +0x1d fp=0xc000 sp=0xc001 pc=0x4a1b2c\n\n"
	    "goroutine 17 [chan receive (scan), 3 minutes]:\n"
	    "main.worker(0xc0000a0000, {0x4c5f20, 0x5})\n\t/src/dir with space/w.go:44 +0x2d\n"
	    "created by main.start\n\t/src/m.go:30 +0x66\n"
	    "[originating from goroutine 1]:\n"
	    "main.start(...)\n\t/src/m.go:30 +0x66\n"
	    "main.main(...)\n\t/src/m.go:12 +0x1d\n\n"
	    "goroutine 18 [running]:\n\tgoroutine running on other thread; stack unavailable\n"
	    "created by main.start\n\t/src/m.go:31 +0x86\n";
	struct profile p;
	const struct prof_location *l;

	parse_ok(dump, sizeof(dump) - 1, &p);
	ck_assert_uint_eq(p.total_goroutines, 3);
	l = find(&p, "main.worker", "chan receive");
	ck_assert_ptr_nonnull(l);
	ck_assert_str_eq(l->loc.file, "/src/dir with space/w.go");
	ck_assert_uint_eq(l->loc.line, 44);
	ck_assert_int_eq(l->max_wait_minutes, 3);
	ck_assert_uint_eq(l->nstack, 1); /* the ancestors are not this goroutine's stack */
	l = find(&p, "main.main", "running");
	ck_assert_uint_eq(l->loc.line, 9);
	l = find(&p, "", "running"); /* no stack to attribute */
	ck_assert_ptr_nonnull(l);
	ck_assert_uint_eq(l->nstack, 0);
	profile_release(&p);
}
END_TEST

/* One location reached from several callers (a helper such as errgroup.(*Group).Wait) keeps each
 * distinct stack with its own count, most goroutines first, in every text format; frame
 * arguments and PC offsets do not make two stacks distinct. */
START_TEST(test_location_stacks)
{
	static const char d2[] =
	    "goroutine 7 [semacquire]:\n"
	    "sync.runtime_Semacquire(0xc0000a0000?)\n\t/go/src/runtime/sema.go:62 +0x25\n"
	    "sync.(*WaitGroup).Wait(0xc0000a0000?)\n\t/go/src/sync/waitgroup.go:116 +0x48\n"
	    "main.wait(...)\n\t/src/w.go:5\n"
	    "main.a(0x1)\n\t/src/a.go:10 +0x11\n\n"
	    "goroutine 8 [semacquire]:\n"
	    "sync.runtime_Semacquire(0xc0000a0040?)\n\t/go/src/runtime/sema.go:62 +0x25\n"
	    "sync.(*WaitGroup).Wait(0xc0000a0040?)\n\t/go/src/sync/waitgroup.go:116 +0x48\n"
	    "main.wait(...)\n\t/src/w.go:5\n"
	    "main.b(0x2)\n\t/src/b.go:20 +0x11\n\n"
	    "goroutine 9 [semacquire]:\n"
	    "sync.runtime_Semacquire(0xc0000a0080?)\n\t/go/src/runtime/sema.go:62 +0x25\n"
	    "sync.(*WaitGroup).Wait(0xc0000a0080?)\n\t/go/src/sync/waitgroup.go:116 +0x48\n"
	    "main.wait(...)\n\t/src/w.go:5\n"
	    "main.b(0x3)\n\t/src/b.go:20 +0x11\n\n";
	static const char d1[] = "goroutine profile: total 5\n"
	                         "1 @ 0x43 0x44 0x45\n"
	                         "#\t0x45\tmain.wait+0x1\t/src/w.go:5\n"
	                         "#\t0x46\tmain.a+0x1\t/src/a.go:10\n\n"
	                         "4 @ 0x43 0x44 0x47\n"
	                         "#\t0x45\tmain.wait+0x1\t/src/w.go:5\n"
	                         "#\t0x48\tmain.b+0x1\t/src/b.go:20\n\n";
	struct profile p;
	const struct prof_location *l;

	parse_ok(d2, sizeof(d2) - 1, &p);
	l = find(&p, "main.wait", "sync.WaitGroup.Wait");
	ck_assert_ptr_nonnull(l);
	ck_assert_uint_eq(l->count, 3);
	ck_assert_uint_eq(l->nstacks, 2);
	ck_assert_uint_eq(l->stacks[0].count, 2);
	ck_assert_str_eq(l->stacks[0].frames[3].function, "main.b");
	ck_assert_uint_eq(l->stacks[1].count, 1);
	ck_assert_str_eq(l->stacks[1].frames[3].function, "main.a");
	/* the representative stack is the largest */
	ck_assert_ptr_eq(l->stack, l->stacks[0].frames);
	ck_assert_uint_eq(l->nstack, 4);
	profile_release(&p);

	parse_ok(d1, sizeof(d1) - 1, &p);
	ck_assert_uint_eq(p.nlocations, 1);
	l = &p.locations[0];
	ck_assert_uint_eq(l->nstacks, 2);
	ck_assert_uint_eq(l->stacks[0].count, 4);
	ck_assert_str_eq(l->stacks[0].frames[1].function, "main.b");
	ck_assert_uint_eq(l->stacks[1].count, 1);
	ck_assert_str_eq(l->stacks[1].frames[1].function, "main.a");
	profile_release(&p);
}
END_TEST

START_TEST(test_crlf)
{
	static const char dump[] =
	    "goroutine 5 [chan send, 2 minutes]:\r\nmain.f(0x1)\r\n\t/src/a.go:3 +0x1\r\n\r\n"
	    "goroutine 6 [chan send]:\r\nmain.f(0x1)\r\n\t/src/a.go:3 +0x1\r\n";
	struct profile p;

	parse_ok(dump, sizeof(dump) - 1, &p);
	ck_assert_uint_eq(p.nlocations, 1);
	ck_assert_uint_eq(p.locations[0].count, 2);
	ck_assert_str_eq(p.locations[0].loc.file, "/src/a.go");
	ck_assert_int_eq(p.locations[0].max_wait_minutes, 2);
	profile_release(&p);
}
END_TEST

START_TEST(test_huge_line)
{
	size_t n = PROFILE_MAX_LINE + 100;
	char *buf = malloc(n);
	const char *m;

	ck_assert_ptr_nonnull(buf);
	memcpy(buf, "goroutine 1 [chan send]:\n", 25);
	memset(buf + 25, 'a', n - 25);
	m = parse_fail(buf, n);
	ck_assert_str_eq(m, "line 2 is longer than 1048576 bytes (byte 25)");
	free(buf);
}
END_TEST

/* 10^6 goroutines in one debug=2 dump: counts, waits and the median stay exact. */
START_TEST(test_million_goroutines)
{
	static const char rec[] =
	    "goroutine %u [chan receive, %u minutes]:\nmain.w()\n\t/w.go:5 +0x1\n\n";
	/* under valgrind (memory errors, not scale) 10^5 keep `make valgrind` short */
	unsigned total = RUNNING_ON_VALGRIND ? 100000 : 1000000;
	size_t cap = 80u * total, len = 0;
	char *buf = malloc(cap);
	struct profile p;

	ck_assert_ptr_nonnull(buf);
	for (unsigned i = 0; i < total; i++) {
		int n = snprintf(buf + len, cap - len, rec, i + 1, i % 101 + 1);

		ck_assert_int_gt(n, 0);
		len += (size_t)n;
	}
	parse_ok(buf, len, &p);
	ck_assert_uint_eq(p.total_goroutines, total);
	ck_assert_uint_eq(p.nlocations, 1);
	ck_assert_uint_eq(p.locations[0].count, total);
	ck_assert_int_eq(p.locations[0].max_wait_minutes, 101);
	ck_assert_int_eq(p.locations[0].min_wait_minutes, 1);
	ck_assert_int_eq(p.locations[0].median_wait_minutes, 51);
	profile_release(&p);
	free(buf);
}
END_TEST

/* HTML and quotes in function names survive into JSON escaped, and read back identical. */
START_TEST(test_json_escapes_html)
{
	static const char dump[] =
	    "goroutine 5 [chan send, 2 minutes] {route: \"/<b>\"}:\n"
	    "main.<script>alert(\"x\")</script>(0x1)\n\t/src/a\"b.go:3 +0x1\n";
	struct profile p;
	json_t *root, *back;
	json_error_t jerr;
	char *text;
	FILE *mem;
	size_t memlen;
	char *membuf;

	parse_ok(dump, sizeof(dump) - 1, &p);
	root = output_profile_json(&p, OUTPUT_JSON);
	ck_assert_ptr_nonnull(root);
	text = json_dumps(root, JSON_INDENT(0));
	back = json_loads(text, 0, &jerr);
	ck_assert_ptr_nonnull(back);
	ck_assert_str_eq(json_string_value(json_object_get(
	                     json_array_get(json_object_get(back, "locations"), 0), "function")),
	                 "main.<script>alert(\"x\")</script>");
	ck_assert_ptr_nonnull(strstr(text, "alert(\\\"x\\\")"));
	ck_assert_int_eq(
	    json_integer_value(json_object_get(
	        json_array_get(json_object_get(back, "locations"), 0), "max_wait_minutes")),
	    2);
	/* the label set, a JSON object as the API shows it */
	ck_assert_str_eq(
	    json_string_value(json_object_get(
	        json_object_get(
	            json_array_get(
	                json_object_get(json_array_get(json_object_get(back, "locations"), 0),
	                                "labels"),
	                0),
	            "set"),
	        "route")),
	    "/<b>");
	free(text);
	json_decref(back);
	json_decref(root);

	/* the exact key order of `leakprofd parse --json` */
	mem = open_memstream(&membuf, &memlen);
	ck_assert_int_eq(output_profile(mem, &p, OUTPUT_JSON), 0);
	fclose(mem);
	ck_assert_ptr_nonnull(strstr(membuf,
	                             "{\"format\": \"debug=2\", \"profile\": \"goroutine\", "
	                             "\"total_goroutines\": 1, \"locations\": [{\"function\": "));
	ck_assert_ptr_nonnull(strstr(membuf, "\"op\": \"chan send\", \"count\": 1, \"leaked\": 0, "
	                                     "\"max_wait_minutes\": 2, \"stack\": [{"));
	free(membuf);

	/* the table escapes nothing printable but keeps control bytes out of the terminal */
	mem = open_memstream(&membuf, &memlen);
	ck_assert_int_eq(output_profile(mem, &p, 0), 0);
	fclose(mem);
	ck_assert_ptr_nonnull(strstr(membuf, "main.<script>"));
	free(membuf);
	profile_release(&p);
}
END_TEST

START_TEST(test_output_filters_benign)
{
	struct profile p;
	json_t *root, *locs;
	size_t may_leak = 0, i;

	parse_fixture("fixtures/go1.27/goroutineleak.debug2.txt", &p);
	for (i = 0; i < p.nlocations; i++)
		may_leak += profile_op_may_leak(p.locations[i].op);
	ck_assert_uint_lt(may_leak, p.nlocations);
	root = output_profile_json(&p, OUTPUT_JSON);
	ck_assert_uint_eq(json_array_size(json_object_get(root, "locations")), may_leak);
	json_decref(root);
	root = output_profile_json(&p, OUTPUT_JSON | OUTPUT_ALL);
	locs = json_object_get(root, "locations");
	ck_assert_uint_eq(json_array_size(locs), p.nlocations);
	/* a leaked goroutine's header carries no age: null, not -1 */
	for (i = 0; i < p.nlocations; i++)
		if (strcmp(p.locations[i].loc.function, "main.labeled.func1") == 0)
			break;
	ck_assert_uint_lt(i, p.nlocations);
	ck_assert(json_is_null(json_object_get(json_array_get(locs, i), "max_wait_minutes")));
	json_decref(root);
	profile_release(&p);
}
END_TEST

/* ---- classification ---- */

static struct raw_frame
rf(const char *fn)
{
	return (struct raw_frame){.fn = fn, .fnlen = (uint32_t)strlen(fn), .file = "", .line = 1};
}

START_TEST(test_classify)
{
	struct raw_frame fr[4];
	bool leaked = false, found;
	const char *s;

	s = "chan send (leaked)";
	ck_assert_uint_eq(classify_strip_markers(s, strlen(s), &leaked), 9);
	ck_assert(leaked);
	leaked = false;
	s = "select (no cases)";
	ck_assert_uint_eq(classify_strip_markers(s, strlen(s), &leaked), strlen(s));
	s = "chan receive (nil chan) (scan)";
	ck_assert_uint_eq(classify_strip_markers(s, strlen(s), &leaked), 23);
	s = "force gc (idle)";
	ck_assert_uint_eq(classify_strip_markers(s, strlen(s), &leaked), strlen(s));
	s = "sync.WaitGroup.Wait (durable)";
	ck_assert_uint_eq(classify_strip_markers(s, strlen(s), &leaked), 19);
	ck_assert(!leaked);

	ck_assert(classify_internal("runtime.gopark", 14));
	ck_assert(!classify_internal("runtime/pprof.Do", 16));
	ck_assert(classify_internal("internal/poll.(*FD).Read", 24));
	ck_assert(!classify_internal("net.(*netFD).Read", 17));
	ck_assert(!classify_internal("sync.(*Map).Load", 16));

	fr[0] = rf("runtime.gopark");
	fr[1] = rf("runtime.selectgo");
	fr[2] = rf("main.loop");
	ck_assert_str_eq(classify_infer_op(fr, 3), "select");
	ck_assert_uint_eq(classify_location(fr, 3, &found), 2);
	ck_assert(found);
	fr[1] = rf("runtime.block");
	ck_assert_str_eq(classify_infer_op(fr, 3), "select (no cases)");
	fr[0] = rf("main.spin");
	ck_assert_str_eq(classify_infer_op(fr, 1), "unknown"); /* never guess */
	fr[0] = rf("sync.runtime_SemacquireMutex");
	fr[1] = rf("sync.(*RWMutex).RLock");
	fr[2] = rf("main.read");
	ck_assert_str_eq(classify_infer_op(fr, 3), "sync.RWMutex.RLock");
	fr[1] = rf("main.custom");
	ck_assert_str_eq(classify_infer_op(fr, 2), "semacquire");
	fr[0] = rf("sync.runtime_notifyListWait");
	ck_assert_str_eq(classify_infer_op(fr, 1), "sync.Cond.Wait");
	fr[0] = rf("runtime.gopark");
	fr[1] = rf("runtime.forcegchelper");
	ck_assert_str_eq(classify_infer_op(fr, 2), "waiting");
	ck_assert_uint_eq(classify_location(fr, 2, &found), 1); /* all internal: the outermost */
	ck_assert(!found);

	ck_assert_int_eq(profile_op_class("chan receive (nil chan)"), OP_CLASS_CHAN);
	ck_assert_int_eq(profile_op_class("semacquire"), OP_CLASS_SYNC);
	ck_assert_int_eq(profile_op_class("IO wait"), OP_CLASS_BENIGN);
	ck_assert_int_eq(profile_op_class("synctest.Wait"), OP_CLASS_BENIGN);
	ck_assert_int_eq(profile_op_class("unknown"), OP_CLASS_UNKNOWN);
	ck_assert(!profile_op_may_leak("sleep"));
	ck_assert_str_eq(format_name(PROFILE_FORMAT_PROTO), "proto");
	ck_assert_str_eq(profile_kind_name(PROFILE_KIND_GOROUTINELEAK), "goroutineleak");
}
END_TEST

Suite *
profile_suite(void)
{
	Suite *s = suite_create("profile");
	TCase *tc = tcase_create("parse");

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_fixture, 0, (int)(sizeof(fixtures) / sizeof(fixtures[0])));
	tcase_add_test(tc, test_go119_debug2);
	tcase_add_test(tc, test_go119_debug1);
	tcase_add_test(tc, test_go119_proto);
	tcase_add_test(tc, test_go119_proto_truncated);
	tcase_add_test(tc, test_debug2_truncated);
	tcase_add_test(tc, test_debug1_truncated);
	tcase_add_test(tc, test_go126_go127_debug2);
	tcase_add_test(tc, test_goroutineleak_debug2);
	tcase_add_test(tc, test_synctest_debug2);
	tcase_add_test(tc, test_proto_goroutineleak);
	tcase_add_test(tc, test_proto_heap_rejected);
	tcase_add_test(tc, test_proto_malformed);
	tcase_add_test(tc, test_proto_bomb_functions);
	tcase_add_test(tc, test_proto_bomb_locations_strings);
	tcase_add_test(tc, test_proto_bomb_lines);
	tcase_add_test(tc, test_proto_bomb_stacks);
	tcase_add_test(tc, test_debug1_bomb_stacks);
	tcase_add_test(tc, test_fixtures_within_own_size);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_detect_errors);
	tcase_add_test(tc, test_text_errors);
	tcase_add_test(tc, test_labels_bounds);
	tcase_add_test(tc, test_debug2_extras);
	tcase_add_test(tc, test_location_stacks);
	tcase_add_test(tc, test_crlf);
	tcase_add_test(tc, test_huge_line);
	tcase_add_test(tc, test_million_goroutines);
	tcase_add_test(tc, test_json_escapes_html);
	tcase_add_test(tc, test_output_filters_benign);
	tcase_add_test(tc, test_classify);
	suite_add_tcase(s, tc);
	return s;
}
