/* daemon/sdnotify.h: the systemd Type=notify protocol (sd_notify(3) through libsystemd): READY=1,
 * STATUS=, WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1. Every call is a no-op when
 * NOTIFY_SOCKET is not set, so the daemon runs the same in a terminal. Used from the daemon's main
 * loop only (not thread-safe). */
#ifndef SDNOTIFY_H
#define SDNOTIFY_H

#include <stdint.h>

/* Read WATCHDOG_USEC (and WATCHDOG_PID) once; call before the first other sdnotify_* call. */
void sdnotify_init(void);
/* The interval at which sdnotify_watchdog() wants to be called, in ms (half of WATCHDOG_USEC), or 0
 * when the service manager set no watchdog. The main loop bounds its poll timeout by it. */
int64_t sdnotify_watchdog_interval_ms(void);
/* READY=1 plus a STATUS= line: the database is open and the configuration loaded. */
void sdnotify_ready(const char *status);
/* STATUS=<status>; sent only when it differs from the last one sent, so the main loop may call it
 * freely. */
void sdnotify_status(const char *status);
/* WATCHDOG=1 when at least the watchdog interval passed since the last one (now_ms: a monotonic
 * clock, ms). */
void sdnotify_watchdog(int64_t now_ms);
/* RELOADING=1 before applying a new configuration, READY=1 after (whether or not it was valid). */
void sdnotify_reloading(void);
void sdnotify_reloaded(void);
/* STOPPING=1: a graceful shutdown has begun. */
void sdnotify_stopping(void);

#endif
