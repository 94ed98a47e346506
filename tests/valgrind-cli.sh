#!/bin/sh
# tests/valgrind-cli.sh: `leakprofd parse` on every fixture (and on broken input) under valgrind: no invalid
# access, no leak, whatever the input. Run by `make valgrind`; uses $LEAKPROFD_BIN (default build/leakprofd).
set -u
cd "$(dirname "$0")/.."
bin=${LEAKPROFD_BIN:-build/leakprofd}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/leakprofd-vg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0 runs=0

vg() {
	# $1: expected exit status; the rest: the parse arguments
	want=$1
	shift
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		"$bin" parse "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	runs=$((runs + 1))
	if [ "$rc" != "$want" ]; then
		echo "FAIL: leakprofd parse $*: exit $rc, want $want"
		sed 's/^/    /' "$tmp/err" | head -n 30
		fails=$((fails + 1))
	fi
}

for f in tests/fixtures/go1.19/goroutine.* tests/fixtures/go1.26/goroutine.tracebacklabels1.debug2.txt \
	tests/fixtures/go1.27/goroutine* tests/fixtures/go1.27/synctest.debug2.txt; do
	vg 0 "$f"
	vg 0 --json --all "$f"
done
# broken input: exit 1 with a message, and still no leak
head -c 1000 tests/fixtures/go1.19/goroutine.debug0.pb.gz >"$tmp/truncated.pb.gz"
vg 1 "$tmp/truncated.pb.gz"
printf '<!DOCTYPE html>\n<html><body>oops</body></html>\n' >"$tmp/page.html"
vg 1 "$tmp/page.html"
printf 'goroutine 1 [chan send]:\nnot a frame\n' >"$tmp/bad.txt"
vg 1 "$tmp/bad.txt"
vg 0 --json - <tests/fixtures/go1.19/goroutine.debug1.txt
vg 2 --bogus
echo "valgrind-cli: $runs runs, $fails failed"
[ "$fails" = 0 ]
