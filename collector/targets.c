/* collector/targets.c: Prometheus file_sd discovery, profile URLs and sharding.
 *
 * Each watched file remembers the identity (device, inode, size, mtime) of its last read and the
 * targets of its last good read, so an unchanged file costs one stat(2) per refresh, and a
 * half-written or broken file never empties a fleet: its old targets stay until a good version
 * appears. The merged list is compared through a content hash to tell the caller whether anything
 * changed. */
#include "base/clock.h"
#include "base/url.h"
#include "base/xalloc.h"
#include "base/hash.h"
#include "collector/discovery.h"
#include "collector/targets.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define MAX_FILE_BYTES (16u << 20) /* a file_sd file larger than this is an error */
#define MAX_LABELS 64              /* per group */
#define MAX_STRING 4096            /* one target address or label value */

struct sd_file {
	char *path;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	bool stat_known;               /* identity above is of the last read (good or broken) */
	int open_errno;                /* of the last failed open, reported once */
	int64_t checked_ms, read_ms;   /* wall: the last check, the last good read; 0: none */
	char *error;                   /* why the last read failed, NULL: it did not */
	struct targets_entry *entries; /* of the last good read */
	size_t n;
};

struct targets_sd {
	char **globs;
	size_t nglobs;
	struct sd_file *files; /* glob order, then name order */
	size_t nfiles;
	struct targets_entry *list; /* merged, deduplicated; shallow copies of the files' entries */
	size_t nlist;
	uint64_t list_hash;
	bool listed;            /* a refresh has run */
	struct discovery *disc; /* http_sd and dns_sd; NULL: none */
};

/* --- errors ----------------------------------------------------------------------------------- */

void
targets_errors_add(struct targets_errors *errs, const char *f, ...)
{
	char buf[512];
	char **nm;
	va_list ap;

	if (!errs)
		return;
	va_start(ap, f);
	if (vsnprintf(buf, sizeof(buf), f, ap) < 0)
		buf[0] = '\0';
	va_end(ap);
	nm = realloc(errs->msgs, (errs->n + 1) * sizeof(*nm));
	if (!nm)
		return;
	errs->msgs = nm;
	nm[errs->n] = strdup(buf);
	if (nm[errs->n])
		errs->n++;
}

