#!/bin/sh
# tests/integration/eval.sh: the leak detector's evaluation (what `make eval` runs, and what test_eval.sh and
# test_eval_fleet.sh assert). Two sections, each with its own real daemon, one after the other:
#
# zoo: one real Go service (build/go/zoo) per scenario, each its own leakprofd service: every leak pattern at a
# fast and a slow rate, the benign look-alikes one by one (a flat pool of 5,000, bursts that rise and drain, a
# select on a ticker, long-polls, a pool that ramps up at start-up, sleepers, idle keep-alive connections), one
# service mixing a slow leak with all of them, and a leaker that the harness restarts every 20 s. The real daemon
# scrapes them all every second. Afterwards the ranking is recomputed as of every second of the run (`leakprofd
# suspects --at`, the same code the daemon runs after each round), and the rankings the daemon stored are polled
# during the run. Per scenario it prints: the rank of the true leak in its service at the end, the false
# positives in the top 10 (most at any moment), and the number of count scrapes until the leak first ranked #1.
#
# zoo127: the same zoo built by Go 1.27 (which serves /debug/pprof/goroutineleak), with the leak profile fetched
# beside the goroutine profile every minute (leak_profile.interval's minimum). The rankings are replayed twice:
# over everything stored, and over a copy of the database without the leak profile fetches (growth alone, on the
# very same goroutine profiles). Per leak scenario it prints whether the leak profile confirmed the leak, and
# the count scrapes until it first ranked #1 with the leak profile and by growth alone. Leaks the leak profile
# cannot see (a channel held by a package variable, locks held by package variables) must still rank #1.
#
# fleet: services of several instances of build/go/fleetsvc, found through file_sd target files, as fleets run
# them: instances with big idle pools restarting on the same address with no gap (the address never refuses a
# connection), the same with bursts cut by the restarts (with big and with small pools), leaking instances
# replaced one by one by the fixed build on new addresses (the target file rewritten, the old processes stopped,
# an alert expected to resolve at a real webhook receiver, build/go/hookrecv), and a leak in 1 of 8 instances.
# The rankings the daemon stores are polled from GET /api/v1/suspects every second. Per scenario it prints:
# precision (share of listed suspects that were the live leak), recall (share of the rankings due to have it
# with the leak #1), count scrapes until the leak first ranked #1, the false suspects, and for the replacement
# the scrapes until the fixed leak left the ranking and until its resolved notification arrived.
#
# Usage: sh tests/integration/eval.sh [--zoo | --zoo127 | --fleet] [SECONDS]
#   every section by default; SECONDS of scraping per section (default 80 for the zoo, 150 for zoo127, 100 for
#   the fleet, at least 60 for the fleet).
# Results in $EVAL_OUT (default $LEAKPROFD_TEST_OUT/eval):
#   results.tsv, one line per zoo scenario:
#     scenario  kind  first_rank1_scrapes|-  final_rank|0  fp_top10_max  held_rank1_percent  false_positives
#   stored_fp.txt: false positives found in the daemon's stored rankings (zoo);
#   results127.tsv, stored_fp127.txt: the same for zoo127, and confirm127.tsv, one line per leak scenario:
#     scenario  kind  confirmed(yes|no)  first_rank1_scrapes_with_leak_profile|-  first_rank1_scrapes_growth_alone|-
#     difference|-  final_rank|0
#   fleet.tsv, one line per fleet scenario (- where it does not apply or never happened):
#     scenario  family  instances  restarts  failed_scrapes  precision_percent  recall_percent
#     first_rank1_scrapes  gone_after_scrapes  resolved_after_scrapes  false_suspects
#   fleet_explanations.txt: the ranking's explanation of each scenario's leak and false suspects, and what the
#   service listed when the leak was due but not #1.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"

