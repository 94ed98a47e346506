#!/bin/sh
# tests/bench/run.sh: run every tests/bench/bench_*.sh in turn (`make bench`). Each prints its own report.
# BENCH_ONLY="fleet rank" runs only those (bench_fleet.sh, bench_rank.sh). The fleet bench takes BENCH_SIZES
# (10,000 and 50,000 targets), BENCH_BASE (its 1,000-target baseline), BENCH_INTERVAL and BENCH_ROUNDS for a
# smaller, quicker run (see bench_fleet.sh). The soak (bench_soak.sh) runs SOAK_MINUTES, 30 by default;
# SOAK_MINUTES=5 gives a shorter one, 0 skips it.
set -u
cd "$(dirname "$0")/../.."
fail=0
for b in tests/bench/bench_*.sh; do
	[ -f "$b" ] || continue
	name=$(basename "$b" .sh)
	if [ -n "${BENCH_ONLY:-}" ]; then
		case " $BENCH_ONLY " in
		*" ${name#bench_} "*) ;;
		*) continue ;;
		esac
	fi
	if [ "$b" = tests/bench/bench_soak.sh ] && [ "${SOAK_MINUTES:-30}" = 0 ]; then
		echo "== bench_soak skipped (SOAK_MINUTES=0)"
		continue
	fi
	echo "== $name"
	if ! sh "$b"; then
		echo "bench: $name failed"
		fail=1
	fi
done
exit $fail
