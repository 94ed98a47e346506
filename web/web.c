/* web/web.c: the helpers every web handler shares: the capped string buffer, escaping for each
 * output context, replies, and parsing of query parameters. Pure: no I/O, no libmicrohttpd. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web/web.h"

static bool
sbuf_grow(struct sbuf *b, size_t need)
{
	size_t max = b->max ? b->max : WEB_MAX_BODY;
	size_t ncap;
	char *np;

	if (b->failed)
		return false;
	if (need > max - 1 - b->len || b->len >= max) {
		b->failed = true;
		return false;
	}
	if (b->len + need + 1 <= b->cap)
		return true;
	ncap = b->cap ? b->cap : 4096;
	while (ncap < b->len + need + 1)
		ncap *= 2;
	if (ncap > max)
		ncap = max;
	np = realloc(b->p, ncap);
	if (!np) {
		b->failed = true;
		return false;
	}
	b->p = np;
	b->cap = ncap;
	return true;
}

void
sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (!sbuf_grow(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
sbuf_puts(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

void
sbuf_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sbuf_grow(b, (size_t)n)) {
		b->failed = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes there are not valid UTF-8. */
static size_t
utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
			return 0; /* overlong, or a UTF-16 surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

void
sbuf_html(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p) {
		const unsigned char *run = p;
		size_t n;

		/* Copy plain runs at once; stop at anything that needs care. */
		while (*p >= 0x20 && *p < 0x7f && *p != '&' && *p != '<' && *p != '>' &&
		       *p != '"' && *p != '\'')
			p++;
		if (p > run)
			sbuf_add(b, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		switch (*p) {
		case '&':
			sbuf_puts(b, "&amp;");
			p++;
			continue;
		case '<':
			sbuf_puts(b, "&lt;");
			p++;
			continue;
		case '>':
			sbuf_puts(b, "&gt;");
			p++;
			continue;
		case '"':
			sbuf_puts(b, "&quot;");
			p++;
			continue;
		case '\'':
			sbuf_puts(b, "&#39;");
			p++;
			continue;
		case '\t':
		case '\n':
			sbuf_add(b, (const char *)p, 1);
			p++;
			continue;
		default:
			break;
		}
		if (*p < 0x20 || *p == 0x7f) {
			sbuf_puts(b, "\xef\xbf\xbd");
			p++;
			continue;
		}
		n = utf8_seq(p);
		if (n == 0) {
			sbuf_puts(b, "\xef\xbf\xbd");
			p++;
			continue;
		}
		sbuf_add(b, (const char *)p, n);
		p += n;
	}
}

void
sbuf_url(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	for (; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			sbuf_add(b, (const char *)p, 1);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};

			sbuf_add(b, e, 3);
		}
	}
}

void
sbuf_prom(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	for (; *p; p++) {
		if (*p == '\\')
			sbuf_puts(b, "\\\\");
		else if (*p == '"')
			sbuf_puts(b, "\\\"");
		else if (*p == '\n')
			sbuf_puts(b, "\\n");
		else
			sbuf_add(b, (const char *)p, 1);
	}
}

char *
sbuf_steal(struct sbuf *b, size_t *len)
{
	char *p = NULL;

	if (!b->failed && b->p) {
		p = b->p;
		*len = b->len;
		b->p = NULL;
	} else {
		*len = 0;
	}
	sbuf_release(b);
	return p;
}

void
sbuf_release(struct sbuf *b)
{
	free(b->p);
	*b = (struct sbuf){.max = b->max};
}

void
web_reply_take(struct web_reply *r, unsigned status, const char *content_type, struct sbuf *b)
{
	size_t len;
	char *body;

	if (b->p == NULL && !b->failed)
		sbuf_add(b, "", 0);
	body = sbuf_steal(b, &len);
	if (!body) {
		web_reply_text(r, 500, "internal error: reply too large or out of memory\n");
		return;
	}
	web_reply_release(r);
	r->status = status;
	r->content_type = content_type;
	r->body = body;
	r->len = len;
}

void
web_reply_text(struct web_reply *r, unsigned status, const char *text)
{
	web_reply_release(r);
	r->status = status;
	r->content_type = "text/plain; charset=utf-8";
	r->body = strdup(text);
	r->len = r->body ? strlen(r->body) : 0;
}

void
web_reply_release(struct web_reply *r)
{
	free(r->body);
	*r = (struct web_reply){0};
}

int
web_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

int
web_parse_duration(const char *s, uint64_t max_s, uint64_t *out)
{
	static const struct {
		char unit;
		uint64_t mul;
	} units[] = {
	    {'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400},
	};
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end) {
		size_t i;

		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			if (*end == units[i].unit)
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]) || end[1])
			return -1;
		mul = units[i].mul;
	}
	if (v == 0 || v > max_s / mul)
		return -1;
	*out = v * mul;
	return 0;
}

void
web_fmt_time(int64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&t, &tm)) {
		snprintf(buf, n, "never");
		return;
	}
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
web_fmt_duration(uint64_t s, char *buf, size_t n)
{
	if (s && s % 86400 == 0)
		snprintf(buf, n, "%llud", (unsigned long long)(s / 86400));
	else if (s && s % 3600 == 0)
		snprintf(buf, n, "%lluh", (unsigned long long)(s / 3600));
	else if (s && s % 60 == 0)
		snprintf(buf, n, "%llum", (unsigned long long)(s / 60));
	else
		snprintf(buf, n, "%llus", (unsigned long long)s);
}

bool
web_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char diff = alen != blen;
	size_t n = alen > blen ? alen : blen;

	/* Touch every byte of the longer one so the time depends on lengths only. */
	for (size_t i = 0; i < n; i++) {
		unsigned char x = i < alen ? (unsigned char)a[i] : 0;
		unsigned char y = i < blen ? (unsigned char)b[i] : 0;

		diff |= x ^ y;
	}
	return diff == 0;
}

static int
b64_val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
web_base64_decode(const char *in, char *out, size_t outsz)
{
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;
	const char *p;

	for (p = in; *p && *p != '='; p++) {
		int v = b64_val((unsigned char)*p);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= outsz)
				return -1;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	while (*p == '=')
		p++;
	if (*p || bits >= 6)
		return -1;
	out[o] = '\0';
	return 0;
}

void
sbuf_utf8(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p) {
		size_t n = utf8_seq(p);

		if (n == 0) {
			sbuf_puts(b, "\xef\xbf\xbd");
			p++;
		} else {
			sbuf_add(b, (const char *)p, n);
			p += n;
		}
	}
}
