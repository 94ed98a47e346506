/* base/config.c: load, validate and free leakprofd's configuration (see config.h).
 *
 * The file is parsed with libyaml's document API, which also reads JSON (YAML's flow style is a
 * superset of it), so both share one schema and one error path with line numbers. The schema is a
 * set of field tables walked against the document: each key is checked for its type and value where
 * it appears, so that one pass reports every problem; cross-field rules (timeout within interval,
 * shard index within count, ...) run after the walk. Errors are collected with their line and
 * sorted into file order at the end. Nothing is half-applied: a failed load frees everything and
 * returns NULL.
 *
 * Why one file past 1,200 lines: the key tables, the walker that reads them and the section rules
 * share the loader's private state (its error list, the node helpers) and must change together: a
 * new key is one table row plus, at most, one rule beside it. What other modules share (durations,
 * sizes, URLs, secrets, format names) lives in its own base/ file. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "base/config.h"
#include "base/format.h"
#include "base/log.h"
#include "base/secret.h"
#include "base/srclink.h"
#include "base/url.h"
#include "base/units.h"

static void config_destroy(struct config *cfg);

#define CONFIG_MAX_FILE_BYTES (16u << 20) /* a config file larger than this is refused */
#define CONFIG_MAX_ERRORS 1000            /* then "too many errors" */
#define DEFAULT_SCRAPE_TIMEOUT 10         /* seconds, or scrape_interval when shorter */
#define CONFIG_MAX_NAME 128               /* service and webhook names */
#define PATH_BUF 512

/* One collected error; sorted by line (then arrival) before it is handed out. */
struct cerr {
	size_t line;
	size_t seq;
	char *msg;
};

struct loader {
	const char *name; /* file name for messages */
	yaml_document_t *doc;
	struct cerr *errs;
	size_t nerrs, caperrs;
	size_t nfailed; /* every error counts here, even one whose message could not be stored */
	bool oom;
	const yaml_node_t **svc_nodes; /* services[i]'s mapping, for rules checked after the walk */
};

static void lerr(struct loader *L, const yaml_node_t *node, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
lerr_line(struct loader *L, size_t line, const char *path, const char *fmt, va_list ap)
{
	char msg[1024];
	char *full;
	int n;

	L->nfailed++;
	if (L->nerrs >= CONFIG_MAX_ERRORS)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (L->nerrs == L->caperrs) {
		size_t cap = L->caperrs ? L->caperrs * 2 : 16;
		struct cerr *e = realloc(L->errs, cap * sizeof(*e));

		if (e == NULL) {
			L->oom = true;
			return;
		}
		L->errs = e;
		L->caperrs = cap;
	}
	if (line > 0 && path != NULL && path[0] != '\0')
		n = asprintf(&full, "%s:%zu: %s: %s", L->name, line, path, msg);
	else if (line > 0)
		n = asprintf(&full, "%s:%zu: %s", L->name, line, msg);
	else if (path != NULL && path[0] != '\0')
		n = asprintf(&full, "%s: %s: %s", L->name, path, msg);
	else
		n = asprintf(&full, "%s: %s", L->name, msg);
	if (n < 0) {
		L->oom = true;
		return;
	}
	L->errs[L->nerrs] = (struct cerr){.line = line, .seq = L->nerrs, .msg = full};
	L->nerrs++;
}

static void
lerr(struct loader *L, const yaml_node_t *node, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lerr_line(L, node != NULL ? node->start_mark.line + 1 : 0, path, fmt, ap);
	va_end(ap);
}

static void lerr_at(struct loader *L, size_t line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
lerr_at(struct loader *L, size_t line, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lerr_line(L, line, path, fmt, ap);
	va_end(ap);
}

/* A libyaml parse error: where and why, as the parser saw it. */
static void
syntax_err(struct loader *L, const yaml_parser_t *p, const char *buf, size_t len)
{
	size_t line = p->problem_mark.line + 1;

	if (p->error == YAML_MEMORY_ERROR) {
		L->oom = true;
		lerr(L, NULL, NULL, "out of memory");
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		line = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++)
			line += buf[i] == '\n';
		lerr_at(L, line, NULL, "syntax error: %s (byte %zu)",
		        p->problem ? p->problem : "unreadable input", p->problem_offset);
		return;
	}
	if (p->context != NULL && p->context_mark.line != p->problem_mark.line)
		lerr_at(L, line, NULL, "syntax error: %s (%s started at line %zu)",
		        p->problem ? p->problem : "?", p->context, p->context_mark.line + 1);
	else if (p->context != NULL)
		lerr_at(L, line, NULL, "syntax error: %s (%s)", p->problem ? p->problem : "?",
		        p->context);
	else
		lerr_at(L, line, NULL, "syntax error: %s", p->problem ? p->problem : "?");
}

static void
oom(struct loader *L, const yaml_node_t *node, const char *path)
{
	L->oom = true;
	lerr(L, node, path, "out of memory");
}

/* A user string made safe and short for a message: control bytes become '?', long strings are cut.
 */
static const char *
shown(const char *s, char *buf, size_t sz)
{
	size_t i = 0, max = sz > 4 ? sz - 4 : 0;

	for (; s[i] != '\0' && i < max; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	if (s[i] != '\0' && sz >= 4) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

static void
path_key(char *out, const char *parent, const char *key)
{
	char k[80];

	shown(key, k, sizeof(k));
	/* A path deeper than PATH_BUF is cut; it still names the place well enough. */
	if (snprintf(out, PATH_BUF, "%s%s%s", parent, parent[0] != '\0' ? "." : "", k) >= PATH_BUF)
		out[PATH_BUF - 1] = '\0';
}

static void
path_index(char *out, const char *parent, size_t i)
{
	if (snprintf(out, PATH_BUF, "%s[%zu]", parent, i) >= PATH_BUF)
		out[PATH_BUF - 1] = '\0';
}

/* ---- Scalar syntax ---- */

static bool
label_name_ok(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (s++; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	}
	return true;
}

static bool
header_name_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c) != NULL)
			return false;
	}
	return true;
}

/* ---- Node helpers ---- */

static yaml_node_t *
node_at(struct loader *L, int idx)
{
	return yaml_document_get_node(L->doc, idx);
}

static const char *
node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_SCALAR_NODE:
		return "a scalar";
	default:
		return "nothing";
	}
}

static bool
is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* The scalar's text, or NULL (error logged) when 'n' is not a usable scalar. */
static const char *
scalar(struct loader *L, const yaml_node_t *n, const char *path, const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		lerr(L, n, path, "expected %s, got %s", what, node_kind(n));
		return NULL;
	}
	if (is_null(n)) {
		lerr(L, n, path, "missing value (expected %s)", what);
		return NULL;
	}
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		lerr(L, n, path, "contains a NUL byte");
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* The value node of 'key' in mapping 'n', or NULL. */
static const yaml_node_t *
map_get(struct loader *L, const yaml_node_t *n, const char *key)
{
	if (n == NULL || n->type != YAML_MAPPING_NODE)
		return NULL;
	for (const yaml_node_pair_t *pr = n->data.mapping.pairs.start;
	     pr < n->data.mapping.pairs.top; pr++) {
		const yaml_node_t *kn = node_at(L, pr->key);

		if (kn->type == YAML_SCALAR_NODE &&
		    strcmp((const char *)kn->data.scalar.value, key) == 0)
			return node_at(L, pr->value);
	}
	return NULL;
}

/* Whether 'key' is present and not null: an unreadable file is reported once, not again as missing.
 */
static bool
map_has(struct loader *L, const yaml_node_t *n, const char *key)
{
	const yaml_node_t *v = map_get(L, n, key);

	return v != NULL && !is_null(v);
}

static bool
plain(const yaml_node_t *n)
{
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static int
set_str(struct loader *L, const yaml_node_t *n, const char *path, char **dst, const char *v)
{
	char *c = strdup(v);

	if (c == NULL) {
		oom(L, n, path);
		return -1;
	}
	free(*dst);
	*dst = c;
	return 0;
}

/* Open 'file' to prove it is a readable regular file now (the daemon reads it later). */
static bool
file_readable(struct loader *L, const yaml_node_t *n, const char *path, const char *file)
{
	char sh[256];
	struct stat st;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		lerr(L, n, path, "cannot read '%s': %s", shown(file, sh, sizeof(sh)),
		     strerror(errno));
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		lerr(L, n, path, "cannot read '%s': not a regular file",
		     shown(file, sh, sizeof(sh)));
		close(fd);
		return false;
	}
	close(fd);
	return true;
}

/* ---- The schema ---- */

enum ftype {
	F_STR,      /* char *, required non-empty */
	F_OPTSTR,   /* char *, null = unset */
	F_NAME,     /* char *, a service or webhook name */
	F_FILE,     /* char *, a readable file; null = unset */
	F_LISTEN,   /* char *, host:port */
	F_URL,      /* char *, http(s) URL; null = unset */
	F_LOGLEVEL, /* char * */
	F_PROFILE,  /* char *, goroutine | goroutineleak */
	F_HTTPPATH, /* char *, starts with '/' */
	F_FORMAT,   /* enum profile_format */
	F_WHFORMAT, /* enum webhook_format */
	F_DUR,      /* uint64_t seconds */
	F_SIZE,     /* uint64_t bytes */
	F_UINT,     /* unsigned */
	F_U64,      /* uint64_t */
	F_BOOL,     /* bool */
	F_SCORE,    /* double in [0, 1] */
	F_ENUM,     /* unsigned, the index of the value in 'names' */
	F_STRLIST,  /* char **, size_t at off2 */
	F_URLLIST,  /* char **, size_t at off2, each an http(s) URL */
	F_LABELS,   /* struct config_kv *, size_t at off2 */
	F_HEADERS,  /* struct config_kv *, size_t at off2 */
	F_MAP,      /* a nested mapping: sub fields at obj + off, then check() */
	F_LIST,     /* a list of mappings, parsed by list() */
};

