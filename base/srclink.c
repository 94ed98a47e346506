/* base/srclink.c: source links from a service's URL template (see srclink.h).
 *
 * A template is checked once, at load time, by filling every placeholder with a plain value and
 * asking base/url.c whether the result is an http(s) URL; expansion then only substitutes. What a
 * profile says (file names) is percent-encoded before it enters a URL, so a hostile file name can
 * neither leave the path nor start a query or a fragment; the page that shows the link escapes it
 * again for HTML. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/srclink.h"
#include "base/url.h"

enum placeholder { PH_NONE = -1, PH_PATH, PH_LINE, PH_VERSION };

static const char *const ph_names[] = {"{path}", "{line}", "{version}"};

/* The placeholder at 'p' (which is '{'), with its length in *len. */
static enum placeholder
placeholder_at(const char *p, size_t *len)
{
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(ph_names[i]);

		if (strncmp(p, ph_names[i], n) == 0) {
			*len = n;
			return (enum placeholder)i;
		}
	}
	return PH_NONE;
}

/* 's' percent-encoded for a URL path: the unreserved characters (RFC 3986) and '/' stay. */
static void
put_encoded(struct sbuf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
		    *p == '/') {
			sbuf_add(out, (const char *)p, 1);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};

			sbuf_add(out, e, 3);
		}
	}
}

/* Does 's' hold a "." or ".." segment between slashes? A URL with one names another path of the
 * host once a browser resolves it. */
static bool
has_dot_segment(const char *s)
{
	for (const char *seg = s; seg != NULL;
	     seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL) {
		size_t n = strcspn(seg, "/");

		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return true;
	}
	return false;
}

const char *
srclink_template_problem(const char *tmpl, char *buf, size_t len)
{
	struct sbuf filled = {.max = 64 * 1024};
	bool has_path = false;
	const char *why;

	for (const char *p = tmpl; *p != '\0'; p++) {
		size_t n = 0;
		enum placeholder ph;

		if (*p == '}') {
			snprintf(buf, len, "'}' without '{' at byte %zu", (size_t)(p - tmpl));
			goto out_problem;
		}
		if (*p != '{') {
			sbuf_add(&filled, p, 1);
			continue;
		}
		ph = placeholder_at(p, &n);
		if (ph == PH_NONE) {
			const char *end = strchr(p, '}');
			int shown = end != NULL && end - p < 40 ? (int)(end - p + 1) : 0;

			if (shown > 0)
				snprintf(
				    buf, len,
				    "unknown placeholder '%.*s' (use {path}, {line} and {version})",
				    shown, p);
			else
				snprintf(
				    buf, len,
				    "'{' without a placeholder at byte %zu (use {path}, {line} "
				    "and {version})",
				    (size_t)(p - tmpl));
			goto out_problem;
		}
		has_path |= ph == PH_PATH;
		sbuf_puts(&filled, ph == PH_LINE ? "1" : "x");
		p += n - 1;
	}
	if (!has_path) {
		snprintf(buf, len, "the template needs {path}");
		goto out_problem;
	}
	if (filled.failed) {
		snprintf(buf, len, "the template is too long");
		goto out_problem;
	}
	why = url_problem(filled.p != NULL ? filled.p : "");
	if (why != NULL) {
		snprintf(buf, len, "not an http:// or https:// URL: %s", why);
		goto out_problem;
	}
	sbuf_release(&filled);
	return NULL;
out_problem:
	sbuf_release(&filled);
	return buf;
}

bool
srclink_needs_version(const char *tmpl)
{
	return tmpl != NULL && strstr(tmpl, "{version}") != NULL;
}

char *
srclink_version(const struct config_source *src, const char *labels_json)
{
	json_t *labels;
	const char *v;
	char *out = NULL;

	if (src == NULL || src->version_label == NULL || labels_json == NULL)
		return NULL;
	labels = json_loads(labels_json, 0, NULL);
	v = json_string_value(json_object_get(labels, src->version_label));
	if (v != NULL && v[0] != '\0')
		out = strdup(v);
	json_decref(labels);
	return out;
}

int
srclink_expand(const struct config_source *src, const char *file, unsigned long line,
               const char *version, struct sbuf *out)
{
	const char *path = file;
	size_t plen = 0;

	if (src == NULL || src->url == NULL || file == NULL || line == 0)
		return 1;
	if (src->strip_prefix != NULL) {
		plen = strlen(src->strip_prefix);
		if (strncmp(file, src->strip_prefix, plen) != 0)
			return 1;
		path = file + plen;
	}
	while (*path == '/')
		path++;
	if (*path == '\0' || has_dot_segment(path))
		return 1;
	if (srclink_needs_version(src->url) &&
	    (version == NULL || version[0] == '\0' || has_dot_segment(version)))
		return 1;
	for (const char *p = src->url; *p != '\0'; p++) {
		size_t n = 0;
		enum placeholder ph = *p == '{' ? placeholder_at(p, &n) : PH_NONE;

		switch (ph) {
		case PH_PATH:
			put_encoded(out, path);
			break;
		case PH_LINE:
			sbuf_addf(out, "%lu", line);
			break;
		case PH_VERSION:
			put_encoded(out, version);
			break;
		case PH_NONE:
			sbuf_add(out, p, 1);
			continue;
		}
		p += n - 1;
	}
	return 0;
}
