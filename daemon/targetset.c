/* daemon/targetset.c: the target registry and the mapping from a configuration plus its file_sd
 * target files to scrape targets (see targetset.h). The registry is an array of entries (an id is
 * index + 1) with an open-addressing index on (service, base URL); a dropped entry leaves a hole
 * that the next new target fills, lowest first, and holes at the end shrink the array. A plan owns
 * every string it made (profile URLs, secrets, header arrays) and borrows the rest from the
 * configuration and the target files it was built from. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/hash.h"
#include "base/log.h"
#include "base/secret.h"
#include "base/xalloc.h"
#include "daemon/targetset.h"

#define REG_MIN 64 /* entries and index slots allocated at least */

/* ---- The registry: the current set, and what the plan being built adds ---- */

struct entry {
	char *service; /* NULL: a free entry */
	char *base_url;
	char *labels_json; /* as last applied, a JSON object text; NULL: never applied */
	bool in_set;       /* in the current set */
	bool next;         /* in the set being applied (targetset_apply() only) */
	bool rounded;      /* a regular scrape finished in this round */
	unsigned failures; /* consecutive failures, as last noted */
	uint32_t mark;     /* the generation of the last plan that took it, to drop repeats */
};

struct targetset {
	struct entry *v; /* v[0, n): entries and free holes */
	size_t n, cap;
	size_t live;    /* entries in use */
	size_t *holes;  /* free indexes below n, the lowest last: the next one handed out */
	size_t nholes;  /* live + nholes == n; holes[] has room for cap indexes */
	uint32_t *slot; /* open addressing: index + 1, 0 empty */
	size_t nslot;   /* power of two */
	uint32_t generation;

	size_t *set; /* the current set: registry indexes, in plan order */
	size_t nset;
	size_t rounded; /* targets of the set with a regular scrape this round */
};

static uint64_t
reg_hash(const char *service, const char *url)
{
	return hash_fnv1a_str(hash_fnv1a_str(hash_fnv1a_str(HASH_FNV1A_INIT, service), "\n"), url);
}

static void
reg_rehash(struct targetset *r, size_t nslot)
{
	free(r->slot);
	r->slot = xcalloc(nslot, sizeof(*r->slot));
	r->nslot = nslot;
	for (size_t i = 0; i < r->n; i++) {
		size_t s;

		if (r->v[i].service == NULL)
			continue;
		s = reg_hash(r->v[i].service, r->v[i].base_url) & (nslot - 1);
		while (r->slot[s])
			s = (s + 1) & (nslot - 1);
		r->slot[s] = (uint32_t)i + 1;
	}
}

/* The index of (service, url), added when new: in the lowest hole, else at the end. */
static size_t
reg_get(struct targetset *r, const char *service, const char *url)
{
	size_t s, i;

	if (r->nslot == 0 || (r->live + 1) * 2 > r->nslot)
		reg_rehash(r, r->nslot ? r->nslot * 2 : REG_MIN);
	s = reg_hash(service, url) & (r->nslot - 1);
	while (r->slot[s]) {
		struct entry *t = &r->v[r->slot[s] - 1];

		if (strcmp(t->service, service) == 0 && strcmp(t->base_url, url) == 0)
			return r->slot[s] - 1;
		s = (s + 1) & (r->nslot - 1);
	}
	if (r->nholes > 0) {
		i = r->holes[--r->nholes];
	} else {
		if (r->n == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : REG_MIN;

			r->v = xrealloc(r->v, cap * sizeof(*r->v));
			r->holes = xrealloc(r->holes, cap * sizeof(*r->holes));
			r->cap = cap;
		}
		i = r->n++;
	}
	r->v[i] = (struct entry){.service = xstrdup(service), .base_url = xstrdup(url)};
	r->slot[s] = (uint32_t)i + 1;
	r->live++;
	return i;
}

/* Drop every entry that is not in the current set, then cut the holes at the end, list the others
 * (lowest last), and size the array and the index to what is left. */
static void
reg_prune(struct targetset *r)
{
	size_t nslot = REG_MIN;

	if (r->live == r->nset)
		return; /* the current set alone */
	for (size_t i = 0; i < r->n; i++) {
		struct entry *e = &r->v[i];

		if (e->service == NULL || e->in_set)
			continue;
		free(e->service);
		free(e->base_url);
		free(e->labels_json);
		*e = (struct entry){0};
		r->live--;
	}
	while (r->n > 0 && r->v[r->n - 1].service == NULL)
		r->n--;
	r->nholes = 0;
	for (size_t i = r->n; i-- > 0;)
		if (r->v[i].service == NULL)
			r->holes[r->nholes++] = i;
	/* A fleet that shrank for good gives its memory back; shrinking only at a quarter keeps a
	 * set that swings around one size from reallocating at every apply. */
	if (r->cap > REG_MIN && r->n < r->cap / 4) {
		size_t cap = r->n * 2 > REG_MIN ? r->n * 2 : REG_MIN;

		r->v = xrealloc(r->v, cap * sizeof(*r->v));
		r->holes = xrealloc(r->holes, cap * sizeof(*r->holes));
		r->cap = cap;
	}
	while (nslot < (r->live + 1) * 4)
		nslot *= 2;
	reg_rehash(r, nslot);
}

