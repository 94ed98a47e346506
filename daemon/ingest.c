/* daemon/ingest.c: the ingest thread and its ordered queue (see ingest.h).
 *
 * DESIGN
 * ------
 *
 * One thread owns the read-write connection and is the database's only writer, so SQLite never
 * makes the main loop wait for a lock, a checkpoint's fsync or a full disk. The main loop queues
 * jobs (target registrations, the active set, finished scrapes, marks) at the tail of one list
 * under a mutex; the thread works on the head without unlinking it, outside the lock, and unlinks
 * it only once it is done, so the order of the queue is the order of the database: a target is
 * registered before its first scrape is stored, and a mark runs once everything before it is.
 *
 * The unit of work is the head job alone, or, when the head is a finished scrape, the run of
 * scrapes that starts there (at most batch_max): they are stored in one transaction, committed
 * once all are written or batch_ms have passed (the rest wait for the next unit). One commit per
 * batch writes each touched page once instead of once per scrape, which was most of what a scrape
 * cost. A registration, the active set or a mark ends a run, so the order holds across kinds. A
 * scrape the database rejects (a constraint: bad data, a target deleted under the daemon) rolls its
 * batch back: the scrapes before it are stored again as a batch, and it is given up alone, logged
 * with its target's URL. (A savepoint per scrape would undo it alone, but doubles the cost of every
 * scrape, for a failure that should never happen.) A refusal (full, locked, read-only, an I/O
 * error) rolls the whole unit back: it stays at the head, and nothing of it counts as stored.
 *
 * A unit the database refuses stays at the head and is retried every retry_ms; nothing behind it
 * is tried meanwhile (that would store out of order). Finished scrapes queue up behind it, but
 * only while the head has waited less than pending_ms and fewer than pending_max wait; newer ones
 * are dropped (the first drop logged, every one counted). The first refusal is logged with the
 * database's message and its wall time kept (ingest_queue_get(): /healthz says since when), and
 * the recovery with how many delayed scrapes were stored and how many were dropped. A lost
 * PostgreSQL connection is such a refusal: each retry connects again (storage/db_pg.c), so a
 * server restarted or reachable again is written to again without anyone's help.
 *
 * The queue lives in memory, so the bound is also what a kill -9 can lose: the scrapes queued,
 * the batch being written among them (a job leaves the queue only once its transaction has
 * committed): at most pending_max, finished within pending_ms of the oldest. A database taking
 * writes keeps it near one batch; the peaks (queued scrapes, wait from push to commit) are kept
 * for ingest_stats_take(), and the scrapes committed are counted (ingest_committed()).
 *
 * When the queue is empty the thread prunes old data in small steps (store_retention_step());
 * under load it still takes a step every second, sized to what was stored since the previous one,
 * so retention keeps up with ingest without holding it up for long. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/xalloc.h"
#include "daemon/ingest.h"
#include "storage/db.h"

#define RETENTION_BUDGET 20       /* scrapes rolled up per retention step, at least */
#define RETENTION_BUDGET_MAX 2000 /* and at most */
#define RETENTION_PAUSE_MS 60000  /* between retention passes */
#define RETENTION_BUSY_MS 1000    /* a busy queue still takes a retention step this often */
#define IDLE_WAKE_MS 1000         /* an idle thread looks at retention this often */

/* ---- Jobs ---- */

enum job_kind {
	JOB_REGISTER, /* store_target_upsert() of target 'id' */
	JOB_ACTIVE,   /* store_targets_set_active() for 'ids' */
	JOB_SCRAPE,   /* store_add_scrape() */
	JOB_MARK,     /* everything before it is stored: call fn(arg) */
};

struct job {
	struct job *next;
	enum job_kind kind;
	int64_t id;
	char *service, *base_url, *labels_json; /* JOB_REGISTER */
	int64_t *ids;                           /* JOB_ACTIVE */
	size_t nids;
	int64_t queued_ms; /* monotonic: when it was pushed */
	int64_t ts;        /* JOB_SCRAPE */
	uint32_t duration_ms;
	uint64_t bytes;
	char *status;
	bool detail;
	uint32_t consecutive_failures;
	bool new_connection;
	bool has_profile;
	struct profile profile;
	void (*fn)(void *arg); /* JOB_MARK */
	void *arg;
	bool stored; /* JOB_SCRAPE: committed (not rejected) */
};

