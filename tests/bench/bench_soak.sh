#!/bin/sh
# tests/bench/bench_soak.sh: the daemon run for a long time against a simulated fleet, to catch what only shows
# over time: memory or file descriptors that creep up, a database that outgrows its retention, scrapes lost.
#
# SOAK_TARGETS (1,000) targets of tests/bench/fleetsim.c in services of 100, scraped every SOAK_INTERVAL (1 s)
# for SOAK_MINUTES (30), with:
#   - leaks that start and stop: fleetsim -cycle makes every leak grow for the first half of each SOAK_CYCLE
#     (10 min; a third of the run when that is shorter) and then "ships the fix" (a restart, the counts back down
#     and flat), so alerts fire and resolve once per cycle, delivered to a real webhook receiver
#     (build/go/hookrecv);
#   - a SIGHUP every minute (the configuration reloaded under load);
#   - retention at work: the database starts with two hours of 1,000 other targets' scrapes from long enough
#     ago (tests/bench/web_gendb.sh, moved back in time) that the raw retention (1 h) must roll them all up and
#     delete them while the fleet is being stored.
# Every 10 s it samples the daemon's RSS (and its parts: heap, mapped files, shared memory), its open file
# descriptors and the database size. It reports RSS at the
# start (after a warm-up of a sixth of the run), the middle and the end, each the median of the samples of a
# tenth of the run (single samples move by several MiB as SQLite and malloc take and give back memory around a
# ranking; the target: flat within 10%) and the lowest and highest of each third after the warm-up (a leak
# raises the lowest), the fewest and most file descriptors open in each half after the warm-up (the most follow
# the transfers in flight; a leak raises the fewest), the database size against what the retention keeps, the
# scrapes the
# targets served against those stored (every one, but the transfers in flight at the stop), the alerts that
# fired and resolved, the ingest queue's peak (what a kill -9 would have lost at worst) and how long the SIGTERM
# at the end took. It fails when any of these misses its target.
#
# Environment: LEAKPROFD_BIN, LEAKPROFD_GO_BIN, SOAK_MINUTES (30), SOAK_TARGETS (1000), SOAK_INTERVAL (seconds,
# 1), SOAK_CYCLE (seconds), BENCH_OUT (directory for logs and the database, default build/bench).
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
bin=${LEAKPROFD_BIN:-$root/build/leakprofd}
gobin=${LEAKPROFD_GO_BIN:-$root/build/go}
minutes=${SOAK_MINUTES:-30}
n=${SOAK_TARGETS:-1000}
interval=${SOAK_INTERVAL:-1}
cycle=${SOAK_CYCLE:-600}
[ $((cycle * 3)) -le $((minutes * 60)) ] || cycle=${SOAK_CYCLE:-$((minutes * 20))}
out=${BENCH_OUT:-$root/build/bench}/soak
mkdir -p "$out"
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM   # dash would run the handler and carry on
die() {
	echo "bench_soak: $*" >&2
	exit 1
}
for t in cc curl jq pkg-config sqlite3; do command -v $t >/dev/null || die "$t is not installed"; done
[ -x "$gobin/hookrecv" ] || die "$gobin/hookrecv is missing: run 'make go'"
wait_file() {
	i=0
	while [ ! -s "$1" ]; do
		i=$((i + 1)); [ $i -lt 200 ] || die "$1 did not appear"
		sleep 0.1
	done
}
sq() {
	sqlite3 -batch -noheader -cmd ".timeout 20000" "$db" "$1"
}
cpu_ticks() {   # user + system clock ticks of every thread of PID so far
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}
free_port() {
	while :; do
		p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 ))
		rc=0
		curl -s -o /dev/null --max-time 0.3 "telnet://127.0.0.1:$p" </dev/null || rc=$?
		[ "$rc" = 7 ] && { echo "$p"; return 0; }
	done
}

cc -std=c17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -o "$out/fleetsim" tests/bench/fleetsim.c \
	$(pkg-config --cflags --libs libmicrohttpd zlib) -lpthread

# The database: two hours of other targets' scrapes, from 4 h to 2 h ago, for the retention to remove.
db=$out/soak.db
rm -f "$db" "$db-wal" "$db-shm"
sh tests/bench/web_gendb.sh "$db" 1000 2 60
sqlite3 "$db" "UPDATE scrapes SET ts = ts - 7200000; UPDATE rankings SET generated_at = generated_at - 7200000;"
seed=$(sq "SELECT count(*) FROM scrapes")

