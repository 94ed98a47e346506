#!/bin/sh
# tests/run-suite.sh DIR [TEST...]: run every DIR/test_*.sh (or the named ones), each in its own scratch
# directory, and print "N passed, N failed, N skipped". A test exits 0 (pass), 77 (skip, with the reason on
# stdout) or anything else.
#
# SUITE_JOBS=N runs N tests at once (default 1). The tests talk to their own daemons and Go services on ports
# the kernel picks, so they can share the machine; most of their time is spent waiting for scrape intervals.
# Tests that say "# suite: long" in their first lines start first, so that the short ones fill in beside them.
# Run one test alone: sh tests/run-suite.sh tests/integration test_parse_go.sh
set -u
out=${LEAKPROFD_TEST_OUT:-build/test-output}
jobs=${SUITE_JOBS:-1}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# run_one TEST: run it, print its result line (and the tail of its log when it failed), and leave the
# result in $out/NAME.rc.
if [ "${1:-}" = "--one" ]; then
	t=$2
	name=$(basename "$t" .sh)
	log="$out/$name.log"
	start=$(date +%s)
	TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/leakprofd-$name.XXXXXX")
	export TEST_TMP
	if sh "$t" >"$log" 2>&1; then rc=0; else rc=$?; fi
	secs=$(($(date +%s) - start))
	case $rc in
	0) msg="PASS $name (${secs}s)" ;;
	77) msg="SKIP $name: $(tail -n 1 "$log")" ;;
	*) msg="FAIL $name (exit $rc, ${secs}s); last lines of $log:
$(tail -n 30 "$log" | sed 's/^/    /')" ;;
	esac
	# One write per result, so that results of tests run side by side do not interleave.
	printf '%s\n' "$msg"
	echo "$rc" >"$out/$name.rc"
	[ $rc = 0 ] && rm -rf "$TEST_TMP"
	exit 0
fi

dir=$1
shift
if [ $# -gt 0 ]; then
	list=$(for t in "$@"; do echo "$dir/$t"; done)
else
	list=$(ls "$dir"/test_*.sh 2>/dev/null)
fi
long=$(for t in $list; do head -n 15 "$t" | grep -q '^# suite: long' && echo "$t"; done)
short=$(for t in $list; do echo "$long" | grep -qx "$t" || echo "$t"; done)
for t in $list; do rm -f "$out/$(basename "$t" .sh).rc"; done
# shellcheck disable=SC2086
printf '%s\n' $long $short | grep . | xargs -P "$jobs" -n 1 sh "$0" --one

pass=0 fail=0 skip=0
for t in $list; do
	rc=$(cat "$out/$(basename "$t" .sh).rc" 2>/dev/null || echo 1)
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)) ;;
	*) fail=$((fail + 1)) ;;
	esac
done
echo "$(basename "$dir"): $pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
