/* storage/fleet.c: the daemons sharing one database. See fleet.h.
 *
 * A claim reads the shard's row, decides in C whether it may be taken, and takes it with an
 * UPDATE conditioned on the row being as read (owner and heartbeat), or inserts it ON CONFLICT DO
 * NOTHING: two daemons claiming at once cannot both win, whichever database, and the loser reads
 * again. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/xalloc.h"
#include "storage/fleet.h"
#include "storage/store_internal.h"

#define CLAIM_TRIES 5 /* reads and writes of a row other claimers keep changing */

void
fleet_owner_new(char *buf)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[FLEET_OWNER_LEN / 2];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* no entropy source: time and pid still tell runs apart */
			uint64_t x =
			    (uint64_t)clock() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);

			for (; got < sizeof(raw); got++, x = x * 6364136223846793005ULL + 1)
				raw[got] = (unsigned char)(x >> 56);
			break;
		}
		got += (size_t)r;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		buf[2 * i] = hex[raw[i] >> 4];
		buf[2 * i + 1] = hex[raw[i] & 15];
	}
	buf[FLEET_OWNER_LEN] = '\0';
}

/* A row as a claim reads it. */
struct row {
	bool found;
	unsigned shards;
	char owner[FLEET_OWNER_LEN + 1];
	char host[256];
	int64_t pid;
	char listen[256];
	int64_t heartbeat;
	int64_t stopped; /* 0: running */
};

#define ROW_COLUMNS "shard, shards, owner, host, pid, listen, heartbeat, coalesce(stopped, 0)"

static void
row_from(struct db_stmt *stmt, struct row *r)
{
	const char *s;

	memset(r, 0, sizeof(*r));
	r->found = true;
	r->shards = (unsigned)db_column_int64(stmt, 1);
	s = db_column_text(stmt, 2);
	snprintf(r->owner, sizeof(r->owner), "%s", s ? s : "");
	s = db_column_text(stmt, 3);
	snprintf(r->host, sizeof(r->host), "%s", s ? s : "");
	r->pid = db_column_int64(stmt, 4);
	s = db_column_text(stmt, 5);
	snprintf(r->listen, sizeof(r->listen), "%s", s ? s : "");
	r->heartbeat = db_column_int64(stmt, 6);
	r->stopped = db_column_int64(stmt, 7);
}

/* Whether the daemon of row 'r' may still be running, seen from 'me' at 'now'. */
static bool
row_live(const struct row *r, const struct fleet_self *me, int64_t now)
{
	if (r->stopped != 0 || r->heartbeat < now - FLEET_LEASE_MS)
		return false;
	if (strcmp(r->owner, me->owner) == 0)
		return false; /* this very run */
	/* on this host a gone process says more than its last heartbeat */
	if (strcmp(r->host, me->host) == 0 && r->pid > 0 && r->pid <= INT32_MAX &&
	    kill((pid_t)r->pid, 0) != 0 && errno == ESRCH)
		return false;
	return true;
}

static void
describe(const struct row *r, unsigned shard, int64_t now, char *err, size_t errlen,
         const char *what)
{
	snprintf(err, errlen,
	         "%s: shard %u of %u is run by the daemon on host '%s' (pid %" PRId64
	         ", listening on %s), whose last heartbeat was %" PRId64
	         " s ago; a shard is taken over once its daemon stops or has not beaten for %d s",
	         what, shard, r->shards, r->host, r->pid, r->listen, (now - r->heartbeat) / 1000,
	         FLEET_LEASE_MS / 1000);
}

static int
db_fail(struct store *st, char *err, size_t errlen, const char *what)
{
	store_log_db(st, what);
	snprintf(err, errlen, "%s: %s", what, store_errmsg(st));
	return -1;
}

