#!/bin/sh
# tests/bench/bench_pg_fleet.sh: several daemons sharing one PostgreSQL database against the single daemon on
# SQLite, in the same run. BENCH_PG_DAEMONS daemons (default 3), each shard i of that many, scrape
# BENCH_PG_TARGETS simulated targets each (default 10,000: 100 services of 100 targets per daemon, the services
# split between the daemons by the shard hash) into one PostgreSQL server started here (tests/pg/pg_start.sh,
# Debian's postgresql); the baseline is one daemon scraping BENCH_PG_TARGETS targets into SQLite. Both at
# BENCH_INTERVAL (default 60 s) for BENCH_ROUNDS measured rounds (default 2) after a warm-up round, against
# tests/bench/fleetsim.c.
#
# Per setup it reports:
#   - ingest: scrapes stored per second during the measured rounds, against the rate scheduled (targets /
#     interval), the share of scheduled scrapes stored, and the ingest queue's peak and drops (each daemon's
#     debug log);
#   - ranking: every ranking's duration in the measured rounds (each daemon's "detect: ranked"), median and
#     longest;
#   - database bytes per target per day: the database's growth over the measured rounds (pg_database_size; the
#     SQLite pages in use, its WAL's included) per scrape stored, times the scrapes a target has in a day at the interval;
#     raw data only (retention.raw is 48 h: a day's raw rows are what a target adds before rollups replace
#     them);
#   - CPU: the daemons' and PostgreSQL's (the server and every backend) CPU per round, as cores at the interval.
# Each PostgreSQL figure is printed beside the SQLite one of the same run, with the ratio; the machine's load
# average while measuring is printed too (it may be shared).
#
# The server is durable as in production (fsync, synchronous_commit and full_page_writes on, which the tests'
# server turns off), with 256 MB of shared buffers; BENCH_PG_OPTS replaces those settings.
#
# Environment: LEAKPROFD_BIN, BENCH_PG_DAEMONS, BENCH_PG_TARGETS, BENCH_INTERVAL, BENCH_ROUNDS, BENCH_PG_OPTS,
# BENCH_OUT (logs, databases and the server's directory, default build/bench).
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
bin=${LEAKPROFD_BIN:-$root/build/leakprofd}
ndaemons=${BENCH_PG_DAEMONS:-3}
per_daemon=${BENCH_PG_TARGETS:-10000}
interval=${BENCH_INTERVAL:-60}
rounds=${BENCH_ROUNDS:-2}
out=${BENCH_OUT:-$root/build/bench}
mkdir -p "$out"
hz=$(getconf CLK_TCK)
pids=""
pgstate=$out/pg-fleet
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	sh "$root/tests/pg/pg_stop.sh" "$pgstate" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() {
	echo "bench_pg_fleet: $*" >&2
	exit 1
}
for t in cc curl pkg-config sqlite3 psql; do command -v $t >/dev/null || die "$t is not installed"; done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cc -std=c17 -D_GNU_SOURCE -O2 -g -Wall -Wextra -o "$out/fleetsim" tests/bench/fleetsim.c \
	$(pkg-config --cflags --libs libmicrohttpd zlib) -lpthread

ratio() {   # ratio A B: A / B with two decimals, "-" when B is 0
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'
}
# ticks PID...: user + system clock ticks of the processes so far, with their reaped children's
ticks() {
	for p in "$@"; do awk '{ print $14 + $15 + $16 + $17 }' "/proc/$p/stat" 2>/dev/null || echo 0; done |
		awk '{ s += $1 } END { print s + 0 }'
}
# pg_ticks: the PostgreSQL server's CPU so far: the postmaster with the backends it reaped, and those alive
pg_ticks() {
	pm=$(head -n 1 "$(cat "$pgstate/dir")/data/postmaster.pid")
	ticks "$pm" $(ps -o pid= --ppid "$pm")
}
sq() {
	sqlite3 -batch -noheader -cmd ".timeout 20000" "$db" "$1"
}
pq() {
	psql "$uri" -qAt -c "$1"
}
loadavg() {
	cut -d' ' -f1 /proc/loadavg
}

total=$((ndaemons * per_daemon))
rm -f "$out/fleetsim.port"
"$out/fleetsim" -n "$total" -epoch "$interval" -portfile "$out/fleetsim.port" 2>"$out/fleetsim-pg.log" &
sim=$!
pids="$pids $sim"
i=0
while [ ! -s "$out/fleetsim.port" ]; do
	i=$((i + 1)); [ $i -lt 200 ] || die "fleetsim did not start"
	sleep 0.1
