#!/bin/sh
# suite: long
# test_eval_fleet.sh: the detector on real fleets (tests/integration/eval.sh --fleet: services of several real Go
# instances, build/go/fleetsvc, found through target files and scraped every second by the real daemon for 70 s):
# two instances with idle pools of 2,000 leaking at one line and restarting every 25 s on the same address with no
# gap; the same with bursts cut by the restarts (pools of 2,000, and of 20); two leaking instances replaced one by
# one by the fixed build on new addresses (the target file rewritten); a leak in 1 of 8 instances.
# Asserts per scenario: precision and recall 100% (the leak is #1 in its service in every stored ranking from the
# service's 12th count scrape on, and nothing else is ever listed); for the replacement, the fixed leak leaves the
# ranking within 10 count scrapes of the last replacement and the receiver gets its resolved notification within
# 15. Before that, that the scenarios are what they claim: the restarting instances restarted at least 4 times
# and none of their scrapes failed (no gap). About 80 s.
. "$(dirname "$0")/../lib.sh"
EVAL_OUT=$TEST_TMP/eval
export EVAL_OUT
sh "$(dirname "$0")/eval.sh" --fleet 70 || fail "eval.sh --fleet failed"
R=$EVAL_OUT/fleet.tsv
[ -s "$R" ] || fail "eval.sh wrote no fleet results"
assert_eq "fleet scenarios" "$(cut -f1 "$R" | tr '\n' ' ')" \
    "restart restart-burst restart-burst-small replace one-of-8 "

# at_most VALUE LIMIT: VALUE is a number no greater than LIMIT ("-" and words such as "no" are not).
at_most() {
	case $1 in
	'' | *[!0-9]*) return 1 ;;
	esac
	[ "$1" -le "$2" ]
}

tab=$(printf '\t')
while IFS="$tab" read -r name family inst restarts failed prec rec first gone resolved fps; do
	case $family in
	restart*)
		[ "$restarts" -ge 4 ] || fail "$name: its instances restarted only $restarts times in 70 s"
		assert_eq "$name: failed scrapes (the restarts must leave no gap)" "$failed" 0
		;;
	esac
done <"$R"

bad=0
while IFS="$tab" read -r name family inst restarts failed prec rec first gone resolved fps; do
	if [ "$prec" != 100 ]; then
		echo "FAIL $name: precision $prec%, false suspects: $fps"
		bad=1
	fi
	if [ "$rec" != 100 ]; then
		echo "FAIL $name: recall $rec%: the leak was #1 in only $rec% of the rankings from count scrape 12 on" \
		    "(first #1 after $first)"
		bad=1
	fi
	[ "$family" = replace ] || continue
	if ! at_most "$gone" 10; then
		echo "FAIL $name: the fixed leak left the ranking after $gone count scrapes, want at most 10"
		bad=1
	fi
	if ! at_most "$resolved" 15; then
		echo "FAIL $name: the resolved notification arrived after $resolved count scrapes, want at most 15"
		bad=1
	fi
done <"$R"
[ $bad = 0 ] || fail "the fleet evaluation failed (the table and the rankings' explanations above)"
echo "eval fleet: all assertions hold"
