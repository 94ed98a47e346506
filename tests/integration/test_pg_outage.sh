#!/bin/sh
# suite: long
# tests/integration/test_pg_outage.sh: the daemon storing into PostgreSQL rides out the server's outages, with the
# real binary, a real PostgreSQL server of the test's own (tests/pg/pg_start.sh: this test stops and kills it,
# so it never uses the server LEAKPROFD_PG_URI names for the other tests) and real Go targets scraped every second.
# - The server stopped (pg_ctl stop -m fast) for 60 s, as a restart or a network cut: /metrics
#   (leakprofd_database_writes_refused, leakprofd_scrapes_queued), /healthz (writes_refused_since, scrapes_queued)
#   and the targets page (its banner) say so while scraping goes on; once the server is back the same daemon
#   stores everything by itself: no scrape dropped, every scrape that finished during the cut is in the database,
#   each once, and the database holds every scrape the daemon counted as finished but those queued or in flight.
# - The postmaster killed with SIGKILL while the daemon writes: the same, once the server is started again.
# - The daemon killed with SIGKILL while it writes: every scrape it had acknowledged (committed:
#   leakprofd_scrapes_stored_total) is in the database.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
[ "${LEAKPROFD_PG:-}" = off ] && skip "LEAKPROFD_PG=off leaves PostgreSQL out"
[ -x "$LEAKPROFD_GO_BIN/zoo" ] || skip "build/go/zoo is not built (make go)"
for t in psql jq curl; do command -v $t >/dev/null || skip "$t is not installed"; done

pgstate=$TEST_TMP/pg
trap 'cleanup_bg; sh "$root/tests/pg/pg_stop.sh" "$pgstate" 2>/dev/null' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
URI=$(sh "$root/tests/pg/pg_start.sh" "$pgstate") || fail "no PostgreSQL server started"
pgdir=$(cat "$pgstate/dir")
PG_BIN=$(cat "$pgstate/bin")
if [ "$(id -u)" = 0 ]; then
	as_owner() { runuser -u "$(stat -c %U "$pgdir/data")" -- "$@"; }
else
	as_owner() { "$@"; }
fi
# The options pg_start.sh started the server with (its port above all), as the server recorded them.
pgopts=$(sed 's/^[^ ]* "-D" "[^"]*" //; s/"//g' "$pgdir/data/postmaster.opts")

pg_stop_fast() {
	as_owner "$PG_BIN/pg_ctl" stop --pgdata="$pgdir/data" --mode=fast --wait --timeout=30 --silent
}
# After a SIGKILL of the postmaster its children exit on their own, and until they have the new one refuses to
# start (its shared memory still in use): retried.
pg_start_again() {
	as_owner "$PG_BIN/pg_ctl" start --pgdata="$pgdir/data" --wait --timeout=30 --silent \
		--log="$pgdir/server.log" -o "$pgopts" >/dev/null 2>&1
}
pq() {
	psql "$URI" -qAt -c "$1"
}
# The test server runs with synchronous_commit off (tests/pg/pg_start.sh: fast), under which PostgreSQL answers a
# COMMIT before its WAL is written and a crash of the server loses the last commits (up to three times
# wal_writer_delay): the daemon's sessions ask for the default, durable commits, as a production server has.
DAEMON_URI="$URI?options=-csynchronous_commit%3Don"

# Four services on one Go program, every second: four scrapes a second. write_config [INGEST]: with the
# ingest block INGEST (none: the defaults).
start_go z zoo -leak early_return=3,waitgroup=2 -benign pool -pool-size 200
listen=$(free_listen)
ntargets=4
write_config() {
	{
		echo "listen: $listen"
		echo "database: \"$DAEMON_URI\""
		echo "scrape_interval: 1s"
		echo "scrape_timeout: 1s"
		echo "services:"
		for i in 1 2 3 4; do
			echo "  - {name: s$i, targets: [\"http://127.0.0.1:$z_port\"], detail_every: 0}"
		done
		[ -z "${1:-}" ] || echo "ingest: $1"
	} >"$TEST_TMP/leakprofd.yaml"
	"$LEAKPROFD_BIN" check-config "$TEST_TMP/leakprofd.yaml"
}
write_config "{buffer_scrapes: 100, buffer_duration: 20s}"