done
port=$(cat "$out/fleetsim.port")
sh "$root/tests/pg/pg_stop.sh" "$pgstate" 2>/dev/null || true
rm -rf "$pgstate"
# a server as run in production, not the tests' (fsync, synchronous_commit and full_page_writes on)
uri=$(PG_OPTS=${BENCH_PG_OPTS:--c fsync=on -c synchronous_commit=on -c full_page_writes=on \
	-c shared_buffers=256MB -c max_wal_size=2GB} sh "$root/tests/pg/pg_start.sh" "$pgstate") ||
	die "no PostgreSQL server started"

# config FILE DATABASE N SHARD COUNT: N targets (100 per service) on DATABASE as shard SHARD of COUNT
config() {
	{
		echo "listen: 127.0.0.1:0"
		echo "database: \"$2\""
		echo "scrape_interval: ${interval}s"
		echo "scrape_timeout: $(( interval < 10 ? interval : 10 ))s"
		echo "shard: {index: $4, count: $5}"
		echo "services:"
		awk -v n="$3" -v port="$port" 'BEGIN { for (i = 0; i < n; i++) {
			if (i % 100 == 0) printf "  - name: svc%d\n    detail_every: 0\n    targets:\n", i / 100
			printf "      - http://127.0.0.1:%d/t/%d/debug/pprof/goroutine\n", port, i } }'
	} >"$1"
}

# measure NAME: warm up, measure, and set NAME_* figures. Uses $dpids, $logs, $n, and size/count
# through $kind ("sqlite" or "pg").
stored() {
	if [ "$kind" = pg ]; then pq "SELECT count(*) FROM scrapes WHERE status = 'ok'"
	else sq "SELECT count(*) FROM scrapes WHERE status = 'ok'" 2>/dev/null || echo 0; fi
}
targets_stored() {
	if [ "$kind" = pg ]; then pq "SELECT count(DISTINCT target_id) FROM scrapes" 2>/dev/null || echo 0
	else sq "SELECT count(DISTINCT target_id) FROM scrapes" 2>/dev/null || echo 0; fi
}
dbsize() {
	if [ "$kind" = pg ]; then pq "SELECT pg_database_size(current_database())"
	else sq "SELECT (c.page_count - f.freelist_count) * s.page_size FROM pragma_page_count c,
		pragma_freelist_count f, pragma_page_size s"; fi
}
measure() {
	i=0
	while [ "$(targets_stored)" -lt $((n * 99 / 100)) ]; do
		i=$((i + 1))
		[ $i -lt $((interval * 4)) ] || break
		for p in $dpids; do kill -0 "$p" || die "a daemon died (see $logs)"; done
		sleep 1
	done
	# the first round's backlog stored: a round stores no more than the targets (or 2 intervals pass)
	i=0 prev=$(stored)
	while [ $i -lt $((interval * 2)) ]; do
		sleep "$interval"
		i=$((i + interval))
		cur=$(stored)
		[ $((cur - prev)) -le $((n + n / 20)) ] && break
		prev=$cur
	done
	r0=0
	for l in $logs; do r0="$r0 $(grep -c 'detect: ranked ' "$l" || true)"; done
	q0=0
	for l in $logs; do q0="$q0 $(grep -c 'daemon: ingest: ' "$l" || true)"; done
	s0=$(stored) b0=$(dbsize) c0=$(ticks $dpids) p0=$(pg_ticks) t0=$(date +%s.%N)
	load_sum=0 load_n=0
	end=$(( $(date +%s) + interval * rounds ))
	while [ "$(date +%s)" -lt "$end" ]; do
		sleep 5
		for p in $dpids; do kill -0 "$p" || die "a daemon died (see $logs)"; done
		load_sum=$(awk -v a="$load_sum" -v b="$(loadavg)" 'BEGIN { print a + b }')
		load_n=$((load_n + 1))
	done
	s1=$(stored) b1=$(dbsize) c1=$(ticks $dpids) p1=$(pg_ticks) t1=$(date +%s.%N)
	set -- $r0
	shift
	rank=$(for l in $logs; do
		skip=$1
		shift
		grep 'detect: ranked ' "$l" | awk -v skip="$skip" 'NR > skip' | sed -n 's/.* in \([0-9]*\) ms$/\1/p'
	done | sort -n | awk '{ v[NR] = $1 } END { if (NR) print NR, v[int((NR + 1) / 2)], v[NR]; else print 0, 0, 0 }')
	set -- $q0
	shift
	queue=$(for l in $logs; do
		skip=$1
		shift
		grep 'daemon: ingest: ' "$l" | awk -v skip="$skip" 'NR > skip'
	done | awk '{ for (i = 1; i <= NF; i++) { if ($i == "peak") { v = $(i + 1) + 0; if (v > p) p = v }
	                                           if ($i == "dropped;") dr += $(i - 1) } }
	            END { print p + 0, dr + 0 }')
	wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	rate=$(awk -v s=$((s1 - s0)) -v w="$wall" 'BEGIN { printf "%.1f", s / w }')
	want=$(awk -v n="$n" -v i="$interval" 'BEGIN { printf "%.1f", n / i }')
	okpct=$(awk -v r="$rate" -v w="$want" 'BEGIN { printf "%.1f", r / w * 100 }')
	perday=$(awk -v b=$((b1 - b0)) -v s=$((s1 - s0)) -v i="$interval" \
		'BEGIN { if (s > 0) printf "%.0f", b / s * 86400 / i; else print 0 }')
	cores=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v w="$wall" 'BEGIN { printf "%.2f", c / hz / w }')
	pgcores=$(awk -v c=$((p1 - p0)) -v hz="$hz" -v w="$wall" 'BEGIN { printf "%.2f", c / hz / w }')
	load=$(awk -v s="$load_sum" -v k="$load_n" 'BEGIN { printf "%.1f", k ? s / k : 0 }')
	set -- $rank
	rank_n=$1 rank_med=$2 rank_max=$3
	set -- $queue
	q_peak=$1 q_dropped=$2
	for v in rate want okpct perday cores pgcores load rank_n rank_med rank_max q_peak q_dropped; do
		eval "${kind}_$v=\$$v"
	done
	echo "$kind: $rate scrapes/s stored of $want scheduled ($okpct%), queue peak $q_peak, $q_dropped dropped;" \
		"rankings $rank_n, median $rank_med ms, longest $rank_max ms; $perday bytes/target/day;" \
		"daemons $cores cores, PostgreSQL $pgcores cores; load average $load"
}

