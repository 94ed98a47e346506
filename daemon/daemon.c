/* daemon/daemon.c: `leakprofd run`: the daemon's main loop.
 *
 * The main thread owns the scraper: it drives scrape_poll() with a bounded timeout, hands every
 * finished scrape to the ingest thread (daemon/ingest.c), reloads on SIGHUP and stops on
 * SIGTERM/SIGINT, all read from a signalfd between polls (signals are blocked in every thread, so no
 * work ever happens in a handler). What it scrapes comes from the configuration and its target
 * files through the registry of daemon/targetset.c. The ingest thread is the database's one writer;
 * once a scrape round is stored, the detector thread ranks on its own connection and kicks the
 * alerter; the web server and the alerter run their own threads too. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "collector/scrape.h"
#include "collector/targets.h"
#include "detect/alert.h"
#include "daemon/cmd.h"
#include "base/config.h"
#include "base/units.h"
#include "detect/detect.h"
#include "base/log.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "daemon/ingest.h"
#include "daemon/sdnotify.h"
#include "daemon/targetset.h"
#include "storage/store.h"
#include "web/server.h"

#define TARGET_FILES_CHECK_MS   5000    /* re-read changed target files this often */
#define POLL_MAX_MS             1000    /* the loop wakes at least this often (heartbeat, status) */
#define STATUS_EVERY_MS         1000    /* STATUS= is refreshed this often */

/* ---- Command line ---- */

struct run_opts {
	const char *config_path;        /* NULL: the embedded default */
	const char **targets;           /* --target URL, in order */
	size_t ntargets;
	const char *log_level;
	const char *interval;           /* --interval DUR: overrides scrape_interval */
	const char *listen;             /* --listen ADDR */
	const char *database;           /* --database FILE */
};

static void
run_usage(FILE *f)
{
	fprintf(f, "usage: leakprofd run [--config FILE] [--target URL]... [--log-level LEVEL]\n"
	    "                     [--interval DUR] [--listen HOST:PORT] [--database FILE]\n"
	    "  --config FILE      configuration (YAML or JSON); default: the embedded one (listen 127.0.0.1:8080,\n"
	    "                     database ./leakprofd.db, no targets)\n"
	    "  --target URL       scrape URL too (service \"cli\"); repeatable\n"
	    "  --log-level LEVEL  error, warning, notice, info or debug; overrides log_level\n"
	    "  --interval DUR     overrides scrape_interval (e.g. 5s)\n"
	    "  --listen ADDR      overrides listen\n"
	    "  --database FILE    overrides database\n"
	    "Signals: SIGHUP reloads the configuration and target files, SIGTERM/SIGINT stop.\n");
}

/* ---- The detector thread ---- */

#define DETECT_PACE_MIN_MS      1000    /* rankings faster than this run after every round */
#define DETECT_PACE_FACTOR      4       /* else rest this many times as long as the last one took */

/* A config shared between the main loop and the detector thread: freed by whoever drops the last reference. */
struct cfgref {
	struct config *cfg;
	atomic_int refs;
};

static struct cfgref *
cfgref_new(struct config *cfg)
{
	struct cfgref *r = xcalloc(1, sizeof(*r));

	r->cfg = cfg;
	atomic_init(&r->refs, 1);
	return r;
}

static void
cfgref_put(struct cfgref *r)
{
	if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
		config_unref(r->cfg);
		free(r);
	}
}

struct detector {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool kicked, stop;
	struct cfgref *cfg;             /* guarded by mu */
	struct store *st;               /* the thread's own connection */
	struct alerter *alert;
};

