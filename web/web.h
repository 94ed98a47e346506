/* web/web.h: what the web server's handlers share: the request context, the reply, a capped string
 * buffer and the escaping helpers for every output context (HTML text and attributes, URLs, JSON,
 * Prometheus labels). Handlers (api.c, pages.c, metrics.c) are plain functions of a context and
 * produce a complete reply; only server.c knows libmicrohttpd, so the handlers and helpers can be
 * tested without a socket. */
#ifndef WEB_H
#define WEB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "web/server.h"
#include "base/sbuf.h"
#include "collector/targets.h"
#include "storage/store.h"

/* Every reply body is capped: a page or an API answer larger than this is a bug or an abuse. */
#define WEB_MAX_BODY SBUF_DEFAULT_MAX

/* 's' escaped for HTML text and for a double- or single-quoted attribute value (& < > " ' escaped).
 * Invalid UTF-8 bytes and control characters other than tab and newline become U+FFFD. */
void sbuf_html(struct sbuf *b, const char *s);
/* 's' percent-encoded for a URL query value (RFC 3986 unreserved kept). */
void sbuf_url(struct sbuf *b, const char *s);
/* 's' as a Prometheus label value: backslash, double quote and newline escaped. */
void sbuf_prom(struct sbuf *b, const char *s);

/* A finished reply: status, content type (static string), body (owned, free()), an optional Allow
 * value (static string), a Retry-After in seconds (0: none) and whether it may be cached (static
 * assets). */
struct api_cache;
struct recompute;
struct recompute_entry;

struct web_reply {
	unsigned status;
	const char *content_type;
	char *body;
	size_t len;
	const char *allow;
	unsigned retry_after;
	bool cacheable;
};

/* One request as the handlers see it. */
struct web_ctx {
	struct store *st;         /* read-only connection for this request, borrowed */
	const struct config *cfg; /* the current config, borrowed for the request */
	int64_t now_ms;
	const char *base_url;        /* the dashboard's external URL, no trailing slash */
	const char *path;            /* URL path, already %-decoded by the server */
	struct api_cache *cache;     /* replies cached per stored ranking, NULL: none */
	struct recompute *recompute; /* rankings recomputed over a window, NULL: none */
	/* the answer for this request's recompute window (api_recompute_window), claimed before
	 * the handler runs; NULL: the handler computes it */
	struct recompute_entry *recomputed;
	const char *(*arg)(void *cls, const char *name); /* query argument or NULL */
	void *arg_cls;
	/* the sources of targets (files, http_sd, dns_sd) as the collector last reported them, set
	 * for the pages that show them (/targets); borrowed */
	const struct targets_source_state *sources;
	size_t nsources;
	size_t sources_total; /* there are this many; only the first nsources are here */
	/* what the detector's window kept between rankings holds, set for /metrics; NULL: no
	 * detector */
	const struct window_stats *window;
	/* the daemon's writer, set for /metrics and the targets page; NULL: not known */
	const struct web_ingest *ingest;
};

static inline const char *
web_arg(const struct web_ctx *c, const char *name)
{
	const char *v = c->arg ? c->arg(c->arg_cls, name) : NULL;

	return v && *v ? v : NULL;
}

/* Fill 'r' with a body taken from 'b' (stolen); a failed buffer becomes a 500. */
void web_reply_take(struct web_reply *r, unsigned status, const char *content_type, struct sbuf *b);
/* A plain text reply. */
void web_reply_text(struct web_reply *r, unsigned status, const char *text);
void web_reply_release(struct web_reply *r);

/* Parse a window or step (any duration of base/units.h: "90s", "6h", "1h30m", "2d" or seconds). 0,
 * or -1 when not a positive duration <= 'max_s'. */
int web_parse_duration(const char *s, uint64_t max_s, uint64_t *out)
    __attribute__((warn_unused_result));
/* Parse a positive decimal integer <= max. 0, or -1. */
int web_parse_uint(const char *s, uint64_t max, uint64_t *out) __attribute__((warn_unused_result));
/* Unix ms → "2026-11-27T22:01:53Z" (base/clock.h) into buf (>= 21 bytes), "never" for 0. */
void web_fmt_time(int64_t ms, char *buf, size_t n);
/* Constant-time comparison of two byte strings (secrets). */
bool web_secret_equal(const char *a, size_t alen, const char *b, size_t blen);
/* Decode standard base64 (padding optional) into out (NUL-terminated). 0, or -1 when invalid or too
 * long. */
int web_base64_decode(const char *in, char *out, size_t outsz) __attribute__((warn_unused_result));

#endif
