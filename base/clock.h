/* base/clock.h: the clocks and the one time format. Monotonic milliseconds for intervals and
 * deadlines, wall-clock Unix milliseconds for what is stored and shown, and ISO 8601 UTC text for
 * every interface that prints a time. */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "2026-11-27T22:01:53Z" and its NUL. */
#define CLOCK_ISO8601_LEN 21

/* Milliseconds of CLOCK_MONOTONIC: for intervals and deadlines, never stored. */
int64_t clock_mono_ms(void);
/* Unix milliseconds (CLOCK_REALTIME): timestamps that are stored or shown. */
int64_t clock_wall_ms(void);
/* Unix ms → "2026-11-27T22:01:53Z" (UTC, whole seconds) in 'buf' of at least CLOCK_ISO8601_LEN
 * bytes. A time at or before the epoch means "never": 'buf' gets "" and the result is false. */
bool clock_fmt_iso8601(int64_t ms, char *buf, size_t n);

/* Unix ms → "2026-11-27T22:01:53.042Z" (UTC, milliseconds: log lines) in 'buf' of at least
 * CLOCK_ISO8601_MS_LEN bytes. false (and "") as clock_fmt_iso8601(). */
#define CLOCK_ISO8601_MS_LEN 25
bool clock_fmt_iso8601_ms(int64_t ms, char *buf, size_t n);

#endif
