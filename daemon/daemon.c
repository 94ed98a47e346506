/* daemon/daemon.c: `leakprofd run`: the daemon's main loop.
 *
 * The main thread owns the scraper: it drives scrape_poll() with a bounded timeout, hands every
 * finished scrape to the ingest thread (daemon/ingest.c), reloads on SIGHUP and stops on
 * SIGTERM/SIGINT, all read from a signalfd between polls (signals are blocked in every thread, so no
 * work ever happens in a handler). The ingest thread is the database's one writer; once a scrape
 * round is stored, the detector thread ranks on its own connection and kicks the alerter; the web
 * server and the alerter run their own threads too. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

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
#include "base/secret.h"
#include "base/hash.h"
#include "daemon/ingest.h"
#include "daemon/sdnotify.h"
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

/* ---- The target registry: every (service, base URL) seen since start, with its database id ----
 *
 * A target keeps its registry slot for the life of the process, so the scraper's tag (slot + 1) stays valid for
 * results still in flight across a reload. */

struct dtarget {
	char *service;
	char *base_url;
	char *labels_json;              /* the service's labels as a JSON object text */
	bool in_set;                    /* in the scraper's current target set */
	bool rounded;                   /* a regular scrape finished since the last ranking */
	unsigned failures;              /* consecutive failures, as last reported */
	uint32_t mark;                  /* set-building generation, to drop duplicates */
};

struct registry {
	struct dtarget *v;
	size_t n, cap;
	uint32_t *slot;                 /* open addressing: index + 1, 0 empty */
	size_t nslot;                   /* power of two */
};

static uint64_t
reg_hash(const char *service, const char *url)
{
	return hash_fnv1a_str(hash_fnv1a_str(hash_fnv1a_str(HASH_FNV1A_INIT, service), "\n"), url);
}

static void
reg_rehash(struct registry *r, size_t nslot)
{
	free(r->slot);
	r->slot = xcalloc(nslot, sizeof(*r->slot));
	r->nslot = nslot;
	for (size_t i = 0; i < r->n; i++) {
		size_t s = reg_hash(r->v[i].service, r->v[i].base_url) & (nslot - 1);

		while (r->slot[s])
			s = (s + 1) & (nslot - 1);
		r->slot[s] = (uint32_t)i + 1;
	}
}

/* The slot of (service, url), added when new. */
static size_t
reg_get(struct registry *r, const char *service, const char *url)
{
	size_t s;

	if (r->nslot == 0 || (r->n + 1) * 2 > r->nslot)
		reg_rehash(r, r->nslot ? r->nslot * 2 : 64);
	s = reg_hash(service, url) & (r->nslot - 1);
	while (r->slot[s]) {
		struct dtarget *t = &r->v[r->slot[s] - 1];

		if (strcmp(t->service, service) == 0 && strcmp(t->base_url, url) == 0)
			return r->slot[s] - 1;
		s = (s + 1) & (r->nslot - 1);
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;

		r->v = xrealloc(r->v, cap * sizeof(*r->v));
		r->cap = cap;
	}
	r->v[r->n] = (struct dtarget){ .service = xstrdup(service), .base_url = xstrdup(url) };
	r->slot[s] = (uint32_t)r->n + 1;
	return r->n++;
}

static void
reg_release(struct registry *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].service);
		free(r->v[i].base_url);
		free(r->v[i].labels_json);
	}
	free(r->v);
	free(r->slot);
	*r = (struct registry){ 0 };
}

/* ---- A target set built from a config (and the target files), ready for scrape_set_targets() ---- */

struct tset {
	struct scrape_target *t;
	size_t *reg;                    /* registry slot of each target */
	char **labels;                  /* labels JSON of each target (owned) */
	size_t n, cap;
	char **strs;                    /* every other string the set owns */
	size_t nstrs, capstrs;
	struct scrape_header **hdrs;    /* header arrays the set owns */
	size_t nhdrs;
};

static char *
tset_own(struct tset *ts, char *s)
{
	if (ts->nstrs == ts->capstrs) {
		size_t cap = ts->capstrs ? ts->capstrs * 2 : 64;

		ts->strs = xrealloc(ts->strs, cap * sizeof(*ts->strs));
		ts->capstrs = cap;
	}
	ts->strs[ts->nstrs++] = s;
	return s;
}

static void
tset_release(struct tset *ts)
{
	for (size_t i = 0; i < ts->nstrs; i++)
		free(ts->strs[i]);
	for (size_t i = 0; i < ts->n; i++)
		free(ts->labels[i]);
	for (size_t i = 0; i < ts->nhdrs; i++)
		free(ts->hdrs[i]);
	free(ts->strs);
	free(ts->hdrs);
	free(ts->t);
	free(ts->reg);
	free(ts->labels);
	*ts = (struct tset){ 0 };
}