/* A key that takes effect only at start (as Redis marks IMMUTABLE_CONFIG): a reload that changes it
 * keeps running on the old value, and config_log_restart_changes() says so. On a section, every key
 * in it. */
enum field_flags {
	FIELD_RESTART = 1 << 0,
};

struct field;
typedef void (*check_fn)(struct loader *L, const yaml_node_t *n, const char *path, void *obj);
typedef void (*list_fn)(struct loader *L, const yaml_node_t *n, const char *path, void *obj);

struct field {
	const char *key;
	enum ftype type;
	size_t off;
	size_t off2;
	uint64_t min, max;        /* numbers and durations; max 0 = none */
	const struct field *sub;  /* F_MAP */
	check_fn check;           /* F_MAP: after the sub fields */
	list_fn list;             /* F_LIST */
	const char *const *names; /* F_ENUM: the values, NULL-terminated */
	unsigned flags;           /* enum field_flags */
};

static void load_map(struct loader *L, const yaml_node_t *n, const char *path,
                     const struct field *fields, void *obj);

#define FLD(ptr, off) ((void *)((char *)(ptr) + (off)))

static void
load_strlist(struct loader *L, const yaml_node_t *n, const char *path, char ***arr, size_t *narr,
             bool urls)
{
	size_t cnt;
	char **out;

	if (n->type != YAML_SEQUENCE_NODE) {
		lerr(L, n, path, "expected a list, got %s", is_null(n) ? "nothing" : node_kind(n));
		return;
	}
	cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	for (size_t i = 0; i < *narr; i++)
		free((*arr)[i]);
	free(*arr);
	*arr = NULL;
	*narr = 0;
	if (cnt == 0)
		return;
	out = calloc(cnt, sizeof(*out));
	if (out == NULL) {
		oom(L, n, path);
		return;
	}
	*arr = out;
	for (size_t i = 0; i < cnt; i++) {
		const yaml_node_t *it = node_at(L, n->data.sequence.items.start[i]);
		char ip[PATH_BUF], sh[256];
		const char *v, *why;

		path_index(ip, path, i);
		v = scalar(L, it, ip, urls ? "a URL" : "a string");
		if (v == NULL)
			continue;
		if (urls) {
			why = url_problem(v);
			if (why != NULL) {
				lerr(L, it, ip, "invalid URL '%s': %s", shown(v, sh, sizeof(sh)),
				     why);
				continue;
			}
			for (size_t j = 0; j < *narr; j++) {
				if (strcmp(out[j], v) == 0) {
					lerr(L, it, ip, "duplicate target '%s'",
					     shown(v, sh, sizeof(sh)));
					v = NULL;
					break;
				}
			}
			if (v == NULL)
				continue;
		} else if (v[0] == '\0') {
			lerr(L, it, ip, "empty string");
			continue;
		}
		out[*narr] = strdup(v);
		if (out[*narr] == NULL) {
			oom(L, it, ip);
			return;
		}
		(*narr)++;
	}
}

static void
load_kv(struct loader *L, const yaml_node_t *n, const char *path, struct config_kv **arr,
        size_t *narr, bool headers)
{
	size_t cnt;
	struct config_kv *out;

	if (n->type != YAML_MAPPING_NODE) {
		lerr(L, n, path, "expected a mapping, got %s",
		     is_null(n) ? "nothing" : node_kind(n));
		return;
	}
	cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (cnt == 0)
		return;
	out = calloc(cnt, sizeof(*out));
	if (out == NULL) {
		oom(L, n, path);
		return;
	}
	*arr = out;
	for (size_t i = 0; i < cnt; i++) {
		const yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
		const yaml_node_t *kn = node_at(L, pr->key), *vn = node_at(L, pr->value);
		char kp[PATH_BUF];
		const char *k, *v;
		bool dup = false;

		k = scalar(L, kn, path, "a string key");
		if (k == NULL)
			continue;
		path_key(kp, path, k);
		if (headers ? !header_name_ok(k) : !label_name_ok(k)) {
			lerr(L, kn, kp,
			     headers ? "invalid header name"
			             : "invalid label name (use letters, digits and '_', not "
			               "starting with a digit)");
			continue;
		}
		for (size_t j = 0; j < *narr; j++)
			dup = dup ||
			      (headers ? strcasecmp(out[j].key, k) : strcmp(out[j].key, k)) == 0;
		if (dup) {
			lerr(L, kn, kp, "duplicate key");
			continue;
		}
		if (vn->type != YAML_SCALAR_NODE || is_null(vn)) {
			lerr(L, vn, kp, "expected a string, got %s",
			     is_null(vn) ? "nothing" : node_kind(vn));
			continue;
		}
		v = (const char *)vn->data.scalar.value;
		if (strlen(v) != vn->data.scalar.length ||
		    (headers && strpbrk(v, "\r\n") != NULL)) {
			lerr(L, vn, kp, "value contains a line break or NUL byte");
			continue;
		}
		out[*narr].key = strdup(k);
		out[*narr].value = strdup(v);
		if (out[*narr].key == NULL || out[*narr].value == NULL) {
			free(out[*narr].key);
			free(out[*narr].value);
			out[*narr].key = out[*narr].value = NULL;
			oom(L, vn, kp);
			return;
		}
		(*narr)++;
	}
}

static bool
load_uint(struct loader *L, const yaml_node_t *n, const char *path, const struct field *f,
          uint64_t *out)
{
	char sh[128];
	const char *v = scalar(L, n, path, "a number");
	unsigned long long x;
	char *end;

	if (v == NULL)
		return false;
	errno = 0;
	if (!plain(n) || v[0] < '0' || v[0] > '9' || (x = strtoull(v, &end, 10), errno != 0) ||
	    *end != '\0') {
		lerr(L, n, path, "invalid number '%s' (expected a non-negative integer)",
		     shown(v, sh, sizeof(sh)));
		return false;
	}
	if (x < f->min || (f->max != 0 && x > f->max)) {
		if (f->max != 0)
			lerr(L, n, path, "%llu is out of range (%" PRIu64 " to %" PRIu64 ")", x,
			     f->min, f->max);
		else
			lerr(L, n, path, "%llu is out of range (at least %" PRIu64 ")", x, f->min);
		return false;
	}
	*out = x;
	return true;
}

