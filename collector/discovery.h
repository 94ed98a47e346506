/* collector/discovery.h: targets from an HTTP endpoint (Prometheus http_sd) and from DNS (SRV, or
 * A/AAAA with a port), followed on background threads.
 *
 * Each source of the configuration (http_sd, dns_sd) is fetched at once and then every
 * refresh_interval on a thread of its own, so a slow inventory or resolver never holds up the
 * scrape loop. An answer is parsed on that thread into file_sd entries (collector/targets.h: the
 * http_sd answer is the file_sd JSON; a DNS answer becomes one group with the source's service and
 * labels). A failed fetch or a bad answer keeps the source's last good list. The thread that owns
 * the struct discovery (the daemon's main loop, through struct targets_sd) takes the new lists
 * with discovery_collect(); until then they wait in the source.
 *
 * The parsers are pure and exported for the tests: discovery_parse_http() and
 * discovery_parse_dns().
 *
 * DESIGN: threads share only their source's 'fresh' slot (a new list, the latest error) under one
 * mutex; the configuration they read is a reference-counted snapshot; stopping sets a flag, wakes
 * them (a transfer in progress is aborted by curl's progress callback, a DNS query runs out its
 * timeout: 2 s a try, 2 tries a server) and joins them. */
#ifndef DISCOVERY_H
#define DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>

#include "base/config.h"
#include "collector/targets.h"

#define DISCOVERY_MAX_BODY (16u << 20) /* an http_sd answer larger than this is an error */

struct discovery; /* opaque */

/* Start following the http_sd and dns_sd sources of 'cfg' (a reference is taken), each fetched at
 * once on its own thread. A source configured exactly as one of 'prev' (NULL: none; borrowed)
 * starts from that one's last good list and error, so a reload drops no discovered target while
 * the new thread fetches. With 'wait', returns once every other source has finished its first
 * attempt (each bounded by its timeout). NULL when 'cfg' has no source, or when a thread cannot be
 * started (logged). Caller owns (discovery_stop). libcurl must be initialised
 * (scrape_global_init). */
struct discovery *discovery_start(const struct config *cfg, const struct discovery *prev,
                                  bool wait);
/* Stop the threads, wait for them, and free everything; discovery_stop(NULL) does nothing. */
void discovery_stop(struct discovery *d);

/* Take what the threads found since the last call: a new good list replaces its source's current
 * one. A source's error is appended to 'errs' when it differs from the one reported last
 * ("http_sd 'URL': HTTP status 500 (want 200)"); a source that answers well again after an error
 * is logged once. Returns true when a list was replaced. */
bool discovery_collect(struct discovery *d, struct targets_errors *errs);
/* Whether a thread has something for discovery_collect(). Thread-safe, cheap. */
bool discovery_pending(const struct discovery *d);
/* The sources, in configuration order (http_sd, then dns_sd), and the current list of each:
 * borrowed, valid until the next discovery_collect(). */
size_t discovery_count(const struct discovery *d);
const struct targets_entry *discovery_list(const struct discovery *d, size_t i, size_t *n);

/* The state of each source (discovery_count() of them) into 'out': its last attempt and last good
 * list (wall ms), its last error and the size of the list in use (collected). Any thread that may
 * call discovery_collect(). */
void discovery_states(const struct discovery *d, struct targets_source_state *out);

/* An http_sd answer: 'status' must be 200, 'content_type' (NULL: none) application/json (with
 * any parameters), 'body' the file_sd JSON. Appends the targets to *out (caller owns) and returns
 * 0, or returns -1 with the problems in 'errs' (each starting with 'name') and *out unchanged.
 * Entries' 'file' is 'name' (borrowed). */
int discovery_parse_http(const char *name, long status, const char *content_type, const char *body,
                         size_t len, struct targets_entry **out, size_t *nout,
                         struct targets_errors *errs) __attribute__((warn_unused_result));

/* The targets of one DNS answer 'msg' to a query of 'type' (enum config_dns_type): each SRV
 * record's "target:port" (target without its final dot; a "." target, meaning no service, and
 * port 0 are skipped), or each A/AAAA record's address with 'port' ("10.0.0.5:6060",
 * "[2001:db8::5]:6060"). Other records (a CNAME on the way) are skipped. Appends new strings to
 * *addrs (caller frees each and the array) and returns 0, or returns -1 with the reason in 'err'
 * when the message is malformed. */
int discovery_parse_dns(const unsigned char *msg, size_t len, unsigned type, unsigned port,
                        char ***addrs, size_t *naddrs, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
