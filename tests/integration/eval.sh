#!/bin/sh
# tests/integration/eval.sh: the leak detector's evaluation (what `make eval` runs, and what test_eval.sh asserts).
#
# One real Go service (build/go/zoo) per scenario, each its own leakprofd service: every leak pattern at a fast and
# a slow rate, the benign look-alikes one by one (a flat pool of 5,000, bursts that rise and drain, a select on a
# ticker, long-polls, a pool that ramps up at start-up, sleepers, idle keep-alive connections), one service mixing a
# slow leak with all of them, and a leaker that the harness restarts every 20 s. The real daemon scrapes them all
# every second. Afterwards the ranking is recomputed as of every second of the run (`leakprofd suspects --at`,
# the same code the daemon runs after each round), and the rankings the daemon stored are polled during the run.
#
# Per scenario it prints: the rank of the true leak in its service at the end, the false positives in the top 10
# (most at any moment), and the number of count scrapes until the leak first ranked #1.
#
# Usage: sh tests/integration/eval.sh [SECONDS]      (default 80 s of scraping)
# Results: $EVAL_OUT/results.tsv (default $LEAKPROFD_TEST_OUT/eval), one line per scenario:
#   scenario  kind  first_rank1_scrapes|-  final_rank|0  fp_top10_max  held_rank1_percent  false_positives
# and $EVAL_OUT/stored_fp.txt: false positives found in the daemon's stored rankings.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