rm -f "$out/fleetsim.port" "$out/hook.port" "$out/deliveries.jsonl"
"$out/fleetsim" -n "$n" -epoch 5 -cycle "$cycle" -portfile "$out/fleetsim.port" 2>"$out/fleetsim.log" &
sim=$!
pids="$pids $sim"
hook_port=$(free_port)
"$gobin/hookrecv" -addr "127.0.0.1:$hook_port" -portfile "$out/hook.port" -out "$out/deliveries.jsonl" \
	2>"$out/hookrecv.log" &
pids="$pids $!"
wait_file "$out/fleetsim.port"
wait_file "$out/hook.port"
port=$(cat "$out/fleetsim.port")
web=127.0.0.1:$(free_port)

conf=$out/soak.yaml
{
	echo "listen: $web"
	echo "database: $db"
	echo "scrape_interval: ${interval}s"
	echo "scrape_timeout: ${interval}s"
	echo "retention: {raw: 1h, rollup: 1d}"
	echo "detector: {window: 2m, min_scrapes: 6}"
	echo "alerting:"
	echo "  min_score: 0.5"
	echo "  min_count: 20"
	echo "  for: 30s"
	echo "  repeat_interval: 1h"
	echo "  max_age: 1h"
	echo "  webhooks:"
	echo "    - {name: soak, url: \"http://127.0.0.1:$hook_port/hook\", format: json, timeout: 5s}"
	echo "services:"
	i=0
	while [ $i -lt "$n" ]; do
		if [ $((i % 100)) = 0 ]; then
			echo "  - name: soak$((i / 100))"
			echo "    detail_every: 0"
			echo "    targets:"
		fi
		echo "      - http://127.0.0.1:$port/t/$i/debug/pprof/goroutine"
		i=$((i + 1))
	done
} >"$conf"
"$bin" check-config "$conf" >/dev/null

log=$out/daemon.log
first_id=$(sq "SELECT coalesce(max(id), 0) FROM scrapes")
"$bin" run --config "$conf" --log-level debug 2>"$log" &
d=$!
pids="$pids $d"
start=$(date +%s)
end=$((start + minutes * 60))
warm=$((start + minutes * 10))
mid=$((start + minutes * 30))
samples=$out/samples.tsv
echo "elapsed_s	rss_kib	hwm_kib	fds	db_bytes	wal_bytes	anon_kib	file_kib	shmem_kib" >"$samples"
sample() {   # one line of $samples; sets s_rss s_fds s_db
	set -- $(awk '$1 ~ /^(VmRSS|VmHWM|RssAnon|RssFile|RssShmem):$/ { v[$1] = $2 }
		END { print v["VmRSS:"], v["VmHWM:"], v["RssAnon:"], v["RssFile:"], v["RssShmem:"] }' \
		"/proc/$d/status")
	s_rss=$1 s_hwm=$2 s_anon=$3 s_file=$4 s_shmem=$5
	s_fds=$(ls "/proc/$d/fd" | wc -l)
	s_db=$(stat -c %s "$db")
	s_wal=$(stat -c %s "$db-wal" 2>/dev/null || echo 0)
	echo "$(( $(date +%s) - start ))	$s_rss	$s_hwm	$s_fds	$s_db	$s_wal	$s_anon	$s_file	$s_shmem" \
		>>"$samples"
}
cpu0="" db1="" hups=0
next_hup=$((start + 60))
echo "soak: $n targets every ${interval}s for $minutes min (leak cycle ${cycle}s), SIGHUP every minute," \
	"$seed old scrapes to retire; samples in $samples"
while :; do
	sleep 10
	kill -0 "$d" 2>/dev/null || { tail -n 30 "$log" >&2; die "the daemon died"; }
	now=$(date +%s)
	sample
	if [ -z "$cpu0" ] && [ "$now" -ge "$warm" ]; then cpu0=$(cpu_ticks "$d") cpu0_t=$now; fi
	if [ -z "$db1" ] && [ "$now" -ge "$mid" ]; then db1=$((s_db + s_wal)); fi
	[ "$now" -lt "$end" ] || break
	if [ "$now" -ge "$next_hup" ]; then
		kill -HUP "$d"
		hups=$((hups + 1))
		next_hup=$((next_hup + 60))
	fi
done
hwm=$s_hwm
# median COLUMN FROM TO: the median of a samples column (KiB) over the samples taken FROM to TO
# seconds into the run; rss_median FROM TO: the same of the RSS.
median() {
	awk -v c="$1" -v a="$2" -v b="$3" 'NR > 1 && $1 >= a && $1 < b { print $c }' "$samples" |
		sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : 0 }'
}
rss_median() {
	median 2 "$1" "$2"
}
tenth=$((minutes * 6))
rss0=$(rss_median $((minutes * 10)) $((minutes * 10 + tenth)))
rss1=$(rss_median $((minutes * 30 - tenth / 2)) $((minutes * 30 + tenth / 2)))
rss2=$(rss_median $((minutes * 60 - tenth)) $((minutes * 60 + 60)))
# What the RSS is made of, at the same three times: the heap (malloc, SQLite's page caches), pages
# of files mapped (the binary, the libraries, the database through mmap) and shared memory (the
# WAL index): a drift shows in the part that grows.
parts=""
for c in 7:heap 8:files 9:shared; do
	col=${c%%:*}
	parts="$parts${parts:+, }${c#*:} $(($(median "$col" $((minutes * 10)) $((minutes * 10 + tenth))) / 1024))"
	parts="$parts/$(($(median "$col" $((minutes * 30 - tenth / 2)) $((minutes * 30 + tenth / 2))) / 1024))"
	parts="$parts/$(($(median "$col" $((minutes * 60 - tenth)) $((minutes * 60 + 60))) / 1024))"