void
targets_errors_release(struct targets_errors *errs)
{
	size_t i;

	if (!errs)
		return;
	for (i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->n = 0;
}

/* --- hashing, sharding, URLs ------------------------------------------------------------------ */

uint64_t
targets_hash(const char *s)
{
	return hash_fnv1a_str(HASH_FNV1A_INIT, s);
}

/* Jump consistent hash: a walk over the buckets the key would move to as the count grows, each
 * jump drawn from a linear congruential sequence seeded by the key; the last bucket below 'count'
 * is the key's. The FNV-1a hash is mixed first: the walk's first draw uses the high bits, which
 * FNV-1a leaves alike for names that differ only in their last bytes ("svc-1", "svc-2"). */
unsigned
targets_shard_of(const char *key, unsigned count)
{
	uint64_t k = hash_mix64(targets_hash(key));
	int64_t b = -1, j = 0;

	if (count <= 1)
		return 0;
	while (j < (int64_t)count) {
		b = j;
		k = k * 2862933555777941757ULL + 1;
		j = (int64_t)((double)(b + 1) * ((double)(1LL << 31) / (double)((k >> 33) + 1)));
	}
	return (unsigned)b;
}

bool
targets_shard_keep(const char *key, unsigned index, unsigned count)
{
	return targets_shard_of(key, count) == (count <= 1 ? 0 : index);
}

static bool
is_debug_param(const char *p, size_t n)
{
	return (n >= 6 && strncmp(p, "debug=", 6) == 0) || (n == 5 && strncmp(p, "debug", 5) == 0);
}

char *
targets_profile_url(const char *base, const char *path, int debug)
{
	const char *hoststart, *rest, *q, *end;
	size_t hostlen, pathlen, qlen, cap, pos = 0;
	bool have_query = false;
	const char *p;
	char *out;

	if (!base || debug < -1 || debug > 2)
		return NULL;
	if (url_scheme_len(base) == 0)
		return NULL;
	hoststart = base + url_scheme_len(base);
	if (strpbrk(base, " \t\r\n"))
		return NULL;
	rest = hoststart + strcspn(hoststart, "/?#");
	if (rest == hoststart)
		return NULL; /* no host */
	end = rest + strcspn(rest, "#");
	q = rest + strcspn(rest, "?#");
	pathlen = (size_t)(q - rest);
	if (pathlen == 0 || (pathlen == 1 && rest[0] == '/')) {
		/* A base URL: append the profile path. */
		rest = path ? path : "/debug/pprof/goroutine";
		pathlen = strlen(rest);
	}
	hostlen = (size_t)(hoststart + strcspn(hoststart, "/?#") - base);
	qlen = *q == '?' ? (size_t)(end - q - 1) : 0;
	cap = hostlen + 1 + pathlen + 1 + qlen + 1 + sizeof("debug=N") + 1;
	out = malloc(cap);
	if (!out)
		return NULL;
	memcpy(out, base, hostlen);
	pos = hostlen;
	if (rest[0] != '/')
		out[pos++] = '/';
	memcpy(out + pos, rest, pathlen);
	pos += pathlen;
	/* Keep every query parameter except debug, then add ours. */
	if (*q == '?') {
		p = q + 1;
		while (p < end) {
			size_t n = strcspn(p, "&#");

			if ((size_t)(end - p) < n)
				n = (size_t)(end - p);
			if (n > 0 && !(debug >= 0 && is_debug_param(p, n))) {
				out[pos++] = have_query ? '&' : '?';
				have_query = true;
				memcpy(out + pos, p, n);
				pos += n;
			}
			p += n;
			if (p < end && *p == '&')
				p++;
		}
	}
	if (debug >= 0) {
		out[pos++] = have_query ? '&' : '?';
		memcpy(out + pos, "debug=", 6);
		pos += 6;
		out[pos++] = (char)('0' + debug);
	}
	out[pos] = '\0';
	return out;
}

/* --- parsing one document --------------------------------------------------------------------- */

static void
entry_release(struct targets_entry *e)
{
	size_t i;

	for (i = 0; i < e->nlabels; i++) {
		free(e->labels[i].name);
		free(e->labels[i].value);
	}
	free(e->labels);
	free(e->service);
	free(e->base_url);
}

void
targets_entries_free(struct targets_entry *entries, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		entry_release(&entries[i]);
	free(entries);
}

/* A group being built: its labels, then one entry per target address. */
struct group {
	struct targets_label labels[MAX_LABELS];
	size_t nlabels;
	char *scheme; /* __scheme__, borrowed from labels or NULL */
	const char *service;
};

struct doc {
	const char *name;
	struct targets_errors *errs;
	int nerr;
	struct targets_entry *out;
	size_t nout;
	size_t capout;
};

static void doc_err(struct doc *d, size_t line, const char *f, ...)
    __attribute__((format(printf, 3, 4)));

static void
doc_err(struct doc *d, size_t line, const char *f, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, f);
	if (vsnprintf(buf, sizeof(buf), f, ap) < 0)
		buf[0] = '\0';
	va_end(ap);
	if (line)
		targets_errors_add(d->errs, "%s:%zu: %s", d->name, line, buf);
	else
		targets_errors_add(d->errs, "%s: %s", d->name, buf);
	d->nerr++;
}

