/* web/health.h: GET /healthz: the checks and the reply, from plain values, so that each way of
 * being unhealthy can be tested on its own. server.c gathers the values (the database's file
 * system, the collector loop's heartbeat, the detector's lag) and answers with health_reply(). */
#ifndef HEALTH_H
#define HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "collector/targets.h"
#include "storage/store.h"
#include "web/web.h"

/* Less free space than this on the database's file system is "full". */
#define HEALTH_MIN_FREE_BYTES (16ull << 20)

/* What /healthz judges. */
struct health_input {
	const char *db_error;          /* why the database is unusable, NULL: it is fine */
	unsigned long long free_bytes; /* on the database's file system */
	int64_t db_refused_ms;         /* how long the writer's writes have been refused, 0: none */
	int64_t db_refused_limit_ms;
	struct web_ingest ingest; /* since when, and the finished scrapes waiting meanwhile */
	int64_t heartbeat_age_ms; /* since the collector loop last reported */
	int64_t heartbeat_limit_ms;
	bool detector;               /* a detector reports to this server (false: not judged) */
	int64_t detector_waiting_ms; /* how long the oldest scrape round has waited for a ranking */
	int64_t detector_limit_ms;
	/* the sources of targets, shown and not judged (borrowed; NULL: none): 'nsources' of
	 * 'sources_total' */
	const struct targets_source_state *sources;
	size_t nsources;
	size_t sources_total;
};

/* The collector loop is stalled when it has not reported for three scrape intervals. */
int64_t health_collector_limit_ms(const struct config *cfg);
/* The detector is stalled when a scrape round has waited for a stored ranking longer than three
 * scrape intervals plus twice its pace ('pace_ms', detector_lag()): a slow ranking that keeps its
 * pace is not a stall, a ranking that never comes or keeps failing is. */
int64_t health_detector_limit_ms(const struct config *cfg, int64_t pace_ms);

/* The database is unusable when the daemon's writer has had its writes refused (another process
 * holding the write lock, a read-only or full file system, a damaged file) for longer than three
 * scrape intervals, and never less than 10 s nor more than 30 s: a lock held for a backup or a
 * VACUUM of a few seconds is not a failure, while a PostgreSQL restart or a network cut is worth
 * telling well before the finished scrapes waiting in memory reach ingest.buffer_scrapes or
 * ingest.buffer_duration and are dropped. */
int64_t health_database_limit_ms(const struct config *cfg);
/* NULL when the writer's writes to the database at 'path' have been refused since
 * ing->refused_since_ms (0: they succeed) no longer than 'limit_ms' at 'now_ms' (Unix ms), else the
 * failure, naming the database, since when, and the scrapes waiting and dropped, written into
 * 'buf'. */
const char *health_check_writes(const char *path, const struct web_ingest *ing, int64_t now_ms,
                                int64_t limit_ms, char *buf, size_t n);

/* Check the database at 'path': the file and its directory writable, HEALTH_MIN_FREE_BYTES free on
 * its file system (*free_bytes), and readable through 'st' (NULL: no connection could be opened);
 * a PostgreSQL database (db_target_is_postgres()) only readable, its files being the server's
 * (*free_bytes 0). NULL when usable, else the failure, written into 'buf'. */
const char *health_check_database(const char *path, struct store *st, char *buf, size_t n,
                                  unsigned long long *free_bytes);

/* Fill 'r': 200 {"status":"ok",...} when every check passes, else 503 {"status":"unhealthy",...};
 * each check has its object ("database", "collector", "detector") with "ok" and its figures. The
 * database is judged by 'db_error' alone: health_check_writes() is one way to set it.
 *
 * "discovery" lists the sources of targets (target files, http_sd, dns_sd) with their state, and
 * its "ok" says whether every source's latest attempt went well; it never makes the reply a 503.
 * A failing source keeps its last good list in use, and its failure is the inventory's (an
 * endpoint, a resolver, a file written by another tool), which restarting leakprofd, as a
 * liveness probe would, cannot fix: it is shown here, on the targets page and in the log. */
void health_reply(const struct health_input *in, struct web_reply *r);

#endif