SECTIONS="zoo zoo127 fleet"
case ${1:-} in
--zoo) SECTIONS=zoo; shift ;;
--zoo127) SECTIONS=zoo127; shift ;;
--fleet) SECTIONS=fleet; shift ;;
-*) echo "usage: sh $0 [--zoo | --zoo127 | --fleet] [SECONDS]" >&2; exit 2 ;;
esac
SECONDS_ARG=${1:-}
EVAL_OUT=${EVAL_OUT:-$LEAKPROFD_TEST_OUT/eval}
mkdir -p "$EVAL_OUT"
rm -f "$EVAL_OUT"/*
[ -x "$LEAKPROFD_BIN" ] || fail "$LEAKPROFD_BIN is missing: run 'make'"
command -v jq >/dev/null || fail "jq is missing"
command -v sqlite3 >/dev/null || fail "the sqlite3 CLI is missing"

# ---- zoo

FAST_RATE=3                     # leaked goroutines per second, from 0
SLOW_RATE=0.4                   # one every 2.5 s = every 2.5 scrapes at a 1 s interval ...
SLOW_START=10                   # ... on top of 10 leaked before the first scrape
RESTART_EVERY=20                # seconds a restarting leaker lives
MIN_SCRAPES=6
PATTERNS="early_return timeout ncast range_unclosed nil_send nil_recv select_forever waitgroup mutex rwmutex cond
global_chan"
BENIGN="pool burst ticker_select longpoll startup_pool sleep http_idle"

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
		"$ZOO_GO_BIN/zoo" -addr "127.0.0.1:$_port" -exit-after "${RESTART_EVERY}s" "$@" &
		_zpid=$!
		wait "$_zpid" || true
		_zpid=
		sleep 1.5 &
		wait $! || true
	done
}

# replay CFG OUT: the ranking as of every second of the run, from the database CFG names, one JSON line per
# second in OUT.
replay() {
	: >"$2"
	t=$((first + 999))
	while [ "$t" -le $((last + 999)) ]; do
		"$LEAKPROFD_BIN" suspects --config "$1" --at "$t" --json |
		    jq -c --argjson t "$t" '{t: $t, s: [.suspects[] | {service, function, line, rank, confirmed}]}' \
		    >>"$2" || fail "suspects --at $t failed"
		t=$((t + 1000))
	done
}

# zoo_run [go1.27]: start the zoos and the daemon, scrape, replay the rankings; results.tsv and stored_fp.txt.
# With go1.27: the zoos of Go 1.27 with the leak profile fetched every minute, and the files of zoo127.
zoo_run() {
	ZT=
	ZOO_GO_BIN=$LEAKPROFD_GO_BIN
	DURATION=${SECONDS_ARG:-80}
	if [ "${1:-}" = go1.27 ]; then
		ZT=127
		ZOO_GO_BIN=$LEAKPROFD_GO_BIN/go1.27
		for d in ${LEAKPROFD_GO_BINS:-}; do
			case $d in */go1.27) ZOO_GO_BIN=$d ;; esac
		done
		DURATION=${SECONDS_ARG:-150}
	fi
	DB=$TEST_TMP/eval$ZT.db
	CFG=$TEST_TMP/eval$ZT.yaml
	S=$TEST_TMP/scenarios$ZT
	rm -rf "$S"
	mkdir -p "$S"
	[ -x "$ZOO_GO_BIN/zoo" ] || fail "$ZOO_GO_BIN/zoo is missing: run 'make go'"
	go_bin_saved=$LEAKPROFD_GO_BIN
	LEAKPROFD_GO_BIN=$ZOO_GO_BIN
	life=$((DURATION + 120))        # every zoo exits on its own even if this script is killed hard
	n=0

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
			[ -z "$ZT" ] || echo "    leak_profile: {interval: 1m}"
			i=$((i + 1))
		done
	} >"$CFG"
	"$LEAKPROFD_BIN" check-config "$CFG" >/dev/null || fail "the generated configuration is invalid"

	while [ "$(date +%s)" -lt $((benign_started + 7)) ]; do sleep 1; done
	echo "eval: $NSCEN scenarios$([ -z "$ZT" ] || echo " of Go 1.27, the leak profile every minute"), scraped" \
	    "every 1 s for $DURATION s"
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
	LEAKPROFD_GO_BIN=$go_bin_saved

	# Replay: the ranking as of every second of the run.
	first=$(sq "SELECT min(ts) FROM scrapes WHERE status = 'ok'")
	last=$(sq "SELECT max(ts) FROM scrapes WHERE status = 'ok'")
	[ -n "$first" ] || fail "the daemon stored no successful scrape"
	replay "$CFG" "$TEST_TMP/replay$ZT.jsonl"
	if [ -n "$ZT" ]; then
		# Growth alone: the same goroutine profiles without the leak profile fetches, and without the
		# (leaked) tags of the debug=2 detail dumps (Go 1.27 tags the goroutines a leak profile fetch
		# found in every later dump), whose wait ages stay.
		[ "$(sq "SELECT count(*) FROM scrapes WHERE kind = 'goroutineleak' AND format <> 'debug=2'
		    AND status = 'ok'")" -gt 0 ] || fail "the daemon stored no leak profile fetch"
		cp "$DB" "$TEST_TMP/growth.db"
		sqlite3 "$TEST_TMP/growth.db" "DELETE FROM samples WHERE scrape_id IN (SELECT id FROM scrapes
		    WHERE kind = 'goroutineleak' AND format <> 'debug=2'); DELETE FROM scrapes WHERE
		    kind = 'goroutineleak' AND format <> 'debug=2'; UPDATE samples SET leaked = 0;
		    UPDATE scrapes SET kind = 'goroutine';" || fail "cannot remove the leak profile fetches"
		sed "s|^database: .*|database: $TEST_TMP/growth.db|" "$CFG" >"$TEST_TMP/growth.yaml"
		replay "$TEST_TMP/growth.yaml" "$TEST_TMP/replay_growth.jsonl"
	fi
	sqlite3 -json "$DB" "SELECT sv.name AS service, s.ts AS ts FROM scrapes s JOIN targets t ON t.id = s.target_id
	    JOIN services sv ON sv.id = t.service_id WHERE s.status = 'ok' AND s.detail = 0 ORDER BY s.ts" \
	    >"$TEST_TMP/scrapes.json"
	cp "$CFG" "$EVAL_OUT/eval$ZT.yaml"
	cp "$DB" "$EVAL_OUT/eval$ZT.db"

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
		| @tsv' "$TEST_TMP/replay$ZT.jsonl" >"$EVAL_OUT/results$ZT.tsv"
	if [ -n "$ZT" ]; then
		# Per leak scenario: confirmed by the leak profile in any ranking, and the count scrapes until the leak
		# first ranked #1 with the leak profile and by growth alone.
		jq -n -r --slurpfile sc "$S/scenarios.json" --slurpfile scr "$TEST_TMP/scrapes.json" \
		    --slurpfile lp "$TEST_TMP/replay127.jsonl" --slurpfile gr "$TEST_TMP/replay_growth.jsonl" '
			($scr[0] | group_by(.service) | map({key: .[0].service, value: map(.ts)}) | from_entries) as $ts
			| def mine($r; $s): [[$r.s[] | select(.service == $s.name)] | to_entries[]
			      | select(.value.function == $s.leak.function and .value.line == $s.leak.line)
			      | {rank: (.key + 1), confirmed: .value.confirmed}];
			  def first1($reps; $s): ([$reps[] | select(mine(.; $s) | any(.rank == 1))] | first) as $f
			      | if $f == null then "-" else ([$ts[$s.name][] | select(. <= $f.t)] | length) end;
			$sc[0][] | select(.kind != "benign") as $s
			| first1($lp; $s) as $a | first1($gr; $s) as $b
			| [$s.name, $s.kind,
			   (if [$lp[] | mine(.; $s)[] | select(.confirmed)] | length > 0 then "yes" else "no" end),
			   $a, $b, (if $a == "-" or $b == "-" then "-" else $a - $b end),
			   ([$lp | last | mine(.; $s)[] | .rank] | first // 0)]
			| @tsv' >"$EVAL_OUT/confirm127.tsv" || fail "the leak profile analysis failed"
		cp "$TEST_TMP/replay127.jsonl" "$TEST_TMP/replay_growth.jsonl" "$EVAL_OUT/"
	fi

	# The stored rankings polled during the run: any suspect that is not its scenario's true leak.
	: >"$EVAL_OUT/stored_fp$ZT.txt"
	polled=0
	for f in "$TEST_TMP"/stored.*.json; do
		[ -s "$f" ] || continue
		polled=$((polled + 1))
		jq -r --slurpfile sc "$S/scenarios.json" '
			($sc[0] | map({key: .name, value: .leak}) | from_entries) as $leak
			| .suspects[] | select($leak[.service] == null or .function != $leak[.service].function
			  or .line != $leak[.service].line) | "\(.service) \(.function):\(.line) \(.explanation)"' \
			"$f" >>"$EVAL_OUT/stored_fp$ZT.txt"
	done
	echo "$polled" >"$EVAL_OUT/stored_polled$ZT.txt"
	echo "$NSCEN $DURATION" >"$EVAL_OUT/zoo$ZT.meta"
	rm -f "$TEST_TMP"/stored.*.json
}

zoo127_run() {
	zoo_run go1.27
}

# zoo_report [127]: the zoo table (of zoo127).
zoo_report() {
	ZT=${1:-}
	read -r NSCEN DURATION <"$EVAL_OUT/zoo$ZT.meta"
	polled=$(cat "$EVAL_OUT/stored_polled$ZT.txt")
	echo
	echo "leakprofd detector evaluation: $NSCEN services, one zoo each$([ -z "$ZT" ] ||
	    echo " built by Go 1.27, the leak profile fetched every minute"), scraped every 1 s for $DURATION s"
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
	done <"$EVAL_OUT/results$ZT.tsv"
	echo
	echo "stored rankings polled during the run: $polled, false positives in them:" \
	    "$(wc -l <"$EVAL_OUT/stored_fp$ZT.txt")"
	echo "results: $EVAL_OUT/results$ZT.tsv (database and config kept next to it)"
}

