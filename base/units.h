/* base/units.h: the one spelling of durations and sizes, for the configuration, the command line
 * and the HTTP API alike.
 *
 * A duration is a plain number of seconds ("90") or one or more <number><unit> terms, largest first
 * or not
 * ("90s", "30m", "1h30m", "2d", "1w"), units ms, s, m, h, d and w. A size is a plain number of
 * bytes or <number><unit> with an optional space, units b, kb, mb, gb, tb (powers of 1000) and kib,
 * mib, gib, tib (powers of 1024), case-insensitive ("64MiB", "512 KiB", "10MB"). Values must fit in
 * a signed 64-bit count of milliseconds (durations) or bytes (sizes). */
#ifndef UNITS_H
#define UNITS_H

#include <stddef.h>
#include <stdint.h>

/* 's' as milliseconds. 0, or -1 when 's' is not a duration. */
int units_parse_duration_ms(const char *s, uint64_t *ms) __attribute__((warn_unused_result));
/* 's' as whole seconds. 0, or -1 when 's' is not a duration or not a whole number of seconds
 * ("1500ms"). */
int units_parse_duration(const char *s, uint64_t *seconds) __attribute__((warn_unused_result));
/* 's' as bytes. 0, or -1 when 's' is not a size. */
int units_parse_size(const char *s, uint64_t *bytes) __attribute__((warn_unused_result));
/* Seconds in the largest unit that divides them: "6h", "90m", "2d", "45s" (days at most; parses
 * back). */
void units_fmt_duration(uint64_t seconds, char *buf, size_t n);

#endif
