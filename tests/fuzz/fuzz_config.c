/* tests/fuzz/fuzz_config.c: libFuzzer target for the loaders of text that operators and discovery
 * tools write: the configuration (YAML or JSON), Prometheus file_sd documents, and the duration,
 * size and URL forms they hold. The first byte picks the loader ('T' file_sd, 'U' the one-value
 * parsers, anything else the whole configuration). A load either succeeds or says why. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/targets.h"
#include "base/config.h"
#include "base/units.h"
#include "base/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_file_sd(const char *buf, size_t len)
{
	struct targets_entry *e = NULL;
	struct targets_errors errs = {0};
	size_t n = 0;

	if (targets_parse_file_sd("fuzz.json", buf, len, &e, &n, &errs) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (e[i].service == NULL || e[i].base_url == NULL ||
			    (e[i].nlabels > 0 && e[i].labels == NULL))
				abort();
		}
		targets_entries_free(e, n);
	} else if (errs.n == 0 || e != NULL || n != 0) {
		abort();
	}
	targets_errors_release(&errs);
}

static void
fuzz_values(const char *buf, size_t len)
{
	char *s = strndup(buf, len);
	uint64_t v;

	if (s == NULL)
		return;
	for (int debug = -1; debug <= 2; debug++)
		free(targets_profile_url(s, NULL, debug));
	free(targets_profile_url(s, "/debug/pprof/goroutineleak", 2));
	(void)!units_parse_duration(s, &v);
	(void)!units_parse_size(s, &v);
	(void)targets_shard_keep(s, 1, 3);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct config_errors errs = {0};
	struct config *cfg;

	log_set_level(LOG_LEVEL_ERR);
	if (size > 0 && buf[0] == 'T') {
		fuzz_file_sd(buf + 1, size - 1);
		return 0;
	}
	if (size > 0 && buf[0] == 'U') {
		fuzz_values(buf + 1, size - 1);
		return 0;
	}
	cfg = config_load_buffer("fuzz.yaml", buf, size, &errs);
	if (cfg == NULL && errs.n == 0)
		abort();
	config_unref(cfg);
	config_errors_release(&errs);
	return 0;
}