static void
load_field(struct loader *L, const yaml_node_t *n, const char *path, const struct field *f,
           void *obj)
{
	void *dst = FLD(obj, f->off);
	char sh[256];
	const char *v, *why;
	uint64_t u;
	size_t before;

	switch (f->type) {
	case F_STR:
	case F_NAME:
	case F_LISTEN:
	case F_LOGLEVEL:
	case F_PROFILE:
	case F_HTTPPATH:
		v = scalar(L, n, path, "a string");
		if (v == NULL)
			return;
		if (v[0] == '\0') {
			lerr(L, n, path, "empty string");
			return;
		}
		if (f->type == F_NAME) {
			if (strlen(v) > CONFIG_MAX_NAME) {
				lerr(L, n, path, "name longer than %d bytes", CONFIG_MAX_NAME);
				return;
			}
			for (const char *p = v; *p != '\0'; p++) {
				if ((unsigned char)*p < 0x20 || *p == 0x7f) {
					lerr(L, n, path, "name contains control characters");
					return;
				}
			}
		} else if (f->type == F_LISTEN) {
			why = url_listen_problem(v);
			if (why != NULL) {
				lerr(L, n, path, "invalid address '%s': %s",
				     shown(v, sh, sizeof(sh)), why);
				return;
			}
		} else if (f->type == F_LOGLEVEL) {
			enum log_level lvl;

			if (log_level_parse(v, &lvl) != 0) {
				lerr(L, n, path,
				     "unknown level '%s' (use debug, info, notice, warning or "
				     "error)",
				     shown(v, sh, sizeof(sh)));
				return;
			}
		} else if (f->type == F_PROFILE) {
			if (strcmp(v, "goroutine") != 0 && strcmp(v, "goroutineleak") != 0) {
				lerr(L, n, path,
				     "unknown profile '%s' (use goroutine or goroutineleak)",
				     shown(v, sh, sizeof(sh)));
				return;
			}
		} else if (f->type == F_HTTPPATH) {
			if (v[0] != '/' || url_has_ctl_or_space(v) || strchr(v, '#') != NULL) {
				lerr(L, n, path,
				     "invalid path '%s' (must start with '/', no spaces)",
				     shown(v, sh, sizeof(sh)));
				return;
			}
		}
		(void)set_str(L, n, path, dst, v);
		return;
	case F_OPTSTR:
	case F_FILE:
	case F_URL:
		if (n->type == YAML_SCALAR_NODE && is_null(n)) {
			free(*(char **)dst);
			*(char **)dst = NULL;
			return;
		}
		v = scalar(L, n, path, f->type == F_URL ? "a URL" : "a string");
		if (v == NULL)
			return;
		if (v[0] == '\0') {
			lerr(L, n, path, "empty string");
			return;
		}
		if (f->type == F_FILE && !file_readable(L, n, path, v))
			return;
		if (f->type == F_URL) {
			why = url_problem(v);
			if (why != NULL) {
				lerr(L, n, path, "invalid URL '%s': %s", shown(v, sh, sizeof(sh)),
				     why);
				return;
			}
		}
		(void)set_str(L, n, path, dst, v);
		return;
	case F_FORMAT:
		v = scalar(L, n, path, "a format");
		if (v == NULL)
			return;
		if (format_parse(v, (enum profile_format *)dst) != 0)
			lerr(L, n, path, "unknown format '%s' (use proto, debug=1 or debug=2)",
			     shown(v, sh, sizeof(sh)));
		return;
	case F_WHFORMAT:
		v = scalar(L, n, path, "a format");
		if (v == NULL)
			return;
		if (strcmp(v, "json") == 0)
			*(enum webhook_format *)dst = WEBHOOK_FORMAT_JSON;
		else if (strcmp(v, "slack") == 0)
			*(enum webhook_format *)dst = WEBHOOK_FORMAT_SLACK;
		else if (strcmp(v, "alertmanager") == 0)
			*(enum webhook_format *)dst = WEBHOOK_FORMAT_ALERTMANAGER;
		else
			lerr(L, n, path, "unknown format '%s' (use json, slack or alertmanager)",
			     shown(v, sh, sizeof(sh)));
		return;
	case F_DUR:
		v = scalar(L, n, path, "a duration");
		if (v == NULL)
			return;
		if (units_parse_duration(v, &u) != 0) {
			lerr(L, n, path, "invalid duration '%s' (use e.g. 30s, 5m, 2h)",
			     shown(v, sh, sizeof(sh)));
			return;
		}
		if (u < f->min) {
			lerr(L, n, path, "duration must be at least %" PRIu64 "s", f->min);
			return;
		}
		if (f->max != 0 && u > f->max) {
			lerr(L, n, path, "duration must be at most %" PRIu64 "s", f->max);
			return;
		}
		*(uint64_t *)dst = u;
		return;
	case F_SIZE:
		v = scalar(L, n, path, "a size");
		if (v == NULL)
			return;
		if (units_parse_size(v, &u) != 0) {
			lerr(L, n, path,
			     "invalid size '%s' (use e.g. 64MiB, 512KiB, 10MB or plain bytes)",
			     shown(v, sh, sizeof(sh)));
			return;
		}
		if (u < f->min) {
			lerr(L, n, path, "size must be at least %" PRIu64 " bytes", f->min);
			return;
		}
		*(uint64_t *)dst = u;
		return;
	case F_UINT:
		if (load_uint(L, n, path, f, &u))
			*(unsigned *)dst = (unsigned)u;
		return;
	case F_U64:
		if (load_uint(L, n, path, f, &u))
			*(uint64_t *)dst = u;
		return;
	case F_BOOL:
		v = scalar(L, n, path, "true or false");
		if (v == NULL)
			return;
		if (plain(n) && strcasecmp(v, "true") == 0)
			*(bool *)dst = true;
		else if (plain(n) && strcasecmp(v, "false") == 0)
			*(bool *)dst = false;
		else
			lerr(L, n, path, "invalid boolean '%s' (use true or false)",
			     shown(v, sh, sizeof(sh)));
		return;
	case F_SCORE: {
		char *end;
		double d;

		v = scalar(L, n, path, "a number");
		if (v == NULL)
			return;
		errno = 0;
		d = strtod(v, &end);
		if (!plain(n) || end == v || *end != '\0' || errno != 0 || !isfinite(d)) {
			lerr(L, n, path, "invalid number '%s'", shown(v, sh, sizeof(sh)));
			return;
		}
		if (d < 0.0 || d > 1.0) {
			lerr(L, n, path, "%s is out of range (0 to 1)", shown(v, sh, sizeof(sh)));
			return;
		}
		*(double *)dst = d;
		return;
	}
	case F_ENUM: {
		char use[256];
		size_t len = 0;

		v = scalar(L, n, path, "a string");
		if (v == NULL)
			return;
		for (unsigned i = 0; f->names[i] != NULL; i++) {
			if (strcmp(v, f->names[i]) == 0) {
				*(unsigned *)dst = i;
				return;
			}
			len += (size_t)snprintf(use + len, sizeof(use) - len, "%s%s",
			                        i == 0            ? ""
			                        : f->names[i + 1] ? ", "
			                                          : " or ",
			                        f->names[i]);
			if (len >= sizeof(use))
				len = sizeof(use) - 1;
		}
		lerr(L, n, path, "unknown value '%s' (use %s)", shown(v, sh, sizeof(sh)), use);
		return;
	}
	case F_STRLIST:
	case F_URLLIST:
		load_strlist(L, n, path, dst, FLD(obj, f->off2), f->type == F_URLLIST);
		return;
	case F_LABELS:
	case F_HEADERS:
		if (*(struct config_kv **)dst != NULL) {
			lerr(L, n, path, "duplicate key");
			return;
		}
		load_kv(L, n, path, dst, FLD(obj, f->off2), f->type == F_HEADERS);
		return;
	case F_MAP:
		if (n->type != YAML_MAPPING_NODE) {
			lerr(L, n, path, "expected a mapping, got %s",
			     is_null(n) ? "nothing" : node_kind(n));
			return;
		}
		before = L->nfailed;
		load_map(L, n, path, f->sub, dst);
		/* Rules between the keys of a section only make sense once each key is valid. */
		if (f->check != NULL && L->nfailed == before)
			f->check(L, n, path, dst);
		return;
	case F_LIST:
		if (n->type != YAML_SEQUENCE_NODE) {
			lerr(L, n, path, "expected a list, got %s",
			     is_null(n) ? "nothing" : node_kind(n));
			return;
		}
		f->list(L, n, path, obj);
		return;
	}
}

static void
load_map(struct loader *L, const yaml_node_t *n, const char *path, const struct field *fields,
         void *obj)
{
	const yaml_node_pair_t *start = n->data.mapping.pairs.start,
	                       *top = n->data.mapping.pairs.top;

	for (const yaml_node_pair_t *pr = start; pr < top; pr++) {
		const yaml_node_t *kn = node_at(L, pr->key), *vn = node_at(L, pr->value);
		const struct field *f;
		char kp[PATH_BUF];
		const char *k;
		bool dup = false;

		if (kn->type != YAML_SCALAR_NODE) {
			lerr(L, kn, path, "keys must be strings, got %s", node_kind(kn));
			continue;
		}
		k = (const char *)kn->data.scalar.value;
		path_key(kp, path, k);
		for (const yaml_node_pair_t *q = start; q < pr && !dup; q++) {
			const yaml_node_t *qk = node_at(L, q->key);

			dup = qk->type == YAML_SCALAR_NODE &&
			      strcmp((const char *)qk->data.scalar.value, k) == 0;
		}
		if (dup) {
			lerr(L, kn, kp, "duplicate key");
			continue;
		}
		for (f = fields; f->key != NULL; f++) {
			if (strcmp(f->key, k) == 0)
				break;
		}
		if (f->key == NULL) {
			lerr(L, kn, kp, "unknown key");
			continue;
		}
		load_field(L, vn, kp, f, obj);
	}
}

/* ---- Sections with their own rules ---- */

static void
check_basic_auth(struct loader *L, const yaml_node_t *n, const char *path, void *obj)
{
	(void)obj;
	if (!map_has(L, n, "username"))
		lerr(L, n, path, "username is required");
	if (!map_has(L, n, "password_file"))
		lerr(L, n, path, "password_file is required");
}

static void
check_tls(struct loader *L, const yaml_node_t *n, const char *path, void *obj)
{
	(void)obj;
	if (map_has(L, n, "cert_file") != map_has(L, n, "key_file"))
		lerr(L, n, path, "cert_file and key_file go together");
}

static void
check_web_tls(struct loader *L, const yaml_node_t *n, const char *path, void *obj)
{
	(void)obj;
	if (!map_has(L, n, "cert_file") || !map_has(L, n, "key_file"))
		lerr(L, n, path, "cert_file and key_file are both required");
}

static void
check_shard(struct loader *L, const yaml_node_t *n, const char *path, void *obj)
{
	struct config *cfg = obj;

	if (cfg->shard_count > 0 && cfg->shard_index >= cfg->shard_count)
		lerr(L, n, path, "index %u must be less than count %u", cfg->shard_index,
		     cfg->shard_count);
}

static const struct field basic_auth_fields[] = {
    {.key = "username", .type = F_STR, .off = offsetof(struct config_basic_auth, username)},
    {.key = "password_file",
     .type = F_FILE,
     .off = offsetof(struct config_basic_auth, password_file)},
    {0},
};

static const struct field tls_fields[] = {
    {.key = "ca_file", .type = F_FILE, .off = offsetof(struct config_tls, ca_file)},
    {.key = "cert_file", .type = F_FILE, .off = offsetof(struct config_tls, cert_file)},
    {.key = "key_file", .type = F_FILE, .off = offsetof(struct config_tls, key_file)},
    {.key = "insecure_skip_verify",
     .type = F_BOOL,
     .off = offsetof(struct config_tls, insecure_skip_verify)},
    {0},
};