# --- the baseline: one daemon, SQLite ---
kind=sqlite n=$per_daemon
db=$out/pg-fleet-baseline.db
rm -f "$db" "$db-wal" "$db-shm"
config "$out/pg-fleet-sqlite.yaml" "$db" "$per_daemon" 0 1
logs=$out/pg-fleet-sqlite.log
"$bin" run --config "$out/pg-fleet-sqlite.yaml" --log-level debug 2>"$logs" &
dpids=$!
pids="$pids $dpids"
echo "== one daemon, $per_daemon targets, SQLite"
measure
kill -TERM $dpids
wait $dpids || die "the SQLite daemon exited with an error (see $logs)"

# --- the fleet: several daemons, one PostgreSQL ---
kind=pg n=$total
config "$out/pg-fleet-all.yaml" "$uri" "$total" 0 "$ndaemons"
dpids="" logs=""
k=0
while [ $k -lt "$ndaemons" ]; do
	sed "s/^shard: .*/shard: {index: $k, count: $ndaemons}/" "$out/pg-fleet-all.yaml" >"$out/pg-fleet-$k.yaml"
	"$bin" run --config "$out/pg-fleet-$k.yaml" --log-level debug 2>"$out/pg-fleet-$k.log" &
	dpids="$dpids $!"
	logs="$logs $out/pg-fleet-$k.log"
	k=$((k + 1))
done
pids="$pids $dpids"
echo "== $ndaemons daemons, $total targets, one PostgreSQL"
measure
kill -TERM $dpids
for p in $dpids; do wait "$p" || die "a PostgreSQL daemon exited with an error (see $logs)"; done

echo
echo "PostgreSQL ($ndaemons daemons x $per_daemon targets) beside SQLite (1 daemon x $per_daemon targets), same run:"
printf '  %-34s %12s %12s %8s\n' "" PostgreSQL SQLite ratio
printf '  %-34s %12s %12s %8s\n' "scrapes stored per second" "$pg_rate" "$sqlite_rate" "$(ratio "$pg_rate" "$sqlite_rate")"
printf '  %-34s %11s%% %11s%%\n' "of the scrapes scheduled" "$pg_okpct" "$sqlite_okpct"
printf '  %-34s %12s %12s\n' "ingest queue peak / dropped" "$pg_q_peak/$pg_q_dropped" "$sqlite_q_peak/$sqlite_q_dropped"
printf '  %-34s %12s %12s %8s\n' "ranking median (ms)" "$pg_rank_med" "$sqlite_rank_med" "$(ratio "$pg_rank_med" "$sqlite_rank_med")"
printf '  %-34s %12s %12s %8s\n' "ranking longest (ms)" "$pg_rank_max" "$sqlite_rank_max" "$(ratio "$pg_rank_max" "$sqlite_rank_max")"
printf '  %-34s %12s %12s %8s\n' "database bytes per target per day" "$pg_perday" "$sqlite_perday" "$(ratio "$pg_perday" "$sqlite_perday")"
printf '  %-34s %12s %12s\n' "daemons' cores (all of them)" "$pg_cores" "$sqlite_cores"
printf '  %-34s %12s %12s\n' "PostgreSQL's cores" "$pg_pgcores" "-"
printf '  %-34s %12s %12s\n' "load average while measuring" "$pg_load" "$sqlite_load"
