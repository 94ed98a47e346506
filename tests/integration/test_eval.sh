#!/bin/sh
# suite: long
# test_eval.sh: the detector on real services (tests/integration/eval.sh: one zoo per scenario, every leak
# pattern fast and slow, the benign look-alikes, a mixed service and a restarting leaker, scraped every second by
# the real daemon). Asserts: every leak ranks #1 in its service within 10 count scrapes of steady growth; no benign
# location is ever a suspect (in any replayed ranking, nor in any ranking the daemon stored); the restarting leaker
# stays #1 across restarts; and `leakprofd suspects --json` has the documented schema. About 2 minutes.
. "$(dirname "$0")/../lib.sh"
EVAL_OUT=$TEST_TMP/eval
export EVAL_OUT
sh "$(dirname "$0")/eval.sh" --zoo 80 || fail "eval.sh failed"
R=$EVAL_OUT/results.tsv
[ -s "$R" ] || fail "eval.sh wrote no results"
[ "$(wc -l <"$R")" -ge 30 ] || fail "only $(wc -l <"$R") scenarios evaluated"

tab=$(printf '\t')
bad=0
while IFS="$tab" read -r name kind scrapes pos fp10 held fps; do
	if [ "$fps" != "-" ]; then
		echo "FAIL $name: false positives: $fps"
		bad=1
	fi
	[ "$kind" = benign ] && continue
	if [ "$scrapes" = "-" ] || [ "$scrapes" -gt 10 ]; then
		echo "FAIL $name: the leak ranked #1 after $scrapes count scrapes, want at most 10"
		bad=1
	fi
	if [ "$pos" != 1 ]; then
		echo "FAIL $name: the leak ends at rank $pos, want 1"
		bad=1
	fi
	if [ "$kind" = restart ] && [ "$held" -lt 90 ]; then
		echo "FAIL $name: the restarting leak held #1 in only $held% of the rankings after it first got there"
		bad=1
	fi
done <"$R"
if [ -s "$EVAL_OUT/stored_fp.txt" ]; then
	echo "FAIL: false positives in the rankings the daemon stored:"
	sed 's/^/    /' "$EVAL_OUT/stored_fp.txt"
	bad=1
fi
[ "$(cat "$EVAL_OUT/stored_polled.txt")" -gt 30 ] || fail "too few stored rankings polled"
[ $bad = 0 ] || fail "the evaluation failed (table above)"

# The JSON schema of `suspects --json`, on the evaluation's database.
"$LEAKPROFD_BIN" suspects --config "$EVAL_OUT/eval.yaml" --window 10m --json --limit 5 >"$TEST_TMP/s.json" ||
	fail "suspects --json failed"
jq -e '
	(keys == ["generated_at", "suspects", "window_seconds"])
	and (.generated_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))
	and .window_seconds == 600
	and (.suspects | length) == 5
	and ([.suspects[].rank] == [1, 2, 3, 4, 5])
	and all(.suspects[];
		(keys == (["confirmed", "current_count", "explanation", "file", "first_seen", "function",
		    "growth_per_hour", "instances_growing", "instances_total", "line", "location_id",
		    "labels", "max_instance_count", "monotonicity", "oldest_wait_minutes", "op", "rank", "score",
		    "service", "stack"] | sort))
		and (.labels | type) == "array"
		and (.service | type) == "string" and (.function | type) == "string" and (.file | startswith("/"))
		and (.line | type) == "number" and .line > 0 and (.op | type) == "string"
		and .score >= 0 and .score <= 1 and (.confirmed | type) == "boolean"
		and .current_count >= 0 and .max_instance_count >= 10
		and .instances_growing >= 1 and .instances_growing <= .instances_total
		and .growth_per_hour > 0 and .monotonicity >= 0 and .monotonicity <= 1
		and (.oldest_wait_minutes == null or (.oldest_wait_minutes | type) == "number")
		and (.first_seen | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T"))
		and (.explanation | test("^grew [0-9,]+ → [0-9,]+ in .* on [0-9]+/[0-9]+ instances? \\(\\+"))
		and (.stack | type) == "array" and (.stack | length) > 0
		and all(.stack[]; (.function | type) == "string" and (.file | type) == "string"))
' "$TEST_TMP/s.json" >/dev/null || { cat "$TEST_TMP/s.json"; fail "suspects --json does not match the schema"; }
# Scores are sorted, --service narrows and ranks within the service, the table prints.
jq -e '[.suspects[].score] == ([.suspects[].score] | sort | reverse)' "$TEST_TMP/s.json" >/dev/null ||
	fail "suspects are not sorted by score"
"$LEAKPROFD_BIN" suspects --config "$EVAL_OUT/eval.yaml" --window 10m --service fast-mutex --json |
	jq -e '(.suspects | length) == 1 and .suspects[0].rank == 1 and .suspects[0].service == "fast-mutex"
	    and .suspects[0].op == "sync.Mutex.Lock"' >/dev/null || fail "suspects --service fast-mutex"
"$LEAKPROFD_BIN" suspects --db "$EVAL_OUT/eval.db" --window 10m --limit 3 >"$TEST_TMP/table.txt" ||
	fail "suspects (table) failed"
grep -q "^RANK  SCORE" "$TEST_TMP/table.txt" || fail "no table header: $(cat "$TEST_TMP/table.txt")"
grep -q "grew .* →" "$TEST_TMP/table.txt" || fail "no explanation in the table"
rc=0
"$LEAKPROFD_BIN" suspects --window nonsense >/dev/null 2>&1 || rc=$?
assert_eq "exit status for a bad --window" "$rc" 2
rc=0
"$LEAKPROFD_BIN" suspects --db "$TEST_TMP/missing.db" >/dev/null 2>&1 || rc=$?
assert_eq "exit status for a missing database" "$rc" 1
echo "eval: all assertions hold"