# zoo127_report: the zoo table of Go 1.27, then what the leak profile changed.
zoo127_report() {
	zoo_report 127
	echo
	echo "the leak profile next to growth (Go 1.27; the rankings replayed over everything stored, and over the same"
	echo "  goroutine profiles without the leak profile fetches): confirmed: the leak ranked as a confirmed leak;"
	echo "  #1 after: count scrapes until it first ranked #1 with the leak profile / by growth alone; diff: with"
	echo "  minus without (negative: earlier)"
	echo
	printf '%-24s %-8s %9s %14s %14s %6s %6s\n' SCENARIO KIND CONFIRMED "#1 AFTER (LP)" "#1 AFTER (GR)" DIFF RANK
	while IFS="$(printf '\t')" read -r name kind conf a b d pos; do
		printf '%-24s %-8s %9s %14s %14s %6s %6s\n' "$name" "$kind" "$conf" "$a" "$b" "$d" "$pos"
	done <"$EVAL_OUT/confirm127.tsv"
	echo
	echo "results: $EVAL_OUT/confirm127.tsv"
}

# ---- fleet

FLEET_RATE=3                    # leaked goroutines per second in a leaking instance, from 0
FLEET_POOL=2000                 # idle pool of the restarting services (the total barely moves at a restart)
FLEET_RESTART_EVERY=25          # seconds a restarting instance lives (its second instance first restarts earlier)
# Bursts rising over 3 s (at most 4 scrapes even when scrapes drift, fewer than min_scrapes: never growth) from
# 3 s after the start, every 10 s: two whole ones in each 25 s lifetime, the third cut by the restart after 2 s.
FLEET_BURST="-burst-size 150 -burst-start 3s -burst-every 10s -burst-hold 3s"
FLEET_REPLACE_AT=30             # seconds after the daemon started: the first leaking instance is replaced ...
FLEET_REPLACE_STEP=5            # ... and the next one this much later
FLEET_DUE=12                    # the leak must be #1 in every ranking from its service's 12th count scrape on
FLEET_GRACE=10                  # seconds a replaced leak may stay listed after the last replacement

