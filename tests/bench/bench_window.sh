#!/bin/sh
# tests/bench/bench_window.sh: ranking from the window kept between rankings against ranking from the store on one
# database, then what the window costs at 10,000 targets over 6 h and 24 h (both held at once, their rounds
# alternating), with series that hold still apart from leaks (--jitter 0) and with 5 locations per profile
# jittering at every scrape (see bench_window.c).
# About 10 minutes. BENCH_WINDOW_COMPARE and BENCH_WINDOW_SCALE replace the options of either part, e.g.
#   BENCH_WINDOW_COMPARE="--targets 100 --repeat 2" BENCH_WINDOW_SCALE="--targets 1000" sh tests/bench/bench_window.sh
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
make -s "$BUILD/bench_window"
db=$(mktemp -d "${TMPDIR:-/tmp}/leakprofd-bench-window.XXXXXX")
trap 'rm -rf "$db"' EXIT
# shellcheck disable=SC2086
"$BUILD/bench_window" --db "$db/compare.db" --compare ${BENCH_WINDOW_COMPARE:---targets 300 --repeat 3}
rm -f "$db"/compare.db*
for jitter in 0 5; do
	echo "jitter $jitter:"
	# shellcheck disable=SC2086
	"$BUILD/bench_window" --db "$db/scale.db" --scale --jitter $jitter \
		${BENCH_WINDOW_SCALE:---targets 10000 --per-service 50 --repeat 9}
	rm -f "$db"/scale.db*
done