done
# range COLUMN FROM TO: the lowest and the highest value of a samples column FROM to TO seconds into the run.
range() {
	awk -v c="$1" -v a="$2" -v b="$3" 'NR > 1 && $1 >= a && $1 < b {
		if (n++ == 0 || $c < lo) lo = $c; if ($c > hi) hi = $c } END { print lo + 0, hi + 0 }' "$samples"
}
rss_thirds=""
for i in 0 1 2; do
	set -- $(range 2 $((minutes * (10 + i * 50 / 3))) $((minutes * (10 + (i + 1) * 50 / 3) + 60 * (i / 2))))
	rss_thirds="$rss_thirds${rss_thirds:+, }$(($1 / 1024))-$(($2 / 1024))"
done
# Open descriptors move with the transfers in flight: a leak shows in the fewest open.
set -- $(range 4 $((minutes * 10)) $((minutes * 35)))
fds_a=$1 fds_a_hi=$2
set -- $(range 4 $((minutes * 35)) $((minutes * 60 + 60)))
fds_b=$1 fds_b_hi=$2
cores=$(awk -v a="$cpu0" -v b="$(cpu_ticks "$d")" -v hz="$(getconf CLK_TCK)" -v t="$(( $(date +%s) - cpu0_t ))" \
	'BEGIN { printf "%.2f", (b - a) / hz / t }')

t0=$(now_ms)
kill -TERM "$d"
rc=0
wait "$d" || rc=$?
stop_ms=$(($(now_ms) - t0))
pids=${pids% $d}

# Scrapes: what the targets served, against what the database holds of the soak's targets.
served=$(curl -s "http://127.0.0.1:$port/stats" | jq .requests)
abandoned=$(sed -n 's/.*abandoning \([0-9]*\) scrapes in flight.*/\1/p' "$log")
abandoned=${abandoned:-0}
stored=$(sq "SELECT count(*) FROM scrapes WHERE id > $first_id")
okn=$(sq "SELECT count(*) FROM scrapes WHERE id > $first_id AND status = 'ok'")
dropped=$(awk '/daemon: ingest: / { for (i = 1; i <= NF; i++) if ($i == "dropped;") s += $(i - 1) } END { print s + 0 }' "$log")
qpeak=$(awk '/daemon: ingest: / { for (i = 1; i <= NF; i++) if ($i == "peak") { v = $(i + 1) + 0; if (v > m) m = v } } END { print m + 0 }' "$log")
qwait=$(awk '/daemon: ingest: / { v = $(NF - 1) + 0; if (v > m) m = v } END { print m + 0 }' "$log")
qwait_p99=$(awk '/daemon: ingest: / { print $(NF - 1) + 0 }' "$log" | sort -n |
	awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; print v[i] + 0 }')
seed_left=$(sq "SELECT count(*) FROM scrapes WHERE id <= $first_id")
rollups=$(sq "SELECT count(*) FROM rollups")
oldest_min=$(sq "SELECT ($(date +%s) * 1000 - min(ts)) / 60000 FROM scrapes")
dbsize=$(( $(stat -c %s "$db") + $(stat -c %s "$db-wal" 2>/dev/null || echo 0) ))
free_pages=$(sq "PRAGMA freelist_count")
page=$(sq "PRAGMA page_size")
reloads=$(grep -c "daemon: configuration '.*' loaded" "$log" || true)
rankings=$(grep -c "detect: ranking started" "$log" || true)
rank_ms=$(grep "detect: ranked" "$log" | sed -n 's/.* in \([0-9]*\) ms$/\1/p' | sort -n |
	awk '{ v[NR] = $1 } END { if (NR) printf "median %d ms, max %d ms", v[int((NR + 1) / 2)], v[NR]; else print "none" }')
