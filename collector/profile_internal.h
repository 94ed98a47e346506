/* collector/profile_internal.h: what the format parsers share with profile.c and classify.c: the
 * arena, the string interner and the (location, op) aggregator. Not part of the collector's public
 * contract.
 *
 * A parser feeds one record at a time (a goroutine, a debug=1 group, a proto sample) as frames
 * borrowed from its input, the whole stack; the aggregator classifies it, merges it into its
 * (location, op) bucket and that bucket's distinct stacks, and copies strings and a stack into the
 * profile's arena only when the bucket keeps a stack it had not seen (at most PROFILE_LOC_STACKS
 * at once), so memory grows with the number of distinct locations and stacks, not with the number
 * of goroutines. */
#ifndef PROFILE_INTERNAL_H
#define PROFILE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/classify.h"
#include "collector/profile.h"

/* The memory one parse may hold (struct profile_limits.max_memory). Every block the decoder, the
 * aggregator and the arena allocate is counted while it lives, a realloc as its old and new block
 * at once, so what a parse holds never passes 'limit', whatever its input. */
struct parse_budget {
	size_t used;       /* bytes held now */
	size_t limit;      /* max_memory */
	uint64_t max_body; /* for the error message */
	bool over;         /* a request was refused for the limit (not for a failed malloc) */
};

/* A budget of lim->max_memory bytes ('lim' NULL: the default limits). */
void budget_init(struct parse_budget *b, const struct profile_limits *lim);
/* Resize '*p' (NULL: allocate) from 'oldsize' to 'newsize' bytes within 'b'. 0; -1 with '*p'
 * unchanged when over the limit ('b->over' set) or out of memory. */
int budget_realloc(struct parse_budget *b, void **p, size_t oldsize, size_t newsize)
    __attribute__((warn_unused_result));
/* 'n' zeroed elements of 'size' bytes within 'b'; NULL as budget_realloc() fails. */
void *budget_calloc(struct parse_budget *b, size_t n, size_t size);
/* Free 'p' of 'size' bytes (NULL does nothing). */
void budget_free(struct parse_budget *b, void *p, size_t size);
/* The error of a failed allocation: over the budget, "profile tables need more than N MiB (the
 * limit for a max_body_bytes of M) at byte OFF" after 'prefix', else out of memory. Returns -1. */
int perr_nomem(struct parse_error *err, const struct parse_budget *b, size_t offset, size_t line,
               const char *prefix);

/* Bump allocator; freed at once. Chunks are counted against 'b' (borrowed, may be NULL: no limit)
 * until agg_finish() hands the arena over. */
struct profile_arena *arena_new(struct parse_budget *b);
/* 'n' bytes, 16-aligned; NULL when over the budget (aborts on out-of-memory without one). */
void *arena_alloc(struct profile_arena *a, size_t n);
void arena_free(struct profile_arena *a);

struct agg; /* opaque aggregator */

/* New aggregator writing into 'arena', its tables counted against 'b' (both borrowed). NULL on
 * out-of-memory or over the budget. */
struct agg *agg_new(struct profile_arena *arena, struct parse_budget *b, enum profile_format format,
                    enum profile_kind kind);
void agg_free(struct agg *g);

/* How a record's op is known. */
struct agg_record {
	/* leaf first: the whole stack (up to PROFILE_MAX_FRAMES), or with a stack_key at least up
	 * to the first non-internal frame */
	const struct raw_frame *frames;
	size_t nframes;
	/* Nonzero: what tells this stack from the others of the profile (a hash of its PCs or
	 * location ids), so that its frames are read whole only when it is kept (agg_set_stack());
	 * 0: the frames are whole, and hashed. */
	uint64_t stack_key;
	const char *op; /* debug=2 header op (markers stripped), or NULL: infer from frames */
	size_t oplen;
	uint64_t count;
	uint64_t leaked;
	int32_t wait_minutes; /* -1: not shown */
	const char *labels;   /* canonical label set (labels_canon()), borrowed; NULL: none */
	size_t labelslen;
};

/* Merge one record, its goroutines counted under its stack too (struct prof_location.stacks).
 * Returns 1 when the record has a stack_key and its stack is kept as a new one (call
 * agg_set_stack() with the whole stack before the next agg_add()), else 0; -1 on out-of-memory or
 * over the budget. */
int agg_add(struct agg *g, const struct agg_record *r) __attribute__((warn_unused_result));
/* The whole stack (leaf first) agg_add() asked for; copied into the arena. 0, or -1 as
 * agg_add(). */
int agg_set_stack(struct agg *g, const struct raw_frame *frames, size_t n)
    __attribute__((warn_unused_result));
/* A 64-bit hash of 'n' bytes at 'p' from 'seed' (for stack keys). */
uint64_t agg_hash(const void *p, size_t n, uint64_t seed);

/* Change the kind (a debug=2 dump with "(leaked)" tags is a goroutineleak dump). */
void agg_set_kind(struct agg *g, enum profile_kind kind);

/* Move the aggregate into 'out' (sorted, arena handed over). 0, or -1 as agg_add(). */
int agg_finish(struct agg *g, struct profile *out, uint64_t total)
    __attribute__((warn_unused_result));

/* One record's labels, decoded (parse_labels.c): a fixed-size scratch a parse allocates once. */
struct label_kv {
	uint16_t koff, klen, voff, vlen; /* into bytes */
};
struct label_scratch {
	struct label_kv kv[PROFILE_MAX_LABELS];
	size_t n;
	char bytes[PROFILE_MAX_LABELS * 2 * PROFILE_MAX_LABEL_BYTES];
	size_t used;
	char json[PROFILE_MAX_LABELSET]; /* labels_canon()'s result */
	size_t jsonlen;
};

/* Forget the labels collected. */
void labels_reset(struct label_scratch *ls);
/* Add one label of raw bytes (borrowed; each cut to PROFILE_MAX_LABEL_BYTES between characters);
 * past PROFILE_MAX_LABELS labels, ignored. */
void labels_add(struct label_scratch *ls, const char *k, size_t klen, const char *v, size_t vlen);
/* Reset 'ls' and decode a text label set "{...}" of 'n' bytes: debug=1 '{"k":"v", ...}', Go 1.26
 * '{"k": "v", ...}', Go 1.27 '{k: v, k2: "v 2"}'. 0; -1 when malformed ('ls' then empty). */
int labels_parse_text(struct label_scratch *ls, const char *s, size_t n);
/* Build ls->json, the canonical set: a JSON object in key order (a repeated key keeps its first
 * value), at most PROFILE_MAX_LABELSET bytes. Its length; 0 when there is no label. */
size_t labels_canon(struct label_scratch *ls);

/* Fill 'err' (printf-style) with 'offset' and 'line'. Always returns -1. */
int perr(struct parse_error *err, size_t offset, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Quote at most 40 bytes of 's' into 'dst' for an error message, escaping non-printable bytes. */
void perr_quote(char *dst, size_t dstlen, const char *s, size_t len);

#endif
