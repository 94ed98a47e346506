/* base/xalloc.c: allocation that logs and aborts on out-of-memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/xalloc.h"

static _Noreturn void
xalloc_die(size_t size)
{
	log_err("out of memory allocating %zu bytes", size);
	abort();
}

void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		xalloc_die(size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p;

	if (size != 0 && n > SIZE_MAX / size)
		xalloc_die(SIZE_MAX);
	p = calloc(n ? n : 1, size ? size : 1);
	if (p == NULL)
		xalloc_die(n * size);
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	void *np = realloc(p, size ? size : 1);

	if (np == NULL)
		xalloc_die(size);
	return np;
}

char *
xstrdup(const char *s)
{
	return s != NULL ? xstrndup(s, strlen(s)) : NULL;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void *
array_grow(void *p, size_t *cap, size_t need, size_t elem, size_t first)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return p;
	ncap = *cap ? *cap : first ? first : 1;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return NULL;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / elem)
		return NULL;
	np = realloc(p, ncap * elem);
	if (np)
		*cap = ncap;
	return np;
}
