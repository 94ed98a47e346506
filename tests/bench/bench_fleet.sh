#!/bin/sh
# tests/bench/bench_fleet.sh: one daemon's ceiling. The daemon against a simulated fleet (tests/bench/fleetsim.c:
# one process serving many virtual Go services' debug=0 goroutine profiles on one 127.0.0.1 port), first at a
# baseline size (1,000 targets), then at 10,000 and 50,000, at a 60 s interval. The aim: 50,000 targets within
# 2 cores and 1 GiB; when a size does not fit, the report says which part saturates.
#
# Per fleet size it reports, over BENCH_ROUNDS scrape rounds after a warm-up round:
#   - the daemon's CPU seconds per scrape round (every thread), as cores at a 60 s interval, and split by thread:
#     the main thread (scheduling, scraping and parsing every body), the single ingest writer (SQLite), the
#     detector (ranking) and the rest (web, alerting); a thread is one core at most, so the thread nearest a full
#     core is the first part to saturate;
#   - two baselines measured in the same run: curl fetching the same N bodies serially (one process, one
#     connection: the bare cost of moving the bytes), and fleetsim's own CPU to serve one round;
#   - the daemon's peak RSS (VmHWM; the aim: 1 GiB) and the most descriptors it held open;
#   - the scrape lag: the worst start delay against schedule per round (logged by the daemon), the gaps between
#     consecutive scrapes of the same target as the targets saw them (p50, p99, max; they include the scheduler's
#     deliberate jitter of up to interval/20, at most 5 s, and count a leak profile fetch, which asks the same
#     URL here, moments after the scrape it follows: about 1 in 60 targets a round at the hour-long leak
#     interval, so with BENCH_ROUNDS=1, where few targets are scraped twice, they make most of the gaps), and
#     the share of scheduled scrapes stored ok;
#   - how far the writer trailed: the ingest queue's peak and the longest a scrape waited between finishing and
#     being committed (logged by the daemon per round), and the scrapes it dropped;
#   - the ranking time: every ranking's duration from the start of the measured rounds until the alert (the
#     detector logs each), median and longest;
#   - the alert latency: once the warm-up round is stored, BENCH_LEAK_SERVICES services (2 of 100 targets, the
#     same at every size) start leaking at once (fleetsim GET /leak answers the moment; the leak shows in the very
#     next scrape of each of their targets and grows at every one after it) and the time from that moment to the
#     first firing alert's arrival at a real webhook receiver (build/go/hookrecv). The alerting thresholds are low
#     (score 0.5, 10 goroutines, `for: 0s`) and detector.min_scrapes is BENCH_MIN_SCRAPES (2), so that what is
#     measured is the pipeline's delay, not the rules' patience. Its floor: a location grows once it rose in K =
#     max(2, min_scrapes - 1) consecutive scrapes, so the earliest alert comes (K - 1) intervals after the leak's
#     start, plus the end of that round, the ranking and the delivery.
# Every figure of a size is printed beside its baseline from the same run: the external ones above, and the
# same figure at the baseline size with the ratio (linear scaling is the ratio of the sizes); the alert
# latency also beside its floor of (K - 1) intervals. The load average and how busy the machine's CPUs were
# during the measured rounds are printed with each size: the machine may be shared.
#
# The interval is BENCH_INTERVAL (default the issue's 60 s); a shorter one compresses time and multiplies the
# load (20 s = 3x), the CPU share is always reported against 60 s. A quick run:
#   BENCH_SIZES=2000 BENCH_BASE=500 BENCH_INTERVAL=10 BENCH_ROUNDS=2 sh tests/bench/bench_fleet.sh
#
# Environment: LEAKPROFD_BIN, LEAKPROFD_GO_BIN, BENCH_SIZES (default "10000 50000"), BENCH_BASE (the baseline
# size, default 1000; 0: none), BENCH_INTERVAL (seconds, default 60), BENCH_ROUNDS (default 2),
# BENCH_LEAK_SERVICES (default 2), BENCH_MIN_SCRAPES (default 2), BENCH_ALERT_WAIT (how long after the leak's
# start to wait for the alert, default 6 intervals), BENCH_OUT (directory for logs and databases, default
# build/bench).
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
bin=${LEAKPROFD_BIN:-$root/build/leakprofd}
gobin=${LEAKPROFD_GO_BIN:-$root/build/go}
sizes=${BENCH_SIZES:-10000 50000}
base=${BENCH_BASE:-1000}
interval=${BENCH_INTERVAL:-60}
rounds=${BENCH_ROUNDS:-2}
leak_services=${BENCH_LEAK_SERVICES:-2}
min_scrapes=${BENCH_MIN_SCRAPES:-2}
alert_wait=${BENCH_ALERT_WAIT:-$((interval * 6))}
out=${BENCH_OUT:-$root/build/bench}
mkdir -p "$out"
hz=$(getconf CLK_TCK)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM   # dash would run the handler and carry on
die() {
	echo "bench_fleet: $*" >&2
	exit 1
}
for t in cc curl jq pkg-config sqlite3; do command -v $t >/dev/null || die "$t is not installed"; done
[ -x "$gobin/hookrecv" ] || die "$gobin/hookrecv is missing: run 'make go'"
# The daemon holds a connection per scrape in flight and the simulator one per connection: far below any
# limit, but a large fleet must not fail on a low soft limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The simulator, built here with the system's compiler and pkg-config.
cc -std=c17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -o "$out/fleetsim" tests/bench/fleetsim.c \
	$(pkg-config --cflags --libs libmicrohttpd zlib) -lpthread