struct targetset *
targetset_new(void)
{
	return xcalloc(1, sizeof(struct targetset));
}

void
targetset_free(struct targetset *ts)
{
	if (ts == NULL)
		return;
	for (size_t i = 0; i < ts->n; i++) {
		free(ts->v[i].service);
		free(ts->v[i].base_url);
		free(ts->v[i].labels_json);
	}
	free(ts->v);
	free(ts->holes);
	free(ts->slot);
	free(ts->set);
	free(ts);
}

/* ---- A plan: the set built from a config (and the target files), for scrape_set_targets() ---- */

struct targetset_plan {
	struct scrape_target *t;
	size_t *reg;   /* registry index of each target */
	char **labels; /* labels JSON of each target (owned; NULL once applied) */
	size_t n, cap;
	char **strs; /* every other string the plan owns */
	size_t nstrs, capstrs;
	struct scrape_header **hdrs; /* header arrays the plan owns */
	size_t nhdrs;
};

static char *
plan_own(struct targetset_plan *p, char *s)
{
	if (p->nstrs == p->capstrs) {
		size_t cap = p->capstrs ? p->capstrs * 2 : 64;

		p->strs = xrealloc(p->strs, cap * sizeof(*p->strs));
		p->capstrs = cap;
	}
	p->strs[p->nstrs++] = s;
	return s;
}

void
targetset_plan_free(struct targetset_plan *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nstrs; i++)
		free(p->strs[i]);
	for (size_t i = 0; i < p->n; i++)
		free(p->labels[i]);
	for (size_t i = 0; i < p->nhdrs; i++)
		free(p->hdrs[i]);
	free(p->strs);
	free(p->hdrs);
	free(p->t);
	free(p->reg);
	free(p->labels);
	free(p);
}

const struct scrape_target *
targetset_plan_targets(const struct targetset_plan *p, size_t *n)
{
	*n = p->n;
	return p->t;
}

const char *
targetset_plan_labels(const struct targetset_plan *p, size_t i)
{
	return i < p->n ? p->labels[i] : NULL;
}

/* What the scraper needs of one service's settings, resolved once per service (secrets read). */
struct svc_settings {
	const struct config_service *svc; /* NULL: defaults (a file_sd service not in the config) */
	const char *path;
	enum profile_format format;
	unsigned detail_every;
	uint64_t detail_max_goroutines;
	const char *leak_path; /* NULL: no leak profile */
	uint64_t leak_interval;
	struct scrape_header *headers;
	size_t nheaders;
	const char *bearer;
	const char *basic_user;
	const char *basic_password;
};

static const char *
labels_to_json(const struct config_kv *kv, size_t n, const struct targets_label *tl, size_t ntl,
               char **out)
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

/* Resolve 'svc' (or the defaults when NULL): read its secret files. 0, or -1 with the problem
 * logged. */
static int
svc_resolve(struct targetset_plan *p, const struct config *cfg, const struct config_service *svc,
            struct svc_settings *out)
{
	char why[256];

	*out = (struct svc_settings){
	    .svc = svc,
	    .path = "/debug/pprof/goroutine",
	    .format = PROFILE_FORMAT_PROTO,
	    .detail_every = 10,
	    .detail_max_goroutines = 10000,
	    .leak_path = "/debug/pprof/goroutineleak",
	    .leak_interval = CONFIG_LEAK_INTERVAL_DEFAULT,
	};
	if (svc == NULL)
		return 0;
	/* A service scraping the leak profile already has nothing more to ask. */
	if (!svc->leak_profile.enabled || (svc->profile && strcmp(svc->profile, "goroutine") != 0))
		out->leak_path = NULL;
	else if (svc->leak_profile.path)
		out->leak_path = svc->leak_profile.path;
	out->leak_interval = svc->leak_profile.interval;
	if (svc->path)
		out->path = svc->path;
	out->format = svc->format;
	out->detail_every = svc->detail_every;
	out->detail_max_goroutines = svc->detail_max_goroutines;
	if (svc->nheaders) {
		struct scrape_header *h = xcalloc(svc->nheaders, sizeof(*h));

		p->hdrs = xrealloc(p->hdrs, (p->nhdrs + 1) * sizeof(*p->hdrs));
		p->hdrs[p->nhdrs++] = h;
		for (size_t i = 0; i < svc->nheaders; i++)
			h[i] = (struct scrape_header){svc->headers[i].key, svc->headers[i].value};
		out->headers = h;
		out->nheaders = svc->nheaders;
	}
	if (svc->bearer_token_file) {
		char *tok = secret_read(svc->bearer_token_file, why, sizeof(why));

		if (tok == NULL) {
			log_err("config: '%s': service '%s': cannot read bearer_token_file %s",
			        cfg->source, svc->name, why);
			return -1;
		}
		out->bearer = plan_own(p, tok);
	}
	if (svc->basic_auth.username) {
		out->basic_user = svc->basic_auth.username;
		out->basic_password = "";
		if (svc->basic_auth.password_file) {
			char *pw = secret_read(svc->basic_auth.password_file, why, sizeof(why));

			if (pw == NULL) {
				log_err("config: '%s': service '%s': cannot read "
				        "basic_auth.password_file %s",
				        cfg->source, svc->name, why);
				return -1;
			}
			out->basic_password = plan_own(p, pw);
		}
	}
	return 0;
}