static void *
detector_main(void *arg)
{
	struct detector *d = arg;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		struct cfgref *cfg;
		int64_t started, took;
		int r;

		while (!d->kicked && !d->stop)
			pthread_cond_wait(&d->cv, &d->mu);
		if (d->stop)
			break;
		d->kicked = false;
		cfg = d->cfg;
		atomic_fetch_add(&cfg->refs, 1);
		pthread_mutex_unlock(&d->mu);

		started = clock_mono_ms();
		r = detect_run(d->st, cfg->cfg, clock_wall_ms());
		took = clock_mono_ms() - started;
		if (r == 0)
			alert_kick(d->alert);
		cfgref_put(cfg);

		pthread_mutex_lock(&d->mu);
		/* Ranking a large fleet reads its whole window (minutes for 10,000 targets over 6 h): rest four times
		 * as long as a slow run took, so the detector stays under a fifth of a core and rounds finished
		 * meanwhile are ranked together. A fleet ranked within a second is ranked every round. */
		if (took > DETECT_PACE_MIN_MS) {
			int64_t until = clock_wall_ms() + DETECT_PACE_FACTOR * took;
			struct timespec ts = { .tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000 };

			log_info("detect: ranking took %" PRId64 " ms; next ranking in %" PRId64 " s at the earliest",
			    took, DETECT_PACE_FACTOR * took / 1000);
			while (!d->stop && pthread_cond_timedwait(&d->cv, &d->mu, &ts) != ETIMEDOUT)
				;
		}
	}
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