static bool
label_name_ok(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

static bool
string_ok(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return n <= MAX_STRING;
}

static void
group_release(struct group *g)
{
	size_t i;

	for (i = 0; i < g->nlabels; i++) {
		free(g->labels[i].name);
		free(g->labels[i].value);
	}
	memset(g, 0, sizeof(*g));
}

static void
group_add_label(struct doc *d, struct group *g, size_t line, const char *name, const char *value)
{
	size_t i;

	if (!label_name_ok(name)) {
		doc_err(d, line, "invalid label name '%.64s'", name);
		return;
	}
	if (!string_ok(value)) {
		doc_err(d, line, "label '%s': value has control characters or is too long", name);
		return;
	}
	for (i = 0; i < g->nlabels; i++) {
		if (strcmp(g->labels[i].name, name) == 0) {
			doc_err(d, line, "label '%s' given twice", name);
			return;
		}
	}
	if (g->nlabels == MAX_LABELS) {
		doc_err(d, line, "more than %d labels in one group", MAX_LABELS);
		return;
	}
	g->labels[g->nlabels].name = strdup(name);
	g->labels[g->nlabels].value = strdup(value);
	if (!g->labels[g->nlabels].name || !g->labels[g->nlabels].value) {
		free(g->labels[g->nlabels].name);
		free(g->labels[g->nlabels].value);
		doc_err(d, line, "out of memory");
		return;
	}
	g->nlabels++;
}

/* After the labels: find the service and scheme. 0, or -1 (error reported). */
static int
group_finish_labels(struct doc *d, struct group *g, size_t line, size_t gi)
{
	const char *job = NULL;
	size_t i;

	for (i = 0; i < g->nlabels; i++) {
		if (strcmp(g->labels[i].name, "service") == 0)
			g->service = g->labels[i].value;
		else if (strcmp(g->labels[i].name, "job") == 0)
			job = g->labels[i].value;
		else if (strcmp(g->labels[i].name, "__scheme__") == 0)
			g->scheme = g->labels[i].value;
	}
	if (!g->service)
		g->service = job;
	if (!g->service || !g->service[0]) {
		doc_err(d, line, "group %zu: has neither a 'service' nor a 'job' label", gi + 1);
		return -1;
	}
	if (g->scheme && strcmp(g->scheme, "http") != 0 && strcmp(g->scheme, "https") != 0) {
		doc_err(d, line,
		        "group %zu: label '__scheme__': '%.32s' is neither 'http' nor 'https'",
		        gi + 1, g->scheme);
		return -1;
	}
	return 0;
}

static void
group_add_target(struct doc *d, struct group *g, size_t line, const char *addr)
{
	struct targets_entry *e;
	size_t i, n, k;
	char *url;

	if (!addr[0] || !string_ok(addr) || strpbrk(addr, " \t")) {
		doc_err(d, line, "invalid target '%.64s'", addr);
		return;
	}
	if (strstr(addr, "://")) {
		const char *why = url_problem(addr);

		if (why != NULL) {
			doc_err(d, line, "target '%.64s' is not an http or https URL: %s", addr,
			        why);
			return;
		}
		url = strdup(addr);
	} else {
		const char *scheme = g->scheme ? g->scheme : "http";

		if (strpbrk(addr, "/?#@")) {
			doc_err(d, line, "target '%.64s' is not host:port", addr);
			return;
		}
		n = strlen(scheme) + 3 + strlen(addr) + 1;
		url = malloc(n);
		if (url)
			snprintf(url, n, "%s://%s", scheme, addr);
	}
	if (!url)
		goto out_nomem;
	if (d->nout == d->capout) {
		size_t cap = d->capout ? d->capout * 2 : 16;
		struct targets_entry *ne = realloc(d->out, cap * sizeof(*ne));

		if (!ne) {
			free(url);
			goto out_nomem;
		}
		d->out = ne;
		d->capout = cap;
	}
	e = &d->out[d->nout];
	memset(e, 0, sizeof(*e));
	e->base_url = url;
	e->file = d->name;
	e->service = strdup(g->service);
	for (i = 0, n = 0; i < g->nlabels; i++)
		if (strncmp(g->labels[i].name, "__", 2) != 0)
			n++;
	e->labels = calloc(n ? n : 1, sizeof(*e->labels));
	if (!e->service || !e->labels)
		goto out_entry;
	for (i = 0, k = 0; i < g->nlabels; i++) {
		if (strncmp(g->labels[i].name, "__", 2) == 0)
			continue;
		e->labels[k].name = strdup(g->labels[i].name);
		e->labels[k].value = strdup(g->labels[i].value);
		e->nlabels = ++k;
		if (!e->labels[k - 1].name || !e->labels[k - 1].value)
			goto out_entry;
	}
	d->nout++;
	return;

out_entry:
	entry_release(e);
out_nomem:
	doc_err(d, line, "out of memory");
}

/* JSON ----------------------------------------------------------------------------------------- */

static void
parse_json(struct doc *d, const char *buf, size_t len)
{
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	size_t gi;
	json_t *grp;

	if (!root) {
		doc_err(d, (size_t)(jerr.line > 0 ? jerr.line : 0), "invalid JSON: %s", jerr.text);
		return;
	}
	if (!json_is_array(root)) {
		doc_err(d, 0, "expected a JSON array of target groups");
		goto out_decref;
	}
	json_array_foreach(root, gi, grp)
	{
		struct group g;
		const char *key;
		json_t *val, *targets = NULL, *labels = NULL;
		size_t ti;
		json_t *tv;

		memset(&g, 0, sizeof(g));
		if (!json_is_object(grp)) {
			doc_err(d, 0, "group %zu: expected an object", gi + 1);
			continue;
		}
		json_object_foreach(grp, key, val)
		{
			if (strcmp(key, "targets") == 0)
				targets = val;
			else if (strcmp(key, "labels") == 0)
				labels = val;
			else
				doc_err(d, 0, "group %zu: unknown key '%.64s'", gi + 1, key);
		}
		if (!targets || !json_is_array(targets)) {
			doc_err(d, 0, "group %zu: 'targets' must be an array of strings", gi + 1);
			continue;
		}
		if (labels && !json_is_null(labels)) {
			if (!json_is_object(labels)) {
				doc_err(d, 0, "group %zu: 'labels' must be an object of strings",
				        gi + 1);
				continue;
			}
			json_object_foreach(labels, key, val)
			{
				if (!json_is_string(val)) {
					doc_err(d, 0, "group %zu: label '%.64s' must be a string",
					        gi + 1, key);
					continue;
				}
				group_add_label(d, &g, 0, key, json_string_value(val));
			}
		}
		if (json_array_size(targets) > 0 && group_finish_labels(d, &g, 0, gi) != 0) {
			group_release(&g);
			continue;
		}
		json_array_foreach(targets, ti, tv)
		{
			if (!json_is_string(tv))
				doc_err(d, 0, "group %zu: target %zu must be a string", gi + 1,
				        ti + 1);
			else
				group_add_target(d, &g, 0, json_string_value(tv));
		}
		group_release(&g);
	}
out_decref:
	json_decref(root);
}

/* YAML ----------------------------------------------------------------------------------------- */

static size_t
yline(const yaml_node_t *n)
{
	return n->start_mark.line + 1;
}

static const char *
yscalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A plain null/empty scalar ("", "~", "null") as YAML means "nothing". */
static bool
ynull(yaml_node_t *n)
{
	const char *s = yscalar(n);

	return s && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!s[0] || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
	        strcmp(s, "NULL") == 0);
}

