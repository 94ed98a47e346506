/* collector/profile.h: the in-memory goroutine profile model and the format parsers.
 *
 * Every format (debug=2 text, debug=1 text, debug=0 gzipped protobuf, and the goroutineleak
 * variants of each) is reduced to one struct profile: the goroutines aggregated per (location, op),
 * where the location is the first frame outside the Go runtime and the standard library's blocking
 * internals, and op is the blocking operation under Go's wait-reason name. Parsers are pure: bytes
 * in, struct or precise error out, no I/O, no global state. All strings of one profile live in one
 * arena owned by the profile and are freed with it. */
#ifndef PROFILE_H
#define PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/format.h"

enum profile_kind {
	PROFILE_KIND_GOROUTINE = 0, /* "goroutine" */
	PROFILE_KIND_GOROUTINELEAK, /* "goroutineleak": every goroutine in it is a proven leak */
};

/* What an op means for leak detection. */
enum op_class {
	OP_CLASS_CHAN =
	    0, /* chan send/receive, select, select (no cases), nil-chan ops, (durable) forms */
	OP_CLASS_SYNC,    /* sync.Mutex.Lock, sync.RWMutex.*, sync.WaitGroup.Wait, sync.Cond.Wait,
	                     semacquire */
	OP_CLASS_UNKNOWN, /* "unknown": the format hides the op (debug=1 elides runtime frames) */
	OP_CLASS_BENIGN,  /* IO wait, sleep, syscall, running, runnable, GC/runtime workers, ...:
	                     never leaks */
};

struct frame {
	const char *function; /* "main.leakSend", "(*T).m.func1", ... ; "" when unknown */
	const char *file;     /* "/src/app/main.go"; "" when unknown */
	uint32_t line;        /* 0 when unknown */
};

/* One pprof label set and the goroutines at a location that carried it. */
struct prof_labelset {
	const char *set; /* canonical: a JSON object, keys sorted ({"k":"v","route":"/a"}) */
	uint64_t count;
};

/* One of the distinct stacks that lead to a (location, op): a helper such as
 * errgroup.(*Group).Wait is one location reached from many callers. */
struct prof_stack {
	const struct frame *frames; /* leaf first (runtime frames included) */
	size_t nframes;
	uint64_t count; /* goroutines with exactly this stack */
};

/* Distinct stacks kept per (location, op), the largest by count: a stack that is new once the
 * location has this many replaces the smallest when it holds more goroutines (debug=0 and debug=1
 * count each distinct stack at once; a debug=2 dump lists goroutines one by one, so there the
 * first ones seen stay), else its goroutines are counted in the location only. */
#define PROFILE_LOC_STACKS 8

/* One (location, op) aggregate. */
struct prof_location {
	struct frame loc; /* the attributed frame (function, file, line) */
	const char *op;   /* canonical op name: Go wait-reason string, or "unknown" */
	enum op_class op_class;
	uint64_t count;  /* goroutines at this (location, op) */
	uint64_t leaked; /* of which tagged (leaked) or from a goroutineleak profile */
	int32_t
	    max_wait_minutes; /* -1: unknown (format has no ages, or none blocked >= 1 minute) */
	int32_t min_wait_minutes;    /* -1: unknown */
	int32_t median_wait_minutes; /* -1: unknown */
	const struct frame *stack;   /* one representative full stack, leaf first (runtime frames
	                                included): the   largest of 'stacks' */
	size_t nstack;
	/* the label sets of its labelled goroutines, count descending then set; the first
	 * PROFILE_MAX_LABEL_SETS distinct sets met are kept, the goroutines of any later one are
	 * counted in labels_other (unlabelled goroutines are in neither) */
	const struct prof_labelset *labels;
	size_t nlabels;
	uint64_t labels_other;
	/* The distinct stacks (at most PROFILE_LOC_STACKS), most goroutines first; their counts
	 * add up to at most 'count'. NULL and 0 when unknown: 'stack' then stands for all. */
	const struct prof_stack *stacks;
	size_t nstacks;
};

struct profile {
	enum profile_format format;
	enum profile_kind kind;
	uint64_t
	    total_goroutines; /* header total where the format has one, else the sum of counts */
	uint64_t
	    max_goid; /* debug=2: the largest goroutine id in the dump (ids only grow within a
	                 process, so a restart starts them again from low numbers); 0: unknown */
	struct prof_location
	    *locations; /* sorted: count descending, then function, file, line, op */
	size_t nlocations;
	struct profile_arena *arena; /* owns every string and array above */
};

