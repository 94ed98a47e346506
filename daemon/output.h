/* daemon/output.h: a parsed goroutine profile as the CLI prints it: an aligned table of blocked
 * locations, or the exact JSON of `leakprofd parse --json` (also used by `leakprofd scrape`). */
#ifndef OUTPUT_H
#define OUTPUT_H

#include <jansson.h>
#include <stdio.h>

#include "collector/profile.h"

enum output_flags {
	OUTPUT_JSON = 1 << 0, /* JSON instead of the table */
	OUTPUT_ALL = 1 << 1,  /* include benign states (running, IO wait, sleep, ...), not only ops
	                         that may leak */
};

/* Print 'p' (borrowed) to 'f': the table (count, op, function, file:line, max wait; most goroutines
 * first) or, with OUTPUT_JSON, one line {"format", "profile", "total_goroutines", "locations":
 * [...]}. Untrusted strings are escaped (JSON by jansson; the table shows control bytes as \xNN).
 * 0, or -1 when writing failed. */
int output_profile(FILE *f, const struct profile *p, enum output_flags flags)
    __attribute__((warn_unused_result));

/* The JSON document of output_profile() as a tree. NULL on out-of-memory. Caller owns
 * (json_decref). */
json_t *output_profile_json(const struct profile *p, enum output_flags flags);

#endif