static void
parse_yaml_group(struct doc *d, yaml_document_t *doc, yaml_node_t *grp, size_t gi)
{
	yaml_node_pair_t *pair;
	yaml_node_t *targets = NULL, *labels = NULL;
	yaml_node_item_t *it;
	struct group g;

	memset(&g, 0, sizeof(g));
	if (grp->type != YAML_MAPPING_NODE) {
		doc_err(d, yline(grp), "group %zu: expected a mapping with 'targets' and 'labels'",
		        gi + 1);
		return;
	}
	for (pair = grp->data.mapping.pairs.start; pair < grp->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(doc, pair->key);
		yaml_node_t *v = yaml_document_get_node(doc, pair->value);
		const char *key = yscalar(k);

		if (!key || !v) {
			doc_err(d, k ? yline(k) : 0, "group %zu: keys must be strings", gi + 1);
		} else if (strcmp(key, "targets") == 0) {
			targets = v;
		} else if (strcmp(key, "labels") == 0) {
			labels = v;
		} else {
			doc_err(d, yline(k), "group %zu: unknown key '%.64s'", gi + 1, key);
		}
	}
	if (!targets || targets->type != YAML_SEQUENCE_NODE) {
		doc_err(d, targets ? yline(targets) : yline(grp),
		        "group %zu: 'targets' must be a list of strings", gi + 1);
		return;
	}
	if (labels && !ynull(labels)) {
		if (labels->type != YAML_MAPPING_NODE) {
			doc_err(d, yline(labels),
			        "group %zu: 'labels' must be a mapping of strings", gi + 1);
			return;
		}
		for (pair = labels->data.mapping.pairs.start; pair < labels->data.mapping.pairs.top;
		     pair++) {
			yaml_node_t *k = yaml_document_get_node(doc, pair->key);
			yaml_node_t *v = yaml_document_get_node(doc, pair->value);

			if (!yscalar(k) || !yscalar(v)) {
				doc_err(d, k ? yline(k) : yline(labels),
				        "group %zu: labels must be strings", gi + 1);
				continue;
			}
			group_add_label(d, &g, yline(k), yscalar(k), yscalar(v));
		}
	}
	/* A group without targets needs no service (Prometheus accepts empty groups). */
	if (targets->data.sequence.items.top > targets->data.sequence.items.start &&
	    group_finish_labels(d, &g, yline(grp), gi) != 0) {
		group_release(&g);
		return;
	}
	for (it = targets->data.sequence.items.start; it < targets->data.sequence.items.top; it++) {
		yaml_node_t *t = yaml_document_get_node(doc, *it);

		if (!yscalar(t))
			doc_err(d, t ? yline(t) : yline(targets),
			        "group %zu: targets must be strings", gi + 1);
		else
			group_add_target(d, &g, yline(t), yscalar(t));
	}
	group_release(&g);
}