/* Read the row of 'shard' into 'r' (r->found false: none). 0, or -1. */
static int
read_row(struct store *st, unsigned shard, struct row *r, char *err, size_t errlen)
{
	struct db_stmt *stmt =
	    store_prepare(st, "SELECT " ROW_COLUMNS " FROM daemons WHERE shard = ?1");
	int rc;

	memset(r, 0, sizeof(*r));
	if (stmt == NULL)
		return db_fail(st, err, errlen, "reading the daemons");
	db_bind_int64(stmt, 1, shard);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		row_from(stmt, r);
	store_stmt_done(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return db_fail(st, err, errlen, "reading the daemons");
	return 0;
}

/* A live daemon of another shard.count: 1 (described in 'err'), 0 none, -1 error. */
static int
other_count(struct store *st, const struct fleet_self *me, int64_t now, char *err, size_t errlen)
{
	struct db_stmt *stmt =
	    store_prepare(st, "SELECT " ROW_COLUMNS " FROM daemons WHERE shards <> ?1"
	                      " AND stopped IS NULL AND heartbeat >= ?2 ORDER BY shard");
	int rc, found = 0;
	struct row r;

	if (stmt == NULL)
		return db_fail(st, err, errlen, "reading the daemons");
	db_bind_int64(stmt, 1, me->shards);
	db_bind_int64(stmt, 2, now - FLEET_LEASE_MS);
	while (!found && (rc = db_step(stmt)) == DB_ROW) {
		unsigned shard = (unsigned)db_column_int64(stmt, 0);

		row_from(stmt, &r);
		if (!row_live(&r, me, now))
			continue;
		snprintf(err, errlen,
		         "shard.count is %u here, but the daemon on host '%s' (pid %" PRId64
		         ", listening on %s) runs shard %u of %u on this database: every daemon "
		         "sharing a database needs the same shard.count",
		         me->shards, r.host, r.pid, r.listen, shard, r.shards);
		found = 1;
	}
	store_stmt_done(stmt);
	if (!found && rc != DB_DONE)
		return db_fail(st, err, errlen, "reading the daemons");
	return found;
}

static void
bind_self(struct db_stmt *stmt, const struct fleet_self *me, int64_t now)
{
	db_bind_int64(stmt, 1, me->shard);
	db_bind_int64(stmt, 2, me->shards);
	db_bind_text(stmt, 3, me->owner);
	db_bind_text(stmt, 4, me->host);
	db_bind_int64(stmt, 5, me->pid);
	db_bind_text(stmt, 6, me->listen);
	db_bind_text(stmt, 7, me->version);
	db_bind_int64(stmt, 8, now);
}

int
fleet_claim(struct store *st, const struct fleet_self *me, int64_t now, char *err, size_t errlen)
{
	for (int tries = 0; tries < CLAIM_TRIES; tries++) {
		struct db_stmt *stmt;
		struct row r;
		int rc;

		rc = other_count(st, me, now, err, errlen);
		if (rc != 0)
			return rc;
		if (read_row(st, me->shard, &r, err, errlen) < 0)
			return -1;
		if (r.found && row_live(&r, me, now)) {
			describe(&r, me->shard, now, err, errlen, "another daemon runs this shard");
			return 1;
		}
		if (!r.found) {
			stmt = store_prepare(
			    st,
			    "INSERT INTO daemons (shard, shards, owner, host, pid, listen, version,"
			    " started, heartbeat) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)"
			    " ON CONFLICT (shard) DO NOTHING");
		} else {
			/* only the row as read: another claimer that wrote it first wins */
			stmt = store_prepare(
			    st, "UPDATE daemons SET shards = ?2, owner = ?3, host = ?4, pid = ?5,"
			        " listen = ?6, version = ?7, started = ?8, heartbeat = ?8, stopped "
			        "= NULL"
			        " WHERE shard = ?1 AND owner = ?9 AND heartbeat = ?10");
		}
		if (stmt == NULL)
			return db_fail(st, err, errlen, "claiming the shard");
		bind_self(stmt, me, now);
		if (r.found) {
			db_bind_text(stmt, 9, r.owner);
			db_bind_int64(stmt, 10, r.heartbeat);
		}
		if (store_step_write(st, stmt, "claiming the shard") != 0)
			return db_fail(st, err, errlen, "claiming the shard");
		if (db_changes(store_dbh(st)) == 1)
			return 0;
	}
	snprintf(err, errlen, "claiming shard %u: other daemons kept changing its row", me->shard);
	return 1;
}

int
fleet_heartbeat(struct store *st, const struct fleet_self *me, int64_t now, char *err,
                size_t errlen)
{
	struct db_stmt *stmt =
	    store_prepare(st, "UPDATE daemons SET heartbeat = ?3 WHERE shard = ?1 AND owner = ?2");
	struct row r;

	if (stmt == NULL)
		return db_fail(st, err, errlen, "beating");
	db_bind_int64(stmt, 1, me->shard);
	db_bind_text(stmt, 2, me->owner);
	db_bind_int64(stmt, 3, now);
	if (store_step_write(st, stmt, "beating") != 0)
		return db_fail(st, err, errlen, "beating");
	if (db_changes(store_dbh(st)) == 1)
		return 0;
	if (read_row(st, me->shard, &r, err, errlen) < 0)
		return -1;
	if (!r.found) {
		snprintf(err, errlen, "shard %u: its row was deleted", me->shard);
		return 1;
	}
	describe(&r, me->shard, now, err, errlen, "another daemon took this shard");
	return 1;
}

int
fleet_release(struct store *st, const struct fleet_self *me, int64_t now)
{
	struct db_stmt *stmt = store_prepare(
	    st, "UPDATE daemons SET stopped = ?3, heartbeat = ?3 WHERE shard = ?1 AND owner = ?2");

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, me->shard);
	db_bind_text(stmt, 2, me->owner);
	db_bind_int64(stmt, 3, now);
	return store_step_write(st, stmt, "marking the daemon stopped");
}

int
fleet_list(struct store *st, int64_t now, struct fleet_daemon **out, size_t *n)
{
	struct db_stmt *stmt = store_prepare(
	    st, "SELECT shard, shards, host, pid, listen, version, started, heartbeat,"
	        " coalesce(stopped, 0), scrape_mark FROM daemons ORDER BY shard");
	struct fleet_daemon *d = NULL;
	size_t cap = 0, count = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (stmt == NULL)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		struct fleet_daemon *x;

		if (count == cap) {
			cap = cap ? cap * 2 : 8;
			d = xrealloc(d, cap * sizeof(*d));
		}
		x = &d[count++];
		x->shard = (unsigned)db_column_int64(stmt, 0);
		x->shards = (unsigned)db_column_int64(stmt, 1);
		x->host = store_column_strdup(stmt, 2, true);
		x->pid = db_column_int64(stmt, 3);
		x->listen = store_column_strdup(stmt, 4, true);
		x->version = store_column_strdup(stmt, 5, true);
		x->started = db_column_int64(stmt, 6);
		x->heartbeat = db_column_int64(stmt, 7);
		x->stopped = db_column_int64(stmt, 8);
		x->scrape_mark = db_column_int64(stmt, 9);
		x->live = x->stopped == 0 && x->heartbeat >= now - FLEET_LEASE_MS;
	}
	store_stmt_done(stmt);
	if (rc != DB_DONE) {
		store_log_db(st, "listing the daemons");
		fleet_list_free(d, count);
		return -1;
	}
	*out = d;
	*n = count;
	return 0;
}

void
fleet_list_free(struct fleet_daemon *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].host);
		free(d[i].listen);
		free(d[i].version);
	}
	free(d);
}
