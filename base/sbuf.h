/* base/sbuf.h: the capped string buffer, for every text that is built up piece by piece (pages, API
 * answers, alert payloads, explanations): it grows as needed up to a byte cap, and once an append
 * fails (the cap or ENOMEM) 'failed' stays set and every later append does nothing, so a renderer
 * checks once at the end. */
#ifndef SBUF_H
#define SBUF_H

#include <stdbool.h>
#include <stddef.h>

/* The cap of a buffer whose 'max' is 0. */
#define SBUF_DEFAULT_MAX (32u << 20)

/* Zero-initialize ({0}, or {.max = N} for another cap); release with sbuf_release() or
 * sbuf_steal(). */
struct sbuf {
	char *p; /* NUL-terminated when not NULL */
	size_t len;
	size_t cap;
	size_t max; /* byte cap including the NUL, 0: SBUF_DEFAULT_MAX */
	bool failed;
};

void sbuf_add(struct sbuf *b, const char *s, size_t n);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 's' with every invalid UTF-8 byte replaced by U+FFFD (jansson accepts only valid UTF-8). */
void sbuf_utf8(struct sbuf *b, const char *s);
/* Length of the valid UTF-8 sequence at 's' (1..4), or 0 when the bytes there are not valid UTF-8
 * (overlong forms and UTF-16 surrogates included). Reads at most up to the first NUL. */
size_t sbuf_utf8_seq(const unsigned char *s);
/* Release the buffer, returning its bytes (caller owns, free()) and their length, or NULL when it
 * failed or is empty. */
char *sbuf_steal(struct sbuf *b, size_t *len);
/* Free the bytes; the buffer is empty again with the same cap. */
void sbuf_release(struct sbuf *b);
/* The value of the hexadecimal digit 'c' (either case), or -1. */
int sbuf_hexval(unsigned char c);

#endif
