#!/bin/sh
# tests/run-suite.sh DIR: run every DIR/test_*.sh, each in its own scratch directory, and print
# "N passed, N failed, N skipped". A test exits 0 (pass), 77 (skip, with the reason on stdout) or anything else.
# Run one test alone: sh tests/run-suite.sh tests/integration test_parse_go.sh
set -u
dir=$1
shift
out=${LEAKPROFD_TEST_OUT:-build/test-output}
mkdir -p "$out"
pass=0 fail=0 skip=0 failed=""
if [ $# -gt 0 ]; then list=$(for t in "$@"; do echo "$dir/$t"; done); else list=$(ls "$dir"/test_*.sh 2>/dev/null); fi
for t in $list; do
	name=$(basename "$t" .sh)
	log="$out/$name.log"
	start=$(date +%s)
	TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/leakprofd-$name.XXXXXX")
	export TEST_TMP
	if sh "$t" >"$log" 2>&1; then rc=0; else rc=$?; fi
	secs=$(( $(date +%s) - start ))
	case $rc in
	0) pass=$((pass + 1)); echo "PASS $name (${secs}s)" ;;
	77) skip=$((skip + 1)); echo "SKIP $name: $(tail -n 1 "$log")" ;;
	*) fail=$((fail + 1)); failed="$failed $name"; echo "FAIL $name (exit $rc, ${secs}s); last lines of $log:";
	   tail -n 30 "$log" | sed 's/^/    /' ;;
	esac
	[ $rc = 0 ] && rm -rf "$TEST_TMP"
done
echo "$(basename "$dir"): $pass passed, $fail failed, $skip skipped"
[ $fail = 0 ]