/* What the scraper needs of one service's settings, resolved once per service (secrets read). */
struct svc_settings {
	const struct config_service *svc;       /* NULL: defaults (a file_sd service not in the config) */
	const char *path;
	enum scrape_format format;
	unsigned detail_every;
	uint64_t detail_max_goroutines;
	struct scrape_header *headers;
	size_t nheaders;
	const char *bearer;
	const char *basic_user;
	const char *basic_password;
};

static const char *
labels_to_json(const struct config_kv *kv, size_t n, const struct targets_label *tl, size_t ntl, char **out)
{
	json_t *o = json_object();

	if (o == NULL)
		return "out of memory";
	for (size_t i = 0; i < n; i++)
		json_object_set_new(o, kv[i].key, json_string(kv[i].value));
	for (size_t i = 0; i < ntl; i++)
		json_object_set_new(o, tl[i].name, json_string(tl[i].value));
	*out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return *out ? NULL : "out of memory";
}

/* Resolve 'svc' (or the defaults when NULL): read its secret files. 0, or -1 with the problem logged. */
static int
svc_resolve(struct tset *ts, const struct config *cfg, const struct config_service *svc, struct svc_settings *out)
{
	char why[256];

	*out = (struct svc_settings){
		.svc = svc, .path = "/debug/pprof/goroutine", .format = SCRAPE_FORMAT_PROTO, .detail_every = 10,
		.detail_max_goroutines = 10000,
	};
	if (svc == NULL)
		return 0;
	if (svc->path)
		out->path = svc->path;
	out->format = svc->format;
	out->detail_every = svc->detail_every;
	out->detail_max_goroutines = svc->detail_max_goroutines;
	if (svc->nheaders) {
		struct scrape_header *h = xcalloc(svc->nheaders, sizeof(*h));

		ts->hdrs = xrealloc(ts->hdrs, (ts->nhdrs + 1) * sizeof(*ts->hdrs));
		ts->hdrs[ts->nhdrs++] = h;
		for (size_t i = 0; i < svc->nheaders; i++)
			h[i] = (struct scrape_header){ svc->headers[i].key, svc->headers[i].value };
		out->headers = h;
		out->nheaders = svc->nheaders;
	}
	if (svc->bearer_token_file) {
		char *tok = secret_read(svc->bearer_token_file, why, sizeof(why));

		if (tok == NULL) {
			log_err("config: '%s': service '%s': cannot read bearer_token_file %s", cfg->source,
			        svc->name, why);
			return -1;
		}
		out->bearer = tset_own(ts, tok);
	}
	if (svc->basic_auth.username) {
		out->basic_user = svc->basic_auth.username;
		out->basic_password = "";
		if (svc->basic_auth.password_file) {
			char *pw = secret_read(svc->basic_auth.password_file, why, sizeof(why));

			if (pw == NULL) {
				log_err("config: '%s': service '%s': cannot read basic_auth.password_file %s",
				        cfg->source, svc->name, why);
				return -1;
			}
			out->basic_password = tset_own(ts, pw);
		}
	}
	return 0;
}

static int
format_debug(enum scrape_format f)
{
	return f == SCRAPE_FORMAT_DEBUG2 ? 2 : f == SCRAPE_FORMAT_DEBUG1 ? 1 : 0;
}

static enum profile_format
format_profile(enum scrape_format f)
{
	return f == SCRAPE_FORMAT_DEBUG2 ? PROFILE_FORMAT_DEBUG2 :
	    f == SCRAPE_FORMAT_DEBUG1 ? PROFILE_FORMAT_DEBUG1 : PROFILE_FORMAT_PROTO;
}