static void
detector_kick(struct detector *d)
{
	pthread_mutex_lock(&d->mu);
	d->kicked = true;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

static void
detector_set_config(struct detector *d, struct cfgref *cfg)
{
	struct cfgref *old;

	atomic_fetch_add(&cfg->refs, 1);
	pthread_mutex_lock(&d->mu);
	old = d->cfg;
	d->cfg = cfg;
	pthread_mutex_unlock(&d->mu);
	cfgref_put(old);
}

/* ---- The daemon ---- */

struct daemon {
	const struct run_opts *opts;
	struct cfgref *cfg;
	struct scraper *sc;
	struct targets_sd *sd;          /* NULL without target_files */
	struct targetset *ts;           /* every target seen, and the current set with its round */
	struct web *web;
	struct alerter *alert;
	struct detector det;
	struct ingest *in;
	int sigfd;

	bool new_data;                  /* an ok scrape since the last ranking */
	int64_t last_rank_ms;           /* monotonic */
	int64_t sd_next_ms;
	uint64_t max_lag_ms;            /* worst scrape lag of the round */
	int64_t status_ms;              /* monotonic: the last STATUS= update */
};

static void
on_scrape(void *arg, struct scrape_result *res)
{
	struct daemon *d = arg;
	struct targetset_target t;

	if (!targetset_get(d->ts, res->id, &t))
		return;
	if (res->lag_ms > d->max_lag_ms)
		d->max_lag_ms = res->lag_ms;
	if (!res->detail) {
		unsigned before = targetset_note_scrape(d->ts, res->id, res->consecutive_failures);

		if (!res->ok && res->consecutive_failures == 1)
			log_warn("scrape: '%s': %s", res->url, res->status);
		else if (!res->ok)
			log_debug("scrape: '%s': %s (%u failures in a row)", res->url, res->status,
			    res->consecutive_failures);
		else if (before > 0)
			log_notice("scrape: '%s': ok again after %u failures", res->url, before);
	} else if (!res->ok) {
		log_info("scrape: '%s': detail scrape: %s", res->url, res->status);
	}
	if (res->ok)
		d->new_data = true;
	ingest_push_scrape(d->in, res);
}

/* ---- Configuration ---- */

/* Load the configuration (file or embedded) and apply the command line on top. NULL on error (every problem
 * logged). */
static struct config *
load_config(const struct run_opts *o)
{
	struct config_errors errs = { 0 };
	struct config *cfg;
	uint64_t secs;

	cfg = o->config_path ? config_load(o->config_path, &errs) : config_default();
	if (cfg == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			log_err("config: %s", errs.msgs[i]);
		if (errs.n == 0)
			log_err("config: '%s': cannot load: out of memory", o->config_path ? o->config_path :
			    "(default)");
		config_errors_release(&errs);
		return NULL;
	}
	for (size_t i = 0; i < o->ntargets; i++) {
		if (config_add_target(cfg, o->targets[i], &errs) != 0) {
			for (size_t j = 0; j < errs.n; j++)
				log_err("config: %s", errs.msgs[j]);
			config_errors_release(&errs);
			config_unref(cfg);
			return NULL;
		}
	}
	if (o->interval) {
		if (units_parse_duration(o->interval, &secs) != 0 || secs == 0) {
			log_err("config: --interval: '%s' is not a duration like 5s, 1m", o->interval);
			config_unref(cfg);
			return NULL;
		}
		cfg->scrape_interval = secs;
		if (cfg->scrape_timeout > secs)
			cfg->scrape_timeout = secs;
	}
	if (o->listen) {
		free(cfg->listen);
		cfg->listen = xstrdup(o->listen);
	}
	if (o->database) {
		free(cfg->database);
		cfg->database = xstrdup(o->database);
	}
	return cfg;
}

static int
apply_log_level(const struct run_opts *o, const struct config *cfg)
{
	const char *name = o->log_level ? o->log_level : cfg->log_level;
	enum log_level lvl;

	if (name == NULL)
		return 0;
	if (log_level_parse(name, &lvl) != 0) {
		log_err("config: %s: unknown log level '%s' (error, warning, notice, info, debug)",
		    o->log_level ? "--log-level" : cfg->source, name);
		return -1;
	}
	log_set_level(lvl);
	return 0;
}

/* Open the target files of 'cfg' and read them. NULL when there are none; *failed set when any is broken
 * (every problem logged). */
static struct targets_sd *
sd_open(const struct config *cfg, bool *failed)
{
	struct targets_sd *sd;
	struct targets_errors errs = { 0 };
	bool changed;

	*failed = false;
	if (cfg->ntarget_files == 0)
		return NULL;
	sd = targets_sd_new((const char *const *)cfg->target_files, cfg->ntarget_files);
	if (sd == NULL) {
		log_err("daemon: out of memory");
		abort();
	}
	if (targets_sd_refresh(sd, &changed, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			log_err("targets: %s", errs.msgs[i]);
		*failed = true;
	}
	targets_errors_release(&errs);
	return sd;
}

/* Hand the plan's targets to the scraper and make it the current set; queue the registrations of
 * its new and relabelled targets (one queue: they reach the database before any scrape of them) and
 * the active set. 0, or -1 (logged; the scraper keeps its old set). */
static int
set_targets(struct daemon *d, struct targetset_plan *plan)
{
	const struct scrape_target *t;
	struct targetset_diff diff;
	char err[512];
	size_t n;

	t = targetset_plan_targets(plan, &n);
	if (scrape_set_targets(d->sc, t, n, err, sizeof(err)) != 0) {
		log_err("scrape: cannot apply the target set: %s", err);
		return -1;
	}
	targetset_apply(d->ts, plan, &diff);
	for (size_t i = 0; i < diff.nchanged; i++) {
		struct targetset_target tt;

		if (targetset_get(d->ts, diff.changed[i], &tt))
			ingest_push_register(d->in, tt.id, tt.service, tt.base_url, tt.labels_json);
	}
	ingest_push_active(d->in, diff.active, diff.nactive);
	targetset_diff_release(&diff);
	return 0;
}

static void
reload(struct daemon *d)
{
	struct config *ncfg;
	struct targets_sd *nsd;
	struct targetset_plan *plan;
	struct cfgref *ref;
	bool sd_failed;
	const struct config *old;
	int r;

	sdnotify_reloading();
	log_notice("daemon: SIGHUP: reloading '%s'", d->opts->config_path ? d->opts->config_path : "(default)");
	ncfg = load_config(d->opts);
	if (ncfg == NULL)
		goto out_keep;
	if (apply_log_level(d->opts, ncfg) != 0)
		goto out_free_cfg;
	nsd = sd_open(ncfg, &sd_failed);
	if (sd_failed)
		goto out_free_sd;
	plan = targetset_build(d->ts, ncfg, nsd);
	if (plan == NULL)
		goto out_free_sd;
	r = set_targets(d, plan);
	targetset_plan_free(plan);
	if (r != 0)
		goto out_free_sd;

	old = d->cfg->cfg;
	if (strcmp(old->database, ncfg->database) != 0) {
		log_warn("daemon: database changed from '%s' to '%s': takes effect at the next start", old->database,
		    ncfg->database);
		free(ncfg->database);
		ncfg->database = xstrdup(old->database);
	}
	targets_sd_free(d->sd);
	d->sd = nsd;
	ref = cfgref_new(ncfg);
	web_reload(d->web, ncfg);
	alert_reload(d->alert, ncfg);
	detector_set_config(&d->det, ref);
	ingest_set_retention(d->in, (int64_t)ncfg->retention_raw * 1000,
	                     (int64_t)ncfg->retention_rollup * 1000);
	cfgref_put(d->cfg);
	d->cfg = ref;
	log_notice("daemon: configuration '%s' loaded: %zu targets, every %llu s", ncfg->source,
	           targetset_count(d->ts), (unsigned long long)ncfg->scrape_interval);
	sdnotify_reloaded();
	return;
out_free_sd:
	targets_sd_free(nsd);
out_free_cfg:
	config_unref(ncfg);
	(void)apply_log_level(d->opts, d->cfg->cfg);
out_keep:
	log_err("daemon: the new configuration is invalid (see above): keeping the running one");
	sdnotify_reloaded();
}

/* Re-read changed target files (every few seconds). A broken file keeps its old targets (logged). */
static void
sd_check(struct daemon *d)
{
	struct targets_errors errs = { 0 };
	struct targetset_plan *plan;
	bool changed = false;

	if (d->sd == NULL)
		return;
	if (targets_sd_refresh(d->sd, &changed, &errs) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			log_err("targets: %s (keeping its previous targets)", errs.msgs[i]);
	}
	targets_errors_release(&errs);
	if (!changed)
		return;
	plan = targetset_build(d->ts, d->cfg->cfg, d->sd);
	if (plan == NULL)
		return;
	if (set_targets(d, plan) == 0)
		log_notice("targets: target files changed: %zu targets", targetset_count(d->ts));
	targetset_plan_free(plan);
}

/* ---- Signals ---- */

static int
signals_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, set, NULL) != 0)
		return -1;
	/* A shell starts background jobs with SIGINT ignored, and an ignored signal never reaches a signalfd:
	 * take the default disposition back (the signals stay blocked, so it never runs). */
	signal(SIGHUP, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* Drain the signalfd. Returns a bit set: 1 reload, 2 stop. */
static int
signals_read(int fd)
{
	struct signalfd_siginfo si;
	int what = 0;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			what |= 1;
		} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_notice("daemon: %s: stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			what |= 2;
		}
	}
	return what;
}

