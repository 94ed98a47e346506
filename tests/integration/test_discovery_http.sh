#!/bin/sh
# suite: long
# http_sd: targets come from a real HTTP endpoint (tests/go/sdsrv serving a file the test rewrites) with bearer
# auth: they are scraped and listed on /api/v1/targets from the start; a change of the served list is followed on
# the next refresh; junk, an answer over the size cap, an HTTP error, a refused token, a dead server and a silent
# one (its timeout) each keep the last good list, logged
# once per change of error (naming the source), and shown on /healthz (which stays 200) and the targets page;
# the recovery is logged; a reload keeps the discovered targets without a gap.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
DB=$TEST_TMP/leakprofd.db
CFG=$TEST_TMP/leakprofd.yaml
LISTEN=$(free_listen)
SD=$TEST_TMP/sd.json

start_go a zoo -leak early_return=2
start_go b zoo -leak waitgroup=3
A=http://127.0.0.1:$a_port B=http://127.0.0.1:$b_port

write_sd() {    # write_sd BODY: what the next request gets
	printf '%s\n' "$1" >"$SD.tmp"
	mv "$SD.tmp" "$SD"
}
logged() {
	grep -q "$1" "$TEST_TMP/daemon.log"
}
log_count() {
	grep -c "$1" "$TEST_TMP/daemon.log" || true
}
# The active targets as "service url" lines joined with commas, sorted.
active() {
	curl -sf "http://$LISTEN/api/v1/targets" |
		jq -r '[.targets[] | select(.active) | "\(.service) \(.url)"] | sort | join(",")'
}
# sorted ITEM...: the items sorted and joined with commas, as active() prints them.
sorted() {
	printf '%s\n' "$@" | sort | paste -sd, -
}
active_is() {
	[ "$(active)" = "$(sorted "$@")" ]
}
requests() {
	curl -sf "http://127.0.0.1:$sd_port/requests"
}
requests_ge() {
	[ "$(requests)" -ge "$1" ]
}
# /healthz names the sd source failing, with its last good list (1 target) in use, and the slow one too.
sd_failing_shown() {
	curl -s "http://$LISTEN/healthz" | jq -e --arg u "http://127.0.0.1:$sd_port/sd" '.discovery.ok == false and
		(.discovery.sources[] | select(.name == $u) | .kind == "http_sd" and .targets == 1 and
		.last_good_list_in_use and (.error | startswith("cannot fetch")) and .last_success != null) and
		([.discovery.sources[] | select(.error != null)] | length) == 2' >/dev/null
}

printf 'secret-token\n' >"$TEST_TMP/want"
printf 'secret-token\n' >"$TEST_TMP/token"
write_sd "[{\"targets\": [\"127.0.0.1:$a_port\"], \"labels\": {\"service\": \"alpha\", \"team\": \"sd\"}}]"
start_go sd sdsrv -file "$SD" -bearer-file "$TEST_TMP/want"
SRC="http_sd 'http://127.0.0.1:$sd_port/sd'"
# A second source that accepts and never answers: it times out on its own thread, scraping goes on.
start_go f faultsrv
SLOW="http_sd 'http://127.0.0.1:$f_port/slow'"

cat >"$CFG" <<EOF
listen: $LISTEN
database: $DB
scrape_interval: 1s
scrape_timeout: 1s
http_sd:
  - url: http://127.0.0.1:$sd_port/sd
    refresh_interval: 1s
    bearer_token_file: $TEST_TMP/token
  - url: http://127.0.0.1:$f_port/slow
    refresh_interval: 2s
    timeout: 1s
services:
  - {name: alpha, detail_every: 0, labels: {env: test}}
EOF
"$LEAKPROFD_BIN" check-config "$CFG" >/dev/null || fail "check-config refused the http_sd configuration"
start_daemon --config "$CFG"

# The first answer is waited for at start: the daemon starts with the discovered target.
wait_for 20 logged "running: 1 targets"
wait_for 20 has_ok_scrapes "$A" 2
assert_eq "targets at start" "$(active)" "alpha $A"
assert_eq "alpha labels" "$(sq "SELECT labels FROM services WHERE name = 'alpha'")" \
	'{"env":"test","service":"alpha","team":"sd"}'
logged "targets: $SLOW: cannot fetch: .*timed out" || fail "the silent source's timeout was not logged"