DURATION=${1:-80}
EVAL_OUT=${EVAL_OUT:-$LEAKPROFD_TEST_OUT/eval}
FAST_RATE=3                     # leaked goroutines per second, from 0
SLOW_RATE=0.4                   # one every 2.5 s = every 2.5 scrapes at a 1 s interval ...
SLOW_START=10                   # ... on top of 10 leaked before the first scrape
RESTART_EVERY=20                # seconds a restarting leaker lives
MIN_SCRAPES=6
PATTERNS="early_return timeout ncast range_unclosed nil_send nil_recv select_forever waitgroup mutex rwmutex cond"
BENIGN="pool burst ticker_select longpoll startup_pool sleep http_idle"
DB=$TEST_TMP/eval.db
CFG=$TEST_TMP/eval.yaml
S=$TEST_TMP/scenarios
mkdir -p "$S" "$EVAL_OUT"
rm -f "$EVAL_OUT"/*
[ -x "$LEAKPROFD_GO_BIN/zoo" ] || fail "$LEAKPROFD_GO_BIN/zoo is missing: run 'make go'"
[ -x "$LEAKPROFD_BIN" ] || fail "$LEAKPROFD_BIN is missing: run 'make'"
command -v jq >/dev/null || fail "jq is missing"
command -v sqlite3 >/dev/null || fail "the sqlite3 CLI is missing"
life=$((DURATION + 120))        # every zoo exits on its own even if this script is killed hard

# scenario NAME KIND ZOO-ARGS...: start one zoo for one scenario.
n=0
scenario() {
	n=$((n + 1))
	echo "$1" >"$S/$n.name"
	echo "$2" >"$S/$n.kind"
	shift 2
	start_go "z$n" zoo -exit-after "${life}s" "$@"
	eval "echo \$z${n}_port" >"$S/$n.port"
}

# restart_loop PORT ZOO-ARGS...: run the zoo on PORT, let it exit after RESTART_EVERY s, start it again 1.5 s
# later (the daemon sees a collapse of the goroutine total, and failed scrapes in between).
restart_loop() {
	_port=$1
	shift
	_zpid=
	trap 'if [ -n "$_zpid" ]; then kill "$_zpid" 2>/dev/null; fi; exit 0' TERM INT
	while :; do
		"$LEAKPROFD_GO_BIN/zoo" -addr "127.0.0.1:$_port" -exit-after "${RESTART_EVERY}s" "$@" &
		_zpid=$!
		wait "$_zpid" || true
		_zpid=
		sleep 1.5 &
		wait $! || true
	done
}

# The benign zoos first: their first burst fires at start-up and rises for 5 s; seen from its very first second
# that one rise cannot be told from a leak until it drains, so the daemon starts only once it is over (every later
# burst is seen whole). The start-up pool is started last, so the daemon sees its 3 s ramp (shorter than
# min_scrapes).
for b in $BENIGN; do
	[ "$b" = startup_pool ] && continue
	scenario "benign-$b" benign -benign "$b" -pool-size 5000
done
scenario mixed leak -leak "timeout=$SLOW_START" -leak-rate "$SLOW_RATE" -benign "$(echo $BENIGN | tr ' ' ,)" \
	-pool-size 2000
benign_started=$(date +%s)
for p in $PATTERNS; do
	scenario "fast-$p" leak -leak "$p" -leak-count 0 -leak-rate "$FAST_RATE"
	scenario "slow-$p" leak -leak "$p=$SLOW_START" -leak-rate "$SLOW_RATE"
done
scenario benign-startup_pool benign -benign startup_pool
n=$((n + 1))
echo restart-early_return >"$S/$n.name"
echo restart >"$S/$n.kind"
rport=$(free_port)
echo "$rport" >"$S/$n.port"
bg restart_loop "$rport" -leak early_return -leak-count 0 -leak-rate "$FAST_RATE"
wait_for 20 curl -sf "http://127.0.0.1:$rport/expected"
NSCEN=$n

# The true leak of each scenario, from the zoo itself.
i=1
while [ $i -le "$NSCEN" ]; do
	curl -sf "http://127.0.0.1:$(cat "$S/$i.port")/expected" >"$S/$i.expected" ||
		fail "GET /expected of $(cat "$S/$i.name")"
	jq -c --arg name "$(cat "$S/$i.name")" --arg kind "$(cat "$S/$i.kind")" \
	    '{name: $name, kind: $kind, leak: ([.locations[] | select(.kind == "leak")
	      | {function, file, line}][0])}' "$S/$i.expected" >"$S/$i.json"
	i=$((i + 1))
done
i=1; while [ $i -le "$NSCEN" ]; do cat "$S/$i.json"; i=$((i + 1)); done | jq -s . >"$S/scenarios.json"

{
	echo "listen: $(free_listen)"
	echo "database: $DB"
	echo "scrape_interval: 1s"
	echo "scrape_timeout: 1s"
	echo "detector:"
	echo "  window: 10m"
	echo "  min_scrapes: $MIN_SCRAPES"
	echo "  min_count: 10"
	echo "services:"
	i=1
	while [ $i -le "$NSCEN" ]; do
		echo "  - name: $(cat "$S/$i.name")"
		echo "    targets: [\"http://127.0.0.1:$(cat "$S/$i.port")\"]"
		i=$((i + 1))
	done
} >"$CFG"
"$LEAKPROFD_BIN" check-config "$CFG" >/dev/null || fail "the generated configuration is invalid"

while [ "$(date +%s)" -lt $((benign_started + 7)) ]; do sleep 1; done
echo "eval: $NSCEN scenarios, scraped every 1 s for $DURATION s"
start_daemon --config "$CFG"
wait_for 30 test -s "$DB"
t_end=$(( $(date +%s) + DURATION ))
k=0
while [ "$(date +%s)" -lt "$t_end" ]; do
	daemon_alive
	# What the daemon stored (or, until it stored one, what the same code computes now).
	"$LEAKPROFD_BIN" suspects --config "$CFG" --json >"$TEST_TMP/stored.$k.json" 2>/dev/null ||
		rm -f "$TEST_TMP/stored.$k.json"
	k=$((k + 1))
	sleep 1
done
stop_daemon

# Replay: the ranking as of every second of the run.
first=$(sq "SELECT min(ts) FROM scrapes WHERE status = 'ok'")
last=$(sq "SELECT max(ts) FROM scrapes WHERE status = 'ok'")
[ -n "$first" ] || fail "the daemon stored no successful scrape"
t=$((first + 999))
: >"$TEST_TMP/replay.jsonl"
while [ "$t" -le $((last + 999)) ]; do
	"$LEAKPROFD_BIN" suspects --config "$CFG" --at "$t" --json |
	    jq -c --argjson t "$t" '{t: $t, s: [.suspects[] | {service, function, line, rank}]}' \
	    >>"$TEST_TMP/replay.jsonl" || fail "suspects --at $t failed"
	t=$((t + 1000))
done
sqlite3 -json "$DB" "SELECT sv.name AS service, s.ts AS ts FROM scrapes s JOIN targets t ON t.id = s.target_id
    JOIN services sv ON sv.id = t.service_id WHERE s.status = 'ok' AND s.detail = 0 ORDER BY s.ts" \
    >"$TEST_TMP/scrapes.json"
cp "$CFG" "$EVAL_OUT/eval.yaml"
cp "$DB" "$EVAL_OUT/eval.db"

# Per scenario: rank of the true leak within its service at each replayed second, false positives, and the
# number of the service's count scrapes stored when it first ranked #1.
jq -r -s --slurpfile sc "$S/scenarios.json" --slurpfile scr "$TEST_TMP/scrapes.json" '
	. as $rep
	| ($scr[0] | group_by(.service) | map({key: .[0].service, value: map(.ts)}) | from_entries) as $ts
	| $sc[0][] as $s
	| [$rep[] | . as $r
	   | [$r.s[] | select(.service == $s.name)] as $mine
	   | {t: $r.t,
	      pos: ([$mine | to_entries[] | select($s.leak != null and .value.function == $s.leak.function
	             and .value.line == $s.leak.line) | .key + 1] | first // 0),
	      fp: [$mine[] | select($s.leak == null or .function != $s.leak.function or .line != $s.leak.line)
	           | "\(.function):\(.line)"],
	      fp10: ([$mine[:10][] | select($s.leak == null or .function != $s.leak.function
	             or .line != $s.leak.line)] | length)}] as $rows
	| ([$rows[] | select(.pos == 1)] | first) as $f1
	| (if $f1 == null then "-" else ([$ts[$s.name][] | select(. <= $f1.t)] | length) end) as $scrapes
	| ([$rows[] | select($f1 != null and .t >= $f1.t)]) as $after
	| [$s.name, $s.kind, $scrapes, ($rows | last | .pos),
	   ([$rows[].fp10] | max // 0),
	   (if ($after | length) > 0 then ([$after[] | select(.pos == 1)] | length) * 100 / ($after | length)
	    | floor else 0 end),
	   ([$rows[].fp[]] | unique | join(",") | if . == "" then "-" else . end)]
	| @tsv' "$TEST_TMP/replay.jsonl" >"$EVAL_OUT/results.tsv"

# The stored rankings polled during the run: any suspect that is not its scenario's true leak.
: >"$EVAL_OUT/stored_fp.txt"
polled=0
for f in "$TEST_TMP"/stored.*.json; do
	[ -s "$f" ] || continue
	polled=$((polled + 1))
	jq -r --slurpfile sc "$S/scenarios.json" '
		($sc[0] | map({key: .name, value: .leak}) | from_entries) as $leak
		| .suspects[] | select($leak[.service] == null or .function != $leak[.service].function
		  or .line != $leak[.service].line) | "\(.service) \(.function):\(.line) \(.explanation)"' \
		"$f" >>"$EVAL_OUT/stored_fp.txt"
done
echo "$polled" >"$EVAL_OUT/stored_polled.txt"

echo
echo "leakprofd detector evaluation: $NSCEN services, one zoo each, scraped every 1 s for $DURATION s"
echo "  detector: window 10m, min_scrapes $MIN_SCRAPES (growth must span more scrapes than the zoo's 5 s burst"
echo "  ramp and 3 s start-up ramp take at this interval), min_count 10"
echo "  fast = $FAST_RATE leaked goroutines/s from 0; slow = one every $(echo "$SLOW_RATE" | awk '{printf "%.1f", 1/$1}') scrapes ($SLOW_RATE/s) on top of"
echo "  $SLOW_START leaked before the first scrape (\"one a minute\" cannot show 10 scrapes of growth at a 1 s interval;"
echo "  the unit tests cover one a minute scraped every minute); restart = fast leaker restarted every ${RESTART_EVERY} s"
echo "  rank: of the true leak in its service at the end (0 = not a suspect); #1 after: count scrapes until it"
echo "  first ranked #1; held: share of rankings since then with it #1; FP: false positives in the top 10"
echo
printf '%-24s %-8s %6s %10s %6s %6s  %s\n' SCENARIO KIND RANK "#1 AFTER" HELD FP "FALSE POSITIVES (EVER)"
while IFS="$(printf '\t')" read -r name kind scrapes pos fp10 held fps; do
	if [ "$kind" = benign ]; then
		printf '%-24s %-8s %6s %10s %6s %6s  %s\n' "$name" "$kind" - - - "$fp10" "$fps"
	else
		printf '%-24s %-8s %6s %10s %5s%% %6s  %s\n' "$name" "$kind" "$pos" "$scrapes" "$held" "$fp10" "$fps"
	fi
done <"$EVAL_OUT/results.tsv"
echo
echo "stored rankings polled during the run: $polled, false positives in them: $(wc -l <"$EVAL_OUT/stored_fp.txt")"
echo "results: $EVAL_OUT/results.tsv (database and config kept next to it)"