static void
parse_yaml(struct doc *d, const char *buf, size_t len)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	yaml_node_item_t *it;
	size_t gi = 0;

	if (!yaml_parser_initialize(&parser)) {
		doc_err(d, 0, "out of memory");
		return;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		doc_err(d, parser.problem_mark.line + 1, "invalid YAML: %s%s%s",
		        parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
		        parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root || ynull(root))
		goto out_delete; /* an empty file: no targets */
	if (root->type != YAML_SEQUENCE_NODE) {
		doc_err(d, yline(root), "expected a list of target groups");
		goto out_delete;
	}
	for (it = root->data.sequence.items.start; it < root->data.sequence.items.top; it++, gi++) {
		yaml_node_t *grp = yaml_document_get_node(&doc, *it);

		if (grp)
			parse_yaml_group(d, &doc, grp, gi);
	}
out_delete:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Hand the document's targets to the caller: appended to *out, or freed when it had errors. */
static int
doc_finish(struct doc *d, struct targets_entry **out, size_t *nout)
{
	if (d->nerr > 0) {
		targets_entries_free(d->out, d->nout);
		return -1;
	}
	if (d->nout > 0) {
		struct targets_entry *ne = realloc(*out, (*nout + d->nout) * sizeof(*ne));

		if (!ne) {
			targets_entries_free(d->out, d->nout);
			targets_errors_add(d->errs, "%s: out of memory", d->name);
			return -1;
		}
		memcpy(ne + *nout, d->out, d->nout * sizeof(*ne));
		*out = ne;
		*nout += d->nout;
	}
	free(d->out);
	return 0;
}

static int
parse_sd(const char *name, const char *buf, size_t len, bool json_only, struct targets_entry **out,
         size_t *nout, struct targets_errors *errs)
{
	struct doc d = {.name = name, .errs = errs};
	size_t i = 0;
	bool json;

	while (i < len && isspace((unsigned char)buf[i]))
		i++;
	if (memchr(buf, '\0', len)) {
		doc_err(&d, 0, "binary content (a NUL byte)");
		return -1;
	}
	if (json_only)
		json = true;
	else if (ends_with(name, ".json"))
		json = true;
	else if (ends_with(name, ".yml") || ends_with(name, ".yaml"))
		json = false;
	else
		json = i < len && (buf[i] == '[' || buf[i] == '{');
	if (json && i == len && !json_only)
		json = false; /* an empty .json file: no targets, as for YAML */
	if (json)
		parse_json(&d, buf, len);
	else
		parse_yaml(&d, buf, len);
	return doc_finish(&d, out, nout);
}

int
targets_parse_file_sd(const char *name, const char *buf, size_t len, struct targets_entry **out,
                      size_t *nout, struct targets_errors *errs)
{
	return parse_sd(name, buf, len, false, out, nout, errs);
}

int
targets_parse_json_sd(const char *name, const char *buf, size_t len, struct targets_entry **out,
                      size_t *nout, struct targets_errors *errs)
{
	return parse_sd(name, buf, len, true, out, nout, errs);
}

int
targets_group_entries(const char *name, const char *const *addrs, size_t naddrs,
                      const struct targets_label *labels, size_t nlabels,
                      struct targets_entry **out, size_t *nout, struct targets_errors *errs)
{
	struct doc d = {.name = name, .errs = errs};
	struct group g;

	memset(&g, 0, sizeof(g));
	for (size_t i = 0; i < nlabels; i++)
		group_add_label(&d, &g, 0, labels[i].name, labels[i].value);
	if (d.nerr == 0 && naddrs > 0 && group_finish_labels(&d, &g, 0, 0) == 0) {
		for (size_t i = 0; i < naddrs; i++)
			group_add_target(&d, &g, 0, addrs[i]);
	}
	group_release(&g);
	return doc_finish(&d, out, nout);
}

/* --- the watcher ------------------------------------------------------------------------------ */

struct targets_sd *
targets_sd_new(const char *const *globs, size_t nglobs)
{
	struct targets_sd *sd = calloc(1, sizeof(*sd));
	size_t i;

	if (!sd)
		return NULL;
	sd->globs = calloc(nglobs ? nglobs : 1, sizeof(*sd->globs));
	if (!sd->globs)
		goto out_free;
	for (i = 0; i < nglobs; i++) {
		sd->globs[i] = strdup(globs[i]);
		if (!sd->globs[i])
			goto out_free;
		sd->nglobs++;
	}
	return sd;

out_free:
	targets_sd_free(sd);
	return NULL;
}

static void
file_release(struct sd_file *f)
{
	targets_entries_free(f->entries, f->n);
	free(f->path);
	free(f->error);
}

void
targets_sd_free(struct targets_sd *sd)
{
	size_t i;

	if (!sd)
		return;
	for (i = 0; i < sd->nglobs; i++)
		free(sd->globs[i]);
	free(sd->globs);
	for (i = 0; i < sd->nfiles; i++)
		file_release(&sd->files[i]);
	free(sd->files);
	free(sd->list);
	discovery_stop(sd->disc);
	free(sd);
}

struct targets_sd *
targets_sd_open(const struct config *cfg, const struct targets_sd *prev, bool wait)
{
	struct targets_sd *sd =
	    targets_sd_new((const char *const *)cfg->target_files, cfg->ntarget_files);

	if (!sd || cfg->nhttp_sd + cfg->ndns_sd == 0)
		return sd;
	sd->disc = discovery_start(cfg, prev ? prev->disc : NULL, wait);
	if (!sd->disc) {
		targets_sd_free(sd);
		return NULL;
	}
	return sd;
}

bool
targets_sd_pending(const struct targets_sd *sd)
{
	return sd && discovery_pending(sd->disc);
}

static void file_read(struct sd_file *f, struct targets_errors *errs);

/* Read 'f' if it changed since its last read. Errors leave its entries as they were and are kept
 * in f->error (the first three, joined) until a read succeeds. */
static void
file_refresh(struct sd_file *f, struct targets_errors *errs)
{
	struct targets_errors mine = {0};
	char buf[1024];
	size_t len = 0;

	f->checked_ms = clock_wall_ms();
	file_read(f, &mine);
	if (mine.n == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < mine.n; i++) {
		if (i < 3 && len < sizeof(buf))
			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "; " : "",
			                        mine.msgs[i]);
		targets_errors_add(errs, "%s", mine.msgs[i]);
	}
	free(f->error);
	f->error = strdup(buf);
	targets_errors_release(&mine);
}

