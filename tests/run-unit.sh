#!/bin/sh
# tests/run-unit.sh CHECK_BINARY SUITES_INC: run every unit-test suite the binary holds, each in its own
# process (CK_RUN_SUITE), UNIT_JOBS at once (default 2), and print each suite's output whole when it ends.
# Suites whose source says "suite: long" in its first lines start first. UNIT_SUITES="a b" runs those only.
# Run from tests/ (the suites read fixtures relative to it). Exit status: 0 when every suite passed.
set -u
if [ "${1:-}" = "--one" ]; then
	bin=$2 name=$3 out=$4
	if CK_RUN_SUITE=$name "$bin" >"$out/$name.log" 2>&1; then rc=0; else rc=$?; fi
	echo "$rc" >"$out/$name.rc"
	# One write per suite, so that suites run side by side do not interleave.
	printf '%s\n' "$(cat "$out/$name.log")"
	exit 0
fi
bin=$1 inc=$2
jobs=${UNIT_JOBS:-2}
out=$(mktemp -d "${TMPDIR:-/tmp}/leakprofd-unit.XXXXXX")
suites=${UNIT_SUITES:-$(sed -n 's/^SUITE(\(.*\))$/\1/p' "$inc")}
long=$(for s in $suites; do head -n 15 "check_$s.c" 2>/dev/null | grep -q 'suite: long' && echo "$s"; done)
short=$(for s in $suites; do echo "$long" | grep -qx "$s" || echo "$s"; done)
# shellcheck disable=SC2086
printf '%s\n' $long $short | grep . | xargs -P "$jobs" -I{} sh "$0" --one "$bin" {} "$out"
fail=0 failed=""
for s in $suites; do
	rc=$(cat "$out/$s.rc" 2>/dev/null || echo 1)
	[ "$rc" = 0 ] || { fail=$((fail + 1)); failed="$failed $s"; }
done
checks=$(cat "$out"/*.log | sed -n 's/^[0-9]*%: Checks: \([0-9]*\),.*/\1/p' | awk '{n += $1} END {print n + 0}')
rm -rf "$out"
echo "unit${LEAKPROFD_TEST_BACKEND:+ (stores on $LEAKPROFD_TEST_BACKEND)}: $(echo $suites | wc -w) suites, $checks checks, $fail suites failed${failed:+:$failed}"
[ $fail = 0 ]
