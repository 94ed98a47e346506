#!/bin/sh
# tests/bench/run.sh: run every tests/bench/bench_*.sh in turn (`make bench`). Each prints its own report.
# The soak (bench_soak.sh) runs SOAK_MINUTES, 30 by default; SOAK_MINUTES=5 gives a shorter one, 0 skips it.
set -u
cd "$(dirname "$0")/../.."
fail=0
for b in tests/bench/bench_*.sh; do
	[ -f "$b" ] || continue
	if [ "$b" = tests/bench/bench_soak.sh ] && [ "${SOAK_MINUTES:-30}" = 0 ]; then
		echo "== bench_soak skipped (SOAK_MINUTES=0)"
		continue
	fi
	echo "== $(basename "$b" .sh)"
	if ! sh "$b"; then
		echo "bench: $(basename "$b") failed"
		fail=1
	fi
done
exit $fail