# fleet_scenario NAME FAMILY: the scenario the next fleet_instance calls belong to.
fl_n=0
fleet_scenario() {
	fl_n=$((fl_n + 1))
	echo "$1" >"$F/$fl_n.name"
	echo "$2" >"$F/$fl_n.family"
	: >"$F/$fl_n.instances"
}

# fleet_instance I FLEETSVC-ARGS...: start instance I of the current scenario; $F/N.instances lists
# "I PORT PID" per instance in its target file.
fleet_instance() {
	_i=$1
	shift
	start_go "fl_${fl_n}_$_i" fleetsvc -exit-after "${fl_life}s" "$@"
	eval "echo \"$_i \$fl_${fl_n}_${_i}_port \$fl_${fl_n}_${_i}_pid\"" >>"$F/$fl_n.instances"
}

# fleet_targets N: (re)write scenario N's target file from its instance list, atomically (the daemon reads
# only *.json).
fleet_targets() {
	jq -R -s --arg svc "$(cat "$F/$1.name")" \
	    '[split("\n")[] | select(length > 0) | split(" ")[1] | "127.0.0.1:" + .]
	     | [{targets: ., labels: {service: $svc}}]' "$F/$1.instances" >"$F/targets/$1.json.tmp"
	mv "$F/targets/$1.json.tmp" "$F/targets/$1.json"
}

