/* web/web.c: the helpers every web handler shares: the capped string buffer, escaping for each
 * output context, replies, and parsing of query parameters. Pure: no I/O, no libmicrohttpd. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/units.h"
#include "web/web.h"

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
		n = sbuf_utf8_seq(p);
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
	uint64_t v;

	if (units_parse_duration(s, &v) != 0 || v == 0 || v > max_s)
		return -1;
	*out = v;
	return 0;
}

void
web_fmt_time(int64_t ms, char *buf, size_t n)
{
	if (!clock_fmt_iso8601(ms, buf, n))
		snprintf(buf, n, "never");
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
