#!/bin/sh
# kill -9 of the daemon in the middle of ingest, three times, then a restart: PRAGMA integrity_check is ok after
# each kill, every scrape the daemon acknowledged before the kill (leakprofd_scrapes_stored_total on /metrics:
# committed) and every scrape a reader saw committed just before it is still there, no stored ok scrape lacks
# its counts (nothing half-written), what the kill lost is within the README's bound (the newest stored scrape
# finished less than a minute before the kill: only the ingest queue, the batch being written among it, is
# lost), and the restarted daemon goes on scraping into the same file.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
DB=$TEST_TMP/leakprofd.db

# One big service (many goroutines and locations: long transactions), scraped as twelve targets.
start_go z zoo -leak all -leak-count 20 -leak-rate 5 -benign all -pool-size 2000
listen=$(free_listen)
{
	echo "listen: $listen"
	echo "database: $DB"
	echo "scrape_interval: 1s"
	echo "scrape_timeout: 1s"
	echo "services:"
	for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
		echo "  - name: svc$i"
		echo "    targets: [\"http://127.0.0.1:$z_port\"]"
		[ $((i % 3)) = 0 ] && echo "    format: debug=2"
		echo "    detail_every: 2"
	done
} >"$TEST_TMP/leakprofd.yaml"

# scrapes_since ID N: at least N successful regular scrapes stored after scrape ID.
scrapes_since() {
	[ "$(sq "SELECT count(*) FROM scrapes WHERE id > $1 AND status = 'ok' AND detail = 0" 2>/dev/null ||
		echo 0)" -ge "$2" ]
}

round=1
while [ $round -le 3 ]; do
	base=0
	[ ! -f "$DB" ] || base=$(sq "SELECT coalesce(max(id), 0) FROM scrapes")
	start_daemon --config "$TEST_TMP/leakprofd.yaml"
	# This daemon's own scrapes (the rounds before may have stored as many), and its web server up.
	wait_for 30 scrapes_since "$base" 12
	wait_for 30 port_open "${listen##*:}"
	# Let ingest run, then read what the daemon acknowledged and what is committed, and kill at once.
	# In round 2 another connection holds the write lock meanwhile (as a backup or a sqlite3 shell would):
	# finished scrapes queue up unacknowledged, and the kill loses them.
	if [ $round = 2 ]; then
		(echo "BEGIN IMMEDIATE; DELETE FROM scrapes WHERE 0;"; sleep 3; echo "COMMIT;") | sqlite3 "$DB" &
		locker=$!
		sleep 2
	fi
	sleep "0.$(od -An -N1 -tu1 /dev/urandom | tr -d ' ')"
	curl -s --max-time 5 "http://$listen/metrics" >"$TEST_TMP/metrics"
	acked=$(awk '$1 == "leakprofd_scrapes_stored_total" { print $2 }' "$TEST_TMP/metrics")
	finished=$(awk '/^leakprofd_scrapes_total/ { s += $2 } END { print s + 0 }' "$TEST_TMP/metrics")
	before=$(sq "SELECT count(*) || ' ' || max(id) FROM scrapes")
	kill_ms=$(($(date +%s%N) / 1000000))
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	[ $round != 2 ] || wait "$locker"
	count_before=${before% *}
	max_before=${before#* }
	assert_eq "round $round: integrity after kill -9" "$(sq 'PRAGMA integrity_check')" ok
	kept=$(sq "SELECT count(*) FROM scrapes WHERE id <= $max_before")
	assert_eq "round $round: scrapes committed before the kill" "$kept" "$count_before"
	[ "${acked:-0}" -gt 0 ] || fail "round $round: /metrics acknowledged no scrape ('$acked')"
	ours=$(sq "SELECT count(*) FROM scrapes WHERE id > $base")
	[ "$ours" -ge "$acked" ] ||
		fail "round $round: the daemon acknowledged $acked scrapes, the database holds $ours of them"
	half=$(sq "SELECT count(*) FROM scrapes s WHERE s.status = 'ok'
	    AND NOT EXISTS (SELECT 1 FROM samples sa WHERE sa.scrape_id = s.id)")
	assert_eq "round $round: ok scrapes without counts" "$half" 0
	lost_ms=$((kill_ms - $(sq "SELECT max(ts + duration_ms) FROM scrapes")))
	[ "$lost_ms" -lt 60000 ] ||
		fail "round $round: the newest stored scrape finished $lost_ms ms before the kill (bound: 60 s)"
	lost=$((finished - ours)); [ $lost -gt 0 ] || lost=0
	echo "round $round: $finished scrapes finished, $acked acknowledged and $count_before committed just before" \
	    "kill -9, all kept (about $lost lost); the newest stored finished $lost_ms ms before the kill"
	round=$((round + 1))
done

# The restarted daemon opens the same file and goes on.
n=$(sq "SELECT count(*) FROM scrapes")
start_daemon --config "$TEST_TMP/leakprofd.yaml"
wait_for 30 sh -c "[ \$(sqlite3 -cmd '.timeout 5000' '$DB' 'SELECT count(*) FROM scrapes') -gt $((n + 24)) ]"
stop_daemon TERM
assert_eq "integrity after restart" "$(sq 'PRAGMA integrity_check')" ok
assert_eq "targets" "$(sq 'SELECT count(*) FROM targets')" 12
echo "ok"