/* Add one target to 'p' (steals 'labels_json'). 0; 1 when skipped (another shard's, or a repeat);
 * -1 on a bad URL (logged). */
static int
plan_add(struct targetset_plan *p, struct targetset *ts, const struct config *cfg,
         const struct svc_settings *ss, const char *service, const char *base, char *labels_json)
{
	struct scrape_target *t;
	size_t slot;
	char *url, *detail = NULL, *leak = NULL;
	const char *shard_key;

	/* A service stays whole on one daemon, unless it is configured to be split by target. */
	shard_key = ss->svc && ss->svc->shard_by == CONFIG_SHARD_BY_TARGET ? base : service;
	if (!targets_shard_keep(shard_key, cfg->shard_index, cfg->shard_count)) {
		free(labels_json);
		return 1;
	}
	url = targets_profile_url(base, ss->path, format_debug(ss->format));
	if (url == NULL) {
		log_err("config: '%s': service '%s': target '%s' is not an http or https URL",
		        cfg->source, service, base);
		free(labels_json);
		return -1;
	}
	slot = reg_get(ts, service, base);
	if (ts->v[slot].mark == ts->generation) {
		free(url);
		free(labels_json);
		return 1;
	}
	ts->v[slot].mark = ts->generation;
	if (ss->detail_every > 0 && ss->format != PROFILE_FORMAT_DEBUG2) {
		detail = targets_profile_url(base, ss->path, 2);
		if (detail)
			plan_own(p, detail);
	}
	if (ss->leak_path) {
		leak = targets_profile_url(base, ss->leak_path, format_debug(ss->format));
		if (leak)
			plan_own(p, leak);
	}
	plan_own(p, url);
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;

		p->t = xrealloc(p->t, cap * sizeof(*p->t));
		p->reg = xrealloc(p->reg, cap * sizeof(*p->reg));
		p->labels = xrealloc(p->labels, cap * sizeof(*p->labels));
		p->cap = cap;
	}
	t = &p->t[p->n];
	*t = (struct scrape_target){
	    .id = (int64_t)slot + 1,
	    .service = service,
	    .url = url,
	    .format = ss->format,
	    .detail_url = detail,
	    .detail_every = detail ? ss->detail_every : 0,
	    .detail_max_goroutines = ss->detail_max_goroutines,
	    /* debug=2 stops the target's world for the whole dump: give it room, but bounded */
	    .detail_timeout_ms = cfg->scrape_timeout * 1000 * 3,
	    .leak_url = leak,
	    .leak_interval_ms = ss->leak_interval * 1000,
	    /* a garbage collection cycle over every goroutine, then the profile: as a detail scrape
	     */
	    .leak_timeout_ms = cfg->scrape_timeout * 1000 * 3,
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
	p->reg[p->n] = slot;
	p->labels[p->n] = labels_json;
	p->n++;
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

struct targetset_plan *
targetset_build(struct targetset *ts, const struct config *cfg, const struct targets_sd *sd)
{
	struct targetset_plan *p = xcalloc(1, sizeof(*p));
	int ret = 0;

	/* What an earlier plan added and nobody applied: its targets were never scraped. */
	reg_prune(ts);
	ts->generation++;
	for (size_t i = 0; i < cfg->nservices; i++) {
		const struct config_service *svc = &cfg->services[i];
		struct svc_settings ss;
		char *labels;
		const char *why;

		if (svc_resolve(p, cfg, svc, &ss) != 0) {
			ret = -1;
			continue;
		}
		for (size_t j = 0; j < svc->ntargets; j++) {
			why = labels_to_json(svc->labels, svc->nlabels, NULL, 0, &labels);
			if (why) {
				log_err("daemon: labels of service '%s': %s", svc->name, why);
				abort();
			}
			if (plan_add(p, ts, cfg, &ss, svc->name, svc->targets[j], labels) < 0)
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

			if (svc_resolve(p, cfg, svc, &ss) != 0) {
				ret = -1;
				continue;
			}
			why = labels_to_json(svc ? svc->labels : NULL, svc ? svc->nlabels : 0,
			                     e[i].labels, e[i].nlabels, &labels);
			if (why) {
				log_err("daemon: labels of service '%s': %s", e[i].service, why);
				abort();
			}
			if (plan_add(p, ts, cfg, &ss, e[i].service, e[i].base_url, labels) < 0)
				ret = -1;
		}
	}
	if (ret != 0) {
		targetset_plan_free(p);
		return NULL;
	}
	return p;
}

/* ---- Applying a plan ---- */

void
targetset_diff_release(struct targetset_diff *diff)
{
	free(diff->active);
	free(diff->added);
	free(diff->kept);
	free(diff->removed);
	free(diff->changed);
	*diff = (struct targetset_diff){0};
}

void
targetset_apply(struct targetset *ts, struct targetset_plan *p, struct targetset_diff *diff)
{
	*diff = (struct targetset_diff){
	    .active = xcalloc(p->n, sizeof(int64_t)),
	    .added = xcalloc(p->n, sizeof(int64_t)),
	    .kept = xcalloc(p->n, sizeof(int64_t)),
	    .removed = xcalloc(ts->nset, sizeof(int64_t)),
	    .changed = xcalloc(p->n, sizeof(int64_t)),
	};
	for (size_t i = 0; i < p->n; i++) {
		struct entry *e = &ts->v[p->reg[i]];
		int64_t id = (int64_t)p->reg[i] + 1;

		diff->active[diff->nactive++] = id;
		if (e->in_set)
			diff->kept[diff->nkept++] = id;
		else
			diff->added[diff->nadded++] = id;
		e->next = true;
	}
	for (size_t i = 0; i < ts->nset; i++) {
		struct entry *e = &ts->v[ts->set[i]];

		e->rounded = false;
		if (!e->next) {
			diff->removed[diff->nremoved++] = (int64_t)ts->set[i] + 1;
			e->in_set = false;
		}
	}
	free(ts->set);
	ts->set = xcalloc(p->n, sizeof(*ts->set));
	ts->nset = p->n;
	ts->rounded = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct entry *e = &ts->v[p->reg[i]];
		bool relabelled = e->labels_json && strcmp(e->labels_json, p->labels[i]) != 0;

		ts->set[i] = p->reg[i];
		/* in_set: kept. Back in the set after it left, the database may have deleted it:
		 * registered again, as a new target is. */
		if (!e->in_set || relabelled) {
			free(e->labels_json);
			e->labels_json = p->labels[i];
			p->labels[i] = NULL;
			diff->changed[diff->nchanged++] = (int64_t)p->reg[i] + 1;
		}
		e->next = false;
		e->in_set = true;
	}
	/* The removed targets, and those of plans never applied, leave the registry. */
	reg_prune(ts);
}