static const struct field leak_profile_fields[] = {
    {.key = "enabled", .type = F_BOOL, .off = offsetof(struct config_leak_profile, enabled)},
    {.key = "interval",
     .type = F_DUR,
     .off = offsetof(struct config_leak_profile, interval),
     .min = CONFIG_LEAK_INTERVAL_MIN},
    {.key = "path", .type = F_HTTPPATH, .off = offsetof(struct config_leak_profile, path)},
    {0},
};

static void
check_source(struct loader *L, const yaml_node_t *n, const char *path, void *obj)
{
	struct config_source *src = obj;
	char kp[PATH_BUF], why[160];

	if (src->url == NULL) {
		lerr(L, n, path, "url is required");
		return;
	}
	path_key(kp, path, "url");
	if (srclink_template_problem(src->url, why, sizeof(why)) != NULL)
		lerr(L, map_get(L, n, "url"), kp, "%s", why);
	else if (srclink_needs_version(src->url) && src->version_label == NULL)
		lerr(L, map_get(L, n, "url"), kp,
		     "{version} needs version_label (the target label naming the running version: "
		     "the profiles do not show it)");
	if (src->version_label != NULL && !label_name_ok(src->version_label)) {
		path_key(kp, path, "version_label");
		lerr(L, map_get(L, n, "version_label"), kp,
		     "invalid label name (use letters, digits and '_', not starting with a digit)");
	}
}

static const struct field source_fields[] = {
    {.key = "url", .type = F_STR, .off = offsetof(struct config_source, url)},
    {.key = "strip_prefix", .type = F_STR, .off = offsetof(struct config_source, strip_prefix)},
    {.key = "version_label", .type = F_STR, .off = offsetof(struct config_source, version_label)},
    {0},
};

/* In the order of enum config_shard_by. */
static const char *const shard_by_names[] = {"service", "target", NULL};
_Static_assert(sizeof(enum config_shard_by) == sizeof(unsigned), "shard_by is stored as unsigned");

static const struct field service_fields[] = {
    {.key = "name", .type = F_NAME, .off = offsetof(struct config_service, name)},
    {.key = "targets",
     .type = F_URLLIST,
     .off = offsetof(struct config_service, targets),
     .off2 = offsetof(struct config_service, ntargets)},
    {.key = "profile", .type = F_PROFILE, .off = offsetof(struct config_service, profile)},
    {.key = "path", .type = F_HTTPPATH, .off = offsetof(struct config_service, path)},
    {.key = "format", .type = F_FORMAT, .off = offsetof(struct config_service, format)},
    {.key = "detail_every",
     .type = F_UINT,
     .off = offsetof(struct config_service, detail_every),
     .max = 1000000},
    {.key = "detail_max_goroutines",
     .type = F_U64,
     .off = offsetof(struct config_service, detail_max_goroutines)},
    {.key = "labels",
     .type = F_LABELS,
     .off = offsetof(struct config_service, labels),
     .off2 = offsetof(struct config_service, nlabels)},
    {.key = "headers",
     .type = F_HEADERS,
     .off = offsetof(struct config_service, headers),
     .off2 = offsetof(struct config_service, nheaders)},
    {.key = "bearer_token_file",
     .type = F_FILE,
     .off = offsetof(struct config_service, bearer_token_file)},
    {.key = "basic_auth",
     .type = F_MAP,
     .off = offsetof(struct config_service, basic_auth),
     .sub = basic_auth_fields,
     .check = check_basic_auth},
    {.key = "tls",
     .type = F_MAP,
     .off = offsetof(struct config_service, tls),
     .sub = tls_fields,
     .check = check_tls},
    {.key = "shard_by",
     .type = F_ENUM,
     .off = offsetof(struct config_service, shard_by),
     .names = shard_by_names},
    {.key = "leak_profile",
     .type = F_MAP,
     .off = offsetof(struct config_service, leak_profile),
     .sub = leak_profile_fields},
    {.key = "source",
     .type = F_MAP,
     .off = offsetof(struct config_service, source),
     .sub = source_fields,
     .check = check_source},
    {0},
};

static void
service_init(struct config_service *s)
{
	*s = (struct config_service){
	    .format = PROFILE_FORMAT_PROTO,
	    .detail_every = 10,
	    .detail_max_goroutines = 10000,
	    .leak_profile = {.enabled = true, .interval = CONFIG_LEAK_INTERVAL_DEFAULT},
	};
}

static void
service_release(struct config_service *s)
{
	free(s->name);
	for (size_t i = 0; i < s->ntargets; i++)
		free(s->targets[i]);
	free(s->targets);
	free(s->profile);
	free(s->path);
	for (size_t i = 0; i < s->nlabels; i++) {
		free(s->labels[i].key);
		free(s->labels[i].value);
	}
	free(s->labels);
	for (size_t i = 0; i < s->nheaders; i++) {
		free(s->headers[i].key);
		free(s->headers[i].value);
	}
	free(s->headers);
	free(s->bearer_token_file);
	free(s->basic_auth.username);
	free(s->basic_auth.password_file);
	free(s->tls.ca_file);
	free(s->tls.cert_file);
	free(s->tls.key_file);
	free(s->leak_profile.path);
	free(s->source.url);
	free(s->source.strip_prefix);
	free(s->source.version_label);
}

/* Fill in what a service's own keys did not set: profile, and the path that follows from it. */
static int
service_finish(struct config_service *s)
{
	if (s->profile == NULL) {
		s->profile = strdup("goroutine");
		if (s->profile == NULL)
			return -1;
	}
	if (s->path == NULL && asprintf(&s->path, "/debug/pprof/%s", s->profile) < 0) {
		s->path = NULL;
		return -1;
	}
	return 0;
}

static void
load_services(struct loader *L, const yaml_node_t *n, const char *path, void *obj)
{
	struct config *cfg = obj;
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);

	if (cnt == 0)
		return;
	free(L->svc_nodes);
	L->svc_nodes = calloc(cnt, sizeof(*L->svc_nodes));
	cfg->services = calloc(cnt, sizeof(*cfg->services));
	if (cfg->services == NULL || L->svc_nodes == NULL) {
		oom(L, n, path);
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		const yaml_node_t *it = node_at(L, n->data.sequence.items.start[i]);
		struct config_service *s = &cfg->services[cfg->nservices];
		char ip[PATH_BUF], sh[256];

		path_index(ip, path, i);
		if (it->type != YAML_MAPPING_NODE) {
			lerr(L, it, ip, "expected a mapping, got %s",
			     is_null(it) ? "nothing" : node_kind(it));
			continue;
		}
		service_init(s);
		L->svc_nodes[cfg->nservices] = it;
		cfg->nservices++;
		load_map(L, it, ip, service_fields, s);
		if (!map_has(L, it, "name")) {
			lerr(L, it, ip, "name is required");
		} else if (s->name == NULL) {
			; /* reported as invalid already */
		} else {
			for (size_t j = 0; j + 1 < cfg->nservices; j++) {
				if (cfg->services[j].name != NULL &&
				    strcmp(cfg->services[j].name, s->name) == 0) {
					lerr(L, it, ip, "duplicate service name '%s'",
					     shown(s->name, sh, sizeof(sh)));
					break;
				}
			}
		}
		if (s->bearer_token_file != NULL && s->basic_auth.username != NULL)
			lerr(L, it, ip, "bearer_token_file and basic_auth are mutually exclusive");
		if (service_finish(s) != 0)
			oom(L, it, ip);
	}
}

static const struct field ignore_fields[] = {
    {.key = "function", .type = F_OPTSTR, .off = offsetof(struct config_ignore, function)},
    {.key = "any_function", .type = F_OPTSTR, .off = offsetof(struct config_ignore, any_function)},
    {.key = "file", .type = F_OPTSTR, .off = offsetof(struct config_ignore, file)},
    {.key = "service", .type = F_OPTSTR, .off = offsetof(struct config_ignore, service)},
    {0},
};

static void
load_ignore(struct loader *L, const yaml_node_t *n, const char *path, void *obj)
{
	struct config_detector *d = obj;
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);

	if (cnt == 0)
		return;
	d->ignore = calloc(cnt, sizeof(*d->ignore));
	if (d->ignore == NULL) {
		oom(L, n, path);
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		const yaml_node_t *it = node_at(L, n->data.sequence.items.start[i]);
		struct config_ignore *r = &d->ignore[d->nignore];
		char ip[PATH_BUF];

		path_index(ip, path, i);
		if (it->type != YAML_MAPPING_NODE) {
			lerr(L, it, ip, "expected a mapping, got %s",
			     is_null(it) ? "nothing" : node_kind(it));
			continue;
		}
		d->nignore++;
		load_map(L, it, ip, ignore_fields, r);
		if (r->function == NULL && r->any_function == NULL && r->file == NULL &&
		    r->service == NULL)
			lerr(L, it, ip,
			     "a rule needs at least one of function, any_function, file, service");
	}
}