/* Add one target to 'ts'. 0; 1 when skipped (another shard's, or a duplicate); -1 on a bad URL (logged). */
static int
tset_add(struct tset *ts, struct registry *reg, uint32_t gen, const struct config *cfg,
    const struct svc_settings *ss, const char *service, const char *base, char *labels_json)
{
	struct scrape_target *t;
	size_t slot;
	char *url, *detail = NULL;

	if (!targets_shard_keep(base, cfg->shard_index, cfg->shard_count)) {
		free(labels_json);
		return 1;
	}
	url = targets_profile_url(base, ss->path, format_debug(ss->format));
	if (url == NULL) {
		log_err("config: '%s': service '%s': target '%s' is not an http or https URL", cfg->source, service,
		    base);
		free(labels_json);
		return -1;
	}
	slot = reg_get(reg, service, base);
	if (reg->v[slot].mark == gen) {
		free(url);
		free(labels_json);
		return 1;
	}
	reg->v[slot].mark = gen;
	if (ss->detail_every > 0 && ss->format != SCRAPE_FORMAT_DEBUG2) {
		detail = targets_profile_url(base, ss->path, 2);
		if (detail)
			tset_own(ts, detail);
	}
	tset_own(ts, url);
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 64;

		ts->t = xrealloc(ts->t, cap * sizeof(*ts->t));
		ts->reg = xrealloc(ts->reg, cap * sizeof(*ts->reg));
		ts->labels = xrealloc(ts->labels, cap * sizeof(*ts->labels));
		ts->cap = cap;
	}
	t = &ts->t[ts->n];
	*t = (struct scrape_target){
		.id = (int64_t)slot + 1,
		.service = service,
		.url = url,
		.format = format_profile(ss->format),
		.detail_url = detail,
		.detail_every = detail ? ss->detail_every : 0,
		.detail_max_goroutines = ss->detail_max_goroutines,
		/* debug=2 stops the target's world for the whole dump: give it room, but bounded */
		.detail_timeout_ms = cfg->scrape_timeout * 1000 * 3,
		.headers = ss->headers,
		.nheaders = ss->nheaders,
		.bearer_token = ss->bearer,
		.basic_user = ss->basic_user,
		.basic_password = ss->basic_password,
		.interval_ms = cfg->scrape_interval * 1000,
		.timeout_ms = cfg->scrape_timeout * 1000,
		.max_body_bytes = cfg->max_body_bytes,
	};
	if (ss->svc) {
		t->tls_ca_file = ss->svc->tls.ca_file;
		t->tls_cert_file = ss->svc->tls.cert_file;
		t->tls_key_file = ss->svc->tls.key_file;
		t->tls_insecure = ss->svc->tls.insecure_skip_verify;
	}
	ts->reg[ts->n] = slot;
	ts->labels[ts->n] = labels_json;
	ts->n++;
	return 0;
}

static const struct config_service *
config_service_named(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nservices; i++) {
		if (strcmp(cfg->services[i].name, name) == 0)
			return &cfg->services[i];
	}
	return NULL;
}