bool
targetset_get(const struct targetset *ts, int64_t id, struct targetset_target *out)
{
	const struct entry *e;

	if (id <= 0 || (uint64_t)id > ts->n || ts->v[id - 1].service == NULL)
		return false;
	e = &ts->v[id - 1];
	*out = (struct targetset_target){
	    .id = id,
	    .service = e->service,
	    .base_url = e->base_url,
	    .labels_json = e->labels_json,
	    .in_set = e->in_set,
	};
	return true;
}

size_t
targetset_count(const struct targetset *ts)
{
	return ts->nset;
}

size_t
targetset_size(const struct targetset *ts)
{
	return ts->live;
}

int64_t
targetset_max_id(const struct targetset *ts)
{
	return (int64_t)ts->n;
}

/* ---- Scrape rounds ---- */

unsigned
targetset_note_scrape(struct targetset *ts, int64_t id, unsigned failures)
{
	struct entry *e;
	unsigned before;

	if (id <= 0 || (uint64_t)id > ts->n || ts->v[id - 1].service == NULL)
		return 0;
	e = &ts->v[id - 1];
	before = e->failures;
	e->failures = failures;
	if (e->in_set && !e->rounded) {
		e->rounded = true;
		ts->rounded++;
	}
	return before;
}

size_t
targetset_rounded(const struct targetset *ts)
{
	return ts->rounded;
}

void
targetset_round_reset(struct targetset *ts)
{
	for (size_t i = 0; i < ts->nset; i++)
		ts->v[ts->set[i]].rounded = false;
	ts->rounded = 0;
}