# cpu_ticks PID: user + system clock ticks of every thread of PID so far.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
# thread_ticks PID TID: the same for one thread, 0 once it is gone.
thread_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/task/$2/stat" 2>/dev/null || echo 0
}
# thread_sched PID TID: nanoseconds one thread ran and waited for a CPU so far (schedstat), "0 0" once gone.
thread_sched() {
	awk '{ print $1, $2 }' "/proc/$1/task/$2/schedstat" 2>/dev/null || echo 0 0
}
# busy_ticks: the machine's busy and total clock ticks, every CPU, so far.
busy_ticks() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}
loadavg() {
	cut -d' ' -f1 /proc/loadavg
}
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}
wait_file() {
	i=0
	while [ ! -s "$1" ]; do
		i=$((i + 1)); [ $i -lt 200 ] || die "$1 did not appear"
		sleep 0.1
	done
}
sq() {
	sqlite3 -batch -noheader -cmd ".timeout 20000" "$1" "$2"
}
ratio() {   # ratio A B: A / B with two decimals, "-" when B is 0
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'
}
secs() {   # secs TICKS: clock ticks as seconds, three decimals
	awk -v t="$1" -v hz="$hz" -v r="$rounds" 'BEGIN { printf "%.3f", t / hz / r }'
}
# beside NAME VALUE UNIT: ", baseline B UNIT -> R x" for a figure measured at the baseline size too.
beside() {
	eval "b=\${${1}_$base:-}"
	if [ "$n" = "$base" ] || [ -z "$b" ]; then return 0; fi
	printf '; %s targets: %s%s -> %sx (%sx the targets)' "$base" "$b" "$3" "$(ratio "$2" "$b")" \
		"$(ratio "$n" "$base")"
}