/* A precise parse error: what was expected, what was found, and where. */
struct parse_error {
	char msg[256]; /* e.g. "expected 'goroutine N [status]:' header, found '<html>'" */
	size_t offset; /* byte offset of the problem in the input */
	size_t line;   /* 1-based line for text formats, 0 for binary */
};

/* Hard limits on untrusted input; exceeding one is a parse error, never unbounded memory. */
#define PROFILE_MAX_FRAMES 1024 /* frames kept per stack (deeper stacks are cut, not an error) */
#define PROFILE_MAX_LINE (1u << 20) /* one text line */
/* pprof labels, whatever a target sends: labels kept per set (Go lists them in key order: the
 * first ones), bytes kept of a key or a value (cut between characters), bytes of a set's canonical
 * JSON (a label that would pass it is left out), distinct sets kept per location */
#define PROFILE_MAX_LABELS 8
#define PROFILE_MAX_LABEL_BYTES 128
#define PROFILE_MAX_LABELSET 1024
#define PROFILE_MAX_LABEL_SETS 32

/* What one parse may cost, derived from the largest body it can be given (max_body_bytes), so a
 * hostile or broken target costs at most a known multiple of what its body may: see
 * profile_limits_for(). */
struct profile_limits {
	uint64_t max_body;     /* the max_body_bytes they derive from (named in errors) */
	uint64_t max_inflated; /* debug=0: gunzipped bytes read, each pass */
	uint64_t max_memory;   /* bytes a parse holds at once, whatever the input: the decoder's
	                          tables and window, the aggregate and its strings (not the input) */
};

/* Go's gzip shrinks a goroutine profile 2-10x (tests/fixtures, the benchmark's 65,536 stacks);
 * every profile that inflates to at most this many times max_body_bytes is read whole. */
#define PROFILE_INFLATE_RATIO 8
/* A real profile's tables hold the functions and files its goroutines are parked in: a few KiB to
 * a few MiB. The floor keeps a tiny max_body_bytes from refusing them. */
#define PROFILE_MIN_MEMORY (16u << 20)

/* The limits for bodies of at most 'max_body' bytes: max_inflated is PROFILE_INFLATE_RATIO x
 * max_body, max_memory is max_body but at least PROFILE_MIN_MEMORY. */
struct profile_limits profile_limits_for(uint64_t max_body);

/* Detect the format of 'buf' from its content. PROFILE_FORMAT_UNKNOWN if none fits. */
enum profile_format profile_detect(const char *buf, size_t len);

/* Parse 'buf' (any supported format, auto-detected) into 'out' within 'lim' (borrowed; NULL: the
 * limits of CONFIG_MAX_BODY_DEFAULT). 0 on success; -1 with 'err' filled on failure (out is then
 * empty), an input over a limit included. The caller owns 'out' and releases it with
 * profile_release(). Pure: no I/O. */
int profile_parse_limited(const char *buf, size_t len, const struct profile_limits *lim,
                          struct profile *out, struct parse_error *err)
    __attribute__((warn_unused_result));
/* profile_parse_limited() within the limits of the default max_body_bytes, as `leakprofd parse`
 * and the tests parse. */
int profile_parse(const char *buf, size_t len, struct profile *out, struct parse_error *err)
    __attribute__((warn_unused_result));

/* Format-specific entry points, same contract as profile_parse_limited(). */
int profile_parse_debug2(const char *buf, size_t len, const struct profile_limits *lim,
                         struct profile *out, struct parse_error *err)
    __attribute__((warn_unused_result));
int profile_parse_debug1(const char *buf, size_t len, const struct profile_limits *lim,
                         struct profile *out, struct parse_error *err)
    __attribute__((warn_unused_result));
int profile_parse_proto(const char *buf, size_t len, const struct profile_limits *lim,
                        struct profile *out, struct parse_error *err)
    __attribute__((warn_unused_result));

/* Keep at most 'max_sets' label sets per location (the most goroutines first), counting the
 * goroutines of the others in labels_other: what is stored of a profile's labels. 0 drops every
 * label, labels_other too. */
void profile_keep_labels(struct profile *p, size_t max_sets);

/* Free everything 'p' owns and zero it; profile_release() of a zeroed profile does nothing. */
void profile_release(struct profile *p);

/* "goroutine", "goroutineleak". Static strings. */
const char *profile_kind_name(enum profile_kind k);

/* Class of a canonical op name (as stored in prof_location.op or in the database). */
enum op_class profile_op_class(const char *op);
/* True when goroutines at this op may be leaked (chan, sync, unknown). */
bool profile_op_may_leak(const char *op);

#endif
