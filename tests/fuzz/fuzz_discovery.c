/* tests/fuzz/fuzz_discovery.c: libFuzzer target for discovery's answers, which come from the
 * network: DNS messages and http_sd bodies. The first byte picks the parser: 0, 1, 2 a DNS answer
 * to an SRV, A or AAAA query; anything else an http_sd body with status 200 and application/json.
 * A parse either succeeds with well-formed targets or says why, and leaves nothing behind. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/discovery.h"
#include "collector/targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_dns(unsigned type, const uint8_t *msg, size_t len)
{
	char **addrs = NULL, err[256] = "";
	size_t n = 0;

	if (discovery_parse_dns(msg, len, type, 6060, &addrs, &n, err, sizeof(err)) != 0) {
		if (n != 0 || err[0] == '\0')
			abort();
	}
	for (size_t i = 0; i < n; i++) {
		/* every target is host:port, usable in a URL */
		if (strchr(addrs[i], ':') == NULL || strpbrk(addrs[i], " /?#@\\") != NULL)
			abort();
		free(addrs[i]);
	}
	free(addrs);
}

static void
fuzz_http(const char *buf, size_t len)
{
	struct targets_entry *e = NULL;
	struct targets_errors errs = {0};
	size_t n = 0;

	if (discovery_parse_http("fuzz", 200, "application/json", buf, len, &e, &n, &errs) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (e[i].service == NULL || e[i].base_url == NULL)
				abort();
		}
		targets_entries_free(e, n);
	} else if (errs.n == 0 || e != NULL || n != 0) {
		abort();
	}
	targets_errors_release(&errs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] <= 2)
		fuzz_dns(data[0], data + 1, size - 1);
	else
		fuzz_http((const char *)data + 1, size - 1);
	return 0;
}
