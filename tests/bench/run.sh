#!/bin/sh
# tests/bench/run.sh: run every tests/bench/bench_*.sh in turn (`make bench`). Each prints its own report.
set -u
cd "$(dirname "$0")/../.."
fail=0
for b in tests/bench/bench_*.sh; do
	[ -f "$b" ] || continue
	echo "== $(basename "$b" .sh)"
	if ! sh "$b"; then
		echo "bench: $(basename "$b") failed"
		fail=1
	fi
done
exit $fail