/* A target as the thread knows it: its database id (0: not registered) and URL (for messages). */
struct target_ref {
	int64_t dbid;
	char *url;
};

struct ingest {
	pthread_t thread;
	bool running; /* the thread was started and not joined yet */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail; /* guarded by mu; the thread works on head without unlinking it */
	size_t nscrapes;         /* JOB_SCRAPE jobs queued */
	uint64_t dropped;        /* scrapes dropped since the queue last took one: dropping */
	uint64_t dropped_all;    /* scrapes dropped ever */
	struct ingest_stats stats;
	bool stop;
	int64_t stop_by_ms;                /* monotonic: a stop gives up on the queue then */
	atomic_bool failing;               /* the database refuses writes (for STATUS=) */
	int64_t failing_since_ms;          /* Unix ms: when it started refusing; guarded by mu */
	_Atomic int64_t raw_ms, rollup_ms; /* retention */
	_Atomic uint64_t committed;        /* scrapes committed since the start */
	size_t pending_max;
	int64_t pending_ms;
	int64_t retry_ms;
	int64_t stop_ms;
	size_t batch_max;
	int64_t batch_ms;
	char *db_path;

	/* owned by the thread (by the caller before it starts) */
	struct store *st;
	struct target_ref *targets; /* of each target id - 1 */
	size_t ntargets;
	struct job **batch; /* the jobs of the unit of work, batch_max of them at most */
	bool retention_more;
	int64_t retention_next_ms, retention_step_ms;
	uint64_t stored_since_step;
};

static void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->service);
	free(j->base_url);
	free(j->labels_json);
	free(j->ids);
	free(j->status);
	if (j->has_profile)
		profile_release(&j->profile);
	free(j);
}

/* Queue 'j' (steals it). A scrape is dropped at the bound (pending_max scrapes wait, or the
 * oldest job has waited pending_ms), and then until the queue is back under half of both, so that
 * a writer just keeping up with the bound does not flap between dropping and taking: false. */
static bool
ingest_push(struct ingest *in, struct job *j)
{
	j->queued_ms = clock_mono_ms();
	pthread_mutex_lock(&in->mu);
	if (j->kind == JOB_SCRAPE) {
		int64_t behind = in->head ? j->queued_ms - in->head->queued_ms : 0;
		size_t max = in->pending_max;
		int64_t max_ms = in->pending_ms;

		if (in->dropped > 0) {
			max = (max + 1) / 2;
			max_ms /= 2;
		}
		if (in->nscrapes >= max || behind >= max_ms) {
			if (in->dropped++ == 0)
				log_err("daemon: %zu scrapes wait to be stored in '%s', the oldest "
				        "job for %" PRId64
				        " s: dropping new ones until it catches up",
				        in->nscrapes, in->db_path, behind / 1000);
			in->dropped_all++;
			in->stats.dropped++;
			pthread_mutex_unlock(&in->mu);
			job_free(j);
			return false;
		}
		if (in->dropped > 0 && !atomic_load(&in->failing))
			log_notice("daemon: '%s' takes scrapes again: %" PRIu64 " were dropped",
			           in->db_path, in->dropped);
		in->dropped = 0;
		if (++in->nscrapes > in->stats.peak_scrapes)
			in->stats.peak_scrapes = in->nscrapes;
	}
	j->next = NULL;
	if (in->tail)
		in->tail->next = j;
	else
		in->head = j;
	in->tail = j;
	pthread_cond_signal(&in->cv);
	pthread_mutex_unlock(&in->mu);
	return true;
}

void
ingest_push_register(struct ingest *in, int64_t id, const char *service, const char *base_url,
                     const char *labels_json)
{
	struct job *j = xcalloc(1, sizeof(*j));

	*j = (struct job){
	    .kind = JOB_REGISTER,
	    .id = id,
	    .service = xstrdup(service),
	    .base_url = xstrdup(base_url),
	    .labels_json = xstrdup(labels_json),
	};
	ingest_push(in, j);
}

void
ingest_push_active(struct ingest *in, const int64_t *ids, size_t n)
{
	struct job *j = xcalloc(1, sizeof(*j));

	*j = (struct job){.kind = JOB_ACTIVE, .ids = xcalloc(n, sizeof(*ids)), .nids = n};
	if (n > 0)
		memcpy(j->ids, ids, n * sizeof(*ids));
	ingest_push(in, j);
}

