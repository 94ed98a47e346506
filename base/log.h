/* base/log.h: logging to stderr with sd-daemon(3) "<N>" priority prefixes, which journald reads.
 *
 * Thread-safe (one write(2) per message). Messages follow the house format: component prefix, what
 * failed, the subject in quotes, the library's own message: "scrape: 'http://10.0.0.5:6060':
 * timeout after 10 s". */
#ifndef LOG_H
#define LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Set the most verbose level written (default info). */
void log_set_level(enum log_level lvl);
/* "error"|"err", "warning"|"warn", "notice", "info", "debug" → level. 0, or -1 for an unknown name.
 */
int log_level_parse(const char *name, enum log_level *out) __attribute__((warn_unused_result));
/* Prefix every line with "<N>" (journald) instead of a human timestamp. Default: on when
 * JOURNAL_STREAM is set. */
void log_set_journal(bool on);
bool log_enabled(enum log_level lvl);

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
