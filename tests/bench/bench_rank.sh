#!/bin/sh
# tests/bench/bench_rank.sh: the detector's ranking time per (location, instance) series, next to the floor every
# ranking pays (the bare walk over the same samples), on a simulated fleet written through the real store API
# (see bench_rank.c). With BENCH_RANK_BASE=REV it also ranks the same database with revision REV's detector
# (detect/detect.c from git), so a change shows whether ranking got slower per series.
#   sh tests/bench/bench_rank.sh [bench_rank options: --targets N --per-service N --hours H --repeat N]
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
out=$BUILD/bench
mkdir -p "$out"
for sql in schema schema_pg; do
	inc=$BUILD/gen/storage/$sql.sql.inc
	[ "$inc" -nt storage/$sql.sql ] || make -s "$inc"
done
srcs="tests/bench/bench_rank.c $(ls storage/*.c base/*.c) collector/profile.c collector/classify.c collector/parse_text.c collector/parse_labels.c collector/parse_proto.c detect/history.c detect/trend.c detect/callsites.c detect/window.c detect/series.c detect/suspect_labels.c"
build() { # build OUT DETECT_C
	# shellcheck disable=SC2086
	cc -std=c17 -D_DEFAULT_SOURCE -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -I. -I"$BUILD/gen" -o "$1" \
		$srcs "$2" $(pkg-config --cflags --libs jansson sqlite3 yaml-0.1 libcrypto libpq) -lz -lm -lpthread
}
build "$out/bench_rank" detect/detect.c
db=$(mktemp -d "${TMPDIR:-/tmp}/leakprofd-bench-rank.XXXXXX")
trap 'rm -rf "$db"' EXIT
"$out/bench_rank" --db "$db/rank.db" --generate "$@"
echo "this tree:"
"$out/bench_rank" --db "$db/rank.db" --rank "$@"
if [ -n "${BENCH_RANK_BASE:-}" ]; then
	git show "$BENCH_RANK_BASE:detect/detect.c" >"$db/detect_base.c"
	build "$out/bench_rank_base" "$db/detect_base.c"
	echo "$BENCH_RANK_BASE:"
	"$out/bench_rank" --db "$db/rank.db" --rank "$@" >/dev/null # warm the page cache alike
	"$out/bench_rank_base" --db "$db/rank.db" --rank "$@"
fi
