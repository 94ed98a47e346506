#!/bin/sh
# tests/integration/test_web_metrics.sh: /metrics' scrape counters count from the daemon's start: scrapes made
# before anyone asks for /metrics are all in the first answer (a healthy target and one refusing connections,
# both results), and they keep growing afterwards. It also shows SQLite's memory within its bound and the
# detector's window kept between rankings within its own, and the debug log says what the process holds.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
for t in curl sqlite3; do command -v $t >/dev/null || skip "$t is not installed"; done

DB=$TEST_TMP/leakprofd.db
start_go zoo zoo -benign pool -pool-size 20
listen=$(free_listen)
base=http://$listen
cat >"$TEST_TMP/leakprofd.yaml" <<YAML
listen: $listen
database: $DB
scrape_interval: 1s
scrape_timeout: 1s
services:
  - name: zoo
    targets: ["http://127.0.0.1:$zoo_port"]
  - name: dead
    targets: ["http://127.0.0.1:1"]
detector:
  window: 10m
YAML
start_daemon --config "$TEST_TMP/leakprofd.yaml"
# Nothing asks for /metrics until scrapes of both kinds are stored.
wait_for 30 has_ok_scrapes "http://127.0.0.1:$zoo_port" 5
failed() {
	sq "SELECT count(*) FROM scrapes s JOIN targets t ON t.id = s.target_id
	    WHERE t.url = 'http://127.0.0.1:1' AND s.status <> 'ok'" 2>/dev/null || echo 0
}
has_failed() {
	[ "$(failed)" -ge "$1" ]
}
wait_for 30 has_failed 3
ok0=$(ok_scrapes "http://127.0.0.1:$zoo_port")
failed0=$(failed)

# metric NAME LABELS: the value of NAME{LABELS} in $TEST_TMP/metrics.
metric() {
	grep -F "$1{$2} " "$TEST_TMP/metrics" | cut -d' ' -f2
}
curl -sf -o "$TEST_TMP/metrics" "$base/metrics"
ok=$(metric leakprofd_scrapes_total 'service="zoo",result="success"')
bad=$(metric leakprofd_scrapes_total 'service="dead",result="failure"')
count=$(metric leakprofd_scrape_duration_seconds_count 'service="zoo"')
echo "first /metrics: zoo $ok successes (at least $ok0 stored before), dead $bad failures (at least $failed0)"
[ "${ok:-0}" -ge "$ok0" ] || fail "the first /metrics counts $ok successful scrapes of zoo, $ok0 were stored before"
[ "${bad:-0}" -ge "$failed0" ] || fail "the first /metrics counts $bad failed scrapes of dead, $failed0 were stored"
[ "${count:-0}" -ge "$ok0" ] || fail "leakprofd_scrape_duration_seconds_count of zoo: $count"
assert_eq "failures of zoo" "$(metric leakprofd_scrapes_total 'service="zoo",result="failure"')" 0
# The daemon's own memory: SQLite's (its connections' caches and statements), within its bound, and
# the debug line that says what the process holds.
sqlite_mem=$(sed -n 's/^leakprofd_sqlite_memory_bytes \([0-9]*\)$/\1/p' "$TEST_TMP/metrics")
sqlite_max=$(sed -n 's/^leakprofd_sqlite_memory_limit_bytes \([0-9]*\)$/\1/p' "$TEST_TMP/metrics")
echo "SQLite holds ${sqlite_mem:-?} bytes (bound ${sqlite_max:-?})"
[ "${sqlite_mem:-0}" -gt 0 ] && [ "$sqlite_mem" -le "${sqlite_max:-0}" ] ||
	fail "leakprofd_sqlite_memory_bytes '$sqlite_mem', leakprofd_sqlite_memory_limit_bytes '$sqlite_max'"
grep -q "daemon: memory: sqlite [0-9]* KiB .* the last trim took [0-9]* ms" "$TEST_TMP/daemon.log" ||
	fail "no 'daemon: memory:' line in the debug log"
# The detector's window kept between rankings: what it holds after a ranking, within its bound.
gauge() {
	sed -n "s/^$1 \([0-9]*\)\$/\1/p" "$TEST_TMP/metrics"
}
window_ranked() {
	curl -sf -o "$TEST_TMP/metrics" "$base/metrics" && [ "$(gauge leakprofd_detector_window_series)" -gt 0 ]
}
wait_for 30 window_ranked
win=$(gauge leakprofd_detector_window_bytes)
win_max=$(gauge leakprofd_detector_window_limit_bytes)
echo "the detector's window: ${win:-?} bytes (bound ${win_max:-?}), $(gauge leakprofd_detector_window_series) series," \
	"$(gauge leakprofd_detector_window_scrapes) scrapes, $(gauge leakprofd_detector_window_reads_total) whole reads"
[ "${win:-0}" -gt 0 ] && [ "$win" -le "${win_max:-0}" ] && [ "$win_max" = 536870912 ] ||
	fail "leakprofd_detector_window_bytes '$win', leakprofd_detector_window_limit_bytes '$win_max'"
[ "$(gauge leakprofd_detector_window_reads_total)" -ge 1 ] || fail "leakprofd_detector_window_reads_total"
sleep 2.5
curl -sf -o "$TEST_TMP/metrics" "$base/metrics"
[ "$(metric leakprofd_scrapes_total 'service="zoo",result="success"')" -gt "$ok" ] ||
	fail "the scrape counter of zoo did not grow"
stop_daemon TERM
echo "ok"
