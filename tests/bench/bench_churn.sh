#!/bin/sh
# tests/bench/bench_churn.sh: pod churn: a million distinct targets come and go through the target registry and
# the database (see bench_churn.c), which must stay bounded; prints their sizes and the process's resident
# memory every few simulated hours; exits 1 when they grew. The default million takes 4-5 CPU-minutes.
#   sh tests/bench/bench_churn.sh [bench_churn options: --targets N --set N --services N --gen-minutes M
#                                  --raw-hours H --rollup-hours H --report G]
# CHURN_TARGETS=N (default 1000000) is --targets for `make bench`; an option given here wins.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
out=$BUILD/bench
mkdir -p "$out"
# Make only when stale: a make inside `make -j2 bench` warns that it has no jobserver.
inc=$BUILD/gen/storage/schema.sql.inc
[ "$inc" -nt storage/schema.sql ] || make -s "$inc"
cc -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -I. -I"$BUILD/gen" \
	-DLEAKPROFD_VERSION='"bench"' -o "$out/bench_churn" tests/bench/bench_churn.c daemon/targetset.c \
	storage/store*.c storage/db*.c base/*.c collector/targets.c collector/discovery*.c \
	collector/profile.c collector/parse_text.c collector/parse_labels.c collector/parse_proto.c collector/classify.c \
	$(pkg-config --cflags --libs libcurl jansson sqlite3 yaml-0.1 zlib libpq) -lresolv -lpthread -lm
# The database on tmpfs where there is one (BENCH_DIR overrides): what is measured is what stays bounded, not
# the disk, which on a shared machine would only stretch the run.
dir=${BENCH_DIR:-}
if [ -z "$dir" ]; then
	if [ -d /dev/shm ] && [ -w /dev/shm ]; then dir=/dev/shm; else dir=${TMPDIR:-/tmp}; fi
fi
db=$(mktemp -d "$dir/leakprofd-bench-churn.XXXXXX")
trap 'rm -rf "$db"' EXIT
echo "bench_churn: database in $db"
"$out/bench_churn" --db "$db/bench.db" --targets "${CHURN_TARGETS:-1000000}" "$@"