static void
file_read(struct sd_file *f, struct targets_errors *errs)
{
	struct targets_entry *entries = NULL;
	size_t n = 0, len = 0;
	struct stat st;
	char *buf = NULL;
	int fd;

	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		/* Reported once per distinct failure, not at every refresh; the old targets stay.
		 */
		if (errno != f->open_errno)
			targets_errors_add(errs, "%s: cannot open: %s", f->path, strerror(errno));
		f->open_errno = errno;
		f->stat_known = false;
		return;
	}
	f->open_errno = 0;
	if (fstat(fd, &st) != 0) {
		targets_errors_add(errs, "%s: cannot stat: %s", f->path, strerror(errno));
		goto out_close;
	}
	if (f->stat_known && st.st_dev == f->dev && st.st_ino == f->ino && st.st_size == f->size &&
	    st.st_mtim.tv_sec == f->mtime.tv_sec && st.st_mtim.tv_nsec == f->mtime.tv_nsec)
		goto out_close;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	f->stat_known = true;
	if (!S_ISREG(st.st_mode)) {
		targets_errors_add(errs, "%s: not a regular file", f->path);
		goto out_close;
	}
	if (st.st_size > (off_t)MAX_FILE_BYTES) {
		targets_errors_add(errs, "%s: larger than %u bytes", f->path, MAX_FILE_BYTES);
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		targets_errors_add(errs, "%s: out of memory", f->path);
		goto out_close;
	}
	while (len < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			targets_errors_add(errs, "%s: cannot read: %s", f->path, strerror(errno));
			goto out_free;
		}
		if (r == 0)
			break; /* truncated under us: parse what there is; a rewrite changes mtime
			        */
		len += (size_t)r;
	}
	buf[len] = '\0';
	if (targets_parse_file_sd(f->path, buf, len, &entries, &n, errs) != 0) {
		targets_errors_add(errs, "%s: keeping the %zu targets of its last good read",
		                   f->path, f->n);
		goto out_free;
	}
	targets_entries_free(f->entries, f->n);
	f->entries = entries;
	f->n = n;
	f->read_ms = f->checked_ms;
	free(f->error);
	f->error = NULL;
