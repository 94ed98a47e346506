#!/bin/sh
# test_parse_hostile.sh: `leakprofd parse` on malformed and hostile input: every one exits 1 with a message that
# says what was expected, what was found and where; usage errors exit 2; nothing crashes or eats memory.
. "$(dirname "$0")/../lib.sh"
[ -x "$LEAKPROFD_BIN" ] || fail "$LEAKPROFD_BIN is missing: run 'make'"
cd "$(dirname "$0")/../.." || fail "cd"
t=$TEST_TMP

# expect STATUS PATTERN ARGS...: exit status and a stderr line matching the grep pattern
expect() {
	want=$1 pat=$2
	shift 2
	if "$LEAKPROFD_BIN" parse "$@" >"$t/out" 2>"$t/err"; then rc=0; else rc=$?; fi
	[ "$rc" = "$want" ] || fail "parse $*: exit $rc, want $want; stderr: $(cat "$t/err")"
	[ -z "$pat" ] || grep -qF -- "$pat" "$t/err" || fail "parse $*: stderr '$(cat "$t/err")' lacks '$pat'"
}

printf '<!DOCTYPE html>\n<html><head><title>502</title></head><body>Bad Gateway</body></html>\n' >"$t/page"
expect 1 "expected a goroutine profile (debug=0 gzip protobuf, debug=1 or debug=2 text), found an HTML page at byte 0" "$t/page"
: >"$t/empty"
expect 1 "found empty input at byte 0" "$t/empty"
head -c 1500 tests/fixtures/go1.19/goroutine.debug0.pb.gz >"$t/cut.pb.gz"
expect 1 "truncated gzip stream at byte 1500" "$t/cut.pb.gz"
printf 'goroutine 1 [running]:\nmain.main()\n\t/a.go:3 +0x1\n\ngoroutine 2 <html>\n' >"$t/badhdr"
expect 1 "line 5: expected a 'goroutine N [status]:' header, found 'goroutine 2 <html>' (byte 50)" "$t/badhdr"
printf 'goroutine 1 [chan send]:\nmain.f\000x()\n\t/a.go:1\n' >"$t/nul"
expect 1 "NUL byte" "$t/nul"
{ printf 'goroutine 1 [chan send]:\n'; head -c 2000000 /dev/zero | tr '\0' a; } >"$t/longline"
expect 1 "line 2 is longer than 1048576 bytes" "$t/longline"
printf 'goroutine profile: total 1\n1 @ 0x1\n#\tgarbage\n' >"$t/d1bad"
expect 1 "line 3: expected a '#" "$t/d1bad"
# a gzip bomb of valid protobuf (field 9, time_nanos, repeated: 'H' = 9<<3|0 followed by 'H' = 72) that
# inflates to 600 MB, past the 512 MiB cap; zeros would be rejected at byte 0 as field number 0
head -c 600000000 /dev/zero | tr '\000' H | gzip -1 >"$t/bomb.gz"
expect 1 "gzip stream inflates to more than 512 MiB" "$t/bomb.gz"
# a truncated debug=2 dump (Go cuts runtime.Stack at 64 MiB) still parses up to the cut
head -c 20000 tests/fixtures/go1.19/goroutine.debug2.txt >"$t/cut2"
expect 0 "" --json "$t/cut2"
jq -e '.format == "debug=2" and .total_goroutines > 0' "$t/out" >/dev/null || fail "cut dump: $(head -c 300 "$t/out")"
# HTML in function names stays data: JSON escapes quotes, the table prints it inert
printf 'goroutine 9 [chan send]:\nmain.<img src=x onerror="alert(1)">(0x1)\n\t/src/x.go:3 +0x1\n' >"$t/html-fn"
expect 0 "" --json "$t/html-fn"
[ "$(jq -r '.locations[0].function' "$t/out")" = 'main.<img src=x onerror="alert(1)">' ] ||
	fail "function name did not round-trip: $(cat "$t/out")"
# standard input, usage errors
expect 0 "" --json - <tests/fixtures/go1.19/goroutine.debug1.txt
jq -e '.format == "debug=1"' "$t/out" >/dev/null || fail "stdin: $(head -c 200 "$t/out")"
expect 1 "No such file" "$t/missing"
expect 2 "unknown option '--bogus'" --bogus "$t/page"
expect 2 "no input file" --json
expect 2 "more than one input" "$t/page" "$t/page"
echo "ok"