bool
ingest_push_scrape(struct ingest *in, struct scrape_result *res)
{
	struct job *j = xcalloc(1, sizeof(*j));

	*j = (struct job){
	    .kind = JOB_SCRAPE,
	    .id = res->id,
	    .ts = res->start_ms,
	    .duration_ms = res->duration_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)res->duration_ms,
	    .bytes = res->bytes,
	    .status = xstrdup(res->status),
	    /* a leak profile fetch confirms leaks; it is no count sample */
	    .detail = res->detail || res->leak,
	    .consecutive_failures = res->consecutive_failures,
	    .new_connection = res->new_connection,
	};
	if (res->ok) {
		j->profile = res->profile;
		j->has_profile = true;
		res->profile = (struct profile){0};
	}
	return ingest_push(in, j);
}

void
ingest_push_mark(struct ingest *in, void (*fn)(void *arg), void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));

	*j = (struct job){.kind = JOB_MARK, .fn = fn, .arg = arg};
	ingest_push(in, j);
}

/* What the thread knows of target 'id' (> 0), growing the table as needed. */
static struct target_ref *
ingest_target(struct ingest *in, int64_t id)
{
	size_t i = (size_t)(id - 1);

	if (i >= in->ntargets) {
		size_t n = in->ntargets ? in->ntargets : 64;
		struct target_ref *v;

		while (n <= i)
			n *= 2;
		v = xrealloc(in->targets, n * sizeof(*v));
		memset(v + in->ntargets, 0, (n - in->ntargets) * sizeof(*v));
		in->targets = v;
		in->ntargets = n;
	}
	return &in->targets[i];
}

/* What the thread knows of scrape 'j''s target; NULL (logged) when it was never registered: the
 * scrape is given up. */
static struct target_ref *
ingest_scrape_target(struct ingest *in, struct job *j)
{
	struct target_ref *t = j->id > 0 ? ingest_target(in, j->id) : NULL;

	if (t == NULL || t->dbid <= 0) {
		log_err("daemon: a scrape of an unregistered target (id %" PRId64
		        ") was not stored",
		        j->id);
		return NULL;
	}
	return t;
}

/* Store scrape 'j' of target 't' (in the open batch, or alone): store_add_scrape()'s 0 stored, 1
 * rejected, -1 refused. */
static int
ingest_store_scrape(struct ingest *in, struct job *j, const struct target_ref *t)
{
	return store_add_scrape(
	    in->st, &(struct scrape_record){
	                .target_id = t->dbid,
	                .ts = j->ts,
	                .duration_ms = j->duration_ms,
	                .bytes = j->bytes,
	                .status = j->status,
	                .detail = j->detail,
	                .consecutive_failures = j->consecutive_failures,
	                .connection = j->new_connection ? LIFETIME_CONN_NEW : LIFETIME_CONN_REUSED,
	                .profile = j->has_profile ? &j->profile : NULL,
	            });
}

/* A rejected scrape is given up for good: the database would refuse it again. */
static void
ingest_reject(struct ingest *in, const struct job *j, const struct target_ref *t)
{
	log_err("daemon: the scrape of '%s' started at %" PRId64
	        " (Unix ms) was not stored: %s; the others are",
	        t->url, j->ts, store_errmsg(in->st));
}

/* Run one job other than a scrape. 0 done, -1 the database refused it: retry later. */
static int
ingest_run(struct ingest *in, struct job *j)
{
	struct target_ref *t;
	int64_t id, *ids;
	int r = 0;

	switch (j->kind) {
	case JOB_REGISTER:
		id = store_target_upsert(in->st, j->service, j->labels_json, j->base_url);
		if (id <= 0)
			return -1;
		t = ingest_target(in, j->id);
		t->dbid = id;
		free(t->url);
		t->url = xstrdup(j->base_url);
		return 0;
	case JOB_ACTIVE:
		ids = xcalloc(j->nids, sizeof(*ids));
		for (size_t i = 0; i < j->nids; i++)
			ids[i] = j->ids[i] > 0 ? ingest_target(in, j->ids[i])->dbid : 0;
		r = store_targets_set_active(in->st, ids, j->nids);
		free(ids);
		return r;
	case JOB_SCRAPE:
		t = ingest_scrape_target(in, j);
		if (t == NULL)
			return 0;
		r = ingest_store_scrape(in, j, t);
		if (r > 0)
			ingest_reject(in, j, t);
		j->stored = r == 0;
		return r < 0 ? -1 : 0;
	case JOB_MARK:
		j->fn(j->arg);
		return 0;
	}
	return 0;
}

