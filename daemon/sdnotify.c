/* daemon/sdnotify.c: the systemd notification protocol for `leakprofd run`. See sdnotify.h. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "base/log.h"
#include "daemon/sdnotify.h"

static int64_t watchdog_interval_ms;
static int64_t watchdog_last_ms = -1;
static char last_status[256];
static bool notify_failed_logged;

static void
notify(const char *state)
{
	int r = sd_notify(0, state);

	/* A broken NOTIFY_SOCKET must not stop the daemon, but say it once: systemd will kill a
	 * Type=notify service that never becomes ready, and this line is the only hint why. */
	if (r < 0 && !notify_failed_logged) {
		log_warn("sdnotify: sending '%.*s' to NOTIFY_SOCKET failed: %s",
		         (int)strcspn(state, "\n"), state, strerror(-r));
		notify_failed_logged = true;
	}
}

void
sdnotify_init(void)
{
	uint64_t usec = 0;

	watchdog_interval_ms = 0;
	watchdog_last_ms = -1;
	last_status[0] = '\0';
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		watchdog_interval_ms = (int64_t)(usec / 2000);
		if (watchdog_interval_ms < 1)
			watchdog_interval_ms = 1;
		log_info("sdnotify: watchdog enabled, WATCHDOG_USEC=%llu, pinging every %lld ms",
		         (unsigned long long)usec, (long long)watchdog_interval_ms);
	}
}

int64_t
sdnotify_watchdog_interval_ms(void)
{
	return watchdog_interval_ms;
}

void
sdnotify_ready(const char *status)
{
	char buf[320];

	snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
	snprintf(last_status, sizeof(last_status), "%s", status);
	notify(buf);
}

void
sdnotify_status(const char *status)
{
	char buf[320];

	if (strncmp(status, last_status, sizeof(last_status) - 1) == 0)
		return;
	snprintf(last_status, sizeof(last_status), "%s", status);
	snprintf(buf, sizeof(buf), "STATUS=%s", status);
	notify(buf);
}

void
sdnotify_watchdog(int64_t now_ms)
{
	if (watchdog_interval_ms == 0)
		return;
	if (watchdog_last_ms >= 0 && now_ms - watchdog_last_ms < watchdog_interval_ms)
		return;
	watchdog_last_ms = now_ms;
	notify("WATCHDOG=1");
}

void
sdnotify_reloading(void)
{
	notify("RELOADING=1");
}

void
sdnotify_reloaded(void)
{
	notify("READY=1");
}

void
sdnotify_stopping(void)
{
	notify("STOPPING=1");
}