/* Build the target set of 'cfg' plus the targets of 'sd' (may be NULL). 0, or -1 (every problem logged). */
static int
tset_build(struct tset *ts, struct registry *reg, const struct config *cfg, const struct targets_sd *sd)
{
	static uint32_t generation;
	uint32_t gen = ++generation;
	int ret = 0;

	*ts = (struct tset){ 0 };
	for (size_t i = 0; i < cfg->nservices; i++) {
		const struct config_service *svc = &cfg->services[i];
		struct svc_settings ss;
		char *labels;
		const char *why;

		if (svc_resolve(ts, cfg, svc, &ss) != 0) {
			ret = -1;
			continue;
		}
		for (size_t j = 0; j < svc->ntargets; j++) {
			why = labels_to_json(svc->labels, svc->nlabels, NULL, 0, &labels);
			if (why) {
				log_err("daemon: labels of service '%s': %s", svc->name, why);
				abort();
			}
			if (tset_add(ts, reg, gen, cfg, &ss, svc->name, svc->targets[j], labels) < 0)
				ret = -1;
		}
	}
	if (sd) {
		size_t n;
		const struct targets_entry *e = targets_sd_list(sd, &n);

		for (size_t i = 0; i < n; i++) {
			const struct config_service *svc = config_service_named(cfg, e[i].service);
			struct svc_settings ss;
			char *labels;
			const char *why;

			if (svc_resolve(ts, cfg, svc, &ss) != 0) {
				ret = -1;
				continue;
			}
			why = labels_to_json(svc ? svc->labels : NULL, svc ? svc->nlabels : 0, e[i].labels,
			    e[i].nlabels, &labels);
			if (why) {
				log_err("daemon: labels of service '%s': %s", e[i].service, why);
				abort();
			}
			if (tset_add(ts, reg, gen, cfg, &ss, e[i].service, e[i].base_url, labels) < 0)
				ret = -1;
		}
	}
	if (ret != 0)
		tset_release(ts);
	return ret;
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
	struct registry reg;
	struct web *web;
	struct alerter *alert;
	struct detector det;
	struct ingest *in;
	int sigfd;

	/* the current target set (registry slots), for rounds and the active list */
	size_t *set_reg;
	size_t nset;
	size_t rounded;                 /* targets of the set with a regular scrape since the last ranking */
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
	size_t slot = (size_t)res->id - 1;
	struct dtarget *t;

	if (res->id <= 0 || slot >= d->reg.n)
		return;
	t = &d->reg.v[slot];
	if (res->lag_ms > d->max_lag_ms)
		d->max_lag_ms = res->lag_ms;
	if (!res->detail) {
		if (!res->ok && res->consecutive_failures == 1)
			log_warn("scrape: '%s': %s", res->url, res->status);
		else if (!res->ok)
			log_debug("scrape: '%s': %s (%u failures in a row)", res->url, res->status,
			    res->consecutive_failures);
		else if (t->failures > 0)
			log_notice("scrape: '%s': ok again after %u failures", res->url, t->failures);
		t->failures = res->consecutive_failures;
		if (t->in_set && !t->rounded) {
			t->rounded = true;
			d->rounded++;
		}
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

/* Hand 'ts' to the scraper and make it the daemon's set. 0, or -1 (logged; the scraper keeps its old set). */
static int
set_targets(struct daemon *d, struct tset *ts)
{
	int64_t *active;
	char err[512];

	if (scrape_set_targets(d->sc, ts->t, ts->n, err, sizeof(err)) != 0) {
		log_err("scrape: cannot apply the target set: %s", err);
		return -1;
	}
	for (size_t i = 0; i < d->nset; i++) {
		d->reg.v[d->set_reg[i]].in_set = false;
		d->reg.v[d->set_reg[i]].rounded = false;
	}
	free(d->set_reg);
	d->set_reg = xcalloc(ts->n, sizeof(*d->set_reg));
	d->nset = ts->n;
	d->rounded = 0;
	for (size_t i = 0; i < ts->n; i++) {
		struct dtarget *t = &d->reg.v[ts->reg[i]];

		d->set_reg[i] = ts->reg[i];
		t->in_set = true;
		/* new targets and new labels reach the database before any scrape of them (one queue) */
		if (t->labels_json == NULL || strcmp(t->labels_json, ts->labels[i]) != 0) {
			free(t->labels_json);
			t->labels_json = ts->labels[i];
			ts->labels[i] = NULL;
			ingest_push_register(d->in, (int64_t)ts->reg[i] + 1, t->service, t->base_url,
			                     t->labels_json);
		}
	}
	active = xcalloc(d->nset, sizeof(*active));
	for (size_t i = 0; i < d->nset; i++)
		active[i] = (int64_t)d->set_reg[i] + 1;
	ingest_push_active(d->in, active, d->nset);
	free(active);
	return 0;
}

static void
reload(struct daemon *d)
{
	struct config *ncfg;
	struct targets_sd *nsd;
	struct cfgref *ref;
	struct tset ts;
	bool sd_failed;
	const struct config *old;

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
	if (tset_build(&ts, &d->reg, ncfg, nsd) != 0)
		goto out_free_sd;
	if (set_targets(d, &ts) != 0) {
		tset_release(&ts);
		goto out_free_sd;
	}
	tset_release(&ts);

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
	log_notice("daemon: configuration '%s' loaded: %zu targets, every %llu s", ncfg->source, d->nset,
	    (unsigned long long)ncfg->scrape_interval);
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
	struct tset ts;
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
	if (tset_build(&ts, &d->reg, d->cfg->cfg, d->sd) != 0)
		return;
	if (set_targets(d, &ts) == 0)
		log_notice("targets: target files changed: %zu targets", d->nset);
	tset_release(&ts);
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
	snprintf(buf, sizeof(buf), "%zu targets: %zu up, %zu down%s", d->nset, up, down,
	    ingest_failing(d->in) ? "; database refuses writes" : "");
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
	if (d->rounded < d->nset && now - d->last_rank_ms < interval)
		return;
	for (size_t i = 0; i < d->nset; i++)
		d->reg.v[d->set_reg[i]].rounded = false;
	d->rounded = 0;
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
	struct config *cfg;
	struct store *st;
	struct tset ts;
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
	if (tset_build(&ts, &d.reg, cfg, d.sd) != 0)
		goto out_free_scraper;
	r = set_targets(&d, &ts);
	tset_release(&ts);
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

	log_notice("daemon: leakprofd %s running: %zu targets every %llu s, database '%s', dashboard http://%s/",
	    LEAKPROFD_VERSION, d.nset, (unsigned long long)cfg->scrape_interval, cfg->database, cfg->listen);
	{
		char status[128];

		snprintf(status, sizeof(status), "%zu targets: 0 up, 0 down", d.nset);
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
	free(d.set_reg);
	reg_release(&d.reg);
	cfgref_put(d.cfg);
out_close_sigfd:
	close(d.sigfd);
out_free_opts:
	free(o.targets);
	if (ret == 0)
		log_notice("daemon: stopped");
	return ret;
}
