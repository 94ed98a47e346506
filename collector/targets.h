/* collector/targets.h: where targets come from: Prometheus file_sd files (and the lists of
 * discovery sources), profile URLs, and sharding.
 *
 * A file_sd file is a JSON array or a YAML list of target groups:
 *
 *     [{"targets": ["10.0.0.5:6060", "10.0.0.6:6060"], "labels": {"service": "payments"}}]
 *
 * The label "service" names the service of a group's targets; without it, the label "job" does (as
 * Prometheus names scrape jobs); a group with neither is an error. The label "__scheme__" ("http"
 * default, or "https") builds the base URL "scheme://host:port"; a target written as a URL
 * ("http://h:p/x") is taken as is. Other labels starting with "__" are dropped, the rest are kept
 * in file order.
 *
 * A struct targets_sd watches a list of globs: targets_sd_refresh() re-expands them and re-reads a
 * file only when its inode, size or mtime changed (or it is new); a broken file is reported (file
 * and problem) and keeps the targets it had at its last good read; a vanished file drops its
 * targets. It may also follow discovery sources (http_sd, dns_sd: collector/discovery.h), whose
 * lists come after the files'. Pure of the daemon: errors are returned, not logged. */
#ifndef TARGETS_H
#define TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct targets_label {
	char *name;
	char *value;
};

/* One discovered target. */
struct targets_entry {
	char *service;  /* from the "service" label, else "job" */
	char *base_url; /* "http://10.0.0.5:6060" (scheme from __scheme__), or the URL as written */
	struct targets_label
	    *labels; /* every label of its group except "__*" ones, including service/job */
	size_t nlabels;
	const char *file; /* the file it came from; borrowed from the targets_sd */
};

/* Problems found by a refresh, one message each: "FILE: problem" (with ":LINE" for YAML/JSON
 * syntax). */
struct targets_errors {
	char **msgs;
	size_t n;
};
void targets_errors_release(struct targets_errors *errs);
/* Append one message (printf format, at most 511 bytes); errs NULL, or out of memory: dropped. */
void targets_errors_add(struct targets_errors *errs, const char *f, ...)
    __attribute__((format(printf, 2, 3)));

struct targets_sd; /* opaque */

/* Watch the files matching 'globs' (glob(3) patterns; copied). No file is read until the first
 * refresh. NULL on ENOMEM. Caller owns. */
struct targets_sd *targets_sd_new(const char *const *globs, size_t nglobs);
void targets_sd_free(struct targets_sd *sd);

struct config;

/* Watch the target files of 'cfg' and follow its http_sd and dns_sd sources
 * (collector/discovery.h), started now on their own threads. A source configured as one of 'prev'
 * (the set this one replaces, NULL: none; borrowed) starts from that one's last good list. With
 * 'wait', returns once each other source has made its first attempt. NULL when a thread cannot be
 * started (logged) or on ENOMEM. Caller owns (targets_sd_free stops the threads). */
struct targets_sd *targets_sd_open(const struct config *cfg, const struct targets_sd *prev,
                                   bool wait);
/* Whether a discovery source has news for targets_sd_refresh(). Cheap, any thread. */
bool targets_sd_pending(const struct targets_sd *sd);

/* Re-expand the globs and re-read new or changed files, and take the discovery sources' new lists
 * and errors. Sets *changed when the target list differs
 * from the last refresh. Problems (unreadable or broken files, bad groups) are appended to 'errs'
 * and the file keeps its previous targets; so is a discovery source's error, once per change of
 * error, the source keeping its last good list. Returns 0 when no file had a problem, -1 when one
 * had (the target list is still valid and usable). */
int targets_sd_refresh(struct targets_sd *sd, bool *changed, struct targets_errors *errs)
    __attribute__((warn_unused_result));

/* The current targets of every file, in glob order, then file name order, then file order, then
 * those of each discovery source in configuration order; duplicates (same service and base URL) are
 * kept once. Borrowed: valid until the next refresh or free. */
const struct targets_entry *targets_sd_list(const struct targets_sd *sd, size_t *n);

/* What one source of targets is doing, for /healthz and the targets page: a target file, an
 * http_sd or a dns_sd source. Strings are cut to fit (network text: escape where shown). */
