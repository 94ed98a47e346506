#!/bin/sh
# tests/bench/bench_store.sh: database bytes per target per day at the default settings (60 s interval, raw
# retention 48 h, rollups 30 d), ingest speed and the detector's 6 h walks, measured through the real store API
# on a simulated fleet (see bench_store.c for the profile model). Simulated time: 3 days take one to two minutes.
#   sh tests/bench/bench_store.sh [bench_store options: --targets N --per-service N --days N --interval S]
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
out=$BUILD/bench
mkdir -p "$out"
# Make only when stale: a make inside `make -j2 bench` warns that it has no jobserver.
inc=$BUILD/gen/storage/schema.sql.inc
[ "$inc" -nt storage/schema.sql ] || make -s "$inc"
cc -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -I. -I"$BUILD/gen" \
	-o "$out/bench_store" tests/bench/bench_store.c storage/store*.c storage/db*.c storage/lifetime.c \
	base/log.c base/xalloc.c base/clock.c base/hash.c base/format.c base/sbuf.c \
	collector/profile.c collector/parse_text.c collector/parse_labels.c collector/parse_proto.c collector/classify.c -lz \
	$(pkg-config --cflags --libs jansson sqlite3 libpq) -lm
db=$(mktemp -d "${TMPDIR:-/tmp}/leakprofd-bench-store.XXXXXX")
trap 'rm -rf "$db"' EXIT
"$out/bench_store" --db "$db/bench.db" "$@"