results=$out/fleet-results.txt
: >"$results"
all_sizes=$sizes
[ "$base" = 0 ] || all_sizes="$base $sizes"
for n in $all_sizes; do
	echo "== fleet of $n targets, interval ${interval}s, $rounds rounds =="
	per=100
	[ "$n" -ge $per ] || per=$n
	leakers=$((leak_services * per))
	[ "$leakers" -le "$n" ] || leakers=$n
	rm -f "$out/fleetsim.port" "$out/hook.port"
	"$out/fleetsim" -n "$n" -epoch "$interval" -leak-on-request -leak-targets "$leakers" \
		-portfile "$out/fleetsim.port" 2>"$out/fleetsim-$n.log" &
	sim=$!
	pids="$pids $sim"
	hooks=$out/deliveries-$n.jsonl
	rm -f "$hooks"
	"$gobin/hookrecv" -portfile "$out/hook.port" -out "$hooks" 2>"$out/hookrecv-$n.log" &
	hook=$!
	pids="$pids $hook"
	wait_file "$out/fleetsim.port"
	wait_file "$out/hook.port"
	port=$(cat "$out/fleetsim.port")
	hook_port=$(cat "$out/hook.port")
	body=$(curl -s "http://127.0.0.1:$port/t/0/debug/pprof/goroutine" | wc -c)

	# Baseline: curl fetching the same N bodies serially over one connection.
	cfg=$out/curl-$n.cfg
	i=0
	while [ $i -lt "$n" ]; do
		echo "url = \"http://127.0.0.1:$port/t/$i/debug/pprof/goroutine\""
		echo "output = \"/dev/null\""
		i=$((i + 1))
	done >"$cfg"
	sim0=$(cpu_ticks "$sim")
	t0=$(date +%s.%N)
	curl_ticks=$(sh -c 'curl -s -K "$1" >/dev/null; awk "{ print \$16 + \$17 }" /proc/$$/stat' sh "$cfg")
	t1=$(date +%s.%N)
	sim_ticks=$(( $(cpu_ticks "$sim") - sim0 ))
	curl_cpu=$(awk -v t="$curl_ticks" -v hz="$hz" 'BEGIN { printf "%.3f", t / hz }')
	sim_cpu=$(awk -v t="$sim_ticks" -v hz="$hz" 'BEGIN { printf "%.3f", t / hz }')
	curl_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	echo "baseline: curl fetched $n bodies of $body bytes serially in $curl_wall s wall, $curl_cpu s CPU;" \
	    "fleetsim served them with $sim_cpu s CPU"

	# The daemon: N/100 services of 100 targets (or one service for small fleets).
	db=$out/fleet-$n.db
	rm -f "$db" "$db-wal" "$db-shm"
	conf=$out/fleet-$n.yaml
	{
		echo "listen: 127.0.0.1:0"   # the port is not used; any free one
		echo "database: $db"
		echo "scrape_interval: ${interval}s"
		echo "scrape_timeout: $(( interval < 10 ? interval : 10 ))s"
		echo "detector: {min_scrapes: $min_scrapes}"
		echo "alerting:"
		echo "  min_score: 0.5"
		echo "  min_count: 10"
		echo "  for: 0s"
		echo "  webhooks:"
		echo "    - {name: bench, url: \"http://127.0.0.1:$hook_port/hook\", format: json, timeout: 5s}"
		echo "services:"
		i=0
		while [ $i -lt "$n" ]; do
			if [ $((i % per)) = 0 ]; then
				echo "  - name: svc$((i / per))"
				echo "    detail_every: 0"
				echo "    labels: {env: bench}"
				echo "    targets:"
			fi
			echo "      - http://127.0.0.1:$port/t/$i/debug/pprof/goroutine"
			i=$((i + 1))
		done
	} >"$conf"
	start=$(date +%s)
	start_ms=$(now_ms)
	log=$out/daemon-$n.log
	# debug: the daemon logs the worst start lag of each round (its scheduler's own measure) and each
	# ranking's duration; it logs nothing per successful scrape, so the log stays small.
	"$bin" run --config "$conf" --log-level debug 2>"$log" &
	d=$!
	pids="$pids $d"
	# Once it runs, its threads by creation order: main (scheduler, scraping, parsing), ingest (the writer),
	# the web server's listener, alerting, the detector. The web server starts a thread per connection later.
	i=0
	until grep -q "notice  daemon: leakprofd .* running: " "$log"; do
		i=$((i + 1))
		[ $i -lt 6000 ] || { tail "$log" >&2; die "the daemon did not start in 10 minutes"; }
		kill -0 "$d" || { tail "$log" >&2; die "the daemon died"; }
		sleep 0.1
	done
	sleep 0.5
	tids=$(ls "/proc/$d/task" | sort -n | tr '\n' ' ')
	set -- $tids
	[ $# -ge 5 ] || die "the daemon runs $# threads, not the 5 expected: $tids"
	t_main=$1 t_ingest=$2
	eval "t_det=\${$#}"
	# Warm-up: the first round (99% of the targets stored once), or three intervals when the writer drops
	# scrapes (a fleet past what it stores never gets there; the rounds then measure that).
	i=0
	while [ "$(sq "$db" "SELECT count(DISTINCT target_id) FROM scrapes" 2>/dev/null || echo 0)" -lt $((n * 99 / 100)) ]; do
		i=$((i + 1))
		[ $i -lt $((interval * 3)) ] || break
		kill -0 "$d" || { tail "$log" >&2; die "the daemon died"; }
		sleep 1
	done
	warm=$(( $(date +%s) - start ))
	# Start-up: from exec to the daemon's "running" (the configuration read, every target registered).
	t=$(sed -n 's/^\([^ ]*\) notice  daemon: leakprofd .* running: .*/\1/p' "$log" | head -n 1)
	startup=$(awk -v a="$start_ms" -v b="$(date -d "$t" +%s%3N)" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
	warm_dropped=$(grep "daemon: ingest: " "$log" | awk '{ for (i = 1; i <= NF; i++) if ($i == "dropped;") s += $(i - 1) }
		END { print s + 0 }')
	curl -s "http://127.0.0.1:$port/reset" >/dev/null
	lag0=$(grep -c "worst lag" "$log" || true)
	ingest0=$(grep -c "daemon: ingest: " "$log" || true)
	rank0=$(grep -c "detect: ranked " "$log" || true)
	c0=$(cpu_ticks "$d")
	m0=$(thread_ticks "$d" "$t_main") i0=$(thread_ticks "$d" "$t_ingest") k0=$(thread_ticks "$d" "$t_det")
	ms0=$(thread_sched "$d" "$t_main") is0=$(thread_sched "$d" "$t_ingest") ks0=$(thread_sched "$d" "$t_det")
	s0=$(cpu_ticks "$sim")
	set -- $(busy_ticks)
	busy0=$1 total0=$2
	ts0=$(( $(date +%s) * 1000 ))
	leak_ms=$(curl -s "http://127.0.0.1:$port/leak")
	# The measured rounds; every 5 s a sample of the load average and the daemon's open descriptors.
	end=$(( $(date +%s) + interval * rounds ))
	load_max=0 load_sum=0 load_n=0 fds_max=0
	while [ "$(date +%s)" -lt "$end" ]; do
		sleep 5
		kill -0 "$d" || { tail "$log" >&2; die "the daemon died"; }
		l=$(loadavg)
		load_sum=$(awk -v a="$load_sum" -v b="$l" 'BEGIN { print a + b }')
		load_n=$((load_n + 1))
		load_max=$(awk -v a="$load_max" -v b="$l" 'BEGIN { print (b > a ? b : a) }')
		f=$(ls "/proc/$d/fd" | wc -l)
		[ "$f" -le "$fds_max" ] || fds_max=$f
	done
	c1=$(cpu_ticks "$d")
	m1=$(thread_ticks "$d" "$t_main") i1=$(thread_ticks "$d" "$t_ingest") k1=$(thread_ticks "$d" "$t_det")
	ms1=$(thread_sched "$d" "$t_main") is1=$(thread_sched "$d" "$t_ingest") ks1=$(thread_sched "$d" "$t_det")
	s1=$(cpu_ticks "$sim")
	set -- $(busy_ticks)
	busy1=$1 total1=$2
	ts1=$(( $(date +%s) * 1000 ))
	hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$d/status")
	timewait=$(ss -Htan state time-wait "( dport = :$port )" 2>/dev/null | wc -l)
	stats=$(curl -s "http://127.0.0.1:$port/stats")
	# The alert: wait for the first firing delivery, at most alert_wait after the leak's start.
	fired_ms=""
	while :; do
		t=$(jq -r 'select(.method == "POST" and .body.status == "firing") | .time' "$hooks" 2>/dev/null |
			date -f - +%s%3N | sort -n | head -n 1)
		if [ -n "$t" ]; then
			fired_ms=$t
			break
		fi
		[ "$(now_ms)" -lt $((leak_ms + alert_wait * 1000)) ] || break
		kill -0 "$d" || { tail "$log" >&2; die "the daemon died"; }
		sleep 1
	done
	waited=$(( ($(now_ms) - leak_ms) / 1000 ))
	firing=$(jq -r 'select(.method == "POST" and .body.status == "firing") | .body.event_id' "$hooks" 2>/dev/null |
		sort -u | wc -l)
	# Alerts on services that do not leak (svcN for N >= leak_services): none expected.
	false_alerts=$(jq -r --argjson k "$leak_services" 'select(.method == "POST" and .body.status == "firing")
		| select((.body.service | ltrimstr("svc") | tonumber) >= $k) | .body.event_id' "$hooks" 2>/dev/null |
		sort -u | wc -l)
	rank_ms=$(grep "detect: ranked " "$log" | awk -v skip="$rank0" 'NR > skip' |
		sed -n 's/.* in \([0-9]*\) ms$/\1/p' | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) print NR, v[int((NR + 1) / 2)], v[NR]; else print 0, 0, 0 }')
	kill -TERM "$d"
	rc=0
	wait "$d" || rc=$?
	[ "$rc" = 0 ] || echo "bench_fleet: the daemon exited with status $rc" >&2

	cpu_round=$(secs $((c1 - c0)))
	main_round=$(secs $((m1 - m0)))
	ingest_round=$(secs $((i1 - i0)))
	det_round=$(secs $((k1 - k0)))
	rest_round=$(awk -v a="$cpu_round" -v b="$main_round" -v c="$ingest_round" -v d="$det_round" \
		'BEGIN { r = a - b - c - d; printf "%.3f", (r > 0 ? r : 0) }')
	# busy A0 A1: "busy X% (ran Y%, waited Z%)": of the rounds' wall time, how much a thread ran and how
	# much it waited for a CPU; near 100% the thread is saturated (by its work, or by a busy machine).
	busy() {
		awk -v a="$1" -v b="$2" -v w="$((ts1 - ts0))" 'BEGIN { split(a, x, " "); split(b, y, " ")
			r = (y[1] - x[1]) / 1e6 / w * 100; q = (y[2] - x[2]) / 1e6 / w * 100
			printf "busy %.0f%% (ran %.0f%%, waited for a CPU %.0f%%)", r + q, r, q }'
	}
	sim_round=$(secs $((s1 - s0)))
	cores=$(awk -v c="$cpu_round" 'BEGIN { printf "%.2f", c / 60 }')
	machine=$(awk -v a="$busy0" -v b="$busy1" -v x="$total0" -v y="$total1" \
		'BEGIN { printf "%.0f%%", (b - a) / (y - x) * 100 }')
	load_avg=$(awk -v s="$load_sum" -v k="$load_n" 'BEGIN { printf "%.1f", k ? s / k : 0 }')
	okn=$(sq "$db" "SELECT count(*) FROM scrapes WHERE status = 'ok' AND ts >= $ts0 AND ts < $ts1")
	bad=$(sq "$db" "SELECT count(*) FROM scrapes WHERE status <> 'ok' AND ts >= $ts0 AND ts < $ts1")
	expected=$(( n * rounds ))
	okpct=$(awk -v a="$okn" -v b="$expected" 'BEGIN { printf "%.1f", a / b * 100 }')
	p50=$(echo "$stats" | jq '.gap_p50_ms')
	p99=$(echo "$stats" | jq '.gap_p99_ms')
	gmax=$(echo "$stats" | jq '.gap_max_ms')
	lag=$(grep "worst lag" "$log" | awk -v skip="$lag0" \
	    'NR > skip { v = $(NF - 1) + 0; if (v > m) m = v; c++ } END { print m + 0, c + 0 }')
	set -- $lag
	lag_max=$1 lag_rounds=$2
	queue=$(grep "daemon: ingest: " "$log" | awk -v skip="$ingest0" \
	    'NR > skip { for (i = 1; i <= NF; i++) { if ($i == "peak") { v = $(i + 1) + 0; if (v > p) p = v }
	                  if ($i == "dropped;") dr += $(i - 1) }
	     w = $(NF - 1) + 0; if (w > m) m = w } END { print p + 0, m + 0, dr + 0 }')
	set -- $queue
	q_peak=$1 q_wait=$2 q_dropped=$3
	set -- $rank_ms
	rank_n=$1 rank_med=$2 rank_max=$3
	dbsize=$(stat -c %s "$db")
	k=$((min_scrapes - 1))
	[ $k -ge 2 ] || k=2
	floor=$(( (k - 1) * interval ))
	if [ -n "$fired_ms" ]; then
		latency=$(awk -v a="$leak_ms" -v b="$fired_ms" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
	else
		latency=""
	fi
	rss_mib=$((hwm / 1024))
	eval "cpu_$n=$cpu_round rss_$n=$rss_mib lag_$n=$lag_max rank_$n=$rank_med latency_$n=$latency"
	eval "startup_$n=$startup"
	{
		echo "fleet $n targets @ ${interval}s x $rounds rounds (warm-up ${warm}s, body $body B), $(date -u '+%Y-%m-%d %H:%M') UTC:"
		echo "  machine                   load average $load_avg (1 min, mean; at most $load_max) on $(nproc) CPUs," \
		    "$machine of them busy during the rounds"
		echo "  start-up                  $startup s from exec to running$(beside startup "$startup" " s");" \
		    "$warm_dropped scrapes dropped by the ingest queue in the warm-up round"
		echo "  daemon CPU per round      $cpu_round s = $cores cores at a 60 s interval (aim: 2)$(beside cpu "$cpu_round" " s")"
		echo "    by thread               main (scrape, parse) $main_round s, $(busy "$ms0" "$ms1");" \
		    "ingest writer $ingest_round s, $(busy "$is0" "$is1"); detector $det_round s, $(busy "$ks0" "$ks1");" \
		    "the rest $rest_round s"
		echo "  baseline curl serial      $curl_cpu s  -> daemon/curl = $(ratio "$cpu_round" "$curl_cpu")x"
		echo "  baseline fleetsim serving $sim_round s per round -> daemon/fleetsim = $(ratio "$cpu_round" "$sim_round")x"
		echo "  daemon peak RSS           $rss_mib MiB (aim: 1024 MiB)$(beside rss "$rss_mib" " MiB");" \
		    "at most $fds_max descriptors open, $timewait connections to the fleet in TIME-WAIT at the end"
		echo "  scrape gaps (target side) p50 ${p50} ms, p99 ${p99} ms, max ${gmax} ms for a ${interval}000 ms interval" \
		    "(lag p99 $(( p99 - interval * 1000 )) ms, max $(( gmax - interval * 1000 )) ms)"
		echo "  scrape start lag          worst $lag_max ms over $lag_rounds rounds (the scheduler's own measure," \
		    "jitter excluded)$(beside lag "$lag_max" " ms")"
		echo "  ingest queue              peak $q_peak scrapes, longest wait $q_wait ms from finish to commit," \
		    "$q_dropped dropped"
		echo "  scrapes stored ok         $okn of $expected scheduled ($okpct%), $bad failed"
		echo "  ranking                   $rank_n rankings in ${waited} s, median $rank_med ms, longest $rank_max ms" \
		    "$(beside rank "$rank_med" " ms")"
		if [ -n "$latency" ]; then
			echo "  alert latency             first firing webhook $latency s after the leak started ($firing" \
			    "firing within $waited s, $false_alerts on services that do not leak); floor $floor s ($k rising scrapes) -> $(ratio "$latency" "$floor")x$(beside latency "$latency" " s")"
		else
			echo "  alert latency             no firing webhook within $waited s of the leak's start (floor $floor s)"
		fi
		echo "  database                  $((dbsize / 1024)) KiB"
		fit=yes why=""
		awk -v c="$cores" 'BEGIN { exit !(c > 2) }' && { fit=no; why="$why CPU ($cores cores);"; }
		[ "$rss_mib" -le 1024 ] || { fit=no; why="$why memory ($rss_mib MiB);"; }
		awk -v p="$okpct" 'BEGIN { exit !(p < 99) }' && { fit=no; why="$why scrapes lost ($okpct% stored);"; }
		[ "$q_dropped" = 0 ] || { fit=no; why="$why the writer dropped $q_dropped;"; }
		[ -n "$latency" ] || { fit=no; why="$why no alert;"; }
		for part in "main thread (scrape, parse):$ms0:$ms1" "ingest writer:$is0:$is1" "detector:$ks0:$ks1"; do
			b=$(busy "$(echo "$part" | cut -d: -f2)" "$(echo "$part" | cut -d: -f3)")
			b=${b#busy }
			[ "${b%%%*}" -lt 80 ] || why="$why the ${part%%:*} busy ${b%% *};"
		done
		echo "  fits 2 cores and 1 GiB    $fit${why:+ (}${why# }${why:+)}"
	} | tee -a "$results"
	kill "$sim" "$hook" 2>/dev/null || true
	wait "$sim" 2>/dev/null || true
	wait "$hook" 2>/dev/null || true
	pids=""
done
echo "results in $results"
