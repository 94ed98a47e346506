/* base/url.c: checking and taking apart http(s) URLs and listen addresses (the rules are in url.h).
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "base/url.h"

size_t
url_scheme_len(const char *s)
{
	if (s == NULL)
		return 0;
	if (strncasecmp(s, "http://", 7) == 0)
		return 7;
	if (strncasecmp(s, "https://", 8) == 0)
		return 8;
	return 0;
}

bool
url_has_ctl_or_space(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

static bool
url_port_ok(const char *p, const char *end, bool allow_zero)
{
	unsigned long v = 0;

	if (p == end || end - p > 5)
		return false;
	for (const char *q = p; q < end; q++) {
		if (*q < '0' || *q > '9')
			return false;
		v = v * 10 + (unsigned long)(*q - '0');
	}
	return v <= 65535 && (allow_zero || v > 0);
}

const char *
url_problem(const char *s)
{
	const char *auth, *end, *host, *at, *colon;

	if (url_has_ctl_or_space(s))
		return "contains spaces or control characters";
	if (url_scheme_len(s) == 0)
		return "the scheme must be http:// or https://";
	auth = s + url_scheme_len(s);
	end = auth + strcspn(auth, "/?#");
	host = auth;
	at = memchr(auth, '@', (size_t)(end - auth));
	while (at != NULL) {
		host = at + 1;
		at = memchr(host, '@', (size_t)(end - host));
	}
	if (host == end)
		return "missing host";
	if (*host == '[') {
		const char *rb = memchr(host, ']', (size_t)(end - host));

		if (rb == NULL || rb == host + 1)
			return "bad IPv6 address (use [addr]:port)";
		if (rb + 1 == end)
			return NULL;
		if (rb[1] != ':' || !url_port_ok(rb + 2, end, false))
			return "invalid port";
		return NULL;
	}
	colon = memchr(host, ':', (size_t)(end - host));
	if (colon == host)
		return "missing host";
	if (colon != NULL && !url_port_ok(colon + 1, end, false))
		return "invalid port";
	return NULL;
}

const char *
url_listen_problem(const char *s)
{
	const char *colon;

	if (url_has_ctl_or_space(s))
		return "contains spaces or control characters";
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb == s + 1 || strchr(s + 1, '[') != NULL)
			return "bad IPv6 address (use [addr]:port)";
		if (rb[1] != ':')
			return "missing port (use host:port or [addr]:port)";
		return url_port_ok(rb + 2, rb + 2 + strlen(rb + 2), true) ? NULL : "invalid port";
	}
	colon = strrchr(s, ':');
	if (colon == NULL)
		return "missing port (use host:port or [addr]:port)";
	if (colon == s)
		return "missing host (use e.g. 127.0.0.1:8080)";
	if (memchr(s, ':', (size_t)(colon - s)) != NULL)
		return "IPv6 addresses need brackets: [addr]:port";
	return url_port_ok(colon + 1, colon + 1 + strlen(colon + 1), true) ? NULL : "invalid port";
}

bool
url_has_path(const char *s)
{
	size_t n = url_scheme_len(s);
	const char *slash;

	if (n == 0)
		return false;
	slash = s + n + strcspn(s + n, "/?#");
	return *slash == '/' && slash[1] != '\0' && slash[1] != '?' && slash[1] != '#';
}