out_free:
	free(buf);
out_close:
	close(fd);
}

static int
path_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct idx_key {
	const struct targets_entry *e;
	size_t pos;
};

static int
idx_cmp(const void *a, const void *b)
{
	const struct idx_key *x = a, *y = b;
	int c = strcmp(x->e->service, y->e->service);

	if (!c)
		c = strcmp(x->e->base_url, y->e->base_url);
	if (!c)
		c = x->pos < y->pos ? -1 : x->pos > y->pos;
	return c;
}

/* Continue the content hash 'h' over one entry: service, base URL, labels. */
static uint64_t
entry_hash(uint64_t h, const struct targets_entry *e)
{
	h = hash_fnv1a_str(hash_fnv1a_str(hash_fnv1a_str(h, e->service), "\n"), e->base_url);
	for (size_t l = 0; l < e->nlabels; l++)
		h = hash_fnv1a_str(
		    hash_fnv1a_str(hash_fnv1a_str(hash_fnv1a_str(h, "\n"), e->labels[l].name), "="),
		    e->labels[l].value);
	return hash_fnv1a_str(h, "\n\n");
}

uint64_t
targets_entries_hash(const struct targets_entry *entries, size_t n)
{
	uint64_t h = HASH_FNV1A_INIT;

	for (size_t i = 0; i < n; i++)
		h = entry_hash(h, &entries[i]);
	return hash_fnv1a(h, &n, sizeof(n));
}

/* One list to merge: a file's entries or a discovery source's. */
struct segment {
	const struct targets_entry *e;
	size_t n;
};

/* Merge every file's entries (in file order), then every discovery source's, dropping later
 * duplicates. */
static int
rebuild_list(struct targets_sd *sd)
{
	size_t nseg = sd->nfiles + discovery_count(sd->disc);
	struct segment *seg = calloc(nseg ? nseg : 1, sizeof(*seg));
	struct targets_entry *all;
	struct idx_key *keys;
	bool *dup;
	size_t i, j, total = 0, k = 0;
	uint64_t h = HASH_FNV1A_INIT;

	if (!seg)
		return -1;
	for (i = 0; i < sd->nfiles; i++)
		seg[i] = (struct segment){sd->files[i].entries, sd->files[i].n};
	for (i = sd->nfiles; i < nseg; i++)
		seg[i].e = discovery_list(sd->disc, i - sd->nfiles, &seg[i].n);
	for (i = 0; i < nseg; i++)
		total += seg[i].n;
	all = calloc(total ? total : 1, sizeof(*all));
	keys = calloc(total ? total : 1, sizeof(*keys));
	dup = calloc(total ? total : 1, sizeof(*dup));
	if (!all || !keys || !dup) {
		free(all);
		free(keys);
		free(dup);
		free(seg);
		return -1;
	}
	for (i = 0; i < nseg; i++)
		for (j = 0; j < seg[i].n; j++, k++)
			keys[k] = (struct idx_key){.e = &seg[i].e[j], .pos = k};
	qsort(keys, total, sizeof(*keys), idx_cmp);
	for (i = 1; i < total; i++)
		if (strcmp(keys[i].e->service, keys[i - 1].e->service) == 0 &&
		    strcmp(keys[i].e->base_url, keys[i - 1].e->base_url) == 0)
			dup[keys[i].pos] = true;
	for (i = 0, k = 0, j = 0; i < nseg; i++) {
		size_t m;

		for (m = 0; m < seg[i].n; m++, k++) {
			if (dup[k])
				continue;
			all[j++] = seg[i].e[m];
			h = entry_hash(h, &seg[i].e[m]);
		}
	}
	free(keys);
	free(dup);
	free(seg);
	free(sd->list);
	sd->list = all;
	sd->nlist = j;
	sd->list_hash = hash_fnv1a(h, &j, sizeof(j));
	return 0;
}