struct targets_source_state {
	char kind[8];   /* "file", "http_sd", "dns_sd" */
	char name[256]; /* the file's path, the http_sd URL, the dns_sd names and type */
	int64_t
	    last_refresh_ms; /* wall: its latest attempt (a file: read or checked), 0: none yet */
	int64_t last_success_ms; /* wall: its latest good list, 0: never */
	char error[512];         /* of its latest attempt, "": it went well */
	size_t targets;          /* in the list in use */
	bool last_good;          /* failing, and the list in use is its last good one */
};
/* The state of every source of 'sd' (files in glob order, then discovery sources in
 * configuration order), at most 'max' of them, into *out (caller frees; NULL when none). Returns
 * how many sources there are in all (more than 'max': only the first 'max' are in *out). Call it
 * from the thread that refreshes 'sd'. NULL 'sd': none. */
size_t targets_sd_states(const struct targets_sd *sd, size_t max,
                         struct targets_source_state **out);

/* Parse one file_sd document from memory ('name' appears in messages). Appends the targets to *out
 * (caller owns; release with targets_entries_free()) and returns 0, or returns -1 with messages in
 * 'errs' and *out unchanged. Each entry's 'file' is 'name' (borrowed: keep 'name' alive). */
int targets_parse_file_sd(const char *name, const char *buf, size_t len, struct targets_entry **out,
                          size_t *nout, struct targets_errors *errs)
    __attribute__((warn_unused_result));
/* The same for a document that must be JSON (an http_sd answer): YAML, and empty input, are
 * errors. */
int targets_parse_json_sd(const char *name, const char *buf, size_t len, struct targets_entry **out,
                          size_t *nout, struct targets_errors *errs)
    __attribute__((warn_unused_result));
/* One target group given as values rather than text (DNS discovery's answers): the targets
 * 'addrs' ("host:port", "[v6]:port", or URLs) with 'labels' (borrowed), checked and turned into
 * entries exactly as the same group in a file_sd file. Appends to *out and returns 0, or returns
 * -1 with messages in 'errs' and *out unchanged. Each entry's 'file' is 'name' (borrowed). */
int targets_group_entries(const char *name, const char *const *addrs, size_t naddrs,
                          const struct targets_label *labels, size_t nlabels,
                          struct targets_entry **out, size_t *nout, struct targets_errors *errs)
    __attribute__((warn_unused_result));
void targets_entries_free(struct targets_entry *entries, size_t n);
/* A hash of the entries' content (services, base URLs, labels, in order), to tell whether a list
 * changed. */
uint64_t targets_entries_hash(const struct targets_entry *entries, size_t n);

/* Sharding: N daemons split one fleet. A target's shard key is its service name, so that one
 * daemon sees every instance of a service (spread and growth are judged over a whole service), or,
 * for a service configured with 'shard_by: target', its base URL. targets_hash() is FNV-1a 64
 * (offset basis 0xcbf29ce484222325, prime 0x100000001b3) over the bytes of 's'. The shard of a key
 * is the jump consistent hash (Lamping and Veach, 2014) of hash_mix64(targets_hash(key)) into
 * 'count' buckets: stable across restarts and between daemons, and going from N to N+1 shards
 * moves only the keys that the new shard takes, about 1/(N+1) of them, never one between two old
 * shards. count 0 or 1 puts everything in shard 0. */
uint64_t targets_hash(const char *s);
unsigned targets_shard_of(const char *key, unsigned count);
bool targets_shard_keep(const char *key, unsigned index, unsigned count);

/* The profile URL of a target. A base URL ("http://host:port" or with the path "/") gets 'path'
 * appended (e.g. "/debug/pprof/goroutine"; NULL: that one); a URL with any other path is taken as
 * the profile URL as written (a service behind a path prefix sets its full path through the
 * config's 'path' key instead). Then the query gets "debug=N": an existing debug value is replaced,
 * other query parameters are kept, a fragment is dropped. 'debug' is 0, 1 or 2, or -1 to leave the
 * query as it is (no debug parameter added). Returns a new string (caller frees), or NULL when
 * 'base' is not an http or https URL (or on ENOMEM). */
char *targets_profile_url(const char *base, const char *path, int debug);

#endif
