/* detect/history.h: slow growth over days, judged on the hourly rollups. A leak of one goroutine
 * an hour per instance never reaches min_count within a raw window when instances are replaced
 * every day; its hourly rise does not care about deploys, and over days it adds up. The ranking
 * (detect.c) merges this evidence in for windows longer than retention.raw. */
#ifndef HISTORY_H
#define HISTORY_H

#include <stdint.h>

#include "base/config.h"
#include "storage/store.h"

/* Judge the hourly rollups of [now - window_seconds, now] for 'service' (NULL: all) and merge the
 * (service, location) pairs that grew over the window into 'r' (the ranking detect_rank built
 * from raw samples, not yet sorted): a pair already there keeps its entry, with the history's
 * score when higher, its evidence added to the explanation and its sparkline over the whole
 * window; a new pair is added when it passes
 * the detector's minimums and ignore rules. Does nothing for windows no longer than
 * cfg->retention_raw. 0, or -1 (logged; 'r' stays valid for ranking_release). */
int history_merge(struct store *st, const struct config *cfg, const char *service,
                  uint64_t window_seconds, int64_t now_ms, struct ranking *r)
    __attribute__((warn_unused_result));

#endif
