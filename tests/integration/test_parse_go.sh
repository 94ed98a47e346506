#!/bin/sh
# test_parse_go.sh: `leakprofd parse` on real profiles of the zoo built by every toolchain of the matrix
# (LEAKPROFD_GO_BINS: Go 1.19, 1.26, 1.26 with GOEXPERIMENT=goroutineleakprofile, 1.27; else LEAKPROFD_GO_BIN
# alone). The zoo parks a distinct number of goroutines in every leak pattern (3, 5, 7, ... so mix-ups show), under
# pprof labels (Go 1.27 prints them in debug=2 headers), next to an idle pool and sleepers; each of its goroutine
# profiles (debug=0 proto, debug=1, debug=2) is fetched with curl and parsed with --json and --json --all. For
# every location the zoo knows (/expected) the parser must report exactly one entry at that function and
# file:line, with the exact count and the op Go shows in that format (channel ops are "unknown" in debug=1).
# Where the zoo serves the goroutineleak profile, its three formats follow: debug=0 and debug=1 hold exactly the
# locations /expected calls leaked, all their goroutines leaked; debug=2 every location, the leaked ones tagged;
# and from then on the goroutine profile's debug=2 tags them too.
. "$(dirname "$0")/../lib.sh"
[ -x "$LEAKPROFD_BIN" ] || fail "$LEAKPROFD_BIN is missing: run 'make'"
command -v jq >/dev/null || fail "jq is missing"

counts=early_return=3,timeout=5,ncast=7,range_unclosed=9,nil_send=11,nil_recv=13,select_forever=15
counts=$counts,waitgroup=17,mutex=19,rwmutex=21,cond=23

# check FORMAT FILE ALL VIEW: compare one `parse --json [--all]` output with /expected; prints one line per
# mismatch. VIEW: goroutine (no leak detection yet), leak (goroutineleak debug=0 or debug=1: the leaked
# goroutines only) or dump (a debug=2 dump after leak detection: every goroutine, the leaked ones tagged).
check() {
	jq -r --slurpfile exp "$TEST_TMP/expected.json" --arg fmt "$1" --argjson all "$3" --arg view "$4" '
	. as $p
	| ([$exp[0].locations[] | select(.exact and .leaked) | .count] | add) as $nleaked
	| (if .format != $fmt then "format is \(.format|tojson), want \($fmt|tojson)" else empty end),
	  (if $view == "goroutine" then "goroutine" else "goroutineleak" end) as $kind
	  | (if .profile != $kind then "profile is \(.profile|tojson), want \($kind|tojson)" else empty end),
	  (if (.total_goroutines|type) != "number" then "total_goroutines \(.total_goroutines)"
	   elif $view == "leak" and .total_goroutines != $nleaked then
	     "total_goroutines \(.total_goroutines), want the \($nleaked) leaked"
	   elif $view != "leak" and .total_goroutines < ([$exp[0].locations[] | select(.exact) | .count] | add) then
	     "total_goroutines \(.total_goroutines) is below what the zoo parked" else empty end),
	  ($exp[0].locations[] | select(.exact) | . as $w
	   | (if $fmt == "proto" then .op_proto elif $fmt == "debug=1" then .op_debug1 else .op_debug2 end) as $op
	   | [$p.locations[] | select(.function == $w.function and .file == $w.file and .line == $w.line)] as $got
	   | "\($w.pattern) at \($w.function) \($w.file):\($w.line)" as $what
	   | (if $view != "goroutine" and $w.leaked then $w.count else 0 end) as $leaked
	   | if $view == "leak" and ($w.leaked | not) then
	       (if ($got | length) != 0 then "\($what): not leaked, yet listed: \($got | map({op, count}) | tojson)"
	        else empty end)
	     elif $op == "sleep" and ($all | not) then
	       (if ($got | length) != 0 then "\($what): listed without --all: \($got | map({op, count}) | tojson)"
	        else empty end)
	     elif ($got | length) != 1 then
	       "\($what): \($got | length) entries \($got | map({op, count}) | tojson), want one {op: \($op|tojson), count: \($w.count)}"
	     else $got[0] as $g
	       | (if $g.count != $w.count then "\($what): count \($g.count), want \($w.count)" else empty end),
	         (if $g.op != $op then "\($what): op \($g.op|tojson), want \($op|tojson)" else empty end),
	         (if $g.leaked != $leaked then "\($what): leaked \($g.leaked), want \($leaked)" else empty end),
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

# parse_all NAME FORMAT VIEW: parse $TEST_TMP/NAME with --json and --json --all and check both against
# /expected; parsing it from stdin must give the same answer. Counts the mismatching runs in $errors.
parse_all() {
	for all in false true; do
		opt=
		[ $all = true ] && opt=--all
		out=$TEST_TMP/$1$opt.json
		"$LEAKPROFD_BIN" parse --json $opt "$TEST_TMP/$1" >"$out" 2>"$TEST_TMP/parse.err" ||
			fail "$tc: leakprofd parse --json $opt $1 exited $?: $(cat "$TEST_TMP/parse.err")"
		jq -e . "$out" >/dev/null || fail "$tc: leakprofd parse --json $opt $1: not JSON: $(head -c 300 "$out")"
		check "$2" "$out" $all "$3" >"$TEST_TMP/mismatch"
		if [ -s "$TEST_TMP/mismatch" ]; then
			errors=$((errors + 1))
			echo "$tc: $1 parse --json $opt: (profile kept in $TEST_TMP/$1)"
			sed 's/^/    /' "$TEST_TMP/mismatch"
		fi
	done
	"$LEAKPROFD_BIN" parse --json - <"$TEST_TMP/$1" >"$TEST_TMP/stdin.json" ||
		fail "$tc: leakprofd parse --json - ($1) failed"
	cmp -s "$TEST_TMP/stdin.json" "$TEST_TMP/$1.json" ||
		fail "$tc: leakprofd parse --json - ($1) differs from the same file by name"
}

format_of() {
	case $1 in 0) echo proto ;; *) echo "debug=$1" ;; esac
}

