/* collector/scrape.h: the scraper: one libcurl multi handle fetching goroutine profiles from many
 * targets.
 *
 * The caller (the daemon's main loop, or `leakprofd scrape`) owns the loop: it calls scrape_poll()
 * repeatedly with a bounded timeout; scrape_poll() starts due scrapes (at most max_concurrent at
 * once), drives the transfers, parses finished bodies with profile_parse() and hands each result to
 * the completion callback, all in the calling thread. Each target has its own schedule: a stable
 * per-target phase inside the interval (FNV-1a hash of service and URL, so a fleet is spread evenly
 * and restarts keep the spread) plus a small random jitter per scrape, so targets never start in
 * one herd. A few targets joining together (a small fleet's start, a reload adding a handful) are
 * scraped at once instead, and join their phase from the second scrape on (see
 * scrape_first_delay_ms()). Failing targets back off exponentially (see scrape_backoff_ms()). A
 * target never has
 * two transfers in flight: its debug=2 detail scrape and its leak profile fetch run after its
 * regular scrape finished, one after the other, before the next regular scrape.
 * Nothing here logs or includes daemon headers: a collector module reports through results and
 * return values; the daemon maps its config onto struct scrape_target.
 *
 * Threads: one thread drives a scraper; only scrape_wakeup() may be called from another thread. */
#ifndef SCRAPE_H
#define SCRAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/profile.h"

struct scraper; /* opaque */

/* Status text of a scrape: "ok", "timeout", "connect refused", "dns error", "http 404", "http 401
 * unauthorized (<what to check>)", "http 403 forbidden", "html page, not a profile" (with " (a
 * login page?)" when it has a password field), "body too large", "parse error: <parser message>",
 * "tls error: <curl message>", "connection reset", "empty reply", "truncated body", "too many
 * redirects", "redirected to a URL that is not http or https", "error: <curl message>". A failure
 * after a redirect to another origin than the target's says so first: "redirected to
 * <scheme://host[:port]> (credentials not sent): <status>" (the parenthesis only when the target
 * has credentials). Always NUL-terminated, cut to fit; the host is made printable, but the status
 * is still text from the network: escape it where it is shown. */
#define SCRAPE_STATUS_MAX 320

/* How long a target that answered 404 for its leak profile is left alone: a day (a deploy of a
 * build that serves it is found the next day, or at once on a reload that changes leak_url). */
#define SCRAPE_LEAK_RETRY_MS (24 * 3600 * 1000ULL)

struct scrape_header {
	const char *name;  /* "X-Scope" */
	const char *value; /* "payments" */
};

/* One target: everything needed to fetch one profile URL. All pointers are borrowed by
 * scrape_set_targets(), which copies what it keeps; NULL strings mean "none". */
struct scrape_target {
	int64_t id;          /* caller's tag (e.g. a database id), copied into every result */
	const char *service; /* service name; with 'url' the identity of a target across reloads */
	const char *url; /* full profile URL including the query, e.g. ".../goroutine?debug=1" */
	enum profile_format
	    format; /* what 'url' serves: PROTO bodies are gzip already (no Accept-Encoding) */
	const char *detail_url; /* the same profile at debug=2, for detail scrapes; NULL: never */
	unsigned detail_every;  /* fetch detail_url after every Nth regular scrape; 0: never */
	uint64_t detail_max_goroutines; /* skip the detail scrape when the last profile had more
	                                   goroutines */
	uint64_t detail_timeout_ms;     /* timeout of a detail scrape; 0: timeout_ms */
	/* The goroutine leak profile (Go 1.26 with GOEXPERIMENT=goroutineleakprofile, Go 1.27):
	 * each fetch runs a garbage collection cycle in the target, so it has its own, longer
	 * interval. It is fetched right after an ok regular scrape (and its detail scrape) once
	 * leak_interval_ms has passed since the previous leak fetch started; the first one after
	 * the first ok regular scrape when few targets join together, else after the first ok one
	 * past its slot on a grid of leak_interval_ms (scrape_first_delay_ms() with leak_url and
	 * leak_interval_ms), so that a large fleet's first leak fetches do not double its first
	 * round. A target answering 404 is remembered as not serving it and
	 * asked again only after leak_retry_ms. Served in 'format' (leak_url says the same debug
	 * level as 'url'). */
	const char *leak_url;      /* NULL: never */
	uint64_t leak_interval_ms; /* > 0 when leak_url is set */
	uint64_t leak_retry_ms;    /* after a 404; 0: SCRAPE_LEAK_RETRY_MS */
	uint64_t leak_timeout_ms;  /* 0: timeout_ms */
	/* Credentials: the headers, the bearer token or basic auth (or a user and password written
	 * in the URL), and the client certificate go to the origin (scheme, host, port) of 'url'
	 * (or 'detail_url') only; a redirect to another origin is followed without them (at most 3
	 * redirects). */
	const struct scrape_header *headers; /* extra request headers */
	size_t nheaders;
	const char *bearer_token; /* the token itself (the daemon reads the file) */
	const char *basic_user;   /* basic auth; NULL: none */
	const char *basic_password;
	const char *tls_ca_file;   /* NULL: system CAs */
	const char *tls_cert_file; /* client certificate; NULL: none */
	const char *tls_key_file;
	bool tls_insecure; /* skip peer and host verification */
	const char
	    *proxy; /* NULL: curl's default (http_proxy/no_proxy environment); "": no proxy */
	uint64_t interval_ms;    /* time between regular scrapes; > 0 */
	uint64_t timeout_ms;     /* whole transfer, connect included; > 0 */
	uint64_t max_body_bytes; /* body cap after content decoding; > 0 */
};

