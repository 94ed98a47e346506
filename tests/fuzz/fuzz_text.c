/* tests/fuzz/fuzz_text.c: libFuzzer target for the text parsers (debug=2, debug=1, format
 * detection). Every input must parse or fail with a message; a parsed profile must be consistent.
 * The limits are those of a 1 MiB max_body_bytes, as large as the largest input `make fuzz` makes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct profile *p)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < p->nlocations; i++) {
		const struct prof_location *l = &p->locations[i];

		if (l->op == NULL || l->loc.function == NULL || l->loc.file == NULL ||
		    l->leaked > l->count || (i > 0 && p->locations[i - 1].count < l->count) ||
		    l->nstack > PROFILE_MAX_FRAMES || l->min_wait_minutes > l->max_wait_minutes)
			abort();
		for (size_t k = 0; k < l->nstack; k++) {
			if (strlen(l->stack[k].function) > PROFILE_MAX_LINE)
				abort();
		}
		sum += l->count;
	}
	if (p->format == PROFILE_FORMAT_DEBUG2 && sum != p->total_goroutines)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile_limits lim = profile_limits_for(1u << 20);
	struct profile p;
	struct parse_error err;
	const char *buf = (const char *)data;

	/* both text parsers directly, so neither depends on detection to be reached */
	if (profile_parse_debug2(buf, size, &lim, &p, &err) == 0) {
		check(&p);
		profile_release(&p);
	} else if (err.msg[0] == '\0' || err.offset > size) {
		abort();
	}
	if (profile_parse_debug1(buf, size, &lim, &p, &err) == 0) {
		check(&p);
		profile_release(&p);
	} else if (err.msg[0] == '\0' || err.offset > size) {
		abort();
	}
	if (profile_parse_limited(buf, size, &lim, &p, &err) == 0)
		profile_release(&p);
	return 0;
}
