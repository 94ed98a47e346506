/* base/xalloc.h: allocation that cannot fail. The daemon's own bookkeeping (registries, queues,
 * copies of names) has no sensible way on without memory: these log "out of memory" and abort.
 * Memory whose size an input decides (a scraped body, a parsed profile) is bounded by that input's
 * caps, not by these. */
#ifndef XALLOC_H
#define XALLOC_H

#include <stddef.h>

/* Like malloc/calloc/realloc/strdup, but never NULL: out of memory logs and aborts. A zero size
 * allocates one byte, so the result is never NULL either. Caller owns the result (free()). */
void *xmalloc(size_t size) __attribute__((malloc, returns_nonnull));
void *xcalloc(size_t n, size_t size) __attribute__((malloc, returns_nonnull));
void *xrealloc(void *p, size_t size) __attribute__((returns_nonnull));
/* A copy of 's'; NULL when 's' is NULL (optional strings copy as they are). */
char *xstrdup(const char *s) __attribute__((malloc));
/* A copy of the first 'n' bytes of 's', NUL-terminated. */
char *xstrndup(const char *s, size_t n) __attribute__((malloc, returns_nonnull));

/* An array 'p' of '*cap' elements of 'elem' bytes, grown (doubling, from 'first') to hold at
 * least 'need': the array, maybe moved, with *cap updated; or NULL, out of memory or past
 * SIZE_MAX bytes, with 'p' and *cap untouched. For arrays whose size an input decides, which
 * must fail rather than abort. */
void *array_grow(void *p, size_t *cap, size_t need, size_t elem, size_t first);

#endif
