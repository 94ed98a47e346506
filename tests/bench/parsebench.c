/* tests/bench/parsebench.c: time profile_parse() (parse + aggregate) on one file, for
 * tests/bench/bench_parse.sh.
 *
 *   parsebench FILE [RUNS]   prints "bytes goroutines best_seconds peak_rss_kb"
 *
 * The file is read once; the best of RUNS parses is reported (the first run warms the caches). Peak
 * RSS is the whole process's (the input buffer included), so run it with RUNS=1 in a fresh process
 * to measure memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "collector/profile.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct rusage ru;
	struct profile p;
	struct parse_error err;
	double best = 1e30;
	uint64_t total = 0;
	long runs = argc > 2 ? strtol(argv[2], NULL, 10) : 5;
	size_t len;
	char *buf;
	FILE *f;
	long n;

	if (argc < 2) {
		fprintf(stderr, "usage: parsebench FILE [RUNS]\n");
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		perror(argv[1]);
		return 1;
	}
	rewind(f);
	len = (size_t)n;
	buf = malloc(len ? len : 1);
	if (buf == NULL || fread(buf, 1, len, f) != len) {
		perror(argv[1]);
		return 1;
	}
	fclose(f);
	for (long i = 0; i < (runs > 0 ? runs : 1); i++) {
		double t0 = now(), t;

		if (profile_parse(buf, len, &p, &err) < 0) {
			fprintf(stderr, "parsebench: %s: %s\n", argv[1], err.msg);
			return 1;
		}
		t = now() - t0;
		if (t < best)
			best = t;
		total = p.total_goroutines;
		profile_release(&p);
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("%zu %llu %.6f %ld\n", len, (unsigned long long)total, best, ru.ru_maxrss);
	free(buf);
	return 0;
}
