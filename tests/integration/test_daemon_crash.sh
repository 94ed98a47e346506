#!/bin/sh
# kill -9 of the daemon in the middle of ingest, three times, then a restart: PRAGMA integrity_check is ok after
# each kill, every scrape a reader saw committed just before the kill is still there, no stored ok scrape lacks
# its counts (nothing half-written), what the kill lost is within the README's bound (the newest stored scrape
# finished less than a minute before the kill: only the ingest queue and the transaction being written are
# lost), and the restarted daemon goes on scraping into the same file.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
DB=$TEST_TMP/leakprofd.db

# One big service (many goroutines and locations: long transactions), scraped as twelve targets.
start_go z zoo -leak all -leak-count 20 -leak-rate 5 -benign all -pool-size 2000
{
	echo "listen: $(free_listen)"
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

round=1
while [ $round -le 3 ]; do
	start_daemon --config "$TEST_TMP/leakprofd.yaml"
	wait_for 30 has_ok_scrapes "http://127.0.0.1:$z_port" $((round * 12 + 12))
	# Let ingest run, then read what is committed and kill at once.
	sleep "0.$(od -An -N1 -tu1 /dev/urandom | tr -d ' ')"
	before=$(sq "SELECT count(*) || ' ' || max(id) FROM scrapes")
	kill_ms=$(($(date +%s%N) / 1000000))
	kill -9 "$DAEMON_PID"
	wait "$DAEMON_PID" 2>/dev/null || true
	count_before=${before% *}
	max_before=${before#* }
	assert_eq "round $round: integrity after kill -9" "$(sq 'PRAGMA integrity_check')" ok
	kept=$(sq "SELECT count(*) FROM scrapes WHERE id <= $max_before")
	assert_eq "round $round: scrapes committed before the kill" "$kept" "$count_before"
	half=$(sq "SELECT count(*) FROM scrapes s WHERE s.status = 'ok'
	    AND NOT EXISTS (SELECT 1 FROM samples sa WHERE sa.scrape_id = s.id)")
	assert_eq "round $round: ok scrapes without counts" "$half" 0
	lost_ms=$((kill_ms - $(sq "SELECT max(ts + duration_ms) FROM scrapes")))
	[ "$lost_ms" -lt 60000 ] ||
		fail "round $round: the newest stored scrape finished $lost_ms ms before the kill (bound: 60 s)"
	echo "round $round: $count_before scrapes committed before kill -9, all kept;" \
	    "the newest stored finished $lost_ms ms before the kill"
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
