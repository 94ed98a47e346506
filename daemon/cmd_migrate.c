/* daemon/cmd_migrate.c: `leakprofd migrate-db --from FILE.db --to postgres://...`: copy a SQLite
 * history into PostgreSQL (storage/migrate.h), with its progress and a per-table verification on
 * stderr. Run again after an interruption, it goes on where the copy stopped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon/cmd.h"
#include "daemon/usage.h"
#include "storage/migrate.h"

enum {
	MIGRATE_OPT_FROM = 256,
	MIGRATE_OPT_TO,
	MIGRATE_OPT_BATCH,
};

int
cmd_migrate_db(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"from", required_argument, NULL, MIGRATE_OPT_FROM},
	    {"to", required_argument, NULL, MIGRATE_OPT_TO},
	    {"batch", required_argument, NULL, MIGRATE_OPT_BATCH},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct migrate_options mo = {.progress = stderr};
	char err[1024], *end;
	long long n;
	int c;

	optind = 0;
	while ((c = usage_getopt("migrate-db", argc, argv, opts)) != -1) {
		switch (c) {
		case 'h':
			usage_print(stdout, "migrate-db");
			return 0;
		case MIGRATE_OPT_FROM:
			mo.from = optarg;
			break;
		case MIGRATE_OPT_TO:
			mo.to = optarg;
			break;
		case MIGRATE_OPT_BATCH:
			errno = 0;
			n = strtoll(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || n < 1 ||
			    n > MIGRATE_BATCH_MAX)
				return usage_error("migrate-db",
				                   "--batch: '%s' is not a count from 1 to %d",
				                   optarg, MIGRATE_BATCH_MAX);
			mo.batch = (unsigned)n;
			break;
		default:
			return 2;
		}
	}
	if (optind < argc)
		return usage_error("migrate-db", "unexpected argument '%s'", argv[optind]);
	if (mo.from == NULL || mo.to == NULL)
		return usage_error("migrate-db", "--from FILE and --to URI are both needed");
	switch (migrate_run(&mo, err, sizeof(err))) {
	case MIGRATE_OK:
		return 0;
	case MIGRATE_MISMATCH:
		fprintf(stderr, "leakprofd migrate-db: verification failed: %s\n", err);
		return 1;
	default:
		fprintf(stderr, "leakprofd migrate-db: %s\n", err);
		return 1;
	}
}