# fleet_replace N I FLEETSVC-ARGS...: a deploy replaces instance I of scenario N: the new build starts on a new
# address, the target file names it instead of the old one, and the old process stops. $F/N.replaced: the time
# (Unix ms) of the latest rewrite.
fleet_replace() {
	_k=$1 _i=$2
	shift 2
	start_go "fl_${_k}_new$_i" fleetsvc -exit-after "${fl_life}s" "$@"
	eval "_np=\$fl_${_k}_new${_i}_port _npid=\$fl_${_k}_new${_i}_pid"
	_old=$(awk -v i="$_i" '$1 == i { print $3 }' "$F/$_k.instances")
	awk -v i="$_i" -v p="$_np" -v pid="$_npid" '$1 == i { $2 = p; $3 = pid } { print }' "$F/$_k.instances" \
	    >"$F/$_k.instances.tmp"
	mv "$F/$_k.instances.tmp" "$F/$_k.instances"
	fleet_targets "$_k"
	date +%s%3N >"$F/$_k.replaced"
	kill "$_old"
	wait "$_old" 2>/dev/null || true
}

# fleet_run: start the instances, their target files, a webhook receiver and the daemon; poll the stored
# rankings for FL_SECONDS while a deploy replaces the leaking build; fleet.tsv and fleet_explanations.txt.
fleet_run() {
	FL_SECONDS=${SECONDS_ARG:-100}
	[ "$FL_SECONDS" -ge 60 ] ||
		fail "the fleet section needs at least 60 s of scraping (its replacements end after 35 s)"
	[ -x "$LEAKPROFD_GO_BIN/fleetsvc" ] || fail "$LEAKPROFD_GO_BIN/fleetsvc is missing: run 'make go'"
	[ -x "$LEAKPROFD_GO_BIN/hookrecv" ] || fail "$LEAKPROFD_GO_BIN/hookrecv is missing: run 'make go'"
	DB=$TEST_TMP/fleet.db
	CFG=$TEST_TMP/fleet.yaml
	F=$TEST_TMP/fleet
	mkdir -p "$F/targets"
	fl_life=$((FL_SECONDS + 120))   # every instance exits on its own even if this script is killed hard
	restart="-restart-every ${FLEET_RESTART_EVERY}s"
	leak="-leak-rate $FLEET_RATE"

	fleet_scenario restart restart
	fleet_instance 1 -pool-size "$FLEET_POOL" $leak $restart
	fleet_instance 2 -pool-size "$FLEET_POOL" $leak $restart -restart-first 13s
	fleet_scenario restart-burst restart-burst
	fleet_instance 1 -pool-size "$FLEET_POOL" $leak $FLEET_BURST $restart
	fleet_instance 2 -pool-size "$FLEET_POOL" $leak $FLEET_BURST $restart -restart-first 18s
	fleet_scenario restart-burst-small restart-burst
	fleet_instance 1 -pool-size 20 $leak $FLEET_BURST $restart
	fleet_instance 2 -pool-size 20 $leak $FLEET_BURST $restart -restart-first 18s
	fleet_scenario replace replace
	FL_REPLACE=$fl_n
	fleet_instance 1 -pool-size 500 $leak
	fleet_instance 2 -pool-size 500 $leak
	fleet_scenario one-of-8 1-of-n
	fleet_instance 1 -pool-size 300 $leak
	for i in 2 3 4 5 6 7 8; do
		fleet_instance "$i" -pool-size 300
	done
	FL_NSCEN=$fl_n
	start_go fl_hook hookrecv -out "$F/deliveries.jsonl"

	# The true leak of each scenario, from its instances (one binary: the same location in each).
	i=1
	while [ $i -le "$FL_NSCEN" ]; do
		leakloc=null
		while read -r _ port _; do
			curl -sf "http://127.0.0.1:$port/expected" >"$F/expected.json" ||
				fail "GET /expected of $(cat "$F/$i.name") on port $port"
			l=$(jq -c '[.locations[] | select(.kind == "leak") | {function, file, line}][0]' \
			    "$F/expected.json")
			[ "$l" = null ] || leakloc=$l
		done <"$F/$i.instances"
		[ "$leakloc" != null ] || fail "no instance of $(cat "$F/$i.name") lists its leak"
		echo "$leakloc" >"$F/$i.leak"
		fleet_targets $i
		i=$((i + 1))
	done

	FL_LISTEN=$(free_listen)
	cat >"$CFG" <<-CONFIG
	listen: $FL_LISTEN
	database: $DB
	scrape_interval: 1s
	scrape_timeout: 1s
	target_files: ["$F/targets/*.json"]
	detector:
	  window: 10m
	  min_scrapes: $MIN_SCRAPES
	  min_count: 10
	alerting:
	  min_score: 0.5
	  min_count: 20
	  for: 3s
	  repeat_interval: 1h
	  max_age: 1h
	  webhooks:
	    - name: receiver
	      url: http://127.0.0.1:$fl_hook_port/hook
	      format: json
	CONFIG
	"$LEAKPROFD_BIN" check-config "$CFG" >/dev/null || fail "the generated fleet configuration is invalid"

	echo "eval: $FL_NSCEN fleet scenarios, scraped every 1 s for $FL_SECONDS s"
	start_daemon --config "$CFG"
	wait_for 30 test -s "$DB"
	fl_t0=$(date +%s)
	fl_end=$((fl_t0 + FL_SECONDS))
	next=1
	k=0
	while [ "$(date +%s)" -lt "$fl_end" ]; do
		daemon_alive
		if [ $next -le 2 ] &&
		    [ "$(date +%s)" -ge $((fl_t0 + FLEET_REPLACE_AT + (next - 1) * FLEET_REPLACE_STEP)) ]; then
			fleet_replace "$FL_REPLACE" $next -pool-size 500 $leak -fixed
			next=$((next + 1))
		fi
		curl -sf --max-time 5 "http://$FL_LISTEN/api/v1/suspects" >"$F/poll.$k.json" ||
			rm -f "$F/poll.$k.json"
		k=$((k + 1))
		sleep 1
	done
	# How often each scenario's instances restarted (the current child's generation, 1 for a first process).
	i=1
	while [ $i -le "$FL_NSCEN" ]; do
		r=0
		while read -r _ port _; do
			curl -sf "http://127.0.0.1:$port/expected" >"$F/expected.json" ||
				fail "GET /expected of $(cat "$F/$i.name") on port $port"
			g=$(jq .generation "$F/expected.json")
			r=$((r + g - 1))
		done <"$F/$i.instances"
		echo $r >"$F/$i.restarts"
		i=$((i + 1))
	done
	stop_daemon

	i=1
	while [ $i -le "$FL_NSCEN" ]; do
		jq -n --arg name "$(cat "$F/$i.name")" --arg family "$(cat "$F/$i.family")" \
		    --argjson leak "$(cat "$F/$i.leak")" --argjson inst "$(wc -l <"$F/$i.instances")" \
		    --argjson restarts "$(cat "$F/$i.restarts")" \
		    --argjson replaced "$(cat "$F/$i.replaced" 2>/dev/null || echo null)" \
		    '{name: $name, family: $family, leak: $leak, instances: $inst, restarts: $restarts,
		      replaced: $replaced}'
		i=$((i + 1))
	done | jq -s . >"$F/scenarios.json"
	# The stored rankings polled, once each (second resolution), oldest first.
	for f in "$F"/poll.*.json; do
		[ -s "$f" ] && cat "$f"
	done | jq -s 'map(select(.generated_at != null)
	    | {t: (.generated_at | fromdateiso8601 * 1000),
	       s: [.suspects[] | {service, function, file, line, rank, score, explanation}]})
	    | unique_by(.t)' >"$F/polls.json"
	sqlite3 -json "$DB" "SELECT sv.name AS service, s.target_id AS target, s.ts AS ts FROM scrapes s
	    JOIN targets t ON t.id = s.target_id JOIN services sv ON sv.id = t.service_id
	    WHERE s.status = 'ok' AND s.detail = 0 ORDER BY s.ts" >"$F/scrapes.json"
	sqlite3 -json "$DB" "SELECT sv.name AS service, count(*) AS n FROM scrapes s
	    JOIN targets t ON t.id = s.target_id JOIN services sv ON sv.id = t.service_id
	    WHERE s.status <> 'ok' GROUP BY sv.name" >"$F/failed.json"
	[ -s "$F/failed.json" ] || echo '[]' >"$F/failed.json"
	[ -s "$F/deliveries.jsonl" ] || : >"$F/deliveries.jsonl"
	jq -s '[.[] | select(.method == "POST") | .body + {received: .time}]' "$F/deliveries.jsonl" \
	    >"$F/deliveries.json"
	cp "$CFG" "$EVAL_OUT/fleet.yaml"
	cp "$DB" "$EVAL_OUT/fleet.db"
	cp "$F/deliveries.jsonl" "$F/polls.json" "$EVAL_OUT/"

	# Per scenario and stored ranking: the leak's position in its service, the suspects listed and which are
	# true (the leak, until FLEET_GRACE s after its last instance was replaced), the count scrapes so far
	# (of the service's most scraped instance, up to the end of the ranking's second: +-1).
	jq -n --slurpfile sc "$F/scenarios.json" --slurpfile polls "$F/polls.json" \
	    --slurpfile scr "$F/scrapes.json" --slurpfile failed "$F/failed.json" \
	    --slurpfile del "$F/deliveries.json" --argjson due "$FLEET_DUE" --argjson grace "$FLEET_GRACE" '
		def scrapes($svc; $from; $to):
			[$scr[0][] | select(.service == $svc and .ts > $from and .ts <= $to)]
			| group_by(.target) | map(length) | max // 0;
		def isleak($l): .function == $l.function and .file == $l.file and .line == $l.line;
		def ms: sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601 * 1000;
		$sc[0][] as $s
		| [$polls[0][] | . as $p
		   | [$p.s[] | select(.service == $s.name)] as $mine
		   | ($s.replaced == null or $p.t <= $s.replaced + $grace * 1000) as $live
		   | {t: $p.t, mine: [$mine | to_entries[] | .value + {srank: (.key + 1)}],
		      n: scrapes($s.name; 0; $p.t + 999),
		      pos: ([$mine | to_entries[] | select(.value | isleak($s.leak)) | .key + 1] | first // 0)}
		   | .tp = [.mine[] | select($live and isleak($s.leak))]
		   | .fp = [.mine[] | select(($live and isleak($s.leak)) | not)
		           | . + {name: "\(.function):\(.line)\(if isleak($s.leak) then " (fixed)" else "" end)"}]
		   | .due = (.n >= $due and ($s.replaced == null or .t < $s.replaced))] as $rows
		| ([$rows[] | select(.due)]) as $dues
		| ([$rows[] | .tp | length] | add // 0) as $tp
		| ([$rows[] | .fp | length] | add // 0) as $fp
		| ([$rows[] | select(.pos == 1 and (.tp | length) > 0)] | first) as $f1
		| (if $s.replaced == null then null else [$rows[] | select(.t >= $s.replaced)] end) as $after
		| (if $after == null then "-"
		   elif ($after | length) == 0 then "-"
		   elif ($after | last | .pos) > 0 then "-"
		   else ([$after[] | select(.pos > 0) | .t] | last) as $lastseen
		     | ([$after[] | select($lastseen == null or .t > $lastseen)] | first | .t) as $gone
		     | scrapes($s.name; $s.replaced; $gone + 999) end) as $gone
		| ([$del[0][] | select(.service == $s.name and isleak($s.leak))]) as $alerts
		| (if $s.replaced == null then "-"
		   elif ([$alerts[] | select(.status == "firing")] | length) == 0 then "never fired"
		   else ([$alerts[] | select(.status == "resolved") | .received | ms]) as $res
		     | ([$res[] | select(. >= $s.replaced)] | first) as $res1
		     | if $res1 != null then scrapes($s.name; $s.replaced; $res1 + 999)
		       elif ($res | length) > 0 then "early" else "no" end end) as $resolved
		| {row: [$s.name, $s.family, $s.instances, $s.restarts,
		         ([$failed[0][] | select(.service == $s.name) | .n] | first // 0),
		         (if $tp + $fp == 0 then "-" else ($tp * 100 / ($tp + $fp) | floor) end),
		         (if ($dues | length) == 0 then "-"
		          else ([$dues[] | select(.pos == 1)] | length) * 100 / ($dues | length) | floor end),
		         (if $f1 == null then "-" else $f1.n end), $gone, $resolved,
		         ([$rows[].fp[].name] | unique | join(",") | if . == "" then "-" else . end)],
		   why: ([([$rows[] | select((.tp | length) > 0)] | last
		           | select(. != null) | .tp[0]
		           | "\($s.name): the leak \(.function):\(.line) when last listed: #\(.srank) in the service, "
		             + "score \(.score): \(.explanation)"),
		          ([$dues[] | select(.pos != 1)] | last | select(. != null)
		           | "\($s.name): due at count scrape \(.n) but not #1 (\(.t / 1000 | todate)); the service listed: "
		             + if (.mine | length) == 0 then "nothing"
		               else [.mine[] | "#\(.srank) \(.function):\(.line) \(.explanation)"] | join("; ") end),
		          ($alerts[] | .received as $r
		           | "\($s.name): alert \(.status) at count scrape \(scrapes($s.name; 0; ($r | ms) + 999)) (\($r))"),
		          ($rows | map(.fp[]) | unique_by(.name)[]
		           | "\($s.name): false suspect \(.name): score \(.score): \(.explanation)")])}' \
	    >"$F/results.json" || fail "the fleet analysis failed"
	jq -r '.row | @tsv' "$F/results.json" >"$EVAL_OUT/fleet.tsv"
	jq -r '.why[]' "$F/results.json" >"$EVAL_OUT/fleet_explanations.txt"
}

# fleet_report: the fleet table.
fleet_report() {
	echo
	echo "leakprofd fleet evaluation: $FL_NSCEN services of build/go/fleetsvc instances found through target"
	echo "  files, scraped every 1 s for $FL_SECONDS s (detector: window 10m, min_scrapes $MIN_SCRAPES, min_count 10;"
	echo "  alerting: min_score 0.5, min_count 20, for 3s)"
	echo "  restart: 2 instances with idle pools of $FLEET_POOL leaking $FLEET_RATE/s at one line, restarted every"
	echo "    $FLEET_RESTART_EVERY s on the same address with no gap (the first time after 25 and 13 s)"
	echo "  restart-burst: the same with bursts of 150 handlers rising over 3 s every 10 s, the third one of each"
	echo "    lifetime cut by the restart; restart-burst-small: the same with pools of 20 (a burst draining"
	echo "    collapses the goroutine total as a restart does)"
	echo "  replace: 2 instances (pools of 500) leaking $FLEET_RATE/s, replaced by the fixed build on new addresses"
	echo "    through the target file $FLEET_REPLACE_AT and $((FLEET_REPLACE_AT + FLEET_REPLACE_STEP)) s after the" \
	    "daemon started (the old processes stopped)"
	echo "  one-of-8: 8 instances with pools of 300, one of them leaking $FLEET_RATE/s"
	echo "  precision: share of the suspects listed in all stored rankings that were the live leak (a replaced"
	echo "  leak listed over $FLEET_GRACE s after the last replacement is false); recall: share of the rankings from"
	echo "  the service's ${FLEET_DUE}th count scrape on (until the last replacement) with the leak #1 in its service;"
	echo "  #1 after: count scrapes until it first ranked #1; gone after / resolved after: count scrapes after the"
	echo "  last replacement until the leak left the ranking for good / its resolved notification arrived;"
	echo "  restarts: of all instances; failed: failed scrapes"
	echo
	printf '%-20s %-14s %4s %8s %6s %9s %6s %8s %10s %11s  %s\n' SCENARIO FAMILY INST RESTARTS FAILED \
	    PRECISION RECALL "#1 AFTER" "GONE AFTER" RESOLVED "FALSE SUSPECTS"
	while IFS="$(printf '\t')" read -r name family inst restarts failed prec rec first gone resolved fps; do
		[ "$prec" = - ] || prec="$prec%"
		[ "$rec" = - ] || rec="$rec%"
		printf '%-20s %-14s %4s %8s %6s %9s %6s %8s %10s %11s  %s\n' "$name" "$family" "$inst" "$restarts" \
		    "$failed" "$prec" "$rec" "$first" "$gone" "$resolved" "$fps"
	done <"$EVAL_OUT/fleet.tsv"
	echo
	echo "results: $EVAL_OUT/fleet.tsv; what the rankings said (fleet_explanations.txt):"
	sed 's/^/  /' "$EVAL_OUT/fleet_explanations.txt"
}

for s in $SECTIONS; do
	"${s}_run"
	cleanup_bg
done
for s in $SECTIONS; do
	"${s}_report"
done
