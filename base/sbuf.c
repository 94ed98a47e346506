/* base/sbuf.c: the capped string buffer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sbuf.h"

static bool
sbuf_grow(struct sbuf *b, size_t need)
{
	size_t max = b->max ? b->max : SBUF_DEFAULT_MAX;
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

size_t
sbuf_utf8_seq(const unsigned char *s)
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
sbuf_utf8(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p) {
		size_t n = sbuf_utf8_seq(p);

		if (n == 0) {
			sbuf_puts(b, "\xef\xbf\xbd");
			p++;
		} else {
			sbuf_add(b, (const char *)p, n);
			p += n;
		}
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

int
sbuf_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