/* The unit of work at the head of the queue, into in->batch: the head job alone, or the run of
 * finished scrapes or of registrations that starts at the head, batch_max at most. Under mu once
 * the thread runs (the tail's next pointer moves under it). Returns how many. */
static size_t
ingest_gather(struct ingest *in)
{
	struct job *j = in->head;
	size_t n = 0;

	in->batch[n++] = j;
	if (j->kind != JOB_SCRAPE && j->kind != JOB_REGISTER)
		return 1;
	for (j = j->next; j != NULL && j->kind == in->batch[0]->kind && n < in->batch_max;
	     j = j->next)
		in->batch[n++] = j;
	return n;
}

/* Do the unit of work in->batch[0..n). A run of scrapes is stored in one transaction until all
 * are written or batch_ms have passed (what is left waits for the next unit). When the database
 * rejects one, the batch is rolled back: the scrapes before it are stored again as a batch of
 * their own, and it heads the next unit, where it is given up alone (logged with its target's
 * URL). Sets *done to how many jobs from the head are finished (stored, or given up for good) and
 * *stored to how many of them were committed. 0, or -1 the database refused the unit: nothing of
 * it is stored, *done is 0, retry later. */
static int
ingest_work(struct ingest *in, size_t n, size_t *done, uint64_t *stored)
{
	int64_t until;
	size_t i;
	int r;

	*done = 0;
	*stored = 0;
	/* one job alone runs as it always has, in a transaction of its own (a batch_max of 1
	 * gives one transaction per scrape) */
	if (n == 1) {
		if (ingest_run(in, in->batch[0]) < 0)
			return -1;
		*done = 1;
		*stored = in->batch[0]->stored;
		return 0;
	}
	/* a run of registrations (a new target set: up to every target at start) goes in one
	 * transaction, all or nothing */
	if (in->batch[0]->kind == JOB_REGISTER) {
		if (store_batch_begin(in->st) < 0)
			return -1;
		for (i = 0; i < n; i++)
			if (ingest_run(in, in->batch[i]) < 0)
				return -1; /* rolled back */
		if (store_batch_commit(in->st) < 0)
			return -1;
		*done = n;
		return 0;
	}
again:
	until = clock_mono_ms() + in->batch_ms;
	*stored = 0;
	if (store_batch_begin(in->st) < 0)
		return -1;
	for (i = 0; i < n && (i == 0 || clock_mono_ms() < until); i++) {
		struct job *j = in->batch[i];
		const struct target_ref *t = ingest_scrape_target(in, j);

		j->stored = false;
		if (t == NULL)
			continue;
		r = ingest_store_scrape(in, j, t);
		if (r < 0)
			goto out_refused; /* rolled back */
		if (r > 0 && i == 0) {
			/* rolled back, and nothing before it */
			ingest_reject(in, j, t);
			*done = 1;
			*stored = 0;
			return 0;
		}
		if (r > 0) {
			n = i;
			goto again;
		}
		j->stored = true;
		++*stored;
	}
	if (store_batch_commit(in->st) < 0)
		goto out_refused;
	*done = i;
	return 0;

out_refused:
	for (size_t k = 0; k < n; k++)
		in->batch[k]->stored = false;
	*stored = 0;
	return -1;
}

/* Unlink the head 'j' (done) and free it. Under mu once the thread runs. */
static void
ingest_pop(struct ingest *in, struct job *j)
{
	in->head = j->next;
	if (in->head == NULL)
		in->tail = NULL;
	if (j->kind == JOB_SCRAPE) {
		int64_t waited = clock_mono_ms() - j->queued_ms;

		if (waited > in->stats.peak_wait_ms)
			in->stats.peak_wait_ms = waited;
		in->stats.stored += j->stored;
		in->nscrapes--;
	}
	job_free(j);
}