/* One finished scrape, handed to the completion callback. Strings are borrowed and valid during the
 * callback only. On success 'profile' holds the parsed profile; the callback may steal it (move the
 * struct and zero res->profile), otherwise it is released after the callback returns. On failure
 * 'profile' is empty. */
struct scrape_result {
	int64_t id; /* scrape_target.id */
	const char *service;
	const char *url; /* the URL fetched (detail_url for a detail scrape) */
	bool detail;     /* a debug=2 detail scrape */
	bool leak; /* a leak profile fetch (leak_url); its 404 is "not served", not a failure */
	bool ok;   /* status is "ok" and 'profile' is parsed */
	char status[SCRAPE_STATUS_MAX];
	long http_code;   /* 0 when no response */
	int64_t start_ms; /* wall clock, ms since the epoch */
	uint64_t duration_ms;
	uint64_t lag_ms;               /* how late the scrape started against its schedule */
	uint64_t bytes;                /* body bytes received (after content decoding) */
	unsigned consecutive_failures; /* after this scrape (0 when ok); detail and leak fetches do
	                                  not count */
	bool new_connection; /* a new connection was opened (none kept alive from the previous
	                        scrape: a restarted server closes it) */
	struct profile profile;
};

typedef void scrape_done_fn(void *arg, struct scrape_result *res);

/* Per-target health, as of the last finished regular scrape. */
struct scrape_health {
	int64_t id;
	const char
	    *service; /* borrowed: valid until the next scrape_set_targets() or scrape_free() */
	const char *url;
	bool scraped; /* at least one regular scrape finished */
	bool up;      /* the last regular scrape was ok */
	bool in_flight;
	char status[SCRAPE_STATUS_MAX]; /* "" before the first scrape */
	int64_t last_start_ms;          /* wall clock */
	uint64_t last_duration_ms;
	uint64_t last_bytes;
	uint64_t last_total_goroutines; /* of the last ok profile */
	unsigned consecutive_failures;
	uint64_t scrapes;         /* regular scrapes finished */
	uint64_t detail_scrapes;  /* detail scrapes finished */
	uint64_t leak_scrapes;    /* leak profile fetches finished (404s included) */
	bool leak_unserved;       /* the last leak fetch answered 404 */
	uint64_t leak_next_in_ms; /* until the leak profile is due again (0: due, or none) */
	uint64_t next_in_ms;      /* until the next scheduled start (0: due or running) */
};

struct scrape_options {
	unsigned max_concurrent; /* transfers in flight at most; 0: 64 */
	scrape_done_fn *done;    /* completion callback, called from scrape_poll(); required */
	void *done_arg;
	const char *user_agent; /* NULL: "leakprofd" */
};

/* Create a scraper with no targets. NULL on failure (curl could not be set up). Caller owns. */
struct scraper *scrape_new(const struct scrape_options *opt);
/* Abort every transfer (no callbacks) and free everything; scrape_free(NULL) does nothing. */
void scrape_free(struct scraper *sc);

/* Replace the target set. Targets that stay (same service and URL) keep their health, schedule and
 * any transfer in flight, and take the new settings from their next scrape on; new targets are
 * scheduled as scrape_first_delay_ms() says (at once when few join, else at their phase); removed
 * targets' transfers are aborted without a callback. A kept target whose interval changed moves to
 * the grid of its new interval, its next regular scrape at least the new interval (backoff
 * included) after the slot of its last one. A new target's first leak profile fetch follows the
 * same rule on the grid of leak_interval_ms, as does a kept one's whose leak URL changed.
 * Copies everything it keeps. 0, or -1 with a message in 'err' (e.g. a duplicate or an invalid
 * target), in which case the old set is unchanged. */
