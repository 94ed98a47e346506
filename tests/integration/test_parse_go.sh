#!/bin/sh
# test_parse_go.sh: `leakprofd parse` on real Go 1.19 profiles. The zoo parks a distinct number of goroutines in
# every leak pattern (3, 5, 7, ... so mix-ups show) next to an idle pool and sleepers; each of its goroutine profiles
# (debug=0 proto, debug=1, debug=2) is fetched with curl and parsed with --json and --json --all. For every
# location the zoo knows (/expected) the parser must report exactly one entry at that function and file:line, with
# the exact count and the op Go shows in that format (channel ops are "unknown" in debug=1).
. "$(dirname "$0")/../lib.sh"
zoo=$LEAKPROFD_GO_BIN/zoo
[ -x "$zoo" ] || fail "$zoo is missing: run 'make go'"
[ -x "$LEAKPROFD_BIN" ] || fail "$LEAKPROFD_BIN is missing: run 'make'"
command -v jq >/dev/null || fail "jq is missing"

counts=early_return=3,timeout=5,ncast=7,range_unclosed=9,nil_send=11,nil_recv=13,select_forever=15
counts=$counts,waitgroup=17,mutex=19,rwmutex=21,cond=23
bg "$zoo" -portfile "$TEST_TMP/port" -leak "$counts" -benign pool,sleep -pool-size 29 -sleepers 27 \
	-sleep-interval 1h
wait_for 20 test -s "$TEST_TMP/port"
base=http://127.0.0.1:$(cat "$TEST_TMP/port")
wait_for 20 sh -c "curl -sf '$base/expected' | jq -e .settled"
curl -sf "$base/expected" >"$TEST_TMP/expected.json" || fail "GET /expected"
[ "$(jq '[.locations[] | select(.exact)] | length' "$TEST_TMP/expected.json")" -eq 13 ] ||
	fail "the zoo reports $(jq -c '[.locations[].pattern]' "$TEST_TMP/expected.json"), want 11 leaks + 2 benign"

for debug in 0 1 2; do
	curl -sf "$base/debug/pprof/goroutine?debug=$debug" >"$TEST_TMP/prof.$debug" || fail "GET debug=$debug"
done
curl -sf "$base/expected" >"$TEST_TMP/expected.after.json" || fail "GET /expected"
cmp -s "$TEST_TMP/expected.json" "$TEST_TMP/expected.after.json" ||
	fail "the zoo's counts moved while its profiles were fetched: $(diff "$TEST_TMP/expected.json" \
		"$TEST_TMP/expected.after.json")"

# check FORMAT FILE ALL: compare one `parse --json [--all]` output with /expected; prints one line per mismatch.
check() {
	jq -r --slurpfile exp "$TEST_TMP/expected.json" --arg fmt "$1" --argjson all "$3" '
	. as $p
	| (if .format != $fmt then "format is \(.format|tojson), want \($fmt|tojson)" else empty end),
	  (if .profile != "goroutine" then "profile is \(.profile|tojson), want \"goroutine\"" else empty end),
	  (if (.total_goroutines|type) != "number" or .total_goroutines < ([$exp[0].locations[] | select(.exact)
	      | .count] | add) then "total_goroutines \(.total_goroutines) is below what the zoo parked" else empty end),
	  ($exp[0].locations[] | select(.exact) | . as $w
	   | (if $fmt == "proto" then .op_proto elif $fmt == "debug=1" then .op_debug1 else .op_debug2 end) as $op
	   | [$p.locations[] | select(.function == $w.function and .file == $w.file and .line == $w.line)] as $got
	   | "\($w.pattern) at \($w.function) \($w.file):\($w.line)" as $what
	   | if $op == "sleep" and ($all | not) then
	       (if ($got | length) != 0 then "\($what): listed without --all: \($got | map({op, count}) | tojson)"
	        else empty end)
	     elif ($got | length) != 1 then
	       "\($what): \($got | length) entries \($got | map({op, count}) | tojson), want one {op: \($op|tojson), count: \($w.count)}"
	     else $got[0] as $g
	       | (if $g.count != $w.count then "\($what): count \($g.count), want \($w.count)" else empty end),
	         (if $g.op != $op then "\($what): op \($g.op|tojson), want \($op|tojson)" else empty end),
	         (if $g.leaked != 0 then "\($what): leaked \($g.leaked), want 0" else empty end),
	         (if $g.max_wait_minutes != null then "\($what): max_wait_minutes \($g.max_wait_minutes), want null"
	          else empty end),
	         (if ([$g.stack[]? | select(.function == $w.function and .file == $w.file and .line == $w.line)]
	              | length) == 0 then "\($what): the stack does not hold the location frame" else empty end)
	     end),
	  ([$exp[0].locations[] | select(.exact) | .file] | unique) as $files
	  | ($p.locations[] | select(.file as $f | $files | index($f)) | . as $l
	     | select([$exp[0].locations[] | select(.function == $l.function and .line == $l.line)] | length == 0)
	     | "unexpected location \($l.function) \($l.file):\($l.line) op \($l.op|tojson) count \($l.count)")' "$2"
}

errors=0
for debug in 0 1 2; do
	case $debug in 0) fmt=proto ;; *) fmt=debug=$debug ;; esac
	for all in false true; do
		opt=
		[ $all = true ] && opt=--all
		out=$TEST_TMP/parsed.$debug$opt.json
		"$LEAKPROFD_BIN" parse --json $opt "$TEST_TMP/prof.$debug" >"$out" 2>"$TEST_TMP/parse.err" ||
			fail "leakprofd parse --json $opt (debug=$debug) exited $?: $(cat "$TEST_TMP/parse.err")"
		jq -e . "$out" >/dev/null || fail "leakprofd parse --json $opt (debug=$debug): not JSON: $(head -c 300 "$out")"
		check "$fmt" "$out" $all >"$TEST_TMP/mismatch"
		if [ -s "$TEST_TMP/mismatch" ]; then
			errors=$((errors + 1))
			echo "debug=$debug parse --json $opt: (profile kept in $TEST_TMP/prof.$debug)"
			sed 's/^/    /' "$TEST_TMP/mismatch"
		fi
	done
	# Reading from stdin gives the same answer.
	"$LEAKPROFD_BIN" parse --json - <"$TEST_TMP/prof.$debug" >"$TEST_TMP/stdin.json" ||
		fail "leakprofd parse --json - (debug=$debug) failed"
	cmp -s "$TEST_TMP/stdin.json" "$TEST_TMP/parsed.$debug.json" ||
		fail "leakprofd parse --json - (debug=$debug) differs from the same file by name"
done
[ $errors = 0 ] || fail "leakprofd parse disagrees with what the zoo parked (see above)"
echo "leakprofd parse matches the zoo at 13 locations in debug=0, debug=1 and debug=2"
