#!/bin/sh
# tests/bench/bench_window.sh: ranking from the window kept between rankings against ranking from the store, and
# what the window costs at 10,000 targets (see bench_window.c).
#   sh tests/bench/bench_window.sh            both parts
#   BENCH_WINDOW_COMPARE="--targets 1000" BENCH_WINDOW_SCALE="--targets 10000" sh tests/bench/bench_window.sh
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
make -s "$BUILD/bench_window"
db=$(mktemp -d "${TMPDIR:-/tmp}/leakprofd-bench-window.XXXXXX")
trap 'rm -rf "$db"' EXIT
# shellcheck disable=SC2086
"$BUILD/bench_window" --db "$db/compare.db" --compare ${BENCH_WINDOW_COMPARE:---targets 1000 --repeat 3}
# shellcheck disable=SC2086
"$BUILD/bench_window" --db "$db/scale.db" --scale ${BENCH_WINDOW_SCALE:---targets 10000 --per-service 50 --repeat 3}
