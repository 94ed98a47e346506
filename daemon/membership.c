/* daemon/membership.c: this daemon's shard claim and heartbeat. See membership.h. */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "daemon/membership.h"
#include "storage/db.h"
#include "storage/fleet.h"
#include "storage/store.h"

struct membership {
	struct store *st;
	struct fleet_self self;
	char owner[FLEET_OWNER_LEN + 1];
	char host[256];
	char *listen;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop; /* under mu */
	atomic_bool lost;
};

static void *
beat_main(void *arg)
{
	struct membership *m = arg;
	bool failing = false;

	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		struct timespec until;
		int64_t at = clock_mono_ms() + FLEET_HEARTBEAT_MS;
		char err[768];
		int r;

		until.tv_sec = at / 1000;
		until.tv_nsec = (at % 1000) * 1000000;
		while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &until) == 0)
			;
		if (m->stop)
			break;
		pthread_mutex_unlock(&m->mu);
		r = fleet_heartbeat(m->st, &m->self, clock_wall_ms(), err, sizeof(err));
		pthread_mutex_lock(&m->mu);
		if (r == 1) {
			log_err("daemon: %s: this daemon stops writing and exits", err);
			atomic_store(&m->lost, true);
			break;
		}
		if (r < 0 && !failing)
			log_warn(
			    "daemon: cannot renew this daemon's claim on shard %u: %s; the claim "
			    "holds %d s without one",
			    m->self.shard, err, FLEET_LEASE_MS / 1000);
		else if (r == 0 && failing)
			log_notice("daemon: the claim on shard %u is renewed", m->self.shard);
		failing = r < 0;
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

struct membership *
membership_start(const struct config *cfg)
{
	struct membership *m = xcalloc(1, sizeof(*m));
	pthread_condattr_t ca;
	sigset_t all, old;
	char err[768];
	int r;

	m->st = store_open(cfg->database, 0);
	if (m->st == NULL) {
		free(m);
		return NULL; /* logged by store_open */
	}
	fleet_owner_new(m->owner);
	if (gethostname(m->host, sizeof(m->host) - 1) != 0)
		snprintf(m->host, sizeof(m->host), "unknown");
	m->listen = xstrdup(cfg->listen);
	m->self = (struct fleet_self){
	    .shard = cfg->shard_index, /* less than shard_count, at least 1: config.c */
	    .shards = cfg->shard_count,
	    .owner = m->owner,
	    .host = m->host,
	    .pid = (int64_t)getpid(),
	    .listen = m->listen,
	    .version = LEAKPROFD_VERSION,
	};
	r = fleet_claim(m->st, &m->self, clock_wall_ms(), err, sizeof(err));
	if (r != 0) {
		char *shown = db_target_shown(cfg->database);

		log_err("daemon: database '%s': %s", shown, err);
		free(shown);
		store_free(m->st);
		free(m->listen);
		free(m);
		return NULL;
	}
	if (m->self.shards > 1)
		log_info("daemon: running shard %u of %u", m->self.shard, m->self.shards);
	atomic_init(&m->lost, false);
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* Signals belong to the main loop's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = pthread_create(&m->thread, NULL, beat_main, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		log_err("daemon: cannot start the heartbeat thread: %s", strerror(r));
		(void)fleet_release(m->st, &m->self, clock_wall_ms());
		pthread_cond_destroy(&m->cv);
		pthread_mutex_destroy(&m->mu);
		store_free(m->st);
		free(m->listen);
		free(m);
		return NULL;
	}
	return m;
}

const char *
membership_owner(const struct membership *m)
{
	return m->owner;
}

bool
membership_lost(struct membership *m)
{
	return atomic_load(&m->lost);
}

void
membership_stop(struct membership *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	m->stop = true;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->thread, NULL);
	if (!atomic_load(&m->lost) && fleet_release(m->st, &m->self, clock_wall_ms()) != 0)
		log_warn("daemon: cannot mark shard %u free (another daemon takes it after %d s)",
		         m->self.shard, FLEET_LEASE_MS / 1000);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	store_free(m->st);
	free(m->listen);
	free(m);
}