errors=0
checked=
for dir in ${LEAKPROFD_GO_BINS:-$LEAKPROFD_GO_BIN}; do
	zoo=$dir/zoo
	[ -x "$zoo" ] || fail "$zoo is missing: run 'make go'"
	rm -f "$TEST_TMP/port"
	bg "$zoo" -portfile "$TEST_TMP/port" -leak "$counts" -benign pool,sleep -pool-size 29 -sleepers 27 \
		-sleep-interval 1h
	wait_for 20 test -s "$TEST_TMP/port"
	base=http://127.0.0.1:$(cat "$TEST_TMP/port")
	wait_for 20 sh -c "curl -sf '$base/expected' | jq -e .settled"
	curl -sf "$base/expected" >"$TEST_TMP/expected.json" || fail "GET /expected"
	tc=$(jq -r .go_version "$TEST_TMP/expected.json")
	[ "$(jq '[.locations[] | select(.exact)] | length' "$TEST_TMP/expected.json")" -eq 13 ] ||
		fail "$tc: the zoo reports $(jq -c '[.locations[].pattern]' "$TEST_TMP/expected.json"), want 11 leaks + 2 benign"

	for debug in 0 1 2; do
		curl -sf "$base/debug/pprof/goroutine?debug=$debug" >"$TEST_TMP/goroutine.$debug" ||
			fail "$tc: GET goroutine debug=$debug"
	done
	curl -sf "$base/expected" >"$TEST_TMP/expected.after.json" || fail "GET /expected"
	cmp -s "$TEST_TMP/expected.json" "$TEST_TMP/expected.after.json" ||
		fail "$tc: the zoo's counts moved while its profiles were fetched: $(diff "$TEST_TMP/expected.json" \
			"$TEST_TMP/expected.after.json")"
	for debug in 0 1 2; do
		parse_all "goroutine.$debug" "$(format_of $debug)" goroutine
	done
	what="debug=0, debug=1 and debug=2"

	if [ "$(jq -r .goroutineleak "$TEST_TMP/expected.json")" = true ]; then
		for debug in 0 1 2; do
			curl -sf "$base/debug/pprof/goroutineleak?debug=$debug" >"$TEST_TMP/goroutineleak.$debug" ||
				fail "$tc: GET goroutineleak debug=$debug"
		done
		curl -sf "$base/debug/pprof/goroutine?debug=2" >"$TEST_TMP/after.2" || fail "$tc: GET goroutine debug=2"
		parse_all goroutineleak.0 proto leak
		parse_all goroutineleak.1 debug=1 leak
		parse_all goroutineleak.2 debug=2 dump
		parse_all after.2 debug=2 dump
		what="$what, goroutineleak in all three, and debug=2 after it"
	else
		code=$(curl -s -o /dev/null -w '%{http_code}' "$base/debug/pprof/goroutineleak?debug=1")
		assert_eq "$tc: /debug/pprof/goroutineleak without the profile" "$code" 404
	fi
	kill "$BG_PID"
	echo "$tc: leakprofd parse matches the zoo at 13 locations in $what"
	checked="$checked $tc"
done
[ $errors = 0 ] || fail "leakprofd parse disagrees with what the zoo parked (see above)"
echo "leakprofd parse matches the zoo built by:$checked"