/* ---- Main loop ---- */

/* STATUS= for systemd, at most once a second (counting walks every target). */
static void
update_status(struct daemon *d, int64_t now)
{
	char buf[256];
	size_t up, down;

	if (now - d->status_ms < STATUS_EVERY_MS)
		return;
	d->status_ms = now;
	scrape_count_up(d->sc, &up, &down);
	snprintf(buf, sizeof(buf), "%zu targets: %zu up, %zu down%s", targetset_count(d->ts), up,
	         down, ingest_failing(d->in) ? "; database refuses writes" : "");
	sdnotify_status(buf);
}

/* On the ingest thread: everything of the round is stored, rank it. */
static void
on_round_stored(void *arg)
{
	detector_kick(arg);
}

static void
maybe_rank(struct daemon *d, int64_t now)
{
	int64_t interval = (int64_t)d->cfg->cfg->scrape_interval * 1000;

	if (!d->new_data)
		return;
	if (targetset_rounded(d->ts) < targetset_count(d->ts) && now - d->last_rank_ms < interval)
		return;
	targetset_round_reset(d->ts);
	d->new_data = false;
	d->last_rank_ms = now;
	if (d->max_lag_ms > 0)
		log_debug("daemon: scrape round done, worst lag %llu ms", (unsigned long long)d->max_lag_ms);
	d->max_lag_ms = 0;
	/* the ranking starts once the ingest thread has stored everything of the round */
	ingest_push_mark(d->in, on_round_stored, &d->det);
}

