/* base/format.h: the goroutine profile formats and their one set of names, for the configuration
 * (`format:`), the command line (`scrape --format`), the parsers, storage and every output. */
#ifndef FORMAT_H
#define FORMAT_H

enum profile_format {
	PROFILE_FORMAT_UNKNOWN = 0,
	PROFILE_FORMAT_DEBUG2, /* "debug=2" */
	PROFILE_FORMAT_DEBUG1, /* "debug=1" */
	PROFILE_FORMAT_PROTO,  /* "proto", also spelled "debug=0" */
};

/* "proto", "debug=1", "debug=2" or "unknown": the name every output prints. A static string. */
const char *format_name(enum profile_format f);
/* "proto" or "debug=0", "debug=1", "debug=2" → the format. 0, or -1 for anything else. */
int format_parse(const char *s, enum profile_format *out) __attribute__((warn_unused_result));
/* The ?debug=N a format is fetched with: 0, 1 or 2 (proto for unknown). */
int format_debug(enum profile_format f);

#endif