# A new list: b added as another service, a kept; then a removed.
write_sd "[{\"targets\": [\"127.0.0.1:$a_port\"], \"labels\": {\"service\": \"alpha\", \"team\": \"sd\"}},
 {\"targets\": [\"127.0.0.1:$b_port\"], \"labels\": {\"job\": \"beta\"}}]"
wait_for 15 active_is "alpha $A" "beta $B"
wait_for 20 has_ok_scrapes "$B" 2
write_sd "[{\"targets\": [\"127.0.0.1:$b_port\"], \"labels\": {\"job\": \"beta\"}}]"
wait_for 15 active_is "beta $B"
logged "targets: discovered targets changed: 1 targets" || fail "the change was not logged"

# Junk: the last good list stays, the error is logged once, naming the source and the problem.
write_sd "this is not JSON"
wait_for 15 logged "$SRC:1: invalid JSON"
r=$(requests)
wait_for 15 requests_ge $((r + 3))
assert_eq "junk logged" "$(log_count "$SRC:1: invalid JSON")" 1
assert_eq "targets after junk" "$(active)" "beta $B"
nb=$(ok_scrapes "$B")
wait_for 20 has_ok_scrapes "$B" $((nb + 2))

# An answer over the 16 MiB cap is refused, however it ends.
head -c 17000000 /dev/zero | tr '\0' ' ' >"$SD.tmp"
mv "$SD.tmp" "$SD"
wait_for 15 logged "$SRC: answer larger than 16777216 bytes"
assert_eq "targets after a huge answer" "$(active)" "beta $B"

# Valid JSON of the wrong shape, an HTTP error, a refused token: each a new error, logged once, list kept.
write_sd '{"targets": ["127.0.0.1:1"]}'
wait_for 15 logged "$SRC: expected a JSON array of target groups"
write_sd "[{\"targets\": [\"127.0.0.1:$a_port\"], \"labels\": {\"service\": \"alpha\"}}]"
echo 503 >"$SD.status"
wait_for 15 logged "$SRC: HTTP status 503 (want 200)"
rm -f "$SD.status"
printf 'wrong-token\n' >"$TEST_TMP/token"
wait_for 15 logged "$SRC: HTTP status 401 (want 200)"
r=$(requests)
wait_for 15 requests_ge $((r + 3))
assert_eq "401 logged" "$(log_count "$SRC: HTTP status 401")" 1
assert_eq "targets after errors" "$(active)" "beta $B"

# The token file is read at every fetch: a corrected token works without a reload.
printf 'secret-token\n' >"$TEST_TMP/token"
wait_for 15 active_is "alpha $A"
wait_for 10 logged "targets: $SRC: answering again (1 targets)"

# A dead server: the list stays, scraping goes on; a restarted one is followed again.
kill "$sd_pid"
wait "$sd_pid" 2>/dev/null || true
wait_for 15 logged "$SRC: cannot fetch: "
# Its state on /healthz (still 200: its last good list is in use) and on the targets page.
wait_for 10 sd_failing_shown
assert_eq "healthz while a source fails" "$(curl -s -o /dev/null -w '%{http_code}' "http://$LISTEN/healthz")" 200
curl -sf "http://$LISTEN/targets" | grep -q "failing, its last good list in use: cannot fetch" ||
	fail "the targets page does not show the failing source"
na=$(ok_scrapes "$A")
wait_for 20 has_ok_scrapes "$A" $((na + 3))
assert_eq "targets while the server is down" "$(active)" "alpha $A"
assert_eq "cannot fetch logged" "$(log_count "$SRC: cannot fetch")" 1
write_sd "[{\"targets\": [\"127.0.0.1:$a_port\", \"127.0.0.1:$b_port\"], \"labels\": {\"service\": \"alpha\"}}]"
bg "$LEAKPROFD_GO_BIN/sdsrv" -addr "127.0.0.1:$sd_port" -file "$SD" -bearer-file "$TEST_TMP/want"
wait_for 20 active_is "alpha $A" "alpha $B"

# A reload with the same source starts from its last list: no discovered target drops out.
kill -HUP "$DAEMON_PID"
wait_for 10 logged "configuration '$CFG' loaded: 2 targets"
assert_eq "targets after reload" "$(active)" "$(sorted "alpha $A" "alpha $B")"
# The silent source timed out at every refresh, logged once, and never held up scraping.
assert_eq "timeout logged" "$(log_count "$SLOW: cannot fetch")" 1
daemon_alive
stop_daemon
assert_eq "integrity" "$(sq 'PRAGMA integrity_check')" ok
echo "ok"
