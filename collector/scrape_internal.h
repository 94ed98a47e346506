/* collector/scrape_internal.h: what the scheduler (scrape.c) and the HTTP transfers (fetch.c)
 * share: a target, its transfer, the scraper. Not for use outside collector/scrape*.c and fetch.c.
 */
#ifndef SCRAPE_INTERNAL_H
#define SCRAPE_INTERNAL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "collector/scrape.h"

#define ORIGIN_MAX 160 /* "scheme://host:port" of a redirect, as shown in a status */

/* A target's settings, deep-copied: every string lives in 'strings' (one block). */
struct target_cfg {
	struct scrape_target t;
	struct scrape_header *headers;
	char *strings;
};

struct transfer;

/* What a target fetches next: its regular scrape, or one of the fetches that follow an ok one. */
enum fetch {
	FETCH_REGULAR = 0,
	FETCH_DETAIL,
	FETCH_LEAK,
};

struct target {
	struct target_cfg cfg;
	/* schedule */
	size_t heap_idx;           /* IN_HEAP_NONE while running */
	uint64_t due_ms;           /* monotonic */
	int64_t slot_wall_ms;      /* the wall-clock slot of the next (or running) regular scrape */
	int64_t last_slot_wall_ms; /* the slot of the last regular scrape started; 0: none */
	enum fetch next;
	struct transfer *xfer;
	/* the leak profile */
	uint64_t leak_due_ms; /* monotonic; 0: after the next ok regular scrape */
	uint64_t leak_scrapes;
	bool leak_unserved; /* the last leak fetch answered 404 */
	/* health */
	bool scraped;
	bool up;
	char status[SCRAPE_STATUS_MAX];
	int64_t last_start_ms;
	uint64_t last_duration_ms;
	uint64_t last_bytes;
	uint64_t last_total;
	bool have_total;
	unsigned failures;
	uint64_t scrapes;
	uint64_t detail_scrapes;
	bool mark;   /* scrape_set_targets(): kept in the new set */
	bool regrid; /* scrape_set_targets(): its interval changed */
	bool releak; /* scrape_set_targets(): its first leak fetch is to be placed (again) */
};

struct transfer {
	struct scraper *sc;
	struct target *t;
	CURL *easy;
	struct curl_slist *hdrs;
	struct target_cfg cfg; /* a copy: a reload may replace the target's settings meanwhile, and
	                        * every redirect hop needs them again */
	const char *service;   /* in 'cfg' */
	const char *url;       /* in 'cfg': the configured URL, whatever the redirects */
	enum fetch fetch;
	uint64_t timeout_ms;    /* of the whole transfer, every hop included */
	unsigned hops;          /* redirects followed */
	bool url_userinfo;      /* 'url' has a user (and password) of its own */
	bool away;              /* the current hop is on another origin than 'url' */
	char where[ORIGIN_MAX]; /* the current hop's origin, printable, when 'away' */
	const char *fail;       /* a failure decided here rather than by curl, e.g. a redirect not
	                           followed; static */
	char *buf;
	size_t len;
	size_t cap;
	uint64_t max;
	bool toobig;
	uint64_t start_mono_ms;
	int64_t start_wall_ms;
	uint64_t lag_ms;
	char errbuf[CURL_ERROR_SIZE];
};

struct scraper {
	CURLM *multi;
	struct scrape_options opt;
	char *user_agent;
	struct target **targets; /* in the order given to scrape_set_targets() */
	size_t ntargets;
	struct target **heap; /* min-heap on due_ms */
	size_t nheap;
	unsigned running;
	uint64_t rng;
};

/* snprintf that always terminates and never reports truncation as an error: statuses are cut to
 * fit. */
void scrape_fmt(char *dst, size_t cap, const char *f, ...) __attribute__((format(printf, 3, 4)));
/* Deep-copy a target's settings into 'dst' (one block of strings); 0, or -1 out of memory. */
int target_cfg_copy(struct target_cfg *dst, const struct scrape_target *src);
void target_cfg_release(struct target_cfg *c);

/* fetch.c: one transfer of a target (its regular scrape, a detail or a leak fetch), redirects
 * followed hop by hop with the credentials kept on the target's origin. */
struct transfer *transfer_new(const struct target_cfg *c, enum fetch fetch, const char *user_agent);
void transfer_free(struct transfer *x);
/* After a hop ended with 'rc': true when it was a redirect now being followed (the transfer is
 * back in the multi handle), false when the transfer is finished. */
bool transfer_follow(struct scraper *sc, struct transfer *x, CURLcode rc);
/* The finished transfer's outcome in 'res': the body, or a status saying what went wrong. */
void transfer_result(struct transfer *x, CURLcode rc, struct scrape_result *res);
/* On a failure away from the configured origin, say where the redirects led. */
void transfer_note_redirect(const struct transfer *x, struct scrape_result *res);

#endif