fired=$(jq -r 'select(.method == "POST") | .body | select(.status == "firing") | .event_id' "$out/deliveries.jsonl" 2>/dev/null | sort -u | wc -l)
resolved=$(jq -r 'select(.method == "POST") | .body | select(.status == "resolved") | .event_id' "$out/deliveries.jsonl" 2>/dev/null | sort -u | wc -l)
errors=$(grep -c " error " "$log" || true)
pct() {   # pct A B: (B - A) / A in percent, one decimal
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f", (b - a) / a * 100 }'
}
mib() {
	awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'
}
rate=$(awk -v s="$stored" -v m="$minutes" 'BEGIN { printf "%.0f", s / (m * 60) }')
# What the retention lets the database reach at this rate: the raw hour and the hour being filled.
rows=$(sq "SELECT count(*) FROM scrapes")
per_scrape=$(awk -v b="$dbsize" -v f="$((free_pages * page))" -v n="$rows" 'BEGIN { printf "%.0f", n ? (b - f) / n : 0 }')
cap=$(awk -v p="$per_scrape" -v r="$rate" 'BEGIN { printf "%.0f", p * r * 7200 }')
results=$out/soak-results.txt
{
	echo "soak: $n targets every ${interval}s for $minutes min, leaks cycling every ${cycle}s, $hups SIGHUPs"
	echo "  RSS                start $((rss0 / 1024)) MiB, middle $((rss1 / 1024)) MiB ($(pct "$rss0" "$rss1")%)," \
	    "end $((rss2 / 1024)) MiB ($(pct "$rss0" "$rss2")%); peak $((hwm / 1024)) MiB (target: flat within 10%);" \
	    "lowest-highest by third after the warm-up: $rss_thirds MiB; at start/middle/end: $parts MiB"
	echo "  file descriptors   $fds_a-$fds_a_hi open in the first half after the warm-up, $fds_b-$fds_b_hi in the second"
	echo "  CPU                $cores cores on average after the warm-up (every thread: scraping, parsing," \
	    "storing, ranking, alerting)"
	echo "  scrapes            $served served, $stored stored ($okn ok, $rate a second), $abandoned abandoned in" \
	    "flight at the stop, $dropped dropped by the ingest queue"
	echo "  ingest queue       peak $qpeak scrapes; a scrape waited at most $qwait ms from finish to commit" \
	    "(p99 of rounds $qwait_p99 ms)"
	echo "  database           $(mib "$db1") at the middle, $(mib "$dbsize") at the end" \
	    "($(mib $((free_pages * page))) free pages); oldest raw scrape $oldest_min min old (raw retention 1 h" \
	    "+ the hour being filled); $seed old scrapes at the start, $seed_left left; $rollups hourly rollups;" \
	    "$per_scrape bytes per stored scrape, so at most about $(mib "$cap") of raw data at this rate"
	echo "  detector           $rankings rankings over a 2 min window ($rank_ms)"
	echo "  alerts             $fired fired, $resolved resolved (webhook deliveries)"
	echo "  reloads            $reloads of $hups SIGHUPs logged as loaded"
	echo "  stop               SIGTERM to exit in $stop_ms ms, status $rc; $errors lines at error level in the log"
} | tee "$results"

fail=0
check() {   # check CONDITION MESSAGE
	if ! awk "BEGIN { exit !($1) }"; then
		echo "bench_soak: $2" >&2
		fail=1
	fi
}
check "$rc == 0" "the daemon exited with status $rc"
check "$stop_ms <= 5000" "the stop took $stop_ms ms (at most 5 s)"
check "$rss1 <= $rss0 * 1.1 && $rss2 <= $rss0 * 1.1" "RSS grew by more than 10%"
check "$fds_b <= $fds_a" "file descriptors leak: at least $fds_a open in the first half, $fds_b in the second"
check "$stored >= $served - $abandoned" "$stored scrapes stored of $served served ($abandoned abandoned)"
check "$dropped == 0" "$dropped scrapes dropped"
check "$seed_left == 0" "$seed_left raw scrapes older than the retention are left"
check "$fired > 0 && $resolved > 0" "alerts: $fired fired, $resolved resolved"
check "$reloads >= $hups" "only $reloads of $hups reloads logged"
exit $fail
