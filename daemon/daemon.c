/* daemon/daemon.c: `leakprofd run`: the daemon's main loop, its signals and reloads.
 *
 * The main thread owns the scraper: it drives scrape_poll() with a bounded timeout, hands every
 * finished scrape to the ingest thread (daemon/ingest.c), reloads on SIGHUP and stops on
 * SIGTERM/SIGINT, all read from a signalfd between polls (signals are blocked in every thread, so
 * no work ever happens in a handler). What it scrapes comes from the configuration and its target
 * files through the registry of daemon/targetset.c. The ingest thread is the database's one writer;
 * once a scrape round is stored it wakes the detector thread (detect/detector.c), which ranks on
 * its own connection and kicks the alerter; the web server and the alerter run their own threads
 * too. The current configuration is an immutable snapshot in a config_slot: a reload builds and
 * validates a new one and swaps it in whole, and each thread keeps the snapshot it works with. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
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
#include "detect/detector.h"
#include "base/log.h"
#include "base/clock.h"
#include "base/xalloc.h"
#include "daemon/ingest.h"
#include "daemon/membership.h"
#include "daemon/sdnotify.h"
#include "daemon/targetset.h"
#include "storage/db.h"
#include "storage/store.h"
#include "web/server.h"

#define TARGET_FILES_CHECK_MS 5000 /* re-read changed target files this often */
#define POLL_MAX_MS 1000           /* the loop wakes at least this often (heartbeat, status) */
#define STATUS_EVERY_MS 1000       /* STATUS= is refreshed this often */
#define TRIM_EVERY_MS 10000        /* freed memory goes back to the system this often */
#define MEMLOG_EVERY_MS 60000      /* memory use is logged (debug) this often */
#define SOURCES_SHOWN 100          /* sources of targets on /healthz and the targets page */

/* ---- Command line ---- */

struct run_opts {
	const char *config_path; /* NULL: the embedded default */
	const char **targets;    /* --target URL, in order */
	size_t ntargets;
	const char *log_level;
	const char *interval; /* --interval DUR: overrides scrape_interval */
	const char *listen;   /* --listen ADDR */
	const char *database; /* --database FILE */
};

/* ---- The daemon ---- */

struct daemon {
	const struct run_opts *opts;
	struct config_slot cfg; /* the current configuration, swapped whole on reload */
	struct scraper *sc;
	struct targets_sd *sd; /* NULL without target_files */
	struct targetset *ts;  /* every target seen, and the current set with its round */
	struct ingest *in;
	struct detector *det;
	struct web *web;
	struct alerter *alert;
	struct membership *member; /* this daemon's shard claim on the database */
	int sigfd;

