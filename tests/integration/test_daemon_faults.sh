#!/bin/sh
# Hostile targets (build/go/faultsrv and a port nobody listens on) next to a healthy Go service: each failing
# target ends with its own status in the targets table, the healthy one keeps being scraped every second on time,
# the daemon stays alive and small (a 1 GiB body and a gzip bomb are cut at max_body_bytes), and stops cleanly.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
DB=$TEST_TMP/leakprofd.db

[ -x "$LEAKPROFD_GO_BIN/faultsrv" ] || skip "build/go/faultsrv is not built (make go)"
start_go f faultsrv
start_go z zoo -leak early_return=3 -benign pool -pool-size 20
refused=$(free_port)
F=http://127.0.0.1:$f_port
listen=$(free_listen)

cat >"$TEST_TMP/leakprofd.yaml" <<EOF
listen: $listen
database: $DB
scrape_interval: 1s
scrape_timeout: 1s
max_body_bytes: 1MiB
services:
  - name: healthy
    targets: ["http://127.0.0.1:$z_port"]
    detail_every: 0
  - name: hostile
    detail_every: 0
    targets: ["http://127.0.0.1:$refused", "$F/slow", "$F/huge", "$F/huge-length", "$F/garbage", "$F/500",
              "$F/stall", "$F/html", "$F/gzipbomb", "$F/gzipbomb-encoded", "$F/nothing-here", "$F/ok/debug/pprof/goroutine"]
EOF

start_daemon --config "$TEST_TMP/leakprofd.yaml"
wait_for 20 has_ok_scrapes "http://127.0.0.1:$z_port" 2
t0=$(date +%s)
sleep 10
daemon_alive

status() {
	sq "SELECT last_status FROM targets WHERE url = $(sql_quote "$1")"
}
expect_status() {
	got=$(status "$1")
	case $got in
	$2) echo "$1: $got" ;;
	*) fail "$1: status '$got', want '$2'" ;;
	esac
	[ "$(sq "SELECT consecutive_failures > 0 FROM targets WHERE url = $(sql_quote "$1")")" = 1 ] ||
		fail "$1: consecutive_failures is 0"
}
expect_status "http://127.0.0.1:$refused" "connect refused"
expect_status "$F/slow" "timeout*"
expect_status "$F/huge" "body too large*"
expect_status "$F/huge-length" "body too large*"
expect_status "$F/garbage" "parse error: *"
expect_status "$F/500" "http 500"
expect_status "$F/stall" "timeout*"
expect_status "$F/html" "html page, not a profile"
expect_status "$F/gzipbomb" "[bp]*"
expect_status "$F/gzipbomb-encoded" "[bp]*"
expect_status "$F/nothing-here" "http 404"
# The targets page says what a failing target answered.
curl -sf "http://$listen/targets" >"$TEST_TMP/targets.html" || fail "GET /targets failed"
grep -q '<span class="err">html page, not a profile</span>' "$TEST_TMP/targets.html" ||
	fail "the targets page lacks the html page status"
assert_eq "faultsrv ok target" "$(status "$F/ok/debug/pprof/goroutine")" ok
assert_eq "healthy target" "$(status "http://127.0.0.1:$z_port")" ok

# The healthy target was scraped every second throughout: no gap over 2.5 s between consecutive scrapes.
since=$(( t0 * 1000 ))
n=$(sq "SELECT count(*) FROM scrapes s JOIN targets t ON t.id = s.target_id
    WHERE t.url = 'http://127.0.0.1:$z_port' AND s.status = 'ok' AND s.ts >= $since")
[ "$n" -ge 8 ] || fail "healthy target: only $n ok scrapes in 10 s"
gap=$(sq "SELECT max(gap) FROM (SELECT s.ts - lag(s.ts) OVER (ORDER BY s.ts) AS gap FROM scrapes s
    JOIN targets t ON t.id = s.target_id WHERE t.url = 'http://127.0.0.1:$z_port' AND s.detail = 0)")
echo "healthy target: $n ok scrapes in 10 s, largest gap $gap ms"
[ "$gap" -le 2500 ] || fail "healthy target: a gap of $gap ms between scrapes"

# Failing scrapes are stored as attempts with their status, never with counts.
assert_eq "samples of failed scrapes" "$(sq "SELECT count(*) FROM samples sa JOIN scrapes s ON s.id = sa.scrape_id
    WHERE s.status <> 'ok'")" 0
# A body cut at 1 MiB never made the daemon big.
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$DAEMON_PID/status")
echo "daemon peak RSS: $hwm KiB"
[ "$hwm" -lt 262144 ] || fail "daemon peak RSS $hwm KiB"
# The failures were logged once each, with the URL and the reason.
grep -q "scrape: 'http://127.0.0.1:$refused.*connect refused" "$TEST_TMP/daemon.log" ||
	fail "no log line for the refused target"
stop_daemon TERM
assert_eq "integrity" "$(sq 'PRAGMA integrity_check')" ok
echo "ok"