static const struct field webhook_fields[] = {
    {.key = "name", .type = F_NAME, .off = offsetof(struct config_webhook, name)},
    {.key = "url", .type = F_URL, .off = offsetof(struct config_webhook, url)},
    {.key = "url_file", .type = F_FILE, .off = offsetof(struct config_webhook, url_file)},
    {.key = "format", .type = F_WHFORMAT, .off = offsetof(struct config_webhook, format)},
    {.key = "secret_file", .type = F_FILE, .off = offsetof(struct config_webhook, secret_file)},
    {.key = "services",
     .type = F_STRLIST,
     .off = offsetof(struct config_webhook, services),
     .off2 = offsetof(struct config_webhook, nservices)},
    {.key = "timeout",
     .type = F_DUR,
     .off = offsetof(struct config_webhook, timeout),
     .min = 1,
     .max = 3600},
    {0},
};

/* Read the webhook URL out of url_file by the secret-file rule (base/secret.h). Its content never
 * appears in a message (the point of url_file is to keep the URL secret). */
static void
webhook_read_url(struct loader *L, const yaml_node_t *n, const char *path, struct config_webhook *w)
{
	char sh[256], err[512];
	const char *why;
	char *url = secret_read(w->url_file, err, sizeof(err));

	if (url == NULL) {
		lerr(L, n, path, "url_file %s", err);
		return;
	}
	why = url_problem(url);
	if (why != NULL) {
		lerr(L, n, path, "url_file '%s': invalid URL: %s",
		     shown(w->url_file, sh, sizeof(sh)), why);
		free(url);
		return;
	}
	w->url = url;
}

static void
load_webhooks(struct loader *L, const yaml_node_t *n, const char *path, void *obj)
{
	struct config_alerting *a = obj;
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);

	if (cnt == 0)
		return;
	a->webhooks = calloc(cnt, sizeof(*a->webhooks));
	if (a->webhooks == NULL) {
		oom(L, n, path);
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		const yaml_node_t *it = node_at(L, n->data.sequence.items.start[i]);
		struct config_webhook *w = &a->webhooks[a->nwebhooks];
		char ip[PATH_BUF], sh[256];
		bool had_url;

		path_index(ip, path, i);
		if (it->type != YAML_MAPPING_NODE) {
			lerr(L, it, ip, "expected a mapping, got %s",
			     is_null(it) ? "nothing" : node_kind(it));
			continue;
		}
		*w = (struct config_webhook){.format = WEBHOOK_FORMAT_JSON, .timeout = 10};
		a->nwebhooks++;
		load_map(L, it, ip, webhook_fields, w);
		if (!map_has(L, it, "name")) {
			lerr(L, it, ip, "name is required");
		} else if (w->name == NULL) {
			; /* reported as invalid already */
		} else {
			for (size_t j = 0; j + 1 < a->nwebhooks; j++) {
				if (a->webhooks[j].name != NULL &&
				    strcmp(a->webhooks[j].name, w->name) == 0) {
					lerr(L, it, ip, "duplicate webhook name '%s'",
					     shown(w->name, sh, sizeof(sh)));
					break;
				}
			}
		}
		had_url = map_has(L, it, "url");
		if (had_url && map_has(L, it, "url_file"))
			lerr(L, it, ip, "url and url_file are mutually exclusive");
		else if (!had_url && w->url_file != NULL && w->url == NULL)
			webhook_read_url(L, it, ip, w);
		else if (!had_url && !map_has(L, it, "url_file"))
			lerr(L, it, ip, "url or url_file is required");
	}
}

/* ---- Discovery sources ---- */

static const struct field http_sd_fields[] = {
    {.key = "url", .type = F_URL, .off = offsetof(struct config_http_sd, url)},
    {.key = "refresh_interval",
     .type = F_DUR,
     .off = offsetof(struct config_http_sd, refresh_interval),
     .min = 1},
    {.key = "timeout",
     .type = F_DUR,
     .off = offsetof(struct config_http_sd, timeout),
     .min = 1,
     .max = 3600},
    {.key = "headers",
     .type = F_HEADERS,
     .off = offsetof(struct config_http_sd, headers),
     .off2 = offsetof(struct config_http_sd, nheaders)},
    {.key = "bearer_token_file",
     .type = F_FILE,
     .off = offsetof(struct config_http_sd, bearer_token_file)},
    {.key = "basic_auth",
     .type = F_MAP,
     .off = offsetof(struct config_http_sd, basic_auth),
     .sub = basic_auth_fields,
     .check = check_basic_auth},
    {.key = "tls",
     .type = F_MAP,
     .off = offsetof(struct config_http_sd, tls),
     .sub = tls_fields,
     .check = check_tls},
    {0},
};

static void
http_sd_release(struct config_http_sd *h)
{
	free(h->url);
	for (size_t i = 0; i < h->nheaders; i++) {
		free(h->headers[i].key);
		free(h->headers[i].value);
	}
	free(h->headers);
	free(h->bearer_token_file);
	free(h->basic_auth.username);
	free(h->basic_auth.password_file);
	free(h->tls.ca_file);
	free(h->tls.cert_file);
	free(h->tls.key_file);
}

static void
load_http_sd(struct loader *L, const yaml_node_t *n, const char *path, void *obj)
{
	struct config *cfg = obj;
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);

	if (cnt == 0)
		return;
	cfg->http_sd = calloc(cnt, sizeof(*cfg->http_sd));
	if (cfg->http_sd == NULL) {
		oom(L, n, path);
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		const yaml_node_t *it = node_at(L, n->data.sequence.items.start[i]);
		struct config_http_sd *h = &cfg->http_sd[cfg->nhttp_sd];
		const yaml_node_t *to;
		char ip[PATH_BUF];

		path_index(ip, path, i);
		if (it->type != YAML_MAPPING_NODE) {
			lerr(L, it, ip, "expected a mapping, got %s",
			     is_null(it) ? "nothing" : node_kind(it));
			continue;
		}
		*h = (struct config_http_sd){.refresh_interval = 60};
		cfg->nhttp_sd++;
		load_map(L, it, ip, http_sd_fields, h);
		if (!map_has(L, it, "url"))
			lerr(L, it, ip, "url is required");
		if (h->bearer_token_file != NULL && h->basic_auth.username != NULL)
			lerr(L, it, ip, "bearer_token_file and basic_auth are mutually exclusive");
		to = map_get(L, it, "timeout");
		if (to == NULL)
			h->timeout = h->refresh_interval < 10 ? h->refresh_interval : 10;
		else if (h->timeout > h->refresh_interval)
			lerr(L, to, ip,
			     "timeout (%" PRIu64 "s) must not exceed refresh_interval (%" PRIu64
			     "s)",
			     h->timeout, h->refresh_interval);
	}
}

/* In the order of enum config_dns_type and enum config_scheme. */
static const char *const dns_type_names[] = {"SRV", "A", "AAAA", NULL};
static const char *const scheme_names[] = {"http", "https", NULL};
_Static_assert(sizeof(enum config_dns_type) == sizeof(unsigned), "type is stored as unsigned");
_Static_assert(sizeof(enum config_scheme) == sizeof(unsigned), "scheme is stored as unsigned");

static const struct field dns_sd_fields[] = {
    {.key = "names",
     .type = F_STRLIST,
     .off = offsetof(struct config_dns_sd, names),
     .off2 = offsetof(struct config_dns_sd, nnames)},
    {.key = "type",
     .type = F_ENUM,
     .off = offsetof(struct config_dns_sd, type),
     .names = dns_type_names},
    {.key = "port",
     .type = F_UINT,
     .off = offsetof(struct config_dns_sd, port),
     .min = 1,
     .max = 65535},
    {.key = "refresh_interval",
     .type = F_DUR,
     .off = offsetof(struct config_dns_sd, refresh_interval),
     .min = 1},
    {.key = "server", .type = F_OPTSTR, .off = offsetof(struct config_dns_sd, server)},
    {.key = "service", .type = F_NAME, .off = offsetof(struct config_dns_sd, service)},
    {.key = "scheme",
     .type = F_ENUM,
     .off = offsetof(struct config_dns_sd, scheme),
     .names = scheme_names},
    {.key = "labels",
     .type = F_LABELS,
     .off = offsetof(struct config_dns_sd, labels),
     .off2 = offsetof(struct config_dns_sd, nlabels)},
    {0},
};

static void
dns_sd_release(struct config_dns_sd *d)
{
	for (size_t i = 0; i < d->nnames; i++)
		free(d->names[i]);
	free(d->names);
	free(d->server);
	free(d->service);
	for (size_t i = 0; i < d->nlabels; i++) {
		free(d->labels[i].key);
		free(d->labels[i].value);
	}
	free(d->labels);
}

/* A DNS name as a resolver takes it: dot-separated labels of 1 to 63 letters, digits, '-' or '_'
 * (SRV names start with '_'), at most 253 bytes, an optional final dot. */
static bool
dns_name_ok(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 254 || (len == 254 && s[253] != '.') || strcmp(s, ".") == 0)
		return false;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_') ||
		    ++label > 63)
			return false;
	}
	return true;
}

/* "A.B.C.D" or "A.B.C.D:PORT" into network-order address and port. 0, or -1. */
static int
dns_server_parse(const char *s, uint32_t *addr, uint16_t *port)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = strchr(s, ':');
	size_t hl = colon != NULL ? (size_t)(colon - s) : strlen(s);
	struct in_addr in;

	*port = 53;
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, &in) != 1)
		return -1;
	if (colon != NULL) {
		char *end;
		unsigned long p;

		if (colon[1] < '0' || colon[1] > '9')
			return -1;
		errno = 0;
		p = strtoul(colon + 1, &end, 10);
		if (errno != 0 || *end != '\0' || p == 0 || p > 65535)
			return -1;
		*port = (uint16_t)p;
	}
	*addr = in.s_addr;
	return 0;
}