int scrape_set_targets(struct scraper *sc, const struct scrape_target *targets, size_t n, char *err,
                       size_t errlen) __attribute__((warn_unused_result));

/* Run the loop once: start due scrapes, wait up to 'timeout_ms' for network activity, a wakeup or
 * one of 'extra_fds' (at most 8, polled for input, e.g. a signalfd; may be NULL), then finish
 * transfers and call the completion callback for each. Never waits past the next due scrape, and
 * does not wait at all when it has results to deliver. Returns the number of results delivered (>=
 * 0), or -1 on a curl multi failure (message in 'err'). The callback may call scrape_set_targets(),
 * scrape_get_health() and the like, but not scrape_poll() or scrape_free(). */
int scrape_poll(struct scraper *sc, const int *extra_fds, size_t nextra, int timeout_ms, char *err,
                size_t errlen) __attribute__((warn_unused_result));

/* Make a scrape_poll() in progress (or the next one) return early. Safe from any thread, and from a
 * signal handler's perspective it is a write to a pipe (curl_multi_wakeup). */
void scrape_wakeup(struct scraper *sc);

/* Start every target's next regular scrape as soon as a slot is free (ignores schedule and
 * backoff). For one-shot use and tests. */
void scrape_trigger_all(struct scraper *sc);

/* Targets in the current set, and a copy of one's health (index < scrape_count()). */
size_t scrape_count(const struct scraper *sc);
void scrape_get_health(const struct scraper *sc, size_t index, struct scrape_health *out);
/* Targets up (last regular scrape ok) and down (failed); not yet scraped ones count in neither. */
void scrape_count_up(const struct scraper *sc, size_t *up, size_t *down);
/* Transfers in flight now. */
unsigned scrape_in_flight(const struct scraper *sc);

/* The schedule maths, exposed for tests and documentation. */
/* The stable start offset of a target inside its interval: FNV-1a 64 of "service\nurl" modulo
 * interval_ms. */
uint64_t scrape_phase_ms(const char *service, const char *url, uint64_t interval_ms);
/* The gap before the next regular scrape after 'failures' consecutive failures: the interval for 0
 * or 1 (one failure keeps the cadence), then 2, 4 and at most 8 intervals. */
uint64_t scrape_backoff_ms(uint64_t interval_ms, unsigned failures);
/* The bound of the random jitter added to each start: interval / 20, at most 5 s. */
uint64_t scrape_jitter_max_ms(uint64_t interval_ms);

/* At most this many targets joining in one scrape_set_targets() start at once. */
#define SCRAPE_START_AT_ONCE 64
/* How many targets joining together start at once: max_concurrent (resolved, > 0), at most
 * SCRAPE_START_AT_ONCE: as many as one round of transfers takes. */
unsigned scrape_start_at_once_max(unsigned max_concurrent);
/* How long a target new to the scraper waits for its first regular scrape (jitter aside) when
 * 'nnew' targets join in the same scrape_set_targets() at wall-clock time 'now_wall' (ms since the
 * epoch): 0 when nnew <= scrape_start_at_once_max(max_concurrent), so that a small fleet's first
 * data comes at once; otherwise until the next slot of its grid scrape_phase_ms() + k ×
 * interval_ms, more than 0 and at most interval_ms, so that a large fleet (a start, a reload, a
 * discovery refresh bringing many targets) spreads evenly over one interval and a restart keeps
 * each target's place. Either way the next scrape comes at the first slot of the grid at least
 * interval_ms after it: never two scrapes of a target less than an interval apart (jitter aside).
 */
uint64_t scrape_first_delay_ms(const char *service, const char *url, uint64_t interval_ms,
                               int64_t now_wall, size_t nnew, unsigned max_concurrent);

/* Fetch one URL synchronously (its own multi loop, no schedule): for `leakprofd scrape`. 'res' is
 * filled as for the callback (res->service and res->url borrow from 't'), and the caller owns
 * res->profile (profile_release()). Returns 0 when res->ok, else -1 (status in res->status). */
int scrape_once(const struct scrape_target *t, struct scrape_result *res)
    __attribute__((warn_unused_result));

/* curl_global_init once per process, before any thread starts; 0 or -1. scrape_new() calls it too,
 * but the daemon should call it first thing in main while single-threaded. */
int scrape_global_init(void) __attribute__((warn_unused_result));

#endif
