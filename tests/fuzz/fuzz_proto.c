/* tests/fuzz/fuzz_proto.c: libFuzzer target for the protobuf decoder. Inputs are fed both raw (the
 * wire format itself) and, to reach the zlib path, as given when they start with the gzip magic.
 * The limits are those of a 1 MiB max_body_bytes (`make fuzz` passes -max_len=1048576): 8 MiB
 * inflated and 16 MiB held, so a bomb ends quickly. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "collector/profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile_limits lim = profile_limits_for(1u << 20);
	struct profile p;
	struct parse_error err;

	if (profile_parse_proto((const char *)data, size, &lim, &p, &err) == 0) {
		uint64_t sum = 0;

		for (size_t i = 0; i < p.nlocations; i++) {
			if (p.locations[i].leaked > p.locations[i].count ||
			    p.locations[i].nstack > PROFILE_MAX_FRAMES)
				abort();
			sum += p.locations[i].count;
		}
		if (sum != p.total_goroutines)
			abort();
		profile_release(&p);
	} else if (err.msg[0] == '\0') {
		abort();
	}
	return 0;
}