static void
load_dns_sd(struct loader *L, const yaml_node_t *n, const char *path, void *obj)
{
	struct config *cfg = obj;
	size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);

	if (cnt == 0)
		return;
	cfg->dns_sd = calloc(cnt, sizeof(*cfg->dns_sd));
	if (cfg->dns_sd == NULL) {
		oom(L, n, path);
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		const yaml_node_t *it = node_at(L, n->data.sequence.items.start[i]);
		struct config_dns_sd *d = &cfg->dns_sd[cfg->ndns_sd];
		const yaml_node_t *names, *port, *server;
		char ip[PATH_BUF], kp[PATH_BUF], sh[256];

		path_index(ip, path, i);
		if (it->type != YAML_MAPPING_NODE) {
			lerr(L, it, ip, "expected a mapping, got %s",
			     is_null(it) ? "nothing" : node_kind(it));
			continue;
		}
		*d = (struct config_dns_sd){.refresh_interval = 30, .server_port = 53};
		cfg->ndns_sd++;
		load_map(L, it, ip, dns_sd_fields, d);
		names = map_get(L, it, "names");
		if (names == NULL ||
		    (names->type == YAML_SEQUENCE_NODE &&
		     names->data.sequence.items.top == names->data.sequence.items.start))
			lerr(L, names != NULL ? names : it, ip,
			     "names: at least one name is required");
		for (size_t j = 0; j < d->nnames; j++) {
			if (!dns_name_ok(d->names[j])) {
				path_key(kp, ip, "names");
				lerr(L, names, kp, "invalid DNS name '%s'",
				     shown(d->names[j], sh, sizeof(sh)));
			}
		}
		if (!map_has(L, it, "service"))
			lerr(L, it, ip, "service is required");
		port = map_get(L, it, "port");
		if (d->type == CONFIG_DNS_SRV && port != NULL && !is_null(port))
			lerr(L, port, ip,
			     "port: only for type A or AAAA (SRV records carry the port)");
		else if (d->type != CONFIG_DNS_SRV && port == NULL)
			lerr(L, it, ip, "port is required for type %s", dns_type_names[d->type]);
		server = map_get(L, it, "server");
		if (d->server != NULL &&
		    dns_server_parse(d->server, &d->server_addr, &d->server_port) != 0) {
			path_key(kp, ip, "server");
			lerr(L, server, kp,
			     "invalid server '%s' (use an IPv4 address, with :port if not 53)",
			     shown(d->server, sh, sizeof(sh)));
		}
		for (size_t j = 0; j < d->nlabels; j++) {
			if (strcmp(d->labels[j].key, "service") == 0 ||
			    strncmp(d->labels[j].key, "__", 2) == 0) {
				path_key(kp, ip, "labels");
				lerr(L, map_get(L, it, "labels"), kp,
				     "label '%s' is reserved (the service is the key 'service')",
				     shown(d->labels[j].key, sh, sizeof(sh)));
			}
		}
	}
}

static const struct field retention_fields[] = {
    {.key = "raw", .type = F_DUR, .off = offsetof(struct config, retention_raw), .min = 60},
    {.key = "rollup", .type = F_DUR, .off = offsetof(struct config, retention_rollup), .min = 3600},
    {0},
};

static const struct field shard_fields[] = {
    {.key = "index", .type = F_UINT, .off = offsetof(struct config, shard_index), .max = 65535},
    {.key = "count",
     .type = F_UINT,
     .off = offsetof(struct config, shard_count),
     .min = 1,
     .max = 65536},
    {0},
};

static const struct field detector_fields[] = {
    {.key = "window", .type = F_DUR, .off = offsetof(struct config_detector, window), .min = 60},
    {.key = "min_scrapes",
     .type = F_UINT,
     .off = offsetof(struct config_detector, min_scrapes),
     .min = 2,
     .max = 1000000},
    {.key = "min_count", .type = F_U64, .off = offsetof(struct config_detector, min_count)},
    {.key = "max_label_sets",
     .type = F_UINT,
     .off = offsetof(struct config_detector, max_label_sets),
     .max = CONFIG_MAX_LABEL_SETS},
    {.key = "window_memory",
     .type = F_SIZE,
     .off = offsetof(struct config_detector, window_memory)},
    {.key = "ignore", .type = F_LIST, .list = load_ignore},
    {0},
};

static const struct field web_auth_fields[] = {
    {.key = "bearer_token_file",
     .type = F_FILE,
     .off = offsetof(struct config_web, bearer_token_file)},
    {.key = "basic_auth",
     .type = F_MAP,
     .off = offsetof(struct config_web, basic_auth),
     .sub = basic_auth_fields,
     .check = check_basic_auth},
    {0},
};

static const struct field web_tls_fields[] = {
    {.key = "cert_file", .type = F_FILE, .off = offsetof(struct config_web, tls_cert_file)},
    {.key = "key_file", .type = F_FILE, .off = offsetof(struct config_web, tls_key_file)},
    {0},
};

static const struct field web_fields[] = {
    {.key = "auth", .type = F_MAP, .off = 0, .sub = web_auth_fields},
    {.key = "tls",
     .type = F_MAP,
     .off = 0,
     .sub = web_tls_fields,
     .check = check_web_tls,
     .flags = FIELD_RESTART},
    {.key = "max_connections",
     .type = F_UINT,
     .off = offsetof(struct config_web, max_connections),
     .min = 1,
     .max = 100000,
     .flags = FIELD_RESTART},
    {.key = "request_timeout",
     .type = F_DUR,
     .off = offsetof(struct config_web, request_timeout),
     .min = 1,
     .max = 86400,
     .flags = FIELD_RESTART},
    {0},
};

static const struct field metrics_fields[] = {
    {.key = "per_target_max",
     .type = F_UINT,
     .off = offsetof(struct config_metrics, per_target_max),
     .max = 1000000},
    {0},
};

static const struct field ingest_fields[] = {
    {.key = "buffer_scrapes",
     .type = F_U64,
     .off = offsetof(struct config_ingest, buffer_scrapes),
     .min = CONFIG_INGEST_BUFFER_SCRAPES_MIN,
     .max = CONFIG_INGEST_BUFFER_SCRAPES_MAX},
    {.key = "buffer_duration",
     .type = F_DUR,
     .off = offsetof(struct config_ingest, buffer_duration),
     .min = CONFIG_INGEST_BUFFER_DURATION_MIN,
     .max = CONFIG_INGEST_BUFFER_DURATION_MAX},
    {0},
};

static const struct field alerting_fields[] = {
    {.key = "min_score", .type = F_SCORE, .off = offsetof(struct config_alerting, min_score)},
    {.key = "min_count", .type = F_U64, .off = offsetof(struct config_alerting, min_count)},
    {.key = "for", .type = F_DUR, .off = offsetof(struct config_alerting, for_duration)},
    {.key = "repeat_interval",
     .type = F_DUR,
     .off = offsetof(struct config_alerting, repeat_interval),
     .min = 60},
    {.key = "max_age", .type = F_DUR, .off = offsetof(struct config_alerting, max_age), .min = 60},
    {.key = "webhooks", .type = F_LIST, .list = load_webhooks},
    {0},
};

static const struct field config_fields[] = {
    {.key = "listen",
     .type = F_LISTEN,
     .off = offsetof(struct config, listen),
     .flags = FIELD_RESTART},
    {.key = "database",
     .type = F_STR,
     .off = offsetof(struct config, database),
     .flags = FIELD_RESTART},
    {.key = "log_level", .type = F_LOGLEVEL, .off = offsetof(struct config, log_level)},
    {.key = "external_url", .type = F_URL, .off = offsetof(struct config, external_url)},
    {.key = "scrape_interval",
     .type = F_DUR,
     .off = offsetof(struct config, scrape_interval),
     .min = 1},
    {.key = "scrape_timeout",
     .type = F_DUR,
     .off = offsetof(struct config, scrape_timeout),
     .min = 1},
    {.key = "max_body_bytes",
     .type = F_SIZE,
     .off = offsetof(struct config, max_body_bytes),
     .min = 1024},
    {.key = "max_concurrent_scrapes",
     .type = F_UINT,
     .off = offsetof(struct config, max_concurrent_scrapes),
     .min = 1,
     .max = 100000,
     .flags = FIELD_RESTART},
    {.key = "retention", .type = F_MAP, .off = 0, .sub = retention_fields},
    {.key = "services", .type = F_LIST, .list = load_services},
    {.key = "target_files",
     .type = F_STRLIST,
     .off = offsetof(struct config, target_files),
     .off2 = offsetof(struct config, ntarget_files)},
    {.key = "http_sd", .type = F_LIST, .list = load_http_sd},
    {.key = "dns_sd", .type = F_LIST, .list = load_dns_sd},
    {.key = "shard", .type = F_MAP, .off = 0, .sub = shard_fields, .check = check_shard},
    {.key = "detector",
     .type = F_MAP,
     .off = offsetof(struct config, detector),
     .sub = detector_fields},
    {.key = "web", .type = F_MAP, .off = offsetof(struct config, web), .sub = web_fields},
    {.key = "metrics",
     .type = F_MAP,
     .off = offsetof(struct config, metrics),
     .sub = metrics_fields},
    {.key = "ingest", .type = F_MAP, .off = offsetof(struct config, ingest), .sub = ingest_fields},
    {.key = "alerting",
     .type = F_MAP,
     .off = offsetof(struct config, alerting),
     .sub = alerting_fields},
    {0},
};

