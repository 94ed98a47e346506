/* storage/fleet.h: the daemons sharing one database (table daemons).
 *
 * Each daemon runs one shard of shard.count (storage/store.h, store_set_shard()) and holds that
 * shard's row: it claims it at start, keeps it by a heartbeat every FLEET_HEARTBEAT_MS, and marks
 * it stopped when it stops. A row is taken over when its daemon stopped, when its heartbeat is
 * older than FLEET_LEASE_MS (killed, or cut off from the database for that long), or when its
 * daemon ran on this host and its process is gone (a restart right after a kill -9 need not wait
 * for the lease). Anything else is a second daemon for a shard already run, or one of another
 * shard.count, which would count the same services twice or leave some out: refused. A daemon
 * whose row another took (its heartbeat found the owner changed) stops writing: its commits fail
 * (store.c), and the daemon exits (daemon/membership.c). */
#ifndef FLEET_H
#define FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

#define FLEET_HEARTBEAT_MS 10000 /* between heartbeats */
#define FLEET_LEASE_MS 60000     /* a row unbeaten for this long can be taken */
#define FLEET_OWNER_LEN 32       /* hex digits of a daemon's run id */

/* This daemon, as its row says it. Strings borrowed. */
struct fleet_self {
	unsigned shard, shards;
	const char *owner; /* fleet_owner_new() */
	const char *host;
	int64_t pid;
	const char *listen;
	const char *version;
};

/* A new run id: FLEET_OWNER_LEN random hex digits into 'buf' (at least FLEET_OWNER_LEN + 1). */
void fleet_owner_new(char *buf);

/* Claim me->shard at 'now' (Unix ms). 0 claimed; 1 refused, with why in 'err' (the daemon that
 * holds the shard or runs another shard.count: its host, pid, listen address and last heartbeat);
 * -1 a database error (in 'err'). */
int fleet_claim(struct store *st, const struct fleet_self *me, int64_t now, char *err,
                size_t errlen);
/* Beat at 'now': 0 the row is still this daemon's; 1 another daemon took it (who, in 'err'); -1 a
 * database error (in 'err'; the row stays this daemon's until the lease runs out). */
int fleet_heartbeat(struct store *st, const struct fleet_self *me, int64_t now, char *err,
                    size_t errlen);
/* Mark the row stopped (a clean stop: another daemon may take the shard at once). 0, or -1. */
int fleet_release(struct store *st, const struct fleet_self *me, int64_t now);

/* A row of daemons, as the dashboard and API show it. */
struct fleet_daemon {
	unsigned shard, shards;
	char *host;
	int64_t pid;
	char *listen;
	char *version;
	int64_t started;     /* ms */
	int64_t heartbeat;   /* ms */
	int64_t stopped;     /* ms, 0: not stopped */
	int64_t scrape_mark; /* the newest scrape id its ingest committed */
	bool live;           /* not stopped, and beaten within the lease at 'now' */
};
/* Every row, by shard. 0 (*out caller's, free with fleet_list_free()), or -1 (logged). */
int fleet_list(struct store *st, int64_t now, struct fleet_daemon **out, size_t *n);
void fleet_list_free(struct fleet_daemon *d, size_t n);

#endif
