/* detect/detector.h: the detector thread: ranks every service (detect_run()) on its own SQLite
 * connection whenever a scrape round has been stored, then kicks the alerter, so a ranking that
 * reads hours of samples never holds up scraping or ingest, and a stopping daemon can abandon one
 * at once. */
#ifndef DETECTOR_H
#define DETECTOR_H

#include <stdint.h>

#include "base/config.h"
#include "detect/alert.h"

struct detector; /* opaque */

/* Open a connection to cfg->database and start the thread, ranking with 'cfg' (a reference is
 * taken) and kicking 'alert' (borrowed; may be NULL; must outlive the detector) after each stored
 * ranking. The thread inherits the caller's signal mask. NULL on error (logged). Caller owns:
 * detector_stop(). */
struct detector *detector_start(const struct config *cfg, struct alerter *alert);
/* Rank soon: a scrape round is stored. Kicks during a ranking, or during the rest after a slow one,
 * add up to one more ranking. Thread-safe; NULL: no-op. */
void detector_kick(struct detector *d);
/* How far behind the detector is, for health checks: *waiting_ms is how long the oldest round
 * handed to it by detector_kick() has waited for a stored ranking (0: every round is ranked), and
 * *pace_ms how long a round may wait while the detector keeps its pace: a ranking as long as the
 * last one plus the rest after it (0 before any ranking is known). Thread-safe; NULL: both 0. */
void detector_lag(struct detector *d, int64_t *waiting_ms, int64_t *pace_ms);
/* What the window kept between rankings held after the last ranking (window_stats(); zeros
 * before the first, or with no detector). */
struct window_stats;
void detector_window(struct detector *d, struct window_stats *out);
/* Rank with 'cfg' from the next ranking on (a reference is taken; a ranking in progress finishes
 * with its own snapshot). Thread-safe; NULL: no-op. */
void detector_reload(struct detector *d, const struct config *cfg);
/* Rank no more: a ranking in progress is abandoned (its reads are interrupted within milliseconds,
 * nothing of it is stored, the alerter is not kicked; logged at notice level), and kicks are
 * ignored from now on. It returns at once; the thread ends on its own. For a daemon stopping, so
 * that no ranking outlasts the stop and none starts during it. Thread-safe; NULL: no-op. */
void detector_cancel(struct detector *d);
/* detector_cancel(), then join the thread, close, free. NULL: no-op. */
void detector_stop(struct detector *d);

#endif