/* ---- Whole configs ---- */

/* Defaults shared by files and the embedded config; 'database' differs between them. */
static struct config *
config_new(const char *source, const char *database)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	if (cfg == NULL)
		return NULL;
	*cfg = (struct config){
	    .scrape_interval = 60,
	    .scrape_timeout = DEFAULT_SCRAPE_TIMEOUT,
	    .max_body_bytes = CONFIG_MAX_BODY_DEFAULT,
	    .max_concurrent_scrapes = 64,
	    .retention_raw = 48 * 3600,
	    .retention_rollup = 30 * 86400,
	    .shard_index = 0,
	    .shard_count = 1,
	    .detector = {.window = 6 * 3600,
	                 .min_scrapes = 4,
	                 .min_count = 10,
	                 .max_label_sets = CONFIG_LABEL_SETS_DEFAULT,
	                 .window_memory = CONFIG_WINDOW_MEMORY_DEFAULT},
	    .web = {.max_connections = 64, .request_timeout = 30},
	    .metrics = {.per_target_max = 1000},
	    .ingest = {.buffer_scrapes = CONFIG_INGEST_BUFFER_SCRAPES_DEFAULT,
	               .buffer_duration = CONFIG_INGEST_BUFFER_DURATION_DEFAULT},
	    .alerting = {.min_score = 0.8,
	                 .min_count = 100,
	                 .for_duration = 600,
	                 .repeat_interval = 86400,
	                 .max_age = 86400},
	};
	atomic_init(&cfg->refs, 1);
	cfg->source = strdup(source);
	cfg->listen = strdup("127.0.0.1:8080");
	cfg->database = strdup(database);
	cfg->log_level = strdup("info");
	if (cfg->source == NULL || cfg->listen == NULL || cfg->database == NULL ||
	    cfg->log_level == NULL) {
		config_unref(cfg);
		return NULL;
	}
	return cfg;
}

struct config *
config_default(void)
{
	return config_new("(default)", "./leakprofd.db");
}

struct config *
config_ref(const struct config *cfg)
{
	struct config *c = (struct config *)cfg; /* the count is the one mutable field */

	if (c != NULL)
		atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void
config_unref(const struct config *cfg)
{
	struct config *c = (struct config *)cfg;

	if (c == NULL || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	config_destroy(c);
}

void
config_slot_init(struct config_slot *s, struct config *cfg)
{
	pthread_mutex_init(&s->mu, NULL);
	s->cfg = cfg;
}

struct config *
config_slot_get(struct config_slot *s)
{
	struct config *cfg;

	pthread_mutex_lock(&s->mu);
	cfg = config_ref(s->cfg);
	pthread_mutex_unlock(&s->mu);
	return cfg;
}

void
config_slot_set(struct config_slot *s, struct config *cfg)
{
	struct config *old;

	pthread_mutex_lock(&s->mu);
	old = s->cfg;
	s->cfg = config_ref(cfg);
	pthread_mutex_unlock(&s->mu);
	config_unref(old);
}

void
config_slot_release(struct config_slot *s)
{
	config_unref(s->cfg);
	s->cfg = NULL;
	pthread_mutex_destroy(&s->mu);
}

/* ---- Keys that need a restart ---- */

static bool
str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* Whether the value of 'f' differs between the objects 'a' and 'b'. Sections are walked by the
 * caller; the types not compared here (lists of mappings, labels, headers) are never restart
 * keys. */
static bool
field_differs(const struct field *f, const void *a, const void *b)
{
	const char *x = (const char *)a + f->off, *y = (const char *)b + f->off;

	switch (f->type) {
	case F_STR:
	case F_OPTSTR:
	case F_NAME:
	case F_FILE:
	case F_LISTEN:
	case F_URL:
	case F_LOGLEVEL:
	case F_PROFILE:
	case F_HTTPPATH:
		return str_differs(*(char *const *)x, *(char *const *)y);
	case F_FORMAT:
		return *(const enum profile_format *)x != *(const enum profile_format *)y;
	case F_WHFORMAT:
		return *(const enum webhook_format *)x != *(const enum webhook_format *)y;
	case F_DUR:
	case F_SIZE:
	case F_U64:
		return *(const uint64_t *)x != *(const uint64_t *)y;
	case F_UINT:
	case F_ENUM:
		return *(const unsigned *)x != *(const unsigned *)y;
	case F_BOOL:
		return *(const bool *)x != *(const bool *)y;
	case F_SCORE:
		return *(const double *)x != *(const double *)y;
	case F_STRLIST:
	case F_URLLIST: {
		char *const *xs = *(char **const *)x, *const *ys = *(char **const *)y;
		size_t n = *(const size_t *)((const char *)a + f->off2);

		if (n != *(const size_t *)((const char *)b + f->off2))
			return true;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(xs[i], ys[i]) != 0)
				return true;
		}
		return false;
	}
	case F_LABELS:
	case F_HEADERS:
	case F_MAP:
	case F_LIST:
		break;
	}
	return false;
}

static void
log_restart_fields(const struct field *fields, const char *path, const void *old, const void *next,
                   bool restart)
{
	for (const struct field *f = fields; f->key != NULL; f++) {
		bool r = restart || (f->flags & FIELD_RESTART) != 0;
		char kp[PATH_BUF];

		path_key(kp, path, f->key);
		if (f->type == F_MAP)
			log_restart_fields(f->sub, kp, (const char *)old + f->off,
			                   (const char *)next + f->off, r);
		else if (r && field_differs(f, old, next))
			log_warn("config: %s changed: takes effect after restart", kp);
	}
}

void
config_log_restart_changes(const struct config *old, const struct config *next)
{
	log_restart_fields(config_fields, "", old, next, false);
}

static void
config_destroy(struct config *cfg)
{
	free(cfg->source);
	free(cfg->listen);
	free(cfg->database);
	free(cfg->log_level);
	free(cfg->external_url);
	for (size_t i = 0; i < cfg->nservices; i++)
		service_release(&cfg->services[i]);
	free(cfg->services);
	for (size_t i = 0; i < cfg->ntarget_files; i++)
		free(cfg->target_files[i]);
	free(cfg->target_files);
	for (size_t i = 0; i < cfg->nhttp_sd; i++)
		http_sd_release(&cfg->http_sd[i]);
	free(cfg->http_sd);
	for (size_t i = 0; i < cfg->ndns_sd; i++)
		dns_sd_release(&cfg->dns_sd[i]);
	free(cfg->dns_sd);
	for (size_t i = 0; i < cfg->detector.nignore; i++) {
		free(cfg->detector.ignore[i].function);
		free(cfg->detector.ignore[i].any_function);
		free(cfg->detector.ignore[i].file);
		free(cfg->detector.ignore[i].service);
	}
	free(cfg->detector.ignore);
	free(cfg->web.bearer_token_file);
	free(cfg->web.basic_auth.username);
	free(cfg->web.basic_auth.password_file);
	free(cfg->web.tls_cert_file);
	free(cfg->web.tls_key_file);
	for (size_t i = 0; i < cfg->alerting.nwebhooks; i++) {
		struct config_webhook *w = &cfg->alerting.webhooks[i];

		free(w->name);
		free(w->url);
		free(w->url_file);
		free(w->secret_file);
		for (size_t j = 0; j < w->nservices; j++)
			free(w->services[j]);
		free(w->services);
	}
	free(cfg->alerting.webhooks);
	free(cfg);
}