int
targets_sd_refresh(struct targets_sd *sd, bool *changed, struct targets_errors *errs)
{
	struct sd_file *files = NULL;
	size_t nfiles = 0, cap = 0, i, j, nerr0 = errs ? errs->n : 0;
	uint64_t old_hash = sd->list_hash;
	bool had_list = sd->listed;
	int problems = 0;

	if (changed)
		*changed = false;
	/* Expand every glob; a path matched twice is watched once (at its first place). */
	for (i = 0; i < sd->nglobs; i++) {
		glob_t g;
		int rc = glob(sd->globs[i], GLOB_NOSORT, NULL, &g);

		if (rc == GLOB_NOMATCH) {
			globfree(&g);
			continue;
		}
		if (rc != 0) {
			targets_errors_add(errs, "%s: cannot expand: %s", sd->globs[i],
			                   rc == GLOB_NOSPACE ? "out of memory" : "read error");
			problems++;
			globfree(&g);
			continue;
		}
		qsort(g.gl_pathv, g.gl_pathc, sizeof(*g.gl_pathv), path_cmp);
		for (j = 0; j < g.gl_pathc; j++) {
			struct sd_file *slot = NULL;
			size_t k;
			bool seen = false;

			for (k = 0; k < nfiles && !seen; k++)
				seen = strcmp(files[k].path, g.gl_pathv[j]) == 0;
			if (seen)
				continue;
			if (nfiles == cap) {
				size_t nc = cap ? cap * 2 : 8;
				struct sd_file *nf = realloc(files, nc * sizeof(*nf));

				if (!nf) {
					targets_errors_add(errs, "%s: out of memory", sd->globs[i]);
					problems++;
					break;
				}
				files = nf;
				cap = nc;
			}
			/* Take over the old state of this path, if it was watched before. */
			for (k = 0; k < sd->nfiles; k++) {
				if (sd->files[k].path &&
				    strcmp(sd->files[k].path, g.gl_pathv[j]) == 0) {
					files[nfiles] = sd->files[k];
					memset(&sd->files[k], 0, sizeof(sd->files[k]));
					slot = &files[nfiles];
					break;
				}
			}
			if (!slot) {
				slot = &files[nfiles];
				memset(slot, 0, sizeof(*slot));
				slot->path = strdup(g.gl_pathv[j]);
				if (!slot->path) {
					targets_errors_add(errs, "%s: out of memory",
					                   g.gl_pathv[j]);
					problems++;
					continue;
				}
			}
			nfiles++;
		}
		globfree(&g);
	}
	/* Files no glob matches any more: their targets go. */
	for (i = 0; i < sd->nfiles; i++)
		file_release(&sd->files[i]);
	free(sd->files);
	sd->files = files;
	sd->nfiles = nfiles;
	for (i = 0; i < sd->nfiles; i++)
		file_refresh(&sd->files[i], errs);
	if (errs && errs->n > nerr0)
		problems++;
	/* Discovery's errors are reported, but they are the remote side's: no problem of the
	 * configuration's. */
	discovery_collect(sd->disc, errs);
	if (rebuild_list(sd) != 0) {
		targets_errors_add(errs, "file_sd: out of memory merging targets");
		return -1;
	}
	sd->listed = true;
	if (changed)
		*changed = !had_list ? sd->nlist > 0 : sd->list_hash != old_hash;
	return problems ? -1 : 0;
}

size_t
targets_sd_states(const struct targets_sd *sd, size_t max, struct targets_source_state **out)
{
	size_t nd, total, n;
	struct targets_source_state *v, *disc;

	*out = NULL;
	if (sd == NULL)
		return 0;
	nd = discovery_count(sd->disc);
	total = sd->nfiles + nd;
	n = total < max ? total : max;
	if (n == 0)
		return total;
	v = xcalloc(n, sizeof(*v));
	for (size_t i = 0; i < sd->nfiles && i < n; i++) {
		const struct sd_file *f = &sd->files[i];

		snprintf(v[i].kind, sizeof(v[i].kind), "file");
		snprintf(v[i].name, sizeof(v[i].name), "%s", f->path);
		v[i].last_refresh_ms = f->checked_ms;
		v[i].last_success_ms = f->read_ms;
		snprintf(v[i].error, sizeof(v[i].error), "%s", f->error ? f->error : "");
		v[i].targets = f->n;
		v[i].last_good = f->error != NULL && f->read_ms > 0;
	}
	if (sd->nfiles < n) {
		disc = xcalloc(nd, sizeof(*disc));
		discovery_states(sd->disc, disc);
		memcpy(v + sd->nfiles, disc, (n - sd->nfiles) * sizeof(*v));
		free(disc);
	}
	*out = v;
	return total;
}

const struct targets_entry *
targets_sd_list(const struct targets_sd *sd, size_t *n)
{
	*n = sd->nlist;
	return sd->list;
}
