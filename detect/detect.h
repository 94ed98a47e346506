/* detect/detect.h: the leak detector: ranks (service, location, op) by the evidence that its
 * blocked count keeps growing (robust slope inside process lifetimes, monotonicity, fit, spread
 * over instances, size, age, and goroutineleak confirmation). Reads storage through its query
 * functions; writes the ranking back to it. */
#ifndef DETECT_H
#define DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/config.h"
#include "storage/store.h"

/* Compute the ranking over the window [now - window_seconds, now] from 'st', for 'service' (NULL:
 * all), honouring cfg->detector (minimums, ignore rules). Fills 'out' (caller releases with
 * ranking_release). 0, or -1 (logged). */
int detect_rank(struct store *st, const struct config *cfg, const char *service,
                uint64_t window_seconds, int64_t now_ms, struct ranking *out)
    __attribute__((warn_unused_result));

struct window;

/* detect_rank() of every service from the window 'w' kept between rankings (detect/window.h),
 * brought up to date first: the same ranking, reading only what was stored since the last one.
 * Rankings from one window must come with non-decreasing now_ms. A window longer than
 * retention.raw is read from the store. */
int detect_rank_window(struct store *st, const struct config *cfg, struct window *w,
                       uint64_t window_seconds, int64_t now_ms, struct ranking *out)
    __attribute__((warn_unused_result));

/* Rank every service over cfg->detector.window and store the result (store_ranking_save), from
 * 'w' (NULL: from the store). The daemon calls this after each scrape round. 0, or -1 (logged). */
int detect_run(struct store *st, const struct config *cfg, struct window *w, int64_t now_ms)
    __attribute__((warn_unused_result));

/* True when cfg->detector.ignore keeps 'loc' of 'service' off the ranking (by attributed function,
 * any function in its stack, file glob or service). */
bool detect_ignored(const struct config *cfg, const char *service,
                    const struct store_location *loc);

/* The frame that called the location (function, line) in the stack 'stack_json' (JSON frames,
 * innermost first): the one after the location's own frame, which tells one call site of a shared
 * helper from another. NULL when there is none. Caller owns. */
char *detect_caller_of(const char *stack_json, const char *function, uint32_t line);

/* One suspect in the pinned JSON schema of `leakprofd suspects --json` and GET /api/v1/suspects
 * ("rank", "location_id", "service", "function", "file", "line", "op", "score", "confirmed",
 * "current_count", "max_instance_count", "instances_growing", "instances_total", "growth_per_hour",
 * "monotonicity", "oldest_wait_minutes" (null: unknown), "first_seen", "explanation", "stack").
 * Caller owns; NULL on ENOMEM. */
json_t *detect_suspect_json(const struct suspect *s);
/* A time (ms) as an ISO 8601 UTC JSON string; null for 0 (never). Caller owns. */
json_t *detect_time_json(int64_t ms);

/* A growth rate for people: 8012.3 → "8.0k", 48210 → "48k", 120 → "120", 0.4 → "0.4" (M past a
 * million), with a leading sign when 'sign' is set. The CLI's table and the explanations use it
 * alike. */
void detect_fmt_rate(char *buf, size_t len, double v, bool sign);

#endif