/* One retention step, when due: idle, or busy and a second has passed since the last one. */
static void
ingest_retention(struct ingest *in, bool idle)
{
	int64_t now = clock_mono_ms();
	uint64_t budget = in->stored_since_step * 2;
	int r;

	if (!in->retention_more && now < in->retention_next_ms)
		return;
	if (!idle && now - in->retention_step_ms < RETENTION_BUSY_MS)
		return;
	if (budget < RETENTION_BUDGET)
		budget = RETENTION_BUDGET;
	if (budget > RETENTION_BUDGET_MAX)
		budget = RETENTION_BUDGET_MAX;
	r = store_retention_step(in->st, clock_wall_ms(), atomic_load(&in->raw_ms),
	                         atomic_load(&in->rollup_ms), (unsigned)budget);
	in->retention_step_ms = clock_mono_ms();
	in->stored_since_step = 0;
	in->retention_more = r == 1;
	if (r != 1)
		in->retention_next_ms = in->retention_step_ms + RETENTION_PAUSE_MS;
}

static void
timespec_in(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static void *
ingest_main(void *arg)
{
	struct ingest *in = arg;
	struct timespec until;
	uint64_t stored_while_failing = 0, dropped_before = 0, stored_at_stop = 0;

	pthread_mutex_lock(&in->mu);
	for (;;) {
		bool failing = atomic_load(&in->failing), stopping;
		size_t n, done;
		uint64_t stored;
		int r;

		if (in->head == NULL) {
			if (in->stop)
				break;
			if (failing) {
				/* nothing left to retry: the database took everything */
				atomic_store(&in->failing, false);
				in->failing_since_ms = 0;
				continue;
			}
			pthread_mutex_unlock(&in->mu);
			ingest_retention(in, true);
			pthread_mutex_lock(&in->mu);
			if (in->head == NULL && !in->stop) {
				timespec_in(&until, in->retention_more ? 0 : IDLE_WAKE_MS);
				pthread_cond_timedwait(&in->cv, &in->mu, &until);
			}
			continue;
		}
		/* a stop gives the queue stop_ms, and a database that refuses writes no more try */
		if (in->stop && (failing || clock_mono_ms() >= in->stop_by_ms)) {
			log_err("daemon: stopping with %zu finished scrapes not stored in '%s': %s",
			        in->nscrapes, in->db_path,
			        failing ? "it refuses writes"
			                : "the writer is too far behind to store them in time");
			break;
		}
		n = ingest_gather(in);
		stopping = in->stop;
		pthread_mutex_unlock(&in->mu);
		r = ingest_work(in, n, &done, &stored);
		if (r == 0) {
			/* committed: acknowledged from here on */
			atomic_fetch_add(&in->committed, stored);
			in->stored_since_step += stored;
		}
		/* a stop stores the queue and nothing more: retention can wait */
		if (r == 0 && !failing && !stopping)
			ingest_retention(in, false);
		pthread_mutex_lock(&in->mu);
		if (r == 0) {
			if (in->head->kind == JOB_SCRAPE) {
				stored_while_failing += failing ? stored : 0;
				stored_at_stop += in->stop ? stored : 0;
			}
			while (done-- > 0)
				ingest_pop(in, in->head);
			if (failing && in->head == NULL) {
				log_notice(
				    "daemon: database '%s' takes writes again: stored %" PRIu64
				    " delayed scrapes, dropped %" PRIu64,
				    in->db_path, stored_while_failing,
				    in->dropped_all - dropped_before);
				atomic_store(&in->failing, false);
				in->failing_since_ms = 0;
				in->dropped = 0; /* told here */
				stored_while_failing = 0;
			}
			continue;
		}
		if (!failing) {
			in->failing_since_ms = clock_wall_ms();
			log_err(
			    "daemon: cannot write to database '%s': %s; scraping goes on, finished "
			    "scrapes wait in memory (at most %zu, for %" PRId64
			    " s), retrying every %" PRId64 " s",
			    in->db_path, store_errmsg(in->st), in->pending_max,
			    in->pending_ms / 1000, in->retry_ms / 1000);
			atomic_store(&in->failing, true);
			stored_while_failing = 0;
			dropped_before = in->dropped_all;
		}
		timespec_in(&until, in->retry_ms);
		while (!in->stop && pthread_cond_timedwait(&in->cv, &in->mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&in->mu);
	if (stored_at_stop > 0)
		log_info("daemon: stored %" PRIu64 " finished scrapes that were queued at the stop",
		         stored_at_stop);
	return NULL;
}

struct ingest *
ingest_new(struct store *st, const struct ingest_options *opt)
{
	struct ingest *in = xcalloc(1, sizeof(*in));
	pthread_condattr_t ca;

	in->st = st;
	in->db_path = db_target_shown(opt->db_path); /* in messages: no password */
	in->stop_ms = opt->stop_ms ? opt->stop_ms : INGEST_STOP_MS;
	in->retry_ms = opt->retry_ms ? opt->retry_ms : INGEST_RETRY_MS;
	in->batch_max = opt->batch_max ? opt->batch_max : INGEST_BATCH_MAX;
	in->batch_ms = opt->batch_ms ? opt->batch_ms : INGEST_BATCH_MS;
	in->batch = xcalloc(in->batch_max, sizeof(*in->batch));
	atomic_init(&in->committed, 0);
	atomic_init(&in->failing, false);
	atomic_init(&in->raw_ms, opt->retention_raw_ms);
	atomic_init(&in->rollup_ms, opt->retention_rollup_ms);
	pthread_mutex_init(&in->mu, NULL);
	ingest_set_buffer(in, opt->pending_max, opt->pending_ms);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&in->cv, &ca);
	pthread_condattr_destroy(&ca);
	return in;
}

void
ingest_set_retention(struct ingest *in, int64_t raw_ms, int64_t rollup_ms)
{
	atomic_store(&in->raw_ms, raw_ms);
	atomic_store(&in->rollup_ms, rollup_ms);
}

void
ingest_set_buffer(struct ingest *in, size_t pending_max, int64_t pending_ms)
{
	pthread_mutex_lock(&in->mu);
	in->pending_max = pending_max ? pending_max : INGEST_PENDING_MAX;
	in->pending_ms = pending_ms ? pending_ms : INGEST_PENDING_MS;
	pthread_mutex_unlock(&in->mu);
}

int
ingest_start(struct ingest *in)
{
	int r = pthread_create(&in->thread, NULL, ingest_main, in);

	if (r != 0) {
		log_err("daemon: cannot start the ingest thread: %s", strerror(r));
		return -1;
	}
	in->running = true;
	return 0;
}

void
ingest_run_queued(struct ingest *in)
{
	while (in->head != NULL) {
		size_t done;
		uint64_t stored;

		if (ingest_work(in, ingest_gather(in), &done, &stored) != 0) {
			log_err("daemon: cannot write to database '%s': %s; retrying every %" PRId64
			        " s",
			        in->db_path, store_errmsg(in->st), in->retry_ms / 1000);
			return;
		}
		atomic_fetch_add(&in->committed, stored);
		while (done-- > 0)
			ingest_pop(in, in->head);
	}
}

uint64_t
ingest_committed(struct ingest *in)
{
	return atomic_load(&in->committed);
}

bool
ingest_failing(struct ingest *in)
{
	return atomic_load(&in->failing);
}

void
ingest_queue_get(struct ingest *in, struct ingest_queue *out)
{
	pthread_mutex_lock(&in->mu);
	*out = (struct ingest_queue){
	    .scrapes = in->nscrapes,
	    .max_scrapes = in->pending_max,
	    .max_ms = in->pending_ms,
	    .dropped = in->dropped_all,
	    .refused_since_ms = atomic_load(&in->failing) ? in->failing_since_ms : 0,
	};
	pthread_mutex_unlock(&in->mu);
}

void
ingest_stats_take(struct ingest *in, struct ingest_stats *out)
{
	pthread_mutex_lock(&in->mu);
	*out = in->stats;
	in->stats = (struct ingest_stats){.peak_scrapes = in->nscrapes};
	pthread_mutex_unlock(&in->mu);
}

void
ingest_stop(struct ingest *in)
{
	struct job *j;

	if (in->running) {
		pthread_mutex_lock(&in->mu);
		in->stop = true;
		in->stop_by_ms = clock_mono_ms() + in->stop_ms;
		pthread_cond_signal(&in->cv);
		pthread_mutex_unlock(&in->mu);
		pthread_join(in->thread, NULL);
		in->running = false;
	}
	while ((j = in->head) != NULL) {
		in->head = j->next;
		job_free(j);
	}
	in->tail = NULL;
	in->nscrapes = 0;
}

void
ingest_free(struct ingest *in)
{
	if (in == NULL)
		return;
	ingest_stop(in);
	store_free(in->st);
	for (size_t i = 0; i < in->ntargets; i++)
		free(in->targets[i].url);
	free(in->targets);
	free(in->batch);
	free(in->db_path);
	pthread_cond_destroy(&in->cv);
	pthread_mutex_destroy(&in->mu);
	free(in);
}
