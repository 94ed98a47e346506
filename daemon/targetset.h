/* daemon/targetset.h: which targets the daemon scrapes: the registry of the (service, base URL)
 * pairs in the current set and the mapping from a configuration plus its file_sd target files to
 * scrape targets.
 *
 * DESIGN
 * ------
 *
 * A registry id (1, 2, ...) is the scraper's tag (scrape_target.id, copied into every result) and
 * the ingest queue's name for the target. A target keeps its id for as long as it stays in the
 * current set, across any number of reloads, so results still in flight across a reload stay
 * attributable. The registry holds the current set and nothing else once a plan is applied:
 * applying drops every entry that is not in the new set (the targets removed, and those of plans
 * built but never applied), and building drops what an earlier plan built but never applied
 * left, so that pod churn (a million targets coming and going over weeks) never grows it past the
 * largest set plus one plan. A dropped id is free for a later target: the lowest free one is
 * handed out first, so ids stay below the largest registry held, and so does anything indexed by
 * them (the ingest's table of database ids).
 *
 * Reusing an id is safe because nothing can still name the dropped target by it: the scraper
 * aborts a removed target's transfers without a result (scrape_set_targets()), and it takes the
 * new set before the plan is applied; results of the dropped target already handed to the ingest
 * queue come before the registration of the id's next target, which that target needs anyway
 * (targetset_diff.changed), so the queue's order attributes each to its own target. A result for
 * an id that is not in the registry (targetset_get() false) is ignored. A target back in the set
 * after it left is registered again: the database may have deleted it meanwhile (retention
 * deletes targets that stayed out of the set for longer than the rollups are kept).
 *
 * The mapping resolves each service's settings (path, format, detail scrapes, headers, auth with
 * its secret files read, TLS), keeps this daemon's shard of the fleet, drops duplicates, and merges
 * the service's labels with a file_sd group's. Building a set (targetset_build) changes nothing the
 * caller can see but the ids of new targets; applying it (targetset_apply, once the scraper took
 * it) makes it current and reports what changed for the database.
 *
 * Threads: one thread (the daemon's main loop) owns a struct targetset and everything it hands out.
 */
#ifndef TARGETSET_H
#define TARGETSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "collector/scrape.h"
#include "collector/targets.h"

struct targetset;      /* opaque: the registry and the current set */
struct targetset_plan; /* opaque: a set built from a configuration, not applied yet */

/* An empty registry with an empty current set. Caller owns (targetset_free). */
struct targetset *targetset_new(void);
/* Free the registry; targetset_free(NULL) does nothing. Plans built from it must be freed first. */
void targetset_free(struct targetset *ts);

/* Build the scrape targets of 'cfg' plus those of 'sd' (NULL: no target files): each service's
 * targets in configuration order, then the target files' in their order, skipping other shards'
 * targets (cfg->shard_index of cfg->shard_count, by service name, or by base URL for a service
 * with shard_by: target; see targets_shard_of()) and repeats of a (service, base URL). A file_sd
 * service named in 'cfg' takes that service's settings and labels (the group's labels win), any
 * other gets the defaults. Reads the services' secret files. New (service, base URL) pairs get a
 * registry id now, and the entries an earlier plan added but never applied are dropped (that plan
 * must not be applied any more); nothing else of 'ts' changes. NULL when anything is wrong (each
 * problem logged, naming the configuration file and the service). Caller owns
 * (targetset_plan_free); the plan borrows strings of 'cfg' and 'sd': free it before them. */
struct targetset_plan *targetset_build(struct targetset *ts, const struct config *cfg,
                                       const struct targets_sd *sd)
    __attribute__((warn_unused_result));
/* The plan's targets, for scrape_set_targets(); each one's id is its registry id. Borrowed from the
 * plan. */
const struct scrape_target *targetset_plan_targets(const struct targetset_plan *p, size_t *n);
/* The labels of the plan's target 'i' as a JSON object text, '{"team":"sd"}'. Borrowed. */
const char *targetset_plan_labels(const struct targetset_plan *p, size_t i);
/* Free a plan (applied or not); targetset_plan_free(NULL) does nothing. */
void targetset_plan_free(struct targetset_plan *p);

/* What applying a plan changed, as registry ids. Caller releases with targetset_diff_release(). */
struct targetset_diff {
	int64_t *active; /* the new set, in plan order: the database's active targets */
	size_t nactive;
	int64_t *added; /* in the new set and not in the old one, in plan order */
	size_t nadded;
	int64_t *kept; /* in both, in plan order */
	size_t nkept;
	int64_t *removed; /* in the old set and not in the new one, in the old set's order */
	size_t nremoved;
	int64_t *changed; /* of the new set, those added (new, or back after they left) and those
	                   * kept whose labels changed: the database must (re)register them before
	                   * their first scrape */
	size_t nchanged;
};
void targetset_diff_release(struct targetset_diff *diff);

/* Make 'p' (built from this 'ts', the latest plan built) the current set, after the scraper
 * accepted its targets, and report in 'diff' what changed. Every entry not in the new set leaves
 * the registry: the removed targets' ids are unknown to targetset_get() from now on, and free for
 * later targets. A new round starts: no target of the set has been scraped in it. Takes the labels
 * out of 'p'; the caller still frees it. */
void targetset_apply(struct targetset *ts, struct targetset_plan *p, struct targetset_diff *diff);

/* One registry entry. Strings borrowed until the next targetset_build() or targetset_apply(). */
struct targetset_target {
	int64_t id;
	const char *service;
	const char *base_url;
	const char *labels_json; /* as last applied; NULL: never in an applied set */
	bool in_set;             /* in the current set */
};
/* The entry of 'id'. false when the registry has no such id. */
bool targetset_get(const struct targetset *ts, int64_t id, struct targetset_target *out);

/* Targets in the current set. */
size_t targetset_count(const struct targetset *ts);
/* Entries in the registry: the current set, plus the new targets of a plan built and not applied
 * yet. */
size_t targetset_size(const struct targetset *ts);
/* The largest id in use (0: none): every id is in [1, targetset_max_id()], so a table indexed by
 * id needs that many rows. */
int64_t targetset_max_id(const struct targetset *ts);

/* ---- Scrape rounds: the daemon ranks once every target of the set has been scraped ---- */

/* A regular (not detail) scrape of 'id' finished, with 'failures' consecutive failures now. It
 * counts toward the round when the target is in the current set. Returns the failures noted before
 * this scrape (0 for an unknown id), for "ok again after N failures". */
unsigned targetset_note_scrape(struct targetset *ts, int64_t id, unsigned failures);
/* Targets of the current set with a regular scrape since the round started. */
size_t targetset_rounded(const struct targetset *ts);
/* Start a new round. */
void targetset_round_reset(struct targetset *ts);

#endif