static int
main_loop(struct daemon *d)
{
	char err[512];

	for (;;) {
		int64_t now = clock_mono_ms();
		int timeout = POLL_MAX_MS;
		int64_t wd = sdnotify_watchdog_interval_ms();
		int n, sig;

		sdnotify_watchdog(now);
		web_heartbeat(d->web, clock_wall_ms());
		if (wd > 0 && wd < timeout)
			timeout = (int)wd;
		n = scrape_poll(d->sc, &d->sigfd, 1, timeout, err, sizeof(err));
		if (n < 0) {
			log_err("scrape: %s", err);
			usleep(100 * 1000);
		}
		sig = signals_read(d->sigfd);
		if (sig & 2)
			return 0;
		if (sig & 1)
			reload(d);
		now = clock_mono_ms();
		if (d->sd && now >= d->sd_next_ms) {
			sd_check(d);
			d->sd_next_ms = now + TARGET_FILES_CHECK_MS;
		}
		maybe_rank(d, now);
		update_status(d, now);
	}
}

static int
parse_args(int argc, char **argv, struct run_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			run_usage(stdout);
			return 1;
		}
		if (strcmp(a, "--config") == 0)
			slot = &o->config_path;
		else if (strcmp(a, "--log-level") == 0)
			slot = &o->log_level;
		else if (strcmp(a, "--interval") == 0)
			slot = &o->interval;
		else if (strcmp(a, "--listen") == 0)
			slot = &o->listen;
		else if (strcmp(a, "--database") == 0)
			slot = &o->database;
		else if (strcmp(a, "--target") != 0) {
			fprintf(stderr, "leakprofd run: unknown option '%s'\n", a);
			run_usage(stderr);
			return -1;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "leakprofd run: %s needs a value\n", a);
			return -1;
		}
		if (slot) {
			*slot = argv[++i];
		} else {
			o->targets[o->ntargets++] = argv[++i];
		}
	}
	return 0;
}