void
config_errors_release(struct config_errors *errs)
{
	if (errs == NULL)
		return;
	for (size_t i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->n = 0;
}

/* Rules between keys, checked once the whole document is read. */
static void
check_config(struct loader *L, const yaml_node_t *root, struct config *cfg)
{
	const yaml_node_t *to = map_get(L, root, "scrape_timeout");
	const yaml_node_t *ret = map_get(L, root, "retention");

	/* As in Prometheus: only a timeout the file names can be too long for the interval. */
	cfg->scrape_timeout_set = to != NULL;
	if (!cfg->scrape_timeout_set) {
		config_set_scrape_interval(cfg, cfg->scrape_interval);
	} else if (cfg->scrape_timeout > cfg->scrape_interval) {
		lerr(L, to, "scrape_timeout",
		     "scrape_timeout (%" PRIu64 "s) must not exceed scrape_interval (%" PRIu64 "s)",
		     cfg->scrape_timeout, cfg->scrape_interval);
	}
	if (cfg->retention_rollup < cfg->retention_raw) {
		const yaml_node_t *rn = map_get(L, ret, "rollup");

		lerr(L, rn != NULL ? rn : ret, "retention.rollup",
		     "rollup (%" PRIu64 "s) must not be shorter than raw (%" PRIu64 "s)",
		     cfg->retention_rollup, cfg->retention_raw);
	}
	if (cfg->detector.window > cfg->retention_rollup) {
		const yaml_node_t *det = map_get(L, root, "detector"),
		                  *wn = map_get(L, det, "window");
		const yaml_node_t *rn = map_get(L, ret, "rollup");

		/* Past retention.raw a window is served from the rollups; past them nothing is
		 * kept. */
		lerr(L,
		     wn != NULL   ? wn
		     : rn != NULL ? rn
		                  : ret,
		     wn != NULL || rn == NULL ? "detector.window" : "retention.rollup",
		     "detector.window (%" PRIu64 "s) must not exceed retention.rollup (%" PRIu64
		     "s): older data is not kept",
		     cfg->detector.window, cfg->retention_rollup);
	}
	bool discovery = cfg->ntarget_files > 0 || cfg->nhttp_sd > 0 || cfg->ndns_sd > 0;

	for (size_t i = 0; i < cfg->nservices && !discovery && L->svc_nodes != NULL; i++) {
		char ip[PATH_BUF];

		const yaml_node_t *tn = map_get(L, L->svc_nodes[i], "targets");

		/* A list whose items were all rejected has been reported already. */
		if (cfg->services[i].ntargets > 0 ||
		    (tn != NULL && (tn->type != YAML_SEQUENCE_NODE ||
		                    tn->data.sequence.items.top != tn->data.sequence.items.start)))
			continue;
		path_index(ip, "services", i);
		lerr(L, L->svc_nodes[i], ip,
		     "no targets (give targets, or target_files, http_sd or dns_sd for "
		     "discovery)");
	}
}

static int
cerr_cmp(const void *a, const void *b)
{
	const struct cerr *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Hand the collected errors to 'errs' in file order (line 0, the file-level ones, first). */
static void
loader_finish(struct loader *L, struct config_errors *errs)
{
	char **msgs;

	if (L->nerrs > 1)
		qsort(L->errs, L->nerrs, sizeof(*L->errs), cerr_cmp);
	/* Nothing to hand out: leave errs untouched, so a caller that loaded fine owes no release.
	 */
	if (errs == NULL || (L->nerrs == 0 && L->nfailed == 0 && !L->oom))
		goto out_free;
	msgs = realloc(errs->msgs, (errs->n + L->nerrs + 2) * sizeof(*msgs));
	if (msgs == NULL)
		goto out_free;
	errs->msgs = msgs;
	for (size_t i = 0; i < L->nerrs; i++) {
		msgs[errs->n++] = L->errs[i].msg;
		L->errs[i].msg = NULL;
	}
	if (L->nfailed > L->nerrs && !L->oom) {
		if (asprintf(&msgs[errs->n], "%s: too many errors, %zu more not shown", L->name,
		             L->nfailed - L->nerrs) >= 0)
			errs->n++;
	} else if (L->oom && L->nerrs == 0) {
		if (asprintf(&msgs[errs->n], "%s: out of memory", L->name) >= 0)
			errs->n++;
	}
out_free:
	for (size_t i = 0; i < L->nerrs; i++)
		free(L->errs[i].msg);
	free(L->errs);
	L->errs = NULL;
	L->nerrs = 0;
}

/* The line where flow collections ([ and {) nest deeper than CONFIG_MAX_FLOW_DEPTH, or 0. libyaml's
 * scanner is quadratic in that depth (200,000 nested brackets take minutes), and the schema never
 * nests more than a few levels, so a deeper file is refused before parsing. Quoted strings and
 * comments are skipped; brackets inside plain scalars count, which only matters for absurd values.
 */
#define CONFIG_MAX_FLOW_DEPTH 64

static size_t
flow_too_deep(const char *buf, size_t len)
{
	size_t depth = 0, line = 1;
	char quote = 0;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if (c == '\n')
			line++;
		if (quote != 0) {
			if (quote == '"' && c == '\\' && i + 1 < len)
				i++;
			else if (c == quote)
				quote = 0;
			continue;
		}
		switch (c) {
		case '"':
		case '\'':
			/* A quote opens a string only where a scalar can start, not inside a plain
			 * word like it's. */
			if (i == 0 || strchr(" \t\n[{,:", buf[i - 1]) != NULL)
				quote = c;
			break;
		case '#':
			if (i == 0 || buf[i - 1] == ' ' || buf[i - 1] == '\t' ||
			    buf[i - 1] == '\n') {
				while (i + 1 < len && buf[i + 1] != '\n')
					i++;
			}
			break;
		case '[':
		case '{':
			if (++depth > CONFIG_MAX_FLOW_DEPTH)
				return line;
			break;
		case ']':
		case '}':
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
	}
	return 0;
}

struct config *
config_load_buffer(const char *name, const char *buf, size_t len, struct config_errors *errs)
{
	struct loader L = {.name = name};
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	const yaml_node_t *root;
	struct config *cfg;
	size_t deep;

	cfg = config_new(name, "/var/lib/leakprofd/leakprofd.db");
	if (cfg == NULL) {
		L.oom = true;
		L.nfailed++;
		loader_finish(&L, errs);
		return NULL;
	}
	deep = flow_too_deep(buf, len);
	if (deep > 0) {
		lerr_at(&L, deep, NULL, "lists and mappings nested more than %d deep",
		        CONFIG_MAX_FLOW_DEPTH);
		goto out_free_cfg;
	}
	if (!yaml_parser_initialize(&parser)) {
		oom(&L, NULL, NULL);
		goto out_free_cfg;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_err(&L, &parser, buf, len);
		goto out_free_parser;
	}
	L.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root != NULL && !is_null(root)) {
		if (root->type != YAML_MAPPING_NODE) {
			lerr(&L, root, NULL, "expected a mapping of keys at the top level, got %s",
			     node_kind(root));
		} else {
			load_map(&L, root, "", config_fields, cfg);
			check_config(&L, root, cfg);
		}
		/* One document per file: a second one would be silently ignored otherwise. */
		if (yaml_parser_load(&parser, &extra)) {
			if (yaml_document_get_root_node(&extra) != NULL)
				lerr(&L, yaml_document_get_root_node(&extra), NULL,
				     "more than one YAML document in the file");
			yaml_document_delete(&extra);
		} else {
			syntax_err(&L, &parser, buf, len);
		}
	}
	yaml_document_delete(&doc);
out_free_parser:
	yaml_parser_delete(&parser);
	free(L.svc_nodes);
out_free_cfg:
	if (L.nfailed > 0 || L.oom) {
		config_unref(cfg);
		cfg = NULL;
	}
	loader_finish(&L, errs);
	return cfg;
}

struct config *
config_load(const char *path, struct config_errors *errs)
{
	struct loader L = {.name = path};
	struct config *cfg = NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		lerr(&L, NULL, NULL, "cannot open: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		if (len == cap) {
			char *nb;

			if (cap >= CONFIG_MAX_FILE_BYTES) {
				lerr(&L, NULL, NULL, "larger than %u bytes", CONFIG_MAX_FILE_BYTES);
				goto out_close;
			}
			cap = cap ? cap * 2 : 8192;
			nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				oom(&L, NULL, NULL);
				goto out_close;
			}
			buf = nb;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			lerr(&L, NULL, NULL, "cannot read: %s", strerror(errno));
			goto out_close;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	cfg = config_load_buffer(path, buf != NULL ? buf : "", len, errs);
	free(buf);
	return cfg;
out_close:
	close(fd);
out:
	free(buf);
	loader_finish(&L, errs);
	return NULL;
}

void
config_set_scrape_interval(struct config *cfg, uint64_t secs)
{
	cfg->scrape_interval = secs;
	if (!cfg->scrape_timeout_set)
		cfg->scrape_timeout = secs < DEFAULT_SCRAPE_TIMEOUT ? secs : DEFAULT_SCRAPE_TIMEOUT;
	else if (cfg->scrape_timeout > secs)
		cfg->scrape_timeout = secs;
}

int
config_add_target(struct config *cfg, const char *url, struct config_errors *errs)
{
	struct loader L = {.name = "--target"};
	struct config_service *s = NULL, *ns;
	char **targets, sh[256];
	const char *why = url_problem(url);

	if (why != NULL) {
		lerr(&L, NULL, NULL, "invalid URL '%s': %s", shown(url, sh, sizeof(sh)), why);
		goto out_err;
	}
	for (size_t i = 0; i < cfg->nservices; i++) {
		if (cfg->services[i].name != NULL && strcmp(cfg->services[i].name, "cli") == 0)
			s = &cfg->services[i];
	}
	if (s == NULL) {
		ns = realloc(cfg->services, (cfg->nservices + 1) * sizeof(*ns));
		if (ns == NULL)
			goto out_oom;
		cfg->services = ns;
		s = &ns[cfg->nservices];
		service_init(s);
		s->name = strdup("cli");
		if (s->name == NULL || service_finish(s) != 0) {
			service_release(s);
			goto out_oom;
		}
		cfg->nservices++;
	}
	for (size_t i = 0; i < s->ntargets; i++) {
		if (strcmp(s->targets[i], url) == 0) {
			lerr(&L, NULL, NULL, "duplicate target '%s'", shown(url, sh, sizeof(sh)));
			goto out_err;
		}
	}
	targets = realloc(s->targets, (s->ntargets + 1) * sizeof(*targets));
	if (targets == NULL)
		goto out_oom;
	s->targets = targets;
	targets[s->ntargets] = strdup(url);
	if (targets[s->ntargets] == NULL)
		goto out_oom;
	s->ntargets++;
	return 0;
out_oom:
	oom(&L, NULL, NULL);
out_err:
	loader_finish(&L, errs);
	return -1;
}
