#!/bin/sh
# tests/integration/test_reload_slow_request.sh: a SIGHUP reload lands at once while a slow web request runs.
#
# The web server used to hold a read lock on the configuration for a whole request, so a reload (on the main loop,
# which also drives the scrapes) waited for the slowest request, up to web.request_timeout. Requests now hold a
# reference to a configuration snapshot instead. With a request that really takes seconds in flight (a ranking
# recomputed over 30 days of a database of 200 targets × 48 h), the reload must be logged within 1 s of the signal,
# the new auth settings must apply to the next request at once, and the slow request must still complete, on the
# snapshot it started with.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
for t in curl jq sqlite3; do command -v $t >/dev/null || skip "$t is not installed"; done

DB=$TEST_TMP/web.db
CFG=$TEST_TMP/leakprofd.yaml
sh "$root/tests/bench/web_gendb.sh" "$DB" 200 48 60
# No services: nothing else (scrapes, the detector's rankings) competes for the database.
cat >"$CFG" <<YAML
listen: 127.0.0.1:0
database: $DB
web:
  request_timeout: 2m
YAML
start_daemon --config "$CFG"
wait_for 20 grep -q "web: listening on" "$TEST_TMP/daemon.log"
base=http://127.0.0.1:$(sed -n 's/.*web: listening on .* (port \([0-9]*\),.*/\1/p' "$TEST_TMP/daemon.log")
wait_for 20 curl -sf -o /dev/null "$base/healthz"

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}
# running PID: true while the process runs.
running() {
	kill -0 "$1" 2>/dev/null
}
loaded() {
	grep -q "configuration '$CFG' loaded" "$TEST_TMP/daemon.log"
}

start=$(now_ms)
bg sh -c "curl -s -o '$TEST_TMP/slow.json' -w '%{http_code}' '$base/api/v1/suspects?window=30d' \
	>'$TEST_TMP/slow.code'"
slow=$BG_PID
sleep 1
running "$slow" || fail "the slow request took under 1 s: the test database is too small for this machine"

printf 's3cret-token\n' >"$TEST_TMP/token"
cat >>"$CFG" <<YAML
  auth:
    bearer_token_file: $TEST_TMP/token
YAML
sent=$(now_ms)
kill -HUP "$DAEMON_PID"
until loaded; do
	[ $(($(now_ms) - sent)) -lt 60000 ] || fail "the reload was not logged within 60 s"
	sleep 0.02
done
took=$(($(now_ms) - sent))
echo "reload logged $took ms after SIGHUP"
[ "$took" -le 1000 ] ||
	fail "the reload was logged $took ms after SIGHUP (want <= 1000): it waited for the slow request"
running "$slow" || fail "the slow request had finished before the reload was logged: nothing was tested"

# The new snapshot serves the next requests at once, while the slow one still runs.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$base/api/v1/suspects")
assert_eq "a request without the new token" "$code" 401
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -H "Authorization: Bearer s3cret-token" \
	"$base/api/v1/suspects")
assert_eq "a request with the new token" "$code" 200
running "$slow" || fail "the slow request had finished before the new settings were checked"

wait "$slow" || fail "curl failed on the slow request"
echo "slow request: $(($(now_ms) - start)) ms"
assert_eq "the slow request's status" "$(cat "$TEST_TMP/slow.code")" 200
# The synthetic services are in no configuration, so none of their instances counts and nothing ranks: the
# ranking read the whole 30 days all the same.
jq -e '.window_seconds == 2592000 and (.suspects | length) == 0' "$TEST_TMP/slow.json" >/dev/null ||
	fail "the slow request's answer: $(head -c 300 "$TEST_TMP/slow.json")"
daemon_alive
stop_daemon
echo "ok"