	bool new_data;        /* an ok scrape since the last ranking */
	int64_t last_rank_ms; /* monotonic */
	int64_t sd_next_ms;
	uint64_t max_lag_ms;  /* worst scrape lag of the round */
	int64_t status_ms;    /* monotonic: the last STATUS= update */
	int64_t trim_ms;      /* monotonic: the last malloc_trim() */
	int64_t trim_took_ms; /* how long it took */
	int64_t memlog_ms;    /* monotonic: the last memory line in the log */
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
	if (res->leak && res->http_code == 404) {
		/* Not served by this build of the target (older Go, or no experiment): remembered
		 * by the scraper, neither stored nor counted as a failed scrape. */
		log_info("scrape: '%s': the leak profile is not served (http 404); asked again in "
		         "%llu h",
		         res->url, (unsigned long long)(SCRAPE_LEAK_RETRY_MS / 3600000));
		return;
	}
	if (res->leak) {
		if (!res->ok)
			log_info("scrape: '%s': leak profile: %s", res->url, res->status);
	} else if (!res->detail) {
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
	web_count_scrape(d->web, res->service, res->ok, res->duration_ms);
	if (res->ok) {
		struct config *cfg = config_slot_get(&d->cfg);

		profile_keep_labels(&res->profile, cfg->detector.max_label_sets);
		config_unref(cfg);
	}
	ingest_push_scrape(d->in, res);
}

/* ---- Configuration ---- */

/* Load the configuration (file or embedded) and apply the command line on top. NULL on error (every
 * problem logged). */
static struct config *
load_config(const struct run_opts *o)
{
	struct config_errors errs = {0};
	struct config *cfg;
	uint64_t secs;

	cfg = o->config_path ? config_load(o->config_path, &errs) : config_default();
	if (cfg == NULL) {
		for (size_t i = 0; i < errs.n; i++)
			log_err("config: %s", errs.msgs[i]);
		if (errs.n == 0)
			log_err("config: '%s': cannot load: out of memory",
			        o->config_path ? o->config_path : "(default)");
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
			log_err("config: --interval: '%s' is not a duration like 5s, 1m",
			        o->interval);
			config_unref(cfg);
			return NULL;
		}
		config_set_scrape_interval(cfg, secs);
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

/* Open the target files of 'cfg' and read them, and start its discovery sources ('prev': the set
 * this one replaces, whose lists unchanged sources start from; 'wait': for the others' first
 * answers). NULL when there are none; *failed set when a file is broken or a source cannot start
 * (every problem logged). A discovery source's error is logged, not a failure: the remote side's.
 */
static struct targets_sd *
sd_open(const struct config *cfg, const struct targets_sd *prev, bool wait, bool *failed)
{
	struct targets_sd *sd;
	struct targets_errors errs = {0};
	bool changed;

	*failed = false;
	if (cfg->ntarget_files == 0 && cfg->nhttp_sd == 0 && cfg->ndns_sd == 0)
		return NULL;
	sd = targets_sd_open(cfg, prev, wait);
	if (sd == NULL) {
		*failed = true;
		return NULL;
	}
	if (targets_sd_refresh(sd, &changed, &errs) != 0)
		*failed = true;
	for (size_t i = 0; i < errs.n; i++)
		log_err("targets: %s", errs.msgs[i]);
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

/* Show the state of the sources of targets on /healthz and the targets page. */
static void
publish_sources(struct daemon *d)
{
	struct targets_source_state *s;
	size_t total = targets_sd_states(d->sd, SOURCES_SHOWN, &s);

	web_set_sources(d->web, s, total < SOURCES_SHOWN ? total : SOURCES_SHOWN, total);
	free(s);
}

static void
reload(struct daemon *d)
{
	struct config *ncfg, *old;
	struct targets_sd *nsd;
	struct targetset_plan *plan;
	bool sd_failed;
	int r;

	sdnotify_reloading();
	log_notice("daemon: SIGHUP: reloading '%s'",
	           d->opts->config_path ? d->opts->config_path : "(default)");
	ncfg = load_config(d->opts);
	if (ncfg == NULL)
		goto out_keep;
	if (apply_log_level(d->opts, ncfg) != 0)
		goto out_free_cfg;
	/* 'ncfg' is still ours alone: the shard is the one this daemon claimed at start */
	old = config_slot_get(&d->cfg);
	if (old->shard_index != ncfg->shard_index || old->shard_count != ncfg->shard_count) {
		log_warn("config: shard changed: takes effect after restart");
		ncfg->shard_index = old->shard_index;
		ncfg->shard_count = old->shard_count;
	}
	config_unref(old);
	nsd = sd_open(ncfg, d->sd, false, &sd_failed);
	if (sd_failed)
		goto out_free_sd;
	plan = targetset_build(d->ts, ncfg, nsd);
	if (plan == NULL)
		goto out_free_sd;
	r = set_targets(d, plan);
	targetset_plan_free(plan);
	if (r != 0)
		goto out_free_sd;

	/* 'ncfg' is still ours alone: name what needs a restart, and keep the database the daemon
	 * opened before anyone shares it */
	old = config_slot_get(&d->cfg);
	config_log_restart_changes(old, ncfg);
	if (strcmp(old->database, ncfg->database) != 0) {
		free(ncfg->database);
		ncfg->database = xstrdup(old->database);
	}
	config_unref(old);
	targets_sd_free(d->sd);
	d->sd = nsd;
	publish_sources(d);
	web_reload(d->web, ncfg);
	alert_reload(d->alert, ncfg);
	detector_reload(d->det, ncfg);
	ingest_set_retention(d->in, (int64_t)ncfg->retention_raw * 1000,
	                     (int64_t)ncfg->retention_rollup * 1000);
	ingest_set_buffer(d->in, (size_t)ncfg->ingest.buffer_scrapes,
	                  (int64_t)ncfg->ingest.buffer_duration * 1000);
	config_slot_set(&d->cfg, ncfg);
	log_notice("daemon: configuration '%s' loaded: %zu targets, every %llu s", ncfg->source,
	           targetset_count(d->ts), (unsigned long long)ncfg->scrape_interval);
	config_unref(ncfg);
	sdnotify_reloaded();
	return;
out_free_sd:
	targets_sd_free(nsd);
out_free_cfg:
	config_unref(ncfg);
	old = config_slot_get(&d->cfg);
	(void)apply_log_level(d->opts, old);
	config_unref(old);
out_keep:
	log_err("daemon: the new configuration is invalid (see above): keeping the running one");
	sdnotify_reloaded();
}

/* Re-read changed target files (every few seconds) and take what discovery found (as soon as it
 * has something). A broken file or a failing source keeps its old targets (logged). */
static void
sd_check(struct daemon *d)
{
	struct targets_errors errs = {0};
	struct targetset_plan *plan;
	struct config *cfg;
	bool changed = false;

	if (d->sd == NULL)
		return;
	if (targets_sd_refresh(d->sd, &changed, &errs) != 0 && errs.n == 0)
		log_err("targets: cannot refresh (out of memory)");
	for (size_t i = 0; i < errs.n; i++)
		log_err("targets: %s (keeping its previous targets)", errs.msgs[i]);
	targets_errors_release(&errs);
	publish_sources(d);
	if (!changed)
		return;
	cfg = config_slot_get(&d->cfg);
	plan = targetset_build(d->ts, cfg, d->sd);
	if (plan != NULL) {
		if (set_targets(d, plan) == 0)
			log_notice("targets: discovered targets changed: %zu targets",
			           targetset_count(d->ts));
		targetset_plan_free(plan);
	}
	config_unref(cfg);
}

/* ---- Signals ---- */

/* What the signals that arrived ask for. */
enum daemon_signal {
	DAEMON_SIG_RELOAD = 1 << 0, /* SIGHUP */
	DAEMON_SIG_STOP = 1 << 1,   /* SIGTERM, SIGINT */
};

static int
signals_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, set, NULL) != 0)
		return -1;
	/* A shell starts background jobs with SIGINT ignored, and an ignored signal never reaches a
	 * signalfd: take the default disposition back (the signals stay blocked, so it never runs).
	 */
	signal(SIGHUP, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* Drain the signalfd. Returns the enum daemon_signal bits of what arrived. */
static unsigned
signals_read(int fd)
{
	struct signalfd_siginfo si;
	unsigned what = 0;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			what |= DAEMON_SIG_RELOAD;
		} else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			log_notice("daemon: %s: stopping",
			           si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			what |= DAEMON_SIG_STOP;
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

/* Tell /healthz, /metrics and the targets page since when the database refuses the ingest's writes
 * (PostgreSQL down or unreachable, a lock another process holds, a read-only or full file system)
 * and how many finished scrapes wait for it: /healthz turns 503 once that lasts. */
static void
watch_writes(struct daemon *d)
{
	struct ingest_queue q;

	ingest_queue_get(d->in, &q);
	web_set_ingest(d->web, &(struct web_ingest){.refused_since_ms = q.refused_since_ms,
	                                            .queued = q.scrapes,
	                                            .queued_max = q.max_scrapes,
	                                            .queued_max_ms = q.max_ms,
	                                            .dropped = q.dropped});
}

/* Give what the threads freed back to the system. glibc keeps freed memory in each thread's arena
 * unless it lies at the top of the heap, and SQLite's page caches (emptied whenever another
 * connection commits, then filled again), a ranking or a queue of parsed profiles leave most of it
 * in the middle: without this the RSS an operator watches climbs to the sum of every arena's
 * high-water mark and says nothing about leaks. Once a minute was not enough: memory freed and
 * touched again within the minute made most of the RSS (in a soak, 7-23 MiB in use beside 59-70
 * MiB free in the arenas). It walks every arena's free chunks: 1-8 ms, every 10 s. */
static void
maybe_trim(struct daemon *d, int64_t now)
{
	int64_t t0;

	if (now - d->trim_ms < TRIM_EVERY_MS)
		return;
	d->trim_ms = now;
	if (now - d->memlog_ms >= MEMLOG_EVERY_MS && log_enabled(LOG_LEVEL_DEBUG)) {
		struct mallinfo2 mi = mallinfo2();
		int64_t peak, used = store_memory_used(&peak);

		d->memlog_ms = now;
		log_debug("daemon: memory: sqlite %lld KiB (peak %lld KiB); malloc %zu KiB in use, "
		          "%zu KiB free in the arenas, %zu KiB mapped; the last trim took %lld ms",
		          (long long)(used / 1024), (long long)(peak / 1024), mi.uordblks / 1024,
		          mi.fordblks / 1024, mi.hblkhd / 1024, (long long)d->trim_took_ms);
	}
	t0 = clock_mono_ms();
	malloc_trim(0);
	d->trim_took_ms = clock_mono_ms() - t0;
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
	struct config *cfg;
	int64_t interval;

	if (!d->new_data)
		return;
	cfg = config_slot_get(&d->cfg);
	interval = (int64_t)cfg->scrape_interval * 1000;
	config_unref(cfg);
	if (targetset_rounded(d->ts) < targetset_count(d->ts) && now - d->last_rank_ms < interval)
		return;
	targetset_round_reset(d->ts);
	d->new_data = false;
	d->last_rank_ms = now;
	if (d->max_lag_ms > 0)
		log_debug("daemon: scrape round done, worst lag %llu ms",
		          (unsigned long long)d->max_lag_ms);
	d->max_lag_ms = 0;
	if (log_enabled(LOG_LEVEL_DEBUG)) {
		struct ingest_stats is;

		/* how far the writer trails: what a kill -9 now would lose */
		ingest_stats_take(d->in, &is);
		log_debug(
		    "daemon: ingest: %llu scrapes stored (%llu since the start), %llu "
		    "dropped; queue peak %zu scrapes, longest wait %lld ms",
		    (unsigned long long)is.stored, (unsigned long long)ingest_committed(d->in),
		    (unsigned long long)is.dropped, is.peak_scrapes, (long long)is.peak_wait_ms);
	}
	/* the ranking starts once the ingest thread has stored everything of the round */
	ingest_push_mark(d->in, on_round_stored, d->det);
}

static int
main_loop(struct daemon *d)
{
	char err[512];

	for (;;) {
		int64_t now = clock_mono_ms();
		int timeout = POLL_MAX_MS;
		int64_t wd = sdnotify_watchdog_interval_ms();
		unsigned sig;
		int n;

		sdnotify_watchdog(now);
		web_heartbeat(d->web, clock_wall_ms());
		web_set_stored(d->web, ingest_committed(d->in));
		if (wd > 0 && wd < timeout)
			timeout = (int)wd;
		n = scrape_poll(d->sc, &d->sigfd, 1, timeout, err, sizeof(err));
		if (n < 0) {
			log_err("scrape: %s", err);
			usleep(100 * 1000);
		}
		sig = signals_read(d->sigfd);
		if (sig & DAEMON_SIG_STOP)
			return 0;
		if (sig & DAEMON_SIG_RELOAD)
			reload(d);
		now = clock_mono_ms();
		if (d->sd && (now >= d->sd_next_ms || targets_sd_pending(d->sd))) {
			sd_check(d);
			d->sd_next_ms = now + TARGET_FILES_CHECK_MS;
		}
		maybe_rank(d, now);
		watch_writes(d);
		update_status(d, now);
		maybe_trim(d, now);
		if (membership_lost(d->member))
			return 1; /* logged: another daemon took the shard */
	}
}

/* The command line into 'o' (o->targets has room for argc entries). 0; 1 when --help printed the
 * usage; -1 after a usage error (printed). */
static int
parse_args(int argc, char **argv, struct run_opts *o)
{
	enum {
		OPT_CONFIG = 256,
		OPT_TARGET,
		OPT_LOG_LEVEL,
		OPT_INTERVAL,
		OPT_LISTEN,
		OPT_DATABASE
	};
	static const struct option opts[] = {
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"target", required_argument, NULL, OPT_TARGET},
	    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	    {"interval", required_argument, NULL, OPT_INTERVAL},
	    {"listen", required_argument, NULL, OPT_LISTEN},
	    {"database", required_argument, NULL, OPT_DATABASE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	optind = 0;
	while ((c = usage_getopt("run", argc, argv, opts)) != -1) {
		switch (c) {
		case 'h':
			usage_print(stdout, "run");
			return 1;
		case OPT_CONFIG:
			o->config_path = optarg;
			break;
		case OPT_TARGET:
			o->targets[o->ntargets++] = optarg;
			break;
		case OPT_LOG_LEVEL:
			o->log_level = optarg;
			break;
		case OPT_INTERVAL:
			o->interval = optarg;
			break;
		case OPT_LISTEN:
			o->listen = optarg;
			break;
		case OPT_DATABASE:
			o->database = optarg;
			break;
		default:
			return -1;
		}
	}
	if (optind < argc) {
		usage_error("run", "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return 0;
}

int
cmd_run(int argc, char **argv)
{
	struct run_opts o = {0};
	struct daemon d = {.opts = &o, .sigfd = -1};
	struct targetset_plan *plan;
	struct config *cfg;
	struct store *st;
	sigset_t set;
	bool sd_failed;
	int r, ret = 1;

	/* A fixed threshold (the default rises to 32 MiB after the first large free) sends every
	 * large temporary (a ranking's arrays, a body being inflated) to its own mapping, given
	 * back the moment it is freed, and keeps each arena's free top trimmed at 128 KiB. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	o.targets = xcalloc((size_t)argc, sizeof(*o.targets));
	r = parse_args(argc, argv, &o);
	if (r != 0) {
		free(o.targets);
		return r > 0 ? 0 : 2;
	}
	/* Before any thread exists: every thread inherits the mask, so the signals reach only the
	 * signalfd. */
	if (signals_block(&set) != 0 ||
	    (d.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		log_err("daemon: cannot set up signal handling: %s", strerror(errno));
		goto out_free_opts;
	}
	if (scrape_global_init() != 0) {
		log_err("daemon: cannot initialise libcurl");
		goto out_close_sigfd;
	}
	sdnotify_init();
	/* 'cfg' is this function's own reference, for the start; the slot holds the current one */
	cfg = load_config(&o);
	if (cfg == NULL)
		goto out_close_sigfd;
	config_slot_init(&d.cfg, config_ref(cfg));
	d.ts = targetset_new();
	if (apply_log_level(&o, cfg) != 0)
		goto out_release_cfg;
	d.sd = sd_open(cfg, NULL, true, &sd_failed);
	if (sd_failed)
		goto out_free_sd;

	/* First the shard: a second daemon for it must not write a thing */
	d.member = membership_start(cfg);
	if (d.member == NULL) {
		log_err("daemon: cannot run shard %u of %u (see above): exiting", cfg->shard_index,
		        cfg->shard_count);
		goto out_free_sd;
	}
	st = store_open(cfg->database, 0);
	if (st == NULL) {
		char *shown = db_target_shown(cfg->database);

		log_err("daemon: cannot open database '%s' (see above): exiting", shown);
		free(shown);
		goto out_free_sd;
	}
	store_set_shard(st, cfg->shard_index, cfg->shard_count, membership_owner(d.member));
	d.in = ingest_new(st, &(struct ingest_options){
	                          .db_path = cfg->database,
	                          .pending_max = (size_t)cfg->ingest.buffer_scrapes,
	                          .pending_ms = (int64_t)cfg->ingest.buffer_duration * 1000,
	                          .retention_raw_ms = (int64_t)cfg->retention_raw * 1000,
	                          .retention_rollup_ms = (int64_t)cfg->retention_rollup * 1000,
	                      });
	d.sc = scrape_new(&(struct scrape_options){
	    .max_concurrent = cfg->max_concurrent_scrapes,
	    .done = on_scrape,
	    .done_arg = &d,
	    .user_agent = "leakprofd/" LEAKPROFD_VERSION,
	});
	if (d.sc == NULL) {
		log_err("daemon: cannot set up the scraper (libcurl)");
		goto out_free_ingest;
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
		log_err("daemon: cannot start the web server on '%s' (see above): exiting",
		        cfg->listen);
		goto out_free_scraper;
	}
	d.alert = alert_start(cfg, membership_owner(d.member));
	if (d.alert == NULL) {
		log_err("daemon: cannot start alerting (see above): exiting");
		goto out_stop_web;
	}
	d.det = detector_start(cfg, d.alert);
	if (d.det == NULL) {
		log_err("daemon: cannot start the detector (see above): exiting");
		goto out_stop_alert;
	}
	web_watch_detector(d.web, d.det);
	publish_sources(&d);
	d.last_rank_ms = clock_mono_ms();

	{
		char *shown = db_target_shown(cfg->database);

		log_notice("daemon: leakprofd %s running: %zu targets every %llu s, database '%s', "
		           "dashboard http://%s/",
		           LEAKPROFD_VERSION, targetset_count(d.ts),
		           (unsigned long long)cfg->scrape_interval, shown, cfg->listen);
		free(shown);
	}
	{
		char status[128];

		snprintf(status, sizeof(status), "%zu targets: 0 up, 0 down",
		         targetset_count(d.ts));
		sdnotify_ready(status);
	}
	config_unref(cfg); /* from here on the slot's is the current one */
	cfg = NULL;
	ret = main_loop(&d);

	/* Stop in an order that starts nothing new: the detector first (a ranking in progress is
	 * abandoned, and the marks the ingest queue still holds kick nothing), then the web server,
	 * the transfers in flight (abandoned: their results are simply not stored), and the ingest
	 * thread, which stores every scrape that already finished. */
	sdnotify_stopping();
	detector_cancel(d.det);
	web_stop(d.web);
	d.web = NULL;
	{
		unsigned inflight = scrape_in_flight(d.sc);

		if (inflight > 0)
			log_info("daemon: abandoning %u scrapes in flight", inflight);
	}
	scrape_free(d.sc);
	d.sc = NULL;
	ingest_stop(d.in);
	detector_stop(d.det);
out_stop_alert:
	alert_stop(d.alert);
out_stop_web:
	web_stop(d.web);
out_free_scraper:
	scrape_free(d.sc);
out_free_ingest:
	ingest_free(d.in);
out_free_sd:
	targets_sd_free(d.sd);
	/* last: the ingest's final commits moved the shard's marks under this claim */
	membership_stop(d.member);
out_release_cfg:
	targetset_free(d.ts);
	config_slot_release(&d.cfg);
	config_unref(cfg);
out_close_sigfd:
	close(d.sigfd);
out_free_opts:
	free(o.targets);
	if (ret == 0)
		log_notice("daemon: stopped");
	return ret;
}
