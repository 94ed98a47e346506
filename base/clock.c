/* base/clock.c: monotonic and wall-clock milliseconds, and ISO 8601 UTC formatting. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"

static int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int64_t
clock_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

/* 'ms' as "%Y-%m-%dT%H:%M:%S", ".mmm" when 'with_ms', and "Z" into 'buf'; or "" and false. */
static bool
clock_fmt(int64_t ms, bool with_ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	size_t len;
	int w;

	if (n == 0)
		return false;
	buf[0] = '\0';
	if (ms <= 0 || gmtime_r(&t, &tm) == NULL)
		return false;
	len = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
	if (len == 0) {
		buf[0] = '\0'; /* strftime may have left a part */
		return false;
	}
	if (with_ms)
		w = snprintf(buf + len, n - len, ".%03dZ", (int)(ms % 1000));
	else
		w = snprintf(buf + len, n - len, "Z");
	if (w < 0 || (size_t)w >= n - len) {
		buf[0] = '\0';
		return false;
	}
	return true;
}

bool
clock_fmt_iso8601(int64_t ms, char *buf, size_t n)
{
	return clock_fmt(ms, false, buf, n);
}

bool
clock_fmt_iso8601_ms(int64_t ms, char *buf, size_t n)
{
	return clock_fmt(ms, true, buf, n);
}