int
cmd_run(int argc, char **argv)
{
	struct run_opts o = { 0 };
	struct daemon d = { .opts = &o, .sigfd = -1 };
	struct targetset_plan *plan;
	struct config *cfg;
	struct store *st;
	sigset_t set;
	bool sd_failed;
	int r, ret = 1;

	o.targets = xcalloc((size_t)argc, sizeof(*o.targets));
	r = parse_args(argc, argv, &o);
	if (r != 0) {
		free(o.targets);
		return r > 0 ? 0 : 2;
	}
	/* Before any thread exists: every thread inherits the mask, so the signals reach only the signalfd. */
	if (signals_block(&set) != 0 || (d.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		log_err("daemon: cannot set up signal handling: %s", strerror(errno));
		goto out_free_opts;
	}
	if (scrape_global_init() != 0) {
		log_err("daemon: cannot initialise libcurl");
		goto out_close_sigfd;
	}
	sdnotify_init();
	cfg = load_config(&o);
	if (cfg == NULL)
		goto out_close_sigfd;
	d.cfg = cfgref_new(cfg);
	d.ts = targetset_new();
	if (apply_log_level(&o, cfg) != 0)
		goto out_put_cfg;
	d.sd = sd_open(cfg, &sd_failed);
	if (sd_failed)
		goto out_free_sd;

	st = store_open(cfg->database, 0);
	if (st == NULL) {
		log_err("daemon: cannot open database '%s' (see above): exiting", cfg->database);
		goto out_free_sd;
	}
	d.det.st = store_open(cfg->database, 0);
	if (d.det.st == NULL) {
		log_err("daemon: cannot open a second connection to database '%s': exiting", cfg->database);
		store_free(st);
		goto out_free_sd;
	}
	pthread_mutex_init(&d.det.mu, NULL);
	pthread_cond_init(&d.det.cv, NULL);
	d.det.cfg = d.cfg;
	atomic_fetch_add(&d.cfg->refs, 1);
	d.in = ingest_new(st, &(struct ingest_options){
	                          .db_path = cfg->database,
	                          .retention_raw_ms = (int64_t)cfg->retention_raw * 1000,
	                          .retention_rollup_ms = (int64_t)cfg->retention_rollup * 1000,
	                      });
	d.sc = scrape_new(&(struct scrape_options){
		.max_concurrent = cfg->max_concurrent_scrapes, .done = on_scrape, .done_arg = &d,
		.user_agent = "leakprofd/" LEAKPROFD_VERSION,
	});
	if (d.sc == NULL) {
		log_err("daemon: cannot set up the scraper (libcurl)");
		goto out_stop_ingest;
	}
	plan = targetset_build(d.ts, cfg, d.sd);
	if (plan == NULL)
		goto out_free_scraper;
	r = set_targets(&d, plan);
	targetset_plan_free(plan);
	if (r != 0)
		goto out_free_scraper;
	ingest_run_queued(d.in);
	if (ingest_start(d.in) != 0)
		goto out_free_scraper;

	d.web = web_start(cfg);
	if (d.web == NULL) {
		log_err("daemon: cannot start the web server on '%s' (see above): exiting", cfg->listen);
		goto out_free_scraper;
	}
	d.alert = alert_start(cfg);
	if (d.alert == NULL) {
		log_err("daemon: cannot start alerting (see above): exiting");
		goto out_stop_web;
	}
	d.det.alert = d.alert;
	r = pthread_create(&d.det.thread, NULL, detector_main, &d.det);
	if (r != 0) {
		log_err("daemon: cannot start the detector thread: %s", strerror(r));
		goto out_stop_alert;
	}
	d.last_rank_ms = clock_mono_ms();

	log_notice("daemon: leakprofd %s running: %zu targets every %llu s, database '%s', "
	           "dashboard http://%s/",
	           LEAKPROFD_VERSION, targetset_count(d.ts),
	           (unsigned long long)cfg->scrape_interval, cfg->database, cfg->listen);
	{
		char status[128];

		snprintf(status, sizeof(status), "%zu targets: 0 up, 0 down",
		         targetset_count(d.ts));
		sdnotify_ready(status);
	}
	ret = main_loop(&d);

	sdnotify_stopping();
	web_stop(d.web);
	d.web = NULL;
	/* abandon the transfers in flight (their results are simply not stored), store what already finished */
	scrape_free(d.sc);
	d.sc = NULL;
	ingest_stop(d.in);
	pthread_mutex_lock(&d.det.mu);
	d.det.stop = true;
	pthread_cond_signal(&d.det.cv);
	pthread_mutex_unlock(&d.det.mu);
	pthread_join(d.det.thread, NULL);
out_stop_alert:
	alert_stop(d.alert);
out_stop_web:
	web_stop(d.web);
out_free_scraper:
	scrape_free(d.sc);
out_stop_ingest:
	ingest_free(d.in);
	cfgref_put(d.det.cfg);
	pthread_cond_destroy(&d.det.cv);
	pthread_mutex_destroy(&d.det.mu);
	store_free(d.det.st);
out_free_sd:
	targets_sd_free(d.sd);
out_put_cfg:
	targetset_free(d.ts);
	cfgref_put(d.cfg);
out_close_sigfd:
	close(d.sigfd);
out_free_opts:
	free(o.targets);
	if (ret == 0)
		log_notice("daemon: stopped");
	return ret;
}
