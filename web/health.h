/* web/health.h: GET /healthz: the checks and the reply, from plain values, so that each way of
 * being unhealthy can be tested on its own. server.c gathers the values (the database's file
 * system, the collector loop's heartbeat, the detector's lag) and answers with health_reply(). */
#ifndef HEALTH_H
#define HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "storage/store.h"
#include "web/web.h"

/* Less free space than this on the database's file system is "full". */
#define HEALTH_MIN_FREE_BYTES (16ull << 20)

/* What /healthz judges. */
struct health_input {
	const char *db_error;          /* why the database is unusable, NULL: it is fine */
	unsigned long long free_bytes; /* on the database's file system */
	int64_t heartbeat_age_ms;      /* since the collector loop last reported */
	int64_t heartbeat_limit_ms;
	bool detector;               /* a detector reports to this server (false: not judged) */
	int64_t detector_waiting_ms; /* how long the oldest scrape round has waited for a ranking */
	int64_t detector_limit_ms;
};

/* The collector loop is stalled when it has not reported for three scrape intervals. */
int64_t health_collector_limit_ms(const struct config *cfg);
/* The detector is stalled when a scrape round has waited for a stored ranking longer than three
 * scrape intervals plus twice its pace ('pace_ms', detector_lag()): a slow ranking that keeps its
 * pace is not a stall, a ranking that never comes or keeps failing is. */
int64_t health_detector_limit_ms(const struct config *cfg, int64_t pace_ms);

/* Check the database at 'path': the file and its directory writable, HEALTH_MIN_FREE_BYTES free on
 * its file system (*free_bytes), and readable through 'st' (NULL: no connection could be opened).
 * NULL when usable, else the failure, written into 'buf'. */
const char *health_check_database(const char *path, struct store *st, char *buf, size_t n,
                                  unsigned long long *free_bytes);

/* Fill 'r': 200 {"status":"ok",...} when every check passes, else 503 {"status":"unhealthy",...};
 * each check has its object ("database", "collector", "detector") with "ok" and its figures. */
void health_reply(const struct health_input *in, struct web_reply *r);

#endif
