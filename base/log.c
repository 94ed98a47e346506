/* base/log.c: stderr logging with journald priority prefixes. See log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

static _Atomic int log_level = LOG_LEVEL_INFO;
static _Atomic int log_journal = -1; /* -1: not decided yet, from JOURNAL_STREAM */

static const char *const level_names[] = {
    [LOG_LEVEL_ERR] = "error", [LOG_LEVEL_WARNING] = "warning", [LOG_LEVEL_NOTICE] = "notice",
    [LOG_LEVEL_INFO] = "info", [LOG_LEVEL_DEBUG] = "debug",
};

void
log_set_level(enum log_level lvl)
{
	log_level = lvl;
}

int
log_level_parse(const char *name, enum log_level *out)
{
	static const struct {
		const char *name;
		enum log_level lvl;
	} names[] = {
	    {"error", LOG_LEVEL_ERR},       {"err", LOG_LEVEL_ERR},
	    {"warning", LOG_LEVEL_WARNING}, {"warn", LOG_LEVEL_WARNING},
	    {"notice", LOG_LEVEL_NOTICE},   {"info", LOG_LEVEL_INFO},
	    {"debug", LOG_LEVEL_DEBUG},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*out = names[i].lvl;
			return 0;
		}
	}
	return -1;
}

void
log_set_journal(bool on)
{
	log_journal = on;
}

bool
log_enabled(enum log_level lvl)
{
	return (int)lvl <= log_level;
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	char buf[4096];
	size_t off = 0;
	va_list ap;
	int n;

	if (!log_enabled(lvl))
		return;
	if (log_journal < 0)
		log_journal = getenv("JOURNAL_STREAM") != NULL;
	if (log_journal) {
		n = snprintf(buf, sizeof(buf), "<%d>", (int)lvl);
	} else {
		char when[CLOCK_ISO8601_MS_LEN];

		clock_fmt_iso8601_ms(clock_wall_ms(), when, sizeof(when));
		n = snprintf(buf, sizeof(buf), "%s %-7s ", when, level_names[lvl]);
	}
	if (n > 0)
		off = (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(buf + off, sizeof(buf) - off - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	off += (size_t)n < sizeof(buf) - off - 1 ? (size_t)n : sizeof(buf) - off - 2;
	/* One message, one line: a newline inside (from a hostile name) would forge a second log
	 * entry. */
	for (size_t i = 0; i < off; i++) {
		if (buf[i] == '\n' || buf[i] == '\r')
			buf[i] = ' ';
	}
	buf[off++] = '\n';
	(void)!write(STDERR_FILENO, buf, off);
}