# metric NAME: its value on the last /metrics read (read_metrics); a family's series summed.
read_metrics() {
	curl -s --max-time 5 "http://$listen/metrics" >"$TEST_TMP/metrics"
}
metric() {
	awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2; f = 1 } END { if (f) printf "%.0f\n", s }' \
		"$TEST_TMP/metrics"
}
finished() { metric leakprofd_scrapes_total; }
refused_is() {
	read_metrics && [ "$(metric leakprofd_database_writes_refused)" = "$1" ]
}
rows() {
	pq "SELECT count(*) FROM scrapes"
}
has_rows() {
	[ "$(rows 2>/dev/null || echo 0)" -ge "$1" ]
}
health() {
	curl -s --max-time 5 -o "$TEST_TMP/health" -w '%{http_code}' "http://$listen/healthz"
}
# The daemon has caught up: the database takes its writes and at most a round is queued.
caught_up() {
	refused_is 0 && [ "$(metric leakprofd_scrapes_queued)" -le "$ntargets" ]
}

# check_all_stored WHAT: read /metrics, count the rows, read /metrics again: no scrape dropped, none stored
# twice, every scrape acknowledged before is there, no more than finished after, and every scrape the daemon
# finished before but those still queued (and those finishing as the figures are read, at most a round) is there.
check_all_stored() {
	read_metrics
	f=$(finished)
	acked=$(metric leakprofd_scrapes_stored_total)
	queued=$(metric leakprofd_scrapes_queued)
	dropped=$(metric leakprofd_scrapes_dropped_total)
	r=$(rows)
	read_metrics
	f_after=$(finished)
	assert_eq "$1: scrapes dropped" "$dropped" 0
	assert_eq "$1: scrapes stored twice" \
		"$(pq "SELECT count(*) FROM (SELECT 1 FROM scrapes GROUP BY target_id, ts HAVING count(*) > 1) d")" 0
	[ "$r" -ge "$acked" ] || fail "$1: $acked scrapes acknowledged, $r in the database"
	[ "$r" -le "$f_after" ] || fail "$1: $r scrapes in the database, only $f_after finished"
	missing=$((f - queued - r))
	[ "$missing" -le "$ntargets" ] ||
		fail "$1: $f scrapes finished, $queued queued, $r in the database: $missing missing"
	echo "$1: $f finished, $acked acknowledged, $queued queued, $r in the database, none dropped"
}

