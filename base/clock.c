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

/* "%Y-%m-%dT%H:%M:%S" of 'ms' into 'buf', or false. */
static bool
clock_fmt_seconds(int64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (n > 0)
		buf[0] = '\0';
	if (ms <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		if (n > 0)
			buf[0] = '\0';
		return false;
	}
	return true;
}

bool
clock_fmt_iso8601(int64_t ms, char *buf, size_t n)
{
	size_t len;

	if (!clock_fmt_seconds(ms, buf, n))
		return false;
	len = strlen(buf);
	if (len + 2 > n) {
		buf[0] = '\0';
		return false;
	}
	memcpy(buf + len, "Z", 2);
	return true;
}

bool
clock_fmt_iso8601_ms(int64_t ms, char *buf, size_t n)
{
	size_t len;

	if (!clock_fmt_seconds(ms, buf, n))
		return false;
	len = strlen(buf);
	if ((size_t)snprintf(buf + len, n - len, ".%03dZ", (int)(ms % 1000)) >= n - len) {
		buf[0] = '\0';
		return false;
	}
	return true;
}