start_daemon --config "$TEST_TMP/leakprofd.yaml"
wait_for 30 has_rows $((3 * ntargets))
wait_for 20 port_open "${listen##*:}"
wait_for 20 caught_up
check_all_stored "before"
# The bound follows a reload: from 100 scrapes and 20 s (too small for the cut below) to the defaults.
read_metrics
assert_eq "buffer_scrapes at the start" "$(metric leakprofd_scrapes_queued_max)" 100
write_config
kill -HUP "$DAEMON_PID"
queued_max_is() {
	read_metrics && [ "$(metric leakprofd_scrapes_queued_max)" = "$1" ]
}
wait_for 10 queued_max_is 4096
# The daemon's connections to the server probe after 15 s idle (storage/db_pg.c's defaults; libpq alone leaves
# the kernel's 2 hours): a network cut is noticed within about 30 s.
if command -v ss >/dev/null; then
	pgport=${URI##*:}
	pgport=${pgport%%/*}
	ss -tnpo state established "( dport = :$pgport )" | grep "pid=$DAEMON_PID," >"$TEST_TMP/ss" || true
	head -n 3 "$TEST_TMP/ss"
	[ -s "$TEST_TMP/ss" ] || fail "ss shows no connection of the daemon to the server"
	! grep -Ev 'timer:\(keepalive,([0-9]|1[0-5])(\.[0-9]+)?(ms|sec),' "$TEST_TMP/ss" ||
		fail "a connection of the daemon to the server has no keepalive probe due within 15 s"
fi

rss_kib() {
	awk '$1 == "VmRSS:" { print $2 }' "/proc/$DAEMON_PID/status"
}

echo "== the server stopped for 60 s"
rss_before=$(rss_kib)
pg_stop_fast || fail "pg_ctl stop failed"
stop_ms=$(($(date +%s%N) / 1000000))
read_metrics
f_stop=$(finished)
wait_for 15 refused_is 1
echo "refused after $(( $(date +%s%N) / 1000000 - stop_ms )) ms: $(grep -m1 'cannot write to database' \
	"$TEST_TMP/daemon.log")"
# /healthz: since when, how many wait; unhealthy once it lasts (10 s at a 1 s interval)
sleep 12
[ "$(health)" = 503 ] || fail "/healthz is not 503 during the outage: $(cat "$TEST_TMP/health")"
cat "$TEST_TMP/health"; echo
jq -e '.status == "unhealthy" and (.database.ok | not) and .database.writes_refused_since != null and
	.database.scrapes_queued > 0 and .database.writes_refused_ms > .database.limit_ms and .collector.ok' \
	"$TEST_TMP/health" >/dev/null || fail "/healthz does not tell the outage: $(cat "$TEST_TMP/health")"
# /metrics: answered, the writer's state in it
read_metrics
[ "$(metric leakprofd_database_up)" = 0 ] || fail "/metrics: leakprofd_database_up is not 0"
[ "$(metric leakprofd_scrapes_queued)" -gt 0 ] || fail "/metrics: no scrape queued during the outage"
grep '^leakprofd_database_writes_refused\|^leakprofd_scrapes_queued\|^leakprofd_scrapes_dropped\|^leakprofd_database_up' \
	"$TEST_TMP/metrics"
# the targets page: its banner
code=$(curl -s --max-time 5 -o "$TEST_TMP/targets.html" -w '%{http_code}' "http://$listen/targets")
grep -q 'id="writes-refused"' "$TEST_TMP/targets.html" || fail "targets page ($code): no banner during the outage"
sed -n 's/.*\(<p class="error-box" id="writes-refused"[^§]*\)See the daemon.*/\1/p' "$TEST_TMP/targets.html" |
	sed 's/<[^>]*>//g'
# the rest of the minute
now=$(($(date +%s%N) / 1000000))
sleep $(( (stop_ms + 60999 - now) / 1000 ))
daemon_alive
read_metrics
f_start=$(finished)
q_start=$(metric leakprofd_scrapes_queued)
rss_cut=$(rss_kib)
start_ms=$(($(date +%s%N) / 1000000))
pg_start_again || { tail -n 20 "$pgdir/server.log"; fail "the server did not start again"; }
echo "$((f_start - f_stop)) scrapes finished during the $(( (start_ms - stop_ms) / 1000 )) s cut, $q_start queued;" \
	"the daemon's RSS went from $rss_before to $rss_cut KiB, $(( (rss_cut - rss_before) / (q_start + 1) )) KiB a scrape"
[ "$((f_start - f_stop))" -ge 150 ] || fail "scraping did not go on during the cut"
wait_for 30 caught_up
recovered_ms=$(( $(date +%s%N) / 1000000 - start_ms ))
grep "takes writes again" "$TEST_TMP/daemon.log" | tail -n 1
echo "caught up $recovered_ms ms after the server started again"
# Every scrape that finished during the cut is stored: the rows of scrapes started after the stop and finished
# before the restart, against the daemon's own count (the scrapes in flight at either end may fall either way).
cut=$(pq "SELECT count(*) FROM scrapes WHERE ts >= $stop_ms AND ts + duration_ms <= $start_ms")
echo "in the database: $cut scrapes started and finished during the cut"
[ "$cut" -ge $((f_start - f_stop - 2 * ntargets)) ] ||
	fail "$((f_start - f_stop)) scrapes finished during the cut, $cut of them stored"
[ "$(health)" = 200 ] || fail "/healthz after the recovery: $(cat "$TEST_TMP/health")"
check_all_stored "after the cut"
[ "$(curl -s --max-time 5 "http://$listen/targets" | grep -c 'writes-refused')" = 0 ] ||
	fail "the targets page still shows the banner"

echo "== the postmaster killed with SIGKILL mid-ingest"
sleep 2
kill -9 "$(head -n 1 "$pgdir/data/postmaster.pid")"
kill_ms=$(($(date +%s%N) / 1000000))
wait_for 15 refused_is 1
sleep 5
wait_for 30 pg_start_again
echo "server started again $(( $(date +%s%N) / 1000000 - kill_ms )) ms after the kill"
wait_for 30 caught_up
daemon_alive
check_all_stored "after the kill -9 of the postmaster"

echo "== the daemon killed with SIGKILL mid-ingest"
sleep "1.$(od -An -N1 -tu1 /dev/urandom | tr -d ' ')"
read_metrics
acked=$(metric leakprofd_scrapes_stored_total)
f=$(finished)
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
r=$(rows)
[ "$r" -ge "$acked" ] || fail "the daemon acknowledged $acked scrapes before its kill -9, the database holds $r"
echo "kill -9: $f finished, $acked acknowledged, $r in the database (about $((f - r)) lost)"
assert_eq "scrapes stored twice" \
	"$(pq "SELECT count(*) FROM (SELECT 1 FROM scrapes GROUP BY target_id, ts HAVING count(*) > 1) d")" 0
echo "ok"
